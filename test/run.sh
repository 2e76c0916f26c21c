#!/bin/bash
# The whole test suite: installs what it needs (Debian packages), builds and
# installs migrate, then runs the pg_regress, isolation and TAP suites as the
# postgres user on throwaway clusters.  Run as root: sudo test/run.sh
# Exits non-zero when any test fails.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi

top=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config

"$top/test/setup.sh"

# initdb and postgres refuse to run as root, and the checkout may sit where
# postgres cannot enter: run the suites in a copy that postgres owns.
work=$(mktemp -d /tmp/migrate-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$top" --exclude=.git --exclude='tmp_check*' --exclude=results \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work" -xf -
chown -R postgres: "$work"

echo "== running the test suite in $work"
set +e
runuser -u postgres -- make -C "$work" PG_CONFIG="$PG_CONFIG" installcheck 2>&1 | tee "$work/installcheck.log"
rc=${PIPESTATUS[0]}
set -e

# one closing line with the counts, whatever the runner
passed=$(grep -Ec '^(ok|test|     ) .* ok( |$)|^ok [0-9]+ ' "$work/installcheck.log" || true)
failed=$(grep -Ec '(FAILED|failed \(ignored\)|^not ok)' "$work/installcheck.log" || true)
for d in "$work" "$work/test/isolation"; do
    if [ -s "$d/regression.diffs" ]; then
        echo "== $d/regression.diffs"
        cat "$d/regression.diffs"
    fi
done
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "tests: $passed passed, $failed failed"
exit "$rc"
