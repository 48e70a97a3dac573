//! The command line: thin wrappers over the library.

use crate::flow::{self, ClockChoice, Options};
use crate::sim::stream::{simulate_to_file, SimInput};
use crate::sim::{io, Simulator};
use crate::verify::{self, VerifyOptions};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The reader of stdout went away (`rtl4ml report --json | head`): the command stops quietly
/// and exits 0 (`main` says nothing); see docs/reliability.md "Round 2: files".
#[derive(Debug)]
pub struct BrokenPipe;

impl std::fmt::Display for BrokenPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for BrokenPipe {}

/// Writes to stdout; a closed pipe becomes [`BrokenPipe`] instead of a panic.
pub fn write_stdout(args: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_fmt(args).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe.into()),
        Err(e) => Err(anyhow::anyhow!("writing to stdout: {e}")),
    }
}

/// Writes to stderr, ignoring a closed pipe (a message nobody can read is not an error).
pub fn write_stderr(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` that never panics on a closed pipe (returns [`BrokenPipe`] from the command).
macro_rules! out {
    ($($t:tt)*) => { write_stdout(format_args!($($t)*))? };
}
/// `println!` that never panics on a closed pipe.
macro_rules! outln {
    ($($t:tt)*) => { write_stdout(format_args!("{}\n", format_args!($($t)*)))? };
}
/// `eprintln!` that never panics on a closed pipe.
macro_rules! note {
    ($($t:tt)*) => { write_stderr(format_args!("{}\n", format_args!($($t)*))) };
}
/// `eprint!` that never panics on a closed pipe.
macro_rules! note_raw {
    ($($t:tt)*) => { write_stderr(format_args!($($t)*)) };
}

#[derive(Parser, Debug)]
#[command(
    name = "rtl4ml",
    version,
    about = "Quantized neural networks → pipelined Verilog, with a bit-accurate simulator"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a model to Verilog with its latency and resource report.
    Compile {
        /// Model file: native JSON (docs/model-format.md) or QONNX `.onnx` (docs/qonnx.md).
        model: PathBuf,
        /// Output directory (replaced if it is an earlier rtl4ml build).
        #[arg(short, long)]
        output: PathBuf,
        /// Target clock period in ns (default 4.0; with --latency-cycles N alone, 4.0 when the
        /// cycles fit at it, else the period with the fewest registers among those shorter
        /// than the shortest that fits N - 1 cycles).
        #[arg(long, allow_negative_numbers = true, value_parser = clock_ns_arg)]
        clock_ns: Option<f64>,
        /// Exact latency in cycles, 1 to 1024 (an error when the clock cannot be met in that
        /// many).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::ir::schedule::MAX_LATENCY_CYCLES as i64))]
        latency_cycles: Option<u32>,
        /// With --latency-cycles N: the shortest clock at which the N cycles fit (the highest
        /// Fmax for that latency; stages balanced in ns, so usually more registers than the
        /// default choice). Every stage is then at the delay model's limit: on ECP5 confirm it
        /// with `rtl4ml synth --pnr ecp5` (docs/timing-model.md, held-out builds).
        #[arg(long, requires = "latency_cycles", conflicts_with = "clock_ns")]
        fastest_clock: bool,
        /// Latency budget in ns: the fewest cycles whose clock fits, at the clock budget/cycles
        /// (docs/timing-model.md).
        #[arg(long, conflicts_with_all = ["clock_ns", "latency_cycles"])]
        latency_ns: Option<f64>,
        /// FPGA family whose delay model places the pipeline registers.
        #[arg(long, value_enum, default_value_t = crate::target::Target::XilinxUltrascalePlus)]
        target: crate::target::Target,
        /// Top module name (default: the model's name, sanitised).
        #[arg(long)]
        top: Option<String>,
        /// Do not print the report table.
        #[arg(long, short)]
        quiet: bool,
        /// Do not share shift-and-add subexpressions between outputs (for comparison).
        #[arg(long)]
        no_share: bool,
        /// Duplicate a pipeline register read by more than N cells (0: never); see
        /// docs/timing-model.md.
        #[arg(long, default_value_t = crate::ir::schedule::DEFAULT_MAX_FANOUT)]
        max_fanout: u32,
        /// Hard multipliers for products of two variables: never (LUTs), auto (those that
        /// fit one DSP48E2, 27x18 signed), always (also split wider ones); see
        /// docs/resource-model.md.
        #[arg(long, value_enum, default_value_t = crate::passes::lower::DspPolicy::Never)]
        dsp: crate::passes::lower::DspPolicy,
        /// What to print on stdout: the report table (default) or the scheduled netlist as
        /// stable text (one line per node; docs/testing.md).
        #[arg(long, value_enum, default_value_t = Emit::Report)]
        emit: Emit,
        /// Print the netlist as text on stderr after this pass of the pipeline (debugging;
        /// passes: lower, dce, trim, schedule, fanout; docs/testing.md).
        #[arg(long, value_enum)]
        dump_after: Option<crate::passes::pipeline::Pass>,
        /// Post-training quantization of a float ONNX model: one default type for every
        /// input, weight, bias, accumulator and result the model leaves unquantized
        /// (hls4ml-style, e.g. 'fixed<16,6>'; docs/ptq.md).
        #[arg(long, conflicts_with = "precision_file")]
        precision: Option<String>,
        /// Post-training quantization with per-input and per-layer types: a JSON file
        /// {"default": T, "inputs": {...}, "layers": {...}} (docs/ptq.md).
        #[arg(long)]
        precision_file: Option<PathBuf>,
        /// Saturating (SAT, SAT_SYM, SAT_NARROW) accumulators that may saturate: chain (one
        /// saturating adder per input, in order) or tree (the clamps composed in a tree:
        /// fewer cycles, more LUTs); same values; see docs/model-format.md (dense).
        #[arg(long, value_enum, default_value_t = crate::passes::lower::SatAccum::Chain)]
        sat_accum: crate::passes::lower::SatAccum,
    },
    /// Run the bit-accurate simulator on a .npy batch.
    Sim {
        /// Model file: native JSON or QONNX `.onnx`.
        model: PathBuf,
        /// Input .npy: floats are cast to the input types; integers are raw mantissas.
        #[arg(long)]
        input: PathBuf,
        /// Output .npy (float64 values, or int64 mantissas with --raw).
        #[arg(long)]
        output: PathBuf,
        /// Write raw integer mantissas instead of values.
        #[arg(long)]
        raw: bool,
        /// Post-training quantization of a float ONNX model: one default type for every
        /// input, weight, bias, accumulator and result the model leaves unquantized
        /// (hls4ml-style, e.g. 'fixed<16,6>'; docs/ptq.md).
        #[arg(long, conflicts_with = "precision_file")]
        precision: Option<String>,
        /// Post-training quantization with per-input and per-layer types: a JSON file
        /// {"default": T, "inputs": {...}, "layers": {...}} (docs/ptq.md).
        #[arg(long)]
        precision_file: Option<PathBuf>,
    },
    /// Build the design in Verilator (and Icarus) and compare it bit for bit with the simulator.
    Verify {
        /// A directory written by `rtl4ml compile`.
        dir: PathBuf,
        /// Number of random vectors (corner cases are added).
        #[arg(long, default_value_t = 10_000)]
        vectors: usize,
        /// Vectors for the Icarus second opinion (0 skips it).
        #[arg(long, default_value_t = 64)]
        icarus: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip `verilator --lint-only -Wall`.
        #[arg(long)]
        no_lint: bool,
        /// No progress spinner for the Verilator and Icarus steps (none is drawn when
        /// stderr is not a terminal either).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Choose fixed-point widths: least estimated LUT + FF within an accuracy tolerance on
    /// calibration data and a latency budget (docs/optimize.md).
    Optimize {
        /// Model file (native JSON).
        model: PathBuf,
        /// Calibration inputs (.npy, [N, inputs]): floats cast to the input types, or raw
        /// integer mantissas.
        #[arg(long)]
        calib: PathBuf,
        /// The optimised model (native JSON); the Pareto report goes next to it
        /// (`<stem>.pareto.json`, `.csv`, `.svg`).
        #[arg(short, long)]
        output: PathBuf,
        /// Clock period in ns the designs are scheduled for.
        #[arg(long, default_value_t = 4.0, allow_negative_numbers = true, value_parser = clock_ns_arg)]
        clock_ns: f64,
        /// Latency budget in ns (rounded down to whole cycles of --clock-ns).
        #[arg(long, conflicts_with = "budget_cycles", allow_negative_numbers = true, value_parser = budget_ns_arg)]
        budget_ns: Option<f64>,
        /// Latency budget in cycles, 1 to 1024.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::ir::schedule::MAX_LATENCY_CYCLES as i64))]
        budget_cycles: Option<u32>,
        /// Accuracy tolerance against the original model: a number or a percentage.
        #[arg(long, default_value = "0.5%")]
        tolerance: crate::optimize::metric::Tolerance,
        #[arg(long, value_enum, default_value_t = crate::optimize::metric::Metric::Argmax)]
        metric: crate::optimize::metric::Metric,
        /// FPGA family whose delay model places the pipeline registers.
        #[arg(long, value_enum, default_value_t = crate::target::Target::XilinxUltrascalePlus)]
        target: crate::target::Target,
        /// True classes of the calibration samples (.npy of N integers): the summary then
        /// shows the accuracy before and after (the class is the argmax of the first output,
        /// or its value when it has one element). The search itself compares with the
        /// original model, never with the labels.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Keep the weights as they are (no weight bits dropped).
        #[arg(long)]
        keep_weights: bool,
        /// Only narrow losslessly: outputs stay bit-identical on every input in range.
        #[arg(long)]
        lossless_only: bool,
        /// Also narrow the integer bits of ReLU, quantize and pooling results to the ranges
        /// the calibration set reaches times this factor (≥ 1), saturating beyond them; the
        /// report marks these types `(observed ×M)`. Outputs stay identical on the
        /// calibration set, not proved elsewhere.
        #[arg(long)]
        observed_margin: Option<f64>,
        /// Do not print the summary.
        #[arg(long, short)]
        quiet: bool,
        /// Hold out this fraction of the calibration samples (the last ones) from the search
        /// and report the metric and the argmax agreement on them separately.
        #[arg(long)]
        validation: Option<f64>,
        /// Retraining moves (docs/optimize.md, "Retraining"): fine-tune the weights and
        /// biases against --labels under the widths being chosen, interleaved with the width
        /// search (narrow, fine-tune, narrow, ...). --tolerance is then the allowed drop of
        /// the accuracy on the held-out --validation split (default 0.25) against the start.
        #[arg(long, conflicts_with = "lossless_only")]
        retrain: bool,
        /// With --retrain: passes over the training samples per fine-tune.
        #[arg(long, requires = "retrain", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
        epochs: u32,
        /// With --retrain: Adam's step size, in the weights' own units.
        #[arg(long, requires = "retrain", default_value_t = 1e-3)]
        lr: f64,
        /// With --retrain: samples per mini-batch.
        #[arg(long, requires = "retrain", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        batch_size: u32,
        /// With --retrain: seed of the training sample order (same inputs and seed give a
        /// byte-identical model).
        #[arg(long, requires = "retrain", default_value_t = 1)]
        seed: u64,
        /// With --retrain: the most narrow → fine-tune rounds (it stops earlier after 5
        /// rounds without a cheaper design within the tolerance).
        #[arg(long, requires = "retrain", default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=100))]
        rounds: u32,
        /// With --retrain: the argmax tolerance of each narrowing step against the model it
        /// starts from (a number or a percentage; halved when a round misses the tolerance).
        #[arg(long, requires = "retrain", default_value = "2%")]
        step: crate::optimize::metric::Tolerance,
        /// Post-training quantization of a float ONNX model: one default type for every
        /// input, weight, bias, accumulator and result the model leaves unquantized
        /// (hls4ml-style, e.g. 'fixed<16,6>'; docs/ptq.md).
        #[arg(long, conflicts_with = "precision_file")]
        precision: Option<String>,
        /// Post-training quantization with per-input and per-layer types: a JSON file
        /// {"default": T, "inputs": {...}, "layers": {...}} (docs/ptq.md).
        #[arg(long)]
        precision_file: Option<PathBuf>,
    },
    /// Print a build directory's latency and resource report.
    Report {
        dir: PathBuf,
        /// Print the JSON instead of the table.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Write a self-contained HTML page (tables and plots) instead of the table
        /// (to DIR/report.html unless -o is given).
        #[arg(long)]
        html: bool,
        /// Output file for --html.
        #[arg(short, long, requires = "html")]
        output: Option<PathBuf>,
    },
    /// Synthesise a build directory with Yosys (and place and route it with nextpnr-ecp5) and
    /// record the measured figures next to the estimates in report.json (docs/reports.md).
    Synth {
        /// A directory written by `rtl4ml compile`.
        dir: PathBuf,
        /// Synthesis tool.
        #[arg(long, value_enum, default_value_t = crate::synth::Tool::Yosys)]
        tool: crate::synth::Tool,
        /// Place and route too (ECP5 with nextpnr-ecp5: routed Fmax and latency in ns).
        #[arg(long, value_enum)]
        pnr: Option<crate::synth::Pnr>,
        /// With --pnr ecp5: the LFE5U part (default: the smallest the design fills at most
        /// 70%; the routed Fmax depends on how full it is).
        #[arg(long, value_enum, requires = "pnr")]
        device: Option<crate::synth::Ecp5Device>,
        /// Synthesis target (default: the build's target; lattice-ecp5 with --pnr ecp5).
        /// Xilinx targets are synthesised to 7-series cells, what the cost model is calibrated
        /// against.
        #[arg(long, value_enum)]
        target: Option<crate::target::Target>,
        /// No progress spinner for the Yosys and nextpnr steps (none is drawn when stderr is
        /// not a terminal either).
        #[arg(long, short)]
        quiet: bool,
    },
}

/// What `compile` prints on stdout.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The latency and resource table.
    Report,
    /// The scheduled netlist as text (src/backends/netlist_text.rs).
    Netlist,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Compile {
            model,
            output,
            clock_ns,
            top,
            quiet,
            no_share,
            latency_cycles,
            fastest_clock,
            latency_ns,
            target,
            max_fanout,
            dsp,
            emit,
            dump_after,
            precision,
            precision_file,
            sat_accum,
        } => {
            let t0 = Instant::now();
            flow::check_replaceable_build(&output)?;
            let bytes = crate::input::read(&model, crate::input::MAX_MODEL_BYTES, "model file")?;
            let format = crate::frontend::Format::detect(&model, &bytes);
            let ptq = load_precision(&precision, &precision_file)?;
            let graph = crate::frontend::parse_bytes_with(&model, &bytes, ptq.as_ref())?;
            // A quantized float model is kept as the native model it became (verify and
            // later runs need no precision).
            let quantized = ptq.as_ref().map(|_| {
                let what = precision.clone().map_or_else(
                    || {
                        format!(
                            "--precision-file {}",
                            precision_file.as_ref().expect("a file").display()
                        )
                    },
                    |p| format!("--precision '{p}'"),
                );
                crate::frontend::native_write::write(
                    &graph,
                    Some(&format!(
                        "Post-training quantization of {} with {what} (docs/ptq.md).",
                        model.display()
                    )),
                )
            });
            let mut dump = |pass, net: &crate::ir::netlist::Netlist, sched: Option<&_>| {
                if dump_after == Some(pass) {
                    note_raw!(
                        "; after pass {}\n{}",
                        pass.name(),
                        crate::backends::netlist_text::write(net, sched)
                    );
                }
            };
            let opts = Options {
                clock_ns: clock_ns.unwrap_or(4.0),
                clock_choice: if clock_ns.is_some() {
                    ClockChoice::Given
                } else if fastest_clock {
                    ClockChoice::Fastest
                } else {
                    ClockChoice::PreferGiven
                },
                latency_cycles,
                target,
                top,
                lower: crate::passes::lower::LowerOptions {
                    share: !no_share,
                    dsp,
                    sat_accum,
                },
                max_fanout,
                allow_slow_stages: false,
            };
            let design = match latency_ns {
                Some(t) => flow::compile_for_latency_ns(graph, &opts, t, &mut dump),
                None => flow::compile_observed(graph, &opts, &mut dump),
            }
            .with_context(|| format!("compiling {}", model.display()))?;
            match &quantized {
                Some(text) => flow::write_dir_with_model(
                    &design,
                    crate::frontend::Format::Native.build_file_name(),
                    text.as_bytes(),
                    &output,
                )?,
                None => {
                    flow::write_dir_with_model(&design, format.build_file_name(), &bytes, &output)?
                }
            }
            if emit == Emit::Netlist {
                out!(
                    "{}",
                    crate::backends::netlist_text::write(&design.net, Some(&design.schedule))
                );
            } else if !quiet {
                out!("{}", crate::report::format_table(&design.report));
            }
            note!(
                "wrote {} in {:.1} ms",
                output.display(),
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
        Command::Sim {
            model,
            input,
            output,
            raw,
            precision,
            precision_file,
        } => {
            check_outputs(
                &[("--output", &output)],
                &[
                    ("MODEL", Some(&model)),
                    ("--input", Some(&input)),
                    ("--precision-file", precision_file.as_deref()),
                ],
            )?;
            let ptq = load_precision(&precision, &precision_file)?;
            let bytes = crate::input::read(&model, crate::input::MAX_MODEL_BYTES, "model file")?;
            let graph = crate::frontend::parse_bytes_with(&model, &bytes, ptq.as_ref())?;
            // Open the data first: a bad header or shape is reported before any compilation;
            // the samples are then read, simulated and written a chunk at a time.
            let in_types = graph.input_types();
            let data = SimInput::open(&input, &in_types)?;
            // The netlist the Verilog is written from, unscheduled: pipeline registers only
            // delay, so no clock (nor a clock the design cannot meet) enters the simulation.
            let net = crate::passes::pipeline::netlist(&graph, &Options::default().lower)
                .with_context(|| format!("compiling {}", model.display()))?;
            let sim = Simulator::new(&net);
            let out_types: Vec<_> = net.output_types();
            let (n, dt) = simulate_to_file(&sim, data, &in_types, &out_types, &output, raw)?;
            note!(
                "simulated {} samples in {:.3} s ({:.0} samples/s)",
                n,
                dt,
                n as f64 / dt.max(1e-9)
            );
        }
        Command::Verify {
            dir,
            vectors,
            icarus,
            seed,
            no_lint,
            quiet,
        } => {
            crate::external::set_quiet(quiet);
            let b = flow::read_dir(&dir)?;
            let r = verify::verify(
                &b,
                &VerifyOptions {
                    random: vectors,
                    icarus,
                    seed,
                    lint: !no_lint,
                },
            )?;
            out!("{}", r.text);
            outln!("PASS: {} vectors bit-exact", r.vectors);
        }
        Command::Optimize {
            model,
            calib,
            output,
            clock_ns,
            budget_ns,
            budget_cycles,
            tolerance,
            metric,
            target,
            labels: labels_file,
            keep_weights,
            lossless_only,
            observed_margin,
            quiet,
            validation,
            retrain,
            epochs,
            lr,
            batch_size,
            seed,
            rounds,
            step,
            precision,
            precision_file,
        } => {
            use crate::optimize::{self, report, OptimizeOptions};
            if retrain {
                anyhow::ensure!(
                    labels_file.is_some(),
                    "--retrain trains against the true classes: give them with --labels FILE \
                     (.npy of one class index per calibration sample)"
                );
                anyhow::ensure!(
                    metric == optimize::metric::Metric::Argmax,
                    "--retrain measures the accuracy against --labels; --metric {} does not apply",
                    metric.name()
                );
                anyhow::ensure!(
                    lr.is_finite() && lr > 0.0,
                    "--lr {lr}: expected a positive step size"
                );
            }
            let validation = match (retrain, validation) {
                (true, None) => Some(optimize::retrain::DEFAULT_VALIDATION),
                (_, v) => v,
            };
            // Every output is checked before the search: none may be a directory, lack its
            // parent directory or be one of the inputs.
            let [pj, pc, ps] = report::report_paths(&output);
            check_outputs(
                &[
                    ("--output", &output),
                    ("the Pareto report", &pj),
                    ("the Pareto report", &pc),
                    ("the Pareto report", &ps),
                ],
                &[
                    ("MODEL", Some(&model)),
                    ("--calib", Some(&calib)),
                    ("--labels", labels_file.as_deref()),
                    ("--precision-file", precision_file.as_deref()),
                ],
            )?;
            let bytes = crate::input::read(&model, crate::input::MAX_MODEL_BYTES, "model file")?;
            let ptq = load_precision(&precision, &precision_file)?;
            let graph = crate::frontend::parse_bytes_with(&model, &bytes, ptq.as_ref())?;
            let data = io::read_npy(&calib)?;
            let inputs = io::to_mantissas(
                data,
                &graph.input_types(),
                &calib.display().to_string(),
                false,
            )?;
            anyhow::ensure!(
                inputs.nrows() >= 1,
                "{}: no calibration samples (0 rows); the optimizer needs at least one sample",
                calib.display()
            );
            if let (optimize::metric::Metric::Argmax, optimize::metric::Tolerance::Absolute(t)) =
                (metric, tolerance)
            {
                anyhow::ensure!(
                    t <= 1.0,
                    "--tolerance {t}: an argmax tolerance is a fraction of the samples, 0 to 1 \
                     (or a percentage, 0% to 100%)"
                );
            }
            let labels = match &labels_file {
                Some(path) => {
                    let classes = graph.outputs.first().map_or(0, |&t| graph.tensor(t).len());
                    Some(read_labels(path, inputs.nrows(), classes)?)
                }
                None => None,
            };
            // The held-out validation split: the last samples, never seen by the search.
            let all_labels = labels.clone();
            let (inputs, held, labels) = match validation {
                None => (inputs, None, labels),
                Some(f) => {
                    let n = inputs.nrows();
                    let k = (n as f64 * f).round() as usize;
                    anyhow::ensure!(
                        f > 0.0 && f < 1.0 && k >= 1 && k < n,
                        "--validation {f}: expected a fraction in (0, 1) that leaves samples on \
                         both sides ({n} calibration samples)"
                    );
                    let split = n - k;
                    let held = inputs.slice(ndarray::s![split.., ..]).to_owned();
                    let fit = inputs.slice(ndarray::s![..split, ..]).to_owned();
                    (fit, Some(held), labels.map(|l| l[..split].to_vec()))
                }
            };
            let budget_cycles = match budget_ns {
                Some(ns) => {
                    let cycles = (ns / clock_ns + 1e-9).floor();
                    anyhow::ensure!(
                        cycles >= 1.0 && clock_ns > 0.0,
                        "--budget-ns {ns} is less than one {clock_ns} ns clock cycle"
                    );
                    Some(cycles as u32)
                }
                None => budget_cycles,
            };
            let opts = OptimizeOptions {
                metric,
                tolerance,
                compile: Options {
                    clock_ns,
                    target,
                    ..Default::default()
                },
                budget_cycles,
                weights: !keep_weights,
                lossless_only,
                observed_margin,
                progress: !quiet,
            };
            let out = if retrain {
                let (all_y, held) = (
                    all_labels
                        .as_deref()
                        .expect("checked: --retrain has --labels"),
                    held.as_ref().expect("--retrain has a validation split"),
                );
                let frac = |t: optimize::metric::Tolerance, flag: &str| match t {
                    optimize::metric::Tolerance::Percent(p) => Ok(p / 100.0),
                    optimize::metric::Tolerance::Absolute(v) if v <= 1.0 => Ok(v),
                    optimize::metric::Tolerance::Absolute(v) => Err(anyhow::anyhow!(
                        "{flag} {v}: with --retrain a fraction of the samples, 0 to 1 (or a \
                         percentage)"
                    )),
                };
                let split = inputs.nrows();
                let r = optimize::retrain::RetrainOptions {
                    train: optimize::retrain::TrainOptions {
                        epochs: epochs as usize,
                        lr,
                        batch: batch_size as usize,
                        seed,
                        keep_digits: true,
                    },
                    rounds: rounds as usize,
                    step: frac(step, "--step")?,
                    tolerance: frac(tolerance, "--tolerance")?,
                };
                let mut log = |line: &str| {
                    if !quiet {
                        eprintln!("retrain: {line}");
                    }
                };
                optimize::retrain::optimize(
                    &graph,
                    &inputs,
                    &all_y[..split],
                    held,
                    &all_y[split..],
                    &opts,
                    &r,
                    &mut log,
                )
            } else {
                optimize::optimize(&graph, inputs.clone(), &opts)
            }
            .with_context(|| format!("optimizing {}", model.display()))?;
            let reports = report::write_reports(&out, &output)?;
            let held_out = match &held {
                None => None,
                Some(h) => {
                    let y0 = optimize::simulate(&graph, h)?;
                    let y1 = optimize::simulate(&out.optimized, h)?;
                    let r = optimize::metric::Reference::new(&graph, &y0, metric, tolerance);
                    let e = r.evaluate(&out.optimized, &y1).error;
                    let (c0, c1) = (
                        optimize::metric::classes(&graph, &y0),
                        optimize::metric::classes(&out.optimized, &y1),
                    );
                    let same = c0.iter().zip(&c1).filter(|(a, b)| a == b).count();
                    Some((h.nrows(), e, same as f64 / h.nrows() as f64))
                }
            };
            let accuracy = match &labels {
                Some(l) => {
                    let acc = |g: &crate::ir::layers::LayerGraph| -> anyhow::Result<f64> {
                        let y = optimize::simulate(g, &inputs)?;
                        Ok(optimize::metric::label_accuracy(g, &y, l))
                    };
                    Some((acc(&graph)?, acc(&out.optimized)?))
                }
                None => None,
            };
            if !quiet {
                out!("{}", report::summary(&out));
                if let Some((n, e, agree)) = held_out {
                    outln!(
                        "held-out validation ({n} samples the search did not see): {} {}, argmax \
                         agreement {:.2}%",
                        out.metric.name(),
                        out.metric.show(e),
                        agree * 100.0
                    );
                }
                if let Some((before, after)) = accuracy {
                    outln!(
                        "accuracy against {}: {:.2}% → {:.2}% ({} {}samples)",
                        labels_file.as_deref().unwrap_or(Path::new("")).display(),
                        before * 100.0,
                        after * 100.0,
                        inputs.nrows(),
                        if retrain { "training " } else { "" }
                    );
                }
            }
            anyhow::ensure!(
                out.feasible,
                "no explored assignment meets the tolerance and the latency budget (closest: {} cycles, {}); nothing written to {}; see {}",
                out.after.latency_cycles,
                out.metric.show(out.after.error),
                output.display(),
                reports[0].display()
            );
            // A native model's own description is kept (a QONNX model has none).
            let original: serde_json::Value = match crate::frontend::Format::detect(&model, &bytes)
            {
                crate::frontend::Format::Native => serde_json::from_slice(&bytes)?,
                crate::frontend::Format::Qonnx => serde_json::Value::Null,
            };
            let description = format!(
                "Fixed-point widths chosen by `rtl4ml optimize` from {} ({} calibration samples of {}, {}{}, {} ns clock): {} → {} LUT, {} → {} FF, {} → {} cycles.{}{}",
                model.display(),
                out.samples,
                calib.display(),
                if retrain {
                    format!("held-out accuracy drop ≤ {:.2}%", out.limit * 100.0)
                } else {
                    format!("{} ≤ {}", out.metric.name(), out.metric.show(out.limit))
                },
                budget_cycles.map_or(String::new(), |b| format!(", ≤ {b} cycles")),
                clock_ns,
                out.before.lut,
                out.after.lut,
                out.before.ff,
                out.after.ff,
                out.before.latency_cycles,
                out.after.latency_cycles,
                accuracy.map_or(String::new(), |(b, a)| format!(
                    " Accuracy against the labels{}: {:.2}% → {:.2}%.",
                    if retrain {
                        " on the training samples"
                    } else {
                        ""
                    },
                    b * 100.0,
                    a * 100.0
                )) + &held_out.map_or(String::new(), |(n, e, agree)| format!(
                    " Held-out validation ({n} samples): {} {}, argmax agreement {:.2}%.",
                    out.metric.name(),
                    out.metric.show(e),
                    agree * 100.0
                )) + &out.retrained.as_ref().map_or(String::new(), |r| format!(
                    " Weights and biases fine-tuned against {} (--retrain, seed {seed}): held-out \
                     accuracy {:.2}% → {:.2}% ({} samples).",
                    labels_file.as_deref().unwrap_or(Path::new("")).display(),
                    r.start_accuracy * 100.0,
                    (r.start_accuracy - out.after.error) * 100.0,
                    r.validation
                )) + &observed_margin.map_or(String::new(), |m| format!(
                    " Some integer bits come from the ranges observed on the calibration set \
                     times {m}, saturating beyond them: not proved for other inputs."
                )),
                original["description"]
                    .as_str()
                    .map_or(String::new(), |d| format!(" Original description: {d}"))
            );
            let written = crate::frontend::native_write::write(&out.optimized, Some(&description));
            crate::safe_fs::write_atomic(&output, written.as_bytes())?;
            note!(
                "wrote {} and {}",
                output.display(),
                reports
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Command::Report {
            dir,
            json,
            html,
            output,
        } => {
            flow::check_build_dir(&dir)?;
            let path = dir.join("report.json");
            let text = crate::input::read_text(&path, crate::input::MAX_MODEL_BYTES, "report")?;
            let r: crate::report::Report = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            crate::report::check(&r, &path)?;
            if html {
                let mpath = dir.join(flow::MANIFEST);
                let m: flow::Manifest = serde_json::from_str(&crate::input::read_text(
                    &mpath,
                    crate::input::MAX_MODEL_BYTES,
                    "manifest",
                )?)
                .with_context(|| format!("parsing {}", mpath.display()))?;
                let out = match output {
                    // Never through a link inside the build directory.
                    None => {
                        let out = dir.join("report.html");
                        crate::safe_fs::check_not_link(&out)?;
                        out
                    }
                    Some(out) => {
                        check_outputs(
                            &[("--output", &out)],
                            &[("report.json", Some(&path)), ("rtl4ml.json", Some(&mpath))],
                        )?;
                        out
                    }
                };
                let page = crate::report::html::render(&r, m.target.name());
                crate::safe_fs::write_atomic(&out, page.as_bytes())?;
                note!("wrote {}", out.display());
            } else if json {
                outln!("{text}");
            } else {
                out!("{}", crate::report::format_table(&r));
            }
        }
        Command::Synth {
            dir,
            tool,
            pnr,
            device,
            target,
            quiet,
        } => {
            crate::external::set_quiet(quiet);
            let t0 = Instant::now();
            let run = crate::synth::synth(
                &dir,
                &crate::synth::SynthOptions {
                    tool,
                    target,
                    pnr,
                    device,
                },
            )?;
            out!("{}", crate::report::format_table(&run.report));
            note!(
                "synthesised {} in {:.1} s; tool files in {}; figures recorded in {}",
                dir.display(),
                t0.elapsed().as_secs_f64(),
                run.work_dir.display(),
                dir.join("report.json").display()
            );
        }
    }
    Ok(())
}

/// Fails before any work if an output file is a directory, has no parent directory, or is
/// the same file as an input (or as another output).
fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let inputs: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|(f, p)| p.map(|p| (*f, p)))
        .collect();
    for (what, out) in outputs {
        crate::safe_fs::check_output_file(what, out, &inputs)?;
    }
    Ok(())
}

/// The precision of `--precision` or `--precision-file`, if either is given.
fn load_precision(
    uniform: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<crate::frontend::precision::Precision>> {
    use crate::frontend::precision::Precision;
    Ok(match (uniform, file) {
        (Some(t), _) => Some(Precision::uniform(t)?),
        (None, Some(f)) => Some(Precision::load(f)?),
        (None, None) => None,
    })
}

/// The class labels of `samples` calibration samples: an .npy of that many integers (any
/// shape; floats must hold whole numbers), each at least 0.
/// Class labels, one per sample, each a class of the model's first output: below its number of
/// elements, or (an output of one element, such as an `argmax` index) below 2^24.
fn read_labels(path: &Path, samples: usize, classes: usize) -> Result<Vec<i64>> {
    let file = path.display();
    let values: Vec<i64> = match io::read_npy(path)? {
        io::NpyData::Int(a) => a.iter().copied().collect(),
        io::NpyData::Float(a) => a
            .iter()
            .map(|&v| {
                anyhow::ensure!(
                    v.fract() == 0.0 && v.abs() < 9.0e15,
                    "{file}: label {v} is not a whole number (expected class indices)"
                );
                Ok(v as i64)
            })
            .collect::<Result<_>>()?,
    };
    anyhow::ensure!(
        values.len() == samples,
        "{file}: {} labels for {samples} calibration samples (expected one class index per sample)",
        values.len()
    );
    if let Some((i, v)) = values.iter().enumerate().find(|(_, &v)| v < 0) {
        anyhow::bail!("{file}: label {i} is {v} (expected a class index, 0 or more)");
    }
    let limit = if classes > 1 { classes as i64 } else { 1 << 24 };
    if let Some((i, v)) = values.iter().enumerate().find(|(_, &v)| v >= limit) {
        anyhow::bail!(
            "{file}: label {i} is {v}, but the model's first output has {} classes (expected a \
             class index, 0 to {})",
            limit,
            limit - 1
        );
    }
    Ok(values)
}

/// A duration in ns given on the command line: a finite, positive number.
fn ns_arg(flag: &str, s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) if v.is_finite() => Err(format!("{flag} {s} must be a positive number of ns")),
        _ => Err(format!(
            "{flag} {s} is not a number of ns (expected a positive, finite number)"
        )),
    }
}

/// `--clock-ns`: a positive, finite number of ns.
fn clock_ns_arg(s: &str) -> std::result::Result<f64, String> {
    ns_arg("--clock-ns", s)
}

/// `--budget-ns`: a positive, finite number of ns.
fn budget_ns_arg(s: &str) -> std::result::Result<f64, String> {
    ns_arg("--budget-ns", s)
}
