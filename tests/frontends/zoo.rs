//! The models of hls4ml's public model zoo in `../shared/zoo/onnx` (read from there, never
//! copied: the zoo carries no license). Each compiles, simulates bit for bit like its
//! reference in tests/fixtures/zoo (written by tools/make_zoo_refs.py: qonnx's executor for
//! the QONNX model, a numpy emulation of hls4ml's `fixed<16,6>` semantics for the float ones),
//! and verifies in Verilator. Without the zoo folder the tests print why and pass; set
//! RTL4ML_ZOO to read it from elsewhere.

use crate::hw;

use hw::tools;
use rtl4ml::flow::{compile, read_dir, write_dir_with_model, Options};
use rtl4ml::frontend::precision::Precision;
use rtl4ml::frontend::{self, native_write};
use rtl4ml::ir::layers::{LayerGraph, LayerKind};
use rtl4ml::sim::{io, reference, Simulator};
use rtl4ml::verify::{verify, VerifyOptions};
use std::path::{Path, PathBuf};

/// The zoo's ONNX folder, or `None` (with a note) when it is not there.
fn zoo() -> Option<PathBuf> {
    let dir = match std::env::var_os("RTL4ML_ZOO") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/zoo"),
    };
    let onnx = dir.join("onnx");
    if onnx.is_dir() {
        Some(onnx)
    } else {
        eprintln!(
            "note: skipping the zoo models: {} not found (the zoo sits beside the clone in CI; \
             set RTL4ML_ZOO to its folder)",
            onnx.display()
        );
        None
    }
}

struct Ref {
    name: String,
    precision: Option<String>,
}

fn fixture(name: &str, what: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zoo")
        .join(format!("{name}.{what}"))
}

fn refs() -> Vec<Ref> {
    let text = std::fs::read_to_string(fixture("refs", "json").with_extension("json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(name, e)| Ref {
            name: name.clone(),
            precision: e["precision"].as_str().map(str::to_string),
        })
        .collect()
}

fn load(zoo: &Path, r: &Ref) -> (LayerGraph, Vec<u8>) {
    let path = zoo.join(format!("{}.onnx", r.name));
    let bytes = std::fs::read(&path).unwrap();
    let p = r
        .precision
        .as_deref()
        .map(|t| Precision::uniform(t).unwrap());
    let g = frontend::parse_bytes_with(&path, &bytes, p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", r.name));
    (g, bytes)
}

fn rows(path: &Path) -> Vec<Vec<f64>> {
    let io::NpyData::Float(e) = io::read_npy(path).unwrap() else {
        panic!("{}: float64 expected", path.display());
    };
    let n = e.shape()[0];
    let len = e.len();
    let e = e.into_shape_with_order((n, len / n)).unwrap();
    e.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (k, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = k;
        }
    }
    best
}

#[test]
fn zoo_models_match_their_references_bit_exactly() {
    let Some(zoo) = zoo() else { return };
    for r in refs() {
        let (g, _) = load(&zoo, &r);
        let design = compile(g.clone(), &Options::default()).unwrap();
        let data = io::read_npy(&fixture(&r.name, "input.npy")).unwrap();
        let x = io::to_mantissas(data, &g.input_types(), "input", false).unwrap();
        let out = Simulator::new(&design.net).run(x.view());
        for (k, row) in x.rows().into_iter().enumerate().take(16) {
            let e = reference::evaluate(&g, row.as_slice().unwrap()).unwrap();
            assert_eq!(out.row(k).to_vec(), e, "{}: simulator vs reference", r.name);
        }
        let got = io::to_values(&out, &g.output_types());
        let want = rows(&fixture(&r.name, "expected.npy"));
        assert_eq!(got.nrows(), want.len(), "{}: sample count", r.name);
        for (k, (a, b)) in got.rows().into_iter().zip(&want).enumerate() {
            assert!(
                a.to_vec() == *b,
                "{}: sample {k}: rtl4ml {a:?}, reference {b:?}",
                r.name
            );
        }
        let float = fixture(&r.name, "float.npy");
        let agreement = if float.exists() {
            let f = rows(&float);
            let same = got
                .rows()
                .into_iter()
                .zip(&f)
                .filter(|(a, b)| argmax(a.as_slice().unwrap()) == argmax(b))
                .count();
            format!(
                "; argmax agrees with the float model on {same}/{} samples",
                f.len()
            )
        } else {
            String::new()
        };
        eprintln!(
            "{} ({}): {} samples bit-exact with the reference{agreement}; {} LUT, {} cycles",
            r.name,
            r.precision.as_deref().unwrap_or("QONNX"),
            want.len(),
            design.report.resources.lut,
            design.schedule.latency
        );
    }
}

#[test]
fn zoo_models_verify_in_verilator() {
    let Some(zoo) = zoo() else { return };
    if !tools() {
        return;
    }
    for r in refs() {
        let (g, bytes) = load(&zoo, &r);
        let design = compile(g.clone(), &Options::default()).unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("zoo")
            .join(&r.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        // A quantized float model is kept as its native model, as `compile` does.
        match r.precision {
            Some(_) => {
                let text = native_write::write(&g, None);
                write_dir_with_model(&design, "model.json", text.as_bytes(), &dir).unwrap()
            }
            None => write_dir_with_model(&design, "model.onnx", &bytes, &dir).unwrap(),
        }
        let b = read_dir(&dir).unwrap();
        let v = verify(
            &b,
            &VerifyOptions {
                random: 200,
                icarus: 16,
                seed: 7,
                lint: true,
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", r.name));
        assert_eq!(v.verilator.mismatch_count, 0, "{}", r.name);
        assert!(v.verilator.timing_errors.is_empty(), "{}", r.name);
        eprintln!("{}: {}", r.name, v.verilator.summary());
    }
}

/// Keras' NHWC↔NCHW transposes around the convolution cost nothing: the same stored
/// elements are read in the other layout.
#[test]
fn keras_conv_transposes_are_free() {
    let Some(zoo) = zoo() else { return };
    let r = Ref {
        name: "conv2d_small_keras".into(),
        precision: Some("fixed<16,6>".into()),
    };
    let (g, _) = load(&zoo, &r);
    let kinds: Vec<&str> = g.layers.iter().map(|l| l.kind.name()).collect();
    assert_eq!(
        kinds,
        ["reshape", "conv2d", "relu", "reshape", "flatten", "dense", "softmax"]
    );
    assert_eq!(g.inputs[0].shape, [8, 8, 1]);
    assert_eq!(g.inputs[0].ty.to_string(), "fixed<16,6>");
    let LayerKind::Conv { accum, weight, .. } = &g.layers[1].kind else {
        unreachable!()
    };
    assert_eq!(accum.unwrap().to_string(), "fixed<16,6>");
    assert_eq!(weight.ty.to_string(), "fixed<16,6>");
}

/// A float model without a precision is refused with the way forward; a precision file
/// overrides single layers and rejects names the model does not have.
#[test]
fn float_models_need_a_precision_and_take_overrides() {
    let Some(zoo) = zoo() else { return };
    let path = zoo.join("three_layer_pytorch.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let e = frontend::parse_bytes(&path, &bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--precision"), "{e}");

    let spec = Precision::parse(
        r#"{"default": "fixed<16,6>", "inputs": {"0": "fixed<12,4,RND,SAT>"},
            "layers": {"9": {"weight": "fixed<8,1>", "accum": "exact", "result": "fixed<18,8>"},
                       "10": "ufixed<10,6>"},
            "softmax": "skip"}"#,
        "spec.json",
    )
    .unwrap();
    let g = frontend::parse_bytes_with(&path, &bytes, Some(&spec)).unwrap();
    assert_eq!(g.inputs[0].ty.to_string(), "fixed<12,4,RND,SAT>");
    let LayerKind::Dense { weight, accum, .. } = &g.layers[0].kind else {
        unreachable!()
    };
    assert_eq!(weight.ty.to_string(), "fixed<8,1>");
    assert_eq!(*accum, None);
    assert_eq!(g.layers[0].output.ty.to_string(), "fixed<18,8>");
    assert_eq!(g.layers[1].output.ty.to_string(), "ufixed<10,6>");
    assert_eq!(
        g.layers.last().unwrap().kind.name(),
        "dense",
        "softmax skipped"
    );

    let typo = Precision::parse(
        r#"{"default": "fixed<16,6>", "layers": {"dense_9": "fixed<8,2>"}}"#,
        "spec.json",
    )
    .unwrap();
    let e = frontend::parse_bytes_with(&path, &bytes, Some(&typo))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no quantized layer `dense_9`"), "{e}");
}

/// The precision is written into the native model a build directory keeps, so `verify` and
/// later runs need no precision; the native writer's output reads back as the same graph.
#[test]
fn quantized_float_models_round_trip_through_the_native_format() {
    let Some(zoo) = zoo() else { return };
    let r = Ref {
        name: "three_layer_keras".into(),
        precision: Some("fixed<16,6>".into()),
    };
    let (g, _) = load(&zoo, &r);
    let text = native_write::write(&g, None);
    let back = frontend::native::parse(&text, "model.json").unwrap();
    assert_eq!(back.layers, g.layers);
}
