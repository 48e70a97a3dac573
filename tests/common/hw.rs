//! Shared Verilator helpers of the integration tests (included with `#[path]`, not through
//! `common/mod.rs`, which the fuzz crate and the soak example also include).

#![allow(dead_code)] // each suite uses a part
use rtl4ml::external;
use rtl4ml::flow::{compile, read_dir, write_dir, Options};
use rtl4ml::frontend::native;
use rtl4ml::verify::{verify, VerifyOptions};
use std::path::PathBuf;

/// Whether the hardware tier runs. Tests that need an external program (Verilator, Icarus,
/// Yosys, nextpnr, Chromium) are the full tier: they run only when `RTL4ML_REQUIRE_TOOLS` is set
/// (the README's test command and CI set it), and then a missing program fails the test. The
/// default `cargo test` is the fast tier: it skips them with a note, installed or not.
pub fn full_tier() -> bool {
    std::env::var_os("RTL4ML_REQUIRE_TOOLS").is_some()
}

/// True when `test` should run with `programs` (names as `external::tool_available` takes them):
/// false with a note in the fast tier; a panic naming what is missing in the full tier.
pub fn have(test: &str, programs: &[&str]) -> bool {
    if !full_tier() {
        eprintln!(
            "note: {test}: fast tier, skipping (RTL4ML_REQUIRE_TOOLS=1 runs it with {programs:?})"
        );
        return false;
    }
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !external::tool_available(p))
        .collect();
    assert!(
        missing.is_empty(),
        "{test}: {missing:?} missing but RTL4ML_REQUIRE_TOOLS is set (bench/setup.sh installs them)"
    );
    true
}

/// Verilator and Icarus, for the verify tests (see [`have`]).
pub fn tools() -> bool {
    have("verilator/icarus test", &["verilator", "icarus"])
}

/// A fresh scratch directory `suite/name` under the test target directory.
pub fn work(suite: &str, name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Compiles the native model `text` at `clock_ns`, writes the build directory, reads it back
/// and runs `verify` (lint, Verilator with `random` random vectors after the corner cases, 40
/// through Icarus): every bit and the valid timing must agree with the simulator.
pub fn compile_and_verify(
    suite: &str,
    text: &str,
    name: &str,
    clock_ns: f64,
    random: usize,
    seed: u64,
) {
    let opts = Options {
        clock_ns,
        ..Default::default()
    };
    compile_and_verify_with(suite, text, name, &opts, random, seed);
}

/// [`compile_and_verify`] with every compile option given (a target, a fan-out limit, …).
pub fn compile_and_verify_with(
    suite: &str,
    text: &str,
    name: &str,
    opts: &Options,
    random: usize,
    seed: u64,
) {
    let g = native::parse(text, name).unwrap();
    let design = compile(g, opts).unwrap();
    let dir = work(suite, name);
    write_dir(&design, text, &dir).unwrap();
    let b = read_dir(&dir).unwrap();
    let r = verify(
        &b,
        &VerifyOptions {
            random,
            icarus: 40,
            seed,
            lint: true,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r.verilator.mismatch_count, 0, "{name}");
    assert!(r.verilator.timing_errors.is_empty(), "{name}");
    assert!(r.verilator.vectors > random);
    eprintln!(
        "{name}: latency {} cycles, {}",
        design.schedule.latency,
        r.verilator.summary()
    );
}
