#!/bin/bash
# Memory check: the pg_regress and isolation suites with every server process
# (postmaster, backends, background workers) under valgrind's memcheck, then
# the errors whose stack passes through migrate's code.  Run as root (or
# through sudo), like test/run.sh:
#
#   test/valgrind.sh                    every pg_regress test and isolation spec
#   test/valgrind.sh setup register upgrade backfill online     a subset
#
# A NAME is a pg_regress test (sql/NAME.sql) or an isolation spec
# (test/isolation/specs/NAME.spec); `setup` is put first when a pg_regress
# test is named without it.  Ends with one line, "valgrind: ...", and exits
# non-zero when migrate's code made an invalid read or write, used an
# uninitialised value, freed wrongly or definitely leaked memory.
#
# The verdict is about memory errors, not diffs: under valgrind the server
# is 20-50 times slower, so tests that depend on timing may differ from their
# expected output.  Diffs are counted and kept, but do not fail the run.
#
# The server under test is a relocated copy of PostgreSQL in a directory of
# its own, whose postgres binary is a script that runs the real one under
# valgrind: the system's PostgreSQL is left as it is.  Environment:
#   PG_CONFIG        the PostgreSQL to copy; when unset, Debian's, after
#                    test/setup.sh has installed the packages
#   VALGRIND_OPTS    more valgrind options (read by valgrind itself), e.g.
#                    --track-origins=yes to find where an uninitialised
#                    value came from (twice as slow)
#   VALGRIND_KEEP=1  keep the copy of PostgreSQL and the build tree
# Logs (one per process), diffs and the report stay in /tmp/migrate-valgrind.*.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo --preserve-env=PG_CONFIG,VALGRIND_OPTS,VALGRIND_KEEP "$0" "$@"
    fi
    echo "test/valgrind.sh installs packages and a copy of PostgreSQL: run it as root" >&2
    exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
started=$(date +%s)

# which suite each name belongs to
all_regress=$(sed -n 's/^REGRESS = //p' "$top/Makefile")
all_isolation=$(sed -n 's/^ISOLATION = //p' "$top/Makefile")
if [ $# -eq 0 ]; then
    set -- $all_regress $all_isolation
fi
regress=""
any_regress=""
isolation=""
# a name may be both (security_locks is): it runs in both suites
for name in "$@"; do
    found=""
    if [ -f "$top/sql/$name.sql" ] && [ -f "$top/expected/$name.out" ] &&
       [[ " $regress " != *" $name "* ]]; then
        any_regress=yes found=yes
        [ "$name" = setup ] || regress="$regress $name"
    fi
    if [ -f "$top/test/isolation/specs/$name.spec" ] &&
       [[ " $isolation " != *" $name "* ]]; then
        found=yes
        isolation="$isolation $name"
    fi
    if [ -z "$found" ] && [[ " $regress $isolation setup " != *" $name "* ]]; then
        echo "test/valgrind.sh: no pg_regress test or isolation spec named \"$name\"" >&2
        exit 2
    fi
done
# the other pg_regress tests need what setup creates
[ -z "$any_regress" ] || regress="setup$regress"

if [ -z "${PG_CONFIG:-}" ]; then
    PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
    "$top/test/setup.sh"
fi
if ! command -v valgrind >/dev/null; then
    echo "== installing: valgrind"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q valgrind
fi

out=$(mktemp -d /tmp/migrate-valgrind.XXXXXX)
chmod 755 "$out"
work="$out/work"
logs="$out/logs"
mkdir -p "$work" "$logs"
cleanup() {
    if [ "${VALGRIND_KEEP:-}" != 1 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# A copy of PostgreSQL with the Debian layout under $work/pg: its programs
# find their libraries and share files relative to their own place.
bindir=$("$PG_CONFIG" --bindir)
root=${bindir%/usr/lib/postgresql/*/bin}
if [ "$root/usr/lib/postgresql/$PG_MAJOR/bin" != "$bindir" ]; then
    echo "test/valgrind.sh: $bindir is not laid out as Debian's PostgreSQL $PG_MAJOR" >&2
    exit 2
fi
pg="$work/pg"
mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql" "$pg/usr/include"
cp -a "$root/usr/lib/postgresql/$PG_MAJOR" "$pg/usr/lib/postgresql/"
cp -a "$root/usr/share/postgresql/$PG_MAJOR" "$pg/usr/share/postgresql/"
cp -a "$root/usr/include/postgresql" "$pg/usr/include/"
pgbin="$pg/usr/lib/postgresql/$PG_MAJOR/bin"
pgconfig="$pgbin/pg_config"

# The suites run as postgres in a copy of the tree that postgres owns; migrate
# is built there (with debugging information, for file and line in the
# stacks) and installed into the copy of PostgreSQL.
src="$work/src"
mkdir -p "$src"
tar -C "$top" --exclude=.git --exclude='tmp_*' --exclude=results \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$src" -xf -
echo "== building migrate into $pg"
make -C "$src" -s PG_CONFIG="$pgconfig"
make -C "$src" -s PG_CONFIG="$pgconfig" install >/dev/null

# The wrapper: initdb's bootstrap and single-user runs and version queries go
# to the real binary (under valgrind they would only cost time), every server
# goes through valgrind.  --error-exitcode=1: a process with an error then
# exits as after a FATAL error, which the postmaster takes calmly; another
# code would count as a crash and restart every session, changing what the
# later tests see.  Suppressed errors (test/valgrind.supp, PostgreSQL's own
# harmless ones) do not count.  Frames of migrate show as src/FILE.c:LINE
# (--fullpath-after), so the scan below can tell them from PostgreSQL's.
mv "$pgbin/postgres" "$pgbin/postgres.real"
cat >"$pgbin/postgres" <<EOF
#!/bin/sh
# written by test/valgrind.sh: the server under valgrind's memcheck
case " \$* " in
*" --boot "*|*" --single "*|*" -V "*|*" --version "*|*" -C "*|*" --describe-config "*)
    exec "$pgbin/postgres.real" "\$@" ;;
esac
exec valgrind --quiet --tool=memcheck --trace-children=yes --vgdb=no \\
    --num-callers=40 --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --error-exitcode=1 \\
    --suppressions="$src/test/valgrind.supp" --fullpath-after="$src/" \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
    --log-file="$logs/%p.log" "$pgbin/postgres.real" "\$@"
EOF
chmod 755 "$pgbin/postgres"

# Settings for valgrind's pace: less shared memory for each exiting process's
# leak scan to read through; no statement limit; no JIT, whose loading of
# LLVM (dlopen) only adds reports of the dynamic loader and time.
cat >"$src/test/valgrind.conf" <<EOF
shared_buffers = 16MB
statement_timeout = 0
jit = off
EOF
chown -R postgres: "$src" "$logs"

# Under valgrind a server takes a minute to start; an isolation step that
# waits counts as stuck only after PGISOLATIONTIMEOUT seconds.
rc_suites=0
run_suite() {
    local label=$1
    shift
    echo "== $label under valgrind"
    set +e
    runuser -u postgres -- env PATH="$pgbin:$PATH" PGCTLTIMEOUT=900 \
        PGISOLATIONTIMEOUT=1800 VALGRIND_OPTS="${VALGRIND_OPTS:-}" \
        nice make -C "$src" -s PG_CONFIG="$pgconfig" installcheck TAP_TESTS= \
        EXTRA_REGRESS_OPTS="--temp-config=$src/test/valgrind.conf" "$@" 2>&1 |
        tee -a "$out/suite.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc_suites=1
    set -e
}
if [ -n "$regress" ]; then
    run_suite "pg_regress:$(echo " $regress" | tr -s ' ')" REGRESS="$regress" ISOLATION=
fi
if [ -n "$isolation" ]; then
    run_suite "isolation:$(echo " $isolation" | tr -s ' ')" REGRESS= ISOLATION="$isolation"
fi
for f in "$src/regression.diffs:regress.diffs" \
    "$src/test/isolation/regression.diffs:isolation.diffs" \
    "$src/log/postmaster.log:regress-postmaster.log" \
    "$src/test/isolation/log/postmaster.log:isolation-postmaster.log"; do
    [ ! -f "${f%%:*}" ] || cp "${f%%:*}" "$out/${f##*:}"
done

shopt -s nullglob
# The scan: an error is migrate's when a frame of its stack is in migrate's
# source (src/...) or in migrate.so.  Each such error goes to the report
# whole; the counts are by kind.
report="$out/report.txt"
awk -v report="$report" '
    /VALGRINDERROR-BEGIN/ { inerr = 1; text = ""; kind = ""; mine = 0; next }
    /VALGRINDERROR-END/ {
        inerr = 0
        if (kind ~ /Invalid read/) k = "invalid read"
        else if (kind ~ /Invalid write/) k = "invalid write"
        else if (kind ~ /uninitialised/) k = "uninitialised value"
        else if (kind ~ /definitely lost/) k = "definite leak"
        else if (kind ~ /free|delete/) k = "bad free"
        else if (kind ~ /overlap/) k = "overlapping copy"
        else k = "other"
        if (mine) {
            n_mine++; count[k]++
            printf "== %s\n%s\n", FILENAME, text > report
        } else
            n_other++
        next
    }
    inerr {
        line = $0
        sub(/^==[0-9]+== ?/, "", line)
        sub(/\(in [^)]*\/postgres\.real\)/, "(in postgres)", line)
        if (kind == "" && line != "") kind = line
        if (line ~ /\(src\/[^:)]+\.[ch]:[0-9]+\)/ || line ~ /migrate\.so/) mine = 1
        text = text line "\n"
    }
    END {
        s = ""
        for (k in count) s = s (s == "" ? "" : ", ") count[k] " " k
        printf "%d %d %s\n", n_mine, n_other, s
    }' /dev/null "$logs"/*.log >"$out/counts"
read -r n_mine n_other kinds <"$out/counts"
shopt -u nullglob
[ -f "$report" ] || : >"$report"

processes=$(ls "$logs" | wc -l)
diffs=0
for f in "$out/regress.diffs" "$out/isolation.diffs"; do
    [ ! -f "$f" ] || diffs=$((diffs + $(grep -c '^diff ' "$f" || true)))
done
if [ "$n_mine" -gt 0 ]; then
    cat "$report"
fi
elapsed=$(($(date +%s) - started))
printf 'valgrind: %s errors in migrate (%s), %s elsewhere, in %s processes; %s tests with diffs (not judged); %dm%02ds; logs in %s\n' \
    "$n_mine" "${kinds:-none}" "$n_other" "$processes" "$diffs" \
    $((elapsed / 60)) $((elapsed % 60)) "$out"
if [ "$rc_suites" -ne 0 ] && [ "$diffs" -eq 0 ]; then
    echo "valgrind: a suite failed without diffs (see $out/suite.log): no verdict" >&2
    exit 1
fi
[ "$n_mine" -eq 0 ]
