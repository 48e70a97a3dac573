//! The Keras 3 / HGQ2 exporter's fixtures (tests/fixtures/keras, made by
//! tools/make_keras_fixtures.py with tools/export_keras.py) against the models' own Keras
//! predictions, bit for bit; the per-element `quantize` (`element_types`) the exporter needs,
//! in the loader, the reference, the simulator, the writer and Verilator; and what HGQ2's
//! per-weight bit widths must become in hardware: no adders for 0-bit weights, narrow adders
//! for narrow weights and narrow activations.
//!
//! The Verilator tests need verilator and iverilog; without them they are skipped with a
//! note, unless RTL4ML_REQUIRE_TOOLS is set, in which case they fail.

use rtl4ml::flow::{compile, Design, Options};
use rtl4ml::frontend::{self, native, native_write};
use rtl4ml::ir::layers::{LayerGraph, LayerKind};
use rtl4ml::sim::{io, reference, Simulator};
use rtl4ml::verify::vectors::SplitMix;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const FIXTURES: [&str; 3] = ["hgq_mlp", "hgq_conv", "hgq_conv2d"];

fn fixture(name: &str, ext: &str) -> PathBuf {
    Path::new("tests/fixtures/keras").join(format!("{name}.{ext}"))
}

fn load(name: &str) -> LayerGraph {
    frontend::load(&fixture(name, "json")).unwrap_or_else(|e| panic!("{e}"))
}

/// Simulates on float inputs, checking the simulator against the reference on every sample;
/// returns the output values per sample.
fn simulate(g: &LayerGraph, x: io::NpyData) -> Vec<Vec<f64>> {
    let design = compile(g.clone(), &Options::default()).expect("compiles");
    let x = io::to_mantissas(x, &g.input_types(), "input", false).unwrap();
    let out = Simulator::new(&design.net).run(x.view());
    for (k, row) in x.rows().into_iter().enumerate() {
        let r = reference::evaluate(g, row.as_slice().unwrap()).unwrap();
        assert_eq!(
            out.row(k).to_vec(),
            r,
            "{}: simulator vs reference, sample {k}",
            g.name
        );
    }
    let values = io::to_values(&out, &g.output_types());
    values.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn expected(name: &str) -> Vec<Vec<f64>> {
    let io::NpyData::Float(e) = io::read_npy(&fixture(name, "expected.npy")).unwrap() else {
        panic!("{name}: expected outputs are float64");
    };
    let n = e.shape()[0];
    let len = e.len();
    let e = e.into_shape_with_order((n, len / n)).unwrap();
    e.rows().into_iter().map(|r| r.to_vec()).collect()
}

#[test]
fn fixtures_match_keras_bit_exactly() {
    for name in FIXTURES {
        let g = load(name);
        let got = simulate(&g, io::read_npy(&fixture(name, "input.npy")).unwrap());
        let want = expected(name);
        assert_eq!(got.len(), want.len(), "{name}: sample count");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(a == b, "{name}: sample {k}: rtl4ml {a:?}, Keras {b:?}");
        }
        eprintln!(
            "{name}: {} samples × {} outputs bit-exact with Keras",
            want.len(),
            want[0].len()
        );
    }
}

/// The exported graphs have the shape the exporter documents: per-element input quantizers,
/// always-zero elements, per-channel and per-tensor quantizers, exact dense results.
#[test]
fn fixtures_map_to_the_expected_layers() {
    let kinds = |g: &LayerGraph| -> Vec<&str> { g.layers.iter().map(|l| l.kind.name()).collect() };
    let g = load("hgq_mlp");
    assert_eq!(
        kinds(&g),
        ["quantize", "dense", "relu", "quantize", "dense", "relu", "quantize", "dense"]
    );
    let LayerKind::QuantizeEach { types } = &g.layers[0].kind else {
        panic!("fc1_iq is per element")
    };
    assert_eq!(types.len(), 16);
    assert_eq!(types[0].to_string(), "ufixed<1,0,TRN,SAT_NARROW>");
    let distinct: std::collections::BTreeSet<String> =
        types.iter().map(|t| t.to_string()).collect();
    assert!(distinct.len() >= 4, "heterogeneous: {distinct:?}");
    for l in &g.layers {
        if let LayerKind::Dense { weight, accum, .. } = &l.kind {
            assert!(accum.is_none(), "{}: exact sums", l.name);
            assert!(
                weight.data.iter().any(|&w| w == 0),
                "{}: pruned weights",
                l.name
            );
        }
    }

    let g = load("hgq_conv");
    assert_eq!(
        kinds(&g),
        ["quantize", "conv1d", "relu", "flatten", "quantize", "dense"]
    );
    assert_eq!(g.inputs[0].ty.to_string(), "fixed<8,3,TRN,SAT>");
    let LayerKind::QuantizeEach { types } = &g.layers[0].kind else {
        panic!("conv_iq is per channel")
    };
    // Per channel: the two channel types repeat along the length.
    assert_eq!(types.len(), 16);
    assert!(types.chunks(2).all(|c| c == &types[..2]) && types[0] != types[1]);
    assert!(matches!(g.layers[4].kind, LayerKind::Quantize));
    assert_eq!(
        g.layers[4].output.ty.to_string(),
        "fixed<6,4,RND_CONV,SAT_NARROW>"
    );

    let g = load("hgq_conv2d");
    assert_eq!(
        kinds(&g),
        ["quantize", "conv2d", "relu", "flatten", "quantize", "dense", "quantize"]
    );
    let LayerKind::Conv { window, .. } = &g.layers[1].kind else {
        panic!("conv2d")
    };
    assert_eq!(window.out_dims, [3, 3], "same padding, stride 2");
    // The output quantizer: one unsigned and one signed element, saturating.
    let LayerKind::QuantizeEach { types } = &g.layers[6].kind else {
        panic!("out_oq is per element")
    };
    assert!(!types[0].signed && types[1].signed, "{types:?}");
    assert_eq!(g.layers[6].output.ty.to_string(), "fixed<7,3>");
}

fn adders(d: &Design) -> (u64, u64) {
    d.report
        .layers
        .iter()
        .fold((0, 0), |(a, b), l| (a + l.adders, b + l.adder_bits))
}

/// Replaces every weight of every dense layer by a uniform-width version: each nonzero weight
/// keeps its value but zero weights get the smallest nonzero mantissa (no pruning), or every
/// per-element quantizer becomes one of its result type (uniform activations).
fn edited(g: &LayerGraph, unprune: bool, uniform_acts: bool) -> LayerGraph {
    let mut g = g.clone();
    for l in &mut g.layers {
        match &mut l.kind {
            LayerKind::Dense { weight, .. } if unprune => {
                weight.data.mapv_inplace(|w| if w == 0 { 1 } else { w });
            }
            LayerKind::QuantizeEach { types } if uniform_acts => {
                // The widest element type, for every element.
                let wide = *types.iter().max_by_key(|t| (t.width, t.frac())).unwrap();
                types.iter_mut().for_each(|t| *t = wide);
            }
            _ => {}
        }
    }
    g
}

/// HGQ2's per-weight and per-element bit widths survive into the hardware: a 0-bit weight
/// builds nothing, and narrow activations give narrower adders than uniform ones.
#[test]
fn bit_widths_reach_the_adders() {
    let g = load("hgq_mlp");
    let base = compile(g.clone(), &Options::default()).unwrap();
    let (n, bits) = adders(&base);
    let unpruned = compile(edited(&g, true, false), &Options::default()).unwrap();
    let (n_u, bits_u) = adders(&unpruned);
    let uniform = compile(edited(&g, false, true), &Options::default()).unwrap();
    let (n_a, bits_a) = adders(&uniform);
    // Uniform-width weights: every nonzero weight with its low magnitude bits filled in
    // (|m| | 0b010101, same sign, same zeros), as if every weight had all 6 bits.
    let mut wide = g.clone();
    for l in &mut wide.layers {
        if let LayerKind::Dense { weight, .. } = &mut l.kind {
            assert!(weight.data.iter().all(|&w| w.abs() < 64), "7-bit weights");
            weight
                .data
                .mapv_inplace(|w| w.signum() * (w.abs() | 0b010101));
        }
    }
    let (n_w, bits_w) = adders(&compile(wide, &Options::default()).unwrap());
    eprintln!(
        "hgq_mlp: {n} adders / {bits} adder bits; without pruning {n_u} / {bits_u}; \
         uniform activation types {n_a} / {bits_a}; uniform-width weights {n_w} / {bits_w}"
    );
    assert!(n < n_u && bits < bits_u, "pruned weights must save adders");
    assert!(
        bits < bits_a,
        "narrow activations must give narrower adders"
    );
    assert!(
        n < n_w && bits < bits_w,
        "narrow weights must give fewer adders"
    );
}

/// A 0-bit weight is not in the netlist: a dense layer whose only nonzero weight in a column
/// is a power of two needs no adder for that column at all.
#[test]
fn zero_bit_weights_build_nothing() {
    let model = |w: [i64; 4]| {
        json!({"format": "rtl4ml-model", "version": 1, "name": "p",
            "inputs": [{"name": "x", "shape": [4], "type": "fixed<8,4>"}],
            "layers": [
                {"name": "q", "kind": "quantize",
                 "element_types": ["fixed<6,3,RND>", "ufixed<1,0,TRN,SAT_NARROW>", "fixed<4,2,RND,SAT>", "fixed<3,3>"],
                 "result": "fixed<8,4>"},
                {"name": "d", "kind": "dense", "weight": {"type": "fixed<4,1>", "shape": [4, 1], "data": w},
                 "result": "fixed<24,10>"}],
            "outputs": ["d"]})
        .to_string()
    };
    let count = |w| {
        let g = native::parse(&model(w), "p").unwrap();
        adders(&compile(g, &Options::default()).unwrap()).0
    };
    // A power-of-two weight on one input: wiring only.
    assert_eq!(count([4, 0, 0, 0]), 0);
    // The always-zero element contributes nothing whatever its weight.
    assert_eq!(count([4, 7, 0, 0]), 0);
    // Two live terms: one adder.
    assert_eq!(count([4, 0, 2, 0]), 1);
}

// ---- the per-element `quantize` in the native format --------------------------------------

const ROUNDS: [&str; 7] = [
    "TRN",
    "TRN_ZERO",
    "RND",
    "RND_ZERO",
    "RND_MIN_INF",
    "RND_INF",
    "RND_CONV",
];
const OVERFLOWS: [&str; 5] = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM", "SAT_NARROW"];

/// A model of per-element quantizers with random types and modes (and always-zero elements)
/// on a signed input and on its ReLU, followed by a dense layer.
fn random_quantize_model(seed: u64) -> String {
    let mut r = SplitMix(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
    let mut pick = |n: u64| (r.next_u64() % n) as i64;
    let n = 6;
    let mut types = Vec::new();
    for _ in 0..n {
        if pick(8) == 0 {
            types.push("ufixed<1,0,TRN,SAT_NARROW>".to_string());
            continue;
        }
        let signed = pick(3) != 0;
        let w = 1 + pick(7) + signed as i64;
        let i = pick(6) - 1;
        let q = ROUNDS[pick(7) as usize];
        let o = OVERFLOWS[pick(5) as usize];
        types.push(format!(
            "{}<{w},{i},{q},{o}>",
            if signed { "fixed" } else { "ufixed" }
        ));
    }
    let weights: Vec<i64> = (0..n * 3).map(|_| pick(15) - 7).collect();
    json!({"format": "rtl4ml-model", "version": 1, "name": format!("qe{seed}"),
        "inputs": [{"name": "x", "shape": [n], "type": "fixed<12,5,RND,SAT>"}],
        "layers": [
            {"name": "q", "kind": "quantize", "element_types": types, "result": "fixed<24,10>"},
            {"name": "d", "kind": "dense", "weight": {"type": "fixed<4,1>", "shape": [n, 3], "data": weights},
             "bias": {"type": "fixed<6,2>", "data": [3, -7, 0]}, "result": "fixed<24,10>"},
            {"name": "r", "kind": "relu", "input": "x", "result": "ufixed<11,4>"},
            {"name": "qr", "kind": "quantize", "element_types": types, "result": "fixed<24,10>"}],
        "outputs": ["d", "qr", "q"]})
    .to_string()
}

/// Simulator and reference agree on every input mantissa of random per-element quantizers
/// (an exhaustive sweep of the 12-bit input on every element), and the writer round-trips.
#[test]
fn per_element_quantize_simulator_matches_reference() {
    for seed in 0..20 {
        let text = random_quantize_model(seed);
        let g = native::parse(&text, "qe").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let design = compile(g.clone(), &Options::default()).unwrap();
        let sim = Simulator::new(&design.net);
        let n = g.input_len();
        let rows: Vec<i64> = (-2048..2048)
            .flat_map(|m: i64| (0..n).map(move |e| ((m + 97 * e as i64 + 2048) % 4096) - 2048))
            .collect();
        let x = ndarray::Array2::from_shape_vec((4096, n), rows).unwrap();
        let out = sim.run(x.view());
        for (k, row) in x.rows().into_iter().enumerate() {
            let r = reference::evaluate(&g, row.as_slice().unwrap()).unwrap();
            assert_eq!(out.row(k).to_vec(), r, "seed {seed}, sample {k}\n{text}");
        }
        let back = native_write::write(&g, None);
        assert_eq!(
            native::parse(&back, "back").unwrap(),
            g,
            "seed {seed}: round trip"
        );
    }
}

/// The cast of each element follows its own type exactly (worked values).
#[test]
fn per_element_quantize_casts_each_element_with_its_type() {
    let text = json!({"format": "rtl4ml-model", "version": 1, "name": "w",
        "inputs": [{"name": "x", "shape": [2, 3], "type": "fixed<10,4>"}],
        "layers": [{"name": "q", "kind": "quantize",
            "element_types": ["fixed<4,2,RND,SAT>", "fixed<4,2,TRN,SAT_NARROW>", "ufixed<3,1,RND_CONV,WRAP>"],
            "result": "fixed<6,3>"}],
        "outputs": ["q"]})
    .to_string();
    let g = native::parse(&text, "w").unwrap();
    let LayerKind::QuantizeEach { types } = &g.layers[0].kind else {
        panic!()
    };
    assert_eq!(types.len(), 6, "per channel, repeated over the rows");
    let x = io::NpyData::Float(
        ndarray::ArrayD::from_shape_vec(vec![1, 6], vec![1.625, -2.0, 0.625, 5.0, -1.9, 2.375])
            .unwrap(),
    );
    let got = simulate(&g, x);
    // 1.625 RND to quarters → 1.75; −2.0 SAT_NARROW → −1.75; 0.625 RND_CONV to quarters → 0.5;
    // 5.0 SAT → 1.75; −1.9 TRN → −2.0 → SAT_NARROW −1.75; 2.375 RND_CONV → 2.5 → WRAP mod 2 → 0.5.
    assert_eq!(got, vec![vec![1.75, -1.75, 0.5, 1.75, -1.75, 0.5]]);
}

#[test]
fn per_element_quantize_errors() {
    let model = |et: Value, result: &str| {
        json!({"format": "rtl4ml-model", "version": 1, "name": "e",
            "inputs": [{"name": "x", "shape": [2, 3], "type": "fixed<10,4>"}],
            "layers": [{"name": "q", "kind": "quantize", "element_types": et, "result": result}],
            "outputs": ["q"]})
        .to_string()
    };
    let err = |et: Value, result: &str| {
        native::parse(&model(et, result), "m.json")
            .unwrap_err()
            .to_string()
    };
    let e = err(json!(["fixed<4,2>", "fixed<4,2>"]), "fixed<8,4>");
    assert!(
        e.contains("m.json")
            && e.contains("`q`")
            && e.contains("element_types")
            && e.contains("expected 6 types")
            && e.contains("or 3 (one per channel"),
        "{e}"
    );
    let e = err(
        json!(["fixed<4,2>", "fixed<6,2>", "fixed<4,2>"]),
        "fixed<6,3>",
    );
    assert!(
        e.contains("element_types[1]") && e.contains("cannot hold every value of fixed<6,2>"),
        "{e}"
    );
    let e = err(json!(["fixed<4,2>", 7, "fixed<4,2>"]), "fixed<6,3>");
    assert!(
        e.contains("element_types[1]") && e.contains("expected a type string"),
        "{e}"
    );
    let e = err(
        json!(["fixed<4,2>", "fixed<4,2,SAT>", "fixed<4,2>"]),
        "fixed<6,3>",
    );
    assert!(e.contains("element_types[1]") && e.contains("SAT"), "{e}");
    let e = err(json!("fixed<4,2>"), "fixed<6,3>");
    assert!(e.contains("expected a list of type strings"), "{e}");
    // An always-zero element fits any result.
    native::parse(
        &model(
            json!(["ufixed<1,0,TRN,SAT_NARROW>", "fixed<4,2>", "fixed<3,1>"]),
            "fixed<6,3>",
        ),
        "ok",
    )
    .unwrap();
}

// ---- Verilator ------------------------------------------------------------------------------

use crate::hw;
use hw::tools;

fn compile_and_verify(text: &str, name: &str, clock_ns: f64, random: usize) {
    hw::compile_and_verify("keras", text, name, clock_ns, random, 13);
}

/// Per-element quantizers with every rounding and overflow mode (and always-zero elements),
/// feeding a dense layer, compiled and run in Verilator against the simulator.
#[test]
fn per_element_quantize_is_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    let text = random_quantize_model(3);
    compile_and_verify(&text, "qe3", 1.5, 1000);
}

/// The exported models, compiled (at two clocks, so pipelining differs) and run in Verilator
/// against the simulator, and a second random per-element model. About three minutes on a
/// loaded two-core machine, so not in the default run:
/// `cargo test --release --test frontends keras:: -- --ignored`.
#[test]
#[ignore]
fn keras_fixtures_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    for (name, clock) in FIXTURES.into_iter().zip([3.0, 2.0, 2.5]) {
        let text = std::fs::read_to_string(fixture(name, "json")).unwrap();
        compile_and_verify(&text, name, clock, 3000);
    }
    let text = random_quantize_model(11);
    compile_and_verify(&text, "qe11", 1.5, 2000);
}

/// `rtl4ml optimize` keeps HGQ2's per-element quantizers per element: its output loads, has
/// the same per-element quantizers with the same element counts, and no element got wider
/// (lossless narrowing and the fine search may shrink an element, e.g. a provably
/// non-negative `fixed<7,5,RND>` becomes `ufixed<6,4,RND>`; they never widen one).
#[test]
fn optimize_keeps_per_element_types() {
    let out = hw::work("keras", "optimize").join("hgq_mlp.opt.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_rtl4ml"))
        .arg("optimize")
        .arg(fixture("hgq_mlp", "json"))
        .arg("--calib")
        .arg(fixture("hgq_mlp", "input.npy"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let g = frontend::load(&out).unwrap_or_else(|e| panic!("{e}"));
    let orig = load("hgq_mlp");
    let types = |g: &LayerGraph| -> Vec<(String, Vec<u32>)> {
        g.layers
            .iter()
            .filter_map(|l| match &l.kind {
                LayerKind::QuantizeEach { types } => {
                    Some((l.name.clone(), types.iter().map(|t| t.width).collect()))
                }
                _ => None,
            })
            .collect()
    };
    let (new, old) = (types(&g), types(&orig));
    // The original per-element quantizers are all still there, element by element; the
    // optimizer may add its own per-element quantizers elsewhere.
    for (name, widths) in &old {
        let (_, now) = new
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("per-element quantizer `{name}` lost: {new:?}"));
        assert_eq!(now.len(), widths.len(), "{name}");
        for (k, (a, b)) in now.iter().zip(widths).enumerate() {
            assert!(a <= b, "{name}[{k}]: {a} bits > the original {b}");
        }
    }
    assert!(!old.is_empty());
}
