//! Arrival times of a netlist's nodes under a [`DelayModel`] (carry chains that overlap), and
//! the critical path of a stage assignment.

use super::DelayModel;
use crate::ir::fixed::FixedType;
use crate::ir::netlist::{CastPlan, Netlist, Op, SaturationTest};

/// Levels of a tree of `k`-input LUTs reducing `bits` signals to one.
fn lut_levels(bits: u32, k: u32) -> u32 {
    let (mut levels, mut n) = (0, bits.max(1));
    while n > 1 {
        n = n.div_ceil(k.max(2));
        levels += 1;
    }
    levels.max(1)
}

/// The routing factor of a design of `bits` logic bits (see `DelayModel::size_per_log2`).
fn size_factor(m: &DelayModel, bits: u64) -> f64 {
    if m.size_per_log2 == 0.0 {
        return 1.0;
    }
    (1.0 + m.size_per_log2 * ((bits.max(1) as f64).log2() - m.size_ref_log2)).clamp(0.6, 2.0)
}

impl DelayModel {
    /// Delay of a saturating cast's overflow test and select, for a result of `width` bits.
    fn saturation(&self, plan: &CastPlan, to: &FixedType) -> f64 {
        let wr = plan.rounded.width();
        if wr <= to.width + self.saturate_narrow_bits {
            return self.mux_ns;
        }
        let Some(level) = self.saturate_level_ns else {
            return self.saturate_ns;
        };
        // The Verilog writer's tests: reductions of the top bits against the type's own
        // range, comparisons against other bounds.
        let rs = plan.rounded.signed();
        let test = SaturationTest::new(to, wr, rs);
        let (max, min) = (to.max_mantissa(), to.cast_min());
        let mut bits = 0;
        if plan.rounded.hi > max {
            match test.above {
                Some((top, p)) => bits = bits.max(top + 1 - p + u32::from(rs)),
                None => return self.saturate_ns,
            }
        }
        if plan.rounded.lo < min {
            match test.below {
                Some(None) => bits = bits.max(1),
                Some(Some((top, p))) => {
                    bits = bits.max(top + 1 - p + 1 + if test.sym { p } else { 0 })
                }
                None => return self.saturate_ns,
            }
        }
        self.mux_ns + level * lut_levels(bits, self.lut_inputs) as f64
    }

    /// The timing of every node of a netlist (see [`Timing`]).
    pub fn timing(&self, net: &Netlist) -> Timing {
        let n = net.nodes.len();
        let c = self.adder_per_bit_ns;
        let mut t = Timing {
            own: vec![0.0; n],
            own_chained: vec![0.0; n],
            diag: vec![false; n],
            finish: vec![0.0; n],
            select: vec![false; n],
            dropped: vec![0; n],
            per_bit: c,
        };
        // Cells reading each node (constants are not nets).
        let mut fanout = vec![0u32; n];
        if self.fanout_ns_per_log2 > 0.0 {
            for node in &net.nodes {
                let mut seen: Vec<usize> = vec![];
                for a in Netlist::args(&node.op) {
                    let a = a.index();
                    if !seen.contains(&a) && !matches!(net.nodes[a].op, Op::Const { .. }) {
                        seen.push(a);
                        fanout[a] += 1;
                    }
                }
            }
        }
        let size = size_factor(self, logic_bits(net));
        let chained = self.chained_adder_ns.unwrap_or(self.adder_base_ns);
        for i in 0..n {
            let node = &net.nodes[i];
            let base_chained = match &node.op {
                Op::Add { .. } | Op::Neg { .. } => Some(chained),
                _ => None,
            };
            let (own, diag, select) = match &node.op {
                Op::Input { .. } | Op::Const { .. } => (0.0, false, false),
                Op::Add { .. } | Op::Neg { .. } => (self.adder_base_ns, true, false),
                Op::Relu { .. } => (self.mux_ns, false, true),
                Op::Cmp { .. } | Op::Mux { .. } | Op::Mul { .. } | Op::Table { .. } => {
                    (self.extra_op_delay(net, i), false, true)
                }
                Op::Cast { a, to } => {
                    let plan = net.cast_plan(a, to);
                    t.dropped[i] = (-plan.shift).max(0) as u32;
                    let inc = if plan.round_inc {
                        self.adder_base_ns
                    } else {
                        0.0
                    };
                    if plan.saturates() {
                        (inc + self.saturation(&plan, to), false, true)
                    } else {
                        (inc, plan.round_inc || t.diag[a.node.index()], false)
                    }
                }
            };
            // The cell waits for its slowest-routed operand net.
            let wait = if own > 0.0 && self.fanout_ns_per_log2 > 0.0 {
                self.fanout_ns_per_log2
                    * Netlist::args(&node.op)
                        .map(|a| (fanout[a.index()].max(1) as f64).log2())
                        .fold(0.0, f64::max)
            } else {
                0.0
            };
            t.own[i] = (own + wait) * size;
            t.own_chained[i] = base_chained.map_or(t.own[i], |b| (b + wait) * size);
            t.diag[i] = diag;
            t.select[i] = select;
            t.finish[i] = if diag { c * node.width() as f64 } else { 0.0 };
        }
        t
    }
}

/// The summed width of a netlist's logic nodes (every node but inputs, constants and casts
/// that are wiring): the design's size for the routing term.
pub fn logic_bits(net: &Netlist) -> u64 {
    net.nodes
        .iter()
        .filter(|node| match &node.op {
            Op::Input { .. } | Op::Const { .. } => false,
            Op::Cast { a, to } => {
                let p = net.cast_plan(a, to);
                p.round_inc || p.saturates()
            }
            _ => true,
        })
        .map(|node| node.width() as u64)
        .sum()
}

/// Arrival times in a stage, with carry chains that overlap.
///
/// A ripple-carry adder's bit `j` is ready `base + j·c` after its operands' bit `j`, so in a
/// tree of adders the carries run diagonally: bit `j` of a value computed in the stage arrives at
/// `t0 + j·c`, where `t0` (the time of bit 0) grows by one `base` per adder level and the carry
/// chain is paid once, by the value's own width, not once per level. A node that selects on its
/// operand's sign or magnitude (ReLU, saturation, comparison, multiplexer, table, multiplier)
/// waits for the operand's MSB and then sets all its bits at once.
#[derive(Clone, Debug)]
pub struct Timing {
    /// `t0` of the node when its operands come from registers (all bits at time 0).
    pub own: Vec<f64>,
    /// `t0` of the node after an operand whose bits arrive diagonally (a sum read by a sum:
    /// `DelayModel::chained_adder_ns`); `own` for every other node.
    pub own_chained: Vec<f64>,
    /// Bits arrive diagonally (`t0 + j·c`), else all at `t0`.
    pub diag: Vec<bool>,
    /// `c · width` for diagonal nodes: the MSB arrives at `t0 + finish`.
    pub finish: Vec<f64>,
    /// Waits for its operand's MSB.
    select: Vec<bool>,
    /// Low bits a cast drops (its bit 0 is the operand's bit `dropped`).
    dropped: Vec<u32>,
    per_bit: f64,
}

impl Timing {
    /// `t0` of node `i` when operand `a` is computed in the same stage with bit 0 at `t0_a`.
    pub fn through(&self, net: &Netlist, a: usize, t0_a: f64, i: usize) -> f64 {
        if !self.diag[a] {
            return t0_a + self.own[i];
        }
        let own = self.own_chained[i];
        let wait = if self.select[i] {
            self.per_bit * net.nodes[a].width() as f64
        } else {
            self.per_bit * self.dropped[i].min(net.nodes[a].width()) as f64
        };
        t0_a + wait + own
    }
    /// `t0` of node `i` in a stage, given the `t0` of its operands computed in that stage.
    pub fn start(&self, net: &Netlist, i: usize, stage: &[u32], t0: &[f64]) -> f64 {
        let mut t = self.own[i];
        for a in operands(net, i) {
            if stage[a] == stage[i] && !is_free(net, a) {
                t = t.max(self.through(net, a, t0[a], i));
            }
        }
        t
    }
}

/// Inputs and constants: they take no time in a stage.
pub fn is_free(net: &Netlist, i: usize) -> bool {
    matches!(net.nodes[i].op, Op::Const { .. } | Op::Input { .. })
}

/// Non-constant operands of a node.
pub fn operands(net: &Netlist, i: usize) -> impl Iterator<Item = usize> + '_ {
    Netlist::args(&net.nodes[i].op)
        .map(|a| a.index())
        .filter(move |&a| !matches!(net.nodes[a].op, Op::Const { .. }))
}

/// Critical combinational delay (the latest MSB) of a stage assignment; `None` when an operand
/// sits in a later stage than its reader.
pub fn critical(net: &Netlist, timing: &Timing, stage: &[u32]) -> Option<f64> {
    let n = net.nodes.len();
    let mut t0 = vec![0f64; n];
    let mut worst: f64 = 0.0;
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        if operands(net, i).any(|a| stage[a] > stage[i]) {
            return None;
        }
        t0[i] = timing.start(net, i, stage, &t0);
        worst = worst.max(t0[i] + timing.finish[i]);
    }
    Some(worst)
}
