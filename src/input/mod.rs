//! Reading lead files: CSV, TSV, JSON arrays, NDJSON, plain id lists, each
//! optionally gzip-compressed, from a path or stdin, always as a stream.
//!
//! A reader yields [`Row`]s: the values as read (for the output files) and
//! the lead's fields found by header matching (for the checks). A row that
//! cannot be understood is still yielded, with `fields: Err(reason)`, so no
//! input row is ever lost; only a file that cannot be read at all is an error.
//!
//! Submodules: `open` (file or stdin, format, gzip, byte counter),
//! `headers` (which column feeds which field), `delimited` (CSV/TSV),
//! `json` (arrays and NDJSON), `lines` (id lists), `error`.

mod delimited;
mod error;
mod headers;
mod json;
mod lines;
mod open;

use std::iter::FusedIterator;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value};

pub use self::error::InputError;
use self::headers::{KeyCache, MapSpec};

/// What to read and how: the input half of the settings.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// The file; `-` is stdin (and needs `format`).
    pub path: PathBuf,
    /// `--format`: overrides the format the name implies.
    pub format: Option<Format>,
    /// `--delimiter` for CSV/TSV (default `,` and tab).
    pub delimiter: Option<u8>,
    /// `--map FIELD=COLUMN` pairs: FIELD is the API name (`phoneNumber`,
    /// `firstName`, `processId`, ...) or a header synonym of it. A CSV/TSV
    /// COLUMN missing from the header is an error at open; JSON keys are
    /// matched object by object (an absent key just leaves the field empty).
    pub map: Vec<(String, String)>,
    /// `upload --existing`: rows are lead ids; unknown extensions are
    /// [`Format::Lines`], and CSV/TSV need a `leadId` column.
    pub existing: bool,
}

/// An open input, yielding its rows in order.
///
/// Iteration ends at the end of the file, or early when the file cannot be
/// read past some point (an I/O error, corrupt gzip, a JSON array cut
/// short). The rows yielded before are good; [`Source::take_error`] then
/// returns the error, so the caller can finish sorting what was read and
/// still fail the run. Check it after every iteration.
pub struct Source {
    reader: Reader,
    format: Format,
    columns: Option<Vec<String>>,
    progress: Arc<AtomicU64>,
    total: Option<u64>,
    error: Option<InputError>,
    finished: bool,
    /// The ordinal of the next row.
    next_ordinal: u64,
}

enum Reader {
    Delimited(delimited::DelimitedReader),
    Array(json::ArrayReader),
    Ndjson(json::NdjsonReader),
    Lines(lines::LinesReader),
}

impl Source {
    /// Opens the input and reads what proves its format (a CSV header, a
    /// JSON array's `[`, an NDJSON file's first object). Fails, before any
    /// row, when the file is missing, has no header, is not the format it
    /// claims, or when stdin comes without `--format`.
    pub fn open(spec: &InputSpec) -> Result<Source, InputError> {
        let map = MapSpec::parse(&spec.map)?;
        let opened = open::open(spec)?;
        let (reader, columns) = match opened.format {
            Format::Csv | Format::Tsv => {
                let default = if opened.format == Format::Tsv { b'\t' } else { b',' };
                let r = delimited::DelimitedReader::open(
                    opened.reader,
                    spec.delimiter.unwrap_or(default),
                    &map,
                    spec.existing,
                    opened.name,
                )?;
                let columns = r.columns();
                (Reader::Delimited(r), Some(columns))
            }
            Format::Json => {
                let mapper = json::ObjectMapper::new(KeyCache::new(map));
                (Reader::Array(json::ArrayReader::open(opened.reader, mapper, opened.name)?), None)
            }
            Format::Ndjson => {
                let mapper = json::ObjectMapper::new(KeyCache::new(map));
                (Reader::Ndjson(json::NdjsonReader::open(opened.reader, mapper, opened.name)?), None)
            }
            Format::Lines => (
                Reader::Lines(lines::LinesReader::new(opened.reader, opened.name)),
                Some(vec![lines::COLUMN.to_owned()]),
            ),
        };
        Ok(Source {
            reader,
            format: opened.format,
            columns,
            progress: opened.progress,
            total: opened.total,
            error: None,
            finished: false,
            next_ordinal: 0,
        })
    }

    /// The resolved format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// CSV/TSV/lines: the header names as read, minus `leadctl_*` columns;
    /// the `Raw::Csv` records hold exactly these columns, in this order
    /// (a malformed record may hold more or fewer). `None` for JSON/NDJSON.
    pub fn columns(&self) -> Option<&[String]> {
        self.columns.as_deref()
    }

    /// Bytes of the input (compressed, if it is) consumed so far; shared,
    /// so a progress display can read it from another thread.
    pub fn progress(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.progress)
    }

    /// The input's size in bytes, when it is a regular file.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    /// The error that ended iteration early, if any (once; later calls
    /// return `None`). Rows yielded before it are good.
    pub fn take_error(&mut self) -> Option<InputError> {
        self.error.take()
    }
}

impl Iterator for Source {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.finished {
            return None;
        }
        let next = match &mut self.reader {
            Reader::Delimited(r) => r.next_row(),
            Reader::Array(r) => r.next_row(),
            Reader::Ndjson(r) => r.next_row(),
            Reader::Lines(r) => r.next_row(),
        };
        match next {
            Ok(Some(mut row)) => {
                row.ordinal = self.next_ordinal;
                self.next_ordinal += 1;
                Some(row)
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                self.error = Some(e);
                None
            }
        }
    }
}

impl FusedIterator for Source {}

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
}

/// One input row, as read, with its place in the input.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's identity: its position among the input's rows (0, 1, 2,
    /// ...), given by [`Source`] as it yields the row. Journal, resume and
    /// duplicate memory key on it; several rows can share a line (a JSON
    /// array written on one line).
    pub ordinal: u64,
    /// 1-based line number of the first line of the record in the input,
    /// for people (`leadctl_line`).
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

impl Raw {
    /// About how many bytes the row took in the input: what bounds the
    /// memory of the chunks and batches that carry rows between stages.
    pub fn approx_bytes(&self) -> usize {
        fn value(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len() + 2,
                Value::Array(a) => a.iter().map(value).sum::<usize>() + 2,
                Value::Object(m) => m.iter().map(|(k, v)| k.len() + 3 + value(v)).sum::<usize>() + 2,
                _ => 8,
            }
        }
        match self {
            Raw::Csv(record) => record.as_slice().len() + record.len(),
            Raw::Json(map) => map.iter().map(|(k, v)| k.len() + 3 + value(v)).sum::<usize>() + 2,
            Raw::Other(v) => value(v),
        }
    }
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
}
