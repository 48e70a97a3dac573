//! The field readers the layer loaders share (integers per axis, padding, scalars, vectors,
//! tables, reciprocals), and the dispatcher of the layer kinds beyond dense, relu, quantize and
//! flatten to their concept's file (`conv`, `pool`, `merge`, `shape`, `activation`, `table`;
//! docs/model-format.md). Every error names the file, the layer and the field.

use super::{kind, Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{
    Constant, LayerGraph, LayerKind, Padding, PoolOp, TableFn, TableIndex, Tensor,
};
use serde_json::Value;

/// Largest lookup table a model may declare (entries).
pub(super) const MAX_TABLE: u64 = 1 << 16;
/// Largest tensor (elements).
pub(super) const MAX_ELEMENTS: usize = 1 << 22;

impl Loader<'_> {
    pub(super) fn fp(place: &str, field: &str) -> String {
        format!("{place}: field `{field}`")
    }

    /// A positive integer, or a list of `rank` positive integers (one per spatial axis).
    pub(super) fn per_axis(
        &self,
        o: &Obj,
        key: &str,
        rank: usize,
        default: Option<&[usize]>,
        place: &str,
    ) -> Result<Vec<usize>> {
        let fp = Self::fp(place, key);
        let v = match o.get(key) {
            None | Some(Value::Null) => {
                return default
                    .map(<[usize]>::to_vec)
                    .ok_or_else(|| self.err(place, format!("missing field `{key}`")))
            }
            Some(v) => v,
        };
        let one = |x: &Value| {
            x.as_u64()
                .filter(|&d| (1..=1 << 16).contains(&d))
                .map(|d| d as usize)
        };
        let what = if rank == 1 {
            "a positive integer (or a list of one)".to_string()
        } else {
            format!("a positive integer or a list of {rank} positive integers")
        };
        if let Some(d) = one(v) {
            return Ok(vec![d; rank]);
        }
        if v.is_number() {
            return Err(self.err(&fp, format!("expected {what} from 1 to 65536, found {v}")));
        }
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(&fp, format!("expected {what}, found {}", kind(v))))?;
        if arr.len() != rank {
            return Err(self.err(
                &fp,
                format!("expected {what}, found a list of {}", arr.len()),
            ));
        }
        arr.iter()
            .map(one)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                let found: Vec<String> = arr.iter().map(Value::to_string).collect();
                self.err(
                    &fp,
                    format!(
                        "expected {what}, each from 1 to 65536, found [{}]",
                        found.join(", ")
                    ),
                )
            })
    }

    pub(super) fn padding(&self, o: &Obj, place: &str) -> Result<Padding> {
        match o.get("padding") {
            None | Some(Value::Null) => Ok(Padding::Valid),
            Some(v) => match v.as_str() {
                Some("valid") => Ok(Padding::Valid),
                Some("same") => Ok(Padding::Same),
                _ => Err(self.err(
                    &Self::fp(place, "padding"),
                    format!("expected \"valid\" or \"same\", found {v}"),
                )),
            },
        }
    }

    /// One integer mantissa that must fit `ty`.
    pub(super) fn one_mantissa(&self, v: &Value, ty: &FixedType, at: &str) -> Result<i64> {
        let m = v
            .as_i64()
            .ok_or_else(|| self.err(at, format!("expected an integer mantissa, found {v}")))?;
        if !ty.contains(m as i128) {
            return Err(self.err(
                at,
                format!(
                    "mantissa {m} does not fit its type {ty} (range {}..={})",
                    ty.min_mantissa(),
                    ty.max_mantissa()
                ),
            ));
        }
        Ok(m)
    }

    /// A scalar constant `{"type": T, "value": m}`.
    pub(super) fn scalar(&self, o: &Obj, key: &str, place: &str) -> Result<Constant<i64>> {
        let fp = Self::fp(place, key);
        let c = self.obj(self.field(o, key, place)?, &fp)?;
        self.check_keys(c, &["type", "value"], &fp)?;
        let ty = self.ty(c, "type", &fp)?;
        let v = self.field(c, "value", &fp)?;
        let m = self.one_mantissa(v, &ty, &Self::fp(place, &format!("{key}.value")))?;
        Ok(Constant { ty, data: m })
    }

    /// A per-channel constant `{"type": T, "data": [...]}` with `len` entries.
    pub(super) fn vector(
        &self,
        o: &Obj,
        key: &str,
        len: usize,
        what: &str,
        place: &str,
    ) -> Result<Constant<Vec<i64>>> {
        let fp = Self::fp(place, key);
        let c = self.obj(self.field(o, key, place)?, &fp)?;
        self.check_keys(c, &["type", "data"], &fp)?;
        let ty = self.ty(c, "type", &fp)?;
        let data = self.mantissas(
            self.field(c, "data", &fp)?,
            &ty,
            len,
            what,
            place,
            &format!("{key}.data"),
        )?;
        Ok(Constant { ty, data })
    }

    /// A lookup table `{"type": T, "size": N, "data": [...]}`: `data` optional (then empty here,
    /// see [`Self::fill`]). `max_bits` bounds log2 N (the index width); returns the table and
    /// log2 N.
    pub(super) fn table(
        &self,
        o: &Obj,
        key: &str,
        max_bits: u32,
        why: &str,
        place: &str,
    ) -> Result<(Constant<Vec<i64>>, u32)> {
        let fp = Self::fp(place, key);
        let c = self.obj(self.field(o, key, place)?, &fp)?;
        self.check_keys(c, &["type", "size", "data"], &fp)?;
        let ty = self.ty(c, "type", &fp)?;
        let sp = Self::fp(place, &format!("{key}.size"));
        let size_v = self.field(c, "size", &fp)?;
        let size = size_v
            .as_u64()
            .filter(|n| n.is_power_of_two() && (2..=MAX_TABLE).contains(n))
            .ok_or_else(|| {
                self.err(
                    &sp,
                    format!("expected a power of two from 2 to {MAX_TABLE}, found {size_v}"),
                )
            })?;
        let bits = size.trailing_zeros();
        if bits > max_bits {
            return Err(self.err(
                &sp,
                format!("{size} entries need {bits} index bits, but {why}"),
            ));
        }
        let data = match c.get("data") {
            None | Some(Value::Null) => vec![],
            Some(v) => self.mantissas(
                v,
                &ty,
                size as usize,
                "one per entry, `size`",
                place,
                &format!("{key}.data"),
            )?,
        };
        Ok((Constant { ty, data }, bits))
    }

    /// Checks an `einsum_dense` layer's `equation`: Keras' EinsumDense forms that are a dense
    /// layer on the last axis, `"<axes>f,fo-><axes>o"` (e.g. `"btf,fo->bto"`, `"...f,fo->...o"`),
    /// with `<axes>` the input's other axes (a leading batch letter allowed).
    pub(super) fn einsum_equation(&self, o: &Obj, x: &Tensor, place: &str) -> Result<()> {
        let ep = Self::fp(place, "equation");
        let eq = self.field(o, "equation", place)?;
        let text = eq.as_str().ok_or_else(|| {
            self.err(
                &ep,
                format!("expected a string such as \"btf,fo->bto\", found {eq}"),
            )
        })?;
        let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let fail = |why: &str| {
            self.err(
                &ep,
                format!(
                    "`{text}` {why}; rtl4ml reads the EinsumDense forms that are a dense layer on the last axis: \"<axes>f,fo-><axes>o\" (e.g. \"btf,fo->bto\" or \"...f,fo->...o\"); for another axis, transpose that axis last first"
                ),
            )
        };
        let parsed = s
            .split_once("->")
            .and_then(|(l, out)| l.split_once(',').map(|(i, k)| (i, k, out)));
        let Some((inp, ker, out)) = parsed else {
            return Err(fail("is not of the form \"input,kernel->output\""));
        };
        let (ell_in, inp) = inp.strip_prefix("...").map_or((false, inp), |r| (true, r));
        let (ell_out, out) = out.strip_prefix("...").map_or((false, out), |r| (true, r));
        let letters = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic());
        if ell_in != ell_out || !letters(inp) || !letters(ker) || !letters(out) {
            return Err(fail("has characters or ellipses this form does not have"));
        }
        let (f, o_) = (inp.chars().last().unwrap(), out.chars().last().unwrap());
        let distinct =
            |t: &str| t.chars().collect::<std::collections::HashSet<_>>().len() == t.len();
        let kc: Vec<char> = ker.chars().collect();
        if kc != [f, o_] || f == o_ || inp.contains(o_) || !distinct(inp) {
            return Err(fail(
                "does not contract the input's last axis with a [f, o] kernel",
            ));
        }
        if inp[..inp.len() - 1] != out[..out.len() - 1] {
            return Err(fail("does not keep the input's other axes in order"));
        }
        let r = x.shape.len();
        if !ell_in && inp.len() != r && inp.len() != r + 1 {
            return Err(fail(&format!(
                "names {} input axes but the input `{}` has shape {:?} (a leading batch axis may be named)",
                inp.len(),
                x.name,
                x.shape
            )));
        }
        Ok(())
    }

    /// An average pool's optional `reciprocal` type (`PoolOp::AvgRecip`); an error on other
    /// pools.
    pub(super) fn reciprocal(&self, o: &Obj, op: PoolOp, place: &str) -> Result<PoolOp> {
        if !o.contains_key("reciprocal") {
            return Ok(op);
        }
        if op != PoolOp::Avg {
            return Err(self.err(
                &Self::fp(place, "reciprocal"),
                "only average pooling takes a reciprocal type",
            ));
        }
        Ok(PoolOp::AvgRecip(self.ty(o, "reciprocal", place)?))
    }

    /// Every `recip(n)` the windows need (`n` in `counts`) must fit the reciprocal type.
    pub(super) fn check_reciprocal(
        &self,
        op: PoolOp,
        counts: std::ops::RangeInclusive<usize>,
        place: &str,
    ) -> Result<()> {
        let PoolOp::AvgRecip(t) = op else {
            return Ok(());
        };
        if t.width > 62 {
            return Err(self.err(
                &Self::fp(place, "reciprocal"),
                format!("{t} is wider than the 62 bits a reciprocal may have"),
            ));
        }
        for n in counts {
            if crate::ir::layers::recip_mantissa(n, &t).is_none() {
                return Err(self.err(
                    &Self::fp(place, "reciprocal"),
                    format!("1/{n} (a window of {n} elements) rounds to a value {t} cannot hold (zero, or above its maximum, or more than 100 fractional bits); use an unsigned type with at least 1 integer bit and enough fractional bits, e.g. ufixed<16,1>"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn spatial_rank(kind: &str) -> usize {
        if kind.ends_with("1d") {
            1
        } else {
            2
        }
    }

    pub(super) fn check_elements(&self, shape: &[usize], place: &str) -> Result<()> {
        if shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none_or(|n| n > MAX_ELEMENTS)
        {
            return Err(self.err(
                place,
                format!("the output would have more than 2^22 elements (shape {shape:?})"),
            ));
        }
        Ok(())
    }

    /// Layers reading one tensor (`input`): returns the kind, the output shape and type.
    pub(super) fn layer_ext(
        &self,
        k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        match k {
            "conv1d" | "conv2d" | "depthwise_conv1d" | "depthwise_conv2d" => {
                self.layer_conv(k, o, input, g, place)
            }
            "max_pool1d" | "max_pool2d" | "avg_pool1d" | "avg_pool2d" => {
                self.layer_pool(k, o, input, g, place)
            }
            "global_max_pool" | "global_avg_pool" | "global_sum_pool" => {
                self.layer_global_pool(k, o, input, g, place)
            }
            "add" | "subtract" | "multiply" | "concatenate" => {
                self.layer_merge(k, o, input, g, place)
            }
            "reshape" => self.layer_reshape(k, o, input, g, place),
            "transpose" => self.layer_transpose(k, o, input, g, place),
            "slice" => self.layer_slice(k, o, input, g, place),
            "relu" => self.layer_relu_cap(k, o, input, g, place),
            "leaky_relu" => self.layer_leaky_relu(k, o, input, g, place),
            "hard_sigmoid" | "hard_tanh" => self.layer_hard_sigmoid(k, o, input, g, place),
            "argmax" => self.layer_argmax(k, o, input, g, place),
            "batchnorm" => self.layer_batchnorm(k, o, input, g, place),
            "sigmoid" | "tanh" => self.layer_sigmoid_tanh(k, o, input, g, place),
            "exp" => self.layer_exp(k, o, input, g, place),
            "softmax" => self.layer_softmax(k, o, input, g, place),
            other => Err(self.err(
                &Self::fp(place, "kind"),
                format!(
                    "unknown layer kind `{other}` (expected {})",
                    crate::ir::layers::kind_names_sentence()
                ),
            )),
        }
    }

    /// Keeps explicit table data, or computes the entries from the function.
    pub(super) fn fill(
        &self,
        t: Constant<Vec<i64>>,
        f: TableFn,
        index: TableIndex,
        xty: &FixedType,
    ) -> Constant<Vec<i64>> {
        match t.data.is_empty() {
            false => t,
            true => Constant {
                ty: t.ty,
                data: (0..index.size())
                    .map(|i| table_entry(f, index.sample(i, xty), &t.ty))
                    .collect(),
            },
        }
    }

    pub(super) fn bias(&self, o: &Obj, n: usize, place: &str) -> Result<Constant<Vec<i64>>> {
        match o.get("bias") {
            None | Some(Value::Null) => Ok(Constant {
                ty: FixedType::new(true, 1, 1),
                data: vec![0; n],
            }),
            Some(_) => self.vector(o, "bias", n, &format!("one per output channel, {n}"), place),
        }
    }
}

/// A computed table entry: the function of the sampled input in f64, cast to the table type
/// with its own rounding and overflow; ±∞ and NaN (1/0) become the type's largest value
/// (smallest for −∞).
pub fn table_entry(f: TableFn, v: f64, ty: &FixedType) -> i64 {
    let y = f.eval(v);
    if y.is_nan() || y == f64::INFINITY {
        return ty.max_mantissa() as i64;
    }
    if y == f64::NEG_INFINITY {
        return ty.min_mantissa() as i64;
    }
    ty.cast_f64(y).expect("finite") as i64
}
