"""Type stubs of rtl4ml.hls4ml, the hls4ml bridge (docs/hls4ml.md)."""

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
    or an hls4ml configuration dict / YAML path)."""

def main(argv: list[str] | None = None) -> None:
    """`python3 -m rtl4ml.hls4ml CONFIG.yml OUT.json [--name N]`."""
