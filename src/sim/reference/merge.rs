//! Reference semantics: Element-wise merges and concatenation.

use super::arith::*;
use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind, MergeOp};

/// The reference value of an element-wise merge.
pub(super) fn merge(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let ty = layer.output.ty;
    let LayerKind::Merge { op, others } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let srcs: Vec<(&Vec<i128>, i32)> = std::iter::once(layer.input)
            .chain(others.iter().copied())
            .map(|t| (&values[t], g.tensor(t).ty.frac()))
            .collect();
        (0..x.len())
            .map(|e| {
                let mut acc = (srcs[0].0[e], srcs[0].1);
                for (v, f) in &srcs[1..] {
                    let b = (v[e], *f);
                    acc = match op {
                        MergeOp::Add => add(acc, b),
                        MergeOp::Subtract => add(acc, (-b.0, b.1)),
                        MergeOp::Multiply => mul(acc, b),
                    }
                    .ok_or_else(wide)?;
                }
                Ok(cast(&ty, acc))
            })
            .collect::<Result<_>>()?
    })
}

/// The reference value of a concatenation.
pub(super) fn concatenate(
    g: &LayerGraph,
    layer: &Layer,
    values: &[Vec<i128>],
) -> Result<Vec<i128>> {
    let xt = g.tensor(layer.input);
    let ty = layer.output.ty;
    let LayerKind::Concatenate { others, axis } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let srcs: Vec<usize> = std::iter::once(layer.input)
            .chain(others.iter().copied())
            .collect();
        let shape = &xt.shape;
        let outer: usize = shape[..*axis].iter().product();
        let mut out = Vec::new();
        for o in 0..outer {
            for &t in &srcs {
                let tt = g.tensor(t);
                let block: usize = tt.shape[*axis..].iter().product();
                for &v in &values[t][o * block..(o + 1) * block] {
                    out.push(ty.cast(v, tt.ty.frac()));
                }
            }
        }
        out
    })
}
