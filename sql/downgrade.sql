-- migrate_downgrade: reverts applied migrations above a target, newest first,
-- with their down SQL; refuses an irreversible one before reverting anything.
CREATE EXTENSION migrate;

SELECT migrate_register('1', 'people', 'CREATE TABLE people (id int PRIMARY KEY)', 'DROP TABLE people');
SELECT migrate_register('2', 'people.name', 'ALTER TABLE people ADD COLUMN name text',
                        'ALTER TABLE people DROP COLUMN name');
SELECT migrate_register('3', 'people index', 'CREATE INDEX people_name ON people (name)',
                        'DROP INDEX people_name');
SELECT count(*) FROM migrate_upgrade();

-- to a target
SELECT * FROM migrate_downgrade('1');
SELECT migrate_current();
SELECT version, state, applied_at IS NULL AS no_time, applied_by IS NULL AS no_actor
  FROM migrate.status;
SELECT attname FROM pg_attribute WHERE attrelid = 'people'::regclass AND attnum > 0;

-- nothing above the target: nothing to do
SELECT * FROM migrate_downgrade('1');
SELECT * FROM migrate_downgrade('3');

-- '0' reverts everything
SELECT count(*) FROM migrate_upgrade();
SELECT * FROM migrate_downgrade('0');
SELECT migrate_current();
SELECT to_regclass('people') AS people;
SELECT version, action, duration IS NOT NULL AS timed
  FROM migrate.event WHERE action = 'downgrade' ORDER BY id;

-- reverted migrations apply again
SELECT * FROM migrate_upgrade();

-- an irreversible migration stops the downgrade before anything is reverted
SELECT migrate_register('4', 'backfill names', 'UPDATE people SET name = ''?''');
SELECT migrate_register('5', 'people.email', 'ALTER TABLE people ADD COLUMN email text',
                        'ALTER TABLE people DROP COLUMN email');
SELECT count(*) FROM migrate_upgrade();
SELECT * FROM migrate_downgrade('3');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_current();
SELECT count(*) AS email_still_there FROM pg_attribute
 WHERE attrelid = 'people'::regclass AND attname = 'email';
-- above it is fine
SELECT * FROM migrate_downgrade('4');

-- bad targets
SELECT * FROM migrate_downgrade(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_downgrade('9');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_downgrade('x');
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM migrate_downgrade('3');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- an error in down SQL keeps its SQLSTATE, names the migration, reverts nothing
SELECT migrate_register('6', 'broken down', 'CREATE TABLE t6 (id int)', 'DROP TABLE t6_typo');
SELECT count(*) FROM migrate_upgrade();
SELECT * FROM migrate_downgrade('4');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_current();

DROP TABLE people, t6;
DROP EXTENSION migrate;
