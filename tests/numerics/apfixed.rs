//! ap_fixed parity: rtl4ml's casts against the real Xilinx ap_types headers (vendored in
//! `tests/fixtures/ap_types/`, Apache-2.0), compiled with g++ into an oracle.

use rtl4ml::ir::fixed::{FixedType, Overflow, Round};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

const ROUNDS: [(Round, &str); 7] = [
    (Round::Trn, "AP_TRN"),
    (Round::TrnZero, "AP_TRN_ZERO"),
    (Round::Rnd, "AP_RND"),
    (Round::RndZero, "AP_RND_ZERO"),
    (Round::RndMinInf, "AP_RND_MIN_INF"),
    (Round::RndInf, "AP_RND_INF"),
    (Round::RndConv, "AP_RND_CONV"),
];
const OVERFLOWS: [(Overflow, &str); 4] = [
    (Overflow::Wrap, "AP_WRAP"),
    (Overflow::Sat, "AP_SAT"),
    (Overflow::SatZero, "AP_SAT_ZERO"),
    (Overflow::SatSym, "AP_SAT_SYM"),
];

/// Whether the g++ oracle runs (the full tier; see `crate::hw::have`).
fn gxx() -> bool {
    crate::hw::have("ap_types oracle", &["g++"])
}

fn cxx_type(t: &FixedType) -> String {
    let kind = if t.signed { "ap_fixed" } else { "ap_ufixed" };
    let q = ROUNDS.iter().find(|r| r.0 == t.round).unwrap().1;
    let o = OVERFLOWS.iter().find(|r| r.0 == t.overflow).unwrap().1;
    format!("{kind}<{},{},{q},{o}>", t.width, t.int_bits)
}

fn ty(signed: bool, w: u32, i: i32) -> FixedType {
    FixedType::new(signed, w, i)
}

/// Every code of a few narrow source types, cast (`operator=` from an ap_fixed, and the
/// constructor from the same value as a double) into narrow targets under every rounding and
/// overflow mode of ap_fixed: each result equals `FixedType::cast` / `cast_f64`.
#[test]
fn casts_match_the_ap_types_headers_on_every_code() {
    if !gxx() {
        return;
    }
    let sources = [
        ty(true, 6, 3),
        ty(false, 5, 2),
        ty(true, 7, 1),
        ty(true, 5, 6),
    ];
    let targets = [
        ty(true, 4, 2),
        ty(true, 5, 3),
        ty(false, 4, 2),
        ty(true, 3, 5),
        ty(true, 1, 1),
        ty(true, 4, 0),
        ty(true, 8, 4),
        ty(false, 3, -1),
        ty(true, 2, 2),
    ];
    let mut cases = Vec::new();
    let mut body = String::new();
    for s in &sources {
        for t in &targets {
            for (q, _) in ROUNDS {
                for (o, _) in OVERFLOWS {
                    let t = t.with_modes(q, o);
                    let _ = writeln!(
                        body,
                        "  run<{}, {} >({}, {}, {}, {}, {});",
                        cxx_type(s),
                        cxx_type(&t),
                        cases.len(),
                        s.frac(),
                        s.min_mantissa(),
                        s.max_mantissa(),
                        t.frac()
                    );
                    cases.push((*s, t));
                }
            }
        }
    }
    let src = format!(
        r#"#include <ap_fixed.h>
#include <cmath>
#include <cstdio>
template <class S, class D> void run(int id, int f2, long lo, long hi, int f) {{
  for (long c = lo; c <= hi; ++c) {{
    S x = std::ldexp((double)c, -f2);
    D y;
    y = x;
    D z = std::ldexp((double)c, -f2);
    std::printf("%d %ld %ld %ld\n", id, c, (long)std::ldexp(y.to_double(), f),
                (long)std::ldexp(z.to_double(), f));
  }}
}}
int main() {{
{body}  return 0;
}}
"#
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("apfixed_oracle");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("oracle.cpp"), src).unwrap();
    let headers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ap_types");
    let out = Command::new("g++")
        .arg("-O0")
        .arg("-w")
        // The headers assert on a bit index past the source's MSB when a cast drops more bits
        // than the source has (`qbit` under AP_TRN_ZERO and others), a value they then ignore.
        .arg("-DNDEBUG")
        .arg(format!("-I{}", headers.display()))
        .arg("oracle.cpp")
        .args(["-o", "oracle"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(dir.join("oracle")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut n, mut bad) = (0usize, Vec::new());
    for line in text.lines() {
        let v: Vec<i128> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        let (s, t) = cases[v[0] as usize];
        let (c, assigned, from_double) = (v[1], v[2], v[3]);
        let ours = t.cast(c, s.frac());
        let ours_f = t.cast_f64(s.to_f64(c)).unwrap();
        if ours != assigned || ours_f != from_double {
            bad.push(format!(
                "{} = {} ({c}): ap_fixed {assigned} / from double {from_double}, rtl4ml {ours} / {ours_f}",
                cxx_type(&t),
                cxx_type(&s),
            ));
        }
        n += 1;
    }
    let expected: i128 = cases
        .iter()
        .map(|(s, _)| s.max_mantissa() - s.min_mantissa() + 1)
        .sum();
    assert_eq!(n as i128, expected, "the oracle printed every case");
    assert!(
        bad.is_empty(),
        "{} of {n} casts differ, e.g.:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    eprintln!(
        "{n} casts ({} type pairs x {} modes) agree with the ap_types headers",
        sources.len() * targets.len(),
        ROUNDS.len() * OVERFLOWS.len()
    );
}

/// The two examples of issue #21.
#[test]
fn sat_sym_maps_the_most_negative_code_to_minus_max() {
    let t: FixedType = "ap_fixed<8,3,AP_TRN,AP_SAT_SYM>".parse().unwrap();
    assert_eq!(t.to_f64(t.cast_f64(-4.0).unwrap()), -3.96875);
    let t: FixedType = "fixed<10,3,RND_CONV,SAT_SYM>".parse().unwrap();
    let src: FixedType = "fixed<12,3>".parse().unwrap();
    let m = src.cast_f64(-4.0).unwrap();
    assert_eq!(t.to_f64(t.cast(m, src.frac())), -3.9921875);
}

use crate::hw;

use ndarray::Array2;
use rtl4ml::flow::{compile, read_dir, write_dir, Options};
use rtl4ml::frontend::native;
use rtl4ml::passes::lower::{LowerOptions, SatAccum};
use rtl4ml::sim::{reference, Simulator};
use rtl4ml::verify::{verify, VerifyOptions};

/// SplitMix64, for reproducible weights and inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// A dense layer `n_in → n_out` with a saturating accumulator `accum` (hls4ml's Latency dense:
/// `acc = accum(bias)`, then `acc = accum(acc + accum(x_i · w_i))` in input order), a ReLU and
/// a convolution with the same accumulator after it.
fn sat_model(name: &str, seed: u64, n_in: usize, n_out: usize, input: &str, accum: &str) -> String {
    let mut rng = Rng(seed);
    let w: Vec<i64> = (0..n_in * n_out)
        .map(|_| {
            if rng.range(0, 2) == 0 {
                0
            } else {
                rng.range(-32, 31)
            }
        })
        .collect();
    let b: Vec<i64> = (0..n_out).map(|_| rng.range(-32, 31)).collect();
    let cw: Vec<i64> = (0..3 * n_out * 2).map(|_| rng.range(-8, 7)).collect();
    format!(
        r#"{{"format":"rtl4ml-model","version":1,"name":"{name}",
"inputs":[{{"name":"x","shape":[{n_in}],"type":"{input}"}}],
"layers":[
{{"name":"fc","kind":"dense","input":"x","weight":{{"type":"fixed<6,1>","shape":[{n_in},{n_out}],"data":{w:?}}},
 "bias":{{"type":"fixed<6,2>","data":{b:?}}},"accum":"{accum}","result":"fixed<8,4,RND,SAT>"}},
{{"name":"r","kind":"relu","result":"ufixed<6,3,RND,SAT>"}},
{{"name":"rs","kind":"reshape","shape":[{n_out},1]}},
{{"name":"c","kind":"conv1d","weight":{{"type":"fixed<4,2>","shape":[3,1,2],"data":{cw:?}}},
 "accum":"{accum}","result":"fixed<9,5,RND_CONV,SAT_SYM>"}},
{{"name":"q1","kind":"quantize","input":"x","result":"fixed<7,3,TRN,SAT_SYM>"}},
{{"name":"q2","kind":"quantize","input":"x","result":"fixed<6,3,RND_CONV,SAT_SYM>"}}
],"outputs":["fc","r","c","q1","q2"]}}"#,
        cw = &cw[..6]
    )
}

/// The compiled saturating chains equal the layer-level reference (hls4ml's order) bit for bit
/// on corner and random inputs, for every saturating overflow mode.
#[test]
fn saturating_accumulators_match_the_reference() {
    for (k, accum, how) in [
        "fixed<10,4,TRN,SAT>",
        "fixed<8,3,RND,SAT>",
        "fixed<7,3,TRN,SAT_ZERO>",
        "fixed<9,3,RND_CONV,SAT_SYM>",
        "fixed<8,4,TRN,SAT_NARROW>",
        "ufixed<8,3,TRN,SAT>",
    ]
    .iter()
    .enumerate()
    .flat_map(|(k, a)| [(k, a, SatAccum::Chain), (k, a, SatAccum::Tree)])
    {
        let text = sat_model("sat", k as u64, 16, 4, "fixed<8,3,RND,SAT>", accum);
        let g = native::parse(&text, "sat.json").unwrap();
        let design =
            compile(g.clone(), &sat_options(how, 4.0)).unwrap_or_else(|e| panic!("{accum}: {e}"));
        let mut rng = Rng(100 + k as u64);
        let mut rows: Vec<Vec<i64>> = vec![vec![-128; 16], vec![127; 16], vec![0; 16]];
        rows.push(
            (0..16)
                .map(|i| if i % 2 == 0 { 127 } else { -128 })
                .collect(),
        );
        for _ in 0..400 {
            let hot = rng.range(0, 3);
            rows.push(
                (0..16)
                    .map(|_| match hot {
                        0 => [-128, 127][rng.range(0, 1) as usize],
                        _ => rng.range(-128, 127),
                    })
                    .collect(),
            );
        }
        let x = Array2::from_shape_vec((rows.len(), 16), rows.concat()).unwrap();
        let y = Simulator::new(&design.net).run(x.view());
        // The same layers with an exact accumulator: the chain must matter on some inputs.
        let exact =
            native::parse(&text.replace(&format!(r#""accum":"{accum}","#), ""), "e").unwrap();
        let mut differs = 0;
        for (r, row) in rows.iter().enumerate() {
            let want = reference::evaluate(&g, row).unwrap();
            assert_eq!(y.row(r).to_vec(), want, "{accum}: inputs {row:?}");
            differs += (reference::evaluate(&exact, row).unwrap()[..4] != want[..4]) as usize;
            // SAT_SYM never produces the most negative code (x = -4.0 gives -max).
            let n = want.len();
            assert!(want[n - 32..n - 16].iter().all(|&v| v > -64), "{row:?}");
            assert!(want[n - 16..].iter().all(|&v| v > -32), "{row:?}");
        }
        assert!(differs > 0, "{accum}: the accumulator never acts");
        eprintln!(
            "{accum} ({how:?}): latency {} cycles; {differs} of {} input vectors differ from exact accumulation",
            design.schedule.latency,
            rows.len()
        );
    }
}

fn sat_options(how: SatAccum, clock_ns: f64) -> Options {
    Options {
        clock_ns,
        lower: LowerOptions {
            sat_accum: how,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Verilator agrees bit for bit with the simulator on the chains and the clamp trees (and on
/// SAT_SYM results); `verify` rebuilds the tree from the manifest.
#[test]
fn saturating_accumulators_verify_in_verilator() {
    if !hw::tools() {
        return;
    }
    for (how, accum) in [
        (SatAccum::Chain, "fixed<8,3,RND,SAT>"),
        (SatAccum::Tree, "fixed<9,3,RND_CONV,SAT_SYM>"),
    ] {
        let name = format!("sat_acc_{how:?}").to_lowercase();
        let text = sat_model(&name, 3, 16, 4, "fixed<8,3,RND,SAT>", accum);
        let g = native::parse(&text, &name).unwrap();
        let design = compile(g, &sat_options(how, 3.0)).unwrap();
        let dir = hw::work("apfixed", &name);
        write_dir(&design, &text, &dir).unwrap();
        let b = read_dir(&dir).unwrap();
        let r = verify(
            &b,
            &VerifyOptions {
                random: 400,
                icarus: 40,
                seed: 11,
                lint: true,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.verilator.mismatch_count, 0, "{name}");
        assert!(r.verilator.timing_errors.is_empty(), "{name}");
        eprintln!(
            "{name}: latency {} cycles, {}",
            design.schedule.latency,
            r.verilator.summary()
        );
    }
}

/// hls4ml's Latency dense with a saturating accumulator, written with the real ap_types
/// headers the way `nnet::dense_latency` does it (`mult = accum_t(x·w)`, `acc = accum_t(bias)`,
/// then `acc += mult` in input order, `res = res_t(acc)`), compiled with g++: the compiled
/// rtl4ml design gives the same result mantissas on corner and random inputs, for every
/// ap_fixed saturating mode (SAT_NARROW is QONNX's, not ap_fixed's).
#[test]
fn saturating_dense_matches_the_ap_types_headers() {
    if !gxx() {
        return;
    }
    let (n_in, n_out) = (16usize, 4usize);
    let accums = [
        "fixed<10,4,TRN,SAT>",
        "fixed<8,3,RND,SAT>",
        "fixed<7,3,TRN,SAT_ZERO>",
        "fixed<9,3,RND_CONV,SAT_SYM>",
        "ufixed<8,3,TRN,SAT>",
    ];
    let input: FixedType = "fixed<8,3,RND,SAT>".parse().unwrap();
    let mut cpp = String::new();
    let mut expected_rows = Vec::new();
    for (k, accum) in accums.iter().enumerate() {
        let text = sat_model("sat", k as u64, n_in, n_out, "fixed<8,3,RND,SAT>", accum);
        let g = native::parse(&text, "sat.json").unwrap();
        let rtl4ml::ir::layers::LayerKind::Dense { weight, bias, .. } = &g.layers[0].kind else {
            panic!("layer 0 is the dense layer");
        };
        let acc_t: FixedType = accum.parse().unwrap();
        let res_t = g.layers[0].output.ty;
        let mut rng = Rng(500 + k as u64);
        let mut rows: Vec<Vec<i64>> = vec![vec![-128; n_in], vec![127; n_in], vec![0; n_in]];
        for _ in 0..300 {
            let hot = rng.range(0, 3);
            rows.push(
                (0..n_in)
                    .map(|_| match hot {
                        0 => [-128, 127][rng.range(0, 1) as usize],
                        _ => rng.range(-128, 127),
                    })
                    .collect(),
            );
        }
        let design = compile(g.clone(), &sat_options(SatAccum::Chain, 4.0)).unwrap();
        let x = Array2::from_shape_vec((rows.len(), n_in), rows.concat()).unwrap();
        let y = Simulator::new(&design.net).run(x.view());
        for r in 0..rows.len() {
            expected_rows.push((k, r, y.row(r).to_vec()[..n_out].to_vec()));
        }
        let list = |v: &[i64]| {
            v.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let w: Vec<i64> = weight.data.iter().copied().collect();
        let _ = write!(
            cpp,
            r#"  {{
    typedef {acc} acc_t; typedef {res} res_t; typedef {inp} in_t;
    typedef {wt} w_t; typedef {bt} b_t;
    static const long w[] = {{{w}}}; static const long b[] = {{{b}}};
    static const long xs[] = {{{xs}}};
    for (int r = 0; r < {rows}; r++) {{
      acc_t acc[{n_out}];
      for (int j = 0; j < {n_out}; j++) acc[j] = (acc_t)(b_t)std::ldexp((double)b[j], -{bf});
      for (int i = 0; i < {n_in}; i++) {{
        in_t x = std::ldexp((double)xs[r * {n_in} + i], -{xf});
        for (int j = 0; j < {n_out}; j++) {{
          w_t wv = std::ldexp((double)w[i * {n_out} + j], -{wf});
          acc_t mult = x * wv;
          acc[j] += mult;
        }}
      }}
      std::printf("{k} %d", r);
      for (int j = 0; j < {n_out}; j++) std::printf(" %ld", (long)std::ldexp(((res_t)acc[j]).to_double(), {rf}));
      std::printf("\n");
    }}
  }}
"#,
            acc = cxx_type(&acc_t),
            res = cxx_type(&res_t),
            inp = cxx_type(&input),
            wt = cxx_type(&weight.ty),
            bt = cxx_type(&bias.ty),
            w = list(&w),
            b = list(&bias.data),
            xs = list(&rows.concat()),
            rows = rows.len(),
            bf = bias.ty.frac(),
            xf = input.frac(),
            wf = weight.ty.frac(),
            rf = res_t.frac(),
        );
    }
    let src = format!(
        "#include <ap_fixed.h>\n#include <cmath>\n#include <cstdio>\nint main() {{\n{cpp}  return 0;\n}}\n"
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("apfixed_dense_oracle");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dense.cpp"), src).unwrap();
    let headers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ap_types");
    let out = Command::new("g++")
        .args(["-O0", "-w", "-DNDEBUG"])
        .arg(format!("-I{}", headers.display()))
        .args(["dense.cpp", "-o", "dense"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(dir.join("dense")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected_rows.len(), "one line per row");
    for (line, (k, r, ours)) in lines.iter().zip(&expected_rows) {
        let v: Vec<i64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!((v[0], v[1]), (*k as i64, *r as i64));
        assert_eq!(
            &v[2..],
            &ours[..],
            "accumulator {}, row {r}: ap_fixed vs rtl4ml",
            accums[*k]
        );
    }
    eprintln!(
        "{} dense rows over {} saturating accumulators agree with the ap_types headers",
        lines.len(),
        accums.len()
    );
}
