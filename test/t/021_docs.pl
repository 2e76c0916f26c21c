# The documentation holds together: every relative link between the
# Markdown files (README.md, CHANGELOG.md, doc/*.md, examples/*/README.md)
# leads to a file that exists and, with an #anchor, to a heading of it
# (anchors as GitHub makes them); and doc/reference.md documents every SQL
# function and procedure of the extension's current script and every
# migrate.* setting the C code defines, and nothing that is gone.  Needs no
# cluster.
use strict;
use warnings;
use FindBin;
use File::Find;
use Cwd qw(abs_path);
use File::Spec;
use Test::More;

my $top = abs_path("$FindBin::RealBin/../..");

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

sub xs_but_newlines
{
	my ($s) = @_;
	$s =~ tr/\n/x/c;
	return $s;
}

# The text with fenced code blocks and inline code spans blanked out (same
# length, newlines kept, so line numbers stay right): what neither holds
# links nor headings.  Inline code is blanked with 'x', so that a link
# whose text is code, [`f`](x.md), is still seen as a link.
sub blank_code
{
	my ($text) = @_;
	my @out;
	my $fence;
	for my $line (split /^/, $text)
	{
		if (!defined $fence && $line =~ /^ {0,3}(`{3,}|~{3,})/)
		{
			$fence = $1;
			push @out, "\n";
			next;
		}
		if (defined $fence)
		{
			$fence = undef if $line =~ /^ {0,3}\Q$fence\E\s*$/;
			push @out, "\n";
			next;
		}
		push @out, $line;
	}
	my $rest = join '', @out;
	$rest =~ s/(`+)(.+?)\1/xs_but_newlines("$1$2$1")/gse;
	return $rest;
}

# GitHub's anchor of a heading: the rendered text in lower case, every
# character but letters, digits, '_', '-' and ' ' dropped, spaces made '-';
# the second heading of the same anchor gets '-1', the third '-2' ...
sub anchors
{
	my ($path) = @_;
	my $text = slurp($path);
	my %seen;
	my %anchors;
	my $fence;
	for my $line (split /\n/, $text)
	{
		if (!defined $fence && $line =~ /^ {0,3}(`{3,}|~{3,})/)
		{
			$fence = $1;
			next;
		}
		if (defined $fence)
		{
			$fence = undef if $line =~ /^ {0,3}\Q$fence\E\s*$/;
			next;
		}
		next unless $line =~ /^ {0,3}#{1,6}\s+(.*?)\s*(?:\s#+)?\s*$/;
		my $h = $1;
		$h =~ s/!?\[([^\]]*)\]\([^)]*\)/$1/g;    # links and images: their text
		$h =~ s/<[^>]+>//g;                      # HTML tags
		$h =~ s/`//g;
		$h = lc $h;
		$h =~ s/[^\w\- ]//g;
		$h =~ tr/ /-/;
		my $a = $h;
		$a = "$h-" . $seen{$h} if $seen{$h};
		$seen{$h}++;
		$anchors{$a} = 1;
	}
	return \%anchors;
}

my @files = ('README.md');
push @files, 'CHANGELOG.md' if -f "$top/CHANGELOG.md";
push @files, map { File::Spec->abs2rel($_, $top) } sort glob("$top/doc/*.md");
push @files,
  map { File::Spec->abs2rel($_, $top) } sort glob("$top/examples/*/README.md");

my (%anchor_cache, $links, @broken);
for my $file (@files)
{
	my $text = blank_code(slurp("$top/$file"));
	(my $dir = $file) =~ s{[^/]*$}{};
	while ($text =~ /!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)
	{
		my ($target, $at) = ($1, $-[0]);
		next if $target =~ m{^[a-z][a-z0-9+.-]*:}i;    # http:, mailto: ...
		$links++;
		my $line = 1 + (() = substr($text, 0, $at) =~ /\n/g);
		my ($path, $anchor) = $target =~ /^([^#]*)(?:#(.*))?$/;
		my $where = "$file:$line: ($target)";
		my $resolved = $path eq '' ? $file : File::Spec->canonpath("$dir$path");
		# no link may leave the repository
		my $abs = File::Spec->rel2abs($resolved, $top);
		1 while $abs =~ s{/[^/]+/\.\.(/|$)}{$1};
		if (index("$abs/", "$top/") != 0 || !-e $abs)
		{
			push @broken, "$where: no file $resolved";
			next;
		}
		next unless defined $anchor;
		if ($abs !~ /\.md$/)
		{
			push @broken, "$where: an anchor into $resolved, which is not Markdown"
			  unless $anchor =~ /^L\d+(-L\d+)?$/;
			next;
		}
		$anchor_cache{$abs} //= anchors($abs);
		push @broken, "$where: no heading #$anchor in $resolved"
		  unless $anchor_cache{$abs}{$anchor};
	}
}

ok($links > 20, "links found between the Markdown files ($links)");
fail("broken link $_") for @broken;
ok(!@broken, "every relative link resolves");

# doc/reference.md documents every function and setting, and no other
my $reference = slurp("$top/doc/reference.md");
my %headings = map { $_ => 1 } $reference =~ /^#{2,4} (migrate_\w+)\s*$/mg;

my ($version) = slurp("$top/migrate.control") =~ /^\s*default_version\s*=\s*'([^']+)'/m
  or die 'no default_version in migrate.control';
my $script = slurp("$top/sql/migrate--$version.sql");
my %functions = map { $_ => 1 } $script =~
  /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+(?:\w+\.)?(\w+)\s*\(/mig;
ok(keys %functions >= 20, 'functions found in sql/migrate--' . $version . '.sql (' . keys(%functions) . ')');
for my $f (sort keys %functions)
{
	ok($headings{$f}, "doc/reference.md has a section ### $f");
}
for my $h (sort keys %headings)
{
	ok($functions{$h}, "doc/reference.md's section $h is a function of the extension");
}

my %settings;
find(
	{
		no_chdir => 1,
		wanted => sub {
			return unless /\.c$/;
			my $c = slurp($_);
			$settings{$1} = 1
			  while $c =~ /DefineCustom\w+Variable\s*\(\s*"(migrate\.\w+)"/g;
		}
	},
	"$top/src");
my ($settings_table) = $reference =~ /^## Settings\n(.*?)(?=^## |\z)/ms
  or die 'no section ## Settings in doc/reference.md';
my %rows = map { $_ => 1 } $settings_table =~ /^\|\s*`(migrate\.\w+)`\s*\|/mg;
ok(keys %settings >= 10, 'settings found in src (' . keys(%settings) . ')');
for my $s (sort keys %settings)
{
	ok($rows{$s}, "doc/reference.md's Settings table has $s");
}
for my $s (sort keys %rows)
{
	ok($settings{$s}, "$s of doc/reference.md is defined in src");
}

done_testing();
