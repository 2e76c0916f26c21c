-- migrate_register: checksums, no-op re-registration, replacement of pending
-- definitions, MG001, MG002, and SQL checked at registration.
CREATE EXTENSION migrate;

SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text)',
    'DROP TABLE widgets');
SELECT version, name, kind, state, transactional, up_sql, down_sql,
       checksum ~ '^[0-9a-f]{64}$' AS sha256_hex,
       registered_by = current_user AS by_me,
       applied_at IS NULL AS not_applied
  FROM migrate.migration;
SELECT version, action, actor = current_user AS by_me, detail
  FROM migrate.event ORDER BY id;

-- the checksum is sha256 over the length-prefixed definition
SELECT checksum = encode(sha256(convert_to(
         format('%s:%s;%s:%s;%s:%s;%s:%s;-;1:t;',
                octet_length(kind), kind, octet_length(name), name,
                octet_length(up_sql), up_sql, octet_length(down_sql), down_sql),
         'UTF8')), 'hex') AS checksum_matches
  FROM migrate.migration WHERE version = '1';

-- registering the same definition again is a no-op: no new row, no event
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text)',
    'DROP TABLE widgets');
SELECT count(*) AS migrations FROM migrate.migration;
SELECT count(*) AS events FROM migrate.event;

-- a pending migration may still change: the new definition replaces it
SELECT checksum AS old_checksum FROM migrate.migration WHERE version = '1' \gset
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)',
    'DROP TABLE widgets');
SELECT checksum <> :'old_checksum' AS changed, up_sql FROM migrate.migration;
SELECT action, detail LIKE 'definition replaced%' AS replaced
  FROM migrate.event ORDER BY id DESC LIMIT 1;

-- once applied, a different definition is MG001 with both checksums
SELECT * FROM migrate_upgrade();
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id bigint PRIMARY KEY, label text NOT NULL)',
    'DROP TABLE widgets');
\echo :LAST_ERROR_SQLSTATE
-- so is a changed name, down SQL or transactional flag
SELECT migrate_register('1', 'create the widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)',
    'DROP TABLE widgets');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)',
    'DROP TABLE widgets', transactional => false);
\echo :LAST_ERROR_SQLSTATE
-- the same definition of an applied migration is still a no-op
SELECT migrate_register('1', 'create widgets',
    'CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)',
    'DROP TABLE widgets');

-- versions below the highest applied one are MG002 ...
SELECT migrate_register('2', 'two', 'SELECT 2');
SELECT * FROM migrate_upgrade();
SELECT migrate_register('1.5', 'late', 'SELECT 15');
\echo :LAST_ERROR_SQLSTATE
-- ... unless migrate.allow_out_of_order is on
SET migrate.allow_out_of_order = on;
SELECT migrate_register('1.5', 'late', 'SELECT 15');
RESET migrate.allow_out_of_order;
SELECT version, state FROM migrate.status;
-- an already registered one stays registrable as it is
SELECT migrate_register('1.5', 'late', 'SELECT 15');
-- the check looks only at versions above the new one: with a pending one
-- above the applied 2 it still names 2, and 2.0 sorts above 2
BEGIN;
SELECT migrate_register('4', 'pending above', 'SELECT 4');
SELECT migrate_register('1.7', 'late too', 'SELECT 17');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT migrate_register('2.0', 'just above', 'SELECT 20');
ROLLBACK;

-- bad arguments: 22023, nothing registered
SELECT migrate_register('3', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', '', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'no up', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'empty up', '  -- only a comment');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'null flag', 'SELECT 1', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE

-- syntax errors are found at registration, pointing into the migration
SELECT migrate_register('3', 'typo', E'CREATE TABLE t3 (id int);\nCREAT INDEX ON t3 (id);');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'typo in down', 'CREATE TABLE t3 (id int)', 'DROP TABEL t3');
\echo :LAST_ERROR_SQLSTATE

-- transaction control belongs to migrate
SELECT migrate_register('3', 'begin', 'BEGIN; CREATE TABLE t3 (id int); COMMIT;');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'commit', 'CREATE TABLE t3 (id int); COMMIT');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'rollback in down', 'CREATE TABLE t3 (id int)', 'ROLLBACK');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'savepoint', 'SAVEPOINT a; CREATE TABLE t3 (id int)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'transactional => false does not allow it either',
    'COMMIT', NULL, false);
\echo :LAST_ERROR_SQLSTATE

-- no client is attached while a migration runs
SELECT migrate_register('3', 'copy', 'COPY widgets FROM STDIN');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'copy out', 'SELECT 1', 'COPY widgets TO STDOUT');
\echo :LAST_ERROR_SQLSTATE

-- statements that cannot run in a transaction block need transactional => false
SELECT migrate_register('3', 'cic', 'CREATE INDEX CONCURRENTLY widgets_label_idx ON widgets (label)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'dic', 'SELECT 1', 'DROP INDEX CONCURRENTLY widgets_label_idx');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'reindex', 'REINDEX (CONCURRENTLY) TABLE widgets');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'reindex', 'REINDEX TABLE CONCURRENTLY widgets');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'vacuum', 'VACUUM widgets');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('3', 'alter system', 'ALTER SYSTEM SET work_mem = ''8MB''');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM migrate.migration WHERE version = '3';

-- a concurrent build must name its index: a build that fails halfway leaves
-- an invalid index, which migrate finds by name and drops before a retry
SELECT migrate_register('3', 'cic', 'CREATE INDEX CONCURRENTLY ON widgets (label)',
    'DROP INDEX CONCURRENTLY widgets_label_idx', transactional => false);
\echo :LAST_ERROR_SQLSTATE

-- ... and with it they register (and ANALYZE or a plain index are fine anyway)
SELECT migrate_register('3', 'cic', 'CREATE INDEX CONCURRENTLY widgets_label_idx ON widgets (label)',
    'DROP INDEX CONCURRENTLY widgets_label_idx', transactional => false);
SELECT migrate_register('4', 'analyze', 'ANALYZE widgets; CREATE INDEX ON widgets (id, label)');
SELECT version, transactional FROM migrate.status WHERE version IN ('3', '4');

-- an empty down SQL is reversible and reverts by doing nothing
SELECT migrate_register('5', 'note', 'COMMENT ON TABLE widgets IS ''widgets''', '-- nothing to undo');
SELECT version, reversible FROM migrate.status WHERE version = '5';

DROP TABLE widgets;
DROP EXTENSION migrate;
