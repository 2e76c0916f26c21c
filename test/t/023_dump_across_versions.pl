# Moving to a new major version of PostgreSQL with pg_dump and restore: a
# history written on the old server (PostgreSQL 15) and restored into this
# one (17) keeps every migration, checksum, repeatable and event, the
# recorded fingerprint still matches the restored schema, and the next
# migrate_upgrade() applies only what is new.
#
# The old server is another installation, given by MIGRATE_OLD_INSTALL (the
# directory with its bin/ and lib/, migrate installed in it).  test/matrix.sh
# provides PostgreSQL 15 that way in the PostgreSQL 17 root; without it the
# test is skipped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

if (!$ENV{MIGRATE_OLD_INSTALL})
{
	plan skip_all => 'MIGRATE_OLD_INSTALL is not set (test/matrix.sh sets it on PostgreSQL 17)';
}

my $old = PostgreSQL::Test::Cluster->new('old',
	install_path => $ENV{MIGRATE_OLD_INSTALL});
$old->init;
$old->start;
my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->start;

my $old_major = $old->safe_psql('postgres', q{SELECT current_setting('server_version_num')::int / 10000});
my $new_major = $new->safe_psql('postgres', q{SELECT current_setting('server_version_num')::int / 10000});
note "old server: PostgreSQL $old_major, new server: PostgreSQL $new_major";
cmp_ok($old_major, '<', $new_major, 'the old installation is an older major version');

# The history on the old server: transactional migrations (one reverted and
# applied again, one irreversible, one with placeholders), a view and a
# function, a non-transactional migration run in the background, a
# repeatable, and an online migration expanded, backfilled and completed.
$old->safe_psql('postgres', 'CREATE DATABASE app');
$old->safe_psql('app', q{
	CREATE EXTENSION migrate;
	SELECT migrate_register('1', 'accounts',
		'CREATE TABLE ${schema}.accounts (id int PRIMARY KEY, email text NOT NULL, first text, last text)',
		'DROP TABLE ${schema}.accounts', true, '{"schema": "public"}');
	SELECT migrate_register('1.1', 'accounts.created',
		'ALTER TABLE accounts ADD COLUMN created date DEFAULT current_date',
		'ALTER TABLE accounts DROP COLUMN created');
	SELECT count(*) FROM migrate_upgrade();
});
$old->safe_psql('app', q{
	SELECT count(*) FROM migrate_downgrade('1');
	SELECT count(*) FROM migrate_upgrade();
	SELECT migrate_register('2', 'seed',
		$$INSERT INTO accounts (id, email, first, last)
		  SELECT g, 'u' || g || '@example.com', 'f' || g, 'l' || g FROM generate_series(1, 500) g$$);
	SELECT migrate_register('2.1', 'account lookups',
		$q$CREATE VIEW account_emails AS SELECT id, lower(email) AS email FROM accounts WHERE email LIKE '%@%';
		  CREATE FUNCTION account_count(since date) RETURNS bigint LANGUAGE plpgsql STABLE AS
		  $f$BEGIN RETURN (SELECT count(*) FROM accounts WHERE created >= since); END$f$$q$,
		'DROP VIEW account_emails; DROP FUNCTION account_count(date)');
	SELECT migrate_register('3', 'accounts.email index',
		'CREATE INDEX CONCURRENTLY accounts_email ON accounts (email)',
		'DROP INDEX CONCURRENTLY accounts_email', false);
	SELECT migrate_register_repeatable('account_names',
		'CREATE OR REPLACE VIEW ${schema}.account_names AS SELECT id, first FROM accounts',
		'{"schema": "public"}');
	SELECT count(*) FROM migrate_upgrade();
});
# CALL migrate_await(), not SELECT migrate_wait(): a wait that starts just
# as the index build takes its census of snapshots is one the build waits
# for, and migrate_wait() then stops with an error rather than wait forever
is($old->safe_psql('app', 'CALL migrate_await()'), 'done',
	'old server: the background run is done');
$old->safe_psql('app', q{
	SELECT migrate_register_online('4', 'accounts.full_name', '[
		{"add_column": {"table": "accounts",
		                "column": {"name": "full_name", "type": "text"},
		                "up": "first || '' '' || last"}}]');
	SELECT count(*) FROM migrate_upgrade();
});
is($old->safe_psql('app', q{SELECT migrate_wait('4')}), 'ready',
	'old server: the online migration is backfilled');
$old->safe_psql('app', q{SELECT migrate_complete('4')});

# what the history is on the old server, whole rows as text: every column
# (timestamps, durations, definitions, checksums) must come across as it was
my %queries = (
	migrations => q{SELECT string_agg(m::text, E'\n' ORDER BY version_key) FROM migrate.migration m},
	repeatables => q{SELECT string_agg(r::text, E'\n' ORDER BY name) FROM migrate.repeatable r},
	events => q{SELECT string_agg(e::text, E'\n' ORDER BY id) FROM migrate.event e},
	fingerprint => q{SELECT f::text FROM migrate.fingerprint f},
	'fingerprint objects' => q{SELECT string_agg(o::text, E'\n' ORDER BY o::text COLLATE "C") FROM migrate.fingerprint_object o},
	status => q{SELECT string_agg(s::text, E'\n' ORDER BY version) FROM migrate_status() s},
	current => q{SELECT migrate_current()},
	data => q{SELECT count(*) || ' ' || count(full_name) || ' ' || sum(length(full_name)) FROM accounts});
my %before;
$before{$_} = $old->safe_psql('app', $queries{$_}) for keys %queries;

is( $old->safe_psql('app',
		q{SELECT string_agg(version || ':' || state || ':' || kind, ' ' ORDER BY version_key) FROM migrate.migration}),
	'1:applied:sql 1.1:applied:sql 2:applied:sql 2.1:applied:sql 3:applied:sql 4:applied:online',
	'old server: every migration applied');
is( $old->safe_psql('app',
		q{SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM migrate.event}),
	'complete,downgrade,register,start,upgrade',
	'old server: the history has every kind of event');
is($old->safe_psql('app', 'SELECT count(*) FROM migrate_validate()'), '0',
	'old server: no drift before the dump');
is($before{current}, '4', 'old server: at version 4');
my $events = $old->safe_psql('app', q{SELECT count(*) || ' ' || max(id) FROM migrate.event});
my $last_event = (split / /, $events)[1];

# newer pg_dump against the older server is the supported way across versions
my $dump = "$PostgreSQL::Test::Utils::tmp_check/app_$old_major.dump";
$new->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('app') ],
	"pg_dump $new_major of the database on $old_major");
$old->stop;
$new->safe_psql('postgres', 'CREATE DATABASE app');
$new->command_ok([ 'pg_restore', '--exit-on-error', '-d', $new->connstr('app'), $dump ],
	"pg_restore into $new_major");

for my $what (sort keys %queries)
{
	is($new->safe_psql('app', $queries{$what}), $before{$what},
		"restored on $new_major: the same $what");
}

# The fingerprint: every table, column, constraint, index and function as
# recorded.  Views are the exception: PostgreSQL 16 and later print the
# columns of a view that reads one table without the table's name
# (pg_get_viewdef), so coming from 15 or older each such view differs in
# text only, and migrate_validate() says so until the next run records the
# fingerprint anew.
my @drift = split /\n/, $new->safe_psql('app',
	q{SELECT kind || ' ' || object FROM migrate_validate() ORDER BY object});
if ($old_major < 16 && $new_major >= 16)
{
	is( join(', ', @drift),
		'changed view public.account_emails, changed view public.account_names',
		'migrate_validate: only the views differ, as PostgreSQL 16 prints them');
	for my $view ('public.account_emails', 'public.account_names')
	{
		my $detail = $new->safe_psql('app',
			qq{SELECT detail FROM migrate_validate() WHERE object = 'view $view'});
		my ($was, $is) = $detail =~ /^was: (.*); is: (.*)$/s
		  or die "unexpected detail: $detail";
		(my $unqualified = $was) =~ s/\baccounts\.//g;
		is($unqualified, $is, "$view: the same definition without the table's name");
	}
}
else
{
	is(scalar(@drift), 0, 'migrate_validate: no drift');
}

# A deploy carries on: the old definitions registered again change nothing
# (their checksums, computed here, are the ones recorded there), a new
# migration passes migrate_verify and is the only one applied, the
# repeatable is not applied again while unchanged.
$new->safe_psql('app', q{
	SELECT migrate_register('1', 'accounts',
		'CREATE TABLE ${schema}.accounts (id int PRIMARY KEY, email text NOT NULL, first text, last text)',
		'DROP TABLE ${schema}.accounts', true, '{"schema": "public"}');
	SELECT migrate_register('1.1', 'accounts.created',
		'ALTER TABLE accounts ADD COLUMN created date DEFAULT current_date',
		'ALTER TABLE accounts DROP COLUMN created');
	SELECT migrate_register('3', 'accounts.email index',
		'CREATE INDEX CONCURRENTLY accounts_email ON accounts (email)',
		'DROP INDEX CONCURRENTLY accounts_email', false);
	SELECT migrate_register_repeatable('account_names',
		'CREATE OR REPLACE VIEW ${schema}.account_names AS SELECT id, first FROM accounts',
		'{"schema": "public"}');
	SELECT migrate_register_online('4', 'accounts.full_name', '[
		{"add_column": {"table": "accounts",
		                "column": {"name": "full_name", "type": "text"},
		                "up": "first || '' '' || last"}}]');
});
is($new->safe_psql('app', q{SELECT count(*) || ' ' || max(id) FROM migrate.event}),
	$events, 'the old definitions registered again: no-ops, no event');
is($new->safe_psql('app', $queries{migrations}), $before{migrations},
	'and the migrations unchanged');

$new->safe_psql('app', q{
	SELECT migrate_register('5', 'accounts.note',
		'ALTER TABLE accounts ADD COLUMN note text', 'ALTER TABLE accounts DROP COLUMN note');
});
is($new->safe_psql('app', q{SELECT migrate_verify('5')}), 't',
	'a new migration passes migrate_verify');
my ($ret, $stdout, $stderr) = $new->psql('app',
	q{SELECT string_agg(version || ':' || action, ' ') FROM migrate_upgrade()});
is($stdout, '5:applied', 'migrate_upgrade applies only the new migration');
my $drift_event = @drift ? ' -:drift' : '';
if (@drift)
{
	like($stderr, qr/WARNING:  the schema changed outside migrations since the last one ran \(2 objects\)/,
		'it warns of the views as drift before it records the fingerprint anew');
}
is( $new->safe_psql('app',
		qq{SELECT string_agg(coalesce(version, repeatable, '-') || ':' || action, ' ' ORDER BY id)
		     FROM migrate.event WHERE id > $last_event}),
	"5:register 5:verify$drift_event 5:upgrade", 'its events continue the restored sequence');
is($new->safe_psql('app', 'SELECT migrate_current()'), '5', 'now at version 5');
is($new->safe_psql('app', 'SELECT count(*) FROM migrate_validate()'), '0',
	'no drift after the upgrade');

# a changed repeatable is applied again, and only it
$new->safe_psql('app', q{
	SELECT migrate_register_repeatable('account_names',
		'CREATE OR REPLACE VIEW ${schema}.account_names AS SELECT id, first, last FROM accounts',
		'{"schema": "public"}');
});
is( $new->safe_psql('app',
		q{SELECT string_agg(coalesce(version, '-') || ':' || name || ':' || action, ' ') FROM migrate_upgrade()}),
	'-:account_names:applied', 'a changed repeatable is applied again, alone');

# migrate_status, and a new online migration from start to complete here
is( $new->safe_psql('app',
		q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version) FROM migrate_status()}),
	'1:applied 1.1:applied 2:applied 2.1:applied 3:applied 4:applied 5:applied',
	'migrate_status lists the restored and the new migrations');
$new->safe_psql('app', q{
	SELECT migrate_register_online('6', 'accounts.email_domain', '[
		{"add_column": {"table": "accounts",
		                "column": {"name": "email_domain", "type": "text"},
		                "up": "split_part(email, ''@'', 2)"}},
		{"create_index": {"table": "accounts", "name": "accounts_email_domain",
		                  "columns": ["email_domain"]}}]');
	SELECT count(*) FROM migrate_upgrade();
});
is($new->safe_psql('app', q{SELECT migrate_wait('6')}), 'ready',
	'a new online migration backfills');
$new->safe_psql('app', q{SELECT migrate_complete('6')});
is( $new->safe_psql('app',
		q{SELECT state || ' ' || (SELECT count(*) FROM accounts WHERE email_domain = 'example.com')
		    FROM migrate.migration WHERE version = '6'}),
	'applied 500', 'and completes, every row backfilled');
is($new->safe_psql('app', 'SELECT count(*) FROM migrate_validate()'), '0',
	'no drift at the end');

$new->stop;
done_testing();
