-- Online migrations II: alter_column and the table and constraint
-- operations, each through start -> checks -> rollback -> checks -> start ->
-- complete -> checks, with writes through both shapes.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'league', $$
    CREATE TABLE teams (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO teams VALUES (1, 'red'), (2, 'blue'), (3, 'green');
    CREATE TABLE players (
        id      serial PRIMARY KEY,
        code    int NOT NULL DEFAULT 7000 CHECK (code > 0),
        team_id int REFERENCES teams ON DELETE CASCADE,
        nick    text,
        CONSTRAINT players_code_key UNIQUE (code));
    CREATE INDEX players_team_nick ON players (team_id, nick);
    COMMENT ON COLUMN players.code IS 'shirt code';
    INSERT INTO players (code, team_id, nick)
        SELECT g, 1 + g % 3, CASE WHEN g % 4 = 0 THEN NULL ELSE 'p' || g END
          FROM generate_series(1, 300) g;
$$, 'DROP TABLE players, teams');
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
-- the table's constraints and indexes, as the catalog has them
CREATE VIEW players_catalog AS
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) ||
       CASE WHEN convalidated THEN '' ELSE ' (not valid)' END AS object
  FROM pg_constraint WHERE conrelid = 'players'::regclass AND conname NOT LIKE '\_migrate%'
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid = 'players'::regclass
   AND indexrelid::regclass::text NOT LIKE '\_migrate%'
ORDER BY 1;
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object !~ '(snapshot|leftovers|players_catalog)';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object !~ '(snapshot|leftovers|players_catalog)'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;

------------------------------------------------------------------------
-- registration errors of the new operations
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "nick"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "id", "type": "bigint"}}]');
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "teams", "column": "id", "type": "uuid", "up": "gen_random_uuid()"}}]');
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "nick", "comment": "x", "up": "nick"}}]');
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "team_id", "references": {"name": "f", "table": "teams", "column": "id", "on_delete": "explode"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "team_id", "references": {"name": "f", "table": "teams", "column": "nosuch"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "players", "column": "code", "check": {"name": "players_code_check", "constraint": "code < 100"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_table": {"from": "teams", "to": "players"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_table": {"table": "nosuch"}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "players", "name": "c", "type": "primary"}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "players", "name": "c", "type": "foreign_key", "columns": ["team_id", "code"], "references": {"table": "teams", "columns": ["id"]}}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_constraint": {"table": "players", "name": "nosuch"}}]');
SELECT migrate_register_online('2', 'bad', '[{"rename_table": {"from": "teams", "to": "squads"}}, {"drop_table": {"table": "teams"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

------------------------------------------------------------------------
-- alter_column: a type change keeps FK, NOT NULL, unique, check, default,
-- index and comment; nick becomes NOT NULL, old NULLs become 'anon'
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'players: code bigint, nick not null', $$[
    {"alter_column": {"table": "players", "column": "code", "type": "bigint"}},
    {"alter_column": {"table": "players", "column": "team_id", "type": "bigint"}},
    {"alter_column": {"table": "players", "column": "nick", "nullable": false,
                      "up": "coalesce(nick, 'anon')"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM leftovers;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'migrate_public_v2.players'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) FILTER (WHERE nick = 'anon') AS anon, count(*) FILTER (WHERE nick IS NULL) AS null_nick,
       count(*) FILTER (WHERE code BETWEEN 1 AND 300) AS codes
  FROM migrate_public_v2.players;
-- old shape: a NULL nick gets up's value in the new shape
INSERT INTO players (code, team_id, nick) VALUES (1001, 1, NULL);
-- new shape: a NULL nick is refused while in flight; a big code is fine
SET search_path = migrate_public_v2, public;
INSERT INTO players (code, team_id, nick) VALUES (1002, 2, NULL);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, nick) VALUES (1003, 2, 'neo');
INSERT INTO players (code, team_id, nick) VALUES (1003, 2, 'dup');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, nick) VALUES (1004, 99, 'nobody');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, nick) VALUES (-5, 1, 'neg');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (team_id, nick) VALUES (3, 'default code') RETURNING code;
SELECT code, team_id, nick FROM players WHERE code > 1000 ORDER BY code;
RESET search_path;
SELECT code, team_id, nick FROM players WHERE code > 1000 ORDER BY code;

SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM players_catalog;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT attname, format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'players'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY attname;
SELECT * FROM players_catalog;
INSERT INTO players (code, team_id, nick) VALUES (1005, 1, NULL);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, nick) VALUES (1003, 1, 'dup');
\echo :LAST_ERROR_SQLSTATE
-- ON DELETE CASCADE still holds
DELETE FROM teams WHERE id = 3;
SELECT count(*) AS green_players FROM players WHERE team_id = 3;
SELECT count(*) FILTER (WHERE nick = 'anon') AS anon, count(*) FROM players;

------------------------------------------------------------------------
-- alter_column: new check, foreign key and unique, NOT VALID (or being
-- built) while in flight; default and comment alone
------------------------------------------------------------------------
SELECT migrate_register('3', 'badges', $$
    CREATE TABLE badges (id int PRIMARY KEY);
    INSERT INTO badges SELECT g FROM generate_series(0, 9) g;
    ALTER TABLE players ADD COLUMN badge int, ADD COLUMN handle text;
    UPDATE players SET badge = id % 10, handle = 'h' || id;
$$);
SELECT * FROM migrate_upgrade();
SELECT migrate_register_online('4', 'players: badge checked and referenced, handle unique', $$[
    {"alter_column": {"table": "players", "column": "badge",
                      "references": {"name": "players_badge_fk", "table": "badges", "column": "id",
                                     "on_delete": "set null"}}},
    {"alter_column": {"table": "players", "column": "handle", "unique": {"name": "players_handle_key"},
                      "check": {"name": "players_handle_check", "constraint": "handle <> ''"}}},
    {"alter_column": {"table": "players", "column": "nick", "default": "'rookie'", "comment": "shown"}}
]$$);
SELECT take_snapshot();
BEGIN;
SELECT * FROM migrate_upgrade();
-- held back, to look at it before the job runs
SELECT migrate_cancel();
COMMIT;
SELECT regexp_replace(conname, '\d+', 'N') AS conname, convalidated FROM pg_constraint
 WHERE conrelid = 'players'::regclass AND NOT convalidated ORDER BY 1;
SET search_path = migrate_public_v4, public;
INSERT INTO players (code, team_id, badge, handle) VALUES (2001, 1, 5, '') RETURNING nick;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, badge, handle) VALUES (2001, 1, 99, 'x') RETURNING nick;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO players (code, team_id, badge, handle) VALUES (2001, 1, 5, 'h2001') RETURNING nick;
-- a row the backfill has not reached yet, updated through the new shape:
-- what the backfill would fill is filled first, nothing is lost
UPDATE players SET nick = 'touched' WHERE code = 12;
RESET search_path;
SELECT code, badge, _migrate_new_badge, handle, _migrate_new_handle, nick, _migrate_pending
  FROM players WHERE code = 12;
SELECT migrate_complete();
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT regexp_replace(conname, '\d+', 'N') AS conname, convalidated FROM pg_constraint
 WHERE conrelid = 'players'::regclass AND conname ~ 'badge|handle' ORDER BY 1;
SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;

SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM players_catalog;
SELECT pg_get_expr(adbin, adrelid) AS nick_default FROM pg_attrdef
 WHERE adrelid = 'players'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'players'::regclass AND attname = 'nick');
SELECT col_description('players'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'players'::regclass AND attname = 'nick')) AS nick_comment;
DELETE FROM badges WHERE id = 5;
SELECT count(*) FILTER (WHERE badge IS NULL) AS badge_set_null FROM players;
INSERT INTO players (code, team_id, badge, handle) VALUES (2002, 1, 1, 'h1');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- rename_table, drop_table (soft), create_constraint, drop_constraint; and
-- composition: rename a table, then a column of it, then refer to it
------------------------------------------------------------------------
SELECT migrate_register('5', 'legacy', $$
    CREATE TABLE legacy (id int PRIMARY KEY, note text);
    INSERT INTO legacy VALUES (1, 'old');
$$);
SELECT * FROM migrate_upgrade();
SELECT migrate_register_online('6', 'teams become squads', $$[
    {"rename_table": {"from": "teams", "to": "squads"}},
    {"rename_column": {"table": "squads", "from": "name", "to": "title"}},
    {"create_constraint": {"table": "players", "name": "players_squad_fk", "type": "foreign_key",
                           "columns": ["team_id"],
                           "references": {"table": "squads", "columns": ["id"], "on_delete": "cascade"}}},
    {"create_constraint": {"table": "squads", "name": "squads_title_key", "type": "unique", "columns": ["title"]}},
    {"create_constraint": {"table": "squads", "name": "squads_title_check", "type": "check", "check": "title <> ''"}},
    {"drop_constraint": {"table": "players", "name": "players_team_id_fkey"}},
    {"drop_table": {"table": "legacy"}}
]$$);
SELECT take_snapshot();
SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
SELECT * FROM leftovers;
-- the old shape: teams and legacy as they were
SELECT id, name FROM teams ORDER BY id;
INSERT INTO legacy VALUES (2, 'still writable');
SELECT * FROM legacy ORDER BY id;
-- the new shape: squads with title, no legacy
SET search_path = migrate_public_v6, public;
SELECT id, title FROM squads ORDER BY id;
INSERT INTO squads VALUES (4, 'yellow');
INSERT INTO squads VALUES (5, '');
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
SELECT * FROM migrate_public_v6.legacy;
\echo :LAST_ERROR_SQLSTATE
SELECT relname FROM pg_class WHERE relname ~ 'legacy' ORDER BY 1;

SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM legacy ORDER BY id;

SELECT * FROM migrate_upgrade();
SELECT migrate_wait();
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT to_regclass('teams') AS teams, to_regclass('legacy') AS legacy, to_regclass('squads') AS squads;
SELECT attname FROM pg_attribute WHERE attrelid = 'squads'::regclass AND attnum > 0 ORDER BY attnum;
SELECT * FROM players_catalog;
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'squads'::regclass
   AND contype <> 'n' ORDER BY 1;  -- NOT NULL: a pg_constraint row from 18 on
DELETE FROM squads WHERE id = 1;
SELECT count(*) AS red_players FROM players WHERE team_id = 1;
SELECT * FROM migrate_validate();

-- leave nothing behind
DROP SCHEMA migrate_public_v6 CASCADE;
DROP VIEW leftovers, players_catalog;
DROP TABLE players, squads, badges, snapshot CASCADE;
DROP FUNCTION take_snapshot(), changed_since_snapshot();
DROP EXTENSION migrate;
