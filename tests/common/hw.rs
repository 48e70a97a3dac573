//! Shared Verilator helpers of the integration tests (included with `#[path]`, not through
//! `common/mod.rs`, which the fuzz crate and the soak example also include).

#![allow(dead_code)] // each suite uses a part
use rtl4ml::flow::{compile, read_dir, write_dir, Options};
use rtl4ml::frontend::native;
use rtl4ml::verify::{runner, verify, VerifyOptions};
use std::path::PathBuf;

/// Whether Verilator and Icarus are installed; without them a test returns early with a note,
/// unless RTL4ML_REQUIRE_TOOLS is set (CI sets it), in which case it fails.
pub fn tools() -> bool {
    let ok = runner::tool_available("verilator") && runner::tool_available("icarus");
    if !ok {
        assert!(
            std::env::var_os("RTL4ML_REQUIRE_TOOLS").is_none(),
            "verilator/iverilog missing but RTL4ML_REQUIRE_TOOLS is set"
        );
        eprintln!("note: verilator or iverilog not found; skipping");
    }
    ok
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
    let g = native::parse(text, name).unwrap();
    let design = compile(
        g,
        &Options {
            clock_ns,
            ..Default::default()
        },
    )
    .unwrap();
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
