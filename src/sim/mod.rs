//! Simulation: the bit-accurate netlist simulator, the layer-level reference and .npy I/O.
pub mod io;
pub mod reference;
pub mod stream;
pub mod tape;

pub use tape::Simulator;
