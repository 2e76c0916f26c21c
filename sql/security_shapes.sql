-- Which shape a write comes from, against an application role that only
-- writes the tables and tries to have its old-shape writes taken for
-- new-shape ones (or the reverse): a row locked FOR UPDATE through the
-- view, a statement writing both through the view and to the table, a view
-- of its own over the view, a prepared statement, a SECURITY DEFINER
-- function, a COPY with the version schema first on its search_path, a
-- function or a rule writing the table in the first statement of a session
-- (before the library is loaded), an error in a nested statement.  Every
-- old-shape write gets up's values (qty * 10 in the shadow column,
-- upper(note) in label), every new-shape write down's (qty / 10), or the
-- statement fails.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

CREATE ROLE security_shapes_app LOGIN;
GRANT USAGE ON SCHEMA public TO security_shapes_app;
CREATE TABLE ss_items (id int PRIMARY KEY, qty int, note text);
INSERT INTO ss_items SELECT g, g, 'n' || g FROM generate_series(1, 3) g;
GRANT SELECT, INSERT, UPDATE ON ss_items TO security_shapes_app;
SELECT migrate_register_online('2', 'qty bigint, label', $$[
  {"alter_column": {"table": "ss_items", "column": "qty", "type": "bigint",
                    "up": "qty * 10", "down": "(qty / 10)::int"}},
  {"add_column": {"table": "ss_items", "column": {"name": "label", "type": "text"},
                  "up": "upper(note)"}}
]$$);
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('2');

-- what the old application writes, from a function, and through a rule
-- of a view of the application's own whose actions write both shapes
CREATE FUNCTION ss_old_write(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ss_items (id, qty, note) VALUES (i, 7, 'from fn');
    RETURN i + 1;
END $$;
CREATE VIEW ss_both AS SELECT id, qty, note FROM ss_items;
CREATE RULE ss_both_insert AS ON INSERT TO ss_both DO INSTEAD (
    INSERT INTO public.ss_items (id, qty, note) VALUES (NEW.id, NEW.qty, NEW.note);
    INSERT INTO migrate_public_v2.ss_items (id, qty, note, label)
        VALUES (NEW.id + 1, NEW.qty * 10, NEW.note, 'by rule'));
GRANT INSERT ON ss_both TO security_shapes_app;
-- a view of the application's own over the version schema's view, and a
-- SECURITY DEFINER function that writes through the view
CREATE VIEW ss_mine AS SELECT id, qty, note, label FROM migrate_public_v2.ss_items;
GRANT INSERT, UPDATE, SELECT ON ss_mine TO security_shapes_app;
CREATE FUNCTION ss_definer_write(i int) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
    INSERT INTO migrate_public_v2.ss_items (id, qty, note, label) VALUES (i, 70, 'definer', 'mine')
$$;

SET ROLE security_shapes_app;
-- a row locked through the view is no write through it: the update of
-- the table is the old shape's
WITH l AS (SELECT id FROM migrate_public_v2.ss_items WHERE id = 1 FOR UPDATE)
UPDATE public.ss_items SET qty = 100, note = 'locked' WHERE id IN (SELECT id FROM l);
-- a statement that writes through the view and to the table is refused:
-- its rows cannot be told apart
WITH a AS (INSERT INTO migrate_public_v2.ss_items (id, qty, note, label)
           VALUES (10, 1000, 'new', 'mine') RETURNING id)
INSERT INTO public.ss_items (id, qty, note) VALUES (11, 7, 'old');
\echo :LAST_ERROR_SQLSTATE
WITH a AS (UPDATE migrate_public_v2.ss_items SET label = 'mine' WHERE id = 2 RETURNING id)
UPDATE public.ss_items SET qty = 5 WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
-- a COPY names the table: the old shape, whatever the search_path
SET search_path = migrate_public_v2, public;
COPY public.ss_items (id, qty, note) FROM stdin;
20	8	copied
\.
RESET search_path;
-- an error in a nested statement leaves nothing behind: the next writes
-- are told right
DO $$
BEGIN
    BEGIN
        INSERT INTO migrate_public_v2.ss_items (id, qty, note, label) VALUES (1, 1, 'dup', 'x');
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
    INSERT INTO public.ss_items (id, qty, note) VALUES (21, 9, 'after error');
END $$;
INSERT INTO migrate_public_v2.ss_items (id, qty, note, label) VALUES (22, 90, 'new after', 'mine');
-- through a view over the version schema's view: the new shape; a prepared
-- statement writing the table: the old one; a SECURITY DEFINER function
-- writing the view: the new one
INSERT INTO ss_mine (id, qty, note, label) VALUES (23, 30, 'own view', 'mine');
PREPARE ss_old (int) AS INSERT INTO public.ss_items (id, qty, note) VALUES ($1, 2, 'prepared');
EXECUTE ss_old(24);
EXECUTE ss_old(25);
DEALLOCATE ss_old;
SELECT ss_definer_write(26);
RESET ROLE;

-- the first statement of a session, before the library is loaded: a write
-- through the view whose function writes the table ...
\c
SET client_min_messages = warning;
SET ROLE security_shapes_app;
INSERT INTO migrate_public_v2.ss_items (id, qty, note, label)
VALUES (ss_old_write(30), 500, 'view', 'mine');
-- ... a rule writing the table, then the view ...
\c
SET client_min_messages = warning;
SET ROLE security_shapes_app;
INSERT INTO ss_both VALUES (40, 4, 'rule');
-- ... and a COPY with the version schema first on the search_path
\c
SET client_min_messages = warning;
SET ROLE security_shapes_app;
SET search_path = migrate_public_v2, public;
COPY public.ss_items (id, qty, note) FROM stdin;
50	8	copied first
\.
RESET search_path;
RESET ROLE;

-- old-shape rows: _migrate_new_qty = qty * 10, label = upper(note); new
-- ones: qty = _migrate_new_qty / 10, their label kept
SELECT id, qty, note, _migrate_new_qty, _migrate_new_label FROM ss_items ORDER BY id;

-- the condition itself, called by anyone with anything: false outside
-- a write through the view it names
SET ROLE security_shapes_app;
SELECT migrate_online_new_shape(NULL) AS null_oid, migrate_online_new_shape(0) AS zero,
       migrate_online_new_shape('pg_class'::regclass) AS catalog,
       migrate_online_new_shape('migrate_public_v2.ss_items'::regclass) AS view;
INSERT INTO migrate_public_v2.ss_items (id, qty, note, label)
VALUES (60, 10, 'asks', migrate_online_new_shape('migrate_public_v2.ss_items'::regclass)::text);
SELECT id, qty, _migrate_new_label FROM ss_items WHERE id = 60;
RESET ROLE;

DROP VIEW ss_both, ss_mine;
SELECT migrate_rollback('2');
DROP FUNCTION ss_old_write(int), ss_definer_write(int);
DROP TABLE ss_items;
REVOKE ALL ON SCHEMA public FROM security_shapes_app;
DROP ROLE security_shapes_app;
DROP EXTENSION migrate;
