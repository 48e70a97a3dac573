//! Shared test helpers: random quantized networks in the native format.
#![allow(dead_code)]

use rtl4ml::verify::vectors::SplitMix;
use serde_json::{json, Value};

const ROUNDS: [&str; 7] = [
    "TRN",
    "TRN_ZERO",
    "RND",
    "RND_ZERO",
    "RND_MIN_INF",
    "RND_INF",
    "RND_CONV",
];
const OVERFLOWS: [&str; 4] = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"];

pub struct Gen(pub SplitMix);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(SplitMix(
            seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xDEAD_BEEF,
        ))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// A random type string with random modes.
    pub fn ty(&mut self, signed: bool, wmin: i64, wmax: i64) -> String {
        let w = self.range(wmin, wmax);
        let i = self.range(-3, w + 3);
        let q = ROUNDS[self.below(7) as usize];
        let o = OVERFLOWS[self.below(4) as usize];
        format!(
            "{}<{w},{i},{q},{o}>",
            if signed { "fixed" } else { "ufixed" }
        )
    }
    /// Random mantissas of a `W`-bit type, biased toward extremes and zeros (pruning).
    pub fn mantissas(&mut self, n: usize, w: i64, signed: bool, zero_p: f64) -> Vec<i64> {
        let (lo, hi) = if signed {
            (-(1i64 << (w - 1)), (1i64 << (w - 1)) - 1)
        } else {
            (0, (1i64 << w) - 1)
        };
        (0..n)
            .map(|_| {
                if self.chance(zero_p) {
                    0
                } else if self.chance(0.1) {
                    if self.chance(0.5) {
                        lo
                    } else {
                        hi
                    }
                } else {
                    self.range(lo, hi)
                }
            })
            .collect()
    }
}

fn width_of(ty: &str) -> (bool, i64) {
    let signed = !ty.starts_with('u');
    let w: i64 = ty.split(['<', ',', '>']).nth(1).unwrap().parse().unwrap();
    (signed, w)
}

/// A random small network: optional 2-D input + flatten, 1–3 dense layers with random
/// types, modes, pruning and accumulators, each optionally followed by relu or quantize.
pub fn random_model(seed: u64) -> Value {
    let mut g = Gen::new(seed);
    let mut layers = Vec::new();
    let signed_in = g.chance(0.6);
    let in_ty = g.ty(signed_in, 2, 14);
    let two_d = g.chance(0.3);
    let mut n = g.range(1, 8) as usize;
    let shape = if two_d {
        let a = g.range(1, 3) as usize;
        let s = json!([a, n]);
        n *= a;
        layers.push(json!({"name": "flat", "kind": "flatten"}));
        s
    } else {
        json!([n])
    };
    let depth = g.range(1, 3);
    let mut last = String::new();
    let mut outputs = Vec::new();
    for d in 0..depth {
        let n_out = g.range(1, 8) as usize;
        let w_signed = g.chance(0.85);
        let wty = g.ty(w_signed, 1, 8);
        let (_, ww) = width_of(&wty);
        let prune = [0.0, 0.3, 0.6, 0.9][g.below(4) as usize];
        let data = g.mantissas(n * n_out, ww, w_signed, prune);
        let mut layer = json!({
            "name": format!("dense {d}"),
            "kind": "dense",
            "weight": {"type": wty, "shape": [n, n_out], "data": data},
            "result": g.ty(true, 2, 16),
        });
        if g.chance(0.7) {
            let bty = g.ty(true, 1, 10);
            let (_, bw) = width_of(&bty);
            layer["bias"] = json!({"type": bty, "data": g.mantissas(n_out, bw, true, 0.2)});
        }
        match g.below(3) {
            0 => {}
            1 => {
                layer["accum"] = json!(format!(
                    "fixed<{},{},{},WRAP>",
                    g.range(4, 28),
                    g.range(-2, 12),
                    ROUNDS[g.below(7) as usize]
                ))
            }
            _ => {
                layer["accum"] = json!(format!(
                    "fixed<{},{},{},{}>",
                    g.range(8, 32),
                    g.range(4, 16),
                    ROUNDS[g.below(7) as usize],
                    OVERFLOWS[g.range(1, 3) as usize]
                ))
            }
        }
        last = format!("dense {d}");
        layers.push(layer);
        match g.below(3) {
            0 => {}
            1 => {
                let signed = g.chance(0.3);
                last = format!("relu {d}");
                layers.push(json!({"name": last, "kind": "relu", "result": g.ty(signed, 2, 12)}));
            }
            _ => {
                let signed = g.chance(0.7);
                last = format!("q {d}");
                layers
                    .push(json!({"name": last, "kind": "quantize", "result": g.ty(signed, 2, 12)}));
            }
        }
        if g.chance(0.2) {
            outputs.push(json!(last.clone()));
        }
        n = n_out;
    }
    if !outputs.iter().any(|o| o == &json!(last)) {
        outputs.push(json!(last));
    }
    json!({
        "format": "rtl4ml-model",
        "version": 1,
        "name": format!("random_{seed}"),
        "inputs": [{"name": "x", "shape": shape, "type": in_ty}],
        "layers": layers,
        "outputs": outputs,
    })
}
