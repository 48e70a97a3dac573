//! Accuracy against the reference outputs on the calibration set.
//!
//! - `argmax`: the fraction of samples whose argmax (first maximal element) differs from the
//!   reference's in any output tensor; a one-element output (an `argmax` layer's class index,
//!   a single score) has no argmax, so there its value itself must match;
//! - `mse`: the mean squared difference over all output elements, in real values;
//! - `max-abs`: the largest absolute difference, in real values.
//!
//! A tolerance is a number (`0.005`, absolute) or a percentage (`0.5%`). A percentage of
//! `argmax` is a fraction of the samples. For `mse` it is relative to the reference's
//! variance (per output element over the samples, averaged), and for `max-abs` to the largest
//! spread (max − min over the samples) of an output element: relative to how much the outputs
//! move, so that a constant offset in the reference does not loosen the tolerance.

use crate::ir::layers::LayerGraph;
use crate::sim::io::to_values;
use ndarray::{Array2, ArrayView1, Axis};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    Argmax,
    Mse,
    MaxAbs,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Argmax => "argmax disagreement",
            Metric::Mse => "mean squared error",
            Metric::MaxAbs => "max abs error",
        }
    }
    /// A value of this metric for people (`0.45%`, `1.2e-3`).
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::Argmax => format!("{:.2}%", v * 100.0),
            _ => format!("{v:.4e}"),
        }
    }
}

/// A tolerance as written on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    Absolute(f64),
    Percent(f64),
}

impl std::str::FromStr for Tolerance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, pct) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t, false),
        };
        let v: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!("bad tolerance `{s}` (expected a non-negative number or percentage, e.g. 0.5% or 0.01)")
            })?;
        if pct && v > 100.0 {
            return Err(format!(
                "bad tolerance `{s}` (a percentage is 0% to 100%; a number is a fraction of \
                 the samples for argmax, or in output units for mse and max-abs)"
            ));
        }
        Ok(if pct {
            Tolerance::Percent(v)
        } else {
            Tolerance::Absolute(v)
        })
    }
}

/// The reference outputs and the metric they are compared with.
pub struct Reference {
    pub metric: Metric,
    /// Reference output values, `[samples, output elements]`.
    values: Array2<f64>,
    /// Per output tensor, the column range on the bus, and the reference argmax per sample.
    groups: Vec<(std::ops::Range<usize>, Vec<usize>)>,
    /// The tolerance in the metric's own unit.
    pub limit: f64,
}

fn argmax(row: ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

impl Reference {
    /// `outputs`: output mantissas of `g` (the reference model) on the calibration set.
    pub fn new(g: &LayerGraph, outputs: &Array2<i64>, metric: Metric, tol: Tolerance) -> Self {
        let values = to_values(outputs, &g.output_types());
        let mut groups = Vec::new();
        let mut start = 0;
        for t in g.output_tensors() {
            let cols = start..start + t.len();
            let am = values
                .slice(ndarray::s![.., cols.clone()])
                .axis_iter(Axis(0))
                .map(argmax)
                .collect();
            groups.push((cols, am));
            start += t.len();
        }
        let limit = match (tol, metric) {
            (Tolerance::Absolute(v), _) => v,
            (Tolerance::Percent(p), Metric::Argmax) => p / 100.0,
            (Tolerance::Percent(p), Metric::Mse) => {
                p / 100.0 * values.var_axis(Axis(0), 0.0).mean().unwrap_or(0.0)
            }
            (Tolerance::Percent(p), Metric::MaxAbs) => {
                let spread = values.axis_iter(Axis(1)).map(|c| {
                    let (lo, hi) = c
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                    hi - lo
                });
                p / 100.0 * spread.fold(0.0f64, f64::max)
            }
        };
        Reference {
            metric,
            values,
            groups,
            limit,
        }
    }

    pub fn samples(&self) -> usize {
        self.values.nrows()
    }

    /// Mean square of the reference output values.
    pub fn mean_square(&self) -> f64 {
        self.values.mapv(|v| v * v).mean().unwrap_or(0.0)
    }

    /// The metric of a candidate's outputs (mantissas of the same output types), and their
    /// mean squared error (the search's guide: unlike a count of flipped argmaxes it is
    /// smooth, and the noise of independent narrowings adds up in it).
    pub fn evaluate(&self, g: &LayerGraph, outputs: &Array2<i64>) -> Eval {
        let v = to_values(outputs, &g.output_types());
        let mse = (&v - &self.values).mapv(|d| d * d).mean().unwrap_or(0.0);
        let error = match self.metric {
            Metric::Argmax => {
                let n = v.nrows();
                let wrong = (0..n)
                    .filter(|&r| {
                        self.groups.iter().any(|(cols, am)| {
                            if cols.len() == 1 {
                                // No argmax of one element: the value (a class index) decides.
                                v[[r, cols.start]] != self.values[[r, cols.start]]
                            } else {
                                argmax(v.slice(ndarray::s![r, cols.clone()])) != am[r]
                            }
                        })
                    })
                    .count();
                wrong as f64 / n.max(1) as f64
            }
            Metric::Mse => mse,
            Metric::MaxAbs => (&v - &self.values)
                .iter()
                .fold(0.0f64, |m, d| m.max(d.abs())),
        };
        Eval { error, mse }
    }
}

impl Reference {
    /// Directions in which output changes matter, for the search's linear sensitivity guide:
    /// arrays `[samples, output elements]`, and the guide's damage of small output changes
    /// `δ` is `Σ_dirs Σ_s (Σ_o dir[s, o] · δ[s, o])²`. `outputs`: the current design's.
    ///
    /// - `argmax`: per output tensor, the reference's top element minus the current design's
    ///   strongest other one, divided by their current margin (floored at the margin of the
    ///   samples closest to flipping, the quantile at twice the tolerance): samples near a
    ///   flip count most.
    /// - `mse`, `max-abs`: the mean squared error (one direction per output element, or 16
    ///   deterministic random ±1 projections beyond 16 elements).
    pub fn directions(&self, g: &LayerGraph, outputs: &Array2<i64>) -> Vec<Array2<f64>> {
        let v = to_values(outputs, &g.output_types());
        let (n, cols) = v.dim();
        if n == 0 || cols == 0 {
            return Vec::new();
        }
        match self.metric {
            Metric::Argmax => self
                .groups
                .iter()
                .map(|(range, am)| {
                    let pairs: Vec<(usize, usize, f64)> = (0..n)
                        .map(|s| {
                            let top = range.start + am[s];
                            let mut other = None::<usize>;
                            for c in range.clone().filter(|&c| c != top) {
                                if other.is_none_or(|o| v[[s, c]] > v[[s, o]]) {
                                    other = Some(c);
                                }
                            }
                            let other = other.unwrap_or(top);
                            (top, other, (v[[s, top]] - v[[s, other]]).abs())
                        })
                        .collect();
                    let mut margins: Vec<f64> = pairs.iter().map(|p| p.2).collect();
                    margins.sort_by(f64::total_cmp);
                    let q = ((2.0 * self.limit).clamp(0.0, 1.0) * n as f64) as usize;
                    let floor = margins[q.min(n - 1)].max(f64::MIN_POSITIVE.sqrt());
                    let mut d = Array2::zeros((n, cols));
                    for (s, &(top, other, m)) in pairs.iter().enumerate() {
                        if top != other {
                            let k = 1.0 / m.max(floor);
                            d[[s, top]] = k;
                            d[[s, other]] = -k;
                        }
                    }
                    d
                })
                .collect(),
            Metric::Mse | Metric::MaxAbs => {
                let scale = 1.0 / ((n * cols) as f64).sqrt();
                if cols <= 16 {
                    return (0..cols)
                        .map(|c| {
                            let mut d = Array2::zeros((n, cols));
                            d.column_mut(c).fill(scale);
                            d
                        })
                        .collect();
                }
                // Random ±1 projections: E[(r·δ)²] = |δ|², averaged over 16 of them.
                let mut state = 0x9e37_79b9_7f4a_7c15u64;
                (0..16)
                    .map(|_| {
                        let signs: Vec<f64> = (0..cols)
                            .map(|_| {
                                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                                let mut z = state;
                                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                                z ^= z >> 31;
                                if z & 1 == 0 {
                                    scale / 4.0
                                } else {
                                    -scale / 4.0
                                }
                            })
                            .collect();
                        Array2::from_shape_fn((n, cols), |(_, c)| signs[c])
                    })
                    .collect()
            }
        }
    }
}

/// A candidate's accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Eval {
    /// The metric the tolerance applies to.
    pub error: f64,
    /// Mean squared error of the output values.
    pub mse: f64,
}

/// The model's class of each sample: the first maximal element of its first output (the
/// value itself when that output has one element, such as an `argmax` layer's index), from the
/// outputs' mantissas in bus order (the elements of one tensor share a type).
pub fn classes(g: &LayerGraph, outputs: &Array2<i64>) -> Vec<i64> {
    let n = g.outputs.first().map_or(0, |&t| g.tensor(t).len());
    outputs
        .outer_iter()
        .map(|row| match n {
            0 => 0,
            1 => row[0],
            _ => argmax(row.slice(ndarray::s![..n]).mapv(|m| m as f64).view()) as i64,
        })
        .collect()
}

/// The share of samples whose class ([`classes`]) equals its label.
pub fn label_accuracy(g: &LayerGraph, outputs: &Array2<i64>, labels: &[i64]) -> f64 {
    let c = classes(g, outputs);
    let hits = c.iter().zip(labels).filter(|(a, b)| a == b).count();
    hits as f64 / c.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    /// A model's class: the argmax of its first output, or its value when it has one element;
    /// the accuracy is the share of matching labels.
    #[test]
    fn classes_and_label_accuracy() {
        let text = |outputs: &str| {
            format!(
                r#"{{"format": "rtl4ml-model", "version": 1, "name": "c",
                "inputs": [{{"name": "x", "shape": [3], "type": "fixed<8,4>"}}],
                "layers": [{{"name": "q", "kind": "quantize", "result": "fixed<8,4>"}},
                           {{"name": "k", "kind": "argmax", "input": "q"}}],
                "outputs": {outputs}}}"#
            )
        };
        let x = Array2::from_shape_vec((3, 3), vec![1, 5, 2, 7, 7, -1, -3, -2, -9]).unwrap();
        for outputs in [r#"["q", "k"]"#, r#"["k", "q"]"#] {
            let g = crate::frontend::native::parse(&text(outputs), "c").unwrap();
            let y = super::super::simulate(&g, &x).unwrap();
            assert_eq!(classes(&g, &y), vec![1, 0, 1], "{outputs}");
            assert_eq!(label_accuracy(&g, &y, &[1, 1, 1]), 2.0 / 3.0);
        }
    }

    use super::*;

    /// A one-element output (e.g. an `argmax` layer's class index) counts as disagreeing when
    /// its value differs: the argmax of one element is always 0 and would accept anything.
    #[test]
    fn one_element_outputs_compare_values() {
        let g = crate::frontend::native::parse(
            r#"{"format": "rtl4ml-model", "version": 1, "name": "t",
                "inputs": [{"name": "x", "shape": [1], "type": "int<8>"},
                           {"name": "y", "shape": [2], "type": "int<8>"}],
                "layers": [], "outputs": ["x", "y"]}"#,
            "t",
        )
        .unwrap();
        let reference = Array2::from_shape_vec((2, 3), vec![3, 1, 0, 4, 0, 1]).unwrap();
        let r = Reference::new(&g, &reference, Metric::Argmax, Tolerance::Percent(0.5));
        assert_eq!(r.evaluate(&g, &reference).error, 0.0);
        // Sample 0: the class index changes (3 → 2), the vector's argmax does not.
        let moved = Array2::from_shape_vec((2, 3), vec![2, 5, 0, 4, 0, 1]).unwrap();
        assert_eq!(r.evaluate(&g, &moved).error, 0.5);
        // Sample 1: the vector's argmax flips.
        let flipped = Array2::from_shape_vec((2, 3), vec![3, 1, 0, 4, 2, 1]).unwrap();
        assert_eq!(r.evaluate(&g, &flipped).error, 0.5);
    }

    #[test]
    fn percentages_are_relative_to_the_spread() {
        let g = crate::frontend::native::parse(
            r#"{"format": "rtl4ml-model", "version": 1, "name": "t",
                "inputs": [{"name": "x", "shape": [2], "type": "int<8>"}],
                "layers": [], "outputs": ["x"]}"#,
            "t",
        )
        .unwrap();
        // Column 0 is constant at 100 (no variance), column 1 is ±2.
        let y = Array2::from_shape_vec((2, 2), vec![100, -2, 100, 2]).unwrap();
        let mse = Reference::new(&g, &y, Metric::Mse, Tolerance::Percent(10.0));
        assert!((mse.limit - 0.1 * 2.0).abs() < 1e-12); // variances 0 and 4, mean 2
        let max = Reference::new(&g, &y, Metric::MaxAbs, Tolerance::Percent(10.0));
        assert!((max.limit - 0.4).abs() < 1e-12); // spread 4
        let e = mse.evaluate(
            &g,
            &Array2::from_shape_vec((2, 2), vec![100, -2, 101, 2]).unwrap(),
        );
        assert_eq!((e.error, e.mse), (0.25, 0.25));
    }

    #[test]
    fn tolerances() {
        assert_eq!("0.5%".parse(), Ok(Tolerance::Percent(0.5)));
        assert_eq!(" 0.01 ".parse(), Ok(Tolerance::Absolute(0.01)));
        assert!("-1%".parse::<Tolerance>().is_err());
        assert!("abc".parse::<Tolerance>().is_err());
    }
}
