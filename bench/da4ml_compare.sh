#!/usr/bin/env bash
# rtl4ml vs da4ml on the same quantized networks: equivalence check, Yosys LUT/FF/CARRY, stages,
# compile time. Thin wrapper around bench/da4ml_compare.py (see it for options); installs
# Yosys/Verilator with bench/setup.sh when missing, da4ml with pip when missing.
#   bench/da4ml_compare.sh                          # the three bundled models, ~10 min on 2 cores
#   bench/da4ml_compare.sh models/wrap_accum.json   # one model
# Writes build/compare/results.md and results.json. Not part of CI (slow: Yosys on the jet tagger).
set -euo pipefail
cd "$(dirname "$0")/.."
bench/setup.sh
exec python3 bench/da4ml_compare.py "$@"
