//! Reference semantics of the layers beyond dense, relu, quantize and flatten: straight math
//! on exact mantissas, one sample at a time, written from docs/model-format.md and independent
//! of the netlist lowering. This file holds the exact arithmetic the concept files (`conv`, `pool`,
//! `merge`, `shape`, `activation`, `table`) share; `reference.rs` dispatches by kind.

use crate::error::Error;
use crate::ir::fixed::FixedType;
use crate::ir::layers::Layer;

/// An exact value: mantissa and fractional bits.
pub(super) type V = (i128, i32);

pub(super) fn align(a: V, f: i32) -> Option<i128> {
    a.0.checked_mul(1i128.checked_shl((f - a.1) as u32)?)
        .filter(|_| f - a.1 < 127)
}

pub(super) fn add(a: V, b: V) -> Option<V> {
    let f = a.1.max(b.1);
    Some((align(a, f)?.checked_add(align(b, f)?)?, f))
}

pub(super) fn mul(a: V, b: V) -> Option<V> {
    Some((a.0.checked_mul(b.0)?, a.1 + b.1))
}

/// `a > b`, exactly.
pub(super) fn gt(a: V, b: V) -> Option<bool> {
    let f = a.1.max(b.1);
    Some(align(a, f)? > align(b, f)?)
}

pub(super) fn cast(ty: &FixedType, v: V) -> i128 {
    ty.cast(v.0, v.1)
}

/// hls4ml's dense/conv arithmetic over `(x, w)` mantissa pairs (see `dense` in the format doc).
pub(super) fn dot(
    pairs: &[(i128, i128)],
    fx: i32,
    fw: i32,
    bias: V,
    accum: Option<&FixedType>,
    result: &FixedType,
) -> Option<i128> {
    match accum {
        Some(a) => {
            let mut acc = cast(a, bias);
            for &(x, w) in pairs {
                let p = cast(a, (x.checked_mul(w)?, fx + fw));
                acc = a.apply_overflow(acc + p);
            }
            Some(result.cast(acc, a.frac()))
        }
        None => {
            let mut acc = bias;
            for &(x, w) in pairs {
                acc = add(acc, (x.checked_mul(w)?, fx + fw))?;
            }
            Some(cast(result, acc))
        }
    }
}

/// hls4ml's `reduce`: the left part is the largest power of two below `n`.
pub(super) fn reduce(x: &[i128], f: i32, ty: &FixedType) -> i128 {
    match x.len() {
        1 => x[0],
        n => {
            let left = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let a = reduce(&x[..left], f, ty);
            let b = reduce(&x[left..], f, ty);
            ty.cast(a + b, f)
        }
    }
}

/// The error for a reference value of `layer` that leaves 127 bits.
pub(super) fn too_wide(layer: &Layer) -> impl Fn() -> Error + Copy + '_ {
    move || {
        Error::unsupported(
            format!("layer `{}`", layer.name),
            "reference: value exceeds 127 bits",
        )
    }
}
