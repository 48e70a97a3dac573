//! Vendor handoff: the files a user needs to take a build into Vivado or Quartus (a TCL
//! script that adds the sources, sets the top module and runs the flow, and the clock
//! constraint as XDC/SDC). Written by `rtl4ml compile` into `vivado/` and `quartus/`.
//!
//! They are marked "untested here": no vendor tool runs on the machines rtl4ml is built on.
//! Only sanitised names reach them: the top module (see `namer::sanitize`) and the manifest's
//! RTL file names, which the compiler makes.

use crate::error::{Error, Result};
use askama::Template;

#[derive(Template)]
#[template(path = "vendor/vivado_build.tcl", escape = "none")]
struct VivadoBuild<'a> {
    v: &'a Vendor<'a>,
}

#[derive(Template)]
#[template(path = "vendor/vivado_constraints.xdc", escape = "none")]
struct VivadoXdc<'a> {
    v: &'a Vendor<'a>,
}

#[derive(Template)]
#[template(path = "vendor/quartus_build.tcl", escape = "none")]
struct QuartusBuild<'a> {
    v: &'a Vendor<'a>,
}

#[derive(Template)]
#[template(path = "vendor/quartus_constraints.sdc", escape = "none")]
struct QuartusSdc<'a> {
    v: &'a Vendor<'a>,
}

/// What the vendor files say about a build.
pub struct Vendor<'a> {
    /// Sanitised top module name.
    pub top: &'a str,
    /// RTL files, relative to the build directory (plain names).
    pub rtl: &'a [String],
    pub clock_ns: f64,
    pub latency: u32,
    pub in_width: u32,
    pub out_width: u32,
}

/// A name is safe in a TCL word and a file path when it is `[A-Za-z0-9_.]` only.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// The vendor files, as (path relative to the build directory, text).
pub fn files(v: &Vendor) -> Result<Vec<(&'static str, String)>> {
    if !plain(v.top) {
        return Err(Error::unsupported(
            "top",
            format!("{:?} is not a plain module name", v.top),
        ));
    }
    if let Some(f) = v.rtl.iter().find(|f| !plain(f)) {
        return Err(Error::unsupported(
            "rtl",
            format!("{f:?} is not a plain file name"),
        ));
    }
    Ok(vec![
        ("vivado/build.tcl", VivadoBuild { v }.render()? + "\n"),
        ("vivado/constraints.xdc", VivadoXdc { v }.render()? + "\n"),
        ("quartus/build.tcl", QuartusBuild { v }.render()? + "\n"),
        ("quartus/constraints.sdc", QuartusSdc { v }.render()? + "\n"),
    ])
}

impl Vendor<'_> {
    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    /// The clock period in ns as the constraint files write it.
    fn period(&self) -> String {
        format!("{:.3}", self.clock_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(rtl: &[String]) -> Vendor<'_> {
        Vendor {
            top: "jet",
            rtl,
            clock_ns: 3.125,
            latency: 7,
            in_width: 256,
            out_width: 80,
        }
    }

    #[test]
    fn scripts_name_every_source_and_the_clock() {
        let rtl = vec!["jet.v".to_string(), "rtl4ml_valid_pipe.v".to_string()];
        let f = files(&v(&rtl)).unwrap();
        let get = |p: &str| &f.iter().find(|(n, _)| *n == p).unwrap().1;
        for p in ["vivado/build.tcl", "quartus/build.tcl"] {
            let t = get(p);
            assert!(t.contains("UNTESTED HERE"), "{p}");
            for r in &rtl {
                assert!(t.contains(&format!("[file join $here .. {r}]")), "{p}: {t}");
            }
        }
        assert!(get("vivado/build.tcl").contains("synth_design -top jet "));
        assert!(get("quartus/build.tcl").contains("TOP_LEVEL_ENTITY jet\n"));
        for p in ["vivado/constraints.xdc", "quartus/constraints.sdc"] {
            assert!(
                get(p).contains("create_clock -name clk -period 3.125 [get_ports clk]"),
                "{p}: {}",
                get(p)
            );
            assert!(get(p).contains("UNTESTED HERE"));
        }
    }

    #[test]
    fn refuses_names_that_are_not_plain() {
        let rtl = vec!["a b.v".to_string()];
        assert!(files(&v(&rtl)).is_err());
        let rtl = vec!["x.v".to_string()];
        let mut bad = v(&rtl);
        bad.top = "x]; exec rm";
        assert!(files(&bad).is_err());
    }
}
