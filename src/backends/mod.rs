//! Backends: the netlist written as Verilog (and as text, for reading and snapshots).
pub mod namer;
pub mod netlist_text;
pub mod vendor;
pub mod verilog;
