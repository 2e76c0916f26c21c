# A backfill while pgbench writes to the same table: every row ends with the
# right value.  Then a backfill that is cancelled, one whose worker is
# killed, and one killed in the middle of a batch resume exactly where they
# stopped: no row is skipped, none is updated twice (the set clause is not
# idempotent).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\nrestart_after_crash = on");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE acc (id bigint PRIMARY KEY, a int NOT NULL, b int, note text);
	INSERT INTO acc SELECT g, g % 1000, NULL, NULL FROM generate_series(1, 200000) g;
	CREATE SEQUENCE acc_new START 1000001;
	VACUUM ANALYZE acc;
});

# The new application writes b itself; the old one only touches note.
my $script = "$PostgreSQL::Test::Utils::tmp_check/writers.sql";
open(my $fh, '>', $script) or die;
print $fh q{
\set id random(1, 200000)
\set other random(1, 200000)
UPDATE acc SET a = a + 1, b = (a + 1) * 2 WHERE id = :id;
UPDATE acc SET note = 'old app' WHERE id = :other;
INSERT INTO acc VALUES (nextval('acc_new'), :id % 1000, (:id % 1000) * 2, NULL);
DELETE FROM acc WHERE id = :other + 1 AND :other % 50 = 0;
};
close $fh;

my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '6', '-f', $script, $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);

# small batches, so that the backfill overlaps the writers
$node->safe_psql('postgres', q{
	SET migrate.batch_target = '10ms';
	SELECT migrate_backfill('acc', 'b = a * 2', batch_size => 500);
});
is($node->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', 'the backfill finished');
$pgbench->finish;
like($out, qr/number of transactions actually processed: [1-9]/, 'pgbench wrote meanwhile');
is( $node->safe_psql('postgres', 'SELECT count(*) FROM acc WHERE b IS DISTINCT FROM a * 2'),
	'0', 'every row ends with the right value');
ok($node->safe_psql('postgres', q{SELECT (args->>'batches')::int > 10 FROM migrate.job}) eq 't',
	'in many batches');

# a non-idempotent backfill, slowed down so it can be stopped half way
# (batches of 100 rows, well under their 20 ms target even when a batch
# after a pause runs cold on this VM: the pause between them keeps it going
# for about 30 s)
$node->safe_psql('postgres', q{
	CREATE TABLE acc_key (id int PRIMARY KEY, n int NOT NULL);
	INSERT INTO acc_key SELECT g, 0 FROM generate_series(1, 20000) g;
	CREATE TABLE acc_nokey AS SELECT id, n FROM acc_key;
	VACUUM ANALYZE acc_key, acc_nokey;
});

sub half_way
{
	my ($job) = @_;
	$node->poll_query_until('postgres',
		qq{SELECT rows_done > 0 AND state = 'running' FROM migrate.job WHERE id = $job})
	  or die "job $job never got going";
}

sub slow_backfill
{
	my ($table) = @_;
	return $node->safe_psql('postgres', qq{
		SET migrate.batch_target = '20ms';
		SET migrate.batch_delay = '150ms';
		SELECT migrate_backfill('$table', 'n = n + 1', batch_size => 100);
	});
}

foreach my $table ('acc_key', 'acc_nokey')
{
	# cancelled half way, then resumed
	my $job = slow_backfill($table);
	half_way($job);
	$node->safe_psql('postgres', 'SELECT migrate_cancel()');
	$node->poll_query_until('postgres', qq{SELECT state = 'cancelled' FROM migrate.job WHERE id = $job})
	  or die 'the cancel did not take';
	my $done = $node->safe_psql('postgres', qq{SELECT count(*) FROM $table WHERE n = 1});
	ok($done > 0, "$table: cancelled after $done rows");
	$node->safe_psql('postgres', 'SELECT migrate_resume()');
	is($node->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', "$table: resumed after a cancel");
	is($node->safe_psql('postgres', qq{SELECT n, count(*) FROM $table GROUP BY n}),
		$node->safe_psql('postgres', qq{SELECT 1, count(*) FROM $table}),
		"$table: every row updated exactly once after a cancel");

	# the worker killed half way (the server restarts), then resumed
	$node->safe_psql('postgres', qq{UPDATE $table SET n = 0});
	$job = slow_backfill($table);
	half_way($job);
	my $pid = $node->safe_psql('postgres', qq{SELECT worker_pid FROM migrate.job WHERE id = $job});
	kill 'KILL', $pid;
	$node->poll_query_until('postgres',
		qq{SELECT state = 'interrupted' FROM migrate.progress WHERE id = $job})
	  or die 'the job never showed as interrupted';
	$node->safe_psql('postgres', 'SELECT migrate_resume()');
	is($node->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', "$table: resumed after kill -9");
	is($node->safe_psql('postgres', qq{SELECT n, count(*) FROM $table GROUP BY n}),
		$node->safe_psql('postgres', qq{SELECT 1, count(*) FROM $table}),
		"$table: every row updated exactly once after kill -9");

	# killed in the middle of a batch: the batch waits for a row another
	# session holds, with the rows before it updated; the kill rolls all of
	# them back, with the batch's position, and resume does them once
	# (repacked, so that a single batch of 20000 rows covers the table in
	# page mode too: the updates before left its rows spread over twice the
	# pages)
	$node->safe_psql('postgres', qq{UPDATE $table SET n = 0});
	$node->safe_psql('postgres', qq{VACUUM FULL $table});
	$node->safe_psql('postgres', qq{ANALYZE $table});
	my ($hout, $herr) = ('', '');
	my $holder = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		  qq{BEGIN; SELECT 1 FROM $table WHERE id = 15000 FOR UPDATE; SELECT pg_sleep(300);} ],
		'>', \$hout, '2>', \$herr);
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'BEGIN; SELECT 1 FROM%'})
	  or die 'the row holder never got going';
	$job = $node->safe_psql('postgres',
		qq{SELECT migrate_backfill('$table', 'n = n + 1', batch_size => 20000)});
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'migrate worker' AND wait_event_type = 'Lock'})
	  or die 'the batch never waited for the held row';
	$pid = $node->safe_psql('postgres', qq{SELECT worker_pid FROM migrate.job WHERE id = $job});
	kill 'KILL', $pid;
	$holder->kill_kill;
	$node->poll_query_until('postgres',
		qq{SELECT state = 'interrupted' FROM migrate.progress WHERE id = $job})
	  or die 'the job never showed as interrupted';
	is($node->safe_psql('postgres',
			qq{SELECT count(*) FILTER (WHERE n <> 0) || ' ' || (SELECT rows_done FROM migrate.job WHERE id = $job) FROM $table}),
		'0 0', "$table: the batch in flight rolled back whole, with its position");
	$node->safe_psql('postgres', 'SELECT migrate_resume()');
	is($node->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', "$table: resumed after a kill in a batch");
	is($node->safe_psql('postgres', qq{SELECT n, count(*) FROM $table GROUP BY n}),
		$node->safe_psql('postgres', qq{SELECT 1, count(*) FROM $table}),
		"$table: every row updated exactly once after a kill in a batch");
}

$node->stop;
done_testing();
