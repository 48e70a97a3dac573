#!/usr/bin/env python3
"""Generate the bundled rtl4ml example models (native JSON format, version 1).

    python3 models/generate.py            # (re)write the models next to this script
    python3 models/generate.py --check    # exit 1 if a file on disk differs from what would be written
    python3 models/generate.py --out-dir DIR

Writes:
    jet_tagger.json  the classic hls4ml jet-tagging MLP 16->64->32->32->5, 6-bit weights, 60% pruned
    jet_tagger_16b.json  the same network (identical weights) with hls4ml's default uniform
                     fixed<16,6> for every dense result and activation: the starting point of
                     the fixed-point optimizer (docs/optimize.md)
    wrap_accum.json  narrow WRAP accumulator, every rounding/overflow mode, two outputs,
                     names hostile to Verilog, most-negative weight codes
    odd_types.json   types with I > W and I < 0 (coarse inputs, tiny weights), int<3> weights

The weights are synthetic (seeded pseudo-random draws, magnitude-pruned, quantized to the
declared grids); they are realistic in scale and sparsity but not trained on anything.

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


def jet_tagger():
    rng = SplitMix64(0x6A65745F74616767)  # "jet_tagg"
    w = "fixed<6,0>"  # 6-bit signed weights: steps of 1/64 in [-0.5, 0.5)
    b = "fixed<8,3>"  # 8-bit biases: steps of 1/32 in [-4, 4)
    hidden = "fixed<18,8>"  # wide hidden dense results: steps of 1/1024 in [-128, 128)
    act = "ufixed<8,4,RND,SAT>"  # activations: steps of 1/16 in [0, 16)
    layers = []
    prev, n_prev = "x", 16
    for k, n in enumerate((64, 32, 32), start=1):
        layers.append(dense(rng, "fc%d" % k, n_prev, n, w, hidden, input=prev,
                            std=he_std(n_prev, 0.2), prune=0.6, btype=b, bstd=0.25))
        layers.append(simple("relu%d" % k, "relu", act, input="fc%d" % k))
        prev, n_prev = "relu%d" % k, n
    layers.append(dense(rng, "fc4", n_prev, 5, w, "fixed<16,6>", input=prev,
                        std=he_std(n_prev, 0.2), prune=0.6, btype=b, bstd=0.25))
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": "jet_tagger",
        "description": (
            "hls4ml jet-tagging MLP 16->64->32->32->5 (16 jet substructure features in, "
            "5 class scores out: g, q, W, Z, t). SYNTHETIC weights: He-scaled seeded random "
            "draws, magnitude-pruned to 60% zeros per layer and quantized to 6-bit fixed<6,0>; "
            "8-bit fixed<8,3> biases; exact accumulation. Realistic in size, precision and "
            "sparsity, but not trained. Generated by models/generate.py."
        ),
        "inputs": [{"name": "x", "shape": [16], "type": "fixed<16,6,RND,SAT>"}],
        "layers": layers,
        "outputs": ["fc4"],
    }


def jet_tagger_16b():
    """The jet tagger with identical weights and biases but hls4ml's default precision,
    `ap_fixed<16,6>` (TRN, WRAP), for every dense result and ReLU output: the uniform 16-bit
    design a trigger engineer starts from before tuning widths by hand."""
    model = jet_tagger()
    uniform = "fixed<16,6>"
    for layer in model["layers"]:
        if "result" in layer:
            layer["result"] = uniform
    model["name"] = "jet_tagger_16b"
    model["description"] = (
        "The jet tagger of jet_tagger.json (same SYNTHETIC weights and biases) with hls4ml's "
        "default uniform precision fixed<16,6> (TRN, WRAP) for every dense result and ReLU "
        "output: the starting point for `rtl4ml optimize` (docs/optimize.md). Generated by "
        "models/generate.py."
    )
    return model


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


MODELS = (("jet_tagger.json", jet_tagger), ("jet_tagger_16b.json", jet_tagger_16b),
          ("wrap_accum.json", wrap_accum), ("odd_types.json", odd_types))


# --------------------------------------------------------------------------------------------
# Self-check (mirrors the loader's rules, so a generator bug is caught here)
# --------------------------------------------------------------------------------------------


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
        src = layer.get("input", prev)
        assert src in shapes, "%s: unknown input %r" % (where, src)
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
            raise AssertionError("%s: unknown kind %r" % (where, kind))
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
