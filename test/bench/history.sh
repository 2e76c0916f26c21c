#!/bin/bash
# Benchmark: deploying a long history on default settings (issue 17).
#
#   [RUNS=3] [BENCH_PORT=5493] [ONE_TX=1] test/bench/history.sh [SIZES...]
#       (as root; SIZES: 1000 5000 20000)
#
# For each size N, two workloads: "tables", N migrations that each create a
# table with a primary key and an index (sizes up to 5000), and "catalog",
# N that each create a function and comment on it (sizes up to 20000).  On
# a throwaway cluster with default settings (max_locks_per_transaction 64),
# the time per migration of:
#   psql     the same statements, psql -f without -1: a transaction per
#            statement, as dbmate's transaction per file
#   migrate  N migrate_register calls in one transaction (psql -1 -f), then
#            CALL migrate_deploy() (a second psql): what pg_migrate deploy
#            does with more than --batch pending; also the CALL alone.
#            CREATE EXTENSION migrate runs before the clock starts.
#   dbmate   dbmate up on N migration files (npm package dbmate)
# Every case runs $RUNS (3) times on a fresh database; the median is
# reported.  With ONE_TX=1 (the default) each size also tries once
# SELECT migrate_upgrade(), every migration in one transaction, and says
# whether it fits in the shared lock table.
set -euo pipefail

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 5000 20000)
RUNS=${RUNS:-3}
ONE_TX=${ONE_TX:-1}
TABLES_MAX=5000
CATALOG_MAX=20000
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
BENCH_PACKAGES=npm bench_cluster history "${BENCH_PORT:-5493}"
psql_pg() { as_pg "$bin/psql" -X -q -h /tmp -p "$port" "$@"; }

# dbmate comes from npm; Debian's nodejs and npm run it
(cd "$work" && npm install --silent --no-audit --no-fund dbmate >/dev/null 2>&1)
dbmate="$work/node_modules/.bin/dbmate"
# the Unix socket psql uses (dbmate's socket parameter), not TCP
dbmate_url="postgres://postgres@/bench?socket=/tmp&port=$port&sslmode=disable"
chown -R postgres: "$work"

fresh_db() {
    psql_pg -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
per_migration() { echo "scale=3; $1 * 1000 / $N" | bc | sed 's/^\./0./'; }

# the files of a workload: the plain statements, the registrations, and
# dbmate's directory, written by one awk each (20000 files)
write_workload() {
    local dir=$1
    rm -rf "$dir"
    mkdir -p "$dir/db/migrations"
    awk -v n="$N" -v w="$workload" -v dir="$dir" '
        function sql(i) {
            if (w == "tables") {
                up = sprintf("CREATE TABLE t_%d (id int PRIMARY KEY, v text); CREATE INDEX t_%d_v ON t_%d (v);", i, i, i)
                down = sprintf("DROP TABLE t_%d;", i)
            } else {
                up = sprintf("CREATE FUNCTION f_%d() RETURNS int LANGUAGE sql IMMUTABLE AS '\''SELECT %d'\''; COMMENT ON FUNCTION f_%d() IS '\''migration %d'\'';", i, i, i, i)
                down = sprintf("DROP FUNCTION f_%d();", i)
            }
        }
        BEGIN {
            for (i = 1; i <= n; i++) {
                sql(i)
                print up > (dir "/plain.sql")
                printf "SELECT migrate_register('\''%d'\'', '\''migration %d'\'', $m$%s$m$, $m$%s$m$);\n", i, i, up, down > (dir "/register.sql")
                f = sprintf("%s/db/migrations/%06d_migration_%d.sql", dir, i, i)
                printf "-- migrate:up\n%s\n\n-- migrate:down\n%s\n", up, down > f
                close(f)
            }
        }'
    chown -R postgres: "$dir"
}

# register all (one transaction); the clock is the caller's
register_all() {
    psql_pg -d bench -c "CREATE EXTENSION migrate"
    # registration runs migrate.check: its NOTICEs (integer keys) go to a log
    psql_pg -d bench -1 -v ON_ERROR_STOP=1 -f "$dir/register.sql" >/dev/null 2>"$dir/register.log" ||
        { cat "$dir/register.log" >&2; exit 1; }
}

bench_workload() {
    local label=$1
    local dir="$work/$workload"
    local one_tx="not tried"
    write_workload "$dir"

    declare -A t med
    for run in $(seq 1 "$RUNS"); do
        fresh_db
        s=$(now); psql_pg -d bench -v ON_ERROR_STOP=1 -f "$dir/plain.sql" >/dev/null; e=$(now)
        t[psql]+="$(echo "$e - $s" | bc) "

        fresh_db
        s=$(now)
        register_all
        m=$(now)
        psql_pg -d bench -v ON_ERROR_STOP=1 -c "CALL migrate_deploy()" >/dev/null 2>"$dir/deploy.log" ||
            { cat "$dir/deploy.log" >&2; exit 1; }
        e=$(now)
        t[migrate]+="$(echo "$e - $s" | bc) "
        t[deploy]+="$(echo "$e - $m" | bc) "
        [ "$(psql_pg -d bench -Atc "SELECT count(*) FROM migrate.migration WHERE state = 'applied'")" = "$N" ]

        fresh_db
        s=$(now)
        "$dbmate" --url "$dbmate_url" \
            --no-dump-schema --migrations-dir "$dir/db/migrations" up >/dev/null
        e=$(now)
        t[dbmate]+="$(echo "$e - $s" | bc) "
        [ "$(psql_pg -d bench -Atc "SELECT count(*) FROM schema_migrations")" = "$N" ]
    done
    for k in psql migrate deploy dbmate; do
        med[$k]=$(echo ${t[$k]} | tr ' ' '\n' | median)
    done

    # one transaction: does the whole history fit in the lock table?
    if [ "$ONE_TX" = 1 ]; then
        fresh_db
        register_all
        s=$(now)
        if psql_pg -d bench -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM migrate_upgrade()" \
                >/dev/null 2>"$dir/upgrade.log"; then
            e=$(now)
            one_tx="$(per_migration "$(echo "$e - $s" | bc)") ms/migration"
        else
            one_tx="fails: $(sed -n 's/^ERROR:  //p' "$dir/upgrade.log" | head -1)"
            one_tx+="$(sed -n 's/.*migration \([0-9]*\) ".*/ at migration \1/p' "$dir/upgrade.log" | head -1)"
        fi
    fi

    printf '\nworkload "%s": %d migrations of %s\n' "$workload" "$N" "$label"
    printf 'median of %d runs, PostgreSQL %s, max_locks_per_transaction %s\n\n' "$RUNS" "$PG_MAJOR" \
        "$(psql_pg -d postgres -Atc 'SHOW max_locks_per_transaction')"
    printf '| %-46s | %8s | %12s | %7s | %9s |\n' "how" "seconds" "ms/migration" "vs psql" "vs dbmate"
    printf '|%s|%s|%s|%s|%s|\n' "------------------------------------------------" "----------" \
        "--------------" "---------" "-----------"
    for k in psql migrate deploy dbmate; do
        case $k in
            psql)    label="psql -f, a transaction per statement" ;;
            migrate) label="migrate: register all + CALL migrate_deploy()" ;;
            deploy)  label="migrate: CALL migrate_deploy() alone" ;;
            dbmate)  label="dbmate up" ;;
        esac
        printf '| %-46s | %8.3f | %12s | %7s | %9s |\n' "$label" "${med[$k]}" \
            "$(per_migration "${med[$k]}")" \
            "$(ratio "${med[$k]}" "${med[psql]}")" "$(ratio "${med[$k]}" "${med[dbmate]}")"
    done
    printf '\nSELECT migrate_upgrade(), all in one transaction (1 run): %s\n' "$one_tx"
}

for N in "${SIZES[@]}"; do
    if [ "$N" -le "$TABLES_MAX" ]; then
        workload=tables bench_workload "CREATE TABLE (id int PRIMARY KEY, v text) + CREATE INDEX"
    fi
    if [ "$N" -le "$CATALOG_MAX" ]; then
        workload=catalog bench_workload "CREATE FUNCTION + COMMENT (catalog only)"
    fi
done
