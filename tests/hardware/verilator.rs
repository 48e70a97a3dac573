//! The generated Verilog in Verilator (and Icarus) against the simulator, bit for bit:
//! the bundled models and random quantized networks. Lint with `-Wall` must be clean.
//!
//! Needs verilator and iverilog; without them the tests are skipped with a note, unless
//! RTL4ML_REQUIRE_TOOLS is set (CI sets it), in which case they fail.

use crate::common;

use rtl4ml::backends::verilog::PRIMITIVES;
use rtl4ml::error::Error;
use rtl4ml::flow::{compile, read_dir, write_dir, Options};
use rtl4ml::frontend::native;
use rtl4ml::verify::{runner, verify, VerifyOptions};
use std::path::PathBuf;

use crate::hw;
use hw::tools;

fn compile_and_verify(text: &str, name: &str, clock_ns: f64, random: usize) {
    hw::compile_and_verify("verilator", text, name, clock_ns, random, 11);
}

#[test]
fn bundled_models_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    for (m, clock) in [("jet_tagger", 4.0), ("wrap_accum", 2.5), ("odd_types", 1.5)] {
        let text = std::fs::read_to_string(format!("models/{m}.json")).unwrap();
        compile_and_verify(&text, m, clock, 5000);
    }
}

/// ECP5 builds: every sum an `rtl4ml_add2` cell (hdl/rtl4ml_add2.v) with its pass-through low
/// bits outside it.
#[test]
fn ecp5_builds_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    for (m, clock) in [("wrap_accum", 8.0), ("odd_types", 6.0), ("egamma_id", 12.0)] {
        let text = std::fs::read_to_string(format!("models/{m}.json")).unwrap();
        let opts = Options {
            clock_ns: clock,
            target: rtl4ml::target::Target::LatticeEcp5,
            ..Default::default()
        };
        let d = compile(native::parse(&text, m).unwrap(), &opts).unwrap();
        assert!(d.verilog.contains("rtl4ml_add2 #(.W("), "{m}");
        assert!(!d.verilog.contains("rtl4ml_add3"), "{m}");
        hw::compile_and_verify_with("verilator-ecp5", &text, m, &opts, 3000, 12);
    }
    let mut done = 0;
    let mut seed = 2000;
    while done < 3 {
        seed += 1;
        let text = common::random_model(seed).to_string();
        let opts = Options {
            clock_ns: [8.0, 12.0, 20.0][done],
            target: rtl4ml::target::Target::LatticeEcp5,
            ..Default::default()
        };
        // Models the compiler refuses are skipped, as in the test below.
        match compile(native::parse(&text, "random").unwrap(), &opts) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(d) => assert!(d.verilog.contains("rtl4ml_add2 #("), "seed {seed}"),
        }
        hw::compile_and_verify_with(
            "verilator-ecp5",
            &text,
            &format!("random_{seed}"),
            &opts,
            2000,
            seed,
        );
        done += 1;
    }
}

#[test]
fn random_networks_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    let mut done = 0;
    let mut seed = 1000;
    // Several random networks at different clocks (so that pipelining varies).
    while done < 5 {
        seed += 1;
        let model = common::random_model(seed);
        let text = model.to_string();
        let g = native::parse(&text, "random").unwrap();
        let clock = [1.5, 2.0, 3.0, 5.0, 10.0][done % 5];
        // Models the compiler refuses (too wide, or with one operation slower than the clock)
        // are skipped: this test is about the Verilog of those it accepts.
        match compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        ) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(_) => {}
        }
        compile_and_verify(&text, &format!("random_{seed}"), clock, 2000);
        done += 1;
    }
}

#[test]
fn tampered_verilog_is_refused() {
    if !tools() {
        return;
    }
    let text = std::fs::read_to_string("models/odd_types.json").unwrap();
    let g = native::parse(&text, "odd").unwrap();
    let design = compile(
        g,
        &Options {
            clock_ns: 1.5,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = hw::work("verilator", "wrong_latency");
    write_dir(&design, &text, &dir).unwrap();
    // Tamper with the Verilog: verify must refuse a file that is not what the compiler makes.
    let v = dir.join("odd_types.v");
    let src = std::fs::read_to_string(&v).unwrap();
    std::fs::write(&v, src.replace("// Generated", "// Edited")).unwrap();
    let b = read_dir(&dir).unwrap();
    let e = verify(
        &b,
        &VerifyOptions {
            random: 10,
            icarus: 0,
            seed: 1,
            lint: false,
        },
    )
    .err()
    .expect("tampered file must fail");
    assert!(e.to_string().contains("differs"), "{e}");
}

#[test]
fn random_networks_are_lint_clean() {
    // Lint is cheap (no C++ build): many random networks, every type and mode, several clocks.
    if !tools() {
        return;
    }
    let mut linted = 0;
    for seed in 5000..5150u64 {
        let text = common::random_model(seed).to_string();
        let g = native::parse(&text, "random").unwrap();
        let clock = [0.8, 1.5, 3.0, 6.0][seed as usize % 4];
        let design = match compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        ) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(d) => d,
        };
        let dir = hw::work("verilator", &format!("lint_{seed}"));
        write_dir(&design, &text, &dir).unwrap();
        let rtl: Vec<PathBuf> = [format!("random_{seed}.v")]
            .into_iter()
            .chain(PRIMITIVES.iter().map(|(f, _)| f.to_string()))
            .map(|f| dir.join(f))
            .collect();
        runner::lint(&rtl, &design.top).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        linted += 1;
    }
    assert!(linted > 100, "{linted}");
}

#[test]
fn example_layer_models_are_bit_exact_in_verilator() {
    // The AXOL1TL-like encoder, the CICADA- and ECON-T-like CNNs and the Deep Sets tagger.
    // Their Verilator builds dominate; fewer random vectors keep the test short.
    if !tools() {
        return;
    }
    for (m, clock) in [
        ("econt", 4.0),
        ("axol1tl", 2.8),
        ("cicada", 4.17),
        ("deepsets", 4.0),
    ] {
        let text = std::fs::read_to_string(format!("models/{m}.json")).unwrap();
        compile_and_verify(&text, m, clock, 1500);
    }
}

#[test]
fn random_layer_networks_are_bit_exact_in_verilator() {
    // Convolutions, pooling, merges, shape ops, activations, tables, argmax (tests/common).
    if !tools() {
        return;
    }
    let mut done = 0;
    let mut seed = 2000;
    while done < 3 {
        seed += 1;
        let text = common::random_layer_model(seed).to_string();
        let g = native::parse(&text, "random").unwrap();
        let clock = [1.5, 3.0, 6.0][done % 3];
        match compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        ) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(_) => {}
        }
        compile_and_verify(&text, &format!("layers_{seed}"), clock, 1500);
        done += 1;
    }
}

#[test]
fn random_layer_networks_are_lint_clean() {
    if !tools() {
        return;
    }
    let mut linted = 0;
    for seed in 6000..6080u64 {
        let text = common::random_layer_model(seed).to_string();
        let g = native::parse(&text, "random").unwrap();
        let clock = [0.8, 1.5, 3.0, 6.0][seed as usize % 4];
        let design = match compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        ) {
            Err(Error::Unsupported { .. } | Error::Lower { .. } | Error::Usage { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
            Ok(d) => d,
        };
        let dir = hw::work("verilator", &format!("lint_layers_{seed}"));
        write_dir(&design, &text, &dir).unwrap();
        let rtl: Vec<PathBuf> = [format!("{}.v", design.top)]
            .into_iter()
            .chain(PRIMITIVES.iter().map(|(f, _)| f.to_string()))
            .map(|f| dir.join(f))
            .collect();
        runner::lint(&rtl, &design.top).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        linted += 1;
    }
    assert!(linted > 50, "{linted}");
}
