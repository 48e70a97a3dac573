"""The Python API against the command line: same predictions bit for bit, same report, same
build directory, same error messages."""

import filecmp
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import rtl4ml
from conftest import FIXTURES, MODELS, ROOT, bundled_models, have

JET = MODELS / 'jet_tagger.json'


def calib(model_path):
    stem = Path(model_path).stem.removesuffix('_16b')
    return np.load(MODELS / 'calib' / f'{stem}.npy')


@pytest.fixture(scope='module')
def jet():
    return rtl4ml.compile(rtl4ml.load(JET))


@pytest.fixture(scope='module')
def jet_x():
    # More samples than predict's chunk (2048), so chunk edges are crossed.
    return np.load(MODELS / 'calib' / 'jet_tagger.npy')[:7000]


# ---- load / compile / predict -------------------------------------------------------------


@pytest.mark.parametrize('path', bundled_models(), ids=lambda p: p.stem)
def test_bundled_model_predicts_as_the_cli(path, cli_sim):
    m = rtl4ml.load(path)
    d = rtl4ml.compile(m)
    x = calib(path)[:500]
    y = d.predict(x)
    assert y.dtype == np.float64 and y.shape == (len(x), m.n_outputs)
    assert np.array_equal(y, cli_sim(path, x))
    raw = d.predict(d.quantize_inputs(x), raw=True)
    assert raw.dtype == np.int64
    assert np.array_equal(raw, cli_sim(path, x, raw=True))
    assert np.array_equal(d.output_values(raw), y)


@pytest.mark.parametrize('path', sorted((FIXTURES / 'qonnx').glob('*.onnx')), ids=lambda p: p.stem)
def test_qonnx_fixture_matches_qonnx_executor(path):
    x = np.load(path.with_suffix('.input.npy'))
    expected = np.load(path.with_suffix('.expected.npy'))
    d = rtl4ml.compile(rtl4ml.load(path))
    y = d.predict(x)
    assert np.array_equal(y, expected.reshape(y.shape))
    # The same model from bytes (as from an onnx.ModelProto's SerializeToString()).
    d2 = rtl4ml.compile(rtl4ml.from_onnx(path.read_bytes(), name=path.name))
    assert np.array_equal(d2.predict(x), y)


class FakeProto:
    def __init__(self, data):
        self.data = data

    def SerializeToString(self):
        return self.data


def test_from_onnx_takes_a_model_proto():
    path = FIXTURES / 'qonnx' / 'qkeras_mlp.onnx'
    m = rtl4ml.from_onnx(FakeProto(path.read_bytes()))
    assert m.model_file == 'model.onnx'
    x = np.load(path.with_suffix('.input.npy'))
    assert np.array_equal(rtl4ml.compile(m).predict(x),
                          np.load(path.with_suffix('.expected.npy')).reshape(len(x), -1))


@pytest.mark.parametrize('name', ['hgq_mlp', 'hgq_conv', 'hgq_conv2d'])
def test_keras_fixture_json_matches_keras_predictions(name):
    base = FIXTURES / 'keras' / name
    d = rtl4ml.compile(rtl4ml.load(f'{base}.json'))
    x = np.load(f'{base}.input.npy')
    assert np.array_equal(d.predict(x), np.load(f'{base}.expected.npy'))
    # Float32 inputs (what Keras saw) give the same outputs.
    assert np.array_equal(d.predict(x.astype(np.float32)), np.load(f'{base}.expected.npy'))


def test_model_properties_and_json_round_trip(jet, jet_x):
    m = rtl4ml.load(JET)
    assert m.name == 'jet_tagger'
    assert m.n_inputs == 16 and m.n_outputs == 5
    assert m.inputs[0]['shape'] == [16] and m.inputs[0]['type'] == 'fixed<16,6,RND,SAT>'
    assert len(m.input_types) == 16 and len(m.output_types) == 5
    assert m.model_file == 'model.json'
    assert m.file_bytes() == JET.read_bytes()
    assert 'jet_tagger' in repr(m)
    again = rtl4ml.from_json(m.to_json())
    assert np.array_equal(rtl4ml.compile(again).predict(jet_x), jet.predict(jet_x))
    as_dict = rtl4ml.from_json(json.loads(JET.read_text()))
    assert as_dict.name == 'jet_tagger'


def test_design_properties(jet):
    assert jet.top == 'jet_tagger'
    assert jet.latency_cycles == jet.report['latency_cycles'] == 5
    assert jet.clock_ns == 4.0 and jet.latency_ns == 20.0
    assert jet.n_inputs == 16 and jet.n_outputs == 5
    assert jet.lane_bits in (32, 64, 128)
    assert jet.target == 'xilinx-ultrascale-plus'
    assert jet.verilog.lstrip().startswith(('//', 'module', '`'))
    assert 'module jet_tagger' in jet.verilog
    assert 'LUT' in jet.report_text
    assert 'cycles' in repr(jet)
    assert jet.model.name == 'jet_tagger'


def test_compile_options_match_the_cli(cli, tmp_path):
    m = rtl4ml.load(JET)
    d = rtl4ml.compile(m, clock_ns=25.0, latency_cycles=8, target='lattice-ecp5', top='jt',
                       max_fanout=8, dsp='auto', share=False)
    cli('compile', JET, '-o', tmp_path / 'cli', '--clock-ns', '25.0', '--latency-cycles', '8',
        '--target', 'lattice-ecp5', '--top', 'jt', '--max-fanout', '8', '--dsp', 'auto',
        '--no-share', '-q')
    d.write(tmp_path / 'py')
    assert_same_tree(tmp_path / 'cli', tmp_path / 'py')
    assert d.latency_cycles == 8 and d.top == 'jt'
    # The latency alone: the 4 ns default clock when it fits, else the fewest registers below
    # the shortest period for one cycle fewer, as the command line chooses it.
    d = rtl4ml.compile(m, latency_cycles=3)
    cli('compile', JET, '-o', tmp_path / 'cli3', '--latency-cycles', '3', '-q')
    assert d.report == json.loads((tmp_path / 'cli3' / 'report.json').read_text())
    # The shortest clock for the cycles, as --fastest-clock.
    f = rtl4ml.compile(m, latency_cycles=3, fastest_clock=True)
    cli('compile', JET, '-o', tmp_path / 'clif', '--latency-cycles', '3', '--fastest-clock', '-q')
    assert f.report == json.loads((tmp_path / 'clif' / 'report.json').read_text())
    assert f.latency_cycles == 3 and f.report['clock_ns'] < d.report['clock_ns']
    for bad in ({}, {'latency_cycles': 3, 'clock_ns': 10.0}):
        with pytest.raises(rtl4ml.UnsupportedError, match='fastest_clock'):
            rtl4ml.compile(m, fastest_clock=True, **bad)


# ---- report and build directory ------------------------------------------------------------


def assert_same_tree(a, b):
    """Both directories hold the same files with the same bytes."""
    fa = sorted(p.relative_to(a) for p in Path(a).rglob('*'))
    fb = sorted(p.relative_to(b) for p in Path(b).rglob('*'))
    assert fa == fb
    for rel in fa:
        if (Path(a) / rel).is_file():
            assert filecmp.cmp(Path(a) / rel, Path(b) / rel, shallow=False), f'{rel} differs'


@pytest.mark.parametrize('model', [JET, FIXTURES / 'qonnx' / 'residual_block.onnx'], ids=['json', 'qonnx'])
def test_write_makes_the_cli_build_directory(model, cli, tmp_path):
    cli('compile', model, '-o', tmp_path / 'cli', '-q')
    d = rtl4ml.compile(rtl4ml.load(model))
    out = d.write(tmp_path / 'py')
    assert Path(out) == tmp_path / 'py' and d.directory == tmp_path / 'py'
    assert_same_tree(tmp_path / 'cli', tmp_path / 'py')
    assert d.report == json.loads((tmp_path / 'cli' / 'report.json').read_text())
    # And the command line reads the directory Python wrote.
    r = cli('report', tmp_path / 'py', '--json')
    assert json.loads(r.stdout) == d.report


def test_report_content(jet):
    r = jet.report
    for key in ('model', 'top', 'latency_cycles', 'clock_ns', 'latency_ns', 'resources', 'layers'):
        assert key in r
    assert {'lut', 'ff', 'dsp'} <= set(r['resources'])
    assert sum(layer['resources']['lut'] for layer in r['layers']) == r['resources']['lut']
    assert any(layer['adders'] > 0 for layer in r['layers'])
    # A fresh dict every time: editing it changes nothing.
    r['latency_cycles'] = -1
    assert jet.report['latency_cycles'] == 5


def test_html(jet, tmp_path):
    page = jet.html()
    assert page.lstrip().lower().startswith('<!doctype html')
    assert 'jet_tagger' in page
    p = tmp_path / 'jet.html'
    assert jet.html(p) == page and p.read_text() == page


def test_write_refuses_a_foreign_directory(jet, tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep')
    with pytest.raises(rtl4ml.DataError, match='is not an rtl4ml build directory; refusing to replace it'):
        jet.write(tmp_path / 'mine')
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep'


@pytest.mark.skipif(not have('verilator'), reason='verilator is not installed')
def test_verify_in_verilator(tmp_path):
    d = rtl4ml.compile(rtl4ml.load(MODELS / 'odd_types.json'))
    d.write(tmp_path / 'odd')
    r = d.verify(vectors=300, icarus=16 if have('iverilog') else 0)
    assert r['vectors'] >= 300
    assert Path(r['directory']) == tmp_path / 'odd'
    assert 'verilator' in r['text'].lower()


@pytest.mark.skipif(not have('verilator'), reason='verilator is not installed')
def test_verify_catches_edited_verilog(tmp_path):
    d = rtl4ml.compile(rtl4ml.load(MODELS / 'odd_types.json'))
    d.write(tmp_path / 'odd')
    v = tmp_path / 'odd' / f'{d.top}.v'
    v.write_text(v.read_text() + '\n// edited\n')
    with pytest.raises(rtl4ml.VerificationError, match='differs from what this rtl4ml produces'):
        d.verify(vectors=10)


@pytest.mark.skipif(not have('yosys'), reason='yosys is not installed')
def test_synth_records_measured_figures():
    d = rtl4ml.compile(rtl4ml.load(MODELS / 'odd_types.json'))
    r = d.synth()  # into a temporary build directory
    assert r['measured'] and r['measured'][0]['tool'] == 'yosys'
    assert d.report['measured'] == r['measured']
    assert json.loads((Path(d.directory) / 'report.json').read_text())['measured'] == r['measured']


def test_synth_device_needs_place_and_route():
    """A part is chosen for place and route only, and only among the ECP5 parts (checked
    before any tool runs)."""
    d = rtl4ml.compile(rtl4ml.load(MODELS / 'odd_types.json'))
    with pytest.raises(rtl4ml.UnsupportedError, match='pass pnr="ecp5" too'):
        d.synth(device='45k')
    with pytest.raises(rtl4ml.UnsupportedError, match=r'device: unknown value `12k` \(expected one of: 25k, 45k, 85k\)'):
        d.synth(pnr='ecp5', device='12k')


# ---- dtypes, layouts, shapes ---------------------------------------------------------------


def test_large_batch_matches_the_cli(jet, jet_x, cli_sim):
    assert np.array_equal(jet.predict(jet_x), cli_sim(JET, jet_x))
    m = jet.quantize_inputs(jet_x)
    assert np.array_equal(jet.predict(m, raw=True), cli_sim(JET, m, raw=True))


def test_float32_and_float64(jet, jet_x, cli_sim):
    x32 = jet_x.astype(np.float32)
    assert np.array_equal(jet.predict(x32), cli_sim(JET, x32))
    assert np.array_equal(jet.predict(x32), jet.predict(x32.astype(np.float64)))
    # Values off the float32 grid are cast from float64 exactly (not through float32).
    x64 = jet_x.astype(np.float64) + 1e-9
    assert np.array_equal(jet.predict(x64), cli_sim(JET, x64))
    # float16 is widened exactly.
    x16 = jet_x[:50].astype(np.float16)
    assert np.array_equal(jet.predict(x16), jet.predict(x16.astype(np.float32)))


@pytest.mark.parametrize('dtype', ['int64', 'int32', 'int16', 'uint16', 'uint32', 'uint64', 'int8', 'uint8'])
def test_integer_mantissas_with_raw(dtype, cli_sim):
    path = MODELS / 'odd_types.json'
    d = rtl4ml.compile(rtl4ml.load(path))
    m = d.quantize_inputs(calib(path))
    info = np.iinfo(dtype)
    m = m[((m >= info.min) & (m <= info.max)).all(axis=1)][:300]
    assert len(m) > 0
    y = d.predict(m.astype(dtype), raw=True)
    assert np.array_equal(y, cli_sim(path, m.astype(np.int64), raw=True))


def test_integers_without_raw_are_values(jet):
    xi = np.arange(-8, 8, dtype=np.int32)[None, :].repeat(3, axis=0)
    assert np.array_equal(jet.predict(xi), jet.predict(xi.astype(np.float64)))


def test_python_lists(jet, jet_x):
    assert np.array_equal(jet.predict(jet_x[:4].tolist()), jet.predict(jet_x[:4]))


def test_non_contiguous_arrays(jet, jet_x):
    want = jet.predict(np.ascontiguousarray(jet_x))
    wide = np.zeros((len(jet_x), 40), dtype=jet_x.dtype)
    wide[:, 3:35:2] = jet_x
    assert np.array_equal(jet.predict(wide[:, 3:35:2]), want)  # strided columns
    assert np.array_equal(jet.predict(np.asfortranarray(jet_x)), want)  # column-major
    assert np.array_equal(jet.predict(jet_x[::-1])[::-1], want)  # negative strides
    assert np.array_equal(jet.predict(jet_x[::3]), want[::3])  # strided rows
    assert np.array_equal(jet.predict(jet_x.T.copy().T), want)
    ro = jet_x.copy()
    ro.flags.writeable = False
    assert np.array_equal(jet.predict(ro), want)


def test_shapes(jet, jet_x):
    want = jet.predict(jet_x[:6])
    assert np.array_equal(jet.predict(jet_x[:6].reshape(6, 4, 4)), want)  # [N, <any shape>]
    assert np.array_equal(jet.predict(jet_x[0]), want[:1])  # one sample
    assert jet.predict(np.zeros((0, 16))).shape == (0, 5)
    conv = rtl4ml.compile(rtl4ml.load(FIXTURES / 'keras' / 'hgq_conv.json'))
    x = np.load(FIXTURES / 'keras' / 'hgq_conv.input.npy')
    assert x.shape[1:] == (8, 2)
    assert np.array_equal(conv.predict(x), conv.predict(x.reshape(len(x), 16)))


def test_wrong_shape_is_a_clear_error(jet):
    with pytest.raises(rtl4ml.DataError) as e:
        jet.predict(np.zeros((3, 7)))
    assert str(e.value) == ('predict(x): shape [3, 7] does not hold samples of 16 input elements '
                            '(expected [N, 16] or [N, <input shape>])')


def test_predict_releases_the_gil(jet, jet_x):
    big = np.tile(jet_x, (50, 1))
    want = jet.predict(big)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(jet.predict, [big] * 4))
    assert all(np.array_equal(o, want) for o in outs)
    # While one thread simulates a large batch, the interpreter keeps running other threads
    # (without the GIL released, the counter could not move during the call).
    ticks = []
    done = threading.Event()

    def spin():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    try:
        done.wait(0.05)
        before = len(ticks)
        jet.predict(big)
        during = len(ticks) - before
    finally:
        done.set()
        t.join()
    assert during > 1000


# ---- errors ----------------------------------------------------------------------------------


def golden_cases():
    d = FIXTURES / 'errors'
    return sorted(p.stem for p in d.glob('*.json') if (d / f'{p.stem}.stderr').is_file()
                  and not (d / f'{p.stem}.args').exists())


@pytest.mark.parametrize('name', golden_cases())
def test_error_messages_are_the_cli_golden_messages(name, monkeypatch):
    d = FIXTURES / 'errors'
    monkeypatch.chdir(d)
    golden = (d / f'{name}.stderr').read_text().splitlines()
    message = next(line for line in golden if line.startswith('error: '))[len('error: '):]
    with pytest.raises(rtl4ml.Error) as e:
        rtl4ml.compile(rtl4ml.load(f'{name}.json'))
    assert str(e.value) == message


def test_error_classes():
    for cls in (rtl4ml.ModelError, rtl4ml.UnsupportedError, rtl4ml.DataError, rtl4ml.ToolError,
                rtl4ml.VerificationError, rtl4ml.FileError):
        assert issubclass(cls, rtl4ml.Error)
    assert issubclass(rtl4ml.Error, Exception)
    with pytest.raises(rtl4ml.ModelError, match='unknown_kind.json'):
        rtl4ml.load(FIXTURES / 'bad' / 'unknown_kind.json')


def test_missing_file(tmp_path, cli):
    p = tmp_path / 'nope.json'
    r = cli('compile', p, '-o', tmp_path / 'out', check=False)
    with pytest.raises(rtl4ml.FileError) as e:
        rtl4ml.load(p)
    assert f'error: {e.value}' == r.stderr.strip().splitlines()[-1]


def test_bad_input_values(jet):
    x = np.zeros((2, 16))
    x[1, 3] = np.nan
    with pytest.raises(rtl4ml.DataError, match=r'^predict\(x\): sample 1, element 3: value NaN is not a finite number$'):
        jet.predict(x)
    x = np.zeros((5000, 16))
    x[4500, 15] = np.inf
    with pytest.raises(rtl4ml.DataError, match=r'^predict\(x\): sample 4500, element 15: value inf is not a finite number$'):
        jet.predict(x)
    with pytest.raises(rtl4ml.DataError, match=r'^predict\(x\): sample 4500, element 15: value inf'):
        jet.predict(np.asfortranarray(x))
    with pytest.raises(rtl4ml.DataError, match='raw=True expects an integer array of mantissas, found float64'):
        jet.predict(np.zeros((2, 16)), raw=True)
    with pytest.raises(rtl4ml.DataError, match=r'sample 0, element 0: mantissa 40000 does not fit the input type fixed<16,6,RND,SAT>'):
        jet.predict(np.full((1, 16), 40000), raw=True)
    with pytest.raises(rtl4ml.DataError, match='unsupported dtype'):
        jet.predict(np.zeros((1, 16), dtype=np.complex128))


def test_bad_options():
    m = rtl4ml.load(JET)
    with pytest.raises(rtl4ml.UnsupportedError, match='target: unknown value `virtex` .*xilinx-ultrascale-plus, lattice-ecp5'):
        rtl4ml.compile(m, target='virtex')
    with pytest.raises(rtl4ml.UnsupportedError, match='dsp: unknown value'):
        rtl4ml.compile(m, dsp='sometimes')
    with pytest.raises(rtl4ml.UnsupportedError, match='compiling .*jet_tagger.json: --clock-ns: the clock period must be a positive number of ns, got -1'):
        rtl4ml.compile(m, clock_ns=-1.0)
    with pytest.raises(rtl4ml.UnsupportedError, match='--latency-cycles'):
        rtl4ml.compile(m, clock_ns=0.5, latency_cycles=1)


def test_keras_file_in_the_cli_says_what_to_run(cli, tmp_path):
    p = tmp_path / 'model.keras'
    p.write_bytes(b'PK\x03\x04' + b'\0' * 64)
    r = cli('compile', p, '-o', tmp_path / 'out', check=False)
    assert r.returncode == 1
    assert f'python3 -m rtl4ml.keras {p} {tmp_path / "model.json"}' in r.stderr
    assert 'pip install "./python[keras]"' in r.stderr
    # The native loader says the same (rtl4ml.load routes .keras files to from_keras).
    with pytest.raises(rtl4ml.DataError) as e:
        rtl4ml._native._load(str(p))
    assert f'error: {e.value}' == r.stderr.strip()


# ---- optimize --------------------------------------------------------------------------------


def test_optimize_lossless_matches_the_cli(cli, tmp_path):
    path = MODELS / 'egamma_id_16b.json'
    x = calib(path)[:400]
    labels = np.load(MODELS / 'calib' / 'egamma_id_labels.npy')[:400]
    opt = rtl4ml.optimize(path, x, labels=labels, lossless_only=True, budget_ns=25)
    np.save(tmp_path / 'x.npy', x)
    np.save(tmp_path / 'l.npy', labels)
    cli('optimize', path, '--calib', tmp_path / 'x.npy', '--labels', tmp_path / 'l.npy',
        '--lossless-only', '--budget-ns', '25', '-q', '-o', tmp_path / 'cli.json')
    ours = json.loads(opt.model.to_json())
    theirs = json.loads((tmp_path / 'cli.json').read_text())
    assert ours['layers'] == theirs['layers'] and ours['inputs'] == theirs['inputs']
    assert opt.feasible
    assert opt.after['lut'] <= opt.before['lut']
    assert opt.accuracy is not None and opt.accuracy[0] == opt.accuracy[1]
    assert isinstance(opt.pareto, list) and opt.pareto
    assert 'LUT' in opt.summary
    pareto = json.loads((tmp_path / 'cli.pareto.json').read_text())
    assert opt.report['after'] == pareto['after']
    paths = opt.write_reports(tmp_path / 'py.json')
    assert [Path(p).name for p in paths] == ['py.pareto.json', 'py.pareto.csv', 'py.pareto.svg']
    # Lossless: the optimised design predicts exactly as the original.
    d0, d1 = rtl4ml.compile(path), rtl4ml.compile(opt.model)
    assert np.array_equal(d0.predict(x), d1.predict(x))


def test_optimize_retrain_matches_the_cli(cli, tmp_path):
    # `retrain=True` is `rtl4ml optimize --retrain`: the same split, training and choice, so
    # the same layers (two short rounds on 2,000 jets keep it to seconds).
    path = MODELS / 'jet_tagger_16b.json'
    x = calib(JET)[:2000]
    labels = np.load(MODELS / 'calib' / 'jet_tagger_labels.npy')[:2000]
    opt = rtl4ml.optimize(path, x, labels=labels, retrain=True, rounds=2, epochs=2,
                          tolerance='1%')
    np.save(tmp_path / 'x.npy', x)
    np.save(tmp_path / 'l.npy', labels)
    cli('optimize', path, '--calib', tmp_path / 'x.npy', '--labels', tmp_path / 'l.npy',
        '--retrain', '--rounds', '2', '--epochs', '2', '--tolerance', '1%', '-q',
        '-o', tmp_path / 'cli.json')
    ours = json.loads(opt.model.to_json())
    theirs = json.loads((tmp_path / 'cli.json').read_text())
    assert ours['layers'] == theirs['layers']
    assert opt.after['lut'] < opt.before['lut']
    with pytest.raises(rtl4ml.UnsupportedError, match='give them with labels='):
        rtl4ml.optimize(path, x, retrain=True)
    with pytest.raises(rtl4ml.UnsupportedError, match=r'validation 1: expected a fraction in \(0, 1\)'):
        rtl4ml.optimize(path, x, labels=labels, retrain=True, validation=1.0)


def test_optimize_errors():
    m = rtl4ml.load(MODELS / 'egamma_id.json')
    x = calib(MODELS / 'egamma_id.json')[:50]
    with pytest.raises(rtl4ml.DataError, match='3 labels for 50 calibration samples'):
        rtl4ml.optimize(m, x, labels=[0, 1, 0])
    with pytest.raises(rtl4ml.DataError, match='label 0.5 is not a whole number'):
        rtl4ml.optimize(m, x, labels=np.full(50, 0.5))
    with pytest.raises(rtl4ml.UnsupportedError, match='bad tolerance'):
        rtl4ml.optimize(m, x, tolerance='lots')
    with pytest.raises(rtl4ml.UnsupportedError, match='less than one 4 ns clock cycle'):
        rtl4ml.optimize(m, x, budget_ns=2)
    with pytest.raises(rtl4ml.DataError, match=r'optimize\(calib\): shape \[50, 3\]'):
        rtl4ml.optimize(m, x[:, :3])


# ---- type stubs --------------------------------------------------------------------------------


def test_stubs_describe_the_package():
    """Every name and member in rtl4ml/__init__.pyi exists, and every public one is stubbed."""
    import ast
    import inspect

    stub = ast.parse((Path(rtl4ml.__file__).parent / '__init__.pyi').read_text())
    names = set()
    for node in stub.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
            assert hasattr(rtl4ml, node.name), node.name
        if isinstance(node, ast.ClassDef):
            cls = getattr(rtl4ml, node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef):
                    assert hasattr(cls, member.name), f'{node.name}.{member.name}'
            public = {n for n in dir(cls) if not n.startswith('_')}
            stubbed = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
            if not issubclass(cls, Exception):
                assert public <= stubbed, f'{node.name}: not in the stub: {public - stubbed}'
        if isinstance(node, ast.FunctionDef):
            ours = list(inspect.signature(getattr(rtl4ml, node.name)).parameters)
            assert ours == [a.arg for a in node.args.args], node.name
        if isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    assert set(rtl4ml.__all__) - {'__version__'} <= names | {'__version__'}


def test_keras_extra_pins_the_exporter_requirements():
    """The `keras` extra installs exactly tools/requirements-keras.txt."""
    tomllib = pytest.importorskip('tomllib')
    extra = tomllib.loads((ROOT / 'python' / 'pyproject.toml').read_text())['project']['optional-dependencies']['keras']
    pins = [line.strip() for line in (ROOT / 'tools' / 'requirements-keras.txt').read_text().splitlines()
            if line.strip() and not line.startswith('#')]
    assert sorted(extra) == sorted(pins)
