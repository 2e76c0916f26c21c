-- migrate_backfill: a batched UPDATE run by a background worker after
-- commit, in page-range batches, resumable, never twice on a row.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

-- tables with a serial, a text, a composite and no primary key, and an empty one
CREATE TABLE bf_serial (id serial PRIMARY KEY, a int, b int);
INSERT INTO bf_serial (a) SELECT g FROM generate_series(1, 20000) g;
CREATE TABLE bf_text (code text PRIMARY KEY, a int, b text);
INSERT INTO bf_text SELECT 'c' || g, g, NULL FROM generate_series(1, 5000) g;
CREATE TABLE bf_composite (x int, y int, a int, b int, PRIMARY KEY (x, y));
INSERT INTO bf_composite SELECT g / 100, g % 100, g, NULL FROM generate_series(1, 5000) g;
CREATE TABLE bf_nokey (a int, b int) WITH (autovacuum_enabled = false);
INSERT INTO bf_nokey SELECT g, NULL FROM generate_series(1, 5000) g;
CREATE TABLE bf_empty (a int, b int);
VACUUM ANALYZE bf_serial, bf_text, bf_composite, bf_nokey, bf_empty;

SELECT migrate_backfill('bf_serial', 'b = a * 2', batch_size => 100);
SELECT migrate_backfill('bf_text', 'b = upper(code)', 'a % 2 = 0');
SELECT migrate_backfill('bf_composite', 'b = x * 100 + y');
SELECT migrate_backfill('bf_nokey', 'b = -a');
SELECT migrate_backfill('bf_empty', 'b = a');
SELECT migrate_wait();

SELECT count(*) FILTER (WHERE b = a * 2) AS right, count(*) AS rows FROM bf_serial;
SELECT count(*) FILTER (WHERE b = upper(code)) AS right, count(*) FILTER (WHERE b IS NULL) AS untouched FROM bf_text;
SELECT count(*) FILTER (WHERE b = x * 100 + y) AS right, count(*) AS rows FROM bf_composite;
SELECT count(*) FILTER (WHERE b = -a) AS right, count(*) AS rows FROM bf_nokey;
SELECT id, kind, relation, state, rows_done, run_as = current_user AS as_me,
       (args->>'batches')::int > 1 AS several_batches,
       coalesce(args->>'next_page' = args->>'pages_total',
                args->'last_key' = args->'end_key') AS reached_end,
       args ? 'key' AS by_key
  FROM migrate.job ORDER BY id;
SELECT * FROM migrate.progress;
-- a row version a batch wrote on a page still ahead is not updated again:
-- with free space in the second half, new versions land there
CREATE TABLE bf_twice (id int, n int) WITH (fillfactor = 100, autovacuum_enabled = false);
INSERT INTO bf_twice SELECT g, 0 FROM generate_series(1, 20000) g;
DELETE FROM bf_twice WHERE id > 10000 AND id % 2 = 0;
VACUUM bf_twice;
SELECT migrate_backfill('bf_twice', 'n = n + 1', batch_size => 200);
SELECT migrate_wait();
SELECT n, count(*) FROM bf_twice GROUP BY n ORDER BY n;

-- a set clause that fails on a row: the job fails naming the row, the
-- batches before it stay committed; once the row is fixed, resume finishes
UPDATE bf_serial SET a = 0, b = NULL WHERE id = 15000;
SELECT migrate_backfill('bf_serial', 'b = 1000000 / a', batch_size => 500);
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT state, last_sqlstate, rows_done > 0 AS some_done FROM migrate.job WHERE id = 7;
SELECT count(*) > 0 AS earlier_batches_kept FROM bf_serial WHERE b = 1000000 / nullif(a, 0);
UPDATE bf_serial SET a = 1, b = 1000000 WHERE id = 15000;
SELECT migrate_resume();
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE b = 1000000 / a) AS right, count(*) AS rows FROM bf_serial;

-- without a primary key, the failing row is named by its ctid
UPDATE bf_nokey SET a = 0 WHERE a = 4000;
SELECT migrate_backfill('bf_nokey', 'b = 100 / a');
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
-- (without a key, a row updated meanwhile may move behind the job: write its value)
UPDATE bf_nokey SET a = 4000, b = 100 / 4000 WHERE a = 0;

-- a cancelled backfill is resumed, every row once (cancelling a running
-- one and killing its worker are tested in test/t/006_backfill_pgbench.pl)
CREATE TABLE bf_slow (id int PRIMARY KEY, n int);
INSERT INTO bf_slow SELECT g, 0 FROM generate_series(1, 5000) g;
BEGIN;
SELECT migrate_backfill('bf_slow', 'n = n + 1', batch_size => 50);
SELECT migrate_cancel();
COMMIT;
SELECT migrate_wait();
SELECT state FROM migrate.job WHERE relation = 'bf_slow'::regclass;
SELECT migrate_resume();
SELECT migrate_wait();
SELECT n, count(*) FROM bf_slow GROUP BY n ORDER BY n;
SELECT count(*) FILTER (WHERE b = 100 / a) AS right, count(*) AS rows FROM bf_nokey;
SELECT state, rows_done FROM migrate.job WHERE relation = 'bf_slow'::regclass;

-- bad input fails at call time with its SQLSTATE and queues nothing
SELECT count(*) AS jobs_before FROM migrate.job \gset
SELECT migrate_backfill('bf_serial', 'no_such_column = 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = = 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1', 'no_such_column > 0');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = ''x''');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1', 'true; DROP TABLE bf_serial');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1 RETURNING *');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1 FROM bf_text');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1', batch_size => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('no_such_table', 'b = 1');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bf_parted (id int, b int) PARTITION BY RANGE (id);
SELECT migrate_backfill('bf_parted', 'b = 1');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW bf_view AS SELECT * FROM bf_serial;
SELECT migrate_backfill('bf_view', 'b = 1');
\echo :LAST_ERROR_SQLSTATE
-- a role that may not update the table
CREATE ROLE regress_migrate_reader LOGIN;
GRANT EXECUTE ON FUNCTION migrate_backfill(regclass, text, text, integer) TO regress_migrate_reader;
GRANT SELECT ON bf_serial TO regress_migrate_reader;
SET ROLE regress_migrate_reader;
SELECT migrate_backfill('bf_serial', 'b = 1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) = :jobs_before AS nothing_queued FROM migrate.job;

-- neither clause can reach into the other
SELECT migrate_backfill('bf_serial', 'b = 1 /*', '*/ true');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1 WHERE a = 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('bf_serial', 'b = 1', 'true ORDER BY 1');
\echo :LAST_ERROR_SQLSTATE
-- a batch that would read more than its range (a subquery on the same table)
SELECT migrate_backfill('bf_serial', 'b = (SELECT max(a) FROM bf_serial)');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :jobs_before AS still_nothing_queued FROM migrate.job;

-- the worker runs with the caller's settings: search_path, DateStyle, TimeZone
CREATE SCHEMA bf_tools;
CREATE FUNCTION bf_tools.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE TABLE bf_dates (day date PRIMARY KEY, label text, n int);
INSERT INTO bf_dates SELECT d::date, NULL, 0 FROM generate_series('2024-01-01'::date, '2024-03-31', '1 day') d;
ANALYZE bf_dates;
SET search_path = bf_tools, public;
SET DateStyle = 'SQL, DMY';
SELECT migrate_backfill('bf_dates', 'label = day::text, n = twice(extract(day FROM day)::int)',
                       batch_size => 7);
RESET search_path;
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE label = day::text AND n = 2 * extract(day FROM day)) AS right,
       count(*) AS rows FROM bf_dates;
SELECT min(label), max(label) FROM bf_dates;
RESET DateStyle;

-- a "--" at the end of the set clause cannot swallow the where clause
SELECT migrate_backfill('bf_text', 'b = ''dash'' --', 'a = 1');
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE b = 'dash') AS dashed FROM bf_text;

-- no primary key, but a unique index over NOT NULL columns: key batches on
-- it (no warning); a unique index over a nullable column does not count
CREATE TABLE bf_unique (code text NOT NULL UNIQUE, alt int UNIQUE, a int, b int);
INSERT INTO bf_unique SELECT 'u' || g, g, g, NULL FROM generate_series(1, 3000) g;
ANALYZE bf_unique;
SELECT migrate_backfill('bf_unique', 'b = a + 1', 'a <= 1500', batch_size => 500) > 0 AS queued;
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE b = a + 1) AS right, count(*) FILTER (WHERE b IS NULL) AS untouched
  FROM bf_unique;
-- rows_total, what migrate.progress measures against, is the planner's
-- estimate of the rows the backfill updates (1500 here), not of the table
SELECT args->'key' AS key, args->'end_key' AS end_key,
       rows_total BETWEEN 1000 AND 2000 AS estimated, rows_done
  FROM migrate.job WHERE relation = 'bf_unique'::regclass;

-- batches adapt to migrate.batch_target: rows taking 1 ms each and a 20 ms
-- target shrink the first 50-row batch to fewer rows
CREATE TABLE bf_slowrows (id int PRIMARY KEY, a int, b int);
INSERT INTO bf_slowrows SELECT g, g, NULL FROM generate_series(1, 300) g;
SET migrate.batch_target = '20ms';
SELECT migrate_backfill('bf_slowrows', 'b = a + (pg_sleep(0.001) IS NULL)::int', batch_size => 50) > 0 AS queued;
RESET migrate.batch_target;
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE b = a) AS right, (args->>'batches')::int > 3 AS several_batches,
       (args->>'rows_per_batch')::int < 50 AS batches_shrank
  FROM bf_slowrows, migrate.job WHERE relation = 'bf_slowrows'::regclass GROUP BY args;

-- how far: measured against the estimate; once past it (rows inserted
-- since the job was queued) percent and time to go are unknown, not 110%
BEGIN;
SELECT migrate_backfill('bf_serial', 'b = a * 2') > 0 AS queued;
UPDATE migrate.job SET rows_total = 1000, rows_done = 500, state = 'running',
       started_at = now() - interval '10 s', updated_at = now() WHERE state = 'queued';
SELECT rows_done, rows_total, percent, rows_per_sec, eta FROM migrate.progress;
UPDATE migrate.job SET rows_done = 1100 WHERE state = 'running';
SELECT rows_done, rows_total, percent, rows_per_sec, eta FROM migrate.progress;
ROLLBACK;

DROP TABLE bf_serial, bf_text, bf_composite, bf_nokey, bf_empty, bf_twice, bf_slow, bf_parted,
           bf_dates, bf_unique, bf_slowrows CASCADE;
DROP SCHEMA bf_tools CASCADE;
DROP EXTENSION migrate;
REVOKE ALL ON SCHEMA public FROM regress_migrate_reader;
DROP ROLE regress_migrate_reader;
