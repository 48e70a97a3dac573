// rtl4ml primitive: a two-operand adder, s = a + b (SUB = 0) or a - b (SUB = 1) modulo 2^W,
// kept as one carry chain of its own.
//
// Conventions (all rtl4ml primitives): Verilog-2005, one clock `clk`, synchronous
// active-high reset `rst`, no reset on datapath registers, no latches (this one is
// combinational).
//
// rtl4ml's adder graphs are chains of two-operand sums. Yosys (`alumacc`) merges a sum read
// only by another sum into one multi-operand `$macc`, which `synth_ecp5` builds as a layer of
// carry-save LUT4s (two per bit) ahead of one CCU2C chain: more logic cells than two chains
// (one cell per bit each), and a LUT and a net more on the path. `keep_hierarchy` keeps each
// sum in its own module, so that it stays the carry chain the ECP5 delay model times. rtl4ml
// uses this cell for `--target lattice-ecp5` builds only; every simulator sees the plain sum.
`default_nettype none
(* keep_hierarchy *)
module rtl4ml_add2 #(
    parameter integer W   = 4,
    parameter integer SUB = 0
) (
    input  wire [W-1:0] a,
    input  wire [W-1:0] b,
    output wire [W-1:0] s
);
    assign s = SUB != 0 ? a - b : a + b;
endmodule
`default_nettype wire
