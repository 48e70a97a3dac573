#!/usr/bin/env python3
"""Exports a trained Keras 3 model with HGQ2 layers to rtl4ml's native JSON format.

    KERAS_BACKEND=jax python3 tools/export_keras.py model.keras model.json

The exporter itself ships in the Python package as `rtl4ml.keras` (python/rtl4ml/keras.py;
`rtl4ml.from_keras(model)` in Python, `python3 -m rtl4ml.keras` from a shell, docs/python.md).
This script loads that file directly, so a checkout with the pinned Keras venv
(tools/requirements-keras.txt) needs no built package; every name of the exporter
(`export`, `dumps`, `quantizer_types`, `ExportError`, ...) is available from this module, as
before. Models it exports keep the description they always had.
"""

import importlib.util
import os
import sys

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'python', 'rtl4ml', 'keras.py')
_spec = importlib.util.spec_from_file_location('rtl4ml_keras_exporter', os.path.normpath(_path))
_impl = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _impl
_spec.loader.exec_module(_impl)
globals().update({k: v for k, v in vars(_impl).items() if not k.startswith('__')})


def export(model, name=None, description=None):
    """The native model (a dict) of a Keras model with HGQ2 layers."""
    description = description or f'exported from Keras model `{model.name}` by tools/export_keras.py'
    return _impl.export(model, name, description)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('model', help='a Keras 3 model file (.keras) with HGQ2 layers')
    ap.add_argument('output', help='the native rtl4ml model to write (.json)')
    ap.add_argument('--name', help='model name (default: the Keras model name)')
    args = ap.parse_args()
    model = _impl.load_model(args.model)
    try:
        doc = export(model, args.name)
    except _impl.ExportError as e:
        sys.exit(f'{args.model}: {e}')
    with open(args.output, 'w') as f:
        f.write(_impl.dumps(doc))


if __name__ == '__main__':
    main()
