//! Shared code of the fuzz targets: the properties they check and the structure-aware model
//! generator. See `docs/reliability.md` for how to run them.
//!
//! Properties:
//! * loading never panics: any input gives `Ok(graph)` or an `Error`;
//! * every loaded graph within the size budget compiles or gives an `Error` — never a panic;
//! * every compiled design's simulator output equals the layer-level reference, bit for bit.

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use rtl4ml::flow::{compile, Options};
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::passes::{limits, lower::LowerOptions};
use rtl4ml::sim::{reference, Simulator};
use rtl4ml::verify::vectors;
use serde_json::{json, Value};

/// Graphs estimated above this many scalar operations are loaded but not compiled, so that
/// one execution stays in the millisecond range (the limit check itself is tested elsewhere).
pub const FUZZ_MAX_OPS: u64 = 20_000;

/// Compiles `g` (if small enough) and checks the simulator against the reference on the corner
/// vectors, `random` seeded random vectors and the `extra` input rows (flat mantissas, clamped
/// into the input types). Panics on any disagreement.
pub fn check_graph(g: &LayerGraph, opts: &Options, random: usize, seed: u64, extra: &[Vec<i64>]) {
    if limits::estimate(g).total > FUZZ_MAX_OPS {
        return;
    }
    let Ok(design) = compile(g.clone(), opts) else {
        return;
    };
    let types = g.input_types();
    let mut inputs = vectors::generate(&types, random, seed);
    if !extra.is_empty() {
        let mut rows: Vec<i64> = inputs.iter().copied().collect();
        for e in extra {
            for (i, t) in types.iter().enumerate() {
                let v = e.get(i).copied().unwrap_or(0) as i128;
                rows.push(v.clamp(t.min_mantissa(), t.max_mantissa()) as i64);
            }
        }
        let n = rows.len() / types.len();
        inputs = ndarray::Array2::from_shape_vec((n, types.len()), rows).unwrap();
    }
    let out = Simulator::new(&design.net).run(inputs.view());
    for (k, row) in inputs.rows().into_iter().enumerate() {
        // The reference refuses values beyond 127 bits; the compiler refuses them earlier.
        let Ok(expect) = reference::evaluate(g, row.as_slice().unwrap()) else {
            continue;
        };
        assert_eq!(
            out.row(k).to_vec(),
            expect,
            "simulator != reference for model {} on vector {k} {:?}\nmodel: {}",
            g.name,
            row.to_vec(),
            describe(g)
        );
    }
}

fn describe(g: &LayerGraph) -> String {
    format!("{g:?}").chars().take(4000).collect()
}

/// Parses `text` as a native model and, if it loads, compiles and checks it.
pub fn check_native_text(text: &str) {
    if let Ok(g) = rtl4ml::frontend::native::parse(text, "fuzz.json") {
        check_graph(&g, &Options::default(), 8, 1, &[]);
    }
}

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

/// A fixed-point type drawn from the fuzz input: (type string, signed, width).
fn ty(u: &mut Unstructured, signed: bool, wmin: u32, wmax: u32) -> AResult<(String, bool, u32)> {
    let w = u.int_in_range(wmin..=wmax)?;
    let i = u.int_in_range(-4..=w as i32 + 4)?;
    let kind = if signed { "fixed" } else { "ufixed" };
    let s = match u.int_in_range(0..=3)? {
        0 => format!("{kind}<{w},{i}>"),
        1 => format!("{kind}<{w},{i},{}>", u.choose(&ROUNDS)?),
        _ => format!(
            "{kind}<{w},{i},{},{}>",
            u.choose(&ROUNDS)?,
            u.choose(&OVERFLOWS)?
        ),
    };
    Ok((s, signed, w))
}

fn mantissa(u: &mut Unstructured, signed: bool, w: u32, zero_p: u8) -> AResult<i64> {
    let (lo, hi) = if signed {
        (-(1i64 << (w - 1)), (1i64 << (w - 1)) - 1)
    } else {
        (0, (1i64 << w) - 1)
    };
    Ok(match u.int_in_range(0..=255u8)? {
        p if p < zero_p => 0,
        p if p < zero_p.saturating_add(20) => {
            if p % 2 == 0 {
                lo
            } else {
                hi
            }
        }
        _ => u.int_in_range(lo..=hi)?,
    })
}

/// A valid native model driven by the fuzz input: 1–2 inputs (1-D or 2-D), 1–6 layers of
/// every kind reading any earlier tensor, random types and modes on every field, pruning,
/// optional bias and accumulators (WRAP or saturating), and 1–3 outputs.
pub fn random_model(u: &mut Unstructured) -> AResult<Value> {
    let mut tensors: Vec<(String, Vec<usize>)> = vec![];
    let mut inputs = vec![];
    for k in 0..u.int_in_range(1..=2)? {
        let n = u.int_in_range(1..=6)?;
        let shape = if u.ratio(1, 4)? {
            vec![u.int_in_range(1..=3)?, n]
        } else {
            vec![n]
        };
        let wide = u.ratio(1, 10)?;
        let signed = u.ratio(3, 5)?;
        let (t, _, _) = ty(u, signed, 1, if wide { 40 } else { 16 })?;
        let name = format!("in{k}");
        inputs.push(json!({"name": name, "shape": shape, "type": t}));
        tensors.push((name, shape));
    }
    let mut layers = vec![];
    for d in 0..u.int_in_range(1..=6)? {
        let src = if u.ratio(2, 3)? {
            tensors.len() - 1
        } else {
            u.choose_index(tensors.len())?
        };
        let (src_name, shape) = tensors[src].clone();
        let name = format!("l{d}");
        let (layer, out_shape) = match u.int_in_range(0..=5)? {
            0..=2 => {
                let n_in = *shape.last().unwrap();
                let n_out = u.int_in_range(1..=6)?;
                let w_signed = u.ratio(6, 7)?;
                let wmax = if u.ratio(1, 8)? { 20 } else { 8 };
                let (wty, _, ww) = ty(u, w_signed, 1, wmax)?;
                let zero_p = *u.choose(&[0u8, 80, 160, 230])?;
                let data = (0..n_in * n_out)
                    .map(|_| mantissa(u, w_signed, ww, zero_p))
                    .collect::<AResult<Vec<_>>>()?;
                let sg = u.ratio(4, 5)?;
                let (res, _, _) = ty(u, sg, 1, 20)?;
                let mut l = json!({
                    "name": name, "kind": "dense", "input": src_name,
                    "weight": {"type": wty, "shape": [n_in, n_out], "data": data},
                    "result": res,
                });
                if u.ratio(2, 3)? {
                    let sg = u.ratio(5, 6)?;
                    let (bty, bs, bw) = ty(u, sg, 1, 12)?;
                    let b = (0..n_out)
                        .map(|_| mantissa(u, bs, bw, 50))
                        .collect::<AResult<Vec<_>>>()?;
                    l["bias"] = json!({"type": bty, "data": b});
                }
                match u.int_in_range(0..=2)? {
                    0 => {}
                    1 => {
                        let w = u.int_in_range(2..=30)?;
                        let i = u.int_in_range(-2..=w as i32)?;
                        l["accum"] = json!(format!("fixed<{w},{i},{},WRAP>", u.choose(&ROUNDS)?));
                    }
                    _ => {
                        let w = u.int_in_range(4..=40)?;
                        let i = u.int_in_range(0..=w as i32)?;
                        l["accum"] = json!(format!(
                            "{}<{w},{i},{},{}>",
                            if u.ratio(1, 5)? { "ufixed" } else { "fixed" },
                            u.choose(&ROUNDS)?,
                            u.choose(&OVERFLOWS[1..])?
                        ));
                    }
                }
                let mut s = shape.clone();
                *s.last_mut().unwrap() = n_out;
                (l, s)
            }
            3 => {
                let sg = u.ratio(1, 3)?;
                let (t, _, _) = ty(u, sg, 1, 16)?;
                (
                    json!({"name": name, "kind": "relu", "input": src_name, "result": t}),
                    shape,
                )
            }
            4 => {
                let sg = u.ratio(2, 3)?;
                let (t, _, _) = ty(u, sg, 1, 16)?;
                (
                    json!({"name": name, "kind": "quantize", "input": src_name, "result": t}),
                    shape,
                )
            }
            _ => {
                let n = shape.iter().product();
                (
                    json!({"name": name, "kind": "flatten", "input": src_name}),
                    vec![n],
                )
            }
        };
        layers.push(layer);
        tensors.push((name, out_shape));
    }
    let mut outputs = vec![json!(tensors.last().unwrap().0)];
    for _ in 0..u.int_in_range(0..=2)? {
        let t = json!(tensors[u.choose_index(tensors.len())?].0);
        if !outputs.contains(&t) {
            outputs.push(t);
        }
    }
    Ok(json!({
        "format": "rtl4ml-model",
        "version": 1,
        "name": "fuzz",
        "inputs": inputs,
        "layers": layers,
        "outputs": outputs,
    }))
}

/// Compile options (sharing, clock) and up to 8 extra input rows of `n` mantissas, drawn from
/// what is left of the fuzz input.
fn options_and_rows(u: &mut Unstructured, n: usize) -> (Options, Vec<Vec<i64>>) {
    let share = u.arbitrary::<bool>().unwrap_or(true);
    let clock = [4.0, 1.0, 2.5, 10.0][u.choose_index(4).unwrap_or(0)];
    let opts = Options {
        clock_ns: clock,
        lower: LowerOptions {
            share,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut extra = vec![];
    while extra.len() < 8 {
        let row: AResult<Vec<i64>> = (0..n).map(|_| u.arbitrary::<i64>()).collect();
        match row {
            Ok(r) if !u.is_empty() => extra.push(r),
            _ => break,
        }
    }
    (opts, extra)
}

/// The structure-aware check: a generated model must load (it is valid by construction),
/// and then compile or be refused with an error, and agree with the reference bit for bit.
/// Compile options (sharing, clock, target) and extra input vectors come from the input too.
pub fn check_random_network(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(model) = random_model(&mut u) else {
        return;
    };
    let text = model.to_string();
    if let Some(path) = std::env::var_os("RTL4ML_FUZZ_DUMP") {
        // Reproducing a finding: write the generated model out.
        std::fs::write(path, serde_json::to_string_pretty(&model).unwrap()).unwrap();
    }
    let g = rtl4ml::frontend::native::parse(&text, "generated.json")
        .unwrap_or_else(|e| panic!("a generated valid model was rejected: {e}\n{text}"));
    let (opts, extra) = options_and_rows(&mut u, g.input_len());
    check_graph(&g, &opts, 16, data.len() as u64, &extra);
}

/// The test suite's generator of networks with every layer kind beyond the core ones
/// (`tests/common/mod.rs`: convolutions with stride, padding and dilation, depthwise, pooling,
/// merges, concatenation, reshape/transpose, capped and leaky ReLU, hard sigmoid/tanh,
/// batchnorm, lookup tables, softmax, argmax), driven by the fuzz input.
#[path = "../../tests/common/mod.rs"]
mod common;

/// The layer-coverage check: the first 8 bytes seed the generator, the next two choose the
/// compile options, and the rest become extra input vectors; then as [`check_random_network`].
pub fn check_random_layers(data: &[u8]) {
    let Some((seed, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let model = common::random_layer_model(u64::from_le_bytes(*seed));
    let text = model.to_string();
    if let Some(path) = std::env::var_os("RTL4ML_FUZZ_DUMP") {
        std::fs::write(path, serde_json::to_string_pretty(&model).unwrap()).unwrap();
    }
    let g = rtl4ml::frontend::native::parse(&text, "generated.json")
        .unwrap_or_else(|e| panic!("a generated valid model was rejected: {e}\n{text}"));
    let mut u = Unstructured::new(rest);
    let (opts, extra) = options_and_rows(&mut u, g.input_len());
    check_graph(&g, &opts, 16, u64::from_le_bytes(*seed), &extra);
}
