//! Build and run a generated design against expected vectors in Verilator (main simulator) and
//! Icarus Verilog (second opinion), and lint it with `verilator --lint-only -Wall`.
//!
//! # DUT interface
//! ```verilog
//! module TOP(input wire clk, input wire rst, input wire in_valid, input wire [IN_W-1:0] in_data,
//!            output wire out_valid, output wire [OUT_W-1:0] out_data);
//! ```
//! Synchronous active-high `rst` clears the valid pipeline. Initiation interval 1. An input driven in
//! cycle `s` is sampled by rising edge `s`; its result must be presented (`out_valid = 1`) during
//! cycle `s + latency`, i.e. a consumer register samples it at edge `s + latency`. A design with
//! `latency` register stages between `in_*` and `out_*` therefore has latency `latency`.
//!
//! # Harness
//! Both test benches (`testbench/harness.cpp`, `testbench/tb_icarus.v`, askama templates) behave
//! the same way: the vectors are written to `work_dir/in.hex` and `work_dir/exp.hex` (one vector
//! per line, MSB first, exactly `ceil(W/4)` hex digits, masked to the bus width); `rst` is held for
//! [`RESET_CYCLES`] cycles; the vectors are then streamed back to back with `in_valid = 1`, with
//! deterministic bubbles (`in_valid = 0`, `in_data` all ones): [`BUBBLE_FIRST_LEN`] cycles after
//! vector [`BUBBLE_FIRST_AFTER`] and one cycle after every vector `i` with
//! `i % BUBBLE_PERIOD == BUBBLE_PERIOD - 1`. Every cycle with `out_valid = 1` is matched with the
//! oldest pending input; its distance to that input's sampling cycle must equal `latency`, and
//! `out_data` must equal the expected vector. After the last input the clock runs for
//! `latency + DRAIN_CYCLES` more cycles; inputs without an output are timing errors, and so is
//! `out_valid = 1` with no pending input.
//!
//! The test bench writes a result file, which [`parse_result`] reads:
//! `MISMATCH <index> <expected hex> <got hex>` (first [`MAX_LISTED_MISMATCHES`]),
//! `TIMING <text>` (first [`MAX_LISTED_TIMING`]) and one
//! `SUMMARY inputs=N outputs=N mismatches=N timing_errors=N cycles=N` line.
//!
//! Verilator runs with one thread (no `--threads`); build (verilation + C++ compile) and run are
//! timed separately. Rebuilding the same design in the same `work_dir` is incremental: the
//! harness is rewritten only when it changes, and the vectors are read at run time.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use askama::Template;

use crate::error::{Error, Result};

/// Cycles with `rst = 1` before the first vector.
pub const RESET_CYCLES: u32 = 2;
/// Idle cycles after the expected arrival of the last output.
pub const DRAIN_CYCLES: u32 = 16;
/// The first bubble comes after this vector index ...
pub const BUBBLE_FIRST_AFTER: u32 = 7;
/// ... and lasts this many cycles.
pub const BUBBLE_FIRST_LEN: u32 = 2;
/// A one-cycle bubble follows every vector `i` with `i % BUBBLE_PERIOD == BUBBLE_PERIOD - 1`.
pub const BUBBLE_PERIOD: u32 = 97;
/// At most this many mismatches are listed (all are counted).
pub const MAX_LISTED_MISMATCHES: usize = 20;
/// At most this many timing errors are listed (all are counted).
pub const MAX_LISTED_TIMING: usize = 50;

/// Module name of the Icarus test bench (the DUT may not use it).
pub const ICARUS_TB_NAME: &str = "rtl4ml_tb";

const INSTALL_HINT: &str =
    "install it (Debian/Ubuntu: `apt-get install verilator iverilog`; also needs make and g++ for Verilator)";

const IN_FILE: &str = "in.hex";
const EXP_FILE: &str = "exp.hex";
const VERILATOR_RESULT: &str = "verilator_result.txt";
const ICARUS_RESULT: &str = "icarus_result.txt";

/// One simulation: a design, its interface widths and latency, and the vectors to check.
#[derive(Debug, Clone)]
pub struct SimJob<'a> {
    /// Verilog-2005 sources.
    pub rtl_files: Vec<PathBuf>,
    /// Top module name.
    pub top: String,
    /// Width of `in_data`.
    pub in_width: u32,
    /// Width of `out_data`.
    pub out_width: u32,
    /// Cycles from `in_valid` to `out_valid` (>= 1).
    pub latency: u32,
    /// One vector per sample: the `in_data` bus, little-endian 64-bit words, `ceil(in_width/64)` words.
    pub inputs: &'a [Vec<u64>],
    /// Expected `out_data` per sample, same encoding (`ceil(out_width/64)` words).
    pub expected: &'a [Vec<u64>],
    /// Scratch directory for the build (created if missing).
    pub work_dir: PathBuf,
}

/// An output that differs from the expected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the vector in `SimJob::inputs`.
    pub index: usize,
    /// Expected value (little-endian 64-bit words).
    pub expected: Vec<u64>,
    /// Value seen on `out_data`; unknown (x/z) bits read as 0, see `got_unknown`.
    pub got: Vec<u64>,
    /// `out_data` had unknown (x/z) bits (Icarus only).
    pub got_unknown: bool,
}

/// The result of one simulation run.
#[derive(Debug, Clone)]
pub struct SimOutcome {
    /// "verilator" or "icarus".
    pub tool: &'static str,
    /// Vectors compared (outputs matched with an input).
    pub vectors: usize,
    /// The first up to [`MAX_LISTED_MISMATCHES`] mismatches.
    pub mismatches: Vec<Mismatch>,
    /// All mismatches.
    pub mismatch_count: usize,
    /// Valid/latency protocol violations, human readable (the first [`MAX_LISTED_TIMING`], plus a
    /// final "... and N more" line if there were more).
    pub timing_errors: Vec<String>,
    /// All timing errors.
    pub timing_error_count: usize,
    /// Clock cycles simulated, including reset and drain.
    pub cycles: u64,
    /// Build time (Verilator: verilation + C++ compile; Icarus: iverilog).
    pub build_seconds: f64,
    /// Simulation time.
    pub run_seconds: f64,
}

impl SimOutcome {
    /// No mismatches and no timing errors.
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0 && self.timing_error_count == 0
    }

    /// One-line human-readable summary.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} vectors, {} mismatches, {} timing errors (build {:.2} s, run {:.2} s)",
            self.tool,
            self.vectors,
            self.mismatch_count,
            self.timing_error_count,
            self.build_seconds,
            self.run_seconds
        )
    }
}

#[derive(Template)]
#[template(path = "harness.cpp", escape = "none")]
struct VerilatorHarness<'a> {
    top: &'a str,
    in_width: u32,
    out_width: u32,
    in_words: usize,
    out_words: usize,
    in_words32: usize,
    out_words32: usize,
    in_wide: bool,
    out_wide: bool,
    in_ctype: &'static str,
    out_ctype: &'static str,
    latency: u32,
    reset_cycles: u32,
    drain_cycles: u32,
    bubble_first_after: u32,
    bubble_first_len: u32,
    bubble_period: u32,
    max_mismatches: usize,
    max_timing: usize,
    in_file: &'a str,
    exp_file: &'a str,
    result_file: &'a str,
}

#[derive(Template)]
#[template(path = "tb_icarus.v", escape = "none")]
struct IcarusBench<'a> {
    tb_name: &'a str,
    top: &'a str,
    in_width: u32,
    out_width: u32,
    vectors: usize,
    latency: u32,
    reset_cycles: u32,
    drain_cycles: u32,
    bubble_first_after: u32,
    bubble_first_len: u32,
    bubble_period: u32,
    max_mismatches: usize,
    max_timing: usize,
    in_file: &'a str,
    exp_file: &'a str,
    result_file: &'a str,
}

/// `verilator --lint-only -Wall --top-module top files...`; any warning or error → `Err` with the
/// full text.
pub fn lint(rtl_files: &[PathBuf], top: &str) -> Result<()> {
    check_identifier(top, "verilator")?;
    if rtl_files.is_empty() {
        return Err(Error::tool("verilator", "lint: no RTL files given"));
    }
    require_program("verilator", "verilator")?;
    let mut cmd = Command::new("verilator");
    cmd.args(["--lint-only", "-Wall", "--top-module", top])
        .args(rtl_files);
    let out = run_command(&mut cmd, "verilator", "lint")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut text = String::new();
    text.push_str(stderr.trim_end());
    if !stdout.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stdout.trim_end());
    }
    if !out.status.success() || text.contains("%Warning") || text.contains("%Error") {
        return Err(Error::tool(
            "verilator",
            format!("lint of `{top}` failed ({}):\n{text}", out.status),
        ));
    }
    Ok(())
}

/// Build the design with Verilator (one thread) and the C++ harness, run it, and parse the result.
pub fn run_verilator(job: &SimJob) -> Result<SimOutcome> {
    const TOOL: &str = "verilator";
    validate(job, TOOL)?;
    require_program(TOOL, "verilator")?;
    require_program(TOOL, "make")?;
    if !crate::external::cxx_compiler_available() {
        return Err(Error::tool(
            TOOL,
            format!("no C++ compiler (g++, c++ or $CXX) found on PATH; {INSTALL_HINT}"),
        ));
    }
    let prep = prepare(job, TOOL)?;
    let harness = VerilatorHarness {
        top: &job.top,
        in_width: job.in_width,
        out_width: job.out_width,
        in_words: words64(job.in_width),
        out_words: words64(job.out_width),
        in_words32: words32(job.in_width),
        out_words32: words32(job.out_width),
        in_wide: job.in_width > 64,
        out_wide: job.out_width > 64,
        in_ctype: verilator_ctype(job.in_width),
        out_ctype: verilator_ctype(job.out_width),
        latency: job.latency,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
        bubble_first_after: BUBBLE_FIRST_AFTER,
        bubble_first_len: BUBBLE_FIRST_LEN,
        bubble_period: BUBBLE_PERIOD,
        max_mismatches: MAX_LISTED_MISMATCHES,
        max_timing: MAX_LISTED_TIMING,
        in_file: IN_FILE,
        exp_file: EXP_FILE,
        result_file: VERILATOR_RESULT,
    }
    .render()?;
    let harness_path = prep.work_dir.join("harness.cpp");
    write_if_changed(&harness_path, &harness)?;

    let mdir = prep.work_dir.join("obj");
    let mut cmd = Command::new("verilator");
    cmd.current_dir(&prep.work_dir)
        .args([
            "--cc",
            "--exe",
            "--build",
            "-O3",
            "--x-assign",
            "fast",
            "--x-initial",
            "fast",
        ])
        .args(["-Wno-fatal", "-j", "2"])
        .args(cxx_opt_args(job.inputs.len()))
        .arg("--top-module")
        .arg(&job.top)
        .arg("--Mdir")
        .arg(&mdir)
        .arg(&harness_path)
        .args(&prep.rtl_files);
    let start = Instant::now();
    let out = run_command(&mut cmd, TOOL, "build")?;
    let build_seconds = start.elapsed().as_secs_f64();
    check_status(&out, TOOL, "build (verilator --build)")?;

    let exe = mdir.join(format!("V{}", job.top));
    if !exe.is_file() {
        return Err(Error::tool(
            TOOL,
            format!("build produced no executable {}", exe.display()),
        ));
    }
    let result_path = prep.work_dir.join(VERILATOR_RESULT);
    remove_if_exists(&result_path)?;
    let mut cmd = Command::new(&exe);
    cmd.current_dir(&prep.work_dir);
    let start = Instant::now();
    let out = run_command(&mut cmd, TOOL, "simulation")?;
    let run_seconds = start.elapsed().as_secs_f64();
    check_status(&out, TOOL, "simulation")?;
    finish(TOOL, job, &result_path, &out, build_seconds, run_seconds)
}

/// Vector count from which the harness is built with g++ `-O2`: below it, `-O0` builds about
/// twice as fast (jet tagger: 5.6 s against 10.8 s) and the slower run (about 5 µs more per
/// vector on the jet tagger) costs less than the build saves. Results are identical.
const OPTIMIZED_BUILD_FROM: usize = 500_000;

/// g++ flags for the Verilator harness: every part of the build (Verilator's `OPT_FAST`,
/// `OPT_SLOW` and `OPT_GLOBAL` as well as the harness) at one level chosen by the vector count.
fn cxx_opt_args(vectors: usize) -> [&'static str; 4] {
    if vectors >= OPTIMIZED_BUILD_FROM {
        [
            "-CFLAGS",
            "-O2",
            "-MAKEFLAGS",
            "OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O1",
        ]
    } else {
        [
            "-CFLAGS",
            "-O0",
            "-MAKEFLAGS",
            "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
        ]
    }
}

/// Compile the design with Icarus (`iverilog -g2005`) and the Verilog test bench, run it with
/// `vvp`, and parse the result.
pub fn run_icarus(job: &SimJob) -> Result<SimOutcome> {
    const TOOL: &str = "icarus";
    validate(job, TOOL)?;
    require_program(TOOL, "iverilog")?;
    require_program(TOOL, "vvp")?;
    if job.top == ICARUS_TB_NAME {
        return Err(Error::tool(
            TOOL,
            format!("top module may not be named `{ICARUS_TB_NAME}` (the test bench's name)"),
        ));
    }
    let prep = prepare(job, TOOL)?;
    let bench = IcarusBench {
        tb_name: ICARUS_TB_NAME,
        top: &job.top,
        in_width: job.in_width,
        out_width: job.out_width,
        vectors: job.inputs.len(),
        latency: job.latency,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
        bubble_first_after: BUBBLE_FIRST_AFTER,
        bubble_first_len: BUBBLE_FIRST_LEN,
        bubble_period: BUBBLE_PERIOD,
        max_mismatches: MAX_LISTED_MISMATCHES,
        max_timing: MAX_LISTED_TIMING,
        in_file: IN_FILE,
        exp_file: EXP_FILE,
        result_file: ICARUS_RESULT,
    }
    .render()?;
    let tb_path = prep.work_dir.join("tb_icarus.v");
    write_if_changed(&tb_path, &bench)?;
    let vvp_path = prep.work_dir.join("icarus_sim.vvp");

    let mut cmd = Command::new("iverilog");
    cmd.current_dir(&prep.work_dir)
        .args(["-g2005", "-o"])
        .arg(&vvp_path)
        .args(["-s", ICARUS_TB_NAME])
        .arg(&tb_path)
        .args(&prep.rtl_files);
    // Verilator runs the ternary adders' plain sums; Icarus, when Yosys' models of the Xilinx
    // cells are installed, the LUT6_2/CARRY4 structure that Yosys synthesises, up to
    // `MAX_ICARUS_ADD3` ternary adders (beyond that iverilog's elaboration of the cell models
    // takes minutes and gigabytes; the plain sums then, as in Verilator).
    let add3 = count_add3(&prep.rtl_files);
    if let Some(cells) = xilinx_cell_models().filter(|_| add3 > 0 && add3 <= MAX_ICARUS_ADD3) {
        cmd.arg("-DRTL4ML_XILINX_PRIMITIVES").arg(cells);
    }
    let start = Instant::now();
    let out = run_command(&mut cmd, TOOL, "compile")?;
    let build_seconds = start.elapsed().as_secs_f64();
    check_status(&out, TOOL, "compile (iverilog)")?;

    let result_path = prep.work_dir.join(ICARUS_RESULT);
    remove_if_exists(&result_path)?;
    let mut cmd = Command::new("vvp");
    cmd.current_dir(&prep.work_dir).arg("-n").arg(&vvp_path);
    let start = Instant::now();
    let out = run_command(&mut cmd, TOOL, "simulation")?;
    let run_seconds = start.elapsed().as_secs_f64();
    check_status(&out, TOOL, "simulation (vvp)")?;
    finish(TOOL, job, &result_path, &out, build_seconds, run_seconds)
}

/// Yosys' simulation models of the Xilinx cells (`share/yosys/xilinx/cells_sim.v`), if installed.
fn xilinx_cell_models() -> Option<PathBuf> {
    ["/usr/share/yosys", "/usr/local/share/yosys"]
        .iter()
        .map(|d| PathBuf::from(d).join("xilinx/cells_sim.v"))
        .find(|p| p.is_file())
}

/// How many ternary adder primitives a design instantiates.
fn count_add3(rtl: &[PathBuf]) -> usize {
    rtl.iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.matches("rtl4ml_add3 #(").count())
        .sum()
}

/// The most ternary adders Icarus simulates as Yosys' LUT6_2/CARRY4 cell models (the jet
/// tagger has 748; hls4ml's three-layer zoo model, 3,571, kept iverilog elaborating for over
/// 8 minutes in 2.5 GB).
pub const MAX_ICARUS_ADD3: usize = 1000;

/// What a result file says, before timing information is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResult {
    pub inputs: usize,
    pub outputs: usize,
    pub mismatches: Vec<Mismatch>,
    pub mismatch_count: usize,
    pub timing_errors: Vec<String>,
    pub timing_error_count: usize,
    pub cycles: u64,
}

/// Parse a test bench result file (see the module documentation for the format).
/// `out_width` is the width of `out_data`; the error message names `tool`.
pub fn parse_result(text: &str, out_width: u32, tool: &str) -> Result<ParsedResult> {
    let bad = |line: &str, why: &str| {
        Error::tool(tool, format!("unparsable result line ({why}): {line:?}"))
    };
    let mut mismatches = Vec::new();
    let mut timing_errors = Vec::new();
    let mut summary: Option<ParsedResult> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "MISMATCH" => {
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() != 3 {
                    return Err(bad(line, "expected index, expected hex, got hex"));
                }
                let index = f[0].parse::<usize>().map_err(|_| bad(line, "bad index"))?;
                let (expected, _) =
                    parse_hex(f[1], out_width).ok_or_else(|| bad(line, "bad expected hex"))?;
                let (got, got_unknown) =
                    parse_hex(f[2], out_width).ok_or_else(|| bad(line, "bad got hex"))?;
                mismatches.push(Mismatch {
                    index,
                    expected,
                    got,
                    got_unknown,
                });
            }
            "TIMING" => timing_errors.push(rest.trim().to_string()),
            "SUMMARY" => {
                let get = |key: &str| -> Result<u64> {
                    rest.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| bad(line, &format!("missing {key}")))
                };
                summary = Some(ParsedResult {
                    inputs: get("inputs")? as usize,
                    outputs: get("outputs")? as usize,
                    mismatch_count: get("mismatches")? as usize,
                    timing_error_count: get("timing_errors")? as usize,
                    cycles: get("cycles")?,
                    mismatches: Vec::new(),
                    timing_errors: Vec::new(),
                });
            }
            _ => return Err(bad(line, "unknown record")),
        }
    }
    let mut r = summary.ok_or_else(|| {
        Error::tool(
            tool,
            "result file has no SUMMARY line (simulation did not finish?)",
        )
    })?;
    if mismatches.len() > r.mismatch_count || timing_errors.len() > r.timing_error_count {
        return Err(Error::tool(
            tool,
            "result file lists more errors than its SUMMARY counts",
        ));
    }
    r.mismatches = mismatches;
    r.timing_errors = timing_errors;
    Ok(r)
}

/// `words` (little-endian 64-bit) as exactly `ceil(width/4)` hex digits, MSB first, masked to `width`.
pub fn to_hex(words: &[u64], width: u32) -> String {
    let digits = width.div_ceil(4) as usize;
    let mut s = String::with_capacity(digits);
    for k in (0..digits).rev() {
        let word = words.get(k / 16).copied().unwrap_or(0) & word_mask(width, k / 16);
        let nib = (word >> (4 * (k % 16))) & 0xf;
        s.push(char::from_digit(nib as u32, 16).unwrap());
    }
    s
}

/// Parse MSB-first hex into `ceil(width/64)` little-endian words, masked to `width`. x/z digits
/// (from Icarus) read as 0 and set the returned flag. `None` on any other character.
pub fn parse_hex(s: &str, width: u32) -> Option<(Vec<u64>, bool)> {
    let n = words64(width);
    let mut words = vec![0u64; n];
    let mut unknown = false;
    let digits: Vec<char> = s.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    for (k, c) in digits.iter().rev().enumerate() {
        let nib = match c.to_digit(16) {
            Some(d) => d as u64,
            None if matches!(c, 'x' | 'X' | 'z' | 'Z') => {
                unknown = true;
                0
            }
            None => return None,
        };
        if k / 16 < n {
            words[k / 16] |= nib << (4 * (k % 16));
        }
    }
    for (i, w) in words.iter_mut().enumerate() {
        *w &= word_mask(width, i);
    }
    Some((words, unknown))
}

// ---------------------------------------------------------------------------------------------

struct Prepared {
    work_dir: PathBuf,
    rtl_files: Vec<PathBuf>,
}

/// Check names, widths, latency and vector shapes.
fn validate(job: &SimJob, tool: &str) -> Result<()> {
    check_identifier(&job.top, tool)?;
    if job.in_width == 0 || job.out_width == 0 {
        return Err(Error::tool(
            tool,
            format!(
                "bus widths must be >= 1 (in_width {}, out_width {})",
                job.in_width, job.out_width
            ),
        ));
    }
    if job.latency == 0 {
        return Err(Error::tool(
            tool,
            "latency must be >= 1 (the harness expects registered outputs)",
        ));
    }
    if job.inputs.is_empty() {
        return Err(Error::tool(tool, "no input vectors"));
    }
    if job.inputs.len() != job.expected.len() {
        return Err(Error::tool(
            tool,
            format!(
                "{} input vectors but {} expected vectors",
                job.inputs.len(),
                job.expected.len()
            ),
        ));
    }
    check_vectors(job.inputs, job.in_width, "input", tool)?;
    check_vectors(job.expected, job.out_width, "expected", tool)?;
    if job.rtl_files.is_empty() {
        return Err(Error::tool(tool, "no RTL files given"));
    }
    Ok(())
}

/// Validate the job, create the work directory and write the vector files.
fn prepare(job: &SimJob, tool: &str) -> Result<Prepared> {
    validate(job, tool)?;
    std::fs::create_dir_all(&job.work_dir).map_err(|e| Error::io(&job.work_dir, e))?;
    // The files and directories written here (by rtl4ml or by the tools it runs) are never
    // links: a link would make them write wherever it points.
    for f in [
        IN_FILE,
        EXP_FILE,
        "harness.cpp",
        "obj",
        VERILATOR_RESULT,
        "tb_icarus.v",
        "icarus_sim.vvp",
        ICARUS_RESULT,
    ] {
        let p = job.work_dir.join(f);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Data {
                file: p.display().to_string(),
                message: "is a symbolic link; rtl4ml never writes through a link inside a \
                          build directory (remove it and run again)"
                    .into(),
            });
        }
    }
    let work_dir = std::fs::canonicalize(&job.work_dir).map_err(|e| Error::io(&job.work_dir, e))?;
    let rtl_files = job
        .rtl_files
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io(p, e)))
        .collect::<Result<Vec<_>>>()?;

    write_if_changed(&work_dir.join(IN_FILE), &hex_file(job.inputs, job.in_width))?;
    write_if_changed(
        &work_dir.join(EXP_FILE),
        &hex_file(job.expected, job.out_width),
    )?;
    Ok(Prepared {
        work_dir,
        rtl_files,
    })
}

fn check_vectors(vectors: &[Vec<u64>], width: u32, what: &str, tool: &str) -> Result<()> {
    let n = words64(width);
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != n {
            return Err(Error::tool(
                tool,
                format!(
                    "{what} vector {i} has {} words, expected {n} for a {width}-bit bus",
                    v.len()
                ),
            ));
        }
    }
    Ok(())
}

fn hex_file(vectors: &[Vec<u64>], width: u32) -> String {
    let mut s = String::with_capacity(vectors.len() * (width.div_ceil(4) as usize + 1));
    for v in vectors {
        s.push_str(&to_hex(v, width));
        s.push('\n');
    }
    s
}

fn finish(
    tool: &'static str,
    job: &SimJob,
    result_path: &Path,
    out: &Output,
    build_seconds: f64,
    run_seconds: f64,
) -> Result<SimOutcome> {
    let text = std::fs::read_to_string(result_path).map_err(|e| {
        Error::tool(
            tool,
            format!(
                "cannot read result file {}: {e}\n{}",
                result_path.display(),
                output_tail(out)
            ),
        )
    })?;
    let r = parse_result(&text, job.out_width, tool)
        .map_err(|e| Error::tool(tool, format!("{e}\n{}", output_tail(out))))?;
    if r.inputs != job.inputs.len() {
        return Err(Error::tool(
            tool,
            format!(
                "test bench read {} vectors, {} were written\n{}",
                r.inputs,
                job.inputs.len(),
                output_tail(out)
            ),
        ));
    }
    let mut timing_errors = r.timing_errors;
    if r.timing_error_count > timing_errors.len() {
        timing_errors.push(format!(
            "... and {} more timing errors",
            r.timing_error_count - timing_errors.len()
        ));
    }
    Ok(SimOutcome {
        tool,
        vectors: r.outputs,
        mismatches: r.mismatches,
        mismatch_count: r.mismatch_count,
        timing_errors,
        timing_error_count: r.timing_error_count,
        cycles: r.cycles,
        build_seconds,
        run_seconds,
    })
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn check_identifier(name: &str, tool: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::tool(
            tool,
            format!("invalid top module name {name:?} (expected [A-Za-z_][A-Za-z0-9_]*)"),
        ))
    }
}

fn words64(width: u32) -> usize {
    width.div_ceil(64) as usize
}

fn words32(width: u32) -> usize {
    width.div_ceil(32) as usize
}

fn word_mask(width: u32, word: usize) -> u64 {
    let bits = width as i64 - 64 * word as i64;
    if bits >= 64 {
        u64::MAX
    } else if bits <= 0 {
        0
    } else {
        (1u64 << bits) - 1
    }
}

/// Verilator's C type for a port of `width` <= 64 bits.
fn verilator_ctype(width: u32) -> &'static str {
    match width {
        0..=8 => "CData",
        9..=16 => "SData",
        17..=32 => "IData",
        33..=64 => "QData",
        _ => "VlWide",
    }
}

fn require_program(tool: &str, program: &str) -> Result<()> {
    if crate::external::find_program(program).is_some() {
        Ok(())
    } else {
        Err(Error::tool(
            tool,
            format!("`{program}` not found on PATH; {INSTALL_HINT}"),
        ))
    }
}

fn run_command(cmd: &mut Command, tool: &str, step: &str) -> Result<Output> {
    crate::external::output(cmd, &format!("{tool}: {step}")).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            format!("; {INSTALL_HINT}")
        } else {
            String::new()
        };
        Error::tool(tool, format!("cannot run {}: {e}{hint}", describe(cmd)))
    })
}

fn check_status(out: &Output, tool: &str, what: &str) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::tool(
            tool,
            format!("{what} failed ({}):\n{}", out.status, output_tail(out)),
        ))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The last lines of stderr (or of stdout if stderr is empty).
fn output_tail(out: &Output) -> String {
    const LINES: usize = 40;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        stderr
    };
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(LINES);
    let mut s = String::new();
    if start > 0 {
        let _ = writeln!(s, "[... {start} earlier lines]");
    }
    s.push_str(&lines[start..].join("\n"));
    if s.is_empty() {
        s.push_str("(no output)");
    }
    s
}

fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if let Ok(old) = std::fs::read(path) {
        if old == contents.as_bytes() {
            return Ok(());
        }
    }
    crate::safe_fs::write_atomic(path, contents.as_bytes())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let w = vec![0xffff_ffff_ffff_ffffu64, 0x3f];
        assert_eq!(to_hex(&w, 70), "3fffffffffffffffff");
        assert_eq!(to_hex(&[0xabc], 12), "abc");
        assert_eq!(to_hex(&[0x1ff], 8), "ff");
        assert_eq!(to_hex(&[0x1], 1), "1");
        assert_eq!(parse_hex("3fffffffffffffffff", 70), Some((w, false)));
        assert_eq!(parse_hex("x1", 8), Some((vec![1], true)));
        assert_eq!(parse_hex("g1", 8), None);
    }

    #[test]
    fn result_parsing() {
        let text = "MISMATCH 4 0a 0b\nTIMING vector 4: late\nSUMMARY inputs=9 outputs=9 mismatches=3 timing_errors=1 cycles=30\n";
        let r = parse_result(text, 8, "verilator").unwrap();
        assert_eq!(r.inputs, 9);
        assert_eq!(r.mismatch_count, 3);
        assert_eq!(
            r.mismatches,
            vec![Mismatch {
                index: 4,
                expected: vec![10],
                got: vec![11],
                got_unknown: false
            }]
        );
        assert_eq!(r.timing_errors, vec!["vector 4: late".to_string()]);
        assert!(parse_result(
            "MISMATCH 1 2\nSUMMARY inputs=1 outputs=1 mismatches=1 timing_errors=0 cycles=1",
            8,
            "x"
        )
        .is_err());
        assert!(parse_result("", 8, "x").is_err());
    }

    #[test]
    fn identifiers() {
        assert!(check_identifier("_a1", "t").is_ok());
        assert!(check_identifier("1a", "t").is_err());
        assert!(check_identifier("a-b", "t").is_err());
        assert!(check_identifier("", "t").is_err());
        assert!(check_identifier("a\"b", "t").is_err());
    }
}
