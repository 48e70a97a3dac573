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
    /// A random type, signed with probability `p`.
    pub fn rty(&mut self, p: f64, wmin: i64, wmax: i64) -> String {
        let signed = self.chance(p);
        self.ty(signed, wmin, wmax)
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

/// A random weight object of the given shape: random type, pruning and extreme codes.
fn random_weight(g: &mut Gen, shape: &[usize]) -> Value {
    let n: usize = shape.iter().product();
    let w_signed = g.chance(0.85);
    let wty = g.ty(w_signed, 1, 8);
    let (_, ww) = width_of(&wty);
    let prune = [0.0, 0.3, 0.6][g.below(3) as usize];
    json!({"type": wty, "shape": shape, "data": g.mantissas(n, ww, w_signed, prune)})
}

/// A random scalar constant `{type, value}`.
fn random_scalar(g: &mut Gen, signed: bool, positive: bool) -> Value {
    let ty = g.ty(signed, 1, 8);
    let (_, w) = width_of(&ty);
    let mut v = g.mantissas(1, w, signed, 0.1)[0];
    if positive && v <= 0 {
        v = 1;
    }
    json!({"type": ty, "value": v})
}

/// Optional bias and accumulator fields of a dense or convolution layer.
fn random_bias_accum(g: &mut Gen, layer: &mut Value, n_out: usize) {
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
                g.range(12, 32),
                g.range(6, 16),
                ROUNDS[g.below(7) as usize],
                OVERFLOWS[g.range(1, 3) as usize]
            ))
        }
    }
}

/// A random lookup table object: `size` 2^bits entries of a random type.
fn random_table(g: &mut Gen, bits: i64, signed: bool) -> Value {
    json!({"type": g.ty(signed, 3, 14), "size": 1u64 << bits})
}

/// Appends a random element-wise layer (any activation, batchnorm, quantize or a lookup table)
/// reading `input` (channels = last axis, width of its type); returns its name.
fn random_elementwise(
    g: &mut Gen,
    layers: &mut Vec<Value>,
    input: &str,
    channels: usize,
    in_width: i64,
    tag: &str,
) -> String {
    let name = format!("{tag} act");
    let result = g.rty(0.6, 2, 14);
    let layer = match g.below(12) {
        0 => json!({"kind": "relu", "result": result}),
        1 => json!({"kind": "relu", "cap": random_scalar(g, false, true), "result": result}),
        2 => {
            json!({"kind": "leaky_relu", "alpha": random_scalar(g, true, false), "result": result})
        }
        3 => json!({"kind": "hard_sigmoid", "slope": random_scalar(g, true, false),
                    "shift": random_scalar(g, true, false), "result": result}),
        4 => json!({"kind": "hard_tanh", "slope": random_scalar(g, true, false),
                    "shift": random_scalar(g, true, false), "result": result}),
        5 | 6 => {
            let sty = g.ty(true, 2, 8);
            let (_, sw) = width_of(&sty);
            let mut l = json!({"kind": "batchnorm",
                "scale": {"type": sty, "data": g.mantissas(channels, sw, true, 0.1)},
                "result": result});
            if g.chance(0.7) {
                let bty = g.ty(true, 2, 8);
                let (_, bw) = width_of(&bty);
                l["bias"] = json!({"type": bty, "data": g.mantissas(channels, bw, true, 0.1)});
            }
            l
        }
        7 | 8 => {
            let kind = if g.chance(0.5) { "sigmoid" } else { "tanh" };
            let (bits, signed) = (g.range(2, 8), g.chance(0.3));
            let mut l =
                json!({"kind": kind, "table": random_table(g, bits, signed), "result": result});
            if g.chance(0.5) {
                l["input_range"] = json!(2f64.powi(g.range(-2, 5) as i32));
            }
            l
        }
        9 => {
            let bits = g.range(1, 7.min(in_width));
            json!({"kind": "exp", "table": random_table(g, bits, false), "result": result})
        }
        10 => {
            let ety = g.rty(0.2, 4, 14);
            let (_, ew) = width_of(&ety);
            let eb = g.range(1, 7.min(in_width));
            let (ib, signed) = (g.range(1, 7.min(ew)), g.chance(0.2));
            json!({"kind": "softmax",
                "exp_table": {"type": ety, "size": 1u64 << eb},
                "inv_table": random_table(g, ib, signed),
                "result": result})
        }
        _ => json!({"kind": "quantize", "result": result}),
    };
    let mut layer = layer;
    layer["name"] = json!(name);
    layer["input"] = json!(input);
    layers.push(layer);
    name
}

/// A random network of the layer kinds beyond dense: a small CNN (conv1d/conv2d, depthwise,
/// strides, padding, dilation, pooling), a merge graph (add/subtract/multiply/concatenate,
/// reshape, transpose) or a Deep Sets model (per-particle dense, global pooling), with random
/// activations, lookup tables and heads (argmax, softmax). The same random types and modes as
/// [`random_model`].
pub fn random_layer_model(seed: u64) -> Value {
    let mut g = Gen::new(seed ^ 0x1A7E_55ED_0000_0000);
    let mut layers: Vec<Value> = Vec::new();
    let mut outputs: Vec<Value> = Vec::new();
    let in_ty = g.rty(0.6, 2, 12);
    let (_, in_w) = width_of(&in_ty);
    let family = g.below(3);
    let shape: Vec<usize>;
    // The current tensor: name, shape, element width.
    let (mut cur, mut cur_shape, mut cur_w): (String, Vec<usize>, i64);
    match family {
        0 => {
            let d = if g.chance(0.5) { 1 } else { 2 };
            let dims: Vec<usize> = (0..d)
                .map(|_| g.range(if d == 1 { 3 } else { 2 }, if d == 1 { 9 } else { 6 }) as usize)
                .collect();
            let c = g.range(1, 3) as usize;
            shape = dims.iter().copied().chain([c]).collect();
            let depthwise = g.chance(0.25);
            let kernel: Vec<usize> = dims
                .iter()
                .map(|&n| g.range(1, 3.min(n as i64)) as usize)
                .collect();
            let strides: Vec<usize> = (0..d).map(|_| g.range(1, 2) as usize).collect();
            let dilation: Vec<usize> = (0..d)
                .map(|a| {
                    if strides[a] == 1
                        && kernel[a] > 1
                        && g.chance(0.3)
                        && (kernel[a] - 1) * 2 < dims[a]
                    {
                        2
                    } else {
                        1
                    }
                })
                .collect();
            let same = g.chance(0.5);
            let f = g.range(1, 4) as usize;
            let mut wshape = kernel.clone();
            wshape.extend([c, f]);
            let kind = match (depthwise, d) {
                (false, 1) => "conv1d",
                (false, _) => "conv2d",
                (true, 1) => "depthwise_conv1d",
                (true, _) => "depthwise_conv2d",
            };
            let n_ch = if depthwise { c * f } else { f };
            let result = g.ty(true, 2, 16);
            let mut layer = json!({"name": "conv", "kind": kind, "input": "x",
                "weight": random_weight(&mut g, &wshape), "strides": strides, "dilation": dilation,
                "padding": if same { "same" } else { "valid" }, "result": result});
            random_bias_accum(&mut g, &mut layer, n_ch);
            layers.push(layer);
            let out_dims: Vec<usize> = (0..d)
                .map(|a| {
                    if same {
                        dims[a].div_ceil(strides[a])
                    } else {
                        (dims[a] - (kernel[a] - 1) * dilation[a] - 1) / strides[a] + 1
                    }
                })
                .collect();
            cur = "conv".into();
            cur_shape = out_dims.iter().copied().chain([n_ch]).collect();
            cur_w = width_of(&result).1;
            if g.chance(0.7) {
                let w = cur_w;
                cur = random_elementwise(&mut g, &mut layers, &cur, n_ch, w, "conv");
                cur_w = width_of(layers.last().unwrap()["result"].as_str().unwrap()).1;
            }
            // A slice of the spatial axes (from its own generator, so that the other draws,
            // and the models other tests were tuned on, stay as they were).
            let mut gs = Gen::new(seed ^ 0x511C_E000_0000_0000);
            if gs.chance(0.3) {
                let mut begin = vec![0usize; d + 1];
                let mut step = vec![1usize; d + 1];
                for a in 0..d {
                    begin[a] = gs.below(cur_shape[a].min(2) as u64) as usize;
                    step[a] = gs.range(1, 2) as usize;
                }
                let end = cur_shape.clone();
                layers.push(json!({"name": "slice", "kind": "slice", "input": cur,
                    "begin": begin, "end": end, "step": step}));
                cur = "slice".into();
                cur_shape = (0..=d)
                    .map(|a| (cur_shape[a] - begin[a]).div_ceil(step[a]))
                    .collect();
            }
            match g.below(4) {
                0 => {}
                1 => {
                    // Windowed pooling (power-of-two windows for average pooling).
                    let avg = g.chance(0.4);
                    let pool: Vec<usize> = (0..d)
                        .map(|a| {
                            if avg {
                                [1, 2][g.below(2) as usize].min(cur_shape[a])
                            } else {
                                g.range(1, 3.min(cur_shape[a] as i64)) as usize
                            }
                        })
                        .collect();
                    let same = !avg && g.chance(0.4);
                    let kind = format!("{}_pool{}d", if avg { "avg" } else { "max" }, d);
                    let strides: Vec<usize> = pool
                        .iter()
                        .map(|&p| if g.chance(0.7) { p } else { 1 })
                        .collect();
                    let result = g.ty(true, 2, 16);
                    layers.push(json!({"name": "pool", "kind": kind, "input": cur, "pool_size": pool,
                        "strides": strides, "padding": if same { "same" } else { "valid" }, "result": result}));
                    cur_shape = (0..d)
                        .map(|a| {
                            if same {
                                cur_shape[a].div_ceil(strides[a])
                            } else {
                                (cur_shape[a] - pool[a]) / strides[a] + 1
                            }
                        })
                        .chain([n_ch])
                        .collect();
                    cur = "pool".into();
                    cur_w = width_of(&result).1;
                }
                _ => {
                    let area: usize = cur_shape[..d].iter().product();
                    let op = match g.below(3) {
                        0 if area.is_power_of_two() => "avg",
                        0 | 1 => "max",
                        _ => "sum",
                    };
                    let result = g.ty(true, 2, 16);
                    layers.push(json!({"name": "gpool", "kind": format!("global_{op}_pool"), "input": cur, "result": result}));
                    cur = "gpool".into();
                    cur_shape = vec![n_ch];
                    cur_w = width_of(&result).1;
                }
            }
        }
        1 => {
            // Two branches from one input, merged.
            let n = g.range(1, 6) as usize;
            shape = vec![n];
            let m = g.range(1, 6) as usize;
            let branch = |g: &mut Gen, layers: &mut Vec<Value>, name: &str| {
                let result = g.ty(true, 2, 14);
                let mut l = json!({"name": name, "kind": "dense", "input": "x",
                    "weight": random_weight(g, &[n, m]), "result": result});
                random_bias_accum(g, &mut l, m);
                layers.push(l);
            };
            branch(&mut g, &mut layers, "a");
            branch(&mut g, &mut layers, "b");
            let result = g.ty(true, 2, 16);
            let (kind, inputs, out_shape) = match g.below(5) {
                0 => ("add", vec!["a", "b"], vec![m]),
                1 => ("add", vec!["a", "b", "a"], vec![m]),
                2 => ("subtract", vec!["b", "a"], vec![m]),
                3 => ("multiply", vec!["a", "b"], vec![m]),
                _ => ("concatenate", vec!["a", "b"], vec![2 * m]),
            };
            let mut l = json!({"name": "merge", "kind": kind, "inputs": inputs, "result": result});
            cur_w = width_of(&result).1;
            if kind == "concatenate" && g.chance(0.3) {
                // Equal input types: no result type needed.
                l.as_object_mut().unwrap().remove("result");
                let a_ty = layers[0]["result"].clone();
                cur_w = width_of(a_ty.as_str().unwrap()).1;
                layers[1]["result"] = a_ty;
            }
            layers.push(l);
            cur = "merge".into();
            cur_shape = out_shape;
            if kind == "concatenate" && g.chance(0.5) {
                // [2m] -> [2, m] -> transpose [m, 2]; concatenated with [2m] -> [m, 2].
                layers.push(json!({"name": "reshape", "kind": "reshape", "input": "merge", "shape": [2, m]}));
                layers.push(json!({"name": "transpose", "kind": "transpose", "perm": [1, 0]}));
                layers.push(json!({"name": "reshape2", "kind": "reshape", "input": "merge", "shape": [m, 2]}));
                let axis = g.below(2) as usize;
                layers.push(json!({"name": "cat0", "kind": "concatenate", "inputs": ["transpose", "reshape2"],
                    "axis": if axis == 0 { 0 } else { -1 }, "result": g.ty(true, 2, 16)}));
                cur = "cat0".into();
                cur_shape = if axis == 0 {
                    vec![2 * m, 2]
                } else {
                    vec![m, 4]
                };
                cur_w = width_of(layers.last().unwrap()["result"].as_str().unwrap()).1;
            }
            if g.chance(0.6) {
                let ch = *cur_shape.last().unwrap();
                let w = cur_w;
                cur = random_elementwise(&mut g, &mut layers, &cur, ch, w, "merge");
                cur_w = width_of(layers.last().unwrap()["result"].as_str().unwrap()).1;
            }
        }
        _ => {
            // Deep Sets: a per-particle dense, an activation, a permutation-invariant pool.
            let p = g.range(2, 8) as usize;
            let f = g.range(1, 4) as usize;
            shape = vec![p, f];
            let h = g.range(1, 6) as usize;
            let result = g.ty(true, 2, 14);
            let mut l = json!({"name": "phi", "kind": "dense", "input": "x",
                "weight": random_weight(&mut g, &[f, h]), "result": result});
            random_bias_accum(&mut g, &mut l, h);
            layers.push(l);
            cur = "phi".into();
            cur_w = width_of(&result).1;
            if g.chance(0.7) {
                let w = cur_w;
                cur = random_elementwise(&mut g, &mut layers, &cur, h, w, "phi");
            }
            let op = match g.below(3) {
                0 if p.is_power_of_two() => "avg",
                0 | 1 => "max",
                _ => "sum",
            };
            let result = g.ty(true, 2, 16);
            layers.push(json!({"name": "pool", "kind": format!("global_{op}_pool"), "input": cur, "result": result}));
            cur = "pool".into();
            cur_shape = vec![h];
            cur_w = width_of(&result).1;
        }
    }
    if g.chance(0.3) {
        outputs.push(json!(cur.clone()));
    }
    // Head: flatten + dense, then maybe argmax.
    if g.chance(0.6) {
        if cur_shape.len() > 1 {
            layers.push(json!({"name": "flat", "kind": "flatten", "input": cur}));
            cur = "flat".into();
        }
        let n: usize = cur_shape.iter().product();
        let n_out = g.range(1, 5) as usize;
        let result = g.ty(true, 2, 14);
        let mut l = json!({"name": "head", "kind": "dense", "input": cur,
            "weight": random_weight(&mut g, &[n, n_out]), "result": result});
        random_bias_accum(&mut g, &mut l, n_out);
        layers.push(l);
        cur = "head".into();
        cur_shape = vec![n_out];
        cur_w = width_of(&result).1;
        if g.chance(0.3) {
            let w = cur_w;
            cur = random_elementwise(&mut g, &mut layers, &cur, n_out, w, "head");
        }
    }
    if g.chance(0.3) {
        let mut l = json!({"name": "argmax", "kind": "argmax", "input": cur});
        if g.chance(0.5) {
            l["result"] = json!(g.rty(0.3, 2, 6));
        }
        layers.push(l);
        cur = "argmax".into();
    }
    let _ = (cur_shape, cur_w, in_w);
    if !outputs.iter().any(|o| o == &json!(cur)) {
        outputs.push(json!(cur));
    }
    json!({
        "format": "rtl4ml-model",
        "version": 1,
        "name": format!("layers_{seed}"),
        "inputs": [{"name": "x", "shape": shape, "type": in_ty}],
        "layers": layers,
        "outputs": outputs,
    })
}
