-- ${name} placeholders: replaced by their values when the SQL runs (and
-- when it is checked), while the checksum is of the SQL as written.
CREATE EXTENSION migrate;
CREATE SCHEMA placeholders_app;
CREATE TABLE placeholders_gate (open boolean);
CREATE TABLE placeholders_victim (id int);

SELECT migrate_register('1', 'table in ${schema}',
    $$CREATE TABLE ${schema}.${table} (id bigint PRIMARY KEY, note text DEFAULT '${flyway:user} $1 ${ not one} ${9x}');
      CREATE FUNCTION ${schema}.placeholders_f(int) RETURNS int LANGUAGE sql AS $f$ SELECT $1 $f$;
      COMMENT ON TABLE ${schema}.${table} IS $$ || quote_literal('${schema}') || $$$$,
    'DROP TABLE ${schema}.${table}; DROP FUNCTION ${schema}.placeholders_f(int)', true,
    '{"schema": "placeholders_app", "table": "things"}');
-- stored as written, with the values
SELECT version, name, up_sql LIKE '%${schema}.${table}%' AS as_written, placeholders
  FROM migrate.migration;
SELECT * FROM migrate_upgrade();
-- the values went in; what is not a placeholder stayed as it was
SELECT pg_get_expr(adbin, adrelid) AS note_default
  FROM pg_attrdef WHERE adrelid = 'placeholders_app.things'::regclass;
SELECT placeholders_app.placeholders_f(7);
SELECT obj_description('placeholders_app.things'::regclass, 'pg_class') AS comment;

-- other values, same SQL: same checksum, no MG001 even though it is
-- applied; the values are stored, with an event
SELECT checksum AS before FROM migrate.migration WHERE version = '1' \gset
SELECT migrate_register('1', 'table in ${schema}',
    $$CREATE TABLE ${schema}.${table} (id bigint PRIMARY KEY, note text DEFAULT '${flyway:user} $1 ${ not one} ${9x}');
      CREATE FUNCTION ${schema}.placeholders_f(int) RETURNS int LANGUAGE sql AS $f$ SELECT $1 $f$;
      COMMENT ON TABLE ${schema}.${table} IS $$ || quote_literal('${schema}') || $$$$,
    'DROP TABLE ${schema}.${table}; DROP FUNCTION ${schema}.placeholders_f(int)', true,
    '{"schema": "placeholders_app", "table": "things", "unused": "x"}');
SELECT checksum = :'before' AS same_checksum, state, placeholders FROM migrate.migration WHERE version = '1';
SELECT version, action, detail FROM migrate.event WHERE version = '1' ORDER BY id;
-- the same values again: nothing to do
SELECT migrate_register('1', 'table in ${schema}',
    $$CREATE TABLE ${schema}.${table} (id bigint PRIMARY KEY, note text DEFAULT '${flyway:user} $1 ${ not one} ${9x}');
      CREATE FUNCTION ${schema}.placeholders_f(int) RETURNS int LANGUAGE sql AS $f$ SELECT $1 $f$;
      COMMENT ON TABLE ${schema}.${table} IS $$ || quote_literal('${schema}') || $$$$,
    'DROP TABLE ${schema}.${table}; DROP FUNCTION ${schema}.placeholders_f(int)', true,
    '{"table": "things", "unused": "x", "schema": "placeholders_app"}');
SELECT count(*) FROM migrate.event WHERE version = '1';

-- the checker at registration sees the SQL as it will run
SELECT migrate_register('2', 'drop', 'DROP TABLE ${t}', NULL, true, '{"t": "placeholders_app.things"}');
DELETE FROM migrate.migration WHERE version = '2';

-- migrate_verify, the downgrade and a background run replace them too
SELECT migrate_register('2', 'column', 'ALTER TABLE ${schema}.things ADD COLUMN ${col} int',
                        'ALTER TABLE ${schema}.things DROP COLUMN ${col}', true,
                        '{"schema": "placeholders_app", "col": "qty"}');
SELECT migrate_verify('2');
SELECT migrate_register('3', 'index', 'CREATE INDEX CONCURRENTLY ${name} ON placeholders_app.things (${col})',
                        'DROP INDEX CONCURRENTLY placeholders_app.${name}', false,
                        '{"name": "things_qty", "col": "qty"}');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT indexrelid::regclass::text AS index FROM pg_index
 WHERE indrelid = 'placeholders_app.things'::regclass ORDER BY 1;
SELECT * FROM migrate_downgrade('1');
CALL settle();
SELECT migrate_wait();
SELECT attname FROM pg_attribute WHERE attrelid = 'placeholders_app.things'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;

-- repeatable migrations have their own
SELECT migrate_register_repeatable('view', 'CREATE OR REPLACE VIEW ${schema}.v AS SELECT ${n} AS n',
                                   '{"schema": "placeholders_app", "n": "42"}');
SELECT * FROM migrate_upgrade('1');
SELECT * FROM placeholders_app.v;
-- new values only: applied again by the next upgrade
SELECT migrate_register_repeatable('view', 'CREATE OR REPLACE VIEW ${schema}.v AS SELECT ${n} AS n',
                                   '{"schema": "placeholders_app", "n": "43"}');
SELECT repeatable, detail ~ '^definition replaced' AS replaced
  FROM migrate.event WHERE repeatable = 'view' ORDER BY id DESC LIMIT 1;
SELECT * FROM migrate_upgrade('1');
SELECT * FROM placeholders_app.v;

-- bad values: refused, nothing registered
SELECT migrate_register('4', 'x', 'SELECT ${a}', NULL, true, '{"b": "1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT 1', 'SELECT ${down_only}', true, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT ${a}', NULL, true, '["a"]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT ${a}', NULL, true, '"a"');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT ${a}', NULL, true, '{"a": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT ${a}', NULL, true, '{"a": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'x', 'SELECT 1', NULL, true, '{"a-b": "1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('r', 'SELECT ${a}', '{}');
\echo :LAST_ERROR_SQLSTATE
-- without values (NULL), the SQL runs as written
SELECT migrate_register('4', 'as written', $$SELECT '${a}'$$, NULL, true, NULL);
SELECT count(*) FROM migrate.migration WHERE version = '4' AND placeholders IS NULL;
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.status;

-- A hostile deploy role: a value is SQL of the deployer's own, checked as
-- the migration's SQL is, and run with the deployer's rights only
CREATE ROLE placeholders_deployer LOGIN;
CALL grant_deploy('placeholders_deployer');
GRANT CREATE, USAGE ON SCHEMA placeholders_app TO placeholders_deployer;
CREATE ROLE placeholders_super SUPERUSER LOGIN;
SET ROLE placeholders_deployer;
-- transaction control smuggled in a value: refused at registration
SELECT migrate_register('5', 'x', $$SELECT '${v}'$$, NULL, true, $${"v": "'; COMMIT; ALTER ROLE placeholders_deployer SUPERUSER; SELECT '"}$$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('5', 'x', $$SELECT '${v}'$$, NULL, true, $${"v": "'; CREATE INDEX CONCURRENTLY i ON placeholders_victim (id); SELECT '"}$$);
\echo :LAST_ERROR_SQLSTATE
-- a value that leaves its string literal runs as the deployer, who may not drop the table
SELECT migrate_register('5', 'x', $$SELECT '${v}'$$, NULL, true, $${"v": "'; DROP TABLE public.placeholders_victim; SELECT '"}$$);
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('public.placeholders_victim') IS NOT NULL AS victim_there;
SELECT migrate_register('5', 'x', $$SELECT '${v}'$$, NULL, true, '{"v": "harmless"}');
SELECT * FROM migrate_upgrade();
-- the values of a migration in a superuser's queued run cannot change
RESET ROLE;
SET ROLE placeholders_super;
SELECT migrate_register('6', 'held', $m$
    DO $do$ BEGIN WHILE NOT EXISTS (SELECT FROM placeholders_gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $do$;
    CREATE INDEX CONCURRENTLY ${name} ON placeholders_app.things (id);
$m$, NULL, false, '{"name": "things_held"}');
SELECT * FROM migrate_upgrade();
SET ROLE placeholders_deployer;
SELECT migrate_register('6', 'held', $m$
    DO $do$ BEGIN WHILE NOT EXISTS (SELECT FROM placeholders_gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $do$;
    CREATE INDEX CONCURRENTLY ${name} ON placeholders_app.things (id);
$m$, NULL, false, $${"name": "x ON placeholders_app.things (id); ALTER ROLE placeholders_deployer SUPERUSER; CREATE INDEX CONCURRENTLY y"}$$);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
INSERT INTO placeholders_gate VALUES (true);
CALL settle();
SELECT migrate_wait();
SELECT rolsuper FROM pg_roles WHERE rolname = 'placeholders_deployer';
SELECT placeholders FROM migrate.migration WHERE version = '6';

RESET ROLE;
DROP SCHEMA placeholders_app CASCADE;
DROP TABLE placeholders_gate, placeholders_victim;
DROP EXTENSION migrate;
DROP OWNED BY placeholders_deployer;
DROP ROLE placeholders_deployer, placeholders_super;
