/* migrate--1.0--1.1.sql: update a 1.0 install to 1.1 (in development) */

\echo Use "ALTER EXTENSION migrate UPDATE TO '1.1'" to load this file. \quit

-- Every change to the extension's SQL objects made for 1.1 goes here and into
-- migrate--1.1.sql; test oldversions compares the two results.

-- migrate_await: the wait for deploy steps, holding no snapshot while it sleeps
CREATE PROCEDURE migrate_await(version text DEFAULT NULL, timeout interval DEFAULT NULL,
                               INOUT state text DEFAULT NULL)
AS 'MODULE_PATHNAME', 'migrate_await'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_await(text, interval, text)
    IS 'as migrate_wait, committing between looks so that it holds no snapshot that index builds wait for; for deploy steps';
REVOKE EXECUTE ON PROCEDURE migrate_await(text, interval, text) FROM PUBLIC;
