-- Online migrations IV: drop_constraint with up and down, and
-- drop_multicolumn_constraint: the new shape stops enforcing the constraint
-- at start, the old one keeps it.  A check on one column, a unique and a
-- check on two, each through start -> rollback -> start -> wait ->
-- complete, with writes through both shapes while in flight; a check on an
-- identity primary key that a foreign key references, whose shadow gets
-- the keys and the identity as alter_column gives them.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'items', $$
    CREATE TABLE items (
        id     int PRIMARY KEY,
        price  int NOT NULL DEFAULT 10 CONSTRAINT items_price_check CHECK (price > 0),
        sku    text,
        vendor text,
        lo     int,
        hi     int,
        CONSTRAINT items_sku_vendor_key UNIQUE (sku, vendor),
        CONSTRAINT items_range_check CHECK (lo <= hi));
    CREATE INDEX items_price_idx ON items (price DESC);
    CREATE INDEX items_vendor_lo_idx ON items (vendor, lo);
    COMMENT ON COLUMN items.price IS 'in cents';
    INSERT INTO items
        SELECT g, g * 5, 's' || g % 50, 'v' || g / 50, CASE WHEN g % 10 <> 0 THEN g END, g + 1
          FROM generate_series(1, 100) g;
$$, 'DROP TABLE items');
SELECT * FROM migrate_upgrade();

-- what start leaves behind (names with object ids masked)
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p'))
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_migrate%'
UNION ALL SELECT 'constraint ' || regexp_replace(conname, '\d+', 'N') FROM pg_constraint WHERE conname LIKE '\_migrate%'
UNION ALL SELECT 'relation ' || regexp_replace(relname, '\d+', 'N') FROM pg_class WHERE relname LIKE '\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;
-- the table's constraints and indexes, and its columns, as the catalog has them
CREATE VIEW items_catalog AS
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) ||
       CASE WHEN convalidated THEN '' ELSE ' (not valid)' END AS object
  FROM pg_constraint WHERE conrelid = 'items'::regclass AND conname NOT LIKE '\_migrate%'
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid = 'items'::regclass
   AND indexrelid::regclass::text NOT LIKE '\_migrate%'
UNION ALL
SELECT 'column ' || attname || ' ' || format_type(atttypid, atttypmod) ||
       CASE WHEN attnotnull THEN ' not null' ELSE '' END ||
       coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') ||
       coalesce(' comment ' || col_description(a.attrelid, a.attnum), '')
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'items'::regclass AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attname NOT LIKE '\_migrate%'
ORDER BY 1;
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object !~ '(snapshot|leftovers|items_catalog)';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object !~ '(snapshot|leftovers|items_catalog)'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;
SELECT * FROM items_catalog;

------------------------------------------------------------------------
-- drop_constraint with up and down: a check on one column.  The new shape
-- may write a price of 0 or less; down makes it 1 for the old shape.
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'items: any price', $$[
    {"drop_constraint": {"table": "items", "name": "items_price_check",
                         "up": "price", "down": "greatest(price, 1)"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
-- the shadow has all the old column has but the check
SELECT regexp_replace(conname, '\d+', 'N') AS conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'items'::regclass AND conname ~ 'price'
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on
 ORDER BY conname COLLATE "C";
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'items'::regclass AND pg_get_indexdef(indexrelid) ~ 'price'
 ORDER BY indexrelid::regclass::text COLLATE "C";
-- new shape: a price of 0 or less is fine, NULL is not, the default holds
SET search_path = migrate_public_v2, public;
INSERT INTO items (id, price) VALUES (101, -5);
INSERT INTO items (id, price) VALUES (102, 0);
INSERT INTO items (id) VALUES (103) RETURNING price;
INSERT INTO items (id, price) VALUES (104, NULL);
\echo :LAST_ERROR_SQLSTATE
UPDATE items SET price = -1 WHERE id = 1;
RESET search_path;
-- old shape: down's values; the check still holds
SELECT id, price FROM items WHERE id IN (1, 101, 102, 103) ORDER BY id;
INSERT INTO items (id, price) VALUES (105, -5);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO items (id, price) VALUES (105, 7);
UPDATE items SET price = 8 WHERE id = 2;
-- new shape: up's values
SELECT id, price FROM migrate_public_v2.items WHERE id IN (1, 2, 101, 102, 103, 105) ORDER BY id;

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;
SELECT id, price FROM items WHERE id IN (1, 2, 101, 102, 103, 105) ORDER BY id;
INSERT INTO items (id, price) VALUES (106, -6);
INSERT INTO items (id, price) VALUES (107, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows, sum(price) AS total FROM items;

------------------------------------------------------------------------
-- drop_multicolumn_constraint: a unique constraint on two columns.  The
-- new shape may write a pair twice; down makes the old shape's vendor
-- unique with the row's id.
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'items: sku and vendor not unique', $$[
    {"drop_multicolumn_constraint": {"table": "items", "name": "items_sku_vendor_key",
        "up": {"sku": "sku", "vendor": "vendor"},
        "down": {"sku": "sku", "vendor": "vendor || '#' || id"}}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
-- the index on vendor and lo has one copy, on vendor's shadow; the unique
-- constraint has none
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid = 'items'::regclass
   AND pg_get_indexdef(indexrelid) ~ '(sku|vendor)'
 ORDER BY indexrelid::regclass::text COLLATE "C";
-- new shape: a pair twice is fine
SET search_path = migrate_public_v3, public;
SELECT sku, vendor FROM items WHERE id = 1;
INSERT INTO items (id, sku, vendor) VALUES (201, 's1', 'v0');
INSERT INTO items (id, sku, vendor) VALUES (202, 's1', 'v0');
RESET search_path;
-- old shape: down's values; a pair twice fails
SELECT id, sku, vendor FROM items WHERE id IN (1, 201, 202) ORDER BY id;
INSERT INTO items (id, sku, vendor) VALUES (203, 's1', 'v0');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO items (id, sku, vendor) VALUES (203, 's9', 'v9');
-- new shape: up's values
SELECT id, sku, vendor FROM migrate_public_v3.items WHERE id IN (1, 201, 202, 203) ORDER BY id;

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;
SELECT id, sku, vendor FROM items WHERE id IN (1, 201, 202, 203) ORDER BY id;
INSERT INTO items (id, sku, vendor) VALUES (204, 's1', 'v0');
SELECT count(*) AS s1_v0 FROM items WHERE sku = 's1' AND vendor = 'v0';

------------------------------------------------------------------------
-- drop_multicolumn_constraint: a check on two columns.  The new shape may
-- write lo above hi; down swaps them for the old shape.  up turns the old
-- shape's NULLs into 0.
------------------------------------------------------------------------
SELECT migrate_register_online('4', 'items: any range', $$[
    {"drop_multicolumn_constraint": {"table": "items", "name": "items_range_check",
        "up": {"lo": "coalesce(lo, 0)", "hi": "coalesce(hi, 0)"},
        "down": {"lo": "least(lo, hi)", "hi": "greatest(lo, hi)"}}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE lo IS NULL) AS null_lo, count(*) FILTER (WHERE hi IS NULL) AS null_hi
  FROM migrate_public_v4.items;
-- new shape: lo above hi is fine
SET search_path = migrate_public_v4, public;
SELECT lo, hi FROM items WHERE id = 10;
INSERT INTO items (id, lo, hi) VALUES (301, 9, 3);
UPDATE items SET lo = 50, hi = 5 WHERE id = 5;
RESET search_path;
-- old shape: down's values; lo above hi fails
SELECT id, lo, hi FROM items WHERE id IN (5, 10, 301) ORDER BY id;
INSERT INTO items (id, lo, hi) VALUES (302, 9, 3);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO items (id, lo, hi) VALUES (302, NULL, 3);
-- new shape: up's values
SELECT id, lo, hi FROM migrate_public_v4.items WHERE id IN (5, 10, 301, 302) ORDER BY id;

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM items_catalog;
SELECT id, lo, hi FROM items WHERE id IN (5, 10, 301, 302) ORDER BY id;
INSERT INTO items (id, lo, hi) VALUES (303, 9, 3);
SELECT count(*) FILTER (WHERE lo > hi) AS lo_above_hi, count(*) FILTER (WHERE lo IS NULL) AS null_lo
  FROM items;
------------------------------------------------------------------------
-- drop_constraint with up and down on a key column: a check on an
-- identity primary key that a foreign key of another table references.
-- The shadow gets the primary key, the identity and a copy of the foreign
-- key, as alter_column gives them; complete puts them on the new column.
-- A unique constraint that a foreign key references cannot be dropped so.
------------------------------------------------------------------------
-- (the view first: migration 5 records it)
CREATE VIEW accounts_catalog AS
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid) ||
       CASE WHEN convalidated THEN '' ELSE ' (not valid)' END AS object
  FROM pg_constraint WHERE conrelid::regclass::text IN ('accounts', 'payments')
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
UNION ALL
SELECT 'column accounts.' || attname || ' ' || format_type(atttypid, atttypmod) ||
       CASE WHEN attnotnull THEN ' not null' ELSE '' END ||
       CASE attidentity WHEN 'a' THEN ' generated always as identity'
                        WHEN 'd' THEN ' generated by default as identity' ELSE '' END
  FROM pg_attribute WHERE attrelid::regclass::text = 'accounts' AND attnum > 0 AND NOT attisdropped
ORDER BY 1;
SELECT migrate_register('5', 'accounts', $$
    CREATE TABLE accounts (
        id   int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY
             CONSTRAINT accounts_id_check CHECK (id > 0),
        code text CONSTRAINT accounts_code_key UNIQUE);
    CREATE TABLE payments (
        id      int PRIMARY KEY,
        account int REFERENCES accounts,
        code    text REFERENCES accounts (code));
    INSERT INTO accounts (code) SELECT 'c' || g FROM generate_series(1, 10) g;
    INSERT INTO payments SELECT g, 1 + g % 10, 'c' || (1 + g % 10) FROM generate_series(1, 30) g;
$$, 'DROP TABLE payments, accounts');
SELECT * FROM migrate_upgrade();
SELECT * FROM accounts_catalog;

SELECT migrate_register_online('6', 'bad', $$[
    {"drop_constraint": {"table": "accounts", "name": "accounts_code_key",
                         "up": "code", "down": "code"}}
]$$);
SELECT migrate_register_online('6', 'accounts: any id', $$[
    {"drop_constraint": {"table": "accounts", "name": "accounts_id_check",
                         "up": "id", "down": "CASE WHEN id > 0 THEN id ELSE 1000 - id END"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
-- new shape: an id below 1 is fine; the identity draws for both shapes
SET search_path = migrate_public_v6, public;
INSERT INTO accounts (id, code) VALUES (-1, 'c-1');
INSERT INTO accounts (code) VALUES ('c11') RETURNING id;
RESET search_path;
-- old shape: down's value; the check still holds
INSERT INTO accounts (code) VALUES ('c12') RETURNING id;
SELECT id, code FROM accounts WHERE id > 10 ORDER BY code;
INSERT INTO accounts (id, code) VALUES (-2, 'c-2');
\echo :LAST_ERROR_SQLSTATE
-- new shape: up's values; the foreign key still references the old column
SELECT id, code FROM migrate_public_v6.accounts WHERE id > 10 OR id < 1 ORDER BY code;
INSERT INTO migrate_public_v6.payments VALUES (31, -1, 'c1');
\echo :LAST_ERROR_SQLSTATE

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM accounts_catalog;
SELECT id, code FROM accounts WHERE id > 10 OR id < 1 ORDER BY code;
-- the keys hold on the new column, the identity goes on
INSERT INTO payments VALUES (31, -1, 'c1');
INSERT INTO payments VALUES (32, 99, 'c1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (id, code) VALUES (-1, 'c15');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM accounts WHERE id = -1;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (code) VALUES ('c16') RETURNING id;
SELECT * FROM migrate_validate();

-- leave nothing behind
DROP SCHEMA migrate_public_v6 CASCADE;
DROP VIEW leftovers, items_catalog, accounts_catalog;
DROP TABLE items, payments, accounts, snapshot;
DROP FUNCTION take_snapshot(), changed_since_snapshot();
DROP EXTENSION migrate;
