//! The QONNX frontend: the committed fixtures (tests/fixtures/qonnx, made by
//! tools/make_qonnx_fixtures.py) against qonnx's own executor, bit for bit; small models
//! built here for the mapping of each operator and rounding mode; every rejection with its
//! message; the command line on `.onnx` files; and Verilator on every fixture and on the
//! rounding and overflow modes QONNX added to the core.
//!
//! The Verilator tests need verilator and iverilog; without them they are skipped with a
//! note, unless RTL4ML_REQUIRE_TOOLS is set, in which case they fail.

use prost::Message;
use rtl4ml::flow::{compile, read_dir, write_dir_with_model, Options};
use rtl4ml::frontend::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use rtl4ml::frontend::{self, qonnx};
use rtl4ml::ir::layers::{LayerGraph, LayerKind};
use rtl4ml::sim::{io, reference, Simulator};
use rtl4ml::verify::{verify, VerifyOptions};
use std::path::{Path, PathBuf};

const FIXTURES: [&str; 9] = [
    "brevitas_mlp",
    "qkeras_mlp",
    "pruned_mlp",
    "bn_mlp",
    "unsigned_input",
    "trunc_bipolar",
    "qcnn",
    "dw_pw_conv",
    "residual_block",
];

fn fixture(name: &str, ext: &str) -> PathBuf {
    Path::new("tests/fixtures/qonnx").join(format!("{name}.{ext}"))
}

/// Simulates a graph on float inputs: the outputs as values, and the output mantissas.
fn simulate(g: &LayerGraph, input: &Path) -> (Vec<Vec<f64>>, ndarray::Array2<i64>) {
    let design = compile(g.clone(), &Options::default()).expect("compiles");
    let data = io::read_npy(input).unwrap();
    let x = io::to_mantissas(data, &g.input_types(), "input", false).unwrap();
    let out = Simulator::new(&design.net).run(x.view());
    for (k, row) in x.rows().into_iter().enumerate() {
        let r = reference::evaluate(g, row.as_slice().unwrap()).unwrap();
        assert_eq!(
            out.row(k).to_vec(),
            r,
            "{}: simulator vs reference, sample {k}",
            g.name
        );
    }
    let values = io::to_values(&out, &g.output_types());
    (values.rows().into_iter().map(|r| r.to_vec()).collect(), out)
}

fn expected(name: &str) -> Vec<Vec<f64>> {
    let io::NpyData::Float(e) = io::read_npy(&fixture(name, "expected.npy")).unwrap() else {
        panic!("{name}: expected outputs are float64");
    };
    let (n, len) = (e.shape()[0], e.len());
    let e = e.into_shape_with_order((n, len / n)).unwrap();
    e.rows().into_iter().map(|r| r.to_vec()).collect()
}

#[test]
fn fixtures_match_qonnx_bit_exactly() {
    for name in FIXTURES {
        let g = frontend::load(&fixture(name, "onnx")).unwrap_or_else(|e| panic!("{e}"));
        let (got, _) = simulate(&g, &fixture(name, "input.npy"));
        let want = expected(name);
        assert_eq!(got.len(), want.len(), "{name}: sample count");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            // f64 equality: exact, with -0.0 == 0.0 (qonnx's sign() * … can make -0.0).
            assert!(a == b, "{name}: sample {k}: rtl4ml {a:?}, qonnx {b:?}");
        }
        eprintln!(
            "{name}: {} samples × {} outputs bit-exact with qonnx",
            want.len(),
            want[0].len()
        );
    }
}

/// Types and layers: a Quant after a dense or a ReLU becomes its result type; per-channel
/// weight scales, narrow ranges, unsigned inputs and the new rounding modes arrive intact.
#[test]
fn fixtures_map_to_the_expected_layers() {
    let kinds = |g: &LayerGraph| -> Vec<&str> { g.layers.iter().map(|l| l.kind.name()).collect() };
    let ty = |g: &LayerGraph, k: usize| g.layers[k].output.ty.to_string();
    let load = |n: &str| frontend::load(&fixture(n, "onnx")).unwrap();

    let g = load("brevitas_mlp");
    assert_eq!(g.inputs[0].ty.to_string(), "fixed<8,4,RND_CONV,SAT>");
    assert_eq!(kinds(&g), ["dense", "relu", "dense", "relu", "dense"]);
    assert_eq!(ty(&g, 1), "ufixed<6,3,RND_CONV,SAT>");
    assert_eq!(ty(&g, 4), "fixed<8,4,RND_CONV,SAT>");
    let LayerKind::Dense { weight, .. } = &g.layers[0].kind else {
        unreachable!()
    };
    assert_eq!(weight.ty.to_string(), "fixed<4,1>");
    assert!(
        weight.data.iter().all(|&m| (-7..=7).contains(&m)),
        "narrow 4-bit weights"
    );

    let g = load("bn_mlp");
    // Batch normalisation folded away: two dense layers with the quantizers' types.
    assert_eq!(kinds(&g), ["dense", "dense"]);
    assert_eq!(ty(&g, 0), "fixed<7,4,CEIL,SAT>");
    assert_eq!(ty(&g, 1), "fixed<7,4,UP,SAT_NARROW>");

    let g = load("unsigned_input");
    assert_eq!(g.inputs[0].shape, [4, 4]);
    assert_eq!(
        g.inputs[0].ty.to_string(),
        "ufixed<8,0,RND_CONV,SAT_NARROW>"
    );
    assert_eq!(
        kinds(&g),
        ["flatten", "dense", "quantize", "dense", "quantize", "dense"]
    );

    let g = load("qkeras_mlp");
    // Cleanup folded the first IntQuant weight quantizer into a plain float initializer,
    // which is still on its per-channel power-of-two grids.
    let LayerKind::Dense { weight, .. } = &g.layers[0].kind else {
        unreachable!()
    };
    assert!(weight.ty.width <= 9, "{}", weight.ty);
    assert_eq!(ty(&g, 1), "ufixed<6,2,TRN,SAT>");
}

// ---- models built here ------------------------------------------------------------------

const QONNX: &str = "qonnx.custom_op.general";

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A QONNX model under construction: one input `x` of shape `[1, …]`.
struct Model {
    graph: GraphProto,
    count: usize,
}

impl Model {
    fn new(dims: &[i64]) -> Model {
        Model {
            graph: GraphProto {
                name: Some("built".into()),
                input: vec![value_info("x", &[&[1], dims].concat())],
                ..Default::default()
            },
            count: 0,
        }
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.count += 1;
        format!("{stem}{}", self.count)
    }

    fn init(&mut self, dims: &[i64], data: &[f32]) -> String {
        let name = self.fresh("c");
        self.graph.initializer.push(TensorProto {
            name: Some(name.clone()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Float as i32),
            float_data: data.to_vec(),
            ..Default::default()
        });
        name
    }

    fn scalar(&mut self, v: f32) -> String {
        self.init(&[], &[v])
    }

    /// A node named `name` with one output, which it returns.
    fn node(
        &mut self,
        name: &str,
        op: &str,
        domain: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = format!("{name}_out");
        self.graph.node.push(NodeProto {
            name: Some(name.into()),
            op_type: Some(op.into()),
            domain: Some(domain.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn quant_in(
        &mut self,
        name: &str,
        domain: &str,
        x: &str,
        scale: f32,
        bits: f32,
        signed: bool,
        narrow: bool,
        mode: &str,
    ) -> String {
        let (s, z, b) = (self.scalar(scale), self.scalar(0.0), self.scalar(bits));
        let attrs = vec![
            attr_int("signed", signed as i64),
            attr_int("narrow", narrow as i64),
            attr_str("rounding_mode", mode),
        ];
        self.node(name, "Quant", domain, &[x, &s, &z, &b], attrs)
    }

    fn quant(
        &mut self,
        name: &str,
        x: &str,
        scale: f32,
        bits: f32,
        signed: bool,
        mode: &str,
    ) -> String {
        self.quant_in(name, QONNX, x, scale, bits, signed, false, mode)
    }

    /// Quantized weights: the float values given, through a 6-bit Quant of scale 2^-3.
    fn weights(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        let w = self.init(dims, data);
        self.quant(name, &w, 0.125, 6.0, true, "ROUND")
    }

    fn bytes(mut self, outputs: &[&str]) -> Vec<u8> {
        self.graph.output = outputs.iter().map(|o| value_info(o, &[])).collect();
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(13),
                },
                OperatorSetIdProto {
                    domain: Some(QONNX.into()),
                    version: Some(1),
                },
            ],
            graph: Some(self.graph),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

fn parse(bytes: &[u8]) -> LayerGraph {
    qonnx::parse(bytes, "built.onnx").unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(bytes: &[u8]) -> String {
    match qonnx::parse(bytes, "built.onnx") {
        Ok(g) => panic!("expected an error, got {} layers", g.layers.len()),
        Err(e) => e.to_string(),
    }
}

/// Runs a graph on float samples (one row each) and returns the output values.
fn run(g: &LayerGraph, samples: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let dir = std::env::temp_dir().join(format!("rtl4ml-qonnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.npy", g.name));
    let n = samples[0].len();
    let a = ndarray::Array2::from_shape_vec((samples.len(), n), samples.concat()).unwrap();
    io::write_npy(&path, &a).unwrap();
    simulate(g, &path).0
}

/// Each QONNX rounding mode on a computed tensor, against the definitions: values on a
/// 1/4 grid requantized to integers (one 8-bit input, one Quant per mode).
#[test]
fn rounding_modes_follow_qonnx() {
    let table: [(&str, [f64; 9]); 7] = [
        // inputs:    -1.5, -1.25, -0.5, -0.25, 0, 0.25, 0.5, 1.25, 1.5
        ("ROUND", [-2.0, -1.0, -0.0, -0.0, 0.0, 0.0, 0.0, 1.0, 2.0]),
        ("FLOOR", [-2.0, -2.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
        ("CEIL", [-1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]),
        ("DOWN", [-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
        ("UP", [-2.0, -2.0, -1.0, -1.0, 0.0, 1.0, 1.0, 2.0, 2.0]),
        ("HALF_UP", [-2.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0]),
        ("HALF_DOWN", [-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
    ];
    let xs = [-1.5, -1.25, -0.5, -0.25, 0.0, 0.25, 0.5, 1.25, 1.5];
    let samples: Vec<Vec<f64>> = xs.iter().map(|&x| vec![x]).collect();
    for (mode, want) in table {
        let mut m = Model::new(&[1]);
        let q = m.quant("in", "x", 0.25, 8.0, true, "ROUND");
        let y = m.quant("requant", &q, 1.0, 4.0, true, mode);
        let g = parse(&m.bytes(&[&y]));
        let got: Vec<f64> = run(&g, &samples).into_iter().map(|r| r[0]).collect();
        assert_eq!(got, want, "{mode}");
    }
}

/// All three domain spellings, IntQuant, Gemm (alpha, beta, transB), a Transpose and a
/// Constant feeding weights, Sub, a constant-first Mul, and a pending dense read twice
/// (built once).
#[test]
fn operators_and_domains() {
    for domain in qonnx::DOMAINS {
        let mut m = Model::new(&[2]);
        let q = m.quant_in("in", domain, "x", 0.5, 6.0, true, false, "ROUND");
        let w = m.weights("w", &[2, 2], &[1.0, -0.5, 0.25, 2.0]);
        let mm = m.node("mm", "MatMul", "", &[&q, &w], vec![]);
        let g = parse(&m.bytes(&[&mm]));
        assert_eq!(g.layers.len(), 1, "{domain}");
        // x = [1.5, -2]: [1.5 - 0.5, -0.75 - 4]
        assert_eq!(run(&g, &[vec![1.5, -2.0]]), [[1.0, -4.75]], "{domain}");
    }

    let mut m = Model::new(&[3]);
    let q = m.quant("in", "x", 0.25, 8.0, true, "ROUND");
    // B stored [n_out, n_in], read with transB = 1, alpha = 2, C = [1, -1] · beta = 0.5.
    let w = m.weights("w", &[2, 3], &[1.0, 0.0, -1.0, 0.5, 0.5, 0.5]);
    let c = m.init(&[2], &[1.0, -1.0]);
    let gemm = m.node(
        "gemm",
        "Gemm",
        "",
        &[&q, &w, &c],
        vec![
            attr_int("transB", 1),
            attr_float("alpha", 2.0),
            attr_float("beta", 0.5),
        ],
    );
    let quarter = m.scalar(0.25);
    let sub = m.node("sub", "Sub", "", &[&gemm, &quarter], vec![]);
    let half = m.scalar(0.5);
    let mul = m.node("mul", "Mul", "", &[&half, &sub], vec![]);
    // A second layer whose weights come from a Constant node through a Transpose.
    let wc = m.node(
        "wconst",
        "Constant",
        "",
        &[],
        vec![AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(TensorProto {
                dims: vec![1, 2],
                data_type: Some(DataType::Float as i32),
                float_data: vec![1.0, 1.0],
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    let wq = m.quant("wq", &wc, 0.5, 4.0, true, "ROUND");
    let wt = m.node(
        "wt",
        "Transpose",
        "",
        &[&wq],
        vec![attr_ints("perm", &[1, 0])],
    );
    let y1 = m.quant("y1", &mul, 0.125, 10.0, true, "ROUND");
    let y2 = m.node("sum", "MatMul", "", &[&mul, &wt], vec![]);
    let g = parse(&m.bytes(&[&y1, &y2]));
    let dense: Vec<&str> = g
        .layers
        .iter()
        .filter(|l| l.kind.name() == "dense")
        .map(|l| l.name.as_str())
        .collect();
    // `mul` is read twice: its dense layer is built once (named after the Gemm), exactly.
    assert_eq!(dense, ["gemm", "sum"]);
    // x = [1, 2, -1]: Gemm = 2·[1·1 + 0 + 1, 0.5 + 1 - 0.5] + 0.5·[1, -1] = [4.5, 1.5];
    // − 0.25, × 0.5 → [2.125, 0.625]; y1 on 1/8: same; sum = 2.75.
    assert_eq!(run(&g, &[vec![1.0, 2.0, -1.0]]), [[2.125, 0.625, 2.75]]);
}

// ---- rejections ---------------------------------------------------------------------------

/// A model whose one node `bad` is made by `f`; returns the error message.
fn reject(f: impl FnOnce(&mut Model, &str) -> String) -> String {
    let mut m = Model::new(&[2]);
    let q = m.quant("in", "x", 0.5, 6.0, true, "ROUND");
    let y = f(&mut m, &q);
    parse_err(&m.bytes(&[&y]))
}

fn assert_says(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks `{p}`: {msg}");
    }
}

#[test]
fn rejects_non_power_of_two_scales() {
    let e = reject(|m, q| m.quant("bad", q, 0.1, 8.0, true, "ROUND"));
    assert_says(
        &e,
        &[
            "built.onnx",
            "node `bad` (Quant)",
            "0.1",
            "not a power of two",
            "power-of-two scales",
        ],
    );
    // On weights too (per-channel scales must each be powers of two).
    let e = reject(|m, q| {
        let w = m.init(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let (s, z, b) = (m.init(&[1, 2], &[0.5, 0.75]), m.scalar(0.0), m.scalar(8.0));
        let wq = m.node("wbad", "Quant", QONNX, &[&w, &s, &z, &b], vec![]);
        m.node("mm", "MatMul", "", &[q, &wq], vec![])
    });
    assert_says(&e, &["node `wbad` (Quant)", "0.75", "not a power of two"]);
}

#[test]
fn rejects_non_zero_zero_points() {
    let e = reject(|m, q| {
        let (s, z, b) = (m.scalar(0.5), m.scalar(3.0), m.scalar(8.0));
        m.node("bad", "Quant", QONNX, &[q, &s, &z, &b], vec![])
    });
    assert_says(
        &e,
        &["node `bad` (Quant)", "zero point 3", "zero_point = 0"],
    );
}

#[test]
fn rejects_non_constant_quantizer_parameters() {
    let e = reject(|m, q| {
        let (z, b) = (m.scalar(0.0), m.scalar(8.0));
        // The scale is computed from the input.
        m.node("bad", "Quant", QONNX, &[q, q, &z, &b], vec![])
    });
    assert_says(
        &e,
        &[
            "node `bad` (Quant)",
            "scale (input 1",
            "not a constant",
            "qonnx cleanup",
        ],
    );
    let e = reject(|m, q| {
        let (s, z) = (m.scalar(0.5), m.scalar(0.0));
        m.node("bad", "Quant", QONNX, &[q, &s, &z, "x"], vec![])
    });
    assert_says(
        &e,
        &["node `bad` (Quant)", "bit width (input 3", "not a constant"],
    );
}

#[test]
fn rejects_unquantized_floats_reaching_hardware() {
    // The raw input straight into a MatMul.
    let mut m = Model::new(&[2]);
    let w = m.weights("w", &[2, 1], &[1.0, 1.0]);
    let y = m.node("bad", "MatMul", "", &["x", &w], vec![]);
    assert_says(
        &parse_err(&m.bytes(&[&y])),
        &[
            "node `bad` (MatMul)",
            "`x` is an unquantized float tensor",
            "Quant node",
        ],
    );
    // Unquantized float weights (values that need a wide grid).
    let e = reject(|m, q| {
        let w = m.init(&[2, 1], &[0.123_456_7, -3.333_333_3]);
        m.node("bad", "MatMul", "", &[q, &w], vec![])
    });
    assert_says(
        &e,
        &[
            "node `bad` (MatMul)",
            "weights need",
            "not quantized",
            "Quant node",
        ],
    );
    // A graph output that no quantizer reached.
    let m = Model::new(&[2]);
    assert_says(
        &parse_err(&m.bytes(&["x"])),
        &["graph output `x`", "unquantized float", "Quant node"],
    );
    // A graph input with no quantizer at all.
    let mut m = Model::new(&[2]);
    m.graph.input.push(value_info("unused", &[1, 3]));
    let q = m.quant("in", "x", 0.5, 6.0, true, "ROUND");
    assert_says(
        &parse_err(&m.bytes(&[&q])),
        &[
            "graph input `unused`",
            "no Quant node reads it",
            "quantize this tensor",
        ],
    );
}

#[test]
fn rejects_unsupported_ops_and_domains() {
    let e = reject(|m, q| m.node("bad", "Sigmoid", "", &[q], vec![]));
    assert_says(
        &e,
        &[
            "node `bad` (Sigmoid)",
            "op `Sigmoid` is not supported",
            "qonnx cleanup",
        ],
    );
    let e = reject(|m, q| {
        let (s, z, b) = (m.scalar(0.5), m.scalar(0.0), m.scalar(8.0));
        m.node("bad", "Quant", "my.domain", &[q, &s, &z, &b], vec![])
    });
    assert_says(
        &e,
        &[
            "node `bad` (Quant)",
            "`my.domain` is not a QONNX domain",
            "run qonnx cleanup",
        ],
    );
    let e = reject(|m, q| m.node("bad", "Div", "", &[q, q], vec![]));
    assert_says(&e, &["node `bad` (Div)", "two computed tensors"]);
    let e = reject(|m, q| {
        let three = m.scalar(3.0);
        m.node("bad", "Div", "", &[q, &three], vec![])
    });
    assert_says(&e, &["node `bad` (Div)", "Div by 3", "powers of two"]);
    let e = reject(|m, q| {
        let s = m.init(&[2], &[0.5, 0.25]);
        let (z, b) = (m.scalar(0.0), m.scalar(8.0));
        m.node("bad", "Quant", QONNX, &[q, &s, &z, &b], vec![])
    });
    assert_says(&e, &["node `bad` (Quant)", "per-channel", "per-tensor"]);
    let e = reject(|m, q| {
        let y = m.node("bad", "Relu", "", &["later_out"], vec![]);
        m.node("later", "Relu", "", &[q], vec![]);
        y
    });
    assert_says(&e, &["node `bad` (Relu)", "topological order"]);
}

#[test]
fn rejects_inexact_batch_norm() {
    let e = reject(|m, q| {
        let w = m.weights("w", &[2, 2], &[1.0, 0.5, -1.0, 0.25]);
        let mm = m.node("mm", "MatMul", "", &[q, &w], vec![]);
        let ins = [
            m.init(&[2], &[1.0, 1.0]),
            m.init(&[2], &[0.0, 0.0]),
            m.init(&[2], &[0.0, 0.0]),
            m.init(&[2], &[1.0, 2.0]),
        ];
        let refs: Vec<&str> = [mm.as_str()]
            .into_iter()
            .chain(ins.iter().map(String::as_str))
            .collect();
        m.node(
            "bad",
            "BatchNormalization",
            "",
            &refs,
            vec![attr_float("epsilon", 0.0)],
        )
    });
    assert_says(
        &e,
        &[
            "node `bad` (BatchNormalization)",
            "channel 1",
            "not an exact binary fraction",
            "fold",
        ],
    );
}

#[test]
fn rejects_files_that_are_not_onnx() {
    let e = qonnx::parse(b"\x08\x07\xff\xff garbage", "junk.onnx")
        .unwrap_err()
        .to_string();
    assert_says(&e, &["junk.onnx", "not an ONNX model"]);
    let e = qonnx::parse(&ModelProto::default().encode_to_vec(), "empty.onnx")
        .unwrap_err()
        .to_string();
    assert_says(&e, &["empty.onnx", "has no graph"]);
}

// ---- command line and build directories -------------------------------------------------

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rtl4ml"))
}

fn work(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("qonnx")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().unwrap()).unwrap();
    d
}

#[test]
fn command_line_compiles_and_simulates_onnx() {
    let dir = work("cli_brevitas");
    let model = fixture("brevitas_mlp", "onnx");
    let out = std::process::Command::new(bin())
        .args(["compile", "-q", "-o"])
        .arg(&dir)
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The build directory keeps the model itself and reads it back.
    assert_eq!(
        std::fs::read(dir.join("model.onnx")).unwrap(),
        std::fs::read(&model).unwrap()
    );
    assert!(!dir.join("model.json").exists());
    let b = read_dir(&dir).unwrap();
    assert_eq!(b.manifest.model, "model.onnx");
    assert_eq!(b.design.graph.layers.len(), 5);

    let y = dir.with_extension("npy");
    let out = std::process::Command::new(bin())
        .arg("sim")
        .arg(&model)
        .arg("--input")
        .arg(fixture("brevitas_mlp", "input.npy"))
        .arg("--output")
        .arg(&y)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let io::NpyData::Float(got) = io::read_npy(&y).unwrap() else {
        panic!("float output")
    };
    let got: Vec<f64> = got.iter().copied().collect();
    assert_eq!(got, expected("brevitas_mlp").concat());

    // Content sniffing: an ONNX model under another extension still loads as QONNX.
    let renamed = work("renamed").with_extension("bin");
    std::fs::copy(&model, &renamed).unwrap();
    assert_eq!(
        frontend::load(&renamed).unwrap(),
        frontend::load(&model).unwrap()
    );
}

// ---- Verilator ------------------------------------------------------------------------------

use crate::hw::tools;

/// Every MLP fixture compiled (at different clocks, so pipelining varies) and run in
/// Verilator against the simulator.
#[test]
fn fixtures_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    verilate_fixtures(&FIXTURES[..6], &[4.0, 2.0, 1.5, 2.5, 3.0, 1.5]);
}

/// The convolutional fixtures in Verilator. Their C++ takes minutes to compile, so this runs
/// on request: `cargo test --release --test frontends qonnx:: -- --ignored`.
#[test]
#[ignore]
fn cnn_fixtures_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    verilate_fixtures(&FIXTURES[6..], &[3.0, 2.0, 2.5]);
}

fn verilate_fixtures(names: &[&str], clocks: &[f64]) {
    for (&name, &clock) in names.iter().zip(clocks) {
        let model = fixture(name, "onnx");
        let bytes = std::fs::read(&model).unwrap();
        let g = qonnx::parse(&bytes, name).unwrap();
        let design = compile(
            g,
            &Options {
                clock_ns: clock,
                ..Default::default()
            },
        )
        .unwrap();
        let dir = work(&format!("verilator_{name}"));
        write_dir_with_model(&design, "model.onnx", &bytes, &dir).unwrap();
        verify_dir(&dir, name);
        eprintln!(
            "{name}: latency {} cycles at {clock} ns",
            design.schedule.latency
        );
    }
}

/// The rounding and overflow modes QONNX added to the core (CEIL, UP, SAT_NARROW), on
/// their own: casts of one signed input to narrower, coarser and wider types, in Verilator.
#[test]
fn new_core_modes_are_bit_exact_in_verilator() {
    if !tools() {
        return;
    }
    // (source, type): the signed input `x` and its unsigned ReLU `r`; some casts drop
    // more bits than the source has.
    let casts = [
        ("x", "fixed<5,2,CEIL,SAT_NARROW>"),
        ("x", "fixed<6,1,UP,SAT>"),
        ("x", "ufixed<4,1,UP,SAT_NARROW>"),
        ("x", "ufixed<3,2,CEIL,SAT>"),
        ("x", "fixed<3,4,UP,WRAP>"),
        ("x", "fixed<4,6,CEIL,SAT_NARROW>"),
        ("x", "fixed<12,4,UP,SAT_NARROW>"),
        ("x", "fixed<2,-1,CEIL,SAT_ZERO>"),
        ("x", "fixed<3,12,UP,SAT>"),
        ("x", "ufixed<2,13,CEIL,WRAP>"),
        ("r", "ufixed<3,2,UP,SAT_NARROW>"),
        ("r", "fixed<4,3,CEIL,SAT>"),
        ("r", "ufixed<2,12,UP,SAT>"),
    ];
    let relu = r#"{"name":"r","kind":"relu","input":"x","result":"ufixed<9,2>"}"#.to_string();
    let layers: Vec<String> = std::iter::once(relu)
        .chain(casts.iter().enumerate().map(|(k, (x, t))| {
            format!(r#"{{"name":"q{k}","kind":"quantize","input":"{x}","result":"{t}"}}"#)
        }))
        .collect();
    let outputs: Vec<String> = (0..casts.len()).map(|k| format!(r#""q{k}""#)).collect();
    let text = format!(
        r#"{{"format":"rtl4ml-model","version":1,"name":"new_modes",
        "inputs":[{{"name":"x","shape":[3],"type":"fixed<10,3,RND_CONV,SAT_NARROW>"}}],
        "layers":[{}],"outputs":[{}]}}"#,
        layers.join(","),
        outputs.join(",")
    );
    let g = rtl4ml::frontend::native::parse(&text, "new_modes").unwrap();
    let design = compile(
        g,
        &Options {
            clock_ns: 1.5,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = work("verilator_new_modes");
    write_dir_with_model(&design, "model.json", text.as_bytes(), &dir).unwrap();
    verify_dir(&dir, "new_modes");
}

fn verify_dir(dir: &Path, name: &str) {
    let b = read_dir(dir).unwrap();
    let r = verify(
        &b,
        &VerifyOptions {
            random: 3000,
            icarus: 40,
            seed: 5,
            lint: true,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r.verilator.mismatch_count, 0, "{name}");
    assert!(r.verilator.timing_errors.is_empty(), "{name}");
    eprintln!("{name}: {}", r.verilator.summary());
}

// ---- convolutional models --------------------------------------------------------------------

/// The CNN fixtures map onto channels-last spatial layers, with transposes (pure wiring) only
/// where ONNX's channels-first order matters: at the input, and before a Flatten.
#[test]
fn cnn_fixtures_map_to_spatial_layers() {
    let kinds = |g: &LayerGraph| -> Vec<&str> { g.layers.iter().map(|l| l.kind.name()).collect() };
    let load = |n: &str| frontend::load(&fixture(n, "onnx")).unwrap();

    let g = load("qcnn");
    assert_eq!(
        g.inputs[0].shape,
        [2, 8, 8],
        "the input bus keeps ONNX's C, H, W order"
    );
    assert_eq!(
        kinds(&g),
        [
            "transpose",
            "conv2d",
            "relu",
            "max_pool2d",
            "transpose",
            "flatten",
            "dense"
        ]
    );
    // Quant -> Relu after the Conv: the conv's result type is the first quantizer's.
    assert_eq!(g.layers[1].output.ty.to_string(), "fixed<8,5,RND_CONV,SAT>");
    assert_eq!(g.layers[1].output.shape, [6, 6, 4]);
    assert_eq!(g.layers[4].output.shape, [4, 3, 3]);

    let g = load("dw_pw_conv");
    assert_eq!(
        kinds(&g),
        [
            "transpose",
            "depthwise_conv2d",
            "relu",
            "conv2d",
            "dense", // the batch normalisation, per channel on the last axis
            "avg_pool2d",
            "global_avg_pool",
            "reshape",
            "transpose",
            "flatten",
            "dense"
        ]
    );
    let LayerKind::Conv {
        window,
        c_in,
        c_out,
        depthwise,
        ..
    } = &g.layers[1].kind
    else {
        unreachable!()
    };
    assert_eq!((*c_in, *c_out, *depthwise), (3, 2, true));
    assert_eq!(window.padding, rtl4ml::ir::layers::Padding::Same);
    assert_eq!(
        (window.strides.clone(), window.out_dims.clone()),
        (vec![2, 2], vec![5, 5])
    );

    let g = load("residual_block");
    let k = kinds(&g);
    for want in [
        "conv1d",
        "add",
        "multiply",
        "subtract",
        "concatenate",
        "slice",
    ] {
        assert!(k.contains(&want), "residual_block lacks {want}: {k:?}");
    }
    let conv2 = g.layers.iter().find(|l| l.name == "Conv_1").unwrap();
    let LayerKind::Conv { window, .. } = &conv2.kind else {
        unreachable!()
    };
    assert_eq!(
        (window.dilation.clone(), window.pad_before.clone()),
        (vec![2], vec![2])
    );
}

/// Small convolutional graphs built here, against the reference evaluator and hand-computed
/// values: the ONNX weight order [M, C, kh, kw] and the NCHW input order.
#[test]
fn conv_weight_and_input_order() {
    // x: [1, 2, 2, 2] (C = 2, H = W = 2), 1x1 conv with M = 2: y[f] = Σ_c w[f, c]·x[c].
    let mut m = Model::new(&[2, 2, 2]);
    let q = m.quant("in", "x", 0.25, 8.0, true, "ROUND");
    let w = m.weights("w", &[2, 2, 1, 1], &[1.0, 0.5, -0.25, 2.0]);
    let y = m.node("conv", "Conv", "", &[&q, &w], vec![]);
    let g = parse(&m.bytes(&[&y]));
    // Input in NCHW order: channel 0 = [1, 2, 3, 4]/4, channel 1 = [-1, 0, 1, 2]/4.
    let x = vec![0.25, 0.5, 0.75, 1.0, -0.25, 0.0, 0.25, 0.5];
    let out = run(&g, &[x]);
    let want: Vec<f64> = (0..2)
        .flat_map(|f| {
            let (a, b) = [(1.0, 0.5), (-0.25, 2.0)][f];
            (0..4).map(move |p| a * [0.25, 0.5, 0.75, 1.0][p] + b * [-0.25, 0.0, 0.25, 0.5][p])
        })
        .collect();
    assert_eq!(out[0], want, "NCHW output order");
}

#[test]
fn rejects_unsupported_conv_and_pool_attributes() {
    // A [1, 4, 6, 6] input quantized, then node `bad` made by `f`.
    let spatial = |f: &dyn Fn(&mut Model, &str) -> String| {
        let mut m = Model::new(&[4, 6, 6]);
        let q = m.quant("in", "x", 0.5, 6.0, true, "ROUND");
        let y = f(&mut m, &q);
        parse_err(&m.bytes(&[&y]))
    };
    let e = spatial(&|m, q| {
        let w = m.weights("w", &[4, 2, 3, 3], &[0.5; 72]);
        m.node("bad", "Conv", "", &[q, &w], vec![attr_int("group", 2)])
    });
    assert_says(
        &e,
        &["built.onnx", "node `bad` (Conv)", "group = 2", "depthwise"],
    );
    let e = spatial(&|m, q| {
        let w = m.weights("w", &[4, 4, 3, 3], &[0.5; 144]);
        m.node(
            "bad",
            "Conv",
            "",
            &[q, &w],
            vec![attr_ints("pads", &[0, 1, 1, 0])],
        )
    });
    assert_says(&e, &["node `bad` (Conv)", "pads [0, 1, 1, 0]", "`same`"]);
    let e = spatial(&|m, q| {
        let w = m.weights("w", &[4, 4, 2, 2], &[0.5; 64]);
        m.node(
            "bad",
            "Conv",
            "",
            &[q, &w],
            vec![attr_str("auto_pad", "SAME_LOWER")],
        )
    });
    assert_says(&e, &["node `bad` (Conv)", "SAME_LOWER", "SAME_UPPER"]);
    let e = spatial(&|m, q| {
        let w = m.weights("w", &[4, 4, 3, 3], &[0.5; 144]);
        m.node(
            "bad",
            "Conv",
            "",
            &[q, &w],
            vec![attr_ints("strides", &[1])],
        )
    });
    assert_says(
        &e,
        &["node `bad` (Conv)", "`strides`", "one per spatial axis"],
    );
    let e = spatial(&|m, q| {
        let p = vec![attr_ints("kernel_shape", &[3, 3])];
        m.node("bad", "AveragePool", "", &[q], p)
    });
    assert_says(
        &e,
        &["node `bad` (AveragePool)", "9 elements", "power-of-two"],
    );
    let e = spatial(&|m, q| {
        // Keras `same` for a 2x2 window: no zeros before, one after.
        let p = vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("pads", &[0, 0, 1, 1]),
        ];
        m.node("bad", "AveragePool", "", &[q], p)
    });
    assert_says(
        &e,
        &["node `bad` (AveragePool)", "padding is not supported"],
    );
    let e = spatial(&|m, q| {
        let p = vec![attr_ints("kernel_shape", &[2, 2]), attr_int("ceil_mode", 1)];
        m.node("bad", "MaxPool", "", &[q], p)
    });
    assert_says(&e, &["node `bad` (MaxPool)", "ceil_mode = 1"]);
    let e = spatial(&|m, q| {
        let p = vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("dilations", &[2, 2]),
        ];
        m.node("bad", "MaxPool", "", &[q], p)
    });
    assert_says(&e, &["node `bad` (MaxPool)", "dilations [2, 2]"]);
    let e = spatial(&|m, q| m.node("bad", "GlobalAveragePool", "", &[q], vec![]));
    assert_says(
        &e,
        &[
            "node `bad` (GlobalAveragePool)",
            "36 positions",
            "power-of-two",
        ],
    );
    let e = spatial(&|m, q| {
        let p = m.node("pool", "GlobalMaxPool", "", &[q], vec![]);
        m.node("bad", "Add", "", &[q, &p], vec![])
    });
    assert_says(
        &e,
        &[
            "node `bad` (Add)",
            "[4, 6, 6] and [4, 1, 1]",
            "no broadcasting",
        ],
    );
    let e = spatial(&|m, q| m.node("bad", "Concat", "", &[q, q], vec![attr_int("axis", 0)]));
    assert_says(&e, &["node `bad` (Concat)", "axis 0", "non-batch"]);
    let e = spatial(&|m, q| {
        let s = m.init(&[1], &[4.0]);
        let e = m.init(&[1], &[0.0]);
        let a = m.init(&[1], &[3.0]);
        let st = m.init(&[1], &[-1.0]);
        m.node("bad", "Slice", "", &[q, &s, &e, &a, &st], vec![])
    });
    assert_says(&e, &["node `bad` (Slice)", "step -1", "positive steps"]);
    // A rank-1 input has no spatial axes.
    let e = reject(|m, q| {
        let w = m.weights("w", &[2, 2, 1], &[0.5; 4]);
        m.node("bad", "Conv", "", &[q, &w], vec![])
    });
    assert_says(&e, &["node `bad` (Conv)", "[N, C, L] or [N, C, H, W]"]);
}

/// Quant scales at the ends of f32 (2^-149, the smallest subnormal, and 2^127) requantize a
/// tensor across hundreds of bits of binary point: exact (a saturation or zero), compiled and
/// simulated, never a panic (issue #14, class 5; tests/far_casts.rs has the native cases).
#[test]
fn far_quant_scales_compile_and_simulate() {
    for (scale, mode) in [
        (2f32.powi(127), "ROUND"),
        (f32::from_bits(1), "ROUND"), // 2^-149, the smallest subnormal
        (f32::from_bits(1 << 9), "FLOOR"), // 2^-140
        (2f32.powi(120), "CEIL"),
    ] {
        let mut m = Model::new(&[3]);
        let q0 = m.quant("q0", "x", 0.125, 8.0, true, "ROUND");
        let q1 = m.quant("q1", &q0, scale, 8.0, true, mode);
        let g = parse(&m.bytes(&[&q1]));
        if let Err(e) = rtl4ml::flow::compile(g.clone(), &rtl4ml::flow::Options::default()) {
            panic!("scale {scale:e}: {e}");
        }
        let y = run(&g, &[vec![-16.0, 0.0, 15.875], vec![0.125, -0.125, 3.0]]);
        let s = f64::from(scale);
        for (row, x) in y.iter().zip([[-16.0, 0.0, 15.875], [0.125, -0.125, 3.0]]) {
            for (&v, &xi) in row.iter().zip(&x) {
                // qonnx: clip(round(x / s), -128, 127) * s
                let q = xi / s;
                let r = match mode {
                    "FLOOR" => q.floor(),
                    "CEIL" => q.ceil(),
                    _ => q.round_ties_even(),
                };
                assert_eq!(v, r.clamp(-128.0, 127.0) * s, "scale {s:e}, x {xi}");
            }
        }
    }
}
