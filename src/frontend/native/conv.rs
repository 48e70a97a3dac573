//! Loading convolutions and batch normalisation from the native model format.

use super::{Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{Constant, LayerGraph, LayerKind, Window};
use serde_json::Value;

impl Loader<'_> {
    pub(super) fn layer_conv(
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

        self.check_keys(
            o,
            &[
                "name", "kind", "input", "weight", "bias", "accum", "result", "strides", "padding",
                "dilation",
            ],
            place,
        )?;
        let d = Self::spatial_rank(k);
        let depthwise = k.starts_with("depthwise");
        if x.shape.len() != d + 1 {
            return Err(rank_err(if d == 1 {
                "a [length, channels] input"
            } else {
                "a [height, width, channels] input"
            }));
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

    pub(super) fn layer_batchnorm(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(
            o,
            &["name", "kind", "input", "scale", "bias", "result"],
            place,
        )?;
        let c = *x.shape.last().unwrap();
        let what = format!("one per channel (the last axis of `{}`), {c}", x.name);
        let scale = self.vector(o, "scale", c, &what, place)?;
        let bias = match o.get("bias") {
            None | Some(Value::Null) => Constant {
                ty: FixedType::new(true, 1, 1),
                data: vec![0; c],
            },
            Some(_) => self.vector(o, "bias", c, &what, place)?,
        };
        let ty = self.ty(o, "result", place)?;
        Ok((LayerKind::BatchNorm { scale, bias }, x.shape.clone(), ty))
    }
}
