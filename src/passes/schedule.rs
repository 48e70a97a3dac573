//! Pipelining: assigns every node a pipeline stage so that each stage's combinational delay
//! fits the clock period. Initiation interval 1; the latency is the number of stages.
//!
//! The delay model is an explicit, documented estimate for a Xilinx UltraScale+-class FPGA
//! (LUT6 + CARRY8, with an allowance for routing); see `docs/timing-model.md`.

use crate::ir::netlist::{Netlist, Op};

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
            Target::LatticeEcp5 => DelayModel {
                register_overhead_ns: 2.35,
                adder_base_ns: 2.1,
                adder_per_bit_ns: 0.05,
                mux_ns: 0.2,
                saturate_ns: 7.25,
                saturate_narrow_bits: 1,
                fanout_ns_per_log2: 0.75,
                cmp_extra_ns: 3.7,
                dsp_ns: 9.35,
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
                source: "calibrated against Yosys synth_ecp5 + nextpnr-ecp5 (router2, seed 1) \
                         on bench/calibration/ecp5.csv (bench/calibrate_ecp5.sh), see \
                         docs/timing-model.md"
                    .into(),
            },
        }
    }
}

/// Tag of the ECP5 delay model (the calibration CSV's `delay_model` column).
pub const ECP5_MODEL_VERSION: &str = "ecp5-v2";
/// Tag of the UltraScale+ delay model.
pub const XILINX_MODEL_VERSION: &str = "xilinx-v0-estimate";
/// Share of the calibration corpus' runs (at `ECP5_MODEL_VERSION`) whose routed Fmax meets
/// the clock the compiler promised, %.
pub const ECP5_CORPUS_MET_PCT: f64 = 0.0;
/// Median over the corpus of routed Fmax / predicted Fmax − 1, % (positive: faster than
/// predicted).
pub const ECP5_CORPUS_MARGIN_PCT: f64 = 0.0;

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
    /// Where the constants come from.
    pub source: String,
}

impl DelayModel {
    /// Delay of a saturating cast's overflow test and select, for a result of `width` bits.
    fn saturation(&self, plan: &crate::ir::netlist::CastPlan, width: u32) -> f64 {
        if plan.rounded.width() <= width + self.saturate_narrow_bits {
            self.mux_ns
        } else {
            self.saturate_ns
        }
    }

    fn adder(&self, width: u32) -> f64 {
        self.adder_base_ns + self.adder_per_bit_ns * width as f64
    }

    /// Combinational delay of one node on its own, its operands straight from registers.
    pub fn delay(&self, net: &Netlist, i: usize) -> f64 {
        let n = &net.nodes[i];
        match &n.op {
            Op::Input { .. } | Op::Const { .. } => 0.0,
            Op::Add { .. } | Op::Neg { .. } => self.adder(n.width()),
            Op::Relu { .. } => self.mux_ns,
            Op::Cmp { .. } | Op::Mux { .. } | Op::Mul { .. } | Op::Table { .. } => {
                self.extra_op_delay(net, i)
            }
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                (if plan.round_inc {
                    self.adder(n.width() + 1)
                } else {
                    0.0
                }) + if plan.saturates() {
                    self.saturation(&plan, n.width())
                } else {
                    0.0
                }
            }
        }
    }

    /// The timing of every node of a netlist (see [`Timing`]).
    pub fn timing(&self, net: &Netlist) -> Timing {
        let n = net.nodes.len();
        let c = self.adder_per_bit_ns;
        let mut t = Timing {
            own: vec![0.0; n],
            diag: vec![false; n],
            finish: vec![0.0; n],
            select: vec![false; n],
            dropped: vec![0; n],
            per_bit: c,
        };
        // Cells reading each node (constants are not nets).
        let mut fanout = vec![0u32; n];
        if self.fanout_ns_per_log2 > 0.0 {
            for node in &net.nodes {
                let mut seen: Vec<usize> = vec![];
                for a in Netlist::args(&node.op) {
                    let a = a.index();
                    if !seen.contains(&a) && !matches!(net.nodes[a].op, Op::Const { .. }) {
                        seen.push(a);
                        fanout[a] += 1;
                    }
                }
            }
        }
        for i in 0..n {
            let node = &net.nodes[i];
            let (own, diag, select) = match &node.op {
                Op::Input { .. } | Op::Const { .. } => (0.0, false, false),
                Op::Add { .. } | Op::Neg { .. } => (self.adder_base_ns, true, false),
                Op::Relu { .. } => (self.mux_ns, false, true),
                Op::Cmp { .. } | Op::Mux { .. } | Op::Mul { .. } | Op::Table { .. } => {
                    (self.extra_op_delay(net, i), false, true)
                }
                Op::Cast { a, to } => {
                    let plan = net.cast_plan(a, to);
                    t.dropped[i] = (-plan.shift).max(0) as u32;
                    let inc = if plan.round_inc {
                        self.adder_base_ns
                    } else {
                        0.0
                    };
                    if plan.saturates() {
                        (inc + self.saturation(&plan, node.width()), false, true)
                    } else {
                        (inc, plan.round_inc || t.diag[a.node.index()], false)
                    }
                }
            };
            // The cell waits for its slowest-routed operand net.
            let own = if own > 0.0 && self.fanout_ns_per_log2 > 0.0 {
                own + self.fanout_ns_per_log2
                    * Netlist::args(&node.op)
                        .map(|a| (fanout[a.index()].max(1) as f64).log2())
                        .fold(0.0, f64::max)
            } else {
                own
            };
            t.own[i] = own;
            t.diag[i] = diag;
            t.select[i] = select;
            t.finish[i] = if diag { c * node.width() as f64 } else { 0.0 };
        }
        t
    }
}

/// Arrival times in a stage, with carry chains that overlap.
///
/// A ripple-carry adder's bit `j` is ready `base + j·c` after its operands' bit `j`, so in a
/// tree of adders the carries run diagonally: bit `j` of a value computed in the stage arrives at
/// `t0 + j·c`, where `t0` (the time of bit 0) grows by one `base` per adder level and the carry
/// chain is paid once, by the value's own width, not once per level. A node that selects on its
/// operand's sign or magnitude (ReLU, saturation, comparison, multiplexer, table, multiplier)
/// waits for the operand's MSB and then sets all its bits at once.
#[derive(Clone, Debug)]
pub struct Timing {
    /// `t0` of the node when its operands come from registers (all bits at time 0).
    pub own: Vec<f64>,
    /// Bits arrive diagonally (`t0 + j·c`), else all at `t0`.
    pub diag: Vec<bool>,
    /// `c · width` for diagonal nodes: the MSB arrives at `t0 + finish`.
    pub finish: Vec<f64>,
    /// Waits for its operand's MSB.
    select: Vec<bool>,
    /// Low bits a cast drops (its bit 0 is the operand's bit `dropped`).
    dropped: Vec<u32>,
    per_bit: f64,
}

impl Timing {
    /// `t0` of node `i` when operand `a` is computed in the same stage with bit 0 at `t0_a`.
    pub fn through(&self, net: &Netlist, a: usize, t0_a: f64, i: usize) -> f64 {
        if !self.diag[a] {
            return t0_a + self.own[i];
        }
        let wait = if self.select[i] {
            self.per_bit * net.nodes[a].width() as f64
        } else {
            self.per_bit * self.dropped[i].min(net.nodes[a].width()) as f64
        };
        t0_a + wait + self.own[i]
    }
    /// `t0` of node `i` in a stage, given the `t0` of its operands computed in that stage.
    fn start(&self, net: &Netlist, i: usize, stage: &[u32], t0: &[f64]) -> f64 {
        let mut t = self.own[i];
        for a in operands(net, i) {
            if stage[a] == stage[i] && !is_free(net, a) {
                t = t.max(self.through(net, a, t0[a], i));
            }
        }
        t
    }
}

/// The pipeline: a stage per node and the number of stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub clock_ns: f64,
    /// Stage of each node (constants: 0, they need no registers).
    pub stage: Vec<u32>,
    /// Number of register ranks from input to output: the latency in cycles (≥ 1).
    pub latency: u32,
    /// Estimated critical combinational delay of the slowest stage.
    pub critical_ns: f64,
    /// Fan-out limit of a pipeline register (readers per copy; 0: no limit). See
    /// [`Schedule::fanout_plan`].
    pub max_fanout: u32,
}

/// Longest pipeline rtl4ml builds, in cycles (`--latency-cycles`, `--budget-cycles`, a manifest
/// or a report.json): every register rank costs a copy of the live values, and a Level-1
/// trigger design never needs more.
pub const MAX_LATENCY_CYCLES: u32 = 1024;

/// Default fan-out limit of a pipeline register (`--max-fanout`).
pub const DEFAULT_MAX_FANOUT: u32 = 32;

/// Duplicated pipeline registers: a register (a node's value `d ≥ 1` stages after its stage)
/// read by more than `max_fanout` loads is built `⌈loads / max_fanout⌉` times, each copy
/// driving at most `max_fanout` of them. The loads are, in this order: the next register of the
/// chain, the output bus, then the reading nodes by index; copy `k` takes loads
/// `k·max_fanout ..`. Every copy reads the previous register of the chain (or the node itself).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FanoutPlan {
    /// Copies of register `(node, delay)`, when more than one.
    pub copies: std::collections::BTreeMap<(usize, u32), u32>,
    /// The copy a reading node reads of an operand, when not copy 0: `(reader, operand)`.
    pub pick: std::collections::HashMap<(usize, usize), u32>,
}

impl FanoutPlan {
    pub fn copies(&self, node: usize, delay: u32) -> u32 {
        self.copies.get(&(node, delay)).copied().unwrap_or(1)
    }
    pub fn pick(&self, reader: usize, operand: usize) -> u32 {
        self.pick.get(&(reader, operand)).copied().unwrap_or(0)
    }
    /// Flip-flops the copies add (full register width each).
    pub fn extra_bits(&self, net: &Netlist) -> u64 {
        self.copies
            .iter()
            .map(|(&(i, _), &c)| (c as u64 - 1) * net.nodes[i].width() as u64)
            .sum()
    }
}

impl Schedule {
    /// Which pipeline registers are duplicated, and which copy each reader takes.
    pub fn fanout_plan(&self, net: &Netlist) -> FanoutPlan {
        let mut plan = FanoutPlan::default();
        let limit = self.max_fanout as usize;
        if limit == 0 {
            return plan;
        }
        let n = net.nodes.len();
        let is_const = |i: usize| matches!(net.nodes[i].op, Op::Const { .. });
        // Readers of each node at each delay, by index.
        let mut loads: Vec<std::collections::BTreeMap<u32, Vec<usize>>> =
            vec![Default::default(); n];
        for r in 0..n {
            let mut seen: Vec<usize> = vec![];
            for a in Netlist::args(&net.nodes[r].op) {
                let a = a.index();
                if is_const(a) || seen.contains(&a) {
                    continue;
                }
                seen.push(a);
                let d = self.stage[r] - self.stage[a];
                if d > 0 {
                    loads[a].entry(d).or_default().push(r);
                }
            }
        }
        let mut out_delay: Vec<Option<u32>> = vec![None; n];
        for (e, _) in net.output_elements() {
            if !is_const(e.index()) {
                out_delay[e.index()] = Some(self.latency - self.stage[e.index()]);
            }
        }
        for i in 0..n {
            let last = loads[i]
                .keys()
                .copied()
                .chain(out_delay[i])
                .max()
                .unwrap_or(0);
            for d in 1..=last {
                let fixed = (d < last) as usize + (out_delay[i] == Some(d)) as usize;
                let readers = loads[i].get(&d).map(|v| v.as_slice()).unwrap_or(&[]);
                let total = fixed + readers.len();
                if total <= limit {
                    continue;
                }
                plan.copies.insert((i, d), total.div_ceil(limit) as u32);
                for (k, &r) in readers.iter().enumerate() {
                    let c = ((fixed + k) / limit) as u32;
                    if c > 0 {
                        plan.pick.insert((r, i), c);
                    }
                }
            }
        }
        plan
    }
}

/// Schedules for a fixed number of stages: the shortest clock period (from the delay model)
/// whose schedule needs at most `cycles` stages. With `clock_ns`, that period is used and must
/// fit in `cycles` stages. Extra stages are not just output registers: the registers are placed
/// over all `cycles` stages with the fewest bits (see [`schedule`]).
pub fn schedule_for_latency(
    net: &Netlist,
    cycles: u32,
    clock_ns: Option<f64>,
    model: &DelayModel,
) -> Result<Schedule, String> {
    if cycles == 0 {
        return Err("the latency must be at least 1 cycle (the output register)".into());
    }
    if cycles > MAX_LATENCY_CYCLES {
        return Err(format!(
            "a latency of {cycles} cycles is more than the {MAX_LATENCY_CYCLES} cycles rtl4ml \
             builds (a trigger-path design needs far fewer; use a slower clock instead)"
        ));
    }
    let timing = model.timing(net);
    let fewest = |clock: f64| {
        let budget = (clock - model.register_overhead_ns).max(0.0);
        latency_of(net, &asap(net, &timing, budget))
    };
    let clock = match clock_ns {
        Some(c) => c,
        None => {
            // Bisection on the period: latency is non-increasing in the period.
            let longest_op = (0..net.nodes.len())
                .map(|i| timing.own[i] + timing.finish[i])
                .fold(0.0, f64::max);
            let total = critical(net, &timing, &vec![0; net.nodes.len()]).unwrap_or(0.0);
            let (mut lo, mut hi) = (
                longest_op + model.register_overhead_ns,
                total + model.register_overhead_ns + 1e-6,
            );
            for _ in 0..50 {
                let mid = 0.5 * (lo + hi);
                if fewest(mid) <= cycles {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        }
    };
    let needed = fewest(clock);
    if needed > cycles {
        return Err(format!(
            "the design needs {needed} cycles at a {clock:.3} ns clock, more than the {cycles} requested; use a slower clock or allow more cycles"
        ));
    }
    Ok(place(net, clock, model, &timing, cycles))
}

/// Schedules for the clock: ASAP finds the fewest stages; the registers are then placed over
/// that many stages with the fewest bits (`passes::retime`, a minimum cut over all boundaries
/// at once), e.g. at a layer's inputs or its activations rather than through many partial sums.
pub fn schedule(net: &Netlist, clock_ns: f64, model: &DelayModel) -> Schedule {
    let budget = (clock_ns - model.register_overhead_ns).max(0.0);
    let timing = model.timing(net);
    let latency = latency_of(net, &asap(net, &timing, budget));
    place(net, clock_ns, model, &timing, latency)
}

/// The fewest register bits in exactly `latency` stages (≥ the ASAP latency); falls back to
/// ASAP (with output registers) when the minimum cut finds nothing that meets the clock.
fn place(
    net: &Netlist,
    clock_ns: f64,
    model: &DelayModel,
    timing: &Timing,
    latency: u32,
) -> Schedule {
    let budget = (clock_ns - model.register_overhead_ns).max(0.0);
    let mut best = asap(net, timing, budget);
    let asap_crit = critical(net, timing, &best).unwrap_or(f64::INFINITY);
    if let Some(cut) = super::retime::min_register_stages(net, timing, budget, latency) {
        if critical(net, timing, &cut).is_some_and(|c| c <= budget + 1e-9 || c <= asap_crit)
            && latency_of(net, &cut) <= latency
            && register_bits(net, &cut, latency) < register_bits(net, &best, latency)
        {
            best = cut;
        }
    }
    let crit = critical(net, timing, &best).unwrap_or(f64::INFINITY);
    Schedule {
        clock_ns,
        stage: best,
        latency,
        critical_ns: crit + model.register_overhead_ns,
        max_fanout: 0,
    }
}

fn is_free(net: &Netlist, i: usize) -> bool {
    matches!(net.nodes[i].op, Op::Const { .. } | Op::Input { .. })
}

/// Non-constant operands of a node.
fn operands(net: &Netlist, i: usize) -> impl Iterator<Item = usize> + '_ {
    Netlist::args(&net.nodes[i].op)
        .map(|a| a.index())
        .filter(move |&a| !matches!(net.nodes[a].op, Op::Const { .. }))
}

fn latency_of(net: &Netlist, stage: &[u32]) -> u32 {
    net.output_elements()
        .iter()
        .map(|(e, _)| stage[e.index()])
        .max()
        .unwrap_or(0)
        + 1
}

/// Each node in the earliest stage where it fits the budget after its operands.
fn asap(net: &Netlist, timing: &Timing, budget: f64) -> Vec<u32> {
    let n = net.nodes.len();
    let mut stage = vec![0u32; n];
    let mut t0 = vec![0f64; n];
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        stage[i] = operands(net, i).map(|a| stage[a]).max().unwrap_or(0);
        let t = timing.start(net, i, &stage, &t0);
        // A node too slow on its own stays where moving it would not help.
        if t + timing.finish[i] <= budget + 1e-9 || t <= timing.own[i] {
            t0[i] = t;
        } else {
            stage[i] += 1;
            t0[i] = timing.own[i];
        }
    }
    stage
}

/// Critical combinational delay (the latest MSB) of a stage assignment; `None` when an operand
/// sits in a later stage than its reader.
pub fn critical(net: &Netlist, timing: &Timing, stage: &[u32]) -> Option<f64> {
    let n = net.nodes.len();
    let mut t0 = vec![0f64; n];
    let mut worst: f64 = 0.0;
    for i in 0..n {
        if is_free(net, i) {
            continue;
        }
        if operands(net, i).any(|a| stage[a] > stage[i]) {
            return None;
        }
        t0[i] = timing.start(net, i, stage, &t0);
        worst = worst.max(t0[i] + timing.finish[i]);
    }
    Some(worst)
}

/// The bits of each node's wire that some reader (or the output bus) reads: the span from the
/// lowest to the highest bit read, as the Verilog writer reads them. A register only needs
/// these bits; the others go to the lint sink and synthesis removes their flip-flops. The
/// bits below the span are the low bits a truncating cast drops (all of them under TRN, all
/// but the rounding bit under RND); bits above it are those an adder, a multiplexer or a
/// wrapping cast cuts off. Other readers (ReLU, comparisons, tables, multipliers) read
/// everything.
pub fn live_widths(net: &Netlist) -> Vec<u32> {
    use crate::ir::fixed::Round;
    let n = net.nodes.len();
    // Lowest and highest bit read, per node (`lo > hi`: nothing read).
    let mut lo = vec![u32::MAX; n];
    let mut hi = vec![0u32; n];
    let mut read = |x: usize, a: u32, b: u32| {
        lo[x] = lo[x].min(a);
        hi[x] = hi[x].max(b);
    };
    for (e, _) in net.output_elements() {
        read(e.index(), 0, net.nodes[e.index()].width() - 1);
    }
    for i in 0..n {
        let node = &net.nodes[i];
        let w = node.width();
        let ws = |o: &crate::ir::netlist::Operand| net.node(o.node).width();
        // An operand shifted left by `s` and extended or cut to `w` bits.
        let shifted = |o: &crate::ir::netlist::Operand, w: u32| -> Option<(u32, u32)> {
            let s = (node.frac - net.operand_frac(o)).max(0) as u32;
            (s < w).then(|| (0, (w - s).min(ws(o)) - 1))
        };
        let mut spans: Vec<(usize, Option<(u32, u32)>)> = vec![];
        match &node.op {
            Op::Input { .. } | Op::Const { .. } => {}
            Op::Add { a, b, .. } => {
                spans.push((a.node.index(), shifted(a, w)));
                spans.push((b.node.index(), shifted(b, w)));
            }
            Op::Neg { a } => spans.push((a.node.index(), shifted(a, w))),
            Op::Mux { c, a, b } => {
                spans.push((c.index(), Some((0, 0))));
                spans.push((a.node.index(), shifted(a, w)));
                spans.push((b.node.index(), shifted(b, w)));
            }
            Op::Relu { a } | Op::Table { a, .. } => {
                spans.push((a.index(), Some((0, net.node(*a).width() - 1))))
            }
            Op::Cmp { x: a, y: b } | Op::Mul { a, b, .. } => {
                spans.push((a.node.index(), Some((0, ws(a) - 1))));
                spans.push((b.node.index(), Some((0, ws(b) - 1))));
            }
            Op::Cast { a, to } => {
                let plan = net.cast_plan(a, to);
                let wa = ws(a);
                let wr = if plan.saturates() {
                    plan.rounded.width()
                } else {
                    plan.rounded.width().min(w)
                };
                let signed = net.node(a.node).signed();
                let span = if plan.shift >= 0 {
                    let s = plan.shift as u32;
                    (s < wr).then(|| (0, (wr - s).min(wa) - 1))
                } else {
                    let d = ((-plan.shift) as u32).min(wa + 1);
                    // The floor's bits, and the sign when it is extended.
                    let top = if d < wa && wa - d >= wr {
                        d + wr - 1
                    } else {
                        wa - 1
                    };
                    let bottom = if !plan.round_inc {
                        d
                    } else if to.round == Round::Rnd {
                        d - 1
                    } else {
                        0
                    };
                    let bottom = bottom.min(wa - 1);
                    let top = if signed && d < wa && wa - d < wr {
                        wa - 1
                    } else {
                        top
                    };
                    Some((bottom.min(top), top.min(wa - 1)))
                };
                spans.push((a.node.index(), span));
            }
        }
        for (x, span) in spans {
            if let Some((a, b)) = span {
                read(x, a, b);
            }
        }
    }
    (0..n)
        .map(|i| if lo[i] > hi[i] { 0 } else { hi[i] - lo[i] + 1 })
        .collect()
}

/// Register bits a stage assignment needs: every value is held from its stage until the stage of
/// its last reader (outputs: until the output register), its live bits (see [`live_widths`])
/// once per boundary.
pub fn register_bits(net: &Netlist, stage: &[u32], latency: u32) -> u64 {
    let live = live_widths(net);
    let n = net.nodes.len();
    let mut last = vec![0u32; n];
    for (node, &s) in net.nodes.iter().zip(stage) {
        for a in Netlist::args(&node.op) {
            last[a.index()] = last[a.index()].max(s);
        }
    }
    for (e, _) in net.output_elements() {
        last[e.index()] = latency;
    }
    (0..n)
        .filter(|&i| !matches!(net.nodes[i].op, Op::Const { .. }))
        .map(|i| last[i].saturating_sub(stage[i]) as u64 * live[i] as u64)
        .sum()
}
