//! `rtl4ml sim` over `.npy` files of any size: the input is read, cast, simulated and written a
//! chunk of samples at a time, through buffers that are reused, so that memory stays flat and
//! no array of the whole batch is ever built (a million jet samples are 128 MB in, 40 MB out).
//!
//! The results are those of the whole-array path ([`super::io::to_mantissas`],
//! [`Simulator::run`], [`super::io::to_values`]) byte for byte, errors included: a bad value
//! is named by its file, sample and element, and the output file is only put in place
//! (atomically) when every sample has been simulated.

use super::io::{self, Cast, InputValue, NpyStream, NpyType};
use super::Simulator;
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::safe_fs::AtomicFile;
use ndarray::{Array2, ArrayView2};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Samples per chunk: large enough that the per-chunk work (a simulator call, a write) is
/// noise, small enough that the buffers stay in the last-level cache's neighbourhood.
const CHUNK_ROWS: usize = 1 << 12;

/// An input batch opened for simulation: its header is checked, its samples not yet read.
pub enum SimInput {
    /// C-order data, streamed.
    Stream {
        stream: NpyStream<BufReader<File>>,
        rows: usize,
        file: String,
    },
    /// Fortran-order data (the logical order is not the file's order): read whole.
    Whole(Array2<i64>),
}

impl SimInput {
    /// Opens `path` for `types` input elements (floats are values, integers raw mantissas):
    /// the header and the shape are checked here, before any compilation.
    pub fn open(path: &Path, types: &[FixedType]) -> Result<SimInput> {
        let file = path.display().to_string();
        let stream = io::open_npy(path)?;
        let h = &stream.header;
        let shape: Vec<usize> = h.shape.iter().map(|&d| d as usize).collect();
        let rows = io::batch_rows(&shape, types.len(), &file)?;
        if h.fortran_order {
            return Ok(SimInput::Whole(io::to_mantissas(
                stream.read_all()?,
                types,
                &file,
                false,
            )?));
        }
        Ok(SimInput::Stream { stream, rows, file })
    }
}

/// An `.npy` element type read from raw bytes.
trait Elem: InputValue {
    const SIZE: usize;
    fn get(b: &[u8], big_endian: bool) -> Self;
}

macro_rules! elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const SIZE: usize = std::mem::size_of::<$t>();

            #[inline(always)]
            fn get(b: &[u8], big_endian: bool) -> Self {
                let b = b.try_into().expect("element size");
                if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }
        }
    )*};
}
elem!(f64, f32, i64, i32, i16, i8, u8, u16, u32);

/// Mantissas of a chunk of raw C-order data (`out`: rows × elements), floats cast as values,
/// integers checked as raw mantissas, exactly as [`io::to_mantissas`] does.
#[allow(clippy::too_many_arguments)]
fn mantissas<T: Elem>(
    raw: &[u8],
    big_endian: bool,
    casts: &[Cast],
    types: &[FixedType],
    values: bool,
    file: &str,
    first_row: usize,
    out: &mut [i64],
    scratch: &mut Vec<f64>,
) -> Result<()> {
    let n_el = types.len();
    if values && n_el > 0 && T::IS_FLOAT && casts.iter().all(|c| c.ty.round == types[0].round) {
        // The common case: the chunk decoded to f64 (exactly) in one pass, then whole rows
        // through the branch-free kernel; a row off its path is redone from its bytes.
        scratch.clear();
        scratch.extend(
            raw.chunks_exact(T::SIZE)
                .map(|b| T::get(b, big_endian).to_f64()),
        );
        let row_bytes = n_el * T::SIZE;
        let redo = |r: usize, os: &mut [i64]| {
            let xs = &raw[r * row_bytes..][..row_bytes];
            value_row::<T>(xs, big_endian, casts, file, first_row + r, os)
        };
        if let Some(done) = io::cast_float_rows(casts, scratch, out, redo) {
            return done;
        }
    }
    let rows = raw
        .chunks_exact(T::SIZE * n_el)
        .zip(out.chunks_exact_mut(n_el))
        .enumerate();
    if values {
        for (r, (xs, os)) in rows {
            value_row::<T>(xs, big_endian, casts, file, first_row + r, os)?;
        }
    } else {
        for (r, (xs, os)) in rows {
            for (c, ((xb, o), ty)) in xs
                .chunks_exact(T::SIZE)
                .zip(os.iter_mut())
                .zip(types)
                .enumerate()
            {
                *o = io::raw_mantissa(T::get(xb, big_endian), ty, file, first_row + r, c)?;
            }
        }
    }
    Ok(())
}

/// The mantissas of one row of float values (`os`), each cast to its element's type: the
/// common case inline, anything else (and every error, named by sample `r`) through the
/// exact cast.
#[inline(always)]
fn value_row<T: Elem>(
    xs: &[u8],
    big_endian: bool,
    casts: &[Cast],
    file: &str,
    r: usize,
    os: &mut [i64],
) -> Result<()> {
    for (c, ((xb, o), cast)) in xs.chunks_exact(T::SIZE).zip(os).zip(casts).enumerate() {
        let x = T::get(xb, big_endian);
        *o = match x.cast_fast(cast) {
            Some(m) => m,
            None => io::value_mantissa(x, cast, file, r, c)?,
        };
    }
    Ok(())
}

/// The `.npy` header of a C-order `[rows, cols]` array of `descr` (`<f8`, `<i8`), as
/// `ndarray-npy` writes it (format 1.0, padded with spaces to a multiple of 64 bytes).
fn npy_header(descr: &str, rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols})}}");
    let prefix = 10; // magic, version, u16 length
    let unpadded = prefix + dict.len() + 1;
    let total = unpadded + (64 - unpadded % 64);
    let len = total - prefix;
    let mut h = Vec::with_capacity(total);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&(len as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

/// Simulates every sample of `input` and writes the outputs to `output` (real values, or raw
/// mantissas with `raw`), atomically; returns the number of samples and the seconds spent in
/// the simulator itself.
pub fn simulate_to_file(
    sim: &Simulator,
    input: SimInput,
    in_types: &[FixedType],
    out_types: &[FixedType],
    output: &Path,
    raw: bool,
) -> Result<(usize, f64)> {
    let n_out = out_types.len();
    let (mut stream, rows, file) = match input {
        SimInput::Whole(m) => {
            let t0 = std::time::Instant::now();
            let out = sim.run(m.view());
            let dt = t0.elapsed().as_secs_f64();
            if raw {
                io::write_npy(output, &out)?;
            } else {
                io::write_npy(output, &io::to_values(&out, out_types))?;
            }
            return Ok((out.nrows(), dt));
        }
        SimInput::Stream { stream, rows, file } => (stream, rows, file),
    };
    let n_el = in_types.len();
    let (ty, be) = (stream.header.ty, stream.header.big_endian);
    let values = matches!(ty, NpyType::F8 | NpyType::F4);
    let casts: Vec<Cast> = in_types.iter().map(|&t| Cast::new(t)).collect();
    let mut dst = AtomicFile::create(output)?;
    dst.write(&npy_header(if raw { "<i8" } else { "<f8" }, rows, n_out))?;
    let chunk = CHUNK_ROWS.min(rows.max(1));
    let mut raw_in = vec![0u8; chunk * n_el * ty.size()];
    let mut mant = vec![0i64; chunk * n_el];
    let mut scratch = Vec::with_capacity(chunk * n_el);
    let mut bytes_out: Vec<u8> = Vec::with_capacity(chunk * n_out * 8);
    let mut sim_s = 0.0;
    let mut first = 0;
    while first < rows {
        let len = chunk.min(rows - first);
        let raw_chunk = &mut raw_in[..len * n_el * ty.size()];
        stream.read_data(raw_chunk)?;
        let m = &mut mant[..len * n_el];
        let args = (&casts[..], in_types, values, file.as_str(), first);
        macro_rules! go {
            ($t:ty) => {
                mantissas::<$t>(
                    raw_chunk,
                    be,
                    args.0,
                    args.1,
                    args.2,
                    args.3,
                    args.4,
                    m,
                    &mut scratch,
                )
            };
        }
        match ty {
            NpyType::F8 => go!(f64),
            NpyType::F4 => go!(f32),
            NpyType::I8 => go!(i64),
            NpyType::I4 => go!(i32),
            NpyType::I2 => go!(i16),
            NpyType::I1 => go!(i8),
            NpyType::U1 => go!(u8),
            NpyType::U2 => go!(u16),
            NpyType::U4 => go!(u32),
        }?;
        let t0 = std::time::Instant::now();
        let out = sim.run(ArrayView2::from_shape((len, n_el), m).expect("chunk shape"));
        sim_s += t0.elapsed().as_secs_f64();
        bytes_out.clear();
        let flat = out.as_slice().expect("standard layout");
        if raw {
            for &q in flat {
                bytes_out.extend_from_slice(&q.to_le_bytes());
            }
        } else if n_out > 0 {
            for row in flat.chunks_exact(n_out) {
                for (&q, t) in row.iter().zip(out_types) {
                    bytes_out.extend_from_slice(&io::output_value(q, t).to_le_bytes());
                }
            }
        }
        dst.write(&bytes_out)?;
        first += len;
    }
    stream.finish()?;
    dst.commit()?;
    Ok((rows, sim_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;
    use ndarray_npy::WriteNpyExt;

    /// `mantissas::<T>` of `vals`, each encoded by `enc` (the value it then holds, and its
    /// bytes), equals [`FixedType::cast_f64`] of that value.
    fn check_kernel<T: Elem>(
        vals: &[f64],
        enc: impl Fn(f64) -> (f64, Vec<u8>),
        big: bool,
        casts: &[Cast],
        types: &[FixedType],
        label: &str,
    ) {
        let (exact, bytes): (Vec<f64>, Vec<Vec<u8>>) = vals.iter().map(|&v| enc(v)).unzip();
        let bytes = bytes.concat();
        let mut out = vec![0i64; vals.len()];
        mantissas::<T>(
            &bytes,
            big,
            casts,
            types,
            true,
            "x.npy",
            0,
            &mut out,
            &mut Vec::new(),
        )
        .unwrap();
        let n_el = types.len();
        for (i, (&v, &m)) in exact.iter().zip(&out).enumerate() {
            let ty = types[i % n_el];
            assert_eq!(
                i128::from(m),
                ty.cast_f64(v).unwrap(),
                "{ty} of {v} ({label})"
            );
        }
    }

    /// The branch-free row kernel ([`float_rows`]) gives [`FixedType::cast_f64`]'s mantissa
    /// for every rounding mode and overflow mode, on grid points, ties, near-ties, values
    /// beyond the range and beyond 2^31 in mantissa, signed zeros and subnormals, for f64 and
    /// f32 data in both byte orders; a NaN is refused by sample and element.
    #[test]
    fn row_kernel_equals_the_exact_cast() {
        use crate::ir::fixed::Overflow;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let shapes = [
            (true, 8, 3),
            (false, 6, 2),
            (true, 16, 6),
            (true, 31, 12),
            (true, 40, 30),
            (false, 3, -2),
            (true, 5, 9),
            (true, 1, 1),
        ];
        for mode in io::ROUNDS {
            for ovf in [
                Overflow::Wrap,
                Overflow::Sat,
                Overflow::SatSym,
                Overflow::SatZero,
            ] {
                let types: Vec<FixedType> = shapes
                    .iter()
                    .map(|&(sg, w, i)| FixedType {
                        round: mode,
                        overflow: ovf,
                        ..FixedType::new(sg, w, i)
                    })
                    .collect();
                let casts: Vec<Cast> = types.iter().map(|&t| Cast::new(t)).collect();
                let n_el = types.len();
                let rows = 200;
                let mut vals = Vec::with_capacity(rows * n_el);
                for r in 0..rows {
                    for t in &types {
                        let lsb = (-f64::from(t.frac())).exp2();
                        // A mantissa in the type's range (most rows stay on the kernel's path).
                        let (lo, hi) = (t.cast_min(), t.max_mantissa().min(1 << 40));
                        let k = (lo + (next() as i128).rem_euclid(hi - lo)) as f64;
                        vals.push(match r % 9 {
                            0 => k * lsb,                         // on the grid
                            1 => (k + 0.5) * lsb,                 // a tie
                            2 => (k + 0.5) * lsb * (1.0 + 1e-15), // just past a tie
                            3 => (k + 0.25) * lsb,
                            4 => k * 1e7, // far beyond the range
                            5 => -0.0,
                            6 => f64::MIN_POSITIVE / 4.0, // subnormal
                            7 => (k + 0.75) * lsb * 3e9,  // mantissa beyond 2^31
                            _ => (next() as f64 / u64::MAX as f64 - 0.5) * 64.0,
                        });
                    }
                }
                for big in [false, true] {
                    let enc64 = |v: f64| {
                        let b = if big {
                            v.to_be_bytes()
                        } else {
                            v.to_le_bytes()
                        };
                        (v, b.to_vec())
                    };
                    let enc32 = |v: f64| {
                        let f = v as f32;
                        let b = if big {
                            f.to_be_bytes()
                        } else {
                            f.to_le_bytes()
                        };
                        (f64::from(f), b.to_vec())
                    };
                    let label = format!("{mode:?}, {ovf:?}, big-endian {big}");
                    check_kernel::<f64>(&vals, enc64, big, &casts, &types, &label);
                    check_kernel::<f32>(&vals, enc32, big, &casts, &types, &label);
                }
                // The in-memory path (Python `predict`) takes the same kernel.
                let view = ndarray::ArrayView2::from_shape((rows, n_el), &vals[..]).unwrap();
                let m = io::cast_values(view.into_dyn(), &types, "x").unwrap();
                for (i, (&v, &m)) in vals.iter().zip(m.iter()).enumerate() {
                    let want = types[i % n_el].cast_f64(v).unwrap();
                    assert_eq!(
                        i128::from(m),
                        want,
                        "{} of {v} in memory ({mode:?}, {ovf:?})",
                        types[i % n_el]
                    );
                }
                let mut bad = vals.clone();
                bad[57 * n_el + 2] = f64::NAN;
                let bytes: Vec<u8> = bad.iter().flat_map(|v| v.to_le_bytes()).collect();
                let mut out = vec![0i64; bad.len()];
                let e = mantissas::<f64>(
                    &bytes,
                    false,
                    &casts,
                    &types,
                    true,
                    "x.npy",
                    1000,
                    &mut out,
                    &mut Vec::new(),
                )
                .unwrap_err()
                .to_string();
                assert!(
                    e.contains("x.npy") && e.contains("sample 1057, element 2"),
                    "{e}"
                );
            }
        }
    }

    /// The header written before the streamed data is `ndarray-npy`'s, byte for byte.
    #[test]
    fn headers_match_ndarray_npy() {
        let zero = [0u8; 8];
        for (rows, cols) in [(0, 5), (1, 1), (3, 5), (12_345, 3), (100_000, 5), (7, 1000)] {
            for descr in ["<f8", "<i8"] {
                // A broadcast view: the real shape without the memory.
                let mut f = Vec::new();
                if descr == "<f8" {
                    let v = ndarray::ArrayView2::from_shape(
                        (rows, cols).strides((0, 0)),
                        &[0.0f64][..],
                    );
                    v.unwrap().write_npy(&mut f).unwrap();
                } else {
                    let v =
                        ndarray::ArrayView2::from_shape((rows, cols).strides((0, 0)), &[0i64][..]);
                    v.unwrap().write_npy(&mut f).unwrap();
                }
                let ours = npy_header(descr, rows, cols);
                assert_eq!(&f[..ours.len()], &ours[..], "{rows}×{cols} {descr}");
                assert_eq!(f.len(), ours.len() + rows * cols * 8);
                assert!(f[ours.len()..].chunks(8).all(|c| c == zero));
            }
        }
    }
}
