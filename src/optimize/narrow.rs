//! Lossless narrowing: rewrites types so that every output is bit-identical for every input
//! inside the declared input types, as proved by the interval analysis of [`super::analysis`].
//!
//! Rules, applied to the `result` type of each dense, relu and quantize layer and to dense
//! `accum` types, repeated until nothing changes. A tensor the model outputs keeps its type
//! (the hardware interface), and so does one that a lookup table reads (it indexes by bits):
//!
//! 1. **Grid.** Fractional bits below the grid of the values the cast receives are never
//!    used: the cast does not round, so the fraction shrinks to that grid (rounding mode TRN,
//!    which is then irrelevant).
//! 2. **Readers.** When the type truncates (TRN, or does not round at all) and every reader
//!    is a `relu` or `quantize` that casts to `F_r` fractional bits with TRN or RND, the
//!    fraction shrinks to `max(F_r + [RND])`: `⌊⌊x·2^F⌋ / 2^d⌋ = ⌊x·2^(F−d)⌋`, and RND needs
//!    one bit below its LSB (`⌊(⌊x·2^(F_r+1)⌋ + 1) / 2⌋ = ⌊x·2^F_r + ½⌋`). A ReLU sees the
//!    same sign decisions (values that floor to 0 round to 0 in the reader too).
//!    Rules 1 and 2 keep the integer bits, so they apply when the cast cannot overflow or
//!    wraps (a wrap commutes with dropping low bits); they never create an overflow.
//! 3. **Range.** When the rounded values provably fit the type, the integer bits shrink to
//!    the rounded range (unsigned when it is non-negative) and a saturating mode becomes
//!    WRAP (it never acts; WRAP needs no logic).
//! 4. **Accumulator.** An `accum` whose grid holds every product and the bias and whose range
//!    holds the whole sum computes the exact sum: it is dropped (exact accumulation).
//!
//! [`drop_identity_quantizers`] removes `quantize` layers whose cast is provably the
//! identity (their readers read the layer's input instead).

use super::analysis::{analyze, Analysis, Span};
use crate::error::Result;
use crate::ir::fixed::{FixedType, Overflow, Round, MAX_TYPE_WIDTH};
use crate::ir::interval::Interval;
use crate::ir::layers::{LayerGraph, LayerKind};

/// Passes over the layers before giving up on reaching a fixed point (each pass that changes
/// something strictly narrows a type, so this is never reached in practice).
const MAX_PASSES: usize = 16;

/// The model with every type narrowed losslessly (layers the analysis cannot handle keep
/// their types).
pub fn narrow(g: &LayerGraph) -> LayerGraph {
    let mut g = g.clone();
    let mut a = analyze(&g);
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        for k in 0..g.layers.len() {
            if let Some(acc) = narrower_accum(&g, &a, k) {
                if let LayerKind::Dense { accum, .. } = &mut g.layers[k].kind {
                    *accum = acc;
                }
            } else if let Some(ty) = narrower_result(&g, &a, k) {
                set_type(&mut g, k, ty);
            } else if let Some(types) = narrower_elements(&g, &a, k) {
                set_element_types(&mut g, k, types);
            } else {
                continue;
            }
            changed = true;
            a = analyze(&g);
        }
        if !changed {
            break;
        }
    }
    g
}

/// Layers that pass their input on with its type (flatten, reshape, transpose).
pub fn is_view(k: &LayerKind) -> bool {
    matches!(
        k,
        LayerKind::Flatten
            | LayerKind::Reshape
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
    )
}

/// Layers whose result depends on more than the values they read: lookup tables index by
/// the bits of their input's mantissa.
fn reads_bits(k: &LayerKind) -> bool {
    matches!(k, LayerKind::Table { .. } | LayerKind::Softmax { .. })
}

/// Sets layer `k`'s result type, and the type of every view that passes it on.
pub fn set_type(g: &mut LayerGraph, k: usize, ty: FixedType) {
    g.layers[k].output.ty = ty;
    let t = g.inputs.len() + k;
    for j in k + 1..g.layers.len() {
        if g.layers[j].input == t && is_view(&g.layers[j].kind) {
            set_type(g, j, ty);
        }
    }
}

/// Is tensor `t` a model output, directly or through views?
pub fn exposed(g: &LayerGraph, t: usize) -> bool {
    g.outputs.contains(&t)
        || g.layers
            .iter()
            .enumerate()
            .any(|(j, l)| l.input == t && is_view(&l.kind) && exposed(g, g.inputs.len() + j))
}

/// The layers that read tensor `t` by value (views looked through).
pub fn readers(g: &LayerGraph, t: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for (j, l) in g.layers.iter().enumerate() {
        if !l.reads(t) {
            continue;
        }
        match is_view(&l.kind) {
            true => out.extend(readers(g, g.inputs.len() + j)),
            false => out.push(j),
        }
    }
    out
}

/// May tensor `t` change type? Not when it is a model output (the hardware interface) or a
/// reader looks at its bits rather than its values.
pub fn retypable(g: &LayerGraph, t: usize) -> bool {
    !exposed(g, t) && !readers(g, t).iter().any(|&j| reads_bits(&g.layers[j].kind))
}

/// The fewest fractional bits tensor `t` may truncate to without changing any reader's
/// result (rule 2); `None` when some reader needs the exact value.
fn readers_need(g: &LayerGraph, t: usize) -> Option<i32> {
    let rs = readers(g, t);
    if rs.is_empty() {
        return None;
    }
    rs.into_iter()
        .map(|j| {
            let l = &g.layers[j];
            let c = l.output.ty;
            let need = |c: &FixedType| match c.round {
                Round::Trn => Some(c.frac()),
                Round::Rnd => Some(c.frac() + 1),
                _ => None,
            };
            match &l.kind {
                LayerKind::Relu | LayerKind::Quantize => need(&c),
                // Per element: the finest any element needs (an always-zero type reads nothing).
                LayerKind::QuantizeEach { types } => types
                    .iter()
                    .filter(|t| !is_zero_type(t))
                    .map(need)
                    .try_fold(i32::MIN, |m, n| Some(m.max(n?))),
                LayerKind::Dense { .. }
                | LayerKind::Flatten
                | LayerKind::Conv { .. }
                | LayerKind::Pool { .. }
                | LayerKind::Merge { .. }
                | LayerKind::Concatenate { .. }
                | LayerKind::Reshape
                | LayerKind::Transpose { .. }
                | LayerKind::Slice { .. }
                | LayerKind::ReluCap { .. }
                | LayerKind::LeakyRelu { .. }
                | LayerKind::HardSigmoid { .. }
                | LayerKind::Argmax
                | LayerKind::BatchNorm { .. }
                | LayerKind::Table { .. }
                | LayerKind::Softmax { .. } => None,
            }
        })
        .try_fold(i32::MIN, |m, n| Some(m.max(n?)))
}

/// The values layer `k`'s result cast acts on (a ReLU casts only its positive inputs).
fn cast_source(g: &LayerGraph, a: &Analysis, k: usize) -> Option<Span> {
    let s = a.source_hull(k)?;
    match g.layers[k].kind {
        LayerKind::Relu if s.hi <= 0 => None,
        LayerKind::Relu => Some(Span {
            lo: s.lo.max(0),
            ..s
        }),
        LayerKind::Dense { .. }
        | LayerKind::Quantize
        | LayerKind::QuantizeEach { .. }
        | LayerKind::Flatten
        | LayerKind::Conv { .. }
        | LayerKind::Pool { .. }
        | LayerKind::Merge { .. }
        | LayerKind::Concatenate { .. }
        | LayerKind::Reshape
        | LayerKind::Transpose { .. }
        | LayerKind::Slice { .. }
        | LayerKind::ReluCap { .. }
        | LayerKind::LeakyRelu { .. }
        | LayerKind::HardSigmoid { .. }
        | LayerKind::Argmax
        | LayerKind::BatchNorm { .. }
        | LayerKind::Table { .. }
        | LayerKind::Softmax { .. } => Some(s),
    }
}

/// Rules 1–3 for layer `k`'s result type.
fn narrower_result(g: &LayerGraph, a: &Analysis, k: usize) -> Option<FixedType> {
    let layer = &g.layers[k];
    let t = g.inputs.len() + k;
    if !matches!(
        layer.kind,
        LayerKind::Dense { .. } | LayerKind::Relu | LayerKind::Quantize
    ) || !retypable(g, t)
    {
        return None;
    }
    let src = cast_source(g, a, k).filter(|s| !s.is_zero())?;
    let old = layer.output.ty;
    let (mut f, mut round) = (old.frac(), old.round);
    if !src.overflows(&old)? || old.overflow == Overflow::Wrap {
        if f >= src.frac {
            (f, round) = (src.frac, Round::Trn); // rule 1: nothing is rounded
        }
        if round == Round::Trn {
            // Rule 2: the cast now truncates (or still does nothing).
            f = f.min(readers_need(g, t).unwrap_or(f));
        }
    }
    with_frac_bits(&src, old, f, round)
}

/// Does `t` hold only the value 0 (`ufixed<1,0,TRN,SAT_NARROW>`, an element given no bits)?
pub fn is_zero_type(t: &FixedType) -> bool {
    t.min_mantissa() == 0 && t.max_mantissa() == 0
}

/// The narrowest type that holds every value of every type in `types` exactly (the result
/// type of a per-element `quantize`); `None` when there is no such type of at most
/// [`MAX_TYPE_WIDTH`] bits.
pub fn hull_type(types: &[FixedType]) -> Option<FixedType> {
    let live: Vec<&FixedType> = types.iter().filter(|t| !is_zero_type(t)).collect();
    let Some(f) = live.iter().map(|t| t.frac()).max() else {
        return Some(FixedType::new(false, 1, 1)); // every element is 0
    };
    let (mut lo, mut hi) = (0i128, 0i128);
    for t in live {
        let s = u32::try_from(f - t.frac()).ok()?;
        lo = lo.min(t.min_mantissa().checked_shl(s)?);
        hi = hi.max(t.max_mantissa().checked_shl(s)?);
    }
    let signed = lo < 0;
    let width = match signed {
        true => Interval::new(lo, hi).width(),
        false => Interval::new(0, hi).width(),
    };
    (width <= MAX_TYPE_WIDTH).then(|| FixedType {
        signed,
        width,
        int_bits: width as i32 - f,
        round: Round::Trn,
        overflow: Overflow::Wrap,
    })
}

/// Sets the element types of per-element `quantize` layer `k`, and its result type to their
/// hull (the views that pass it on follow).
pub fn set_element_types(g: &mut LayerGraph, k: usize, types: Vec<FixedType>) {
    let hull = hull_type(&types).expect("element types no wider than their old hull");
    g.layers[k].kind = LayerKind::QuantizeEach { types };
    set_type(g, k, hull);
}

/// Rules 1 and 3, element by element, for a per-element `quantize` layer `k` (its result
/// type, the hull of the element types, then follows them). An output keeps its types.
fn narrower_elements(g: &LayerGraph, a: &Analysis, k: usize) -> Option<Vec<FixedType>> {
    let LayerKind::QuantizeEach { types } = &g.layers[k].kind else {
        return None;
    };
    if !retypable(g, g.inputs.len() + k) {
        return None;
    }
    let src = a.sources[k].as_ref()?;
    let new: Vec<FixedType> = types
        .iter()
        .zip(src)
        .map(|(&old, s)| narrower_cast(s, old).unwrap_or(old))
        .collect();
    hull_type(&new)?;
    (new != *types).then_some(new)
}

/// `old` with `f` fractional bits and rounding `round` (its integer bits kept), then rule 3:
/// when the rounded values provably fit, the integer bits shrink to their range (unsigned when
/// non-negative) and the overflow mode becomes WRAP. `None` unless that is narrower.
fn with_frac_bits(src: &Span, old: FixedType, f: i32, round: Round) -> Option<FixedType> {
    let width = i64::from(old.int_bits) + i64::from(f);
    let mut new = FixedType {
        width: u32::try_from(width).ok().filter(|&w| w >= 1)?,
        round,
        ..old
    };
    let r = src.rounded(&new)?;
    if new.keeps(r.lo) && new.keeps(r.hi) {
        let signed = r.lo < 0;
        let w = if signed {
            r.width()
        } else {
            Interval::new(0, r.hi).width()
        };
        new = FixedType {
            signed,
            width: w,
            int_bits: w as i32 - f,
            round,
            overflow: Overflow::Wrap,
        };
    }
    (new != old && new.width <= old.width).then_some(new)
}

/// Rules 1 and 3 for one cast of the values `src` to `old` (rule 2 needs the readers of the
/// whole tensor); `None` when nothing narrows. A cast whose values are all 0 becomes the
/// always-zero type.
fn narrower_cast(src: &Span, old: FixedType) -> Option<FixedType> {
    if is_zero_type(&old) {
        return None;
    }
    if src.is_zero() {
        return Some(FixedType {
            signed: false,
            width: 1,
            int_bits: 0,
            round: Round::Trn,
            overflow: Overflow::SatNarrow,
        });
    }
    let (mut f, mut round) = (old.frac(), old.round);
    if (!src.overflows(&old)? || old.overflow == Overflow::Wrap) && f >= src.frac {
        (f, round) = (src.frac, Round::Trn); // rule 1: nothing is rounded
    }
    with_frac_bits(src, old, f, round)
}

/// Rule 4: `Some(None)` when layer `k`'s accumulator can be dropped.
fn narrower_accum(g: &LayerGraph, a: &Analysis, k: usize) -> Option<Option<FixedType>> {
    let LayerKind::Dense {
        accum: Some(acc), ..
    } = &g.layers[k].kind
    else {
        return None;
    };
    let info = a.accum[k].as_ref()?;
    let fits = info
        .sum
        .iter()
        .all(|s| s.overflows(acc).is_some_and(|o| !o));
    (info.terms_exact && fits).then_some(None)
}

/// Narrowing to observed ranges: every `relu`, `quantize` and pooling result that is not a
/// model output keeps only the integer bits that the values it takes on the calibration inputs
/// `calib` need, times `margin` (≥ 1), and saturates (a WRAP type becomes SAT): a value beyond
/// the declared margin clamps instead of wrapping. Its fraction and rounding are kept, so on
/// the calibration set every value is unchanged; elsewhere nothing is proved (the report marks
/// these types as observed). Then the lossless rules run again.
pub fn observed(g: &LayerGraph, calib: &ndarray::Array2<i64>, margin: f64) -> Result<LayerGraph> {
    let cache = super::cache::Cache::new(g, calib)?;
    let mut out = g.clone();
    for (k, l) in g.layers.iter().enumerate() {
        let t = g.inputs.len() + k;
        let activation = matches!(
            l.kind,
            LayerKind::Relu | LayerKind::Quantize | LayerKind::Pool { .. }
        );
        if !activation || !retypable(g, t) {
            continue;
        }
        let ty = l.output.ty;
        let m = cache.tensor(t);
        let (lo, hi) = m
            .iter()
            .fold((0i64, 0i64), |(a, b), &v| (a.min(v), b.max(v)));
        let (lo, hi) = (lo as f64 * margin, hi as f64 * margin);
        // The fewest bits holding [lo, hi] (mantissas at the type's own fraction).
        let width = (1..=ty.width)
            .find(|&w| {
                let (min, max) = match ty.signed {
                    true => (-(2f64.powi(w as i32 - 1)), 2f64.powi(w as i32 - 1) - 1.0),
                    false => (0.0, 2f64.powi(w as i32) - 1.0),
                };
                min <= lo && hi <= max
            })
            .unwrap_or(ty.width);
        if width < ty.width {
            let overflow = match ty.overflow {
                Overflow::Wrap => Overflow::Sat,
                o => o,
            };
            let narrower = FixedType {
                width,
                int_bits: ty.int_bits - (ty.width - width) as i32,
                overflow,
                ..ty
            };
            set_type(&mut out, k, narrower);
        }
    }
    Ok(narrow(&out))
}

/// Removes every `quantize` layer (also per element; not an output) whose cast provably
/// changes no value.
pub fn drop_identity_quantizers(g: &LayerGraph) -> LayerGraph {
    let mut g = g.clone();
    while let Some(k) = identity_quantizer(&g) {
        g = remove_layer(&g, k);
    }
    g
}

fn identity_quantizer(g: &LayerGraph) -> Option<usize> {
    let a = analyze(g);
    (0..g.layers.len()).find(|&k| {
        let l = &g.layers[k];
        let identity = |x: &Span, t: &FixedType| x.is_zero() || x.cast(t) == Some(*x);
        let cast_nothing = match &l.kind {
            LayerKind::Quantize => a
                .tensor_hull(l.input)
                .is_some_and(|x| identity(&x, &l.output.ty)),
            // Per element: every element's cast changes nothing, and the tensor's readers may
            // read the input's own type.
            LayerKind::QuantizeEach { types } => {
                a.tensors[l.input]
                    .iter()
                    .zip(types)
                    .all(|(x, t)| identity(x, t))
                    && a.tensor_hull(l.input)
                        .is_some_and(|x| identity(&x, &l.output.ty))
            }
            LayerKind::Dense { .. }
            | LayerKind::Relu
            | LayerKind::Flatten
            | LayerKind::Conv { .. }
            | LayerKind::Pool { .. }
            | LayerKind::Merge { .. }
            | LayerKind::Concatenate { .. }
            | LayerKind::Reshape
            | LayerKind::Transpose { .. }
            | LayerKind::Slice { .. }
            | LayerKind::ReluCap { .. }
            | LayerKind::LeakyRelu { .. }
            | LayerKind::HardSigmoid { .. }
            | LayerKind::Argmax
            | LayerKind::BatchNorm { .. }
            | LayerKind::Table { .. }
            | LayerKind::Softmax { .. } => false,
        };
        cast_nothing && retypable(g, g.inputs.len() + k)
    })
}

/// Removes layer `k`; its readers read its input instead.
fn remove_layer(g: &LayerGraph, k: usize) -> LayerGraph {
    let n_in = g.inputs.len();
    let removed = n_in + k;
    let source = g.layers[k].input;
    let remap = |t: usize| match t {
        t if t == removed => source,
        t if t > removed => t - 1,
        t => t,
    };
    let mut out = LayerGraph {
        name: g.name.clone(),
        inputs: g.inputs.clone(),
        layers: Vec::with_capacity(g.layers.len() - 1),
        outputs: g.outputs.iter().map(|&t| remap(t)).collect(),
    };
    for (j, l) in g.layers.iter().enumerate() {
        if j == k {
            continue;
        }
        let mut l = l.clone();
        l.map_sources(remap);
        if is_view(&l.kind) {
            l.output.ty = out.tensor(l.input).ty;
        }
        out.layers.push(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::native::parse;

    fn model(layers: &str, input: &str) -> LayerGraph {
        let text = format!(
            r#"{{"format": "rtl4ml-model", "version": 1, "name": "t",
                "inputs": [{{"name": "x", "shape": [2], "type": "{input}"}}],
                "layers": [{layers}], "outputs": ["out"]}}"#
        );
        parse(&text, "t").unwrap()
    }

    fn ty(s: &str) -> FixedType {
        s.parse().unwrap()
    }

    #[test]
    fn grid_readers_and_range() {
        // x in [-8, 8) in quarters; weights 0.5 and -0.25: the sum is in [-6, 6] in sixteenths
        // of which only eighths occur (0.5·x is on the eighth grid, 0.25·x on the sixteenth).
        let g = model(
            r#"{"name": "d", "kind": "dense",
                "weight": {"type": "fixed<4,1>", "shape": [2, 1], "data": [4, -2]},
                "result": "fixed<20,8,RND,SAT>"},
               {"name": "r", "kind": "relu", "result": "ufixed<6,3,RND,SAT>"},
               {"name": "out", "kind": "quantize", "result": "fixed<9,5>"}"#,
            "fixed<6,4>",
        );
        let n = narrow(&g);
        // d: rounds nothing (sixteenths < 2^-12), the relu rounds to eighths with RND (needs
        // sixteenths), no overflow: range [-96, 96] sixteenths → fixed<8,4>.
        assert_eq!(n.layers[0].output.ty, ty("fixed<8,4>"));
        // r: [0, 6] rounded to eighths fits ufixed<6,3>: SAT never acts.
        assert_eq!(n.layers[1].output.ty, ty("ufixed<6,3,RND>"));
        // The output keeps its type.
        assert_eq!(n.layers[2].output.ty, g.layers[2].output.ty);
    }

    /// Per-element casts narrow element by element (rule 1: a grid coarser than the type;
    /// rule 3: a range that fits, SAT becomes WRAP; a cast of nothing but 0 becomes the
    /// always-zero type), the result type follows their hull, and the outputs stay
    /// bit-identical on every input.
    #[test]
    fn per_element_casts_narrow_bit_identically() {
        let g = model(
            r#"{"name": "q", "kind": "quantize", "element_types":
                  ["fixed<10,6,RND,SAT>", "ufixed<8,4,TRN,SAT>"], "result": "fixed<11,6>"},
               {"name": "d", "kind": "dense",
                "weight": {"type": "fixed<4,1>", "shape": [2, 2], "data": [4, -3, 0, 5]},
                "result": "fixed<20,10>"},
               {"name": "out", "kind": "quantize", "result": "fixed<20,10>"}"#,
            "fixed<4,2>",
        );
        let n = narrow(&g);
        let LayerKind::QuantizeEach { types } = &n.layers[0].kind else {
            panic!("still per element")
        };
        // x in [-2, 1.75] in quarters: element 0 needs no rounding and fits (fixed<4,2>);
        // element 1 clamps negatives to 0: its saturation acts, so it keeps its type (a
        // coarser grid would move its largest value).
        assert_eq!(types[0], ty("fixed<4,2>"));
        assert_eq!(types[1], ty("ufixed<8,4,TRN,SAT>"));
        assert!(types.iter().all(|t| holds(&n.layers[0].output.ty, t)));
        let all: Vec<i64> = (-8..8).collect();
        for &a in &all {
            for &b in &all {
                let (ya, yb) = (
                    crate::sim::reference::evaluate(&g, &[a, b]).unwrap(),
                    crate::sim::reference::evaluate(&n, &[a, b]).unwrap(),
                );
                assert_eq!(ya, yb, "input ({a}, {b})");
            }
        }
    }

    fn holds(c: &FixedType, t: &FixedType) -> bool {
        crate::ir::layers::holds_exactly(c, t)
    }

    #[test]
    fn wrap_that_can_overflow_keeps_its_integer_bits() {
        let g = model(
            r#"{"name": "d", "kind": "dense",
                "weight": {"type": "int<4>", "shape": [2, 1], "data": [7, 7]},
                "result": "fixed<12,4>"},
               {"name": "out", "kind": "relu", "result": "ufixed<4,4>"}"#,
            "fixed<8,8>",
        );
        // Sums reach ±1792 > 8: the wrap acts. The relu truncates to integers, so the
        // fraction goes (8 → 0) but the integer bits stay 4.
        let n = narrow(&g);
        assert_eq!(n.layers[0].output.ty, ty("fixed<4,4>"));
    }

    #[test]
    fn exact_accumulator_is_dropped_and_identity_quantizer_removed() {
        let g = model(
            r#"{"name": "q", "kind": "quantize", "result": "fixed<10,6,RND,SAT>"},
               {"name": "d", "kind": "dense",
                "weight": {"type": "int<3>", "shape": [2, 1], "data": [1, -2]},
                "accum": "fixed<16,8,TRN,SAT>", "result": "fixed<12,8>"},
               {"name": "out", "kind": "quantize", "result": "fixed<16,8>", "input": "d"}"#,
            "fixed<8,4>",
        );
        let n = narrow(&g);
        let LayerKind::Dense { accum, .. } = &n.layers[1].kind else {
            panic!()
        };
        assert_eq!(*accum, None);
        // q holds x unchanged (fixed<8,4> fits fixed<10,6> on its grid): it goes away.
        let d = drop_identity_quantizers(&n);
        assert_eq!(d.layers.len(), 2);
        assert_eq!(d.layers[0].input, 0);
        assert_eq!(d.outputs, vec![2]);
    }
}
