#!/bin/bash
# migrate_check against squawk (npm squawk-cli) on test/check-corpus/.
#
#   test/bench/check_vs_squawk.sh        (as root; installs squawk-cli with npm)
#
# Loads test/check-corpus/setup.sql (the database each file assumes: large
# tables, small ones, an empty one) into a throwaway cluster, runs both tools
# on every file, maps their rules onto common concerns, and prints per
# concern how often both, only squawk, or only migrate flag a file, then
# every disagreement with what migrate knows about it.  migrate flags a
# file when it reports a finding of severity warning or error (what
# migrate.check acts on); its notes (info) explain why it does not.
# squawk's rules about re-runnable statements and timeouts are left out:
# migrate runs each migration once, in a transaction, and sets
# lock_timeout itself.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/bench/cluster.sh"
if ! command -v squawk >/dev/null; then
    command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
    npm install -g --silent squawk-cli >/dev/null
fi
BENCH_PACKAGES=python3 bench_cluster check "${BENCH_PORT:-5494}"
sql() { as_pg "$bin/psql" -X -q -At -h /tmp -p "$port" -d corpus -v ON_ERROR_STOP=1 "$@"; }

as_pg "$bin/createdb" -h /tmp -p "$port" corpus
corpus="$work/corpus"
cp -r "$top/test/check-corpus" "$corpus"
chown -R postgres: "$corpus"
sql -c "CREATE EXTENSION migrate" -f "$corpus/setup.sql" >/dev/null

# one line per finding: file, tool, rule, severity, message
out="$work/findings.tsv"
: > "$out"
for f in "$corpus"/[0-9]*.sql; do
    name=$(basename "$f" .sql)
    sql -F $'\t' -c "SELECT '$name', 'migrate', rule, severity, message
                       FROM migrate_check(pg_read_file('$f'))" >> "$out"
    squawk --reporter json --exclude prefer-robust-stmts,require-statement-timeout,require-lock-timeout \
        "$f" 2>/dev/null | python3 -c '
import json, sys
name = sys.argv[1]
for v in json.load(sys.stdin):
    print("\t".join([name, "squawk", v["rule_name"], v["level"].lower(), v["message"].replace("\t", " ").replace("\n", " ")]))
' "$name" >> "$out" || true
done

python3 - "$out" "$(ls "$corpus"/[0-9]*.sql | wc -l)" <<'PY'
import collections, sys

concern = {
    # squawk
    "require-concurrent-index-creation": "index without CONCURRENTLY",
    "require-concurrent-index-deletion": "index without CONCURRENTLY",
    "changing-column-type": "table rewrite",
    "adding-field-with-default": "table rewrite",
    "adding-serial-primary-key-field": "table rewrite",
    "adding-required-field": "NOT NULL column without default",
    "adding-not-nullable-field": "SET NOT NULL scan",
    "constraint-missing-not-valid": "constraint without NOT VALID",
    "adding-foreign-key-constraint": "constraint without NOT VALID",
    "disallowed-unique-constraint": "UNIQUE built in place",
    "ban-drop-column": "drop (breaks code)",
    "ban-drop-table": "drop (breaks code)",
    "renaming-column": "rename (breaks code)",
    "renaming-table": "rename (breaks code)",
    "prefer-timestamp-tz": "timestamp without time zone",
    "prefer-bigint-over-int": "32-bit integer key",
    "prefer-bigint-over-smallint": "32-bit integer key",
    "prefer-identity": "32-bit integer key",
    "ban-truncate-cascade": "TRUNCATE CASCADE",
    "require-enum-value-ordering": "enum value added",
    "ban-alter-domain-with-add-constraint": "domain constraint",
    "ban-concurrent-index-creation-in-transaction": "CONCURRENTLY in a transaction",
    # migrate
    "index-not-concurrently": "index without CONCURRENTLY",
    "table-rewrite": "table rewrite",
    "varchar-narrowing": "table rewrite",
    "vacuum-full": "table rewrite",
    "cluster": "table rewrite",
    "add-column-not-null-no-default": "NOT NULL column without default",
    "not-null-without-check": "SET NOT NULL scan",
    "constraint-not-valid": "constraint without NOT VALID",
    "unique-in-place": "UNIQUE built in place",
    "drop-column": "drop (breaks code)",
    "drop-table": "drop (breaks code)",
    "rename-column": "rename (breaks code)",
    "rename-table": "rename (breaks code)",
    "prefer-timestamptz": "timestamp without time zone",
    "prefer-bigint-pk": "32-bit integer key",
    "prefer-jsonb": "json instead of jsonb",
    "truncate-cascade": "TRUNCATE CASCADE",
    "enum-add-value": "enum value added",
    "domain-add-constraint": "domain constraint",
    "concurrently-in-transaction": "CONCURRENTLY in a transaction",
    "identifier-too-long": "identifier over 63 bytes",
}
flags = collections.defaultdict(set)      # (file, concern) -> {"migrate", "squawk"}
notes = collections.defaultdict(list)     # (file, concern) -> migrate messages
files = set()
for line in open(sys.argv[1]):
    f, tool, rule, severity, message = line.rstrip("\n").split("\t", 4)
    files.add(f)
    c = concern.get(rule, "other: " + rule)
    if tool == "migrate":
        notes[(f, c)].append("%s: %s" % (severity, message))
        if severity == "info":
            continue
    flags[(f, c)].add(tool)

rows = collections.defaultdict(lambda: [0, 0, 0])
for (f, c), who in flags.items():
    rows[c][0 if len(who) == 2 else 1 if "squawk" in who else 2] += 1
print("%s corpus files, %d with findings\n" % (sys.argv[2], len(files)))
print("| concern | both flag | squawk only | migrate only |")
print("|---|---:|---:|---:|")
for c in sorted(rows):
    print("| %s | %d | %d | %d |" % (c, *rows[c]))
tot = [sum(r[i] for r in rows.values()) for i in range(3)]
print("| **all** | %d | %d | %d |" % tuple(tot))
print("\nDisagreements, with what migrate knows:\n")
for (f, c), who in sorted(flags.items()):
    if len(who) == 2:
        continue
    print("- %s, %s: %s only. migrate: %s" % (f, c, next(iter(who)),
          "; ".join(notes.get((f, c), [])) or "nothing to report"))
PY
