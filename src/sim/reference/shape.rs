//! Reference semantics: Transposes and slices.

use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind};

/// The reference value of a transpose.
pub(super) fn transpose(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let LayerKind::Transpose { perm } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let s = &xt.shape;
        let r = s.len();
        let mut strides = vec![1usize; r];
        for a in (0..r - 1).rev() {
            strides[a] = strides[a + 1] * s[a + 1];
        }
        let oshape: Vec<usize> = perm.iter().map(|&a| s[a]).collect();
        (0..x.len())
            .map(|e| {
                // Output multi-index of element e, mapped back to the input.
                let mut rem = e;
                let mut src = 0;
                for i in (0..r).rev() {
                    let idx = rem % oshape[i];
                    rem /= oshape[i];
                    src += idx * strides[perm[i]];
                }
                x[src]
            })
            .collect()
    })
}

/// The reference value of a slice.
pub(super) fn slice(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let LayerKind::Slice { begin, end, step } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        // Output element by output element: per axis, begin + index · step.
        let s = &xt.shape;
        let r = s.len();
        let out: Vec<usize> = (0..r)
            .map(|a| (end[a] - begin[a]).div_ceil(step[a]))
            .collect();
        let n: usize = out.iter().product();
        let mut y = Vec::with_capacity(n);
        let mut idx = vec![0usize; r];
        for _ in 0..n {
            let mut src = 0;
            for a in 0..r {
                src = src * s[a] + begin[a] + idx[a] * step[a];
            }
            y.push(x[src]);
            for a in (0..r).rev() {
                idx[a] += 1;
                if idx[a] < out[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        y
    })
}
