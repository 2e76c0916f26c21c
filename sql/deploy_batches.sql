-- migrate_deploy: the pending migrations applied as migrate_upgrade would,
-- in batches that each commit (issue 17).  pg_regress sends each statement
-- on its own, outside a transaction block, so CALL may commit.
CREATE EXTENSION migrate;
-- the checker's advice on integer keys is beside the point here
SET migrate.check_level = off;

-- like every function of the extension, not executable by PUBLIC
SELECT has_function_privilege('public', 'migrate_deploy(text, integer, integer)', 'EXECUTE')
    AS public_may_call;

-- nothing pending: nothing applied
CALL migrate_deploy();

------------------------------------------------------------------------
-- refusals, before anything is applied
------------------------------------------------------------------------
SELECT migrate_register('1', 'one', 'CREATE TABLE deploy_one (id int PRIMARY KEY)');
CALL migrate_deploy(batch => 0);
\echo :LAST_ERROR_SQLSTATE
CALL migrate_deploy(batch => -5);
\echo :LAST_ERROR_SQLSTATE
CALL migrate_deploy(batch => NULL);
\echo :LAST_ERROR_SQLSTATE
CALL migrate_deploy('not a version');
\echo :LAST_ERROR_SQLSTATE
CALL migrate_deploy('9.9');
\echo :LAST_ERROR_SQLSTATE
-- it commits: not inside a transaction block, nor a function
BEGIN;
CALL migrate_deploy();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
CREATE FUNCTION deploy_in_function() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    CALL migrate_deploy(NULL, 10, n);
    RETURN n;
END $$;
SELECT deploy_in_function();
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION deploy_in_function();
-- nor from inside a migration
SELECT migrate_register('2', 'deploys', 'CALL migrate_deploy()');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.migration ORDER BY version_key;
DELETE FROM migrate.migration WHERE version = '2';

------------------------------------------------------------------------
-- batches: each commits (its own transaction), in version order
------------------------------------------------------------------------
SELECT migrate_register(v::text, 'table ' || v,
                        format('CREATE TABLE deploy_t%s (id int PRIMARY KEY, v text);'
                               ' CREATE INDEX ON deploy_t%s (v)', v, v),
                        format('DROP TABLE deploy_t%s', v))
  FROM generate_series(2, 7) AS v;
CALL migrate_deploy(batch => 3);
SELECT version, state FROM migrate.migration ORDER BY version_key;
-- 1-3, 4-6, 7: three transactions
SELECT count(DISTINCT xmin::text) AS transactions FROM migrate.migration;
SELECT count(*) AS upgrade_events FROM migrate.event WHERE action = 'upgrade';
SELECT action, version FROM migrate.fingerprint;
SELECT count(*) AS drift FROM migrate_validate();
SELECT migrate_current();
-- a second call finds nothing
CALL migrate_deploy(batch => 3);

------------------------------------------------------------------------
-- a failing migration: the batches before stay applied, its own batch is
-- rolled back, the migration is failed, and its error is raised
------------------------------------------------------------------------
SELECT migrate_register(v::text, 'table ' || v,
                        format('CREATE TABLE deploy_t%s (id int PRIMARY KEY)', v))
  FROM generate_series(8, 12) AS v;
SELECT migrate_register('13', 'fails', 'SELECT 1 / 0');
SELECT migrate_register('14', 'after', 'CREATE TABLE deploy_t14 (id int)');
CALL migrate_deploy(batch => 4);
\echo :LAST_ERROR_SQLSTATE
-- as after a failed migrate_upgrade(), the migration is still to apply,
-- its failure recorded (migrate.event, action fail)
SELECT version, state, split_part(last_error, E'\n', 1) AS last_error
  FROM migrate.status WHERE version::int >= 8 ORDER BY version::int;
SELECT to_regclass('deploy_t12') IS NULL AS t12_rolled_back;
-- fixed, the next call goes on where the last committed batch ended
SELECT migrate_register('13', 'fixed', 'SELECT 1');
CALL migrate_deploy(batch => 4);
SELECT version, state FROM migrate.migration WHERE version_key >= '{8}' ORDER BY version_key;

------------------------------------------------------------------------
-- repeatables: once, after the last migration, even when a batch ends
-- just before it; one that reads a table of the last migration works
------------------------------------------------------------------------
SELECT migrate_register_repeatable('deploy_view',
    'CREATE OR REPLACE VIEW deploy_last AS SELECT count(*) AS n FROM deploy_t18');
SELECT migrate_register(v::text, 'table ' || v,
                        format('CREATE TABLE deploy_t%s (id int PRIMARY KEY)', v))
  FROM generate_series(15, 18) AS v;
CALL migrate_deploy(batch => 2);
SELECT name, state FROM migrate.repeatable_status;
SELECT count(*) AS repeatable_runs FROM migrate.event
 WHERE action = 'upgrade' AND version IS NULL;
SELECT * FROM deploy_last;
-- with a target: the batches stop there, and the one that reaches it
-- runs the repeatable (as migrate_upgrade(target) does)
SELECT migrate_register_repeatable('deploy_view',
    'CREATE OR REPLACE VIEW deploy_last AS SELECT count(*) + 1 AS n FROM deploy_t20');
SELECT migrate_register(v::text, 'table ' || v,
                        format('CREATE TABLE deploy_t%s (id int PRIMARY KEY)', v))
  FROM generate_series(19, 21) AS v;
CALL migrate_deploy('20', 1);
SELECT version, state FROM migrate.migration WHERE version_key >= '{19}' ORDER BY version_key;
SELECT name, state FROM migrate.repeatable_status;
SELECT * FROM deploy_last;
CALL migrate_deploy(batch => 2);

------------------------------------------------------------------------
-- a non-transactional migration in the middle: its batch hands it to a
-- background run, which the call waits for before the next batch
------------------------------------------------------------------------
SELECT migrate_register('22', 'table', 'CREATE TABLE deploy_t22 (id int PRIMARY KEY, v text)');
SELECT migrate_register('23', 'concurrent index',
                        'CREATE INDEX CONCURRENTLY deploy_t22_v ON deploy_t22 (v)',
                        'DROP INDEX CONCURRENTLY deploy_t22_v', false);
SELECT migrate_register('24', 'uses the index',
                        'COMMENT ON INDEX deploy_t22_v IS ''built in the background''');
SELECT migrate_register('25', 'table', 'CREATE TABLE deploy_t25 (id int)');
CALL migrate_deploy(batch => 2);
SELECT version, state FROM migrate.migration WHERE version_key >= '{22}' ORDER BY version_key;
SELECT kind, state, version, target FROM migrate.job ORDER BY id;
SELECT obj_description('deploy_t22_v'::regclass, 'pg_class');
-- one that fails in the background: its error, and the call stops there
SELECT migrate_register('26', 'table', 'CREATE TABLE deploy_t26 (id int)');
SELECT migrate_register('27', 'fails in the background',
                        'CREATE INDEX CONCURRENTLY deploy_nosuch_i ON deploy_nosuch (id)',
                        NULL, false);
SELECT migrate_register('28', 'table', 'CREATE TABLE deploy_t28 (id int)');
CALL migrate_deploy(batch => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.migration WHERE version_key >= '{26}' ORDER BY version_key;
DELETE FROM migrate.migration WHERE version IN ('27', '28');

------------------------------------------------------------------------
-- an online migration: the call applies what comes before it, starts it
-- and stops there, as migrate_upgrade does
------------------------------------------------------------------------
SELECT migrate_register('29', 'table',
                        'CREATE TABLE deploy_people (id int PRIMARY KEY, name text)');
SELECT migrate_register_online('30', 'rename',
    '[{"rename_column": {"table": "deploy_people", "from": "name", "to": "full_name"}}]');
SELECT migrate_register('31', 'after', 'CREATE TABLE deploy_t31 (id int)');
CALL migrate_deploy(batch => 5);
SELECT version, state FROM migrate.migration WHERE version_key >= '{29}' ORDER BY version_key;
-- in flight: nothing applied
CALL migrate_deploy();
SELECT migrate_complete('30');
CALL migrate_deploy();
SELECT version, state FROM migrate.migration WHERE version_key >= '{29}' ORDER BY version_key;

------------------------------------------------------------------------
-- the schema changed by hand before a deploy: one warning, for the call,
-- not one a batch
------------------------------------------------------------------------
CREATE TABLE deploy_by_hand (id int);
SELECT migrate_register(v::text, 'table ' || v,
                        format('CREATE TABLE deploy_t%s (id int)', v))
  FROM generate_series(32, 35) AS v;
CALL migrate_deploy(batch => 1);
SELECT count(*) AS drift_events FROM migrate.event WHERE action = 'drift';

-- migrate_upgrade is unchanged: all or nothing
SELECT migrate_register('36', 'table', 'CREATE TABLE deploy_t36 (id int)');
SELECT migrate_register('37', 'fails', 'SELECT 1 / 0');
SELECT * FROM migrate_upgrade();
SELECT version, state, split_part(last_error, E'\n', 1) AS last_error
  FROM migrate.status WHERE version::int >= 36 ORDER BY version::int;

DROP EXTENSION migrate;
DROP TABLE deploy_one, deploy_t2, deploy_t3, deploy_t4, deploy_t5, deploy_t6, deploy_t7,
    deploy_t8, deploy_t9, deploy_t10, deploy_t11, deploy_t12, deploy_t14, deploy_t15,
    deploy_t16, deploy_t17, deploy_t18, deploy_t19, deploy_t20, deploy_t21, deploy_t22,
    deploy_t25, deploy_t26, deploy_t31, deploy_t32, deploy_t33, deploy_t34, deploy_t35,
    deploy_people, deploy_by_hand CASCADE;
