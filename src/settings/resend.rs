//! The command that sends a run's retryable rows again, derived from the
//! run's recorded settings: every setting the resend should repeat that
//! came from a flag (values from the environment or a config file are
//! still there for the next command), quoted for a POSIX shell.

use std::path::Path;

use serde_json::Value;

use super::{CommonSettings, Group, RunRecord, Source, UploadSettings};

/// Settings that say how to read the original input. The retryable file is
/// leadctl's own output: its name gives the format, it is UTF-8 CSV or
/// NDJSON (never a spreadsheet), and it has the outputs' delimiter, so these
/// are replaced by what describes it.
const INPUT_SHAPE: [&str; 4] = ["format", "delimiter", "encoding", "sheet"];

/// `leadctl upload <retryable file> [flags]`. `delimiter` is the retryable
/// file's own delimiter when it is not a comma. `unrecorded`: flags the
/// record leaves out because they may hold a password (`--ledger`,
/// `--proxy`), in a form without one, to repeat as well.
pub fn resend_command(
    retryable: &Path,
    record: &RunRecord,
    delimiter: Option<char>,
    unrecorded: &[(&str, String)],
) -> String {
    let mut words = vec!["leadctl".to_owned(), "upload".to_owned(), shell_quote(&retryable.to_string_lossy())];
    let keys = CommonSettings::KEYS.iter().chain(UploadSettings::KEYS);
    for key in keys.filter(|k| k.scope.resend) {
        let name = key.name();
        if INPUT_SHAPE.contains(&name.as_str()) || record.sources.get(&name) != Some(&Source::Flag) {
            continue;
        }
        match record.settings.get(&name) {
            Some(Value::Bool(true)) => words.push(format!("--{name}")),
            Some(Value::Array(items)) => {
                words.extend(items.iter().map(|v| format!("--{name} {}", shell_quote(&plain(v)))));
            }
            Some(Value::Null | Value::Bool(false)) | None => {}
            Some(v) => words.push(format!("--{name} {}", shell_quote(&plain(v)))),
        }
    }
    words.extend(unrecorded.iter().map(|(name, value)| format!("--{name} {}", shell_quote(value))));
    if let Some(d) = delimiter.filter(|d| *d != ',') {
        words.push(format!("--delimiter {}", shell_quote(&d.to_string())));
    }
    words.join(" ")
}

/// A JSON value as the text a flag takes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("a/b.csv"), "a/b.csv");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }
}
