-- Repeatable migrations: applied again at the end of an upgrade run
-- whenever their SQL changed, in name order, each like a transactional
-- migration.
CREATE EXTENSION migrate;
CREATE TABLE repeatable_t (id bigint PRIMARY KEY, v text);
-- a background run at the end waits at this gate until the test opens it
CREATE TABLE repeatable_gate (open boolean);

-- registered: pending; the same again is a no-op
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id FROM repeatable_t');
SELECT migrate_register_repeatable('B_func', $$CREATE OR REPLACE FUNCTION repeatable_f() RETURNS int LANGUAGE sql AS 'SELECT 1'$$);
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id FROM repeatable_t');
SELECT name, state, applied_at IS NULL AS never FROM migrate.repeatable_status;
SELECT repeatable, version, action, detail ~ '^checksum [0-9a-f]{64}$' AS checksum
  FROM migrate.event ORDER BY id;

-- no versioned migration pending: the repeatables alone, in C order (B before a)
SELECT * FROM migrate_upgrade();
SELECT name, state, applied_by = current_user AS by_me, duration >= '0' AS timed, last_error
  FROM migrate.repeatable_status;
SELECT repeatable_f();
-- nothing changed: nothing applied
SELECT * FROM migrate_upgrade();

-- a change is applied again, and only it; status says 'changed' until then
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v FROM repeatable_t');
SELECT name, state FROM migrate.repeatable_status;
SELECT repeatable, action, detail ~ '^definition replaced' AS replaced
  FROM migrate.event WHERE repeatable = 'a_view' ORDER BY id;
SELECT * FROM migrate_upgrade();
SELECT attname FROM pg_attribute WHERE attrelid = 'repeatable_v'::regclass AND attnum > 0 ORDER BY attnum;

-- after the versioned migrations of the run, in the same transaction
BEGIN;
SELECT migrate_register('1', 'w', 'ALTER TABLE repeatable_t ADD COLUMN w int');
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v, w FROM repeatable_t');
SELECT * FROM migrate_upgrade();
COMMIT;
SELECT version, state FROM migrate.status;
SELECT attname FROM pg_attribute WHERE attrelid = 'repeatable_v'::regclass AND attnum > 0 ORDER BY attnum;

-- with a target below a pending version, the run still ends with them
SELECT migrate_register('2', 'x', 'ALTER TABLE repeatable_t ADD COLUMN x int');
SELECT migrate_register('3', 'y', 'ALTER TABLE repeatable_t ADD COLUMN y int');
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v, w, x FROM repeatable_t');
SELECT * FROM migrate_upgrade('2');
SELECT * FROM migrate_upgrade();

-- settings and role one sets do not reach the next
SELECT migrate_register_repeatable('m_sets', $$
    SET search_path = pg_catalog;
    SET statement_timeout = '42s';
    CREATE OR REPLACE FUNCTION public.repeatable_g() RETURNS int LANGUAGE sql AS 'SELECT 2'$$);
SELECT migrate_register_repeatable('n_sees', $$
    CREATE TABLE repeatable_seen AS
    SELECT current_setting('search_path') AS search_path,
           current_setting('statement_timeout') AS statement_timeout$$);
SELECT * FROM migrate_upgrade();
SELECT * FROM repeatable_seen;

-- a failing one fails the whole upgrade: nothing of the run is applied
SELECT migrate_register('4', 'z', 'ALTER TABLE repeatable_t ADD COLUMN z int', 'ALTER TABLE repeatable_t DROP COLUMN z');
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v, w, x, y FROM repeatable_t');
SELECT migrate_register_repeatable('o_bad', 'SELECT 1; SELECT 1 / 0');
\set VERBOSITY default
SELECT * FROM migrate_upgrade();
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version = '4';
SELECT name, state, last_error FROM migrate.repeatable_status;
SELECT repeatable, action, sqlstate FROM migrate.event WHERE action = 'fail' ORDER BY id;
-- fixed, it is applied by the next deploy
SELECT migrate_register_repeatable('o_bad', 'SELECT 1');
SELECT * FROM migrate_upgrade();
SELECT name, state, last_error FROM migrate.repeatable_status WHERE name = 'o_bad';

-- migrate_downgrade does not touch them
SELECT * FROM migrate_downgrade('3');
SELECT name, state FROM migrate.repeatable_status WHERE name = 'a_view';

-- an online migration in flight: they wait for the run that completes it
SELECT migrate_register_online('5', 'online', '[{"add_column": {"table": "repeatable_t", "column": {"name": "o", "type": "int"}}}]');
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v, w, x, y, o FROM repeatable_t');
SELECT * FROM migrate_upgrade();
SELECT name, state FROM migrate.repeatable_status WHERE name = 'a_view';
SELECT * FROM migrate_upgrade();
SELECT migrate_complete('5');
SELECT * FROM migrate_upgrade();
SELECT name, state FROM migrate.repeatable_status WHERE name = 'a_view';

-- a background run applies them at its end, as the role that queued it
SELECT migrate_register('6', 'index', 'CREATE INDEX CONCURRENTLY repeatable_t_v ON repeatable_t (v)',
                        NULL, transactional => false);
SELECT migrate_register_repeatable('a_view', 'CREATE OR REPLACE VIEW repeatable_v AS SELECT id, v, w, x, y, o, 1 AS one FROM repeatable_t');
SELECT * FROM migrate_upgrade();
SELECT e.r ->> 'name' AS planned FROM migrate.job j, jsonb_array_elements(j.args -> 'repeatables') e(r)
 WHERE j.id = (SELECT max(id) FROM migrate.job);  -- queued, or already running
CALL settle();
SELECT migrate_wait();
SELECT name, state, applied_by = current_user AS by_me FROM migrate.repeatable_status WHERE name = 'a_view';
SELECT repeatable, detail ~ '^applied by job \d+$' AS by_job FROM migrate.event
 WHERE repeatable = 'a_view' ORDER BY id DESC LIMIT 1;

-- a failing one fails the background run, recorded against it
SELECT migrate_register('6.1', 'index 2', 'CREATE INDEX CONCURRENTLY repeatable_t_w ON repeatable_t (w)',
                        NULL, transactional => false);
SELECT migrate_register_repeatable('o_bad', 'SELECT 1 / 0');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version = '6.1';
SELECT state, last_sqlstate FROM migrate.job ORDER BY id DESC LIMIT 1;
SELECT name, state, last_error FROM migrate.repeatable_status WHERE name = 'o_bad';
SELECT repeatable, version, action, sqlstate FROM migrate.event WHERE action = 'fail' ORDER BY id DESC LIMIT 1;
-- fixed, the next deploy applies it
SELECT migrate_register_repeatable('o_bad', 'SELECT 2');
SELECT * FROM migrate_upgrade();

-- bad input
SELECT migrate_register_repeatable(NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', ' -- nothing');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', 'SELECT 1; COMMIT');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', 'CREATE INDEX CONCURRENTLY x_idx ON repeatable_t (v)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', 'SELECT 1 FROM');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_repeatable('x', 'SELECT 1', '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM migrate.repeatable WHERE name = 'x';
-- migrate.check_level findings at registration, as for a migration
SELECT migrate_register_repeatable('p_lint', 'DROP TABLE IF EXISTS repeatable_nothere');
SET migrate.check_level = error;
SELECT migrate_register_repeatable('p_lint', 'DROP TABLE IF EXISTS repeatable_nothere2');
\echo :LAST_ERROR_SQLSTATE
RESET migrate.check_level;
-- the deprecated migrate.check, set explicitly, still decides (and SHOW
-- gives the mode in effect)
SHOW migrate."check";
SET migrate.check_level = off;
SHOW migrate."check";
SET migrate."check" = error;
SELECT migrate_register_repeatable('p_lint', 'DROP TABLE IF EXISTS repeatable_nothere3');
\echo :LAST_ERROR_SQLSTATE
RESET migrate."check";
SELECT migrate_register_repeatable('p_lint', 'DROP TABLE IF EXISTS repeatable_nothere4');
RESET migrate.check_level;
DELETE FROM migrate.repeatable WHERE name = 'p_lint';

-- A hostile deploy role
CREATE ROLE repeatable_deployer;
CALL grant_deploy('repeatable_deployer');
CREATE ROLE repeatable_nobody;
CREATE ROLE repeatable_super SUPERUSER LOGIN;
GRANT CREATE ON SCHEMA public TO repeatable_deployer;
-- without the grants: refused
SET ROLE repeatable_nobody;
SELECT migrate_register_repeatable('x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- a name that looks like SQL is only a name
SET ROLE repeatable_deployer;
SELECT migrate_register_repeatable($n$q"; DROP TABLE repeatable_t; --$n$, 'SELECT 1 / 0');
\set VERBOSITY default
SELECT * FROM migrate_upgrade();
\set VERBOSITY terse
SELECT to_regclass('public.repeatable_t') IS NOT NULL AS still_there;
SELECT migrate_register_repeatable($n$q"; DROP TABLE repeatable_t; --$n$, 'SELECT 1');
SELECT * FROM migrate_upgrade();
SELECT to_regclass('public.repeatable_t') IS NOT NULL AS still_there;
-- a repeatable changed or added after a superuser queued a run is not
-- applied by that run (it runs as the superuser)
SET ROLE repeatable_super;
SELECT migrate_register('7', 'held', $m$
    DO $do$ BEGIN WHILE NOT EXISTS (SELECT FROM repeatable_gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $do$;
    CREATE INDEX CONCURRENTLY repeatable_t_id_v ON repeatable_t (id, v);
$m$, NULL, transactional => false);
SELECT migrate_register_repeatable('s_super', 'SELECT 1');
SELECT * FROM migrate_upgrade();
SET ROLE repeatable_deployer;
SELECT migrate_register_repeatable('s_super', 'ALTER ROLE repeatable_deployer SUPERUSER');
SELECT migrate_register_repeatable('t_new', 'ALTER ROLE repeatable_deployer SUPERUSER');
SELECT migrate_register_repeatable('t_new', 'SELECT 1', '{"v": "x; ALTER ROLE repeatable_deployer SUPERUSER"}');
RESET ROLE;
INSERT INTO repeatable_gate VALUES (true);
CALL settle();
SELECT migrate_wait();
SELECT rolsuper FROM pg_roles WHERE rolname = 'repeatable_deployer';
SELECT name, state FROM migrate.repeatable_status WHERE name IN ('s_super', 't_new');

RESET ROLE;
-- the views of the online migration's new shape
-- (gone: dropped before the plain migration that followed its completion)
SELECT to_regnamespace('migrate_public_v5') IS NULL AS vschema_gone;
DROP TABLE repeatable_t CASCADE;
DROP TABLE repeatable_gate, repeatable_seen;
DROP FUNCTION repeatable_f(), repeatable_g();
DROP EXTENSION migrate;
REVOKE CREATE ON SCHEMA public FROM repeatable_deployer;
DROP OWNED BY repeatable_deployer;
DROP ROLE repeatable_deployer, repeatable_nobody, repeatable_super;
