"""rtl4ml.from_keras: Keras 3 / HGQ2 models in-process, bit for bit with Keras' own predictions.

Needs the `keras` extra (hgq2, keras, jax). Without it these tests are skipped, unless
RTL4ML_PY_KERAS=1, which makes a missing Keras a failure (python/run_tests.sh sets it after
installing the extra).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT

os.environ.setdefault('KERAS_BACKEND', 'jax')
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_multi_thread_eigen=false')

try:
    import keras  # noqa: F401
    import hgq  # noqa: F401
    HAVE_KERAS = True
    WHY = ''
except ImportError as e:  # pragma: no cover - depends on the environment
    HAVE_KERAS = False
    WHY = f'Keras 3 / HGQ2 not installed ({e}); pip install "./python[keras]"'
    if os.environ.get('RTL4ML_PY_KERAS') == '1':
        raise

pytestmark = pytest.mark.skipif(not HAVE_KERAS, reason=WHY)

import rtl4ml  # noqa: E402


@pytest.fixture(scope='module')
def makers():
    """The fixture generator's model builders (tools/make_keras_fixtures.py)."""
    sys.path.insert(0, str(ROOT / 'tools'))
    try:
        import make_keras_fixtures
    finally:
        sys.path.pop(0)
    return make_keras_fixtures


def trained(makers, name):
    """The fixture model NAME as tools/make_keras_fixtures.py builds and trains it."""
    maker, seed = makers.FIXTURES[name]
    build, widths, shape, n_out = maker(seed)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
    xs = rng.normal(size=(512,) + shape).astype('float32') * 2
    ys = np.tanh(xs.reshape(512, -1)[:, :n_out] * 0.7).astype('float32')
    model.fit(xs, ys, epochs=4, batch_size=64, verbose=0, shuffle=False)
    widths(model, rng)
    return model


@pytest.mark.parametrize('name', ['hgq_mlp', 'hgq_conv', 'hgq_conv2d'])
def test_from_keras_is_bit_exact_with_keras(makers, name):
    model = trained(makers, name)
    m = rtl4ml.from_keras(model, name=name)
    d = rtl4ml.compile(m)
    x = np.load(FIXTURES / 'keras' / f'{name}.input.npy')
    keras_y = np.asarray(model.predict(x.astype('float32'), verbose=0, batch_size=len(x)))
    y = d.predict(x.astype('float32'))
    assert np.array_equal(y, keras_y.astype('float64').reshape(len(x), -1))
    assert np.array_equal(y, np.load(FIXTURES / 'keras' / f'{name}.expected.npy'))
    # The exported model is the committed fixture, layer for layer.
    ours = json.loads(m.to_json())
    fixture = json.loads((FIXTURES / 'keras' / f'{name}.json').read_text())
    assert ours['inputs'] == fixture['inputs'] and ours['layers'] == fixture['layers']
    # Random inputs, as a user would feed them.
    xr = (np.random.default_rng(7).normal(size=(2000,) + x.shape[1:]) * 3).astype('float32')
    kr = np.asarray(model.predict(xr, verbose=0, batch_size=len(xr))).astype('float64')
    assert np.mean(d.predict(xr) == kr.reshape(len(xr), -1)) > 0.999


def test_saved_keras_file(makers, tmp_path):
    model = trained(makers, 'hgq_mlp')
    path = tmp_path / 'mlp.keras'
    model.save(path)
    m = rtl4ml.load(path)  # routed to from_keras
    assert m.name == 'hgq_mlp' and m.source.endswith('mlp.keras.json')
    x = np.load(FIXTURES / 'keras' / 'hgq_mlp.input.npy')
    assert np.array_equal(rtl4ml.compile(m).predict(x), np.load(FIXTURES / 'keras' / 'hgq_mlp.expected.npy'))
    # The command the CLI's error message names.
    out = tmp_path / 'mlp.json'
    r = subprocess.run([sys.executable, '-m', 'rtl4ml.keras', str(path), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())['layers'] == json.loads(m.to_json())['layers']


def test_unsupported_layer_is_a_model_error():
    from hgq.layers import QDense

    model = keras.Sequential([keras.Input((4,)), QDense(3, name='q'), keras.layers.Dense(2, name='float_fc')],
                             name='plain_dense')
    with pytest.raises(rtl4ml.ModelError) as e:
        rtl4ml.from_keras(model)
    assert str(e.value).startswith('Keras model `plain_dense`: layer `float_fc` (Dense): ')
    assert 'not supported' in str(e.value)


def test_tools_wrapper_is_the_package_exporter():
    """tools/export_keras.py is a thin wrapper over rtl4ml/keras.py: same functions, its old
    description kept."""
    sys.path.insert(0, str(ROOT / 'tools'))
    try:
        import export_keras
    finally:
        sys.path.pop(0)
    from rtl4ml import keras as package_exporter

    assert export_keras.dumps.__code__.co_filename.endswith(os.path.join('rtl4ml', 'keras.py'))
    assert export_keras.quantizer_types.__code__.co_code == package_exporter.quantizer_types.__code__.co_code
    model = keras.Sequential([keras.Input((4,)), __import__('hgq').layers.QDense(3, name='fc')], name='w')
    assert export_keras.export(model)['description'] == 'exported from Keras model `w` by tools/export_keras.py'
    assert package_exporter.export(model)['layers'] == export_keras.export(model)['layers']


def test_quickstart_example_runs(tmp_path):
    """examples/python_quickstart.py: train → from_keras → compile → predict (bit-exact with
    Keras) → report → write → verify, as docs/python.md shows it."""
    r = subprocess.run([sys.executable, str(ROOT / 'examples' / 'python_quickstart.py'), str(tmp_path / 'qs')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'bit-exact with Keras on 10000 samples: True' in r.stdout
    assert 'latency: ' in r.stdout and ' LUT' in r.stdout
    assert (tmp_path / 'qs' / 'report.json').is_file() and (tmp_path / 'qs' / 'report.html').is_file()
    if shutil.which('verilator'):
        assert 'Verilator: PASS' in r.stdout
