-- migrate_verify: up, down, up of a pending migration in a subtransaction
-- that is always rolled back; down must restore the schema exactly.
CREATE EXTENSION migrate;

SELECT migrate_register('1', 'books', $$
    CREATE TABLE books (id int PRIMARY KEY, title text NOT NULL);
    CREATE INDEX books_title ON books (title);
$$, 'DROP TABLE books');
SELECT migrate_verify('1');

-- nothing stays: no table, still pending; the check is in the history
SELECT to_regclass('books') AS books;
SELECT version, state FROM migrate.status;
SELECT version, action, detail FROM migrate.event WHERE action = 'verify';

-- a down migration that forgets an index is caught, naming the index
SELECT migrate_upgrade();
SELECT migrate_register('2', 'books.author', $$
    ALTER TABLE books ADD COLUMN author text;
    CREATE INDEX books_title_lower ON books (lower(title));
$$, 'ALTER TABLE books DROP COLUMN author');
SELECT migrate_verify('2');
\echo :LAST_ERROR_SQLSTATE
-- (a sequence too, and the list has every object)
SELECT migrate_register('2', 'books.author', $$
    ALTER TABLE books ADD COLUMN author text;
    CREATE INDEX books_title_lower ON books (lower(title));
    CREATE SEQUENCE isbn_seq;
$$, 'ALTER TABLE books DROP COLUMN author');
SELECT migrate_verify('2');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('isbn_seq') AS isbn_seq, to_regclass('books_title_lower') AS books_title_lower;

-- so is one that restores a column with another type, default or nullability
SELECT migrate_register('2', 'books.title', $$
    ALTER TABLE books ALTER COLUMN title TYPE varchar(200);
    ALTER TABLE books ALTER COLUMN title SET DEFAULT 'untitled';
$$, $$
    ALTER TABLE books ALTER COLUMN title TYPE text;
    ALTER TABLE books ALTER COLUMN title DROP NOT NULL;
$$);
SELECT migrate_verify('2');
\echo :LAST_ERROR_SQLSTATE

-- and one whose second up gives another schema than the first
CREATE TABLE runs (n int);
SELECT migrate_register('2', 'not repeatable', $$
    INSERT INTO runs VALUES (1);
    DO $do$ BEGIN
        IF (SELECT count(*) FROM runs) = 1 THEN
            EXECUTE 'CREATE TABLE shelf (id int)';
        ELSE
            EXECUTE 'CREATE TABLE shelf (id bigint)';
        END IF;
    END $do$;
$$, 'DROP TABLE shelf');
SELECT migrate_verify('2');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS runs FROM runs;

-- an error inside up or down is raised as it is, and nothing stays
SELECT migrate_register('2', 'fails in down', 'CREATE TABLE shelf (id int)', 'DROP TABLE shelf_typo');
SELECT migrate_verify('2');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('shelf') AS shelf;

-- migrations below it that are still pending are applied first, then undone
SELECT migrate_register('2', 'shelf', 'CREATE TABLE shelf (id int PRIMARY KEY)', 'DROP TABLE shelf');
SELECT migrate_register('3', 'shelf.books', $$
    ALTER TABLE books ADD COLUMN shelf_id int REFERENCES shelf;
$$, 'ALTER TABLE books DROP COLUMN shelf_id');
SELECT migrate_verify('3');
SELECT to_regclass('shelf') AS shelf;
SELECT version, state FROM migrate.status;

-- refusals
SELECT migrate_verify('1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('4', 'no way back', 'DROP TABLE runs');
SELECT migrate_verify('4');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_verify('9');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_verify(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('5', 'concurrently', 'CREATE INDEX CONCURRENTLY b_id ON books (id)',
                        'DROP INDEX CONCURRENTLY b_id', transactional => false);
SELECT migrate_verify('5');
\echo :LAST_ERROR_SQLSTATE

-- the CI recipe: verify every pending migration, in order
SELECT migrate_register('4', 'no way back', 'DROP TABLE runs', 'CREATE TABLE runs (n int)');
SELECT version, migrate_verify(version) FROM migrate.migration
 WHERE state = 'pending' AND kind = 'sql' AND transactional ORDER BY version_key;

SELECT * FROM migrate_downgrade('0');
DROP TABLE runs;
DROP EXTENSION migrate;
