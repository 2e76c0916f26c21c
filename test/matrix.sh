#!/bin/bash
# The suites on each tested PostgreSQL version.  Run as root:
#
#   test/matrix.sh [--suites LIST] [15|17|18]...     (default: 15 17 18)
#
# 15 is this machine's (Debian bookworm).  17 and 18 run in Debian roots made
# with mmdebstrap from the same mirror: trixie (17) and forky (18), kept in
# $MATRIX_ROOTS (default /var/tmp/migrate-roots) for the next run.  In each,
# migrate is built with -Werror (and the client with it), installed, and the
# suites run as the postgres user of that root.  LIST is a comma-separated
# subset of regress,isolation,tap (default: all three).  Ends with one line
# per version and exits non-zero when any failed:
#
#   matrix 17: build ok, regress ok, isolation ok, tap ok
set -uo pipefail

suites=regress,isolation,tap
if [ "${1:-}" = --suites ]; then
    suites=$2
    shift 2
fi
versions=${*:-15 17 18}

if [ "$(id -u)" -ne 0 ]; then
    echo "test/matrix.sh makes Debian roots and installs into them: run it as root" >&2
    exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
roots=${MATRIX_ROOTS:-/var/tmp/migrate-roots}
mkdir -p "$roots"
summary=()
rc=0

# a root with the server, its headers and what the suites need
make_root() {
    local codename=$1 v=$2 dir=$3
    local opts=()
    [ -x "$dir/usr/lib/postgresql/$v/bin/pg_config" ] && return 0
    command -v mmdebstrap >/dev/null ||
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null; }
    # forky's Release file on the mirror is past its Valid-Until date
    [ "$codename" = forky ] && opts+=(--aptopt='Acquire::Check-Valid-Until "false"')
    rm -rf "$dir"
    echo "== making a $codename root for PostgreSQL $v (mmdebstrap)"
    mmdebstrap --variant=minbase "${opts[@]}" \
        --include=postgresql-$v,postgresql-server-dev-$v,make,gcc,libpq-dev,libipc-run-perl \
        "$codename" "$dir" >"$roots/$codename.log" 2>&1 ||
        { tail -20 "$roots/$codename.log"; return 1; }
}

mounted=()
mount_root() {
    local dir=$1 m
    for m in proc dev dev/shm dev/pts; do
        if ! mountpoint -q "$dir/$m"; then
            mount --bind "/$m" "$dir/$m" && mounted=("$dir/$m" "${mounted[@]}")
        fi
    done
}
unmount_all() {
    local m
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap unmount_all EXIT

# run_in ROOT CMD: as root in ROOT ("" is this machine)
run_in() {
    local dir=$1
    shift
    if [ -z "$dir" ]; then "$@"; else chroot "$dir" "$@"; fi
}

for v in $versions; do
    case $v in
        15) codename="" dir="" ;;
        17) codename=trixie dir=$roots/trixie ;;
        18) codename=forky dir=$roots/forky ;;
        *) echo "matrix $v: not a tested version (15, 17, 18)"; rc=1; continue ;;
    esac
    line="matrix $v:"
    pgc=/usr/lib/postgresql/$v/bin/pg_config
    if [ -n "$dir" ]; then
        if ! make_root "$codename" "$v" "$dir"; then
            summary+=("$line root FAILED")
            rc=1
            continue
        fi
        mount_root "$dir"
        build=/build
    else
        "$top/test/setup.sh" >/dev/null || { summary+=("$line setup FAILED"); rc=1; continue; }
        build=$(mktemp -d /tmp/migrate-matrix.XXXXXX)
    fi
    # a copy of the checkout that the root's postgres user owns
    rm -rf "$dir$build"
    mkdir -p "$dir$build"
    tar -C "$top" --exclude=.git --exclude='tmp_*' --exclude=results \
        --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=client/pg_migrate \
        -cf - . | tar -C "$dir$build" -xf -
    run_in "$dir" chown -R postgres: "$build"

    echo "== PostgreSQL $v: build (-Werror)"
    if run_in "$dir" make -C "$build" -s PG_CONFIG="$pgc" COPT=-Werror &&
        run_in "$dir" make -C "$build" -s PG_CONFIG="$pgc" install >/dev/null; then
        line="$line build ok"
    else
        summary+=("$line build FAILED")
        rc=1
        continue
    fi
    for s in ${suites//,/ }; do
        case $s in
            regress) args=(ISOLATION= TAP_TESTS=) ;;
            isolation) args=(REGRESS= TAP_TESTS=) ;;
            tap) args=(REGRESS= ISOLATION=) ;;
            *) echo "unknown suite $s"; rc=1; continue ;;
        esac
        echo "== PostgreSQL $v: $s"
        if run_in "$dir" runuser -u postgres -- make -C "$build" -s PG_CONFIG="$pgc" installcheck "${args[@]}"; then
            line="$line, $s ok"
        else
            line="$line, $s FAILED"
            rc=1
            for d in "$dir$build" "$dir$build/test/isolation"; do
                [ -s "$d/regression.diffs" ] && cat "$d/regression.diffs"
            done
            for f in "$dir$build"/tmp_check/log/regress_log_*; do
                [ -f "$f" ] && grep -q 'not ok' "$f" && { echo "== $f"; tail -n 60 "$f"; }
            done
        fi
    done
    [ -z "$dir" ] && rm -rf "$build"
    summary+=("$line")
done

printf '%s\n' "${summary[@]}"
exit $rc
