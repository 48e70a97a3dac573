//! `.npy` input and output for the simulator.
//!
//! Float arrays are values: each is cast exactly to its input element's type with the type's
//! own rounding and overflow. Integer arrays are raw mantissas and must fit their types.

use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
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
    /// The exact cast of this value into `ty` (its rounding and overflow).
    fn cast_to(self, ty: &FixedType) -> std::result::Result<i128, String>;
    /// As a mantissa of `ty` unchanged (`None` when it is not an integer).
    fn as_mantissa(self) -> Option<i128>;
}

macro_rules! float_input {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn cast_to(self, ty: &FixedType) -> std::result::Result<i128, String> {
                ty.cast_f64(f64::from(self))
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
            fn cast_to(self, ty: &FixedType) -> std::result::Result<i128, String> {
                Ok(ty.cast(i128::from(self), 0))
            }
            fn as_mantissa(self) -> Option<i128> {
                Some(i128::from(self))
            }
        }
    )*};
}
float_input!(f64, f32);
int_input!(i64, i32, i16, i8, u64, u32, u16, u8);

/// Walks the batch in logical (row-major) order whatever its memory layout (Fortran-order
/// files, strided or reversed views), giving each element's sample, input element and value.
fn for_each_element<T: InputValue>(
    a: &ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    mut f: impl FnMut(usize, usize, T) -> Result<i64>,
) -> Result<Array2<i64>> {
    let n_el = types.len();
    let rows = batch_rows(a.shape(), n_el, file)?;
    let mut out = vec![0i64; rows * n_el];
    let mut put = |k: usize, x: T| -> Result<()> {
        out[k] = f(k / n_el, k % n_el, x)?;
        Ok(())
    };
    match a.as_slice() {
        Some(s) => s.iter().enumerate().try_for_each(|(k, &x)| put(k, x))?,
        None => a.iter().enumerate().try_for_each(|(k, &x)| put(k, x))?,
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
    for_each_element(&a, types, file, |r, c, x| {
        let m = x.cast_to(&types[c]).map_err(|e| Error::Data {
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
    for_each_element(&a, types, file, |r, c, x| {
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
