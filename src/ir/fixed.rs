//! Exact fixed-point arithmetic on integer mantissas (`ap_fixed` semantics).
//!
//! A value is an integer mantissa `m` together with a number of fractional bits `f`;
//! it stands for `m · 2^-f`. `f` may be negative or larger than the width.
//! Mantissas are `i128`; types are limited to [`MAX_TYPE_WIDTH`] bits and
//! intermediate wires to [`MAX_WIRE_WIDTH`] bits so that every operation below is
//! exact — anything wider is rejected by the callers with an error, never wrapped
//! silently.

use std::fmt;
use std::str::FromStr;

/// Widest fixed-point type a model may declare.
pub const MAX_TYPE_WIDTH: u32 = 64;
/// Widest intermediate wire (signed two's complement) the compiler accepts.
pub const MAX_WIRE_WIDTH: u32 = 120;

/// Rounding (quantization) mode, applied when fractional bits are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Round {
    /// Floor, toward −∞ (default).
    Trn,
    /// Toward zero.
    TrnZero,
    /// Nearest, ties toward +∞.
    Rnd,
    /// Nearest, ties toward zero.
    RndZero,
    /// Nearest, ties toward −∞.
    RndMinInf,
    /// Nearest, ties away from zero.
    RndInf,
    /// Nearest, ties to even.
    RndConv,
    /// Toward +∞ (ceiling). Not an `ap_fixed` mode: QONNX `CEIL`.
    Ceil,
    /// Away from zero. Not an `ap_fixed` mode: QONNX `UP`.
    Up,
}

/// Overflow mode, applied after rounding when the value leaves the type's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Overflow {
    /// Keep the low W bits (default).
    Wrap,
    /// Clamp to [min, max].
    Sat,
    /// Zero on overflow.
    SatZero,
    /// `ap_fixed`'s AP_SAT_SYM: clamp to [−max, max] for signed types of at least 2 bits,
    /// so that a result equal to the most negative code becomes −max too (even an in-range
    /// one: `ap_fixed<8,3,AP_TRN,AP_SAT_SYM>(-4.0)` is −3.96875). A 1-bit signed type and an
    /// unsigned type saturate as with `SAT`.
    SatSym,
    /// The type loses its extreme code and saturates to what is left: signed
    /// [−(2^(W−1) − 1), 2^(W−1) − 1], unsigned [0, 2^W − 2]. Not an `ap_fixed` mode: the
    /// range of a QONNX `Quant` with `narrow = 1`.
    SatNarrow,
}

impl Round {
    pub const ALL: [Round; 9] = [
        Round::Trn,
        Round::TrnZero,
        Round::Rnd,
        Round::RndZero,
        Round::RndMinInf,
        Round::RndInf,
        Round::RndConv,
        Round::Ceil,
        Round::Up,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Round::Trn => "TRN",
            Round::TrnZero => "TRN_ZERO",
            Round::Rnd => "RND",
            Round::RndZero => "RND_ZERO",
            Round::RndMinInf => "RND_MIN_INF",
            Round::RndInf => "RND_INF",
            Round::RndConv => "RND_CONV",
            Round::Ceil => "CEIL",
            Round::Up => "UP",
        }
    }
}

impl Overflow {
    pub const ALL: [Overflow; 5] = [
        Overflow::Wrap,
        Overflow::Sat,
        Overflow::SatZero,
        Overflow::SatSym,
        Overflow::SatNarrow,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Overflow::Wrap => "WRAP",
            Overflow::Sat => "SAT",
            Overflow::SatZero => "SAT_ZERO",
            Overflow::SatSym => "SAT_SYM",
            Overflow::SatNarrow => "SAT_NARROW",
        }
    }
}

/// A mode name without `ap_fixed`'s `AP_` prefix (`AP_RND` is `RND`).
fn mode_name(s: &str) -> &str {
    let s = s.trim();
    match s.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("AP_") => &s[3..],
        _ => s,
    }
}

impl FromStr for Round {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Round::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(mode_name(s)))
            .ok_or_else(|| {
                format!(
                    "unknown rounding mode `{s}` (expected one of TRN, TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV, CEIL, UP)"
                )
            })
    }
}

impl FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if mode_name(s).eq_ignore_ascii_case("WRAP_SM") {
            return Err(format!(
                "overflow mode `{s}` (ap_fixed's sign-magnitude wrap) is not supported \
                 (supported: WRAP, SAT, SAT_ZERO, SAT_SYM, SAT_NARROW)"
            ));
        }
        Overflow::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(mode_name(s)))
            .ok_or_else(|| {
                format!(
                    "unknown overflow mode `{s}` (expected one of WRAP, SAT, SAT_ZERO, SAT_SYM, SAT_NARROW)"
                )
            })
    }
}

/// A fixed-point type `ap_fixed<W, I, Q, O>` (or `ap_ufixed` when unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedType {
    pub signed: bool,
    /// Total width W in bits (1..=64).
    pub width: u32,
    /// Integer bits I (including the sign bit for signed types); may be negative or > W.
    pub int_bits: i32,
    pub round: Round,
    pub overflow: Overflow,
}

impl FixedType {
    /// A type with the default modes (TRN, WRAP).
    pub fn new(signed: bool, width: u32, int_bits: i32) -> Self {
        FixedType {
            signed,
            width,
            int_bits,
            round: Round::Trn,
            overflow: Overflow::Wrap,
        }
    }

    pub fn with_modes(mut self, round: Round, overflow: Overflow) -> Self {
        self.round = round;
        self.overflow = overflow;
        self
    }

    /// Fractional bits `W − I`: the value of mantissa `m` is `m · 2^-frac`.
    pub fn frac(&self) -> i32 {
        self.width as i32 - self.int_bits
    }

    /// Checks the width limits; returns a message naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.width > MAX_TYPE_WIDTH {
            return Err(format!(
                "width {} is out of range (expected 1..={MAX_TYPE_WIDTH})",
                self.width
            ));
        }
        if self.signed && self.width < 1 {
            return Err("a signed type needs at least 1 bit".into());
        }
        if self.int_bits.unsigned_abs() > 1024 {
            return Err(format!(
                "integer bits {} out of range (expected |I| <= 1024)",
                self.int_bits
            ));
        }
        Ok(())
    }

    /// Smallest representable mantissa (one more under `SAT_NARROW` when signed).
    pub fn min_mantissa(&self) -> i128 {
        let narrow = (self.overflow == Overflow::SatNarrow) as i128;
        if self.signed {
            -(1i128 << (self.width - 1)) + narrow
        } else {
            0
        }
    }

    /// Largest representable mantissa (one less under `SAT_NARROW` when unsigned).
    pub fn max_mantissa(&self) -> i128 {
        let narrow = (self.overflow == Overflow::SatNarrow) as i128;
        if self.signed {
            (1i128 << (self.width - 1)) - 1
        } else {
            (1i128 << self.width) - 1 - narrow
        }
    }

    /// Does the mantissa fit in this type?
    pub fn contains(&self, m: i128) -> bool {
        m >= self.min_mantissa() && m <= self.max_mantissa()
    }

    /// Smallest mantissa a cast into this type produces: [`Self::min_mantissa`], except under
    /// `SAT_SYM` for a signed type of at least 2 bits, where `ap_fixed` maps the most negative
    /// code to −max (`ap_fixed_base.h`: `underflow |= neg_src && …`).
    pub fn cast_min(&self) -> i128 {
        if self.overflow == Overflow::SatSym && self.signed && self.width >= 2 {
            -self.max_mantissa()
        } else {
            self.min_mantissa()
        }
    }

    /// Does a cast into this type leave the mantissa `m` (already on its grid) unchanged?
    /// Stricter than [`Self::contains`] only under `SAT_SYM` (the most negative code).
    pub fn keeps(&self, m: i128) -> bool {
        m >= self.cast_min() && m <= self.max_mantissa()
    }

    /// Exact cast of the value `m · 2^-from_frac` into this type (rounding, then overflow).
    /// Returns the mantissa in this type. Left shifts (`from_frac < frac`) of any size are
    /// handled; right shifts need `|m| < 2^120` (see [`round_shift`]).
    pub fn cast(&self, m: i128, from_frac: i32) -> i128 {
        let to = self.frac();
        if m != 0 && i64::from(to) > i64::from(from_frac) {
            // Left shift (no rounding). When `m << s` would reach 2^126 it cannot be
            // computed exactly in an i128 — but then it is far outside every type
            // (W <= 64), so only its sign (saturation) or its low W bits (wrap) matter.
            let s = (i64::from(to) - i64::from(from_frac)) as u64;
            let bits = u64::from(128 - m.unsigned_abs().leading_zeros());
            if bits + s > 126 {
                return match self.overflow {
                    Overflow::Wrap => {
                        // Low 128 bits of m·2^s (all zero once s >= 128); W <= 128.
                        let low = if s < 128 { m << s } else { 0 };
                        wrap(low, self.width, self.signed)
                    }
                    _ => self.apply_overflow(if m < 0 { i128::MIN } else { i128::MAX }),
                };
            }
        }
        let q = round_shift(m, from_frac, to, self.round);
        self.apply_overflow(q)
    }

    /// Overflow handling of an already rounded mantissa (at this type's frac).
    pub fn apply_overflow(&self, q: i128) -> i128 {
        let (min, max) = (self.min_mantissa(), self.max_mantissa());
        match self.overflow {
            Overflow::Wrap => wrap(q, self.width, self.signed),
            // SAT_SYM: [−max, max] when signed (see `cast_min`), so the most negative code
            // becomes −max as in ap_fixed, whether it came from an overflow or not.
            Overflow::Sat | Overflow::SatNarrow | Overflow::SatSym => q.clamp(self.cast_min(), max),
            Overflow::SatZero => {
                if q < min || q > max {
                    0
                } else {
                    q
                }
            }
        }
    }

    /// The real value of a mantissa as f64 (exact when the width is at most 53 bits).
    pub fn to_f64(&self, m: i128) -> f64 {
        mantissa_to_f64(m, self.frac())
    }

    /// Exact cast of a finite f64 into this type, with the type's own rounding and overflow.
    pub fn cast_f64(&self, x: f64) -> Result<i128, String> {
        let (m, frac) = f64_to_mantissa(x)?;
        Ok(self.cast(m, frac))
    }
}

/// `m · 2^-f` as f64.
pub fn mantissa_to_f64(m: i128, frac: i32) -> f64 {
    // `2f64.powi(-frac)` alone underflows to 0 (or overflows to inf) once |frac| > 1023
    // although the product may be a perfectly representable (e.g. subnormal) value, so
    // scale in steps by exact powers of two; only the last step can round.
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52); // exact for |e| <= 1000
    let mut x = m as f64;
    let mut e = -i64::from(frac);
    while e > 1000 {
        x *= pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow2(-1000);
        e += 1000;
    }
    x * pow2(e as i32)
}

/// Splits a finite f64 exactly into `(mantissa, frac)` with `x = mantissa · 2^-frac`.
pub fn f64_to_mantissa(x: f64) -> Result<(i128, i32), String> {
    if !x.is_finite() {
        return Err(format!("value {x} is not a finite number"));
    }
    if x == 0.0 {
        return Ok((0, 0));
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { -1i128 } else { 1 };
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac_bits = (bits & ((1u64 << 52) - 1)) as i128;
    let (mant, e) = if exp == 0 {
        (frac_bits, -1074)
    } else {
        (frac_bits | (1i128 << 52), exp - 1075)
    };
    Ok((sign * mant, -e))
}

/// Keeps the low `width` bits of `q` and reads them back as signed or unsigned.
pub fn wrap(q: i128, width: u32, signed: bool) -> i128 {
    debug_assert!((1..=126).contains(&width));
    let modulus = 1i128 << width;
    let mut r = q.rem_euclid(modulus);
    if signed && r >= modulus >> 1 {
        r -= modulus;
    }
    r
}

/// Magnitude a left shift in [`round_shift`] saturates to: beyond every type and wire.
pub const SHIFT_SATURATION: i128 = (1i128 << 126) - 1;

/// Re-expresses `m · 2^-from` with `to` fractional bits, rounding with `mode` when bits
/// are dropped. Exact for any right shift when `|m| < 2^120`. A left shift whose result would
/// reach 2^126 in magnitude saturates to ±[`SHIFT_SATURATION`] (far outside every type and
/// the wire limit, so a range computed from it is rejected or saturates, never wraps).
pub fn round_shift(m: i128, from: i32, to: i32, mode: Round) -> i128 {
    if i64::from(to) >= i64::from(from) {
        let s = (i64::from(to) - i64::from(from)) as u64;
        if m == 0 {
            return 0;
        }
        let bits = u64::from(128 - m.unsigned_abs().leading_zeros());
        if bits + s > 126 {
            return if m < 0 {
                -SHIFT_SATURATION
            } else {
                SHIFT_SATURATION
            };
        }
        return m << s;
    }
    let s = (i64::from(from) - i64::from(to)).min(1 << 20) as u32;
    // Past 124 dropped bits every |m| < 2^120 behaves like a sticky remainder: reduce the
    // shift first, keeping a sticky bit, so that all rounding decisions are unchanged.
    let (m, s) = if s > 124 {
        let k = s - 124;
        let k_eff = k.min(127);
        let floor = m >> k_eff;
        let sticky = (floor << k_eff) != m;
        (floor | sticky as i128, 124)
    } else {
        (m, s)
    };
    let floor = m >> s;
    let rem = m - (floor << s); // in [0, 2^s)
    if rem == 0 {
        return floor;
    }
    let half = 1i128 << (s - 1);
    let neg = m < 0;
    let inc = match mode {
        Round::Trn => false,
        Round::TrnZero => neg,
        Round::Rnd => rem >= half,
        Round::RndZero => rem > half || (rem == half && neg),
        Round::RndMinInf => rem > half,
        Round::RndInf => rem > half || (rem == half && !neg),
        Round::RndConv => rem > half || (rem == half && floor & 1 == 1),
        Round::Ceil => true,
        Round::Up => !neg,
    };
    floor + inc as i128
}

impl fmt::Display for FixedType {
    /// `fixed<W,I,Q,O>` / `ufixed<W,I,Q,O>`; modes are omitted when they are the defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.signed { "fixed" } else { "ufixed" };
        write!(f, "{kind}<{},{}", self.width, self.int_bits)?;
        if self.round != Round::Trn || self.overflow != Overflow::Wrap {
            write!(f, ",{}", self.round.name())?;
            if self.overflow != Overflow::Wrap {
                write!(f, ",{}", self.overflow.name())?;
            }
        }
        write!(f, ">")
    }
}

impl FromStr for FixedType {
    type Err = String;
    /// Parses `fixed<W,I[,Q[,O]]>`, `ufixed<…>`, and the aliases `ap_fixed`/`ap_ufixed`,
    /// `int<W>`/`uint<W>` (`ap_int`/`ap_uint`).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let err = |why: &str| {
            format!("bad fixed-point type `{s}`: {why} (expected e.g. `fixed<16,6>`, `ufixed<8,0,RND,SAT>` or `int<8>`)")
        };
        let open = t.find('<').ok_or_else(|| err("missing `<`"))?;
        if !t.ends_with('>') {
            return Err(err("missing closing `>`"));
        }
        let kind = t[..open].trim().to_ascii_lowercase();
        let args: Vec<&str> = t[open + 1..t.len() - 1].split(',').map(str::trim).collect();
        let (signed, is_int) = match kind.as_str() {
            "fixed" | "ap_fixed" => (true, false),
            "ufixed" | "ap_ufixed" => (false, false),
            "int" | "ap_int" => (true, true),
            "uint" | "ap_uint" => (false, true),
            _ => return Err(err(&format!("unknown type kind `{kind}`"))),
        };
        let width: u32 = match args.first().map(|a| a.parse::<i128>()) {
            Some(Ok(w)) => u32::try_from(w).map_err(|_| {
                err(&format!(
                    "width {w} is out of range (expected 1..={MAX_TYPE_WIDTH})"
                ))
            })?,
            _ => return Err(err("width W must be a positive integer")),
        };
        let mut ty = if is_int {
            if args.len() != 1 {
                return Err(err("integer types take exactly one argument"));
            }
            FixedType::new(signed, width, width as i32)
        } else {
            // ap_fixed<W, I, Q, O, N>: N saturation bits change what WRAP keeps; only the
            // default N = 0 is accepted.
            if args.len() == 5 && args[4] != "0" {
                return Err(err(&format!(
                    "the fifth argument (ap_fixed's saturation bits N = `{}`) is not supported \
                     (only N = 0, the default)",
                    args[4]
                )));
            }
            if args.len() < 2 || args.len() > 5 {
                return Err(err("expected 2 to 4 arguments"));
            }
            let int_bits: i32 = match args[1].parse::<i128>() {
                Ok(i) => i32::try_from(i).map_err(|_| {
                    err(&format!(
                        "integer bits {i} out of range (expected |I| <= 1024)"
                    ))
                })?,
                Err(_) => return Err(err("integer bits I must be an integer")),
            };
            let mut ty = FixedType::new(signed, width, int_bits);
            if let Some(q) = args.get(2) {
                ty.round = q.parse().map_err(|e: String| err(&e))?;
            }
            if let Some(o) = args.get(3) {
                ty.overflow = o.parse().map_err(|e: String| err(&e))?;
            }
            ty
        };
        ty.validate().map_err(|e| err(&e))?;
        if is_int {
            ty.int_bits = width as i32;
        }
        Ok(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> FixedType {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "fixed<16,6>",
            "ufixed<8,0,RND,SAT>",
            "fixed<6,-2,RND_CONV>",
            "fixed<4,10,TRN,SAT_SYM>",
        ] {
            assert_eq!(t(s).to_string(), s);
        }
        assert_eq!(t("int<8>"), FixedType::new(true, 8, 8));
        assert!("fixed<0,1>".parse::<FixedType>().is_err());
        assert!("fixed<65,1>".parse::<FixedType>().is_err());
        assert_eq!(
            t("ap_fixed<8,3,AP_RND_CONV,AP_SAT_SYM,0>"),
            t("fixed<8,3,RND_CONV,SAT_SYM>")
        );
        let e = "fixed<8,3,RND,SAT,2>".parse::<FixedType>().unwrap_err();
        assert!(e.contains("saturation bits N = `2`"), "{e}");
        let e = "ap_fixed<8,3,AP_TRN,AP_WRAP_SM>"
            .parse::<FixedType>()
            .unwrap_err();
        assert!(
            e.contains("`AP_WRAP_SM`") && e.contains("sign-magnitude"),
            "{e}"
        );
        assert!("fixed<8,1,FOO>".parse::<FixedType>().is_err());
        assert!("float<8,1>".parse::<FixedType>().is_err());
    }

    #[test]
    fn rounding_ties_on_a_known_table() {
        // Values k/4 for k in -6..=6 cast to integers (drop 2 bits).
        let cases: [(Round, [i128; 13]); 9] = [
            (Round::Trn, [-2, -2, -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1]),
            (Round::TrnZero, [-1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
            (Round::Rnd, [-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2]),
            (Round::RndZero, [-1, -1, -1, -1, 0, 0, 0, 0, 0, 1, 1, 1, 1]),
            (
                Round::RndMinInf,
                [-2, -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1],
            ),
            (Round::RndInf, [-2, -1, -1, -1, -1, 0, 0, 0, 1, 1, 1, 1, 2]),
            (Round::RndConv, [-2, -1, -1, -1, 0, 0, 0, 0, 0, 1, 1, 1, 2]),
            (Round::Ceil, [-1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]),
            (Round::Up, [-2, -2, -1, -1, -1, -1, 0, 1, 1, 1, 1, 2, 2]),
        ];
        for (mode, expect) in cases {
            let ty = FixedType::new(true, 8, 8).with_modes(mode, Overflow::Wrap);
            for (i, k) in (-6i128..=6).enumerate() {
                assert_eq!(ty.cast(k, 2), expect[i], "{mode:?} of {k}/4");
            }
        }
    }

    #[test]
    fn overflow_modes() {
        let base = FixedType::new(true, 4, 4);
        let wrap = base;
        let sat = base.with_modes(Round::Trn, Overflow::Sat);
        let satz = base.with_modes(Round::Trn, Overflow::SatZero);
        let sym = base.with_modes(Round::Trn, Overflow::SatSym);
        assert_eq!(wrap.cast(9, 0), -7);
        assert_eq!(wrap.cast(-9, 0), 7);
        assert_eq!(sat.cast(9, 0), 7);
        assert_eq!(sat.cast(-9, 0), -8);
        assert_eq!(satz.cast(-9, 0), 0);
        assert_eq!(sym.cast(-9, 0), -7);
        // ap_fixed maps the in-range most negative code to −max as well.
        assert_eq!(sym.cast(-8, 0), -7);
        let sym1 = FixedType::new(true, 1, 1).with_modes(Round::Trn, Overflow::SatSym);
        assert_eq!(
            (sym1.cast(-1, 0), sym1.cast(-2, 0), sym1.cast(1, 0)),
            (-1, -1, 0)
        );
        let narrow = base.with_modes(Round::Trn, Overflow::SatNarrow);
        assert_eq!((narrow.min_mantissa(), narrow.max_mantissa()), (-7, 7));
        assert_eq!(
            (narrow.cast(-8, 0), narrow.cast(-9, 0), narrow.cast(9, 0)),
            (-7, -7, 7)
        );
        let unarrow = FixedType::new(false, 4, 4).with_modes(Round::Trn, Overflow::SatNarrow);
        assert_eq!((unarrow.cast(15, 0), unarrow.cast(-1, 0)), (14, 0));
        let u = FixedType::new(false, 4, 4).with_modes(Round::Trn, Overflow::Sat);
        assert_eq!(u.cast(-1, 0), 0);
        assert_eq!(u.cast(16, 0), 15);
    }

    #[test]
    fn float_split_is_exact() {
        for x in [0.5, -0.75, 3.0, 1e-300, -1e300, 5e-324] {
            let (m, f) = f64_to_mantissa(x).unwrap();
            assert_eq!(mantissa_to_f64(m, f), x);
        }
        assert!(f64_to_mantissa(f64::NAN).is_err());
        // A tiny negative value truncates to -1 ulp, rounds to 0.
        let ty = FixedType::new(true, 8, 4);
        assert_eq!(ty.cast_f64(-1e-300).unwrap(), -1);
        assert_eq!(
            ty.with_modes(Round::Rnd, Overflow::Wrap)
                .cast_f64(-1e-300)
                .unwrap(),
            0
        );
    }
}
