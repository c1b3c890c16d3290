//! Why an input file cannot be read: before the first row (the run never
//! starts), or part-way (the rows before were read; see
//! [`Source::take_error`](super::Source::take_error)).
//!
//! Every message names the file, says what is wrong and, where there is one,
//! what to do about it.

use std::io;

/// An input file that cannot be read (as a whole, or past some point).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file; check the path")]
    NotFound { path: String },

    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("reading standard input (`-`) needs --format csv, tsv, json or ndjson")]
    StdinNeedsFormat,

    #[error(
        "cannot tell the format of {path} from its name; name it .csv, .tsv, .json, \
         .ndjson or .jsonl (optionally .gz), or pass --format"
    )]
    UnknownFormat { path: String },

    #[error(
        "{path}: the `lines` format (one lead id a line) is only for `upload --existing`; \
         pass --format csv, tsv, json or ndjson"
    )]
    LinesNeedExisting { path: String },

    #[error(
        "{path} has no header row; its first line must name the columns \
         (e.g. phone,first_name,process_id)"
    )]
    NoHeader { path: String },

    #[error("{path} is not {expected}: {detail}")]
    NotFormat { path: String, expected: &'static str, detail: String },

    #[error("--map {field}={column}: {problem}")]
    BadMap { field: String, column: String, problem: String },

    /// No column (or, in JSON, no key among the first rows) feeds the
    /// phone (new leads) or the lead id (`--existing`): not a lead file,
    /// or one whose column names leadctl does not know. The message names
    /// the file, the columns seen and the fix.
    #[error("{message}")]
    NotALeadFile {
        path: String,
        /// `phoneNumber` or `leadId`.
        field: &'static str,
        message: String,
    },

    #[error(
        "--encoding {label:?} is not an encoding leadctl knows; use a WHATWG label such as \
         utf-8, windows-1252, iso-8859-15, utf-16le or shift_jis"
    )]
    UnknownEncoding { label: String },

    #[error("{path}: --sheet is only for spreadsheets (.xlsx, .xlsm, .xls, .ods)")]
    SheetNotSpreadsheet { path: String },

    #[error("{path} has no sheet {sheet:?}; its sheets are: {sheets} (--sheet takes a name or a position from 1)")]
    NoSuchSheet { path: String, sheet: String, sheets: String },

    #[error(
        "{path}: a spreadsheet must be a regular file (it is read by seeking); save it to a \
         file first, and leave it uncompressed"
    )]
    SheetNotSeekable { path: String },

    #[error("cannot read the spreadsheet {path}: {detail}")]
    Sheet { path: String, detail: String },

    #[error(
        "reading {path} failed at line {line}: {source}; the rows before that line \
         were read, the rest of the file was not"
    )]
    Read {
        path: String,
        line: u64,
        #[source]
        source: io::Error,
    },

    #[error(
        "{path} is broken at line {line}: {detail}; the rows before that line were read, \
         the rest of the file was not"
    )]
    Broken { path: String, line: u64, detail: String },
}

/// At most this many column names in a "not a lead file" message.
const MAX_NAMES: usize = 20;

/// Why a file is not a lead file, for [`InputError::NotALeadFile`].
pub(super) struct NotLeadFile<'a> {
    pub path: &'a str,
    /// `--existing`: the lead id is what is missing.
    pub existing: bool,
    /// The column names (or JSON keys) seen.
    pub names: &'a [String],
    /// What was looked at: `None` for a header, `Some(n)` for n JSON objects.
    pub objects: Option<usize>,
    /// Another fix that fits, if any (", or ...").
    pub hint: Option<String>,
}

impl NotLeadFile<'_> {
    pub(super) fn error(self) -> InputError {
        let (field, what, column) =
            if self.existing { ("leadId", "lead ids", "lead id") } else { ("phoneNumber", "phone numbers", "phone") };
        let missing = match self.objects {
            None => format!("it has no {column} column"),
            Some(n) => format!("none of its first {n} objects has a {column} key"),
        };
        let noun = if self.objects.is_some() { "keys" } else { "columns" };
        let hint = self.hint.unwrap_or_default();
        let path = self.path;
        let binary = self.names.iter().any(|n| n.chars().any(|c| c.is_control() && c != '\t'));
        let message = if binary {
            format!(
                "{path} is not a lead file leadctl can read as it is: its first line holds control \
                 characters, so it is probably not a text file; check that it is the file you meant{hint}. \
                 Nothing was sent"
            )
        } else {
            let seen = if self.names.is_empty() {
                format!("It has no {noun}")
            } else {
                let shown: Vec<String> = self.names.iter().take(MAX_NAMES).map(|n| quoted(n)).collect();
                let more = self.names.len().saturating_sub(MAX_NAMES);
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                format!("Its {noun} are: {}{more}", shown.join(", "))
            };
            format!(
                "{path} is not a lead file leadctl can read as it is: {missing}. {seen}. If one of these \
                 holds the {what}, pass --map {field}=COLUMN{hint}. Nothing was sent"
            )
        };
        InputError::NotALeadFile { path: self.path.to_owned(), field, message }
    }
}

/// A file whose header is wider than [`super::MAX_COLUMNS`]: `what` says
/// how (`its header has 20,000 columns`).
pub(super) fn too_many_columns(path: &str, existing: bool, what: &str) -> InputError {
    let why = format!(
        "{what}, more than the {} columns a spreadsheet can have (its last column is XFD)",
        indicatif::HumanCount(super::MAX_COLUMNS as u64)
    );
    not_lead_file(path, existing, &why)
}

/// A file refused for what it claims (its width, its repeats), before its
/// columns were looked at: `why` says what and what to do.
pub(super) fn not_lead_file(path: &str, existing: bool, why: &str) -> InputError {
    let field = if existing { "leadId" } else { "phoneNumber" };
    let message = format!("{path} is not a lead file leadctl can read as it is: {why}. Nothing was sent");
    InputError::NotALeadFile { path: path.to_owned(), field, message }
}

/// A name as shown in a message: quoted, control characters escaped, long
/// ones shortened (a binary file's "header" can be anything).
pub(super) fn quoted(name: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut s: String = name.chars().take(MAX_CHARS).flat_map(char::escape_debug).collect();
    if name.chars().nth(MAX_CHARS).is_some() {
        s.push_str("...");
    }
    format!("\"{s}\"")
}
