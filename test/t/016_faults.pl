# The fault suite: kill the worker of each kind of background job (a run of
# migrations up and down, a backfill, an online migration's job) at each step
# -- queued, just started, in the middle of a statement or batch, between two
# migrations or in the pause between two batches, while it records its
# result, in a concurrent index build -- with SIGKILL (the postmaster
# reinitializes) and SIGTERM (a clean interruption), on a server that
# preloads migrate (the launcher resumes the job) and on one that does not
# (the job shows as interrupted, migrate_resume() continues it); and kill the
# deployer's backend: while its call (migrate_upgrade, migrate_downgrade,
# migrate_backfill, migrate_complete, migrate_rollback) waits for a lock,
# after the call returned but before its transaction commits, and in
# migrate_wait() while the background run of its non-transactional migration
# goes on.  After each fault: the server is up and restarts no process in a
# loop, the catalog tells the truth (states, the job, the events, the schema,
# rows updated exactly once, the deploy lock free), and the same call again
# finishes the work.
#
# Every scenario has a database of its own.  Migrations and set clauses wait
# at gates (rows of table gate) and the test holds locks to stop a job at a
# given step; it never sleeps blindly.  FAULT_ONLY=regex runs only the
# scenarios whose name matches; FAULT_ALL=1 adds the SIGTERM and deployer
# kills on the cluster without preloading (the same code paths as with it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $only = $ENV{FAULT_ONLY};
# a scenario that gets stuck fails in seconds, not minutes
$PostgreSQL::Test::Utils::timeout_default = 30;
my $dbno = 0;

# SQL common to every scenario's database
my $common = q{
	CREATE EXTENSION migrate;
	CREATE TABLE gate (name text PRIMARY KEY);
	-- returns 0, once gate g is open (at once when not cond)
	CREATE FUNCTION wait_gate(g text, cond boolean) RETURNS int
	LANGUAGE plpgsql AS $$
	BEGIN
		WHILE cond AND NOT EXISTS (SELECT FROM public.gate WHERE name = g) LOOP
			PERFORM pg_sleep(0.02);
		END LOOP;
		RETURN 0;
	END $$;
	-- a job that holds the only worker slot until gate blk opens
	CREATE TABLE blk (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
	INSERT INTO blk SELECT g, 0 FROM generate_series(1, 10) g;
	-- the events before it are the setup's
	CREATE TABLE ev_base (id bigint);
	INSERT INTO ev_base SELECT coalesce(max(id), 0) FROM migrate.event;
};

# A psql session fed through its stdin: holds locks between two calls.
sub holder
{
	my ($node, $db, $sql) = @_;
	my $s = { in => "$sql\n", out => '', err => '' };
	$s->{h} = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq',
			'-d', $node->connstr($db) . ' application_name=fault_holder'
		],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err});
	$s->{h}->pump while length $s->{in};
	$node->poll_query_until($db, q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE application_name = 'fault_holder' AND state = 'idle in transaction'})
	  or die "the holder never held its locks: $s->{err}";
	return $s;
}

sub release
{
	my ($s) = @_;
	return unless $s;
	$s->{in} .= "COMMIT;\n\\q\n";
	eval {
		$s->{h}->pump while length $s->{in};
		$s->{h}->finish;
	};
	eval { $s->{h}->kill_kill } if $@;
}

# A deployer's call, in the background.
sub deployer
{
	my ($node, $db, $sql) = @_;
	my $s = { out => '', err => '' };
	$s->{h} = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr($db) . ' application_name=fault_deployer',
			'-c', $sql
		],
		'<', \undef, '>', \$s->{out}, '2>', \$s->{err});
	return $s;
}

# Wait until the job's worker (or the deployer) waits as given; its pid,
# read in the same query (a worker that pauses may have moved on by the
# time a second query looks).
sub wait_for_backend
{
	my ($node, $db, $who, $cond, $what) = @_;
	my $filter = $who eq 'deployer'
	  ? q{application_name = 'fault_deployer'}
	  : q{backend_type = 'migrate worker' AND query NOT LIKE '%blk%'};
	my $pid = poll_value($node, $db, qq{
		SELECT pid FROM pg_stat_activity
		 WHERE datname = current_database() AND $filter AND ($cond)});
	die "the $who never got to $what" unless defined $pid;
	return $pid;
}

# Poll until the query returns a row (its first column), or undef.
sub poll_value
{
	my ($node, $db, $sql) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $v = $node->safe_psql($db, $sql);
		return $v if $v ne '';
		select(undef, undef, undef, 0.05);
	}
	return undef;
}

my $at_gate = q{wait_event = 'PgSleep'};
my $at_lock = q{wait_event_type = 'Lock'};

# migrate_wait(), again when an index build took the census as it started
sub wait_all
{
	my ($node, $db, $version) = @_;
	my $arg = defined $version ? "'$version'" : '';
	my ($ret, $out, $err);
	for (1 .. 5)
	{
		($ret, $out, $err) = $node->psql($db, "SELECT migrate_wait($arg)");
		# 40P01, "background job N is waiting for this transaction to end"
		last unless $err =~ /waiting for this transaction/;
	}
	return "$out$err";
}

my $events = q{(SELECT coalesce(string_agg(action || coalesce(':' || version, ''), ' ' ORDER BY id), '-')
                  FROM migrate.event WHERE action NOT IN ('register', 'resume') AND id > (SELECT id FROM ev_base))};
my $jobs = q{(SELECT coalesce(string_agg(p.kind || ':' || p.state || ':' || p.rows_done, ' ' ORDER BY p.id), '-')
                FROM migrate.progress p WHERE p.kind <> 'backfill' OR p.relation <> 'blk'::regclass)};

# ---------------------------------------------------------------------------
# The kinds of job.  Each: setup (registers, fills tables), call (the
# deployer's statement that queues the job), table (locked SHARE to stop the
# job at its first statement, or undef: then the gate condition is on the
# first row), gate, truth (a query: what the catalog and the schema say),
# at{step} (the truth right after the fault, before anything resumes), final.
# ---------------------------------------------------------------------------

my $run_truth = qq{
	SELECT (SELECT string_agg(version || '=' || state, ' ' ORDER BY version_key) FROM migrate.migration)
	    || ' | ' || (SELECT string_agg(k || '=' || n, ' ' ORDER BY k) FROM cnt WHERE n <> 0)
	    || ' | index ' || coalesce((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END
	                                  FROM pg_index WHERE indexrelid = to_regclass('public.t_x')), 'none')
	    || ' | ' || $jobs || ' | ' || $events};

my $run_setup = q{
	CREATE TABLE t (id int PRIMARY KEY, x int);
	INSERT INTO t SELECT g, g FROM generate_series(1, 100) g;
	CREATE TABLE cnt (k text PRIMARY KEY, n int NOT NULL);
	INSERT INTO cnt VALUES ('u1', 0), ('u2', 0), ('u3', 0), ('u4', 0),
	                       ('d1', 0), ('d2', 0), ('d3', 0), ('d4', 0), ('-', 1);
	SELECT migrate_register('1', 'transactional first',
		'UPDATE cnt SET n = n + 1 WHERE k = ''u1''', 'UPDATE cnt SET n = n + 1 WHERE k = ''d1''');
	SELECT migrate_register('2', 'index', $m$
		CREATE INDEX CONCURRENTLY t_x ON t (x);
		SELECT wait_gate('up', true);
		UPDATE cnt SET n = n + 1 WHERE k = 'u2';
	$m$, $m$
		DROP INDEX CONCURRENTLY t_x;
		UPDATE cnt SET n = n + 1 WHERE k = 'd2';
	$m$, transactional => false);
	SELECT migrate_register('3', 'transactional',
		'UPDATE cnt SET n = n + 1 WHERE k = ''u3''', 'UPDATE cnt SET n = n + 1 WHERE k = ''d3''');
	SELECT migrate_register('4', 'vacuum', $m$
		VACUUM t;
		UPDATE cnt SET n = n + 1 WHERE k = 'u4';
	$m$, $m$
		VACUUM t;
		SELECT wait_gate('down', true);
		UPDATE cnt SET n = n + 1 WHERE k = 'd4';
	$m$, transactional => false);
};

my %kinds = (
	upgrade => {
		setup => sub { $run_setup },
		call => q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_upgrade()},
		table => 't',
		gate => 'up',
		truth => $run_truth,
		between => '3',
		at => {
			queued => '1=applied 2=pending 3=pending 4=pending | -=1 u1=1 | index none | upgrade:queued:0 | upgrade:1',
			start => '1=applied 2=pending 3=pending 4=pending | -=1 u1=1 | index none | upgrade:interrupted:0 | upgrade:1',
			mid => '1=applied 2=pending 3=pending 4=pending | -=1 u1=1 | index valid | upgrade:interrupted:0 | upgrade:1',
			between => '1=applied 2=applied 3=pending 4=pending | -=1 u1=1 u2=1 | index valid | upgrade:interrupted:1 | upgrade:1 upgrade:2',
			record => '1=applied 2=pending 3=pending 4=pending | -=1 u1=1 u2=1 | index valid | upgrade:interrupted:0 | upgrade:1',
		},
		final => '1=applied 2=applied 3=applied 4=applied | -=1 u1=1 u2=1 u3=1 u4=1 | index valid | - | upgrade:1 upgrade:2 upgrade:3 upgrade:4',
	},
	downgrade => {
		setup => sub {
			my ($node, $db) = @_;
			$node->safe_psql($db, $run_setup . q{
				INSERT INTO gate VALUES ('up');
				SELECT count(*) FROM migrate_upgrade();
			});
			my $w = wait_all($node, $db);
			die "upgrade before the downgrade: $w" unless $w eq 'done';
			$node->safe_psql($db, q{DELETE FROM gate; UPDATE ev_base SET id = (SELECT max(id) FROM migrate.event); UPDATE cnt SET n = 0 WHERE k <> '-'});
			return '';
		},
		call => q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_downgrade('0')},
		table => 't',
		gate => 'down',
		truth => $run_truth,
		between => '3',
		at => {
			queued => '1=applied 2=applied 3=applied 4=applied | -=1 | index valid | downgrade:queued:0 | -',
			start => '1=applied 2=applied 3=applied 4=applied | -=1 | index valid | downgrade:interrupted:0 | -',
			mid => '1=applied 2=applied 3=applied 4=applied | -=1 | index valid | downgrade:interrupted:0 | -',
			between => '1=applied 2=applied 3=applied 4=pending | -=1 d4=1 | index valid | downgrade:interrupted:1 | downgrade:4',
			record => '1=applied 2=applied 3=applied 4=applied | -=1 d4=1 | index valid | downgrade:interrupted:0 | -',
		},
		final => '1=pending 2=pending 3=pending 4=pending | -=1 d1=1 d2=1 d3=1 d4=1 | index none | - | downgrade:4 downgrade:3 downgrade:2 downgrade:1',
	},
	backfill => {
		setup => sub { q{
			CREATE TABLE b (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
			INSERT INTO b SELECT g, 0 FROM generate_series(1, 300) g;
			ANALYZE b;
		} },
		call => q{SET migrate.lock_timeout = 0; SET migrate.batch_target = '10s';
			SELECT migrate_backfill('b', 'n = n + 1 + wait_gate(''bf'', id = %GATE%)', batch_size => 50)},
		gate => 'bf',
		truth => qq{
			SELECT (SELECT string_agg(n || ':' || c, ' ' ORDER BY n) FROM (SELECT n, count(*) c FROM b GROUP BY n) s)
			    || ' | ' || $jobs || ' | ' || $events},
		at => {
			queued => '0:300 | backfill:queued:0 | -',
			start => '0:300 | backfill:interrupted:0 | -',
			mid => '0:250 1:50 | backfill:interrupted:50 | -',
			between => '0:250 1:50 | backfill:interrupted:50 | -',
			record => '0:250 1:50 | backfill:interrupted:50 | -',
		},
		# batches commit asynchronously: SIGKILL's crash restart may lose
		# the last ones, each with the position it recorded
		lost => { map { $_ => '0:300 | backfill:interrupted:0 | -' } qw(mid between record) },
		final => '1:300 | - | -',
	},
	online => {
		setup => sub { q{
			CREATE TABLE o (id int PRIMARY KEY, a int NOT NULL, u int NOT NULL DEFAULT 0);
			INSERT INTO o SELECT g, g FROM generate_series(1, 300) g;
			ANALYZE o;
			-- how often each row was updated
			CREATE FUNCTION o_count() RETURNS trigger LANGUAGE plpgsql
			AS $$ BEGIN NEW.u := OLD.u + 1; RETURN NEW; END $$;
			CREATE TRIGGER o_count BEFORE UPDATE ON o FOR EACH ROW EXECUTE FUNCTION o_count();
			SELECT migrate_register_online('1', 'o.b', '[
				{"add_column": {"table": "o", "column": {"name": "b", "type": "int", "nullable": false},
				                "up": "a + public.wait_gate(''on'', id = %GATE%)"}},
				{"create_index": {"table": "o", "name": "o_b", "columns": ["b"]}}]');
		} },
		call => q{SET migrate.lock_timeout = 0; SET migrate.batch_target = '10s'; SET migrate.batch_size = 50;
			SELECT count(*) FROM migrate_upgrade()},
		gate => 'on',
		truth => qq{
			SELECT (SELECT version || '=' || state FROM migrate.migration)
			    || ' | ' || (SELECT string_agg(u || ':' || c, ' ' ORDER BY u) FROM (SELECT u, count(*) c FROM o GROUP BY u) s)
			    || ' | index ' || coalesce((SELECT string_agg(c.relname || CASE WHEN indisvalid THEN ' valid' ELSE ' invalid' END, ', ')
			                                  FROM pg_index JOIN pg_class c ON c.oid = indexrelid
			                                 WHERE indrelid = 'o'::regclass AND NOT indisprimary), 'none')
			    || ' | ' || $jobs || ' | ' || $events},
		at => {
			queued => '1=active | 0:300 | index none | online:queued:0 | start:1',
			start => '1=active | 0:300 | index none | online:interrupted:0 | start:1',
			mid => '1=active | 0:250 1:50 | index none | online:interrupted:50 | start:1',
			between => '1=active | 0:250 1:50 | index none | online:interrupted:50 | start:1',
			record => '1=active | 0:250 1:50 | index none | online:interrupted:50 | start:1',
			index => '1=active | 1:300 | index o_b invalid | online:interrupted:300 | start:1',
		},
		# an index build killed in a wait for old snapshots that comes before
		# its catalog entry commits leaves no index
		lost => {
			(map { $_ => '1=active | 0:300 | index none | online:interrupted:0 | start:1' } qw(mid between record)),
			# ... or, the batches committing asynchronously, one that comes
			# before the last of them reached the disk (seen on 17 and 18)
			index => [ '1=active | 1:300 | index none | online:interrupted:300 | start:1',
				'1=active | 0:300 | index none | online:interrupted:0 | start:1' ],
		},
		final => '1=applied | 1:300 | index o_b valid | - | start:1 complete:1',
	},
);

# ---------------------------------------------------------------------------

my %templates;

# A database for a scenario, a copy of one set up once per cluster (a
# template: the launcher's resumers do not visit it).  Dropped at the end
# of the scenario, so that a crash restart has few databases to resume.
sub new_db
{
	my ($node) = @_;
	my $db = 'fault' . ++$dbno;
	my $template = $node->name . '_template';
	unless ($templates{$template}++)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $template");
		$node->safe_psql($template, $common);
		$node->safe_psql('postgres', "ALTER DATABASE $template IS_TEMPLATE true");
	}
	$node->safe_psql('postgres', "CREATE DATABASE $db TEMPLATE $template");
	return $db;
}

sub log_count
{
	my ($node, $offset, $re) = @_;
	my $log = slurp_file($node->logfile);
	my $tail = substr($log, $offset);
	my $n = () = $tail =~ /$re/g;
	return $n;
}

# No migrate worker left running in $db, and none restarted meanwhile.
sub settled
{
	my ($node, $db, $offset, $crashes, $killed, $name) = @_;
	ok( $node->poll_query_until($db, q{
			SELECT count(*) = 0 FROM pg_stat_activity
			 WHERE datname = current_database() AND backend_type = 'migrate worker'}),
		"$name: no worker left");
	is(log_count($node, $offset, qr/all server processes terminated; reinitializing/),
		$crashes, "$name: $crashes crash restart(s), no loop");
	is(log_count($node, $offset, qr/terminated by signal|exited with exit code [1-9]/),
		$killed, "$name: no process died but the one killed");
}

# Kill a job's worker at $step of $kind, $how (KILL or TERM).
sub worker_scenario
{
	my ($node, $preload, $kind, $step, $how) = @_;
	my $name = $node->name . " $kind $step $how";
	return if defined $only && $name !~ /$only/;
	my $k = $kinds{$kind};
	my $db = new_db($node);

	# where the gate stops the job: the first row, a row of the second batch
	my $gate_row = $step eq 'start' ? 1 : $step =~ /^(mid|record)$/ ? 150 : 0;
	my $setup = $k->{setup}->($node, $db);
	$setup =~ s/%GATE%/$gate_row/g;
	$node->safe_psql($db, $setup) if $setup ne '';
	(my $call = $k->{call}) =~ s/%GATE%/$gate_row/g;
	# a long pause after each batch, from the server's configuration: the
	# test puts it back once the worker is killed, and the job (which did not
	# set it) follows the reload
	my $pause = $step eq 'between' && !$k->{between};
	$node->safe_psql($db, q{LOAD 'migrate'; ALTER SYSTEM SET migrate.batch_delay = '20s'; SELECT pg_reload_conf()})
	  if $pause;

	my $offset = -s $node->logfile;
	my ($hold, $pid);
	if ($step eq 'queued')
	{
		$node->safe_psql($db, q{SELECT migrate_backfill('blk', 'n = n + 1 + wait_gate(''blk'', true)')});
		$pid = poll_value($node, $db, q{
			SELECT pid FROM pg_stat_activity
			 WHERE backend_type = 'migrate worker' AND query LIKE '%blk%' AND wait_event = 'PgSleep'})
		  or die "$name: the blocker never started";
	}
	$hold = holder($node, $db, "BEGIN; LOCK $k->{table} IN SHARE MODE;")
	  if $step eq 'start' && $k->{table};
	$hold = holder($node, $db, 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM gate;')
	  if $step eq 'index';
	$node->safe_psql($db, $call);

	if ($step eq 'queued')
	{
		# over migrate.max_workers, no worker is started for the job: the
		# fault hits the job that holds the slot
		$node->poll_query_until($db, q{SELECT state = 'queued' FROM migrate.job WHERE id = (SELECT max(id) FROM migrate.job)})
		  or die "$name: the job is not queued";
	}
	elsif ($step eq 'start')
	{
		$pid = wait_for_backend($node, $db, 'worker', $k->{table} ? $at_lock : $at_gate, 'its start');
	}
	elsif ($step eq 'mid')
	{
		$pid = wait_for_backend($node, $db, 'worker', $at_gate, 'the gate');
	}
	elsif ($step eq 'between' && $k->{between})
	{
		wait_for_backend($node, $db, 'worker', $at_gate, 'the gate');
		$hold = holder($node, $db,
			"BEGIN; SELECT FROM migrate.migration WHERE version = '$k->{between}' FOR UPDATE;");
		$node->safe_psql($db, "INSERT INTO gate VALUES ('$k->{gate}')");
		$pid = wait_for_backend($node, $db, 'worker', $at_lock, 'the next migration');
	}
	elsif ($step eq 'between')
	{
		$pid = wait_for_backend($node, $db, 'worker', q{wait_event = 'Extension'}
			  . q{ AND (SELECT rows_done FROM migrate.job WHERE kind <> 'backfill' OR relation <> 'blk'::regclass) = 50},
			'the pause after its first batch');
	}
	elsif ($step eq 'record' && $k->{between})
	{
		wait_for_backend($node, $db, 'worker', $at_gate, 'the gate');
		$hold = holder($node, $db, 'BEGIN; LOCK migrate.event IN EXCLUSIVE MODE;');
		$node->safe_psql($db, "INSERT INTO gate VALUES ('$k->{gate}')");
		$pid = wait_for_backend($node, $db, 'worker', $at_lock, 'its event');
	}
	elsif ($step eq 'record')
	{
		wait_for_backend($node, $db, 'worker', $at_gate, 'the gate');
		$hold = holder($node, $db, q{BEGIN; SELECT FROM migrate.job WHERE kind <> 'backfill' OR relation <> 'blk'::regclass FOR UPDATE;});
		$node->safe_psql($db, "INSERT INTO gate VALUES ('$k->{gate}')");
		$pid = wait_for_backend($node, $db, 'worker', $at_lock, 'its position');
	}
	elsif ($step eq 'index')
	{
		# the build itself (an online migration's backfill waits for old
		# snapshots too, before it)
		$pid = wait_for_backend($node, $db, 'worker',
			q{wait_event = 'virtualxid' AND query ILIKE '%create index%'}, 'its index build');
	}

	# the fault
	if ($how eq 'KILL')
	{
		kill 'KILL', $pid;
		$node->poll_query_until($db, qq{SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)})
		  or die "$name: no restart";
	}
	else
	{
		$node->safe_psql($db, "SELECT pg_terminate_backend($pid)");
		$node->poll_query_until($db, qq{SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)})
		  or die "$name: the worker did not exit";
	}
	$node->safe_psql($db, q{LOAD 'migrate'; ALTER SYSTEM RESET migrate.batch_delay; SELECT pg_reload_conf()})
	  if $pause;
	release($hold);

	if ($preload && $how eq 'KILL')
	{
		ok($node->poll_query_until($db, q{SELECT count(*) >= 1 FROM migrate.event WHERE action = 'resume'}),
			"$name: the launcher resumed the job");
	}
	else
	{
		my @truths = ($k->{at}{$step});
		my $lost = $how eq 'KILL' ? $k->{lost}{$step} : undef;
		push @truths, ref $lost ? @$lost : $lost if $lost;
		my $re = join('|', map { quotemeta } @truths);
		like($node->safe_psql($db, $k->{truth}), qr/^(?:$re)$/,
			"$name: the catalog tells the truth");
	}

	# the next call proceeds
	$node->safe_psql($db, q{INSERT INTO gate VALUES ('blk'), ('up'), ('down'), ('bf'), ('on') ON CONFLICT DO NOTHING}
		  . ($preload && $how eq 'KILL' ? '' : '; SELECT migrate_resume()'));
	if ($kind eq 'online')
	{
		is(wait_all($node, $db, '1'), 'ready', "$name: the job finishes");
		$node->safe_psql($db, 'SELECT migrate_complete()');
	}
	else
	{
		is(wait_all($node, $db), 'done', "$name: the job finishes");
	}
	is($node->safe_psql($db, $k->{truth}), $k->{final}, "$name: and leaves the final state");
	settled($node, $db, $offset, $how eq 'KILL' ? 1 : 0, 1, $name);
	$node->safe_psql('postgres', "DROP DATABASE $db");
}

# Kill the deployer's backend: while its call waits for a lock the test
# holds (lock), or, for the calls marked uncommitted, after the call returned,
# in the same transaction, before it commits; or in migrate_wait() while the
# background run of its non-transactional migration goes on (wait).  at: the
# truth right after (nothing of the killed transaction), then the same call
# again (repeat) finishes the work.
my $uncommitted = q{BEGIN; %s; LOCK blk IN EXCLUSIVE MODE; COMMIT;};
my %deployer_faults = (
	'upgrade' => {
		kind => 'upgrade',
		lock => 'LOCK cnt IN EXCLUSIVE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_upgrade()},
		at => '1=pending 2=pending 3=pending 4=pending | -=1 | index none | - | -',
		repeat => q{SELECT count(*) FROM migrate_upgrade()},
	},
	'upgrade uncommitted' => {
		kind => 'upgrade',
		lock => 'LOCK blk IN SHARE MODE',
		call => sprintf($uncommitted, q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_upgrade()}),
		said => qr/migrations 2 to 4 are applied by background job \d+ once this transaction commits/,
		at => '1=pending 2=pending 3=pending 4=pending | -=1 | index none | - | -',
		repeat => q{SELECT count(*) FROM migrate_upgrade()},
	},
	'upgrade wait' => {
		kind => 'upgrade',
		wait => 1,
		call => q{SELECT migrate_wait()},
		at => '1=applied 2=pending 3=pending 4=pending | -=1 u1=1 | index valid | upgrade:running:0 | upgrade:1',
	},
	'downgrade' => {
		kind => 'downgrade',
		lock => 'LOCK migrate.job IN EXCLUSIVE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_downgrade('0')},
		at => '1=applied 2=applied 3=applied 4=applied | -=1 | index valid | - | -',
		repeat => q{SELECT count(*) FROM migrate_downgrade('0')},
	},
	'backfill' => {
		kind => 'backfill',
		lock => 'LOCK b IN SHARE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT migrate_backfill('b', 'n = n + 1', batch_size => 50)},
		at => '0:300 | - | -',
		repeat => q{SELECT migrate_backfill('b', 'n = n + 1', batch_size => 50)},
	},
	'backfill uncommitted' => {
		kind => 'backfill',
		lock => 'LOCK blk IN SHARE MODE',
		call => sprintf($uncommitted, q{SET migrate.lock_timeout = 0; SELECT migrate_backfill('b', 'n = n + 1', batch_size => 50)}),
		said => qr/^\d+$/m,
		at => '0:300 | - | -',
		repeat => q{SELECT migrate_backfill('b', 'n = n + 1', batch_size => 50)},
	},
	'online start' => {
		kind => 'online',
		lock => 'LOCK o IN SHARE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT count(*) FROM migrate_upgrade()},
		at => '1=pending | 0:300 | index none | - | -',
		repeat => q{SELECT count(*) FROM migrate_upgrade()},
		shape => 'id a u',
	},
	'online complete' => {
		kind => 'online',
		ready => 1,
		lock => 'LOCK o IN ACCESS SHARE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT migrate_complete()},
		at => '1=ready | 1:300 | index o_b valid | - | start:1',
		repeat => q{SELECT migrate_complete()},
		shape => 'id a u _migrate_new_b _migrate_pending',
	},
	'online rollback' => {
		kind => 'online',
		ready => 1,
		lock => 'LOCK o IN ACCESS SHARE MODE',
		call => q{SET migrate.lock_timeout = 0; SELECT migrate_rollback()},
		at => '1=ready | 1:300 | index o_b valid | - | start:1',
		repeat => q{SELECT migrate_rollback()},
		shape => 'id a u _migrate_new_b _migrate_pending',
	},
);

sub deployer_scenario
{
	my ($node, $what) = @_;
	my $name = $node->name . " $what deployer";
	return if defined $only && $name !~ /$only/;
	my $f = $deployer_faults{$what};
	my $k = $kinds{ $f->{kind} };
	my $db = new_db($node);
	my $setup = $k->{setup}->($node, $db);
	$setup =~ s/%GATE%/0/g;
	$node->safe_psql($db, $setup) if $setup ne '';
	# the run killed in migrate_wait() stops at its gate
	$node->safe_psql($db, q{INSERT INTO gate VALUES ('up'), ('down'), ('bf'), ('on')})
	  unless $f->{wait};
	if ($f->{ready})
	{
		$node->safe_psql($db, 'SELECT count(*) FROM migrate_upgrade()');
		die "$name: not ready" unless wait_all($node, $db, '1') eq 'ready';
	}
	my $shape = q{SELECT string_agg(attname, ' ' ORDER BY attnum) FROM pg_attribute
	               WHERE attrelid = 'o'::regclass AND attnum > 0 AND NOT attisdropped};
	my $last_job = $node->safe_psql($db, 'SELECT coalesce(max(id), 0) FROM migrate.job');
	my $offset = -s $node->logfile;

	my ($hold, $d, $pid);
	if ($f->{wait})
	{
		$node->safe_psql($db, $k->{call});
		$last_job = $node->safe_psql($db, 'SELECT max(id) FROM migrate.job');
		wait_for_backend($node, $db, 'worker', $at_gate, 'the gate');
		$d = deployer($node, $db, $f->{call});
		$pid = wait_for_backend($node, $db, 'deployer', q{wait_event = 'Extension'}, 'migrate_wait');
	}
	else
	{
		$hold = holder($node, $db, "BEGIN; $f->{lock};");
		$d = deployer($node, $db, $f->{call});
		$pid = wait_for_backend($node, $db, 'deployer', $at_lock, 'the lock');
	}
	$node->safe_psql($db, "SELECT pg_terminate_backend($pid)");
	$d->{h}->finish;
	like($d->{err}, qr/terminating connection/, "$name: the deployer is terminated");
	like("$d->{out}$d->{err}", $f->{said}, "$name: the call returned, its job queued")
	  if $f->{said};
	release($hold);

	is($node->safe_psql($db, $k->{truth}), $f->{at}, "$name: the catalog tells the truth");
	is($node->safe_psql($db, "SELECT count(*) FROM migrate.job WHERE id > $last_job"), '0',
		"$name: no job queued");
	is($node->safe_psql($db, $shape), $f->{shape}, "$name: the table's shape is unchanged")
	  if $f->{shape};
	is( $node->safe_psql($db, q{
			SELECT count(*) FROM pg_locks
			 WHERE locktype = 'advisory' AND objsubid = 3 AND classid = 1835624306 AND objid = 1}),
		'0', "$name: the deploy lock is free");

	# the same call again finishes the work; a deploy lock left behind would
	# fail it (55P03) instead of hanging
	if ($f->{wait})
	{
		$node->safe_psql($db, q{INSERT INTO gate VALUES ('up')});
	}
	else
	{
		$node->safe_psql($db, "SET lock_timeout = '5s'; $f->{repeat}");
	}
	if ($what eq 'online rollback')
	{
		is($node->safe_psql($db, $shape), 'id a u', "$name: rolled back, the table is as before");
		$node->safe_psql($db, 'SELECT count(*) FROM migrate_upgrade()');
	}
	if ($f->{kind} eq 'online')
	{
		if ($what ne 'online complete')
		{
			is(wait_all($node, $db, '1'), 'ready', "$name: the job finishes");
			$node->safe_psql($db, 'SELECT migrate_complete()');
		}
	}
	else
	{
		is(wait_all($node, $db), 'done', "$name: the job finishes");
	}
	my $final = $k->{final};
	# the first start's backfill updated every row too
	$final =~ s/1:300(.*)start:1 complete:1/2:300$1start:1 rollback:1 start:1 complete:1/
	  if $what eq 'online rollback';
	is($node->safe_psql($db, $k->{truth}), $final, "$name: and leaves the final state");
	settled($node, $db, $offset, 0, 0, $name);
	$node->safe_psql('postgres', "DROP DATABASE $db");
}

# Every kind of job at each of its steps, on a cluster that preloads migrate
# and on one that does not.  Without preloading, only what SIGKILL leaves
# differs (no launcher resumes the job after the crash restart, and batches
# committed asynchronously may be lost), so by default that cluster sees the
# SIGKILL of each kind of job in a statement or batch and as it records it,
# of a queued job, in a backfill's pause and in an index build; FAULT_ALL=1
# runs every step there too, with SIGTERM, and the deployer's kills.
my $all = $ENV{FAULT_ALL};
my @steps = (
	[ upgrade => qw(queued start mid between record) ],
	[ downgrade => qw(queued start mid between record) ],
	[ backfill => qw(queued start mid between record) ],
	[ online => qw(queued start mid between record index) ],);
my @plain_steps = $all
  ? @steps
  : (
	[ upgrade => qw(queued mid record) ],
	[ downgrade => qw(mid record) ],
	[ backfill => qw(mid between record) ],
	[ online => qw(mid record index) ],);

for my $preload (1, 0)
{
	my $node = PostgreSQL::Test::Cluster->new($preload ? 'preloaded' : 'plain');
	$node->init;
	$node->append_conf('postgresql.conf', qq{
max_worker_processes = 16
restart_after_crash = on
migrate.max_workers = 1
} . ($preload ? "shared_preload_libraries = 'migrate'\n" : ''));
	$node->start;

	for my $s ($preload ? @steps : @plain_steps)
	{
		my ($kind, @kind_steps) = @$s;
		for my $step (@kind_steps)
		{
			worker_scenario($node, $preload, $kind, $step, $_)
			  for ($preload || $all ? qw(KILL TERM) : qw(KILL));
		}
	}
	if ($preload || $all)
	{
		deployer_scenario($node, $_) for sort keys %deployer_faults;
	}
	$node->stop;
}

done_testing();
