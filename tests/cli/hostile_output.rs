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
