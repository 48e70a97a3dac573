//! Verification: the generated Verilog, run in Verilator (and Icarus as a second opinion),
//! against the bit-accurate simulator, vector by vector and bit by bit.

pub mod runner;
pub mod vectors;

use crate::error::{Error, Result};
use crate::flow::BuildDir;
use crate::ir::fixed::FixedType;
use crate::sim::Simulator;
use ndarray::Array2;
use runner::{SimJob, SimOutcome};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Random vectors (corner cases are added on top).
    pub random: usize,
    /// Vectors also run through Icarus (0: skip Icarus).
    pub icarus: usize,
    pub seed: u64,
    /// Run `verilator --lint-only -Wall` first.
    pub lint: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            random: 10_000,
            icarus: 64,
            seed: 1,
            lint: true,
        }
    }
}

pub struct VerifyReport {
    pub vectors: usize,
    pub verilator: SimOutcome,
    pub icarus: Option<SimOutcome>,
    pub text: String,
}

/// Packs element mantissas into a bus (little-endian 64-bit words).
pub fn pack(values: &[i64], types: &[FixedType]) -> Vec<u64> {
    let total: u32 = types.iter().map(|t| t.width).sum();
    let mut words = vec![0u64; total.div_ceil(64).max(1) as usize];
    let mut off = 0u32;
    for (&v, t) in values.iter().zip(types) {
        for b in 0..t.width {
            if (v >> b.min(63)) & 1 == 1 {
                let p = off + b;
                words[(p / 64) as usize] |= 1 << (p % 64);
            }
        }
        off += t.width;
    }
    words
}

/// Unpacks a bus into element mantissas.
pub fn unpack(words: &[u64], types: &[FixedType]) -> Vec<i64> {
    let mut off = 0u32;
    types
        .iter()
        .map(|t| {
            let mut v: i64 = 0;
            for b in 0..t.width {
                let p = off + b;
                if words
                    .get((p / 64) as usize)
                    .is_some_and(|w| (w >> (p % 64)) & 1 == 1)
                {
                    v |= 1 << b;
                }
            }
            if t.signed && t.width < 64 && (v >> (t.width - 1)) & 1 == 1 {
                v -= 1 << t.width;
            }
            off += t.width;
            v
        })
        .collect()
}

/// Most random vectors one `verify` run takes (`--vectors`): the vectors, the simulator's
/// results and the harness's files are all held at once.
pub const MAX_VECTORS: usize = 1_000_000;

/// Most input mantissas (vectors × input elements) one `verify` run takes.
pub const MAX_VECTOR_ELEMENTS: usize = 1 << 26;

/// Runs the full check on a build directory.
pub fn verify(b: &BuildDir, opts: &VerifyOptions) -> Result<VerifyReport> {
    let d = &b.design;
    let elements = d.net.input_types().len().max(1);
    if opts.random > MAX_VECTORS || opts.random.saturating_mul(elements) > MAX_VECTOR_ELEMENTS {
        return Err(Error::Data {
            file: b.dir.display().to_string(),
            message: format!(
                "--vectors {} is too many: at most {MAX_VECTORS} random vectors, and at most \
                 {MAX_VECTOR_ELEMENTS} input values in all ({} for this design's {elements} \
                 input elements); run verify several times with different --seed values instead",
                opts.random,
                (MAX_VECTOR_ELEMENTS / elements).min(MAX_VECTORS)
            ),
        });
    }
    // The Verilog on disk must be what this compiler produces for the recorded model.
    let vpath = b.dir.join(format!("{}.v", b.manifest.top));
    let on_disk = crate::input::read_text(&vpath, crate::input::MAX_MODEL_BYTES, "Verilog file")?;
    if on_disk != d.verilog {
        return Err(Error::Mismatch(format!(
            "{} differs from what this rtl4ml produces for {}; recompile the directory",
            vpath.display(),
            b.dir.join(&b.manifest.model).display()
        )));
    }
    // Real directories of the build, never links: the harness files are written there.
    // Checked before any tool runs.
    let work = |sub: &str| crate::safe_fs::build_subdir(&b.dir, &format!("verify/{sub}"));
    let verilator_dir = work("verilator")?;
    let icarus_dir = if opts.icarus > 0 {
        Some(work("icarus")?)
    } else {
        None
    };
    let rtl: Vec<_> = b.manifest.rtl.iter().map(|f| b.dir.join(f)).collect();
    if opts.lint {
        runner::lint(&rtl, &b.manifest.top)?;
    }
    let in_types = d.net.input_types();
    let out_types: Vec<FixedType> = d.net.output_types();
    let inputs: Array2<i64> = vectors::generate(&in_types, opts.random, opts.seed);
    let sim = Simulator::new(&d.net);
    let expected = sim.run(inputs.view());
    let in_bus: Vec<Vec<u64>> = inputs
        .rows()
        .into_iter()
        .map(|r| pack(r.as_slice().unwrap(), &in_types))
        .collect();
    let out_bus: Vec<Vec<u64>> = expected
        .rows()
        .into_iter()
        .map(|r| pack(r.as_slice().unwrap(), &out_types))
        .collect();
    let job = |n: usize, work_dir: PathBuf| SimJob {
        rtl_files: rtl.clone(),
        top: b.manifest.top.clone(),
        in_width: b.manifest.in_width,
        out_width: b.manifest.out_width,
        latency: b.manifest.latency_cycles,
        inputs: &in_bus[..n],
        expected: &out_bus[..n],
        work_dir,
    };
    let verilator = runner::run_verilator(&job(in_bus.len(), verilator_dir))?;
    let icarus = match icarus_dir {
        Some(dir) => Some(runner::run_icarus(&job(
            opts.icarus.min(in_bus.len()),
            dir,
        ))?),
        None => None,
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} vectors ({} corner cases + {} random), latency {} cycles",
        in_bus.len(),
        in_bus.len() - opts.random,
        opts.random,
        b.manifest.latency_cycles
    );
    for o in std::iter::once(&verilator).chain(icarus.as_ref()) {
        let _ = writeln!(text, "{}", o.summary());
        for m in &o.mismatches {
            let _ = writeln!(
                text,
                "{}",
                describe_mismatch(
                    d,
                    m,
                    &out_types,
                    inputs.row(m.index).as_slice().unwrap(),
                    &in_types
                )
            );
        }
        for t in &o.timing_errors {
            let _ = writeln!(text, "  timing: {t}");
        }
    }
    let report = VerifyReport {
        vectors: in_bus.len(),
        verilator,
        icarus,
        text,
    };
    let failed = !report.verilator.passed() || report.icarus.as_ref().is_some_and(|o| !o.passed());
    if failed {
        return Err(Error::Mismatch(report.text));
    }
    Ok(report)
}

/// A readable element-by-element diff of one mismatching vector.
fn describe_mismatch(
    d: &crate::flow::Design,
    m: &runner::Mismatch,
    out_types: &[FixedType],
    input: &[i64],
    in_types: &[FixedType],
) -> String {
    let exp = unpack(&m.expected, out_types);
    let got = unpack(&m.got, out_types);
    let mut s = format!("  vector {}:", m.index);
    if m.got_unknown {
        s.push_str(" (output had X/Z bits)");
    }
    let mut k = 0;
    for p in &d.net.outputs {
        for e in 0..p.elements.len() {
            if exp[k] != got[k] {
                let _ = write!(
                    s,
                    "\n    {}[{e}]: expected {} ({}), got {} ({})",
                    p.name,
                    exp[k],
                    p.ty.to_f64(exp[k] as i128),
                    got[k],
                    p.ty.to_f64(got[k] as i128)
                );
            }
            k += 1;
        }
    }
    let shown: Vec<String> = input
        .iter()
        .zip(in_types)
        .take(16)
        .map(|(v, t)| format!("{}", t.to_f64(*v as i128)))
        .collect();
    let _ = write!(
        s,
        "\n    input: [{}{}]",
        shown.join(", "),
        if input.len() > 16 { ", ..." } else { "" }
    );
    s
}
