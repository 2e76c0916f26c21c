-- Background jobs: a non-transactional migration and the rest of its run go
-- to a worker that starts when the deployer commits.
CREATE EXTENSION migrate;
CREATE ROLE regress_migrate_nologin NOLOGIN;
CREATE TABLE parts (id int PRIMARY KEY, sku text NOT NULL);
-- the background run waits at this gate until the test opens it
CREATE TABLE gate (open boolean);
INSERT INTO parts SELECT g, 'sku-' || g FROM generate_series(1, 1000) g;

SHOW migrate.max_workers;
SELECT * FROM migrate.progress;

SELECT migrate_register('1', 'parts.weight', 'ALTER TABLE parts ADD COLUMN weight int',
                        'ALTER TABLE parts DROP COLUMN weight');
SELECT migrate_register('2', 'sku index', $$
    DO $do$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.01); END LOOP; END $do$;
    CREATE INDEX CONCURRENTLY parts_sku ON parts (sku);
$$, 'DROP INDEX CONCURRENTLY parts_sku', transactional => false);
SELECT migrate_register('3', 'parts.note', 'ALTER TABLE parts ADD COLUMN note text',
                        'ALTER TABLE parts DROP COLUMN note');

-- a transaction that rolls back starts nothing
BEGIN;
SELECT * FROM migrate_upgrade();
-- waiting inside it would wait forever
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS jobs FROM migrate.job;
SELECT version, state FROM migrate.status;

-- 1 is applied now; 2 and 3 by a worker after commit
SELECT * FROM migrate_upgrade();
SELECT id, kind, version, target, state IN ('queued', 'running') AS unfinished, rows_total, run_as = current_user AS as_me
  FROM migrate.job;
-- nothing else may deploy while the run is unfinished
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_downgrade('0');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('2', 'sku index, changed', 'SELECT 1', NULL, transactional => false);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_baseline('3');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO gate VALUES (true);
CALL settle();
SELECT migrate_wait();
SELECT version, state, job FROM migrate.status;
SELECT id, state, rows_done, rows_total, current_version FROM migrate.job;
SELECT indexrelid::regclass::text AS index, indisvalid FROM pg_index WHERE indrelid = 'parts'::regclass ORDER BY 1;
SELECT version, action, detail FROM migrate.event WHERE action IN ('upgrade', 'downgrade') ORDER BY id;
SELECT * FROM migrate.progress;
SELECT migrate_wait();   -- nothing left: returns at once
SELECT migrate_wait('2');

-- downgrading a non-transactional migration is left to a worker too
SELECT * FROM migrate_downgrade('1');
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.status;
SELECT indexrelid::regclass::text AS index FROM pg_index WHERE indrelid = 'parts'::regclass ORDER BY 1;
SELECT count(*) FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();

-- a failing statement fails the job: migrate_wait raises its error, with its
-- SQLSTATE; the migration is marked failed, with the error kept
SELECT migrate_register('4', 'bad index', 'CREATE INDEX CONCURRENTLY parts_bad ON parts (no_such_column)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state, job, last_error FROM migrate.status WHERE version = '4';
SELECT id, state, last_sqlstate FROM migrate.job WHERE state = 'failed';
SELECT version, action, sqlstate FROM migrate.event WHERE action = 'fail';

-- fixed and resumed, the job goes on where it stopped
SELECT migrate_register('4', 'bad index', 'CREATE INDEX CONCURRENTLY parts_bad ON parts (sku, id)',
                        NULL, transactional => false);
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait('4');
SELECT version, state, job FROM migrate.status WHERE version = '4';

-- cancel: the job stops cleanly and can be resumed; a timeout gives up waiting
SELECT migrate_register('5', 'slow', 'SELECT pg_sleep(60)', NULL, transactional => false);
SELECT count(*) FROM migrate_upgrade();
SELECT migrate_wait(timeout => '200 ms');
\echo :LAST_ERROR_SQLSTATE
-- (whether it had started yet or not, it ends cancelled)
SET client_min_messages = warning;
SELECT migrate_cancel();
RESET client_min_messages;
-- (the worker marks the job cancelled once its statement has stopped)
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        IF (SELECT state FROM migrate.job WHERE id = 6) = 'cancelled' THEN RETURN; END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RAISE 'job 6 was never cancelled';
END $$;
SELECT migrate_wait();
SELECT version, state, job FROM migrate.status WHERE version = '5';
SELECT migrate_register('5', 'slow', 'SELECT pg_sleep(0.01)', NULL, transactional => false);
SELECT migrate_resume('5');
SELECT migrate_wait('5');

-- a failure inside the deployer's transaction is recorded all the same
SELECT migrate_register('6', 'divide', 'CREATE TABLE t6 (id int); SELECT 1/0', NULL);
BEGIN;
SELECT * FROM migrate_upgrade();
ROLLBACK;
SELECT version, state, last_error FROM migrate.status WHERE version = '6';
SELECT version, action, actor = current_user AS by_me, sqlstate, detail
  FROM migrate.event WHERE action = 'fail' AND version = '6';
SELECT to_regclass('t6') AS t6;

-- a job runs as the role that queued it: that role must be able to log in
SELECT migrate_register('6', 'as nologin', 'CREATE INDEX CONCURRENTLY parts_id2 ON parts (id)',
                        NULL, transactional => false);
GRANT EXECUTE ON FUNCTION migrate_upgrade(text) TO regress_migrate_nologin;
SET ROLE regress_migrate_nologin;
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- ... and to connect to the database, else its worker could never start
CREATE ROLE regress_migrate_noconnect LOGIN;
GRANT EXECUTE ON FUNCTION migrate_upgrade(text) TO regress_migrate_noconnect;
DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database()); END $$;
SET ROLE regress_migrate_noconnect;
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC', current_database()); END $$;
SELECT count(*) AS jobs_queued_for_them FROM migrate.job WHERE run_as::text LIKE 'regress_migrate_no%';

-- what must run outside a transaction block runs in the worker; before a
-- REINDEX CONCURRENTLY, the invalid _ccnew index a failed one left is dropped
-- (a copy of parts_sku, made invalid here as a failed REINDEX leaves it)
CREATE INDEX parts_sku_ccnew ON parts (sku);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'parts_sku_ccnew'::regclass;
SELECT indexrelid::regclass::text AS leftover, indisvalid FROM pg_index
 WHERE indexrelid::regclass::text LIKE '%\_ccnew';
SELECT migrate_register('7', 'reindex', 'REINDEX TABLE CONCURRENTLY parts', NULL, transactional => false);
SELECT migrate_register('8', 'vacuum', 'VACUUM (ANALYZE) parts', NULL, transactional => false);
CREATE TYPE part_kind AS ENUM ('bolt');
SELECT migrate_register('9', 'enum value', $$ALTER TYPE part_kind ADD VALUE 'nut'$$, NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT version, state FROM migrate.status WHERE version::numeric >= 6;
SELECT enum_range(NULL::part_kind);
SELECT count(*) AS leftovers FROM pg_index WHERE indexrelid::regclass::text LIKE '%\_cc%';
SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL AS analyzed
  FROM pg_stat_user_tables WHERE relname = 'parts';

-- migrate.max_workers caps the jobs that run at once; the others wait queued
-- and start when a slot frees up
DELETE FROM gate;
CREATE FUNCTION gate_wait() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.01); END LOOP;
    RETURN 1;
END $$;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET migrate.max_workers = 1', current_database()); END $$;
SET migrate.max_workers = 1;
SELECT migrate_register('10', 'held', 'SELECT gate_wait(); VACUUM parts', NULL, transactional => false);
-- queued one after the other: the second job's worker may be started
-- before the first one's is counted, and then finds no slot free (the
-- NOTICE saying which depends on that timing)
SET client_min_messages = warning;
SELECT * FROM migrate_upgrade();
SELECT migrate_backfill('parts', 'weight = gate_wait()') > 0 AS queued;
RESET client_min_messages;
-- one job runs; the other stays queued, its worker (if it was started)
-- waiting for a slot
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        IF (SELECT count(*) FROM migrate.job WHERE state = 'running') = 1
           AND ((SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate worker') = 1
                OR EXISTS (SELECT FROM pg_stat_activity
                            WHERE backend_type = 'migrate worker'
                              AND query LIKE '%queued: waiting for one of the migrate.max_workers (1) slots'))
        THEN RETURN; END IF;
        PERFORM pg_sleep(0.01);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
    RAISE 'not one job running alone';
END $$;
SELECT state, count(*) FROM migrate.job WHERE id > 7 GROUP BY state ORDER BY state;
INSERT INTO gate VALUES (true);
SELECT migrate_wait();
SELECT state, count(*) FROM migrate.job WHERE id > 7 GROUP BY state ORDER BY state;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET migrate.max_workers', current_database()); END $$;
RESET migrate.max_workers;

-- bad arguments
SELECT migrate_wait('x');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait('99');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait(timeout => '-1 s');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_cancel('99');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume('x');
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

DROP TABLE parts, gate;
DROP FUNCTION gate_wait();
DROP TYPE part_kind;
DROP EXTENSION migrate;
REVOKE ALL ON SCHEMA public FROM regress_migrate_nologin;
DROP ROLE regress_migrate_nologin;
REVOKE ALL ON SCHEMA public FROM regress_migrate_noconnect;
DROP ROLE regress_migrate_noconnect;
