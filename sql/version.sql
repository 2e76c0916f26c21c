-- Versions: dot-separated non-negative integers, ordered numerically segment
-- by segment.  Anything else is 22023.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

-- malformed versions
SELECT migrate_register('', 'empty', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('v1', 'letter', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1.', 'trailing dot', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('.1', 'leading dot', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1..2', 'empty segment', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('-1', 'negative', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(' 1', 'space', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1_2', 'underscore', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1.2a', 'suffix', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(repeat('1', 201), 'too long', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- 200 characters is the longest version
SELECT length(migrate_register(repeat('9', 200), 'long', 'SELECT 1'));
DELETE FROM migrate.migration WHERE length(version) = 200;
-- all zeros means "before every migration" (migrate_downgrade('0'))
SELECT migrate_register('0', 'zero', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('0.00', 'zeros', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(NULL, 'null', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM migrate.migration;

-- numeric order: 1.9 < 1.10, 2 < 10, a prefix sorts first, long segments work
SET migrate.allow_out_of_order = on;
SELECT migrate_register(v, 'v' || v, 'SELECT 1')
  FROM unnest(ARRAY['10', '1.10', '2', '1.9', '1', '1.0', '0.5',
                    '20260326120000', '20260326120000.1', '2026.03.26',
                    '99999999999999999999999999']) AS v;
SELECT version FROM migrate.status;

-- the order is also the order of application
SELECT string_agg(version, ' < ') FROM migrate_upgrade();
SELECT migrate_current();

-- a version equal to a registered one numerically is not a new version
SELECT migrate_register('01.9', 'leading zero', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('2026.3.26', 'same date', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE

DROP EXTENSION migrate;
