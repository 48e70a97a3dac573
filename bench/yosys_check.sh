#!/usr/bin/env bash
# Synthesises compiled models with Yosys (synth_xilinx -flatten -nodsp -noiopad) and prints
# the compiler's LUT/FF estimate next to Yosys's counts.
#   bench/yosys_check.sh [MODEL.json ...]     (default: all bundled models)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v yosys >/dev/null || { echo "yosys missing: apt-get install yosys" >&2; exit 1; }
cargo build --release -q
models=("$@"); [ ${#models[@]} -eq 0 ] && models=(models/*.json)
printf "%-12s %8s %8s %8s %8s %8s %8s %6s\n" model est_LUT yosys_LUT LUT_err est_FF yosys_FF CARRY secs
for m in "${models[@]}"; do
  name=$(basename "$m" .json)
  out=build/yosys/$name
  ./target/release/rtl4ml compile "$m" -o "$out" -q --clock-ns "${CLOCK_NS:-4.0}" 2>/dev/null
  top=$(python3 -c "import json;print(json.load(open('$out/rtl4ml.json'))['top'])")
  start=$(date +%s)
  yosys -q -p "read_verilog $out/*.v; synth_xilinx -flatten -nodsp -noiopad -top $top; tee -o $out/yosys_stat.txt stat" >/dev/null
  secs=$(( $(date +%s) - start ))
  lut=$(awk '/LUT[1-6]/ {s+=$2} END {print s+0}' "$out/yosys_stat.txt")
  ff=$(awk '/FD[RSCP]E?/ {s+=$2} END {print s+0}' "$out/yosys_stat.txt")
  carry=$(awk '/CARRY/ {s+=$2} END {print s+0}' "$out/yosys_stat.txt")
  est_lut=$(python3 -c "import json;print(json.load(open('$out/report.json'))['resources']['lut'])")
  est_ff=$(python3 -c "import json;print(json.load(open('$out/report.json'))['resources']['ff'])")
  err=$(python3 -c "print(f'{($est_lut-$lut)/max($lut,1)*100:+.1f}%')")
  printf "%-12s %8s %8s %8s %8s %8s %8s %6s\n" "$name" "$est_lut" "$lut" "$err" "$est_ff" "$ff" "$carry" "$secs"
done
