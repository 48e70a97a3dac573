//! Untrusted model files and build directories: names and paths from them never reach the
//! Verilog, the C++ test bench, file names or the file system outside the output directory,
//! and inputs found by fuzzing stay fixed.
//!
//! * hostile names (quotes, backticks, Verilog keywords and directives, `*/`, newlines, NUL,
//!   Unicode, bidi overrides, path separators, very long names) as model, input and layer
//!   names and as `--top`: the build directory holds exactly the expected files, all with
//!   plain ASCII identifier names, the Verilog code (outside `//` comments) holds none of the
//!   payloads, and comments never span lines;
//! * `--top ../../x` and a model named `../../etc/x` write nothing outside the output directory;
//! * a tampered build directory (manifest `top`, `model` or `rtl` naming paths outside it, or
//!   a top name that is not an identifier) is refused by `verify` before anything is read
//!   from, or written to, those paths;
//! * with Verilator installed: a model crafted to inject Verilog and C++ goes through the full
//!   `verify` flow, and the generated test bench names only the sanitised module;
//! * `tests/fixtures/fuzz/*.json`: models found by the fuzzers (docs/reliability.md) load,
//!   compile and agree with the layer-level reference.

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::sim::{reference, Simulator};
use rtl4ml::verify::vectors;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtl4ml-untrusted-{}-{}-{tag}",
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

fn run(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn os(s: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// The code part of a Verilog line (before `//`).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap()
}

/// A small model whose model, input and layer names are `names[0..4]`.
fn named_model(model: &str, input: &str, dense: &str, relu: &str) -> Value {
    json!({
        "format": "rtl4ml-model", "version": 1, "name": model,
        "inputs": [{"name": input, "shape": [3], "type": "fixed<8,3,RND,SAT>"}],
        "layers": [
            {"name": dense, "kind": "dense", "input": input,
             "weight": {"type": "fixed<6,1>", "shape": [3, 2], "data": [3, -7, 0, 12, 31, -32]},
             "bias": {"type": "fixed<8,2>", "data": [5, -9]},
             "result": "fixed<10,4,RND_CONV,SAT>"},
            {"name": relu, "kind": "relu", "input": dense, "result": "ufixed<6,3>"}
        ],
        "outputs": [relu, dense]
    })
}

/// Payloads aimed at Verilog, the C++ bench, the shell and the file system.
const PAYLOADS: &[&str] = &[
    "x\"; $system(\"touch /tmp/rtl4ml-pwned\"); //",
    "*/ endmodule module evil(input a); initial $finish; /*",
    "`define wire reg\n`include \"/etc/passwd\"",
    "a\nwire injected = 1'b1;\n",
    "}; int main() { system(\"id\"); } //",
    "../../etc/x",
    "..",
    "/",
    "C:\\Windows\\x",
    "module",
    "endmodule",
    "always",
    "rtl4ml_valid_pipe",
    "Vtop",
    "name\u{0}with\u{0}nul",
    "\u{202E}evil\u{202C}",
    "модель_層_🚀",
    "\u{FEFF}\u{200B}",
    "`ifdef X `endif $display(\"hi\")",
];

fn long_name() -> String {
    "A".repeat(10_000)
}

/// Asserts that a build directory holds only the expected, plainly named files and that no
/// payload reached its Verilog code.
fn check_build(out: &Path, payload: &str) {
    let files = tree(out);
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("rtl4ml.json")).unwrap()).unwrap();
    let top = m["top"].as_str().unwrap();
    assert!(is_identifier(top), "top {top:?} for payload {payload:?}");
    assert!(top.len() <= 64, "top {top:?} is too long");
    let want: BTreeSet<String> = [
        format!("{top}.v"),
        "rtl4ml_valid_pipe.v".into(),
        "rtl4ml_add3.v".into(),
        "rtl4ml_add2.v".into(),
        "model.json".into(),
        "report.json".into(),
        "report.txt".into(),
        "rtl4ml.json".into(),
        // Vendor handoff (src/backends/vendor.rs): fixed names.
        "vivado".into(),
        "vivado/build.tcl".into(),
        "vivado/constraints.xdc".into(),
        "quartus".into(),
        "quartus/build.tcl".into(),
        "quartus/constraints.sdc".into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(files, want, "payload {payload:?}");
    // The vendor scripts are made from the manifest's sanitised names alone.
    let rtl: Vec<String> = m["rtl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let vendor = rtl4ml::backends::vendor::files(&rtl4ml::backends::vendor::Vendor {
        top,
        rtl: &rtl,
        clock_ns: m["clock_ns"].as_f64().unwrap(),
        latency: m["latency_cycles"].as_u64().unwrap() as u32,
        in_width: m["in_width"].as_u64().unwrap() as u32,
        out_width: m["out_width"].as_u64().unwrap() as u32,
    })
    .unwrap();
    for (f, text) in vendor {
        let v = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(v.is_ascii(), "{f}: non-ASCII for payload {payload:?}");
        assert_eq!(v, text, "{f} for payload {payload:?}");
    }
    for f in m["rtl"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let v = std::fs::read_to_string(out.join(f)).unwrap();
        // The hand-written primitives are copied verbatim.
        if let Some((_, text)) = rtl4ml::backends::verilog::PRIMITIVES
            .iter()
            .find(|(n, _)| *n == f)
        {
            assert_eq!(&v, text, "{f} differs from the primitive");
            continue;
        }
        for (i, line) in v.lines().enumerate() {
            assert!(
                line.is_ascii(),
                "{f}:{}: non-ASCII for payload {payload:?}: {line:?}",
                i + 1
            );
            assert!(!line.contains('\r') && !line.contains('\0'));
            let c = code(line).trim();
            // Sanitised names may keep harmless letters ("evil_module_..."), but no system
            // task, string, comment marker or directive can come from a name.
            for bad in ["$", "\"", "/*", "*/"] {
                assert!(
                    !c.contains(bad),
                    "{f}:{}: {bad:?} in code for payload {payload:?}: {line:?}",
                    i + 1
                );
            }
            assert!(
                !c.contains('`') || c.starts_with("`default_nettype "),
                "{f}:{}: directive for payload {payload:?}: {line:?}",
                i + 1
            );
        }
        let modules = v
            .lines()
            .filter(|l| code(l).trim_start().starts_with("module "))
            .count();
        assert_eq!(modules, 1, "{f}: payload {payload:?} added a module");
        let ends = v.lines().filter(|l| code(l).trim() == "endmodule").count();
        assert_eq!(ends, 1, "{f}: payload {payload:?} added an endmodule");
    }
}

#[test]
fn hostile_names_reach_neither_verilog_nor_file_names() {
    let t = Tmp::new("names");
    let long = long_name();
    let mut payloads: Vec<&str> = PAYLOADS.to_vec();
    payloads.push(&long);
    for (i, p) in payloads.iter().enumerate() {
        // Every name in the model at once: distinct so that the model stays valid.
        let m = named_model(
            p,
            &format!("{p}_in"),
            &format!("{p} dense"),
            &format!("{p}relu"),
        );
        let model = t.path(&format!("m{i}.json"));
        std::fs::write(&model, m.to_string()).unwrap();
        let out = t.path(&format!("out{i}"));
        let before = tree(&t.0);
        let o = run(
            &[
                os("compile"),
                model.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("-q"),
            ],
            &t.0,
        );
        assert!(
            o.status.success(),
            "payload {p:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_build(&out, p);
        // Nothing but the output directory appeared.
        let after = tree(&t.0);
        let new: Vec<_> = after
            .difference(&before)
            .filter(|f| !f.starts_with(&format!("out{i}")))
            .collect();
        assert!(new.is_empty(), "payload {p:?} created {new:?}");
        // The same payload as --top (a command-line argument cannot hold NUL).
        if p.contains('\0') {
            continue;
        }
        let out2 = t.path(&format!("top{i}"));
        let o = run(
            &[
                os("compile"),
                model.as_os_str(),
                os("-o"),
                out2.as_os_str(),
                os("-q"),
                os("--top"),
                os(*p),
            ],
            &t.0,
        );
        assert!(
            o.status.success(),
            "--top {p:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_build(&out2, p);
    }
    assert!(!Path::new("/tmp/rtl4ml-pwned").exists());
}

#[test]
fn top_and_model_names_cannot_escape_the_output_directory() {
    let t = Tmp::new("escape");
    // Deep enough that ../../ stays inside the scratch directory, where we can see it.
    let work = t.path("a/b/c");
    std::fs::create_dir_all(&work).unwrap();
    let model = work.join("m.json");
    std::fs::write(
        &model,
        named_model("../../etc/x", "x", "d", "r").to_string(),
    )
    .unwrap();
    for (k, extra) in [
        vec![],
        vec!["--top", "../../x"],
        vec!["--top", "/tmp/x"],
        vec!["--top", "..\\..\\x"],
    ]
    .into_iter()
    .enumerate()
    {
        let before = tree(&t.0);
        let out = work.join(format!("out{k}"));
        let mut args = vec![
            os("compile"),
            model.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("-q"),
        ];
        args.extend(extra.iter().map(os));
        let o = run(&args, &work);
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let after = tree(&t.0);
        let prefix = format!("a/b/c/out{k}");
        let outside: Vec<_> = after
            .difference(&before)
            .filter(|f| !f.starts_with(&prefix))
            .collect();
        assert!(
            outside.is_empty(),
            "{extra:?} wrote outside the output: {outside:?}"
        );
        check_build(&out, &format!("{extra:?}"));
        assert!(!t.path("etc").exists() && !t.path("a/x.v").exists() && !t.path("x.v").exists());
    }
}

/// Compiles a small model into `dir/build` and returns the build directory.
fn build(t: &Tmp) -> PathBuf {
    let model = t.path("m.json");
    std::fs::write(&model, named_model("ok", "x", "d", "r").to_string()).unwrap();
    let out = t.path("build");
    let o = run(
        &[
            os("compile"),
            model.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("-q"),
        ],
        &t.0,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn tampered_manifests_are_refused_before_use() {
    let t = Tmp::new("manifest");
    let outside = t.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // A file an attacker would like read, and a model outside the directory.
    std::fs::write(outside.join("secret.v"), "module secret; endmodule\n").unwrap();
    std::fs::write(
        outside.join("model.json"),
        named_model("ok", "x", "d", "r").to_string(),
    )
    .unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("top", json!("../outside/secret")),
        ("top", json!("ok\"); system(\"id\"); //")),
        ("top", json!("ok top")),
        ("top", json!("module")),
        ("model", json!("../outside/model.json")),
        ("model", json!("/etc/passwd")),
        ("rtl", json!(["ok.v", "../outside/secret.v"])),
        ("rtl", json!(["/etc/hostname"])),
    ];
    for (field, value) in cases {
        let d = build(&t);
        let mpath = d.join("rtl4ml.json");
        let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
        m[field] = value.clone();
        std::fs::write(&mpath, m.to_string()).unwrap();
        let before = tree(&t.0);
        let o = run(
            &[os("verify"), d.as_os_str(), os("--icarus"), os("0")],
            &t.0,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{field} = {value}: {err}");
        assert!(
            err.contains("rtl4ml.json") && err.contains(&format!("`{field}`")),
            "{field} = {value}: the error should name the manifest and the field: {err}"
        );
        assert!(!err.contains("panicked"));
        assert_eq!(tree(&t.0), before, "{field} = {value}: verify wrote files");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn symbolic_links_in_a_build_directory_are_refused() {
    // A link in place of the model copy, the Verilog or the manifest would make `verify` read
    // (and echo in its diffs) a file outside the build directory.
    let t = Tmp::new("symlink");
    let outside = t.path("outside.json");
    std::fs::write(&outside, named_model("ok", "x", "d", "r").to_string()).unwrap();
    for victim in ["model.json", "ok.v", "rtl4ml.json"] {
        let d = build(&t);
        let target = d.join(victim);
        let real = t.path("real");
        std::fs::rename(&target, &real).unwrap();
        let link_to = if victim == "model.json" {
            outside.clone()
        } else {
            real.clone()
        };
        std::os::unix::fs::symlink(&link_to, &target).unwrap();
        let o = run(
            &[os("verify"), d.as_os_str(), os("--icarus"), os("0")],
            &t.0,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{victim} linked: {err}");
        assert!(
            err.contains(victim) && err.contains("symbolic link"),
            "{victim} linked: {err}"
        );
        assert!(!err.contains("panicked"));
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_file(&real).unwrap();
    }
}

#[test]
fn names_with_invalid_json_escapes_are_rejected_cleanly() {
    for (i, name) in [r#""\ud800""#, r#""\udc00x""#, r#""\u00""#, "\"a\u{1}b\""]
        .into_iter()
        .enumerate()
    {
        let text = format!(
            r#"{{"format":"rtl4ml-model","version":1,"name":{name},
            "inputs":[{{"name":"x","shape":[1],"type":"fixed<4,2>"}}],"layers":[],"outputs":["x"]}}"#
        );
        let e = native::parse(&text, "m.json").err();
        assert!(e.is_some(), "case {i}: {name} accepted");
        assert!(e.unwrap().to_string().starts_with("m.json: line"));
    }
}

/// With Verilator: a model crafted to inject Verilog and C++ goes through the whole verify flow;
/// the generated C++ and Verilog test benches name only the sanitised module.
#[test]
fn crafted_model_survives_verify_and_bench_sees_only_the_sanitised_name() {
    if !crate::hw::have("crafted_model_survives_verify", &["verilator"]) {
        return;
    }
    let t = Tmp::new("verify");
    let evil = "x\"); } int main(){system(\"touch /tmp/rtl4ml-pwned\");} /* */ endmodule `define";
    let m = named_model(evil, "in\"put", "*/ module evil; /*", "relu\n$finish;");
    let model = t.path("m.json");
    std::fs::write(&model, m.to_string()).unwrap();
    let out = t.path("build");
    let o = run(
        &[
            os("compile"),
            model.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("-q"),
        ],
        &t.0,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_build(&out, evil);
    let o = run(
        &[
            os("verify"),
            out.as_os_str(),
            os("--vectors"),
            os("200"),
            os("--icarus"),
            os("16"),
        ],
        &t.0,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("PASS"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let top =
        serde_json::from_str::<Value>(&std::fs::read_to_string(out.join("rtl4ml.json")).unwrap())
            .unwrap()["top"]
            .as_str()
            .unwrap()
            .to_string();
    for bench in ["verify/verilator/harness.cpp", "verify/icarus/tb_icarus.v"] {
        let text = std::fs::read_to_string(out.join(bench)).unwrap();
        assert!(text.contains(&top), "{bench} does not name {top}");
        for bad in [
            "system(",
            "main(){",
            "`define",
            "evil",
            "relu\n",
            "in\"put",
            "*/ module",
        ] {
            assert!(!text.contains(bad), "{bench} contains {bad:?}");
        }
    }
    assert!(!Path::new("/tmp/rtl4ml-pwned").exists());
}

/// Replays the models found by fuzzing (`tests/fixtures/fuzz/*.json`, docs/reliability.md):
/// each loads and compiles, and its simulator equals the layer-level reference on the corner
/// vectors and 64 random ones.
#[test]
fn fuzz_findings_stay_fixed() {
    let dir = root().join("tests/fixtures/fuzz");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let g = native::parse(&text, &p.display().to_string()).unwrap();
        let d = compile(g.clone(), &Options::default()).unwrap();
        checked += 1;
        let inputs = vectors::generate(&g.input_types(), 64, 1);
        let out = Simulator::new(&d.net).run(inputs.view());
        for (k, row) in inputs.rows().into_iter().enumerate() {
            if let Ok(want) = reference::evaluate(&g, row.as_slice().unwrap()) {
                assert_eq!(
                    out.row(k).to_vec(),
                    want,
                    "{}: vector {k} {:?}",
                    p.display(),
                    row.to_vec()
                );
            }
        }
    }
    assert!(checked > 0, "no fuzz findings in tests/fixtures/fuzz");
}

/// `.npy` inputs found by the `npy` fuzzer (`tests/fixtures/fuzz/npy-*.npy`): a few bytes whose
/// header claims gigabytes made `sim` abort on allocation failure. Under a 1 GiB address-space
/// cap each must now be a clean error (exit 1).
#[test]
fn fuzzed_npy_files_fail_cleanly_under_a_memory_cap() {
    let dir = root().join("tests/fixtures/fuzz");
    let t = Tmp::new("npy");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "npy") {
            continue;
        }
        n += 1;
        let o = Command::new("bash")
            .arg("-c")
            .arg(r#"ulimit -v 1048576 && exec "$0" sim "$1" --input "$2" --output "$3""#)
            .arg(BIN)
            .arg(root().join("models/odd_types.json"))
            .arg(&p)
            .arg(t.path("out.npy"))
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {:?}\n{err}",
            p.display(),
            o.status
        );
        assert!(
            err.starts_with("error: ") && !err.contains("panicked"),
            "{err}"
        );
        assert!(!t.path("out.npy").exists());
    }
    assert!(n > 0);
}
