//! [`Source`]: an open input, yielding its rows in order, and what the run
//! needs to know about it (format, columns, encoding, delimiter, sheet,
//! whether it can be opened again, its digest once read).
//!
//! Opening judges the file before any row is sent: a CSV header, a sheet's
//! header row, or the first rows of a JSON file must give a phone (or lead
//! id) column. JSON rows read for that are kept and served first, so the
//! input is still read once.

use std::collections::VecDeque;
use std::io::BufRead;
use std::iter::FusedIterator;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::decode::{self, EncodingUsed, Replay};
use super::delimited::DelimitedReader;
use super::error::NotLeadFile;
use super::facts::{InputDigest, InputFacts};
use super::headers::{Field, KeyCache, MapSpec};
use super::json::{ArrayReader, NdjsonReader, ObjectMapper};
use super::lines::{self, LinesReader};
use super::open::{self, display_name};
use super::sheet::SheetReader;
use super::sniff::sniff;
use super::{Format, InputError, InputSpec, Raw, Row};

/// JSON rows judged at open, at most: this many ...
const JUDGED_ROWS: usize = 1000;
/// ... or this many bytes of them (they are held until served).
const JUDGED_BYTES: usize = 4 * 1024 * 1024;
/// How much of a CSV file the delimiter is chosen from.
const SNIFF_BYTES: usize = 64 * 1024;

/// The delimiter a CSV/TSV input is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelimiterUsed {
    pub delimiter: u8,
    /// Chosen from the file's first rows (no `--delimiter`, a `.csv`).
    pub sniffed: bool,
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
    name: String,
    columns: Option<Vec<String>>,
    progress: Arc<AtomicU64>,
    total: Option<u64>,
    regular: bool,
    delimiter: Option<DelimiterUsed>,
    sheet: Option<String>,
    /// See [`Source::has_project_column`] and [`Source::has_process_column`].
    project_column: Option<bool>,
    process_column: Option<bool>,
    facts: Arc<InputFacts>,
    /// Rows read at open to judge the file, served first.
    queued: VecDeque<Row>,
    error: Option<InputError>,
    finished: bool,
    /// The ordinal of the next row.
    next_ordinal: u64,
}

enum Reader {
    Delimited(DelimitedReader),
    Array(ArrayReader),
    Ndjson(NdjsonReader),
    Lines(LinesReader),
    Sheet(SheetReader),
}

impl Reader {
    fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        match self {
            Reader::Delimited(r) => r.next_row(),
            Reader::Array(r) => r.next_row(),
            Reader::Ndjson(r) => r.next_row(),
            Reader::Lines(r) => r.next_row(),
            Reader::Sheet(r) => r.next_row(),
        }
    }

    fn mapper(&mut self) -> Option<&mut ObjectMapper> {
        match self {
            Reader::Array(r) => Some(r.mapper()),
            Reader::Ndjson(r) => Some(r.mapper()),
            _ => None,
        }
    }
}

impl Source {
    /// Opens the input and reads what proves its format and that it is a
    /// lead file (a CSV header, a sheet's header row, a JSON file's first
    /// rows). Fails, before any row, when the file is missing, has no
    /// header, is not the format it claims or not a lead file, or when stdin
    /// comes without `--format`.
    pub fn open(spec: &InputSpec) -> Result<Source, InputError> {
        let mut source = Source::open_reader(spec)?;
        // Header-based inputs say up front whether rows can carry a project.
        if let Some(columns) = &source.columns {
            let map = MapSpec::parse(&spec.map)?;
            let plan = super::headers::plan_columns(columns, &map, &source.name)?;
            source.project_column = Some(plan.contains(&super::headers::ColumnRole::Field(Field::ProjectId)));
            source.process_column = Some(plan.contains(&super::headers::ColumnRole::Field(Field::ProcessId)));
        }
        Ok(source)
    }

    fn open_reader(spec: &InputSpec) -> Result<Source, InputError> {
        let map = MapSpec::parse(&spec.map)?;
        let name = display_name(&spec.path);
        let (format, gz) = open::resolve_format(spec, &name)?;
        if format == Format::Lines && !spec.existing {
            return Err(InputError::LinesNeedExisting { path: name });
        }
        let facts = Arc::new(InputFacts::default());
        if format.is_spreadsheet() {
            if gz {
                return Err(InputError::SheetNotSeekable { path: name });
            }
            let opened = super::sheet::open(spec, format, &name, map, &facts)?;
            return Ok(Source::new(Reader::Sheet(opened.reader), format, name, opened.progress, &facts).with(
                Some(opened.columns),
                opened.total,
                true,
                None,
                Some(opened.sheet),
            ));
        }
        if spec.sheet.is_some() {
            return Err(InputError::SheetNotSpreadsheet { path: name });
        }
        let given = spec.encoding.as_deref().map(decode::parse_label).transpose()?;
        let opened = open::open(spec, &name, gz, &facts)?;
        let open_err = |source| InputError::Open { path: name.clone(), source };
        let mut input: Box<dyn BufRead + Send> =
            Box::new(decode::decoding(opened.reader, given, &facts, &name).map_err(open_err)?);
        let (reader, columns, delimiter) = match format {
            Format::Csv | Format::Tsv => {
                let used = match (spec.delimiter, format) {
                    (Some(delimiter), _) => DelimiterUsed { delimiter, sniffed: false },
                    (None, Format::Tsv) => DelimiterUsed { delimiter: b'\t', sniffed: false },
                    (None, _) => {
                        let mut sample = Vec::new();
                        let eof = decode::read_up_to(&mut input, &mut sample, SNIFF_BYTES).map_err(open_err)?;
                        let delimiter = sniff(&sample, eof).unwrap_or(b',');
                        input = Box::new(Replay::new(sample, input));
                        DelimiterUsed { delimiter, sniffed: true }
                    }
                };
                let r = DelimitedReader::open(input, used.delimiter, &map, spec.existing, name.clone(), &facts)?;
                let columns = r.columns();
                (Reader::Delimited(r), Some(columns), Some(used))
            }
            Format::Json => {
                let mapper = ObjectMapper::new(KeyCache::new(map), &facts);
                (Reader::Array(ArrayReader::open(input, mapper, name.clone())?), None, None)
            }
            Format::Ndjson => {
                let mapper = ObjectMapper::new(KeyCache::new(map), &facts);
                (Reader::Ndjson(NdjsonReader::open(input, mapper, name.clone())?), None, None)
            }
            // (Spreadsheets were opened above: they are not text.)
            Format::Lines | Format::Xlsx | Format::Xls | Format::Ods => {
                let r = LinesReader::new(input, name.clone(), &facts);
                (Reader::Lines(r), Some(vec![lines::COLUMN.to_owned()]), None)
            }
        };
        let mut source = Source::new(reader, format, name, opened.progress, &facts).with(
            columns,
            opened.total,
            opened.regular,
            delimiter,
            None,
        );
        if matches!(format, Format::Json | Format::Ndjson) {
            source.judge_objects(spec.existing)?;
        }
        Ok(source)
    }

    fn new(reader: Reader, format: Format, name: String, progress: Arc<AtomicU64>, facts: &Arc<InputFacts>) -> Source {
        Source {
            reader,
            format,
            name,
            columns: None,
            progress,
            total: None,
            regular: false,
            delimiter: None,
            sheet: None,
            project_column: None,
            process_column: None,
            facts: Arc::clone(facts),
            queued: VecDeque::new(),
            error: None,
            finished: false,
            next_ordinal: 0,
        }
    }

    fn with(
        mut self,
        columns: Option<Vec<String>>,
        total: Option<u64>,
        regular: bool,
        delimiter: Option<DelimiterUsed>,
        sheet: Option<String>,
    ) -> Source {
        self.columns = columns;
        self.total = total;
        self.regular = regular;
        self.delimiter = delimiter;
        self.sheet = sheet;
        self
    }

    /// JSON and NDJSON: reads rows until an object has a phone key (a lead
    /// id key, `existing`), keeping them to serve first. None among the
    /// objects of the first [`JUDGED_ROWS`] rows (or [`JUDGED_BYTES`])
    /// means not a lead file.
    fn judge_objects(&mut self, existing: bool) -> Result<(), InputError> {
        let field = if existing { Field::LeadId } else { Field::Phone };
        let (mut objects, mut held) = (0usize, 0usize);
        let seen = |r: &mut Reader| r.mapper().is_some_and(|m| m.has_seen(field));
        while !seen(&mut self.reader) && self.queued.len() < JUDGED_ROWS && held < JUDGED_BYTES {
            match self.reader.next_row() {
                Ok(Some(row)) => {
                    // A row too large to parse is not held, and is no evidence.
                    if let Raw::Json(_) = row.raw {
                        objects += 1;
                        held += row.bytes as usize;
                    }
                    self.queued.push_back(row);
                }
                Ok(None) => break,
                Err(e) => {
                    self.error = Some(e);
                    self.finished = true;
                    break;
                }
            }
        }
        let keys = self.reader.mapper().map(ObjectMapper::take_keys).unwrap_or_default();
        // Without a single object to judge, every row is malformed anyway:
        // they say why one by one.
        if objects == 0 || seen(&mut self.reader) {
            return Ok(());
        }
        Err(NotLeadFile { path: &self.name, existing, names: &keys, objects: Some(objects), hint: None }.error())
    }

    /// The resolved format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// CSV/TSV/lines/spreadsheets: the header names as read, minus
    /// `leadctl_*` columns; the `Raw::Csv` records hold exactly these
    /// columns, in this order (a malformed record may hold more or fewer).
    /// `None` for JSON/NDJSON.
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

    /// Whether the input is a regular file, which can be opened again (to
    /// resume a run). A pipe, `<(...)`, `-` or `/dev/stdin` is not: it is
    /// read once, so such a run cannot keep a journal.
    pub fn is_regular_file(&self) -> bool {
        self.regular
    }

    /// The text encoding used (`None` for a spreadsheet). Read it again
    /// after the last row: a file that is ASCII for its first 64 KiB is
    /// decided at its first other byte.
    pub fn encoding(&self) -> Option<EncodingUsed> {
        self.facts.encoding()
    }

    /// CSV/TSV: the delimiter, and whether it was chosen from the file.
    pub fn delimiter(&self) -> Option<DelimiterUsed> {
        self.delimiter
    }

    /// Spreadsheets: the name of the sheet read.
    pub fn sheet(&self) -> Option<&str> {
        self.sheet.as_deref()
    }

    /// Header-based inputs (CSV, TSV, sheets): whether a column feeds the
    /// rows' `projectId`. `None` for JSON, whose objects each say it.
    pub fn has_project_column(&self) -> Option<bool> {
        self.project_column
    }

    /// Header-based inputs (CSV, TSV, sheets): whether a column feeds the
    /// rows' `processId` (after `--map`). `None` for JSON.
    pub fn has_process_column(&self) -> Option<bool> {
        self.process_column
    }

    /// Spreadsheets: phone cells read so far that held a number, not text.
    pub fn numeric_phone_cells(&self) -> u64 {
        self.facts.numeric_phone_cells()
    }

    /// Size and SHA-256 of the input, computed while reading: available
    /// once the last row has been read (`None` before, or after a read that
    /// stopped early).
    pub fn digest(&self) -> Option<InputDigest> {
        self.facts.digest()
    }

    /// What reading finds out (encoding, numeric phone cells, digest),
    /// shared: take it before the source moves to a reader thread, and read
    /// it when the reading is done.
    pub fn facts(&self) -> Arc<InputFacts> {
        Arc::clone(&self.facts)
    }

    /// One line for stderr when the run starts reading, if the input is
    /// read in a way worth saying: an encoding other than UTF-8, a
    /// delimiter other than `,` chosen from the file, a spreadsheet's sheet.
    pub fn notice(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(used) = self.encoding().filter(|e| !e.is_utf8() || e.source == super::EncodingSource::Given) {
            let how = match used.source {
                super::EncodingSource::Bom => "from its byte order mark",
                super::EncodingSource::Given => "as given",
                super::EncodingSource::Detected => "detected; pass --encoding if that is wrong",
                super::EncodingSource::Default => "the default",
            };
            parts.push(format!("as {} ({how})", used.name));
        }
        if let Some(d) = self.delimiter.filter(|d| d.sniffed && d.delimiter != b',') {
            let shown =
                if d.delimiter == b'\t' { "TAB".to_owned() } else { format!("\"{}\"", char::from(d.delimiter)) };
            parts.push(format!("with values separated by {shown} (found in its first rows; --delimiter to change)"));
        }
        if let Some(sheet) = &self.sheet {
            parts.push(format!("sheet \"{sheet}\""));
        }
        (!parts.is_empty()).then(|| format!("reading {} {}", self.name, parts.join(", ")))
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
        let next = match self.queued.pop_front() {
            Some(row) => Ok(Some(row)),
            None if self.finished => return None,
            None => self.reader.next_row(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_can_move_to_a_reader_thread() {
        fn is_send<T: Send + 'static>() {}
        is_send::<Source>();
        is_send::<Arc<InputFacts>>();
    }
}
