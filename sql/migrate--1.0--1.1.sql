/* migrate--1.0--1.1.sql: update a 1.0 install to 1.1 (in development) */

\echo Use "ALTER EXTENSION migrate UPDATE TO '1.1'" to load this file. \quit

-- Every change to the extension's SQL objects made for 1.1 goes here and into
-- migrate--1.1.sql; test oldversions compares the two results.

-- Worker starts that did not finish the job: a job whose worker keeps
-- crashing fails instead of being restarted in a loop.
ALTER TABLE migrate.job ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE migrate.job ADD COLUMN attempts_since timestamptz;
