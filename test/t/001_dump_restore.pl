# pg_dump keeps the migration history, the event log and the schema
# fingerprint with the schema they describe, and a restored database carries
# on where the original stood.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE EXTENSION migrate;
	SELECT migrate_register('1', 'users',
		'CREATE TABLE users (id int PRIMARY KEY, email text)', 'DROP TABLE users');
	SELECT migrate_register('1.1', 'users.email index',
		'CREATE INDEX users_email ON users (email)', 'DROP INDEX users_email');
	SELECT migrate_upgrade();
	SELECT migrate_register('2', 'users.name',
		'ALTER TABLE users ADD COLUMN name text', 'ALTER TABLE users DROP COLUMN name');
	INSERT INTO users VALUES (1, 'a@example.com');
});
my $events = $node->safe_psql('app', 'SELECT count(*) FROM migrate.event');

my $dump = "$PostgreSQL::Test::Utils::tmp_check/app.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('app') ],
	'pg_dump of a database with migrate');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database');

is( $node->safe_psql('restored',
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version_key) FROM migrate.migration}),
	'1:applied 1.1:applied 2:pending',
	'migrations and their states survive');
is($node->safe_psql('restored', 'SELECT count(*) FROM migrate.event'),
	$events, 'the event history survives');
is($node->safe_psql('restored', 'SELECT migrate_current()'),
	'1.1', 'current version survives');
is($node->safe_psql('restored', 'SELECT count(*) FROM migrate_validate()'),
	'0', 'the fingerprint matches the restored schema: no drift');

# the restored database carries on: checksums still match, and only the
# pending migration is applied
is( $node->safe_psql('restored',
		q{SELECT migrate_register('1', 'users',
			'CREATE TABLE users (id int PRIMARY KEY, email text)', 'DROP TABLE users')}),
	'1', 're-registering an applied migration is still a no-op');
is($node->safe_psql('restored', q{SELECT string_agg(version, ',') FROM migrate_upgrade()}),
	'2', 'upgrade applies only what was pending');
is( $node->safe_psql('restored',
		q{SELECT min(id) > (SELECT max(id) FROM migrate.event WHERE action = 'register') FROM migrate.event WHERE action = 'upgrade' AND version = '2'}),
	't', 'new events continue the restored sequence');

$node->stop;
done_testing();
