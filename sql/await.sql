-- migrate_await: the procedure that waits for background jobs committing
-- between looks, so that it holds no snapshot while it waits
-- (test/isolation/specs/wait_census.spec shows why, with an index build).
CREATE EXTENSION migrate;
CREATE TABLE await_items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO await_items (id) SELECT generate_series(1, 500);

-- like every function of the extension, not executable by PUBLIC
SELECT has_function_privilege('public', 'migrate_await(text, interval, text)', 'EXECUTE')
    AS public_may_call;

-- nothing to wait for
CALL migrate_await();

-- a job it waits for; its state comes back as "state"
SELECT migrate_backfill('await_items', 'n = id * 2', batch_size => 100) > 0 AS queued;
CALL migrate_await();
SELECT count(*) FILTER (WHERE n = id * 2) AS backfilled FROM await_items;

-- a procedure can queue jobs and wait for them: the wait commits first,
-- which starts them
CREATE PROCEDURE await_deploy() LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    PERFORM migrate_backfill('await_items', 'n = id * 3', batch_size => 100);
    CALL migrate_await(NULL, '5 min', state);
    RAISE NOTICE 'deploy: %', state;
END $$;
CALL await_deploy();
SELECT count(*) FILTER (WHERE n = id * 3) AS backfilled FROM await_items;

-- a failed job: its error, with its SQLSTATE
SELECT migrate_backfill('await_items', 'n = 1 / (id - 250)', batch_size => 100) > 0 AS queued;
CALL migrate_await();
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM migrate.job ORDER BY id DESC LIMIT 1;
-- a timeout: the job goes on; then cancelled, which the next wait returns
SELECT migrate_backfill('await_items', 'n = id + (SELECT 0 FROM pg_sleep(0.02 + id * 0))',
                        batch_size => 500) > 0 AS queued;
CALL migrate_await(timeout => '0.3 s');
\echo :LAST_ERROR_SQLSTATE
SET client_min_messages = warning;
SELECT migrate_cancel();
RESET client_min_messages;
CALL migrate_await();

-- a version that is not registered
CALL migrate_await('9.9');
\echo :LAST_ERROR_SQLSTATE

-- it cannot commit inside a transaction block or a function: 2D000
BEGIN;
CALL migrate_await();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
CREATE FUNCTION await_in_function() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    CALL migrate_await(NULL, NULL, state);
    RETURN state;
END $$;
SELECT await_in_function();
\echo :LAST_ERROR_SQLSTATE
-- a DO block outside a transaction block may: it is not atomic
DO $$
DECLARE
    state text;
BEGIN
    CALL migrate_await(NULL, NULL, state);
    RAISE NOTICE 'state: %', state;
END $$;

-- bad arguments
CALL migrate_await(timeout => '-1 s');
\echo :LAST_ERROR_SQLSTATE
CALL migrate_await('no such version');
\echo :LAST_ERROR_SQLSTATE
CALL migrate_await('');
\echo :LAST_ERROR_SQLSTATE

DROP FUNCTION await_in_function();
DROP PROCEDURE await_deploy();
DROP TABLE await_items;
DROP EXTENSION migrate;
