#!/bin/bash
# Installs what migrate needs on a Debian bookworm machine, then builds and
# installs the extension.  Run as root (or with sudo) from the source tree.
# Used by test/run.sh (the test suite) and examples/demo.sh (the example).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
export PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi

need=""
for p in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libipc-run-perl make gcc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    echo "== installing:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q $need
fi

echo "== building and installing migrate"
make -C "$top" -s PG_CONFIG="$PG_CONFIG"
make -C "$top" -s PG_CONFIG="$PG_CONFIG" install
