//! Unit and property tests of the fixed-point core (`rtl4ml::ir::fixed`) against an
//! exact rational reference.
//!
//! Reference semantics (`ap_fixed`, Vivado HLS): a mantissa `m` with `f` fractional bits
//! stands for the rational `m · 2^-f`. Casting to a type `T` rounds that rational to a
//! multiple of `2^-T.frac` with `T.round`, then applies `T.overflow` to the integer
//! mantissa. The reference below is written directly from those definitions on
//! `BigRational`/`BigInt`, independently of the shift/remainder tricks in the crate.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rtl4ml::ir::fixed::{f64_to_mantissa, round_shift, wrap, FixedType, Overflow, Round};

// ---------------------------------------------------------------------------------------
// Exact reference
// ---------------------------------------------------------------------------------------

fn pow2(e: u32) -> BigInt {
    BigInt::one() << e
}

/// `r · 2^e`, exactly.
fn scale(r: &BigRational, e: i64) -> BigRational {
    let (n, d) = (r.numer().clone(), r.denom().clone());
    if e >= 0 {
        BigRational::new(n << e as u32, d)
    } else {
        BigRational::new(n, d << (-e) as u32)
    }
}

/// The rational value of mantissa `m` with `frac` fractional bits.
fn value(m: i128, frac: i32) -> BigRational {
    scale(
        &BigRational::from_integer(BigInt::from(m)),
        -i64::from(frac),
    )
}

/// Rounds a rational to an integer with the given mode (straight from the definitions).
fn ref_round(r: &BigRational, mode: Round) -> BigInt {
    // r = floor + rem/den with 0 <= rem < den (the denominator of a BigRational is > 0).
    let den = r.denom();
    let (floor, rem): (BigInt, BigInt) = r.numer().div_mod_floor(den);
    if rem.is_zero() {
        return floor; // already an integer: no mode changes anything
    }
    let ceil: BigInt = &floor + 1u32;
    let (toward_zero, away_from_zero) = if r.is_negative() {
        (ceil.clone(), floor.clone())
    } else {
        (floor.clone(), ceil.clone())
    };
    match mode {
        Round::Trn => return floor,
        Round::TrnZero => return toward_zero,
        Round::Ceil => return ceil,
        Round::Up => return away_from_zero,
        _ => {}
    }
    // Distance to the floor, rem/den in (0, 1), compared with 1/2.
    match (&rem * 2u32).cmp(den) {
        std::cmp::Ordering::Less => return floor,
        std::cmp::Ordering::Greater => return ceil,
        std::cmp::Ordering::Equal => {}
    }
    // An exact tie.
    match mode {
        Round::Rnd => ceil,
        Round::RndZero => toward_zero,
        Round::RndMinInf => floor,
        Round::RndInf => away_from_zero,
        Round::RndConv => {
            if floor.is_even() {
                floor
            } else {
                ceil
            }
        }
        Round::Trn | Round::TrnZero | Round::Ceil | Round::Up => unreachable!(),
    }
}

/// The type's mantissa range; `SAT_NARROW` drops the extreme code (signed: the most
/// negative, unsigned: the largest).
fn ref_range(signed: bool, width: u32, ov: Overflow) -> (BigInt, BigInt) {
    let narrow = u32::from(ov == Overflow::SatNarrow);
    if signed {
        (-pow2(width - 1) + narrow, pow2(width - 1) - 1)
    } else {
        (BigInt::zero(), pow2(width) - 1 - narrow)
    }
}

/// Overflow handling of an integer mantissa, from the definitions.
fn ref_overflow(q: &BigInt, signed: bool, width: u32, ov: Overflow) -> BigInt {
    let (min, max) = ref_range(signed, width, ov);
    // ap_fixed's SAT_SYM (signed, W >= 2): [-max, max], even for an in-range most negative q.
    let min = if ov == Overflow::SatSym && signed && width >= 2 {
        -max.clone()
    } else {
        min
    };
    if *q >= min && *q <= max {
        return q.clone();
    }
    match ov {
        Overflow::Wrap => ref_wrap(q, width, signed),
        Overflow::Sat | Overflow::SatNarrow => {
            if *q > max {
                max
            } else {
                min
            }
        }
        Overflow::SatZero => BigInt::zero(),
        Overflow::SatSym => {
            if *q > max {
                max
            } else {
                min
            }
        }
    }
}

fn ref_wrap(q: &BigInt, width: u32, signed: bool) -> BigInt {
    let modulus = pow2(width);
    let low = q.mod_floor(&modulus);
    if signed && low >= pow2(width - 1) {
        low - modulus
    } else {
        low
    }
}

/// The exact cast of a rational into `ty`.
fn ref_cast(ty: &FixedType, r: &BigRational) -> BigInt {
    let q = ref_round(&scale(r, i64::from(ty.frac())), ty.round);
    ref_overflow(&q, ty.signed, ty.width, ty.overflow)
}

fn ref_cast_m(ty: &FixedType, m: i128, from_frac: i32) -> BigInt {
    ref_cast(ty, &value(m, from_frac))
}

fn big(x: i128) -> BigInt {
    BigInt::from(x)
}

fn bit_len(m: i128) -> u32 {
    128 - m.unsigned_abs().leading_zeros()
}

fn ty(signed: bool, width: u32, int_bits: i32, round: Round, overflow: Overflow) -> FixedType {
    FixedType::new(signed, width, int_bits).with_modes(round, overflow)
}

// ---------------------------------------------------------------------------------------
// Sanity checks of the reference itself
// ---------------------------------------------------------------------------------------

#[test]
fn reference_rounding_table() {
    // k/4 for k in -6..=6, i.e. -1.5, -1.25, ..., 1.5, rounded to integers.
    let table: [(Round, [i64; 13]); 9] = [
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
    for (mode, expect) in table {
        for (i, k) in (-6i128..=6).enumerate() {
            let e = BigInt::from(expect[i]);
            assert_eq!(
                ref_round(&value(k, 2), mode),
                e,
                "reference {mode:?} of {k}/4"
            );
            assert_eq!(
                big(round_shift(k, 2, 0, mode)),
                e,
                "round_shift {mode:?} of {k}/4"
            );
            let t = ty(true, 8, 8, mode, Overflow::Wrap);
            assert_eq!(big(t.cast(k, 2)), e, "cast {mode:?} of {k}/4");
        }
    }
    // Ties to even at 2.5 / 3.5 / -2.5 / -3.5.
    let conv: Vec<i128> = [5i128, 7, -5, -7]
        .iter()
        .map(|&k| round_shift(k, 1, 0, Round::RndConv))
        .collect();
    assert_eq!(conv, vec![2, 4, -2, -4]);
}

#[test]
fn reference_overflow_examples() {
    let w = |q: i64, s, wd, o| ref_overflow(&BigInt::from(q), s, wd, o);
    assert_eq!(w(9, true, 4, Overflow::Wrap), BigInt::from(-7));
    assert_eq!(w(-9, true, 4, Overflow::SatSym), BigInt::from(-7));
    assert_eq!(w(-8, true, 4, Overflow::SatSym), BigInt::from(-7));
    assert_eq!(w(-1, false, 4, Overflow::SatSym), BigInt::from(0));
    assert_eq!(w(16, false, 4, Overflow::Wrap), BigInt::from(0));
    assert_eq!(w(-8, true, 4, Overflow::SatNarrow), BigInt::from(-7));
    assert_eq!(w(15, false, 4, Overflow::SatNarrow), BigInt::from(14));
}

// ---------------------------------------------------------------------------------------
// Unit tests
// ---------------------------------------------------------------------------------------

#[test]
fn overflow_modes_on_a_4_bit_integer() {
    let b = FixedType::new(true, 4, 4);
    let c = |o: Overflow, q: i128| b.with_modes(Round::Trn, o).cast(q, 0);
    // In range: untouched by every mode (SAT_SYM: but for the most negative code, below).
    for o in Overflow::ALL {
        let t = b.with_modes(Round::Trn, o);
        for q in t.cast_min()..=t.max_mantissa() {
            assert_eq!(c(o, q), q, "{o:?} {q}");
        }
    }
    assert_eq!(
        (
            c(Overflow::Wrap, 8),
            c(Overflow::Wrap, 9),
            c(Overflow::Wrap, -9)
        ),
        (-8, -7, 7)
    );
    assert_eq!((c(Overflow::Sat, 9), c(Overflow::Sat, -9)), (7, -8));
    assert_eq!((c(Overflow::SatZero, 9), c(Overflow::SatZero, -9)), (0, 0));
    assert_eq!((c(Overflow::SatSym, 9), c(Overflow::SatSym, -9)), (7, -7));
    // SAT_SYM maps even an in-range most negative code to -max, as ap_fixed does...
    assert_eq!(c(Overflow::SatSym, -8), -7);
    // SAT_NARROW has no most negative code: -8 is out of its range and saturates.
    assert_eq!(
        (c(Overflow::SatNarrow, 9), c(Overflow::SatNarrow, -8)),
        (7, -7)
    );
    // ...and so does a value rounding to it or below it.
    let sym = b.with_modes(Round::Trn, Overflow::SatSym);
    assert_eq!(sym.cast(-17, 1), -7); // -8.5 floors to -9
    assert_eq!(sym.cast(-16, 1), -7); // exactly -8
    assert_eq!(
        sym.with_modes(Round::Rnd, Overflow::SatSym).cast(-17, 1),
        -7
    ); // -8.5 -> -8 -> -7

    let u = FixedType::new(false, 4, 4);
    for (o, lo, hi) in [
        (Overflow::Wrap, 15, 0),
        (Overflow::Sat, 0, 15),
        (Overflow::SatZero, 0, 0),
        (Overflow::SatSym, 0, 15),
        (Overflow::SatNarrow, 0, 14),
    ] {
        let t = u.with_modes(Round::Trn, o);
        assert_eq!((t.cast(-1, 0), t.cast(16, 0)), (lo, hi), "unsigned {o:?}");
    }
}

#[test]
fn extreme_widths_and_codes() {
    for signed in [true, false] {
        for width in [1u32, 2, 7, 8, 31, 32, 33, 53, 63, 64] {
            for round in Round::ALL {
                for ov in Overflow::ALL {
                    for int_bits in [width as i32, -5, width as i32 + 7, 130] {
                        let t = ty(signed, width, int_bits, round, ov);
                        let (min, max) = (t.min_mantissa(), t.max_mantissa());
                        let (rmin, rmax) = ref_range(signed, width, ov);
                        assert_eq!((big(min), big(max)), (rmin, rmax), "{t}");
                        assert!(t.contains(min) && t.contains(max));
                        assert!(!t.contains(min - 1) && !t.contains(max + 1));
                        // Codes in the type are fixed points of the cast (SAT_SYM: but for
                        // the most negative code, which becomes -max).
                        for m in [min, min + (max > min) as i128, 0, max, max / 2] {
                            assert_eq!(t.cast(m, t.frac()), m.max(t.cast_min()), "{t} code {m}");
                        }
                        // One ulp (of the type) and half an ulp outside the range, and
                        // the range end re-expressed with extra fractional bits.
                        for (m, f) in [
                            (max + 1, t.frac()),
                            (min - 1, t.frac()),
                            (2 * max + 1, t.frac() + 1),
                            (2 * min - 1, t.frac() + 1),
                            (min << 3, t.frac() + 3),
                            (max << 3, t.frac() + 3),
                            ((max << 3) + 7, t.frac() + 3),
                            (min >> 2, t.frac() - 2),
                            (max >> 2, t.frac() - 2),
                        ] {
                            assert_eq!(big(t.cast(m, f)), ref_cast_m(&t, m, f), "{t} {m}·2^-{f}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn width_one_signed_sat_sym() {
    // fixed<1,1>: codes {-1, 0}. ap_fixed's SAT_SYM underflow sets the code 1 | (1 << (W-1)),
    // which for W = 1 is the most negative code -1: the mode acts as SAT.
    let t = ty(true, 1, 1, Round::Trn, Overflow::SatSym);
    assert_eq!((t.min_mantissa(), t.max_mantissa()), (-1, 0));
    assert_eq!(t.cast(-1, 0), -1);
    assert_eq!(t.cast(-2, 0), -1);
    assert_eq!(t.cast(1, 0), 0);
    let w = t.with_modes(Round::Trn, Overflow::Wrap);
    assert_eq!(
        (w.cast(1, 0), w.cast(2, 0), w.cast(-2, 0), w.cast(3, 0)),
        (-1, 0, 0, -1)
    );
}

#[test]
fn negative_and_large_int_bits() {
    // fixed<4,-2>: frac 6, values in [-8/64, 7/64].
    let t = ty(true, 4, -2, Round::Rnd, Overflow::Sat);
    assert_eq!(t.frac(), 6);
    assert_eq!(t.cast(7, 6), 7);
    assert_eq!(t.cast(1, 3), 7); // 1/8 = 8/64 saturates to 7/64
    assert_eq!(t.cast(-1, 3), -8);
    assert_eq!(t.cast(15, 7), 7); // 7.5/64 -> rounds to 8 -> saturates
    assert_eq!(t.cast(13, 7), 7); // 6.5/64 -> ties up to 7
                                  // ufixed<4,10>: frac -6, steps of 64, range [0, 960].
    let u = ty(false, 4, 10, Round::RndConv, Overflow::Wrap);
    assert_eq!(u.frac(), -6);
    assert_eq!(u.cast(96, 0), 2); // 1.5 steps -> even 2
    assert_eq!(u.cast(160, 0), 2); // 2.5 steps -> even 2
    assert_eq!(u.cast(1024, 0), 0); // 16 steps wraps to 0
    assert_eq!(u.cast(1, -10), 0); // 2^10 again, given as a left shift of 1 by 10 bits
    assert_eq!(u.cast(15, -6), 15); // left shift with no rounding
}

#[test]
fn ties_of_every_mode_at_known_points() {
    // value = q + 1/2 with 3 dropped bits (100 pattern)
    for q in -5i128..=5 {
        let m = (q << 3) + 4;
        let odd = q & 1 == 1;
        let expect = |mode| match mode {
            Round::Trn => q,
            Round::TrnZero => q + (q < 0) as i128,
            Round::Rnd => q + 1,
            Round::RndZero => q + (q < 0) as i128,
            Round::RndMinInf => q,
            Round::RndInf => q + (q >= 0) as i128,
            Round::RndConv => q + odd as i128,
            Round::Ceil => q + 1,
            Round::Up => q + (q >= 0) as i128,
        };
        for mode in Round::ALL {
            assert_eq!(
                round_shift(m, 3, 0, mode),
                expect(mode),
                "{mode:?} at {q}.5"
            );
        }
    }
}

#[test]
fn sticky_path_examples() {
    let one = 1i128;
    for mode in Round::ALL {
        for s in [
            118u32, 119, 120, 123, 124, 125, 126, 127, 128, 200, 251, 252, 253, 1000, 5000,
        ] {
            for m in [
                1i128,
                -1,
                (one << 117) + 1,
                -(one << 117) - 1,
                (one << 118) - 1,
                -(one << 118) + 1,
                3,
                -3,
            ] {
                let from = s as i32;
                let got = round_shift(m, from, 0, mode);
                assert_eq!(
                    big(got),
                    ref_round(&value(m, from), mode),
                    "{mode:?} {m} >> {s}"
                );
            }
        }
    }
    // Signs survive the sticky reduction.
    assert_eq!(round_shift(-1, 1000, 0, Round::Trn), -1);
    assert_eq!(round_shift(1, 1000, 0, Round::Trn), 0);
    assert_eq!(round_shift(-1, 1000, 0, Round::TrnZero), 0);
    assert_eq!(round_shift(-(1 << 117), 1000, 10, Round::Rnd), 0);
}

#[test]
fn left_shifts_at_the_documented_limit() {
    for mode in Round::ALL {
        assert_eq!(round_shift(1, 0, 124, mode), 1i128 << 124);
        assert_eq!(round_shift(-1, 0, 124, mode), -(1i128 << 124));
        assert_eq!(
            round_shift((1 << 117) - 1, -3, 4, mode),
            ((1i128 << 117) - 1) << 7
        );
        assert_eq!(round_shift(0, 0, 5000, mode), 0);
        assert_eq!(round_shift(5, 7, 7, mode), 5);
    }
}

#[test]
fn huge_left_shifts_in_cast_saturate_or_wrap() {
    // The value 2^1000 · m cannot be formed in an i128; cast must still give the exact
    // ap_fixed answer rather than panic or use a wrapped i128.
    for signed in [true, false] {
        for ov in Overflow::ALL {
            for (m, from) in [
                (1i128, -1000),
                (-3, -1000),
                (5, -70),
                (-5, -70),
                ((1 << 100) + 1, -40),
                (-(1 << 100) - 3, -27),
            ] {
                for (w, i) in [
                    (16u32, 6i32),
                    (64, 64),
                    (8, -20),
                    (1, 1),
                    (64, 1024),
                    (64, -1024),
                ] {
                    let t = ty(signed, w, i, Round::Rnd, ov);
                    assert_eq!(
                        big(t.cast(m, from)),
                        ref_cast_m(&t, m, from),
                        "{t} {m}·2^{}",
                        -from
                    );
                }
            }
        }
    }
    // fixed<64,1024> has frac -960: 3 · 2^1000 is exactly the code 3 << 40.
    let t = ty(true, 64, 1024, Round::Trn, Overflow::Wrap);
    assert_eq!(t.cast(3, -1000), 3i128 << 40);
}

#[test]
fn f64_split_examples() {
    let cases = [
        0.5,
        -0.75,
        3.0,
        1.0,
        -1.0,
        0.1,
        1e-300,
        -1e300,
        5e-324,
        -5e-324,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 3.0,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        -0.0,
    ];
    for x in cases {
        let (m, f) = f64_to_mantissa(x).unwrap();
        assert!(m.unsigned_abs() < 1u128 << 53, "{x}: mantissa {m} too wide");
        assert_eq!(value(m, f), BigRational::from_float(x).unwrap(), "{x}");
    }
    assert_eq!(f64_to_mantissa(5e-324).unwrap(), (1, 1074));
    assert_eq!(f64_to_mantissa(-0.0).unwrap().0, 0);
    for x in [f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = f64_to_mantissa(x).unwrap_err();
        assert!(e.contains("not a finite number"), "{e}");
        for o in Overflow::ALL {
            assert!(ty(true, 16, 6, Round::Rnd, o).cast_f64(x).is_err());
            assert!(ty(false, 64, -1000, Round::Trn, o).cast_f64(x).is_err());
        }
    }
}

#[test]
fn cast_f64_examples() {
    let t = FixedType::new(true, 8, 4);
    assert_eq!(t.cast_f64(-1e-300).unwrap(), -1); // floor of a tiny negative
    assert_eq!(
        t.with_modes(Round::Rnd, Overflow::Wrap)
            .cast_f64(-1e-300)
            .unwrap(),
        0
    );
    assert_eq!(t.cast_f64(1.5).unwrap(), 24);
    assert_eq!(t.cast_f64(-8.0).unwrap(), -128);
    assert_eq!(t.cast_f64(8.0).unwrap(), -128); // wraps
                                                // Subnormals land exactly in a type with 1074 fractional bits.
    let sub = ty(true, 64, -1010, Round::Trn, Overflow::Sat);
    assert_eq!(sub.frac(), 1074);
    assert_eq!(sub.cast_f64(5e-324).unwrap(), 1);
    assert_eq!(sub.cast_f64(-5e-324).unwrap(), -1);
    assert_eq!(
        sub.cast_f64(f64::from_bits(0x000f_ffff_ffff_ffff)).unwrap(),
        (1 << 52) - 1
    );
    assert_eq!(sub.cast_f64(1.0).unwrap(), sub.max_mantissa());
    // Very large values: never a panic, always the exact ap_fixed answer.
    for x in [
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        1e38,
        -1e38,
        2f64.powi(70),
        1.5 * 2f64.powi(120),
    ] {
        for signed in [true, false] {
            for round in Round::ALL {
                for ov in Overflow::ALL {
                    for (w, i) in [
                        (16, 6),
                        (64, 64),
                        (64, 10),
                        (1, 1),
                        (8, -4),
                        (12, 200),
                        (64, 1024),
                    ] {
                        let t = ty(signed, w, i, round, ov);
                        let got = t.cast_f64(x).unwrap();
                        let want = ref_cast(&t, &BigRational::from_float(x).unwrap());
                        assert_eq!(big(got), want, "{t} <- {x:e}");
                    }
                }
            }
        }
    }
    let sat = ty(true, 16, 6, Round::Trn, Overflow::Sat);
    assert_eq!(sat.cast_f64(1e300).unwrap(), 32767);
    assert_eq!(sat.cast_f64(-1e300).unwrap(), -32768);
    assert_eq!(sat.cast_f64(1e38).unwrap(), 32767);
    assert_eq!(
        sat.with_modes(Round::Trn, Overflow::SatSym)
            .cast_f64(-1e38)
            .unwrap(),
        -32767
    );
}

#[test]
fn to_f64_of_extreme_fracs() {
    // Values whose scale factor 2^-frac alone is not representable.
    let t = FixedType::new(true, 64, -1024); // frac 1088
    assert_eq!(t.to_f64(1 << 20), 2f64.powi(-1000) * 2f64.powi(-68));
    assert_eq!(t.to_f64(1 << 20), f64::from_bits(1 << 6)); // 2^-1068 is subnormal
    assert_eq!(t.to_f64(-(1 << 14)), -5e-324);
    assert_eq!(t.to_f64(1), 0.0);
    let big_t = FixedType::new(false, 8, 1024); // frac -1016
    assert_eq!(big_t.to_f64(255), 255.0 * 2f64.powi(1000) * 2f64.powi(16));
    let x = 1.2345e-310; // subnormal
    let (m, f) = f64_to_mantissa(x).unwrap();
    let t = FixedType::new(true, 53, 53 - f);
    assert_eq!(t.to_f64(m), x);
}

// ---------------------------------------------------------------------------------------
// Parsing and display
// ---------------------------------------------------------------------------------------

fn parse(s: &str) -> FixedType {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
}

fn parse_err(s: &str) -> String {
    match s.parse::<FixedType>() {
        Ok(t) => panic!("`{s}` should not parse, got {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn parse_and_display() {
    let t = parse("fixed<16,6,RND,SAT>");
    assert_eq!(t, ty(true, 16, 6, Round::Rnd, Overflow::Sat));
    assert_eq!(t.to_string(), "fixed<16,6,RND,SAT>");
    assert_eq!(t.frac(), 10);
    let u = parse("ufixed<8,0>");
    assert_eq!(u, FixedType::new(false, 8, 0));
    assert_eq!(u.to_string(), "ufixed<8,0>");
    assert_eq!((u.min_mantissa(), u.max_mantissa()), (0, 255));
    assert_eq!(parse("int<8>"), FixedType::new(true, 8, 8));
    assert_eq!(parse("int<8>").to_string(), "fixed<8,8>");
    assert_eq!(parse("uint<64>"), FixedType::new(false, 64, 64));
    assert_eq!(parse("ap_int<3>"), FixedType::new(true, 3, 3));
    assert_eq!(parse("ap_uint<1>"), FixedType::new(false, 1, 1));
    assert_eq!(
        parse("ap_fixed<18,8,RND_CONV,SAT_SYM>"),
        ty(true, 18, 8, Round::RndConv, Overflow::SatSym)
    );
    assert_eq!(parse("ap_ufixed<4,-3>"), FixedType::new(false, 4, -3));
    assert_eq!(
        parse("  fixed< 16 , 6 , rnd_zero , sat_zero >  "),
        ty(true, 16, 6, Round::RndZero, Overflow::SatZero)
    );
    assert_eq!(
        parse("FIXED<6,-2,RND_CONV>"),
        ty(true, 6, -2, Round::RndConv, Overflow::Wrap)
    );
    assert_eq!(
        parse("fixed<4,10,TRN,SAT_SYM>").to_string(),
        "fixed<4,10,TRN,SAT_SYM>"
    );
    assert_eq!(
        parse("fixed<6,-2,RND_CONV>").to_string(),
        "fixed<6,-2,RND_CONV>"
    );
    // Default modes are omitted; a default rounding with a non-default overflow is kept.
    assert_eq!(parse("fixed<16,6,TRN,WRAP>").to_string(), "fixed<16,6>");
    assert_eq!(parse("fixed<16,6,TRN>").to_string(), "fixed<16,6>");
    assert_eq!(parse("fixed<16,6,RND,WRAP>").to_string(), "fixed<16,6,RND>");
    assert_eq!(parse("fixed<64,1024>").int_bits, 1024);
    assert_eq!(parse("fixed<1,-1024>").int_bits, -1024);
    for mode in Round::ALL {
        assert_eq!(mode.name().parse::<Round>(), Ok(mode));
        assert_eq!(mode.name().to_lowercase().parse::<Round>(), Ok(mode));
    }
    for o in Overflow::ALL {
        assert_eq!(o.name().parse::<Overflow>(), Ok(o));
    }
}

#[test]
fn parse_errors_name_the_problem() {
    let cases: [(&str, &str); 21] = [
        ("fixed", "missing `<`"),
        ("", "missing `<`"),
        ("fixed<16,6", "missing closing `>`"),
        ("float<8,1>", "unknown type kind `float`"),
        ("<8,1>", "unknown type kind"),
        ("fixed<0,1>", "width 0 is out of range"),
        ("fixed<65,1>", "width 65 is out of range"),
        ("int<0>", "width 0 is out of range"),
        ("fixed<-4,1>", "width -4 is out of range"),
        ("fixed<x,1>", "width W must be a positive integer"),
        ("fixed<>", "width W must be a positive integer"),
        ("int<8,8>", "integer types take exactly one argument"),
        ("fixed<8>", "expected 2 to 4 arguments"),
        ("fixed<8,1,RND,SAT,X>", "saturation bits N = `X`"),
        ("fixed<8,1,RND,SAT,0,1>", "expected 2 to 4 arguments"),
        (
            "ap_fixed<8,1,AP_RND,AP_WRAP_SM>",
            "sign-magnitude wrap) is not supported",
        ),
        ("fixed<8,y>", "integer bits I must be an integer"),
        ("fixed<8,1,FOO>", "unknown rounding mode `FOO`"),
        ("fixed<8,1,RND,CLAMP>", "unknown overflow mode `CLAMP`"),
        ("fixed<8,2000>", "integer bits 2000 out of range"),
        ("fixed<8,-1025>", "integer bits -1025 out of range"),
    ];
    for (s, why) in cases {
        let e = parse_err(s);
        assert!(
            e.contains(why),
            "error for `{s}` should mention `{why}`: {e}"
        );
        assert!(e.contains("bad fixed-point type"), "{e}");
        assert!(
            e.contains(&format!("`{s}`")),
            "error should quote the input: {e}"
        );
    }
    assert!("SATURATE"
        .parse::<Overflow>()
        .unwrap_err()
        .contains("SAT_SYM"));
    assert!("ROUND".parse::<Round>().unwrap_err().contains("RND_CONV"));
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn cfg() -> Config {
    Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    }
}

fn round_mode() -> impl Strategy<Value = Round> {
    prop::sample::select(Round::ALL.to_vec())
}

fn overflow_mode() -> impl Strategy<Value = Overflow> {
    prop::sample::select(Overflow::ALL.to_vec())
}

/// Any valid type; int_bits mostly near the width (including negative and > W), sometimes
/// at the extremes.
fn fixed_type() -> impl Strategy<Value = FixedType> {
    let int_bits = prop_oneof![8 => -70i32..=140, 1 => -1024i32..=1024, 1 => prop::sample::select(vec![-1024, 1024, 0, 1, -1])];
    let width = prop_oneof![3 => 1u32..=64, 1 => prop::sample::select(vec![1u32, 2, 63, 64])];
    (
        any::<bool>(),
        width,
        int_bits,
        round_mode(),
        overflow_mode(),
    )
        .prop_map(|(s, w, i, r, o)| ty(s, w, i, r, o))
}

/// Types whose frac stays moderate (for f64 inputs built with powi).
fn moderate_type() -> impl Strategy<Value = FixedType> {
    (
        any::<bool>(),
        1u32..=64,
        -70i32..=140,
        round_mode(),
        overflow_mode(),
    )
        .prop_map(|(s, w, i, r, o)| ty(s, w, i, r, o))
}

/// Mantissas with |m| < 2^118: small, random-width, and near powers of two.
fn mantissa() -> impl Strategy<Value = i128> {
    prop_oneof![
        2 => -300i128..=300,
        4 => (0u32..=118, any::<u128>(), any::<bool>()).prop_map(|(b, r, neg)| {
            let v = (r & ((1u128 << b) - 1)) as i128;
            if neg { -v } else { v }
        }),
        2 => (0u32..118, -2i128..=2, any::<bool>()).prop_map(|(k, d, neg)| {
            let v = (1i128 << k) + d;
            if neg { -v } else { v }
        }),
    ]
}

/// A mantissa that, with `s` dropped bits, is an exact tie (bits `10…0`) or one off it.
fn tie_mantissa() -> impl Strategy<Value = (i128, u32)> {
    (1u32..=117, any::<i128>(), -1i128..=1).prop_map(|(s, r, d)| {
        let room = 117 - s; // |q| < 2^room keeps |m| < 2^118
        let q = if room == 0 {
            0
        } else {
            (r << (128 - room)) >> (128 - room)
        };
        ((q << s) + (1i128 << (s - 1)) + d, s)
    })
}

/// Candidate in-type codes: the ends of the range and random ones.
fn code_for(t: FixedType) -> impl Strategy<Value = i128> {
    let (min, max) = (t.min_mantissa(), t.max_mantissa());
    let special: Vec<i128> = [min, min + 1, max, max - 1, 0, -1, 1]
        .into_iter()
        .filter(|&c| t.contains(c))
        .collect();
    prop_oneof![prop::sample::select(special), min..=max]
}

/// Any finite f64 drawn from its bits (so mostly huge or tiny values), or special ones.
fn any_finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |x| x.is_finite()),
        1 => (1u64..(1 << 52), any::<bool>()).prop_map(|(b, neg)| {
            let x = f64::from_bits(b); // subnormal
            if neg { -x } else { x }
        }),
        1 => prop::sample::select(vec![0.0, -0.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 5e-324, -5e-324, 1e300, -1e300, 0.5, -0.5]),
    ]
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    /// round_shift equals exact rounding, for right shifts of any size (including the
    /// sticky path past 124 dropped bits) and left shifts within the documented limit.
    #[test]
    fn round_shift_matches_reference(
        m in mantissa(),
        from in -1200i32..=1300,
        d in prop_oneof![3 => -140i32..=130, 1 => -3000i32..=130],
        mode in round_mode(),
    ) {
        let to = from + d.min(125 - bit_len(m) as i32);
        let got = round_shift(m, from, to, mode);
        let want = ref_round(&scale(&value(m, from), i64::from(to)), mode);
        prop_assert_eq!(big(got), want, "{}·2^-{} -> frac {} ({:?})", m, from, to, mode);
    }

    /// Huge right shifts always go through the sticky reduction.
    #[test]
    fn round_shift_sticky_matches_reference(
        m in mantissa(),
        s in prop_oneof![116u32..=132, 125u32..=2000],
        to in -200i32..=200,
        mode in round_mode(),
    ) {
        let from = to + s as i32;
        let got = round_shift(m, from, to, mode);
        let want = ref_round(&value(m, s as i32), mode);
        prop_assert_eq!(big(got), want);
    }

    /// Exact ties (dropped bits 10…0) and their neighbours, checked both against the
    /// reference and against the mode table written out per case.
    #[test]
    fn round_shift_ties((m, s) in tie_mantissa(), to in -300i32..=300, mode in round_mode()) {
        let from = to + s as i32;
        let got = round_shift(m, from, to, mode);
        prop_assert_eq!(big(got), ref_round(&value(m, s as i32), mode));
        let q = m >> s; // floor
        let rem = m - (q << s);
        let half = 1i128 << (s - 1);
        if rem == half {
            let want = match mode {
                Round::Trn | Round::RndMinInf => q,
                Round::Rnd => q + 1,
                Round::TrnZero | Round::RndZero => if m < 0 { q + 1 } else { q },
                Round::RndInf => if m < 0 { q } else { q + 1 },
                Round::RndConv => if q & 1 == 0 { q } else { q + 1 },
                Round::Ceil => q + 1,
                Round::Up => if m < 0 { q } else { q + 1 },
            };
            prop_assert_eq!(got, want, "tie {} >> {} with {:?}", m, s, mode);
        } else if rem < half {
            // Only the directed modes that can move up leave the floor.
            let up = rem != 0
                && match mode {
                    Round::TrnZero => m < 0,
                    Round::Ceil => true,
                    Round::Up => m >= 0,
                    _ => false,
                };
            prop_assert_eq!(got, q + up as i128);
        } else {
            let down = match mode {
                Round::Trn => true,
                Round::TrnZero => m >= 0,
                Round::Up => m < 0,
                _ => false,
            };
            prop_assert_eq!(got, q + !down as i128);
        }
    }

    /// A cast of a value near the type's range (from_frac close to the type's frac, in both
    /// directions) equals the exact reference; the result is always in the type.
    #[test]
    fn cast_near_range_matches_reference(t in fixed_type(), m in mantissa(), d in -70i32..=140) {
        let from = t.frac() + d;
        let got = t.cast(m, from);
        prop_assert!(t.contains(got), "{} out of {}", got, t);
        prop_assert_eq!(big(got), ref_cast_m(&t, m, from), "{} <- {}·2^-{}", t, m, from);
    }

    /// Casts with arbitrary source fracs (left shifts kept within round_shift's limit).
    #[test]
    fn cast_wide_matches_reference(t in fixed_type(), m in mantissa(), from in -1200i32..=1300) {
        let max_left = 125 - bit_len(m) as i32;
        let from = from.max(t.frac() - max_left);
        let got = t.cast(m, from);
        prop_assert!(t.contains(got));
        prop_assert_eq!(big(got), ref_cast_m(&t, m, from), "{} <- {}·2^-{}", t, m, from);
    }

    /// Casts whose exact left-shifted value does not fit in an i128 at all.
    #[test]
    fn cast_huge_left_shift_matches_reference(t in fixed_type(), m in mantissa(), extra in 0i32..=1500) {
        prop_assume!(m != 0);
        let from = t.frac() - (126 - bit_len(m) as i32) - extra;
        let got = t.cast(m, from);
        prop_assert!(t.contains(got));
        prop_assert_eq!(big(got), ref_cast_m(&t, m, from), "{} <- {}·2^{}", t, m, -from);
    }

    /// Exact ties in a cast, plus neighbours, with overflow applied afterwards.
    #[test]
    fn cast_ties_match_reference(t in fixed_type(), (m, s) in tie_mantissa()) {
        let from = t.frac() + s as i32;
        let got = t.cast(m, from);
        prop_assert_eq!(big(got), ref_cast_m(&t, m, from), "{} <- {}·2^-{}", t, m, from);
    }

    /// Range-end codes (min, min+1, max, max-1, …) re-expressed at other fracs, e.g.
    /// the most negative code shifted, or with a tie appended below it.
    #[test]
    fn cast_of_range_end_codes(
        (t, c) in fixed_type().prop_flat_map(|t| (Just(t), code_for(t))),
        shift in 0u32..=50,
        tail in -2i128..=2,
        target in fixed_type(),
    ) {
        // c·2^shift + tail with frac t.frac()+shift: the code itself, or just around it.
        let m = (c << shift) + if shift == 0 { 0 } else { tail };
        let from = t.frac() + shift as i32;
        prop_assert_eq!(big(t.cast(m, from)), ref_cast_m(&t, m, from));
        // And the code of t cast into an unrelated type.
        let got = target.cast(c, t.frac().max(target.frac() - (125 - bit_len(c) as i32)));
        let f = t.frac().max(target.frac() - (125 - bit_len(c) as i32));
        prop_assert_eq!(big(got), ref_cast_m(&target, c, f));
        // In-type codes are fixed points (SAT_SYM: but for the most negative code).
        prop_assert_eq!(t.cast(c, t.frac()), c.max(t.cast_min()));
    }

    /// Overflow handling alone, on wide rounded mantissas (|q| < 2^126).
    #[test]
    fn apply_overflow_matches_reference(
        t in fixed_type(),
        q in prop_oneof![
            -300i128..=300,
            any::<i128>().prop_map(|q| q >> 2),
            (0u32..=125, any::<bool>(), -3i128..=3).prop_map(|(k, neg, d)| {
                let v = (1i128 << k) + d;
                if neg { -v } else { v }
            }),
        ],
        near in -3i128..=3,
        pick in 0u8..3,
    ) {
        let q = match pick {
            0 => q,
            1 => t.max_mantissa() + near,
            _ => t.min_mantissa() + near,
        };
        let got = t.apply_overflow(q);
        prop_assert_eq!(big(got), ref_overflow(&big(q), t.signed, t.width, t.overflow), "{} of {}", t, q);
    }

    /// wrap keeps the low W bits, for every i128 and W up to 126.
    #[test]
    fn wrap_matches_reference(q in any::<i128>(), width in 1u32..=126, signed in any::<bool>()) {
        prop_assert_eq!(big(wrap(q, width, signed)), ref_wrap(&big(q), width, signed));
    }

    /// SAT and SAT_SYM casts are monotone in the input value (for every rounding mode).
    #[test]
    fn saturating_cast_is_monotone(
        t in fixed_type(),
        a in mantissa(),
        b in mantissa(),
        d in -70i32..=140,
    ) {
        let sym = a & 1 == 1; // SAT_SYM is a clamp too ([-max, max] when signed)
        let t = t.with_modes(t.round, if sym { Overflow::SatSym } else { Overflow::Sat });
        let from = t.frac() + d;
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(t.cast(lo, from) <= t.cast(hi, from));
    }

    /// f64_to_mantissa is an exact split of every finite f64.
    #[test]
    fn f64_split_is_exact(x in any_finite_f64()) {
        let (m, f) = f64_to_mantissa(x).unwrap();
        prop_assert!(m.unsigned_abs() < 1u128 << 53);
        prop_assert_eq!(value(m, f), BigRational::from_float(x).unwrap());
    }

    /// Non-finite f64s are rejected, never cast.
    #[test]
    fn non_finite_f64_is_an_error(t in fixed_type(), bits in any::<u64>()) {
        let x = f64::from_bits(bits | 0x7ff0_0000_0000_0000); // exponent all ones: inf/NaN
        prop_assert!(!x.is_finite());
        prop_assert!(f64_to_mantissa(x).is_err());
        prop_assert!(t.cast_f64(x).is_err());
    }

    /// cast_f64 on arbitrary finite f64s (huge, tiny, subnormal) equals the exact reference.
    #[test]
    fn cast_f64_any_matches_reference(t in fixed_type(), x in any_finite_f64()) {
        let got = t.cast_f64(x).unwrap();
        prop_assert!(t.contains(got));
        prop_assert_eq!(big(got), ref_cast(&t, &BigRational::from_float(x).unwrap()), "{} <- {:e}", t, x);
    }

    /// cast_f64 on values near the type's range (so rounding and overflow both matter).
    #[test]
    fn cast_f64_near_range_matches_reference(
        t in moderate_type(),
        mant in -(1i64 << 53)..(1i64 << 53),
        e in -70i32..=70,
    ) {
        let x = mant as f64 * 2f64.powi(e - t.frac());
        let got = t.cast_f64(x).unwrap();
        prop_assert_eq!(big(got), ref_cast(&t, &BigRational::from_float(x).unwrap()), "{} <- {:e}", t, x);
    }

    /// to_f64 is exact/correctly rounded for widths up to 53 bits, at any frac.
    #[test]
    fn to_f64_matches_reference(
        (t, c) in fixed_type()
            .prop_map(|t| FixedType { width: t.width.min(53), ..t })
            .prop_flat_map(|t| (Just(t), code_for(t))),
    ) {
        let want = value(c, t.frac()).to_f64().unwrap();
        prop_assert_eq!(t.to_f64(c), want, "{} code {}", t, c);
    }

    /// Display → parse is the identity on every valid type.
    #[test]
    fn display_parse_round_trip(t in fixed_type()) {
        let s = t.to_string();
        let back: FixedType = s.parse().unwrap();
        prop_assert_eq!(back, t);
        prop_assert_eq!(back.to_string(), s.clone());
        let ap = format!("ap_{s}");
        prop_assert_eq!(ap.parse::<FixedType>().unwrap(), t);
        // And the fully spelled-out form.
        let kind = if t.signed { "fixed" } else { "ufixed" };
        let full = format!("{kind}<{},{},{},{}>", t.width, t.int_bits, t.round.name(), t.overflow.name());
        prop_assert_eq!(full.parse::<FixedType>().unwrap(), t);
    }

    /// Integer aliases are fixed types with I = W.
    #[test]
    fn int_aliases(w in 1u32..=64, signed in any::<bool>()) {
        let s = format!("{}int<{}>", if signed { "" } else { "u" }, w);
        let t: FixedType = s.parse().unwrap();
        prop_assert_eq!(t, FixedType::new(signed, w, w as i32));
        prop_assert_eq!(t.frac(), 0);
        let ap = format!("ap_{s}");
        prop_assert_eq!(ap.parse::<FixedType>().unwrap(), t);
    }
}
