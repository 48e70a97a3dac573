//! Resource limits: refuse a model whose design would be enormous *before* lowering it.
//!
//! Lowering allocates one netlist node per scalar operation, and the scheduler, Verilog writer
//! and simulator all hold per-node state, so memory and time grow with the number of scalar
//! operations. A model file of a few megabytes can describe billions of them (a dense layer
//! applied to many rows multiplies its weight count by the row count), which would exhaust
//! memory long before any useful error. [`check`] estimates the operation count from the
//! layer graph alone — the nonzero canonical signed digits of every weight column times the
//! rows it is applied to, plus the element-wise layers — and refuses the model with an
//! explanation when the estimate exceeds the limit.
//!
//! The estimate is an upper bound on the adders of an unshared shift-and-add lowering (sharing
//! only removes adders); it ignores constant folding (measured: about 1.5× the final netlist's
//! node count). The default limit ([`DEFAULT_MAX_OPS`], 2 million) is far beyond any design that
//! fits an FPGA (a large one holds ~150 thousand 12-bit adders; the bundled jet tagger needs
//! about 10 thousand operations), and compiling up to it takes about 2.5 GB of memory and a few
//! minutes (docs/reliability.md: ~1.2 kB per estimated operation). The environment variable
//! `RTL4ML_MAX_OPS` sets another limit (`0`: no limit).

use super::csd::csd;
use crate::error::{Error, Result};
use crate::ir::layers::{LayerGraph, LayerKind};

/// Default limit on the estimated scalar operations of a design.
pub const DEFAULT_MAX_OPS: u64 = 2_000_000;

/// Environment variable overriding [`DEFAULT_MAX_OPS`] (`0` disables the check).
pub const MAX_OPS_ENV: &str = "RTL4ML_MAX_OPS";

/// An estimate of the scalar operations a layer graph lowers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Total over the model (saturating).
    pub total: u64,
    /// Per layer, in graph order: (layer name, estimated operations).
    pub layers: Vec<(String, u64)>,
}

/// Estimates the scalar operations of `g`: inputs count one each; a dense layer counts, per
/// row it is applied to, the nonzero signed digits of every weight plus three per output (bias,
/// rounding, overflow); a convolution likewise per output position; a lookup table (`sigmoid`,
/// `tanh`, `exp`, `softmax`) counts, per element, the entries of its ROM (the table's length, or
/// fewer when the input type has fewer values), since each element gets a ROM of its own in
/// the netlist and the Verilog; other layers count two per output element; flatten is free.
pub fn estimate(g: &LayerGraph) -> Estimate {
    let mut total: u64 = g.inputs.iter().map(|t| t.len() as u64).sum();
    let mut layers = Vec::with_capacity(g.layers.len());
    for l in &g.layers {
        let x = g.tensor(l.input);
        let ops = match &l.kind {
            LayerKind::Dense { weight, .. } => {
                let (n_in, n_out) = weight.data.dim();
                let rows = (x.len() / n_in.max(1)) as u64;
                let digits: u64 = weight
                    .data
                    .iter()
                    .map(|&w| {
                        if w == 0 {
                            0
                        } else {
                            csd(w as i128).len() as u64
                        }
                    })
                    .sum();
                rows.saturating_mul(digits.saturating_add(3 * n_out as u64))
            }
            LayerKind::Conv {
                weight,
                c_in,
                c_out,
                depthwise,
                ..
            } => {
                // Every output position applies the whole kernel once (depthwise: one slice
                // per input channel, which is again the whole kernel over all channels).
                let channels = if *depthwise { c_in * c_out } else { *c_out }.max(1);
                let positions = (l.output.len() / channels) as u64;
                let digits: u64 = weight
                    .data
                    .iter()
                    .map(|&w| {
                        if w == 0 {
                            0
                        } else {
                            csd(w as i128).len() as u64
                        }
                    })
                    .sum();
                positions.saturating_mul(digits.saturating_add(3 * channels as u64))
            }
            LayerKind::Table { table, .. } => {
                let entries = rom_entries(table.data.len(), x.ty.width);
                (x.len() as u64).saturating_mul(entries.saturating_add(2))
            }
            LayerKind::Softmax {
                exp_table,
                inv_table,
            } => {
                // An exp ROM per element, an inverse ROM per row (its index is a sum, wide).
                let channels = (*x.shape.last().unwrap_or(&1)).max(1) as u64;
                let rows = x.len() as u64 / channels;
                let exp = rom_entries(exp_table.data.len(), x.ty.width);
                let inv = inv_table.data.len() as u64;
                (x.len() as u64)
                    .saturating_mul(exp.saturating_add(4))
                    .saturating_add(rows.saturating_mul(inv))
            }
            LayerKind::Flatten => 0,
            LayerKind::Relu
            | LayerKind::Quantize
            | LayerKind::QuantizeEach { .. }
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
            | LayerKind::BatchNorm { .. } => 2 * l.output.len() as u64,
        };
        total = total.saturating_add(ops);
        layers.push((l.name.clone(), ops));
    }
    Estimate { total, layers }
}

/// Entries of one element's table ROM: at most the table's length, and at most the number of
/// values of a `width`-bit input.
fn rom_entries(table_len: usize, width: u32) -> u64 {
    let values = if width >= 63 { u64::MAX } else { 1u64 << width };
    (table_len as u64).min(values)
}

/// The limit in force: `RTL4ML_MAX_OPS` if set (0: none), else [`DEFAULT_MAX_OPS`].
pub fn max_ops() -> Result<Option<u64>> {
    match std::env::var(MAX_OPS_ENV) {
        Err(_) => Ok(Some(DEFAULT_MAX_OPS)),
        Ok(s) => match s.trim().replace('_', "").parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(Error::unsupported(
                MAX_OPS_ENV,
                format!("expected a whole number of operations (0 for no limit), got {s:?}"),
            )),
        },
    }
}

/// Refuses `g` when its estimated size exceeds the limit in force ([`max_ops`]).
pub fn check(g: &LayerGraph) -> Result<()> {
    let Some(limit) = max_ops()? else {
        return Ok(());
    };
    check_with(g, limit)
}

/// Refuses `g` when its estimated size exceeds `limit` scalar operations.
pub fn check_with(g: &LayerGraph, limit: u64) -> Result<()> {
    let e = estimate(g);
    if e.total <= limit {
        return Ok(());
    }
    let (name, ops) = e
        .layers
        .iter()
        .max_by_key(|(_, ops)| *ops)
        .cloned()
        .unwrap_or_else(|| ("(inputs)".into(), e.total));
    let place = if e.layers.is_empty() {
        "model inputs".to_string()
    } else {
        format!("layer `{name}`")
    };
    let table = g
        .layers
        .iter()
        .find(|l| l.name == name)
        .is_some_and(|l| matches!(l.kind, LayerKind::Table { .. } | LayerKind::Softmax { .. }));
    let what = if table {
        "This layer is a lookup table with a ROM of its own for each of its elements, one \
         operation per entry: use a smaller table or apply it to fewer elements"
    } else {
        "Prune or quantize the weights harder, make the layers smaller"
    };
    Err(Error::unsupported(
        place,
        format!(
            "the design would need about {} scalar operations ({} in this layer), more than the \
             limit of {}; a design this large fits no FPGA and compiling it would exhaust memory. \
             {what}, or set {MAX_OPS_ENV}=N to raise the limit (0 for none)",
            group(e.total),
            group(ops),
            group(limit)
        ),
    ))
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn groups_digits() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(5_000_000), "5,000,000");
        assert_eq!(group(u64::MAX), "18,446,744,073,709,551,615");
    }
}
