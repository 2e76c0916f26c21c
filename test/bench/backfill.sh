#!/bin/bash
# Benchmark: migrate_backfill against one plain UPDATE of the same rows (the
# floor) and a client-side keyset loop, and the latency of a concurrent
# pgbench workload on the same table without and during the backfill.
#
#   test/bench/backfill.sh [ROWS]        (as root; ROWS defaults to 1000000)
#
# Prints tables of times, ratios and latencies, and writes
# docs/backfill-latency-default.png and docs/backfill-latency-gentle.png:
# pgbench latency over time, the backfill window shaded.
set -euo pipefail

ROWS=${1:-1000000}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
BENCH_PACKAGES=gnuplot bench_cluster backfill "${BENCH_PORT:-5496}" \
    "shared_buffers = 512MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min"
sql() { as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }

as_pg "$bin/createdb" -h /tmp -p "$port" bench
sql -c "CREATE EXTENSION migrate"

# the same fresh table for every variant
fresh_table() {
    sql -c "DROP TABLE IF EXISTS items" \
        -c "CREATE TABLE items (id bigint PRIMARY KEY, a int NOT NULL, b int, filler text)" \
        -c "INSERT INTO items SELECT g, g % 1000, NULL, repeat('x', 60) FROM generate_series(1, $ROWS) g" \
        -c "VACUUM ANALYZE items" -c "CHECKPOINT"
}
check() {
    local wrong
    wrong=$(sql -c "SELECT count(*) FROM items WHERE b IS DISTINCT FROM a * 2")
    [ "$wrong" = 0 ] || { echo "$1 left $wrong rows wrong" >&2; exit 1; }
}

echo "== $ROWS rows: one UPDATE (the floor)"
fresh_table
s=$(now); sql -c "UPDATE items SET b = a * 2"; e=$(now)
floor=$(echo "$e - $s" | bc); check floor

echo "== migrate_backfill"
fresh_table
s=$(now)
job=$(sql -c "SELECT migrate_backfill('items', 'b = a * 2')")
sql -c "SELECT migrate_wait()" >/dev/null
e=$(now)
backfill=$(echo "$e - $s" | bc); check migrate_backfill
batches=$(sql -c "SELECT args->>'batches' FROM migrate.job WHERE id = $job")
longest=$(sql -c "SELECT args->>'longest_batch_ms' FROM migrate.job WHERE id = $job")

echo "== client-side keyset loop, 1000-row batches, one psql connection"
fresh_table
awk -v n="$ROWS" 'BEGIN { for (lo = 0; lo < n; lo += 1000)
    printf "UPDATE items SET b = a * 2 WHERE id > %d AND id <= %d;\n", lo, lo + 1000 }' > "$work/loop.sql"
chown postgres: "$work/loop.sql"
s=$(now); sql -f "$work/loop.sql" >/dev/null; e=$(now)
loop=$(echo "$e - $s" | bc); check "client loop"

# pgbench on the same table: a point read and a point update of another column
cat > "$work/app.sql" <<APP
\set id random(1, $ROWS)
SELECT a, b FROM items WHERE id = :id;
UPDATE items SET filler = filler WHERE id = :id;
APP
chown postgres: "$work/app.sql"
pgbench_run() {
    (cd "$work" && as_pg "$bin/pgbench" -n -h /tmp -p "$port" -c 4 -j 2 -T "$1" -l \
        --log-prefix="$2" -f app.sql bench >/dev/null 2>&1)
}
latency() {    # p50 and p99 in ms of the transactions between two epochs
    cat "$work"/"$1".* | awk -v from="$2" -v to="$3" '
        { t = $5 + $6 / 1e6; if (t >= from && t <= to) print $3 / 1000 }' |
        sort -g | awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "- -"; exit }
            printf "%.2f %.2f\n", v[int(NR * 0.50) + 1], v[int(NR * 0.99) + 1] }'
}

# pgbench for 30 s, a backfill from the 8th second on, with these settings;
# the latency without it is measured in the same run, before and after it
during() {
    local name=$1 settings=$2 bs be job t_start t_end
    fresh_table
    t_start=$(now)
    pgbench_run 30 "$name" &
    local bench_pid=$!
    sleep 8
    bs=$(now)
    job=$(sql -c "$settings SELECT migrate_backfill('items', 'b = a * 2')")
    sql -c "SELECT migrate_wait()" >/dev/null
    be=$(now)
    wait $bench_pid
    t_end=$(now)
    check "backfill under load ($name)"
    read -r p50 p99 < <(latency "$name" "$bs" "$be")
    # without: the same run, from its 2nd second to the backfill, and after it
    read -r out_p50 out_p99 < <(cat "$work"/"$name".* | awk -v a="$(echo "$t_start + 2" | bc)" \
        -v b="$bs" -v c="$be" -v d="$t_end" '
        { t = $5 + $6 / 1e6; if ((t >= a && t < b) || (t > c && t <= d)) print $3 / 1000 }' |
        sort -g | awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int(NR * 0.50) + 1], v[int(NR * 0.99) + 1] }')
    took=$(echo "$be - $bs" | bc | sed 's/^\./0./')
    longest_load=$(sql -c "SELECT args->>'longest_batch_ms' FROM migrate.job WHERE id = $job")

    # the plot: per-transaction latency, backfill window shaded
    local t0 from to
    t0=$(cat "$work"/"$name".* | awk 'NR == 1 || $5 < m { m = $5 } END { print m }')
    cat "$work"/"$name".* | awk -v t0="$t0" '{ print ($5 + $6 / 1e6) - t0, $3 / 1000 }' |
        sort -g > "$work/$name.dat"
    from=$(echo "$bs - $t0" | bc); to=$(echo "$be - $t0" | bc)
    gnuplot <<PLOT
set terminal pngcairo size 1000,450
set output "$top/docs/backfill-latency-$name.png"
set title "pgbench latency on the table being backfilled ($ROWS rows, 4 clients; $name: $settings)" noenhanced
set xlabel "seconds"
set ylabel "transaction latency (ms)"
set logscale y
set yrange [0.1:1000]
set object 1 rect from $from, graph 0 to $to, graph 1 fc rgb "#ffe0a0" fs solid 0.5 behind
set label 1 "migrate_backfill" at $from, graph 0.95 offset 1,0 noenhanced
plot "$work/$name.dat" using 1:2 with dots lc rgb "#1f4e9a" title "transactions"
PLOT
}

echo "== pgbench during migrate_backfill, default settings"
during default ""
def_p50=$p50; def_p99=$p99; def_took=$took; def_longest=$longest_load
def_out_p50=$out_p50; def_out_p99=$out_p99
echo "== pgbench during migrate_backfill, gentle settings"
during gentle "SET migrate.batch_target = '10ms'; SET migrate.batch_delay = '10ms';"
gen_p50=$p50; gen_p99=$p99; gen_took=$took; gen_longest=$longest_load
gen_out_p50=$out_p50; gen_out_p99=$out_p99

ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
printf '\n%d rows, PostgreSQL %s, %s cores\n\n' "$ROWS" "$PG_MAJOR" "$(nproc)"
printf '| %-46s | %8s | %8s |\n' "how" "seconds" "vs floor"
printf '|%s|%s|%s|\n' "------------------------------------------------" "----------" "----------"
printf '| %-46s | %8.2f | %8s |\n' "one UPDATE of all rows (floor)" "$floor" "1.00"
printf '| %-46s | %8.2f | %8s |\n' "migrate_backfill ($batches batches)" "$backfill" "$(ratio "$backfill" "$floor")"
printf '| %-46s | %8.2f | %8s |\n' "client keyset loop, 1000-row batches" "$loop" "$(ratio "$loop" "$floor")"
printf '\nmigrate_backfill vs the client loop: %sx the time\n' "$(ratio "$backfill" "$loop")"
printf 'longest batch: %s ms alone\n' "$longest"
printf '\npgbench (4 clients, point read + update of the same table), latency without the\n'
printf 'backfill measured in the same run, before and after it\n'
printf '| %-44s | %12s | %12s | %11s | %8s | %8s |\n' "settings" "p50 ms w/o" "p99 ms w/o" "p50 during" "p99 during" "p99 x"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "--------------" "--------------" "-------------" "----------" "----------"
printf '| %-44s | %12s | %12s | %11s | %8s | %8s |\n' "defaults (took $(printf %.1f "$def_took") s, longest batch $def_longest ms)" "$def_out_p50" "$def_out_p99" "$def_p50" "$def_p99" "$(ratio "$def_p99" "$def_out_p99")"
printf '| %-44s | %12s | %12s | %11s | %8s | %8s |\n' "target 10ms, delay 10ms ($(printf %.1f "$gen_took") s, $gen_longest ms)" "$gen_out_p50" "$gen_out_p99" "$gen_p50" "$gen_p99" "$(ratio "$gen_p99" "$gen_out_p99")"
echo "plots: docs/backfill-latency-default.png, docs/backfill-latency-gentle.png"
