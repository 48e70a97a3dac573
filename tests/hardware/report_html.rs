//! `rtl4ml report DIR --html`: a self-contained page (no scripts, no external resources),
//! every model-derived name escaped, deterministic, and rendered by headless Chromium into a
//! screenshot that is not blank.
//!
//! The Chromium test is skipped without `chromium` (bench/setup.sh installs it), unless
//! RTL4ML_REQUIRE_TOOLS is set, in which case it fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn work(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report_html")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(args: &[&OsStr]) -> String {
    let o = Command::new(BIN).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "rtl4ml {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn compile(model: &Path, out: &Path) {
    ok(&[
        OsStr::new("compile"),
        model.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-q"),
    ]);
}

fn html(dir: &Path, out: Option<&Path>) -> String {
    let mut a = vec![OsStr::new("report"), dir.as_os_str(), OsStr::new("--html")];
    if let Some(o) = out {
        a.extend([OsStr::new("-o"), o.as_os_str()]);
    }
    ok(&a);
    std::fs::read_to_string(out.map_or_else(|| dir.join("report.html"), Path::to_path_buf)).unwrap()
}

const PAYLOAD: &str = "<script>alert(\"x\")</script>'&<img src=x onerror=1>";

/// A model whose names are markup.
fn hostile_model(dir: &Path) -> PathBuf {
    let m = serde_json::json!({
        "format": "rtl4ml-model", "version": 1, "name": format!("m {PAYLOAD}"),
        "inputs": [{"name": format!("in {PAYLOAD}"), "shape": [4], "type": "fixed<8,3>"}],
        "layers": [{"name": format!("dense {PAYLOAD}"), "kind": "dense",
                    "weight": {"type": "fixed<5,1>", "shape": [4, 3],
                               "data": [3, -5, 7, 1, -2, 6, 0, 9, -11, 4, 2, -1]},
                    "result": "fixed<12,6,RND,SAT>"},
                   {"name": format!("relu {PAYLOAD}"), "kind": "relu", "result": "ufixed<8,4>"}],
        "outputs": [format!("relu {PAYLOAD}")]
    });
    let p = dir.join("hostile.json");
    std::fs::write(&p, m.to_string()).unwrap();
    p
}

#[test]
fn the_page_is_self_contained_escaped_and_deterministic() {
    let w = work("escape");
    let dir = w.join("build");
    compile(&hostile_model(&w), &dir);
    let page = html(&dir, None);
    let again = html(&dir, Some(&w.join("again.html")));
    assert_eq!(page, again, "two renderings differ");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    // Nothing executable, nothing fetched: every tag is one the page writer makes, and no tag
    // has an event handler or a link.
    const TAGS: [&str; 20] = [
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code",
        "table", "tr", "th", "td", "span", "svg", "rect", "line", "text",
    ];
    for (i, _) in page.match_indices('<') {
        let rest = page[i + 1..].trim_start_matches('/');
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        assert!(TAGS.contains(&name.as_str()), "tag <{name}> in the page");
        // The tag without its attribute values (always double-quoted; a value cannot hold a
        // raw `"` or `>`, they are escaped).
        let tag: String = rest[..rest.find('>').expect("tag closed")]
            .split('"')
            .step_by(2)
            .collect::<Vec<_>>()
            .join("\"\"")
            .to_lowercase();
        for bad in ["src=", "href=", " on", "url("] {
            assert!(!tag.contains(bad), "{bad} in <{tag}>");
        }
    }
    assert!(!page.to_lowercase().contains("@import"));
    assert!(!page.contains(PAYLOAD));
    // The names are there, escaped.
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&lt;img"),
        "escaped name missing"
    );
    // Summary, layer table and the three plots.
    for s in [
        "<h2>Summary</h2>",
        "<h2>Layers</h2>",
        "<h2>Cost per layer</h2>",
        "<h2>Bit widths per layer</h2>",
        "<h2>Latency timeline</h2>",
    ] {
        assert!(page.contains(s), "{s} missing");
    }
    assert_eq!(page.matches("<svg ").count(), 3);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let lut = r["resources"]["lut"].as_u64().unwrap();
    assert!(
        page.contains(&format!("<tr><td>LUT</td><td>{lut}</td>")),
        "LUT estimate {lut} missing from the summary"
    );
    assert!(page.contains("target xilinx-ultrascale-plus"));
    assert!(page.contains(&format!(
        "{} cycles = ",
        r["latency_cycles"].as_u64().unwrap()
    )));
    // One timeline bar per layer with logic.
    let bars = page.matches("rx=\"3\"").count();
    let with_logic = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["max_width"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(bars, with_logic);
}

#[test]
fn the_page_shows_measured_figures() {
    // A report with a measurement, as `rtl4ml synth` records it (the real synthesis run is in
    // tests/hardware/synth.rs).
    let w = work("measured");
    let dir = w.join("build");
    compile(&root().join("models/odd_types.json"), &dir);
    let p = dir.join("report.json");
    let mut r: rtl4ml::report::Report =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    r.measured.push(rtl4ml::report::Measured {
        target: "xilinx".into(),
        tool: "yosys".into(),
        version: "Yosys 0.23 <test>".into(),
        lut: 150,
        ff: 29,
        carry: 48,
        lut_error_pct: Some(rtl4ml::report::error_pct(r.resources.lut, 150)),
        ff_error_pct: Some(0.0),
        pnr: Some(rtl4ml::report::PnrResult {
            tool: "nextpnr".into(),
            device: "LFE5U-25F-CABGA381".into(),
            constraint_mhz: 250.0,
            fmax_mhz: 112.5,
            met: false,
            achieved_latency_ns: 17.78,
            ..Default::default()
        }),
        ..Default::default()
    });
    std::fs::write(&p, serde_json::to_string_pretty(&r).unwrap()).unwrap();
    let page = html(&dir, None);
    assert!(page.contains("<th title=\"Yosys 0.23 &lt;test&gt;\">measured (xilinx)</th>"));
    assert!(
        page.contains("<td>150 <span class=\"good\">(est. "),
        "LUT cell"
    );
    assert!(page.contains("112.5 MHz for a 250.0 MHz constraint"));
    assert!(page.contains("not met"));
    let table = ok(&[OsStr::new("report"), dir.as_os_str()]);
    assert!(
        table.contains("measured (xilinx, Yosys 0.23 <test>): 150 LUT"),
        "{table}"
    );
    assert!(table.contains("Fmax 112.5 MHz for a 250.0 MHz constraint (NOT met), latency 17.78 ns"));
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|p| rtl4ml::external::tool_available(p))
}

#[test]
fn the_page_renders_in_headless_chromium() {
    if !crate::hw::full_tier() {
        eprintln!("note: fast tier, skipping the headless Chromium check");
        return;
    }
    let browser = chromium()
        .expect("chromium missing but RTL4ML_REQUIRE_TOOLS is set (bench/setup.sh installs it)");
    let w = work("chromium");
    let dir = w.join("build");
    compile(&root().join("models/jet_tagger.json"), &dir);
    let page = w.join("jet report.html");
    html(&dir, Some(&page));
    let png = w.join("shot.png");
    let profile = w.join("profile");
    let url = format!("file://{}", page.display()).replace(' ', "%20");
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 10_000, "screenshot is {} bytes", bytes.len());
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 1600));
    let px = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let mut colours = std::collections::BTreeSet::new();
    let mut dark = 0usize;
    let mut blue = 0usize;
    for p in data.chunks(px) {
        colours.insert(p[..3.min(px)].to_vec());
        if px >= 3 {
            if p[0] < 80 && p[1] < 80 && p[2] < 80 {
                dark += 1; // text
            }
            // The LUT bars and the first timeline bar (#3b74c4).
            if p[0].abs_diff(0x3b) < 12 && p[1].abs_diff(0x74) < 12 && p[2].abs_diff(0xc4) < 12 {
                blue += 1;
            }
        }
    }
    assert!(colours.len() > 8, "only {} colours", colours.len());
    assert!(dark > 2_000, "{dark} dark (text) pixels");
    assert!(
        blue > 1_000,
        "{blue} pixels of the LUT bar colour: the plots did not render"
    );
}
