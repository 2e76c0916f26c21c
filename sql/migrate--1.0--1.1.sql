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

-- From here to the new functions, names resolve in pg_catalog only: the
-- views bind their operators and functions now, as the updating superuser,
-- and a better-matching operator that the owner of @extschema@ planted there
-- beforehand (numeric * bigint, say) would otherwise be the one they call,
-- as whoever reads them, migrate's own queries as the catalog's owner
-- included (test/t/022_trusted.pl).  ALTER EXTENSION restores search_path
-- (SET LOCAL: a plain SET would outlive it).
SET LOCAL search_path = pg_catalog, pg_temp;

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

-- Issue 13: ${name} placeholders, repeatable migrations, adopting another
-- tool's history.
ALTER TABLE migrate.migration ADD COLUMN placeholders jsonb;
ALTER TABLE migrate.event ADD COLUMN repeatable text;
CREATE INDEX ON migrate.event (repeatable, id) WHERE repeatable IS NOT NULL;

CREATE TABLE migrate.repeatable (
    name             text PRIMARY KEY,
    up_sql           text NOT NULL,
    checksum         text NOT NULL,
    placeholders     jsonb,
    registered_at    timestamptz NOT NULL DEFAULT now(),
    registered_by    name NOT NULL DEFAULT current_user,
    applied_checksum text,
    applied_at       timestamptz,
    applied_by       name,
    duration         interval,
    last_error       text
);
COMMENT ON TABLE migrate.repeatable IS 'one row per repeatable migration';
SELECT pg_catalog.pg_extension_config_dump('migrate.repeatable', '');

CREATE VIEW migrate.repeatable_status AS
SELECT r.name,
       CASE WHEN r.applied_checksum IS NULL THEN 'pending'
            WHEN r.applied_checksum = r.checksum THEN 'applied'
            ELSE 'changed' END AS state,
       r.checksum,
       r.applied_at,
       r.applied_by,
       r.duration,
       coalesce(r.last_error, f.error) AS last_error
  FROM migrate.repeatable r
  -- a failure recorded since it was last registered or applied
  LEFT JOIN LATERAL (
        SELECT e.sqlstate || ': ' || e.detail AS error
          FROM migrate.event e
         WHERE e.repeatable = r.name AND e.action = 'fail'
           AND r.applied_checksum IS DISTINCT FROM r.checksum
           AND e.id > coalesce((SELECT max(x.id) FROM migrate.event x
                                 WHERE x.repeatable = r.name
                                   AND x.action IN ('register', 'upgrade', 'baseline')), 0)
         ORDER BY e.id DESC LIMIT 1) f ON true
 ORDER BY r.name COLLATE "C";
COMMENT ON VIEW migrate.repeatable_status IS 'a row per repeatable migration: pending, applied or changed since applied, in name order';

-- the functions go into @extschema@
SET LOCAL search_path = @extschema@, pg_temp;

CREATE FUNCTION migrate_register(version text, name text, up text, down text,
                                 transactional boolean, placeholders jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_register'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_register(text, text, text, text, boolean, jsonb)
    IS 'register a plain SQL migration whose ${name} placeholders take these values when it runs; returns its version';

CREATE FUNCTION migrate_register_repeatable(name text, up text, placeholders jsonb DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_register_repeatable'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_register_repeatable(text, text, jsonb)
    IS 'register or replace a repeatable migration, applied at the end of an upgrade whenever it changed; returns its name';

CREATE FUNCTION migrate_adopt(versions text[], repeatables text[] DEFAULT NULL,
                              source text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'migrate_adopt'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_adopt(text[], text[], text)
    IS 'mark exactly these registered migrations (and repeatables) as applied without running them: the history of another tool';

REVOKE ALL ON migrate.repeatable, migrate.repeatable_status FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register_repeatable(text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_adopt(text[], text[], text) FROM PUBLIC;

-- migrate_plan: what migrate_upgrade would do, with the locks of each statement (issue 13)
CREATE FUNCTION migrate_plan(target text DEFAULT NULL)
RETURNS TABLE(version text, name text, runs text, statement integer, sql text,
              locks text[], findings text[])
AS 'MODULE_PATHNAME', 'migrate_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_plan(text)
    IS 'what migrate_upgrade would do now, statement by statement, with the locks each takes and migrate_check''s findings; changes nothing';
REVOKE EXECUTE ON FUNCTION migrate_plan(text) FROM PUBLIC;

-- Issue 15: the layout of a job's args, so that the worker of a later library
-- reads a job that an earlier one queued.  The jobs 1.0 queued are format 1.
ALTER TABLE migrate.job
    ADD COLUMN args_format integer NOT NULL DEFAULT 1 CHECK (args_format > 0);

-- Issue 16: the condition of the online migrations' sync triggers, evaluated
-- in every writer's session (so executable by PUBLIC): whether the statement
-- writing the row writes through the version schema's view.
CREATE FUNCTION migrate_online_new_shape(view oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'migrate_online_new_shape'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION migrate_online_new_shape(oid)
    IS 'used by the triggers of online migrations: whether the row being written comes through the version schema''s view of its table (the new shape)';

-- The qual of the version schemas' views, folded to true when a write
-- through one is planned: that loads the library, whose executor hooks
-- must see the write (migrate_online_new_shape).
CREATE FUNCTION migrate_online_guard()
RETURNS boolean
AS 'MODULE_PATHNAME', 'migrate_online_guard'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION migrate_online_guard()
    IS 'used by the views of online migrations'' version schemas: true; planning a write through such a view loads migrate''s library';

-- Issue 17: migrate_deploy, a long history in batches, each committed
CREATE PROCEDURE migrate_deploy(target text DEFAULT NULL, batch integer DEFAULT 500,
                                INOUT applied integer DEFAULT NULL)
AS 'MODULE_PATHNAME', 'migrate_deploy'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_deploy(text, integer, integer)
    IS 'apply pending migrations up to target as migrate_upgrade does, committing after every batch of them and waiting for background runs on the way; for histories too long for one transaction';
REVOKE EXECUTE ON PROCEDURE migrate_deploy(text, integer, integer) FROM PUBLIC;
