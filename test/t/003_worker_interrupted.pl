# Without the launcher (no shared_preload_libraries), a job whose worker was
# killed shows as interrupted, and migrate_resume() continues it by hand:
# nothing is applied twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MigrateTest;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\nrestart_after_crash = on");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE run_log (step text);
	CREATE TABLE gate (open boolean);
	CREATE TABLE items (id int PRIMARY KEY, sku text);
	INSERT INTO items SELECT g, 'sku-' || g FROM generate_series(1, 1000) g;
	SELECT migrate_register('1', 'gated index', $m$
		CREATE INDEX CONCURRENTLY items_sku ON items (sku);
		INSERT INTO run_log VALUES ('after index');
		DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;
		INSERT INTO run_log VALUES ('last');
	$m$, 'DROP INDEX CONCURRENTLY items_sku', transactional => false);
	SELECT count(*) FROM migrate_upgrade();
});
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'migrate worker' AND query LIKE '%statement 3 of 4%'})
  or die 'the worker never reached the gate';

my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate worker'});
kill 'KILL', $pid;
$node->poll_query_until('postgres', q{SELECT state = 'interrupted' FROM migrate.progress})
  or die 'the job never showed as interrupted';
is($node->safe_psql('postgres', q{SELECT job FROM migrate.status WHERE version = '1'}),
	'interrupted (job 1)', 'migrate.status shows the job as interrupted');

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT migrate_wait()');
like($stderr, qr/background job 1 was interrupted/, 'migrate_wait says the job was interrupted');

# nothing else may deploy meanwhile
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT migrate_upgrade()');
like($stderr, qr/background run of migrations is in progress/, 'upgrade refused while the run is unfinished');

$node->safe_psql('postgres', 'SELECT migrate_resume()');
($ret, $stdout, $stderr) = wait_while_opening($node, 'SELECT migrate_wait()',
	'INSERT INTO gate VALUES (true)');
is($stdout, 'done', 'resumed by hand, the job finishes') or diag $stderr;
is($node->safe_psql('postgres', 'SELECT string_agg(step, \',\' ORDER BY step) FROM run_log'),
	'after index,last', 'no statement ran twice');
is( $node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_sku'::regclass}),
	't', 'the index was built once and is valid');
is($node->safe_psql('postgres', q{SELECT state FROM migrate.migration}), 'applied', 'applied');

$node->stop;
done_testing();
