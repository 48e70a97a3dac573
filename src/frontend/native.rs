//! The native JSON model format (`docs/model-format.md`), version 1.
//!
//! The file is read as untyped JSON and walked by hand so that every error can name the
//! file, the layer and the field, and say what was expected.

use crate::error::{Error, Result};
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Constant, Layer, LayerGraph, LayerKind, Tensor};
use ndarray::Array2;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

mod activation;
mod conv;
mod fields;
mod merge;
mod pool;
mod shape;
mod table;

pub const FORMAT: &str = "rtl4ml-model";
pub const VERSION: u64 = 1;

/// Reads and validates a native model file.
pub fn load(path: &Path) -> Result<LayerGraph> {
    let file = path.display().to_string();
    let text = crate::input::read_text(path, crate::input::MAX_MODEL_BYTES, "model file")?;
    parse(&text, &file)
}

/// Parses a native model from text; `file` is used in error messages.
pub fn parse(text: &str, file: &str) -> Result<LayerGraph> {
    // Editors on Windows may start UTF-8 files with a byte-order mark; it is not JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str::<strict::StrictValue>(text)
        .map(|v| v.0)
        .map_err(|e| {
            // serde_json's message ends with " at line L column C"; the place already says that.
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
            Error::model(
                file,
                format!("line {}, column {}", e.line(), e.column()),
                format!("malformed JSON: {msg}{}", json_hint(text, &e)),
            )
        })?;
    let names = root
        .get("layers")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Loader {
        file,
        layer_names: names,
    }
    .model(&root)
}

/// What to do about a JSON syntax error, for the common causes.
fn json_hint(text: &str, e: &serde_json::Error) -> &'static str {
    if text.trim().is_empty() {
        return " (the file is empty)";
    }
    if e.is_eof() {
        return " (the file ends early: it is truncated; write or download it again)";
    }
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let near: String = line
        .chars()
        .skip(e.column().saturating_sub(4))
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    if near.contains("nan") || near.contains("inf") {
        return " (JSON has no NaN or Infinity: weights and biases are integer mantissas; a \
                 non-finite weight means the training or export went wrong — fix the model \
                 and export it again)";
    }
    if e.to_string().starts_with("number out of range") {
        return " (model numbers are integer mantissas that fit their fixed-point type, at \
                 most 64 bits)";
    }
    ""
}

/// A JSON value parsed like `serde_json::Value`, except that an object with the same key
/// twice is an error: which of the two counts is parser-dependent, so such a file is ambiguous.
mod strict {
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    pub struct StrictValue(pub Value);

    impl<'de> Deserialize<'de> for StrictValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V).map(StrictValue)
        }
    }

    struct V;

    impl<'de> Visitor<'de> for V {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(4096));
            while let Some(StrictValue(x)) = a.next_element()? {
                v.push(x);
            }
            Ok(Value::Array(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let mut m = Map::new();
            while let Some(k) = a.next_key::<String>()? {
                if m.contains_key(&k) {
                    return Err(A::Error::custom(format!(
                        "the key \"{k}\" appears twice in one object; keep only one"
                    )));
                }
                let StrictValue(v) = a.next_value()?;
                m.insert(k, v);
            }
            Ok(Value::Object(m))
        }
    }
}

struct Loader<'a> {
    file: &'a str,
    /// Every layer name in the file, to tell a forward reference (a cycle) from a typo.
    layer_names: Vec<&'a str>,
}

type Obj = Map<String, Value>;

impl Loader<'_> {
    fn err(&self, place: &str, msg: impl Into<String>) -> Error {
        Error::model(self.file, place, msg)
    }

    fn obj<'v>(&self, v: &'v Value, place: &str) -> Result<&'v Obj> {
        v.as_object()
            .ok_or_else(|| self.err(place, format!("expected an object, found {}", kind(v))))
    }

    fn field<'v>(&self, o: &'v Obj, key: &str, place: &str) -> Result<&'v Value> {
        o.get(key)
            .ok_or_else(|| self.err(place, format!("missing field `{key}`")))
    }

    fn string<'v>(&self, o: &'v Obj, key: &str, place: &str) -> Result<&'v str> {
        let v = self.field(o, key, place)?;
        v.as_str().ok_or_else(|| {
            self.err(
                &format!("{place}: field `{key}`"),
                format!("expected a string, found {}", kind(v)),
            )
        })
    }

    /// Field `name` of `o`: a string of at most [`super::MAX_NAME_BYTES`].
    fn name<'v>(&self, o: &'v Obj, place: &str) -> Result<&'v str> {
        let s = self.string(o, "name", place)?;
        super::check_name(s).map_err(|e| self.err(&format!("{place}: field `name`"), e))?;
        Ok(s)
    }

    fn ty(&self, o: &Obj, key: &str, place: &str) -> Result<FixedType> {
        let s = self.string(o, key, place)?;
        s.parse()
            .map_err(|e: String| self.err(&format!("{place}: field `{key}`"), e))
    }

    fn check_keys(&self, o: &Obj, allowed: &[&str], place: &str) -> Result<()> {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(
                    place,
                    format!("unknown field `{k}` (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn shape(&self, v: &Value, place: &str) -> Result<Vec<usize>> {
        let arr = v.as_array().ok_or_else(|| {
            self.err(
                place,
                format!("expected a list of positive integers, found {}", kind(v)),
            )
        })?;
        if arr.is_empty() {
            return Err(self.err(place, "expected a non-empty list of positive integers"));
        }
        let dims = arr
            .iter()
            .map(|d| {
                d.as_u64()
                    .filter(|&d| d > 0 && d <= super::MAX_DIM as u64)
                    .map(|d| d as usize)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                self.err(
                    place,
                    "expected a list of positive integers (each at most 2^20)",
                )
            })?;
        if dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none_or(|n| n > super::MAX_ELEMENTS)
        {
            return Err(self.err(
                place,
                "tensor has more than 2^22 elements; rtl4ml builds fully unrolled \
                 hardware, so every element costs logic: make the tensor smaller",
            ));
        }
        Ok(dims)
    }

    /// Integer mantissas that must fit `ty`. `place` names the layer, `field` the field path
    /// (`weight.data`); `what` explains the expected length.
    fn mantissas(
        &self,
        v: &Value,
        ty: &FixedType,
        len: usize,
        what: &str,
        place: &str,
        field: &str,
    ) -> Result<Vec<i64>> {
        let fp = format!("{place}: field `{field}`");
        let arr = v.as_array().ok_or_else(|| {
            self.err(
                &fp,
                format!("expected a list of integer mantissas, found {}", kind(v)),
            )
        })?;
        if arr.len() != len {
            return Err(self.err(
                &fp,
                format!("expected {len} values ({what}), found {}", arr.len()),
            ));
        }
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                let at = format!("{place}: field `{field}[{i}]`");
                if !(x.is_i64() || x.is_u64()) {
                    let hint = match x.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() >= 9.2e18 => format!(
                            " (beyond 64 bits: it cannot fit {ty}, whose mantissas are {}..={})",
                            ty.min_mantissa(),
                            ty.max_mantissa()
                        ),
                        // serde_json reads the JSON integer `-0` as the float -0.0.
                        Some(f) if f == 0.0 && f.is_sign_negative() => {
                            " (write 0: JSON readers take -0 for the float \
                                                 -0.0)"
                                .to_string()
                        }
                        Some(_) => format!(
                            " (data holds integer mantissas m of {ty}, value = m·2^{}: \
                             multiply real weights by 2^{} and round them)",
                            -ty.frac(),
                            ty.frac()
                        ),
                        None => String::new(),
                    };
                    return Err(self.err(
                        &at,
                        format!(
                            "expected an integer mantissa, found {}{hint}",
                            if x.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) {
                                "-0".to_string()
                            } else {
                                x.to_string()
                            }
                        ),
                    ));
                }
                let fits = match x.as_i64() {
                    Some(m) => ty.contains(m as i128),
                    None => x.as_u64().is_some_and(|m| ty.contains(m as i128)),
                };
                if !fits {
                    return Err(self.err(
                        &at,
                        format!(
                            "mantissa {x} does not fit its type {ty} (range {}..={}); \
                             requantize the value to the type or declare a wider type",
                            ty.min_mantissa(),
                            ty.max_mantissa()
                        ),
                    ));
                }
                let m = x.as_i64().ok_or_else(|| {
                    self.err(
                        &at,
                        format!(
                            "mantissa {x} is 2^63 or more: rtl4ml holds constants as 64-bit signed \
                             integers, so unsigned 64-bit constants are limited to 2^63 − 1"
                        ),
                    )
                })?;
                Ok(m)
            })
            .collect()
    }

    fn model(&self, root: &Value) -> Result<LayerGraph> {
        let o = self.obj(root, "top level")?;
        // The format marker first: a file of another kind gets "not a model file", not a
        // complaint about its first unknown field.
        if !o.contains_key("format") {
            return Err(self.err(
                "top level",
                format!(
                    "missing field `format`: this is not an rtl4ml model file (it must say \
                     \"format\": \"{FORMAT}\"; see docs/model-format.md)"
                ),
            ));
        }
        self.check_keys(
            o,
            &[
                "format",
                "version",
                "name",
                "description",
                "inputs",
                "layers",
                "outputs",
            ],
            "top level",
        )?;
        let format = self.string(o, "format", "top level")?;
        if format != FORMAT {
            return Err(self.err(
                "field `format`",
                format!(
                    "expected \"{FORMAT}\", found \"{format}\": this is not an rtl4ml model \
                     file (see docs/model-format.md)"
                ),
            ));
        }
        let version = self.field(o, "version", "top level")?;
        if version.as_u64() != Some(VERSION) {
            return Err(self.err(
                "field `version`",
                format!(
                    "unsupported version {version} (this build reads version {VERSION}): \
                     export the model as version {VERSION} or use a newer rtl4ml"
                ),
            ));
        }
        if let Some(d) = o.get("description") {
            if !d.is_string() {
                return Err(self.err(
                    "field `description`",
                    format!("expected a string, found {}", kind(d)),
                ));
            }
        }
        let name = match o.get("name") {
            Some(v) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| self.err("field `name`", "expected a string"))?;
                super::check_name(s).map_err(|e| self.err("field `name`", e))?;
                s.to_string()
            }
            None => "model".to_string(),
        };
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut g = LayerGraph {
            name,
            inputs: vec![],
            layers: vec![],
            outputs: vec![],
        };

        let inputs = self
            .field(o, "inputs", "top level")?
            .as_array()
            .ok_or_else(|| self.err("field `inputs`", "expected a list"))?;
        if inputs.is_empty() {
            return Err(self.err("field `inputs`", "a model needs at least one input"));
        }
        for (i, v) in inputs.iter().enumerate() {
            let place = format!("inputs[{i}]");
            let io = self.obj(v, &place)?;
            self.check_keys(io, &["name", "shape", "type"], &place)?;
            let name = self.name(io, &place)?.to_string();
            let place = format!("input `{name}`");
            let shape = self.shape(
                self.field(io, "shape", &place)?,
                &format!("{place}: field `shape`"),
            )?;
            let ty = self.ty(io, "type", &place)?;
            self.unique(&mut names, &name, g.inputs.len(), &place)?;
            g.inputs.push(Tensor { name, shape, ty });
        }

        let layers = self
            .field(o, "layers", "top level")?
            .as_array()
            .ok_or_else(|| self.err("field `layers`", "expected a list"))?;
        for (i, v) in layers.iter().enumerate() {
            let layer = self.layer(v, i, &g, &names)?;
            let t = g.inputs.len() + g.layers.len();
            self.unique(&mut names, &layer.name, t, &format!("layers[{i}]"))?;
            g.layers.push(layer);
        }

        let outs = self
            .field(o, "outputs", "top level")?
            .as_array()
            .ok_or_else(|| self.err("field `outputs`", "expected a list of names"))?;
        if outs.is_empty() {
            return Err(self.err("field `outputs`", "a model needs at least one output"));
        }
        for (i, v) in outs.iter().enumerate() {
            let n = v.as_str().ok_or_else(|| {
                self.err(&format!("outputs[{i}]"), "expected a layer or input name")
            })?;
            let t = *names.get(n).ok_or_else(|| {
                self.err(
                    &format!("outputs[{i}]"),
                    format!("no input or layer is named `{n}`; check the spelling"),
                )
            })?;
            g.outputs.push(t);
        }
        Ok(g)
    }

    /// Why `n` is not a tensor a layer may read: itself, a later layer (which would make a
    /// cycle), or no name at all.
    fn unknown_input(&self, n: &str, layer: &str) -> String {
        let shown = crate::text::escape(n);
        if n == layer {
            let n = shown;
            format!(
                "no input or earlier layer is named `{n}`: a layer cannot read its own \
                 output (the graph must have no cycles); name the layer it reads"
            )
        } else if let Some(k) = self.layer_names.iter().position(|&l| l == n) {
            let n = shown;
            format!(
                "no input or earlier layer is named `{n}`: `{n}` is layers[{k}], which comes \
                 later; layers must be listed after the layers they read (the graph must have \
                 no cycles)"
            )
        } else {
            format!("no input or earlier layer is named `{shown}`; check the spelling")
        }
    }

    fn unique(
        &self,
        names: &mut HashMap<String, usize>,
        name: &str,
        t: usize,
        place: &str,
    ) -> Result<()> {
        if name.is_empty() {
            return Err(self.err(place, "names must not be empty"));
        }
        if names.insert(name.to_string(), t).is_some() {
            return Err(self.err(
                place,
                format!(
                    "the name `{name}` is used twice; every input and layer needs a name of its \
                     own (layers read each other by name)"
                ),
            ));
        }
        Ok(())
    }

    fn layer(
        &self,
        v: &Value,
        i: usize,
        g: &LayerGraph,
        names: &HashMap<String, usize>,
    ) -> Result<Layer> {
        let o = self.obj(v, &format!("layers[{i}]"))?;
        let name = self.name(o, &format!("layers[{i}]"))?.to_string();
        let place = format!("layer `{name}` (layers[{i}])");
        let kind = self.string(o, "kind", &place)?;
        if let Some(v) = o.get("inputs") {
            return self.multi_input_layer(o, v, kind, &name, &place, g, names);
        }
        let input = match o.get("input") {
            Some(v) => {
                let n = v.as_str().ok_or_else(|| {
                    self.err(&format!("{place}: field `input`"), "expected a name")
                })?;
                *names.get(n).ok_or_else(|| {
                    self.err(
                        &format!("{place}: field `input`"),
                        self.unknown_input(n, &name),
                    )
                })?
            }
            None if g.layers.is_empty() && g.inputs.len() == 1 => 0,
            None if !g.layers.is_empty() => g.inputs.len() + g.layers.len() - 1,
            None => {
                return Err(self.err(
                    &place,
                    "missing field `input` (the model has several inputs)",
                ))
            }
        };
        let x = g.tensor(input);
        let (kind, shape, ty) = match kind {
            "dense" | "einsum_dense" => {
                let mut keys = vec!["name", "kind", "input", "weight", "bias", "accum", "result"];
                if kind == "einsum_dense" {
                    // Keras' EinsumDense in the dense-on-the-last-axis forms (native/fields.rs).
                    self.einsum_equation(o, x, &place)?;
                    keys.push("equation");
                }
                self.check_keys(o, &keys, &place)?;
                let n_in = *x.shape.last().unwrap();
                let wp = format!("{place}: field `weight`");
                let w = self.obj(self.field(o, "weight", &place)?, &wp)?;
                self.check_keys(w, &["type", "shape", "data"], &wp)?;
                let wty = self.ty(w, "type", &wp)?;
                let wsp = format!("{place}: field `weight.shape`");
                let wshape = self.shape(self.field(w, "shape", &wp)?, &wsp)?;
                if wshape.len() != 2 || wshape[0] != n_in {
                    return Err(self.err(
                        &wsp,
                        format!("expected [{n_in}, n_out] (the input `{}` has shape {:?}), found {wshape:?}", x.name, x.shape),
                    ));
                }
                let n_out = wshape[1];
                let rows = x.len() / n_in;
                if rows.checked_mul(n_out).is_none_or(|n| n > 1 << 22) {
                    return Err(self.err(
                        &wsp,
                        format!("the output would have {rows} × {n_out} elements, more than 2^22"),
                    ));
                }
                let data = self.mantissas(
                    self.field(w, "data", &wp)?,
                    &wty,
                    n_in * n_out,
                    &format!("n_in × n_out = {n_in} × {n_out}"),
                    &place,
                    "weight.data",
                )?;
                let weight = Array2::from_shape_vec((n_in, n_out), data).expect("length checked");
                let bias = match o.get("bias") {
                    None | Some(Value::Null) => Constant {
                        ty: FixedType::new(true, 1, 1),
                        data: vec![0; n_out],
                    },
                    Some(b) => {
                        let bp = format!("{place}: field `bias`");
                        let b = self.obj(b, &bp)?;
                        self.check_keys(b, &["type", "data"], &bp)?;
                        let bty = self.ty(b, "type", &bp)?;
                        let data = self.mantissas(
                            self.field(b, "data", &bp)?,
                            &bty,
                            n_out,
                            &format!("one per output, n_out = {n_out}"),
                            &place,
                            "bias.data",
                        )?;
                        Constant { ty: bty, data }
                    }
                };
                let accum = match o.get("accum") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(self.ty(o, "accum", &place)?),
                };
                let ty = self.ty(o, "result", &place)?;
                let mut shape = x.shape.clone();
                *shape.last_mut().unwrap() = n_out;
                (
                    LayerKind::Dense {
                        weight: Constant {
                            ty: wty,
                            data: weight,
                        },
                        bias,
                        accum,
                    },
                    shape,
                    ty,
                )
            }
            "relu" if o.contains_key("cap") => self.layer_ext(kind, o, input, g, &place)?,
            "quantize" if o.contains_key("element_types") => {
                self.check_keys(
                    o,
                    &["name", "kind", "input", "element_types", "result"],
                    &place,
                )?;
                let ty = self.ty(o, "result", &place)?;
                let types = self.element_types(o, x, &ty, &place)?;
                (LayerKind::QuantizeEach { types }, x.shape.clone(), ty)
            }
            "relu" | "quantize" => {
                self.check_keys(o, &["name", "kind", "input", "result"], &place)?;
                let ty = self.ty(o, "result", &place)?;
                let k = if kind == "relu" {
                    LayerKind::Relu
                } else {
                    LayerKind::Quantize
                };
                (k, x.shape.clone(), ty)
            }
            "flatten" => {
                self.check_keys(o, &["name", "kind", "input"], &place)?;
                (LayerKind::Flatten, vec![x.len()], x.ty)
            }
            other => self.layer_ext(other, o, input, g, &place)?,
        };
        Ok(Layer {
            name: name.clone(),
            kind,
            input,
            output: Tensor { name, shape, ty },
        })
    }
}

impl Loader<'_> {
    /// The `element_types` of a per-element `quantize`: one type per element (row-major) or
    /// one per channel (the last axis), each of whose values `result` must hold exactly.
    fn element_types(
        &self,
        o: &Obj,
        x: &Tensor,
        result: &FixedType,
        place: &str,
    ) -> Result<Vec<FixedType>> {
        let fp = format!("{place}: field `element_types`");
        let v = self.field(o, "element_types", place)?;
        let arr = v.as_array().ok_or_else(|| {
            self.err(
                &fp,
                format!("expected a list of type strings, found {}", kind(v)),
            )
        })?;
        let (n, c) = (x.len(), *x.shape.last().expect("non-empty shape"));
        if arr.len() != n && arr.len() != c {
            return Err(self.err(
                &fp,
                format!(
                    "expected {n} types (one per element of `{}`, shape {:?}) or {c} (one per \
                     channel, the last axis), found {}",
                    x.name,
                    x.shape,
                    arr.len()
                ),
            ));
        }
        let mut types = Vec::with_capacity(arr.len());
        for (i, t) in arr.iter().enumerate() {
            let at = format!("{place}: field `element_types[{i}]`");
            let s = t.as_str().ok_or_else(|| {
                self.err(&at, format!("expected a type string, found {}", kind(t)))
            })?;
            let ty: FixedType = s.parse().map_err(|e: String| self.err(&at, e))?;
            if !crate::ir::layers::holds_exactly(result, &ty) {
                return Err(self.err(
                    &at,
                    format!(
                        "`result` {result} cannot hold every value of {ty} exactly; declare a \
                         `result` with at least {} fractional bits whose range covers [{}, {}]",
                        ty.frac(),
                        ty.to_f64(ty.min_mantissa()),
                        ty.to_f64(ty.max_mantissa())
                    ),
                ));
            }
            types.push(ty);
        }
        Ok((0..n).map(|e| types[e % types.len()]).collect())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod kind_tests {
    use super::parse;
    use crate::ir::layers::{kind_names_sentence, KIND_NAMES};

    fn with_kind(kind: &str) -> String {
        format!(
            r#"{{"format": "rtl4ml-model", "version": 1, "name": "k",
                "inputs": [{{"name": "x", "shape": [4, 4, 2], "type": "fixed<8,3>"}}],
                "layers": [{{"name": "l", "kind": "{kind}", "input": "x"}}],
                "outputs": ["l"]}}"#
        )
    }

    #[test]
    fn the_loader_knows_every_kind_of_the_one_list_and_names_them_all() {
        for kind in KIND_NAMES {
            // The layer lacks the kind's fields, so most kinds are refused, but never as an
            // unknown kind.
            if let Err(e) = parse(&with_kind(kind), "k.json") {
                let e = e.to_string();
                assert!(!e.contains("unknown layer kind"), "{kind}: {e}");
            }
        }
        let e = parse(&with_kind("sum_pool2d"), "k.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("(expected {})", kind_names_sentence())),
            "{e}"
        );
        assert!(kind_names_sentence().ends_with("exp or softmax"));
    }
}
