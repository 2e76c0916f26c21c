-- A hostile role with the deploy grants of the README (and CREATE on schema
-- public, as many databases allow) plants lookalike functions and operators,
-- feeds hostile text to every argument, and reads what other roles left in
-- the catalog.  Whatever a victim superuser later runs through migrate must
-- run nothing the hostile role planted, and every odd name is used exactly.
CREATE EXTENSION migrate;
\set VERBOSITY terse
CREATE ROLE security_inputs_hostile LOGIN;
CALL grant_deploy('security_inputs_hostile');
GRANT CREATE ON SCHEMA public TO security_inputs_hostile;
CREATE ROLE security_inputs_victim SUPERUSER LOGIN;
SET search_path = "$user", public;

-- the victim's tables, in public, as deploying usually leaves them
SET ROLE security_inputs_victim;
CREATE TABLE security_inputs_t (id int PRIMARY KEY, code varchar(20) NOT NULL,
                                ratio real, note text);
INSERT INTO security_inputs_t SELECT i, 'c' || i, i / 10.0, NULL FROM generate_series(1, 50) i;
CREATE UNIQUE INDEX security_inputs_t_code ON security_inputs_t (code);
ALTER TABLE security_inputs_t ADD CONSTRAINT security_inputs_t_ratio CHECK (ratio IS NOT NULL);
CREATE TABLE security_inputs_v (code varchar(20) PRIMARY KEY, n int);
INSERT INTO security_inputs_v SELECT 'c' || i, i FROM generate_series(1, 30) i;
ANALYZE security_inputs_t, security_inputs_v;

-- Planted: every function and operator records who ran it.  Each one is a
-- closer match than pg_catalog's for a call that migrate's own SQL might
-- make unqualified (pg_catalog's takes anyarray, or needs a cast).
SET ROLE security_inputs_hostile;
CREATE TABLE public.security_inputs_hits (planted text, ran_as name);
GRANT INSERT ON public.security_inputs_hits TO PUBLIC;
CREATE FUNCTION public.security_inputs_hit(what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.security_inputs_hits VALUES (what, current_user);
    RAISE NOTICE 'planted % ran as %', what, current_user;
    RETURN true;
END $$;
CREATE FUNCTION public.unnest(a smallint[]) RETURNS SETOF smallint LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('unnest(smallint[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.cardinality(a smallint[]) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('cardinality(smallint[])'); RETURN pg_catalog.cardinality(a); END $$;
CREATE FUNCTION public.quote_ident(n name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('quote_ident(name)'); RETURN pg_catalog.quote_ident(n::text); END $$;
CREATE FUNCTION public.security_inputs_agg(s text, n name, d text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('string_agg(name, text)');
      RETURN CASE WHEN s IS NULL THEN n::text ELSE s || d || n::text END; END $$;
CREATE AGGREGATE public.string_agg(name, text) (SFUNC = public.security_inputs_agg, STYPE = text);
CREATE FUNCTION public.lower(v varchar) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('lower(varchar)'); RETURN pg_catalog.lower(v::text); END $$;
CREATE FUNCTION public.upper(v varchar) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('upper(varchar)'); RETURN pg_catalog.upper(v::text); END $$;
CREATE FUNCTION public.length(v varchar) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('length(varchar)'); RETURN pg_catalog.length(v::text); END $$;
CREATE FUNCTION public.left(v name, n int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('left(name, int)'); RETURN pg_catalog.left(v::text, n); END $$;
CREATE FUNCTION public.floor(v real) RETURNS double precision LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('floor(real)'); RETURN pg_catalog.floor(v::float8); END $$;
CREATE FUNCTION public.jsonb_array_elements(v json) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('jsonb_array_elements(json)'); RETURN QUERY SELECT pg_catalog.jsonb_array_elements(v::jsonb); END $$;
CREATE FUNCTION public.array_agg(v name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('array_agg(name)'); RETURN v; END $$;
CREATE FUNCTION public.text(v int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('text(int)'); RETURN v::text; END $$;
CREATE FUNCTION public.regclass(v text) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('regclass(text)'); RETURN pg_catalog.to_regclass(v); END $$;
CREATE FUNCTION public.pg_sleep(v int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('pg_sleep(int)'); END $$;
-- operators: a closer match than pg_catalog's for varchar, name and mixed
-- numeric operands
CREATE FUNCTION public.security_inputs_vc_gt(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('>(varchar, varchar)'); RETURN a::text > b::text; END $$;
CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.security_inputs_vc_gt);
CREATE FUNCTION public.security_inputs_vc_le(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('<=(varchar, varchar)'); RETURN a::text <= b::text; END $$;
CREATE OPERATOR public.<= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.security_inputs_vc_le);
CREATE FUNCTION public.security_inputs_vc_eq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('=(varchar, varchar)'); RETURN a::text = b::text; END $$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.security_inputs_vc_eq);
CREATE FUNCTION public.security_inputs_nn(a name, b name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('!~(name, name)'); RETURN a::text !~ b::text; END $$;
CREATE OPERATOR public.!~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.security_inputs_nn);
CREATE FUNCTION public.security_inputs_ri(a real, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('>(real, int)'); RETURN a > b::real; END $$;
CREATE OPERATOR public.> (LEFTARG = real, RIGHTARG = int, FUNCTION = public.security_inputs_ri);
CREATE FUNCTION public.security_inputs_div(a real, b int) RETURNS double precision LANGUAGE plpgsql AS $$
BEGIN PERFORM public.security_inputs_hit('/(real, int)'); RETURN a::float8 / b; END $$;
CREATE OPERATOR public./ (LEFTARG = real, RIGHTARG = int, FUNCTION = public.security_inputs_div);
-- the hostile session's own temporary schema: migrate's catalog queries, run
-- as the catalog's owner, list pg_temp last and never look functions up there
CREATE TEMP TABLE job (id int);
CREATE TEMP TABLE migration (version text);
SELECT migrate_register('0.1', 'hostile''s own', 'SELECT 1');
SELECT version, name, state FROM migrate_status();
SELECT * FROM migrate_upgrade();
SELECT migrate_current();
DISCARD TEMP;
RESET ROLE;
SELECT count(*) AS planted_before FROM public.security_inputs_hits;

-- The victim deploys: registration checks the SQL against the live tables
-- (migrate.check), so does migrate_check; neither runs a planted object
SET ROLE security_inputs_victim;
SELECT migrate_register('1', 'index', 'CREATE INDEX security_inputs_t_code2 ON security_inputs_t (code)');
SELECT migrate_register('2', 'column', 'ALTER TABLE security_inputs_t ADD COLUMN extra int',
                        'ALTER TABLE security_inputs_t DROP COLUMN extra');
SELECT severity, rule FROM migrate_check($$
    CREATE INDEX CONCURRENTLY security_inputs_i ON security_inputs_t (code);
    CREATE INDEX security_inputs_j ON security_inputs_t (ratio);
    ALTER TABLE security_inputs_t ALTER COLUMN ratio SET NOT NULL;
    ALTER TABLE security_inputs_t ALTER COLUMN code TYPE varchar(10);
    ALTER TABLE security_inputs_t ADD COLUMN d timestamptz DEFAULT now();
    DROP INDEX security_inputs_t_code;
    ALTER TABLE security_inputs_t RENAME COLUMN note TO remark;
$$) ORDER BY 1, 2;
SELECT migrate_verify('2');
SELECT * FROM migrate_upgrade();
SELECT * FROM migrate_downgrade('1');
SELECT * FROM migrate_upgrade();
SELECT version, state FROM migrate_status();
SELECT * FROM migrate_validate();
SELECT migrate_current();
RESET ROLE;
SELECT planted, ran_as FROM public.security_inputs_hits ORDER BY 1;
TRUNCATE public.security_inputs_hits;

-- A backfill of a table with a float column: the worker estimates rows per
-- page without the planted real/int operators
SET ROLE security_inputs_victim;
SELECT migrate_backfill('security_inputs_t', 'note = ''x''', 'id > 10', 9) IS NOT NULL AS queued;
RESET ROLE;
CALL settle();
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE note = 'x') AS t_done FROM security_inputs_t;
SELECT planted, ran_as FROM public.security_inputs_hits ORDER BY 1;
TRUNCATE public.security_inputs_hits;

-- A backfill keyed by a varchar primary key: its batches compare keys with
-- the key's own btree operators, named with their schema, never with the
-- planted >(varchar, varchar) or <=(varchar, varchar) the path would find
SET ROLE security_inputs_victim;
SELECT migrate_backfill('security_inputs_v', 'n = n + 100', NULL, 7) IS NOT NULL AS queued;
RESET ROLE;
CALL settle();
SELECT migrate_wait();
SELECT count(*) FILTER (WHERE n > 100) AS v_done, count(*) AS v_rows FROM security_inputs_v;
SELECT planted, ran_as FROM public.security_inputs_hits ORDER BY 1;
TRUNCATE public.security_inputs_hits;

-- Online migrations: registering an alter_column asks the catalog why the
-- column could not be altered (here: it is the primary key, which stays NOT
-- NULL), and starting one copies the indexes of the column it shadows (with
-- their options) under a pinned path; neither runs the planted
-- quote_ident(name), !~(name, name), unnest(text[]) or string_agg(name, text)
SET ROLE security_inputs_victim;
\set VERBOSITY default
SELECT migrate_register_online('2.1', 'pk type', '[{"alter_column": {"table": "security_inputs_t",
    "column": "id", "type": "bigint", "nullable": true, "up": "id", "down": "id::int"}}]');
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX security_inputs_t_note ON security_inputs_t (note) WITH (fillfactor = 70);
SELECT migrate_register_online('2.1', 'note type', '[{"alter_column": {"table": "security_inputs_t",
    "column": "note", "type": "varchar(100)", "up": "note", "down": "note"}}]');
SELECT * FROM migrate_upgrade();
RESET ROLE;
CALL settle();
SELECT migrate_wait();
SET ROLE security_inputs_victim;
SELECT migrate_complete();
RESET ROLE;
SELECT pg_get_indexdef('security_inputs_t_note'::regclass) AS note_index;
SELECT planted, ran_as FROM public.security_inputs_hits ORDER BY 1;
TRUNCATE public.security_inputs_hits;

-- A concurrent reindex in a background run looks for its own leftovers
-- (indexes named *_ccnew) in a catalog query: it runs under a pinned path,
-- so an IMMUTABLE =(oid, integer) the planner could fold is never called
SET ROLE security_inputs_hostile;
CREATE FUNCTION public.security_inputs_oid_int(a oid, b int) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM public.security_inputs_hit('=(oid, int)'); RETURN a::int8 = b; END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = int, FUNCTION = public.security_inputs_oid_int);
RESET ROLE;
SET ROLE security_inputs_victim;
SELECT migrate_register('2.2', 'reindex', 'REINDEX INDEX CONCURRENTLY security_inputs_t_code',
                        NULL, transactional => false);
SELECT * FROM migrate_upgrade();
RESET ROLE;
CALL settle();
SELECT migrate_wait();
SELECT planted, ran_as FROM public.security_inputs_hits ORDER BY 1;
TRUNCATE public.security_inputs_hits;
SET ROLE security_inputs_hostile;
DROP OPERATOR public.= (oid, int);
DROP FUNCTION public.security_inputs_oid_int(oid, int);
RESET ROLE;

-- Hostile text in every argument.  The hostile role works in a schema of its
-- own; a table of the victim's sits next to it, and must survive.
CREATE SCHEMA security_inputs_h AUTHORIZATION security_inputs_hostile;
CREATE TABLE security_inputs_victim_data (secret text);
INSERT INTO security_inputs_victim_data VALUES ('s3cr3t');
SET ROLE security_inputs_hostile;
SET search_path = security_inputs_h, public;
-- versions: anything but a version is refused with 22023, nothing is run
SELECT migrate_register(v, 'x', 'SELECT 1')
  FROM (VALUES ($v$1'; DROP TABLE public.security_inputs_victim_data; --$v$)) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(E'1\n2', 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('1$$', 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(E'1\\', 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('１', 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- a megabyte of it is not echoed back whole
SELECT migrate_register(repeat('9', 1024 * 1024), 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register(NULL, 'x', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- names are kept exactly as given, whatever they hold
SELECT migrate_register('3', $n$x"; DROP TABLE public.security_inputs_victim_data; -- $$ $m$ /* \ ' é 🐘$n$ || E'\n' || repeat('n', 100),
                        'CREATE TABLE security_inputs_h."x""; DROP TABLE public.security_inputs_victim_data; --" (id int)',
                        'DROP TABLE security_inputs_h."x""; DROP TABLE public.security_inputs_victim_data; --"');
SELECT migrate_register('4', repeat('long name ', 100000), 'SELECT 1', 'SELECT 1');
SELECT version, left(name, 40) AS name, length(name) FROM migrate.migration
 WHERE version IN ('3', '4') ORDER BY 1;
-- up and down are SQL by design, run as the hostile role: statements the
-- role may not run fail with its privileges, never the owner's
SELECT migrate_register('5', 'steal', 'CREATE TABLE security_inputs_h.loot AS SELECT * FROM public.security_inputs_victim_data');
SELECT version, length(name), action FROM migrate_upgrade('4');
SELECT * FROM migrate_upgrade('5');
\echo :LAST_ERROR_SQLSTATE
SELECT relname FROM pg_class WHERE relnamespace = 'security_inputs_h'::regnamespace ORDER BY 1;
-- a pending migration that failed can be replaced, and applied
SELECT migrate_register('5', 'no longer steal', 'SELECT 1');
SELECT * FROM migrate_upgrade('5');
-- targets of upgrade, downgrade, baseline, wait, cancel, resume, verify,
-- version_schema, complete, rollback: the right SQLSTATE, nothing run
SELECT * FROM migrate_upgrade($t$4'; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_downgrade($t$1'); DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM migrate_baseline(E'1\n; DROP TABLE public.security_inputs_victim_data');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_verify($t$5$$; DROP TABLE public.security_inputs_victim_data; $$$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait($t$5'); DROP TABLE public.security_inputs_victim_data; --$t$, '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait('5', $t$1 second'; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait('5', '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_wait(repeat('5', 199) || '😀', '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_cancel($t$x"; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_resume($t$x'; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_version_schema($t$x"; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_complete($t$x'; DROP TABLE public.security_inputs_victim_data; --$t$);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_rollback(repeat('x', 1024 * 1024));
\echo :LAST_ERROR_SQLSTATE
CALL migrate_await($t$x'; DROP TABLE public.security_inputs_victim_data; --$t$, '1 second');
\echo :LAST_ERROR_SQLSTATE
-- migrate_check parses, never runs, what it is given
SELECT severity, rule FROM migrate_check('DROP TABLE public.security_inputs_victim_data; SELECT 1 $$ unterminated');
\echo :LAST_ERROR_SQLSTATE
SELECT severity, rule FROM migrate_check('DROP TABLE public.security_inputs_victim_data') ORDER BY 1, 2;
SELECT severity, rule FROM migrate_check(repeat('SELECT 1; ', 100000)) ORDER BY 1, 2;

-- Backfills of the hostile role's own table, whose name and columns hold
-- quotes, semicolons, dollars and comment starters: used exactly as named
CREATE TABLE security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --" (
    "i""d$" int PRIMARY KEY, "v;$$ /*" text, "w""" text);
INSERT INTO security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"
SELECT i, NULL, NULL FROM generate_series(1, 25) i;
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = $v$it''s $$ -- /* here$v$', '"i""d$" > 5', 4) IS NOT NULL AS queued;
-- set and where clauses that try to reach past the UPDATE: refused
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1; DROP TABLE public.security_inputs_victim_data');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1', 'true; DROP TABLE public.security_inputs_victim_data');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1', 'true RETURNING *');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1', 'true) OR (true');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1', 'true /*');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = 1 --', '"i""d$" <= 5 --') IS NOT NULL AS queued;
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        '"v;$$ /*" = $x$ $x$ FROM public.security_inputs_victim_data');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_backfill('security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"',
                        repeat(' ', 1024 * 1024) || '"w""" = ''long''', repeat('true AND ', 10000) || 'true', 3) IS NOT NULL AS queued;
SELECT migrate_backfill('public.security_inputs_victim_data', 'secret = NULL');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CALL settle();
SELECT migrate_wait();
-- each job updated the rows of its own where clause, a comment in a clause
-- ends with the clause
SELECT left(args ->> 'where', 20) AS where_clause, state, rows_done FROM migrate.job
 WHERE relation = 'security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --"'::regclass
 ORDER BY id;
SELECT "i""d$" <= 5 AS below, "v;$$ /*", "w""", count(*)
  FROM security_inputs_h."b""; DROP TABLE public.security_inputs_victim_data; --" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- A migration cannot become another role: in a session of the hostile role
-- (SET ROLE above kept the superuser as session user, who may become
-- anyone), SET ROLE to a role it is not a member of fails
SELECT current_user AS security_inputs_super \gset
\c - security_inputs_hostile
SET search_path = security_inputs_h, public;
SELECT migrate_register('6', 'become', 'SET ROLE security_inputs_victim; CREATE TABLE security_inputs_h.as_victim (id int)');
SELECT * FROM migrate_upgrade('6');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('6', 'become', 'SELECT pg_catalog.set_config(''role'', ''security_inputs_victim'', false)');
SELECT * FROM migrate_upgrade('6');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_register('6', 'become', 'SELECT 1');
SELECT * FROM migrate_upgrade('6');
SELECT session_user, current_user;
-- it cannot write migrate's catalog through the functions either: a version
-- or name with SQL in it went in as a parameter (above), nothing else
UPDATE migrate.job SET run_as = 'security_inputs_victim'::regrole;
\echo :LAST_ERROR_SQLSTATE
\c - :security_inputs_super
SET search_path = "$user", public;

-- Reading: the catalog is shared history.  Migration SQL (up, down) and the
-- settings a job was queued with (search_path, the date/number formats and
-- migrate's own settings, nothing else of the session) are visible to every
-- deploy role by design.  A failure's DETAIL is recorded too, and it may
-- hold values of the failing rows: here a deploy role reads a value of a
-- table it may not SELECT from (known, reported with issue 12).
SET ROLE security_inputs_victim;
RESET search_path;
INSERT INTO public.security_inputs_victim_data VALUES ('s3cr3t');
SELECT migrate_register('7', 'unique secret', 'CREATE UNIQUE INDEX security_inputs_secret ON public.security_inputs_victim_data (secret)');
SELECT * FROM migrate_upgrade();
SET search_path = "$user", public;
RESET ROLE;
SET ROLE security_inputs_hostile;
SELECT * FROM public.security_inputs_victim_data;
\echo :LAST_ERROR_SQLSTATE
SELECT version, up_sql FROM migrate.migration WHERE version = '7';
SELECT array(SELECT jsonb_object_keys(args -> 'settings') ORDER BY 1) AS job_settings
  FROM migrate.job WHERE kind = 'backfill' ORDER BY id LIMIT 1;
SELECT version, action, detail FROM migrate.event WHERE version = '7' ORDER BY id;
SELECT version, state, last_error FROM migrate.migration WHERE version = '7';
RESET ROLE;

-- After all of it: nothing planted ran as anyone but the hostile role, the
-- victim's table is intact, and the hostile role is what it was
SELECT planted, ran_as FROM public.security_inputs_hits
 WHERE ran_as <> 'security_inputs_hostile' ORDER BY 1;
SELECT count(*) AS victim_rows FROM public.security_inputs_victim_data;
SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'security_inputs_hostile';

-- the version schema first: its views use the extension's guard
DROP SCHEMA migrate_public_v2_1 CASCADE;
DROP EXTENSION migrate;
DROP SCHEMA security_inputs_h CASCADE;
DROP TABLE security_inputs_t, security_inputs_v, security_inputs_victim_data;
DROP TABLE public.security_inputs_hits CASCADE;
DROP OWNED BY security_inputs_hostile;
RESET search_path;
DROP ROLE security_inputs_hostile, security_inputs_victim;
