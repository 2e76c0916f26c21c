-- The extension installs its catalog in schema migrate and its functions in
-- the extension's schema, without shared_preload_libraries.

-- For the later files: waits (bounded) for the background jobs with a commit
-- between looks, as CALL migrate_await() does, but raising nothing, so that
-- the migrate_wait() after it reports the outcome.  Called before a
-- migrate_wait() that follows a concurrent index build, it keeps the build's
-- last wait for older snapshots from finding this session: a migrate_wait()
-- starting at that very instant could be waited for, and stops with 40P01
-- (see README, migrate_wait).
CREATE PROCEDURE settle() LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..3000 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM migrate.job WHERE state IN ('queued', 'running'));
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
-- For the later files: the deploy grants of the README (Privileges: a deploy
-- role), no more, to a role that plays a deployer; privileges.sql spells
-- them out.
CREATE PROCEDURE grant_deploy(role name) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($g$
        GRANT EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean),
              migrate_upgrade(text), migrate_downgrade(text), migrate_baseline(text),
              migrate_current(), migrate_status(), migrate_verify(text), migrate_validate(),
              migrate_wait(text, interval), migrate_cancel(text), migrate_resume(text),
              migrate_backfill(regclass, text, text, integer),
              migrate_register_online(text, text, jsonb), migrate_complete(text),
              migrate_rollback(text), migrate_version_schema(text), migrate_check(text)
           TO %1$I;
        GRANT EXECUTE ON PROCEDURE migrate_await(text, interval, text) TO %1$I;
        GRANT EXECUTE ON PROCEDURE migrate_deploy(text, integer, integer) TO %1$I;
        GRANT EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean, jsonb) TO %1$I;
        GRANT EXECUTE ON FUNCTION migrate_register_repeatable(text, text, jsonb) TO %1$I;
        GRANT EXECUTE ON FUNCTION migrate_adopt(text[], text[], text) TO %1$I;
        GRANT EXECUTE ON FUNCTION migrate_plan(text) TO %1$I;
        GRANT USAGE ON SCHEMA migrate TO %1$I;
        GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO %1$I$g$, role);
END $$;
CREATE EXTENSION migrate;

SELECT extname, extrelocatable, extversion, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'migrate';

-- every member object, by kind and name (but the row types of its tables
-- and views, and their arrays, which are members from 17 on)
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'migrate')
   AND NOT (classid = 'pg_type'::regclass AND objid IN (
            SELECT t.oid FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
             WHERE t.typrelid <> 0 OR e.typrelid <> 0))
 ORDER BY 1;

-- pg_dump keeps the history: the catalog tables are configuration tables
SELECT unnest(extconfig)::regclass::text AS dumped
  FROM pg_extension WHERE extname = 'migrate' ORDER BY 1;

-- the catalog starts empty and nothing is applied
SELECT count(*) FROM migrate.migration;
SELECT count(*) FROM migrate.event;
SELECT migrate_current();
SELECT * FROM migrate_status();

-- the catalog schema is the extension's own, not a place for its functions
DROP EXTENSION migrate;
CREATE SCHEMA migrate;
\set VERBOSITY terse
CREATE EXTENSION migrate;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA migrate;

-- functions can live in another schema; the catalog stays in migrate
CREATE SCHEMA tools;
CREATE EXTENSION migrate SCHEMA tools;
SELECT tools.migrate_register('1', 'one', 'SELECT 1');
SELECT version, state FROM migrate.status;
DROP EXTENSION migrate;
DROP SCHEMA tools;
SELECT count(*) FROM pg_namespace WHERE nspname = 'migrate';
