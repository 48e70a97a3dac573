//! Test suite: The command line as a user meets it: outputs, error messages and their catalogue, untrusted and
//! hostile input, resource limits, atomic writes.
//!
//! One binary per concern (each binary links the crate once). Tests that need an external tool
//! run only in the full tier (`RTL4ML_REQUIRE_TOOLS=1`, see `common/hw.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/hw.rs"]
mod hw;

mod atomic;
mod cli_tests;
mod errors;
mod file_safety;
mod golden_errors;
mod hostile_output;
mod limits;
mod reliability_parse;
mod replace_safety;
mod untrusted;
