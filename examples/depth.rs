//! `cargo run --release --example depth -- MODEL`: the netlist's longest path in operations,
//! per layer (adds, casts, relus, ...). A diagnostic for comparing netlist depth with peers.
use rtl4ml::frontend::native;
use rtl4ml::ir::netlist::Op;
use rtl4ml::target::timing::operands;

fn main() {
    let path = std::env::args().nth(1).expect("model path");
    let text = std::fs::read_to_string(&path).unwrap();
    let g = native::parse(&text, &path).unwrap();
    let net = rtl4ml::passes::pipeline::netlist(&g, &Default::default()).unwrap();
    let n = net.nodes.len();
    let cost = |op: &Op| match op {
        Op::Input { .. } | Op::Const { .. } => 0u32,
        _ => 1,
    };
    let mut depth = vec![0u32; n];
    let mut from = vec![usize::MAX; n];
    for i in 0..n {
        let mut best = (0u32, usize::MAX);
        for o in operands(&net, i) {
            if depth[o] >= best.0 {
                best = (depth[o], o);
            }
        }
        depth[i] = best.0 + cost(&net.nodes[i].op);
        from[i] = best.1;
    }
    let mut i = (0..n).max_by_key(|&i| depth[i]).unwrap();
    println!("longest path: {} operations", depth[i]);
    let mut path = vec![];
    while i != usize::MAX {
        path.push(i);
        i = from[i];
    }
    path.reverse();
    for i in path {
        let nd = &net.nodes[i];
        let kind = match &nd.op {
            Op::Input { .. } => "input".to_string(),
            Op::Const { .. } => "const".to_string(),
            Op::Add { sub, .. } => {
                if *sub {
                    "sub".into()
                } else {
                    "add".into()
                }
            }
            Op::Neg { .. } => "neg".into(),
            Op::Relu { .. } => "relu".into(),
            Op::Cast { to, .. } => format!("cast->{to:?}"),
            Op::Cmp { .. } => "cmp".into(),
            Op::Mux { .. } => "mux".into(),
            Op::Mul { .. } => "mul".into(),
            Op::Table { .. } => "table".into(),
        };
        println!(
            "  {:>5} layer {:<10} {:>3} bits  {}",
            i, net.layers[nd.layer as usize], nd.bits, kind
        );
    }
}
