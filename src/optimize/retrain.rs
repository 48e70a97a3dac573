//! Retraining moves (`rtl4ml optimize --retrain`, docs/optimize.md "Retraining"): fine-tunes
//! the weights and biases of a fixed-point model under its current types, against class
//! labels, and interleaves that with the width search (narrow → fine-tune → narrow …).
//!
//! The model trained is the fixed-point model itself: the forward pass computes every value
//! exactly as the bit-accurate simulator does (weights and biases on their types' grids, each
//! dense sum exact in f64 — the loader refuses a layer whose sums could need more than 52
//! bits — and every cast with the layer's own rounding and overflow, through
//! [`FixedType::cast`]). The backward pass uses straight-through estimators: a cast passes
//! the gradient where it did not overflow (zero where it saturated or wrapped), a ReLU where
//! its input was positive, and the rounding of a weight to its grid passes it to a float
//! shadow copy. The loss is the softmax cross-entropy of the first output's values against
//! the labels; Adam on mini-batches. A weight that is zero (pruned) when a fine-tune starts
//! stays zero. Every mini-batch is split into [`SHARDS`] fixed shards whose gradients are
//! computed in parallel and summed in shard order, so the result does not depend on the
//! thread count; the sample order comes from a seeded generator.

use super::search::Point;
use super::{metric, narrow, OptimizeOptions, Outcome};
use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Constant, LayerGraph, LayerKind};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::time::Instant;

/// Shards of a mini-batch whose gradients are computed in parallel (a constant, so that the
/// summation order, hence the result, does not depend on the thread count).
pub const SHARDS: usize = 8;

/// Rounds in a row without a cheaper design within the tolerance after which the
/// interleaved search stops.
pub const STALL: usize = 5;

/// The held-out share of the calibration samples when `--retrain` is given without
/// `--validation`.
pub const DEFAULT_VALIDATION: f64 = 0.25;

/// How a fine-tune trains.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Passes over the training samples per fine-tune.
    pub epochs: usize,
    /// Adam's step size, in the weights' own units.
    pub lr: f64,
    /// Samples per mini-batch.
    pub batch: usize,
    /// Seed of the sample order.
    pub seed: u64,
    /// No weight gains canonical signed digits ([`Trainer::new`]).
    pub keep_digits: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            lr: 1e-3,
            batch: 128,
            seed: 1,
            keep_digits: true,
        }
    }
}

/// The interleaved search (`optimize --retrain`).
#[derive(Clone, Debug)]
pub struct RetrainOptions {
    pub train: TrainOptions,
    /// Narrow → fine-tune rounds.
    pub rounds: usize,
    /// The argmax tolerance of each narrowing step, against the model it starts from.
    pub step: f64,
    /// Allowed drop of the held-out accuracy against the starting model (a fraction).
    pub tolerance: f64,
}

/// What a step of the training core does per layer.
#[derive(Clone, Debug)]
enum Op {
    Dense {
        n_out: usize,
        /// Fractional bits of the exact sum (products and bias).
        frac: i32,
    },
    /// Element-wise cast (quantize, per-element quantize, relu).
    Cast { types: Vec<FixedType>, relu: bool },
    /// Same values (flatten, reshape).
    Same,
}

/// The layer kinds the training core supports, for error messages.
pub const SUPPORTED: &str = "dense (with exact accumulation), relu, quantize, per-element \
                             quantize, flatten and reshape layers";

fn plan(g: &LayerGraph) -> Result<Vec<Op>> {
    let mut ops = Vec::with_capacity(g.layers.len());
    for l in &g.layers {
        let refuse = |why: String| {
            Error::unsupported(
                format!("layer `{}` ({})", l.name, l.kind.name()),
                format!("--retrain supports {SUPPORTED}; {why}"),
            )
        };
        let x = g.tensor(l.input);
        let op = match &l.kind {
            LayerKind::Dense {
                weight,
                bias,
                accum,
            } => {
                if accum.is_some() {
                    return Err(refuse("this one has an `accum` type".into()));
                }
                let (n_in, n_out) = weight.data.dim();
                let fp = x.ty.frac() + weight.ty.frac();
                let frac = fp.max(bias.ty.frac());
                // Largest mantissa of the sum at `frac`: must stay below 2^52 for exact f64.
                let bits = |t: &FixedType| t.width as f64;
                let need = bits(&x.ty)
                    + bits(&weight.ty)
                    + (n_in as f64 + 1.0).log2().ceil()
                    + f64::from(frac - fp)
                    + 1.0;
                let need_b = bits(&bias.ty) + f64::from(frac - bias.ty.frac()) + 1.0;
                if need.max(need_b) > 52.0 {
                    return Err(refuse(format!(
                        "its sums may need {need} bits, more than the 52 the float training \
                         pass holds exactly"
                    )));
                }
                Op::Dense { n_out, frac }
            }
            LayerKind::Relu => Op::Cast {
                types: vec![l.output.ty; l.output.len()],
                relu: true,
            },
            LayerKind::Quantize => Op::Cast {
                types: vec![l.output.ty; l.output.len()],
                relu: false,
            },
            LayerKind::QuantizeEach { types } => Op::Cast {
                types: types.clone(),
                relu: false,
            },
            LayerKind::Flatten | LayerKind::Reshape => Op::Same,
            LayerKind::Conv { .. }
            | LayerKind::Pool { .. }
            | LayerKind::Merge { .. }
            | LayerKind::Concatenate { .. }
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
            | LayerKind::ReluCap { .. }
            | LayerKind::LeakyRelu { .. }
            | LayerKind::HardSigmoid { .. }
            | LayerKind::Argmax
            | LayerKind::BatchNorm { .. }
            | LayerKind::Table { .. }
            | LayerKind::Softmax { .. } => return Err(refuse("this kind is not".into())),
        };
        if x.ty.width > 52 {
            return Err(refuse(format!(
                "its input `{}` is {} bits wide, more than the float training pass holds \
                 exactly",
                x.name, x.ty.width
            )));
        }
        ops.push(op);
    }
    match g.outputs.first() {
        Some(&t) if g.tensor(t).len() >= 2 => Ok(ops),
        _ => Err(Error::unsupported(
            "--retrain",
            "the model's first output must be a vector of class scores (two or more elements)",
        )),
    }
}

/// Exact cast of `v` (a value on the grid `2^-from`) into `t`: the result's value and whether
/// the gradient passes (the cast did not overflow).
fn cast(t: &FixedType, v: f64, from: i32) -> (f64, bool) {
    let m = (v * 2f64.powi(from)) as i128;
    debug_assert_eq!(m as f64, v * 2f64.powi(from), "value off its grid");
    let q = t.cast(m, from);
    let r = crate::ir::fixed::round_shift(m, from, t.frac(), t.round);
    let pass = r == q && !(t.min_mantissa() == 0 && t.max_mantissa() == 0);
    (t.to_f64(q), pass)
}

/// A model being trained: its graph, the plan, and the float shadows of its weights.
pub struct Trainer {
    g: LayerGraph,
    ops: Vec<Op>,
    /// Per dense op: shadow weights, shadow biases, the mask of trainable weights.
    shadow: Vec<Option<Params>>,
    /// Tensors that lie behind a dense layer (their gradient is needed).
    needs: Vec<bool>,
}

#[derive(Clone)]
struct Params {
    w: Array2<f64>,
    b: Array1<f64>,
    mask: Array2<f64>,
    /// Per weight, the most canonical signed digits its mantissa may have (`None`: any).
    digits: Option<Array2<u32>>,
    w_ty: FixedType,
    b_ty: FixedType,
}

/// Canonical signed digits of a mantissa.
fn digit_count(m: i64) -> u32 {
    crate::passes::csd::csd(i128::from(m)).len() as u32
}

/// The mantissa of type `t` nearest to the real `v` with at most `k` canonical signed digits
/// (ties: the smaller magnitude). `k = 0` gives 0.
fn nearest_with_digits(t: &FixedType, v: f64, k: u32) -> i64 {
    let (lo, hi) = (t.min_mantissa() as i64, t.max_mantissa() as i64);
    let x = v * 2f64.powi(t.frac());
    let m0 = (x.round() as i64).clamp(lo, hi);
    if digit_count(m0) <= k {
        return m0;
    }
    if k == 0 {
        return 0;
    }
    let mut best: Option<i64> = None;
    for d in 1..=(hi - lo) {
        for m in [m0 - d, m0 + d] {
            if m < lo || m > hi || digit_count(m) > k {
                continue;
            }
            best = Some(match best {
                Some(b) if ((b as f64 - x).abs(), b.abs()) <= ((m as f64 - x).abs(), m.abs()) => b,
                _ => m,
            });
        }
        if best.is_some() {
            break;
        }
    }
    best.unwrap_or(0)
}

impl Params {
    /// The shadow values rounded to their grids (nearest, ties away from zero) and clamped.
    fn quantized(&self) -> (Array2<i64>, Vec<i64>) {
        let q = |t: &FixedType, v: f64| {
            let m = (v * 2f64.powi(t.frac())).round() as i128;
            m.clamp(t.min_mantissa(), t.max_mantissa()) as i64
        };
        let w = Array2::from_shape_fn(self.w.dim(), |(i, j)| {
            match (&self.digits, self.mask[[i, j]] == 0.0) {
                (_, true) => 0,
                (Some(k), false) => nearest_with_digits(&self.w_ty, self.w[[i, j]], k[[i, j]]),
                (None, false) => q(&self.w_ty, self.w[[i, j]]),
            }
        });
        (w, self.b.iter().map(|&v| q(&self.b_ty, v)).collect())
    }
}

/// Gradients of one shard.
struct Grads {
    loss: f64,
    correct: usize,
    dw: Vec<Option<(Array2<f64>, Array1<f64>)>>,
}

impl Trainer {
    /// `keep_digits`: no weight may gain canonical signed digits (each is projected to the
    /// nearest value with at most as many as it had at the start), so that a fine-tune does
    /// not add adders.
    pub fn new(g: &LayerGraph, keep_digits: bool) -> Result<Trainer> {
        let ops = plan(g)?;
        let mut shadow = Vec::new();
        for l in &g.layers {
            shadow.push(if let LayerKind::Dense { weight, bias, .. } = &l.kind {
                Some(Params {
                    w: weight.data.mapv(|m| weight.ty.to_f64(m as i128)),
                    b: bias
                        .data
                        .iter()
                        .map(|&m| bias.ty.to_f64(m as i128))
                        .collect(),
                    mask: weight.data.mapv(|m| if m == 0 { 0.0 } else { 1.0 }),
                    digits: keep_digits.then(|| weight.data.mapv(digit_count)),
                    w_ty: weight.ty,
                    b_ty: bias.ty,
                })
            } else {
                None
            });
        }
        let mut needs = vec![false; g.inputs.len()];
        for l in &g.layers {
            needs.push(matches!(l.kind, LayerKind::Dense { .. }) || needs[l.input]);
        }
        Ok(Trainer {
            g: g.clone(),
            ops,
            shadow,
            needs,
        })
    }

    /// The model with the current shadows quantized into its weights and biases (types
    /// unchanged).
    pub fn graph(&self) -> LayerGraph {
        let mut g = self.g.clone();
        for (l, p) in g.layers.iter_mut().zip(&self.shadow) {
            if let (LayerKind::Dense { weight, bias, .. }, Some(p)) = (&mut l.kind, p) {
                let (w, b) = p.quantized();
                *weight = Constant {
                    ty: weight.ty,
                    data: w,
                };
                *bias = Constant {
                    ty: bias.ty,
                    data: b,
                };
            }
        }
        g
    }

    /// Forward pass of `x` (input mantissas, bus order) through `g`: every tensor's values
    /// `[samples, elements]` and, per cast, where the gradient passes.
    fn forward(&self, g: &LayerGraph, x: ArrayView2<i64>) -> (Vec<Array2<f64>>, Vec<Array2<f64>>) {
        let n = x.nrows();
        let mut vals: Vec<Array2<f64>> = Vec::new();
        let mut off = 0;
        for t in &g.inputs {
            let f = t.ty.frac();
            vals.push(
                x.slice(ndarray::s![.., off..off + t.len()])
                    .mapv(|m| crate::ir::fixed::mantissa_to_f64(m as i128, f)),
            );
            off += t.len();
        }
        let mut masks = Vec::new();
        for (l, op) in g.layers.iter().zip(&self.ops) {
            let xin = &vals[l.input];
            let fx = g.tensor(l.input).ty.frac();
            let ty = l.output.ty;
            let (y, mask) = match op {
                Op::Dense { frac, n_out, .. } => {
                    let LayerKind::Dense { weight, bias, .. } = &l.kind else {
                        unreachable!("planned as dense")
                    };
                    let w = weight.data.mapv(|m| weight.ty.to_f64(m as i128));
                    let mut s = xin.dot(&w);
                    for (j, &b) in bias.data.iter().enumerate() {
                        let bv = bias.ty.to_f64(b as i128);
                        s.column_mut(j).mapv_inplace(|v| v + bv);
                    }
                    let mut mask = Array2::zeros((n, *n_out));
                    for (v, m) in s.iter_mut().zip(mask.iter_mut()) {
                        let (q, pass) = cast(&ty, *v, *frac);
                        *v = q;
                        *m = if pass { 1.0 } else { 0.0 };
                    }
                    (s, mask)
                }
                Op::Cast { types, relu } => {
                    let mut y = xin.clone();
                    let mut mask = Array2::zeros(y.dim());
                    for (mut row, mut mrow) in y.rows_mut().into_iter().zip(mask.rows_mut()) {
                        for ((v, m), t) in row.iter_mut().zip(mrow.iter_mut()).zip(types) {
                            if *relu && *v <= 0.0 {
                                *v = 0.0;
                                *m = 0.0;
                            } else {
                                let (q, pass) = cast(t, *v, fx);
                                *v = q;
                                *m = if pass { 1.0 } else { 0.0 };
                            }
                        }
                    }
                    (y, mask)
                }
                Op::Same => (xin.clone(), Array2::ones(xin.dim())),
            };
            vals.push(y);
            masks.push(mask);
        }
        (vals, masks)
    }

    /// The first output's mantissas on `x` (what the simulator computes for that output).
    pub fn outputs(&self, x: ArrayView2<i64>) -> Array2<i64> {
        let g = self.graph();
        let (vals, _) = self.forward(&g, x);
        let t = g.outputs[0];
        let f = g.tensor(t).ty.frac();
        vals[t].mapv(|v| (v * 2f64.powi(f)) as i64)
    }

    /// Loss and gradients of one shard; `scale` divides the sums (the whole batch's size).
    fn shard(&self, g: &LayerGraph, x: ArrayView2<i64>, y: &[i64], scale: f64) -> Grads {
        let (vals, masks) = self.forward(g, x);
        let out = g.outputs[0];
        let z = &vals[out];
        let mut d = Array2::zeros(z.dim());
        let (mut loss, mut correct) = (0.0, 0);
        for (k, (row, mut drow)) in z.rows().into_iter().zip(d.rows_mut()).enumerate() {
            let mx = row.fold(f64::MIN, |a, &b| a.max(b));
            let e: Vec<f64> = row.iter().map(|&v| (v - mx).exp()).collect();
            let s: f64 = e.iter().sum();
            let label = y[k] as usize;
            loss -= (e[label] / s).ln();
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            correct += usize::from(best == label);
            for (i, dv) in drow.iter_mut().enumerate() {
                *dv = (e[i] / s - f64::from(u8::from(i == label))) / scale;
            }
        }
        let mut grads: Vec<Option<Array2<f64>>> = vec![None; vals.len()];
        grads[out] = Some(d);
        let mut dw = vec![None; g.layers.len()];
        let ni = g.inputs.len();
        for (k, (l, op)) in g.layers.iter().zip(&self.ops).enumerate().rev() {
            let Some(dy) = grads[ni + k].take() else {
                continue;
            };
            let ds = dy * &masks[k];
            let dx = match op {
                Op::Dense { .. } => {
                    let LayerKind::Dense { weight, .. } = &l.kind else {
                        unreachable!("planned as dense")
                    };
                    let xin = &vals[l.input];
                    dw[k] = Some((xin.t().dot(&ds), ds.sum_axis(Axis(0))));
                    self.needs[l.input]
                        .then(|| ds.dot(&weight.data.mapv(|m| weight.ty.to_f64(m as i128)).t()))
                }
                Op::Cast { .. } | Op::Same => self.needs[l.input].then_some(ds),
            };
            if let Some(dx) = dx {
                match &mut grads[l.input] {
                    Some(a) => *a += &dx,
                    slot => *slot = Some(dx),
                }
            }
        }
        Grads { loss, correct, dw }
    }

    /// Mean loss and accuracy of the current model on `(x, y)`.
    pub fn evaluate(&self, x: ArrayView2<i64>, y: &[i64]) -> (f64, f64) {
        let g = self.graph();
        let n = x.nrows();
        let parts = self.par_shards(&g, x, y, n as f64);
        let loss: f64 = parts.iter().map(|p| p.loss).sum();
        let correct: usize = parts.iter().map(|p| p.correct).sum();
        (loss / n.max(1) as f64, correct as f64 / n.max(1) as f64)
    }

    fn par_shards(&self, g: &LayerGraph, x: ArrayView2<i64>, y: &[i64], scale: f64) -> Vec<Grads> {
        let n = x.nrows();
        let per = n.div_ceil(SHARDS).max(1);
        (0..SHARDS)
            .into_par_iter()
            .filter_map(|s| {
                let (a, b) = (s * per, ((s + 1) * per).min(n));
                (a < b).then(|| self.shard(g, x.slice(ndarray::s![a..b, ..]), &y[a..b], scale))
            })
            .collect()
    }

    /// Trains on `(x, y)` (input mantissas, labels) and returns the mean training loss of
    /// each epoch (measured during it).
    pub fn train(&mut self, x: ArrayView2<i64>, y: &[i64], o: &TrainOptions) -> Vec<f64> {
        let n = x.nrows();
        let mut rng = SplitMix64(o.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut adam: Vec<Option<[Array2<f64>; 2]>> = self
            .shadow
            .iter()
            .map(|p| {
                p.as_ref()
                    .map(|p| [Array2::zeros(p.w.dim()), Array2::zeros(p.w.dim())])
            })
            .collect();
        let mut adam_b: Vec<Option<[Array1<f64>; 2]>> = self
            .shadow
            .iter()
            .map(|p| {
                p.as_ref()
                    .map(|p| [Array1::zeros(p.b.len()), Array1::zeros(p.b.len())])
            })
            .collect();
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let mut t = 0i32;
        let mut losses = Vec::new();
        let batch = o.batch.max(1);
        for _ in 0..o.epochs {
            for i in (1..n).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let mut total = 0.0;
            for chunk in order.chunks(batch) {
                let xb = x.select(Axis(0), chunk);
                let yb: Vec<i64> = chunk.iter().map(|&i| y[i]).collect();
                let g = self.graph();
                let parts = self.par_shards(&g, xb.view(), &yb, chunk.len() as f64);
                let mut sum: Vec<Option<(Array2<f64>, Array1<f64>)>> = vec![None; g.layers.len()];
                for p in parts {
                    total += p.loss;
                    for (s, d) in sum.iter_mut().zip(p.dw) {
                        match (s, d) {
                            (Some((w, b)), Some((dw, db))) => {
                                *w += &dw;
                                *b += &db;
                            }
                            (s @ None, d) => *s = d,
                            (Some(_), None) => {}
                        }
                    }
                }
                t += 1;
                let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                for (k, grad) in sum.into_iter().enumerate() {
                    let (Some((dw, db)), Some(p)) = (grad, self.shadow[k].as_mut()) else {
                        continue;
                    };
                    let [mw, vw] = adam[k].as_mut().expect("a dense layer");
                    let lim = |t: &FixedType| {
                        let h = 0.5 * t.to_f64(1);
                        (
                            t.to_f64(t.min_mantissa()) - h,
                            t.to_f64(t.max_mantissa()) + h,
                        )
                    };
                    let (lo, hi) = lim(&p.w_ty);
                    ndarray::Zip::from(&mut p.w)
                        .and(&p.mask)
                        .and(&dw)
                        .and(&mut *mw)
                        .and(&mut *vw)
                        .for_each(|w, &m, &g, mw, vw| {
                            if m == 0.0 {
                                return;
                            }
                            *mw = b1 * *mw + (1.0 - b1) * g;
                            *vw = b2 * *vw + (1.0 - b2) * g * g;
                            *w -= o.lr * (*mw / c1) / ((*vw / c2).sqrt() + eps);
                            *w = w.clamp(lo, hi);
                        });
                    let [mb, vb] = adam_b[k].as_mut().expect("a dense layer");
                    let (lo, hi) = lim(&p.b_ty);
                    ndarray::Zip::from(&mut p.b)
                        .and(&db)
                        .and(&mut *mb)
                        .and(&mut *vb)
                        .for_each(|b, &g, mb, vb| {
                            *mb = b1 * *mb + (1.0 - b1) * g;
                            *vb = b2 * *vb + (1.0 - b2) * g * g;
                            *b -= o.lr * (*mb / c1) / ((*vb / c2).sqrt() + eps);
                            *b = b.clamp(lo, hi);
                        });
                }
            }
            losses.push(total / n.max(1) as f64);
        }
        losses
    }
}

/// Fine-tunes `g`'s weights and biases under its types (see the module documentation).
pub fn fine_tune(
    g: &LayerGraph,
    x: ArrayView2<i64>,
    y: &[i64],
    o: &TrainOptions,
) -> Result<(LayerGraph, Vec<f64>)> {
    let mut t = Trainer::new(g, o.keep_digits)?;
    let losses = t.train(x, y, o);
    Ok((t.graph(), losses))
}

/// Deterministic generator of the sample order.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Held-out accuracy of `g` on `(x, y)` by the bit-accurate simulator.
pub fn accuracy(g: &LayerGraph, x: &Array2<i64>, y: &[i64]) -> Result<f64> {
    Ok(metric::label_accuracy(g, &super::simulate(g, x)?, y))
}

/// `optimize --retrain`: narrow → fine-tune rounds from `g`, each narrowing at an argmax
/// tolerance of `r.step` against the model it starts from, each fine-tune on `(fit, fit_y)`;
/// every model is measured on `(val, val_y)` and the cheapest whose held-out accuracy is at
/// least the start's minus `r.tolerance` (and whose latency fits the budget) is chosen.
/// In the returned outcome, a point's `error` is its held-out accuracy drop against the start.
pub fn optimize(
    g: &LayerGraph,
    fit: &Array2<i64>,
    fit_y: &[i64],
    val: &Array2<i64>,
    val_y: &[i64],
    opts: &OptimizeOptions,
    r: &RetrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let t0 = Instant::now();
    Trainer::new(g, false)?;
    let acc0 = accuracy(g, val, val_y)?;
    let start = super::search::Setting {
        knobs: Vec::new(),
        channels: Vec::new(),
        weights: Vec::new(),
        bias: Vec::new(),
    };
    let (mut simulations, mut compiles) = (0usize, 0usize);
    let measure = |label: String, m: &LayerGraph| -> Result<Point> {
        let acc = accuracy(m, val, val_y)?;
        let d = crate::flow::compile(m.clone(), &opts.compile)?;
        let rep = &d.report;
        Ok(Point {
            label,
            lut: rep.resources.lut,
            ff: rep.resources.ff,
            latency_cycles: rep.latency_cycles,
            latency_ns: rep.latency_ns,
            error: acc0 - acc,
            mse: 0.0,
            needed_clock_ns: None,
            accepted: false,
            setting: start.clone(),
        })
    };
    let feasible = |p: &Point| {
        p.error <= r.tolerance + 1e-12 && opts.budget_cycles.is_none_or(|b| p.latency_cycles <= b)
    };
    let before = measure("original".into(), g)?;
    let mut points = vec![before.clone()];
    let mut models = vec![g.clone()];
    let mut seed = r.train.seed;
    let tune = |m: &LayerGraph, seed: u64| -> Result<(LayerGraph, Vec<f64>)> {
        fine_tune(
            m,
            fit.view(),
            fit_y,
            &TrainOptions {
                seed,
                ..r.train.clone()
            },
        )
    };
    let (tuned, losses) = tune(g, seed)?;
    let mut p = measure("fine-tune at the start's widths".into(), &tuned)?;
    log(&format!(
        "fine-tune at the start's widths: loss {:.4} → {:.4}, held-out accuracy {:.2}% → {:.2}%, {} LUT",
        losses.first().copied().unwrap_or(f64::NAN),
        losses.last().copied().unwrap_or(f64::NAN),
        acc0 * 100.0,
        (acc0 - p.error) * 100.0,
        p.lut
    ));
    p.accepted = true;
    // Continue from the fine-tuned start when it is at least as accurate as the start.
    let mut cur = if p.error <= 0.0 {
        tuned.clone()
    } else {
        g.clone()
    };
    points.push(p);
    models.push(tuned);
    let mut step = r.step;
    let best_cost = |points: &[Point]| {
        points
            .iter()
            .filter(|p| feasible(p))
            .map(|p| p.cost())
            .min()
            .unwrap_or(u64::MAX)
    };
    let (mut best, mut stalled) = (best_cost(&points), 0);
    for round in 1..=r.rounds {
        if step < 1e-4 {
            break;
        }
        seed = seed.wrapping_add(1);
        let o = super::optimize(
            &cur,
            fit.clone(),
            &OptimizeOptions {
                tolerance: metric::Tolerance::Absolute(step),
                metric: metric::Metric::Argmax,
                progress: false,
                ..opts.clone()
            },
        )?;
        simulations += o.simulations;
        compiles += o.compiles;
        if !o.feasible {
            log(&format!(
                "round {round}: no narrowing within argmax {:.2}% and the budget",
                step * 100.0
            ));
            break;
        }
        let narrowed = o.optimized;
        let pn = measure(
            format!("round {round}: narrow (argmax ≤ {:.2}%)", step * 100.0),
            &narrowed,
        )?;
        // The search may write what the training core cannot follow: keep the narrowed
        // point and stop there.
        let (tuned, losses) = match tune(&narrowed, seed) {
            Ok(t) => t,
            Err(e) => {
                log(&format!(
                    "round {round}: the narrowed model cannot be fine-tuned: {e}"
                ));
                points.push(pn);
                models.push(narrowed);
                break;
            }
        };
        let pt = measure(format!("round {round}: fine-tune"), &tuned)?;
        log(&format!(
            "round {round}: narrow (argmax ≤ {:.2}%) {} LUT, held-out {:.2}%; fine-tune loss {:.4} → {:.4}: {} LUT, held-out {:.2}%",
            step * 100.0,
            pn.lut,
            (acc0 - pn.error) * 100.0,
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN),
            pt.lut,
            (acc0 - pt.error) * 100.0
        ));
        let next = if feasible(&pt) {
            Some(tuned.clone())
        } else if feasible(&pn) {
            Some(narrowed.clone())
        } else {
            None
        };
        points.push(pn);
        models.push(narrowed);
        points.push(pt);
        models.push(tuned);
        match next {
            Some(m) => cur = m,
            None => step /= 2.0,
        }
        // Converged: STALL rounds in a row without a cheaper point within the tolerance.
        let best_now = best_cost(&points);
        if best_now < best {
            (best, stalled) = (best_now, 0);
        } else {
            stalled += 1;
            if stalled >= STALL {
                log(&format!(
                    "round {round}: {STALL} rounds without a cheaper design within the tolerance: done"
                ));
                break;
            }
        }
    }
    let chosen = (0..points.len())
        .filter(|&i| feasible(&points[i]))
        .min_by_key(|&i| (points[i].cost(), points[i].latency_cycles, i));
    let feasible_any = chosen.is_some();
    let chosen = chosen.unwrap_or(0);
    points[chosen].accepted = true;
    let optimized = narrow::drop_identity_quantizers(&models[chosen]);
    let after = points[chosen].clone();
    let lossless = narrow::drop_identity_quantizers(&narrow::narrow(g));
    let changes = super::report::changes(g, &lossless, None, &optimized);
    Ok(Outcome {
        optimized,
        before,
        after,
        points,
        chosen: Some(chosen),
        feasible: feasible_any,
        changes,
        metric: metric::Metric::Argmax,
        limit: r.tolerance,
        samples: fit.nrows(),
        clock_ns: opts.compile.clock_ns,
        budget_cycles: opts.budget_cycles,
        observed_margin: opts.observed_margin,
        seconds: t0.elapsed().as_secs_f64(),
        simulations,
        compiles,
        retrained: Some(super::report::Retrained {
            start_accuracy: acc0,
            validation: val.nrows(),
        }),
    })
}
