//! Latency and resource reports.
//!
//! Resources come from an explicit cost model of a Xilinx UltraScale+-class fabric (LUT6 with
//! CARRY8): a two-input adder costs one LUT per result bit, a rounding increment one LUT per
//! bit, a saturation select one LUT per output bit plus the comparison, ReLU one LUT per two
//! output bits (LUT6_2), registers one FF per bit. Constant multiplications are shift-and-add,
//! so no DSPs are used.

pub mod model;

use crate::ir::netlist::{Netlist, Op};
use crate::passes::schedule::Schedule;
use serde::{Deserialize, Serialize};

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
}

pub fn build(net: &Netlist, sched: &Schedule, top: &str) -> Report {
    let mut layers: Vec<LayerReport> = net
        .layers
        .iter()
        .map(|name| LayerReport {
            name: name.clone(),
            first_stage: u32::MAX,
            ..Default::default()
        })
        .collect();
    let est = model::estimate(net, sched);
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
    }
}

/// The report as a table a person can read.
pub fn format_table(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "rtl4ml report: model `{}`, top module `{}`",
        r.model, r.top
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
                l.name.clone(),
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
    s
}
