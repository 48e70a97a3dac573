//! Latency and resource reports.
//!
//! Resources come from an explicit cost model of a Xilinx UltraScale+-class fabric (LUT6 with
//! CARRY8): a two-input adder costs one LUT per result bit, a rounding increment one LUT per
//! bit, a saturation select one LUT per output bit plus the comparison, ReLU one LUT per two
//! output bits (LUT6_2), registers one FF per bit. Constant multiplications are shift-and-add,
//! so no DSPs are used.

pub mod html;
pub mod model;

use crate::ir::netlist::{Netlist, Op};
use crate::ir::schedule::Schedule;
use crate::target::{Target, TimingModelInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    /// Carry-chain cells (CARRY4 on 7-series; see docs/resource-model.md).
    #[serde(default)]
    pub carry: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LayerReport {
    pub name: String,
    pub adders: u64,
    pub adder_bits: u64,
    pub casts: u64,
    pub max_width: u32,
    pub first_stage: u32,
    pub last_stage: u32,
    pub resources: Resources,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub model: String,
    pub top: String,
    pub latency_cycles: u32,
    pub clock_ns: f64,
    pub latency_ns: f64,
    pub initiation_interval: u32,
    /// Estimated slowest stage (combinational delay plus register overhead), from the delay model.
    pub critical_path_ns: f64,
    pub fmax_mhz_estimate: f64,
    pub in_width: u32,
    pub out_width: u32,
    pub nodes: usize,
    pub resources: Resources,
    pub layers: Vec<LayerReport>,
    /// The delay model that placed the registers and whether it is calibrated (absent in
    /// reports written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_model: Option<TimingModelInfo>,
    /// Figures measured by `rtl4ml synth` (one entry per synthesis target; absent until then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured: Vec<Measured>,
}

/// Resources measured by a synthesis run (`rtl4ml synth`), whole design (the netlist is
/// flattened, so there is no per-layer split).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    /// Synthesis target: `xilinx` (7-series cells, what the cost model is calibrated against)
    /// or `lattice-ecp5`.
    pub target: String,
    pub tool: String,
    /// The tool's version line (`yosys -V`).
    pub version: String,
    /// The synthesis script, as run in the build directory.
    pub command: String,
    /// LUTs: LUT1–LUT6, LUT6_2 and INV (an inverter is a LUT1 in a Xilinx netlist) but those
    /// in `inv_after_lut`, on `xilinx`; LUT4 on `lattice-ecp5`.
    pub lut: u64,
    /// xilinx: INV cells Yosys leaves right after a LUT, which Vivado's opt_design folds into
    /// that LUT: counted in `lut_by_size`, not in `lut`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inv_after_lut: u64,
    pub ff: u64,
    /// CARRY4/CARRY8 (xilinx) or CCU2C (2 bits each, lattice-ecp5).
    pub carry: u64,
    pub dsp: u64,
    /// Block RAM cells (RAMB18/RAMB36, DP16KD).
    pub bram: u64,
    /// Distributed RAM cells (RAM32M/RAM64X1D/…, TRELLIS_DPR16X4).
    pub lutram: u64,
    /// LUT count per size (`LUT1` … `LUT6`, `INV`).
    pub lut_by_size: BTreeMap<String, u64>,
    /// Every cell type the tool reported, with its count.
    pub cells: BTreeMap<String, u64>,
    /// (estimate − measured) / measured, in %, where the cost model applies (xilinx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lut_error_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ff_error_pct: Option<f64>,
    /// Place and route (`--pnr ecp5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pnr: Option<PnrResult>,
}

/// A routed design's timing.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PnrResult {
    pub tool: String,
    pub version: String,
    pub command: String,
    /// Device and package placed on.
    pub device: String,
    /// The clock constraint given to the router (the build's clock), MHz.
    pub constraint_mhz: f64,
    /// Routed maximum frequency of `clk`, MHz.
    pub fmax_mhz: f64,
    /// Whether the routed design meets the build's clock.
    pub met: bool,
    /// The pipeline's latency at the routed Fmax: cycles × 1000 / fmax.
    pub achieved_latency_ns: f64,
    /// How full the part is: the packed design's logic cells over the part's, in % (nextpnr's
    /// `TRELLIS_COMB` utilisation; LUT4s + 2 per CCU2C of the synthesised netlist when the
    /// report lacks it). Above ~70% the routing, which the delay model does not see, grows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_pct: Option<f64>,
}

/// ", 42% full" when the part's fill is known.
pub fn fill_text(p: &PnrResult) -> String {
    p.fill_pct
        .map(|f| format!(", {f:.0}% full"))
        .unwrap_or_default()
}

/// One line saying which delay model placed the registers and how far it is trusted.
pub fn timing_model_line(t: &TimingModelInfo) -> String {
    match (t.status.as_str(), t.met_pct, t.margin_pct) {
        ("calibrated", Some(met), Some(margin)) => format!(
            "{} ({}), calibrated against place and route: {:.0}% of the corpus' routed runs met \
             the promised clock, routed Fmax {:+.1}% of the prediction (median){}",
            t.target,
            t.version,
            met,
            margin,
            if t.clock_uncertainty_pct > 0.0 {
                format!(
                    "; stages scheduled with a {:.1}% clock uncertainty",
                    t.clock_uncertainty_pct
                )
            } else {
                String::new()
            }
        ),
        _ => format!(
            "{} ({}), {}: not checked against place and route",
            t.target,
            t.version,
            if t.status == "calibrated" {
                "calibrated"
            } else {
                "uncalibrated estimate"
            }
        ),
    }
}

/// The routed figures next to the prediction: Fmax and the latency in ns.
pub fn routed_vs_predicted(r: &Report, p: &PnrResult) -> String {
    let predicted_mhz = 1000.0 / r.critical_path_ns.max(1e-3);
    format!(
        "predicted: critical stage {:.2} ns = {:.1} MHz, latency {:.2} ns at the clock; routed: \
         {:.2} ns = {:.1} MHz ({:+.1}% of the predicted Fmax), latency {:.2} ns",
        r.critical_path_ns,
        predicted_mhz,
        r.latency_ns,
        1000.0 / p.fmax_mhz.max(1e-3),
        p.fmax_mhz,
        (p.fmax_mhz / predicted_mhz - 1.0) * 100.0,
        p.achieved_latency_ns
    )
}

/// Signed relative error in %, rounded to 0.1.
pub fn error_pct(estimate: u64, measured: u64) -> f64 {
    let e = (estimate as f64 - measured as f64) / (measured.max(1) as f64) * 100.0;
    (e * 10.0).round() / 10.0
}

/// Whether designs for a target build their sum pairs as ternary adders
/// (`ir::schedule::ternary_sums`, `hdl/rtl4ml_add3.v`): on 6-input-LUT fabrics a ternary adder
/// is one LUT per bit, the two adders it replaces two.
pub fn ternary_adders(target: Target) -> bool {
    target.adder_cells() == crate::target::AdderCells::Ternary
}

pub fn build(net: &Netlist, sched: &Schedule, top: &str, target: Target) -> Report {
    let mut layers: Vec<LayerReport> = net
        .layers
        .iter()
        .map(|name| LayerReport {
            name: name.clone(),
            first_stage: u32::MAX,
            ..Default::default()
        })
        .collect();
    let est = model::estimate(net, sched, ternary_adders(target));
    if let Ok(path) = std::env::var("RTL4ML_COST_DUMP") {
        let mut t = String::new();
        for (i, c) in est.nodes.iter().enumerate() {
            let n = &net.nodes[i];
            let kind = match &n.op {
                Op::Add { sub, .. } => {
                    if *sub {
                        "sub"
                    } else {
                        "add"
                    }
                }
                Op::Neg { .. } => "neg",
                Op::Relu { .. } => "relu",
                Op::Cast { .. } => "cast",
                Op::Input { .. } => "input",
                Op::Const { .. } => "const",
                _ => "other",
            };
            t += &format!(
                "{i} {kind} {} {} {} {} {}\n",
                n.width(),
                sched.stage[i],
                c.lut,
                c.ff,
                c.carry
            );
        }
        let _ = std::fs::write(path, t);
    }
    for (i, n) in net.nodes.iter().enumerate() {
        let l = &mut layers[n.layer as usize];
        let c = est.nodes[i];
        l.resources.ff += c.ff;
        l.resources.lut += c.lut;
        l.resources.carry += c.carry;
        if matches!(n.op, Op::Mul { dsp: true, .. }) {
            l.resources.dsp += 1;
        }
        if matches!(n.op, Op::Const { .. } | Op::Input { .. }) {
            continue;
        }
        match n.op {
            Op::Add { .. } | Op::Neg { .. } => {
                l.adders += 1;
                l.adder_bits += n.width() as u64;
            }
            Op::Cast { .. } => l.casts += 1,
            _ => {}
        }
        l.max_width = l.max_width.max(n.width());
        l.first_stage = l.first_stage.min(sched.stage[i]);
        l.last_stage = l.last_stage.max(sched.stage[i]);
    }
    for l in &mut layers {
        if l.first_stage == u32::MAX {
            l.first_stage = 0;
        }
    }
    let mut total = Resources::default();
    for l in &layers {
        total.lut += l.resources.lut;
        total.ff += l.resources.ff;
        total.carry += l.resources.carry;
        total.dsp += l.resources.dsp;
    }
    total.ff += sched.latency as u64; // valid pipeline
    Report {
        model: net.name.clone(),
        top: top.to_string(),
        latency_cycles: sched.latency,
        clock_ns: sched.clock_ns,
        latency_ns: sched.latency as f64 * sched.clock_ns,
        initiation_interval: 1,
        critical_path_ns: (sched.critical_ns * 1000.0).round() / 1000.0,
        fmax_mhz_estimate: (10_000.0 / (sched.critical_ns + 0.0).max(0.001)).round() / 10.0,
        in_width: net.input_width(),
        out_width: net.output_width(),
        nodes: net.nodes.len(),
        resources: total,
        layers,
        timing_model: Some(target.timing_model()),
        measured: Vec::new(),
    }
}

/// Checks a report read back from a build directory (`report.json` may have been edited):
/// the latency within 1..=[`MAX_LATENCY_CYCLES`](crate::ir::schedule::MAX_LATENCY_CYCLES)
/// cycles, a finite positive clock and every layer's stages inside the pipeline, so that
/// neither the table nor the HTML timeline (one bar per cycle) can be driven by a forged number.
pub fn check(r: &Report, file: &std::path::Path) -> crate::Result<()> {
    let max = crate::ir::schedule::MAX_LATENCY_CYCLES;
    let bad = |message: String| {
        Err(crate::Error::Data {
            file: file.display().to_string(),
            message: format!("{message}; recompile the directory with `rtl4ml compile`"),
        })
    };
    if !(1..=max).contains(&r.latency_cycles) {
        return bad(format!(
            "`latency_cycles` is {}, not 1 to {max} cycles",
            r.latency_cycles
        ));
    }
    for (what, v) in [
        ("clock_ns", r.clock_ns),
        ("latency_ns", r.latency_ns),
        ("critical_path_ns", r.critical_path_ns),
    ] {
        if !(v.is_finite() && v >= 0.0) || (what == "clock_ns" && v == 0.0) {
            return bad(format!("`{what}` is {v:?}, not a positive number of ns"));
        }
    }
    if let Some(l) = r
        .layers
        .iter()
        .find(|l| l.first_stage > l.last_stage || l.last_stage > r.latency_cycles)
    {
        return bad(format!(
            "layer `{}` spans stages {}-{}, outside the {}-cycle pipeline",
            crate::text::escape(&l.name),
            l.first_stage,
            l.last_stage,
            r.latency_cycles
        ));
    }
    Ok(())
}

/// The report as a table a person can read.
pub fn format_table(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "rtl4ml report: model `{}`, top module `{}`",
        crate::text::escape(&r.model),
        crate::text::escape(&r.top)
    );
    let _ = writeln!(
        s,
        "latency {} cycles = {:.2} ns at {:.3} ns clock ({:.1} MHz), II = {}; estimated critical stage {:.2} ns",
        r.latency_cycles,
        r.latency_ns,
        r.clock_ns,
        1000.0 / r.clock_ns,
        r.initiation_interval,
        r.critical_path_ns
    );
    if let Some(t) = &r.timing_model {
        let _ = writeln!(s, "timing model: {}", timing_model_line(t));
    }
    let _ = writeln!(
        s,
        "buses: in {} bits, out {} bits; {} netlist nodes",
        r.in_width, r.out_width, r.nodes
    );
    let _ = writeln!(s);
    let head = [
        "layer",
        "adders",
        "adder bits",
        "casts",
        "max width",
        "stages",
        "LUT",
        "FF",
        "DSP",
    ];
    let mut rows: Vec<[String; 9]> = r
        .layers
        .iter()
        .map(|l| {
            [
                crate::text::escape(&l.name),
                l.adders.to_string(),
                l.adder_bits.to_string(),
                l.casts.to_string(),
                l.max_width.to_string(),
                if l.max_width == 0 {
                    "-".into()
                } else {
                    format!("{}-{}", l.first_stage, l.last_stage)
                },
                l.resources.lut.to_string(),
                l.resources.ff.to_string(),
                l.resources.dsp.to_string(),
            ]
        })
        .collect();
    rows.push([
        "total".into(),
        r.layers.iter().map(|l| l.adders).sum::<u64>().to_string(),
        r.layers
            .iter()
            .map(|l| l.adder_bits)
            .sum::<u64>()
            .to_string(),
        r.layers.iter().map(|l| l.casts).sum::<u64>().to_string(),
        r.layers
            .iter()
            .map(|l| l.max_width)
            .max()
            .unwrap_or(0)
            .to_string(),
        format!("0-{}", r.latency_cycles.saturating_sub(1)),
        r.resources.lut.to_string(),
        r.resources.ff.to_string(),
        r.resources.dsp.to_string(),
    ]);
    let widths: Vec<usize> = (0..9)
        .map(|c| {
            rows.iter()
                .map(|row| row[c].len())
                .chain([head[c].len()])
                .max()
                .unwrap()
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(c, x)| {
                if c == 0 {
                    format!("{:<w$}", x, w = widths[c])
                } else {
                    format!("{:>w$}", x, w = widths[c])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(s, "{}", line(head.to_vec()));
    let _ = writeln!(
        s,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    let n = rows.len();
    for (k, row) in rows.iter().enumerate() {
        if k == n - 1 {
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
        let _ = writeln!(s, "{}", line(row.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(s, "(FF total includes the {}-bit valid pipeline; LUT/FF from the cost model in docs/resource-model.md)", r.latency_cycles);
    for m in &r.measured {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "measured ({}, {}): {} LUT{}, {} FF{}, {} carry, {} DSP, {} BRAM, {} LUTRAM",
            m.target,
            m.version,
            m.lut,
            m.lut_error_pct
                .map_or(String::new(), |e| format!(" (estimate {:+.1}%)", e)),
            m.ff,
            m.ff_error_pct
                .map_or(String::new(), |e| format!(" (estimate {:+.1}%)", e)),
            m.carry,
            m.dsp,
            m.bram,
            m.lutram
        );
        if !m.lut_by_size.is_empty() {
            let _ = writeln!(
                s,
                "  LUTs by size: {}",
                m.lut_by_size
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if m.inv_after_lut > 0 {
            let _ = writeln!(
                s,
                "  {} INV right after a LUT not counted (Vivado's opt_design folds each into its LUT)",
                m.inv_after_lut
            );
        }
        if let Some(p) = &m.pnr {
            let _ = writeln!(
                s,
                "  routed ({}, {}{}): Fmax {:.1} MHz for a {:.1} MHz constraint ({}), latency {:.2} ns",
                p.tool,
                p.device,
                fill_text(p),
                p.fmax_mhz,
                p.constraint_mhz,
                if p.met { "met" } else { "NOT met" },
                p.achieved_latency_ns
            );
            let _ = writeln!(s, "  {}", routed_vs_predicted(r, p));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{compile, Options};

    fn odd_types(target: Target) -> Report {
        let text = include_str!("../../models/odd_types.json");
        let g = crate::frontend::native::parse(text, "odd_types.json").unwrap();
        compile(
            g,
            &Options {
                target,
                clock_ns: 14.0,
                ..Default::default()
            },
        )
        .unwrap()
        .report
    }

    #[test]
    fn the_report_says_which_delay_model_and_whether_it_is_calibrated() {
        let x = odd_types(Target::XilinxUltrascalePlus);
        let t = x.timing_model.as_ref().unwrap();
        assert_eq!(
            (t.target.as_str(), t.status.as_str()),
            ("xilinx-ultrascale-plus", "estimate")
        );
        assert!(t.met_pct.is_none() && t.margin_pct.is_none());
        assert!(t.source.contains("uncalibrated"), "{}", t.source);
        let table = format_table(&x);
        assert!(
            table.contains(
                "timing model: xilinx-ultrascale-plus (xilinx-v0-estimate), uncalibrated estimate"
            ),
            "{table}"
        );
        let e = odd_types(Target::LatticeEcp5);
        let t = e.timing_model.as_ref().unwrap();
        assert_eq!(
            (t.target.as_str(), t.status.as_str()),
            ("lattice-ecp5", "calibrated")
        );
        assert!(t.met_pct.is_some() && t.margin_pct.is_some());
        assert_eq!(t.clock_uncertainty_pct, 12.5);
        assert!(format_table(&e).contains("calibrated against place and route"));
        assert!(format_table(&e).contains("stages scheduled with a 12.5% clock uncertainty"));
        assert!(serde_json::to_string(&e)
            .unwrap()
            .contains("\"clock_uncertainty_pct\":12.5"));
        assert!(!serde_json::to_string(&x)
            .unwrap()
            .contains("clock_uncertainty_pct"));
        // The clock uncertainty is kept free: the critical stage fits 87.5% of the period.
        assert!(
            e.critical_path_ns <= 14.0 * 0.875 + 1e-9,
            "{}",
            e.critical_path_ns
        );
        // JSON round trip, and reports written before the field existed still load.
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"timing_model\":{\"target\":\"lattice-ecp5\""));
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), e);
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v.as_object_mut().unwrap().remove("timing_model");
        let old: Report = serde_json::from_value(v).unwrap();
        assert!(old.timing_model.is_none());
        assert!(!format_table(&old).contains("timing model"));
    }

    #[test]
    fn routed_figures_stand_next_to_the_prediction() {
        let mut r = odd_types(Target::LatticeEcp5);
        r.critical_path_ns = 10.0;
        r.latency_cycles = 2;
        r.latency_ns = 20.0;
        let p = PnrResult {
            fmax_mhz: 110.0,
            constraint_mhz: 100.0,
            met: true,
            achieved_latency_ns: 18.18,
            ..Default::default()
        };
        r.measured.push(Measured {
            target: "lattice-ecp5".into(),
            pnr: Some(p.clone()),
            ..Default::default()
        });
        let line = routed_vs_predicted(&r, &p);
        assert_eq!(
            line,
            "predicted: critical stage 10.00 ns = 100.0 MHz, latency 20.00 ns at the clock; \
             routed: 9.09 ns = 110.0 MHz (+10.0% of the predicted Fmax), latency 18.18 ns"
        );
        assert!(format_table(&r).contains(&line));
        let page = html::render(&r, "lattice-ecp5");
        assert!(page.contains("routed vs predicted"), "{page}");
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
