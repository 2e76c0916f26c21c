-- Online migrations: no document crashes the server or registers half.
-- Every operation, with each of its fields (nested ones too) null,
-- missing, of every wrong JSON type, empty or huge, registered by a role
-- with only the deploy grants: each attempt must fail cleanly (22023, or
-- the server's own SQLSTATE for a bad type or expression) naming the
-- operation, or register a valid document.  A crash shows as the rest of
-- this file failing.  Then what registration refuses outright: too many
-- or duplicate index columns, index options the catalog does not have
-- (collations, operator classes, storage parameters), system catalogs,
-- migrate's catalog, other extensions' objects, temporary tables.
CREATE EXTENSION migrate;
SET client_min_messages = warning;
CREATE ROLE security_online_input_deployer LOGIN;
CALL grant_deploy('security_online_input_deployer');

CREATE TABLE sec_onl_t (id int PRIMARY KEY, a int, b text);
CREATE INDEX sec_onl_t_a_idx ON sec_onl_t (a);
CREATE TABLE sec_onl_r (id int PRIMARY KEY);
CREATE TABLE sec_onl_k (a int, b text, r int4range);
CREATE TABLE sec_onl_d (id int PRIMARY KEY, a int CONSTRAINT sec_onl_d_a CHECK (a > 0),
                        b int, c int, CONSTRAINT sec_onl_d_bc UNIQUE (b, c));
ALTER TABLE sec_onl_t OWNER TO security_online_input_deployer;
ALTER TABLE sec_onl_r OWNER TO security_online_input_deployer;
ALTER TABLE sec_onl_k OWNER TO security_online_input_deployer;
ALTER TABLE sec_onl_d OWNER TO security_online_input_deployer;

-- one valid document per operation (and per kind of constraint)
CREATE TABLE sec_onl_base (op text, body jsonb);
INSERT INTO sec_onl_base VALUES
('create_table', '{"schema": "public", "table": "sec_onl_new", "columns": [{"name": "x", "type": "int", "nullable": false, "default": "1", "primary_key": true, "unique": false, "comment": "c"}]}'),
('create_table', '{"table": "sec_onl_new", "comment": "c", "columns": [{"name": "i", "type": "bigint", "generated": {"identity": {"user_specified_values": "BY DEFAULT", "sequence_options": {"start": 1, "increment": 1, "minvalue": 1, "maxvalue": 100, "cache": 1, "cycle": false}}}}, {"name": "g", "type": "int", "generated": {"expression": "i * 2"}}, {"name": "r", "type": "int4range"}, {"name": "f", "type": "int"}],
  "constraints": [{"name": "sec_onl_ck", "type": "check", "check": "g > 0", "no_inherit": false},
                  {"name": "sec_onl_pk", "type": "primary_key", "columns": ["i"], "deferrable": false, "initially_deferred": false, "index_parameters": {"include_columns": ["g"], "storage_parameters": {"fillfactor": 90}, "tablespace": "pg_default"}},
                  {"name": "sec_onl_uq", "type": "unique", "columns": ["g", "f"], "nulls_not_distinct": true, "deferrable": true, "initially_deferred": true},
                  {"name": "sec_onl_fk", "type": "foreign_key", "columns": ["f"], "references": {"table": "sec_onl_r", "columns": ["id"], "on_delete": "set null", "on_update": "cascade", "on_delete_set_columns": ["f"], "match_type": "full"}},
                  {"name": "sec_onl_ex", "type": "exclude", "method": "gist", "elements": [{"column": "r", "operator": "&&"}, {"expression": "int4range(f, f, ''[]'')", "operator": "pg_catalog.&&"}], "where": "f > 0"}]}'),
('add_column', '{"schema": "public", "table": "sec_onl_t", "column": {"name": "c", "type": "int", "nullable": true, "default": "0", "comment": "c"}, "up": "a + 1"}'),
('drop_column', '{"schema": "public", "table": "sec_onl_t", "column": "b", "down": "''x''"}'),
('rename_column', '{"schema": "public", "table": "sec_onl_t", "from": "b", "to": "bb"}'),
('create_index', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a", "b"], "unique": true, "method": "btree", "where": "a > 0"}'),
('create_index', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_i", "columns": [{"column": "b", "collate": "C", "sort": "desc", "nulls": "last", "opclass": "text_pattern_ops"}, "a"], "include": ["id"], "unique": true, "nulls_not_distinct": true, "storage_parameters": {"fillfactor": 70, "deduplicate_items": false}}'),
('create_index', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_i", "method": "brin", "columns": [{"column": "a", "opclass": {"name": "int4_minmax_multi_ops", "params": {"values_per_range": 16}}}], "storage_parameters": {"pages_per_range": 32}}'),
('drop_index', '{"schema": "public", "name": "sec_onl_t_a_idx"}'),
('sql', '{"up": "SELECT 1", "down": "SELECT 2", "on_complete": "SELECT 3"}'),
('alter_column', '{"schema": "public", "table": "sec_onl_t", "column": "a", "type": "bigint", "nullable": false, "check": {"name": "sec_onl_ck", "constraint": "a > 0"}, "unique": {"name": "sec_onl_u"}, "default": "1", "comment": "c", "up": "a", "down": "a"}'),
('alter_column', '{"schema": "public", "table": "sec_onl_t", "column": "a", "references": {"name": "sec_onl_fk", "table": "sec_onl_r", "column": "id", "on_delete": "cascade", "on_update": "no action"}}'),
('rename_table', '{"schema": "public", "from": "sec_onl_t", "to": "sec_onl_t2"}'),
('drop_table', '{"schema": "public", "table": "sec_onl_t"}'),
('create_constraint', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_c", "type": "unique", "columns": ["a", "b"]}'),
('create_constraint', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_c", "type": "check", "check": "a > 0"}'),
('create_constraint', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["id"], "on_delete": "set null", "on_update": "restrict"}}'),
('create_constraint', '{"schema": "public", "table": "sec_onl_k", "name": "sec_onl_c", "type": "primary_key", "columns": ["a", "b"]}'),
('create_constraint', '{"schema": "public", "table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "method": "gist", "elements": [{"column": "r", "operator": "&&"}, {"expression": "int4range(a, a, ''[]'')", "operator": "&&"}], "where": "b <> ''x''"}'),
('drop_constraint', '{"schema": "public", "table": "sec_onl_t", "name": "sec_onl_t_pkey"}'),
('drop_constraint', '{"schema": "public", "table": "sec_onl_d", "name": "sec_onl_d_a", "up": "a", "down": "greatest(a, 1)"}'),
('drop_multicolumn_constraint', '{"schema": "public", "table": "sec_onl_d", "name": "sec_onl_d_bc", "up": {"b": "b", "c": "c"}, "down": {"b": "b", "c": "c + id"}}'),
('rename_constraint', '{"schema": "public", "table": "sec_onl_t", "from": "sec_onl_t_pkey", "to": "sec_onl_t_pk"}'),
('set_replica_identity', '{"schema": "public", "table": "sec_onl_t", "identity": {"type": "index", "index": "sec_onl_t_pkey"}}'),
('set_replica_identity', '{"schema": "public", "table": "sec_onl_t", "identity": {"type": "full"}}');

-- the bad values
CREATE TABLE sec_onl_bad (label text, value jsonb);
INSERT INTO sec_onl_bad VALUES
('null', 'null'), ('zero', '0'), ('negative', '-1'), ('huge number', '1e300'),
('true', 'true'), ('false', 'false'), ('empty string', '""'), ('blank', '" "'),
('quotes', '"a\"b''c; DROP TABLE sec_onl_t; --"'), ('unknown name', '"sec_onl_nosuch"'),
('long name', to_jsonb(repeat('n', 64))), ('huge string', to_jsonb(repeat('x', 100000))),
('empty array', '[]'), ('array of null', '[null]'), ('array of number', '[1]'),
('array of strings', '["a", "a"]'), ('huge array', to_jsonb(array_fill('n'::text, ARRAY[100000]))),
('empty object', '{}'), ('object', '{"a": 1}'), ('nested', '[[[[{"a": [[[]]]}]]]]');

-- every path to a value in a document: object keys and array elements
CREATE FUNCTION sec_onl_paths(doc jsonb, prefix text[] DEFAULT '{}')
RETURNS SETOF text[] LANGUAGE sql AS $$
    SELECT prefix || k FROM jsonb_object_keys(CASE WHEN jsonb_typeof(doc) = 'object' THEN doc ELSE '{}' END) k
    UNION ALL
    SELECT sec_onl_paths(doc -> k, prefix || k)
      FROM jsonb_object_keys(CASE WHEN jsonb_typeof(doc) = 'object' THEN doc ELSE '{}' END) k
    UNION ALL
    SELECT prefix || (i - 1)::text FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc) = 'array' THEN doc ELSE '[]' END) WITH ORDINALITY e(v, i)
    UNION ALL
    SELECT sec_onl_paths(v, prefix || (i - 1)::text)
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc) = 'array' THEN doc ELSE '[]' END) WITH ORDINALITY e(v, i)
$$;

-- the attempts: each bad value (and nothing) at each path, and as the
-- operation's whole value
CREATE TABLE sec_onl_attempt (op text, path text, label text, doc jsonb,
                              sqlstate text, message text, context text);
INSERT INTO sec_onl_attempt (op, path, label, doc)
SELECT b.op, p::text, v.label,
       jsonb_build_array(jsonb_build_object(b.op, jsonb_set(b.body, p, v.value)))
  FROM sec_onl_base b CROSS JOIN LATERAL sec_onl_paths(b.body) p CROSS JOIN sec_onl_bad v
UNION ALL
SELECT b.op, p::text, 'missing', jsonb_build_array(jsonb_build_object(b.op, b.body #- p))
  FROM sec_onl_base b CROSS JOIN LATERAL sec_onl_paths(b.body) p
UNION ALL
SELECT b.op, '{}', v.label, jsonb_build_array(jsonb_build_object(b.op, v.value))
  FROM (SELECT DISTINCT op FROM sec_onl_base) b CROSS JOIN sec_onl_bad v
UNION ALL
SELECT b.op, '{}', 'valid', jsonb_build_array(jsonb_build_object(b.op, b.body))
  FROM sec_onl_base b;

-- one attempt: registered (then undone), or its error
CREATE FUNCTION sec_onl_try(doc jsonb, OUT state text, OUT msg text, OUT ctx text)
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM migrate_register_online('1', 'attempt', doc);
        RAISE EXCEPTION USING ERRCODE = 'XXREG', MESSAGE = 'registered';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                ctx = PG_EXCEPTION_CONTEXT;
    END;
END $$;

ALTER TABLE sec_onl_attempt OWNER TO security_online_input_deployer;
SET ROLE security_online_input_deployer;
UPDATE sec_onl_attempt a SET (sqlstate, message, context) = (SELECT * FROM sec_onl_try(a.doc));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- hundreds of inputs, and the server is still up
SELECT count(*) > 1000 AS many, count(DISTINCT op) AS operations FROM sec_onl_attempt;
-- every valid document registers
SELECT op, sqlstate FROM sec_onl_attempt WHERE label = 'valid' ORDER BY op, sqlstate;
-- how each attempt ended
SELECT CASE WHEN sqlstate = 'XXREG' THEN 'registered' ELSE sqlstate END AS outcome, count(*) > 0 AS some
  FROM sec_onl_attempt GROUP BY 1 ORDER BY 1;
-- none ends in any other way: an internal error, a name or length the
-- server refused after migrate let it through, a missing privilege
SELECT op, path, label, sqlstate, left(message, 120) AS message
  FROM sec_onl_attempt
 WHERE sqlstate NOT IN ('XXREG', '22023', '42601', '42704', '42883', '42703', '42P01', '42804', '42P17', '0A000')
 ORDER BY 1, 2, 3;
-- every error names the operation and the migration in its context
SELECT op, path, label, sqlstate, left(message, 120) AS message
  FROM sec_onl_attempt
 WHERE sqlstate <> 'XXREG'
   AND coalesce(context, '') NOT LIKE '%operation 1 (' || op || ') of online migration 1%'
   AND coalesce(context, '') NOT LIKE '%operation 1 of online migration 1%'
 ORDER BY 1, 2, 3;
-- a bad value registers only where it is a valid one (an absent optional
-- field, a name that is a name, an expression that is one)
SELECT op, path, string_agg(label, ', ' ORDER BY label) AS registered_with
  FROM sec_onl_attempt WHERE sqlstate = 'XXREG' AND label <> 'valid'
 GROUP BY op, path ORDER BY 1, 2;
-- nothing was left registered
SELECT count(*) AS registered FROM migrate.migration;

------------------------------------------------------------------------
-- refused at registration
------------------------------------------------------------------------
-- a create_table of these columns and constraints: its SQLSTATE and error
CREATE FUNCTION sec_onl_ct(cols jsonb, cons jsonb DEFAULT '[]', OUT refused text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_table',
        jsonb_build_object('table', 'sec_onl_new', 'columns', cols, 'constraints', cons))));
    refused := 'registered';
EXCEPTION WHEN OTHERS THEN
    refused := SQLSTATE || ': ' || SQLERRM;
END $$;
SET ROLE security_online_input_deployer;
-- more index columns than an index can have, or a column twice
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_index',
    jsonb_build_object('table', 'sec_onl_t', 'name', 'sec_onl_i', 'columns', to_jsonb(array_fill('a'::text, ARRAY[100000]))))));
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a", "b", "a"]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_t", "name": "sec_onl_c", "type": "unique", "columns": ["a", "a"]}}]');
-- the same for INCLUDE columns, and key and INCLUDE columns together
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_index',
    jsonb_build_object('table', 'sec_onl_t', 'name', 'sec_onl_i', 'columns', '["a"]'::jsonb,
                       'include', to_jsonb(array_fill('b'::text, ARRAY[100000]))))));
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a"], "include": ["b", "id", "b"]}}]');
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_index',
    jsonb_build_object('table', 'sec_onl_t', 'name', 'sec_onl_i',
                       'columns', (SELECT jsonb_agg('c' || g) FROM generate_series(1, 20) g),
                       'include', (SELECT jsonb_agg('i' || g) FROM generate_series(1, 13) g)))));
-- an index column's unknown field; a collation, an operator class, a
-- storage parameter that is not there, or not for the method; text that
-- tries to be SQL
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": [{"column": "a", "order": "desc"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": [{"column": "b", "collate": "C\" ; DROP TABLE sec_onl_t; --"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": [{"column": "a", "opclass": "int4_minmax_multi_ops"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "method": "gin", "columns": [{"column": "b", "opclass": "text_pattern_ops"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": [{"column": "b", "opclass": {"name": "text_pattern_ops", "params": {"siglen": 8}}}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a"], "storage_parameters": {"fillfactor) WHERE (false": 70}}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a"], "storage_parameters": {"fillfactor": "70) WHERE (false"}}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "columns": ["a"], "storage_parameters": {"fillfactor": [70]}}}]');
SELECT migrate_register_online('1', 'x', '[{"create_index": {"table": "sec_onl_t", "name": "sec_onl_i", "method": "hash", "columns": ["a"], "storage_parameters": {"deduplicate_items": true}}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_t", "name": "sec_onl_c", "type": "foreign_key", "columns": ["a", "b"], "references": {"table": "sec_onl_r", "columns": ["id", "id"]}}}]');
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_constraint',
    jsonb_build_object('table', 'sec_onl_k', 'name', 'sec_onl_c', 'type', 'exclude', 'elements',
        (SELECT jsonb_agg('{"column": "r", "operator": "&&"}'::jsonb) FROM generate_series(1, 33))))));
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_table',
    jsonb_build_object('table', 'sec_onl_wide', 'columns',
        (SELECT jsonb_agg(jsonb_build_object('name', 'c' || g, 'type', 'int')) FROM generate_series(1, 1601) g)))));
SELECT migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('create_table',
    jsonb_build_object('table', 'sec_onl_wide', 'columns',
        (SELECT jsonb_agg(jsonb_build_object('name', 'c' || g, 'type', 'int', 'primary_key', true)) FROM generate_series(1, 33) g)))));
-- create_table: what the server would refuse at start, refused now
SELECT sec_onl_ct('[{"name": "a", "type": "text", "generated": {"identity": {}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {}, "expression": "1"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "default": "1", "generated": {"identity": {}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "serial", "generated": {"expression": "1"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"user_specified_values": "sometimes"}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "smallint", "generated": {"identity": {"sequence_options": {"maxvalue": 100000}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"start": 0}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"increment": 0}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"minvalue": 5, "maxvalue": 5}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"cache": 0}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"start": 1.5}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"identity": {"sequence_options": {"start": 1e30}}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}, {"name": "b", "type": "int", "generated": {"expression": "a * 2"}}, {"name": "c", "type": "int", "generated": {"expression": "b + 1"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "float8", "generated": {"expression": "random()"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"expression": "extract(year from now())::int"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "text", "generated": {"expression": "sec_onl_new::text"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"expression": "(SELECT 1)"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"expression": "nosuch + 1"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "check", "check": "a + 1"}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "check", "check": "a > (SELECT 1)"}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "check", "check": "a > 0", "deferrable": true}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "check", "check": "a > 0", "columns": ["a"]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["b"]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "initially_deferred": true}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"]}, {"name": "c", "type": "check", "check": "a > 0"}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "primary_key": true}]', '[{"name": "c", "type": "primary_key", "columns": ["a"]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "primary_key", "columns": ["a"]}, {"name": "d", "type": "primary_key", "columns": ["a"]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "sec_onl_t_a_idx", "type": "unique", "columns": ["a"]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"storage_parameters": {"nosuch": 1}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"storage_parameters": {"fillfactor": 5}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"storage_parameters": {"fillfactor = 5) --": 5}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"storage_parameters": {"fillfactor": [5]}}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"tablespace": "sec_onl_nosuch"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"tablespace": "pg_global"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "unique", "columns": ["a"], "index_parameters": {"include_columns": ["b"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_nosuch", "columns": ["id"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["nosuch"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["id"], "match_type": "partial"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["id"], "on_delete": "set null", "on_delete_set_columns": ["b"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["id"], "on_delete_set_columns": ["a"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int", "generated": {"expression": "1"}}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "sec_onl_r", "columns": ["id"], "on_update": "cascade"}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "foreign_key", "columns": ["a"], "references": {"table": "pg_class", "columns": ["oid"]}}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "method": "nosuch", "elements": [{"column": "r", "operator": "&&"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "method": "heap", "elements": [{"column": "r", "operator": "&&"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "method": "brin", "elements": [{"column": "r", "operator": "&&"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "r", "operator": "@@@"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "r", "operator": "&&); DROP TABLE sec_onl_t; --"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "r", "operator": "sec_onl_nosuch.&&"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "r", "operator": "<<"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"column": "r", "operator": "&&"}]}]');
SELECT sec_onl_ct('[{"name": "r", "type": "point"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"column": "r", "operator": "~="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "a", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "hash", "elements": [{"column": "a", "operator": "="}], "index_parameters": {"include_columns": ["a"]}}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"column": "a", "operator": "="}], "where": "a > random()"}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "elements": [{"column": "b", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "columns": ["a"], "elements": [{"column": "a", "operator": "="}]}]');
-- the pgroll-like nested form is not taken: the fields are create_constraint's
SELECT sec_onl_ct('[{"name": "r", "type": "int4range"}]', '[{"name": "c", "type": "exclude", "exclude": {"index_method": "gist", "elements": [{"column": "r", "operator": "&&"}]}}]');
-- an element's expression: one of the columns, immutable, not the whole
-- row nor a query, of a type the operator is for; a column or an expression
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"column": "a", "expression": "a", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "b + 1", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "a + (random() * 10)::int", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "timestamptz"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "a::date", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "sec_onl_new", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "(SELECT 1)", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "a; DROP TABLE sec_onl_t", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "elements": [{"expression": "a::text", "operator": "="}]}]');
SELECT sec_onl_ct('[{"name": "a", "type": "int"}]', '[{"name": "c", "type": "exclude", "method": "btree", "elements": [{"expression": "a::text", "operator": "&&"}]}]');
SELECT migrate_register_online('1', 'x', '[{"add_column": {"table": "sec_onl_t", "column": {"name": "c", "type": "int", "generated": {"expression": "a + 1"}}}}]');
-- a second primary key; an operator that is not one, or not one for the
-- type, or not one an exclusion constraint can use
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_t", "name": "sec_onl_c", "type": "primary_key", "columns": ["a"]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "elements": [{"column": "r", "operator": "&&) WITH =); DROP TABLE sec_onl_t; --"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "elements": [{"column": "r", "operator": "OPERATOR(pg_catalog.&&)"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "elements": [{"column": "r", "operator": "=~=~"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "elements": [{"column": "r", "operator": "@>"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "method": "btree", "elements": [{"column": "b", "operator": "<>"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"create_constraint": {"table": "sec_onl_k", "name": "sec_onl_c", "type": "exclude", "method": "gin", "elements": [{"column": "r", "operator": "&&"}]}}]');
-- drop_constraint with up and down, drop_multicolumn_constraint: a primary
-- key, a NOT NULL constraint (one from 18 on: the SQLSTATE alone, the
-- message differs before), an exclusion constraint; several columns for
-- drop_constraint, up without down; up and down not naming exactly the
-- constraint's columns; a column in another multi-column constraint, or
-- dropped by an earlier operation; a constraint of another table
RESET ROLE;
CREATE TABLE sec_onl_dc (id int PRIMARY KEY, a int NOT NULL, b int, c int, r int4range,
                         CONSTRAINT sec_onl_dc_ab CHECK (a < b), CONSTRAINT sec_onl_dc_bc CHECK (b < c),
                         CONSTRAINT sec_onl_dc_r EXCLUDE USING gist (r WITH &&));
ALTER TABLE sec_onl_dc OWNER TO security_online_input_deployer;
SET ROLE security_online_input_deployer;
SELECT migrate_register_online('1', 'x', '[{"drop_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_pkey", "down": "id"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_pkey", "up": {"id": "id"}, "down": {"id": "id"}}}]');
DO $$
BEGIN
    PERFORM migrate_register_online('1', 'x', '[{"drop_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_a_not_null", "down": "a"}}]');
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'NOT NULL constraint: %', SQLSTATE;
END $$;
SELECT migrate_register_online('1', 'x', '[{"drop_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_r", "down": "r"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_ab", "down": "a"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_constraint": {"table": "sec_onl_d", "name": "sec_onl_d_a", "up": "a"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_ab", "up": {"a": "a"}, "down": {"a": "a"}}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_ab", "up": {"a": "a", "b": "b", "c": "c"}, "down": {"a": "a", "b": "b", "c": "c"}}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_ab", "up": {"a": "a", "b": "b"}, "down": {"a": "a", "c": "b"}}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_dc", "name": "sec_onl_dc_ab", "up": {"a": "a", "b": "b"}, "down": {"a": "a", "b": "b"}}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_column": {"table": "sec_onl_d", "column": "c"}}, {"drop_multicolumn_constraint": {"table": "sec_onl_d", "name": "sec_onl_d_bc", "up": {"b": "b", "c": "c"}, "down": {"b": "b", "c": "c"}}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_multicolumn_constraint": {"table": "sec_onl_d", "name": "sec_onl_dc_bc", "up": {"b": "b", "c": "c"}, "down": {"b": "b", "c": "c"}}}]');
-- sql: what no migration may hold, in on_complete too
SELECT migrate_register_online('1', 'x', '[{"sql": {"up": "SELECT 1", "on_complete": "COMMIT"}}]');
SELECT migrate_register_online('1', 'x', '[{"sql": {"up": "SELECT 1", "on_complete": "CREATE INDEX CONCURRENTLY sec_onl_i ON sec_onl_t (a)"}}]');
SELECT migrate_register_online('1', 'x', '[{"sql": {"up": "SELECT 1", "on_complete": "COPY sec_onl_t FROM STDIN"}}]');
SELECT migrate_register_online('1', 'x', '[{"sql": {"up": "SELECT 1", "on_complete": "SELECT 1; SELEC 2"}}]');
-- system catalogs, migrate's catalog, its version schemas
SELECT migrate_register_online('1', 'x', '[{"rename_column": {"schema": "pg_catalog", "table": "pg_class", "from": "relname", "to": "x"}}]');
SELECT migrate_register_online('1', 'x', '[{"create_table": {"schema": "pg_catalog", "table": "x", "columns": [{"name": "a", "type": "int"}]}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_index": {"schema": "pg_catalog", "name": "pg_class_oid_index"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_table": {"schema": "pg_toast", "table": "pg_toast_1262"}}]');
SELECT migrate_register_online('1', 'x', '[{"add_column": {"schema": "information_schema", "table": "sql_features", "column": {"name": "x", "type": "int"}}}]');
SELECT migrate_register_online('1', 'x', '[{"rename_column": {"schema": "migrate", "table": "migration", "from": "name", "to": "x"}}]');
SELECT migrate_register_online('1', 'x', '[{"drop_table": {"schema": "migrate", "table": "event"}}]');
SELECT migrate_register_online('1', 'x', '[{"rename_constraint": {"schema": "pg_catalog", "table": "pg_class", "from": "pg_class_oid_index", "to": "x"}}]');
SELECT migrate_register_online('1', 'x', '[{"set_replica_identity": {"schema": "migrate", "table": "event", "identity": {"type": "full"}}}]');
SELECT migrate_register_online('1', 'x', '[{"rename_constraint": {"schema": "migrate", "table": "migration", "from": "migration_pkey", "to": "x"}}]');
RESET ROLE;
CREATE SCHEMA migrate_public_v7;
CREATE TABLE migrate_public_v7.t (a int);
SELECT migrate_register_online('1', 'x', '[{"drop_table": {"schema": "migrate_public_v7", "table": "t"}}]');
DROP SCHEMA migrate_public_v7 CASCADE;
-- an extension's own table, in an ordinary schema
CREATE TABLE sec_onl_ext (a int);
ALTER EXTENSION migrate ADD TABLE sec_onl_ext;
SELECT migrate_register_online('1', 'x', '[{"add_column": {"table": "sec_onl_ext", "column": {"name": "b", "type": "int"}}}]');
SELECT migrate_register_online('1', 'x', '[{"set_replica_identity": {"table": "sec_onl_ext", "identity": {"type": "full"}}}]');
ALTER EXTENSION migrate DROP TABLE sec_onl_ext;
DROP TABLE sec_onl_ext;
-- temporary tables: the background job, in another session, cannot see them
CREATE TEMP TABLE sec_onl_temp (a int);
DO $$
BEGIN
    PERFORM migrate_register_online('1', 'x', jsonb_build_array(jsonb_build_object('add_column',
        jsonb_build_object('schema', pg_my_temp_schema()::regnamespace::text, 'table', 'sec_onl_temp',
                           'column', '{"name": "b", "type": "int"}'::jsonb))));
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING '%: %', SQLSTATE, regexp_replace(SQLERRM, 'pg_temp_[0-9]+', 'pg_temp_N');
END $$;
DROP TABLE sec_onl_temp;
SELECT count(*) AS registered FROM migrate.migration;

DROP TABLE sec_onl_attempt, sec_onl_bad, sec_onl_base, sec_onl_t, sec_onl_r, sec_onl_k, sec_onl_d, sec_onl_dc;
DROP FUNCTION sec_onl_try(jsonb), sec_onl_paths(jsonb, text[]), sec_onl_ct(jsonb, jsonb);
DROP EXTENSION migrate;
DROP ROLE security_online_input_deployer;
