//! QONNX models (`.onnx`) → the layer graph. The mapping, its exactness argument and the
//! supported operators are documented in docs/qonnx.md.
//!
//! The nodes are walked in file order (ONNX requires a topological order) and every tensor
//! becomes one of the [`Value`]s below. Constants are folded exactly (weight quantizers,
//! transposes, powers of two); quantizers on computed tensors become fixed-point types;
//! `MatMul`/`Gemm` and the constant `Add`/`Sub`/`Mul`/`Div`/`BatchNormalization` after them
//! accumulate into one pending affine map, which becomes a `dense` layer when something
//! needs its result. A quantizer reading a pending map or ReLU is fused into it (the layer's
//! result type is the quantizer's type), which is exactly the same computation: the dense
//! accumulator is exact, and `Quant(max(x, 0)) = max(x, 0) > 0 ? Quant(x) : 0`.

mod exact;
mod graph;
mod quant;
mod spatial;

use super::precision::{self, Precision};
use crate::error::{Error, Result};
use crate::ir::fixed::{round_shift, FixedType, Overflow, Round, MAX_TYPE_WIDTH};
use crate::ir::interval::Interval;
use crate::ir::layers::{Constant, Layer, LayerGraph, LayerKind, Tensor};
use exact::{ConstTensor, Dyadic};
use graph::{Graph, Node};
use ndarray::Array2;
use quant::IntGrid;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// Custom-op domains whose `Quant`, `IntQuant`, `BipolarQuant` and `Trunc` are read.
pub const DOMAINS: [&str; 3] = [
    "qonnx.custom_op.general",
    "finn.custom_op.general",
    "onnx.brevitas",
];

/// Widest fixed-point type a constant tensor (weights, biases) may need on its one
/// power-of-two grid. Quantized constants need a few bits (a few more with per-channel
/// scales); a float32 tensor that no quantizer touched has 24-bit significands and needs
/// more, and is reported as unquantized.
pub const MAX_CONSTANT_BITS: u32 = 24;

const SUPPORTED: &str = "Quant, IntQuant, BipolarQuant, Trunc, MatMul, Gemm, Add, Sub, Mul, Div, \
                         BatchNormalization, Relu, Flatten, Reshape, Transpose, Identity, Constant, \
                         Conv, MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool, Concat, Slice, \
                         Softmax (with a precision), channels-last Conv/MaxPool/BatchNormalization";

/// The custom-op domain of `qonnx`'s channels-last wrappers (`ConvertToChannelsLastAndClean`).
pub const CHANNELS_LAST_DOMAIN: &str = "qonnx.custom_op.channels_last";

/// The hint appended to the errors a float (unquantized) model meets.
const PTQ_HINT: &str = "or, for a float model, give a precision for post-training quantization \
                        (--precision 'fixed<16,6>' or --precision-file; docs/ptq.md)";

/// Reads a QONNX model file.
pub fn load(path: &Path) -> Result<LayerGraph> {
    let bytes = crate::input::read(path, crate::input::MAX_MODEL_BYTES, "model file")?;
    parse(&bytes, &path.display().to_string())
}

/// Converts a serialized QONNX model; `file` is used in error messages.
pub fn parse(bytes: &[u8], file: &str) -> Result<LayerGraph> {
    parse_with(bytes, file, None)
}

/// Converts a serialized ONNX model; with a precision, tensors the model leaves unquantized
/// (float inputs, weights, results) take the precision's types (docs/ptq.md).
pub fn parse_with(bytes: &[u8], file: &str, ptq: Option<&Precision>) -> Result<LayerGraph> {
    let g = graph::decode(bytes).map_err(|e| Error::model(file, e.place, e.message))?;
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    Converter::new(file, &g, ptq)?.run(&g, &stem)
}

/// Does a file start like a serialized ONNX model? Its first field is `ir_version` (field
/// 1, a varint: byte 0x08); a JSON model starts with `{` or white space.
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x08)
}

/// Index into [`Converter::built`].
type TensorId = usize;

/// What an ONNX tensor is, as far as the conversion has got.
#[derive(Clone)]
enum Value {
    /// An exact constant (initializer, `Constant` node, or folded).
    Const(ConstTensor),
    /// A graph input no quantizer has read yet (possibly reshaped); `shape` has no batch axis.
    Float { input: usize, shape: Vec<usize> },
    /// A built tensor times `2^exp` (a power-of-two `Mul`/`Div` folded into the type).
    Hw { id: TensorId, exp: i32 },
    /// An affine map of a built tensor, not built yet.
    Linear(Linear),
    /// `max(x, 0) · 2^exp` of a built tensor, not built yet.
    Relu {
        id: TensorId,
        exp: i32,
        node: String,
    },
    /// A convolution of a built tensor, not built yet (a `Quant` after it gives its type).
    Conv(Box<spatial::PendingConv>),
}

/// `y[…, j] = Σ_i x[…, i] · weight[i·n_out + j] + bias[j]` on the last axis of tensor `input`;
/// when `diagonal`, `weight` holds only the diagonal (`y[…, j] = x[…, j] · weight[j] +
/// bias[j]`), so element-wise maps stay linear in the channels (no dense n × n matrix).
#[derive(Clone)]
struct Linear {
    input: TensorId,
    n_in: usize,
    n_out: usize,
    weight: Vec<Dyadic>,
    diagonal: bool,
    bias: Vec<Dyadic>,
    /// The node it starts at: names the layer and errors.
    node: String,
    place: String,
}

/// Diagonal maps on more channels than this are built as `batchnorm` layers (the same
/// hardware, one constant multiplication per element) rather than as dense n × n matrices.
const MAX_DIAGONAL_DENSE: usize = 256;

impl Linear {
    fn is_diagonal(&self) -> bool {
        self.diagonal
            || (self.n_in == self.n_out
                && self
                    .weight
                    .iter()
                    .enumerate()
                    .all(|(k, w)| w.is_zero() || k / self.n_out == k % self.n_out))
    }

    /// Diagonal entry `i` (of a diagonal map, in either form).
    fn diag_entry(&self, i: usize) -> Dyadic {
        if self.diagonal {
            self.weight[i]
        } else {
            self.weight[i * self.n_out + i]
        }
    }
}

/// A tensor of the layer graph under construction: inputs and layers in creation order,
/// numbered inputs-first when the graph is assembled.
struct Built {
    tensor: Tensor,
    source: Source,
    /// The ONNX tensor `[C, d_0, …]` (batch dropped) is stored channels last, `[d_0, …, C]`.
    /// Only tensors of rank ≥ 2 are ever stored channels last.
    channels_last: bool,
}

enum Source {
    /// ONNX graph input `k`.
    Input(usize),
    Layer {
        kind: Box<LayerKind>,
        input: TensorId,
    },
}

struct Converter<'g> {
    file: &'g str,
    built: Vec<Built>,
    values: HashMap<String, Value>,
    /// How many node inputs and graph outputs read each tensor.
    uses: HashMap<&'g str, usize>,
    /// Names taken by inputs and layers.
    names: HashSet<String>,
    /// The ONNX graph inputs' names.
    input_names: Vec<String>,
    /// Transposes made between the two layouts: (tensor, channels last?) → the transpose.
    relayouts: HashMap<(TensorId, bool), TensorId>,
    /// Post-training quantization: the types of what the model leaves unquantized.
    ptq: Option<&'g Precision>,
    /// Layers that took a type from the precision (to check the spec's names).
    ptq_layers: BTreeSet<String>,
}

fn place(n: &Node) -> String {
    format!("node `{}` ({})", n.name, n.op_type)
}

impl<'g> Converter<'g> {
    fn new(file: &'g str, g: &'g Graph, ptq: Option<&'g Precision>) -> Result<Self> {
        let mut c = Converter {
            file,
            built: vec![],
            values: HashMap::new(),
            uses: HashMap::new(),
            names: HashSet::new(),
            input_names: g.inputs.iter().map(|i| i.name.clone()).collect(),
            relayouts: HashMap::new(),
            ptq,
            ptq_layers: BTreeSet::new(),
        };
        for (name, t) in &g.constants {
            c.values.insert(name.clone(), Value::Const(t.clone()));
        }
        for (k, input) in g.inputs.iter().enumerate() {
            let place = format!("graph input `{}`", input.name);
            // The first axis is the batch when there are several.
            let dims = if input.dims.len() >= 2 {
                &input.dims[1..]
            } else {
                &input.dims[..]
            };
            let shape = dims
                .iter()
                .map(|d| d.map(|d| d as usize))
                .collect::<Option<Vec<_>>>()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    c.err(
                        &place,
                        format!(
                            "its shape {} is not fully known; give the input a fixed shape \
                             (qonnx cleanup --override-inpsize, or export with a fixed input size)",
                            show_dims(&input.dims)
                        ),
                    )
                })?;
            // The native loader's limits: the layers built from this input allocate per element.
            let elements = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= crate::frontend::MAX_ELEMENTS);
            if shape.iter().any(|&d| d > crate::frontend::MAX_DIM) || elements.is_none() {
                return Err(c.err(
                    &place,
                    format!(
                        "its shape {} (batch axis dropped) is too large: each dimension may be \
                         at most {} (2^20) and the tensor at most {} elements (2^22)",
                        show_dims(&input.dims[input.dims.len() - shape.len()..]),
                        crate::frontend::MAX_DIM,
                        crate::frontend::MAX_ELEMENTS
                    ),
                ));
            }
            c.values
                .insert(input.name.clone(), Value::Float { input: k, shape });
            c.names.insert(input.name.clone());
        }
        for n in &g.nodes {
            for i in n.inputs.iter().filter(|i| !i.is_empty()) {
                *c.uses.entry(i.as_str()).or_default() += 1;
            }
        }
        for o in &g.outputs {
            *c.uses.entry(o.as_str()).or_default() += 1;
        }
        Ok(c)
    }

    fn err(&self, place: &str, msg: impl Into<String>) -> Error {
        Error::model(self.file, place, msg)
    }

    fn node_err(&self, n: &Node, msg: impl Into<String>) -> Error {
        self.err(&place(n), msg)
    }

    fn run(mut self, g: &Graph, stem: &str) -> Result<LayerGraph> {
        for n in &g.nodes {
            let Some(out) = n.outputs.first().filter(|o| !o.is_empty()) else {
                return Err(self.node_err(n, "the node has no output"));
            };
            let v = self.node(n)?;
            self.values.insert(out.clone(), v);
        }
        let mut outputs = vec![];
        for o in &g.outputs {
            let place = format!("graph output `{o}`");
            if !self.values.contains_key(o) {
                return Err(self.err(&place, "no node computes it"));
            }
            let (id, exp) = self.build(o, &place)?;
            let id = match (self.in_layout(id, false), exp) {
                (id, 0) => id,
                (id, exp) => {
                    // Undo the folded power of two: a diagonal dense of shifts (free).
                    let l = self.diagonal(id, exp, o, &place);
                    self.dense(&l, None)?
                }
            };
            outputs.push(id);
        }
        if let Some(p) = self.ptq {
            let inputs = self.input_names.iter().cloned().collect();
            p.check_names(self.file, &inputs, &self.ptq_layers)?;
        }
        self.assemble(g, stem, outputs)
    }

    /// The layer graph: inputs in ONNX order, then the layers in creation order.
    fn assemble(self, g: &Graph, stem: &str, outputs: Vec<TensorId>) -> Result<LayerGraph> {
        let mut index = vec![usize::MAX; self.built.len()];
        let mut inputs = vec![];
        for (k, input) in g.inputs.iter().enumerate() {
            let id = self
                .built
                .iter()
                .position(|b| matches!(b.source, Source::Input(i) if i == k))
                .ok_or_else(|| {
                    self.err(
                        &format!("graph input `{}`", input.name),
                        "no Quant node reads it, so it has no fixed-point type; quantize this \
                         tensor with a Quant node (power-of-two scale, zero point 0)",
                    )
                })?;
            index[id] = inputs.len();
            inputs.push(self.built[id].tensor.clone());
        }
        let mut layers = vec![];
        for (id, b) in self.built.into_iter().enumerate() {
            if let Source::Layer { mut kind, input } = b.source {
                index[id] = inputs.len() + layers.len();
                if let LayerKind::Merge { others, .. } | LayerKind::Concatenate { others, .. } =
                    kind.as_mut()
                {
                    for t in others.iter_mut() {
                        *t = index[*t];
                    }
                }
                layers.push(Layer {
                    name: b.tensor.name.clone(),
                    kind: *kind,
                    input: index[input],
                    output: b.tensor,
                });
            }
        }
        Ok(LayerGraph {
            name: if g.name.is_empty() {
                stem.to_string()
            } else {
                g.name.clone()
            },
            inputs,
            layers,
            outputs: outputs.into_iter().map(|id| index[id]).collect(),
        })
    }

    fn node(&mut self, n: &Node) -> Result<Value> {
        let custom = matches!(
            n.op_type.as_str(),
            "Quant" | "IntQuant" | "BipolarQuant" | "Trunc"
        );
        if custom && !DOMAINS.contains(&n.domain.as_str()) {
            return Err(self.node_err(
                n,
                format!(
                    "domain `{}` is not a QONNX domain (expected one of {}); run qonnx cleanup, \
                     which sets it",
                    n.domain,
                    DOMAINS.join(", ")
                ),
            ));
        }
        if n.domain == CHANNELS_LAST_DOMAIN
            && matches!(
                n.op_type.as_str(),
                "Conv" | "MaxPool" | "BatchNormalization"
            )
        {
            return self.channels_last_op(n);
        }
        if !custom && !matches!(n.domain.as_str(), "" | "ai.onnx") {
            return Err(self.node_err(
                n,
                format!(
                    "op `{}` of domain `{}` is not supported (rtl4ml reads {SUPPORTED})",
                    n.op_type, n.domain
                ),
            ));
        }
        match n.op_type.as_str() {
            "Quant" | "IntQuant" => self.quant(n),
            "BipolarQuant" => self.bipolar_quant(n),
            "Trunc" => self.trunc(n),
            "MatMul" => self.matmul(n),
            "Gemm" => self.gemm(n),
            "Add" | "Sub" | "Mul" | "Div" => self.elementwise(n),
            "Conv" => self.conv(n),
            "MaxPool" | "AveragePool" => self.pool(n),
            "GlobalMaxPool" | "GlobalAveragePool" => self.global_pool(n),
            "Concat" => self.concat(n),
            "Slice" => self.slice(n),
            "BatchNormalization" => self.batch_norm(n),
            "Softmax" => self.softmax(n),
            "Relu" => {
                let (id, exp) = self.input_hw(n, 0)?;
                Ok(Value::Relu {
                    id,
                    exp,
                    node: n.name.clone(),
                })
            }
            "Flatten" | "Reshape" => self.reshape(n),
            "Transpose" => self.transpose(n),
            "Identity" => self.fusable(n, 0),
            "Constant" => n
                .constant_value()
                .map(Value::Const)
                .map_err(|e| self.node_err(n, e)),
            other => Err(self.node_err(
                n,
                format!(
                    "op `{other}` is not supported (rtl4ml reads {SUPPORTED}); run qonnx cleanup \
                     to fold constant subgraphs, or remove the op from the model"
                ),
            )),
        }
    }

    // ---- reading inputs ---------------------------------------------------------------

    fn input_name<'n>(&self, n: &'n Node, k: usize) -> Result<&'n str> {
        n.inputs
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.node_err(n, format!("input {k} is missing")))
    }

    fn input(&self, n: &Node, k: usize) -> Result<&Value> {
        let name = self.input_name(n, k)?;
        self.values.get(name).ok_or_else(|| {
            self.node_err(
                n,
                format!(
                    "input `{name}` is not computed before this node; the graph must be in \
                     topological order (run qonnx cleanup)"
                ),
            )
        })
    }

    /// Input `k`, which must be a constant; `what` names it in the error.
    fn constant(&self, n: &Node, k: usize, what: &str) -> Result<ConstTensor> {
        match self.input(n, k)? {
            Value::Const(c) => Ok(c.clone()),
            _ => Err(self.node_err(
                n,
                format!(
                    "the {what} (input {k}, `{}`) is not a constant; rtl4ml needs it at compile \
                     time: make it an initializer (run qonnx cleanup to fold constant subgraphs)",
                    n.inputs[k]
                ),
            )),
        }
    }

    /// A uniform constant that is a positive power of two: its exponent.
    fn pow2_scale(&self, n: &Node, c: &ConstTensor, what: &str) -> Result<i32> {
        let v = c.uniform().ok_or_else(|| {
            self.node_err(
                n,
                format!(
                    "the {what} has several values (per-channel); rtl4ml needs one per-tensor \
                     scale here (per-channel scales are supported on constant weights only)"
                ),
            )
        })?;
        v.log2().ok_or_else(|| self.node_err(n, not_pow2(what, v)))
    }

    /// A uniform integer constant in `lo..=hi`.
    fn integer(&self, n: &Node, k: usize, what: &str, lo: i128, hi: i128) -> Result<i128> {
        let c = self.constant(n, k, what)?;
        c.uniform()
            .and_then(Dyadic::to_integer)
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(|| {
                self.node_err(
                    n,
                    format!(
                        "the {what} must be one integer in {lo}..={hi}, found {}",
                        show(&c)
                    ),
                )
            })
    }

    fn zero_point(&self, n: &Node, k: usize) -> Result<()> {
        let zp = self.constant(n, k, "zero point")?;
        if zp.data.iter().all(|v| v.is_zero()) {
            Ok(())
        } else {
            Err(self.node_err(
                n,
                format!(
                    "zero point {} is not 0; fixed-point types have no offset, so rtl4ml reads \
                     symmetric quantizers only: quantize with zero_point = 0",
                    show(&zp)
                ),
            ))
        }
    }

    /// The tensor a node input computes, built (see [`Self::build`]).
    fn input_hw(&mut self, n: &Node, k: usize) -> Result<(TensorId, i32)> {
        self.input(n, k)?;
        self.build(self.input_name(n, k)?, &place(n))
    }

    /// The computed tensor `name`, built: a pending map or ReLU becomes its layer (once: the
    /// result replaces the value). Constants and unquantized floats are errors at `at`.
    fn build(&mut self, name: &str, at: &str) -> Result<(TensorId, i32)> {
        let built = match self.values[name].clone() {
            Value::Hw { id, exp } => return Ok((id, exp)),
            Value::Linear(l) => (self.dense(&l, None)?, 0),
            Value::Conv(c) => (self.build_conv(&c, None)?, 0),
            Value::Relu { id, exp, node } => {
                let x = self.built[id].tensor.clone();
                let ty = self.ptq_result(&node, &LayerKind::Relu).unwrap_or(x.ty);
                (self.push(&node, LayerKind::Relu, id, x.shape, ty), exp)
            }
            Value::Float { input, shape } if self.ptq.is_some() => {
                let ty = self
                    .ptq
                    .expect("a precision")
                    .input(&self.input_names[input]);
                (self.float_input(input, shape, ty, at)?, 0)
            }
            Value::Const(_) => {
                return Err(self.err(
                    at,
                    format!(
                        "`{name}` is a constant, but hardware needs a tensor computed from the \
                         model inputs here; run qonnx cleanup to fold constant subgraphs"
                    ),
                ))
            }
            Value::Float { .. } => {
                return Err(self.err(
                    at,
                    format!(
                        "`{name}` is an unquantized float tensor; quantize this tensor with a \
                         Quant node (power-of-two scale, zero point 0) before it reaches hardware, \
                         {PTQ_HINT}"
                    ),
                ))
            }
        };
        self.values.insert(
            name.to_string(),
            Value::Hw {
                id: built.0,
                exp: built.1,
            },
        );
        Ok(built)
    }

    /// Input `k` for a consumer that can absorb a pending map or ReLU: the pending value if
    /// this consumer is its only reader, otherwise the built tensor.
    fn fusable(&mut self, n: &Node, k: usize) -> Result<Value> {
        let name = self.input_name(n, k)?;
        match self.input(n, k)? {
            Value::Linear(_) | Value::Relu { .. } | Value::Conv(_)
                if self.uses.get(name) != Some(&1) =>
            {
                let (id, exp) = self.input_hw(n, k)?;
                Ok(Value::Hw { id, exp })
            }
            v => Ok(v.clone()),
        }
    }

    // ---- building layers --------------------------------------------------------------

    fn push(
        &mut self,
        base: &str,
        kind: LayerKind,
        input: TensorId,
        shape: Vec<usize>,
        ty: FixedType,
    ) -> TensorId {
        let channels_last = shape.len() >= 2 && self.built[input].channels_last;
        let name = self.layer_name(base, kind.name());
        self.names.insert(name.clone());
        self.built.push(Built {
            tensor: Tensor { name, shape, ty },
            source: Source::Layer {
                kind: Box::new(kind),
                input,
            },
            channels_last,
        });
        self.built.len() - 1
    }

    fn shape(&self, id: TensorId) -> &[usize] {
        &self.built[id].tensor.shape
    }

    /// The identity map on tensor `id`'s last axis, times `2^exp`.
    fn diagonal(&self, id: TensorId, exp: i32, node: &str, place: &str) -> Linear {
        let n = *self.shape(id).last().expect("tensors have a shape");
        Linear {
            input: id,
            n_in: n,
            n_out: n,
            weight: vec![Dyadic::pow2(exp); n],
            diagonal: true,
            bias: vec![Dyadic::ZERO; n],
            node: node.to_string(),
            place: place.to_string(),
        }
    }

    /// Constants as one fixed-point type and their mantissas; an error at `place` when they
    /// need more than [`MAX_CONSTANT_BITS`].
    fn constant_type(
        &self,
        data: &[Dyadic],
        shape: Vec<usize>,
        what: &str,
        place: &str,
    ) -> Result<(FixedType, Vec<i128>)> {
        {
            let c = ConstTensor {
                shape,
                data: data.to_vec(),
            };
            match c.fixed() {
                Some((ty, m)) if ty.width <= MAX_CONSTANT_BITS => Ok((ty, m)),
                found => Err(self.err(
                    place,
                    format!(
                        "the {what} need {} as one fixed-point type (at most {MAX_CONSTANT_BITS} \
                         allowed): they are not quantized to a power-of-two grid; quantize them \
                         with a Quant node (power-of-two scale)",
                        found.map_or("more than 120 bits".into(), |(t, _)| format!(
                            "{} bits",
                            t.width
                        ))
                    ),
                )),
            }
        }
    }

    /// Builds a pending map as a `dense` layer with an exact accumulator; its result type is
    /// `result`, or else the exact type of every value it can produce.
    fn dense(&mut self, l: &Linear, result: Option<FixedType>) -> Result<TensorId> {
        if l.diagonal && l.n_out > MAX_DIAGONAL_DENSE {
            return self.diagonal_layer(l, result);
        }
        let expanded;
        let l = if l.diagonal {
            let mut weight = vec![Dyadic::ZERO; l.n_in * l.n_out];
            for (i, &d) in l.weight.iter().enumerate() {
                weight[i * l.n_out + i] = d;
            }
            expanded = Linear {
                weight,
                diagonal: false,
                ..l.clone()
            };
            &expanded
        } else {
            l
        };
        if let Some(q) = self.ptq_constants(&l.node, "dense", &l.weight, &l.bias, result)? {
            let x = self.built[l.input].tensor.clone();
            let mut shape = x.shape.clone();
            *shape.last_mut().expect("tensors have a shape") = l.n_out;
            let kind = LayerKind::Dense {
                weight: Constant {
                    ty: q.weight.0,
                    data: Array2::from_shape_vec((l.n_in, l.n_out), q.weight.1)
                        .expect("n_in × n_out values"),
                },
                bias: Constant {
                    ty: q.bias.0,
                    data: q.bias.1,
                },
                accum: q.accum,
            };
            return Ok(self.push(&l.node, kind, l.input, shape, q.result));
        }
        let (wty, wm) =
            self.constant_type(&l.weight, vec![l.n_in, l.n_out], "weights", &l.place)?;
        let (bty, bm) = self.constant_type(&l.bias, vec![l.n_out], "biases", &l.place)?;
        let x = self.built[l.input].tensor.clone();
        let ty = match result {
            Some(t) => t,
            None => exact_result(&x.ty, &wty, &wm, &bty, &bm, l.n_out).ok_or_else(|| {
                self.err(
                    &l.place,
                    format!(
                        "its exact result needs more than the {MAX_TYPE_WIDTH} bits a \
                         fixed-point type may have; quantize it with a Quant node"
                    ),
                )
            })?,
        };
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("tensors have a shape") = l.n_out;
        let kind = LayerKind::Dense {
            weight: Constant {
                ty: wty,
                data: Array2::from_shape_vec(
                    (l.n_in, l.n_out),
                    wm.into_iter().map(|m| m as i64).collect(),
                )
                .expect("n_in × n_out values"),
            },
            bias: Constant {
                ty: bty,
                data: bm.into_iter().map(|m| m as i64).collect(),
            },
            accum: None,
        };
        Ok(self.push(&l.node, kind, l.input, shape, ty))
    }

    /// With a precision, the quantized constants, accumulator and result of the next dense or
    /// convolution layer from `base`: always when no `Quant` gives the result type (hls4ml's
    /// semantics for a float layer), and else when the constants are not on a grid already.
    /// `None`: exact, as without a precision.
    pub(super) fn ptq_constants(
        &mut self,
        base: &str,
        kind: &str,
        weight: &[Dyadic],
        bias: &[Dyadic],
        result: Option<FixedType>,
    ) -> Result<Option<PtqConstants>> {
        let Some(p) = self.ptq else {
            return Ok(None);
        };
        let on_grid = |d: &[Dyadic]| {
            ConstTensor {
                shape: vec![d.len()],
                data: d.to_vec(),
            }
            .fixed()
            .is_some_and(|(t, _)| t.width <= MAX_CONSTANT_BITS)
        };
        if result.is_some() && on_grid(weight) && on_grid(bias) {
            return Ok(None);
        }
        let name = self.layer_name(base, kind);
        let quantize = |d: &[Dyadic], ty: FixedType| {
            (
                ty,
                d.iter()
                    .map(|v| precision::hls4ml_constant(v.to_f64(), &ty) as i64)
                    .collect::<Vec<_>>(),
            )
        };
        let q = PtqConstants {
            weight: quantize(weight, p.weight(&name)),
            bias: quantize(bias, p.bias(&name)),
            accum: p.accum(&name),
            result: result.unwrap_or_else(|| p.result(&name)),
        };
        self.ptq_layers.insert(name);
        Ok(Some(q))
    }

    /// A diagonal map as a `batchnorm` layer: `y = x · w_c + b_c` per channel, exactly as
    /// the diagonal dense (whose other weights are zero) with `n` constants instead of `n²`.
    fn diagonal_layer(&mut self, l: &Linear, result: Option<FixedType>) -> Result<TensorId> {
        let (wty, wm) = self.constant_type(&l.weight, vec![l.n_out], "weights", &l.place)?;
        let (bty, bm) = self.constant_type(&l.bias, vec![l.n_out], "biases", &l.place)?;
        let x = self.built[l.input].tensor.clone();
        let ty = match result {
            Some(t) => t,
            // One weight per output: `exact_result` with `n_out` steps reads exactly it.
            None => exact_result(&x.ty, &wty, &wm, &bty, &bm, l.n_out).ok_or_else(|| {
                self.err(
                    &l.place,
                    format!(
                        "its exact result needs more than the {MAX_TYPE_WIDTH} bits a \
                         fixed-point type may have; quantize it with a Quant node"
                    ),
                )
            })?,
        };
        let kind = LayerKind::BatchNorm {
            scale: Constant {
                ty: wty,
                data: wm.into_iter().map(|m| m as i64).collect(),
            },
            bias: Constant {
                ty: bty,
                data: bm.into_iter().map(|m| m as i64).collect(),
            },
        };
        Ok(self.push(&l.node, kind, l.input, x.shape, ty))
    }

    /// A `quantize` layer onto the grid `2^-frac` with rounding and no possible overflow
    /// (the type covers every rounded value); `id` itself when it is on that grid already.
    fn round_onto(
        &mut self,
        id: TensorId,
        frac: i32,
        round: Round,
        name: &str,
    ) -> Result<TensorId> {
        let x = self.built[id].tensor.clone();
        if x.ty.frac() <= frac {
            return Ok(id);
        }
        let lo = round_shift(x.ty.min_mantissa(), x.ty.frac(), frac, round);
        let hi = round_shift(x.ty.max_mantissa(), x.ty.frac(), frac, round);
        let width = Interval::new(lo, hi).width();
        let ty =
            FixedType::new(lo < 0, width, width as i32 - frac).with_modes(round, Overflow::Wrap);
        ty.validate().map_err(|e| self.err(name, e))?;
        Ok(self.push(name, LayerKind::Quantize, id, x.shape, ty))
    }

    // ---- quantizers -------------------------------------------------------------------

    /// The grid of a `Quant`/`IntQuant` node (inputs: x, scale, zero point, bit width).
    fn int_grid(&self, n: &Node) -> Result<IntGrid> {
        self.zero_point(n, 2)?;
        let bits = self.integer(n, 3, "bit width", 1, i128::from(MAX_TYPE_WIDTH))? as u32;
        let attr = |r: std::result::Result<i64, String>| r.map_err(|e| self.node_err(n, e));
        let round = n
            .string("rounding_mode", "ROUND")
            .and_then(|m| quant::round_mode(&m))
            .map_err(|e| self.node_err(n, e))?;
        Ok(IntGrid {
            bits,
            signed: attr(n.int("signed", 1))? != 0,
            narrow: attr(n.int("narrow", 0))? != 0,
            round,
        })
    }

    fn quant(&mut self, n: &Node) -> Result<Value> {
        let grid = self.int_grid(n)?;
        let scale = self.constant(n, 1, "scale")?;
        if let Value::Const(x) = self.input(n, 0)? {
            // A weight quantizer: fold it, per element (per-channel scales broadcast).
            let x = x.clone();
            let fracs = self.element_fracs(n, &x, &scale)?;
            for &f in fracs.iter().collect::<HashSet<_>>() {
                grid.fixed_type(f).map_err(|e| self.node_err(n, e))?;
            }
            return Ok(Value::Const(grid.fold(&x, &fracs)));
        }
        let frac = -self.pow2_scale(n, &scale, "scale")?;
        if grid.is_bipolar() {
            return self.bipolar_activation(n, Dyadic::pow2(-frac));
        }
        self.quantize(n, |exp| grid.fixed_type(frac + exp))
    }

    /// For each element of `x`, the fractional bits of its (broadcast) power-of-two scale.
    fn element_fracs(&self, n: &Node, x: &ConstTensor, scale: &ConstTensor) -> Result<Vec<i32>> {
        if exact::broadcast_shape(&x.shape, &scale.shape).as_deref() != Some(&x.shape[..]) {
            return Err(self.node_err(
                n,
                format!(
                    "the scale's shape {:?} does not broadcast to the input's shape {:?}",
                    scale.shape, x.shape
                ),
            ));
        }
        scale
            .broadcast_index(&x.shape)
            .into_iter()
            .map(|k| {
                let s = scale.data[k];
                s.log2()
                    .map(|e| -e)
                    .ok_or_else(|| self.node_err(n, not_pow2("scale", s)))
            })
            .collect()
    }

    /// Quantizes input 0 of `n` with the type `ty_at(exp)` for a tensor carrying `value ·
    /// 2^-exp`: fused into a pending dense or ReLU, a new graph input's type, or a
    /// `quantize` layer.
    fn quantize(
        &mut self,
        n: &Node,
        ty_at: impl Fn(i32) -> std::result::Result<FixedType, String>,
    ) -> Result<Value> {
        let (file, at) = (self.file, place(n));
        let ty = |exp: i32| ty_at(exp).map_err(|e| Error::model(file, &at, e));
        let (id, exp) = match self.fusable(n, 0)? {
            Value::Linear(l) => (self.dense(&l, Some(ty(0)?))?, 0),
            Value::Conv(c) => (self.build_conv(&c, Some(ty(0)?))?, 0),
            Value::Relu { id, exp, node } => {
                let shape = self.shape(id).to_vec();
                (self.push(&node, LayerKind::Relu, id, shape, ty(exp)?), exp)
            }
            Value::Hw { id, exp } => {
                let shape = self.shape(id).to_vec();
                (
                    self.push(&n.name, LayerKind::Quantize, id, shape, ty(exp)?),
                    exp,
                )
            }
            Value::Float { input, shape } => (self.float_input(input, shape, ty(0)?, &at)?, 0),
            Value::Const(_) => unreachable!("constants are folded by the callers"),
        };
        Ok(Value::Hw { id, exp })
    }

    /// Graph input `input` as a hardware input of type `ty` (its first and only type).
    fn float_input(
        &mut self,
        input: usize,
        shape: Vec<usize>,
        ty: FixedType,
        at: &str,
    ) -> Result<TensorId> {
        if let Some(b) = self
            .built
            .iter()
            .find(|b| matches!(b.source, Source::Input(k) if k == input))
        {
            return Err(self.err(
                at,
                format!(
                    "graph input `{}` is quantized a second time; rtl4ml gives each input one \
                     fixed-point type: quantize it once and share the result",
                    b.tensor.name
                ),
            ));
        }
        let name = self.input_names[input].clone();
        self.built.push(Built {
            tensor: Tensor { name, shape, ty },
            source: Source::Input(input),
            channels_last: false,
        });
        Ok(self.built.len() - 1)
    }

    /// The name [`Self::push`] gives the next layer from `base`.
    fn layer_name(&self, base: &str, kind: &str) -> String {
        let base = if base.is_empty() { kind } else { base };
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        name
    }

    /// With a precision: the result type of the next layer from `base` (recorded as a layer
    /// that took a precision).
    fn ptq_result(&mut self, base: &str, kind: &LayerKind) -> Option<FixedType> {
        let p = self.ptq?;
        let name = self.layer_name(base, kind.name());
        let t = p.result(&name);
        self.ptq_layers.insert(name);
        Some(t)
    }

    /// `Softmax` on the last axis: hls4ml's Latency softmax with the precision's tables
    /// (only for post-training quantization: the float softmax has no exact fixed-point form).
    fn softmax(&mut self, n: &Node) -> Result<Value> {
        let Some(p) = self.ptq else {
            return Err(self.node_err(
                n,
                format!(
                    "Softmax has no exact fixed-point form; remove it from the model (the \
                     argmax of its input is the same), {PTQ_HINT}, which maps it to hls4ml's \
                     lookup-table softmax"
                ),
            ));
        };
        if p.skip_softmax {
            return self.fusable(n, 0);
        }
        self.relayout(n, 0, false)?;
        let rank = self.value_shape(self.input(n, 0)?).len() as i64;
        // Batch included, the last axis is `rank` (or −1). Without `axis`, opsets before 13
        // flatten from axis 1, which is the last axis of a [N, C] tensor only.
        let axis = n.int("axis", -2).map_err(|e| self.node_err(n, e))?;
        let axis = if axis == -2 && rank == 1 { -1 } else { axis };
        if axis != -1 && axis != rank {
            return Err(self.node_err(
                n,
                format!("axis {axis}: rtl4ml's softmax is over the last axis only"),
            ));
        }
        let (id, exp) = self.input_hw(n, 0)?;
        let id = if exp != 0 {
            let l = self.diagonal(id, exp, &n.name, &place(n));
            self.dense(&l, None)?
        } else {
            id
        };
        let x = self.built[id].tensor.clone();
        let probe = LayerKind::Softmax {
            exp_table: Constant {
                ty: x.ty,
                data: vec![],
            },
            inv_table: Constant {
                ty: x.ty,
                data: vec![],
            },
        };
        let name = self.layer_name(&n.name, probe.name());
        let kind = precision::hls4ml_softmax(
            &x.ty,
            &p.accum(&name).unwrap_or(p.default),
            &p.exp_table(&name),
            &p.inv_table(&name),
        )
        .map_err(|e| self.node_err(n, e))?;
        let ty = self.ptq_result(&n.name, &kind).expect("a precision");
        let id = self.push(&n.name, kind, id, x.shape, ty);
        Ok(Value::Hw { id, exp: 0 })
    }

    /// A `qonnx.custom_op.channels_last` `Conv`/`MaxPool`/`BatchNormalization`: its tensors
    /// are `[N, d…, C]` in ONNX order, which is exactly rtl4ml's storage of the `[N, C, d…]`
    /// tensor the standard op reads: both sides are reinterpreted (free) around the op.
    fn channels_last_op(&mut self, n: &Node) -> Result<Value> {
        let (id, exp) = self.input_hw(n, 0)?;
        let id = self.in_layout(id, false);
        let id = self.reinterpret(id, true, &n.name);
        let key_in = format!("{} (channels last)", n.inputs[0]);
        self.values.insert(key_in.clone(), Value::Hw { id, exp });
        let mut std = n.clone();
        std.domain = String::new();
        std.inputs[0] = key_in;
        if n.op_type == "Conv" {
            // The wrapped Conv's weights are channels last too, `[M, k…, C/group]`: qonnx
            // transposes them back to `[M, C/group, k…]` (to_channels_first_args).
            let w = self.constant(n, 1, "weights")?;
            let r = w.shape.len();
            let perm: Vec<usize> = [0, r.saturating_sub(1)]
                .into_iter()
                .chain(1..r.saturating_sub(1))
                .collect();
            let w = w
                .transpose(&perm)
                .ok_or_else(|| self.node_err(n, format!("the weights have shape {:?}", w.shape)))?;
            let key_w = format!("{} (channels first)", n.inputs[1]);
            self.values.insert(key_w.clone(), Value::Const(w));
            std.inputs[1] = key_w;
        }
        let v = self.node(&std)?;
        let key_out = format!("{} (channels first)", n.outputs[0]);
        self.values.insert(key_out.clone(), v);
        let (id, exp) = self.build(&key_out, &place(n))?;
        let id = self.in_layout(id, true);
        let id = self.reinterpret(id, false, &n.name);
        Ok(Value::Hw { id, exp })
    }

    /// The same stored elements read as the other layout (a free same-shape `reshape`).
    fn reinterpret(&mut self, id: TensorId, channels_last: bool, base: &str) -> TensorId {
        if self.built[id].channels_last == channels_last || self.shape(id).len() < 2 {
            return id;
        }
        let x = self.built[id].tensor.clone();
        let suffix = if channels_last { "as_nchw" } else { "as_nhwc" };
        let t = self.push(
            &format!("{base}_{suffix}"),
            LayerKind::Reshape,
            id,
            x.shape,
            x.ty,
        );
        self.built[t].channels_last = channels_last;
        t
    }

    fn bipolar_quant(&mut self, n: &Node) -> Result<Value> {
        let scale = self.constant(n, 1, "scale")?;
        if let Value::Const(x) = self.input(n, 0)? {
            let folded = x.zip_with(&scale, |v, s| Ok::<_, ()>(quant::bipolar(v, s)));
            return match folded {
                Some(Ok(y)) if y.shape == x.shape => Ok(Value::Const(y)),
                _ => Err(self.node_err(
                    n,
                    format!(
                        "the scale's shape {:?} does not broadcast to the input's shape {:?}",
                        scale.shape, x.shape
                    ),
                )),
            };
        }
        let s = scale.uniform().ok_or_else(|| {
            self.node_err(
                n,
                "a BipolarQuant of a computed tensor needs one per-tensor scale",
            )
        })?;
        self.bipolar_activation(n, s)
    }

    /// `x ≥ 0 ? s : −s` of a computed tensor: a 1-bit sign layer `b ∈ {−1, 0}`, then the
    /// pending map `2s·b + s`.
    fn bipolar_activation(&mut self, n: &Node, s: Dyadic) -> Result<Value> {
        let sign = match self.input(n, 0)?.clone() {
            // On a float graph input, the input itself carries the sign bit: the simulator
            // casts a float to `fixed<1,1,TRN,SAT>` (0 for x ≥ 0, −1 below), exactly the
            // sign layer's cast.
            Value::Float { input, shape } => {
                self.float_input(input, shape, quant::sign_type(), &place(n))?
            }
            _ => {
                let (id, _) = self.input_hw(n, 0)?;
                let shape = self.shape(id).to_vec();
                self.push(&n.name, LayerKind::Quantize, id, shape, quant::sign_type())
            }
        };
        let mut l = self.diagonal(sign, 0, &format!("{}_scale", n.name), &place(n));
        let two_s = s.mul(Dyadic::pow2(1)).expect("a float times two");
        for w in l.weight.iter_mut().filter(|w| !w.is_zero()) {
            *w = two_s;
        }
        l.bias = vec![s; l.n_out];
        Ok(Value::Linear(l))
    }

    /// `Trunc` v1 (5 inputs) and v2 (6 inputs), as qonnx executes them: the input rounded
    /// half-to-even onto its scale, then requantized onto the coarser output grid.
    fn trunc(&mut self, n: &Node) -> Result<Value> {
        if !matches!(n.inputs.len(), 5 | 6) {
            return Err(self.node_err(
                n,
                format!(
                    "expected 5 inputs (Trunc v1) or 6 (Trunc v2), found {}",
                    n.inputs.len()
                ),
            ));
        }
        self.zero_point(n, 2)?;
        let scale = self.constant(n, 1, "scale")?;
        let frac = -self.pow2_scale(n, &scale, "scale")?;
        let round = n
            .string("rounding_mode", "FLOOR")
            .and_then(|m| quant::round_mode(&m))
            .map_err(|e| self.node_err(n, e))?;
        let bits_max = i128::from(MAX_TYPE_WIDTH);
        let in_bits = self.integer(n, 3, "input bit width", 1, 1 << 16)?;
        let (id, exp) = self.input_hw(n, 0)?;
        let id = self.round_onto(id, frac + exp, Round::RndConv, &format!("{}_round", n.name))?;
        if n.inputs.len() == 6 {
            let out_scale = self.constant(n, 4, "output scale")?;
            let out_frac = -self.pow2_scale(n, &out_scale, "output scale")?;
            let attr = |r: std::result::Result<i64, String>| r.map_err(|e| self.node_err(n, e));
            let grid = IntGrid {
                bits: self.integer(n, 5, "output bit width", 1, bits_max)? as u32,
                signed: attr(n.int("signed", 1))? != 0,
                narrow: attr(n.int("narrow", 0))? != 0,
                round,
            };
            let ty = grid
                .fixed_type(out_frac + exp)
                .map_err(|e| self.node_err(n, e))?;
            let shape = self.shape(id).to_vec();
            let id = self.push(&n.name, LayerKind::Quantize, id, shape, ty);
            Ok(Value::Hw { id, exp })
        } else {
            // v1: y = R(x / (scale · 2^t)) · scale with t = in_bits − out_bits, no clamp.
            let out_bits = self.integer(n, 4, "output bit width", 1, 1 << 16)?;
            let t = (in_bits - out_bits) as i32;
            let id = self.round_onto(id, frac - t + exp, round, &n.name)?;
            Ok(Value::Hw { id, exp: exp - t })
        }
    }

    // ---- linear algebra ---------------------------------------------------------------

    fn matmul(&mut self, n: &Node) -> Result<Value> {
        if matches!(self.input(n, 0)?, Value::Const(_)) {
            return Err(self.node_err(
                n,
                "the first operand is a constant; rtl4ml reads x · W with the computed tensor x \
                 first and constant weights W second (run qonnx cleanup to fold constant subgraphs)",
            ));
        }
        let w = self.weights(n, 1)?;
        let n_out = w.shape[1];
        self.apply_matrix(n, w, vec![Dyadic::ZERO; n_out])
    }

    /// Input `k` as a constant 2-D weight matrix.
    fn weights(&self, n: &Node, k: usize) -> Result<ConstTensor> {
        let w = match self.input(n, k)? {
            Value::Const(c) => c.clone(),
            _ => {
                return Err(self.node_err(
                    n,
                    format!(
                        "the weights (input {k}, `{}`) are not constant; rtl4ml multiplies by \
                         constant (quantized) weights only",
                        n.inputs[k]
                    ),
                ))
            }
        };
        if w.shape.len() != 2 {
            return Err(self.node_err(
                n,
                format!(
                    "the weights have shape {:?}; expected a 2-D matrix",
                    w.shape
                ),
            ));
        }
        Ok(w)
    }

    fn gemm(&mut self, n: &Node) -> Result<Value> {
        let attr = |name: &str, default: i64| n.int(name, default).map_err(|e| self.node_err(n, e));
        if attr("transA", 0)? != 0 {
            return Err(self.node_err(
                n,
                "transA = 1 is not supported (the input must not be transposed)",
            ));
        }
        let mut w = self.weights(n, 1)?;
        if attr("transB", 0)? != 0 {
            w = w.transpose(&[1, 0]).expect("a 2-D matrix");
        }
        let float = |name: &str| n.float(name, 1.0).map_err(|e| self.node_err(n, e));
        let (alpha, beta) = (float("alpha")?, float("beta")?);
        let n_out = w.shape[1];
        let product = |what: &str, a: Dyadic, b: Dyadic| {
            a.mul(b)
                .ok_or_else(|| self.node_err(n, format!("{what} exceeds 120 bits")))
        };
        w.data = w
            .data
            .iter()
            .map(|&v| product("alpha · B", alpha, v))
            .collect::<Result<_>>()?;
        let bias = match n.inputs.get(2).filter(|c| !c.is_empty()) {
            None => vec![Dyadic::ZERO; n_out],
            Some(_) => {
                let c = self.constant(n, 2, "bias (C)")?;
                let c = c.per_channel(n_out).ok_or_else(|| {
                    self.node_err(
                        n,
                        format!(
                            "the bias (C) has shape {:?}; expected [{n_out}] or [1, {n_out}]",
                            c.shape
                        ),
                    )
                })?;
                c.into_iter()
                    .map(|v| product("beta · C", beta, v))
                    .collect::<Result<_>>()?
            }
        };
        self.apply_matrix(n, w, bias)
    }

    /// `x · w + bias` for input 0: composed into a pending diagonal map, or a new pending map
    /// on the built tensor (a folded power of two goes into the weights).
    fn apply_matrix(&mut self, n: &Node, w: ConstTensor, bias: Vec<Dyadic>) -> Result<Value> {
        // A matrix product acts on ONNX's last axis.
        self.relayout(n, 0, false)?;
        let (n_in, n_out) = (w.shape[0], w.shape[1]);
        let mut l = match self.fusable(n, 0)? {
            Value::Linear(d) if d.is_diagonal() => d,
            _ => {
                let (id, exp) = self.input_hw(n, 0)?;
                self.diagonal(id, exp, &n.name, &place(n))
            }
        };
        let overflow = || self.node_err(n, "folding the weights exceeds 120 bits");
        if l.n_out != n_in {
            let shape = self.shape(l.input).to_vec();
            return Err(self.node_err(
                n,
                format!(
                    "the weights have shape {:?} but the input's last axis has {} elements \
                     (input shape {shape:?}, batch axis dropped)",
                    w.shape, l.n_out
                ),
            ));
        }
        // Diagonal d, bias c: x·diag(d)·W + c·W + bias.
        let mut weight = vec![Dyadic::ZERO; l.n_in * n_out];
        let mut out_bias = bias;
        for i in 0..n_in {
            let (d, c) = (l.diag_entry(i), l.bias[i]);
            for j in 0..n_out {
                let wij = w.data[i * n_out + j];
                weight[i * n_out + j] = d.mul(wij).ok_or_else(overflow)?;
                let cw = c.mul(wij).ok_or_else(overflow)?;
                out_bias[j] = out_bias[j].add(cw).ok_or_else(overflow)?;
            }
        }
        l.weight = weight;
        l.diagonal = false;
        l.bias = out_bias;
        l.n_out = n_out;
        l.node = n.name.clone();
        l.place = place(n);
        Ok(Value::Linear(l))
    }

    /// Per-channel `y = x · scale + shift` on the last axis of input `k` (either may be
    /// absent).
    fn affine(
        &mut self,
        n: &Node,
        k: usize,
        scale: Option<Vec<Dyadic>>,
        shift: Option<Vec<Dyadic>>,
    ) -> Result<Value> {
        let mut l = match self.fusable(n, k)? {
            Value::Linear(l) => l,
            _ => {
                let (id, exp) = self.input_hw(n, k)?;
                self.diagonal(id, exp, &n.name, &place(n))
            }
        };
        let overflow = || self.node_err(n, "folding the constant exceeds 120 bits");
        if let Some(s) = scale {
            let (n_out, diagonal) = (l.n_out, l.diagonal);
            for (i, w) in l.weight.iter_mut().enumerate() {
                let j = if diagonal { i } else { i % n_out };
                *w = w.mul(s[j]).ok_or_else(overflow)?;
            }
            for (b, &s) in l.bias.iter_mut().zip(&s) {
                *b = b.mul(s).ok_or_else(overflow)?;
            }
        }
        if let Some(t) = shift {
            for (b, &t) in l.bias.iter_mut().zip(&t) {
                *b = b.add(t).ok_or_else(overflow)?;
            }
        }
        Ok(Value::Linear(l))
    }

    /// The last-axis length of a computed value.
    fn channels(&self, v: &Value) -> usize {
        match v {
            Value::Linear(l) => l.n_out,
            Value::Conv(c) => c.n_ch(),
            Value::Hw { id, .. } | Value::Relu { id, .. } => {
                *self.shape(*id).last().expect("tensors have a shape")
            }
            Value::Float { shape, .. } => *shape.last().expect("inputs have a shape"),
            Value::Const(_) => unreachable!("not a computed value"),
        }
    }

    fn elementwise(&mut self, n: &Node) -> Result<Value> {
        let op = n.op_type.as_str();
        let (a, b) = (self.input(n, 0)?.clone(), self.input(n, 1)?.clone());
        let fail = |what: &str| self.node_err(n, format!("{what} is not exact in fixed point"));
        if let (Value::Const(x), Value::Const(y)) = (&a, &b) {
            let r = x.zip_with(y, |p, q| {
                match op {
                    "Add" => p.add(q),
                    "Sub" => p.sub(q),
                    "Mul" => p.mul(q),
                    _ => p.div(q),
                }
                .ok_or((p, q))
            });
            return match r {
                None => Err(self.node_err(
                    n,
                    format!("shapes {:?} and {:?} do not broadcast", x.shape, y.shape),
                )),
                Some(Err((p, q))) => Err(fail(&format!(
                    "{op} of the constants {} and {}",
                    p.to_f64(),
                    q.to_f64()
                ))),
                Some(Ok(c)) => Ok(Value::Const(c)),
            };
        }
        let commutes = matches!(op, "Add" | "Mul");
        match (&a, &b) {
            (_, Value::Const(c)) => self.elementwise_const(n, 0, &a, c.clone()),
            (Value::Const(c), _) if commutes => self.elementwise_const(n, 1, &b, c.clone()),
            (Value::Const(_), _) => Err(self.node_err(
                n,
                format!(
                    "{op} with the constant first is not supported; put the computed tensor first"
                ),
            )),
            _ => self.merge(n),
        }
    }

    /// `x op c` with `x` (input `k`) computed and `c` constant per channel.
    fn elementwise_const(
        &mut self,
        n: &Node,
        k: usize,
        x: &Value,
        c: ConstTensor,
    ) -> Result<Value> {
        if let Value::Float { .. } = x {
            self.input_hw(n, k)?; // the unquantized-float error
        }
        let c = self.align_constant(n, k, c)?;
        let x = &self.input(n, k)?.clone();
        let op = n.op_type.as_str();
        let channels = self.channels(x);
        let c = c.per_channel(channels).ok_or_else(|| {
            self.node_err(
                n,
                format!(
                    "the constant has shape {:?}; expected a scalar or one value per element of \
                     the last axis ({channels})",
                    c.shape
                ),
            )
        })?;
        // A power of two on a built tensor or a pending ReLU folds into the exponent.
        let first = c[0];
        let uniform = c.iter().all(|&v| v == first);
        if uniform && matches!(op, "Mul" | "Div") && !first.is_negative() {
            if let Some(e) = first.log2().map(|e| if op == "Mul" { e } else { -e }) {
                match self.fusable(n, k)? {
                    Value::Hw { id, exp } => return Ok(Value::Hw { id, exp: exp + e }),
                    Value::Relu { id, exp, node } => {
                        return Ok(Value::Relu {
                            id,
                            exp: exp + e,
                            node,
                        })
                    }
                    _ => {}
                }
            }
        }
        match op {
            "Add" => self.affine(n, k, None, Some(c)),
            "Sub" => self.affine(n, k, None, Some(c.into_iter().map(Dyadic::neg).collect())),
            "Mul" => self.affine(n, k, Some(c), None),
            _ => {
                let inv = c
                    .iter()
                    .map(|&v| Dyadic::ONE.div(v).ok_or(v))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|v| {
                        self.node_err(
                            n,
                            format!(
                                "Div by {} is not exact in fixed point; rtl4ml divides by powers \
                                 of two only",
                                v.to_f64()
                            ),
                        )
                    })?;
                self.affine(n, k, Some(inv), None)
            }
        }
    }

    fn batch_norm(&mut self, n: &Node) -> Result<Value> {
        if n.int("training_mode", 0).map_err(|e| self.node_err(n, e))? != 0 {
            return Err(self.node_err(
                n,
                "training_mode = 1 is not supported; export the model for inference",
            ));
        }
        let x = self.input(n, 0)?.clone();
        if let Value::Const(_) = x {
            return Err(self.node_err(
                n,
                "a BatchNormalization of constants: run qonnx cleanup to fold it",
            ));
        }
        if let Value::Float { .. } = x {
            self.input_hw(n, 0)?;
        }
        // Over [N, C, …] the channel axis is 1: the tensor is made channels last.
        self.relayout(n, 0, true)?;
        let x = self.input(n, 0)?.clone();
        let channels = self.channels(&x);
        let eps = n.float("epsilon", 1e-5).map_err(|e| self.node_err(n, e))?;
        let mut params = vec![];
        for (k, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")] {
            let c = self.constant(n, k, what)?;
            params.push(c.per_channel(channels).ok_or_else(|| {
                self.node_err(
                    n,
                    format!("the {what} has shape {:?}; expected [{channels}]", c.shape),
                )
            })?);
        }
        let (mut scale, mut shift) = (vec![], vec![]);
        let [gammas, betas, means, vars] = &params[..] else {
            unreachable!("four parameters")
        };
        for (j, (((&gamma, &beta), &mean), &var)) in
            gammas.iter().zip(betas).zip(means).zip(vars).enumerate()
        {
            // y = (x − mean) · gamma / sqrt(var + eps) + beta = x · s + (beta − mean · s)
            let s = var
                .add(eps)
                .and_then(Dyadic::sqrt)
                .and_then(|r| gamma.div(r))
                .or_else(|| {
                    // Post-training quantization folds the float scale (hls4ml fuses batch
                    // normalisation in floating point too); the weights are quantized later.
                    self.ptq?;
                    let v = gamma.to_f64() / (var.to_f64() + eps.to_f64()).sqrt();
                    Dyadic::from_f64(v).ok()
                });
            let Some(s) = s else {
                return Err(self.node_err(
                    n,
                    format!(
                        "channel {j}: gamma / sqrt(var + epsilon) = {} / sqrt({} + {}) is not an \
                         exact binary fraction, so it cannot be folded exactly; fold the batch \
                         normalisation into the weights before export (or train with \
                         power-of-two batch-norm scales)",
                        gamma.to_f64(),
                        var.to_f64(),
                        eps.to_f64()
                    ),
                ));
            };
            let t = mean.mul(s).and_then(|ms| beta.sub(ms));
            let t = match (t, self.ptq) {
                (None, Some(_)) => {
                    Dyadic::from_f64(beta.to_f64() - mean.to_f64() * s.to_f64()).ok()
                }
                (t, _) => t,
            };
            let t = t.ok_or_else(|| {
                self.node_err(n, format!("channel {j}: folding exceeds 120 bits"))
            })?;
            scale.push(s);
            shift.push(t);
        }
        self.affine(n, 0, Some(scale), Some(shift))
    }

    // ---- shapes -----------------------------------------------------------------------

    fn reshape(&mut self, n: &Node) -> Result<Value> {
        // Reshapes move elements in ONNX's (channels first) row-major order.
        self.relayout(n, 0, false)?;
        let x = self.input(n, 0)?.clone();
        // The full ONNX shape: constants have no batch axis, computed tensors have one of 1.
        let full: Vec<usize> = match &x {
            Value::Const(c) => c.shape.clone(),
            Value::Float { shape, .. } => [&[1][..], shape].concat(),
            Value::Hw { id, .. } | Value::Relu { id, .. } => [&[1][..], self.shape(*id)].concat(),
            Value::Conv(_) => unreachable!("convolutions are stored channels last: relaid out"),
            Value::Linear(l) => {
                let mut s = [&[1][..], self.shape(l.input)].concat();
                *s.last_mut().expect("a shape") = l.n_out;
                s
            }
        };
        let total: usize = full.iter().product();
        let out: Vec<usize> = if n.op_type == "Flatten" {
            let axis = n.int("axis", 1).map_err(|e| self.node_err(n, e))?;
            let axis = if axis < 0 {
                axis + full.len() as i64
            } else {
                axis
            };
            if !(0..=full.len() as i64).contains(&axis) {
                return Err(self.node_err(n, format!("axis {axis} is out of range")));
            }
            let lead: usize = full[..axis as usize].iter().product();
            vec![lead, total / lead.max(1)]
        } else {
            let spec = self.constant(n, 1, "target shape")?;
            let dims = spec
                .data
                .iter()
                .map(|d| d.to_integer())
                .collect::<Option<Vec<i128>>>()
                .ok_or_else(|| self.node_err(n, "the target shape must hold integers"))?;
            resolve_shape(&full, &dims)
                .ok_or_else(|| self.node_err(n, format!("cannot reshape {full:?} to {dims:?}")))?
        };
        match x {
            Value::Const(c) => Ok(Value::Const(ConstTensor {
                shape: out,
                data: c.data,
            })),
            _ if out.first() != Some(&1) => Err(self.node_err(
                n,
                format!("the result {out:?} does not keep the batch axis (of 1) first"),
            )),
            Value::Float { input, .. } => Ok(Value::Float {
                input,
                shape: out[1..].to_vec(),
            }),
            _ => {
                let shape = out[1..].to_vec();
                if shape == full[1..] {
                    return self.fusable(n, 0); // nothing moves
                }
                let (id, exp) = self.input_hw(n, 0)?;
                let ty = self.built[id].tensor.ty;
                let kind = if shape.len() == 1 {
                    LayerKind::Flatten
                } else {
                    LayerKind::Reshape
                };
                let id = self.push(&n.name, kind, id, shape, ty);
                Ok(Value::Hw { id, exp })
            }
        }
    }

    fn transpose(&mut self, n: &Node) -> Result<Value> {
        let Value::Const(c) = self.input(n, 0)? else {
            return self.transpose_computed(n);
        };
        let rank = c.shape.len();
        let perm = match n.ints("perm").map_err(|e| self.node_err(n, e))? {
            Some(p) => p.iter().map(|&k| k as usize).collect(),
            None => (0..rank).rev().collect::<Vec<_>>(),
        };
        c.transpose(&perm).map(Value::Const).ok_or_else(|| {
            self.node_err(
                n,
                format!("perm {perm:?} is not a permutation of {rank} axes"),
            )
        })
    }
}

impl Converter<'_> {
    /// `Transpose` of a computed tensor (e.g. Keras' NHWC↔NCHW around a convolution). The
    /// result is stored in whichever layout makes the permutation free (the same elements
    /// read as the other layout); otherwise a `transpose` layer (pure wiring).
    fn transpose_computed(&mut self, n: &Node) -> Result<Value> {
        let rank = self.value_shape(self.input(n, 0)?).len();
        let perm: Vec<usize> = match n.ints("perm").map_err(|e| self.node_err(n, e))? {
            Some(p) => p.iter().map(|&k| k as usize).collect(),
            None => (0..=rank).rev().collect(),
        };
        let mut seen = perm.clone();
        seen.sort_unstable();
        if seen != (0..=rank).collect::<Vec<_>>() || perm[0] != 0 {
            return Err(self.node_err(
                n,
                format!(
                    "perm {perm:?} must be a permutation of the {} axes that keeps the batch \
                     axis (0) first",
                    rank + 1
                ),
            ));
        }
        // ONNX axes without the batch: output axis i is input axis p[i].
        let p: Vec<usize> = perm[1..].iter().map(|&a| a - 1).collect();
        let (id, exp) = self.input_hw(n, 0)?;
        // Stored axis → ONNX axis, for either layout.
        let axes = |cl: bool| -> Vec<usize> {
            if cl && rank >= 2 {
                (1..rank).chain([0]).collect()
            } else {
                (0..rank).collect()
            }
        };
        let a_in = axes(self.built[id].channels_last);
        let mut inv_in = vec![0; rank];
        for (i, &a) in a_in.iter().enumerate() {
            inv_in[a] = i;
        }
        let stored_perm =
            |cl: bool| -> Vec<usize> { axes(cl).iter().map(|&j| inv_in[p[j]]).collect() };
        let identity: Vec<usize> = (0..rank).collect();
        let here = self.built[id].channels_last;
        for cl in [here, !here] {
            if (cl && rank < 2) || stored_perm(cl) != identity {
                continue;
            }
            let id = self.reinterpret(id, cl, &n.name);
            return Ok(Value::Hw { id, exp });
        }
        let q = stored_perm(here);
        let x = self.built[id].tensor.clone();
        let shape = q.iter().map(|&a| x.shape[a]).collect();
        let t = self.push(&n.name, LayerKind::Transpose { perm: q }, id, shape, x.ty);
        self.built[t].channels_last = here && rank >= 2;
        Ok(Value::Hw { id: t, exp })
    }
}

/// A dense or convolution layer's quantized constants (type, mantissas), accumulator and
/// result type under a precision.
pub(super) struct PtqConstants {
    weight: (FixedType, Vec<i64>),
    bias: (FixedType, Vec<i64>),
    accum: Option<FixedType>,
    result: FixedType,
}

/// The exact type of a dense layer's results: every value `bias + Σ x·w` can take for any
/// `x` of type `x_ty`, at the fractional bits of the exact products.
fn exact_result(
    x_ty: &FixedType,
    w_ty: &FixedType,
    w: &[i128],
    b_ty: &FixedType,
    b: &[i128],
    n_out: usize,
) -> Option<FixedType> {
    let frac = (x_ty.frac() + w_ty.frac()).max(b_ty.frac());
    let sp = u32::try_from(frac - x_ty.frac() - w_ty.frac()).ok()?;
    let sb = u32::try_from(frac - b_ty.frac()).ok()?;
    let (xlo, xhi) = (x_ty.min_mantissa(), x_ty.max_mantissa());
    let shl = |v: i128, s: u32| match v {
        0 => Some(0),
        _ if s < 126 => v.checked_mul(1i128 << s),
        _ => None,
    };
    let mut range: Option<Interval> = None;
    for (j, &bj) in b.iter().enumerate() {
        let (mut lo, mut hi) = (shl(bj, sb)?, shl(bj, sb)?);
        for wi in w.iter().skip(j).step_by(n_out) {
            let (p, q) = (wi.checked_mul(xlo)?, wi.checked_mul(xhi)?);
            lo = lo.checked_add(shl(p.min(q), sp)?)?;
            hi = hi.checked_add(shl(p.max(q), sp)?)?;
        }
        let r = Interval::new(lo, hi);
        range = Some(range.map_or(r, |a| a.hull(&r)));
    }
    let range = range?;
    let width = range.width();
    let ty = FixedType::new(range.signed(), width, width as i32 - frac);
    ty.validate().ok()?;
    Some(ty)
}

/// ONNX Reshape semantics: `0` copies the input dimension, `-1` takes what is left.
fn resolve_shape(input: &[usize], dims: &[i128]) -> Option<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = vec![];
    let mut infer = None;
    for (k, &d) in dims.iter().enumerate() {
        match d {
            0 => out.push(*input.get(k)?),
            -1 if infer.is_none() => {
                infer = Some(k);
                out.push(1);
            }
            d if d > 0 => out.push(usize::try_from(d).ok()?),
            _ => return None,
        }
    }
    let known: usize = out.iter().product();
    if let Some(k) = infer {
        if known == 0 || total % known != 0 {
            return None;
        }
        out[k] = total / known;
    }
    (out.iter().product::<usize>() == total).then_some(out)
}

fn not_pow2(what: &str, v: Dyadic) -> String {
    format!(
        "the {what} {} is not a power of two; rtl4ml maps quantizers to fixed-point types \
         exactly only for power-of-two scales (e.g. Brevitas `restrict_scaling_type = \
         POWER_OF_TWO`, QKeras `alpha = \"auto_po2\"`): retrain or re-export with \
         power-of-two scales",
        v.to_f64()
    )
}

/// A constant's values for messages (the first few).
fn show(c: &ConstTensor) -> String {
    let head: Vec<String> = c
        .data
        .iter()
        .take(4)
        .map(|v| v.to_f64().to_string())
        .collect();
    if c.data.len() == 1 {
        head[0].clone()
    } else {
        format!(
            "[{}{}]",
            head.join(", "),
            if c.data.len() > 4 { ", …" } else { "" }
        )
    }
}

/// Declared dimensions as `[1, ?, 16]` (`?`: symbolic or unknown).
fn show_dims(dims: &[Option<u64>]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", d.join(", "))
}
