#!/usr/bin/env python3
"""Builds the Keras/HGQ2 test fixtures in tests/fixtures/keras/ and their expected outputs.

For each fixture the script

1. builds a small HGQ2 model (Keras 3, JAX CPU backend) and trains it for a few epochs on
   seeded synthetic data (a few seconds);
2. sets its bit widths to a seeded spread: a few seconds of training barely move HGQ2's
   bit widths from their initial values, so the script writes the kind of heterogeneous
   widths a longer run with a large EBOPs penalty (`beta`) ends with: per-weight bits from 0
   (pruned) to 6, per-element input fractional bits;
3. exports it with tools/export_keras.py as NAME.json;
4. writes inputs NAME.input.npy (float64, batch first): for every element, the edges of its
   input quantizer (largest and smallest value, one step beyond them, rounding ties and
   values next to them, zero), then seeded random values (off the quantizer grids);
5. writes the model's own predictions `model.predict(x)` (float32, saved as float64) as
   NAME.expected.npy;
6. rebuilds the model in float64 with the same weights and stops if its predictions differ:
   float32 arithmetic that rounded would make the expected outputs approximate, and they
   must be bit-exact.

tests/frontends/keras.rs checks that rtl4ml's simulator reproduces NAME.expected.npy bit for bit; CI
needs no Python. Two runs give byte-identical files (seeded NumPy and Keras, one thread).

Usage (from the repository root):
    python3 -m venv .venv-keras
    .venv-keras/bin/pip install -r tools/requirements-keras.txt
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false .venv-keras/bin/python tools/make_keras_fixtures.py
"""

import argparse
import os
import sys

os.environ.setdefault('KERAS_BACKEND', 'jax')
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_multi_thread_eigen=false')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hgq.config import QuantizerConfig  # noqa: E402
from hgq.layers import QConv1D, QConv2D, QDense  # noqa: E402

import export_keras  # noqa: E402


def mlp(rng_seed):
    """16 → 32 → 16 → 5 jet-tagger-like MLP: per-element input quantizers (KIF, RND, WRAP,
    HGQ2's datalane default), per-weight KBI weights (RND, SAT_SYM), ReLU."""

    def build():
        def iq():
            return QuantizerConfig('kif', 'datalane', i0=3, f0=4, round_mode='RND', overflow_mode='WRAP')

        return keras.Sequential(
            [
                keras.Input((16,), name='x'),
                QDense(32, activation='relu', iq_conf=iq(), name='fc1'),
                QDense(16, activation='relu', iq_conf=iq(), name='fc2'),
                QDense(5, iq_conf=iq(), name='fc3'),
            ],
            name='hgq_mlp',
        )

    def widths(model, rng):
        for layer in model.layers:
            kq = layer.kq.quantizer
            b = rng.integers(0, 7, size=kq._b.shape)
            b[rng.random(size=b.shape) < 0.3] = 0  # pruned
            kq._b.assign(b.astype('float32'))
            kq._i.assign(np.full(kq._i.shape, 0.0, 'float32'))
            bq = layer.bq.quantizer
            bq._b.assign(rng.integers(2, 8, size=bq._b.shape).astype('float32'))
            bq._i.assign(np.full(bq._i.shape, 1.0, 'float32'))
            q = layer.iq.quantizer
            f = rng.integers(1, 6, size=q._f.shape)
            q._i.assign(rng.integers(1, 5, size=q._i.shape).astype('float32'))
            if layer.name == 'fc1':
                f[0, :2] = -9  # elements with k + i + f <= 0: always zero
            q._f.assign(f.astype('float32'))

    return build, widths, (16,), 5


def conv(rng_seed):
    """[8, 2] signal → QConv1D(4, 3, relu) with a per-channel input quantizer (TRN, SAT) →
    Flatten → QDense(3) with a per-tensor input quantizer (RND_CONV, SAT_SYM)."""

    def build():
        iq1 = QuantizerConfig('kif', 'datalane', i0=2, f0=3, round_mode='TRN', overflow_mode='SAT',
                              homogeneous_axis=(0, 1))
        iq2 = QuantizerConfig('kif', 'datalane', i0=3, f0=2, round_mode='RND_CONV', overflow_mode='SAT_SYM',
                              homogeneous_axis=(0, 1))
        return keras.Sequential(
            [
                keras.Input((8, 2), name='signal'),
                QConv1D(4, 3, activation='relu', iq_conf=iq1, name='conv'),
                keras.layers.Flatten(name='flat'),
                QDense(3, iq_conf=iq2, name='head'),
            ],
            name='hgq_conv',
        )

    def widths(model, rng):
        for layer in (model.layers[0], model.layers[2]):
            kq = layer.kq.quantizer
            b = rng.integers(0, 6, size=kq._b.shape)
            b[rng.random(size=b.shape) < 0.25] = 0
            kq._b.assign(b.astype('float32'))
            kq._i.assign(np.full(kq._i.shape, 0.0, 'float32'))
        q = model.layers[0].iq.quantizer
        q._f.assign(np.array([[[2.0, 4.0]]], 'float32').reshape(q._f.shape))
        q._i.assign(np.array([[[1.0, 2.0]]], 'float32').reshape(q._i.shape))

    return build, widths, (8, 2), 3


def conv2d(rng_seed):
    """[6, 6, 1] image → QConv2D(3, 3×3, same padding, stride 2, relu) with a per-element input
    quantizer (KBI, RND, SAT_SYM) → Flatten → QDense(2) with a per-element input quantizer
    (TRN, WRAP) and an output quantizer (RND, SAT, unsigned elements allowed)."""

    def build():
        iq1 = QuantizerConfig('kbi', 'datalane', b0=5, i0=1, round_mode='RND', overflow_mode='SAT_SYM')
        iq2 = QuantizerConfig('kif', 'datalane', i0=2, f0=3, round_mode='TRN', overflow_mode='WRAP')
        oq = QuantizerConfig('kif', 'datalane', i0=2, f0=4, round_mode='RND', overflow_mode='SAT')
        return keras.Sequential(
            [
                keras.Input((6, 6, 1), name='image'),
                QConv2D(3, 3, strides=2, padding='same', activation='relu', iq_conf=iq1, name='conv'),
                keras.layers.Flatten(name='flat'),
                QDense(2, iq_conf=iq2, enable_oq=True, oq_conf=oq, name='out'),
            ],
            name='hgq_conv2d',
        )

    def widths(model, rng):
        for layer in (model.layers[0], model.layers[2]):
            kq = layer.kq.quantizer
            b = rng.integers(0, 5, size=kq._b.shape)
            kq._b.assign(b.astype('float32'))
            kq._i.assign(np.full(kq._i.shape, 0.0, 'float32'))
        q = model.layers[0].iq.quantizer
        q._b.assign(rng.integers(2, 7, size=q._b.shape).astype('float32'))
        q._i.assign(rng.integers(0, 3, size=q._i.shape).astype('float32'))
        q = model.layers[2].oq.quantizer
        q._k.assign((rng.random(size=q._k.shape) < 0.5).astype('uint8'))
        q._f.assign(rng.integers(2, 6, size=q._f.shape).astype('float32'))

    return build, widths, (6, 6, 1), 2


FIXTURES = {'hgq_mlp': (mlp, 1), 'hgq_conv': (conv, 2), 'hgq_conv2d': (conv2d, 3)}


def corner_inputs(types, shape, rng):
    """Rows that put every element at the edges of its input quantizer's type."""
    from fractions import Fraction

    rows = []
    specs = ['max', 'min', 'above', 'below', 'tie', 'tie-', 'tie+', 'zero', 'halfneg']
    for s in specs:
        row = []
        for t in types:
            step = Fraction(1) / Fraction(2) ** t.frac
            lo, hi = t.value_range()
            m = int(rng.integers(-3, 4))
            v = {'max': hi, 'min': lo, 'above': hi + step, 'below': lo - step,
                 'tie': (m + Fraction(1, 2)) * step, 'tie-': (m + Fraction(1, 2)) * step - step / 8,
                 'tie+': (m + Fraction(1, 2)) * step + step / 8, 'zero': Fraction(0),
                 'halfneg': -step / 2}[s]
            row.append(float(v))
        rows.append(row)
    return np.asarray(rows, dtype=np.float32).reshape((-1,) + tuple(shape))


def make(name, out_dir, samples):
    maker, seed = FIXTURES[name]
    build, widths, shape, n_out = maker(seed)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
    xs = rng.normal(size=(512,) + shape).astype('float32') * 2
    ys = np.tanh(xs.reshape(512, -1)[:, :n_out] * 0.7).astype('float32')
    model.fit(xs, ys, epochs=4, batch_size=64, verbose=0, shuffle=False)
    widths(model, rng)

    doc = export_keras.export(model, name)
    with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
        f.write(export_keras.dumps(doc))

    first = model.layers[0]
    types = export_keras.quantizer_types(first.iq, shape, first, 'iq')
    x = np.concatenate([corner_inputs(types, shape, rng),
                        (rng.normal(size=(samples,) + shape) * 3).astype('float32')])
    y = np.asarray(model.predict(x, verbose=0, batch_size=len(x)))

    # The same model in float64: if float32 rounded anything, the predictions differ.
    keras.config.set_floatx('float64')
    try:
        twin = build()
        twin.build((None,) + shape)
        twin.set_weights(model.get_weights())
        y64 = np.asarray(twin.predict(x.astype('float64'), verbose=0, batch_size=len(x)))
    finally:
        keras.config.set_floatx('float32')
    bad = np.argwhere(y.astype('float64') != y64)
    if len(bad):
        sys.exit(f'{name}: float32 predictions differ from float64 at {bad[:5].tolist()}: '
                 'Keras rounded, so its outputs cannot serve as bit-exact expectations')
    np.save(os.path.join(out_dir, f'{name}.input.npy'), x.astype('float64'))
    np.save(os.path.join(out_dir, f'{name}.expected.npy'), y.astype('float64').reshape(len(x), -1))
    kinds = [l['kind'] for l in doc['layers']]
    print(f'{name}: {len(x)} samples, layers {kinds}, input {doc["inputs"][0]["type"]}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='tests/fixtures/keras')
    ap.add_argument('--samples', type=int, default=256)
    ap.add_argument('names', nargs='*', default=list(FIXTURES))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.names:
        make(name, args.out, args.samples)


if __name__ == '__main__':
    main()
