#!/bin/bash
# The layout check of the C code: pgindent's, as PostgreSQL's own tree has it.
#
#   test/indent.sh [FILE...]         report the files whose layout differs from
#                                    pgindent's (a diff -u each); exit 1 if any
#   test/indent.sh --fix [FILE...]   rewrite them in place
#   test/indent.sh --typedefs        rebuild test/typedefs.list (see below)
#
# FILE defaults to every .c and .h file under src/ and client/.  It runs
# pg_bsd_indent (Debian: package pg-bsd-indent, which test/setup.sh --test
# installs; PGINDENT or INDENT may name another binary) with the options and
# the pre- and post-processing of PostgreSQL's src/tools/pgindent/pgindent,
# on copies in a temporary directory, and compares.
#
# pg_bsd_indent must know which names are types (else `Relation *rel` is
# laid out as a multiplication).  test/typedefs.list lists those of the
# names used in src/ and client/ that are typedefs: ours, PostgreSQL's (from
# the server and libpq headers of the installed PostgreSQL) and the C
# library's; the typedefs defined in src/ and client/ are added at each run
# too, so a new one of ours needs no update.  When the code starts using
# another PostgreSQL type, run `test/indent.sh --typedefs` (PG_CONFIG names
# the PostgreSQL whose headers to read) and commit the list.
exec perl -x "$0" "$@"
#!perl
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find;
use File::Temp qw(tempdir);

my $top = abs_path(dirname($0) . '/..');
chdir $top or die "cannot enter $top: $!\n";
my $typedefs_list = 'test/typedefs.list';

# pgindent's settings (src/tools/pgindent/pgindent, PostgreSQL 15)
my $indent = $ENV{PGINDENT} || $ENV{INDENT} || 'pg_bsd_indent';
my $indent_opts =
  '-bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0 -di12 -nfc1 -i4 -l79 '
  . '-lp -lpl -nip -npro -sac -tpg -ts4';
# names pgindent always takes for types, and names it never does (they are
# typedefs somewhere but used as variable names elsewhere)
my @additional = ('bool');
my %excluded = map { $_ => 1 } qw(
  ANY FD_SET U abs allocfunc boolean date digit ilist interval iterator other
  pointer printfunc reference string timestamp type wrap);
# the C library's typedefs that PostgreSQL's list has too
my @libc = qw(
  DIR FILE gid_t int16_t int32_t int64_t int8_t intptr_t jmp_buf locale_t
  mode_t off_t pid_t pthread_t ptrdiff_t sig_atomic_t sigjmp_buf sigset_t
  size_t socklen_t ssize_t time_t uid_t uint16_t uint32_t uint64_t uint8_t
  uintptr_t va_list wchar_t);

my ($fix, $make_typedefs) = (0, 0);
my @files;
for my $arg (@ARGV)
{
	if ($arg eq '--fix') { $fix = 1; }
	elsif ($arg eq '--typedefs') { $make_typedefs = 1; }
	elsif ($arg eq '--help' || $arg eq '-h')
	{
		open(my $self, '<', $0) or die "$0: $!\n";
		while (<$self>)
		{
			last if /^exec /;
			print substr($_, 2) if /^# /;
			print "\n" if /^#$/;
		}
		exit 0;
	}
	elsif ($arg =~ /^-/)
	{
		print STDERR "test/indent.sh: unknown option $arg (--help)\n";
		exit 2;
	}
	else { push @files, $arg; }
}

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!\n";
	local $/;
	my $text = <$fh>;
	return $text;
}

sub spew
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!\n";
	print $fh $text;
	close($fh) or die "cannot write $path: $!\n";
}

sub c_files
{
	my @found;
	find(
		{
			no_chdir => 1,
			wanted => sub { push @found, $_ if -f $_ && /\.[ch]$/ }
		},
		grep { -d } 'src', 'client');
	return sort @found;
}

# C text without comments, string and character literals, and (with
# $no_cpp) preprocessor lines
sub strip_c
{
	my ($text, $no_cpp) = @_;
	$text =~ s{/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'}
			  {my $m = $&; $m =~ /^\// ? ' ' : '""'}gse;
	$text =~ s/^[ \t]*#(?:[^\n]*\\\n)*[^\n]*//mg if $no_cpp;
	return $text;
}

my %c_keywords = map { $_ => 1 } qw(
  auto break case char const continue default do double else enum extern
  float for goto if inline int long register restrict return short signed
  sizeof static struct switch typedef union unsigned void volatile while
  _Bool __attribute__ __restrict);

# the names a C text declares with typedef
sub typedef_names
{
	my ($text) = @_;
	$text = strip_c($text, 1);
	my @names;
	while ($text =~ /\btypedef\b/g)
	{
		my $start = pos($text);
		my ($depth, $i) = (0, $start);
		for (; $i < length($text); $i++)
		{
			my $c = substr($text, $i, 1);
			if ($c eq '{' || $c eq '(' || $c eq '[') { $depth++; }
			elsif ($c eq '}' || $c eq ')' || $c eq ']') { $depth--; }
			elsif ($c eq ';' && $depth == 0) { last; }
		}
		my $decl = substr($text, $start, $i - $start);
		pos($text) = $i;
		1 while $decl =~ s/\{[^{}]*\}/ /g;    # struct, union, enum bodies
		1 while $decl =~ s/__attribute__\s*\(\([^()]*(?:\([^()]*\)[^()]*)*\)\)//g;
		if ($decl =~ /\(\s*\*\s*(\w+)\s*\)\s*\(/)    # pointer to function
		{
			push @names, $1;
			next;
		}
		1 while $decl =~ s/\[[^\[\]]*\]//g;    # array bounds
		# declarators at the top level: "struct X Y, *YP"; a function type
		# "ret name(args)" names the word before its parameters
		my @parts;
		my ($level, $part) = (0, '');
		for my $c (split //, $decl)
		{
			$level++ if $c eq '(';
			$level-- if $c eq ')';
			if ($c eq ',' && $level == 0) { push @parts, $part; $part = ''; }
			else { $part .= $c; }
		}
		push @parts, $part;
		for my $p (@parts)
		{
			$p =~ s/^([^(]*?\w)\s*\(.*$/$1/s;    # name(args): the name
			push @names, $1 if $p =~ /(\b[A-Za-z_]\w*)\W*$/;
		}
	}
	return grep { !$c_keywords{$_} } @names;
}

my @sources = c_files();

if ($make_typedefs)
{
	my $pg_config = $ENV{PG_CONFIG} || 'pg_config';
	chomp(my $server = `$pg_config --includedir-server`);
	chomp(my $include = `$pg_config --includedir`);
	die "test/indent.sh: $pg_config --includedir-server failed\n"
	  unless $server && -d $server;
	my @headers;
	find(sub { push @headers, $File::Find::name if /\.h$/ }, $server);
	push @headers, grep { -f } map { "$include/$_" }
	  qw(libpq-fe.h postgres_ext.h pg_config_ext.h);
	my %known = map { $_ => 1 } @libc;
	$known{$_} = 1 for map { typedef_names(slurp($_)) } @headers;
	my (%used, %ours);
	for my $f (@sources)
	{
		my $text = slurp($f);
		$used{$_} = 1 for strip_c($text, 0) =~ /\b([A-Za-z_]\w*)\b/g;
		$ours{$_} = 1 for typedef_names($text);
	}
	my @list = sort grep { ($known{$_} && $used{$_}) || $ours{$_} }
	  keys %{ { %known, %ours } };
	@list = grep { !$excluded{$_} } @list;
	spew($typedefs_list, join('', map { "$_\n" } @list));
	printf "%s: %d names (%d of ours, from %d headers of %s)\n",
	  $typedefs_list, scalar @list, scalar(keys %ours), scalar @headers, $server;
	exit 0;
}

system("$indent --version >/dev/null 2>&1");
if ($? != 0)
{
	print STDERR "test/indent.sh: $indent not found: install pg_bsd_indent "
	  . "(Debian: apt-get install pg-bsd-indent, or test/setup.sh --test)\n";
	exit 2;
}
my $version = `$indent --version 2>&1`;
print STDERR "test/indent.sh: warning: pgindent expects pg_bsd_indent 2.1, "
  . "this is $version"
  unless $version =~ / 2\.1\.\d+ /;

@files = @sources unless @files;
my $tmp = tempdir('migrate-indent.XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the typedefs: the list, ours as they are now, pgindent's additions
my %typedefs = map { $_ => 1 } @additional;
if (-f $typedefs_list)
{
	$typedefs{$_} = 1 for grep { /\S/ } split /\n/, slurp($typedefs_list);
}
$typedefs{$_} = 1 for map { typedef_names(slurp($_)) } @sources;
delete $typedefs{$_} for keys %excluded;
spew("$tmp/typedefs", join('', map { "$_\n" } sort keys %typedefs));

# pgindent's pre_indent and post_indent
sub pre_indent
{
	my ($source) = @_;
	# // comments become /* */
	$source =~ s!^([ \t]*)//(.*)$!$1/* $2 */!gm;
	# dash-protected block comments are left alone by indent
	$source =~ s!/\* +---!/*---X_X!g;
	# no indenting of the code in 'extern "C"' blocks
	$source =~
	  s!(^#ifdef[ \t]+__cplusplus.*\nextern[ \t]+"C"[ \t]*\n)\{[ \t]*$!$1/* Open extern "C" */!gm;
	$source =~
	  s!(^#ifdef[ \t]+__cplusplus.*\n)\}[ \t]*$!$1/* Close extern "C" */!gm;
	# the wrapping in CATALOG()
	$source =~ s!^(CATALOG\(.*)$!/*$1*/!gm;
	return $source;
}

sub post_indent
{
	my ($source) = @_;
	$source =~ s!^/\*(CATALOG\(.*)\*/$!$1!gm;
	$source =~ s!^/\* Open extern "C" \*/$!{!gm;
	$source =~ s!^/\* Close extern "C" \*/$!}!gm;
	$source =~ s!/\*---X_X!/* ---!g;
	# run-together comments get a tab between them
	$source =~ s!\*/(/\*.*\*/)$!*/\t$1!gm;
	# a single space before '*' in function return types
	$source =~ s!^([A-Za-z_]\S*)[ \t]+\*$!$1 *!gm;
	return $source;
}

my (@differ, @failed);
my $n = 0;
for my $file (@files)
{
	unless (-f $file)
	{
		push @failed, "$file: no such file";
		next;
	}
	my $orig = slurp($file);
	$n++;
	spew("$tmp/in.c", pre_indent($orig));
	unlink "$tmp/out.c";
	my $err = `$indent $indent_opts -U$tmp/typedefs $tmp/in.c $tmp/out.c 2>&1`;
	if ($? != 0 || $err ne '' || !-f "$tmp/out.c")
	{
		$err =~ s/\s+$//;
		push @failed, "$file: pg_bsd_indent failed: $err";
		next;
	}
	my $new = post_indent(slurp("$tmp/out.c"));
	next if $new eq $orig;
	push @differ, $file;
	if ($fix)
	{
		spew($file, $new);
		print "reindented $file\n";
	}
	else
	{
		spew("$tmp/new.c", $new);
		print `diff -u --label "a/$file" --label "b/$file" "$file" "$tmp/new.c"`;
	}
}

print STDERR "$_\n" for @failed;
printf STDERR "indent: %d files could not be indented\n", scalar @failed if @failed;
if ($fix)
{
	printf "indent: %d of %d files reindented\n", scalar @differ, $n;
}
else
{
	printf "indent: %d of %d files differ from pgindent's layout%s\n",
	  scalar @differ, $n, @differ ? ' (test/indent.sh --fix rewrites them)' : '';
}
exit((@failed || (@differ && !$fix)) ? 1 : 0);
