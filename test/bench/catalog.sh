#!/bin/bash
# Benchmark: how the catalog's operations grow with the number of migrations.
#
#   [RUNS=3] [BENCH_PORT=5498] test/bench/catalog.sh [SIZES...]
#                                           (as root; SIZES: 1000 10000)
#
# For each size N, on a fresh database (CREATE EXTENSION migrate before the
# clock starts), N catalog-only migrations (upgrade.sh's "tiny" workload: a
# function and its comment), timed step by step:
#   register      N migrate_register calls in one transaction (psql -1 -f)
#   re-register   the same file again, nothing applied yet: every deploy
#                 re-registers the whole history, which must be a no-op
#   upgrade       SELECT count(*) FROM migrate_upgrade()
#   re-register applied   the same file once more, all N applied: what each
#                 later deploy pays before it applies anything
#   status        SELECT count(*) FROM migrate_status()
#   validate      SELECT count(*) FROM migrate_validate()
# Each step runs in its own psql session over the Unix socket and is timed
# inside it (clock_timestamp() before and after): round trips count, the
# connection does not.  Every size runs
# $RUNS times; the median is reported, in seconds and per migration, with
# the growth of the per-migration cost from the first size to each other
# (1.00: linear; 10.0 at ten times the migrations: quadratic).
#
# Writes its medians to doc/scale-catalog.dat and redraws doc/scale.png
# (test/bench/scale_plot.sh: the catalog panel, and backfill.sh --scale's
# panels if doc/scale-backfill.dat is there).
set -euo pipefail

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
RUNS=${RUNS:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
. "$top/test/bench/scale_plot.sh"
BENCH_PACKAGES=gnuplot bench_cluster catalog "${BENCH_PORT:-5498}"
psql_pg() { as_pg "$bin/psql" -X -q -h /tmp -p "$port" -v ON_ERROR_STOP=1 "$@"; }

fresh_db() {
    psql_pg -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    psql_pg -d bench -c "CREATE EXTENSION migrate"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }

steps=(register reregister upgrade reapplied status validate)
declare -A label=(
    [register]="register N (psql -1)"
    [reregister]="re-register N, unchanged, pending"
    [upgrade]="migrate_upgrade()"
    [reapplied]="re-register N, unchanged, applied"
    [status]="count(*) FROM migrate_status()"
    [validate]="count(*) FROM migrate_validate()"
)
# the file (register) or the statement each step runs
declare -A stmt=(
    [upgrade]="SELECT count(*) FROM migrate_upgrade()"
    [status]="SELECT count(*) FROM migrate_status()"
    [validate]="SELECT count(*) FROM migrate_validate()"
)

declare -A med    # med[step,N]: median seconds
for n in "${sizes[@]}"; do
    dir="$work/n$n"
    mkdir -p "$dir"
    awk -v n="$n" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf "SELECT migrate_register(%c%d%c, %cmigration %d%c, $m$CREATE FUNCTION f_%d() RETURNS int LANGUAGE sql IMMUTABLE AS %cSELECT %d%c; COMMENT ON FUNCTION f_%d() IS %cmigration %d%c;$m$, $m$DROP FUNCTION f_%d();$m$);\n",
                39, i, 39, 39, i, 39, i, 39, i, 39, i, 39, i, 39, i }' > "$dir/register.sql"
    chown -R postgres: "$dir"

    declare -A t=()
    for run in $(seq 1 "$RUNS"); do
        echo "== $n migrations, run $run of $RUNS"
        fresh_db
        for step in "${steps[@]}"; do
            case $step in
                register|reregister|reapplied)
                    body="BEGIN;
\\i $dir/register.sql
COMMIT;" ;;
                *)  body="\\o
${stmt[$step]};
\\o /dev/null" ;;
            esac
            # timed inside the session: the connection is not part of it;
            # migrate_register's answers go nowhere, the check's NOTICEs to
            # a log
            out=$(psql_pg -d bench -At 2>"$dir/step.log" <<STEP
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
\\o /dev/null
$body
\\o
SELECT extract(epoch FROM clock_timestamp()) - :t0;
STEP
            ) || { cat "$dir/step.log" >&2; exit 1; }
            t[$step]+="$(echo "$out" | tail -n 1) "
            rows=$(echo "$out" | head -n 1)
            case $step in
                upgrade|status) [ "$rows" = "$n" ] ||
                    { echo "$step returned $rows rows, not $n" >&2; exit 1; } ;;
                validate) [ "$rows" = 0 ] ||
                    { echo "migrate_validate() found $rows differences" >&2; exit 1; } ;;
            esac
        done
        [ "$(psql_pg -d bench -Atc "SELECT count(*) FROM migrate.event WHERE action = 'register'")" = "$n" ] ||
            { echo "re-registration was not a no-op: it logged events" >&2; exit 1; }
    done
    for step in "${steps[@]}"; do
        med[$step,$n]=$(echo ${t[$step]} | tr ' ' '\n' | median)
    done
    unset t
done

# per migration, in microseconds
per() { echo "scale=1; ${med[$1,$2]} * 1000000 / $2" | bc | sed 's/^\./0./'; }

printf '\ncatalog-only migrations, median of %d runs, PostgreSQL %s, %s cores\n\n' "$RUNS" "$PG_MAJOR" "$(nproc)"
printf '| %-36s |' "step"
for n in "${sizes[@]}"; do printf ' %9s | %9s |' "s @$n" "us/m @$n"; done
for n in "${sizes[@]:1}"; do printf ' %8s |' "growth $n"; done
printf '\n|%s|' "--------------------------------------"
for n in "${sizes[@]}"; do printf '%s|%s|' "-----------" "-----------"; done
for n in "${sizes[@]:1}"; do printf '%s|' "----------"; done
printf '\n'
for step in "${steps[@]}"; do
    printf '| %-36s |' "${label[$step]}"
    for n in "${sizes[@]}"; do printf ' %9.3f | %9s |' "${med[$step,$n]}" "$(per "$step" "$n")"; done
    for n in "${sizes[@]:1}"; do printf ' %8s |' "$(ratio "$(per "$step" "$n")" "$(per "$step" "${sizes[0]}")")"; done
    printf '\n'
done
printf 'growth: per-migration cost at that size / at %s (1.00: linear)\n' "${sizes[0]}"

{
    echo "# n ${steps[*]} (seconds, median of $RUNS runs)"
    for n in "${sizes[@]}"; do
        printf '%s' "$n"
        for step in "${steps[@]}"; do printf ' %s' "${med[$step,$n]}"; done
        printf '\n'
    done
} > "$top/doc/scale-catalog.dat"
scale_plot
echo "data: doc/scale-catalog.dat, plot: doc/scale.png"
