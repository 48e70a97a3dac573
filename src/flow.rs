//! The compilation flow: model → layer graph → netlist → schedule → Verilog + report, and the
//! output directory that `verify` and `report` read back.

use crate::backends::{namer, verilog};
use crate::error::{Error, Result};
use crate::ir::layers::LayerGraph;
use crate::ir::netlist::Netlist;
use crate::passes::{lower, pipeline};
use crate::report::{self, Report};
pub use pipeline::ClockChoice;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Options {
    /// Target clock period in ns.
    pub clock_ns: f64,
    /// Top module name (sanitised); default: the model's name.
    pub top: Option<String>,
    /// Target family; its delay model drives pipelining.
    pub target: crate::target::Target,
    pub lower: lower::LowerOptions,
    /// Exact latency in cycles: with `clock_ns`, a check (padded with output registers when
    /// the design is faster); see [`schedule::schedule_for_latency`].
    pub latency_cycles: Option<u32>,
    /// With `latency_cycles`: how the clock is chosen (`clock_ns` as given, preferred, or the
    /// shortest period that fits).
    pub clock_choice: ClockChoice,
    /// Most loads per pipeline register before it is duplicated (0: no limit); see
    /// [`crate::ir::schedule::Schedule::fanout_plan`].
    pub max_fanout: u32,
    /// Keep a schedule whose slowest stage is longer than `clock_ns` instead of refusing it
    /// (the optimizer explores such designs and reports the clock they need; everything a
    /// user compiles is refused with the clock it can meet).
    pub allow_slow_stages: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock_ns: 4.0,
            top: None,
            target: crate::target::Target::default(),
            lower: lower::LowerOptions::default(),
            latency_cycles: None,
            clock_choice: ClockChoice::Given,
            max_fanout: crate::ir::schedule::DEFAULT_MAX_FANOUT,
            allow_slow_stages: false,
        }
    }
}

/// A compiled design.
pub struct Design {
    pub options: Options,
    pub graph: LayerGraph,
    pub net: Netlist,
    pub schedule: crate::ir::schedule::Schedule,
    pub top: String,
    pub verilog: String,
    pub report: Report,
}

/// What a build directory records about how it was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub top: String,
    pub clock_ns: f64,
    pub latency_cycles: u32,
    pub in_width: u32,
    pub out_width: u32,
    /// Verilog sources, relative to the directory.
    pub rtl: Vec<String>,
    pub model: String,
    /// Target family whose delay model placed the registers.
    #[serde(default)]
    pub target: crate::target::Target,
    /// Lowering options the design was built with (so `verify` rebuilds the same design).
    #[serde(default = "yes")]
    pub share: bool,
    /// Fan-out limit of the pipeline registers (0: none; builds before it existed had none).
    #[serde(default)]
    pub max_fanout: u32,
    /// Hard-multiplier policy (`--dsp`; builds before it existed used LUTs only).
    #[serde(default)]
    pub dsp: lower::DspPolicy,
    /// Saturating accumulator structure (`--sat-accum`; builds before it existed: chain).
    #[serde(default)]
    pub sat_accum: lower::SatAccum,
}

fn yes() -> bool {
    true
}

pub const MANIFEST: &str = "rtl4ml.json";

/// Compiles a layer graph.
pub fn compile(graph: LayerGraph, opts: &Options) -> Result<Design> {
    compile_observed(graph, opts, &mut |_, _, _| {})
}

/// [`compile`], with `observe` called after each pass of the pipeline
/// (`compile --dump-after PASS`; see [`pipeline::run`]).
pub fn compile_observed(
    graph: LayerGraph,
    opts: &Options,
    observe: &mut dyn FnMut(pipeline::Pass, &Netlist, Option<&crate::ir::schedule::Schedule>),
) -> Result<Design> {
    if !(opts.clock_ns > 0.0 && opts.clock_ns.is_finite()) {
        return Err(Error::usage(
            "--clock-ns",
            format!(
                "the clock period must be a positive number of ns, got {}",
                opts.clock_ns
            ),
        ));
    }
    let (net, sched) = pipeline::run(
        &graph,
        &pipeline::PipelineOptions {
            lower: opts.lower.clone(),
            clock_ns: opts.clock_ns,
            latency_cycles: opts.latency_cycles,
            clock_choice: opts.clock_choice,
            target: opts.target,
            max_fanout: opts.max_fanout,
            allow_slow_stages: opts.allow_slow_stages,
        },
        observe,
    )?;
    let top = namer::sanitize(opts.top.as_deref().unwrap_or(&graph.name));
    let verilog = verilog::write_verilog(&net, &sched, &top, opts.target.adder_cells())?;
    let report = report::build(&net, &sched, &top, opts.target);
    Ok(Design {
        options: opts.clone(),
        graph,
        net,
        schedule: sched,
        top,
        verilog,
        report,
    })
}

/// Compiles for a latency budget in ns (`compile --latency-ns`): the fewest cycles `n` whose
/// shortest clock (from the delay model) fits, `n × clock ≤ latency_ns`, built at the most
/// relaxed clock that still fits, `latency_ns / n` (the slack is margin for routing). An error
/// names the shortest latency the design can have when none fits. `opts.clock_ns`,
/// `latency_cycles` and `clock_choice` are ignored.
pub fn compile_for_latency_ns(
    graph: LayerGraph,
    opts: &Options,
    latency_ns: f64,
    observe: &mut dyn FnMut(pipeline::Pass, &Netlist, Option<&crate::ir::schedule::Schedule>),
) -> Result<Design> {
    if !(latency_ns > 0.0 && latency_ns.is_finite()) {
        return Err(Error::usage(
            "--latency-ns",
            format!("the latency must be a positive number of ns, got {latency_ns}"),
        ));
    }
    let mut best: Option<(u32, f64)> = None;
    let mut previous = f64::INFINITY;
    for n in 1..=MAX_LATENCY_SEARCH {
        let fastest = compile(
            graph.clone(),
            &Options {
                latency_cycles: Some(n),
                clock_choice: ClockChoice::Fastest,
                ..opts.clone()
            },
        )?;
        let clock = fastest.schedule.clock_ns;
        if best.is_none_or(|(m, c)| n as f64 * clock < m as f64 * c) {
            best = Some((n, clock));
        }
        if n as f64 * clock <= latency_ns * (1.0 + 1e-9) {
            return compile_observed(
                graph,
                &Options {
                    clock_ns: latency_ns / n as f64,
                    latency_cycles: Some(n),
                    clock_choice: ClockChoice::Given,
                    ..opts.clone()
                },
                observe,
            );
        }
        // Once more stages no longer shorten the clock (a single slow element sets it), the
        // latency only grows.
        if clock >= previous - 1e-9 {
            break;
        }
        previous = clock;
    }
    let (n, clock) = best.expect("at least one cycle count was tried");
    Err(Error::usage(
        "--latency-ns",
        format!(
            "the design cannot finish within {latency_ns} ns on {}: its shortest latency under \
             the delay model is {:.2} ns ({n} cycle{} at a {clock:.3} ns clock)",
            opts.target.name(),
            n as f64 * clock,
            if n == 1 { "" } else { "s" }
        ),
    ))
}

/// Most cycles `compile --latency-ns` tries.
const MAX_LATENCY_SEARCH: u32 = 64;

/// Writes a design into `out` atomically: everything goes to a temporary directory that is
/// renamed into place only when complete, so a failure never leaves a valid-looking result.
/// The native JSON model it was built from is kept as `model.json`.
pub fn write_dir(d: &Design, model_text: &str, out: &Path) -> Result<()> {
    write_dir_with_model(d, "model.json", model_text.as_bytes(), out)
}

/// [`write_dir`] for a model file of any format: its copy is kept as `model_file`
/// (`model.json`, `model.onnx`), which the manifest records and [`read_dir`] loads.
pub fn write_dir_with_model(d: &Design, model_file: &str, model: &[u8], out: &Path) -> Result<()> {
    // Only an earlier build (or an empty directory) is ever replaced: checked before any
    // work, and again just before the swap.
    check_replaceable_build(out)?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "build".into());
    let tmp = parent.join(format!(".{name}.rtl4ml-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    remove_stale_temporaries(parent, &name);
    // Whatever happens below (an error, even a panic), the temporary does not outlive this
    // call: once renamed into place it no longer exists and the guard does nothing.
    let _cleanup = RemoveOnDrop(tmp.clone());
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let write = |file: &str, text: &str| {
            std::fs::write(tmp.join(file), text).map_err(|e| Error::io(tmp.join(file), e))
        };
        let mut rtl = vec![format!("{}.v", d.top)];
        write(&rtl[0], &d.verilog)?;
        for (f, text) in verilog::PRIMITIVES {
            write(f, text)?;
            rtl.push(f.to_string());
        }
        // Vendor handoff (untested here: no vendor tools on rtl4ml's machines).
        for (f, text) in crate::backends::vendor::files(&crate::backends::vendor::Vendor {
            top: &d.top,
            rtl: &rtl,
            clock_ns: d.schedule.clock_ns,
            latency: d.schedule.latency,
            in_width: d.net.input_width(),
            out_width: d.net.output_width(),
        })? {
            let p = tmp.join(f);
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
        }
        std::fs::write(tmp.join(model_file), model)
            .map_err(|e| Error::io(tmp.join(model_file), e))?;
        write(
            "report.json",
            &(serde_json::to_string_pretty(&d.report).expect("serialisable") + "\n"),
        )?;
        write("report.txt", &report::format_table(&d.report))?;
        let m = Manifest {
            tool: "rtl4ml".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            top: d.top.clone(),
            clock_ns: d.schedule.clock_ns,
            latency_cycles: d.schedule.latency,
            in_width: d.net.input_width(),
            out_width: d.net.output_width(),
            rtl,
            model: model_file.into(),
            share: d.options.lower.share,
            target: d.options.target,
            max_fanout: d.options.max_fanout,
            dsp: d.options.lower.dsp,
            sat_accum: d.options.lower.sat_accum,
        };
        write(
            MANIFEST,
            &(serde_json::to_string_pretty(&m).expect("serialisable") + "\n"),
        )?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.symlink_metadata().is_ok() {
        if let Err(e) = check_replaceable_build(out) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // Move the old build aside, put the new one in place, then delete the old one: an
        // interruption at any point leaves `out` either absent, the old build or the new one.
        let old = parent.join(format!(".{name}.rtl4ml-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&old);
        if let Err(e) = std::fs::rename(out, &old) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::io(out, e));
        }
        if let Err(e) = std::fs::rename(&tmp, out) {
            let _ = std::fs::rename(&old, out);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::io(out, e));
        }
        let _ = std::fs::remove_dir_all(&old);
        return Ok(());
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        Error::io(out, e)
    })
}

/// Fails unless `out` may be replaced by a new build (see [`replaceable_build`]); absent is
/// fine. `compile` checks this before any work, and the writer again just before the swap.
pub fn check_replaceable_build(out: &Path) -> Result<()> {
    if out.symlink_metadata().is_err() {
        return Ok(());
    }
    replaceable_build(out).map_err(|why| Error::Data {
        file: out.display().to_string(),
        message: format!(
            "{why}; refusing to replace it (choose another output directory, or remove this \
             one yourself)"
        ),
    })
}

/// Why an existing `out` may not be replaced by a new build, if it may not. Only an empty
/// directory or one that is provably an rtl4ml build is replaced: a real directory (not a
/// link) whose manifest parses as one, holding nothing but what rtl4ml writes there — the
/// manifest's RTL and model files, the reports, and the `vivado/`, `quartus/`, `verify/` and
/// `synth/` directories (real directories, not links) — so replacing it never deletes a
/// user's file.
fn replaceable_build(out: &Path) -> std::result::Result<(), String> {
    let meta = out
        .symlink_metadata()
        .map_err(|e| format!("cannot be inspected ({e})"))?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link".into());
    }
    if !meta.is_dir() {
        return Err("exists and is not a directory".into());
    }
    let entries: Vec<(String, std::fs::FileType)> = std::fs::read_dir(out)
        .map_err(|e| format!("cannot be read ({e})"))?
        .map(|e| {
            let e = e.map_err(|e| format!("cannot be read ({e})"))?;
            let kind = e.file_type().map_err(|e| format!("cannot be read ({e})"))?;
            Ok((e.file_name().to_string_lossy().into_owned(), kind))
        })
        .collect::<std::result::Result<_, String>>()?;
    if entries.is_empty() {
        return Ok(());
    }
    let text = crate::input::read_text(
        &out.join(MANIFEST),
        crate::input::MAX_MODEL_BYTES,
        "build manifest",
    )
    .map_err(|_| format!("exists, is not empty and has no readable {MANIFEST}: it is not an rtl4ml build directory"))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("exists, but its {MANIFEST} is not an rtl4ml manifest ({e})"))?;
    if m.tool != "rtl4ml" {
        return Err(format!(
            "exists, but its {MANIFEST} was not written by rtl4ml"
        ));
    }
    let files: Vec<&str> = m
        .rtl
        .iter()
        .map(String::as_str)
        .chain([
            m.model.as_str(),
            MANIFEST,
            "report.json",
            "report.txt",
            "report.html",
        ])
        .collect();
    for (name, kind) in &entries {
        let ok = if ["vivado", "quartus", "verify", "synth"].contains(&name.as_str()) {
            kind.is_dir()
        } else {
            kind.is_file() && (files.contains(&name.as_str()) || crate::safe_fs::is_temporary(name))
        };
        if !ok {
            return Err(format!(
                "is an rtl4ml build but also holds `{}`, which rtl4ml did not write",
                crate::text::escape(name)
            ));
        }
    }
    Ok(())
}

/// Removes a temporary directory when dropped (if it still exists).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Removes `.NAME.rtl4ml-tmp-PID` / `.NAME.rtl4ml-old-PID` directories in `parent` left by
/// runs that were killed (their process no longer exists). Only on systems with `/proc`.
fn remove_stale_temporaries(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let f = e.file_name().to_string_lossy().to_string();
        let Some(rest) = f.strip_prefix(&format!(".{name}.rtl4ml-")) else {
            continue;
        };
        let pid = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A build directory read back: its manifest and the design recompiled from its model copy.
pub struct BuildDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub design: Design,
}

/// Fails with an explanation unless `dir` was written by `rtl4ml compile`.
pub fn check_build_dir(dir: &Path) -> Result<()> {
    if dir.join(MANIFEST).is_file() {
        return Ok(());
    }
    Err(Error::Data {
        file: dir.display().to_string(),
        message: format!("is not an rtl4ml build directory (it has no {MANIFEST}); create one with `rtl4ml compile MODEL -o DIR`"),
    })
}

/// A manifest may only name files inside its own directory, and its top module must be a name
/// the compiler could have made: the names reach file paths, Verilator's command line and the
/// generated C++ test bench.
fn check_manifest(m: &Manifest, mpath: &Path) -> Result<()> {
    let plain = |f: &str| {
        let mut c = Path::new(f).components();
        matches!(
            (c.next(), c.next()),
            (Some(std::path::Component::Normal(_)), None)
        )
    };
    let bad = |what: String| {
        Err(Error::Data {
            file: mpath.display().to_string(),
            message: format!(
                "{what}; a manifest names only files inside its own directory and a sanitised \
                 top module (recompile the directory with `rtl4ml compile`)"
            ),
        })
    };
    if !plain(&m.model) {
        return bad(format!("`model` is {:?}, not a plain file name", m.model));
    }
    if let Some(f) = m.rtl.iter().find(|f| !plain(f)) {
        return bad(format!("`rtl` lists {f:?}, not a plain file name"));
    }
    if namer::sanitize(&m.top) != m.top {
        return bad(format!(
            "`top` is {:?}, not a module name rtl4ml makes",
            m.top
        ));
    }
    Ok(())
}

/// A file a build directory's manifest names must be a regular file of that directory, not a
/// symbolic link: a link could make `verify` read (and echo in its diffs) any file on the machine.
fn check_regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.file_type().is_file() {
        return Ok(());
    }
    let what = if meta.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    };
    Err(Error::Data {
        file: path.display().to_string(),
        message: format!(
            "is {what}; a build directory holds only the regular files `rtl4ml compile` \
             wrote (recompile the directory)"
        ),
    })
}

pub fn read_dir(dir: &Path) -> Result<BuildDir> {
    check_build_dir(dir)?;
    let mpath = dir.join(MANIFEST);
    let text = crate::input::read_text(&mpath, crate::input::MAX_MODEL_BYTES, "manifest")?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Data {
        file: mpath.display().to_string(),
        message: format!("not an rtl4ml manifest: {e}"),
    })?;
    check_manifest(&manifest, &mpath)?;
    for f in [MANIFEST, manifest.model.as_str()]
        .into_iter()
        .chain(manifest.rtl.iter().map(String::as_str))
    {
        check_regular_file(&dir.join(f))?;
    }
    let graph = crate::frontend::load(&dir.join(&manifest.model))?;
    let design = compile(
        graph,
        &Options {
            clock_ns: manifest.clock_ns,
            top: Some(manifest.top.clone()),
            lower: lower::LowerOptions {
                share: manifest.share,
                dsp: manifest.dsp,
                sat_accum: manifest.sat_accum,
            },
            latency_cycles: Some(manifest.latency_cycles),
            target: manifest.target,
            max_fanout: manifest.max_fanout,
            ..Default::default()
        },
    )?;
    Ok(BuildDir {
        dir: dir.to_path_buf(),
        manifest,
        design,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap_accum() -> LayerGraph {
        let text = include_str!("../models/wrap_accum.json");
        crate::frontend::native::parse(text, "wrap_accum.json").unwrap()
    }

    #[test]
    fn latency_cycles_alone_prefers_the_default_clock() {
        // wrap_accum needs 3 cycles at 4 ns: 5 cycles keep the 4 ns clock and spend no more
        // registers than the fastest clock for 5 cycles does.
        let at = |n, choice| {
            compile(
                wrap_accum(),
                &Options {
                    latency_cycles: Some(n),
                    clock_choice: choice,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let (preferred, fastest) = (at(5, ClockChoice::PreferGiven), at(5, ClockChoice::Fastest));
        assert_eq!(preferred.schedule.latency, 5);
        assert_eq!(preferred.schedule.clock_ns, 4.0);
        assert!(
            fastest.schedule.clock_ns < 4.0,
            "{}",
            fastest.schedule.clock_ns
        );
        assert!(
            preferred.report.resources.ff < fastest.report.resources.ff,
            "{} vs {}",
            preferred.report.resources.ff,
            fastest.report.resources.ff
        );
        // Two cycles cannot hold the design at 4 ns: among the periods at which 2 is the
        // fewest cycles (the shortest for 2 up to the shortest for 1), the fewest register
        // bits (not an error).
        let bits = |d: &Design| {
            crate::ir::schedule::register_bits(&d.net, &d.schedule.stage, d.schedule.latency)
        };
        let (two, two_fastest) = (at(2, ClockChoice::PreferGiven), at(2, ClockChoice::Fastest));
        let one_fastest = at(1, ClockChoice::Fastest);
        let (c, f, top) = (
            two.schedule.clock_ns,
            two_fastest.schedule.clock_ns,
            one_fastest.schedule.clock_ns,
        );
        assert!(f > 4.0 && c >= f && c < top, "{c} vs {f}..{top}");
        assert_eq!(two.schedule.latency, 2);
        assert!(bits(&two) <= bits(&two_fastest));
        // Every period tried is no better: the choice is the minimum over the whole range.
        for k in 1..8 {
            let clock = f + (top - f) * f64::from(k) / 8.0;
            let d = compile(
                wrap_accum(),
                &Options {
                    latency_cycles: Some(2),
                    clock_ns: clock,
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(
                bits(&two) <= bits(&d),
                "{clock} ns: {} < {}",
                bits(&d),
                bits(&two)
            );
        }
        // One cycle: no shorter cut exists, so the shortest period that fits.
        let one = at(1, ClockChoice::PreferGiven);
        assert_eq!(one.schedule.clock_ns, one_fastest.schedule.clock_ns);
        // Given: the same request is refused.
        let e = compile(
            wrap_accum(),
            &Options {
                latency_cycles: Some(1),
                ..Default::default()
            },
        )
        .err()
        .expect("1 cycle at 4 ns is refused");
        assert!(e.to_string().contains("--latency-cycles"), "{e}");
    }

    #[test]
    fn latency_ns_takes_the_fewest_cycles_that_fit() {
        let opts = Options::default();
        // The shortest latency: one cycle at the shortest clock that holds the whole design.
        let one = compile(
            wrap_accum(),
            &Options {
                latency_cycles: Some(1),
                clock_choice: ClockChoice::Fastest,
                ..Default::default()
            },
        )
        .unwrap();
        let shortest = one.schedule.clock_ns;
        let d =
            compile_for_latency_ns(wrap_accum(), &opts, shortest * 1.5, &mut |_, _, _| {}).unwrap();
        assert_eq!(d.schedule.latency, 1);
        assert!((d.schedule.clock_ns - shortest * 1.5).abs() < 1e-9);
        assert!(d.report.critical_path_ns <= d.schedule.clock_ns + 1e-9);
        // Under the shortest latency: an error that names it.
        let e = compile_for_latency_ns(wrap_accum(), &opts, shortest * 0.9, &mut |_, _, _| {})
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("shortest latency under the delay model is"),
            "{e}"
        );
        assert!(e.contains("(1 cycle at"), "{e}");
        assert!(compile_for_latency_ns(wrap_accum(), &opts, -1.0, &mut |_, _, _| {}).is_err());
    }
}
