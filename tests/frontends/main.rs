//! Test suite: Model loaders beyond the native format: QONNX and the Keras/HGQ2 exporter's output.
//!
//! One binary per concern (each binary links the crate once). Tests that need an external tool
//! run only in the full tier (`RTL4ML_REQUIRE_TOOLS=1`, see `common/hw.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/hw.rs"]
mod hw;

mod keras;
mod qonnx;
mod qonnx_layout;
mod zoo;
