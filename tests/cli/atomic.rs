//! Atomic outputs and determinism.
//!
//! * A failed run — a write error in the middle of the output (a file-size limit makes a write
//!   fail with EFBIG), an output path whose parent is a file, a non-writable parent — exits 1
//!   and leaves no output and no temporary directory; an earlier build in the same place is
//!   left byte for byte intact.
//! * An interrupted run (killed with SIGKILL at varied moments, or by SIGXFSZ in the middle of
//!   a write) leaves the output either absent or a complete build: byte-identical to the old
//!   build or to the new one, never a mixture; the temporaries it leaves are removed by the
//!   next run in the same place.
//! * Identical inputs give byte-identical build directories across runs, output paths,
//!   working directories and thread counts (`RAYON_NUM_THREADS`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "rtl4ml-atomic-{}-{}-{tag}",
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

/// Every file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Names in `dir` that look like rtl4ml temporaries.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".rtl4ml-"))
        .collect()
}

fn compile_cmd(model: &Path, out: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["compile"])
        .arg(model)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .env("RUST_BACKTRACE", "0");
    c
}

fn ok(mut c: Command) {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs `bin args` under `ulimit -f blocks` (512-byte blocks) in bash; `ignore_xfsz` makes the
/// over-long write fail with EFBIG instead of killing the process.
fn capped(blocks: u64, ignore_xfsz: bool, model: &Path, out: &Path) -> Output {
    let trap = if ignore_xfsz { "trap '' XFSZ; " } else { "" };
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"{trap}ulimit -f {blocks} && exec "$0" compile "$1" -o "$2" -q"#
        ))
        .arg(BIN)
        .arg(model)
        .arg(out)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// A model whose Verilog is a few hundred kB (so writes can be cut in the middle).
fn medium_model(t: &Tmp) -> PathBuf {
    let n = 48;
    let data: Vec<i64> = (0..n * n).map(|i| ((i * 37) % 61) as i64 - 30).collect();
    let m = serde_json::json!({
        "format": "rtl4ml-model", "version": 1, "name": "medium",
        "inputs": [{"name": "x", "shape": [n], "type": "fixed<8,3,RND,SAT>"}],
        "layers": [{"name": "d", "kind": "dense",
                    "weight": {"type": "fixed<7,1>", "shape": [n, n], "data": data},
                    "result": "fixed<12,6,RND,SAT>"},
                   {"name": "r", "kind": "relu", "result": "ufixed<8,4>"}],
        "outputs": ["r"]
    });
    let p = t.path("medium.json");
    std::fs::write(&p, m.to_string()).unwrap();
    p
}

#[test]
fn a_write_error_midway_leaves_no_output_and_keeps_an_earlier_build() {
    let t = Tmp::new("efbig");
    let model = medium_model(&t);
    let out = t.path("out");
    // Fresh output: fails cleanly, nothing left.
    let o = capped(64, true, &model, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("File too large") || err.contains("too large"),
        "{err}"
    );
    assert!(!out.exists(), "a failed run left {}", out.display());
    assert!(temporaries(&t.0).is_empty(), "{:?}", temporaries(&t.0));
    // Over an earlier build of another model: the earlier build survives intact.
    ok(compile_cmd(&root().join("models/odd_types.json"), &out));
    let before = snapshot(&out);
    let o = capped(64, true, &model, &out);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(snapshot(&out), before, "the earlier build was changed");
    assert!(temporaries(&t.0).is_empty(), "{:?}", temporaries(&t.0));
}

#[test]
fn a_run_killed_in_the_middle_of_a_write_leaves_old_or_nothing_and_is_cleaned_up_later() {
    let t = Tmp::new("xfsz");
    let model = medium_model(&t);
    let out = t.path("out");
    let o = capped(64, false, &model, &out);
    assert!(
        o.status.code().is_none(),
        "expected death by SIGXFSZ: {:?}",
        o.status
    );
    assert!(!out.exists());
    assert!(
        !temporaries(&t.0).is_empty(),
        "expected the killed run's temporary"
    );
    // The next run cleans the dead run's temporary and succeeds.
    ok(compile_cmd(&model, &out));
    assert!(temporaries(&t.0).is_empty(), "{:?}", temporaries(&t.0));
    assert!(out.join("rtl4ml.json").is_file());
}

#[test]
fn sigkill_at_any_moment_leaves_the_old_or_the_new_build() {
    let t = Tmp::new("kill");
    let model = medium_model(&t);
    // The two complete builds a killed run may leave.
    let (old_dir, new_dir) = (t.path("ref_old"), t.path("ref_new"));
    ok(compile_cmd(&root().join("models/odd_types.json"), &old_dir));
    ok(compile_cmd(&model, &new_dir));
    let (old, new) = (snapshot(&old_dir), snapshot(&new_dir));
    // How long a run takes, to spread the kills over it.
    let start = std::time::Instant::now();
    ok(compile_cmd(&model, &t.path("timing")));
    let full = start.elapsed();
    let out = t.path("out");
    let (mut saw_old, mut saw_new) = (0, 0);
    for k in 0..8u32 {
        let _ = std::fs::remove_dir_all(&out);
        ok(compile_cmd(&root().join("models/odd_types.json"), &out));
        let mut child = compile_cmd(&model, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / 6.0));
        let _ = child.kill();
        let _ = child.wait();
        let now = snapshot(&out);
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!(
                "kill {k}: the output is neither the old nor the new build: {:?}",
                now.keys().collect::<Vec<_>>()
            );
        }
    }
    eprintln!("killed runs left the old build {saw_old} times, the new one {saw_new} times");
    assert!(saw_old > 0, "no kill landed before the rename");
}

#[test]
fn an_output_under_a_file_fails_cleanly() {
    let t = Tmp::new("parentfile");
    let f = t.path("file");
    std::fs::write(&f, "x").unwrap();
    let o = compile_cmd(&root().join("models/odd_types.json"), &f.join("out"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&f).unwrap(), b"x");
    assert_eq!(temporaries(&t.0), Vec::<String>::new());
}

#[test]
fn a_read_only_parent_fails_cleanly() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tmp::new("readonly");
    let parent = t.path("ro");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permissions: then there is nothing to test.
    if std::fs::write(parent.join("probe"), "x").is_ok() {
        eprintln!("skipped: running as a user that can write into a 0555 directory (root)");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let o = compile_cmd(&root().join("models/odd_types.json"), &parent.join("out"))
        .output()
        .unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(std::fs::read_dir(&parent).unwrap().next().is_none());
}

#[test]
fn identical_inputs_give_identical_builds_across_paths_and_thread_counts() {
    let t = Tmp::new("determinism");
    let mut models: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    models.sort();
    assert!(models.len() >= 3);
    for m in &models {
        let stem = m.file_stem().unwrap().to_string_lossy().to_string();
        let mut first: Option<BTreeMap<String, Vec<u8>>> = None;
        for (k, threads) in ["1", "2", "8", "1"].into_iter().enumerate() {
            // Different output names and depths, relative and absolute paths.
            let (cwd, out) = match k {
                0 => (t.0.clone(), PathBuf::from(format!("{stem}_a"))),
                1 => (t.0.clone(), t.path(&format!("deep/er/{stem}_b"))),
                2 => (t.path("deep"), PathBuf::from(format!("../{stem}_c"))),
                _ => (root(), t.path(&format!("{stem}_d"))),
            };
            let mut c = compile_cmd(m, &out);
            c.current_dir(&cwd).env("RAYON_NUM_THREADS", threads);
            std::fs::create_dir_all(t.path("deep")).unwrap();
            ok(c);
            let snap = snapshot(&cwd.join(&out));
            match &first {
                None => first = Some(snap),
                Some(f) => assert!(
                    *f == snap,
                    "{stem}: run {k} (RAYON_NUM_THREADS={threads}) differs from run 0 in {:?}",
                    f.iter()
                        .filter(|(n, b)| snap.get(*n) != Some(b))
                        .map(|(n, _)| n)
                        .collect::<Vec<_>>()
                ),
            }
        }
    }
}

/// `rtl4ml optimize` searches in parallel (rayon). Its results do not depend on the thread
/// count. The budget (4 cycles) is out of reach, so the search chases it (several candidates
/// compiled per round) and then descends again without it: both paths are exercised. The
/// first 1000 samples of the jet calibration set keep it short.
#[test]
fn optimize_results_do_not_depend_on_the_thread_count() {
    use rtl4ml::sim::io::{read_npy, write_npy, NpyData};
    let t = Tmp::new("optimize");
    let calib = t.path("calib.npy");
    let NpyData::Float(x) = read_npy(&root().join("models/calib/jet_tagger.npy")).unwrap() else {
        panic!("the jet calibration set holds floats")
    };
    let x = x.into_dimensionality::<ndarray::Ix2>().unwrap();
    write_npy(&calib, &x.slice(ndarray::s![..1000, ..]).to_owned()).unwrap();
    let mut outs = vec![];
    for threads in ["1", "4"] {
        let out = t.path(&format!("t{threads}/jet.json"));
        // optimize refuses an output whose directory does not exist (docs/reliability.md).
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let o = Command::new(BIN)
            .args(["optimize"])
            .arg(root().join("models/jet_tagger.json"))
            .arg("--calib")
            .arg(&calib)
            .arg("-o")
            .arg(&out)
            .args(["-q", "--budget-cycles", "4"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        // The Pareto report is written either way; its timing field is the only legitimate
        // difference.
        let p = out.with_file_name("jet.pareto.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("search_seconds");
        assert!(
            v["points"].as_array().unwrap().len() > 3,
            "a search was run"
        );
        // Messages name the output path, which differs by the thread count.
        let dir = out.parent().unwrap().display().to_string();
        let stderr = String::from_utf8_lossy(&o.stderr).replace(&dir, "OUT");
        outs.push((o.status.code(), stderr, v));
    }
    assert_eq!(outs[0].0, outs[1].0, "exit status");
    assert_eq!(outs[0].1, outs[1].1, "messages");
    assert_eq!(
        outs[0].2, outs[1].2,
        "optimize explored differently with 1 and 4 threads"
    );
}

#[allow(dead_code)]
fn _unused(_: Duration) {}
