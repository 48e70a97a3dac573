//! Intermediate representations: fixed-point types, the layer graph and the netlist.
pub mod fixed;
pub mod interval;
pub mod layers;
pub mod netlist;
pub mod schedule;
