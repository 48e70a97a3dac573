//! The modelled critical path of every run of the ECP5 calibration corpus
//! (`bench/calibration/ecp5.csv`, written by `bench/calibrate_ecp5.sh`), for fitting the delay
//! model (docs/timing-model.md, issue #17).
//!
//! ```text
//! cargo run --release --example ecp5_fit -- [--csv bench/calibration/ecp5.csv]
//!     [--models /tmp/rtl4ml-calibration/models] [--tag TAG]
//! ```
//!
//! For each row (of the delay-model tag `TAG`, default: every row), the design is rebuilt and
//! scheduled with the delay model that made it (the rows' tag names it: `v0-uncalibrated` is
//! the first, hand-set ECP5 model, `ecp5-v1` the first fit; otherwise the current
//! `Target::LatticeEcp5` model), so the
//! stage assignment is the one that was routed. Printed, one CSV line per row: the critical
//! path the current ECP5 model finds in that schedule, its elements (adder levels, select
//! levels, carry bits, table levels, DSPs, fan-out), its predicted delay with the stages
//! fixed, and the routed delay. `bench/calibration/fit.py` fits the constants to them, or
//! `--search GOAL` does here (coordinate descent; `--fix NAME` keeps a constant, `--set
//! NAME=X` tries one). `ECP5_FIT_PATH=1` also prints, on stderr and from its end back, every
//! node of each run's modelled critical path (its kind, width, own delay, bit-0 arrival).

use rtl4ml::ir::netlist::{Netlist, Op};
use rtl4ml::ir::schedule;
use rtl4ml::passes::lower::{DspPolicy, LowerOptions};
use rtl4ml::passes::pipeline::{self, PipelineOptions};
use rtl4ml::target::{DelayModel, Target};
use std::collections::HashMap;

/// The first ECP5 model (before calibration), to reproduce the schedules it made.
fn v0() -> DelayModel {
    DelayModel {
        register_overhead_ns: 0.7,
        adder_base_ns: 1.2,
        adder_per_bit_ns: 0.05,
        mux_ns: 0.9,
        saturate_ns: 0.9,
        saturate_narrow_bits: 0,
        fanout_ns_per_log2: 0.0,
        cmp_extra_ns: 0.0,
        dsp_ns: 5.0,
        clock_uncertainty: 0.0,
        size_per_log2: 0.0,
        size_ref_log2: 0.0,
        saturate_level_ns: None,
        lut_inputs: 4,
        chained_adder_ns: None,
    }
}

/// The first fitted model (`ecp5-v1`).
fn v1() -> DelayModel {
    DelayModel {
        register_overhead_ns: 1.45,
        adder_base_ns: 2.5,
        adder_per_bit_ns: 0.05,
        mux_ns: 1.05,
        saturate_ns: 7.1,
        saturate_narrow_bits: 1,
        fanout_ns_per_log2: 0.0,
        cmp_extra_ns: 4.05,
        dsp_ns: 8.3,
        clock_uncertainty: 0.0,
        size_per_log2: 0.0,
        size_ref_log2: 0.0,
        saturate_level_ns: None,
        lut_inputs: 4,
        chained_adder_ns: None,
    }
}

/// The second fit (`ecp5-v2`): with the fan-out term; `ecp5-v3` is it with a 12.5% clock
/// uncertainty.
fn v2() -> DelayModel {
    DelayModel {
        register_overhead_ns: 2.35,
        adder_base_ns: 2.1,
        adder_per_bit_ns: 0.05,
        mux_ns: 0.2,
        saturate_ns: 7.25,
        saturate_narrow_bits: 1,
        fanout_ns_per_log2: 0.75,
        cmp_extra_ns: 3.7,
        dsp_ns: 9.35,
        clock_uncertainty: 0.0,
        size_per_log2: 0.0,
        size_ref_log2: 0.0,
        saturate_level_ns: None,
        lut_inputs: 4,
        chained_adder_ns: None,
    }
}

/// `ecp5-v3`: `ecp5-v2` with a 12.5% clock uncertainty.
fn v3() -> DelayModel {
    DelayModel {
        clock_uncertainty: 0.125,
        ..v2()
    }
}

/// `ecp5-v4`: refitted on the `ecp5-v3` runs with the size term, and the saturation as a
/// LUT tree (its per-level delay guessed, not fitted: no routed run had it yet).
fn v4() -> DelayModel {
    DelayModel {
        register_overhead_ns: 3.2,
        adder_base_ns: 1.65,
        saturate_ns: 6.3,
        cmp_extra_ns: 2.35,
        dsp_ns: 5.65,
        size_per_log2: 0.04,
        size_ref_log2: 10.0,
        saturate_level_ns: Some(1.4),
        ..v3()
    }
}

/// `ecp5-v5` (fitted on the `ecp5-v4` runs); `ecp5-v6` is it with every ECP5 sum its own
/// carry chain (`rtl4ml_add2`).
fn v5() -> DelayModel {
    DelayModel {
        register_overhead_ns: 1.1,
        adder_base_ns: 2.05,
        adder_per_bit_ns: 0.05,
        mux_ns: 0.2,
        saturate_ns: 6.3,
        saturate_narrow_bits: 1,
        fanout_ns_per_log2: 0.75,
        cmp_extra_ns: 3.6,
        dsp_ns: 7.6,
        clock_uncertainty: 0.125,
        size_per_log2: 0.05,
        size_ref_log2: 10.0,
        saturate_level_ns: Some(0.22),
        lut_inputs: 4,
        chained_adder_ns: None,
    }
}

/// The model that scheduled the rows of a tag.
fn model_for(tag: &str) -> DelayModel {
    match tag {
        "v0-uncalibrated" => v0(),
        "ecp5-v1" => v1(),
        "ecp5-v2" => v2(),
        "ecp5-v3" => v3(),
        "ecp5-v4" => v4(),
        "ecp5-v5" | "ecp5-v6" => v5(),
        _ => Target::LatticeEcp5.delay_model(),
    }
}

/// Elements along the modelled critical path of a stage assignment.
#[derive(Default, Debug)]
struct PathFeatures {
    /// Adder levels (adders, negations, rounding increments, comparisons, LUT-multiplier rows).
    adders: f64,
    /// Select levels (ReLU, saturation, multiplexers).
    selects: f64,
    /// Comparisons (also counted in `adders`).
    cmps: f64,
    /// Saturating casts (also counted in `selects`).
    sats: f64,
    /// Carry bits paid along the path.
    carry_bits: f64,
    /// Table levels (own delay / mux_ns).
    tables: f64,
    dsps: f64,
    /// Nodes on the path.
    nodes: usize,
    /// Largest fan-out (reading cells) of a node on the path.
    max_fanout: usize,
    /// Sum over the path of log2(1 + fan-out).
    log_fanout: f64,
    /// Predicted critical delay (with register overhead) under `model`.
    predicted: f64,
}

fn free(net: &Netlist, i: usize) -> bool {
    matches!(net.nodes[i].op, Op::Const { .. } | Op::Input { .. })
}

fn features(net: &Netlist, stage: &[u32], m: &DelayModel, dump: bool) -> PathFeatures {
    let t = m.timing(net);
    let n = net.nodes.len();
    let mut fanout = vec![0usize; n];
    for node in &net.nodes {
        let mut seen = vec![];
        for a in Netlist::args(&node.op) {
            if !seen.contains(&a.index()) {
                seen.push(a.index());
                fanout[a.index()] += 1;
            }
        }
    }
    let mut t0 = vec![0f64; n];
    let mut pred: Vec<Option<usize>> = vec![None; n];
    let mut worst = (0.0, usize::MAX);
    for i in 0..n {
        if free(net, i) {
            continue;
        }
        t0[i] = t.own[i];
        for a in Netlist::args(&net.nodes[i].op).map(|a| a.index()) {
            if free(net, a) || stage[a] != stage[i] {
                continue;
            }
            let x = t.through(net, a, t0[a], i);
            if x > t0[i] + 1e-12 {
                t0[i] = x;
                pred[i] = Some(a);
            }
        }
        if t0[i] + t.finish[i] > worst.0 {
            worst = (t0[i] + t.finish[i], i);
        }
    }
    let mut f = PathFeatures {
        predicted: worst.0 + m.register_overhead_ns,
        ..Default::default()
    };
    if worst.1 == usize::MAX {
        return f;
    }
    let c = m.adder_per_bit_ns;
    f.carry_bits = t.finish[worst.1] / c;
    let mut i = worst.1;
    loop {
        let node = &net.nodes[i];
        f.nodes += 1;
        f.max_fanout = f.max_fanout.max(fanout[i]);
        f.log_fanout += (1.0 + fanout[i] as f64).log2();
        let own = t.own[i];
        if dump {
            let kind = match &node.op {
                Op::Cast { a, to } => {
                    let plan = net.cast_plan(a, to);
                    format!(
                        "cast inc={} sat={} w{}->{}",
                        plan.round_inc,
                        plan.saturates(),
                        plan.rounded.width(),
                        to.width
                    )
                }
                Op::Add { sub, .. } => if *sub { "sub" } else { "add" }.into(),
                Op::Neg { .. } => "neg".into(),
                Op::Relu { .. } => "relu".into(),
                Op::Cmp { .. } => "cmp".into(),
                Op::Mux { .. } => "mux".into(),
                Op::Mul { dsp, .. } => if *dsp { "mul (DSP)" } else { "mul" }.into(),
                Op::Table { .. } => "table".into(),
                Op::Input { .. } | Op::Const { .. } => "input".into(),
            };
            eprintln!(
                "    node {i} {kind} w{} own {own:.2} t0 {:.2} finish {:.2} fanout {}",
                node.width(),
                t0[i],
                t.finish[i],
                fanout[i]
            );
        }
        match &node.op {
            Op::Add { .. } | Op::Neg { .. } => f.adders += 1.0,
            Op::Relu { .. } | Op::Mux { .. } => f.selects += 1.0,
            Op::Cmp { .. } => {
                f.adders += 1.0;
                f.cmps += 1.0;
                f.carry_bits += (own - m.adder_base_ns) / c;
            }
            Op::Mul { dsp: true, .. } => f.dsps += 1.0,
            Op::Mul { .. } => {
                let level = m.adder_base_ns + c * node.width() as f64;
                let levels = (own / level).round();
                f.adders += levels;
                f.carry_bits += levels * node.width() as f64;
            }
            Op::Table { .. } => f.tables += own / m.mux_ns,
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                if plan.round_inc {
                    f.adders += 1.0;
                }
                if plan.saturates() {
                    f.selects += 1.0;
                    f.sats += 1.0;
                }
            }
            Op::Input { .. } | Op::Const { .. } => {}
        }
        match pred[i] {
            Some(a) => {
                f.carry_bits += (t.through(net, a, t0[a], i) - t0[a] - own) / c;
                i = a;
            }
            None => break,
        }
    }
    f
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut cur = Target::LatticeEcp5.delay_model();
    let dump = std::env::var_os("ECP5_FIT_PATH").is_some();
    let mut search: Option<f64> = None;
    let mut fixed: Vec<String> = vec![];
    let (mut csv, mut models, mut tag) = (
        "bench/calibration/ecp5.csv".to_string(),
        "/tmp/rtl4ml-calibration/models".to_string(),
        None::<String>,
    );
    while let Some(a) = args.next() {
        let v = args.next().expect("a value after the option");
        match a.as_str() {
            "--csv" => csv = v,
            "--models" => models = v,
            "--tag" => tag = Some(v),
            // Fit the constants: every routed delay predicted with margin 1 − GOAL.
            "--search" => search = Some(v.parse().expect("a number")),
            // Keep a constant (as given with --set) during the search: --fix adder_per_bit_ns
            "--fix" => fixed.push(v),
            // Try constants before writing them into the source: --set adder_base_ns=2.0
            "--set" => {
                let (k, x) = v.split_once('=').expect("--set NAME=VALUE");
                let x: f64 = x.parse().expect("a number");
                match k {
                    "register_overhead_ns" => cur.register_overhead_ns = x,
                    "adder_base_ns" => cur.adder_base_ns = x,
                    "adder_per_bit_ns" => cur.adder_per_bit_ns = x,
                    "mux_ns" => cur.mux_ns = x,
                    "saturate_ns" => cur.saturate_ns = x,
                    "cmp_extra_ns" => cur.cmp_extra_ns = x,
                    "dsp_ns" => cur.dsp_ns = x,
                    "saturate_narrow_bits" => cur.saturate_narrow_bits = x as u32,
                    "fanout_ns_per_log2" => cur.fanout_ns_per_log2 = x,
                    "size_per_log2" => cur.size_per_log2 = x,
                    "size_ref_log2" => cur.size_ref_log2 = x,
                    "saturate_level_ns" => cur.saturate_level_ns = (x > 0.0).then_some(x),
                    "chained_adder_ns" => cur.chained_adder_ns = Some(x),
                    _ => panic!("no constant {k}"),
                }
            }
            _ => panic!("unknown option {a}"),
        }
    }
    let text = std::fs::read_to_string(&csv).expect("the calibration CSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    println!(
        "design,clock_ns,delay_model,cycles,predicted_ns,routed_ns,path_hops,path_luts,\
         adders,selects,cmps,sats,carry_bits,tables,dsps,nodes,max_fanout,log_fanout,log2_logic_bits,current_model_ns"
    );
    let mut cache: HashMap<String, rtl4ml::ir::layers::LayerGraph> = HashMap::new();
    let mut runs: Vec<(Netlist, Vec<u32>, f64)> = vec![];
    for line in lines {
        let row: HashMap<&str, &str> = header.iter().copied().zip(line.split(',')).collect();
        if tag.as_deref().is_some_and(|t| t != row["delay_model"]) {
            continue;
        }
        let design = row["design"];
        let path = if row["model"].starts_with("gen:") {
            format!("{models}/{design}.json")
        } else {
            row["model"].to_string()
        };
        let graph = cache
            .entry(path.clone())
            .or_insert_with(|| rtl4ml::frontend::load(std::path::Path::new(&path)).unwrap())
            .clone();
        let clock: f64 = row["clock_ns"].parse().unwrap();
        let dsp = if row["extra_args"].contains("--dsp always") {
            DspPolicy::Always
        } else if row["extra_args"].contains("--dsp auto") {
            DspPolicy::Auto
        } else {
            DspPolicy::Never
        };
        let (net, _) = pipeline::run(
            &graph,
            &PipelineOptions {
                lower: LowerOptions {
                    dsp,
                    ..LowerOptions::default()
                },
                clock_ns: clock,
                latency_cycles: None,
                clock_choice: rtl4ml::flow::ClockChoice::Given,
                target: Target::LatticeEcp5,
                max_fanout: schedule::DEFAULT_MAX_FANOUT,
                allow_slow_stages: true,
            },
            &mut |_, _, _| {},
        )
        .unwrap();
        let m = model_for(row["delay_model"]);
        let s = rtl4ml::passes::schedule::schedule(&net, clock, &m);
        // The path the current model finds slowest in the routed schedule, and its elements.
        if dump {
            eprintln!("{design} @ {clock} ns, the current model's critical path from its end:");
        }
        let f = features(&net, &s.stage, &cur, dump);
        let routed: f64 = row["routed_ns"].parse().unwrap();
        let then = features(&net, &s.stage, &m, false);
        if s.latency.to_string() != row["cycles"] {
            eprintln!(
                "{design} @ {clock}: {} cycles here, {} in the CSV (another model?)",
                s.latency, row["cycles"]
            );
        }
        println!(
            "{design},{clock},{},{},{:.3},{},{},{},{},{},{},{},{:.1},{:.2},{},{},{},{:.2},{:.2},{:.3}",
            row["delay_model"],
            s.latency,
            then.predicted,
            row["routed_ns"],
            row["path_hops"],
            row["path_luts"],
            f.adders,
            f.selects,
            f.cmps,
            f.sats,
            f.carry_bits,
            f.tables,
            f.dsps,
            f.nodes,
            f.max_fanout,
            f.log_fanout,
            (rtl4ml::target::timing::logic_bits(&net) as f64).log2(),
            f.predicted
        );
        runs.push((net, s.stage, routed));
    }
    if let Some(goal) = search {
        let names = [
            "register_overhead_ns",
            "adder_base_ns",
            "adder_per_bit_ns",
            "mux_ns",
            "saturate_ns",
            "cmp_extra_ns",
            "dsp_ns",
            "fanout_ns_per_log2",
            "size_per_log2",
            "size_ref_log2",
            "saturate_level_ns",
            "chained_adder_ns",
        ];
        let free: Vec<usize> = (0..names.len())
            .filter(|&k| !fixed.iter().any(|f| f == names[k]))
            .collect();
        fit(&runs, cur, goal, &free);
    }
}

fn set(m: &mut DelayModel, k: usize, x: f64) {
    match k {
        0 => m.register_overhead_ns = x,
        1 => m.adder_base_ns = x,
        2 => m.adder_per_bit_ns = x,
        3 => m.mux_ns = x,
        4 => m.saturate_ns = x,
        5 => m.cmp_extra_ns = x,
        6 => m.dsp_ns = x,
        7 => m.fanout_ns_per_log2 = x,
        8 => m.size_per_log2 = x,
        9 => m.size_ref_log2 = x,
        10 => m.saturate_level_ns = Some(x),
        _ => m.chained_adder_ns = Some(x),
    }
}

fn get(m: &DelayModel, k: usize) -> f64 {
    [
        m.register_overhead_ns,
        m.adder_base_ns,
        m.adder_per_bit_ns,
        m.mux_ns,
        m.saturate_ns,
        m.cmp_extra_ns,
        m.dsp_ns,
        m.fanout_ns_per_log2,
        m.size_per_log2,
        m.size_ref_log2,
        m.saturate_level_ns.unwrap_or(0.0),
        m.chained_adder_ns.unwrap_or(m.adder_base_ns),
    ][k]
}

/// Predicted critical delay of every routed schedule under `m`.
fn predict(runs: &[(Netlist, Vec<u32>, f64)], m: &DelayModel) -> Vec<f64> {
    runs.iter()
        .map(|(net, stage, _)| {
            rtl4ml::target::timing::critical(net, &m.timing(net), stage).unwrap()
                + m.register_overhead_ns
        })
        .collect()
}

/// Coordinate descent on the constants: least squares of ln(routed / predicted) − ln(goal),
/// i.e. every routed schedule's delay predicted with a margin `1 − goal`.
fn fit(runs: &[(Netlist, Vec<u32>, f64)], start: DelayModel, goal: f64, free: &[usize]) {
    let cost = |m: &DelayModel| -> f64 {
        predict(runs, m)
            .iter()
            .zip(runs)
            .map(|(p, r)| ((r.2 / p).ln() - goal.ln()).powi(2))
            .sum()
    };
    let mut m = start;
    let mut best = cost(&m);
    let mut step = 0.3;
    while step > 0.003 {
        let mut improved = false;
        for &k in free {
            for dir in [1.0 + step, 1.0 / (1.0 + step)] {
                let mut t = m;
                let x = get(&m, k).max(0.01) * dir;
                set(&mut t, k, x);
                let c = cost(&t);
                if c < best {
                    (m, best) = (t, c);
                    improved = true;
                }
            }
        }
        if !improved {
            step /= 2.0;
        }
    }
    let p = predict(runs, &m);
    let met = p.iter().zip(runs).filter(|(p, r)| r.2 <= **p).count();
    let worst = p
        .iter()
        .zip(runs)
        .map(|(p, r)| (p / r.2 - 1.0).abs())
        .fold(0.0, f64::max);
    let within = p
        .iter()
        .zip(runs)
        .filter(|(p, r)| (*p / r.2 - 1.0).abs() <= 0.15)
        .count();
    eprintln!(
        "fit (goal {goal}): {m:?}\n  rms ln error {:.3}; routed within the prediction in {met}/{} \
         runs; Fmax within 15% in {within}; worst |Fmax error| {:.1}%",
        (best / runs.len() as f64).sqrt(),
        runs.len(),
        100.0 * worst
    );
    for (pr, r) in p.iter().zip(runs) {
        eprintln!(
            "  predicted {pr:7.2}  routed {:7.2}  ratio {:.2}",
            r.2,
            r.2 / pr
        );
    }
}
