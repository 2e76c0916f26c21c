-- examples/online.sql: a zero-downtime change, after examples/deploy.sql.
--
-- users.full_name becomes users.name, and users gets a NOT NULL handle filled
-- from the e-mail address.  While the migration is in flight the old
-- application (search_path public) and the new one (search_path = the
-- migration's version schema) both read and write users; each sees what the
-- other wrote.  A walkthrough: unlike deploy.sql it is run once.
\set ON_ERROR_STOP 1

SELECT migrate_register_online('2026.04.01', 'users: full_name becomes name; handle', $$[
    {"rename_column": {"table": "users", "from": "full_name", "to": "name"}},
    {"add_column": {"table": "users",
                    "column": {"name": "handle", "type": "text", "nullable": false},
                    "up": "split_part(email, '@', 1)"}},
    {"create_index": {"table": "users", "name": "users_handle_idx", "columns": ["handle"]}}
]$$);

-- Start (expand) it: in this transaction, the new shape appears as views in
-- a version schema; the backfill and the index build go to a worker.
SELECT * FROM migrate_upgrade();
SELECT migrate_wait('2026.04.01');    -- 'ready': backfilled and indexed
SELECT migrate_version_schema();      -- migrate_public_v2026_04_01

-- The old application, unchanged, keeps writing the table itself ...
INSERT INTO users (email, full_name, display_name) VALUES ('old.app@example.com', 'Old App', 'old');
-- ... while the new one puts the version schema first on its search_path.
SELECT set_config('search_path', migrate_version_schema() || ', public', false);
INSERT INTO users (email, name, display_name, handle) VALUES ('new.app@example.com', 'New App', 'new', 'newbie');
SELECT id, email, name, handle FROM users WHERE email LIKE '%.app@example.com' ORDER BY id;
RESET search_path;
SELECT id, email, full_name FROM users WHERE email LIKE '%.app@example.com' ORDER BY id;

-- Once every old application instance is gone: contract.
SELECT migrate_complete();
\d users
SELECT version, name, kind, state, duration FROM migrate_status() WHERE kind = 'online';
SELECT version, action, detail FROM migrate.event WHERE version = '2026.04.01' ORDER BY id;
