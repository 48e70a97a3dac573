//! The pipeline of a netlist: a stage per node, the latency, the clock it was built for and
//! its duplicated registers, and the bits each register keeps. Built by `passes::schedule`;
//! read by the Verilog writer, the simulator's reports and the resource model.

use crate::ir::netlist::{Netlist, Op};

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
    /// Fan-out limit of a pipeline register (readers per copy; 0: no limit). See
    /// [`Schedule::fanout_plan`].
    pub max_fanout: u32,
}

/// Longest pipeline rtl4ml builds, in cycles (`--latency-cycles`, `--budget-cycles`, a manifest
/// or a report.json): every register rank costs a copy of the live values, and a Level-1
/// trigger design never needs more.
pub const MAX_LATENCY_CYCLES: u32 = 1024;

/// Default fan-out limit of a pipeline register (`--max-fanout`).
pub const DEFAULT_MAX_FANOUT: u32 = 32;

/// Duplicated pipeline registers: a register (a node's value `d ≥ 1` stages after its stage)
/// read by more than `max_fanout` loads is built `⌈loads / max_fanout⌉` times, each copy
/// driving at most `max_fanout` of them. The loads are, in this order: the next register of the
/// chain, the output bus, then the reading nodes by index; copy `k` takes loads
/// `k·max_fanout ..`. Every copy reads the previous register of the chain (or the node itself).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FanoutPlan {
    /// Copies of register `(node, delay)`, when more than one.
    pub copies: std::collections::BTreeMap<(usize, u32), u32>,
    /// The copy a reading node reads of an operand, when not copy 0: `(reader, operand)`.
    pub pick: rustc_hash::FxHashMap<(usize, usize), u32>,
}

impl FanoutPlan {
    pub fn copies(&self, node: usize, delay: u32) -> u32 {
        self.copies.get(&(node, delay)).copied().unwrap_or(1)
    }
    pub fn pick(&self, reader: usize, operand: usize) -> u32 {
        self.pick.get(&(reader, operand)).copied().unwrap_or(0)
    }
    /// Flip-flops the copies add (full register width each).
    pub fn extra_bits(&self, net: &Netlist) -> u64 {
        self.copies
            .iter()
            .map(|(&(i, _), &c)| (c as u64 - 1) * net.nodes[i].width() as u64)
            .sum()
    }
}

impl Schedule {
    /// Which pipeline registers are duplicated, and which copy each reader takes.
    pub fn fanout_plan(&self, net: &Netlist) -> FanoutPlan {
        let mut plan = FanoutPlan::default();
        let limit = self.max_fanout as usize;
        if limit == 0 {
            return plan;
        }
        let n = net.nodes.len();
        let is_const = |i: usize| matches!(net.nodes[i].op, Op::Const { .. });
        // Readers of each node at each delay, by index.
        let mut loads: Vec<std::collections::BTreeMap<u32, Vec<usize>>> =
            vec![Default::default(); n];
        for r in 0..n {
            let mut seen: Vec<usize> = vec![];
            for a in Netlist::args(&net.nodes[r].op) {
                let a = a.index();
                if is_const(a) || seen.contains(&a) {
                    continue;
                }
                seen.push(a);
                let d = self.stage[r] - self.stage[a];
                if d > 0 {
                    loads[a].entry(d).or_default().push(r);
                }
            }
        }
        let mut out_delay: Vec<Option<u32>> = vec![None; n];
        for (e, _) in net.output_elements() {
            if !is_const(e.index()) {
                out_delay[e.index()] = Some(self.latency - self.stage[e.index()]);
            }
        }
        for i in 0..n {
            let last = loads[i]
                .keys()
                .copied()
                .chain(out_delay[i])
                .max()
                .unwrap_or(0);
            for d in 1..=last {
                let fixed = (d < last) as usize + (out_delay[i] == Some(d)) as usize;
                let readers = loads[i].get(&d).map(|v| v.as_slice()).unwrap_or(&[]);
                let total = fixed + readers.len();
                if total <= limit {
                    continue;
                }
                plan.copies.insert((i, d), total.div_ceil(limit) as u32);
                for (k, &r) in readers.iter().enumerate() {
                    let c = ((fixed + k) / limit) as u32;
                    if c > 0 {
                        plan.pick.insert((r, i), c);
                    }
                }
            }
        }
        plan
    }
}

/// The bits of each node's wire that some reader (or the output bus) reads: the span from the
/// lowest to the highest bit read, as the Verilog writer reads them. A register only needs
/// these bits; the others go to the lint sink and synthesis removes their flip-flops. The
/// bits below the span are the low bits a truncating cast drops (all of them under TRN, all
/// but the rounding bit under RND); bits above it are those an adder, a multiplexer or a
/// wrapping cast cuts off. Other readers (ReLU, comparisons, tables, multipliers) read
/// everything.
pub fn live_widths(net: &Netlist) -> Vec<u32> {
    use crate::ir::fixed::Round;
    let n = net.nodes.len();
    // Lowest and highest bit read, per node (`lo > hi`: nothing read).
    let mut lo = vec![u32::MAX; n];
    let mut hi = vec![0u32; n];
    let mut read = |x: usize, a: u32, b: u32| {
        lo[x] = lo[x].min(a);
        hi[x] = hi[x].max(b);
    };
    for (e, _) in net.output_elements() {
        read(e.index(), 0, net.nodes[e.index()].width() - 1);
    }
    for i in 0..n {
        let node = &net.nodes[i];
        let w = node.width();
        let ws = |o: &crate::ir::netlist::Operand| net.node(o.node).width();
        // An operand shifted left by `s` and extended or cut to `w` bits.
        let shifted = |o: &crate::ir::netlist::Operand, w: u32| -> Option<(u32, u32)> {
            let s = (node.frac - net.operand_frac(o)).max(0) as u32;
            (s < w).then(|| (0, (w - s).min(ws(o)) - 1))
        };
        let mut spans: Vec<(usize, Option<(u32, u32)>)> = vec![];
        match &node.op {
            Op::Input { .. } | Op::Const { .. } => {}
            Op::Add { a, b, .. } => {
                spans.push((a.node.index(), shifted(a, w)));
                spans.push((b.node.index(), shifted(b, w)));
            }
            Op::Neg { a } => spans.push((a.node.index(), shifted(a, w))),
            Op::Mux { c, a, b } => {
                spans.push((c.index(), Some((0, 0))));
                spans.push((a.node.index(), shifted(a, w)));
                spans.push((b.node.index(), shifted(b, w)));
            }
            Op::Relu { a } | Op::Table { a, .. } => {
                spans.push((a.index(), Some((0, net.node(*a).width() - 1))))
            }
            Op::Cmp { x: a, y: b } | Op::Mul { a, b, .. } => {
                spans.push((a.node.index(), Some((0, ws(a) - 1))));
                spans.push((b.node.index(), Some((0, ws(b) - 1))));
            }
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                let wa = ws(a);
                let wr = if plan.saturates() {
                    plan.rounded.width()
                } else {
                    plan.rounded.width().min(w)
                };
                let signed = net.node(a.node).signed();
                let span = if plan.shift >= 0 {
                    let s = plan.shift as u32;
                    (s < wr).then(|| (0, (wr - s).min(wa) - 1))
                } else {
                    let d = ((-plan.shift) as u32).min(wa + 1);
                    // The floor's bits, and the sign when it is extended.
                    let top = if d < wa && wa - d >= wr {
                        d + wr - 1
                    } else {
                        wa - 1
                    };
                    let bottom = if !plan.round_inc {
                        d
                    } else if to.round == Round::Rnd {
                        d - 1
                    } else {
                        0
                    };
                    let bottom = bottom.min(wa - 1);
                    let top = if signed && d < wa && wa - d < wr {
                        wa - 1
                    } else {
                        top
                    };
                    Some((bottom.min(top), top.min(wa - 1)))
                };
                spans.push((a.node.index(), span));
            }
        }
        for (x, span) in spans {
            if let Some((a, b)) = span {
                read(x, a, b);
            }
        }
    }
    (0..n)
        .map(|i| if lo[i] > hi[i] { 0 } else { hi[i] - lo[i] + 1 })
        .collect()
}

/// Register bits a stage assignment needs: every value is held from its stage until the stage of
/// its last reader (outputs: until the output register), its live bits (see [`live_widths`])
/// once per boundary.
pub fn register_bits(net: &Netlist, stage: &[u32], latency: u32) -> u64 {
    let live = live_widths(net);
    let n = net.nodes.len();
    let mut last = vec![0u32; n];
    for (node, &s) in net.nodes.iter().zip(stage) {
        for a in Netlist::args(&node.op) {
            last[a.index()] = last[a.index()].max(s);
        }
    }
    for (e, _) in net.output_elements() {
        last[e.index()] = latency;
    }
    (0..n)
        .filter(|&i| !matches!(net.nodes[i].op, Op::Const { .. }))
        .map(|i| last[i].saturating_sub(stage[i]) as u64 * live[i] as u64)
        .sum()
}

/// One operand of a ternary sum: the node, its shift into the sum's frame (`value · 2^shift`
/// modulo 2^width) and whether it is subtracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term3 {
    pub node: usize,
    pub shift: u32,
    pub neg: bool,
}

/// Sums built as one ternary adder (`rtl4ml_add3`, one LUT per bit on Xilinx fabrics): a sum
/// `p` whose operand `j` is itself a sum of the same stage holding its whole value becomes
/// `±x ± y ± z` over `j`'s operands and `p`'s other one. `j` is absorbed (not built) when every
/// one of its readers absorbs it: first the sums read once (widest first), then the shared
/// ones whose readers are all still free (each reader then computes `j`'s sum itself, at no
/// cost: a ternary adder costs what the binary one did). Returns, per node, the three terms
/// of the sums that absorb a child (the first one added, the other two at most both
/// subtracted) and, per node, whether it was absorbed. No operand is a constant, no shift
/// reaches the sum's width, and an operand that must be extended to the width holds its
/// whole value (as for any sum).
pub fn ternary_sums(net: &Netlist, sched: &Schedule) -> (Vec<Option<[Term3; 3]>>, Vec<bool>) {
    use crate::ir::netlist::Operand;
    let n = net.nodes.len();
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, x) in net.nodes.iter().enumerate() {
        for a in Netlist::args(&x.op) {
            readers[a.index()].push(i);
        }
    }
    let mut output = vec![false; n];
    for (e, _) in net.output_elements() {
        output[e.index()] = true;
    }
    let is_const = |k: usize| matches!(net.nodes[k].op, Op::Const { .. });
    let term = |frame: i32, o: &Operand, extra: u32, neg: bool| -> Option<Term3> {
        let k = o.node.index();
        let s = frame - net.operand_frac(o);
        (s >= 0 && !is_const(k)).then(|| Term3 {
            node: k,
            shift: s as u32 + extra,
            neg,
        })
    };
    // The terms of `p` with its operand `j` absorbed, if that is possible.
    let plan = |p: usize, j: usize| -> Option<[Term3; 3]> {
        let Op::Add {
            a: ja,
            b: jb,
            sub: jsub,
        } = &net.nodes[j].op
        else {
            return None;
        };
        let Op::Add { a, b, sub } = &net.nodes[p].op else {
            return None;
        };
        if sched.stage[p] != sched.stage[j] || net.nodes[j].trimmed() || a.node == b.node {
            return None;
        }
        let (pn, w) = (&net.nodes[p], net.nodes[p].width());
        let (child, cneg, other, oneg) = if a.node.index() == j {
            (a, false, b, *sub)
        } else {
            (b, *sub, a, false)
        };
        let js = u32::try_from(pn.frac - net.operand_frac(child)).ok()?;
        let jf = net.nodes[j].frac;
        let mut ts = [
            term(pn.frac, other, 0, oneg)?,
            term(jf, ja, js, cneg)?,
            term(jf, jb, js, cneg ^ *jsub)?,
        ];
        let fits = ts.iter().all(|t| {
            let x = &net.nodes[t.node];
            t.shift < w && (!x.trimmed() || x.width() >= w - t.shift)
        });
        let first = ts.iter().position(|t| !t.neg)?;
        ts.swap(0, first);
        fits.then_some(ts)
    };
    let mut fused: Vec<Option<[Term3; 3]>> = vec![None; n];
    let mut absorbed = vec![false; n];
    // Widest first (the LUTs an absorbed sum saves), later nodes first among equals.
    let mut order: Vec<usize> = (0..n).rev().collect();
    order.sort_by_key(|&j| std::cmp::Reverse(net.nodes[j].width()));
    for shared in [false, true] {
        for &j in &order {
            let rs = &readers[j];
            if !matches!(net.nodes[j].op, Op::Add { .. })
                || output[j]
                || rs.is_empty()
                || (rs.len() > 1) != shared
                || fused[j].is_some()
                || absorbed[j]
            {
                continue;
            }
            let plans: Option<Vec<[Term3; 3]>> = rs
                .iter()
                .map(|&p| {
                    if fused[p].is_some() || absorbed[p] {
                        None
                    } else {
                        plan(p, j)
                    }
                })
                .collect();
            let Some(plans) = plans else {
                continue;
            };
            // A reader listed twice reads `j` twice (refused by `plan`).
            for (&p, ts) in rs.iter().zip(plans) {
                fused[p] = Some(ts);
            }
            absorbed[j] = true;
        }
    }
    (fused, absorbed)
}

/// Where the carry chain of a ternary sum starts: below every operand's lowest bit the sum is
/// zero, and where only the lowest operand has bits (and it is added) they pass through.
/// Returns `(lowest bit, chain start, the operand passed through)`.
pub fn ternary_start(ts: &[Term3; 3]) -> (u32, u32, Option<usize>) {
    let mut order = [0usize, 1, 2];
    order.sort_by_key(|&k| ts[k].shift);
    let (l1, l2) = (ts[order[0]].shift, ts[order[1]].shift);
    if l1 < l2 && !ts[order[0]].neg {
        (l1, l2, Some(order[0]))
    } else {
        (l1, l1, None)
    }
}
