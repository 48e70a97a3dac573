"""rtl4ml: quantized neural networks → pipelined Verilog, with a bit-accurate simulator.

A thin binding over the rtl4ml Rust crate: loading, compiling, simulating, verifying,
synthesising and optimizing are the crate's own code, bit for bit what the `rtl4ml` command
line does.

    import rtl4ml
    m = rtl4ml.load("models/jet_tagger.json")        # or .onnx (QONNX), .keras (HGQ2)
    d = rtl4ml.compile(m, clock_ns=4.0)
    y = d.predict(x)                                   # numpy in, numpy out, bit-exact
    d.report["latency_cycles"], d.report["resources"]["lut"]
    d.write("build/jet"); d.verify(vectors=10000); d.synth(); d.html("jet.html")

Keras 3 / HGQ2 models: `rtl4ml.from_keras(model)` (needs the `keras` extra); hls4ml models
(Keras 2, QKeras, ONNX, PyTorch through hls4ml's converters): `rtl4ml.from_hls4ml(hls_model)`
(needs the `hls4ml` extra; docs/hls4ml.md). Errors raise
`rtl4ml.Error` subclasses carrying the command line's message. See docs/python.md.
"""

import os as _os

from . import _native
from ._native import (
    DEFAULT_MAX_FANOUT,
    DataError,
    Design,
    Error,
    FileError,
    Model,
    ModelError,
    Optimized,
    ToolError,
    UnsupportedError,
    VerificationError,
    __version__,
)

__all__ = [
    'load', 'from_json', 'from_onnx', 'from_keras', 'from_hls4ml', 'compile', 'optimize',
    'training_cost', 'csd_digits',
    'Model', 'Design', 'Optimized',
    'Error', 'ModelError', 'UnsupportedError', 'DataError', 'ToolError', 'VerificationError',
    'FileError', 'DEFAULT_MAX_FANOUT', '__version__',
]

_KERAS_SUFFIXES = ('.keras', '.h5', '.hdf5')


def load(path):
    """Loads a model file: native JSON (docs/model-format.md), QONNX `.onnx` (docs/qonnx.md),
    or a Keras 3 / HGQ2 `.keras` file (through `from_keras`, needs the `keras` extra).

    The format is chosen as the command line chooses it (the `.onnx` extension or ONNX
    content). Raises `rtl4ml.ModelError` (or another `rtl4ml.Error`) with the message
    `rtl4ml compile` prints.
    """
    p = _os.fspath(path)
    if str(p).lower().endswith(_KERAS_SUFFIXES):
        return from_keras(p)
    return _native._load(p)


def from_json(model, name=None):
    """A model from native JSON: a `str`/`bytes` document or a `dict` (as `json.load` gives).

    `name` names the model in error messages (default `model.json`).
    """
    import json

    if isinstance(model, dict):
        data = json.dumps(model).encode()
    elif isinstance(model, str):
        data = model.encode()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    else:
        raise TypeError(f'from_json expects a str, bytes or dict, got {type(model).__name__}')
    name = name or 'model.json'
    if name.lower().endswith('.onnx'):
        raise ValueError(f'from_json: name {name!r} would be read as QONNX; use from_onnx')
    return _native._load_bytes(data, name)


def from_onnx(model, name=None):
    """A QONNX model from an `onnx.ModelProto` (anything with `SerializeToString`) or the
    bytes of a serialized ONNX model (after `qonnx-cleanup`; docs/qonnx.md).

    `name` names the model in error messages (default `model.onnx`).
    """
    if hasattr(model, 'SerializeToString'):
        data = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    elif isinstance(model, (str, _os.PathLike)):
        return _native._load(_os.fspath(model))
    else:
        raise TypeError(f'from_onnx expects an onnx.ModelProto or bytes, got {type(model).__name__}')
    name = name or 'model.onnx'
    if not name.lower().endswith('.onnx'):
        name += '.onnx'
    return _native._load_bytes(data, name)


def from_keras(model, name=None, description=None):
    """A Keras 3 model with HGQ2 layers (a `keras.Model`, or the path of a `.keras` file),
    exported in-process exactly as `tools/export_keras.py` does (docs/keras.md): per-weight and
    per-element bit widths kept, bit for bit with the model's own Keras predictions.

    Needs the `keras` extra (`pip install "./python[keras]"`). Unsupported layers raise
    `rtl4ml.ModelError` naming the layer and its class.
    """
    try:
        from . import keras as _exporter
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'rtl4ml.from_keras needs Keras 3 and HGQ2: pip install "./python[keras]" '
            f'(from the rtl4ml repository; docs/python.md) ({e})'
        ) from e
    source = None
    if isinstance(model, (str, _os.PathLike)):
        source = _os.fspath(model)
        try:
            model = _exporter.load_model(source)
        except ImportError as e:
            raise ImportError(
                f'rtl4ml.from_keras needs Keras 3 and HGQ2: pip install "./python[keras]" '
                f'(from the rtl4ml repository; docs/python.md) ({e})'
            ) from e
    try:
        doc = _exporter.export(model, name, description)
    except _exporter.ExportError as e:
        where = source or f'Keras model `{model.name}`'
        raise ModelError(f'{where}: {e}') from None
    text = _exporter.dumps(doc)
    return _native._load_bytes(text.encode(), f'{source or "keras model " + model.name}.json')


def from_hls4ml(model, hls_config=None, name=None, description=None, output_dir=None,
                default_precision='fixed<16,6>', input_shape=None):
    """An hls4ml model, with hls4ml's own resolved precisions, bit for bit with hls4ml's C
    simulation (`hls_model.compile(); hls_model.predict(x)`; docs/hls4ml.md).

    model: an hls4ml `ModelGraph` (Vivado or Vitis backend, io_parallel, Latency strategy), or
        anything `rtl4ml.hls4ml.convert` turns into one with hls4ml's own converters: a Keras 2
        / QKeras model, an ONNX model or path, a PyTorch module (`input_shape=`), an hls4ml
        configuration dict or YAML path (KerasJson + KerasH5, OnnxModel, ...), a Keras 3
        `.keras` archive of a QKeras model (rebuilt in Keras 2 by
        `rtl4ml.hls4ml.load_keras3_qkeras`).
    hls_config: the hls4ml configuration for the conversion (ignored for a `ModelGraph`).
    output_dir, default_precision, input_shape: for the conversion (`rtl4ml.hls4ml.convert`):
        hls4ml's project folder (default: a temporary one), the default type of a generated
        configuration (without `hls_config`), a PyTorch model's input shape.

    Needs the `hls4ml` extra (`pip install "./python[hls4ml]"`). A layer the bridge cannot map
    raises `rtl4ml.ModelError` naming the layer and its class.
    """
    try:
        from . import hls4ml as _bridge
        import hls4ml as _hls4ml  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'rtl4ml.from_hls4ml needs hls4ml: pip install "./python[hls4ml]" '
            f'(from the rtl4ml repository; docs/hls4ml.md) ({e})'
        ) from e
    is_graph = hasattr(model, 'get_layers') and hasattr(model, 'config')
    if not is_graph:
        extra = {} if input_shape is None else {'input_shape': input_shape}
        model = _bridge.convert(model, hls_config=hls_config, output_dir=output_dir,
                                default_precision=default_precision, **extra)
    project = model.config.get_project_name()
    try:
        doc = _bridge.export(model, name, description)
    except _bridge.Hls4mlBridgeError as e:
        raise ModelError(f'hls4ml model `{project}`: {e}') from None
    text = _bridge.dumps(doc)
    return _native._load_bytes(text.encode(), f'hls4ml model {project}.json')


def compile(model, clock_ns=None, latency_cycles=None, target='xilinx-ultrascale-plus', top=None,
            max_fanout=DEFAULT_MAX_FANOUT, dsp='never', share=True, sat_accum='chain',
            fastest_clock=False):  # noqa: A001 (the CLI's verb)
    """Compiles a model to a pipelined design, as `rtl4ml compile` does.

    model: a `Model` (or a path, loaded with `load`).
    clock_ns: target clock period in ns (default 4.0; with `latency_cycles` alone, 4.0 when the
        cycles fit at it, else the period with the fewest registers among those shorter than the
        shortest that fits one cycle fewer).
    latency_cycles: exact latency in cycles (an error when the clock cannot be met in that many).
    target: `xilinx-ultrascale-plus` or `lattice-ecp5` (delay model for pipelining).
    top: top module name (default: the model's name, sanitised).
    max_fanout: duplicate a pipeline register read by more than this many cells (0: never).
    dsp: `never`, `auto` or `always` (hard multipliers for products of two variables).
    share: share shift-and-add subexpressions between outputs (`--no-share` is False).
    sat_accum: `chain` or `tree`, how saturating accumulators that may saturate are built
        (`--sat-accum`; same values, see docs/model-format.md).
    fastest_clock: with `latency_cycles` (and no `clock_ns`), the shortest clock at which the
        cycles fit: the highest Fmax for that latency (`--fastest-clock`).

    Returns a `Design`: `predict`, `report`, `write`, `verify`, `synth`, `html`.
    """
    if not isinstance(model, Model):
        model = load(model)
    return _native._compile(model, clock_ns, latency_cycles, target, top, max_fanout, dsp, share,
                            sat_accum, fastest_clock)


def _labels(labels):
    import numpy as np

    a = np.asarray(labels)
    if a.dtype.kind == 'f':
        bad = ~np.isfinite(a) | (a != np.round(a)) | (np.abs(a) >= 9.0e15)
        if bad.any():
            v = a[bad].ravel()[0]
            raise DataError(f'optimize(labels): label {v} is not a whole number (expected class indices)')
    elif a.dtype.kind not in 'iub':
        raise DataError(f'optimize(labels): expected integer class indices, found dtype {a.dtype}')
    return [int(v) for v in a.ravel()]


def optimize(model, calib, labels=None, clock_ns=4.0, budget_ns=None, budget_cycles=None,
             tolerance='0.5%', metric='argmax', target='xilinx-ultrascale-plus', keep_weights=False,
             lossless_only=False, observed_margin=None, raw=False, progress=False,
             retrain=False, validation=0.25, epochs=10, lr=1e-3, batch_size=128, seed=1,
             rounds=24, step='2%'):
    """Chooses fixed-point widths: the least estimated LUT + FF within an accuracy tolerance on
    calibration data and a latency budget, as `rtl4ml optimize` does (docs/optimize.md).

    calib: calibration inputs `[N, n_inputs]` (values; integer mantissas with `raw=True`).
    labels: true classes of the calibration samples (only for the accuracy shown; the search
        compares with the original model).
    budget_ns / budget_cycles: latency budget (ns are rounded down to whole cycles of clock_ns).
    tolerance: a number (0.005) or a percentage string ('0.5%').
    metric: `argmax`, `mse` or `max-abs`.

    Returns an `Optimized`: `.model` (the optimised `Model`), `.feasible`, `.pareto` (the
    explored points), `.report`, `.summary`, `.accuracy`, `.write_reports(path)`. Unlike the
    command line, an infeasible result is returned (with `feasible` False), not raised.

    retrain=True: `rtl4ml optimize --retrain` (docs/optimize.md, "Retraining"): fine-tunes the
    weights against `labels` between narrowing rounds; the last `validation` fraction of the
    samples is held out and `tolerance` is the allowed drop of its accuracy. `epochs`, `lr`,
    `batch_size`, `seed`, `rounds` and `step` are the command line's options of those names.
    """
    if not isinstance(model, Model):
        model = load(model)
    if not isinstance(tolerance, str):
        tolerance = repr(float(tolerance))
    if labels is not None:
        labels = _labels(labels)
    if not isinstance(step, str):
        step = repr(float(step))
    train = ((float(validation), int(epochs), float(lr), int(batch_size), int(seed), int(rounds),
              step) if retrain else None)
    return _native._optimize(model, calib, labels, clock_ns, budget_ns, budget_cycles, tolerance,
                             metric, target, keep_weights, lossless_only, observed_margin, raw,
                             progress, train)


_TRAINING_COST = {}


def training_cost(bits=16):
    """The resource model's per-bit coefficients, for a training loop's cost regularizer
    (docs/qat.md; `rtl4ml.keras.CostRegularizer` uses them).

    Measured by the Rust crate on probe designs of `bits`-bit operands compiled with
    `rtl4ml.compile`'s own flow and resource model (docs/resource-model.md), so they follow
    the model: a dict with `lut_per_adder_bit`, `lut_per_tree_adder_bit` (an adder inside a sum
    tree, where pairs are ternary adders on 6-input LUTs), `lut_per_relu_bit`, `ff_per_register_bit`,
    `expected_digits` (list: mean non-zero CSD digits of a uniformly drawn signed `b`-bit
    mantissa, b = 0..32; a constant multiplication by a weight of `d` digits is `d` shifted
    terms of its dot product's adder tree) and `probe_bits`. Cached per `bits`.
    """
    bits = int(bits)
    if bits not in _TRAINING_COST:
        _TRAINING_COST[bits] = _native._training_cost(bits)
    return dict(_TRAINING_COST[bits])


def csd_digits(mantissas):
    """Non-zero canonical-signed-digit count of each integer mantissa (the crate's CSD, as the
    constant multiplier uses it). Takes any integer array-like; returns a list of ints."""
    import numpy as _np
    a = _np.asarray(mantissas)
    if a.size and a.dtype.kind not in 'iub':
        raise DataError(f'csd_digits: expected integer mantissas, found dtype {a.dtype}')
    return _native._csd_digits([int(v) for v in a.ravel()])
