# The backfill's throttle follows the workload: it pauses
# migrate.nice_ratio times each batch's time while more than
# migrate.max_load other sessions are running a statement, and not
# otherwise.  The load here is a session waiting for a table lock (a waiter
# counts: it may wait for a batch's rows); the ratio is so high that a
# backfill that paused after each batch could not end within the test.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('throttle');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE items (id bigint PRIMARY KEY, a int NOT NULL, b int);
	INSERT INTO items SELECT g, g % 1000, NULL FROM generate_series(1, 20000) g;
	CREATE TABLE gate (x int);
	VACUUM ANALYZE items;
});

# A backfill of many small batches, waited for in the same session (no
# other session starts while it runs); returns its job's id.
sub backfill
{
	my ($settings, $wait) = @_;
	$node->safe_psql('postgres', 'UPDATE items SET b = NULL');
	my $out = $node->safe_psql('postgres', qq{
		SET migrate.batch_target = '10ms';
		$settings
		SELECT migrate_backfill('items', 'b = a * 2', batch_size => 200);
	} . ($wait ? q{SELECT migrate_wait(NULL, '120s');} : ''));
	my ($job, $state) = split /\n/, $out;
	is($state, 'done', 'the backfill is done') if $wait;
	return $job;
}

# How the job went: the pauses for load (the others are for slow batches,
# which a busy test machine can cause whatever the test does).
sub wait_done
{
	my ($job, $what) = @_;
	is($node->safe_psql('postgres', qq{SELECT migrate_wait(NULL, '120s')}), 'done', "$what: done");
	ok($node->safe_psql('postgres', qq{SELECT (args->>'batches')::int > 5 FROM migrate.job WHERE id = $job}) eq 't',
		"$what: in several batches");
	my $pauses = $node->safe_psql('postgres',
		qq{SELECT (args->>'pauses')::int - (args->>'slow_pauses')::int FROM migrate.job WHERE id = $job});
	is($node->safe_psql('postgres', q{SELECT count(*) FROM items WHERE b IS DISTINCT FROM a * 2}),
		'0', "$what: every row backfilled");
	return $pauses;
}

# Alone on the server (the session in migrate_wait() does not count): no
# pause, however high the ratio.
my $job = backfill(q{SET migrate.nice_ratio = 100;}, 1);
is(wait_done($job, 'alone, nice_ratio 100'), '0', 'alone, nice_ratio 100: no pause');

# The load: a session holding a lock (asleep: not running) and one waiting
# for it (running).
my ($hout, $herr, $wout, $werr) = ('', '', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'),
	  '-c', "SET application_name = 'holder'",
	  '-c', 'BEGIN; LOCK TABLE gate; SELECT pg_sleep(600);' ],
	'>', \$hout, '2>', \$herr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'holder' AND wait_event = 'PgSleep'})
  or die 'the holder does not hold';
my $waiter = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'SELECT count(*) FROM gate' ],
	'>', \$wout, '2>', \$werr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query = 'SELECT count(*) FROM gate'})
  or die 'the waiter does not wait';

# One session running is not more than max_load 1: no pause.
$job = backfill(q{SET migrate.nice_ratio = 100; SET migrate.max_load = 1;}, 1);
is(wait_done($job, 'one session running, max_load 1'), '0', 'one session running, max_load 1: no pause');

# nice_ratio 0 never pauses.
$job = backfill(q{SET migrate.nice_ratio = 0;}, 1);
is(wait_done($job, 'one session running, nice_ratio 0'), '0', 'one session running, nice_ratio 0: no pause');

# With the defaults (max_load 0), the job pauses and says why.
$job = backfill(q{SET migrate.nice_ratio = 100;});
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE query ~ '^migrate job $job: backfill items: pausing [0-9]+ ms, 1 other session running\$'}),
	'one session running, max_load 0: the job pauses and says so in pg_stat_activity');
my $done_before = $node->safe_psql('postgres', qq{SELECT rows_done FROM migrate.job WHERE id = $job});
cmp_ok($done_before, '<', 20000, 'and has not finished meanwhile');

# The load ends: the job goes on at full speed (a pause under way ends in
# at most 100 times a 10 ms batch).
$node->safe_psql('postgres',
	q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
$waiter->finish;
$holder->finish;
cmp_ok(wait_done($job, 'once the load ended'), '>', 0, 'the pauses are counted in the job');

$node->stop;
done_testing();
