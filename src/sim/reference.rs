//! Layer-level reference evaluator: straight per-layer fixed-point math on `i128`, one sample
//! at a time, with no netlist. It implements hls4ml's semantics literally (including a
//! saturating accumulator's order dependence) and is used in tests to check the lowering.

use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind};

mod activation;
mod arith;
mod conv;
mod merge;
mod pool;
mod shape;
mod table;

use arith::too_wide;

/// Evaluates one sample: flat input mantissas (bus order) → flat output mantissas.
pub fn evaluate(g: &LayerGraph, input: &[i64]) -> Result<Vec<i64>> {
    assert_eq!(input.len(), g.input_len(), "input length");
    let mut values: Vec<Vec<i128>> = Vec::new();
    let mut off = 0;
    for t in &g.inputs {
        values.push(
            input[off..off + t.len()]
                .iter()
                .map(|&v| v as i128)
                .collect(),
        );
        off += t.len();
    }
    for layer in &g.layers {
        let x = &values[layer.input];
        let fx = g.tensor(layer.input).ty.frac();
        let ty = layer.output.ty;
        let out: Vec<i128> = match &layer.kind {
            LayerKind::Flatten => x.clone(),
            LayerKind::Quantize => x.iter().map(|&v| ty.cast(v, fx)).collect(),
            // Each element cast to its own type, then written at the result's frac (exact:
            // the loader checked that the result holds every element type's values).
            LayerKind::QuantizeEach { types } => x
                .iter()
                .zip(types)
                .map(|(&v, t)| match t.cast(v, fx) {
                    0 => 0,
                    m => m << (ty.frac() - t.frac()),
                })
                .collect(),
            LayerKind::Relu => x
                .iter()
                .map(|&v| if v > 0 { ty.cast(v, fx) } else { 0 })
                .collect(),
            LayerKind::Dense {
                weight,
                bias,
                accum,
            } => {
                let (n_in, n_out) = weight.data.dim();
                let (fw, fb) = (weight.ty.frac(), bias.ty.frac());
                let fp = fx + fw;
                let overflow = too_wide(layer);
                let mut out = Vec::with_capacity(x.len() / n_in * n_out);
                for row in x.chunks(n_in) {
                    for j in 0..n_out {
                        let b = bias.data[j] as i128;
                        let y = match accum {
                            Some(a) => {
                                let mut acc = a.cast(b, fb);
                                for (i, &xi) in row.iter().enumerate() {
                                    let p = xi
                                        .checked_mul(weight.data[[i, j]] as i128)
                                        .ok_or_else(overflow)?;
                                    let p = a.cast(p, fp);
                                    acc = a.apply_overflow(acc + p);
                                }
                                ty.cast(acc, a.frac())
                            }
                            None => {
                                // A zero bias is at any frac (it may be far from the products').
                                let f = if b == 0 { fp } else { fp.max(fb) };
                                let mut acc = match b {
                                    0 => 0,
                                    _ => b
                                        .checked_shl((f - fb) as u32)
                                        .filter(|v| v >> (f - fb) == b)
                                        .ok_or_else(overflow)?,
                                };
                                for (i, &xi) in row.iter().enumerate() {
                                    let p = xi
                                        .checked_mul(weight.data[[i, j]] as i128)
                                        .ok_or_else(overflow)?;
                                    let p = p
                                        .checked_shl((f - fp) as u32)
                                        .filter(|v| v >> (f - fp) == p)
                                        .ok_or_else(overflow)?;
                                    acc = acc.checked_add(p).ok_or_else(overflow)?;
                                }
                                ty.cast(acc, f)
                            }
                        };
                        out.push(y);
                    }
                }
                out
            }
            LayerKind::Conv { .. }
            | LayerKind::Pool { .. }
            | LayerKind::Merge { .. }
            | LayerKind::Concatenate { .. }
            | LayerKind::Reshape
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
            | LayerKind::ReluCap { .. }
            | LayerKind::LeakyRelu { .. }
            | LayerKind::HardSigmoid { .. }
            | LayerKind::Argmax
            | LayerKind::BatchNorm { .. }
            | LayerKind::Table { .. }
            | LayerKind::Softmax { .. } => evaluate_layer(g, layer, &values)?,
        };
        values.push(out);
    }
    Ok(g.outputs
        .iter()
        .flat_map(|&t| values[t].iter().map(|&v| v as i64))
        .collect())
}

/// The value of one layer beyond dense, relu, quantize and flatten, from the values of the
/// tensors before it, dispatched to its concept's file.
fn evaluate_layer(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let out: Vec<i128> = match &layer.kind {
        LayerKind::Conv { .. } => conv::conv(g, layer, values)?,
        LayerKind::Pool { .. } => pool::pool(g, layer, values)?,
        LayerKind::Merge { .. } => merge::merge(g, layer, values)?,
        LayerKind::Concatenate { .. } => merge::concatenate(g, layer, values)?,
        LayerKind::Reshape => values[layer.input].clone(),
        LayerKind::Transpose { .. } => shape::transpose(g, layer, values)?,
        LayerKind::Slice { .. } => shape::slice(g, layer, values)?,
        LayerKind::ReluCap { .. } => activation::relu_cap(g, layer, values)?,
        LayerKind::LeakyRelu { .. } => activation::leaky_relu(g, layer, values)?,
        LayerKind::HardSigmoid { .. } => activation::hard_sigmoid(g, layer, values)?,
        LayerKind::Argmax => activation::argmax(g, layer, values)?,
        LayerKind::BatchNorm { .. } => conv::batchnorm(g, layer, values)?,
        LayerKind::Table { .. } => table::table(g, layer, values)?,
        LayerKind::Softmax { .. } => table::softmax(g, layer, values)?,
        LayerKind::Dense { .. }
        | LayerKind::Relu
        | LayerKind::Quantize
        | LayerKind::QuantizeEach { .. }
        | LayerKind::Flatten => {
            unreachable!("evaluated by the caller")
        }
    };
    Ok(out)
}
