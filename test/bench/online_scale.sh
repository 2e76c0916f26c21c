#!/bin/bash
# Benchmark: does the time writers queue behind an online migration's start
# and complete grow with the database?  The same online migration (a type
# change and a column of a 10,000-row table) runs on a database holding
# only that table and on one with TABLES more tables (an index each), with
# 2 pgbench writers updating the table; prints each size's longest writer
# wait during the start and during the complete (median of RUNS runs), and
# the ratio of the large database to the small one.
#
#   test/bench/online_scale.sh [TABLES]     (as root; TABLES defaults to 5000)
#   RUNS=3 (default)
set -euo pipefail

TABLES=${1:-5000}
RUNS=${RUNS:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
bench_cluster online_scale "${BENCH_PORT:-5496}" "max_locks_per_transaction = 256"
sql() { PGOPTIONS='-c client_min_messages=warning' as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" \
    -d bench -v ON_ERROR_STOP=1 "$@"; }
as_pg "$bin/createdb" -h /tmp -p "$port" bench
sql -c "CREATE EXTENSION migrate"

cat > "$work/app.sql" <<'APP'
\set id random(1, 10000)
UPDATE orders SET note = 'touched' WHERE id = :id;
APP
chown postgres: "$work/app.sql"

# one online migration while the writers run; prints the longest writer
# transaction (ms) ending during the start, then during the complete
phase_waits() {
    sql -c "DROP TABLE IF EXISTS orders CASCADE" -c "DROP SCHEMA IF EXISTS migrate_public_v2 CASCADE" \
        -c "TRUNCATE migrate.migration, migrate.event, migrate.job, migrate.fingerprint, migrate.fingerprint_object CASCADE" \
        -c "CREATE TABLE orders (id bigint PRIMARY KEY, qty int NOT NULL, price int NOT NULL, note text)" \
        -c "INSERT INTO orders SELECT g, g % 100, g % 1000, 'x' FROM generate_series(1, 10000) g" \
        -c "VACUUM ANALYZE orders"
    sql -c "SELECT migrate_register_online('2', 'qty bigint, total', \$\$[
        {\"alter_column\": {\"table\": \"orders\", \"column\": \"qty\", \"type\": \"bigint\"}},
        {\"add_column\": {\"table\": \"orders\", \"column\": {\"name\": \"total\", \"type\": \"bigint\"},
                         \"up\": \"qty::bigint * price\"}}]\$\$)" >/dev/null
    rm -f "$work"/w.*
    (cd "$work" && as_pg "$bin/pgbench" -n -h /tmp -p "$port" -c 2 -j 2 -T 12 -l --log-prefix=w \
        -f app.sql bench >/dev/null 2>&1) &
    local writers=$!
    sleep 2
    local s1 e1 s2 e2
    s1=$(now); sql -c "SELECT * FROM migrate_upgrade()" >/dev/null; e1=$(now)
    sql -c "SELECT migrate_wait()" >/dev/null
    sleep 1
    s2=$(now); sql -c "SELECT migrate_complete()" >/dev/null; e2=$(now)
    wait "$writers"
    # a transaction waited in a phase when it ended in it or within 0.2 s after
    cat "$work"/w.* | awk -v s1="$s1" -v e1="$e1" -v s2="$s2" -v e2="$e2" '
        { t = $5 + $6 / 1e6; ms = $3 / 1000
          if (t >= s1 && t <= e1 + 0.2 && ms > a) a = ms
          if (t >= s2 && t <= e2 + 0.2 && ms > b) b = ms }
        END { printf "%.1f %.1f\n", a, b }'
}
med() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

measure() {    # $1: label
    local starts=() completes=() a b
    for ((r = 1; r <= RUNS; r++)); do
        read -r a b < <(phase_waits)
        starts+=("$a")
        completes+=("$b")
    done
    small_or_large_start=$(printf '%s\n' "${starts[@]}" | med)
    small_or_large_complete=$(printf '%s\n' "${completes[@]}" | med)
    printf '%-28s %14s %17s   (runs: start %s; complete %s)\n' "$1" "$small_or_large_start" \
        "$small_or_large_complete" "${starts[*]}" "${completes[*]}"
}

printf '%-28s %14s %17s\n' "database" "start wait ms" "complete wait ms"
measure "the table alone"
small_start=$small_or_large_start
small_complete=$small_or_large_complete

sql -c "CREATE SCHEMA app"
for ((b = 0; b < TABLES; b += 500)); do
    sql -c "DO \$\$ BEGIN FOR i IN $b..$((b + 499 < TABLES - 1 ? b + 499 : TABLES - 1)) LOOP
        EXECUTE format('CREATE TABLE app.t%s (id bigint PRIMARY KEY, a int, b text)', i);
        EXECUTE format('CREATE INDEX ON app.t%s (a)', i); END LOOP; END \$\$"
done
sql -c "VACUUM ANALYZE"
measure "with $TABLES more tables"
printf '\nlarge / small: start %.2fx, complete %.2fx (the time writers queue must not grow with the database)\n' \
    "$(echo "$small_or_large_start / $small_start" | bc -l)" \
    "$(echo "$small_or_large_complete / $small_complete" | bc -l)"
