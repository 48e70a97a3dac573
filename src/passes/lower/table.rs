//! Lookup tables (sigmoid, tanh, exp) and the hls4ml latency softmax built from them.

use super::{Lowering, Site};
use crate::error::{Error, Result};
use crate::ir::layers::{LayerKind, TableIndex};
use crate::ir::netlist::{BuildError, NodeId};
use std::collections::HashSet;

impl Lowering {
    /// Lowers a lookup-table activation (sigmoid, tanh, exp).
    pub(super) fn lower_table(
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
        let LayerKind::Table { index, table, .. } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let mut out = Vec::with_capacity(x.len());
            for &e in x {
                let idx = self.table_index(e, index, &xt.ty).map_err(err)?;
                let y = self
                    .b
                    .table(idx, ty.frac(), |m| {
                        ty.cast(table.data[m as usize] as i128, table.ty.frac())
                    })
                    .map_err(err)?;
                self.sync_levels();
                out.push(y);
            }
            out
        };
        Ok(out)
    }

    /// Lowers hls4ml's latency softmax (exp table, sum, inverse table).
    pub(super) fn lower_softmax(
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
        let LayerKind::Softmax {
            exp_table,
            inv_table,
        } = &layer.kind
        else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let (ety, ity) = (exp_table.ty, inv_table.ty);
            let eb = TableIndex::TopBits {
                bits: exp_table.data.len().trailing_zeros(),
            };
            let ib = TableIndex::TopBits {
                bits: inv_table.data.len().trailing_zeros(),
            };
            let mut out = Vec::with_capacity(x.len());
            for row in x.chunks(channels) {
                let mut e = Vec::with_capacity(row.len());
                for &xi in row {
                    let idx = self.table_index(xi, &eb, &xt.ty).map_err(err)?;
                    e.push(
                        self.b
                            .table(idx, ety.frac(), |m| exp_table.data[m as usize] as i128)
                            .map_err(err)?,
                    );
                }
                let s = self.hls_sum(&e, ety).map_err(err)?;
                let idx = self.table_index(s, &ib, &ety).map_err(err)?;
                let inv = self
                    .b
                    .table(idx, ity.frac(), |m| inv_table.data[m as usize] as i128)
                    .map_err(err)?;
                for &ei in &e {
                    let p = self.mul_split(ei, inv).map_err(err)?;
                    out.push(self.b.cast(p, ty).map_err(err)?);
                }
                self.sync_levels();
            }
            out
        };
        Ok(out)
    }
}
