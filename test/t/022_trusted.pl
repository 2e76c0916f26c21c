# migrate is not a trusted extension (doc/trusted.md): a role that may
# create objects in a database but is not a superuser cannot install it.
# And the superuser's install cannot be turned against the superuser by
# the owner of the schema it goes into: operators and functions planted in
# that schema beforehand, better matches than pg_catalog's for what the
# extension's views compute, are not the ones the views call.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('trusted');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE DATABASE app OWNER alice;
	CREATE DATABASE app10 OWNER alice;
});

is( $node->safe_psql('postgres',
		q{SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'migrate'}),
	'f', 'no version of migrate is marked trusted');

# the database's owner, with CREATE on it, cannot install migrate
my ($ret, $stdout, $stderr) = $node->psql('app',
	'CREATE EXTENSION migrate', extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'CREATE EXTENSION by a non-superuser fails');
like($stderr, qr/permission denied to create extension "migrate"/,
	'with permission denied');
($ret, $stdout, $stderr) = $node->psql('app',
	q{CREATE EXTENSION migrate VERSION '1.0'}, extra_params => [ '-U', 'alice' ]);
like($stderr, qr/permission denied to create extension "migrate"/,
	'so does installing the old version');

# The owner of public plants operators that match what the views compute
# better than pg_catalog's do (no cast needed).  Called as a superuser,
# each makes alice a superuser and says so in a table of hers.
my $plant = q{
	CREATE TABLE public.sprung (who name, what text);
	CREATE FUNCTION public.trap(what text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.sprung VALUES (current_user, what);
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE alice SUPERUSER';
		END IF;
	END $$;
	CREATE FUNCTION public.mul(numeric, bigint) RETURNS numeric LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('numeric * bigint'); RETURN $1 OPERATOR(pg_catalog.*) $2::numeric; END $$;
	CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = bigint, FUNCTION = public.mul);
	CREATE FUNCTION public.div(bigint, numeric) RETURNS numeric LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('bigint / numeric'); RETURN $1::numeric OPERATOR(pg_catalog./) $2; END $$;
	CREATE OPERATOR public./ (LEFTARG = bigint, RIGHTARG = numeric, FUNCTION = public.div);
	CREATE FUNCTION public.fdiv(float8, bigint) RETURNS float8 LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('float8 / bigint'); RETURN $1 OPERATOR(pg_catalog./) $2::float8; END $$;
	CREATE OPERATOR public./ (LEFTARG = float8, RIGHTARG = bigint, FUNCTION = public.fdiv);
	CREATE FUNCTION public.cat(text, bigint) RETURNS text LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('text || bigint'); RETURN $1 OPERATOR(pg_catalog.||) $2::text; END $$;
	CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = bigint, FUNCTION = public.cat);
	CREATE FUNCTION public.ge(numeric[], numeric[]) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('numeric[] >= numeric[]'); RETURN $1 OPERATOR(pg_catalog.>=) $2; END $$;
	CREATE OPERATOR public.>= (LEFTARG = numeric[], RIGHTARG = numeric[], FUNCTION = public.ge);
	CREATE FUNCTION public.le(numeric[], numeric[]) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.trap('numeric[] <= numeric[]'); RETURN $1 OPERATOR(pg_catalog.<=) $2; END $$;
	CREATE OPERATOR public.<= (LEFTARG = numeric[], RIGHTARG = numeric[], FUNCTION = public.le);
	-- they do match better: alice's own query picks them up
	SELECT 100.0 * 2::bigint;
};
$node->safe_psql($_, $plant, extra_params => [ '-U', 'alice' ]) for qw(app app10);
is($node->safe_psql('app', 'SELECT what FROM public.sprung'),
	'numeric * bigint', 'the planted operator is a better match than pg_catalog\'s');
$node->safe_psql($_, 'TRUNCATE public.sprung') for qw(app app10);

# the superuser installs 1.1, and 1.0 updated to 1.1; the script's own
# search_path does not outlive it
is( $node->safe_psql('app', 'CREATE EXTENSION migrate; SHOW search_path'),
	'"$user", public', 'CREATE EXTENSION leaves search_path as it was');
is( $node->safe_psql('app10',
		q{CREATE EXTENSION migrate VERSION '1.0'; ALTER EXTENSION migrate UPDATE; SHOW search_path}),
	'"$user", public', 'ALTER EXTENSION UPDATE leaves search_path as it was');

foreach my $db (qw(app app10))
{
	# nothing of the extension depends on what alice planted
	is( $node->safe_psql($db, q{
		SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
		  FROM pg_catalog.pg_depend d
		 WHERE d.classid <> 'pg_catalog.pg_operator'::pg_catalog.regclass
		   AND ((d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
		         AND d.refobjid IN (SELECT o.oid FROM pg_catalog.pg_operator o
		                             WHERE o.oprnamespace = 'public'::pg_catalog.regnamespace))
		     OR (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		         AND d.refobjid IN (SELECT p.oid FROM pg_catalog.pg_proc p
		                             WHERE p.pronamespace = 'public'::pg_catalog.regnamespace)))}),
		'', "$db: no view, default or constraint of migrate uses a planted operator");

	# every expression of the views runs: a job part done, a migration
	# covered by a run, a failure, a repeatable
	$node->safe_psql($db, q{
		INSERT INTO migrate.migration (version, version_key, name, up_sql, checksum)
		VALUES ('1', '{1}', 'one', 'SELECT 1', pg_catalog.repeat('a', 64)),
		       ('2', '{2}', 'two', 'SELECT 2', pg_catalog.repeat('b', 64));
		INSERT INTO migrate.event (version, action, detail, sqlstate)
		VALUES ('2', 'fail', 'boom', 'XX000');
		INSERT INTO migrate.repeatable (name, up_sql, checksum) VALUES ('r', 'SELECT 3', 'c');
		INSERT INTO migrate.job (kind, state, rows_done, rows_total, started_at, updated_at,
		                         run_as, version, target)
		VALUES ('backfill', 'queued', 5, 10, now() - interval '2 s', now(), 'alice', NULL, NULL),
		       ('upgrade', 'running', 1, 2, now() - interval '2 s', now(), 'alice', '1', '2');
	});
	my $views = $node->safe_psql($db, q{
		SELECT count(*) FROM migrate.progress WHERE percent = 50 AND rows_per_sec > 0 AND eta > '0';
		SELECT string_agg(version || ':' || coalesce(job, '-') || ':' || coalesce(last_error, '-'), ' ')
		  FROM migrate_status();
		SELECT state FROM migrate.repeatable_status;
	});
	is($views, "2\n1:interrupted (job 2):- 2:interrupted (job 2):XX000: boom\npending",
		"$db: the views compute as pg_catalog's operators do");
	is($node->safe_psql($db, q{SELECT string_agg(who || ': ' || what, ', ') FROM public.sprung}),
		'', "$db: no planted operator ran");
}
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'}),
	'f', 'alice is no superuser');

$node->stop;
done_testing();
