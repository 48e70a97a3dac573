#!/usr/bin/env bash
# Soak test (docs/reliability.md): hundreds of random quantized networks across all rounding and
# overflow modes and compile options, simulator vs Verilator bit for bit, >= 1M vectors in all.
# Not part of CI (about 15-30 minutes on 2 cores). Needs Verilator (bench/setup.sh).
#
#   bench/soak.sh                      # 320 networks x 4000 vectors, 16 networks per build
#   bench/soak.sh --networks 32 --vectors 500    # a quick run
#
# Extra arguments go to `cargo run --example soak` (see examples/soak.rs). The log is
# target/soak/soak.log; the exit status is non-zero on any mismatch, with the models of the
# failing batch kept in target/soak/batchN/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/soak
cargo build --release --example soak
nice -n 5 target/release/examples/soak --work target/soak "$@" 2>&1 | tee target/soak/soak.log
exit "${PIPESTATUS[0]}"
