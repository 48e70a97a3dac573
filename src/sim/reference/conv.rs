//! Reference semantics: Convolutions and batch normalisation.

use super::arith::*;
use crate::error::Result;
use crate::ir::layers::{Layer, LayerGraph, LayerKind};

/// The reference value of a convolution.
pub(super) fn conv(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let LayerKind::Conv {
        weight,
        bias,
        accum,
        window,
        c_in,
        c_out,
        depthwise,
    } = &layer.kind
    else {
        unreachable!("dispatched by kind")
    };
    Ok({
        let (c_in, c_out) = (*c_in, *c_out);
        let fw = weight.ty.frac();
        let n_ch = if *depthwise { c_in * c_out } else { c_out };
        let mut out = Vec::new();
        for p in 0..window.positions() {
            let taps = window.taps(p);
            for o in 0..n_ch {
                let mut pairs = Vec::new();
                for (t, pos) in taps.iter().enumerate() {
                    let Some(ip) = pos else { continue };
                    if *depthwise {
                        let (ci, m) = (o / c_out, o % c_out);
                        pairs.push((
                            x[ip * c_in + ci],
                            weight.data[(t * c_in + ci) * c_out + m] as i128,
                        ));
                    } else {
                        for ci in 0..c_in {
                            pairs.push((
                                x[ip * c_in + ci],
                                weight.data[(t * c_in + ci) * c_out + o] as i128,
                            ));
                        }
                    }
                }
                let b = (bias.data[o] as i128, bias.ty.frac());
                out.push(dot(&pairs, fx, fw, b, accum.as_ref(), &ty).ok_or_else(wide)?);
            }
        }
        out
    })
}

/// The reference value of a batch normalisation.
pub(super) fn batchnorm(g: &LayerGraph, layer: &Layer, values: &[Vec<i128>]) -> Result<Vec<i128>> {
    let wide = too_wide(layer);
    let x = &values[layer.input];
    let xt = g.tensor(layer.input);
    let fx = xt.ty.frac();
    let ty = layer.output.ty;
    let channels = *xt.shape.last().unwrap();
    let LayerKind::BatchNorm { scale, bias } = &layer.kind else {
        unreachable!("dispatched by kind")
    };
    Ok({
        x.iter()
            .enumerate()
            .map(|(e, &v)| {
                let c = e % channels;
                let y = mul((v, fx), (scale.data[c] as i128, scale.ty.frac()))
                    .and_then(|p| add(p, (bias.data[c] as i128, bias.ty.frac())))
                    .ok_or_else(wide)?;
                Ok(cast(&ty, y))
            })
            .collect::<Result<_>>()?
    })
}
