"""rtl4ml's cost inside training (docs/qat.md): the crate's coefficients through the binding,
and rtl4ml.keras.CostRegularizer in HGQ2 training.

The binding tests need numpy only; the regularizer tests need the `keras` extra and skip
without it (unless RTL4ML_PY_KERAS=1, as in test_keras.py).
"""

import json
import os

import numpy as np
import pytest

os.environ.setdefault('KERAS_BACKEND', 'jax')
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_multi_thread_eigen=false')

import rtl4ml  # noqa: E402

try:
    import keras
    import hgq  # noqa: F401
    HAVE_KERAS = True
    WHY = ''
except ImportError as e:  # pragma: no cover - depends on the environment
    HAVE_KERAS = False
    WHY = f'Keras 3 / HGQ2 not installed ({e}); pip install "./python[keras]"'
    if os.environ.get('RTL4ML_PY_KERAS') == '1':
        raise

needs_keras = pytest.mark.skipif(not HAVE_KERAS, reason=WHY)


# ---- the binding ------------------------------------------------------------------------------

def naf_digits(m):
    """Reference: non-zero digits of the non-adjacent form of m."""
    n = 0
    while m:
        if m & 1:
            m -= 2 - (m & 3)
            n += 1
        m >>= 1
    return n


def test_csd_digits_are_the_non_adjacent_form():
    rng = np.random.default_rng(3)
    ms = np.concatenate([np.arange(-300, 301), rng.integers(-2**40, 2**40, size=500)])
    assert rtl4ml.csd_digits(ms) == [naf_digits(int(m)) for m in ms]
    with pytest.raises(rtl4ml.DataError):
        rtl4ml.csd_digits([0.5])


def test_expected_digits_are_the_mean_over_mantissas():
    c = rtl4ml.training_cost()
    assert len(c['expected_digits']) == 33
    for b in range(1, 11):
        ms = np.arange(-(1 << (b - 1)), 1 << (b - 1))
        assert c['expected_digits'][b] == pytest.approx(np.mean(rtl4ml.csd_digits(ms)), abs=1e-12)
    assert c['expected_digits'][0] == 0.0


def probe(bits, latency):
    doc = {'format': 'rtl4ml-model', 'version': 1, 'name': 'probe',
           'inputs': [{'name': 'x', 'shape': [2], 'type': f'fixed<{bits},{bits // 2}>'}],
           'layers': [{'name': 's', 'kind': 'dense', 'input': 'x',
                       'weight': {'type': 'int<2>', 'shape': [2, 1], 'data': [1, 1]},
                       'result': f'fixed<{bits + 1},{bits // 2 + 1}>'}],
           'outputs': ['s']}
    return rtl4ml.compile(rtl4ml.from_json(json.dumps(doc)), clock_ns=100.0,
                          latency_cycles=latency).report['resources']


@pytest.mark.parametrize('bits', [8, 16])
def test_training_cost_is_the_crate_resource_model(bits):
    """The coefficients are what rtl4ml.compile estimates for the same probe adder."""
    c = rtl4ml.training_cost(bits)
    a1, a3 = probe(bits, 1), probe(bits, 3)
    assert c['lut_per_adder_bit'] == pytest.approx(a1['lut'] / (bits + 1))
    assert c['ff_per_register_bit'] == pytest.approx((a3['ff'] - a1['ff'] - 2) / (2 * (bits + 1)))
    assert 0.8 <= c['lut_per_adder_bit'] <= 1.0
    # An 8-term sum: 7 adders of 4·(b+1) + 2·(b+2) + (b+3) result bits, paired into ternary adders.
    doc = {'format': 'rtl4ml-model', 'version': 1, 'name': 'tree',
           'inputs': [{'name': 'x', 'shape': [8], 'type': f'fixed<{bits},{bits // 2}>'}],
           'layers': [{'name': 's', 'kind': 'dense', 'input': 'x',
                       'weight': {'type': 'int<2>', 'shape': [8, 1], 'data': [1] * 8},
                       'result': f'fixed<{bits + 3},{bits // 2 + 3}>'}],
           'outputs': ['s']}
    tree = rtl4ml.compile(rtl4ml.from_json(json.dumps(doc)), clock_ns=100.0, latency_cycles=1)
    assert c['lut_per_tree_adder_bit'] == pytest.approx(tree.report['resources']['lut'] / (7 * bits + 11))
    assert 0.45 <= c['lut_per_tree_adder_bit'] <= 0.75
    assert c['ff_per_register_bit'] == 1.0
    assert c['probe_bits'] == bits
    with pytest.raises(rtl4ml.UnsupportedError):
        rtl4ml.training_cost(2)


# ---- the regularizer ------------------------------------------------------------------------

def tiny(seed=1, beta=0.0, n_in=8, hidden=16, n_out=4):
    from hgq.layers import QDense
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((n_in,), name='x'),
                          QDense(hidden, activation='relu', beta0=beta, name='h'),
                          QDense(n_out, beta0=beta, name='o')], name='tiny')
    m.build((None, n_in))
    return m


def data(n=4096, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype('float32')
    y = np.argmax(x[:, :4] + 0.5 * x[:, 4:], axis=1)
    return x, y


def set_kernel_bits(model, bits):
    """Sets every kernel quantizer's trainable bit count (KBI `b`) to `bits`."""
    for layer in model.layers:
        for v in layer.kq.trainable_variables:
            if v.path.endswith('/b'):
                v.assign(np.full(v.shape, float(bits), dtype='float32'))


@needs_keras
def test_regularizer_has_gradients_wrt_bit_widths():
    import jax
    from rtl4ml.keras import CostRegularizer
    m = tiny()
    reg = CostRegularizer(coeff=1.0).install(m)
    tv = m.trainable_variables

    def f(vals):
        with keras.StatelessScope(state_mapping=list(zip(tv, vals))):
            return reg(m)

    grads = dict(zip([v.path for v in tv], jax.grad(f)([v.value for v in tv])))
    kb = [g for p, g in grads.items() if '_kq/' in p and p.endswith('/b')]
    iq = [g for p, g in grads.items() if '_iq/' in p and p.endswith('/f')]
    assert kb and iq
    # a weight's bits cost where its value uses them (effective width below the quantizer's)
    assert all(np.mean(np.asarray(g) > 0) > 0.25 for g in kb), [np.mean(np.asarray(g) > 0) for g in kb]
    assert all(np.all(np.asarray(g) >= 0) for g in kb)
    assert all(np.any(np.asarray(g) > 0) for g in iq)
    # and the weights themselves get none (the cost depends on the widths only)
    assert all(float(np.abs(np.asarray(g)).sum()) == 0 for p, g in grads.items() if p.endswith('kernel'))


@needs_keras
def test_surrogate_tracks_compiled_luts():
    """Rank order equal to rtl4ml compile over kernel widths 1..8; where the compiled design
    has adders, the uncalibrated surrogate is within a factor 2 of its LUTs (it does not see
    CMVM's sharing between outputs, nor the adder tree's exact widths);
    after `calibrate`, the per-layer figures add up to the design's LUTs within 10%."""
    from rtl4ml.keras import CostRegularizer, compiled_cost
    m = tiny()
    x, y = data(512)
    m.predict(x, verbose=0)
    reg = CostRegularizer(coeff=1.0, ff_weight=0.0).install(m)
    sur, comp = [], []
    for b in (1, 2, 3, 4, 6, 8):
        set_kernel_bits(m, b)
        sur.append(float(sum(float(np.asarray(reg.layer_terms(l)[0])) for l in reg.layers)))
        comp.append(compiled_cost(m)['lut'])
    assert np.argsort(sur).tolist() == np.argsort(comp).tolist(), (sur, comp)
    comp, sur = np.array(comp), np.array(sur)
    ratio = comp[comp > 0] / sur[comp > 0]
    assert len(ratio) >= 4 and np.all((ratio > 0.5) & (ratio < 2.0)), (comp, sur)
    cal, cost = reg.calibrate(m)
    calibrated = sum(s * f for s, _, f in cal.values())
    layer_luts = sum(c for _, c, _ in cal.values())
    assert calibrated == pytest.approx(layer_luts, rel=1e-6)
    assert layer_luts == pytest.approx(cost['lut'], rel=0.1)


@needs_keras
def test_training_with_the_regularizer_reduces_compiled_cost():
    from rtl4ml.keras import CompiledCostCallback, CostRegularizer, compiled_cost
    x, y = data()

    def run(coeff):
        m = tiny(seed=2)
        cb = []
        if coeff:
            reg = CostRegularizer(coeff=coeff).install(m)
            cb = [CompiledCostCallback(reg, every=2)]
        m.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
        h = m.fit(x, y, epochs=6, batch_size=256, verbose=0, callbacks=cb)
        return compiled_cost(m), h.history, cb

    plain, _, _ = run(0.0)
    cost, hist, cb = run(1e-3)
    assert cost['lut'] < 0.85 * plain['lut'], (cost, plain)
    assert cost['ff'] <= plain['ff']
    assert 'rtl4ml_lut' in hist and len(cb[0].records) == 3
    assert hist['accuracy'][-1] > 0.6


@needs_keras
def test_install_refuses_unbuilt_models_and_models_without_ebops():
    from hgq.layers import QDense
    from rtl4ml.keras import CostRegularizer
    unbuilt = keras.Sequential([QDense(4, name='d')])
    with pytest.raises(ValueError, match='no HGQ2 layer|not built'):
        CostRegularizer().install(unbuilt)
    m = keras.Sequential([keras.Input((3,)), QDense(4, enable_ebops=False, name='d')])
    m.build((None, 3))
    with pytest.raises(ValueError, match='EBOPs disabled'):
        CostRegularizer().install(m)
    with pytest.raises(ValueError, match='no HGQ2 layer'):
        CostRegularizer().install(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
