-- Online migrations of a partitioned table: add_column with up (NOT NULL),
-- alter_column (a type change) and create_index through start -> writes
-- of both shapes into several partitions -> rollback -> start -> a
-- partition attached and one created in flight -> the job, partition by
-- partition -> complete; then a partition attached after the job, which
-- complete finds and says what to do about.  What is refused on a
-- partitioned table, and an identity column of one altered.
CREATE EXTENSION migrate;
SET client_min_messages = warning;

SELECT migrate_register('1', 'events', $$
    CREATE TABLE events (
        id     int NOT NULL,
        at     date NOT NULL,
        kind   text,
        amount int NOT NULL DEFAULT 0,
        PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE INDEX events_amount ON events (amount);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    INSERT INTO events
        SELECT g, date '2024-01-01' + g, CASE WHEN g % 5 <> 0 THEN 'k' || g % 3 END, g
          FROM generate_series(1, 900) g;
    CREATE TABLE refs (id int PRIMARY KEY);
$$, 'DROP TABLE events, refs');
SELECT * FROM migrate_upgrade();

-- what start leaves behind (names with object ids masked)
CREATE VIEW leftovers AS
SELECT 'column ' || attrelid::regclass || '.' || attname AS object
  FROM pg_attribute WHERE attname LIKE '\_migrate%' AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p'))
UNION ALL SELECT 'trigger ' || tgrelid::regclass || '.' || tgname FROM pg_trigger WHERE tgname LIKE '\_migrate%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_migrate%'
UNION ALL SELECT 'constraint ' || conrelid::regclass || '.' || conname
  FROM pg_constraint WHERE conname LIKE '\_migrate%'
UNION ALL SELECT 'relation ' || regexp_replace(relname, '^_migrate_ix\d+_\d+$', '_migrate_ixN_N')
  FROM pg_class WHERE relname LIKE '%\_migrate%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'migrate\_public\_v%'
ORDER BY 1;
-- the constraints and indexes of the table and its partitions
CREATE VIEW events_catalog AS
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' ||
       pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' (not valid)' END AS object
  FROM pg_constraint WHERE conrelid IN (SELECT relid FROM pg_partition_tree('events'))
   AND contype <> 'n'  -- NOT NULL: a pg_constraint row from 18 on, the column shows it
UNION ALL
SELECT 'index ' || indrelid::regclass || ' ' ||
       regexp_replace(indexrelid::regclass::text, '^_migrate_ix\d+_\d+$', '_migrate_ixN_N') ||
       CASE WHEN indisvalid THEN '' ELSE ' (invalid)' END || ' ' ||
       regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', 'USING ')
  FROM pg_index WHERE indrelid IN (SELECT relid FROM pg_partition_tree('events'))
ORDER BY 1;
-- the rows of each partition: how many, and how many still to backfill
CREATE FUNCTION pending() RETURNS TABLE (partition regclass, rows bigint, pending bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT tableoid::regclass, count(*),
                        count(*) FILTER (WHERE _migrate_pending IS NOT FALSE)
                   FROM events GROUP BY 1 ORDER BY 1;
END $$;
CREATE TABLE snapshot (kind text, object text, definition text);
CREATE FUNCTION take_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snapshot;
    INSERT INTO snapshot SELECT kind, object, definition FROM migrate.fingerprint_object
     WHERE object !~ '(snapshot|leftovers|events_catalog|pending|job_steps)';
$$;
CREATE FUNCTION changed_since_snapshot() RETURNS TABLE (change text, kind text, object text)
LANGUAGE sql AS $$
    (SELECT 'gone', kind, object FROM snapshot
     EXCEPT SELECT 'gone', kind, object FROM migrate.fingerprint_object)
    UNION ALL
    (SELECT 'new or changed', kind, object FROM migrate.fingerprint_object
      WHERE object !~ '(snapshot|leftovers|events_catalog|pending|job_steps)'
     EXCEPT SELECT 'new or changed', kind, object FROM snapshot)
    ORDER BY 1, 2, 3;
$$;
-- the steps of the latest job of a migration, partitions named
CREATE FUNCTION job_steps(version text) RETURNS TABLE (step bigint, what text)
LANGUAGE sql AS $$
    SELECT n, CASE WHEN b ? 'sweep' THEN 'sweep of the partitions of ' ELSE 'backfill of ' END ||
              (b->>'relation')::oid::regclass
      FROM migrate.job j, jsonb_array_elements(j.args->'backfills') WITH ORDINALITY x(b, n)
     WHERE j.id = (SELECT max(id) FROM migrate.job WHERE job.version = $1)
    UNION ALL
    SELECT jsonb_array_length(j.args->'backfills') + n,
           coalesce(regexp_replace(s->>'sql', '\d+', 'N', 'g'),
                    CASE WHEN s ? 'validate' THEN 'validate ' || (s->>'validate')
                         ELSE 'index ' || (s->>'index') || (s->>'definition') END ||
                    ' on the partitions of ' || (s->>'leaves')::oid::regclass)
      FROM migrate.job j, jsonb_array_elements(j.args->'steps') WITH ORDINALITY y(s, n)
     WHERE j.id = (SELECT max(id) FROM migrate.job WHERE job.version = $1)
    ORDER BY 1;
$$;

------------------------------------------------------------------------
-- what cannot be done online on a partitioned table (or on a partition)
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "events", "column": "at", "type": "timestamp"}}]');
SELECT migrate_register_online('2', 'bad', '[{"drop_column": {"table": "events", "column": "at"}}]');
SELECT migrate_register_online('2', 'bad', '[{"add_column": {"table": "events_2024", "column": {"name": "x", "type": "int"}}}]');
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "events", "name": "events_kind_key", "type": "unique", "columns": ["kind", "at"]}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "events", "column": "kind", "unique": {"name": "events_kind_key"}}}]');
-- a primary key: complete could not make the index the key (USING INDEX)
SELECT migrate_register_online('2', 'bad', '[{"create_constraint": {"table": "events", "name": "events_key", "type": "primary_key", "columns": ["id", "at"]}}]');
\echo :LAST_ERROR_SQLSTATE
-- an exclusion constraint: none before PostgreSQL 17; from 17 on, one
-- without the partition key's columns (the detail says which, terse here)
\set VERBOSITY terse
SELECT migrate_register_online('2', 'bad', $$[{"create_constraint": {"table": "events", "name": "events_excl", "type": "exclude",
    "elements": [{"expression": "int4range(id, id, '[]')", "operator": "&&"}]}}]$$);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
-- a column of a partition's replica identity: complete would drop its index
CREATE UNIQUE INDEX events_2025_ident ON events_2025 (id, amount);
ALTER TABLE events_2025 REPLICA IDENTITY USING INDEX events_2025_ident;
SELECT migrate_register_online('2', 'bad', '[{"alter_column": {"table": "events", "column": "amount", "type": "bigint"}}]');
ALTER TABLE events_2025 REPLICA IDENTITY DEFAULT;
DROP INDEX events_2025_ident;
SELECT count(*) AS registered FROM migrate.migration WHERE kind = 'online';

------------------------------------------------------------------------
-- start, writes of both shapes into several partitions, rollback
------------------------------------------------------------------------
SELECT migrate_register_online('2', 'events: label, amount bigint', $$[
    {"add_column": {"table": "events", "column": {"name": "label", "type": "text", "nullable": false},
                    "up": "coalesce(kind, 'none') || ':' || id"}},
    {"alter_column": {"table": "events", "column": "amount", "type": "bigint"}},
    {"create_index": {"table": "events", "name": "events_label", "columns": ["label"]}}
]$$);
SELECT take_snapshot();
BEGIN;
SELECT * FROM migrate_upgrade();
-- held back, to write before the job runs
SELECT migrate_cancel();
COMMIT;
SELECT * FROM leftovers;
-- NOT VALID checks on the table and every partition; the index ON ONLY the
-- table, invalid until each partition has its own
SELECT * FROM events_catalog;
SELECT * FROM job_steps('2');

-- old shape
INSERT INTO events (id, at, kind, amount) VALUES (1001, '2024-06-01', 'old', 5), (1002, '2026-06-01', NULL, 6);
UPDATE events SET kind = 'old-upd' WHERE id IN (10, 500);
UPDATE events SET amount = amount + 1 WHERE id IN (20, 800);
-- new shape: label is NOT NULL there already; amount takes a bigint
SET search_path = migrate_public_v2, public;
INSERT INTO events (id, at, kind, amount, label) VALUES (2001, '2025-03-01', 'new', 2000000000, 'fresh');
INSERT INTO events (id, at, kind, amount, label) VALUES (2002, '2024-03-01', 'new', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
-- rows not backfilled yet: what the backfill would fill is filled first
UPDATE events SET kind = 'new-upd' WHERE id IN (30, 830);
SELECT id, at, kind, amount, label FROM events WHERE id IN (10, 20, 30, 500, 800, 830, 1001, 1002, 2001)
 ORDER BY id;
RESET search_path;
SELECT id, at, kind, amount, _migrate_new_amount, _migrate_new_label, _migrate_pending
  FROM events WHERE id IN (10, 20, 30, 500, 800, 830, 1001, 1002, 2001) ORDER BY id;
SELECT * FROM pending();

SELECT migrate_rollback();
SELECT * FROM changed_since_snapshot();
SELECT * FROM leftovers;
SELECT * FROM events_catalog;

------------------------------------------------------------------------
-- start again; a partition attached and one created in flight
------------------------------------------------------------------------
BEGIN;
SELECT * FROM migrate_upgrade();
SELECT migrate_cancel();
COMMIT;
UPDATE events SET kind = 'old-upd2' WHERE id IN (11, 501, 801);
UPDATE events SET amount = amount + 1 WHERE id IN (21, 401, 802);
SET search_path = migrate_public_v2, public;
INSERT INTO events (id, at, kind, amount, label) VALUES (2003, '2026-03-01', 'new', 2000000001, 'fresh');
UPDATE events SET kind = 'new-upd2' WHERE id IN (31, 431, 831);
RESET search_path;

-- a table attached: it has the table's columns, migrate's too, and its NOT
-- VALID checks; its rows, _migrate_pending NULL, are not backfilled yet
CREATE TABLE events_2027 (LIKE events);
INSERT INTO events_2027 (id, at, kind, amount)
    SELECT g, date '2027-01-01' + g % 300, CASE WHEN g % 2 = 0 THEN 'attached' END, g
      FROM generate_series(3001, 3040) g;
SELECT format('ALTER TABLE events_2027 ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'c' AND NOT convalidated
 ORDER BY conname \gexec
ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
-- a partition created: it gets the columns, checks, triggers and indexes
CREATE TABLE events_2028 PARTITION OF events FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
-- both shapes write into them
INSERT INTO events (id, at, kind, amount) VALUES (4001, '2028-02-02', 'old', 1), (4002, '2027-02-02', 'old', 2);
SET search_path = migrate_public_v2, public;
INSERT INTO events (id, at, kind, amount, label) VALUES (4003, '2028-02-03', 'new', 2000000002, 'n4003');
RESET search_path;
SELECT id, amount, _migrate_new_amount, _migrate_new_label, _migrate_pending
  FROM events WHERE id >= 4001 ORDER BY id;
SELECT * FROM pending();

-- the job: each partition's backfill, then the sweep finds the attached one
SELECT migrate_resume();
CALL settle();
SELECT migrate_wait('2');
SELECT * FROM pending();
SELECT count(*) AS rows,
       count(*) FILTER (WHERE _migrate_new_label IS NULL) AS no_label,
       count(*) FILTER (WHERE _migrate_new_amount IS DISTINCT FROM amount) AS amount_differs
  FROM events;
-- the checks are valid on every partition, still NOT VALID on the table;
-- the indexes are built and attached on every partition, and valid
SELECT * FROM events_catalog;

SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT * FROM events_catalog;
SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'events'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY attnum;

-- every row backfilled: up's value where no new-shape writer set it
SELECT tableoid::regclass AS partition, count(*) AS rows,
       count(*) FILTER (WHERE label = coalesce(kind, 'none') || ':' || id) AS from_up,
       count(*) FILTER (WHERE label <> coalesce(kind, 'none') || ':' || id) AS written_new
  FROM events GROUP BY 1 ORDER BY 1;
SELECT id, kind, amount, label FROM events
 WHERE id IN (11, 21, 31, 401, 431, 501, 801, 802, 831, 2003, 3002, 3003, 4001, 4003) ORDER BY id;
-- the constraints hold, on every partition
INSERT INTO events (id, at, kind, amount, label) VALUES (5001, '2028-05-05', 'x', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO events (id, at, kind, amount) VALUES (5002, '2024-05-05', 'x', 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO events (id, at, kind, amount, label) VALUES (5003, '2027-05-05', 'x', 6000000000, 'big');
SELECT id, amount, label FROM events WHERE id = 5003;

------------------------------------------------------------------------
-- a partition attached once the job is done: complete finds its rows and
-- its checks, and says what to do
------------------------------------------------------------------------
SELECT migrate_register_online('3', 'events: note', $$[
    {"add_column": {"table": "events", "column": {"name": "note", "type": "text", "nullable": false},
                    "up": "'#' || id"}},
    {"create_constraint": {"table": "events", "name": "events_amount_positive", "type": "check",
                           "check": "amount > 0"}}
]$$);
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('3');
CREATE TABLE events_2029 (id int NOT NULL, at date NOT NULL, kind text, amount bigint NOT NULL DEFAULT 0,
                          label text NOT NULL);
INSERT INTO events_2029 VALUES (6001, '2029-01-01', 'late', 7, 'l1'), (6002, '2029-02-01', NULL, 8, 'l2');
-- migrate's columns, the marker without a default: its rows are pending
ALTER TABLE events_2029 ADD COLUMN _migrate_new_note text, ADD COLUMN _migrate_pending boolean;
SELECT format('ALTER TABLE events_2029 ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'c' AND NOT convalidated
 ORDER BY conname \gexec
ALTER TABLE events ATTACH PARTITION events_2029 FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');
SELECT migrate_complete();
UPDATE events SET _migrate_pending = false WHERE _migrate_pending IS NOT FALSE;
SELECT migrate_complete();
ALTER TABLE public.events_2029 VALIDATE CONSTRAINT _migrate_nn_note, VALIDATE CONSTRAINT events_amount_positive;
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT id, note FROM events WHERE id IN (1, 6001, 6002) ORDER BY id;
SELECT conrelid::regclass, conname, convalidated
  FROM pg_constraint WHERE conname = 'events_amount_positive' ORDER BY 1;

------------------------------------------------------------------------
-- keys of a partitioned table: its primary key has the partition key, so
-- alter_column refuses its columns; a column that a partitioned table's
-- foreign key references is refused; an identity column is carried
------------------------------------------------------------------------
SELECT migrate_register('4', 'tickets', $$
    CREATE TABLE tickets (
        id   int GENERATED ALWAYS AS IDENTITY (START WITH 100),
        at   date NOT NULL,
        note text) PARTITION BY RANGE (at);
    CREATE TABLE tickets_2024 PARTITION OF tickets FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE tickets_2025 PARTITION OF tickets FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO tickets (at, note) SELECT date '2024-01-01' + 2 * g, 't' || g FROM generate_series(1, 300) g;
    CREATE TABLE refs_log (ref int REFERENCES refs, at date NOT NULL) PARTITION BY RANGE (at);
$$, 'DROP TABLE tickets, refs_log');
SELECT * FROM migrate_upgrade();
SELECT migrate_register_online('5', 'bad', '[{"alter_column": {"table": "events", "column": "id", "type": "bigint"}}]');
SELECT migrate_register_online('5', 'bad', '[{"alter_column": {"table": "refs", "column": "id", "type": "bigint"}}]');
SELECT migrate_register_online('5', 'tickets: id bigint', '[{"alter_column": {"table": "tickets", "column": "id", "type": "bigint"}}]');
SELECT * FROM migrate_upgrade();
CALL settle();
SELECT migrate_wait('5');
INSERT INTO tickets (at, note) VALUES ('2024-12-30', 'old shape') RETURNING id;
SET search_path = migrate_public_v5, public;
INSERT INTO tickets (at, note) VALUES ('2025-01-02', 'new shape') RETURNING id;
RESET search_path;
SELECT id, _migrate_new_id, note FROM tickets WHERE id >= 399 ORDER BY id;
SELECT migrate_complete();
SELECT * FROM leftovers;
SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity,
       pg_get_serial_sequence('tickets', attname)
  FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
INSERT INTO tickets (at, note) VALUES ('2025-06-01', 'after') RETURNING id;
SELECT tableoid::regclass AS partition, count(*), min(id), max(id) FROM tickets GROUP BY 1 ORDER BY 1;

-- leave nothing behind
DROP SCHEMA migrate_public_v5 CASCADE;
DROP VIEW leftovers, events_catalog;
DROP TABLE events, tickets, refs_log, refs, snapshot CASCADE;
DROP FUNCTION take_snapshot(), changed_since_snapshot(), job_steps(text), pending();
DROP EXTENSION migrate;
