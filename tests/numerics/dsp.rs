//! `--dsp never|auto|always`: products of two variables on hard multipliers. The simulator
//! against the layer-level reference under every policy (the product is exact either way),
//! and the DSP Verilog (`use_dsp` multipliers on exact-width signed wires) in Verilator,
//! bit for bit and lint-clean under `-Wall`.

use crate::common;

use common::Gen;
use rtl4ml::error::Error;
use rtl4ml::flow::{compile, read_dir, write_dir, Options};
use rtl4ml::frontend::native;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::ir::netlist::Op;
use rtl4ml::passes::lower::{DspPolicy, LowerOptions};
use rtl4ml::sim::{reference, Simulator};
use rtl4ml::verify::{vectors, verify, VerifyOptions};
use serde_json::json;

const POLICIES: [DspPolicy; 3] = [DspPolicy::Never, DspPolicy::Auto, DspPolicy::Always];

fn opts(dsp: DspPolicy, clock_ns: f64) -> Options {
    Options {
        clock_ns,
        lower: LowerOptions {
            dsp,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Two inputs of random types (signed or not, 2 to 34 bits), their product and the square
/// of the first, each into a random (often exact-width) result type.
fn random_multiply_model(seed: u64) -> String {
    let mut r = Gen::new(seed);
    let tx = r.rty(0.6, 2, 26);
    let ty = r.rty(0.6, 2, 34);
    let res = |r: &mut Gen| {
        if r.chance(0.5) {
            "fixed<64,32>".to_string()
        } else {
            r.rty(0.7, 4, 40)
        }
    };
    let (m, s) = (res(&mut r), res(&mut r));
    json!({"format": "rtl4ml-model", "version": 1, "name": format!("mul{seed}"),
        "inputs": [{"name": "x", "shape": [3], "type": tx}, {"name": "y", "shape": [3], "type": ty}],
        "layers": [
            {"name": "m", "kind": "multiply", "inputs": ["x", "y"], "result": m},
            {"name": "s", "kind": "multiply", "inputs": ["x", "x"], "result": s}],
        "outputs": ["m", "s"]})
    .to_string()
}

fn dsp_count(d: &rtl4ml::flow::Design) -> usize {
    d.net
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Mul { dsp: true, .. }))
        .count()
}

fn check_sim(g: &LayerGraph, dsp: DspPolicy, seed: u64) -> Option<usize> {
    let design = match compile(g.clone(), &opts(dsp, 3.0)) {
        Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => return None,
        Err(e) => panic!("{}: {e}", g.name),
        Ok(d) => d,
    };
    let inputs = vectors::generate(&g.input_types(), 200, seed);
    let out = Simulator::new(&design.net).run(inputs.view());
    for (k, row) in inputs.rows().into_iter().enumerate() {
        let expect = reference::evaluate(g, row.as_slice().unwrap()).unwrap();
        assert_eq!(
            out.row(k).to_vec(),
            expect,
            "{} --dsp {dsp:?} vector {k}: {row:?}",
            g.name
        );
    }
    assert_eq!(design.report.resources.dsp as usize, dsp_count(&design));
    Some(dsp_count(&design))
}

#[test]
fn random_products_match_the_reference_under_every_policy() {
    let (mut dsps, mut checked) = ([0usize; 3], 0);
    for seed in 0..60u64 {
        let text = random_multiply_model(seed);
        let g = native::parse(&text, "random").unwrap();
        for (k, p) in POLICIES.into_iter().enumerate() {
            if let Some(n) = check_sim(&g, p, seed) {
                dsps[k] += n;
                checked += 1;
            }
        }
    }
    assert!(checked > 120, "{checked}");
    assert_eq!(dsps[0], 0, "--dsp never uses no DSP");
    assert!(dsps[1] > 0 && dsps[2] > dsps[1], "{dsps:?}");
}

#[test]
fn always_splits_or_refuses_clearly() {
    // 26×30 signed: too wide for one DSP48E2; `always` splits the 30-bit factor into 16-bit
    // digits (two DSPs per product), `auto` keeps it in LUTs.
    let m = json!({"format": "rtl4ml-model", "version": 1, "name": "wide",
        "inputs": [{"name": "x", "shape": [1], "type": "fixed<26,4>"}, {"name": "y", "shape": [1], "type": "fixed<30,4>"}],
        "layers": [{"name": "m", "kind": "multiply", "inputs": ["x", "y"], "result": "fixed<56,8>"}],
        "outputs": ["m"]})
    .to_string();
    let g = native::parse(&m, "wide").unwrap();
    assert_eq!(check_sim(&g, DspPolicy::Auto, 1), Some(0));
    assert_eq!(check_sim(&g, DspPolicy::Always, 1), Some(2));
    // Both factors wider than 27 bits: `always` refuses, naming the option.
    let m = m.replace("fixed<26,4>", "fixed<30,4>");
    let g = native::parse(&m, "wide").unwrap();
    match compile(g, &opts(DspPolicy::Always, 3.0)) {
        Err(e) => {
            let s = e.to_string();
            assert!(s.contains("--dsp always") && s.contains("27"), "{s}");
        }
        Ok(_) => panic!("a 30x30 product was put on DSPs"),
    }
}

use crate::hw;
use hw::tools;

/// Compiles with `--dsp`, writes the build directory, reads it back (from the manifest, as
/// `rtl4ml verify` does) and runs Verilator (with `-Wall` lint) and Icarus on it.
fn compile_and_verify(text: &str, name: &str, dsp: DspPolicy, clock_ns: f64, random: usize) {
    let g = native::parse(text, name).unwrap();
    let design = compile(g, &opts(dsp, clock_ns)).unwrap();
    let dir = hw::work("dsp", name);
    write_dir(&design, text, &dir).unwrap();
    let b = read_dir(&dir).unwrap();
    assert_eq!(b.manifest.dsp, dsp, "the manifest records the policy");
    assert_eq!(
        b.design.verilog, design.verilog,
        "verify rebuilds the same design"
    );
    let r = verify(
        &b,
        &VerifyOptions {
            random,
            icarus: 20,
            seed: 5,
            lint: true,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r.verilator.mismatch_count, 0);
    assert!(r.verilator.timing_errors.is_empty());
    assert!(r.verilator.vectors > random);
}

#[test]
fn random_dsp_products_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    let mut done = 0;
    for seed in 100..104u64 {
        let text = random_multiply_model(seed);
        let p = if seed % 2 == 0 {
            DspPolicy::Auto
        } else {
            DspPolicy::Always
        };
        let g = native::parse(&text, "random").unwrap();
        match compile(g, &opts(p, 3.0)) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(_) => {}
        }
        compile_and_verify(&text, &format!("mul{seed}"), p, 3.0, 300);
        done += 1;
    }
    assert!(done >= 3, "{done}");
}

#[test]
fn axol1tl_on_dsps_is_bit_exact_and_smaller() {
    if !tools() {
        return;
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/axol1tl.json"))
        .unwrap();
    compile_and_verify(&text, "axol1tl_auto", DspPolicy::Auto, 4.0, 200);
    // At a clock where both policies give the same latency, DSPs replace LUT multipliers.
    let g = native::parse(&text, "axol1tl").unwrap();
    let never = compile(g.clone(), &opts(DspPolicy::Never, 6.0)).unwrap();
    let auto = compile(g, &opts(DspPolicy::Auto, 6.0)).unwrap();
    assert_eq!(never.report.resources.dsp, 0);
    assert!(auto.report.resources.dsp > 0);
    assert_eq!(auto.report.resources.dsp as usize, dsp_count(&auto));
    assert!(
        auto.report.resources.lut < never.report.resources.lut,
        "{} vs {}",
        auto.report.resources.lut,
        never.report.resources.lut
    );
    assert!(auto.verilog.contains("(* use_dsp = \"yes\" *)"));
    assert!(!never.verilog.contains("use_dsp"));
}
