#!/usr/bin/env python3
"""Generate the bundled rtl4ml example models (native JSON format, version 1).

    python3 models/generate.py            # (re)write the models next to this script
    python3 models/generate.py --check    # exit 1 if a file on disk differs from what would be written
    python3 models/generate.py --out-dir DIR

Writes:
    jet_tagger.json  the classic hls4ml jet-tagging MLP 16->64->32->32->5, 6-bit weights, 60% pruned,
                     trained on synthetic jets (parameters from models/train/jet_tagger_params.json,
                     written by tools/train_jet_tagger.py)
    jet_tagger_16b.json  the same network (identical weights) with hls4ml's default uniform
                     fixed<16,6> for every dense result and activation: the starting point of
                     the fixed-point optimizer (docs/optimize.md)
    egamma_id.json   a Level-1 e/gamma cluster identifier MLP 12->48->24->4, 6-bit weights, 50%
                     pruned, trained on synthetic calorimeter clusters (parameters from
                     models/train/egamma_id_params.json, written by tools/train_egamma_id.py)
    egamma_id_16b.json  the same network at the uniform fixed<16,6>: an optimizer start
    wrap_accum.json  narrow WRAP accumulator, every rounding/overflow mode, two outputs,
                     names hostile to Verilog, most-negative weight codes
    odd_types.json   types with I > W and I < 0 (coarse inputs, tiny weights), int<3> weights

Apart from the trained taggers' (jet tagger, e/gamma identifier, Deep Sets), the weights are synthetic (seeded pseudo-random draws,
magnitude-pruned, quantized to the declared grids); they are realistic in scale and sparsity but
not trained on anything.

Standard library only. Deterministic: the random numbers come from a self-contained SplitMix64
generator and an Irwin-Hall normal approximation that use only exact integer arithmetic and
correctly rounded IEEE additions/multiplications, so the output is byte-identical across runs,
Python versions and platforms. The format is documented in docs/model-format.md.
"""

import argparse
import json
import os
import re
import sys

FORMAT = "rtl4ml-model"
VERSION = 1

# --------------------------------------------------------------------------------------------
# Deterministic random numbers
# --------------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): tiny, portable, fully specified."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        """Uniform in [0, 1) with 53 random bits (exact conversion)."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def normal(self, std=1.0):
        """Approximately N(0, std^2): Irwin-Hall sum of 12 uniforms minus 6 (bounded by 6 std)."""
        s = 0.0
        for _ in range(12):
            s += self.uniform()
        return (s - 6.0) * std


# --------------------------------------------------------------------------------------------
# Fixed-point types (just enough to check ranges and map reals onto mantissa grids)
# --------------------------------------------------------------------------------------------

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
TYPE_RE = re.compile(r"^\s*(ap_)?(fixed|ufixed|int|uint)\s*<([^<>]*)>\s*$", re.IGNORECASE)


class FixedType:
    def __init__(self, text):
        m = TYPE_RE.match(text)
        if not m:
            raise ValueError("bad type %r" % text)
        kind = m.group(2).lower()
        args = [a.strip() for a in m.group(3).split(",")]
        self.text = text
        self.signed = kind in ("fixed", "int")
        self.width = int(args[0])
        if kind in ("int", "uint"):
            if len(args) != 1:
                raise ValueError("bad type %r: int types take one argument" % text)
            self.int_bits = self.width
        else:
            if not 2 <= len(args) <= 4:
                raise ValueError("bad type %r: expected 2 to 4 arguments" % text)
            self.int_bits = int(args[1])
            if len(args) > 2 and args[2].upper() not in ROUNDING:
                raise ValueError("bad rounding mode in %r" % text)
            if len(args) > 3 and args[3].upper() not in OVERFLOW:
                raise ValueError("bad overflow mode in %r" % text)
        if not 1 <= self.width <= 64:
            raise ValueError("bad type %r: width out of 1..64" % text)

    @property
    def frac(self):
        return self.width - self.int_bits

    @property
    def min_mantissa(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self):
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def to_mantissa(self, x):
        """Round a real to the nearest grid point (ties away from zero), saturating."""
        scaled = x * 2.0 ** self.frac  # exact power-of-two scaling
        m = int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
        return max(self.min_mantissa, min(self.max_mantissa, m))

    def value(self, m):
        return m * 2.0 ** -self.frac


# --------------------------------------------------------------------------------------------
# Weight synthesis
# --------------------------------------------------------------------------------------------


def draw_dense(rng, n_in, n_out, wtype, std, prune, force_min_codes=0):
    """Row-major [n_in, n_out] weight mantissas: w[i*n_out + j] connects input i to output j.

    Draws N(0, std^2) reals, zeroes the `prune` fraction of smallest magnitudes (magnitude
    pruning, ties broken by position), and rounds the survivors to the weight grid, saturating.
    A survivor never rounds to zero (it is nudged to the smallest code of its sign), so the
    sparsity is exactly the pruned fraction. `force_min_codes` sets that many of the most
    negative survivors to the most negative code (a corner case worth exercising).
    """
    n = n_in * n_out
    reals = [rng.normal(std) for _ in range(n)]
    n_zero = int(prune * n + 0.5)
    order = sorted(range(n), key=lambda k: (abs(reals[k]), k))
    pruned = set(order[:n_zero])
    data = []
    for k, x in enumerate(reals):
        if k in pruned:
            data.append(0)
            continue
        m = wtype.to_mantissa(x)
        if m == 0:
            m = 1 if x > 0 or wtype.min_mantissa == 0 else -1
        data.append(m)
    if force_min_codes:
        negatives = sorted((k for k in range(n) if data[k] < 0), key=lambda k: (reals[k], k))
        for k in negatives[:force_min_codes]:
            data[k] = wtype.min_mantissa
    return data


def draw_bias(rng, n_out, btype, std):
    return [btype.to_mantissa(rng.normal(std)) for _ in range(n_out)]


def dense(rng, name, n_in, n_out, wtype, result, *, std, prune=0.0, input=None, btype=None,
          bstd=0.0, accum=None, force_min_codes=0):
    """A dense layer dict in the native format (keys in canonical order)."""
    wt = FixedType(wtype)
    layer = {"name": name, "kind": "dense"}
    if input is not None:
        layer["input"] = input
    layer["weight"] = {
        "type": wtype,
        "shape": [n_in, n_out],
        "data": draw_dense(rng, n_in, n_out, wt, std, prune, force_min_codes),
    }
    if btype is not None:
        layer["bias"] = {"type": btype, "data": draw_bias(rng, n_out, FixedType(btype), bstd)}
    if accum is not None:
        layer["accum"] = accum
    layer["result"] = result
    return layer


def simple(name, kind, result=None, input=None):
    layer = {"name": name, "kind": kind}
    if input is not None:
        layer["input"] = input
    if result is not None:
        layer["result"] = result
    return layer


def he_std(n_in, cap):
    """He-like init scale sqrt(2/n_in), capped so that only ~1% of the (unpruned) draws
    saturate at the edge of the weight grid."""
    return min((2.0 / n_in) ** 0.5, cap)


# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------


def mlp_layers(params, sizes, w, b, hidden, act, last):
    """Dense layers `fc1..fcN` of trained parameters with ReLUs `relu1..relu(N-1)` between them;
    hidden dense results `hidden`, the last one `last`."""
    layers = []
    prev = "x"
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        final = k == len(sizes) - 1
        layers.append(trained_dense(params, "fc%d" % k, n_in, n_out, w, b,
                                    last if final else hidden, input=prev))
        if not final:
            layers.append(simple("relu%d" % k, "relu", act, input="fc%d" % k))
            prev = "relu%d" % k
    return layers


def uniform_16b(model, name, what):
    """`model` with hls4ml's default precision, `ap_fixed<16,6>` (TRN, WRAP), for every dense
    result and ReLU output: the uniform 16-bit design a trigger engineer starts from before
    tuning widths by hand."""
    for layer in model["layers"]:
        if "result" in layer:
            layer["result"] = "fixed<16,6>"
    model["name"] = name
    model["description"] = (
        "The %s of %s.json (same trained weights and biases) with hls4ml's "
        "default uniform precision fixed<16,6> (TRN, WRAP) for every dense result and ReLU "
        "output: the starting point for `rtl4ml optimize` (docs/optimize.md). Generated by "
        "models/generate.py." % (what, model["name"].replace("_16b", ""))
    )
    return model


def jet_tagger():
    """The jet tagger with the TRAINED parameters of models/train/jet_tagger_params.json (written by
    tools/train_jet_tagger.py: float training on synthetic jets, 60% magnitude pruning,
    quantisation-aware fine-tuning with exactly these types)."""
    params, acc = trained_params("jet_tagger")
    w = "fixed<6,0>"  # 6-bit signed weights: steps of 1/64 in [-0.5, 0.5)
    b = "fixed<8,3>"  # 8-bit biases: steps of 1/32 in [-4, 4)
    hidden = "fixed<18,8>"  # wide hidden dense results: steps of 1/1024 in [-128, 128)
    act = "ufixed<8,4,RND,SAT>"  # activations: steps of 1/16 in [0, 16)
    layers = mlp_layers(params, (16, 64, 32, 32, 5), w, b, hidden, act, "fixed<16,6>")
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "jet_tagger",
        "description": (
            "hls4ml jet-tagging MLP 16->64->32->32->5 (16 standardised jet substructure "
            "features in, 5 class scores out: g, q, W, Z, t). TRAINED on SYNTHETIC jets "
            "(tools/train_jet_tagger.py): 60%% magnitude pruning per layer, quantisation-aware "
            "fine-tuning with 6-bit fixed<6,0> weights, 8-bit fixed<8,3> biases and "
            "ufixed<8,4,RND,SAT> activations; exact accumulation. Test accuracy %.1f%% "
            "(float %.1f%%). Generated by models/generate.py." % (
                100 * acc["quantised"], 100 * acc["float"])
        ),
        "inputs": [{"name": "x", "shape": [16], "type": "fixed<16,6,RND,SAT>"}],
        "layers": layers,
        "outputs": ["fc4"],
    }


def jet_tagger_16b():
    """The jet tagger with identical weights and biases at hls4ml's default precision."""
    model = uniform_16b(jet_tagger(), "jet_tagger_16b", "jet tagger")
    return model


def egamma_id():
    """The Level-1 e/gamma cluster identifier with the TRAINED parameters of
    models/train/egamma_id_params.json (written by tools/train_egamma_id.py: float training on
    synthetic calorimeter clusters, 50% magnitude pruning, quantisation-aware fine-tuning with
    exactly these types)."""
    params, acc = trained_params("egamma_id")
    layers = mlp_layers(params, (12, 48, 24, 4), "fixed<6,0>", "fixed<8,3>", "fixed<18,8>",
                        "ufixed<8,4,RND,SAT>", "fixed<16,6>")
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "egamma_id",
        "description": (
            "Level-1 e/gamma cluster identification MLP 12->48->24->4 (12 standardised "
            "calorimeter-cluster and track-match features in, 4 class scores out: e, gamma, "
            "pi0, hadron). TRAINED on SYNTHETIC clusters (tools/train_egamma_id.py): 50%% "
            "magnitude pruning per layer, quantisation-aware fine-tuning with 6-bit fixed<6,0> "
            "weights, 8-bit fixed<8,3> biases and ufixed<8,4,RND,SAT> activations; exact "
            "accumulation. Test accuracy %.1f%% (float %.1f%%). Generated by "
            "models/generate.py." % (100 * acc["quantised"], 100 * acc["float"])
        ),
        "inputs": [{"name": "x", "shape": [12], "type": "fixed<12,5,RND,SAT>"}],
        "layers": layers,
        "outputs": ["fc3"],
    }


def egamma_id_16b():
    """The e/gamma identifier with identical weights and biases at hls4ml's default precision."""
    return uniform_16b(egamma_id(), "egamma_id_16b", "e/gamma identifier")


def wrap_accum():
    rng = SplitMix64(0x777261705F616363)  # "wrap_acc"
    layers = [
        # No "input" on the first layer: it reads the sole model input.
        simple("flatten", "flatten"),
        # Accumulator frac bits 10 < 8 (input) + 3 (weight) = 11, so every product is
        # truncated; range [-8, 8) against sums of up to 12 * 4 * 1 = 48, so it wraps.
        dense(rng, "dense/1 (wrap)", 12, 8, "fixed<4,1>", "fixed<10,3,RND_ZERO,SAT_SYM>",
              input="flatten", std=0.6, prune=0.4, btype="fixed<6,2>", bstd=0.75,
              accum="fixed<14,4,TRN,WRAP>", force_min_codes=3),
        # "input" omitted from here on: each layer reads the previous one.
        simple("relu-2", "relu", "ufixed<6,2,RND_INF,SAT_ZERO>"),
        # No bias, no accum (exact): coarse integer-ish weights in [-2, 1.5].
        dense(rng, "module", 8, 3, "fixed<3,2>", "fixed<12,5,RND_MIN_INF,WRAP>",
              std=1.0, prune=0.25, force_min_codes=2),
        simple("output", "quantize", "fixed<8,3,TRN_ZERO,SAT>"),
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "wrap_accum",
        "description": (
            "Small test model exercising non-default modes: a [4,3] unsigned RND_CONV/SAT "
            "input, flatten, a dense layer with an explicit WRAP accumulator narrower than "
            "exact (products truncated, sums wrap), every rounding mode except RND, every "
            "overflow mode (WRAP, SAT, SAT_ZERO, SAT_SYM), a bias-free exact dense layer, most-negative weight "
            "codes, layer names hostile to Verilog (\"dense/1 (wrap)\", \"module\", "
            "\"relu-2\", \"output\"), implicit layer inputs and two outputs. SYNTHETIC "
            "weights (seeded random draws, magnitude-pruned), not trained. Generated by "
            "models/generate.py."
        ),
        "inputs": [{"name": "x", "shape": [4, 3], "type": "ufixed<10,2,RND_CONV,SAT>"}],
        "layers": layers,
        "outputs": ["output", "relu-2"],
    }


def odd_types():
    rng = SplitMix64(0x6F64645F74797065)  # "odd_type"
    layers = [
        # Weights fixed<5,-1>: steps of 2^-6 in [-0.25, 0.234375]; bias fixed<6,-2>: steps
        # of 2^-8 in [-0.125, 0.123046875]. Inputs are multiples of 4 up to +-512, so the
        # products reach +-128 and the fixed<20,6> accumulator (range [-32, 32)) wraps.
        dense(rng, "fc1", 6, 4, "fixed<5,-1>", "fixed<8,2,RND_CONV,SAT>", input="x",
              std=0.1, prune=0.7, btype="fixed<6,-2>", bstd=0.05,
              accum="fixed<20,6,RND,WRAP>"),
        simple("relu1", "relu", "ufixed<4,1,TRN,SAT>", input="fc1"),
        dense(rng, "fc2", 4, 2, "int<3>", "fixed<7,4,RND_INF,SAT_ZERO>", input="relu1",
              std=1.5),
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "odd_types",
        "description": (
            "Exercises negative and excess fractional bits: input fixed<8,10> (I > W, steps "
            "of 4), weights fixed<5,-1> and bias fixed<6,-2> (I < 0, every value tiny), a "
            "wrapping fixed<20,6,RND,WRAP> accumulator, int<3> weights, 70% pruning on the "
            "first dense layer. SYNTHETIC weights (seeded random draws), not trained. "
            "Generated by models/generate.py."
        ),
        "inputs": [{"name": "x", "shape": [6], "type": "fixed<8,10,RND,WRAP>"}],
        "layers": layers,
        "outputs": ["fc2"],
    }


# --------------------------------------------------------------------------------------------
# Trigger models beyond MLPs: an autoencoder with an anomaly score, two CNNs, a Deep Sets tagger
# --------------------------------------------------------------------------------------------


def conv(rng, name, kind, kernel, c_in, c_out, wtype, result, *, std, prune=0.0, input=None,
         btype=None, bstd=0.0, strides=None, padding=None, accum=None):
    """A convolution layer: weight shape kernel + [c_in, c_out], row-major (Keras kernel order)."""
    n_taps = 1
    for k in kernel:
        n_taps *= k
    layer = {"name": name, "kind": kind}
    if input is not None:
        layer["input"] = input
    layer["weight"] = {
        "type": wtype,
        "shape": list(kernel) + [c_in, c_out],
        "data": draw_dense(rng, n_taps * c_in, c_out, FixedType(wtype), std, prune),
    }
    if btype is not None:
        layer["bias"] = {"type": btype, "data": draw_bias(rng, c_out, FixedType(btype), bstd)}
    if strides is not None:
        layer["strides"] = strides
    if padding is not None:
        layer["padding"] = padding
    if accum is not None:
        layer["accum"] = accum
    layer["result"] = result
    return layer


def axol1tl():
    rng = SplitMix64(0x61786F6C31746C00)  # "axol1tl"
    w, b = "fixed<6,0>", "fixed<8,3>"
    n_in = 57
    # Per-feature normalisation of the raw trigger objects: scale 1/sigma (sigma in [4, 64]),
    # shift -mean/sigma; both quantized to explicit types.
    stype, btype = FixedType("fixed<8,-1>"), FixedType("fixed<8,3>")
    scale = [stype.to_mantissa(1.0 / (4.0 * 16.0 ** rng.uniform())) for _ in range(n_in)]
    shift = [btype.to_mantissa(rng.normal(0.5)) for _ in range(n_in)]
    layers = [
        {"name": "norm", "kind": "batchnorm", "input": "objects",
         "scale": {"type": stype.text, "data": scale}, "bias": {"type": btype.text, "data": shift},
         "result": "fixed<10,4,RND,SAT>"},
        dense(rng, "enc1", n_in, 32, w, "fixed<16,6>", std=he_std(n_in, 0.2), prune=0.5,
              btype=b, bstd=0.25),
        simple("relu1", "relu", "ufixed<8,3,RND,SAT>"),
        dense(rng, "enc2", 32, 16, w, "fixed<16,6>", std=he_std(32, 0.2), prune=0.5, btype=b,
              bstd=0.25),
        simple("relu2", "relu", "ufixed<8,3,RND,SAT>"),
        dense(rng, "mu", 16, 8, w, "fixed<10,3,RND,SAT>", std=he_std(16, 0.2), prune=0.5,
              btype=b, bstd=0.25),
        {"name": "mu_sq", "kind": "multiply", "inputs": ["mu", "mu"], "result": "ufixed<16,6,TRN,SAT>"},
        {"name": "score", "kind": "dense", "input": "mu_sq",
         "weight": {"type": "uint<1>", "shape": [8, 1], "data": [1] * 8}, "result": "ufixed<18,8>"},
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "axol1tl",
        "description": (
            "AXOL1TL-like anomaly-detection encoder: 57 trigger-object features (19 objects x "
            "pT, eta, phi) -> per-feature batchnorm -> 32 -> 16 -> 8 latent means mu, and the "
            "anomaly score sum(mu^2) (a variable multiply, then a dense layer of ones). "
            "SYNTHETIC weights (seeded random draws, 50% pruned, 6-bit), not trained. "
            "Generated by models/generate.py."
        ),
        "inputs": [{"name": "objects", "shape": [n_in], "type": "fixed<12,9,RND,SAT>"}],
        "layers": layers,
        "outputs": ["score", "mu"],
    }


def cicada():
    rng = SplitMix64(0x6369636164610000)  # "cicada"
    layers = [
        # 2x2 stride-2 patches of the 18x14 calorimeter-region grid, 4 filters, no bias.
        conv(rng, "conv", "conv2d", [2, 2], 1, 4, "fixed<6,1>", "fixed<18,13>", input="et",
             std=0.5, strides=[2, 2]),
        simple("relu1", "relu", "ufixed<10,10,RND,SAT>"),
        simple("flatten", "flatten"),
        dense(rng, "fc1", 252, 16, "fixed<6,0>", "fixed<18,12>", std=he_std(252, 0.2),
              prune=0.75, btype="fixed<8,5>", bstd=2.0),
        simple("relu2", "relu", "ufixed<10,8,RND,SAT>"),
        dense(rng, "score", 16, 1, "fixed<6,0>", "fixed<16,10>", std=he_std(16, 0.2),
              btype="fixed<8,5>", bstd=1.0),
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "cicada",
        "description": (
            "CICADA-like calorimeter anomaly score: an 18x14 grid of 10-bit region ET -> "
            "conv2d 2x2 stride 2 (4 filters, no bias) -> relu -> flatten (9x7x4 = 252) -> "
            "dense 16 (75% pruned) -> relu -> dense 1. SYNTHETIC weights (seeded random "
            "draws), not trained. Generated by models/generate.py."
        ),
        "inputs": [{"name": "et", "shape": [18, 14, 1], "type": "ufixed<10,10>"}],
        "layers": layers,
        "outputs": ["score"],
    }


def econt():
    rng = SplitMix64(0x65636F6E74000000)  # "econt"
    layers = [
        # 3x3 stride 2 'same': 8x8 -> 4x4, 8 filters (the ECON-T encoder's convolution).
        conv(rng, "conv", "conv2d", [3, 3], 1, 8, "fixed<6,1>", "fixed<18,5>", input="cells",
             std=0.4, prune=0.3, btype="fixed<8,1>", bstd=0.1, strides=[2, 2], padding="same"),
        simple("relu", "relu", "ufixed<8,3,RND,SAT>"),
        simple("flatten", "flatten"),
        dense(rng, "dense", 128, 16, "fixed<6,0>", "fixed<16,6>", std=he_std(128, 0.2),
              prune=0.5, btype="fixed<8,3>", bstd=0.25),
        simple("latent", "quantize", "fixed<8,4,RND,SAT>"),
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "econt",
        "description": (
            "ECON-T-like autoencoder encoder: 48 trigger-cell charges arranged on an 8x8 grid "
            "(8-bit, normalised) -> conv2d 3x3 stride 2 'same' (8 filters) -> relu -> flatten "
            "(4x4x8 = 128) -> dense 16 -> 16 latent values of 8 bits. SYNTHETIC weights (seeded "
            "random draws, pruned), not trained. Generated by models/generate.py."
        ),
        "inputs": [{"name": "cells", "shape": [8, 8, 1], "type": "ufixed<8,0>"}],
        "layers": layers,
        "outputs": ["latent"],
    }


def trained_params(name):
    """The parameters tools/train_<name>.py wrote to models/train/<name>_params.json."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train", name + "_params.json")
    with open(path, encoding="utf-8") as f:
        params = json.load(f)
    return {p["name"]: p for p in params["layers"]}, params["test_accuracy"]


def trained_dense(params, name, n_in, n_out, w, b, result, input=None):
    p = params[name]
    assert len(p["weight"]) == n_in * n_out and len(p["bias"]) == n_out, name
    layer = {"name": name, "kind": "dense"}
    if input is not None:
        layer["input"] = input
    layer["weight"] = {"type": w, "shape": [n_in, n_out], "data": p["weight"]}
    layer["bias"] = {"type": b, "data": p["bias"]}
    layer["result"] = result
    return layer


def deepsets():
    params, acc = trained_params("deepsets")
    w, b, act = "fixed<6,0>", "fixed<8,3>", "ufixed<8,3,RND,SAT>"
    layers = [
        # phi: the same per-particle network on each of the 16 particles (dense on the last axis).
        trained_dense(params, "phi1", 3, 16, w, b, "fixed<16,6>", input="particles"),
        simple("phi1_relu", "relu", act),
        trained_dense(params, "phi2", 16, 16, w, b, "fixed<16,6>"),
        simple("phi2_relu", "relu", act),
        # Permutation-invariant aggregation: the mean over the 16 particles.
        simple("pool", "global_avg_pool", "ufixed<10,3,RND,SAT>"),
        # rho: the head on the pooled features.
        trained_dense(params, "rho1", 16, 16, w, b, "fixed<16,6>"),
        simple("rho1_relu", "relu", act),
        trained_dense(params, "logits", 16, 5, w, b, "fixed<16,6>"),
        simple("class", "argmax"),
        # hls4ml's Latency softmax with its default tables (1024 entries, ap_fixed<18,8,RND,SAT>).
        {"name": "probs", "kind": "softmax", "input": "logits",
         "exp_table": {"type": "fixed<18,8,RND,SAT>", "size": 1024},
         "inv_table": {"type": "fixed<18,8,RND,SAT>", "size": 1024},
         "result": "ufixed<8,0,RND,SAT>"},
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "deepsets",
        "description": (
            "Deep Sets jet tagger: 16 particles x 3 features (pT share, eta, phi relative to "
            "the jet axis, x16) -> per-particle phi network 3 -> 16 -> 16 (relu) -> mean over "
            "the particles -> rho 16 -> 5 class logits (g, q, W, Z, t), with argmax and "
            "hls4ml's Latency softmax (1024-entry exp and inverse tables). TRAINED on SYNTHETIC "
            "particle-level jets (tools/train_deepsets.py): magnitude pruning, quantisation-"
            "aware fine-tuning with these types. Test accuracy %.1f%% (float %.1f%%). "
            "Generated by models/generate.py." % (100 * acc["quantised"], 100 * acc["float"])
        ),
        "inputs": [{"name": "particles", "shape": [16, 3], "type": "fixed<12,6,RND,SAT>"}],
        "layers": layers,
        "outputs": ["logits", "class", "probs"],
    }


def deepsets_16b():
    """The Deep Sets tagger with identical weights but hls4ml's default fixed<16,6> for every
    dense, ReLU and pooling result (the softmax output keeps its type): a start for
    `rtl4ml optimize`."""
    model = deepsets()
    for layer in model["layers"]:
        if layer["kind"] in ("dense", "relu", "global_avg_pool"):
            layer["result"] = "fixed<16,6>"
    model["name"] = "deepsets_16b"
    model["description"] = (
        "The Deep Sets tagger of deepsets.json (same trained weights and biases) with hls4ml's "
        "default uniform precision fixed<16,6> (TRN, WRAP) for every dense, ReLU and pooling "
        "result: a starting point for `rtl4ml optimize` (docs/optimize.md). Generated by "
        "models/generate.py."
    )
    return model


LAYER_MODELS = (("axol1tl.json", axol1tl), ("cicada.json", cicada), ("econt.json", econt),
                ("deepsets.json", deepsets), ("deepsets_16b.json", deepsets_16b))


MODELS = (("jet_tagger.json", jet_tagger), ("jet_tagger_16b.json", jet_tagger_16b),
          ("egamma_id.json", egamma_id), ("egamma_id_16b.json", egamma_id_16b),
          ("wrap_accum.json", wrap_accum), ("odd_types.json", odd_types))
MODELS = MODELS + LAYER_MODELS


# --------------------------------------------------------------------------------------------
# Self-check (mirrors the loader's rules, so a generator bug is caught here)
# --------------------------------------------------------------------------------------------


def check_layer(layer, in_shapes, where):
    """Shape of a layer beyond dense/relu/quantize/flatten (mirrors the loader); returns
    (shape, nonzero weights, weights)."""
    kind, shape = layer["kind"], in_shapes[0]
    if kind in ("conv1d", "conv2d"):
        d = 1 if kind == "conv1d" else 2
        wshape, data = layer["weight"]["shape"], layer["weight"]["data"]
        wt = FixedType(layer["weight"]["type"])
        assert len(shape) == d + 1 and len(wshape) == d + 2 and wshape[d] == shape[d], \
            "%s: weight.shape vs input" % where
        n = 1
        for k in wshape:
            n *= k
        assert len(data) == n and all(wt.min_mantissa <= m <= wt.max_mantissa for m in data), \
            "%s: weight.data" % where
        strides = layer.get("strides", [1] * d)
        out = []
        for a in range(d):
            if layer.get("padding", "valid") == "same":
                out.append(-(-shape[a] // strides[a]))
            else:
                out.append((shape[a] - wshape[a]) // strides[a] + 1)
        if "bias" in layer:
            assert len(layer["bias"]["data"]) == wshape[-1], "%s: bias.data length" % where
        FixedType(layer["result"])
        return out + [wshape[-1]], sum(1 for m in data if m != 0), len(data)
    if kind in ("global_avg_pool", "global_max_pool", "global_sum_pool"):
        return [shape[-1]], 0, 0
    if kind == "argmax":
        return (shape[:-1] or [1]), 0, 0
    if kind in ("add", "subtract", "multiply"):
        assert all(s == shape for s in in_shapes), "%s: shapes differ" % where
        return shape, 0, 0
    if kind == "batchnorm":
        assert len(layer["scale"]["data"]) == shape[-1], "%s: scale.data length" % where
        return shape, 0, 0
    if kind == "softmax":
        return shape, 0, 0
    raise AssertionError("%s: unknown kind %r" % (where, kind))


def check(model):
    """Validate a model dict; returns (layer count, nonzero weights, total weights)."""
    assert model["format"] == FORMAT and model["version"] == VERSION
    shapes = {}
    for t in model["inputs"]:
        assert t["name"] not in shapes, "duplicate name %r" % t["name"]
        assert all(isinstance(d, int) and d > 0 for d in t["shape"])
        FixedType(t["type"])
        shapes[t["name"]] = list(t["shape"])
    prev = model["inputs"][0]["name"] if len(model["inputs"]) == 1 else None
    nonzero = total = 0
    for layer in model["layers"]:
        name, kind = layer["name"], layer["kind"]
        where = "layer %r" % name
        assert name and name not in shapes, "%s: duplicate or empty name" % where
        srcs = layer["inputs"] if "inputs" in layer else [layer.get("input", prev)]
        for src in srcs:
            assert src in shapes, "%s: unknown input %r" % (where, src)
        src = srcs[0]
        shape = shapes[src]
        if kind == "dense":
            wt = FixedType(layer["weight"]["type"])
            n_in, n_out = layer["weight"]["shape"]
            data = layer["weight"]["data"]
            assert shape[-1] == n_in, "%s: weight.shape[0] != input last axis" % where
            assert len(data) == n_in * n_out, "%s: weight.data length" % where
            assert all(wt.min_mantissa <= m <= wt.max_mantissa for m in data), \
                "%s: weight.data out of range" % where
            if "bias" in layer:
                bt = FixedType(layer["bias"]["type"])
                bias = layer["bias"]["data"]
                assert len(bias) == n_out, "%s: bias.data length" % where
                assert all(bt.min_mantissa <= m <= bt.max_mantissa for m in bias), \
                    "%s: bias.data out of range" % where
            if "accum" in layer:
                FixedType(layer["accum"])
            FixedType(layer["result"])
            shape = shape[:-1] + [n_out]
            nonzero += sum(1 for m in data if m != 0)
            total += len(data)
        elif kind in ("relu", "quantize"):
            FixedType(layer["result"])
        elif kind == "flatten":
            assert "result" not in layer
            size = 1
            for d in shape:
                size *= d
            shape = [size]
        else:
            shape, nz, n = check_layer(layer, [shapes[t] for t in srcs], where)
            nonzero += nz
            total += n
        shapes[name] = shape
        prev = name
    assert model["outputs"], "no outputs"
    for o in model["outputs"]:
        assert o in shapes, "unknown output %r" % o
    return len(model["layers"]), nonzero, total


# --------------------------------------------------------------------------------------------
# JSON emission: readable, stable layout
# --------------------------------------------------------------------------------------------

LINE = 100


def dump(v):
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def emit(v, indent=0):
    """Objects and lists that fit on one line stay on one line; lists of numbers are always
    written on one line (however long); anything else is broken one member per line."""
    pad = " " * indent
    one = dump(v)
    if not isinstance(v, (dict, list)) or len(pad) + len(one) <= LINE:
        return one
    if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
        return one
    inner = " " * (indent + 2)
    if isinstance(v, dict):
        items = ["%s%s: %s" % (inner, dump(k), emit(x, indent + 2)) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [inner + emit(x, indent + 2) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=here, help="output directory (default: %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if any file differs from the generated text")
    args = ap.parse_args(argv)

    stale = []
    for filename, build in MODELS:
        model = build()
        n_layers, nonzero, total = check(model)
        text = emit(model) + "\n"
        path = os.path.join(args.out_dir, filename)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(path)
        else:
            os.makedirs(args.out_dir, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        kinds = []
        for layer in model["layers"]:
            if layer["kind"] not in kinds:
                kinds.append(layer["kind"])
        counts = ", ".join("%d %s" % (sum(1 for l in model["layers"] if l["kind"] == k), k)
                           for k in kinds)
        print("%-16s %d layers (%s), %d/%d nonzero weights (%.1f%% zero), outputs %s" % (
            filename, n_layers, counts, nonzero, total, 100.0 * (total - nonzero) / total,
            json.dumps(model["outputs"])))
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
