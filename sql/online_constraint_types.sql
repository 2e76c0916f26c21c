-- Online migrations III: create_constraint's primary_key and exclude, and
-- sql's on_complete, each through start -> rollback -> start -> wait ->
-- writes through both shapes -> complete, with the catalog looked at and
-- the constraint tried.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'accounts and bookings', $$
    CREATE TABLE accounts (id int, email text NOT NULL);
    INSERT INTO accounts SELECT g, 'a' || g || '@example.com' FROM generate_series(1, 200) g;
    CREATE TABLE bookings (id serial PRIMARY KEY, room int NOT NULL, span int4range NOT NULL,
                           cancelled boolean NOT NULL DEFAULT false);
    INSERT INTO bookings (room, span)
        SELECT 1 + g % 5, int4range(g * 10, g * 10 + 5) FROM generate_series(1, 100) g;
    CREATE TABLE audit_old (id int);
    INSERT INTO audit_old VALUES (0);
$$);
SELECT * FROM migrate_upgrade();

-- what start leaves behind (names with digits masked)
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p'))
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_migrate%'
UNION ALL SELECT 'constraint ' || conname || CASE WHEN convalidated THEN '' ELSE ' (not valid)' END
  FROM pg_constraint WHERE conname LIKE '\_migrate%'
UNION ALL SELECT 'relation ' || regexp_replace(relname, '\d+', 'N') FROM pg_class WHERE relname LIKE '\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;
-- the constraints and indexes of the tables, as the catalog has them
CREATE VIEW tables_catalog AS
SELECT c.conrelid::regclass::text AS tbl, 'constraint ' || c.conname || ' ' || c.contype::text || ' ' ||
       pg_get_constraintdef(c.oid) || CASE WHEN c.convalidated THEN '' ELSE ' (not valid)' END AS object
  FROM pg_constraint c
 WHERE c.conrelid::regclass::text IN ('accounts', 'bookings') AND c.conname NOT LIKE '\_migrate%'
   AND c.contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
UNION ALL
SELECT i.indrelid::regclass::text, 'index ' || i.indexrelid::regclass ||
       CASE WHEN i.indisprimary THEN ' primary' ELSE '' END ||
       CASE WHEN i.indisunique THEN ' unique' ELSE '' END ||
       CASE WHEN i.indisexclusion THEN ' exclusion' ELSE '' END ||
       CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
  FROM pg_index i WHERE i.indrelid::regclass::text IN ('accounts', 'bookings')
ORDER BY 1, 2;
-- the schema before a start, to compare with after its rollback
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object !~ '(snapshot|leftovers|tables_catalog)';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object !~ '(snapshot|leftovers|tables_catalog)'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;

------------------------------------------------------------------------
-- registration: what the server would refuse, refused before anything runs
------------------------------------------------------------------------
-- a table has one primary key
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "k", "type": "primary_key", "columns": ["room"]}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', $$[
    {"create_constraint": {"table": "accounts", "name": "k1", "type": "primary_key", "columns": ["id"]}},
    {"create_constraint": {"table": "accounts", "name": "k2", "type": "primary_key", "columns": ["email"]}}]$$);
SELECT migrate_register_online('2', 'bad', $$[
    {"create_table": {"table": "fresh", "columns": [{"name": "a", "type": "int"}]}},
    {"create_constraint": {"table": "fresh", "name": "fresh_pkey", "type": "primary_key", "columns": ["a"]}}]$$);
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "accounts", "name": "k", "type": "primary_key"}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "accounts", "name": "k", "type": "primary_key", "columns": ["nosuch"]}}]');
-- an exclusion constraint: its method, elements and operators
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "columns": ["span"], "elements": [{"column": "span", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "method": "brin", "elements": [{"column": "span", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "method": "heap", "elements": [{"column": "span", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "method": "nosuch", "elements": [{"column": "span", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "nosuch", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "expression": "span", "operator": "&&"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "&&; DROP TABLE bookings"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "<<"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "+"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "room", "operator": "="}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"expression": "span", "operator": "==="}]}}]');
-- operators are found on the search_path of the session that registers
CREATE SCHEMA ops;
CREATE FUNCTION ops.overlap(int4range, int4range) RETURNS boolean LANGUAGE sql IMMUTABLE
    AS 'SELECT $1 && $2';
CREATE OPERATOR ops.=== (LEFTARG = int4range, RIGHTARG = int4range, FUNCTION = ops.overlap,
                         COMMUTATOR = OPERATOR(ops.===));
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "==="}]}}]');
SET search_path = ops, public;
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "==="}]}}]');
RESET search_path;
-- or in the schema given with them, which must exist
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"column": "span", "operator": "ops.==="}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "bookings", "name": "x", "type": "exclude", "elements": [{"expression": "span", "operator": "nosuch.&&"}]}}]');
DROP SCHEMA ops CASCADE;
-- fields of one type are not for another
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "accounts", "name": "k", "type": "unique", "columns": ["id"], "where": "id > 0"}}]');
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

------------------------------------------------------------------------
-- primary_key: over a renamed column and an added one; the unique index
-- built concurrently by the job, NOT NULL a check it validates, both
-- made the primary key at complete
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'accounts: keyed by tenant and account_id', $$[
    {"rename_column": {"table": "accounts", "from": "id", "to": "account_id"}},
    {"add_column": {"table": "accounts", "column": {"name": "tenant", "type": "int", "default": "1"}}},
    {"create_constraint": {"table": "accounts", "name": "accounts_pkey", "type": "primary_key",
                           "columns": ["tenant", "account_id"]}}
]$$);
SELECT take_snapshot();
BEGIN;
SELECT * FROM migrate_upgrade();
-- held back, to look at it before the job runs
SELECT migrate_cancel();
COMMIT;
SELECT * FROM leftovers;
SELECT * FROM tables_catalog WHERE tbl = 'accounts';
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = '_migrate_pkey_nn';
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('2');
SELECT * FROM leftovers;
SELECT * FROM tables_catalog WHERE tbl = 'accounts';
-- the old shape: no NULL id, no id twice (in tenant 1, the default)
INSERT INTO accounts (id, email) VALUES (NULL, 'null@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (id, email) VALUES (1, 'again@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (id, email) VALUES (201, 'old.app@example.com');
-- the new shape: the key is (tenant, account_id)
SET search_path = migrate_public_v2, public;
INSERT INTO accounts (tenant, account_id, email) VALUES (2, 1, 'other.tenant@example.com');
INSERT INTO accounts (tenant, account_id, email) VALUES (1, 201, 'again@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (tenant, account_id, email) VALUES (NULL, 202, 'no.tenant@example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT tenant, account_id, email FROM accounts WHERE account_id IN (1, 201) ORDER BY 1, 2;
RESET search_path;
SELECT id, email FROM accounts WHERE id IN (1, 201) ORDER BY 1, 2;

-- SET NOT NULL scans nothing: the validated check proves it (the server
-- says so at DEBUG1)
SET client_min_messages = debug1;
SELECT migrate_complete();
SET client_min_messages = warning;
SELECT * FROM leftovers;
SELECT * FROM tables_catalog WHERE tbl = 'accounts';
SELECT attname, attnotnull FROM pg_attribute
 WHERE attrelid = 'accounts'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT indisprimary, indisunique, indisvalid, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indexrelid = 'accounts_pkey'::regclass;
INSERT INTO accounts (tenant, account_id, email) VALUES (2, 1, 'twice@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (tenant, account_id, email) VALUES (3, NULL, 'null@example.com');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (tenant, account_id, email) VALUES (3, 1, 'third.tenant@example.com');
SELECT count(*) FROM accounts;

------------------------------------------------------------------------
-- exclude: no two bookings of a room overlap, unless cancelled; built at
-- start (no index can become one), over a column and an expression read
-- against the new shape
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'bookings: no overlaps', $$[
    {"rename_column": {"table": "bookings", "from": "room", "to": "room_no"}},
    {"create_constraint": {"table": "bookings", "name": "bookings_no_overlap", "type": "exclude",
                           "method": "gist",
                           "elements": [{"column": "span", "operator": "&&"},
                                        {"expression": "int4range(room_no, room_no, '[]')", "operator": "&&"}],
                           "where": "NOT cancelled"}}
]$$);
-- a row that overlaps another: the start fails, and leaves nothing
INSERT INTO bookings (room, span) VALUES (2, int4range(10, 12));
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM migrate.migration WHERE version = '3';
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
UPDATE bookings SET cancelled = true WHERE room = 2 AND span = int4range(10, 12);

SELECT * FROM migrate_upgrade();
SELECT * FROM tables_catalog WHERE tbl = 'bookings';
-- enforced from the start, for both shapes
INSERT INTO bookings (room, span) VALUES (2, int4range(11, 13));
\echo :LAST_ERROR_SQLSTATE
SET search_path = migrate_public_v3, public;
INSERT INTO bookings (room_no, span) VALUES (2, int4range(11, 13));
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM tables_catalog WHERE tbl = 'bookings';

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('3');
SELECT * FROM leftovers;
-- the old shape: an overlap in another room, or a cancelled one, is fine
INSERT INTO bookings (room, span) VALUES (3, int4range(10, 12));
INSERT INTO bookings (room, span) VALUES (4, int4range(1000, 1010));
INSERT INTO bookings (room, span, cancelled) VALUES (4, int4range(1005, 1015), true);
-- the new shape
SET search_path = migrate_public_v3, public;
INSERT INTO bookings (room_no, span) VALUES (4, int4range(1009, 1020));
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_no, span) VALUES (4, int4range(1010, 1020));
SELECT room_no, span, cancelled FROM bookings WHERE room_no = 4 AND span && int4range(1000, 1100) ORDER BY span;
RESET search_path;
SELECT room, span, cancelled FROM bookings WHERE room = 4 AND span && int4range(1000, 1100) ORDER BY span;

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM tables_catalog WHERE tbl = 'bookings';
UPDATE bookings SET cancelled = false WHERE room_no = 4 AND span = int4range(1005, 1015);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO bookings (room_no, span) VALUES (5, int4range(1000, 2000));

------------------------------------------------------------------------
-- sql: on_complete runs at complete, with the checks up has
------------------------------------------------------------------------
SELECT migrate_register_online('4', 'bad', '[{"sql": {"up": "SELECT 1", "on_complete": "COMMIT"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('4', 'bad', '[{"sql": {"up": "SELECT 1", "on_complete": " ; "}}]');
SELECT migrate_register_online('4', 'bad', '[{"sql": {"down": "SELECT 1", "on_complete": "SELECT 2"}}]');
SELECT migrate_register_online('4', 'audit: a new table, the old one goes at complete', $$[
    {"sql": {"up": "CREATE TABLE audit_new (id int, note text)",
             "down": "DROP TABLE audit_new",
             "on_complete": "INSERT INTO audit_new SELECT id, 'moved' FROM audit_old; DROP TABLE audit_old"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
SELECT to_regclass('audit_new') AS audit_new, to_regclass('audit_old') AS audit_old;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('4');
INSERT INTO audit_old VALUES (1);
SET search_path = migrate_public_v4, public;
INSERT INTO audit_old VALUES (2);
RESET search_path;
SELECT migrate_complete();
SELECT to_regclass('audit_new') AS audit_new, to_regclass('audit_old') AS audit_old;
SELECT * FROM audit_new ORDER BY id;

-- on_complete alone: nothing at start, nothing to undo; a failing
-- on_complete leaves the migration ready
SELECT migrate_register_online('5', 'late', '[{"sql": {"on_complete": "INSERT INTO late VALUES (1)"}}]');
SELECT * FROM migrate_upgrade();
SELECT migrate_rollback();
SELECT * FROM migrate_upgrade();
SELECT migrate_wait('5');
SELECT migrate_complete();
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM migrate.migration WHERE version = '5';
CREATE TABLE late (id int);
SELECT migrate_complete();
SELECT * FROM late;

SELECT version, action FROM migrate.event WHERE version::numeric >= 2 ORDER BY id;
SELECT * FROM migrate_validate();

-- leave nothing behind
DROP SCHEMA migrate_public_v5 CASCADE;
DROP VIEW leftovers, tables_catalog;
DROP TABLE accounts, bookings, audit_new, late, snapshot CASCADE;
DROP FUNCTION take_snapshot(), changed_since_snapshot();
DROP EXTENSION migrate;
