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

/// ASAP scheduling: each node goes in the earliest stage where its inputs' arrival time plus
/// its own delay fits the period; otherwise it starts the next stage from registers.
pub fn schedule(net: &Netlist, clock_ns: f64, model: &DelayModel) -> Schedule {
    let budget = (clock_ns - model.register_overhead_ns).max(0.0);
    let n = net.nodes.len();
    let mut stage = vec![0u32; n];
    let mut arrival = vec![0f64; n];
    let mut critical: f64 = 0.0;
    for i in 0..n {
        let d = model.delay(net, i);
        let node = &net.nodes[i];
        if matches!(node.op, Op::Const { .. } | Op::Input { .. }) {
            continue;
        }
        let args: Vec<usize> = Netlist::args(&node.op)
            .map(|a| a.index())
            .filter(|&a| !matches!(net.nodes[a].op, Op::Const { .. }))
            .collect();
        let s = args.iter().map(|&a| stage[a]).max().unwrap_or(0);
        let t = args
            .iter()
            .filter(|&&a| stage[a] == s)
            .map(|&a| arrival[a])
            .fold(0.0, f64::max);
        if t + d <= budget || t == 0.0 {
            stage[i] = s;
            arrival[i] = t + d;
        } else {
            stage[i] = s + 1;
            arrival[i] = d;
        }
        critical = critical.max(arrival[i]);
    }
    let last = net
        .output_elements()
        .iter()
        .map(|(e, _)| stage[e.index()])
        .max()
        .unwrap_or(0);
    Schedule {
        clock_ns,
        stage,
        latency: last + 1,
        critical_ns: critical + model.register_overhead_ns,
    }
}
