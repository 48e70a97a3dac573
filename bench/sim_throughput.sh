#!/usr/bin/env bash
# `rtl4ml sim` throughput, whole process on ONE core (issue #19 item 3): builds the release
# binary, writes 1,000,000 jet samples (16 float64 inputs, N(0,1)*2, fixed seed) as .npy, and
# runs `rtl4ml sim models/jet_tagger.json --input x.npy --output y.npy` 5 times under
# `taskset -c 0`, timing the wall clock of each whole process (reading the .npy, casting to
# fixed point, compiling the model, simulating, writing the .npy). Prints the best and median
# wall time and samples/s.
#
# Optionally (DA4ML=1, the default when pip can install it), the same network through da4ml's
# bit-exact interpreter (`CombLogic.predict`, n_threads=1, under `taskset -c 0`) for comparison:
# the network is built by bench/da4ml_compare.py's Da4mlBuilder (its equivalence with
# `rtl4ml sim --raw` is what bench/da4ml_compare.sh checks); da4ml 0.6.0 goes into a venv
# under target/. Only predict() on the 1M inputs (already quantized, in memory) is timed: no
# file I/O, no tracing. DA4ML=0 skips it.
#
#   bench/sim_throughput.sh                 # 1M samples, 5 runs
#   SAMPLES=200000 RUNS=3 bench/sim_throughput.sh
#
# Environment: CARGO_TARGET_DIR (default target), SAMPLES (1000000), RUNS (5), MODEL
# (models/jet_tagger.json; its inputs must be 16 elements for the generated data), PYTHON (a
# python3 with numpy; default target/python-venv/bin/python if present, else python3),
# DA4ML (1/0). No timed assertions: this script only measures.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
SAMPLES=${SAMPLES:-1000000}
RUNS=${RUNS:-5}
MODEL=${MODEL:-models/jet_tagger.json}
DA4ML=${DA4ML:-1}
WORK="$TARGET/bench/sim_throughput"
mkdir -p "$WORK"
if [ -z "${PYTHON:-}" ]; then
    if [ -x target/python-venv/bin/python ] && target/python-venv/bin/python -c 'import numpy' 2>/dev/null; then
        PYTHON=target/python-venv/bin/python
    else
        PYTHON=python3
    fi
fi

echo "== build (cargo build --release)"
nice cargo build --release --quiet
RTL4ML="$TARGET/release/rtl4ml"

X="$WORK/x_$SAMPLES.npy"
if [ ! -s "$X" ]; then
    echo "== writing $SAMPLES samples to $X"
    "$PYTHON" - "$X" "$SAMPLES" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
try:
    import numpy as np
    np.save(path, np.random.default_rng(19).standard_normal((n, 16)) * 2)
except ImportError:  # no numpy: write the .npy by hand (slower, different values)
    import random, struct
    random.seed(19)
    h = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 16), }" % n
    h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())
        for _ in range(n):
            f.write(struct.pack('<16d', *(random.gauss(0, 2) for _ in range(16))))
EOF
fi

echo "== rtl4ml sim $MODEL, $SAMPLES samples, $RUNS runs, taskset -c 0"
times=()
for i in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    taskset -c 0 "$RTL4ML" sim "$MODEL" --input "$X" --output "$WORK/y.npy" 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; exit 1; }
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    times+=("$t")
    printf '  run %d: %.3f s\n' "$i" "$t"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -g)
best=$(echo "$sorted" | head -1)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
printf 'rtl4ml sim: best %.3f s (%.0f samples/s), median %.3f s (%.0f samples/s), wall, whole process, one core\n' \
    "$best" "$(echo "$SAMPLES / $best" | bc -l)" "$median" "$(echo "$SAMPLES / $median" | bc -l)"

[ "$DA4ML" = 1 ] || exit 0
VENV="$TARGET/da4ml-venv"
if ! "$VENV/bin/python" -c 'import da4ml, numpy' 2>/dev/null; then
    echo "== installing da4ml 0.6.0 into $VENV"
    if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'da4ml==0.6.0'; }; then
        echo "da4ml: pip install failed; skipped" >&2
        exit 0
    fi
fi
echo "== da4ml CombLogic.predict, same network, $SAMPLES samples, $RUNS runs, n_threads=1, taskset -c 0"
taskset -c 0 "$VENV/bin/python" - "$MODEL" "$X" "$RUNS" <<'EOF'
import json, statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, 'bench')
from da4ml_compare import Da4mlBuilder

model_path, x_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
comb, inp_types, out_types = Da4mlBuilder(json.loads(Path(model_path).read_text()), 2).build()
x = np.load(x_path)
# Input values on the input types' grids, as rtl4ml casts them for RND/SAT types (jet_tagger's
# fixed<16,6,RND,SAT>); other modes only approximately (timing is all that is measured here).
F = np.array([t.F for t in inp_types], dtype=np.float64)
m = np.floor(x * 2.0**F + 0.5)
m = np.clip(m, [t.mmin for t in inp_types], [t.mmax for t in inp_types])
xv = m * 2.0**-F
times = []
for i in range(runs):
    t0 = time.perf_counter()
    comb.predict(xv, n_threads=1)
    times.append(time.perf_counter() - t0)
    print(f'  run {i + 1}: {times[-1]:.3f} s')
n = len(x)
best, med = min(times), statistics.median(times)
print(f'da4ml predict: best {best:.3f} s ({n / best:.0f} samples/s), median {med:.3f} s ({n / med:.0f} samples/s), in memory, one thread')
EOF
