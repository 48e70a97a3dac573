//! Retraining moves (`rtl4ml optimize --retrain`, docs/optimize.md "Retraining"): the
//! training core's forward pass is the bit-accurate model, a fine-tune lowers the training
//! loss and keeps weights on their grids (pruned ones at zero, no weight gaining signed
//! digits), the result does not depend on the thread count, and the command line refuses
//! what it cannot do.

use super::data::{calib, load, root};
use ndarray::{s, Array2};
use rtl4ml::frontend::native;
use rtl4ml::ir::layers::{LayerGraph, LayerKind};
use rtl4ml::optimize::retrain::{accuracy, fine_tune, TrainOptions, Trainer};
use rtl4ml::optimize::search::requantize;
use rtl4ml::optimize::simulate;
use rtl4ml::passes::csd::csd;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn labels(family: &str) -> Vec<i64> {
    let path = root()
        .join("models/calib")
        .join(format!("{family}_labels.npy"));
    let f = std::fs::File::open(path).unwrap();
    let a: ndarray::Array1<i32> = ndarray_npy::ReadNpyExt::read_npy(f).unwrap();
    a.iter().map(|&v| i64::from(v)).collect()
}

/// The first output's columns of the simulator's outputs.
fn first_output(g: &LayerGraph, x: &Array2<i64>) -> Array2<i64> {
    let n = g.tensor(g.outputs[0]).len();
    simulate(g, x).unwrap().slice(s![.., ..n]).to_owned()
}

/// A small model with every cast the training core handles: a saturating, rounding input
/// quantizer, per-element quantizers (one of them the always-zero type of a pruned neuron),
/// a ReLU into a narrow saturating type, a wrapping dense result and a flatten.
const ODD: &str = r#"{"format": "rtl4ml-model", "version": 1, "name": "odd",
  "inputs": [{"name": "x", "shape": [4], "type": "fixed<10,4,RND,SAT>"}],
  "layers": [
    {"name": "q", "kind": "quantize", "input": "x", "result": "fixed<6,2,RND,SAT>"},
    {"name": "d1", "kind": "dense", "input": "q",
     "weight": {"type": "fixed<5,1>", "shape": [4, 3],
                "data": [3, -7, 5, 12, 0, -9, -4, 6, 15, 1, -16, 2]},
     "bias": {"type": "fixed<6,2>", "data": [5, -3, 9]}, "result": "fixed<7,3,TRN,WRAP>"},
    {"name": "e", "kind": "quantize", "input": "d1", "result": "fixed<8,3>",
     "element_types": ["fixed<5,2,RND,SAT>", "ufixed<1,0,TRN,SAT_NARROW>", "fixed<6,3,TRN,SAT_SYM>"]},
    {"name": "r", "kind": "relu", "input": "e", "result": "ufixed<3,1,RND,SAT>"},
    {"name": "f", "kind": "flatten", "input": "r"},
    {"name": "d2", "kind": "dense", "input": "f",
     "weight": {"type": "fixed<6,2>", "shape": [3, 3], "data": [9, -13, 4, 0, 7, 3, -8, 11, -2]},
     "bias": {"type": "fixed<4,1>", "data": [1, -2, 0]}, "result": "fixed<9,4,RND,SAT>"}
  ],
  "outputs": ["d2"]}"#;

/// The training core's forward pass gives the simulator's outputs, bit for bit, on the
/// bundled classifiers' calibration sets and on random vectors through every cast kind.
#[test]
fn forward_pass_equals_the_simulator() {
    for (name, family) in [
        ("jet_tagger_16b", "jet_tagger"),
        ("egamma_id_16b", "egamma_id"),
    ] {
        let g = load(name);
        let x = calib(family, &g);
        let t = Trainer::new(&g, false).unwrap();
        assert_eq!(t.outputs(x.view()), first_output(&g, &x), "{name}");
    }
    let g = native::parse(ODD, "odd").unwrap();
    let x = rtl4ml::verify::vectors::generate(&g.input_types(), 4000, 3);
    let t = Trainer::new(&g, false).unwrap();
    let y = first_output(&g, &x);
    assert_eq!(t.outputs(x.view()), y);
    // The vectors reach saturation and wrapping (else the check would be weaker than it looks).
    let distinct = |c: usize| {
        let mut v: Vec<i64> = y.column(c).to_vec();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    assert!((0..3).all(|c| distinct(c) > 3), "outputs barely vary");
}

/// A fine-tune of a damaged jet tagger (weights cut to 4 bits) lowers its training loss,
/// raises its held-out accuracy, keeps every weight on its type's grid, pruned weights at
/// zero and no weight with more signed digits than before; the trained model's forward
/// pass still equals the simulator's.
#[test]
fn fine_tune_lowers_the_loss_and_keeps_the_grid() {
    let mut g = load("jet_tagger_16b");
    for l in &mut g.layers {
        if let LayerKind::Dense { weight, .. } = &mut l.kind {
            *weight = requantize(weight, 2);
        }
    }
    let (x, y) = (calib("jet_tagger", &g), labels("jet_tagger"));
    let (fit, fit_y) = (x.slice(s![..3000, ..]).to_owned(), &y[..3000]);
    let (val, val_y) = (x.slice(s![8000.., ..]).to_owned(), &y[8000..]);
    let before = Trainer::new(&g, true).unwrap();
    let (loss0, _) = before.evaluate(fit.view(), fit_y);
    let acc0 = accuracy(&g, &val, val_y).unwrap();
    let o = TrainOptions {
        epochs: 4,
        ..Default::default()
    };
    let (tuned, losses) = fine_tune(&g, fit.view(), fit_y, &o).unwrap();
    let after = Trainer::new(&tuned, true).unwrap();
    let (loss1, _) = after.evaluate(fit.view(), fit_y);
    let acc1 = accuracy(&tuned, &val, val_y).unwrap();
    assert_eq!(losses.len(), 4);
    assert!(loss1 < loss0 - 0.01, "training loss {loss0} → {loss1}");
    assert!(acc1 > acc0, "held-out accuracy {acc0} → {acc1}");
    let mut changed = 0;
    for (a, b) in g.layers.iter().zip(&tuned.layers) {
        match (&a.kind, &b.kind) {
            (
                LayerKind::Dense {
                    weight: wa,
                    bias: ba,
                    ..
                },
                LayerKind::Dense {
                    weight: wb,
                    bias: bb,
                    ..
                },
            ) => {
                assert_eq!((wa.ty, ba.ty), (wb.ty, bb.ty), "types unchanged");
                for (&ma, &mb) in wa.data.iter().zip(&wb.data) {
                    assert!(wb.ty.contains(i128::from(mb)), "{mb} outside {}", wb.ty);
                    if ma == 0 {
                        assert_eq!(mb, 0, "a pruned weight came back");
                    }
                    assert!(csd(i128::from(mb)).len() <= csd(i128::from(ma)).len());
                    changed += usize::from(ma != mb);
                }
                assert!(bb.data.iter().all(|&m| bb.ty.contains(i128::from(m))));
            }
            (ka, kb) => assert_eq!(ka, kb),
        }
    }
    assert!(changed > 50, "only {changed} weights moved");
    assert_eq!(after.outputs(val.view()), first_output(&tuned, &val));
}

/// Same inputs and seed: the same model with 1 or 3 threads; another seed: another model.
#[test]
fn fine_tune_is_deterministic() {
    let g = load("egamma_id_16b");
    let (x, y) = (calib("egamma_id", &g), labels("egamma_id"));
    let (fit, fit_y) = (x.slice(s![..2000, ..]).to_owned(), &y[..2000]);
    let run = |threads: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let o = TrainOptions {
            epochs: 2,
            seed,
            ..Default::default()
        };
        pool.install(|| fine_tune(&g, fit.view(), fit_y, &o).unwrap())
    };
    let (a, la) = run(1, 5);
    let (b, lb) = run(3, 5);
    assert_eq!(a, b);
    assert_eq!(la, lb);
    assert_ne!(a, g, "the fine-tune changed nothing");
    let (c, _) = run(3, 6);
    assert_ne!(a, c, "the seed is ignored");
}

/// Layers the training core cannot differentiate are refused by name and kind, with the
/// supported kinds listed; `--retrain` without `--labels` names the option; the training
/// options need `--retrain`.
#[test]
fn refusals_name_the_layer_and_the_option() {
    let e = Trainer::new(&load("cicada"), false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`conv`") && e.contains("conv2d"), "{e}");
    assert!(e.contains("--retrain supports dense"), "{e}");
    let e = Trainer::new(&load("deepsets_16b"), false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`pool`") && e.contains("global_avg_pool"), "{e}");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("retrain_refusals");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("o.json");
    let run = |extra: &[&str]| {
        let o = Command::new(BIN)
            .arg("optimize")
            .arg(root().join("models/deepsets_16b.json"))
            .arg("--calib")
            .arg(root().join("models/calib/deepsets.npy"))
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = run(&["--retrain"]);
    assert!(e.contains("--labels"), "{e}");
    let e = run(&["--epochs", "3"]);
    assert!(e.contains("--retrain"), "{e}");
    let labels = root().join("models/calib/deepsets_labels.npy");
    let e = run(&["--retrain", "--labels", labels.to_str().unwrap()]);
    assert!(
        e.contains("--retrain supports") && e.contains("`pool`"),
        "{e}"
    );
    assert!(!out.exists(), "nothing is written on a refusal");
}

/// `rtl4ml optimize --retrain` end to end on a small model: it writes a narrower model whose held-out
/// accuracy is within the tolerance of the start's, whose description says so, whose
/// compiled netlist is the simulator's, and the same bytes again with another thread count.
#[test]
fn cli_retrain_is_byte_identical_and_within_tolerance() {
    let g = native::parse(ODD, "odd").unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("retrain_cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Inputs in range, labels from the model itself with every seventh one moved: a task the
    // model nearly solves, so that training has something to gain.
    let x = rtl4ml::verify::vectors::generate(&g.input_types(), 1200, 11);
    let x = x.slice(s![x.nrows() - 1200.., ..]).to_owned();
    let mut y: Vec<i64> = rtl4ml::optimize::metric::classes(&g, &simulate(&g, &x).unwrap());
    for (i, v) in y.iter_mut().enumerate() {
        if i % 7 == 0 {
            *v = (*v + 1) % 3;
        }
    }
    let t = g.inputs[0].ty;
    let xf = x.mapv(|m| t.to_f64(i128::from(m)));
    let (cal, lab) = (dir.join("x.npy"), dir.join("y.npy"));
    ndarray_npy::write_npy(&cal, &xf).unwrap();
    ndarray_npy::write_npy(&lab, &ndarray::Array1::from(y.clone())).unwrap();
    std::fs::write(dir.join("odd.json"), ODD).unwrap();
    let run = |out: &str, threads: &str| {
        let o = Command::new(BIN)
            .env("RAYON_NUM_THREADS", threads)
            .arg("optimize")
            .arg(dir.join("odd.json"))
            .arg("--calib")
            .arg(&cal)
            .arg("--labels")
            .arg(&lab)
            .args([
                "--retrain",
                "--rounds",
                "2",
                "--epochs",
                "3",
                "--tolerance",
                "2%",
            ])
            .arg("-o")
            .arg(dir.join(out))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (std::fs::read(dir.join(out)).unwrap(), text)
    };
    let (a, text) = run("a.json", "1");
    let (b, _) = run("b.json", "3");
    assert!(a == b, "two runs wrote different models");
    assert!(
        text.contains("--retrain") && text.contains("held-out"),
        "{text}"
    );
    let m = native::load(&dir.join("a.json")).unwrap();
    let desc: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert!(
        desc["description"].as_str().unwrap().contains("fine-tuned"),
        "{desc}"
    );
    assert_ne!(
        m.layers, g.layers,
        "the start was chosen: the test shows nothing"
    );
    // The held-out split is the last quarter; its accuracy is within 2% of the start's.
    let (val, val_y) = (x.slice(s![900.., ..]).to_owned(), &y[900..]);
    let (a0, a1) = (
        accuracy(&g, &val, val_y).unwrap(),
        accuracy(&m, &val, val_y).unwrap(),
    );
    assert!(a1 >= a0 - 0.02 - 1e-9, "held-out accuracy {a0} → {a1}");
    // The written model compiles to a netlist that computes what the simulator computes.
    let d = rtl4ml::flow::compile(m.clone(), &Default::default()).unwrap();
    let y_net = rtl4ml::sim::Simulator::new(&d.net).run(val.view());
    assert_eq!(y_net, simulate(&m, &val).unwrap());
    assert_eq!(
        Trainer::new(&m, false).unwrap().outputs(val.view()),
        first_output(&m, &val)
    );
}
