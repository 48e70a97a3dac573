//! The Verilog-2005 writer: one pipelined top module per netlist.
//!
//! All wires are plain bit vectors holding two's complement (or unsigned) mantissas of
//! exactly the width their value range needs; every expression is sized explicitly, so the
//! output is clean under `verilator --lint-only -Wall`. Bits that are dropped on purpose
//! (rounding, truncation) are collected into a single `_unused_ok` sink.

use super::namer::comment_text;
use crate::error::Result;
use crate::ir::fixed::{FixedType, Overflow, Round};
use crate::ir::netlist::{Netlist, NodeId, Op, Operand, SaturationTest};
use crate::ir::schedule::{ternary_start, ternary_sums, Schedule, Term3};
pub use crate::target::AdderCells;
use askama::Template;
use std::collections::BTreeMap;

/// The hand-written primitives every design needs (file name, contents).
pub const PRIMITIVES: &[(&str, &str)] = &[
    (
        "rtl4ml_valid_pipe.v",
        include_str!("../../hdl/rtl4ml_valid_pipe.v"),
    ),
    ("rtl4ml_add3.v", include_str!("../../hdl/rtl4ml_add3.v")),
    ("rtl4ml_add2.v", include_str!("../../hdl/rtl4ml_add2.v")),
];

/// A port's place on the flat bus, for the header comment and the reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BusField {
    pub name: String,
    pub shape: Vec<usize>,
    pub ty: String,
    pub element_width: u32,
    pub lsb: u32,
    pub msb: u32,
}

#[derive(Template)]
#[template(path = "top.v", escape = "none")]
struct TopTemplate<'a> {
    module: &'a str,
    model: String,
    version: &'a str,
    clock_ns: String,
    latency: u32,
    in_width: u32,
    out_width: u32,
    inputs: Vec<BusField>,
    outputs: Vec<BusField>,
    stages: Vec<StageText>,
    unused: Vec<String>,
    out_expr: String,
}

struct StageText {
    index: u32,
    comb: Vec<String>,
    reg_decls: Vec<String>,
    reg_assigns: Vec<String>,
    /// Assignments of duplicated registers, in an `always` block marked `keep`.
    kept_assigns: Vec<String>,
}

/// Names and bit usage of every wire.
struct Wires {
    width: Vec<u32>,
    signed: Vec<bool>,
    /// Used bits per node, delay and register copy: `used[node][(delay, copy)][bit]`.
    used: Vec<BTreeMap<(u32, u32), Vec<bool>>>,
    is_const: Vec<Option<i128>>,
    trimmed: Vec<bool>,
}

/// A reference to a node's value as seen from a stage.
#[derive(Clone, Copy)]
struct Ref {
    node: usize,
    delay: u32,
    /// Which copy of a duplicated register (see `Schedule::fanout_plan`).
    copy: u32,
}

impl Wires {
    fn name(&self, r: Ref) -> String {
        match (r.delay, r.copy) {
            (0, _) => format!("n{}", r.node),
            (d, 0) => format!("n{}_d{d}", r.node),
            (d, c) => format!("n{}_d{d}_c{c}", r.node),
        }
    }
    fn mark(&mut self, r: Ref, lo: u32, hi: u32) {
        let w = self.width[r.node] as usize;
        let bits = self.used[r.node]
            .entry((r.delay, r.copy))
            .or_insert_with(|| vec![false; w]);
        for b in lo..=hi {
            bits[b as usize] = true;
        }
    }
    /// Bit `i` of the value, sign- or zero-extended beyond the wire.
    fn bit(&mut self, r: Ref, i: u32) -> String {
        let w = self.width[r.node];
        if let Some(c) = self.is_const[r.node] {
            return format!("1'b{}", (c >> i.min(126)) & 1);
        }
        if i >= w && !self.signed[r.node] {
            return "1'b0".into();
        }
        let i = i.min(w - 1);
        self.mark(r, i, i);
        format!("{}[{i}]", self.name(r))
    }
    /// Bits `hi..=lo` (within the wire) as an expression.
    fn slice(&mut self, r: Ref, hi: u32, lo: u32) -> String {
        self.mark(r, lo, hi);
        if hi == lo && self.width[r.node] == 1 {
            self.name(r)
        } else if hi == lo {
            format!("{}[{hi}]", self.name(r))
        } else {
            format!("{}[{hi}:{lo}]", self.name(r))
        }
    }
    /// `value · 2^shift` (shift ≥ 0) as a `w`-bit two's complement expression (modulo 2^w).
    fn shifted(&mut self, r: Ref, shift: u32, w: u32) -> String {
        if let Some(c) = self.is_const[r.node] {
            return literal(if shift >= 127 { 0 } else { c << shift }, w);
        }
        if shift >= w {
            return format!("{w}'d0");
        }
        let inner = self.extended(r, w - shift);
        if shift == 0 {
            inner
        } else {
            format!("{{{inner}, {shift}'d0}}")
        }
    }
    /// `⌊value · 2^-k⌋` as a `w`-bit two's complement expression (modulo 2^w).
    fn shifted_down(&mut self, r: Ref, k: u32, w: u32) -> String {
        if k == 0 {
            return self.extended(r, w);
        }
        let ws = self.width[r.node];
        if ws <= k {
            return if self.signed[r.node] {
                let b = self.bit(r, ws - 1);
                format!("{{{w}{{{b}}}}}")
            } else {
                format!("{w}'d0")
            };
        }
        let hi = (ws - 1).min(k + w - 1);
        let all = self.slice(r, hi, k);
        let have = hi - k + 1;
        if have >= w {
            return all;
        }
        assert!(
            !self.trimmed[r.node],
            "internal error: extending n{} which holds only its low bits",
            r.node
        );
        let fill = if self.signed[r.node] {
            self.bit(r, ws - 1)
        } else {
            "1'b0".into()
        };
        format!("{{{{{}{{{fill}}}}}, {all}}}", w - have)
    }
    /// The value sign- or zero-extended (or truncated, modulo 2^w) to `w` bits.
    fn extended(&mut self, r: Ref, w: u32) -> String {
        if let Some(c) = self.is_const[r.node] {
            return literal(c, w);
        }
        let ws = self.width[r.node];
        if ws >= w {
            return self.slice(r, w - 1, 0);
        }
        assert!(
            !self.trimmed[r.node],
            "internal error: extending n{} which holds only its low bits",
            r.node
        );
        let all = self.slice(r, ws - 1, 0);
        let fill = if self.signed[r.node] {
            self.bit(r, ws - 1)
        } else {
            "1'b0".into()
        };
        format!("{{{{{}{{{fill}}}}}, {all}}}", w - ws)
    }
}

/// A `w`-bit literal of `v` modulo 2^w.
fn literal(v: i128, w: u32) -> String {
    let m = if w >= 127 {
        v as u128
    } else {
        (v as u128) & ((1u128 << w) - 1)
    };
    format!("{w}'h{m:x}")
}

/// A `w`-bit signed literal of `v` (which must fit).
fn signed_literal(v: i128, w: u32) -> String {
    format!(
        "{w}'sh{:x}",
        if w >= 127 {
            v as u128
        } else {
            (v as u128) & ((1u128 << w) - 1)
        }
    )
}

/// Synthesis attributes that keep duplicated registers apart.
const KEEP: &str = "(* keep = \"true\", dont_touch = \"true\" *)";

/// Renders the top module. `top` must already be a legal identifier; `cells` says how sums
/// are built.
pub fn write_verilog(
    net: &Netlist,
    sched: &Schedule,
    top: &str,
    cells: AdderCells,
) -> Result<String> {
    let n = net.nodes.len();
    let mut wires = Wires {
        width: net.nodes.iter().map(|x| x.width()).collect(),
        signed: net.nodes.iter().map(|x| x.signed()).collect(),
        trimmed: net.nodes.iter().map(|x| x.trimmed()).collect(),
        used: vec![BTreeMap::new(); n],
        is_const: net
            .nodes
            .iter()
            .map(|x| {
                if let Op::Const { value } = x.op {
                    Some(value)
                } else {
                    None
                }
            })
            .collect(),
    };
    let latency = sched.latency;
    let stage_of = |i: usize| sched.stage[i];
    let plan = sched.fanout_plan(net);
    let mut comb: Vec<Vec<String>> = vec![vec![]; latency as usize];
    // One ROM (a Verilog function) per distinct table: the elements of a table layer share
    // it, so the text grows with the table once, not once per element.
    let mut roms: std::collections::HashMap<(u32, u32, i128, &[i128]), String> =
        std::collections::HashMap::new();
    let mut rom_text: Vec<String> = vec![];
    let mut input_offsets = Vec::new();
    let mut off = 0u32;
    for p in &net.inputs {
        for _ in &p.elements {
            input_offsets.push(off);
            off += p.ty.width;
        }
    }
    let in_width = off;
    let input_types = net.input_types();
    let mut bus_unused: Vec<String> = Vec::new();
    let (fused, absorbed) = if cells == AdderCells::Ternary {
        ternary_sums(net, sched)
    } else {
        (vec![None; n], vec![false; n])
    };

    for i in 0..n {
        let node = &net.nodes[i];
        if wires.is_const[i].is_some() || absorbed[i] {
            continue;
        }
        let s = stage_of(i);
        let w = wires.width[i];
        let at = |o: NodeId| Ref {
            node: o.index(),
            delay: s - stage_of(o.index()),
            copy: plan.pick(i, o.index()),
        };
        let name = format!("n{i}");
        let expr = match &node.op {
            Op::Const { .. } => unreachable!(),
            Op::Input { index } => {
                let lo = input_offsets[*index];
                let tw = input_types[*index].width;
                if w < tw {
                    // Only the low bits of this element are read (see passes::trim).
                    bus_unused.push(if tw - w == 1 {
                        format!("in_data[{}]", lo + w)
                    } else {
                        format!("in_data[{}:{}]", lo + tw - 1, lo + w)
                    });
                }
                format!("in_data[{}:{lo}]", lo + w - 1)
            }
            Op::Add { .. } if fused[i].is_some() => {
                let ts = fused[i].unwrap();
                let ref_of = |t: &Term3| Ref {
                    node: t.node,
                    delay: s - stage_of(t.node),
                    copy: plan.pick(i, t.node),
                };
                let (l1, start, pass) = ternary_start(&ts);
                let cw = w - start;
                let ports: Vec<String> = ts
                    .iter()
                    .map(|t| {
                        if t.shift >= start {
                            wires.shifted(ref_of(t), t.shift - start, cw)
                        } else {
                            wires.shifted_down(ref_of(t), start - t.shift, cw)
                        }
                    })
                    .collect();
                let tn = format!("{name}_t");
                let c = &mut comb[s as usize];
                c.push(format!("wire [{}:0] {tn};", cw - 1));
                c.push(format!(
                    "rtl4ml_add3 #(.W({cw}), .NB({}), .NC({})) {name}_add3 (.a({}), .b({}), .c({}), .s({tn}));",
                    u8::from(ts[1].neg),
                    u8::from(ts[2].neg),
                    ports[0],
                    ports[1],
                    ports[2]
                ));
                let mut parts = vec![tn];
                if let Some(k) = pass {
                    parts.push(wires.extended(ref_of(&ts[k]), start - l1));
                }
                if l1 > 0 {
                    parts.push(format!("{l1}'d0"));
                }
                if parts.len() == 1 {
                    parts.pop().unwrap()
                } else {
                    format!("{{{}}}", parts.join(", "))
                }
            }
            Op::Add { a, b, sub } if cells == AdderCells::Chains => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                let sb = (node.frac - net.operand_frac(b)) as u32;
                // No carry is made below the larger shift of an addition (one operand is zero
                // there) or below the subtrahend's shift: those bits pass through.
                let k = if *sub { sb } else { sa.max(sb) }.min(w);
                let (ra, rb) = (at(a.node), at(b.node));
                let high = |r: Ref, sh: u32, wires: &mut Wires| {
                    if let Some(c) = wires.is_const[r.node] {
                        let v = if sh >= k {
                            if sh - k >= 127 {
                                0
                            } else {
                                c << (sh - k)
                            }
                        } else {
                            c >> (k - sh).min(127)
                        };
                        literal(v, w - k)
                    } else if sh >= k {
                        wires.shifted(r, sh - k, w - k)
                    } else {
                        wires.shifted_down(r, k - sh, w - k)
                    }
                };
                let low = |wires: &mut Wires| match (k, *sub || sa < sb) {
                    (0, _) => None,
                    (_, true) => Some(wires.shifted(ra, sa, k)),
                    (_, false) => Some(wires.shifted(rb, sb, k)),
                };
                if k == w {
                    low(&mut wires).unwrap()
                } else {
                    let (ha, hb) = (high(ra, sa, &mut wires), high(rb, sb, &mut wires));
                    let sn = format!("{name}_s");
                    let c = &mut comb[s as usize];
                    c.push(format!("wire [{}:0] {sn};", w - k - 1));
                    c.push(format!(
                        "rtl4ml_add2 #(.W({}), .SUB({})) {name}_add2 (.a({ha}), .b({hb}), .s({sn}));",
                        w - k,
                        u8::from(*sub)
                    ));
                    match low(&mut wires) {
                        None => sn,
                        Some(l) => format!("{{{sn}, {l}}}"),
                    }
                }
            }
            Op::Add { a, b, sub } => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                let sb = (node.frac - net.operand_frac(b)) as u32;
                let ea = wires.shifted(at(a.node), sa, w);
                let eb = wires.shifted(at(b.node), sb, w);
                format!("{ea} {} {eb}", if *sub { "-" } else { "+" })
            }
            Op::Neg { a } => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                format!("{w}'d0 - {}", wires.shifted(at(a.node), sa, w))
            }
            Op::Relu { a } => {
                let r = at(*a);
                let sign = wires.bit(r, wires.width[a.index()] - 1);
                format!("{sign} ? {w}'d0 : {}", wires.extended(r, w))
            }
            Op::Cmp { x, y } => {
                let f = net.operand_frac(x).max(net.operand_frac(y));
                let (sx, sy) = (
                    (f - net.operand_frac(x)) as u32,
                    (f - net.operand_frac(y)) as u32,
                );
                let wc = crate::target::ops::cmp_width(net, i);
                let signed = net.node(x.node).signed() || net.node(y.node).signed();
                let ex = wires.shifted(at(x.node), sx, wc);
                let ey = wires.shifted(at(y.node), sy, wc);
                if signed {
                    format!("$signed({ex}) > $signed({ey})")
                } else {
                    format!("{ex} > {ey}")
                }
            }
            Op::Mux { c, a, b } => {
                let sa = (node.frac - net.operand_frac(a)) as u32;
                let sb = (node.frac - net.operand_frac(b)) as u32;
                let ec = wires.bit(at(*c), 0);
                let ea = wires.shifted(at(a.node), sa, w);
                let eb = wires.shifted(at(b.node), sb, w);
                format!("{ec} ? {ea} : {eb}")
            }
            Op::Mul { a, b, dsp: true } => {
                // One hard multiplier: signed factors of their exact widths (an unsigned one
                // with a zero sign bit; one holding only its low bits (see passes::trim) is
                // cut to the product's width, where its sign no longer matters).
                let mut port = |o: &Operand, tag: &str| {
                    let r = at(o.node);
                    let ws = wires.width[r.node];
                    let (e, pw) = if wires.trimmed[r.node] || ws >= w {
                        let k = ws.min(w);
                        (wires.slice(r, k - 1, 0), k)
                    } else if wires.signed[r.node] {
                        (wires.slice(r, ws - 1, 0), ws)
                    } else {
                        (format!("{{1'b0, {}}}", wires.slice(r, ws - 1, 0)), ws + 1)
                    };
                    let pn = format!("n{i}_{tag}");
                    comb[s as usize].push(format!("wire signed [{}:0] {pn} = {e};", pw - 1));
                    (pn, pw)
                };
                let (pa, wa) = port(a, "a");
                let (pb, wb) = port(b, "b");
                let wp = wa + wb;
                let pn = format!("n{i}_p");
                comb[s as usize].push(format!(
                    "(* use_dsp = \"yes\" *) wire signed [{}:0] {pn} = {pa} * {pb};",
                    wp - 1
                ));
                comb[s as usize].push(String::new());
                mark_unused_r(&mut comb[s as usize], &pn, wp, w);
                comb[s as usize].pop();
                if wp >= w {
                    format!("{pn}[{}:0]", w - 1)
                } else {
                    format!("{{{{{}{{{pn}[{}]}}}}, {pn}}}", w - wp, wp - 1)
                }
            }
            Op::Mul { a, b, .. } => {
                // Modulo 2^w, the product of the sign- or zero-extended factors is exact.
                let ea = wires.extended(at(a.node), w);
                let eb = wires.extended(at(b.node), w);
                format!("{ea} * {eb}")
            }
            Op::Table { a, base, entries } => {
                let r = at(*a);
                let wa = wires.width[a.index()];
                let idx = wires.slice(r, wa - 1, 0);
                let next = roms.len();
                let f = roms
                    .entry((wa, w, *base, &entries[..]))
                    .or_insert_with(|| {
                        let f = format!("rom{next}");
                        rom_text.push(format!("function [{}:0] {f};  // lookup table", w - 1));
                        // The argument's name is the function's own: declared names stay unique.
                        rom_text.push(format!("    input [{}:0] {f}_i;", wa - 1));
                        rom_text.push("    begin".to_string());
                        rom_text.push(format!("        case ({f}_i)"));
                        for (k, &e) in entries.iter().enumerate() {
                            rom_text.push(format!(
                                "            {}: {f} = {};",
                                literal(base + k as i128, wa),
                                literal(e, w)
                            ));
                        }
                        rom_text.push(format!("            default: {f} = {w}'d0;"));
                        rom_text.push("        endcase".to_string());
                        rom_text.push("    end".to_string());
                        rom_text.push("endfunction".to_string());
                        f
                    })
                    .clone();
                format!("{f}({idx})")
            }
            Op::Cast { a, to } => {
                let lines = cast_lines(net, &mut wires, i, at(a.node), a, to);
                let last = lines.len() - 1;
                for l in &lines[..last] {
                    comb[s as usize].push(l.clone());
                }
                lines[last].clone()
            }
        };
        let src = match &node.op {
            Op::Input { .. } => "input".to_string(),
            _ => comment_text(&net.layers[node.layer as usize]),
        };
        comb[s as usize].push(format!("wire [{}:0] {name} = {expr};  // {src}", w - 1));
    }

    // Output bus: each element from the register after the last stage.
    let mut out_parts = Vec::new();
    for (e, ty) in net.output_elements() {
        let i = e.index();
        let r = Ref {
            node: i,
            delay: if wires.is_const[i].is_some() {
                0
            } else {
                latency - stage_of(i)
            },
            copy: 0,
        };
        let node = &net.nodes[i];
        debug_assert_eq!(node.frac, ty.frac());
        out_parts.push(wires.extended(r, ty.width));
    }
    out_parts.reverse(); // element 0 at the least significant end
    let out_width: u32 = net.output_elements().iter().map(|(_, t)| t.width).sum();

    // The ROM functions, declared before any stage reads them.
    if let Some(first) = comb.first_mut() {
        rom_text.append(first);
        *first = rom_text;
    }
    let mut stages: Vec<StageText> = (0..latency)
        .map(|k| StageText {
            index: k,
            comb: std::mem::take(&mut comb[k as usize]),
            reg_decls: vec![],
            reg_assigns: vec![],
            kept_assigns: vec![],
        })
        .collect();
    // Registers: every (node, delay ≥ 1) that something reads, and the chain below it; the
    // copies of a duplicated register all read the chain's previous register. Every copy carries
    // `keep`/`dont_touch` so that synthesis does not merge them back into one: Yosys takes the
    // attribute from the `always` block onto the flip-flop cells (`opt_merge` then leaves them
    // apart; on the declaration alone it only keeps the wire and merges the cells), Vivado from
    // the declaration.
    for i in 0..n {
        let max_delay = wires.used[i].keys().map(|k| k.0).max().unwrap_or(0);
        for d in 1..=max_delay {
            let w = wires.width[i];
            let prev = Ref {
                node: i,
                delay: d - 1,
                copy: 0,
            };
            let k = (stage_of(i) + d - 1) as usize;
            for c in 0..plan.copies(i, d) {
                let r = Ref {
                    node: i,
                    delay: d,
                    copy: c,
                };
                let chain = c == 0 && d < max_delay;
                if !chain && !wires.used[i].contains_key(&(d, c)) {
                    continue;
                }
                let rname = wires.name(r);
                // The register reads the whole previous wire.
                let pname = wires.name(prev);
                wires.mark(prev, 0, w - 1);
                let st = &mut stages[k];
                if plan.copies(i, d) > 1 {
                    st.reg_decls
                        .push(format!("{KEEP} reg [{}:0] {rname};", w - 1));
                    st.kept_assigns.push(format!("{rname} <= {pname};"));
                } else {
                    st.reg_decls.push(format!("reg [{}:0] {rname};", w - 1));
                    st.reg_assigns.push(format!("{rname} <= {pname};"));
                }
            }
        }
    }

    // Dropped bits go to the sink so that lint sees every bit used on purpose.
    let mut unused = bus_unused;
    for i in 0..n {
        for (&(d, c), bits) in &wires.used[i] {
            let name = wires.name(Ref {
                node: i,
                delay: d,
                copy: c,
            });
            let mut b = 0;
            while b < bits.len() {
                if bits[b] {
                    b += 1;
                    continue;
                }
                let start = b;
                while b < bits.len() && !bits[b] {
                    b += 1;
                }
                unused.push(if bits.len() == 1 {
                    name.clone()
                } else if b - 1 == start {
                    format!("{name}[{start}]")
                } else {
                    format!("{name}[{}:{start}]", b - 1)
                });
            }
        }
        // Wires nobody reads at all (e.g. an input whose weights are all pruned).
        if wires.used[i].is_empty()
            && wires.is_const[i].is_none()
            && !absorbed[i]
            && !net.output_elements().iter().any(|(e, _)| e.index() == i)
        {
            unused.push(format!("n{i}"));
        }
    }

    let field = |p: &crate::ir::netlist::Port, lsb: &mut u32| {
        let w = p.ty.width * p.elements.len() as u32;
        let f = BusField {
            name: comment_text(&p.name),
            shape: p.shape.clone(),
            ty: p.ty.to_string(),
            element_width: p.ty.width,
            lsb: *lsb,
            msb: *lsb + w - 1,
        };
        *lsb += w;
        f
    };
    let mut lsb = 0;
    let inputs = net.inputs.iter().map(|p| field(p, &mut lsb)).collect();
    let mut lsb = 0;
    let outputs = net.outputs.iter().map(|p| field(p, &mut lsb)).collect();
    let t = TopTemplate {
        module: top,
        model: comment_text(&net.name),
        version: env!("CARGO_PKG_VERSION"),
        clock_ns: format!("{:.3}", sched.clock_ns),
        latency,
        in_width,
        out_width,
        inputs,
        outputs,
        stages,
        unused,
        out_expr: format!("{{{}}}", out_parts.join(", ")),
    };
    let mut text = t.render()?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The lines of one cast; the last one is the final expression (without its declaration).
fn cast_lines(
    net: &Netlist,
    wires: &mut Wires,
    i: usize,
    src: Ref,
    a: &Operand,
    to: &FixedType,
) -> Vec<String> {
    let plan = net.cast_plan(a, to);
    let wn = wires.width[i];
    // Without saturation only the node's low bits of the rounded value matter (modulo
    // arithmetic; a WRAP keeps the low bits), so the rounding adder is no wider than the node.
    let wr = if plan.saturates() {
        plan.rounded.width()
    } else {
        plan.rounded.width().min(wn)
    };
    let rs = plan.rounded.signed();
    let ws = wires.width[a.node.index()];
    let mut lines = Vec::new();
    let rname = format!("n{i}_r");
    let r_expr = if plan.shift >= 0 {
        wires.shifted(src, plan.shift as u32, wr)
    } else {
        // Dropping more than ws+1 bits decides nothing more than dropping ws+1.
        let d = ((-plan.shift) as u32).min(ws + 1);
        let floor = if d < ws {
            let wf = ws - d;
            if wf >= wr {
                // keep the low wr bits of the floor (modulo arithmetic)
                wires.slice(src, d + wr - 1, d)
            } else {
                let bits = wires.slice(src, ws - 1, d);
                if wires.signed[src.node] {
                    let sign = wires.bit(src, ws - 1);
                    format!("{{{{{}{{{sign}}}}}, {bits}}}", wr - wf)
                } else {
                    format!("{{{}'d0, {bits}}}", wr - wf)
                }
            }
        } else if wires.signed[src.node] {
            let sign = wires.bit(src, ws - 1);
            format!("{{{wr}{{{sign}}}}}")
        } else {
            format!("{wr}'d0")
        };
        if plan.folds_increment(to.round, ws) {
            // The increment folded into the rounding adder: `(x + K + c) >> d` with a constant
            // (or the sign repeated) `K` and a carry-in bit `c`, one carry chain d bits longer
            // instead of a LUT computing the increment from the dropped bits ahead of it (on
            // ECP5 a LUT4 and a net, ~1.2 ns, on every critical path that rounds this way).
            // Ties: RND_ZERO/RND_INF/RND_MIN_INF/RND_CONV add half − 1 and then the sign, its
            // complement, nothing or the kept LSB; TRN_ZERO/UP add 2^d − 1 when negative /
            // non-negative, CEIL always.
            let w = wr + d;
            let sign = if wires.signed[src.node] {
                wires.bit(src, ws - 1)
            } else {
                "1'b0".into()
            };
            let low = wires.slice(src, d - 1, 0);
            let half_m1 = literal((1i128 << (d - 1)) - 1, w);
            let ones = |bit: String| {
                if d == 1 {
                    format!("{{{}'d0, {bit}}}", w - 1)
                } else {
                    format!("{{{}'d0, {{{d}{{{bit}}}}}}}", w - d)
                }
            };
            let (k, cin) = match to.round {
                Round::Trn | Round::Rnd => unreachable!(),
                Round::RndZero => (half_m1, Some(sign)),
                Round::RndInf => (half_m1, Some(format!("~{sign}"))),
                Round::RndMinInf => (half_m1, None),
                Round::RndConv => (half_m1, Some(wires.bit(src, d))),
                Round::TrnZero => (ones(sign), None),
                Round::Up => (ones(format!("~{sign}")), None),
                Round::Ceil => (literal((1i128 << d) - 1, w), None),
            };
            let cin = cin
                .map(|c| format!(" + {{{}'d0, {c}}}", w - 1))
                .unwrap_or_default();
            lines.push(format!(
                "wire [{}:0] {rname}_s = {{{floor}, {low}}} + {k}{cin};",
                w - 1
            ));
            lines.push(format!(
                "wire _unused_ok_{rname}_s = &{{1'b0, {rname}_s[{}:0]}};",
                d - 1
            ));
            format!("{rname}_s[{}:{d}]", w - 1)
        } else if plan.round_inc {
            let signed = wires.signed[src.node];
            let sign = |w: &mut Wires| {
                if signed {
                    w.bit(src, ws - 1)
                } else {
                    "1'b0".into()
                }
            };
            let msb = wires.bit(src, d - 1);
            // Read (and mark) only the bits a mode needs, so that the unused-bit sink is exact.
            let rest = |w: &mut Wires| {
                if d >= 2 {
                    format!("(|{})", w.slice(src, (d - 2).min(ws - 1), 0))
                } else {
                    "1'b0".into()
                }
            };
            let inc = match to.round {
                Round::Trn => unreachable!(),
                Round::TrnZero => format!(
                    "{} & (|{})",
                    sign(wires),
                    wires.slice(src, (d - 1).min(ws - 1), 0)
                ),
                Round::Rnd => msb,
                Round::RndZero => format!("{msb} & ({} | {})", rest(wires), sign(wires)),
                Round::RndMinInf => format!("{msb} & {}", rest(wires)),
                Round::RndInf => format!("{msb} & ({} | ~{})", rest(wires), sign(wires)),
                Round::RndConv => {
                    let lsb = wires.bit(src, d);
                    format!("{msb} & ({} | {lsb})", rest(wires))
                }
                // floor + 1 whenever a dropped bit is set (CEIL), and only for a
                // non-negative value (UP: a negative floor already points away from zero).
                Round::Ceil => format!("(|{})", wires.slice(src, (d - 1).min(ws - 1), 0)),
                Round::Up => format!(
                    "~{} & (|{})",
                    sign(wires),
                    wires.slice(src, (d - 1).min(ws - 1), 0)
                ),
            };
            lines.push(format!("wire {rname}_inc = {inc};"));
            let inc_ext = if wr == 1 {
                format!("{rname}_inc")
            } else {
                format!("{{{}'d0, {rname}_inc}}", wr - 1)
            };
            format!("{floor} + {inc_ext}")
        } else {
            floor
        }
    };
    lines.push(format!("wire [{}:0] {rname} = {r_expr};", wr - 1));
    let rw = |rname: &str, hi: u32, lo: u32| {
        if hi == lo && wr == 1 {
            rname.to_string()
        } else if hi == lo {
            format!("{rname}[{hi}]")
        } else {
            format!("{rname}[{hi}:{lo}]")
        }
    };
    // Extends or truncates the rounded wire to `w` bits, from `from_w` bits with signedness `sg`.
    let ext = |name: &str, from_w: u32, sg: bool, w: u32| -> String {
        if from_w >= w {
            rw(name, w - 1, 0)
        } else {
            let top = rw(name, from_w - 1, from_w - 1);
            let all = rw(name, from_w - 1, 0);
            if sg {
                format!("{{{{{}{{{top}}}}}, {all}}}", w - from_w)
            } else {
                format!("{{{}'d0, {all}}}", w - from_w)
            }
        }
    };
    if !plan.saturates() {
        lines.push(ext(&rname, wr, rs, wn));
        mark_unused_r(&mut lines, &rname, wr, wn.min(wr));
        return lines;
    }
    // The smallest code a saturation leaves: −max under a signed SAT_SYM (see `cast_min`).
    let (min, max) = (to.cast_min(), to.max_mantissa());
    match to.overflow {
        Overflow::Wrap => unreachable!("handled with the non-saturating casts"),
        mode => {
            let cmp = |v: i128, op: &str| {
                if rs {
                    format!("($signed({rname}) {op} {})", signed_literal(v, wr))
                } else {
                    format!("({rname} {op} {})", literal(v, wr))
                }
            };
            // Against the type's own range (the common case) the tests are reductions of the
            // rounded value's top bits, LUT logic with no carry chain (see `SaturationTest`);
            // other bounds (SAT_SYM, SAT_NARROW) are comparisons.
            let test = SaturationTest::new(to, wr, rs);
            // Bits of the rounded wire read by the kept value and the tests (a comparison reads
            // them all); the rest are sunk for the linter.
            let mut read = vec![false; wr as usize];
            let mut reads = |hi: u32, lo: u32| {
                for b in lo..=hi.min(wr - 1) {
                    read[b as usize] = true;
                }
            };
            reads(wn.min(wr) - 1, 0);
            let hi = if plan.rounded.hi > max {
                Some(match test.above {
                    Some((top, p)) if rs => {
                        reads(wr - 1, wr - 1);
                        reads(top, p);
                        format!(
                            "(~{} & (|{}))",
                            rw(&rname, wr - 1, wr - 1),
                            rw(&rname, top, p)
                        )
                    }
                    Some((top, p)) => {
                        reads(top, p);
                        format!("(|{})", rw(&rname, top, p))
                    }
                    None => {
                        reads(wr - 1, 0);
                        cmp(max, ">")
                    }
                })
            } else {
                None
            };
            let lo = if plan.rounded.lo < min {
                Some(match test.below {
                    Some(None) => {
                        reads(wr - 1, wr - 1);
                        rw(&rname, wr - 1, wr - 1)
                    }
                    Some(Some((top, p))) => {
                        reads(wr - 1, wr - 1);
                        reads(top, p);
                        let sign = rw(&rname, wr - 1, wr - 1);
                        let outside = format!("~(&{})", rw(&rname, top, p));
                        if test.sym {
                            reads(p - 1, 0);
                            format!("({sign} & ({outside} | ~(|{})))", rw(&rname, p - 1, 0))
                        } else {
                            format!("({sign} & {outside})")
                        }
                    }
                    None => {
                        reads(wr - 1, 0);
                        cmp(min, "<")
                    }
                })
            } else {
                None
            };
            let unread: Vec<String> = (0..wr)
                .rev()
                .filter(|&b| !read[b as usize])
                .map(|b| rw(&rname, b, b))
                .collect();
            if !unread.is_empty() {
                lines.push(format!(
                    "wire _unused_ok_{rname} = &{{1'b0, {}}};",
                    unread.join(", ")
                ));
            }
            let keep = ext(&rname, wr, rs, wn);
            let e = match mode {
                Overflow::SatZero => {
                    let c = [hi, lo]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" | ");
                    format!("({c}) ? {wn}'d0 : {keep}")
                }
                _ => {
                    let mut e = keep;
                    if let Some(l) = lo {
                        e = format!("{l} ? {} : {e}", literal(min, wn));
                    }
                    if let Some(h) = hi {
                        e = format!("{h} ? {} : ({e})", literal(max, wn));
                    }
                    e
                }
            };
            lines.push(e);
        }
    }
    lines
}

/// Sinks the bits of the rounded wire above `used` when only the low bits are read.
fn mark_unused_r(lines: &mut Vec<String>, rname: &str, wr: u32, used: u32) {
    if used < wr {
        let e = if wr - 1 == used {
            format!("{rname}[{used}]")
        } else {
            format!("{rname}[{}:{used}]", wr - 1)
        };
        let last = lines.pop().unwrap();
        lines.push(format!("wire _unused_ok_{rname} = &{{1'b0, {e}}};"));
        lines.push(last);
    }
}
