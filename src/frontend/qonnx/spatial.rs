//! The QONNX operators on multi-dimensional tensors: `Conv`, the poolings, merges of two
//! computed tensors, `Concat` and `Slice`, and the layout bookkeeping they need.
//!
//! ONNX tensors are `[N, C, d_0, …]` (channels first); rtl4ml's spatial layers are channels
//! last. A built tensor of rank ≥ 2 (batch dropped) is stored either as ONNX has it or
//! channels last (`Built::channels_last`); `Transpose` layers (pure wiring) convert between
//! the two where an operator needs one of them, so e.g. a `Flatten` after a `Conv` flattens
//! in ONNX's `C, H, W` order.

use super::{place, Converter, Dyadic, TensorId, Value};
use crate::error::Result;
use crate::ir::fixed::{FixedType, MAX_TYPE_WIDTH};
use crate::ir::interval::Interval;
use crate::ir::layers::{Constant, LayerKind, MergeOp, Padding, PoolOp, Window};

use super::exact::ConstTensor;
use super::graph::Node;

/// A convolution whose result type is not known yet.
#[derive(Clone)]
pub(super) struct PendingConv {
    /// Built, channels last.
    input: TensorId,
    /// Native order: `[k_0, …, c_in, c_out]` (depthwise: `[k_0, …, c_in, multiplier]`).
    weight: Vec<Dyadic>,
    /// One per output channel.
    bias: Vec<Dyadic>,
    window: Window,
    c_in: usize,
    c_out: usize,
    depthwise: bool,
    node: String,
    place: String,
}

impl PendingConv {
    /// Output channels.
    pub(super) fn n_ch(&self) -> usize {
        if self.depthwise {
            self.c_in * self.c_out
        } else {
            self.c_out
        }
    }
}

/// The exact type of every value in `lo..=hi` at `frac` fractional bits.
fn exact_type(lo: i128, hi: i128, frac: i32) -> Option<FixedType> {
    let range = Interval::new(lo, hi);
    let width = range.width();
    let ty = FixedType::new(range.signed(), width, width as i32 - frac);
    ty.validate().ok().map(|_| ty)
}

impl Converter<'_> {
    // ---- layout -----------------------------------------------------------------------

    /// The ONNX shape (batch dropped) of built tensor `id`.
    pub(super) fn logical(&self, id: TensorId) -> Vec<usize> {
        let s = self.shape(id);
        if self.built[id].channels_last {
            let (c, rest) = s.split_last().expect("a shape");
            [&[*c][..], rest].concat()
        } else {
            s.to_vec()
        }
    }

    /// Tensor `id` stored channels last (`want`) or as ONNX has it: `id` itself, or a
    /// transpose of it (made once per tensor and layout).
    pub(super) fn in_layout(&mut self, id: TensorId, want: bool) -> TensorId {
        let r = self.shape(id).len();
        if r < 2 || self.built[id].channels_last == want {
            return id;
        }
        if let Some(&t) = self.relayouts.get(&(id, want)) {
            return t;
        }
        let perm: Vec<usize> = if want {
            (1..r).chain([0]).collect()
        } else {
            [r - 1].into_iter().chain(0..r - 1).collect()
        };
        let x = self.built[id].tensor.clone();
        let shape = perm.iter().map(|&a| x.shape[a]).collect();
        let suffix = if want { "nhwc" } else { "nchw" };
        let t = self.push(
            &format!("{}_{suffix}", x.name),
            LayerKind::Transpose { perm },
            id,
            shape,
            x.ty,
        );
        self.built[t].channels_last = want;
        self.relayouts.insert((id, want), t);
        t
    }

    /// Is the computed value stored channels last?
    fn value_channels_last(&self, v: &Value) -> bool {
        match v {
            Value::Hw { id, .. } | Value::Relu { id, .. } => self.built[*id].channels_last,
            Value::Linear(l) => self.built[l.input].channels_last,
            Value::Conv(_) => true,
            Value::Float { .. } | Value::Const(_) => false,
        }
    }

    /// The ONNX shape (batch dropped) of a computed value.
    pub(super) fn value_shape(&self, v: &Value) -> Vec<usize> {
        match v {
            Value::Hw { id, .. } | Value::Relu { id, .. } => self.logical(*id),
            Value::Linear(l) => {
                let mut s = self.logical(l.input);
                let a = if self.built[l.input].channels_last {
                    0
                } else {
                    s.len() - 1
                };
                s[a] = l.n_out;
                s
            }
            Value::Conv(c) => [&[c.n_ch()][..], &c.window.out_dims[..]].concat(),
            Value::Float { shape, .. } => shape.clone(),
            Value::Const(c) => c.shape.clone(),
        }
    }

    /// Makes input `k` of `n` (a computed tensor of rank ≥ 2) stored channels last or not:
    /// built and transposed when it is stored the other way. Later readers see the result.
    pub(super) fn relayout(&mut self, n: &Node, k: usize, want: bool) -> Result<()> {
        let v = self.input(n, k)?.clone();
        if matches!(v, Value::Const(_)) || self.value_shape(&v).len() < 2 {
            return Ok(());
        }
        if self.value_channels_last(&v) == want && !matches!(v, Value::Float { .. }) {
            return Ok(());
        }
        if matches!(v, Value::Float { .. }) && !want {
            return Ok(());
        }
        let (id, exp) = self.input_hw(n, k)?;
        let id = self.in_layout(id, want);
        let name = self.input_name(n, k)?.to_string();
        self.values.insert(name, Value::Hw { id, exp });
        Ok(())
    }

    /// For a constant combined element-wise with the computed input `k` of `n`: when it
    /// varies along the channel axis of a rank ≥ 2 tensor, the input is made channels last
    /// and the constant returned as one value per channel; when it varies along the last
    /// axis only, the input is made channels first. Uniform constants change nothing.
    pub(super) fn align_constant(
        &mut self,
        n: &Node,
        k: usize,
        c: ConstTensor,
    ) -> Result<ConstTensor> {
        let x = self.input(n, k)?.clone();
        let shape = self.value_shape(&x);
        let r = shape.len();
        if r < 2 || c.uniform().is_some() {
            return Ok(c);
        }
        let full = [&[1][..], &shape[..]].concat();
        let varying: Vec<usize> = match c.shape.len() {
            l if l <= r + 1 => (0..l)
                .filter(|&a| c.shape[a] != 1)
                .map(|a| a + r + 1 - l)
                .collect(),
            _ => vec![usize::MAX],
        };
        match varying[..] {
            [1] if c.shape.iter().product::<usize>() == full[1] => {
                self.relayout(n, k, true)?;
                Ok(ConstTensor {
                    shape: vec![full[1]],
                    data: c.data,
                })
            }
            [a] if a == r => {
                self.relayout(n, k, false)?;
                Ok(c)
            }
            _ => Err(self.node_err(
                n,
                format!(
                    "the constant has shape {:?}; for a computed tensor of shape {full:?} \
                     expected a scalar, one value per channel ([{}, 1, …]) or one per element \
                     of the last axis",
                    c.shape, full[1]
                ),
            )),
        }
    }

    /// Built tensor `id · 2^exp` as a tensor of its own (a free diagonal dense of shifts
    /// when `exp ≠ 0`).
    fn at_unit_scale(&mut self, id: TensorId, exp: i32, n: &Node) -> Result<TensorId> {
        if exp == 0 {
            return Ok(id);
        }
        let l = self.diagonal(id, exp, &format!("{}_scale", n.name), &place(n));
        self.dense(&l, None)
    }

    // ---- attributes -------------------------------------------------------------------

    /// A per-spatial-axis integer list attribute (`d` values, each ≥ `min`), or `default`.
    fn axes_attr(&self, n: &Node, name: &str, d: usize, default: usize) -> Result<Vec<usize>> {
        match n.ints(name).map_err(|e| self.node_err(n, e))? {
            None => Ok(vec![default; d]),
            Some(v) if v.len() == d && v.iter().all(|&x| (1..=MAX_WINDOW).contains(&x)) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(self.node_err(
                n,
                format!(
                    "attribute `{name}` is {}; expected {d} positive integers (each at most \
                     {MAX_WINDOW}, one per spatial axis)",
                    show_ints(&v)
                ),
            )),
        }
    }

    /// The sliding window of a `Conv`/`MaxPool`/`AveragePool` from `auto_pad` and `pads`:
    /// no padding, or exactly Keras' `same` padding; anything else is an error.
    fn window(
        &self,
        n: &Node,
        in_dims: &[usize],
        kernel: &[usize],
        strides: &[usize],
        dilation: &[usize],
    ) -> Result<Window> {
        let d = in_dims.len();
        let auto = n
            .string("auto_pad", "NOTSET")
            .map_err(|e| self.node_err(n, e))?;
        let make = |p: Padding| {
            Window::new(in_dims, kernel, strides, dilation, p).map_err(|e| self.node_err(n, e))
        };
        let same = make(Padding::Same)?;
        let totals: Vec<usize> = (0..d)
            .map(|a| {
                let span = (kernel[a] - 1) * dilation[a] + 1;
                ((same.out_dims[a] - 1) * strides[a] + span).saturating_sub(in_dims[a])
            })
            .collect();
        match auto.as_str() {
            "VALID" => return make(Padding::Valid),
            "SAME_UPPER" => return Ok(same),
            "SAME_LOWER" if totals.iter().all(|t| t % 2 == 0) => return Ok(same),
            "SAME_LOWER" => {
                return Err(self.node_err(
                    n,
                    format!(
                        "auto_pad = SAME_LOWER with an odd total padding {totals:?} puts the \
                         extra zero before the data, which rtl4ml's `same` padding (Keras: \
                         after) does not do; use SAME_UPPER or explicit pads"
                    ),
                ))
            }
            "NOTSET" => {}
            other => {
                return Err(self.node_err(
                    n,
                    format!(
                        "auto_pad = `{other}` is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER"
                    ),
                ))
            }
        }
        let pads = match n.ints("pads").map_err(|e| self.node_err(n, e))? {
            None => vec![0usize; 2 * d],
            Some(p) if p.len() == 2 * d && p.iter().all(|&x| x >= 0) => {
                p.iter().map(|&x| x as usize).collect()
            }
            Some(p) => {
                return Err(self.node_err(
                    n,
                    format!(
                        "attribute `pads` is {p:?}; expected {} non-negative integers",
                        2 * d
                    ),
                ))
            }
        };
        if pads.iter().all(|&p| p == 0) {
            return make(Padding::Valid);
        }
        // ONNX: out = ⌊(n + before + after − span)/s⌋ + 1; the taps depend on `before` and
        // the output size only.
        let matches_same = (0..d).all(|a| {
            let span = (kernel[a] - 1) * dilation[a] + 1;
            let padded = in_dims[a] + pads[a] + pads[d + a];
            padded >= span
                && pads[a] == same.pad_before[a]
                && (padded - span) / strides[a] + 1 == same.out_dims[a]
        });
        if matches_same {
            return Ok(same);
        }
        Err(self.node_err(
            n,
            format!(
                "pads {pads:?} (begin…, end…) are neither zero nor Keras' `same` padding for \
                 this input (which would be {:?} before and an output of {:?}); rtl4ml supports \
                 `valid` and `same` padding only: pad the input explicitly or change the padding",
                same.pad_before, same.out_dims
            ),
        ))
    }

    /// Input 0 built and channels last, with its spatial rank `d` (1 or 2).
    fn spatial_input(&mut self, n: &Node, what: &str) -> Result<(TensorId, i32, usize)> {
        let v = self.input(n, 0)?.clone();
        let shape = self.value_shape(&v);
        if !matches!(shape.len(), 2 | 3) {
            return Err(self.node_err(
                n,
                format!(
                    "{what} needs an input [N, C, L] or [N, C, H, W]; found [1, {}] (batch axis \
                     first)",
                    shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let (id, exp) = self.input_hw(n, 0)?;
        let id = self.in_layout(id, true);
        Ok((id, exp, shape.len() - 1))
    }

    // ---- operators --------------------------------------------------------------------

    pub(super) fn conv(&mut self, n: &Node) -> Result<Value> {
        let (id, exp, d) = self.spatial_input(n, "Conv")?;
        let s = self.shape(id).to_vec();
        let (in_dims, c_in) = (s[..d].to_vec(), s[d]);
        let w = self.constant(n, 1, "weights")?;
        if w.shape.len() != d + 2 {
            return Err(self.node_err(
                n,
                format!(
                    "the weights have shape {:?}; expected [M, C/group, {}]",
                    w.shape,
                    if d == 1 { "k" } else { "kh, kw" }
                ),
            ));
        }
        let m = w.shape[0];
        let kernel = w.shape[2..].to_vec();
        if let Some(ks) = n.ints("kernel_shape").map_err(|e| self.node_err(n, e))? {
            if ks.iter().map(|&k| k as usize).collect::<Vec<_>>() != kernel {
                return Err(self.node_err(
                    n,
                    format!(
                        "kernel_shape {ks:?} differs from the weights' shape {:?}",
                        w.shape
                    ),
                ));
            }
        }
        let group = n.int("group", 1).map_err(|e| self.node_err(n, e))?;
        let depthwise = group != 1 && group as usize == c_in;
        if group != 1 && !depthwise {
            return Err(self.node_err(
                n,
                format!(
                    "group = {group} is neither 1 nor the number of input channels ({c_in}); \
                     rtl4ml supports ordinary and depthwise convolutions only: split a grouped \
                     convolution into several"
                ),
            ));
        }
        let per_group = if depthwise { 1 } else { c_in };
        if w.shape[1] != per_group || (depthwise && m % c_in != 0) {
            return Err(self.node_err(
                n,
                format!(
                    "the weights have shape {:?}, which does not fit an input of {c_in} channels \
                     with group = {group}",
                    w.shape
                ),
            ));
        }
        let strides = self.axes_attr(n, "strides", d, 1)?;
        let dilation = self.axes_attr(n, "dilations", d, 1)?;
        let window = self.window(n, &in_dims, &kernel, &strides, &dilation)?;
        let taps: usize = kernel.iter().product();
        let scale = Dyadic::pow2(exp);
        let overflow = || self.node_err(n, "folding the weights exceeds 120 bits");
        // ONNX W[f, c, t] (flat (f·C_g + c)·taps + t) → native [t, c, f] (depthwise [t, c, m]).
        let (c_out, mut weight) = if depthwise {
            (m / c_in, vec![Dyadic::ZERO; taps * m])
        } else {
            (m, vec![Dyadic::ZERO; taps * c_in * m])
        };
        for t in 0..taps {
            for c in 0..c_in {
                for f in 0..c_out {
                    let src = if depthwise {
                        (c * c_out + f) * taps + t
                    } else {
                        (f * c_in + c) * taps + t
                    };
                    weight[(t * c_in + c) * c_out + f] =
                        w.data[src].mul(scale).ok_or_else(overflow)?;
                }
            }
        }
        let bias = match n.inputs.get(2).filter(|b| !b.is_empty()) {
            None => vec![Dyadic::ZERO; m],
            Some(_) => {
                let b = self.constant(n, 2, "bias")?;
                b.per_channel(m).ok_or_else(|| {
                    self.node_err(
                        n,
                        format!("the bias has shape {:?}; expected [{m}]", b.shape),
                    )
                })?
            }
        };
        Ok(Value::Conv(Box::new(PendingConv {
            input: id,
            weight,
            bias,
            window,
            c_in,
            c_out,
            depthwise,
            node: n.name.clone(),
            place: place(n),
        })))
    }

    /// Builds a pending convolution; its result type is `result`, or else the exact type of
    /// every value it can produce.
    pub(super) fn build_conv(
        &mut self,
        c: &PendingConv,
        result: Option<FixedType>,
    ) -> Result<TensorId> {
        let n_ch = c.n_ch();
        let kind_name = match (c.depthwise, c.window.in_dims.len()) {
            (false, 1) => "conv1d",
            (false, _) => "conv2d",
            (true, 1) => "depthwise_conv1d",
            (true, _) => "depthwise_conv2d",
        };
        if let Some(q) = self.ptq_constants(&c.node, kind_name, &c.weight, &c.bias, result)? {
            let mut shape = c.window.out_dims.clone();
            shape.push(n_ch);
            let kind = LayerKind::Conv {
                weight: Constant {
                    ty: q.weight.0,
                    data: q.weight.1,
                },
                bias: Constant {
                    ty: q.bias.0,
                    data: q.bias.1,
                },
                accum: q.accum,
                window: c.window.clone(),
                c_in: c.c_in,
                c_out: c.c_out,
                depthwise: c.depthwise,
            };
            return Ok(self.push(&c.node, kind, c.input, shape, q.result));
        }
        let rows = c.weight.len() / n_ch;
        let (wty, wm) = self.constant_type(&c.weight, vec![rows, n_ch], "weights", &c.place)?;
        let (bty, bm) = self.constant_type(&c.bias, vec![n_ch], "biases", &c.place)?;
        let x = self.built[c.input].tensor.clone();
        // The native weight order viewed as [rows, n_ch] holds each output channel's weights
        // in its column (depthwise too), so the exact range is that of a dense layer.
        let ty = match result {
            Some(t) => t,
            None => super::exact_result(&x.ty, &wty, &wm, &bty, &bm, n_ch).ok_or_else(|| {
                self.err(
                    &c.place,
                    format!(
                        "its exact result needs more than the {MAX_TYPE_WIDTH} bits a \
                         fixed-point type may have; quantize it with a Quant node"
                    ),
                )
            })?,
        };
        let mut shape = c.window.out_dims.clone();
        shape.push(n_ch);
        let kind = LayerKind::Conv {
            weight: Constant {
                ty: wty,
                data: wm.into_iter().map(|m| m as i64).collect(),
            },
            bias: Constant {
                ty: bty,
                data: bm.into_iter().map(|m| m as i64).collect(),
            },
            accum: None,
            window: c.window.clone(),
            c_in: c.c_in,
            c_out: c.c_out,
            depthwise: c.depthwise,
        };
        Ok(self.push(&c.node, kind, c.input, shape, ty))
    }

    pub(super) fn pool(&mut self, n: &Node) -> Result<Value> {
        let avg = n.op_type == "AveragePool";
        if n.outputs.len() > 1 && !n.outputs[1].is_empty() {
            return Err(self.node_err(
                n,
                "the Indices output of MaxPool is not supported (only the pooled values)",
            ));
        }
        let (id, exp, d) = self.spatial_input(n, &n.op_type)?;
        let s = self.shape(id).to_vec();
        let kernel: Vec<usize> = match n.ints("kernel_shape").map_err(|e| self.node_err(n, e))? {
            Some(k) if k.len() == d && k.iter().all(|&v| (1..=MAX_WINDOW).contains(&v)) => {
                k.iter().map(|&v| v as usize).collect()
            }
            k => {
                let found = k.map_or("missing".to_string(), |k| show_ints(&k));
                return Err(self.node_err(
                    n,
                    format!(
                        "attribute `kernel_shape` is {found}; expected {d} positive integers \
                         (each at most {MAX_WINDOW}, one per spatial axis)"
                    ),
                ));
            }
        };
        let strides = self.axes_attr(n, "strides", d, 1)?;
        let dilation = self.axes_attr(n, "dilations", d, 1)?;
        if dilation.iter().any(|&v| v != 1) {
            return Err(self.node_err(
                n,
                format!(
                    "dilations {} are not supported for pooling (only 1)",
                    show_ints(&dilation.iter().map(|&v| v as i64).collect::<Vec<_>>())
                ),
            ));
        }
        for (attr, ok) in [("ceil_mode", 0), ("storage_order", 0)] {
            let v = n.int(attr, ok).map_err(|e| self.node_err(n, e))?;
            if v != ok {
                return Err(self.node_err(n, format!("{attr} = {v} is not supported (only {ok})")));
            }
        }
        let window = self.window(n, &s[..d], &kernel, &strides, &dilation)?;
        let x = self.built[id].tensor.clone();
        let (op, ty) = if avg {
            let count = window.kernel_len();
            if (0..window.positions()).any(|p| window.taps(p).contains(&None)) {
                return Err(self.node_err(
                    n,
                    "average pooling with padding is not supported (border windows would average \
                     fewer elements, or zeros); use pads = 0",
                ));
            }
            if !count.is_power_of_two() {
                return Err(self.node_err(
                    n,
                    format!(
                        "the window has {count} elements; rtl4ml averages exactly over \
                         power-of-two windows only"
                    ),
                ));
            }
            let k = count.trailing_zeros();
            let ty = FixedType::new(x.ty.signed, x.ty.width + k, x.ty.int_bits);
            ty.validate().map_err(|e| self.node_err(n, e))?;
            (PoolOp::Avg, ty)
        } else {
            (PoolOp::Max, x.ty)
        };
        let mut shape = window.out_dims.clone();
        shape.push(s[d]);
        let kind = LayerKind::Pool {
            op,
            window,
            global: false,
        };
        let id = self.push(&n.name, kind, id, shape, ty);
        // max(2^e·x) = 2^e·max(x) and likewise for the average: the scale carries over.
        Ok(Value::Hw { id, exp })
    }

    pub(super) fn global_pool(&mut self, n: &Node) -> Result<Value> {
        let avg = n.op_type == "GlobalAveragePool";
        let (id, exp, d) = self.spatial_input(n, &n.op_type)?;
        let s = self.shape(id).to_vec();
        let count: usize = s[..d].iter().product();
        let window = Window::new(&s[..d], &s[..d], &vec![1; d], &vec![1; d], Padding::Valid)
            .map_err(|e| self.node_err(n, e))?;
        let x = self.built[id].tensor.clone();
        let (op, ty) = if avg {
            if !count.is_power_of_two() {
                return Err(self.node_err(
                    n,
                    format!(
                        "GlobalAveragePool over {count} positions: rtl4ml averages exactly over \
                         power-of-two counts only"
                    ),
                ));
            }
            let k = count.trailing_zeros();
            let ty = FixedType::new(x.ty.signed, x.ty.width + k, x.ty.int_bits);
            ty.validate().map_err(|e| self.node_err(n, e))?;
            (PoolOp::Avg, ty)
        } else {
            (PoolOp::Max, x.ty)
        };
        let kind = LayerKind::Pool {
            op,
            window,
            global: true,
        };
        let c = s[d];
        let pooled = self.push(&n.name, kind, id, vec![c], ty);
        // ONNX keeps the spatial axes as 1s: [C, 1, …] is stored channels last as [1, …, C].
        let mut shape = vec![1; d];
        shape.push(c);
        let r = self.push(
            &format!("{}_keepdims", n.name),
            LayerKind::Reshape,
            pooled,
            shape,
            ty,
        );
        self.built[r].channels_last = true;
        Ok(Value::Hw { id: r, exp })
    }

    /// `Add`, `Sub` or `Mul` of two computed tensors of the same shape: a merge layer with
    /// the exact result type (a `Quant` after it becomes a `quantize` layer).
    pub(super) fn merge(&mut self, n: &Node) -> Result<Value> {
        let op = match n.op_type.as_str() {
            "Add" => MergeOp::Add,
            "Sub" => MergeOp::Subtract,
            "Mul" => MergeOp::Multiply,
            other => {
                return Err(self.node_err(
                    n,
                    format!(
                        "{other} of two computed tensors is not supported (rtl4ml divides by \
                         constant powers of two only)"
                    ),
                ))
            }
        };
        let (sa, sb) = (
            self.value_shape(&self.input(n, 0)?.clone()),
            self.value_shape(&self.input(n, 1)?.clone()),
        );
        if sa != sb {
            return Err(self.node_err(
                n,
                format!(
                    "the inputs have shapes {sa:?} and {sb:?} (batch axis dropped); rtl4ml \
                     combines two computed tensors of equal shapes only (no broadcasting)"
                ),
            ));
        }
        let (a, ea) = self.input_hw(n, 0)?;
        let (b, eb) = self.input_hw(n, 1)?;
        // Channels last when either is (it feeds spatial layers without transposes).
        let cl = self.built[a].channels_last || self.built[b].channels_last;
        let (a, b) = (self.in_layout(a, cl), self.in_layout(b, cl));
        let (a, b, exp) = match op {
            MergeOp::Multiply => (a, b, ea + eb),
            _ if ea == eb => (a, b, ea),
            _ => (
                self.at_unit_scale(a, ea, n)?,
                self.at_unit_scale(b, eb, n)?,
                0,
            ),
        };
        let (ta, tb) = (self.built[a].tensor.ty, self.built[b].tensor.ty);
        let (lo, hi, frac) = match op {
            MergeOp::Multiply => {
                let c = [
                    ta.min_mantissa() * tb.min_mantissa(),
                    ta.min_mantissa() * tb.max_mantissa(),
                    ta.max_mantissa() * tb.min_mantissa(),
                    ta.max_mantissa() * tb.max_mantissa(),
                ];
                (
                    *c.iter().min().unwrap(),
                    *c.iter().max().unwrap(),
                    ta.frac() + tb.frac(),
                )
            }
            _ => {
                let f = ta.frac().max(tb.frac());
                let at = |m: i128, t: &FixedType| m << (f - t.frac());
                let (alo, ahi) = (at(ta.min_mantissa(), &ta), at(ta.max_mantissa(), &ta));
                let (blo, bhi) = (at(tb.min_mantissa(), &tb), at(tb.max_mantissa(), &tb));
                if op == MergeOp::Add {
                    (alo + blo, ahi + bhi, f)
                } else {
                    (alo - bhi, ahi - blo, f)
                }
            }
        };
        let ty = exact_type(lo, hi, frac).ok_or_else(|| {
            self.node_err(
                n,
                format!(
                    "the exact result needs more than {MAX_TYPE_WIDTH} bits; quantize the \
                     inputs to fewer bits"
                ),
            )
        })?;
        let shape = self.shape(a).to_vec();
        let id = self.push(
            &n.name,
            LayerKind::Merge {
                op,
                others: vec![b],
            },
            a,
            shape,
            ty,
        );
        Ok(Value::Hw { id, exp })
    }

    pub(super) fn concat(&mut self, n: &Node) -> Result<Value> {
        let k = n.inputs.len();
        if k == 0 {
            return Err(self.node_err(n, "Concat has no inputs"));
        }
        for i in 0..k {
            if matches!(self.input(n, i)?, Value::Const(_)) {
                return Err(self.node_err(
                    n,
                    format!("input {i} is a constant; rtl4ml concatenates computed tensors only"),
                ));
            }
        }
        let shapes: Vec<Vec<usize>> = (0..k)
            .map(|i| Ok(self.value_shape(&self.input(n, i)?.clone())))
            .collect::<Result<_>>()?;
        let r = shapes[0].len();
        if !n.has_attribute("axis") {
            return Err(self.node_err(
                n,
                format!(
                    "attribute `axis` is missing; Concat needs it (one of the non-batch axes \
                     1..={r} of a rank-{} tensor)",
                    r + 1
                ),
            ));
        }
        let given = n.int("axis", 0).map_err(|e| self.node_err(n, e))?;
        let axis = if given < 0 {
            given.saturating_add(r as i64 + 1)
        } else {
            given
        };
        if !(1..=r as i64).contains(&axis) {
            return Err(self.node_err(
                n,
                format!(
                    "axis {given} is not one of the non-batch axes 1..={r} of a rank-{} tensor",
                    r + 1
                ),
            ));
        }
        let la = axis as usize - 1;
        for (i, s) in shapes.iter().enumerate() {
            let same = s.len() == r && (0..r).all(|a| a == la || s[a] == shapes[0][a]);
            if !same {
                return Err(self.node_err(
                    n,
                    format!(
                        "input {i} has shape {s:?}, input 0 {:?} (batch axis dropped): all axes \
                         but {axis} must be equal",
                        shapes[0]
                    ),
                ));
            }
        }
        let mut ids = vec![];
        for i in 0..k {
            ids.push(self.input_hw(n, i)?);
        }
        let cl = ids.iter().any(|&(id, _)| self.built[id].channels_last);
        let exps_equal = ids.iter().all(|&(_, e)| e == ids[0].1);
        let mut srcs = vec![];
        for &(id, e) in &ids {
            let id = self.in_layout(id, cl);
            srcs.push(if exps_equal {
                id
            } else {
                self.at_unit_scale(id, e, n)?
            });
        }
        let exp = if exps_equal { ids[0].1 } else { 0 };
        let stored_axis = match (cl, la) {
            (false, a) => a,
            (true, 0) => r - 1,
            (true, a) => a - 1,
        };
        let types: Vec<FixedType> = srcs.iter().map(|&id| self.built[id].tensor.ty).collect();
        let ty = if types.iter().all(|t| *t == types[0]) {
            types[0]
        } else {
            let f = types.iter().map(|t| t.frac()).max().unwrap();
            let lo = types
                .iter()
                .map(|t| t.min_mantissa() << (f - t.frac()))
                .min()
                .unwrap();
            let hi = types
                .iter()
                .map(|t| t.max_mantissa() << (f - t.frac()))
                .max()
                .unwrap();
            exact_type(lo, hi, f).ok_or_else(|| {
                self.node_err(n, "the inputs' types together need more than 64 bits")
            })?
        };
        let mut shape = self.shape(srcs[0]).to_vec();
        shape[stored_axis] = srcs.iter().map(|&id| self.shape(id)[stored_axis]).sum();
        let id = self.push(
            &n.name,
            LayerKind::Concatenate {
                others: srcs[1..].to_vec(),
                axis: stored_axis,
            },
            srcs[0],
            shape,
            ty,
        );
        Ok(Value::Hw { id, exp })
    }

    /// ONNX `Slice` (opset ≥ 10: starts, ends, axes and steps as constant inputs) of a
    /// computed tensor, positive steps only.
    pub(super) fn slice(&mut self, n: &Node) -> Result<Value> {
        if matches!(self.input(n, 0)?, Value::Const(_)) {
            return Err(self.node_err(n, "a Slice of a constant: run qonnx cleanup to fold it"));
        }
        let shape = self.value_shape(&self.input(n, 0)?.clone());
        let r = shape.len();
        let ints = |k: usize, what: &str| -> Result<Option<Vec<i128>>> {
            if n.inputs.get(k).is_none_or(|s| s.is_empty()) {
                return Ok(None);
            }
            let c = self.constant(n, k, what)?;
            c.data
                .iter()
                .map(|v| v.to_integer())
                .collect::<Option<Vec<i128>>>()
                .map(Some)
                .ok_or_else(|| self.node_err(n, format!("the {what} must be integers")))
        };
        let starts = ints(1, "starts")?.ok_or_else(|| {
            self.node_err(
                n,
                "input 1 (starts) is missing; rtl4ml reads Slice of opset ≥ 10",
            )
        })?;
        let ends = ints(2, "ends")?.ok_or_else(|| self.node_err(n, "input 2 (ends) is missing"))?;
        let axes = ints(3, "axes")?.unwrap_or_else(|| (1..=starts.len() as i128).collect());
        let steps = ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(self.node_err(n, "starts, ends, axes and steps must have the same length"));
        }
        // Per ONNX axis (batch dropped): begin, end, step.
        let mut begin = vec![0usize; r];
        let mut end = shape.clone();
        let mut step = vec![1usize; r];
        let mut seen = vec![false; r];
        for i in 0..starts.len() {
            let a = if axes[i] < 0 {
                axes[i] + r as i128 + 1
            } else {
                axes[i]
            };
            if !(1..=r as i128).contains(&a) || std::mem::replace(&mut seen[a as usize - 1], true) {
                return Err(self.node_err(
                    n,
                    format!(
                        "axis {} is not a distinct non-batch axis (1..={r}); rtl4ml slices the \
                         batch axis never",
                        axes[i]
                    ),
                ));
            }
            let a = a as usize - 1;
            if steps[i] < 1 {
                return Err(self.node_err(
                    n,
                    format!(
                        "step {} on axis {} is not supported (positive steps only)",
                        steps[i],
                        a + 1
                    ),
                ));
            }
            let dim = shape[a] as i128;
            let clampi = |v: i128| (if v < 0 { v + dim } else { v }).clamp(0, dim) as usize;
            begin[a] = clampi(starts[i]);
            end[a] = clampi(ends[i]);
            step[a] = steps[i] as usize;
            if end[a] <= begin[a] {
                return Err(self.node_err(n, format!("the slice of axis {} is empty", a + 1)));
            }
        }
        let (id, exp) = self.input_hw(n, 0)?;
        let perm: Vec<usize> = if self.built[id].channels_last {
            (1..r).chain([0]).collect()
        } else {
            (0..r).collect()
        };
        let begin: Vec<usize> = perm.iter().map(|&a| begin[a]).collect();
        let end: Vec<usize> = perm.iter().map(|&a| end[a]).collect();
        let step: Vec<usize> = perm.iter().map(|&a| step[a]).collect();
        let out: Vec<usize> = (0..r)
            .map(|a| (end[a] - begin[a]).div_ceil(step[a]))
            .collect();
        let ty = self.built[id].tensor.ty;
        let id = self.push(&n.name, LayerKind::Slice { begin, end, step }, id, out, ty);
        Ok(Value::Hw { id, exp })
    }
}

/// Largest kernel size, stride or dilation read (a dimension's limit, 2^20).
const MAX_WINDOW: i64 = crate::frontend::MAX_DIM as i64;

/// Integers as `[1, 2]`.
fn show_ints(v: &[i64]) -> String {
    let s: Vec<String> = v.iter().map(i64::to_string).collect();
    format!("[{}]", s.join(", "))
}
