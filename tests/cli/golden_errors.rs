//! The bad-input catalogue: every case's exit status and exact stderr, against golden files.
//!
//! Cases live in `tests/fixtures/errors/`: `NAME.json` is a bad model (written by
//! `make_cases.py`, which also lists them in the README there), and `NAME.stderr` is the golden
//! record: a first line `exit status: N`, then stderr byte for byte. A few cases need binary or
//! large inputs and are made here ([`generated_cases`]). Each case runs the real binary in a
//! scratch directory holding only its input files, with relative paths, so the messages are
//! the same on every machine:
//!
//! ```text
//! rtl4ml compile NAME.json -o out
//! ```
//!
//! After a deliberate change of wording, regenerate the goldens and review the diff:
//!
//! ```text
//! RTL4ML_BLESS=1 cargo test --release --test cli golden_errors::
//! ```
//!
//! Besides the exact text, every case must fail cleanly: non-zero exit that is not a panic
//! (101) or a signal, `error:` first, and no output directory (nor a temporary one) left behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors")
}

struct Case {
    name: String,
    /// Files copied into the scratch directory: (name, bytes).
    files: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Case {
    fn compile(name: &str, files: Vec<(String, Vec<u8>)>) -> Case {
        Case {
            name: name.into(),
            args: ["compile", &format!("{name}.json"), "-o", "out"]
                .map(String::from)
                .to_vec(),
            files,
            env: vec![],
        }
    }
}

/// The catalogue's committed models: every `NAME.json` in the fixture directory.
fn file_cases() -> Vec<Case> {
    let mut v: Vec<Case> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let bytes = std::fs::read(&p).unwrap();
            Case::compile(&name, vec![(format!("{name}.json"), bytes)])
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// A small valid model for the cases whose fault is elsewhere (data, environment, output).
fn good_model() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/odd_types.json")).unwrap()
}

/// An `.npy` file of float64 `data` with the given shape.
fn npy_f64(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}), }}",
        shape
            .iter()
            .map(|d| format!("{d},"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Cases whose inputs are binary, large or not a model file.
fn generated_cases() -> Vec<Case> {
    let sim = |name: &str, npy: Vec<u8>| Case {
        name: name.into(),
        files: vec![("model.json".into(), good_model()), ("x.npy".into(), npy)],
        args: ["sim", "model.json", "--input", "x.npy", "--output", "out"]
            .map(String::from)
            .to_vec(),
        env: vec![],
    };
    let mut utf16 = vec![0xFF, 0xFE];
    for u in String::from_utf8(good_model()).unwrap().encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    vec![
        Case::compile(
            "gen_binary_garbage",
            vec![("gen_binary_garbage.json".into(), png)],
        ),
        Case::compile(
            "gen_utf16_model",
            vec![("gen_utf16_model.json".into(), utf16)],
        ),
        Case {
            env: vec![("RTL4ML_MAX_OPS".into(), "lots".into())],
            ..Case::compile(
                "gen_bad_max_ops_env",
                vec![("gen_bad_max_ops_env.json".into(), good_model())],
            )
        },
        Case {
            env: vec![("RTL4ML_MAX_OPS".into(), "10".into())],
            ..Case::compile(
                "gen_over_lowered_max_ops",
                vec![("gen_over_lowered_max_ops.json".into(), good_model())],
            )
        },
        Case {
            files: vec![
                ("gen_output_is_a_file.json".into(), good_model()),
                ("out".into(), b"precious\n".to_vec()),
            ],
            ..Case::compile("gen_output_is_a_file", vec![])
        },
        sim(
            "gen_sim_nan_input",
            npy_f64(&[1, 6], &[0.5, f64::NAN, 1.0, 2.0, 3.0, 4.0]),
        ),
        sim(
            "gen_sim_inf_input",
            npy_f64(&[6], &[0.5, 1.0, f64::INFINITY, 2.0, 3.0, 4.0]),
        ),
        sim("gen_sim_wrong_shape", npy_f64(&[2, 5], &[0.0; 10])),
        // Found by fuzzing: 14 bytes whose header claims 2.4 GB used to abort `sim`.
        sim(
            "gen_sim_npy_huge_header",
            b"\x93NUMPY\x03\x00\x97\xf8\x00\x93N ".to_vec(),
        ),
        // Round 2 (issue 14): outputs checked before any work, clocks and latencies bounded,
        // names from the model escaped, .npy headers parsed strictly, empty calibration.
        Case {
            args: ["sim", "model.json", "--input", "x.npy", "--output", "x.npy"]
                .map(String::from)
                .to_vec(),
            ..sim("gen_sim_output_is_its_input", npy_f64(&[1, 6], &[0.5; 6]))
        },
        Case {
            args: [
                "optimize",
                "model.json",
                "--calib",
                "x.npy",
                "-o",
                "model.json",
            ]
            .map(String::from)
            .to_vec(),
            ..sim(
                "gen_optimize_output_is_its_model",
                npy_f64(&[4, 6], &[0.5; 24]),
            )
        },
        Case {
            args: ["optimize", "model.json", "--calib", "x.npy", "-o", "x.npy"]
                .map(String::from)
                .to_vec(),
            ..sim(
                "gen_optimize_output_is_its_calibration",
                npy_f64(&[4, 6], &[0.5; 24]),
            )
        },
        Case {
            args: [
                "optimize",
                "model.json",
                "--calib",
                "x.npy",
                "-o",
                "opt.json",
            ]
            .map(String::from)
            .to_vec(),
            ..sim("gen_optimize_empty_calibration", npy_f64(&[0, 6], &[]))
        },
        sim("gen_sim_npy_hex_shape", {
            let mut b = npy_f64(&[1, 6], &[0.5; 6]);
            let at = b.windows(4).position(|w| w == b"(1, ").unwrap();
            b.splice(at..at + 4, b"(0x1".iter().copied());
            b
        }),
        Case {
            args: ["compile", "model.json", "-o", "out", "--clock-ns", "0.05"]
                .map(String::from)
                .to_vec(),
            ..sim("gen_clock_cannot_be_met", vec![])
        },
        Case {
            args: [
                "compile",
                "model.json",
                "-o",
                "out",
                "--latency-cycles",
                "100000",
            ]
            .map(String::from)
            .to_vec(),
            ..sim("gen_latency_cycles_unbounded", vec![])
        },
        Case::compile(
            "gen_control_characters_in_a_name",
            vec![(
                "gen_control_characters_in_a_name.json".into(),
                String::from_utf8(good_model())
                    .unwrap()
                    .replacen(
                        "\"input\": \"x\"",
                        "\"input\": \"\\u001b]0;pwn\\u0007\\nerror: forged\"",
                        1,
                    )
                    .into_bytes(),
            )],
        ),
        sim("gen_sim_truncated_npy", {
            let mut b = npy_f64(&[100, 6], &[0.25; 600]);
            b.truncate(200);
            b
        }),
    ]
}

struct Ran {
    code: Option<i32>,
    stderr: String,
    leftovers: Vec<String>,
}

fn run_case(c: &Case) -> Ran {
    let scratch =
        std::env::temp_dir().join(format!("rtl4ml-golden-{}-{}", std::process::id(), c.name));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    for (f, bytes) in &c.files {
        std::fs::write(scratch.join(f), bytes).unwrap();
    }
    let before: BTreeSet<String> = c.files.iter().map(|(f, _)| f.clone()).collect();
    let mut cmd = Command::new(BIN);
    cmd.args(&c.args)
        .current_dir(&scratch)
        .env("RUST_BACKTRACE", "0")
        .env_remove("RTL4ML_MAX_OPS");
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run rtl4ml");
    let after: BTreeSet<String> = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        leftovers: after.difference(&before).cloned().collect(),
    }
}

fn golden_text(r: &Ran) -> String {
    let code = r.code.map_or("signal".to_string(), |c| c.to_string());
    format!("exit status: {code}\n{}", r.stderr)
}

#[test]
fn error_catalogue_matches_golden_files() {
    let bless = std::env::var_os("RTL4ML_BLESS").is_some();
    let cases: Vec<Case> = file_cases().into_iter().chain(generated_cases()).collect();
    assert!(
        cases.len() >= 30,
        "the catalogue should hold at least 30 cases, has {}",
        cases.len()
    );
    let mut failures = vec![];
    let mut names = BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "case {} twice", c.name);
        let r = run_case(c);
        let what = &c.name;
        // Properties that hold whatever the wording.
        let clean = r.code.is_some_and(|c| c != 0 && c != 101)
            && !r.stderr.contains("panicked")
            && r.stderr.starts_with("error: ")
            && r.leftovers.is_empty();
        if !clean {
            failures.push(format!(
                "{what}: not a clean failure (exit {:?}, new files {:?}):\n{}",
                r.code, r.leftovers, r.stderr
            ));
            continue;
        }
        let got = golden_text(&r);
        let path = dir().join(format!("{what}.stderr"));
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{what}: stderr differs from {}\n--- golden\n{want}--- got\n{got}",
                path.display()
            )),
            Err(_) => failures.push(format!("{what}: no golden file {}", path.display())),
        }
    }
    // No stale goldens: every .stderr belongs to a case.
    for e in std::fs::read_dir(dir()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "stderr") {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if !names.contains(&stem) {
                failures.push(format!("{}: golden file of no case", p.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (after a deliberate wording change: RTL4ML_BLESS=1 cargo test \
         --test cli golden_errors::, then review the diff):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The messages follow the catalogue's promise: they name the file (or the offending input),
/// and model errors say where in the model and what to do.
#[test]
fn golden_messages_name_the_file_and_the_place() {
    for c in file_cases() {
        let p = dir().join(format!("{}.stderr", c.name));
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue; // reported by the test above
        };
        let file = format!("{}.json", c.name);
        assert!(
            text.contains(&file),
            "{}: the message does not name the file {file}:\n{text}",
            c.name
        );
        let place = [
            "layer `",
            "input `",
            "top level",
            "field `",
            "outputs[",
            "layers[",
            "line ",
        ];
        assert!(
            place.iter().any(|k| text.contains(k)),
            "{}: the message names no place in the model:\n{text}",
            c.name
        );
    }
}

#[test]
fn every_committed_case_is_listed_in_the_readme() {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    for c in file_cases() {
        assert!(
            readme.contains(&format!("`{}`", c.name)),
            "{} is not described in tests/fixtures/errors/README.md (run make_cases.py)",
            c.name
        );
    }
    let _ = Path::new("");
}
