//! Reading lead files as operators have them: CSV (any delimiter, any
//! encoding), TSV, JSON arrays, NDJSON, plain id lists, each optionally
//! gzip-compressed, from a path, a pipe or stdin; and spreadsheets (xlsx,
//! xlsm, xls, ods). Always as a stream, and the input is read once.
//!
//! A reader yields [`Row`]s: the values as read (for the output files) and
//! the lead's fields found by header matching (for the checks). A row that
//! cannot be understood is still yielded, with `fields: Err(reason)`, so no
//! input row is ever lost; only a file that cannot be read at all is an error,
//! and so is a file that is not a lead file (no phone or lead id column):
//! [`Source::open`] refuses it before any row.
//!
//! Submodules: `open` (file or pipe, format, gzip, byte counter and digest),
//! `decode` (byte order marks, encoding detection, the decoding reader),
//! `sniff` (the CSV delimiter), `headers` (which column feeds which field),
//! `table` (a header and its records as rows), `delimited` (CSV/TSV), `json`
//! (arrays and NDJSON), `lines` (id lists), `sheet`, `sheet_rows`,
//! `sheet_budget`, `xls_budget` and `cells` (spreadsheets), `source` (the [`Source`] that ties them
//! together), `facts` (what reading finds out), `error`.

mod cells;
mod decode;
mod delimited;
mod error;
mod facts;
mod headers;
mod json;
mod lines;
mod open;
mod sheet;
mod sheet_budget;
mod sheet_rows;
mod sniff;
mod source;
mod table;
mod xls_budget;

use std::path::PathBuf;

use serde_json::{Map, Value};

pub use self::decode::{EncodingSource, EncodingUsed};
pub use self::error::InputError;
pub use self::facts::{InputDigest, InputFacts};
pub use self::headers::column_for;
pub use self::source::{DelimiterUsed, Source};

/// The most bytes one row (a CSV record, an NDJSON line, a JSON array
/// element, an id line, a sheet row) may have. A larger row is rejected
/// (`malformed_row`, "row too large") without being held, and the read goes
/// on: the API's own limits keep a lead far below it.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// The most columns a lead file may have: a spreadsheet's own limit (its
/// last column is XFD, the 16,384th). A header wider than that, or a header
/// cell past it, is a claim no lead list needs: the file is refused as not
/// a lead file before anything is allocated by it.
pub const MAX_COLUMNS: usize = 16_384;

/// What to read and how: the input half of the settings.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// The file; `-` is stdin (and needs `format`).
    pub path: PathBuf,
    /// `--format`: overrides the format the name implies.
    pub format: Option<Format>,
    /// `--delimiter` for CSV/TSV. Without it, TSV uses a tab and CSV the
    /// one of `,` `;` TAB `|` that splits the first rows evenly.
    pub delimiter: Option<u8>,
    /// `--map FIELD=COLUMN` pairs: FIELD is the API name (`phoneNumber`,
    /// `firstName`, `processId`, ...) or a header synonym of it. A CSV/TSV
    /// COLUMN missing from the header is an error at open; JSON keys are
    /// matched object by object (an absent key just leaves the field empty).
    pub map: Vec<(String, String)>,
    /// `upload --existing`: rows are lead ids; unknown extensions are
    /// [`Format::Lines`], and other formats need a `leadId` column.
    pub existing: bool,
    /// `--encoding LABEL` (a WHATWG label such as `windows-1252`): the text
    /// encoding of a text input, instead of detecting it. A byte order mark
    /// still wins. Spreadsheets ignore it (they hold Unicode).
    pub encoding: Option<String>,
    /// `--sheet NAME|INDEX`: the spreadsheet's sheet, by name or by position
    /// from 1 (default: the first). Only for spreadsheets.
    pub sheet: Option<String>,
}

/// The formats leadctl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Ndjson,
    /// One lead id a line (only for `upload --existing`).
    Lines,
    /// Excel 2007+ workbook (`.xlsx`, `.xlsm`).
    Xlsx,
    /// Excel 97-2003 workbook (`.xls`).
    Xls,
    /// OpenDocument spreadsheet (`.ods`).
    Ods,
}

impl Format {
    /// Whether the input is a spreadsheet (read with calamine, written out
    /// as CSV).
    pub fn is_spreadsheet(self) -> bool {
        matches!(self, Format::Xlsx | Format::Xls | Format::Ods)
    }
}

/// One input row, as read, with its place in the input.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's identity: its position among the input's rows (0, 1, 2,
    /// ...), given by [`Source`] as it yields the row. Journal, resume and
    /// duplicate memory key on it; several rows can share a line (a JSON
    /// array written on one line).
    pub ordinal: u64,
    /// 1-based line number of the first line of the record in the input
    /// (a spreadsheet's row number), for people (`leadctl_line`).
    pub line: u64,
    /// The row's size in the input, in bytes (at most a little over
    /// [`MAX_ROW_BYTES`]): what a stage can bound its memory by.
    pub bytes: u32,
    /// The values as read, written back unchanged to the output files.
    pub raw: Raw,
    /// The lead's fields, or why the row is malformed (`malformed_row`).
    pub fields: Result<Fields, String>,
    /// For a row of a file leadctl wrote (a resend): the file and line it
    /// was first read from, as that file's `leadctl_origin_*` columns say.
    /// `None`: the row is first read here, from this input at `line`.
    pub provenance: Option<Provenance>,
}

/// Where a row was first read: a file (as the run that read it recorded
/// its path) and the line there. Kept through every resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub file: std::sync::Arc<str>,
    pub line: u64,
}

impl Provenance {
    /// The provenance from the `leadctl_origin_file` and `leadctl_origin_line`
    /// values of a file leadctl wrote (made inert for spreadsheets there);
    /// `None` when the line is no line number (a person emptied it).
    pub(crate) fn read(file: &str, line: &str) -> Option<Provenance> {
        let line = crate::vocab::from_spreadsheet(line.trim()).parse::<u64>().ok().filter(|&l| l > 0)?;
        Some(Provenance { file: crate::vocab::from_spreadsheet(file).into(), line })
    }
}

/// The values of a row as read.
#[derive(Debug, Clone)]
pub enum Raw {
    /// CSV/TSV/lines/spreadsheets: the record's fields for the kept columns
    /// (see [`Source::columns`]); UTF-8 (decoded, if the file was not), or
    /// for a UTF-8 file the bytes as read (they may not be valid). A
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
    /// A retryable file leadctl wrote says an earlier attempt may have
    /// created this lead (its `leadctl_reason` carries the mark): an
    /// "already exists" answer then means it was created, not a duplicate.
    pub may_exist: bool,
    /// How the input stored the phone: a spreadsheet cell may hold a number,
    /// which has lost any leading zero or `+`, and past 15 digits, digits.
    pub phone_cell: PhoneCell,
}

/// How the phone value was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PhoneCell {
    /// As text: every text format, and spreadsheet cells formatted as Text.
    #[default]
    Text,
    /// A spreadsheet number cell, written out as a whole number
    /// (`4915112345678`, never `4.915112345678e12`).
    Number,
}
