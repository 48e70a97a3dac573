//! Dead-node elimination: drops nodes no output depends on, keeping input ports, and
//! renumbers the rest in their original (topological) order.

use crate::ir::netlist::{Netlist, NodeId, Op};

pub fn eliminate_dead(mut net: Netlist) -> Netlist {
    let n = net.nodes.len();
    let mut live = vec![false; n];
    for p in net.outputs.iter().chain(&net.inputs) {
        for e in &p.elements {
            live[e.index()] = true;
        }
    }
    for i in (0..n).rev() {
        if live[i] {
            for a in Netlist::args(&net.nodes[i].op).collect::<Vec<_>>() {
                live[a.index()] = true;
            }
        }
    }
    let mut map = vec![NodeId(u32::MAX); n];
    let mut nodes = Vec::with_capacity(n);
    for (i, mut node) in std::mem::take(&mut net.nodes).into_iter().enumerate() {
        if !live[i] {
            continue;
        }
        let m = |id: NodeId| map[id.index()];
        match &mut node.op {
            Op::Input { .. } | Op::Const { .. } => {}
            Op::Add { a, b, .. } | Op::Mul { a, b, .. } => {
                a.node = m(a.node);
                b.node = m(b.node);
            }
            Op::Cmp { x, y } => {
                x.node = m(x.node);
                y.node = m(y.node);
            }
            Op::Mux { c, a, b } => {
                *c = m(*c);
                a.node = m(a.node);
                b.node = m(b.node);
            }
            Op::Neg { a } | Op::Cast { a, .. } => a.node = m(a.node),
            Op::Relu { a } | Op::Table { a, .. } => *a = m(*a),
        }
        map[i] = NodeId(nodes.len() as u32);
        nodes.push(node);
    }
    net.nodes = nodes;
    for p in net.outputs.iter_mut().chain(net.inputs.iter_mut()) {
        for e in &mut p.elements {
            *e = map[e.index()];
        }
    }
    net
}
