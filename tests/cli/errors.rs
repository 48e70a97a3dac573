//! Bad input must give a clear error, never a panic or a silently wrong result.
//!
//! Every case runs the real binary and checks that
//! * the exit code is non-zero and not 101 (Rust's panic exit code), and the process was not
//!   killed by a signal (an allocation failure aborts);
//! * stderr does not contain "panicked";
//! * stderr names the offending file, the layer (by name) and the field where relevant, and a
//!   key phrase saying what was expected;
//! * nothing was written: the output directory does not exist afterwards, and no temporary
//!   directory is left behind next to it.
//!
//! Most models are made by mutating `models/odd_types.json` (or a small inline model) with
//! serde_json; a few hand-written ones live in `tests/fixtures/bad/`.

use ndarray::{Array1, Array2, Array3};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundled(name: &str) -> PathBuf {
    root().join("models").join(name)
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/bad").join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtl4ml-errors-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run rtl4ml")
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Asserts a clean failure and returns stderr.
fn assert_clean_failure(what: &str, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code();
    assert!(
        code.is_some(),
        "{what}: killed by a signal (abort?) instead of failing cleanly: {:?}\nstderr:\n{stderr}",
        out.status
    );
    assert_ne!(
        code,
        Some(0),
        "{what}: succeeded but should have failed\nstderr:\n{stderr}"
    );
    assert_ne!(
        code,
        Some(101),
        "{what}: panicked (exit 101)\nstderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: stderr mentions a panic:\n{stderr}"
    );
    assert!(
        stderr.trim_start().starts_with("error"),
        "{what}: stderr does not start with an error line:\n{stderr}"
    );
    stderr
}

fn assert_mentions(what: &str, stderr: &str, needles: &[&str]) {
    for n in needles {
        assert!(
            stderr.contains(n),
            "{what}: stderr should mention {n:?} but is:\n{stderr}"
        );
    }
}

/// Asserts nothing was written into `parent` for the output `out`: neither `out` nor a
/// leftover temporary directory.
fn assert_no_output(what: &str, out: &Path) {
    assert!(
        !out.exists(),
        "{what}: the output {} exists after a failed run",
        out.display()
    );
    let parent = out.parent().unwrap();
    if let Ok(rd) = std::fs::read_dir(parent) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            assert!(
                !n.contains("rtl4ml-tmp"),
                "{what}: a temporary directory {n} was left behind in {}",
                parent.display()
            );
        }
    }
}

/// Compiles `model` into a fresh output dir; asserts a clean failure with no output and
/// returns stderr.
fn compile_fails(what: &str, model: &Path, extra: &[&str]) -> String {
    let t = Tmp::new("out");
    let out_dir = t.path("out");
    let mut args = vec![
        os("compile"),
        model.as_os_str(),
        os("-o"),
        out_dir.as_os_str(),
    ];
    args.extend(extra.iter().map(os));
    let out = run(&args);
    let stderr = assert_clean_failure(what, &out);
    assert_no_output(what, &out_dir);
    stderr
}

/// Writes `model` to a file named after the case, compiles it, and checks stderr names the
/// file and every needle.
fn model_fails(case: &str, model: &Value, needles: &[&str]) -> String {
    let t = Tmp::new("model");
    let path = t.path(&format!("{case}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(model).unwrap()).unwrap();
    let stderr = compile_fails(case, &path, &[]);
    assert_mentions(case, &stderr, &[&path.display().to_string()]);
    assert_mentions(case, &stderr, needles);
    stderr
}

/// Like [`model_fails`] but for raw text.
fn text_fails(case: &str, text: &str, needles: &[&str]) -> String {
    let t = Tmp::new("model");
    let path = t.path(&format!("{case}.json"));
    std::fs::write(&path, text).unwrap();
    let stderr = compile_fails(case, &path, &[]);
    assert_mentions(case, &stderr, &[&path.display().to_string()]);
    assert_mentions(case, &stderr, needles);
    stderr
}

/// `models/odd_types.json`: input `x` [6] fixed<8,10,RND,WRAP>; `fc1` dense 6→4 (weights
/// fixed<5,-1>, bias fixed<6,-2>, accum fixed<20,6,RND,WRAP>); `relu1`; `fc2` dense 4→2.
fn odd() -> Value {
    serde_json::from_str(&std::fs::read_to_string(bundled("odd_types.json")).unwrap()).unwrap()
}

/// Applies `f` to a copy of `odd_types`.
fn odd_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut m = odd();
    f(&mut m);
    m
}

fn obj(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v.as_object_mut().unwrap()
}

/// A one-layer dense model.
fn dense_model(in_ty: &str, n_in: usize, w_ty: &str, w: &[i64], accum: Option<&str>) -> Value {
    let n_out = w.len() / n_in;
    let mut layer = json!({
        "name": "big dense",
        "kind": "dense",
        "weight": {"type": w_ty, "shape": [n_in, n_out], "data": w},
        "result": "fixed<16,6>"
    });
    if let Some(a) = accum {
        layer["accum"] = json!(a);
    }
    json!({
        "format": "rtl4ml-model",
        "version": 1,
        "name": "inline",
        "inputs": [{"name": "x", "shape": [n_in], "type": in_ty}],
        "layers": [layer],
        "outputs": ["big dense"]
    })
}

// ---------------------------------------------------------------------------------------------
// Sanity: the base models compile, so every failure below is due to the mutation.
// ---------------------------------------------------------------------------------------------

#[test]
fn base_models_compile() {
    let t = Tmp::new("base");
    for (i, m) in [
        odd(),
        dense_model("fixed<8,3>", 3, "fixed<4,1>", &[1, 2, 3], None),
    ]
    .iter()
    .enumerate()
    {
        let p = t.path(&format!("m{i}.json"));
        std::fs::write(&p, m.to_string()).unwrap();
        let o = t.path(&format!("out{i}"));
        let out = run(&[
            os("compile"),
            p.as_os_str(),
            os("-o"),
            o.as_os_str(),
            os("-q"),
        ]);
        assert!(
            out.status.success(),
            "base model {i} should compile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed JSON
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_json_truncated_fixture() {
    let p = fixture("truncated.json");
    let e = compile_fails("truncated", &p, &[]);
    assert_mentions(
        "truncated",
        &e,
        &[
            &p.display().to_string(),
            "malformed JSON",
            "line 11",
            "column",
        ],
    );
}

#[test]
fn malformed_json_trailing_comma_fixture() {
    let p = fixture("trailing_comma.json");
    let e = compile_fails("trailing comma", &p, &[]);
    assert_mentions(
        "trailing comma",
        &e,
        &[
            &p.display().to_string(),
            "malformed JSON",
            "trailing comma",
            "line 8",
            "column",
        ],
    );
}

#[test]
fn malformed_json_generated() {
    let full = std::fs::read_to_string(bundled("odd_types.json")).unwrap();
    // Cut in the middle of a string, of a number, of a list, and right after the opening brace.
    for (i, cut) in [full.len() / 2, full.len() - 3, 200, 1]
        .into_iter()
        .enumerate()
    {
        let cut = (0..=cut).rev().find(|&c| full.is_char_boundary(c)).unwrap();
        text_fails(
            &format!("truncated_{i}"),
            &full[..cut],
            &["malformed JSON", "line", "column"],
        );
    }
    text_fails("empty_file", "", &["malformed JSON", "line 1"]);
    text_fails(
        "not_json",
        "format: rtl4ml-model\n",
        &["malformed JSON", "line 1", "column"],
    );
    text_fails(
        "top_level_list",
        "[1, 2, 3]",
        &["top level", "expected an object"],
    );
    text_fails(
        "trailing_comma_in_list",
        &full.replacen("\"outputs\": [\"fc2\"]", "\"outputs\": [\"fc2\",]", 1),
        &["malformed JSON", "trailing comma", "line", "column"],
    );
}

// ---------------------------------------------------------------------------------------------
// Header and top-level fields
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_format_string() {
    let m = odd_with(|m| m["format"] = json!("hls4ml-model"));
    model_fails(
        "format",
        &m,
        &["`format`", "\"rtl4ml-model\"", "hls4ml-model"],
    );
    let m = odd_with(|m| m["format"] = json!(1));
    model_fails("format_number", &m, &["`format`", "expected a string"]);
}

#[test]
fn unsupported_version() {
    let m = odd_with(|m| m["version"] = json!(2));
    model_fails(
        "version2",
        &m,
        &["`version`", "unsupported version 2", "version 1"],
    );
    let m = odd_with(|m| m["version"] = json!(1.0));
    model_fails("version_float", &m, &["`version`", "unsupported version"]);
    let m = odd_with(|m| m["version"] = json!("1"));
    model_fails("version_string", &m, &["`version`", "unsupported version"]);
}

#[test]
fn missing_required_top_level_fields() {
    for key in ["format", "version", "inputs", "layers", "outputs"] {
        let m = odd_with(|m| {
            obj(m).remove(key);
        });
        model_fails(
            &format!("missing_{key}"),
            &m,
            &["top level", &format!("missing field `{key}`")],
        );
    }
}

#[test]
fn empty_or_mistyped_top_level_lists() {
    let m = odd_with(|m| m["inputs"] = json!([]));
    model_fails("empty_inputs", &m, &["`inputs`", "at least one input"]);
    let m = odd_with(|m| m["outputs"] = json!([]));
    model_fails("empty_outputs", &m, &["`outputs`", "at least one output"]);
    let m = odd_with(|m| m["layers"] = json!({"fc1": {}}));
    model_fails("layers_object", &m, &["`layers`", "expected a list"]);
    let m = odd_with(|m| m["inputs"] = json!("x"));
    model_fails("inputs_string", &m, &["`inputs`", "expected a list"]);
    let m = odd_with(|m| m["description"] = json!(42));
    model_fails(
        "description_number",
        &m,
        &["`description`", "expected a string"],
    );
    let m = odd_with(|m| m["name"] = json!(["odd"]));
    model_fails("name_list", &m, &["`name`", "expected a string"]);
}

#[test]
fn unknown_fields_are_rejected() {
    let m = odd_with(|m| m["outptus"] = json!(["fc2"]));
    model_fails("unknown_top", &m, &["top level", "unknown field `outptus`"]);
    let m = odd_with(|m| m["layers"][0]["acum"] = json!("fixed<20,6>"));
    model_fails(
        "unknown_layer_field",
        &m,
        &["`fc1`", "unknown field `acum`"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["scale"] = json!(2));
    model_fails(
        "unknown_weight_field",
        &m,
        &["`fc1`", "`weight`", "unknown field `scale`"],
    );
    let m = odd_with(|m| m["layers"][0]["bias"]["shape"] = json!([4]));
    model_fails(
        "unknown_bias_field",
        &m,
        &["`fc1`", "`bias`", "unknown field `shape`"],
    );
    let m = odd_with(|m| m["inputs"][0]["dtype"] = json!("float"));
    model_fails(
        "unknown_input_field",
        &m,
        &["inputs[0]", "unknown field `dtype`"],
    );
    let m = odd_with(|m| m["layers"][1]["weight"] = json!({}));
    model_fails(
        "relu_with_weight",
        &m,
        &["`relu1`", "unknown field `weight`"],
    );
    let p = fixture("flatten_with_result.json");
    let e = compile_fails("flatten_with_result", &p, &[]);
    assert_mentions(
        "flatten_with_result",
        &e,
        &[&p.display().to_string(), "`flat`", "unknown field `result`"],
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_input_shapes() {
    for (case, shape, phrase) in [
        ("shape_empty", json!([]), "non-empty"),
        ("shape_zero", json!([0]), "positive integers"),
        ("shape_zero_inner", json!([6, 0]), "positive integers"),
        ("shape_negative", json!([-6]), "positive integers"),
        ("shape_float", json!([6.0]), "positive integers"),
        ("shape_string", json!("6"), "positive integers"),
        ("shape_huge", json!([1_048_576, 1_048_576]), "2^22"),
    ] {
        let m = odd_with(|m| m["inputs"][0]["shape"] = shape);
        model_fails(case, &m, &["input `x`", "`shape`", phrase]);
    }
    let m = odd_with(|m| {
        obj(&mut m["inputs"][0]).remove("shape");
    });
    model_fails("shape_missing", &m, &["input `x`", "missing field `shape`"]);
}

#[test]
fn weight_shape_mismatch() {
    let m = odd_with(|m| m["layers"][0]["weight"]["shape"] = json!([5, 4]));
    model_fails(
        "weight_shape_n_in",
        &m,
        &["`fc1`", "`weight.shape`", "[6, n_out]", "[5, 4]", "`x`"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["shape"] = json!([24]));
    model_fails(
        "weight_shape_1d",
        &m,
        &["`fc1`", "`weight.shape`", "[6, n_out]"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["shape"] = json!([6, 2, 2]));
    model_fails(
        "weight_shape_3d",
        &m,
        &["`fc1`", "`weight.shape`", "[6, n_out]"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["shape"] = json!([6, 0]));
    model_fails(
        "weight_shape_zero",
        &m,
        &["`fc1`", "`weight.shape`", "positive"],
    );
    // The second dense layer reads relu1 ([4]).
    let m = odd_with(|m| m["layers"][2]["weight"]["shape"] = json!([2, 4]));
    model_fails(
        "weight_shape_second_layer",
        &m,
        &["`fc2`", "`weight.shape`", "[4, n_out]", "`relu1`"],
    );
}

#[test]
fn dense_output_too_large() {
    // [4096, 1] input, 1 → 2^20 weights: the output would be 2^32 elements.
    let mut m = dense_model("fixed<8,3>", 1, "fixed<4,1>", &[1], None);
    m["inputs"][0]["shape"] = json!([4096, 1]);
    m["layers"][0]["weight"]["shape"] = json!([1, 1_048_576]);
    m["layers"][0]["weight"]["data"] = json!(vec![0; 1_048_576]);
    model_fails(
        "huge_output",
        &m,
        &["`big dense`", "`weight.shape`", "2^22"],
    );
}

// ---------------------------------------------------------------------------------------------
// Weights and biases
// ---------------------------------------------------------------------------------------------

#[test]
fn weight_data_wrong_length() {
    let m = odd_with(|m| {
        m["layers"][0]["weight"]["data"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    model_fails(
        "weight_short",
        &m,
        &["`fc1`", "`weight.data`", "expected 24 values", "found 23"],
    );
    let m = odd_with(|m| {
        m["layers"][0]["weight"]["data"]
            .as_array_mut()
            .unwrap()
            .push(json!(0));
    });
    model_fails(
        "weight_long",
        &m,
        &["`fc1`", "`weight.data`", "expected 24", "found 25"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["data"] = json!(vec![[0]; 24]));
    model_fails(
        "weight_nested",
        &m,
        &["`fc1`", "`weight.data[0]`", "integer mantissa"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["data"] = json!("0,0,0"));
    model_fails(
        "weight_string",
        &m,
        &["`fc1`", "`weight.data`", "list of integer"],
    );
}

#[test]
fn weight_mantissa_out_of_range_names_the_index() {
    let m = odd_with(|m| {
        let w = &mut m["layers"][0]["weight"];
        w["type"] = json!("fixed<6,0>");
        w["data"][5] = json!(40);
    });
    model_fails(
        "weight_40",
        &m,
        &["`fc1`", "`weight.data[5]`", "40", "fixed<6,0>", "-32..=31"],
    );
    // Most negative code is fine, one below is not.
    let m = odd_with(|m| {
        let w = &mut m["layers"][0]["weight"];
        w["type"] = json!("fixed<6,0>");
        w["data"][0] = json!(-32);
        w["data"][17] = json!(-33);
    });
    model_fails("weight_minus33", &m, &["`fc1`", "`weight.data[17]`", "-33"]);
    // Unsigned types reject negatives.
    let m = odd_with(|m| {
        let w = &mut m["layers"][2]["weight"];
        w["type"] = json!("uint<3>");
        w["data"] = json!([1, 2, 3, 4, 5, 6, 7, -1]);
    });
    model_fails(
        "weight_unsigned_negative",
        &m,
        &["`fc2`", "`weight.data[7]`", "-1"],
    );
    // Beyond i64 (and beyond u64).
    let text = serde_json::to_string(&odd()).unwrap().replacen(
        "[0,0,-7,",
        "[0,0,18446744073709551615,",
        1,
    );
    assert!(text.contains("18446744073709551615"));
    text_fails(
        "weight_u64_max",
        &text,
        &["`fc1`", "`weight.data[2]`", "does not fit"],
    );
    let text = serde_json::to_string(&odd())
        .unwrap()
        .replacen("[0,0,-7,", "[0,0,1e30,", 1);
    text_fails(
        "weight_1e30",
        &text,
        &["`fc1`", "`weight.data[2]`", "integer mantissa"],
    );
}

#[test]
fn weight_data_must_be_integers() {
    let m = odd_with(|m| m["layers"][0]["weight"]["data"][5] = json!(3.5));
    model_fails(
        "weight_3_5",
        &m,
        &["`fc1`", "`weight.data[5]`", "integer mantissa", "3.5"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["data"][5] = json!(3.0));
    model_fails(
        "weight_3_0",
        &m,
        &["`fc1`", "`weight.data[5]`", "integer mantissa"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["data"][5] = json!("3"));
    model_fails(
        "weight_str",
        &m,
        &["`fc1`", "`weight.data[5]`", "integer mantissa"],
    );
    let m = odd_with(|m| m["layers"][0]["weight"]["data"][5] = Value::Null);
    model_fails(
        "weight_null",
        &m,
        &["`fc1`", "`weight.data[5]`", "integer mantissa"],
    );
    let m = odd_with(|m| m["layers"][0]["bias"]["data"][1] = json!(0.5));
    model_fails(
        "bias_0_5",
        &m,
        &["`fc1`", "`bias.data[1]`", "integer mantissa"],
    );
}

#[test]
fn bias_wrong_length_or_range() {
    let m = odd_with(|m| {
        m["layers"][0]["bias"]["data"].as_array_mut().unwrap().pop();
    });
    model_fails(
        "bias_short",
        &m,
        &["`fc1`", "`bias.data`", "expected 4 values", "found 3"],
    );
    let m = odd_with(|m| m["layers"][0]["bias"]["data"] = json!([1, 2, 3, 4, 5]));
    model_fails(
        "bias_long",
        &m,
        &["`fc1`", "`bias.data`", "expected 4", "found 5"],
    );
    // bias type fixed<6,-2>: mantissas -32..=31.
    let m = odd_with(|m| m["layers"][0]["bias"]["data"][3] = json!(32));
    model_fails(
        "bias_range",
        &m,
        &["`fc1`", "`bias.data[3]`", "32", "fixed<6,-2>"],
    );
    let m = odd_with(|m| {
        obj(&mut m["layers"][0]["bias"]).remove("type");
    });
    model_fails(
        "bias_no_type",
        &m,
        &["`fc1`", "`bias`", "missing field `type`"],
    );
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_type_strings() {
    for (ty, phrase) in [
        ("fixed<0,1>", "width 0"),
        ("fixed<65,3>", "width 65"),
        ("fixed<8,2,FOO>", "FOO"),
        ("fixed<8,2,RND,SATURATE>", "SATURATE"),
        ("float<8,2>", "unknown type kind `float`"),
        ("fixed<8>", "expected 2 to 4 arguments"),
        ("fixed<8,2,RND,SAT,X>", "saturation bits N = `X`"),
        ("int<8,2>", "exactly one argument"),
        ("fixed<8,1025>", "|I| <= 1024"),
        ("fixed<-8,2>", "width"),
        ("fixed<8,2.5>", "integer bits"),
        ("fixed<8,2", "closing `>`"),
        ("fixed8,2", "missing `<`"),
        ("", "missing `<`"),
    ] {
        let case = format!(
            "result_{}",
            ty.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let m = odd_with(|m| m["layers"][0]["result"] = json!(ty));
        let quoted = format!("`{ty}`");
        model_fails(
            &case,
            &m,
            &["`fc1`", "`result`", "bad fixed-point type", &quoted, phrase],
        );
    }
    // The same parser everywhere: accum, weight type, bias type, input type, relu result.
    let m = odd_with(|m| m["layers"][0]["accum"] = json!("fixed<8>"));
    model_fails("accum_bad", &m, &["`fc1`", "`accum`", "fixed<8>"]);
    let m = odd_with(|m| m["layers"][0]["weight"]["type"] = json!("float<8,2>"));
    model_fails(
        "weight_type_bad",
        &m,
        &["`fc1`", "`weight`", "`type`", "float<8,2>"],
    );
    let m = odd_with(|m| m["layers"][0]["bias"]["type"] = json!("fixed<65,3>"));
    model_fails(
        "bias_type_bad",
        &m,
        &["`fc1`", "`bias`", "`type`", "width 65"],
    );
    let m = odd_with(|m| m["inputs"][0]["type"] = json!("fixed<0,1>"));
    model_fails("input_type_bad", &m, &["input `x`", "`type`", "width 0"]);
    let m = odd_with(|m| m["layers"][1]["result"] = json!("ufixed<4,1,TRN,FOO>"));
    model_fails("relu_result_bad", &m, &["`relu1`", "`result`", "FOO"]);
    let m = odd_with(|m| m["layers"][1]["result"] = json!(4));
    model_fails(
        "result_number",
        &m,
        &["`relu1`", "`result`", "expected a string"],
    );
    let m = odd_with(|m| {
        obj(&mut m["layers"][2]).remove("result");
    });
    model_fails("result_missing", &m, &["`fc2`", "missing field `result`"]);
}

// ---------------------------------------------------------------------------------------------
// Layer kinds, names and the graph
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_layer_kind() {
    let m = odd_with(|m| m["layers"][1]["kind"] = json!("lstm"));
    model_fails(
        "kind_lstm",
        &m,
        &[
            "`relu1`",
            "`kind`",
            "unknown layer kind `lstm`",
            "dense, relu, quantize, flatten, conv1d",
            "softmax",
        ],
    );
    let m = odd_with(|m| m["layers"][1]["kind"] = json!("Relu"));
    model_fails("kind_case", &m, &["`relu1`", "unknown layer kind `Relu`"]);
    let m = odd_with(|m| {
        obj(&mut m["layers"][1]).remove("kind");
    });
    model_fails("kind_missing", &m, &["`relu1`", "missing field `kind`"]);
    let p = fixture("unknown_kind.json");
    let e = compile_fails("unknown_kind fixture", &p, &[]);
    assert_mentions(
        "unknown_kind fixture",
        &e,
        &[
            &p.display().to_string(),
            "`conv 1`",
            "`kind`",
            "unknown layer kind `conv3d`",
        ],
    );
}

#[test]
fn input_naming_unknown_or_later_layer() {
    let m = odd_with(|m| m["layers"][1]["input"] = json!("fc2"));
    model_fails(
        "input_later",
        &m,
        &["`relu1`", "`input`", "`fc2`", "earlier layer"],
    );
    let m = odd_with(|m| m["layers"][1]["input"] = json!("relu1"));
    model_fails(
        "input_self",
        &m,
        &["`relu1`", "`input`", "`relu1`", "earlier layer"],
    );
    let m = odd_with(|m| m["layers"][0]["input"] = json!("nope"));
    model_fails("input_unknown", &m, &["`fc1`", "`input`", "`nope`"]);
    let m = odd_with(|m| m["layers"][0]["input"] = json!(0));
    model_fails("input_number", &m, &["`fc1`", "`input`", "expected a name"]);
}

#[test]
fn first_layer_needs_input_with_several_model_inputs() {
    let m = odd_with(|m| {
        m["inputs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "y", "shape": [2], "type": "fixed<8,3>"}));
        obj(&mut m["layers"][0]).remove("input");
    });
    model_fails(
        "two_inputs",
        &m,
        &["`fc1`", "missing field `input`", "several inputs"],
    );
}

#[test]
fn duplicate_and_empty_names() {
    let m = odd_with(|m| m["layers"][1]["name"] = json!("fc1"));
    model_fails("dup_layer", &m, &["`fc1`", "used twice"]);
    let m = odd_with(|m| m["layers"][1]["name"] = json!("x"));
    model_fails("dup_with_input", &m, &["`x`", "used twice"]);
    let m = odd_with(|m| {
        m["inputs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "x", "shape": [2], "type": "fixed<8,3>"}));
    });
    model_fails("dup_input", &m, &["`x`", "used twice"]);
    let m = odd_with(|m| {
        m["layers"][1]["name"] = json!("");
        m["layers"][2]["input"] = json!("");
    });
    model_fails("empty_name", &m, &["layers[1]", "must not be empty"]);
    let m = odd_with(|m| {
        obj(&mut m["layers"][1]).remove("name");
    });
    model_fails("missing_name", &m, &["layers[1]", "missing field `name`"]);
}

#[test]
fn outputs_naming_unknown_tensor() {
    let m = odd_with(|m| m["outputs"] = json!(["fc3"]));
    model_fails("outputs_unknown", &m, &["outputs[0]", "`fc3`"]);
    let m = odd_with(|m| m["outputs"] = json!(["fc2", "FC1"]));
    model_fails("outputs_case", &m, &["outputs[1]", "`FC1`"]);
    let m = odd_with(|m| m["outputs"] = json!([2]));
    model_fails(
        "outputs_number",
        &m,
        &["outputs[0]", "expected a layer or input name"],
    );
    let m = odd_with(|m| m["outputs"] = json!("fc2"));
    model_fails("outputs_string", &m, &["`outputs`", "expected a list"]);
}

// ---------------------------------------------------------------------------------------------
// Well-formed but unsupported: order-dependent saturation, too-wide intermediates.
// These come from the compiler proper; their messages must still name the model file.
// ---------------------------------------------------------------------------------------------

fn unsupported_fails(case: &str, model: &Value, needles: &[&str]) -> (PathBuf, String, Tmp) {
    let t = Tmp::new("model");
    let path = t.path(&format!("{case}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(model).unwrap()).unwrap();
    let stderr = compile_fails(case, &path, &[]);
    assert_mentions(case, &stderr, needles);
    (path, stderr, t)
}

fn saturating_model() -> Value {
    odd_with(|m| {
        let l = &mut m["layers"][0];
        l["accum"] = json!("fixed<8,2,TRN,SAT>");
        l["weight"]["type"] = json!("fixed<8,6>");
        l["weight"]["data"] = json!(vec![100; 24]);
    })
}

fn too_wide_models() -> Vec<(&'static str, Value)> {
    // 60-bit input times 60-bit weights over 4 inputs: the exact sum needs 121 bits.
    let w: Vec<i64> = (0..4).map(|i| (1i64 << 59) - 1 - 977 * i).collect();
    let wide_sum = dense_model("fixed<60,30>", 4, "fixed<60,30>", &w, None);
    // 64-bit input times 64-bit weights: the exact products alone are 127 bits.
    let wide_product = dense_model(
        "fixed<64,32>",
        2,
        "fixed<64,32>",
        &[(1i64 << 62) + 1, (1i64 << 62) + 3],
        None,
    );
    vec![("wide_sum", wide_sum), ("wide_product", wide_product)]
}

/// A saturating accumulator that may saturate is no longer refused: it compiles to a chain of
/// saturating adders in hls4ml's order (issue #21; `tests/apfixed.rs` checks its values).
#[test]
fn saturating_accumulator_that_may_saturate_compiles() {
    let t = Tmp::new("satchain");
    let p = t.path("m.json");
    std::fs::write(&p, saturating_model().to_string()).unwrap();
    let o = t.path("out");
    let out = run(&[
        os("compile"),
        p.as_os_str(),
        os("-o"),
        o.as_os_str(),
        os("-q"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn saturating_accumulator_that_provably_cannot_saturate_is_accepted() {
    // A wide SAT accumulator is equivalent to WRAP (no chain).
    let m = odd_with(|m| m["layers"][0]["accum"] = json!("fixed<32,16,RND,SAT>"));
    let t = Tmp::new("satok");
    let p = t.path("m.json");
    std::fs::write(&p, m.to_string()).unwrap();
    let o = t.path("out");
    let out = run(&[
        os("compile"),
        p.as_os_str(),
        os("-o"),
        o.as_os_str(),
        os("-q"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn intermediate_wider_than_wire_limit() {
    // Which check trips first ("needs 121 bits, more than the 120-bit limit" or "an aligned
    // operand exceeds the wire-width limit") depends on the lowering; both name the layer.
    for (case, m) in too_wide_models() {
        unsupported_fails(case, &m, &["`big dense`", "limit"]);
    }
}

#[test]

fn wire_limit_error_states_the_limit() {
    for (case, m) in too_wide_models() {
        unsupported_fails(case, &m, &["`big dense`", "120"]);
    }
}

#[test]

fn unsupported_errors_name_the_model_file() {
    for (case, m) in too_wide_models() {
        let (path, stderr, _t) = unsupported_fails(case, &m, &[]);
        assert_mentions(case, &stderr, &[&path.display().to_string()]);
    }
}

// ---------------------------------------------------------------------------------------------
// Command line: model path, clock, output directory
// ---------------------------------------------------------------------------------------------

#[test]
fn nonexistent_model_file() {
    let t = Tmp::new("nofile");
    let p = t.path("does_not_exist.json");
    let e = compile_fails("nonexistent", &p, &[]);
    assert_mentions(
        "nonexistent",
        &e,
        &[&p.display().to_string(), "No such file"],
    );
}

#[test]
fn directory_as_model() {
    let t = Tmp::new("dirmodel");
    let e = compile_fails("dir as model", &t.0, &[]);
    assert_mentions(
        "dir as model",
        &e,
        &[&t.0.display().to_string(), "directory"],
    );
}

#[test]
fn bad_clock_period() {
    let p = bundled("odd_types.json");
    for c in ["0", "-0", "nan", "inf", "1e-400", "-1", "-inf"] {
        let arg = format!("--clock-ns={c}");
        let e = compile_fails(&arg, &p, &[&arg]);
        assert_mentions(&arg, &e, &["--clock-ns", "positive"]);
    }
    // `--clock-ns -1` is rejected by the argument parser before it reaches the check.
    let e = compile_fails("clock -1", &p, &["--clock-ns", "-1"]);
    assert_mentions("clock -1", &e, &["-1"]);
    let e = compile_fails("clock abc", &p, &["--clock-ns", "abc"]);
    assert_mentions("clock abc", &e, &["--clock-ns", "abc"]);
}

#[test]

fn negative_clock_with_space_is_explained() {
    let e = compile_fails(
        "clock -1",
        &bundled("odd_types.json"),
        &["--clock-ns", "-1"],
    );
    assert_mentions("clock -1", &e, &["positive"]);
}

/// Every file under `dir` with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                v.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    b"<dir>".to_vec(),
                ));
                stack.push(p);
            } else {
                v.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn existing_foreign_output_directory_is_refused_and_untouched() {
    let t = Tmp::new("foreign");
    let out_dir = t.path("precious");
    std::fs::create_dir_all(out_dir.join("sub")).unwrap();
    std::fs::write(out_dir.join("thesis.tex"), "do not delete me").unwrap();
    std::fs::write(out_dir.join("sub/data.bin"), [0u8, 1, 2, 3]).unwrap();
    // A file that merely looks like ours must not make the directory "ours" either.
    std::fs::write(out_dir.join("report.json"), "{}").unwrap();
    let before = snapshot(&out_dir);
    let model = bundled("odd_types.json");
    let out = run(&[
        os("compile"),
        model.as_os_str(),
        os("-o"),
        out_dir.as_os_str(),
        os("-q"),
    ]);
    let e = assert_clean_failure("foreign dir", &out);
    assert_mentions(
        "foreign dir",
        &e,
        &[
            &out_dir.display().to_string(),
            "not an rtl4ml build directory",
        ],
    );
    assert_eq!(
        before,
        snapshot(&out_dir),
        "the foreign directory was modified"
    );
    for entry in std::fs::read_dir(&t.0).unwrap().flatten() {
        let n = entry.file_name().to_string_lossy().to_string();
        assert_eq!(n, "precious", "unexpected leftover {n} next to the output");
    }

    // An existing *file* as the output is refused too.
    let f = t.path("a_file");
    std::fs::write(&f, "keep").unwrap();
    let out = run(&[
        os("compile"),
        model.as_os_str(),
        os("-o"),
        f.as_os_str(),
        os("-q"),
    ]);
    let e = assert_clean_failure("file as output", &out);
    assert_mentions("file as output", &e, &[&f.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "keep");
}

#[test]
fn failed_compile_leaves_an_earlier_build_intact() {
    // A failing compile into a directory holding an earlier build must not delete it.
    let t = Tmp::new("earlier");
    let out_dir = t.path("build");
    let model = bundled("odd_types.json");
    let out = run(&[
        os("compile"),
        model.as_os_str(),
        os("-o"),
        out_dir.as_os_str(),
        os("-q"),
    ]);
    assert!(out.status.success());
    let before = snapshot(&out_dir);
    let bad = t.path("bad.json");
    std::fs::write(&bad, too_wide_models()[0].1.to_string()).unwrap();
    let out = run(&[
        os("compile"),
        bad.as_os_str(),
        os("-o"),
        out_dir.as_os_str(),
        os("-q"),
    ]);
    assert_clean_failure("bad over earlier build", &out);
    assert_eq!(before, snapshot(&out_dir), "the earlier build was modified");
}

// ---------------------------------------------------------------------------------------------
// `sim` with bad .npy inputs (models/odd_types.json: 6 inputs of fixed<8,10,RND,WRAP>,
// mantissas -128..=127; small so that the compile `sim` starts with is quick)
// ---------------------------------------------------------------------------------------------

/// Runs `sim` on odd_types with `input`; asserts a clean failure naming the input file and
/// every needle, and that no output file was written.
fn sim_fails(case: &str, input: &Path, raw: bool, needles: &[&str]) -> String {
    let output = input.with_extension("out.npy");
    let model = bundled("odd_types.json");
    let mut args = vec![
        os("sim"),
        model.as_os_str(),
        os("--input"),
        input.as_os_str(),
        os("--output"),
        output.as_os_str(),
    ];
    if raw {
        args.push(os("--raw"));
    }
    let out = run(&args);
    let e = assert_clean_failure(case, &out);
    assert_mentions(case, &e, &[&input.display().to_string()]);
    assert_mentions(case, &e, needles);
    assert!(!output.exists(), "{case}: an output file was written");
    e
}

#[test]
fn sim_wrong_shape() {
    let t = Tmp::new("simshape");
    let p = t.path("wrong_shape.npy");
    ndarray_npy::write_npy(&p, &Array2::<f64>::zeros((4, 5))).unwrap();
    sim_fails("sim [4,5]", &p, false, &["[4, 5]", "6 input elements"]);
    let p = t.path("wrong_shape_3d.npy");
    ndarray_npy::write_npy(&p, &Array3::<f64>::zeros((2, 3, 5))).unwrap();
    sim_fails("sim [2,3,5]", &p, false, &["[2, 3, 5]", "6"]);
    let p = t.path("wrong_shape_1d.npy");
    ndarray_npy::write_npy(&p, &Array1::<i64>::zeros(12)).unwrap();
    sim_fails("sim [12]", &p, true, &["[12]", "6"]);
    // The transposed batch ([6, N]) is not silently accepted.
    let p = t.path("transposed.npy");
    ndarray_npy::write_npy(&p, &Array2::<f64>::zeros((6, 3))).unwrap();
    sim_fails("sim [6,3]", &p, false, &["[6, 3]", "[N, 6]"]);
}

#[test]
fn sim_int_mantissa_out_of_range() {
    let t = Tmp::new("simrange");
    let p = t.path("int_range.npy");
    let mut a = Array2::<i64>::zeros((3, 6));
    a[[2, 4]] = 200; // fixed<8,10>: -128..=127
    ndarray_npy::write_npy(&p, &a).unwrap();
    sim_fails(
        "sim int range",
        &p,
        true,
        &["sample 2, element 4", "200", "fixed<8,10"],
    );
    // int32 arrays are mantissas too.
    let p = t.path("int32_range.npy");
    let mut a = Array2::<i32>::zeros((1, 6));
    a[[0, 0]] = -129;
    ndarray_npy::write_npy(&p, &a).unwrap();
    sim_fails(
        "sim int32 range",
        &p,
        false,
        &["sample 0, element 0", "-129"],
    );
}

#[test]
fn sim_float_nan_or_infinite() {
    let t = Tmp::new("simnan");
    for (name, bad) in [
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
    ] {
        let p = t.path(&format!("{name}.npy"));
        let mut a = Array2::<f64>::zeros((2, 6));
        a[[1, 3]] = bad;
        ndarray_npy::write_npy(&p, &a).unwrap();
        sim_fails(
            name,
            &p,
            false,
            &["sample 1, element 3", "not a finite number"],
        );
    }
    let p = t.path("nan32.npy");
    let mut a = Array2::<f32>::zeros((1, 6));
    a[[0, 5]] = f32::NAN;
    ndarray_npy::write_npy(&p, &a).unwrap();
    sim_fails(
        "nan f32",
        &p,
        false,
        &["sample 0, element 5", "not a finite number"],
    );
}

#[test]
fn sim_not_an_npy_file() {
    let t = Tmp::new("simnotnpy");
    let p = t.path("values.csv");
    std::fs::write(&p, "1.0,2.0,3.0\n").unwrap();
    sim_fails("csv", &p, false, &["not a readable .npy"]);
    let p = t.path("empty.npy");
    std::fs::write(&p, "").unwrap();
    sim_fails("empty npy", &p, false, &["not a readable .npy"]);
    let p = t.path("missing.npy");
    sim_fails("missing npy", &p, false, &["No such file"]);
    // A real .npy of an unsupported element type (bool).
    let p = t.path("bool.npy");
    ndarray_npy::write_npy(&p, &Array2::<bool>::from_elem((1, 6), true)).unwrap();
    sim_fails("bool npy", &p, false, &["not a readable .npy"]);
    // A truncated .npy (header intact, data cut).
    let p = t.path("truncated.npy");
    ndarray_npy::write_npy(&p, &Array2::<f64>::zeros((8, 6))).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 9]).unwrap();
    sim_fails("truncated npy", &p, false, &[".npy"]);
}

/// Writes a version 1.0 .npy header by hand followed by `data`.
fn raw_npy(path: &Path, descr: &str, fortran: bool, shape: &str, data: &[u8]) {
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn sim_npy_header_declaring_a_huge_array_is_rejected_not_aborted() {
    // Found by this suite: the reader used to allocate what the header declares and abort.
    let t = Tmp::new("simhuge");
    let p = t.path("huge.npy");
    raw_npy(&p, "<f8", false, "(1099511627776, 6)", &[0u8; 64]);
    sim_fails(
        "huge header",
        &p,
        false,
        &["header declares", "1099511627776"],
    );
    let p = t.path("overflow.npy");
    raw_npy(
        &p,
        "<i8",
        false,
        "(18446744073709551615, 18446744073709551615)",
        &[],
    );
    sim_fails("overflowing header", &p, false, &[".npy"]);
}

#[test]
fn sim_float_beyond_int64_mantissa_is_an_error_not_a_wrap() {
    // Found by this suite: a uint<64> input's mantissa ≥ 2^63 used to wrap silently to a
    // negative int64 and give wrong outputs.
    let t = Tmp::new("simu64");
    let model = t.path("u64.json");
    std::fs::write(
        &model,
        json!({
            "format": "rtl4ml-model", "version": 1, "name": "u64",
            "inputs": [{"name": "x", "shape": [2], "type": "uint<64>"}],
            "layers": [{"name": "q", "kind": "quantize", "result": "fixed<8,8,TRN,SAT>"}],
            "outputs": ["q"]
        })
        .to_string(),
    )
    .unwrap();
    let input = t.path("in.npy");
    ndarray_npy::write_npy(&input, &ndarray::arr2(&[[9.3e18f64, 5.0]])).unwrap();
    let output = t.path("out.npy");
    let out = run(&[
        os("sim"),
        model.as_os_str(),
        os("--input"),
        input.as_os_str(),
        os("--output"),
        output.as_os_str(),
    ]);
    let e = assert_clean_failure("u64 input", &out);
    assert_mentions(
        "u64 input",
        &e,
        &[&input.display().to_string(), "sample 0, element 0", "2^63"],
    );
    assert!(!output.exists());
}

#[test]
fn sim_bad_model_is_reported_before_reading_data() {
    let t = Tmp::new("simbadmodel");
    let model = t.path("bad.json");
    std::fs::write(&model, odd_with(|m| m["version"] = json!(7)).to_string()).unwrap();
    let input = t.path("in.npy");
    ndarray_npy::write_npy(&input, &Array2::<f64>::zeros((1, 6))).unwrap();
    let output = t.path("out.npy");
    let out = run(&[
        os("sim"),
        model.as_os_str(),
        os("--input"),
        input.as_os_str(),
        os("--output"),
        output.as_os_str(),
    ]);
    let e = assert_clean_failure("sim bad model", &out);
    assert_mentions(
        "sim bad model",
        &e,
        &[&model.display().to_string(), "unsupported version 7"],
    );
    assert!(!output.exists());
}

// ---------------------------------------------------------------------------------------------
// `verify` and `report` on directories that are not build directories
// ---------------------------------------------------------------------------------------------

#[test]
fn verify_and_report_on_a_non_build_directory() {
    let t = Tmp::new("notbuild");
    let d = t.path("just_a_dir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("notes.txt"), "hello").unwrap();
    let missing = t.path("missing_dir");
    for dir in [&d, &missing] {
        for args in [
            vec![
                os("verify"),
                dir.as_os_str(),
                os("--vectors"),
                os("1"),
                os("--icarus"),
                os("0"),
            ],
            vec![os("report"), dir.as_os_str()],
            vec![os("report"), dir.as_os_str(), os("--json")],
        ] {
            let what = format!("{:?}", args);
            let out = run(&args);
            let e = assert_clean_failure(&what, &out);
            assert_mentions(&what, &e, &[&dir.display().to_string()]);
        }
    }
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "hello"
    );
}

#[test]
fn verify_and_report_on_a_corrupt_build_directory() {
    let t = Tmp::new("corrupt");
    let d = t.path("build");
    let model = bundled("odd_types.json");
    let out = run(&[
        os("compile"),
        model.as_os_str(),
        os("-o"),
        d.as_os_str(),
        os("-q"),
    ]);
    assert!(out.status.success());
    std::fs::write(d.join("rtl4ml.json"), "{\"tool\": \"rtl4ml\"").unwrap();
    std::fs::write(d.join("report.json"), "[]").unwrap();
    let out = run(&[
        os("verify"),
        d.as_os_str(),
        os("--vectors"),
        os("1"),
        os("--icarus"),
        os("0"),
    ]);
    let e = assert_clean_failure("verify corrupt", &out);
    assert_mentions("verify corrupt", &e, &["rtl4ml.json"]);
    let out = run(&[os("report"), d.as_os_str()]);
    let e = assert_clean_failure("report corrupt", &out);
    assert_mentions("report corrupt", &e, &["report.json"]);
}

#[test]

fn verify_and_report_explain_what_a_build_directory_is() {
    let t = Tmp::new("notbuild2");
    for args in [
        vec![
            os("verify"),
            t.0.as_os_str(),
            os("--vectors"),
            os("1"),
            os("--icarus"),
            os("0"),
        ],
        vec![os("report"), t.0.as_os_str()],
    ] {
        let what = format!("{:?}", args);
        let out = run(&args);
        let e = assert_clean_failure(&what, &out);
        assert_mentions(&what, &e, &["not an rtl4ml build directory"]);
        let first = e.lines().next().unwrap();
        let reason = "No such file or directory";
        assert!(
            first.matches(reason).count() <= 1,
            "{what}: the I/O reason is repeated: {first}"
        );
    }
}
