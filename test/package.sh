#!/bin/bash
# test/package.sh: install migrate as a DBA does, from this checkout, as root
# on a Debian machine: install the build dependencies (debian/control),
# build postgresql-NN-migrate with dpkg-buildpackage in a copy of the
# checkout, install it, check that it holds the extension and pg_migrate,
# and run its installcheck (debian/tests/installcheck: pg_regress and the
# isolation tester against the installed files, through pg_buildext).
# Also checks META.json against migrate.control.
#
# The package installs into the system's PostgreSQL directories, where
# `make install` puts the same files.  Unless KEEP=1, it is removed at the
# end and the files that were there before it are put back.
# The last line says "package NAME ok" or "package NAME FAILED (step)"; the
# exit status is 0 only for ok.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pkg-migrate.XXXXXX)
chmod 755 "$work"			# installcheck runs as postgres under it
export DEBIAN_FRONTEND=noninteractive
name=postgresql-migrate
installed=()				# the packages this script installed
start=$SECONDS

say() { echo "== $(( SECONDS - start ))s: $*"; }
# the machine's install as it was first, then the verdict, last
finish() {
	trap - EXIT INT TERM
	restore
	echo "package $name $1"
	exit "$2"
}
fail() { finish "FAILED ($1)" 1; }

[ "$(id -u)" = 0 ] || { echo "test/package.sh must run as root"; fail "not root"; }

# apt with the package lists there are, and once more after an update
apt_get() {
	apt-get -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 && return 0
	apt-get update -q >>"$work/apt.log" 2>&1
	apt-get -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; return 1; }
}

# leave the machine's install as it was: remove what this installed, and
# put back the files it replaced (a `make install` of migrate, say)
restore() {
	if [ ${#installed[@]} -gt 0 ] && [ -z "${KEEP:-}" ]; then
		say "removing ${installed[*]}"
		dpkg -r "${installed[@]}" >>"$work/apt.log" 2>&1 || echo "could not remove ${installed[*]}"
		if [ -s "$work/displaced.list" ]; then
			tar -C / -xpf "$work/displaced.tar" &&
				echo "put back the $(wc -l <"$work/displaced.list") files the package had replaced"
		fi
	fi
}
trap 'fail "interrupted"' INT TERM
trap 'fail "stopped"' EXIT

# --- a copy of the checkout, without git and build outputs
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$src/debian/changelog")
dir=$work/migrate-$version
mkdir -p "$dir"
tar -C "$src" --exclude=.git --exclude='tmp_*' --exclude=results --exclude='*.o' \
	--exclude='*.so' --exclude='*.bc' --exclude=client/pg_migrate -cf - . | tar -C "$dir" -xf -

# --- build dependencies, from debian/control
say "build dependencies"
apt_get install dpkg-dev || fail "installing dpkg-dev"
apt_get build-dep "$dir" || fail "installing the build dependencies"

# --- META.json (perl came with dpkg-dev): valid, and of the version migrate.control installs
say "META.json"
perl -MJSON::PP -e '
	my ($meta_file, $control_file) = @ARGV;
	local $/;
	open my $fh, "<", $meta_file or die "$meta_file: $!\n";
	my $meta = JSON::PP->new->decode(<$fh>);
	open $fh, "<", $control_file or die "$control_file: $!\n";
	my ($default) = <$fh> =~ /^default_version\s*=\s*\x27([^\x27]+)\x27/m
		or die "no default_version in $control_file\n";
	for my $key (qw(name abstract version maintainer license provides meta-spec)) {
		die "META.json has no $key\n" unless defined $meta->{$key};
	}
	my $semver = qr/^\d+\.\d+\.\d+(?:-[0-9A-Za-z-.]+)?$/;
	my $ext = $meta->{provides}{migrate} or die "META.json provides no migrate\n";
	for my $v ($meta->{version}, $ext->{version}) {
		die "version $v is not a semantic version\n" unless $v =~ $semver;
		(my $short = $v) =~ s/\.0$//;
		die "META.json version $v is not migrate.control default_version $default\n"
			unless $short eq $default;
	}
	-f $_ or die "META.json names $_, which is not there\n" for grep defined, $ext->{file}, $ext->{docfile};
	$ext->{file} eq "sql/migrate--$default.sql"
		or die "META.json file $ext->{file} is not the install script of $default\n";
	print "META.json $meta->{version} = migrate.control $default\n";
' "$src/META.json" "$src/migrate.control" || fail "META.json"

# --- build
say "dpkg-buildpackage -us -uc -b in $dir"
(cd "$dir" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
	{ tail -40 "$work/build.log"; fail "dpkg-buildpackage"; }
grep -E '(^|[^-])warning:' "$work/build.log" && echo "(compiler warnings above)"
debs=$(ls "$work"/postgresql-*-migrate_*.deb 2>/dev/null)
[ -n "$debs" ] || fail "no package built"
name=$(basename -a $debs | tr '\n' ' ' | sed 's/ $//')
say "built $name"

# --- install (apt resolves postgresql-NN and libpq5)
packages=()
: >"$work/displaced.list"
for deb in $debs; do
	pkg=$(dpkg-deb -f "$deb" Package)
	packages+=("$pkg")
	if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ]; then
		echo "$pkg was installed before: it is upgraded, and left installed"
		continue
	fi
	installed+=("$pkg")
	# files of the package that are on the machine already, owned by no package
	dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' |
		while read -r f; do
			[ -e "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1 && echo "$f"
		done >>"$work/displaced.list"
done
if [ -s "$work/displaced.list" ]; then
	tar -C / -cpf "$work/displaced.tar" $(sed 's|^/||' "$work/displaced.list")
	echo "saved $(wc -l <"$work/displaced.list") files the package replaces (a make install)"
fi
say "installing ${packages[*]}"
apt_get install --reinstall $debs || fail "installing the package"

# --- what it holds
for pkg in "${packages[@]}"; do
	dpkg -L "$pkg" >"$work/$pkg.list"
	v=$(echo "$pkg" | sed 's/^postgresql-\([0-9.]*\)-migrate$/\1/')
	for f in /usr/lib/postgresql/$v/lib/migrate.so \
		/usr/share/postgresql/$v/extension/migrate.control \
		/usr/share/postgresql/$v/extension/migrate--$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$src/migrate.control").sql \
		/usr/lib/postgresql/$v/bin/pg_migrate; do
		grep -qx "$f" "$work/$pkg.list" || fail "$pkg does not hold $f"
	done
	/usr/lib/postgresql/$v/bin/pg_migrate --version || fail "pg_migrate --version"
done
echo "the packages hold migrate.so, migrate.control, the install script and pg_migrate"

# --- installcheck, as the autopkgtest runs it
say "debian/tests/installcheck"
(cd "$dir" && AUTOPKGTEST_TMP="$work/autopkgtest" debian/tests/installcheck) >"$work/installcheck.log" 2>&1
rc=$?
grep -E '^###|tests (passed|failed)|failed \(ignored\)' "$work/installcheck.log"
if [ $rc -ne 0 ]; then
	tail -60 "$work/installcheck.log"
	fail "installcheck"
fi
say "done (logs in $work)"
finish ok 0
