"""Type stubs of rtl4ml.keras: the HGQ2 → native JSON exporter (docs/keras.md) and rtl4ml's
cost inside training (docs/qat.md)."""

from typing import Any

from . import ModelError
from .qat import CompiledCostCallback as CompiledCostCallback
from .qat import CostRegularizer as CostRegularizer
from .qat import compiled_cost as compiled_cost

class ExportError(ModelError):
    """A Keras model the exporter cannot translate exactly; names the layer and its class."""

def export(model: Any, name: str | None = None, description: str | None = None) -> dict[str, Any]:
    """The native model (a dict) of a Keras model with HGQ2 layers."""

def load_model(path: str) -> Any:
    """Loads a saved Keras model (`.keras`) with the HGQ2 layers registered."""

def dumps(doc: dict[str, Any]) -> str:
    """Compact, deterministic JSON: one line per layer."""

def main(argv: list[str] | None = None) -> None: ...
