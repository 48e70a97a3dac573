//! The bit-accurate netlist simulator.
//!
//! The netlist is compiled once into a tape of lane-wise instructions over reusable slots
//! (liveness-based allocation), then evaluated a block of samples at a time: each
//! instruction is a tight loop over the block that the compiler can vectorise. The lane
//! type is the narrowest of i32 / i64 / i128 that holds every wire, so the common case runs
//! on 32-bit lanes. Wrapping arithmetic is exact because every wire's range fits the lane.
//!
//! Throughput (issue #19): every loop runs the whole block over `[T; BLOCK]` arrays (no bounds
//! checks; the spare lanes of the last block repeat its last sample), adds are specialised by
//! their shifts, tables are held in the lane type, and on x86-64 the run loop is compiled a
//! second time for AVX2 and chosen at run time. Adder-tree fusion (one instruction per tree,
//! accumulating in registers) was tried and measured slower (0.65 s vs 0.40 s user on the
//! jet tagger; the cause was not pinned down).

use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::netlist::{Netlist, Op};
use ndarray::{Array2, ArrayView2};

/// Samples evaluated together.
const BLOCK: usize = 128;

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
        /// Index into [`Simulator::tables`].
        table: u32,
    },
}

/// A compiled simulator for one netlist.
#[derive(Clone, Debug)]
pub struct Simulator {
    instrs: Vec<Instr>,
    /// The entries of every table.
    tables: Vec<Vec<i128>>,
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
        let mut tables = Vec::new();
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
                Op::Table { a, base, entries } => {
                    tables.push(entries.clone());
                    instrs.push(Instr::Table {
                        dst,
                        a: s(*a),
                        base: *base,
                        table: tables.len() as u32 - 1,
                    })
                }
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
            tables,
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
        let inputs = inputs.as_standard_layout();
        self.run_rows(
            n,
            inputs.as_slice().expect("standard layout"),
            out.as_slice_mut().expect("standard layout"),
        );
        out
    }

    /// Number of input elements of one sample.
    pub fn n_inputs(&self) -> usize {
        self.n_in
    }

    /// Number of output elements of one sample.
    pub fn n_outputs(&self) -> usize {
        self.n_out
    }

    /// [`Simulator::run`] on row-major slices: `inputs` holds `rows` samples of
    /// [`Self::n_inputs`] mantissas one after the other, `out` receives [`Self::n_outputs`]
    /// per sample.
    pub fn run_rows(&self, rows: usize, inputs: &[i64], out: &mut [i64]) {
        assert_eq!(inputs.len(), rows * self.n_in, "input size");
        assert_eq!(out.len(), rows * self.n_out, "output size");
        if rows == 0 {
            return;
        }
        match self.lane_bits {
            32 => self.dispatch::<i32>(inputs, out, rows),
            64 => self.dispatch::<i64>(inputs, out, rows),
            _ => self.dispatch::<i128>(inputs, out, rows),
        }
    }

    fn dispatch<T: Lane>(&self, inputs: &[i64], out: &mut [i64], rows: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { self.run_avx2::<T>(inputs, out, rows) };
            return;
        }
        self.run_lanes::<T>(inputs, out, rows);
    }

    /// [`Self::run_lanes`] compiled for AVX2 (twice the lanes of the x86-64 baseline).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2<T: Lane>(&self, inputs: &[i64], out: &mut [i64], rows: usize) {
        self.run_lanes::<T>(inputs, out, rows);
    }

    #[inline(always)]
    fn run_lanes<T: Lane>(&self, inputs: &[i64], out: &mut [i64], rows: usize) {
        let mut mem = vec![T::ZERO; self.slots.max(1) * BLOCK];
        let tables: Vec<Vec<T>> = self
            .tables
            .iter()
            .map(|t| t.iter().map(|&v| T::from_i128(v)).collect())
            .collect();
        let mut start = 0;
        while start < rows {
            let len = BLOCK.min(rows - start);
            let io = BlockIo {
                inputs,
                out: &mut *out,
                n_in: self.n_in,
                n_out: self.n_out,
                start,
                len,
            };
            exec_block(&self.instrs, &mut mem, &tables, io);
            start += len;
        }
    }
}

/// Where one block's samples come from and go to.
struct BlockIo<'a> {
    inputs: &'a [i64],
    out: &'a mut [i64],
    n_in: usize,
    n_out: usize,
    start: usize,
    len: usize,
}

/// Runs the tape on one block. Lanes past `len` (the end of the batch) repeat the last
/// sample, so that every lane holds a valid sample (table indices stay in range) and every
/// loop runs the whole block.
#[inline(always)]
fn exec_block<T: Lane>(instrs: &[Instr], mem: &mut [T], tables: &[Vec<T>], io: BlockIo) {
    let BlockIo {
        inputs,
        out,
        n_in,
        n_out,
        start,
        len,
    } = io;
    for ins in instrs {
        match *ins {
            Instr::Input { dst, index } => {
                let d = one(mem, dst);
                let index = index as usize;
                for (k, v) in d.iter_mut().enumerate() {
                    *v = T::from_i64(inputs[(start + k.min(len - 1)) * n_in + index]);
                }
            }
            Instr::Const { dst, value } => one(mem, dst).fill(T::from_i128(value)),
            Instr::Output { src, index } => {
                let d = one(mem, src);
                let index = index as usize;
                for (k, v) in d[..len].iter().enumerate() {
                    out[(start + k) * n_out + index] = v.to_i64();
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
                match (sub, sa, sb) {
                    (false, 0, 0) => lanes2(d, a, b, |x, y| x.add(y)),
                    (false, 0, _) => lanes2(d, a, b, |x, y| x.add(y.shl(sb))),
                    (false, _, 0) => lanes2(d, a, b, |x, y| x.shl(sa).add(y)),
                    (false, _, _) => lanes2(d, a, b, |x, y| x.shl(sa).add(y.shl(sb))),
                    (true, 0, 0) => lanes2(d, a, b, |x, y| x.sub(y)),
                    (true, 0, _) => lanes2(d, a, b, |x, y| x.sub(y.shl(sb))),
                    (true, _, 0) => lanes2(d, a, b, |x, y| x.shl(sa).sub(y)),
                    (true, _, _) => lanes2(d, a, b, |x, y| x.shl(sa).sub(y.shl(sb))),
                }
            }
            Instr::Neg { dst, a, sa } => {
                let (d, a, _) = three(mem, dst, a, a);
                lanes1(d, a, |x| T::ZERO.sub(x.shl(sa)));
            }
            Instr::Relu { dst, a } => {
                let (d, a, _) = three(mem, dst, a, a);
                lanes1(d, a, |x| if x > T::ZERO { x } else { T::ZERO });
            }
            Instr::Cmp { dst, x, sx, y, sy } => {
                let (d, x, y) = three(mem, dst, x, y);
                lanes2(d, x, y, |x, y| T::from_bool(x.shl(sx) > y.shl(sy)));
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
                for k in 0..BLOCK {
                    d[k] = if c[k] != T::ZERO {
                        a[k].shl(sa)
                    } else {
                        b[k].shl(sb)
                    };
                }
            }
            Instr::Mul { dst, a, b } => {
                let (d, a, b) = three(mem, dst, a, b);
                lanes2(d, a, b, |x, y| x.mul(y));
            }
            Instr::Table {
                dst,
                a,
                base,
                table,
            } => {
                let (d, a, _) = three(mem, dst, a, a);
                let entries = &tables[table as usize][..];
                let base = T::from_i128(base);
                // Every lane holds a sample, whose operand lies in the table's domain.
                lanes1(d, a, |x| entries[x.sub(base).to_i64() as usize]);
            }
            Instr::Shl { dst, a, s } => {
                let (d, a, _) = three(mem, dst, a, a);
                lanes1(d, a, |x| x.shl(s));
            }
            Instr::Round { dst, a, s, mode } => {
                let (d, a, _) = three(mem, dst, a, a);
                let mask = T::ONE.shl(s).sub(T::ONE);
                let half = T::ONE.shl(s - 1);
                macro_rules! round {
                    (|$v:ident, $fl:ident, $rem:ident| $inc:expr) => {{
                        #[allow(unused_variables)]
                        let f = |$v: T| {
                            let $fl = $v.shr(s);
                            let $rem = $v.and(mask);
                            $fl.add(T::from_bool($inc))
                        };
                        lanes1(d, a, f)
                    }};
                }
                match mode {
                    Round::Trn => lanes1(d, a, |v| v.shr(s)),
                    Round::TrnZero => round!(|v, fl, rem| v < T::ZERO && rem != T::ZERO),
                    Round::Rnd => round!(|v, fl, rem| rem >= half),
                    Round::RndZero => {
                        round!(|v, fl, rem| rem > half || (rem == half && v < T::ZERO))
                    }
                    Round::RndMinInf => round!(|v, fl, rem| rem > half),
                    Round::RndInf => {
                        round!(|v, fl, rem| rem > half || (rem == half && v >= T::ZERO))
                    }
                    Round::RndConv => {
                        round!(|v, fl, rem| rem > half || (rem == half && fl.and(T::ONE) != T::ZERO))
                    }
                    Round::Ceil => round!(|v, fl, rem| rem != T::ZERO),
                    Round::Up => round!(|v, fl, rem| v >= T::ZERO && rem != T::ZERO),
                }
            }
            Instr::Clip { slot: s, ty } => {
                let d = one(mem, s);
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
}

/// `d[k] = f(a[k])` over the block.
#[inline(always)]
fn lanes1<T: Lane>(d: &mut [T; BLOCK], a: &[T; BLOCK], f: impl Fn(T) -> T) {
    for k in 0..BLOCK {
        d[k] = f(a[k]);
    }
}

/// `d[k] = f(a[k], b[k])` over the block.
#[inline(always)]
fn lanes2<T: Lane>(d: &mut [T; BLOCK], a: &[T; BLOCK], b: &[T; BLOCK], f: impl Fn(T, T) -> T) {
    for k in 0..BLOCK {
        d[k] = f(a[k], b[k]);
    }
}

/// One slot of the block memory.
#[inline(always)]
fn one<T>(mem: &mut [T], s: u32) -> &mut [T; BLOCK] {
    let s = s as usize * BLOCK;
    (&mut mem[s..s + BLOCK]).try_into().expect("one block")
}

/// Disjoint views of a destination slot and two source slots.
#[inline(always)]
fn three<T>(
    mem: &mut [T],
    dst: u32,
    a: u32,
    b: u32,
) -> (&mut [T; BLOCK], &[T; BLOCK], &[T; BLOCK]) {
    let (d, a, b) = (dst as usize, a as usize, b as usize);
    assert!(d != a && d != b, "destination slot aliases a source");
    let ptr = mem.as_mut_ptr();
    assert!((d.max(a).max(b) + 1) * BLOCK <= mem.len());
    // SAFETY: the three blocks lie inside `mem` (checked above) and `d` differs from both
    // sources, so the mutable block does not overlap the shared ones.
    unsafe {
        (
            &mut *(ptr.add(d * BLOCK) as *mut [T; BLOCK]),
            &*(ptr.add(a * BLOCK) as *const [T; BLOCK]),
            &*(ptr.add(b * BLOCK) as *const [T; BLOCK]),
        )
    }
}

/// Disjoint views of a destination slot and three source slots.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn four<T>(
    mem: &mut [T],
    dst: u32,
    a: u32,
    b: u32,
    c: u32,
) -> (&mut [T; BLOCK], &[T; BLOCK], &[T; BLOCK], &[T; BLOCK]) {
    let (d, a, b, c) = (dst as usize, a as usize, b as usize, c as usize);
    assert!(
        d != a && d != b && d != c,
        "destination slot aliases a source"
    );
    let ptr = mem.as_mut_ptr();
    assert!((d.max(a).max(b).max(c) + 1) * BLOCK <= mem.len());
    // SAFETY: as in `three`: every block lies inside `mem` and the mutable one differs from
    // the shared ones (which may coincide with each other).
    unsafe {
        (
            &mut *(ptr.add(d * BLOCK) as *mut [T; BLOCK]),
            &*(ptr.add(a * BLOCK) as *const [T; BLOCK]),
            &*(ptr.add(b * BLOCK) as *const [T; BLOCK]),
            &*(ptr.add(c * BLOCK) as *const [T; BLOCK]),
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
