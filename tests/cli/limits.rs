//! Resource limits: models that would produce an enormous design are refused early, with an
//! explanation, in little time and memory — never by exhausting memory.
//!
//! Every refusal runs the real binary under `ulimit -v` (a 1 GiB address-space cap): a
//! compiler that tried to build the design would abort on allocation failure (a signal, not
//! exit status 1), so a clean exit 1 proves the check came before the allocation.

use crate::common;

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::passes::limits;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("rtl4ml-limits-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `model` under a 1 GiB address-space limit with `env`; returns the output and time.
fn compile_capped(tag: &str, model: &Value, env: &[(&str, &str)]) -> (Output, Duration) {
    let t = Tmp::new(tag);
    let p = t.0.join("m.json");
    std::fs::write(&p, model.to_string()).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"ulimit -v 1048576 && exec "$0" compile "$1" -o "$2" -q"#)
        .arg(BIN)
        .arg(&p)
        .arg(t.0.join("out"))
        .env("RUST_BACKTRACE", "0")
        .env_remove("RTL4ML_MAX_OPS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let dt = start.elapsed();
    assert!(!t.0.join("out").exists() || out.status.success());
    (out, dt)
}

fn refused(tag: &str, model: &Value, needles: &[&str]) -> String {
    let (out, dt) = compile_capped(tag, model, &[]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{tag}: expected a clean refusal, got {:?}:\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{tag}: {err}");
    for n in needles {
        assert!(
            err.contains(n),
            "{tag}: stderr should mention {n:?}:\n{err}"
        );
    }
    assert!(dt < Duration::from_secs(20), "{tag}: refusal took {dt:?}");
    err
}

fn dense(name: &str, n_in: usize, n_out: usize, w: impl Fn(usize) -> i64) -> Value {
    json!({"name": name, "kind": "dense",
           "weight": {"type": "fixed<8,1>", "shape": [n_in, n_out],
                      "data": (0..n_in * n_out).map(w).collect::<Vec<_>>()},
           "result": "fixed<16,8>"})
}

fn model(shape: Value, layers: Vec<Value>) -> Value {
    let last = layers.last().unwrap()["name"].clone();
    json!({"format": "rtl4ml-model", "version": 1, "name": "big",
           "inputs": [{"name": "x", "shape": shape, "type": "fixed<8,3>"}],
           "layers": layers, "outputs": [last]})
}

/// Dense weights with 3–4 signed digits each (no pruning).
fn heavy(i: usize) -> i64 {
    if i % 2 == 0 {
        85 + (i % 40) as i64
    } else {
        -85 - (i % 40) as i64
    }
}

#[test]
fn dense_2048_by_2048_with_dense_weights_is_refused() {
    // 4.2 M weights (just under the 2^22 tensor limit) of ~3.5 digits: ~15 M adders.
    let m = model(json!([2048]), vec![dense("huge", 2048, 2048, heavy)]);
    let err = refused(
        "dense2048",
        &m,
        &[
            "layer `huge`",
            "scalar operations",
            "limit of 2,000,000",
            "RTL4ML_MAX_OPS",
        ],
    );
    assert!(err.contains("Prune") && err.contains("smaller"), "{err}");
}

#[test]
fn a_small_file_that_multiplies_by_many_rows_is_refused() {
    // 1024 weights in the file, applied to 4096 rows: ~14 M adders.
    let m = model(json!([4096, 1024]), vec![dense("rows", 1024, 1, heavy)]);
    refused("rows", &m, &["layer `rows`", "scalar operations"]);
}

#[test]
fn element_wise_layers_on_a_huge_tensor_are_refused() {
    // 2^22 elements through relu and quantize: 4 M inputs + 16 M element operations.
    let m = model(
        json!([4096, 1024]),
        vec![
            json!({"name": "r", "kind": "relu", "result": "ufixed<8,3>"}),
            json!({"name": "q", "kind": "quantize", "result": "ufixed<4,3>"}),
        ],
    );
    refused("elementwise", &m, &["scalar operations"]);
}

#[test]
fn the_limit_can_be_raised_or_lowered_by_the_environment() {
    let m = model(json!([64]), vec![dense("d", 64, 64, heavy)]);
    let (out, _) = compile_capped("env_default", &m, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, _) = compile_capped("env_low", &m, &[("RTL4ML_MAX_OPS", "1000")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("limit of 1,000"), "{err}");
    let (out, _) = compile_capped("env_off", &m, &[("RTL4ML_MAX_OPS", "0")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, _) = compile_capped("env_bad", &m, &[("RTL4ML_MAX_OPS", "-5")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RTL4ML_MAX_OPS") && err.contains("whole number"),
        "{err}"
    );
}

#[test]
fn the_estimate_bounds_the_netlist_of_random_networks() {
    // The estimate must track the real size: never far below it (the limit would not protect)
    // and not absurdly above it (the limit would refuse reasonable models).
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for seed in 0..400 {
        // Dense networks, and networks of every layer kind (convolutions, pooling, merges…).
        let m = if seed < 300 {
            common::random_model(seed)
        } else {
            common::random_layer_model(seed)
        };
        let text = m.to_string();
        let g = native::parse(&text, "random").unwrap();
        let est = limits::estimate(&g).total;
        let Ok(d) = compile(g, &Options::default()) else {
            continue;
        };
        let nodes = d.net.nodes.len() as u64;
        assert!(
            nodes <= 2 * est + 64,
            "seed {seed}: {nodes} netlist nodes but an estimate of only {est}"
        );
        let r = est as f64 / nodes.max(1) as f64;
        lo = lo.min(r);
        hi = hi.max(r);
    }
    eprintln!("estimate / nodes over random networks: {lo:.2} ..= {hi:.2}");
}

#[test]
fn bundled_models_are_far_below_the_limit() {
    for m in ["jet_tagger", "odd_types", "wrap_accum"] {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("models/{m}.json"));
        let g = native::load(&p).unwrap();
        let e = limits::estimate(&g).total;
        assert!(e * 50 < limits::DEFAULT_MAX_OPS, "{m}: estimate {e}");
        limits::check_with(&g, e).unwrap();
        assert!(limits::check_with(&g, e - 1).is_err());
    }
}
