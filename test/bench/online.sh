#!/bin/bash
# Benchmark: how long concurrent writers wait during a whole online migration
# of a 1M-row table, against the same migration done with plain ALTER TABLE.
#
#   test/bench/online.sh [ROWS]          (as root; ROWS defaults to 1000000)
#   ONLINE_RUNS=3 test/bench/online.sh   (the type change and a baseline, 3 runs each, medians)
#
# The migration changes a column's type (int -> bigint: a shadow column, its
# index and check carried over), adds a NOT NULL column filled from others,
# and builds an index: start, backfill, validation, index builds, complete.
# pgbench writers (point updates of the table itself) run from before the start until after the complete; their
# longest transaction is the longest any writer waited.  The same writers
# run without any migration (the baseline), and during the plain DDL
# (ALTER TABLE ... TYPE, ADD COLUMN ... NOT NULL, CREATE INDEX), which
# rewrites the table under an ACCESS EXCLUSIVE lock.
set -euo pipefail

ROWS=${1:-1000000}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
# min_wal_size: the WAL of the backfill (about one UPDATE of the table's)
# goes into recycled segments, as on a server in service.  A fresh cluster
# has few: each new 16 MB segment is created and zero-filled by the backend
# that needs it, holding WALWriteLock, and every committing writer waits
# 30-70 ms behind it (WALInitWrite and WALInitSync waits), whoever wrote
# the WAL: the same stalls come with any bulk write next to the writers.
bench_cluster online "${BENCH_PORT:-5495}" \
    "shared_buffers = 512MB" "max_wal_size = 8GB" "min_wal_size = 4GB" "checkpoint_timeout = 30min"
sql() { PGOPTIONS='-c client_min_messages=warning' as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" \
    -d bench -v ON_ERROR_STOP=1 "$@"; }

as_pg "$bin/createdb" -h /tmp -p "$port" bench
sql -c "CREATE EXTENSION migrate"
lock_timeout=$(sql -c "LOAD 'migrate'" -c "SHOW migrate.lock_timeout")
# 1 GB of WAL segments made once, recycled by the checkpoints that follow
sql -c "DO \$\$ BEGIN FOR i IN 1..64 LOOP PERFORM pg_catalog.pg_logical_emit_message(false, 'bench', 'x');
        PERFORM pg_catalog.pg_switch_wal(); END LOOP; END \$\$" -c "CHECKPOINT"

fresh_table() {    # $1 (optional): lines, nopk; the other cases' table is the same without
    # lines: plus order_lines (ROWS/10 rows), whose foreign key references orders.id
    # nopk: orders.id nullable, with a unique index but no primary key
    local key="PRIMARY KEY" extra=()
    case "${1:-}" in
    lines)
        extra=(-c "CREATE TABLE order_lines (id bigint PRIMARY KEY,
                                             order_id bigint NOT NULL REFERENCES orders (id), qty int NOT NULL)"
               -c "INSERT INTO order_lines SELECT g, g * 10, g % 7 FROM generate_series(1, $((ROWS / 10))) g"
               -c "CREATE INDEX order_lines_order_id ON order_lines (order_id)"
               -c "VACUUM ANALYZE order_lines") ;;
    nopk)
        key=""
        extra=(-c "CREATE UNIQUE INDEX orders_id ON orders (id)") ;;
    "") ;;
    *) echo "fresh_table: unknown variant $1" >&2; exit 1 ;;
    esac
    sql -c "DROP TABLE IF EXISTS order_lines, orders CASCADE" \
        -c "DROP SCHEMA IF EXISTS migrate_public_v2 CASCADE" \
        -c "TRUNCATE migrate.migration, migrate.event, migrate.job, migrate.fingerprint, migrate.fingerprint_object CASCADE" \
        -c "CREATE TABLE orders (id bigint $key, qty int NOT NULL CHECK (qty >= 0),
                                 price int NOT NULL, note text)" \
        -c "INSERT INTO orders SELECT g, g % 100, g % 1000, repeat('x', 40) FROM generate_series(1, $ROWS) g" \
        -c "CREATE INDEX orders_qty ON orders (qty)" \
        ${extra[@]+"${extra[@]}"} \
        -c "VACUUM ANALYZE orders" -c "CHECKPOINT"
}
# the shape a case must leave: $1 what, $2 the expected answer, $3 the query
expect() {
    local got
    got=$(sql -c "$3")
    [ "$got" = "$2" ] || { echo "$1: got '$got', expected '$2'" >&2; exit 1; }
}

# the application: point updates, valid in the old shape and, after the
# complete, in the new one (an old-shape INSERT would not be: the old
# application must be gone by then)
cat > "$work/app.sql" <<APP
\set id random(1, $ROWS)
\set id2 random(1, $ROWS)
UPDATE orders SET note = 'touched' WHERE id = :id;
UPDATE orders SET price = price WHERE id = :id2;
APP
chown postgres: "$work/app.sql"
# pgbench runs for a fixed time (so that it writes its whole log), the
# change starting 3 s in; WRITERS_S must outlast it
WRITERS_S=${WRITERS_S:-60}
writers_start() {    # $1: log prefix
    (cd "$work" && as_pg "$bin/pgbench" -n -h /tmp -p "$port" -c 4 -j 2 -T "$WRITERS_S" -l \
        --log-prefix="$1" -f app.sql bench >"$1.out" 2>&1) &
    writers=$!
    writers_started=$(now)
    sleep 3
}
writers_stop() {    # $1: log prefix
    local left
    left=$(echo "$WRITERS_S - ($(now) - $writers_started)" | bc)
    if [ "$(echo "$left < 1" | bc)" = 1 ]; then
        echo "the change outlasted the writers: raise WRITERS_S" >&2
        exit 1
    fi
    wait "$writers" || {
        echo "pgbench failed:" >&2
        grep -i "error" "$work/$1.out" | head -5 >&2
        exit 1
    }
}
longest() {    # the longest transaction in ms, and how many there were
    cat "$work"/"$1".* | awk '{ ms = $3 / 1000; if (ms > max) max = ms; n++ }
        END { printf "%.1f %d\n", max, n }'
}

# ONLINE_RUNS=N: only the online type change, N times, each with its own
# writers, and N baselines (the same writers alone, just before): every
# run's time, longest wait and the ratio to its baseline's longest
# transaction, then the medians (the goal: at most 1.5x)
if [ -n "${ONLINE_RUNS:-}" ]; then
    waits=()
    times=()
    bases=()
    ratios=()
    for ((r = 1; r <= ONLINE_RUNS; r++)); do
        fresh_table
        writers_start "base$r"
        writers_stop "base$r"
        read -r bmax _ < <(longest "base$r")
        fresh_table
        sql -c "SELECT migrate_register_online('2', 'orders: qty bigint, total, price index', \$\$[
            {\"alter_column\": {\"table\": \"orders\", \"column\": \"qty\", \"type\": \"bigint\"}},
            {\"add_column\": {\"table\": \"orders\", \"column\": {\"name\": \"total\", \"type\": \"bigint\", \"nullable\": false},
                             \"up\": \"qty::bigint * price\"}},
            {\"create_index\": {\"table\": \"orders\", \"name\": \"orders_price\", \"columns\": [\"price\"]}}
        ]\$\$)" >/dev/null
        writers_start "run$r"
        s=$(now)
        sql -c "SELECT * FROM migrate_upgrade()" >/dev/null
        sql -c "SELECT migrate_wait()" >/dev/null
        sql -c "SELECT migrate_complete()" >/dev/null
        e=$(now)
        writers_stop "run$r"
        read -r max _ < <(longest "run$r")
        retries=$(sql -c "SELECT count(*) FROM migrate.event WHERE action = 'lock_retry'")
        ratio=$(echo "scale=2; $max / $bmax" | bc | sed 's/^\./0./')
        printf 'run %d: baseline longest %s ms; online %.1f s, longest writer wait %s ms (%sx), lock retries %s\n' \
            "$r" "$bmax" "$(echo "$e - $s" | bc)" "$max" "$ratio" "$retries"
        waits+=("$max")
        bases+=("$bmax")
        ratios+=("$ratio")
        times+=("$(echo "$e - $s" | bc)")
    done
    med() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    printf 'median of %d: online %.1f s, longest writer wait %s ms, baseline longest %s ms, ratio %sx (goal <= 1.5x; migrate.lock_timeout = %s)\n' \
        "$ONLINE_RUNS" "$(printf '%s\n' "${times[@]}" | med)" "$(printf '%s\n' "${waits[@]}" | med)" \
        "$(printf '%s\n' "${bases[@]}" | med)" "$(printf '%s\n' "${ratios[@]}" | med)" "$lock_timeout"
    exit 0
fi

echo "== baseline: the writers alone, $WRITERS_S s"
fresh_table
writers_start base
writers_stop base
read -r base_max base_n < <(longest base)

echo "== online migration with migrate, $ROWS rows"
fresh_table
sql -c "SELECT migrate_register_online('2', 'orders: qty bigint, total, price index', \$\$[
    {\"alter_column\": {\"table\": \"orders\", \"column\": \"qty\", \"type\": \"bigint\"}},
    {\"add_column\": {\"table\": \"orders\", \"column\": {\"name\": \"total\", \"type\": \"bigint\", \"nullable\": false},
                     \"up\": \"qty::bigint * price\"}},
    {\"create_index\": {\"table\": \"orders\", \"name\": \"orders_price\", \"columns\": [\"price\"]}}
]\$\$)" >/dev/null
writers_start online
s=$(now)
sql -c "SELECT * FROM migrate_upgrade()" >/dev/null
sql -c "SELECT migrate_wait()" >/dev/null
sql -c "SELECT migrate_complete()"
e=$(now)
writers_stop online
online_s=$(echo "$e - $s" | bc)
read -r online_max online_n < <(longest online)
wrong=$(sql -c "SELECT count(*) FROM orders WHERE total IS DISTINCT FROM qty * price")
[ "$wrong" = 0 ] || { echo "online: $wrong rows wrong" >&2; exit 1; }
retries=$(sql -c "SELECT count(*) FROM migrate.event WHERE action = 'lock_retry'")

# the operations added since (issue 16), online on the same table: an index
# with INCLUDE, order and storage parameters, a check and a unique
# constraint, a constraint renamed, the replica identity
online_run() {    # $1: log prefix, $2: the operations, $3: fresh_table's variant
    fresh_table "${3:-}"
    sql -c "SELECT migrate_register_online('2', '$1', \$\$$2\$\$)" >/dev/null
    writers_start "$1"
    s=$(now)
    sql -c "SELECT * FROM migrate_upgrade()" >/dev/null
    sql -c "SELECT migrate_wait()" >/dev/null
    sql -c "SELECT migrate_complete()" >/dev/null
    e=$(now)
    writers_stop "$1"
    sql -c "SELECT count(*) FROM migrate.event WHERE action = 'lock_retry'" >"$work/retries-$1"
    echo "$e - $s" | bc
}
echo "== the newer operations, online, $ROWS rows"
newer_s=$(online_run newer '[
    {"create_index": {"table": "orders", "name": "orders_price_note",
                      "columns": [{"column": "price", "sort": "desc", "nulls": "last"}],
                      "include": ["note"], "storage_parameters": {"fillfactor": 80}}},
    {"create_constraint": {"table": "orders", "name": "orders_price_pos", "type": "check", "check": "price >= 0"}},
    {"create_constraint": {"table": "orders", "name": "orders_id_qty", "type": "unique", "columns": ["id", "qty"]}},
    {"rename_constraint": {"table": "orders", "from": "orders_qty_check", "to": "orders_qty_nonneg"}},
    {"set_replica_identity": {"table": "orders", "identity": {"type": "full"}}}
]')
read -r newer_max newer_n < <(longest newer)
# an exclusion constraint has no online form in PostgreSQL (no USING
# INDEX): its start builds the index under ACCESS EXCLUSIVE
echo "== an exclusion constraint, online, $ROWS rows"
exclude_s=$(online_run exclude '[
    {"create_constraint": {"table": "orders", "name": "orders_id_excl", "type": "exclude",
                           "method": "btree", "elements": [{"column": "id", "operator": "="}]}}
]')
read -r exclude_max exclude_n < <(longest exclude)

# the heaviest of the new operations (issue 17): each keeps a shadow column
# in step and rebuilds indexes concurrently, and must keep the writers'
# longest wait under migrate.lock_timeout too.  A primary key column that a
# foreign key references changes type: the shadow, its unique index, the
# copy of the referencing foreign key added NOT VALID and validated, and at
# complete the key and foreign key swapped in one catalog-only transaction
echo "== a referenced primary key's type, online, $ROWS rows"
refkey_s=$(online_run refkey '[
    {"alter_column": {"table": "orders", "column": "id", "type": "numeric"}}
]' lines)
read -r refkey_max refkey_n < <(longest refkey)
expect "refkey: orders.id" numeric \
    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'"
expect "refkey: the primary key and the valid foreign key" "orders_pkey order_lines_order_id_fkey" \
    "SELECT (SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p') || ' ' ||
            (SELECT conname FROM pg_constraint WHERE conrelid = 'order_lines'::regclass AND contype = 'f'
                AND confrelid = 'orders'::regclass AND convalidated)"
# a check dropped for the new shape at start (up and down): qty's shadow,
# its index built again concurrently
echo "== a check dropped with up and down, online, $ROWS rows"
dropcheck_s=$(online_run dropcheck '[
    {"drop_constraint": {"table": "orders", "name": "orders_qty_check",
                         "up": "qty", "down": "greatest(qty, 0)"}}
]')
read -r dropcheck_max dropcheck_n < <(longest dropcheck)
expect "dropcheck: orders' checks, its qty index" "0 orders_qty" \
    "SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c') || ' ' ||
            (SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index
                WHERE indrelid = 'orders'::regclass AND indkey[0] = (SELECT attnum FROM pg_attribute
                    WHERE attrelid = 'orders'::regclass AND attname = 'qty'))"
# a primary key for a table without one (the unique index on id serves
# the writers meanwhile): its NOT NULL check validated, its index built
# concurrently, both made the key at complete
echo "== a primary key added, online, $ROWS rows"
addpk_s=$(online_run addpk '[
    {"create_constraint": {"table": "orders", "name": "orders_pkey", "type": "primary_key", "columns": ["id"]}}
]' nopk)
read -r addpk_max addpk_n < <(longest addpk)
expect "addpk: the primary key, id NOT NULL" "orders_pkey true" \
    "SELECT conname || ' ' || (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id')
     FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p'"

echo "== the same change with plain DDL in one transaction"
fresh_table
writers_start plain
s=$(now)
sql -c "BEGIN" -c "ALTER TABLE orders ALTER COLUMN qty TYPE bigint" \
    -c "ALTER TABLE orders ADD COLUMN total bigint" -c "UPDATE orders SET total = qty * price" \
    -c "ALTER TABLE orders ALTER COLUMN total SET NOT NULL" \
    -c "CREATE INDEX orders_price ON orders (price)" -c "COMMIT"
e=$(now)
writers_stop plain
plain_s=$(echo "$e - $s" | bc)
read -r plain_max plain_n < <(longest plain)

printf '\n%-38s %12s %14s %10s\n' "$ROWS rows, 4 writers" "duration s" "longest wait ms" "vs base"
printf '%-38s %12s %14s %10s\n' "writers alone (baseline)" "-" "$base_max" "1.00x"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online (start..complete)" "$online_s" "$online_max" \
    "$(echo "$online_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "plain ALTER TABLE etc., one transaction" "$plain_s" "$plain_max" \
    "$(echo "$plain_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online, the newer operations" "$newer_s" "$newer_max" \
    "$(echo "$newer_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online, exclusion constraint" "$exclude_s" "$exclude_max" \
    "$(echo "$exclude_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online, referenced key's type" "$refkey_s" "$refkey_max" \
    "$(echo "$refkey_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online, check dropped, up/down" "$dropcheck_s" "$dropcheck_max" \
    "$(echo "$dropcheck_max / $base_max" | bc -l)"
printf '%-38s %12.1f %14s %9.1fx\n' "migrate online, primary key added" "$addpk_s" "$addpk_max" \
    "$(echo "$addpk_max / $base_max" | bc -l)"
echo
echo "migrate.lock_timeout = $lock_timeout; lock retries during the online migration: $retries"
echo "writer transactions in ${WRITERS_S} s: baseline $base_n, online $online_n, plain $plain_n, newer $newer_n, exclude $exclude_n,"
echo "  refkey $refkey_n, dropcheck $dropcheck_n, addpk $addpk_n"
echo "lock retries of the other online runs: $(for r in newer exclude refkey dropcheck addpk; do
    printf '%s %s, ' "$r" "$(cat "$work/retries-$r")"; done | sed 's/, $//')"
echo "(the longest wait of each run covers all of its writers' transactions, before, during and after the change)"
