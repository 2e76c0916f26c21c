-- One online migration over tables of several schemas (pgroll #373): each
-- schema gets its version schema, start, complete and rollback do them all
-- in one phase; expressions name functions of other schemas, and a check
-- naming one is enforced for both shapes' writes and validated.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'app and billing', $$
    CREATE SCHEMA app;
    CREATE SCHEMA billing;
    CREATE SCHEMA util;
    CREATE FUNCTION util.cents(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1::bigint * 100';
    CREATE TABLE app.users (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE billing.invoices (id int PRIMARY KEY, user_id int NOT NULL, amount int NOT NULL);
    INSERT INTO app.users SELECT g, 'user ' || g FROM generate_series(1, 50) g;
    INSERT INTO billing.invoices SELECT g, g % 50 + 1, g FROM generate_series(1, 100) g;
$$, 'DROP SCHEMA app, billing, util CASCADE');
SELECT migrate_register_online('2', 'users.full_name, invoices.amount_cents', $$[
    {"rename_column": {"schema": "app", "table": "users", "from": "name", "to": "full_name"}},
    {"add_column": {"schema": "billing", "table": "invoices",
                    "column": {"name": "amount_cents", "type": "bigint", "nullable": false},
                    "up": "util.cents(amount)"}},
    {"create_index": {"schema": "billing", "table": "invoices", "name": "invoices_user",
                      "columns": ["user_id"]}}
]$$);

CREATE VIEW vschemas AS
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_%\_v2' ORDER BY 1;
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p'))
UNION ALL SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass FROM pg_trigger WHERE tgname LIKE '\_migrate%'
ORDER BY 1;

SELECT version, action FROM migrate_upgrade();
SELECT * FROM vschemas;
SELECT * FROM leftovers;
SELECT migrate_version_schema('2');        -- the first schema's
SELECT detail FROM migrate.event WHERE version = '2' AND action = 'start';
SELECT migrate_rollback('2');
SELECT * FROM vschemas;
SELECT * FROM leftovers;

SELECT version, action FROM migrate_upgrade();
SELECT migrate_wait('2');
-- the old application
SET search_path = app, billing;
INSERT INTO users (id, name) VALUES (100, 'Old');
INSERT INTO invoices (id, user_id, amount) VALUES (1000, 100, 7);
-- the new one: both version schemas first
SET search_path = migrate_app_v2, migrate_billing_v2, app, billing;
INSERT INTO users (id, full_name) VALUES (101, 'New');
INSERT INTO invoices (id, user_id, amount, amount_cents) VALUES (1001, 101, 8, 799);
INSERT INTO invoices (id, user_id, amount, amount_cents) VALUES (1002, 101, 8, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT id, full_name FROM users WHERE id >= 100 ORDER BY id;
SELECT id, amount, amount_cents FROM invoices WHERE id >= 1000 OR id = 1 ORDER BY id;
RESET search_path;

SELECT migrate_complete('2');
SELECT * FROM leftovers;
SELECT attname FROM pg_attribute WHERE attrelid = 'app.users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
-- (all but 1001, whose amount_cents the new application wrote)
SELECT count(*) FILTER (WHERE amount_cents = amount * 100) AS backfilled, count(*) AS rows
  FROM billing.invoices;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'billing.invoices'::regclass ORDER BY 1;

-- a plain migration afterwards drops both kept version schemas
SELECT migrate_register('3', 'plain', 'ALTER TABLE billing.invoices ALTER COLUMN amount_cents TYPE numeric');
SELECT version, action FROM migrate_upgrade();
SELECT * FROM vschemas;

-- a check naming a function of another schema: enforced for both shapes'
-- writes while in flight, validated by the job, kept at complete
SELECT migrate_register_online('4', 'invoices under 1000', $$[
    {"create_constraint": {"schema": "billing", "table": "invoices", "name": "invoices_small",
                           "type": "check", "check": "util.cents(amount) < 100000"}}]$$);
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('4');
INSERT INTO billing.invoices (id, user_id, amount, amount_cents) VALUES (2000, 1, 5000, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO migrate_billing_v4.invoices (id, user_id, amount, amount_cents) VALUES (2001, 1, 5000, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO migrate_billing_v4.invoices (id, user_id, amount, amount_cents) VALUES (2002, 1, 5, 500);
SELECT migrate_complete('4');
SELECT conname, convalidated, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'billing.invoices'::regclass AND conname = 'invoices_small';

DROP VIEW vschemas, leftovers;
DROP SCHEMA migrate_billing_v4 CASCADE;
DROP SCHEMA app, billing, util CASCADE;
DROP EXTENSION migrate;
