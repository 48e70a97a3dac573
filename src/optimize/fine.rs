//! The fine search: per-weight signed-digit rounding and per-channel activation widths.
//!
//! **Moves.** A *digit* move rounds one weight to a neighbour with one non-zero canonical
//! signed digit fewer (its lowest digit removed: `7 = 8 − 1 → 8`, `5 = 4 + 1 → 4`, a power of
//! two → 0): one adder fewer in that output's sum. A *channel* move takes one integer or
//! fractional bit from one channel of an activation site that allows it ([`Each`]).
//!
//! **Guide.** Every move is ranked by its estimated LUT saving per unit of estimated damage.
//! The damage is linearised at the current design, from its cached tensors: the outputs'
//! sensitivity to each tensor element is propagated backwards (dense layers through their
//! weights, ReLUs and saturating casts through their active and unsaturated elements, in the
//! directions that matter for the metric, [`Reference::directions`]), and a move's exact
//! change of the values it touches is weighed by it. A weight `w_ij` changes output `j` of its
//! layer only, by `Δw·x_i`, so all digit moves of a layer cost one matrix product
//! `(x²)ᵀ·gain`. Savings: a removed digit saves an adder about as wide as its input; a
//! channel bit saves one bit of every adder term that reads the channel.
//!
//! **Batches.** The moves, best first, are taken as the longest prefix that still meets the
//! tolerance (an exponential then binary search, each probe one incremental simulation on
//! the calibration set), compiled once for its cost and latency, and kept when it is cheaper
//! and within the latency budget (else the prefix halves). Then the guide is recomputed. A
//! first move that fails alone is frozen. Everything is sequential or order-preserving, so
//! the result does not depend on the thread count.

use super::analysis::{analyze, Analysis, Span};
use super::cache::Cache;
use super::metric::{Eval, Reference};
use super::narrow::{is_zero_type, readers};
use super::search::{channel_type, Dim, Knob, Point, Problem, Setting, Site};
use crate::error::Result;
use crate::ir::fixed::{FixedType, Overflow};
use crate::ir::layers::{Layer, LayerGraph, LayerKind, MergeOp, PoolOp};
use crate::passes::csd::csd;
use indicatif::ProgressBar;
use ndarray::{Array2, Axis};
use std::collections::HashSet;

/// Rounds of the fine search at most (each: a guide, a batch search, one compile).
const MAX_ROUNDS: usize = 40;
/// The share of the remaining tolerance one batch may spend.
const STEP_SHARE: f64 = 0.5;
/// Consecutive first moves that fail alone before the fine search stops.
const MAX_FROZEN_STREAK: usize = 8;

/// One fine move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FineMove {
    /// Weight `[i, j]` of weight site `site` becomes `to` (a mantissa of the start's weight
    /// type).
    Digit {
        site: usize,
        i: usize,
        j: usize,
        to: i64,
    },
    /// One bit less for channel `c` of activation site `site`.
    Channel { site: usize, c: usize, dim: Dim },
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    mv: FineMove,
    saving: f64,
    damage: f64,
}

/// What the fine search found.
pub struct Refined {
    /// Every compiled point (accepted batches and rejected ones).
    pub points: Vec<Point>,
    /// The last accepted design (`from` when none was).
    pub last: Point,
    pub simulations: usize,
    pub compiles: usize,
}

/// The setting with moves applied (each a step from `s`).
pub fn with_moves(p: &Problem, s: &Setting, moves: &[FineMove]) -> Setting {
    let mut next = s.clone();
    for &m in moves {
        match m {
            FineMove::Digit { site, i, j, to } => {
                let w = next.weights[site].get_or_insert_with(|| base_weights(p, site).clone());
                w[[i, j]] = to;
            }
            FineMove::Channel { site, c, dim } => {
                let Knob::Act { int, frac } = next.knobs[site] else {
                    continue;
                };
                let Site::Act {
                    each: Some(each), ..
                } = &p.sites[site]
                else {
                    continue;
                };
                let ch =
                    next.channels[site].get_or_insert_with(|| vec![(int, frac); each.channels]);
                let (ci, cf) = (ch[c].0.min(int), ch[c].1.min(frac));
                ch[c] = match dim {
                    Dim::Int => (ci - 1, cf),
                    _ => (ci, cf - 1),
                };
            }
        }
    }
    next
}

fn base_weights(p: &Problem, site: usize) -> &Array2<i64> {
    let Site::Weight { layer } = p.sites[site] else {
        unreachable!("a weight site")
    };
    match &p.base.layers[layer].kind {
        LayerKind::Dense { weight, .. } => &weight.data,
        LayerKind::Relu
        | LayerKind::Quantize
        | LayerKind::QuantizeEach { .. }
        | LayerKind::Flatten
        | LayerKind::Conv { .. }
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
        | LayerKind::Softmax { .. } => unreachable!("weight sites are dense layers"),
    }
}

/// Real values of tensor `t` of `g` (cached mantissas).
fn values(g: &LayerGraph, cache: &Cache, t: usize) -> Array2<f64> {
    let f = g.tensor(t).ty.frac();
    let scale = (-f64::from(f)).exp2();
    cache.tensor(t).mapv(|m| m as f64 * scale)
}

/// Per tensor: the guide's damage per unit squared change of each element's value, per
/// sample (`[samples, elements]`); `None` where unknown (a tensor read by a layer kind the
/// propagation does not follow, or one that no output depends on).
pub fn gains(g: &LayerGraph, cache: &Cache, dirs: &[Array2<f64>]) -> Vec<Option<Array2<f64>>> {
    let n_in = g.inputs.len();
    let nt = n_in + g.layers.len();
    let mut total: Vec<Option<Array2<f64>>> = vec![None; nt];
    // Tensors some reader of which the propagation cannot follow.
    let mut poisoned = vec![false; nt];
    for l in &g.layers {
        if follow(g, l) == Follow::No {
            poisoned[l.input] = true;
            for &o in l.kind.others() {
                poisoned[o] = true;
            }
        }
    }
    let samples = cache.tensor(0).nrows();
    for dir in dirs {
        let mut grads: Vec<Option<Array2<f64>>> = vec![None; nt];
        let mut col = 0;
        for &t in &g.outputs {
            let n = g.tensor(t).len();
            let seed = dir.slice(ndarray::s![.., col..col + n]).to_owned();
            col += n;
            accumulate(&mut grads[t], seed);
        }
        for k in (0..g.layers.len()).rev() {
            let t = n_in + k;
            let l = &g.layers[k];
            if poisoned[t] {
                poisoned[l.input] = true;
                for &o in l.kind.others() {
                    poisoned[o] = true;
                }
                continue;
            }
            let Some(gy) = grads[t].as_ref() else {
                continue;
            };
            if follow(g, l) != Follow::Yes {
                continue;
            }
            // The sensitivity of a merge's other operands.
            let mut pending: Vec<(usize, Array2<f64>)> = Vec::new();
            let gx = match &l.kind {
                LayerKind::Dense { weight, .. } => {
                    let (n_i, n_o) = weight.data.dim();
                    let rows = l.output.len() / n_o;
                    let scale = (-f64::from(weight.ty.frac())).exp2();
                    let w = weight.data.mapv(|m| m as f64 * scale);
                    let gy2 = gy
                        .as_standard_layout()
                        .into_owned()
                        .into_shape_with_order((samples * rows, n_o))
                        .expect("rows of outputs");
                    gy2.dot(&w.t())
                        .as_standard_layout()
                        .into_owned()
                        .into_shape_with_order((samples, rows * n_i))
                        .expect("rows of inputs")
                }
                LayerKind::Flatten | LayerKind::Reshape => gy.clone(),
                // A global pool: each output channel from every row of its channel.
                LayerKind::Pool { op, .. } => {
                    let c = l.output.len();
                    let n = g.tensor(l.input).len();
                    let rows = (n / c.max(1)) as f64;
                    let x = values(g, cache, l.input);
                    let mut gx = Array2::zeros((samples, n));
                    for s_i in 0..samples {
                        for ch in 0..c {
                            match op {
                                PoolOp::Max => {
                                    let best = (ch..n).step_by(c).fold(ch, |b, e| {
                                        if x[[s_i, e]] > x[[s_i, b]] {
                                            e
                                        } else {
                                            b
                                        }
                                    });
                                    gx[[s_i, best]] = gy[[s_i, ch]];
                                }
                                PoolOp::Sum => {
                                    for e in (ch..n).step_by(c) {
                                        gx[[s_i, e]] = gy[[s_i, ch]];
                                    }
                                }
                                PoolOp::Avg | PoolOp::AvgRecip(_) => {
                                    for e in (ch..n).step_by(c) {
                                        gx[[s_i, e]] = gy[[s_i, ch]] / rows;
                                    }
                                }
                            }
                        }
                    }
                    gx
                }
                LayerKind::Relu | LayerKind::Quantize | LayerKind::QuantizeEach { .. } => {
                    let x = values(g, cache, l.input);
                    let y = values(g, cache, t);
                    let n = l.output.len();
                    let relu = matches!(l.kind, LayerKind::Relu);
                    // Per element: its own LSB, or none for an always-zero element.
                    let lsb: Vec<Option<f64>> = (0..n)
                        .map(|e| {
                            let ty = match &l.kind {
                                LayerKind::QuantizeEach { types } => types[e],
                                LayerKind::Dense { .. }
                                | LayerKind::Relu
                                | LayerKind::Quantize
                                | LayerKind::Flatten
                                | LayerKind::Conv { .. }
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
                                | LayerKind::Softmax { .. } => l.output.ty,
                            };
                            (!is_zero_type(&ty)).then(|| (-f64::from(ty.frac())).exp2())
                        })
                        .collect();
                    let mut gx = gy.clone();
                    for ((mut row, xr), yr) in gx
                        .axis_iter_mut(Axis(0))
                        .zip(x.axis_iter(Axis(0)))
                        .zip(y.axis_iter(Axis(0)))
                    {
                        for e in 0..n {
                            let active = match lsb[e] {
                                None => false,
                                Some(q) => (!relu || xr[e] > 0.0) && (xr[e] - yr[e]).abs() <= q,
                            };
                            if !active {
                                row[e] = 0.0;
                            }
                        }
                    }
                    gx
                }
                // Per channel (last axis) `y = x·scale + bias`.
                LayerKind::BatchNorm { scale, .. } => {
                    let c = scale.data.len().max(1);
                    let unit = (-f64::from(scale.ty.frac())).exp2();
                    let mut gx = gy.clone();
                    for mut row in gx.axis_iter_mut(Axis(0)) {
                        for (e, v) in row.iter_mut().enumerate() {
                            *v *= scale.data[e % c] as f64 * unit;
                        }
                    }
                    gx
                }
                // Element-wise: `input ± others…`, or their product.
                LayerKind::Merge { op, others } => {
                    let operands: Vec<usize> = std::iter::once(l.input)
                        .chain(others.iter().copied())
                        .collect();
                    let vals: Vec<Array2<f64>> = match op {
                        MergeOp::Multiply => {
                            operands.iter().map(|&o| values(g, cache, o)).collect()
                        }
                        _ => Vec::new(),
                    };
                    for (i, &o) in operands.iter().enumerate().skip(1) {
                        let go = match op {
                            MergeOp::Add => gy.clone(),
                            MergeOp::Subtract => gy.mapv(|v| -v),
                            MergeOp::Multiply => product_but(gy, &vals, i),
                        };
                        pending.push((o, go));
                    }
                    match op {
                        MergeOp::Multiply => product_but(gy, &vals, 0),
                        _ => gy.clone(),
                    }
                }
                // Not followed: its inputs are poisoned (see above).
                LayerKind::Conv { .. }
                | LayerKind::Concatenate { .. }
                | LayerKind::Transpose { .. }
                | LayerKind::Slice { .. }
                | LayerKind::ReluCap { .. }
                | LayerKind::LeakyRelu { .. }
                | LayerKind::HardSigmoid { .. }
                | LayerKind::Argmax
                | LayerKind::Table { .. }
                | LayerKind::Softmax { .. } => continue,
            };
            let src = l.input;
            accumulate(&mut grads[src], gx);
            for (o, go) in pending {
                accumulate(&mut grads[o], go);
            }
        }
        for t in 0..nt {
            if let Some(gr) = grads[t].take() {
                accumulate(&mut total[t], gr.mapv(|v| v * v));
            }
        }
    }
    for t in 0..nt {
        if poisoned[t] {
            total[t] = None;
        }
    }
    total
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follow {
    /// The sensitivity passes through the layer to its input.
    Yes,
    /// The layer adds nothing: an `argmax` (piecewise constant), or a table or softmax whose
    /// input is itself a model output (that output's direction covers it).
    Skip,
    /// Not modelled: the sensitivity of the layer's inputs is unknown.
    No,
}

fn follow(g: &LayerGraph, l: &Layer) -> Follow {
    match &l.kind {
        LayerKind::Dense { .. }
        | LayerKind::Relu
        | LayerKind::Quantize
        | LayerKind::QuantizeEach { .. }
        | LayerKind::Flatten
        | LayerKind::Reshape
        | LayerKind::Pool { global: true, .. }
        | LayerKind::BatchNorm { .. }
        | LayerKind::Merge { .. } => Follow::Yes,
        LayerKind::Argmax => Follow::Skip,
        LayerKind::Softmax { .. } | LayerKind::Table { .. } if g.outputs.contains(&l.input) => {
            Follow::Skip
        }
        LayerKind::Conv { .. }
        | LayerKind::Pool { .. }
        | LayerKind::Concatenate { .. }
        | LayerKind::Transpose { .. }
        | LayerKind::Slice { .. }
        | LayerKind::ReluCap { .. }
        | LayerKind::LeakyRelu { .. }
        | LayerKind::HardSigmoid { .. }
        | LayerKind::Table { .. }
        | LayerKind::Softmax { .. } => Follow::No,
    }
}

/// `gy` times every operand's values but the `skip`-th (a product's partial derivative).
fn product_but(gy: &Array2<f64>, vals: &[Array2<f64>], skip: usize) -> Array2<f64> {
    let mut g = gy.clone();
    for (j, v) in vals.iter().enumerate() {
        if j != skip {
            g *= v;
        }
    }
    g
}

fn accumulate(slot: &mut Option<Array2<f64>>, v: Array2<f64>) {
    match slot {
        Some(a) => *a += &v,
        None => *slot = Some(v),
    }
}

/// The lowest canonical signed digit of `m` removed.
fn drop_lowest_digit(m: i64) -> i64 {
    match csd(i128::from(m)).first() {
        Some(&(k, neg)) => {
            let d = 1i64 << k;
            if neg {
                m + d
            } else {
                m - d
            }
        }
        None => m,
    }
}

/// Element `e`'s type in tensor `t` of `g` (per-element types looked through).
fn element_type(g: &LayerGraph, t: usize, e: usize) -> FixedType {
    match t.checked_sub(g.inputs.len()).map(|k| &g.layers[k].kind) {
        Some(LayerKind::QuantizeEach { types }) => types[e],
        _ => g.tensor(t).ty,
    }
}

/// Adder terms that read each element of tensor `t` (its non-zero digits in the weights of
/// every dense reader; one for any other reader).
fn terms_per_element(g: &LayerGraph, t: usize) -> Vec<f64> {
    let n = g.tensor(t).len();
    let mut terms = vec![0.0; n];
    for j in readers(g, t) {
        match &g.layers[j].kind {
            LayerKind::Dense { weight, .. } => {
                let n_i = weight.data.nrows();
                let per_row: Vec<f64> = (0..n_i)
                    .map(|i| {
                        weight
                            .data
                            .row(i)
                            .iter()
                            .map(|&w| csd(i128::from(w)).len() as f64)
                            .sum()
                    })
                    .collect();
                for (e, v) in terms.iter_mut().enumerate() {
                    *v += per_row[e % n_i];
                }
            }
            LayerKind::Relu
            | LayerKind::Quantize
            | LayerKind::QuantizeEach { .. }
            | LayerKind::Flatten
            | LayerKind::Conv { .. }
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
            | LayerKind::Softmax { .. } => terms.iter_mut().for_each(|v| *v += 1.0),
        }
    }
    terms
}

/// Every fine move from `s` (the model `g`, its tensors cached), with its estimated saving
/// and damage.
fn candidates(
    p: &Problem,
    s: &Setting,
    g: &LayerGraph,
    cache: &Cache,
    gain: &[Option<Array2<f64>>],
    frozen: &HashSet<FineMove>,
) -> Vec<Candidate> {
    let n_in = g.inputs.len();
    let mut out = Vec::new();
    let mut spans: Option<Analysis> = None;
    for (site, kind) in p.sites.iter().enumerate() {
        match (kind, s.knobs[site]) {
            (&Site::Weight { layer }, Knob::Weight { drop }) => {
                let t = n_in + layer;
                let Some(gy) = gain[t].as_ref() else {
                    continue;
                };
                let l = &g.layers[layer];
                let LayerKind::Dense { weight, .. } = &l.kind else {
                    continue;
                };
                let (n_i, n_o) = weight.data.dim();
                let rows = l.output.len() / n_o;
                let samples = gy.nrows();
                let x = values(g, cache, l.input)
                    .mapv(|v| v * v)
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order((samples * rows, n_i))
                    .expect("rows of inputs");
                let gy = gy
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order((samples * rows, n_o))
                    .expect("rows of outputs");
                let sens = x.t().dot(&gy); // [n_i, n_o]
                let fw = weight.ty.frac();
                // A weight may round to the power of two just past its type's largest code
                // (the type then gains an integer bit, see `Problem::apply`), never further.
                let (lo, hi) = (weight.ty.min_mantissa(), weight.ty.max_mantissa() + 1);
                for i in 0..n_i {
                    let width = f64::from(element_type(g, l.input, i).width);
                    for j in 0..n_o {
                        let m = weight.data[[i, j]];
                        let to = drop_lowest_digit(m);
                        if m == 0 || !(lo..=hi).contains(&i128::from(to)) {
                            continue;
                        }
                        let mv = FineMove::Digit {
                            site,
                            i,
                            j,
                            to: to << drop,
                        };
                        if frozen.contains(&mv) {
                            continue;
                        }
                        let dw = (to - m) as f64 * (-f64::from(fw)).exp2();
                        out.push(Candidate {
                            mv,
                            saving: width + 1.0,
                            damage: dw * dw * sens[[i, j]],
                        });
                    }
                }
            }
            (
                &Site::Act {
                    layer,
                    signed,
                    round,
                    each: Some(ref each),
                },
                Knob::Act { int, frac },
            ) => {
                let t = n_in + layer;
                let Some(gy) = gain[t].as_ref() else {
                    continue;
                };
                let l = &g.layers[layer];
                let x = values(g, cache, l.input);
                let y = values(g, cache, t);
                let terms = terms_per_element(g, t);
                let relu = matches!(p.base.layers[layer].kind, LayerKind::Relu);
                let per_channel = matches!(l.kind, LayerKind::QuantizeEach { .. });
                let ch = s.channels[site].as_ref();
                let n = l.output.len();
                for c in 0..each.channels {
                    let (ci, cf) = ch.map_or((int, frac), |v| (v[c].0.min(int), v[c].1.min(frac)));
                    let now = element_type(g, t, c);
                    for dim in [Dim::Frac, Dim::Int] {
                        let (ni, nf) = match dim {
                            Dim::Int => (ci - 1, cf),
                            _ => (ci, cf - 1),
                        };
                        let signed = signed && !relu;
                        if ni + nf + i32::from(signed) < 0 {
                            continue;
                        }
                        // Only a move that binds (the narrowed type uses the bit) saves.
                        let binds = !is_zero_type(&now)
                            && match dim {
                                Dim::Int => now.int_bits - i32::from(now.signed) >= ci,
                                _ => now.frac() >= cf,
                            };
                        let mv = FineMove::Channel { site, c, dim };
                        if !binds || frozen.contains(&mv) {
                            continue;
                        }
                        let elems: Vec<usize> = (c..n).step_by(each.channels).collect();
                        let mut saving: f64 = elems.iter().map(|&e| terms[e]).sum();
                        if dim == Dim::Int {
                            // An integer bit the values can reach turns a cast that provably
                            // fits into a saturating one: a LUT per bit and a detector.
                            let an = spans.get_or_insert_with(|| analyze(g));
                            let new_ty = channel_type(signed, ni, nf, Overflow::Sat);
                            for &e in &elems {
                                let src = an.sources[layer].as_ref().map(|v| v[e]);
                                if let (Some(src), Some(ty)) = (src, new_ty) {
                                    if newly_saturates(&src, &now, &ty, signed) {
                                        saving -= f64::from(ty.width) + 1.0;
                                    }
                                }
                            }
                            if saving <= 0.0 {
                                continue;
                            }
                        }
                        // The new value of each element from the value the cast receives (the
                        // current channel's half, folded into the bias, taken out again).
                        let lsb = (-f64::from(nf)).exp2();
                        let max = (f64::from(ni)).exp2() - lsb;
                        let min = if signed { -(f64::from(ni)).exp2() } else { 0.0 };
                        let zero = ni + nf + i32::from(signed) == 0;
                        let half_now = match (per_channel, each.bias_from) {
                            (true, Some(_)) if !is_zero_type(&now) => {
                                (-f64::from(now.frac() + 1)).exp2()
                            }
                            _ => 0.0,
                        };
                        let mut damage = 0.0;
                        for (s_i, (xr, yr)) in
                            x.axis_iter(Axis(0)).zip(y.axis_iter(Axis(0))).enumerate()
                        {
                            for &e in &elems {
                                let v = xr[e] - half_now;
                                let new = if zero || (relu && v <= 0.0) {
                                    0.0
                                } else {
                                    let q = v / lsb;
                                    let r = match round {
                                        crate::ir::fixed::Round::Trn => q.floor(),
                                        _ => (q + 0.5).floor(),
                                    };
                                    (r * lsb).clamp(min, max)
                                };
                                let d = new - yr[e];
                                damage += gy[[s_i, e]] * d * d;
                            }
                        }
                        out.push(Candidate { mv, saving, damage });
                    }
                }
            }
            _ => {}
        }
    }
    // Best saving per unit of damage first; ties in a fixed order.
    let ratio = |c: &Candidate| c.saving / c.damage.max(1e-300);
    out.sort_by(|a, b| {
        ratio(b)
            .total_cmp(&ratio(a))
            .then(b.saving.total_cmp(&a.saving))
            .then_with(|| key(&a.mv).cmp(&key(&b.mv)))
    });
    out
}

/// Does casting values of `src` to `new` need saturation logic where casting them to `now`
/// did not? An unsigned cast of a signed value (a ReLU) is judged on the positive part, since
/// the negative side is the ReLU's own zeroing.
fn newly_saturates(src: &Span, now: &FixedType, new: &FixedType, signed: bool) -> bool {
    let pos = match signed {
        true => *src,
        false if src.hi <= 0 => return false,
        false => Span {
            lo: src.lo.max(0),
            ..*src
        },
    };
    let fits = |ty: &FixedType| !is_zero_type(ty) && pos.overflows(ty) == Some(false);
    fits(now) && !fits(new)
}

fn key(m: &FineMove) -> (usize, usize, usize, i64) {
    match *m {
        FineMove::Digit { site, i, j, to } => (site, i, j, to),
        FineMove::Channel { site, c, dim } => (site, c, usize::MAX, dim as i64),
    }
}

/// Does the fine search have any move from the start design (a weight digit, or a channel
/// of a site whose sensitivity is known)?
pub fn has_moves(p: &Problem) -> Result<bool> {
    let g = p.apply(&p.start);
    let cache = Cache::new(&g, &p.calib)?;
    let dirs = p.reference.directions(&g, &cache.outputs_of(&g));
    let gain = gains(&g, &cache, &dirs);
    Ok(!candidates(p, &p.start, &g, &cache, &gain, &HashSet::new()).is_empty())
}

/// Runs the fine search from the compiled design `from` with accuracy limit `limit`.
pub fn refine(p: &Problem, bar: &ProgressBar, from: &Point, limit: f64) -> Result<Refined> {
    let mut sims = 0usize;
    let mut compiles = 0usize;
    let mut points = Vec::new();
    let mut current = from.clone();
    let mut state = from.setting.clone();
    let mut graph = p.apply(&state);
    let mut cache = Cache::new(&graph, &p.calib)?;
    let mut frozen: HashSet<FineMove> = HashSet::new();
    let mut guess = 0usize;
    let eval = |cache: &Cache, g: &LayerGraph, sims: &mut usize| -> Result<Eval> {
        *sims += 1;
        super::search::measure(&p.reference, cache, g)
    };
    let reference: &Reference = &p.reference;
    let g0 = p.apply(&p.start);
    let cache0 = Cache::new(&g0, &p.calib)?;
    // Takes the bias correction of a passing candidate when it does not make it worse.
    let correct = |s: Setting,
                   g: LayerGraph,
                   e: Eval,
                   sims: &mut usize|
     -> Result<(Setting, LayerGraph, Eval)> {
        let c = Cache::new(&g, &p.calib)?;
        *sims += 1;
        let s2 = bias_corrected(&s, &g, &c, &g0, &cache0);
        let g2 = p.apply(&s2);
        let e2 = eval(&c, &g2, sims)?;
        Ok(
            match e2.error < e.error || (e2.error == e.error && e2.mse < e.mse) {
                true => (s2, g2, e2),
                false => (s, g, e),
            },
        )
    };
    for _ in 0..MAX_ROUNDS {
        bar.set_message(format!(
            "fine: {} LUT + {} FF, {} cycles, {} {}",
            current.lut,
            current.ff,
            current.latency_cycles,
            reference.metric.name(),
            reference.metric.show(current.error),
        ));
        let outputs = cache.outputs_of(&graph);
        let dirs = reference.directions(&graph, &outputs);
        let gain = gains(&graph, &cache, &dirs);
        let cands = candidates(p, &state, &graph, &cache, &gain, &frozen);
        if cands.is_empty() {
            break;
        }
        if guess == 0 {
            guess = (cands.len() / 8).max(1);
        }
        let moves: Vec<FineMove> = cands.iter().map(|c| c.mv).collect();
        // A batch may spend part of the remaining tolerance (at least one sample's worth for
        // argmax), so that the guide is renewed before the rest is spent.
        let one = 1.0 / p.calib.nrows().max(1) as f64;
        let step_limit =
            (current.error + ((limit - current.error) * STEP_SHARE).max(one)).min(limit);
        let mut first = 0usize;
        let mut streak = 0usize;
        let mut taken = None;
        while taken.is_none() && first < moves.len() && streak < MAX_FROZEN_STREAK {
            let rest = &moves[first..];
            let test = |n: usize, sims: &mut usize| -> Result<(bool, Setting, LayerGraph, Eval)> {
                let s = with_moves(p, &state, &rest[..n]);
                let g = p.apply(&s);
                let e = eval(&cache, &g, sims)?;
                Ok((e.error <= step_limit, s, g, e))
            };
            // The longest passing prefix: exponential search from the last size, then binary.
            let (mut lo, mut hi) = (0usize, rest.len() + 1);
            let mut best = None;
            let mut n = guess.clamp(1, rest.len());
            loop {
                let r = test(n, &mut sims)?;
                if r.0 {
                    lo = n;
                    best = Some(r);
                    if n == rest.len() {
                        break;
                    }
                    n = (n * 2).min(rest.len());
                    if n >= hi {
                        break;
                    }
                } else {
                    hi = n;
                    break;
                }
            }
            while hi - lo > 1 && hi > lo + (lo / 16).max(1) {
                let mid = (lo + hi) / 2;
                let r = test(mid, &mut sims)?;
                if r.0 {
                    lo = mid;
                    best = Some(r);
                } else {
                    hi = mid;
                }
            }
            // Compile the prefix; halve it while it is not cheaper or leaves the budget.
            while let Some((_, s, g, e)) = best.take() {
                let (s, g, e) = correct(s, g, e, &mut sims)?;
                compiles += 1;
                let needed = p.budget.is_some() && !p.within_budget(&current);
                let label = describe(&rest[..lo]);
                let q = p.point(label, &s, &g, e, needed)?;
                let ok = q.cost() < current.cost()
                    && match p.budget {
                        Some(b) if p.within_budget(&current) => q.latency_cycles <= b,
                        Some(_) => q.latency_cycles <= current.latency_cycles,
                        None => true,
                    };
                if ok {
                    taken = Some((lo, s, g, q));
                    break;
                }
                points.push(q);
                if lo > 1 {
                    lo /= 2;
                    let r = test(lo, &mut sims)?;
                    if r.0 {
                        best = Some(r);
                    }
                }
            }
            if taken.is_none() {
                // The best move fails alone, or its prefix never paid: freeze them.
                let n = lo.max(1);
                frozen.extend(rest[..n].iter().copied());
                first += n;
                streak += 1;
            }
        }
        let Some((n, s, g, q)) = taken else {
            break;
        };
        guess = n;
        state = s;
        graph = g;
        cache = Cache::new(&graph, &p.calib)?;
        current = Point {
            accepted: true,
            ..q
        };
        points.push(current.clone());
        bar.inc(1);
    }
    Ok(Refined {
        points,
        last: current,
        simulations: sims,
        compiles,
    })
}

/// Bias correction: for every dense layer, the mean change (over the calibration set) of
/// its sum of products from the start design `g0` to `g` is taken back through its bias, on
/// the grid of its products (a constant: it costs no adder). Rounding weights to fewer digits
/// and truncating activations shift the sums on average; this removes the shift and leaves
/// only the noise.
pub fn bias_corrected(
    s: &Setting,
    g: &LayerGraph,
    cache: &Cache,
    g0: &LayerGraph,
    cache0: &Cache,
) -> Setting {
    let mut next = s.clone();
    let samples = cache.tensor(0).nrows().max(1);
    let mean_sum = |g: &LayerGraph, cache: &Cache, k: usize| -> Option<Vec<f64>> {
        let l = &g.layers[k];
        let LayerKind::Dense { weight, .. } = &l.kind else {
            return None;
        };
        let (n_i, n_o) = weight.data.dim();
        let rows = l.output.len() / n_o;
        let scale = (-f64::from(weight.ty.frac())).exp2();
        let w = weight.data.mapv(|m| m as f64 * scale);
        let x = values(g, cache, l.input)
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((samples * rows, n_i))
            .ok()?;
        let y = x.dot(&w);
        y.mean_axis(Axis(0)).map(|m| m.to_vec())
    };
    for k in 0..g.layers.len() {
        let (Some(now), Some(then)) = (mean_sum(g, cache, k), mean_sum(g0, cache0, k)) else {
            continue;
        };
        let LayerKind::Dense { weight, .. } = &g.layers[k].kind else {
            continue;
        };
        let input = g.layers[k].input;
        let grid = (0..g.tensor(input).len())
            .map(|e| element_type(g, input, e).frac())
            .max()
            .unwrap_or(0)
            + weight.ty.frac();
        let (f, old) = match &s.bias[k] {
            Some((f, o)) => (
                grid.max(*f),
                o.iter().map(|&v| v << (grid.max(*f) - f)).collect(),
            ),
            None => (grid, vec![0i64; now.len()]),
        };
        let unit = f64::from(f).exp2();
        let off: Vec<i64> = old
            .iter()
            .zip(now.iter().zip(&then))
            .map(|(&o, (a, b))| o + ((b - a) * unit).round() as i64)
            .collect();
        next.bias[k] = Some((f, off));
    }
    next
}

/// A batch in words: `fine: 812 weight digits, 40 channel bits`.
fn describe(moves: &[FineMove]) -> String {
    let digits = moves
        .iter()
        .filter(|m| matches!(m, FineMove::Digit { .. }))
        .count();
    format!(
        "fine: −{} weight digits, −{} channel bits",
        digits,
        moves.len() - digits
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guide's gains of `g` on inputs `x` for the MSE metric.
    fn mse_gains(g: &LayerGraph, x: &Array2<i64>) -> Vec<Option<Array2<f64>>> {
        let y = super::super::simulate(g, x).unwrap();
        let reference = Reference::new(
            g,
            &y,
            super::super::metric::Metric::Mse,
            super::super::metric::Tolerance::Absolute(1.0),
        );
        let cache = Cache::new(g, x).unwrap();
        let dirs = reference.directions(g, &cache.outputs_of(g));
        gains(g, &cache, &dirs)
    }

    /// Through a dense layer and a ReLU, the sensitivity of an input element is the squared
    /// weight path of the active neurons, per sample (MSE directions: 1/(samples · outputs)).
    #[test]
    fn gains_follow_weights_and_active_relus() {
        let text = r#"{"format": "rtl4ml-model", "version": 1, "name": "t",
            "inputs": [{"name": "x", "shape": [2], "type": "fixed<8,4>"}],
            "layers": [
              {"name": "d", "kind": "dense", "weight": {"type": "fixed<6,4>", "shape": [2, 2],
               "data": [8, -4, 2, 6]}, "result": "fixed<16,8>"},
              {"name": "r", "kind": "relu", "result": "fixed<16,8>"},
              {"name": "o", "kind": "dense", "weight": {"type": "fixed<6,4>", "shape": [2, 1],
               "data": [4, -12]}, "result": "fixed<20,10>"}],
            "outputs": ["o"]}"#;
        let g = crate::frontend::native::parse(text, "t").unwrap();
        // x = (1, 1): both neurons active; x = (-1, 0): neuron 0 off, neuron 1 on.
        let x = Array2::from_shape_vec((2, 2), vec![16, 16, -16, 0]).unwrap();
        let gain = mse_gains(&g, &x);
        let n = 2.0; // samples · output elements
                     // Input x: J = W1 · diag(active) · W2 with W1 = [[2, -1], [0.5, 1.5]], W2 = [1, -3].
        let gx = gain[0].as_ref().unwrap();
        let both = [2.0 * 1.0 + -1.0 * -3.0, 0.5 * 1.0 + 1.5 * -3.0];
        let one = [-1.0 * -3.0, 1.5 * -3.0];
        for e in 0..2 {
            assert!((gx[[0, e]] - both[e] * both[e] / n).abs() < 1e-12);
            assert!((gx[[1, e]] - one[e] * one[e] / n).abs() < 1e-12);
        }
        // The ReLU's output: the second layer's weights, whatever is active.
        let gr = gain[2].as_ref().unwrap();
        assert!((gr[[1, 0]] - 1.0 / n).abs() < 1e-12 && (gr[[1, 1]] - 9.0 / n).abs() < 1e-12);
    }

    /// An integer bit the values reach turns a cast that fits into a saturating one; a
    /// fractional bit never does, and a ReLU (unsigned) is judged on the positive values only.
    #[test]
    fn newly_saturating_casts() {
        use crate::ir::fixed::Round;
        let ty = |signed, w, i| FixedType::new(signed, w, i).with_modes(Round::Trn, Overflow::Sat);
        // Values in [−9.375, 6.25] (mantissas at frac 5).
        let src = Span {
            lo: -300,
            hi: 200,
            frac: 5,
        };
        let neg = Span {
            lo: -300,
            hi: -1,
            frac: 5,
        };
        // (values, now, new, signed, newly saturates): a ReLU (unsigned) looks only at
        // [0, 6.25]; a type that saturates already adds nothing; signed −9.375 needs ±16.
        let cases = [
            (src, ty(false, 8, 3), ty(false, 7, 2), false, true),
            (src, ty(false, 8, 3), ty(false, 7, 3), false, false),
            (src, ty(false, 6, 2), ty(false, 5, 2), false, false),
            (neg, ty(false, 8, 3), ty(false, 1, 0), false, false),
            (src, ty(true, 10, 5), ty(true, 9, 4), true, true),
            (src, ty(true, 10, 5), ty(true, 9, 5), true, false),
        ];
        for (k, (v, now, new, signed, want)) in cases.into_iter().enumerate() {
            assert_eq!(newly_saturates(&v, &now, &new, signed), want, "case {k}");
        }
    }

    /// Through a batchnorm (times its scale) and merges (a product's partial derivatives,
    /// a difference's signs): `s = bn² − bn` with `bn = x · scale` has `∂s_e/∂x_e =
    /// (2·bn_e − 1) · scale_e`; the gain is its square over samples · outputs (MSE).
    #[test]
    fn gains_follow_batchnorm_and_merges() {
        let text = r#"{"format": "rtl4ml-model", "version": 1, "name": "t",
            "inputs": [{"name": "x", "shape": [2], "type": "fixed<8,4>"}],
            "layers": [
              {"name": "bn", "kind": "batchnorm", "scale": {"type": "fixed<8,4>",
               "data": [32, -16]}, "bias": {"type": "fixed<8,4>", "data": [0, 0]},
               "result": "fixed<16,8>"},
              {"name": "sq", "kind": "multiply", "inputs": ["bn", "bn"],
               "result": "fixed<24,12>"},
              {"name": "s", "kind": "subtract", "inputs": ["sq", "bn"],
               "result": "fixed<24,12>"}],
            "outputs": ["s"]}"#;
        let g = crate::frontend::native::parse(text, "t").unwrap();
        // x = (1, 0.5) and (−1, 2).
        let x = Array2::from_shape_vec((2, 2), vec![16, 8, -16, 32]).unwrap();
        let gain = mse_gains(&g, &x);
        let gx = gain[0].as_ref().expect("the input's sensitivity is known");
        let n = 4.0; // samples · output elements
        let jac = [[6.0, 2.0], [-10.0, 5.0]];
        for s_i in 0..2 {
            for e in 0..2 {
                let want = jac[s_i][e] * jac[s_i][e] / n;
                assert!(
                    (gx[[s_i, e]] - want).abs() < 1e-9,
                    "{s_i},{e}: {}",
                    gx[[s_i, e]]
                );
            }
        }
    }

    #[test]
    fn one_signed_digit_fewer() {
        for m in -300i64..=300 {
            let to = drop_lowest_digit(m);
            let (a, b) = (csd(i128::from(m)).len(), csd(i128::from(to)).len());
            assert_eq!(b + usize::from(m != 0), a, "{m} → {to}");
            // The change is the lowest digit: a power of two no larger than |m|'s lowest bit·2.
            let d = (to - m).unsigned_abs();
            assert!(
                m == 0
                    || (d.is_power_of_two()
                        && d <= 2 * (m.unsigned_abs() & m.unsigned_abs().wrapping_neg()))
            );
        }
        assert_eq!(drop_lowest_digit(7), 8);
        assert_eq!(drop_lowest_digit(5), 4);
        assert_eq!(drop_lowest_digit(-16), 0);
    }
}
