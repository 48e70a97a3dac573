//! The bit-accurate netlist simulator.
//!
//! The netlist is compiled once into a tape of lane-wise instructions over reusable slots
//! (liveness-based allocation), then evaluated a block of samples at a time: each
//! instruction is a tight loop over the block that the compiler can vectorise. The lane
//! type is the narrowest of i32 / i64 / i128 that holds every wire, so the common case runs
//! on 32-bit lanes. Wrapping arithmetic is exact because every wire's range fits the lane.

use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::netlist::{Netlist, Op};
use ndarray::{Array2, ArrayView2};

/// Samples evaluated together.
const BLOCK: usize = 256;

#[derive(Clone, Debug)]
enum Instr {
    Input {
        dst: u32,
        index: u32,
    },
    Const {
        dst: u32,
        value: i128,
    },
    Add {
        dst: u32,
        a: u32,
        sa: u32,
        b: u32,
        sb: u32,
        sub: bool,
    },
    Neg {
        dst: u32,
        a: u32,
        sa: u32,
    },
    Relu {
        dst: u32,
        a: u32,
    },
    Shl {
        dst: u32,
        a: u32,
        s: u32,
    },
    /// Drop `s` bits with a rounding mode (floor first, then the increment).
    Round {
        dst: u32,
        a: u32,
        s: u32,
        mode: Round,
    },
    /// Overflow handling in place.
    Clip {
        slot: u32,
        ty: FixedType,
    },
    Output {
        src: u32,
        index: u32,
    },
    /// `dst = (x << sx) > (y << sy)`.
    Cmp {
        dst: u32,
        x: u32,
        sx: u32,
        y: u32,
        sy: u32,
    },
    /// `dst = c ≠ 0 ? a << sa : b << sb`.
    Mux {
        dst: u32,
        c: u32,
        a: u32,
        sa: u32,
        b: u32,
        sb: u32,
    },
    /// `dst = a · b`.
    Mul {
        dst: u32,
        a: u32,
        b: u32,
    },
    /// `dst = entries[a − base]`.
    Table {
        dst: u32,
        a: u32,
        base: i128,
        entries: Vec<i128>,
    },
}

/// A compiled simulator for one netlist.
#[derive(Clone, Debug)]
pub struct Simulator {
    instrs: Vec<Instr>,
    slots: usize,
    n_in: usize,
    n_out: usize,
    lane_bits: u32,
}

impl Simulator {
    pub fn new(net: &Netlist) -> Simulator {
        // Lane width: every node's range and every cast's rounded range, plus a guard bit.
        let mut need = 2;
        for (i, n) in net.nodes.iter().enumerate() {
            need = need.max(n.range.width() + 1);
            if let Op::Cast { a, to } = &n.op {
                need = need.max(net.cast_plan(a, to).rounded.width() + 1);
                need = need.max(net.node(a.node).range.width() + 2);
                need = need.max(to.width + 1);
            }
            if let Op::Cmp { .. } = &n.op {
                // The aligned operands may be wider than either node.
                need = need.max(crate::target::ops::cmp_width(net, i) + 1);
            }
        }
        let lane_bits = if need <= 32 {
            32
        } else if need <= 64 {
            64
        } else {
            128
        };

        // Last use of every node (outputs count as used at their definition, stored at once).
        let n = net.nodes.len();
        let mut last = vec![0usize; n];
        for (i, node) in net.nodes.iter().enumerate() {
            for a in Netlist::args(&node.op) {
                last[a.index()] = i;
            }
        }
        let mut outputs: Vec<Vec<u32>> = vec![vec![]; n];
        for (k, (e, _)) in net.output_elements().iter().enumerate() {
            outputs[e.index()].push(k as u32);
        }

        let mut free: Vec<u32> = Vec::new();
        let mut slots = 0u32;
        let mut slot_of = vec![u32::MAX; n];
        let mut zero = None;
        let mut instrs = Vec::new();
        let mut alloc = |free: &mut Vec<u32>| {
            free.pop().unwrap_or_else(|| {
                slots += 1;
                slots - 1
            })
        };
        for (i, node) in net.nodes.iter().enumerate() {
            let dst = alloc(&mut free);
            slot_of[i] = dst;
            let s = |id: crate::ir::netlist::NodeId| slot_of[id.index()];
            match &node.op {
                Op::Input { index } => instrs.push(Instr::Input {
                    dst,
                    index: *index as u32,
                }),
                Op::Const { value } => instrs.push(Instr::Const { dst, value: *value }),
                Op::Add { a, b, sub } => {
                    let sa = (node.frac - net.operand_frac(a)) as u32;
                    let sb = (node.frac - net.operand_frac(b)) as u32;
                    // A shift by the lane width or more is zero modulo 2^lane_bits.
                    let mut operand = |o: u32, sh: u32| {
                        if sh >= lane_bits {
                            let z = *zero.get_or_insert_with(|| {
                                let z = alloc(&mut free);
                                instrs.push(Instr::Const { dst: z, value: 0 });
                                z
                            });
                            (z, 0)
                        } else {
                            (o, sh)
                        }
                    };
                    let (a, sa) = operand(s(a.node), sa);
                    let (b, sb) = operand(s(b.node), sb);
                    instrs.push(Instr::Add {
                        dst,
                        a,
                        sa,
                        b,
                        sb,
                        sub: *sub,
                    });
                }
                Op::Neg { a } => {
                    let sa = (node.frac - net.operand_frac(a)) as u32;
                    instrs.push(Instr::Neg {
                        dst,
                        a: s(a.node),
                        sa,
                    });
                }
                Op::Relu { a } => instrs.push(Instr::Relu { dst, a: s(*a) }),
                Op::Cmp { x, y } => {
                    let f = net.operand_frac(x).max(net.operand_frac(y));
                    instrs.push(Instr::Cmp {
                        dst,
                        x: s(x.node),
                        sx: (f - net.operand_frac(x)) as u32,
                        y: s(y.node),
                        sy: (f - net.operand_frac(y)) as u32,
                    });
                }
                Op::Mux { c, a, b } => {
                    let sa = (node.frac - net.operand_frac(a)) as u32;
                    let sb = (node.frac - net.operand_frac(b)) as u32;
                    // Aligned operands fit the node's range, so their shifts are below the lane
                    // width unless the operand is zero.
                    let sh = |o: &crate::ir::netlist::Operand, sh: u32| {
                        if sh >= lane_bits {
                            debug_assert_eq!(
                                net.node(o.node).range,
                                crate::ir::interval::Interval::point(0)
                            );
                            0
                        } else {
                            sh
                        }
                    };
                    instrs.push(Instr::Mux {
                        dst,
                        c: s(*c),
                        a: s(a.node),
                        sa: sh(a, sa),
                        b: s(b.node),
                        sb: sh(b, sb),
                    });
                }
                Op::Mul { a, b, .. } => instrs.push(Instr::Mul {
                    dst,
                    a: s(a.node),
                    b: s(b.node),
                }),
                Op::Table { a, base, entries } => instrs.push(Instr::Table {
                    dst,
                    a: s(*a),
                    base: *base,
                    entries: entries.clone(),
                }),
                Op::Cast { a, to } => {
                    let plan = net.cast_plan(a, to);
                    let src = s(a.node);
                    if plan.shift >= 0 {
                        instrs.push(Instr::Shl {
                            dst,
                            a: src,
                            s: plan.shift as u32,
                        });
                    } else {
                        // Dropping more bits than the source is wide decides nothing more.
                        let w = net.node(a.node).range.width() + 1;
                        let sh = (-plan.shift as u32).min(w);
                        instrs.push(Instr::Round {
                            dst,
                            a: src,
                            s: sh,
                            mode: to.round,
                        });
                    }
                    if plan.overflows {
                        instrs.push(Instr::Clip { slot: dst, ty: *to });
                    }
                }
            }
            for &k in &outputs[i] {
                instrs.push(Instr::Output { src: dst, index: k });
            }
            // Free the operands whose last use is here (and unused nodes at once).
            for a in Netlist::args(&node.op) {
                if last[a.index()] == i && !free.contains(&slot_of[a.index()]) {
                    free.push(slot_of[a.index()]);
                }
            }
            if last[i] == 0 {
                free.push(dst);
            }
        }
        Simulator {
            instrs,
            slots: slots as usize,
            n_in: net.inputs.iter().map(|p| p.elements.len()).sum(),
            n_out: net.output_elements().len(),
            lane_bits,
        }
    }

    /// Lane width chosen for this netlist (32, 64 or 128 bits).
    pub fn lane_bits(&self) -> u32 {
        self.lane_bits
    }

    /// Evaluates a batch: `[samples, inputs]` mantissas → `[samples, outputs]` mantissas.
    /// Inputs must already be mantissas of the input types (see [`super::io`]).
    pub fn run(&self, inputs: ArrayView2<i64>) -> Array2<i64> {
        assert_eq!(inputs.ncols(), self.n_in, "number of input elements");
        let n = inputs.nrows();
        let mut out = Array2::<i64>::zeros((n, self.n_out));
        match self.lane_bits {
            32 => self.run_lanes::<i32>(inputs, &mut out),
            64 => self.run_lanes::<i64>(inputs, &mut out),
            _ => self.run_lanes::<i128>(inputs, &mut out),
        }
        out
    }

    fn run_lanes<T: Lane>(&self, inputs: ArrayView2<i64>, out: &mut Array2<i64>) {
        let mut mem = vec![T::ZERO; self.slots.max(1) * BLOCK];
        let n = inputs.nrows();
        let mut start = 0;
        while start < n {
            let len = BLOCK.min(n - start);
            for ins in &self.instrs {
                exec(
                    ins,
                    &mut mem,
                    len,
                    |index, k| T::from_i64(inputs[[start + k, index]]),
                    |index, k, v: T| out[[start + k, index]] = v.to_i64(),
                );
            }
            start += len;
        }
    }
}

#[inline(always)]
fn exec<T: Lane>(
    ins: &Instr,
    mem: &mut [T],
    len: usize,
    input: impl Fn(usize, usize) -> T,
    mut output: impl FnMut(usize, usize, T),
) {
    let slot = |s: u32| s as usize * BLOCK;
    match *ins {
        Instr::Input { dst, index } => {
            let d = &mut mem[slot(dst)..slot(dst) + len];
            for (k, v) in d.iter_mut().enumerate() {
                *v = input(index as usize, k);
            }
        }
        Instr::Const { dst, value } => mem[slot(dst)..slot(dst) + len].fill(T::from_i128(value)),
        Instr::Output { src, index } => {
            for (k, v) in mem[slot(src)..slot(src) + len].iter().enumerate() {
                output(index as usize, k, *v);
            }
        }
        Instr::Add {
            dst,
            a,
            sa,
            b,
            sb,
            sub,
        } => {
            let (d, a, b) = three(mem, dst, a, b);
            let (a, b) = (&a[..len], &b[..len]);
            if sub {
                for k in 0..len {
                    d[k] = a[k].shl(sa).sub(b[k].shl(sb));
                }
            } else {
                for k in 0..len {
                    d[k] = a[k].shl(sa).add(b[k].shl(sb));
                }
            }
        }
        Instr::Neg { dst, a, sa } => {
            let (d, a, _) = three(mem, dst, a, a);
            for k in 0..len {
                d[k] = T::ZERO.sub(a[k].shl(sa));
            }
        }
        Instr::Relu { dst, a } => {
            let (d, a, _) = three(mem, dst, a, a);
            for k in 0..len {
                d[k] = if a[k] > T::ZERO { a[k] } else { T::ZERO };
            }
        }
        Instr::Cmp { dst, x, sx, y, sy } => {
            let (d, x, y) = three(mem, dst, x, y);
            for k in 0..len {
                d[k] = T::from_bool(x[k].shl(sx) > y[k].shl(sy));
            }
        }
        Instr::Mux {
            dst,
            c,
            a,
            sa,
            b,
            sb,
        } => {
            let (d, c, a, b) = four(mem, dst, c, a, b);
            for k in 0..len {
                d[k] = if c[k] != T::ZERO {
                    a[k].shl(sa)
                } else {
                    b[k].shl(sb)
                };
            }
        }
        Instr::Mul { dst, a, b } => {
            let (d, a, b) = three(mem, dst, a, b);
            for k in 0..len {
                d[k] = a[k].mul(b[k]);
            }
        }
        Instr::Table {
            dst,
            a,
            base,
            ref entries,
        } => {
            let (d, a, _) = three(mem, dst, a, a);
            for k in 0..len {
                d[k] = T::from_i128(entries[(a[k].to_i128() - base) as usize]);
            }
        }
        Instr::Shl { dst, a, s } => {
            let (d, a, _) = three(mem, dst, a, a);
            for k in 0..len {
                d[k] = a[k].shl(s);
            }
        }
        Instr::Round { dst, a, s, mode } => {
            let (d, a, _) = three(mem, dst, a, a);
            let (d, a) = (&mut d[..len], &a[..len]);
            let mask = T::ONE.shl(s).sub(T::ONE);
            let half = T::ONE.shl(s - 1);
            macro_rules! round {
                (|$v:ident, $fl:ident, $rem:ident| $inc:expr) => {
                    for k in 0..len {
                        let $v = a[k];
                        let $fl = $v.shr(s);
                        let $rem = $v.and(mask);
                        d[k] = $fl.add(T::from_bool($inc));
                    }
                };
            }
            match mode {
                Round::Trn => round!(|v, fl, rem| {
                    let _ = (v, rem);
                    false
                }),
                Round::TrnZero => round!(|v, fl, rem| {
                    let _ = fl;
                    v < T::ZERO && rem != T::ZERO
                }),
                Round::Rnd => round!(|v, fl, rem| {
                    let _ = (v, fl);
                    rem >= half
                }),
                Round::RndZero => round!(|v, fl, rem| {
                    let _ = fl;
                    rem > half || (rem == half && v < T::ZERO)
                }),
                Round::RndMinInf => round!(|v, fl, rem| {
                    let _ = (v, fl);
                    rem > half
                }),
                Round::RndInf => round!(|v, fl, rem| {
                    let _ = fl;
                    rem > half || (rem == half && v >= T::ZERO)
                }),
                Round::RndConv => round!(|v, fl, rem| {
                    let _ = v;
                    rem > half || (rem == half && fl.and(T::ONE) != T::ZERO)
                }),
                Round::Ceil => round!(|v, fl, rem| {
                    let _ = (v, fl);
                    rem != T::ZERO
                }),
                Round::Up => round!(|v, fl, rem| {
                    let _ = fl;
                    v >= T::ZERO && rem != T::ZERO
                }),
            }
        }
        Instr::Clip { slot: s, ty } => {
            let d = &mut mem[slot(s)..slot(s) + len];
            let (min, max) = (
                T::from_i128(ty.min_mantissa()),
                T::from_i128(ty.max_mantissa()),
            );
            match ty.overflow {
                Overflow::Wrap => {
                    let w = ty.width;
                    if ty.signed {
                        for v in d.iter_mut() {
                            *v = v.shl(T::BITS - w).shr(T::BITS - w);
                        }
                    } else {
                        let m = T::ONE.shl(w).sub(T::ONE);
                        for v in d.iter_mut() {
                            *v = v.and(m);
                        }
                    }
                }
                Overflow::Sat | Overflow::SatNarrow | Overflow::SatSym => {
                    // SAT_SYM: [−max, max] when signed (ap_fixed, see `FixedType::cast_min`).
                    let min = T::from_i128(ty.cast_min());
                    for v in d.iter_mut() {
                        *v = if *v > max {
                            max
                        } else if *v < min {
                            min
                        } else {
                            *v
                        };
                    }
                }
                Overflow::SatZero => {
                    for v in d.iter_mut() {
                        *v = if *v > max || *v < min { T::ZERO } else { *v };
                    }
                }
            }
        }
    }
}

/// Disjoint views of a destination slot and two source slots.
fn three<T>(mem: &mut [T], dst: u32, a: u32, b: u32) -> (&mut [T], &[T], &[T]) {
    let (d, a, b) = (dst as usize, a as usize, b as usize);
    assert!(d != a && d != b, "destination slot aliases a source");
    let ptr = mem.as_mut_ptr();
    assert!((d.max(a).max(b) + 1) * BLOCK <= mem.len());
    // SAFETY: the three ranges lie inside `mem` (checked above) and `d` differs from both
    // sources, so the mutable range does not overlap the shared ones.
    unsafe {
        (
            std::slice::from_raw_parts_mut(ptr.add(d * BLOCK), BLOCK),
            std::slice::from_raw_parts(ptr.add(a * BLOCK), BLOCK),
            std::slice::from_raw_parts(ptr.add(b * BLOCK), BLOCK),
        )
    }
}

/// Disjoint views of a destination slot and three source slots.
fn four<T>(mem: &mut [T], dst: u32, a: u32, b: u32, c: u32) -> (&mut [T], &[T], &[T], &[T]) {
    let (d, a, b, c) = (dst as usize, a as usize, b as usize, c as usize);
    assert!(
        d != a && d != b && d != c,
        "destination slot aliases a source"
    );
    let ptr = mem.as_mut_ptr();
    assert!((d.max(a).max(b).max(c) + 1) * BLOCK <= mem.len());
    // SAFETY: as in `three`: every range lies inside `mem` and the mutable one differs from the
    // shared ones (which may coincide with each other).
    unsafe {
        (
            std::slice::from_raw_parts_mut(ptr.add(d * BLOCK), BLOCK),
            std::slice::from_raw_parts(ptr.add(a * BLOCK), BLOCK),
            std::slice::from_raw_parts(ptr.add(b * BLOCK), BLOCK),
            std::slice::from_raw_parts(ptr.add(c * BLOCK), BLOCK),
        )
    }
}

/// Integer lanes with wrapping arithmetic.
pub trait Lane: Copy + PartialOrd + PartialEq + Default + std::fmt::Debug {
    const ZERO: Self;
    const ONE: Self;
    const BITS: u32;
    fn from_i64(v: i64) -> Self;
    fn from_i128(v: i128) -> Self;
    fn from_bool(b: bool) -> Self;
    fn to_i64(self) -> i64;
    fn to_i128(self) -> i128;
    fn mul(self, o: Self) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn shl(self, s: u32) -> Self;
    fn shr(self, s: u32) -> Self;
    fn and(self, o: Self) -> Self;
}

macro_rules! lane {
    ($t:ty) => {
        impl Lane for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_bool(b: bool) -> Self {
                b as $t
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn to_i128(self) -> i128 {
                self as i128
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn shl(self, s: u32) -> Self {
                self.wrapping_shl(s)
            }
            #[inline(always)]
            fn shr(self, s: u32) -> Self {
                self.wrapping_shr(s)
            }
            #[inline(always)]
            fn and(self, o: Self) -> Self {
                self & o
            }
        }
    };
}
lane!(i32);
lane!(i64);
lane!(i128);
