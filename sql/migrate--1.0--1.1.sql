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

-- migrate's locks moved to keys that SQL cannot take (issue 12): a job's
-- worker lock now has objsubid 3
CREATE OR REPLACE VIEW migrate.progress AS
SELECT j.id,
       j.version,
       j.kind,
       j.relation,
       -- running, but its worker is gone: a crash, or a restart without the launcher
       CASE WHEN j.state = 'running' AND NOT EXISTS
                      -- a worker holds the advisory lock ('migj', job id) while it runs a job,
                      -- with objsubid 3, which SQL's pg_advisory_* functions never use
                      (SELECT FROM pg_catalog.pg_locks l
                        WHERE l.locktype = 'advisory' AND l.granted
                          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                             WHERE d.datname = pg_catalog.current_database())
                          AND l.classid = 1835624298::oid
                          AND l.objid = (j.id % 4294967296)::oid AND l.objsubid = 3)
            THEN 'interrupted' ELSE j.state END AS state,
       j.current_version,
       j.rows_done,
       j.rows_total,
       -- past the estimate (rows inserted since), how far is unknown
       CASE WHEN j.rows_done <= j.rows_total
            THEN round(100.0 * j.rows_done / nullif(j.rows_total, 0), 1)
       END AS percent,
       round(j.rows_done / nullif(extract(epoch FROM j.updated_at - j.started_at), 0)) AS rows_per_sec,
       CASE WHEN j.rows_done > 0 AND j.rows_total > j.rows_done
            THEN (j.updated_at - j.started_at) * ((j.rows_total - j.rows_done)::float8 / j.rows_done)
       END AS eta,
       j.queued_at,
       j.started_at,
       j.updated_at,
       j.worker_pid,
       j.run_as,
       j.last_error
  FROM migrate.job j
 WHERE j.state IN ('queued', 'running')
 ORDER BY j.id;

-- Job identity: the role's OID, and the cluster and database the job was
-- queued in.  The jobs already there were queued here, as the role that has
-- their run_as name now (none: the job fails instead of starting).
ALTER TABLE migrate.job ADD COLUMN run_as_oid oid, ADD COLUMN queued_in text;
UPDATE migrate.job j
   SET run_as_oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = j.run_as),
       queued_in = (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s)::text
                   || '/' || (SELECT d.oid FROM pg_catalog.pg_database d
                               WHERE d.datname = pg_catalog.current_database())::text;

-- Worker starts that did not finish the job: a job whose worker keeps
-- crashing fails instead of being restarted in a loop.
ALTER TABLE migrate.job ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE migrate.job ADD COLUMN attempts_since timestamptz;

-- migrate_plan: what migrate_upgrade would do, with the locks of each statement (issue 13)
CREATE FUNCTION migrate_plan(target text DEFAULT NULL)
RETURNS TABLE(version text, name text, runs text, statement integer, sql text,
              locks text[], findings text[])
AS 'MODULE_PATHNAME', 'migrate_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_plan(text)
    IS 'what migrate_upgrade would do now, statement by statement, with the locks each takes and migrate_check''s findings; changes nothing';
REVOKE EXECUTE ON FUNCTION migrate_plan(text) FROM PUBLIC;
