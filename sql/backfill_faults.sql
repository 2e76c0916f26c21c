-- backfill_faults: what migrate_backfill refuses at the call rather than
-- fail in the worker, and a job whose table is gone: it fails with 42P01
-- (no crash) and stays failed.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

CREATE TABLE bff_keyed (id int PRIMARY KEY, a int, b int);
INSERT INTO bff_keyed SELECT g, g, 0 FROM generate_series(1, 1000) g;
CREATE TABLE bff_pair (x int, y int, b int, PRIMARY KEY (x, y));
INSERT INTO bff_pair SELECT g / 10, g % 10, 0 FROM generate_series(1, 100) g;
CREATE TABLE bff_unique (code text NOT NULL UNIQUE, b int);
INSERT INTO bff_unique SELECT 'c' || g, 0 FROM generate_series(1, 100) g;
CREATE TABLE bff_nokey (a int, b int);
INSERT INTO bff_nokey SELECT g, 0 FROM generate_series(1, 100) g;

-- a TEMP table: the worker could not see it
CREATE TEMP TABLE bff_temp (id int PRIMARY KEY, b int);
SELECT migrate_backfill('bff_temp', 'b = 1');
\echo :LAST_ERROR_SQLSTATE

-- a set clause that changes the key the batches walk: rows would move to a
-- batch still ahead and be updated twice
SELECT migrate_backfill('bff_keyed', 'id = id + 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_keyed', 'b = 1, "id" = id + 1000');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_pair', '(b, y) = (1, y + 10)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_unique', 'code = code || ''x''');
\echo :LAST_ERROR_SQLSTATE
-- other columns, and a table walked by pages, are fine
SELECT migrate_backfill('bff_keyed', 'a = id + 1, b = 1') > 0 AS queued;
SELECT migrate_backfill('bff_nokey', 'b = a + 1') > 0 AS queued;
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE a = id + 1 AND b = 1) AS right, count(*) AS rows FROM bff_keyed;
SELECT count(*) FILTER (WHERE b = a + 1) AS right, count(*) AS rows FROM bff_nokey;

-- a subquery over the same table, in the where or the set clause, is
-- refused at the call, whatever plan it gets
SELECT migrate_backfill('bff_keyed', 'b = 2', 'EXISTS (SELECT FROM bff_keyed k WHERE k.id = bff_keyed.id + 1)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_keyed', 'b = 2', 'a IN (SELECT id FROM bff_keyed)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_keyed', 'b = (SELECT k.a FROM bff_keyed k WHERE k.id = bff_keyed.id)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bff_keyed', 'b = 2', 'a IN (SELECT s.id FROM (SELECT id FROM public.bff_keyed) s)');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS nothing_queued FROM migrate.job WHERE state = 'queued';
-- another table is fine
SELECT migrate_backfill('bff_keyed', 'b = 3', 'id IN (SELECT a FROM bff_nokey)') > 0 AS queued;
SELECT migrate_wait();
SELECT count(*) FROM bff_keyed WHERE b = 3;

-- the table dropped in the transaction that queued its backfill: the job
-- fails with 42P01, and resumed, fails again the same way
BEGIN;
SELECT migrate_backfill('bff_nokey', 'b = a * 2') AS dropped_job \gset
DROP TABLE bff_nokey;
COMMIT;
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT state, last_sqlstate, last_error FROM migrate.job WHERE id = :dropped_job;
SELECT migrate_resume();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT state, last_sqlstate FROM migrate.job WHERE id = :dropped_job;
DELETE FROM migrate.job WHERE id = :dropped_job;

-- a job stopped half way whose key changed type since: resumed, it fails
-- at once (its position was taken in the old type's order)
UPDATE bff_keyed SET a = 0 WHERE id = 500;
SELECT migrate_backfill('bff_keyed', 'b = 1000 / a', batch_size => 100) AS retyped_job \gset
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
UPDATE bff_keyed SET a = 1 WHERE id = 500;
ALTER TABLE bff_keyed ALTER COLUMN id TYPE bigint;
SELECT migrate_resume();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT state, last_sqlstate, rows_done < 1000 AS stopped FROM migrate.job WHERE id = :retyped_job;

DELETE FROM migrate.job WHERE id = :retyped_job;

-- the same with a table walked by pages that was rewritten since: its rows
-- moved, so the pages done no longer tell which rows are done
CREATE TABLE bff_pages (a int, b int);
INSERT INTO bff_pages SELECT g, 0 FROM generate_series(1, 2000) g;
UPDATE bff_pages SET a = 0 WHERE a = 1500;
SELECT migrate_backfill('bff_pages', 'b = 1000 / a', batch_size => 100) AS rewritten_job \gset
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
UPDATE bff_pages SET a = 1 WHERE a = 0;
VACUUM FULL bff_pages;
SELECT migrate_resume();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT state, last_sqlstate FROM migrate.job WHERE id = :rewritten_job;

DROP TABLE bff_keyed, bff_pair, bff_unique, bff_pages;
DROP EXTENSION migrate;
