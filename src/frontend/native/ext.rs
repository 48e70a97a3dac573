//! Loader of the layer kinds beyond dense, relu, quantize and flatten (docs/model-format.md):
//! convolution, pooling, merges, shape ops, clipping activations, argmax, batch normalisation
//! and lookup tables. Every error names the file, the layer and the field.

use super::{kind, Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::{f64_to_mantissa, FixedType};
use crate::ir::layers::{
    Constant, Layer, LayerGraph, LayerKind, MergeOp, Padding, PoolOp, TableFn, TableIndex, Tensor,
    Window,
};
use serde_json::Value;
use std::collections::HashMap;

/// Largest lookup table a model may declare (entries).
const MAX_TABLE: u64 = 1 << 16;
/// Largest tensor (elements).
const MAX_ELEMENTS: usize = 1 << 22;

impl Loader<'_> {
    fn fp(place: &str, field: &str) -> String {
        format!("{place}: field `{field}`")
    }

    /// A positive integer, or a list of `rank` positive integers (one per spatial axis).
    fn per_axis(
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

    fn padding(&self, o: &Obj, place: &str) -> Result<Padding> {
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
    fn one_mantissa(&self, v: &Value, ty: &FixedType, at: &str) -> Result<i64> {
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
    fn scalar(&self, o: &Obj, key: &str, place: &str) -> Result<Constant<i64>> {
        let fp = Self::fp(place, key);
        let c = self.obj(self.field(o, key, place)?, &fp)?;
        self.check_keys(c, &["type", "value"], &fp)?;
        let ty = self.ty(c, "type", &fp)?;
        let v = self.field(c, "value", &fp)?;
        let m = self.one_mantissa(v, &ty, &Self::fp(place, &format!("{key}.value")))?;
        Ok(Constant { ty, data: m })
    }

    /// A per-channel constant `{"type": T, "data": [...]}` with `len` entries.
    fn vector(
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
    fn table(
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
    fn reciprocal(&self, o: &Obj, op: PoolOp, place: &str) -> Result<PoolOp> {
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
    fn check_reciprocal(
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

    fn spatial_rank(kind: &str) -> usize {
        if kind.ends_with("1d") {
            1
        } else {
            2
        }
    }

    fn check_elements(&self, shape: &[usize], place: &str) -> Result<()> {
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
        let x = g.tensor(input);
        let rank_err = |what: &str| {
            self.err(
                &Self::fp(place, "input"),
                format!(
                    "`{k}` expects {what}, but the input `{}` has shape {:?}",
                    x.name, x.shape
                ),
            )
        };
        match k {
            "conv1d" | "conv2d" | "depthwise_conv1d" | "depthwise_conv2d" => {
                self.check_keys(
                    o,
                    &["name", "kind", "input", "weight", "bias", "accum", "result", "strides", "padding", "dilation"],
                    place,
                )?;
                let d = Self::spatial_rank(k);
                let depthwise = k.starts_with("depthwise");
                if x.shape.len() != d + 1 {
                    return Err(rank_err(if d == 1 { "a [length, channels] input" } else { "a [height, width, channels] input" }));
                }
                let c_in = x.shape[d];
                let wp = Self::fp(place, "weight");
                let w = self.obj(self.field(o, "weight", place)?, &wp)?;
                self.check_keys(w, &["type", "shape", "data"], &wp)?;
                let wty = self.ty(w, "type", &wp)?;
                let wsp = Self::fp(place, "weight.shape");
                let wshape = self.shape(self.field(w, "shape", &wp)?, &wsp)?;
                let expect = if depthwise { "multiplier" } else { "filters" };
                let kdims = if d == 1 { "k" } else { "kh, kw" };
                if wshape.len() != d + 2 || wshape[d] != c_in {
                    return Err(self.err(
                        &wsp,
                        format!("expected [{kdims}, {c_in}, {expect}] (the input `{}` has {c_in} channels), found {wshape:?}", x.name),
                    ));
                }
                let kernel = wshape[..d].to_vec();
                let c_out = wshape[d + 1];
                let n: usize = wshape.iter().product();
                let data = self.mantissas(
                    self.field(w, "data", &wp)?,
                    &wty,
                    n,
                    &format!("the product of weight.shape {wshape:?}"),
                    place,
                    "weight.data",
                )?;
                let ones = vec![1; d];
                let strides = self.per_axis(o, "strides", d, Some(&ones), place)?;
                let dilation = self.per_axis(o, "dilation", d, Some(&ones), place)?;
                let padding = self.padding(o, place)?;
                let window = Window::new(&x.shape[..d], &kernel, &strides, &dilation, padding)
                    .map_err(|m| self.err(&wsp, m))?;
                let channels = if depthwise { c_in * c_out } else { c_out };
                let bias = self.bias(o, channels, place)?;
                let accum = match o.get("accum") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(self.ty(o, "accum", place)?),
                };
                let ty = self.ty(o, "result", place)?;
                let mut shape = window.out_dims.clone();
                shape.push(channels);
                self.check_elements(&shape, place)?;
                Ok((
                    LayerKind::Conv {
                        weight: Constant { ty: wty, data },
                        bias,
                        accum,
                        window,
                        c_in,
                        c_out,
                        depthwise,
                    },
                    shape,
                    ty,
                ))
            }
            "max_pool1d" | "max_pool2d" | "avg_pool1d" | "avg_pool2d" => {
                self.check_keys(o, &["name", "kind", "input", "pool_size", "strides", "padding", "result", "reciprocal"], place)?;
                let d = Self::spatial_rank(k);
                if x.shape.len() != d + 1 {
                    return Err(rank_err(if d == 1 { "a [length, channels] input" } else { "a [height, width, channels] input" }));
                }
                let op = if k.starts_with("max") { PoolOp::Max } else { PoolOp::Avg };
                let op = self.reciprocal(o, op, place)?;
                let pool = self.per_axis(o, "pool_size", d, None, place)?;
                let strides = self.per_axis(o, "strides", d, Some(&pool), place)?;
                let padding = self.padding(o, place)?;
                if op == PoolOp::Avg && padding == Padding::Same {
                    return Err(self.err(
                        &Self::fp(place, "padding"),
                        "average pooling supports only \"valid\" padding unless it has a `reciprocal` type (with \"same\", Keras divides border windows by their number of valid elements, which is not a power of two)",
                    ));
                }
                let area: usize = pool.iter().product();
                if op == PoolOp::Avg && !area.is_power_of_two() {
                    return Err(self.err(
                        &Self::fp(place, "pool_size"),
                        format!("average pooling over {area} elements: only power-of-two window sizes divide exactly; give a `reciprocal` type (e.g. \"ufixed<16,1>\") to multiply by a rounded 1/{area} instead"),
                    ));
                }
                // Windows in the padding hold fewer elements.
                let least = if padding == Padding::Same { 1 } else { area };
                self.check_reciprocal(op, least..=area, place)?;
                let window = Window::new(&x.shape[..d], &pool, &strides, &vec![1; d], padding)
                    .map_err(|m| self.err(&Self::fp(place, "pool_size"), m))?;
                let ty = self.ty(o, "result", place)?;
                let mut shape = window.out_dims.clone();
                shape.push(x.shape[d]);
                Ok((LayerKind::Pool { op, window, global: false }, shape, ty))
            }
            "global_max_pool" | "global_avg_pool" | "global_sum_pool" => {
                self.check_keys(o, &["name", "kind", "input", "result", "reciprocal"], place)?;
                if x.shape.len() < 2 {
                    return Err(rank_err("an input with at least one axis before the channels ([N, C], [H, W, C], …)"));
                }
                let d = x.shape.len() - 1;
                let op = match k {
                    "global_max_pool" => PoolOp::Max,
                    "global_avg_pool" => PoolOp::Avg,
                    _ => PoolOp::Sum,
                };
                let op = self.reciprocal(o, op, place)?;
                let area: usize = x.shape[..d].iter().product();
                self.check_reciprocal(op, area..=area, place)?;
                if op == PoolOp::Avg && !area.is_power_of_two() {
                    return Err(self.err(
                        &Self::fp(place, "kind"),
                        format!("global average pooling over {area} positions: only a power-of-two count divides exactly (use global_sum_pool, then a batchnorm scale)"),
                    ));
                }
                let window = Window::new(&x.shape[..d], &x.shape[..d], &vec![1; d], &vec![1; d], Padding::Valid)
                    .expect("a window covering its input is valid");
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::Pool { op, window, global: true }, vec![x.shape[d]], ty))
            }
            "add" | "subtract" | "multiply" | "concatenate" => {
                Err(self.err(place, format!("missing field `inputs` (`{k}` reads a list of tensors, e.g. \"inputs\": [\"a\", \"b\"])")))
            }
            "reshape" => {
                self.check_keys(o, &["name", "kind", "input", "shape"], place)?;
                let sp = Self::fp(place, "shape");
                let shape = self.shape(self.field(o, "shape", place)?, &sp)?;
                let n: usize = shape.iter().product();
                if n != x.len() {
                    return Err(self.err(&sp, format!("{shape:?} has {n} elements, but the input `{}` ({:?}) has {}", x.name, x.shape, x.len())));
                }
                Ok((LayerKind::Reshape, shape, x.ty))
            }
            "transpose" => {
                self.check_keys(o, &["name", "kind", "input", "perm"], place)?;
                let pp = Self::fp(place, "perm");
                let v = self.field(o, "perm", place)?;
                let r = x.shape.len();
                let perm: Option<Vec<usize>> = v.as_array().and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
                let ok = perm.as_ref().is_some_and(|p| {
                    let mut s = p.clone();
                    s.sort_unstable();
                    s == (0..r).collect::<Vec<_>>()
                });
                if !ok {
                    return Err(self.err(&pp, format!("expected a permutation of 0..{r} (the input `{}` has shape {:?}), found {v}", x.name, x.shape)));
                }
                let perm = perm.unwrap();
                let shape = perm.iter().map(|&a| x.shape[a]).collect();
                Ok((LayerKind::Transpose { perm }, shape, x.ty))
            }
            "slice" => {
                self.check_keys(o, &["name", "kind", "input", "begin", "end", "step"], place)?;
                let r = x.shape.len();
                let list = |key: &str, default: Option<Vec<usize>>| -> Result<Vec<usize>> {
                    let kp = Self::fp(place, key);
                    let v = match (o.get(key), default) {
                        (None, Some(d)) => return Ok(d),
                        (None, None) => return Err(self.err(place, format!("missing field `{key}` (one integer per input axis, {r} in all)"))),
                        (Some(v), _) => v,
                    };
                    v.as_array()
                        .filter(|a| a.len() == r)
                        .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>())
                        .ok_or_else(|| self.err(&kp, format!("expected {r} non-negative integers (one per axis of the input `{}`, shape {:?}), found {v}", x.name, x.shape)))
                };
                let begin = list("begin", Some(vec![0; r]))?;
                let end = list("end", Some(x.shape.clone()))?;
                let step = list("step", Some(vec![1; r]))?;
                for a in 0..r {
                    if step[a] == 0 {
                        return Err(self.err(&Self::fp(place, "step"), format!("axis {a}: the step must be at least 1")));
                    }
                    if !(begin[a] < end[a] && end[a] <= x.shape[a]) {
                        return Err(self.err(
                            &Self::fp(place, "end"),
                            format!("axis {a}: expected 0 ≤ begin < end ≤ {} (the input `{}` has shape {:?}), found begin {} and end {}", x.shape[a], x.name, x.shape, begin[a], end[a]),
                        ));
                    }
                }
                let shape = (0..r).map(|a| (end[a] - begin[a]).div_ceil(step[a])).collect();
                Ok((LayerKind::Slice { begin, end, step }, shape, x.ty))
            }
            "relu" => {
                self.check_keys(o, &["name", "kind", "input", "cap", "result"], place)?;
                let cap = self.scalar(o, "cap", place)?;
                if cap.data <= 0 {
                    return Err(self.err(&Self::fp(place, "cap.value"), format!("the cap must be positive, found {}", cap.data)));
                }
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::ReluCap { cap }, x.shape.clone(), ty))
            }
            "leaky_relu" => {
                self.check_keys(o, &["name", "kind", "input", "alpha", "result"], place)?;
                let alpha = self.scalar(o, "alpha", place)?;
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::LeakyRelu { alpha }, x.shape.clone(), ty))
            }
            "hard_sigmoid" | "hard_tanh" => {
                self.check_keys(o, &["name", "kind", "input", "slope", "shift", "result"], place)?;
                let slope = self.scalar(o, "slope", place)?;
                let shift = self.scalar(o, "shift", place)?;
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::HardSigmoid { slope, shift, tanh: k == "hard_tanh" }, x.shape.clone(), ty))
            }
            "argmax" => {
                self.check_keys(o, &["name", "kind", "input", "result"], place)?;
                let n = *x.shape.last().unwrap();
                let ty = match o.get("result") {
                    None | Some(Value::Null) => {
                        let bits = (usize::BITS - (n - 1).leading_zeros()).max(1);
                        FixedType::new(false, bits, bits as i32)
                    }
                    Some(_) => self.ty(o, "result", place)?,
                };
                let shape = if x.shape.len() == 1 { vec![1] } else { x.shape[..x.shape.len() - 1].to_vec() };
                Ok((LayerKind::Argmax, shape, ty))
            }
            "batchnorm" => {
                self.check_keys(o, &["name", "kind", "input", "scale", "bias", "result"], place)?;
                let c = *x.shape.last().unwrap();
                let what = format!("one per channel (the last axis of `{}`), {c}", x.name);
                let scale = self.vector(o, "scale", c, &what, place)?;
                let bias = match o.get("bias") {
                    None | Some(Value::Null) => Constant { ty: FixedType::new(true, 1, 1), data: vec![0; c] },
                    Some(_) => self.vector(o, "bias", c, &what, place)?,
                };
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::BatchNorm { scale, bias }, x.shape.clone(), ty))
            }
            "sigmoid" | "tanh" => {
                self.check_keys(o, &["name", "kind", "input", "table", "input_range", "result"], place)?;
                let function = if k == "sigmoid" { TableFn::Sigmoid } else { TableFn::Tanh };
                let rp = Self::fp(place, "input_range");
                let range_log2 = match o.get("input_range") {
                    None | Some(Value::Null) => if k == "sigmoid" { 4 } else { 3 },
                    Some(v) => {
                        let r = v
                            .as_f64()
                            .and_then(|f| f64_to_mantissa(f).ok())
                            .filter(|&(m, _)| m > 0)
                            .map(|(m, f)| (m >> m.trailing_zeros(), f - m.trailing_zeros() as i32))
                            .filter(|&(m, f)| m == 1 && (-20..=20).contains(&f));
                        match r {
                            Some((_, f)) => -f,
                            None => return Err(self.err(&rp, format!("expected a power of two from 2^-20 to 2^20, found {v}"))),
                        }
                    }
                };
                let (table, bits) = self.table(o, "table", 16, "tables are limited to 2^16 entries", place)?;
                let index = TableIndex::Range { size_log2: bits, range_log2 };
                let table = self.fill(table, function, index, &x.ty);
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::Table { function, index, table }, x.shape.clone(), ty))
            }
            "exp" => {
                self.check_keys(o, &["name", "kind", "input", "table", "result"], place)?;
                let xty = x.ty;
                let why = format!("the index is the top bits of the input type {xty}, which has only {}", xty.width);
                let (table, bits) = self.table(o, "table", xty.width, &why, place)?;
                let index = TableIndex::TopBits { bits };
                let table = self.fill(table, TableFn::Exp, index, &xty);
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::Table { function: TableFn::Exp, index, table }, x.shape.clone(), ty))
            }
            "softmax" => {
                self.check_keys(o, &["name", "kind", "input", "exp_table", "inv_table", "result"], place)?;
                let xty = x.ty;
                let why = format!("the index is the top bits of the input type {xty}, which has only {}", xty.width);
                let (exp_table, eb) = self.table(o, "exp_table", xty.width, &why, place)?;
                let exp_table = self.fill(exp_table, TableFn::Exp, TableIndex::TopBits { bits: eb }, &xty);
                let ety = exp_table.ty;
                let why = format!("the index is the top bits of the sum, of the exp table type {ety}, which has only {}", ety.width);
                let (inv_table, ib) = self.table(o, "inv_table", ety.width, &why, place)?;
                let inv_table = self.fill(inv_table, TableFn::Inv, TableIndex::TopBits { bits: ib }, &ety);
                let ty = self.ty(o, "result", place)?;
                Ok((LayerKind::Softmax { exp_table, inv_table }, x.shape.clone(), ty))
            }
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
    fn fill(
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

    fn bias(&self, o: &Obj, n: usize, place: &str) -> Result<Constant<Vec<i64>>> {
        match o.get("bias") {
            None | Some(Value::Null) => Ok(Constant {
                ty: FixedType::new(true, 1, 1),
                data: vec![0; n],
            }),
            Some(_) => self.vector(o, "bias", n, &format!("one per output channel, {n}"), place),
        }
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
