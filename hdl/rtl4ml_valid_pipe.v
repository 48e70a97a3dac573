// rtl4ml primitive: the valid pipeline of a design with initiation interval 1.
//
// Conventions (all rtl4ml primitives): Verilog-2005, one clock `clk`, synchronous
// active-high reset `rst`, no reset on datapath registers, no latches.
// `out_valid` is `in_valid` delayed by exactly LATENCY rising edges of `clk`.
`default_nettype none
module rtl4ml_valid_pipe #(
    parameter integer LATENCY = 1
) (
    input  wire clk,
    input  wire rst,
    input  wire in_valid,
    output wire out_valid
);
`ifdef VERILATOR
    initial begin
        if (LATENCY < 1) $error("rtl4ml_valid_pipe: LATENCY must be at least 1");
    end
`endif
    reg [LATENCY-1:0] valid_q;
    generate
        if (LATENCY == 1) begin : g_one
            always @(posedge clk) begin
                if (rst) valid_q <= 1'b0;
                else valid_q <= in_valid;
            end
        end else begin : g_many
            always @(posedge clk) begin
                if (rst) valid_q <= {LATENCY{1'b0}};
                else valid_q <= {valid_q[LATENCY-2:0], in_valid};
            end
        end
    endgenerate
    assign out_valid = valid_q[LATENCY-1];
endmodule
`default_nettype wire
