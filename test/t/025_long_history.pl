# A long history deploys where one transaction cannot hold it (issue 17):
# with max_locks_per_transaction at its minimum, 10, the shared lock table
# has room for about 1,300 locks, and 1,500 migrations that each create a
# table with a primary key and an index (some 5 locks each) make
# SELECT migrate_upgrade() fail with "out of shared memory", applying
# nothing; CALL migrate_deploy() applies them in batches that each commit.
# A deployer killed between two batches leaves a history that says exactly
# what is applied (whole batches, the fingerprint of the last one), and the
# next call goes on from there.  (test/bench/history.sh does the same with
# 5,000 migrations on default settings.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $n = 1500;
my $batch = 50;

my $node = PostgreSQL::Test::Cluster->new('locks');
$node->init;
$node->append_conf('postgresql.conf',
	"max_locks_per_transaction = 10\nmax_worker_processes = 16");
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION migrate;
	ALTER DATABASE postgres SET migrate.check_level = off;
});
$node->safe_psql('postgres', qq{
	SELECT count(migrate_register(i::text, 'table ' || i,
	       format('CREATE TABLE t_%s (id int PRIMARY KEY, v text); CREATE INDEX t_%s_v ON t_%s (v)', i, i, i),
	       format('DROP TABLE t_%s', i)))
	  FROM generate_series(1, $n) AS i;
});

# one transaction: the lock table runs out, and nothing is applied
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM migrate_upgrade()');
isnt($ret, 0, 'migrate_upgrade fails');
like($stderr, qr/out of shared memory/, 'with out of shared memory');
like($stderr, qr/max_locks_per_transaction/, 'naming max_locks_per_transaction');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM migrate.migration WHERE state = 'applied'}),
	'0', 'nothing applied');
is($node->safe_psql('postgres', q{SELECT to_regclass('t_1') IS NULL}),
	't', 'no table created');

# in batches, killed once some are committed
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[
		$node->installed_command('psql'), '-XAtq',
		'-d', $node->connstr('postgres'),
		'-c', "CALL migrate_deploy(NULL, $batch)"
	],
	'<', \undef, '>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	q{SELECT count(*) >= 200 FROM migrate.migration WHERE state = 'applied'})
  or die 'migrate_deploy applied nothing';
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	 WHERE query LIKE 'CALL migrate_deploy%' AND pid <> pg_backend_pid()});
$h->finish;
like($err, qr/terminat/, 'the deployer is gone');

my $applied = $node->safe_psql('postgres',
	q{SELECT count(*) FROM migrate.migration WHERE state = 'applied'});
cmp_ok($applied, '<', $n, "killed before the end ($applied applied)");
is($applied % $batch, 0, 'whole batches applied');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM migrate.migration m
		 WHERE (m.state = 'applied') <> (to_regclass('t_' || m.version) IS NOT NULL)}),
	'0', 'each applied migration has its table, no pending one has');
is($node->safe_psql('postgres', q{SELECT version FROM migrate.fingerprint}),
	$applied, 'the fingerprint is the last batch\'s');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate_validate()}),
	'0', 'no drift');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_locks
		 WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database
		                                              WHERE datname = current_database())}),
	'0', 'the deploy lock is free');

# the next call goes on from there
($ret, $stdout, $stderr) = $node->psql('postgres', "CALL migrate_deploy(NULL, $batch)");
is($ret, 0, 'migrate_deploy again') or diag $stderr;
is($stdout, $n - $applied, 'it applies the rest');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM migrate.migration WHERE state = 'applied'}),
	$n, 'every migration applied');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class WHERE relname ~ '^t_[0-9]+$' AND relkind = 'r'}),
	$n, 'every table created');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate.event WHERE action = 'upgrade'}),
	$n, 'one upgrade event each');
is($node->safe_psql('postgres', q{SELECT migrate_current()}), $n, 'at the last version');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate_validate()}),
	'0', 'no drift at the end');

$node->stop;
done_testing();
