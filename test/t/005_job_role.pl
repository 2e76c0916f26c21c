# A job runs as the role that queued it, never as a superuser on its behalf:
# it cannot touch what that role cannot touch.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MigrateTest;

my $node = PostgreSQL::Test::Cluster->new('roles');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE deployer LOGIN;
	GRANT EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean),
	      migrate_upgrade(text), migrate_wait(text, interval), migrate_resume(text)
	   TO deployer;
	GRANT USAGE ON SCHEMA migrate TO deployer;
	GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO deployer;
	CREATE SCHEMA app AUTHORIZATION deployer;
	CREATE TABLE public.secret (id int PRIMARY KEY, v text);
	CREATE TABLE gate (open boolean);
	GRANT SELECT ON gate TO deployer;
	INSERT INTO public.secret VALUES (1, 'x');
});

# the deployer's own table: the job works, and runs as the deployer
$node->safe_psql('postgres', q{
	SET ROLE deployer;
	CREATE TABLE app.orders (id int PRIMARY KEY, ref text);
	SELECT migrate_register('1', 'orders.ref index', $m$
		DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM public.gate) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;
		CREATE INDEX CONCURRENTLY orders_ref ON app.orders (ref);
	$m$, NULL, transactional => false);
	SELECT count(*) FROM migrate_upgrade();
});
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'migrate worker'})
  or die 'no worker';
is( $node->safe_psql('postgres',
		q{SELECT usename FROM pg_stat_activity WHERE backend_type = 'migrate worker'}),
	'deployer', 'the worker is connected as the deploy role');
my ($ret, $stdout, $stderr) = wait_while_opening($node,
	'SET ROLE deployer; SELECT migrate_wait()', 'INSERT INTO gate VALUES (true)');
is($stdout, 'done', 'a job on what the role owns works') or diag $stderr;

# a table the deployer does not own: the job fails with 42501
$node->safe_psql('postgres', q{
	SET ROLE deployer;
	SELECT migrate_register('2', 'secret index',
		'CREATE INDEX CONCURRENTLY secret_v ON public.secret (v)', NULL, transactional => false);
	SELECT count(*) FROM migrate_upgrade();
});
($ret, $stdout, $stderr) = $node->psql('postgres',
	'SET ROLE deployer; SELECT migrate_wait()', on_error_stop => 1);
like($stderr, qr/must be owner of table secret/, 'the job cannot touch what its role cannot');
is( $node->safe_psql('postgres', q{SELECT state, last_sqlstate, run_as FROM migrate.job WHERE version = '2'}),
	'failed|42501|deployer', 'the job failed with 42501, as the deploy role');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_index WHERE indexrelid::regclass::text = 'secret_v'}),
	'0', 'no index was built on the secret table');

$node->stop;
done_testing();
