//! What the optimizer tells people: the per-layer changes, before/after figures, and the
//! explored points as JSON, CSV and an SVG Pareto plot with the chosen point marked.

use super::metric::Metric;
use super::narrow::is_zero_type;
use super::search::Point;
use super::Outcome;
use crate::error::{Error, Result};
use crate::ir::layers::{Layer, LayerGraph, LayerKind};
use crate::passes::csd::csd;
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One changed type (or weight set) of one layer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Change {
    pub layer: String,
    /// `result`, `accum`, `bias` or `weight`.
    pub field: String,
    /// `None` for a layer the optimizer inserted.
    pub before: Option<String>,
    pub after: Option<String>,
    /// The new type is what lossless narrowing alone gives (outputs bit-identical).
    pub lossless: bool,
    /// The new type is what narrowing to the observed ranges gives (`--observed-margin`:
    /// outputs identical on the calibration set, saturating beyond the margin).
    pub observed: bool,
}

fn weight_text(k: &LayerKind) -> Option<String> {
    match k {
        LayerKind::Dense { weight, .. } => Some(format!(
            "{} ({} nonzero, {} signed digits)",
            weight.ty,
            weight.data.iter().filter(|&&w| w != 0).count(),
            weight
                .data
                .iter()
                .map(|&w| csd(i128::from(w)).len())
                .sum::<usize>()
        )),
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
        | LayerKind::Softmax { .. } => None,
    }
}

fn bias_text(k: &LayerKind) -> Option<String> {
    match k {
        LayerKind::Dense { bias, .. } => Some(bias.ty.to_string()),
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
        | LayerKind::Softmax { .. } => None,
    }
}

/// A result type; a per-element `quantize` also tells how many elements have each width.
fn result_text(l: &Layer) -> Option<String> {
    match &l.kind {
        LayerKind::Flatten => None,
        LayerKind::QuantizeEach { types } => {
            let mut widths: std::collections::BTreeMap<u32, usize> = Default::default();
            for t in types {
                let w = if is_zero_type(t) { 0 } else { t.width };
                *widths.entry(w).or_default() += 1;
            }
            let list: Vec<String> = widths
                .iter()
                .rev()
                .map(|(w, n)| format!("{n}×{w}b"))
                .collect();
            Some(format!("{} per element: {}", l.output.ty, list.join(" ")))
        }
        LayerKind::Dense { .. }
        | LayerKind::Relu
        | LayerKind::Quantize
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
        | LayerKind::Softmax { .. } => Some(l.output.ty.to_string()),
    }
}

fn accum_text(k: &LayerKind) -> Option<String> {
    match k {
        LayerKind::Dense { accum, .. } => {
            Some(accum.map_or_else(|| "exact".to_string(), |a| a.to_string()))
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
        | LayerKind::Softmax { .. } => None,
    }
}

/// A field of a layer and how it reads in the change table.
type Field = (&'static str, fn(&Layer) -> Option<String>);

/// The differences between `original` and `optimized`, layer by layer (matched by name);
/// `lossless` is `original` narrowed losslessly.
pub fn changes(
    original: &LayerGraph,
    lossless: &LayerGraph,
    observed: Option<&LayerGraph>,
    optimized: &LayerGraph,
) -> Vec<Change> {
    let find = |g: &LayerGraph, name: &str| g.layers.iter().find(|l| l.name == name).cloned();
    let mut out = Vec::new();
    for l in &optimized.layers {
        let before = find(original, &l.name);
        let exact = find(lossless, &l.name);
        let seen = observed.and_then(|g| find(g, &l.name));
        let fields: [Field; 4] = [
            ("weight", |l| weight_text(&l.kind)),
            ("bias", |l| bias_text(&l.kind)),
            ("accum", |l| accum_text(&l.kind)),
            ("result", result_text),
        ];
        for (field, text) in fields {
            let after = text(l);
            let old = before.as_ref().and_then(text);
            if after == old || after.is_none() {
                continue;
            }
            let lossless = before.is_some() && exact.as_ref().and_then(text) == after;
            out.push(Change {
                layer: l.name.clone(),
                field: field.into(),
                lossless,
                observed: !lossless && before.is_some() && seen.as_ref().and_then(text) == after,
                before: old,
                after,
            });
        }
    }
    out
}

/// Points not dominated in (cost, error, latency).
pub fn pareto(points: &[Point]) -> Vec<bool> {
    points
        .iter()
        .map(|p| {
            !points.iter().any(|q| {
                q.cost() <= p.cost()
                    && q.error <= p.error
                    && q.latency_cycles <= p.latency_cycles
                    && (q.cost() < p.cost()
                        || q.error < p.error
                        || q.latency_cycles < p.latency_cycles)
            })
        })
        .collect()
}

#[derive(Serialize)]
struct PointRow<'a> {
    #[serde(flatten)]
    point: &'a Point,
    cost: u64,
    within_tolerance: bool,
    within_budget: bool,
    pareto: bool,
    chosen: bool,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    model: &'a str,
    metric: Metric,
    tolerance: f64,
    samples: usize,
    clock_ns: f64,
    budget_cycles: Option<u32>,
    feasible: bool,
    before: &'a Point,
    after: &'a Point,
    changes: &'a [Change],
    search_seconds: f64,
    simulations: usize,
    compiles: usize,
    points: Vec<PointRow<'a>>,
}

fn rows(o: &Outcome) -> Vec<PointRow<'_>> {
    let front = pareto(&o.points);
    o.points
        .iter()
        .enumerate()
        .map(|(i, p)| PointRow {
            point: p,
            cost: p.cost(),
            within_tolerance: p.error <= o.limit,
            within_budget: o.budget_cycles.is_none_or(|b| p.latency_cycles <= b),
            pareto: front[i],
            chosen: o.chosen == Some(i),
        })
        .collect()
}

pub fn to_json(o: &Outcome) -> String {
    let r = JsonReport {
        model: &o.optimized.name,
        metric: o.metric,
        tolerance: o.limit,
        samples: o.samples,
        clock_ns: o.clock_ns,
        budget_cycles: o.budget_cycles,
        feasible: o.feasible,
        before: &o.before,
        after: &o.after,
        changes: &o.changes,
        search_seconds: o.seconds,
        simulations: o.simulations,
        compiles: o.compiles,
        points: rows(o),
    };
    serde_json::to_string_pretty(&r).expect("serialisable") + "\n"
}

pub fn to_csv(o: &Outcome) -> String {
    let mut s = String::from(
        "index,label,lut,ff,cost,latency_cycles,latency_ns,needed_clock_ns,error,mse,within_tolerance,within_budget,accepted,pareto,chosen\n",
    );
    for (i, r) in rows(o).iter().enumerate() {
        let p = r.point;
        let _ = writeln!(
            s,
            "{i},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{}",
            crate::text::escape(&p.label).replace('"', "\"\""),
            p.lut,
            p.ff,
            r.cost,
            p.latency_cycles,
            p.latency_ns,
            p.needed_clock_ns
                .map_or(String::new(), |n| format!("{n:.3}")),
            p.error,
            p.mse,
            r.within_tolerance,
            r.within_budget,
            p.accepted,
            r.pareto,
            r.chosen
        );
    }
    s
}

/// Text for SVG (XML) content: names from the model have their control characters written as
/// `\u{..}` first (XML forbids most C0 controls even as character references), then `&<>"'`
/// are escaped.
fn esc(s: &str) -> String {
    crate::text::escape(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Cost (LUT + FF) against error; the tolerance as a dashed line, points over the latency
/// budget as crosses, the Pareto front as a line, the chosen point ringed.
pub fn to_svg(o: &Outcome) -> String {
    let (w, h) = (760.0, 480.0);
    let (left, right, top, bottom) = (80.0, 190.0, 56.0, 60.0);
    let rs = rows(o);
    let max_cost = rs.iter().map(|r| r.cost).max().unwrap_or(1) as f64;
    let min_cost = rs.iter().map(|r| r.cost).min().unwrap_or(0) as f64;
    let x_step = nice_step((max_cost - min_cost).max(1.0) / 5.0);
    let x0 = (min_cost / x_step).floor() * x_step;
    let x1 = (max_cost / x_step).ceil() * x_step;
    let max_err = rs.iter().map(|r| r.point.error).fold(0.0, f64::max);
    // Keep the interesting region readable: errors far beyond the tolerance are clipped.
    let y_top = if o.limit > 0.0 {
        max_err.min(3.0 * o.limit).max(1.2 * o.limit)
    } else {
        max_err.max(1e-12)
    };
    let y_step = nice_step(y_top / 5.0);
    let y1 = (y_top / y_step).ceil() * y_step;
    let px = |c: f64| left + (c - x0) / (x1 - x0).max(1.0) * (w - left - right);
    let py = |e: f64| h - bottom - e.min(y1) / y1 * (h - top - bottom);
    let metric = o.metric;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="15" font-weight="bold">{}: designs explored by rtl4ml optimize</text>"#,
        esc(&o.optimized.name)
    );
    let budget = o
        .budget_cycles
        .map_or(String::new(), |b| format!(", latency budget {b} cycles"));
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="40" fill="#444">{} on {} calibration samples, tolerance {}{budget}, clock {} ns</text>"##,
        metric.name(),
        o.samples,
        metric.show(o.limit),
        o.clock_ns
    );
    // Axes and ticks.
    let (bx, by) = (h - bottom, w - right);
    let _ = writeln!(
        s,
        r#"<path d="M{left},{top} V{bx} H{by}" fill="none" stroke="black"/>"#
    );
    let mut c = x0;
    while c <= x1 + x_step / 2.0 {
        let _ = writeln!(
            s,
            r#"<line x1="{0:.1}" y1="{bx}" x2="{0:.1}" y2="{1}" stroke="black"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3:.0}</text>"#,
            px(c),
            bx + 5.0,
            bx + 18.0,
            c
        );
        c += x_step;
    }
    let mut e = 0.0;
    while e <= y1 + y_step / 2.0 {
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="black"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"#,
            left - 5.0,
            py(e),
            left,
            left - 8.0,
            py(e) + 4.0,
            metric.show(e)
        );
        e += y_step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">estimated LUT + FF</text>"#,
        (left + by) / 2.0,
        h - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        (top + bx) / 2.0,
        (top + bx) / 2.0,
        metric.name()
    );
    // Tolerance.
    if o.limit > 0.0 {
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{0:.1}" x2="{by}" y2="{0:.1}" stroke="#c00" stroke-dasharray="6,4"/><text x="{1}" y="{2:.1}" fill="#c00">tolerance</text>"##,
            py(o.limit),
            left + 6.0,
            py(o.limit) - 5.0
        );
    }
    // Pareto front (by cost).
    let mut front: Vec<&PointRow> = rs.iter().filter(|r| r.pareto).collect();
    front.sort_by_key(|r| r.cost);
    if front.len() > 1 {
        let d: Vec<String> = front
            .iter()
            .map(|r| format!("{:.1},{:.1}", px(r.cost as f64), py(r.point.error)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#2a7" stroke-width="1.5"/>"##,
            d.join(" ")
        );
    }
    for r in &rs {
        let (x, y) = (px(r.cost as f64), py(r.point.error));
        let color = if r.point.accepted { "#1f5fbf" } else { "#999" };
        if r.within_budget {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}" fill-opacity="0.8"><title>{}</title></circle>"#,
                esc(&title(r, metric))
            );
        } else {
            let _ = writeln!(
                s,
                r#"<path d="M{:.1},{:.1} l7,7 m0,-7 l-7,7" stroke="{color}" stroke-width="1.5"><title>{}</title></path>"#,
                x - 3.5,
                y - 3.5,
                esc(&title(r, metric))
            );
        }
        if r.chosen {
            let _ = writeln!(
                s,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="9" fill="none" stroke="#e60" stroke-width="2.5"/><text x="{:.1}" y="{:.1}" fill="#e60" font-weight="bold">chosen: {} LUT+FF, {}</text>"##,
                x + 12.0,
                y + 20.0,
                r.cost,
                metric.show(r.point.error)
            );
        }
    }
    // Legend.
    let lx = by + 20.0;
    let legend = [
        (r##"<circle r="3.5" fill="#1f5fbf"/>"##, "accepted step"),
        (r##"<circle r="3.5" fill="#999"/>"##, "probe / rejected"),
        (
            r##"<path d="M-3.5,-3.5 l7,7 m0,-7 l-7,7" stroke="#999" stroke-width="1.5"/>"##,
            "over latency budget",
        ),
        (
            r##"<line x1="-8" x2="8" stroke="#2a7" stroke-width="1.5"/>"##,
            "Pareto front",
        ),
        (
            r##"<circle r="7" fill="none" stroke="#e60" stroke-width="2.5"/>"##,
            "chosen",
        ),
    ];
    for (i, (mark, text)) in legend.iter().enumerate() {
        let y = top + 20.0 + 22.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<g transform="translate({lx},{y})">{mark}<text x="14" y="4">{text}</text></g>"#
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A round axis step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(f64::MIN_POSITIVE).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

fn title(r: &PointRow, metric: Metric) -> String {
    format!(
        "{}: {} LUT + {} FF, {} cycles, {}",
        r.point.label,
        r.point.lut,
        r.point.ff,
        r.point.latency_cycles,
        metric.show(r.point.error)
    )
}

/// The report files for an output model `out.json`: `out.pareto.json`, `.csv` and `.svg`.
pub fn report_paths(out: &Path) -> [PathBuf; 3] {
    let stem = out.with_extension("");
    ["json", "csv", "svg"].map(|e| PathBuf::from(format!("{}.pareto.{e}", stem.display())))
}

/// Writes the three report files next to `out`; returns their paths.
pub fn write_reports(o: &Outcome, out: &Path) -> Result<[PathBuf; 3]> {
    let paths = report_paths(out);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    for (p, text) in paths.iter().zip([to_json(o), to_csv(o), to_svg(o)]) {
        crate::safe_fs::write_atomic(p, text.as_bytes())?;
    }
    Ok(paths)
}

/// The summary for people: what changed, before and after.
/// What a `--retrain` outcome's accuracy figures are measured against.
#[derive(Clone, Debug)]
pub struct Retrained {
    /// Held-out accuracy of the start model against the labels.
    pub start_accuracy: f64,
    /// Held-out samples.
    pub validation: usize,
}

pub fn summary(o: &Outcome) -> String {
    let mut s = String::new();
    let m = o.metric;
    let budget = match o.budget_cycles {
        Some(b) => format!(
            ", latency ≤ {b} cycles ({:.2} ns at {:.3} ns)",
            f64::from(b) * o.clock_ns,
            o.clock_ns
        ),
        None => String::new(),
    };
    match &o.retrained {
        None => {
            let _ = writeln!(
                s,
                "rtl4ml optimize: `{}` on {} calibration samples, {} ≤ {}{budget}",
                crate::text::escape(&o.optimized.name),
                o.samples,
                m.name(),
                m.show(o.limit)
            );
        }
        Some(r) => {
            let _ = writeln!(
                s,
                "rtl4ml optimize --retrain: `{}` fine-tuned on {} samples, held-out accuracy on \
                 {} samples at most {:.2}% below the start's {:.2}%{budget}",
                crate::text::escape(&o.optimized.name),
                o.samples,
                r.validation,
                o.limit * 100.0,
                r.start_accuracy * 100.0
            );
        }
    }
    let _ = writeln!(s);
    let mut table = vec![[
        "layer".to_string(),
        "field".into(),
        "before".into(),
        "after".into(),
    ]];
    for c in &o.changes {
        table.push([
            crate::text::escape(&c.layer),
            c.field.clone(),
            c.before.clone().unwrap_or_else(|| "(inserted)".into()),
            format!(
                "{}{}",
                c.after.clone().unwrap_or_default(),
                match (c.lossless, c.observed, o.observed_margin) {
                    (true, _, _) => "  (lossless)".to_string(),
                    (_, true, Some(m)) => format!("  (observed ×{m})"),
                    _ => String::new(),
                }
            ),
        ]);
    }
    if o.changes.is_empty() {
        let _ = writeln!(s, "no type changed");
    } else {
        push_table(&mut s, &table);
    }
    let _ = writeln!(s);
    let (b, a) = (&o.before, &o.after);
    let pct = |x: u64, y: u64| {
        if x == 0 {
            String::new()
        } else {
            format!("({:+.1}%)", (y as f64 - x as f64) / x as f64 * 100.0)
        }
    };
    let lat = |p: &Point| format!("{} cycles = {:.2} ns", p.latency_cycles, p.latency_ns);
    let err = |p: &Point| match (m, &o.retrained) {
        (_, Some(r)) => format!(
            "{:.2}% held-out ({:+.2}%)",
            (r.start_accuracy - p.error) * 100.0,
            0.0 - p.error * 100.0
        ),
        (Metric::Argmax, None) => format!(
            "{} ({} of {})",
            m.show(p.error),
            (p.error * o.samples as f64).round(),
            o.samples
        ),
        (_, None) => m.show(p.error),
    };
    let metric_row = if o.retrained.is_some() {
        "accuracy"
    } else {
        m.name()
    };
    let fig = vec![
        ["".to_string(), "before".into(), "after".into(), "".into()],
        [
            "LUT".into(),
            b.lut.to_string(),
            a.lut.to_string(),
            pct(b.lut, a.lut),
        ],
        [
            "FF".into(),
            b.ff.to_string(),
            a.ff.to_string(),
            pct(b.ff, a.ff),
        ],
        [
            "LUT + FF".into(),
            b.cost().to_string(),
            a.cost().to_string(),
            pct(b.cost(), a.cost()),
        ],
        ["latency".into(), lat(b), lat(a), String::new()],
        [metric_row.into(), err(b), err(a), String::new()],
    ];
    push_table(&mut s, &fig);
    let _ = writeln!(s);
    if o.retrained.is_some() {
        let mut rounds = vec![[
            "step".to_string(),
            "LUT".into(),
            "FF".into(),
            "cycles".into(),
            "accuracy".into(),
            String::new(),
        ]];
        for (i, p) in o.points.iter().enumerate() {
            let ok =
                p.error <= o.limit + 1e-12 && o.budget_cycles.is_none_or(|b| p.latency_cycles <= b);
            rounds.push([
                p.label.clone(),
                p.lut.to_string(),
                p.ff.to_string(),
                p.latency_cycles.to_string(),
                err(p),
                match (o.chosen == Some(i), ok) {
                    (true, _) => "chosen".into(),
                    (false, true) => "within".into(),
                    (false, false) => String::new(),
                },
            ]);
        }
        push_table(&mut s, &rounds);
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "search: {:.1} s, {} simulations, {} compiles, {} points explored",
        o.seconds,
        o.simulations,
        o.compiles,
        o.points.len()
    );
    if !o.feasible {
        let _ = writeln!(
            s,
            "NO assignment explored meets both the tolerance and the latency budget; the closest \
             is shown as `after` ({}, {})",
            lat(a),
            err(a)
        );
    }
    s
}

fn push_table<const N: usize>(s: &mut String, rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, x)| format!("{:<w$}", x, w = widths[c]))
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                s,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
    }
}
