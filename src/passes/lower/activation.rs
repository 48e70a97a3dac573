//! Clipping and piecewise-linear activations (capped ReLU, leaky ReLU, hard sigmoid/tanh)
//! and argmax.

use super::{Lowering, Site};
use crate::error::{Error, Result};
use crate::ir::layers::LayerKind;
use crate::ir::netlist::{BuildError, BuildResult, NodeId, Operand};
use std::collections::HashSet;

impl Lowering {
    /// Lowers a ReLU with an upper cap.
    pub(super) fn lower_relu_cap(
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
        let LayerKind::ReluCap { cap } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let c = self.scalar(cap).map_err(err)?;
            x.iter()
                .map(|&e| {
                    let r = self.b.relu(e)?;
                    let m = self.b.max(r.op(), c.op(), true)?;
                    self.sync_levels();
                    self.b.cast(m.op(), ty)
                })
                .collect::<BuildResult<_>>()
                .map_err(err)?
        };
        Ok(out)
    }

    /// Lowers a leaky ReLU (a constant slope below zero).
    pub(super) fn lower_leaky_relu(
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
        let LayerKind::LeakyRelu { alpha } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let zero = self.b.constant(0, 0).map_err(err)?;
            x.iter()
                .map(|&e| {
                    let p = self.scaled(e, alpha)?;
                    let c = self.b.cmp(e.op(), zero.op())?;
                    let v = self.b.mux(c, e.op(), p)?;
                    self.sync_levels();
                    self.b.cast(v.op(), ty)
                })
                .collect::<BuildResult<_>>()
                .map_err(err)?
        };
        Ok(out)
    }

    /// Lowers a hard sigmoid or hard tanh (a clipped linear map).
    pub(super) fn lower_hard_sigmoid(
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
        let LayerKind::HardSigmoid { slope, shift, tanh } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let zero = self.b.constant(0, 0).map_err(err)?;
            let one = self.b.constant(1, 0).map_err(err)?;
            let sh = self.scalar(shift).map_err(err)?;
            x.iter()
                .map(|&e| {
                    let p = self.scaled(e, slope)?;
                    let t = self
                        .sum(vec![(p, false), (sh.op(), false)])?
                        .unwrap_or(zero.op());
                    self.sync_levels();
                    let lo = self.b.max(t, zero.op(), false)?;
                    let s = self.b.max(lo.op(), one.op(), true)?;
                    let v = if *tanh {
                        let two_s = Operand { node: s, shift: 1 };
                        self.b.add(two_s, one.op(), true)?
                    } else {
                        s
                    };
                    self.sync_levels();
                    self.b.cast(v.op(), ty)
                })
                .collect::<BuildResult<_>>()
                .map_err(err)?
        };
        Ok(out)
    }

    /// Lowers an argmax (the index of the largest element).
    pub(super) fn lower_argmax(
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
        let xt = g.tensor(layer.input);
        let channels = *xt.shape.last().unwrap();
        let LayerKind::Argmax = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let mut out = Vec::new();
            for row in x.chunks(channels) {
                let leaves = row
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Ok((v.op(), self.b.constant(i as i128, 0)?.op())))
                    .collect::<BuildResult<Vec<_>>>()
                    .map_err(err)?;
                let (_, idx) = self.argmax_tree(&leaves).map_err(err)?;
                out.push(self.b.cast(idx, ty).map_err(err)?);
                self.sync_levels();
            }
            out
        };
        Ok(out)
    }
}
