//! Test vectors: corner cases first, then seeded random vectors.
//!
//! Corner cases: all zeros, all minimum codes, all maximum codes, alternating min/max,
//! ±1 LSB everywhere, each element alone at its min and max (the rest zero), and small
//! magnitudes that make rounding ties frequent downstream.

use crate::ir::fixed::{FixedType, Overflow};
use ndarray::Array2;

/// A small deterministic PRNG (SplitMix64): reproducible vectors without a dependency.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform mantissa of a type (the code a `SAT_NARROW` type excludes becomes its
    /// neighbour).
    pub fn mantissa(&mut self, t: &FixedType) -> i64 {
        let r = self.next_u64();
        let w = t.width;
        let bits = if w >= 64 { r } else { r & ((1u64 << w) - 1) };
        let m = if t.signed && w < 64 && (bits >> (w - 1)) & 1 == 1 {
            (bits as i64) - (1i64 << w)
        } else {
            bits as i64
        };
        if t.overflow == Overflow::SatNarrow {
            clamp(t, m.into())
        } else {
            m
        }
    }
}

fn clamp(t: &FixedType, v: i128) -> i64 {
    v.clamp(t.min_mantissa(), t.max_mantissa()) as i64
}

/// Corner vectors followed by `random` random ones.
pub fn generate(types: &[FixedType], random: usize, seed: u64) -> Array2<i64> {
    let n = types.len();
    let mut rows: Vec<Vec<i64>> = Vec::new();
    let all = |f: &dyn Fn(usize, &FixedType) -> i64| {
        types
            .iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect::<Vec<_>>()
    };
    rows.push(all(&|_, _| 0));
    rows.push(all(&|_, t| t.min_mantissa() as i64));
    rows.push(all(&|_, t| t.max_mantissa() as i64));
    rows.push(all(&|i, t| {
        if i % 2 == 0 {
            t.min_mantissa() as i64
        } else {
            t.max_mantissa() as i64
        }
    }));
    rows.push(all(&|i, t| {
        if i % 2 == 1 {
            t.min_mantissa() as i64
        } else {
            t.max_mantissa() as i64
        }
    }));
    rows.push(all(&|_, t| clamp(t, 1)));
    rows.push(all(&|_, t| clamp(t, -1)));
    for k in 0..n.min(64) {
        for v in [
            |t: &FixedType| t.min_mantissa(),
            |t: &FixedType| t.max_mantissa(),
        ] {
            rows.push(all(&|i, t| if i == k { v(t) as i64 } else { 0 }));
        }
    }
    let mut rng = SplitMix(seed);
    // Small magnitudes: ties after rounding are common.
    for _ in 0..32 {
        let row = types
            .iter()
            .map(|t| clamp(t, (rng.next_u64() % 9) as i128 - 4))
            .collect();
        rows.push(row);
    }
    for _ in 0..random {
        let row = types.iter().map(|t| rng.mantissa(t)).collect();
        rows.push(row);
    }
    let m = rows.len();
    Array2::from_shape_vec((m, n), rows.into_iter().flatten().collect()).expect("rectangular")
}
