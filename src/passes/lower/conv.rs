//! Convolutions (a dense layer over each receptive field, sharing subexpressions across the
//! output channels of a position) and batch normalisation (a per-channel affine map).

use super::{Lowering, Site};
use crate::error::{Error, Result};
use crate::ir::layers::LayerKind;
use crate::ir::netlist::{BuildError, NodeId};
use std::collections::HashSet;

impl Lowering {
    /// Lowers a convolution (1-D or 2-D, depthwise or not).
    pub(super) fn lower_conv(
        &mut self,
        site: &Site<'_>,
        rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let ty = site.ty;
        let opts = site.opts;
        let layer = &g.layers[k];
        let place = format!("layer `{}`", layer.name);
        let err = |m: BuildError| Error::lower(&place, m);
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let fx = xt.ty.frac();
        let _channels = *xt.shape.last().unwrap();
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
        let out = {
            let (c_in, c_out) = (*c_in, *c_out);
            let fw = weight.ty.frac();
            let n_ch = if *depthwise { c_in * c_out } else { c_out };
            let mut rows_terms = Vec::with_capacity(window.positions());
            for p in 0..window.positions() {
                let taps = window.taps(p);
                let mut columns = Vec::with_capacity(n_ch);
                for o in 0..n_ch {
                    let (mut xs, mut ws) = (Vec::new(), Vec::new());
                    for (t, pos) in taps.iter().enumerate() {
                        let Some(ip) = pos else { continue };
                        if *depthwise {
                            let (ci, m) = (o / c_out, o % c_out);
                            xs.push(x[ip * c_in + ci]);
                            ws.push(weight.data[(t * c_in + ci) * c_out + m]);
                        } else {
                            for ci in 0..c_in {
                                xs.push(x[ip * c_in + ci]);
                                ws.push(weight.data[(t * c_in + ci) * c_out + o]);
                            }
                        }
                    }
                    let (xs, fxs) = self.narrowed(&xs, fx);
                    let terms = self
                        .dense_terms(
                            &xs,
                            &fxs,
                            &ws,
                            fw,
                            bias.data[o],
                            bias.ty.frac(),
                            accum.as_ref(),
                        )
                        .map_err(|m| {
                            Error::lower(format!("{place}, position {p}, channel {o}"), m)
                        })?;
                    columns.push(terms);
                }
                // The same weights meet different inputs at every position, so sharing pays
                // off across the channels of one position (as across a dense layer's outputs).
                // (Sharing over all positions at once found only 0-10% fewer adders on
                // stride-1 3x3 convolutions, at twice the compile time.)
                let pairs: usize = columns.iter().map(|c| c.len() * c.len() / 2).sum();
                let exact = columns.clone();
                if opts.share && pairs <= 4_000_000 {
                    self.share_subexpressions(&mut columns).map_err(err)?;
                }
                rows_terms.push((columns, exact));
            }
            self.finish_rows(
                g,
                k,
                rows_terms,
                accum.as_ref(),
                ty,
                rounded_upstream,
                &place,
            )?
        };
        Ok(out)
    }

    /// Lowers a batch normalisation (one scale and offset per channel).
    pub(super) fn lower_batchnorm(
        &mut self,
        site: &Site<'_>,
        rounded_upstream: &mut HashSet<usize>,
    ) -> Result<Vec<NodeId>> {
        let g = site.g;
        let k = site.k;
        let tensors = site.tensors;
        let ty = site.ty;
        let layer = &g.layers[k];
        let place = format!("layer `{}`", layer.name);
        let err = |m: BuildError| Error::lower(&place, m);
        let x = &tensors[layer.input];
        let xt = g.tensor(layer.input);
        let fx = xt.ty.frac();
        let channels = *xt.shape.last().unwrap();
        let LayerKind::BatchNorm { scale, bias } = &layer.kind else {
            unreachable!("dispatched by kind")
        };
        let out = {
            let mut rows_terms = Vec::with_capacity(x.len());
            for (e, &xe) in x.iter().enumerate() {
                let c = e % channels;
                let terms = self
                    .dense_terms(
                        &[xe],
                        &[fx],
                        &[scale.data[c]],
                        scale.ty.frac(),
                        bias.data[c],
                        bias.ty.frac(),
                        None,
                    )
                    .map_err(err)?;
                rows_terms.push((vec![terms.clone()], vec![terms]));
            }
            self.finish_rows(g, k, rows_terms, None, ty, rounded_upstream, &place)?
        };
        Ok(out)
    }
}
