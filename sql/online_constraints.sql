-- Online migrations III: rename_constraint and set_replica_identity, each
-- registered, started, rolled back, started again, written through both
-- shapes and completed, with the catalog checked at each step.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'shop', $$
    CREATE TABLE orders (
        id    int PRIMARY KEY,
        code  text NOT NULL,
        qty   int NOT NULL CONSTRAINT orders_qty_check CHECK (qty > 0),
        note  text,
        CONSTRAINT orders_code_key UNIQUE (code));
    CREATE UNIQUE INDEX orders_code_qty_idx ON orders (code, qty);
    ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_code_key;
    INSERT INTO orders SELECT g, 'c' || g, g FROM generate_series(1, 10) g;
    CREATE TABLE lines (id int PRIMARY KEY, order_id int NOT NULL,
                        CONSTRAINT lines_order_fk FOREIGN KEY (order_id) REFERENCES orders);
    INSERT INTO lines SELECT g, g FROM generate_series(1, 10) g;
$$);
SELECT * FROM migrate_upgrade();

-- the constraints and indexes of the tables, their replica identities
-- (temporary views: no drift of the schema)
CREATE TEMP VIEW shop_constraints AS
SELECT conrelid::regclass AS tab, conname, contype,
       CASE WHEN conindid <> 0 AND contype <> 'f' THEN conindid::regclass END AS index
  FROM pg_constraint WHERE conrelid IN ('orders'::regclass, 'lines'::regclass)
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on
 ORDER BY 1, 2;
CREATE TEMP VIEW shop_identity AS
SELECT c.oid::regclass AS tab, c.relreplident,
       (SELECT string_agg(i.indexrelid::regclass::text, ', ') FROM pg_index i
         WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index
  FROM pg_class c WHERE c.oid IN ('orders'::regclass, 'lines'::regclass) ORDER BY 1;
-- what start leaves behind
CREATE TEMP VIEW leftovers AS
SELECT 'relation ' || relname AS object FROM pg_class WHERE relname LIKE '\_migrate%'
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;

------------------------------------------------------------------------
-- rename_constraint: refused at registration
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "nosuch", "to": "x"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "nosuch", "from": "orders_qty_check", "to": "x"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_code_key"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_qty_check"}}]');
-- a key's index is renamed with it: the name must be free for a relation
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_code_key", "to": "orders_code_qty_idx"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_code_key", "to": "lines"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "_migrate_nn_qty"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "ThisNameIsLongerThanSixtyThreeBytesThisNameIsLongerThanSixtyThreeB"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": null}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": ["x"]}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "x", "cascade": true}}]');
-- the constraint's column is altered (or dropped) by the migration
SELECT migrate_register_online('2', 'bad', '[
    {"alter_column": {"table": "orders", "column": "qty", "type": "bigint"}},
    {"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_qty_positive"}}]');
-- an inherited check is renamed in the children too; theirs is not the
-- child's to rename
CREATE TABLE orders_archive (archived date) INHERITS (orders);
ALTER TABLE orders_archive ADD CONSTRAINT orders_qty_positive CHECK (qty < 1000000);
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_qty_positive"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_constraint": {"table": "orders_archive", "from": "orders_qty_check", "to": "x"}}]');
DROP TABLE orders_archive;
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

------------------------------------------------------------------------
-- rename_constraint: a check, a unique key (and its index, the replica
-- identity), a foreign key
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'orders: constraints renamed', $$[
    {"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_qty_positive"}},
    {"rename_constraint": {"table": "orders", "from": "orders_code_key", "to": "orders_code_unique"}},
    {"rename_constraint": {"schema": "public", "table": "lines", "from": "lines_order_fk", "to": "lines_order_id_fkey"}}
]$$);
SELECT * FROM shop_constraints;
SELECT * FROM migrate_upgrade();
-- in flight: the old names, for both shapes
SELECT * FROM shop_constraints;
SELECT * FROM shop_identity;
SELECT * FROM leftovers;
SELECT migrate_rollback();
SELECT * FROM shop_constraints;
SELECT * FROM shop_identity;
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
-- the old shape names the constraints by their old names
INSERT INTO orders VALUES (1, 'c1', 5) ON CONFLICT ON CONSTRAINT orders_code_key DO UPDATE SET note = 'old shape';
INSERT INTO orders VALUES (11, 'c11', 0);
\echo :LAST_ERROR_SQLSTATE
UPDATE orders SET qty = 2 WHERE id = 2;
DELETE FROM lines WHERE id = 10;
-- the new shape too, until complete
SET search_path = migrate_public_v2, public;
INSERT INTO orders VALUES (12, 'c12', 12);
INSERT INTO orders VALUES (13, 'c13', -1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO lines VALUES (12, 99);
\echo :LAST_ERROR_SQLSTATE
UPDATE orders SET note = 'new shape' WHERE id = 3;
DELETE FROM lines WHERE id = 9;
RESET search_path;
SELECT id, code, qty, note FROM orders WHERE id IN (1, 2, 3, 12) ORDER BY id;
SELECT count(*) AS lines FROM lines;

SELECT migrate_complete();
SELECT * FROM shop_constraints;
SELECT * FROM shop_identity;
SELECT * FROM leftovers;
INSERT INTO orders VALUES (3, 'c3', 3) ON CONFLICT ON CONSTRAINT orders_code_unique DO UPDATE SET note = 'renamed';
INSERT INTO orders VALUES (3, 'c3', 3) ON CONFLICT ON CONSTRAINT orders_code_key DO NOTHING;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO orders VALUES (14, 'c14', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT note FROM orders WHERE id = 3;
SELECT * FROM migrate_validate();

------------------------------------------------------------------------
-- set_replica_identity: refused at registration
------------------------------------------------------------------------
CREATE INDEX orders_note_idx ON orders (note);
CREATE UNIQUE INDEX orders_note_key ON orders (note);
CREATE UNIQUE INDEX orders_code_partial ON orders (code) WHERE qty > 0;
CREATE UNIQUE INDEX orders_code_lower ON orders (lower(code));
ALTER TABLE orders ADD CONSTRAINT orders_id_code_deferred UNIQUE (id, code) DEFERRABLE;
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "nosuch"}}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_note_idx"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_note_key"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_partial"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_lower"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_id_code_deferred"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "lines_pkey"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "index"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "full", "index": "orders_pkey"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "using index"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": "full"}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "full", "columns": ["id"]}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders"}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": null}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "nosuch", "identity": {"type": "full"}}}]');
-- the index's column is dropped (or altered) by the migration, before or after
SELECT migrate_register_online('3', 'bad', '[
    {"drop_column": {"table": "orders", "column": "code", "down": "''?''"}},
    {"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_qty_idx"}}}]');
-- an index of a table the migration creates does not exist yet
SELECT migrate_register_online('3', 'bad', '[
    {"create_table": {"table": "fresh", "columns": [{"name": "id", "type": "int", "primary_key": true}]}},
    {"set_replica_identity": {"table": "fresh", "identity": {"type": "index", "index": "fresh_pkey"}}}]');
-- published updates and deletes need a key: the old shape must keep
-- working (lines has a primary key, orders_note_free none)
SET client_min_messages = error;  -- wal_level is not logical here
CREATE PUBLICATION shop_pub FOR TABLE orders, lines;
SET client_min_messages = warning;
CREATE TABLE orders_note_free (note text);
ALTER PUBLICATION shop_pub ADD TABLE orders_note_free;
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders", "identity": {"type": "nothing"}}}]');
SELECT migrate_register_online('3', 'bad', '[{"set_replica_identity": {"table": "orders_note_free", "identity": {"type": "default"}}}]');
DROP TABLE orders_note_free;
DROP INDEX orders_note_idx, orders_note_key, orders_code_partial, orders_code_lower;
ALTER TABLE orders DROP CONSTRAINT orders_id_code_deferred;
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online' AND state = 'pending';

-- an operation after it alters the index's column: the shape so far is
-- fine at registration, start sees the whole migration's and refuses
SELECT migrate_register_online('3', 'later alter', '[
    {"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_qty_idx"}}},
    {"alter_column": {"table": "orders", "column": "qty", "type": "bigint"}}]');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.migration WHERE kind = 'online' ORDER BY version;
SELECT * FROM shop_identity;

------------------------------------------------------------------------
-- set_replica_identity full: set at start, for both shapes; rollback puts
-- back the index it replaced.  Lines is published: nothing would make its
-- updates fail, until it is out of the publication.
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'orders: replica identity full', $$[
    {"set_replica_identity": {"table": "orders", "identity": {"type": "FULL"}}},
    {"set_replica_identity": {"table": "lines", "identity": {"type": "nothing"}}}
]$$);
\echo :LAST_ERROR_SQLSTATE
ALTER PUBLICATION shop_pub DROP TABLE lines;
SELECT migrate_register_online('3', 'orders: replica identity full', $$[
    {"set_replica_identity": {"table": "orders", "identity": {"type": "FULL"}}},
    {"set_replica_identity": {"table": "lines", "identity": {"type": "nothing"}}}
]$$);
SELECT * FROM shop_identity;
SELECT * FROM migrate_upgrade();
SELECT * FROM shop_identity;
SELECT action, detail FROM migrate.event WHERE version = '3' AND action = 'replica_identity' ORDER BY id;
SELECT migrate_rollback();
SELECT * FROM shop_identity;
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
SELECT * FROM shop_identity;
-- both shapes update and delete the published table
UPDATE orders SET note = 'old shape, full' WHERE id = 4;
DELETE FROM orders WHERE id = 12;
SET search_path = migrate_public_v3, public;
UPDATE orders SET note = 'new shape, full' WHERE id = 5;
INSERT INTO orders VALUES (15, 'c15', 15);
DELETE FROM orders WHERE id = 15;
RESET search_path;
SELECT id, note FROM orders WHERE id IN (4, 5, 12, 15) ORDER BY id;
SELECT migrate_complete();
SELECT * FROM shop_identity;
SELECT * FROM leftovers;

------------------------------------------------------------------------
-- set_replica_identity index: from full; rollback puts full back.  A
-- table the migration creates gets its identity once created.
------------------------------------------------------------------------
SELECT migrate_register_online('4', 'orders: replica identity by code and qty', $$[
    {"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_qty_idx"}}},
    {"set_replica_identity": {"table": "lines", "identity": {"type": "default"}}},
    {"create_table": {"table": "returns", "columns": [{"name": "order_id", "type": "int"}]}},
    {"set_replica_identity": {"table": "returns", "identity": {"type": "full"}}}
]$$);
SELECT * FROM migrate_upgrade();
SELECT * FROM shop_identity;
SELECT relname, relreplident FROM pg_class WHERE relname = 'returns' AND relkind = 'r';
SELECT migrate_rollback();
SELECT * FROM shop_identity;
SELECT relname, relreplident FROM pg_class WHERE relname = 'returns' AND relkind = 'r';
SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
UPDATE orders SET note = 'old shape, index' WHERE id = 6;
SET search_path = migrate_public_v4, public;
UPDATE orders SET note = 'new shape, index' WHERE id = 7;
DELETE FROM orders WHERE id = 10;
RESET search_path;
SELECT id, note FROM orders WHERE id IN (6, 7, 10) ORDER BY id;
SELECT migrate_complete();
SELECT * FROM shop_identity;
SELECT relname, relreplident FROM pg_class WHERE relname = 'returns' AND relkind = 'r';

------------------------------------------------------------------------
-- start checks what registration cannot: a publication's row filter must
-- be covered by the identity; refused, nothing changes
------------------------------------------------------------------------
SELECT migrate_register_online('5', 'orders: replica identity by code', $$[
    {"set_replica_identity": {"table": "orders", "identity": {"type": "index", "index": "orders_code_unique"}}}
]$$);
SET client_min_messages = error;
CREATE PUBLICATION shop_big FOR TABLE orders WHERE (qty > 100);
SET client_min_messages = warning;
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM migrate.migration WHERE version = '5';
SELECT * FROM shop_identity;
DROP PUBLICATION shop_big;
SELECT * FROM migrate_upgrade();
SELECT * FROM shop_identity;
-- the index it replaced is gone by the rollback: the identity stays
DROP INDEX orders_code_qty_idx;
SELECT migrate_rollback();
SELECT * FROM shop_identity;
SELECT * FROM migrate_upgrade();
SELECT migrate_complete();
SELECT * FROM shop_identity;
SELECT * FROM migrate_validate();

-- leave nothing behind
DROP PUBLICATION shop_pub;
DROP SCHEMA migrate_public_v5 CASCADE;
DROP VIEW shop_constraints, shop_identity, leftovers;
DROP TABLE returns, lines, orders;
DROP EXTENSION migrate;
