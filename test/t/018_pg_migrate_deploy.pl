# pg_migrate talking to a server, as a deploy role made with the README's
# grants: deploy of every example directory (twice: the second applies
# nothing), a failing migration (exit status, message, nothing applied),
# plan's exit statuses and locks, repeatables applied again only when they
# change, placeholders, a client killed while it waits for the background
# part (the next deploy sees it through), several targets with one
# failing, status, usage errors, --help against doc/pg_migrate.md, and
# more pending than --batch: deploy and script through migrate_deploy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use IPC::Run;
use lib "$FindBin::RealBin/../perl";
use PgMigrateTest;

my $top = "$FindBin::RealBin/../..";
my $examples = "$top/examples";

my $node = PostgreSQL::Test::Cluster->new('deploy');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16");
$node->start;

my $tmp = PostgreSQL::Test::Utils::tempdir;

sub applied
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version_key) FROM migrate.migration});
}

my ($rc, $out, $err);

# --help is what doc/pg_migrate.md shows
{
	my $doc = slurp_file("$top/doc/pg_migrate.md");
	my ($shown) = $doc =~ /^## `pg_migrate --help`\n\n```text\n(.*?)^```$/ms
	  or die 'no --help block in doc/pg_migrate.md';
	($rc, $out, $err) = pg_migrate('--help');
	is($rc, 0, '--help exits 0');
	is($out, $shown, '--help is exactly what doc/pg_migrate.md shows');
	my $readme = slurp_file("$top/README.md");
	my ($in_readme) = $readme =~ /`pg_migrate --help` says[^\n]*\n[^\n]*\n\n```text\n(.*?)^```$/ms
	  or die 'no --help block in README.md';
	is($out, $in_readme, '--help is exactly what README.md shows');
	for my $word (qw(deploy plan script import status new complete rollback
		--format --target --set --targets --jobs --no-wait --batch --quiet --from
		--history-table --online --no-transaction --version --help --dbname
		--host --port --username))
	{
		like($out, qr/\Q$word\E\b/, "--help names $word");
	}
}

# usage errors: 1, a message and the hint
for my $case (
	[ [], qr/no command given/ ],
	[ ['launch'], qr/unknown command "launch"/ ],
	[ ['deploy'], qr/missing argument/ ],
	[ [ 'status', 'extra' ], qr/too many arguments/ ],
	[ [ '-j', '0', 'deploy', '.' ], qr/invalid number of jobs/ ],
	[ [ '--batch', '0', 'deploy', '.' ], qr/invalid batch "0"/ ],
	[ [ '--batch', 'ten', 'script', '.' ], qr/invalid batch "ten"/ ],
	[ [ '--batch', '5', 'plan', '.' ], qr/--batch is an option of deploy and script only/ ],
	[ [ '--bogus', 'status' ], qr/unrecognized option/ ],
	[ [ '--targets', 'x', 'plan', '.' ], qr/--targets is an option of deploy only/ ],
	[ [ 'import', '.' ], qr/import needs --from/ ],
	[ [ '--from', 'liquibase', 'import', '.' ], qr/unknown tool "liquibase"/ ],
	[ [ '-v', 'novalue', 'script', '.' ], qr/NAME=VALUE expected/ ])
{
	my ($args, $re) = @$case;
	($rc, $out, $err) = pg_migrate(@$args);
	is($rc, 1, "usage error exits 1: @$args");
	like($err, $re, "usage error says what: @$args");
	like($err, qr/Try "pg_migrate --help" for more information/, "usage error hints at --help: @$args");
}

# every example directory deploys on a fresh database; again, nothing
for my $format (qw(dbmate golang-migrate flyway migrate))
{
	my $conn = fresh_db($node, $top, "ex_$format");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', "$examples/$format");
	if ($format eq 'migrate')
	{
		# its last migration is an online one: in flight until completed
		is($rc, 3, 'migrate example: stops at the online migration in flight (3)') or diag $err;
		like($err, qr/pg_migrate complete 0005/, 'and says how to go on');
		($rc, $out, $err) = pg_migrate('-d', $conn, 'complete', '0005');
		is($rc, 0, 'complete 0005 exits 0') or diag $err;
		($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', "$examples/$format");
		is($rc, 0, 'migrate example: the deploy after complete exits 0') or diag $err;
	}
	else
	{
		is($rc, 0, "$format example: deploy exits 0") or diag $err;
	}
	unlike(applied("ex_$format"), qr/:(?!applied)/, "$format example: every migration applied");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', "$examples/$format");
	is($rc, 0, "$format example: second deploy exits 0") or diag $err;
	like($out, qr/^nothing to apply$/m, "$format example: second deploy applies nothing");
}
is($node->safe_psql('ex_migrate', q{SELECT count(*) FROM open_tasks}), '0',
	'the repeatable view of the migrate example exists');

# a failing migration: 1, the server's message with its context, nothing applied
{
	my $conn = fresh_db($node, $top, 'failing');
	my $dir = make_dir(
		'1__t.sql' => "CREATE TABLE t (id int);\n",
		'2__boom.sql' => "INSERT INTO t VALUES (1);\nSELECT 1 / 0;\n",
		'3__later.sql' => "CREATE TABLE later (id int);\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 1, 'failing migration: exit status 1');
	like($err, qr/^ERROR:  division by zero$/m, 'the server message as psql shows it');
	like($err, qr/^CONTEXT:  .*?migration 2 "boom", up statement 2 of 2/ms, 'with its context');
	like($err, qr/nothing was applied/, 'says nothing was applied');
	is($node->safe_psql('failing', q{SELECT count(*) FROM migrate.migration}), '0',
		'nothing registered');
	is($node->safe_psql('failing', q{SELECT to_regclass('t') IS NULL}), 't',
		'nothing applied');
}

# more pending than --batch: CALL migrate_deploy, batch by batch, each
# committed, the background run waited for on the way, the repeatable last
{
	my $conn = fresh_db($node, $top, 'batched');
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '2', 'deploy', "$examples/flyway");
	is($rc, 0, 'batched: deploy exits 0') or diag $err;
	like($out, qr/^5 migrations pending: applying them 2 at a time, each batch committed$/m,
		'batched: says so');
	is( $out =~ s/^(?:5 migrations pending|database).*\n//mgr,
		qq{applied  1 "create users"
applied  2 "create projects"
applied  3 "create tasks"
applied  3.1 "index tasks due"
applied  4 "add users display name"
applied  repeatable "open tasks"
}, 'batched: what was applied, in order');
	unlike(applied('batched'), qr/:(?!applied)/, 'batched: every migration applied');
	is( $node->safe_psql('batched',
			q{SELECT count(DISTINCT xmin::text) FROM migrate.migration WHERE version IN ('1', '2')}),
		'1', 'batched: the first two in one transaction');
	isnt($node->safe_psql('batched', q{SELECT xmin::text FROM migrate.migration WHERE version = '1'}),
		$node->safe_psql('batched', q{SELECT xmin::text FROM migrate.migration WHERE version = '3'}),
		'batched: the third in another one');
	is($node->safe_psql('batched', q{SELECT string_agg(state, ',') FROM migrate.job}),
		'done', 'batched: the background run was waited for');
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '2', 'deploy', "$examples/flyway");
	is($rc, 0, 'batched: second deploy exits 0') or diag $err;
	like($out, qr/^nothing to apply$/m, 'batched: second deploy applies nothing');

	# up to --batch pending: one transaction, as before
	$conn = fresh_db($node, $top, 'unbatched');
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '5', 'deploy', "$examples/flyway");
	is($rc, 0, 'as many pending as --batch: deploy exits 0') or diag $err;
	unlike($out, qr/pending: applying/, 'in one transaction');
	like($out, qr/^queued   3\.1 "index tasks due" \(in the background\)$/m,
		'the non-transactional one queued by migrate_upgrade');

	# a failure: the batches before it stay applied, the next deploy goes on
	$conn = fresh_db($node, $top, 'batchfail');
	my $dir = make_dir(
		'1__a.sql' => "CREATE TABLE a (id int);\n",
		'2__b.sql' => "CREATE TABLE b (id int);\n",
		'3__c.sql' => "CREATE TABLE c (id int);\n",
		'4__boom.sql' => "SELECT 1 / 0;\n",
		'5__e.sql' => "CREATE TABLE e (id int);\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '2', 'deploy', $dir);
	is($rc, 1, 'batched failure: exit status 1');
	like($err, qr/^ERROR:  division by zero$/m, 'batched failure: the server message');
	like($err, qr/^CONTEXT:  .*?migration 4 "boom", up statement 1 of 1/ms, 'with its context');
	like($err, qr/the 2 migrations applied before the failure stay applied/,
		'batched failure: says what stays applied');
	like($out, qr/^applied  2 "b"$/m, 'batched failure: prints what was applied');
	is(applied('batchfail'), '1:applied 2:applied 3:pending 4:pending 5:pending',
		'batched failure: the first batch applied, the second rolled back');
	write_file("$dir/4__boom.sql", "SELECT 1;\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '2', 'deploy', $dir);
	is($rc, 0, 'batched failure fixed: the next deploy exits 0') or diag $err;
	like($out, qr/^3 migrations pending/m, 'it goes on from there');
	is(applied('batchfail'), '1:applied 2:applied 3:applied 4:applied 5:applied',
		'batched failure fixed: every migration applied');

	# an online migration: started, the deploy stops there (3), as ever
	$conn = fresh_db($node, $top, 'batchonline');
	($rc, $out, $err) = pg_migrate('-d', $conn, '--batch', '2', 'deploy', "$examples/migrate");
	is($rc, 3, 'batched: stops at the online migration in flight (3)') or diag $err;
	like($out, qr/^started  0005 "users_display_name" \(online\)$/m, 'batched: the online one started');
	like($err, qr/pg_migrate complete 0005/, 'batched: and says how to go on');

	# the script of a batched deploy, run by psql
	$conn = fresh_db($node, $top, 'batchscript');
	($rc, $out, $err) = pg_migrate('--batch', '2', 'script', "$examples/flyway");
	is($rc, 0, 'batched script exits 0') or diag $err;
	like($out, qr/^\\if :migrate_batched\nCOMMIT;\nCALL :"migrate_schema"\.migrate_deploy\(NULL, 2\);\n\\else\n/m,
		'the script calls migrate_deploy when more than 2 are pending');
	my $file = "$tmp/batched.sql";
	write_file($file, $out);
	my ($pout, $perr) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-d', $conn, '-f', $file ],
		'<', \undef, '>', \$pout, '2>', \$perr);
	is($? >> 8, 0, 'psql runs the batched script') or diag $perr;
	unlike(applied('batchscript'), qr/:(?!applied)/, 'the batched script applies every migration');
	is( $node->safe_psql('batchscript',
			q{SELECT count(DISTINCT xmin::text) FROM migrate.migration WHERE version IN ('1', '2', '3')}),
		'2', 'in batches');
	IPC::Run::run([ 'psql', '-X', '-d', $conn, '-f', $file ],
		'<', \undef, '>', \$pout, '2>', \$perr);
	is($? >> 8, 0, 'psql runs the batched script again') or diag $perr;
	like($pout, qr/\(0 rows\)/, 'which runs migrate_upgrade, applying nothing');
}

# plan: 2 while something is pending, with its locks; 0 after the deploy
{
	my $conn = fresh_db($node, $top, 'planned');
	$node->safe_psql('planned', q{CREATE TABLE items (id int); ALTER TABLE items OWNER TO deployer});
	my %files = (
		'1__add_sku.sql' => "ALTER TABLE items ADD COLUMN sku text;\n",
		'2__sku_index.sql' => "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY items_sku ON items (sku);\n");
	my $dir = make_dir(%files);
	($rc, $out, $err) = pg_migrate('-d', $conn, 'plan', $dir);
	is($rc, 2, 'plan: something pending exits 2') or diag $err;
	like($out, qr/^1 "add_sku" \(transaction\)$/m, 'plan names the migration and where it runs');
	like($out, qr/ACCESS EXCLUSIVE on public\.items/, 'plan shows the lock of ALTER TABLE');
	like($out, qr/^2 "sku_index" \(background\)$/m, 'the non-transactional one runs in the background');
	like($out, qr/SHARE UPDATE EXCLUSIVE on public\.items/, 'plan shows the lock of the index build');
	is(applied('planned'), '', 'plan changed nothing');

	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'deploy of the planned directory') or diag $err;
	($rc, $out, $err) = pg_migrate('-d', $conn, 'plan', $dir);
	is($rc, 0, 'plan: nothing pending exits 0') or diag $err;
	like($out, qr/^nothing to apply$/m, 'and says so');

	# an applied file edited, another one gone
	my $edited = make_dir('1__add_sku.sql' => "ALTER TABLE items ADD COLUMN sku varchar;\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'plan', $edited);
	is($rc, 2, 'plan: a changed applied migration exits 2') or diag $err;
	like($out, qr/^changed since applied: 1 /m, 'and names it');
	like($out, qr/^registered, without a file: 2 "sku_index"/m, 'a registered version without its file');
	is($node->safe_psql('planned', q{SELECT count(*) FROM migrate.event WHERE action = 'register'}),
		'2', 'plan registered nothing for good');
}

# repeatables: applied after the versioned ones, again only when changed
{
	my $conn = fresh_db($node, $top, 'repeat');
	my $dir = make_dir(
		'1__t.sql' => "CREATE TABLE t (id int, label text);\n",
		'R__v.sql' => "CREATE OR REPLACE VIEW v AS SELECT id FROM t;\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'repeatable: first deploy') or diag $err;
	like($out, qr/repeatable "v"/, 'the repeatable is applied');
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'repeatable: unchanged, second deploy');
	like($out, qr/^nothing to apply$/m, 'an unchanged repeatable is not applied again');
	write_file("$dir/R__v.sql", "CREATE OR REPLACE VIEW v AS SELECT id, label FROM t;\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, 'deploy', $dir);
	is($rc, 0, 'repeatable: changed, third deploy') or diag $err;
	like($out, qr/repeatable "v"/, 'a changed repeatable is applied again');
	is($node->safe_psql('repeat', q{SELECT count(*) FROM migrate.event WHERE repeatable = 'v' AND action = 'upgrade'}),
		'2', 'applied twice in all');
	is($node->safe_psql('repeat', q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'v'::regclass}),
		'id,label', 'the view is the new one');
}

# placeholders: -v, then the environment; a missing value sends nothing
{
	my $conn = fresh_db($node, $top, 'placed');
	my $dir = make_dir(
		'1__t.sql' => "CREATE TABLE \${table} (id int);\n",
		'2__grant.sql' => "COMMENT ON TABLE \${table} IS '\${note}';\n");
	($rc, $out, $err) = pg_migrate('-d', $conn, '-v', 'table=things', 'deploy', $dir);
	is($rc, 1, 'a placeholder without a value: exit status 1');
	like($err, qr/note/, 'the message names the placeholder');
	is($node->safe_psql('placed', q{SELECT count(*) FROM migrate.migration}), '0',
		'nothing was sent');
	{
		local $ENV{PG_MIGRATE_NOTE} = 'from the environment';
		($rc, $out, $err) = pg_migrate('-d', $conn, '-v', 'table=things', 'deploy', $dir);
	}
	is($rc, 0, 'placeholders from -v and the environment') or diag $err;
	is($node->safe_psql('placed', q{SELECT obj_description('things'::regclass)}),
		'from the environment', 'both values were used');
	($rc, $out, $err) = pg_migrate('-d', $conn, '-v', 'table=other', '-v', 'note=x', 'deploy', $dir);
	is($rc, 0, 'other values do not change the checksum (no MG001)') or diag $err;
	like($out, qr/^nothing to apply$/m, 'and apply nothing');
}

# the client killed while it waits: the next deploy sees the run through
{
	my $conn = fresh_db($node, $top, 'killed');
	$node->safe_psql('killed', q{CREATE TABLE gate (open boolean); GRANT SELECT ON gate TO deployer});
	my $dir = make_dir(
		'1__t.sql' => "CREATE TABLE t (id int);\n",
		'2__gated.sql' => "-- migrate:no-transaction\n"
		  . "DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;\n",
		'3__after.sql' => "CREATE TABLE after_gate (id int);\n");
	my ($out1, $err1) = ('', '');
	my $h = IPC::Run::start([ 'pg_migrate', '-d', $conn, 'deploy', $dir ],
		'<', \undef, '>', \$out1, '2>', \$err1,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	$h->pump until $out1 =~ /^queued   2 /m;
	$node->poll_query_until('killed', q{
		SELECT current_version = '2' AND state = 'running' FROM migrate.progress})
	  or die 'the worker never reached the gate';
	# the client is in its wait now: killed without a chance to clean up
	$h->signal('KILL');
	eval { $h->finish };
	my ($out2, $err2) = ('', '');
	my $h2 = IPC::Run::start([ 'pg_migrate', '-d', $conn, 'deploy', $dir ],
		'<', \undef, '>', \$out2, '2>', \$err2,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	$h2->pump until $out2 =~ /waiting for the background run of an earlier deploy/;
	$node->safe_psql('killed', q{INSERT INTO gate VALUES (true)});
	$h2->finish;
	is($h2->result(0), 0, 'the deploy after the kill exits 0') or diag $err2;
	is(applied('killed'), '1:applied 2:applied 3:applied', 'everything is applied');
	is($node->safe_psql('killed', q{SELECT count(*) FROM migrate.job WHERE kind = 'upgrade'}),
		'1', 'by the one background run');
}

# several targets, one failing: the ones after it are skipped
{
	my @conns = map { fresh_db($node, $top, "target$_") } 1 .. 3;
	$node->safe_psql('target2', q{CREATE TABLE t (clash int)});
	my $dir = make_dir('1__t.sql' => "CREATE TABLE t (id int);\n",
		'2__u.sql' => "CREATE TABLE u (id int);\n");
	my $file = "$tmp/targets";
	write_file($file, "# the fleet\n" . join("\n", @conns) . "\n\n");
	($rc, $out, $err) = pg_migrate('--targets', $file, '-j', '1', 'deploy', $dir);
	is($rc, 1, 'targets: one failed, exit status 1');
	like($out, qr/^\[2\] ERROR:  relation "t" already exists$/m, 'the failure, prefixed with its target');
	my @summary = grep { /  (ok|failed|skipped)$/ } split /\n/, $out;
	is(scalar(@summary), 3, 'one summary line per target');
	like($summary[0], qr/dbname='target1'.*  none -> 2  ok$/, 'first target: none -> 2 ok');
	like($summary[1], qr/dbname='target2'.*  none -> none  failed$/, 'second target failed');
	like($summary[2], qr/dbname='target3'.*  \? -> \?  skipped$/, 'third target skipped');
	is(applied('target3'), '', 'nothing sent to the skipped target');

	$node->safe_psql('target2', q{DROP TABLE t});
	($rc, $out, $err) = pg_migrate('--targets', $file, '--jobs', '3', 'deploy', $dir);
	is($rc, 0, 'targets: all ok, exit status 0') or diag $out;
	like($out, qr/dbname='target1'.*  2 -> 2  ok$/m, 'first target: already there');
	like($out, qr/dbname='target3'.*  none -> 2  ok$/m, 'third target deployed');
}

# the extension in another schema, and functions of its names planted on the
# deploy role's search_path: pg_migrate calls the extension's own
{
	my $sql = readme_grants($top) =~ s/CREATE ROLE deployer LOGIN;//r;
	$node->safe_psql('postgres', q{CREATE DATABASE elsewhere});
	$node->safe_psql('elsewhere', qq{CREATE SCHEMA tools;
		CREATE EXTENSION migrate SCHEMA tools;
		SET search_path = tools, public;
		$sql
		GRANT USAGE ON SCHEMA tools TO deployer;
		GRANT CREATE ON SCHEMA public TO deployer;
		CREATE FUNCTION public.migrate_upgrade(text)
		  RETURNS TABLE(version text, name text, action text)
		  LANGUAGE sql AS \$\$ SELECT 'planted', 'planted', 'applied' \$\$;
		CREATE FUNCTION public.migrate_current() RETURNS text
		  LANGUAGE sql AS \$\$ SELECT 'planted' \$\$;});
	my $dir = make_dir('1__t.sql' => "CREATE TABLE t (id int);\n");
	($rc, $out, $err) = pg_migrate('-d', $node->connstr('elsewhere') . ' user=deployer', 'deploy', $dir);
	is($rc, 0, 'extension in schema tools: deploy exits 0') or diag $err;
	unlike($out, qr/planted/, 'no planted function was called');
	is(applied('elsewhere'), '1:applied', 'the extension\'s upgrade applied it');
}

# status
{
	($rc, $out, $err) = pg_migrate('-d', $node->connstr('killed') . ' user=deployer', 'status');
	is($rc, 0, 'status exits 0') or diag $err;
	like($out, qr/^database "killed" is at version 3$/m, 'status says the version');
	like($out, qr/^2\s+gated\s+sql\s+applied\s/m, 'status lists the migrations');
}

$node->stop;
done_testing();
