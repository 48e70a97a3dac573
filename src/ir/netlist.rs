//! The netlist IR: scalar fixed-point operations in an arena, shared by the simulator, the
//! Verilog writer and the reports.
//!
//! Invariants (checked by [`Netlist::validate`]):
//! - every node occurs after every node it reads (topological order);
//! - a node's `range` is the exact interval of mantissas it can carry, at `frac` fractional
//!   bits; its hardware width is [`Interval::width`] of that range;
//! - an operand `(node, shift)` stands for `value(node) · 2^shift`; shifts are free wiring.

use super::fixed::{FixedType, Overflow, MAX_WIRE_WIDTH};

use super::interval::Interval;
use rustc_hash::FxHashMap as HashMap;

pub use crate::error::BuildError;

/// Result of the netlist builder.
pub type BuildResult<T> = std::result::Result<T, BuildError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// The node itself as an operand (no shift).
    pub fn op(self) -> Operand {
        Operand {
            node: self,
            shift: 0,
        }
    }
}

/// A node's value scaled by a power of two: `value(node) · 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    pub node: NodeId,
    pub shift: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Element `index` of the flat input bus.
    Input { index: usize },
    /// A constant mantissa (at the node's frac).
    Const { value: i128 },
    /// `a + b` or `a − b`, both aligned to the node's frac (left shifts only).
    Add { a: Operand, b: Operand, sub: bool },
    /// `−a`.
    Neg { a: Operand },
    /// `max(a, 0)`.
    Relu { a: NodeId },
    /// Cast to a fixed-point type: rounding, then overflow handling.
    Cast { a: Operand, to: FixedType },
    /// `x > y ? 1 : 0`: exact comparison of two values aligned to the finer of their grids.
    /// The node is a 1-bit flag at frac 0.
    Cmp { x: Operand, y: Operand },
    /// `c ≠ 0 ? a : b`, both aligned to the node's frac (left shifts only).
    Mux { c: NodeId, a: Operand, b: Operand },
    /// `a · b`, exact (a product of two variables). The mantissa is the product of the
    /// mantissas; the node's frac is the sum of the operands' fracs. With `dsp`, one hard
    /// multiplier (DSP48E2 / MULT18X18D) computes it; else LUTs (see `--dsp`).
    Mul { a: Operand, b: Operand, dsp: bool },
    /// Lookup table: `entries[m − base]`, where `m` is the mantissa of `a`; `entries` covers
    /// exactly the range of `a`, and holds mantissas at the node's frac.
    Table {
        a: NodeId,
        base: i128,
        entries: Vec<i128>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// Fractional bits: the value is `mantissa · 2^-frac`.
    pub frac: i32,
    /// Exact interval of the mantissa.
    pub range: Interval,
    /// Index into [`Netlist::layers`]: which layer this node implements.
    pub layer: u32,
    /// Bits built in hardware: the range's width, or fewer when every reader needs only the
    /// low bits (modulo arithmetic; see `passes::trim`). The wire then holds the value modulo
    /// `2^bits`, and no reader extends it.
    pub bits: u32,
}

impl Node {
    /// Hardware width of the wire.
    pub fn width(&self) -> u32 {
        self.bits
    }
    /// Is the wire narrower than the value range (holding the value modulo 2^bits)?
    pub fn trimmed(&self) -> bool {
        self.bits < self.range.width()
    }
    pub fn signed(&self) -> bool {
        self.range.signed()
    }
}

/// The hardware a cast needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CastPlan {
    /// `to.frac − from.frac`: left shift when ≥ 0, bits dropped (rounded) when < 0.
    pub shift: i32,
    /// A rounding increment is needed (bits are dropped and the mode is not TRN).
    pub round_inc: bool,
    /// Exact range of the rounded mantissa, before overflow handling.
    pub rounded: Interval,
    /// The rounded value can leave the type's range.
    pub overflows: bool,
    pub overflow: Overflow,
}

impl CastPlan {
    /// Needs comparison-and-select logic (a saturating mode that can overflow).
    pub fn saturates(&self) -> bool {
        self.overflows && self.overflow != Overflow::Wrap
    }

    /// The rounding increment folds into the rounding adder: `(x + K + c) >> d`, one carry
    /// chain `d` bits longer than the kept bits (`backends::verilog::cast_lines`), for every
    /// mode but RND (whose increment is the first dropped bit) and TRN, when the source keeps
    /// some of its `src_width` bits.
    pub fn folds_increment(&self, round: super::fixed::Round, src_width: u32) -> bool {
        self.round_inc && round != super::fixed::Round::Rnd && self.shift.unsigned_abs() < src_width
    }
}

/// The overflow tests of a saturating cast into `to` from a rounded wire of `wr` bits (signed
/// when `rs`) whose bounds are the type's own range, `[-2^(w-1), 2^(w-1) - 1]` or `[0, 2^w - 1]`:
/// decided by the wire's top bits alone, as reductions (a LUT tree, where a comparison against
/// the bound is a carry chain). Shared by the Verilog writer (`backends::verilog`) and the delay model (`target`).
pub struct SaturationTest {
    /// Above the maximum ⇔ (the sign is clear, when signed, and) any of bits `top..=p` is set.
    pub above: Option<(u32, u32)>,
    /// Below the minimum: `Some(None)` ⇔ the sign is set (an unsigned type);
    /// `Some(Some((top, p)))` ⇔ the sign is set and not all of bits `top..=p` are.
    pub below: Option<Option<(u32, u32)>>,
    /// A signed SAT_SYM, whose minimum is `-(2^(w-1) - 1)`: below it also when bits `top..=p`
    /// are all set and bits `p-1..=0` all clear (the most negative code).
    pub sym: bool,
}

impl SaturationTest {
    pub fn new(to: &FixedType, wr: u32, rs: bool) -> SaturationTest {
        let wn = to.width;
        // The first bit position at or above which a value exceeds the maximum.
        let p = if to.signed { wn - 1 } else { wn };
        let top = if rs { wr.saturating_sub(2) } else { wr - 1 };
        let natural_max = to.max_mantissa() == (1i128 << p) - 1;
        let lowest = if to.signed { -(1i128 << (wn - 1)) } else { 0 };
        let sym = to.signed && wn >= 2 && to.cast_min() == lowest + 1;
        let natural_min = to.cast_min() == lowest || sym;
        let span = (wr >= 2 || !rs) && top >= p;
        SaturationTest {
            above: (natural_max && span).then_some((top, p)),
            below: match (natural_min, rs, to.signed) {
                (true, true, false) => Some(None),
                (true, true, true) if span => Some(Some((top, p))),
                _ => None,
            },
            sym,
        }
    }
}

/// A port of the top module: a named tensor whose elements are nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub shape: Vec<usize>,
    pub ty: FixedType,
    pub elements: Vec<NodeId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Netlist {
    pub name: String,
    pub nodes: Vec<Node>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Layer names, for reports (index 0 is the inputs).
    pub layers: Vec<String>,
}

impl Netlist {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Frac of an operand: `frac(node) − shift`.
    pub fn operand_frac(&self, o: &Operand) -> i32 {
        self.node(o.node).frac - o.shift
    }

    /// What a cast has to do in hardware, from the exact range of its input.
    pub fn cast_plan(&self, a: &Operand, to: &FixedType) -> CastPlan {
        let src = self.node(a.node);
        let from = self.operand_frac(a);
        let shift = to.frac() - from;
        let lo = super::fixed::round_shift(src.range.lo, from, to.frac(), to.round);
        let hi = super::fixed::round_shift(src.range.hi, from, to.frac(), to.round);
        CastPlan {
            shift,
            round_inc: shift < 0 && to.round != super::fixed::Round::Trn,
            rounded: Interval::new(lo, hi),
            overflows: lo < to.cast_min() || hi > to.max_mantissa(),
            overflow: to.overflow,
        }
    }

    /// The nodes an op reads, in order.
    pub fn args(op: &Op) -> impl Iterator<Item = NodeId> {
        let v: [Option<NodeId>; 3] = match op {
            Op::Input { .. } | Op::Const { .. } => [None, None, None],
            Op::Add { a, b, .. } | Op::Mul { a, b, .. } => [Some(a.node), Some(b.node), None],
            Op::Cmp { x, y } => [Some(x.node), Some(y.node), None],
            Op::Mux { c, a, b } => [Some(*c), Some(a.node), Some(b.node)],
            Op::Neg { a } | Op::Cast { a, .. } => [Some(a.node), None, None],
            Op::Relu { a } | Op::Table { a, .. } => [Some(*a), None, None],
        };
        v.into_iter().flatten()
    }

    pub fn input_width(&self) -> u32 {
        self.inputs
            .iter()
            .map(|p| p.ty.width * p.elements.len() as u32)
            .sum()
    }
    pub fn output_width(&self) -> u32 {
        self.outputs
            .iter()
            .map(|p| p.ty.width * p.elements.len() as u32)
            .sum()
    }
    /// Flat output elements with their types, in bus order.
    pub fn output_elements(&self) -> Vec<(NodeId, FixedType)> {
        self.outputs
            .iter()
            .flat_map(|p| p.elements.iter().map(move |&e| (e, p.ty)))
            .collect()
    }
    pub fn input_types(&self) -> Vec<FixedType> {
        self.inputs
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.ty, p.elements.len()))
            .collect()
    }
    /// The type of every output element, in output order (as [`Netlist::output_elements`]).
    pub fn output_types(&self) -> Vec<FixedType> {
        self.output_elements().into_iter().map(|(_, t)| t).collect()
    }

    /// Checks the invariants; returns the first violation.
    pub fn validate(&self) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            for a in Self::args(&n.op) {
                if a.index() >= i {
                    return Err(format!(
                        "node {i} reads node {} which is not before it",
                        a.0
                    ));
                }
            }
            if n.range.lo > n.range.hi || !n.range.within_limits() {
                return Err(format!("node {i} has a bad range {:?}", n.range));
            }
            if let Op::Add { a, b, .. } | Op::Mux { a, b, .. } = &n.op {
                if self.operand_frac(a) > n.frac || self.operand_frac(b) > n.frac {
                    return Err(format!(
                        "node {i}: an operand has more fractional bits than the sum"
                    ));
                }
            }
            if let Op::Mul { a, b, .. } = &n.op {
                if self.operand_frac(a) + self.operand_frac(b) != n.frac {
                    return Err(format!(
                        "node {i}: a product's frac is not the operands' sum"
                    ));
                }
            }
            if let Op::Table { a, base, entries } = &n.op {
                let r = self.node(*a).range;
                if *base != r.lo || entries.len() as i128 != r.hi - r.lo + 1 {
                    return Err(format!(
                        "node {i}: the table does not cover its index range"
                    ));
                }
            }
        }
        for p in &self.outputs {
            for &e in &p.elements {
                let n = self.node(e);
                if n.frac != p.ty.frac()
                    || n.range.lo < p.ty.min_mantissa()
                    || n.range.hi > p.ty.max_mantissa()
                {
                    return Err(format!(
                        "output `{}`: node {} does not carry values of type {}",
                        p.name, e.0, p.ty
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Builds a netlist: computes frac and exact range of each new node, shares identical nodes
/// (hash-consing), and rejects wires wider than the compiler's limit.
pub struct Builder {
    pub net: Netlist,
    memo: HashMap<(Op, i32), NodeId>,
    pub layer: u32,
}

impl Builder {
    pub fn new(name: &str) -> Self {
        Builder {
            net: Netlist {
                name: name.to_string(),
                layers: vec!["(inputs)".into()],
                ..Default::default()
            },
            memo: HashMap::default(),
            layer: 0,
        }
    }

    fn push(&mut self, op: Op, frac: i32, range: Interval) -> BuildResult<NodeId> {
        if !range.within_limits() {
            return Err(BuildError::WireTooWide {
                bits: range.width(),
                limit: MAX_WIRE_WIDTH,
            });
        }
        let key = (op, frac);
        if let Some(&id) = self.memo.get(&key) {
            return Ok(id);
        }
        let op = key.0.clone();
        let id = NodeId(self.net.nodes.len() as u32);
        self.memo.insert(key, id);
        self.net.nodes.push(Node {
            op,
            frac,
            range,
            layer: self.layer,
            bits: range.width(),
        });
        Ok(id)
    }

    pub fn input(&mut self, index: usize, ty: &FixedType) -> BuildResult<NodeId> {
        self.push(
            Op::Input { index },
            ty.frac(),
            Interval::new(ty.min_mantissa(), ty.max_mantissa()),
        )
    }

    /// A constant `value · 2^-frac`, normalised (trailing zero bits removed; zero at frac 0).
    pub fn constant(&mut self, value: i128, frac: i32) -> BuildResult<NodeId> {
        let (mut v, mut f) = (value, frac);
        if v == 0 {
            f = 0;
        } else {
            while v & 1 == 0 {
                v >>= 1;
                f -= 1;
            }
        }
        self.push(Op::Const { value: v }, f, Interval::point(v))
    }

    /// Range of an operand at a target frac (≥ operand frac).
    fn aligned(&self, o: &Operand, frac: i32) -> BuildResult<Interval> {
        let s = frac - self.net.operand_frac(o);
        self.net
            .node(o.node)
            .range
            .shl(s as u32)
            .ok_or(BuildError::AlignTooWide {
                limit: MAX_WIRE_WIDTH,
            })
    }

    pub fn add(&mut self, a: Operand, b: Operand, sub: bool) -> BuildResult<NodeId> {
        let frac = self.net.operand_frac(&a).max(self.net.operand_frac(&b));
        let (ra, rb) = (self.aligned(&a, frac)?, self.aligned(&b, frac)?);
        let range = if sub { ra.sub(&rb) } else { ra.add(&rb) };
        if range.lo == range.hi {
            return self.constant(range.lo, frac); // both operands are constants
        }
        // Canonical operand order for commutative adds, so that sharing finds them.
        let (a, b) = if !sub && (b.node, b.shift) < (a.node, a.shift) {
            (b, a)
        } else {
            (a, b)
        };
        self.push(Op::Add { a, b, sub }, frac, range)
    }

    pub fn neg(&mut self, a: Operand) -> BuildResult<NodeId> {
        let frac = self.net.operand_frac(&a);
        let range = self.net.node(a.node).range.neg();
        self.push(Op::Neg { a }, frac, range)
    }

    pub fn relu(&mut self, a: NodeId) -> BuildResult<NodeId> {
        let n = self.net.node(a);
        if n.range.lo >= 0 {
            return Ok(a);
        }
        let range = Interval::new(0, n.range.hi.max(0));
        self.push(Op::Relu { a }, n.frac, range)
    }

    /// A cast; returns `a` itself when the cast provably changes nothing.
    pub fn cast(&mut self, mut a: Operand, to: FixedType) -> BuildResult<NodeId> {
        let n = self.net.node(a.node);
        // A left shift by `to.width` bits or more takes every non-zero value out of the
        // target's range and leaves zero low bits: the result depends only on the sign, for
        // every overflow mode, and equals that of a shift by exactly `to.width`. Moving the
        // binary point by hundreds of bits (`fixed<8,4>` → `fixed<10,-139>`) becomes a
        // shift by W.
        let w = i64::from(to.width);
        if i64::from(to.frac()) - (i64::from(n.frac) - i64::from(a.shift)) > w {
            if to.overflow == Overflow::Wrap {
                // WRAP keeps the low W bits, which are all zero.
                return self.push(Op::Const { value: 0 }, to.frac(), Interval::point(0));
            }
            a.shift = n.frac - to.frac() + to.width as i32;
        }
        let frac = n.frac - a.shift;
        if to.frac() > frac && n.range.lo != n.range.hi {
            let bits = n.range.width() + (to.frac() - frac) as u32;
            if bits > MAX_WIRE_WIDTH {
                return Err(BuildError::CastTooWide {
                    to: to.to_string(),
                    bits,
                    limit: MAX_WIRE_WIDTH,
                });
            }
        }
        let range = cast_range(n.range, frac, &to);
        if a.shift == 0 && n.frac == to.frac() && to.keeps(n.range.lo) && to.keeps(n.range.hi) {
            return Ok(a.node);
        }
        if n.range.lo == n.range.hi {
            let v = to.cast(n.range.lo, frac);
            return self.push(Op::Const { value: v }, to.frac(), Interval::point(v));
        }
        self.push(Op::Cast { a, to }, to.frac(), range)
    }
}

/// Largest lookup table (entries) the compiler builds.
pub const MAX_TABLE_ENTRIES: i128 = 1 << 16;

impl Builder {
    /// Range of an operand aligned to `frac` (public form of `aligned`, for comparisons).
    fn aligned_pair(&self, x: &Operand, y: &Operand) -> BuildResult<(i32, Interval, Interval)> {
        let f = self.net.operand_frac(x).max(self.net.operand_frac(y));
        Ok((f, self.aligned(x, f)?, self.aligned(y, f)?))
    }

    /// `x > y` as a 1-bit flag; a constant when the ranges decide it.
    pub fn cmp(&mut self, x: Operand, y: Operand) -> BuildResult<NodeId> {
        let (_, rx, ry) = self.aligned_pair(&x, &y)?;
        if rx.lo > ry.hi {
            return self.constant(1, 0);
        }
        if rx.hi <= ry.lo {
            return self.constant(0, 0);
        }
        self.push(Op::Cmp { x, y }, 0, Interval::new(0, 1))
    }

    /// `c ≠ 0 ? a : b`.
    pub fn mux(&mut self, c: NodeId, a: Operand, b: Operand) -> BuildResult<NodeId> {
        let rc = self.net.node(c).range;
        let pick = if rc.lo == rc.hi {
            Some(if rc.lo != 0 { a } else { b })
        } else if a == b {
            Some(a)
        } else {
            None
        };
        if let Some(o) = pick.filter(|o| o.shift == 0) {
            return Ok(o.node);
        }
        let (frac, ra, rb) = self.aligned_pair(&a, &b)?;
        let range = match pick {
            Some(o) if o == a => ra,
            Some(_) => rb,
            None => ra.hull(&rb),
        };
        if range.lo == range.hi {
            return self.constant(range.lo, frac);
        }
        self.push(Op::Mux { c, a, b }, frac, range)
    }

    /// `max(a, b)` (`min` when `min`), from a comparison and a multiplexer.
    pub fn max(&mut self, a: Operand, b: Operand, min: bool) -> BuildResult<NodeId> {
        let c = self.cmp(a, b)?;
        if min {
            self.mux(c, b, a)
        } else {
            self.mux(c, a, b)
        }
    }

    /// The exact product `a · b` of two values, in LUTs.
    pub fn mul(&mut self, a: Operand, b: Operand) -> BuildResult<NodeId> {
        self.mul_on(a, b, false)
    }

    /// The exact product `a · b` of two values; `dsp`: on one hard multiplier.
    pub fn mul_on(&mut self, a: Operand, b: Operand, dsp: bool) -> BuildResult<NodeId> {
        let frac = self.net.operand_frac(&a) + self.net.operand_frac(&b);
        let (ra, rb) = (self.net.node(a.node).range, self.net.node(b.node).range);
        let wide = || BuildError::ProductTooWide {
            limit: MAX_WIRE_WIDTH,
        };
        let corners = [
            ra.lo.checked_mul(rb.lo),
            ra.lo.checked_mul(rb.hi),
            ra.hi.checked_mul(rb.lo),
            ra.hi.checked_mul(rb.hi),
        ];
        let corners: Vec<i128> = corners
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(wide)?;
        let mut range = Interval::new(
            *corners.iter().min().unwrap(),
            *corners.iter().max().unwrap(),
        );
        if a.node == b.node {
            // A square is never negative; its minimum is 0 when the range spans 0.
            let lo = if ra.lo <= 0 && ra.hi >= 0 {
                0
            } else {
                (ra.lo * ra.lo).min(ra.hi * ra.hi)
            };
            range = Interval::new(lo, range.hi);
        }
        if range.lo == range.hi {
            return self.constant(range.lo, frac);
        }
        let (a, b) = if (b.node, b.shift) < (a.node, a.shift) {
            (b, a)
        } else {
            (a, b)
        };
        self.push(Op::Mul { a, b, dsp }, frac, range)
    }

    /// A lookup table indexed by `a`: `f(m)` (a mantissa at `frac`) for every mantissa `m`
    /// in the range of `a`.
    pub fn table(&mut self, a: NodeId, frac: i32, f: impl Fn(i128) -> i128) -> BuildResult<NodeId> {
        let r = self.net.node(a).range;
        if r.hi - r.lo >= MAX_TABLE_ENTRIES {
            return Err(BuildError::TableTooLarge {
                entries: r.hi - r.lo + 1,
                limit: MAX_TABLE_ENTRIES,
            });
        }
        let entries: Vec<i128> = (r.lo..=r.hi).map(f).collect();
        let lo = *entries.iter().min().unwrap();
        let hi = *entries.iter().max().unwrap();
        if lo == hi {
            // At `frac` (not normalised): a table may be a layer's output, of a given type.
            return self.push(Op::Const { value: lo }, frac, Interval::point(lo));
        }
        self.push(
            Op::Table {
                a,
                base: r.lo,
                entries,
            },
            frac,
            Interval::new(lo, hi),
        )
    }
}

/// Exact interval of `cast(x)` for `x` in `r` (mantissas at `frac`).
pub fn cast_range(r: Interval, frac: i32, to: &FixedType) -> Interval {
    let lo = super::fixed::round_shift(r.lo, frac, to.frac(), to.round);
    let hi = super::fixed::round_shift(r.hi, frac, to.frac(), to.round);
    let (min, max) = (to.min_mantissa(), to.max_mantissa());
    if lo >= to.cast_min() && hi <= max {
        return Interval::new(lo, hi); // rounding is monotonic
    }
    match to.overflow {
        Overflow::Wrap => {
            if hi - lo < (max - min) && {
                let (a, b) = (to.apply_overflow(lo), to.apply_overflow(hi));
                a <= b && b - a == hi - lo
            } {
                Interval::new(to.apply_overflow(lo), to.apply_overflow(hi))
            } else {
                Interval::new(min, max)
            }
        }
        // A clamp (monotonic); SAT_SYM clamps to [−max, max] when signed (`cast_min`).
        Overflow::Sat | Overflow::SatNarrow | Overflow::SatSym => {
            let min = to.cast_min();
            Interval::new(lo.clamp(min, max), hi.clamp(min, max))
        }
        Overflow::SatZero => {
            Interval::new(lo.clamp(min, max), hi.clamp(min, max)).hull(&Interval::point(0))
        }
    }
}
