//! The lossy search: greedy coordinate descent over per-layer widths.
//!
//! **Knobs** ([`Site`]). Every model input gets a `quantize` layer (the identity at first, so
//! the hardware interface never changes), and every activation that is not a model output —
//! `relu` and `quantize` results, and `dense` results that another dense layer reads — has
//! two knobs: integer bits (above the binary point, sign excluded) and fractional bits. A
//! narrowed activation rounds with RND (free: the compiler folds its half LSB into the
//! dense sum) and saturates (lossless narrowing turns SAT back into WRAP where it provably
//! never acts). Optionally each dense layer's weights lose low bits (rounded to nearest, so
//! fewer signed digits and some weights pruned). `dense` results read only by a `relu` or
//! `quantize` need no knob: lossless narrowing cuts them to what their reader keeps.
//!
//! **Candidates** are the model with its knobs applied, then narrowed losslessly
//! ([`super::narrow`]). Accuracy comes from the bit-accurate simulator on the calibration
//! set, *incrementally*: the current state's tensors are cached, and a candidate re-simulates
//! only from the first layer it changes. Cost (estimated LUT + FF) and latency come from
//! [`flow::compile`] — the scheduler and resource model `rtl4ml compile` uses — and only for
//! candidates that pass the accuracy tolerance, since compiling costs ~20× a simulation.
//!
//! **Descent.** Each round simulates every one-step move from the current state in parallel.
//! Moves that break the tolerance are frozen (narrowing elsewhere only adds error). Among the
//! others the move with the largest estimated saving per unit of added error is compiled and
//! accepted if it saves; when the state is over the latency budget, moves known to cut
//! latency come first. Savings are estimated from a compile of each move from the start
//! state (a probe), refreshed whenever the move is actually taken. The search ends when no
//! move passes; the failing moves of the last round are then compiled too, so the explored
//! points show the trade-off just beyond the tolerance.

use super::metric::Reference;
use super::narrow::{narrow, set_type};
use crate::error::{Error, Result};
use crate::flow::{self, Options};
use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::layers::{Constant, Layer, LayerGraph, LayerKind, Tensor};
use crate::passes::lower::{lower, LowerOptions};
use crate::sim::Simulator;
use indicatif::ProgressBar;
use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Something the search can narrow.
#[derive(Clone, Debug, PartialEq)]
pub enum Site {
    /// The result type of a layer of [`Problem::base`]; `signed`: the values can be negative.
    Act { layer: usize, signed: bool },
    /// The weights of a dense layer of [`Problem::base`].
    Weight { layer: usize },
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

/// One setting per site.
pub type Setting = Vec<Knob>;

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
    /// On the accepted path of the descent (the others are probes and rejected moves).
    pub path: bool,
    #[serde(skip)]
    pub setting: Setting,
}

impl Point {
    pub fn cost(&self) -> u64 {
        self.lut + self.ff
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
        let base = with_input_quantizers(start);
        let analysis = super::analysis::analyze(&base).ok_or_else(|| {
            Error::unsupported(
                "optimize",
                "the model's value intervals exceed the analysis limits (120-bit values)",
            )
        })?;
        let n_in = base.inputs.len();
        let mut sites = Vec::new();
        let mut start_setting = Vec::new();
        for (k, layer) in base.layers.iter().enumerate() {
            let t = n_in + k;
            let act = match layer.kind {
                LayerKind::Relu | LayerKind::Quantize => true,
                LayerKind::Dense { .. } => base.layers.iter().any(|l| {
                    l.input == t && matches!(l.kind, LayerKind::Dense { .. } | LayerKind::Flatten)
                }),
                LayerKind::Flatten => false,
            };
            if act && !super::narrow::exposed(&base, t) {
                let ty = layer.output.ty;
                let negative = analysis.tensor_hull(t).is_some_and(|s| s.lo < 0);
                let signed = ty.signed && negative;
                sites.push(Site::Act { layer: k, signed });
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
        Ok(Problem {
            base,
            sites,
            start: start_setting,
            calib,
            reference,
            options,
            budget,
        })
    }

    /// The model for a setting (knobs applied, then narrowed losslessly).
    pub fn apply(&self, s: &Setting) -> LayerGraph {
        let mut g = self.base.clone();
        for ((site, knob), start) in self.sites.iter().zip(s).zip(&self.start) {
            if knob == start {
                continue;
            }
            match (site, *knob) {
                (&Site::Act { layer, signed }, Knob::Act { int, frac }) => {
                    let ty = FixedType {
                        signed,
                        width: (int + frac + i32::from(signed)) as u32,
                        int_bits: int + i32::from(signed),
                        round: Round::Rnd,
                        overflow: Overflow::Sat,
                    };
                    set_type(&mut g, layer, ty);
                }
                (&Site::Weight { layer }, Knob::Weight { drop }) => {
                    if let LayerKind::Dense { weight, .. } = &mut g.layers[layer].kind {
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

    /// Compiles a model as `rtl4ml compile` would: `(lut, ff, latency cycles, latency ns)`.
    pub fn compile(&self, g: &LayerGraph) -> Result<(u64, u64, u32, f64)> {
        let d = flow::compile(g.clone(), &self.options)?;
        let r = &d.report;
        Ok((
            r.resources.lut,
            r.resources.ff,
            r.latency_cycles,
            r.latency_ns,
        ))
    }

    fn within_budget(&self, p: &Point) -> bool {
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
    let shift = |t: usize| if t < n_in { n_in + t } else { t + n_in };
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
    layers.extend(g.layers.iter().map(|l| Layer {
        input: shift(l.input),
        ..l.clone()
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

/// Simulates `g` on `inputs` (mantissas of its inputs, bus order) and returns the values of
/// the tensors `outputs` (which replace the model's own outputs), bus order.
fn simulate(g: &LayerGraph, inputs: ArrayView2<i64>, outputs: &[usize]) -> Result<Array2<i64>> {
    let mut g = g.clone();
    g.outputs = outputs.to_vec();
    // Sharing subexpressions changes the hardware, never the values: skip its cost here.
    let net = lower(&g, &LowerOptions { share: false })?;
    Ok(Simulator::new(&net).run(inputs))
}

/// Cached values of every tensor of one model on the calibration set, for incremental
/// re-simulation of models that differ from it only from some layer on.
pub struct Cache {
    graph: LayerGraph,
    /// Per tensor, `[samples, elements]`.
    tensors: Vec<Array2<i64>>,
}

impl Cache {
    pub fn new(g: &LayerGraph, calib: &Array2<i64>) -> Result<Cache> {
        let all: Vec<usize> = (0..g.inputs.len() + g.layers.len()).collect();
        let out = simulate(g, calib.view(), &all)?;
        let mut tensors = Vec::with_capacity(all.len());
        let mut col = 0;
        for &t in &all {
            let n = g.tensor(t).len();
            tensors.push(out.slice(ndarray::s![.., col..col + n]).to_owned());
            col += n;
        }
        Ok(Cache {
            graph: g.clone(),
            tensors,
        })
    }

    /// The output mantissas of `g`, which must have the same inputs and layer count as the
    /// cached model.
    pub fn outputs(&self, g: &LayerGraph) -> Result<Array2<i64>> {
        debug_assert_eq!(g.inputs, self.graph.inputs);
        debug_assert_eq!(g.layers.len(), self.graph.layers.len());
        let n_in = g.inputs.len();
        let cut = (0..g.layers.len())
            .find(|&k| g.layers[k] != self.graph.layers[k])
            .unwrap_or(g.layers.len());
        // The tensors before the cut that the rest of the model (or its output) reads.
        let boundary: Vec<usize> = (0..n_in + cut)
            .filter(|&t| {
                g.outputs.contains(&t) || g.layers[cut..].iter().any(|l| l.input == t)
            })
            .collect();
        let index = |t: usize| match boundary.binary_search(&t) {
            Ok(i) => i,
            Err(_) => t - n_in - cut + boundary.len(),
        };
        let sub = LayerGraph {
            name: g.name.clone(),
            inputs: boundary.iter().map(|&t| g.tensor(t).clone()).collect(),
            layers: g.layers[cut..]
                .iter()
                .map(|l| Layer {
                    input: index(l.input),
                    ..l.clone()
                })
                .collect(),
            outputs: g.outputs.iter().map(|&t| index(t)).collect(),
        };
        let views: Vec<ArrayView2<i64>> = boundary.iter().map(|&t| self.tensors[t].view()).collect();
        let inputs = concatenate(Axis(1), &views).expect("same number of samples");
        simulate(&sub, inputs.view(), &sub.outputs)
    }
}

/// Estimated effect of a move, from its last compile.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    saving: f64,
    latency: i64,
}

/// What the descent found.
pub struct Descent {
    /// Every compiled point; `points[0]` is the start.
    pub points: Vec<Point>,
    pub simulations: usize,
    pub compiles: usize,
}

/// Runs the descent from the start setting.
pub fn descend(p: &Problem, bar: &ProgressBar) -> Result<Descent> {
    let sims = AtomicUsize::new(0);
    let compiles = AtomicUsize::new(0);
    let error_of = |cache: &Cache, g: &LayerGraph| -> Result<f64> {
        sims.fetch_add(1, Ordering::Relaxed);
        Ok(p.reference.error(g, &cache.outputs(g)?))
    };
    let point = |label: String, s: &Setting, g: &LayerGraph, error: f64, path: bool| {
        compiles.fetch_add(1, Ordering::Relaxed);
        p.compile(g).map(|(lut, ff, latency_cycles, latency_ns)| Point {
            label,
            lut,
            ff,
            latency_cycles,
            latency_ns,
            error,
            path,
            setting: s.clone(),
        })
    };

    let mut state = p.start.clone();
    let mut graph = p.apply(&state);
    let mut cache = Cache::new(&graph, &p.calib)?;
    let start_error = p.reference.error(&graph, &cache.outputs(&graph)?);
    let mut current = point("start".into(), &state, &graph, start_error, true)?;
    let mut points = vec![current.clone()];

    // Probes: every move from the start, compiled (in parallel) for its cost.
    bar.set_message("probing the cost of each move");
    let probes: Vec<(Move, Point)> = p
        .moves(&state)
        .into_par_iter()
        .map(|m| {
            let s = p.step(&state, m).expect("a listed move");
            let g = p.apply(&s);
            let e = error_of(&cache, &g)?;
            Ok((m, point(format!("probe: {}", p.describe(&state, m)), &s, &g, e, false)?))
        })
        .collect::<Result<_>>()?;
    let mut estimate: HashMap<Move, Estimate> = HashMap::new();
    for (m, q) in probes {
        estimate.insert(m, effect(&current, &q));
        points.push(q);
    }

    let mut frozen: HashSet<Move> = HashSet::new();
    let mut last_failures: Vec<(Move, Setting, LayerGraph, f64)> = Vec::new();
    let mut round = 0;
    loop {
        round += 1;
        bar.set_message(format!(
            "round {round}: {} LUT + {} FF, {} cycles, {} {}",
            current.lut,
            current.ff,
            current.latency_cycles,
            p.reference.metric.show(current.error),
            p.reference.metric.name()
        ));
        bar.tick();
        let moves: Vec<Move> = p
            .moves(&state)
            .into_iter()
            .filter(|m| !frozen.contains(m))
            .collect();
        let tried: Vec<(Move, Setting, LayerGraph, f64)> = moves
            .into_par_iter()
            .map(|m| {
                let s = p.step(&state, m).expect("a listed move");
                let g = p.apply(&s);
                let e = if g == graph { current.error } else { error_of(&cache, &g)? };
                Ok((m, s, g, e))
            })
            .collect::<Result<_>>()?;
        let (pass, fail): (Vec<_>, Vec<_>) = tried
            .into_iter()
            .partition(|(_, _, _, e)| *e <= p.reference.limit);
        frozen.extend(fail.iter().map(|f| f.0));
        last_failures = fail;
        // A move that leaves the narrowed model unchanged costs nothing: take it at once.
        if let Some((_, s, _, _)) = pass.iter().find(|(_, _, g, _)| *g == graph) {
            state = s.clone();
            current.setting = state.clone();
            continue;
        }
        let over = !p.within_budget(&current);
        let score = |m: &Move, e: f64| {
            let est = estimate.get(m).copied().unwrap_or(Estimate {
                saving: 0.0,
                latency: 0,
            });
            let ratio = est.saving / ((e - current.error).max(0.0) + p.reference.resolution());
            (over && est.latency < 0, ratio)
        };
        let best = pass
            .into_iter()
            .filter(|(m, _, _, _)| estimate.get(m).is_none_or(|e| e.saving > 0.0))
            .max_by(|a, b| {
                score(&a.0, a.3)
                    .partial_cmp(&score(&b.0, b.3))
                    .expect("finite scores")
            });
        let Some((m, s, g, e)) = best else { break };
        let label = p.describe(&state, m);
        let q = point(label, &s, &g, e, true)?;
        let fx = effect(&current, &q);
        estimate.insert(m, fx);
        let better = q.cost() < current.cost()
            || (over && q.latency_cycles < current.latency_cycles);
        if !better {
            let mut rejected = q;
            rejected.path = false;
            points.push(rejected);
            frozen.insert(m);
            continue;
        }
        cache = Cache::new(&g, &p.calib)?;
        state = s;
        graph = g;
        current = q.clone();
        points.push(q);
    }

    // The trade-off just beyond the tolerance: the moves that failed last, compiled.
    bar.set_message("compiling the moves beyond the tolerance");
    let beyond: Vec<Point> = last_failures
        .into_par_iter()
        .map(|(m, s, g, e)| point(format!("beyond: {}", p.describe(&state, m)), &s, &g, e, false))
        .collect::<Result<_>>()?;
    points.extend(beyond);
    Ok(Descent {
        points,
        simulations: sims.into_inner(),
        compiles: compiles.into_inner(),
    })
}

fn effect(from: &Point, to: &Point) -> Estimate {
    Estimate {
        saving: from.cost() as f64 - to.cost() as f64,
        latency: i64::from(to.latency_cycles) - i64::from(from.latency_cycles),
    }
}
