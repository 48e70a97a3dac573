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
    /// Reshape to one dimension (row-major); the type is unchanged.
    Flatten,
}

impl LayerKind {
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Dense { .. } => "dense",
            LayerKind::Relu => "relu",
            LayerKind::Quantize => "quantize",
            LayerKind::Flatten => "flatten",
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
