#!/usr/bin/env python3
"""Checks tools/export_keras.py's rejections: each unsupported model stops the export with an
error naming the layer, its class and what is supported. Exit status 1 on any failure.

    .venv-keras/bin/python tools/test_export_keras.py
"""

import os
import sys

os.environ.setdefault('KERAS_BACKEND', 'jax')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
from hgq.config import QuantizerConfig  # noqa: E402
from hgq.layers import QDense, QEinsumDense  # noqa: E402

import export_keras  # noqa: E402


def expect_error(model, *parts):
    try:
        export_keras.export(model)
    except export_keras.ExportError as e:
        msg = str(e)
        missing = [p for p in parts if p not in msg]
        if missing:
            print(f'FAIL {model.name}: {msg!r} lacks {missing}')
            return False
        print(f'ok   {model.name}: {msg}')
        return True
    print(f'FAIL {model.name}: exported without error')
    return False


def seq(name, *layers, shape=(4,)):
    m = keras.Sequential([keras.Input(shape)] + list(layers), name=name)
    m.build((None,) + shape)
    return m


def main():
    keras.utils.set_random_seed(0)
    ok = True
    ok &= expect_error(seq('plain_dense', QDense(3, name='q'), keras.layers.Dense(2, name='float_fc')),
                       '`float_fc`', '(Dense)', 'not supported', 'QDense')
    ok &= expect_error(seq('einsum', QEinsumDense('bi,ij->bj', output_shape=3, name='ein')),
                       '`ein`', '(QEinsumDense)', 'not supported')
    ok &= expect_error(seq('tanh', QDense(3, activation='tanh', name='t')),
                       '`t`', '(QDense)', 'activation `tanh`', 'linear and relu')
    ok &= expect_error(seq('no_iq', QDense(3, enable_iq=False, name='n')),
                       '`n`', 'float tensor', 'enable_iq')
    wrap_sm = QuantizerConfig('kif', 'datalane', round_mode='RND', overflow_mode='WRAP_SM')
    ok &= expect_error(seq('wrap_sm', QDense(3, iq_conf=wrap_sm, name='w')),
                       '`w`', 'iq', 'WRAP_SM', 'WRAP, SAT, SAT_SYM')
    scaled = QuantizerConfig('kif', 'datalane', scaler=3.0)
    ok &= expect_error(seq('scaled', QDense(3, iq_conf=scaled, name='s')), '`s`', 'scaler')
    # A branch: two layers read the same tensor.
    x = keras.Input((4,))
    a = QDense(3, name='a')(x)
    b = QDense(3, name='b')(x)
    m = keras.Model(x, keras.layers.Add(name='sum')([a, b]), name='branch')
    ok &= expect_error(m, '`sum`', '(Add)')
    ok &= command_line()
    sys.exit(0 if ok else 1)


def command_line():
    """The command line on a saved .keras file: a loadable native model, and an error
    message naming the file for an unsupported one."""
    import json
    import subprocess
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as d:
        good = seq('saved', QDense(3, activation='relu', name='fc'), QDense(2, name='out'))
        good.save(os.path.join(d, 'good.keras'))
        bad = seq('saved_bad', QDense(3, name='fc'), keras.layers.Dense(2, name='float_fc'))
        bad.save(os.path.join(d, 'bad.keras'))
        run = [sys.executable, os.path.join(here, 'export_keras.py')]
        r = subprocess.run(run + [os.path.join(d, 'good.keras'), os.path.join(d, 'good.json')],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f'FAIL command line: {r.stderr[-500:]}')
            return False
        doc = json.load(open(os.path.join(d, 'good.json')))
        kinds = [l['kind'] for l in doc['layers']]
        if doc['format'] != 'rtl4ml-model' or kinds != ['dense', 'relu', 'quantize', 'dense']:
            print(f'FAIL command line: unexpected layers {kinds}')
            return False
        r = subprocess.run(run + [os.path.join(d, 'bad.keras'), os.path.join(d, 'bad.json')],
                           capture_output=True, text=True)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''
        if r.returncode == 0 or 'bad.keras: layer `float_fc` (Dense)' not in last:
            print(f'FAIL command line on an unsupported model: {last!r}')
            return False
        print(f'ok   command line: {kinds}; {last}')
        return True


if __name__ == '__main__':
    main()
