//! Reliability round 2 (issue 14), the parser and limit classes: hostile inputs built here are
//! refused by the real binary with the exact message, exit status 1, quickly and under a 1 GiB
//! address-space cap (`ulimit -v`), so nothing huge is allocated.
//!
//! * `.npy` headers (class 8): hexadecimal or `1_000` dimensions, a repeated `shape` key, a
//!   `shape` hidden inside `descr`, unknown keys; every `.npy` in the repository still reads
//!   as `ndarray-npy` reads it;
//! * bounded reads (class 11): `/dev/zero` as a model or as `.npy` data, `verify --vectors`
//!   beyond its limit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtl4ml-relparse-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
    fn write(&self, p: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(p);
        std::fs::write(&path, bytes).unwrap();
        path
    }
    /// Every entry of the directory, sorted.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stderr: String,
    secs: f64,
}

/// Runs `rtl4ml ARGS` in `cwd` under a 1 GiB address-space cap.
fn run(cwd: &Path, args: &[&str]) -> Run {
    let t0 = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v 1048576 && exec "$@""#)
        .arg("sh")
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        secs: t0.elapsed().as_secs_f64(),
    }
}

/// The run failed cleanly (exit 1, one `error:` line equal to `expected`) within `secs`.
#[track_caller]
fn assert_refused(r: &Run, expected: &str, secs: f64) {
    assert_eq!(
        r.code,
        Some(1),
        "expected exit status 1, stderr:\n{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim_end(), expected, "stderr differs");
    assert!(
        r.secs < secs,
        "took {:.1} s (at most {secs} s expected)",
        r.secs
    );
}

/// An `.npy` file: version 1.0 magic, `header` padded as numpy pads it, then `data`.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

// ---- class 8: .npy headers ------------------------------------------------------------

#[test]
fn npy_headers_that_hide_their_size_are_refused() {
    let t = Tmp::new("npy");
    let cases = [
        (
            "hex",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0x100000, 0x100000), }",
            "error: hex.npy: not a readable .npy file: header: 'shape': the dimension `0x100000` at byte 51 is not a plain decimal integer (digits only: no sign, base prefix, `_` separator, leading zero or fraction)",
        ),
        (
            "underscore",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1_000, 1_000_000_000), }",
            "error: underscore.npy: not a readable .npy file: header: 'shape': the dimension `1_000` at byte 51 is not a plain decimal integer (digits only: no sign, base prefix, `_` separator, leading zero or fraction)",
        ),
        (
            "dup",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 16), 'shape': (100000000000, 16), }",
            "error: dup.npy: not a readable .npy file: header: key 'shape' appears twice (at byte 59); each key must appear once",
        ),
        (
            "in_descr",
            "{'descr': '<f8 shape: (1, 16)', 'fortran_order': False, 'shape': (100000000000, 16), }",
            "error: in_descr.npy: not a readable .npy file: header: element type \"<f8 shape: (1, 16)\" is not supported (expected float64, float32, int64, int32, int16, int8, uint8, uint16 or uint32 ('<f8', '<f4', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', or big-endian '>…'))",
        ),
        (
            "huge",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 16), }",
            "error: huge.npy: the .npy header declares shape (100000000000, 16) of 8-byte elements: more than the 1073741824 bytes (1024 MiB) a data file may hold",
        ),
        (
            "overflow",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 18446744073709551615), }",
            "error: overflow.npy: the .npy header declares shape (18446744073709551615, 18446744073709551615) of 8-byte elements: more than the 1073741824 bytes (1024 MiB) a data file may hold",
        ),
        (
            "too_big_digit",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 16), }",
            "error: too_big_digit.npy: not a readable .npy file: header: 'shape': the dimension 99999999999999999999999 at byte 51 is too large",
        ),
        (
            "extra_key",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 16), 'size': 3, }",
            "error: extra_key.npy: not a readable .npy file: header: unexpected key \"size\" at byte 59 (expected exactly 'descr', 'fortran_order' and 'shape')",
        ),
        (
            "missing_shape",
            "{'descr': '<f8', 'fortran_order': False, }",
            "error: missing_shape.npy: not a readable .npy file: header: the key 'shape' is missing",
        ),
        (
            "not_a_tuple",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (16), }",
            "error: not_a_tuple.npy: not a readable .npy file: header: 'shape' (d) is a number, not a tuple; a 1-d shape is written (d,)",
        ),
        (
            "negative",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 16), }",
            "error: negative.npy: not a readable .npy file: header: 'shape': the dimension `-1` at byte 51 is not a plain decimal integer (digits only: no sign, base prefix, `_` separator, leading zero or fraction)",
        ),
        (
            "truncated",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (100, 16), }",
            "error: truncated.npy: the .npy header declares shape (100, 16) of 8-byte elements (12800 bytes of data) but the file holds 128 bytes of data (truncated or corrupt file)",
        ),
    ];
    for (name, header, expected) in cases {
        let file = format!("{name}.npy");
        t.write(&file, npy(header, &[0u8; 128]));
        let r = run(
            &t.0,
            &[
                "sim",
                &model("jet_tagger.json"),
                "--input",
                &file,
                "--output",
                "y.npy",
            ],
        );
        assert_refused(&r, expected, 30.0);
        assert!(!t.path("y.npy").exists());
    }
}

#[test]
fn every_npy_in_the_repository_reads_as_ndarray_npy_reads_it() {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    use rtl4ml::sim::io::{read_npy, NpyData};
    let mut stack = vec![root().join("tests/fixtures"), root().join("models")];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "npy") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let ours = read_npy(&p);
            if let Ok(a) = ArrayD::<f64>::read_npy(&bytes[..]) {
                let Ok(NpyData::Float(b)) = ours else {
                    panic!("{}: not read as float64", p.display())
                };
                assert_eq!(a.shape(), b.shape(), "{}", p.display());
                assert!(
                    a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{}",
                    p.display()
                );
                n += 1;
            } else if let Ok(a) = ArrayD::<f32>::read_npy(&bytes[..]) {
                let Ok(NpyData::Float(b)) = ours else {
                    panic!("{}: not read as float32", p.display())
                };
                assert_eq!(a.mapv(f64::from), b, "{}", p.display());
                n += 1;
            } else if let Ok(a) = ArrayD::<i32>::read_npy(&bytes[..]) {
                let Ok(NpyData::Int(b)) = ours else {
                    panic!("{}: not read as int32", p.display())
                };
                assert_eq!(a.mapv(i64::from), b, "{}", p.display());
                n += 1;
            } else if let Ok(a) = ArrayD::<i8>::read_npy(&bytes[..]) {
                let Ok(NpyData::Int(b)) = ours else {
                    panic!("{}: not read as int8", p.display())
                };
                assert_eq!(a.mapv(i64::from), b, "{}", p.display());
                n += 1;
            } else {
                assert!(
                    ours.is_err(),
                    "{}: read, but ndarray-npy refuses it",
                    p.display()
                );
            }
        }
    }
    assert!(n >= 25, "only {n} .npy files found");
}

#[test]
fn npy_element_types_byte_orders_and_layouts() {
    use rtl4ml::sim::io::{parse_npy, NpyData};
    let f = |h: &str, data: &[u8]| parse_npy(&npy(h, data), "x.npy");
    // Fortran order: the logical (row-major) order of [[1, 2, 3], [4, 5, 6]].
    let data: Vec<u8> = [1i16, 4, 2, 5, 3, 6]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let Ok(NpyData::Int(a)) = f(
        "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    ) else {
        panic!()
    };
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    // A 0-d array, double quotes, no trailing comma.
    let Ok(NpyData::Float(a)) = f(
        r#"{"descr": "<f4", "fortran_order": False, "shape": ()}"#,
        &1.5f32.to_le_bytes(),
    ) else {
        panic!()
    };
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1.5]);
    // Extra bytes after the data are a corrupt file, not ignored.
    let e = f(
        "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
        &[1, 2, 3],
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(e, "x.npy: the .npy header declares shape (2,) of 1-byte elements (2 bytes of data) but the file holds 3 bytes of data (extra bytes after the array: a corrupt file?)");
    // An 8-byte prefix claiming a 4 GB header.
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    let e = parse_npy(&b, "x.npy").err().unwrap().to_string();
    assert_eq!(e, "x.npy: the .npy header claims 4294967295 bytes but the file holds only 0 (truncated or corrupt file)");
}

// ---- class 11: bounded reads ----------------------------------------------------------

#[test]
fn endless_files_are_refused_without_reading_them_whole() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let t = Tmp::new("zero");
    let r = run(&t.0, &["compile", "/dev/zero", "-o", "out"]);
    assert_refused(
        &r,
        "error: /dev/zero: a model file may be at most 268435456 bytes (256 MiB); this one is longer than that (a device or an endless stream?)",
        60.0,
    );
    let r = run(
        &t.0,
        &[
            "sim",
            &model("jet_tagger.json"),
            "--input",
            "/dev/zero",
            "--output",
            "y.npy",
        ],
    );
    assert_refused(
        &r,
        "error: /dev/zero: not a readable .npy file: it does not start with the .npy magic `\\x93NUMPY` (save arrays with numpy.save)",
        30.0,
    );
    let r = run(
        &t.0,
        &[
            "optimize",
            &model("jet_tagger.json"),
            "--calib",
            "/dev/zero",
            "-o",
            "o.json",
        ],
    );
    assert_refused(
        &r,
        "error: /dev/zero: not a readable .npy file: it does not start with the .npy magic `\\x93NUMPY` (save arrays with numpy.save)",
        30.0,
    );
    assert!(t.entries().is_empty(), "{:?}", t.entries());
}

#[test]
fn verify_refuses_too_many_vectors() {
    let t = Tmp::new("vectors");
    let r = run(
        &t.0,
        &["compile", &model("jet_tagger.json"), "-o", "b", "-q"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = run(&t.0, &["verify", "b", "--vectors", "1000000000"]);
    assert_refused(
        &r,
        "error: b: --vectors 1000000000 is too many: at most 1000000 random vectors, and at most 67108864 input values in all (1000000 for this design's 16 input elements); run verify several times with different --seed values instead",
        60.0,
    );
}
