-- Online migrations III: create_index with each of its options (per-column
-- collation, sort order, NULLS FIRST/LAST, operator class and its
-- parameters; method, predicate, storage parameters, INCLUDE, unique and
-- NULLS NOT DISTINCT) through start -> rollback -> start -> wait ->
-- complete, the definitions checked with pg_get_indexdef, with writes
-- through both shapes while in flight.  The INCLUDE columns follow a
-- rename like the key columns, and go with a dropped column.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'accounts', $$
    CREATE SCHEMA coll;
    CREATE COLLATION coll."my C" FROM "C";
    CREATE TABLE accounts (
        id      int PRIMARY KEY,
        email   text NOT NULL,
        handle  text,
        score   int,
        note    text,
        legacy  text);
    INSERT INTO accounts
        SELECT g, 'u' || g || '@example.com', CASE WHEN g = 400 THEN NULL ELSE 'h' || g END,
               g % 50, 'n' || g, 'l' || g
          FROM generate_series(1, 400) g;
$$, 'DROP TABLE accounts; DROP SCHEMA coll CASCADE');
SELECT * FROM migrate_upgrade();

-- the table's indexes, as the catalog has them
CREATE VIEW accounts_indexes AS
SELECT pg_get_indexdef(indexrelid) AS definition, indisvalid
  FROM pg_index WHERE indrelid = 'accounts'::regclass
   AND indexrelid::regclass::text NOT LIKE '\_migrate%'
ORDER BY 1;
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object !~ '(snapshot|accounts_indexes)';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object !~ '(snapshot|accounts_indexes)'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;

------------------------------------------------------------------------
-- the options, checked against the catalog at registration
------------------------------------------------------------------------
-- a collation is found on the search_path of the role that registers
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "email", "collate": "my C"}]}}]');
\echo :LAST_ERROR_SQLSTATE
-- names are names, not SQL: no quotes, no case folding
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "email", "collate": "\"C\""}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "email", "opclass": "TEXT_PATTERN_OPS"}]}}]');
-- an operator class of another method, parameters of one that has none
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "score", "opclass": "int4_minmax_multi_ops"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "email", "opclass": {"name": "text_pattern_ops", "params": {"siglen": 8}}}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i", "method": "brin",
    "columns": [{"column": "score", "opclass": {"name": "int4_minmax_multi_ops", "params": {"values_per_range": 1}}}]}}]');
-- what the method cannot do
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i", "method": "hash",
    "columns": [{"column": "email", "sort": "desc"}]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i", "method": "hash",
    "columns": ["email"], "include": ["id"]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i", "method": "brin",
    "columns": ["score"], "unique": true}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i", "method": "heap",
    "columns": ["score"]}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["handle"], "nulls_not_distinct": true}}]');
-- storage parameters: the method's own, valid values
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["score"], "storage_parameters": {"pages_per_range": 4}}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["score"], "storage_parameters": {"fillfactor": 5}}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["score"], "storage_parameters": {"fillfactor": "70) WHERE (false"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["score"], "storage_parameters": {"fillfactor=10": 70}}}]');
-- an INCLUDE column that is not there
SELECT migrate_register_online('2', 'bad', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": ["score"], "include": ["nosuch"]}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

------------------------------------------------------------------------
-- every option; a rename of an INCLUDE column, a drop of another
------------------------------------------------------------------------
SET search_path = coll, public;
SELECT migrate_register_online('2', 'accounts: indexes', $$[
    {"create_index": {"table": "accounts", "name": "accounts_email_sorted",
                      "columns": [{"column": "email", "collate": "my C", "sort": "desc", "nulls": "last"},
                                  {"column": "handle", "sort": "ASC", "nulls": "First"}]}},
    {"create_index": {"table": "accounts", "name": "accounts_handle_key",
                      "columns": [{"column": "handle", "opclass": "text_pattern_ops", "collate": "C"}],
                      "unique": true, "nulls_not_distinct": true, "include": ["note"]}},
    {"create_index": {"table": "accounts", "name": "accounts_legacy_cover",
                      "columns": ["id"], "include": ["legacy"]}},
    {"create_index": {"table": "accounts", "name": "accounts_score_brin", "method": "brin",
                      "columns": [{"column": "score",
                                   "opclass": {"name": "int4_minmax_multi_ops",
                                               "params": {"values_per_range": 16}}}],
                      "storage_parameters": {"pages_per_range": 32, "autosummarize": true}}},
    {"create_index": {"table": "accounts", "name": "accounts_email_hash", "method": "hash",
                      "columns": ["email"], "where": "score > 10",
                      "storage_parameters": {"fillfactor": "60"}}},
    {"create_index": {"table": "accounts", "name": "accounts_score_cover",
                      "columns": ["score", {"column": "id", "sort": "desc"}],
                      "include": ["note"],
                      "storage_parameters": {"fillfactor": 70, "deduplicate_items": false}}},
    {"rename_column": {"table": "accounts", "from": "note", "to": "remark"}},
    {"drop_column": {"table": "accounts", "column": "legacy", "down": "'l' || id"}},
    {"create_index": {"table": "accounts", "name": "accounts_remark",
                      "columns": [{"column": "remark", "opclass": "varchar_pattern_ops"}],
                      "where": "remark <> ''"}}
]$$);
RESET search_path;
SELECT take_snapshot();
-- started with the collation's schema on the search_path as well
SET search_path = coll, public;
SELECT * FROM migrate_upgrade();
RESET search_path;
CALL settle();
SELECT migrate_wait();
SELECT * FROM accounts_indexes;

-- the old shape writes; the unique index holds, NULLs not distinct
INSERT INTO accounts (id, email, handle, score, note, legacy) VALUES (1001, 'old@example.com', 'old', 20, 'from old', 'x');
INSERT INTO accounts (id, email, handle, score, note, legacy) VALUES (1002, 'dup@example.com', 'old', 20, 'dup', 'x');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO accounts (id, email, handle, score, note, legacy) VALUES (1003, 'null@example.com', NULL, 20, 'null', 'x');
\echo :LAST_ERROR_SQLSTATE
-- the new shape writes: remark, no legacy
SET search_path = migrate_public_v2, public;
INSERT INTO accounts (id, email, handle, score, remark) VALUES (1004, 'new@example.com', 'new', 30, 'from new');
INSERT INTO accounts (id, email, handle, score, remark) VALUES (1005, 'dup2@example.com', 'new', 30, 'dup');
\echo :LAST_ERROR_SQLSTATE
SELECT id, handle, remark FROM accounts WHERE id > 1000 ORDER BY id;
RESET search_path;
SELECT id, handle, note, legacy FROM accounts WHERE id > 1000 ORDER BY id;

SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM accounts_indexes;

-- again, now to complete
SET search_path = coll, public;
SELECT * FROM migrate_upgrade();
RESET search_path;
CALL settle();
SELECT migrate_wait();
SELECT * FROM accounts_indexes;
SET search_path = migrate_public_v2, public;
INSERT INTO accounts (id, email, handle, score, remark) VALUES (1006, 'new2@example.com', 'new2', 40, 'again');
RESET search_path;
INSERT INTO accounts (id, email, handle, score, note, legacy) VALUES (1007, 'old2@example.com', 'new2', 40, 'x', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_complete();
-- note is remark in the INCLUDE list; the index that included legacy went
-- with it
SELECT * FROM accounts_indexes;
INSERT INTO accounts (id, email, handle, score, remark) VALUES (1008, 'after@example.com', NULL, 1, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows, count(DISTINCT handle) AS handles FROM accounts;
SELECT * FROM migrate_validate();

------------------------------------------------------------------------
-- what depends on the column's type is checked at start: the operator
-- class must take it, the type must have collations
------------------------------------------------------------------------
BEGIN;
SELECT migrate_register_online('3', 'bad at start', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "score", "opclass": "text_pattern_ops"}]}}]');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT migrate_register_online('3', 'bad at start', '[{"create_index": {"table": "accounts", "name": "i",
    "columns": [{"column": "score", "collate": "C"}]}}]');
SELECT * FROM migrate_upgrade();
ROLLBACK;
SELECT count(*) AS registered FROM migrate.migration WHERE version = '3';

-- leave nothing behind
DROP SCHEMA migrate_public_v2 CASCADE;
DROP VIEW accounts_indexes;
DROP TABLE accounts, snapshot;
DROP SCHEMA coll CASCADE;
DROP FUNCTION take_snapshot(), changed_since_snapshot();
DROP EXTENSION migrate;
