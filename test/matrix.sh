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
# subset of regress,isolation,tap,dump (default: the first three; dump is
# the one TAP test that moves a history across major versions, 023, alone).
#
# On 17 the TAP test 023 dumps a history from PostgreSQL 15 and restores it
# into 17: this machine's PostgreSQL 15 is copied into the root under
# /opt/pg15 (the same layout below it, so its relocatable binaries find
# their share directory), with migrate built from this checkout installed
# into it and the shared libraries it needs that the root lacks, and
# MIGRATE_OLD_INSTALL names it.  Elsewhere 023 is skipped.
#
# Ends with one line per version and exits non-zero when any failed:
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

# The old installation that test 023 restores from: this machine's
# PostgreSQL $old_major, copied into ROOT under $old_prefix.
old_major=15
old_prefix=/opt/pg$old_major
old_install=$old_prefix/usr/lib/postgresql/$old_major
provide_old_install() {
    local dir=$1 lib=$dir$old_install/lib b missing name path round
    local pgc=/usr/lib/postgresql/$old_major/bin/pg_config
    if [ ! -x /usr/lib/postgresql/$old_major/bin/postgres ] ||
        [ ! -d /usr/lib/postgresql/$old_major/lib/pgxs ]; then
        "$top/test/setup.sh" >/dev/null || return 1
    fi
    rm -rf "$dir$old_prefix"
    mkdir -p "$dir$old_prefix/usr/lib/postgresql" "$dir$old_prefix/usr/share/postgresql"
    cp -a /usr/lib/postgresql/$old_major "$dir$old_prefix/usr/lib/postgresql/" &&
        cp -a /usr/share/postgresql/$old_major "$dir$old_prefix/usr/share/postgresql/" || return 1
    # no JIT: its LLVM is not worth copying
    rm -rf "$lib"/llvmjit* "$lib/bitcode"
    # migrate from this checkout, built here against $old_major
    b=$(mktemp -d /tmp/migrate-old.XXXXXX)
    tar -C "$top" --exclude=.git --exclude='tmp_*' --exclude=results \
        --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=client/pg_migrate \
        -cf - . | tar -C "$b" -xf -
    if ! make -C "$b" -s PG_CONFIG="$pgc" with_llvm=no >/dev/null ||
        ! make -C "$b" -s PG_CONFIG="$pgc" with_llvm=no install DESTDIR="$dir$old_prefix" >/dev/null; then
        rm -rf "$b"
        return 1
    fi
    rm -rf "$b"
    # the shared libraries the root lacks (ICU, LDAP of this release), from
    # here, until nothing is missing; the tests put lib/ on LD_LIBRARY_PATH
    for round in 1 2 3 4 5; do
        missing=$(for f in "$dir$old_install"/bin/* "$lib"/*.so*; do
                      chroot "$dir" env LD_LIBRARY_PATH="$old_install/lib" ldd "${f#"$dir"}" 2>/dev/null
                  done | awk '$2 == "=>" && $3 == "not" {print $1}' | sort -u)
        [ -z "$missing" ] && break
        for name in $missing; do
            path=$(ldconfig -p | awk -v n="$name" '$1 == n && $NF ~ /^\// {print $NF; exit}')
            [ -n "$path" ] || { echo "$name: not on this machine either" >&2; return 1; }
            cp -L "$path" "$lib/"
        done
    done
    [ -z "$missing" ] || { echo "still missing: $missing" >&2; return 1; }
    # and they run there
    for b in initdb postgres pg_ctl psql pg_dump; do
        chroot "$dir" env LD_LIBRARY_PATH="$old_install/lib" "$old_install/bin/$b" --version >/dev/null ||
            { echo "$b of PostgreSQL $old_major does not run in $dir" >&2; return 1; }
    done
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
    old=
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
    # Not on 18: the mirror's PostgreSQL 15 (15.20) stamps every column with
    # a pg_attver option that pg_dump 18 carries over and the 18 server
    # refuses ("unrecognized parameter"), so no database dumped from it
    # restores into 18, with or without migrate.
    if [ "$v" = 17 ] && [[ ,$suites, =~ ,(tap|dump), ]]; then
        echo "== PostgreSQL $v: PostgreSQL $old_major copied in as $old_install (test 023)"
        if provide_old_install "$dir"; then
            old=$old_install
            line="$line, old $old_major ok"
        else
            line="$line, old $old_major FAILED"
            rc=1
        fi
    fi
    for s in ${suites//,/ }; do
        case $s in
            regress) args=(ISOLATION= TAP_TESTS=) ;;
            isolation) args=(REGRESS= TAP_TESTS=) ;;
            tap) args=(REGRESS= ISOLATION=) ;;
            dump) args=(REGRESS= ISOLATION= PROVE_TESTS=test/t/023_dump_across_versions.pl) ;;
            *) echo "unknown suite $s"; rc=1; continue ;;
        esac
        if [ "$s" = dump ] && [ -z "$old" ]; then
            line="$line, dump skipped"
            continue
        fi
        echo "== PostgreSQL $v: $s"
        if run_in "$dir" runuser -u postgres -- env MIGRATE_OLD_INSTALL="$old" \
            make -C "$build" -s PG_CONFIG="$pgc" installcheck "${args[@]}"; then
            line="$line, $s ok"
        else
            line="$line, $s FAILED"
            rc=1
            for d in "$dir$build" "$dir$build/test/isolation"; do
                [ -s "$d/regression.diffs" ] && cat "$d/regression.diffs"
            done
            for f in "$dir$build"/tmp_check/log/regress_log_*; do
                # a failed assertion, or a script that died between two
                [ -f "$f" ] && grep -q -E 'not ok|Looks like your test exited|error running SQL' "$f" &&
                    { echo "== $f"; tail -n 60 "$f"; }
            done
        fi
    done
    [ -z "$dir" ] && rm -rf "$build"
    summary+=("$line")
done

printf '%s\n' "${summary[@]}"
exit $rc
