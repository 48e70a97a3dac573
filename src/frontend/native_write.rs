//! Writes a layer graph back to the native JSON format (`docs/model-format.md`).
//!
//! The text reads back to the same graph: `native::parse(&write(&g, d), _) == g`. Every layer
//! names its `input` explicitly, types use their canonical spelling, and a bias is left out
//! only when it is what a missing bias reads as (all zeros of the default `fixed<1,1>`).
//! The layout follows `models/generate.py`: objects and lists that fit on a 100-column line
//! stay on one line, lists of numbers are always on one line, anything else is broken one
//! member per line.

use super::native::{FORMAT, VERSION};
use crate::ir::fixed::FixedType;
use crate::ir::layers::{LayerGraph, LayerKind};
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
    let layers = g
        .layers
        .iter()
        .map(|layer| {
            let mut o = Map::new();
            o.insert("name".into(), json!(layer.name));
            o.insert("kind".into(), json!(layer.kind.name()));
            o.insert("input".into(), json!(g.tensor(layer.input).name));
            if let LayerKind::Dense {
                weight,
                bias,
                accum,
            } = &layer.kind
            {
                let (n_in, n_out) = weight.data.dim();
                o.insert(
                    "weight".into(),
                    json!({
                        "type": weight.ty.to_string(),
                        "shape": [n_in, n_out],
                        "data": weight.data.iter().collect::<Vec<_>>(),
                    }),
                );
                let implicit =
                    bias.ty == FixedType::new(true, 1, 1) && bias.data.iter().all(|&b| b == 0);
                if !implicit {
                    o.insert(
                        "bias".into(),
                        json!({"type": bias.ty.to_string(), "data": bias.data}),
                    );
                }
                if let Some(a) = accum {
                    o.insert("accum".into(), json!(a.to_string()));
                }
            }
            if !matches!(layer.kind, LayerKind::Flatten) {
                o.insert("result".into(), json!(layer.output.ty.to_string()));
            }
            Value::Object(o)
        })
        .collect();
    root.insert("layers".into(), Value::Array(layers));
    root.insert(
        "outputs".into(),
        Value::Array(g.outputs.iter().map(|&t| json!(g.tensor(t).name)).collect()),
    );
    Value::Object(root)
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
