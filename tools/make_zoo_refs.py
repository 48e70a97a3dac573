#!/usr/bin/env python3
"""Reference outputs for the models of hls4ml's public model zoo in ../shared/zoo/onnx.

Writes tests/fixtures/zoo/NAME.input.npy, NAME.expected.npy, NAME.float.npy and
tests/fixtures/zoo/refs.json (what each reference is, and the figures). The models themselves
are not copied (the zoo carries no license): tests/zoo.rs reads them from ../shared/zoo.

  python3 -m venv /tmp/zoovenv
  /tmp/zoovenv/bin/pip install onnx==1.23.2 qonnx==1.0.0 onnxruntime==1.32.0 numpy==2.4.6
  /tmp/zoovenv/bin/python tools/make_zoo_refs.py [--zoo ../shared/zoo]

Inputs: N(0, 1) float64 draws from numpy's PCG64 with a fixed seed per model (rounded to
float32, which the ONNX models take), so the inputs are reproducible and the same values go
to every tool.

References:

* QONNX models (bnn_model_fc_1layer): qonnx's own executor
  (qonnx.core.onnx_exec.execute_onnx), one sample at a time.
* Float models with a precision (three_layer_keras, three_layer_pytorch, conv2d_small_keras
  with 'fixed<16,6>'): an independent numpy emulation of hls4ml's semantics for that
  configuration (granularity 'model', every type ap_fixed<16,6> = AP_TRN/AP_WRAP; weights and
  biases written with F = 10 decimals and converted by ap_fixed (AP_TRN); Latency dense and
  conv: each product cast to accum_t, summed with wrap-around; results cast to result_t;
  Softmax with implementation 'latency', 1024-entry ap_fixed<18,8,AP_RND,AP_SAT> tables).
  hls4ml's own C simulation is not run here (it needs hls4ml's ONNX frontend and a C++
  build): see docs/ptq.md.
* For the float models, the float outputs of onnxruntime (NAME.float.npy) and the argmax
  agreement of the fixed-point outputs with them (refs.json).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "zoo")
N_SAMPLES = 256

# ---- ap_fixed emulation (exact: integer mantissas in int64 / Python ints) ------------------


class Fx:
    """ap_fixed<W, I> / ap_ufixed with a rounding ('TRN' or 'RND') and overflow ('WRAP', 'SAT')."""

    def __init__(self, w, i, signed=True, rnd="TRN", ovf="WRAP"):
        self.w, self.i, self.f, self.signed, self.rnd, self.ovf = w, i, w - i, signed, rnd, ovf
        self.lo = -(1 << (w - 1)) if signed else 0
        self.hi = (1 << (w - 1)) - 1 if signed else (1 << w) - 1

    def overflow(self, m):
        m = np.asarray(m, dtype=object)
        if self.ovf == "SAT":
            return np.clip(m, self.lo, self.hi)
        mod = 1 << self.w
        u = np.vectorize(lambda v: v % mod, otypes=[object])(m)
        if self.signed:
            u = np.vectorize(lambda v: v - mod if v > self.hi else v, otypes=[object])(u)
        return u

    def from_mantissa(self, m, frac):
        """Cast mantissas `m` at `frac` fractional bits (Python ints)."""
        m = np.asarray(m, dtype=object)
        s = frac - self.f
        if s > 0:
            if self.rnd == "TRN":
                q = np.vectorize(lambda v: v >> s, otypes=[object])(m)
            elif self.rnd == "RND":  # ties toward +inf
                q = np.vectorize(lambda v: (v + (1 << (s - 1))) >> s, otypes=[object])(m)
            else:
                raise ValueError(self.rnd)
        else:
            q = np.vectorize(lambda v: v << -s, otypes=[object])(m)
        return self.overflow(q)

    def from_float(self, x):
        """Cast float64 values (exactly: a float64 is m * 2^e)."""
        x = np.asarray(x, dtype=np.float64)

        def one(v):
            p, q = float(v).as_integer_ratio()  # exact; q is a power of two
            return int(self.from_mantissa(np.array([p], dtype=object), q.bit_length() - 1)[0])

        return np.vectorize(one, otypes=[object])(x)

    def value(self, m):
        return np.vectorize(lambda v: float(v) / 2.0**self.f, otypes=[np.float64])(m)


def hls4ml_constant(w, ty):
    """A weight as hls4ml writes it: text with F decimals, read back, converted by ap_fixed."""
    d = max(ty.f, 0)
    text = np.vectorize(lambda v: float(f"{float(v):.{d}f}"), otypes=[np.float64])(w)
    return ty.from_float(text)


def dense(x_m, x_f, w, b, wt, bt, at, rt):
    """hls4ml Latency dense: acc = A(b); acc = A(acc + A(x * w)); y = R(acc). x: [..., n_in]."""
    wm = hls4ml_constant(w, wt)  # [n_in, n_out]
    bm = hls4ml_constant(b, bt)
    lead = x_m.shape[:-1]
    n_in, n_out = wm.shape
    x2 = x_m.reshape(-1, n_in)
    out = np.empty((x2.shape[0], n_out), dtype=object)
    acc0 = at.from_mantissa(bm, bt.f)
    for r in range(x2.shape[0]):
        prod = at.from_mantissa(np.outer(x2[r], np.ones(n_out, dtype=object)) * wm, x_f + wt.f)
        acc = acc0.copy()
        for i in range(n_in):  # WRAP: the order does not matter, but keep hls4ml's
            acc = at.overflow(acc + prod[i])
        out[r] = rt.from_mantissa(acc, at.f)
    return out.reshape(lead + (n_out,)), rt.f


def relu(x_m, x_f, rt):
    z = np.vectorize(lambda v: v if v > 0 else 0, otypes=[object])(x_m)
    return rt.from_mantissa(z, x_f), rt.f


def softmax_latency(x_m, xt, et, it, rt, n_bits=10):
    """hls4ml softmax_latency on the last axis (tables indexed by the top n_bits bits)."""
    n = 1 << n_bits

    def top(m, ty):
        u = np.vectorize(lambda v: v % (1 << ty.w), otypes=[object])(m)
        return np.vectorize(lambda v: v >> (ty.w - n_bits), otypes=[object])(u)

    def sample(i, ty):
        m = int(Fx(ty.w, ty.i, ty.signed).overflow(np.array([i << (ty.w - n_bits)], dtype=object))[0])
        return m / 2.0**ty.f

    exp_table = [int(et.from_float(np.array([np.exp(sample(i, xt))]))[0]) for i in range(n)]
    inv_table = []
    for i in range(n):
        v = sample(i, et)
        inv_table.append(et_max(it) if v == 0 else int(it.from_float(np.array([1.0 / v]))[0]))

    def reduce(vals):
        if len(vals) == 1:
            return vals[0]
        left = 1 << (len(vals) - 1).bit_length() - 1
        s = reduce(vals[:left]) + reduce(vals[left:])
        return int(et.overflow(np.array([s], dtype=object))[0])

    out = np.empty_like(x_m)
    for r in range(x_m.shape[0]):
        e = [exp_table[int(k)] for k in top(x_m[r], xt)]
        s = reduce(e)
        inv = inv_table[int(top(np.array([s], dtype=object), et)[0])]
        out[r] = rt.from_mantissa(np.array([ei * inv for ei in e], dtype=object), et.f + it.f)
    return out, rt.f


def et_max(ty):
    return ty.hi


def conv2d_same_nhwc(x_m, x_f, w_oihw, b, wt, bt, at, rt):
    """Conv 3x3, stride 1, pads 1 (Keras 'same') on [N, H, W, C]; hls4ml Latency semantics per
    output (terms in the order kernel position, input channel)."""
    n, h, wd, c = x_m.shape
    f, _, kh, kw = w_oihw.shape
    wm = hls4ml_constant(np.transpose(w_oihw, (2, 3, 1, 0)), wt)  # [kh, kw, c, f]
    bm = hls4ml_constant(b, bt)
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    out = np.empty((n, h, wd, f), dtype=object)
    acc0 = at.from_mantissa(bm, bt.f)
    for s in range(n):
        for y in range(h):
            for xx in range(wd):
                acc = acc0.copy()
                for dy in range(kh):
                    for dx in range(kw):
                        yy, xs = y + dy - ph, xx + dx - pw
                        if not (0 <= yy < h and 0 <= xs < wd):
                            continue
                        for ci in range(c):
                            p = at.from_mantissa(x_m[s, yy, xs, ci] * wm[dy, dx, ci], x_f + wt.f)
                            acc = at.overflow(acc + p)
                out[s, y, xx] = rt.from_mantissa(acc, at.f)
    return out, rt.f


# ---- the models ---------------------------------------------------------------------------


def inits(model):
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}


def ptq_mlp(model, x, transposed):
    """three_layer_keras (MatMul + Add, W [in, out]) / three_layer_pytorch (Gemm, transB)."""
    t = Fx(16, 6)
    et = it = Fx(18, 8, True, "RND", "SAT")
    p = inits(model)
    if transposed:
        layers = [(p[str(1 + 2 * k)].T, p[str(2 + 2 * k)]) for k in range(4)]
    else:
        names = [("W", "B"), ("W1", "B1"), ("W2", "B2"), ("W3", "B3")]
        layers = [(p[w], p[b]) for w, b in names]
    m, f = t.from_float(x), t.f
    for k, (w, b) in enumerate(layers):
        m, f = dense(m, f, w, b, t, t, t, t)
        if k < 3:
            m, f = relu(m, f, t)
    m, f = softmax_latency(m, t, et, it, t)
    return t.value(m)


def ptq_conv(model, x):
    t = Fx(16, 6)
    et = it = Fx(18, 8, True, "RND", "SAT")
    p = inits(model)
    m, f = t.from_float(x), t.f  # [N, 8, 8, 1] NHWC, as the model's input
    m, f = conv2d_same_nhwc(m, f, p["W"], p["B"], t, t, t, t)
    m, f = relu(m, f, t)
    m = m.reshape(m.shape[0], -1)  # Flatten of the NHWC tensor (after the second Transpose)
    m, f = dense(m, f, p["W1"], p["B1"], t, t, t, t)
    m, f = softmax_latency(m, t, et, it, t)
    return t.value(m)


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
    import onnx

    onnx_dir = os.path.join(args.zoo, "onnx")
    os.makedirs(OUT, exist_ok=True)
    refs = {}
    specs = [
        ("bnn_model_fc_1layer", (3,), None, 1),
        ("three_layer_keras", (16,), "fixed<16,6>", 2),
        ("three_layer_pytorch", (16,), "fixed<16,6>", 3),
        ("conv2d_small_keras", (8, 8, 1), "fixed<16,6>", 4),
    ]
    for name, shape, precision, seed in specs:
        path = os.path.join(onnx_dir, name + ".onnx")
        rng = np.random.default_rng(seed)
        n = 64 if name.startswith("conv") else N_SAMPLES
        x = rng.standard_normal((n,) + shape).astype(np.float32).astype(np.float64)
        model = onnx.load(path)
        entry = {"model": name + ".onnx", "samples": n, "input_seed": seed}
        if precision is None:
            y = qonnx_exec(path, x)
            entry["reference"] = "qonnx 1.0.0 execute_onnx"
        else:
            if name == "conv2d_small_keras":
                y = ptq_conv(model, x)
            else:
                y = ptq_mlp(model, x, transposed=name.endswith("pytorch"))
            yf = onnxruntime_float(path, x)
            np.save(os.path.join(OUT, name + ".float.npy"), yf)
            entry["precision"] = precision
            entry["reference"] = (
                "numpy emulation of hls4ml (granularity 'model', ap_fixed<16,6>, "
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
