-- security_catalog: a migration being applied (in the session or by a
-- background job) cannot change migrate's catalog or run migrations, and a
-- baseline forgets how far a failed non-transactional migration had got.
CREATE EXTENSION migrate;
-- a deploy role with the grants the README gives, and nothing more
CREATE ROLE security_catalog_deployer LOGIN;
CALL grant_deploy('security_catalog_deployer');
CREATE SCHEMA security_catalog AUTHORIZATION security_catalog_deployer;
SET ROLE security_catalog_deployer;
CREATE TABLE security_catalog.items (id int PRIMARY KEY, a int, b int);

-- A baseline of a failed non-transactional migration forgets how many of its
-- statements ran: a later downgrade runs every down statement.
SELECT migrate_register('1', 'two indexes, the second one broken', $$
    CREATE INDEX CONCURRENTLY items_a ON security_catalog.items (a);
    CREATE INDEX CONCURRENTLY items_b ON security_catalog.items (no_such_column);
$$, $$
    DROP INDEX CONCURRENTLY security_catalog.items_a;
    DROP INDEX CONCURRENTLY IF EXISTS security_catalog.items_b;
$$, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state, steps_done FROM migrate.migration;
SELECT migrate_baseline('1');
SELECT version, state, steps_done FROM migrate.migration;
SELECT * FROM migrate_downgrade('0');
CALL settle();
SELECT migrate_wait();
SELECT version, state, steps_done FROM migrate.migration;
-- items_a is gone: the first down statement ran
SELECT indexrelid::regclass::text AS index FROM pg_index
 WHERE indrelid = 'security_catalog.items'::regclass ORDER BY 1;
SELECT migrate_register('1', 'nothing', 'SELECT 1', 'SELECT 1');

-- A migration that registers its own version while it is applied: refused,
-- nothing applied, its catalog row as registered.
SELECT migrate_register('2', 'rewrites itself', $$
    CREATE TABLE security_catalog.t2 (id int);
    SELECT migrate_register('2', 'harmless', 'SELECT 1');
$$);
SELECT * FROM migrate_upgrade('2');
\echo :LAST_ERROR_SQLSTATE
SELECT version, name, state, up_sql LIKE '%CREATE TABLE%' AS as_registered FROM migrate.migration ORDER BY version_key;
SELECT to_regclass('security_catalog.t2') AS t2;
SELECT count(*) AS no_drift FROM migrate_validate();
SELECT migrate_register('2', 'fixed', 'CREATE TABLE security_catalog.t2 (id int)');

-- ... or a later version, which would then apply SQL nobody registered
SELECT migrate_register('3', 'rewrites a later one', $$
    SELECT migrate_register('4', 'later', 'CREATE TABLE security_catalog.evil (id int)');
$$);
SELECT migrate_register('4', 'later', 'CREATE TABLE security_catalog.t4 (id int)');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, name, state FROM migrate.migration ORDER BY version_key;
SELECT migrate_register('3', 'fixed', 'SELECT 1');

-- Every migrate function that changes the catalog, runs migrations or waits
-- for them is refused inside a migration; reading is allowed.
SELECT migrate_register('5', 'tries every migrate function', $$
DO $do$
DECLARE
    call text;
BEGIN
    FOREACH call IN ARRAY ARRAY[
        'SELECT migrate_register(''9'', ''x'', ''SELECT 1'')',
        'SELECT migrate_register_online(''9'', ''x'', ''[]'')',
        'SELECT * FROM migrate_upgrade()',
        'SELECT * FROM migrate_downgrade(''0'')',
        'SELECT migrate_baseline(''5'')',
        'SELECT migrate_complete()',
        'SELECT migrate_rollback()',
        'SELECT migrate_cancel()',
        'SELECT migrate_resume()',
        'SELECT migrate_backfill(''security_catalog.items'', ''b = a'')',
        'SELECT migrate_verify(''9'')',
        'SELECT migrate_wait()',
        'SELECT migrate_current()',
        'SELECT count(*) FROM migrate_validate()']
    LOOP
        BEGIN
            EXECUTE call;
            RAISE NOTICE '%: allowed', call;
        EXCEPTION WHEN others THEN
            RAISE NOTICE '%: % %', call, SQLSTATE, SQLERRM;
        END;
    END LOOP;
END $do$;
$$);
\set VERBOSITY terse
SELECT * FROM migrate_upgrade();
\set VERBOSITY default
SELECT version, state FROM migrate.migration ORDER BY version_key;

-- A migration that applies migrations: one refusal, one fail event.
SELECT migrate_register('6', 'applies itself', 'SELECT * FROM migrate_upgrade()');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, action, sqlstate, detail FROM migrate.event WHERE action = 'fail' AND version = '6';

-- the refusal ends with the call it refused: caught or not, migrate works again
DO $$
BEGIN
    PERFORM * FROM migrate_upgrade();
EXCEPTION WHEN others THEN
    RAISE NOTICE 'caught %', SQLSTATE;
END $$;
SELECT migrate_register('6', 'fixed', 'SELECT 1');
SELECT * FROM migrate_upgrade();

-- The same in a background job: the job fails, nothing is registered.
SELECT migrate_register('7', 'registers from a worker',
                        $$SELECT migrate_register('8', 'sneaked in', 'SELECT 1')$$,
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, name, state FROM migrate.migration WHERE version_key >= '{7}' ORDER BY version_key;
SELECT state, last_sqlstate FROM migrate.job ORDER BY id DESC LIMIT 1;

-- That failed run belongs to the role that queued it, by OID: a role of the
-- same name created after the first was dropped may not change what the run
-- will apply when it is resumed.
RESET ROLE;
DROP OWNED BY security_catalog_deployer;
DROP ROLE security_catalog_deployer;
CREATE ROLE security_catalog_deployer LOGIN;
CALL grant_deploy('security_catalog_deployer');
SET ROLE security_catalog_deployer;
SELECT migrate_register('7', 'a namesake''s version', 'SELECT 1', NULL, transactional => false);
\echo :LAST_ERROR_SQLSTATE
SELECT version, name FROM migrate.migration WHERE version = '7';

RESET ROLE;
DROP EXTENSION migrate;
DROP OWNED BY security_catalog_deployer;
DROP ROLE security_catalog_deployer;
