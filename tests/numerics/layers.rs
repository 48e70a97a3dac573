//! Layer kinds beyond dense (convolution, pooling, merges, shape ops, clipping activations,
//! argmax, batch normalisation, lookup tables): the layer-level reference against values worked
//! out by hand, and the netlist simulator against the reference, bit for bit.

use crate::common;

use rtl4ml::error::Error;
use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::sim::{reference, Simulator};
use rtl4ml::verify::vectors;

fn check(g: &LayerGraph, n_random: usize, seed: u64) -> usize {
    let design = compile(g.clone(), &Options::default()).expect("compiles");
    let inputs = vectors::generate(&g.input_types(), n_random, seed);
    let sim = Simulator::new(&design.net);
    let out = sim.run(inputs.view());
    for (k, row) in inputs.rows().into_iter().enumerate() {
        let expect = reference::evaluate(g, row.as_slice().unwrap()).unwrap();
        assert_eq!(
            out.row(k).to_vec(),
            expect,
            "model {} vector {k}: input {:?}",
            g.name,
            row
        );
    }
    inputs.nrows()
}

#[test]
fn kitchen_sink_matches_the_reference() {
    let g = native::load("tests/fixtures/layers/kitchen_sink.json".as_ref()).unwrap();
    check(&g, 3000, 5);
}

#[test]
fn random_layer_networks_match_the_reference() {
    let n: u64 = std::env::var("RTL4ML_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let (mut compiled, mut rejected) = (0, 0);
    let mut kinds = std::collections::BTreeMap::new();
    for seed in 0..n {
        let model = common::random_layer_model(seed);
        for l in model["layers"].as_array().unwrap() {
            *kinds
                .entry(l["kind"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        let g = native::parse(&model.to_string(), &format!("random layer model {seed}"))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{model}"));
        match compile(g.clone(), &Options::default()) {
            Ok(_) => {
                check(&g, 200, seed);
                compiled += 1;
            }
            Err(e @ (Error::Unsupported { .. } | Error::Lower { .. })) => {
                let message = e.to_string();
                assert!(
                    message.contains("saturating accumulator"),
                    "seed {seed}: {message}"
                );
                rejected += 1;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    eprintln!("{compiled} compiled, {rejected} rejected; layers: {kinds:?}");
    assert!(
        compiled * 10 > n * 7,
        "only {compiled} of {n} random networks compiled ({rejected} rejected)"
    );
}

#[test]
#[ignore]
fn dump_random_layer_model() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    println!(
        "{}",
        serde_json::to_string_pretty(&common::random_layer_model(seed)).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// The reference against values worked out by hand (Keras/TensorFlow and hls4ml conventions)
// ---------------------------------------------------------------------------------------------

use serde_json::{json, Value};

/// Evaluates a one-input model on real inputs (cast to the input type) with the reference and
/// the simulator (which must agree); returns the output values.
fn run(shape: Value, in_ty: &str, layers: Value, x: &[f64]) -> Vec<f64> {
    let last = layers.as_array().unwrap().last().unwrap()["name"].clone();
    let m = json!({"format": "rtl4ml-model", "version": 1, "name": "t",
        "inputs": [{"name": "x", "shape": shape, "type": in_ty}], "layers": layers, "outputs": [last]});
    let g = native::parse(&m.to_string(), "inline").unwrap_or_else(|e| panic!("{e}"));
    let ity = g.inputs[0].ty;
    let xs: Vec<i64> = x.iter().map(|&v| ity.cast_f64(v).unwrap() as i64).collect();
    let y = reference::evaluate(&g, &xs).unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    let sim = Simulator::new(&d.net).run(
        ndarray::Array2::from_shape_vec((1, xs.len()), xs)
            .unwrap()
            .view(),
    );
    assert_eq!(sim.row(0).to_vec(), y, "simulator and reference");
    let oty = g.layers.last().unwrap().output.ty;
    y.iter().map(|&m| oty.to_f64(m as i128)).collect()
}

fn w(ty: &str, shape: Value, data: Value) -> Value {
    json!({"type": ty, "shape": shape, "data": data})
}

#[test]
fn conv1d_same_padding_and_stride() {
    // Keras: out = ceil(5/2) = 3, 2 zeros in total, 1 before. Kernel [1, 2, 3].
    let l = json!([{"name": "c", "kind": "conv1d", "weight": w("int<4>", json!([3, 1, 1]), json!([1, 2, 3])),
        "strides": 2, "padding": "same", "result": "int<12>"}]);
    let y = run(json!([5, 1]), "int<8>", l, &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(y, [2.0 + 6.0, 2.0 + 6.0 + 12.0, 4.0 + 10.0]);
    // valid: windows [1,2,3], [3,4,5]
    let l = json!([{"name": "c", "kind": "conv1d", "weight": w("int<4>", json!([3, 1, 1]), json!([1, 2, 3])),
        "strides": 2, "result": "int<12>"}]);
    assert_eq!(
        run(json!([5, 1]), "int<8>", l, &[1.0, 2.0, 3.0, 4.0, 5.0]),
        [14.0, 26.0]
    );
}

#[test]
fn conv2d_dilation_channels_and_bias() {
    // 4x4 input, 2 channels; 2x2 kernel dilated by 2 -> 2x2 output, 2 filters.
    let x: Vec<f64> = (0..32).map(|v| v as f64).collect(); // x[r, c, ch] = 8r + 2c + ch
                                                           // weight[ky, kx, ci, co]: filter 0 sums channel 0 of the four taps, filter 1 = channel 1 at tap (0,0) minus tap (1,1).
    let mut data = vec![0i64; 2 * 2 * 2 * 2];
    let idx = |ky: usize, kx: usize, ci: usize, co: usize| ((ky * 2 + kx) * 2 + ci) * 2 + co;
    for (ky, kx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        data[idx(ky, kx, 0, 0)] = 1;
    }
    data[idx(0, 0, 1, 1)] = 1;
    data[idx(1, 1, 1, 1)] = -1;
    let l = json!([{"name": "c", "kind": "conv2d", "weight": w("int<3>", json!([2, 2, 2, 2]), json!(data)),
        "dilation": 2, "bias": {"type": "int<4>", "data": [0, 5]}, "result": "int<12>"}]);
    let y = run(json!([4, 4, 2]), "uint<6>", l, &x);
    let at = |r: usize, c: usize, ch: usize| (8 * r + 2 * c + ch) as f64;
    let mut expect = Vec::new();
    for r in 0..2 {
        for c in 0..2 {
            expect.push(at(r, c, 0) + at(r, c + 2, 0) + at(r + 2, c, 0) + at(r + 2, c + 2, 0));
            expect.push(5.0 + at(r, c, 1) - at(r + 2, c + 2, 1));
        }
    }
    assert_eq!(y, expect);
}

#[test]
fn depthwise_conv_multiplier() {
    // [3, 2] input, kernel 2, multiplier 2: output channel c*2+m uses input channel c.
    let l = json!([{"name": "c", "kind": "depthwise_conv1d",
        "weight": w("int<4>", json!([2, 2, 2]), json!([1, 2, 3, 4, 5, 6, 7, -8])), "result": "int<12>"}]);
    // weight[k, c, m] = data[(k*2 + c)*2 + m]
    let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
    let y = run(json!([3, 2]), "int<8>", l, &x);
    let f = |p: usize, c: usize, m: usize| -> f64 {
        let d = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.0];
        (0..2)
            .map(|k| x[(p + k) * 2 + c] * d[(k * 2 + c) * 2 + m])
            .sum()
    };
    assert_eq!(
        y,
        [
            f(0, 0, 0),
            f(0, 0, 1),
            f(0, 1, 0),
            f(0, 1, 1),
            f(1, 0, 0),
            f(1, 0, 1),
            f(1, 1, 0),
            f(1, 1, 1)
        ]
    );
}

#[test]
fn pooling() {
    // Max pool 2, stride 2, same: [3] -> windows {0,1}, {2} (the padding is ignored).
    let l = json!([{"name": "p", "kind": "max_pool1d", "pool_size": 2, "padding": "same", "result": "fixed<8,4>"}]);
    assert_eq!(
        run(json!([3, 1]), "fixed<8,4>", l, &[-1.0, -3.0, -2.5]),
        [-1.0, -2.5]
    );
    // Average of 2 x 2 with RND: (1 + 2 + 2 + 2)/4 = 1.75 -> 2 at integer precision.
    let l = json!([{"name": "p", "kind": "avg_pool2d", "pool_size": [2, 2], "result": "fixed<6,6,RND>"}]);
    assert_eq!(
        run(json!([2, 2, 1]), "int<6>", l, &[1.0, 2.0, 2.0, 2.0]),
        [2.0]
    );
    // Global pools over [N, C].
    let x = [1.0, -4.0, 3.0, 5.0, -2.0, 0.5, 0.25, 1.0];
    let l = json!([{"name": "p", "kind": "global_max_pool", "result": "fixed<10,5>"}]);
    assert_eq!(run(json!([4, 2]), "fixed<8,4>", l, &x), [3.0, 5.0]);
    let l = json!([{"name": "p", "kind": "global_sum_pool", "result": "fixed<10,5>"}]);
    assert_eq!(run(json!([4, 2]), "fixed<8,4>", l, &x), [2.25, 2.5]);
    let l = json!([{"name": "p", "kind": "global_avg_pool", "result": "fixed<10,5>"}]);
    assert_eq!(run(json!([4, 2]), "fixed<8,4>", l, &x), [0.5625, 0.625]);
}

#[test]
fn shape_ops_and_merges() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let l = json!([{"name": "t", "kind": "transpose", "perm": [1, 0]}]);
    assert_eq!(
        run(json!([2, 3]), "int<8>", l, &x),
        [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
    let l = json!([{"name": "r", "kind": "reshape", "shape": [2, 3]},
        {"name": "c", "kind": "concatenate", "inputs": ["r", "x"], "axis": -1}]);
    assert_eq!(
        run(json!([2, 3]), "int<8>", l, &x),
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]
    );
    let l = json!([{"name": "q", "kind": "quantize", "result": "fixed<8,2>"},
        {"name": "m", "kind": "multiply", "inputs": ["x", "q"], "result": "fixed<12,6>"}]);
    assert_eq!(
        run(json!([2]), "fixed<8,4>", l, &[1.5, -0.75]),
        [1.5 * 1.5, 0.75 * 0.75]
    );
    let l = json!([{"name": "q", "kind": "quantize", "result": "fixed<8,2,RND,SAT>"},
        {"name": "s", "kind": "subtract", "inputs": ["x", "q"], "result": "fixed<12,6>"}]);
    assert_eq!(
        run(json!([2]), "fixed<8,4>", l, &[3.5, -0.75]),
        [3.5 - 1.984375, 0.0]
    );
}

#[test]
fn slice_keeps_every_step_th_element() {
    // [3, 4]: rows 0..3, columns 1, 3.
    let x: Vec<f64> = (0..12).map(f64::from).collect();
    let l = json!([{"name": "s", "kind": "slice", "begin": [0, 1], "end": [3, 4], "step": [1, 2]}]);
    assert_eq!(
        run(json!([3, 4]), "int<8>", l, &x),
        [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]
    );
    // Defaults: begin 0, end the shape, step 1; here rows 1 and 2 only.
    let l = json!([{"name": "s", "kind": "slice", "begin": [1, 0]}]);
    assert_eq!(run(json!([3, 4]), "int<8>", l, &x), x[4..].to_vec());
    // Three axes, steps that do not divide the extent.
    let x: Vec<f64> = (0..60).map(f64::from).collect();
    let l = json!([{"name": "s", "kind": "slice", "begin": [1, 0, 2], "end": [3, 5, 4], "step": [1, 3, 1]}]);
    let want: Vec<f64> = [1usize, 2]
        .iter()
        .flat_map(|&i| [0usize, 3].map(move |j| (i, j)))
        .flat_map(|(i, j)| [2usize, 3].map(move |k| ((i * 5 + j) * 4 + k) as f64))
        .collect();
    assert_eq!(run(json!([3, 5, 4]), "int<8>", l, &x), want);
}

/// Average pooling with a declared reciprocal: `y = R(Σ · recip(n))`, `recip(n) =
/// ⌊2^F/n + 1/2⌋·2^−F`, with `n` the window's elements inside the input (`same` padding).
#[test]
fn average_pooling_with_a_reciprocal() {
    // 3 x 3 window over a 3 x 3 input: recip(9) in ufixed<10,1> (F = 9) = ⌊512/9 + 1/2⌋ = 57.
    let x: Vec<f64> = (1..=9).map(f64::from).collect(); // Σ = 45
    let l = json!([{"name": "p", "kind": "avg_pool2d", "pool_size": 3, "reciprocal": "ufixed<10,1>",
        "result": "fixed<16,8,TRN>"}]);
    let y = run(json!([3, 3, 1]), "int<8>", l, &x);
    assert_eq!(y, [(45.0 * 57.0 / 512.0 * 256.0f64).floor() / 256.0]);
    // `same` padding, 1-D, window 3, stride 1 over [1, 2, 4, 8]: the border windows have 2
    // valid elements (recip(2) = 0.5 exactly), the inner ones 3 (recip(3) = ⌊512/3 + 1/2⌋ = 171).
    let l = json!([{"name": "p", "kind": "avg_pool1d", "pool_size": 3, "strides": 1, "padding": "same",
        "reciprocal": "ufixed<10,1>", "result": "fixed<20,8,TRN>"}]);
    let y = run(json!([4, 1]), "int<8>", l, &[1.0, 2.0, 4.0, 8.0]);
    let t = |v: f64| (v * 4096.0).floor() / 4096.0;
    assert_eq!(
        y,
        [1.5, t(7.0 * 171.0 / 512.0), t(14.0 * 171.0 / 512.0), 6.0]
    );
    // Global average over 6 positions, rounded result.
    let l = json!([{"name": "p", "kind": "global_avg_pool", "reciprocal": "ufixed<12,1>",
        "result": "fixed<12,6,RND>"}]);
    let y = run(json!([6, 1]), "int<8>", l, &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0]);
    // recip(6) = ⌊2048/6 + 1/2⌋ = 341; 22 · 341 / 2048 = 3.6630…, RND to 1/64: 234/64.
    assert_eq!(y, [234.0 / 64.0]);
}

fn avg_recip_model() -> String {
    json!({"format": "rtl4ml-model", "version": 1, "name": "avg_recip",
        "inputs": [{"name": "x", "shape": [5, 6, 2], "type": "fixed<7,3,RND,SAT>"}],
        "layers": [
            {"name": "a", "kind": "avg_pool2d", "input": "x", "pool_size": [3, 3], "strides": [2, 1],
             "padding": "same", "reciprocal": "ufixed<12,1>", "result": "fixed<10,4,RND_CONV,SAT>"},
            {"name": "s", "kind": "slice", "input": "a", "begin": [0, 1, 0], "end": [3, 6, 2], "step": [1, 2, 1]},
            {"name": "g", "kind": "global_avg_pool", "input": "s", "reciprocal": "ufixed<10,0>",
             "result": "fixed<9,3,RND,WRAP>"},
            {"name": "r", "kind": "reshape", "input": "x", "shape": [30, 2]},
            {"name": "b", "kind": "avg_pool1d", "input": "r", "pool_size": 5, "strides": 1,
             "reciprocal": "ufixed<8,1>", "result": "fixed<8,3,TRN_ZERO,SAT>"}
        ],
        "outputs": ["g", "s", "b"]})
    .to_string()
}

#[test]
fn average_pooling_with_a_reciprocal_matches_the_reference() {
    let g = native::parse(&avg_recip_model(), "avg_recip").unwrap();
    check(&g, 3000, 11);
    // The native writer keeps the reciprocal.
    let text = rtl4ml::frontend::native_write::write(&g, None);
    assert!(text.contains("ufixed<12,1>"), "{text}");
    assert_eq!(native::parse(&text, "avg_recip").unwrap(), g);
}

/// The reciprocal pools and the slice in Verilator, against the simulator.
#[test]
fn average_pooling_with_a_reciprocal_in_verilator() {
    use rtl4ml::flow::{read_dir, write_dir};
    use rtl4ml::verify::{verify, VerifyOptions};
    if !crate::hw::tools() {
        return;
    }
    let text = avg_recip_model();
    let g = native::parse(&text, "avg_recip").unwrap();
    let design = compile(
        g,
        &Options {
            clock_ns: 2.0,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("layers_avg_recip");
    let _ = std::fs::remove_dir_all(&dir);
    write_dir(&design, &text, &dir).unwrap();
    let r = verify(
        &read_dir(&dir).unwrap(),
        &VerifyOptions {
            random: 2000,
            icarus: 30,
            seed: 3,
            lint: true,
        },
    )
    .unwrap();
    assert_eq!(r.verilator.mismatch_count, 0);
    assert!(r.verilator.timing_errors.is_empty());
    eprintln!("avg_recip: {}", r.verilator.summary());
}

#[test]
fn bad_reciprocals_are_rejected() {
    fails(
        json!([3, 3, 1]),
        json!([{"name": "p", "kind": "avg_pool2d", "pool_size": 3, "result": "fixed<8,4>"}]),
        &[
            "layer `p`",
            "field `pool_size`",
            "9 elements",
            "`reciprocal`",
        ],
    );
    fails(
        json!([4, 1]),
        json!([{"name": "p", "kind": "avg_pool1d", "pool_size": 2, "padding": "same", "result": "fixed<8,4>"}]),
        &["layer `p`", "field `padding`", "`reciprocal`"],
    );
    fails(
        json!([3, 3, 1]),
        json!([{"name": "p", "kind": "avg_pool2d", "pool_size": 3, "reciprocal": "ufixed<2,0>", "result": "fixed<8,4>"}]),
        &["layer `p`", "field `reciprocal`", "1/9", "cannot hold"],
    );
    // With `same` padding a border window may hold a single element: recip(1) = 1.
    fails(
        json!([5, 1]),
        json!([{"name": "p", "kind": "avg_pool1d", "pool_size": 3, "padding": "same", "reciprocal": "ufixed<8,0>", "result": "fixed<8,4>"}]),
        &["layer `p`", "field `reciprocal`", "1/1", "cannot hold"],
    );
    fails(
        json!([3, 3, 1]),
        json!([{"name": "p", "kind": "max_pool2d", "pool_size": 3, "reciprocal": "ufixed<8,1>", "result": "fixed<8,4>"}]),
        &["layer `p`", "field `reciprocal`", "only average pooling"],
    );
}

/// `einsum_dense` in the dense-on-the-last-axis forms is exactly a `dense` layer.
#[test]
fn einsum_dense_is_a_dense_on_the_last_axis() {
    let x: Vec<f64> = (0..6).map(|v| f64::from(v) - 2.0).collect();
    let weight = w("fixed<4,2>", json!([3, 2]), json!([1, -2, 3, 0, -4, 5]));
    let dense = json!([{"name": "d", "kind": "dense", "weight": weight, "result": "fixed<12,8>"}]);
    for eq in [
        "btf,fo->bto",
        "tf,fo->to",
        "...f , fo -> ...o",
        "xyf,fz->xyz",
    ] {
        let ein = json!([{"name": "d", "kind": "einsum_dense", "equation": eq, "weight": weight,
            "result": "fixed<12,8>"}]);
        assert_eq!(
            run(json!([2, 3]), "int<4>", ein, &x),
            run(json!([2, 3]), "int<4>", dense.clone(), &x),
            "{eq}"
        );
    }
    // [t0 = (-2, -1, 0), t1 = (1, 2, 3)] · W, W = [[0.25, -0.5], [0.75, 0], [-1, 1.25]].
    let y = run(json!([2, 3]), "int<4>", dense, &x);
    assert_eq!(y, [-1.25, 1.0, -1.25, 3.25]);
}

#[test]
fn bad_einsum_equations_are_rejected() {
    let weight = w("fixed<4,2>", json!([3, 2]), json!([1, -2, 3, 0, -4, 5]));
    for (eq, why) in [
        ("bft,fo->bot", "last axis"),
        ("btf,of->bto", "[f, o] kernel"),
        ("btf,fo->tbo", "other axes in order"),
        ("btf,fo", "input,kernel->output"),
        ("abtf,fo->abto", "names 4 input axes"),
    ] {
        fails(
            json!([2, 3]),
            json!([{"name": "e", "kind": "einsum_dense", "equation": eq, "weight": weight, "result": "fixed<12,8>"}]),
            &["layer `e`", "field `equation`", why],
        );
    }
}

#[test]
fn bad_slices_are_rejected() {
    fails(
        json!([3, 4]),
        json!([{"name": "s", "kind": "slice", "begin": [0, 3], "end": [3, 2]}]),
        &["layer `s`", "field `end`", "axis 1", "0 ≤ begin < end ≤ 4"],
    );
    fails(
        json!([3, 4]),
        json!([{"name": "s", "kind": "slice", "step": [1, 0]}]),
        &["layer `s`", "field `step`", "at least 1"],
    );
    fails(
        json!([3, 4]),
        json!([{"name": "s", "kind": "slice", "begin": [0]}]),
        &[
            "layer `s`",
            "field `begin`",
            "expected 2 non-negative integers",
        ],
    );
    fails(
        json!([3, 4]),
        json!([{"name": "s", "kind": "slice", "result": "int<8>"}]),
        &["layer `s`", "result"],
    );
}

#[test]
fn clipping_activations() {
    let l = json!([{"name": "r", "kind": "relu", "cap": {"type": "uint<3>", "value": 6}, "result": "ufixed<8,4>"}]);
    assert_eq!(
        run(json!([4]), "fixed<10,5>", l, &[7.0, -1.0, 3.5, 6.0]),
        [6.0, 0.0, 3.5, 6.0]
    );
    let l = json!([{"name": "r", "kind": "leaky_relu", "alpha": {"type": "ufixed<4,0>", "value": 4}, "result": "fixed<8,4>"}]);
    assert_eq!(
        run(json!([3]), "fixed<10,5>", l, &[-2.0, 3.0, -0.125]),
        [-0.5, 3.0, -0.0625]
    ); // -1/32 floors to -1/16
       // hard_sigmoid with slope 1/4, shift 1/2.
    let hs = |kind: &str| {
        json!([{"name": "h", "kind": kind, "slope": {"type": "ufixed<2,0>", "value": 1},
        "shift": {"type": "ufixed<1,0>", "value": 1}, "result": "fixed<8,2>"}])
    };
    assert_eq!(
        run(
            json!([4]),
            "fixed<10,5>",
            hs("hard_sigmoid"),
            &[1.0, 3.0, -3.0, 0.0]
        ),
        [0.75, 1.0, 0.0, 0.5]
    );
    assert_eq!(
        run(
            json!([4]),
            "fixed<10,5>",
            hs("hard_tanh"),
            &[1.0, 3.0, -3.0, 0.0]
        ),
        [0.5, 1.0, -1.0, 0.0]
    );
}

#[test]
fn argmax_batchnorm() {
    let l = json!([{"name": "a", "kind": "argmax"}]);
    assert_eq!(
        run(json!([5]), "fixed<8,4>", l, &[1.0, 3.0, -2.0, 3.0, 0.0]),
        [1.0]
    ); // first maximum
    let l = json!([{"name": "a", "kind": "argmax", "result": "uint<4>"}]);
    assert_eq!(
        run(
            json!([2, 3]),
            "fixed<8,4>",
            l,
            &[0.0, 0.0, 0.0, -1.0, -2.0, 5.0]
        ),
        [0.0, 2.0]
    );
    let l = json!([{"name": "b", "kind": "batchnorm", "scale": {"type": "fixed<6,2>", "data": [16, -8]},
        "bias": {"type": "fixed<4,2>", "data": [1, -2]}, "result": "fixed<10,5>"}]);
    // x*1 + 0.25, x*-0.5 - 0.5
    assert_eq!(
        run(json!([2, 2]), "fixed<8,4>", l, &[1.0, 2.0, -3.0, -1.0]),
        [1.25, -1.5, -2.75, 0.0]
    );
}

#[test]
fn lookup_tables_follow_hls4ml_indexing() {
    // sigmoid, 1024 entries over [-8, 8): index = trunc0(x * 64) + 512, clamped.
    let l = json!([{"name": "s", "kind": "sigmoid", "table": {"type": "fixed<18,8,TRN>", "size": 1024}, "result": "fixed<18,8>"}]);
    let y = run(json!([5]), "fixed<16,6>", l, &[0.0, -0.01, 7.99, 9.0, -9.0]);
    let q = |v: f64| (v * 1024.0).floor() / 1024.0; // table type: 10 fractional bits, TRN
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    assert_eq!(
        y,
        [
            q(0.5),
            q(0.5),
            q(s(511.0 / 64.0)),
            q(s(511.0 / 64.0)),
            q(s(-8.0))
        ]
    );
    // tanh over [-4, 4) with 256 entries: index = trunc0(x * 32) + 128.
    let l = json!([{"name": "t", "kind": "tanh", "table": {"type": "fixed<12,2,RND>", "size": 256}, "result": "fixed<12,2>"}]);
    let y = run(json!([2]), "fixed<16,6>", l, &[1.0, -0.5]);
    let r = |v: f64| (v * 1024.0).round() / 1024.0;
    assert_eq!(y, [r(1f64.tanh()), r((-0.5f64).tanh())]);
    // exp: the top 4 bits of a fixed<8,3> mantissa (steps of 1/32) select the entry.
    let l = json!([{"name": "e", "kind": "exp", "table": {"type": "ufixed<12,6,RND>", "size": 16}, "result": "ufixed<12,6>"}]);
    let y = run(json!([2]), "fixed<8,3>", l, &[1.3, -0.1]);
    // 1.3 -> mantissa 41 (TRN) -> top bits 0b0010 = 2 -> sample 2*16/32 = 1.0; -0.1 -> -4 -> 0xfc -> 15 -> -0.5.
    let r = |v: f64| (v * 64.0).round() / 64.0;
    assert_eq!(y, [r(1f64.exp()), r((-0.5f64).exp())]);
}

#[test]
fn softmax_follows_hls4ml_latency() {
    // Two equal inputs: e = exp(0) = 1 each, sum 2, inverse 1/2 -> 0.5 each.
    let l = json!([{"name": "s", "kind": "softmax", "exp_table": {"type": "ufixed<8,4,RND,SAT>", "size": 64},
        "inv_table": {"type": "ufixed<8,1,RND,SAT>", "size": 64}, "result": "ufixed<8,0>"}]);
    assert_eq!(
        run(json!([2]), "fixed<8,3>", l.clone(), &[0.0, 0.0]),
        [0.5, 0.5]
    );
    // [1, 0, 0]: e = [exp(1), 1, 1] on a 1/16 grid = [2.6875, 1, 1]; sum 4.6875 -> index = top
    // 6 bits of the 8-bit code 75 = 18 -> sample 18*4/16 = 4.5 -> 1/4.5 on a 1/128 grid = 28/128.
    let y = run(json!([3]), "fixed<8,3>", l, &[1.0, 0.0, 0.0]);
    let p = |e: f64| ((e * 28.0 / 128.0) * 256.0).floor() / 256.0;
    assert_eq!(y, [p(2.6875), p(1.0), p(1.0)]);
}

// ---------------------------------------------------------------------------------------------
// Loader errors: file, layer and field named, and what was expected
// ---------------------------------------------------------------------------------------------

fn fails(shape: Value, layers: Value, parts: &[&str]) {
    let last = layers.as_array().unwrap().last().unwrap()["name"].clone();
    let m = json!({"format": "rtl4ml-model", "version": 1, "name": "t",
        "inputs": [{"name": "x", "shape": shape, "type": "fixed<8,3>"}], "layers": layers, "outputs": [last]});
    let e = match native::parse(&m.to_string(), "m.json") {
        Ok(g) => match compile(g, &Options::default()) {
            Ok(_) => panic!("expected an error mentioning {parts:?}"),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    for p in parts {
        assert!(e.contains(p), "error `{e}` should mention `{p}`");
    }
}

#[test]
fn bad_convolutions_are_rejected() {
    let conv = |kind: &str, wshape: Value, n: usize| json!({"name": "c", "kind": kind, "weight": {"type": "int<4>", "shape": wshape, "data": vec![1; n]}, "result": "int<12>"});
    fails(
        json!([8, 2]),
        json!([conv("conv2d", json!([3, 3, 2, 1]), 18)]),
        &[
            "m.json",
            "layer `c`",
            "`input`",
            "[height, width, channels]",
            "[8, 2]",
        ],
    );
    fails(
        json!([8, 2]),
        json!([conv("conv1d", json!([3, 3, 1]), 9)]),
        &[
            "layer `c`",
            "`weight.shape`",
            "[k, 2, filters]",
            "[3, 3, 1]",
        ],
    );
    fails(
        json!([8, 2]),
        json!([conv("conv1d", json!([3, 2, 1]), 5)]),
        &["layer `c`", "`weight.data`", "expected 6 values"],
    );
    fails(
        json!([2, 2]),
        json!([conv("conv1d", json!([3, 2, 1]), 6)]),
        &["`weight.shape`", "spans 3", "only 2"],
    );
    let mut l = conv("conv1d", json!([3, 2, 1]), 6);
    l["strides"] = json!([1, 1]);
    fails(
        json!([8, 2]),
        json!([l]),
        &["`strides`", "a positive integer (or a list of one)"],
    );
    let mut l = conv("conv1d", json!([3, 2, 1]), 6);
    l["padding"] = json!("full");
    fails(
        json!([8, 2]),
        json!([l]),
        &["`padding`", "\"valid\" or \"same\""],
    );
    let mut l = conv("conv1d", json!([3, 2, 1]), 6);
    l["dilation"] = json!(0);
    fails(json!([8, 2]), json!([l]), &["`dilation`"]);
    let mut l = conv("depthwise_conv1d", json!([3, 2, 2]), 12);
    l["bias"] = json!({"type": "int<4>", "data": [1, 2]});
    fails(
        json!([8, 2]),
        json!([l]),
        &["`bias.data`", "expected 4 values"],
    );
}

#[test]
fn bad_pooling_is_rejected() {
    fails(
        json!([8, 2]),
        json!([{"name": "p", "kind": "avg_pool1d", "pool_size": 3, "result": "int<8>"}]),
        &["layer `p`", "`pool_size`", "3 elements", "power-of-two"],
    );
    fails(
        json!([8, 2]),
        json!([{"name": "p", "kind": "avg_pool1d", "pool_size": 2, "padding": "same", "result": "int<8>"}]),
        &["layer `p`", "`padding`", "\"valid\""],
    );
    fails(
        json!([6, 2]),
        json!([{"name": "p", "kind": "global_avg_pool", "result": "int<8>"}]),
        &["layer `p`", "6 positions", "global_sum_pool"],
    );
    fails(
        json!([6]),
        json!([{"name": "p", "kind": "global_max_pool", "result": "int<8>"}]),
        &[
            "layer `p`",
            "`input`",
            "at least one axis before the channels",
        ],
    );
    fails(
        json!([6, 2]),
        json!([{"name": "p", "kind": "max_pool1d", "result": "int<8>"}]),
        &["layer `p`", "missing field `pool_size`"],
    );
    fails(
        json!([6, 2]),
        json!([{"name": "p", "kind": "max_pool2d", "pool_size": 2, "result": "int<8>"}]),
        &["layer `p`", "[height, width, channels]"],
    );
}

#[test]
fn bad_merges_and_shapes_are_rejected() {
    let q = json!({"name": "q", "kind": "quantize", "result": "fixed<6,2>"});
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "add", "inputs": ["q"], "result": "int<8>"}]),
        &["layer `a`", "`inputs`", "at least 2"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "subtract", "inputs": ["q", "x", "q"], "result": "int<8>"}]),
        &["layer `a`", "`inputs`", "exactly 2"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "add", "inputs": ["q", "nope"], "result": "int<8>"}]),
        &["layer `a`", "`inputs[1]`", "`nope`"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "add", "result": "int<8>"}]),
        &["layer `a`", "missing field `inputs`"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "add", "input": "q", "inputs": ["q", "x"], "result": "int<8>"}]),
        &["layer `a`", "not both"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "a", "kind": "relu", "inputs": ["q", "x"], "result": "int<8>"}]),
        &["layer `a`", "`inputs`", "reads one `input`"],
    );
    let r = json!({"name": "r", "kind": "reshape", "shape": [2, 2]});
    fails(
        json!([4]),
        json!([r, {"name": "a", "kind": "multiply", "inputs": ["x", "r"], "result": "int<8>"}]),
        &["layer `a`", "`inputs[1]`", "equal shapes"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "c", "kind": "concatenate", "inputs": ["x", "q"]}]),
        &["layer `c`", "missing field `result`", "different types"],
    );
    fails(
        json!([4]),
        json!([q, {"name": "c", "kind": "concatenate", "inputs": ["x", "q"], "axis": 1, "result": "int<8>"}]),
        &["layer `c`", "`axis`", "-1..1"],
    );
    fails(
        json!([4]),
        json!([{"name": "r", "kind": "reshape", "shape": [3, 2]}]),
        &["layer `r`", "`shape`", "6 elements", "has 4"],
    );
    fails(
        json!([2, 2]),
        json!([{"name": "t", "kind": "transpose", "perm": [0, 0]}]),
        &["layer `t`", "`perm`", "permutation of 0..2"],
    );
}

#[test]
fn bad_activations_are_rejected() {
    fails(
        json!([4]),
        json!([{"name": "r", "kind": "relu", "cap": {"type": "int<4>", "value": -2}, "result": "int<8>"}]),
        &["layer `r`", "`cap.value`", "positive"],
    );
    fails(
        json!([4]),
        json!([{"name": "r", "kind": "relu", "cap": {"type": "int<4>", "value": 9}, "result": "int<8>"}]),
        &["layer `r`", "`cap.value`", "does not fit"],
    );
    fails(
        json!([4]),
        json!([{"name": "r", "kind": "leaky_relu", "result": "int<8>"}]),
        &["layer `r`", "missing field `alpha`"],
    );
    fails(
        json!([4]),
        json!([{"name": "h", "kind": "hard_tanh", "slope": {"type": "int<4>", "value": 1}, "result": "int<8>"}]),
        &["layer `h`", "missing field `shift`"],
    );
    fails(
        json!([2, 3]),
        json!([{"name": "b", "kind": "batchnorm", "scale": {"type": "int<4>", "data": [1, 2]}, "result": "int<8>"}]),
        &["layer `b`", "`scale.data`", "expected 3 values"],
    );
    fails(
        json!([4]),
        json!([{"name": "s", "kind": "sigmoid", "table": {"type": "ufixed<8,0>", "size": 1000}, "result": "int<8>"}]),
        &["layer `s`", "`table.size`", "power of two"],
    );
    fails(
        json!([4]),
        json!([{"name": "s", "kind": "tanh", "table": {"type": "ufixed<8,0>", "size": 8, "data": [1, 2]}, "result": "int<8>"}]),
        &["layer `s`", "`table.data`", "expected 8 values"],
    );
    fails(
        json!([4]),
        json!([{"name": "s", "kind": "sigmoid", "input_range": 12, "table": {"type": "ufixed<8,0>", "size": 8}, "result": "int<8>"}]),
        &["layer `s`", "`input_range`", "power of two"],
    );
    fails(
        json!([4]),
        json!([{"name": "e", "kind": "exp", "table": {"type": "ufixed<8,0>", "size": 512}, "result": "int<8>"}]),
        &["layer `e`", "`table.size`", "9 index bits", "fixed<8,3>"],
    );
    fails(
        json!([4]),
        json!([{"name": "s", "kind": "softmax", "exp_table": {"type": "ufixed<6,3>", "size": 64},
        "inv_table": {"type": "ufixed<8,3>", "size": 128}, "result": "int<8>"}]),
        &[
            "layer `s`",
            "`inv_table.size`",
            "7 index bits",
            "ufixed<6,3>",
        ],
    );
}

#[test]
fn example_models_match_the_reference() {
    for m in ["axol1tl", "cicada", "econt", "deepsets"] {
        let g = native::load(format!("models/{m}.json").as_ref()).unwrap();
        check(&g, 1500, 13);
    }
}

#[test]
fn layer_graphs_round_trip_through_the_native_writer() {
    // The writer (used by `optimize`) must spell every layer kind so that the loader reads back
    // the same graph.
    let mut graphs =
        vec![native::load("tests/fixtures/layers/kitchen_sink.json".as_ref()).unwrap()];
    for m in ["axol1tl", "cicada", "econt", "deepsets"] {
        graphs.push(native::load(format!("models/{m}.json").as_ref()).unwrap());
    }
    for seed in 0..200 {
        graphs
            .push(native::parse(&common::random_layer_model(seed).to_string(), "random").unwrap());
    }
    for g in graphs {
        let text = rtl4ml::frontend::native_write::write(&g, None);
        let back =
            native::parse(&text, "written").unwrap_or_else(|e| panic!("{}: {e}\n{text}", g.name));
        assert_eq!(back, g, "{}", g.name);
    }
}
