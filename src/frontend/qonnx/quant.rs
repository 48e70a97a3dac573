//! QONNX quantizer semantics (`Quant`/`IntQuant`, `BipolarQuant`, `Trunc`), as qonnx's
//! executor computes them, mapped exactly onto fixed-point types.
//!
//! `Quant` with zero point 0 and scale `2^-k`: `y = clamp(round(x · 2^k), min, max) · 2^-k`
//! with the integer range of `bits`, `signed` and `narrow`. That is a cast to a `bits`-wide
//! type with `k` fractional bits, the matching rounding mode, and `SAT` (`SAT_NARROW` when
//! narrow). qonnx executes a *signed 1-bit* `Quant` as bipolar (`x ≥ 0 ? scale : −scale`),
//! and so does rtl4ml.

use super::exact::{ConstTensor, Dyadic};
use crate::ir::fixed::{FixedType, Overflow, Round};

/// QONNX rounding mode name → fixed-point rounding (qonnx upper-cases the name first).
pub fn round_mode(name: &str) -> Result<Round, String> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "ROUND" | "HALF_EVEN" => Round::RndConv,
        "FLOOR" => Round::Trn,
        "CEIL" => Round::Ceil,
        "DOWN" => Round::TrnZero,
        "UP" => Round::Up,
        "HALF_UP" => Round::RndInf,
        "HALF_DOWN" => Round::RndZero,
        _ => {
            return Err(format!(
                "unknown rounding_mode `{name}` (expected ROUND, HALF_EVEN, FLOOR, CEIL, DOWN, UP, \
                 HALF_UP or HALF_DOWN)"
            ))
        }
    })
}

/// The integer grid of a quantizer: `bits`, signedness, narrow range, rounding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntGrid {
    pub bits: u32,
    pub signed: bool,
    pub narrow: bool,
    pub round: Round,
}

impl IntGrid {
    /// qonnx executes a signed 1-bit quantizer as bipolar.
    pub fn is_bipolar(&self) -> bool {
        self.signed && self.bits == 1
    }

    /// The fixed-point type of this grid at a step of `2^-frac`: the quantizer exactly.
    pub fn fixed_type(&self, frac: i32) -> Result<FixedType, String> {
        let overflow = if self.narrow {
            Overflow::SatNarrow
        } else {
            Overflow::Sat
        };
        let ty = FixedType::new(self.signed, self.bits, self.bits as i32 - frac)
            .with_modes(self.round, overflow);
        ty.validate()?;
        Ok(ty)
    }

    /// Quantizes constants exactly: element `k` with step `2^-frac[k]`.
    pub fn fold(&self, x: &ConstTensor, frac: &[i32]) -> ConstTensor {
        let data = x
            .data
            .iter()
            .zip(frac)
            .map(|(&v, &f)| {
                if self.is_bipolar() {
                    return bipolar(v, Dyadic::pow2(-f));
                }
                let ty = self.fixed_type(f).expect("validated by the caller");
                Dyadic::new(v.cast(&ty), f).expect("a mantissa of at most 64 bits")
            })
            .collect();
        ConstTensor {
            shape: x.shape.clone(),
            data,
        }
    }
}

/// `BipolarQuant`: `x ≥ 0 ? scale : −scale`.
pub fn bipolar(x: Dyadic, scale: Dyadic) -> Dyadic {
    if x.is_negative() {
        scale.neg()
    } else {
        scale
    }
}

/// The fixed-point type that `x ≥ 0 ? 0 : −1` comes out of: a cast of `x` to a 1-bit
/// signed integer with TRN and SAT floors every negative value to −1 and clamps every
/// non-negative one to 0. `BipolarQuant(x) = scale · (2·b + 1)` for that `b`.
pub fn sign_type() -> FixedType {
    FixedType::new(true, 1, 1).with_modes(Round::Trn, Overflow::Sat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: f64) -> Dyadic {
        Dyadic::from_f64(x).unwrap()
    }

    #[test]
    fn folds_like_qonnx() {
        let g = IntGrid {
            bits: 4,
            signed: true,
            narrow: true,
            round: Round::RndConv,
        };
        let x = ConstTensor {
            shape: vec![5],
            data: [0.3, -0.3125, 5.0, -5.0, 0.0625].map(d).to_vec(),
        };
        // step 1/8: 2.4 → 2, -2.5 → -2 (ties to even), 40 → 7, -40 → -7 (narrow), 0.5 → 0
        let y = g.fold(&x, &[3; 5]);
        assert_eq!(y.data, [0.25, -0.25, 0.875, -0.875, 0.0].map(d).to_vec());
        let u = IntGrid {
            bits: 3,
            signed: false,
            narrow: true,
            round: Round::Up,
        };
        let y = u.fold(&x, &[0; 5]);
        assert_eq!(y.data, [1.0, 0.0, 5.0, 0.0, 1.0].map(d).to_vec());
        let b = IntGrid {
            bits: 1,
            signed: true,
            narrow: false,
            round: Round::RndConv,
        };
        assert_eq!(
            b.fold(&x, &[1; 5]).data,
            [0.5, -0.5, 0.5, -0.5, 0.5].map(d).to_vec()
        );
        assert_eq!(round_mode("half_up"), Ok(Round::RndInf));
        assert!(round_mode("STOCHASTIC").is_err());
    }
}
