/* migrate--1.1.sql: catalog and SQL interface of the migrate extension */

\echo Use "CREATE EXTENSION migrate" to load this file. \quit

-- Until the functions below, names resolve in pg_catalog only: the views bind
-- their operators and functions now, as the installing superuser, and a
-- better-matching operator that the owner of @extschema@ planted there
-- beforehand (numeric * bigint, say) would otherwise be the one they call,
-- as whoever reads them, migrate's own queries as the catalog's owner
-- included (test/t/022_trusted.pl).  CREATE EXTENSION restores search_path
-- (SET LOCAL: a plain SET would outlive it).
SET LOCAL search_path = pg_catalog, pg_temp;

-- The catalog has a fixed home so that every function (in @extschema@) and every
-- deploy script can name it; the extension itself must not be created in it.
CREATE SCHEMA migrate;
COMMENT ON SCHEMA migrate IS 'catalog of the migrate extension: registered migrations and their history';

CREATE TABLE migrate.migration (
    version         text PRIMARY KEY,
    -- numeric segments of version; the C code fills it and all ordering uses it
    version_key     numeric[] NOT NULL UNIQUE,
    name            text NOT NULL,
    kind            text NOT NULL DEFAULT 'sql' CHECK (kind IN ('sql', 'online')),
    up_sql          text,
    down_sql        text,
    operations      jsonb,
    transactional   boolean NOT NULL DEFAULT true,
    checksum        text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'active', 'ready', 'applied',
                                     'rolled_back', 'failed')),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    registered_by   name NOT NULL DEFAULT current_user,
    applied_at      timestamptz,
    applied_by      name,
    duration        interval,
    last_error      text,
    -- a non-transactional migration being applied (or reverted) statement by
    -- statement: how many of its statements are done
    steps_done      integer NOT NULL DEFAULT 0,
    -- values of the ${name} placeholders of up_sql and down_sql, replaced
    -- when they run (the checksum is of the SQL as written)
    placeholders    jsonb,
    CHECK (kind <> 'sql' OR up_sql IS NOT NULL),
    CHECK ((state = 'applied') = (applied_at IS NOT NULL))
);
COMMENT ON TABLE migrate.migration IS 'one row per registered migration';

CREATE TABLE migrate.event (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    version     text,
    action      text NOT NULL,
    actor       name NOT NULL DEFAULT current_user,
    duration    interval,
    detail      text,
    sqlstate    text,
    -- the repeatable migration it is about (version is then NULL)
    repeatable  text
);
CREATE INDEX ON migrate.event (version, id);
CREATE INDEX ON migrate.event (repeatable, id) WHERE repeatable IS NOT NULL;
COMMENT ON TABLE migrate.event IS 'append-only history of everything migrate did';

-- Repeatable migrations: SQL (views, functions, grants) applied again at the
-- end of every upgrade run whenever its checksum differs from the one last
-- applied.
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

-- Background jobs: a run of migrations handed to a worker (kinds 'upgrade'
-- and 'downgrade'), a standalone backfill ('backfill'), and the background
-- phase of an online migration ('online': backfills, validations and
-- concurrent index builds, in order).
CREATE TABLE migrate.job (
    id              bigserial PRIMARY KEY,
    version         text,
    relation        regclass,
    kind            text NOT NULL
                    CHECK (kind IN ('upgrade', 'downgrade', 'backfill', 'index', 'validate',
                                    'online')),
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    rows_done       bigint NOT NULL DEFAULT 0,
    rows_total      bigint,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    updated_at      timestamptz,
    finished_at     timestamptz,
    worker_pid      integer,
    last_error      text,
    last_sqlstate   text,
    -- the role the job runs as: the one that queued it
    run_as          name NOT NULL,
    -- a run goes up to target (or down to it); current_version is the
    -- migration being applied, current_step how many of its statements are done
    target          text,
    current_version text,
    current_step    integer NOT NULL DEFAULT 0,
    args            jsonb,
    -- the OID of run_as: a job runs as that role only while it is still named
    -- run_as (not after a rename, or a drop and a new role of the same name)
    run_as_oid      oid,
    -- where it was queued, 'system identifier/database OID': a job restored
    -- from a dump is not started without an explicit migrate_resume()
    queued_in       text,
    -- workers started on the job in a row, since attempts_since, that ended
    -- (a crash, a restart) before it made progress: past a bound, the job
    -- fails instead of looping
    attempts        integer NOT NULL DEFAULT 0,
    attempts_since  timestamptz,
    -- the layout of args, so that the worker of a later library reads a job
    -- an earlier one queued: 1 as 1.0 wrote them (a run without a plan),
    -- 2 as 1.1 does; a worker fails a job of a format it does not know
    args_format     integer NOT NULL DEFAULT 1 CHECK (args_format > 0)
);
CREATE INDEX ON migrate.job (state) WHERE state IN ('queued', 'running');
COMMENT ON TABLE migrate.job IS 'one row per background job';

-- A backfill without a primary key: the transactions of its batches, whose
-- row versions (moved to pages still ahead) it must not update again.
CREATE TABLE migrate.job_xid (
    job_id  bigint NOT NULL REFERENCES migrate.job ON DELETE CASCADE,
    xid     bigint NOT NULL,
    PRIMARY KEY (job_id, xid)
);

-- The schema as of the last upgrade, downgrade or baseline that changed
-- something: what migrate_validate compares the live schema with.
CREATE TABLE migrate.fingerprint (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    recorded_at timestamptz NOT NULL,
    recorded_by name NOT NULL,
    action      text NOT NULL,
    version     text
);
CREATE TABLE migrate.fingerprint_object (
    kind        text NOT NULL,
    object      text NOT NULL,
    definition  text NOT NULL,
    PRIMARY KEY (kind, object)
);
COMMENT ON TABLE migrate.fingerprint_object IS 'schema objects by name as of the last recorded fingerprint';

-- pg_dump keeps the migration history with the schema it describes
SELECT pg_catalog.pg_extension_config_dump('migrate.fingerprint', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.fingerprint_object', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.migration', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.job', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.job_xid', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.event', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.repeatable', '');

CREATE VIEW migrate.progress AS
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
COMMENT ON VIEW migrate.progress IS 'a row per unfinished background job: how far, how fast, how long to go';

CREATE VIEW migrate.status AS
SELECT m.version,
       m.name,
       m.kind,
       m.state,
       m.transactional,
       m.down_sql IS NOT NULL
         OR (m.kind = 'online' AND m.state IN ('active', 'ready', 'failed')) AS reversible,
       m.checksum,
       m.registered_at,
       m.registered_by,
       m.applied_at,
       m.applied_by,
       m.duration,
       coalesce(m.last_error, f.error) AS last_error,
       j.job
  FROM migrate.migration m
  -- a failure recorded since the migration was last registered or applied
  LEFT JOIN LATERAL (
        SELECT e.sqlstate || ': ' || e.detail AS error
          FROM migrate.event e
         WHERE e.version = m.version AND e.action = 'fail' AND m.state <> 'applied'
           AND e.id > coalesce((SELECT max(r.id) FROM migrate.event r
                                 WHERE r.version = m.version
                                   AND r.action IN ('register', 'upgrade', 'baseline')), 0)
         ORDER BY e.id DESC LIMIT 1) f ON true
  -- the latest background job working on it
  LEFT JOIN LATERAL (
        -- migrate.progress tells a running job from an interrupted one
        SELECT coalesce(p.state, j.state) || ' (job ' || j.id || ')' AS job
          FROM migrate.job j
          LEFT JOIN migrate.progress p ON p.id = j.id
          LEFT JOIN migrate.migration f ON f.version = j.version
          LEFT JOIN migrate.migration t ON t.version = j.target
         WHERE j.version = m.version OR j.current_version = m.version
            -- a run of migrations covers every version from its first to its target
            OR (j.kind IN ('upgrade', 'downgrade')
                AND m.version_key BETWEEN least(f.version_key, coalesce(t.version_key, '{0}'))
                                      AND greatest(f.version_key, coalesce(t.version_key, '{0}')))
         ORDER BY j.id DESC LIMIT 1) j ON true
 ORDER BY m.version_key;
COMMENT ON VIEW migrate.status IS 'a row per migration: its state and timings, in version order';

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

CREATE FUNCTION migrate_register(version text, name text, up text,
                                 down text DEFAULT NULL,
                                 transactional boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_register'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_register(text, text, text, text, boolean)
    IS 'register a plain SQL migration; returns its version';

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

CREATE FUNCTION migrate_upgrade(target text DEFAULT NULL)
RETURNS TABLE (version text, name text, action text)
AS 'MODULE_PATHNAME', 'migrate_upgrade'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_upgrade(text)
    IS 'apply pending migrations in version order up to target (all when NULL)';

CREATE PROCEDURE migrate_deploy(target text DEFAULT NULL, batch integer DEFAULT 500,
                                INOUT applied integer DEFAULT NULL)
AS 'MODULE_PATHNAME', 'migrate_deploy'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_deploy(text, integer, integer)
    IS 'apply pending migrations up to target as migrate_upgrade does, committing after every batch of them and waiting for background runs on the way; for histories too long for one transaction';

CREATE FUNCTION migrate_downgrade(target text)
RETURNS TABLE (version text, name text, action text)
AS 'MODULE_PATHNAME', 'migrate_downgrade'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_downgrade(text)
    IS 'revert applied migrations above target in reverse order (''0'' reverts all)';

CREATE FUNCTION migrate_baseline(version text)
RETURNS integer
AS 'MODULE_PATHNAME', 'migrate_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_baseline(text)
    IS 'mark registered migrations up to version as applied without running them';

CREATE FUNCTION migrate_current()
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_current'
LANGUAGE C STABLE;
COMMENT ON FUNCTION migrate_current()
    IS 'the highest applied version, NULL if none';

CREATE FUNCTION migrate_status()
RETURNS SETOF migrate.status
LANGUAGE sql STABLE
AS $$ SELECT * FROM migrate.status $$;
COMMENT ON FUNCTION migrate_status()
    IS 'a row per migration: its state and timings, in version order';

CREATE FUNCTION migrate_verify(version text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'migrate_verify'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_verify(text)
    IS 'run up, down and up of a pending migration in a rolled-back subtransaction and check that down restores the schema';

CREATE FUNCTION migrate_validate()
RETURNS TABLE (kind text, object text, detail text)
AS 'MODULE_PATHNAME', 'migrate_validate'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_validate()
    IS 'drift: changed applied migrations, and schema changes made outside migrations';

CREATE FUNCTION migrate_wait(version text DEFAULT NULL, timeout interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_wait'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_wait(text, interval)
    IS 'wait for the background jobs of a migration (default: all) to finish; returns the final state';

CREATE PROCEDURE migrate_await(version text DEFAULT NULL, timeout interval DEFAULT NULL,
                               INOUT state text DEFAULT NULL)
AS 'MODULE_PATHNAME', 'migrate_await'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_await(text, interval, text)
    IS 'as migrate_wait, committing between looks so that it holds no snapshot that index builds wait for; for deploy steps';

CREATE FUNCTION migrate_cancel(version text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_cancel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_cancel(text)
    IS 'stop the running background jobs of a migration (default: all) cleanly; migrate_resume continues them';

CREATE FUNCTION migrate_resume(version text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_resume'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_resume(text)
    IS 'relaunch unfinished background jobs: queued, interrupted, cancelled or failed';

CREATE FUNCTION migrate_backfill(relation regclass, set_clause text,
                                 where_clause text DEFAULT NULL,
                                 batch_size integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_backfill'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_backfill(regclass, text, text, integer)
    IS 'a batched data migration, run by a background worker after commit; returns the job id';

-- Nothing is granted to PUBLIC: the extension owner grants to a deploy role.
CREATE FUNCTION migrate_register_online(version text, name text, operations jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_register_online'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_register_online(text, text, jsonb)
    IS 'register an online (expand/contract) migration from its operations';

CREATE FUNCTION migrate_complete(version text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_complete'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_complete(text)
    IS 'contract the online migration in flight once it is ready: the new shape becomes the tables'' own';

CREATE FUNCTION migrate_rollback(version text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_rollback'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_rollback(text)
    IS 'undo the expand phase of the online migration in flight and cancel its jobs';

CREATE FUNCTION migrate_version_schema(version text DEFAULT NULL)
RETURNS name
AS 'MODULE_PATHNAME', 'migrate_version_schema'
LANGUAGE C STABLE;
COMMENT ON FUNCTION migrate_version_schema(text)
    IS 'the schema of the views of an online migration''s new shape, for the new application''s search_path';

CREATE FUNCTION migrate_check(sql text)
RETURNS TABLE(severity text, rule text, statement integer, message text, hint text)
AS 'MODULE_PATHNAME', 'migrate_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_check(text)
    IS 'safety analysis of migration SQL against the live catalog: rewrites, long locks, breaking changes';

CREATE FUNCTION migrate_plan(target text DEFAULT NULL)
RETURNS TABLE(version text, name text, runs text, statement integer, sql text,
              locks text[], findings text[])
AS 'MODULE_PATHNAME', 'migrate_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_plan(text)
    IS 'what migrate_upgrade would do now, statement by statement, with the locks each takes and migrate_check''s findings; changes nothing';

REVOKE ALL ON SCHEMA migrate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA migrate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA migrate FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_upgrade(text) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE migrate_deploy(text, integer, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_downgrade(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_baseline(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_current() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_status() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_verify(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_validate() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_wait(text, interval) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE migrate_await(text, interval, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_cancel(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_resume(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_backfill(regclass, text, text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register_online(text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_complete(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_rollback(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_version_schema(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_check(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register_repeatable(text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_adopt(text[], text[], text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_plan(text) FROM PUBLIC;

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
