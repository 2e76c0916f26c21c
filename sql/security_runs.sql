-- A background run applies exactly what was queued, as the role that queued
-- it: a deploy role cannot slip SQL into a superuser's run, nothing one
-- migration SETs reaches the next, and a failure is recorded against the
-- migration that failed.
CREATE EXTENSION migrate;
\set VERBOSITY terse
-- a deploy role with only the grants the README gives
CREATE ROLE security_runs_deployer LOGIN;
CALL grant_deploy('security_runs_deployer');
CREATE SCHEMA security_runs AUTHORIZATION security_runs_deployer;
CREATE ROLE security_runs_app;
GRANT security_runs_app TO security_runs_deployer;
-- the superuser that deploys, and whose runs the deploy role targets
CREATE ROLE security_runs_super SUPERUSER LOGIN;
CREATE SCHEMA security_runs_elsewhere;
CREATE TABLE security_runs_t (id int PRIMARY KEY, v text);
CREATE TABLE security_runs_app_t (id int);
ALTER TABLE security_runs_app_t OWNER TO security_runs_app;
-- the background run waits at this gate until the test opens it
CREATE TABLE security_runs_gate (open boolean);
SET search_path = "$user", public;
SET ROLE security_runs_super;

-- A version registered while the superuser's run waits is not applied by it
SELECT migrate_register('1', 'held', $m$
    DO $do$ BEGIN WHILE NOT EXISTS (SELECT FROM security_runs_gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $do$;
    CREATE INDEX CONCURRENTLY security_runs_t_v ON security_runs_t (v);
$m$, NULL, transactional => false);
SELECT migrate_register('3', 'column', 'ALTER TABLE security_runs_t ADD COLUMN w int');
SELECT * FROM migrate_upgrade();
SELECT e.p ->> 'version' AS planned FROM migrate.job j,
       jsonb_array_elements(j.args -> 'plan') e(p) ORDER BY 1;
-- the run is under way, held at the gate
SET ROLE security_runs_deployer;
DO $$
BEGIN
    FOR i IN 1 .. 6000 LOOP
        EXIT WHEN (SELECT state FROM migrate.job ORDER BY id DESC LIMIT 1) = 'running';
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
-- a new version below one the run has yet to apply: the run would skip it
\set VERBOSITY default
SELECT migrate_register('2', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
-- a version of the run cannot change while it is queued or running
SELECT migrate_register('3', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
-- out of order on purpose: registered, but the run stops before it skips it
SET migrate.allow_out_of_order = on;
SELECT migrate_register('2', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
RESET migrate.allow_out_of_order;
SET ROLE security_runs_super;
INSERT INTO security_runs_gate VALUES (true);
CALL settle();
\set VERBOSITY default
SELECT migrate_wait();
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
SELECT version, state, applied_by = current_user AS by_me FROM migrate.migration ORDER BY version;
SELECT state, current_version, last_sqlstate FROM migrate.job;
SELECT rolsuper FROM pg_roles WHERE rolname = 'security_runs_deployer';
-- the next deploy applies 2, as whoever deploys it (the message differs
-- between versions: its code)
SET ROLE security_runs_deployer;
\set VERBOSITY sqlstate
SELECT * FROM migrate_upgrade();
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
SET ROLE security_runs_super;
SELECT version, state FROM migrate.migration WHERE version = '2';
-- the superuser replaces it: no run has it in its plan
SELECT migrate_register('2', 'harmless', 'SELECT 1');

-- Settings and role set by one migration do not reach the next
SELECT migrate_register('4', 'sets things', $m$
    SET SESSION AUTHORIZATION security_runs_deployer;
    SET ROLE security_runs_app;
    SET search_path = security_runs_elsewhere;
    SET statement_timeout = '42s';
    SET work_mem = '1234kB';
    SET default_transaction_isolation = 'repeatable read';
    SET default_transaction_read_only = on;
    VACUUM public.security_runs_app_t;
$m$, NULL, transactional => false);
SELECT migrate_register('5', 'sees them', $m$
    CREATE TABLE security_runs_seen AS
    SELECT current_user = session_user AS same_user,
           current_setting('search_path') AS search_path,
           current_setting('statement_timeout') AS statement_timeout,
           current_setting('work_mem') = '1234kB' AS work_mem_leaked,
           current_setting('transaction_isolation') AS isolation,
           current_setting('transaction_read_only') AS read_only
$m$);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM security_runs_seen;
SELECT schemaname, tableowner = current_user AS owned_by_me
  FROM pg_tables WHERE tablename = 'security_runs_seen';
SELECT version, applied_by = current_user AS by_me FROM migrate.migration
 WHERE version IN ('4', '5') ORDER BY version;
SELECT version, action, actor = current_user AS by_me FROM migrate.event
 WHERE version IN ('4', '5') AND action = 'upgrade' ORDER BY id;

-- A failure is recorded against the migration that failed
SELECT migrate_register('6', 'index', 'CREATE INDEX CONCURRENTLY security_runs_t_id_v ON security_runs_t (id, v)',
                        NULL, transactional => false);
SELECT migrate_register('7', 'fails', 'SELECT 1 / 0');
SELECT migrate_register('8', 'after it', 'ALTER TABLE security_runs_t ADD COLUMN x int');
SELECT * FROM migrate_upgrade();
CALL settle();
-- a new session, as a CI step that reconnects
\c -
\set VERBOSITY terse
SET ROLE security_runs_super;
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait('7');
\echo :LAST_ERROR_SQLSTATE
SELECT version, state, last_error IS NOT NULL AS has_error FROM migrate.migration
 WHERE version IN ('6', '7', '8') ORDER BY version;
SELECT version, sqlstate FROM migrate.event WHERE action = 'fail' ORDER BY id;
SELECT state, current_version, last_sqlstate FROM migrate.job ORDER BY id DESC LIMIT 1;

-- the deploy role may not change what the failed run resumes with
SET ROLE security_runs_deployer;
SELECT migrate_register('7', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
-- nor add a version below what it resumes with
SELECT migrate_register('7.5', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('8', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
SET ROLE security_runs_super;
-- the run's own role fixes it and resumes
SELECT migrate_register('7', 'fixed', 'SELECT 1');
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.migration WHERE version IN ('6', '7', '8') ORDER BY version;
SELECT rolsuper FROM pg_roles WHERE rolname = 'security_runs_deployer';

-- A resumed downgrade reverts only what it was queued with
SELECT migrate_register('9', 'blocked down', 'VACUUM security_runs_t; CREATE TABLE security_runs_blocked (id int)',
                        'VACUUM security_runs_t; DROP TABLE security_runs_blocked', transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
CREATE VIEW security_runs_blocker AS SELECT * FROM security_runs_blocked;
SELECT * FROM migrate_downgrade('8');
CALL settle();
\c -
\set VERBOSITY terse
SET ROLE security_runs_super;
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait('9');
\echo :LAST_ERROR_SQLSTATE
SELECT version, sqlstate FROM migrate.event WHERE action = 'fail' AND version = '9';
-- the deploy role applies a migration whose down SQL escalates
SET ROLE security_runs_deployer;
SELECT migrate_register('10', 'hostile down', 'CREATE TABLE security_runs.h (id int)',
                        'ALTER ROLE security_runs_deployer SUPERUSER');
SELECT * FROM migrate_upgrade();
SET ROLE security_runs_super;
DROP VIEW security_runs_blocker;
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.migration WHERE version IN ('9', '10') ORDER BY version;
SELECT rolsuper FROM pg_roles WHERE rolname = 'security_runs_deployer';

-- A run queued without a plan (by migrate 1.0) applies only what was
-- registered before it was queued, up to its target
SELECT migrate_register('11', 'index x', 'CREATE INDEX CONCURRENTLY security_runs_t_x ON security_runs_t (x)',
                        NULL, transactional => false);
SELECT migrate_register('12', 'column y', 'ALTER TABLE security_runs_t ADD COLUMN y int');
BEGIN;
SELECT * FROM migrate_upgrade();
UPDATE migrate.job SET args = args - 'plan' WHERE state = 'queued';
-- before its worker starts (and plans), the target bounds what it applies
SAVEPOINT planless;
SET ROLE security_runs_deployer;
SELECT migrate_register('11.5', 'escalate', 'ALTER ROLE security_runs_deployer SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT planless;
COMMIT;
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.migration WHERE version IN ('9', '11', '11.5', '12') ORDER BY version;
SELECT e.p ->> 'version' AS planned FROM migrate.job j,
       jsonb_array_elements(j.args -> 'plan') WITH ORDINALITY e(p, n)
 WHERE j.id = (SELECT max(id) FROM migrate.job) ORDER BY e.n;
SELECT rolsuper FROM pg_roles WHERE rolname = 'security_runs_deployer';

RESET ROLE;
DROP EXTENSION migrate;
DROP TABLE security_runs_t, security_runs_app_t, security_runs_gate, security_runs_seen;
DROP TABLE security_runs_blocked;
DROP SCHEMA security_runs CASCADE;
DROP SCHEMA security_runs_elsewhere;
RESET search_path;
DROP ROLE security_runs_deployer, security_runs_app, security_runs_super;
