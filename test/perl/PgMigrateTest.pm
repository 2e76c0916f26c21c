# Helpers shared by the TAP tests of the client, pg_migrate (017 to 020).
package PgMigrateTest;

use strict;
use warnings;
use Exporter 'import';
use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(pg_migrate write_file read_file make_dir copy_dir
  readme_grants fresh_db);

# pg_migrate ARGS: (exit status, stdout, stderr), with nothing on its
# standard input; the status is undef when it ran past the timeout, which a
# file built to make it slow must not make it do.
sub pg_migrate
{
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run([ 'pg_migrate', @_ ], '<', \undef, '>', \$out,
			'2>', \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		1;
	};
	return (undef, $out, $err) unless $ok;
	return ($? >> 8, $out, $err);
}

# Files are written and read as bytes: the tests hold BOMs, CRs and bytes
# that are not UTF-8.
sub write_file
{
	my ($path, $content) = @_;
	open my $fh, '>', $path or die "could not write $path: $!";
	binmode $fh;
	print $fh $content;
	close $fh;
}

sub read_file
{
	my ($path) = @_;
	open my $fh, '<', $path or die "could not read $path: $!";
	binmode $fh;
	local $/;
	my $content = <$fh>;
	close $fh;
	return $content;
}

my $tmp;
my $ndirs = 0;

sub new_dir
{
	$tmp //= PostgreSQL::Test::Utils::tempdir;
	my $dir = "$tmp/d" . $ndirs++;
	make_path($dir);
	return $dir;
}

# a fresh directory with the given files (name => content)
sub make_dir
{
	my (%files) = @_;
	my $dir = new_dir();
	write_file("$dir/$_", $files{$_}) for keys %files;
	return $dir;
}

# a fresh copy of the files of a directory (an example of examples/)
sub copy_dir
{
	my ($from) = @_;
	my $dir = new_dir();
	opendir(my $dh, $from) or die "could not open $from: $!";
	copy("$from/$_", "$dir/$_") or die "could not copy $from/$_: $!"
	  for grep { -f "$from/$_" } readdir $dh;
	closedir $dh;
	return $dir;
}

# The deploy role exactly as the README makes it, so that the tests fail
# when the README's grants stop being enough for pg_migrate.
sub readme_grants
{
	my ($top) = @_;
	my $readme = slurp_file("$top/README.md");
	my ($grants) =
	  $readme =~ /### Privileges: a deploy role.*?```sql\n(.*?)```/s
	  or die 'no deploy grants in the README';
	return $grants;
}

# A new database with migrate and the README's deploy role; besides, as any
# deploy role, it may create tables in public (PostgreSQL 15 grants that to
# no one) and schemas in the database (online migrations make one).
# Returns a connection string as that role.
my %role_made;

sub fresh_db
{
	my ($node, $top, $db) = @_;
	my $sql = readme_grants($top);
	$sql =~ s/CREATE ROLE deployer LOGIN;// if $role_made{ $node->name }++;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, qq{CREATE EXTENSION migrate;
		$sql
		GRANT CREATE ON SCHEMA public TO deployer;
		GRANT CREATE ON DATABASE "$db" TO deployer;});
	return $node->connstr($db) . ' user=deployer';
}

1;
