# With shared_preload_libraries = 'migrate', a background run that a restart
# or a crash interrupted is resumed by the launcher and finishes exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MigrateTest;

my $node = PostgreSQL::Test::Cluster->new('preloaded');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nmax_worker_processes = 16\nrestart_after_crash = on");
$node->start;

# (the postmaster starts it just after it accepts connections)
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'migrate launcher'}),
	'the launcher runs');

# A non-transactional migration whose second statement waits for a gate: it
# can be interrupted there, after its first statement is done.
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE run_log (step text);
	CREATE TABLE gate (open boolean);
	SELECT migrate_register('1', 'gated', $m$
		INSERT INTO run_log VALUES ('first');
		DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;
		INSERT INTO run_log VALUES ('last');
	$m$, NULL, transactional => false);
	SELECT migrate_register('2', 'after it', 'INSERT INTO run_log VALUES (''after'')', NULL);
	SELECT count(*) FROM migrate_upgrade();
});

sub wait_at_gate
{
	my ($what) = @_;
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'migrate worker' AND query LIKE '%statement 2 of 3%'})
	  or die "the worker never reached the gate $what";
}

wait_at_gate('before the restart');
is($node->safe_psql('postgres', 'SELECT string_agg(step, \',\') FROM run_log'),
	'first', 'the first statement ran');

# 1. a clean restart: SIGTERM ends the worker, the launcher resumes the job
$node->restart;
wait_at_gate('after the restart');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate.event WHERE action = 'resume'}),
	'1', 'the launcher resumed the job at startup');

# 2. a crash: kill -9 of the worker makes the postmaster reinitialize
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate worker'});
kill 'KILL', $pid;
$node->poll_query_until('postgres', q{SELECT count(*) FROM migrate.event WHERE action = 'resume'}, '2')
  or die 'the job was not resumed after the crash';
wait_at_gate('after the crash');

my (undef, $stdout, $stderr) = wait_while_opening($node, 'SELECT migrate_wait()',
	'INSERT INTO gate VALUES (true)');
is($stdout, 'done', 'the job finishes') or diag $stderr;
is( $node->safe_psql('postgres', 'SELECT string_agg(step, \',\' ORDER BY step) FROM run_log'),
	'after,first,last',
	'every statement ran exactly once');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version) FROM migrate.migration}),
	'1:applied 2:applied', 'both migrations are applied');
is( $node->safe_psql('postgres', q{SELECT state, rows_done FROM migrate.job}),
	'done|2', 'the job is done');

$node->stop;
done_testing();
