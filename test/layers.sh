#!/bin/bash
# The layers of src/ call only downward.  Reads, with nm, which object file
# of the build defines and which uses each symbol, and fails on every call
# (or variable use) that runs from a lower layer to a higher one, naming it.
#
#   test/layers.sh [DIR]    (DIR: the built tree, default the checkout)
#
# The layers, lowest first (doc/layout.md): base, catalog, exec, jobs, then
# the engines (engine, online), then sql.  Files of one layer may call each
# other, but no files anywhere call each other in a cycle.
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"

rank() {
    case $1 in
        base) echo 0 ;;
        catalog) echo 1 ;;
        exec) echo 2 ;;
        jobs) echo 3 ;;
        engine | online) echo 4 ;;
        sql) echo 5 ;;
        *) echo "layers.sh: src/$1/ is in no layer: add it to test/layers.sh and doc/layout.md" >&2
           exit 2 ;;
    esac
}

# the objects of the sources there are (not one left by a removed file)
objs=$(find src -mindepth 2 -name '*.o' | sort | while read -r o; do
    [ -f "${o%.o}.c" ] && echo "$o"; done)
if [ -z "$objs" ]; then
    echo "layers.sh: no object files under src/: build first (make)" >&2
    exit 2
fi
if ls src/*.c >/dev/null 2>&1; then
    echo "layers.sh: C files directly in src/ belong to no layer: $(ls src/*.c)" >&2
    exit 1
fi

defs=$(mktemp)
uses=$(mktemp)
for o in $objs; do
    nm --defined-only "$o" | awk -v o="$o" '$2 ~ /^[TDBRC]$/ { print $3, o }'
done | sort > "$defs"
for o in $objs; do
    nm -u "$o" | awk -v o="$o" '{ print o, $2 }'
done > "$uses"

bad=0
edges=$(mktemp)
trap 'rm -f "$defs" "$uses" "$edges"' EXIT
for o in $objs; do
    layer=$(echo "$o" | cut -d/ -f2)
    r=$(rank "$layer")
    for sym in $(nm -u "$o" | awk '{ print $2 }'); do
        def=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$defs")
        [ -n "$def" ] || continue
        [ "$def" = "$o" ] || echo "$o $def" >> "$edges"
        dlayer=$(echo "$def" | cut -d/ -f2)
        dr=$(rank "$dlayer")
        if [ "$dr" -gt "$r" ]; then
            echo "upward: ${o%.o}.c ($layer) uses $sym of ${def%.o}.c ($dlayer)"
            bad=$((bad + 1))
        fi
    done
done
# within a layer too, no two files call each other, even through others
if ! loop=$(tsort "$edges" 2>&1 >/dev/null) || [ -n "$loop" ]; then
    echo "a cycle of calls between files:"
    echo "$loop" | sed -n 's/^tsort: //p' | grep -v 'input contains a loop'
    bad=$((bad + 1))
fi
# A name that no other file uses is static: a header exports only what
# crosses it.  (The exported names below are called from outside.)
if [ -f migrate.so ]; then
    exported=$(nm -D --defined-only migrate.so | awk '{ print $3 }')
    for sym in $(awk '{ print $1 }' "$defs"); do
        grep -qx "$sym" <<<"$exported" && continue
        def=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$defs")
        if ! awk -v s="$sym" -v d="$def" '$1 != d && $2 == s { found = 1 } END { exit !found }' "$uses"; then
            echo "not static: $sym of ${def%.o}.c is used by no other file"
            bad=$((bad + 1))
        fi
    done
fi

# Other libraries see only what SQL and the postmaster call: the module's
# magic and _PG_init, the functions the install scripts name (and their
# pg_finfo_ records), and the workers' entry points.
if [ -f migrate.so ]; then
    allowed=$( { echo Pg_magic_func; echo _PG_init
                 grep -ho "MODULE_PATHNAME', *'[a-z_0-9]*'" sql/migrate--*.sql |
                     sed "s/.*'\([a-z_0-9]*\)'$/\1/" | sort -u |
                     while read -r f; do echo "$f"; echo "pg_finfo_$f"; done
                 grep -ho 'migrate_[a-z]*_main' src/jobs/*.c | sort -u; } | sort -u)
    for sym in $(nm -D --defined-only migrate.so | awk '{ print $3 }'); do
        if ! grep -qx "$sym" <<<"$allowed"; then
            echo "exported: $sym (not called from SQL or by the postmaster: make it static or hidden)"
            bad=$((bad + 1))
        fi
    done
fi
if [ "$bad" -gt 0 ]; then
    echo "layers ... FAILED ($bad problems)"
    exit 1
fi
echo "layers ... ok"
