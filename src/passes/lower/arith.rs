//! The layers beyond dense, relu, quantize and flatten: dispatched by kind to their concept's
//! file (`conv`, `pool`, `merge`, `shape`, `activation`, `table`), and the arithmetic those
//! share (dense sums of a row, scaled constants, products, max trees, hls4ml-order sums).

use super::{rnd_consumer, LowerOptions, Lowering, RowTerms, Site, Term};
use crate::error::{Error, Result};
use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::interval::Interval;
use crate::ir::layers::{Constant, LayerGraph, LayerKind, PoolOp, TableIndex};
use crate::ir::netlist::{BuildResult, NodeId, Operand};
use std::collections::HashSet;

type R<T> = BuildResult<T>;

impl Lowering {
    /// Lowers layer `k` (any kind but dense, relu, quantize and flatten) to its output nodes.
    pub(super) fn lower_ext(
        &mut self,
        g: &LayerGraph,
        k: usize,
        tensors: &[Vec<NodeId>],
        ty: FixedType,
        opts: &LowerOptions,
        rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let site = Site {
            g,
            k,
            tensors,
            ty,
            opts,
        };
        let out = match &g.layers[k].kind {
            LayerKind::Conv { .. } => self.lower_conv(&site, rounded_upstream)?,
            LayerKind::BatchNorm { .. } => self.lower_batchnorm(&site, rounded_upstream)?,
            LayerKind::Pool {
                op: PoolOp::AvgRecip(_),
                ..
            } => self.lower_avg_pool_recip(&site, rounded_upstream)?,
            LayerKind::Pool { .. } => self.lower_pool(&site, rounded_upstream)?,
            LayerKind::Merge { .. } => self.lower_merge(&site, rounded_upstream)?,
            LayerKind::Concatenate { .. } => self.lower_concatenate(&site, rounded_upstream)?,
            LayerKind::Reshape => tensors[g.layers[k].input].clone(),
            LayerKind::Slice { .. } => self.lower_slice(&site, rounded_upstream)?,
            LayerKind::Transpose { .. } => self.lower_transpose(&site, rounded_upstream)?,
            LayerKind::ReluCap { .. } => self.lower_relu_cap(&site, rounded_upstream)?,
            LayerKind::LeakyRelu { .. } => self.lower_leaky_relu(&site, rounded_upstream)?,
            LayerKind::HardSigmoid { .. } => self.lower_hard_sigmoid(&site, rounded_upstream)?,
            LayerKind::Argmax => self.lower_argmax(&site, rounded_upstream)?,
            LayerKind::Table { .. } => self.lower_table(&site, rounded_upstream)?,
            LayerKind::Softmax { .. } => self.lower_softmax(&site, rounded_upstream)?,
            LayerKind::Dense { .. }
            | LayerKind::Relu
            | LayerKind::Quantize
            | LayerKind::QuantizeEach { .. }
            | LayerKind::Flatten => {
                unreachable!("lowered by `lower`")
            }
        };
        self.sync_levels();
        Ok(out)
    }

    /// Finishes the per-row, per-column dense sums of a layer (as the dense path does): the
    /// consumer's RND rounding folded into the sums when every output allows it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_rows(
        &mut self,
        g: &LayerGraph,
        k: usize,
        rows_terms: Vec<RowTerms>,
        accum: Option<&FixedType>,
        ty: FixedType,
        rounded_upstream: &mut HashSet<usize>,
        place: &str,
    ) -> Result<Vec<NodeId>> {
        let consumer = rnd_consumer(g, k);
        let mut out = Vec::new();
        for fold in [true, false] {
            out.clear();
            let mut ok = true;
            for (columns, exact) in &rows_terms {
                for (j, terms) in columns.iter().enumerate() {
                    let f = self
                        .dense_finish(
                            terms.clone(),
                            &exact[j],
                            accum,
                            ty,
                            consumer.filter(|_| fold).map(|c| c.1),
                        )
                        .map_err(|m| Error::lower(format!("{place}, output {j}"), m))?;
                    ok &= !fold || f.consumer_ok;
                    out.push(f.node);
                }
            }
            if ok {
                if let (true, Some((c, _))) = (fold, consumer) {
                    rounded_upstream.insert(c);
                }
                break;
            }
        }
        Ok(out)
    }

    /// A constant of the model as a node.
    pub(super) fn scalar(&mut self, c: &Constant<i64>) -> R<NodeId> {
        let n = self.b.constant(c.data as i128, c.ty.frac())?;
        self.sync_levels();
        Ok(n)
    }

    /// `x · c` exactly, as shift-and-add over the signed digits of `c`.
    pub(super) fn scaled(&mut self, x: NodeId, c: &Constant<i64>) -> R<Operand> {
        let terms = Self::product_terms(x, c.data, c.ty.frac());
        let s = match self.sum(terms)? {
            Some(s) => s,
            None => self.b.constant(0, 0)?.op(),
        };
        self.sync_levels();
        Ok(s)
    }

    /// `result(Σ terms · 2^shift)`, the sum exact.
    pub(super) fn sum_cast(&mut self, terms: Vec<Term>, shift: i32, ty: FixedType) -> R<NodeId> {
        let s = match self.sum(terms)? {
            Some(s) => s,
            None => self.b.constant(0, 0)?.op(),
        };
        self.sync_levels();
        self.b.cast(
            Operand {
                node: s.node,
                shift: s.shift + shift,
            },
            ty,
        )
    }

    /// `a · b` exactly: shift-and-add when one factor is a constant, else a multiplier.
    pub(super) fn product(&mut self, a: NodeId, b: NodeId) -> R<Operand> {
        for (x, c) in [(a, b), (b, a)] {
            let n = self.b.net.node(c);
            if n.range.lo == n.range.hi && i64::try_from(n.range.lo).is_ok() {
                let k = Constant {
                    ty: FixedType::new(true, 64, 64 - n.frac),
                    data: n.range.lo as i64,
                };
                return self.scaled(x, &k);
            }
        }
        self.mul_split(a, b)
    }

    /// `a · b` of two variables, as LUT multipliers of `a` by 4-bit digits of the narrower
    /// factor and a balanced adder tree, so that the scheduler can pipeline a wide product.
    /// The sum is cast (WRAP, no hardware) to the exact range of the product.
    ///
    /// With `--dsp auto|always`, a product whose factors fit one DSP48E2 is a single hard
    /// multiplier; with `always`, a wider one is split the same way into 16-bit digits of
    /// the wider factor, each partial product (a digit times the narrower factor, at most 27
    /// bits) on one DSP.
    pub(super) fn mul_split(&mut self, a: NodeId, b: NodeId) -> R<Operand> {
        use super::{DspPolicy, DSP_NARROW, DSP_WIDE};
        // Signed width of a factor: an unsigned one needs a zero sign bit on a DSP port.
        let sw = |l: &Self, x: NodeId| {
            let r = l.b.net.node(x).range;
            r.width() + u32::from(!r.signed())
        };
        let fits = |l: &Self, x: NodeId, y: NodeId| {
            let (p, q) = (sw(l, x), sw(l, y));
            p.max(q) <= DSP_WIDE && p.min(q) <= DSP_NARROW
        };
        let (wa, wb) = (
            self.b.net.node(a).range.width(),
            self.b.net.node(b).range.width(),
        );
        let (a, b) = if wb <= wa { (a, b) } else { (b, a) };
        if self.dsp != DspPolicy::Never && fits(self, a, b) {
            let p = self.b.mul_on(a.op(), b.op(), true)?;
            self.sync_levels();
            return Ok(p.op());
        }
        let on_dsp = self.dsp == DspPolicy::Always;
        // On DSPs, the wider factor is cut into digits, each multiplied by the narrower one.
        let (a, b) = if on_dsp { (b, a) } else { (a, b) };
        if on_dsp && sw(self, a) > DSP_WIDE {
            return Err(format!(
                "--dsp always: a product of a {}-bit and a {}-bit factor (signed widths) \
                 cannot be split into DSP48E2 products: both factors exceed {DSP_WIDE} bits; \
                 narrow one of them or use --dsp auto",
                sw(self, a),
                sw(self, b)
            )
            .into());
        }
        let digit: u32 = if on_dsp { 16 } else { 4 };
        let nb = self.b.net.node(b).clone();
        if !on_dsp && nb.range.width() <= digit + 2 {
            let p = self.b.mul(a.op(), b.op())?;
            self.sync_levels();
            return Ok(p.op());
        }
        let exact = self.b.mul(a.op(), b.op())?; // only for its range (dead code otherwise)
        let er = self.b.net.node(exact).range;
        let fb = nb.frac;
        // b = Σ_j d_j · 2^(4j − fb) + t · 2^(4J − fb): unsigned digits d_j, signed top part t.
        let n_digits = (nb.range.width() - 1) / digit;
        let mut terms: Vec<Term> = Vec::new();
        for j in 0..=n_digits {
            let f = fb - (digit * j) as i32;
            let ty = if j < n_digits {
                FixedType::new(false, digit, digit as i32 - f)
            } else {
                let top = Interval::new(nb.range.lo >> (digit * j), nb.range.hi >> (digit * j));
                let w = top.width() + u32::from(top.signed() || nb.range.signed());
                FixedType::new(nb.range.signed(), w, w as i32 - f)
            };
            let d = self.b.cast(b.op(), ty)?;
            let dsp = on_dsp && fits(self, a, d);
            let p = self.b.mul_on(a.op(), d.op(), dsp)?;
            self.sync_levels();
            terms.push((p.op(), false));
        }
        let s = match self.sum(terms)? {
            Some(s) => s,
            None => self.b.constant(0, 0)?.op(),
        };
        self.sync_levels();
        let sf = self.b.net.operand_frac(&s);
        let w = er.width();
        if w <= crate::ir::fixed::MAX_TYPE_WIDTH && sf == self.b.net.node(exact).frac {
            let ty = FixedType::new(er.signed(), w, w as i32 - sf);
            let c = self.b.cast(s, ty)?;
            self.sync_levels();
            return Ok(c.op());
        }
        Ok(s)
    }

    /// The maximum of the values, as a balanced tree of comparisons.
    pub(super) fn reduce_max(&mut self, mut xs: Vec<NodeId>) -> R<NodeId> {
        while xs.len() > 1 {
            let mut next = Vec::with_capacity(xs.len().div_ceil(2));
            for pair in xs.chunks(2) {
                next.push(match pair {
                    [a, b] => self.b.max(a.op(), b.op(), false)?,
                    [a] => *a,
                    _ => unreachable!(),
                });
            }
            self.sync_levels();
            xs = next;
        }
        Ok(xs[0])
    }

    /// The first maximum of `(value, index)` leaves (the lowest index among equal values).
    pub(super) fn argmax_tree(&mut self, leaves: &[(Operand, Operand)]) -> R<(Operand, Operand)> {
        if leaves.len() == 1 {
            return Ok(leaves[0]);
        }
        let mid = leaves.len().div_ceil(2);
        let (lv, li) = self.argmax_tree(&leaves[..mid])?;
        let (rv, ri) = self.argmax_tree(&leaves[mid..])?;
        // The right half wins only when strictly greater: ties keep the lower index.
        let c = self.b.cmp(rv, lv)?;
        let v = self.b.mux(c, rv, lv)?;
        let i = self.b.mux(c, ri, li)?;
        self.sync_levels();
        Ok((v.op(), i.op()))
    }

    /// hls4ml's `reduce` with `Op_add<T>`: each sum cast to `ty`; the left part is the largest
    /// power of two below the count.
    pub(super) fn hls_sum(&mut self, xs: &[NodeId], ty: FixedType) -> R<NodeId> {
        if xs.len() == 1 {
            return Ok(xs[0]);
        }
        let n = xs.len();
        let left = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        let a = self.hls_sum(&xs[..left], ty)?;
        let b = self.hls_sum(&xs[left..], ty)?;
        let s = self.b.add(a.op(), b.op(), false)?;
        let c = self.b.cast(s.op(), ty)?;
        self.sync_levels();
        Ok(c)
    }

    /// The table index a value selects (see [`TableIndex`]), as an unsigned integer node.
    pub(super) fn table_index(
        &mut self,
        x: NodeId,
        index: &TableIndex,
        xty: &FixedType,
    ) -> R<NodeId> {
        let idx = match *index {
            TableIndex::Range {
                size_log2,
                range_log2,
            } => {
                // trunc_toward_zero(x · 2^(size − range)) + N/2, clamped to [0, N − 1].
                let s = size_log2 as i32 - range_log2;
                let xo = Operand { node: x, shift: s };
                let n = self.b.net.node(x);
                let f = n.frac - s;
                let (lo, hi) = (
                    crate::ir::fixed::round_shift(n.range.lo, f, 0, Round::TrnZero),
                    crate::ir::fixed::round_shift(n.range.hi, f, 0, Round::TrnZero),
                );
                let w = (Interval::new(lo.min(0), hi.max(0)).width() + 1).clamp(2, 64);
                let t = self.b.cast(
                    xo,
                    FixedType::new(true, w, w as i32).with_modes(Round::TrnZero, Overflow::Sat),
                )?;
                let half = self.b.constant(1i128 << (size_log2 - 1), 0)?;
                let u = self.b.add(t.op(), half.op(), false)?;
                let bits = size_log2.max(1);
                self.b.cast(
                    u.op(),
                    FixedType::new(false, bits, bits as i32).with_modes(Round::Trn, Overflow::Sat),
                )?
            }
            TableIndex::TopBits { bits } => {
                // The top `bits` bits of the W-bit mantissa: floor(m / 2^(W − bits)) mod 2^bits.
                self.b
                    .cast(x.op(), FixedType::new(false, bits, xty.int_bits))?
            }
        };
        self.sync_levels();
        Ok(idx)
    }
}
