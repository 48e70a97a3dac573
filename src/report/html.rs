//! `rtl4ml report DIR --html`: one self-contained HTML page (inline CSS, inline SVG drawn
//! here, no scripts) with the summary, the per-layer table and three plots: cost per layer,
//! bit widths per layer and the latency timeline of the pipeline.
//!
//! Every name that comes from a model file goes through [`escape`]; long names are shortened
//! for display (the full, escaped name is in the element's `title`).

use super::{LayerReport, Report};
use std::fmt::Write;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    // Control characters (newline and tab included) first become `\u{..}` text, as in every
    // other output (`crate::text`); XML forbids most of them even as character references.
    for c in crate::text::escape(s).chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A name shortened to `n` characters for display (with an ellipsis), escaped.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        escape(s)
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        escape(&format!("{t}…"))
    }
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
margin:24px;color:#1d232b;background:#fff;max-width:1150px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d6dbe1;padding-bottom:3px}\
.sub{color:#56606b;margin:0 0 16px;font-size:13px}\
table{border-collapse:collapse;font-size:13px;margin:6px 0}\
th,td{padding:3px 9px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}\
th{background:#f1f4f7;font-weight:600}td:first-child,th:first-child{text-align:left}\
tr.total td{font-weight:600;border-top:2px solid #a9b2bc}\
.kv td:first-child{color:#56606b}.good{color:#1a7f37}.bad{color:#b42318}\
.note{color:#56606b;font-size:12px;margin:4px 0 0}\
svg{display:block;margin:8px 0}svg text{font-family:inherit;font-size:11px;fill:#1d232b}\
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;vertical-align:-1px}";

/// A measured figure and the estimate's error for it, if the model applies.
type MeasuredField = fn(&super::Measured) -> (u64, Option<f64>);
/// A plotted series: name, colour, value per layer.
type Series<'a> = (&'a str, &'a str, fn(&LayerReport) -> f64);

const LUT_COLOUR: &str = "#3b74c4";
const FF_COLOUR: &str = "#e08a2b";
const WIDTH_COLOUR: &str = "#4a9a6a";
const ADDER_COLOUR: &str = "#9a5ab8";

/// The page for a report. `target` is the FPGA family the build was scheduled for.
pub fn render(r: &Report, target: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>rtl4ml report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        short(&r.model, 80)
    );
    let _ = writeln!(
        h,
        "<h1>rtl4ml report: <code>{}</code></h1>\n<p class=\"sub\">top module <code>{}</code>, \
         target {}, rtl4ml {}</p>",
        short(&r.model, 80),
        escape(&r.top),
        escape(target),
        env!("CARGO_PKG_VERSION")
    );
    summary(&mut h, r, target);
    layer_table(&mut h, r);
    h.push_str("<h2>Cost per layer</h2>\n");
    h.push_str(&cost_plot(&r.layers));
    h.push_str("<h2>Bit widths per layer</h2>\n");
    h.push_str(&width_plot(&r.layers));
    h.push_str("<h2>Latency timeline</h2>\n");
    h.push_str(&timeline(r));
    h.push_str(
        "<p class=\"note\">Estimates from the cost model in docs/resource-model.md; measured \
         figures from <code>rtl4ml synth</code>. Latency timeline: the pipeline stages (clock \
         cycles) in which each layer's logic is computed.</p>\n</body>\n</html>\n",
    );
    h
}

fn summary(h: &mut String, r: &Report, target: &str) {
    h.push_str("<h2>Summary</h2>\n<table class=\"kv\">\n");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><td>{k}</td><td>{v}</td></tr>");
    };
    kv(
        "latency",
        format!("{} cycles = {:.2} ns", r.latency_cycles, r.latency_ns),
    );
    kv(
        "clock",
        format!("{:.3} ns ({:.1} MHz)", r.clock_ns, 1000.0 / r.clock_ns),
    );
    kv("initiation interval", r.initiation_interval.to_string());
    kv(
        "estimated critical stage",
        format!(
            "{:.2} ns (Fmax ≈ {:.1} MHz)",
            r.critical_path_ns, r.fmax_mhz_estimate
        ),
    );
    kv("target", escape(target));
    if let Some(t) = &r.timing_model {
        kv(
            "timing model",
            format!(
                "<span class=\"{}\">{}</span>",
                if t.status == "calibrated" {
                    "good"
                } else {
                    "bad"
                },
                escape(&super::timing_model_line(t))
            ),
        );
    }
    kv(
        "buses",
        format!("in {} bits, out {} bits", r.in_width, r.out_width),
    );
    kv("netlist nodes", r.nodes.to_string());
    for m in &r.measured {
        if let Some(p) = &m.pnr {
            kv(
                &format!("routed Fmax ({}{})", escape(&p.device), super::fill_text(p)),
                format!(
                    "{:.1} MHz for a {:.1} MHz constraint: <span class=\"{}\">{}</span>; \
                     latency {:.2} ns",
                    p.fmax_mhz,
                    p.constraint_mhz,
                    if p.met { "good" } else { "bad" },
                    if p.met { "met" } else { "not met" },
                    p.achieved_latency_ns
                ),
            );
            kv(
                "routed vs predicted",
                escape(&super::routed_vs_predicted(r, p)),
            );
        }
    }
    h.push_str("</table>\n");

    // Resources: estimate, then one column per measurement.
    h.push_str("<table>\n<tr><th>resource</th><th>estimate</th>");
    for m in &r.measured {
        let _ = write!(
            h,
            "<th title=\"{}\">measured ({})</th>",
            escape(&m.version),
            escape(&m.target)
        );
    }
    h.push_str("</tr>\n");
    let rows: [(&str, u64, MeasuredField); 6] = [
        ("LUT", r.resources.lut, |m| (m.lut, m.lut_error_pct)),
        ("FF", r.resources.ff, |m| (m.ff, m.ff_error_pct)),
        ("carry cells", r.resources.carry, |m| (m.carry, None)),
        ("DSP", r.resources.dsp, |m| (m.dsp, None)),
        ("BRAM", 0, |m| (m.bram, None)),
        ("LUTRAM", 0, |m| (m.lutram, None)),
    ];
    for (name, est, get) in rows {
        let _ = write!(h, "<tr><td>{name}</td><td>{est}</td>");
        for m in &r.measured {
            let (v, e) = get(m);
            match e {
                Some(e) => {
                    let class = if e.abs() <= 10.0 { "good" } else { "bad" };
                    let _ = write!(
                        h,
                        "<td>{v} <span class=\"{class}\">(est. {e:+.1}%)</span></td>"
                    );
                }
                None => {
                    let _ = write!(h, "<td>{v}</td>");
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if r.measured.is_empty() {
        h.push_str(
            "<p class=\"note\">No measurement yet: run <code>rtl4ml synth DIR</code> to add \
             Yosys figures.</p>\n",
        );
    }
}

fn layer_table(h: &mut String, r: &Report) {
    h.push_str(
        "<h2>Layers</h2>\n<table>\n<tr><th>layer</th><th>stages</th><th>adders</th>\
         <th>adder bits</th><th>casts</th><th>max width</th><th>LUT</th><th>FF</th>\
         <th>carry</th><th>DSP</th></tr>\n",
    );
    for l in &r.layers {
        let _ = writeln!(
            h,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.name),
            short(&l.name, 48),
            stages(l),
            l.adders,
            l.adder_bits,
            l.casts,
            l.max_width,
            l.resources.lut,
            l.resources.ff,
            l.resources.carry,
            l.resources.dsp
        );
    }
    let sum = |f: fn(&LayerReport) -> u64| r.layers.iter().map(f).sum::<u64>();
    let _ = writeln!(
        h,
        "<tr class=\"total\"><td>total</td><td>0–{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>",
        r.latency_cycles.saturating_sub(1),
        sum(|l| l.adders),
        sum(|l| l.adder_bits),
        sum(|l| l.casts),
        r.layers.iter().map(|l| l.max_width).max().unwrap_or(0),
        r.resources.lut,
        r.resources.ff,
        r.resources.carry,
        r.resources.dsp
    );
    let _ = writeln!(
        h,
        "<p class=\"note\">The FF total includes the {}-bit valid pipeline.</p>",
        r.latency_cycles
    );
}

fn stages(l: &LayerReport) -> String {
    if l.max_width == 0 {
        "–".into()
    } else if l.first_stage == l.last_stage {
        l.first_stage.to_string()
    } else {
        format!("{}–{}", l.first_stage, l.last_stage)
    }
}

/// Left margin for layer names in the plots (px).
const LABEL_W: f64 = 190.0;
const PLOT_W: f64 = 1080.0;

/// A "nice" axis maximum ≥ `v` (1, 2, 2.5 or 5 × 10^k).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_tick(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A bar's value label: exact for counts, one decimal for means.
fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Horizontal grouped bars: one group per layer, one bar per series.
fn bar_plot(layers: &[LayerReport], series: &[Series], unit: &str) -> String {
    let bar_h = 9.0;
    let group_h = bar_h * series.len() as f64 + 8.0;
    let top = 22.0;
    let height = top + group_h * layers.len().max(1) as f64 + 28.0;
    let max = layers
        .iter()
        .flat_map(|l| series.iter().map(move |s| (s.2)(l)))
        .fold(0.0, f64::max);
    let axis = nice_max(max);
    let span = PLOT_W - LABEL_W - 60.0;
    let x = |v: f64| LABEL_W + v / axis * span;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PLOT_W}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {PLOT_W} {height:.0}\" role=\"img\">"
    );
    // Legend.
    let mut lx = LABEL_W;
    for (name, colour, _) in series {
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"4\" width=\"11\" height=\"11\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"14\">{}</text>",
            lx + 15.0,
            escape(name)
        );
        lx += 30.0 + 7.0 * name.len() as f64;
    }
    // Grid and ticks.
    let bottom = top + group_h * layers.len().max(1) as f64;
    for k in 0..=5 {
        let v = axis * k as f64 / 5.0;
        let gx = x(v);
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" stroke=\"#e4e7eb\"/>\
             <text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 14.0,
            fmt_tick(v)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LABEL_W + span / 2.0,
        bottom + 26.0,
        escape(unit)
    );
    for (i, l) in layers.iter().enumerate() {
        let gy = top + group_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            LABEL_W - 6.0,
            gy + group_h / 2.0 + 3.0,
            escape(&l.name),
            short(&l.name, 28)
        );
        for (k, (name, colour, f)) in series.iter().enumerate() {
            let v = f(l);
            let y = gy + 4.0 + bar_h * k as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{LABEL_W}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                 fill=\"{colour}\"><title>{}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\">{}</text>",
                x(v) - LABEL_W,
                bar_h - 1.0,
                escape(name),
                fmt_value(v),
                x(v) + 3.0,
                y + bar_h - 2.0,
                fmt_value(v)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// LUT and FF estimate per layer.
pub fn cost_plot(layers: &[LayerReport]) -> String {
    bar_plot(
        layers,
        &[
            ("LUT (estimate)", LUT_COLOUR, |l| l.resources.lut as f64),
            ("FF (estimate)", FF_COLOUR, |l| l.resources.ff as f64),
        ],
        "cells",
    )
}

/// Widest value and mean adder width per layer.
pub fn width_plot(layers: &[LayerReport]) -> String {
    bar_plot(
        layers,
        &[
            ("max width", WIDTH_COLOUR, |l| l.max_width as f64),
            ("mean adder width", ADDER_COLOUR, |l| {
                if l.adders == 0 {
                    0.0
                } else {
                    l.adder_bits as f64 / l.adders as f64
                }
            }),
        ],
        "bits",
    )
}

/// Gantt chart: one row per layer, one column per pipeline stage (clock cycle); a layer's
/// bar spans the stages its logic is computed in.
pub fn timeline(r: &Report) -> String {
    let n_stages = r.latency_cycles.max(1) as f64;
    let row_h = 20.0;
    let top = 24.0;
    let n = r.layers.len().max(1) as f64;
    let height = top + row_h * n + 34.0;
    let span = PLOT_W - LABEL_W - 20.0;
    let col = span / n_stages;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PLOT_W}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {PLOT_W} {height:.0}\" role=\"img\">"
    );
    let bottom = top + row_h * n;
    // Stage columns, alternately shaded, labelled with the stage and its time window.
    let label_every = ((n_stages / 24.0).ceil() as u32).max(1);
    for k in 0..r.latency_cycles.max(1) {
        let cx = LABEL_W + col * k as f64;
        if k % 2 == 0 {
            let _ = writeln!(
                s,
                "<rect x=\"{cx:.1}\" y=\"{top}\" width=\"{col:.2}\" height=\"{:.1}\" fill=\"#f4f6f8\"/>",
                row_h * n
            );
        }
        if k % label_every == 0 {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{k}</text>",
                cx + col / 2.0,
                top - 6.0
            );
        }
    }
    for k in 0..=r.latency_cycles.max(1) {
        if k % label_every == 0 || k == r.latency_cycles {
            let cx = LABEL_W + col * k as f64;
            let _ = writeln!(
                s,
                "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"#a9b2bc\"/>\
                 <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom,
                bottom + 4.0,
                bottom + 15.0,
                fmt_tick(((k as f64 * r.clock_ns) * 100.0).round() / 100.0)
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">stage (top) / time in ns at a \
         {:.3} ns clock (bottom)</text>",
        LABEL_W + span / 2.0,
        bottom + 29.0,
        r.clock_ns
    );
    let palette = [
        "#3b74c4", "#e08a2b", "#4a9a6a", "#9a5ab8", "#c44b4b", "#3aa0a8",
    ];
    for (i, l) in r.layers.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            LABEL_W - 6.0,
            y + row_h / 2.0 + 4.0,
            escape(&l.name),
            short(&l.name, 28)
        );
        if l.max_width == 0 {
            continue; // wiring only (flatten, reshape): no logic, no stage
        }
        let x0 = LABEL_W + col * l.first_stage as f64;
        let w = col * (l.last_stage - l.first_stage + 1) as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\" \
             fill=\"{}\"><title>{}: stages {}</title></rect>",
            y + 3.0,
            row_h - 6.0,
            palette[i % palette.len()],
            escape(&l.name),
            stages(l)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{0}b\nc"), "a\\u{0}b\\u{a}c");
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(2400.0), 2500.0);
    }
}
