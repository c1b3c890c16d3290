//! Every file of the fuzzing corpora (`fuzz/corpus/TARGET/`), replayed
//! through the same target function `cargo fuzz` runs, on stable Rust: the
//! inputs that once found a bug, and those that reach every corner the
//! fuzzer found, stay covered by a plain `cargo test`.

use std::path::Path;

/// Replays one target's corpus, which must exist and hold inputs (else the
/// replay would prove nothing).
fn replay(name: &str, target: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus").join(name);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()));
    let mut files: Vec<_> = entries.map(|e| e.expect("a corpus entry").path()).collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| target(&data)).is_err() {
            panic!(
                "{name}: {} fails; reproduce with `cargo +nightly fuzz run {name} {}`",
                file.display(),
                file.display()
            );
        }
    }
    eprintln!("{name}: replayed {} corpus inputs", files.len());
}

#[test]
fn csv_with_mapping() {
    replay("csv_with_mapping", leadctl::fuzzing::csv_with_mapping);
}

#[test]
fn json_array() {
    replay("json_array", leadctl::fuzzing::json_array);
}

#[test]
fn ndjson() {
    replay("ndjson", leadctl::fuzzing::ndjson);
}

#[test]
fn phone_checks() {
    replay("phone_checks", leadctl::fuzzing::phone_checks);
}

#[test]
fn journal_recovery() {
    replay("journal_recovery", leadctl::fuzzing::journal_recovery);
}
