//! The layer graph: what a model file says, validated, with every fixed-point type explicit.
//!
//! Invariant: `layers` are in topological order; a layer only reads tensors defined before it.
//! Tensor `i < inputs.len()` is model input `i`; tensor `inputs.len() + k` is layer `k`'s output.

use super::fixed::FixedType;
use ndarray::Array2;

/// A tensor: shape and element type. Row-major (C order) when flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub ty: FixedType,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A constant tensor of integer mantissas with their type.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant<D> {
    pub ty: FixedType,
    pub data: D,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    /// `y_j = result(accum(bias_j) + Σ_i accum(x_i · w_ij))`, hls4ml Latency-strategy semantics.
    Dense {
        /// `[n_in, n_out]` mantissas.
        weight: Constant<Array2<i64>>,
        /// `n_out` mantissas (zeros when the model has no bias).
        bias: Constant<Vec<i64>>,
        /// `None`: exact accumulation.
        accum: Option<FixedType>,
    },
    /// `y = x > 0 ? result(x) : 0`.
    Relu,
    /// `y = result(x)`.
    Quantize,
    /// Element-wise quantizer with a type per element (HGQ2's heterogeneous quantizers):
    /// `y_e = types[e](x_e)`, each a cast with its own modes, held exactly in the layer's
    /// result type (which contains every element type's values; the loader checks this).
    /// `types` has one entry per element, row-major.
    QuantizeEach { types: Vec<FixedType> },
    /// Reshape to one dimension (row-major); the type is unchanged.
    Flatten,
    /// Convolution over the spatial axes of a channels-last tensor: at every output position,
    /// a dense layer over the receptive field (hls4ml Latency semantics per output, terms in
    /// the order (kernel position row-major, input channel); padding adds nothing).
    /// `weight` is `[k_0, …, k_{d−1}, c_in, c_out]` row-major; depthwise:
    /// `[k_0, …, k_{d−1}, c_in, multiplier]`, output channel `c·multiplier + m`.
    Conv {
        weight: Constant<Vec<i64>>,
        /// One per output channel.
        bias: Constant<Vec<i64>>,
        accum: Option<FixedType>,
        window: Window,
        c_in: usize,
        /// Filters (depthwise: the multiplier).
        c_out: usize,
        depthwise: bool,
    },
    /// Pooling over a window of the spatial axes, per channel; `global`: over all of them
    /// (the output drops the spatial axes).
    Pool {
        op: PoolOp,
        window: Window,
        global: bool,
    },
    /// Element-wise merge of equally shaped tensors: the layer's `input` and `others`, in order.
    Merge { op: MergeOp, others: Vec<usize> },
    /// Concatenation of `input` and `others` along `axis`; every element cast to the result.
    Concatenate { others: Vec<usize>, axis: usize },
    /// Same elements in the same (row-major) order, new shape.
    Reshape,
    /// Axes permuted: output axis `i` is input axis `perm[i]`.
    Transpose { perm: Vec<usize> },
    /// Per axis `a`, the elements `begin[a], begin[a] + step[a], …` below `end[a]`
    /// (`0 ≤ begin < end ≤ dim`, `step ≥ 1`); the type is unchanged (pure wiring).
    Slice {
        begin: Vec<usize>,
        end: Vec<usize>,
        step: Vec<usize>,
    },
    /// `y = result(min(max(x, 0), cap))`.
    ReluCap { cap: Constant<i64> },
    /// `y = result(x > 0 ? x : alpha · x)`.
    LeakyRelu { alpha: Constant<i64> },
    /// `s = clamp(slope · x + shift, 0, 1)`; `y = result(s)`, or `result(2s − 1)` when `tanh`.
    HardSigmoid {
        slope: Constant<i64>,
        shift: Constant<i64>,
        tanh: bool,
    },
    /// Index of the first maximum along the last axis, cast to the result type.
    Argmax,
    /// Per channel (last axis) `c`: `y = result(x · scale_c + bias_c)`, exact.
    BatchNorm {
        scale: Constant<Vec<i64>>,
        bias: Constant<Vec<i64>>,
    },
    /// Element-wise lookup table: `y = result(table[index(x)])`.
    Table {
        function: TableFn,
        index: TableIndex,
        /// Entries in the table type (explicit in the model, or computed by the loader).
        table: Constant<Vec<i64>>,
    },
    /// hls4ml's Latency softmax along the last axis: `e_i = exp_table[top bits of x_i]`,
    /// `s = Σ e_i` (hls4ml's adder tree, each sum cast to the exp table type),
    /// `y_i = result(e_i · inv_table[top bits of s])`.
    Softmax {
        exp_table: Constant<Vec<i64>>,
        inv_table: Constant<Vec<i64>>,
    },
}

/// Can `container` hold every value that a cast to `t` produces, exactly? (A type whose only
/// value is 0, such as `ufixed<1,0,TRN,SAT_NARROW>`, fits any container.)
pub fn holds_exactly(container: &FixedType, t: &FixedType) -> bool {
    let (lo, hi) = (t.min_mantissa(), t.max_mantissa());
    if lo == 0 && hi == 0 {
        return true;
    }
    let shift = container.frac() - t.frac();
    if !(0..=126).contains(&shift) {
        return false;
    }
    [lo, hi].iter().all(|&m| {
        m.checked_shl(shift as u32)
            .filter(|v| v >> shift == m)
            .is_some_and(|v| container.contains(v))
    })
}

/// Zero padding of a sliding window (Keras/TensorFlow conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolOp {
    Max,
    /// Exact sum divided by the (power-of-two) window size.
    Avg,
    /// `R(Σ window · recip(n))`, `n` the window's elements inside the input (padding
    /// excluded) and `recip(n) = ⌊2^F/n + 1/2⌋ · 2^−F` in the given type (`F` its fractional
    /// bits): any window size and padding, exact and bit-reproducible.
    AvgRecip(FixedType),
    /// Exact sum.
    Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOp {
    Add,
    Subtract,
    Multiply,
}

/// The function a lookup table samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFn {
    Sigmoid,
    Tanh,
    Exp,
    /// `1/x` (the softmax's inverse table); `1/0` is the table type's largest value.
    Inv,
}

impl TableFn {
    /// The function in f64 (the documented definition of computed tables).
    pub fn eval(self, v: f64) -> f64 {
        match self {
            TableFn::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            TableFn::Tanh => v.tanh(),
            TableFn::Exp => v.exp(),
            TableFn::Inv => 1.0 / v,
        }
    }
}

/// How an input value selects a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableIndex {
    /// hls4ml's sigmoid/tanh: `N = 2^size_log2` entries over inputs `[−R/2, R/2)`,
    /// `R = 2^range_log2`; `i = clamp(trunc_toward_zero(x·N/R) + N/2, 0, N−1)`; entry `i`
    /// samples the input `R·(i − N/2)/N`.
    Range { size_log2: u32, range_log2: i32 },
    /// hls4ml's softmax tables: `i` = the top `bits` bits of the input's two's complement
    /// mantissa (read as unsigned); entry `i` samples the input whose top bits are `i` and
    /// whose other bits are zero.
    TopBits { bits: u32 },
}

impl TableIndex {
    pub fn size(&self) -> usize {
        match *self {
            TableIndex::Range { size_log2, .. } => 1 << size_log2,
            TableIndex::TopBits { bits } => 1 << bits,
        }
    }

    /// The entry an input mantissa `m` of type `ty` selects.
    pub fn index(&self, m: i128, ty: &FixedType) -> usize {
        match *self {
            TableIndex::Range {
                size_log2,
                range_log2,
            } => {
                // x · N / R = m · 2^(size_log2 − range_log2 − frac), truncated toward zero.
                let t = super::fixed::FixedType::new(true, 64, 64)
                    .with_modes(super::fixed::Round::TrnZero, super::fixed::Overflow::Sat)
                    .cast(m, ty.frac() - size_log2 as i32 + range_log2);
                let n = 1i128 << size_log2;
                (t + n / 2).clamp(0, n - 1) as usize
            }
            TableIndex::TopBits { bits } => {
                let u = super::fixed::wrap(m, ty.width, false);
                (u >> (ty.width - bits)) as usize
            }
        }
    }

    /// The input value entry `i` samples.
    pub fn sample(&self, i: usize, ty: &FixedType) -> f64 {
        match *self {
            TableIndex::Range {
                size_log2,
                range_log2,
            } => {
                let n = 1i64 << size_log2;
                super::fixed::mantissa_to_f64(
                    (i as i64 - n / 2) as i128,
                    size_log2 as i32 - range_log2,
                )
            }
            TableIndex::TopBits { bits } => {
                let m = super::fixed::wrap((i as i128) << (ty.width - bits), ty.width, ty.signed);
                ty.to_f64(m)
            }
        }
    }
}

/// A sliding window over the spatial axes of a channels-last tensor `[d_0, …, d_{k−1}, C]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub in_dims: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilation: Vec<usize>,
    pub padding: Padding,
    /// Zeros before the first element, per axis.
    pub pad_before: Vec<usize>,
    pub out_dims: Vec<usize>,
}

impl Window {
    /// Output sizes and padding as Keras/TensorFlow define them. `valid`:
    /// `out = ⌊(in − (k−1)·d − 1)/s⌋ + 1`; `same`: `out = ⌈in/s⌉`, `(out−1)·s + (k−1)·d + 1 − in`
    /// zeros in total, the smaller half before.
    pub fn new(
        in_dims: &[usize],
        kernel: &[usize],
        strides: &[usize],
        dilation: &[usize],
        padding: Padding,
    ) -> Result<Window, String> {
        let mut pad_before = Vec::new();
        let mut out_dims = Vec::new();
        for a in 0..in_dims.len() {
            let (n, k, s, d) = (in_dims[a], kernel[a], strides[a], dilation[a]);
            let span = (k - 1) * d + 1;
            let (out, pad) = match padding {
                Padding::Valid => {
                    if span > n {
                        return Err(format!(
                            "the window spans {span} elements on axis {a} but the input has only {n} (valid padding)"
                        ));
                    }
                    ((n - span) / s + 1, 0)
                }
                Padding::Same => {
                    let out = n.div_ceil(s);
                    let total = ((out - 1) * s + span).saturating_sub(n);
                    (out, total / 2)
                }
            };
            out_dims.push(out);
            pad_before.push(pad);
        }
        Ok(Window {
            in_dims: in_dims.to_vec(),
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            dilation: dilation.to_vec(),
            padding,
            pad_before,
            out_dims,
        })
    }

    pub fn positions(&self) -> usize {
        self.out_dims.iter().product()
    }

    pub fn kernel_len(&self) -> usize {
        self.kernel.iter().product()
    }

    /// For output position `p` (row-major over `out_dims`): the input position (row-major over
    /// `in_dims`) under each kernel tap (row-major over `kernel`), or `None` in the padding.
    pub fn taps(&self, p: usize) -> Vec<Option<usize>> {
        let d = self.in_dims.len();
        let mut out_idx = vec![0usize; d];
        let mut r = p;
        for a in (0..d).rev() {
            out_idx[a] = r % self.out_dims[a];
            r /= self.out_dims[a];
        }
        let mut taps = Vec::with_capacity(self.kernel_len());
        for t in 0..self.kernel_len() {
            let mut k_idx = vec![0usize; d];
            let mut r = t;
            for a in (0..d).rev() {
                k_idx[a] = r % self.kernel[a];
                r /= self.kernel[a];
            }
            let mut pos = Some(0usize);
            for a in 0..d {
                let i = (out_idx[a] * self.strides[a] + k_idx[a] * self.dilation[a]) as isize
                    - self.pad_before[a] as isize;
                pos = match pos {
                    Some(q) if i >= 0 && (i as usize) < self.in_dims[a] => {
                        Some(q * self.in_dims[a] + i as usize)
                    }
                    _ => None,
                };
            }
            taps.push(pos);
        }
        taps
    }
}

/// The mantissa of `recip(n) = ⌊2^F/n + 1/2⌋` for [`PoolOp::AvgRecip`] with `F = ty.frac()`
/// (`None` when it does not fit the type or is zero).
pub fn recip_mantissa(n: usize, ty: &FixedType) -> Option<i128> {
    let f = ty.frac();
    if !(0..=100).contains(&f) || n == 0 {
        return None;
    }
    let n = n as i128;
    let r = ((1i128 << (f + 1)) + n) / (2 * n);
    (r > 0 && r <= ty.max_mantissa()).then_some(r)
}

/// For a [`LayerKind::Slice`] of a tensor of shape `shape`: the input element (row-major)
/// behind each output element, in output order.
pub fn slice_sources(
    shape: &[usize],
    begin: &[usize],
    end: &[usize],
    step: &[usize],
) -> Vec<usize> {
    let r = shape.len();
    let out: Vec<usize> = (0..r)
        .map(|a| (end[a] - begin[a]).div_ceil(step[a]))
        .collect();
    let n: usize = out.iter().product();
    (0..n)
        .map(|mut e| {
            let (mut src, mut stride) = (0, 1);
            for a in (0..r).rev() {
                let i = e % out[a];
                e /= out[a];
                src += (begin[a] + i * step[a]) * stride;
                stride *= shape[a];
            }
            src
        })
        .collect()
}

/// Every layer kind's name in the native format, in documentation order: the one list the
/// loader's error message, the docs and the tests take. `LayerKind::name` returns one of
/// these for every value (a unit test checks each variant), and the loader accepts each of
/// them (`frontend::native` tests).
pub const KIND_NAMES: &[&str] = &[
    "dense",
    "relu",
    "quantize",
    "flatten",
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "global_max_pool",
    "global_avg_pool",
    "global_sum_pool",
    "add",
    "subtract",
    "multiply",
    "concatenate",
    "reshape",
    "transpose",
    "slice",
    "einsum_dense",
    "leaky_relu",
    "hard_sigmoid",
    "hard_tanh",
    "argmax",
    "batchnorm",
    "sigmoid",
    "tanh",
    "exp",
    "softmax",
];

/// [`KIND_NAMES`] as a sentence: `a, b, … or z`.
pub fn kind_names_sentence() -> String {
    let (last, rest) = KIND_NAMES.split_last().expect("kinds");
    format!("{} or {last}", rest.join(", "))
}

impl LayerKind {
    /// The kind's name in the native format (one of [`KIND_NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Dense { .. } => "dense",
            LayerKind::Relu => "relu",
            LayerKind::Quantize | LayerKind::QuantizeEach { .. } => "quantize",
            LayerKind::Flatten => "flatten",
            LayerKind::Conv {
                depthwise: false,
                window,
                ..
            } if window.in_dims.len() == 1 => "conv1d",
            LayerKind::Conv {
                depthwise: false, ..
            } => "conv2d",
            LayerKind::Conv { window, .. } if window.in_dims.len() == 1 => "depthwise_conv1d",
            LayerKind::Conv { .. } => "depthwise_conv2d",
            LayerKind::Pool {
                op, global: true, ..
            } => match op {
                PoolOp::Max => "global_max_pool",
                PoolOp::Avg | PoolOp::AvgRecip(_) => "global_avg_pool",
                PoolOp::Sum => "global_sum_pool",
            },
            LayerKind::Pool { op, window, .. } => match (op, window.in_dims.len()) {
                (PoolOp::Max, 1) => "max_pool1d",
                (PoolOp::Max, _) => "max_pool2d",
                (PoolOp::Avg | PoolOp::AvgRecip(_), 1) => "avg_pool1d",
                (PoolOp::Avg | PoolOp::AvgRecip(_), _) => "avg_pool2d",
                (PoolOp::Sum, 1) => "sum_pool1d",
                (PoolOp::Sum, _) => "sum_pool2d",
            },
            LayerKind::Merge { op, .. } => match op {
                MergeOp::Add => "add",
                MergeOp::Subtract => "subtract",
                MergeOp::Multiply => "multiply",
            },
            LayerKind::Concatenate { .. } => "concatenate",
            LayerKind::Reshape => "reshape",
            LayerKind::Transpose { .. } => "transpose",
            LayerKind::Slice { .. } => "slice",
            LayerKind::ReluCap { .. } => "relu",
            LayerKind::LeakyRelu { .. } => "leaky_relu",
            LayerKind::HardSigmoid { tanh: false, .. } => "hard_sigmoid",
            LayerKind::HardSigmoid { .. } => "hard_tanh",
            LayerKind::Argmax => "argmax",
            LayerKind::BatchNorm { .. } => "batchnorm",
            LayerKind::Table { function, .. } => match function {
                TableFn::Sigmoid => "sigmoid",
                TableFn::Tanh => "tanh",
                TableFn::Exp | TableFn::Inv => "exp",
            },
            LayerKind::Softmax { .. } => "softmax",
        }
    }

    /// Tensors read besides the layer's `input` (merges and concatenation).
    pub fn others(&self) -> &[usize] {
        match self {
            LayerKind::Merge { others, .. } | LayerKind::Concatenate { others, .. } => others,
            LayerKind::Dense { .. }
            | LayerKind::Relu
            | LayerKind::Quantize
            | LayerKind::QuantizeEach { .. }
            | LayerKind::Flatten
            | LayerKind::Conv { .. }
            | LayerKind::Pool { .. }
            | LayerKind::Reshape
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
            | LayerKind::ReluCap { .. }
            | LayerKind::LeakyRelu { .. }
            | LayerKind::HardSigmoid { .. }
            | LayerKind::Argmax
            | LayerKind::BatchNorm { .. }
            | LayerKind::Table { .. }
            | LayerKind::Softmax { .. } => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    /// Tensor index read by this layer.
    pub input: usize,
    /// The output tensor (its name is the layer's name).
    pub output: Tensor,
}

impl Layer {
    /// Every tensor the layer reads, `input` first.
    pub fn sources(&self) -> Vec<usize> {
        let mut v = vec![self.input];
        v.extend_from_slice(self.kind.others());
        v
    }
    /// Does the layer read tensor `t`?
    pub fn reads(&self, t: usize) -> bool {
        self.input == t || self.kind.others().contains(&t)
    }
    /// Applies `f` to every tensor index the layer reads.
    pub fn map_sources(&mut self, f: impl Fn(usize) -> usize) {
        self.input = f(self.input);
        if let LayerKind::Merge { others, .. } | LayerKind::Concatenate { others, .. } =
            &mut self.kind
        {
            for o in others {
                *o = f(*o);
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerGraph {
    pub name: String,
    pub inputs: Vec<Tensor>,
    pub layers: Vec<Layer>,
    /// Tensor indices of the outputs, in bus order.
    pub outputs: Vec<usize>,
}

impl LayerGraph {
    /// The tensor with index `t` (inputs first, then layer outputs).
    pub fn tensor(&self, t: usize) -> &Tensor {
        if t < self.inputs.len() {
            &self.inputs[t]
        } else {
            &self.layers[t - self.inputs.len()].output
        }
    }
    pub fn output_tensors(&self) -> impl Iterator<Item = &Tensor> {
        self.outputs.iter().map(|&t| self.tensor(t))
    }
    /// Number of scalar input elements (the flat input bus).
    pub fn input_len(&self) -> usize {
        self.inputs.iter().map(Tensor::len).sum()
    }
    pub fn output_len(&self) -> usize {
        self.output_tensors().map(Tensor::len).sum()
    }
    /// Types of the flat input elements, in bus order.
    pub fn input_types(&self) -> Vec<FixedType> {
        self.inputs
            .iter()
            .flat_map(|t| std::iter::repeat_n(t.ty, t.len()))
            .collect()
    }
    /// Types of the flat output elements, in bus order.
    pub fn output_types(&self) -> Vec<FixedType> {
        self.output_tensors()
            .flat_map(|t| std::iter::repeat_n(t.ty, t.len()))
            .collect()
    }
}

impl LayerGraph {
    /// Checks the structural invariants every stage relies on; returns the first violation,
    /// naming the layer. Frontends check their input field by field with better messages;
    /// this is the net under them and under the optimizer's edits (run by both, and by the
    /// pass pipeline before lowering).
    ///
    /// - at least one input and one output; every tensor has at least one element;
    /// - layers in topological order: a layer reads only tensors defined before it;
    /// - a layer's output tensor carries its name; names are unique;
    /// - outputs name existing tensors;
    /// - per kind: the shapes its semantics need (dense weight rows = the input's last axis,
    ///   columns = the output's; element-wise layers keep the shape; per-element types one per
    ///   element; reshapes keep the element count; transposes permute the axes; per-channel
    ///   constants one per channel).
    pub fn validate(&self) -> Result<(), String> {
        if self.inputs.is_empty() {
            return Err("the model has no input".into());
        }
        if self.outputs.is_empty() {
            return Err("the model has no output".into());
        }
        let n_in = self.inputs.len();
        let total = n_in + self.layers.len();
        let mut names = std::collections::HashSet::new();
        for t in &self.inputs {
            if t.is_empty() {
                return Err(format!("input `{}` has no elements", t.name));
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("two tensors are named `{}`", t.name));
            }
        }
        for (k, l) in self.layers.iter().enumerate() {
            let at = |m: String| format!("layer `{}`: {m}", l.name);
            if l.output.name != l.name {
                return Err(at(format!("its output is named `{}`", l.output.name)));
            }
            if !names.insert(l.name.as_str()) {
                return Err(format!("two tensors are named `{}`", l.name));
            }
            if l.output.is_empty() {
                return Err(at("its output has no elements".into()));
            }
            for s in l.sources() {
                if s >= n_in + k {
                    return Err(at(format!(
                        "reads tensor {s}, which is not defined before it"
                    )));
                }
            }
            if !KIND_NAMES.contains(&l.kind.name()) {
                return Err(at(format!(
                    "its kind `{}` is not a layer kind of the format (a sum pool is global only)",
                    l.kind.name()
                )));
            }
            let x = self.tensor(l.input);
            let (xs, ys) = (&x.shape, &l.output.shape);
            let same = || {
                if xs == ys {
                    Ok(())
                } else {
                    Err(at(format!("element-wise, but maps shape {xs:?} to {ys:?}")))
                }
            };
            let channels = |what: &str, n: usize| {
                let c = *ys.last().unwrap_or(&0);
                if n == c {
                    Ok(())
                } else {
                    Err(at(format!("{n} {what} for {c} channels")))
                }
            };
            match &l.kind {
                LayerKind::Dense { weight, bias, .. } => {
                    let (r, c) = weight.data.dim();
                    if xs.last() != Some(&r)
                        || ys.last() != Some(&c)
                        || xs[..xs.len() - 1] != ys[..ys.len() - 1]
                    {
                        return Err(at(format!(
                            "a [{r}, {c}] weight maps shape {xs:?} to {ys:?}"
                        )));
                    }
                    if bias.data.len() != c {
                        return Err(at(format!("{} biases for {c} outputs", bias.data.len())));
                    }
                }
                LayerKind::QuantizeEach { types } => {
                    same()?;
                    if types.len() != l.output.len() {
                        return Err(at(format!(
                            "{} element types for {} elements",
                            types.len(),
                            l.output.len()
                        )));
                    }
                }
                LayerKind::Relu
                | LayerKind::Quantize
                | LayerKind::ReluCap { .. }
                | LayerKind::LeakyRelu { .. }
                | LayerKind::HardSigmoid { .. }
                | LayerKind::Table { .. }
                | LayerKind::Softmax { .. } => same()?,
                LayerKind::Merge { others, .. } => {
                    same()?;
                    for &o in others {
                        if &self.tensor(o).shape != xs {
                            return Err(at(format!(
                                "merges shape {xs:?} with {:?}",
                                self.tensor(o).shape
                            )));
                        }
                    }
                }
                LayerKind::BatchNorm { scale, bias } => {
                    same()?;
                    channels("scales", scale.data.len())?;
                    channels("biases", bias.data.len())?;
                }
                LayerKind::Flatten | LayerKind::Reshape => {
                    if x.len() != l.output.len() {
                        return Err(at(format!(
                            "reshapes {} elements into {}",
                            x.len(),
                            l.output.len()
                        )));
                    }
                }
                LayerKind::Transpose { perm } => {
                    let mut sorted = perm.clone();
                    sorted.sort_unstable();
                    let permuted: Vec<usize> =
                        perm.iter().filter_map(|&a| xs.get(a).copied()).collect();
                    if sorted != (0..xs.len()).collect::<Vec<_>>() || &permuted != ys {
                        return Err(at(format!(
                            "permutation {perm:?} maps shape {xs:?} to {ys:?}"
                        )));
                    }
                }
                LayerKind::Conv {
                    bias,
                    c_out,
                    c_in,
                    depthwise,
                    ..
                } => {
                    let out_c = if *depthwise { c_in * c_out } else { *c_out };
                    channels("biases", bias.data.len())?;
                    if ys.last() != Some(&out_c) || xs.last() != Some(c_in) {
                        return Err(at(format!(
                            "{c_in} → {out_c} channels, but maps shape {xs:?} to {ys:?}"
                        )));
                    }
                }
                LayerKind::Concatenate { others, axis } => {
                    let want: usize = std::iter::once(l.input)
                        .chain(others.iter().copied())
                        .map(|t| self.tensor(t).len())
                        .sum();
                    if *axis >= ys.len() || want != l.output.len() {
                        return Err(at(format!(
                            "concatenates {want} elements along axis {axis} into shape {ys:?}"
                        )));
                    }
                }
                LayerKind::Pool { .. } | LayerKind::Slice { .. } | LayerKind::Argmax => {}
            }
        }
        for &t in &self.outputs {
            if t >= total {
                return Err(format!("output tensor {t} does not exist"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    fn wrap_accum() -> LayerGraph {
        let text = include_str!("../../models/wrap_accum.json");
        crate::frontend::native::parse(text, "wrap_accum.json").unwrap()
    }

    #[test]
    fn bundled_models_are_consistent_and_edits_that_break_them_are_named() {
        let g = wrap_accum();
        g.validate().unwrap();
        // A layer reading a tensor defined after it.
        let mut bad = g.clone();
        bad.layers[0].input = 3;
        let e = bad.validate().unwrap_err();
        assert!(
            e.contains("layer `flatten`") && e.contains("not defined before it"),
            "{e}"
        );
        // A dense layer whose weight no longer fits its input.
        let mut bad = g.clone();
        let k = bad.layers.iter().position(|l| l.name == "module").unwrap();
        if let LayerKind::Dense { bias, .. } = &mut bad.layers[k].kind {
            bias.data.pop();
        }
        let e = bad.validate().unwrap_err();
        assert!(
            e.contains("layer `module`") && e.contains("biases for 3 outputs"),
            "{e}"
        );
        // A duplicated name; an output that does not exist.
        let mut bad = g.clone();
        bad.layers[1].name = "flatten".into();
        bad.layers[1].output.name = "flatten".into();
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("two tensors are named `flatten`"));
        let mut bad = g;
        bad.outputs.push(99);
        assert!(bad.validate().unwrap_err().contains("output tensor 99"));
    }
}
