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

    #[error(
        "{path} has no lead id column; `upload --existing` needs a column named leadId \
         (or lead_id), or --map leadId=COLUMN"
    )]
    NoLeadIdColumn { path: String },

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
