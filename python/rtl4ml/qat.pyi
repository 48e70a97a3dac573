"""Type stubs of rtl4ml.qat: rtl4ml's cost inside quantization-aware training (docs/qat.md).
The same names are importable from rtl4ml.keras."""

from typing import Any

def compiled_cost(model: Any, clock_ns: float = 4.0, **compile_options: Any) -> dict[str, Any]:
    """Exports and compiles a Keras/HGQ2 model: {'lut', 'ff', 'cycles', 'latency_ns', 'layers'}."""

class CostRegularizer:
    """rtl4ml's estimated LUT + FF of an HGQ2 model as a differentiable loss term."""

    coeff: float
    ff_weight: float
    lut_per_adder_bit: float
    ff_per_register_bit: float
    expected_digits: list[float]
    scale: dict[str, Any]
    layers: list[Any]
    effective: bool
    def __init__(
        self, coeff: float = 1e-6, ff_weight: float = 1.0, bits: int = 16, effective: bool = True
    ) -> None: ...
    def digits(self, bits: Any) -> Any:
        """D(b): mean CSD digits of a b-bit weight, linear between integer widths."""
    def layer_terms(self, layer: Any, input_shape: tuple[int, ...] | None = None) -> tuple[Any, Any]:
        """(uncalibrated surrogate LUTs, FFs) of one HGQ2 layer, as tensors."""
    def layer_cost(self, layer: Any, input_shape: tuple[int, ...] | None = None) -> Any:
        """Calibrated LUTs + ff_weight · FFs of one layer (a tensor)."""
    def __call__(self, model: Any) -> Any:
        """The whole model's cost (a scalar tensor)."""
    def install(self, model: Any) -> CostRegularizer:
        """Puts the cost in HGQ2's EBOPs hook of every layer, with β = coeff."""
    def calibrate(
        self, model: Any, clock_ns: float = 4.0, lo: float = 0.05, hi: float = 20.0
    ) -> tuple[dict[str, tuple[float, int, float]], dict[str, Any]]:
        """Fits the per-layer factors to `rtl4ml compile`'s LUTs."""

class CompiledCostCallback:
    """A keras.callbacks.Callback: compiles every `every` epochs, logs rtl4ml_lut/ff/cycles,
    re-fits the regularizer's factors."""

    records: list[dict[str, int]]
    def __init__(
        self,
        regularizer: CostRegularizer | None = None,
        every: int = 10,
        calibrate: bool = True,
        clock_ns: float = 4.0,
        verbose: int = 0,
    ) -> None: ...
