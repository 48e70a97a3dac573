//! `.npy` input and output for the simulator.
//!
//! Float arrays are values: each is cast exactly to its input element's type with the type's
//! own rounding and overflow. Integer arrays are raw mantissas and must fit their types.

use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use ndarray::{Array2, ArrayD, Axis};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// What a `.npy` file held.
pub enum NpyData {
    Float(ArrayD<f64>),
    Int(ArrayD<i64>),
}

pub fn read_npy(path: &Path) -> Result<NpyData> {
    let file = path.display().to_string();
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| Error::io(path, e))
    };
    macro_rules! attempt {
        ($t:ty, $wrap:expr) => {
            if let Ok(a) = ArrayD::<$t>::read_npy(open()?) {
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
    let err = ArrayD::<f64>::read_npy(open()?)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Err(Error::Data {
        file,
        message: format!("not a readable .npy array of float64/float32/int64/int32/int16/int8/uint8/uint16/uint32 in C order ({err})"),
    })
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
            let flat = a
                .into_shape_with_order((rows, n_el))
                .expect("sizes checked");
            for ((r, c), &x) in flat.indexed_iter() {
                let m = types[c].cast_f64(x).map_err(|e| Error::Data {
                    file: file.into(),
                    message: format!("sample {r}, element {c}: {e}"),
                })?;
                out[[r, c]] = m as i64;
            }
        }
        NpyData::Int(a) => {
            let flat = a
                .into_shape_with_order((rows, n_el))
                .expect("sizes checked");
            for ((r, c), &m) in flat.indexed_iter() {
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

/// Converts output mantissas to real values (exact for types up to 53 bits).
pub fn to_values(m: &Array2<i64>, types: &[FixedType]) -> Array2<f64> {
    let mut v = Array2::<f64>::zeros(m.dim());
    for (mut row_v, row_m) in v.axis_iter_mut(Axis(0)).zip(m.axis_iter(Axis(0))) {
        for (c, (x, &q)) in row_v.iter_mut().zip(row_m).enumerate() {
            *x = types[c].to_f64(q as i128);
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
