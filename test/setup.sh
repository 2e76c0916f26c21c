#!/bin/bash
# Installs what migrate needs on a Debian bookworm machine, then builds and
# installs the extension.  Run as root (or with sudo) from the source tree.
# Used by test/run.sh (the test suite, with --test: also the tools the
# tests drive) and examples/demo.sh (the example).
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

# dbmate writes the history that pg_migrate import takes over in
# test/t/019_pg_migrate_import.pl (test/run.sh passes --test; the demo
# does not need it).  Optional: without it that part skips.
if [ "${1:-}" = --test ] && ! command -v dbmate >/dev/null 2>&1; then
    echo "== installing dbmate (nodejs, npm, npm install -g dbmate)"
    if ! command -v npm >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q nodejs npm; then
            { apt-get update -q && apt-get install -y -q nodejs npm; } ||
                echo "== nodejs/npm not installed: 019 skips its dbmate part"
        fi
    fi
    if command -v npm >/dev/null 2>&1; then
        npm install -g dbmate || echo "== dbmate not installed: 019 skips its dbmate part"
    fi
fi

# pg_bsd_indent, the indenter that test/indent.sh drives as pgindent does
# (the layout check of the C code).  Optional: without it that check cannot
# run, nothing else needs it.
if [ "${1:-}" = --test ] && ! command -v pg_bsd_indent >/dev/null 2>&1; then
    echo "== installing pg-bsd-indent"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q pg-bsd-indent; then
        { apt-get update -q && apt-get install -y -q pg-bsd-indent; } ||
            echo "== pg-bsd-indent not installed: test/indent.sh cannot run"
    fi
fi

echo "== building and installing migrate"
# the test suite builds with -Werror: a warning fails it
copt=()
[ "${1:-}" = --test ] && copt=(COPT=-Werror)
make -C "$top" -s PG_CONFIG="$PG_CONFIG" "${copt[@]}"
make -C "$top" -s PG_CONFIG="$PG_CONFIG" install
