//! Reference semantics: capped and leaky ReLU, hard sigmoid/tanh, argmax.

use super::arith::*;
use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind};

/// The reference value of a capped ReLU.
pub(super) fn relu_cap(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let LayerKind::ReluCap { cap } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let c = (cap.data as i128, cap.ty.frac());
        x.iter()
            .map(|&v| {
                let v = (v, fx);
                let y = if v.0 <= 0 {
                    (0, 0)
                } else if gt(v, c).ok_or_else(wide)? {
                    c
                } else {
                    v
                };
                Ok(cast(&ty, y))
            })
            .collect::<Result<_>>()?
    })
}

/// The reference value of a leaky ReLU.
pub(super) fn leaky_relu(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let LayerKind::LeakyRelu { alpha } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        x.iter()
            .map(|&v| {
                if v > 0 {
                    Ok(ty.cast(v, fx))
                } else {
                    let p = mul((v, fx), (alpha.data as i128, alpha.ty.frac())).ok_or_else(wide)?;
                    Ok(cast(&ty, p))
                }
            })
            .collect::<Result<_>>()?
    })
}

/// The reference value of a hard sigmoid or tanh.
pub(super) fn hard_sigmoid(
    g: &LayerGraph,
    layer: &Layer,
    values: &[Vec<i128>],
) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let LayerKind::HardSigmoid { slope, shift, tanh } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        x.iter()
            .map(|&v| {
                let t = mul((v, fx), (slope.data as i128, slope.ty.frac()))
                    .and_then(|p| add(p, (shift.data as i128, shift.ty.frac())))
                    .ok_or_else(wide)?;
                let s = if t.0 < 0 {
                    (0, 0)
                } else if gt(t, (1, 0)).ok_or_else(wide)? {
                    (1, 0)
                } else {
                    t
                };
                let y = if *tanh {
                    add((s.0 * 2, s.1), (-1, 0)).ok_or_else(wide)?
                } else {
                    s
                };
                Ok(cast(&ty, y))
            })
            .collect::<Result<_>>()?
    })
}

/// The reference value of an argmax.
pub(super) fn argmax(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let ty = layer.output.ty;
    let channels = *xt.shape.last().unwrap();
    let LayerKind::Argmax = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        x.chunks(channels)
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = i;
                    }
                }
                ty.cast(best as i128, 0)
            })
            .collect()
    })
}
