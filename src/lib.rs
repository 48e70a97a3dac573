//! rtl4ml: quantized neural networks → pipelined Verilog, with a bit-accurate simulator.
//!
//! The modules follow the flow of data:
//! [`frontend`] (model files) → [`ir`] (layer graph, fixed-point types, netlist) →
//! [`passes`] (lowering, constant multiplication, scheduling) →
//! [`backends`] (Verilog, vendor scripts) / [`sim`] (bit-accurate evaluation) / [`report`]
//! (latency, resources, HTML) / [`synth`] (Yosys, nextpnr measurements) →
//! [`verify`] (Verilator / Icarus against the simulator) → [`cli`].

pub mod backends;
pub mod cli;
pub mod error;
pub mod external;
pub mod flow;
pub mod frontend;
pub mod input;
pub mod ir;
pub mod optimize;
pub mod passes;
pub mod report;
pub mod safe_fs;
pub mod sim;
pub mod synth;
pub mod target;
pub mod text;
pub mod verify;

pub use error::{Error, Result};
