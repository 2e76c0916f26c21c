# Who a job runs as, and where: a job names its role by name and by OID, and
# records the cluster and database it was queued in.  A renamed role, or a
# role dropped and created again, does not change who a job runs as: the job
# fails instead, until migrate_resume() binds it to the role of its name.  A
# job restored from a dump is not started by the launcher.  Workers read the
# configuration again on SIGHUP.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('identity');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'migrate'\nmax_worker_processes = 16\nmigrate.max_replica_lag = 0");
$node->start;

my $grants = q{
	GRANT EXECUTE ON FUNCTION migrate_backfill(regclass, text, text, integer),
	      migrate_wait(text, interval), migrate_resume(text), migrate_cancel(text) TO %s;
	GRANT USAGE ON SCHEMA migrate TO %s;
	GRANT SELECT ON ALL TABLES IN SCHEMA migrate TO %s;
};
sub deployer
{
	my ($db, $role) = @_;
	$node->safe_psql($db, sprintf($grants, $role, $role, $role));
}

$node->safe_psql('postgres', q{
	CREATE ROLE identity_alice LOGIN;
	CREATE ROLE identity_bob LOGIN;
	CREATE ROLE identity_carol LOGIN;
	CREATE DATABASE identity_app;
	CREATE EXTENSION migrate;
});
$node->safe_psql('identity_app', 'CREATE EXTENSION migrate');
deployer('postgres', $_) for qw(identity_alice identity_bob);
deployer('identity_app', 'identity_carol');

# a table of 3 rows per backfill, one row per batch
sub table_for
{
	my ($db, $table, $role) = @_;
	$node->safe_psql($db, qq{
		CREATE TABLE $table (id int PRIMARY KEY, a int, b int);
		INSERT INTO $table SELECT g, g, NULL FROM generate_series(1, 3) g;
		GRANT SELECT, UPDATE ON $table TO $role;
	});
}

sub set_delay
{
	my ($delay) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET migrate.batch_delay = '$delay'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# queue a backfill as a role, and wait until its worker pauses after a batch
sub paused_backfill
{
	my ($db, $table, $role) = @_;
	my $id = $node->safe_psql($db,
		"SET ROLE $role; SELECT migrate_backfill('$table', 'b = a', NULL, 1)");
	$node->poll_query_until($db,
		"SELECT state = 'running' AND rows_done >= 1 FROM migrate.job WHERE id = $id")
	  or die "backfill $id on $table never paused";
	return $id;
}

# 1. SIGHUP: a backfill paused by migrate.batch_delay from postgresql.conf
# goes on when the delay is lowered and the configuration reloaded.
table_for('postgres', 'identity_t1', 'identity_alice');
set_delay('1h');
my $job1 = paused_backfill('postgres', 'identity_t1', 'identity_alice');
set_delay('0');
ok($node->poll_query_until('postgres', "SELECT state FROM migrate.job WHERE id = $job1", 'done'),
	'a running backfill picks up a reloaded migrate.batch_delay');
is($node->safe_psql('postgres', 'SELECT count(*) FROM identity_t1 WHERE b = a'),
	'3', 'and finishes its work');

# 2. Three jobs interrupted by a restart: one whose role is renamed, one whose
# role is dropped and created again, and one dumped and restored into
# another database.
table_for('postgres', 'identity_t2', 'identity_alice');
table_for('postgres', 'identity_t3', 'identity_bob');
table_for('identity_app', 'identity_t4', 'identity_carol');
set_delay('1h');
my $job2 = paused_backfill('postgres', 'identity_t2', 'identity_alice');
my $job3 = paused_backfill('postgres', 'identity_t3', 'identity_bob');
my $job4 = paused_backfill('identity_app', 'identity_t4', 'identity_carol');

my $dump = "$PostgreSQL::Test::Utils::tmp_check/identity_app.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('identity_app') ],
	'pg_dump of a database with a running job');
$node->safe_psql('postgres', 'CREATE DATABASE identity_restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('identity_restored'), $dump ],
	'pg_restore into another database');

$node->safe_psql('postgres', q{
	ALTER ROLE identity_alice RENAME TO identity_alice_renamed;
	DROP OWNED BY identity_bob;
	DROP ROLE identity_bob;
	CREATE ROLE identity_bob LOGIN;
	GRANT SELECT, UPDATE ON identity_t3 TO identity_bob;
});
deployer('postgres', 'identity_bob');

$node->restart;
# the launcher resumes the job of the original database, and only that one
ok($node->poll_query_until('identity_app',
		"SELECT count(*) FROM migrate.event WHERE action = 'resume'", '1'),
	'the launcher resumed the job of the original database');
ok($node->poll_query_until('postgres',
		"SELECT count(*) FROM migrate.job WHERE id IN ($job2, $job3) AND state = 'failed'", '2'),
	'the jobs of a renamed and of a replaced role fail');

sub job_error
{
	my ($db, $id) = @_;
	return $node->safe_psql($db, "SELECT last_sqlstate || ' ' || last_error FROM migrate.job WHERE id = $id");
}
like(job_error('postgres', $job2),
	qr/^55000 job $job2 was not started: role "identity_alice", which queued it, was renamed to "identity_alice_renamed"/,
	'a renamed role: the job says so');
like(job_error('postgres', $job3),
	qr/^55000 job $job3 was not started: role "identity_bob", which queued it, was dropped; the role of that name now is another role/,
	'a role dropped and created again: the job says so');
is($node->safe_psql('identity_restored', "SELECT state FROM migrate.job WHERE id = $job4"),
	'failed', 'a job restored from a dump is not started');
like(job_error('identity_restored', $job4),
	qr/^55000 job $job4 was not started: it was queued in another database or cluster/,
	'and says where it comes from');
like(job_error('identity_restored', $job4), qr/HINT: If it should run here, run migrate_resume\(\)/,
	'and how to start it');

# migrate_resume() is the explicit decision: it binds the job to the role of
# its name, here, and the job finishes; a job whose role name is gone is not
# resumed (nor does it stop the others)
set_delay('0');
my ($rc, $out, $err) = $node->psql('postgres', 'SET ROLE identity_bob; SELECT migrate_resume()');
like($err, qr/NOTICE:  job $job2 is not resumed: role "identity_alice" does not exist/,
	'a job whose role name is gone is not resumed');
like($err, qr/NOTICE:  job $job3 now runs as role "identity_bob" of this database/,
	'a job of a role dropped and created again is bound to the new role');
is($node->safe_psql('postgres', "SELECT state FROM migrate.job WHERE id = $job2"),
	'failed', 'the job of the renamed role stays failed');
is($node->safe_psql('postgres', 'SET ROLE identity_bob; SELECT migrate_wait()'),
	'done', 'resumed by the new role of its name, the job runs as that role');
like($node->safe_psql('postgres', "SELECT detail FROM migrate.event WHERE action = 'resume' AND detail LIKE '%bound%'"),
	qr/^job $job3 bound to role "identity_bob" of this database: role "identity_bob", which queued it, was dropped/,
	'the binding is in the history');
$node->safe_psql('identity_restored', 'SELECT migrate_resume()');
is($node->safe_psql('identity_restored', 'SELECT migrate_wait()'),
	'done', 'a restored job resumed by a superuser runs here');
is($node->safe_psql('identity_restored', 'SELECT count(*) FROM identity_t4 WHERE b = a'),
	'3', 'and finishes');
is($node->safe_psql('identity_app', 'SET ROLE identity_carol; SELECT migrate_wait()'),
	'done', 'the original job finishes in its own database');

$node->stop;
done_testing();
