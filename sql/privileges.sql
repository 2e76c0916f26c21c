-- Nothing is granted to PUBLIC; a deploy role gets what the owner grants,
-- and its migrations run with its privileges, never more.
CREATE EXTENSION migrate;
CREATE ROLE regress_migrate_deployer LOGIN;
CREATE ROLE regress_migrate_nobody LOGIN;

-- PUBLIC has no EXECUTE on any function and no privilege on the catalog
SELECT p.proname, has_function_privilege('regress_migrate_nobody', p.oid, 'EXECUTE') AS can_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'migrate')
 ORDER BY 1;
SELECT c.relname,
       has_table_privilege('regress_migrate_nobody', c.oid, 'SELECT') AS can_select,
       has_table_privilege('regress_migrate_nobody', c.oid, 'INSERT,UPDATE,DELETE') AS can_write
  FROM pg_class c WHERE c.relnamespace = 'migrate'::regnamespace AND c.relkind IN ('r', 'v', 'S')
 ORDER BY 1;
SELECT has_schema_privilege('regress_migrate_nobody', 'migrate', 'USAGE') AS can_use_schema;

SET ROLE regress_migrate_nobody;
SELECT migrate_register('1', 'nope', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_current();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_status();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate.status;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the owner grants a deploy role what deploying needs: EXECUTE, and reading
-- the catalog; migrate writes its catalog itself
GRANT USAGE ON SCHEMA migrate TO regress_migrate_deployer;
GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO regress_migrate_deployer;
GRANT EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean),
      migrate_upgrade(text), migrate_downgrade(text), migrate_baseline(text),
      migrate_current(), migrate_status(), migrate_verify(text), migrate_validate()
   TO regress_migrate_deployer;
CREATE SCHEMA deploy AUTHORIZATION regress_migrate_deployer;
CREATE TABLE owner_only (id int);

SET ROLE regress_migrate_deployer;
SET search_path = deploy, public;
SELECT migrate_register('1', 'orders', 'CREATE TABLE orders (id int)', 'DROP TABLE orders');
-- this one touches a table the deploy role may not read
SELECT migrate_register('2', 'copy owner data', 'INSERT INTO deploy.orders SELECT id FROM public.owner_only');
SELECT * FROM migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_upgrade('1');
SELECT version, state, applied_by FROM migrate_status();
SELECT * FROM migrate_validate();
SELECT tableowner FROM pg_tables WHERE tablename = 'orders';
-- the deploy role cannot rewrite a migration or the history by hand
UPDATE migrate.migration SET up_sql = 'SELECT 1' WHERE version = '2';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO migrate.event (action) VALUES ('upgrade');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM migrate.event;
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
RESET ROLE;

SELECT version, action, actor FROM migrate.event ORDER BY id;
SELECT registered_by, applied_by FROM migrate.migration WHERE version = '1';

-- operators on the caller's search_path are never picked up by migrate's own
-- catalog queries, which run as the catalog's owner
CREATE SCHEMA evil AUTHORIZATION regress_migrate_deployer;
SET ROLE regress_migrate_deployer;
CREATE FUNCTION evil.hijack(numeric[], numeric[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked by % as %', session_user, current_user;
END $$;
CREATE OPERATOR evil.= (LEFTARG = numeric[], RIGHTARG = numeric[], FUNCTION = evil.hijack);
CREATE OPERATOR evil.<= (LEFTARG = numeric[], RIGHTARG = numeric[], FUNCTION = evil.hijack);
CREATE OPERATOR evil.> (LEFTARG = numeric[], RIGHTARG = numeric[], FUNCTION = evil.hijack);
CREATE FUNCTION evil.hijack(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked by % as %', session_user, current_user;
END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.hijack);
RESET ROLE;
SET search_path = evil, deploy, public, pg_catalog;
SELECT migrate_register('3', 'three', 'SELECT 3', 'SELECT 3');
SELECT * FROM migrate_upgrade('3');
SELECT * FROM migrate_downgrade('2');
SELECT migrate_baseline('1');
SELECT migrate_current();
SELECT * FROM migrate_validate();
RESET search_path;

-- a job is stopped or restarted only by its role (or a member of it); a
-- migrate_cancel that meets another role's job fails before it signals any
-- job, its own ones included
CREATE ROLE regress_migrate_other LOGIN;
CREATE PROCEDURE until_some_rows_done() LANGUAGE plpgsql AS $$
BEGIN   -- until a worker has done some rows (bounded)
    FOR i IN 1..3000 LOOP
        EXIT WHEN EXISTS (SELECT FROM migrate.progress WHERE state = 'running' AND rows_done > 0);
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION migrate_backfill(regclass, text, text, integer),
      migrate_cancel(text), migrate_resume(text), migrate_wait(text, interval)
   TO regress_migrate_deployer, regress_migrate_other;
CREATE TABLE deploy.slow (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO deploy.slow (id) SELECT generate_series(1, 3000);
ALTER TABLE deploy.slow OWNER TO regress_migrate_deployer;
CREATE TABLE other (id int PRIMARY KEY, n int);
INSERT INTO other VALUES (1, 0);
ALTER TABLE other OWNER TO regress_migrate_other;
SET ROLE regress_migrate_deployer;
SELECT migrate_backfill('deploy.slow', 'n = n + (pg_sleep(0.01) IS NULL)::int', batch_size => 5) > 0 AS queued;
RESET ROLE;
CALL until_some_rows_done();
BEGIN;
SET LOCAL ROLE regress_migrate_other;
SELECT migrate_backfill('other', 'n = n + 1') > 0 AS queued_by_other;
SET LOCAL ROLE regress_migrate_deployer;
SELECT migrate_cancel();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SET ROLE regress_migrate_deployer;
SELECT pg_sleep(0.5);
SELECT state = 'running' AS not_signalled FROM migrate.job WHERE relation = 'deploy.slow'::regclass;
SET client_min_messages = warning;
SELECT migrate_cancel();
RESET client_min_messages;
SELECT migrate_wait();
RESET ROLE;
-- a member of a superuser role may not cancel that role's running job
-- (pg_cancel_backend would refuse, after earlier jobs were signalled)
CREATE ROLE regress_migrate_super SUPERUSER LOGIN;
GRANT regress_migrate_super TO regress_migrate_deployer;
SET ROLE regress_migrate_super;
SELECT migrate_backfill('deploy.slow', 'n = n + (pg_sleep(0.01) IS NULL)::int', batch_size => 5) > 0 AS queued;
RESET ROLE;
CALL until_some_rows_done();
SET ROLE regress_migrate_deployer;
SELECT migrate_cancel();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET client_min_messages = warning;
SELECT migrate_cancel();
RESET client_min_messages;
SELECT migrate_wait();
-- the other role's failed job: the deploy role cannot resume it
SET ROLE regress_migrate_other;
SELECT migrate_backfill('other', 'n = n / 0') > 0 AS queued_by_other;
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_migrate_deployer;
SELECT migrate_resume();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT relation::regclass, state, run_as FROM migrate.job ORDER BY id;

DROP SCHEMA deploy CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE owner_only, other;
DROP PROCEDURE until_some_rows_done();
DROP EXTENSION migrate;
DROP ROLE regress_migrate_deployer, regress_migrate_nobody, regress_migrate_other, regress_migrate_super;
