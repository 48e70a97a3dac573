//! The resource cost model as per-bit coefficients, for quantization-aware training.
//!
//! A training loop (HGQ2 in Keras, `rtl4ml.keras.CostRegularizer`) needs a differentiable
//! cost of a width assignment: how many LUTs a weight of `b` bits costs in the adder tree it
//! feeds, and how many flip-flops an activation bit costs per pipeline stage. This module
//! does not restate the cost model's formulas: it *measures* them, by compiling small probe
//! designs with [`crate::flow::compile`] and reading the estimate of [`crate::report::model`]
//! (so the coefficients follow the model whenever the model changes), and it counts the
//! canonical signed digits of every mantissa with the same [`crate::passes::csd::csd`] that
//! the constant multiplier uses. See `docs/qat.md`.

use crate::error::Result;
use crate::flow::{self, Options};
use crate::passes::csd::csd;
use serde::Serialize;
use std::path::Path;

/// The widest weight for which [`TrainingCost::expected_digits`] is enumerated exactly.
pub const EXACT_DIGIT_BITS: u32 = 16;
/// Entries of [`TrainingCost::expected_digits`]: weights of 0 to `MAX_DIGIT_BITS` bits.
pub const MAX_DIGIT_BITS: u32 = 32;

/// Per-bit cost coefficients of the resource model (Xilinx LUT6 + carry chain, the target the
/// model is calibrated for), measured on probe designs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TrainingCost {
    /// LUTs per result bit of a two-operand adder (carry chain: one LUT per bit).
    pub lut_per_adder_bit: f64,
    /// LUTs per result bit of a two-operand adder inside a dot product's sum tree: an 8-term
    /// sum (7 adders, `7·bits + 11` result bits) over its LUTs. On 6-input-LUT targets pairs
    /// of the tree's adders are one ternary adder (`hdl/rtl4ml_add3.v`, one LUT per bit for
    /// two adders), so this is about 0.6 where `lut_per_adder_bit` is about 0.94; what a
    /// dot product's cost per shifted term is.
    pub lut_per_tree_adder_bit: f64,
    /// LUTs per bit of a ReLU after an adder (0 when it is a register's synchronous reset).
    pub lut_per_relu_bit: f64,
    /// Flip-flops per bit of a value carried through one pipeline register rank.
    pub ff_per_register_bit: f64,
    /// `expected_digits[b]`: mean number of non-zero canonical signed digits of a signed
    /// `b`-bit mantissa drawn uniformly (exact up to [`EXACT_DIGIT_BITS`], then extended with
    /// the asymptotic slope 1/3 digit per bit). A weight of `d` digits costs `d − 1` adders
    /// of a dot product's tree (one adder per digit, less one per output).
    pub expected_digits: Vec<f64>,
    /// Probe widths the coefficients were measured at.
    pub probe_bits: u32,
}

/// Non-zero canonical-signed-digit count of a mantissa (the adders a constant multiplication
/// by it costs, plus one).
pub fn csd_digits(m: i64) -> u32 {
    csd(m as i128).len() as u32
}

/// Mean CSD digit count of the signed `bits`-bit mantissas (uniform over
/// `[-2^(bits-1), 2^(bits-1))`); 0 for 0 bits, 0.5 for 1 bit (values 0 and -1).
pub fn expected_csd_digits(bits: u32) -> f64 {
    if bits == 0 {
        return 0.0;
    }
    let b = bits.min(EXACT_DIGIT_BITS);
    let half = 1i64 << (b - 1);
    let total: u64 = (-half..half).map(|m| u64::from(csd_digits(m))).sum();
    let exact = total as f64 / (2 * half) as f64;
    exact + (bits - b) as f64 / 3.0
}

fn probe(json: &str, latency_cycles: Option<u32>) -> Result<crate::report::Resources> {
    let g = crate::frontend::parse_bytes(Path::new("probe.json"), json.as_bytes())?;
    let opts = Options {
        clock_ns: 100.0,
        latency_cycles,
        ..Options::default()
    };
    Ok(flow::compile(g, &opts)?.report.resources)
}

fn model(bits: u32, layers: &str, out: &str) -> String {
    model_n(bits, 2, layers, out)
}

fn model_n(bits: u32, n: u32, layers: &str, out: &str) -> String {
    format!(
        r#"{{"format": "rtl4ml-model", "version": 1, "name": "probe",
            "inputs": [{{"name": "x", "shape": [{n}], "type": "fixed<{bits},{half}>"}}],
            "layers": [{layers}], "outputs": ["{out}"]}}"#,
        half = bits / 2
    )
}

/// Measures the coefficients on probe designs of `bits`-bit operands (16 is typical).
pub fn training_cost(bits: u32) -> Result<TrainingCost> {
    // One adder: x0 + x1, exact (bits + 1 result bits).
    let add = model(
        bits,
        &format!(
            r#"{{"name": "s", "kind": "dense", "input": "x",
                "weight": {{"type": "int<2>", "shape": [2, 1], "data": [1, 1]}},
                "result": "fixed<{},{}>"}}"#,
            bits + 1,
            bits / 2 + 1
        ),
        "s",
    );
    let a1 = probe(&add, Some(1))?;
    let lut_per_adder_bit = a1.lut as f64 / f64::from(bits + 1);
    // A sum tree: x0 + … + x7, exact (adders of bits + 1, + 2, + 3 result bits: 4, 2, 1).
    let tree = model_n(
        bits,
        8,
        &format!(
            r#"{{"name": "s", "kind": "dense", "input": "x",
                "weight": {{"type": "int<2>", "shape": [8, 1], "data": [1, 1, 1, 1, 1, 1, 1, 1]}},
                "result": "fixed<{},{}>"}}"#,
            bits + 3,
            bits / 2 + 3
        ),
        "s",
    );
    let lut_per_tree_adder_bit = probe(&tree, Some(1))?.lut as f64 / f64::from(7 * bits + 11);
    // Registers: the same design two stages longer carries its bits two more ranks.
    let a3 = probe(&add, Some(3))?;
    // (less the valid pipeline's one flip-flop per stage)
    let ff_per_register_bit = (a3.ff as f64 - a1.ff as f64 - 2.0) / (2.0 * f64::from(bits + 1));
    // ReLU of the adder's result (what a dense layer's activation is): the extra LUTs.
    let relu = model(
        bits,
        &format!(
            r#"{{"name": "s", "kind": "dense", "input": "x",
                "weight": {{"type": "int<2>", "shape": [2, 1], "data": [1, 1]}},
                "result": "fixed<{w},{i}>"}},
               {{"name": "r", "kind": "relu", "input": "s", "result": "ufixed<{u},{ui}>"}}"#,
            w = bits + 1,
            i = bits / 2 + 1,
            u = bits,
            ui = bits / 2 + 1
        ),
        "r",
    );
    let r = probe(&relu, Some(1))?;
    let lut_per_relu_bit = (r.lut as f64 - a1.lut as f64) / f64::from(bits);
    Ok(TrainingCost {
        lut_per_adder_bit,
        lut_per_tree_adder_bit,
        lut_per_relu_bit,
        ff_per_register_bit,
        expected_digits: (0..=MAX_DIGIT_BITS).map(expected_csd_digits).collect(),
        probe_bits: bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        assert_eq!(csd_digits(0), 0);
        assert_eq!(csd_digits(7), 2);
        assert_eq!(csd_digits(-1), 1);
        assert_eq!(expected_csd_digits(0), 0.0);
        assert_eq!(expected_csd_digits(1), 0.5); // 0 and -1
        assert_eq!(expected_csd_digits(2), 0.75); // -2 -1 0 1
                                                  // CSD averages about b/3 + 1/9 digits for large b.
        let e16 = expected_csd_digits(16);
        assert!((e16 - (16.0 / 3.0 + 1.0 / 9.0)).abs() < 0.1, "{e16}");
        let e20 = expected_csd_digits(20);
        assert!((e20 - e16 - 4.0 / 3.0).abs() < 1e-12);
        for b in 1..MAX_DIGIT_BITS {
            assert!(expected_csd_digits(b + 1) > expected_csd_digits(b));
        }
    }

    #[test]
    fn coefficients_match_the_resource_model() {
        let c = training_cost(16).unwrap();
        // docs/resource-model.md: an adder costs one LUT per result bit (a few pass-through
        // bits less), a ReLU at most two bits per LUT6_2, a register one FF per bit per rank.
        assert!(
            (0.8..=1.0).contains(&c.lut_per_adder_bit),
            "{}",
            c.lut_per_adder_bit
        );
        // In a tree, pairs of adders are ternary adders on the (Xilinx) target: 4 chains
        // (3 ternary, 1 two-input) for 7 adders.
        assert!(
            (0.45..=0.75).contains(&c.lut_per_tree_adder_bit),
            "{}",
            c.lut_per_tree_adder_bit
        );
        // A ReLU feeding a register is the register's synchronous reset: 0 LUTs here.
        assert!(
            (0.0..=0.6).contains(&c.lut_per_relu_bit),
            "{}",
            c.lut_per_relu_bit
        );
        assert_eq!(c.ff_per_register_bit, 1.0);
        assert_eq!(c.expected_digits.len(), MAX_DIGIT_BITS as usize + 1);
    }
}
