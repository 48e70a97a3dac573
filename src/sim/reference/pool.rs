//! Reference semantics: Windowed and global pools.

use super::arith::too_wide;
use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind, PoolOp};

/// The reference value of a pool.
pub(super) fn pool(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let channels = *xt.shape.last().unwrap();
    let LayerKind::Pool { op, window, .. } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let mut out = Vec::new();
        for p in 0..window.positions() {
            let taps: Vec<usize> = window.taps(p).into_iter().flatten().collect();
            for c in 0..channels {
                let vals = taps.iter().map(|&ip| x[ip * channels + c]);
                let y = match op {
                    PoolOp::Max => ty.cast(vals.max().expect("a window has a valid element"), fx),
                    PoolOp::AvgRecip(rty) => {
                        let s: i128 = vals.sum();
                        let r = crate::ir::layers::recip_mantissa(taps.len(), rty)
                            .expect("checked by the loader");
                        ty.cast(s.checked_mul(r).ok_or_else(wide)?, fx + rty.frac())
                    }
                    PoolOp::Sum | PoolOp::Avg => {
                        let s: i128 = vals.sum();
                        let k = if *op == PoolOp::Avg {
                            taps.len().trailing_zeros() as i32
                        } else {
                            0
                        };
                        ty.cast(s, fx + k)
                    }
                };
                out.push(y);
            }
        }
        out
    })
}
