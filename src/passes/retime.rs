//! Register minimisation for a fixed number of stages.
//!
//! Stage boundaries are chosen one at a time, from the first: the nodes computed before
//! boundary `k` form a set closed under operands, containing every node that must be done by
//! then (its ALAP stage is `k`) and none that cannot fit in the current stage's time budget.
//! Among those sets the one whose crossing values are narrowest is a minimum cut in a flow
//! network where each value is an edge weighted by its width (a value crossing the boundary
//! once is one register, however many readers it has). On a dense layer this puts the
//! boundary at the layer's inputs — shared by every output — rather than through many partial
//! sums.

use crate::ir::netlist::{Netlist, Op};

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
        let mut total = 0;
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
                let f = self.augment(s, t, INF, &level, &mut it);
                if f == 0 {
                    break;
                }
                total += f;
            }
        }
    }
    fn augment(&mut self, u: usize, t: usize, f: i64, level: &[u32], it: &mut [usize]) -> i64 {
        if u == t {
            return f;
        }
        while it[u] != usize::MAX {
            let e = it[u];
            let v = self.to[e];
            if self.cap[e] > 0 && level[v] == level[u] + 1 {
                let d = self.augment(v, t, f.min(self.cap[e]), level, it);
                if d > 0 {
                    self.cap[e] -= d;
                    self.cap[e ^ 1] += d;
                    return d;
                }
            }
            it[u] = self.next[e];
        }
        0
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

/// Stages with fewer register bits for `latency` stages, or `None` when the cut sequence cannot
/// meet the constraints (the caller keeps its schedule then).
pub fn min_register_stages(
    net: &Netlist,
    delays: &[f64],
    budget: f64,
    latency: u32,
    alap: &[u32],
) -> Option<Vec<u32>> {
    let n = net.nodes.len();
    let is_const = |i: usize| matches!(net.nodes[i].op, Op::Const { .. });
    let mut readers: Vec<Vec<usize>> = vec![vec![]; n];
    for i in 0..n {
        for a in Netlist::args(&net.nodes[i].op) {
            if !is_const(a.index()) {
                readers[a.index()].push(i);
            }
        }
    }
    let mut is_out = vec![false; n];
    for (e, _) in net.output_elements() {
        is_out[e.index()] = true;
    }
    const UNSET: u32 = u32::MAX;
    let mut stage = vec![UNSET; n];
    for i in 0..n {
        if is_const(i) || matches!(net.nodes[i].op, Op::Input { .. }) {
            stage[i] = 0;
        }
    }
    for k in 0..latency {
        // Earliest arrival in stage k of every unassigned node (operands from registers: 0).
        let mut arrival = vec![0f64; n];
        let mut fits = vec![false; n];
        for i in 0..n {
            if stage[i] != UNSET {
                continue;
            }
            let t = Netlist::args(&net.nodes[i].op)
                .map(|a| a.index())
                .filter(|&a| stage[a] == UNSET)
                .map(|a| if fits[a] { arrival[a] } else { f64::INFINITY })
                .fold(0.0, f64::max);
            arrival[i] = t + delays[i];
            fits[i] = arrival[i] <= budget + 1e-9 || (t == 0.0 && delays[i] > budget);
        }
        let last = k + 1 == latency;
        // Flow network: node i → (2i: value computed, 2i+1: value available); s, t at the end.
        let (s, t) = (2 * n, 2 * n + 1);
        let mut g = Flow::new(2 * n + 2);
        let mut any = false;
        for i in 0..n {
            if is_const(i) {
                continue;
            }
            let assigned = stage[i] != UNSET;
            let pending_readers: Vec<usize> = readers[i]
                .iter()
                .copied()
                .filter(|&r| stage[r] == UNSET)
                .collect();
            if assigned && pending_readers.is_empty() && !(is_out[i]) {
                continue;
            }
            any = true;
            let w = net.nodes[i].width() as i64;
            if assigned {
                g.edge(s, 2 * i, INF);
            } else {
                if !fits[i] {
                    g.edge(2 * i, t, INF);
                } else if alap[i] <= k || last {
                    g.edge(s, 2 * i, INF);
                }
                for &a in Netlist::args(&net.nodes[i].op)
                    .map(|a| a.index())
                    .collect::<Vec<_>>()
                    .iter()
                {
                    if stage[a] == UNSET {
                        g.edge(2 * i, 2 * a, INF); // readers before the boundary need their operands
                    }
                }
            }
            // Crossing the boundary costs the value's width once.
            g.edge(2 * i, 2 * i + 1, w);
            for r in pending_readers {
                g.edge(2 * i + 1, 2 * r, INF);
            }
            if is_out[i] && !last {
                g.edge(2 * i + 1, t, INF);
            }
        }
        if !any {
            break;
        }
        let f = g.max_flow(s, t);
        if f >= INF {
            return None;
        }
        let side = g.reachable(s);
        for i in 0..n {
            if stage[i] == UNSET && side[2 * i] {
                if !fits[i] {
                    return None;
                }
                stage[i] = k;
            }
        }
    }
    if stage.iter().any(|&x| x == UNSET) {
        return None;
    }
    Some(stage)
}
