# Sourced by the benchmarks: a throwaway cluster, as root.
#
#   bench_cluster NAME PORT [postgresql.conf lines...]
#
# Installs what migrate needs, creates $work (removed on exit), and starts a
# cluster in $work/data listening on /tmp and 127.0.0.1 at PORT.  Defines
# $bin, $work, $port, as_pg, now, and installs the packages named in
# BENCH_PACKAGES (command names, Debian package names alike).  With
# BENCH_NO_INSTALL=1 it uses the migrate already installed instead of
# building and installing the source tree (test/setup.sh).  BENCH_BIN
# names another installation's bin/ (with migrate installed in it: implies
# BENCH_NO_INSTALL=1), e.g. a relocated copy for a trial run.

if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi

PG_MAJOR=${PG_MAJOR:-15}
bin=${BENCH_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
[ -z "${BENCH_BIN:-}" ] || BENCH_NO_INSTALL=1
as_pg() { runuser -u postgres -- "$@"; }
now() { date +%s.%N; }

bench_cluster() {
    local name=$1
    port=$2
    shift 2
    if [ "${BENCH_NO_INSTALL:-}" = 1 ]; then
        [ -f "$bin/../lib/migrate.so" ] || { echo "migrate is not installed" >&2; exit 1; }
    else
        "$top/test/setup.sh" >/dev/null
    fi
    for p in bc ${BENCH_PACKAGES:-}; do
        command -v "$p" >/dev/null ||
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
    done
    work=$(mktemp -d "/tmp/migrate-bench-$name.XXXXXX")
    chown postgres: "$work"
    trap 'as_pg "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
    as_pg "$bin/initdb" -D "$work/data" -A trust --no-instructions >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '/tmp'"
        echo "max_worker_processes = 16"
        for line in "$@"; do echo "$line"; done
    } >> "$work/data/postgresql.conf"
    as_pg "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
}
