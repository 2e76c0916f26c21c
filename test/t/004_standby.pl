# On a streaming standby no migrate worker ever runs, not even the launcher;
# everything a job did on the primary arrives by WAL.  A backfill pauses
# while a standby lags more than migrate.max_replica_lag.
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
# CALL migrate_await(), not SELECT migrate_wait(): a wait that starts just
# as the index build lists the snapshots it must outwait is one of them
# (40P01), which 17 showed here
$primary->safe_psql('postgres', 'CALL migrate_await()');
is($primary->safe_psql('postgres', q{SELECT string_agg(state, ',') FROM migrate.job}),
	'done', 'the job ran on the primary');
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

# A backfill pauses while a standby lags more than migrate.max_replica_lag,
# and goes on once it has caught up.
my $delayed = PostgreSQL::Test::Cluster->new('delayed');
$delayed->init_from_backup($primary, 'base', has_streaming => 1);
$delayed->append_conf('postgresql.conf',
	"recovery_min_apply_delay = '3s'\nwal_receiver_status_interval = 1");
$delayed->start;
# batches that each take half a second (a sleep, once per batch, as long as
# table pace says) shrink to a row or so: the standby replays each 3 s late,
# and the lag it reports then stops the batches after it.  Once the pace is
# gone the batches double at each step, so that the rest takes no time.
$primary->safe_psql('postgres', q{
	CREATE TABLE pace (seconds float8);
	INSERT INTO pace VALUES (0.5);
	SET migrate.max_replica_lag = 500;
	SELECT migrate_backfill('items',
		$$note = sku || (SELECT '' FROM pg_sleep((SELECT coalesce(sum(seconds), 0) FROM pace)))$$,
		batch_size => 10) > 0;
});
ok( $primary->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_stat_activity
		 WHERE backend_type = 'migrate worker' AND query LIKE '%backfill paused: a standby lags %'}),
	'the backfill pauses while a standby lags');
ok($primary->safe_psql('postgres', q{SELECT count(*) < 1000 FROM items WHERE note = sku}) eq 't',
	'with rows still to do');
# the standby catches up, and the batches need not be slow any more
$delayed->append_conf('postgresql.conf', "recovery_min_apply_delay = 0");
$delayed->reload;
$primary->safe_psql('postgres', 'DELETE FROM pace');
# a commit the standby now replays at once, for a fresh measure of its lag
$primary->safe_psql('postgres', 'CREATE TABLE nudge (); DROP TABLE nudge');
is($primary->safe_psql('postgres', 'SELECT migrate_wait()'), 'done', 'the backfill goes on and ends');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM items WHERE note = sku}), '1000',
	'every row is done');

$delayed->stop;
$standby->stop;
$primary->stop;
done_testing();
