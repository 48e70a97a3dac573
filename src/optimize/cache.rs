//! Cached tensors of one model on the calibration set, so that a candidate that differs from
//! it only from some layer on is re-simulated from that layer (the optimizer's inner loop).

use crate::error::Result;
use crate::ir::layers::LayerGraph;
use crate::passes::lower::LowerOptions;
use crate::sim::Simulator;
use ndarray::{concatenate, Array2, ArrayView2, Axis};

/// Simulates `g` on `inputs` (mantissas of its inputs, bus order) and returns the values of
/// the tensors `outputs` (which replace the model's own outputs), bus order.
pub(super) fn simulate(
    g: &LayerGraph,
    inputs: ArrayView2<i64>,
    outputs: &[usize],
) -> Result<Array2<i64>> {
    let mut g = g.clone();
    g.outputs = outputs.to_vec();
    // Sharing subexpressions changes the hardware, never the values: skip its cost here.
    let net = crate::passes::pipeline::netlist(
        &g,
        &LowerOptions {
            share: false,
            ..Default::default()
        },
    )?;
    Ok(Simulator::new(&net).run(inputs))
}

/// Cached values of every tensor of one model on the calibration set, for incremental
/// re-simulation of models that differ from it only from some layer on.
pub struct Cache {
    graph: LayerGraph,
    /// Per tensor, `[samples, elements]`.
    tensors: Vec<Array2<i64>>,
}

impl Cache {
    pub fn new(g: &LayerGraph, calib: &Array2<i64>) -> Result<Cache> {
        let all: Vec<usize> = (0..g.inputs.len() + g.layers.len()).collect();
        let out = simulate(g, calib.view(), &all)?;
        let mut tensors = Vec::with_capacity(all.len());
        let mut col = 0;
        for &t in &all {
            let n = g.tensor(t).len();
            tensors.push(out.slice(ndarray::s![.., col..col + n]).to_owned());
            col += n;
        }
        Ok(Cache {
            graph: g.clone(),
            tensors,
        })
    }

    /// The cached mantissas of tensor `t`, `[samples, elements]`.
    pub fn tensor(&self, t: usize) -> &Array2<i64> {
        &self.tensors[t]
    }

    /// The cached model's own outputs, bus order.
    pub fn outputs_of(&self, g: &LayerGraph) -> Array2<i64> {
        let views: Vec<ArrayView2<i64>> =
            g.outputs.iter().map(|&t| self.tensors[t].view()).collect();
        concatenate(Axis(1), &views).expect("same number of samples")
    }

    /// The output mantissas of `g`, which must have the same inputs and layer count as the
    /// cached model.
    pub fn outputs(&self, g: &LayerGraph) -> Result<Array2<i64>> {
        debug_assert_eq!(g.inputs, self.graph.inputs);
        debug_assert_eq!(g.layers.len(), self.graph.layers.len());
        let n_in = g.inputs.len();
        let cut = (0..g.layers.len())
            .find(|&k| g.layers[k] != self.graph.layers[k])
            .unwrap_or(g.layers.len());
        // The tensors before the cut that the rest of the model (or its output) reads.
        let boundary: Vec<usize> = (0..n_in + cut)
            .filter(|&t| g.outputs.contains(&t) || g.layers[cut..].iter().any(|l| l.reads(t)))
            .collect();
        let index = |t: usize| match boundary.binary_search(&t) {
            Ok(i) => i,
            Err(_) => t - n_in - cut + boundary.len(),
        };
        let sub = LayerGraph {
            name: g.name.clone(),
            inputs: boundary.iter().map(|&t| g.tensor(t).clone()).collect(),
            layers: g.layers[cut..]
                .iter()
                .map(|l| {
                    let mut l = l.clone();
                    l.map_sources(index);
                    l
                })
                .collect(),
            outputs: g.outputs.iter().map(|&t| index(t)).collect(),
        };
        let views: Vec<ArrayView2<i64>> =
            boundary.iter().map(|&t| self.tensors[t].view()).collect();
        let inputs = concatenate(Axis(1), &views).expect("same number of samples");
        simulate(&sub, inputs.view(), &sub.outputs)
    }
}
