# On a streaming standby no migrate worker ever runs, not even the launcher;
# everything a job did on the primary arrives by WAL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nmax_worker_processes = 16");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE items (id int PRIMARY KEY, sku text);
	INSERT INTO items SELECT g, 'sku-' || g FROM generate_series(1, 1000) g;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
	SELECT migrate_register('1', 'sku index', 'CREATE INDEX CONCURRENTLY items_sku ON items (sku)',
	                        'DROP INDEX CONCURRENTLY items_sku', transactional => false);
	SELECT migrate_register('2', 'items.note', 'ALTER TABLE items ADD COLUMN note text',
	                        'ALTER TABLE items DROP COLUMN note');
	SELECT count(*) FROM migrate_upgrade();
});
is($primary->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', 'the job ran on the primary');
$primary->wait_for_catchup($standby);

is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'migrate%'}),
	'0', 'no migrate process runs on the standby');
is( $standby->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_sku'::regclass}),
	't', 'the index built on the primary is on the standby');
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version) FROM migrate.migration}),
	'1:applied 2:applied', 'the catalog arrived by WAL');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM migrate.job WHERE state = 'done'}),
	'1', 'the job row arrived by WAL');

my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	q{SELECT migrate_register('3', 'three', 'SELECT 3')});
isnt($ret, 0, 'nothing can be registered on the standby');
($ret, $stdout, $stderr) = $standby->psql('postgres', 'SELECT migrate_resume()');
isnt($ret, 0, 'no job can be resumed on the standby');
is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'migrate%'}),
	'0', 'still no migrate process on the standby');

$standby->stop;
$primary->stop;
done_testing();
