#!/usr/bin/env bash
# Post-training quantization of a float zoo model against its float outputs (docs/ptq.md,
# issue #16): N(0,1) inputs, the float argmax from onnxruntime, the hls4ml-default uniform
# fixed<16,6>, and `rtl4ml optimize` started from a float proxy (a uniform fixed<32,12> that
# agrees with the float argmax on every sample) at 0.1% argmax tolerance (PTQ_TOLERANCE) with a 25% held-out
# validation split. Prints the argmax agreement with the float model and the estimated cost of
# each design. Needs python3 with numpy and onnxruntime (PYTHON=...), and target/release/rtl4ml.
#   bench/ptq_float_reference.sh [MODEL.onnx]     (default: the zoo's three_layer_keras.onnx)
# Takes ~3 min of CPU (the search).
set -euo pipefail
cd "$(dirname "$0")/.."
RTL4ML=${RTL4ML:-$PWD/target/release/rtl4ml}
PY=${PYTHON:-python3}
MODEL=$(realpath "${1:-../shared/zoo/onnx/three_layer_keras.onnx}")
W=${PTQ_WORK:-/tmp/rtl4ml-ptq}
rm -rf "$W" && mkdir -p "$W" && cd "$W"
"$PY" - "$MODEL" <<'PYEOF'
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1]); i = s.get_inputs()[0]
n = int(i.shape[-1])
x = np.random.default_rng(7).normal(0, 1, (6000, n)).astype(np.float32)
y = np.concatenate([s.run(None, {i.name: x[k:k + 1]})[0] for k in range(len(x))])
np.save("x.npy", x.astype(np.float64)); np.save("float_argmax.npy", y.argmax(1).astype(np.int64))
PYEOF
agree() {  # agreement of a design's argmax with the float argmax on all 6000 samples
  "$RTL4ML" sim "$1" --precision-file "$2" --input x.npy --output y.npy 2>/dev/null
  "$PY" -c "import numpy as np; print(f\"{(np.load('y.npy').argmax(1)==np.load('float_argmax.npy')).mean()*100:.2f}%\")"
}
cost() {  # estimated LUT / FF / cycles at 4 ns
  "$RTL4ML" compile "$1" ${2:+--precision-file "$2"} -o "b_$3" -q >/dev/null 2>&1
  "$PY" -c "import json; r=json.load(open('b_$3/report.json')); t=r['resources']; print(f\"{t['lut']} LUT, {t['ff']} FF, {r['latency_cycles']} cycles\")"
}
echo '{"default": "fixed<16,6>", "softmax": "skip"}' > p16.json
echo '{"default": "fixed<32,12>", "softmax": "skip"}' > p32.json
echo "uniform fixed<16,6> (hls4ml's default): agreement $(agree "$MODEL" p16.json), $(cost "$MODEL" p16.json p16)"
echo "uniform fixed<32,12> (float proxy):     agreement $(agree "$MODEL" p32.json), $(cost "$MODEL" p32.json p32)"
"$RTL4ML" optimize "$MODEL" --precision-file p32.json --calib x.npy --labels float_argmax.npy \
  --tolerance "${PTQ_TOLERANCE:-0.1%}" --validation 0.25 -o opt.json 2>&1 | grep -E "^(LUT|FF|latency|argmax|held-out|accuracy|search)" || true
echo "optimized: $(cost opt.json "" opt)"
