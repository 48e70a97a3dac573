//! Delay and LUT models of the comparison, multiplexer, multiplier and lookup-table nodes
//! (the layers beyond dense: pooling, clipping activations, argmax, merges, tables). Kept
//! apart from `schedule.rs` and `report/` so that their formulas can be tuned in one place;
//! see docs/resource-model.md and docs/timing-model.md.

use super::DelayModel;
use crate::ir::netlist::{Netlist, Op};

/// Width of the comparison `x > y` (both operands aligned and extended to it).
pub fn cmp_width(net: &Netlist, i: usize) -> u32 {
    match &net.nodes[i].op {
        Op::Cmp { x, y } => {
            let f = net.operand_frac(x).max(net.operand_frac(y));
            let r = |o: &crate::ir::netlist::Operand| {
                let r = net.node(o.node).range;
                let s = (f - net.operand_frac(o)) as u32;
                (r.lo << s, r.hi << s)
            };
            let (a, b) = (r(x), r(y));
            crate::ir::interval::Interval::new(a.0.min(b.0), a.1.max(b.1)).width()
        }
        _ => 0,
    }
}

/// Address bits of a table node.
pub fn table_address_bits(net: &Netlist, i: usize) -> u32 {
    match &net.nodes[i].op {
        Op::Table { a, .. } => net.node(*a).width(),
        _ => 0,
    }
}

impl DelayModel {
    /// Combinational delay of a comparison, multiplexer, multiplier or table node.
    pub fn extra_op_delay(&self, net: &Netlist, i: usize) -> f64 {
        let n = &net.nodes[i];
        match &n.op {
            // A comparison is a carry chain over its width.
            Op::Cmp { .. } => {
                self.adder_base_ns
                    + self.cmp_extra_ns
                    + self.adder_per_bit_ns * cmp_width(net, i) as f64
            }
            Op::Mux { .. } => self.mux_ns,
            // A LUT multiplier: k rows of partial products reduced by a tree of ⌈log2 k⌉ adders
            // (the partial-product ANDs share the adders' LUTs).
            // A hard multiplier: fixed delay, whatever its operand widths.
            Op::Mul { dsp: true, .. } => self.dsp_ns,
            Op::Mul { a, b, .. } => {
                let k = net
                    .node(a.node)
                    .width()
                    .min(net.node(b.node).width())
                    .max(2);
                let levels = (32 - (k - 1).leading_zeros()) as f64;
                (self.adder_base_ns + self.adder_per_bit_ns * n.width() as f64) * levels
            }
            // LUT6 for 6 address bits, then one 4:1 mux level per two more.
            Op::Table { .. } => {
                let k = table_address_bits(net, i);
                self.mux_ns * (1 + k.saturating_sub(6).div_ceil(2)) as f64
            }
            _ => 0.0,
        }
    }
}

/// LUTs of a comparison, multiplexer, multiplier or table node.
pub fn extra_op_luts(net: &Netlist, i: usize) -> u64 {
    let n = &net.nodes[i];
    let w = n.width() as u64;
    match &n.op {
        // Carry-chain comparator: two bit pairs per LUT.
        Op::Cmp { .. } => (cmp_width(net, i) as u64).div_ceil(2),
        // Two 2:1 multiplexers per LUT6_2 (shared select).
        Op::Mux { .. } => w.div_ceil(2),
        // LUT multiplier: about one LUT per two partial-product bits, at least one per bit.
        Op::Mul { dsp: true, .. } => 0,
        Op::Mul { a, b, .. } => {
            let (wa, wb) = (
                (net.node(a.node).width() as u64).min(w),
                (net.node(b.node).width() as u64).min(w),
            );
            (wa * wb).div_ceil(2).max(w)
        }
        // A ROM: one LUT6 per output bit per 64 entries (F7/F8 muxes free up to 256 entries),
        // two outputs per LUT6_2 up to 32 entries.
        Op::Table { .. } => {
            let k = table_address_bits(net, i);
            if k <= 5 {
                w.div_ceil(2)
            } else {
                let luts = 1u64 << k.saturating_sub(6);
                let muxes = if k > 8 { (1u64 << (k - 8)) - 1 } else { 0 };
                w * (luts + muxes)
            }
        }
        _ => 0,
    }
}
