//! Output text and numbers (issue #14, round 2; docs/reliability.md): names from a model never
//! reach the terminal, a text report or an SVG with their control characters, and an error
//! message never holds a forged `error:` line.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

/// OSC title change, CSI clear screen, a forged error line, a carriage return, C1 CSI, bidi.
const EVIL: &str = "l\u{1b}]0;pwn\u{7}\u{1b}[2J\nerror: forged\r\u{9b}31m\u{202e}x";

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtl4ml-hostile-out-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn model(name: &str, dense: &str, relu: &str) -> Value {
    json!({
        "format": "rtl4ml-model", "version": 1, "name": name,
        "inputs": [{"name": "x", "shape": [3], "type": "fixed<8,3,RND,SAT>"}],
        "layers": [
            {"name": dense, "kind": "dense", "input": "x",
             "weight": {"type": "fixed<6,1>", "shape": [3, 2], "data": [3, -7, 0, 12, 31, -32]},
             "bias": {"type": "fixed<8,2>", "data": [5, -9]},
             "result": "fixed<10,4,RND_CONV,SAT>"},
            {"name": relu, "kind": "relu", "input": dense, "result": "ufixed<6,3>"}
        ],
        "outputs": [relu]
    })
}

/// A float64 .npy file of shape `[rows, cols]`.
fn npy(path: &Path, rows: usize, cols: usize, data: &[f64]) {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((header.len() as u16).to_le_bytes());
    b.extend(header);
    for x in data {
        b.extend(x.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// No byte below 0x20 other than `\n` and `\t`, no DEL, no C1 control, no bidi override.
fn assert_clean(what: &str, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    for c in s.chars() {
        let bad = (c < ' ' && c != '\n' && c != '\t')
            || c == '\u{7f}'
            || ('\u{80}'..='\u{9f}').contains(&c)
            || c == '\u{202e}';
        assert!(!bad, "{what} holds {c:?}:\n{s}");
    }
    for line in s.lines() {
        assert!(
            !line.starts_with("error: forged"),
            "{what} forged a line:\n{s}"
        );
    }
}

fn assert_output_clean(what: &str, o: &Output) {
    assert_clean(&format!("{what} stdout"), &o.stdout);
    assert_clean(&format!("{what} stderr"), &o.stderr);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines().filter(|l| l.starts_with("error:")).count() <= 1,
        "{what}: more than one error line:\n{err}"
    );
}

#[test]
fn hostile_names_are_escaped_in_tables_reports_and_summaries() {
    let t = Tmp::new("names");
    let m = t.path("m.json");
    std::fs::write(
        &m,
        model(EVIL, &format!("d{EVIL}"), &format!("r{EVIL}")).to_string(),
    )
    .unwrap();
    let o = run(&["compile", "m.json", "-o", "build"], &t.0);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_output_clean("compile", &o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("l\\u{1b}]0;pwn\\u{7}\\u{1b}[2J\\u{a}error: forged"),
        "{table}"
    );
    let text = std::fs::read(t.path("build").join("report.txt")).unwrap();
    assert_clean("report.txt", &text);
    let o = run(&["report", "build"], &t.0);
    assert!(o.status.success());
    assert_output_clean("report", &o);
    let o = run(&["report", "build", "--html"], &t.0);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read(t.path("build").join("report.html")).unwrap();
    assert_clean("report.html", &html);

    npy(
        &t.path("c.npy"),
        4,
        3,
        &[
            0.5, -1.0, 2.0, 1.5, 0.25, -3.0, 0.0, 1.0, 1.0, -2.0, 0.75, 3.5,
        ],
    );
    let o = run(
        &[
            "optimize",
            "m.json",
            "--calib",
            "c.npy",
            "-o",
            "opt.json",
            "--tolerance",
            "0.5",
            "--metric",
            "mse",
        ],
        &t.0,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_output_clean("optimize", &o);
    let svg = std::fs::read(t.path("opt.pareto.svg")).unwrap();
    assert_clean("pareto svg", &svg);
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("\\u{1b}]0;pwn\\u{7}"), "{svg}");
}

#[test]
fn error_messages_hold_one_error_line_and_no_control_characters() {
    let t = Tmp::new("errors");
    let mut m = model("m", "d", "r");
    m["layers"][1]["input"] = json!(EVIL);
    std::fs::write(t.path("m.json"), m.to_string()).unwrap();
    let o = run(&["compile", "m.json", "-o", "build"], &t.0);
    assert!(!o.status.success());
    assert_output_clean("compile error", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("`l\\u{1b}]0;pwn\\u{7}\\u{1b}[2J\\u{a}error: forged"),
        "{err}"
    );
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn refused(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(if err.contains("invalid value") { 2 } else { 1 }),
        "{err}"
    );
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
    assert_output_clean("refusal", o);
}

#[test]
fn clocks_the_design_cannot_meet_and_nonsense_numbers_are_refused() {
    let t = Tmp::new("clock");
    std::fs::write(t.path("m.json"), model("m", "d", "r").to_string()).unwrap();
    for c in ["1e-300", "0.05"] {
        let o = run(&["compile", "m.json", "-o", "b", "--clock-ns", c], &t.0);
        refused(
            &o,
            &format!("--clock-ns: a {c} ns clock cannot be met: the slowest pipeline stage needs"),
        );
        assert!(stderr(&o).contains("the fastest clock this design can meet is --clock-ns "));
        assert!(!t.path("b").exists());
    }
    // ECP5 keeps 12.5% of the period free (clock uncertainty): odd_types' slowest stage, 4.684
    // ns with the register overhead, needs 5.353 ns, and the suggested clock is accepted.
    let odd = concat!(env!("CARGO_MANIFEST_DIR"), "/models/odd_types.json");
    let o = run(
        &[
            "compile",
            odd,
            "-o",
            "b",
            "--target",
            "lattice-ecp5",
            "--clock-ns",
            "5",
        ],
        &t.0,
    );
    refused(
        &o,
        "the slowest pipeline stage needs 4.684 ns plus the target's 12.5% clock uncertainty; \
         the fastest clock this design can meet is --clock-ns 5.353",
    );
    let o = run(
        &[
            "compile",
            odd,
            "-o",
            "b",
            "--target",
            "lattice-ecp5",
            "--clock-ns",
            "5.353",
            "-q",
        ],
        &t.0,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for (flag, v, msg) in [
        ("--clock-ns", "NaN", "--clock-ns NaN is not a number of ns"),
        ("--clock-ns", "inf", "--clock-ns inf is not a number of ns"),
        (
            "--clock-ns",
            "-1",
            "--clock-ns -1 must be a positive number of ns",
        ),
        (
            "--clock-ns",
            "0",
            "--clock-ns 0 must be a positive number of ns",
        ),
    ] {
        refused(&run(&["compile", "m.json", "-o", "b", flag, v], &t.0), msg);
    }
    npy(&t.path("c.npy"), 2, 3, &[0.5, -1.0, 2.0, 1.5, 0.25, -3.0]);
    for (flag, v, msg) in [
        (
            "--budget-ns",
            "NaN",
            "--budget-ns NaN is not a number of ns",
        ),
        (
            "--budget-ns",
            "-3",
            "--budget-ns -3 must be a positive number of ns",
        ),
        ("--clock-ns", "nan", "--clock-ns nan is not a number of ns"),
        ("--tolerance", "NaN", "bad tolerance `NaN`"),
        ("--tolerance", "-1%", "bad tolerance `-1%`"),
    ] {
        refused(
            &run(
                &[
                    "optimize",
                    "m.json",
                    "--calib",
                    "c.npy",
                    "-o",
                    "o.json",
                    &format!("{flag}={v}"),
                ],
                &t.0,
            ),
            msg,
        );
    }
}

#[test]
fn optimize_refuses_empty_calibration_wild_labels_and_tolerances() {
    let t = Tmp::new("calib");
    std::fs::write(t.path("m.json"), model("m", "d", "r").to_string()).unwrap();
    npy(&t.path("empty.npy"), 0, 3, &[]);
    npy(&t.path("c.npy"), 2, 3, &[0.5, -1.0, 2.0, 1.5, 0.25, -3.0]);
    npy(&t.path("big.npy"), 2, 1, &[0.0, 1e15]);
    npy(&t.path("two.npy"), 2, 1, &[0.0, 2.0]);
    let opt = |extra: &[&str]| {
        let mut a = vec!["optimize", "m.json", "-o", "o.json"];
        a.extend_from_slice(extra);
        run(&a, &t.0)
    };
    refused(
        &opt(&["--calib", "empty.npy"]),
        "empty.npy: no calibration samples (0 rows)",
    );
    refused(
        &opt(&["--calib", "c.npy", "--labels", "big.npy"]),
        "label 1 is 1000000000000000, but the model's first output has 2 classes",
    );
    // The model's first output has 2 elements: class 2 does not exist.
    refused(
        &opt(&["--calib", "c.npy", "--labels", "two.npy"]),
        "label 1 is 2, but the model's first output has 2 classes (expected a class index, 0 to 1)",
    );
    refused(
        &opt(&["--calib", "c.npy", "--tolerance", "1000%"]),
        "a percentage is 0% to 100%",
    );
    refused(
        &opt(&["--calib", "c.npy", "--tolerance", "10"]),
        "--tolerance 10: an argmax tolerance is a fraction of the samples, 0 to 1",
    );
    assert!(!t.path("o.json").exists());
}

#[test]
fn latencies_are_bounded_at_every_entry() {
    let t = Tmp::new("latency");
    std::fs::write(t.path("m.json"), model("m", "d", "r").to_string()).unwrap();
    for n in ["0", "1025", "100000", "1000000000"] {
        refused(
            &run(
                &["compile", "m.json", "-o", "b", "--latency-cycles", n],
                &t.0,
            ),
            &format!("{n} is not in 1..=1024"),
        );
    }
    npy(&t.path("c.npy"), 2, 3, &[0.5, -1.0, 2.0, 1.5, 0.25, -3.0]);
    refused(
        &run(
            &[
                "optimize",
                "m.json",
                "--calib",
                "c.npy",
                "-o",
                "o.json",
                "--budget-cycles",
                "5000",
            ],
            &t.0,
        ),
        "5000 is not in 1..=1024",
    );
    let o = run(&["compile", "m.json", "-o", "b", "-q"], &t.0);
    assert!(o.status.success(), "{}", stderr(&o));
    // A tampered report.json: one SVG bar per cycle must not be drawn 2^32 times.
    let rpath = t.path("b").join("report.json");
    let good = std::fs::read_to_string(&rpath).unwrap();
    let mut r: Value = serde_json::from_str(&good).unwrap();
    r["latency_cycles"] = json!(u32::MAX);
    std::fs::write(&rpath, r.to_string()).unwrap();
    for extra in [&[][..], &["--html"][..]] {
        let mut a = vec!["report", "b"];
        a.extend_from_slice(extra);
        refused(
            &run(&a, &t.0),
            "`latency_cycles` is 4294967295, not 1 to 1024 cycles",
        );
    }
    assert!(!t.path("b").join("report.html").exists());
    // A tampered manifest: `verify` recompiles at its latency, which is refused before any
    // tool runs.
    std::fs::write(&rpath, good).unwrap();
    let mpath = t.path("b").join("rtl4ml.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m["latency_cycles"] = json!(1_000_000_000u32);
    std::fs::write(&mpath, m.to_string()).unwrap();
    refused(
        &run(&["verify", "b", "--vectors", "4"], &t.0),
        "a latency of 1000000000 cycles is more than the 1024 cycles rtl4ml builds",
    );
}
