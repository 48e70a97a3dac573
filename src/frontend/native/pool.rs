//! Loading windowed and global pools from the native model format.

use super::{Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{LayerGraph, LayerKind, Padding, PoolOp, Window};

impl Loader<'_> {
    pub(super) fn layer_pool(
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
                "name",
                "kind",
                "input",
                "pool_size",
                "strides",
                "padding",
                "result",
                "reciprocal",
            ],
            place,
        )?;
        let d = Self::spatial_rank(k);
        if x.shape.len() != d + 1 {
            return Err(rank_err(if d == 1 {
                "a [length, channels] input"
            } else {
                "a [height, width, channels] input"
            }));
        }
        let op = if k.starts_with("max") {
            PoolOp::Max
        } else {
            PoolOp::Avg
        };
        let op = self.reciprocal(o, op, place)?;
        let pool = self.per_axis(o, "pool_size", d, None, place)?;
        let strides = self.per_axis(o, "strides", d, Some(&pool), place)?;
        let padding = self.padding(o, place)?;
        if op == PoolOp::Avg && padding == Padding::Same {
            return Err(self.err(
                    &Self::fp(place, "padding"),
                    "average pooling supports only \"valid\" padding unless it has a `reciprocal` type (with \"same\", Keras divides border windows by their number of valid elements, which is not a power of two)",
                ));
        }
        let area: usize = pool.iter().product();
        if op == PoolOp::Avg && !area.is_power_of_two() {
            return Err(self.err(
                    &Self::fp(place, "pool_size"),
                    format!("average pooling over {area} elements: only power-of-two window sizes divide exactly; give a `reciprocal` type (e.g. \"ufixed<16,1>\") to multiply by a rounded 1/{area} instead"),
                ));
        }
        // Windows in the padding hold fewer elements.
        let least = if padding == Padding::Same { 1 } else { area };
        self.check_reciprocal(op, least..=area, place)?;
        let window = Window::new(&x.shape[..d], &pool, &strides, &vec![1; d], padding)
            .map_err(|m| self.err(&Self::fp(place, "pool_size"), m))?;
        let ty = self.ty(o, "result", place)?;
        let mut shape = window.out_dims.clone();
        shape.push(x.shape[d]);
        Ok((
            LayerKind::Pool {
                op,
                window,
                global: false,
            },
            shape,
            ty,
        ))
    }

    pub(super) fn layer_global_pool(
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

        self.check_keys(o, &["name", "kind", "input", "result", "reciprocal"], place)?;
        if x.shape.len() < 2 {
            return Err(rank_err(
                "an input with at least one axis before the channels ([N, C], [H, W, C], …)",
            ));
        }
        let d = x.shape.len() - 1;
        let op = match k {
            "global_max_pool" => PoolOp::Max,
            "global_avg_pool" => PoolOp::Avg,
            _ => PoolOp::Sum,
        };
        let op = self.reciprocal(o, op, place)?;
        let area: usize = x.shape[..d].iter().product();
        self.check_reciprocal(op, area..=area, place)?;
        if op == PoolOp::Avg && !area.is_power_of_two() {
            return Err(self.err(
                    &Self::fp(place, "kind"),
                    format!("global average pooling over {area} positions: only a power-of-two count divides exactly (use global_sum_pool, then a batchnorm scale)"),
                ));
        }
        let window = Window::new(
            &x.shape[..d],
            &x.shape[..d],
            &vec![1; d],
            &vec![1; d],
            Padding::Valid,
        )
        .expect("a window covering its input is valid");
        let ty = self.ty(o, "result", place)?;
        Ok((
            LayerKind::Pool {
                op,
                window,
                global: true,
            },
            vec![x.shape[d]],
            ty,
        ))
    }
}
