//! Pooling: windowed and global max, average (as a sum times a reciprocal) and sum pools.

use super::{Lowering, Site};
use crate::error::{Error, Result};
use crate::ir::layers::{LayerKind, PoolOp};
use crate::ir::netlist::{BuildError, NodeId};
use std::collections::HashSet;

impl Lowering {
    /// Lowers an average pool as a dense sum with the reciprocal of the window size.
    pub(super) fn lower_avg_pool_recip(
        &mut self,
        site: &Site<'_>,
        rounded_upstream: &mut HashSet<usize>,
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
        let fx = xt.ty.frac();
        let channels = *xt.shape.last().unwrap();
        let LayerKind::Pool {
            op: PoolOp::AvgRecip(rty),
            window,
            ..
        } = &layer.kind
        else {
            unreachable!("dispatched by kind")
        };
        let out = {
            // y = R(Σ x · recip(n)): a dense sum with the constant weight recip(n) on every
            // tap (the same value as R(recip(n) · Σ x), exactly).
            let mut rows_terms = Vec::with_capacity(window.positions());
            for p in 0..window.positions() {
                let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
                let r = crate::ir::layers::recip_mantissa(taps.len(), rty)
                    .and_then(|r| i64::try_from(r).ok())
                    .ok_or_else(|| {
                        err(format!("the reciprocal of {} does not fit {rty}", taps.len()).into())
                    })?;
                let mut columns = Vec::with_capacity(channels);
                for c in 0..channels {
                    let xs: Vec<NodeId> = taps.iter().map(|&ip| x[ip * channels + c]).collect();
                    let ws = vec![r; xs.len()];
                    let (xs, fxs) = self.narrowed(&xs, fx);
                    columns.push(
                        self.dense_terms(&xs, &fxs, &ws, rty.frac(), 0, 0, None)
                            .map_err(err)?,
                    );
                }
                rows_terms.push((columns.clone(), columns));
            }
            self.finish_rows(g, k, rows_terms, None, ty, rounded_upstream, &place)?
        };
        Ok(out)
    }

    /// Lowers a windowed or global max, average or sum pool.
    pub(super) fn lower_pool(
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
        let LayerKind::Pool { op, window, .. } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let mut out = Vec::with_capacity(window.positions() * channels);
            for p in 0..window.positions() {
                let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
                for c in 0..channels {
                    let xs: Vec<NodeId> = taps.iter().map(|&ip| x[ip * channels + c]).collect();
                    let y = match op {
                        PoolOp::Max => {
                            let m = self.reduce_max(xs).map_err(err)?;
                            self.b.cast(m.op(), ty)
                        }
                        PoolOp::AvgRecip(_) => unreachable!("lowered above"),
                        PoolOp::Sum | PoolOp::Avg => {
                            let k = if *op == PoolOp::Avg {
                                taps.len().trailing_zeros() as i32
                            } else {
                                0
                            };
                            self.sum_cast(xs.iter().map(|&n| (n.op(), false)).collect(), -k, ty)
                        }
                    }
                    .map_err(err)?;
                    self.sync_levels();
                    out.push(y);
                }
            }
            out
        };
        Ok(out)
    }
}
