//! Pipelining: assigns every node a pipeline stage so that each stage's combinational delay
//! fits the clock period. Initiation interval 1; the latency is the number of stages.
//!
//! The delay model is an explicit, documented estimate for a Xilinx UltraScale+-class FPGA
//! (LUT6 + CARRY8, with an allowance for routing); see `docs/timing-model.md`.

use crate::ir::netlist::{Netlist, Op};

/// Per-operation delay estimates in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DelayModel {
    /// Clock-to-out plus setup of a register, subtracted from the period.
    pub register_overhead_ns: f64,
    /// LUT plus routing before a carry chain.
    pub adder_base_ns: f64,
    /// Carry propagation per bit.
    pub adder_per_bit_ns: f64,
    /// A comparison-and-select level (saturation, ReLU).
    pub mux_ns: f64,
}

impl Default for DelayModel {
    fn default() -> Self {
        DelayModel {
            register_overhead_ns: 0.45,
            adder_base_ns: 0.55,
            adder_per_bit_ns: 0.015,
            mux_ns: 0.4,
        }
    }
}

/// FPGA families with a delay model.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Xilinx UltraScale+ (LUT6, CARRY8).
    #[default]
    XilinxUltrascalePlus,
    /// Lattice ECP5 (LUT4, CCU2C carry cells), as routed by nextpnr.
    LatticeEcp5,
}

impl Target {
    pub fn delay_model(self) -> DelayModel {
        match self {
            Target::XilinxUltrascalePlus => DelayModel::default(),
            // LUT4 plus a longer average net; the CCU2C chain is ~0.05 ns per bit.
            Target::LatticeEcp5 => DelayModel {
                register_overhead_ns: 0.7,
                adder_base_ns: 1.2,
                adder_per_bit_ns: 0.05,
                mux_ns: 0.9,
            },
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Target::XilinxUltrascalePlus => "xilinx-ultrascale-plus",
            Target::LatticeEcp5 => "lattice-ecp5",
        }
    }
}

impl DelayModel {
    fn adder(&self, width: u32) -> f64 {
        self.adder_base_ns + self.adder_per_bit_ns * width as f64
    }

    /// Combinational delay of one node.
    pub fn delay(&self, net: &Netlist, i: usize) -> f64 {
        let n = &net.nodes[i];
        match &n.op {
            Op::Input { .. } | Op::Const { .. } => 0.0,
            Op::Add { .. } | Op::Neg { .. } => self.adder(n.width()),
            Op::Relu { .. } => self.mux_ns,
            Op::Cmp { .. } | Op::Mux { .. } | Op::Mul { .. } | Op::Table { .. } => {
                self.extra_op_delay(net, i)
            }
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                (if plan.round_inc {
                    self.adder(n.width() + 1)
                } else {
                    0.0
                }) + if plan.saturates() { self.mux_ns } else { 0.0 }
            }
        }
    }
}

/// The pipeline: a stage per node and the number of stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub clock_ns: f64,
    /// Stage of each node (constants: 0, they need no registers).
    pub stage: Vec<u32>,
    /// Number of register ranks from input to output: the latency in cycles (≥ 1).
    pub latency: u32,
    /// Estimated critical combinational delay of the slowest stage.
    pub critical_ns: f64,
}

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
    let delays: Vec<f64> = (0..net.nodes.len()).map(|i| model.delay(net, i)).collect();
    let fewest = |clock: f64| {
        let budget = (clock - model.register_overhead_ns).max(0.0);
        latency_of(net, &asap(net, &delays, budget))
    };
    let clock = match clock_ns {
        Some(c) => c,
        None => {
            // Bisection on the period: latency is non-increasing in the period.
            let longest_op = delays.iter().cloned().fold(0.0, f64::max);
            let total = critical(net, &delays, &vec![0; net.nodes.len()]).unwrap_or(0.0);
            let (mut lo, mut hi) = (
                longest_op + model.register_overhead_ns,
                total + model.register_overhead_ns + 1e-6,
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
    Ok(place(net, clock, model, &delays, cycles))
}

/// Schedules for the clock: ASAP finds the fewest stages; the registers are then placed over
/// that many stages with the fewest bits (`passes::retime`, a minimum cut over all boundaries
/// at once), e.g. at a layer's inputs or its activations rather than through many partial sums.
pub fn schedule(net: &Netlist, clock_ns: f64, model: &DelayModel) -> Schedule {
    let budget = (clock_ns - model.register_overhead_ns).max(0.0);
    let delays: Vec<f64> = (0..net.nodes.len()).map(|i| model.delay(net, i)).collect();
    let latency = latency_of(net, &asap(net, &delays, budget));
    place(net, clock_ns, model, &delays, latency)
}

/// The fewest register bits in exactly `latency` stages (≥ the ASAP latency); falls back to
/// ASAP (with output registers) when the minimum cut finds nothing that meets the clock.
fn place(
    net: &Netlist,
    clock_ns: f64,
    model: &DelayModel,
    delays: &[f64],
    latency: u32,
) -> Schedule {
    let budget = (clock_ns - model.register_overhead_ns).max(0.0);
    let mut best = asap(net, delays, budget);
    let asap_crit = critical(net, delays, &best).unwrap_or(f64::INFINITY);
    if let Some(cut) = super::retime::min_register_stages(net, delays, budget, latency) {
        if critical(net, delays, &cut).is_some_and(|c| c <= budget + 1e-9 || c <= asap_crit)
            && latency_of(net, &cut) <= latency
            && register_bits(net, &cut, latency) < register_bits(net, &best, latency)
        {
            best = cut;
        }
    }
    let crit = critical(net, delays, &best).unwrap_or(f64::INFINITY);
    Schedule {
        clock_ns,
        stage: best,
        latency,
        critical_ns: crit + model.register_overhead_ns,
    }
}

fn is_free(net: &Netlist, i: usize) -> bool {
    matches!(net.nodes[i].op, Op::Const { .. } | Op::Input { .. })
}

/// Non-constant operands of a node.
fn operands(net: &Netlist, i: usize) -> impl Iterator<Item = usize> + '_ {
    Netlist::args(&net.nodes[i].op)
        .map(|a| a.index())
        .filter(move |&a| !matches!(net.nodes[a].op, Op::Const { .. }))
}

fn latency_of(net: &Netlist, stage: &[u32]) -> u32 {
    net.output_elements()
        .iter()
        .map(|(e, _)| stage[e.index()])
        .max()
        .unwrap_or(0)
        + 1
}

/// Each node in the earliest stage where its operands' arrival plus its delay fits the budget.
fn asap(net: &Netlist, delays: &[f64], budget: f64) -> Vec<u32> {
    let n = net.nodes.len();
    let mut stage = vec![0u32; n];
    let mut arrival = vec![0f64; n];
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        let d = delays[i];
        let s = operands(net, i).map(|a| stage[a]).max().unwrap_or(0);
        let t = operands(net, i)
            .filter(|&a| stage[a] == s)
            .map(|a| arrival[a])
            .fold(0.0, f64::max);
        if t + d <= budget || t == 0.0 {
            stage[i] = s;
            arrival[i] = t + d;
        } else {
            stage[i] = s + 1;
            arrival[i] = d;
        }
    }
    stage
}

/// Critical combinational delay of a stage assignment; `None` when an operand sits in a later
/// stage than its reader.
fn critical(net: &Netlist, delays: &[f64], stage: &[u32]) -> Option<f64> {
    let n = net.nodes.len();
    let mut arrival = vec![0f64; n];
    let mut worst: f64 = 0.0;
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        let mut t: f64 = 0.0;
        for a in operands(net, i) {
            if stage[a] > stage[i] {
                return None;
            }
            if stage[a] == stage[i] {
                t = t.max(arrival[a]);
            }
        }
        arrival[i] = t + delays[i];
        worst = worst.max(arrival[i]);
    }
    Some(worst)
}

/// Register bits a stage assignment needs: every value is held from its stage until the stage of
/// its last reader (outputs: until the output register).
pub fn register_bits(net: &Netlist, stage: &[u32], latency: u32) -> u64 {
    let n = net.nodes.len();
    let mut last = vec![0u32; n];
    for i in 0..n {
        for a in Netlist::args(&net.nodes[i].op) {
            last[a.index()] = last[a.index()].max(stage[i]);
        }
    }
    for (e, _) in net.output_elements() {
        last[e.index()] = latency;
    }
    (0..n)
        .filter(|&i| !matches!(net.nodes[i].op, Op::Const { .. }))
        .map(|i| last[i].saturating_sub(stage[i]) as u64 * net.nodes[i].width() as u64)
        .sum()
}
