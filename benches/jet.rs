//! `cargo bench --bench jet`: compile time and simulator throughput on the bundled models.
//! Prints figures; asserts nothing about time.

use rtl4ml::flow::{compile, Options};
use rtl4ml::frontend::native;
use rtl4ml::sim::Simulator;
use rtl4ml::verify::vectors;
use std::time::Instant;

fn main() {
    for m in ["jet_tagger", "wrap_accum", "odd_types"] {
        let path = format!("models/{m}.json");
        let text = std::fs::read_to_string(&path).expect("run from the crate root");
        // Compile: parse + lower + schedule + Verilog + report, best of several runs.
        let runs = 20;
        let mut best = f64::MAX;
        let mut total = 0.0;
        let mut design = None;
        for _ in 0..runs {
            let t = Instant::now();
            let g = native::parse(&text, &path).unwrap();
            let d = compile(g, &Options::default()).unwrap();
            let dt = t.elapsed().as_secs_f64();
            best = best.min(dt);
            total += dt;
            design = Some(d);
        }
        let d = design.unwrap();
        // Simulator: one core, 1M samples of random inputs.
        let n = 1_000_000;
        let inputs = vectors::generate(&d.net.input_types(), n, 5);
        let sim = Simulator::new(&d.net);
        let _ = sim.run(inputs.slice(ndarray::s![..10_000, ..])); // warm up
        let t = Instant::now();
        let out = sim.run(inputs.view());
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(out);
        println!(
            "{m:>11}: {} nodes, compile best {:.2} ms (mean {:.2} ms); simulator {:.2} M samples/s on one core ({}-bit lanes, {} samples in {:.3} s); latency {} cycles, est. {} LUT / {} FF",
            d.net.nodes.len(),
            best * 1e3,
            total / runs as f64 * 1e3,
            inputs.nrows() as f64 / dt / 1e6,
            sim.lane_bits(),
            inputs.nrows(),
            dt,
            d.report.latency_cycles,
            d.report.resources.lut,
            d.report.resources.ff
        );
    }
}
