//! The top-level modules of `src/` form layers, and a module uses only
//! modules of lower layers: no circle between them, ever. The layers are
//! declared here and in ARCHITECTURE.md ("Layers"); this test reads every
//! source file, finds each `crate::<module>` it names, and fails on a use
//! that goes sideways or up, naming the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module (a `src/*.rs` file or a `src/*/` directory) and
/// its layer, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("words", &["api", "crash", "exit", "phone", "ranges", "screen", "trust", "vocab"]),
    ("stores and streams", &["input", "ledger", "log"]),
    ("rules", &["checks", "rundir", "settings"]),
    ("files and servers", &["output", "sandbox", "version"]),
    ("views", &["cli", "journal", "progress", "summary"]),
    ("decisions", &["config", "metrics", "writer"]),
    ("work", &["deliver", "ledger_admin", "fuzzing"]),
    ("runs", &["run"]),
    ("checks of a run", &["doctor"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs`, `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_str()?.to_owned();
    let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (module != "lib" && module != "main").then_some(module)
}

/// The modules a line names as `crate::<module>`, outside comments.
fn named(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut modules: Vec<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    modules.sort();
    modules.dedup();
    let unplaced: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules without a layer (add them to LAYERS and ARCHITECTURE.md): {unplaced:?}");

    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let own = layer_of(&module).expect("placed");
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            for used in named(line) {
                let Some(theirs) = layer_of(&used) else { continue };
                if used != module && theirs >= own {
                    wrong
                        .entry(format!(
                            "{module} (layer {own}, {}) uses {used} (layer {theirs}, {})",
                            LAYERS[own].0, LAYERS[theirs].0
                        ))
                        .or_default()
                        .push(format!("{}:{}", file.strip_prefix(&src).unwrap_or(file).display(), n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "uses against the layers (move the code, or change the layers here and in ARCHITECTURE.md):\n{wrong:#?}"
    );
}

#[test]
fn the_check_sees_a_use_and_skips_comments() {
    assert_eq!(named("use crate::output::{FileKind, OutFormat};"), vec!["output"]);
    assert_eq!(named("    let x = crate::log::say(crate::log::Level::Warn, m);"), vec!["log", "log"]);
    assert!(named("// see crate::run for how").is_empty());
    assert!(named("/// [`crate::ledger`]").is_empty());
}

#[test]
fn architecture_md_lists_the_same_layers() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).expect("read");
    for (name, modules) in LAYERS {
        let line = doc
            .lines()
            .find(|l| l.contains(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("ARCHITECTURE.md's layer table has no row `| {name} |`"));
        for m in *modules {
            assert!(line.contains(&format!("`{m}`")), "ARCHITECTURE.md's layer `{name}` does not list `{m}`: {line}");
        }
    }
}
