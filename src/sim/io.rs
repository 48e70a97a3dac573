//! `.npy` input and output for the simulator.
//!
//! Float arrays are values: each is cast exactly to its input element's type with the type's
//! own rounding and overflow. Integer arrays are raw mantissas and must fit their types.

use crate::error::{Error, Result};
use crate::ir::fixed::{FixedType, Round};
use ndarray::{Array2, ArrayD, ArrayViewD, Axis};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::fs::File;
use std::path::Path;

/// What a `.npy` file held.
pub enum NpyData {
    Float(ArrayD<f64>),
    Int(ArrayD<i64>),
}

pub fn read_npy(path: &Path) -> Result<NpyData> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // ndarray-npy allocates the element count the header declares before reading any data, so
    // a header that lies about its shape would abort the process on allocation failure.
    check_declared_size(&bytes).map_err(|message| Error::Data {
        file: file.clone(),
        message,
    })?;
    macro_rules! attempt {
        ($t:ty, $wrap:expr) => {
            if let Ok(a) = ArrayD::<$t>::read_npy(&bytes[..]) {
                return Ok($wrap(a));
            }
        };
    }
    attempt!(f64, NpyData::Float);
    attempt!(f32, |a: ArrayD<f32>| NpyData::Float(a.mapv(f64::from)));
    attempt!(i64, NpyData::Int);
    attempt!(i32, |a: ArrayD<i32>| NpyData::Int(a.mapv(i64::from)));
    attempt!(i16, |a: ArrayD<i16>| NpyData::Int(a.mapv(i64::from)));
    attempt!(i8, |a: ArrayD<i8>| NpyData::Int(a.mapv(i64::from)));
    attempt!(u8, |a: ArrayD<u8>| NpyData::Int(a.mapv(i64::from)));
    attempt!(u16, |a: ArrayD<u16>| NpyData::Int(a.mapv(i64::from)));
    attempt!(u32, |a: ArrayD<u32>| NpyData::Int(a.mapv(i64::from)));
    // Report the real reason for the first (most general) attempt.
    let err = ArrayD::<f64>::read_npy(&bytes[..])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Err(Error::Data {
        file,
        message: format!("not a readable .npy array of float64/float32/int64/int32/int16/int8/uint8/uint16/uint32 ({err})"),
    })
}

/// Checks that the header length and the element count an `.npy` header declares can be
/// backed by the bytes that follow (every element takes at least one byte). Files that do not look like `.npy` at
/// all pass, and are left to the real reader to reject with its own message.
fn check_declared_size(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        return Ok(());
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Ok(()),
    };
    // The reader allocates the declared header length first: a few bytes claiming a 4 GB
    // header would abort the process.
    let Some(header) = bytes.get(start..start.saturating_add(hlen)) else {
        return Err(format!(
            "the .npy header claims {hlen} bytes but the file holds only {} (truncated or corrupt file)",
            bytes.len() - start
        ));
    };
    let header = String::from_utf8_lossy(header);
    let Some(k) = header.find("shape") else {
        return Ok(());
    };
    let rest = &header[k..];
    let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
        return Ok(());
    };
    if close < open {
        return Ok(());
    }
    let mut count: Option<u128> = Some(1);
    for d in rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let Ok(d) = d.parse::<u128>() else {
            return Ok(());
        };
        count = count.and_then(|c| c.checked_mul(d));
    }
    let data = (bytes.len() - start - hlen) as u128;
    match count {
        Some(n) if n <= data => Ok(()),
        _ => Err(format!(
            "the .npy header declares shape ({}) but the file holds only {data} bytes of data (truncated or corrupt file)",
            rest[open + 1..close].trim()
        )),
    }
}

/// Turns an array of shape `[N, ...]` (or a single sample of exactly the input size) into
/// `[N, elements]` input mantissas.
pub fn to_mantissas(
    data: NpyData,
    types: &[FixedType],
    file: &str,
    raw_only: bool,
) -> Result<Array2<i64>> {
    match data {
        NpyData::Float(a) => {
            if raw_only {
                // The shape is checked first, as for integer arrays.
                batch_rows(a.shape(), types.len(), file)?;
                return Err(Error::Data {
                    file: file.into(),
                    message: "--raw expects an integer array of mantissas, found floats".into(),
                });
            }
            cast_values(a.view(), types, file)
        }
        NpyData::Int(a) => check_mantissas(a.view(), types, file),
    }
}

/// The number of samples in a batch of shape `shape` holding samples of `n_el` input
/// elements: `[N, n_el]`, `[N, <input shape>]`, or one sample of exactly `n_el` elements.
pub fn batch_rows(shape: &[usize], n_el: usize, file: &str) -> Result<usize> {
    let total: usize = shape.iter().product();
    let per_sample: usize = shape.iter().skip(1).product();
    if shape.len() >= 2 && per_sample == n_el {
        Ok(shape[0])
    } else if total == n_el {
        Ok(1)
    } else {
        Err(Error::Data {
            file: file.into(),
            message: format!("shape {shape:?} does not hold samples of {n_el} input elements (expected [N, {n_el}] or [N, <input shape>])"),
        })
    }
}

/// An element type of input values ([`cast_values`]): floats and integers, each cast exactly.
pub trait InputValue: Copy + std::fmt::Display {
    /// The exact cast of this value into `c`'s type (its rounding and overflow).
    fn cast_to(self, c: &Cast) -> std::result::Result<i128, String>;
    /// As a mantissa unchanged (`None` when it is not an integer).
    fn as_mantissa(self) -> Option<i128>;
}

macro_rules! float_input {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn cast_to(self, c: &Cast) -> std::result::Result<i128, String> {
                c.cast_f64(f64::from(self))
            }
            fn as_mantissa(self) -> Option<i128> {
                None
            }
        }
    )*};
}
macro_rules! int_input {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn cast_to(self, c: &Cast) -> std::result::Result<i128, String> {
                Ok(c.ty.cast(i128::from(self), 0))
            }
            fn as_mantissa(self) -> Option<i128> {
                Some(i128::from(self))
            }
        }
    )*};
}
float_input!(f64, f32);
int_input!(i64, i32, i16, i8, u64, u32, u16, u8);

/// Casts into one fixed-point type, prepared once for a batch: [`FixedType::cast_f64`] with a
/// fast path for the common case, equal to it on every input.
#[derive(Clone, Copy, Debug)]
pub struct Cast {
    pub ty: FixedType,
    /// `2^frac` (exact), when `frac` is small enough for the fast path.
    scale: Option<f64>,
    /// The type's mantissa range, clamped to i64.
    min: i64,
    max: i64,
}

impl Cast {
    pub fn new(ty: FixedType) -> Cast {
        let f = ty.frac();
        Cast {
            ty,
            scale: (-1000..=1000)
                .contains(&f)
                .then(|| f64::from_bits(((f + 1023) as u64) << 52)),
            min: ty.min_mantissa().clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            max: ty.max_mantissa().clamp(i64::MIN.into(), i64::MAX.into()) as i64,
        }
    }

    /// `ty.cast_f64(x)`. Fast path: when `s = x·2^frac` is a normal float below 2^52, the
    /// product, its floor and the fraction `s − ⌊s⌋` are exact, and the rounding is decided
    /// from them as [`crate::ir::fixed::round_shift`] decides it; a result inside the type's
    /// range is the mantissa, anything else goes through [`FixedType::apply_overflow`].
    /// Other inputs (huge, tiny, NaN, inf) take the general path. Equal to
    /// [`FixedType::cast_f64`] on every input (tested).
    #[inline]
    pub fn cast_f64(&self, x: f64) -> std::result::Result<i128, String> {
        if let Some(scale) = self.scale {
            let s = x * scale;
            if (s.is_normal() || x == 0.0) && s.abs() < 4_503_599_627_370_496.0 {
                // ⌊s⌋ without a libm call: truncate, then step down for negative fractions.
                let t = s as i64;
                let q = t - ((t as f64) > s) as i64;
                let rem = s - q as f64;
                if rem == 0.0 {
                    return Ok(self.fit(q));
                }
                let neg = s < 0.0;
                let inc = match self.ty.round {
                    Round::Trn => false,
                    Round::TrnZero => neg,
                    Round::Rnd => rem >= 0.5,
                    Round::RndZero => rem > 0.5 || (rem == 0.5 && neg),
                    Round::RndMinInf => rem > 0.5,
                    Round::RndInf => rem > 0.5 || (rem == 0.5 && !neg),
                    Round::RndConv => rem > 0.5 || (rem == 0.5 && q & 1 == 1),
                    Round::Ceil => true,
                    Round::Up => !neg,
                };
                return Ok(self.fit(q + inc as i64));
            }
        }
        self.ty.cast_f64(x)
    }

    /// A rounded mantissa with the type's overflow applied.
    #[inline]
    fn fit(&self, q: i64) -> i128 {
        if (self.min..=self.max).contains(&q) {
            i128::from(q)
        } else {
            self.ty.apply_overflow(i128::from(q))
        }
    }
}

/// Walks the batch in logical (row-major) order whatever its memory layout (Fortran-order
/// files, strided or reversed views), giving each element's sample, input element and value.
fn for_each_element<T: InputValue>(
    a: &ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
    mut f: impl FnMut(usize, usize, T) -> Result<i64>,
) -> Result<Array2<i64>> {
    let n_el = types.len();
    let rows = batch_rows(a.shape(), n_el, file)?;
    let mut out = vec![0i64; rows * n_el];
    if n_el > 0 {
        match a.as_slice() {
            Some(s) => {
                for (r, (xs, os)) in s
                    .chunks_exact(n_el)
                    .zip(out.chunks_exact_mut(n_el))
                    .enumerate()
                {
                    for (c, (&x, o)) in xs.iter().zip(os.iter_mut()).enumerate() {
                        *o = f(first_row + r, c, x)?;
                    }
                }
            }
            None => {
                for (k, (&x, o)) in a.iter().zip(out.iter_mut()).enumerate() {
                    *o = f(first_row + k / n_el, k % n_el, x)?;
                }
            }
        }
    }
    Ok(Array2::from_shape_vec((rows, n_el), out).expect("rows × elements"))
}

/// Input values (floats, or integers taken as values) of a batch `[N, ...]` → `[N, elements]`
/// mantissas, each cast exactly to its input element's type with the type's own rounding and
/// overflow (what `rtl4ml sim` does with a float `.npy`). `file` names the data in errors.
pub fn cast_values<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
) -> Result<Array2<i64>> {
    cast_values_at(a, types, file, 0)
}

/// [`cast_values`] of a slice of a larger batch that starts at sample `first_row` (errors
/// name samples by their place in the whole batch).
pub fn cast_values_at<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
) -> Result<Array2<i64>> {
    let casts: Vec<Cast> = types.iter().map(|&t| Cast::new(t)).collect();
    for_each_element(&a, types, file, first_row, |r, c, x| {
        let m = x.cast_to(&casts[c]).map_err(|e| Error::Data {
            file: file.into(),
            message: format!("sample {r}, element {c}: {e}"),
        })?;
        i64::try_from(m).map_err(|_| Error::Data {
            file: file.into(),
            message: format!(
                "sample {r}, element {c}: the value {x} becomes mantissa {m} of {}, which is 2^63 or more; the simulator passes mantissas as int64 and cannot take it",
                types[c]
            ),
        })
    })
}

/// Raw integer mantissas of a batch `[N, ...]` → `[N, elements]`, each checked against its
/// input element's type (what `rtl4ml sim` does with an integer `.npy`).
pub fn check_mantissas<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
) -> Result<Array2<i64>> {
    check_mantissas_at(a, types, file, 0)
}

/// [`check_mantissas`] of a slice of a larger batch that starts at sample `first_row`.
pub fn check_mantissas_at<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
) -> Result<Array2<i64>> {
    for_each_element(&a, types, file, first_row, |r, c, x| {
        match x.as_mantissa() {
            Some(m) if types[c].contains(m) => i64::try_from(m).ok(),
            _ => None,
        }
        .ok_or_else(|| Error::Data {
            file: file.into(),
            message: format!(
                "sample {r}, element {c}: mantissa {x} does not fit the input type {} (integer arrays are raw mantissas; pass floats to have values cast)",
                types[c]
            ),
        })
    })
}

/// Converts output mantissas to real values (exact for types up to 53 bits). An int64 holding
/// a 64-bit unsigned mantissa of 2^63 or more holds its bit pattern, and is read as such.
pub fn to_values(m: &Array2<i64>, types: &[FixedType]) -> Array2<f64> {
    let mut v = Array2::<f64>::zeros(m.dim());
    for (mut row_v, row_m) in v.axis_iter_mut(Axis(0)).zip(m.axis_iter(Axis(0))) {
        for (c, (x, &q)) in row_v.iter_mut().zip(row_m).enumerate() {
            let t = types[c];
            let q = if !t.signed && t.width == 64 {
                q as u64 as i128
            } else {
                q as i128
            };
            *x = t.to_f64(q);
        }
    }
    v
}

pub fn write_npy<T: ndarray_npy::WritableElement>(path: &Path, a: &Array2<T>) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    a.write_npy(std::io::BufWriter::new(f))
        .map_err(|e| Error::Data {
            file: path.display().to_string(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::fixed::Overflow;

    /// The fast path of [`Cast::cast_f64`] equals [`FixedType::cast_f64`] for every rounding
    /// and overflow mode, on ties, values next to them, huge, tiny and random inputs.
    #[test]
    fn fast_cast_equals_exact_cast() {
        let rounds = [
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
        let ovfs = [
            Overflow::Wrap,
            Overflow::Sat,
            Overflow::SatZero,
            Overflow::SatSym,
            Overflow::SatNarrow,
        ];
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut xs: Vec<f64> = vec![
            0.0,
            -0.0,
            1e300,
            -1e300,
            5e-324,
            -5e-324,
            1e-310,
            2f64.powi(60),
        ];
        for k in -12..12 {
            for d in [-1e-9, 0.0, 1e-9] {
                let v = f64::from(k) * 0.125 + 0.0625 + d;
                xs.extend([v, -v, v * 1024.0, v / 1024.0]);
            }
        }
        for _ in 0..400 {
            let u = (rnd() >> 11) as f64 / (1u64 << 53) as f64;
            let e = (rnd() % 80) as i32 - 40;
            let sign = if rnd() & 1 == 1 { -1.0 } else { 1.0 };
            xs.push(sign * u * 2f64.powi(e));
        }
        for width in [1u32, 2, 5, 8, 16, 33, 53, 64] {
            for int_bits in [-70, -3, 0, 1, 4, width as i32, width as i32 + 20, 70] {
                for signed in [true, false] {
                    for &round in &rounds {
                        for &overflow in &ovfs {
                            let ty = FixedType {
                                signed,
                                width,
                                int_bits,
                                round,
                                overflow,
                            };
                            if ty.validate().is_err() {
                                continue;
                            }
                            let c = Cast::new(ty);
                            for &x in &xs {
                                assert_eq!(c.cast_f64(x), ty.cast_f64(x), "{ty} {x:e}");
                            }
                        }
                    }
                }
            }
        }
    }
}
