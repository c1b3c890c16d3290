//! Reading lead files: CSV, TSV, JSON arrays, NDJSON, plain id lists, each
//! optionally gzip-compressed, from a path or stdin, always as a stream.
//!
//! A reader yields [`Row`]s: the values as read (for the output files) and
//! the lead's fields found by header matching (for the checks). A row that
//! cannot be understood is still yielded, with `fields: Err(reason)`, so no
//! input row is ever lost; only a file that cannot be read at all is an error.

use serde_json::{Map, Value};

/// The formats leadctl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Ndjson,
    /// One lead id a line (only for `upload --existing`).
    Lines,
}

/// One input row, as read, with the line where its record starts.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line number of the first line of the record in the input.
    pub line: u64,
    /// The values as read, written back unchanged to the output files.
    pub raw: Raw,
    /// The lead's fields, or why the row is malformed (`malformed_row`).
    pub fields: Result<Fields, String>,
}

/// The values of a row as read.
#[derive(Debug, Clone)]
pub enum Raw {
    /// CSV/TSV/lines: the record's fields for the kept columns (see
    /// [`Source::columns`]), bytes as read (they may not be UTF-8). A
    /// malformed record may have more or fewer fields than the header.
    Csv(csv::ByteRecord),
    /// JSON/NDJSON: the object as read, keys in input order, `leadctl_*`
    /// keys removed.
    Json(Map<String, Value>),
    /// JSON/NDJSON: something that is not an object (a JSON value, or the
    /// text of an NDJSON line that does not parse, as a string).
    Other(Value),
}

/// The lead's fields, found by header matching (`--map` first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    pub phone: Option<String>,
    pub process_id: Option<String>,
    pub project_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub lead_id: Option<String>,
    /// Every other column (empty cells left out), in input order.
    pub custom: Map<String, Value>,
}
