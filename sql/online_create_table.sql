-- Online migrations III: create_table with all it takes (identity and
-- generated columns; check, unique, primary key, foreign key and exclusion
-- constraints; deferrable ones; index parameters) through start ->
-- rollback -> start -> complete, written through both shapes, each
-- constraint seen at work.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'rooms', $$
    CREATE TABLE rooms (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO rooms VALUES (1, 'red'), (2, 'blue'), (3, 'green');
    CREATE TABLE floors (building text, level int, PRIMARY KEY (building, level));
    INSERT INTO floors VALUES ('a', 1), ('a', 2), ('b', 1);
    -- a table with no columns: its views get no guard (migration 4)
    CREATE TABLE gate_open ();
    CREATE SCHEMA util;
    CREATE FUNCTION util.norm(text) RETURNS text LANGUAGE sql IMMUTABLE
        AS 'SELECT lower(trim($1))';
    -- the columns, constraints and indexes of the table to come
    CREATE VIEW bookings_catalog AS
    SELECT 'column ' || attname || ' ' || format_type(atttypid, atttypmod) ||
           CASE WHEN attnotnull THEN ' not null' ELSE '' END ||
           CASE attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END ||
           CASE WHEN attgenerated = 's' THEN ' generated ' || pg_get_expr(d.adbin, d.adrelid)
                WHEN d.adbin IS NOT NULL THEN ' default ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END ||
           coalesce(' -- ' || col_description(a.attrelid, a.attnum), '') AS object
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = to_regclass('bookings') AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) ||
           CASE WHEN condeferrable THEN ' (deferrable)' ELSE '' END
      FROM pg_constraint WHERE conrelid = to_regclass('bookings')
       AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = to_regclass('bookings')
    UNION ALL
    SELECT 'sequence of ' || a.attname || ': start ' || s.seqstart || ' increment ' || s.seqincrement ||
           ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache || ' cycle ' || s.seqcycle
      FROM pg_attribute a
      JOIN pg_sequence s ON s.seqrelid = pg_get_serial_sequence('bookings', a.attname)::regclass
     WHERE a.attrelid = to_regclass('bookings') AND a.attidentity <> ''
    UNION ALL
    SELECT 'table comment ' || obj_description(to_regclass('bookings'), 'pg_class')
    ORDER BY 1;
$$, 'DROP VIEW bookings_catalog; DROP TABLE rooms, floors, gate_open; DROP SCHEMA util CASCADE');
SELECT * FROM migrate_upgrade();

SELECT migrate_register_online('2', 'bookings', $$[
    {"create_table": {"table": "bookings", "comment": "who has which room when", "columns": [
        {"name": "id", "type": "bigint",
         "generated": {"identity": {"sequence_options": {"start": 100, "increment": 10, "cache": 1}}}},
        {"name": "ref", "type": "smallint",
         "generated": {"identity": {"user_specified_values": "BY DEFAULT",
                                    "sequence_options": {"minvalue": -5, "maxvalue": 5, "cycle": true}}}},
        {"name": "room_id", "type": "int", "nullable": false},
        {"name": "building", "type": "text"},
        {"name": "level", "type": "int"},
        {"name": "during", "type": "int4range", "nullable": false},
        {"name": "cancelled", "type": "boolean", "nullable": false, "default": "false"},
        {"name": "guests", "type": "int", "default": "1"},
        {"name": "price", "type": "numeric(10,2)", "nullable": false},
        {"name": "total", "type": "numeric(12,2)",
         "generated": {"expression": "price * guests"}, "comment": "price for all"},
        {"name": "place", "type": "text", "generated": {"expression": "upper(building) || '-' || level"}},
        {"name": "code", "type": "text"},
        {"name": "parent_id", "type": "bigint"}],
      "constraints": [
        {"name": "bookings_pkey", "type": "primary_key", "columns": ["id"],
         "index_parameters": {"include_columns": ["room_id"], "storage_parameters": {"fillfactor": 80}}},
        {"name": "bookings_guests_check", "type": "check", "check": "guests BETWEEN 1 AND 4"},
        {"name": "bookings_place_check", "type": "check", "check": "place <> ''", "no_inherit": true},
        {"name": "bookings_code_key", "type": "unique", "columns": ["code"], "nulls_not_distinct": true,
         "deferrable": true, "initially_deferred": true},
        {"name": "bookings_ref_key", "type": "unique", "columns": ["ref"], "deferrable": true},
        {"name": "bookings_room_fk", "type": "foreign_key", "columns": ["room_id"],
         "references": {"table": "rooms", "columns": ["id"], "on_delete": "cascade"}},
        {"name": "bookings_floor_fk", "type": "foreign_key", "columns": ["building", "level"],
         "references": {"table": "floors", "columns": ["building", "level"], "match_type": "full",
                        "on_update": "cascade", "on_delete": "restrict"}},
        {"name": "bookings_parent_fk", "type": "foreign_key", "columns": ["parent_id"],
         "references": {"table": "bookings", "columns": ["id"],
                        "on_delete": "set null", "on_delete_set_columns": ["parent_id"]}},
        {"name": "bookings_no_overlap", "type": "exclude",
         "elements": [{"column": "during", "operator": "&&"}], "where": "NOT cancelled",
         "index_parameters": {"storage_parameters": {"buffering": "auto"}}},
        {"name": "bookings_one_place", "type": "exclude", "method": "btree",
         "elements": [{"expression": "util.norm(place)", "operator": "pg_catalog.="},
                      {"column": "room_id", "operator": "="}],
         "deferrable": true}]}}
]$$);

SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
SELECT * FROM bookings_catalog;
-- the old shape writes the table, the new one its view
INSERT INTO bookings (room_id, building, level, during, price, code)
VALUES (1, 'a', 1, '[1,5)', 10, 'x1') RETURNING id, ref, guests, total, place;
SET search_path = migrate_public_v2, public;
INSERT INTO bookings (room_id, building, level, during, guests, price, code)
VALUES (2, 'a', 2, '[5,8)', 3, 12.5, 'x2') RETURNING id, ref, guests, total, place;
RESET search_path;
SELECT id, ref, room_id, during, total, place FROM bookings ORDER BY id;

SELECT migrate_rollback();
SELECT to_regclass('bookings') AS bookings, to_regnamespace('migrate_public_v2') AS version_schema;

SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
-- both shapes write while it is in flight
INSERT INTO bookings (room_id, building, level, during, price, code)
VALUES (1, 'a', 1, '[1,5)', 10, 'x1') RETURNING id, ref, total, place;
SET search_path = migrate_public_v2, public;
INSERT INTO bookings (room_id, building, level, during, guests, price, code, parent_id)
VALUES (2, 'b', 1, '[5,8)', 2, 7.25, 'x2', 100) RETURNING id, ref, total, place;
-- an identity always is not written, a generated column neither
INSERT INTO bookings (id, room_id, during, price, code) VALUES (1, 3, '[20,21)', 1, 'x3');
\echo :LAST_ERROR_SQLSTATE
UPDATE bookings SET total = 0 WHERE id = 100;
\echo :LAST_ERROR_SQLSTATE
-- an identity by default takes what it is given
INSERT INTO bookings (ref, room_id, during, price, code) VALUES (5, 3, '[20,21)', 1, 'x3') RETURNING id, ref;
RESET search_path;
-- the check
INSERT INTO bookings (room_id, during, guests, price, code) VALUES (3, '[30,31)', 5, 1, 'x4');
\echo :LAST_ERROR_SQLSTATE
-- the foreign keys: a room, a whole floor (match full), no dangling parent
INSERT INTO bookings (room_id, during, price, code) VALUES (99, '[30,31)', 1, 'x4');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_id, building, during, price, code) VALUES (3, 'a', '[30,31)', 1, 'x4');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_id, building, level, during, price, code) VALUES (3, 'c', 1, '[30,31)', 1, 'x4');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_id, during, price, code, parent_id) VALUES (3, '[30,31)', 1, 'x4', 7);
\echo :LAST_ERROR_SQLSTATE
-- the exclusions: no overlap but for cancelled bookings, one place a room
INSERT INTO bookings (room_id, during, price, code) VALUES (3, '[2,3)', 1, 'x4');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_id, during, price, code, cancelled) VALUES (3, '[2,3)', 1, 'x4', true) RETURNING id;
INSERT INTO bookings (room_id, building, level, during, price, code) VALUES (1, 'a', 1, '[40,41)', 1, 'x5');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_complete();

SELECT * FROM bookings_catalog;
SELECT id, ref, room_id, building, level, during, cancelled, guests, total, place, code, parent_id
  FROM bookings ORDER BY id;
-- unique, deferred: checked at commit; nulls not distinct
BEGIN;
UPDATE bookings SET code = 'x2' WHERE id = 100;
UPDATE bookings SET code = 'x1' WHERE id = 110;
COMMIT;
SELECT id, code FROM bookings WHERE id IN (100, 110) ORDER BY id;
BEGIN;
UPDATE bookings SET code = 'x2' WHERE id = 110;
COMMIT;
\echo :LAST_ERROR_SQLSTATE
UPDATE bookings SET code = NULL WHERE id IN (100, 110);
\echo :LAST_ERROR_SQLSTATE
-- unique, deferrable but immediate
UPDATE bookings SET ref = -5 WHERE id = 110;
\echo :LAST_ERROR_SQLSTATE
-- the actions: on update cascade, on delete restrict, set null, cascade
UPDATE floors SET level = 10 WHERE building = 'a' AND level = 1;
SELECT id, building, level, place FROM bookings WHERE building IS NOT NULL ORDER BY id;
-- (the refusal is 23503 up to 17, 23001 from 18 on)
SELECT confdeltype FROM pg_constraint WHERE conname = 'bookings_floor_fk';
DO $$
BEGIN
    DELETE FROM floors WHERE building = 'b';
    RAISE WARNING 'delete of a referenced floor allowed';
EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
    RAISE WARNING 'delete of a referenced floor refused';
END
$$;
DELETE FROM bookings WHERE id = 100;
SELECT id, parent_id FROM bookings WHERE id = 110;
DELETE FROM rooms WHERE id = 3;
SELECT count(*) AS room_3 FROM bookings WHERE room_id = 3;

------------------------------------------------------------------------
-- two tables of one migration: a primary key of two columns, and a foreign
-- key of two columns to it, deferred; indexes in a tablespace
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'hotels and stays', $$[
    {"create_table": {"table": "hotels", "columns": [
        {"name": "chain", "type": "text"},
        {"name": "branch", "type": "int"},
        {"name": "name", "type": "varchar(40)", "nullable": false, "unique": true}],
      "constraints": [
        {"name": "hotels_pkey", "type": "primary_key", "columns": ["chain", "branch"],
         "index_parameters": {"tablespace": "pg_default"}}]}},
    {"create_table": {"table": "stays", "columns": [
        {"name": "id", "type": "serial", "primary_key": true},
        {"name": "chain", "type": "text", "nullable": false},
        {"name": "branch", "type": "int", "nullable": false},
        {"name": "nights", "type": "int", "nullable": false},
        {"name": "paid", "type": "int", "nullable": false}],
      "constraints": [
        {"name": "stays_hotel_fk", "type": "foreign_key", "columns": ["chain", "branch"],
         "references": {"table": "hotels", "columns": ["chain", "branch"], "on_update": "cascade"},
         "deferrable": true, "initially_deferred": true},
        {"name": "stays_paid_check", "type": "check", "check": "paid >= nights * 50"}]}}
]$$);
SELECT * FROM migrate_upgrade();
SELECT migrate_rollback();
SELECT to_regclass('hotels') AS hotels, to_regclass('stays') AS stays;
SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
-- a stay before its hotel, in one transaction: the key is checked at commit
BEGIN;
INSERT INTO stays (chain, branch, nights, paid) VALUES ('ibis', 1, 2, 100) RETURNING id;
SET LOCAL search_path = migrate_public_v3, public;
INSERT INTO hotels VALUES ('ibis', 1, 'Ibis One');
COMMIT;
INSERT INTO stays (chain, branch, nights, paid) VALUES ('ibis', 2, 1, 50);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO stays (chain, branch, nights, paid) VALUES ('ibis', 1, 3, 100);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO hotels VALUES ('ibis', 1, 'Ibis Again');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_complete();
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid IN ('hotels'::regclass, 'stays'::regclass) AND contype <> 'n' ORDER BY 1;
UPDATE hotels SET branch = 7;
SELECT chain, branch, nights FROM stays;

------------------------------------------------------------------------
-- names go in quoted, whatever they hold; expressions are resolved with
-- the search_path of who registers and starts, and go in qualified
------------------------------------------------------------------------
-- the table with no columns gets a view without the guard and its check
-- option, which PostgreSQL refuses on a view that nothing can be written
-- through; the others keep theirs
SET search_path = util, public;
SELECT migrate_register_online('4', 'odd names', $$[
    {"create_table": {"table": "odd \"names\"", "columns": [
        {"name": "select", "type": "text"},
        {"name": "it's", "type": "text", "generated": {"expression": "norm(\"select\")"}}],
      "constraints": [
        {"name": "odd \"check\"", "type": "check",
         "check": "\"odd \"\"names\"\"\".\"select\" <> 'x''); DROP TABLE rooms; --'"},
        {"name": "odd; key", "type": "unique", "columns": ["it's"]}]}}
]$$);
SELECT * FROM migrate_upgrade();
RESET search_path;
SELECT relname, reloptions FROM pg_class
 WHERE relnamespace = 'migrate_public_v4'::regnamespace
   AND relname IN ('gate_open', 'rooms') ORDER BY 1;
SELECT count(*) FROM migrate_public_v4.gate_open;
SELECT migrate_complete();
SELECT attname, pg_get_expr(adbin, adrelid) FROM pg_attrdef
  JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum
 WHERE adrelid = '"odd ""names"""'::regclass;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = '"odd ""names"""'::regclass AND contype <> 'n' ORDER BY 1;
INSERT INTO "odd ""names""" VALUES ('  Hi ') RETURNING *;
INSERT INTO "odd ""names""" VALUES ('x''); DROP TABLE rooms; --');
\echo :LAST_ERROR_SQLSTATE

SELECT * FROM migrate_validate();

-- leave nothing behind
DROP SCHEMA migrate_public_v4 CASCADE;
DROP VIEW bookings_catalog;
DROP TABLE bookings, rooms, floors, hotels, stays, "odd ""names""", gate_open CASCADE;
DROP SCHEMA util CASCADE;
DROP EXTENSION migrate;
