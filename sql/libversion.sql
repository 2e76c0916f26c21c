-- The library serves the SQL definitions of its own version only: against
-- another version's catalog and function declarations every SQL-callable
-- function refuses, naming both versions and what to update (issue 15).
-- A job records the format of its arguments, and a worker fails one of a
-- format later than its library reads, resumable once it can.  Runs in a
-- database of its own, as oldversions does.
CREATE DATABASE migrate_libversion;
\c migrate_libversion
SET client_min_messages = warning;

-- the released 1.0's SQL definitions, under this 1.1 library
CREATE EXTENSION migrate VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
SELECT migrate_current();
SELECT migrate_register('1', 'one', 'CREATE TABLE one (id int PRIMARY KEY, n int)');
SELECT * FROM migrate_upgrade();
SELECT * FROM migrate_downgrade('0');
SELECT migrate_baseline('1');
SELECT migrate_verify('1');
SELECT * FROM migrate_validate();
SELECT migrate_wait();
SELECT migrate_cancel();
SELECT migrate_resume();
SELECT migrate_backfill('pg_class', 'relname = relname');
SELECT migrate_register_online('2', 'two', '[{"create_index": {"table": "pg_class", "name": "x", "columns": ["relname"]}}]');
SELECT migrate_complete();
SELECT migrate_rollback();
SELECT migrate_version_schema();
SELECT * FROM migrate_check('SELECT 1');
-- the view and migrate_status() are SQL of 1.0: they read 1.0's catalog
SELECT count(*) FROM migrate_status();
SELECT count(*) FROM migrate.progress;

-- updated, they work
ALTER EXTENSION migrate UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
SELECT migrate_current();
SELECT migrate_register('1', 'one', 'CREATE TABLE one (id int PRIMARY KEY, n int)');
SELECT * FROM migrate_upgrade();
SELECT migrate_current();
SELECT * FROM migrate_plan();
SELECT * FROM migrate_check('SELECT 1');
CALL migrate_await();

-- SQL definitions newer than the library (another session installed them):
-- the library of that version is needed
UPDATE pg_extension SET extversion = '1.2' WHERE extname = 'migrate';
SELECT migrate_current();
SELECT * FROM migrate_plan();
CALL migrate_await();
-- nor one that is no version at all
UPDATE pg_extension SET extversion = '1.1-custom' WHERE extname = 'migrate';
SELECT migrate_current();
UPDATE pg_extension SET extversion = '1.1' WHERE extname = 'migrate';
SELECT migrate_current();

-- A job records the format of its args (migrate.job.args_format): a worker
-- fails one of a format its library does not know, leaving it to
-- migrate_resume() once the library that queued it is installed.
INSERT INTO one SELECT g, 0 FROM generate_series(1, 100) g;
BEGIN;
SELECT migrate_backfill('one', 'n = id') AS job \gset
SELECT args_format FROM migrate.job WHERE id = :job;
UPDATE migrate.job SET args_format = 99 WHERE id = :job;
COMMIT;
\set VERBOSITY terse
SELECT migrate_wait();
\set VERBOSITY default
SELECT state, last_sqlstate, last_error FROM migrate.job WHERE id = :job;
SELECT count(*) FILTER (WHERE n = id) AS filled FROM one;
-- the library that reads it: the job runs on
UPDATE migrate.job SET args_format = 2 WHERE id = :job;
SELECT migrate_resume();
SELECT migrate_wait();
SELECT state, args_format FROM migrate.job WHERE id = :job;
SELECT count(*) FILTER (WHERE n = id) AS filled FROM one;

\c contrib_regression
DROP DATABASE migrate_libversion;
