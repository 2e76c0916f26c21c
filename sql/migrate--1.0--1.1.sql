/* migrate--1.0--1.1.sql: update a 1.0 install to 1.1 (in development) */

\echo Use "ALTER EXTENSION migrate UPDATE TO '1.1'" to load this file. \quit

-- Every change to the extension's SQL objects made for 1.1 goes here and into
-- migrate--1.1.sql; test oldversions compares the two results.

-- Job identity: the role's OID, and the cluster and database the job was
-- queued in.  The jobs already there were queued here, as the role that has
-- their run_as name now (none: the job fails instead of starting).
ALTER TABLE migrate.job ADD COLUMN run_as_oid oid, ADD COLUMN queued_in text;
UPDATE migrate.job j
   SET run_as_oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = j.run_as),
       queued_in = (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s)::text
                   || '/' || (SELECT d.oid FROM pg_catalog.pg_database d
                               WHERE d.datname = pg_catalog.current_database())::text;
