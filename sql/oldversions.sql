-- Updating an installed 1.0 to the version in development gives exactly what
-- a fresh install of it gives: every object of the extension, compared by
-- definition (tables, columns, defaults, constraints, indexes, views,
-- functions and their signatures and bodies, triggers, sequences, grants,
-- comments, configuration tables).  Runs in a database of its own, so that
-- the other tests keep their extension.
CREATE DATABASE migrate_versions;
\c migrate_versions
SET client_min_messages = warning;

-- the extension's objects, one row each, by name and definition
CREATE FUNCTION describe_extension() RETURNS TABLE(kind text, object text, definition text)
LANGUAGE sql AS $$
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'migrate'),
member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
-- every member by its description
SELECT 'member', pg_describe_object(classid, objid, 0), '' FROM member
UNION ALL
-- relations: kind, columns in order with type, nullability, default; grants; comment
SELECT 'relation', c.oid::regclass::text,
       c.relkind::text || ' ' || coalesce(c.relacl::text, '') || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '')
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'column', c.oid::regclass::text || '.' || a.attname,
       a.attnum || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || coalesce(' acl ' || a.attacl::text, '')
       || coalesce(' comment ' || col_description(c.oid, a.attnum), '')
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint', co.conrelid::regclass::text || ' ' || co.conname, pg_get_constraintdef(co.oid)
  FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text || ' ' || t.tgname, pg_get_triggerdef(t.oid)
  FROM member m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'view', c.oid::regclass::text, pg_get_viewdef(c.oid)
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
 WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence', s.seqrelid::regclass::text,
       format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' ' || s.seqincrement || ' ' || s.seqmax || ' ' || s.seqcache || ' ' || s.seqcycle
  FROM member m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
UNION ALL
SELECT 'function', p.oid::regprocedure::text,
       pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, '') || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT 'schema', n.nspname, coalesce(n.nspacl::text, '') || ' ' || coalesce(obj_description(n.oid, 'pg_namespace'), '')
  FROM member m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
UNION ALL
SELECT 'type', t.oid::regtype::text, t.typtype::text || ' ' || coalesce(t.typacl::text, '')
  FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT 'config', c.relid::regclass::text, coalesce(c.cond, '')
  FROM ext, unnest(ext.extconfig, ext.extcondition) AS c(relid, cond)
$$;

CREATE EXTENSION migrate VERSION '1.0';
ALTER EXTENSION migrate UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
CREATE TABLE updated AS SELECT * FROM describe_extension();
DROP EXTENSION migrate;

CREATE EXTENSION migrate;
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
CREATE TABLE fresh AS SELECT * FROM describe_extension();

-- the comparison has something to compare
SELECT count(*) > 100 AS described FROM fresh;

-- what only the update has, then what only a fresh install has: no rows
(SELECT 'update only' AS side, * FROM updated EXCEPT SELECT 'update only', * FROM fresh)
UNION ALL
(SELECT 'fresh only', * FROM fresh EXCEPT SELECT 'fresh only', * FROM updated)
ORDER BY 2, 3, 1;

\c contrib_regression
DROP DATABASE migrate_versions;
