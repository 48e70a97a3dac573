//! Writes a layer graph back to the native JSON format (`docs/model-format.md`).
//!
//! The text reads back to the same graph: `native::parse(&write(&g, d), _) == g`, for every
//! layer kind. Every layer names its `input` (or `inputs`) explicitly, types use their
//! canonical spelling, optional fields are written out (tables with their entries), and a
//! bias is left out only when it is what a missing bias reads as (all zeros of the default
//! `fixed<1,1>`).
//! The layout follows `models/generate.py`: objects and lists that fit on a 100-column line
//! stay on one line, lists of numbers are always on one line, anything else is broken one
//! member per line.

use super::native::{FORMAT, VERSION};
use crate::ir::fixed::FixedType;
use crate::ir::layers::{
    Constant, Layer, LayerGraph, LayerKind, Padding, PoolOp, TableFn, TableIndex,
};
use serde_json::{json, Map, Value};

const LINE: usize = 100;

/// The model as native JSON text (with a trailing newline). `description` is carried into
/// the file's `description` field (the layer graph itself has none).
pub fn write(g: &LayerGraph, description: Option<&str>) -> String {
    emit(&to_value(g, description), 0) + "\n"
}

/// The model as a JSON value, keys in the order the format document uses.
pub fn to_value(g: &LayerGraph, description: Option<&str>) -> Value {
    let mut root = Map::new();
    root.insert("format".into(), json!(FORMAT));
    root.insert("version".into(), json!(VERSION));
    root.insert("name".into(), json!(g.name));
    if let Some(d) = description {
        root.insert("description".into(), json!(d));
    }
    root.insert(
        "inputs".into(),
        Value::Array(
            g.inputs
                .iter()
                .map(|t| json!({"name": t.name, "shape": t.shape, "type": t.ty.to_string()}))
                .collect(),
        ),
    );
    let layers = g.layers.iter().map(|l| layer(g, l)).collect();
    root.insert("layers".into(), Value::Array(layers));
    root.insert(
        "outputs".into(),
        Value::Array(g.outputs.iter().map(|&t| json!(g.tensor(t).name)).collect()),
    );
    Value::Object(root)
}

fn constant<T: serde::Serialize>(c: &Constant<T>) -> Value {
    json!({"type": c.ty.to_string(), "data": c.data})
}

fn scalar(c: &Constant<i64>) -> Value {
    json!({"type": c.ty.to_string(), "value": c.data})
}

fn table(c: &Constant<Vec<i64>>) -> Value {
    json!({"type": c.ty.to_string(), "size": c.data.len(), "data": c.data})
}

/// Is a bias what a missing `bias` reads as?
fn implicit(bias: &Constant<Vec<i64>>) -> bool {
    bias.ty == FixedType::new(true, 1, 1) && bias.data.iter().all(|&b| b == 0)
}

fn padding(p: Padding) -> &'static str {
    match p {
        Padding::Valid => "valid",
        Padding::Same => "same",
    }
}

/// One layer as a JSON object.
fn layer(g: &LayerGraph, l: &Layer) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("name", json!(l.name));
    put("kind", json!(l.kind.name()));
    if l.kind.others().is_empty() {
        put("input", json!(g.tensor(l.input).name));
    } else {
        let names: Vec<&str> = l
            .sources()
            .iter()
            .map(|&t| g.tensor(t).name.as_str())
            .collect();
        put("inputs", json!(names));
    }
    let mut result = true;
    match &l.kind {
        LayerKind::Dense {
            weight,
            bias,
            accum,
        } => {
            let (n_in, n_out) = weight.data.dim();
            put(
                "weight",
                json!({
                    "type": weight.ty.to_string(),
                    "shape": [n_in, n_out],
                    "data": weight.data.iter().collect::<Vec<_>>(),
                }),
            );
            if !implicit(bias) {
                put("bias", constant(bias));
            }
            if let Some(a) = accum {
                put("accum", json!(a.to_string()));
            }
        }
        LayerKind::Conv {
            weight,
            bias,
            accum,
            window,
            c_in,
            c_out,
            ..
        } => {
            let mut shape = window.kernel.clone();
            shape.extend([*c_in, *c_out]);
            put(
                "weight",
                json!({"type": weight.ty.to_string(), "shape": shape, "data": weight.data}),
            );
            if !implicit(bias) {
                put("bias", constant(bias));
            }
            if let Some(a) = accum {
                put("accum", json!(a.to_string()));
            }
            put("strides", json!(window.strides));
            put("padding", json!(padding(window.padding)));
            put("dilation", json!(window.dilation));
        }
        LayerKind::Pool { op, window, global } => {
            if !global {
                put("pool_size", json!(window.kernel));
                put("strides", json!(window.strides));
                put("padding", json!(padding(window.padding)));
            }
            if let PoolOp::AvgRecip(t) = op {
                put("reciprocal", json!(t.to_string()));
            }
        }
        LayerKind::Concatenate { axis, .. } => put("axis", json!(axis)),
        LayerKind::Reshape => {
            put("shape", json!(l.output.shape));
            result = false;
        }
        LayerKind::Transpose { perm } => {
            put("perm", json!(perm));
            result = false;
        }
        LayerKind::Slice { begin, end, step } => {
            put("begin", json!(begin));
            put("end", json!(end));
            put("step", json!(step));
            result = false;
        }
        LayerKind::Flatten => result = false,
        LayerKind::ReluCap { cap } => put("cap", scalar(cap)),
        LayerKind::LeakyRelu { alpha } => put("alpha", scalar(alpha)),
        LayerKind::HardSigmoid { slope, shift, .. } => {
            put("slope", scalar(slope));
            put("shift", scalar(shift));
        }
        LayerKind::BatchNorm { scale, bias } => {
            put("scale", constant(scale));
            if !implicit(bias) {
                put("bias", constant(bias));
            }
        }
        LayerKind::Table {
            function,
            index,
            table: t,
        } => {
            put("table", table(t));
            let default = match function {
                TableFn::Sigmoid => 4,
                _ => 3,
            };
            match index {
                TableIndex::Range { range_log2, .. } if *range_log2 != default => {
                    put("input_range", json!(2f64.powi(*range_log2)));
                }
                _ => {}
            }
        }
        LayerKind::Softmax {
            exp_table,
            inv_table,
        } => {
            put("exp_table", table(exp_table));
            put("inv_table", table(inv_table));
        }
        LayerKind::QuantizeEach { types } => {
            // One per channel when every position repeats the same types, else one per element.
            let c = *l.output.shape.last().expect("non-empty shape");
            let per_channel = types.chunks(c).all(|row| row == &types[..c]);
            let list = if per_channel { &types[..c] } else { &types[..] };
            let list: Vec<String> = list.iter().map(|t| t.to_string()).collect();
            put("element_types", json!(list));
        }
        LayerKind::Relu | LayerKind::Quantize => {}
        LayerKind::Merge { .. } | LayerKind::Argmax => {}
    }
    if result {
        put("result", json!(l.output.ty.to_string()));
    }
    Value::Object(o)
}

/// One-line JSON with `, ` and `: ` separators.
fn dump(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(dump).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, x)| format!("{}: {}", Value::String(k.clone()), dump(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar.to_string(),
    }
}

fn emit(v: &Value, indent: usize) -> String {
    let one = dump(v);
    let fits = indent + one.chars().count() <= LINE;
    let inner = " ".repeat(indent + 2);
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !fits => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, x)| {
                    format!(
                        "{inner}{}: {}",
                        Value::String(k.clone()),
                        emit(x, indent + 2)
                    )
                })
                .collect();
            format!("{{\n{}\n{pad}}}", items.join(",\n"))
        }
        Value::Array(a) if !fits && !a.iter().all(Value::is_number) => {
            let items: Vec<String> = a
                .iter()
                .map(|x| format!("{inner}{}", emit(x, indent + 2)))
                .collect();
            format!("[\n{}\n{pad}]", items.join(",\n"))
        }
        _ => one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::native::parse;

    #[test]
    fn bundled_models_round_trip() {
        for m in ["jet_tagger", "wrap_accum", "odd_types"] {
            let path = format!("{}/models/{m}.json", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let g = parse(&text, &path).unwrap();
            let written = write(&g, Some("round trip"));
            let back = parse(&written, "written").unwrap();
            assert_eq!(back, g, "{m}");
            // Writing is deterministic and a fixed point.
            assert_eq!(write(&back, Some("round trip")), written);
        }
    }

    #[test]
    fn generator_layout_is_reproduced() {
        // The jet tagger's generator names every input and always writes a bias, so the
        // writer reproduces its file byte for byte.
        let path = format!("{}/models/jet_tagger.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let root: Value = serde_json::from_str(&text).unwrap();
        let g = parse(&text, &path).unwrap();
        assert_eq!(write(&g, root["description"].as_str()), text);
    }

    #[test]
    fn every_layer_kind_round_trips() {
        let w = |n: usize| (0..n).map(|i| (i as i64 * 5 % 13) - 6).collect::<Vec<_>>();
        let model = json!({
            "format": "rtl4ml-model", "version": 1, "name": "kinds",
            "inputs": [{"name": "img", "shape": [4, 4, 2], "type": "fixed<8,3>"},
                       {"name": "v", "shape": [3], "type": "fixed<6,2,RND,SAT>"}],
            "layers": [
                // conv1d needs a [length, channels] input.
                {"name": "v2", "kind": "reshape", "input": "v", "shape": [3, 1]},
                {"name": "c", "kind": "conv2d", "input": "img",
                 "weight": {"type": "fixed<4,1>", "shape": [3, 3, 2, 2], "data": w(36)},
                 "bias": {"type": "fixed<6,2>", "data": [1, -2]},
                 "result": "fixed<12,5>", "strides": [1, 1], "padding": "same"},
                {"name": "dw", "kind": "depthwise_conv2d", "input": "c",
                 "weight": {"type": "fixed<4,1>", "shape": [2, 2, 2, 1], "data": w(8)},
                 "accum": "fixed<20,8>", "result": "fixed<10,5>"},
                {"name": "cv1", "kind": "conv1d", "input": "v2",
                 "weight": {"type": "int<3>", "shape": [2, 1, 1], "data": [1, -2]},
                 "result": "fixed<9,4>", "dilation": 2},
                {"name": "mp", "kind": "max_pool2d", "input": "c", "pool_size": 2, "result": "fixed<12,5>"},
                {"name": "ap", "kind": "avg_pool2d", "input": "c", "pool_size": [2, 2], "strides": [2, 2],
                 "result": "fixed<12,5>"},
                {"name": "gsp", "kind": "global_sum_pool", "input": "dw", "result": "fixed<14,7>"},
                {"name": "gmp", "kind": "global_max_pool", "input": "mp", "result": "fixed<12,5>"},
                {"name": "add", "kind": "add", "inputs": ["mp", "ap"], "result": "fixed<13,6>"},
                {"name": "mul", "kind": "multiply", "inputs": ["mp", "ap"], "result": "fixed<16,8>"},
                {"name": "cat", "kind": "concatenate", "inputs": ["gsp", "gmp"], "axis": 0,
                 "result": "fixed<14,7>"},
                {"name": "rs", "kind": "reshape", "input": "add", "shape": [4, 2]},
                {"name": "tr", "kind": "transpose", "input": "rs", "perm": [1, 0]},
                {"name": "rc", "kind": "relu", "input": "tr", "cap": {"type": "fixed<4,3>", "value": 3},
                 "result": "ufixed<8,3>"},
                {"name": "lr", "kind": "leaky_relu", "input": "tr",
                 "alpha": {"type": "fixed<4,0>", "value": 2}, "result": "fixed<10,5>"},
                {"name": "hs", "kind": "hard_sigmoid", "input": "v", "slope": {"type": "fixed<4,0>", "value": 3},
                 "shift": {"type": "fixed<4,0>", "value": 4}, "result": "ufixed<8,1>"},
                {"name": "ht", "kind": "hard_tanh", "input": "v", "slope": {"type": "fixed<4,0>", "value": 3},
                 "shift": {"type": "fixed<4,0>", "value": 0}, "result": "fixed<8,2>"},
                {"name": "am", "kind": "argmax", "input": "cat"},
                {"name": "bn", "kind": "batchnorm", "input": "v",
                 "scale": {"type": "fixed<6,2>", "data": [3, -4, 5]}, "result": "fixed<12,6>"},
                {"name": "sg", "kind": "sigmoid", "input": "v", "table": {"type": "ufixed<8,0>", "size": 64},
                 "result": "ufixed<8,0>"},
                {"name": "th", "kind": "tanh", "input": "v", "table": {"type": "fixed<8,1>", "size": 32},
                 "result": "fixed<8,1>"},
                {"name": "ex", "kind": "exp", "input": "v", "table": {"type": "ufixed<10,4>", "size": 16},
                 "result": "ufixed<10,4>"},
                {"name": "sm", "kind": "softmax", "input": "v",
                 "exp_table": {"type": "ufixed<10,4>", "size": 16},
                 "inv_table": {"type": "ufixed<10,2>", "size": 32}, "result": "ufixed<8,0>"}
            ],
            "outputs": ["am", "bn", "sg", "th", "ex", "sm", "hs", "ht", "rc", "lr", "cat", "mul", "cv1"]
        });
        let g = parse(&model.to_string(), "kinds").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.layers.len(), 23);
        let written = write(&g, None);
        assert_eq!(parse(&written, "written").unwrap(), g);
    }

    #[test]
    fn implicit_bias_and_flatten() {
        let text = r#"{"format": "rtl4ml-model", "version": 1, "name": "t",
            "inputs": [{"name": "x", "shape": [2, 2], "type": "int<4>"}],
            "layers": [{"name": "f", "kind": "flatten"},
                       {"name": "d", "kind": "dense",
                        "weight": {"type": "int<3>", "shape": [4, 1], "data": [1, 0, -4, 3]},
                        "result": "fixed<8,8,RND,SAT>"}],
            "outputs": ["d", "x"]}"#;
        let g = parse(text, "t").unwrap();
        let w = write(&g, None);
        assert!(!w.contains("bias") && !w.contains("description"), "{w}");
        assert_eq!(parse(&w, "w").unwrap(), g);
    }
}
