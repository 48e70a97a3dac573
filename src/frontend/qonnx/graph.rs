//! The parts of an ONNX model that the QONNX frontend reads, decoded from protobuf: graph
//! inputs and outputs, constant tensors (initializers) as exact values, and the nodes with
//! their attributes.

use super::exact::{ConstTensor, Dyadic};
use crate::frontend::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, tensor_proto::DataType,
    AttributeProto, ModelProto, TensorProto, Version,
};
use prost::Message;
use std::collections::{HashMap, HashSet};

/// A decoded ONNX graph.
pub struct Graph {
    pub name: String,
    /// Graph inputs that are not initializers, in order.
    pub inputs: Vec<Input>,
    pub outputs: Vec<String>,
    /// Initializers by name.
    pub constants: HashMap<String, ConstTensor>,
    /// In the order of the file (ONNX requires a topological order).
    pub nodes: Vec<Node>,
}

/// A graph input: its name and its declared dimensions (`None`: symbolic or unknown).
pub struct Input {
    pub name: String,
    pub dims: Vec<Option<u64>>,
}

#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    /// Input tensor names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    attributes: Vec<AttributeProto>,
}

/// IR versions read: 3 (the first with opset imports) to the bundled `onnx.proto`'s.
pub const IR_VERSIONS: std::ops::RangeInclusive<i64> = 3..=Version::IrVersion as i64;

/// Opset versions read for the default (`ai.onnx`) domain; later ones do not exist yet.
pub const ONNX_OPSETS: std::ops::RangeInclusive<i64> = 1..=30;

/// A decoding error: where (`model`, a node, a tensor) and what.
pub struct DecodeError {
    pub place: String,
    pub message: String,
}

impl From<String> for DecodeError {
    fn from(message: String) -> Self {
        DecodeError {
            place: "model".into(),
            message,
        }
    }
}

impl From<&str> for DecodeError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

fn at(place: impl Into<String>, message: impl Into<String>) -> DecodeError {
    DecodeError {
        place: place.into(),
        message: message.into(),
    }
}

/// A name from the file, at most [`crate::frontend::MAX_NAME_BYTES`] long; `what` says whose.
fn name_ok(name: &str, what: &str) -> Result<(), DecodeError> {
    crate::frontend::check_name(name).map_err(|e| at(what, e))
}

/// What `onnx.checker` checks of the model as a whole: an IR version and the default
/// domain's opset, each within the versions that exist, and each domain imported once.
fn check_versions(model: &ModelProto) -> Result<(), DecodeError> {
    const CHECKER: &str = "onnx.checker.check_model refuses this file; re-export the model";
    match model.ir_version {
        Some(v) if IR_VERSIONS.contains(&v) => {}
        found => {
            return Err(format!(
                "ir_version is {}; expected {} to {} ({CHECKER})",
                found.map_or("missing".to_string(), |v| v.to_string()),
                IR_VERSIONS.start(),
                IR_VERSIONS.end()
            )
            .into())
        }
    }
    let mut seen = HashSet::new();
    let mut default = None;
    for o in &model.opset_import {
        let domain = match o.domain() {
            "ai.onnx" => "",
            d => d,
        };
        let show = if domain.is_empty() {
            "ai.onnx (default)"
        } else {
            domain
        };
        if !seen.insert(domain) {
            return Err(format!(
                "opset_import lists domain `{show}` twice; each domain is imported once ({CHECKER})"
            )
            .into());
        }
        let v = o.version();
        if domain.is_empty() {
            if !ONNX_OPSETS.contains(&v) {
                return Err(format!(
                    "the default domain's opset version is {v}; expected {} to {} ({CHECKER})",
                    ONNX_OPSETS.start(),
                    ONNX_OPSETS.end()
                )
                .into());
            }
            default = Some(v);
        } else if !(1..=1000).contains(&v) {
            return Err(format!(
                "domain `{show}` has opset version {v}; expected a version from 1 to 1000 ({CHECKER})"
            )
            .into());
        }
    }
    if default.is_none() {
        return Err(format!(
            "opset_import has no version for the default ONNX domain; a model must say which \
             ONNX opset its operators follow ({CHECKER})"
        )
        .into());
    }
    Ok(())
}

/// Decodes a serialized `ModelProto`, refusing what `onnx.checker` refuses: bad versions,
/// names defined twice (initializers, graph inputs, node outputs), repeated attributes.
pub fn decode(bytes: &[u8]) -> Result<Graph, DecodeError> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model ({e})"))?;
    if model.graph.is_none() {
        return Err("the ONNX model has no graph (an empty or truncated file?)".into());
    }
    check_versions(&model)?;
    let g = model.graph.expect("checked above");
    name_ok(g.name(), "graph name")?;
    let mut constants = HashMap::new();
    for t in &g.initializer {
        let name = t.name().to_string();
        name_ok(&name, "initializer")?;
        if constants.contains_key(&name) {
            return Err(at(
                format!("initializer `{name}`"),
                "two initializers have this name; every tensor must be defined once \
                 (onnx.checker.check_model refuses this file)",
            ));
        }
        let value = tensor(t).map_err(|e| format!("initializer `{name}`: {e}"))?;
        constants.insert(name, value);
    }
    // Every tensor is defined once: by an initializer, a graph input or one node output.
    let mut defined: HashMap<&str, String> = constants
        .keys()
        .map(|k| (k.as_str(), "an initializer".to_string()))
        .collect();
    for vi in &g.input {
        name_ok(vi.name(), "graph input")?;
        let place = format!("graph input `{}`", vi.name());
        if vi.name().is_empty() {
            return Err(at("graph input", "a graph input has no name"));
        }
        match defined.get(vi.name()) {
            // IR versions before 4 list initializers among the inputs too.
            Some(w) if w == "an initializer" => {}
            Some(_) => {
                return Err(at(
                    place,
                    "the graph lists this input twice; every graph input needs a name of its own",
                ))
            }
            None => {
                defined.insert(vi.name(), "a graph input".into());
            }
        }
    }
    for o in &g.output {
        name_ok(o.name(), "graph output")?;
    }
    for (k, n) in g.node.iter().enumerate() {
        name_ok(n.name(), &format!("node #{k}"))?;
        let place = if n.name().is_empty() {
            format!("node #{k} ({})", n.op_type())
        } else {
            format!("node `{}` ({})", n.name(), n.op_type())
        };
        for t in n.input.iter().chain(&n.output) {
            name_ok(t, &place)?;
        }
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if let Some(what) = defined.get(o.as_str()) {
                return Err(at(
                    place,
                    format!(
                        "its output `{o}` is already defined by {what}; every tensor must be \
                         defined once (onnx.checker.check_model refuses this file)"
                    ),
                ));
            }
            defined.insert(o, place.clone());
        }
        let mut attrs = HashSet::new();
        for a in &n.attribute {
            if !attrs.insert(a.name()) {
                return Err(at(
                    place,
                    format!(
                        "attribute `{}` is given twice; each attribute may appear once \
                         (onnx.checker.check_model refuses this file)",
                        a.name()
                    ),
                ));
            }
        }
    }
    let inputs = g
        .input
        .iter()
        .filter(|vi| !constants.contains_key(vi.name()))
        .map(|vi| {
            let dims = vi
                .r#type
                .as_ref()
                .and_then(|t| match &t.value {
                    Some(crate::frontend::onnx_proto::type_proto::Value::TensorType(tt)) => {
                        tt.shape.as_ref()
                    }
                    _ => None,
                })
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(
                                crate::frontend::onnx_proto::tensor_shape_proto::dimension::Value::DimValue(v),
                            ) if v > 0 => Some(v as u64),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Input {
                name: vi.name().to_string(),
                dims,
            }
        })
        .collect();
    let nodes = g
        .node
        .into_iter()
        .enumerate()
        .map(|(k, n)| Node {
            // Messages and layers need a name: an unnamed node takes its output's.
            name: match (n.name(), n.output.first()) {
                ("", Some(out)) if !out.is_empty() => out.clone(),
                ("", _) => format!("#{k}"),
                (name, _) => name.to_string(),
            },
            op_type: n.op_type().to_string(),
            domain: n.domain().to_string(),
            inputs: n.input,
            outputs: n.output,
            attributes: n.attribute,
        })
        .collect();
    Ok(Graph {
        name: g.name.unwrap_or_default(),
        inputs,
        outputs: g.output.iter().map(|o| o.name().to_string()).collect(),
        constants,
        nodes,
    })
}

impl Node {
    /// Whether the node has attribute `name`.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    fn attribute(&self, name: &str) -> Option<&AttributeProto> {
        self.attributes.iter().find(|a| a.name() == name)
    }

    /// An integer attribute, or `default` when it is absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.attribute(name) {
            None => Ok(default),
            Some(a) if a.r#type() == AttributeType::Int || a.i.is_some() => Ok(a.i()),
            Some(_) => Err(format!("attribute `{name}` should be an integer")),
        }
    }

    /// A float attribute (exactly, as the binary fraction the float stands for).
    pub fn float(&self, name: &str, default: f32) -> Result<Dyadic, String> {
        let x = match self.attribute(name) {
            None => default,
            Some(a) if a.r#type() == AttributeType::Float || a.f.is_some() => a.f(),
            Some(_) => return Err(format!("attribute `{name}` should be a float")),
        };
        Dyadic::from_f64(f64::from(x)).map_err(|e| format!("attribute `{name}`: {e}"))
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.attribute(name) {
            None => Ok(default.to_string()),
            Some(a) if a.r#type() == AttributeType::String || a.s.is_some() => {
                String::from_utf8(a.s().to_vec())
                    .map_err(|_| format!("attribute `{name}` is not UTF-8 text"))
            }
            Some(_) => Err(format!("attribute `{name}` should be a string")),
        }
    }

    /// A list-of-integers attribute; `None` when absent.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.attribute(name) {
            None => Ok(None),
            Some(a) if a.r#type() == AttributeType::Ints || !a.ints.is_empty() => {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => Err(format!("attribute `{name}` should be a list of integers")),
        }
    }

    /// The value of a `Constant` node (`value`, `value_float`, `value_floats`, `value_int`
    /// or `value_ints`).
    pub fn constant_value(&self) -> Result<ConstTensor, String> {
        let a = self
            .attributes
            .first()
            .ok_or("a Constant node needs a value attribute")?;
        let d = |x: f64| Dyadic::from_f64(x);
        match a.name() {
            "value" => tensor(a.t.as_ref().ok_or("attribute `value` holds no tensor")?),
            "value_float" => Ok(ConstTensor::scalar(d(f64::from(a.f()))?)),
            "value_int" => Ok(ConstTensor::scalar(d(a.i() as f64)?)),
            "value_floats" => Ok(ConstTensor {
                shape: vec![a.floats.len()],
                data: a.floats.iter().map(|&x| d(f64::from(x))).collect::<Result<_, _>>()?,
            }),
            "value_ints" => Ok(ConstTensor {
                shape: vec![a.ints.len()],
                data: a.ints.iter().map(|&x| d(x as f64)).collect::<Result<_, _>>()?,
            }),
            other => Err(format!(
                "a Constant node with attribute `{other}` is not supported (expected a numeric value)"
            )),
        }
    }
}

/// A tensor's values, exactly. Numeric types only; data in the typed fields or `raw_data`.
fn tensor(t: &TensorProto) -> Result<ConstTensor, String> {
    if t.data_location() == DataLocation::External || !t.external_data.is_empty() {
        return Err(
            "the data is stored in an external file; save the model with its data \
                    inside (onnx.save(model, path, save_as_external_data=False))"
                .into(),
        );
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("bad dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 24)
        .ok_or("the tensor has more than 2^24 elements")?;
    let raw = t.raw_data.as_deref();
    let dtype = DataType::try_from(t.data_type()).unwrap_or(DataType::Undefined);
    // Each element of raw data as f64 (exact for every type below, int64 up to 2^53).
    let from_raw = |size: usize, read: &dyn Fn(&[u8]) -> f64| -> Result<Vec<f64>, String> {
        let raw = raw.unwrap_or_default();
        if raw.len() != n * size {
            return Err(format!(
                "raw data holds {} bytes, expected {} ({n} elements of {size} bytes)",
                raw.len(),
                n * size
            ));
        }
        Ok(raw.chunks_exact(size).map(read).collect())
    };
    let le = |b: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        a
    };
    let values: Vec<f64> = match (dtype, raw.is_some()) {
        (DataType::Float, true) => {
            from_raw(4, &|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))?
        }
        (DataType::Float, false) => t.float_data.iter().map(|&x| f64::from(x)).collect(),
        (DataType::Double, true) => from_raw(8, &|b| f64::from_le_bytes(b.try_into().unwrap()))?,
        (DataType::Double, false) => t.double_data.clone(),
        (DataType::Float16, true) => from_raw(2, &|b| {
            half::f16::from_le_bytes(b.try_into().unwrap()).to_f64()
        })?,
        (DataType::Float16, false) => t
            .int32_data
            .iter()
            .map(|&x| half::f16::from_bits(x as u16).to_f64())
            .collect(),
        (DataType::Int64, true) => from_raw(8, &|b| i64::from_le_bytes(le(b)) as f64)?,
        (DataType::Int64, false) => t.int64_data.iter().map(|&x| x as f64).collect(),
        (DataType::Int32, true) => {
            from_raw(4, &|b| f64::from(i32::from_le_bytes(b.try_into().unwrap())))?
        }
        (DataType::Int8, true) => from_raw(1, &|b| f64::from(b[0] as i8))?,
        (DataType::Uint8 | DataType::Bool, true) => from_raw(1, &|b| f64::from(b[0]))?,
        (DataType::Int16, true) => {
            from_raw(2, &|b| f64::from(i16::from_le_bytes(b.try_into().unwrap())))?
        }
        (DataType::Uint16, true) => {
            from_raw(2, &|b| f64::from(u16::from_le_bytes(b.try_into().unwrap())))?
        }
        (
            DataType::Int32
            | DataType::Int8
            | DataType::Uint8
            | DataType::Bool
            | DataType::Int16
            | DataType::Uint16,
            false,
        ) => t.int32_data.iter().map(|&x| f64::from(x)).collect(),
        (other, _) => {
            return Err(format!(
                "data type {} is not supported (expected a float or integer tensor)",
                other.as_str_name()
            ))
        }
    };
    if values.len() != n {
        return Err(format!(
            "holds {} values, but its shape {shape:?} needs {n}",
            values.len()
        ));
    }
    let data = values
        .into_iter()
        .map(Dyadic::from_f64)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ConstTensor { shape, data })
}
