-- The schema fingerprint recorded by an online migration's start,
-- complete and rollback.  They record the whole fingerprint before they
-- lock the migration's tables and, under the locks, only the objects of
-- the tables the phase changed; the result must be the whole fingerprint
-- all the same: checked, in the phase's own transaction (before any
-- background job changes the schema), by migrate_validate() reporting
-- nothing.  Operations over several kinds of objects: columns, identity
-- and owned sequences, indexes, constraints, triggers, a partitioned
-- table, a table created, one dropped, one renamed (with a view, another
-- table's foreign key and column naming it) and a column renamed (with a
-- view and a foreign key naming it); a table renamed whose row type a
-- function takes, and a migration with an sql operation, which record the
-- whole fingerprint under the locks.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

CREATE SCHEMA shop;
CREATE TABLE shop.items (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0),
                         note text);
CREATE INDEX items_note ON shop.items (note);
INSERT INTO shop.items (qty, note) SELECT g, 'n' || g FROM generate_series(1, 20) g;
CREATE TABLE shop.tags (id serial PRIMARY KEY, item int REFERENCES shop.items, tag text);
CREATE TABLE shop.gone (id int PRIMARY KEY);
CREATE TABLE shop.old_name (id int PRIMARY KEY, v text);
CREATE TABLE shop.events (id int, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO shop.events SELECT g, '2026-03-01', 'e' || g FROM generate_series(1, 5) g;
-- untouched objects of other kinds, recorded as they are
CREATE TYPE shop.mood AS ENUM ('ok', 'meh');
CREATE FUNCTION shop.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE VIEW shop.noted AS SELECT id FROM shop.items WHERE note IS NOT NULL;
-- objects of other relations whose definitions name a renamed table or
-- column (renaming locks only that table): a view, another table's
-- foreign key and a column of its row type
CREATE VIEW shop.old_view AS SELECT id, v FROM shop.old_name;
CREATE TABLE shop.old_refs (id int PRIMARY KEY, old int REFERENCES shop.old_name, copy shop.old_name);
CREATE TABLE shop.colors (id int PRIMARY KEY, hue text UNIQUE);
CREATE VIEW shop.hues AS SELECT hue FROM shop.colors;
CREATE TABLE shop.paints (id int PRIMARY KEY, hue text REFERENCES shop.colors (hue));
-- a function of a table's row type (migration 3 renames the table)
CREATE TABLE shop.boxes (id int PRIMARY KEY, size int);
CREATE FUNCTION shop.box_size(shop.boxes) RETURNS int LANGUAGE sql AS 'SELECT $1.size';
SELECT migrate_register('1', 'nothing', 'SELECT 1', 'SELECT 1');
SELECT version, action FROM migrate_upgrade();

-- a change made by hand before the start: warned of, and recorded by it
-- (the whole fingerprint is recorded first)
CREATE INDEX tags_tag ON shop.tags (tag);

SELECT migrate_register_online('2', 'many kinds', $$[
  {"alter_column": {"schema": "shop", "table": "items", "column": "qty", "type": "bigint"}},
  {"add_column": {"schema": "shop", "table": "items", "column": {"name": "label", "type": "text"}, "up": "upper(note)"}},
  {"create_index": {"schema": "shop", "table": "tags", "name": "tags_item", "columns": ["item"]}},
  {"create_constraint": {"schema": "shop", "table": "tags", "name": "tags_tag_len", "type": "check", "check": "length(tag) < 100"}},
  {"create_table": {"schema": "shop", "table": "notes", "columns": [
      {"name": "id", "type": "bigint", "generated": {"identity": {}}, "primary_key": true},
      {"name": "item", "type": "int"},
      {"name": "body", "type": "text"}],
    "constraints": [{"name": "notes_item_fk", "type": "foreign_key", "columns": ["item"],
                     "references": {"table": "items", "columns": ["id"]}}]}},
  {"drop_table": {"schema": "shop", "table": "gone"}},
  {"rename_table": {"schema": "shop", "from": "old_name", "to": "new_name"}},
  {"rename_column": {"schema": "shop", "table": "colors", "from": "hue", "to": "shade"}},
  {"add_column": {"schema": "shop", "table": "events", "column": {"name": "who", "type": "text"}, "up": "'someone'"}}
]$$);

-- start, rolled back, started again, completed: nothing to report after each
BEGIN;
SELECT version, action FROM migrate_upgrade();
SELECT * FROM migrate_validate();
SELECT action, version FROM migrate.fingerprint;
COMMIT;
CALL settle();
SELECT migrate_wait('2');
BEGIN;
SELECT migrate_rollback();
SELECT * FROM migrate_validate();
COMMIT;
BEGIN;
SELECT version, action FROM migrate_upgrade();
SELECT * FROM migrate_validate();
COMMIT;
CALL settle();
SELECT migrate_wait('2');
BEGIN;
SELECT migrate_complete();
SELECT * FROM migrate_validate();
SELECT action, version FROM migrate.fingerprint;
COMMIT;

-- the recorded fingerprint still tells a change by hand, on a table the
-- migration changed and on one it did not
ALTER TABLE shop.items ADD COLUMN extra int;
CREATE INDEX by_hand ON shop.new_name (v);
SELECT kind, object, detail IS NOT NULL AS described FROM migrate_validate() ORDER BY 1, 2;
ALTER TABLE shop.items DROP COLUMN extra;
DROP INDEX shop.by_hand;

-- a function of a renamed table's row type: its identity changes with the
-- name, and functions are recorded only with the whole fingerprint, which
-- the phase then records under its locks
SELECT migrate_register_online('3', 'crates', $$[
  {"rename_table": {"schema": "shop", "from": "boxes", "to": "crates"}}
]$$);
BEGIN;
SELECT version, action FROM migrate_upgrade();
SELECT * FROM migrate_validate();
COMMIT;
CALL settle();
SELECT migrate_wait('3');
BEGIN;
SELECT migrate_complete();
SELECT * FROM migrate_validate();
SELECT pg_get_function_identity_arguments('shop.box_size'::regproc);
COMMIT;

-- an sql operation: the whole fingerprint, recorded under the locks
SELECT migrate_register_online('4', 'sql', $$[
  {"sql": {"up": "CREATE FUNCTION shop.thrice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3'",
           "down": "DROP FUNCTION shop.thrice(int)"}}
]$$);
BEGIN;
SELECT version, action FROM migrate_upgrade();
SELECT * FROM migrate_validate();
COMMIT;
CALL settle();
SELECT migrate_wait('4');
BEGIN;
SELECT migrate_rollback();
SELECT * FROM migrate_validate();
COMMIT;

DROP SCHEMA shop CASCADE;
DROP SCHEMA IF EXISTS migrate_shop_v2 CASCADE;
DROP EXTENSION migrate;
