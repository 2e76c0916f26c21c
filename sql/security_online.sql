-- Online migrations and security: the code migrate generates names every
-- object it uses, whatever the writer's search_path, and the views of a
-- version schema carry the tables' column privileges.  A role that reads
-- the tables and builds on a kept version schema (a view over its views, a
-- function of its row types) holds up neither the next online migration's
-- complete nor the next plain migration, and loses nothing; a rollback
-- names the object in its way.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

CREATE ROLE security_online_app LOGIN;
CREATE ROLE security_online_hostile LOGIN;
CREATE SCHEMA util;
CREATE FUNCTION util.norm(text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(trim($1)) $$;
CREATE TABLE so_users (id int PRIMARY KEY, email varchar(100), nick text, note text);
INSERT INTO so_users VALUES (1, ' One@Example.COM ', 'one', 'x');
GRANT USAGE ON SCHEMA public TO security_online_app;
GRANT USAGE ON SCHEMA util TO PUBLIC;
GRANT SELECT (id, email), UPDATE (email) ON so_users TO security_online_app;
-- row level security needs the reader's own checks: its view stays
-- security_invoker, column grants or not
CREATE TABLE so_rls (id int, owner name);
ALTER TABLE so_rls ENABLE ROW LEVEL SECURITY;
GRANT SELECT (id) ON so_rls TO security_online_app;

-- the expressions are resolved with the search_path of who registers and
-- starts: norm is util.norm there (util before public), = is pg_catalog's
SET search_path = util, public;
SELECT migrate_register_online('2', 'normalize', $$[
  {"add_column": {"table": "so_users", "column": {"name": "email_norm", "type": "text"},
                  "up": "CASE WHEN email = '' THEN NULL ELSE norm(email) END"}},
  {"drop_column": {"table": "so_users", "column": "note", "down": "CASE WHEN handle = '' THEN NULL ELSE norm(handle) END"}},
  {"rename_column": {"table": "so_users", "from": "nick", "to": "handle"}},
  {"create_index": {"table": "so_users", "name": "so_users_norm",
                    "columns": ["email_norm"], "where": "email <> norm('x')"}}
]$$);
SELECT * FROM migrate_upgrade();
RESET search_path;
CALL settle();
SELECT migrate_wait();

-- then a hostile role with CREATE on public plants lookalikes of what
-- the expressions use: a function, an operator (found before pg_catalog's
-- by a writer whose path has public first), and a function in pg_temp
GRANT CREATE ON SCHEMA public TO security_online_hostile;
CREATE TABLE so_planted (what text);
GRANT INSERT ON so_planted TO PUBLIC;
SET ROLE security_online_hostile;
CREATE FUNCTION public.norm(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.so_planted VALUES ('norm ran as ' || current_user);
    RETURN 'planted';
END $$;
CREATE FUNCTION public.so_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.so_planted VALUES ('= ran as ' || current_user);
    RETURN false;
END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.so_eq);
RESET ROLE;
CREATE FUNCTION pg_temp.norm(text) RETURNS text LANGUAGE sql AS $$ SELECT 'temp'::text $$;

-- the generated code names what it uses: nothing planted appears in it
SELECT p.proname, p.proconfig,
       pg_get_functiondef(p.oid) LIKE '%util.norm(%' AS qualified,
       pg_get_functiondef(p.oid) ~ '[^.]norm\(' AS unqualified
  FROM pg_proc p WHERE p.proname LIKE '\_migrate\_sync%';
-- (the triggers' conditions are stored analysed: they resolve nothing
-- when they run; they tell the shape of the writer to the function)
-- (the view the condition names is by OID: shown as <view> and resolved)
SELECT regexp_replace(pg_get_triggerdef(oid), '\(\d+\)::oid', '(<view>)::oid') AS def,
       (regexp_match(pg_get_triggerdef(oid), '\((\d+)\)::oid'))[1]::oid::regclass AS view
  FROM pg_trigger WHERE tgname LIKE '\_migrate%' ORDER BY tgname;
SELECT pg_get_indexdef('so_users_norm'::regclass) LIKE '%util.norm(%' AS index_qualified;

-- a superuser with the default search_path writes through the old shape ...
SHOW search_path;
INSERT INTO so_users (id, email, nick, note) VALUES (2, ' Two@Example.COM', 'two', 'y');
UPDATE so_users SET email = 'Three@X' WHERE id = 1;
-- ... and through the new shape, with public before pg_catalog
SET search_path = migrate_public_v2, public, pg_catalog;
INSERT INTO so_users (id, email, handle) VALUES (3, 'Four@X', 'Four');
UPDATE so_users SET handle = 'Five' WHERE id = 3;
RESET search_path;
SELECT id, email, nick, note, _migrate_new_email_norm FROM so_users ORDER BY id;
SELECT * FROM so_planted;

-- column privileges reach the view: granted columns read, others refused
SET ROLE security_online_app;
SELECT id, email FROM migrate_public_v2.so_users ORDER BY id;
SELECT handle FROM migrate_public_v2.so_users;
UPDATE migrate_public_v2.so_users SET email = 'six@x' WHERE id = 3;
SELECT id, email FROM so_users ORDER BY id;
RESET ROLE;
SELECT table_name, grantee, privilege_type, column_name FROM information_schema.column_privileges
 WHERE table_schema = 'migrate_public_v2' AND grantee LIKE 'security_online%' ORDER BY 1, 2, 3, 4;
SELECT relname, reloptions FROM pg_class
 WHERE relnamespace = 'migrate_public_v2'::regnamespace ORDER BY 1;

SELECT migrate_complete();
SELECT * FROM so_planted;

------------------------------------------------------------------------
-- every view keeps column privileges: alter_column (a shadow column),
-- rename_table, drop_table
------------------------------------------------------------------------
CREATE TABLE so_orders (id int PRIMARY KEY, qty int, secret text);
INSERT INTO so_orders VALUES (1, 10, 's');
CREATE TABLE so_legacy (id int, label text);
INSERT INTO so_legacy VALUES (1, 'old');
GRANT SELECT (id, qty) ON so_orders TO security_online_app;
GRANT SELECT (label) ON so_legacy TO security_online_app;
SELECT migrate_register_online('3', 'orders', $$[
  {"alter_column": {"table": "so_orders", "column": "qty", "type": "bigint"}},
  {"rename_table": {"from": "so_orders", "to": "so_purchases"}},
  {"drop_table": {"table": "so_legacy"}}
]$$);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SET ROLE security_online_app;
SELECT id, qty FROM migrate_public_v3.so_purchases;
SELECT secret FROM migrate_public_v3.so_purchases;
SELECT label FROM so_legacy;
SELECT id FROM so_legacy;
RESET ROLE;
SELECT migrate_complete();
SET ROLE security_online_app;
SELECT id, qty FROM so_purchases;
SELECT secret FROM so_purchases;
RESET ROLE;

------------------------------------------------------------------------
-- a role that only reads the tables, with a schema of its own, builds on
-- a kept version schema: a view over one of its views, a function of one
-- of its row types.  The next online migration of those tables completes
-- and the next plain migration runs, each keeping what that role's objects
-- need (a NOTICE says so) and dropping nothing of that role's; a rollback
-- names the role's object that stands in its way
------------------------------------------------------------------------
CREATE SCHEMA so_app AUTHORIZATION security_online_app;
SET ROLE security_online_app;
CREATE VIEW so_app.mine AS SELECT id, qty FROM migrate_public_v3.so_purchases;
CREATE FUNCTION so_app.users() RETURNS SETOF migrate_public_v3.so_users
    LANGUAGE sql AS 'SELECT NULL::migrate_public_v3.so_users WHERE false';
RESET ROLE;
SELECT migrate_register_online('4', 'purchases.total', $$[
  {"add_column": {"table": "so_purchases", "column": {"name": "total", "type": "bigint"},
                  "up": "qty * 2"}},
  {"add_column": {"table": "so_users", "column": {"name": "seen", "type": "boolean"}}}
]$$);
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('4');
SET client_min_messages = notice;
SELECT migrate_complete('4');
SET client_min_messages = warning;
SET ROLE security_online_app;
SELECT * FROM so_app.mine;
SELECT count(*) FROM so_app.users();
RESET ROLE;
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%' ORDER BY 1;
-- a rollback: what stands in its way is named
SELECT migrate_register_online('5', 'purchases.note', $$[
  {"add_column": {"table": "so_purchases", "column": {"name": "note", "type": "text"}}}
]$$);
SELECT version, action FROM migrate_upgrade();
SET ROLE security_online_app;
CREATE VIEW so_app.mine5 AS SELECT id, qty FROM migrate_public_v5.so_purchases;
RESET ROLE;
SELECT migrate_rollback('5');
DROP VIEW so_app.mine5;
SELECT migrate_rollback('5');
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('5');
SELECT migrate_complete('5');
-- the plain migration runs, and keeps what the role's objects need
SELECT migrate_register('6', 'plain', 'CREATE TABLE so_shelves (id int)', 'DROP TABLE so_shelves');
SET client_min_messages = notice;
SELECT version, action FROM migrate_upgrade('6');
SET client_min_messages = warning;
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%' ORDER BY 1;
SET ROLE security_online_app;
SELECT * FROM so_app.mine;
RESET ROLE;
DROP SCHEMA so_app CASCADE;

-- leave nothing behind
DROP SCHEMA migrate_public_v3 CASCADE;
DROP TABLE so_users, so_purchases, so_planted, so_rls, so_shelves;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.so_eq(text, text), public.norm(text);
DROP SCHEMA util CASCADE;
REVOKE ALL ON SCHEMA public FROM security_online_app, security_online_hostile;
DROP ROLE security_online_app, security_online_hostile;
DROP EXTENSION migrate;
