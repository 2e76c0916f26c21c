#!/bin/bash
# Benchmark: migrate_backfill against one plain UPDATE of the same rows (the
# floor) and a client-side keyset loop, and the latency of a concurrent
# pgbench workload on the same table without and during the backfill.
#
#   [RUNS=3] test/bench/backfill.sh [ROWS]   (as root; ROWS defaults to 1000000)
#   [RUNS=3] test/bench/backfill.sh --scale [ROWS...]
#                                        (ROWS: 1000000 4000000 10000000)
#
# The client loop does what client tools such as pgroll do: one autocommit
# statement per 1000-row batch, keyed on the last id the previous batch
# returned, sent over one psql connection (a coprocess), each batch waiting
# for the previous one's answer.
#
# The floor and the backfill alone run RUNS (3) times, alternating, and so
# do pgbench with a backfill in it and the control (pgbench with a CPU
# burner instead); the client loop runs once.  Prints tables of times,
# ratios and latencies (each run's, and the medians), whether the targets
# are met, and writes doc/backfill-latency-default.png: pgbench latency
# over time in the last run, the backfill window shaded.
#
# --scale: how the cost grows with the table.  For each size, alone on the
# cluster, the floor and migrate_backfill (call to migrate_wait) each run
# $RUNS times on a fresh table, alternating; printed are the medians of
# their times (with rows/s) and of the WAL each wrote (pg_current_wal_insert_lsn
# before and after: the table's rows, its index, migrate's catalog rows,
# and whatever autovacuum did meanwhile), each against the floor's, and the
# peak memory of the process doing the work, sampled from /proc every 50 ms:
# the backfill's worker (the job's background worker, a child of the
# postmaster titled "migrate job N") and the backend running the UPDATE.
# RssAnon is its private memory; VmHWM, the peak resident set, also counts
# the shared buffers it touched.  A run during which a checkpoint started is
# marked (its WAL holds full-page images the others do not).  Writes the
# medians to doc/scale-backfill.dat and redraws doc/scale.png
# (test/bench/scale_plot.sh; with catalog.sh's panel if doc/scale-catalog.dat
# is there).
set -euo pipefail

SCALE=()
if [ "${1:-}" = --scale ]; then
    shift
    SCALE=("$@")
    [ ${#SCALE[@]} -gt 0 ] || SCALE=(1000000 4000000 10000000)
    ROWS=${SCALE[0]}
else
    ROWS=${1:-1000000}
fi
RUNS=${RUNS:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
. "$top/test/bench/scale_plot.sh"
# WAL of the largest size must fit before max_wal_size starts a checkpoint
BENCH_PACKAGES=gnuplot bench_cluster backfill "${BENCH_PORT:-5496}" \
    "shared_buffers = 512MB" "checkpoint_timeout = 30min" \
    "max_wal_size = $([ ${#SCALE[@]} -gt 0 ] && echo 32GB || echo 8GB)"
sql() { as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" -d bench -v ON_ERROR_STOP=1 "$@"; }

as_pg "$bin/createdb" -h /tmp -p "$port" bench
sql -c "CREATE EXTENSION migrate"

# the same fresh table for every variant
fresh_table() {
    sql -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS items" \
        -c "CREATE TABLE items (id bigint PRIMARY KEY, a int NOT NULL, b int, filler text)" \
        -c "INSERT INTO items SELECT g, g % 1000, NULL, repeat('x', 60) FROM generate_series(1, $ROWS) g" \
        -c "VACUUM ANALYZE items" -c "CHECKPOINT"
}
check() {
    local wrong
    wrong=$(sql -c "SELECT count(*) FROM items WHERE b IS DISTINCT FROM a * 2")
    [ "$wrong" = 0 ] || { echo "$1 left $wrong rows wrong" >&2; exit 1; }
}

if [ ${#SCALE[@]} -gt 0 ]; then
    . "$top/test/bench/backfill_scale.sh"
    backfill_scale
    exit 0
fi

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
floors=()
backfills=()
for ((r = 1; r <= RUNS; r++)); do
    echo "== $ROWS rows, run $r of $RUNS: one UPDATE (the floor)"
    fresh_table
    s=$(now); sql -c "UPDATE items SET b = a * 2"; e=$(now)
    floors+=("$(echo "$e - $s" | bc)"); check floor

    echo "== $ROWS rows, run $r of $RUNS: migrate_backfill, alone"
    fresh_table
    s=$(now)
    job=$(sql -c "SELECT migrate_backfill('items', 'b = a * 2')")
    sql -c "SET client_min_messages = warning" -c "SELECT migrate_wait()" >/dev/null
    e=$(now)
    backfills+=("$(echo "$e - $s" | bc)"); check migrate_backfill
    batches=$(sql -c "SELECT args->>'batches' FROM migrate.job WHERE id = $job")
    longest=$(sql -c "SELECT args->>'longest_batch_ms' FROM migrate.job WHERE id = $job")
    pauses=$(sql -c "SELECT args->>'pauses' FROM migrate.job WHERE id = $job")
    echo "   floor ${floors[-1]} s, migrate_backfill ${backfills[-1]} s ($batches batches, $pauses pauses)"
done
floor=$(printf '%s\n' "${floors[@]}" | median)
backfill=$(printf '%s\n' "${backfills[@]}" | median)

echo "== client-side keyset loop, 1000-row batches, one psql connection"
# Each batch is one autocommit statement that locks and updates the next 1000
# keys after the last one and returns the new last key; the client reads it
# before it sends the next batch, until the answer is NULL (an empty line).
# psql flushes each result when its output is a pipe, so one line comes back
# per batch.  The client keeps the default synchronous_commit (on).
fresh_table
keyset_loop() {
    local last="" cond line to from pid
    coproc LOOP { as_pg "$bin/psql" -X -At -q -h /tmp -p "$port" -d bench -v ON_ERROR_STOP=1; }
    to=${LOOP[1]} from=${LOOP[0]} pid=$LOOP_PID
    echo "SELECT 'ready';" >&"$to"          # connected before the clock starts
    read -r line <&"$from" && [ "$line" = ready ] || { echo "client loop: psql did not start" >&2; exit 1; }
    loop_batches=0
    s=$(now)
    while :; do
        if [ -z "$last" ]; then cond=true; else cond="id > $last"; fi
        printf '%s\n' "WITH batch AS (SELECT id FROM items WHERE $cond ORDER BY id LIMIT 1000 FOR NO KEY UPDATE), upd AS (UPDATE items SET b = a * 2 FROM batch WHERE items.id = batch.id RETURNING items.id) SELECT max(id) FROM upd;" >&"$to"
        read -r last <&"$from" || { echo "client loop: psql ended after $loop_batches batches" >&2; exit 1; }
        [ -n "$last" ] || break
        loop_batches=$((loop_batches + 1))
    done
    e=$(now)
    exec {to}>&-                            # psql ends at the end of its input
    wait "$pid"
}
keyset_loop
loop=$(echo "$e - $s" | bc); check "client loop"

# pgbench on the same table: a point read and a point update of another column
cat > "$work/app.sql" <<APP
\set id random(1, $ROWS)
SELECT a, b FROM items WHERE id = :id;
UPDATE items SET filler = filler WHERE id = :id;
APP
chown postgres: "$work/app.sql"
pgbench_run() {    # SECONDS NAME: logs every transaction to $work/log-NAME.*
    (cd "$work" && as_pg "$bin/pgbench" -n -h /tmp -p "$port" -c 4 -j 2 -T "$1" -l \
        --log-prefix="log-$2" -f app.sql bench >/dev/null 2>&1)
}
percentiles() {    # latencies in ms, one a line, to "p50 p99" ("- -" if none)
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- -"; exit }
        printf "%.2f %.2f\n", v[int(NR * 0.50) + 1], v[int(NR * 0.99) + 1] }'
}
ceil3x() { echo "$1 * 3" | bc | awk '{ printf "%d\n", $1 + 1 }'; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# pgbench for SECONDS, a backfill from its 12th second on with these
# settings; the latency without it is measured in the same run, from its 2nd
# second to the backfill (after it, autovacuum cleans up the dead rows the
# backfill left: that is visible in the plot, and not counted as "without")
during() {
    local name=$1 seconds=$2 settings=$3 bs be job t_start t_end bench_pid
    fresh_table
    t_start=$(now)
    pgbench_run "$seconds" "$name" &
    bench_pid=$!
    sleep 12
    bs=$(now)
    job=$(sql -c "$settings SELECT migrate_backfill('items', 'b = a * 2')")
    sql -c "SET client_min_messages = warning" -c "SELECT migrate_wait()" >/dev/null
    be=$(now)
    wait $bench_pid
    t_end=$(now)
    check "backfill under load ($name)"
    if [ "$(echo "$be > $t_start + $seconds - 3" | bc)" = 1 ]; then
        echo "warning: the backfill ($name) ended less than 3 s before pgbench did" >&2
    fi
    read -r p50 p99 < <(cat "$work"/log-"$name".* | awk -v from="$bs" -v to="$be" '
        { t = $5 + $6 / 1e6; if (t >= from && t <= to) print $3 / 1000 }' | percentiles)
    read -r out_p50 out_p99 < <(cat "$work"/log-"$name".* | awk -v a="$(echo "$t_start + 2" | bc)" \
        -v b="$bs" '{ t = $5 + $6 / 1e6; if (t >= a && t < b) print $3 / 1000 }' | percentiles)
    took=$(echo "$be - $bs" | bc | sed 's/^\./0./')
    longest_load=$(sql -c "SELECT args->>'longest_batch_ms' FROM migrate.job WHERE id = $job")
    pauses_load=$(sql -c "SELECT args->>'pauses' || ' pauses, ' || (args->>'paused_ms') || ' ms' FROM migrate.job WHERE id = $job")

    # the plot: per-transaction latency, backfill window shaded
    local t0 from to
    t0=$(cat "$work"/log-"$name".* | awk 'NR == 1 || $5 < m { m = $5 } END { print m }')
    cat "$work"/log-"$name".* | awk -v t0="$t0" '{ print ($5 + $6 / 1e6) - t0, $3 / 1000 }' |
        sort -g > "$work/plot-$name.dat"
    from=$(echo "$bs - $t0" | bc); to=$(echo "$be - $t0" | bc)
    gnuplot <<PLOT
set terminal pngcairo size 1000,450
set output "$top/doc/backfill-latency-$name.png"
set title "pgbench latency during migrate_backfill ($ROWS rows, 4 clients; $name${settings:+: $settings})" noenhanced
set xlabel "seconds"
set ylabel "transaction latency (ms)"
set logscale y
set yrange [0.1:1000]
set object 1 rect from $from, graph 0 to $to, graph 1 fc rgb "#ffe0a0" fs solid 0.5 behind
set label 1 "migrate_backfill" at $from, graph 0.95 offset 1,0 noenhanced
plot "$work/plot-$name.dat" using 1:2 with dots lc rgb "#1f4e9a" title "transactions"
PLOT
}

# The control: the same pgbench run, with a process that only burns one CPU
# (yes > /dev/null) for as long as the default backfill took, in its place.
# On a machine whose cores pgbench already keeps busy, this shows what any
# CPU-bound work next to it costs the workload's tail latency.
burner() {
    local seconds=$1 length=$2 t_start bs be bench_pid
    t_start=$(now)
    pgbench_run "$seconds" burner &
    bench_pid=$!
    sleep 12
    bs=$(now)
    timeout "$length" yes >/dev/null || true
    be=$(now)
    wait $bench_pid
    read -r p50 p99 < <(cat "$work"/log-burner.* | awk -v from="$bs" -v to="$be" '
        { t = $5 + $6 / 1e6; if (t >= from && t <= to) print $3 / 1000 }' | percentiles)
    read -r out_p50 out_p99 < <(cat "$work"/log-burner.* | awk -v a="$(echo "$t_start + 2" | bc)" \
        -v b="$bs" '{ t = $5 + $6 / 1e6; if (t >= a && t < b) print $3 / 1000 }' | percentiles)
}

# RUNS times: pgbench with a backfill (default settings) in it, then the
# control, pgbench with a CPU burner for as long as that backfill took; the
# p99 ratios of each are taken per run (each against the p99 of its own
# first seconds), and their medians reported.  Each run is long enough for
# the backfill to end inside it, with seconds to spare: three times what it
# took alone.
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
secs=$(max 40 $((16 + $(ceil3x "$backfill"))))
def_rows=()
cpu_rows=()
def_ratios=()
cpu_ratios=()
def_tooks=()
for ((r = 1; r <= RUNS; r++)); do
    echo "== run $r of $RUNS: pgbench ${secs} s, migrate_backfill with default settings"
    during default "$secs" ""
    def_tooks+=("$took")
    def_ratios+=("$(ratio "$p99" "$out_p99")")
    def_rows+=("| run $r: defaults (took $(printf %.1f "$took") s, $pauses_load paused, longest batch $longest_load ms) | $out_p50 | $out_p99 | $p50 | $p99 | ${def_ratios[-1]} |")
    echo "   ${def_rows[-1]}"
    echo "== run $r of $RUNS: pgbench 30 s, a CPU burner for $(printf %.1f "$took") s"
    burner 30 "$took"
    cpu_ratios+=("$(ratio "$p99" "$out_p99")")
    cpu_rows+=("| run $r: control, a CPU burner (yes) for $(printf %.1f "$took") s | $out_p50 | $out_p99 | $p50 | $p99 | ${cpu_ratios[-1]} |")
    echo "   ${cpu_rows[-1]}"
done
def_ratio=$(printf '%s\n' "${def_ratios[@]}" | median)
cpu_ratio=$(printf '%s\n' "${cpu_ratios[@]}" | median)
def_took=$(printf '%s\n' "${def_tooks[@]}" | median)

ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
met() {    # A <= B: "met" or "not met"
    case "$1$2" in *-*) echo "n/a"; return ;; esac
    if [ "$(echo "$1 <= $2" | bc)" = 1 ]; then echo met; else echo "not met"; fi
}
printf '\n%d rows, PostgreSQL %s, %s cores; medians of %d runs\n\n' "$ROWS" "$PG_MAJOR" "$(nproc)" "$RUNS"
printf '| %-50s | %8s | %8s |\n' "how" "seconds" "vs floor"
printf '|%s|%s|%s|\n' "----------------------------------------------------" "----------" "----------"
printf '| %-50s | %8.2f | %8s |\n' "one UPDATE of all rows (floor)" "$floor" "1.00"
printf '| %-50s | %8.2f | %8s |\n' "migrate_backfill, alone ($batches batches)" "$backfill" "$(ratio "$backfill" "$floor")"
printf '| %-50s | %8.2f | %8s |\n' "client keyset loop ($loop_batches batches of 1000 rows)" "$loop" "$(ratio "$loop" "$floor")"
printf '\nmigrate_backfill vs the client loop: %sx the time (one run of the loop)\n' "$(ratio "$backfill" "$loop")"
printf 'runs: floor %s s; migrate_backfill %s s\n' "$(printf '%.2f ' "${floors[@]}")" "$(printf '%.2f ' "${backfills[@]}")"
printf 'target migrate_backfill <= 1.15x the floor: %s\n' "$(met "$backfill" "$(echo "1.15 * $floor" | bc)")"
printf 'target migrate_backfill <= 0.7x the client loop: %s\n' "$(met "$backfill" "$(echo "0.7 * $loop" | bc)")"
printf 'note: migrate_backfill commits its batches with synchronous_commit = off (safe:\n'
printf 'a batch and its position commit together); the client loop commits each batch\n'
printf 'durably (synchronous_commit = on), as a client tool does\n'
printf '\npgbench (4 clients, point read + update of the same table), latency without the\n'
printf 'backfill measured in the same run, before it (ms)\n'
printf '| %s | %s | %s | %s | %s | %s |\n' "run" "p50 w/o" "p99 w/o" "p50 during" "p99 during" "p99 x"
printf '|---|---|---|---|---|---|\n'
printf '%s\n' "${def_rows[@]}" "${cpu_rows[@]}"
printf '\nmedian p99 ratio: backfill with defaults %sx (took %.1f s under load), CPU burner control %sx\n' \
    "$def_ratio" "$def_took" "$cpu_ratio"
printf 'target p99 during <= 1.5x without, defaults: %s\n' "$(met "$def_ratio" 1.5)"
echo "plot (the last run): doc/backfill-latency-default.png"
