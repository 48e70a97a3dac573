"""rtl4ml.from_hls4ml: hls4ml models with hls4ml's own precisions, bit for bit with hls4ml's C
simulation (`hls_model.compile(); hls_model.predict(x)`, g++).

Needs the `hls4ml` extra (hls4ml 1.3.0; TensorFlow 2.14 + QKeras for the QKeras and in-memory
Keras models; onnx + qonnx for the ONNX ones) and g++. Without hls4ml the module is skipped,
unless RTL4ML_PY_REQUIRE_HLS4ML=1 (python/run_tests.sh sets it in its hls4ml venv), which
makes a missing hls4ml a failure. The zoo models are read from `../shared/zoo` beside the
clone (or $RTL4ML_ZOO) and skipped with a note where it is absent. The float Keras (json + h5)
tests need neither TensorFlow nor QKeras: hls4ml reads those files with h5py.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

try:
    import hls4ml  # noqa: F401
    HAVE_HLS4ML, WHY = True, ''
except ImportError as e:  # pragma: no cover - depends on the environment
    HAVE_HLS4ML, WHY = False, f'hls4ml not installed ({e}); pip install "./python[hls4ml]"'
    if os.environ.get('RTL4ML_PY_REQUIRE_HLS4ML') == '1':
        raise

pytestmark = pytest.mark.skipif(not HAVE_HLS4ML or shutil.which('g++') is None,
                                reason=WHY or 'g++ not found: hls4ml\'s C simulation needs it')

import rtl4ml  # noqa: E402


def _have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


HAVE_QKERAS = HAVE_HLS4ML and _have('qkeras')
HAVE_TF = HAVE_QKERAS or (HAVE_HLS4ML and _have('tensorflow'))
HAVE_QONNX = HAVE_HLS4ML and _have('qonnx') and _have('onnx')
need_tf = pytest.mark.skipif(not HAVE_TF, reason='TensorFlow (Keras 2) not installed: pip install "./python[hls4ml]"')
need_qkeras = pytest.mark.skipif(not HAVE_QKERAS, reason='QKeras not installed: pip install "./python[hls4ml]"')
need_qonnx = pytest.mark.skipif(not HAVE_QONNX, reason='onnx / qonnx not installed (pip install onnx qonnx)')


def zoo_dir():
    env = os.environ.get('RTL4ML_ZOO')
    cands = [Path(env)] if env else [ROOT.parent / 'shared' / 'zoo', ROOT.parent.parent / 'shared' / 'zoo']
    return next((p for p in cands if (p / 'keras').is_dir()), None)


ZOO = zoo_dir()
need_zoo = pytest.mark.skipif(ZOO is None, reason='../shared/zoo not found (the zoo sits beside the clone in CI; '
                                                  'set RTL4ML_ZOO to its folder)')


def inputs(n_features, n=300, seed=1, span=32.0):
    """N(0, 2²) rows and corner rows: zeros, ± the edge of a fixed<16,6> input, far outside it
    (saturation or wrap), half-LSB ties of 2^-10 and 2^-11, random on-grid codes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)) * 2
    k = 0
    for row in (0.0, span - 2 ** -10, -span, 3 * span, -3 * span, 2 ** -11, -2 ** -11, 3 * 2 ** -11):
        x[k] = row
        k += 1
    x[k:k + 20] = (rng.integers(-2 ** 20, 2 ** 20, size=(20, n_features)) + 0.5) / 2 ** 10  # ties
    x[k + 20:k + 40] = rng.integers(-2 ** 15, 2 ** 15, size=(20, n_features)) / 2 ** 10
    return np.ascontiguousarray(x)


def assert_bit_exact(hls_model, x, verify_in=None, **kw):
    """from_hls4ml(hls_model) compiled and predicted equals hls4ml's C simulation, every
    element of every row; with `verify_in` (a folder) and Verilator installed (as in CI), the
    design's Verilog is also verified against the simulator. Returns the rtl4ml Model."""
    m = rtl4ml.from_hls4ml(hls_model, **kw)
    d = rtl4ml.compile(m)
    if verify_in is not None and shutil.which('verilator'):
        d.write(verify_in)
        r = d.verify(vectors=2000, icarus=0)  # raises rtl4ml.VerificationError on a mismatch
        assert r['vectors'] >= 2000 and 'verilator: ' in r['text'] and ' 0 mismatches' in r['text'], r['text']
    hls_model.compile()
    want = np.asarray(hls_model.predict(x), dtype=np.float64).reshape(len(x), -1)
    got = d.predict(x)
    bad = np.flatnonzero((got != want).any(axis=1))
    assert bad.size == 0, (f'{len(bad)} of {len(x)} rows differ; first row {bad[0]}: rtl4ml {got[bad[0]]}, '
                           f'hls4ml {want[bad[0]]}')
    print(f'{hls_model.config.get_project_name()}: {len(x)} rows × {want.shape[1]} outputs bit-exact with '
          f'hls4ml C-sim; {d.latency_cycles} cycles, ~{d.report["resources"]["lut"]} LUT')
    return m


def zoo_keras_config(tmp_path, name, precision='ap_fixed<16,6>'):
    return {
        'KerasJson': str(ZOO / 'keras' / 'KERAS_3layer.json'),
        'KerasH5': str(ZOO / 'keras' / 'KERAS_3layer_70pruned_retrained_weights.h5'),
        'OutputDir': str(tmp_path / name), 'ProjectName': name, 'Backend': 'Vivado',
        'IOType': 'io_parallel', 'Part': 'xcvu9p-flga2577-2-e', 'ClockPeriod': 5,
        'HLSConfig': {'Model': {'Precision': precision, 'ReuseFactor': 1, 'Strategy': 'Latency'},
                      'LayerType': {'Softmax': {'Implementation': 'latency'}}},
    }


def zoo_qkeras_config(tmp_path, softmax='latency'):
    import yaml

    cfg = yaml.safe_load((ZOO / 'config-files' / 'qkeras_3layer_config.yml').read_text())
    cfg['KerasJson'] = str(ZOO / 'keras' / 'qkeras_3layer.json')
    cfg['KerasH5'] = str(ZOO / 'keras' / 'qkeras_3layer_weights.h5')
    cfg['OutputDir'] = str(tmp_path / 'qkeras_3layer')
    if softmax:
        cfg['HLSConfig']['LayerName']['softmax']['Implementation'] = softmax
    return cfg


# ---- a golden model: no zoo, no TensorFlow -----------------------------------------------------

GOLDEN = ROOT / 'tests' / 'fixtures' / 'hls4ml' / 'tiny_keras2.json'


def tiny_keras2_files(d):
    """A Keras 2 model as json + h5, written with h5py alone (the layout Keras' save_weights
    gives, which hls4ml's reader takes): 6 → BatchNormalization → Dense 8 relu → Dense 4 → softmax."""
    import json

    import h5py

    rng = np.random.default_rng(11)
    def dense(name, units, act):
        return {'class_name': 'Dense', 'name': name, 'inbound_nodes': [],
                'config': {'name': name, 'units': units, 'activation': act, 'use_bias': True}}
    layers = [
        {'class_name': 'InputLayer', 'name': 'x', 'inbound_nodes': [],
         'config': {'batch_input_shape': [None, 6], 'dtype': 'float32', 'name': 'x'}},
        {'class_name': 'BatchNormalization', 'name': 'bn', 'inbound_nodes': [],
         'config': {'name': 'bn', 'axis': -1, 'epsilon': 0.001, 'center': True, 'scale': True}},
        dense('fc1', 8, 'relu'), dense('fc2', 4, 'linear'),
        {'class_name': 'Activation', 'name': 'softmax', 'inbound_nodes': [],
         'config': {'name': 'softmax', 'activation': 'softmax'}},
    ]
    prev = None
    for l in layers:
        if prev is not None:
            l['inbound_nodes'] = [[[prev, 0, 0, {}]]]
        prev = l['name']
    arch = {'class_name': 'Model', 'keras_version': '2.14.0', 'backend': 'tensorflow',
            'config': {'name': 'tiny', 'layers': layers, 'input_layers': [['x', 0, 0]],
                       'output_layers': [['softmax', 0, 0]]}}
    (d / 'tiny.json').write_text(json.dumps(arch))
    weights = {
        'bn': {'gamma': rng.uniform(0.5, 2, 6), 'beta': rng.normal(size=6),
               'moving_mean': rng.normal(size=6), 'moving_variance': rng.uniform(0.3, 3, 6)},
        'fc1': {'kernel': rng.normal(size=(6, 8)) * 0.6, 'bias': rng.normal(size=8) * 0.3},
        'fc2': {'kernel': rng.normal(size=(8, 4)) * 0.6, 'bias': rng.normal(size=4) * 0.3},
    }
    with h5py.File(d / 'tiny.h5', 'w') as f:
        f.attrs['layer_names'] = np.array([l['name'].encode() for l in layers])
        f.attrs['backend'], f.attrs['keras_version'] = b'tensorflow', b'2.14.0'
        for l in layers:
            g = f.create_group(l['name'])
            ws = weights.get(l['name'], {})
            g.attrs['weight_names'] = np.array([f'{l["name"]}/{k}:0'.encode() for k in ws])
            for k, v in ws.items():
                g.create_dataset(f'{l["name"]}/{k}:0', data=v.astype(np.float32))
    return {
        'KerasJson': str(d / 'tiny.json'), 'KerasH5': str(d / 'tiny.h5'), 'OutputDir': str(d / 'prj'),
        'ProjectName': 'tiny', 'Backend': 'Vivado', 'IOType': 'io_parallel',
        'HLSConfig': {
            'Model': {'Precision': 'ap_fixed<16,6>', 'ReuseFactor': 1, 'Strategy': 'Latency'},
            'LayerName': {
                'x': {'Precision': {'result': 'ap_fixed<10,4,AP_RND,AP_SAT>'}},
                'bn': {'Precision': {'scale': 'ap_fixed<8,2>', 'bias': 'ap_fixed<8,3>',
                                     'result': 'ap_fixed<12,5,AP_RND_CONV,AP_SAT_SYM>'}},
                'fc1': {'Precision': {'weight': 'ap_fixed<6,1>', 'bias': 'ap_fixed<8,2>',
                                      'accum': 'ap_fixed<18,7,AP_TRN,AP_SAT>', 'result': 'ap_fixed<14,6>'}},
                'fc1_relu': {'Precision': {'result': 'ap_ufixed<8,3,AP_RND,AP_SAT>'}},
                'fc2': {'Precision': {'weight': 'ap_fixed<5,1,AP_RND_ZERO>', 'result': 'ap_fixed<16,6>'}},
                'softmax': {'Implementation': 'latency', 'Precision': {'result': 'ap_ufixed<12,0,AP_RND,AP_SAT>'},
                            'exp_table_t': 'ap_fixed<18,8,AP_RND,AP_SAT>',
                            'inv_table_t': 'ap_fixed<18,8,AP_RND,AP_SAT>'},
            },
        },
    }


def test_golden_tiny_keras2_model(tmp_path):
    """The bridge's output on a model made here (json + h5 by h5py: no zoo, no TensorFlow) is
    the committed golden file, and bit-exact with hls4ml's C simulation. Per-layer types with
    every kind of mode: RND/SAT input, SAT_SYM batchnorm, a saturating accumulator, an
    unsigned RND/SAT relu, RND_ZERO weights, the latency softmax with RND/SAT tables.
    RTL4ML_UPDATE_GOLDEN=1 rewrites the golden file."""
    import json

    from rtl4ml.hls4ml import convert, dumps, export

    hm = convert(tiny_keras2_files(tmp_path))
    text = dumps(export(hm, 'tiny', 'golden model of python/tests/test_hls4ml.py'))
    if os.environ.get('RTL4ML_UPDATE_GOLDEN') == '1':
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert json.loads(text) == json.loads(GOLDEN.read_text())
    kinds = [l['kind'] for l in json.loads(text)['layers']]
    assert kinds == ['batchnorm', 'dense', 'relu', 'dense', 'softmax'], kinds
    assert_bit_exact(hm, inputs(6, span=8.0))


def test_command_line_writes_the_golden_model(tmp_path):
    """`python3 -m rtl4ml.hls4ml CONFIG.yml OUT.json` on a YAML configuration naming its model
    files relative to itself."""
    import json
    import subprocess
    import sys

    import yaml

    cfg = tiny_keras2_files(tmp_path)
    cfg['KerasJson'], cfg['KerasH5'] = 'tiny.json', 'tiny.h5'
    (tmp_path / 'tiny.yml').write_text(yaml.safe_dump(cfg))
    out = tmp_path / 'out.json'
    r = subprocess.run([sys.executable, '-m', 'rtl4ml.hls4ml', str(tmp_path / 'tiny.yml'), str(out)],
                       cwd=tmp_path.parent, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    got, want = json.loads(out.read_text()), json.loads(GOLDEN.read_text())
    assert got['layers'] == want['layers'] and got['inputs'] == want['inputs']


# ---- the zoo's Keras jet taggers --------------------------------------------------------------


@need_zoo
@pytest.mark.parametrize('precision', ['ap_fixed<16,6>', 'ap_fixed<12,4,AP_RND_CONV,AP_SAT>'])
def test_zoo_float_keras_pruned_is_bit_exact(tmp_path, precision):
    """KERAS_3layer (70% pruned, float) with one hls4ml precision: no TensorFlow needed."""
    from rtl4ml.hls4ml import convert

    hm = convert(zoo_keras_config(tmp_path, 'keras_3layer', precision))
    m = assert_bit_exact(hm, inputs(16), verify_in=tmp_path / 'rtl')
    layers = {l['name']: l for l in __import__('json').loads(m.to_json())['layers']}
    t = precision.replace('ap_', '').replace('AP_', '')
    assert layers['fc1_relu']['accum'] == (t if 'SAT' in t else 'fixed<16,6>')
    assert layers['output_softmax_softmax']['kind'] == 'softmax'


@need_zoo
@need_qkeras
def test_zoo_qkeras_is_bit_exact(tmp_path):
    """qkeras_3layer with its published hls4ml configuration (softmax set to `latency`)."""
    from rtl4ml.hls4ml import convert, export

    hm = convert(zoo_qkeras_config(tmp_path))
    doc = export(hm)
    layers = {l['name']: l for l in doc['layers']}
    assert layers['fc1']['weight']['type'] == 'fixed<6,1>'
    assert layers['relu1'] == {'name': 'relu1', 'kind': 'relu', 'input': 'fc1', 'result': 'fixed<7,1,RND_CONV,SAT>'}
    assert doc['inputs'] == [{'name': 'fc1_input', 'shape': [16], 'type': 'fixed<16,6>'}]
    assert_bit_exact(hm, inputs(16), verify_in=tmp_path / 'rtl')


@need_zoo
@need_qkeras
def test_zoo_qkeras_keras3_archive_is_bit_exact(tmp_path):
    """qkeras-v3_3layer.keras (QKeras saved by Keras 3) rebuilt in Keras 2 by
    `load_keras3_qkeras`, with the published configuration of its Keras 2 twin (`KerasModel:`
    naming the archive): bit-exact with hls4ml's C-sim, verified in Verilator, and the same
    native model as the json + h5 route (the archive holds the same float weights)."""
    from rtl4ml.hls4ml import convert, export

    cfg = zoo_qkeras_config(tmp_path)
    del cfg['KerasJson'], cfg['KerasH5']
    cfg['KerasModel'] = str(ZOO / 'keras' / 'qkeras-v3_3layer.keras')
    cfg['OutputDir'] = str(tmp_path / 'qkeras_v3')
    hm = convert(cfg)
    assert export(hm) == export(convert(zoo_qkeras_config(tmp_path)))
    assert_bit_exact(hm, inputs(16, seed=3), verify_in=tmp_path / 'rtl')


@need_zoo
@need_qkeras
def test_keras3_archive_command_line_and_refusals(tmp_path):
    """`python3 -m rtl4ml.hls4ml x.keras out.json` converts the archive with a generated
    configuration; an archive with a layer class it cannot rebuild names the layer and class."""
    import zipfile

    from rtl4ml.hls4ml import Hls4mlBridgeError, load_keras3_qkeras

    out = tmp_path / 'v3.json'
    r = subprocess.run([sys.executable, '-m', 'rtl4ml.hls4ml', str(ZOO / 'keras' / 'qkeras-v3_3layer.keras'),
                        str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    layers = {l['name']: l for l in json.loads(out.read_text())['layers']}
    assert layers['fc1']['weight']['type'] == 'fixed<6,1>' and layers['relu1']['kind'] == 'relu'
    with zipfile.ZipFile(ZOO / 'keras' / 'qkeras-v3_3layer.keras') as z:
        cfg = json.loads(z.read('config.json'))
        blob = z.read('model.weights.h5')
    cfg['config']['layers'][2]['class_name'] = 'QConv2DBatchnorm'
    bad = tmp_path / 'bad.keras'
    with zipfile.ZipFile(bad, 'w') as z:
        z.writestr('config.json', json.dumps(cfg))
        z.writestr('model.weights.h5', blob)
    with pytest.raises(Hls4mlBridgeError, match=r'layer `relu1` \(QConv2DBatchnorm\): not rebuilt'):
        load_keras3_qkeras(bad)
    (tmp_path / 'junk.keras').write_bytes(b'not a zip')
    with pytest.raises(Hls4mlBridgeError, match='not a Keras 3 model archive'):
        load_keras3_qkeras(tmp_path / 'junk.keras')


@need_zoo
def test_stable_softmax_is_refused_by_name(tmp_path):
    cfg = zoo_keras_config(tmp_path, 'stable')
    del cfg['HLSConfig']['LayerType']
    with pytest.raises(rtl4ml.ModelError, match=r'layer `output_softmax_softmax` \(Softmax\): softmax '
                                                r'implementation `stable` is not supported'):
        rtl4ml.from_hls4ml(cfg)


@need_zoo
@need_qonnx
@pytest.mark.parametrize('name,n_in', [('three_layer_keras', 16), ('three_layer_pytorch', 16),
                                       ('conv2d_small_keras', 64)])
def test_zoo_onnx_through_hls4ml_is_bit_exact(tmp_path, name, n_in):
    from rtl4ml.hls4ml import convert

    hm = convert(ZOO / 'onnx' / f'{name}.onnx', output_dir=str(tmp_path / name))
    assert_bit_exact(hm, inputs(n_in))


# ---- in-memory Keras 2 and QKeras models -------------------------------------------------------


def _keras_bn_model(merged):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    L = tf.keras.layers
    if merged:  # Dense → BatchNormalization: hls4ml folds the normalization into the Dense
        layers = [L.Input((10,), name='x'), L.Dense(12, name='fc1'), L.BatchNormalization(name='bn1'),
                  L.Activation('relu', name='relu1'), L.Dense(4, name='fc2')]
    else:  # BatchNormalization on the input: kept as hls4ml's `normalize`
        layers = [L.Input((10,), name='x'), L.BatchNormalization(name='bn0'), L.Dense(8, name='fc1'),
                  L.Activation('relu', name='relu1'), L.Dense(4, name='fc2'), L.Activation('linear', name='lin')]
    model = tf.keras.Sequential(layers)
    rng = np.random.default_rng(4)
    for l in model.layers:
        if isinstance(l, L.BatchNormalization):
            n = l.gamma.shape[0]
            l.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.3, 3, n)])
    return model


@need_tf
@pytest.mark.parametrize('merged', [True, False], ids=['bn-merged', 'bn-kept'])
def test_keras_batchnorm_is_bit_exact(tmp_path, merged):
    model = _keras_bn_model(merged)
    cfg = hls4ml.utils.config.config_from_keras_model(model, granularity='name', backend='Vivado',
                                                      default_precision='fixed<16,6>')
    cfg['Model']['Strategy'] = 'Latency'
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / 'bn'),
                                                    backend='Vivado', io_type='io_parallel')
    classes = [l.class_name for l in hm.get_layers()]
    assert ('BatchNormalization' in classes) == (not merged), classes
    m = assert_bit_exact(hm, inputs(10, span=32.0))
    kinds = [l['kind'] for l in __import__('json').loads(m.to_json())['layers']]
    assert ('batchnorm' in kinds) == (not merged), kinds


@need_qkeras
def test_qkeras_in_memory_is_bit_exact(tmp_path):
    """QDense / QActivation(quantized_relu) / quantized_bits activation, converted by
    from_hls4ml itself (config_from_keras_model, granularity `name`)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(5)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((12,), name='x'),
        QDense(16, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
               name='q1'),
        QActivation(quantized_relu(6, 2), name='qr1'),
        QDense(8, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name='q2'),
        QActivation(quantized_bits(8, 3, alpha=1), name='qb2'),
        QDense(5, kernel_quantizer=quantized_bits(5, 1, alpha=1), bias_quantizer=quantized_bits(5, 1, alpha=1),
               name='q3'),
    ])
    m = rtl4ml.from_hls4ml(model, output_dir=str(tmp_path / 'qk'))
    assert m.n_inputs == 12 and m.n_outputs == 5
    hm = hls4ml.converters.convert_from_keras_model(
        model, output_dir=str(tmp_path / 'qk2'), backend='Vivado', io_type='io_parallel',
        hls_config=copy.deepcopy(hls4ml.utils.config.config_from_keras_model(
            model, granularity='name', backend='Vivado', default_precision='fixed<16,6>')))
    assert_bit_exact(hm, inputs(12))


@need_tf
@pytest.mark.parametrize('d', [1, 2])
def test_keras_convolutions_are_bit_exact(tmp_path, d):
    """Conv1D / Conv2D (valid with stride 2, same, pointwise 1-wide) with a per-layer config."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(7 + d)
    L = tf.keras.layers
    conv = L.Conv1D if d == 1 else L.Conv2D
    shape = (12, 3) if d == 1 else (7, 6, 2)
    model = tf.keras.Sequential([
        L.Input(shape, name='img'), conv(4, 3, strides=2, name='c1'), L.Activation('relu', name='r1'),
        conv(3, 2, padding='same', name='c2'), L.Activation('relu', name='r2'), conv(2, 1, name='pw'),
        L.Flatten(name='flat'), L.Dense(3, name='fc'),
    ])
    cfg = hls4ml.utils.config.config_from_keras_model(model, granularity='name', backend='Vivado',
                                                      default_precision='fixed<16,6>')
    cfg['Model']['Strategy'] = 'Latency'
    cfg['LayerName']['c1']['Precision'] = {'weight': 'ap_fixed<8,2,AP_RND>', 'accum': 'ap_fixed<20,8,AP_TRN,AP_SAT>',
                                           'result': 'ap_fixed<14,6,AP_RND,AP_SAT>'}
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / 'conv'),
                                                    backend='Vivado', io_type='io_parallel')
    assert_bit_exact(hm, inputs(int(np.prod(shape))))


@need_tf
def test_keras_unsupported_layer_names_layer_and_class(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Input((8,)), tf.keras.layers.Dense(4, name='fc'),
                                 tf.keras.layers.LeakyReLU(0.25, name='leaky'), tf.keras.layers.Dense(2)])
    with pytest.raises(rtl4ml.ModelError, match=r'layer `leaky` \(ParametrizedActivation\): this layer class \(activation `LeakyReLU`\) is not supported'):
        rtl4ml.from_hls4ml(model, output_dir=str(tmp_path / 'leaky'))


def test_io_stream_is_refused(tmp_path):
    """A configuration the bridge does not reproduce is refused before any layer."""
    if ZOO is None:
        pytest.skip('../shared/zoo not found')
    from rtl4ml.hls4ml import convert

    cfg = zoo_keras_config(tmp_path, 'stream')
    cfg['IOType'] = 'io_stream'
    with pytest.raises(rtl4ml.ModelError, match='IOType `io_stream` is not supported'):
        rtl4ml.from_hls4ml(convert(cfg))
