//! Backends: the netlist written as Verilog.
pub mod namer;
pub mod verilog;
