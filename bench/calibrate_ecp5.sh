#!/usr/bin/env bash
# ECP5 timing calibration (docs/timing-model.md, issue #17): compiles every design of the
# corpus (bench/calibration/corpus.py) with --target lattice-ecp5 at its clocks, synthesises,
# places and routes it (`rtl4ml synth --pnr ecp5`: Yosys synth_ecp5 + nextpnr-ecp5), and
# appends one row per run to bench/calibration/ecp5.csv: the compiler's prediction, the routed
# Fmax and nextpnr's critical path split into logic and routing.
#
#   bench/calibrate_ecp5.sh                 every design
#   bench/calibrate_ecp5.sh rand_s argmax32 only these designs
#
# Resumable: a run whose (design, clock, delay model) already has a row is skipped, so the
# corpus can be run in parts and re-run after the delay model changes (new rows, new model
# tag). Slow: minutes per large design. Runs under `nice -n 19`, one at a time.
# Environment: RTL4ML (binary, default target/release/rtl4ml), CAL_WORK (build directories,
# default /tmp/rtl4ml-calibration), CAL_CSV (default bench/calibration/ecp5.csv).
set -euo pipefail
cd "$(dirname "$0")/.."
RTL4ML=${RTL4ML:-target/release/rtl4ml}
WORK=${CAL_WORK:-/tmp/rtl4ml-calibration}
CSV=${CAL_CSV:-bench/calibration/ecp5.csv}
PY=bench/calibration/corpus.py
[ -x "$RTL4ML" ] || { echo "no $RTL4ML: cargo build --release first (or set RTL4ML)" >&2; exit 1; }
mkdir -p "$WORK/models" "$WORK/builds"
python3 $PY models "$WORK/models"
[ -s "$CSV" ] || python3 $PY header > "$CSV"
python3 $PY list | while read -r design src clock extra; do
    if [ $# -gt 0 ]; then
        case " $* " in *" $design "*) ;; *) continue ;; esac
    fi
    [ "$extra" = "-" ] && extra=""
    case "$src" in gen:*) model="$WORK/models/$design.json" ;; *) model="$src" ;; esac
    new="$WORK/builds/${design}_${clock}.new"
    # shellcheck disable=SC2086
    if ! "$RTL4ML" compile "$model" -o "$new" --target lattice-ecp5 --clock-ns "$clock" $extra -q >/dev/null 2>"$new.log"; then
        echo "     compile FAILED: $(cat "$new.log")" >&2
        continue
    fi
    tag=$(python3 -c "import json,sys; print((json.load(open(sys.argv[1])).get('timing_model') or {}).get('version','v0-uncalibrated'))" "$new/report.json")
    # One build directory per delay model, kept for inspection (nextpnr's log and report).
    out="$WORK/builds/${design}_${clock}_$tag"
    if python3 - "$CSV" "$design" "$clock" "$tag" <<'PYEOF'
import csv, sys
rows = csv.DictReader(open(sys.argv[1]))
sys.exit(0 if any(r["design"] == sys.argv[2] and float(r["clock_ns"]) == float(sys.argv[3])
                  and r["delay_model"] == sys.argv[4] for r in rows) else 1)
PYEOF
    then
        echo "skip $design @ ${clock} ns ($tag): already in $CSV"
        rm -rf "$new" "$new.log"
        continue
    fi
    rm -rf "$out" && mv "$new" "$out" && rm -f "$new.log"
    echo "run  $design @ ${clock} ns ($tag) ..."
    t0=$(date +%s)
    if ! nice -n 19 "$RTL4ML" synth "$out" --pnr ecp5 > "$out.synth.log" 2>&1; then
        echo "     FAILED, see $out.synth.log" >&2
        continue
    fi
    secs=$(( $(date +%s) - t0 ))
    python3 $PY row "$out" "$design" "$src" "$extra" "$secs" >> "$CSV"
    tail -n 1 "$CSV" | cut -d, -f1,4-10
done
