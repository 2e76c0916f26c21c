# pg_migrate against hostile input: a role that planted operators and
# functions named like migrate's on the deployer's search_path (with
# pg_catalog after public), the extension in a schema whose name needs
# quoting (capitals, a space); files that are not regular files (a FIFO, /dev/zero); pg_migrate
# script with file names and contents meant to break out of its quoting,
# run through psql and compared byte for byte with the files; a targets
# file whose unparsable line holds a password; import from history tables
# holding control characters, a view, and a table with a row-level
# security policy; and the client under valgrind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use Digest::MD5 qw(md5_hex);
use IPC::Run;
use lib "$FindBin::RealBin/../perl";
use PgMigrateTest;
use POSIX qw(mkfifo);

my $top = "$FindBin::RealBin/../..";

my $node = PostgreSQL::Test::Cluster->new('hostile');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16");
$node->start;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# The extension in a schema whose name needs quoting; the deploy role with
# the README's grants (made in that schema) and CREATE on public.
my $schema = 'Mig s-x';
(my $qschema = $schema) =~ s/"/""/g;
$qschema = qq{"$qschema"};
my $grants = readme_grants($top);
$node->safe_psql('postgres', 'CREATE DATABASE hostile');
$node->safe_psql('hostile', qq{CREATE SCHEMA $qschema;
	CREATE EXTENSION migrate SCHEMA $qschema;
	SET search_path = $qschema;
	$grants
	GRANT USAGE ON SCHEMA $qschema TO deployer;
	GRANT CREATE ON SCHEMA public TO deployer;
	GRANT CREATE ON DATABASE hostile TO deployer;});
my $db = $node->connstr('hostile') . ' user=deployer';

my ($rc, $out, $err);

# A role that may create in public plants look-alikes of what a client
# could call unqualified: the comparison operators of name and text, and
# the extension's functions.  The deployer's search_path puts pg_catalog
# after public (a database owner can set that for everyone), so only a
# qualified name escapes them.
$node->safe_psql('hostile', q{
	CREATE ROLE hostile_evil LOGIN;
	GRANT CREATE ON SCHEMA public TO hostile_evil;
	SET ROLE hostile_evil;
	CREATE FUNCTION public.evil_name_eq(name, name) RETURNS boolean
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL name=name'; RETURN pg_catalog.nameeq($1, $2); END$$;
	CREATE OPERATOR public.= (leftarg = name, rightarg = name, function = public.evil_name_eq);
	CREATE FUNCTION public.evil_text_eq(text, text) RETURNS boolean
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL text=text'; RETURN pg_catalog.texteq($1, $2); END$$;
	CREATE OPERATOR public.= (leftarg = text, rightarg = text, function = public.evil_text_eq);
	CREATE OPERATOR public.<> (leftarg = text, rightarg = text, function = public.evil_text_eq);
	CREATE FUNCTION public.evil_oid_eq(oid, oid) RETURNS boolean
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL oid=oid'; RETURN pg_catalog.oideq($1, $2); END$$;
	CREATE OPERATOR public.= (leftarg = oid, rightarg = oid, function = public.evil_oid_eq);
	CREATE FUNCTION public.evil_char_eq("char", "char") RETURNS boolean
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL char=char'; RETURN pg_catalog.chareq($1, $2); END$$;
	CREATE OPERATOR public.= (leftarg = "char", rightarg = "char", function = public.evil_char_eq);
	CREATE FUNCTION public.migrate_current() RETURNS text
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL migrate_current'; RETURN '0'; END$$;
	CREATE FUNCTION public.migrate_upgrade(text) RETURNS TABLE(version text, name text, action text)
		LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL migrate_upgrade'; END$$;
	RESET ROLE;
	ALTER ROLE deployer IN DATABASE hostile SET search_path = public, pg_catalog;
});

{
	my $dir = make_dir(
		'0001__items.sql' => "CREATE TABLE items (id int PRIMARY KEY, sku text);\n",
		'0002__sku.sql' =>
		  "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY items_sku ON items (sku);\n",
		'R__item_view.sql' => "CREATE OR REPLACE VIEW item_view AS SELECT id FROM items;\n");

	($rc, $out, $err) = pg_migrate('-d', $db, 'status');
	is($rc, 0, 'status with planted look-alikes exits 0');
	unlike($err, qr/EVIL/, 'status calls nothing planted');
	($rc, $out, $err) = pg_migrate('-d', $db, 'plan', $dir);
	is($rc, 2, 'plan with planted look-alikes exits 2');
	unlike($err, qr/EVIL/, 'plan calls nothing planted');
	($rc, $out, $err) = pg_migrate('-d', $db, 'deploy', $dir);
	is($rc, 0, 'deploy with planted look-alikes exits 0') or diag $err;
	unlike($err, qr/EVIL/, 'deploy calls nothing planted');
	like($out, qr/is at version 0002/, 'deploy applied everything');
	($rc, $out, $err) = pg_migrate('-d', $db, 'deploy', $dir);
	is($rc, 0, 'second deploy with planted look-alikes exits 0');
	unlike($err, qr/EVIL/, 'second deploy calls nothing planted');
	like($out, qr/nothing to apply/, 'second deploy applies nothing');

	# migrate_plan's lock list looks up the table a dropped foreign key
	# references, with pg_catalog's =; and names the partition ATTACH and
	# DETACH PARTITION lock, and the default partition
	write_file("$dir/0003__orders.sql",
		"CREATE TABLE orders (id int, item int CONSTRAINT orders_item_fkey REFERENCES items);\n"
		  . "CREATE TABLE m (k int) PARTITION BY LIST (k);\n"
		  . "CREATE TABLE m_default PARTITION OF m DEFAULT;\n"
		  . "CREATE TABLE m2 PARTITION OF m FOR VALUES IN (2);\n"
		  . "CREATE TABLE m1 (k int);\n");
	($rc, $out, $err) = pg_migrate('-d', $db, 'deploy', $dir);
	is($rc, 0, 'deploy of partitions exits 0') or diag $err;
	write_file("$dir/0004__detach.sql",
		"ALTER TABLE orders DROP CONSTRAINT orders_item_fkey;\n"
		  . "ALTER TABLE m ATTACH PARTITION m1 FOR VALUES IN (1);\n"
		  . "ALTER TABLE m DETACH PARTITION m2;\n");
	($rc, $out, $err) = pg_migrate('-d', $db, 'plan', $dir);
	is($rc, 2, 'plan of a dropped foreign key exits 2') or diag $err;
	unlike($err, qr/EVIL/, 'plan of a dropped foreign key calls nothing planted');
	like($out, qr/1: ALTER TABLE orders DROP CONSTRAINT orders_item_fkey\n(?: .*\n)*?      lock: ACCESS EXCLUSIVE on public\.items\n/,
		'the referenced table of a dropped foreign key is locked');
	like($out, qr/2: ALTER TABLE m ATTACH PARTITION m1 FOR VALUES IN \(1\)\n      lock: SHARE UPDATE EXCLUSIVE on public\.m\n      lock: ACCESS EXCLUSIVE on public\.m1\n      lock: ACCESS EXCLUSIVE on public\.m_default\n/,
		'ATTACH PARTITION locks the partition and the default partition');
	like($out, qr/3: ALTER TABLE m DETACH PARTITION m2\n      lock: ACCESS EXCLUSIVE on public\.m\n      lock: ACCESS EXCLUSIVE on public\.m2\n      lock: ACCESS EXCLUSIVE on public\.m_default\n/,
		'DETACH PARTITION locks the partition and the default partition');
}

# Files that are not regular files: a FIFO would block the read forever,
# a link to /dev/zero never end it.  Each is refused, naming it.
{
	my $dir = make_dir('0001__a.sql' => "SELECT 1;\n");
	mkfifo("$dir/0002__fifo.sql", 0600) or die "mkfifo: $!";
	($rc, $out, $err) = pg_migrate('script', $dir);
	is($rc, 1, 'a FIFO in the directory: exit 1, no hang');
	like($err, qr/file ".*0002__fifo\.sql" is not a regular file/,
		'a FIFO is named');
	unlink "$dir/0002__fifo.sql";
	symlink('/dev/zero', "$dir/0002__zero.sql") or die "symlink: $!";
	($rc, $out, $err) = pg_migrate('script', $dir);
	is($rc, 1, 'a link to /dev/zero: exit 1');
	like($err, qr/file ".*0002__zero\.sql" is not a regular file/,
		'a link to /dev/zero is named');
	unlink "$dir/0002__zero.sql";
	mkdir "$dir/0003__dir.sql";
	symlink("$dir/0001__a.sql", "$dir/0004__link.sql") or die "symlink: $!";
	($rc, $out, $err) = pg_migrate('script', $dir);
	is($rc, 0, 'a directory is skipped, a link to a file followed');
	like($out, qr/migrate_register\('0004', 'link'/, 'the linked file is read');
}

# pg_migrate script: names, contents and placeholder values built to end
# its quoting early or to run psql backslash commands.  Run through psql
# (the extension in a schema that needs quoting), every file is
# registered byte for byte, nothing else runs, and deploy then finds each
# definition unchanged.
{
	my $pwned = "$tmp/pwned";
	my %files = (
		"0001__a b'c\$d\".sql" =>
		  "SELECT 1; -- \$migrate\$ \$migrate_1\$ \$migrate_2 \\echo hi\n"
		  . "SELECT \$q\$:foo :'bar' :\"baz\" \$\$x\$\$ \$q\$;\n-- \$migrate",
		"0002__x\ny\e[31m.sql" => "SELECT 2; -- \$migrate_",
		"0003__\$migrate\$.sql" =>
		  "SELECT \$s\$\n\\! touch $pwned\n\\set ON_ERROR_STOP off\n\$s\$; -- \$migrate_1\$ \$migrate\$\n-- \$migrate_2",
		"0004__ph.sql" => "SELECT \$v\$\${tbl}\$v\$; -- \${tbl\n",
		"0004__ph.down.sql" => "SELECT \$v\$\${tbl}\$v\$; -- \$",
		"R__r'\\x\$.sql" => "SELECT 1; -- \$");
	my $value = "x'\"\$\$y\nz\\ \$migrate\$ \e";
	my $dir = make_dir(%files);

	$node->safe_psql('postgres', 'CREATE DATABASE script');
	$node->safe_psql('script', qq{CREATE SCHEMA $qschema; CREATE EXTENSION migrate SCHEMA $qschema;});
	($rc, $out, $err) = pg_migrate('-v', "tbl=$value", 'script', $dir);
	is($rc, 0, 'script of hostile files exits 0') or diag $err;
	my $script = "$tmp/script.sql";
	write_file($script, $out);

	my ($pout, $perr) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-d', $node->connstr('script'), '-v',
			"migrate_schema=$schema", '-f', $script ],
		'<', \undef, '>', \$pout, '2>', \$perr);
	is($? >> 8, 0, 'psql runs the script') or diag $perr;
	ok(!-e $pwned, 'no backslash command of a file ran');

	my %registered;
	for my $row (split /\x{1}\n/, $node->safe_psql('script', q{
		SELECT version || chr(2) || name || chr(2) || md5(up_sql) || chr(2)
		       || coalesce(md5(down_sql), '') || chr(2)
		       || coalesce(placeholders->>'tbl', '') || chr(1)
		  FROM migrate.migration ORDER BY version_key}) . "\n")
	{
		my ($v, $name, $up, $down, $ph) = split /\x{2}/, $row, -1;
		$registered{$v} = [ $name, $up, $down, $ph ];
	}
	is($registered{'0001'}[0], "a b'c\$d\"", 'a name with quotes and $ as written');
	is($registered{'0001'}[1], md5_hex($files{"0001__a b'c\$d\".sql"}),
		'a file holding the tags and ending in $migrate: byte for byte');
	is($registered{'0002'}[0], "x\ny\e[31m", 'a name with a newline as written');
	is($registered{'0002'}[1], md5_hex($files{"0002__x\ny\e[31m.sql"}),
		'a file ending in $migrate_: byte for byte');
	is($registered{'0003'}[1], md5_hex($files{"0003__\$migrate\$.sql"}),
		'a file with backslash commands in a string: byte for byte');
	is($registered{'0004'}[1], md5_hex($files{'0004__ph.sql'}),
		'a file with a placeholder: as written');
	is($registered{'0004'}[2], md5_hex($files{'0004__ph.down.sql'}),
		'its down ending in $: as written');
	is($registered{'0004'}[3], $value,
		'a placeholder value with quotes, $$, a newline, a tag: as given');
	is( $node->safe_psql('script',
			q{SELECT name || ' ' || md5(up_sql) FROM migrate.repeatable}),
		"r'\\x\$ " . md5_hex($files{"R__r'\\x\$.sql"}),
		'a repeatable with quotes and a backslash in its name: as written');

	# deploy sends the same definitions: nothing changed, nothing to apply
	($rc, $out, $err) = pg_migrate('-d', $node->connstr('script'), '-v',
		"tbl=$value", 'deploy', $dir);
	is($rc, 0, 'deploy after the script exits 0') or diag $err;
	like($out, qr/nothing to apply/, 'deploy after the script applies nothing');

	# a file holding 400000 of the tags the script could pick: one scan of
	# it, not one a tag (which took minutes)
	my $tags = "SELECT 1; -- \$migrate\$"
	  . join('', map { " \$migrate_$_\$" } 1 .. 400000) . "\n";
	my $many = make_dir('0001__tags.sql' => $tags);
	($rc, $out, $err) = pg_migrate('script', $many);
	is($rc, 0, 'script of a file holding 400000 tags exits 0 in time');
	like($out, qr/^\$migrate_400001\$SELECT 1;.*\$migrate_400001\$,$/ms,
		'it is quoted with the first tag it does not hold');
}

# A targets file: a line with a password is shown without it; a line that
# libpq cannot parse stops the deploy before any target starts, and is not
# shown (nor libpq's message, which quotes it): it may hold a password.
{
	$node->safe_psql('postgres', 'CREATE DATABASE targets');
	$node->safe_psql('targets', 'CREATE EXTENSION migrate');
	my $dir = make_dir('0001__a.sql' => "SELECT 1;\n");
	my $conn = $node->connstr('targets');
	my $file = "$tmp/targets.txt";
	write_file($file, "# fleet\n\n$conn password=sekrit1\n"
		  . "$conn password=sek rit2\n$conn password='sekrit3\n");
	($rc, $out, $err) = pg_migrate('--targets', $file, 'deploy', $dir);
	is($rc, 1, 'a targets line that is not a conninfo: exit 1');
	like($err, qr/line 4 of targets file ".*" is not a valid connection string/,
		'the line is named by its number');
	unlike($out . $err, qr/sek/, 'no password is shown');
	is($node->safe_psql('targets', 'SELECT count(*) FROM migrate.migration'),
		'0', 'no target was deployed');

	write_file($file, "$conn password=sekrit1\n");
	($rc, $out, $err) = pg_migrate('--targets', $file, 'deploy', $dir);
	is($rc, 0, 'a target with a password deploys') or diag $err;
	unlike($out . $err, qr/sekrit/, 'its password is not shown');
	like($out, qr/dbname=targets.* -> 0001  ok/, 'its summary line');

	# a database that cannot be asked has no version "none", but "?"
	(my $gone = $conn) =~ s/dbname='?targets'?/dbname=no_such_db/;
	write_file($file, "$gone\n");
	($rc, $out, $err) = pg_migrate('--targets', $file, 'deploy', $dir);
	is($rc, 1, 'a target that cannot be connected to fails');
	like($out, qr/dbname=no_such_db  \? -> \?  failed/,
		'its versions are unknown, not none');
}

# import reads a table that its owner controls.  Control characters in
# it are shown as "?"; a view, whose functions would run as the deployer,
# is refused, and so is a table whose row-level security policy would.
{
	$node->safe_psql('postgres', 'CREATE DATABASE import');
	$node->safe_psql('import', q{CREATE EXTENSION migrate;
		CREATE TABLE flyway_schema_history (installed_rank int, version text,
			description text, type text, script text, checksum int, success boolean);
		INSERT INTO flyway_schema_history
		VALUES (1, E'1\x1b]0;owned\x07\x1b[2J', E'd\x1b[31m', 'SQL', E'V1__a.sql\n\x1b[1A', 0, true);
		CREATE FUNCTION evil() RETURNS boolean
			LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'EVIL ran as %', current_user; RETURN true; END$$;
		CREATE VIEW view_history AS SELECT 1::bigint AS version, false AS dirty WHERE evil();
		CREATE TABLE rls_history (version bigint, dirty boolean);
		INSERT INTO rls_history VALUES (1, false);
		ALTER TABLE rls_history ENABLE ROW LEVEL SECURITY;
		CREATE POLICY p ON rls_history USING (evil());
		GRANT SELECT ON rls_history, view_history TO deployer;
		GRANT EXECUTE ON FUNCTION evil() TO deployer;});
	my $dir = make_dir('V1__a.sql' => "SELECT 1;\n");
	my $as_owner = $node->connstr('import');
	my $as_deployer = $as_owner . ' user=deployer';

	($rc, $out, $err) = pg_migrate('-d', $as_owner, 'import', '--from', 'flyway', $dir);
	is($rc, 1, 'import: a version with control characters is refused');
	like($err, qr/history has version "1\?\]0;owned\?\?\[2J" \(V1__a\.sql\?\?\[1A\)/,
		'its control characters are shown as ?');
	unlike($err, qr/[\x00-\x09\x0b-\x1f\x7f]/, 'no control character reaches the terminal');

	($rc, $out, $err) = pg_migrate('-d', $as_deployer, 'import', '--from',
		'golang-migrate', '--format', 'flyway', '--history-table', 'view_history', $dir);
	is($rc, 1, 'import: a view as the history is refused');
	like($err, qr/history table "view_history" is not a table/, 'the view is named');
	unlike($err, qr/EVIL/, 'the view ran nothing');

	($rc, $out, $err) = pg_migrate('-d', $as_deployer, 'import', '--from',
		'golang-migrate', '--format', 'flyway', '--history-table', 'rls_history', $dir);
	is($rc, 1, 'import: a history with a row-level security policy is refused');
	like($err, qr/row-level security policy/, 'the policy is named');
	unlike($err, qr/EVIL/, 'the policy ran nothing');
	is($node->safe_psql('import', 'SELECT count(*) FROM migrate.migration'),
		'0', 'nothing was registered');
}

# The client under valgrind: a memory error (an invalid read or write, a
# jump on an uninitialised value) exits 9.  Leaks are not errors: the
# process is short-lived.
SKIP:
{
	my $valgrind = `which valgrind 2>/dev/null`;
	chomp $valgrind;
	skip 'valgrind is not installed', 8 unless $valgrind;

	$node->safe_psql('postgres', 'CREATE DATABASE grind');
	$node->safe_psql('grind', 'CREATE EXTENSION migrate');
	my $conn = $node->connstr('grind');
	my $dir = make_dir(
		'V1__create.sql' => "CREATE TABLE g (id int, v text);\n",
		'U1__create.sql' => "DROP TABLE g;\n",
		'V2__index.sql' => "CREATE INDEX CONCURRENTLY g_v ON g (v);\n",
		'V2__index.sql.conf' => "executeInTransaction=false\n",
		'V3__ph.sql' => "COMMENT ON TABLE g IS \$c\$\${note}\$c\$;\n",
		'R__g_view.sql' => "CREATE OR REPLACE VIEW g_view AS SELECT id FROM g;\n");
	my @vg = ($valgrind, '-q', '--leak-check=no', '--error-exitcode=9',
		'pg_migrate', '-v', 'note=a $$ note');
	for my $case ([ [ 'script', $dir ], 0 ], [ [ '-d', $conn, 'plan', $dir ], 2 ],
		[ [ '-d', $conn, 'deploy', $dir ], 0 ], [ [ '-d', $conn, 'status' ], 0 ])
	{
		my ($args, $want) = @$case;
		my ($o, $e) = ('', '');
		IPC::Run::run([ @vg, @$args ], '<', \undef, '>', \$o, '2>', \$e);
		is($? >> 8, $want, "valgrind: @$args[-2,-1] exits $want") or diag $e;
		unlike($e, qr/==\d+==/, "valgrind: @$args[-2,-1] reports nothing");
	}
}

done_testing();
