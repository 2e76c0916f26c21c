# shellcheck shell=bash
# Sourced by backfill.sh --scale and catalog.sh: scale_plot draws
# doc/scale.png, one panel a curve family, from whichever data files those
# scripts left in doc/:
#   doc/scale-backfill.dat   rows floor_s backfill_s floor_wal_bytes
#                            backfill_wal_bytes floor_anon_kB worker_anon_kB
#                            worker_hwm_kB floor_hwm_kB
#   doc/scale-catalog.dat    n register reregister upgrade reapplied status
#                            validate (seconds)
# A panel whose data file is missing says which script writes it.
# Expects $top; needs gnuplot.

scale_plot() {
    local bf="$top/doc/scale-backfill.dat" cat="$top/doc/scale-catalog.dat"
    {
        cat <<HEAD
set terminal pngcairo size 1200,900 font ",10" noenhanced
set output "$top/doc/scale.png"
set multiplot layout 2,2 title "How cost grows (test/bench/backfill.sh --scale, test/bench/catalog.sh)"
set key below horizontal maxrows 2
set grid
set format x "%.0s%c"
HEAD
        if [ -s "$bf" ]; then
            cat <<PLOT
set title "backfill b = a * 2: seconds"
set xlabel "rows"
set ylabel "seconds"
set yrange [0:*]
plot "$bf" using 1:2 with linespoints pt 7 title "one UPDATE (floor)", \\
     "$bf" using 1:3 with linespoints pt 5 title "migrate_backfill"
set title "backfill vs floor"
set ylabel "ratio"
set yrange [0:*]
plot "$bf" using 1:(\$3/\$2) with linespoints pt 5 title "time", \\
     "$bf" using 1:(\$5/\$4) with linespoints pt 7 title "WAL bytes", \\
     1 with lines dt 2 lc rgb "gray" notitle
set title "peak memory of the process doing the work"
set ylabel "MB"
set yrange [0:*]
plot "$bf" using 1:(\$7/1024) with linespoints pt 5 title "backfill worker RssAnon", \\
     "$bf" using 1:(\$6/1024) with linespoints pt 7 title "UPDATE backend RssAnon", \\
     "$bf" using 1:(\$8/1024) with linespoints pt 4 dt 2 title "worker VmHWM (+ shared buffers)", \\
     "$bf" using 1:(\$9/1024) with linespoints pt 6 dt 2 title "UPDATE backend VmHWM (+ shared buffers)"
PLOT
        else
            for p in seconds ratios memory; do
                printf 'set title "backfill %s: no data (run test/bench/backfill.sh --scale)"\nunset key\nplot [0:1][0:1] 2 notitle\nset key\n' "$p"
            done
        fi
        if [ -s "$cat" ]; then
            cat <<PLOT
set title "catalog: cost per migration, N catalog-only migrations"
set xlabel "migrations (N)"
set ylabel "µs per migration"
set logscale x
set yrange [0:*]
plot "$cat" using 1:(\$2*1e6/\$1) with linespoints pt 7 title "register", \\
     "$cat" using 1:(\$3*1e6/\$1) with linespoints pt 5 title "re-register, pending", \\
     "$cat" using 1:(\$4*1e6/\$1) with linespoints pt 9 title "migrate_upgrade()", \\
     "$cat" using 1:(\$5*1e6/\$1) with linespoints pt 11 title "re-register, applied", \\
     "$cat" using 1:(\$6*1e6/\$1) with linespoints pt 13 title "migrate_status()", \\
     "$cat" using 1:(\$7*1e6/\$1) with linespoints pt 4 title "migrate_validate()"
PLOT
        else
            printf 'set title "catalog: no data (run test/bench/catalog.sh)"\nunset key\nplot [0:1][0:1] 2 notitle\n'
        fi
        echo "unset multiplot"
    } | gnuplot
}
