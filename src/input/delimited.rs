//! CSV and TSV with a header row (RFC 4180 quoting, CRLF or LF, an optional
//! UTF-8 BOM), read record by record with the `csv` crate.
//!
//! Records are read flexibly and judged here, so a wrong field count is a
//! malformed row rather than a stop. Line numbers are counted here too, not
//! taken from `csv::Position::line`: that one is the line where the parser
//! *started*, which with CRLF endings or blank lines before a record is an
//! earlier line than the record's first. Values stay bytes until a column that
//! feeds the lead is decoded, so a stray invalid byte rejects one row, names
//! its column, and the bytes still reach the output files unchanged.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use csv::{ByteRecord, ReaderBuilder};
use serde_json::Value;

use super::headers::{self, ColumnRole, Field, MapSpec};
use super::{Fields, InputError, Raw, Row};

pub(super) struct DelimitedReader {
    reader: csv::Reader<LineMarks<Box<dyn BufRead + Send>>>,
    /// The header as read, every column (including `leadctl_*`).
    header: Vec<String>,
    /// What each header column feeds.
    plan: Vec<ColumnRole>,
    /// Indices of the columns kept in `Raw::Csv` (not `leadctl_*`), or
    /// `None` when every column is kept (the common case: no copy).
    keep: Option<Vec<usize>>,
    /// The `leadctl_reason` column of a file leadctl wrote, if any.
    reason: Option<usize>,
    /// Sizes of the previous record, to allocate the next one once.
    last_bytes: usize,
    name: String,
}

impl DelimitedReader {
    /// Reads the header. `existing` requires a column feeding `leadId`.
    pub(super) fn open(
        input: Box<dyn BufRead + Send>,
        delimiter: u8,
        map: &MapSpec,
        existing: bool,
        name: String,
    ) -> Result<DelimitedReader, InputError> {
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(LineMarks::new(input));
        let header_record = reader.byte_headers().map_err(|e| open_error(e, &name))?;
        if header_record.is_empty() {
            return Err(InputError::NoHeader { path: name });
        }
        let header: Vec<String> = header_record.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
        let header_end = reader.position().byte();
        reader.get_mut().record_start = header_end;
        let plan = headers::plan_columns(&header, map, &name)?;
        if existing && !plan.contains(&ColumnRole::Field(Field::LeadId)) {
            return Err(InputError::NoLeadIdColumn { path: name });
        }
        let kept: Vec<usize> = (0..header.len()).filter(|&i| !crate::vocab::is_leadctl_column(&header[i])).collect();
        let keep = (kept.len() != header.len()).then_some(kept);
        let reason = header.iter().position(|h| h.eq_ignore_ascii_case(crate::vocab::column::REASON));
        Ok(DelimitedReader { reader, header, plan, keep, reason, last_bytes: 256, name })
    }

    /// The header names kept in the rows as read (`leadctl_*` removed).
    pub(super) fn columns(&self) -> Vec<String> {
        match &self.keep {
            None => self.header.clone(),
            Some(keep) => keep.iter().map(|&i| self.header[i].clone()).collect(),
        }
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        let mut record = ByteRecord::with_capacity(self.last_bytes, self.header.len());
        match self.reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                // The line where the record that could not be read starts.
                let marks = self.reader.get_mut();
                let line = marks.line_of_record(marks.record_start);
                let detail = e.to_string();
                let path = self.name.clone();
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) if source.kind() == io::ErrorKind::InvalidData => {
                        InputError::Broken { path, line, detail: source.to_string() }
                    }
                    csv::ErrorKind::Io(source) => InputError::Read { path, line, source },
                    _ => InputError::Broken { path, line, detail },
                });
            }
        }
        self.last_bytes = record.as_slice().len().max(16);
        let start = record.position().map_or(0, csv::Position::byte);
        let next = self.reader.position().byte();
        let marks = self.reader.get_mut();
        let line = marks.line_of_record(start);
        marks.record_start = next;
        let fields = self.fields(&record);
        let raw = match &self.keep {
            None => record,
            Some(keep) => {
                let mut kept = ByteRecord::with_capacity(record.as_slice().len(), keep.len());
                for &i in keep {
                    if let Some(value) = record.get(i) {
                        kept.push_field(value);
                    }
                }
                // Values past the header are no column's, so they are kept.
                for value in record.iter().skip(self.header.len()) {
                    kept.push_field(value);
                }
                kept
            }
        };
        Ok(Some(Row { ordinal: 0, line, raw: Raw::Csv(raw), fields }))
    }

    fn fields(&self, record: &ByteRecord) -> Result<Fields, String> {
        let (got, want) = (record.len(), self.header.len());
        if got != want {
            let mut reason = format!("row has {got} fields but the header has {want}");
            if got > want {
                let extra: Vec<String> =
                    record.iter().skip(want).map(|v| format!("{:?}", String::from_utf8_lossy(v))).collect();
                reason.push_str("; the extra values are ");
                reason.push_str(&extra.join(", "));
            }
            return Err(reason);
        }
        let may_exist = self
            .reason
            .and_then(|i| record.get(i))
            .is_some_and(|v| std::str::from_utf8(v).is_ok_and(crate::vocab::has_may_exist_mark));
        let mut fields = Fields { may_exist, ..Fields::default() };
        let mut bad_utf8: Vec<&str> = Vec::new();
        for ((value, target), column) in record.iter().zip(&self.plan).zip(&self.header) {
            if *target == ColumnRole::Ignore || value.is_empty() {
                continue;
            }
            let Ok(text) = std::str::from_utf8(value) else {
                bad_utf8.push(column);
                continue;
            };
            match *target {
                ColumnRole::Field(field) => set_field(&mut fields, field, text.trim()),
                ColumnRole::Custom => {
                    fields.custom.insert(column.clone(), Value::String(text.to_owned()));
                }
                ColumnRole::Ignore => {}
            }
        }
        if !bad_utf8.is_empty() {
            let names: Vec<String> = bad_utf8.iter().map(|c| format!("\"{c}\"")).collect();
            let (noun, verb) = if names.len() == 1 { ("column", "is") } else { ("columns", "are") };
            return Err(format!("{noun} {} {verb} not valid UTF-8; save the file as UTF-8", names.join(", ")));
        }
        Ok(fields)
    }
}

/// Stores a known field's (trimmed) text; empty text leaves it absent.
pub(super) fn set_field(fields: &mut Fields, field: Field, text: &str) {
    if text.is_empty() {
        return;
    }
    let slot = match field {
        Field::Phone => &mut fields.phone,
        Field::FirstName => &mut fields.first_name,
        Field::LastName => &mut fields.last_name,
        Field::Email => &mut fields.email,
        Field::ProcessId => &mut fields.process_id,
        Field::ProjectId => &mut fields.project_id,
        Field::ExternalId => &mut fields.external_id,
        Field::LeadId => &mut fields.lead_id,
    };
    *slot = Some(text.to_owned());
}

fn open_error(e: csv::Error, name: &str) -> InputError {
    let detail = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => InputError::Open { path: name.to_owned(), source },
        _ => InputError::NotFormat { path: name.to_owned(), expected: "a CSV file", detail },
    }
}

/// Remembers where the `\r` and `\n` bytes passing through are, so that a
/// record's starting byte offset (which `csv` reports exactly) gives its
/// first line: the parser's start offset may sit on the `\n` of a CRLF or
/// on blank lines it skips, so those terminators are stepped over first.
///
/// Only the marks of bytes read but not yet reached by a query are held:
/// about one read buffer's worth, or one record. A record is capped at
/// [`MAX_RECORD_BYTES`]: past it, reading fails (`InvalidData`) instead of
/// holding the rest of the file, which is what a quote that is never closed
/// would otherwise do.
struct LineMarks<R> {
    inner: R,
    /// Offset of the next byte to be read.
    offset: u64,
    /// `offset << 1 | is_newline` of the `\r` and `\n` bytes not yet passed.
    marks: VecDeque<u64>,
    /// `\n` bytes before the first mark.
    newlines_before: u64,
    /// Where the record being read starts (the end of the previous one).
    record_start: u64,
}

/// The largest record (one CSV row, quoted newlines included) read. The
/// API's own limits keep a lead far below it.
const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

impl<R> LineMarks<R> {
    fn new(inner: R) -> LineMarks<R> {
        LineMarks { inner, offset: 0, marks: VecDeque::new(), newlines_before: 0, record_start: 0 }
    }

    /// The 1-based line of the first byte of the record whose parse started
    /// at byte `start`. Queries must come in increasing `start` order.
    fn line_of_record(&mut self, start: u64) -> u64 {
        let mut first = start;
        while let Some(&mark) = self.marks.front() {
            let (at, newline) = (mark >> 1, mark & 1 == 1);
            if at <= first {
                if at == first {
                    first += 1; // a terminator where the record would start
                }
                self.newlines_before += u64::from(newline);
                self.marks.pop_front();
            } else {
                break;
            }
        }
        self.newlines_before + 1
    }
}

impl<R: Read> Read for LineMarks<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset - self.record_start > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a row is longer than {} MiB; a quote (\") that opens a value probably has no \
                     closing one",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.marks.push_back(((self.offset + i as u64) << 1) | u64::from(b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first line of every record, read through `LineMarks`.
    fn lines(text: &str) -> Vec<u64> {
        let mut reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(4) // tiny, so marks span many reads
            .from_reader(LineMarks::new(text.as_bytes()));
        let mut record = ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut record).expect("csv") {
            let start = record.position().map_or(0, csv::Position::byte);
            out.push(reader.get_mut().line_of_record(start));
        }
        out
    }

    #[test]
    fn records_start_on_the_right_line_with_any_line_ending() {
        assert_eq!(lines("h\na\nb\n"), [1, 2, 3]);
        assert_eq!(lines("h\r\na\r\nb\r\n"), [1, 2, 3]);
        assert_eq!(lines("h\n\n\na\n\nb"), [1, 4, 6]);
        assert_eq!(lines("h\r\n\r\n\r\na\r\n\r\nb"), [1, 4, 6]);
        assert_eq!(lines("\n\nh\n\"x\ny\r\nz\",1\n\"\"\nlast"), [3, 4, 7, 8]);
        assert_eq!(lines("h\r\n\"a\r\n\r\nb\"\r\nc"), [1, 2, 5]);
    }
}
