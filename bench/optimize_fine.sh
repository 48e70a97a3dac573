#!/bin/sh
# Figures of docs/optimize.md ("Figures"): `rtl4ml optimize` on the bundled models, with the
# estimated LUT/FF and latency before and after, the error, and the CPU time (user, all
# threads) of the search. Usage: bench/optimize_fine.sh [BINARY] (default: the release build).
# Runs one search at a time under `nice`; the jet tagger takes about a minute.
set -eu
BIN=${1:-target/release/rtl4ml}
OUT=${TMPDIR:-/tmp}/rtl4ml-optimize-bench
mkdir -p "$OUT"
run() {
    name=$1; model=$2; calib=$3; shift 3
    /usr/bin/time -q -f "%U" -o "$OUT/$name.time" nice "$BIN" optimize "$model" --calib "$calib" \
        -o "$OUT/$name.opt.json" "$@" >"$OUT/$name.log" 2>&1 || true
    printf '%s %s\n' "$name" "$*"
    grep -E '^(LUT|FF) |^latency  |disagreement  |squared error  |^search:' "$OUT/$name.log" || tail -3 "$OUT/$name.log"
    echo "CPU $(cat "$OUT/$name.time") s (user)"
    echo
}
run jet_tagger_16b models/jet_tagger_16b.json models/calib/jet_tagger.npy \
    --clock-ns 4 --budget-ns 25 --tolerance 0.5%
run egamma_id_16b models/egamma_id_16b.json models/calib/egamma_id.npy \
    --clock-ns 4 --budget-ns 25 --tolerance 0.5%
run wrap_accum models/wrap_accum.json models/calib/wrap_accum.npy --clock-ns 2 --tolerance 0.5%
run deepsets_16b models/deepsets_16b.json models/calib/deepsets.npy \
    --clock-ns 4 --budget-ns 25 --tolerance 0.5%
# The Deep Sets tagger as a trigger deploys it: the class scores only (its softmax table chain
# alone needs 4 of the 6 cycles).
python3 - "$OUT/deepsets_16b_logits.json" <<'PY'
import json, sys
m = json.load(open("models/deepsets_16b.json"))
m["layers"] = [l for l in m["layers"] if l["kind"] not in ("softmax", "argmax")]
m["outputs"], m["name"] = ["logits"], "deepsets_16b_logits"
json.dump(m, open(sys.argv[1], "w"))
PY
run deepsets_16b_logits "$OUT/deepsets_16b_logits.json" models/calib/deepsets.npy \
    --clock-ns 4 --budget-ns 25 --tolerance 0.5%
run axol1tl models/axol1tl.json models/calib/axol1tl.npy --clock-ns 4 --metric mse --tolerance 1%
