//! Pipelining: assigns every node a pipeline stage so that each stage's combinational delay
//! fits the clock period. Initiation interval 1; the latency is the number of stages.
//!
//! The delay models (`crate::target`) say how long each node takes on the target's fabric;
//! the pipeline's data type is `crate::ir::schedule::Schedule`. See `docs/timing-model.md`.

use crate::ir::netlist::Netlist;
use crate::ir::schedule::{register_bits, Schedule, MAX_LATENCY_CYCLES};
use crate::target::timing::{critical, Timing};
use crate::target::timing::{is_free, operands};
use crate::target::DelayModel;

/// Schedules for a fixed number of stages: the shortest clock period (from the delay model)
/// whose schedule needs at most `cycles` stages. With `clock_ns`, that period is used and must
/// fit in `cycles` stages. Extra stages are not just output registers: the registers are placed
/// over all `cycles` stages with the fewest bits (see [`schedule`]).
pub fn schedule_for_latency(
    net: &Netlist,
    cycles: u32,
    clock_ns: Option<f64>,
    model: &DelayModel,
) -> Result<Schedule, String> {
    if cycles == 0 {
        return Err("the latency must be at least 1 cycle (the output register)".into());
    }
    if cycles > MAX_LATENCY_CYCLES {
        return Err(format!(
            "a latency of {cycles} cycles is more than the {MAX_LATENCY_CYCLES} cycles rtl4ml \
             builds (a trigger-path design needs far fewer; use a slower clock instead)"
        ));
    }
    let timing = model.timing(net);
    let fewest = |clock: f64| {
        let budget = model.stage_budget(clock);
        latency_of(net, &asap(net, &timing, budget))
    };
    let clock = match clock_ns {
        Some(c) => c,
        None => {
            // Bisection on the period: latency is non-increasing in the period.
            let longest_op = (0..net.nodes.len())
                .map(|i| timing.own[i] + timing.finish[i])
                .fold(0.0, f64::max);
            let total = critical(net, &timing, &vec![0; net.nodes.len()]).unwrap_or(0.0);
            let (mut lo, mut hi) = (
                model.period_for(longest_op + model.register_overhead_ns),
                model.period_for(total + model.register_overhead_ns) + 1e-6,
            );
            for _ in 0..50 {
                let mid = 0.5 * (lo + hi);
                if fewest(mid) <= cycles {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        }
    };
    let needed = fewest(clock);
    if needed > cycles {
        return Err(format!(
            "the design needs {needed} cycles at a {clock:.3} ns clock, more than the {cycles} requested; use a slower clock or allow more cycles"
        ));
    }
    Ok(place(net, clock, model, &timing, cycles))
}

/// Schedules for the clock: ASAP finds the fewest stages; the registers are then placed over
/// that many stages with the fewest bits (`passes::retime`, a minimum cut over all boundaries
/// at once), e.g. at a layer's inputs or its activations rather than through many partial sums.
pub fn schedule(net: &Netlist, clock_ns: f64, model: &DelayModel) -> Schedule {
    let budget = model.stage_budget(clock_ns);
    let timing = model.timing(net);
    let latency = latency_of(net, &asap(net, &timing, budget));
    place(net, clock_ns, model, &timing, latency)
}

/// The fewest register bits in exactly `latency` stages (≥ the ASAP latency); falls back to
/// ASAP (with output registers) when the minimum cut finds nothing that meets the clock.
fn place(
    net: &Netlist,
    clock_ns: f64,
    model: &DelayModel,
    timing: &Timing,
    latency: u32,
) -> Schedule {
    let budget = model.stage_budget(clock_ns);
    let mut best = asap(net, timing, budget);
    let asap_crit = critical(net, timing, &best).unwrap_or(f64::INFINITY);
    if let Some(cut) = super::retime::min_register_stages(net, timing, budget, latency) {
        if critical(net, timing, &cut).is_some_and(|c| c <= budget + 1e-9 || c <= asap_crit)
            && latency_of(net, &cut) <= latency
            && register_bits(net, &cut, latency) < register_bits(net, &best, latency)
        {
            best = cut;
        }
    }
    let crit = critical(net, timing, &best).unwrap_or(f64::INFINITY);
    Schedule {
        clock_ns,
        stage: best,
        latency,
        critical_ns: crit + model.register_overhead_ns,
        max_fanout: 0,
    }
}

fn latency_of(net: &Netlist, stage: &[u32]) -> u32 {
    net.output_elements()
        .iter()
        .map(|(e, _)| stage[e.index()])
        .max()
        .unwrap_or(0)
        + 1
}

/// Each node in the earliest stage where it fits the budget after its operands.
fn asap(net: &Netlist, timing: &Timing, budget: f64) -> Vec<u32> {
    let n = net.nodes.len();
    let mut stage = vec![0u32; n];
    let mut t0 = vec![0f64; n];
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        stage[i] = operands(net, i).map(|a| stage[a]).max().unwrap_or(0);
        let t = timing.start(net, i, &stage, &t0);
        // A node too slow on its own stays where moving it would not help.
        if t + timing.finish[i] <= budget + 1e-9 || t <= timing.own[i] {
            t0[i] = t;
        } else {
            stage[i] += 1;
            t0[i] = timing.own[i];
        }
    }
    stage
}
