//! The fixed-point optimizer (`rtl4ml optimize`, docs/optimize.md): chooses bit widths that
//! minimise the estimated LUT + FF cost under an accuracy tolerance on calibration data and
//! a latency budget.
//!
//! - [`analysis`]: layer-level value intervals and grids of every tensor element;
//! - [`narrow`]: lossless narrowing from those intervals (outputs bit-identical on every
//!   input in range);
//! - [`metric`]: accuracy against the reference (argmax disagreement, MSE, max-abs);
//! - [`search`]: the lossy greedy descent over per-layer widths (incremental simulation,
//!   parallel candidates, compile-based cost and latency);
//! - [`fine`]: per-weight signed-digit rounding and per-channel widths, in batches ranked by
//!   a linearised sensitivity, with bias correction;
//! - [`retrain`]: fine-tuning of weights and biases under the current types against labels
//!   (straight-through estimators), interleaved with the search (`--retrain`);
//! - [`report`]: per-layer changes, before/after figures, Pareto JSON/CSV/SVG.
//!
//! The reference is the original model's own outputs on the calibration set (the native
//! format carries no floating-point model).

pub mod analysis;
pub mod cache;
pub mod fine;
pub mod metric;
pub mod narrow;
pub mod report;
pub mod retrain;
pub mod search;
pub mod training;

use crate::error::Result;
use crate::flow::Options;
use crate::ir::layers::LayerGraph;
use crate::passes::lower::LowerOptions;
use crate::sim::Simulator;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use metric::{Metric, Reference, Tolerance};
use ndarray::Array2;
use search::{Point, Problem};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct OptimizeOptions {
    pub metric: Metric,
    pub tolerance: Tolerance,
    /// How designs are compiled for cost and latency (clock, target), as `rtl4ml compile`.
    pub compile: Options,
    /// Latency budget in cycles at `compile.clock_ns`.
    pub budget_cycles: Option<u32>,
    /// Let the search drop weight bits.
    pub weights: bool,
    /// Only narrow losslessly (no search).
    pub lossless_only: bool,
    /// Also narrow integer bits to the ranges observed on the calibration set times this
    /// margin (≥ 1), saturating beyond them ([`narrow::observed`]), before the search.
    pub observed_margin: Option<f64>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// The optimizer's result.
pub struct Outcome {
    /// The optimised model (narrowed, identity quantizers removed).
    pub optimized: LayerGraph,
    /// The original model, compiled, with its error (zero: it is the reference).
    pub before: Point,
    /// The optimised model, compiled, with its error from a full simulation.
    pub after: Point,
    /// Every compiled point of the search (the `before` and `after` designs included).
    pub points: Vec<Point>,
    /// Index of the chosen point in `points`.
    pub chosen: Option<usize>,
    /// The chosen design meets the tolerance and the budget (else it is the closest).
    pub feasible: bool,
    pub changes: Vec<report::Change>,
    pub metric: Metric,
    /// The tolerance in the metric's unit.
    pub limit: f64,
    pub samples: usize,
    pub clock_ns: f64,
    pub budget_cycles: Option<u32>,
    /// The declared margin of the observed-range narrowing, when it was asked for.
    pub observed_margin: Option<f64>,
    pub seconds: f64,
    pub simulations: usize,
    pub compiles: usize,
    /// With `--retrain` ([`retrain`]): the points' `error` is the drop of the held-out
    /// accuracy against the start, and this says from what.
    pub retrained: Option<report::Retrained>,
}

/// Output mantissas of `g` on `inputs` (input mantissas, bus order).
pub fn simulate(g: &LayerGraph, inputs: &Array2<i64>) -> Result<Array2<i64>> {
    let net = crate::passes::pipeline::netlist(
        g,
        &LowerOptions {
            share: false,
            ..Default::default()
        },
    )?;
    Ok(Simulator::new(&net).run(inputs.view()))
}

/// The share of the tolerance the first, per-layer descent may use; the fine search
/// ([`fine`]) then spends the rest on single weights and channels, where it is cheaper.
pub const PER_LAYER_SHARE: f64 = 0.5;

/// Optimises `g` on calibration inputs `calib` (`[samples, inputs]` mantissas).
pub fn optimize(g: &LayerGraph, calib: Array2<i64>, opts: &OptimizeOptions) -> Result<Outcome> {
    let t0 = Instant::now();
    let reference = Reference::new(g, &simulate(g, &calib)?, opts.metric, opts.tolerance);
    let samples = reference.samples();
    let limit = reference.limit;
    let lossless = narrow::drop_identity_quantizers(&narrow::narrow(g));
    // The search starts from the observed ranges when asked (identical outputs on the
    // calibration set by construction), else from the original.
    let observed = match opts.observed_margin {
        Some(m) if m >= 1.0 && m.is_finite() => Some(narrow::drop_identity_quantizers(
            &narrow::observed(&narrow::narrow(g), &calib, m)?,
        )),
        Some(m) => {
            return Err(crate::error::Error::usage(
                "--observed-margin",
                format!("the margin is a factor of at least 1 (got {m})"),
            ))
        }
        None => None,
    };
    let problem = Problem::new(
        observed.as_ref().unwrap_or(g),
        calib,
        reference,
        opts.compile.clone(),
        opts.budget_cycles,
        opts.weights,
    )?;
    let measure = |label: &str, m: &LayerGraph| -> Result<Point> {
        let e = problem.reference.evaluate(m, &simulate(m, &problem.calib)?);
        problem.point(label.into(), &problem.start, m, e, false)
    };
    let before = measure("original", g)?;

    let (optimized, mut points, chosen, feasible, simulations, compiles) = if opts.lossless_only {
        let (label, narrowed) = match (&observed, opts.observed_margin) {
            (Some(o), Some(m)) => (format!("observed ranges ×{m}"), o),
            _ => ("lossless narrowing".to_string(), &lossless),
        };
        let after = measure(&label, narrowed)?;
        let feasible = problem.feasible(&after);
        (
            narrowed.clone(),
            vec![before.clone(), after],
            Some(1),
            feasible,
            2,
            2,
        )
    } else {
        let bar = if opts.progress {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {pos} steps: {msg}")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        // 1. Per-layer widths, with part of the tolerance (all of it when the fine search
        //    has nothing to move).
        let fine_moves = fine::has_moves(&problem)?;
        let coarse = if fine_moves { PER_LAYER_SHARE } else { 1.0 } * limit;
        let mut d = search::descend(&problem, &bar, true, &problem.start, coarse)?;
        if !d.points.iter().any(|q| problem.feasible(q)) && !problem.feasible(&d.points[0]) {
            // Chasing the budget failed: minimise cost from the start without it, and report
            // the closest design of both descents.
            let again = search::descend(&problem, &bar, false, &problem.start, coarse)?;
            d.points
                .extend(again.points.into_iter().skip(again.first_step));
            d.simulations += again.simulations;
            d.compiles += again.compiles;
            d.last = again.last;
        }
        if fine_moves {
            // 2. Per-weight digits and per-channel widths, up to the whole tolerance.
            let f = fine::refine(&problem, &bar, &d.last, limit)?;
            d.points.extend(f.points);
            d.simulations += f.simulations;
            d.compiles += f.compiles;
            // 3. Per-layer moves again, from there.
            let polish = search::descend(&problem, &bar, true, &f.last.setting, limit)?;
            d.points.extend(polish.points.into_iter().skip(1));
            d.simulations += polish.simulations;
            d.compiles += polish.compiles;
        }
        bar.finish_and_clear();
        let best = |ok: &dyn Fn(&Point) -> bool| {
            (0..d.points.len())
                .filter(|&i| ok(&d.points[i]))
                .min_by_key(|&i| (d.points[i].cost(), d.points[i].latency_cycles))
        };
        let feasible_choice = best(&|p| problem.feasible(p));
        // Without a feasible point: the most accurate-enough design with the lowest latency.
        let chosen = feasible_choice.or_else(|| {
            let acc = |p: &Point| p.error <= limit;
            let min_lat = d
                .points
                .iter()
                .filter(|p| acc(p))
                .map(|p| p.latency_cycles)
                .min()?;
            best(&|p| acc(p) && p.latency_cycles == min_lat)
        });
        let setting = chosen.map_or(&problem.start, |i| &d.points[i].setting);
        let optimized = narrow::drop_identity_quantizers(&problem.apply(setting));
        (
            optimized,
            d.points,
            chosen,
            feasible_choice.is_some(),
            d.simulations,
            d.compiles,
        )
    };
    let mut after = measure("optimized", &optimized)?;
    let (mut optimized, mut chosen) = (optimized, chosen);
    if let Some(i) = chosen {
        // The chosen point's figures, confirmed on the final model by a full simulation.
        points[i].error = after.error;
        points[i].mse = after.mse;
    }
    // Never worse than the input: a result that costs at least as much and is no faster
    // (lossless narrowing can cost a few LUTs where the input's own types were already
    // tight, e.g. HGQ2-trained models) gives way to the input itself.
    if problem.feasible(&before)
        && before.cost() <= after.cost()
        && before.latency_cycles <= after.latency_cycles
        && (before.cost(), before.latency_cycles) != (after.cost(), after.latency_cycles)
    {
        optimized = g.clone();
        after = Point {
            label: "original (kept: no explored design beats it)".into(),
            accepted: true,
            ..before.clone()
        };
        points.push(after.clone());
        chosen = Some(points.len() - 1);
    }
    let changes = report::changes(g, &lossless, observed.as_ref(), &optimized);
    Ok(Outcome {
        optimized,
        before,
        after,
        points,
        chosen,
        feasible,
        changes,
        metric: opts.metric,
        limit,
        samples,
        clock_ns: opts.compile.clock_ns,
        budget_cycles: opts.budget_cycles,
        observed_margin: opts.observed_margin,
        seconds: t0.elapsed().as_secs_f64(),
        simulations,
        compiles,
        retrained: None,
    })
}
