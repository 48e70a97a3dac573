//! Happy paths through the real binary: compile (determinism, directory contents, report),
//! `report`, `sim` (float and raw-mantissa paths agree), and Verilog hygiene for hostile names.

use ndarray::{Array2, Array3, Axis};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundled(name: &str) -> PathBuf {
    root().join("models").join(name)
}

/// Every `models/*.json`, sorted.
fn bundled_models() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("json")))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "expected the bundled models, found {v:?}");
    v
}

/// A fresh directory under the system temp dir, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtl4ml-cli-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(BIN).args(args).output().expect("run rtl4ml")
}

/// Runs and asserts success; returns stdout.
fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = run(args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "rtl4ml {shown:?} failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn compile(model: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("compile"),
        model.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    ok(&args)
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Relative path → bytes of every file under `dir`.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if p.is_dir() {
                v.push((rel, b"<dir>".to_vec()));
                stack.push(p);
            } else {
                v.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

fn model_json(path: &Path) -> Value {
    read_json(path)
}

// ---------------------------------------------------------------------------------------------
// compile
// ---------------------------------------------------------------------------------------------

#[test]
fn compile_is_deterministic_and_writes_a_complete_build_dir() {
    for model in bundled_models() {
        let stem = model.file_stem().unwrap().to_string_lossy().to_string();
        let t = Tmp::new(&stem);
        let (a, b) = (t.path("a"), t.path("b"));
        let table = compile(&model, &a, &[]);
        compile(&model, &b, &["--quiet"]);
        // A second compile into an existing build directory replaces it.
        compile(&model, &b, &["-q"]);

        let (sa, sb) = (snapshot(&a), snapshot(&b));
        let names = |s: &[(PathBuf, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(names(&sa), names(&sb), "{stem}: file lists differ");
        for ((p, x), (_, y)) in sa.iter().zip(&sb) {
            assert!(
                x == y,
                "{stem}: {} differs between two compiles",
                p.display()
            );
        }
        assert!(
            !std::fs::read_dir(&t.0)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains("tmp")),
            "{stem}: temporary directory left behind"
        );

        // Manifest.
        let m = read_json(&a.join("rtl4ml.json"));
        let top = m["top"].as_str().expect("manifest top").to_string();
        assert_eq!(m["tool"], "rtl4ml");
        assert_eq!(m["model"], "model.json");
        let rtl: Vec<String> = m["rtl"]
            .as_array()
            .expect("manifest rtl")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(rtl.contains(&format!("{top}.v")), "{stem}: {rtl:?}");
        assert!(
            rtl.contains(&"rtl4ml_valid_pipe.v".to_string()),
            "{stem}: {rtl:?}"
        );
        for f in &rtl {
            assert!(a.join(f).is_file(), "{stem}: manifest lists missing {f}");
        }
        for f in [
            format!("{top}.v"),
            "rtl4ml_valid_pipe.v".into(),
            "report.json".into(),
            "rtl4ml.json".into(),
            "model.json".into(),
        ] {
            assert!(a.join(&f).is_file(), "{stem}: {f} missing");
        }
        // The model copy is the source, byte for byte.
        assert_eq!(
            std::fs::read(a.join("model.json")).unwrap(),
            std::fs::read(&model).unwrap(),
            "{stem}: model.json is not a copy of the model"
        );

        // Report.
        let r = read_json(&a.join("report.json"));
        let lat = r["latency_cycles"].as_u64().expect("latency_cycles");
        let clk = r["clock_ns"].as_f64().expect("clock_ns");
        let lat_ns = r["latency_ns"].as_f64().expect("latency_ns");
        assert!(lat >= 1, "{stem}: latency {lat}");
        assert_eq!(clk, 4.0, "{stem}: default clock");
        assert!(
            (lat_ns - lat as f64 * clk).abs() < 1e-9,
            "{stem}: latency_ns"
        );
        for k in ["lut", "ff", "dsp"] {
            assert!(
                r["resources"][k].is_u64(),
                "{stem}: resources.{k} missing: {}",
                r["resources"]
            );
        }
        assert!(r["resources"]["ff"].as_u64().unwrap() >= lat, "{stem}: ff");
        let layers = r["layers"].as_array().expect("layers[]");
        let src = model_json(&model);
        for l in src["layers"].as_array().unwrap() {
            let n = l["name"].as_str().unwrap();
            assert!(
                layers.iter().any(|x| x["name"] == n),
                "{stem}: report has no row for layer {n:?}"
            );
        }
        assert_eq!(
            m["latency_cycles"].as_u64(),
            Some(lat),
            "{stem}: manifest latency"
        );

        // The table printed by compile is the one `report` prints.
        let printed = ok(&[OsStr::new("report"), a.as_os_str()]);
        assert_eq!(table, printed, "{stem}: compile and report tables differ");
    }
}

#[test]
fn report_prints_a_table_and_json() {
    let t = Tmp::new("report");
    let d = t.path("jet");
    compile(&bundled("jet_tagger.json"), &d, &["-q"]);
    let table = ok(&[OsStr::new("report"), d.as_os_str()]);
    assert!(table.contains("latency"), "{table}");
    assert!(
        table.lines().any(|l| l.trim_start().starts_with("total")),
        "no total row:\n{table}"
    );
    for l in ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4"] {
        assert!(
            table
                .lines()
                .any(|x| x.split_whitespace().next() == Some(l)),
            "no row for {l}:\n{table}"
        );
    }
    let js = ok(&[OsStr::new("report"), d.as_os_str(), OsStr::new("--json")]);
    let v: Value = serde_json::from_str(&js).expect("report --json is JSON");
    assert_eq!(v, read_json(&d.join("report.json")));
    assert!(v["latency_cycles"].is_u64());
    // The total row agrees with the JSON totals.
    let total = table
        .lines()
        .find(|l| l.trim_start().starts_with("total"))
        .unwrap();
    let lut = v["resources"]["lut"].as_u64().unwrap().to_string();
    assert!(
        total.split_whitespace().any(|w| w == lut),
        "total row {total:?} lacks LUT total {lut}"
    );
}

#[test]
fn clock_period_is_recorded_and_a_tighter_clock_never_shortens_latency() {
    let t = Tmp::new("clock");
    let model = bundled("jet_tagger.json");
    let mut last = 0;
    // (1 ns is refused: the model's slowest operation needs 1.4 ns, see hostile_output.rs.)
    for clk in ["8", "4", "2.5", "1.5"] {
        let d = t.path(&format!("c{clk}"));
        compile(&model, &d, &["-q", "--clock-ns", clk]);
        let r = read_json(&d.join("report.json"));
        assert_eq!(r["clock_ns"].as_f64(), Some(clk.parse().unwrap()));
        let lat = r["latency_cycles"].as_u64().unwrap();
        assert!(
            lat >= last,
            "clock {clk}: latency {lat} < {last} at a slower clock"
        );
        last = lat;
        let m = read_json(&d.join("rtl4ml.json"));
        assert_eq!(m["clock_ns"].as_f64(), Some(clk.parse().unwrap()));
    }
}

#[test]
fn fastest_clock_is_the_shortest_period_for_the_cycles() {
    let t = Tmp::new("fastest");
    let model = bundled("egamma_id.json");
    let at = |name: &str, extra: &[&str]| {
        let d = t.path(name);
        let mut args = vec!["-q", "--target", "lattice-ecp5"];
        args.extend_from_slice(extra);
        compile(&model, &d, &args);
        let r = read_json(&d.join("report.json"));
        (
            r["latency_cycles"].as_u64().unwrap(),
            r["clock_ns"].as_f64().unwrap(),
            r["resources"]["ff"].as_u64().unwrap(),
        )
    };
    let (n, fastest, ff_fast) = at("fast", &["--latency-cycles", "3", "--fastest-clock"]);
    let (m, default, ff_default) = at("default", &["--latency-cycles", "3"]);
    assert_eq!((n, m), (3, 3));
    assert!(
        fastest < default && ff_fast >= ff_default,
        "{fastest} ns / {ff_fast} FF vs the default {default} ns / {ff_default} FF"
    );
    // It is the shortest: the same cycles at that clock fit, 1% faster they do not.
    let (k, clock, _) = at(
        "given",
        &["--latency-cycles", "3", "--clock-ns", &fastest.to_string()],
    );
    assert_eq!((k, clock), (3, fastest));
    let faster = format!("{:.3}", fastest * 0.99);
    let out = run(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        t.path("faster").to_str().unwrap(),
        "--target",
        "lattice-ecp5",
        "--latency-cycles",
        "3",
        "--clock-ns",
        &faster,
    ]);
    assert!(
        !out.status.success(),
        "3 cycles at {faster} ns were accepted"
    );
    // It needs the cycles and replaces the clock.
    for bad in [
        vec!["--fastest-clock"],
        vec![
            "--fastest-clock",
            "--latency-cycles",
            "3",
            "--clock-ns",
            "30",
        ],
    ] {
        let mut args = vec!["compile", model.to_str().unwrap(), "-o", "unused"];
        args.extend(bad.iter().copied());
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--fastest-clock"), "{bad:?}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Verilog hygiene
// ---------------------------------------------------------------------------------------------

/// Verilog-2005 and SystemVerilog (IEEE 1800-2017) reserved words.
const KEYWORDS: &[&str] = &[
    "accept_on",
    "alias",
    "always",
    "always_comb",
    "always_ff",
    "always_latch",
    "and",
    "assert",
    "assign",
    "assume",
    "automatic",
    "before",
    "begin",
    "bind",
    "bins",
    "binsof",
    "bit",
    "break",
    "buf",
    "bufif0",
    "bufif1",
    "byte",
    "case",
    "casex",
    "casez",
    "cell",
    "chandle",
    "checker",
    "class",
    "clocking",
    "cmos",
    "config",
    "const",
    "constraint",
    "context",
    "continue",
    "cover",
    "covergroup",
    "coverpoint",
    "cross",
    "deassign",
    "default",
    "defparam",
    "design",
    "disable",
    "dist",
    "do",
    "edge",
    "else",
    "end",
    "endcase",
    "endchecker",
    "endclass",
    "endclocking",
    "endconfig",
    "endfunction",
    "endgenerate",
    "endgroup",
    "endinterface",
    "endmodule",
    "endpackage",
    "endprimitive",
    "endprogram",
    "endproperty",
    "endsequence",
    "endspecify",
    "endtable",
    "endtask",
    "enum",
    "event",
    "eventually",
    "expect",
    "export",
    "extends",
    "extern",
    "final",
    "first_match",
    "for",
    "force",
    "foreach",
    "forever",
    "fork",
    "forkjoin",
    "function",
    "generate",
    "genvar",
    "global",
    "highz0",
    "highz1",
    "if",
    "iff",
    "ifnone",
    "ignore_bins",
    "illegal_bins",
    "implements",
    "implies",
    "import",
    "incdir",
    "include",
    "initial",
    "inout",
    "input",
    "inside",
    "instance",
    "int",
    "integer",
    "interconnect",
    "interface",
    "intersect",
    "join",
    "join_any",
    "join_none",
    "large",
    "let",
    "liblist",
    "library",
    "local",
    "localparam",
    "logic",
    "longint",
    "macromodule",
    "matches",
    "medium",
    "modport",
    "module",
    "nand",
    "negedge",
    "nettype",
    "new",
    "nexttime",
    "nmos",
    "nor",
    "noshowcancelled",
    "not",
    "notif0",
    "notif1",
    "null",
    "or",
    "output",
    "package",
    "packed",
    "parameter",
    "pmos",
    "posedge",
    "primitive",
    "priority",
    "program",
    "property",
    "protected",
    "pull0",
    "pull1",
    "pulldown",
    "pullup",
    "pulsestyle_ondetect",
    "pulsestyle_onevent",
    "pure",
    "rand",
    "randc",
    "randcase",
    "randsequence",
    "rcmos",
    "real",
    "realtime",
    "ref",
    "reg",
    "reject_on",
    "release",
    "repeat",
    "restrict",
    "return",
    "rnmos",
    "rpmos",
    "rtran",
    "rtranif0",
    "rtranif1",
    "s_always",
    "s_eventually",
    "s_nexttime",
    "s_until",
    "s_until_with",
    "scalared",
    "sequence",
    "shortint",
    "shortreal",
    "showcancelled",
    "signed",
    "small",
    "soft",
    "solve",
    "specify",
    "specparam",
    "static",
    "string",
    "strong",
    "strong0",
    "strong1",
    "struct",
    "super",
    "supply0",
    "supply1",
    "sync_accept_on",
    "sync_reject_on",
    "table",
    "tagged",
    "task",
    "this",
    "throughout",
    "time",
    "timeprecision",
    "timeunit",
    "tran",
    "tranif0",
    "tranif1",
    "tri",
    "tri0",
    "tri1",
    "triand",
    "trior",
    "trireg",
    "type",
    "typedef",
    "union",
    "unique",
    "unique0",
    "unsigned",
    "until",
    "until_with",
    "untyped",
    "use",
    "uwire",
    "var",
    "vectored",
    "virtual",
    "void",
    "wait",
    "wait_order",
    "wand",
    "weak",
    "weak0",
    "weak1",
    "while",
    "wildcard",
    "wire",
    "with",
    "within",
    "wor",
    "xnor",
    "xor",
];

/// Splits a line into (code, comment) at the first `//` outside a string literal, and blanks
/// the contents of string literals in the code.
fn split_line(line: &str) -> (String, &str) {
    let mut code = String::new();
    let mut in_str = false;
    let mut prev = '\0';
    for (i, c) in line.char_indices() {
        if in_str {
            if c == '"' && prev != '\\' {
                in_str = false;
                code.push('"');
            }
        } else if c == '"' {
            in_str = true;
            code.push('"');
        } else if c == '/' && line[i + 1..].starts_with('/') {
            return (code, &line[i..]);
        } else {
            code.push(c);
        }
        prev = c;
    }
    (code, "")
}

fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Names declared by `module`, `wire`, `reg`, `input`, `output` in the code part of `v`.
fn declared_names(v: &str) -> Vec<String> {
    let mut names = vec![];
    for line in v.lines() {
        let (code, _) = split_line(line);
        let mut toks = code
            .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
            .filter(|t| !t.is_empty())
            .peekable();
        while let Some(t) = toks.next() {
            if matches!(
                t,
                "module" | "wire" | "reg" | "input" | "output" | "integer"
            ) {
                // Skip further declaration keywords and a range.
                while let Some(&n) = toks.peek() {
                    if matches!(n, "wire" | "reg" | "signed" | "#") || n.starts_with('[') {
                        toks.next();
                    } else {
                        break;
                    }
                }
                if let Some(n) = toks.next() {
                    // `[W-1:0]` may have been split at spaces: skip to after the `]`.
                    let n = if n.contains(']') && !n.ends_with(']') {
                        n.rsplit(']').next().unwrap()
                    } else {
                        n
                    };
                    let n = n.split('=').next().unwrap();
                    if !n.is_empty() && !n.starts_with('#') {
                        names.push(n.to_string());
                    }
                }
            }
        }
    }
    names
}

/// Checks one generated Verilog file; `forbidden` must not occur in code (only in comments).
fn check_verilog(file: &str, v: &str, forbidden: &[&str], allow_strings: bool) {
    const PUNCT: &str = "[]{}()<>=+-*/&|^~!?:;,.@#%`'$_\"";
    for (i, line) in v.lines().enumerate() {
        let (code, _comment) = split_line(line);
        let at = format!("{file}:{}: {line:?}", i + 1);
        for c in code.chars() {
            assert!(
                c.is_ascii_alphanumeric() || c == ' ' || PUNCT.contains(c),
                "{at}: unexpected character {c:?} outside a comment"
            );
        }
        if !allow_strings {
            assert!(
                !code.contains('"'),
                "{at}: string literal in generated code"
            );
        }
        for f in forbidden {
            assert!(!code.contains(f), "{at}: {f:?} appears outside a comment");
        }
        assert!(!line.contains('\r'), "{at}: carriage return");
    }
    let decls = declared_names(v);
    assert!(!decls.is_empty(), "{file}: no declarations found");
    let mut seen = BTreeSet::new();
    for n in &decls {
        assert!(
            is_identifier(n),
            "{file}: declared name {n:?} is not a simple identifier"
        );
        assert!(
            !KEYWORDS.contains(&n.to_ascii_lowercase().as_str()),
            "{file}: keyword {n:?} used as a name"
        );
        assert!(seen.insert(n.clone()), "{file}: {n:?} declared twice");
    }
    assert_eq!(
        v.lines()
            .filter(|l| split_line(l).0.trim_start().starts_with("module "))
            .count(),
        1,
        "{file}: expected exactly one module"
    );
    assert_eq!(
        v.lines()
            .filter(|l| split_line(l).0.trim() == "endmodule")
            .count(),
        1,
        "{file}: expected exactly one endmodule"
    );
}

fn check_build_dir(d: &Path, forbidden: &[&str]) -> String {
    let m = read_json(&d.join("rtl4ml.json"));
    let top = m["top"].as_str().unwrap().to_string();
    assert!(is_identifier(&top), "top {top:?}");
    assert!(
        !KEYWORDS.contains(&top.as_str()),
        "top {top:?} is a keyword"
    );
    for f in m["rtl"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let v = std::fs::read_to_string(d.join(f)).unwrap();
        let is_top = f == format!("{top}.v");
        check_verilog(f, &v, forbidden, !is_top);
        if is_top {
            assert!(
                v.lines().any(|l| l.starts_with(&format!("module {top} ("))),
                "{f}: no `module {top} (`"
            );
        }
    }
    top
}

#[test]
fn bundled_models_give_clean_verilog() {
    for model in bundled_models() {
        let stem = model.file_stem().unwrap().to_string_lossy().to_string();
        let t = Tmp::new(&stem);
        let d = t.path("out");
        compile(&model, &d, &["-q"]);
        check_build_dir(&d, &[]);
    }
}

#[test]
fn hostile_layer_names_never_reach_verilog_code() {
    let t = Tmp::new("hostile");
    let d = t.path("out");
    let model = bundled("wrap_accum.json");
    let names: Vec<String> = model_json(&model)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    for n in ["dense/1 (wrap)", "module", "relu-2", "output"] {
        assert!(
            names.iter().any(|x| x == n),
            "wrap_accum.json lost the name {n:?}"
        );
    }
    compile(&model, &d, &["-q"]);
    check_build_dir(&d, &["dense/1 (wrap)", "dense/1", "(wrap)", "relu-2"]);
    // The names may appear in comments (they document the design).
    let v = std::fs::read_to_string(d.join("wrap_accum.v")).unwrap();
    assert!(v.contains("// ") && v.contains("dense/1 (wrap)"));
}

#[test]
fn names_with_newlines_and_comment_markers_cannot_inject_code() {
    let mut m = model_json(&bundled("wrap_accum.json"));
    m["name"] = json!("evil\nmodule injected; endmodule\n// ");
    m["inputs"][0]["name"] = json!("in\rput */ /* \u{2028} wire injected_in;");
    m["layers"][0]["input"] = m["inputs"][0]["name"].clone();
    let old = m["layers"][1]["name"].as_str().unwrap().to_string();
    let new = "dense\n    wire injected_wire = 1'b1; //";
    m["layers"][1]["name"] = json!(new);
    for l in m["layers"].as_array_mut().unwrap() {
        if l.get("input").and_then(Value::as_str) == Some(old.as_str()) {
            l["input"] = json!(new);
        }
    }
    for o in m["outputs"].as_array_mut().unwrap() {
        if o == &json!(old) {
            *o = json!(new);
        }
    }
    let t = Tmp::new("inject");
    let p = t.path("evil.json");
    std::fs::write(&p, m.to_string()).unwrap();
    let d = t.path("out");
    compile(&p, &d, &["-q"]);
    // Sanitised names may keep the harmless letters ("evil_module_injected_endmodule"), but
    // none of the injected declarations or comment markers may reach the code.
    let top = check_build_dir(
        &d,
        &[
            "wire injected",
            "injected_wire",
            "injected_in",
            "module injected",
            "*/",
            "/*",
            "1'b1;",
        ],
    );
    assert!(
        is_identifier(&top) && top.starts_with("evil"),
        "top {top:?}"
    );
}

#[test]
fn top_option_is_sanitised() {
    let t = Tmp::new("top");
    let model = bundled("odd_types.json");
    for (i, top) in [
        "module",
        "endmodule",
        "2 bad/name",
        "rtl4ml_valid_pipe",
        "wire",
        "a$b",
    ]
    .into_iter()
    .enumerate()
    {
        let d = t.path(&format!("o{i}"));
        compile(&model, &d, &["-q", "--top", top]);
        let got = check_build_dir(&d, &[]);
        if is_identifier(top) && !KEYWORDS.contains(&top) && top != "rtl4ml_valid_pipe" {
            continue;
        }
        assert_ne!(got, top, "--top {top:?} reached Verilog unchanged");
        // The primitive must not be overwritten by, or collide with, the top module.
        let prim = std::fs::read_to_string(d.join("rtl4ml_valid_pipe.v")).unwrap();
        assert!(prim.contains("module rtl4ml_valid_pipe"), "--top {top:?}");
        let r = read_json(&d.join("report.json"));
        assert_eq!(r["top"].as_str(), Some(got.as_str()));
    }
    // A plain legal name is kept as given.
    let d = t.path("plain");
    compile(&model, &d, &["-q", "--top", "my_top"]);
    assert_eq!(check_build_dir(&d, &[]), "my_top");
    assert!(d.join("my_top.v").is_file());
}

// ---------------------------------------------------------------------------------------------
// sim
// ---------------------------------------------------------------------------------------------

/// jet_tagger: 16 inputs of fixed<16,6,RND,SAT> (F = 10), 5 outputs of fixed<16,6> (F = 10).
const JET_IN: usize = 16;
const JET_OUT: usize = 5;
const LSB: f64 = 1.0 / 1024.0;

/// Deterministic mantissas in the input range, with the corner codes in the first rows.
fn jet_mantissas(n: usize) -> Array2<i64> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut a = Array2::<i64>::zeros((n, JET_IN));
    for ((r, c), x) in a.indexed_iter_mut() {
        *x = match r {
            0 => 0,
            1 => 32767,
            2 => -32768,
            3 => {
                if c % 2 == 0 {
                    32767
                } else {
                    -32768
                }
            }
            _ => {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly small values (realistic), sometimes full range.
                let v = (s >> 33) as i64;
                if r % 5 == 0 {
                    v % 65536 - 32768
                } else {
                    v % 8192 - 4096
                }
            }
        };
    }
    a
}

fn sim(model: &Path, input: &Path, output: &Path, raw: bool) {
    let mut args = vec![
        OsStr::new("sim"),
        model.as_os_str(),
        OsStr::new("--input"),
        input.as_os_str(),
        OsStr::new("--output"),
        output.as_os_str(),
    ];
    if raw {
        args.push(OsStr::new("--raw"));
    }
    ok(&args);
}

fn read_i64(p: &Path) -> Array2<i64> {
    ndarray_npy::read_npy(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read_f64(p: &Path) -> Array2<f64> {
    ndarray_npy::read_npy(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn sim_float_values_and_raw_mantissas_agree() {
    let t = Tmp::new("sim");
    let model = bundled("jet_tagger.json");
    let n = 200;
    let mant = jet_mantissas(n);
    let vals = mant.mapv(|m| m as f64 * LSB);
    let (fin, iin) = (t.path("in_f64.npy"), t.path("in_i64.npy"));
    ndarray_npy::write_npy(&fin, &vals).unwrap();
    ndarray_npy::write_npy(&iin, &mant).unwrap();

    let (f_raw, i_raw, f_val, i_val) = (
        t.path("f_raw.npy"),
        t.path("i_raw.npy"),
        t.path("f_val.npy"),
        t.path("i_val.npy"),
    );
    sim(&model, &fin, &f_raw, true);
    sim(&model, &iin, &i_raw, true);
    sim(&model, &fin, &f_val, false);
    sim(&model, &iin, &i_val, false);
    let (a, b) = (read_i64(&f_raw), read_i64(&i_raw));
    let (va, vb) = (read_f64(&f_val), read_f64(&i_val));
    assert_eq!(a.dim(), (n, JET_OUT));
    assert_eq!(va.dim(), (n, JET_OUT));
    assert_eq!(
        a, b,
        "float inputs on the LSB grid must equal the raw-mantissa path"
    );
    assert_eq!(va, vb);
    // Values are the mantissas of fixed<16,6> scaled by 2^-10, and fit the type.
    for (&m, &v) in b.iter().zip(va.iter()) {
        assert!(
            (-32768..=32767).contains(&m),
            "output mantissa {m} outside fixed<16,6>"
        );
        assert_eq!(v, m as f64 * LSB);
    }
    // Not degenerate: the outputs vary.
    let distinct: BTreeSet<i64> = b.iter().copied().collect();
    assert!(distinct.len() > 10, "outputs barely vary: {distinct:?}");

    // float32 input of the same values (exact in f32), and a Fortran-order file, agree too.
    let f32in = t.path("in_f32.npy");
    ndarray_npy::write_npy(&f32in, &vals.mapv(|x| x as f32)).unwrap();
    let f32raw = t.path("f32_raw.npy");
    sim(&model, &f32in, &f32raw, true);
    assert_eq!(read_i64(&f32raw), b);
    let fort = t.path("in_fortran.npy");
    let vals_f = {
        let mut f = Array2::<f64>::zeros((JET_IN, n)).reversed_axes(); // column-major [n, 16]
        f.assign(&vals);
        f
    };
    assert!(!vals_f.is_standard_layout());
    ndarray_npy::write_npy(&fort, &vals_f).unwrap();
    let fort_raw = t.path("fort_raw.npy");
    sim(&model, &fort, &fort_raw, true);
    assert_eq!(read_i64(&fort_raw), b, "Fortran-order input");

    // A single sample given as shape [16] gives one row.
    let one = t.path("one.npy");
    ndarray_npy::write_npy(&one, &vals.index_axis(Axis(0), 7).to_owned()).unwrap();
    let one_raw = t.path("one_raw.npy");
    sim(&model, &one, &one_raw, true);
    let o = read_i64(&one_raw);
    assert_eq!(o.dim(), (1, JET_OUT));
    assert_eq!(o.row(0), b.row(7));
}

/// `rtl4ml sim` streams C-order input a chunk of samples at a time (src/sim/stream.rs): over
/// several chunks, with values off the grid, out of range and on rounding ties, it writes
/// exactly what the whole-array path writes (a Fortran-order file takes that path), and a bad
/// value deep in the file is named by its sample and element, with no output left behind.
#[test]
fn sim_streams_many_chunks_like_the_whole_array_path() {
    let t = Tmp::new("simstream");
    let model = bundled("jet_tagger.json");
    let n = 40_003; // 9 full chunks of 4,096 samples and a partial one
    let mant = jet_mantissas(n);
    // Off-grid (quarter and half LSB: ties), and far out of range (saturation) in some rows.
    let vals = Array2::from_shape_fn((n, JET_IN), |(r, c)| {
        let v = mant[[r, c]] as f64 * LSB;
        match r % 7 {
            1 => v + 0.25 * LSB,
            2 => v + 0.5 * LSB,
            3 => v - 0.5 * LSB,
            4 if c == 3 => 1e6,
            5 if c == 5 => -1e6,
            _ => v,
        }
    });
    let (c_in, f_in) = (t.path("c.npy"), t.path("f.npy"));
    ndarray_npy::write_npy(&c_in, &vals).unwrap();
    let mut fort = Array2::<f64>::zeros((JET_IN, n)).reversed_axes();
    fort.assign(&vals);
    ndarray_npy::write_npy(&f_in, &fort).unwrap();
    for raw in [false, true] {
        let (c_out, f_out) = (t.path("c_out.npy"), t.path("f_out.npy"));
        sim(&model, &c_in, &c_out, raw);
        sim(&model, &f_in, &f_out, raw);
        let (a, b) = (
            std::fs::read(&c_out).unwrap(),
            std::fs::read(&f_out).unwrap(),
        );
        assert_eq!(a.len(), b.len());
        assert!(
            a == b,
            "streamed and whole-array outputs differ (raw: {raw})"
        );
        if raw {
            let out = read_i64(&c_out);
            assert_eq!(out.dim(), (n, JET_OUT));
            let distinct: BTreeSet<i64> = out.iter().copied().collect();
            assert!(distinct.len() > 100, "outputs barely vary");
        }
    }
    // A NaN in sample 35,000 (the ninth chunk): named, and nothing written.
    let mut bad = vals.clone();
    bad[[35_000, 3]] = f64::NAN;
    let bad_in = t.path("bad.npy");
    ndarray_npy::write_npy(&bad_in, &bad).unwrap();
    let out_path = t.path("bad_out.npy");
    let o = run(&[
        OsStr::new("sim"),
        model.as_os_str(),
        OsStr::new("--input"),
        bad_in.as_os_str(),
        OsStr::new("--output"),
        out_path.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sample 35000, element 3: value NaN is not a finite number"),
        "{err}"
    );
    assert!(!out_path.exists());
    let left: Vec<_> = std::fs::read_dir(t.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("rtl4ml-tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    // A file cut short inside the data: the header's shape and what the file holds.
    let cut = t.path("cut.npy");
    let bytes = std::fs::read(&c_in).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 8 * JET_IN * 100]).unwrap();
    let o = run(&[
        OsStr::new("sim"),
        model.as_os_str(),
        OsStr::new("--input"),
        cut.as_os_str(),
        OsStr::new("--output"),
        out_path.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("(truncated or corrupt file)"), "{err}");
    assert!(!out_path.exists());
}

#[test]
fn sim_float_inputs_are_cast_with_the_input_type_modes() {
    // fixed<16,6,RND,SAT>: off-grid values round to nearest (ties up), out-of-range saturate.
    let t = Tmp::new("simcast");
    let model = bundled("jet_tagger.json");
    let mant = jet_mantissas(40);
    let mut vals = mant.mapv(|m| m as f64 * LSB);
    let mut expect = mant.clone();
    for ((r, c), v) in vals.indexed_iter_mut() {
        match (r + c) % 6 {
            0 => *v += 0.3 * LSB, // rounds down
            1 => *v -= 0.3 * LSB, // rounds up
            2 if expect[[r, c]] < 32767 => {
                *v += 0.5 * LSB; // tie: RND goes toward +inf
                expect[[r, c]] += 1;
            }
            3 => {
                *v = 1e6;
                expect[[r, c]] = 32767;
            }
            4 => {
                *v = -1e6;
                expect[[r, c]] = -32768;
            }
            _ => {}
        }
    }
    let (fin, iin) = (t.path("f.npy"), t.path("i.npy"));
    ndarray_npy::write_npy(&fin, &vals).unwrap();
    ndarray_npy::write_npy(&iin, &expect).unwrap();
    let (fo, io) = (t.path("fo.npy"), t.path("io.npy"));
    sim(&model, &fin, &fo, true);
    sim(&model, &iin, &io, true);
    assert_eq!(read_i64(&fo), read_i64(&io));
}

#[test]
fn sim_accepts_batches_in_the_input_shape() {
    // wrap_accum's input is [4, 3]: [N, 4, 3] and [N, 12] are the same batch.
    let t = Tmp::new("simshape");
    let model = bundled("wrap_accum.json");
    let n = 17;
    // ufixed<10,2>: mantissas 0..=1023, F = 8.
    let flat = Array2::from_shape_fn((n, 12), |(r, c)| ((r * 131 + c * 37) % 1024) as i64);
    let cube: Array3<i64> = flat.clone().into_shape_with_order((n, 4, 3)).unwrap();
    let (p2, p3) = (t.path("flat.npy"), t.path("cube.npy"));
    ndarray_npy::write_npy(&p2, &flat).unwrap();
    ndarray_npy::write_npy(&p3, &cube).unwrap();
    let (o2, o3) = (t.path("o2.npy"), t.path("o3.npy"));
    sim(&model, &p2, &o2, true);
    sim(&model, &p3, &o3, true);
    let (a, b) = (read_i64(&o2), read_i64(&o3));
    // Outputs: `output` [3] then `relu-2` [8].
    assert_eq!(a.dim(), (n, 11));
    assert_eq!(a, b);
    // relu-2 is ufixed<6,2>: never negative, at most 63.
    for r in 0..n {
        for c in 3..11 {
            assert!(
                (0..=63).contains(&a[[r, c]]),
                "relu-2 mantissa {}",
                a[[r, c]]
            );
        }
    }
}

/// `--emit netlist` prints the scheduled netlist (the snapshot format) instead of the table;
/// `--dump-after PASS` prints the netlist after that pass on stderr, and the written design is
/// the same either way.
#[test]
fn compile_emits_the_netlist_and_dumps_after_a_pass() {
    let t = Tmp::new("emit");
    let (a, b) = (t.path("a"), t.path("b"));
    let plain = run(&[
        OsStr::new("compile"),
        OsStr::new("models/wrap_accum.json"),
        OsStr::new("-o"),
        a.as_os_str(),
    ]);
    assert!(plain.status.success());
    let out = run(&[
        OsStr::new("compile"),
        OsStr::new("models/wrap_accum.json"),
        OsStr::new("-o"),
        b.as_os_str(),
        OsStr::new("--emit"),
        OsStr::new("netlist"),
        OsStr::new("--dump-after"),
        OsStr::new("trim"),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.starts_with("netlist wrap_accum: "), "{stdout}");
    assert!(stdout.contains("latency 3 cycles at 4 ns"), "{stdout}");
    assert_eq!(
        stdout,
        std::fs::read_to_string("tests/snapshots/out/wrap_accum.netlist").unwrap()
    );
    // After trim there is no schedule yet: no stages, no latency.
    assert!(
        stderr.starts_with("; after pass trim\nnetlist wrap_accum: "),
        "{stderr}"
    );
    assert!(!stderr.contains(" @"), "{stderr}");
    assert_eq!(
        std::fs::read(a.join("wrap_accum.v")).unwrap(),
        std::fs::read(b.join("wrap_accum.v")).unwrap()
    );
    let bad = run(&[
        OsStr::new("compile"),
        OsStr::new("models/wrap_accum.json"),
        OsStr::new("-o"),
        b.as_os_str(),
        OsStr::new("--dump-after"),
        OsStr::new("limits"),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("possible values: lower, dce, trim, schedule, fanout"));
}
