//! Loading merges (their inputs are read by `multi_input_layer`) from the native model format.

use super::{kind, Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Layer, LayerGraph, LayerKind, MergeOp, Tensor};
use serde_json::Value;
use std::collections::HashMap;

impl Loader<'_> {
    pub(super) fn layer_merge(
        &self,
        k: &str,
        _o: &Obj,
        _input: usize,
        _g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        Err(self.err(place, format!("missing field `inputs` (`{k}` reads a list of tensors, e.g. \"inputs\": [\"a\", \"b\"])")))
    }

    /// A layer with `"inputs": [...]`: add, subtract, multiply, concatenate.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn multi_input_layer(
        &self,
        o: &Obj,
        v: &Value,
        k: &str,
        name: &str,
        place: &str,
        g: &LayerGraph,
        names: &HashMap<String, usize>,
    ) -> Result<Layer> {
        let ip = Self::fp(place, "inputs");
        if !matches!(k, "add" | "subtract" | "multiply" | "concatenate") {
            return Err(self.err(
                &ip,
                format!("only add, subtract, multiply and concatenate read several tensors; `{k}` reads one `input`"),
            ));
        }
        if o.contains_key("input") {
            return Err(self.err(place, "give either `input` or `inputs`, not both"));
        }
        let arr = v.as_array().ok_or_else(|| {
            self.err(
                &ip,
                format!("expected a list of tensor names, found {}", kind(v)),
            )
        })?;
        let mut srcs = Vec::new();
        for (j, n) in arr.iter().enumerate() {
            let at = Self::fp(place, &format!("inputs[{j}]"));
            let n = n.as_str().ok_or_else(|| self.err(&at, "expected a name"))?;
            let t = *names.get(n).ok_or_else(|| {
                self.err(
                    &at,
                    format!(
                        "no input or earlier layer is named `{}`",
                        crate::text::escape(n)
                    ),
                )
            })?;
            srcs.push(t);
        }
        let want = match k {
            "subtract" | "multiply" => "exactly 2",
            _ => "at least 2",
        };
        if srcs.len() < 2 || (want == "exactly 2" && srcs.len() != 2) {
            return Err(self.err(
                &ip,
                format!("`{k}` takes {want} tensors, found {}", srcs.len()),
            ));
        }
        let ts: Vec<&Tensor> = srcs.iter().map(|&t| g.tensor(t)).collect();
        let (kind_, shape, ty) = if k == "concatenate" {
            self.check_keys(o, &["name", "kind", "inputs", "axis", "result"], place)?;
            let r = ts[0].shape.len() as i64;
            let ap = Self::fp(place, "axis");
            let axis = match o.get("axis") {
                None | Some(Value::Null) => r - 1,
                Some(a) => {
                    let a = a
                        .as_i64()
                        .filter(|&a| (-r..r).contains(&a))
                        .ok_or_else(|| self.err(&ap, format!("expected an integer axis in {}..{r} (negative counts from the end), found {a}", -r)))?;
                    if a < 0 {
                        a + r
                    } else {
                        a
                    }
                }
            } as usize;
            let mut shape = ts[0].shape.clone();
            for (j, t) in ts.iter().enumerate().skip(1) {
                let ok = t.shape.len() == shape.len()
                    && (0..shape.len()).all(|a| a == axis || t.shape[a] == shape[a]);
                if !ok {
                    return Err(self.err(
                        &Self::fp(place, &format!("inputs[{j}]")),
                        format!("`{}` has shape {:?}, which does not match {:?} of `{}` outside axis {axis}", t.name, t.shape, ts[0].shape, ts[0].name),
                    ));
                }
                shape[axis] += t.shape[axis];
            }
            let ty = match o.get("result") {
                None | Some(Value::Null) => {
                    if let Some(t) = ts.iter().find(|t| t.ty != ts[0].ty) {
                        return Err(self.err(
                            place,
                            format!("missing field `result`: the inputs have different types ({} for `{}`, {} for `{}`), so the output type must be given", ts[0].ty, ts[0].name, t.ty, t.name),
                        ));
                    }
                    ts[0].ty
                }
                Some(_) => self.ty(o, "result", place)?,
            };
            self.check_elements(&shape, place)?;
            (
                LayerKind::Concatenate {
                    others: srcs[1..].to_vec(),
                    axis,
                },
                shape,
                ty,
            )
        } else {
            self.check_keys(o, &["name", "kind", "inputs", "result"], place)?;
            for (j, t) in ts.iter().enumerate().skip(1) {
                if t.shape != ts[0].shape {
                    return Err(self.err(
                        &Self::fp(place, &format!("inputs[{j}]")),
                        format!("`{}` has shape {:?} but `{}` has {:?}: element-wise merges need equal shapes (no broadcasting)", t.name, t.shape, ts[0].name, ts[0].shape),
                    ));
                }
            }
            let op = match k {
                "add" => MergeOp::Add,
                "subtract" => MergeOp::Subtract,
                _ => MergeOp::Multiply,
            };
            let ty = self.ty(o, "result", place)?;
            (
                LayerKind::Merge {
                    op,
                    others: srcs[1..].to_vec(),
                },
                ts[0].shape.clone(),
                ty,
            )
        };
        Ok(Layer {
            name: name.to_string(),
            kind: kind_,
            input: srcs[0],
            output: Tensor {
                name: name.to_string(),
                shape,
                ty,
            },
        })
    }
}
