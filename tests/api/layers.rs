//! The layer order of ARCHITECTURE.md, enforced: every top-level module of `src` sits in one
//! layer and may import (`crate::…`) only from layers below its own. Two modules of one layer
//! (the API and the pages, say) may not import each other.

use std::path::{Path, PathBuf};

/// Lowest first. Keep in step with ARCHITECTURE.md ("Layers").
const LAYERS: &[&[&str]] = &[
    &["domain", "clock", "passwords"],
    &["engine"],
    &["config"],
    &["store"],
    &["metrics", "labels", "import"],
    &["stations", "hl7"],
    &["service"],
    &["auth"],
    &["api", "web"],
    &["server", "agent", "demo"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module names a line refers to through `crate::` (plain paths and
/// `crate::{a, b::c}` groups).
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

/// Every (importing module, imported module, file:line) in `src`.
fn imports(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for target in crate_refs(code) {
                if target != module && !target.is_empty() {
                    out.push((
                        module.clone(),
                        target,
                        format!("{}:{}", rel.display(), n + 1),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_from_layers_below_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (from, to, at) in imports(&src) {
        match (layer_of(&from), layer_of(&to)) {
            (None, _) => bad.push(format!("{at}: module `{from}` is in no layer")),
            (_, None) => bad.push(format!("{at}: `{from}` uses `crate::{to}`, which is in no layer")),
            (Some(a), Some(b)) if b >= a => bad.push(format!(
                "{at}: `{from}` (layer {a}) imports `{to}` (layer {b}): only lower layers may be used"
            )),
            _ => {}
        }
    }
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}

#[test]
fn every_module_of_the_crate_is_in_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(
        modules.len() > 10,
        "read the module list of lib.rs: {modules:?}"
    );
    for m in &modules {
        assert!(layer_of(m).is_some(), "module `{m}` is in no layer");
    }
    let listed: usize = LAYERS.iter().map(|l| l.len()).sum();
    assert_eq!(
        listed,
        modules.len(),
        "LAYERS names a module lib.rs does not have"
    );
}

#[test]
fn the_checker_sees_plain_paths_and_groups() {
    assert_eq!(crate_refs("use crate::store::Store;"), ["store"]);
    assert_eq!(
        crate_refs("use crate::{api::AppState, web};"),
        ["api", "web"]
    );
    assert_eq!(
        crate_refs("let x = crate::clock::stamp(crate::domain::x());"),
        ["clock", "domain"]
    );
    // The checker itself flags an upward import.
    let upward = imports_of("store", "use crate::web::PageError;");
    assert_eq!(upward.len(), 1);
}

fn imports_of(module: &str, line: &str) -> Vec<(usize, usize)> {
    crate_refs(line)
        .into_iter()
        .filter_map(|t| Some((layer_of(module)?, layer_of(&t)?)))
        .filter(|(a, b)| b >= a)
        .collect()
}
