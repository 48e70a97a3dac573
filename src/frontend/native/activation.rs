//! Loading capped and leaky ReLU, hard sigmoid/tanh, argmax from the native model format.

use super::{Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{LayerGraph, LayerKind};
use serde_json::Value;

impl Loader<'_> {
    pub(super) fn layer_relu_cap(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "cap", "result"], place)?;
        let cap = self.scalar(o, "cap", place)?;
        if cap.data <= 0 {
            return Err(self.err(
                &Self::fp(place, "cap.value"),
                format!("the cap must be positive, found {}", cap.data),
            ));
        }
        let ty = self.ty(o, "result", place)?;
        Ok((LayerKind::ReluCap { cap }, x.shape.clone(), ty))
    }

    pub(super) fn layer_leaky_relu(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "alpha", "result"], place)?;
        let alpha = self.scalar(o, "alpha", place)?;
        let ty = self.ty(o, "result", place)?;
        Ok((LayerKind::LeakyRelu { alpha }, x.shape.clone(), ty))
    }

    pub(super) fn layer_hard_sigmoid(
        &self,
        k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(
            o,
            &["name", "kind", "input", "slope", "shift", "result"],
            place,
        )?;
        let slope = self.scalar(o, "slope", place)?;
        let shift = self.scalar(o, "shift", place)?;
        let ty = self.ty(o, "result", place)?;
        Ok((
            LayerKind::HardSigmoid {
                slope,
                shift,
                tanh: k == "hard_tanh",
            },
            x.shape.clone(),
            ty,
        ))
    }

    pub(super) fn layer_argmax(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "result"], place)?;
        let n = *x.shape.last().unwrap();
        let ty = match o.get("result") {
            None | Some(Value::Null) => {
                let bits = (usize::BITS - (n - 1).leading_zeros()).max(1);
                FixedType::new(false, bits, bits as i32)
            }
            Some(_) => self.ty(o, "result", place)?,
        };
        let shape = if x.shape.len() == 1 {
            vec![1]
        } else {
            x.shape[..x.shape.len() - 1].to_vec()
        };
        Ok((LayerKind::Argmax, shape, ty))
    }
}
