//! QONNX graphs as exporters leave them (issue #16): `Transpose` of computed tensors, qonnx's
//! channels-last custom domain (`ConvertToChannelsLastAndClean`), and `BipolarQuant` on a
//! float graph input. Small models built here; each is checked against the equivalent
//! standard (channels-first) model or against the values it must compute.

use prost::Message;
use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use rtl4ml::frontend::qonnx;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::sim::{io, reference, Simulator};

const QONNX: &str = "qonnx.custom_op.general";
const CHANNELS_LAST: &str = "qonnx.custom_op.channels_last";

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

/// A model under construction: one input `x` of shape `[1, …]`.
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

    fn init(&mut self, dims: &[i64], data: &[f32]) -> String {
        self.count += 1;
        let name = format!("c{}", self.count);
        self.graph.initializer.push(TensorProto {
            name: Some(name.clone()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Float as i32),
            float_data: data.to_vec(),
            ..Default::default()
        });
        name
    }

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

    /// A signed 8-bit `Quant` with scale 2^-4 (rounding half to even, saturating).
    fn quant(&mut self, name: &str, x: &str) -> String {
        let (s, z, b) = (
            self.init(&[], &[0.0625]),
            self.init(&[], &[0.0]),
            self.init(&[], &[8.0]),
        );
        self.node(name, "Quant", QONNX, &[x, &s, &z, &b], vec![])
    }

    fn bytes(mut self, output: &str) -> Vec<u8> {
        self.graph.output = vec![value_info(output, &[])];
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(self.graph),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

fn parse(bytes: &[u8]) -> LayerGraph {
    qonnx::parse(bytes, "built.onnx").unwrap_or_else(|e| panic!("{e}"))
}

/// The simulator's output values on float samples (checked against the layer-level
/// reference evaluator).
fn run(g: &LayerGraph, samples: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let design = compile(g.clone(), &Options::default()).unwrap();
    let n = samples[0].len();
    let a = ndarray::Array2::from_shape_vec((samples.len(), n), samples.concat()).unwrap();
    let x = io::to_mantissas(
        io::NpyData::Float(a.into_dyn()),
        &g.input_types(),
        "x",
        false,
    )
    .unwrap();
    let out = Simulator::new(&design.net).run(x.view());
    for (k, row) in x.rows().into_iter().enumerate() {
        let r = reference::evaluate(g, row.as_slice().unwrap()).unwrap();
        assert_eq!(out.row(k).to_vec(), r, "simulator vs reference");
    }
    let v = io::to_values(&out, &g.output_types());
    v.rows().into_iter().map(|r| r.to_vec()).collect()
}

/// Deterministic values on and off the input grid, beyond its range at times.
fn samples(n: usize, len: usize) -> Vec<Vec<f64>> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 20.0
                })
                .collect()
        })
        .collect()
}

const W: [f32; 54] = [
    0.5, -0.25, 0.125, 0.0, 0.75, -0.5, 0.25, 0.0, -0.125, //
    -0.375, 0.5, 0.0, 0.25, -0.25, 0.125, 0.0, 0.5, 0.25, //
    0.25, 0.0, -0.5, 0.125, 0.375, 0.0, -0.25, 0.5, 0.0, //
    0.0, 0.125, 0.25, -0.75, 0.0, 0.5, 0.25, -0.125, 0.375, //
    -0.5, 0.25, 0.0, 0.0, 0.125, -0.25, 0.5, 0.25, 0.0, //
    0.125, -0.125, 0.25, 0.5, 0.0, -0.375, 0.0, 0.25, -0.5,
];

/// `Quant → Conv 3×3 (pads 1, 3 filters) → Quant → Relu → MaxPool 2×2 → Flatten` on a
/// 2×4×4 input, once in ONNX's channels-first form and once as qonnx's channels-last
/// transformation leaves it (NHWC input, channels-last Conv and MaxPool, a Transpose back to
/// NCHW before the Flatten): the same results on the same (transposed) inputs.
#[test]
fn channels_last_domain_matches_the_standard_ops() {
    let build = |cl: bool| {
        let dims: &[i64] = if cl { &[4, 4, 2] } else { &[2, 4, 4] };
        let mut m = Model::new(dims);
        let dom = if cl { CHANNELS_LAST } else { "" };
        let q = m.quant("q_in", "x");
        // qonnx's channels-last Conv takes its weights channels last too: [M, kh, kw, C].
        let w = if cl {
            let mut t = [0f32; 54];
            for f in 0..3 {
                for c in 0..2 {
                    for k in 0..9 {
                        t[(f * 9 + k) * 2 + c] = W[(f * 2 + c) * 9 + k];
                    }
                }
            }
            m.init(&[3, 3, 3, 2], &t)
        } else {
            m.init(&[3, 2, 3, 3], &W)
        };
        let b = m.init(&[3], &[0.25, -0.5, 0.125]);
        let c = m.node(
            "conv",
            "Conv",
            dom,
            &[&q, &w, &b],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        );
        let q2 = m.quant("q_conv", &c);
        let r = m.node("relu", "Relu", "", &[&q2], vec![]);
        let p = m.node(
            "pool",
            "MaxPool",
            dom,
            &[&r],
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_ints("strides", &[2, 2]),
            ],
        );
        let p = if cl {
            m.node(
                "back",
                "Transpose",
                "",
                &[&p],
                vec![attr_ints("perm", &[0, 3, 1, 2])],
            )
        } else {
            p
        };
        let f = m.node("flat", "Flatten", "", &[&p], vec![]);
        parse(&m.bytes(&f))
    };
    let (std, cl) = (build(false), build(true));
    // Channels first: the input and the Flatten need transposes. Channels last: only the
    // Flatten (ONNX flattens C, H, W); the input and the Transpose back are free.
    let transposes = |g: &LayerGraph| {
        g.layers
            .iter()
            .filter(|l| l.kind.name() == "transpose")
            .count()
    };
    assert_eq!((transposes(&std), transposes(&cl)), (2, 1));
    let xs = samples(64, 32);
    // NCHW sample → NHWC sample.
    let nhwc: Vec<Vec<f64>> = xs
        .iter()
        .map(|s| {
            let mut t = vec![0.0; 32];
            for c in 0..2 {
                for h in 0..4 {
                    for w in 0..4 {
                        t[(h * 4 + w) * 2 + c] = s[(c * 4 + h) * 4 + w];
                    }
                }
            }
            t
        })
        .collect();
    assert_eq!(run(&std, &xs), run(&cl, &nhwc));
}

/// A Transpose of a computed tensor that no layout absorbs is a `transpose` layer; one that
/// swaps NHWC and NCHW costs nothing.
#[test]
fn transposes_of_computed_tensors() {
    let mut m = Model::new(&[2, 3]);
    let q = m.quant("q", "x");
    let t = m.node(
        "t",
        "Transpose",
        "",
        &[&q],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let f = m.node("flat", "Flatten", "", &[&t], vec![]);
    let g = parse(&m.bytes(&f));
    let xs = vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]];
    assert_eq!(run(&g, &xs), vec![vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]]);

    // NHWC → NCHW → back: both free.
    let mut m = Model::new(&[2, 2, 3]);
    let q = m.quant("q", "x");
    let a = m.node(
        "a",
        "Transpose",
        "",
        &[&q],
        vec![attr_ints("perm", &[0, 3, 1, 2])],
    );
    let b = m.node(
        "b",
        "Transpose",
        "",
        &[&a],
        vec![attr_ints("perm", &[0, 2, 3, 1])],
    );
    let f = m.node("flat", "Flatten", "", &[&b], vec![]);
    let g = parse(&m.bytes(&f));
    assert!(
        g.layers.iter().all(|l| l.kind.name() != "transpose"),
        "free transposes"
    );
    let xs = samples(4, 12);
    let q = |v: f64| (v * 16.0).round_ties_even().clamp(-128.0, 127.0) / 16.0;
    let want: Vec<Vec<f64>> = xs
        .iter()
        .map(|s| s.iter().map(|&v| q(v)).collect())
        .collect();
    assert_eq!(run(&g, &xs), want);

    let mut m = Model::new(&[2, 3]);
    let q = m.quant("q", "x");
    let t = m.node(
        "t",
        "Transpose",
        "",
        &[&q],
        vec![attr_ints("perm", &[1, 0, 2])],
    );
    let e = qonnx::parse(&m.bytes(&t), "built.onnx")
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch axis"), "{e}");
}

/// `BipolarQuant` straight on a float graph input (Brevitas' binary networks): the input bus
/// carries the sign bit, and the simulator casts floats to it exactly as the quantizer does.
#[test]
fn bipolar_quant_on_a_graph_input() {
    let mut m = Model::new(&[4]);
    let s = m.init(&[], &[0.5]);
    let b = m.node("bq", "BipolarQuant", QONNX, &["x", &s], vec![]);
    let g = parse(&m.bytes(&b));
    assert_eq!(g.inputs[0].ty.width, 1);
    let xs = vec![vec![0.0, -0.0001, 3.5, -7.0], vec![1e-9, -1e9, 1e9, -0.5]];
    assert_eq!(
        run(&g, &xs),
        vec![vec![0.5, -0.5, 0.5, -0.5], vec![0.5, -0.5, 0.5, -0.5]]
    );
}
