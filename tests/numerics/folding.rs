//! A dense sum's range is the bound of its linear form (each input's coefficient times its
//! range), not the looser interval of the adder tree that computes it; with that bound a
//! following RND activation can take its rounding half from the sum. Reference, simulator and
//! Verilator bit for bit, including the codes at both ends of the range.

use crate::hw;

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::ir::fixed::Round;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::ir::netlist::{Netlist, Op};
use rtl4ml::sim::{reference, Simulator};
use serde_json::json;

/// One input `x: fixed<8,4>`, a dense layer with one weight per output, its result cast
/// `fixed<10,4>` (TRN, WRAP) and a `relu` to `ufixed<4,2,RND,SAT>`.
fn model(weights: &[i64], w_ty: &str, bias: &[i64], b_ty: &str) -> String {
    json!({"format": "rtl4ml-model", "version": 1, "name": "fold",
        "inputs": [{"name": "x", "shape": [1], "type": "fixed<8,4>"}],
        "layers": [
            {"name": "fc", "kind": "dense", "input": "x",
             "weight": {"type": w_ty, "shape": [1, weights.len()], "data": weights},
             "bias": {"type": b_ty, "data": bias}, "result": "fixed<10,4>"},
            {"name": "act", "kind": "relu", "input": "fc", "result": "ufixed<4,2,RND,SAT>"}],
        "outputs": ["act"]})
    .to_string()
}

/// Every input code through the simulator and the reference.
fn exhaustive(g: &LayerGraph, net: &Netlist) {
    let codes: Vec<i64> = (-128..128).collect();
    let inputs = ndarray::Array2::from_shape_vec((codes.len(), 1), codes.clone()).unwrap();
    let out = Simulator::new(net).run(inputs.view());
    for (k, &x) in codes.iter().enumerate() {
        let expect = reference::evaluate(g, &[x]).unwrap();
        assert_eq!(out.row(k).to_vec(), expect, "x = {x}");
    }
}

/// The rounding modes of the activation's casts (the casts that drop bits).
fn activation_rounding(net: &Netlist) -> Vec<Round> {
    let act = net.layers.iter().position(|l| l == "act").unwrap() as u32;
    net.nodes
        .iter()
        .filter(|n| n.layer == act)
        .filter_map(|n| match &n.op {
            Op::Cast { a, to } if net.cast_plan(a, to).shift < 0 => Some(to.round),
            _ => None,
        })
        .collect()
}

#[test]
fn the_linear_bound_lets_the_activation_rounding_fold() {
    // 7/8 = 1 − 1/8: the tree x − x/8 spans [−8.99, 8.94], beyond fixed<10,4>'s [−8, 8); the
    // value 7x/8 + b spans [−7 ± 1/8, 6.95 ± 1/8], which stays inside even with the
    // activation's half (1/8) added.
    let text = model(&[7, -7], "fixed<4,1>", &[1, -1], "fixed<4,1>");
    let g = native::parse(&text, "fold").unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    let rounding = activation_rounding(&d.net);
    assert_eq!(rounding.len(), 2);
    assert!(
        rounding.iter().all(|&r| r == Round::Trn),
        "the halves were not folded: {rounding:?}"
    );
    // The sums' ranges are exactly the extremes of w·x + b + half over every input code (the
    // mantissas at the sums' own fracs: x − 8x of the second output stays at x's frac 4).
    let fc = d.net.layers.iter().position(|l| l == "fc").unwrap() as u32;
    let mut sums: Vec<_> = d
        .net
        .nodes
        .iter()
        .filter(|n| n.layer == fc && matches!(n.op, Op::Add { .. } | Op::Neg { .. }))
        .map(|n| (n.range.lo, n.range.hi))
        .collect();
    for (w, b) in [(7i128, 1i128), (-7, -1)] {
        // At frac 7: x (frac 4) · w (frac 3), bias (frac 3) · 16, half (frac 3) · 16; the
        // constants cancel in the second output, which is the same mantissa at frac 4.
        let vals = (-128i128..128).map(|x| x * w + b * 16 + 16);
        let (lo, hi) = (vals.clone().min().unwrap(), vals.max().unwrap());
        assert!(
            sums.contains(&(lo, hi)),
            "no sum with range [{lo}, {hi}] in {sums:?}"
        );
        sums.retain(|&r| r != (lo, hi));
    }
    exhaustive(&g, &d.net);
}

#[test]
fn a_half_that_could_overflow_the_result_is_not_folded() {
    // 7x/8 + 1 reaches 7.945; with the half, 8.07 no longer fits fixed<10,4>: the activation
    // keeps its own rounding, and the top codes saturate.
    let text = model(&[7], "fixed<4,1>", &[16], "fixed<6,2>");
    let g = native::parse(&text, "nofold").unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    assert_eq!(activation_rounding(&d.net), vec![Round::Rnd]);
    exhaustive(&g, &d.net);
}

#[test]
fn a_folded_half_is_bit_exact_in_verilator() {
    // (The refused case is the ordinary path every Verilator suite covers; random networks
    // with tightened sums run in tests/hardware/verilator.rs.)
    if !hw::tools() {
        return;
    }
    let text = model(&[7, -7], "fixed<4,1>", &[1, -1], "fixed<4,1>");
    // A fast clock puts registers between the sum, the ReLU and the cast.
    hw::compile_and_verify("folding", &text, "fold", 1.2, 300, 5);
}

/// A saturating cast of a signed value to an unsigned type clamps the negative values to 0,
/// so the compiler builds it as a ReLU and the cast (one gate per bit merged into the
/// saturation, instead of a second overflow comparison). Every rounding mode that can round a
/// negative value up to 0 and every saturating overflow mode: the reference, the simulator and
/// Verilator agree on every input code; a WRAP cast keeps its plain form.
#[test]
fn unsigned_saturating_casts_are_a_relu_and_a_cast() {
    let types = [
        "ufixed<4,2,TRN,SAT>",
        "ufixed<4,2,RND,SAT>",
        "ufixed<3,1,RND_CONV,SAT_ZERO>",
        "ufixed<5,2,RND_INF,SAT_SYM>",
        "ufixed<4,3,RND_ZERO,SAT_NARROW>",
        "ufixed<6,2,TRN_ZERO,SAT>",
        "ufixed<4,2,RND_MIN_INF,SAT>",
        "ufixed<4,2,TRN,WRAP>",
    ];
    let text = json!({"format": "rtl4ml-model", "version": 1, "name": "clamp",
        "inputs": [{"name": "x", "shape": [types.len()], "type": "fixed<8,3>"}],
        "layers": [
            {"name": "each", "kind": "quantize", "input": "x", "element_types": types,
             "result": "fixed<9,4>"},
            {"name": "all", "kind": "quantize", "input": "x", "result": "ufixed<3,1,RND,SAT>"}],
        "outputs": ["each", "all"]})
    .to_string();
    let g = native::parse(&text, "clamp").unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    // One ReLU per input element: the 7 saturating element casts and the 8 of `all` share them
    // (the same node, built once); the WRAP element reads its input directly.
    let relu_inputs: std::collections::BTreeSet<u32> = d
        .net
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::Relu { a } => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(
        relu_inputs.len(),
        types.len(),
        "a ReLU on every input element"
    );
    let n = types.len();
    let codes: Vec<i64> = (-128..128).collect();
    let inputs = ndarray::Array2::from_shape_fn((codes.len(), n), |(r, _)| codes[r]);
    let out = Simulator::new(&d.net).run(inputs.view());
    for (k, &x) in codes.iter().enumerate() {
        let expect = reference::evaluate(&g, &vec![x; n]).unwrap();
        assert_eq!(out.row(k).to_vec(), expect, "x = {x}");
    }
    if hw::tools() {
        hw::compile_and_verify("folding", &text, "clamp", 4.0, 300, 11);
    }
}
