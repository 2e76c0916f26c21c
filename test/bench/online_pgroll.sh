#!/bin/bash
# Benchmark: pgroll's own backfill benchmark (internal/benchmarks in
# xataio/pgroll, BenchmarkBackfill), run with migrate: a users table of
# ROWS rows with a NULL name each, then one online migration that makes
# name NOT NULL with up = a placeholder for NULLs and a comment; start to
# complete, no other load.  pgroll reports rows/s for 10k, 100k and 1M rows;
# so does this, the median of RUNS runs each, with one plain UPDATE of the
# same rows (the floor a backfill cannot beat) for scale.
#
#   test/bench/online_pgroll.sh [RUNS]      (as root; RUNS defaults to 3)
set -euo pipefail

RUNS=${1:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
bench_cluster pgroll "${BENCH_PORT:-5496}" "shared_buffers = 512MB" "max_wal_size = 8GB"
sql() { PGOPTIONS='-c client_min_messages=warning' as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" \
    -d bench -v ON_ERROR_STOP=1 "$@"; }
as_pg "$bin/createdb" -h /tmp -p "$port" bench
sql -c "CREATE EXTENSION migrate"

fresh() {    # $1: rows
    sql -c "DROP TABLE IF EXISTS users CASCADE" \
        -c "DROP SCHEMA IF EXISTS migrate_public_v2 CASCADE" \
        -c "TRUNCATE migrate.migration, migrate.event, migrate.job CASCADE" \
        -c "CREATE TABLE users (id serial PRIMARY KEY, name varchar(255))" \
        -c "INSERT INTO users (name) SELECT NULL FROM generate_series(1, $1)" \
        -c "VACUUM ANALYZE users" -c "CHECKPOINT"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '%-10s %14s %14s %12s %10s\n' rows "migrate s" "migrate rows/s" "UPDATE s" "vs UPDATE"
for rows in ${BENCH_SIZES:-10000 100000 1000000}; do
    m=()
    u=()
    for ((i = 0; i < RUNS; i++)); do
        fresh "$rows"
        sql -c "SELECT migrate_register_online('2', 'users.name not null', \$\$[
            {\"alter_column\": {\"table\": \"users\", \"column\": \"name\", \"nullable\": false,
                               \"up\": \"(SELECT CASE WHEN name IS NULL THEN 'placeholder' ELSE name END)\",
                               \"down\": \"name\", \"comment\": \"the name of the user\"}}]\$\$)" >/dev/null
        s=$(now)
        sql -c "SELECT * FROM migrate_upgrade()" >/dev/null
        sql -c "CALL migrate_await()" >/dev/null
        sql -c "SELECT migrate_complete()" >/dev/null
        e=$(now)
        left=$(sql -c "SELECT count(*) FROM users WHERE name IS DISTINCT FROM 'placeholder'")
        [ "$left" = 0 ] || { echo "$left rows not backfilled" >&2; exit 1; }
        m+=("$(echo "$e - $s" | bc)")
        fresh "$rows"
        s=$(now)
        sql -c "UPDATE users SET name = 'placeholder' WHERE name IS NULL"
        e=$(now)
        u+=("$(echo "$e - $s" | bc)")
    done
    ms=$(printf '%s\n' "${m[@]}" | median)
    us=$(printf '%s\n' "${u[@]}" | median)
    printf '%-10s %14.2f %14.0f %12.2f %9.1fx\n' "$rows" "$ms" "$(echo "$rows / $ms" | bc -l)" "$us" \
        "$(echo "$ms / $us" | bc -l)"
done
echo "(median of $RUNS runs; pgroll's figures come from its CI run of the same scenario)"
