//! Register minimisation for a fixed number of stages, over all stage boundaries at once.
//!
//! Every node `i` gets a stage `s_i` in `0..L`. The constraints are
//! - an operand is never in a later stage than its reader: `s_a ≤ s_i`;
//! - the clock: when the longest combinational path from `u` to `v` (both included) is longer
//!   than the budget, they cannot share a stage: `s_v ≥ s_u + 1`;
//! - inputs sit in stage 0 (they come straight from `in_data`).
//!
//! The cost is the register bits: a value is held from its stage to the stage of its last
//! reader (outputs: to the output register), `width · (m_i − s_i)` with `m_i = max s_r`; a
//! value crossing a boundary is one register however many readers it has.
//!
//! With binary variables `x[i][k] = [s_i > k]` (one per node and boundary) and
//! `y[i][k] = [m_i > k]`, every constraint is an implication between two variables and the cost
//! is `width_i` for each boundary where `y = 1` and `x = 0`. That is a minimum cut in one flow
//! network of `nodes × boundaries` vertices (the same construction as for labelling problems with
//! ordered labels), so the register bits are minimised exactly under the delay model, not
//! boundary by boundary. A boundary may fall at a narrow point (a layer's inputs or its
//! activations) even when that makes the stages before it fuller: the cut sees all of them.

use crate::ir::netlist::{Netlist, Op};
use crate::target::timing::Timing;

const INF: i64 = i64::MAX / 4;

/// A max-flow / min-cut network (Dinic).
struct Flow {
    head: Vec<usize>,
    next: Vec<usize>,
    to: Vec<usize>,
    cap: Vec<i64>,
}

impl Flow {
    fn new(n: usize) -> Self {
        Flow {
            head: vec![usize::MAX; n],
            next: vec![],
            to: vec![],
            cap: vec![],
        }
    }
    fn edge(&mut self, a: usize, b: usize, c: i64) {
        for (u, v, w) in [(a, b, c), (b, a, 0)] {
            self.to.push(v);
            self.cap.push(w);
            self.next.push(self.head[u]);
            self.head[u] = self.to.len() - 1;
        }
    }
    /// Max flow from `s` to `t`; afterwards `reachable` gives the source side of a min cut.
    fn max_flow(&mut self, s: usize, t: usize) -> i64 {
        let n = self.head.len();
        let mut total: i64 = 0;
        loop {
            let mut level = vec![u32::MAX; n];
            level[s] = 0;
            let mut queue = std::collections::VecDeque::from([s]);
            while let Some(u) = queue.pop_front() {
                let mut e = self.head[u];
                while e != usize::MAX {
                    if self.cap[e] > 0 && level[self.to[e]] == u32::MAX {
                        level[self.to[e]] = level[u] + 1;
                        queue.push_back(self.to[e]);
                    }
                    e = self.next[e];
                }
            }
            if level[t] == u32::MAX {
                return total;
            }
            let mut it = self.head.clone();
            loop {
                let f = self.augment(s, t, &level, &mut it);
                if f == 0 {
                    break;
                }
                total = total.saturating_add(f);
                if total >= INF {
                    return total;
                }
            }
        }
    }
    /// One augmenting path in the level graph (iterative, so deep graphs cannot overflow the
    /// stack); returns the flow pushed.
    fn augment(&mut self, s: usize, t: usize, level: &[u32], it: &mut [usize]) -> i64 {
        let mut path: Vec<usize> = vec![]; // edges from s
        let mut u = s;
        loop {
            if u == t {
                let f = path.iter().map(|&e| self.cap[e]).min().unwrap_or(0);
                for &e in &path {
                    self.cap[e] -= f;
                    self.cap[e ^ 1] += f;
                }
                return f;
            }
            let mut advanced = false;
            while it[u] != usize::MAX {
                let e = it[u];
                let v = self.to[e];
                if self.cap[e] > 0 && level[v] == level[u] + 1 {
                    path.push(e);
                    u = v;
                    advanced = true;
                    break;
                }
                it[u] = self.next[e];
            }
            if !advanced {
                // Dead end: retreat and skip the edge that led here.
                match path.pop() {
                    None => return 0,
                    Some(e) => {
                        u = self.to[e ^ 1];
                        it[u] = self.next[it[u]];
                    }
                }
            }
        }
    }
    fn reachable(&self, s: usize) -> Vec<bool> {
        let mut seen = vec![false; self.head.len()];
        seen[s] = true;
        let mut stack = vec![s];
        while let Some(u) = stack.pop() {
            let mut e = self.head[u];
            while e != usize::MAX {
                if self.cap[e] > 0 && !seen[self.to[e]] {
                    seen[self.to[e]] = true;
                    stack.push(self.to[e]);
                }
                e = self.next[e];
            }
        }
        seen
    }
}

/// Pairs `(u, v)` that cannot share a stage: the longest path from `u` to `v` (both delays
/// included) exceeds `budget`, and no shorter prefix of it does (later nodes follow through the
/// operand order). A node slower than the budget on its own counts as the budget: nothing can
/// make it faster, but nothing with a delay may join it.
pub fn timing_pairs(net: &Netlist, timing: &Timing, budget: f64) -> Vec<(usize, usize)> {
    let n = net.nodes.len();
    let readers = readers(net);
    let mut pairs = vec![];
    let mut dist = vec![f64::NEG_INFINITY; n];
    let mut touched: Vec<usize> = vec![];
    let mut work = std::collections::BTreeSet::new();
    for u in 0..n {
        if matches!(net.nodes[u].op, Op::Const { .. } | Op::Input { .. }) {
            continue;
        }
        // A node too slow on its own counts as just fitting: nothing can make it faster.
        dist[u] = timing.own[u].min((budget - timing.finish[u]).max(0.0));
        touched.push(u);
        work.insert(u);
        // Node indices are topological: every path into x was relaxed before x comes first.
        while let Some(x) = work.pop_first() {
            if x != u && dist[x] + timing.finish[x] > budget + 1e-9 {
                pairs.push((u, x));
                continue;
            }
            for &r in &readers[x] {
                if dist[r] == f64::NEG_INFINITY {
                    touched.push(r);
                }
                dist[r] = dist[r].max(timing.through(net, x, dist[x], r));
                work.insert(r);
            }
        }
        for &x in &touched {
            dist[x] = f64::NEG_INFINITY;
        }
        touched.clear();
    }
    pairs
}

/// Non-constant readers of every node.
fn readers(net: &Netlist) -> Vec<Vec<usize>> {
    let n = net.nodes.len();
    let mut readers: Vec<Vec<usize>> = vec![vec![]; n];
    for i in 0..n {
        for a in Netlist::args(&net.nodes[i].op) {
            if !matches!(net.nodes[a.index()].op, Op::Const { .. }) {
                readers[a.index()].push(i);
            }
        }
    }
    for r in &mut readers {
        r.dedup();
    }
    readers
}

/// The stage assignment with the fewest register bits for `latency` stages under the delay
/// model, or `None` when no assignment meets the clock in that many stages.
pub fn min_register_stages(
    net: &Netlist,
    timing: &Timing,
    budget: f64,
    latency: u32,
) -> Option<Vec<u32>> {
    let n = net.nodes.len();
    let l = latency as usize;
    let is_const = |i: usize| matches!(net.nodes[i].op, Op::Const { .. });
    let is_input = |i: usize| matches!(net.nodes[i].op, Op::Input { .. });
    let readers = readers(net);
    let pairs = timing_pairs(net, timing, budget);
    let mut after: Vec<Vec<usize>> = vec![vec![]; n]; // v with s_v ≥ s_u + 1
    let mut before: Vec<Vec<usize>> = vec![vec![]; n];
    for &(u, v) in &pairs {
        after[u].push(v);
        before[v].push(u);
    }
    // Bounds: longest paths in the constraint graph from the inputs and to the outputs.
    let mut lo = vec![0usize; n];
    for i in 0..n {
        if is_const(i) || is_input(i) {
            continue;
        }
        let a = Netlist::args(&net.nodes[i].op)
            .map(|a| lo[a.index()])
            .max()
            .unwrap_or(0);
        let b = before[i].iter().map(|&u| lo[u] + 1).max().unwrap_or(0);
        lo[i] = a.max(b);
    }
    let mut hi = vec![l - 1; n];
    for i in (0..n).rev() {
        if is_const(i) {
            continue;
        }
        let a = readers[i].iter().map(|&r| hi[r]).min().unwrap_or(l - 1);
        let b = after[i]
            .iter()
            .map(|&v| hi[v] as i64 - 1)
            .min()
            .unwrap_or(l as i64 - 1);
        let h = (a as i64).min(b);
        if is_input(i) {
            if h < 0 {
                return None;
            }
            hi[i] = 0;
            continue;
        }
        if h < lo[i] as i64 {
            return None;
        }
        hi[i] = h as usize;
    }
    let mut is_out = vec![false; n];
    for (e, _) in net.output_elements() {
        is_out[e.index()] = true;
    }
    // Variables: x[i][k] for lo_i ≤ k < hi_i, y[i][k] for the range of m_i left open.
    #[derive(Clone, Copy)]
    enum V {
        Zero, // on the source side
        One,  // on the sink side
        Var(usize),
    }
    let mut count = 0usize;
    let mut xbase = vec![usize::MAX; n];
    let mut ybase = vec![usize::MAX; n];
    let (mut ylo, mut yhi) = (vec![0usize; n], vec![0usize; n]);
    for i in 0..n {
        if is_const(i) {
            continue;
        }
        xbase[i] = count;
        count += hi[i] - lo[i];
        if !is_out[i] && !readers[i].is_empty() {
            ylo[i] = readers[i].iter().map(|&r| lo[r]).max().unwrap_or(0);
            yhi[i] = readers[i].iter().map(|&r| hi[r]).max().unwrap_or(0);
            ybase[i] = count;
            count += yhi[i] - ylo[i];
        }
    }
    let x = |i: usize, k: usize| -> V {
        if k < lo[i] {
            V::One
        } else if k >= hi[i] {
            V::Zero
        } else {
            V::Var(xbase[i] + k - lo[i])
        }
    };
    let y = |i: usize, k: usize| -> V {
        if is_out[i] || k < ylo[i] {
            V::One
        } else if k >= yhi[i] {
            V::Zero
        } else {
            V::Var(ybase[i] + k - ylo[i])
        }
    };
    let (s, t) = (count, count + 1);
    let mut g = Flow::new(count + 2);
    let id = |v: V| match v {
        V::Zero => s,
        V::One => t,
        V::Var(j) => j,
    };
    // "a = 1 implies b = 1": an uncuttable edge b → a (b on the source side forces a there).
    let implies = |g: &mut Flow, a: V, b: V| -> bool {
        match (a, b) {
            (V::Zero, _) | (_, V::One) => true,
            (V::One, V::Zero) => false,
            _ => {
                g.edge(id(b), id(a), INF);
                true
            }
        }
    };
    for (i, later) in after.iter().enumerate() {
        if is_const(i) || is_input(i) {
            continue;
        }
        for k in 0..l - 1 {
            let ok = (k + 1 >= l - 1 || implies(&mut g, x(i, k + 1), x(i, k)))
                && Netlist::args(&net.nodes[i].op)
                    .filter(|a| !is_const(a.index()))
                    .all(|a| implies(&mut g, x(a.index(), k), x(i, k)))
                && later
                    .iter()
                    .all(|&v| k + 1 >= l - 1 || implies(&mut g, x(i, k), x(v, k + 1)));
            if !ok {
                return None;
            }
        }
    }
    // The cost of a register is its live bits; among cuts with the same live bits, the one
    // with the fewest declared bits (fewer flip-flops left for synthesis to remove). Both in
    // one capacity: live · M + declared, with M above any total of declared bits.
    let live = crate::ir::schedule::live_widths(net);
    let declared_total: i64 = (0..n)
        .filter(|&i| !is_const(i))
        .map(|i| net.nodes[i].width() as i64 * l as i64)
        .sum();
    let max_live = live.iter().copied().max().unwrap_or(0) as i64;
    let m = declared_total + 1;
    // Without room for the tie-break (never for trigger-sized designs), live bits alone.
    let tie_break = (max_live + 1)
        .checked_mul(m)
        .is_some_and(|v| v < INF / (n as i64 * l as i64 + 1));
    for i in 0..n {
        if is_const(i) || (readers[i].is_empty() && !is_out[i]) {
            continue;
        }
        let w = match tie_break {
            true => live[i] as i64 * m + net.nodes[i].width() as i64,
            false => live[i] as i64,
        };
        for k in 0..l - 1 {
            for &r in &readers[i] {
                if !implies(&mut g, x(r, k), y(i, k)) {
                    return None;
                }
            }
            // A register at boundary k when the value is needed after it but made before it.
            match (x(i, k), y(i, k)) {
                (V::Zero, V::One) | (V::One, _) | (_, V::Zero) => {}
                (a, b) => g.edge(id(a), id(b), w),
            }
        }
    }
    if g.max_flow(s, t) >= INF {
        return None;
    }
    let side = g.reachable(s);
    let mut stage = vec![0u32; n];
    for i in 0..n {
        if is_const(i) || is_input(i) {
            continue;
        }
        let past = (lo[i]..hi[i])
            .filter(|&k| !side[xbase[i] + k - lo[i]])
            .count();
        stage[i] = (lo[i] + past) as u32;
    }
    Some(stage)
}
