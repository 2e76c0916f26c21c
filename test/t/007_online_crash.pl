# An online migration started by a deploy role that is not a superuser: its
# background job runs as that role, survives a kill -9 and a restart in the
# middle of its backfill (the launcher resumes it where it stopped), and the
# migration completes with every row right.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('online');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migrate'
max_worker_processes = 16
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE deployer LOGIN;
	GRANT CREATE ON DATABASE postgres TO deployer;
	GRANT EXECUTE ON FUNCTION migrate_register_online(text, text, jsonb),
	      migrate_upgrade(text), migrate_wait(text, interval), migrate_complete(text),
	      migrate_version_schema(text)
	   TO deployer;
	GRANT USAGE ON SCHEMA migrate TO deployer;
	GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO deployer;
	CREATE SCHEMA app AUTHORIZATION deployer;
	SET ROLE deployer;
	CREATE TABLE app.people (id int PRIMARY KEY, first text NOT NULL, last text NOT NULL);
	INSERT INTO app.people SELECT g, 'f' || g, 'l' || g FROM generate_series(1, 100000) g;
	ANALYZE app.people;
});

# small, slow batches: the backfill lasts long enough to be interrupted
$node->safe_psql('postgres', q{
	SET ROLE deployer;
	SET migrate.batch_size = 100;
	SET migrate.batch_target = '5ms';
	SET migrate.batch_delay = '50ms';
	SELECT migrate_register_online('1', 'people.full_name', '[
		{"add_column": {"schema": "app", "table": "people",
		                "column": {"name": "full_name", "type": "text", "nullable": false},
		                "up": "first || '' '' || last"}},
		{"rename_column": {"schema": "app", "table": "people", "from": "last", "to": "surname"}}
	]');
	SELECT count(*) FROM migrate_upgrade();
});
is($node->safe_psql('postgres', q{SELECT run_as FROM migrate.job WHERE kind = 'online'}),
	'deployer', 'the job runs as the deploy role');

sub backfill_under_way
{
	my ($what, $rows) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM migrate.job j
		  JOIN pg_stat_activity a ON a.pid = j.worker_pid
		 WHERE j.kind = 'online' AND j.state = 'running' AND j.rows_done > $rows})
	  or die "the backfill is not under way $what";
}

# 1. kill -9 of the worker: the postmaster reinitializes, the launcher resumes
backfill_under_way('at first', 2000);
my $pid = $node->safe_psql('postgres', q{SELECT worker_pid FROM migrate.job WHERE kind = 'online'});
kill 'KILL', $pid;
$node->poll_query_until('postgres', q{SELECT count(*) FROM migrate.event WHERE action = 'resume'}, '1')
  or die 'the job was not resumed after the crash';

# 2. a restart
my $done_before = $node->safe_psql('postgres', q{SELECT rows_done FROM migrate.job WHERE kind = 'online'});
backfill_under_way('after the crash', $done_before + 1000);
$node->restart;
$node->poll_query_until('postgres', q{SELECT count(*) FROM migrate.event WHERE action = 'resume'}, '2')
  or die 'the job was not resumed after the restart';

is($node->safe_psql('postgres', q{SET ROLE deployer; SELECT migrate_wait('1')}),
	'ready', 'the migration is ready');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM app.people
	 WHERE _migrate_pending OR _migrate_new_full_name IS DISTINCT FROM first || ' ' || last}),
	'0', 'every row backfilled, none left marked');
my $args = $node->safe_psql('postgres', q{
	SELECT (args->>'batches')::int > 10, current_step FROM migrate.job WHERE kind = 'online'});
is($args, 't|2', 'in many batches, every step done');

$node->safe_psql('postgres', q{SET ROLE deployer; SELECT migrate_complete()});
is($node->safe_psql('postgres', q{
	SELECT string_agg(attname || ':' || attnotnull, ',' ORDER BY attnum)
	  FROM pg_attribute WHERE attrelid = 'app.people'::regclass AND attnum > 0 AND NOT attisdropped}),
	'id:true,first:true,surname:true,full_name:true', 'completed: the new shape is the table');
is($node->safe_psql('postgres', q{SELECT state FROM migrate.migration}), 'applied', 'applied');
is($node->safe_psql('postgres', q{SELECT migrate_version_schema()}), 'migrate_app_v1',
	'the version schema stays for the new application');

$node->stop;
done_testing();
