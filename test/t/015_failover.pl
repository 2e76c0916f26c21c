# Failover: the primary dies in the middle of a backfill and of an online
# migration's job; the streaming standby is promoted, its launcher resumes
# both jobs there (each as the role that queued it), and each finishes
# exactly once: every row is updated once, whatever the primary had done
# and sent before it died.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migrate'
max_worker_processes = 16
wal_receiver_status_interval = 1
});
$primary->start;

$primary->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE deployer LOGIN;
	GRANT CREATE ON DATABASE postgres TO deployer;
	GRANT EXECUTE ON FUNCTION migrate_register_online(text, text, jsonb),
	      migrate_upgrade(text), migrate_wait(text, interval), migrate_complete(text),
	      migrate_backfill(regclass, text, text, integer)
	   TO deployer;
	GRANT USAGE ON SCHEMA migrate TO deployer;
	GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO deployer;
	CREATE SCHEMA app AUTHORIZATION deployer;
	SET ROLE deployer;
	-- every row's counter must end at exactly 1
	CREATE TABLE app.counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, who name);
	INSERT INTO app.counters SELECT g FROM generate_series(1, 20000) g;
	CREATE TABLE app.people (id int PRIMARY KEY, first text NOT NULL, last text NOT NULL);
	INSERT INTO app.people SELECT g, 'f' || g, 'l' || g FROM generate_series(1, 20000) g;
	ANALYZE app.counters, app.people;
	-- rows past 5000 wait for app.gate_open: the jobs stop in the middle of
	-- a batch, with the batches before it committed (and streamed)
	CREATE TABLE app.gate_open ();
	CREATE FUNCTION app.gate(id int) RETURNS int LANGUAGE plpgsql AS $f$
	BEGIN
		IF id > 5000 THEN
			WHILE NOT EXISTS (SELECT FROM app.gate_open) LOOP
				PERFORM pg_sleep(0.02);
			END LOOP;
		END IF;
		RETURN 0;
	END $f$;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# batches of at most 1000 rows: both jobs stop at the gate in a batch
$primary->safe_psql('postgres', q{
	SET ROLE deployer;
	SET migrate.batch_size = 1000;
	SELECT migrate_backfill('app.counters', 'n = n + 1 + app.gate(id), who = current_user') > 0;
	SELECT migrate_register_online('1', 'people.full_name', '[
		{"add_column": {"schema": "app", "table": "people",
		                "column": {"name": "full_name", "type": "text", "nullable": false},
		                "up": "first || '' '' || last || left('''', app.gate(id))"}}
	]');
	SELECT count(*) FROM migrate_upgrade();
});

# both jobs wait at the gate, and the standby has received what they did
ok( $primary->poll_query_until('postgres', q{
		SELECT count(*) = 2 FROM pg_stat_activity
		 WHERE backend_type = 'migrate worker' AND wait_event = 'PgSleep'}),
	'both jobs wait at the gate');
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('postgres', q{
		SELECT string_agg(kind || ' ' || state || ' ' ||
		                  (rows_done > 0 AND rows_done < 20000 AND
		                   (kind <> 'backfill' OR rows_done = (SELECT count(*) FROM app.counters WHERE n = 1))),
		                  ', ' ORDER BY kind)
		  FROM migrate.job}),
	'backfill running true, online running true',
	'the standby has received part of both jobs, the backfill\'s count matching its rows');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'migrate%'}),
	'0', 'no migrate process on the standby');

# the primary dies without a shutdown checkpoint
$primary->stop('immediate');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM app.counters WHERE n > 1}),
	'0', 'no row was updated twice before the failover');

$standby->promote;
ok( $standby->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'migrate launcher'}),
	'the promoted standby starts the launcher');
ok( $standby->poll_query_until('postgres', q{
		SELECT detail FROM migrate.event WHERE action = 'resume'},
		'2 unfinished jobs resumed at server start'),
	'the launcher resumes both jobs on the new primary');
ok( $standby->poll_query_until('postgres', q{
		SELECT count(*) = 2 AND bool_and(usename = 'deployer') FROM pg_stat_activity
		 WHERE backend_type = 'migrate worker'}),
	'the resumed workers run as the role that queued the jobs');
$standby->safe_psql('postgres', 'INSERT INTO app.gate_open DEFAULT VALUES');

is($standby->safe_psql('postgres', q{SET ROLE deployer; SELECT migrate_wait(NULL, '120s')}),
	'done', 'every job finishes on the new primary');
is($standby->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE n = 1) || ' of ' || count(*) FROM app.counters}),
	'20000 of 20000', 'the backfill updated every row exactly once');
is($standby->safe_psql('postgres', q{SELECT string_agg(DISTINCT who, ',') FROM app.counters}),
	'deployer', 'as the role that queued it, before and after the failover');
is($standby->safe_psql('postgres', q{
	SELECT state || ' ' || rows_done FROM migrate.job WHERE kind = 'backfill'}),
	'done 20000', 'and counted each row once');
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM app.people
	 WHERE _migrate_pending OR _migrate_new_full_name IS DISTINCT FROM first || ' ' || last}),
	'0', 'the online backfill reached every row');
is($standby->safe_psql('postgres', q{SELECT state FROM migrate.migration WHERE version = '1'}),
	'ready', 'the online migration is ready');

$standby->safe_psql('postgres', q{SET ROLE deployer; SELECT migrate_complete('1')});
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM app.people WHERE full_name IS DISTINCT FROM first || ' ' || last}),
	'0', 'completed on the new primary with every row right');
is($standby->safe_psql('postgres', q{SELECT state FROM migrate.migration WHERE version = '1'}),
	'applied', 'and applied');

$standby->stop;
done_testing();
