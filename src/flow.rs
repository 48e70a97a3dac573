//! The compilation flow: model → layer graph → netlist → schedule → Verilog + report, and the
//! output directory that `verify` and `report` read back.

use crate::backends::{namer, verilog};
use crate::error::{Error, Result};
use crate::ir::layers::LayerGraph;
use crate::ir::netlist::Netlist;
use crate::passes::{lower, schedule};
use crate::report::{self, Report};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Options {
    /// Target clock period in ns.
    pub clock_ns: f64,
    /// Top module name (sanitised); default: the model's name.
    pub top: Option<String>,
    /// Target family; its delay model drives pipelining.
    pub target: schedule::Target,
    pub lower: lower::LowerOptions,
    /// Exact latency in cycles: with `clock_ns`, a check (padded with output registers when
    /// the design is faster); see [`schedule::schedule_for_latency`].
    pub latency_cycles: Option<u32>,
    /// With `latency_cycles`: ignore `clock_ns` and find the shortest period that fits.
    pub auto_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock_ns: 4.0,
            top: None,
            target: schedule::Target::default(),
            lower: lower::LowerOptions::default(),
            latency_cycles: None,
            auto_clock: false,
        }
    }
}

/// A compiled design.
pub struct Design {
    pub options: Options,
    pub graph: LayerGraph,
    pub net: Netlist,
    pub schedule: schedule::Schedule,
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
    pub target: schedule::Target,
    /// Lowering options the design was built with (so `verify` rebuilds the same design).
    #[serde(default = "yes")]
    pub share: bool,
}

fn yes() -> bool {
    true
}

pub const MANIFEST: &str = "rtl4ml.json";

/// Compiles a layer graph.
pub fn compile(graph: LayerGraph, opts: &Options) -> Result<Design> {
    if !(opts.clock_ns > 0.0 && opts.clock_ns.is_finite()) {
        return Err(Error::unsupported(
            "--clock-ns",
            format!(
                "the clock period must be a positive number of ns, got {}",
                opts.clock_ns
            ),
        ));
    }
    crate::passes::limits::check(&graph)?;
    let net = lower::lower(&graph, &opts.lower)?;
    let sched = match opts.latency_cycles {
        None => schedule::schedule(&net, opts.clock_ns, &opts.target.delay_model()),
        Some(n) => schedule::schedule_for_latency(
            &net,
            n,
            (!opts.auto_clock).then_some(opts.clock_ns),
            &opts.target.delay_model(),
        )
        .map_err(|m| Error::unsupported("--latency-cycles", m))?,
    };
    let top = namer::sanitize(opts.top.as_deref().unwrap_or(&graph.name));
    let verilog = verilog::write_verilog(&net, &sched, &top)?;
    let report = report::build(&net, &sched, &top);
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

/// Writes a design into `out` atomically: everything goes to a temporary directory that is
/// renamed into place only when complete, so a failure never leaves a valid-looking result.
pub fn write_dir(d: &Design, model_text: &str, out: &Path) -> Result<()> {
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
        write("model.json", model_text)?;
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
            model: "model.json".into(),
            share: d.options.lower.share,
            target: d.options.target,
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
    if out.exists() {
        if !out.join(MANIFEST).exists()
            && std::fs::read_dir(out)
                .map(|mut r| r.next().is_some())
                .unwrap_or(true)
        {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Data {
                file: out.display().to_string(),
                message: "exists and is not an rtl4ml build directory; refusing to overwrite it"
                    .into(),
            });
        }
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
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

pub fn read_dir(dir: &Path) -> Result<BuildDir> {
    check_build_dir(dir)?;
    let mpath = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Data {
        file: mpath.display().to_string(),
        message: format!("not an rtl4ml manifest: {e}"),
    })?;
    let graph = crate::frontend::load(&dir.join(&manifest.model))?;
    let design = compile(
        graph,
        &Options {
            clock_ns: manifest.clock_ns,
            top: Some(manifest.top.clone()),
            lower: lower::LowerOptions {
                share: manifest.share,
            },
            latency_cycles: Some(manifest.latency_cycles),
            target: manifest.target,
            ..Default::default()
        },
    )?;
    Ok(BuildDir {
        dir: dir.to_path_buf(),
        manifest,
        design,
    })
}
