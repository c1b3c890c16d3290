//! `leadctl --version` is one line, for scripts; `leadctl -V` is the long
//! form: the commit built from, the ledger schema, the API version, the
//! ledger stores and the TLS library compiled in.

use std::process::Command;

fn leadctl(arg: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_leadctl")).arg(arg).output().expect("leadctl runs");
    assert!(out.status.success(), "leadctl {arg}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn version_is_one_line_and_its_long_form_names_the_build() {
    assert_eq!(leadctl("--version"), format!("leadctl {}\n", env!("CARGO_PKG_VERSION")));
    let long = leadctl("-V");
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines[0], format!("leadctl {}", env!("CARGO_PKG_VERSION")));
    let field = |name: &str| {
        let found = lines.iter().find_map(|l| l.strip_prefix(&format!("{name}:")));
        found.unwrap_or_else(|| panic!("no {name} line in:\n{long}")).trim().to_owned()
    };
    assert_eq!(field("ledger schema"), leadctl::ledger::SCHEMA_VERSION.to_string());
    assert_eq!(field("API version"), leadctl::api::VERSION);
    let stores = field("ledger stores");
    assert!(stores.starts_with("sqlite (SQLite 3.") && stores.ends_with(", postgres"), "{stores}");
    assert!(field("TLS").starts_with("rustls with the aws-lc-rs provider"), "{long}");
    // The commit: this checkout's HEAD, or `unknown` outside git.
    let head = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let commit = field("commit");
    match head {
        Some(head) => assert!(commit == head || commit == format!("{head}-dirty"), "{commit} is not {head}"),
        None => assert_eq!(commit, "unknown"),
    }
}
