# A background run applies exactly what was queued, as the role that queued
# it, also when its worker was killed and the run resumed: a deploy role
# cannot add a migration to a superuser's run.  A failed run is reported to
# a session that did not queue it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MigrateTest;

my $node = PostgreSQL::Test::Cluster->new('integrity');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\nrestart_after_crash = on");
$node->start;

# a deploy role with the README's grants
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE deployer LOGIN;
	GRANT EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean),
	      migrate_upgrade(text), migrate_downgrade(text), migrate_baseline(text),
	      migrate_current(), migrate_status(), migrate_verify(text), migrate_validate(),
	      migrate_wait(text, interval), migrate_cancel(text), migrate_resume(text),
	      migrate_backfill(regclass, text, text, integer),
	      migrate_register_online(text, text, jsonb), migrate_complete(text),
	      migrate_rollback(text), migrate_version_schema(text), migrate_check(text)
	   TO deployer;
	GRANT USAGE ON SCHEMA migrate TO deployer;
	GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO deployer;
	CREATE TABLE gate (open boolean);
	CREATE TABLE items (id int PRIMARY KEY, sku text);
	INSERT INTO items SELECT g, 'sku-' || g FROM generate_series(1, 1000) g;
});

# the superuser's run: 1 waits at the gate, 3 follows
$node->safe_psql('postgres', q{
	SELECT migrate_register('1', 'gated index', $m$
		CREATE INDEX CONCURRENTLY items_sku ON items (sku);
		DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;
	$m$, NULL, transactional => false);
	SELECT migrate_register('3', 'column', 'ALTER TABLE items ADD COLUMN note text');
	SELECT count(*) FROM migrate_upgrade();
});
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'migrate worker' AND query LIKE '%statement 2 of 2%'})
  or die 'the worker never reached the gate';

# its worker is killed: the run is interrupted
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate worker'});
kill 'KILL', $pid;
$node->poll_query_until('postgres', q{SELECT state = 'interrupted' FROM migrate.progress})
  or die 'the job never showed as interrupted';

# meanwhile the deploy role tries to register a version inside the run's range
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET ROLE deployer;
	SELECT migrate_register('2', 'escalate', 'ALTER ROLE deployer SUPERUSER');
}, on_error_stop => 1);
like($stderr, qr/migration 2 is older than migration 3, which background job 1 has yet to apply/,
	'a new version below one the interrupted run has yet to apply is refused');
# out of order on purpose: registered, and the resumed run stops before 3
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET ROLE deployer;
	SET migrate.allow_out_of_order = on;
	SELECT migrate_register('2', 'escalate', 'ALTER ROLE deployer SUPERUSER');
}, on_error_stop => 1);
is($ret, 0, 'with migrate.allow_out_of_order on, it is registered') or diag $stderr;
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET ROLE deployer;
	SELECT migrate_register('3', 'escalate', 'ALTER ROLE deployer SUPERUSER');
}, on_error_stop => 1);
like($stderr, qr/background run of migrations is in progress/,
	'a version of the run may not be replaced');

# the superuser resumes the run: it applies 1, not 2, and stops before 3
$node->safe_psql('postgres', 'SELECT migrate_resume()');
($ret, $stdout, $stderr) = wait_while_opening($node, 'SELECT migrate_wait()',
	'INSERT INTO gate VALUES (true)');
like($stderr, qr/background job 1 would apply migration 3 out of order/,
	'the resumed run fails rather than skip 2');
is($node->safe_psql('postgres',
		q{SELECT string_agg(version || ' ' || state, ', ' ORDER BY version) FROM migrate.migration}),
	'1 applied, 2 pending, 3 failed', 'the run applied what it was queued with, and only that');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'deployer'}),
	'f', 'the deploy role did not become a superuser');
# the superuser replaces 2 (no run has it in its plan) and deploys again
$node->safe_psql('postgres', q{SELECT migrate_register('2', 'harmless', 'SELECT 1')});
is($node->safe_psql('postgres', q{SELECT string_agg(version, ', ' ORDER BY version) FROM migrate_upgrade()}),
	'2, 3', 'the next deploy applies 2, then 3');

# a failed run, observed from a session that did not queue it
$node->safe_psql('postgres', q{
	SELECT migrate_register('4', 'index', 'CREATE INDEX CONCURRENTLY items_id_sku ON items (id, sku)',
	                        NULL, transactional => false);
	SELECT migrate_register('5', 'fails', 'SELECT 1 / 0');
	SELECT count(*) FROM migrate_upgrade();
});
$node->poll_query_until('postgres', q{SELECT state = 'failed' FROM migrate.job ORDER BY id DESC LIMIT 1})
  or die 'the run never failed';
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT migrate_wait()');
like($stderr, qr/division by zero/, 'migrate_wait() in a new session raises the failure');
isnt($ret, 0, 'and fails');
is($node->safe_psql('postgres',
		q{SELECT version || ' ' || sqlstate FROM migrate.event WHERE action = 'fail' ORDER BY id DESC LIMIT 1}),
	'5 22012', 'the fail event names the migration that failed');
is($node->safe_psql('postgres',
		q{SELECT state || ' ' || (last_error LIKE '22012: division by zero%') FROM migrate.migration WHERE version = '5'}),
	'failed true', 'the migration that failed has the error');
is($node->safe_psql('postgres',
		q{SELECT state || ' ' || current_version FROM migrate.job ORDER BY id DESC LIMIT 1}),
	'failed 5', 'the job is at the migration that failed');

$node->stop;
done_testing();
