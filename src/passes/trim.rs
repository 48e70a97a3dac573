//! Dead high bits: a wire only needs the low bits its readers use.
//!
//! Two's complement addition is exact modulo `2^k` in its low `k` bits, so when every reader
//! of an adder needs only its low `k` bits (a WRAP accumulator or result type, a truncating
//! cast), the adder — and, transitively, the adders feeding it — are built `k` bits wide. The
//! values the outputs carry are unchanged; the simulator still computes exact values.
//!
//! Demand of a node = the number of low bits its readers need:
//! - an output needs its full range;
//! - `a·2^s ± …` of `w` bits needs `w − s` bits of `a`; a negation likewise;
//! - ReLU, comparisons, table indices and saturating casts look at the whole value, so they
//!   need the full range; a multiplexer passes its operands' low bits through, and the low `k`
//!   bits of a product need only the low `k` bits of each factor;
//! - a WRAP (or provably non-overflowing) cast that drops `d` bits needs its own width plus
//!   `d` bits, unless its rounding mode looks at the sign (TRN_ZERO, RND_ZERO, RND_INF), in which
//!   case it needs the full range.

use crate::ir::fixed::Round;
use crate::ir::netlist::{Netlist, Op};

pub fn trim_dead_bits(mut net: Netlist) -> Netlist {
    let n = net.nodes.len();
    let mut demand = vec![0u32; n];
    for (e, _) in net.output_elements() {
        demand[e.index()] = net.nodes[e.index()].range.width();
    }
    for i in (0..n).rev() {
        let full = net.nodes[i].range.width();
        let bits = demand[i].min(full).max(1);
        net.nodes[i].bits = bits;
        let node = &net.nodes[i];
        let need = |id: crate::ir::netlist::NodeId, k: u32, demand: &mut Vec<u32>| {
            let d = &mut demand[id.index()];
            *d = (*d).max(k);
        };
        match &node.op {
            Op::Input { .. } | Op::Const { .. } => {}
            Op::Add { a, b, .. } => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                let sb = (node.frac - net.operand_frac(b)) as u32;
                need(a.node, bits.saturating_sub(sa), &mut demand);
                need(b.node, bits.saturating_sub(sb), &mut demand);
            }
            Op::Neg { a } => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                need(a.node, bits.saturating_sub(sa), &mut demand);
            }
            Op::Relu { a } | Op::Table { a, .. } => need(*a, u32::MAX, &mut demand),
            // Comparisons read whole values; a multiplexer passes its operands' low bits; the
            // low k bits of a product depend only on the low k bits of its factors.
            Op::Cmp { x, y } => {
                need(x.node, u32::MAX, &mut demand);
                need(y.node, u32::MAX, &mut demand);
            }
            Op::Mux { c, a, b } => {
                need(*c, u32::MAX, &mut demand);
                let sa = (node.frac - net.operand_frac(a)) as u32;
                let sb = (node.frac - net.operand_frac(b)) as u32;
                need(a.node, bits.saturating_sub(sa), &mut demand);
                need(b.node, bits.saturating_sub(sb), &mut demand);
            }
            Op::Mul { a, b, .. } => {
                need(a.node, bits, &mut demand);
                need(b.node, bits, &mut demand);
            }
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                let sign_aware =
                    matches!(to.round, Round::TrnZero | Round::RndZero | Round::RndInf);
                if plan.saturates() || (plan.round_inc && sign_aware) {
                    need(a.node, u32::MAX, &mut demand);
                } else if plan.shift >= 0 {
                    need(a.node, bits.saturating_sub(plan.shift as u32), &mut demand);
                } else {
                    // The kept bits and the dropped bits (RND_CONV's LSB is a kept bit).
                    need(a.node, bits + (-plan.shift) as u32, &mut demand);
                }
            }
        }
    }
    net
}
