//! The resource cost model: LUTs, flip-flops and carry cells of the Verilog that
//! `backends::verilog` writes, as Yosys (`synth_xilinx -flatten -nodsp -noiopad`, 7-series
//! cells: LUT1–6, CARRY4, FDRE/FDSE) builds it. Calibrated against Yosys 0.23; the formulas and
//! their measured error are in `docs/resource-model.md`.
//!
//! The model works on bits, the way synthesis does:
//!
//! 1. **Liveness.** Walking the netlist backwards from the output bus, each node gets the set of
//!    its bits that something reads (an adder whose high bits nobody reads is built narrower;
//!    Yosys removes the rest).
//! 2. **Canonical signals.** Casts that only move bits (a shift, a truncation, a sign extension,
//!    a WRAP that drops high bits) are wiring: each of their bits is a bit of an earlier node or
//!    a constant. Every bit read is resolved to that *root* bit, so that registers holding the
//!    same signal, and inverters of the same signal, are counted once.
//! 3. **Flip-flops.** A root bit read `k` stages after the stage that computes it needs `k`
//!    flip-flops (one per register rank); constant bits need none.
//! 4. **Per-op formulas** for LUTs and CARRY4s, per adder bit (see [`adder`]) and per cast,
//!    ReLU, multiplexer and comparison (see [`Model::node_cost`]).
//!
//! The `ff` of a node is the flip-flops that carry its bits; the `lut`/`carry` of a node is the
//! logic that computes it (an inverter in front of an adder is charged to the adder).

use crate::ir::fixed::{Overflow, Round};
use crate::ir::netlist::{Netlist, Op, Operand};
use crate::ir::schedule::{ternary_start, ternary_sums, Schedule, Term3};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeSet;

/// Bits per CARRY4 cell (7-series; UltraScale+'s CARRY8 holds 8).
pub const CARRY_BITS: u64 = 4;

/// One bit as synthesis sees it: a constant or a bit of a root node (not a wiring cast).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sig {
    Zero,
    One,
    Var { node: u32, bit: u32 },
}

/// A bit inside an arithmetic cell: a constant or an interned signal (see [`Key`]).
/// Constants order first, as in Yosys's bit sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum B {
    Zero,
    One,
    V(u32),
}

impl B {
    fn constant(one: bool) -> B {
        if one {
            B::One
        } else {
            B::Zero
        }
    }
}

/// What an interned signal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Bit of a root node, `delay` registers after the stage that computes it, maybe inverted.
    Leaf {
        node: u32,
        bit: u32,
        delay: u32,
        inv: bool,
    },
}

#[derive(Default)]
struct Signals {
    ids: HashMap<Key, u32>,
    keys: Vec<Key>,
}

impl Signals {
    fn id(&mut self, k: Key) -> B {
        let next = self.keys.len() as u32;
        let id = *self.ids.entry(k).or_insert(next);
        if id == next {
            self.keys.push(k);
        }
        B::V(id)
    }
}

/// Estimated cost of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCost {
    pub lut: u64,
    pub ff: u64,
    pub carry: u64,
}

/// What the model found for a whole netlist.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    /// Per node: logic that computes it and flip-flops that carry its bits.
    pub nodes: Vec<NodeCost>,
    /// Live bits per node (bit `k` set when something reads bit `k`).
    pub live: Vec<u128>,
}

fn mask(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

fn top_bit(m: u128) -> Option<u32> {
    (m != 0).then(|| 127 - m.leading_zeros())
}

/// LUT6s for one single-output function of `n` inputs. One LUT up to six inputs; beyond,
/// Yosys/ABC builds a small tree (with MUXF7/F8): measured 3 LUTs for 7 and 8 inputs.
pub fn soft_luts(n: u32) -> u64 {
    match n {
        0 => 0,
        1..=6 => 1,
        _ => (n as u64 - 1).div_ceil(5) + 1,
    }
}

/// LUTs and CARRY4s of a saturating cast's overflow test over the top `k` bits of the rounded
/// value, besides the per-bit select LUTs (`per_bit`: there are some). Measured on Yosys 0.23:
/// up to 5 bits the test folds into the select LUTs; from 6 bits Yosys builds the two
/// comparisons as carry chains (`$alu`) with about `3 + ⌈2k/3⌉` LUTs and `2·⌈k/20⌉` CARRY4s.
/// When the rounded value is input-port bits (`from_ports`: no rounding adder), the
/// comparisons stay LUT logic up to 8 bits (one more LUT from 6). Without per-bit LUTs
/// (SAT_ZERO into registers) the test is at least one LUT, one more from 6 bits.
pub fn overflow_test(k: u32, per_bit: bool, from_ports: bool) -> (u64, u64) {
    let chains = k >= if from_ports { 9 } else { 6 };
    let (mut luts, carry) = if chains {
        (3 + (2 * k as u64).div_ceil(3), 2 * (k as u64).div_ceil(20))
    } else if k >= 6 {
        (1, 0)
    } else {
        (0, 0)
    };
    if !per_bit {
        luts = luts.max(1) + u64::from(k >= 6);
    }
    (luts, carry)
}

/// Is this cast pure wiring (no rounding increment, no saturation)?
pub fn is_wire_cast(net: &Netlist, op: &Op) -> bool {
    match op {
        Op::Cast { a, to } => {
            let p = net.cast_plan(a, to);
            !p.round_inc && !p.saturates()
        }
        _ => false,
    }
}

/// The bits of a cast as the Verilog writer builds them (see `cast_lines`).
struct CastBits {
    /// Width of the rounded wire `n<i>_r`.
    wr: u32,
    /// The rounded wire is two's complement.
    rs: bool,
    /// Source width.
    ws: u32,
    src_signed: bool,
    shift: i32,
    /// Bits dropped (capped at `ws + 1`), when `shift < 0`.
    d: u32,
}

impl CastBits {
    fn new(net: &Netlist, i: usize) -> Option<(Self, &Operand, crate::ir::netlist::CastPlan)> {
        let n = &net.nodes[i];
        let Op::Cast { a, to } = &n.op else {
            return None;
        };
        let plan = net.cast_plan(a, to);
        let wn = n.width();
        let wr = if plan.saturates() {
            plan.rounded.width()
        } else {
            plan.rounded.width().min(wn)
        };
        let src = net.node(a.node);
        let ws = src.width();
        Some((
            CastBits {
                wr,
                rs: plan.rounded.signed(),
                ws,
                src_signed: src.signed(),
                shift: plan.shift,
                d: if plan.shift < 0 {
                    ((-plan.shift) as u32).min(ws + 1)
                } else {
                    0
                },
            },
            a,
            plan,
        ))
    }
    /// Source bit that bit `k` of the rounding base (the shifted value or the floor) is.
    fn base_bit(&self, k: u32) -> Option<u32> {
        let sign = self.src_signed.then_some(self.ws - 1);
        if self.shift >= 0 {
            let s = self.shift as u32;
            if k < s {
                None
            } else if k - s < self.ws {
                Some(k - s)
            } else {
                sign
            }
        } else if self.d < self.ws && k < self.ws - self.d {
            Some(self.d + k)
        } else {
            sign
        }
    }
    /// Source bit for `bit(src, i)` (sign- or zero-extended beyond the wire).
    fn src_bit(&self, i: u32) -> Option<u32> {
        if i < self.ws {
            Some(i)
        } else if self.src_signed {
            Some(self.ws - 1)
        } else {
            None
        }
    }
    /// Source bits the rounding increment reads, for a rounding mode.
    fn inc_bits(&self, round: Round) -> Vec<u32> {
        let d = self.d;
        let mut v = Vec::new();
        let rest = |v: &mut Vec<u32>, hi: u32| {
            for b in 0..=hi.min(self.ws - 1) {
                v.push(b);
            }
        };
        let sign = self.src_signed.then_some(self.ws - 1);
        match round {
            Round::Trn => {}
            Round::TrnZero => {
                v.extend(sign);
                rest(&mut v, d - 1);
            }
            _ => {
                v.extend(self.src_bit(d - 1));
                if d >= 2 && round != Round::Rnd {
                    rest(&mut v, d - 2);
                }
                match round {
                    Round::RndZero | Round::RndInf => v.extend(sign),
                    Round::RndConv => v.extend(self.src_bit(d)),
                    _ => {}
                }
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Bit `i` of operand `o` shifted left by `s` and extended to `w` bits, as a node bit
/// (`None` = constant zero, `Some(Err(one))` = constant from a literal).
fn operand_bit(net: &Netlist, o: &Operand, s: u32, i: u32) -> Result<Option<u32>, bool> {
    let n = net.node(o.node);
    if let Op::Const { value } = n.op {
        if i < s {
            return Err(false);
        }
        let k = (i - s).min(126);
        return Err((value >> k) & 1 == 1);
    }
    if i < s {
        return Ok(None);
    }
    let j = i - s;
    if j < n.width() {
        Ok(Some(j))
    } else if n.signed() {
        Ok(Some(n.width() - 1))
    } else {
        Ok(None)
    }
}

/// The shift of an operand into its reader's grid.
fn shift_of(net: &Netlist, frac: i32, o: &Operand) -> u32 {
    (frac - net.operand_frac(o)).max(0) as u32
}

pub struct Model<'a> {
    net: &'a Netlist,
    stage: &'a [u32],
    latency: u32,
    /// Canonical signal of each node bit.
    canon: Vec<Vec<Sig>>,
    live: Vec<u128>,
    /// Per root node: for each bit, the largest number of stages it is carried.
    carried: Vec<Vec<u32>>,
    /// Per root node: bits read in the stage that computes them by logic that is not itself a
    /// per-bit LUT function (a carry chain, a rounding adder).
    hard_read: Vec<u128>,
    /// Per root node: bits read through a register (or by the output bus).
    reg_read: Vec<u128>,
    /// Inverters already built (interned signal ids).
    inverters: HashSet<u32>,
    /// Interned signals of arithmetic cells.
    sigs: Signals,
    /// The sum each sum merges into (Yosys `alumacc`), if any.
    merge_into: Vec<Option<u32>>,
    /// The only cell that reads each root node's bits, through wiring casts (`None`: nobody;
    /// `Some(u32::MAX)`: several, a register or the output bus).
    reader: Vec<Option<u32>>,
    /// Ternary sums (`ir::schedule::ternary_sums`) and the sums they absorb.
    fused: Vec<Option<[Term3; 3]>>,
    absorbed: Vec<bool>,
}

impl<'a> Model<'a> {
    pub fn new(net: &'a Netlist, sched: &'a Schedule, ternary: bool) -> Self {
        let n = net.nodes.len();
        let (fused, absorbed) = if ternary {
            ternary_sums(net, sched)
        } else {
            (vec![None; n], vec![false; n])
        };
        let mut m = Model {
            net,
            stage: &sched.stage,
            latency: sched.latency,
            canon: Vec::with_capacity(n),
            live: vec![0; n],
            carried: net
                .nodes
                .iter()
                .map(|x| vec![0; x.width() as usize])
                .collect(),
            hard_read: vec![0; n],
            reg_read: vec![0; n],
            inverters: HashSet::default(),
            sigs: Signals::default(),
            merge_into: vec![None; n],
            reader: vec![None; n],
            fused,
            absorbed,
        };
        m.build_canon();
        m.build_liveness();
        m.build_merges();
        m
    }

    fn build_canon(&mut self) {
        let net = self.net;
        for i in 0..net.nodes.len() {
            let n = &net.nodes[i];
            let w = n.width();
            let bits: Vec<Sig> = match &n.op {
                Op::Const { value } => (0..w)
                    .map(|k| {
                        if (value >> k.min(126)) & 1 == 1 {
                            Sig::One
                        } else {
                            Sig::Zero
                        }
                    })
                    .collect(),
                Op::Cast { .. } if is_wire_cast(net, &n.op) => {
                    let (cb, a, _) = CastBits::new(net, i).expect("a cast");
                    let src = a.node.index();
                    (0..w)
                        .map(|j| {
                            let k = if j < cb.wr {
                                Some(j)
                            } else if cb.rs {
                                Some(cb.wr - 1)
                            } else {
                                None
                            };
                            match k.and_then(|k| cb.base_bit(k)) {
                                Some(b) => self.canon[src][b as usize],
                                None => Sig::Zero,
                            }
                        })
                        .collect()
                }
                // ReLU of a bit at or above the source's sign is `~s & s = 0`.
                Op::Relu { a } => {
                    let wa = net.node(*a).width();
                    (0..w)
                        .map(|k| {
                            if k + 1 >= wa {
                                Sig::Zero
                            } else {
                                Sig::Var {
                                    node: i as u32,
                                    bit: k,
                                }
                            }
                        })
                        .collect()
                }
                _ => (0..w)
                    .map(|k| Sig::Var {
                        node: i as u32,
                        bit: k,
                    })
                    .collect(),
            };
            self.canon.push(bits);
        }
    }

    /// Marks what each node reads, backwards from the outputs; records every read of a root
    /// bit with the stage it is read in.
    fn build_liveness(&mut self) {
        let net = self.net;
        // (node, bit, reading stage, the reader is a per-bit LUT function, reader)
        let mut reads: Vec<(usize, u32, u32, bool, u32)> = Vec::new();
        for (e, ty) in net.output_elements() {
            let w = net.node(e).width().min(ty.width);
            self.live[e.index()] |= mask(w);
            for k in 0..w {
                reads.push((e.index(), k, self.latency, false, u32::MAX));
            }
        }
        for i in (0..net.nodes.len()).rev() {
            let l = self.live[i];
            if l == 0 {
                continue;
            }
            let n = &net.nodes[i];
            let t = self.stage[i];
            let wire = is_wire_cast(net, &n.op);
            let soft = self.is_soft(i);
            let mut read = |this: &mut Self, x: usize, k: u32| {
                this.live[x] |= 1u128 << k;

                if !wire {
                    reads.push((x, k, t, soft, i as u32));
                }
            };
            let top = top_bit(l).unwrap();
            match &n.op {
                Op::Input { .. } | Op::Const { .. } => {}
                Op::Add { a, b, .. } | Op::Mul { a, b, .. } => {
                    for o in [a, b] {
                        let s = if matches!(n.op, Op::Mul { .. }) {
                            0
                        } else {
                            shift_of(net, n.frac, o)
                        };
                        for k in 0..=top {
                            if let Ok(Some(j)) = operand_bit(net, o, s, k) {
                                read(self, o.node.index(), j);
                            }
                        }
                    }
                }
                Op::Neg { a } => {
                    let s = shift_of(net, n.frac, a);
                    for k in 0..=top {
                        if let Ok(Some(j)) = operand_bit(net, a, s, k) {
                            read(self, a.node.index(), j);
                        }
                    }
                }
                Op::Mux { c, a, b } => {
                    read(self, c.index(), 0);
                    for o in [a, b] {
                        let s = shift_of(net, n.frac, o);
                        for k in 0..=top {
                            if l >> k & 1 == 1 {
                                if let Ok(Some(j)) = operand_bit(net, o, s, k) {
                                    read(self, o.node.index(), j);
                                }
                            }
                        }
                    }
                }
                Op::Relu { a } => {
                    let wa = net.node(*a).width();
                    read(self, a.index(), wa - 1);
                    for k in 0..=top {
                        if l >> k & 1 == 1 {
                            read(self, a.index(), k.min(wa - 1));
                        }
                    }
                }
                Op::Cmp { x, y } => {
                    let f = net.operand_frac(x).max(net.operand_frac(y));
                    let wc = crate::target::ops::cmp_width(net, i);
                    for o in [x, y] {
                        let s = shift_of(net, f, o);
                        for k in 0..wc {
                            if let Ok(Some(j)) = operand_bit(net, o, s, k) {
                                read(self, o.node.index(), j);
                            }
                        }
                    }
                }
                Op::Table { a, .. } => {
                    for k in 0..net.node(*a).width() {
                        read(self, a.index(), k);
                    }
                }
                Op::Cast { to, .. } => {
                    let (cb, a, plan) = CastBits::new(net, i).expect("a cast");
                    let src = a.node.index();
                    // Live bits of the rounded wire.
                    let rl = if plan.saturates() {
                        mask(cb.wr)
                    } else {
                        let mut r = l & mask(cb.wr);
                        if cb.rs && l & !mask(cb.wr) != 0 {
                            r |= 1u128 << (cb.wr - 1);
                        }
                        r
                    };
                    if let Some(rtop) = top_bit(rl) {
                        // A rounding adder needs every base bit below its top live bit.
                        let base = if plan.round_inc { mask(rtop + 1) } else { rl };
                        for k in 0..=rtop {
                            if base >> k & 1 == 1 {
                                if let Some(b) = cb.base_bit(k) {
                                    read(self, src, b);
                                }
                            }
                        }
                        if plan.round_inc {
                            for b in cb.inc_bits(to.round) {
                                read(self, src, b);
                            }
                        }
                    }
                }
            }
        }
        // Register ranks per root bit; bits read in their own stage.
        for (x, k, t, soft, reader) in reads {
            if let Sig::Var { node, bit } = self.canon[x][k as usize] {
                let r = node as usize;
                let delay = t.saturating_sub(self.stage[r]);
                let who = if delay > 0 { u32::MAX } else { reader };
                let rr = &mut self.reader[r];
                *rr = match *rr {
                    None => Some(who),
                    Some(p) if p == who => Some(p),
                    _ => Some(u32::MAX),
                };
                let c = &mut self.carried[r][bit as usize];
                *c = (*c).max(delay);
                if delay > 0 {
                    self.reg_read[r] |= 1u128 << bit;
                } else if !soft {
                    self.hard_read[r] |= 1u128 << bit;
                }
            }
        }
    }

    /// Which sums Yosys's `alumacc` merges into their reader. Before `alumacc`, `wreduce`
    /// drops the low bits where all operands are zero and the zero-extension of unsigned
    /// operands; a sum (`$add`, `$sub`, `$neg`) then merges into the
    /// one cell that reads its bits when that cell is a sum in the same stage and one of its
    /// operands is exactly the sum's value. When that operand was zero-extended, the merge
    /// also needs the sum to be unable to overflow its width (no subtraction, no
    /// sign-extended operand, the operands' maxima fit).
    fn build_merges(&mut self) {
        let net = self.net;
        for x in 0..net.nodes.len() {
            if !matches!(net.nodes[x].op, Op::Add { .. } | Op::Neg { .. })
                || self.live[x] == 0
                || self.fused[x].is_some()
                || self.absorbed[x]
            {
                continue;
            }
            let Some(r) = self.reader[x].filter(|&r| r != u32::MAX) else {
                continue;
            };
            let (r, rn) = (r as usize, &net.nodes[r as usize]);
            if self.stage[r] != self.stage[x] || self.live[r] == 0 || self.fused[r].is_some() {
                continue;
            }
            let ops: Vec<(Operand, bool)> = match &rn.op {
                Op::Add { a, b, sub } => vec![(*a, false), (*b, *sub)],
                Op::Neg { a } => vec![(*a, true)],
                _ => continue,
            };
            let top = top_bit(self.live[r]).unwrap();
            let bits = |o: &Operand, k: u32| -> Sig {
                match operand_bit(net, o, shift_of(net, rn.frac, o), k) {
                    Err(true) => Sig::One,
                    Err(false) | Ok(None) => Sig::Zero,
                    Ok(Some(j)) => self.canon[o.node.index()][j as usize],
                }
            };
            // Low bits where every operand is zero, which wreduce removes.
            let mut free = 0;
            while free <= top {
                let z = ops.iter().all(|o| bits(&o.0, free) == Sig::Zero);
                if !z {
                    break;
                }
                free += 1;
            }
            let lx = top_bit(self.live[x]).unwrap() + 1;
            let mut hits = 0;
            let mut whole = None;
            for (o, _) in &ops {
                let port: Vec<Sig> = (free..=top).map(|k| bits(o, k)).collect();
                if !port
                    .iter()
                    .any(|b| matches!(b, Sig::Var { node, .. } if *node as usize == x))
                {
                    continue;
                }
                hits += 1;
                let exact = port.len() >= lx as usize
                    && (0..lx as usize).all(|j| {
                        port[j]
                            == Sig::Var {
                                node: x as u32,
                                bit: j as u32,
                            }
                    })
                    && port[lx as usize..].iter().all(|b| *b == Sig::Zero);
                whole = exact.then_some(port.len() > lx as usize);
            }
            let Some(extended) = whole.filter(|_| hits == 1) else {
                continue;
            };
            if extended && self.may_overflow(x, lx) {
                continue;
            }
            self.merge_into[x] = Some(r as u32);
        }
    }

    /// Yosys's `macc_may_overflow` for the sum rooted at `x` with `lx` result bits.
    fn may_overflow(&self, x: usize, lx: u32) -> bool {
        let net = self.net;
        let mut ports = Vec::new();
        self.macc_ports(x, false, &mut ports);
        let mut total = 0f64;
        for (o, s, neg) in ports {
            let n = net.node(o.node);
            let end = n.width() + s;
            if neg || (n.signed() && end < lx) {
                return true;
            }
            total += (end.min(lx) as f64).exp2() - 1.0;
        }
        total >= (lx as f64).exp2()
    }

    /// A leaf bit of an arithmetic cell: operand bit `r` of node `o_node` seen from stage `t`,
    /// inverted when `inv` (a subtracted operand inside a multi-operand sum).
    fn leaf(&mut self, o_node: usize, r: Result<Option<u32>, bool>, t: u32, inv: bool) -> B {
        let s = match r {
            Err(true) => Sig::One,
            Err(false) | Ok(None) => Sig::Zero,
            Ok(Some(j)) => self.canon[o_node][j as usize],
        };
        match s {
            Sig::Zero => B::constant(inv),
            Sig::One => B::constant(!inv),
            Sig::Var { node, bit } => {
                let delay = t.saturating_sub(self.stage[node as usize]);
                self.sigs.id(Key::Leaf {
                    node,
                    bit,
                    delay,
                    inv,
                })
            }
        }
    }

    /// An inverter of a signal (a LUT1), unless one exists already or the signal comes out
    /// of a LUT in the same stage (the inversion folds into that LUT).
    fn inverter(&mut self, b: B) -> u64 {
        let B::V(id) = b else {
            return 0;
        };
        match self.sigs.keys[id as usize] {
            Key::Leaf {
                node,
                delay,
                inv: false,
                ..
            } => {
                if delay == 0 && self.is_soft(node as usize) {
                    0
                } else {
                    u64::from(self.inverters.insert(id))
                }
            }
            // Already an inverted signal.
            _ => 0,
        }
    }

    /// Is operand `x` per-bit LUT logic computed in stage `t` (so that a register cannot take
    /// it through its reset pin without a LUT)?
    fn soft_here(&self, x: crate::ir::netlist::NodeId, t: u32) -> bool {
        let w = self.net.node(x).width();
        match self.canon[x.index()].get(w.saturating_sub(1) as usize) {
            Some(Sig::Var { node, .. }) => {
                self.stage[*node as usize] == t && self.is_soft(*node as usize)
            }
            _ => false,
        }
    }

    /// Does this root node come out of a LUT (rather than a carry chain, a register or a port)?
    fn is_soft(&self, i: usize) -> bool {
        match &self.net.nodes[i].op {
            Op::Relu { .. } | Op::Mux { .. } | Op::Table { .. } => true,
            Op::Cast { a, to } => self.net.cast_plan(a, to).saturates(),
            _ => false,
        }
    }

    /// LUTs, inverters and CARRY4s of a two-operand carry chain `A ± B` with operand bits
    /// `cols[k] = (A_k, B_k)` (Yosys `$alu` on CARRY4):
    ///
    /// - low bits where one operand is zero (for a subtraction: where the subtrahend is zero)
    ///   cannot produce a carry: they are wires, outside the chain;
    /// - the chain covers the rest: one CARRY4 per 4 bits;
    /// - a chain bit whose operands are two different signals needs one LUT (the propagate
    ///   XOR); identical operand pairs (the sign-extension region) share it;
    /// - a chain bit with one signal and a constant needs an inverter when the XOR with the
    ///   constant (and the subtraction's inversion) inverts it, else nothing.
    fn alu(&mut self, cols: &[(B, B)], sub: bool) -> NodeCost {
        let mut free = 0;
        while free < cols.len() {
            let (a, b) = cols[free];
            let zero = if sub {
                b == B::Zero
            } else {
                a == B::Zero || b == B::Zero
            };
            if !zero {
                break;
            }
            free += 1;
        }
        let mut cost = NodeCost {
            carry: ((cols.len() - free) as u64).div_ceil(CARRY_BITS),
            ..Default::default()
        };
        let mut pairs: HashSet<(B, B)> = HashSet::default();
        for &(a, b) in &cols[free..] {
            match (a, b) {
                (B::V(_), B::V(_)) if a != b => {
                    pairs.insert(if !sub && b < a { (b, a) } else { (a, b) });
                }
                (B::V(_), B::V(_)) => {}
                (B::V(_), c) if (c == B::One) != sub => cost.lut += self.inverter(a),
                (c, B::V(_)) if (c == B::One) != sub => cost.lut += self.inverter(b),
                _ => {}
            }
        }
        cost.lut += pairs.len() as u64;
        cost
    }

    /// The ports of the multi-operand sum rooted at `i`: `(operand, shift, subtracted)`.
    fn macc_ports(&self, i: usize, negate: bool, out: &mut Vec<(Operand, u32, bool)>) {
        let net = self.net;
        let n = &net.nodes[i];
        let ops: Vec<(Operand, bool)> = match &n.op {
            Op::Add { a, b, sub } => vec![(*a, negate), (*b, negate ^ *sub)],
            Op::Neg { a } => vec![(*a, !negate)],
            _ => unreachable!("only sums form a macc"),
        };
        for (o, neg) in ops {
            let x = o.node.index();
            if self.merge_into[x] == Some(i as u32) {
                self.macc_ports(x, neg, out);
            } else {
                out.push((o, shift_of(net, n.frac, &o), neg));
            }
        }
    }

    /// A sum of `A ± B` or, when Yosys's `alumacc` merges a chain of sums into one `$macc`
    /// (a sum whose only reader is another sum in the same stage, reading it whole and at the
    /// same width), the full-adder tree that `maccmap` builds for it, plus its final carry
    /// chain.
    fn sum(&mut self, i: usize, top: u32) -> NodeCost {
        let t = self.stage[i];
        let mut ports = Vec::new();
        self.macc_ports(i, false, &mut ports);
        let w = top + 1;
        let net = self.net;
        let alu_ports = match ports.len() {
            1 => Some((None, ports[0])),
            2 if !(ports[0].2 && ports[1].2) => Some(if ports[0].2 {
                (Some(ports[1]), ports[0])
            } else {
                (Some(ports[0]), ports[1])
            }),
            _ => None,
        };
        if let Some((a, b)) = alu_ports {
            let cols: Vec<(B, B)> = (0..w)
                .map(|k| {
                    let x = match a {
                        Some((o, s, _)) => {
                            self.leaf(o.node.index(), operand_bit(net, &o, s, k), t, false)
                        }
                        None => B::Zero,
                    };
                    let (o, s, _) = b;
                    let y = self.leaf(o.node.index(), operand_bit(net, &o, s, k), t, false);
                    (x, y)
                })
                .collect();
            return self.alu(&cols, b.2);
        }
        // maccmap: every operand bit into its column (subtracted operands inverted, plus one);
        // a bit already in a column moves up as a carry.
        let wu = w as usize;
        let mut cols: Vec<BTreeSet<B>> = vec![BTreeSet::new(); wu];
        fn put(cols: &mut [BTreeSet<B>], b: B, pos: usize) {
            if pos >= cols.len() || b == B::Zero {
                return;
            }
            if !cols[pos].remove(&b) {
                cols[pos].insert(b);
            } else {
                put(cols, b, pos + 1);
            }
        }
        for (o, s, neg) in ports {
            for k in 0..w {
                let b = self.leaf(o.node.index(), operand_bit(net, &o, s, k), t, neg);
                put(&mut cols, b, k as usize);
            }
            if neg {
                put(&mut cols, B::One, 0);
            }
        }
        // LUTs per column of `m` bits (constant ones count: maccmap builds full adders over
        // them), measured on chains of 3–10
        // equal-width sums: 1 for 2, 2 for 3 (a full adder folded into the chain's LUT),
        // 1.5·(m − 1) from 4 (ABC's mapping of the deeper full-adder tree). In the
        // sign-extension region, where `r ≥ 3` of a column's bits repeat the column below, the
        // adders over the repeated bits are shared: the column costs as `m − r + 1` bits.
        let g = |m: u64| match m {
            0 | 1 => 0,
            2 => 2,
            3 => 4,
            _ => 3 * (m - 1),
        };
        let mut halves = 0u64; // LUTs × 2
        let mut prev: Option<&BTreeSet<B>> = None;
        for c in &cols {
            let m = c.len() as u64;
            let r = prev.map_or(0, |p| c.intersection(p).count() as u64);
            halves += if r >= 3 { g(m - r + 1) } else { g(m) };
            prev = Some(c);
        }
        // The final carry chain starts at the first column holding a bit.
        let free = cols.iter().take_while(|c| c.is_empty()).count() as u64;
        NodeCost {
            lut: halves.div_ceil(2),
            carry: (w as u64 - free).div_ceil(CARRY_BITS),
            ff: 0,
        }
    }

    /// Cost of one node (flip-flops: the registers that carry its bits, when it is a root).
    pub fn node_cost(&mut self, i: usize) -> NodeCost {
        let net = self.net;
        let n = &net.nodes[i];
        let l = self.live[i];
        let ff: u64 = self.carried[i].iter().map(|&c| c as u64).sum();
        let Some(top) = top_bit(l) else {
            return NodeCost {
                ff,
                ..Default::default()
            };
        };
        let t = self.stage[i];
        let mut c = match &n.op {
            Op::Input { .. } | Op::Const { .. } => NodeCost::default(),
            // A sum merged into its reader costs nothing here: the reader's tree holds it.
            Op::Add { .. } | Op::Neg { .. } if self.merge_into[i].is_some() => NodeCost::default(),
            // A ternary sum: one LUT6_2 per bit of its chain; the sum it absorbed, nothing.
            Op::Add { .. } if self.absorbed[i] => NodeCost::default(),
            Op::Add { .. } if self.fused[i].is_some() => {
                let (_, start, _) = ternary_start(self.fused[i].as_ref().unwrap());
                let cw = u64::from(n.width().saturating_sub(start));
                NodeCost {
                    lut: cw,
                    carry: cw.div_ceil(CARRY_BITS),
                    ff: 0,
                }
            }
            Op::Add { .. } | Op::Neg { .. } => self.sum(i, top),
            // `x > y`: the carry chain of `y − x` over the comparison width.
            Op::Cmp { x, y } => {
                let f = net.operand_frac(x).max(net.operand_frac(y));
                let wc = crate::target::ops::cmp_width(net, i).max(1);
                let (sx, sy) = (shift_of(net, f, x), shift_of(net, f, y));
                let cols: Vec<(B, B)> = (0..wc)
                    .map(|k| {
                        (
                            self.leaf(y.node.index(), operand_bit(net, y, sy, k), t, false),
                            self.leaf(x.node.index(), operand_bit(net, x, sx, k), t, false),
                        )
                    })
                    .collect();
                self.alu(&cols, true)
            }
            // ReLU: `sign ? 0 : a` per bit, one LUT where a carry chain reads the bit. A bit that
            // only goes into a register costs nothing (the sign drives the flip-flop's
            // synchronous reset) unless its source is itself LUT logic of this stage; a bit
            // that only feeds other per-bit logic folds into that logic's LUT.
            Op::Relu { a } => {
                let mut bits = self.hard_read[i] & l;
                if self.soft_here(*a, t) {
                    bits |= self.reg_read[i] & l;
                }
                NodeCost {
                    lut: bits.count_ones() as u64,
                    ..Default::default()
                }
            }
            // A 2:1 multiplexer per live bit whose two inputs differ.
            Op::Mux { a, b, .. } => {
                let (sa, sb) = (shift_of(net, n.frac, a), shift_of(net, n.frac, b));
                let mut lut = 0;
                let used = (self.hard_read[i] | self.reg_read[i]) & l;
                for k in 0..=top {
                    if used >> k & 1 == 1 {
                        let x = self.leaf(a.node.index(), operand_bit(net, a, sa, k), t, false);
                        let y = self.leaf(b.node.index(), operand_bit(net, b, sb, k), t, false);
                        lut += u64::from(x != y);
                    }
                }
                NodeCost {
                    lut,
                    ..Default::default()
                }
            }
            // A hard multiplier: no LUT, no carry (its DSP is counted in the report).
            Op::Mul { dsp: true, .. } => NodeCost::default(),
            Op::Mul { a, b, .. } => {
                let k = net.node(a.node).width().min(net.node(b.node).width()) as u64;
                NodeCost {
                    lut: crate::target::ops::extra_op_luts(net, i),
                    carry: (top as u64 + 1).div_ceil(CARRY_BITS) * k.saturating_sub(1),
                    ..Default::default()
                }
            }
            Op::Table { .. } => NodeCost {
                lut: crate::target::ops::extra_op_luts(net, i),
                ..Default::default()
            },
            Op::Cast { to, .. } => {
                let (cb, a, plan) = CastBits::new(net, i).expect("a cast");
                let mut c = NodeCost::default();
                let rl = if plan.saturates() {
                    mask(cb.wr)
                } else {
                    let mut r = l & mask(cb.wr);
                    if cb.rs && l & !mask(cb.wr) != 0 {
                        r |= 1u128 << (cb.wr - 1);
                    }
                    r
                };
                if plan.folds_increment(to.round, cb.ws) {
                    if let Some(rtop) = top_bit(rl) {
                        // `(x + K + c) >> d`: the chain runs through the d dropped bits too.
                        // Yosys 0.23 puts an INV in front of the chain per dropped bit where
                        // the constant K is one (half − 1: d − 1 bits; 2^d − 1: d), an XOR
                        // per dropped bit where K is the sign repeated (TRN_ZERO, UP), and an
                        // INV for a complemented carry-in or sign (RND_INF, UP); the carry-in
                        // itself enters the chain's CYINIT.
                        // A dropped bit that is a constant (a left shift's zeros) folds.
                        let src = a.node.index();
                        let var = (0..cb.d)
                            .filter(|&k| matches!(self.canon[src][k as usize], Sig::Var { .. }))
                            .count() as u64;
                        c.carry = (rtop as u64 + 1 + u64::from(cb.d)).div_ceil(CARRY_BITS);
                        c.lut += match to.round {
                            // K = half − 1: every dropped bit but the top one.
                            Round::RndZero | Round::RndMinInf | Round::RndConv => {
                                var - u64::from(matches!(
                                    self.canon[src][cb.d as usize - 1],
                                    Sig::Var { .. }
                                ))
                            }
                            // One more INV: the complemented carry-in (RND_INF) or sign (UP).
                            Round::RndInf | Round::Up => var + 1,
                            Round::Ceil | Round::TrnZero => var,
                            Round::Rnd | Round::Trn => 0,
                        };
                    }
                } else if plan.round_inc {
                    if let Some(rtop) = top_bit(rl) {
                        // floor + inc: the increment enters the chain at bit 0, every other
                        // bit passes the floor through (no LUT); one CARRY4 per 4 bits. The
                        // increment's logic and bit 0's XOR form one function of the bits it
                        // reads.
                        c.carry = (rtop as u64 + 1).div_ceil(CARRY_BITS);
                        let mut inputs = cb.inc_bits(to.round);
                        inputs.extend(cb.base_bit(0));
                        inputs.sort_unstable();
                        inputs.dedup();
                        c.lut += soft_luts(inputs.len() as u32);
                    }
                }
                if plan.saturates() {
                    // Overflow is decided by the top `k` bits of the rounded value. Each output
                    // bit a carry chain or a register reads is a LUT of its rounded bit and the
                    // overflow test (SAT_ZERO bits that only go into registers cost nothing per
                    // bit: the test drives the flip-flops' synchronous reset). The test folds
                    // into those LUTs up to 5 bits; beyond, see `overflow_test`.
                    let wn = n.width();
                    let k = cb.wr.saturating_sub(wn) + 1;
                    let per_bit = if to.overflow == Overflow::SatZero {
                        let mut b = self.hard_read[i];
                        if !plan.round_inc && self.soft_here(a.node, t) {
                            b |= self.reg_read[i];
                        }
                        b & l
                    } else {
                        (self.hard_read[i] | self.reg_read[i]) & l
                    }
                    .count_ones() as u64;
                    let from_ports =
                        !plan.round_inc && matches!(net.node(a.node).op, Op::Input { .. });
                    let (luts, carry) = overflow_test(k, per_bit > 0, from_ports);
                    c.lut += per_bit + luts;
                    c.carry += carry;
                }
                let _ = a;
                c
            }
        };
        c.ff = ff;
        c
    }

    /// Costs of every node.
    pub fn estimate(mut self) -> Estimate {
        let nodes = (0..self.net.nodes.len())
            .map(|i| self.node_cost(i))
            .collect();
        Estimate {
            nodes,
            live: self.live,
        }
    }
}

/// Estimates every node of a scheduled netlist.
pub fn estimate(net: &Netlist, sched: &Schedule, ternary: bool) -> Estimate {
    let mut est = Model::new(net, sched, ternary).estimate();
    // Duplicated pipeline registers (fan-out control): each extra copy is a full register,
    // kept apart by a `keep` attribute.
    for (&(i, _), &copies) in &sched.fanout_plan(net).copies {
        est.nodes[i].ff += (copies as u64 - 1) * net.nodes[i].width() as u64;
    }
    est
}
