//! The committed manual pages in `man/` must match what the CLI definition
//! renders (clap_mangen): one page for `leadctl` and one per command.
//! Refresh them with:
//!
//!     UPDATE_MAN=1 cargo test --test man

use std::path::Path;

use clap::CommandFactory;

/// Every page: `leadctl.1` and `leadctl-<command>.1`.
fn pages() -> Vec<(String, Vec<u8>)> {
    let cmd = leadctl::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    let mut render = |name: String, cmd: clap::Command| {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut bytes).expect("render a man page");
        out.push((format!("{name}.1"), bytes));
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("leadctl-{}", sub.get_name());
        let bin = format!("leadctl {}", sub.get_name());
        render(name.clone(), sub.clone().display_name(name).bin_name(bin).version(env!("CARGO_PKG_VERSION")));
    }
    render("leadctl".into(), cmd);
    out
}

#[test]
fn committed_man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    for (file, bytes) in pages() {
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir man");
            std::fs::write(&path, &bytes).expect("write a man page");
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages {stale:?}: regenerate them with `UPDATE_MAN=1 cargo test --test man` and commit"
    );
}

#[test]
fn the_upload_page_documents_every_flag_of_the_spec() {
    let page = pages().into_iter().find(|(f, _)| f == "leadctl-upload.1").expect("the upload page").1;
    let text = String::from_utf8(page).expect("utf-8");
    for flag in
        ["api\\-url", "api\\-key\\-file", "batch\\-size", "metrics\\-file", "log\\-format", "max\\-rejected", "resume"]
    {
        assert!(text.contains(flag), "{flag} is missing from leadctl-upload.1");
    }
}
