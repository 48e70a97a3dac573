//! The source's layering, checked: every module of `src/` imports only modules of its own
//! top-level module or of a lower layer (docs/architecture.md), and no two files import each
//! other through a chain. Reads `crate::…` and `super::…` paths in the non-test code of every
//! file (comments and `#[cfg(test)]` modules are skipped).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module: a module may use its own top-level module and any module
/// of a lower layer; modules of the same layer may not use each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("text", 0),
    ("input", 1),
    ("safe_fs", 1),
    ("external", 1),
    ("ir", 2),
    ("target", 3),
    ("frontend", 4),
    ("passes", 4),
    ("sim", 5),
    ("backends", 5),
    ("report", 5),
    ("flow", 6),
    ("optimize", 7),
    ("verify", 7),
    ("synth", 7),
    ("cli", 8),
];

fn layer(top: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == top).map(|&(_, l)| l)
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module path of a file (`src/passes/lower/ext.rs` → `passes::lower::ext`).
fn module_of(p: &Path) -> Vec<String> {
    let rel = p.strip_prefix(src()).unwrap().with_extension("");
    let mut v: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if matches!(v.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        v.pop();
    }
    v
}

/// The code of a file without comments and without its `#[cfg(test)]` modules.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_test = false;
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let t = line.trim();
        if skip_depth.is_none() && t.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        if pending_test && skip_depth.is_none() && t.starts_with("mod ") && t.ends_with('{') {
            skip_depth = Some(depth);
        }
        pending_test = pending_test && t.is_empty();
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        match skip_depth {
            Some(d) if depth <= d => skip_depth = None,
            Some(_) => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Module paths named in `code` (`crate::a::b`, `super::x`, `use crate::{a, b::c}`), resolved
/// against `module` to the longest existing module.
fn imports(module: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        // The path up to the first character that is neither an identifier nor `::`, plus one
        // `{…}` group.
        let mut j = i;
        while j < bytes.len() && (is_ident(bytes[j]) || bytes[j] == ':') {
            j += 1;
        }
        let head: String = bytes[i..j].iter().collect();
        let mut paths = vec![head.trim_end_matches(':').to_string()];
        if head.ends_with("::") && bytes.get(j) == Some(&'{') {
            let end = (j..bytes.len()).find(|&k| bytes[k] == '}').unwrap_or(j);
            let group: String = bytes[j + 1..end].iter().collect();
            paths = group
                .split(',')
                .map(|g| g.split_whitespace().next().unwrap_or("").to_string())
                .filter(|g| !g.is_empty() && g != "self")
                .map(|g| format!("{}{g}", head))
                .collect();
            j = end;
        }
        for p in paths {
            let segs: Vec<&str> = p.split("::").collect();
            let (mut base, rest): (Vec<String>, &[&str]) = if segs[0] == "crate" {
                (vec![], &segs[1..])
            } else {
                let ups = segs.iter().take_while(|s| **s == "super").count();
                let mut b = module.to_vec();
                for _ in 0..ups {
                    b.pop();
                }
                (b, &segs[ups..])
            };
            let mut best = None;
            for s in rest {
                base.push(s.to_string());
                if known.contains(&base) {
                    best = Some(base.clone());
                }
            }
            if let Some(b) = best {
                found.insert(b);
            }
        }
        i = j.max(i + 1);
    }
    found
}

#[test]
fn modules_import_only_lower_layers_and_form_no_circles() {
    let mut paths = vec![];
    files(&src(), &mut paths);
    paths.sort();
    let known: BTreeSet<Vec<String>> = paths.iter().map(|p| module_of(p)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong = vec![];
    for p in &paths {
        let m = module_of(p);
        let text = std::fs::read_to_string(p).unwrap();
        let deps = imports(&m, &code(&text), &known);
        let Some(top) = m.first() else { continue };
        let lm = layer(top).unwrap_or_else(|| {
            panic!("src/{top}: a new top-level module; give it a layer in LAYERS (tests/snapshots/layering.rs) and docs/architecture.md")
        });
        for d in &deps {
            // A module's own children and parents are part of it.
            if d.starts_with(&m) || m.starts_with(d) {
                continue;
            }
            let Some(dtop) = d.first() else { continue };
            if dtop != top {
                let ld = layer(dtop).expect("known top-level module");
                if ld >= lm {
                    wrong.push(format!(
                        "{} (layer {lm}) imports {} (layer {ld})",
                        m.join("::"),
                        d.join("::")
                    ));
                }
            }
            edges.entry(m.clone()).or_default().insert(d.clone());
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways imports:\n{}",
        wrong.join("\n")
    );
    // No circles: a depth-first search finds no back edge.
    fn visit(
        v: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(v.clone(), 1);
        stack.push(v.clone());
        for w in edges.get(v).into_iter().flatten() {
            match state.get(w).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|x| x == w).unwrap();
                    let mut c: Vec<String> = stack[at..].iter().map(|x| x.join("::")).collect();
                    c.push(w.join("::"));
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(w, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(v.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in &known {
        if state.get(v).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(v, &edges, &mut state, &mut vec![]) {
                panic!("import circle: {}", c.join(" -> "));
            }
        }
    }
    // The check sees imports at all (a scanner that finds nothing would pass vacuously).
    let pipeline = vec!["passes".to_string(), "pipeline".to_string()];
    assert!(edges[&pipeline].contains(&vec!["passes".to_string(), "lower".to_string()]));
    assert!(edges.values().map(BTreeSet::len).sum::<usize>() > 100);
}

#[test]
fn the_scanner_sees_groups_relative_paths_and_skips_tests() {
    let known: BTreeSet<Vec<String>> = [vec!["a"], vec!["a", "b"], vec!["a", "c"], vec!["d"]]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
    let text = "use crate::{a::b::Thing, d};\nfn f() { super::c::g(); }\n// crate::d::x\n\
                #[cfg(test)]\nmod tests {\n    use crate::a::c;\n}\n";
    let got = imports(&["a".into(), "b".into()], &code(text), &known);
    let want: BTreeSet<Vec<String>> = [vec!["a", "b"], vec!["d"], vec!["a", "c"]]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
    assert_eq!(got, want);
    assert!(!code(text).contains("mod tests"));
}
