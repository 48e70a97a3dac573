//! Test suite: `rtl4ml optimize`: the width search, its accuracy metrics and outputs.
//!
//! One binary per concern (each binary links the crate once). Tests that need an external tool
//! run only in the full tier (`RTL4ML_REQUIRE_TOOLS=1`, see `common/hw.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/hw.rs"]
mod hw;

mod data;
mod optimize_tests;
mod retrain_tests;
