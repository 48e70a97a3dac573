//! Merges: element-wise add, subtract and multiply of tensors, and concatenation.

use super::{Lowering, Site};
use crate::error::{Error, Result};
use crate::ir::layers::{LayerKind, MergeOp};
use crate::ir::netlist::{BuildError, NodeId};
use std::collections::HashSet;

impl Lowering {
    /// Lowers an element-wise add, subtract or multiply of tensors.
    pub(super) fn lower_merge(
        &mut self,
        site: &Site<'_>,
        _rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let ty = site.ty;
        let layer = &g.layers[k];
        let place = format!("layer `{}`", layer.name);
        let err = |m: BuildError| Error::lower(&place, m);
        let x = &tensors[layer.input];
        let LayerKind::Merge { op, others } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let srcs: Vec<&Vec<NodeId>> = std::iter::once(layer.input)
                .chain(others.iter().copied())
                .map(|t| &tensors[t])
                .collect();
            let mut out = Vec::with_capacity(x.len());
            for e in 0..x.len() {
                let y = match op {
                    MergeOp::Add => {
                        self.sum_cast(srcs.iter().map(|s| (s[e].op(), false)).collect(), 0, ty)
                    }
                    MergeOp::Subtract => self.sum_cast(
                        vec![(srcs[0][e].op(), false), (srcs[1][e].op(), true)],
                        0,
                        ty,
                    ),
                    MergeOp::Multiply => self
                        .product(srcs[0][e], srcs[1][e])
                        .and_then(|p| self.b.cast(p, ty)),
                }
                .map_err(err)?;
                self.sync_levels();
                out.push(y);
            }
            out
        };
        Ok(out)
    }

    /// Lowers a concatenation along an axis.
    pub(super) fn lower_concatenate(
        &mut self,
        site: &Site<'_>,
        _rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let ty = site.ty;
        let layer = &g.layers[k];
        let place = format!("layer `{}`", layer.name);
        let err = |m: BuildError| Error::lower(&place, m);
        let xt = g.tensor(layer.input);
        let LayerKind::Concatenate { others, axis } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let srcs: Vec<usize> = std::iter::once(layer.input)
                .chain(others.iter().copied())
                .collect();
            let outer: usize = xt.shape[..*axis].iter().product();
            let mut out = Vec::new();
            for o in 0..outer {
                for &t in &srcs {
                    let block: usize = g.tensor(t).shape[*axis..].iter().product();
                    for &e in &tensors[t][o * block..(o + 1) * block] {
                        out.push(self.b.cast(e.op(), ty).map_err(err)?);
                    }
                }
            }
            out
        };
        Ok(out)
    }
}
