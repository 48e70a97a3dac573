//! Reliability round 2 (issue 14), the parser and limit classes: hostile inputs built here are
//! refused by the real binary with the exact message, exit status 1, quickly and under a 1 GiB
//! address-space cap (`ulimit -v`), so nothing huge is allocated.
//!
//! * `.npy` headers (class 8): hexadecimal or `1_000` dimensions, a repeated `shape` key, a
//!   `shape` hidden inside `descr`, unknown keys; every `.npy` in the repository still reads
//!   as `ndarray-npy` reads it;
//! * bounded reads (class 11): `/dev/zero` as a model or as `.npy` data, `verify --vectors`
//!   beyond its limit;
//! * names (class 6): 65 536-byte names in native and QONNX models are refused, and no
//!   temporary directory is left behind;
//! * QONNX input dimensions (class 7): 10^12, 2^63−1 and 2^22+1 are refused with the native
//!   loader's limits; a 16 384-input MatMul and a 1 024-channel element-wise map load in
//!   linear memory (no dense n × n diagonal);
//! * what `onnx.checker` refuses (class 15): duplicate initializers, a node output that
//!   shadows a graph input, a repeated attribute, a missing or absurd opset, an absurd or
//!   missing `ir_version`, a graph input listed twice;
//! * messages (class 17): each of the issue's unclear messages, now clear.

use prost::Message;
use rtl4ml::frontend::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use serde_json::{json, Value};
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
    // Every command's model and precision file go through the same bounded reader.
    for args in [
        &["sim", "/dev/zero", "--input", "x.npy", "--output", "y.npy"][..],
        &[
            "compile",
            &model("jet_tagger.json"),
            "-o",
            "out",
            "--precision-file",
            "/dev/zero",
        ][..],
    ] {
        let r = run(&t.0, args);
        assert_refused(
            &r,
            &format!(
                "error: /dev/zero: a {} may be at most 268435456 bytes (256 MiB); this one is longer than that (a device or an endless stream?)",
                if args[0] == "sim" { "model file" } else { "precision file" }
            ),
            60.0,
        );
    }
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

// ---- ONNX models built here ----------------------------------------------------------

const QONNX: &str = "qonnx.custom_op.general";

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn init(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn node(
    name: &str,
    op: &str,
    domain: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// `x: [1, dims…]` → `Quant` (scale 2^-4, 8 bits, signed) → `q`, then `tail` nodes; the
/// initializers `s`, `z`, `b` (the quantizer's) and `extra`.
fn onnx_model(
    dims: &[i64],
    tail: Vec<NodeProto>,
    extra: Vec<TensorProto>,
    out: &str,
) -> ModelProto {
    let mut initializer = vec![
        init("s", &[], &[0.0625]),
        init("z", &[], &[0.0]),
        init("b", &[], &[8.0]),
    ];
    initializer.extend(extra);
    let mut nodes = vec![node(
        "quant_x",
        "Quant",
        QONNX,
        &["x", "s", "z", "b"],
        "q",
        vec![attr_int("signed", 1), attr_int("narrow", 0)],
    )];
    nodes.extend(tail);
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![
            OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            },
            OperatorSetIdProto {
                domain: Some(QONNX.into()),
                version: Some(1),
            },
        ],
        graph: Some(GraphProto {
            name: Some("built".into()),
            input: vec![value_info("x", &[&[1], dims].concat())],
            output: vec![value_info(out, &[])],
            initializer,
            node: nodes,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `x: [1, n]` → Quant → MatMul by an `[n, 2]` weight matrix → `y`.
fn matmul_model(n: usize) -> ModelProto {
    let w: Vec<f32> = (0..n * 2).map(|k| ((k % 5) as f32 - 2.0) * 0.25).collect();
    onnx_model(
        &[n as i64],
        vec![node("fc", "MatMul", "", &["q", "w"], "y", vec![])],
        vec![init("w", &[n as i64, 2], &w)],
        "y",
    )
}

/// Writes `m` as `NAME.onnx` in `t` and compiles it; the run.
fn compile_onnx(t: &Tmp, name: &str, m: &ModelProto) -> Run {
    let file = format!("{name}.onnx");
    t.write(&file, m.encode_to_vec());
    run(&t.0, &["compile", &file, "-o", "out", "-q"])
}

// ---- class 15: what onnx.checker refuses -----------------------------------------------

#[test]
fn qonnx_files_onnx_checker_refuses_are_refused() {
    let t = Tmp::new("checker");
    let base = matmul_model(4);
    assert_eq!(compile_onnx(&t, "base", &base).code, Some(0));
    std::fs::remove_dir_all(t.path("out")).unwrap();
    fn g(m: &mut ModelProto) -> &mut GraphProto {
        m.graph.as_mut().unwrap()
    }
    let mut cases: Vec<(&str, ModelProto, &str)> = vec![];
    let mut m = base.clone();
    g(&mut m).initializer.push(init("w", &[4, 2], &[0.5; 8]));
    cases.push(("dup_init", m, "error: dup_init.onnx: initializer `w`: two initializers have this name; every tensor must be defined once (onnx.checker.check_model refuses this file)"));
    let mut m = base.clone();
    g(&mut m).node[1].output = vec!["x".into()];
    g(&mut m).output = vec![value_info("x", &[])];
    cases.push(("shadow_input", m, "error: shadow_input.onnx: node `fc` (MatMul): its output `x` is already defined by a graph input; every tensor must be defined once (onnx.checker.check_model refuses this file)"));
    let mut m = base.clone();
    g(&mut m).node[1].output = vec!["q".into()];
    cases.push(("shadow_node", m, "error: shadow_node.onnx: node `fc` (MatMul): its output `q` is already defined by node `quant_x` (Quant); every tensor must be defined once (onnx.checker.check_model refuses this file)"));
    let mut m = base.clone();
    g(&mut m).node[0].attribute.push(attr_int("signed", 0));
    cases.push(("dup_attr", m, "error: dup_attr.onnx: node `quant_x` (Quant): attribute `signed` is given twice; each attribute may appear once (onnx.checker.check_model refuses this file)"));
    let mut m = base.clone();
    m.opset_import.remove(0);
    cases.push(("no_opset", m, "error: no_opset.onnx: model: opset_import has no version for the default ONNX domain; a model must say which ONNX opset its operators follow (onnx.checker.check_model refuses this file; re-export the model)"));
    let mut m = base.clone();
    m.opset_import[0].version = Some(1_000_000);
    cases.push(("absurd_opset", m, "error: absurd_opset.onnx: model: the default domain's opset version is 1000000; expected 1 to 30 (onnx.checker.check_model refuses this file; re-export the model)"));
    let mut m = base.clone();
    m.opset_import.push(m.opset_import[0].clone());
    cases.push(("twice_opset", m, "error: twice_opset.onnx: model: opset_import lists domain `ai.onnx (default)` twice; each domain is imported once (onnx.checker.check_model refuses this file; re-export the model)"));
    let mut m = base.clone();
    m.ir_version = Some(i64::MAX);
    cases.push(("absurd_ir", m, "error: absurd_ir.onnx: model: ir_version is 9223372036854775807; expected 3 to 14 (onnx.checker.check_model refuses this file; re-export the model)"));
    let mut m = base.clone();
    m.ir_version = None;
    cases.push(("no_ir", m, "error: no_ir.onnx: model: ir_version is missing; expected 3 to 14 (onnx.checker.check_model refuses this file; re-export the model)"));
    let mut m = base.clone();
    let x = g(&mut m).input[0].clone();
    g(&mut m).input.push(x);
    cases.push(("dup_input", m, "error: dup_input.onnx: graph input `x`: the graph lists this input twice; every graph input needs a name of its own"));
    for (name, m, expected) in cases {
        assert_refused(&compile_onnx(&t, name, &m), expected, 30.0);
        assert!(!t.path("out").exists(), "{name}");
    }
}

// ---- class 7: QONNX dimensions and the affine path ------------------------------------

#[test]
fn qonnx_input_dimensions_are_bounded_like_native_ones() {
    let t = Tmp::new("dims");
    for (name, dims, shown) in [
        ("tera", vec![1_000_000_000_000i64], "[1000000000000]"),
        ("max", vec![i64::MAX], "[9223372036854775807]"),
        ("wide", vec![(1 << 22) + 1], "[4194305]"),
        ("many", vec![2048, 2049], "[2048, 2049]"),
    ] {
        let m = onnx_model(
            &dims,
            vec![node("id", "Identity", "", &["q"], "y", vec![])],
            vec![],
            "y",
        );
        let expected = format!("error: {name}.onnx: graph input `x`: its shape {shown} (batch axis dropped) is too large: each dimension may be at most 1048576 (2^20) and the tensor at most 4194304 elements (2^22)");
        assert_refused(&compile_onnx(&t, name, &m), &expected, 30.0);
    }
}

#[test]
fn a_wide_qonnx_matmul_loads_in_linear_memory() {
    // 16 384 inputs: the pending map was a dense 16 384² "diagonal" (8.6 GB) before.
    let m = matmul_model(16_384);
    let g = rtl4ml::frontend::qonnx::parse(&m.encode_to_vec(), "wide.onnx").unwrap();
    assert_eq!(g.inputs[0].shape, [16_384]);
    let kinds: Vec<&str> = g.layers.iter().map(|l| l.kind.name()).collect();
    assert_eq!(kinds, ["dense"]);
    // And the binary compiles it under the 1 GiB cap.
    let t = Tmp::new("wide");
    let r = compile_onnx(&t, "wide", &m);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn a_wide_elementwise_map_is_one_constant_per_channel() {
    use rtl4ml::flow::{compile, Options};
    use rtl4ml::ir::layers::LayerKind;
    use rtl4ml::sim::Simulator;
    // y = q · c + d per channel on 1 024 channels: a batchnorm layer, not a 1 024² dense.
    let n = 1024usize;
    let c: Vec<f32> = (0..n).map(|k| [0.5, -0.25, 2.0, 0.0][k % 4]).collect();
    let d: Vec<f32> = (0..n).map(|k| (k % 7) as f32 * 0.125).collect();
    let m = onnx_model(
        &[n as i64],
        vec![
            node("scale", "Mul", "", &["q", "c"], "m", vec![]),
            node("shift", "Add", "", &["m", "d"], "y", vec![]),
        ],
        vec![init("c", &[n as i64], &c), init("d", &[n as i64], &d)],
        "y",
    );
    let g = rtl4ml::frontend::qonnx::parse(&m.encode_to_vec(), "ew.onnx").unwrap();
    assert!(
        matches!(g.layers[..], [ref l] if matches!(l.kind, LayerKind::BatchNorm { .. })),
        "{:?}",
        g.layers.iter().map(|l| l.kind.name()).collect::<Vec<_>>()
    );
    let design = compile(g, &Options::default()).unwrap();
    let out_types: Vec<_> = design.net.output_types();
    let sim = Simulator::new(&design.net);
    let x = ndarray::Array2::from_shape_fn((3, n), |(r, k)| ((r * 37 + k * 11) % 256) as i64 - 128);
    let y = rtl4ml::sim::io::to_values(&sim.run(x.view()), &out_types);
    for r in 0..3 {
        for k in 0..n {
            let expected = x[[r, k]] as f64 / 16.0 * f64::from(c[k]) + f64::from(d[k]);
            assert_eq!(y[[r, k]], expected, "sample {r}, channel {k}");
        }
    }
}

// ---- class 6: names --------------------------------------------------------------------

#[test]
fn huge_names_are_refused_and_leave_no_temporary() {
    let t = Tmp::new("names");
    let long = "L".repeat(65_536);
    let quoted = "L".repeat(24);
    // Native: the layer, the input and the model name.
    let base: Value =
        serde_json::from_slice(&std::fs::read(root().join("models/odd_types.json")).unwrap())
            .unwrap();
    let mut layer = base.clone();
    layer["layers"][0]["name"] = json!(long);
    let mut input = base.clone();
    input["inputs"][0]["name"] = json!(long);
    let mut model = base.clone();
    model["name"] = json!(long);
    for (name, m, place) in [
        ("layer", layer, "layers[0]: field `name`"),
        ("input", input, "inputs[0]: field `name`"),
        ("model", model, "field `name`"),
    ] {
        t.write(&format!("{name}.json"), m.to_string());
        let r = run(&t.0, &["compile", &format!("{name}.json"), "-o", "out"]);
        assert_refused(
            &r,
            &format!("error: {name}.json: {place}: the name `{quoted}…` is 65536 bytes long; names may be at most 16384 bytes"),
            30.0,
        );
    }
    // QONNX: a node, a tensor, the graph.
    let mut m = matmul_model(4);
    m.graph.as_mut().unwrap().node[1].name = Some(long.clone());
    assert_refused(
        &compile_onnx(&t, "node", &m),
        &format!("error: node.onnx: node #1: the name `{quoted}…` is 65536 bytes long; names may be at most 16384 bytes"),
        30.0,
    );
    let mut m = matmul_model(4);
    let gr = m.graph.as_mut().unwrap();
    gr.node[1].output = vec![long.clone()];
    gr.output = vec![value_info(&long, &[])];
    assert_refused(
        &compile_onnx(&t, "tensor", &m),
        &format!("error: tensor.onnx: graph output: the name `{quoted}…` is 65536 bytes long; names may be at most 16384 bytes"),
        30.0,
    );
    let mut m = matmul_model(4);
    m.graph.as_mut().unwrap().name = Some(long.clone());
    assert_refused(
        &compile_onnx(&t, "graph", &m),
        &format!("error: graph.onnx: graph name: the name `{quoted}…` is 65536 bytes long; names may be at most 16384 bytes"),
        30.0,
    );
    // Only the inputs written here: no output, no temporary.
    let left: Vec<String> = t
        .entries()
        .into_iter()
        .filter(|e| !e.ends_with(".json") && !e.ends_with(".onnx"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// ---- class 17: messages -----------------------------------------------------------------

#[test]
fn qonnx_messages_say_what_is_wrong() {
    let t = Tmp::new("qmsg");
    // Concat without an axis.
    let m = onnx_model(
        &[4],
        vec![
            node("r1", "Relu", "", &["q"], "r1_out", vec![]),
            node("r2", "Relu", "", &["q"], "r2_out", vec![]),
            node("cat", "Concat", "", &["r1_out", "r2_out"], "y", vec![]),
        ],
        vec![],
        "y",
    );
    assert_refused(
        &compile_onnx(&t, "concat", &m),
        "error: concat.onnx: node `cat` (Concat): attribute `axis` is missing; Concat needs it (one of the non-batch axes 1..=1 of a rank-2 tensor)",
        30.0,
    );
    // MaxPool with a bad or missing kernel_shape: no Rust `Some([0])`.
    for (name, attrs, found) in [
        ("pool0", vec![attr_ints("kernel_shape", &[0])], "[0]"),
        ("poolnone", vec![], "missing"),
    ] {
        let m = onnx_model(
            &[2, 8],
            vec![node("pool", "MaxPool", "", &["q"], "y", attrs)],
            vec![],
            "y",
        );
        assert_refused(
            &compile_onnx(&t, name, &m),
            &format!("error: {name}.onnx: node `pool` (MaxPool): attribute `kernel_shape` is {found}; expected 1 positive integers (each at most 1048576, one per spatial axis)"),
            30.0,
        );
    }
    // A 1-bit signed (bipolar) Quant straight on a graph input: the input itself carries the
    // sign bit (the simulator casts a float to `fixed<1,1,TRN,SAT>`), so it compiles now
    // (issue 16; tests/frontends/qonnx_layout.rs checks its values).
    let mut m = onnx_model(
        &[4],
        vec![node("id", "Identity", "", &["q"], "y", vec![])],
        vec![],
        "y",
    );
    m.graph.as_mut().unwrap().initializer[2] = init("b", &[], &[1.0]);
    assert_eq!(compile_onnx(&t, "bipolar", &m).code, Some(0));
}

#[test]
fn native_messages_say_what_is_wrong() {
    let t = Tmp::new("nmsg");
    let base: Value =
        serde_json::from_slice(&std::fs::read(root().join("models/odd_types.json")).unwrap())
            .unwrap();
    // The JSON integer -0 as a weight.
    let mut m = base.clone();
    let text = {
        m["layers"][0]["weight"]["data"][0] = json!(0);
        m.to_string().replacen("\"data\":[0,", "\"data\":[-0,", 1)
    };
    assert!(text.contains("[-0,"));
    t.write("minus0.json", &text);
    let r = run(&t.0, &["compile", "minus0.json", "-o", "out"]);
    assert_refused(
        &r,
        "error: minus0.json: layer `fc1` (layers[0]): field `weight.data[0]`: expected an integer mantissa, found -0 (write 0: JSON readers take -0 for the float -0.0)",
        30.0,
    );
    // Integer bits and widths beyond 32 bits: out of range, not "not an integer".
    let mut m = base.clone();
    m["inputs"][0]["type"] = json!("fixed<8,9223372036854775807>");
    t.write("ibits.json", m.to_string());
    let r = run(&t.0, &["compile", "ibits.json", "-o", "out"]);
    assert_refused(
        &r,
        "error: ibits.json: input `x`: field `type`: bad fixed-point type `fixed<8,9223372036854775807>`: integer bits 9223372036854775807 out of range (expected |I| <= 1024) (expected e.g. `fixed<16,6>`, `ufixed<8,0,RND,SAT>` or `int<8>`)",
        30.0,
    );
    // Strides and pool sizes: the limit is stated and the value shown.
    let ks = root().join("tests/fixtures/layers/kitchen_sink.json");
    let ks: Value = serde_json::from_slice(&std::fs::read(ks).unwrap()).unwrap();
    for (name, field, v, found) in [
        ("stride0", "strides", json!(0), "0"),
        ("stridebig", "strides", json!([1, 100000]), "[1, 100000]"),
    ] {
        let mut m = ks.clone();
        m["layers"][0][field] = v;
        t.write(&format!("{name}.json"), m.to_string());
        let r = run(&t.0, &["compile", &format!("{name}.json"), "-o", "out"]);
        let expected = if found.starts_with('[') {
            format!("error: {name}.json: layer `c1` (layers[0]): field `{field}`: expected a positive integer or a list of 2 positive integers, each from 1 to 65536, found {found}")
        } else {
            format!("error: {name}.json: layer `c1` (layers[0]): field `{field}`: expected a positive integer or a list of 2 positive integers from 1 to 65536, found {found}")
        };
        assert_refused(&r, &expected, 30.0);
    }
}

// ---- class 10: lookup tables in the operation limit ------------------------------------

#[test]
fn table_roms_count_in_the_operation_limit() {
    let t = Tmp::new("tables");
    // 223 bytes: a 65 536-entry sigmoid on 256 elements (663 MB of Verilog before).
    let m = json!({"format": "rtl4ml-model", "version": 1,
        "inputs": [{"name": "x", "shape": [256], "type": "fixed<24,8>"}],
        "layers": [{"name": "s", "kind": "sigmoid",
                    "table": {"type": "ufixed<16,0>", "size": 65536}, "result": "ufixed<16,0>"}],
        "outputs": ["s"]});
    t.write("sig.json", m.to_string());
    let r = run(&t.0, &["compile", "sig.json", "-o", "out", "-q"]);
    assert_refused(
        &r,
        "error: compiling sig.json: layer `s`: the design would need about 16,777,984 scalar operations (16,777,728 in this layer), more than the limit of 2,000,000; a design this large fits no FPGA and compiling it would exhaust memory. This layer is a lookup table with a ROM of its own for each of its elements, one operation per entry: use a smaller table or apply it to fewer elements, or set RTL4ML_MAX_OPS=N to raise the limit (0 for none)",
        30.0,
    );
    assert_eq!(t.entries(), ["sig.json"]);
    // The estimate counts at most the values a narrow input can take.
    let mut narrow = m.clone();
    narrow["inputs"][0]["type"] = json!("fixed<8,3>");
    let g = rtl4ml::frontend::native::parse(&narrow.to_string(), "narrow.json").unwrap();
    let e = rtl4ml::passes::limits::estimate(&g);
    assert_eq!(e.layers, [("s".to_string(), 256 * (256 + 2))]);
}
