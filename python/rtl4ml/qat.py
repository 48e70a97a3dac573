"""rtl4ml's resource cost inside quantization-aware training (HGQ2 / Keras 3); see docs/qat.md.

    from rtl4ml.keras import CostRegularizer, CompiledCostCallback, compiled_cost

    reg = CostRegularizer(coeff=2e-6)          # per estimated LUT (+ ff_weight per FF)
    reg.install(model)                         # in place of HGQ2's EBOPs term, before fit
    model.fit(..., callbacks=[CompiledCostCallback(reg, every=10)])
    compiled_cost(model)                       # {'lut', 'ff', 'cycles', 'latency_ns', ...}

The surrogate of one dense layer (kernel bits b[j,o] of HGQ2's kernel quantizer, input bits
a[j] of its input quantizer; both HGQ2's differentiable `bits_`):

    LUT  ≈ s · lut_per_adder_bit · Σ_jo D(b[j,o]) · (a[j] + b[j,o])
    FF   ≈ ff_per_register_bit · Σ_j a[j]

D(b) is the mean number of canonical signed digits of a b-bit weight (each digit is one
shifted copy of the input in the output's adder tree, of about a[j] + b[j,o] bits once
shifted), interpolated linearly between integer widths. `lut_per_adder_bit` (the crate's
`lut_per_tree_adder_bit`: an adder's LUTs per bit inside a sum tree),
`ff_per_register_bit` and D come from the Rust crate (`rtl4ml.training_cost()`, measured on
probe designs by the crate's resource model); `s` is a per-layer factor, 1 until
`calibrate(model)` (or the callback) sets it to compiled LUTs / surrogate LUTs of that layer,
which folds in what the surrogate does not see: shared subexpressions between outputs,
narrower adders at the tree's leaves, zero weights.
"""

import math

from . import _native  # noqa: F401  (the package's native module; this file needs it)

__all__ = ['CostRegularizer', 'CompiledCostCallback', 'compiled_cost']


def _keras():
    import os
    os.environ.setdefault('KERAS_BACKEND', 'jax')
    import keras
    return keras


def compiled_cost(model, clock_ns=4.0, **compile_options):
    """Exports a Keras/HGQ2 model as it is now, compiles it with rtl4ml and returns the
    estimate: {'lut', 'ff', 'cycles', 'latency_ns', 'layers': {report layer name: lut}}
    (the width assignment's latency in cycles and ns at `clock_ns`, `rtl4ml compile`'s
    figures)."""
    import rtl4ml
    d = rtl4ml.compile(rtl4ml.from_keras(model), clock_ns=clock_ns, **compile_options)
    r = d.report
    return {'lut': int(r['resources']['lut']), 'ff': int(r['resources']['ff']),
            'cycles': int(r['latency_cycles']), 'latency_ns': float(r['latency_ns']),
            'layers': {l['name']: int(l['resources']['lut']) for l in r['layers']}}


def _is_dense(layer):
    return hasattr(layer, 'kq') and hasattr(layer, 'iq') and hasattr(layer, 'kernel') \
        and getattr(layer, 'enable_iq', False)


class CostRegularizer:
    """rtl4ml's estimated LUT + FF of an HGQ2 model's dense/conv layers as a differentiable
    loss term, in the place of HGQ2's EBOPs (docs/qat.md).

    coeff: loss per unit of cost (cost = LUT + ff_weight · FF), like HGQ2's β per EBOP.
    ff_weight: weight of the flip-flop term (1: the LUT + FF that `rtl4ml optimize` minimises).
    bits: operand width of the crate's probe designs (`rtl4ml.training_cost(bits)`).
    effective: count a weight's digits at the width of its quantized value (zero weights cost
        nothing), not at its quantizer's width (see `_effective_bits`).
    """

    def __init__(self, coeff=1e-6, ff_weight=1.0, bits=16, effective=True):
        import rtl4ml
        self.effective = bool(effective)
        c = rtl4ml.training_cost(bits)
        self.coeff = float(coeff)
        self.ff_weight = float(ff_weight)
        # per adder bit inside a dot product's sum tree (ternary adders on 6-input LUTs)
        self.lut_per_adder_bit = float(c['lut_per_tree_adder_bit'])
        self.ff_per_register_bit = float(c['ff_per_register_bit'])
        self.expected_digits = [float(v) for v in c['expected_digits']]
        self.scale = {}  # layer name -> keras.Variable (per-layer calibration factor)
        self.layers = []

    # ---- the surrogate -------------------------------------------------------------------

    def digits(self, bits):
        """D(b): mean CSD digits of a `bits`-bit weight, linear between integer widths
        (differentiable almost everywhere; 0 at b <= 0)."""
        ops = _keras().ops
        table = ops.convert_to_tensor(self.expected_digits, dtype='float32')
        top = len(self.expected_digits) - 1
        b = ops.clip(ops.cast(bits, 'float32'), 0.0, float(top))
        lo = ops.clip(ops.floor(ops.stop_gradient(b)), 0.0, float(top - 1))
        d0 = ops.take(table, ops.cast(lo, 'int32'))
        d1 = ops.take(table, ops.cast(lo, 'int32') + 1)
        return d0 + (b - lo) * (d1 - d0)

    def layer_terms(self, layer, input_shape=None):
        """(surrogate LUTs before the layer's calibration factor, FFs) of one HGQ2 layer
        (tensors; differentiable w.r.t. the quantizers' bit widths)."""
        ops = _keras().ops
        kshape = tuple(layer.kernel.shape)
        if input_shape is None:
            input_shape = (1,) + tuple(int(d) for d in layer.input.shape[1:])
        bk = ops.maximum(layer.kq.bits_(kshape), 0.0)
        if self.effective:
            bk = self._effective_bits(layer, bk, kshape)
        ba = ops.maximum(layer.iq.bits_(tuple(input_shape)), 0.0)
        n_in = kshape[-2]
        bk = ops.reshape(bk, (-1, n_in, kshape[-1]))  # conv: (taps, in, out)
        d = self.digits(bk)
        if len(kshape) == 2:  # dense: input bits per input element
            ba_in = ops.reshape(ba, (1, n_in, 1))
            positions = 1.0
        else:  # convolution: mean input bits per channel, times output positions
            ba_in = ops.reshape(ops.mean(ops.reshape(ba, (-1, n_in)), axis=0), (1, n_in, 1))
            out = layer.compute_output_shape(tuple(input_shape))
            positions = float(math.prod(int(v) for v in out[1:-1]))
        lut = self.lut_per_adder_bit * positions * ops.sum(d * (ba_in + bk))
        ff = self.ff_per_register_bit * ops.sum(ba)
        return lut, ff

    def _effective_bits(self, layer, bk, kshape):
        """The signed width of each weight's actual mantissa: floor(log2|w|) + f + 2 (0 for a
        weight quantized to 0), at most the quantizer's width. Its gradient is the fractional
        bits' (d/df = 1): a small weight on a fine grid costs its few significant digits,
        not the quantizer's full width."""
        ops = _keras().ops
        q = layer.kq.quantizer
        f = q.bw_mapper.bw_to_x(q.f, kshape)
        w = ops.stop_gradient(ops.abs(layer.qkernel))
        mag = ops.floor(ops.log2(ops.maximum(w, 1e-30)))
        eff = ops.clip(ops.stop_gradient(mag) + f + 2.0, 0.0, bk)
        return ops.where(w > 0, eff, ops.zeros_like(eff))

    def layer_cost(self, layer, input_shape=None):
        """The loss-side cost of one layer: calibrated LUTs + ff_weight · FFs."""
        lut, ff = self.layer_terms(layer, input_shape)
        s = self.scale.get(layer.name)
        if s is not None:
            lut = lut * s
        return lut + self.ff_weight * ff

    def __call__(self, model):
        """The whole model's cost (a scalar tensor)."""
        ops = _keras().ops
        total = ops.convert_to_tensor(0.0)
        for layer in self._dense_layers(model):
            total = total + self.layer_cost(layer)
        return total

    def _dense_layers(self, model):
        return [l for l in model.layers if _is_dense(l)]

    # ---- training ------------------------------------------------------------------------

    def install(self, model):
        """Makes every HGQ2 dense/conv layer of `model` (built) add `coeff · cost` to the loss
        where HGQ2 adds `β · EBOPs`: the layer's EBOPs hook computes this cost instead (so
        HGQ2's `ebops` metric then shows the calibrated LUT + FF surrogate) and its β is set
        to `coeff`. Call it before `model.compile`/`fit`."""
        keras = _keras()
        self.layers = self._dense_layers(model)
        if not self.layers:
            raise ValueError('CostRegularizer.install: the model has no HGQ2 layer with a kernel '
                             'and an input quantizer')
        for layer in self.layers:
            if not layer.built:
                raise ValueError(f'CostRegularizer.install: layer `{layer.name}` is not built; call '
                                 'model.build(input_shape) (or run it once) first')
            if not getattr(layer, 'enable_ebops', False) or getattr(layer, '_beta', None) is None:
                raise ValueError(f'CostRegularizer.install: layer `{layer.name}` has EBOPs disabled; '
                                 'build the model with enable_ebops=True (HGQ2\'s default)')
            if layer.name not in self.scale:
                with keras.name_scope(layer.name):
                    self.scale[layer.name] = keras.Variable(1.0, trainable=False, name='rtl4ml_scale')
                # tracked by the layer: part of the model's (non-trainable) state in jit
                lock = layer._tracker.locked if hasattr(layer, '_tracker') else False
                if lock:
                    layer._tracker.unlock()
                layer._rtl4ml_scale = self.scale[layer.name]
                if lock:
                    layer._tracker.lock(layer._tracker._lock_violation_msg)
            layer._beta.assign(self.coeff)
            layer._compute_ebops = (lambda shape, _l=layer: self.layer_cost(_l, shape))
        return self

    def calibrate(self, model, clock_ns=4.0, lo=0.05, hi=20.0):
        """Compiles the model as it is now and sets each layer's factor to its compiled LUTs
        (the report's rows of that layer) over its uncalibrated surrogate. Returns
        {layer: (surrogate, compiled, factor)} and the compiled cost."""
        keras = _keras()
        cost = compiled_cost(model, clock_ns=clock_ns)
        rows = cost['layers']
        out = {}
        for layer in self._dense_layers(model):
            lut, _ = self.layer_terms(layer)
            sur = float(keras.ops.convert_to_numpy(lut))
            comp = sum(v for k, v in rows.items() if k == layer.name or k.startswith(layer.name + '_'))
            f = min(max(comp / sur, lo), hi) if sur > 0 else 1.0
            if layer.name in self.scale:
                self.scale[layer.name].assign(f)
            out[layer.name] = (sur, comp, f)
        return out, cost


def _make_callback():
    Base = _keras().callbacks.Callback

    class CompiledCostCallback(Base):
        """Every `every` epochs (and at the end of training): compiles the model with rtl4ml,
        logs `rtl4ml_lut`, `rtl4ml_ff`, `rtl4ml_cycles` (into `history`), and, with
        `calibrate=True`, re-fits the regularizer's per-layer factors to the compiled LUTs."""

        def __init__(self, regularizer=None, every=10, calibrate=True, clock_ns=4.0, verbose=0):
            super().__init__()
            self.reg, self.every, self.do_cal = regularizer, int(every), calibrate
            self.clock_ns, self.verbose = clock_ns, verbose
            self.records = []
            self._last = None

        def _measure(self, epoch):
            if self.reg is not None and self.do_cal:
                _, cost = self.reg.calibrate(self.model, clock_ns=self.clock_ns)
            else:
                cost = compiled_cost(self.model, clock_ns=self.clock_ns)
            self._last = cost
            self.records.append({'epoch': epoch, 'lut': cost['lut'], 'ff': cost['ff'],
                                 'cycles': cost['cycles']})
            if self.verbose:
                print(f'epoch {epoch}: rtl4ml {cost["lut"]} LUT, {cost["ff"]} FF, '
                      f'{cost["cycles"]} cycles')
            return cost

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % self.every == 0:
                cost = self._measure(epoch + 1)
                if logs is not None:
                    logs.update(rtl4ml_lut=cost['lut'], rtl4ml_ff=cost['ff'],
                                rtl4ml_cycles=cost['cycles'])

    return CompiledCostCallback


def __getattr__(name):  # keras is imported only when the callback class is asked for
    if name == 'CompiledCostCallback':
        cls = _make_callback()
        globals()['CompiledCostCallback'] = cls
        return cls
    raise AttributeError(name)
