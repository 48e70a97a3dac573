//! `.npy` input and output for the simulator.
//!
//! Float arrays are values: each is cast exactly to its input element's type with the type's
//! own rounding and overflow. Integer arrays are raw mantissas and must fit their types.

use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use ndarray::{Array2, ArrayD, Axis};
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
    let n_el = types.len();
    let shape = match &data {
        NpyData::Float(a) => a.shape().to_vec(),
        NpyData::Int(a) => a.shape().to_vec(),
    };
    let total: usize = shape.iter().product();
    let per_sample: usize = shape.iter().skip(1).product();
    let rows = if shape.len() >= 2 && per_sample == n_el {
        shape[0]
    } else if total == n_el {
        1
    } else {
        return Err(Error::Data {
            file: file.into(),
            message: format!("shape {shape:?} does not hold samples of {n_el} input elements (expected [N, {n_el}] or [N, <input shape>])"),
        });
    };
    let mut out = Array2::<i64>::zeros((rows, n_el));
    match data {
        NpyData::Float(a) => {
            if raw_only {
                return Err(Error::Data {
                    file: file.into(),
                    message: "--raw expects an integer array of mantissas, found floats".into(),
                });
            }
            // `iter` walks the logical (row-major) order whatever the memory layout, so
            // Fortran-order files work too.
            for (k, &x) in a.iter().enumerate() {
                let (r, c) = (k / n_el, k % n_el);
                let m = types[c].cast_f64(x).map_err(|e| Error::Data {
                    file: file.into(),
                    message: format!("sample {r}, element {c}: {e}"),
                })?;
                out[[r, c]] = i64::try_from(m).map_err(|_| Error::Data {
                    file: file.into(),
                    message: format!(
                        "sample {r}, element {c}: the value {x} becomes mantissa {m} of {}, which is 2^63 or more; the simulator passes mantissas as int64 and cannot take it",
                        types[c]
                    ),
                })?;
            }
        }
        NpyData::Int(a) => {
            for (k, &m) in a.iter().enumerate() {
                let (r, c) = (k / n_el, k % n_el);
                if !types[c].contains(m as i128) {
                    return Err(Error::Data {
                        file: file.into(),
                        message: format!(
                            "sample {r}, element {c}: mantissa {m} does not fit the input type {} (integer arrays are raw mantissas; pass floats to have values cast)",
                            types[c]
                        ),
                    });
                }
                out[[r, c]] = m;
            }
        }
    }
    Ok(out)
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
