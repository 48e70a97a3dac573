//! The netlist as stable, human-readable text (`rtl4ml compile --emit netlist`): one line per
//! node, in the arena's order, with its operation, exact mantissa range, binary point, built
//! width and pipeline stage. Meant for reading and for snapshot tests: the same design gives
//! the same bytes, and a change to lowering, trimming or scheduling shows as a line diff.
//!
//! ```text
//! n12 = add n3, n7<<2          [-96, 95] f4 w8 @1   ; fc1
//! ```
//! `nK<<s` / `nK>>s` is an operand scaled by `2^±s` (free wiring); `[lo, hi]` the mantissa range;
//! `fF` the fractional bits; `wB` the bits built (marked `(mod)` when fewer than the range needs:
//! the wire holds the value modulo `2^B`); `@S` the stage. Layer names are escaped (control
//! characters as `\u{..}`), so the text is safe on a terminal.

use crate::ir::netlist::{Netlist, Op, Operand};
use crate::ir::schedule::Schedule;
use std::fmt::Write;

/// `value(node) · 2^shift` as `nK`, `nK<<s` or `nK>>s`.
fn operand(o: &Operand) -> String {
    match o.shift {
        0 => format!("n{}", o.node.0),
        s if s > 0 => format!("n{}<<{s}", o.node.0),
        s => format!("n{}>>{}", o.node.0, -s),
    }
}

/// Text with control characters written as `\u{XX}` escapes.
fn escaped(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// The operation of a node, without its result annotations.
fn op_text(op: &Op) -> String {
    match op {
        Op::Input { index } => format!("input {index}"),
        Op::Const { value } => format!("const {value}"),
        Op::Add { a, b, sub } => {
            format!(
                "{} {}, {}",
                if *sub { "sub" } else { "add" },
                operand(a),
                operand(b)
            )
        }
        Op::Neg { a } => format!("neg {}", operand(a)),
        Op::Relu { a } => format!("relu n{}", a.0),
        Op::Cast { a, to } => format!("cast {} to {to}", operand(a)),
        Op::Cmp { x, y } => format!("gt {}, {}", operand(x), operand(y)),
        Op::Mux { c, a, b } => format!("mux n{}, {}, {}", c.0, operand(a), operand(b)),
        Op::Mul { a, b, dsp } => format!(
            "mul{} {}, {}",
            if *dsp { ".dsp" } else { "" },
            operand(a),
            operand(b)
        ),
        Op::Table { a, base, entries } => {
            // Entries are summarised by a stable FNV-1a hash: a changed table shows as a diff
            // without filling the file with every entry.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for e in entries {
                for b in e.to_le_bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
            }
            format!(
                "table n{}, base {base}, {} entries #{h:016x}",
                a.0,
                entries.len()
            )
        }
    }
}

/// The whole netlist as text; `schedule` adds each node's stage and the latency.
pub fn write(net: &Netlist, schedule: Option<&Schedule>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "netlist {}: {} nodes{}",
        escaped(&net.name),
        net.nodes.len(),
        schedule.map_or(String::new(), |s| format!(
            ", latency {} cycles at {} ns",
            s.latency, s.clock_ns
        ))
    );
    for (kind, ports) in [("input", &net.inputs), ("output", &net.outputs)] {
        for p in ports {
            let ids: Vec<String> = p.elements.iter().map(|n| format!("n{}", n.0)).collect();
            let _ = writeln!(
                out,
                "{kind} {} {:?} {}: {}",
                escaped(&p.name),
                p.shape,
                p.ty,
                ids.join(" ")
            );
        }
    }
    let mut layer = u32::MAX;
    for (i, n) in net.nodes.iter().enumerate() {
        if n.layer != layer {
            layer = n.layer;
            let name = net.layers.get(layer as usize).map_or("?", String::as_str);
            let _ = writeln!(out, "; layer {layer} {}", escaped(name));
        }
        let stage = schedule
            .and_then(|s| s.stage.get(i))
            .map_or(String::new(), |s| format!(" @{s}"));
        let _ = writeln!(
            out,
            "n{i} = {} [{}, {}] f{} w{}{}{stage}",
            op_text(&n.op),
            n.range.lo,
            n.range.hi,
            n.frac,
            n.bits,
            if n.trimmed() { "(mod)" } else { "" },
        );
    }
    out
}
