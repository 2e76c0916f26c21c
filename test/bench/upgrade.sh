#!/bin/bash
# Benchmark: deploying 1000 small migrations.
#
#   [RUNS=3] [BENCH_PORT=5497] test/bench/upgrade.sh [N]   (as root; N: 1000)
#
# Two workloads: "tiny" migrations that only touch the catalog (a function
# and its comment), where per-migration overhead shows, and "ddl" ones that
# create a table with an index and insert a row, where file creation
# dominates.  Compares, on a throwaway cluster, the time to apply the same N
# migrations with:
#   floor    the same statements in one file, psql -1 -f (one transaction)
#   migrate  N migrate_register calls in one transaction (one psql -1 -f),
#            then SELECT migrate_upgrade() (a second psql), what a deploy step
#            does; also the upgrade alone.  CREATE EXTENSION migrate runs
#            before the clock starts.
#   dbmate   dbmate up on N migration files (npm package dbmate)
# All three connect over the same Unix socket (/tmp, port $BENCH_PORT).
# Every case runs $RUNS (3) times on a fresh database; the median is reported.
set -euo pipefail

N=${1:-1000}
RUNS=${RUNS:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
BENCH_PACKAGES=npm bench_cluster upgrade "${BENCH_PORT:-5497}"
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

# migration i of a workload: its up and down SQL
migration() {
    local i=$1
    case $workload in
        ddl)  up="CREATE TABLE t_$i (id int PRIMARY KEY, v text); CREATE INDEX t_${i}_v ON t_$i (v); INSERT INTO t_$i VALUES ($i, 'row $i');"
              down="DROP TABLE t_$i;" ;;
        tiny) up="CREATE FUNCTION f_$i() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $i'; COMMENT ON FUNCTION f_$i() IS 'migration $i';"
              down="DROP FUNCTION f_$i();" ;;
    esac
}

bench_workload() {
    local dir="$work/$workload"
    mkdir -p "$dir/db/migrations"
    : > "$dir/plain.sql"
    : > "$dir/register.sql"
    for i in $(seq 1 "$N"); do
        migration "$i"
        echo "$up" >> "$dir/plain.sql"
        echo "SELECT migrate_register('$i', 'migration $i', \$m\$$up\$m\$, \$m\$$down\$m\$);" >> "$dir/register.sql"
        printf -- '-- migrate:up\n%s\n\n-- migrate:down\n%s\n' "$up" "$down" \
            > "$dir/db/migrations/$(printf '%06d' "$i")_migration_$i.sql"
    done
    echo "SELECT count(*) FROM migrate_upgrade();" > "$dir/upgrade.sql"
    chown -R postgres: "$dir"

    declare -A t med
    for run in $(seq 1 "$RUNS"); do
        fresh_db
        s=$(now); psql_pg -d bench -1 -v ON_ERROR_STOP=1 -f "$dir/plain.sql" >/dev/null; e=$(now)
        t[floor]+="$(echo "$e - $s" | bc) "

        fresh_db
        psql_pg -d bench -c "CREATE EXTENSION migrate"
        # registration runs migrate.check: its NOTICEs (integer keys) go to a log
        s=$(now)
        psql_pg -d bench -1 -v ON_ERROR_STOP=1 -f "$dir/register.sql" >/dev/null 2>"$dir/register.log" ||
            { cat "$dir/register.log" >&2; exit 1; }
        m=$(now)
        psql_pg -d bench -v ON_ERROR_STOP=1 -f "$dir/upgrade.sql" >/dev/null; e=$(now)
        t[migrate]+="$(echo "$e - $s" | bc) "
        t[upgrade]+="$(echo "$e - $m" | bc) "
        [ "$(psql_pg -d bench -Atc "SELECT count(*) FROM migrate.migration WHERE state = 'applied'")" = "$N" ]

        fresh_db
        s=$(now)
        "$dbmate" --url "$dbmate_url" \
            --no-dump-schema --migrations-dir "$dir/db/migrations" up >/dev/null
        e=$(now)
        t[dbmate]+="$(echo "$e - $s" | bc) "
        [ "$(psql_pg -d bench -Atc "SELECT count(*) FROM schema_migrations")" = "$N" ]
    done
    for k in floor migrate upgrade dbmate; do
        med[$k]=$(echo ${t[$k]} | tr ' ' '\n' | median)
    done

    printf '\nworkload "%s": %d migrations of %s\nmedian of %d runs, PostgreSQL %s\n\n' \
        "$workload" "$N" "$1" "$RUNS" "$PG_MAJOR"
    printf '| %-44s | %8s | %8s | %9s |\n' "how" "seconds" "vs floor" "vs dbmate"
    printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "----------" "----------" "-----------"
    for k in floor migrate upgrade dbmate; do
        case $k in
            floor)   label="psql -1 -f, the same statements (floor)" ;;
            migrate) label="migrate: register all (psql -1) + upgrade" ;;
            upgrade) label="migrate: migrate_upgrade() alone" ;;
            dbmate)  label="dbmate up" ;;
        esac
        printf '| %-44s | %8.3f | %8s | %9s |\n' "$label" "${med[$k]}" \
            "$(ratio "${med[$k]}" "${med[floor]}")" "$(ratio "${med[$k]}" "${med[dbmate]}")"
    done
}

workload=tiny bench_workload "CREATE FUNCTION + COMMENT (catalog only)"
workload=ddl  bench_workload "CREATE TABLE + CREATE INDEX + INSERT"
