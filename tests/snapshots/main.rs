//! Test suite: snapshots of what the compiler writes, reviewed as diffs.
//!
//! Each case compiles a small model (bundled models and test fixtures, read where they are)
//! with the options in `CASES` and compares three texts with files checked in under
//! `tests/snapshots/out/`: `NAME.netlist` (the scheduled netlist, `compile --emit netlist`),
//! `NAME.v` (the Verilog) and `NAME.report.txt` (the report). A change to lowering, trimming,
//! scheduling, the Verilog writer or the report shows up here without any external tool.
//!
//! When a change is intended, regenerate and review:
//! `RTL4ML_BLESS=1 cargo test --test snapshots`, then `git diff tests/snapshots/out`.
//! Without it, a difference fails and leaves `NAME.EXT.new` beside the expected file.

mod layering;

use rtl4ml::flow::{compile, Options};
use rtl4ml::passes::lower::{DspPolicy, LowerOptions};
use std::path::{Path, PathBuf};

/// Name, model path (relative to the crate), and the option changes from the defaults
/// (4 ns, UltraScale+, sharing on, no DSPs).
type Case = (&'static str, &'static str, fn(&mut Options));

fn defaults(_: &mut Options) {}

const CASES: &[Case] = &[
    ("odd_types", "models/odd_types.json", defaults),
    ("wrap_accum", "models/wrap_accum.json", defaults),
    ("wrap_accum_3cycles", "models/wrap_accum.json", |o| {
        o.latency_cycles = Some(3);
        o.clock_choice = rtl4ml::flow::ClockChoice::Fastest;
    }),
    ("wrap_accum_ecp5", "models/wrap_accum.json", |o| {
        o.target = rtl4ml::target::Target::LatticeEcp5;
        // A clock the calibrated ECP5 model can meet (its slowest element, 11.7 ns with the
        // register overhead, needs 13.4 ns with the 12.5% clock uncertainty).
        o.clock_ns = 16.0;
    }),
    ("wrap_accum_noshare", "models/wrap_accum.json", |o| {
        o.lower = LowerOptions {
            share: false,
            ..o.lower
        };
    }),
    (
        "kitchen_sink",
        "tests/fixtures/layers/kitchen_sink.json",
        defaults,
    ),
    (
        "kitchen_sink_dsp",
        "tests/fixtures/layers/kitchen_sink.json",
        |o| {
            o.lower = LowerOptions {
                dsp: DspPolicy::Always,
                ..o.lower
            };
        },
    ),
    ("qonnx_bn_mlp", "tests/fixtures/qonnx/bn_mlp.onnx", defaults),
    (
        "qonnx_brevitas_mlp",
        "tests/fixtures/qonnx/brevitas_mlp.onnx",
        defaults,
    ),
    (
        "qonnx_dw_pw_conv",
        "tests/fixtures/qonnx/dw_pw_conv.onnx",
        defaults,
    ),
    (
        "qonnx_pruned_mlp",
        "tests/fixtures/qonnx/pruned_mlp.onnx",
        defaults,
    ),
    ("qonnx_qcnn", "tests/fixtures/qonnx/qcnn.onnx", defaults),
    (
        "qonnx_qkeras_mlp",
        "tests/fixtures/qonnx/qkeras_mlp.onnx",
        defaults,
    ),
    (
        "qonnx_residual_block",
        "tests/fixtures/qonnx/residual_block.onnx",
        defaults,
    ),
    (
        "qonnx_trunc_bipolar",
        "tests/fixtures/qonnx/trunc_bipolar.onnx",
        defaults,
    ),
    (
        "qonnx_unsigned_input",
        "tests/fixtures/qonnx/unsigned_input.onnx",
        defaults,
    ),
    ("hgq_mlp", "tests/fixtures/keras/hgq_mlp.json", defaults),
    ("hgq_conv", "tests/fixtures/keras/hgq_conv.json", defaults),
];

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/out")
}

/// The first lines where `expected` and `actual` differ, with line numbers.
fn first_differences(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = format!("{} lines expected, {} written\n", e.len(), a.len());
    let mut shown = 0;
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            out += &format!(
                "line {}:\n  - {}\n  + {}\n",
                i + 1,
                x.unwrap_or("<end>"),
                y.unwrap_or("<end>")
            );
            shown += 1;
            if shown == 8 {
                out += "  ...\n";
                break;
            }
        }
    }
    out
}

/// Compares `text` with `out/FILE`; blesses with `RTL4ML_BLESS=1`. Returns a failure message.
fn check(file: &str, text: &str) -> Option<String> {
    let path = out_dir().join(file);
    let new = out_dir().join(format!("{file}.new"));
    if std::env::var_os("RTL4ML_BLESS").is_some() {
        std::fs::create_dir_all(out_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
        let _ = std::fs::remove_file(&new);
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == text => {
            let _ = std::fs::remove_file(&new);
            None
        }
        Ok(expected) => {
            std::fs::write(&new, text).unwrap();
            Some(format!(
                "{file} differs from its snapshot (written to {}):\n{}",
                new.display(),
                first_differences(&expected, text)
            ))
        }
        Err(_) => {
            std::fs::write(&new, text).unwrap();
            Some(format!(
                "{file}: no snapshot yet (candidate at {})",
                new.display()
            ))
        }
    }
}

#[test]
fn compiled_outputs_match_their_snapshots() {
    let mut failures = Vec::new();
    for (name, model, tweak) in CASES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(model);
        let graph = rtl4ml::frontend::load(&path).unwrap_or_else(|e| panic!("{model}: {e}"));
        let mut opts = Options::default();
        tweak(&mut opts);
        let design = compile(graph, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let netlist = rtl4ml::backends::netlist_text::write(&design.net, Some(&design.schedule));
        let report = rtl4ml::report::format_table(&design.report);
        for (ext, text) in [
            ("netlist", &netlist),
            ("v", &design.verilog),
            ("report.txt", &report),
        ] {
            failures.extend(check(&format!("{name}.{ext}"), text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} snapshot(s) differ; if the change is intended, run RTL4ML_BLESS=1 cargo test --test snapshots and review git diff tests/snapshots/out\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The printer is deterministic: the same model compiled twice prints the same bytes.
#[test]
fn the_netlist_text_is_deterministic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/wrap_accum.json");
    let texts: Vec<String> = (0..2)
        .map(|_| {
            let d = compile(rtl4ml::frontend::load(&path).unwrap(), &Options::default()).unwrap();
            rtl4ml::backends::netlist_text::write(&d.net, Some(&d.schedule))
        })
        .collect();
    assert_eq!(texts[0], texts[1]);
    // Every node has a line, and the hostile layer name is escaped on its own line.
    assert!(texts[0].contains("; layer "));
    assert!(texts[0].lines().all(|l| !l.chars().any(|c| c.is_control())));
}
