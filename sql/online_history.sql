-- A whole history registered in one transaction, as pg_migrate deploy does
-- on a fresh database: an online migration that names a table created by an
-- earlier pending migration is checked against the catalog when it starts,
-- not refused at registration.  After a complete, plain migrations changing
-- a column's type or dropping a column its kept version schema shows are not
-- blocked (2BP01): the schema goes first, in the migration's transaction.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

BEGIN;
SELECT migrate_register('1', 'create items',
    $$CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
      INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g$$,
    'DROP TABLE items');
SELECT migrate_register_online('2', 'items.label',
    '[{"add_column": {"table": "items", "column": {"name": "label", "type": "text"}, "up": "upper(name)"}}]');
SELECT * FROM migrate_upgrade();
COMMIT;
SELECT migrate_wait('2');
SELECT migrate_complete('2');
SELECT version, state FROM migrate.migration ORDER BY version_key;
SELECT count(*) FILTER (WHERE label = upper(name)) AS backfilled FROM items;

-- a deploy registers the whole history again: the completed online
-- migration (whose column now exists) is the same definition, a no-op; a
-- changed one is MG001, not a complaint about the tables
SELECT migrate_register_online('2', 'items.label',
    '[{"add_column": {"table": "items", "column": {"name": "label", "type": "text"}, "up": "upper(name)"}}]');
SELECT migrate_register_online('2', 'items.label',
    '[{"add_column": {"table": "items", "column": {"name": "label", "type": "text"}, "up": "lower(name)"}}]');
\echo :LAST_ERROR_SQLSTATE

-- nothing unapplied below it: the names are checked at registration
SELECT migrate_register_online('3', 'bad',
    '[{"add_column": {"table": "nosuch", "column": {"name": "x", "type": "text"}}}]');
\echo :LAST_ERROR_SQLSTATE

-- an unapplied version below it: the same mistake is found at start, and
-- the whole run is rolled back
BEGIN;
SELECT migrate_register('3', 'plain', 'CREATE TABLE plain3 (id int)');
SELECT migrate_register_online('4', 'bad',
    '[{"add_column": {"table": "nosuch", "column": {"name": "x", "type": "text"}}}]');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT version, state FROM migrate.migration ORDER BY version_key;
SELECT to_regclass('plain3') IS NULL AS plain3_gone;

-- the version schema kept after complete holds views on items.label: a
-- plain migration changing that column is not blocked by them (2BP01), the
-- schema goes first, as part of the migration's transaction
SELECT migrate_register('5', 'label as varchar',
    'ALTER TABLE items ALTER COLUMN label TYPE varchar(200)');
BEGIN;
SELECT * FROM migrate_upgrade();
SELECT to_regnamespace('migrate_public_v2') IS NULL AS vschema_gone;
ROLLBACK;
SELECT to_regnamespace('migrate_public_v2') IS NOT NULL AS vschema_back;
SET client_min_messages = notice;
SELECT * FROM migrate_upgrade();
SELECT to_regnamespace('migrate_public_v2') IS NULL AS vschema_gone,
       format_type(atttypid, atttypmod) AS label_type
  FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'label';
-- and one with nothing to drop says nothing about it
SELECT migrate_register('6', 'label longer',
    'ALTER TABLE items ALTER COLUMN label TYPE varchar(300)');
SELECT * FROM migrate_upgrade();
SET client_min_messages = warning;

-- nor is a plain DROP COLUMN of a column its views show
SELECT migrate_register_online('7', 'items.code',
    '[{"add_column": {"table": "items", "column": {"name": "code", "type": "text"}, "up": "upper(label)"}}]');
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('7');
SELECT migrate_complete('7');
SELECT to_regnamespace('migrate_public_v7') IS NOT NULL AS vschema_kept;
SELECT migrate_register('8', 'no label', 'ALTER TABLE items DROP COLUMN label');
SELECT version, action FROM migrate_upgrade();
SELECT to_regnamespace('migrate_public_v7') IS NULL AS vschema_gone,
       count(*) FILTER (WHERE attname = 'label') AS label_columns
  FROM pg_attribute WHERE attrelid = 'items'::regclass AND NOT attisdropped;

DROP TABLE items;
DROP EXTENSION migrate;
