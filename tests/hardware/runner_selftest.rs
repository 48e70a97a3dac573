//! Self-test of `rtl4ml::verify::runner` against hand-written fixtures in tests/fixtures/runner/:
//!
//! * `pipe70x40.v`: 70-bit input (Verilator VlWide), 40-bit output (QData), latency 3.
//! * `pipe8.v`: 8-bit buses (CData), latency 1.
//! * `pipe16x130.v`: 16-bit input (SData), 130-bit output (VlWide, partial top word), latency 2.
//! * `pipe8_unused.v`: pipe8 with an unused signal (must fail lint).
//!
//! Tests that need Verilator / Icarus print a note and return when the tools are missing, unless
//! the environment variable RTL4ML_REQUIRE_TOOLS is set, in which case missing tools fail.
use std::path::PathBuf;

use rtl4ml::verify::runner::{self, SimJob, SimOutcome};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runner")
        .join(name)
}

fn work_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("runner_selftest")
        .join(name)
}

/// True if the tools are there; false (after a note) if the test should be skipped.
fn have_tools(test: &str, tools: &[&str]) -> bool {
    crate::hw::have(test, tools)
}

/// splitmix64: deterministic test data without extra dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const MASK35: u128 = (1 << 35) - 1;
const MASK40: u128 = (1 << 40) - 1;

/// Reference model of pipe70x40.v.
fn pipe70x40(x: u128) -> u64 {
    let a = (x >> 35) & MASK35;
    let b = x & MASK35;
    let sum = a + b; // 36 bits
    let rot = ((b & ((1 << 18) - 1)) << 17) | (b >> 18); // {b[17:0], b[34:18]}
    let xr = (a ^ rot) & MASK35;
    let prod = ((sum & 0xf_ffff) * (xr & 0xf_ffff)) & MASK40;
    let hi = ((sum >> 20) ^ (xr >> 19)) & 0xffff;
    (prod ^ ((hi << 24) | ((hi & 0xff) << 16) | hi)) as u64
}

/// Reference model of pipe8.v.
fn pipe8(x: u8) -> u8 {
    x.wrapping_mul(3) ^ x.rotate_left(1)
}

/// Reference model of pipe16x130.v: 130-bit result as three little-endian words.
fn pipe16x130(x: u16) -> Vec<u64> {
    let s = ((x as u64) << 16) | (x ^ 0xa5c3) as u64;
    let rot = ((s & 0xffff) << 16) | (s >> 16);
    vec![
        rot | ((s ^ 0xdead_beef) << 32),
        (!s & 0xffff_ffff) | (s << 32),
        s & 3,
    ]
}

fn vectors16(n: usize) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let mut rng = Rng(0x5eed_0016);
    let mut ins: Vec<u16> = vec![0, 0xffff, 0x8000, 1];
    while ins.len() < n {
        ins.push(rng.next() as u16);
    }
    ins.truncate(n);
    let inputs = ins.iter().map(|&x| vec![x as u64]).collect();
    let expected = ins.iter().map(|&x| pipe16x130(x)).collect();
    (inputs, expected)
}

/// (inputs, expected) for pipe70x40: corner cases, then random 70-bit values.
fn vectors70(n: usize) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let mut rng = Rng(0x5eed_0070);
    let mut ins: Vec<u128> = vec![0, (1u128 << 70) - 1, MASK35, MASK35 << 35, 1, 1 << 69];
    while ins.len() < n {
        ins.push(((rng.next() as u128) << 64 | rng.next() as u128) & ((1u128 << 70) - 1));
    }
    ins.truncate(n);
    let inputs = ins
        .iter()
        .map(|&x| vec![x as u64, (x >> 64) as u64])
        .collect();
    let expected = ins.iter().map(|&x| vec![pipe70x40(x)]).collect();
    (inputs, expected)
}

fn vectors8(n: usize) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let ins: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect();
    let inputs = ins.iter().map(|&x| vec![x as u64]).collect();
    let expected = ins.iter().map(|&x| vec![pipe8(x) as u64]).collect();
    (inputs, expected)
}

fn job<'a>(
    file: &str,
    top: &str,
    widths: (u32, u32),
    latency: u32,
    inputs: &'a [Vec<u64>],
    expected: &'a [Vec<u64>],
    dir: &str,
) -> SimJob<'a> {
    SimJob {
        rtl_files: vec![fixture(file)],
        top: top.to_string(),
        in_width: widths.0,
        out_width: widths.1,
        latency,
        inputs,
        expected,
        work_dir: work_dir(dir),
    }
}

/// Cycles the harness must simulate: reset, the vectors with their bubbles, latency and drain.
fn expected_cycles(n: usize, latency: u32) -> u64 {
    let gaps: u64 = (0..n as u32 - 1)
        .map(|i| {
            if i == runner::BUBBLE_FIRST_AFTER {
                runner::BUBBLE_FIRST_LEN as u64
            } else if i % runner::BUBBLE_PERIOD == runner::BUBBLE_PERIOD - 1 {
                1
            } else {
                0
            }
        })
        .sum();
    let last_sample = runner::RESET_CYCLES as u64 + (n as u64 - 1) + gaps;
    last_sample + latency as u64 + runner::DRAIN_CYCLES as u64 + 1
}

fn assert_clean(o: &SimOutcome, n: usize, latency: u32) {
    assert_eq!(
        o.mismatch_count, 0,
        "{}: mismatches: {:?}",
        o.tool, o.mismatches
    );
    assert!(o.mismatches.is_empty());
    assert_eq!(
        o.timing_error_count, 0,
        "{}: timing errors: {:?}",
        o.tool, o.timing_errors
    );
    assert!(o.timing_errors.is_empty());
    assert_eq!(o.vectors, n);
    assert_eq!(
        o.cycles,
        expected_cycles(n, latency),
        "{}: bubbles/drain not as specified",
        o.tool
    );
    assert!(o.passed());
}

/// Exactly one mismatch, at `index`, with the right expected and got values.
fn assert_one_mismatch(o: &SimOutcome, index: usize, expected: &[u64], got: &[u64]) {
    assert_eq!(o.mismatch_count, 1, "{}: {:?}", o.tool, o.mismatches);
    assert_eq!(o.mismatches.len(), 1);
    let m = &o.mismatches[0];
    assert_eq!(m.index, index);
    assert_eq!(m.expected, expected);
    assert_eq!(m.got, got);
    assert!(!m.got_unknown);
    assert_eq!(o.timing_error_count, 0, "{}: {:?}", o.tool, o.timing_errors);
    assert!(!o.passed());
}

/// Wrong latency: every output is a timing error, but in-order matching keeps the data right.
fn assert_latency_errors(o: &SimOutcome, n: usize, claimed: u32, actual: u32) {
    assert_eq!(o.mismatch_count, 0, "{}: {:?}", o.tool, o.mismatches);
    assert_eq!(o.vectors, n);
    assert_eq!(o.timing_error_count, n, "{}: {:?}", o.tool, o.timing_errors);
    assert!(!o.passed());
    let first = &o.timing_errors[0];
    assert!(
        first.contains(&format!("latency {actual}, expected {claimed}")),
        "{}: unexpected timing message {first:?}",
        o.tool
    );
    if n > runner::MAX_LISTED_TIMING {
        assert_eq!(o.timing_errors.len(), runner::MAX_LISTED_TIMING + 1);
        assert!(o
            .timing_errors
            .last()
            .unwrap()
            .contains("more timing errors"));
    }
}

#[test]
fn verilator_wide_input_narrow_output() {
    if !have_tools("verilator_wide_input_narrow_output", &["verilator"]) {
        return;
    }
    // 300 vectors: bubbles after vectors 7, 96, 193 and 290.
    let n = 300;
    let (inputs, mut expected) = vectors70(n);
    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        3,
        &inputs,
        &expected,
        "v70",
    );
    let o = runner::run_verilator(&j).unwrap();
    eprintln!("pipe70x40 {}", o.summary());
    assert_eq!(o.tool, "verilator");
    assert_clean(&o, n, 3);

    // A wrong expected vector: exactly one mismatch, reported at its index.
    let good = expected[123].clone();
    expected[123][0] ^= 1 << 39;
    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        3,
        &inputs,
        &expected,
        "v70",
    );
    let o = runner::run_verilator(&j).unwrap();
    eprintln!("pipe70x40 (one wrong vector) {}", o.summary());
    assert_one_mismatch(&o, 123, &expected[123], &good);
    expected[123] = good;

    // Wrong latencies: outputs late / early.
    for claimed in [2, 4] {
        let j = job(
            "pipe70x40.v",
            "pipe70x40",
            (70, 40),
            claimed,
            &inputs,
            &expected,
            "v70",
        );
        let o = runner::run_verilator(&j).unwrap();
        eprintln!("pipe70x40 (latency {claimed} claimed) {}", o.summary());
        assert_latency_errors(&o, n, claimed, 3);
    }
}

#[test]
fn verilator_narrow_latency1() {
    if !have_tools("verilator_narrow_latency1", &["verilator"]) {
        return;
    }
    let n = 256;
    let (inputs, mut expected) = vectors8(n);
    let j = job("pipe8.v", "pipe8", (8, 8), 1, &inputs, &expected, "v8");
    let o = runner::run_verilator(&j).unwrap();
    eprintln!("pipe8 {}", o.summary());
    assert_clean(&o, n, 1);

    let good = expected[0].clone();
    expected[0][0] ^= 0x80;
    let j = job("pipe8.v", "pipe8", (8, 8), 1, &inputs, &expected, "v8");
    let o = runner::run_verilator(&j).unwrap();
    assert_one_mismatch(&o, 0, &expected[0], &good);
    expected[0] = good;

    let j = job("pipe8.v", "pipe8", (8, 8), 2, &inputs, &expected, "v8");
    let o = runner::run_verilator(&j).unwrap();
    assert_latency_errors(&o, n, 2, 1);
}

#[test]
fn verilator_wide_output() {
    if !have_tools("verilator_wide_output", &["verilator"]) {
        return;
    }
    let n = 120;
    let (inputs, mut expected) = vectors16(n);
    let j = job(
        "pipe16x130.v",
        "pipe16x130",
        (16, 130),
        2,
        &inputs,
        &expected,
        "v130",
    );
    let o = runner::run_verilator(&j).unwrap();
    eprintln!("pipe16x130 {}", o.summary());
    assert_clean(&o, n, 2);

    // Flip the top bit of the 130-bit bus (bit 1 of the third word).
    let good = expected[97].clone();
    expected[97][2] ^= 2;
    let j = job(
        "pipe16x130.v",
        "pipe16x130",
        (16, 130),
        2,
        &inputs,
        &expected,
        "v130",
    );
    let o = runner::run_verilator(&j).unwrap();
    assert_one_mismatch(&o, 97, &expected[97], &good);
}

#[test]
fn icarus_second_opinion() {
    if !have_tools("icarus_second_opinion", &["icarus"]) {
        return;
    }
    let n = 50;
    let (inputs, mut expected) = vectors70(n);
    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        3,
        &inputs,
        &expected,
        "i70",
    );
    let o = runner::run_icarus(&j).unwrap();
    eprintln!("pipe70x40 {}", o.summary());
    assert_eq!(o.tool, "icarus");
    assert_clean(&o, n, 3);

    let good = expected[31].clone();
    expected[31][0] ^= 0x5;
    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        3,
        &inputs,
        &expected,
        "i70",
    );
    let o = runner::run_icarus(&j).unwrap();
    assert_one_mismatch(&o, 31, &expected[31], &good);
    expected[31] = good;

    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        2,
        &inputs,
        &expected,
        "i70",
    );
    let o = runner::run_icarus(&j).unwrap();
    assert_latency_errors(&o, n, 2, 3);

    let (inputs, expected) = vectors8(n);
    let j = job("pipe8.v", "pipe8", (8, 8), 1, &inputs, &expected, "i8");
    let o = runner::run_icarus(&j).unwrap();
    eprintln!("pipe8 {}", o.summary());
    assert_clean(&o, n, 1);

    let j = job("pipe8.v", "pipe8", (8, 8), 3, &inputs, &expected, "i8");
    let o = runner::run_icarus(&j).unwrap();
    assert_latency_errors(&o, n, 3, 1);

    let (inputs, mut expected) = vectors16(n);
    expected[9][2] ^= 2;
    let j = job(
        "pipe16x130.v",
        "pipe16x130",
        (16, 130),
        2,
        &inputs,
        &expected,
        "i130",
    );
    let o = runner::run_icarus(&j).unwrap();
    eprintln!("pipe16x130 {}", o.summary());
    assert_one_mismatch(&o, 9, &expected[9], &vectors16(n).1[9]);
}

#[test]
fn lint_clean_and_unused_signal() {
    if !have_tools("lint_clean_and_unused_signal", &["verilator"]) {
        return;
    }
    runner::lint(&[fixture("pipe70x40.v")], "pipe70x40").unwrap();
    runner::lint(&[fixture("pipe8.v")], "pipe8").unwrap();
    runner::lint(&[fixture("pipe16x130.v")], "pipe16x130").unwrap();
    let err = runner::lint(&[fixture("pipe8_unused.v")], "pipe8_unused").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("UNUSED"),
        "lint error should name the warning: {text}"
    );
    assert!(
        text.contains("spare"),
        "lint error should name the signal: {text}"
    );
}

#[test]
fn rejects_bad_jobs() {
    // These are rejected before any tool runs, so they need no tools.
    let (inputs, expected) = vectors8(4);
    let mut j = job("pipe8.v", "pipe8", (8, 8), 1, &inputs, &expected, "bad");
    j.top = "pipe8; rm -rf /".to_string();
    for r in [runner::run_verilator(&j), runner::run_icarus(&j)] {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("invalid top module name"), "{e}");
    }
    assert!(runner::lint(&[fixture("pipe8.v")], "9pipe").is_err());

    let j = job("pipe8.v", "pipe8", (8, 8), 0, &inputs, &expected, "bad");
    assert!(runner::run_verilator(&j)
        .unwrap_err()
        .to_string()
        .contains("latency"));

    let short = &expected[..3];
    let j = job("pipe8.v", "pipe8", (8, 8), 1, &inputs, short, "bad");
    assert!(runner::run_icarus(&j).is_err());

    let wide_in: Vec<Vec<u64>> = vec![vec![1]; 4]; // a 70-bit bus needs 2 words
    let exp40: Vec<Vec<u64>> = vec![vec![1]; 4];
    let j = job(
        "pipe70x40.v",
        "pipe70x40",
        (70, 40),
        3,
        &wide_in,
        &exp40,
        "bad",
    );
    assert!(runner::run_verilator(&j)
        .unwrap_err()
        .to_string()
        .contains("words"));
}

#[test]
fn reference_models_sanity() {
    // Spot values computed by hand from the Verilog (guards the models used above).
    assert_eq!(pipe8(0), 0);
    assert_eq!(pipe8(1), 3 ^ 2);
    assert_eq!(pipe8(0x80), 0x80 ^ 0x01);
    assert_eq!(pipe70x40(0), 0);
    // a = 0, b = 1: sum = 1, x = rotr(1, 18) = 1 << 17, prod = 1 << 17, hi = 0.
    assert_eq!(pipe70x40(1), 1 << 17);
    // in = 0: s = 0xa5c3.
    assert_eq!(
        pipe16x130(0),
        vec![
            0xa5c3_0000 | (0xdead_1b2c << 32),
            0xffff_5a3c | (0xa5c3 << 32),
            3
        ]
    );
}
