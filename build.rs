//! Build script: the git commit leadctl is built from, for `leadctl -V`
//! (`LEADCTL_GIT_COMMIT`). A build outside a git checkout of this crate (a
//! source archive, a vendored copy inside another repository, no `git`
//! installed) says `unknown`; nothing here can fail the build.

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let commit = commit(Path::new(&manifest_dir)).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LEADCTL_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit moves HEAD or the branch it names; a changed working
    // tree changes `src/` (the `-dirty` mark).
    println!("cargo:rerun-if-changed=src");
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&manifest_dir, &["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={}", absolute(&manifest_dir, &p));
        }
    }
    if let Some(branch) = git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&manifest_dir, &["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={}", absolute(&manifest_dir, &p));
    }
}

/// The short commit hash, with `-dirty` when tracked files differ from it;
/// `None` unless this crate's directory is the top of a git work tree.
fn commit(dir: &Path) -> Option<String> {
    let dir_text = dir.to_str()?;
    let top = git(dir_text, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a));
    if !same(Path::new(&top), dir) {
        return None;
    }
    let hash = git(dir_text, &["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(dir_text, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

/// `git ARGS` run in `dir`: its trimmed output, or `None` on any failure.
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok().map(|s| s.trim().to_owned())
}

/// `--git-path` answers relative to the directory git ran in.
fn absolute(dir: &str, path: &str) -> String {
    Path::new(dir).join(path).display().to_string()
}
