//! Reference semantics: Lookup tables and the hls4ml latency softmax.

use super::arith::*;
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Layer, LayerGraph, LayerKind};

/// The reference value of a lookup table.
pub(super) fn table(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let ty = layer.output.ty;
    let LayerKind::Table { index, table, .. } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        x.iter()
            .map(|&v| ty.cast(table.data[index.index(v, &xt.ty)] as i128, table.ty.frac()))
            .collect()
    })
}

/// The reference value of the latency softmax.
pub(super) fn softmax(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let ty = layer.output.ty;
    let channels = *xt.shape.last().unwrap();
    let LayerKind::Softmax {
        exp_table,
        inv_table,
    } = &layer.kind
    else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let (ety, ity) = (exp_table.ty, inv_table.ty);
        let eb = exp_table.data.len().trailing_zeros();
        let ib = inv_table.data.len().trailing_zeros();
        let top = |m: i128, t: &FixedType, bits: u32| {
            (crate::ir::fixed::wrap(m, t.width, false) >> (t.width - bits)) as usize
        };
        let mut out = Vec::new();
        for row in x.chunks(channels) {
            let e: Vec<i128> = row
                .iter()
                .map(|&v| exp_table.data[top(v, &xt.ty, eb)] as i128)
                .collect();
            let s = reduce(&e, ety.frac(), &ety);
            let inv = inv_table.data[top(s, &ety, ib)] as i128;
            for &ei in &e {
                out.push(ty.cast(ei * inv, ety.frac() + ity.frac()));
            }
        }
        out
    })
}
