//! The layering guard: every source file's imports point down only.
//!
//! The crates stack as `iphttps-sim` < `iphttps-harness` < the `iphttps` command, and
//! inside each library crate the modules stack in the order `lib.rs` declares them (the
//! README's "Layout and architecture" draws the same order). A module may use modules
//! declared before it, never one declared after it; the lower crate never names the
//! higher one. The test reads the `use` lines and inline `crate::` paths of every file
//! and fails naming the file, the line and the import that points up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The module order of `iphttps-sim`, lowest first, grouped in its layers.
const SIM_LAYERS: &[(&str, &[&str])] = &[
    ("wire", &["wire"]),
    ("link (sans-IO)", &["link"]),
    ("certificates, TLS, error codes", &["pki", "winerr", "tls"]),
    (
        "shared by the shells; client states",
        &["net", "client_state", "diag"],
    ),
    (
        "shells",
        &["capture", "port", "dial", "server", "client", "tun"],
    ),
    (
        "Windows-side model and deployment",
        &["windows", "fault", "deployment"],
    ),
    ("diagnostics", &["probe", "metrics"]),
    ("admin endpoint", &["api"]),
];

/// The module order of `iphttps-harness`, lowest first.
const HARNESS_LAYERS: &[(&str, &[&str])] = &[
    ("progress", &["progress"]),
    ("system", &["system"]),
    ("fixtures", &["fixtures", "ipsec"]),
    ("lab", &["lab", "lab_run"]),
    ("measurements", &["perf", "bench", "peers", "soak", "swarm"]),
    (
        "scenarios",
        &[
            "scenario", "suite", "timeline", "runner", "repeat", "report",
        ],
    ),
];

/// An import that points up.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    text: String,
    why: String,
}

/// The order of a crate's modules: module -> (rank, layer name).
fn ranks(
    layers: &[(&'static str, &[&'static str])],
) -> HashMap<&'static str, (usize, &'static str)> {
    let mut out = HashMap::new();
    let mut rank = 0;
    for (layer, modules) in layers {
        for m in *modules {
            out.insert(*m, (rank, *layer));
            rank += 1;
        }
    }
    out
}

/// The source text with comments blanked out (line structure kept).
fn strip_comments(src: &str) -> Vec<String> {
    src.lines()
        .map(|l| match l.find("//") {
            // a `//` inside a string literal is rare in `use` lines; paths never hold one
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect()
}

/// Every top-level module named after `root::` in `text` (`crate::a::b`, `crate::{a, b::c}`).
fn named_after(text: &str, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pat = format!("{root}::");
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        let before = rest[..i].chars().last();
        rest = &rest[i + pat.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(inner) = rest.strip_prefix('{') {
            // a group: the first segment of each top-level item
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(first_segment(&item));
        } else {
            out.push(first_segment(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level module a file belongs to (`None` for the crate root).
fn module_of(src_dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src_dir).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    if first == "lib.rs" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// Checks one file's text: `own` is its module, `order` its crate's module order,
/// `forbidden` the crates it may not name at all.
fn check_source(
    name: &str,
    own: &str,
    text: &str,
    order: &HashMap<&str, (usize, &str)>,
    forbidden: &[&str],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(&(own_rank, own_layer)) = order.get(own) else {
        out.push(Violation {
            file: name.into(),
            line: 0,
            text: String::new(),
            why: format!("module `{own}` is in no layer: add it to the layer list (and to lib.rs in that place)"),
        });
        return out;
    };
    for (i, line) in strip_comments(text).iter().enumerate() {
        for krate in forbidden {
            if line.contains(&format!("{krate}::")) {
                out.push(Violation {
                    file: name.into(),
                    line: i + 1,
                    text: line.trim().into(),
                    why: format!("names `{krate}`, a crate above this one"),
                });
            }
        }
        for m in named_after(line, "crate") {
            match order.get(m.as_str()) {
                Some(&(rank, layer)) if rank > own_rank => out.push(Violation {
                    file: name.into(),
                    line: i + 1,
                    text: line.trim().into(),
                    why: format!(
                        "`{own}` ({own_layer}) imports `{m}` ({layer}), which is declared above it: arrows point down only"
                    ),
                }),
                _ => {}
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("readable source folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn check_crate(
    src_dir: &Path,
    layers: &[(&'static str, &[&'static str])],
    forbidden: &[&str],
) -> Vec<Violation> {
    let order = ranks(layers);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for f in rust_files(src_dir) {
        let Some(own) = module_of(src_dir, &f) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("readable source");
        let name = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        out.extend(check_source(&name, &own, &text, &order, forbidden));
    }
    out
}

/// The modules `lib.rs` declares, in order.
fn declared(lib: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(lib).expect("lib.rs");
    strip_comments(&text)
        .iter()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")
                .map(|m| m.trim_end_matches(';').trim().to_string())
        })
        .collect()
}

fn report(v: &[Violation]) -> String {
    v.iter()
        .map(|v| format!("{}:{}: {}\n    {}", v.file, v.line, v.why, v.text))
        .collect::<Vec<_>>()
        .join("\n")
}

fn flat(layers: &[(&str, &[&'static str])]) -> Vec<String> {
    layers
        .iter()
        .flat_map(|(_, m)| m.iter().map(|s| s.to_string()))
        .collect()
}

#[test]
fn sim_imports_point_down_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = check_crate(
        &root.join("sim/src"),
        SIM_LAYERS,
        &["iphttps_harness", "iphttps::"],
    );
    assert!(v.is_empty(), "imports that point up:\n{}", report(&v));
}

#[test]
fn harness_imports_point_down_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = check_crate(&root.join("harness/src"), HARNESS_LAYERS, &["iphttps::"]);
    assert!(v.is_empty(), "imports that point up:\n{}", report(&v));
}

#[test]
fn lib_rs_declares_the_modules_in_layer_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(declared(&root.join("sim/src/lib.rs")), flat(SIM_LAYERS));
    assert_eq!(
        declared(&root.join("harness/src/lib.rs")),
        flat(HARNESS_LAYERS)
    );
}

#[test]
fn the_lower_crate_does_not_depend_on_the_higher_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sim = std::fs::read_to_string(root.join("sim/Cargo.toml")).expect("sim/Cargo.toml");
    assert!(
        !sim.contains("iphttps-harness"),
        "iphttps-sim depends on the harness"
    );
}

/// The checker itself catches what it is for: an import that points up, in a plain
/// `use`, a group and an inline path, and nothing in comments or downward imports.
#[test]
fn the_guard_catches_an_import_that_points_up() {
    let order = ranks(SIM_LAYERS);
    let bad = "use crate::wire::head;\n\
               use crate::{link::router::Router, server::ServerHandle};\n\
               // use crate::api; (a comment)\n\
               fn f() { crate::deployment::Deployment::noop(); }\n\
               use iphttps_harness::lab::Lab;\n";
    let v = check_source(
        "sim/src/link/x.rs",
        "link",
        bad,
        &order,
        &["iphttps_harness"],
    );
    let lines: Vec<usize> = v.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![2, 4, 5], "{}", report(&v));
    assert!(
        v[0].why
            .contains("`link` (link (sans-IO)) imports `server` (shells)")
    );
    let unknown = check_source("sim/src/new.rs", "new", "", &order, &[]);
    assert_eq!(unknown.len(), 1, "a module in no layer is refused");
    assert!(named_after("use crate::{a::{b, c}, d};", "crate") == ["a", "d"]);
}

/// `unsafe` stands in one place only: the allocator-statistics call of
/// `metrics::heap_in_use` (the workspace denies unsafe code; that function allows it).
#[test]
fn unsafe_code_stands_in_one_place_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["sim/src", "harness/src", "src", "tests"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in strip_comments(&text).iter().enumerate() {
                let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                if words.into_iter().any(|w| w == "unsafe") && !line.contains("\"unsafe\"") {
                    let rel = file.strip_prefix(root).unwrap().display().to_string();
                    found.push(format!("{rel}:{}", i + 1));
                }
            }
        }
    }
    assert_eq!(found.len(), 1, "outside metrics::heap_in_use: {found:?}");
    assert!(found[0].starts_with("sim/src/metrics.rs:"), "{found:?}");
}
