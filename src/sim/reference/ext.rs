//! Reference semantics of the layers beyond dense, relu, quantize and flatten: straight math
//! on exact mantissas, one sample at a time, written from docs/model-format.md and independent
//! of the netlist lowering.

use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Layer, LayerGraph, LayerKind, MergeOp, PoolOp};

/// An exact value: mantissa and fractional bits.
type V = (i128, i32);

fn align(a: V, f: i32) -> Option<i128> {
    a.0.checked_mul(1i128.checked_shl((f - a.1) as u32)?)
        .filter(|_| f - a.1 < 127)
}

fn add(a: V, b: V) -> Option<V> {
    let f = a.1.max(b.1);
    Some((align(a, f)?.checked_add(align(b, f)?)?, f))
}

fn mul(a: V, b: V) -> Option<V> {
    Some((a.0.checked_mul(b.0)?, a.1 + b.1))
}

/// `a > b`, exactly.
fn gt(a: V, b: V) -> Option<bool> {
    let f = a.1.max(b.1);
    Some(align(a, f)? > align(b, f)?)
}

fn cast(ty: &FixedType, v: V) -> i128 {
    ty.cast(v.0, v.1)
}

/// hls4ml's dense/conv arithmetic over `(x, w)` mantissa pairs (see `dense` in the format doc).
fn dot(
    pairs: &[(i128, i128)],
    fx: i32,
    fw: i32,
    bias: V,
    accum: Option<&FixedType>,
    result: &FixedType,
) -> Option<i128> {
    match accum {
        Some(a) => {
            let mut acc = cast(a, bias);
            for &(x, w) in pairs {
                let p = cast(a, (x.checked_mul(w)?, fx + fw));
                acc = a.apply_overflow(acc + p);
            }
            Some(result.cast(acc, a.frac()))
        }
        None => {
            let mut acc = bias;
            for &(x, w) in pairs {
                acc = add(acc, (x.checked_mul(w)?, fx + fw))?;
            }
            Some(cast(result, acc))
        }
    }
}

/// hls4ml's `reduce`: the left part is the largest power of two below `n`.
fn reduce(x: &[i128], f: i32, ty: &FixedType) -> i128 {
    match x.len() {
        1 => x[0],
        n => {
            let left = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let a = reduce(&x[..left], f, ty);
            let b = reduce(&x[left..], f, ty);
            ty.cast(a + b, f)
        }
    }
}

/// Evaluates one layer on the values of all earlier tensors.
pub(super) fn evaluate_layer(
    g: &LayerGraph,
    layer: &Layer,
    values: &[Vec<i128>],
) -> Result<Vec<i128>> {
    let wide = || {
        Error::unsupported(
            format!("layer `{}`", layer.name),
            "reference: value exceeds 127 bits",
        )
    };
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let channels = *xt.shape.last().unwrap();
    let out: Vec<i128> = match &layer.kind {
        LayerKind::Conv {
            weight,
            bias,
            accum,
            window,
            c_in,
            c_out,
            depthwise,
        } => {
            let (c_in, c_out) = (*c_in, *c_out);
            let fw = weight.ty.frac();
            let n_ch = if *depthwise { c_in * c_out } else { c_out };
            let mut out = Vec::new();
            for p in 0..window.positions() {
                let taps = window.taps(p);
                for o in 0..n_ch {
                    let mut pairs = Vec::new();
                    for (t, pos) in taps.iter().enumerate() {
                        let Some(ip) = pos else { continue };
                        if *depthwise {
                            let (ci, m) = (o / c_out, o % c_out);
                            pairs.push((
                                x[ip * c_in + ci],
                                weight.data[(t * c_in + ci) * c_out + m] as i128,
                            ));
                        } else {
                            for ci in 0..c_in {
                                pairs.push((
                                    x[ip * c_in + ci],
                                    weight.data[(t * c_in + ci) * c_out + o] as i128,
                                ));
                            }
                        }
                    }
                    let b = (bias.data[o] as i128, bias.ty.frac());
                    out.push(dot(&pairs, fx, fw, b, accum.as_ref(), &ty).ok_or_else(wide)?);
                }
            }
            out
        }
        LayerKind::Pool { op, window, .. } => {
            let mut out = Vec::new();
            for p in 0..window.positions() {
                let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
                for c in 0..channels {
                    let vals = taps.iter().map(|&ip| x[ip * channels + c]);
                    let y = match op {
                        PoolOp::Max => {
                            ty.cast(vals.max().expect("a window has a valid element"), fx)
                        }
                        PoolOp::AvgRecip(rty) => {
                            let s: i128 = vals.sum();
                            let r = crate::ir::layers::recip_mantissa(taps.len(), rty)
                                .expect("checked by the loader");
                            ty.cast(s.checked_mul(r).ok_or_else(wide)?, fx + rty.frac())
                        }
                        PoolOp::Sum | PoolOp::Avg => {
                            let s: i128 = vals.sum();
                            let k = if *op == PoolOp::Avg {
                                taps.len().trailing_zeros() as i32
                            } else {
                                0
                            };
                            ty.cast(s, fx + k)
                        }
                    };
                    out.push(y);
                }
            }
            out
        }
        LayerKind::Merge { op, others } => {
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
        }
        LayerKind::Concatenate { others, axis } => {
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
        }
        LayerKind::Reshape => x.clone(),
        LayerKind::Transpose { perm } => {
            let s = &xt.shape;
            let r = s.len();
            let mut strides = vec![1usize; r];
            for a in (0..r - 1).rev() {
                strides[a] = strides[a + 1] * s[a + 1];
            }
            let oshape: Vec<usize> = perm.iter().map(|&a| s[a]).collect();
            (0..x.len())
                .map(|e| {
                    // Output multi-index of element e, mapped back to the input.
                    let mut rem = e;
                    let mut src = 0;
                    for i in (0..r).rev() {
                        let idx = rem % oshape[i];
                        rem /= oshape[i];
                        src += idx * strides[perm[i]];
                    }
                    x[src]
                })
                .collect()
        }
        LayerKind::Slice { begin, end, step } => {
            // Output element by output element: per axis, begin + index · step.
            let s = &xt.shape;
            let r = s.len();
            let out: Vec<usize> = (0..r)
                .map(|a| (end[a] - begin[a]).div_ceil(step[a]))
                .collect();
            let n: usize = out.iter().product();
            let mut y = Vec::with_capacity(n);
            let mut idx = vec![0usize; r];
            for _ in 0..n {
                let mut src = 0;
                for a in 0..r {
                    src = src * s[a] + begin[a] + idx[a] * step[a];
                }
                y.push(x[src]);
                for a in (0..r).rev() {
                    idx[a] += 1;
                    if idx[a] < out[a] {
                        break;
                    }
                    idx[a] = 0;
                }
            }
            y
        }
        LayerKind::ReluCap { cap } => {
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
        }
        LayerKind::LeakyRelu { alpha } => x
            .iter()
            .map(|&v| {
                if v > 0 {
                    Ok(ty.cast(v, fx))
                } else {
                    let p = mul((v, fx), (alpha.data as i128, alpha.ty.frac())).ok_or_else(wide)?;
                    Ok(cast(&ty, p))
                }
            })
            .collect::<Result<_>>()?,
        LayerKind::HardSigmoid { slope, shift, tanh } => x
            .iter()
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
            .collect::<Result<_>>()?,
        LayerKind::Argmax => x
            .chunks(channels)
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = i;
                    }
                }
                ty.cast(best as i128, 0)
            })
            .collect(),
        LayerKind::BatchNorm { scale, bias } => x
            .iter()
            .enumerate()
            .map(|(e, &v)| {
                let c = e % channels;
                let y = mul((v, fx), (scale.data[c] as i128, scale.ty.frac()))
                    .and_then(|p| add(p, (bias.data[c] as i128, bias.ty.frac())))
                    .ok_or_else(wide)?;
                Ok(cast(&ty, y))
            })
            .collect::<Result<_>>()?,
        LayerKind::Table { index, table, .. } => x
            .iter()
            .map(|&v| ty.cast(table.data[index.index(v, &xt.ty)] as i128, table.ty.frac()))
            .collect(),
        LayerKind::Softmax {
            exp_table,
            inv_table,
        } => {
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
        }
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
