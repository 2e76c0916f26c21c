# shellcheck shell=bash
# Sourced by backfill.sh for --scale (see its header): backfill_scale runs
# the floor and migrate_backfill at each size of SCALE, RUNS times each.
# Uses backfill.sh's sql, fresh_table, check and ROWS, and cluster.sh's $bin,
# $port, $work, as_pg, now.

# The WAL insert position: it counts the WAL of commits made with
# synchronous_commit = off too (the backfill's), which may not be written yet.
wal_lsn() { sql -c "SELECT pg_current_wal_insert_lsn()"; }
wal_bytes() { sql -c "SELECT pg_wal_lsn_diff('$2', '$1')::bigint"; }
checkpoints() {
    if [ "$(sql -c "SHOW server_version_num")" -ge 170000 ]; then
        sql -c "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
    else
        sql -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
    fi
}

# sample_mem OUT TARGET: until OUT.stop exists, reads /proc/PID/status every
# 50 ms and then writes "VmHWM peak-VmRSS peak-RssAnon" (kB) to OUT.  TARGET
# is a PID, or job:N for job N's worker: the child of this cluster's
# postmaster titled "postgres: migrate job N" (another cluster's job N on
# the machine is not ours), looked up again whenever it is gone.
sample_mem() {
    local out=$1 target=$2 pid="" pm k v hwm=0 rss=0 anon=0
    pm=$(head -n 1 "$work/data/postmaster.pid")
    while :; do
        if [ -z "$pid" ] || [ ! -e "/proc/$pid/status" ]; then
            case $target in
                job:*) pid=$(ps --ppid "$pm" -o pid=,args= | awk -v n="${target#job:}" \
                           '$2 == "postgres:" && $3 == "migrate" && $4 == "job" && $5 == n { print $1; exit }') ;;
                *) pid=$target ;;
            esac
        fi
        if [ -n "$pid" ]; then
            { while read -r k v _; do
                case $k in
                    VmHWM:) hwm=$((v > hwm ? v : hwm)) ;;
                    VmRSS:) rss=$((v > rss ? v : rss)) ;;
                    RssAnon:) anon=$((v > anon ? v : anon)) ;;
                esac
            done; } 2>/dev/null < "/proc/$pid/status" || true
        fi
        [ ! -e "$out.stop" ] || break
        sleep 0.05
    done
    echo "$hwm $rss $anon" > "$out"
}
sampler_start() { rm -f "$work/mem" "$work/mem.stop"; sample_mem "$work/mem" "$1" & sampler=$!; }
sampler_stop() { touch "$work/mem.stop"; wait "$sampler"; read -r hwm rss anon < "$work/mem"; }

# one run of each: sets secs, wal, hwm, rss, anon, ckpt (+ if a checkpoint
# started during it)
floor_run() {
    local from to pid c0 line w0 w1
    fresh_table
    # one session: its backend's PID first, then the UPDATE on the clock
    coproc FLOOR { as_pg "$bin/psql" -X -At -q -h /tmp -p "$port" -d bench -v ON_ERROR_STOP=1; }
    to=${FLOOR[1]} from=${FLOOR[0]} pid=$FLOOR_PID
    echo "SELECT pg_backend_pid();" >&"$to"
    read -r line <&"$from" || { echo "floor: psql did not start" >&2; exit 1; }
    sampler_start "$line"
    c0=$(checkpoints); w0=$(wal_lsn)
    s=$(now)
    echo "UPDATE items SET b = a * 2; SELECT 'done';" >&"$to"
    read -r line <&"$from" && [ "$line" = "done" ] || { echo "floor: the UPDATE failed" >&2; exit 1; }
    e=$(now)
    w1=$(wal_lsn)
    sampler_stop
    exec {to}>&-
    wait "$pid"
    secs=$(echo "$e - $s" | bc); wal=$(wal_bytes "$w0" "$w1")
    ckpt=$([ "$(checkpoints)" = "$c0" ] || echo +)
    check floor
}
backfill_run() {
    local c0 w0 w1 job
    fresh_table
    c0=$(checkpoints); w0=$(wal_lsn)
    s=$(now)
    job=$(sql -c "SELECT migrate_backfill('items', 'b = a * 2')")
    sampler_start "job:$job"
    sql -c "SET client_min_messages = warning" -c "SELECT migrate_wait()" >/dev/null
    e=$(now)
    w1=$(wal_lsn)
    sampler_stop
    secs=$(echo "$e - $s" | bc); wal=$(wal_bytes "$w0" "$w1")
    ckpt=$([ "$(checkpoints)" = "$c0" ] || echo +)
    batches=$(sql -c "SELECT args->>'batches' FROM migrate.job WHERE id = $job")
    # an idle server should see no pause: say so when the throttle paused
    pauses=$(sql -c "SELECT coalesce(args->>'pauses', '0') || ' (' || coalesce(args->>'slow_pauses', '0') || ' for slow batches)' FROM migrate.job WHERE id = $job")
    echo "   $ROWS rows: $batches batches, throttle pauses: $pauses"
    check migrate_backfill
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxof() { sort -g | tail -n 1; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
mb() { if [ "$1" = 0 ]; then echo -; else echo "scale=1; $1 / 1024" | bc | sed 's/^\./0./'; fi; }
walmb() { echo "scale=1; $1 / 1048576" | bc | sed 's/^\./0./'; }
rate() { echo "$1 / $2" | bc; }

backfill_scale() {
    local n run how
    declare -A res=()    # res[how,n,field]: space-separated values of the runs
    for n in "${SCALE[@]}"; do
        ROWS=$n
        for run in $(seq 1 "$RUNS"); do
            for how in floor backfill; do
                echo "== $n rows, run $run of $RUNS: $how"
                "${how}_run"
                res[$how,$n,secs]+="$secs "
                res[$how,$n,wal]+="$wal "
                res[$how,$n,hwm]+="$hwm "
                res[$how,$n,anon]+="$anon "
                res[$how,$n,ckpt]+="$ckpt"
                [ "$how" = floor ] || res[$how,$n,batches]+="$batches "
            done
        done
    done

    local -A m=()
    for n in "${SCALE[@]}"; do
        for how in floor backfill; do
            m[$how,$n,secs]=$(echo ${res[$how,$n,secs]} | tr ' ' '\n' | median)
            m[$how,$n,wal]=$(echo ${res[$how,$n,wal]} | tr ' ' '\n' | median)
            m[$how,$n,hwm]=$(echo ${res[$how,$n,hwm]} | tr ' ' '\n' | maxof)
            m[$how,$n,anon]=$(echo ${res[$how,$n,anon]} | tr ' ' '\n' | maxof)
        done
        m[backfill,$n,batches]=$(echo ${res[backfill,$n,batches]} | tr ' ' '\n' | median)
    done

    printf '\nmigrate_backfill vs one UPDATE (the floor), b = a * 2 on every row\n'
    printf 'median of %d runs (memory: the highest), PostgreSQL %s, %s cores, shared_buffers 512MB\n\n' \
        "$RUNS" "$PG_MAJOR" "$(nproc)"
    printf '| %10s | %8s | %8s | %6s | %9s | %9s | %9s | %9s | %6s | %8s | %8s | %8s | %8s | %7s |\n' \
        rows "floor s" "backf. s" "time x" "floor r/s" "backf r/s" "floor WAL" "backf WAL" "WAL x" \
        "UPD anon" "wkr anon" "UPD HWM" "wkr HWM" batches
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------ ---------- ---------- -------- \
        ----------- ----------- ----------- ----------- -------- ---------- ---------- ---------- ---------- ---------
    for n in "${SCALE[@]}"; do
        printf '| %10s | %7.2f%1s | %7.2f%1s | %6s | %9s | %9s | %9s | %9s | %6s | %8s | %8s | %8s | %8s | %7s |\n' \
            "$n" "${m[floor,$n,secs]}" "${res[floor,$n,ckpt]:+*}" "${m[backfill,$n,secs]}" "${res[backfill,$n,ckpt]:+*}" \
            "$(ratio "${m[backfill,$n,secs]}" "${m[floor,$n,secs]}")" \
            "$(rate "$n" "${m[floor,$n,secs]}")" "$(rate "$n" "${m[backfill,$n,secs]}")" \
            "$(walmb "${m[floor,$n,wal]}")" "$(walmb "${m[backfill,$n,wal]}")" \
            "$(ratio "${m[backfill,$n,wal]}" "${m[floor,$n,wal]}")" \
            "$(mb "${m[floor,$n,anon]}")" "$(mb "${m[backfill,$n,anon]}")" \
            "$(mb "${m[floor,$n,hwm]}")" "$(mb "${m[backfill,$n,hwm]}")" "${m[backfill,$n,batches]}"
    done
    printf 'WAL in MB; memory in MB, peak of the backend running the UPDATE (UPD) and of the\n'
    printf "backfill's worker (wkr): anon = RssAnon, private memory; HWM = VmHWM, which also\n"
    printf 'counts the shared buffers it touched (- : the worker ended before it was sampled)\n'
    if [ -n "$(for n in "${SCALE[@]}"; do echo -n "${res[floor,$n,ckpt]}${res[backfill,$n,ckpt]}"; done)" ]; then
        printf '* a checkpoint started during at least one of these runs: its WAL has full-page images\n'
    fi

    {
        echo "# rows floor_s backfill_s floor_wal_bytes backfill_wal_bytes floor_anon_kB worker_anon_kB worker_hwm_kB floor_hwm_kB (median of $RUNS runs; memory: highest)"
        for n in "${SCALE[@]}"; do
            echo "$n ${m[floor,$n,secs]} ${m[backfill,$n,secs]} ${m[floor,$n,wal]} ${m[backfill,$n,wal]}" \
                "${m[floor,$n,anon]} ${m[backfill,$n,anon]} ${m[backfill,$n,hwm]} ${m[floor,$n,hwm]}"
        done
    } > "$top/doc/scale-backfill.dat"
    scale_plot
    echo "data: doc/scale-backfill.dat, plot: doc/scale.png"
}
