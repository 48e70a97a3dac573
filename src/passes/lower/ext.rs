//! Lowering of the layers beyond dense: convolution (dense over each receptive field, sharing
//! subexpressions across the output channels of a position), pooling, merges, shape ops,
//! clipping activations, argmax, batch normalisation and lookup tables.

use super::{LowerOptions, Lowering};
use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use crate::ir::layers::LayerGraph;
use crate::ir::netlist::NodeId;
use std::collections::HashSet;

impl Lowering {
    /// Lowers layer `k` (not dense, relu, quantize or flatten) to its output nodes.
    pub(super) fn lower_ext(
        &mut self,
        g: &LayerGraph,
        k: usize,
        tensors: &[Vec<NodeId>],
        ty: FixedType,
        opts: &LowerOptions,
        rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let layer = &g.layers[k];
        let _ = (tensors, ty, opts, rounded_upstream);
        Err(Error::unsupported(
            format!("layer `{}`", layer.name),
            format!("`{}` is not implemented yet", layer.kind.name()),
        ))
    }
}
