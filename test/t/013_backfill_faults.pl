# Backfills on a preloaded server (the launcher resumes jobs after a crash):
# a table dropped before the job starts, or while it runs, fails the job
# with 42P01 instead of crashing the server in a loop; a worker that keeps
# dying is started a bounded number of times; a table renamed during the
# job is followed, a key retyped stops it; and an interrupted job's hint
# does not tell a preloaded server to preload.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('backfill_faults');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'migrate'\nmax_worker_processes = 16\nrestart_after_crash = on");
$node->start;
# slow_one() takes 5 ms: batches of it run long enough to be interfered with
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE FUNCTION slow_one() RETURNS int LANGUAGE sql
		AS 'SELECT pg_sleep(0.005); SELECT 1';
});

# Wait until the job has ended (or a worker died of a signal); its state.
sub job_outcome
{
	my ($id, $log_offset) = @_;
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		my $state = $node->safe_psql('postgres',
			"SELECT state || coalesce(' ' || last_sqlstate, '') FROM migrate.job WHERE id = $id");
		return $state if $state =~ /^(done|failed|cancelled)/;
		return 'crashed'
		  if slurp_file($node->logfile, $log_offset) =~ /terminated by signal/;
		usleep(100_000);
	}
	return 'timed out';
}

sub crashes_since
{
	my ($log_offset) = @_;
	my @lines = slurp_file($node->logfile, $log_offset) =~
	  /background worker "migrate worker" \(PID \d+\) was terminated by signal/g;
	return scalar @lines;
}

# 1. The table dropped in the transaction that queued its backfill.
$node->safe_psql('postgres', q{
	CREATE TABLE bf1 (a int, b int);
	INSERT INTO bf1 SELECT g, 0 FROM generate_series(1, 100) g;
});
my $offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT migrate_backfill('bf1', 'b = a * 2');
	DROP TABLE bf1;
	COMMIT;
});
my $job = $node->safe_psql('postgres', 'SELECT max(id) FROM migrate.job');
is(job_outcome($job, $offset), 'failed 42P01', 'a backfill of a dropped table fails with 42P01');
like($node->safe_psql('postgres', "SELECT last_error FROM migrate.job WHERE id = $job"),
	qr/^the table of backfill job \d+ does not exist/, 'the error says the table is gone');
$node->safe_psql('postgres', 'SELECT migrate_resume()');
is(job_outcome($job, $offset), 'failed 42P01', 'resumed, it fails again and stays failed');
is(crashes_since($offset), 0, 'no worker crashed');

# 2. A table dropped, renamed, or its key retyped, while its backfill runs.
$node->safe_psql('postgres', q{
	CREATE TABLE bf_drop_key (id int PRIMARY KEY, b int);
	CREATE TABLE bf_drop_pages (a int, b int);
	CREATE TABLE bf_rename (id int PRIMARY KEY, b int);
	CREATE TABLE bf_retype (id int PRIMARY KEY, b int);
	INSERT INTO bf_drop_key SELECT g, 0 FROM generate_series(1, 1000) g;
	INSERT INTO bf_drop_pages SELECT g, 0 FROM generate_series(1, 10000) g;
	INSERT INTO bf_rename SELECT g, 0 FROM generate_series(1, 1000) g;
	INSERT INTO bf_retype SELECT g, 0 FROM generate_series(1, 1000) g;
});
my %jobs;
for my $t ('bf_drop_key', 'bf_drop_pages', 'bf_rename', 'bf_retype')
{
	$jobs{$t} = $node->safe_psql('postgres', qq{
		SET migrate.batch_delay = 200;
		SET client_min_messages = error;
		SELECT migrate_backfill('$t', 'b = slow_one()', batch_size => 10);
	});
}
$node->poll_query_until('postgres',
	'SELECT bool_and(rows_done > 0) FROM migrate.job WHERE id IN ('
	  . join(', ', values %jobs) . ')')
  or die 'the backfills never got going';
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	DROP TABLE bf_drop_key;
	DROP TABLE bf_drop_pages;
	ALTER TABLE bf_rename RENAME TO bf_renamed;
	ALTER TABLE bf_retype ALTER COLUMN id TYPE bigint;
});
for my $t ('bf_drop_key', 'bf_drop_pages')
{
	is(job_outcome($jobs{$t}, $offset), 'failed 42P01', "$t dropped during its backfill: 42P01");
	like($node->safe_psql('postgres', "SELECT last_error FROM migrate.job WHERE id = $jobs{$t}"),
		qr/^relation "$t" of the backfill was dropped\nDETAIL: The batches before the drop were committed\.\nHINT: A backfill does not follow/,
		"$t: the error names the table, not a row");
}
is(job_outcome($jobs{bf_rename}, $offset), 'done', 'a table renamed during its backfill: done');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bf_renamed WHERE b = 1'),
	'1000', 'every row of the renamed table is done');
is(job_outcome($jobs{bf_retype}, $offset), 'failed 55000', 'a key retyped during its backfill: 55000');
like($node->safe_psql('postgres', "SELECT last_error FROM migrate.job WHERE id = $jobs{bf_retype}"),
	qr/^key column "id" of "bf_retype" changed type during the backfill\nDETAIL: It was integer and is now bigint/,
	'the error says the key changed type, not which row failed');
$node->safe_psql('postgres', "SELECT migrate_resume()");
is(job_outcome($jobs{bf_retype}, $offset), 'failed 55000', 'resumed, it stays failed');
is(crashes_since($offset), 0, 'no worker crashed');

# 3. A worker that dies every time before the job makes progress: the job
# fails after a bounded number of starts, instead of crash-restarting the
# server forever.  (A first batch of 100 rows takes half a second: each kill
# lands in it, before any batch commits.)
$node->safe_psql('postgres', q{
	CREATE TABLE bf_slow (id int PRIMARY KEY, b int);
	INSERT INTO bf_slow SELECT g, 0 FROM generate_series(1, 1000) g;
});
$job = $node->safe_psql('postgres', q{
	SET migrate.batch_delay = 200;
	SELECT migrate_backfill('bf_slow', 'b = b + slow_one()', batch_size => 100);
});
$offset = -s $node->logfile;
my $backfilling = qq{
	SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'migrate worker' AND query LIKE 'migrate job $job: backfill%'};
for my $kill (1 .. 3)
{
	$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($backfilling) w")
	  or die "no worker runs the job before kill $kill";
	kill 'KILL', $node->safe_psql('postgres', $backfilling);
	# the postmaster reinitializes, and the launcher resumes the job
	for (my $i = 0; crashes_since($offset) < $kill; $i++)
	{
		die "kill $kill is not in the server log" if $i > 100;
		usleep(100_000);
	}
}
# the fourth worker fails the job rather than running it
$node->poll_query_until('postgres', qq{
	SELECT state = 'failed' OR EXISTS ($backfilling) FROM migrate.job WHERE id = $job})
  or die 'neither failed nor running';
is($node->safe_psql('postgres', "SELECT state || ' ' || last_sqlstate FROM migrate.job WHERE id = $job"),
	'failed 55000', 'after three killed workers, the job fails');
like($node->safe_psql('postgres', "SELECT last_error FROM migrate.job WHERE id = $job"),
	qr/^job $job is not started again: its last 3 workers ended without finishing it/,
	'the error says why');
is(crashes_since($offset), 3, 'the server log shows three killed workers, no more');
is($node->safe_psql('postgres', "SELECT rows_done FROM migrate.job WHERE id = $job"),
	'0', 'no batch was done by any of them');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

# resumed by hand, the job gets a fresh count and finishes
$node->safe_psql('postgres', 'SELECT migrate_resume()');
is(job_outcome($job, -s $node->logfile), 'done', 'resumed by hand, the job finishes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bf_slow WHERE b = 1'),
	'1000', 'every row updated exactly once');

# the next backfill runs
$job = $node->safe_psql('postgres', q{SELECT migrate_backfill('bf_slow', 'b = b + 1')});
is(job_outcome($job, -s $node->logfile), 'done', 'the next backfill runs');

# 4. An interrupted job on a preloaded server: no hint to preload.
$job = $node->safe_psql('postgres', q{
	SET migrate.batch_delay = 200;
	SELECT migrate_backfill('bf_slow', 'b = b + slow_one()', batch_size => 10);
});
$backfilling = qq{
	SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'migrate worker' AND query LIKE 'migrate job $job: backfill%'};
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($backfilling) w")
  or die 'no worker runs the job';
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM ($backfilling) w");
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM ($backfilling) w")
  or die 'the worker survived';
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT migrate_wait()');
like($stderr, qr/background job $job was interrupted/, 'migrate_wait says the job was interrupted');
like($stderr, qr/HINT:  Continue it with migrate_resume\(\); the launcher resumes interrupted jobs only when the server starts\./,
	'the hint does not tell a preloaded server to preload');
$node->safe_psql('postgres', 'SELECT migrate_cancel()');

$node->stop;
done_testing();
