//! Layer-level value intervals: for every tensor element, the interval and the grid of the
//! values it can take for any input inside the declared input types.
//!
//! Dense, relu, quantize (also per element) and flatten layers are analysed; any other kind is taken to produce
//! every value of its result type (sound, since each element holds a value of its type).
//!
//! The analysis follows the exact semantics of `docs/model-format.md` (hls4ml Latency
//! dense, `x > 0 ? R(x) : 0` ReLU, casts with the target's rounding and overflow), one
//! element at a time. A dense output's interval is exact for independent inputs (the first
//! layer) and a sound enclosure afterwards. It also tracks the *grid*: every value of a
//! [`Span`] is a multiple of `2^-frac`, where `frac` is as small as the arithmetic allows
//! (a weight with trailing zero bits, or an input on a coarse grid, gives coarser products).

use crate::ir::fixed::{round_shift, FixedType};
use crate::ir::interval::Interval;
use crate::ir::layers::{LayerGraph, LayerKind};
use crate::ir::netlist::cast_range;

/// Values `m · 2^-frac` for integer mantissas `m` in `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub lo: i128,
    pub hi: i128,
    pub frac: i32,
}

/// Widest mantissa the analysis handles (the compiler's own wire limit is 120 bits).
const LIMIT_BITS: u32 = 120;

impl Span {
    pub fn point(v: i128, frac: i32) -> Span {
        let (mut v, mut frac) = (v, frac);
        if v == 0 {
            frac = i32::MIN / 4; // zero lies on every grid
        } else {
            while v & 1 == 0 {
                v >>= 1;
                frac -= 1;
            }
        }
        Span { lo: v, hi: v, frac }
    }

    pub fn is_zero(&self) -> bool {
        self.lo == 0 && self.hi == 0
    }

    /// The interval of mantissas at `frac ≥ self.frac`; `None` past the width limit.
    pub fn at(&self, frac: i32) -> Option<Interval> {
        if self.is_zero() {
            return Some(Interval::point(0));
        }
        let s = u32::try_from(i64::from(frac) - i64::from(self.frac)).ok()?;
        let r = Interval::new(self.lo, self.hi).shl(s)?;
        (r.width() <= LIMIT_BITS).then_some(r)
    }

    /// Smallest span holding both.
    pub fn hull(&self, o: &Span) -> Option<Span> {
        if self.is_zero() && o.is_zero() {
            return Some(*self);
        }
        let f = self.frac.max(o.frac);
        let r = self.at(f)?.hull(&o.at(f)?);
        Some(Span {
            lo: r.lo,
            hi: r.hi,
            frac: f,
        })
    }

    /// Interval sum (both operands range independently).
    pub fn add(&self, o: &Span) -> Option<Span> {
        if self.is_zero() {
            return Some(*o);
        }
        if o.is_zero() {
            return Some(*self);
        }
        let f = self.frac.max(o.frac);
        let r = self.at(f)?.add(&o.at(f)?);
        (r.width() <= LIMIT_BITS).then_some(Span {
            lo: r.lo,
            hi: r.hi,
            frac: f,
        })
    }

    /// Times an integer mantissa `w` of a type with `wf` fractional bits.
    pub fn mul(&self, w: i64, wf: i32) -> Option<Span> {
        if w == 0 || self.is_zero() {
            return Some(Span::point(0, 0));
        }
        let w = Span::point(i128::from(w), wf); // trailing zeros moved into the grid
        let (a, b) = (self.lo.checked_mul(w.lo)?, self.hi.checked_mul(w.lo)?);
        let r = Interval::new(a.min(b), a.max(b));
        (r.width() <= LIMIT_BITS).then_some(Span {
            lo: r.lo,
            hi: r.hi,
            frac: self.frac + w.frac,
        })
    }

    /// The rounded mantissa interval at `to`'s frac, before overflow handling.
    pub fn rounded(&self, to: &FixedType) -> Option<Interval> {
        let f = to.frac();
        if self.is_zero() {
            return Some(Interval::point(0));
        }
        if f >= self.frac {
            return self.at(f);
        }
        Some(Interval::new(
            round_shift(self.lo, self.frac, f, to.round),
            round_shift(self.hi, self.frac, f, to.round),
        ))
    }

    /// Can a cast to `to` overflow (before its overflow mode acts)?
    pub fn overflows(&self, to: &FixedType) -> Option<bool> {
        let r = self.rounded(to)?;
        Some(!(to.keeps(r.lo) && to.keeps(r.hi)))
    }

    /// The values of `to(x)` for `x` in the span (exact rounding and overflow).
    pub fn cast(&self, to: &FixedType) -> Option<Span> {
        if !self.overflows(to)? && to.frac() >= self.frac {
            return Some(*self); // on the grid and in range: the value is unchanged
        }
        let r = self.rounded(to)?;
        let c = if to.keeps(r.lo) && to.keeps(r.hi) {
            r
        } else {
            // Rounded endpoints are known exactly, so re-deriving them at the target frac is
            // exact; `cast_range` applies the overflow mode to them.
            cast_range(r, to.frac(), to)
        };
        Some(Span {
            lo: c.lo,
            hi: c.hi,
            frac: to.frac(),
        })
    }

    /// The values of `x > 0 ? to(x) : 0`.
    pub fn relu_cast(&self, to: &FixedType) -> Option<Span> {
        if self.hi <= 0 {
            return Some(Span::point(0, 0));
        }
        let pos = Span {
            lo: self.lo.max(0),
            ..*self
        };
        pos.cast(to)?.hull(&Span::point(0, 0))
    }
}

/// What the analysis found for one dense layer's accumulation (per output element).
#[derive(Clone, Debug)]
pub struct Accumulation {
    /// The exact sum before any accumulator wrap (products already cast to the accumulator
    /// when it rounds them).
    pub sum: Vec<Span>,
    /// No product or bias is rounded by the accumulator (its grid holds every term).
    pub terms_exact: bool,
}

/// Spans of every tensor element, and of the values each layer casts.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Per tensor (inputs first, then layers), per element.
    pub tensors: Vec<Vec<Span>>,
    /// Per layer, per output element: the value fed into the layer's result cast (a dense
    /// accumulator's value, the input of a relu or quantize); `None` for flatten.
    pub sources: Vec<Option<Vec<Span>>>,
    /// Per layer: the accumulation of a dense layer with an explicit accumulator.
    pub accum: Vec<Option<Accumulation>>,
}

impl Analysis {
    /// One span covering every element of tensor `t`.
    pub fn tensor_hull(&self, t: usize) -> Option<Span> {
        hull_all(&self.tensors[t])
    }
    /// One span covering the values layer `k` casts to its result type.
    pub fn source_hull(&self, k: usize) -> Option<Span> {
        hull_all(self.sources[k].as_ref()?)
    }
}

pub fn hull_all(spans: &[Span]) -> Option<Span> {
    let mut it = spans.iter();
    let first = *it.next()?;
    it.try_fold(first, |acc, s| acc.hull(s))
}

/// One layer's sources, result spans and accumulation (see [`Analysis`]).
type LayerSpans = (Option<Vec<Span>>, Vec<Span>, Option<Accumulation>);

/// Analyses a graph. A layer the analysis cannot handle (a value past [`LIMIT_BITS`]) is
/// treated like an unanalysed kind: its elements may hold any value of its result type, and
/// it has no sources. A saturating accumulator that may saturate holds any value its casts
/// produce.
pub fn analyze(g: &LayerGraph) -> Analysis {
    let mut tensors: Vec<Vec<Span>> = g
        .inputs
        .iter()
        .map(|t| {
            let s = Span {
                lo: t.ty.min_mantissa(),
                hi: t.ty.max_mantissa(),
                frac: t.ty.frac(),
            };
            vec![s; t.len()]
        })
        .collect();
    let mut sources = Vec::with_capacity(g.layers.len());
    let mut accums = Vec::with_capacity(g.layers.len());
    for layer in &g.layers {
        let x = &tensors[layer.input];
        let ty = layer.output.ty;
        let full = Span {
            lo: ty.min_mantissa(),
            hi: ty.max_mantissa(),
            frac: ty.frac(),
        };
        // `None`: this layer cannot be analysed (a value past the width limit); it is then
        // treated like an unanalysed kind.
        let analysed = (|| -> Option<LayerSpans> {
            Some(match &layer.kind {
                LayerKind::Flatten => (None, x.clone(), None),
                LayerKind::Quantize => {
                    let out = x.iter().map(|s| s.cast(&ty)).collect::<Option<_>>()?;
                    (Some(x.clone()), out, None)
                }
                LayerKind::Relu => {
                    let out = x.iter().map(|s| s.relu_cast(&ty)).collect::<Option<_>>()?;
                    (Some(x.clone()), out, None)
                }
                // Each element cast to its own type (held exactly in the result type).
                LayerKind::QuantizeEach { types } => {
                    let out = x
                        .iter()
                        .zip(types)
                        .map(|(s, t)| s.cast(t))
                        .collect::<Option<_>>()?;
                    (Some(x.clone()), out, None)
                }
                LayerKind::Dense {
                    weight,
                    bias,
                    accum,
                } => {
                    let (n_in, n_out) = weight.data.dim();
                    let (fw, fb) = (weight.ty.frac(), bias.ty.frac());
                    let mut src = Vec::with_capacity(x.len() / n_in * n_out);
                    let mut sums = Vec::new();
                    let mut terms_exact = true;
                    for row in x.chunks(n_in) {
                        for j in 0..n_out {
                            let b = i128::from(bias.data[j]);
                            let exact_bias = Span::point(b, fb);
                            let mut sum = match accum {
                                None => exact_bias,
                                Some(a) => {
                                    terms_exact &= !exact_bias.overflows(a)?
                                        && (exact_bias.is_zero() || exact_bias.frac <= a.frac());
                                    Span::point(a.cast(b, fb), a.frac())
                                }
                            };
                            for (i, xi) in row.iter().enumerate() {
                                let w = weight.data[[i, j]];
                                if w == 0 {
                                    continue;
                                }
                                let p = xi.mul(w, fw)?;
                                let p = match accum {
                                    Some(a) if p.frac > a.frac() => {
                                        terms_exact = false;
                                        let r = p.rounded(a)?;
                                        Span {
                                            lo: r.lo,
                                            hi: r.hi,
                                            frac: a.frac(),
                                        }
                                    }
                                    _ => p,
                                };
                                sum = sum.add(&p)?;
                            }
                            let value = match accum {
                                None => sum,
                                Some(a) => {
                                    sums.push(sum);
                                    // Modular (WRAP) or proven non-saturating accumulation: the
                                    // accumulator holds the sum, wrapped when it can leave the range.
                                    if sum.overflows(a)? {
                                        // Saturating partial sums (a chain in input order) or
                                        // a wrap: any value the accumulator's casts produce.
                                        Span {
                                            lo: a.cast_min(),
                                            hi: a.max_mantissa(),
                                            frac: a.frac(),
                                        }
                                    } else {
                                        sum
                                    }
                                }
                            };
                            src.push(value);
                        }
                    }
                    let out = src.iter().map(|s| s.cast(&ty)).collect::<Option<_>>()?;
                    let acc = accum.map(|_| Accumulation {
                        sum: sums,
                        terms_exact,
                    });
                    (Some(src), out, acc)
                }
                // Other kinds are not analysed.
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
                | LayerKind::Softmax { .. } => return None,
            })
        })();
        // Unanalysed: every element holds some value of its type (sound).
        let (src, out, acc) =
            analysed.unwrap_or_else(|| (None, vec![full; layer.output.len()], None));
        sources.push(src);
        accums.push(acc);
        tensors.push(out);
    }
    Analysis {
        tensors,
        sources,
        accum: accums,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_casts() {
        let x = Span {
            lo: -8,
            hi: 8,
            frac: 2,
        }; // [-2, 2] in quarters
           // Weight 0.75 = 3/4 (fixed<4,1>: mantissa 6, frac 3): trailing zero moves to the grid.
        let p = x.mul(6, 3).unwrap();
        assert_eq!(
            p,
            Span {
                lo: -24,
                hi: 24,
                frac: 4
            }
        );
        let t: FixedType = "fixed<6,2,TRN,SAT>".parse().unwrap(); // [-2, 2) in sixteenths
        let c = p.cast(&t).unwrap();
        assert_eq!((c.lo, c.hi, c.frac), (-24, 24, 4)); // fits: unchanged
        let narrow: FixedType = "fixed<4,1,TRN,SAT>".parse().unwrap(); // [-1, 0.875] in eighths
        let c = p.cast(&narrow).unwrap();
        assert_eq!((c.lo, c.hi, c.frac), (-8, 7, 3));
        let r = p.relu_cast(&narrow).unwrap();
        assert_eq!((r.lo, r.hi, r.frac), (0, 7, 3));
        assert!(Span::point(0, 5).is_zero());
        assert_eq!(
            Span::point(12, 0),
            Span {
                lo: 3,
                hi: 3,
                frac: -2
            }
        );
    }
}
