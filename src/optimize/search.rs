//! The lossy search: greedy coordinate descent over per-layer widths, and the design
//! [`Setting`] that also carries the fine search's per-channel widths, per-weight mantissas
//! and bias offsets ([`super::fine`]).
//!
//! **Knobs** ([`Site`]). Every model input gets a `quantize` layer (the identity at first, so
//! the hardware interface never changes), and every activation whose type may change (not a
//! model output, not read by a lookup table) has two knobs: integer bits (above the binary
//! point, sign excluded) and fractional bits. A `dense` result read only by `relu`/`quantize`
//! layers needs no knob: lossless narrowing cuts it to what they keep. A narrowed activation
//! rounds with RND (free: the compiler folds the half LSB into the dense sum), an input
//! quantizer truncates (free wiring, no rounding adder in front of the first layer), and
//! integer bits below the start's saturate (lossless narrowing turns SAT back into WRAP
//! where it provably never acts). Optionally each dense layer's weights lose low bits
//! (rounded to nearest: fewer signed digits, some weights pruned).
//!
//! **Candidates** are the model with its knobs applied, then narrowed losslessly
//! ([`super::narrow`]). Accuracy comes from the bit-accurate simulator on the calibration
//! set, *incrementally*: the current state's tensors are cached ([`Cache`]) and a candidate
//! re-simulates only from the first layer it changes. Cost (estimated LUT + FF) and latency
//! come from [`flow::compile`] — the scheduler and resource model of `rtl4ml compile` — and
//! only for candidates that pass the tolerance, since a compile costs ~20 simulations.
//!
//! **Descent.** Each round simulates every one-step move from the current state in
//! parallel. Moves that break the tolerance are frozen (narrowing elsewhere only adds
//! noise). The others are ranked by estimated saving per unit of added output MSE — a
//! smooth guide, where independent rounding noises add up, unlike a count of flipped
//! argmaxes — and the best is compiled and taken unless it leaves the latency budget (or,
//! outside it, adds latency). Savings are estimated by compiling each move once from the
//! start (a probe) and refreshed whenever a move is taken. The search ends when no move is
//! left; the moves that failed last are then compiled too, so the explored points show the
//! trade-off just beyond the tolerance.

use super::analysis::analyze;
use super::cache::Cache;
use super::metric::{Eval, Reference};
use super::narrow::{
    exposed, is_view, is_zero_type, narrow, readers, retypable, set_element_types, set_type,
};
use crate::error::{Error, Result};
use crate::flow::{self, Options};
use crate::ir::fixed::{FixedType, Overflow, Round, MAX_TYPE_WIDTH};
use crate::ir::interval::Interval;
use crate::ir::layers::{Constant, Layer, LayerGraph, LayerKind, Tensor};
use crate::passes::schedule;
use indicatif::ProgressBar;
use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Something the search can narrow.
#[derive(Clone, Debug, PartialEq)]
pub enum Site {
    /// The result type of a layer of [`Problem::base`]; `signed`: the values can be
    /// negative; `round`: the rounding mode once narrowed.
    Act {
        layer: usize,
        signed: bool,
        round: Round,
        /// Per-channel widths are possible here (see [`Each`]).
        each: Option<Each>,
    },
    /// The weights of a dense layer of [`Problem::base`].
    Weight { layer: usize },
}

/// How an activation site takes a width per channel (the last axis; one per element of a
/// vector): the layer becomes a per-element `quantize` (`element_types`) whose types truncate
/// (free wiring). A ReLU becomes unsigned saturating casts (which clamp negative values to 0,
/// exactly the ReLU). Rounding to nearest stays free: the half LSB of each channel's own
/// rounding joins the bias of the `dense` layer that feeds it (`⌊x + ½·2^−F⌋` is RND), and
/// that layer then computes its sum exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Each {
    /// Channels (the size of the last axis).
    pub channels: usize,
    /// The `dense` layer whose bias takes the halves (`None`: the site truncates).
    pub bias_from: Option<usize>,
}

/// The setting of one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Knob {
    /// Integer bits above the binary point (sign excluded) and fractional bits.
    Act { int: i32, frac: i32 },
    /// Low weight bits dropped.
    Weight { drop: u32 },
}

/// One setting per site, and the finer per-channel and per-weight choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub knobs: Vec<Knob>,
    /// Per site: each channel's own (integer, fractional) bits, bounded above by the site's
    /// knob (`None`: the knob alone).
    pub channels: Vec<Option<Vec<(i32, i32)>>>,
    /// Per weight site: the weight mantissas, in the start's weight type, that the site's
    /// dropped bits then round (`None`: the start's weights).
    pub weights: Vec<Option<Array2<i64>>>,
    /// Per layer of [`Problem::base`]: an offset added to a dense layer's bias, mantissas at
    /// the given fractional bits (the search's bias correction).
    pub bias: Vec<Option<(i32, Vec<i64>)>>,
}

impl std::ops::Index<usize> for Setting {
    type Output = Knob;
    fn index(&self, i: usize) -> &Knob {
        &self.knobs[i]
    }
}

impl std::ops::IndexMut<usize> for Setting {
    fn index_mut(&mut self, i: usize) -> &mut Knob {
        &mut self.knobs[i]
    }
}

/// A one-step change of one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Move {
    pub site: usize,
    pub dim: Dim,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Int,
    Frac,
    Weight,
}

/// An explored design point (compiled, so its cost and latency are known).
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// What was changed to get here.
    pub label: String,
    pub lut: u64,
    pub ff: u64,
    pub latency_cycles: u32,
    pub latency_ns: f64,
    /// The accuracy metric against the reference.
    pub error: f64,
    /// Mean squared error of the outputs against the reference.
    pub mse: f64,
    /// The shortest clock period (ns) at which the design fits the latency budget: how
    /// far it is from the budget, more finely than whole cycles (computed while the search
    /// chases a budget the design does not meet).
    pub needed_clock_ns: Option<f64>,
    /// On the accepted path of the descent (the others are probes and rejected moves).
    pub accepted: bool,
    #[serde(skip)]
    pub setting: Setting,
}

impl Point {
    pub fn cost(&self) -> u64 {
        self.lut + self.ff
    }
    pub fn eval(&self) -> Eval {
        Eval {
            error: self.error,
            mse: self.mse,
        }
    }
}

/// The optimisation problem: the start model with its input quantizers, the calibration
/// data, the reference and the compile options.
pub struct Problem {
    /// The start model with an identity `quantize` layer after each input.
    pub base: LayerGraph,
    pub sites: Vec<Site>,
    pub start: Setting,
    /// Calibration inputs, as mantissas of the model's input types.
    pub calib: Array2<i64>,
    pub reference: Reference,
    pub options: Options,
    /// Latency budget in cycles.
    pub budget: Option<u32>,
}

impl Problem {
    /// `weights`: let the search drop weight bits too.
    pub fn new(
        start: &LayerGraph,
        calib: Array2<i64>,
        reference: Reference,
        options: Options,
        budget: Option<u32>,
        weights: bool,
    ) -> Result<Problem> {
        // Candidates slower than the clock are explored and reported with the clock they
        // need, not refused.
        let options = Options {
            allow_slow_stages: true,
            ..options
        };
        let base = with_input_quantizers(start);
        let analysis = analyze(&base);
        let n_in = base.inputs.len();
        let mut sites = Vec::new();
        let mut start_setting = Vec::new();
        let lossless = narrow(&base);
        for (k, layer) in base.layers.iter().enumerate() {
            let t = n_in + k;
            let act = match layer.kind {
                // A dense result read only by relu/quantize layers is narrowed losslessly to
                // what they keep.
                LayerKind::Dense { .. } => readers(&base, t).iter().any(|&j| {
                    !matches!(base.layers[j].kind, LayerKind::Relu | LayerKind::Quantize)
                }),
                LayerKind::Argmax | LayerKind::Table { .. } | LayerKind::Softmax { .. } => false,
                // Per-element types (HGQ2's trained widths) stay; the result only holds them.
                LayerKind::QuantizeEach { .. } => false,
                ref k @ (LayerKind::Relu
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
                | LayerKind::BatchNorm { .. }) => !is_view(k),
            };
            if act && retypable(&base, t) {
                let ty = layer.output.ty;
                let negative = analysis.tensor_hull(t).is_some_and(|s| s.lo < 0);
                let signed = ty.signed && negative;
                // Input quantizers truncate (free wiring, and no rounding adder in front of
                // the first layer's adder trees); other activations round to nearest, which
                // costs nothing when the compiler folds the half LSB into the dense sum.
                let round = if k < n_in { Round::Trn } else { Round::Rnd };
                let each = each_site(&base, &lossless, k, round);
                sites.push(Site::Act {
                    layer: k,
                    signed,
                    round,
                    each,
                });
                start_setting.push(Knob::Act {
                    int: ty.int_bits - i32::from(ty.signed),
                    frac: ty.frac(),
                });
            }
            if let (true, LayerKind::Dense { .. }) = (weights, &layer.kind) {
                sites.push(Site::Weight { layer: k });
                start_setting.push(Knob::Weight { drop: 0 });
            }
        }
        let n = start_setting.len();
        let n_layers = base.layers.len();
        Ok(Problem {
            base,
            sites,
            start: Setting {
                knobs: start_setting,
                channels: vec![None; n],
                weights: vec![None; n],
                bias: vec![None; n_layers],
            },
            calib,
            reference,
            options,
            budget,
        })
    }

    /// The model for a setting (knobs applied, then narrowed losslessly).
    pub fn apply(&self, s: &Setting) -> LayerGraph {
        let mut g = self.base.clone();
        for (k, off) in s.bias.iter().enumerate() {
            if let (Some((f, off)), LayerKind::Dense { bias, .. }) = (off, &mut g.layers[k].kind) {
                *bias = add_offsets(bias, *f, off);
            }
        }
        for (i, site) in self.sites.iter().enumerate() {
            let (knob, start) = (s.knobs[i], self.start.knobs[i]);
            match (site, knob, start) {
                (
                    &Site::Act {
                        layer,
                        signed,
                        each: Some(ref each),
                        ..
                    },
                    Knob::Act { int, frac },
                    Knob::Act { int: int0, .. },
                ) if s.channels[i]
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|&(ci, cf)| ci < int || cf < frac)) =>
                {
                    let bounds = Knob::Act { int, frac };
                    let ch = s.channels[i].as_ref().expect("checked");
                    apply_each(&mut g, layer, signed, each, ch, bounds, int0);
                }
                _ if knob == start && s.weights[i].is_none() => {}
                (
                    &Site::Act {
                        layer,
                        signed,
                        round,
                        ..
                    },
                    Knob::Act { int, frac },
                    Knob::Act { int: int0, .. },
                ) => {
                    let ty = FixedType {
                        signed,
                        width: (int + frac + i32::from(signed)) as u32,
                        int_bits: int + i32::from(signed),
                        round,
                        overflow: if int < int0 {
                            Overflow::Sat
                        } else {
                            g.layers[layer].output.ty.overflow
                        },
                    };
                    set_type(&mut g, layer, ty);
                    widen_source(&mut g, layer);
                }
                (&Site::Weight { layer }, Knob::Weight { drop }, _) => {
                    if let LayerKind::Dense { weight, .. } = &mut g.layers[layer].kind {
                        if let Some(w) = &s.weights[i] {
                            weight.data = w.clone();
                            // A digit move may round a weight past the type's largest code
                            // (`31 = 32 − 1 → 32` in fixed<6,0>): a constant's type is only
                            // its storage, so it gains the integer bit.
                            let (lo, hi) = (weight.ty.min_mantissa(), weight.ty.max_mantissa());
                            if w.iter().any(|&m| !(lo..=hi).contains(&i128::from(m))) {
                                weight.ty.width += 1;
                                weight.ty.int_bits += 1;
                            }
                        }
                        *weight = requantize(weight, drop);
                    }
                }
                _ => unreachable!("knob kinds follow their sites"),
            }
        }
        narrow(&g)
    }

    /// The setting after a move, or `None` when the move is not possible.
    pub fn step(&self, s: &Setting, m: Move) -> Option<Setting> {
        let mut next = s.clone();
        next[m.site] = match (&self.sites[m.site], s[m.site], m.dim) {
            (&Site::Act { signed, .. }, Knob::Act { int, frac }, Dim::Int | Dim::Frac) => {
                let (int, frac) = match m.dim {
                    Dim::Int => (int - 1, frac),
                    _ => (int, frac - 1),
                };
                if int + frac + i32::from(signed) < 1 {
                    return None;
                }
                Knob::Act { int, frac }
            }
            (&Site::Weight { layer }, Knob::Weight { drop }, Dim::Weight) => {
                let LayerKind::Dense { weight, .. } = &self.base.layers[layer].kind else {
                    return None;
                };
                let min = if weight.ty.signed { 2 } else { 1 };
                if weight.ty.width < drop + 1 + min {
                    return None;
                }
                Knob::Weight { drop: drop + 1 }
            }
            _ => return None,
        };
        Some(next)
    }

    /// Every possible one-step move from `s`.
    pub fn moves(&self, s: &Setting) -> Vec<Move> {
        let mut v = Vec::new();
        for (site, kind) in self.sites.iter().enumerate() {
            let dims: &[Dim] = match kind {
                Site::Act { .. } => &[Dim::Frac, Dim::Int],
                Site::Weight { .. } => &[Dim::Weight],
            };
            for &dim in dims {
                let m = Move { site, dim };
                if self.step(s, m).is_some() {
                    v.push(m);
                }
            }
        }
        v
    }

    /// A move in words: `relu1 frac 6→5`.
    pub fn describe(&self, s: &Setting, m: Move) -> String {
        let name = |k: usize| self.base.layers[k].name.as_str();
        match (&self.sites[m.site], s[m.site], m.dim) {
            (Site::Act { layer, .. }, Knob::Act { int, .. }, Dim::Int) => {
                format!("{} int {}→{}", name(*layer), int, int - 1)
            }
            (Site::Act { layer, .. }, Knob::Act { frac, .. }, _) => {
                format!("{} frac {}→{}", name(*layer), frac, frac - 1)
            }
            (Site::Weight { layer }, Knob::Weight { drop }, _) => {
                format!("{} weights −{} bit", name(*layer), drop + 1)
            }
            _ => unreachable!("knob kinds follow their sites"),
        }
    }

    /// Compiles a model as `rtl4ml compile` would, for its cost and latency; with `needed`,
    /// also the clock period it needs to fit the latency budget.
    pub fn point(
        &self,
        label: String,
        s: &Setting,
        g: &LayerGraph,
        e: Eval,
        needed: bool,
    ) -> Result<Point> {
        let d = flow::compile(g.clone(), &self.options)?;
        let r = &d.report;
        // The scheduler `compile --latency-cycles` uses, on the netlist just built.
        let needed_clock_ns = match self.budget.filter(|_| needed) {
            Some(b) => {
                let model = self.options.target.delay_model();
                let sched = schedule::schedule_for_latency(&d.net, b, None, &model)
                    .map_err(|m| Error::unsupported("latency budget", m))?;
                Some(sched.clock_ns)
            }
            None => None,
        };
        Ok(Point {
            label,
            lut: r.resources.lut,
            ff: r.resources.ff,
            latency_cycles: r.latency_cycles,
            latency_ns: r.latency_ns,
            error: e.error,
            mse: e.mse,
            needed_clock_ns,
            accepted: false,
            setting: s.clone(),
        })
    }

    pub fn within_budget(&self, p: &Point) -> bool {
        self.budget.is_none_or(|b| p.latency_cycles <= b)
    }

    /// Is `p` an acceptable answer (accuracy and latency)?
    pub fn feasible(&self, p: &Point) -> bool {
        p.error <= self.reference.limit && self.within_budget(p)
    }
}

/// The start model with an identity `quantize` layer (named `<input>_q`) between each input
/// and its readers (model outputs that are inputs keep reading the raw input).
pub fn with_input_quantizers(g: &LayerGraph) -> LayerGraph {
    let n_in = g.inputs.len();
    let mut names: HashSet<String> = g
        .inputs
        .iter()
        .map(|t| t.name.clone())
        .chain(g.layers.iter().map(|l| l.name.clone()))
        .collect();
    // Input `i` is now read through its quantizer, tensor `n_in + i`; layers move by `n_in`.
    let shift = |t: usize| t + n_in;
    let mut layers: Vec<Layer> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut name = format!("{}_q", t.name);
            let mut k = 2;
            while names.contains(&name) {
                name = format!("{}_q{k}", t.name);
                k += 1;
            }
            names.insert(name.clone());
            Layer {
                name: name.clone(),
                kind: LayerKind::Quantize,
                input: i,
                output: Tensor {
                    name,
                    shape: t.shape.clone(),
                    ty: t.ty,
                },
            }
        })
        .collect();
    layers.extend(g.layers.iter().map(|l| {
        let mut l = l.clone();
        l.map_sources(shift);
        l
    }));
    LayerGraph {
        name: g.name.clone(),
        inputs: g.inputs.clone(),
        layers,
        outputs: g
            .outputs
            .iter()
            .map(|&t| if t < n_in { t } else { t + n_in })
            .collect(),
    }
}

/// Makes the dense result that only activation layer `k` reads wide enough never to
/// overflow. That result is `k`'s input and costs no logic of its own, but a wrap there
/// would change values and keep the compiler from folding `k`'s RND rounding into the sum.
fn widen_source(g: &mut LayerGraph, k: usize) {
    let t = g.layers[k].input;
    let Some(d) = t.checked_sub(g.inputs.len()) else {
        return;
    };
    let sole_reader = g.layers.iter().filter(|l| l.reads(t)).count() == 1;
    if !matches!(g.layers[d].kind, LayerKind::Dense { .. }) || !sole_reader || exposed(g, t) {
        return;
    }
    let old = g.layers[d].output.ty;
    let Some(r) = analyze(g).source_hull(d).and_then(|s| s.rounded(&old)) else {
        return;
    };
    let signed = r.lo < 0;
    let width = if signed {
        r.width()
    } else {
        Interval::new(0, r.hi).width()
    };
    if (old.keeps(r.lo) && old.keeps(r.hi)) || width > MAX_TYPE_WIDTH {
        return;
    }
    let ty = FixedType {
        signed,
        width,
        int_bits: width as i32 - old.frac(),
        round: old.round,
        overflow: Overflow::Wrap,
    };
    set_type(g, d, ty);
}

/// Can activation layer `k` of `base` take a width per channel? An input quantizer can (it
/// truncates); a ReLU or a rounding `quantize` can when it is the only reader of a `dense`
/// result (not a model output) that accumulates exactly (in `lossless`, the base narrowed),
/// whose bias then takes the halves of the channels' rounding.
fn each_site(base: &LayerGraph, lossless: &LayerGraph, k: usize, round: Round) -> Option<Each> {
    let layer = &base.layers[k];
    let channels = *layer.output.shape.last()?;
    if channels == 0 || layer.output.len() % channels != 0 {
        return None;
    }
    if round == Round::Trn {
        return matches!(layer.kind, LayerKind::Quantize).then_some(Each {
            channels,
            bias_from: None,
        });
    }
    if !matches!(layer.kind, LayerKind::Relu | LayerKind::Quantize) {
        return None;
    }
    let t = layer.input;
    let d = t.checked_sub(base.inputs.len())?;
    let sole_reader = base.layers.iter().filter(|l| l.reads(t)).count() == 1;
    let LayerKind::Dense { weight, .. } = &lossless.layers[d].kind else {
        return None;
    };
    let exact = matches!(
        lossless.layers[d].kind,
        LayerKind::Dense { accum: None, .. }
    );
    (sole_reader && exact && !exposed(base, t) && weight.data.ncols() == channels).then_some(Each {
        channels,
        bias_from: Some(d),
    })
}

/// The type of channel bits `(int, frac)` (integer bits without the sign): `None` for no bits
/// at all (the channel is always 0).
pub fn channel_type(signed: bool, int: i32, frac: i32, overflow: Overflow) -> Option<FixedType> {
    let width = int + frac + i32::from(signed);
    (width >= 1).then(|| FixedType {
        signed,
        width: width as u32,
        int_bits: int + i32::from(signed),
        round: Round::Trn,
        overflow,
    })
}

/// The type that holds only 0 (a channel given no bits).
pub fn zero_type() -> FixedType {
    FixedType {
        signed: false,
        width: 1,
        int_bits: 0,
        round: Round::Trn,
        overflow: Overflow::SatNarrow,
    }
}

/// Turns activation layer `k` into a per-element `quantize` with channel widths `ch`, each
/// bounded by the site's knob `bounds` (see [`Each`]); `int0`: the start's integer bits.
fn apply_each(
    g: &mut LayerGraph,
    k: usize,
    signed: bool,
    each: &Each,
    ch: &[(i32, i32)],
    bounds: Knob,
    int0: i32,
) {
    let Knob::Act { int, frac } = bounds else {
        unreachable!("an activation knob")
    };
    let layer = &g.layers[k];
    // A ReLU becomes unsigned saturating casts, which clamp negative values to 0.
    let relu = matches!(layer.kind, LayerKind::Relu);
    let old = layer.output.ty.overflow;
    let bits: Vec<(i32, i32)> = ch.iter().map(|&(i, f)| (i.min(int), f.min(frac))).collect();
    let chan: Vec<FixedType> = bits
        .iter()
        .map(|&(i, f)| {
            let ovf = if relu || i < int0 { Overflow::Sat } else { old };
            channel_type(signed && !relu, i, f, ovf).unwrap_or_else(zero_type)
        })
        .collect();
    let n = layer.output.len();
    let types: Vec<FixedType> = (0..n).map(|e| chan[e % each.channels]).collect();
    if let Some(d) = each.bias_from {
        // The half LSB of each channel's rounding joins its bias; the sum is then exact.
        let halves: Vec<Option<i32>> = chan
            .iter()
            .zip(&bits)
            .map(|(t, &(_, f))| (!is_zero_type(t)).then_some(f + 1))
            .collect();
        if let LayerKind::Dense { bias, .. } = &mut g.layers[d].kind {
            *bias = add_halves(bias, &halves);
        }
        if let Some(ty) = analyze(g).source_hull(d).and_then(|s| exact_type(&s)) {
            set_type(g, d, ty);
        }
    }
    set_element_types(g, k, types);
}

/// `bias + 2^−h` per output with a half at `h` (the bias type grows to hold them).
pub fn add_halves(bias: &Constant<Vec<i64>>, halves: &[Option<i32>]) -> Constant<Vec<i64>> {
    let f = halves.iter().flatten().copied().max().unwrap_or(0);
    let off: Vec<i64> = halves
        .iter()
        .map(|h| h.map_or(0, |h| 1i64 << (f - h)))
        .collect();
    add_offsets(bias, f, &off)
}

/// `bias + off · 2^−f` (the bias type grows to hold the sums).
pub fn add_offsets(bias: &Constant<Vec<i64>>, f: i32, off: &[i64]) -> Constant<Vec<i64>> {
    let fb = bias.ty.frac();
    let fr = fb.max(f);
    let data: Vec<i64> = bias
        .data
        .iter()
        .zip(off)
        .map(|(&b, &o)| (b << (fr - fb)) + (o << (fr - f)))
        .collect();
    let f = fr;
    let lo = data.iter().copied().min().unwrap_or(0).min(0);
    let hi = data.iter().copied().max().unwrap_or(0).max(0);
    let signed = bias.ty.signed || lo < 0;
    let width = match signed {
        true => Interval::new(i128::from(lo.min(-1)), i128::from(hi)).width(),
        false => Interval::new(0, i128::from(hi)).width(),
    };
    Constant {
        ty: FixedType {
            signed,
            width,
            int_bits: width as i32 - f,
            round: bias.ty.round,
            overflow: bias.ty.overflow,
        },
        data,
    }
}

/// The narrowest type that holds every value of `s` exactly; `None` past the type limit.
fn exact_type(s: &super::analysis::Span) -> Option<FixedType> {
    let r = s.at(s.frac)?;
    let f = if s.is_zero() { 0 } else { s.frac };
    let signed = r.lo < 0;
    let width = if signed {
        r.width()
    } else {
        Interval::new(0, r.hi).width()
    };
    (width <= MAX_TYPE_WIDTH).then_some(FixedType {
        signed,
        width,
        int_bits: width as i32 - f,
        round: Round::Trn,
        overflow: Overflow::Wrap,
    })
}

/// Weights with `drop` low bits removed: mantissas rounded to nearest (ties away from zero)
/// and clamped to the narrower type.
pub fn requantize(w: &Constant<Array2<i64>>, drop: u32) -> Constant<Array2<i64>> {
    if drop == 0 {
        return w.clone();
    }
    let ty = FixedType {
        width: w.ty.width - drop,
        ..w.ty
    };
    let half = 1i64 << (drop - 1);
    let data = w.data.mapv(|m| {
        let r = if m >= 0 {
            (m + half) >> drop
        } else {
            -((-m + half) >> drop)
        };
        r.clamp(ty.min_mantissa() as i64, ty.max_mantissa() as i64)
    });
    Constant { ty, data }
}

/// Estimated effect of a move, from its last compile.
#[derive(Clone, Copy, Debug, Default)]
struct Estimate {
    saving: f64,
    cycles: i64,
    /// Change of the clock period needed for the budget (0 when unknown).
    needed_ns: f64,
}

/// What the descent found.
pub struct Descent {
    /// Every compiled point; `points[0]` is the start, then the probes.
    pub points: Vec<Point>,
    /// Index of the first point after the probes.
    pub first_step: usize,
    /// The design the descent ended at.
    pub last: Point,
    pub simulations: usize,
    pub compiles: usize,
}

/// How many candidates are compiled per round while chasing the latency budget.
pub const CHASE_BATCH: usize = 4;

/// A candidate of one round: the move, its setting and model, and its accuracy.
type Tried = (Move, Setting, LayerGraph, Eval);

/// Runs the descent from the start setting. With a latency budget the start does not meet,
/// `chase` first takes only moves that shorten the logic (preferring ones that save a
/// cycle), and gives up when none is left; without `chase` the budget is ignored until
/// met. Once within the budget, the descent never leaves it.
///
/// The descent starts from `from` and keeps the metric within `limit`.
pub fn descend(
    p: &Problem,
    bar: &ProgressBar,
    chase: bool,
    from: &Setting,
    limit: f64,
) -> Result<Descent> {
    let sims = AtomicUsize::new(0);
    let compiles = AtomicUsize::new(0);
    // A candidate the compiler rejects (a saturating accumulator that narrower weights or
    // inputs no longer keep provably in range) is a move that fails: infinitely wrong.
    let eval = |cache: &Cache, g: &LayerGraph| -> Result<Eval> {
        sims.fetch_add(1, Ordering::Relaxed);
        measure(&p.reference, cache, g)
    };
    let point = |label: String, s: &Setting, g: &LayerGraph, e: Eval, needed: bool| {
        compiles.fetch_add(1, Ordering::Relaxed);
        p.point(label, s, g, e, needed)
    };

    let mut state = from.clone();
    let mut graph = p.apply(&state);
    let mut cache = Cache::new(&graph, &p.calib)?;
    let start = eval(&cache, &graph)?;
    let mut current = Point {
        accepted: true,
        ..point("start".into(), &state, &graph, start, false)?
    };
    let chase = chase && !p.within_budget(&current);
    if chase {
        current = Point {
            accepted: true,
            ..point("start".into(), &state, &graph, start, true)?
        };
    }
    let mut points = vec![current.clone()];

    // Probes: every move from the start, compiled (in parallel) for its cost and latency.
    bar.set_message("probing the cost of each move");
    let probes: Vec<Option<(Move, Point)>> = p
        .moves(&state)
        .into_par_iter()
        .map(|m| {
            let s = p.step(&state, m).expect("a listed move");
            let g = p.apply(&s);
            let e = eval(&cache, &g)?;
            if !e.error.is_finite() {
                return Ok(None); // rejected by the compiler
            }
            let label = format!("probe: {}", p.describe(&state, m));
            Ok(Some((m, point(label, &s, &g, e, chase)?)))
        })
        .collect::<Result<_>>()?;
    let mut estimate: HashMap<Move, Estimate> = HashMap::new();
    for (m, q) in probes.into_iter().flatten() {
        estimate.insert(m, effect(&current, &q));
        points.push(q);
    }
    let first_step = points.len();

    // A change of the guide (MSE) smaller than this counts as none.
    let floor = p.reference.mean_square() * 1e-9 + f64::MIN_POSITIVE;
    let mut frozen: HashSet<Move> = HashSet::new();
    let mut last_failures: Vec<Tried>;
    loop {
        bar.set_message(format!(
            "{} LUT + {} FF, {} cycles, {} {}",
            current.lut,
            current.ff,
            current.latency_cycles,
            p.reference.metric.name(),
            p.reference.metric.show(current.error),
        ));
        let moves: Vec<Move> = p
            .moves(&state)
            .into_iter()
            .filter(|m| !frozen.contains(m))
            .collect();
        let tried: Vec<Tried> = moves
            .into_par_iter()
            .map(|m| {
                let s = p.step(&state, m).expect("a listed move");
                let g = p.apply(&s);
                let e = match g == graph {
                    true => current.eval(),
                    false => eval(&cache, &g)?,
                };
                Ok((m, s, g, e))
            })
            .collect::<Result<_>>()?;
        let (pass, fail): (Vec<Tried>, Vec<Tried>) =
            tried.into_iter().partition(|t| t.3.error <= limit);
        frozen.extend(fail.iter().map(|f| f.0));
        last_failures = fail;
        // A move that leaves the narrowed model unchanged costs nothing: take it at once.
        if let Some(t) = pass.iter().find(|t| t.2 == graph) {
            state = t.1.clone();
            current.setting = state.clone();
            continue;
        }
        // Chasing the latency budget, only moves that do not lengthen the logic (as far as
        // their last compile tells) are tried.
        let over = chase && !p.within_budget(&current);
        let est = |m: &Move| estimate.get(m).copied().unwrap_or_default();
        let mut pass: Vec<Tried> = pass
            .into_iter()
            .filter(|t| !over || est(&t.0).needed_ns <= 1e-9)
            .collect();
        // Largest estimated saving per unit of added noise first (moves estimated to cost
        // more come last but are still tried: a first step can pay for saturation logic that
        // later steps use); outside the budget, moves known to save a cycle before all.
        let score = |t: &Tried| {
            let e = est(&t.0);
            (
                over && e.cycles < 0,
                e.saving / (t.3.mse - current.mse).max(floor),
            )
        };
        pass.sort_by(|a, b| score(b).partial_cmp(&score(a)).expect("finite scores"));
        // Within the budget the best move is compiled alone; outside it, the best
        // `CHASE_BATCH` (compiled in parallel), and one that saves a cycle is preferred. A
        // constant, not the thread count: the path must not depend on the machine.
        let batch = if over { CHASE_BATCH } else { 1 };
        let acceptable = |q: &Point| match p.budget {
            Some(b) if p.within_budget(&current) => q.latency_cycles <= b,
            Some(_) if over => {
                q.latency_cycles <= current.latency_cycles
                    && q.needed_clock_ns <= current.needed_clock_ns.map(|n| n + 1e-9)
            }
            _ => true,
        };
        let mut taken = None;
        let mut pass = pass.into_iter().peekable();
        while taken.is_none() && pass.peek().is_some() {
            let chunk: Vec<Tried> = pass.by_ref().take(batch).collect();
            let compiled: Vec<(Tried, Point)> = chunk
                .into_par_iter()
                .map(|t| {
                    let q = point(p.describe(&state, t.0), &t.1, &t.2, t.3, over)?;
                    Ok((t, q))
                })
                .collect::<Result<_>>()?;
            for (t, q) in &compiled {
                estimate.insert(t.0, effect(&current, q));
            }
            let pick = compiled
                .iter()
                .position(|(_, q)| over && q.latency_cycles < current.latency_cycles)
                .or_else(|| compiled.iter().position(|(_, q)| acceptable(q)));
            for (i, (t, q)) in compiled.into_iter().enumerate() {
                if Some(i) == pick {
                    taken = Some((
                        t,
                        Point {
                            accepted: true,
                            ..q
                        },
                    ));
                    continue;
                }
                if p.within_budget(&current) && !acceptable(&q) {
                    frozen.insert(t.0); // it would leave the budget
                }
                points.push(q);
            }
        }
        let Some(((_, s, g, _), q)) = taken else {
            break;
        };
        cache = Cache::new(&g, &p.calib)?;
        state = s;
        graph = g;
        current = q.clone();
        points.push(q);
        bar.inc(1);
    }

    // The trade-off just beyond the tolerance: the moves that failed last, compiled.
    bar.set_message("compiling the moves beyond the tolerance");
    let beyond: Vec<Point> = last_failures
        .into_par_iter()
        .filter(|t| t.3.error.is_finite())
        .map(|(m, s, g, e)| {
            let label = format!("beyond: {}", p.describe(&state, m));
            point(label, &s, &g, e, false)
        })
        .collect::<Result<_>>()?;
    points.extend(beyond);
    Ok(Descent {
        points,
        first_step,
        last: current,
        simulations: sims.into_inner(),
        compiles: compiles.into_inner(),
    })
}

fn effect(from: &Point, to: &Point) -> Estimate {
    Estimate {
        saving: from.cost() as f64 - to.cost() as f64,
        cycles: i64::from(to.latency_cycles) - i64::from(from.latency_cycles),
        needed_ns: match (from.needed_clock_ns, to.needed_clock_ns) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        },
    }
}

/// Candidate `g`'s accuracy, simulated from `cache`. A candidate the compiler rejects (a
/// saturating accumulator that narrower weights or inputs no longer keep provably in range)
/// is a move that fails: infinitely wrong.
pub(super) fn measure(reference: &Reference, cache: &Cache, g: &LayerGraph) -> Result<Eval> {
    match cache.outputs(g) {
        Ok(y) => Ok(reference.evaluate(g, &y)),
        Err(Error::Unsupported { .. } | Error::Lower { .. }) => Ok(Eval {
            error: f64::INFINITY,
            mse: f64::INFINITY,
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::native::parse;
    use crate::optimize::metric::{Metric, Tolerance};
    use crate::verify::vectors;

    fn jet16() -> LayerGraph {
        let path = format!("{}/models/jet_tagger_16b.json", env!("CARGO_MANIFEST_DIR"));
        parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
    }

    /// The jet tagger's problem on `n` random vectors (seed `seed`) with an MSE reference:
    /// the model, the vectors, their outputs and the problem.
    fn jet_problem(n: usize, seed: u64) -> (LayerGraph, Array2<i64>, Array2<i64>, Problem) {
        let g = jet16();
        let x = vectors::generate(&g.input_types(), n, seed);
        let y = super::super::simulate(&g, &x).unwrap();
        let reference = Reference::new(&g, &y, Metric::Mse, Tolerance::Absolute(1.0));
        let p = Problem::new(&g, x.clone(), reference, Options::default(), None, true).unwrap();
        (g, x, y, p)
    }

    #[test]
    fn incremental_simulation_matches_a_full_one() {
        let g = jet16();
        let x = vectors::generate(&g.input_types(), 500, 3);
        let y = super::super::simulate(&g, &x).unwrap();
        let reference = Reference::new(&g, &y, Metric::Argmax, Tolerance::Percent(0.5));
        let p = Problem::new(&g, x.clone(), reference, Options::default(), None, true).unwrap();
        let cache = Cache::new(&p.apply(&p.start), &p.calib).unwrap();
        // Every single move, and two moves at once, re-simulated from the first change.
        let mut settings: Vec<Setting> = p
            .moves(&p.start)
            .into_iter()
            .map(|m| p.step(&p.start, m).unwrap())
            .collect();
        let last = settings.last().unwrap().clone();
        let m = p.moves(&last)[0];
        settings.push(p.step(&last, m).unwrap());
        for s in &settings {
            let m = p.apply(s);
            assert_eq!(
                cache.outputs(&m).unwrap(),
                super::super::simulate(&m, &x).unwrap()
            );
        }
        // The start model is the original: the identity input quantizers change nothing.
        assert_eq!(cache.outputs(&p.apply(&p.start)).unwrap(), y);
    }

    #[test]
    fn knobs_become_types() {
        let (.., p) = jet_problem(10, 3);
        // x_q, relu1..3 (the dense results feed ReLUs only), and four weight sites.
        assert_eq!(p.sites.len(), 8);
        assert_eq!(p.base.layers[0].name, "x_q");
        let relu1 = p
            .sites
            .iter()
            .position(
                |s| matches!(s, Site::Act { layer, .. } if p.base.layers[*layer].name == "relu1"),
            )
            .unwrap();
        let mut s = p.start.clone();
        s[relu1] = Knob::Act { int: 3, frac: 4 };
        let m = p.apply(&s);
        let k = m.layers.iter().position(|l| l.name == "relu1").unwrap();
        assert_eq!(m.layers[k].output.ty.to_string(), "ufixed<7,3,RND,SAT>");
        // fc1 keeps one bit below relu1's LSB (for its RND) and no longer wraps.
        let fc1 = &m.layers[k - 1].output.ty;
        assert_eq!((fc1.frac(), fc1.overflow), (5, Overflow::Wrap));
        assert!(fc1.int_bits > 6);
        let LayerKind::Dense { weight, .. } = &p
            .apply(&{
                let mut s = p.start.clone();
                s[1] = Knob::Weight { drop: 2 };
                s
            })
            .layers[1]
            .kind
        else {
            panic!("fc1 is dense")
        };
        assert_eq!(weight.ty.to_string(), "fixed<4,0>");
    }

    /// A digit move may round a weight to the power of two just past its type's largest code
    /// (`31 = 32 − 1 → 32` in fixed<6,0>): the applied model widens the weight type by one
    /// integer bit, holds the value exactly, passes the reader's checks and computes it.
    #[test]
    fn a_weight_rounded_past_the_largest_code_widens_its_type() {
        let (_, x, y, p) = jet_problem(50, 7);
        let site = p
            .sites
            .iter()
            .position(|s| matches!(s, Site::Weight { .. }))
            .unwrap();
        let Site::Weight { layer } = p.sites[site] else {
            unreachable!()
        };
        let LayerKind::Dense { weight, .. } = &p.base.layers[layer].kind else {
            panic!("a dense layer")
        };
        assert_eq!(weight.ty.to_string(), "fixed<6,0>");
        let mut w = weight.data.clone();
        w[[0, 0]] = 32;
        w[[1, 0]] = -32;
        let mut s = p.start.clone();
        s.weights[site] = Some(w);
        let m = p.apply(&s);
        let LayerKind::Dense { weight, .. } = &m.layers[layer].kind else {
            panic!("a dense layer")
        };
        assert_eq!(weight.ty.to_string(), "fixed<7,1>");
        assert_eq!((weight.data[[0, 0]], weight.data[[1, 0]]), (32, -32));
        let text = crate::frontend::native_write::write(&m, None);
        let back = crate::frontend::native::parse(&text, "widened").unwrap();
        assert_eq!(
            super::super::simulate(&back, &x).unwrap(),
            super::super::simulate(&m, &x).unwrap()
        );
        // The new weights are in effect: the outputs differ from the original's.
        assert_ne!(super::super::simulate(&m, &x).unwrap(), y);
    }

    /// A ReLU with a width per channel is a per-element `quantize` of truncating casts with
    /// the halves in the bias: exactly the ReLU rounding to nearest (RND) per channel, which
    /// is written here directly (RND unsigned saturating casts of the dense result).
    #[test]
    fn per_channel_widths_round_to_nearest_for_free() {
        let (_, x, _, p) = jet_problem(3000, 11);
        let site = p
            .sites
            .iter()
            .position(
                |s| matches!(s, Site::Act { layer, .. } if p.base.layers[*layer].name == "relu1"),
            )
            .unwrap();
        let Site::Act {
            layer,
            each: Some(each),
            ..
        } = &p.sites[site]
        else {
            panic!("relu1 takes per-channel widths")
        };
        assert_eq!(each.bias_from, Some(layer - 1));
        let mut s = p.start.clone();
        s[site] = Knob::Act { int: 3, frac: 6 };
        // Channel 0 gets no bits at all (always 0); the others 1–3 integer, 3–6 fraction bits.
        let ch: Vec<(i32, i32)> = (0..each.channels as i32)
            .map(|c| {
                if c == 0 {
                    (0, 0)
                } else {
                    (3 - c % 3, 6 - c % 4)
                }
            })
            .collect();
        s.channels[site] = Some(ch.clone());
        let m = p.apply(&s);
        let LayerKind::QuantizeEach { types } = &m.layers[*layer].kind else {
            panic!("relu1 became a per-element quantize")
        };
        assert!(is_zero_type(&types[0]));
        assert_eq!(types[5].to_string(), "ufixed<6,1,TRN,SAT>");
        // The reference: RND casts of the dense result, no halves in the bias.
        let mut r = p.base.clone();
        let rnd: Vec<FixedType> = ch
            .iter()
            .map(|&(i, f)| match channel_type(false, i, f, Overflow::Sat) {
                Some(t) => t.with_modes(Round::Rnd, Overflow::Sat),
                None => zero_type(),
            })
            .collect();
        set_element_types(&mut r, *layer, rnd);
        // An exact dense sum (the 16-bit start wraps on extreme inputs).
        let exact = exact_type(&analyze(&r).source_hull(layer - 1).unwrap()).unwrap();
        set_type(&mut r, layer - 1, exact);
        let (a, b) = (
            super::super::simulate(&m, &x).unwrap(),
            super::super::simulate(&r, &x).unwrap(),
        );
        assert_eq!(a, b);
        // The narrowed model keeps each channel's own width for the next layer.
        assert!(crate::flow::compile(m, &Options::default()).is_ok());
    }

    #[test]
    fn weights_round_to_nearest() {
        let w = Constant {
            ty: FixedType::new(true, 6, 0),
            data: Array2::from_shape_vec((1, 6), vec![31, -32, 5, -5, 6, 2]).unwrap(),
        };
        let r = requantize(&w, 2);
        assert_eq!(r.ty, FixedType::new(true, 4, 0));
        assert_eq!(r.data.as_slice().unwrap(), &[7, -8, 1, -1, 2, 1]);
    }
}
