"""Type stubs of the rtl4ml Python package (docs/python.md)."""

import os
from typing import Any, Literal, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_MAX_FANOUT: int

PathLike = str | os.PathLike[str]
Target = Literal["xilinx-ultrascale-plus", "lattice-ecp5"]
Dsp = Literal["never", "auto", "always"]
Metric = Literal["argmax", "mse", "max-abs"]

class Error(Exception):
    """Base class of every error rtl4ml raises; the message is the command line's."""

class ModelError(Error):
    """A problem in a model file (names the file, the place inside it and what was expected)."""

class UnsupportedError(Error):
    """A well-formed model or option that cannot be compiled exactly."""

class DataError(Error):
    """Bad input data: array shapes, dtypes, values that do not fit."""

class ToolError(Error):
    """An external tool (Verilator, Icarus, Yosys, nextpnr) failed or is missing."""

class VerificationError(Error):
    """The hardware and the simulator disagree."""

class FileError(Error):
    """A file could not be read or written."""

class Model:
    """A loaded, validated model. Compile it with `rtl4ml.compile`."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str:
        """Where the model came from: a path, or a description of the in-memory source."""
    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The inputs: dicts with `name`, `shape` and `type`."""
    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs in output-bus order: dicts with `name`, `shape` and `type`."""
    @property
    def n_inputs(self) -> int:
        """Input elements per sample (all inputs flattened and concatenated)."""
    @property
    def n_outputs(self) -> int:
        """Output elements per sample."""
    @property
    def input_types(self) -> list[str]:
        """The fixed-point type of every input element, e.g. `fixed<16,6,RND,SAT>`."""
    @property
    def output_types(self) -> list[str]: ...
    @property
    def model_file(self) -> str:
        """The name a build directory keeps the model file under (`model.json`, `model.onnx`)."""
    def to_json(self, description: str | None = None) -> str:
        """The model in the native JSON format (docs/model-format.md)."""
    def file_bytes(self) -> bytes:
        """The model file's bytes as loaded (what a build directory keeps)."""

class Design:
    """A compiled design: Verilog, report and the bit-accurate simulator of that hardware."""

    def predict(self, x: npt.ArrayLike, raw: bool = False) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        """Simulates a batch bit for bit as the hardware computes it.

        `x`: `[N, n_inputs]` or `[N, <input shape>]` (or one sample), any layout. Values
        (float32/float64, or integers) are cast to the input types with their own rounding
        and overflow, as `rtl4ml sim` does. Returns `[N, n_outputs]` float64 values; with
        `raw=True`, `x` holds integer mantissas and the result is int64 mantissas.
        """
    def quantize_inputs(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The input mantissas `predict` feeds the hardware, `[N, n_inputs]` int64."""
    def output_values(self, m: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Output mantissas (`predict(..., raw=True)`) as float64 values."""
    @property
    def report(self) -> dict[str, Any]:
        """The latency and resource report: the content of `report.json`."""
    @property
    def report_text(self) -> str:
        """The report table `rtl4ml compile` prints."""
    @property
    def verilog(self) -> str: ...
    @property
    def top(self) -> str: ...
    @property
    def latency_cycles(self) -> int: ...
    @property
    def clock_ns(self) -> float: ...
    @property
    def latency_ns(self) -> float: ...
    @property
    def n_inputs(self) -> int: ...
    @property
    def n_outputs(self) -> int: ...
    @property
    def input_types(self) -> list[str]: ...
    @property
    def output_types(self) -> list[str]: ...
    @property
    def lane_bits(self) -> int:
        """The simulator's integer lane width (32, 64 or 128)."""
    @property
    def target(self) -> str: ...
    @property
    def directory(self) -> os.PathLike[str] | None:
        """The build directory last written (by `write`, or a temporary one)."""
    @property
    def model(self) -> Model: ...
    def write(self, dir: PathLike) -> os.PathLike[str]:
        """Writes the build directory exactly as `rtl4ml compile MODEL -o DIR` does."""
    def verify(self, vectors: int = 10000, icarus: int = 64, seed: int = 1, lint: bool = True) -> dict[str, Any]:
        """Verilator (and Icarus) against the simulator, as `rtl4ml verify DIR`:
        `{"vectors", "text", "directory"}`; raises `VerificationError` on a mismatch."""
    def synth(self, tool: str = "yosys", pnr: str | None = None, target: str | None = None,
              device: str | None = None) -> dict[str, Any]:
        """Yosys synthesis (nextpnr-ecp5 with `pnr="ecp5"`, on the LFE5U part `device`:
        "25k", "45k" or "85k"; default the smallest the design fills at most 70%), as
        `rtl4ml synth DIR [--device]`; returns the report with the measured figures."""
    def html(self, path: PathLike | None = None) -> str:
        """The self-contained HTML report (written to `path` when given)."""

class Optimized:
    """The result of `rtl4ml.optimize`."""

    @property
    def model(self) -> Model:
        """The optimised model."""
    @property
    def accuracy(self) -> tuple[float, float] | None:
        """Label accuracy before and after, when labels were given."""
    @property
    def feasible(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def report(self) -> dict[str, Any]:
        """The Pareto report (`<stem>.pareto.json`'s content)."""
    @property
    def pareto(self) -> list[dict[str, Any]]:
        """Every explored design: label, LUT, FF, latency, error, Pareto membership."""
    @property
    def before(self) -> dict[str, Any]: ...
    @property
    def after(self) -> dict[str, Any]: ...
    def write_reports(self, path: PathLike) -> list[os.PathLike[str]]:
        """Writes `<stem>.pareto.json`, `.csv` and `.svg` next to `path`."""

def load(path: PathLike) -> Model:
    """Loads native JSON, QONNX `.onnx` or Keras `.keras` (through `from_keras`)."""

def from_json(model: str | bytes | dict[str, Any], name: str | None = None) -> Model:
    """A model from a native JSON document (text, bytes or dict)."""

def from_onnx(model: Any, name: str | None = None) -> Model:
    """A QONNX model from an `onnx.ModelProto`, serialized bytes or a path."""

def from_keras(model: Any, name: str | None = None, description: str | None = None) -> Model:
    """A Keras 3 / HGQ2 model (a `keras.Model` or a `.keras` path), exported in-process."""

def from_hls4ml(
    model: Any,
    hls_config: dict[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    output_dir: PathLike | None = None,
    default_precision: str = "fixed<16,6>",
    input_shape: Sequence[int] | None = None,
) -> Model:
    """An hls4ml `ModelGraph` (or a model hls4ml converts) with hls4ml's resolved precisions,
    bit for bit with hls4ml's C simulation (docs/hls4ml.md)."""

def compile(
    model: Model | PathLike,
    clock_ns: float | None = None,
    latency_cycles: int | None = None,
    target: Target | str = "xilinx-ultrascale-plus",
    top: str | None = None,
    max_fanout: int = ...,
    dsp: Dsp | str = "never",
    share: bool = True,
    sat_accum: str = "chain",
    fastest_clock: bool = False,
) -> Design:
    """Compiles a model, as `rtl4ml compile` does."""

def optimize(
    model: Model | PathLike,
    calib: npt.ArrayLike,
    labels: npt.ArrayLike | Sequence[int] | None = None,
    clock_ns: float = 4.0,
    budget_ns: float | None = None,
    budget_cycles: int | None = None,
    tolerance: float | str = "0.5%",
    metric: Metric | str = "argmax",
    target: Target | str = "xilinx-ultrascale-plus",
    keep_weights: bool = False,
    lossless_only: bool = False,
    observed_margin: float | None = None,
    raw: bool = False,
    progress: bool = False,
    retrain: bool = False,
    validation: float = 0.25,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 1,
    rounds: int = 24,
    step: float | str = "2%",
) -> Optimized:
    """Chooses fixed-point widths under a tolerance and a latency budget (docs/optimize.md);
    with `retrain=True` also fine-tunes the weights against `labels` (`--retrain`)."""

def training_cost(bits: int = 16) -> dict[str, Any]:
    """The resource model's per-bit coefficients, measured by the crate (docs/qat.md): keys
    `lut_per_adder_bit`, `lut_per_tree_adder_bit`, `lut_per_relu_bit`, `ff_per_register_bit` (floats),
    `expected_digits` (list of 33 floats), `probe_bits` (int)."""

def csd_digits(mantissas: npt.ArrayLike | Sequence[int]) -> list[int]:
    """Non-zero canonical-signed-digit count of each integer mantissa."""
