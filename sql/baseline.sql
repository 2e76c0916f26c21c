-- migrate_baseline: adopt a database whose schema already exists.
CREATE EXTENSION migrate;

-- the schema was built before migrate was installed
CREATE TABLE legacy (id int PRIMARY KEY, note text);

SELECT migrate_register('1', 'legacy', 'CREATE TABLE legacy (id int PRIMARY KEY)', 'DROP TABLE legacy');
SELECT migrate_register('2', 'legacy.note', 'ALTER TABLE legacy ADD COLUMN note text',
                        'ALTER TABLE legacy DROP COLUMN note');
SELECT migrate_register('3', 'legacy index', 'CREATE INDEX legacy_note ON legacy (note)',
                        'DROP INDEX legacy_note');

-- marks 1 and 2 applied without running them (running them would fail)
SELECT migrate_baseline('2');
SELECT migrate_current();
SELECT version, state, applied_by = current_user AS by_me, duration
  FROM migrate.status;
SELECT version, action, detail FROM migrate.event WHERE action = 'baseline' ORDER BY id;
-- every register and baseline is timed; a baselined migration ran for no time
SELECT action, count(*), bool_and(duration >= '0'::interval) AS timed
  FROM migrate.event GROUP BY action ORDER BY action;
SELECT version, duration = '0'::interval AS ran_for_nothing
  FROM migrate.migration WHERE state = 'applied' ORDER BY version_key;

-- again: nothing left to mark
SELECT migrate_baseline('2');

-- upgrade applies only what is above the baseline
SELECT * FROM migrate_upgrade();
SELECT indexrelid::regclass::text AS index FROM pg_index WHERE indrelid = 'legacy'::regclass ORDER BY 1;

-- bad arguments
SELECT migrate_baseline('7');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_baseline('7.x');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_baseline(NULL);
\echo :LAST_ERROR_SQLSTATE
-- like a deploy, a baseline runs in READ COMMITTED
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT migrate_baseline('3');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

DROP TABLE legacy;
DROP EXTENSION migrate;
