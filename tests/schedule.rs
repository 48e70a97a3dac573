//! Pipelining: clock-driven and latency-driven schedules.

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::passes::schedule::{register_bits, schedule_for_latency, DelayModel};

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
    // At a fixed clock, a longer latency is padded with output registers.
    let s12 = schedule_for_latency(&d.net, 12, Some(4.0), &model).unwrap();
    assert_eq!(s12.latency, 12);
    assert!(
        register_bits(&d.net, &s12.stage, 12)
            > register_bits(&d.net, &d.schedule.stage, d.schedule.latency)
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
            lower: rtl4ml::passes::lower::LowerOptions { share: false },
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
    assert!(shared.schedule.latency <= plain.schedule.latency);
}
