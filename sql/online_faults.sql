-- Online migrations in flight whose table, column or version schema is
-- dropped: complete says what happened, rollback undoes what is left, and
-- the next migration runs.  Rows the backfill missed: the job goes over
-- the table again, and complete refuses while any row is not backfilled.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

CREATE VIEW online_faults_leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_migrate%'
UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE conname LIKE '\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;

SELECT migrate_register('1', 'tables', $$
    CREATE TABLE of_gone (id int PRIMARY KEY, a int);
    CREATE TABLE of_kept (id int PRIMARY KEY, a int, b int);
    INSERT INTO of_gone SELECT g, g FROM generate_series(1, 100) g;
    INSERT INTO of_kept SELECT g, g, g FROM generate_series(1, 100) g;
    CREATE TABLE of_heap (a int, b text);
    INSERT INTO of_heap SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
$$);
SELECT * FROM migrate_upgrade();

------------------------------------------------------------------------
-- a table dropped while the migration is in flight
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'both tables', '[
    {"add_column": {"table": "of_gone", "column": {"name": "c", "type": "int"}, "up": "a * 2"}},
    {"add_column": {"table": "of_kept", "column": {"name": "c", "type": "int"}, "up": "a * 2"}},
    {"create_index": {"table": "of_kept", "name": "of_kept_c", "columns": ["c"]}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
DROP TABLE of_gone CASCADE;
-- complete cannot make the new shape of a table that is gone
SELECT migrate_complete();
\echo :LAST_ERROR_SQLSTATE
-- rollback undoes the rest
SELECT migrate_rollback();
SELECT version, state FROM migrate.status WHERE version = '2';
SELECT * FROM online_faults_leftovers;
SELECT count(*) AS index_left FROM pg_class WHERE relname = 'of_kept_c';
-- rolled back, its definition can be replaced, and it runs
SELECT migrate_register_online('2', 'kept table', '[
    {"add_column": {"table": "of_kept", "column": {"name": "c", "type": "int"}, "up": "a * 2"}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_complete();
SELECT version, state FROM migrate.status WHERE version = '2';
SELECT count(*) FILTER (WHERE c = a * 2) AS filled FROM of_kept;

------------------------------------------------------------------------
-- a column dropped while the migration is in flight
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'column', '[
    {"alter_column": {"table": "of_kept", "column": "b", "type": "bigint"}},
    {"rename_column": {"table": "of_kept", "from": "a", "to": "aa"}},
    {"create_index": {"table": "of_kept", "name": "of_kept_b", "columns": ["b"]}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
ALTER TABLE of_kept DROP COLUMN b CASCADE;
SELECT migrate_rollback('3');
SELECT version, state FROM migrate.status WHERE version = '3';
SELECT * FROM online_faults_leftovers;
SELECT count(*) AS index_left FROM pg_class WHERE relname = 'of_kept_b';

------------------------------------------------------------------------
-- the version schema dropped while the migration is in flight
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'version schema', '[
    {"add_column": {"table": "of_kept", "column": {"name": "d", "type": "int"}, "up": "a + 1"}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
DROP SCHEMA migrate_public_v3 CASCADE;
SELECT migrate_rollback('3');
SELECT version, state FROM migrate.status WHERE version = '3';
SELECT * FROM online_faults_leftovers;
-- and it can start again
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_complete();
SELECT count(*) FILTER (WHERE d = a + 1) AS filled FROM of_kept;

------------------------------------------------------------------------
-- rows the backfill passed: a page backfill (no key) covers the pages the
-- table had at start; writers whose triggers do not fire move rows past
-- them (here: in start's own transaction, so before the job's first
-- batch).  The job goes over the table again until no row is pending.
------------------------------------------------------------------------
SELECT migrate_register_online('4', 'heap', '[
    {"add_column": {"table": "of_heap", "column": {"name": "c", "type": "int"}, "up": "a * 2"}}]');
BEGIN;
SELECT * FROM migrate_upgrade();
SET LOCAL session_replication_role = replica;
UPDATE of_heap SET b = b || ' moved';
COMMIT;
CALL settle();
SELECT state FROM migrate.job WHERE version = '4';
SELECT count(*) FILTER (WHERE c = a * 2) AS filled, count(*) AS total FROM migrate_public_v4.of_heap;

-- a row not backfilled when the job ended (here: marked so by hand, as a
-- writer without triggers or a table rewrite after the job's last look
-- would leave one): complete refuses, and says how to fill it
SET session_replication_role = replica;
UPDATE of_heap SET _migrate_pending = true, _migrate_new_c = NULL WHERE a <= 3;
RESET session_replication_role;
SELECT migrate_complete();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version = '4';
UPDATE public.of_heap SET _migrate_pending = false WHERE _migrate_pending IS NOT FALSE;
SELECT migrate_complete();
SELECT count(*) FILTER (WHERE c = a * 2) AS filled, count(*) AS total FROM of_heap;
SELECT * FROM online_faults_leftovers;

------------------------------------------------------------------------
-- an index or constraint on a column that a later operation of the same
-- migration renames or drops: built on the column as that operation saw it
-- (this crashed the server)
------------------------------------------------------------------------
SELECT migrate_register('5', 'index table', $$
    CREATE TABLE of_ref (k int PRIMARY KEY);
    CREATE TABLE of_idx (id int PRIMARY KEY, code int NOT NULL, v int, w int);
    INSERT INTO of_ref SELECT g FROM generate_series(1, 10) g;
    INSERT INTO of_idx SELECT g, g, g, g FROM generate_series(1, 10) g;
$$);
SELECT * FROM migrate_upgrade();
SELECT migrate_register_online('6', 'index then drop', '[
    {"create_index": {"table": "of_idx", "name": "of_idx_v", "columns": ["v"]}},
    {"drop_column": {"table": "of_idx", "column": "v"}},
    {"create_index": {"table": "of_idx", "name": "of_idx_w", "columns": ["w"], "where": "ww > 0"}},
    {"create_constraint": {"table": "of_idx", "name": "of_idx_code", "type": "unique", "columns": ["code"]}},
    {"rename_column": {"table": "of_idx", "from": "w", "to": "ww"}},
    {"rename_column": {"table": "of_idx", "from": "code", "to": "c"}},
    {"create_constraint": {"table": "of_idx", "name": "of_idx_fk", "type": "foreign_key",
                           "columns": ["id"], "references": {"table": "of_ref", "columns": ["k"]}}},
    {"rename_column": {"table": "of_ref", "from": "k", "to": "kk"}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index WHERE indrelid = 'of_idx'::regclass ORDER BY 1;
SELECT migrate_rollback();
SELECT * FROM online_faults_leftovers;
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_complete();
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index WHERE indrelid = 'of_idx'::regclass ORDER BY 1;
SELECT conname, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'of_idx'::regclass
   AND contype <> 'n' ORDER BY 1;  -- NOT NULL: a pg_constraint row from 18 on
SELECT * FROM online_faults_leftovers;

------------------------------------------------------------------------
-- two tables without a key in one migration: each step walks its own
-- table's pages, whatever the step before it recorded
------------------------------------------------------------------------
SELECT migrate_register('7', 'heaps', $$
    CREATE TABLE of_heap2 (a int);
    INSERT INTO of_heap2 SELECT g FROM generate_series(1, 500) g;
$$);
SELECT * FROM migrate_upgrade();
SELECT migrate_register_online('8', 'two heaps', '[
    {"add_column": {"table": "of_heap", "column": {"name": "d", "type": "int"}, "up": "a + 1"}},
    {"add_column": {"table": "of_heap2", "column": {"name": "d", "type": "int"}, "up": "a + 1"}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT state, last_sqlstate FROM migrate.job WHERE version = '8';
SELECT migrate_complete();
SELECT (SELECT count(*) FILTER (WHERE d = a + 1) FROM of_heap) AS heap_filled,
       (SELECT count(*) FILTER (WHERE d = a + 1) FROM of_heap2) AS heap2_filled;

DROP VIEW online_faults_leftovers;
-- the version schema first: its views use the extension's guard
DROP SCHEMA migrate_public_v8 CASCADE;
DROP EXTENSION migrate;
DROP TABLE of_kept, of_heap, of_heap2, of_idx, of_ref;
