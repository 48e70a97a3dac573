#!/usr/bin/env python3
"""Reference outputs for the models of hls4ml's public model zoo in ../shared/zoo/onnx.

Writes tests/fixtures/zoo/NAME.input.npy, NAME.expected.npy, NAME.float.npy and
tests/fixtures/zoo/refs.json (what each reference is, and the figures). The models themselves
are not copied (the zoo carries no license): tests/zoo.rs reads them from ../shared/zoo.

  python3 -m venv /tmp/zoovenv
  /tmp/zoovenv/bin/pip install -r tools/requirements-zoo.txt
  /tmp/zoovenv/bin/python tools/make_zoo_refs.py [--zoo ../shared/zoo]

(hls4ml's C simulation needs g++.)

Inputs: N(0, 1) draws from numpy's PCG64 with a fixed seed per model, rounded to float32 (what
the ONNX models take) and stored as float64, so every tool sees the same values.

References:

* QONNX models (bnn_model_fc_1layer): qonnx's own executor (qonnx.core.onnx_exec.execute_onnx
  after qonnx's cleanup), one sample at a time.
* Float models with a precision (three_layer_keras, three_layer_pytorch, conv2d_small_keras
  with 'fixed<16,6>'): hls4ml 1.3.0's C simulation (`ModelGraph.compile()` + `predict`) of the
  model after qonnx's cleanup, ConvertToChannelsLastAndClean and GemmToMatMul (hls4ml's ONNX
  frontend reads QONNX-cleaned graphs), configured with
  `config_from_onnx_model(granularity='model', default_precision='fixed<16,6>')`, the Vivado
  backend, the Latency strategy and `Softmax: Implementation: latency`. This is what
  `rtl4ml compile MODEL --precision 'fixed<16,6>'` implements.
* For the float models also the float outputs of onnxruntime (NAME.float.npy) and the argmax
  agreement of the fixed-point outputs with them (refs.json).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "zoo")
N_SAMPLES = 256
PRECISION = "fixed<16,6>"


def hls4ml_csim(path, x, precision):
    """hls4ml's C simulation of the float ONNX model at `path` with one default precision."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    m = cleanup_model(ModelWrapper(path))
    m = m.transform(ConvertToChannelsLastAndClean())
    m = m.transform(GemmToMatMul())
    m = cleanup_model(m)
    cfg = hls4ml.utils.config.config_from_onnx_model(
        m, granularity="model", backend="Vivado", default_precision=precision
    )
    cfg["Model"]["Strategy"] = "Latency"
    cfg.setdefault("LayerType", {})["Softmax"] = {"Implementation": "latency"}
    work = tempfile.mkdtemp(prefix="zoo_hls4ml_")
    try:
        h = hls4ml.converters.convert_from_onnx_model(
            m, output_dir=work, backend="Vivado", hls_config=cfg
        )
        h.compile()
        y = h.predict(np.ascontiguousarray(x.astype(np.float32)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


# ---- the models ---------------------------------------------------------------------------


def onnxruntime_float(path, x):
    import onnxruntime as ort

    s = ort.InferenceSession(path)
    name = s.get_inputs()[0].name
    shape = s.get_inputs()[0].shape
    ys = []
    for i in range(len(x)):
        xi = x[i : i + 1].astype(np.float32)
        if isinstance(shape[0], int) and shape[0] > 1:  # a fixed, wrong batch size
            xi = np.repeat(xi, shape[0], axis=0)
        ys.append(s.run(None, {name: xi})[0][:1])
    return np.concatenate(ys).astype(np.float64)


def qonnx_exec(path, x):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from qonnx.util.cleanup import cleanup_model

    m = cleanup_model(ModelWrapper(path))  # shapes inferred, as execute_onnx needs
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    ys = [execute_onnx(m, {iname: x[i : i + 1].astype(np.float32)})[oname] for i in range(len(x))]
    return np.concatenate(ys).astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=os.path.join(HERE, "..", "..", "shared", "zoo"))
    args = ap.parse_args()
    onnx_dir = os.path.join(args.zoo, "onnx")
    os.makedirs(OUT, exist_ok=True)
    refs = {}
    specs = [
        ("bnn_model_fc_1layer", (3,), None, 1),
        ("three_layer_keras", (16,), PRECISION, 2),
        ("three_layer_pytorch", (16,), PRECISION, 3),
        ("conv2d_small_keras", (8, 8, 1), PRECISION, 4),
    ]
    for name, shape, precision, seed in specs:
        path = os.path.join(onnx_dir, name + ".onnx")
        rng = np.random.default_rng(seed)
        n = 64 if name.startswith("conv") else N_SAMPLES
        x = rng.standard_normal((n,) + shape).astype(np.float32).astype(np.float64)
        entry = {"model": name + ".onnx", "samples": n, "input_seed": seed}
        if precision is None:
            y = qonnx_exec(path, x)
            entry["reference"] = "qonnx 1.0.0 execute_onnx"
        else:
            y = hls4ml_csim(path, x, precision)
            yf = onnxruntime_float(path, x)
            np.save(os.path.join(OUT, name + ".float.npy"), yf)
            entry["precision"] = precision
            entry["reference"] = (
                "hls4ml 1.3.0 C simulation (granularity 'model', Vivado, Latency, "
                "Softmax implementation 'latency')"
            )
            entry["argmax_agreement_with_float"] = float((y.argmax(1) == yf.argmax(1)).mean())
        np.save(os.path.join(OUT, name + ".input.npy"), x)
        np.save(os.path.join(OUT, name + ".expected.npy"), y)
        refs[name] = entry
        print(name, entry, file=sys.stderr)
    with open(os.path.join(OUT, "refs.json"), "w") as f:
        json.dump(refs, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
