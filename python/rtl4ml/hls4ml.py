"""hls4ml as a frontend: an hls4ml `ModelGraph` to rtl4ml's native JSON model, bit for bit with
hls4ml's C simulation.

In Python, `rtl4ml.from_hls4ml(hls_model)` runs this bridge and loads the result; from a
shell, `python3 -m rtl4ml.hls4ml CONFIG.yml OUT.json` converts an hls4ml configuration file
(`KerasJson`/`KerasH5`, `OnnxModel`, ...) with hls4ml's own converter and writes the model.
It needs hls4ml (the `hls4ml` extra: `pip install "./python[hls4ml]"`; see docs/hls4ml.md).

The bridge reads the graph hls4ml has built and optimized (after its converters and its
optimizer passes, i.e. what `hls_model.compile()` writes out as C++), and writes every number
as hls4ml's C++ sees it:

* Weights, biases, batch-normalization scales: the decimal text hls4ml writes to its weight
  files (`WeightVariable`'s own formatter: `F` decimals for a type with `F` fractional bits),
  read back as a `double` and cast to the weight's type with its rounding and overflow, as
  `ap_fixed` does when the C simulation loads them. The result is the exact mantissa.
* Types: every resolved `*_t` of a layer (input `result_t`; dense `weight_t`, `bias_t`,
  `accum_t`, `result_t`; activation and batch-normalization `result_t`; softmax tables and
  accumulator) is written as the native type with its rounding and overflow modes.
* Arithmetic: hls4ml's Latency `dense` (products and partial sums cast to `accum_t` in input
  order, from `accum_t(bias)`) is the native `dense` with `accum`; `relu` is `x > 0 ? R(x) :
  0`; a `linear` activation is a cast (`quantize`); `normalize` is the native `batchnorm`
  (`R(x·scale + bias)`, exact before the cast); `softmax_latency` is the native `softmax` with
  explicit tables computed as hls4ml's C++ computes them (in `float`, with the C library's
  `expf`), the exponentials held in `accum_t` and the inverse table indexed through
  `inv_inp_t`.

Supported: the Vivado and Vitis backends, `io_parallel`, the Latency strategy; the layers in
`SUPPORTED` (Input, Dense, Conv1D/Conv2D and their pointwise forms, Activation (relu, linear),
BatchNormalization/ApplyAlpha, Softmax (implementation `latency`), Reshape/Flatten,
Transpose). Anything else raises `Hls4mlBridgeError` naming the layer and its class. QKeras
models saved by Keras 3 (`.keras`) are rebuilt in Keras 2 first (`load_keras3_qkeras`).
"""

import argparse
import ctypes
import ctypes.util
import json
import math
import sys
from fractions import Fraction

import numpy as np

try:  # inside the installed package: an rtl4ml.ModelError, so `except rtl4ml.Error` catches it
    from ._native import ModelError as _ErrorBase
except ImportError:  # loaded as a file: no native module needed
    _ErrorBase = Exception


class Hls4mlBridgeError(_ErrorBase):
    """An hls4ml model the bridge cannot translate exactly; names the layer and its class."""


def fail(layer, msg):
    raise Hls4mlBridgeError(f'layer `{layer.name}` ({layer.class_name}): {msg}')


# ---- ap_fixed types and casts ----------------------------------------------------------------


class Ty:
    """An ap_fixed-style type: signedness, width W, integer bits I, rounding and overflow."""

    def __init__(self, signed, width, integer, rnd='TRN', ovf='WRAP'):
        self.signed, self.width, self.integer, self.rnd, self.ovf = bool(signed), int(width), int(integer), rnd, ovf

    @property
    def frac(self):
        return self.width - self.integer

    def lo(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    def hi(self):
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __str__(self):
        kind = 'fixed' if self.signed else 'ufixed'
        modes = [self.rnd, self.ovf]
        if self.ovf == 'WRAP':
            modes.pop()
            if self.rnd == 'TRN':
                modes.pop()
        return f'{kind}<{",".join([str(self.width), str(self.integer)] + modes)}>'

    def round(self, v):
        """The mantissa of the exact value `v` (a Fraction) rounded to this type's grid."""
        q = v * (Fraction(2) ** self.frac)
        fl = math.floor(q)
        r = q - fl
        if r == 0:
            return fl
        half = Fraction(1, 2)
        m = self.rnd
        if m == 'TRN':
            return fl
        if m == 'TRN_ZERO':
            return fl if q > 0 else fl + 1
        if r != half:
            return fl + 1 if r > half else fl
        # a tie
        if m == 'RND':
            return fl + 1
        if m == 'RND_ZERO':
            return fl if q > 0 else fl + 1
        if m == 'RND_MIN_INF':
            return fl
        if m == 'RND_INF':
            return fl + 1 if q > 0 else fl
        if m == 'RND_CONV':
            return fl if fl % 2 == 0 else fl + 1
        raise Hls4mlBridgeError(f'rounding mode {m} is not supported')

    def overflow(self, m):
        lo, hi = self.lo(), self.hi()
        o = self.ovf
        if o == 'SAT_SYM' and self.signed and self.width >= 2:
            return hi if m > hi else (-hi if m <= lo else m)
        if lo <= m <= hi:
            return m
        if o == 'WRAP':
            m &= (1 << self.width) - 1
            if self.signed and m >= 1 << (self.width - 1):
                m -= 1 << self.width
            return m
        if o in ('SAT', 'SAT_SYM'):
            return hi if m > hi else lo
        if o == 'SAT_ZERO':
            return 0
        raise Hls4mlBridgeError(f'overflow mode {o} is not supported')

    def cast(self, v):
        """ap_fixed's conversion of the exact value `v` (Fraction, int or finite float)."""
        return self.overflow(self.round(Fraction(v)))

    def cast_float(self, f):
        """ap_fixed's conversion of a C `float`/`double` (infinity → the extreme code, as
        rtl4ml's frontend takes it)."""
        f = float(f)
        if math.isnan(f) or f == math.inf:
            return self.hi()
        if f == -math.inf:
            return self.lo()
        return self.cast(Fraction(f))

    def value(self, m):
        return Fraction(m) / (Fraction(2) ** self.frac)


def hls_type(precision, where):
    """The native type of an hls4ml precision (FixedPrecisionType, IntegerPrecisionType)."""
    from hls4ml.model import types as ht

    name = type(precision).__name__
    if isinstance(precision, ht.IntegerPrecisionType):  # ap_int<W> / ap_uint<W>: TRN, WRAP
        width = int(precision.width)
        if not 1 <= width <= 64:
            raise Hls4mlBridgeError(f'{where}: precision {precision}: rtl4ml types have 1 to 64 bits')
        return Ty(precision.signed, width, width)
    if not isinstance(precision, ht.FixedPrecisionType):
        raise Hls4mlBridgeError(f'{where}: precision {precision} ({name}) is not supported: rtl4ml needs '
                                'fixed-point (ap_fixed/ap_int) types')
    bits = getattr(precision, 'saturation_bits', None)
    if bits not in (None, 0):
        raise Hls4mlBridgeError(f'{where}: precision {precision}: saturation bits N = {bits} are not supported')
    rnd = str(precision.rounding_mode or 'TRN')
    ovf = str(precision.saturation_mode or 'WRAP')
    width, integer = int(precision.width), int(precision.integer)
    if not 1 <= width <= 64:
        raise Hls4mlBridgeError(f'{where}: precision {precision}: rtl4ml types have 1 to 64 bits')
    return Ty(precision.signed, width, integer, rnd, ovf)


def named_type(layer, attr):
    t = layer.attributes.get(attr) if hasattr(layer.attributes, 'get') else layer.get_attr(attr)
    if t is None:
        fail(layer, f'has no `{attr}`')
    return hls_type(t.precision, f'layer `{layer.name}` ({layer.class_name}): {attr}')


def weight_constant(layer, key):
    """(type, mantissas, shape) of a weight as hls4ml's C simulation loads it."""
    var = layer.weights.get(key)
    if var is None:
        return None
    cls = type(var).__name__
    if cls not in ('WeightVariable', 'StaticWeightVariable'):
        fail(layer, f'{key}: {cls} weights (compression or exponent encoding) are not supported')
    ty = hls_type(var.type.precision, f'layer `{layer.name}` ({layer.class_name}): {key}_t')
    # The exact text hls4ml writes to firmware/weights/*.txt and *.h, read back as a double
    # (`istream >> double`, or the double literal) and converted to the type.
    mant = [ty.cast_float(float(s)) for s in var]
    return ty, mant, list(var.data.shape)


# ---- float helpers for hls4ml's tables (C `float`, the C library's expf) ---------------------

_libm = None


def c_expf(x):
    global _libm
    if _libm is None:
        _libm = ctypes.CDLL(ctypes.util.find_library('m') or 'libm.so.6')
        _libm.expf.restype = ctypes.c_float
        _libm.expf.argtypes = [ctypes.c_float]
    return float(_libm.expf(float(np.float32(x))))


def top_bits_value(ty, i, bits):
    """hls4ml's `softmax_real_val_from_idx`: the value with top `bits` bits `i`, rest zero."""
    m = i << (ty.width - bits)
    if ty.signed and m >= 1 << (ty.width - 1):
        m -= 1 << ty.width
    return ty.value(m)


def top_bits_index(ty, m, bits):
    u = m & ((1 << ty.width) - 1)
    return u >> (ty.width - bits)


def softmax_tables(layer, x, accum, exp_t, inv_t, inv_inp, exp_size, inv_size):
    """hls4ml 1.3.0's `softmax_latency` as the native softmax's two explicit tables:

        e_k = accum_t(exp_table[top bits of x_k])       exp_table_t(expf(v))
        s   = reduce(e) in accum_t
        v   = inv_table[top bits of inv_inp_t(s)]       inv_table_t(1.0f / w)
        y_k = result_t(e_k · v)

    The native exp table holds the entries already in accum_t; the native inverse table is
    indexed by the fewest top bits of the accum_t sum that determine hls4ml's entry.
    """
    eb, ib = exp_size.bit_length() - 1, inv_size.bit_length() - 1
    if 1 << eb != exp_size or 1 << ib != inv_size:
        fail(layer, f'table sizes {exp_size}, {inv_size} are not powers of two')
    if x.width < eb or inv_inp.width < ib:
        fail(layer, f'the softmax indexes its tables by the top {eb} bits of its input ({x}) and the top '
                    f'{ib} bits of inv_inp_t ({inv_inp}): both need at least that many bits')
    if accum.width > 20:
        fail(layer, f'accum_t {accum} is wider than 20 bits; rtl4ml builds hls4ml\'s inverse table over '
                    'the accumulator\'s codes: give the softmax a narrower accum_t')
    exp_data = []
    for i in range(exp_size):
        v = float(np.float32(float(top_bits_value(x, i, eb))))
        e = exp_t.cast_float(c_expf(v))
        exp_data.append(accum.cast(exp_t.value(e)))
    hls_inv = []
    for i in range(inv_size):
        w = np.float32(float(top_bits_value(inv_inp, i, ib)))
        with np.errstate(divide='ignore'):
            r = np.float32(1) / w
        hls_inv.append(inv_t.cast_float(float(r)))
    codes = 1 << accum.width
    entry = []
    for u in range(codes):
        s = u - codes if accum.signed and u >= codes // 2 else u
        w = inv_inp.cast(accum.value(s))
        entry.append(hls_inv[top_bits_index(inv_inp, w, ib)])
    k = next(k for k in range(1, accum.width + 1)
             if all(len(set(entry[b:b + (codes >> k)])) == 1 for b in range(0, codes, codes >> k)))
    if k > 16:
        fail(layer, f'the inverse table needs {1 << k} entries over accum_t {accum}; rtl4ml tables '
                    'have at most 65536')
    block = codes >> k
    return ({'type': str(accum), 'size': exp_size, 'data': exp_data},
            {'type': str(inv_t), 'size': 1 << k, 'data': entry[::block]})


# ---- the bridge -------------------------------------------------------------------------------

SUPPORTED = ('Input, Dense, Conv1D, Conv2D, PointwiseConv1D/2D, Activation (relu, linear), BatchNormalization, '
             'ApplyAlpha, Softmax (latency), Reshape, Transpose')


class Bridge:
    def __init__(self, hls_model):
        self.m = hls_model
        self.inputs, self.layers = [], []
        self.names = set()
        self.tensors = {}  # hls4ml output variable name → (native name, shape, Ty)

    def fresh(self, name):
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f'{base}_{n}'
        self.names.add(name)
        return name

    def check_config(self):
        cfg = self.m.config
        backend = cfg.backend.name if getattr(cfg, 'backend', None) is not None else '?'
        if backend not in ('Vivado', 'Vitis'):
            raise Hls4mlBridgeError(f'hls4ml backend `{backend}` is not supported: rtl4ml follows the '
                                    'Vivado/Vitis backend\'s C++ (backend="Vivado" or "Vitis")')
        io = cfg.get_config_value('IOType')
        if io != 'io_parallel':
            raise Hls4mlBridgeError(f'IOType `{io}` is not supported: rtl4ml builds io_parallel designs '
                                    '(io_type="io_parallel")')

    def src(self, layer, k=0):
        names = layer.inputs
        if len(names) != 1:
            fail(layer, f'reads {len(names)} tensors; only single-input layers are supported')
        t = self.tensors.get(names[k])
        if t is None:
            fail(layer, f'reads `{names[k]}`, which no supported layer produces')
        return t

    def add(self, layer, obj, shape, ty):
        self.layers.append(obj)
        out = layer.outputs
        if len(out) != 1:
            fail(layer, 'has several outputs; not supported')
        self.tensors[out[0]] = (obj['name'], shape, ty)

    def out_shape(self, layer):
        return [int(d) for d in layer.get_output_variable().shape]

    def layer(self, layer):
        cls = layer.class_name
        if cls == 'Input':
            shape = self.out_shape(layer)
            ty = named_type(layer, 'result_t')
            name = self.fresh(layer.name)
            self.inputs.append({'name': name, 'shape': shape, 'type': str(ty)})
            self.tensors[layer.outputs[0]] = (name, shape, ty)
        elif cls == 'Dense':
            self.dense(layer)
        elif cls == 'Activation':
            self.activation(layer)
        elif cls in ('BatchNormalization', 'ApplyAlpha'):
            self.batchnorm(layer)
        elif cls == 'Softmax':
            self.softmax(layer)
        elif cls in ('Conv1D', 'Conv2D', 'PointwiseConv1D', 'PointwiseConv2D'):
            self.conv(layer, 2 if cls.endswith('2D') else 1)
        elif cls == 'Transpose':
            src, shape, ty = self.src(layer)
            perm = [int(p) for p in layer.get_attr('perm')]
            self.add(layer, {'name': self.fresh(layer.name), 'kind': 'transpose', 'input': src, 'perm': perm},
                     self.out_shape(layer), ty)
        elif cls == 'Reshape':
            src, shape, ty = self.src(layer)
            out = self.out_shape(layer)
            if out == shape:
                self.tensors[layer.outputs[0]] = (src, shape, ty)
                return
            self.add(layer, {'name': self.fresh(layer.name), 'kind': 'reshape', 'input': src, 'shape': out}, out, ty)
        else:
            act = layer.get_attr('activation')
            what = f' (activation `{act}`)' if act and cls.endswith('Activation') else ''
            fail(layer, f'this layer class{what} is not supported by the rtl4ml hls4ml bridge (supported: {SUPPORTED})')

    def dense(self, layer):
        src, shape, _ = self.src(layer)
        strategy = str(layer.get_attr('strategy', 'latency')).lower()
        if strategy != 'latency':
            fail(layer, f'strategy `{layer.get_attr("strategy")}` is not supported: rtl4ml reproduces the '
                        'Latency strategy (Strategy: Latency in the hls4ml configuration)')
        n_in, n_out = int(layer.get_attr('n_in')), int(layer.get_attr('n_out'))
        if len(shape) != 1 or shape[0] != n_in:
            fail(layer, f'input of shape {shape}: only a 1-D input of n_in = {n_in} elements is supported')
        w = weight_constant(layer, 'weight')
        if w is None:
            fail(layer, 'has no weights')
        wty, wm, wshape = w
        if wshape != [n_in, n_out]:
            fail(layer, f'weight of shape {wshape}, expected [{n_in}, {n_out}] (Keras order)')
        obj = {'name': self.fresh(layer.name), 'kind': 'dense', 'input': src,
               'weight': {'type': str(wty), 'shape': [n_in, n_out], 'data': wm}}
        b = weight_constant(layer, 'bias')
        if b is not None and any(b[1]):
            obj['bias'] = {'type': str(b[0]), 'data': b[1]}
        obj['accum'] = str(named_type(layer, 'accum_t'))
        rty = named_type(layer, 'result_t')
        obj['result'] = str(rty)
        self.add(layer, obj, [n_out], rty)

    def conv(self, layer, d):
        src, shape, _ = self.src(layer)
        strategy = str(layer.get_attr('strategy', 'latency')).lower()
        if strategy != 'latency':
            fail(layer, f'strategy `{layer.get_attr("strategy")}` is not supported: rtl4ml reproduces the '
                        'Latency strategy (Strategy: Latency in the hls4ml configuration)')
        if str(layer.get_attr('data_format', 'channels_last')) != 'channels_last':
            fail(layer, 'only channels_last convolutions are supported')
        axes = ['height', 'width'] if d == 2 else ['width']
        before = {'height': 'pad_top', 'width': 'pad_left'}
        after = {'height': 'pad_bottom', 'width': 'pad_right'}
        n_chan, n_filt = int(layer.get_attr('n_chan')), int(layer.get_attr('n_filt'))
        ins = [int(layer.get_attr(f'in_{a}')) for a in axes]
        if shape != ins + [n_chan]:
            fail(layer, f'input of shape {shape}, expected {ins + [n_chan]}')
        ks = [int(layer.get_attr(f'filt_{a}')) for a in axes]
        st = [int(layer.get_attr(f'stride_{a}')) for a in axes]
        for a in axes:
            if int(layer.get_attr(f'dilation_{a}', 1) or 1) != 1:
                fail(layer, 'dilated convolutions are not supported')
        pads = [(int(layer.get_attr(before[a], 0)), int(layer.get_attr(after[a], 0))) for a in axes]
        outs = [int(layer.get_attr(f'out_{a}')) for a in axes]
        if all(p == (0, 0) for p in pads):
            padding = 'valid'
        else:
            padding = 'same'
            for n, k, s_, (pb, pa), o in zip(ins, ks, st, pads, outs):
                total = max((-(-n // s_) - 1) * s_ + k - n, 0)
                if (pb, pa) != (total // 2, total - total // 2) or o != -(-n // s_):
                    fail(layer, f'padding {pads} is neither `valid` nor Keras\' `same`: not supported')
        w = weight_constant(layer, 'weight')
        wty, wm, wshape = w
        if wshape != ks + [n_chan, n_filt]:
            fail(layer, f'weight of shape {wshape}, expected {ks + [n_chan, n_filt]} (Keras order)')
        obj = {'name': self.fresh(layer.name), 'kind': f'conv{d}d', 'input': src,
               'weight': {'type': str(wty), 'shape': wshape, 'data': wm}}
        b = weight_constant(layer, 'bias')
        if b is not None and any(b[1]):
            obj['bias'] = {'type': str(b[0]), 'data': b[1]}
        obj['accum'] = str(named_type(layer, 'accum_t'))
        obj['strides'] = st
        obj['padding'] = padding
        rty = named_type(layer, 'result_t')
        obj['result'] = str(rty)
        out = self.out_shape(layer)
        if out != outs + [n_filt]:
            fail(layer, f'output of shape {out}, expected {outs + [n_filt]}')
        self.add(layer, obj, out, rty)

    def activation(self, layer):
        src, shape, _ = self.src(layer)
        act = str(layer.get_attr('activation', '')).lower()
        rty = named_type(layer, 'result_t')
        if act == 'relu':
            kind = 'relu'
        elif act == 'linear':
            kind = 'quantize'
        else:
            fail(layer, f'activation `{act}` is not supported by the rtl4ml hls4ml bridge (relu and linear are)')
        self.add(layer, {'name': self.fresh(layer.name), 'kind': kind, 'input': src, 'result': str(rty)},
                 shape, rty)

    def batchnorm(self, layer):
        src, shape, _ = self.src(layer)
        s = weight_constant(layer, 'scale')
        b = weight_constant(layer, 'bias')
        n = len(s[1])
        if n != shape[-1] or (len(shape) > 1 and int(layer.get_attr('n_filt', -1)) == -1):
            fail(layer, f'{n} scales for an input of shape {shape}: only per-channel (last axis) '
                        'normalization is supported')
        rty = named_type(layer, 'result_t')
        obj = {'name': self.fresh(layer.name), 'kind': 'batchnorm', 'input': src,
               'scale': {'type': str(s[0]), 'data': s[1]}}
        if b is not None and any(b[1]):
            obj['bias'] = {'type': str(b[0]), 'data': b[1]}
        obj['result'] = str(rty)
        self.add(layer, obj, shape, rty)

    def softmax(self, layer):
        src, shape, xty = self.src(layer)
        impl = str(layer.get_attr('implementation', 'stable')).lower()
        if impl != 'latency':
            fail(layer, f'softmax implementation `{impl}` is not supported: rtl4ml reproduces hls4ml\'s '
                        '`latency` softmax (set `Implementation: latency` for this layer in the hls4ml '
                        'configuration), or end the model before the softmax')
        if layer.get_attr('skip', False):
            self.tensors[layer.outputs[0]] = (src, shape, xty)
            return
        if len(shape) != 1 or int(layer.get_attr('n_inner', 1)) != 1 or int(layer.get_attr('n_outer', 1)) != 1:
            fail(layer, f'input of shape {shape}: only a softmax over a 1-D input is supported')
        if float(layer.get_attr('exp_scale', 1.0)) != 1.0:
            fail(layer, 'exp_scale other than 1 is not supported')
        size = int(layer.get_attr('table_size', 1024))
        exp_size = int(layer.get_attr('exp_table_size', None) or size)
        inv_size = int(layer.get_attr('inv_table_size', None) or size)
        exp_t = named_type(layer, 'exp_table_t')
        inv_t = named_type(layer, 'inv_table_t')
        accum = named_type(layer, 'accum_t')
        inv_inp_attr = layer.attributes['inv_inp_t']
        # hls4ml's SoftmaxConfigTemplate: an inv_inp_t left at the model default is exp_table_t.
        inv_inp = exp_t if inv_inp_attr.name == 'model_default_t' else named_type(layer, 'inv_inp_t')
        et, it = softmax_tables(layer, xty, accum, exp_t, inv_t, inv_inp, exp_size, inv_size)
        rty = named_type(layer, 'result_t')
        self.add(layer, {'name': self.fresh(layer.name), 'kind': 'softmax', 'input': src,
                         'exp_table': et, 'inv_table': it, 'result': str(rty)}, shape, rty)

    def run(self, name, description):
        self.check_config()
        for layer in self.m.get_layers():
            self.layer(layer)
        outs = []
        for v in self.m.outputs:
            t = self.tensors.get(v)
            if t is None:
                raise Hls4mlBridgeError(f'model output `{v}` is not produced by a supported layer')
            outs.append(t[0])
        if not self.inputs:
            raise Hls4mlBridgeError('the model has no Input layer')
        return {'format': 'rtl4ml-model', 'version': 1, 'name': name, 'description': description,
                'inputs': self.inputs, 'layers': self.layers, 'outputs': outs}


def export(hls_model, name=None, description=None):
    """The native model (a dict) of an hls4ml `ModelGraph` (Vivado/Vitis, io_parallel, Latency)."""
    import hls4ml

    project = hls_model.config.get_project_name() if hasattr(hls_model.config, 'get_project_name') else 'model'
    name = name or project
    description = description or (f'exported from hls4ml {hls4ml.__version__} ModelGraph `{project}` '
                                  f'({hls_model.config.backend.name}, io_parallel, Latency) by rtl4ml.hls4ml')
    return Bridge(hls_model).run(name, description)


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


# ---- QKeras models saved by Keras 3 ------------------------------------------------------------

# Keras 3 layer classes rebuilt as their Keras 2 (tf.keras / QKeras 0.9) counterparts.
_KERAS3_CORE = ('InputLayer', 'Dense', 'Activation', 'Flatten', 'Reshape', 'BatchNormalization', 'ReLU',
                'Softmax', 'Dropout')
_KERAS3_QKERAS = ('QDense', 'QActivation')
# Keras 3 configuration keys that Keras 2 does not take (or spells differently).
_KERAS3_ONLY = ('dtype', 'optional', 'sparse', 'ragged', 'quantization_config', 'synchronized')


def _snake(name):
    """Keras 3's weight-file group name of a layer class (`QDense` -> `q_dense`)."""
    import re

    s = re.sub(r'(.)([A-Z][a-z]+)', r'\1_\2', name)
    return re.sub(r'([a-z])([A-Z])', r'\1_\2', s).lower()


def _qkeras_quantizer(spec, where):
    """A QKeras 0.9 quantizer from its Keras 3 serialization (or a plain activation name)."""
    import inspect

    from qkeras import quantizers

    if spec is None or isinstance(spec, str):
        return spec
    cls = spec.get('class_name') if isinstance(spec, dict) else None
    q = getattr(quantizers, cls, None) if isinstance(cls, str) else None
    if q is None or not isinstance(q, type):
        raise Hls4mlBridgeError(f'{where}: quantizer `{cls}` is not a QKeras quantizer this bridge knows')
    cfg = dict(spec.get('config') or {})
    known = inspect.signature(q.__init__).parameters
    for k, v in list(cfg.items()):
        if k not in known:
            # Fields newer QKeras added; harmless only at the value that means "not used".
            if v is not None:
                raise Hls4mlBridgeError(f'{where}: quantizer `{cls}` field `{k}` = {v!r} has no QKeras 0.9 '
                                        'equivalent')
            del cfg[k]
    return q(**cfg)


def load_keras3_qkeras(path):
    """A Keras 3 `.keras` archive of a QKeras model, rebuilt as a Keras 2 (tf.keras) QKeras model
    with its weights, for hls4ml's Keras 2 converter.

    QKeras 0.9 (the one on PyPI, and the one hls4ml 1.3.0 parses) runs on Keras 2 only, so the
    archive cannot be loaded by Keras 3 without a Keras-3 port of QKeras. Its `config.json`
    names every layer, quantizer and shape, and `model.weights.h5` holds the float weights
    (group `layers/<class in snake case>[_k]/vars/<i>`, in layer order): both are read here
    and the same network is built from QKeras 0.9's classes. Sequential models of the layers
    in `_KERAS3_CORE` and `_KERAS3_QKERAS`; anything else raises `Hls4mlBridgeError` naming
    the layer and its class.
    """
    import io
    import os
    import zipfile

    import h5py
    import tensorflow as tf
    from qkeras import QActivation, QDense

    where = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as z:
            cfg = json.loads(z.read('config.json'))
            blob = z.read('model.weights.h5')
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as e:
        raise Hls4mlBridgeError(f'{where}: not a Keras 3 model archive (config.json + model.weights.h5): {e}')
    if cfg.get('class_name') != 'Sequential':
        raise Hls4mlBridgeError(f'{where}: a Keras 3 `{cfg.get("class_name")}` model; only Sequential QKeras '
                                'models are rebuilt (save the model as Sequential, or use hls4ml with QKeras '
                                'on Keras 2)')
    layers_cfg = cfg['config']['layers']
    weights = h5py.File(io.BytesIO(blob), 'r')
    seen = {}
    model = tf.keras.Sequential(name=cfg['config'].get('name'))
    pending = []
    for lc in layers_cfg:
        cls, c = lc.get('class_name'), dict(lc.get('config') or {})
        name = c.get('name', '?')
        at = f'{where}: layer `{name}` ({cls})'
        for k in _KERAS3_ONLY:
            c.pop(k, None)
        if cls == 'InputLayer':
            shape = c.get('batch_shape') or c.get('batch_input_shape')
            model.add(tf.keras.Input(shape=tuple(shape[1:]), name=name))
            continue
        if cls == 'QDense':
            layer = QDense(c['units'], activation=_qkeras_quantizer(c.get('activation'), at),
                           use_bias=c.get('use_bias', True),
                           kernel_quantizer=_qkeras_quantizer(c.get('kernel_quantizer'), at),
                           bias_quantizer=_qkeras_quantizer(c.get('bias_quantizer'), at), name=name)
        elif cls == 'QActivation':
            layer = QActivation(_qkeras_quantizer(c.get('activation'), at), name=name)
        elif cls in _KERAS3_CORE:
            for k in ('kernel_initializer', 'bias_initializer', 'kernel_regularizer', 'bias_regularizer',
                      'activity_regularizer', 'kernel_constraint', 'bias_constraint', 'beta_initializer',
                      'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer',
                      'beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint',
                      'lora_rank', 'lora_alpha'):
                c.pop(k, None)
            layer = tf.keras.layers.deserialize({'class_name': cls, 'config': c})
        else:
            raise Hls4mlBridgeError(f'{at}: not rebuilt from a Keras 3 archive (supported: '
                                    f'{", ".join(_KERAS3_QKERAS + _KERAS3_CORE)})')
        model.add(layer)
        group = _snake(cls)
        k = seen.get(group, 0)
        seen[group] = k + 1
        pending.append((layer, f'layers/{group}' + (f'_{k}' if k else ''), at))
    for layer, group, at in pending:
        want = layer.get_weights()
        vars_ = weights.get(f'{group}/vars')
        got = [np.asarray(vars_[str(i)]) for i in range(len(vars_))] if vars_ is not None else []
        if [w.shape for w in got] != [w.shape for w in want]:
            raise Hls4mlBridgeError(f'{at}: weights `{group}` in the archive have shapes '
                                    f'{[w.shape for w in got]}, the layer needs {[w.shape for w in want]}')
        if got:
            layer.set_weights(got)
    return model


def convert(model, hls_config=None, output_dir=None, default_precision='fixed<16,6>', **kwargs):
    """An hls4ml `ModelGraph` built by hls4ml's own converters, ready for `export`.

    `model` is an in-memory Keras model (Keras 2 / QKeras), a Keras 3 `.keras` archive of a
    QKeras model (rebuilt by `load_keras3_qkeras`), an ONNX `ModelProto` or `.onnx`
    path (qonnx's cleanup, channels-last and Gemm→MatMul first, as hls4ml's ONNX frontend
    needs), a PyTorch module (give `input_shape=`), or an hls4ml configuration (a dict, or a
    YAML path, with KerasJson + KerasH5, KerasModel: x.keras, OnnxModel, ...). Backend Vivado
    and io_parallel unless `hls_config`/`kwargs` say otherwise. Without `hls_config`, hls4ml's
    `config_from_*_model` with `default_precision` (granularity `name` for Keras and PyTorch,
    `model` for ONNX), the Latency strategy and the `latency` softmax.
    """
    import os
    import tempfile

    import hls4ml

    output_dir = output_dir or tempfile.mkdtemp(prefix='rtl4ml-hls4ml-')
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(('.yml', '.yaml')):
        import yaml

        here = os.path.dirname(os.path.abspath(model))
        with open(model) as f:
            model = yaml.safe_load(f)
        # Model files named relative to the configuration file (else to the working directory).
        for key in ('KerasJson', 'KerasH5', 'KerasModel', 'KerasFile', 'OnnxModel', 'PytorchModel'):
            v = model.get(key)
            if isinstance(v, str) and not os.path.isabs(v) and os.path.exists(os.path.join(here, v)):
                model[key] = os.path.join(here, v)
    if isinstance(model, dict):
        cfg = dict(model)
        cfg.setdefault('OutputDir', output_dir)
        cfg.setdefault('Backend', 'Vivado')
        cfg.setdefault('IOType', 'io_parallel')
        if hls_config is not None:
            cfg['HLSConfig'] = hls_config
        for key in ('KerasModel', 'KerasFile'):
            v = cfg.get(key)
            if isinstance(v, (str, os.PathLike)) and str(v).lower().endswith('.keras'):
                # A Keras 3 archive of a QKeras model: rebuilt in Keras 2 for hls4ml's converter.
                del cfg[key]
                cfg['KerasModel'] = load_keras3_qkeras(v)
        if 'KerasJson' in cfg or 'KerasH5' in cfg or 'KerasModel' in cfg:
            # A Keras 2 model as json + h5 or in memory (hls4ml's own reader;
            # convert_from_config takes only in-memory Keras models).
            from hls4ml.converters.keras_v2_to_hls import keras_v2_to_hls

            return keras_v2_to_hls(cfg)
        return hls4ml.converters.convert_from_config(cfg)
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith('.keras'):
        model = load_keras3_qkeras(model)
    opts = dict(backend='Vivado', io_type='io_parallel', output_dir=output_dir)
    opts.update(kwargs)
    mod = type(model).__module__
    if hasattr(model, 'graph') and hasattr(model, 'SerializeToString') or (
            isinstance(model, (str, os.PathLike)) and str(model).lower().endswith('.onnx')):
        # hls4ml's ONNX frontend reads a QONNX-cleaned, channels-last graph with MatMul for Gemm.
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.util.cleanup import cleanup_model

        m = cleanup_model(ModelWrapper(os.fspath(model) if isinstance(model, os.PathLike) else model))
        m = m.transform(ConvertToChannelsLastAndClean())
        m = m.transform(GemmToMatMul())
        m = cleanup_model(m)
        if hls_config is None:
            hls_config = hls4ml.utils.config.config_from_onnx_model(
                m, granularity='model', backend=opts['backend'], default_precision=default_precision)
            hls_config['Model']['Strategy'] = 'Latency'
            hls_config.setdefault('LayerType', {})['Softmax'] = {'Implementation': 'latency'}
        return hls4ml.converters.convert_from_onnx_model(m, hls_config=hls_config, **opts)
    torch = mod.startswith('torch') or any(c.__module__.startswith('torch') for c in type(model).__mro__)
    if hls_config is None:
        make = (hls4ml.utils.config.config_from_pytorch_model if torch
                else hls4ml.utils.config.config_from_keras_model)
        extra = {'input_shape': kwargs['input_shape']} if torch and 'input_shape' in kwargs else {}
        hls_config = make(model, granularity='name', backend=opts['backend'],
                          default_precision=default_precision, **extra)
        hls_config['Model']['Strategy'] = 'Latency'
        hls_config.setdefault('LayerType', {})['Softmax'] = {'Implementation': 'latency'}
        for layer in hls_config.get('LayerName', {}).values():  # per-name entries win over LayerType
            if isinstance(layer, dict) and layer.get('Implementation') == 'stable':  # hls4ml's softmax default
                layer['Implementation'] = 'latency'
    if torch:
        return hls4ml.converters.convert_from_pytorch_model(model, hls_config=hls_config, **opts)
    return hls4ml.converters.convert_from_keras_model(model, hls_config=hls_config, **opts)


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m rtl4ml.hls4ml', description=__doc__.split('\n')[0])
    ap.add_argument('config', help='an hls4ml configuration file (YAML: KerasJson + KerasH5, KerasModel: '
                    'x.keras, OnnxModel, ...), or a model file (.onnx, or .keras: QKeras saved by Keras 3)')
    ap.add_argument('output', help='the native rtl4ml model to write (.json)')
    ap.add_argument('--name', help='model name (default: the hls4ml ProjectName)')
    args = ap.parse_args(argv)
    hls_model = convert(args.config)
    try:
        doc = export(hls_model, args.name)
    except Hls4mlBridgeError as e:
        sys.exit(f'{args.config}: {e}')
    with open(args.output, 'w') as f:
        f.write(dumps(doc))


if __name__ == '__main__':
    main()
