//! Test suite: Fixed-point semantics and their hardware: casts against an exact rational reference, layer
//! semantics, netlist equivalence, scheduling, DSP products, constant folding.
//!
//! One binary per concern (each binary links the crate once). Tests that need an external tool
//! run only in the full tier (`RTL4ML_REQUIRE_TOOLS=1`, see `common/hw.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/hw.rs"]
mod hw;

mod apfixed;
mod dsp;
mod equivalence;
mod far_casts;
mod fixed_props;
mod folding;
mod layers;
mod schedule;
