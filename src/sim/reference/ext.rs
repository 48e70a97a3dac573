//! Reference semantics of the layers beyond dense, relu, quantize and flatten: straight math
//! on exact mantissas, one sample at a time, written from docs/model-format.md and independent
//! of the netlist lowering.

use crate::error::{Error, Result};
use crate::ir::layers::{Layer, LayerGraph};

/// Evaluates one layer on the values of all earlier tensors.
pub(super) fn evaluate_layer(
    g: &LayerGraph,
    layer: &Layer,
    values: &[Vec<i128>],
) -> Result<Vec<i128>> {
    let _ = (g, values);
    Err(Error::unsupported(
        format!("layer `{}`", layer.name),
        "reference: not implemented",
    ))
}
