-- A concurrent index build that is retried or resumed (issue 12): an index
-- of the name it builds counts as its own only when it is on the same table
-- with the same definition.  Any other is neither taken for done nor dropped:
-- the job fails with 42P07, naming the index and its table.
CREATE EXTENSION migrate;
CREATE TABLE build_retry_a (id int, x int, s text);
CREATE TABLE build_retry_b (v int);
CREATE TABLE build_retry_c (x int);
CREATE TABLE build_retry_d (x int);
INSERT INTO build_retry_a SELECT g, g, 's' || g FROM generate_series(1, 100) g;
INSERT INTO build_retry_b VALUES (1), (1);
INSERT INTO build_retry_c VALUES (1), (1);
INSERT INTO build_retry_d VALUES (1), (1);
CREATE VIEW build_retry_indexes AS
SELECT indexrelid::regclass::text AS index, indrelid::regclass::text AS table, indisvalid
  FROM pg_index
 WHERE indrelid IN ('build_retry_a'::regclass, 'build_retry_b'::regclass,
                   'build_retry_c'::regclass, 'build_retry_d'::regclass)
 ORDER BY 1;

-- a valid index of that name on another table: not the migration's index,
-- whether the job runs or is resumed
CREATE INDEX br_one ON build_retry_b (v);
SELECT migrate_register('1', 'one', 'CREATE INDEX CONCURRENTLY br_one ON build_retry_a (x)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status;
SELECT * FROM build_retry_indexes;
DROP INDEX br_one;
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT * FROM build_retry_indexes;

-- an invalid index of that name on another table is not dropped
CREATE UNIQUE INDEX CONCURRENTLY br_two ON build_retry_b (v);
SELECT migrate_register('2', 'two', 'CREATE INDEX CONCURRENTLY br_two ON build_retry_a (x)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM build_retry_indexes;
DROP INDEX br_two;
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();

-- a valid index of that name on the same table, defined otherwise: not done
CREATE INDEX br_three ON build_retry_a (s);
SELECT migrate_register('3', 'three', 'CREATE INDEX CONCURRENTLY br_three ON build_retry_a (x)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version = '3';
DROP INDEX br_three;
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT pg_get_indexdef('br_three'::regclass);

-- the same index, valid: a resumed build takes it for done (written here
-- otherwise than pg_get_indexdef shows it: default opclass and ordering named)
CREATE INDEX br_four ON build_retry_a (lower(s) DESC, x) INCLUDE (id) WHERE x > 0 AND s <> '';
SELECT migrate_register('4', 'four', $$CREATE INDEX CONCURRENTLY br_four ON public.build_retry_a
    USING btree ((lower(s)) DESC NULLS FIRST, x int4_ops ASC) INCLUDE (id) WHERE (x > 0 AND s <> '')$$,
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();
SELECT * FROM build_retry_indexes WHERE index = 'br_four';

-- the same index, invalid (what a failed build leaves): dropped and built again
CREATE UNIQUE INDEX CONCURRENTLY br_five ON build_retry_c (x);
DELETE FROM build_retry_c;
INSERT INTO build_retry_c VALUES (1);
SELECT migrate_register('5', 'five', 'CREATE UNIQUE INDEX CONCURRENTLY br_five ON build_retry_c (x)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT * FROM build_retry_indexes WHERE index = 'br_five';

-- an invalid index of that name on the same table, defined otherwise: kept
CREATE UNIQUE INDEX CONCURRENTLY br_six ON build_retry_d (x);
SELECT migrate_register('6', 'six', 'CREATE INDEX CONCURRENTLY br_six ON build_retry_d (x)',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM build_retry_indexes WHERE index = 'br_six';
DROP INDEX br_six;
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait();

-- REINDEX CONCURRENTLY drops only the leftovers of a failed reindex: an
-- invalid index named like one but defined otherwise is kept
CREATE TABLE build_retry_e (x int);
INSERT INTO build_retry_e VALUES (1), (1);
CREATE INDEX br_seven ON build_retry_e (x);
CREATE UNIQUE INDEX CONCURRENTLY br_seven_ccnew ON build_retry_e ((x % 2));
SELECT migrate_register('7', 'seven', 'REINDEX TABLE CONCURRENTLY build_retry_e',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait();
SELECT indexrelid::regclass::text AS index, indisvalid FROM pg_index
 WHERE indrelid = 'build_retry_e'::regclass ORDER BY 1;

SELECT version, state FROM migrate.status;
SELECT * FROM build_retry_indexes;

DROP EXTENSION migrate;
DROP VIEW build_retry_indexes;
DROP TABLE build_retry_a, build_retry_b, build_retry_c, build_retry_d, build_retry_e;
