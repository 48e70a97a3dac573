"""Type stubs of rtl4ml.hls4ml, the hls4ml bridge (docs/hls4ml.md)."""

import os
from typing import Any

from . import ModelError

class Hls4mlBridgeError(ModelError):
    """An hls4ml model the bridge cannot translate exactly; names the layer and its class."""

def export(hls_model: Any, name: str | None = None, description: str | None = None) -> dict[str, Any]:
    """The native model (a dict) of an hls4ml `ModelGraph` (Vivado/Vitis, io_parallel, Latency)."""

def dumps(doc: dict[str, Any]) -> str:
    """Compact, deterministic JSON text of a native model: one line per layer."""

def convert(
    model: Any,
    hls_config: dict[str, Any] | None = None,
    output_dir: str | None = None,
    default_precision: str = "fixed<16,6>",
    **kwargs: Any,
) -> Any:
    """An hls4ml `ModelGraph` built by hls4ml's own converters (Keras 2 / QKeras, ONNX, PyTorch,
    a Keras 3 `.keras` archive of a QKeras model, or an hls4ml configuration dict / YAML path)."""

def load_keras3_qkeras(path: str | os.PathLike[str]) -> Any:
    """A Keras 3 `.keras` archive of a Sequential QKeras model rebuilt as a Keras 2 (tf.keras)
    QKeras 0.9 model with its weights, for hls4ml's Keras 2 converter."""

def main(argv: list[str] | None = None) -> None:
    """`python3 -m rtl4ml.hls4ml CONFIG.yml|MODEL.onnx|MODEL.keras OUT.json [--name N]`."""
