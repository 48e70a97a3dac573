#!/usr/bin/env python3
"""Builds the QONNX test fixtures in tests/fixtures/qonnx/ and their expected outputs.

Each fixture is a small quantized MLP written programmatically with onnx.helper, in the
styles real exporters produce (Brevitas: per-tensor scales, ROUND, narrow weights, Gemm;
QKeras: per-channel power-of-two weight scales, FLOOR; pruned weights; BatchNormalization;
unsigned and narrow activations; BipolarQuant; Trunc v1 and v2). For each one the script

Since issue 6 the fixtures include convolutional ones (Conv 1-D/2-D, depthwise, dilated,
padded; MaxPool, AveragePool, the global poolings, residual Add/Sub/Mul of two computed
tensors, Concat, Slice), with NCHW inputs saved batch first in ONNX's own layout.

1. cleans the model with qonnx's own `cleanup_model` and saves it as NAME.onnx;
2. draws a few hundred random inputs that are exact multiples of the input quantizer's
   scale (saved as NAME.input.npy, float64, batch first);
3. runs qonnx's executor (`qonnx.core.onnx_exec.execute_onnx`) on every sample and saves the
   outputs as NAME.expected.npy (float64);
4. recomputes every float32 arithmetic node (MatMul, Gemm, Add, Mul, Div,
   BatchNormalization) in float64 from the same inputs and stops if any differs, so that the
   executor's float32 arithmetic is known to be exact (expected outputs that float32 had
   rounded could not prove bit-exactness).

tests/frontends/qonnx.rs compares rtl4ml's simulator against these files; CI needs no Python.

Usage (from the repository root):
    pip install onnx==1.23.2 qonnx==1.0.0 numpy
    python3 tools/make_qonnx_fixtures.py [--out tests/fixtures/qonnx] [--samples 256]
"""

import argparse
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model

QONNX = "qonnx.custom_op.general"


class Graph:
    """Accumulates nodes and initializers; every helper returns its output tensor's name."""

    def __init__(self, name, rng):
        self.name = name
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.count = 0

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem, value):
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op, inputs, domain="", **attrs):
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, signed, narrow, mode, op="Quant"):
        """A Quant (or IntQuant) node with constant scale, zero point 0 and bit width."""
        return self.node(
            op,
            [x, self.const("scale", scale), self.const("zeropt", 0.0), self.const("bits", bits)],
            domain=QONNX,
            signed=int(signed),
            narrow=int(narrow),
            rounding_mode=mode,
        )

    def shape(self, dims):
        """An int64 shape initializer (for Reshape)."""
        name = self.fresh("shape")
        self.inits.append(numpy_helper.from_array(np.asarray(dims, dtype=np.int64), name))
        return name

    def bipolar(self, x, scale):
        return self.node("BipolarQuant", [x, self.const("scale", scale)], domain=QONNX)

    def trunc_v1(self, x, scale, in_bits, out_bits, mode):
        ins = [x, self.const("scale", scale), self.const("zeropt", 0.0)]
        ins += [self.const("in_bits", in_bits), self.const("out_bits", out_bits)]
        return self.node("Trunc", ins, domain=QONNX, rounding_mode=mode)

    def trunc_v2(self, x, scale, in_bits, out_scale, out_bits, mode, signed, narrow):
        ins = [x, self.const("scale", scale), self.const("zeropt", 0.0), self.const("in_bits", in_bits)]
        ins += [self.const("out_scale", out_scale), self.const("out_bits", out_bits)]
        return self.node("Trunc", ins, domain=QONNX, rounding_mode=mode, signed=int(signed), narrow=int(narrow))

    def float_weights(self, shape, scale, bits, narrow=True, prune=0.0):
        """Float weights that a `bits`-bit quantizer with `scale` (scalar or per column)
        rounds to random codes: codes plus noise below half a step (so ROUND has no ties),
        a few values beyond the range (so the quantizer clamps) and pruned zeros."""
        lim = 2 ** (bits - 1) - 1
        codes = self.rng.integers(-lim - (not narrow), lim + 1, size=shape)
        noise = self.rng.uniform(-0.45, 0.45, size=shape)
        w = (codes + noise) * scale
        edge = self.rng.random(shape) < 0.05
        w = np.where(edge, np.sign(w + 1e-9) * (lim + 3) * np.broadcast_to(scale, shape), w)
        w = np.where(self.rng.random(shape) < prune, 0.0, w)
        return w.astype(np.float32)

    def quant_weights(self, shape, scale, bits, mode="ROUND", narrow=True, prune=0.0, op="Quant"):
        w = self.const("w", self.float_weights(shape, scale, bits, narrow, prune))
        return self.quant(w, scale, bits, True, narrow, mode, op=op)

    def quant_bias(self, n, scale, bits=16, mode="ROUND"):
        lim = 2 ** (bits - 1) - 1
        b = self.rng.integers(-lim // 64, lim // 64, size=n) * scale
        return self.quant(self.const("b", b.astype(np.float32)), scale, bits, True, False, mode)

    def model(self, inp, in_shape, out, out_len, opset_qonnx=1):
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [1, *in_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, out_len])],
            initializer=self.inits,
        )
        opsets = [helper.make_opsetid("", 13), helper.make_opsetid(QONNX, opset_qonnx)]
        return helper.make_model(graph, producer_name="rtl4ml tools/make_qonnx_fixtures.py", opset_imports=opsets)


def brevitas_mlp(rng):
    """16 -> 12 -> 8 -> 5, Brevitas style: per-tensor power-of-two scales, ROUND everywhere,
    4-bit narrow weights, 16-bit quantized biases, unsigned ReLU quantizers, a Gemm layer
    (transB = 1, as older Brevitas exports) and an 8-bit output quantizer."""
    g = Graph("brevitas_mlp", rng)
    x = g.quant("global_in", 2.0**-4, 8, True, False, "ROUND")
    h = g.node("MatMul", [x, g.quant_weights((16, 12), 2.0**-3, 4)])
    h = g.node("Add", [h, g.quant_bias(12, 2.0**-7)])
    h = g.quant(g.node("Relu", [h]), 2.0**-3, 6, False, False, "ROUND")
    w2 = g.quant_weights((8, 12), 2.0**-3, 4)  # [n_out, n_in]: Gemm transposes it
    h = g.node("Gemm", [h, w2, g.quant_bias(8, 2.0**-6)], transB=1)
    h = g.quant(g.node("Relu", [h]), 2.0**-3, 6, False, False, "ROUND")
    h = g.node("MatMul", [h, g.quant_weights((8, 5), 2.0**-3, 4)])
    h = g.node("Add", [h, g.quant_bias(5, 2.0**-6)])
    y = g.quant(h, 2.0**-4, 8, True, False, "ROUND")
    return g.model("global_in", [16], y, 5), 2.0**-4, 8, True


def qkeras_mlp(rng):
    """16 -> 10 -> 6 -> 3, QKeras style: per-channel power-of-two weight scales (IntQuant
    spelling, which cleanup folds into plain float initializers), HALF_UP input rounding,
    FLOOR (quantized_relu) activations and an unquantized (exact) output layer."""
    g = Graph("qkeras_mlp", rng)
    x = g.quant("global_in", 2.0**-5, 10, True, False, "HALF_UP", op="IntQuant")
    s1 = 2.0 ** -rng.integers(2, 6, size=(1, 10))
    h = g.node("MatMul", [x, g.quant_weights((16, 10), s1, 6, narrow=False, op="IntQuant")])
    h = g.node("Add", [h, g.quant_bias(10, 2.0**-8)])
    h = g.quant(g.node("Relu", [h]), 2.0**-4, 6, False, False, "FLOOR", op="IntQuant")
    s2 = 2.0 ** -rng.integers(2, 6, size=(1, 6))
    h = g.node("MatMul", [h, g.quant_weights((10, 6), s2, 6, narrow=False)])
    h = g.quant(g.node("Relu", [h]), 2.0**-4, 6, False, False, "FLOOR")
    s3 = 2.0 ** -rng.integers(3, 6, size=(1, 3))
    y = g.node("MatMul", [h, g.quant_weights((6, 3), s3, 8, narrow=False)])
    y = g.node("Add", [y, g.quant_bias(3, 2.0**-9)])
    return g.model("global_in", [16], y, 3), 2.0**-5, 10, True


def pruned_mlp(rng):
    """20 -> 16 -> 8 -> 4 with 80%, 80% and 50% of the weights pruned; weights stored
    [n_out, n_in] behind a Transpose (which cleanup folds); HALF_DOWN (on a ReLU) and DOWN
    (signed output) rounding; a Mul and a Div by powers of two on activations, a quantizer
    before its ReLU, and an Identity."""
    g = Graph("pruned_mlp", rng)
    x = g.quant("global_in", 2.0**-3, 7, True, False, "DOWN")
    w1 = g.node("Transpose", [g.quant_weights((16, 20), 2.0**-4, 5, prune=0.8)], perm=[1, 0])
    h = g.node("MatMul", [x, w1])
    h = g.quant(g.node("Relu", [h]), 2.0**-4, 7, False, False, "HALF_DOWN")
    h = g.node("Mul", [h, g.const("half", 0.5)])
    h = g.node("Identity", [h])
    w2 = g.node("Transpose", [g.quant_weights((8, 16), 2.0**-4, 5, prune=0.8)], perm=[1, 0])
    h = g.node("MatMul", [h, w2])
    h = g.node("Div", [h, g.const("quarter", 0.25)])
    h = g.node("Relu", [g.quant(h, 2.0**-3, 7, True, False, "ROUND")])
    h = g.node("MatMul", [h, g.quant_weights((8, 4), 2.0**-4, 5, prune=0.5)])
    y = g.quant(h, 2.0**-3, 9, True, False, "DOWN")
    return g.model("global_in", [20], y, 4), 2.0**-3, 7, True


def bn_mlp(rng):
    """12 -> 8 -> 4, linear, with BatchNormalization after each MatMul, folded by rtl4ml:
    gamma is a power of two per channel and var + epsilon = 1 exactly, so the folded weights
    and biases are exact; CEIL and UP rounding of signed activations; a narrow signed
    output."""
    g = Graph("bn_mlp", rng)
    x = g.quant("global_in", 2.0**-4, 8, True, False, "ROUND")

    def bn(h, n):
        eps = 2.0**-10
        gamma = 2.0 ** rng.integers(-2, 2, size=n)
        beta = rng.integers(-16, 16, size=n) * 2.0**-5
        mean = rng.integers(-16, 16, size=n) * 2.0**-6
        var = np.full(n, 1.0 - eps)
        ins = [h] + [g.const(k, v) for k, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
        return g.node("BatchNormalization", ins, epsilon=eps)

    h = g.node("MatMul", [x, g.quant_weights((12, 8), 2.0**-3, 5)])
    h = bn(g.node("Add", [h, g.quant_bias(8, 2.0**-7)]), 8)
    h = g.quant(h, 2.0**-3, 7, True, False, "CEIL")
    h = bn(g.node("MatMul", [h, g.quant_weights((8, 4), 2.0**-3, 5)]), 4)
    y = g.quant(h, 2.0**-3, 7, True, True, "UP")
    return g.model("global_in", [12], y, 4), 2.0**-4, 8, True


def unsigned_input(rng):
    """A [4, 4] unsigned narrow 8-bit input (codes 0..254), Flatten, BipolarQuant weights,
    a narrow signed HALF_DOWN activation, Reshape to 1-D, a signed 1-bit Quant (which qonnx executes as
    bipolar) and Trunc v1 (opset 1)."""
    g = Graph("unsigned_input", rng)
    x = g.quant("global_in", 2.0**-8, 8, False, True, "ROUND")
    h = g.node("Flatten", [x], axis=1)
    wb = g.bipolar(g.const("wb", rng.standard_normal((16, 12)).astype(np.float32)), 2.0**-2)
    h = g.node("MatMul", [h, wb])
    h = g.quant(h, 2.0**-4, 7, True, True, "HALF_DOWN")
    h = g.node("Reshape", [h, g.shape([1, -1])])
    h = g.trunc_v1(h, 2.0**-4, 7, 5, "FLOOR")
    w2 = g.quant_weights((12, 6), 2.0**-2, 3)
    h = g.node("MatMul", [h, w2])
    h = g.quant(h, 2.0**-2, 1, True, False, "ROUND")  # 1-bit signed: bipolar in qonnx
    y = g.node("MatMul", [h, g.quant_weights((6, 3), 2.0**-2, 4)])
    return g.model("global_in", [4, 4], y, 3), 2.0**-8, 8, False


def trunc_bipolar(rng):
    """Trunc v2 (opset 2: clamps to the output bit width) and a BipolarQuant activation."""
    g = Graph("trunc_bipolar", rng)
    x = g.quant("global_in", 2.0**-4, 8, True, False, "ROUND")
    h = g.node("MatMul", [x, g.quant_weights((10, 8), 2.0**-3, 4)])
    h = g.quant(h, 2.0**-5, 10, True, False, "ROUND")
    h = g.trunc_v2(h, 2.0**-5, 10, 2.0**-2, 5, "FLOOR", True, False)
    h = g.node("MatMul", [h, g.quant_weights((8, 6), 2.0**-3, 4)])
    h = g.bipolar(h, 2.0**-1)
    y = g.node("MatMul", [h, g.quant_weights((6, 4), 2.0**-3, 4)])
    y = g.quant(y, 2.0**-3, 7, True, False, "HALF_UP")  # every output is a tie
    return g.model("global_in", [10], y, 4, opset_qonnx=2), 2.0**-4, 8, True


def conv_weights(g, m, c, kernel, scale, bits=5):
    """Quantized ONNX conv weights [M, C/group, k...]."""
    return g.quant_weights((m, c, *kernel), scale, bits)


def qcnn(rng):
    """The smallest useful quantized CNN, as Brevitas exports it: Quant -> Conv (3x3, valid,
    quantized bias) -> Quant -> Relu -> MaxPool (2x2) -> Flatten (NCHW order) -> MatMul ->
    Quant, on a 2-channel 8x8 input."""
    g = Graph("qcnn", rng)
    x = g.quant("global_in", 2.0**-4, 6, True, False, "ROUND")
    h = g.node("Conv", [x, conv_weights(g, 4, 2, (3, 3), 2.0**-3), g.quant_bias(4, 2.0**-7)],
               kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1])
    h = g.quant(h, 2.0**-3, 8, True, False, "ROUND")
    h = g.node("Relu", [h])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Flatten", [h], axis=1)
    h = g.node("MatMul", [h, g.quant_weights((36, 5), 2.0**-3, 4)])
    y = g.quant(h, 2.0**-3, 9, True, False, "ROUND")
    return g.model("global_in", [2, 8, 8], y, 5), 2.0**-4, 6, True


def dw_pw_conv(rng):
    """A MobileNet-style block on a 3-channel 9x9 input: a depthwise 3x3 convolution
    (group = 3, depth multiplier 2, stride 2, pads 1 = Keras `same`), Quant + Relu, a
    pointwise 1x1 convolution with a BatchNormalization (power-of-two gamma, var + eps = 1)
    on the channel axis, Quant (FLOOR), AveragePool 2x2, GlobalAveragePool, Flatten, MatMul."""
    g = Graph("dw_pw_conv", rng)
    x = g.quant("global_in", 2.0**-4, 7, True, False, "ROUND")
    h = g.node("Conv", [x, conv_weights(g, 6, 1, (3, 3), 2.0**-3), g.quant_bias(6, 2.0**-7)],
               group=3, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    h = g.quant(g.node("Relu", [h]), 2.0**-3, 6, False, False, "ROUND")
    h = g.node("Conv", [h, conv_weights(g, 4, 6, (1, 1), 2.0**-3)], kernel_shape=[1, 1])
    eps = 2.0**-10
    ins = [h]
    for k, v in (("gamma", 2.0 ** rng.integers(-2, 2, size=4)), ("beta", rng.integers(-16, 16, size=4) * 2.0**-5),
                 ("mean", rng.integers(-16, 16, size=4) * 2.0**-6), ("var", np.full(4, 1.0 - eps))):
        ins.append(g.const(k, v))
    h = g.node("BatchNormalization", ins, epsilon=eps)
    h = g.quant(h, 2.0**-3, 8, True, False, "FLOOR")
    h = g.node("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("GlobalAveragePool", [h])
    h = g.node("Flatten", [h], axis=1)
    h = g.node("MatMul", [h, g.quant_weights((4, 3), 2.0**-3, 5)])
    y = g.quant(h, 2.0**-4, 10, True, False, "ROUND")
    return g.model("global_in", [3, 9, 9], y, 3), 2.0**-4, 7, True


def residual_block(rng):
    """A 1-D residual block on a 4-channel signal of length 16: Conv1D (k = 3, pads 1) ->
    Quant -> Relu -> Conv1D (k = 3, dilation 2, pads 2) -> Quant; then the skip connection
    Add(x, h) -> Quant, a Mul and a Sub of two computed tensors, a Concat on the channel axis,
    a Slice (every other position), MaxPool, GlobalMaxPool, Flatten and MatMul."""
    g = Graph("residual_block", rng)
    x = g.quant("global_in", 2.0**-3, 6, True, False, "ROUND")
    h = g.node("Conv", [x, conv_weights(g, 4, 4, (3,), 2.0**-3), g.quant_bias(4, 2.0**-6)],
               kernel_shape=[3], pads=[1, 1])
    h = g.quant(g.node("Relu", [g.quant(h, 2.0**-3, 8, True, False, "ROUND")]), 2.0**-3, 7, False, False, "ROUND")
    h = g.node("Conv", [h, conv_weights(g, 4, 4, (3,), 2.0**-3)], kernel_shape=[3], pads=[2, 2], dilations=[2])
    h = g.quant(h, 2.0**-3, 7, True, False, "HALF_UP")
    a = g.quant(g.node("Add", [x, h]), 2.0**-3, 7, True, False, "ROUND")
    p = g.quant(g.node("Mul", [a, x]), 2.0**-4, 8, True, False, "FLOOR")
    d = g.node("Sub", [p, a])
    c = g.node("Concat", [d, x], axis=1)
    name = g.fresh("slice")
    g.inits.append(numpy_helper.from_array(np.asarray([1], dtype=np.int64), name + "_starts"))
    g.inits.append(numpy_helper.from_array(np.asarray([16], dtype=np.int64), name + "_ends"))
    g.inits.append(numpy_helper.from_array(np.asarray([2], dtype=np.int64), name + "_axes"))
    g.inits.append(numpy_helper.from_array(np.asarray([2], dtype=np.int64), name + "_steps"))
    s = g.node("Slice", [c, name + "_starts", name + "_ends", name + "_axes", name + "_steps"])
    s = g.node("MaxPool", [s], kernel_shape=[2], strides=[2])
    s = g.node("GlobalMaxPool", [s])
    s = g.node("Flatten", [s], axis=1)
    y = g.node("MatMul", [s, g.quant_weights((8, 3), 2.0**-3, 4)])
    y = g.quant(y, 2.0**-3, 10, True, False, "ROUND")
    return g.model("global_in", [4, 16], y, 3), 2.0**-3, 6, True


FIXTURES = [brevitas_mlp, qkeras_mlp, pruned_mlp, bn_mlp, unsigned_input, trunc_bipolar,
            qcnn, dw_pw_conv, residual_block]


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def gemm(node, a, b, c=0.0):
    a = a.T if attr(node, "transA", 0) else a
    b = b.T if attr(node, "transB", 0) else b
    return attr(node, "alpha", 1.0) * (a @ b) + attr(node, "beta", 1.0) * c


def batch_norm(node, x, gamma, beta, mean, var):
    # Parameters are per channel (axis 1 of N x C x ...).
    gamma, beta, mean, var = (p.reshape((-1,) + (1,) * (x.ndim - 2)) for p in (gamma, beta, mean, var))
    return (x - mean) / np.sqrt(var + attr(node, "epsilon", 1e-5)) * gamma + beta


def conv(node, x, w, b=None):
    """ONNX Conv (NCHW, explicit pads, group, strides, dilations) in float64 loops."""
    d = w.ndim - 2
    strides = attr(node, "strides", [1] * d)
    dil = attr(node, "dilations", [1] * d)
    pads = attr(node, "pads", [0] * (2 * d))
    group = attr(node, "group", 1)
    x = np.pad(x, [(0, 0), (0, 0)] + [(pads[a], pads[d + a]) for a in range(d)])
    m, cg = w.shape[:2]
    k = w.shape[2:]
    out = [(x.shape[2 + a] - (k[a] - 1) * dil[a] - 1) // strides[a] + 1 for a in range(d)]
    y = np.zeros((x.shape[0], m, *out))
    for f in range(m):
        g = f // (m // group)
        for pos in np.ndindex(*out):
            acc = 0.0
            for c in range(cg):
                for t in np.ndindex(*k):
                    idx = tuple(pos[a] * strides[a] + t[a] * dil[a] for a in range(d))
                    acc += x[(0, g * cg + c) + idx] * w[(f, c) + t]
            y[(0, f) + pos] = acc + (b[f] if b is not None else 0.0)
    return y


def avg_pool(node, x):
    k = attr(node, "kernel_shape", None)
    s = attr(node, "strides", [1] * len(k))
    assert all(p == 0 for p in attr(node, "pads", [0])), "fixtures average without padding"
    out = [(x.shape[2 + a] - k[a]) // s[a] + 1 for a in range(len(k))]
    y = np.zeros(x.shape[:2] + tuple(out))
    for pos in np.ndindex(*out):
        sl = tuple(slice(pos[a] * s[a], pos[a] * s[a] + k[a]) for a in range(len(k)))
        y[(Ellipsis,) + tuple(pos)] = x[(slice(None), slice(None)) + sl].mean(axis=tuple(range(2, 2 + len(k))))
    return y


# The arithmetic nodes that onnxruntime evaluates in float32, recomputed in float64 from the
# same (exact) inputs. The other nodes either move values (Reshape, Flatten, Transpose,
# Identity), compare them (Relu) or scale and round by powers of two (Quant, Trunc,
# BipolarQuant), which float32 does exactly for values this small.
FLOAT64 = {
    "MatMul": lambda node, a, b: a @ b,
    "Gemm": gemm,
    "Add": lambda node, a, b: a + b,
    "Mul": lambda node, a, b: a * b,
    "Div": lambda node, a, b: a / b,
    "BatchNormalization": batch_norm,
    "Sub": lambda node, a, b: a - b,
    "Conv": conv,
    "AveragePool": avg_pool,
    "GlobalAveragePool": lambda node, x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True),
}


def run(model, x):
    """One sample through qonnx's executor; checks that every float32 arithmetic node
    computed exactly what float64 does."""
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    ctx = execute_onnx(model, {iname: x[None].astype(np.float32)}, return_full_exec_context=True)
    for node in model.graph.node:
        if node.op_type in FLOAT64:
            args = [ctx[i].astype(np.float64) for i in node.input if i]
            exact = FLOAT64[node.op_type](node, *args)
            if not np.array_equal(ctx[node.output[0]].astype(np.float64), exact):
                raise SystemExit(f"{model.graph.name}: float32 {node.op_type} node {node.name} is not exact")
    return ctx[oname][0].astype(np.float64)


def inputs(rng, n, shape, scale, bits, signed):
    """Exact multiples of `scale`, from a quarter of the quantizer's range below its codes to
    a quarter above (so the input quantizer also saturates)."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    span = (hi - lo) // 4
    lo -= span
    return rng.integers(lo, hi + span + 1, size=(n, *shape)) * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join("tests", "fixtures", "qonnx"))
    ap.add_argument("--samples", type=int, default=256)
    args = ap.parse_args()
    onnxruntime.set_default_logger_severity(3)  # qonnx runs single-node models: no opset warnings
    os.makedirs(args.out, exist_ok=True)
    for k, make in enumerate(FIXTURES):
        rng = np.random.default_rng(1000 + k)
        model, in_scale, in_bits, in_signed = make(rng)
        onnx.checker.check_model(model)
        clean = cleanup_model(ModelWrapper(model))
        name = make.__name__
        path = os.path.join(args.out, name + ".onnx")
        clean.save(path)
        shape = [d.dim_value for d in clean.graph.input[0].type.tensor_type.shape.dim][1:]
        xs = inputs(rng, args.samples, shape, in_scale, in_bits, in_signed)
        ys = np.stack([run(clean, x) for x in xs])
        np.save(os.path.join(args.out, name + ".input.npy"), xs.astype(np.float64))
        np.save(os.path.join(args.out, name + ".expected.npy"), ys)
        ops = sorted({n.op_type for n in clean.graph.node})
        print(f"{name}: {len(xs)} samples, output {list(ys.shape[1:])}, ops {', '.join(ops)}")


if __name__ == "__main__":
    main()
