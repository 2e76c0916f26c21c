# pg_migrate import: a database that Flyway, dbmate or golang-migrate
# managed is taken over from that tool's history table, as a deploy role
# made with the README's grants.  The next deploy applies only what the old
# tool had not; the history table is left as it was; a failed or dirty
# history, or a version applied without a file, is refused with nothing
# changed.  dbmate's history is written by the real dbmate when it is on
# PATH (npm install -g dbmate; test/setup.sh installs it); Flyway's and
# golang-migrate's tables are made by the test in their documented layout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Compress::Zlib qw(crc32);
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgMigrateTest;

my $top = "$FindBin::RealBin/../..";

my $node = PostgreSQL::Test::Cluster->new('import');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16");
$node->start;

sub state_of
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version_key) FROM migrate.migration});
}

my ($rc, $out, $err);

# ---- dbmate: a history written by the real dbmate
SKIP:
{
	my $dbmate = `sh -c 'command -v dbmate'`;
	chomp $dbmate;
	skip 'dbmate is not installed (npm install -g dbmate; test/setup.sh does it)', 9
	  unless $dbmate;

	my $conn = fresh_db($node, $top, 'dbmate');
	my $superuser = $node->safe_psql('postgres', 'SELECT current_user');
	my $dir = make_dir(
		'20240101000000_users.sql' => "-- migrate:up\nCREATE TABLE users (id int PRIMARY KEY);\n\n-- migrate:down\nDROP TABLE users;\n",
		'20240102000000_posts.sql' => "-- migrate:up\nCREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n\n-- migrate:down\nDROP TABLE posts;\n");
	local $ENV{DATABASE_URL} = sprintf('postgres://%s@:%d/dbmate?socket=%s&sslmode=disable',
		$superuser, $node->port, $node->host);
	my ($dout, $derr) = ('', '');
	IPC::Run::run([ 'dbmate', '--no-dump-schema', '--migrations-dir', $dir, 'up' ],
		'<', \undef, '>', \$dout, '2>', \$derr);
	is($? >> 8, 0, 'dbmate applied two migrations') or diag "$dout$derr";
	$node->safe_psql('dbmate', q{GRANT SELECT ON schema_migrations TO deployer;
		ALTER TABLE users OWNER TO deployer; ALTER TABLE posts OWNER TO deployer});
	my $history = $node->safe_psql('dbmate', q{SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations});
	is($history, '20240101000000,20240102000000', 'dbmate wrote its history');

	# a third migration that dbmate did not apply
	write_file("$dir/20240103000000_tags.sql",
		"-- migrate:up\nCREATE TABLE tags (id int);\n-- migrate:down\nDROP TABLE tags;\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'dbmate', $dir);
	is($rc, 0, 'dbmate: import exits 0') or diag $err;
	like($out, qr/2 adopted, 1 pending/, 'dbmate: two adopted, one pending');
	is(state_of('dbmate'),
		'20240101000000:applied 20240102000000:applied 20240103000000:pending',
		'dbmate: exactly what dbmate applied is applied');
	is($node->safe_psql('dbmate', q{SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations}),
		$history, 'dbmate: its table is left as it was');
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'dbmate: the next deploy exits 0') or diag $err;
	like($out, qr/^applied  20240103000000 "tags"$/m, 'dbmate: it applies the new one');
	unlike($out, qr/20240101000000/, 'dbmate: and not the adopted ones');
}

# ---- Flyway: the documented flyway_schema_history layout
my $flyway_table = q{
	installed_rank integer NOT NULL PRIMARY KEY,
	version varchar(50),
	description varchar(200) NOT NULL,
	type varchar(20) NOT NULL,
	script varchar(1000) NOT NULL,
	checksum integer,
	installed_by varchar(100) NOT NULL,
	installed_on timestamp NOT NULL DEFAULT now(),
	execution_time integer NOT NULL,
	success boolean NOT NULL};

# Flyway's checksum: CRC-32 of the lines without terminators, signed
sub flyway_checksum
{
	my ($text) = @_;
	$text =~ s/^\x{EF}\x{BB}\x{BF}//;
	my $c = crc32(join('', split /\r\n|\r|\n/, $text));
	return $c >= 2**31 ? $c - 2**32 : $c;
}

my %flyway_files = (
	'V1__create_users.sql' => "CREATE TABLE users (id int PRIMARY KEY);\n",
	'V2__create_posts.sql' => "CREATE TABLE posts (id int PRIMARY KEY);\n",
	'V3__create_tags.sql' => "CREATE TABLE tags (id int);\n",
	'U3__create_tags.sql' => "DROP TABLE tags;\n",
	# written on Windows: CRLF, which Flyway's checksum ignores
	'R__user_view.sql' => "CREATE OR REPLACE VIEW user_view AS\r\nSELECT id FROM users;\r\n",
	'R__post_view.sql' => "CREATE OR REPLACE VIEW post_view AS SELECT id FROM posts;\n");

{
	my $conn = fresh_db($node, $top, 'flyway');
	my $dir = make_dir(%flyway_files);
	my $uv = flyway_checksum($flyway_files{'R__user_view.sql'});
	# what Flyway did: V1, V2, V3 then its undo, both views (post_view since
	# edited), a DELETE of nothing relevant
	$node->safe_psql('flyway', qq{
		CREATE TABLE flyway_schema_history ($flyway_table);
		CREATE TABLE users (id int PRIMARY KEY);
		CREATE TABLE posts (id int PRIMARY KEY);
		CREATE VIEW user_view AS SELECT id FROM users;
		CREATE VIEW post_view AS SELECT 1 AS id;
		ALTER TABLE users OWNER TO deployer; ALTER TABLE posts OWNER TO deployer;
		ALTER VIEW user_view OWNER TO deployer; ALTER VIEW post_view OWNER TO deployer;
		INSERT INTO flyway_schema_history
		  (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
		VALUES (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'flyway', 5, true),
		       (2, '2', 'create posts', 'SQL', 'V2__create_posts.sql', 2, 'flyway', 5, true),
		       (3, '3', 'create tags', 'SQL', 'V3__create_tags.sql', 3, 'flyway', 5, true),
		       (4, '3', 'create tags', 'UNDO_SQL', 'U3__create_tags.sql', 4, 'flyway', 5, true),
		       (5, NULL, 'user view', 'SQL', 'R__user_view.sql', $uv, 'flyway', 5, true),
		       (6, NULL, 'post view', 'SQL', 'R__post_view.sql', 12345, 'flyway', 5, true);
		GRANT SELECT ON flyway_schema_history TO deployer;
		DROP TABLE IF EXISTS tags;});
	my $before = $node->safe_psql('flyway', q{SELECT md5(string_agg(t::text, ',' ORDER BY installed_rank)) FROM flyway_schema_history t});

	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'flyway', $dir);
	is($rc, 0, 'flyway: import exits 0') or diag $err;
	is(state_of('flyway'), '1:applied 2:applied 3:pending', 'flyway: 1 and 2 applied, 3 undone');
	is($node->safe_psql('flyway', q{SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM migrate.repeatable_status}),
		'post view:pending user view:applied',
		'flyway: a repeatable is adopted only at the checksum Flyway applied');
	like($out, qr/repeatable "post view" changed since flyway applied it/, 'flyway: says which repeatable changed');
	is($node->safe_psql('flyway', q{SELECT count(*) FROM migrate.event WHERE action = 'baseline' AND detail LIKE 'adopted from flyway %'}),
		'3', 'flyway: baseline events name the source');
	is($node->safe_psql('flyway', q{SELECT md5(string_agg(t::text, ',' ORDER BY installed_rank)) FROM flyway_schema_history t}),
		$before, 'flyway: its table is left as it was');

	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'flyway: the next deploy exits 0') or diag $err;
	like($out, qr/^applied  3 "create tags"$/m, 'flyway: it applies version 3');
	like($out, qr/repeatable "post view"/, 'flyway: and the changed repeatable');
	unlike($out, qr/user view|"create users"/, 'flyway: and nothing adopted');
	is($node->safe_psql('flyway', q{SELECT count(*) FROM pg_views WHERE viewname = 'post_view' AND definition LIKE '%posts%'}),
		'1', 'flyway: the changed view is the file\'s');

	# importing again changes nothing
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'flyway', $dir);
	is($rc, 0, 'flyway: a second import exits 0') or diag $err;
}

# Flyway: a baseline, in a table of another name and schema
{
	my $conn = fresh_db($node, $top, 'flyway_baseline');
	my $dir = make_dir(%flyway_files);
	$node->safe_psql('flyway_baseline', qq{
		CREATE SCHEMA admin;
		CREATE TABLE admin."Flyway History" ($flyway_table);
		CREATE TABLE users (id int PRIMARY KEY);
		CREATE TABLE posts (id int PRIMARY KEY);
		ALTER TABLE users OWNER TO deployer; ALTER TABLE posts OWNER TO deployer;
		INSERT INTO admin."Flyway History"
		  (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
		VALUES (1, '2', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'flyway', 0, true);
		GRANT USAGE ON SCHEMA admin TO deployer;
		GRANT SELECT ON admin."Flyway History" TO deployer;});
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'flyway',
		'--history-table', 'admin."Flyway History"', $dir);
	is($rc, 0, 'flyway baseline: import exits 0') or diag $err;
	is(state_of('flyway_baseline'), '1:applied 2:applied 3:pending',
		'flyway baseline: every version up to the baseline is applied');

	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'flyway',
		'--history-table', 'admin.nothing', $dir);
	is($rc, 1, 'flyway: a history table that does not exist exits 1');
	like($err, qr/history table "admin.nothing" does not exist/, 'and says so');
}

# Flyway refusals: a failed row; a version applied without a file
for my $case (
	[ q{(1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'flyway', 5, true),
	    (2, '2', 'create posts', 'SQL', 'V2__create_posts.sql', 2, 'flyway', 5, false)},
	  qr/history shows a failed migration: version 2 "create posts"/, 'failed' ],
	[ q{(1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'flyway', 5, true),
	    (2, '9', 'gone', 'SQL', 'V9__gone.sql', 2, 'flyway', 5, true)},
	  qr/flyway applied version 9 \(V9__gone\.sql\), which has no file/, 'without a file' ])
{
	my ($rows, $re, $what) = @$case;
	my $db = 'flyway_' . ($what =~ s/ /_/gr);
	my $conn = fresh_db($node, $top, $db);
	my $dir = make_dir(%flyway_files);
	$node->safe_psql($db, qq{
		CREATE TABLE flyway_schema_history ($flyway_table);
		INSERT INTO flyway_schema_history
		  (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
		VALUES $rows;
		GRANT SELECT ON flyway_schema_history TO deployer;});
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'flyway', $dir);
	is($rc, 1, "flyway $what: refused, exit status 1");
	like($err, $re, "flyway $what: says why");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate.migration}), '0',
		"flyway $what: nothing registered");
}

# ---- golang-migrate: schema_migrations(version bigint, dirty boolean)
my %golang_files = (
	'000001_users.up.sql' => "CREATE TABLE users (id int PRIMARY KEY);\n",
	'000001_users.down.sql' => "DROP TABLE users;\n",
	'000002_posts.up.sql' => "CREATE TABLE posts (id int PRIMARY KEY);\n",
	'000002_posts.down.sql' => "DROP TABLE posts;\n",
	'000003_tags.up.sql' => "CREATE TABLE tags (id int);\n");
{
	my $conn = fresh_db($node, $top, 'golang');
	my $dir = make_dir(%golang_files);
	$node->safe_psql('golang', q{
		CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (2, false);
		CREATE TABLE users (id int PRIMARY KEY);
		CREATE TABLE posts (id int PRIMARY KEY);
		ALTER TABLE users OWNER TO deployer; ALTER TABLE posts OWNER TO deployer;
		GRANT SELECT ON schema_migrations TO deployer;});
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', 'golang-migrate', $dir);
	is($rc, 0, 'golang-migrate: import exits 0') or diag $err;
	is(state_of('golang'), '000001:applied 000002:applied 000003:pending',
		'golang-migrate: every version up to its version is applied');
	is($node->safe_psql('golang', q{SELECT version || ':' || dirty FROM schema_migrations}),
		'2:false', 'golang-migrate: its table is left as it was');
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'golang-migrate: the next deploy exits 0') or diag $err;
	like($out, qr/^applied  000003 "tags"$/m, 'golang-migrate: it applies the new one only');
	unlike($out, qr/000001|000002/, 'golang-migrate: not the adopted ones');
}

# golang-migrate refusals: dirty; a version without a file.  dbmate: a
# version without a file.
for my $case (
	[ 'golang-migrate', q{CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (2, true)},
	  qr/history is dirty at version 2/, 'dirty' ],
	[ 'golang-migrate', q{CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (7, false)},
	  qr/golang-migrate applied version 7, which has no file/, 'without a file' ],
	[ 'dbmate', q{CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);
		INSERT INTO schema_migrations VALUES ('1'), ('5')},
	  qr/dbmate applied version 5, which has no file/, 'without a file' ])
{
	my ($tool, $sql, $re, $what) = @$case;
	my $db = ($tool =~ s/-/_/gr) . '_' . ($what =~ s/ /_/gr);
	my $conn = fresh_db($node, $top, $db);
	my $dir = make_dir($tool eq 'dbmate'
		? ('1_users.sql' => "-- migrate:up\nCREATE TABLE users (id int);\n")
		: %golang_files);
	$node->safe_psql($db, "$sql; GRANT SELECT ON schema_migrations TO deployer;");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'import', '--from', $tool, $dir);
	is($rc, 1, "$tool $what: refused, exit status 1");
	like($err, $re, "$tool $what: says why");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate.migration}), '0',
		"$tool $what: nothing registered");
}

$node->stop;
done_testing();
