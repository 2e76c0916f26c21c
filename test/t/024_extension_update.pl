# A history written under migrate 1.0 survives ALTER EXTENSION migrate UPDATE
# and finishes under the new library (issue 15).  The 1.1 library refuses
# 1.0's SQL definitions, so the 1.0 state is written with INSERTs exactly as
# 1.0 wrote it (sql/migrate--1.0.sql for the catalog; 1.0's upgrade.c,
# jobs.c and online/lifecycle.c for the rows): in database "online", an
# applied migration, an online migration in flight (its first index built,
# the job interrupted at step 1 with its worker gone) and a pending one; in
# database "runs", an applied migration and a background run queued by 1.0
# (no plan, no format), with a migration registered after it.  Before the
# update, the launcher leaves the jobs alone and every call refuses, naming
# both versions; after it, migrate_resume(), migrate_wait(),
# migrate_complete() and migrate_upgrade() finish everything, and the 1.0
# events are still there, in order, before the new ones.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('update');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'migrate'\nmax_worker_processes = 16");
$node->start;

# sha256 of a definition as 1.0's migration_checksum serializes it
my $checksum_sql = q{
CREATE FUNCTION pg_temp.field(v text) RETURNS text LANGUAGE sql
AS $$ SELECT CASE WHEN v IS NULL THEN '-;' ELSE octet_length(v) || ':' || v || ';' END $$;
CREATE FUNCTION pg_temp.checksum(kind text, name text, up text, down text, ops text, tx boolean)
RETURNS text LANGUAGE sql
AS $$ SELECT encode(sha256(convert_to(pg_temp.field(kind) || pg_temp.field(name) || pg_temp.field(up)
                                      || pg_temp.field(down) || pg_temp.field(ops)
                                      || pg_temp.field(CASE WHEN tx THEN 't' ELSE 'f' END), 'UTF8')), 'hex') $$;
};
# the settings 1.0's job_settings_json gave a job (migrate.* ones at their defaults left out)
my $settings = q{{"search_path": "\"$user\", public", "TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "extra_float_digits": "1"}};

$node->safe_psql('postgres', 'CREATE DATABASE online');
$node->safe_psql('postgres', 'CREATE DATABASE runs');

# --- database online --------------------------------------------------------
my $ops = q{[{"create_index": {"name": "items_a_idx", "table": "items", "columns": ["a"]}}, {"create_index": {"name": "items_b_idx", "table": "items", "columns": ["b"]}}]};
my $steps = q{[{"sql": "CREATE INDEX CONCURRENTLY items_a_idx ON public.items (a)"}, {"sql": "CREATE INDEX CONCURRENTLY items_b_idx ON public.items (b)"}]};
$node->safe_psql('online', qq{
CREATE EXTENSION migrate VERSION '1.0';
$checksum_sql
-- migration 1, applied by migrate_upgrade()
CREATE TABLE items (id int PRIMARY KEY, a int, b int);
INSERT INTO items SELECT g, g % 7, g % 11 FROM generate_series(1, 1000) g;
INSERT INTO migrate.migration (version, version_key, name, kind, up_sql, down_sql, transactional,
                               checksum, state, registered_at, applied_at, applied_by, duration)
VALUES ('1', '{1}', 'items', 'sql', 'CREATE TABLE items (id int PRIMARY KEY, a int, b int)',
        'DROP TABLE items', true,
        pg_temp.checksum('sql', 'items', 'CREATE TABLE items (id int PRIMARY KEY, a int, b int)',
                         'DROP TABLE items', NULL, true),
        'applied', now() - interval '1 hour', now() - interval '59 minutes', current_user,
        interval '0.01 s');
INSERT INTO migrate.event (at, version, action, duration, detail)
SELECT now() - interval '1 hour', '1', 'register', NULL, 'checksum ' || checksum
  FROM migrate.migration WHERE version = '1';
INSERT INTO migrate.event (at, version, action, duration) VALUES
    (now() - interval '59 minutes', '1', 'upgrade', interval '0.01 s');
-- migration 2, online: registered, started (expand: its version schema, the
-- job of its two index builds), the first index built (current_step 1),
-- then the server stopped for the package update: running, no worker
INSERT INTO migrate.migration (version, version_key, name, kind, operations, transactional,
                               checksum, state, registered_at)
VALUES ('2', '{2}', 'items indexes', 'online', '$ops', true,
        pg_temp.checksum('online', 'items indexes', NULL, NULL, '$ops'::jsonb::text, true),
        'active', now() - interval '30 minutes');
INSERT INTO migrate.event (at, version, action, detail)
SELECT now() - interval '30 minutes', '2', 'register', 'checksum ' || checksum
  FROM migrate.migration WHERE version = '2';
CREATE SCHEMA migrate_public_v2;
GRANT USAGE ON SCHEMA migrate_public_v2 TO PUBLIC;
CREATE VIEW migrate_public_v2.items WITH (security_invoker = true)
    AS SELECT id AS id, a AS a, b AS b FROM public.items;
INSERT INTO migrate.job (version, kind, state, rows_total, queued_at, started_at, updated_at,
                         worker_pid, run_as, current_step, args)
VALUES ('2', 'online', 'running', 0, now() - interval '29 minutes', now() - interval '29 minutes',
        now() - interval '28 minutes', 999999, current_user, 1,
        jsonb_build_object('settings', '$settings'::jsonb, 'backfills', '[]'::jsonb,
                           'steps', '$steps'::jsonb));
INSERT INTO migrate.event (at, version, action, duration, detail) VALUES
    (now() - interval '29 minutes', '2', 'start', interval '0.02 s',
     'new shape in schema migrate_public_v2; background job queued');
CREATE INDEX items_a_idx ON public.items (a);
-- migration 3, registered, pending
INSERT INTO migrate.migration (version, version_key, name, up_sql, down_sql, transactional,
                               checksum, registered_at)
VALUES ('3', '{3}', 'items c', 'ALTER TABLE items ADD COLUMN c int',
        'ALTER TABLE items DROP COLUMN c', true,
        pg_temp.checksum('sql', 'items c', 'ALTER TABLE items ADD COLUMN c int',
                         'ALTER TABLE items DROP COLUMN c', NULL, true),
        now() - interval '10 minutes');
INSERT INTO migrate.event (at, version, action, detail)
SELECT now() - interval '10 minutes', '3', 'register', 'checksum ' || checksum
  FROM migrate.migration WHERE version = '3';
});

# --- database runs ----------------------------------------------------------
$node->safe_psql('runs', qq{
CREATE EXTENSION migrate VERSION '1.0';
$checksum_sql
CREATE TABLE t (id int PRIMARY KEY, a int);
INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;
INSERT INTO migrate.migration (version, version_key, name, up_sql, down_sql, transactional,
                               checksum, state, registered_at, applied_at, applied_by, duration)
VALUES ('1', '{1}', 't', 'CREATE TABLE t (id int PRIMARY KEY, a int)', 'DROP TABLE t', true,
        pg_temp.checksum('sql', 't', 'CREATE TABLE t (id int PRIMARY KEY, a int)', 'DROP TABLE t',
                         NULL, true),
        'applied', now() - interval '1 hour', now() - interval '59 minutes', current_user,
        interval '0.01 s');
-- migration 2, non-transactional: migrate_upgrade() handed it to a
-- background run (target 2, one migration), args the settings alone
INSERT INTO migrate.migration (version, version_key, name, up_sql, down_sql, transactional,
                               checksum, registered_at)
VALUES ('2', '{2}', 't_a', 'CREATE INDEX CONCURRENTLY t_a ON t (a)', 'DROP INDEX CONCURRENTLY t_a',
        false,
        pg_temp.checksum('sql', 't_a', 'CREATE INDEX CONCURRENTLY t_a ON t (a)',
                         'DROP INDEX CONCURRENTLY t_a', NULL, false),
        now() - interval '20 minutes');
INSERT INTO migrate.job (version, kind, state, rows_total, queued_at, run_as, target, args)
VALUES ('2', 'upgrade', 'queued', 1, now() - interval '15 minutes', current_user, '2',
        '$settings');
-- migration 3, registered after the run was queued: not the run's to apply
INSERT INTO migrate.migration (version, version_key, name, up_sql, down_sql, transactional,
                               checksum, registered_at)
VALUES ('3', '{3}', 't b', 'ALTER TABLE t ADD COLUMN b int', 'ALTER TABLE t DROP COLUMN b', true,
        pg_temp.checksum('sql', 't b', 'ALTER TABLE t ADD COLUMN b int',
                         'ALTER TABLE t DROP COLUMN b', NULL, true),
        now() - interval '10 minutes');
INSERT INTO migrate.event (at, version, action, detail)
SELECT registered_at, version, 'register', 'checksum ' || checksum FROM migrate.migration;
INSERT INTO migrate.event (at, version, action, duration) VALUES
    (now() - interval '59 minutes', '1', 'upgrade', interval '0.01 s');
});

my $events_sql = q{SELECT string_agg(concat_ws('|', id, version, action, detail), E'\n' ORDER BY id)
                     FROM migrate.event};
my %events_10 = map { $_ => $node->safe_psql($_, $events_sql) } qw(online runs);

# the server restarts with the new library: the launcher leaves the jobs of
# 1.0's catalog alone, and says why
my $log_offset = -s $node->logfile;
$node->restart;
$node->wait_for_log(qr/migrate's library is version 1\.1 but its SQL definitions are version 1\.0/,
	$log_offset);
is($node->safe_psql('online', 'SELECT state, current_step FROM migrate.job'),
	'running|1', 'online: the interrupted job is left as 1.0 left it');
is($node->safe_psql('runs', qq{SELECT state, args = '$settings' FROM migrate.job}),
	'queued|t', 'runs: the queued run is left as 1.0 queued it');

my ($ret, $stdout, $stderr) = $node->psql('online', 'SELECT migrate_current()');
like($stderr, qr/migrate's library is version 1\.1 but its SQL definitions are version 1\.0/,
	'before the update, a call names both versions');
like($stderr, qr/HINT:  Update them with ALTER EXTENSION migrate UPDATE\./, 'and says what to do');

$node->safe_psql($_, 'ALTER EXTENSION migrate UPDATE') for qw(online runs);
is($node->safe_psql('online', q{SELECT extversion FROM pg_extension WHERE extname = 'migrate'}),
	'1.1', 'updated');
is($node->safe_psql('runs', 'SELECT args_format FROM migrate.job'),
	'1', 'a job 1.0 queued reads as args format 1');

# --- the online migration finishes ------------------------------------------
is($node->safe_psql('online', 'SELECT migrate_current()'), '1', 'online: current is 1');
is($node->safe_psql('online', q{SELECT state FROM migrate.migration WHERE version = '2'}),
	'active', 'online: 2 still in flight');
$node->safe_psql('online', 'SELECT migrate_resume()');
# CALL migrate_await(), not SELECT migrate_wait(): the job builds an index
# concurrently, and a wait whose snapshot the build must outwait is refused
# (55000), which CI hit here once
($ret, $stdout, $stderr) = $node->psql('online', 'CALL migrate_await()');
is($stdout, 'done', 'online: the resumed job finishes') or diag $stderr;
is( $node->safe_psql('online',
		q{SELECT string_agg(indexrelid::regclass || ':' || indisvalid, ',' ORDER BY 1)
		    FROM pg_index WHERE indrelid = 'items'::regclass AND NOT indisprimary}),
	'items_a_idx:true,items_b_idx:true', 'online: the second index is built, the first kept');
is($node->safe_psql('online', q{SELECT state FROM migrate.migration WHERE version = '2'}),
	'ready', 'online: ready to complete');
$node->safe_psql('online', q{SELECT migrate_complete('2')});
is($node->safe_psql('online', q{SELECT state FROM migrate.migration WHERE version = '2'}),
	'applied', 'online: completed');
is($node->safe_psql('online', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'migrate_public_v2'}),
	'1', 'online: its version schema stays, as the latest shape, until the next one completes');
is($node->safe_psql('online', 'SELECT string_agg(version || action, \',\' ORDER BY version) FROM migrate_upgrade()'),
	'3applied', 'online: the pending migration is applied');
is($node->safe_psql('online', 'SELECT migrate_current()'), '3', 'online: current is 3');
is($node->safe_psql('online', q{SELECT count(*) FROM migrate_validate() WHERE kind = 'checksum'}),
	'0', 'online: the checksums 1.0 computed match the definitions');

# --- the queued run runs ---------------------------------------------------
$node->safe_psql('runs', 'SELECT migrate_resume()');
($ret, $stdout, $stderr) = $node->psql('runs', 'SELECT migrate_wait()');
is($stdout, 'done', 'runs: the run queued by 1.0 finishes') or diag $stderr;
is($node->safe_psql('runs', q{SELECT string_agg(p ->> 'version', ',') FROM migrate.job, jsonb_array_elements(args -> 'plan') p}),
	'2', 'runs: its plan is what it would have applied when queued');
is($node->safe_psql('runs', 'SELECT string_agg(version || state, \',\' ORDER BY version) FROM migrate.migration'),
	'1applied,2applied,3pending', 'runs: 2 applied by the run, 3 left for the next deploy');
is($node->safe_psql('runs', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a'::regclass}),
	't', 'runs: its index is built');
$node->safe_psql('runs', 'SELECT count(*) FROM migrate_upgrade()');
is($node->safe_psql('runs', 'SELECT migrate_current()'), '3', 'runs: current is 3');

# --- the history -------------------------------------------------------------
for my $db (qw(online runs))
{
	my $now = $node->safe_psql($db, $events_sql);
	is(substr($now, 0, length($events_10{$db})), $events_10{$db},
		"$db: the events 1.0 wrote are intact, first");
	ok(length($now) > length($events_10{$db}), "$db: the new library's events follow");
}
like( $node->safe_psql('online',
		q{SELECT string_agg(action, ',' ORDER BY id) FROM migrate.event WHERE version = '2'}),
	qr/^register,start,.*complete$/,
	'online: the history of the online migration runs on across the update');

$node->stop;
done_testing();
