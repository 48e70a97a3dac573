//! The netlist simulator against the layer-level reference, bit for bit: on the bundled
//! models and on hundreds of random quantized networks (every type and mode).

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
fn bundled_models_match_the_reference() {
    for m in ["jet_tagger", "wrap_accum", "odd_types"] {
        let g = native::load(format!("models/{m}.json").as_ref()).unwrap();
        let n = check(&g, 3000, 7);
        assert!(n > 3000);
    }
}

#[test]
fn random_networks_match_the_reference() {
    let (mut compiled, mut rejected) = (0, 0);
    for seed in 0..std::env::var("RTL4ML_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500u64)
    {
        let model = common::random_model(seed);
        let g = native::parse(&model.to_string(), &format!("random model {seed}"))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        match compile(g.clone(), &Options::default()) {
            Ok(_) => {
                check(&g, 300, seed);
                compiled += 1;
            }
            Err(e @ (Error::Unsupported { .. } | Error::Lower { .. })) => {
                let message = e.to_string();
                // Only a saturating accumulator that may saturate is allowed to be refused.
                assert!(
                    message.contains("saturating accumulator"),
                    "seed {seed}: {message}"
                );
                rejected += 1;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    assert!(
        compiled > 1000,
        "only {compiled} random networks compiled ({rejected} rejected)"
    );
}

#[test]
fn simulator_lane_widths_agree() {
    // The same network evaluated on wide inputs forces 64-bit lanes; compare with reference.
    let text = r#"{"format":"rtl4ml-model","version":1,"name":"wide",
      "inputs":[{"name":"x","shape":[3],"type":"fixed<40,20,RND_CONV,SAT>"}],
      "layers":[{"name":"d","kind":"dense","weight":{"type":"fixed<12,2>","shape":[3,2],"data":[2047,-2048,5,0,-1,77]},
                 "bias":{"type":"fixed<20,10>","data":[-524288,524287]},"result":"fixed<48,30,RND_INF,SAT_SYM>"}],
      "outputs":["d"]}"#;
    let g = native::parse(text, "inline").unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    assert_eq!(Simulator::new(&d.net).lane_bits(), 64);
    check(&g, 2000, 3);
}

#[test]
#[ignore]
fn dump_random_model() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    println!(
        "{}",
        serde_json::to_string_pretty(&common::random_model(seed)).unwrap()
    );
}

#[test]
#[ignore]
fn debug_all_layers() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let mut m = common::random_model(seed);
    let names: Vec<serde_json::Value> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    m["outputs"] = serde_json::Value::Array(names);
    let g = native::parse(&m.to_string(), "dbg").unwrap();
    let d = compile(g.clone(), &Options::default()).unwrap();
    let inputs = vectors::generate(&g.input_types(), 0, 1);
    let out = Simulator::new(&d.net).run(inputs.view());
    println!(
        "sim {:?}\nref {:?}",
        out.row(0).to_vec(),
        reference::evaluate(&g, inputs.row(0).as_slice().unwrap()).unwrap()
    );
    for l in &g.layers {
        println!("{} {:?} out {}", l.name, l.output.shape, l.output.ty);
        if let rtl4ml::ir::layers::LayerKind::Dense { bias, accum, .. } = &l.kind {
            println!(
                "  bias {} {:?} accum {:?}",
                bias.ty,
                bias.data,
                accum.map(|a| a.to_string())
            );
        }
    }
    for (i, n) in d.net.nodes.iter().enumerate() {
        println!("{i}: {:?} frac {} {:?}", n.op, n.frac, n.range);
    }
}
