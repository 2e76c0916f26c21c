-- migrate_upgrade: pending migrations in version order, inside the caller's
-- transaction; errors keep their SQLSTATE and name the migration.
CREATE EXTENSION migrate;

SELECT migrate_upgrade();          -- nothing registered: nothing to do
SELECT migrate_current();

SELECT migrate_register('1', 'accounts', $$
    CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           email text NOT NULL UNIQUE);
    INSERT INTO accounts (email) VALUES ('a@example.com'), ('b@example.com');
$$, 'DROP TABLE accounts');
SELECT migrate_register('2', 'accounts.plan', $$
    ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free';
    UPDATE accounts SET plan = 'pro' WHERE email = 'a@example.com';
$$, 'ALTER TABLE accounts DROP COLUMN plan');
SELECT migrate_register('3', 'plan index', 'CREATE INDEX accounts_plan_idx ON accounts (plan)',
                        'DROP INDEX accounts_plan_idx');

-- up to a target
SELECT * FROM migrate_upgrade('2');
SELECT migrate_current();
SELECT version, state, applied_by = current_user AS by_me,
       applied_at IS NOT NULL AS has_time, duration >= '0'::interval AS has_duration
  FROM migrate.status;
SELECT email, plan FROM accounts ORDER BY id;

-- then the rest; a second run finds nothing to do
SELECT * FROM migrate_upgrade();
SELECT * FROM migrate_upgrade();
SELECT migrate_current();
SELECT version, action, actor = current_user AS by_me, duration IS NOT NULL AS timed
  FROM migrate.event WHERE action = 'upgrade' ORDER BY id;

-- a target below the current version applies nothing
SELECT * FROM migrate_upgrade('1');

-- bad targets
SELECT * FROM migrate_upgrade('4');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_upgrade('four');
\echo :LAST_ERROR_SQLSTATE

-- one call deploys all of its migrations or none: 5 fails, so 4 is undone
SELECT migrate_register('4', 'audit table', 'CREATE TABLE audit (id int)', 'DROP TABLE audit');
SELECT migrate_register('5', 'duplicate email', $$
    CREATE TABLE audit2 (id int);
    INSERT INTO accounts (email) VALUES ('a@example.com');
    CREATE TABLE audit3 (id int);
$$);
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version IN ('4', '5');
SELECT to_regclass('audit') AS audit, to_regclass('audit2') AS audit2;

-- the error keeps its SQLSTATE whatever it is
SELECT migrate_register('5', 'missing table', 'INSERT INTO nowhere VALUES (1)');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('5', 'raise', $$
    DO $do$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'P0042'; END $do$;
$$);
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE

-- a caller's ROLLBACK takes the migrations with it
SELECT migrate_register('5', 'fixed', 'CREATE TABLE audit2 (id int)', 'DROP TABLE audit2');
BEGIN;
SELECT * FROM migrate_upgrade();
SELECT migrate_current();
ROLLBACK;
SELECT migrate_current();
SELECT to_regclass('audit') AS audit;

-- the migration runs with the caller's search_path
SELECT * FROM migrate_upgrade();
CREATE SCHEMA app;
SET search_path = app, public;
SELECT migrate_register('6', 'in app', 'CREATE TABLE things (id int)', 'DROP TABLE things');
SELECT * FROM migrate_upgrade();
RESET search_path;
SELECT to_regclass('app.things') AS things;

-- from a non-transactional migration on, the rest of the run is applied by a
-- background worker after commit (sql/jobs.sql tests that engine)
SELECT migrate_register('7', 'email index', 'CREATE INDEX accounts_email ON accounts (email)',
    'DROP INDEX accounts_email');
SELECT migrate_register('8', 'concurrent index',
    'CREATE INDEX CONCURRENTLY accounts_email_lower ON accounts (lower(email))',
    'DROP INDEX CONCURRENTLY accounts_email_lower', transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT migrate_current();

-- a deploy runs in READ COMMITTED: under a transaction snapshot it could not
-- see what another deployer committed while it waited
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT migrate_register('9', 'nine', 'SELECT 9');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a migration whose stored definition was edited by hand is not run
SELECT migrate_register('9', 'nine', 'SELECT 9', 'SELECT 9');
UPDATE migrate.migration SET up_sql = 'DROP TABLE accounts' WHERE version = '9';
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
UPDATE migrate.migration SET down_sql = 'DROP TABLE accounts' WHERE version = '6';
SELECT * FROM migrate_downgrade('5');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('accounts') AS accounts;

-- registering the same definition again repairs the edited one
SELECT migrate_register('9', 'nine', 'SELECT 9', 'SELECT 9');
SELECT up_sql FROM migrate.migration WHERE version = '9';
SELECT action, detail ~ '^definition restored to match checksum' AS restored
  FROM migrate.event WHERE action = 'repair';

-- a migration's SET ROLE ends with the migration; the deployer is recorded
CREATE ROLE regress_migrate_app;
GRANT CREATE ON SCHEMA public TO regress_migrate_app;
SELECT migrate_register('10', 'as app', 'SET ROLE regress_migrate_app; CREATE TABLE app_owned (id int)',
                        'DROP TABLE app_owned');
SELECT * FROM migrate_upgrade();
SELECT current_user = session_user AS role_restored;
SELECT tableowner FROM pg_tables WHERE tablename = 'app_owned';
SELECT applied_by = current_user AS applied_by_deployer FROM migrate.migration WHERE version = '10';
SELECT * FROM migrate_downgrade('8');
REVOKE CREATE ON SCHEMA public FROM regress_migrate_app;
DROP ROLE regress_migrate_app;

DROP TABLE accounts, audit, audit2;
DROP SCHEMA app CASCADE;
DROP EXTENSION migrate;
