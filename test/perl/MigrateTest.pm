# Helpers shared by migrate's TAP tests.
package MigrateTest;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use Test::More;

our @EXPORT = qw(wait_while_opening);

# Run $wait_sql (a migrate_wait call) in a session of its own, and run
# $open_sql only once that session is inside its wait loop.  A concurrent
# index build waits for every snapshot older than its own, except those of
# sessions that migrate_wait has marked; a wait that starts just as the
# build takes that census is still unmarked, and the build then waits for
# it (migrate_wait says so with 40P01).  Opening the gate after the wait
# has begun makes the tests deterministic, as a real deploy would be.
# Returns (exit code, stdout, stderr) of the waiting session.
sub wait_while_opening
{
	my ($node, $wait_sql, $open_sql) = @_;
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq',
			'-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'),
			'-c', $wait_sql
		],
		'<', \undef, '>', \$stdout, '2>', \$stderr);
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE query LIKE '%migrate_wait(%' AND state = 'active'
		   AND wait_event_type = 'Extension' AND pid <> pg_backend_pid()})
	  or die 'migrate_wait never started waiting';
	$node->safe_psql('postgres', $open_sql);
	$h->finish;
	chomp $stdout;
	return ($h->result(0), $stdout, $stderr);
}

1;
