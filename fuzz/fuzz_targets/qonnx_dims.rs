//! QONNX models built from the fuzz input (issue 14, classes 7 and 15): input dimensions
//! (any i64), the IR and opset versions, names defined twice, repeated attributes and a
//! per-channel element-wise map, around a Quant → MatMul/Mul graph. Loading never panics or
//! aborts (dimensions up to 2^63 − 1 included) and what loads compiles or errors.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use rtl4ml::frontend::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn i64(&mut self) -> i64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.u8();
        }
        i64::from_le_bytes(v)
    }
    /// A dimension: mostly small, sometimes any i64.
    fn dim(&mut self) -> i64 {
        match self.u8() % 4 {
            0 => self.i64(),
            1 => 1i64 << (self.u8() % 64),
            _ => i64::from(self.u8() % 16),
        }
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

fn init(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: data,
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn node(name: &str, op: &str, domain: &str, inputs: &[&str], out: &str) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let flags = b.u8();
    let rank = 1 + b.u8() % 3;
    let mut dims = vec![1i64];
    for _ in 0..rank {
        dims.push(b.dim());
    }
    // The weights follow the last declared dimension when it is small (a real model),
    // otherwise a small matrix (a mismatch to report).
    let last = *dims.last().unwrap();
    let n_in = if (1..=64).contains(&last) { last } else { 4 };
    let n_out = 1 + i64::from(b.u8() % 4);
    let w: Vec<f32> = (0..n_in * n_out)
        .map(|_| f32::from(b.u8() as i8) / 16.0)
        .collect();
    let c: Vec<f32> = (0..n_in).map(|_| f32::from(b.u8() as i8) / 8.0).collect();
    let mut quant = node("quant_x", "Quant", "qonnx.custom_op.general", &["x", "s", "z", "bits"], "q");
    quant.attribute = vec![attr_int("signed", 1), attr_int("narrow", 0)];
    if flags & 1 != 0 {
        quant.attribute.push(attr_int("signed", 0));
    }
    let mut nodes = vec![quant];
    if flags & 2 != 0 {
        nodes.push(node("ew", "Mul", "", &["q", "c"], "m"));
        nodes.push(node("fc", "MatMul", "", &["m", "w"], "y"));
    } else {
        nodes.push(node("fc", "MatMul", "", &["q", "w"], "y"));
    }
    if flags & 4 != 0 {
        nodes.last_mut().unwrap().output = vec![["x", "q", "w"][b.u8() as usize % 3].into()];
    }
    let mut initializer = vec![
        init("s", &[], vec![0.0625]),
        init("z", &[], vec![0.0]),
        init("bits", &[], vec![f32::from(1 + b.u8() % 10)]),
        init("w", &[n_in, n_out], w),
        init("c", &[n_in], c),
    ];
    if flags & 8 != 0 {
        initializer.push(init("w", &[1], vec![0.5]));
    }
    let mut input = vec![value_info("x", &dims)];
    if flags & 16 != 0 {
        input.push(value_info("x", &dims));
    }
    let ir_version = match flags >> 5 {
        0 => None,
        1 => Some(b.i64()),
        _ => Some(8),
    };
    let opset = if b.u8() % 8 == 0 { b.i64() } else { 13 };
    let model = ModelProto {
        ir_version,
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            name: Some("fuzz".into()),
            input,
            output: vec![value_info("y", &[])],
            initializer,
            node: nodes,
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Ok(g) = rtl4ml::frontend::qonnx::parse(&model.encode_to_vec(), "fuzz.onnx") {
        rtl4ml_fuzz::check_graph(&g, &rtl4ml::flow::Options::default(), 8, 1, &[]);
    }
});
