//! Passes over the IR: lowering to the netlist, constant multiplication, clean-up, scheduling.
pub mod cmvm;
pub mod csd;
pub mod dce;
pub mod limits;
pub mod lower;
pub mod pipeline;
pub mod retime;
pub mod schedule;
pub mod trim;
