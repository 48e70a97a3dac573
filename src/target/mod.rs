//! What the FPGA target's fabric costs in time: the families rtl4ml schedules for, their delay
//! models (calibrated against place and route, or estimates), and the timing of a netlist's
//! nodes under a model. Below `passes` (which schedule with it) and the backends and reports
//! (which print what it says); see docs/timing-model.md.

pub mod ops;
pub mod timing;

/// Per-operation delay estimates in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DelayModel {
    /// Clock-to-out plus setup of a register, subtracted from the period.
    pub register_overhead_ns: f64,
    /// LUT plus routing before a carry chain.
    pub adder_base_ns: f64,
    /// Carry propagation per bit.
    pub adder_per_bit_ns: f64,
    /// A select level (ReLU, multiplexer).
    pub mux_ns: f64,
    /// A saturation: the overflow test on the rounded value's top bits and the select.
    pub saturate_ns: f64,
    /// A saturation whose rounded value is at most this many bits wider than the result
    /// costs a select (`mux_ns`), not `saturate_ns`: its overflow test is a LUT on a few top
    /// bits, where a wide one is a comparison (a carry chain on ECP5).
    pub saturate_narrow_bits: u32,
    /// Routing per doubling of fan-out: a cell reading a net that drives `f` cells waits
    /// `fanout_ns_per_log2 · log2(f)` more (ECP5: nets to many loads are the long ones).
    pub fanout_ns_per_log2: f64,
    /// A comparison's delay beyond an adder of its width (ECP5: the result is the carry out,
    /// which nextpnr brings out of the chain through one more CCU2C and a net).
    pub cmp_extra_ns: f64,
    /// A hard multiplier (`--dsp`), combinational, operands and product through general
    /// routing: DSP48E2 (UltraScale+ -2 data sheet: ~2.0 ns with no internal register) plus
    /// routing in and out; MULT18X18D (ECP5, unregistered) ~4.5 ns.
    pub dsp_ns: f64,
    /// Clock uncertainty: the share of the period kept free of modelled delay, for what the
    /// model cannot see before place and route (congested routing, long nets in a full
    /// device). A stage's modelled delay must fit `period · (1 − u)`. Vivado HLS (and so
    /// hls4ml) keeps 12.5% by default; on ECP5 the routed corpus' spread needs it
    /// (docs/timing-model.md).
    pub clock_uncertainty: f64,
    /// Routing that grows with the design: every cell on a path waits
    /// `(1 + size_per_log2 · (log2 S − size_ref_log2))` times its modelled delay, where `S` is
    /// the netlist's logic bits (the summed width of every node that is logic, not wiring),
    /// the factor kept within [0.6, 2]. ECP5: nets in a large, congested design are longer
    /// (the corpus' routing per hop grows from ~1.1 ns below 1k cells to ~2 ns above 10k);
    /// 0 for Xilinx.
    pub size_per_log2: f64,
    /// `log2` of the logic bits at which the per-element delays hold as fitted.
    pub size_ref_log2: f64,
    /// A saturation into its type's own range is built as reductions of the rounded value's
    /// top bits (`SaturationTest`), a tree of LUTs: when set, it costs this per LUT level
    /// (`⌈log_k(bits + 1)⌉` levels for `k` = `lut_inputs`) plus a select (`mux_ns`), instead
    /// of `saturate_ns` (which then prices the comparisons against other bounds). `None`:
    /// every wide saturation costs `saturate_ns`.
    pub saturate_level_ns: Option<f64>,
    /// Inputs of the fabric's LUT (ECP5: 4, UltraScale+: 6).
    pub lut_inputs: u32,
    /// An adder whose slowest operand is a sum computed in the same stage costs this
    /// instead of `adder_base_ns` (before the fan-out and size terms). ECP5 builds every sum
    /// as its own carry chain (`rtl4ml_add2`), so a sum reading a sum is a net from one
    /// chain's sum outputs into the next chain's LUTs, cheaper than a level fed from
    /// registers through the fabric. `None`: the same as `adder_base_ns`.
    pub chained_adder_ns: Option<f64>,
}

impl DelayModel {
    /// The combinational delay a pipeline stage may have at `clock_ns`: the period less the
    /// clock uncertainty and the register's clock-to-out and setup.
    pub fn stage_budget(&self, clock_ns: f64) -> f64 {
        (clock_ns * (1.0 - self.clock_uncertainty) - self.register_overhead_ns).max(0.0)
    }
    /// The shortest period whose stage budget holds a stage of `critical_ns` (register
    /// overhead included): `critical_ns / (1 − u)`.
    pub fn period_for(&self, critical_ns: f64) -> f64 {
        critical_ns / (1.0 - self.clock_uncertainty)
    }
}

impl Default for DelayModel {
    fn default() -> Self {
        DelayModel {
            register_overhead_ns: 0.45,
            adder_base_ns: 0.55,
            adder_per_bit_ns: 0.015,
            mux_ns: 0.4,
            saturate_ns: 0.4,
            saturate_narrow_bits: 0,
            fanout_ns_per_log2: 0.0,
            cmp_extra_ns: 0.0,
            dsp_ns: 2.4,
            clock_uncertainty: 0.0,
            size_per_log2: 0.0,
            size_ref_log2: 0.0,
            saturate_level_ns: None,
            lut_inputs: 6,
            chained_adder_ns: None,
        }
    }
}

/// FPGA families with a delay model.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Xilinx UltraScale+ (LUT6, CARRY8).
    #[default]
    XilinxUltrascalePlus,
    /// Lattice ECP5 (LUT4, CCU2C carry cells), as routed by nextpnr.
    LatticeEcp5,
}

impl Target {
    pub fn delay_model(self) -> DelayModel {
        match self {
            Target::XilinxUltrascalePlus => DelayModel::default(),
            // Fitted to routed designs (Yosys synth_ecp5 + nextpnr-ecp5, LFE5U, router2):
            // bench/calibration/ecp5.csv, docs/timing-model.md. A net between two cells is
            // ~0.6–2.2 ns there (mean ~1.2 ns), more than the logic: a CCU2C adder level is a
            // net + 0.45 ns into the chain + 0.44 ns out, its carry 0.071 ns per 2 bits.
            // ecp5-v7: fitted on the ecp5-v6 runs, the first with every sum its own carry
            // chain (`rtl4ml_add2`): a sum read by a sum costs 1.96 ns against 2.31 ns for one
            // fed from registers, the fan-out term fell from 0.75 to 0.24 ns per doubling
            // (v5's absorbed the carry-save LUTs Yosys put ahead of merged sums), and a
            // saturation's LUT levels fold into its select.
            Target::LatticeEcp5 => DelayModel {
                register_overhead_ns: 1.76,
                adder_base_ns: 2.31,
                adder_per_bit_ns: 0.05,
                mux_ns: 0.25,
                saturate_ns: 6.3,
                saturate_narrow_bits: 1,
                fanout_ns_per_log2: 0.24,
                cmp_extra_ns: 3.16,
                dsp_ns: 7.43,
                clock_uncertainty: ECP5_CLOCK_UNCERTAINTY,
                size_per_log2: 0.103,
                size_ref_log2: 10.0,
                saturate_level_ns: Some(0.008),
                lut_inputs: 4,
                chained_adder_ns: Some(1.96),
            },
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Target::XilinxUltrascalePlus => "xilinx-ultrascale-plus",
            Target::LatticeEcp5 => "lattice-ecp5",
        }
    }
    /// Which delay model placed the registers, and how far it can be trusted (`report.json`
    /// field `timing_model`; docs/timing-model.md).
    pub fn timing_model(self) -> TimingModelInfo {
        match self {
            Target::XilinxUltrascalePlus => TimingModelInfo {
                target: self.name().into(),
                version: XILINX_MODEL_VERSION.into(),
                status: "estimate".into(),
                met_pct: None,
                margin_pct: None,
                clock_uncertainty_pct: 0.0,
                source: "uncalibrated estimate: no open place and route for UltraScale+ here; \
                         constants from published figures (LUT6 + net ~0.55 ns, CARRY8 ~0.1 ns \
                         per 8 bits, DSP48E2 ~2.0 ns combinational: UltraScale+ -2 data sheet \
                         DS923 class figures), see docs/timing-model.md"
                    .into(),
            },
            Target::LatticeEcp5 => TimingModelInfo {
                target: self.name().into(),
                version: ECP5_MODEL_VERSION.into(),
                status: "calibrated".into(),
                met_pct: Some(ECP5_CORPUS_MET_PCT),
                margin_pct: Some(ECP5_CORPUS_MARGIN_PCT),
                clock_uncertainty_pct: ECP5_CLOCK_UNCERTAINTY * 100.0,
                source: "calibrated against Yosys synth_ecp5 + nextpnr-ecp5 (router2, seed 1) \
                         on bench/calibration/ecp5.csv (bench/calibrate_ecp5.sh), see \
                         docs/timing-model.md"
                    .into(),
            },
        }
    }
}

/// How sums are built in the Verilog (`backends::verilog`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdderCells {
    /// `a ± b` expressions: the synthesis tool may merge sums.
    Plain,
    /// The sums of `ir::schedule::ternary_sums` as `rtl4ml_add3` instances (6-input-LUT
    /// fabrics).
    Ternary,
    /// Every two-operand sum an `rtl4ml_add2` instance, its own carry chain (ECP5: Yosys would
    /// otherwise merge chained sums into carry-save LUT4s ahead of one chain, larger and
    /// slower there).
    Chains,
}

impl Target {
    /// How this target's Verilog builds sums.
    pub fn adder_cells(self) -> AdderCells {
        match self {
            Target::XilinxUltrascalePlus => AdderCells::Ternary,
            Target::LatticeEcp5 => AdderCells::Chains,
        }
    }
}

/// Tag of the ECP5 delay model (the calibration CSV's `delay_model` column).
pub const ECP5_MODEL_VERSION: &str = "ecp5-v7";

/// The ECP5 model's clock uncertainty (`DelayModel::clock_uncertainty`): at ecp5-v2 (no
/// uncertainty) the routed critical path of the corpus' runs exceeded the model's by up to 11%
/// for 35 of 36 runs (24% for the e/γ identifier, a congested 4.7k-LUT design), so 12.5% is
/// kept free, Vivado HLS' default.
pub const ECP5_CLOCK_UNCERTAINTY: f64 = 0.125;
/// Tag of the UltraScale+ delay model.
pub const XILINX_MODEL_VERSION: &str = "xilinx-v0-estimate";
/// Share of the calibration corpus' runs (at `ECP5_MODEL_VERSION`) whose routed Fmax meets
/// the clock the compiler promised, %.
pub const ECP5_CORPUS_MET_PCT: f64 = 97.9;
/// Median over the corpus of routed Fmax / predicted Fmax − 1, % (positive: faster than
/// predicted).
pub const ECP5_CORPUS_MARGIN_PCT: f64 = 0.3;

/// Which delay model scheduled a design and how far it is trusted (see
/// [`Target::timing_model`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimingModelInfo {
    /// `xilinx-ultrascale-plus` or `lattice-ecp5`.
    pub target: String,
    /// The model's tag (changes whenever its constants change).
    pub version: String,
    /// `calibrated` (fitted to routed designs) or `estimate` (never checked against place
    /// and route).
    pub status: String,
    /// Calibrated models: share of the corpus' runs that met the promised clock after
    /// routing, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_pct: Option<f64>,
    /// Calibrated models: median routed Fmax over predicted Fmax, minus 1, in %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_pct: Option<f64>,
    /// The share of the period kept free of modelled delay (`DelayModel::clock_uncertainty`),
    /// in %; 0 (and absent from report.json) when none is kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clock_uncertainty_pct: f64,
    /// Where the constants come from.
    pub source: String,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share of met clocks and the median margin a calibrated report states are those of
    /// the committed corpus (`bench/calibration/ecp5.csv`) at the model's version: they cannot
    /// drift from the data when the constants change.
    #[test]
    fn the_calibrated_figures_are_those_of_the_committed_corpus() {
        let csv = include_str!("../../bench/calibration/ecp5.csv");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (tag, met, pred, routed) = (
            col("delay_model"),
            col("met"),
            col("predicted_ns"),
            col("routed_ns"),
        );
        let rows: Vec<Vec<&str>> = lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|r| r[tag] == ECP5_MODEL_VERSION)
            .collect();
        assert!(
            rows.len() >= 30,
            "the corpus at {ECP5_MODEL_VERSION} has {} runs",
            rows.len()
        );
        let met_pct =
            100.0 * rows.iter().filter(|r| r[met] == "1").count() as f64 / rows.len() as f64;
        let mut margins: Vec<f64> = rows
            .iter()
            .map(|r| {
                100.0 * (r[pred].parse::<f64>().unwrap() / r[routed].parse::<f64>().unwrap() - 1.0)
            })
            .collect();
        margins.sort_by(f64::total_cmp);
        let n = margins.len();
        let median = if n % 2 == 1 {
            margins[n / 2]
        } else {
            (margins[n / 2 - 1] + margins[n / 2]) / 2.0
        };
        assert!(
            (met_pct - ECP5_CORPUS_MET_PCT).abs() < 0.05,
            "the corpus meets {met_pct:.1}% of its clocks; ECP5_CORPUS_MET_PCT says {ECP5_CORPUS_MET_PCT}"
        );
        assert!(
            (median - ECP5_CORPUS_MARGIN_PCT).abs() < 0.05,
            "the corpus' median margin is {median:+.1}%; ECP5_CORPUS_MARGIN_PCT says {ECP5_CORPUS_MARGIN_PCT}"
        );
    }
}
