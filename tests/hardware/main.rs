//! Test suite: The external tools: Verilator/Icarus runner, verify of bundled models, Yosys/nextpnr synth,
//! the HTML report in headless Chromium.
//!
//! One binary per concern (each binary links the crate once). Tests that need an external tool
//! run only in the full tier (`RTL4ML_REQUIRE_TOOLS=1`, see `common/hw.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/hw.rs"]
mod hw;

mod report_html;
mod runner_selftest;
mod synth;
mod verilator;
