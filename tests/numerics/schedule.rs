//! Pipelining: clock-driven and latency-driven schedules.

use crate::common;

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::ir::netlist::{Netlist, Op};
use rtl4ml::ir::schedule::register_bits;
use rtl4ml::passes::schedule::schedule_for_latency;
use rtl4ml::target::DelayModel;

fn jet() -> rtl4ml::ir::layers::LayerGraph {
    native::load("models/jet_tagger.json".as_ref()).unwrap()
}

#[test]
fn tighter_clocks_need_more_stages_and_every_stage_fits() {
    let mut last = 0;
    for clock in [10.0, 6.0, 4.0, 3.0, 2.0] {
        let d = compile(
            jet(),
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            d.schedule.latency >= last,
            "latency must not shrink as the clock tightens"
        );
        assert!(
            d.schedule.critical_ns <= clock + 1e-9,
            "{clock}: critical {}",
            d.schedule.critical_ns
        );
        last = d.schedule.latency;
        // Operands never sit in a later stage than their readers.
        for (i, n) in d.net.nodes.iter().enumerate() {
            for a in rtl4ml::ir::netlist::Netlist::args(&n.op) {
                if !matches!(d.net.node(a).op, rtl4ml::ir::netlist::Op::Const { .. }) {
                    assert!(d.schedule.stage[a.index()] <= d.schedule.stage[i]);
                }
            }
        }
    }
}

#[test]
fn latency_constraint_finds_the_fastest_clock_and_pads() {
    let d = compile(jet(), &Options::default()).unwrap();
    let model = DelayModel::default();
    let s5 = schedule_for_latency(&d.net, 5, None, &model).unwrap();
    assert_eq!(s5.latency, 5);
    assert!(s5.critical_ns <= s5.clock_ns + 1e-9);
    // A slightly faster clock must need more stages (the bisection found the boundary).
    let faster = rtl4ml::passes::schedule::schedule(&d.net, s5.clock_ns * 0.97, &model);
    assert!(
        faster.latency > 5,
        "{} at {}",
        faster.latency,
        s5.clock_ns * 0.97
    );
    // At a fixed clock, a longer latency is allowed; the registers are placed over all the
    // stages, never worse than padding the shorter schedule with output registers.
    let s12 = schedule_for_latency(&d.net, 12, Some(4.0), &model).unwrap();
    assert_eq!(s12.latency, 12);
    assert!(s12.critical_ns <= 4.0 + 1e-9);
    assert!(
        register_bits(&d.net, &s12.stage, 12)
            <= register_bits(&d.net, &d.schedule.stage, d.schedule.latency)
                + (12 - d.schedule.latency as u64) * d.net.output_width() as u64
    );
    // Unreachable and absurd constraints are explained.
    let e = schedule_for_latency(&d.net, 3, Some(2.0), &model).unwrap_err();
    assert!(e.contains("cycles at a 2.000 ns clock"), "{e}");
    assert!(schedule_for_latency(&d.net, 0, None, &model)
        .unwrap_err()
        .contains("at least 1"));
}

#[test]
fn sharing_reduces_adders_without_deepening_the_pipeline() {
    let shared = compile(jet(), &Options::default()).unwrap();
    let plain = compile(
        jet(),
        &Options {
            lower: rtl4ml::passes::lower::LowerOptions {
                share: false,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let adders = |d: &rtl4ml::flow::Design| d.report.layers.iter().map(|l| l.adders).sum::<u64>();
    assert!(
        adders(&shared) * 10 < adders(&plain) * 8,
        "{} vs {}",
        adders(&shared),
        adders(&plain)
    );
    assert!(shared.report.resources.lut < plain.report.resources.lut);
    // The sharing keeps the adder depth of the unshared trees, but under the carry-overlap delay
    // model a stage holds more adder levels and the shared graph may need one stage more (jet
    // tagger at 4 ns: 6 against 5; see docs/comparison.md).
    assert!(shared.schedule.latency <= plain.schedule.latency + 1);
}

/// The register placement is a global minimum under the delay model: on small random networks
/// no single node can move one stage (keeping operands first and every stage within the clock)
/// and save register bits, and the latency is the fewest stages (ASAP).
#[test]
fn register_placement_is_locally_optimal_and_meets_the_clock() {
    use rtl4ml::target::timing::critical;
    let model = DelayModel::default();
    let mut moved = 0;
    for seed in 0..25u64 {
        let text = common::random_model(seed).to_string();
        let g = native::parse(&text, "random").unwrap();
        let clock = [1.2, 1.6, 2.5][seed as usize % 3];
        // Random models may be outside what can be built (e.g. saturating accumulators).
        let Ok(d) = compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        ) else {
            continue;
        };
        let net = &d.net;
        let timing = model.timing(net);
        let budget = clock - model.register_overhead_ns;
        let s = &d.schedule;
        let crit = critical(net, &timing, &s.stage).unwrap();
        if crit > budget + 1e-9 {
            continue; // a node slower than the clock on its own: the model is approximate there
        }
        let bits = register_bits(net, &s.stage, s.latency);
        for i in 0..net.nodes.len() {
            if matches!(net.nodes[i].op, Op::Const { .. } | Op::Input { .. }) {
                continue;
            }
            for delta in [-1i64, 1] {
                let t = s.stage[i] as i64 + delta;
                if t < 0 || t >= s.latency as i64 {
                    continue;
                }
                let mut st = s.stage.clone();
                st[i] = t as u32;
                let Some(c) = critical(net, &timing, &st) else {
                    continue; // an operand after its reader
                };
                if c > budget + 1e-9 {
                    continue;
                }
                moved += 1;
                assert!(
                    register_bits(net, &st, s.latency) >= bits,
                    "seed {seed}: moving node {i} to stage {t} saves register bits"
                );
            }
        }
    }
    assert!(moved > 50, "too few legal moves were tried ({moved})");
}

/// The jet tagger at 4 ns: the global placement holds fewer register bits than the ASAP
/// schedule, and extra cycles are used to place registers at narrower points, not just to pad.
#[test]
fn extra_cycles_lower_register_bits_below_padding() {
    let d = compile(jet(), &Options::default()).unwrap();
    let model = DelayModel::default();
    let l = d.schedule.latency;
    let bits = register_bits(&d.net, &d.schedule.stage, l);
    let padded = bits + 2 * d.net.output_width() as u64;
    let s = schedule_for_latency(&d.net, l + 2, Some(4.0), &model).unwrap();
    assert!(register_bits(&d.net, &s.stage, l + 2) < padded);
    assert!(s.critical_ns <= 4.0 + 1e-9);
}

/// Fan-out control: a register read by more than `max_fanout` cells is duplicated, each copy
/// drives at most `max_fanout` loads, the copies are marked `keep`, the resource estimate
/// counts them, and `--max-fanout 0` turns it off.
#[test]
fn fanout_limit_duplicates_registers() {
    let opts = |f: u32| Options {
        max_fanout: f,
        lower: rtl4ml::passes::lower::LowerOptions {
            share: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let off = compile(jet(), &opts(0)).unwrap();
    let on = compile(jet(), &opts(8)).unwrap();
    assert_eq!(off.schedule.stage, on.schedule.stage);
    let plan = on.schedule.fanout_plan(&on.net);
    assert!(!plan.copies.is_empty());
    assert!(off.schedule.fanout_plan(&off.net).copies.is_empty());
    // Loads per copy: readers that pick it (plus the chain and the output bus on copy 0).
    let mut per_copy: std::collections::HashMap<(usize, u32, u32), u32> = Default::default();
    let net = &on.net;
    for r in 0..net.nodes.len() {
        let mut seen = vec![];
        for a in Netlist::args(&net.nodes[r].op) {
            let a = a.index();
            let delay = on.schedule.stage[r] - on.schedule.stage[a];
            if delay == 0 || seen.contains(&a) || matches!(net.nodes[a].op, Op::Const { .. }) {
                continue;
            }
            seen.push(a);
            *per_copy.entry((a, delay, plan.pick(r, a))).or_default() += 1;
        }
    }
    for (&(a, delay, c), &n) in &per_copy {
        assert!(c < plan.copies(a, delay));
        assert!(n <= 8, "copy {c} of n{a}_d{delay} drives {n} cells");
    }
    let extra = plan.extra_bits(net);
    assert!(extra > 0);
    assert_eq!(
        on.report.resources.ff,
        off.report.resources.ff + extra,
        "the estimate counts every copy"
    );
    assert!(on
        .verilog
        .contains("(* keep = \"true\", dont_touch = \"true\" *)"));
    assert!(on.verilog.contains("_c1 <= "));
    assert!(!off.verilog.contains("keep"));
}

/// Duplicated registers are bit-exact in Verilator (and lint-clean): small models with a
/// fan-out limit of 2, so that many registers are duplicated.
#[test]
fn duplicated_registers_are_bit_exact_in_verilator() {
    use rtl4ml::flow::{read_dir, write_dir};
    use rtl4ml::verify::{verify, VerifyOptions};
    if !crate::hw::tools() {
        return;
    }
    let mut cases: Vec<(String, String, f64)> = vec![(
        "wrap_accum".into(),
        std::fs::read_to_string("models/wrap_accum.json").unwrap(),
        1.5,
    )];
    for seed in [3u64, 8] {
        cases.push((
            format!("fanout_random_{seed}"),
            common::random_model(seed).to_string(),
            2.0,
        ));
    }
    let mut duplicated = 0;
    for (name, text, clock) in cases {
        let g = native::parse(&text, &name).unwrap();
        let d = compile(
            g,
            &Options {
                clock_ns: clock,
                max_fanout: 2,
                ..Default::default()
            },
        )
        .unwrap();
        duplicated += d.schedule.fanout_plan(&d.net).copies.len();
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("fanout")
            .join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        write_dir(&d, &text, &dir).unwrap();
        let b = read_dir(&dir).unwrap();
        assert_eq!(b.manifest.max_fanout, 2);
        let r = verify(
            &b,
            &VerifyOptions {
                random: 1500,
                icarus: 40,
                seed: 5,
                lint: true,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.verilator.mismatch_count, 0, "{name}");
        assert!(r.verilator.timing_errors.is_empty(), "{name}");
    }
    assert!(duplicated > 0, "no register was duplicated");
}

/// Flip-flops the Verilog really needs: the declared pipeline register bits minus those sent
/// to the unused-bit sink (synthesis removes their flip-flops).
fn verilog_register_bits(v: &str) -> u64 {
    let is_reg =
        |name: &str| name.starts_with('n') && name.contains("_d") && !name.starts_with("n_");
    let mut declared = 0u64;
    for line in v.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("reg ") else {
            continue;
        };
        let (w, name) = match rest.strip_prefix('[') {
            Some(r) => {
                let (range, name) = r.split_once("] ").unwrap();
                let hi: u64 = range.split(':').next().unwrap().parse().unwrap();
                (hi + 1, name)
            }
            None => (1, rest),
        };
        if is_reg(name.trim_end_matches(';')) {
            declared += w;
        }
    }
    let sink = v
        .split("_unused_ok = &{")
        .nth(1)
        .map_or("", |s| s.split("};").next().unwrap());
    let mut unused = 0u64;
    for item in sink.split(',').map(str::trim) {
        let (name, bits) = match item.split_once('[') {
            Some((n, r)) => {
                let r = r.trim_end_matches(']');
                let w = match r.split_once(':') {
                    Some((h, l)) => h.parse::<u64>().unwrap() - l.parse::<u64>().unwrap() + 1,
                    None => 1,
                };
                (n, w)
            }
            None => (item, 1),
        };
        if is_reg(name) {
            unused += bits;
        }
    }
    declared - unused
}

#[test]
fn register_cost_counts_the_bits_the_verilog_reads() {
    // The cut's cost (live bits) against the registers the Verilog keeps after removing the
    // bits nobody reads: equal on the jet tagger (its dropped bits are read by no one), never
    // below on random networks (a bit read only in the stage that computes it needs no
    // register, which the schedule-independent live span still counts).
    let mut cases = vec![(jet(), 4.0, true)];
    for seed in [2u64, 5, 9, 14, 21, 30] {
        let text = common::random_model(seed).to_string();
        cases.push((native::parse(&text, "random").unwrap(), 1.5, false));
    }
    let mut checked = 0;
    for (g, clock, exact) in cases {
        // (A random network may be refused: a saturating accumulator that could saturate.)
        let Ok(d) = compile(
            g,
            &Options {
                clock_ns: clock,
                max_fanout: 0,
                ..Default::default()
            },
        ) else {
            continue;
        };
        checked += 1;
        let v = rtl4ml::backends::verilog::write_verilog(
            &d.net,
            &d.schedule,
            "top",
            rtl4ml::backends::verilog::AdderCells::Ternary,
        )
        .unwrap();
        let built = verilog_register_bits(&v);
        let cost = register_bits(&d.net, &d.schedule.stage, d.schedule.latency);
        if exact {
            assert_eq!(cost, built, "{}", d.net.name);
        } else {
            assert!(cost >= built, "{}: cost {cost} < built {built}", d.net.name);
        }
    }
    assert!(checked >= 3, "only {checked} networks compiled");
}

/// `chained_adder_ns`: a sum that reads a sum of the same stage (ECP5: one carry chain into
/// the next) costs the chained level, a sum fed from registers or from a select the full
/// adder level, and without the field every level costs `adder_base_ns`.
#[test]
fn a_sum_read_by_a_sum_costs_the_chained_level() {
    use rtl4ml::ir::fixed::FixedType;
    use rtl4ml::ir::netlist::{Builder, Operand};
    use rtl4ml::target::timing::critical;
    let mut b = Builder::new("chain");
    let ty = FixedType::new(true, 8, 8);
    let [x, y, z] = [0, 1, 2].map(|i| b.input(i, &ty).unwrap());
    let op = |node| Operand { node, shift: 0 };
    let s1 = b.add(op(x), op(y), false).unwrap();
    let s2 = b.add(op(s1), op(z), false).unwrap();
    let r = b.relu(s1).unwrap();
    let s3 = b.add(op(r), op(z), false).unwrap();
    let net = b.net;
    let model = DelayModel {
        adder_base_ns: 2.0,
        adder_per_bit_ns: 0.05,
        mux_ns: 0.25,
        chained_adder_ns: Some(1.5),
        ..DelayModel::default()
    };
    let c = model.adder_per_bit_ns;
    let w = |i: rtl4ml::ir::netlist::NodeId| net.nodes[i.index()].width() as f64;
    let t = model.timing(&net);
    let stage = vec![0u32; net.nodes.len()];
    let mut t0 = vec![0.0; net.nodes.len()];
    for i in 0..net.nodes.len() {
        t0[i] = t.start(&net, i, &stage, &t0);
    }
    let eps = 1e-9;
    assert!((t0[s1.index()] - 2.0).abs() < eps);
    // The chained level: bit 0 of s2 right after bit 0 of s1, plus 1.5 (not 2.0).
    assert!((t0[s2.index()] - 3.5).abs() < eps, "{}", t0[s2.index()]);
    // The ReLU waits for s1's MSB; the sum after it is a full level.
    let relu = 2.0 + c * w(s1) + 0.25;
    assert!((t0[r.index()] - relu).abs() < eps);
    assert!((t0[s3.index()] - (relu + 2.0)).abs() < eps);
    let worst = (t0[s2.index()] + c * w(s2)).max(t0[s3.index()] + c * w(s3));
    assert!((critical(&net, &t, &stage).unwrap() - worst).abs() < eps);
    // Without the field, the chained sum is a full level.
    let plain = DelayModel {
        chained_adder_ns: None,
        ..model
    };
    let tp = plain.timing(&net);
    let mut p0 = vec![0.0; net.nodes.len()];
    for i in 0..net.nodes.len() {
        p0[i] = tp.start(&net, i, &stage, &p0);
    }
    assert!((p0[s2.index()] - 4.0).abs() < eps);
    // Across a register the sum reads its operand's bits at time 0: a full level.
    let mut split = stage.clone();
    split[s2.index()] = 1;
    let mut q0 = vec![0.0; net.nodes.len()];
    for i in 0..net.nodes.len() {
        q0[i] = t.start(&net, i, &split, &q0);
    }
    assert!((q0[s2.index()] - 2.0).abs() < eps);
}
