//! Backends: the netlist written as Verilog.
pub mod namer;
pub mod vendor;
pub mod verilog;
