//! Lowering: layer graph → netlist of scalar fixed-point operations.
//!
//! Dense layers become shift-and-add trees over the canonical signed digits of each weight;
//! zero weights produce nothing. Accumulator semantics follow hls4ml's Latency strategy
//! exactly (products cast to the accumulator, bias first, result cast at the end); a WRAP
//! accumulator is modular and therefore order-free; a saturating one becomes a chain of
//! saturating additions in input order wherever a partial sum may saturate, and adder trees
//! over the stretches the interval analysis proves cannot.

use super::csd::csd;
use crate::error::{Error, Result};
use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::interval::Interval;
use crate::ir::layers::{LayerGraph, LayerKind};
use crate::ir::netlist::{BuildResult, Builder, Netlist, NodeId, Op, Operand, Port};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

mod activation;
mod arith;
mod conv;
mod merge;
mod pool;
mod shape;
mod table;

/// Lowering choices.
#[derive(Clone, Debug)]
pub struct LowerOptions {
    /// Share common shift-and-add subexpressions across the outputs of each dense layer.
    pub share: bool,
    /// Where products of two variables go (`--dsp`).
    pub dsp: DspPolicy,
    /// How a clamping accumulator's saturating steps are built (`--sat-accum`).
    pub sat_accum: SatAccum,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            share: true,
            dsp: DspPolicy::Never,
            sat_accum: SatAccum::Chain,
        }
    }
}

/// The hardware of the saturating steps of a SAT, SAT_SYM or SAT_NARROW accumulator (a
/// SAT_ZERO one is always a chain). Both compute hls4ml's in-order sum bit for bit.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SatAccum {
    /// One saturating adder per step, in input order (hls4ml's structure; fewest LUTs).
    #[default]
    Chain,
    /// The steps' clamps composed in a balanced tree: logarithmic depth, more LUTs.
    Tree,
}

/// Hard multipliers for products of two variables (`multiply` layers, squares, softmax).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DspPolicy {
    /// LUT multipliers only (4-bit digits of one factor and an adder tree).
    #[default]
    Never,
    /// One DSP per product whose factors fit a DSP48E2 (signed 27×18; an unsigned factor
    /// counts one bit more); wider products stay in LUTs.
    Auto,
    /// As `auto`, and a product too wide for one DSP is split into DSP-sized partial
    /// products (16-bit digits of the wider factor times the narrower one) added in LUTs; an
    /// error when both factors exceed 27 signed bits.
    Always,
}

/// Signed widths of the two factors of a DSP48E2 (27×18).
pub const DSP_WIDE: u32 = 27;
pub const DSP_NARROW: u32 = 18;

/// Lowers a validated layer graph to a netlist.
pub fn lower(g: &LayerGraph, opts: &LowerOptions) -> Result<Netlist> {
    let mut lw = Lowering {
        b: Builder::new(&g.name),
        levels: vec![],
        narrow: std::collections::HashMap::new(),
        dsp: opts.dsp,
        sat_tree: opts.sat_accum == SatAccum::Tree,
    };
    let mut tensors: Vec<Vec<NodeId>> = Vec::new();
    let mut index = 0;
    for t in &g.inputs {
        let mut elems = Vec::with_capacity(t.len());
        for _ in 0..t.len() {
            elems.push(
                lw.b.input(index, &t.ty)
                    .map_err(|m| Error::lower(format!("input `{}`", t.name), m))?,
            );
            index += 1;
        }
        lw.sync_levels();
        lw.b.net.inputs.push(Port {
            name: t.name.clone(),
            shape: t.shape.clone(),
            ty: t.ty,
            elements: elems.clone(),
        });
        tensors.push(elems);
    }
    // Layers whose RND rounding was folded into the preceding dense sum (they cast with TRN).
    let mut rounded_upstream = std::collections::HashSet::new();
    for (k, layer) in g.layers.iter().enumerate() {
        lw.b.layer = lw.b.net.layers.len() as u32;
        lw.b.net.layers.push(layer.name.clone());
        let place = format!("layer `{}`", layer.name);
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let ty = match rounded_upstream.contains(&k) {
            true => layer
                .output
                .ty
                .with_modes(Round::Trn, layer.output.ty.overflow),
            false => layer.output.ty,
        };
        let out: Vec<NodeId> = match &layer.kind {
            LayerKind::Flatten => x.clone(),
            LayerKind::Quantize => x
                .iter()
                .map(|&e| lw.clamp_cast(e, ty))
                .collect::<std::result::Result<_, _>>()
                .map_err(|m| Error::lower(&place, m))?,
            // Each element cast to its own (narrow) type, then widened to the tensor's type,
            // which is exact and only wiring. A dense layer reads the narrow node instead
            // (`narrow`), so its shift-and-add terms have the element's own width.
            LayerKind::QuantizeEach { types } => x
                .iter()
                .zip(types)
                .map(|(&e, t)| {
                    let n = lw.clamp_cast(e, *t)?;
                    let w = lw.b.cast(n.op(), ty)?;
                    if w != n {
                        lw.narrow.insert(w, n);
                    }
                    Ok(w)
                })
                .collect::<BuildResult<_>>()
                .map_err(|m| Error::lower(&place, m))?,
            LayerKind::Relu => x
                .iter()
                .map(|&e| {
                    let r = lw.b.relu(e)?;
                    lw.sync_levels();
                    lw.b.cast(r.op(), ty)
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(|m| Error::lower(&place, m))?,
            LayerKind::Dense {
                weight,
                bias,
                accum,
            } => {
                let (n_in, n_out) = weight.data.dim();
                let rows = x.len() / n_in;
                let mut out = Vec::with_capacity(rows * n_out);
                let mut rows_terms = Vec::with_capacity(rows);
                for r in 0..rows {
                    // Elements of a per-element quantizer: the narrow node and its own frac.
                    let (xs, fxs) = lw.narrowed(&x[r * n_in..(r + 1) * n_in], xt.ty.frac());
                    let mut columns = Vec::with_capacity(n_out);
                    for j in 0..n_out {
                        let w: Vec<i64> = (0..n_in).map(|i| weight.data[[i, j]]).collect();
                        let terms = lw
                            .dense_terms(
                                &xs,
                                &fxs,
                                &w,
                                weight.ty.frac(),
                                bias.data[j],
                                bias.ty.frac(),
                                accum.as_ref(),
                            )
                            .map_err(|m| Error::lower(format!("{place}, output {j}"), m))?;
                        columns.push(terms);
                    }
                    // Pair counting is quadratic in the terms per output; beyond a generous
                    // bound (never reached by trigger-sized layers) sharing is skipped.
                    let pairs: usize = columns.iter().map(|c| c.len() * c.len() / 2).sum();
                    let exact = columns.clone();
                    if opts.share && pairs <= 4_000_000 {
                        lw.share_subexpressions(&mut columns)
                            .map_err(|m| Error::lower(&place, m))?;
                    }
                    rows_terms.push((columns, exact));
                }
                // Finish with the consumer's rounding folded in; if any output's result cast
                // could overflow, finish again without (the first attempt becomes dead code).
                let consumer = rnd_consumer(g, k);
                for fold in [true, false] {
                    out.clear();
                    let mut ok = true;
                    for (columns, exact) in &rows_terms {
                        for (j, terms) in columns.iter().enumerate() {
                            let f = lw
                                .dense_finish(
                                    terms.clone(),
                                    &exact[j],
                                    accum.as_ref(),
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
                out
            }
            LayerKind::Conv { .. }
            | LayerKind::Pool { .. }
            | LayerKind::Merge { .. }
            | LayerKind::Concatenate { .. }
            | LayerKind::Reshape
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
            | LayerKind::ReluCap { .. }
            | LayerKind::LeakyRelu { .. }
            | LayerKind::HardSigmoid { .. }
            | LayerKind::Argmax
            | LayerKind::BatchNorm { .. }
            | LayerKind::Table { .. }
            | LayerKind::Softmax { .. } => {
                lw.lower_ext(g, k, &tensors, ty, opts, &mut rounded_upstream)?
            }
        };
        lw.sync_levels();
        tensors.push(out);
    }
    for &t in &g.outputs {
        let tensor = g.tensor(t);
        lw.b.net.outputs.push(Port {
            name: tensor.name.clone(),
            shape: tensor.shape.clone(),
            ty: tensor.ty,
            elements: tensors[t].clone(),
        });
    }
    // Validated, cleaned up (dce, trim) and scheduled by the pipeline (passes/pipeline.rs).
    Ok(lw.b.net)
}

pub(super) struct Lowering {
    pub(super) b: Builder,
    /// Adder depth of every node (for building shallow trees).
    pub(super) levels: Vec<u32>,
    /// Widened element of a per-element quantizer → the element's narrow cast (same value).
    pub(super) narrow: std::collections::HashMap<NodeId, NodeId>,
    /// The `--dsp` policy for products of two variables.
    pub(super) dsp: DspPolicy,
    /// `--sat-accum tree`: compose clamping accumulator steps in a tree.
    pub(super) sat_tree: bool,
}

/// The layer being lowered and what its lowering reads (see `arith.rs`'s dispatcher).
#[derive(Clone, Copy)]
pub(super) struct Site<'a> {
    pub(super) g: &'a LayerGraph,
    pub(super) k: usize,
    pub(super) tensors: &'a [Vec<NodeId>],
    pub(super) ty: FixedType,
    pub(super) opts: &'a LowerOptions,
}

/// A signed term of a sum.
pub(super) type Term = (Operand, bool);

/// The terms of each output of one row of a dense layer: after sharing, and before (the same
/// values, for the linear-form range of each sum).
pub(super) type RowTerms = (Vec<Vec<Term>>, Vec<Vec<Term>>);

impl Lowering {
    /// `e` cast to `to`. A saturating cast to an unsigned type clamps negative values to zero,
    /// so it equals the cast of `relu(e)` for every rounding mode (a value below zero rounds
    /// to at most zero, which the clamp maps to zero either way). The ReLU form is built: its
    /// zeroing is one gate per bit that merges into the cast's saturation LUTs, where a cast
    /// with two overflow sides needs a second comparison.
    fn clamp_cast(&mut self, e: NodeId, to: FixedType) -> BuildResult<NodeId> {
        let src = if !to.signed && to.overflow != Overflow::Wrap {
            let r = self.b.relu(e)?;
            self.sync_levels();
            r
        } else {
            e
        };
        let n = self.b.cast(src.op(), to)?;
        self.sync_levels();
        Ok(n)
    }

    /// Extends `levels` to cover new nodes.
    pub(super) fn sync_levels(&mut self) {
        while self.levels.len() < self.b.net.nodes.len() {
            let n = &self.b.net.nodes[self.levels.len()];
            let l = Netlist::args(&n.op)
                .map(|a| self.levels[a.index()] + 1)
                .max()
                .unwrap_or(0);
            self.levels.push(l);
        }
    }

    /// The operands of a sum over `xs` (at frac `fx`): an element of a per-element quantizer
    /// is replaced by its narrow cast (the same value at the element's own frac).
    pub(super) fn narrowed(&self, xs: &[NodeId], fx: i32) -> (Vec<NodeId>, Vec<i32>) {
        xs.iter()
            .map(|e| match self.narrow.get(e) {
                Some(&n) => (n, self.b.net.node(n).frac),
                None => (*e, fx),
            })
            .unzip()
    }

    fn level(&self, o: &Operand) -> u32 {
        self.levels[o.node.index()]
    }

    /// Sums signed terms with a balanced tree (always combining the two shallowest).
    /// Returns an operand (possibly shifted) or `None` for an empty sum.
    fn sum(&mut self, terms: Vec<Term>) -> BuildResult<Option<Operand>> {
        // Constant terms (biases, products of constant activations) fold into one constant.
        let (consts, mut terms): (Vec<Term>, Vec<Term>) = terms.into_iter().partition(|(o, _)| {
            self.b.net.node(o.node).range.lo == self.b.net.node(o.node).range.hi
        });
        if !consts.is_empty() {
            let frac = consts
                .iter()
                .map(|(o, _)| self.b.net.operand_frac(o))
                .max()
                .unwrap();
            let mut total: i128 = 0;
            for (o, neg) in &consts {
                let c = self.b.net.node(o.node).range.lo;
                let s = (frac - self.b.net.operand_frac(o)) as u32;
                let v = c
                    .checked_shl(s)
                    .filter(|v| v >> s == c && v.unsigned_abs() < 1 << 120)
                    .ok_or_else(|| {
                        format!(
                            "a sum of constants whose binary points are {s} bits apart needs more \
                             than the {}-bit wire limit; narrow the bias or weight types",
                            crate::ir::fixed::MAX_WIRE_WIDTH
                        )
                    })?;
                total = total
                    .checked_add(if *neg { -v } else { v })
                    .filter(|t| t.unsigned_abs() < 1 << 120)
                    .ok_or("a sum of constants exceeds the 120-bit wire limit")?;
            }
            if total != 0 {
                let c = self.b.constant(total, frac)?;
                self.sync_levels();
                terms.push((c.op(), false));
            }
        }
        if terms.is_empty() {
            return Ok(None);
        }
        let mut heap: BinaryHeap<Reverse<(u32, usize)>> = BinaryHeap::new();
        let mut pool: Vec<Term> = Vec::new();
        for t in terms {
            heap.push(Reverse((self.level(&t.0), pool.len())));
            pool.push(t);
        }
        while heap.len() > 1 {
            let Reverse((_, i)) = heap.pop().unwrap();
            let Reverse((_, j)) = heap.pop().unwrap();
            let ((a, na), (b, nb)) = (pool[i], pool[j]);
            let (node, neg) = match (na, nb) {
                (false, false) => (self.b.add(a, b, false)?, false),
                (false, true) => (self.b.add(a, b, true)?, false),
                (true, false) => (self.b.add(b, a, true)?, false),
                (true, true) => (self.b.add(a, b, false)?, true),
            };
            self.sync_levels();
            heap.push(Reverse((self.levels[node.index()], pool.len())));
            pool.push((node.op(), neg));
        }
        let Reverse((_, i)) = heap.pop().unwrap();
        let (o, neg) = pool[i];
        if neg {
            let n = self.b.neg(o)?;
            self.sync_levels();
            Ok(Some(n.op()))
        } else {
            Ok(Some(o))
        }
    }

    /// CSD terms of `x · w · 2^-fw`.
    fn product_terms(x: NodeId, w: i64, fw: i32) -> Vec<Term> {
        csd(w as i128)
            .into_iter()
            .map(|(k, neg)| {
                (
                    Operand {
                        node: x,
                        shift: k as i32 - fw,
                    },
                    neg,
                )
            })
            .collect()
    }

    /// The signed terms of one output of a dense layer (products as shift-and-add digits, or
    /// cast products when the accumulator rounds them; the bias as a constant).
    #[allow(clippy::too_many_arguments)]
    fn dense_terms(
        &mut self,
        xs: &[NodeId],
        fxs: &[i32],
        w: &[i64],
        fw: i32,
        bias: i64,
        fb: i32,
        accum: Option<&FixedType>,
    ) -> BuildResult<Vec<Term>> {
        let mut terms: Vec<Term> = Vec::new();
        // Bias first: accum(bias).
        let (bias_m, bias_f) = match accum {
            Some(a) => (a.cast(bias as i128, fb), a.frac()),
            None => (bias as i128, fb),
        };
        let mut partial = Interval::point(bias_m);
        let mut partial_frac = bias_f;
        // A clamping accumulator (SAT, SAT_SYM, SAT_NARROW) after its first saturating cast
        // `acc`: the later steps `acc = clamp(acc + P_j)` (each `P_j` the products since the
        // step before), composed in a balanced tree instead of a chain (`clamp_steps`).
        let clamps = self.sat_tree
            && accum.is_some_and(|a| {
                matches!(
                    a.overflow,
                    Overflow::Sat | Overflow::SatSym | Overflow::SatNarrow
                )
            });
        let mut chain: Option<(Operand, Vec<Operand>)> = None;
        if bias_m != 0 {
            let c = self.b.constant(bias_m, bias_f)?;
            self.sync_levels();
            terms.push((c.op(), false));
        }
        for (i, (&x, &wi)) in xs.iter().zip(w).enumerate() {
            if wi == 0 {
                continue;
            }
            let fx = fxs[i];
            let exact = match accum {
                None => true,
                Some(a) => {
                    a.frac() >= fx + fw
                        && (a.overflow == Overflow::Wrap || {
                            let r = self.b.net.node(x).range;
                            let pr = [r.lo * wi as i128, r.hi * wi as i128];
                            let shift = (a.frac() - fx - fw) as u32;
                            pr.iter().all(|&p| {
                                p.checked_shl(shift)
                                    .is_some_and(|v| v >> shift == p && a.keeps(v))
                            })
                        })
                }
            };
            let pterms = Self::product_terms(x, wi, fw);
            let (term_range, term_frac) = if exact {
                let r = self.b.net.node(x).range;
                let (lo, hi) = if wi > 0 {
                    (r.lo * wi as i128, r.hi * wi as i128)
                } else {
                    (r.hi * wi as i128, r.lo * wi as i128)
                };
                terms.extend(pterms);
                (Interval::new(lo, hi), fx + fw)
            } else {
                let a = accum.expect("inexact products only with an accumulator");
                let p = match self.sum(pterms)? {
                    Some(p) => p,
                    None => self.b.constant(0, 0)?.op(), // a zero activation times w
                };
                let c = self.b.cast(p, *a)?;
                self.sync_levels();
                terms.push((c.op(), false));
                let n = self.b.net.node(c);
                (n.range, n.frac)
            };
            if let Some(a) = accum.filter(|a| a.overflow != Overflow::Wrap) {
                // Order-dependent saturating accumulation. `terms` hold the accumulator after
                // the previous input (a constant or a cast node) plus the products since, whose
                // partial sums are proven not to saturate: they are summed as a tree. Where a
                // partial sum may saturate, the accumulator is cast there, as hls4ml does
                // (`acc = accum_t(acc + p)` in input order): a chain of saturating adders.
                let f = partial_frac.max(term_frac);
                let lhs = partial
                    .shl((f - partial_frac) as u32)
                    .ok_or("partial sum too wide")?;
                let rhs = term_range
                    .shl((f - term_frac) as u32)
                    .ok_or("partial sum too wide")?;
                partial = lhs.add(&rhs);
                partial_frac = f;
                let s = (a.frac() - f) as u32; // accumulator values are multiples of 2^-a.frac
                let fits = a.frac() >= f
                    && partial
                        .shl(s)
                        .is_some_and(|p| a.keeps(p.lo) && a.keeps(p.hi));
                if !fits {
                    let sum = self
                        .sum(std::mem::take(&mut terms))?
                        .ok_or("internal error: an empty saturating partial sum")?;
                    match chain.as_mut() {
                        Some((_, steps)) => {
                            steps.push(sum);
                            partial = Interval::new(a.cast_min(), a.max_mantissa());
                            partial_frac = a.frac();
                        }
                        None => {
                            let c = self.b.cast(sum, *a)?;
                            self.sync_levels();
                            if clamps {
                                chain = Some((c.op(), Vec::new()));
                            } else {
                                terms.push((c.op(), false));
                            }
                            let n = self.b.net.node(c);
                            (partial, partial_frac) = (n.range, n.frac);
                        }
                    }
                }
            }
        }
        if let Some((acc, steps)) = chain {
            let a = accum.expect("a chain only with an accumulator");
            let f = self.clamp_steps(acc, &steps, a)?;
            terms.push((f, false));
        }
        Ok(terms)
    }

    /// `acc` through the clamping steps `x → clamp(x + s_j, L, H)` in order, with `[L, H]` the
    /// values a cast to `a` leaves. Such maps compose into one of the same form with variable
    /// bounds, `x → clamp(x + S, lo, hi)`: `f2 ∘ f1` has `S = S1 + S2`,
    /// `lo = clamp(lo1 + S2, lo2, hi2)`, `hi = clamp(hi1 + S2, lo2, hi2)` (clamp(x, l, h) + s
    /// = clamp(x + s, l + s, h + s), and nested clamps with l ≤ h compose). The steps are
    /// combined in a balanced tree, in order, so the depth is logarithmic in their number.
    fn clamp_steps(
        &mut self,
        acc: Operand,
        steps: &[Operand],
        a: &FixedType,
    ) -> BuildResult<Operand> {
        if steps.is_empty() {
            return Ok(acc);
        }
        let (s, bounds) = self.compose_clamps(steps, a)?;
        let x = self.b.add(acc, s, false)?;
        self.sync_levels();
        self.clamp_to(x.op(), bounds, a)
    }

    /// The composed map of `steps`: its sum and its bounds (`None`: the accumulator's own).
    #[allow(clippy::type_complexity)]
    fn compose_clamps(
        &mut self,
        steps: &[Operand],
        a: &FixedType,
    ) -> BuildResult<(Operand, Option<(Operand, Operand)>)> {
        if steps.len() == 1 {
            return Ok((steps[0], None));
        }
        let (s1, b1) = self.compose_clamps(&steps[..steps.len() / 2], a)?;
        let (s2, b2) = self.compose_clamps(&steps[steps.len() / 2..], a)?;
        let s = self.b.add(s1, s2, false)?.op();
        let (l1, h1) = match b1 {
            Some(b) => b,
            None => (
                self.b.constant(a.cast_min(), a.frac())?.op(),
                self.b.constant(a.max_mantissa(), a.frac())?.op(),
            ),
        };
        self.sync_levels();
        let l = self.b.add(l1, s2, false)?;
        let h = self.b.add(h1, s2, false)?;
        self.sync_levels();
        let l = self.clamp_to(l.op(), b2, a)?;
        let h = self.clamp_to(h.op(), b2, a)?;
        Ok((s, Some((l, h))))
    }

    /// `clamp(x, lo, hi)`: a saturating cast to `a` for its own bounds, else a min and a max.
    fn clamp_to(
        &mut self,
        x: Operand,
        bounds: Option<(Operand, Operand)>,
        a: &FixedType,
    ) -> BuildResult<Operand> {
        let r = match bounds {
            None => self.b.cast(x, *a)?,
            Some((lo, hi)) => {
                let m = self.b.max(x, hi, true)?;
                self.sync_levels();
                self.b.max(m.op(), lo, false)?
            }
        };
        self.sync_levels();
        Ok(r.op())
    }

    /// The range of `Σ terms` as a linear form over the distinct nodes it reads: each node's
    /// coefficient times its range, at the finest frac of the terms. This is tighter than the
    /// range of an adder tree over the same terms whenever a node occurs in several terms (the
    /// signed digits of one weight, or shared subexpressions that overlap), and it is a sound
    /// bound on the value whatever tree computes it. `None` for an empty sum or on overflow.
    pub(super) fn linear_range(&self, terms: &[Term]) -> Option<(Interval, i32)> {
        let net = &self.b.net;
        let f = terms.iter().map(|(o, _)| net.operand_frac(o)).max()?;
        let mut coef: std::collections::BTreeMap<NodeId, i128> = Default::default();
        for (o, neg) in terms {
            let s = u32::try_from(f - net.operand_frac(o)).ok()?;
            let c = 1i128.checked_shl(s).filter(|&c| c > 0 && s < 100)?;
            let e = coef.entry(o.node).or_insert(0);
            *e = e.checked_add(if *neg { -c } else { c })?;
        }
        let (mut lo, mut hi) = (0i128, 0i128);
        for (node, c) in coef {
            let r = net.node(node).range;
            let (a, b) = (r.lo.checked_mul(c)?, r.hi.checked_mul(c)?);
            lo = lo.checked_add(a.min(b))?;
            hi = hi.checked_add(a.max(b))?;
        }
        Some((Interval::new(lo, hi), f))
    }

    /// Narrows the range of `o`'s node to the linear bound `(range, frac)` of the value it
    /// computes (see [`Self::linear_range`]), when that is tighter. The node's value is the
    /// same, so every reader stays exact; readers built later see the narrower range.
    fn tighten(&mut self, o: &Operand, bound: Option<(Interval, i32)>) {
        let Some((r, f)) = bound else { return };
        let fo = self.b.net.operand_frac(o);
        // The operand's mantissa (at frac fo) is the node's mantissa.
        let (lo, hi) = if fo >= f {
            let s = (fo - f) as u32;
            match (r.lo.checked_shl(s), r.hi.checked_shl(s)) {
                (Some(lo), Some(hi)) if lo >> s == r.lo && hi >> s == r.hi => (lo, hi),
                _ => return,
            }
        } else {
            // Values on the coarser grid of the operand: round the bounds inwards.
            let d = 1i128 << ((f - fo) as u32).min(126);
            (
                r.lo.div_euclid(d) + (r.lo.rem_euclid(d) != 0) as i128,
                r.hi.div_euclid(d),
            )
        };
        let node = &mut self.b.net.nodes[o.node.index()];
        if matches!(node.op, Op::Input { .. } | Op::Const { .. }) {
            return;
        }
        let (lo, hi) = (lo.max(node.range.lo), hi.min(node.range.hi));
        if lo <= hi && (lo, hi) != (node.range.lo, node.range.hi) {
            node.range = Interval::new(lo, hi);
            node.bits = node.range.width();
        }
    }

    /// Sums the terms of one dense output, wraps a WRAP accumulator and casts to the result.
    /// `exact` are the output's terms before sharing (the same value, for [`Self::tighten`]).
    fn dense_finish(
        &mut self,
        mut terms: Vec<Term>,
        exact: &[Term],
        accum: Option<&FixedType>,
        result: FixedType,
        consumer_rnd: Option<i32>,
    ) -> BuildResult<Finished> {
        // RND is floor(x + half an LSB): with an exact sum, the halves of this layer's result
        // cast and of a consumer's RND cast (see `rnd_consumer`) join the constant terms, so
        // the casts need no rounding adder. A WRAP accumulator wraps before the result cast,
        // so it keeps its rounding.
        let exact_sum = accum.is_none_or(|a| a.overflow != Overflow::Wrap);
        let term_frac = terms.iter().map(|(o, _)| self.b.net.operand_frac(o)).max();
        let mut halves = Vec::new();
        let mut result_ty = result;
        if let (true, Some(f)) = (exact_sum, term_frac) {
            if result.round == Round::Rnd && f > result.frac() {
                halves.push(result.frac() + 1);
                result_ty = result.with_modes(Round::Trn, result.overflow);
            }
        }
        // The consumer rounds only when it drops bits of this layer's result. Its half can join
        // the sum when it passes the result cast unchanged: floor(x) + h = floor(x + h) needs a
        // truncating cast (or one that drops nothing) with h on the result's grid, and no
        // overflow (checked below, once the sum's range is known).
        let consumer_rounds = consumer_rnd.is_some_and(|cf| result.frac() > cf);
        let mut folded_consumer = false;
        if let (true, true, Some(f), Some(cf)) =
            (consumer_rounds, exact_sum, term_frac, consumer_rnd)
        {
            let passes = result_ty.round == Round::Trn || result.frac() >= f;
            if f > cf && passes {
                halves.push(cf + 1);
                folded_consumer = true;
            }
        }
        // Without its half the consumer may still truncate if the bits it drops are zero: the
        // sum's grid is no finer than the consumer's and no saturation creates other codes.
        let grid_coarse = term_frac.is_none_or(|f| consumer_rnd.is_some_and(|cf| f <= cf));
        let mut exact = exact.to_vec();
        for h in halves {
            let c = self.b.constant(1, h)?;
            terms.push((c.op(), false));
            exact.push((c.op(), false));
        }
        self.sync_levels();
        let sum = match self.sum(terms)? {
            Some(s) => s,
            None => self.b.constant(0, 0)?.op(),
        };
        let bound = self.linear_range(&exact);
        self.tighten(&sum, bound);
        let sum = match accum {
            Some(a) if a.overflow == Overflow::Wrap => self.b.cast(sum, *a)?.op(),
            _ => sum,
        };
        self.sync_levels();
        // The consumer's half passes through this cast only if it cannot overflow.
        // (Saturation would also create codes whose dropped bits are not zero.)
        let plan = self.b.net.cast_plan(&sum, &result_ty);
        let consumer_ok = if !consumer_rounds {
            true
        } else if folded_consumer {
            // Neither the sum with the consumer's half nor the sum without it may overflow.
            let cf = consumer_rnd.expect("folded only with a consumer");
            let fs = self.b.net.operand_frac(&sum);
            let r = self.b.net.node(sum.node).range;
            let half = 1i128 << (fs - cf - 1).max(0);
            let lo =
                crate::ir::fixed::round_shift(r.lo - half, fs, result_ty.frac(), result_ty.round);
            let hi =
                crate::ir::fixed::round_shift(r.hi - half, fs, result_ty.frac(), result_ty.round);
            !plan.overflows && result_ty.keeps(lo) && result_ty.keeps(hi)
        } else {
            grid_coarse && !plan.saturates()
        };
        let out = self.b.cast(sum, result_ty)?;
        self.sync_levels();
        Ok(Finished {
            node: out,
            consumer_ok,
        })
    }
}

/// One finished dense output.
struct Finished {
    node: NodeId,
    /// The consumer may cast with TRN: its half was added and the result cast cannot
    /// overflow, or it drops only zero bits anyway.
    consumer_ok: bool,
}

/// The frac of the RND cast of the single layer that reads dense layer `k`'s output, when that
/// cast can take its rounding half from the dense sum instead: a `quantize`, or a `relu`
/// (relu(⌊x + h⌋) = ⌊relu(x) + h⌋ for h below one LSB), whose result rounds with RND, and the
/// dense output feeds nothing else.
fn rnd_consumer(g: &LayerGraph, k: usize) -> Option<(usize, i32)> {
    let t = g.inputs.len() + k;
    if g.outputs.contains(&t) {
        return None;
    }
    let mut readers = g.layers.iter().enumerate().filter(|(_, l)| l.reads(t));
    let (c, layer) = readers.next()?;
    if readers.next().is_some()
        || !matches!(layer.kind, LayerKind::Relu | LayerKind::Quantize)
        || layer.output.ty.round != Round::Rnd
    {
        return None;
    }
    Some((c, layer.output.ty.frac()))
}
