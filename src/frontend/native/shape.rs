//! Loading reshape, transpose and slice from the native model format.

use super::{Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::FixedType;
use crate::ir::layers::{LayerGraph, LayerKind};

impl Loader<'_> {
    pub(super) fn layer_reshape(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "shape"], place)?;
        let sp = Self::fp(place, "shape");
        let shape = self.shape(self.field(o, "shape", place)?, &sp)?;
        let n: usize = shape.iter().product();
        if n != x.len() {
            return Err(self.err(
                &sp,
                format!(
                    "{shape:?} has {n} elements, but the input `{}` ({:?}) has {}",
                    x.name,
                    x.shape,
                    x.len()
                ),
            ));
        }
        Ok((LayerKind::Reshape, shape, x.ty))
    }

    pub(super) fn layer_transpose(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "perm"], place)?;
        let pp = Self::fp(place, "perm");
        let v = self.field(o, "perm", place)?;
        let r = x.shape.len();
        let perm: Option<Vec<usize>> = v
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
        let ok = perm.as_ref().is_some_and(|p| {
            let mut s = p.clone();
            s.sort_unstable();
            s == (0..r).collect::<Vec<_>>()
        });
        if !ok {
            return Err(self.err(
                &pp,
                format!(
                    "expected a permutation of 0..{r} (the input `{}` has shape {:?}), found {v}",
                    x.name, x.shape
                ),
            ));
        }
        let perm = perm.unwrap();
        let shape = perm.iter().map(|&a| x.shape[a]).collect();
        Ok((LayerKind::Transpose { perm }, shape, x.ty))
    }

    pub(super) fn layer_slice(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "begin", "end", "step"], place)?;
        let r = x.shape.len();
        let list = |key: &str, default: Option<Vec<usize>>| -> Result<Vec<usize>> {
            let kp = Self::fp(place, key);
            let v = match (o.get(key), default) {
                (None, Some(d)) => return Ok(d),
                (None, None) => {
                    return Err(self.err(
                        place,
                        format!("missing field `{key}` (one integer per input axis, {r} in all)"),
                    ))
                }
                (Some(v), _) => v,
            };
            v.as_array()
                    .filter(|a| a.len() == r)
                    .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| self.err(&kp, format!("expected {r} non-negative integers (one per axis of the input `{}`, shape {:?}), found {v}", x.name, x.shape)))
        };
        let begin = list("begin", Some(vec![0; r]))?;
        let end = list("end", Some(x.shape.clone()))?;
        let step = list("step", Some(vec![1; r]))?;
        for a in 0..r {
            if step[a] == 0 {
                return Err(self.err(
                    &Self::fp(place, "step"),
                    format!("axis {a}: the step must be at least 1"),
                ));
            }
            if !(begin[a] < end[a] && end[a] <= x.shape[a]) {
                return Err(self.err(
                        &Self::fp(place, "end"),
                        format!("axis {a}: expected 0 ≤ begin < end ≤ {} (the input `{}` has shape {:?}), found begin {} and end {}", x.shape[a], x.name, x.shape, begin[a], end[a]),
                    ));
            }
        }
        let shape = (0..r)
            .map(|a| (end[a] - begin[a]).div_ceil(step[a]))
            .collect();
        Ok((LayerKind::Slice { begin, end, step }, shape, x.ty))
    }
}
