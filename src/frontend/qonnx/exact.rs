//! Exact constants: binary fractions (`m · 2^-f`) and the tensors made of them.
//!
//! Every finite float is a binary fraction, so ONNX initializers convert without loss, and
//! the folding the QONNX frontend does on them (quantizing weights, scaling by powers of two,
//! folding biases and batch normalisation) stays exact. An operation whose result would need
//! more than 120 bits fails instead of rounding.

use crate::ir::fixed::{f64_to_mantissa, mantissa_to_f64, FixedType};
use crate::ir::interval::Interval;
use std::cmp::Ordering;

/// Largest mantissa magnitude kept (the rounding helpers need |m| < 2^120).
const LIMIT_BITS: u32 = 120;

/// The exact value `m · 2^-f`, normalised: `m` is odd, or zero with `f = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dyadic {
    m: i128,
    f: i32,
}

impl Dyadic {
    pub const ZERO: Dyadic = Dyadic { m: 0, f: 0 };
    pub const ONE: Dyadic = Dyadic { m: 1, f: 0 };

    /// `m · 2^-f`; `None` when `|m|` is too large to compute with.
    pub fn new(m: i128, f: i32) -> Option<Dyadic> {
        if m == 0 {
            return Some(Dyadic::ZERO);
        }
        if m.unsigned_abs() >> LIMIT_BITS != 0 {
            return None;
        }
        let tz = m.trailing_zeros();
        Some(Dyadic {
            m: m >> tz,
            f: f.checked_sub(tz as i32)?,
        })
    }

    /// `2^e`.
    pub fn pow2(e: i32) -> Dyadic {
        Dyadic { m: 1, f: -e }
    }

    pub fn from_f64(x: f64) -> Result<Dyadic, String> {
        let (m, f) = f64_to_mantissa(x)?;
        Ok(Dyadic::new(m, f).expect("an f64 mantissa has 53 bits"))
    }

    pub fn to_f64(self) -> f64 {
        mantissa_to_f64(self.m, self.f)
    }

    /// Fractional bits of the normalised form (may be negative).
    pub fn frac(self) -> i32 {
        self.f
    }

    pub fn is_zero(self) -> bool {
        self.m == 0
    }

    pub fn is_negative(self) -> bool {
        self.m < 0
    }

    /// `e` when the value is exactly `2^e`.
    pub fn log2(self) -> Option<i32> {
        (self.m == 1).then_some(-self.f)
    }

    /// The value as an integer, when it is one.
    pub fn to_integer(self) -> Option<i128> {
        if self.f <= 0 {
            self.m
                .checked_shl((-self.f) as u32)
                .filter(|v| v >> (-self.f) == self.m)
        } else {
            None
        }
    }

    /// The mantissa at `frac` fractional bits (`frac ≥ self.frac()`), if it fits 120 bits.
    pub fn mantissa_at(self, frac: i32) -> Option<i128> {
        if self.m == 0 {
            return Some(0);
        }
        let s = u32::try_from(i64::from(frac) - i64::from(self.f)).ok()?;
        let bits = 128 - self.m.unsigned_abs().leading_zeros();
        (bits + s <= LIMIT_BITS).then(|| self.m << s)
    }

    pub fn neg(self) -> Dyadic {
        Dyadic {
            m: -self.m,
            f: self.f,
        }
    }

    pub fn mul(self, o: Dyadic) -> Option<Dyadic> {
        Dyadic::new(self.m.checked_mul(o.m)?, self.f.checked_add(o.f)?)
    }

    pub fn add(self, o: Dyadic) -> Option<Dyadic> {
        if self.m == 0 {
            return Some(o);
        }
        if o.m == 0 {
            return Some(self);
        }
        let f = self.f.max(o.f);
        Dyadic::new(self.mantissa_at(f)?.checked_add(o.mantissa_at(f)?)?, f)
    }

    pub fn sub(self, o: Dyadic) -> Option<Dyadic> {
        self.add(o.neg())
    }

    /// `self / o`, when the quotient is a binary fraction (e.g. `o` a power of two) and `o`
    /// is not zero.
    pub fn div(self, o: Dyadic) -> Option<Dyadic> {
        match o.m {
            0 => return None,
            // ±2^(-o.f): an exact shift whatever the width of `self`.
            1 | -1 => return Dyadic::new(self.m * o.m, self.f.checked_sub(o.f)?),
            _ => {}
        }
        let q = Dyadic::from_f64(self.to_f64() / o.to_f64()).ok()?;
        (q.mul(o)? == self).then_some(q)
    }

    /// The square root, when it is a binary fraction.
    pub fn sqrt(self) -> Option<Dyadic> {
        if self.m < 0 {
            return None;
        }
        let r = Dyadic::from_f64(self.to_f64().sqrt()).ok()?;
        (r.mul(r)? == self).then_some(r)
    }

    /// The mantissa of this value cast to `ty` (its rounding, then its overflow handling).
    pub fn cast(self, ty: &FixedType) -> i128 {
        ty.cast(self.m, self.f)
    }
}

impl Ord for Dyadic {
    fn cmp(&self, o: &Dyadic) -> Ordering {
        match (self.m.signum().cmp(&o.m.signum()), self.m) {
            (Ordering::Equal, 0) => Ordering::Equal,
            (Ordering::Equal, _) => {
                // Same sign: compare at the finer grid, by exponent first when far apart.
                let mag = |d: &Dyadic| 127 - d.m.unsigned_abs().leading_zeros() as i32 - d.f;
                let by_mag = mag(self).cmp(&mag(o));
                let by_mag = if self.m < 0 { by_mag.reverse() } else { by_mag };
                if by_mag != Ordering::Equal {
                    return by_mag;
                }
                let f = self.f.max(o.f);
                self.mantissa_at(f).cmp(&o.mantissa_at(f))
            }
            (sign, _) => sign,
        }
    }
}

impl PartialOrd for Dyadic {
    fn partial_cmp(&self, o: &Dyadic) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A constant tensor in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstTensor {
    pub shape: Vec<usize>,
    pub data: Vec<Dyadic>,
}

impl ConstTensor {
    pub fn scalar(v: Dyadic) -> ConstTensor {
        ConstTensor {
            shape: vec![],
            data: vec![v],
        }
    }

    /// The single value of a tensor whose elements are all equal (a scalar, `[1]`, or a
    /// broadcast constant).
    pub fn uniform(&self) -> Option<Dyadic> {
        let first = *self.data.first()?;
        self.data.iter().all(|&v| v == first).then_some(first)
    }

    /// Applies `op` element-wise with numpy broadcasting; `None` when the shapes do not
    /// broadcast, `Some(Err(k))` when `op` fails on output element `k`.
    pub fn zip_with<E>(
        &self,
        o: &ConstTensor,
        mut op: impl FnMut(Dyadic, Dyadic) -> Result<Dyadic, E>,
    ) -> Option<Result<ConstTensor, E>> {
        let shape = broadcast_shape(&self.shape, &o.shape)?;
        let (ia, ib) = (self.broadcast_index(&shape), o.broadcast_index(&shape));
        let data = ia
            .iter()
            .zip(&ib)
            .map(|(&a, &b)| op(self.data[a], o.data[b]))
            .collect::<Result<Vec<_>, E>>();
        Some(data.map(|data| ConstTensor { shape, data }))
    }

    /// For each element of a tensor of shape `to` (which this one broadcasts to), the index
    /// of the element of this tensor it reads.
    pub fn broadcast_index(&self, to: &[usize]) -> Vec<usize> {
        let n: usize = to.iter().product();
        let pad = to.len() - self.shape.len();
        let mut strides = vec![0usize; to.len()];
        let mut s = 1;
        for (k, &d) in self.shape.iter().enumerate().rev() {
            strides[pad + k] = if d == 1 { 0 } else { s };
            s *= d;
        }
        (0..n)
            .map(|mut flat| {
                let mut idx = 0;
                for (k, &d) in to.iter().enumerate().rev() {
                    idx += (flat % d) * strides[k];
                    flat /= d;
                }
                idx
            })
            .collect()
    }

    /// The values along the last axis of a tensor of `n` channels: a scalar, or a tensor
    /// whose leading axes are all 1 and whose last axis is `n` or 1.
    pub fn per_channel(&self, n: usize) -> Option<Vec<Dyadic>> {
        let (last, lead) = match self.shape.split_last() {
            None => (1, &[][..]),
            Some((&l, lead)) => (l, lead),
        };
        if lead.iter().any(|&d| d != 1) || (last != n && last != 1) {
            return None;
        }
        Some(
            (0..n)
                .map(|j| self.data[if last == 1 { 0 } else { j }])
                .collect(),
        )
    }

    /// Reorders the axes: output axis `k` is input axis `perm[k]`.
    pub fn transpose(&self, perm: &[usize]) -> Option<ConstTensor> {
        let rank = self.shape.len();
        let mut seen = vec![false; rank];
        if perm.len() != rank
            || perm
                .iter()
                .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            return None;
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let mut in_strides = vec![1usize; rank];
        for k in (0..rank.saturating_sub(1)).rev() {
            in_strides[k] = in_strides[k + 1] * self.shape[k + 1];
        }
        let n = self.data.len();
        let data = (0..n)
            .map(|mut flat| {
                let mut src = 0;
                for k in (0..rank).rev() {
                    src += (flat % shape[k]) * in_strides[perm[k]];
                    flat /= shape[k];
                }
                self.data[src]
            })
            .collect();
        Some(ConstTensor { shape, data })
    }

    /// The smallest fixed-point type that holds every element exactly (its width may exceed
    /// what a type allows: callers check), with the mantissas in it; `None` when the
    /// mantissas would exceed 120 bits.
    pub fn fixed(&self) -> Option<(FixedType, Vec<i128>)> {
        let frac = self
            .data
            .iter()
            .filter(|v| !v.is_zero())
            .map(|v| v.frac())
            .max()
            .unwrap_or(0);
        let m = self
            .data
            .iter()
            .map(|v| v.mantissa_at(frac))
            .collect::<Option<Vec<i128>>>()?;
        let lo = m.iter().copied().min().unwrap_or(0);
        let hi = m.iter().copied().max().unwrap_or(0);
        let range = Interval::new(lo, hi);
        let width = range.width();
        Some((
            FixedType::new(range.signed(), width, width as i32 - frac),
            m,
        ))
    }
}

/// The numpy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], k: usize| {
        let pad = rank - s.len();
        if k < pad {
            1
        } else {
            s[k - pad]
        }
    };
    (0..rank)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: f64) -> Dyadic {
        Dyadic::from_f64(x).unwrap()
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(d(0.75).mul(d(-0.5)), Some(d(-0.375)));
        let tiny = d(0.75 * 2f64.powi(-100));
        assert_eq!(tiny.add(d(1.0)).unwrap().sub(d(1.0)), Some(tiny));
        // Past 120 bits, arithmetic refuses instead of rounding.
        assert_eq!(d(1e-30).add(d(1.0)), None);
        assert_eq!(d(3.0).div(d(0.25)), Some(d(12.0)));
        assert_eq!(d(1.0).div(d(3.0)), None);
        assert_eq!(d(2.25).sqrt(), Some(d(1.5)));
        assert_eq!(d(2.0).sqrt(), None);
        assert_eq!(d(0.125).log2(), Some(-3));
        assert_eq!(d(0.375).log2(), None);
        assert_eq!(d(-6.0).to_integer(), Some(-6));
        assert!(d(-1e300) < d(-1.0) && d(-1.0) < d(0.0) && d(1e-300) < d(1.0));
        assert!(d(0.5) < d(0.75) && d(-0.75) < d(-0.5));
    }

    #[test]
    fn broadcasting_and_layout() {
        let a = ConstTensor {
            shape: vec![2, 3],
            data: (0..6).map(|k| d(k as f64)).collect(),
        };
        let col = ConstTensor {
            shape: vec![1, 3],
            data: vec![d(10.0), d(20.0), d(30.0)],
        };
        let sum = a
            .zip_with(&col, |x, y| x.add(y).ok_or(()))
            .unwrap()
            .unwrap();
        let want: Vec<Dyadic> = [10.0, 21.0, 32.0, 13.0, 24.0, 35.0].map(d).to_vec();
        assert_eq!(sum.data, want);
        let t = a.transpose(&[1, 0]).unwrap();
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.data, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0].map(d).to_vec());
        assert_eq!(col.per_channel(3).unwrap()[2], d(30.0));
        assert!(a.per_channel(3).is_none());
        let (ty, m) = ConstTensor {
            shape: vec![3],
            data: vec![d(0.5), d(-0.25), d(0.0)],
        }
        .fixed()
        .unwrap();
        assert_eq!(
            (ty.to_string(), m),
            ("fixed<3,1>".to_string(), vec![2, -1, 0])
        );
    }
}
