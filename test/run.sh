#!/bin/bash
# The whole test suite: installs what it needs (Debian packages), builds and
# installs migrate, then runs the pg_regress, isolation and TAP suites as the
# postgres user, each on throwaway clusters, checks that no server process
# crashed, and runs a subset of the suites under valgrind (test/valgrind.sh).
# Run as root (or through sudo):
#
#   test/run.sh
#
# Ends with "tests: N passed, M failed" and exits non-zero when any test fails.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$0" "$@"
    fi
    echo "test/run.sh installs packages and the extension: run it as root" >&2
    exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config

"$top/test/setup.sh" --test

# initdb and postgres refuse to run as root, and the checkout may sit where
# postgres cannot enter: run the suites in a copy that postgres owns.
work=$(mktemp -d /tmp/migrate-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$top" --exclude=.git --exclude='tmp_*' --exclude=results \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work" -xf -
chown -R postgres: "$work"

log="$work/suite.log"
rc=0
# each suite on its own, so that a failure in one does not hide the others
suite() {
    local name=$1
    shift
    echo "== $name"
    set +e
    runuser -u postgres -- make -C "$work" -s PG_CONFIG="$PG_CONFIG" installcheck "$@" 2>&1 | tee -a "$log"
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        rc=1
        for d in "$work" "$work/test/isolation"; do
            if [ -s "$d/regression.diffs" ]; then
                echo "== $name: $d/regression.diffs"
                cat "$d/regression.diffs"
            fi
        done
        if [ -d "$work/tmp_check/log" ]; then
            for f in "$work"/tmp_check/log/regress_log_*; do
                [ -f "$f" ] && { echo "== $name: $f"; tail -n 60 "$f"; }
            done
        fi
    fi
}
suite "regression (pg_regress)" ISOLATION= TAP_TESTS=
suite "isolation" REGRESS= TAP_TESTS=
suite "TAP" REGRESS= ISOLATION=

# No input may crash the server.  The TAP tests kill workers with SIGKILL on
# purpose (the postmaster logs "terminated by signal 9"); any other signal
# (a segmentation fault, an abort) in any server log of the suites is a crash.
echo "== server crashes"
crashes=$(find "$work" -path '*/log/*' -name '*.log' -exec grep -H 'terminated by signal' {} + |
          grep -v 'terminated by signal 9:' || true)
if [ -n "$crashes" ]; then
    echo "$crashes"
    echo "server crashes ... FAILED" | tee -a "$log"
    rc=1
else
    echo "server crashes ... ok (none)" | tee -a "$log"
fi

# The layers of src/ call only downward, and only SQL's functions are
# exported (test/layers.sh reads the objects setup.sh built in the checkout).
echo "== layers"
if "$top/test/layers.sh" "$top"; then
    echo "layers ... ok" >> "$log"
else
    echo "layers ... FAILED" | tee -a "$log"
    rc=1
fi

# The C code is laid out as pgindent lays it out (test/indent.sh, with
# pg_bsd_indent; `test/indent.sh --fix` rewrites what differs).
echo "== indent"
if "$top/test/indent.sh"; then
    echo "indent ... ok" >> "$log"
else
    echo "indent ... FAILED" | tee -a "$log"
    rc=1
fi

# The memory check, on a subset: the whole suites take over an hour under
# valgrind (doc/tests.md).  MIGRATE_VALGRIND="" skips it.
valgrind_tests=${MIGRATE_VALGRIND-setup security_online_input online_faults backfill backfill_faults online security_inputs}
if [ -n "$valgrind_tests" ]; then
    echo "== memory check (valgrind): $valgrind_tests"
    set +e
    "$top/test/valgrind.sh" $valgrind_tests 2>&1 | tee -a "$work/valgrind.log"
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -eq 0 ]; then
        echo "memory check ... ok" | tee -a "$log"
    else
        echo "memory check ... FAILED" | tee -a "$log"
        rc=1
    fi
fi

# PostgreSQL 17 and 18: the build with -Werror, pg_regress and isolation,
# each in a Debian root of its own, and on 17 the one TAP test that restores
# a history dumped from PostgreSQL 15 (test/matrix.sh's dump suite; its
# whole TAP suite too when run by hand).  MIGRATE_MATRIX="" skips it.
matrix_versions=${MIGRATE_MATRIX-17 18}
if [ -n "$matrix_versions" ]; then
    echo "== other versions: $matrix_versions"
    set +e
    "$top/test/matrix.sh" --suites regress,isolation,dump $matrix_versions 2>&1 | tee "$work/matrix.log"
    set -e
    grep -E '^matrix [0-9]+:' "$work/matrix.log" >> "$log" || true
fi

# The Debian package: built, installed, pg_regress and isolation against
# it, removed again (test/package.sh).  MIGRATE_PACKAGE="" skips it.
if [ -n "${MIGRATE_PACKAGE-1}" ]; then
    echo "== package"
    set +e
    "$top/test/package.sh" 2>&1 | tee "$work/package.log"
    set -e
    # its last line: "package NAME ok" or "package NAME FAILED (why)"
    if tail -n 1 "$work/package.log" | grep -qE '^package .* ok$'; then
        echo "package ... ok" >> "$log"
    else
        echo "package ... FAILED" | tee -a "$log"
        rc=1
    fi
fi

# one closing line with the counts of all the suites
# pg_regress and the isolation tester print "test NAME ... ok" (TAP: "test/t/...")
regress_ok=$(grep -Ec '^(test|    ) +[^ /]+ +\.\.\. ok( |$)' "$log" || true)
regress_failed=$(grep -Ec '^(test|    ) +[^ /]+ +\.\.\. FAILED' "$log" || true)
tap_files=$(ls "$work"/test/t/*.pl | wc -l)
tap_ok=$(grep -Ec '^test/t/[^ ]+ \.+ (ok|skipped: .*)$' "$log" || true)
checks_ok=$(grep -Ec '^(server crashes|memory check|layers|package|indent) \.\.\. ok' "$log" || true)
checks_failed=$(grep -Ec '^(server crashes|memory check|layers|package|indent) \.\.\. FAILED' "$log" || true)
matrix_ok=$(grep -E '^matrix [0-9]+:' "$log" | grep -vc 'FAILED' || true)
matrix_failed=$(grep -E '^matrix [0-9]+:' "$log" | grep -c 'FAILED' || true)
if [ -n "$matrix_versions" ]; then
    # a version that printed no line at all failed too
    matrix_failed=$(( $(echo $matrix_versions | wc -w) - matrix_ok ))
    [ "$matrix_failed" -gt 0 ] && rc=1
fi
passed=$((regress_ok + tap_ok + checks_ok + matrix_ok))
failed=$((regress_failed + tap_files - tap_ok + checks_failed + matrix_failed))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "tests: $passed passed, $failed failed"
exit "$rc"
