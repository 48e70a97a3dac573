//! Casts that move the binary point by hundreds of bits (issue #14, class 5): every type is
//! legal, so the compiler computes them exactly (a constant or a saturation) or refuses with a
//! message; it never panics. Compile, simulator, layer-level reference and (with Verilator)
//! the hardware agree with `FixedType::cast`.

use crate::hw;

use ndarray::Array2;
use proptest::prelude::*;
use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::ir::fixed::{FixedType, Overflow, Round};
use rtl4ml::sim::{reference, Simulator};

/// A model: input `x` of type `src` with `n` elements, each output a `quantize` of `x` to one
/// of `targets`.
fn quantize_model(src: &FixedType, n: usize, targets: &[FixedType]) -> String {
    let layers: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(k, t)| format!(r#"{{"name":"q{k}","kind":"quantize","input":"x","result":"{t}"}}"#))
        .collect();
    let outs: Vec<String> = (0..targets.len()).map(|k| format!("\"q{k}\"")).collect();
    format!(
        r#"{{"format":"rtl4ml-model","version":1,"name":"far","inputs":[{{"name":"x","shape":[{n}],"type":"{src}"}}],
"layers":[{}],"outputs":[{}]}}"#,
        layers.join(","),
        outs.join(",")
    )
}

/// Every code of `src` through the compiled design (simulator) and the layer-level reference,
/// against `FixedType::cast`. `Err` with the compiler's message when it refuses the model.
fn check_all_codes(src: FixedType, targets: &[FixedType]) -> Result<(), String> {
    let text = quantize_model(&src, 1, targets);
    let g = native::parse(&text, "far.json").map_err(|e| e.to_string())?;
    let design = compile(g.clone(), &Options::default()).map_err(|e| e.to_string())?;
    let codes: Vec<i64> = (src.min_mantissa()..=src.max_mantissa())
        .map(|c| c as i64)
        .collect();
    let x = Array2::from_shape_vec((codes.len(), 1), codes.clone()).unwrap();
    let y = Simulator::new(&design.net).run(x.view());
    for (r, &c) in codes.iter().enumerate() {
        let want: Vec<i64> = targets
            .iter()
            .map(|t| t.cast(c as i128, src.frac()) as i64)
            .collect();
        let got: Vec<i64> = y.row(r).to_vec();
        assert_eq!(got, want, "simulator: {src} code {c} into {targets:?}");
        let reference = reference::evaluate(&g, &[c]).unwrap();
        assert_eq!(reference, want, "reference: {src} code {c}");
    }
    Ok(())
}

fn t(s: &str) -> FixedType {
    s.parse().unwrap()
}

/// The example of the issue and its neighbours: left shifts of 143 to 1100 bits, right shifts
/// of 200 and more, every overflow mode.
#[test]
fn far_casts_are_exact() {
    let mut targets = Vec::new();
    for base in [
        "fixed<10,-139>",
        "ufixed<10,-300>",
        "fixed<64,-1024>",
        "fixed<1,-1000>",
        "fixed<10,200>",
        "ufixed<3,1024>",
    ] {
        for o in Overflow::ALL {
            for r in [Round::Trn, Round::Rnd, Round::RndConv, Round::Up] {
                targets.push(t(base).with_modes(r, o));
            }
        }
    }
    for src in [
        "fixed<8,4>",
        "ufixed<6,-1000>",
        "fixed<5,1000>",
        "fixed<1,1>",
    ] {
        check_all_codes(t(src), &targets).unwrap();
    }
}

/// Far binary points inside layers: dense weights and accumulators, a table, a product, a sum.
fn far_layers_model() -> String {
    r#"{"format":"rtl4ml-model","version":1,"name":"far_layers",
"inputs":[{"name":"x","shape":[3],"type":"fixed<8,4>"}],
"layers":[
{"name":"d","kind":"dense","input":"x","weight":{"type":"fixed<4,-139>","shape":[3,2],"data":[1,-2,3,0,-8,7]},
 "bias":{"type":"fixed<6,200>","data":[1,0]},"accum":"fixed<20,-100,RND,WRAP>","result":"fixed<10,-130,RND,SAT>"},
{"name":"e","kind":"dense","input":"x","weight":{"type":"fixed<4,-139>","shape":[3,2],"data":[1,-2,3,0,-8,7]},
 "result":"fixed<10,-140,RND_CONV,SAT_SYM>"},
{"name":"s","kind":"sigmoid","input":"x","table":{"type":"fixed<8,-140,RND,SAT>","size":64},"result":"fixed<8,1>"},
{"name":"m","kind":"multiply","inputs":["x","x"],"result":"fixed<6,-150,RND_CONV,SAT_SYM>"},
{"name":"a","kind":"add","inputs":["x","x"],"result":"ufixed<6,300,RND,SAT>"},
{"name":"q","kind":"quantize","input":"x","result":"fixed<10,-139,RND,SAT>"},
{"name":"z","kind":"quantize","input":"x","result":"fixed<10,-139,RND,SAT_ZERO>"}
],"outputs":["d","e","s","m","a","q","z"]}"#
        .to_string()
}

#[test]
fn far_layers_compile_and_match_the_reference() {
    let g = native::parse(&far_layers_model(), "far_layers.json").unwrap();
    let design = compile(g.clone(), &Options::default()).unwrap();
    let src = t("fixed<8,4>");
    let mut rows = Vec::new();
    for a in [-128i64, -1, 0, 1, 127, 37] {
        for b in [-128i64, 0, 5, 127] {
            rows.push([a, b, -a]);
        }
    }
    let x = Array2::from_shape_vec((rows.len(), 3), rows.concat()).unwrap();
    let y = Simulator::new(&design.net).run(x.view());
    for (r, row) in rows.iter().enumerate() {
        let want = reference::evaluate(&g, row).unwrap();
        assert_eq!(y.row(r).to_vec(), want, "{src} inputs {row:?}");
    }
}

/// A bias 330 bits above a rounding half is refused with a message, not a panic.
#[test]
fn far_constants_are_refused_with_a_message() {
    let text = r#"{"format":"rtl4ml-model","version":1,"name":"far_bias",
"inputs":[{"name":"x","shape":[2],"type":"fixed<8,4>"}],
"layers":[{"name":"d","kind":"dense","input":"x","weight":{"type":"fixed<4,-139>","shape":[2,1],"data":[1,-2]},
 "bias":{"type":"fixed<6,200>","data":[1]},"result":"fixed<10,-130,RND,SAT>"}],"outputs":["d"]}"#;
    let g = native::parse(text, "far_bias.json").unwrap();
    let e = match compile(g, &Options::default()) {
        Ok(_) => panic!("a bias 330 bits from the rounding half compiled"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("wire limit"), "{e}");
}

#[test]
fn far_casts_verify_in_verilator() {
    if !hw::tools() {
        return;
    }
    hw::compile_and_verify("far_casts", &far_layers_model(), "far_layers", 4.0, 300, 7);
}

fn any_type(wmax: u32) -> impl Strategy<Value = FixedType> {
    (
        any::<bool>(),
        1u32..=wmax,
        -1024i32..=1024,
        0usize..7,
        0usize..5,
    )
        .prop_map(|(s, w, i, r, o)| {
            FixedType::new(s, w, i).with_modes(Round::ALL[r], Overflow::ALL[o])
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random source and target types, often with binary points hundreds of bits apart: the
    /// compiled cast of every source code equals `FixedType::cast`, or the compiler refuses
    /// with a message (never a panic).
    #[test]
    fn far_binary_points(src in any_type(10), t1 in any_type(64), t2 in any_type(16)) {
        if let Err(e) = check_all_codes(src, &[t1, t2]) {
            prop_assert!(e.contains("limit"), "{}", e);
        }
    }
}
