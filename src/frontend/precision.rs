//! Post-training quantization of float models: the precision spec (docs/ptq.md).
//!
//! hls4ml-style: one default type for every tensor the float model leaves unquantized
//! (inputs, weights, biases, accumulators, results), with per-input and per-layer overrides.
//! `--precision 'fixed<16,6>'` is the spec `{"default": "fixed<16,6>"}`; `--precision-file`
//! reads the JSON form:
//!
//! ```json
//! {"default": "fixed<16,6>",
//!  "inputs": {"x": "fixed<16,6,RND,SAT>"},
//!  "layers": {"dense": {"weight": "fixed<8,2>", "bias": "fixed<8,2>", "accum": "exact",
//!                       "result": "fixed<12,4>"},
//!             "relu": "ufixed<8,4>"}}
//! ```

use crate::error::{Error, Result};
use crate::ir::fixed::{wrap, FixedType};
use crate::ir::layers::{Constant, LayerKind, TableIndex};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Fields a layer entry may set.
pub const LAYER_FIELDS: [&str; 6] = [
    "weight",
    "bias",
    "accum",
    "result",
    "exp_table",
    "inv_table",
];

/// An accumulator: a type, or exact (rtl4ml derives the width that loses no bit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accum {
    Exact,
    Type(FixedType),
}

/// One layer's overrides (unset fields fall back to the default type).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerPrecision {
    pub weight: Option<FixedType>,
    pub bias: Option<FixedType>,
    pub accum: Option<Accum>,
    pub result: Option<FixedType>,
    pub exp_table: Option<FixedType>,
    pub inv_table: Option<FixedType>,
}

/// The precision of a post-training quantization.
#[derive(Clone, Debug, PartialEq)]
pub struct Precision {
    pub default: FixedType,
    pub inputs: BTreeMap<String, FixedType>,
    pub layers: BTreeMap<String, LayerPrecision>,
    /// `"accum"` at the top level: every layer's accumulator unless the layer sets one
    /// (`None`: the default type).
    pub accum: Option<Accum>,
    /// `"softmax": "skip"`: a `Softmax` passes its input through (the logits; the argmax is
    /// the same). Default `"latency"`: hls4ml's Latency lookup-table softmax.
    pub skip_softmax: bool,
}

/// hls4ml's softmax tables: `ap_fixed<18,8,AP_RND,AP_SAT>`, 1024 entries.
pub fn default_table_type() -> FixedType {
    "fixed<18,8,RND,SAT>".parse().expect("a valid type")
}
pub const TABLE_SIZE_LOG2: u32 = 10;

impl Precision {
    /// One default type everywhere (`--precision`).
    pub fn uniform(ty: &str) -> Result<Precision> {
        let default = ty
            .parse()
            .map_err(|e| Error::model("--precision", "value", e))?;
        Ok(Precision {
            default,
            inputs: BTreeMap::new(),
            layers: BTreeMap::new(),
            accum: None,
            skip_softmax: false,
        })
    }

    /// Reads a precision file (`--precision-file`).
    pub fn load(path: &Path) -> Result<Precision> {
        let text = crate::input::read_text(path, crate::input::MAX_MODEL_BYTES, "precision file")?;
        Precision::parse(&text, &path.display().to_string())
    }

    /// Parses the JSON form; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Precision> {
        let err = |place: &str, msg: String| Error::model(file, place, msg);
        let v: Value = serde_json::from_str(text).map_err(|e| {
            err(
                &format!("line {}, column {}", e.line(), e.column()),
                format!("malformed JSON: {e}"),
            )
        })?;
        let Value::Object(top) = v else {
            return Err(err("top level", "expected a JSON object".into()));
        };
        for k in top.keys() {
            if !matches!(
                k.as_str(),
                "default" | "inputs" | "layers" | "softmax" | "accum"
            ) {
                return Err(err(
                    "top level",
                    format!(
                        "unknown field `{k}` (expected default, accum, inputs, layers, softmax)"
                    ),
                ));
            }
        }
        let ty = |v: &Value, place: &str| -> Result<FixedType> {
            match v {
                Value::String(s) => s.parse().map_err(|e: String| err(place, e)),
                _ => Err(err(
                    place,
                    "expected a type string such as \"fixed<16,6>\"".into(),
                )),
            }
        };
        let default = match top.get("default") {
            Some(v) => ty(v, "field `default`")?,
            None => {
                return Err(err(
                    "top level",
                    "missing field `default` (the type of every tensor not overridden, e.g. \
                     \"fixed<16,6>\")"
                        .into(),
                ))
            }
        };
        let accum_of = |v: &Value, place: &str| -> Result<Accum> {
            match v.as_str() {
                Some(s) if s.eq_ignore_ascii_case("exact") => Ok(Accum::Exact),
                _ => Ok(Accum::Type(ty(v, place)?)),
            }
        };
        let accum = match top.get("accum") {
            None => None,
            Some(v) => Some(accum_of(v, "field `accum`")?),
        };
        let skip_softmax = match top.get("softmax").map(|v| v.as_str()) {
            None | Some(Some("latency")) => false,
            Some(Some("skip")) => true,
            Some(_) => {
                return Err(err(
                    "field `softmax`",
                    "expected \"latency\" (hls4ml's lookup-table softmax) or \"skip\" (output \
                     the logits)"
                        .into(),
                ))
            }
        };
        let object = |key: &str| -> Result<serde_json::Map<String, Value>> {
            match top.get(key) {
                None => Ok(Default::default()),
                Some(Value::Object(o)) => Ok(o.clone()),
                Some(_) => Err(err(
                    &format!("field `{key}`"),
                    "expected an object of names".into(),
                )),
            }
        };
        let mut inputs = BTreeMap::new();
        for (name, v) in object("inputs")? {
            let t = ty(&v, &format!("inputs.{name}"))?;
            inputs.insert(name, t);
        }
        let mut layers = BTreeMap::new();
        for (name, v) in object("layers")? {
            let place = format!("layers.{name}");
            let lp = match &v {
                // A string sets every field of the layer.
                Value::String(_) => {
                    let t = ty(&v, &place)?;
                    LayerPrecision {
                        weight: Some(t),
                        bias: Some(t),
                        accum: Some(Accum::Type(t)),
                        result: Some(t),
                        exp_table: None,
                        inv_table: None,
                    }
                }
                Value::Object(o) => {
                    let mut lp = LayerPrecision::default();
                    for (field, fv) in o {
                        let fplace = format!("{place}.{field}");
                        match field.as_str() {
                            "weight" => lp.weight = Some(ty(fv, &fplace)?),
                            "bias" => lp.bias = Some(ty(fv, &fplace)?),
                            "result" => lp.result = Some(ty(fv, &fplace)?),
                            "exp_table" => lp.exp_table = Some(ty(fv, &fplace)?),
                            "inv_table" => lp.inv_table = Some(ty(fv, &fplace)?),
                            "accum" => lp.accum = Some(accum_of(fv, &fplace)?),
                            other => {
                                return Err(err(
                                    &fplace,
                                    format!(
                                        "unknown field `{other}` (expected one of {})",
                                        LAYER_FIELDS.join(", ")
                                    ),
                                ))
                            }
                        }
                    }
                    lp
                }
                _ => {
                    return Err(err(
                        &place,
                        "expected a type string or an object of types (weight, bias, accum, \
                         result, exp_table, inv_table)"
                            .into(),
                    ))
                }
            };
            layers.insert(name, lp);
        }
        Ok(Precision {
            default,
            inputs,
            layers,
            accum,
            skip_softmax,
        })
    }

    pub fn input(&self, name: &str) -> FixedType {
        self.inputs.get(name).copied().unwrap_or(self.default)
    }

    fn layer(&self, name: &str) -> Option<&LayerPrecision> {
        self.layers.get(name)
    }

    pub fn weight(&self, layer: &str) -> FixedType {
        self.layer(layer)
            .and_then(|l| l.weight)
            .unwrap_or(self.default)
    }
    pub fn bias(&self, layer: &str) -> FixedType {
        self.layer(layer)
            .and_then(|l| l.bias)
            .unwrap_or(self.default)
    }
    pub fn result(&self, layer: &str) -> FixedType {
        self.layer(layer)
            .and_then(|l| l.result)
            .unwrap_or(self.default)
    }
    /// `None`: exact accumulation.
    pub fn accum(&self, layer: &str) -> Option<FixedType> {
        match self.layer(layer).and_then(|l| l.accum).or(self.accum) {
            Some(Accum::Exact) => None,
            Some(Accum::Type(t)) => Some(t),
            None => Some(self.default),
        }
    }
    pub fn exp_table(&self, layer: &str) -> FixedType {
        self.layer(layer)
            .and_then(|l| l.exp_table)
            .unwrap_or_else(default_table_type)
    }
    pub fn inv_table(&self, layer: &str) -> FixedType {
        self.layer(layer)
            .and_then(|l| l.inv_table)
            .unwrap_or_else(default_table_type)
    }

    /// Names in the spec that the model does not have (a typo would otherwise be ignored):
    /// an error naming them and the names the model has.
    pub fn check_names(
        &self,
        file: &str,
        inputs: &BTreeSet<String>,
        layers: &BTreeSet<String>,
    ) -> Result<()> {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        if let Some(n) = self.inputs.keys().find(|n| !inputs.contains(*n)) {
            return Err(Error::model(
                file,
                format!("precision spec: inputs.{n}"),
                format!(
                    "the model has no input `{n}` (its inputs: {})",
                    list(inputs)
                ),
            ));
        }
        if let Some(n) = self.layers.keys().find(|n| !layers.contains(*n)) {
            return Err(Error::model(
                file,
                format!("precision spec: layers.{n}"),
                format!(
                    "the model has no quantized layer `{n}` (layers that take a precision: {})",
                    list(layers)
                ),
            ));
        }
        Ok(())
    }
}

/// A float weight as hls4ml quantizes it: written to the C++ header with `F` decimals
/// (`F` = the type's fractional bits, at least 0), read back, and cast to the type with its
/// own rounding and overflow (`ap_fixed`'s conversion from a `double` literal).
pub fn hls4ml_constant(v: f64, ty: &FixedType) -> i128 {
    let decimals = ty.frac().max(0) as usize;
    let text = format!("{v:.decimals$}");
    let back: f64 = text.parse().unwrap_or(v);
    ty.cast_f64(back).unwrap_or(0)
}

/// hls4ml's `softmax_latency` (hls4ml 1.3.0, `nnet_activation.h`) for an input of type `x`,
/// as a native softmax with explicit tables:
///
/// ```text
/// e_k = accum_t(exp_table[top 10 bits of x_k])      exp_table_t(expf(v)), v the sampled input
/// s   = reduce(e) in accum_t (hls4ml's adder tree, each sum cast to accum_t)
/// v   = inv_table[top 10 bits of inv_inp_t(s)]     inv_table_t(1.0f / w); inv_inp_t = exp_table_t
/// y_k = result_t(e_k · v)
/// ```
///
/// The native exp table holds the entries already cast to `accum_t` (so the sum is in
/// `accum_t`), and the native inverse table is indexed by as many top bits of the `accum_t`
/// sum as the conversion to `inv_inp_t` and its top 10 bits depend on. Table entries are
/// computed in f32, as hls4ml's C++ does.
pub fn hls4ml_softmax(
    x: &FixedType,
    accum: &FixedType,
    exp_t: &FixedType,
    inv_t: &FixedType,
) -> Result<LayerKind, String> {
    let bits = TABLE_SIZE_LOG2;
    let inv_inp = *exp_t;
    if x.width < bits || inv_inp.width < bits {
        return Err(format!(
            "hls4ml's softmax indexes its 1024-entry tables by the top {bits} bits of its input \
             ({x}) and of the exp table type ({exp_t}): both need at least {bits} bits"
        ));
    }
    if accum.width > 16 {
        return Err(format!(
            "the softmax's accumulator {accum} is wider than 16 bits; rtl4ml builds hls4ml's \
             inverse table over the accumulator's codes: give the softmax layer an `accum` of \
             at most 16 bits in the precision file"
        ));
    }
    let f32_cast = |y: f32, ty: &FixedType| -> i128 {
        if y.is_nan() || y == f32::INFINITY {
            ty.max_mantissa()
        } else if y == f32::NEG_INFINITY {
            ty.min_mantissa()
        } else {
            ty.cast_f64(f64::from(y)).expect("finite")
        }
    };
    let index = TableIndex::TopBits { bits };
    let exp_table: Vec<i64> = (0..index.size())
        .map(|i| {
            let v = index.sample(i, x) as f32;
            let e = f32_cast(v.exp(), exp_t);
            accum.cast(e, exp_t.frac()) as i64
        })
        .collect();
    let hls_inv: Vec<i128> = (0..index.size())
        .map(|i| f32_cast(1.0 / (index.sample(i, &inv_inp) as f32), inv_t))
        .collect();
    // The entry for every accumulator code, then the fewest top bits that determine it.
    let codes = 1usize << accum.width;
    let entry: Vec<i128> = (0..codes)
        .map(|u| {
            let s = wrap(u as i128, accum.width, accum.signed);
            let w = inv_inp.cast(s, accum.frac());
            hls_inv[index.index(w, &inv_inp)]
        })
        .collect();
    let k = (1..=accum.width)
        .find(|&k| {
            let block = 1usize << (accum.width - k);
            entry.chunks(block).all(|c| c.iter().all(|&e| e == c[0]))
        })
        .expect("all bits determine the entry");
    let block = 1usize << (accum.width - k);
    Ok(LayerKind::Softmax {
        exp_table: Constant {
            ty: *accum,
            data: exp_table,
        },
        inv_table: Constant {
            ty: *inv_t,
            data: entry.iter().step_by(block).map(|&e| e as i64).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_falls_back() {
        let p = Precision::parse(
            r#"{"default": "fixed<16,6>", "inputs": {"x": "fixed<10,4,RND,SAT>"},
                "layers": {"fc1": {"weight": "fixed<8,2>", "accum": "exact"}, "r": "ufixed<8,4>"}}"#,
            "p.json",
        )
        .unwrap();
        assert_eq!(p.input("x").to_string(), "fixed<10,4,RND,SAT>");
        assert_eq!(p.input("y").to_string(), "fixed<16,6>");
        assert_eq!(p.weight("fc1").to_string(), "fixed<8,2>");
        assert_eq!(p.bias("fc1").to_string(), "fixed<16,6>");
        assert_eq!(p.accum("fc1"), None);
        assert_eq!(p.result("r").to_string(), "ufixed<8,4>");
        assert_eq!(p.accum("other").unwrap().to_string(), "fixed<16,6>");
        let p = Precision::parse(
            r#"{"default": "fixed<32,12>", "accum": "exact", "layers": {"a": {"accum": "fixed<20,8>"}}}"#,
            "p.json",
        )
        .unwrap();
        assert_eq!(p.accum("b"), None);
        assert_eq!(p.accum("a").unwrap().to_string(), "fixed<20,8>");
    }

    #[test]
    fn rejects_unknown_fields() {
        for bad in [
            r#"{"default": "fixed<16,6>", "layer": {}}"#,
            r#"{"default": "fixed<16,6>", "layers": {"a": {"weights": "fixed<8,2>"}}}"#,
            r#"{"inputs": {}}"#,
            r#"{"default": "fixed<16>"}"#,
        ] {
            assert!(Precision::parse(bad, "p.json").is_err(), "{bad}");
        }
    }

    #[test]
    fn hls4ml_weights_go_through_decimal_text() {
        let t: FixedType = "fixed<16,6>".parse().unwrap();
        // Just below 2^-10: printed with 10 decimals as 0.0009765625, which truncates to
        // one LSB (the value itself truncates to zero).
        let v = 2f64.powi(-10) - 1e-12;
        assert_eq!(t.cast_f64(v).unwrap(), 0);
        assert_eq!(hls4ml_constant(v, &t), 1);
        assert_eq!(hls4ml_constant(-0.3, &t), t.cast_f64(-0.3).unwrap());
    }
}
