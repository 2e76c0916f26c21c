-- Lock-safe execution: the settings, what a migration sees, and what the
-- caller gets back.  Contention itself is tested by the isolation specs.
CREATE EXTENSION migrate;

SHOW migrate.lock_timeout;
SHOW migrate.lock_retries;
-- out of range (the message's wording differs between versions: its code)
\set VERBOSITY sqlstate
SET migrate.lock_timeout = -1;
SET migrate.lock_retries = 1001;
\set VERBOSITY default
SET migrate.lock_timeot = '1s';
\echo :LAST_ERROR_SQLSTATE

-- each statement of a migration runs with lock_timeout = migrate.lock_timeout
CREATE TABLE seen (migration text, lock_timeout text, statement_timeout text, search_path text);
SET lock_timeout = '7s';
SET statement_timeout = '1h';
SET migrate.lock_timeout = '250ms';
SELECT migrate_register('1', 'look', $$
    INSERT INTO seen VALUES ('1', current_setting('lock_timeout'),
                             current_setting('statement_timeout'), current_setting('search_path'));
    -- a migration may change its own settings, except that every statement
    -- still waits at most migrate.lock_timeout for a lock ...
    SET statement_timeout = '5min';
    SET search_path = pg_catalog;
    SET lock_timeout = '1ms';
    INSERT INTO public.seen VALUES ('1 after SET', current_setting('lock_timeout'),
                                    current_setting('statement_timeout'), current_setting('search_path'));
$$);
SELECT migrate_register('2', 'look again', $$
    INSERT INTO seen VALUES ('2', current_setting('lock_timeout'),
                             current_setting('statement_timeout'), current_setting('search_path'));
$$);
SELECT * FROM migrate_upgrade();
SELECT * FROM seen;

-- ... but the next migration and the caller get theirs back
SHOW lock_timeout;
SHOW statement_timeout;
SHOW search_path;

-- migrate.lock_timeout = 0 leaves lock waits to the session's own lock_timeout
SET migrate.lock_timeout = 0;
SELECT migrate_register('3', 'look with 0', $$
    INSERT INTO seen VALUES ('3', current_setting('lock_timeout'),
                             current_setting('statement_timeout'), current_setting('search_path'));
$$);
SELECT * FROM migrate_upgrade();
SELECT * FROM seen WHERE migration = '3';

RESET lock_timeout;
RESET statement_timeout;
RESET migrate.lock_timeout;

-- the caller's SET LOCAL stays local: after its transaction, the session's
-- own values are back, whatever the migration SET
BEGIN;
SET LOCAL lock_timeout = '7s';
SET LOCAL statement_timeout = '1h';
SELECT migrate_register('4', 'plain SET', $$SET lock_timeout = '3s'; SET statement_timeout = '2h'$$);
SELECT * FROM migrate_upgrade();
SHOW lock_timeout;
SHOW statement_timeout;
COMMIT;
SHOW lock_timeout;
SHOW statement_timeout;

-- the same when the migration fails
SELECT migrate_register('5', 'SET, then fail', $$SET lock_timeout = '3s'; SET statement_timeout = '2h'; SELECT 1/0$$);
BEGIN;
SET LOCAL lock_timeout = '7s';
SET LOCAL statement_timeout = '1h';
SAVEPOINT s;
SELECT * FROM migrate_upgrade();
ROLLBACK TO SAVEPOINT s;
SHOW lock_timeout;
SHOW statement_timeout;
COMMIT;
SHOW lock_timeout;
SHOW statement_timeout;
DROP TABLE seen;
DROP EXTENSION migrate;
