//! Constant matrix–vector multiplication: shared shift-and-add subexpressions.
//!
//! Each output of a dense layer is a sum of signed, shifted terms `±x_i·2^k` (the canonical
//! signed digits of its weights). Two terms that occur together — up to a common shift and
//! sign — in several outputs are computed once: `t = x_a ± x_b·2^d`, and every output that
//! had the pair now has the single term `±t·2^k`. The most frequent pair is extracted first
//! (greedy common-subexpression elimination, as in the H-CMVM family), repeatedly, so shared
//! terms themselves combine into larger shared subexpressions. A pair is only extracted when
//! its adder depth stays within the depth of the unshared trees, so sharing does not lengthen
//! the critical path.
//!
//! Counting is incremental: replacing a pair in one output only updates the counts of the pairs
//! that involve the terms it touched, and a lazily invalidated heap finds the next best pair.

use super::lower::{Lowering, Term};
use crate::ir::netlist::{BuildResult, NodeId, Operand};
use rustc_hash::FxHashMap as HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A pair of terms up to a common shift and sign: `x_a ± x_b·2^delta`, with `(a, 0) < (b, delta)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Pattern {
    a: NodeId,
    b: NodeId,
    delta: i32,
    sub: bool,
}

/// The pattern of two terms, and the shift and sign of the first in it.
fn pattern(t1: &Term, t2: &Term) -> Option<(Pattern, i32, bool)> {
    let (mut p, mut q) = (t1, t2);
    if (q.0.node, q.0.shift) < (p.0.node, p.0.shift) {
        std::mem::swap(&mut p, &mut q);
    }
    if p.0.node == q.0.node && p.0.shift == q.0.shift {
        return None;
    }
    Some((
        Pattern {
            a: p.0.node,
            b: q.0.node,
            delta: q.0.shift - p.0.shift,
            sub: p.1 != q.1,
        },
        p.0.shift,
        p.1,
    ))
}

impl Lowering {
    fn is_const(&self, t: &Term) -> bool {
        let r = self.b.net.node(t.0.node).range;
        r.lo == r.hi
    }

    /// Adder depth of a column's balanced tree over terms of the given levels.
    fn tree_depth(levels: &mut Vec<u32>) -> u32 {
        let mut heap: BinaryHeap<Reverse<u32>> = levels.drain(..).map(Reverse).collect();
        while heap.len() > 1 {
            let Reverse(a) = heap.pop().unwrap();
            let Reverse(b) = heap.pop().unwrap();
            heap.push(Reverse(a.max(b) + 1));
        }
        heap.pop().map(|r| r.0).unwrap_or(0)
    }

    /// Extracts shared subexpressions across the columns (outputs) of one dense layer.
    pub(super) fn share_subexpressions(&mut self, columns: &mut [Vec<Term>]) -> BuildResult<()> {
        // Depth budget: the deepest unshared column tree.
        let max_depth = columns
            .iter()
            .map(|c| {
                Self::tree_depth(&mut c.iter().map(|t| self.levels[t.0.node.index()]).collect())
            })
            .max()
            .unwrap_or(0);
        // Per pattern: its count, and the head of the list of columns it was seen in since
        // it was last extracted (with repeats; one map, so counting a pair is one lookup). The
        // lists live in one arena, `seen`, of (column, next) links ending at NONE, so that a
        // pattern costs no allocation of its own.
        let pairs: usize = columns
            .iter()
            .map(|c| c.len() * c.len().saturating_sub(1) / 2)
            .sum();
        let mut counts: HashMap<Pattern, (i32, u32)> =
            HashMap::with_capacity_and_hasher(pairs.min(1 << 20), Default::default());
        let mut seen: Vec<(u32, u32)> = Vec::with_capacity(pairs.min(1 << 22));
        const NONE: u32 = u32::MAX;
        let note = |e: &mut (i32, u32), c: usize, seen: &mut Vec<(u32, u32)>| {
            e.0 += 1;
            seen.push((c as u32, e.1));
            e.1 = (seen.len() - 1) as u32;
        };
        let mut heap: BinaryHeap<(i32, Reverse<u32>, Reverse<Pattern>)> = BinaryHeap::new();
        let depth =
            |lw: &Lowering, p: &Pattern| lw.levels[p.a.index()].max(lw.levels[p.b.index()]) + 1;

        for (c, col) in columns.iter().enumerate() {
            let konst: Vec<bool> = col.iter().map(|t| self.is_const(t)).collect();
            for i in 0..col.len() {
                if konst[i] {
                    continue;
                }
                for j in i + 1..col.len() {
                    if konst[j] {
                        continue;
                    }
                    if let Some((p, _, _)) = pattern(&col[i], &col[j]) {
                        note(counts.entry(p).or_insert((0, NONE)), c, &mut seen);
                    }
                }
            }
        }
        for (p, &(n, _)) in &counts {
            if n >= 2 {
                heap.push((n, Reverse(depth(self, p)), Reverse(*p)));
            }
        }

        while let Some((n, Reverse(d), Reverse(p))) = heap.pop() {
            if counts.get(&p).map(|e| e.0) != Some(n) || n < 2 || d > max_depth {
                continue;
            }
            // Replace non-overlapping occurrences, column by column.
            let mut cols: Vec<usize> = Vec::new();
            if let Some(e) = counts.get_mut(&p) {
                let mut k = std::mem::replace(&mut e.1, NONE);
                while k != NONE {
                    let (c, next) = seen[k as usize];
                    cols.push(c as usize);
                    k = next;
                }
            }
            cols.sort_unstable();
            cols.dedup();
            let mut found: Vec<(usize, usize, usize, i32, bool)> = Vec::new();
            for &c in &cols {
                let col = &columns[c];
                let mut used = vec![false; col.len()];
                // Occurrences: a term on node `a` and one on `b` at shift + delta with the
                // sign relation of the pattern (linear in the column per `a` term).
                for i in 0..col.len() {
                    let (ti, ni) = col[i];
                    if used[i] || ti.node != p.a {
                        continue;
                    }
                    let want = (p.b, ti.shift + p.delta, ni != p.sub);
                    if let Some(j) = (0..col.len()).find(|&j| {
                        !used[j] && j != i && (col[j].0.node, col[j].0.shift, col[j].1) == want
                    }) {
                        used[i] = true;
                        used[j] = true;
                        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                        found.push((c, lo, hi, ti.shift, ni));
                    }
                }
            }
            if found.len() < 2 {
                counts.insert(p, (0, NONE));
                continue;
            }
            let t = self.b.add(
                Operand {
                    node: p.a,
                    shift: 0,
                },
                Operand {
                    node: p.b,
                    shift: p.delta,
                },
                p.sub,
            )?;
            self.sync_levels();
            // Apply per column, removing higher indices first.
            found.sort_by_key(|x| (x.0, Reverse(x.2.max(x.1))));
            let mut by_col: HashMap<usize, Vec<(usize, usize, i32, bool)>> = HashMap::default();
            for (c, i, j, s, ng) in found {
                by_col.entry(c).or_default().push((i, j, s, ng));
            }
            let mut keys: Vec<usize> = by_col.keys().copied().collect();
            keys.sort_unstable();
            for c in keys {
                let mut removals: Vec<usize> = Vec::new();
                let mut additions: Vec<Term> = Vec::new();
                for &(i, j, s, ng) in &by_col[&c] {
                    removals.push(i);
                    removals.push(j);
                    additions.push((Operand { node: t, shift: s }, ng));
                }
                removals.sort_unstable_by(|a, b| b.cmp(a));
                // Uncount every pair that involves a removed term.
                let col = &columns[c];
                let mut changed: Vec<Pattern> = Vec::new();
                for &r in &removals {
                    if self.is_const(&col[r]) {
                        continue;
                    }
                    for (k, u) in col.iter().enumerate() {
                        if k == r || (removals.contains(&k) && k < r) || self.is_const(u) {
                            continue;
                        }
                        if let Some((q, _, _)) = pattern(&col[r], u) {
                            if let Some(v) = counts.get_mut(&q) {
                                v.0 -= 1;
                                changed.push(q);
                            }
                        }
                    }
                }
                let col = &mut columns[c];
                for r in removals {
                    col.remove(r);
                }
                // Count the pairs of the new terms with the rest (and with each other).
                for a in additions {
                    for u in col.iter() {
                        if self.is_const(u) {
                            continue;
                        }
                        if let Some((q, _, _)) = pattern(&a, u) {
                            note(counts.entry(q).or_insert((0, NONE)), c, &mut seen);
                            changed.push(q);
                        }
                    }
                    col.push(a);
                }
                changed.sort_unstable();
                changed.dedup();
                for q in changed {
                    let n = counts[&q].0;
                    if n >= 2 {
                        heap.push((n, Reverse(depth(self, &q)), Reverse(q)));
                    }
                }
            }
        }
        Ok(())
    }
}
