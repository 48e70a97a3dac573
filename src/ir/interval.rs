//! Exact value intervals of integer mantissas, and the wire widths they imply.

use super::fixed::MAX_WIRE_WIDTH;

/// The closed interval `[lo, hi]` of mantissas a wire can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    pub lo: i128,
    pub hi: i128,
}

impl Interval {
    pub fn new(lo: i128, hi: i128) -> Self {
        debug_assert!(lo <= hi);
        Interval { lo, hi }
    }
    pub fn point(v: i128) -> Self {
        Interval { lo: v, hi: v }
    }
    /// Is any value negative? Then the wire is two's complement.
    pub fn signed(&self) -> bool {
        self.lo < 0
    }
    /// Minimal number of bits to hold every value (two's complement when signed), at least 1.
    pub fn width(&self) -> u32 {
        if self.signed() {
            let neg = bits_signed(self.lo);
            let pos = if self.hi >= 0 {
                bits_unsigned(self.hi as u128) + 1
            } else {
                1
            };
            neg.max(pos)
        } else {
            bits_unsigned(self.hi as u128).max(1)
        }
    }
    /// Scales the interval by `2^shift` (shift ≥ 0) — `None` when that would exceed the limits.
    pub fn shl(&self, shift: u32) -> Option<Interval> {
        let lim = 1i128 << MAX_WIRE_WIDTH;
        if shift > MAX_WIRE_WIDTH {
            return if self.lo == 0 && self.hi == 0 {
                Some(*self)
            } else {
                None
            };
        }
        let (lo, hi) = (self.lo.checked_shl(shift)?, self.hi.checked_shl(shift)?);
        if (lo >> shift) != self.lo || (hi >> shift) != self.hi || lo < -lim || hi > lim {
            return None;
        }
        Some(Interval { lo, hi })
    }
    pub fn add(&self, o: &Interval) -> Interval {
        Interval {
            lo: self.lo + o.lo,
            hi: self.hi + o.hi,
        }
    }
    pub fn sub(&self, o: &Interval) -> Interval {
        Interval {
            lo: self.lo - o.hi,
            hi: self.hi - o.lo,
        }
    }
    pub fn neg(&self) -> Interval {
        Interval {
            lo: -self.hi,
            hi: -self.lo,
        }
    }
    pub fn hull(&self, o: &Interval) -> Interval {
        Interval {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
        }
    }
    pub fn contains(&self, o: &Interval) -> bool {
        self.lo <= o.lo && o.hi <= self.hi
    }
    /// Does it fit the wire-width limit of the compiler?
    pub fn within_limits(&self) -> bool {
        self.width() <= MAX_WIRE_WIDTH
    }
}

/// Bits of an unsigned magnitude (0 → 0).
fn bits_unsigned(v: u128) -> u32 {
    128 - v.leading_zeros()
}

/// Two's complement bits needed for a negative value.
fn bits_signed(v: i128) -> u32 {
    debug_assert!(v < 0);
    // -2^(n-1) <= v  <=> n-1 >= bits of (-v-1)
    bits_unsigned((-(v + 1)) as u128) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn widths() {
        assert_eq!(Interval::new(0, 0).width(), 1);
        assert_eq!(Interval::new(0, 255).width(), 8);
        assert_eq!(Interval::new(-128, 127).width(), 8);
        assert_eq!(Interval::new(-129, 0).width(), 9);
        assert_eq!(Interval::new(-1, 128).width(), 9);
        assert_eq!(Interval::new(-1, -1).width(), 1);
        assert_eq!(Interval::new(-2, 1).width(), 2);
    }
}
