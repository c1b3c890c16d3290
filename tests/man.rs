//! The committed manual pages in `man/` must match what the CLI definition
//! renders (clap_mangen, with a SYNOPSIS that names every option's argument
//! and the commands' examples as an EXAMPLES section kept as written): one
//! page for `leadctl` and one per command. Refresh them with:
//!
//!     UPDATE_MAN=1 cargo test --test man

use std::path::Path;

use clap::{Arg, ArgAction, CommandFactory};

/// Text for roff: backslashes and hyphens escaped, and a line that would
/// start with a control character (`.` or `'`) made plain text.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) { format!("\\&{escaped}") } else { escaped }
}

/// One option of the SYNOPSIS: `[--api-url URL]`, `[-q|--quiet]`,
/// `[--map FIELD=COLUMN]...`, `[-v|--verbose]...`.
fn synopsis_option(arg: &Arg) -> Option<String> {
    let name = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => {
            format!("\\fB\\-{}\\fR|\\fB{}\\fR", roff_text(&s.to_string()), roff_text(&format!("--{l}")))
        }
        (Some(s), None) => format!("\\fB\\-{}\\fR", roff_text(&s.to_string())),
        (None, Some(l)) => format!("\\fB{}\\fR", roff_text(&format!("--{l}"))),
        (None, None) => return None,
    };
    let value = match arg.get_value_names() {
        Some(names) if arg.get_action().takes_values() => {
            let names: Vec<String> = names.iter().map(|n| format!("\\fI{}\\fR", roff_text(n))).collect();
            format!(" {}", names.join(" "))
        }
        None if arg.get_action().takes_values() => {
            format!(" \\fI{}\\fR", roff_text(&arg.get_id().as_str().to_uppercase()))
        }
        _ => String::new(),
    };
    let repeats = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
    Some(format!("[{name}{value}]{}", if repeats { "..." } else { "" }))
}

/// The SYNOPSIS section: the command, every visible option with the name
/// of its argument, the positional arguments, the subcommand.
fn synopsis(cmd: &clap::Command) -> String {
    // Built, so that `--help` and `--version` are among its arguments.
    let mut cmd = cmd.clone();
    cmd.build();
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut words = vec![format!("\\fB{}\\fR", roff_text(name))];
    let options = cmd.get_arguments().filter(|a| !a.is_hide_set() && !a.is_positional());
    words.extend(options.filter_map(synopsis_option));
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = arg.get_value_names().map_or_else(|| arg.get_id().to_string(), |v| v.join(" "));
        let value = format!("\\fI{}\\fR", roff_text(&value));
        let many = if matches!(arg.get_action(), ArgAction::Append) { "..." } else { "" };
        words.push(if arg.is_required_set() { format!("{value}{many}") } else { format!("[{value}]{many}") });
    }
    if cmd.has_subcommands() {
        words.push("<\\fIcommand\\fR>".into());
    }
    format!(".SH SYNOPSIS\n{}\n", words.join(" "))
}

/// The command's examples (its after-help, which starts `Examples:`) as
/// an EXAMPLES section, lines kept as written.
fn examples(cmd: &clap::Command) -> String {
    let Some(after) = cmd.get_after_help() else { return String::new() };
    let text = after.to_string();
    let body = text.strip_prefix("Examples:\n").unwrap_or(&text);
    let lines: Vec<String> = body.lines().map(roff_text).collect();
    format!(".SH EXAMPLES\n.nf\n{}\n.fi\n", lines.join("\n"))
}

/// One page: clap_mangen's sections, with our SYNOPSIS and EXAMPLES.
fn page(cmd: clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    // Each section rendered alone starts with roff's preamble; the page keeps the first.
    let render = |out: &mut Vec<u8>, f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut section = Vec::new();
        f(&mut section).expect("render");
        let text = String::from_utf8(section).expect("roff is text");
        let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
        let text = if out.is_empty() { text.as_str() } else { text.strip_prefix(preamble).unwrap_or(&text) };
        out.extend_from_slice(text.as_bytes());
    };
    render(&mut out, &|w| man.render_title(w));
    render(&mut out, &|w| man.render_name_section(w));
    out.extend(synopsis(&cmd).into_bytes());
    render(&mut out, &|w| man.render_description_section(w));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        render(&mut out, &|w| man.render_options_section(w));
    }
    if cmd.has_subcommands() {
        render(&mut out, &|w| man.render_subcommands_section(w));
    }
    out.extend(examples(&cmd).into_bytes());
    render(&mut out, &|w| man.render_version_section(w));
    out
}

/// Every page: `leadctl.1` and `leadctl-<command>.1`.
fn pages() -> Vec<(String, Vec<u8>)> {
    let cmd = leadctl::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("leadctl-{}", sub.get_name());
        let bin = format!("leadctl {}", sub.get_name());
        let sub = sub.clone().display_name(name.clone()).bin_name(bin).version(env!("CARGO_PKG_VERSION"));
        out.push((format!("{name}.1"), page(sub)));
    }
    out.push(("leadctl.1".into(), page(cmd)));
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

/// The SYNOPSIS names each option's argument, and the examples are a
/// section of their own, kept line by line (not a paragraph called EXTRA).
#[test]
fn the_synopsis_names_arguments_and_the_examples_keep_their_lines() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let text = std::fs::read_to_string(dir.join("leadctl-upload.1")).expect("the upload page");
    let synopsis = text.split(".SH SYNOPSIS\n").nth(1).and_then(|s| s.split("\n.SH ").next()).expect("SYNOPSIS");
    for part in
        ["[\\fB\\-\\-api\\-url\\fR \\fIURL\\fR]", "[\\fB\\-\\-map\\fR \\fIFIELD=COLUMN\\fR]...", "[\\fIFILE\\fR]"]
    {
        assert!(synopsis.contains(part), "{part} is missing from the SYNOPSIS: {synopsis}");
    }
    for page in std::fs::read_dir(&dir).expect("man/") {
        let text = std::fs::read_to_string(page.expect("a page").path()).expect("a page");
        assert!(!text.contains(".SH EXTRA"), "a section called EXTRA");
    }
    let examples = text.split(".SH EXAMPLES\n").nth(1).expect("an EXAMPLES section");
    assert!(examples.starts_with(".nf\n"), "examples kept as written: {examples}");
    assert!(
        examples.contains("0 3 * * * leadctl upload /data/export.csv \\-\\-quiet >>leadctl.log 2>&1"),
        "{examples}"
    );
}
