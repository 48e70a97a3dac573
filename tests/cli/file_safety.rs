//! Nothing a user owns is deleted or written through (issue #14; docs/reliability.md
//! "Round 2: files").
//!
//! * `compile -o DIR` replaces only an earlier build (or an empty directory): a directory
//!   holding anything rtl4ml did not write, a file or a link is refused, untouched.
//! * `report --html`, `verify` and `synth` never write through a link inside a build directory.
//! * `optimize` and `sim` check their outputs before any work: never an input, a directory or
//!   a path without a parent directory.
//! * A closed stdout (`rtl4ml report --json | head`) ends the command quietly with status 0.
//!
//! These run as root in CI: nothing here relies on permissions being denied.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "rtl4ml-safety-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
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

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The run failed with exit status 1, without a panic, and its message holds every `parts`.
fn refused(o: &Output, parts: &[&str]) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected a refusal, got: {e}");
    assert!(!e.contains("panicked"), "{e}");
    for p in parts {
        assert!(e.contains(p), "message lacks {p:?}: {e}");
    }
    e
}

fn compile(out: &Path) -> Output {
    run(&[&"compile", &model("wrap_accum.json"), &"-o", &out, &"-q"])
}

fn compiled(out: &Path) {
    let o = compile(out);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn write(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

// ---- Class 1: `compile -o DIR` replaces only an rtl4ml build ----

#[test]
fn compile_refuses_a_directory_that_merely_holds_rtl4ml_json() {
    let t = Tmp::new("c1");
    let d = t.path("mine");
    std::fs::create_dir(&d).unwrap();
    write(&d.join("rtl4ml.json"), "{\"tool\": \"rtl4ml\"}");
    write(&d.join("thesis.tex"), "years of work");
    let e = refused(
        &compile(&d),
        &[
            "mine",
            "rtl4ml.json",
            "refusing to replace it",
            "choose another output directory",
        ],
    );
    assert!(e.contains("is not an rtl4ml manifest"), "{e}");
    assert_eq!(read(&d.join("thesis.tex")), "years of work");
    assert_eq!(read(&d.join("rtl4ml.json")), "{\"tool\": \"rtl4ml\"}");
    // No temporary left beside it.
    let left: Vec<_> = std::fs::read_dir(&t.0).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn compile_refuses_a_build_holding_a_users_file_and_names_it() {
    let t = Tmp::new("c1b");
    let d = t.path("build");
    compiled(&d);
    write(&d.join("notes.txt"), "keep me");
    refused(
        &compile(&d),
        &["build", "`notes.txt`, which rtl4ml did not write"],
    );
    assert_eq!(read(&d.join("notes.txt")), "keep me");
    // A user's directory inside it is foreign too.
    std::fs::remove_file(d.join("notes.txt")).unwrap();
    std::fs::create_dir(d.join("data")).unwrap();
    write(&d.join("data/x.csv"), "1,2");
    refused(&compile(&d), &["`data`, which rtl4ml did not write"]);
    assert_eq!(read(&d.join("data/x.csv")), "1,2");
    // A file named like a build directory rtl4ml writes, but a link: refused.
    std::fs::remove_dir_all(d.join("data")).unwrap();
    #[cfg(unix)]
    {
        let victim = t.path("victim");
        std::fs::create_dir(&victim).unwrap();
        write(&victim.join("v.txt"), "v");
        link(&victim, &d.join("verify"));
        refused(&compile(&d), &["`verify`, which rtl4ml did not write"]);
        assert_eq!(read(&victim.join("v.txt")), "v");
    }
}

#[test]
fn compile_replaces_an_earlier_build_and_uses_an_empty_directory() {
    let t = Tmp::new("c1c");
    let d = t.path("build");
    compiled(&d);
    // What later commands add (verify/, synth/, report.html) belongs to the build.
    std::fs::create_dir_all(d.join("verify/verilator/obj")).unwrap();
    std::fs::create_dir_all(d.join("synth/xilinx")).unwrap();
    let o = run(&[&"report", &d, &"--html"]);
    assert!(o.status.success(), "{}", stderr(&o));
    compiled(&d);
    assert!(d.join("rtl4ml.json").is_file() && !d.join("verify").exists());
    let e = t.path("empty");
    std::fs::create_dir(&e).unwrap();
    compiled(&e);
    assert!(e.join("rtl4ml.json").is_file());
}

#[test]
fn compile_refuses_a_file_or_a_link_as_the_output_directory() {
    let t = Tmp::new("c1d");
    let f = t.path("file");
    write(&f, "data");
    refused(
        &compile(&f),
        &["exists and is not a directory", "refusing to replace it"],
    );
    assert_eq!(read(&f), "data");
    #[cfg(unix)]
    {
        let b = t.path("build");
        compiled(&b);
        let before = read(&b.join("rtl4ml.json"));
        let l = t.path("link");
        link(&b, &l);
        refused(&compile(&l), &["is a symbolic link"]);
        assert!(std::fs::symlink_metadata(&l)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(read(&b.join("rtl4ml.json")), before);
    }
}

// ---- Class 2: never write through a link inside a build directory ----

#[cfg(unix)]
#[test]
fn report_html_never_writes_through_a_link() {
    let t = Tmp::new("c2");
    let d = t.path("build");
    compiled(&d);
    let victim = t.path("victim.txt");
    write(&victim, "precious");
    link(&victim, &d.join("report.html"));
    refused(
        &run(&[&"report", &d, &"--html"]),
        &[
            "report.html",
            "is a symbolic link",
            "never writes through a link",
        ],
    );
    assert_eq!(read(&victim), "precious");
    // An explicit -o that is a link: the link is replaced, its target untouched.
    let l = t.path("page.html");
    link(&victim, &l);
    let o = run(&[&"report", &d, &"--html", &"-o", &l]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&victim), "precious");
    assert!(read(&l).contains("<html"));
    // -o naming an input of the report, or a directory.
    let before = read(&d.join("report.json"));
    refused(
        &run(&[&"report", &d, &"--html", &"-o", &d.join("report.json")]),
        &["same file as the input report.json"],
    );
    assert_eq!(read(&d.join("report.json")), before);
    refused(
        &run(&[&"report", &d, &"--html", &"-o", &t.0]),
        &["--output is a directory"],
    );
}

#[cfg(unix)]
#[test]
fn verify_and_synth_never_write_through_a_linked_work_directory() {
    let t = Tmp::new("c2b");
    let d = t.path("build");
    compiled(&d);
    let victim = t.path("victim");
    std::fs::create_dir(&victim).unwrap();
    write(&victim.join("mine.txt"), "mine");
    link(&victim, &d.join("verify"));
    refused(
        &run(&[&"verify", &d, &"--vectors", &"10", &"--no-lint"]),
        &["verify", "is a symbolic link", "real directories"],
    );
    std::fs::remove_file(d.join("verify")).unwrap();
    // A link one level down (verify/verilator) is refused as well.
    std::fs::create_dir(d.join("verify")).unwrap();
    link(&victim, &d.join("verify/verilator"));
    refused(
        &run(&[&"verify", &d, &"--vectors", &"10", &"--no-lint"]),
        &["verilator", "is a symbolic link"],
    );
    link(&victim, &d.join("synth"));
    refused(&run(&[&"synth", &d]), &["synth", "is a symbolic link"]);
    let names: Vec<_> = std::fs::read_dir(&victim)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("mine.txt")]);
    assert_eq!(read(&victim.join("mine.txt")), "mine");
}

// ---- Class 4: outputs checked before any work ----

/// Copies of the bundled optimize inputs in a fresh directory.
fn optimize_inputs(t: &Tmp) -> (PathBuf, PathBuf) {
    let m = t.path("model.json");
    let c = t.path("calib.npy");
    std::fs::copy(model("wrap_accum.json"), &m).unwrap();
    std::fs::copy(model("calib/wrap_accum.npy"), &c).unwrap();
    (m, c)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn optimize_refuses_to_overwrite_its_inputs_before_the_search() {
    let t = Tmp::new("c4");
    let (m, c) = optimize_inputs(&t);
    let (mb, cb) = (std::fs::read(&m).unwrap(), std::fs::read(&c).unwrap());
    let before = files(&t.0);
    let opt = |out: &Path| run(&[&"optimize", &m, &"--calib", &c, &"-o", &out, &"-q"]);
    refused(&opt(&m), &["--output is the same file as the input MODEL"]);
    refused(
        &opt(&c),
        &["--output is the same file as the input --calib"],
    );
    #[cfg(unix)]
    {
        let l = t.path("alias.json");
        link(&m, &l);
        refused(&opt(&l), &["same file as the input MODEL"]);
        std::fs::remove_file(&l).unwrap();
    }
    let labels = t.path("labels.npy");
    std::fs::copy(model("calib/wrap_accum.npy"), &labels).unwrap();
    let o = run(&[
        &"optimize",
        &m,
        &"--calib",
        &c,
        &"--labels",
        &labels,
        &"-o",
        &labels,
        &"-q",
    ]);
    refused(&o, &["same file as the input --labels"]);
    std::fs::remove_file(&labels).unwrap();
    assert_eq!(std::fs::read(&m).unwrap(), mb);
    assert_eq!(std::fs::read(&c).unwrap(), cb);
    assert_eq!(files(&t.0), before, "nothing written");
}

#[test]
fn optimize_refuses_a_directory_or_a_missing_parent_before_the_search() {
    let t = Tmp::new("c4b");
    let (m, c) = optimize_inputs(&t);
    let dir = t.path("out");
    std::fs::create_dir(&dir).unwrap();
    let before = files(&t.0);
    let opt = |out: &Path| run(&[&"optimize", &m, &"--calib", &c, &"-o", &out, &"-q"]);
    refused(&opt(&dir), &["out", "--output is a directory"]);
    refused(
        &opt(&t.path("no/such/dir/o.json")),
        &["--output: the directory", "does not exist"],
    );
    // A directory where a Pareto report goes.
    std::fs::create_dir(t.path("o.pareto.svg")).unwrap();
    refused(
        &opt(&t.path("o.json")),
        &["the Pareto report is a directory"],
    );
    std::fs::remove_dir(t.path("o.pareto.svg")).unwrap();
    assert_eq!(
        files(&t.0),
        before,
        "no DIR.pareto.* or other file left behind"
    );
    assert!(files(&dir).is_empty());
}

#[test]
fn sim_refuses_to_overwrite_its_input() {
    let t = Tmp::new("c4c");
    let (m, c) = optimize_inputs(&t);
    let cb = std::fs::read(&c).unwrap();
    let sim = |out: &Path| run(&[&"sim", &m, &"--input", &c, &"--output", &out]);
    refused(
        &sim(&c),
        &["--output is the same file as the input --input"],
    );
    refused(&sim(&m), &["same file as the input MODEL"]);
    refused(&sim(&t.0), &["--output is a directory"]);
    assert_eq!(std::fs::read(&c).unwrap(), cb);
    let o = sim(&t.path("y.npy"));
    assert!(o.status.success(), "{}", stderr(&o));
}

// ---- Class 12: a closed stdout is not a crash ----

/// Runs rtl4ml with stdout a pipe whose reader is closed before anything is written.
fn with_closed_stdout(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut child = Command::new(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let t = Tmp::new("c12");
    let d = t.path("build");
    compiled(&d);
    let (m, c) = optimize_inputs(&t);
    let o_json = t.path("o.json");
    let cases: Vec<Vec<&dyn AsRef<std::ffi::OsStr>>> = vec![
        vec![&"report", &d, &"--json"],
        vec![&"report", &d],
        vec![&"compile", &m, &"-o", &d],
        vec![&"compile", &m, &"-o", &d, &"--emit", &"netlist"],
        vec![&"optimize", &m, &"--calib", &c, &"-o", &o_json],
    ];
    for args in cases {
        let o = with_closed_stdout(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{e}");
        assert!(!e.contains("panicked") && !e.contains("error"), "{e}");
    }
}
