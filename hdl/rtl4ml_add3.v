// rtl4ml primitive: a ternary adder, s = a + (NB ? -b : b) + (NC ? -c : c) modulo 2^W.
//
// Conventions (all rtl4ml primitives): Verilog-2005, one clock `clk`, synchronous
// active-high reset `rst`, no reset on datapath registers, no latches (this one is
// combinational).
//
// Vivado maps a three-operand sum to one LUT per bit on its carry chain by itself. Yosys does
// not: it builds two carry chains, or a full-adder tree and a chain, at two LUTs per bit. With
// `RTL4ML_XILINX_PRIMITIVES` defined (rtl4ml's Yosys flow for Xilinx targets defines it) the
// adder is built from 7-series cells instead: per bit one LUT6_2 whose O5 is the carry-save
// carry (the majority of the three bits) into the next bit and whose O6 is the propagate of
// the final addition of the carry-save sum and carries, on a CARRY4 chain whose generate input
// is the incoming carry-save carry. A subtracted operand is inverted in the LUT; its +1 goes
// into the chain's carry-in (b) or the first carry-save carry (c). Every other tool (and
// every simulator) sees the plain sum.
`default_nettype none
module rtl4ml_add3 #(
    parameter integer W  = 4,
    parameter integer NB = 0,
    parameter integer NC = 0
) (
    input  wire [W-1:0] a,
    input  wire [W-1:0] b,
    input  wire [W-1:0] c,
    output wire [W-1:0] s
);
`ifdef RTL4ML_XILINX_PRIMITIVES
    localparam integer N = (W + 3) / 4;
    // INIT[31:0]: O5 = maj(a, b ^ NB, c ^ NC); INIT[63:32]: O6 = a ^ b ^ c ^ NB ^ NC ^ k.
    localparam [63:0] INIT = NB != 0 ? (NC != 0 ? 64'h699669962b2b2b2b : 64'h96699669b2b2b2b2)
                                     : (NC != 0 ? 64'h966996698e8e8e8e : 64'h69966996e8e8e8e8);
    wire [4*N:0] k;  // carry-save carry into each bit
    wire [4*N-1:0] p;  // propagate of the final addition
    wire [4*N-1:0] o;
    wire [4*N-1:0] co;
    assign k[0] = NC != 0;
    genvar i;
    generate
        for (i = 0; i < 4 * N; i = i + 1) begin : g_bit
            if (i < W) begin : g_lut
                LUT6_2 #(.INIT(INIT)) lut (
                    .I0(a[i]), .I1(b[i]), .I2(c[i]), .I3(k[i]), .I4(1'b0), .I5(1'b1),
                    .O5(k[i+1]), .O6(p[i])
                );
            end else begin : g_pad
                assign p[i] = 1'b0;
                assign k[i+1] = 1'b0;
            end
        end
        for (i = 0; i < N; i = i + 1) begin : g_carry
            CARRY4 carry (
                .CI(i == 0 ? 1'b0 : co[4*i-1]),
                .CYINIT(i == 0 ? NB != 0 : 1'b0),
                .DI(k[4*i+3:4*i]),
                .S(p[4*i+3:4*i]),
                .O(o[4*i+3:4*i]),
                .CO(co[4*i+3:4*i])
            );
        end
    endgenerate
    assign s = o[W-1:0];
`else
    wire [W-1:0] nb = NB != 0 ? -b : b;
    wire [W-1:0] nc = NC != 0 ? -c : c;
    assign s = a + nb + nc;
`endif
endmodule
`default_nettype wire
