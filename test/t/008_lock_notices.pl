# What a deployer (and a DBA reading the server log) is told while a lock is
# not granted: each retry, its backoff, and who holds the lock.  The texts
# carry timings and process ids, so they are matched here, not in
# pg_regress or isolation output.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('notices');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\nautovacuum = off");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int);
	SELECT migrate_register('1', 't.x', 'ALTER TABLE t ADD COLUMN x int', 'ALTER TABLE t DROP COLUMN x');
});

# A session of its own (application_name $name) that runs $sql and then
# sleeps in its transaction until it is killed; returns once it has reached
# $state (a pg_stat_activity condition).
sub session_in
{
	my ($name, $sql, $state) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'),
		  '-c', "SET application_name = '$name'",
		  '-c', "BEGIN; $sql; SELECT pg_sleep(300);" ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '$name' AND $state})
	  or die "$name never got going";
	my $pid = $node->safe_psql('postgres',
		qq{SELECT pid FROM pg_stat_activity WHERE application_name = '$name'});
	return ($h, $pid);
}

# A session that reads t in an open transaction until it is killed.
sub hold_t
{
	my ($name) = @_;
	return session_in($name, 'SELECT count(*) FROM t', q{wait_event = 'PgSleep'});
}

# The holder's backend, in pg_sleep, does not notice its client go: end both.
sub release
{
	my ($h, $pid) = @_;
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
	  or die "process $pid never went";
	$h->kill_kill;
}

# the deployer's session: a NOTICE per retry, then the error
my ($holder, $pid) = hold_t('holder');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 2;
	SELECT * FROM migrate_upgrade();
});
isnt($ret, 0, 'the deploy failed');
my @retries = $stderr =~ /^(?:psql:\S+ )?NOTICE:  migration 1, upgrade: lock not granted within 100 ms, retry (\d) of 2 in (\d+) ms\nDETAIL:  Blocked by: process (\d+) holds AccessShareLock on relation public\.t \(holder, active in a transaction open for \d+ s, last query: BEGIN; SELECT count\(\*\) FROM t; SELECT pg_sleep\(300\);\)\.\nHINT:  The upgrade rolled back, releasing its locks, and runs again\.$/mg;
is(scalar(@retries), 6, 'two retry NOTICEs, each naming the blocker') or diag($stderr);
is("$retries[0] $retries[3]", '1 2', 'the retries are counted');
# equal jitter: retry n waits between half and all of 100 ms * 2^(n-1)
ok($retries[1] >= 50 && $retries[1] <= 100, "the first backoff ($retries[1] ms) is within 50..100 ms");
ok($retries[4] >= 100 && $retries[4] <= 200, "the second backoff ($retries[4] ms) is within 100..200 ms");
is("$retries[2] $retries[5]", "$pid $pid", 'the blocker is the holding process');
like($stderr,
	qr/^(?:psql:\S+ )?ERROR:  canceling statement due to lock timeout\nHINT:  Blocked by: process $pid holds AccessShareLock on relation public\.t \(holder, .*\)\. The upgrade was tried 3 times, waiting at most migrate\.lock_timeout \(100 ms\) for each lock; cancel the blocker with pg_cancel_backend\(\), or deploy again when it is done\./m,
	'the error says who blocked and what to do');
is($node->safe_psql('postgres', q{SELECT state FROM migrate.migration WHERE version = '1'}),
	'pending', 'nothing applied');

# a session that holds a conflicting lock and waits for a stronger one is
# named once, as a holder
my ($both, $bpid) = session_in('both', 'SELECT count(*) FROM t; LOCK TABLE t IN ACCESS EXCLUSIVE MODE',
	q{wait_event_type = 'Lock'});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 0;
	SELECT * FROM migrate_upgrade();
});
my ($hint) = $stderr =~ /^(HINT:  Blocked by: .*)$/m;
like($hint, qr/process $bpid holds AccessShareLock on relation public\.t \(both, /,
	'the session that holds and waits is named as a holder');
is(scalar(() = $hint =~ /process $bpid /g), 1, 'and only once');
release($both, $bpid);

# a session queued ahead of the deploy for a conflicting lock blocks it
# too, and is named after the holder; the holder's lock alone would not
# block a weaker request, so a migration that takes SHARE (CREATE INDEX)
# is kept waiting by the queued session only
my ($queued, $qpid) = session_in('queued', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE',
	q{wait_event_type = 'Lock'});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 0;
	SELECT * FROM migrate_upgrade();
});
like($stderr,
	qr/HINT:  Blocked by: process $pid holds AccessShareLock on relation public\.t \(holder, [^\n]*\); process $qpid waits \(queued earlier\) for AccessExclusiveLock on relation public\.t \(queued, active in a transaction open for \d+ s, last query: BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep\(300\);\)\. /,
	'the holder, then the session queued ahead');
$node->safe_psql('postgres', q{
	SELECT migrate_register('0.5', 't.i', 'CREATE INDEX t_id ON t (id)', 'DROP INDEX t_id');
});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 0;
	SELECT * FROM migrate_upgrade('0.5');
});
like($stderr,
	qr/HINT:  Blocked by: process $qpid waits \(queued earlier\) for AccessExclusiveLock on relation public\.t \(queued, [^\n]*\)\. The upgrade was tried once/,
	'a request the holder does not block: only the session queued ahead is named');
release($queued, $qpid);

# a worker's retries go to the server log, prefixed with "migrate:"
release($holder, $pid);
$node->safe_psql('postgres', q{
	SELECT count(*) FROM migrate_upgrade();
	SELECT migrate_register('2', 't.y', 'ALTER TABLE t ADD COLUMN y int', NULL,
	                        transactional => false);
});
my $offset = -s $node->logfile;
($holder, $pid) = hold_t('holder2');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 1;
	SELECT count(*) FROM migrate_upgrade();
	SELECT migrate_wait();
});
isnt($ret, 0, 'the background run failed');
like($stderr,
	qr/ERROR:  canceling statement due to lock timeout\nDETAIL:  Background job \d+ failed\.\nHINT:  Blocked by: process $pid holds AccessShareLock on relation public\.t \(holder2, [^\n]*\)\. The up statement 1 of 1 was tried 2 times, waiting at most migrate\.lock_timeout \(100 ms\) for each lock; continue the job with migrate_resume\(\)\./,
	'on the lock timeout, with the blocker and what to do');
like(slurp_file($node->logfile, $offset),
	qr/LOG:  migration 2, [^\n]*: lock not granted within 100 ms, retry 1 of 1 in \d+ ms\n[^\n]*DETAIL:  Blocked by: process $pid holds AccessShareLock on relation public\.t \(holder2, /,
	'the worker logs its retry with the blocker');
release($holder, $pid);

$node->stop;
done_testing();
