-- migrate_check: every rule, positive and negative, and the catalog-aware
-- variants (an empty table, a table created earlier in the migration, a
-- large table); migrate.check at registration; -- migrate:allow.
CREATE EXTENSION migrate;
SET migrate.large_table_rows = 1000;

CREATE TABLE big (id bigint PRIMARY KEY, a int, v varchar(20), doc jsonb, at timestamptz);
INSERT INTO big SELECT g, g, 'v' || g, '{}', now() FROM generate_series(1, 2000) g;
CREATE TABLE empty (id bigint PRIMARY KEY, a int, v varchar(20));
CREATE TABLE child (id bigint PRIMARY KEY, big_id bigint REFERENCES big);
CREATE TYPE mood AS ENUM ('ok');
CREATE DOMAIN positive AS int;
VACUUM ANALYZE big, empty, child;

-- findings, with sizes masked (they vary with the platform's page layout)
CREATE FUNCTION findings(sql text) RETURNS TABLE (severity text, rule text, statement int, message text)
LANGUAGE sql AS $$
    SELECT severity, rule, statement,
           regexp_replace(message, ', \d+ (bytes|kB|MB)\)', ', N \1)', 'g')
      FROM migrate_check(sql) ORDER BY statement, rule
$$;

------------------------------------------------------------------------
-- the same SQL on a large table, an empty one, one created in the migration
------------------------------------------------------------------------
SELECT * FROM findings($$
    ALTER TABLE big ALTER COLUMN a TYPE bigint;
    ALTER TABLE empty ALTER COLUMN a TYPE bigint;
    CREATE TABLE fresh (id bigint PRIMARY KEY, a int);
    ALTER TABLE fresh ALTER COLUMN a TYPE bigint;
    ALTER TABLE nosuch ALTER COLUMN a TYPE bigint;
$$);
-- binary coercible: no rewrite
SELECT * FROM findings($$
    ALTER TABLE big ALTER COLUMN v TYPE varchar(40);
    ALTER TABLE big ALTER COLUMN v TYPE text;
$$);
-- narrowing
SELECT * FROM findings('ALTER TABLE big ALTER COLUMN v TYPE varchar(5)');
SELECT * FROM findings('ALTER TABLE empty ALTER COLUMN v TYPE varchar(5)');

-- adding columns: a volatile default, a stored generated column, SET LOGGED
SELECT * FROM findings($$
    ALTER TABLE big ADD COLUMN u uuid DEFAULT gen_random_uuid();
    ALTER TABLE big ADD COLUMN n int DEFAULT 0;
    ALTER TABLE big ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED;
    ALTER TABLE big SET UNLOGGED;
    ALTER TABLE empty ADD COLUMN u uuid DEFAULT gen_random_uuid();
$$);

-- NOT NULL without default: fails on rows, works on an empty table
SELECT * FROM findings($$
    ALTER TABLE big ADD COLUMN x int NOT NULL;
    ALTER TABLE empty ADD COLUMN x int NOT NULL;
    ALTER TABLE big ADD COLUMN y int NOT NULL DEFAULT 0;
$$);

-- SET NOT NULL: scans unless a validated check backs it (live or earlier)
SELECT * FROM findings('ALTER TABLE big ALTER COLUMN a SET NOT NULL');
SELECT * FROM findings($$
    ALTER TABLE big ADD CONSTRAINT big_a_nn CHECK (a IS NOT NULL) NOT VALID;
    ALTER TABLE big VALIDATE CONSTRAINT big_a_nn;
    ALTER TABLE big ALTER COLUMN a SET NOT NULL;
$$);
ALTER TABLE big ADD CONSTRAINT big_a_not_null CHECK (a IS NOT NULL);
SELECT * FROM findings('ALTER TABLE big ALTER COLUMN a SET NOT NULL');
ALTER TABLE big DROP CONSTRAINT big_a_not_null;

-- CHECK and FOREIGN KEY without NOT VALID; UNIQUE and PRIMARY KEY in place
SELECT * FROM findings($$
    ALTER TABLE big ADD CONSTRAINT big_a_check CHECK (a > 0);
    ALTER TABLE big ADD CONSTRAINT big_a_check2 CHECK (a > 0) NOT VALID;
    ALTER TABLE child ADD CONSTRAINT child_fk FOREIGN KEY (big_id) REFERENCES big;
    ALTER TABLE big ADD CONSTRAINT big_a_key UNIQUE (a);
    ALTER TABLE big ADD CONSTRAINT big_a_key2 UNIQUE USING INDEX big_pkey;
    ALTER TABLE empty ADD CONSTRAINT empty_a_check CHECK (a > 0);
$$);

-- indexes: CONCURRENTLY or not, in a transaction block, existing ones
SELECT * FROM findings($$
    CREATE INDEX big_a ON big (a);
    CREATE INDEX CONCURRENTLY big_a2 ON big (a);
    CREATE INDEX empty_a ON empty (a);
    CREATE INDEX big_id_again ON big (id);
    DROP INDEX big_pkey;
    DROP INDEX CONCURRENTLY big_pkey;
$$);
SELECT * FROM findings($$
    BEGIN;
    CREATE INDEX CONCURRENTLY big_a ON big (a);
    COMMIT;
    CREATE INDEX CONCURRENTLY big_a ON big (a);
$$);

-- what breaks running code; created in the migration, nothing does
SELECT * FROM findings($$
    ALTER TABLE big DROP COLUMN doc;
    ALTER TABLE big RENAME COLUMN v TO w;
    ALTER TABLE big RENAME TO huge;
    DROP TABLE empty;
    CREATE TABLE scratch (id bigint PRIMARY KEY, a int);
    ALTER TABLE scratch RENAME COLUMN a TO b;
    ALTER TABLE scratch DROP COLUMN b;
    DROP TABLE scratch;
$$);

-- rewrites of whole tables, cascading truncates, enum values, domains
SELECT * FROM findings($$
    VACUUM FULL big;
    VACUUM big;
    CLUSTER big USING big_pkey;
    TRUNCATE big CASCADE;
    TRUNCATE child;
    ALTER TYPE mood ADD VALUE 'great';
    ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);
    ALTER DOMAIN positive ADD CONSTRAINT positive_check2 CHECK (VALUE > 0) NOT VALID;
$$);

-- types and names
SELECT * FROM findings($$
    CREATE TABLE t1 (id int PRIMARY KEY, doc json, at timestamp, ok timestamptz, good jsonb);
    CREATE TABLE t2 (id serial, PRIMARY KEY (id));
    CREATE TABLE t3 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
    ALTER TABLE big ADD COLUMN meta json;
$$);
SELECT * FROM findings(format('CREATE TABLE %s (id bigint PRIMARY KEY)', repeat('t', 64)));
SELECT * FROM findings(format('CREATE TABLE t4 (%s int); CREATE TABLE t5 (id bigint PRIMARY KEY, doc json)', repeat('c', 70)));
SELECT * FROM findings(format(E'-- migrate:allow identifier-too-long\nCREATE TABLE t4 (%s int)', repeat('c', 70)));

-- the lock timeout: migrate's own, or SET, or none
SELECT * FROM findings('ALTER TABLE big ADD COLUMN z int');
SET migrate.lock_timeout = 0;
SELECT * FROM findings('ALTER TABLE big ADD COLUMN z int');
SELECT * FROM findings($$SET lock_timeout = '2s'; ALTER TABLE big ADD COLUMN z int$$);
SELECT * FROM findings('ALTER TABLE empty ADD COLUMN z int');
RESET migrate.lock_timeout;

-- -- migrate:allow suppresses a rule for the next statement; unused ones are reported
SELECT * FROM findings($$
    -- migrate:allow index-not-concurrently
    CREATE INDEX big_a ON big (a);
    CREATE INDEX big_a3 ON big (a);
    -- migrate:allow drop-table
    CREATE INDEX big_a4 ON big (a);
$$);

-- the threshold is a setting
SET migrate.large_table_rows = 100000;
SELECT * FROM findings('ALTER TABLE big ALTER COLUMN a TYPE bigint');
RESET migrate.large_table_rows;
SET migrate.large_table_rows = 1000;

-- bad input
SELECT * FROM migrate_check(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_check('ALTER TABLE big ADD COLUMN');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM migrate_check('');

------------------------------------------------------------------------
-- at registration: migrate.check
------------------------------------------------------------------------
SHOW migrate."check";
SELECT migrate_register('1', 'a rewrite', 'ALTER TABLE big ALTER COLUMN a TYPE bigint',
                        'ALTER TABLE big ALTER COLUMN a TYPE int');
-- notes (info) are not reported at registration
SELECT migrate_register('2', 'small', 'ALTER TABLE empty ALTER COLUMN a TYPE bigint');
SET migrate."check" = error;
SELECT migrate_register('3', 'refused', $$
    CREATE INDEX big_v ON big (v);
    ALTER TABLE big DROP COLUMN doc;
$$);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM migrate.migration WHERE version = '3';
SELECT migrate_register('3', 'allowed', $$
    -- migrate:allow index-not-concurrently
    CREATE INDEX big_v ON big (v);
$$);
-- re-registering what is registered checks nothing again
SELECT migrate_register('1', 'a rewrite', 'ALTER TABLE big ALTER COLUMN a TYPE bigint',
                        'ALTER TABLE big ALTER COLUMN a TYPE int');
SET migrate."check" = off;
SELECT migrate_register('4', 'unchecked', 'ALTER TABLE big DROP COLUMN doc');
SET migrate."check" = bogus;
RESET migrate."check";
SELECT version, name FROM migrate.migration ORDER BY version_key;

DROP FUNCTION findings(text);
DROP TABLE big, empty, child CASCADE;
DROP TYPE mood;
DROP DOMAIN positive;
DROP EXTENSION migrate;
