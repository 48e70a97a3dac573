//! Soak test: hundreds of random quantized networks, simulator vs Verilator, bit for bit.
//!
//! ```text
//! cargo run --release --example soak -- [--networks 320] [--per-build 16] [--vectors 4000]
//!                                       [--seed 1] [--work target/soak]
//! ```
//! (`bench/soak.sh` runs it niced and logs to `target/soak/soak.log`.)
//!
//! Networks come from the test suite's generators (`tests/common/mod.rs`: `random_model`, every
//! rounding and overflow mode, pruning, accumulators; `random_layer_model`, the other layer
//! kinds), and each is compiled with varied options: sharing on/off, clock 1.5–8 ns, both
//! target families, or a latency constraint with the fastest clock. To amortise Verilator's
//! build (~5–20 s), `--per-build` designs are instantiated side by side in one wrapper module:
//! each reads its own slice of `in_data`, and its `out_data` and `out_valid` are delayed to the
//! largest latency of the batch and concatenated. The expected bus is the simulator's outputs,
//! packed the same way, with a 1 for every design's `out_valid` — so each design's data *and*
//! valid timing are checked, under the runner's bubbles and back-to-back streaming.
//!
//! Vectors per network: the corner cases of `verify::vectors` then random ones, `--vectors` in
//! all. Exit status 0 only when every batch passed; a mismatch writes the batch's models into
//! the work directory and names the network, vector and element.

#[path = "../tests/common/mod.rs"]
mod common;

use rtl4ml::backends::verilog;
use rtl4ml::flow::{compile, Design, Options};
use rtl4ml::ir::fixed::FixedType;
use rtl4ml::passes::lower::LowerOptions;
use rtl4ml::sim::Simulator;
use rtl4ml::target::Target;
use rtl4ml::verify::{pack, runner, unpack, vectors};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    networks: u64,
    per_build: u64,
    vectors: usize,
    seed: u64,
    work: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        networks: 320,
        per_build: 16,
        vectors: 4000,
        seed: 1,
        work: PathBuf::from("target/soak"),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--networks" => a.networks = val.parse().expect("--networks N"),
            "--per-build" => a.per_build = val.parse().expect("--per-build N"),
            "--vectors" => a.vectors = val.parse().expect("--vectors N"),
            "--seed" => a.seed = val.parse().expect("--seed N"),
            "--work" => a.work = PathBuf::from(val),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

/// One network of a batch, compiled and simulated.
struct Member {
    seed: u64,
    model: String,
    how: String,
    design: Design,
    in_types: Vec<FixedType>,
    out_types: Vec<FixedType>,
    inputs: ndarray::Array2<i64>,
    outputs: ndarray::Array2<i64>,
}

/// Compile options drawn from the seed.
fn options(seed: u64) -> (Options, String) {
    let mut g = common::Gen::new(seed ^ 0x50A4);
    let share = g.chance(0.7);
    let target = if g.chance(0.5) {
        Target::XilinxUltrascalePlus
    } else {
        Target::LatticeEcp5
    };
    let clock = [1.5, 2.5, 4.0, 8.0][g.below(4) as usize];
    let latency = if g.chance(0.15) {
        Some(g.range(1, 6) as u32)
    } else {
        None
    };
    let how = format!(
        "share={share} target={target:?} {}",
        match latency {
            Some(l) => format!("latency={l} (fastest clock)"),
            None => format!("clock={clock}ns"),
        }
    );
    (
        Options {
            clock_ns: clock,
            top: Some(format!("soak_{seed}")),
            target,
            lower: LowerOptions {
                share,
                ..Default::default()
            },
            latency_cycles: latency,
            clock_choice: if latency.is_some() {
                rtl4ml::flow::ClockChoice::Fastest
            } else {
                rtl4ml::flow::ClockChoice::Given
            },
            ..Default::default()
        },
        how,
    )
}

fn member(seed: u64, n_vectors: usize) -> Result<Member, String> {
    let model = if seed % 3 == 2 {
        common::random_layer_model(seed)
    } else {
        common::random_model(seed)
    };
    let text = model.to_string();
    let g = rtl4ml::frontend::native::parse(&text, &format!("soak model {seed}"))
        .map_err(|e| format!("load: {e}"))?;
    let (opts, how) = options(seed);
    let design = compile(g, &opts).map_err(|e| format!("compile: {e}"))?;
    if design.net.input_width() > 4096 || design.schedule.latency > 64 {
        return Err("too large for a soak batch".into());
    }
    let in_types = design.net.input_types();
    let out_types: Vec<FixedType> = design.net.output_types();
    let all = vectors::generate(&in_types, n_vectors, seed);
    let inputs = all
        .slice(ndarray::s![..n_vectors.min(all.nrows()), ..])
        .to_owned();
    let outputs = Simulator::new(&design.net).run(inputs.view());
    Ok(Member {
        seed,
        model: text,
        how,
        design,
        in_types,
        out_types,
        inputs,
        outputs,
    })
}

/// The wrapper: every member side by side, outputs delayed to the batch latency.
fn wrapper(members: &[Member], latency: u32) -> (String, u32, u32) {
    let mut v = String::new();
    let in_w: u32 = members.iter().map(|m| m.design.net.input_width()).sum();
    let out_w: u32 = members
        .iter()
        .map(|m| m.design.net.output_width() + 1)
        .sum();
    let _ = writeln!(
        v,
        "// Soak wrapper generated by examples/soak.rs\n`default_nettype none\n\
         module soak_top (input wire clk, input wire rst, input wire in_valid,\n\
         \x20   input wire [{}:0] in_data, output wire out_valid, output wire [{}:0] out_data);",
        in_w - 1,
        out_w - 1
    );
    let (mut ioff, mut ooff) = (0u32, 0u32);
    for (k, m) in members.iter().enumerate() {
        let (iw, ow) = (m.design.net.input_width(), m.design.net.output_width());
        let d = latency - m.design.schedule.latency;
        let _ = writeln!(
            v,
            "    wire [{}:0] y{k}_0; wire v{k}_0;\n    {} u{k} (.clk(clk), .rst(rst), .in_valid(in_valid), \
             .in_data(in_data[{}:{}]), .out_valid(v{k}_0), .out_data(y{k}_0));",
            ow - 1,
            m.design.top,
            ioff + iw - 1,
            ioff
        );
        for s in 1..=d {
            let _ = writeln!(
                v,
                "    reg [{}:0] y{k}_{s}; reg v{k}_{s};\n    always @(posedge clk) begin y{k}_{s} <= y{k}_{}; v{k}_{s} <= rst ? 1'b0 : v{k}_{}; end",
                ow - 1,
                s - 1,
                s - 1
            );
        }
        let _ = writeln!(
            v,
            "    assign out_data[{}:{}] = {{v{k}_{d}, y{k}_{d}}};",
            ooff + ow,
            ooff
        );
        ioff += iw;
        ooff += ow + 1;
    }
    let _ = writeln!(
        v,
        "    rtl4ml_valid_pipe #(.LATENCY({latency})) u_valid (.clk(clk), .rst(rst), .in_valid(in_valid), .out_valid(out_valid));\nendmodule\n`default_nettype wire"
    );
    (v, in_w, out_w)
}

/// Concatenates the members' buses of vector `r` (each member's slice, then its valid bit).
fn bus(members: &[Member], r: usize, outputs: bool) -> Vec<u64> {
    let mut vals: Vec<i64> = vec![];
    let mut types: Vec<FixedType> = vec![];
    for m in members {
        if outputs {
            vals.extend(m.outputs.row(r).iter());
            types.extend(&m.out_types);
            vals.push(1);
            types.push(FixedType::new(false, 1, 1));
        } else {
            vals.extend(m.inputs.row(r).iter());
            types.extend(&m.in_types);
        }
    }
    pack(&vals, &types)
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.work).unwrap();
    let t0 = Instant::now();
    let (mut networks, mut vectors_checked, mut refused, mut builds) = (0u64, 0u64, 0u64, 0u64);
    let mut failed = false;
    let mut seed = a.seed;
    let end = a.seed + 1_000_000;
    while networks < a.networks && seed < end {
        // Gather a batch.
        let mut members = vec![];
        while (members.len() as u64) < a.per_build.min(a.networks - networks) && seed < end {
            match member(seed, a.vectors) {
                Ok(m) => members.push(m),
                Err(why) => {
                    refused += 1;
                    if !why.contains("saturating accumulator") && !why.contains("too large") {
                        println!("seed {seed}: refused: {why}");
                    }
                }
            }
            seed += 1;
        }
        if members.is_empty() {
            break;
        }
        let n = members.iter().map(|m| m.inputs.nrows()).min().unwrap();
        let latency = members
            .iter()
            .map(|m| m.design.schedule.latency)
            .max()
            .unwrap()
            .max(1);
        let dir = a.work.join(format!("batch{builds}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut rtl = vec![];
        for m in &members {
            let p = dir.join(format!("{}.v", m.design.top));
            std::fs::write(&p, &m.design.verilog).unwrap();
            rtl.push(p);
        }
        for (f, text) in verilog::PRIMITIVES {
            std::fs::write(dir.join(f), text).unwrap();
            rtl.push(dir.join(f));
        }
        let (top_v, in_w, out_w) = wrapper(&members, latency);
        std::fs::write(dir.join("soak_top.v"), top_v).unwrap();
        rtl.push(dir.join("soak_top.v"));
        let ins: Vec<Vec<u64>> = (0..n).map(|r| bus(&members, r, false)).collect();
        let exp: Vec<Vec<u64>> = (0..n).map(|r| bus(&members, r, true)).collect();
        let job = runner::SimJob {
            rtl_files: rtl,
            top: "soak_top".into(),
            in_width: in_w,
            out_width: out_w,
            latency,
            inputs: &ins,
            expected: &exp,
            work_dir: dir.join("verilator"),
        };
        let seeds: Vec<u64> = members.iter().map(|m| m.seed).collect();
        match runner::run_verilator(&job) {
            Ok(o) if o.passed() => {
                networks += members.len() as u64;
                vectors_checked += (n * members.len()) as u64;
                println!(
                    "batch {builds}: {} networks (seeds {:?}), {n} vectors each, latency {latency}, \
                     {in_w}/{out_w} bus bits: PASS (build {:.1} s, run {:.1} s) — total {networks} \
                     networks, {vectors_checked} network-vectors, {:.0} s",
                    members.len(),
                    seeds,
                    o.build_seconds,
                    o.run_seconds,
                    t0.elapsed().as_secs_f64()
                );
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(o) => {
                failed = true;
                println!("batch {builds} (seeds {seeds:?}): FAIL: {}", o.summary());
                for t in &o.timing_errors {
                    println!("  timing: {t}");
                }
                for mm in &o.mismatches {
                    // Attribute the mismatch to members and elements.
                    let out_types: Vec<FixedType> = members
                        .iter()
                        .flat_map(|m| {
                            m.out_types
                                .iter()
                                .copied()
                                .chain([FixedType::new(false, 1, 1)])
                        })
                        .collect();
                    let (e, g) = (
                        unpack(&mm.expected, &out_types),
                        unpack(&mm.got, &out_types),
                    );
                    let mut k = 0;
                    for m in &members {
                        for j in 0..=m.out_types.len() {
                            if e[k] != g[k] {
                                println!(
                                    "  vector {}: seed {} ({}) element {j}{}: expected {}, got {}",
                                    mm.index,
                                    m.seed,
                                    m.how,
                                    if j == m.out_types.len() {
                                        " (out_valid)"
                                    } else {
                                        ""
                                    },
                                    e[k],
                                    g[k]
                                );
                            }
                            k += 1;
                        }
                    }
                }
                for m in &members {
                    std::fs::write(dir.join(format!("model_{}.json", m.seed)), &m.model).unwrap();
                }
            }
            Err(e) => {
                failed = true;
                println!("batch {builds} (seeds {seeds:?}): ERROR: {e}");
            }
        }
        builds += 1;
    }
    println!(
        "SOAK {}: {networks} networks in {builds} Verilator builds, {vectors_checked} network-vectors \
         bit-exact, {refused} generated networks refused by the compiler, {:.0} s",
        if failed { "FAILED" } else { "PASSED" },
        t0.elapsed().as_secs_f64()
    );
    std::process::exit(if failed { 1 } else { 0 });
}
