//! Lowering of the layers beyond dense: convolution (a dense layer over each receptive field,
//! sharing subexpressions across the output channels of a position), pooling, merges, shape
//! ops, clipping activations, argmax, batch normalisation and lookup tables.

use super::{rnd_consumer, LowerOptions, Lowering, RowTerms, Term};
use crate::error::{Error, Result};
use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::interval::Interval;
use crate::ir::layers::{Constant, LayerGraph, LayerKind, MergeOp, PoolOp, TableIndex};
use crate::ir::netlist::{BuildError, BuildResult, NodeId, Operand};
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
        let layer = &g.layers[k];
        let place = format!("layer `{}`", layer.name);
        let err = |m: BuildError| Error::lower(&place, m);
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let fx = xt.ty.frac();
        let channels = *xt.shape.last().unwrap();
        let out = match &layer.kind {
            LayerKind::Conv {
                weight,
                bias,
                accum,
                window,
                c_in,
                c_out,
                depthwise,
            } => {
                let (c_in, c_out) = (*c_in, *c_out);
                let fw = weight.ty.frac();
                let n_ch = if *depthwise { c_in * c_out } else { c_out };
                let mut rows_terms = Vec::with_capacity(window.positions());
                for p in 0..window.positions() {
                    let taps = window.taps(p);
                    let mut columns = Vec::with_capacity(n_ch);
                    for o in 0..n_ch {
                        let (mut xs, mut ws) = (Vec::new(), Vec::new());
                        for (t, pos) in taps.iter().enumerate() {
                            let Some(ip) = pos else { continue };
                            if *depthwise {
                                let (ci, m) = (o / c_out, o % c_out);
                                xs.push(x[ip * c_in + ci]);
                                ws.push(weight.data[(t * c_in + ci) * c_out + m]);
                            } else {
                                for ci in 0..c_in {
                                    xs.push(x[ip * c_in + ci]);
                                    ws.push(weight.data[(t * c_in + ci) * c_out + o]);
                                }
                            }
                        }
                        let (xs, fxs) = self.narrowed(&xs, fx);
                        let terms = self
                            .dense_terms(
                                &xs,
                                &fxs,
                                &ws,
                                fw,
                                bias.data[o],
                                bias.ty.frac(),
                                accum.as_ref(),
                            )
                            .map_err(|m| {
                                Error::lower(format!("{place}, position {p}, channel {o}"), m)
                            })?;
                        columns.push(terms);
                    }
                    // The same weights meet different inputs at every position, so sharing pays
                    // off across the channels of one position (as across a dense layer's outputs).
                    // (Sharing over all positions at once found only 0-10% fewer adders on
                    // stride-1 3x3 convolutions, at twice the compile time.)
                    let pairs: usize = columns.iter().map(|c| c.len() * c.len() / 2).sum();
                    let exact = columns.clone();
                    if opts.share && pairs <= 4_000_000 {
                        self.share_subexpressions(&mut columns).map_err(err)?;
                    }
                    rows_terms.push((columns, exact));
                }
                self.finish_rows(
                    g,
                    k,
                    rows_terms,
                    accum.as_ref(),
                    ty,
                    rounded_upstream,
                    &place,
                )?
            }
            LayerKind::BatchNorm { scale, bias } => {
                let mut rows_terms = Vec::with_capacity(x.len());
                for (e, &xe) in x.iter().enumerate() {
                    let c = e % channels;
                    let terms = self
                        .dense_terms(
                            &[xe],
                            &[fx],
                            &[scale.data[c]],
                            scale.ty.frac(),
                            bias.data[c],
                            bias.ty.frac(),
                            None,
                        )
                        .map_err(err)?;
                    rows_terms.push((vec![terms.clone()], vec![terms]));
                }
                self.finish_rows(g, k, rows_terms, None, ty, rounded_upstream, &place)?
            }
            LayerKind::Pool {
                op: PoolOp::AvgRecip(rty),
                window,
                ..
            } => {
                // y = R(Σ x · recip(n)): a dense sum with the constant weight recip(n) on every
                // tap (the same value as R(recip(n) · Σ x), exactly).
                let mut rows_terms = Vec::with_capacity(window.positions());
                for p in 0..window.positions() {
                    let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
                    let r = crate::ir::layers::recip_mantissa(taps.len(), rty)
                        .and_then(|r| i64::try_from(r).ok())
                        .ok_or_else(|| {
                            err(
                                format!("the reciprocal of {} does not fit {rty}", taps.len())
                                    .into(),
                            )
                        })?;
                    let mut columns = Vec::with_capacity(channels);
                    for c in 0..channels {
                        let xs: Vec<NodeId> = taps.iter().map(|&ip| x[ip * channels + c]).collect();
                        let ws = vec![r; xs.len()];
                        let (xs, fxs) = self.narrowed(&xs, fx);
                        columns.push(
                            self.dense_terms(&xs, &fxs, &ws, rty.frac(), 0, 0, None)
                                .map_err(err)?,
                        );
                    }
                    rows_terms.push((columns.clone(), columns));
                }
                self.finish_rows(g, k, rows_terms, None, ty, rounded_upstream, &place)?
            }
            LayerKind::Pool { op, window, .. } => {
                let mut out = Vec::with_capacity(window.positions() * channels);
                for p in 0..window.positions() {
                    let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
                    for c in 0..channels {
                        let xs: Vec<NodeId> = taps.iter().map(|&ip| x[ip * channels + c]).collect();
                        let y = match op {
                            PoolOp::Max => {
                                let m = self.reduce_max(xs).map_err(err)?;
                                self.b.cast(m.op(), ty)
                            }
                            PoolOp::AvgRecip(_) => unreachable!("lowered above"),
                            PoolOp::Sum | PoolOp::Avg => {
                                let k = if *op == PoolOp::Avg {
                                    taps.len().trailing_zeros() as i32
                                } else {
                                    0
                                };
                                self.sum_cast(xs.iter().map(|&n| (n.op(), false)).collect(), -k, ty)
                            }
                        }
                        .map_err(err)?;
                        self.sync_levels();
                        out.push(y);
                    }
                }
                out
            }
            LayerKind::Merge { op, others } => {
                let srcs: Vec<&Vec<NodeId>> = std::iter::once(layer.input)
                    .chain(others.iter().copied())
                    .map(|t| &tensors[t])
                    .collect();
                let mut out = Vec::with_capacity(x.len());
                for e in 0..x.len() {
                    let y = match op {
                        MergeOp::Add => {
                            self.sum_cast(srcs.iter().map(|s| (s[e].op(), false)).collect(), 0, ty)
                        }
                        MergeOp::Subtract => self.sum_cast(
                            vec![(srcs[0][e].op(), false), (srcs[1][e].op(), true)],
                            0,
                            ty,
                        ),
                        MergeOp::Multiply => self
                            .product(srcs[0][e], srcs[1][e])
                            .and_then(|p| self.b.cast(p, ty)),
                    }
                    .map_err(err)?;
                    self.sync_levels();
                    out.push(y);
                }
                out
            }
            LayerKind::Concatenate { others, axis } => {
                let srcs: Vec<usize> = std::iter::once(layer.input)
                    .chain(others.iter().copied())
                    .collect();
                let outer: usize = xt.shape[..*axis].iter().product();
                let mut out = Vec::new();
                for o in 0..outer {
                    for &t in &srcs {
                        let block: usize = g.tensor(t).shape[*axis..].iter().product();
                        for &e in &tensors[t][o * block..(o + 1) * block] {
                            out.push(self.b.cast(e.op(), ty).map_err(err)?);
                        }
                    }
                }
                out
            }
            LayerKind::Reshape => x.clone(),
            LayerKind::Slice { begin, end, step } => {
                crate::ir::layers::slice_sources(&xt.shape, begin, end, step)
                    .into_iter()
                    .map(|e| x[e])
                    .collect()
            }
            LayerKind::Transpose { perm } => {
                let s = &xt.shape;
                let r = s.len();
                let mut strides = vec![1usize; r];
                for a in (0..r - 1).rev() {
                    strides[a] = strides[a + 1] * s[a + 1];
                }
                let oshape: Vec<usize> = perm.iter().map(|&a| s[a]).collect();
                (0..x.len())
                    .map(|e| {
                        let (mut rem, mut src) = (e, 0);
                        for i in (0..r).rev() {
                            src += (rem % oshape[i]) * strides[perm[i]];
                            rem /= oshape[i];
                        }
                        x[src]
                    })
                    .collect()
            }
            LayerKind::ReluCap { cap } => {
                let c = self.scalar(cap).map_err(err)?;
                x.iter()
                    .map(|&e| {
                        let r = self.b.relu(e)?;
                        let m = self.b.max(r.op(), c.op(), true)?;
                        self.sync_levels();
                        self.b.cast(m.op(), ty)
                    })
                    .collect::<R<_>>()
                    .map_err(err)?
            }
            LayerKind::LeakyRelu { alpha } => {
                let zero = self.b.constant(0, 0).map_err(err)?;
                x.iter()
                    .map(|&e| {
                        let p = self.scaled(e, alpha)?;
                        let c = self.b.cmp(e.op(), zero.op())?;
                        let v = self.b.mux(c, e.op(), p)?;
                        self.sync_levels();
                        self.b.cast(v.op(), ty)
                    })
                    .collect::<R<_>>()
                    .map_err(err)?
            }
            LayerKind::HardSigmoid { slope, shift, tanh } => {
                let zero = self.b.constant(0, 0).map_err(err)?;
                let one = self.b.constant(1, 0).map_err(err)?;
                let sh = self.scalar(shift).map_err(err)?;
                x.iter()
                    .map(|&e| {
                        let p = self.scaled(e, slope)?;
                        let t = self
                            .sum(vec![(p, false), (sh.op(), false)])?
                            .unwrap_or(zero.op());
                        self.sync_levels();
                        let lo = self.b.max(t, zero.op(), false)?;
                        let s = self.b.max(lo.op(), one.op(), true)?;
                        let v = if *tanh {
                            let two_s = Operand { node: s, shift: 1 };
                            self.b.add(two_s, one.op(), true)?
                        } else {
                            s
                        };
                        self.sync_levels();
                        self.b.cast(v.op(), ty)
                    })
                    .collect::<R<_>>()
                    .map_err(err)?
            }
            LayerKind::Argmax => {
                let mut out = Vec::new();
                for row in x.chunks(channels) {
                    let leaves = row
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| Ok((v.op(), self.b.constant(i as i128, 0)?.op())))
                        .collect::<R<Vec<_>>>()
                        .map_err(err)?;
                    let (_, idx) = self.argmax_tree(&leaves).map_err(err)?;
                    out.push(self.b.cast(idx, ty).map_err(err)?);
                    self.sync_levels();
                }
                out
            }
            LayerKind::Table { index, table, .. } => {
                let mut out = Vec::with_capacity(x.len());
                for &e in x {
                    let idx = self.table_index(e, index, &xt.ty).map_err(err)?;
                    let y = self
                        .b
                        .table(idx, ty.frac(), |m| {
                            ty.cast(table.data[m as usize] as i128, table.ty.frac())
                        })
                        .map_err(err)?;
                    self.sync_levels();
                    out.push(y);
                }
                out
            }
            LayerKind::Softmax {
                exp_table,
                inv_table,
            } => {
                let (ety, ity) = (exp_table.ty, inv_table.ty);
                let eb = TableIndex::TopBits {
                    bits: exp_table.data.len().trailing_zeros(),
                };
                let ib = TableIndex::TopBits {
                    bits: inv_table.data.len().trailing_zeros(),
                };
                let mut out = Vec::with_capacity(x.len());
                for row in x.chunks(channels) {
                    let mut e = Vec::with_capacity(row.len());
                    for &xi in row {
                        let idx = self.table_index(xi, &eb, &xt.ty).map_err(err)?;
                        e.push(
                            self.b
                                .table(idx, ety.frac(), |m| exp_table.data[m as usize] as i128)
                                .map_err(err)?,
                        );
                    }
                    let s = self.hls_sum(&e, ety).map_err(err)?;
                    let idx = self.table_index(s, &ib, &ety).map_err(err)?;
                    let inv = self
                        .b
                        .table(idx, ity.frac(), |m| inv_table.data[m as usize] as i128)
                        .map_err(err)?;
                    for &ei in &e {
                        let p = self.mul_split(ei, inv).map_err(err)?;
                        out.push(self.b.cast(p, ty).map_err(err)?);
                    }
                    self.sync_levels();
                }
                out
            }
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
    fn finish_rows(
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
    fn scalar(&mut self, c: &Constant<i64>) -> R<NodeId> {
        let n = self.b.constant(c.data as i128, c.ty.frac())?;
        self.sync_levels();
        Ok(n)
    }

    /// `x · c` exactly, as shift-and-add over the signed digits of `c`.
    fn scaled(&mut self, x: NodeId, c: &Constant<i64>) -> R<Operand> {
        let terms = Self::product_terms(x, c.data, c.ty.frac());
        let s = match self.sum(terms)? {
            Some(s) => s,
            None => self.b.constant(0, 0)?.op(),
        };
        self.sync_levels();
        Ok(s)
    }

    /// `result(Σ terms · 2^shift)`, the sum exact.
    fn sum_cast(&mut self, terms: Vec<Term>, shift: i32, ty: FixedType) -> R<NodeId> {
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
    fn product(&mut self, a: NodeId, b: NodeId) -> R<Operand> {
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
    fn mul_split(&mut self, a: NodeId, b: NodeId) -> R<Operand> {
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
    fn reduce_max(&mut self, mut xs: Vec<NodeId>) -> R<NodeId> {
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
    fn argmax_tree(&mut self, leaves: &[(Operand, Operand)]) -> R<(Operand, Operand)> {
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
    fn hls_sum(&mut self, xs: &[NodeId], ty: FixedType) -> R<NodeId> {
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
    fn table_index(&mut self, x: NodeId, index: &TableIndex, xty: &FixedType) -> R<NodeId> {
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
