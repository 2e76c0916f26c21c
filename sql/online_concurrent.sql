-- Several online migrations in flight at once: the next pending migration
-- starts alongside the ones in flight when it is an online migration whose
-- tables are none of theirs and not linked to theirs by a foreign key
-- (one it would create too) or by inheritance; any other waits (one on the
-- same table, one with an sql operation, a plain one).  The later
-- one's version schema shows both new shapes.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'library', $$
    CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE books (id int PRIMARY KEY, title text NOT NULL);
    CREATE TABLE reviews (id int PRIMARY KEY, book_id int REFERENCES books, body text);
    INSERT INTO authors SELECT g, 'Author ' || g FROM generate_series(1, 200) g;
    INSERT INTO books SELECT g, 'Book ' || g FROM generate_series(1, 300) g;
$$, 'DROP TABLE reviews, books, authors');
SELECT migrate_register_online('2', 'authors: full_name, handle', $$[
    {"rename_column": {"table": "authors", "from": "name", "to": "full_name"}},
    {"add_column": {"table": "authors", "column": {"name": "handle", "type": "text", "nullable": false},
                    "up": "lower(replace(name, ' ', '_'))"}}
]$$);
SELECT migrate_register_online('3', 'books: heading, short', $$[
    {"rename_column": {"table": "books", "from": "title", "to": "heading"}},
    {"add_column": {"table": "books", "column": {"name": "short", "type": "text"}, "up": "left(title, 4)"}}
]$$);
-- reviews references books: it waits for 3
SELECT migrate_register_online('4', 'reviews: stars', $$[
    {"add_column": {"table": "reviews", "column": {"name": "stars", "type": "int"}, "up": "0"}}
]$$);
SELECT migrate_register('5', 'plain', 'CREATE TABLE shelves (id int)', 'DROP TABLE shelves');

-- (active or ready: whether its job is done yet is timing)
CREATE VIEW flight AS
SELECT version, CASE WHEN state IN ('active', 'ready') THEN 'in flight' ELSE state END AS state
  FROM migrate.migration WHERE version <> '1' ORDER BY version_key;
CREATE VIEW vschemas AS
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%' ORDER BY 1;
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p'))
UNION ALL SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass FROM pg_trigger WHERE tgname LIKE '\_migrate%'
ORDER BY 1;

SET client_min_messages = notice;
SELECT * FROM migrate_upgrade();          -- 1 applied, 2 started
SELECT * FROM migrate_upgrade();          -- 3 starts alongside 2
SELECT * FROM migrate_upgrade();          -- 4 waits for 3 (foreign key)
SET client_min_messages = warning;
SELECT * FROM flight;
SELECT * FROM vschemas;
SELECT migrate_version_schema();          -- the latest in flight

-- with two in flight, complete and rollback want to be told which
SELECT migrate_complete();
\echo :LAST_ERROR_SQLSTATE
-- 3's version schema shows 2's new shape through 2's views: 2 cannot be
-- rolled back before 3
SELECT migrate_rollback('2');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_rollback('3');
SELECT migrate_rollback('2');
SELECT * FROM flight;
SELECT * FROM vschemas;
SELECT * FROM leftovers;

-- again, and this time to the end; both background jobs run
SELECT version, action FROM migrate_upgrade();
SELECT version, action FROM migrate_upgrade();
SELECT migrate_wait('2'), migrate_wait('3');
SELECT * FROM flight;

-- the old application: the tables
INSERT INTO authors (id, name) VALUES (1001, 'Old Writer');
INSERT INTO books (id, title) VALUES (1001, 'Old Book');
-- the application of version 2: 2's new shape, books as they are
SET search_path = migrate_public_v2, public;
INSERT INTO authors (id, full_name, handle) VALUES (1002, 'Two Writer', 'two');
INSERT INTO books (id, title) VALUES (1002, 'Two Book');
SELECT * FROM books WHERE id > 1000 ORDER BY id;
-- the application of version 3: both new shapes; 2's through 3's schema
SET search_path = migrate_public_v3, public;
INSERT INTO authors (id, full_name, handle) VALUES (1003, 'Three Writer', 'three');
INSERT INTO authors (id, full_name, handle) VALUES (1004, 'No Handle', NULL);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO books (id, heading, short) VALUES (1003, 'Three Book', 'mine');
UPDATE authors SET handle = 'renamed' WHERE id = 1;
SELECT * FROM authors WHERE id > 1000 OR id = 1 ORDER BY id;
SELECT * FROM books WHERE id > 1000 OR id = 1 ORDER BY id;
RESET search_path;
-- and by qualified names
INSERT INTO migrate_public_v3.authors (id, full_name, handle) VALUES (1005, 'Qualified', 'q');
SELECT id, name, _migrate_new_handle FROM authors WHERE id IN (1001, 1005) ORDER BY id;

-- out of order: 3 completes first; 2's view of books is made again on the
-- table as 3 leaves it
SELECT migrate_complete('3');
SELECT * FROM flight;
SELECT attname FROM pg_attribute WHERE attrelid = 'migrate_public_v2.books'::regclass AND attnum > 0 ORDER BY attnum;
SET search_path = migrate_public_v2, public;
INSERT INTO books (id, heading, short) VALUES (1004, 'After 3', 'aft');
RESET search_path;
SELECT migrate_complete('2');
SELECT * FROM flight;
SELECT * FROM vschemas;
SELECT * FROM leftovers;
SELECT * FROM authors WHERE id > 1000 ORDER BY id;
SELECT * FROM books WHERE id > 1000 ORDER BY id;
SELECT count(*) FILTER (WHERE handle IS NULL) AS no_handle,
       count(*) FILTER (WHERE handle = lower(replace(full_name, ' ', '_'))) AS backfilled
  FROM authors;
SELECT count(*) FILTER (WHERE short = left(heading, 4)) AS backfilled FROM books;
-- 3's schema still serves its application, through 2's
SET search_path = migrate_public_v3, public;
INSERT INTO authors (id, full_name, handle) VALUES (1006, 'Later', 'later');
RESET search_path;

-- now 4 starts; 5 waits for it; 4's complete drops the version schemas
-- kept before it, the newest first (3's views are over 2's), and the plain
-- migration 5 drops 4's
SET client_min_messages = notice;
SELECT * FROM migrate_upgrade();
SELECT * FROM migrate_upgrade();
SELECT migrate_wait('4');
SELECT migrate_complete();
SELECT * FROM migrate_upgrade();
SET client_min_messages = warning;
SELECT * FROM flight;
SELECT * FROM vschemas;

-- what would link the next migration's tables to those of one in flight
-- makes it wait too: a foreign key it creates to one of them (with
-- create_constraint, alter_column or create_table), a partition or an
-- inheritance child of one of them
CREATE FUNCTION next_waits(operations jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    PERFORM migrate_register_online('8', 'next', operations);
    BEGIN
        PERFORM migrate_upgrade();
        SELECT m.state INTO state FROM migrate.migration m WHERE version = '8';
        -- undone, to try the next one
        RAISE EXCEPTION USING ERRCODE = 'XXNXT',
            MESSAGE = CASE WHEN state = 'pending' THEN 'waits' ELSE 'starts' END;
    EXCEPTION WHEN SQLSTATE 'XXNXT' THEN
        RETURN SQLERRM;
    END;
END $$;
SELECT migrate_register('6', 'events, notes', $$
    CREATE TABLE events (id int, at int) PARTITION BY RANGE (id);
    CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);
    CREATE TABLE notes (id int, body text);
    CREATE TABLE notes_child (extra text) INHERITS (notes);
$$, 'DROP TABLE notes_child, notes, events');
SELECT migrate_register_online('7', 'bio, label, tag', $$[
    {"add_column": {"table": "authors", "column": {"name": "bio", "type": "text"}}},
    {"add_column": {"table": "events", "column": {"name": "label", "type": "text"}}},
    {"add_column": {"table": "notes", "column": {"name": "tag", "type": "text"}}}
]$$);
SELECT version, action FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('7');
SELECT next_waits($$[{"create_constraint": {"table": "shelves", "name": "shelves_author_fk",
    "type": "foreign_key", "columns": ["id"], "references": {"table": "authors", "columns": ["id"]}}}]$$);
SELECT next_waits($$[{"alter_column": {"table": "shelves", "column": "id",
    "references": {"name": "shelves_author_fk", "table": "authors", "column": "id"}}}]$$);
SELECT next_waits($$[{"create_table": {"table": "loans", "columns": [{"name": "author_id", "type": "int"}],
    "constraints": [{"name": "loans_author_fk", "type": "foreign_key", "columns": ["author_id"],
                     "references": {"table": "authors", "columns": ["id"]}}]}}]$$);
SELECT next_waits($$[{"create_index": {"table": "events_1", "name": "events_1_at", "columns": ["at"]}}]$$);
SELECT next_waits($$[{"add_column": {"table": "notes_child", "column": {"name": "seen", "type": "boolean"}}}]$$);
-- one on a table of the migration in flight waits, and so does one with
-- an sql operation, which may touch any table
SELECT next_waits($$[{"add_column": {"table": "authors", "column": {"name": "nick", "type": "text"}}}]$$);
SELECT next_waits($$[{"sql": {"up": "CREATE TABLE sql_made (id int)", "down": "DROP TABLE sql_made"}}]$$);
-- on a table of its own, it starts
SELECT next_waits($$[{"add_column": {"table": "shelves", "column": {"name": "label", "type": "text"}}}]$$);
SET client_min_messages = notice;
SELECT version, action FROM migrate_upgrade();
SET client_min_messages = warning;
SELECT * FROM flight;
SELECT migrate_rollback('8');
SELECT migrate_rollback('7');
SELECT * FROM leftovers;

DROP FUNCTION next_waits(jsonb);
DROP VIEW flight, vschemas, leftovers;
DROP TABLE shelves, reviews, books, authors, notes_child, notes, events;
DROP EXTENSION migrate;
