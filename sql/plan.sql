-- migrate_plan: what migrate_upgrade would do, statement by statement: how
-- each migration runs, the locks each statement takes, migrate_check's
-- findings; the target; a READ ONLY transaction and no deploy lock; the
-- privilege; hostile input.
CREATE EXTENSION migrate;
-- registration's own check would say it all twice
SET migrate."check" = off;

CREATE TABLE plan_p (id bigint PRIMARY KEY, n int);
CREATE TABLE plan_o (id bigint PRIMARY KEY, pid bigint REFERENCES plan_p, x int);
CREATE INDEX plan_o_x ON plan_o (x);
CREATE VIEW plan_v AS SELECT * FROM plan_o;
CREATE TABLE plan_parted (id int) PARTITION BY RANGE (id);
CREATE MATERIALIZED VIEW plan_mv AS SELECT 1 AS a;
CREATE SCHEMA "Plan Space";
CREATE TABLE "Plan Space"."Odd" (id int);
VACUUM ANALYZE plan_p, plan_o;

-- the plan, one line a statement: sizes masked (they vary with the page
-- layout), white space squeezed
CREATE FUNCTION plan(target text DEFAULT NULL)
RETURNS TABLE (version text, name text, runs text, statement int, sql text, locks text, findings text)
LANGUAGE sql AS $$
    SELECT p.version, p.name, p.runs, p.statement,
           regexp_replace(p.sql, '\s+', ' ', 'g'),
           array_to_string(p.locks, ', '),
           regexp_replace(array_to_string(p.findings, ' | '), ', \d+ (bytes|kB|MB)\)', ', N \1)', 'g')
      FROM migrate_plan(target) WITH ORDINALITY AS p
     ORDER BY p.ordinality
$$;

------------------------------------------------------------------------
-- nothing registered: an empty plan
------------------------------------------------------------------------
SELECT * FROM plan();

------------------------------------------------------------------------
-- the locks of each kind of statement
------------------------------------------------------------------------
SELECT migrate_register('1', 'alter', $$
    ALTER TABLE plan_o ADD COLUMN y bigint;
    ALTER TABLE plan_o ADD CONSTRAINT plan_o_x_fkey FOREIGN KEY (x) REFERENCES plan_p NOT VALID;
    ALTER TABLE plan_o ADD COLUMN z bigint REFERENCES plan_p;
    ALTER TABLE plan_o VALIDATE CONSTRAINT plan_o_pid_fkey;
    ALTER TABLE plan_o SET (fillfactor = 90), ALTER COLUMN x SET STATISTICS 500;
    ALTER TABLE plan_o DROP CONSTRAINT plan_o_pid_fkey;
    ALTER TABLE plan_o ENABLE TRIGGER ALL;
    ALTER TABLE plan_o ADD CONSTRAINT plan_o_x_check CHECK (x > 0) NOT VALID;
    ALTER TABLE plan_o RENAME TO plan_orders;
    ALTER TABLE plan_o RENAME COLUMN x TO x2;
    ALTER TABLE plan_o_x RENAME TO plan_o_x2;
    ALTER INDEX plan_o_x RENAME TO plan_o_x2;
    ALTER INDEX plan_o_x SET (fillfactor = 50);
    ALTER INDEX plan_o_x SET TABLESPACE pg_default;
    ALTER TABLE plan_o SET SCHEMA "Plan Space";
    ALTER TABLE "Plan Space"."Odd" ADD COLUMN n int;
    ALTER TABLE plan_new ADD COLUMN n int;
$$);
SELECT migrate_register('2', 'ddl', $$
    CREATE INDEX plan_o_pid ON plan_o (pid);
    DROP INDEX plan_o_x;
    DROP TABLE plan_o;
    DROP TABLE plan_p CASCADE;
    DROP VIEW plan_v;
    TRUNCATE plan_o, plan_p;
    CLUSTER plan_o USING plan_o_pkey;
    REINDEX TABLE plan_o;
    REINDEX INDEX plan_o_x;
    CREATE TRIGGER plan_t BEFORE UPDATE ON plan_o
        FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
    CREATE TABLE plan_new (id bigint PRIMARY KEY, note text);
    CREATE TABLE plan_ref (id bigint PRIMARY KEY, pid bigint REFERENCES plan_p,
                           nid bigint, FOREIGN KEY (nid) REFERENCES plan_new);
    CREATE TABLE plan_part1 PARTITION OF plan_parted FOR VALUES FROM (1) TO (10);
    CREATE TABLE plan_child () INHERITS (plan_p);
    INSERT INTO plan_p VALUES (1, 1);
    UPDATE plan_o SET x = 1 WHERE id = 1;
    DELETE FROM plan_o WHERE id = 1;
    INSERT INTO plan_new SELECT id, 'x' FROM plan_p;
    COMMENT ON TABLE plan_o IS 'orders';
    COMMENT ON COLUMN plan_o.x IS 'x';
    GRANT SELECT ON plan_o TO PUBLIC;
    REVOKE SELECT ON plan_o FROM PUBLIC;
    CREATE VIEW plan_v2 AS SELECT * FROM plan_o;
    CREATE OR REPLACE VIEW plan_v AS SELECT * FROM plan_o;
    CREATE OR REPLACE VIEW plan_v3 AS SELECT * FROM plan_o;
    REFRESH MATERIALIZED VIEW plan_mv;
    LOCK plan_o IN SHARE MODE;
    CREATE POLICY plan_pol ON plan_o USING (true);
    CREATE STATISTICS plan_st ON id, x FROM plan_o;
    ANALYZE plan_o;
    SELECT 1;
$$, NULL);
SELECT migrate_register('3', 'concurrently', $$
    CREATE INDEX CONCURRENTLY plan_o_c ON plan_o (x);
    DROP INDEX CONCURRENTLY plan_o_x;
    REINDEX INDEX CONCURRENTLY plan_o_pkey;
    REFRESH MATERIALIZED VIEW CONCURRENTLY plan_mv;
    VACUUM FULL plan_o;
    VACUUM plan_p;
$$, NULL, false);
SELECT * FROM plan();

-- the plan against what the server takes: each statement that runs in a
-- transaction is run (and rolled back), and pg_locks read before the
-- rollback.  Every lock the plan names must be taken; every lock taken on a
-- table or view that existed before, but ACCESS SHARE, must be named (or a
-- stronger one on the same relation).  Statements that fail on their own,
-- without the statements before them, are listed.
CREATE TEMP TABLE plan_rels AS
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'Plan Space');
CREATE TEMP TABLE plan_taken (version text, statement int, taken text[], error text);
DO $$
DECLARE
    r record;
    taken text;
BEGIN
    FOR r IN SELECT p.version, p.statement, p.sql FROM migrate_plan() p
              WHERE p.runs = 'transaction' AND p.statement IS NOT NULL
    LOOP
        BEGIN
            EXECUTE r.sql;
            SELECT string_agg(upper(regexp_replace(regexp_replace(l.mode, 'Lock$', ''),
                                                   '([a-z])([A-Z])', '\1 \2', 'g'))
                              || ' on ' || x.name, ',')
              INTO taken
              FROM pg_locks l JOIN plan_rels x ON x.oid = l.relation
             WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted;
            RAISE EXCEPTION 'rolled back' USING DETAIL = coalesce(taken, '');
        EXCEPTION WHEN OTHERS THEN
            IF SQLERRM = 'rolled back' THEN
                GET STACKED DIAGNOSTICS taken = PG_EXCEPTION_DETAIL;
                INSERT INTO plan_taken VALUES (r.version, r.statement,
                                               string_to_array(nullif(taken, ''), ','), NULL);
            ELSE
                INSERT INTO plan_taken VALUES (r.version, r.statement, NULL, SQLERRM);
            END IF;
        END;
    END LOOP;
END $$;
CREATE FUNCTION plan_rank(lock text) RETURNS int LANGUAGE sql AS $$
    SELECT array_position(ARRAY['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE',
                                'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
                          split_part(lock, ' on ', 1))
$$;
-- (how many locks each statement takes differs a little between versions)
SELECT count(DISTINCT (t.version, t.statement)) AS statements_run, count(l) > 60 AS many_locks_taken
  FROM plan_taken t LEFT JOIN unnest(t.taken) AS l ON true WHERE t.error IS NULL;
SELECT t.version, t.statement, t.error FROM plan_taken t WHERE t.error IS NOT NULL
 ORDER BY 1, 2;
-- named by the plan, not taken
SELECT t.version, t.statement, planned AS not_taken
  FROM plan_taken t
  JOIN migrate_plan() p ON p.version = t.version AND p.statement = t.statement,
       unnest(p.locks) AS planned
 WHERE t.error IS NULL
   AND split_part(planned, ' on ', 2) IN (SELECT name FROM plan_rels)
   AND planned <> ALL (coalesce(t.taken, '{}'))
 ORDER BY 1, 2;
-- taken, not named
SELECT t.version, t.statement, l AS not_planned
  FROM plan_taken t
  JOIN migrate_plan() p ON p.version = t.version AND p.statement = t.statement,
       unnest(t.taken) AS l
 WHERE t.error IS NULL AND l NOT LIKE 'ACCESS SHARE %'
   AND (SELECT relkind FROM plan_rels WHERE name = split_part(l, ' on ', 2)) IN ('r', 'p', 'v', 'm')
   AND NOT EXISTS (SELECT FROM unnest(p.locks) AS planned
                    WHERE split_part(planned, ' on ', 2) = split_part(l, ' on ', 2)
                      AND plan_rank(planned) >= plan_rank(l))
 ORDER BY 1, 2;
DROP FUNCTION plan_rank(text);

------------------------------------------------------------------------
-- repeatable migrations: after the versions, in name order (C collation),
-- those never applied or changed since; placeholders replaced, in versioned
-- and repeatable SQL alike; a value that breaks the SQL is a finding
------------------------------------------------------------------------
SELECT migrate_register_repeatable('a_comment', $$COMMENT ON TABLE ${tbl} IS 'parents'$$,
                                   '{"tbl": "plan_p"}');
SELECT migrate_register_repeatable('B_view', 'CREATE OR REPLACE VIEW plan_v AS SELECT * FROM plan_o');
SELECT migrate_register_repeatable('c_broken', 'SELECT ${x}', '{"x": "1"}');
SELECT migrate_register_repeatable('d_applied', 'SELECT 2');
SELECT migrate_adopt('{}', '{d_applied}');
SELECT * FROM plan() WHERE version IS NULL OR version = '3';
-- the catalog edited by hand: a repeatable's placeholder values are in its
-- checksum (it runs again when they change), so the edit is found
UPDATE migrate.repeatable SET placeholders = '{"x": "1; DROP"}' WHERE name = 'c_broken';
SELECT * FROM plan() WHERE name = 'c_broken';
UPDATE migrate.repeatable SET placeholders = '{"x": "1"}' WHERE name = 'c_broken';

------------------------------------------------------------------------
-- how each runs: in the caller's transaction, then in the background from
-- the first non-transactional migration on, an online migration, and what
-- waits for its completion
------------------------------------------------------------------------
SELECT migrate_register('4', 'after the hand-off', 'UPDATE ${tbl} SET n = 0', NULL, true,
                        '{"tbl": "plan_p"}');
SELECT migrate_register_online('5', 'online note',
    '[{"add_column": {"table": "plan_p", "column": {"name": "note", "type": "text"}}},
      {"create_index": {"table": "plan_p", "name": "plan_p_n", "columns": ["n"]}}]');
SELECT migrate_register('6', 'after the online one', 'DELETE FROM plan_p WHERE n < 0');
SELECT version, name, runs, count(*) AS statements
  FROM migrate_plan() GROUP BY 1, 2, 3 ORDER BY min(version::numeric), name COLLATE "C";
-- an online migration: one row per operation
SELECT version, statement, sql, locks, findings FROM migrate_plan() WHERE version = '5';
-- placeholders replaced
SELECT version, statement, sql, locks FROM migrate_plan() WHERE version = '4';
-- the catalog edited by hand: a versioned migration's values are not in its
-- checksum (one set of files, different values in different databases), and
-- a value that breaks the SQL is a finding, as SQL that does not parse
UPDATE migrate.migration SET placeholders = '{"tbl": "plan_p SET"}' WHERE version = '4';
SELECT version, statement, sql, findings FROM migrate_plan() WHERE version = '4';
UPDATE migrate.migration SET placeholders = '{"tbl": "plan_p"}' WHERE version = '4';

-- a target: the migrations up to it
SELECT version, runs, count(*) FROM migrate_plan('2') GROUP BY 1, 2 ORDER BY 1;
SELECT DISTINCT version, runs FROM migrate_plan('4') ORDER BY 1;
-- NULL: all of them, as migrate_upgrade(NULL)
SELECT count(*) = (SELECT count(*) FROM migrate_plan()) AS same FROM migrate_plan(NULL);
-- not registered: MG004; not a version, or a huge one: 22023, in a message of bounded size
SELECT * FROM migrate_plan('7');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_plan('1.x');
\echo :LAST_ERROR_SQLSTATE
DO $$
BEGIN
    PERFORM * FROM migrate_plan(repeat('9', 10000000));
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'sqlstate %, message of % characters', SQLSTATE, length(SQLERRM);
END $$;
SELECT * FROM migrate_plan(repeat('1.', 100) || '1');
\echo :LAST_ERROR_SQLSTATE

-- the first migrations applied: the plan starts at the non-transactional one
SELECT migrate_baseline('2');
SELECT DISTINCT version, runs FROM migrate_plan() ORDER BY 1;
-- a background run queued (or running): migrate_upgrade would refuse to
-- start; the run applies its own migrations, the others wait
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT version, name, action FROM migrate_upgrade();
SELECT version, name, runs FROM migrate_plan()
 GROUP BY 1, 2, 3 ORDER BY min(version::numeric), name COLLATE "C";
ROLLBACK;
-- a run that reaches its end applies the repeatables at its end: those it
-- was queued with are its own; one changed since, the next deploy's
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT version, name, action FROM migrate_upgrade('4');
SELECT migrate_register_repeatable('B_view', 'CREATE OR REPLACE VIEW plan_v AS SELECT id FROM plan_o');
SELECT version, name, runs FROM migrate_plan()
 GROUP BY 1, 2, 3 ORDER BY min(version::numeric), name COLLATE "C";
ROLLBACK;
-- the online migration first: started by the run, the rest waits
SELECT migrate_baseline('4');
SELECT DISTINCT version, runs FROM migrate_plan() ORDER BY 1;
-- in flight: everything waits for it, as migrate_upgrade would
SELECT * FROM migrate_upgrade('5');
CALL settle();
SELECT DISTINCT version, runs FROM migrate_plan() ORDER BY 1;
SELECT migrate_rollback();
CALL settle();
SELECT DISTINCT version, runs FROM migrate_plan() ORDER BY 1;

------------------------------------------------------------------------
-- changes nothing, takes no deploy lock, works in a READ ONLY transaction
------------------------------------------------------------------------
SELECT count(*) AS events FROM migrate.event \gset
BEGIN READ ONLY;
SELECT count(*) > 0 AS planned FROM migrate_plan();
-- migrate's own locks are advisory locks with objsubid 3 (see migrate.h)
SELECT count(*) AS migrate_locks FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND objsubid = 3;
-- and of the tables it looked at, none is locked
SELECT count(*) AS table_locks FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'plan\_%';
COMMIT;
SELECT count(*) = :events AS no_new_events FROM migrate.event;
SELECT version, state FROM migrate.migration ORDER BY version_key;
-- while another session holds the deploy lock, it does not wait: see
-- test/isolation (the deploy lock is not taken at all, as shown above)

------------------------------------------------------------------------
-- privileges: a role without the grant is refused; a deploy role plans
------------------------------------------------------------------------
CREATE ROLE plan_nobody;
CREATE ROLE plan_deployer;
CALL grant_deploy('plan_deployer');
SET ROLE plan_nobody;
SELECT * FROM migrate_plan();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE plan_deployer;
SELECT DISTINCT version, runs FROM migrate_plan() ORDER BY 1;
RESET ROLE;

------------------------------------------------------------------------
-- hostile definitions
------------------------------------------------------------------------
-- the catalog edited by hand: refused, as migrate_upgrade refuses it (MG001)
UPDATE migrate.migration SET up_sql = 'DROP TABLE plan_p' WHERE version = '6';
SELECT * FROM migrate_plan();
\echo :LAST_ERROR_SQLSTATE
-- SQL that does not parse, with a matching checksum (as migration_checksum
-- computes it, see catalog.c): one row without a statement number, whose
-- finding says why
CREATE FUNCTION plan_field(v text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN v IS NULL THEN '-;' ELSE octet_length(v) || ':' || v || ';' END $$;
UPDATE migrate.migration
   SET up_sql = 'ALTER TABLE plan_p ADD COLUMN;  SELECT 1',
       checksum = encode(sha256(convert_to(plan_field(kind) || plan_field(name)
                                            || plan_field('ALTER TABLE plan_p ADD COLUMN;  SELECT 1')
                                            || plan_field(down_sql) || plan_field(operations::text)
                                            || plan_field(CASE WHEN transactional THEN 't' ELSE 'f' END),
                                            'UTF8')), 'hex')
 WHERE version = '6';
SELECT * FROM plan('6') WHERE version = '6';
-- nested beyond what the parser takes
UPDATE migrate.migration
   SET up_sql = 'SELECT ' || repeat('(', 100000) || '1' || repeat(')', 100000),
       checksum = encode(sha256(convert_to(plan_field(kind) || plan_field(name)
                                            || plan_field('SELECT ' || repeat('(', 100000) || '1' || repeat(')', 100000))
                                            || plan_field(down_sql) || plan_field(operations::text)
                                            || plan_field(CASE WHEN transactional THEN 't' ELSE 'f' END),
                                            'UTF8')), 'hex')
 WHERE version = '6';
SELECT version, runs, statement, length(sql), findings FROM migrate_plan('6') WHERE version = '6';
-- a statement naming a relation in another database: a clear error, naming the statement
SELECT migrate_register('7', 'elsewhere', 'SELECT 1; DROP TABLE otherdb.public.t');
SELECT * FROM migrate_plan();
\echo :LAST_ERROR_SQLSTATE

DROP FUNCTION plan(text);
DROP FUNCTION plan_field(text);
DROP VIEW plan_v;
DROP MATERIALIZED VIEW plan_mv;
DROP TABLE plan_o, plan_p, plan_parted CASCADE;
DROP SCHEMA "Plan Space" CASCADE;
DROP EXTENSION migrate;
DROP OWNED BY plan_deployer;
DROP ROLE plan_nobody;
DROP ROLE plan_deployer;
