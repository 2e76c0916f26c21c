-- Online (expand/contract) migrations: registration checks, and each
-- operation through start -> checks -> rollback -> checks -> start ->
-- complete -> checks.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'shop', $$
    CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text);
    CREATE INDEX users_email ON users (email);
    INSERT INTO users (name, email)
        SELECT 'user' || g, 'u' || g || '@example.com' FROM generate_series(1, 500) g;
$$, 'DROP TABLE users');
SELECT * FROM migrate_upgrade();

-- what start leaves behind besides the schema of views
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_migrate%'
UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE conname LIKE '\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;

-- the schema before a start, to compare with after its rollback
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object NOT LIKE '%snapshot%' AND object NOT LIKE '%leftovers%';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object NOT LIKE '%snapshot%' AND object NOT LIKE '%leftovers%'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;

------------------------------------------------------------------------
-- registration: the whole document is checked; nothing is registered
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'bad', '{"add_column": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[]');
SELECT migrate_register_online('2', 'bad', NULL);
SELECT migrate_register_online('2', 'bad', '[{"add_column": {}, "drop_column": {}}]');
SELECT migrate_register_online('2', 'bad', '[{"truncate_table": {"table": "users"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"table": "users", "column": "email", "colour": "red"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"table": "users"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"table": "users", "column": 7}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_column": {"table": "nosuch", "from": "a", "to": "b"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_column": {"table": "users", "from": "nosuch", "to": "b"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"rename_column": {"table": "users", "from": "name", "to": "email"}}]');
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "email", "type": "text"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_table": {"table": "users", "columns": [{"name": "a", "type": "int"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "users", "name": "users_email", "columns": ["name"]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "users", "name": "i", "columns": ["nosuch"]}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_index": {"name": "users_pkey"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_index": {"name": "nosuch"}}]');
SELECT migrate_register_online('2', 'bad', format('[{"rename_column": {"table": "users", "from": "name", "to": "%s"}}]', repeat('x', 64))::jsonb);
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int", "nullable": false}}}]');
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "nosuchtype"}}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int"}, "up": "1; DROP TABLE users"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int"}, "up": "1) FROM users WHERE (true"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"sql": {"up": "SELECT 1"}}, {"drop_index": {"name": "users_email"}}]');
SELECT migrate_register_online('2', 'bad', '[{"sql": {"up": "COMMIT"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"schema": "nosuch", "table": "users", "column": "email"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"table": "users", "column": "name"}}]');
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int"}}}, {"drop_table": {"table": "users"}}]');
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

-- an expression is analysed at start: a start that fails leaves nothing
SELECT migrate_register_online('2', 'bad up', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int"}, "up": "nosuch + 1"}}]');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.migration WHERE version = '2';
SELECT * FROM leftovers;
SELECT migrate_register_online('2', 'bad up', '[{"add_column": {"table": "users", "column": {"name": "n", "type": "int"}, "up": "name"}}]');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM leftovers;
SELECT state FROM migrate.migration WHERE version = '2';

-- nothing in flight to complete or roll back
SELECT migrate_complete();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_rollback();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_version_schema() IS NULL AS no_version_schema;

------------------------------------------------------------------------
-- add_column (NOT NULL, filled by up) and rename_column
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'users.display', $$[
    {"add_column": {"table": "users",
                    "column": {"name": "display", "type": "varchar(40)", "nullable": false,
                               "comment": "shown in the header"},
                    "up": "upper(name) || '!'"}},
    {"rename_column": {"table": "users", "from": "name", "to": "full_name"}}
]$$);
SELECT take_snapshot();
ANALYZE users;
BEGIN;
SELECT * FROM migrate_upgrade();
-- its job is held back (cancelled before it starts) to show what waits for it
SELECT migrate_cancel();
COMMIT;
SELECT version, state, job LIKE 'cancelled%' AS job_cancelled FROM migrate.status WHERE version = '2';
-- what it measures progress against: every row of users is to be
-- backfilled (500), not the half the planner guesses for a new column
SELECT rows_total FROM migrate.job WHERE version = '2';
-- later migrations wait while it is in flight
SELECT migrate_register('3', 'later', 'CREATE TABLE later (id int)');
SELECT * FROM migrate_upgrade();
-- it cannot be completed before its backfill is done
SELECT migrate_complete('2');
\echo :LAST_ERROR_SQLSTATE
-- nor downgraded past: it is rolled back by migrate_rollback
SELECT * FROM migrate_downgrade('0');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume();
SELECT migrate_wait();
SELECT migrate_version_schema(), migrate_version_schema('2');
SELECT version, state, reversible FROM migrate.status WHERE version = '2';
SELECT * FROM leftovers;

-- the old shape: the table as it was; the new one: the views
SELECT attname FROM pg_attribute WHERE attrelid = 'migrate_public_v2.users'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) FILTER (WHERE display = upper(full_name) || '!') AS backfilled, count(*)
  FROM migrate_public_v2.users;
SELECT col_description('migrate_public_v2.users'::regclass, 3) IS NULL AS comment_on_view,
       col_description('users'::regclass, attnum) AS comment_on_shadow
  FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = '_migrate_new_display';
-- old application: writes get display from up; reads see what the new one wrote
INSERT INTO users (name, email) VALUES ('olga', 'olga@example.com');
UPDATE users SET name = 'user1b' WHERE id = 1;
-- new application: its own display; a NULL one is refused while in flight
SET search_path = migrate_public_v2, public;
INSERT INTO users (full_name, display) VALUES ('nina', 'Nina');
INSERT INTO users (full_name, display) VALUES ('nobody', NULL);
\echo :LAST_ERROR_SQLSTATE
UPDATE users SET full_name = 'user2b' WHERE id = 2;
SELECT id, full_name, email, display FROM users WHERE id IN (1, 2) OR full_name IN ('olga', 'nina') ORDER BY full_name;
RESET search_path;
SELECT id, name, email FROM users WHERE id IN (1, 2) OR name IN ('olga', 'nina') ORDER BY name;

-- rollback: the schema is as before start
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT version, state FROM migrate.migration WHERE version = '2';
SELECT action FROM migrate.event WHERE version = '2' ORDER BY id;
SELECT migrate_rollback('2');
\echo :LAST_ERROR_SQLSTATE

-- start again, complete
SELECT * FROM migrate_upgrade('2');
SELECT migrate_wait('2');
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT attname, attnotnull, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT col_description(attrelid, attnum) AS comment
  FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'display';
SELECT count(*) FILTER (WHERE display = upper(full_name) || '!') AS from_up, count(*) FROM users;
INSERT INTO users (full_name, display) VALUES ('nobody', NULL);
\echo :LAST_ERROR_SQLSTATE
-- the new application's search_path still works after complete
SET search_path = migrate_public_v2, public;
SELECT count(*) FROM users;
RESET search_path;
SELECT version, state, applied_at IS NOT NULL AS applied, reversible FROM migrate.status WHERE version IN ('2', '3');
SELECT migrate_rollback('2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_upgrade();

------------------------------------------------------------------------
-- drop_column with down; drop_index; create_index
------------------------------------------------------------------------
SELECT migrate_register_online('4', 'users.email goes', $$[
    {"drop_column": {"table": "users", "column": "email",
                     "down": "lower(full_name) || '@example.com'"}},
    {"drop_index": {"name": "users_email"}},
    {"create_index": {"table": "users", "name": "users_display", "columns": ["display"],
                      "unique": true, "where": "display <> 'X'"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT indexrelid::regclass AS index, indisvalid, indisunique, pg_get_expr(indpred, indrelid) AS predicate
  FROM pg_index WHERE indrelid = 'users'::regclass ORDER BY 1;
SELECT attname FROM pg_attribute WHERE attrelid = 'migrate_public_v4.users'::regclass AND attnum > 0 ORDER BY attnum;
-- the new application cannot see email; what it writes gets email from down
SET search_path = migrate_public_v4, public;
INSERT INTO users (full_name, display) VALUES ('Pia', 'pia');
INSERT INTO users (full_name, display) VALUES ('Pia 2', 'pia');
\echo :LAST_ERROR_SQLSTATE
SELECT email FROM users;
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
SELECT email FROM users WHERE full_name = 'Pia';
-- the version schema of the previous migration is gone: the plain
-- migration 3 dropped it before it ran (the tables have its shape)
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%' ORDER BY 1;

SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT indexrelid::regclass AS index FROM pg_index WHERE indrelid = 'users'::regclass ORDER BY 1;
-- the migration before it lost its version schema at this complete
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%' ORDER BY 1;

------------------------------------------------------------------------
-- create_table, and add_column with a volatile default
------------------------------------------------------------------------
SELECT migrate_register_online('5', 'orders', $$[
    {"create_table": {"table": "orders", "columns": [
        {"name": "id", "type": "bigserial", "primary_key": true},
        {"name": "user_id", "type": "integer", "nullable": false},
        {"name": "note", "type": "text", "default": "'none'", "comment": "free text"}]}},
    {"add_column": {"table": "orders", "column": {"name": "placed_at", "type": "timestamptz", "default": "now()"}}},
    {"add_column": {"table": "users", "column": {"name": "token", "type": "text",
                                                 "default": "md5(random()::text)"}}}
]$$);
SELECT take_snapshot();
BEGIN;
SELECT * FROM migrate_upgrade();
SELECT migrate_cancel();
COMMIT;
-- before the backfill: a token the new application sets is kept
SET search_path = migrate_public_v5, public;
UPDATE users SET token = 'mine' WHERE id = 1;
RESET search_path;
SELECT migrate_resume();
SELECT migrate_wait();
SELECT _migrate_new_token AS token FROM users WHERE id = 1;
SELECT count(*) FILTER (WHERE _migrate_new_token IS NULL) AS unfilled,
       count(DISTINCT _migrate_new_token) = count(*) AS distinct_tokens FROM users;
-- an old-shape update does not draw a new token
CREATE TEMP TABLE tokens AS SELECT id, _migrate_new_token AS token FROM users;
UPDATE users SET full_name = full_name || '.';
SELECT count(*) AS tokens_changed FROM users JOIN tokens USING (id) WHERE _migrate_new_token <> token;
SET search_path = migrate_public_v5, public;
INSERT INTO orders (user_id) VALUES (1) RETURNING id, note, placed_at IS NOT NULL AS placed;
RESET search_path;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT to_regclass('orders') AS orders;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT migrate_complete();
SELECT * FROM leftovers;
\d orders

------------------------------------------------------------------------
-- sql: up at start, down at rollback; alone in its migration
------------------------------------------------------------------------
SELECT migrate_register_online('6', 'raw sql', $$[
    {"sql": {"up": "CREATE TABLE audit (id int); CREATE INDEX audit_id ON audit (id)",
             "down": "DROP TABLE audit"}}
]$$);
SELECT * FROM migrate_upgrade();
SELECT to_regclass('audit') AS audit, to_regclass('migrate_public_v6.audit') AS audit_view;
SELECT migrate_rollback();
SELECT to_regclass('audit') AS audit, to_regnamespace('migrate_public_v6') AS version_schema;
SELECT * FROM migrate_upgrade();
SELECT migrate_complete();
SELECT to_regclass('audit') AS audit;

-- without down, it cannot be rolled back
SELECT migrate_register_online('7', 'one way', '[{"sql": {"up": "CREATE TABLE oneway (id int)"}}]');
SELECT * FROM migrate_upgrade();
SELECT migrate_rollback();
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM migrate.migration WHERE version = '7';
SELECT migrate_complete();

-- the job of a migration rolled back is over: migrate_resume leaves it alone
SELECT migrate_register_online('8', 'held back', '[{"add_column": {"table": "users", "column": {"name": "extra", "type": "text"}, "up": "lower(full_name)"}}]');
BEGIN;
SELECT * FROM migrate_upgrade();
SELECT migrate_cancel();
COMMIT;
-- an active migration's definition cannot change
SELECT migrate_register_online('8', 'held back', '[{"add_column": {"table": "users", "column": {"name": "extra", "type": "text"}, "up": "upper(full_name)"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_rollback();
SELECT migrate_resume();
SELECT migrate_wait();
SELECT state FROM migrate.job WHERE version = '8';
SELECT * FROM leftovers;

-- a completed online migration is not downgraded
SELECT * FROM migrate_downgrade('1');

-- the whole history
SELECT version, action FROM migrate.event WHERE version::numeric >= 2 ORDER BY id;
SELECT * FROM migrate_validate();


-- leave nothing behind
DROP SCHEMA migrate_public_v7 CASCADE;
DROP TABLE users, orders, later, audit, oneway, snapshot CASCADE;
DROP VIEW leftovers;
DROP FUNCTION take_snapshot(), changed_since_snapshot();
DROP EXTENSION migrate;
