-- Which shape a write comes from: a write through the version schema's
-- view is the new shape's, by its qualified name and with any search_path;
-- a write to the table is the old shape's, whatever the search_path.  Never
-- an old-shape rewrite of a new-shape write (up over a value written, or a
-- NULL that the new shape refuses replaced by up's value).  DROP EXTENSION
-- refuses (2BP01) while a kept version schema's views use the guard.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'reviews', $$
    CREATE TABLE reviews (id int PRIMARY KEY, body text NOT NULL, rating int);
    INSERT INTO reviews VALUES (1, 'good', 4), (2, 'meh', NULL);
$$, 'DROP TABLE reviews');
SELECT migrate_register_online('3', 'rating required, label', $$[
    {"alter_column": {"table": "reviews", "column": "rating", "nullable": false,
                      "up": "coalesce(rating, 0)", "down": "rating"}},
    {"add_column": {"table": "reviews", "column": {"name": "label", "type": "text"},
                    "up": "upper(body)"}}
]$$);
SELECT version, action FROM migrate_upgrade();
SELECT migrate_wait('3');
SHOW search_path;

-- by the qualified name, search_path without the version schema: a NULL the
-- new shape refuses fails (23514), it is not replaced by up's value
INSERT INTO migrate_public_v3.reviews (id, body, rating) VALUES (10, 'new', NULL);
\echo :LAST_ERROR_SQLSTATE
-- and what the new shape writes is kept, not recomputed by up
INSERT INTO migrate_public_v3.reviews (id, body, rating, label) VALUES (11, 'new', 5, 'mine');
UPDATE migrate_public_v3.reviews SET body = 'edited' WHERE id = 11;
UPDATE migrate_public_v3.reviews SET label = 'set' WHERE id = 1;
-- ON CONFLICT and RETURNING through the view, a data-modifying CTE
INSERT INTO migrate_public_v3.reviews AS r (id, body, rating, label) VALUES (11, 'x', 1, 'upserted')
    ON CONFLICT (id) DO UPDATE SET label = excluded.label RETURNING r.id, r.label;
WITH w AS (INSERT INTO migrate_public_v3.reviews (id, body, rating, label)
           VALUES (12, 'cte', 2, 'from cte') RETURNING id)
SELECT count(*) FROM w;
-- from inside a function
CREATE FUNCTION new_app_write(i int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO migrate_public_v3.reviews (id, body, rating, label) VALUES (i, 'fn', 3, 'from fn')
$$;
SELECT new_app_write(13);
-- the old shape, by the table's name: up fills label, NULL rating gets 0
INSERT INTO public.reviews (id, body, rating) VALUES (20, 'old', NULL);
UPDATE reviews SET body = 'old edited' WHERE id = 2;
-- a session with the version schema first on its search_path that names
-- the table itself writes the old shape (the columns it names are the old
-- ones), one that names the view writes the new shape
SET search_path = migrate_public_v3, public;
INSERT INTO public.reviews (id, body, rating) VALUES (21, 'old named', NULL);
INSERT INTO reviews (id, body, rating, label) VALUES (22, 'new', 1, 'path');
INSERT INTO reviews (id, body, rating) VALUES (23, 'new', NULL);
\echo :LAST_ERROR_SQLSTATE
RESET search_path;

-- the first statement of a new session (the library not loaded yet)
\c
SET client_min_messages = warning;
INSERT INTO migrate_public_v3.reviews (id, body, rating, label) VALUES (30, 'fresh', 1, 'first');
\c
SET client_min_messages = warning;
INSERT INTO migrate_public_v3.reviews (id, body, rating) VALUES (31, 'fresh', NULL);
\echo :LAST_ERROR_SQLSTATE
\c
SET client_min_messages = warning;
INSERT INTO reviews (id, body, rating) VALUES (32, 'fresh old', NULL);
-- ... and by a function or a DO block, in the first statement of a new
-- session: the view's guard loads the library as the write is planned,
-- so it is a new-shape write too (a NULL rating fails, a written rating
-- and label are kept), not one the search_path would call old
CREATE FUNCTION new_app_update(i int) RETURNS void LANGUAGE sql AS $$
    UPDATE migrate_public_v3.reviews SET rating = 9, label = 'updated by fn' WHERE id = i
$$;
\c
SET client_min_messages = warning;
SELECT new_app_write(33);
\c
SET client_min_messages = warning;
DO $$ BEGIN
    INSERT INTO migrate_public_v3.reviews (id, body, rating) VALUES (34, 'do', NULL);
END $$;
\echo :LAST_ERROR_SQLSTATE
\c
SET client_min_messages = warning;
DO $$ BEGIN
    INSERT INTO migrate_public_v3.reviews (id, body, rating, label) VALUES (35, 'do', 5, 'from do');
END $$;
\c
SET client_min_messages = warning;
SELECT new_app_update(20);
-- the guard is folded away: no filter in the plan of a read
EXPLAIN (COSTS OFF) SELECT * FROM migrate_public_v3.reviews;

SELECT id, body, rating, label FROM migrate_public_v3.reviews ORDER BY id;
SELECT migrate_complete('3');
SELECT id, body, rating, label FROM reviews ORDER BY id;

-- up and down with a subquery naming the row's columns (pgroll's own
-- benchmark writes its up so): the server writes them as table.column
-- inside the subquery, and the triggers answer to that name
SELECT migrate_register_online('4', 'subqueries', $$[
    {"add_column": {"table": "reviews", "column": {"name": "short", "type": "text"},
                    "up": "(SELECT CASE WHEN body IS NULL THEN 'none' ELSE left(body, 3) END)"}},
    {"alter_column": {"table": "reviews", "column": "label", "type": "varchar(20)",
                      "up": "(SELECT coalesce(label, 'no label'))",
                      "down": "(SELECT upper(label))"}}
]$$);
SELECT version, action FROM migrate_upgrade();
SELECT migrate_wait('4');
INSERT INTO reviews (id, body, rating, label) VALUES (40, 'old writer', 1, NULL);
INSERT INTO migrate_public_v4.reviews (id, body, rating, label, short) VALUES (41, 'new writer', 1, 'lower', 'nw');
SELECT id, body, label, short FROM migrate_public_v4.reviews WHERE id IN (1, 40, 41) ORDER BY id;
SELECT id, label FROM reviews WHERE id IN (1, 40, 41) ORDER BY id;
SELECT migrate_complete('4');

-- the trigger condition is executable by any writer and tells nothing
-- about other sessions
SELECT has_function_privilege('public', 'migrate_online_new_shape(oid)', 'execute');
SELECT migrate_online_new_shape(0);

DROP FUNCTION new_app_write(int);
-- the kept version schema's views depend on the guard: DROP EXTENSION
-- refuses (2BP01) until that schema goes, and leaves everything in place
\set VERBOSITY terse
DROP EXTENSION migrate;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) AS views FROM pg_views WHERE schemaname = 'migrate_public_v4';
DROP SCHEMA migrate_public_v4 CASCADE;
DROP TABLE reviews;
DROP EXTENSION migrate;
