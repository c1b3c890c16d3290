//! The committed completion scripts in `completions/` must match what the
//! CLI generates. Refresh them with:
//!
//!     UPDATE_COMPLETIONS=1 cargo test --test completions

use std::path::Path;
use std::process::Command;

const SHELLS: [(&str, &str); 5] = [
    ("bash", "leadctl.bash"),
    ("zsh", "_leadctl"),
    ("fish", "leadctl.fish"),
    ("powershell", "_leadctl.ps1"),
    ("elvish", "leadctl.elv"),
];

#[test]
fn committed_completions_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        let out = Command::new(env!("CARGO_BIN_EXE_leadctl")).args(["completions", shell]).output().expect("run");
        assert!(out.status.success(), "leadctl completions {shell} failed");
        assert!(!out.stdout.is_empty(), "{shell}: empty script");
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir completions");
            std::fs::write(&path, &out.stdout).expect("write completion");
        } else if std::fs::read(&path).ok().as_deref() != Some(out.stdout.as_slice()) {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale completion scripts {stale:?}: regenerate them with `UPDATE_COMPLETIONS=1 cargo test --test completions` and commit"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_leadctl")).args(["completions", "tcsh"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}
