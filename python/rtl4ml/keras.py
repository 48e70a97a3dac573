"""Exports a trained Keras 3 model with HGQ2 layers to rtl4ml's native JSON format.

In Python, `rtl4ml.from_keras(model)` runs this exporter and loads the result. From a shell:

    python3 -m rtl4ml.keras model.keras model.json

(`tools/export_keras.py` in the repository is the same exporter.) It needs the `keras` extra:
`pip install "./python[keras]"` (hgq2, quantizers, keras, jax; see docs/python.md).

Every number in the output is an integer mantissa with an explicit fixed-point type
(docs/model-format.md), taken from what the model computes in inference:

* Weights and biases: the quantized values Keras uses (`layer.qkernel`, `layer.qbias`), each
  written as an exact mantissa of one type per tensor, wide enough for all of them (the
  finest grid and the widest range among the layer's weights). A weight HGQ2 gave 0 bits is
  0 and costs no hardware; a weight with few bits has few signed digits and so few adders.
* Quantizers (HGQ2 `iq`/`oq`, fixed point, KIF or KBI): each element's (k, i, f) becomes
  a type: `fixed<k+i+f, k+i>` (k = 1) or `ufixed<i+f, i>` (k = 0), with HGQ2's rounding
  (TRN, RND = floor(x + 1/2), RND_CONV, ...) and overflow (WRAP; SAT; SAT_SYM, whose range
  [-max, max] is rtl4ml's SAT_NARROW when signed and SAT when unsigned). An element with
  k + i + f <= 0 is always 0 (`ufixed<1,0,TRN,SAT_NARROW>`, whose only value is 0). A
  per-tensor quantizer is a plain `quantize`; a per-channel or per-element one is a
  `quantize` with `element_types` whose `result` holds every element type exactly.
* A quantizer on the model input becomes the input's type (per tensor), or, when it is
  heterogeneous, an input type one bit finer than every element with TRN (so RND and TRN
  elements round as HGQ2 does in one step) followed by the per-element `quantize`.
* Dense and convolution sums are exact (no `accum`), as Keras computes them in float32
  whenever every partial sum fits float32's 24-bit significand; the exporter checks that
  bound and warns when Keras may have rounded.

Supported: QDense, QConv1D, QConv2D (channels last, groups 1), their `activation` (linear
or relu), HGQ2 output quantizers (`enable_oq`), keras ReLU / Activation('relu'|'linear'),
Flatten, InputLayer, in a chain (Sequential or a functional model without branches).
Anything else is an error that names the layer and its class.

The output is deterministic: the same model gives the same bytes.
"""

import argparse
import json
import math
import os
import sys
from fractions import Fraction

os.environ.setdefault('KERAS_BACKEND', 'jax')

import numpy as np  # noqa: E402


try:  # inside the installed package: an rtl4ml.ModelError, so `except rtl4ml.Error` catches it
    from ._native import ModelError as _ErrorBase
except ImportError:  # loaded as a file (tools/export_keras.py): no native module needed
    _ErrorBase = Exception


class ExportError(_ErrorBase):
    """A Keras model the exporter cannot translate exactly; names the layer and its class."""


def fail(layer, msg):
    raise ExportError(f'layer `{layer.name}` ({type(layer).__name__}): {msg}')


# ---- fixed-point types -------------------------------------------------------------------


class Ty:
    """A fixed-point type: signedness, width W, integer bits I, rounding and overflow."""

    def __init__(self, signed, width, int_bits, rnd='TRN', ovf='WRAP'):
        if not 1 <= width <= 64:
            raise ExportError(f'type needs {width} bits; rtl4ml types have 1 to 64')
        self.signed, self.width, self.int_bits, self.rnd, self.ovf = signed, width, int_bits, rnd, ovf

    @property
    def frac(self):
        return self.width - self.int_bits

    def mant_range(self):
        narrow = int(self.ovf == 'SAT_NARROW')
        if self.signed:
            return -(1 << (self.width - 1)) + narrow, (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1 - narrow

    def value_range(self):
        lo, hi = self.mant_range()
        return Fraction(lo, 1) / Fraction(2) ** self.frac, Fraction(hi, 1) / Fraction(2) ** self.frac

    def is_zero(self):
        return self.mant_range() == (0, 0)

    def __str__(self):
        kind = 'fixed' if self.signed else 'ufixed'
        modes = [self.rnd, self.ovf]
        if self.ovf == 'WRAP':
            modes.pop()
            if self.rnd == 'TRN':
                modes.pop()
        return f'{kind}<{",".join([str(self.width), str(self.int_bits)] + modes)}>'

    def __eq__(self, o):
        return str(self) == str(o)

    def __hash__(self):
        return hash(str(self))


ZERO = Ty(False, 1, 0, 'TRN', 'SAT_NARROW')


def hull_type(lo, hi, frac, rnd='TRN', ovf='WRAP'):
    """The narrowest type with `frac` fractional bits holding the exact values [lo, hi]."""
    scale = Fraction(2) ** frac
    mlo, mhi = lo * scale, hi * scale
    assert mlo.denominator == 1 and mhi.denominator == 1, 'values off the grid'
    mlo, mhi = int(mlo), int(mhi)
    signed = mlo < 0
    width = 1
    while True:
        t = Ty(signed, width, width - frac)
        a, b = t.mant_range()
        if a <= mlo and mhi <= b:
            return Ty(signed, width, width - frac, rnd, ovf)
        width += 1
        if width > 64:
            raise ExportError(f'values [{float(lo)}, {float(hi)}] need more than 64 bits')


def union_type(types, extra_frac=0, rnd='TRN', ovf='WRAP'):
    """A type holding every value of every type in `types` exactly."""
    live = [t for t in types if not t.is_zero()]
    if not live:
        return Ty(False, 1, 1, rnd, ovf)
    frac = max(t.frac for t in live) + extra_frac
    lo = min(min(t.value_range()[0] for t in live), Fraction(0))
    hi = max(max(t.value_range()[1] for t in live), Fraction(0))
    return hull_type(lo, hi, frac, rnd, ovf)


def frac_bits(v):
    """Fractional bits of the exact binary value of a float (0 for integers)."""
    fr = Fraction(float(v))
    d = fr.denominator
    n = d.bit_length() - 1
    assert d == 1 << n
    return n


def constant(values, what, layer):
    """Exact mantissas of float32 values, with one type wide enough for all."""
    vals = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(vals)):
        fail(layer, f'{what} holds NaN or infinity; the model is broken')
    frac = max((frac_bits(v) for v in vals if v != 0), default=0)
    fracs = [Fraction(float(v)) for v in vals]
    lo, hi = min(fracs + [Fraction(0)]), max(fracs + [Fraction(0)])
    ty = hull_type(lo, hi, frac)
    mant = [int(v * Fraction(2) ** frac) for v in fracs]
    return ty, mant


# ---- HGQ2 quantizers ----------------------------------------------------------------------

ROUND = {'TRN': 'TRN', 'RND': 'RND', 'RND_CONV': 'RND_CONV', 'TRN_ZERO': 'TRN_ZERO',
         'RND_ZERO': 'RND_ZERO', 'RND_MIN_INF': 'RND_MIN_INF', 'RND_INF': 'RND_INF'}


def quantizer_types(q, shape, layer, what):
    """Per-element types of an HGQ2 `Quantizer` applied to a tensor of `shape` (no batch)."""
    from keras import ops

    if getattr(q, 'scaler', None) is not None or getattr(q, 'affine', None) is not None:
        fail(layer, f'{what}: quantizers with `scaler` or `affine` are not supported')
    inner = q.quantizer
    if not hasattr(inner, 'kif') or not hasattr(inner, 'round_mode'):
        fail(layer, f'{what}: only fixed-point (kif, kbi) quantizers are supported, found {type(inner).__name__}')
    rnd = inner.round_mode.upper()
    if rnd.startswith('S_'):
        rnd = rnd[2:]  # stochastic rounding is deterministic in inference
    if rnd not in ROUND:
        fail(layer, f'{what}: rounding mode {inner.round_mode} is not supported')
    ovf = inner.overflow_mode.upper()
    if ovf not in ('WRAP', 'SAT', 'SAT_SYM'):
        fail(layer, f'{what}: overflow mode {ovf} is not supported (WRAP, SAT, SAT_SYM are)')
    full = (1,) + tuple(shape)
    k, i, f = (np.asarray(ops.convert_to_numpy(inner.bw_mapper.bw_to_x(v, full)))[0] for v in inner.kif)
    types = []
    for kk, ii, ff in zip(k.ravel(), i.ravel(), f.ravel()):
        kk, ii, ff = int(round(float(kk))), int(round(float(ii))), int(round(float(ff)))
        if kk + ii + ff <= 0:
            types.append(ZERO)
            continue
        ii = max(ii, -ff)
        width, ib = kk + ii + ff, kk + ii
        if width > 24:
            print(f'warning: {layer.name}: {what}: a {width}-bit element exceeds float32\'s 24-bit '
                  'significand; Keras rounds it in float32 and may differ from the exact type',
                  file=sys.stderr)
        o = ovf
        if ovf == 'SAT_SYM':
            o = 'SAT_NARROW' if kk else 'SAT'
        types.append(Ty(bool(kk), width, ib, ROUND[rnd], o))
    return types


# ---- the exporter ---------------------------------------------------------------------------


class Exporter:
    def __init__(self, model):
        self.model = model
        self.inputs = []
        self.layers = []
        self.names = set()
        # tensor name → (shape without batch, per-element types or a single type)
        self.tensors = {}

    def fresh(self, name):
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f'{base}_{n}'
        self.names.add(name)
        return name

    def elem_types(self, t):
        shape, ty = self.tensors[t]
        return ty if isinstance(ty, list) else [ty] * int(np.prod(shape))

    def add(self, layer_json, shape, types):
        self.layers.append(layer_json)
        self.tensors[layer_json['name']] = (shape, types)
        return layer_json['name']

    def quantize(self, src, q, layer, what):
        """A quantizer on tensor `src`: a `quantize` layer (or the input's own type)."""
        shape, _ = self.tensors[src]
        types = quantizer_types(q, shape, layer, what)
        uniform = all(t == types[0] for t in types)
        # A quantizer straight on a model input that nothing else reads becomes its type.
        inp = next((x for x in self.inputs if x['name'] == src), None)
        if inp is not None and inp.get('_open'):
            del inp['_open']
            if uniform:
                inp['type'] = str(types[0])
                self.tensors[src] = (shape, types[0])
                return src
            live = [t for t in types if not t.is_zero()]
            ovf = 'WRAP' if live and all(t.ovf == 'WRAP' for t in live) else 'SAT'
            if any(t.rnd not in ('TRN', 'RND') for t in live):
                print(f'warning: {layer.name}: {what}: rounding modes other than TRN/RND on a '
                      'heterogeneous input quantizer are exact only for inputs on the input '
                      'type\'s grid', file=sys.stderr)
            it = union_type(types, extra_frac=1, rnd='TRN', ovf=ovf)
            inp['type'] = str(it)
            self.tensors[src] = (shape, it)
        name = self.fresh(f'{layer.name}_{what}')
        if uniform:
            return self.add({'name': name, 'kind': 'quantize', 'input': src, 'result': str(types[0])},
                            shape, types[0])
        per_channel = all(types[e] == types[e % shape[-1]] for e in range(len(types)))
        listed = types[: shape[-1]] if per_channel else types
        result = union_type(types)
        return self.add({'name': name, 'kind': 'quantize', 'input': src,
                         'element_types': [str(t) for t in listed], 'result': str(result)},
                        shape, list(types))

    def check_fixed(self, src, layer):
        if src in self.tensors and self.tensors[src][1] is None:
            fail(layer, f'reads `{src}`, a float tensor: enable the layer\'s input quantizer '
                        '(enable_iq=True) so that rtl4ml knows its fixed-point type')

    def sum_layer(self, layer, src, kind, kernel, bias, out_shape, extra):
        """A dense or convolution layer with exact accumulation; returns its output name."""
        x_types = self.elem_types(src)
        wty, wm = constant(kernel, 'kernel', layer)
        obj = {'name': self.fresh(layer.name), 'kind': kind, 'input': src,
               'weight': {'type': str(wty), 'shape': list(kernel.shape), 'data': wm}}
        bfrac, blo, bhi, bmax = 0, Fraction(0), Fraction(0), Fraction(0)
        if bias is not None:
            bty, bm = constant(bias, 'bias', layer)
            if any(bm):
                obj['bias'] = {'type': str(bty), 'data': bm}
                bfrac = bty.frac
                bvals = [Fraction(float(v)) for v in np.asarray(bias).ravel()]
                blo, bhi = min(bvals), max(bvals)
                bmax = max(abs(blo), abs(bhi))
        obj.update(extra)
        # Exact range of every output: Σ over the receptive field of w·x (x in its element's
        # range), plus the bias. Bounded by the hull over inputs (cheap and safe).
        live = [t for t in x_types if not t.is_zero()]
        xlo = min([t.value_range()[0] for t in live] + [Fraction(0)])
        xhi = max([t.value_range()[1] for t in live] + [Fraction(0)])
        xfrac = max([t.frac for t in live], default=0)
        w = np.asarray(kernel, dtype=np.float64)
        w2 = w.reshape(-1, w.shape[-1])
        lo = hi = None
        absmax = Fraction(0)
        for j in range(w2.shape[1]):
            col = [Fraction(float(v)) for v in w2[:, j] if v != 0]
            s_lo = sum((min(c * xlo, c * xhi) for c in col), Fraction(0))
            s_hi = sum((max(c * xlo, c * xhi) for c in col), Fraction(0))
            s_abs = sum((abs(c) * max(abs(xlo), abs(xhi)) for c in col), Fraction(0))
            lo = s_lo if lo is None else min(lo, s_lo)
            hi = s_hi if hi is None else max(hi, s_hi)
            absmax = max(absmax, s_abs)
        lo, hi = lo + blo, hi + bhi
        frac = max(xfrac + wty.frac, bfrac)
        if (absmax + bmax) * Fraction(2) ** frac >= 2**24:
            print(f'warning: {layer.name}: partial sums may need more than float32\'s 24-bit '
                  'significand; Keras may have rounded them, rtl4ml computes them exactly',
                  file=sys.stderr)
        result = hull_type(lo, hi, frac)
        obj['result'] = str(result)
        return self.add(obj, out_shape, result)

    def activation(self, layer, src, act):
        name = getattr(act, '__name__', str(act))
        if name == 'linear':
            return src
        if name != 'relu':
            fail(layer, f'activation `{name}` is not supported (linear and relu are)')
        shape, _ = self.tensors[src]
        ts = self.elem_types(src)
        hi = max([t.value_range()[1] for t in ts if not t.is_zero()] + [Fraction(0)])
        frac = max([t.frac for t in ts if not t.is_zero()], default=0)
        r = hull_type(Fraction(0), hi, frac)
        return self.add({'name': self.fresh(f'{layer.name}_relu'), 'kind': 'relu', 'input': src,
                         'result': str(r)}, shape, r)

    def layer(self, layer, src):
        import keras
        import hgq.layers as hl

        cls = type(layer).__name__
        if isinstance(layer, keras.layers.InputLayer):
            return src
        hgq_conv = cls in ('QConv1D', 'QConv2D') and type(layer).__module__.startswith('hgq')
        q_single = type(layer) is hl.QDense or hgq_conv
        supported = q_single or type(layer) in (keras.layers.ReLU, keras.layers.Activation, keras.layers.Flatten)
        if not supported:
            fail(layer, 'this layer class is not supported by the rtl4ml exporter (supported: QDense, '
                        'QConv1D, QConv2D, ReLU, Activation(relu|linear), Flatten)')
        if q_single and layer.enable_iq:
            src = self.quantize(src, layer.iq, layer, 'iq')
        self.check_fixed(src, layer)
        shape, _ = self.tensors[src]
        if type(layer) is hl.QDense:
            kernel = np.asarray(keras.ops.convert_to_numpy(layer.qkernel))
            bias = None if layer.bias is None else np.asarray(keras.ops.convert_to_numpy(layer.qbias))
            out = self.sum_layer(layer, src, 'dense', kernel, bias, shape[:-1] + [kernel.shape[1]], {})
            out = self.activation(layer, out, layer.activation)
        elif hgq_conv:
            d = 1 if cls == 'QConv1D' else 2
            if getattr(layer, 'data_format', 'channels_last') != 'channels_last':
                fail(layer, 'only channels_last is supported')
            if getattr(layer, 'groups', 1) != 1:
                fail(layer, 'grouped convolutions are not supported')
            if layer.padding not in ('valid', 'same'):
                fail(layer, f'padding `{layer.padding}` is not supported (valid, same are)')
            kernel = np.asarray(keras.ops.convert_to_numpy(layer.qkernel))
            bias = None if layer.bias is None else np.asarray(keras.ops.convert_to_numpy(layer.qbias))
            out_shape = list(layer.compute_output_shape((1,) + tuple(shape))[1:])
            extra = {'strides': list(layer.strides), 'dilation': list(layer.dilation_rate),
                     'padding': layer.padding}
            out = self.sum_layer(layer, src, f'conv{d}d', kernel, bias, out_shape, extra)
            out = self.activation(layer, out, layer.activation)
        elif type(layer) is keras.layers.ReLU:
            if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
                fail(layer, 'only a plain ReLU (no max_value, negative_slope or threshold) is supported')
            out = self.activation(layer, src, keras.activations.relu)
        elif type(layer) is keras.layers.Activation:
            out = self.activation(layer, src, layer.activation)
        elif type(layer) is keras.layers.Flatten:
            if len(shape) == 1:
                return src
            out = self.add({'name': self.fresh(layer.name), 'kind': 'flatten', 'input': src},
                           [int(np.prod(shape))], self.elem_types(src))
        else:
            fail(layer, 'this layer class is not supported by the rtl4ml exporter (supported: QDense, '
                        'QConv1D, QConv2D, ReLU, Activation(relu|linear), Flatten)')
        if getattr(layer, 'enable_oq', False):
            out = self.quantize(out, layer.oq, layer, 'oq')
        return out

    def run(self, name, description):
        m = self.model
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise ExportError(f'model `{m.name}`: only single-input, single-output models are supported')
        inp = m.inputs[0]
        shape = [int(d) for d in inp.shape[1:]]
        # Keras names unnamed inputs `keras_tensor_N`, with N depending on the session.
        in_name = getattr(inp, 'name', '') or 'input'
        in_name = self.fresh('input' if in_name.startswith('keras_tensor') else in_name)
        self.inputs.append({'name': in_name, 'shape': shape, 'type': None, '_open': True})
        self.tensors[in_name] = (shape, None)
        # Keras tensors (by id) → native tensor names: each layer reads what its inbound node says.
        names = {id(inp): in_name}
        src = in_name
        for layer in m.layers:
            if isinstance(layer, __import__('keras').layers.InputLayer):
                continue
            # The layer's calls in this model's graph (a rebuilt model keeps older calls).
            # (`model.build` again adds a call on the same input; the last one is the model's.)
            nodes = [n for n in layer._inbound_nodes if any(id(t) in names for t in n.input_tensors)]
            sources = {tuple(id(t) for t in n.input_tensors) for n in nodes}
            if len(sources) != 1 or len(nodes[-1].input_tensors) != 1 or len(nodes[-1].output_tensors) != 1:
                fail(layer, 'only single-input, single-output layers used once are supported '
                            '(no merges or shared layers)')
            src = self.layer(layer, names[id(nodes[-1].input_tensors[0])])
            names[id(nodes[-1].output_tensors[0])] = src
        if id(m.outputs[0]) not in names:
            raise ExportError(f'model `{m.name}`: its output is not produced by a supported layer')
        src = names[id(m.outputs[0])]
        for x in self.inputs:
            if x.get('_open'):
                raise ExportError(f'model input `{x["name"]}` is not quantized: the first layer needs an '
                                  'HGQ2 input quantizer (enable_iq=True)')
        self.check_fixed(src, m.layers[-1])
        return {'format': 'rtl4ml-model', 'version': 1, 'name': name, 'description': description,
                'inputs': self.inputs, 'layers': self.layers, 'outputs': [src]}


def export(model, name=None, description=None):
    """The native model (a dict) of a Keras model with HGQ2 layers."""
    name = name or model.name
    description = description or f'exported from Keras model `{model.name}` by rtl4ml.keras'
    return Exporter(model).run(name, description)


def load_model(path):
    """Loads a saved Keras model (`.keras`) with the HGQ2 layers registered."""
    import keras
    import hgq  # noqa: F401  (registers the HGQ2 layers for loading)

    return keras.models.load_model(path, compile=False)


def dumps(doc):
    """Compact, deterministic JSON: one line per layer."""
    head = {k: v for k, v in doc.items() if k not in ('inputs', 'layers', 'outputs')}
    lines = ['{']
    for k, v in head.items():
        lines.append(f'  {json.dumps(k)}: {json.dumps(v)},')
    lines.append(f'  "inputs": {json.dumps(doc["inputs"])},')
    lines.append('  "layers": [')
    lines.append(',\n'.join('    ' + json.dumps(l) for l in doc['layers']))
    lines.append('  ],')
    lines.append(f'  "outputs": {json.dumps(doc["outputs"])}')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m rtl4ml.keras', description=__doc__.split('\n')[0])
    ap.add_argument('model', help='a Keras 3 model file (.keras) with HGQ2 layers')
    ap.add_argument('output', help='the native rtl4ml model to write (.json)')
    ap.add_argument('--name', help='model name (default: the Keras model name)')
    args = ap.parse_args(argv)
    model = load_model(args.model)
    try:
        doc = export(model, args.name)
    except ExportError as e:
        sys.exit(f'{args.model}: {e}')
    with open(args.output, 'w') as f:
        f.write(dumps(doc))


# rtl4ml's cost inside training (docs/qat.md): CostRegularizer, CompiledCostCallback,
# compiled_cost, from rtl4ml/qat.py (only inside the installed package).
if __package__:
    from .qat import CostRegularizer, compiled_cost  # noqa: E402,F401

    def __getattr__(name):
        if name == 'CompiledCostCallback':
            from . import qat
            return qat.CompiledCostCallback
        raise AttributeError(name)


if __name__ == '__main__':
    main()
