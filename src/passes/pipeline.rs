//! The pass pipeline: named steps from a layer graph to a scheduled netlist.
//!
//! `limits → lower → dce → trim → schedule → fanout`. After every step that changes the netlist
//! its invariants are checked ([`Netlist::validate`], and [`validate_schedule`] once there is a
//! schedule): a violation is an internal error naming the pass that broke it, never a wrong
//! design. The checks are linear in the netlist (well under 1% of compile time), so they run in
//! every build. An observer sees the netlist after each step (`rtl4ml compile --dump-after
//! PASS` prints it as text).

use super::lower::{self, LowerOptions};
use super::schedule;
use crate::error::{Error, Result};
use crate::ir::layers::LayerGraph;
use crate::ir::netlist::Netlist;
use crate::ir::schedule::Schedule;
use crate::target::Target;

/// One named step of the pipeline, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pass {
    /// Resource limits: refuse a model whose estimated operation count is too large (no
    /// netlist yet, so nothing to dump after it).
    #[value(skip)]
    Limits,
    /// Layers → scalar fixed-point operations (shift-and-add, shared subexpressions).
    Lower,
    /// Dead-node elimination.
    Dce,
    /// Bits no reader needs are not built (modulo arithmetic).
    Trim,
    /// Pipeline registers placed for the clock or the latency.
    Schedule,
    /// Fan-out limit of the pipeline registers.
    Fanout,
}

impl Pass {
    pub const ALL: [Pass; 6] = [
        Pass::Limits,
        Pass::Lower,
        Pass::Dce,
        Pass::Trim,
        Pass::Schedule,
        Pass::Fanout,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Pass::Limits => "limits",
            Pass::Lower => "lower",
            Pass::Dce => "dce",
            Pass::Trim => "trim",
            Pass::Schedule => "schedule",
            Pass::Fanout => "fanout",
        }
    }
}

/// How the clock is chosen when a latency in cycles is asked for (`flow::Options::latency_cycles`;
/// without one, `clock_ns` is always the clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockChoice {
    /// `clock_ns` is the clock: an error when the cycles cannot meet it.
    #[default]
    Given,
    /// The shortest period whose schedule fits the cycles (`compile --latency-ns` searches
    /// with it).
    Fastest,
    /// `clock_ns` when the cycles fit at it; else, among the periods at which the cycles are
    /// the fewest that fit (from the shortest period for N cycles up to, not including, the
    /// shortest for N − 1), the one with the fewest register bits: `compile --latency-cycles
    /// N` without `--clock-ns` (the 4.0 ns default clock), so that no registers are spent on
    /// clock speed nobody asked for, and the clock is still faster than any N − 1 stage cut.
    PreferGiven,
}

/// How many periods [`ClockChoice::PreferGiven`] tries between the shortest for N cycles and
/// the shortest for N − 1.
const PREFER_STEPS: u32 = 8;

/// Among the periods from `fastest`'s (the shortest that fits its N cycles) up to, not
/// including, `fewer` (the shortest that fits N − 1; none when N is 1 or the design needs N),
/// the schedule with the fewest register bits (ties: the shorter period). At the shortest
/// period no register can move to a narrower cut: the jet tagger in 3 cycles holds 6,059 bits
/// at 6.16 ns and 2,808 at 6.78 ns; 717 estimated FF at 8.44 ns. Below `fewer` the N stages are still shorter
/// than any cut into N − 1 stages (the cut by adder levels of a peer's N-cycle pipeline with a
/// registered input included).
fn fewest_registers_between(
    net: &Netlist,
    fastest: Schedule,
    fewer: Option<f64>,
    at: &dyn Fn(Option<f64>) -> std::result::Result<Schedule, String>,
) -> Schedule {
    let bits = |s: &Schedule| crate::ir::schedule::register_bits(net, &s.stage, s.latency);
    let base = fastest.clock_ns;
    let top = match fewer {
        Some(f) if f > base => f,
        _ => return fastest,
    };
    let mut best = (bits(&fastest), fastest);
    for k in 1..PREFER_STEPS {
        // Whole picoseconds, as the shortest period is reported; never `top` itself.
        let clock = (((base + (top - base) * f64::from(k) / f64::from(PREFER_STEPS)) * 1000.0)
            .ceil()
            / 1000.0)
            .min(top - 0.001);
        if let Ok(s) = at(Some(clock)) {
            let b = bits(&s);
            if b < best.0 && s.latency == best.1.latency {
                best = (b, s);
            }
        }
    }
    best.1
}

/// What the scheduling steps need (a subset of `flow::Options`).
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub lower: LowerOptions,
    pub clock_ns: f64,
    pub latency_cycles: Option<u32>,
    pub clock_choice: ClockChoice,
    pub target: Target,
    pub max_fanout: u32,
    /// Keep a schedule whose slowest stage exceeds the clock (see `flow::Options`).
    pub allow_slow_stages: bool,
}

/// Runs every pass; `observe` sees the netlist (and the schedule, once made) after each one
/// that has a netlist (not after `limits`).
pub fn run(
    graph: &LayerGraph,
    opts: &PipelineOptions,
    observe: &mut dyn FnMut(Pass, &Netlist, Option<&Schedule>),
) -> Result<(Netlist, Schedule)> {
    let (net, sched) = run_until(graph, opts, Pass::Fanout, observe)?;
    Ok((net, sched.expect("the pipeline ran to the schedule")))
}

/// Runs the passes up to and including `last`; the schedule when `last` is at or after
/// [`Pass::Schedule`].
fn run_until(
    graph: &LayerGraph,
    opts: &PipelineOptions,
    last: Pass,
    observe: &mut dyn FnMut(Pass, &Netlist, Option<&Schedule>),
) -> Result<(Netlist, Option<Schedule>)> {
    let checked = |pass: Pass, net: Netlist| -> Result<Netlist> {
        net.validate().map_err(|m| internal(pass, m))?;
        Ok(net)
    };
    graph
        .validate()
        .map_err(|m| internal(Pass::Limits, format!("inconsistent layer graph: {m}")))?;
    super::limits::check(graph)?;
    let net = checked(Pass::Lower, lower::lower(graph, &opts.lower)?)?;
    observe(Pass::Lower, &net, None);
    let net = checked(Pass::Dce, super::dce::eliminate_dead(net))?;
    observe(Pass::Dce, &net, None);
    let net = checked(Pass::Trim, super::trim::trim_dead_bits(net))?;
    observe(Pass::Trim, &net, None);
    if last == Pass::Trim {
        return Ok((net, None));
    }
    let model = opts.target.delay_model();
    let mut sched = match opts.latency_cycles {
        None => schedule::schedule(&net, opts.clock_ns, &model),
        Some(n) => {
            let at = |clock| schedule::schedule_for_latency(&net, n, clock, &model);
            match opts.clock_choice {
                ClockChoice::Given => at(Some(opts.clock_ns)),
                ClockChoice::Fastest => at(None),
                // The preferred clock when the cycles fit at it and every stage holds.
                ClockChoice::PreferGiven => match at(Some(opts.clock_ns)) {
                    Ok(s) if model.period_for(s.critical_ns) <= opts.clock_ns * (1.0 + 1e-9) => {
                        Ok(s)
                    }
                    _ => at(None).map(|fastest| {
                        let fewer = (n > 1)
                            .then(|| schedule::schedule_for_latency(&net, n - 1, None, &model))
                            .and_then(|r| r.ok())
                            .filter(|s| s.latency == n - 1)
                            .map(|s| s.clock_ns);
                        fewest_registers_between(&net, fastest, fewer, &at)
                    }),
                },
            }
            .map_err(|m| Error::usage("--latency-cycles", m))?
        }
    };
    let clock_given = opts.latency_cycles.is_none() || opts.clock_choice == ClockChoice::Given;
    // A stage slower than the clock asked for (one operation longer than the period): refuse
    // with the clock the design can meet instead of reporting a latency it cannot have.
    if clock_given
        && !opts.allow_slow_stages
        && model.period_for(sched.critical_ns) > opts.clock_ns * (1.0 + 1e-9)
    {
        let uncertainty = if model.clock_uncertainty > 0.0 {
            format!(
                " plus the target's {:.1}% clock uncertainty",
                model.clock_uncertainty * 100.0
            )
        } else {
            String::new()
        };
        return Err(Error::usage(
            "--clock-ns",
            format!(
                "a {:?} ns clock cannot be met: the slowest pipeline stage needs {:.3} ns{uncertainty}; \
                 the fastest clock this design can meet is --clock-ns {:.3}",
                opts.clock_ns,
                sched.critical_ns,
                (model.period_for(sched.critical_ns) * 1000.0 - 1e-6).ceil() / 1000.0
            ),
        ));
    }
    validate_schedule(&net, &sched).map_err(|m| internal(Pass::Schedule, m))?;
    observe(Pass::Schedule, &net, Some(&sched));
    sched.max_fanout = opts.max_fanout;
    observe(Pass::Fanout, &net, Some(&sched));
    Ok((net, Some(sched)))
}

/// The unscheduled part of the pipeline, `lower → dce → trim` with the same checks: the
/// netlist the simulator runs (the optimizer simulates candidates without scheduling them).
pub fn netlist(graph: &LayerGraph, opts: &LowerOptions) -> Result<Netlist> {
    let opts = PipelineOptions {
        lower: opts.clone(),
        clock_ns: 4.0,
        latency_cycles: None,
        clock_choice: ClockChoice::Given,
        target: Target::default(),
        max_fanout: 0,
        allow_slow_stages: true,
    };
    let (net, _) = run_until(graph, &opts, Pass::Trim, &mut |_, _, _| {})?;
    Ok(net)
}

fn internal(pass: Pass, m: String) -> Error {
    Error::unsupported(
        format!("pass `{}`", pass.name()),
        format!("internal error: {m}"),
    )
}

/// A schedule's invariants: one stage per node, no node before an operand's stage (registers
/// only delay), every stage within the latency, and a latency of at least one cycle.
pub fn validate_schedule(net: &Netlist, s: &Schedule) -> std::result::Result<(), String> {
    if s.stage.len() != net.nodes.len() {
        return Err(format!(
            "{} stages for {} nodes",
            s.stage.len(),
            net.nodes.len()
        ));
    }
    if s.latency == 0 {
        return Err("a latency of 0 cycles".into());
    }
    for (i, n) in net.nodes.iter().enumerate() {
        if s.stage[i] > s.latency {
            return Err(format!(
                "node {i} at stage {} beyond the latency {}",
                s.stage[i], s.latency
            ));
        }
        for a in Netlist::args(&n.op) {
            let (sa, constant) = (
                s.stage[a.index()],
                net.node(a).range.lo == net.node(a).range.hi,
            );
            if sa > s.stage[i] && !constant {
                return Err(format!(
                    "node {i} at stage {} reads node {} from the later stage {sa}",
                    s.stage[i], a.0
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap_accum() -> LayerGraph {
        let text = include_str!("../../models/wrap_accum.json");
        crate::frontend::native::parse(text, "wrap_accum.json").unwrap()
    }

    #[test]
    fn lowering_errors_are_typed_and_carry_their_place() {
        let text = include_str!("../../tests/fixtures/errors/wire_too_wide.json");
        let g = crate::frontend::native::parse(text, "wire_too_wide.json").unwrap();
        let e = netlist(&g, &Default::default()).unwrap_err();
        match &e {
            Error::Lower {
                place,
                reason: crate::ir::netlist::BuildError::AlignTooWide { limit: 120 },
            } => assert_eq!(place, "layer `fc1`"),
            other => panic!("expected a typed lowering error, got {other:?}"),
        }
        // The text users see is the place, then the reason, once.
        let text = e.to_string();
        assert!(
            text.starts_with("layer `fc1`: an aligned operand would need more than the 120-bit")
        );
        assert_eq!(text.matches("wire limit").count(), 1, "{text}");
    }

    fn opts() -> PipelineOptions {
        PipelineOptions {
            lower: LowerOptions::default(),
            clock_ns: 4.0,
            latency_cycles: None,
            clock_choice: ClockChoice::Given,
            target: Target::default(),
            max_fanout: 32,
            allow_slow_stages: false,
        }
    }

    #[test]
    fn every_pass_with_a_netlist_is_observed_in_order() {
        let mut seen = Vec::new();
        let (net, sched) = run(&wrap_accum(), &opts(), &mut |p, n, s| {
            seen.push((p, n.nodes.len(), s.is_some()))
        })
        .unwrap();
        let passes: Vec<Pass> = seen.iter().map(|s| s.0).collect();
        assert_eq!(passes, Pass::ALL[1..].to_vec());
        // Dead nodes go at dce; the schedule appears at schedule.
        assert!(seen[1].1 <= seen[0].1);
        assert_eq!(seen[4].1, net.nodes.len());
        assert_eq!(
            seen.iter().map(|s| s.2).collect::<Vec<_>>(),
            [false, false, false, true, true]
        );
        assert_eq!(sched.max_fanout, 32);
        validate_schedule(&net, &sched).unwrap();
    }

    #[test]
    fn a_broken_schedule_is_refused_with_its_place() {
        let (net, sched) = run(&wrap_accum(), &opts(), &mut |_, _, _| {}).unwrap();
        let mut short = sched.clone();
        short.stage.pop();
        assert!(validate_schedule(&net, &short)
            .unwrap_err()
            .contains("stages for"));
        // A node scheduled before an operand it reads.
        let i = net
            .nodes
            .iter()
            .position(|n| matches!(n.op, crate::ir::netlist::Op::Add { .. }))
            .unwrap();
        let mut early = sched.clone();
        for (k, n) in net.nodes.iter().enumerate() {
            if Netlist::args(&n.op).any(|a| a.index() == i) {
                early.stage[i] = early.latency;
                early.stage[k] = 0;
                break;
            }
        }
        let e = validate_schedule(&net, &early).unwrap_err();
        assert!(e.contains("from the later stage"), "{e}");
        let mut zero = sched;
        zero.latency = 0;
        assert!(validate_schedule(&net, &zero).is_err());
    }
}
