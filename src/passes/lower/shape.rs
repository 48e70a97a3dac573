//! Shape operations that move elements without arithmetic: slices and transposes.

use super::{Lowering, Site};
use crate::error::Result;
use crate::ir::layers::LayerKind;
use crate::ir::netlist::NodeId;
use std::collections::HashSet;

impl Lowering {
    /// Lowers a slice (begin, end, step per axis).
    pub(super) fn lower_slice(
        &mut self,
        site: &Site<'_>,
        _rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let layer = &g.layers[k];
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let LayerKind::Slice { begin, end, step } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            crate::ir::layers::slice_sources(&xt.shape, begin, end, step)
                .into_iter()
                .map(|e| x[e])
                .collect()
        };
        Ok(out)
    }

    /// Lowers a transpose (a permutation of the axes).
    pub(super) fn lower_transpose(
        &mut self,
        site: &Site<'_>,
        _rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let layer = &g.layers[k];
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let LayerKind::Transpose { perm } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let s = &xt.shape;
            let r = s.len();
            let mut strides = vec![1usize; r];
            for a in (0..r - 1).rev() {
                strides[a] = strides[a + 1] * s[a + 1];
            }
            let oshape: Vec<usize> = perm.iter().map(|&a| s[a]).collect();
            (0..x.len())
                .map(|e| {
                    let (mut rem, mut src) = (e, 0);
                    for i in (0..r).rev() {
                        src += (rem % oshape[i]) * strides[perm[i]];
                        rem /= oshape[i];
                    }
                    x[src]
                })
                .collect()
        };
        Ok(out)
    }
}
