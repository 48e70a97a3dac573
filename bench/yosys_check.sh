#!/usr/bin/env bash
# The cost model against Yosys on the bundled models: compiles each model, runs
# `rtl4ml synth` (Yosys 0.23 `synth_xilinx -flatten -nodsp -noiopad`, 7-series cells; the
# figures go into the build's report.json) and prints the estimate next to the measurement.
#   bench/yosys_check.sh [MODEL.json ...]     (default: all bundled models)
# One synthesis at a time, under `nice`. Minutes per model: odd_types and wrap_accum < 1,
# jet_tagger 2-12, deepsets/econt/axol1tl/cicada 5-30 depending on the machine's load.
# LUT = LUT1..LUT6 + INV (an inverter is a LUT1 in a Xilinx netlist); FF = FD*;
# CARRY = CARRY4. Tolerance (docs/resource-model.md): LUT and FF within +-10%.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v yosys >/dev/null || { echo "yosys missing: apt-get install yosys" >&2; exit 1; }
cargo build --release -q
models=("$@"); [ ${#models[@]} -eq 0 ] && models=(models/*.json)
printf "| %-12s | %7s | %7s | %7s | %6s | %6s | %6s | %8s | %8s | %5s |\n" \
  model est_LUT LUT LUT_err est_FF FF FF_err est_CARRY CARRY secs
for m in "${models[@]}"; do
  name=$(basename "$m" .json)
  out=build/yosys/$name
  ./target/release/rtl4ml compile "$m" -o "$out" -q --clock-ns "${CLOCK_NS:-4.0}" 2>/dev/null
  start=$(date +%s)
  nice ./target/release/rtl4ml synth "$out" --target xilinx-ultrascale-plus >/dev/null 2>"$out/synth.err" || { cat "$out/synth.err" >&2; exit 1; }
  secs=$(( $(date +%s) - start ))
  python3 - "$out/report.json" "$name" "$secs" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = next(x for x in r["measured"] if x["target"] == "xilinx")
e = r["resources"]
print("| %-12s | %7d | %7d | %+6.1f%% | %6d | %6d | %+5.1f%% | %8d | %8d | %5s |" % (
    sys.argv[2], e["lut"], m["lut"], m["lut_error_pct"], e["ff"], m["ff"],
    m["ff_error_pct"], e["carry"], m["carry"], sys.argv[3]))
PY
done
