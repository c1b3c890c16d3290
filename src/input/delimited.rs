//! CSV and TSV with a header row (RFC 4180 quoting, CRLF or LF), read record
//! by record with `csv-core`, from UTF-8 (the decoding reader sits below).
//!
//! `csv-core` rather than the `csv` crate's reader, for two things that one
//! cannot do. A record larger than [`MAX_ROW_BYTES`] is parsed to its end
//! without being kept (the parser writes into a scratch buffer that is
//! reused), so it becomes one malformed row and the read goes on. And a
//! record's first line is known exactly: the terminators before a record
//! (blank lines, the `\n` of a CRLF) are stepped over here, so the parser's
//! line count at the record's first byte is its line.

use std::io::{self, BufRead};
use std::sync::Arc;

use csv::ByteRecord;
use csv_core::{ReadRecordResult, ReaderBuilder};

use super::facts::InputFacts;
use super::headers::MapSpec;
use super::table::{self, Table};
use super::{InputError, MAX_ROW_BYTES, Row};

pub(super) struct DelimitedReader {
    parser: Parser,
    table: Table,
    /// An error to report after the row that revealed it.
    pending_error: Option<InputError>,
}

/// The record parser: the input, `csv-core`, and scratch buffers.
struct Parser {
    input: Box<dyn BufRead + Send>,
    core: csv_core::Reader,
    /// The record being read: its fields' bytes, and where each ends.
    buf: Vec<u8>,
    ends: Vec<usize>,
    name: String,
}

/// One record as parsed.
struct Record {
    /// The line of its first byte.
    line: u64,
    /// The lines it spans (more than 1 with quoted newlines).
    lines: u64,
    /// Bytes of the input it took.
    bytes: u64,
    /// Fields kept in the parser's buffers; `None` when the record was too
    /// large to keep.
    kept: Option<usize>,
    /// The input ended without a terminator after it.
    at_end: bool,
}

impl DelimitedReader {
    /// Reads the header, which must name a phone (or lead id) column.
    pub(super) fn open(
        input: Box<dyn BufRead + Send>,
        delimiter: u8,
        map: &MapSpec,
        existing: bool,
        name: String,
        facts: &Arc<InputFacts>,
    ) -> Result<DelimitedReader, InputError> {
        let core = ReaderBuilder::new().delimiter(delimiter).build();
        let mut parser = Parser { input, core, buf: vec![0; 1024], ends: vec![0; 64], name };
        let header = match parser.read_record() {
            Ok(Some(record)) => record,
            Ok(None) => return Err(InputError::NoHeader { path: parser.name }),
            Err(InputError::Read { path, source, .. }) => return Err(InputError::Open { path, source }),
            Err(e) => return Err(e),
        };
        let Some(nends) = header.kept else {
            return Err(InputError::NotFormat {
                path: parser.name,
                expected: "a CSV file",
                detail: format!("its first row is larger than {} MiB", MAX_ROW_BYTES >> 20),
            });
        };
        let names = parser.record(nends).iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
        let table = Table::new(names, map, existing, &parser.name, facts, |header| delimiter_hint(header, delimiter))?;
        Ok(DelimitedReader { parser, table, pending_error: None })
    }

    /// The header names kept in the rows as read (`leadctl_*` removed).
    pub(super) fn columns(&self) -> Vec<String> {
        self.table.columns()
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let Some(record) = self.parser.read_record()? else {
            return Ok(None);
        };
        let Some(nends) = record.kept else {
            let mut detail = String::new();
            if record.at_end && record.lines > 1 {
                // Most likely a quote that opens a value and never closes,
                // which made the rest of the file one value: the rows after
                // it were not read, so the read fails after this row.
                detail = format!(
                    "; it runs from line {} to the end of the file: a quote (\") that opens a value \
                     probably has no closing one",
                    record.line
                );
                self.pending_error = Some(InputError::Broken {
                    path: self.parser.name.clone(),
                    line: record.line,
                    detail: format!(
                        "the row that starts there is larger than {} MiB and runs to the end of the file; \
                         a quote (\") that opens a value probably has no closing one",
                        MAX_ROW_BYTES >> 20
                    ),
                });
            }
            return Ok(Some(table::too_large(record.line, record.bytes, &detail)));
        };
        let bytes = u32::try_from(record.bytes).unwrap_or(u32::MAX);
        Ok(Some(self.table.row(record.line, bytes, self.parser.record(nends))))
    }
}

impl Parser {
    /// The record just read, its first `nends` fields.
    fn record(&self, nends: usize) -> ByteRecord {
        let ends = &self.ends[..nends];
        let mut record = ByteRecord::with_capacity(ends.last().copied().unwrap_or(0), nends);
        let mut start = 0;
        for &end in ends {
            record.push_field(&self.buf[start..end]);
            start = end;
        }
        record
    }

    /// Reads the next record; `None` at the end of the input.
    fn read_record(&mut self) -> Result<Option<Record>, InputError> {
        let read_err = |p: &Parser, source| InputError::Read { path: p.name.clone(), line: p.core.line(), source };
        if !self.skip_terminators().map_err(|e| read_err(self, e))? {
            return Ok(None);
        }
        let line = self.core.line();
        let (mut len, mut nends, mut bytes) = (0usize, 0usize, 0u64);
        let mut over = false;
        loop {
            let input = match self.input.fill_buf() {
                Ok(input) => input,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(self, e)),
            };
            let at_end = input.is_empty();
            let (result, nin, nout, nend) = self.core.read_record(input, &mut self.buf[len..], &mut self.ends[nends..]);
            self.input.consume(nin);
            bytes += nin as u64;
            len += nout;
            nends += nend;
            over |= bytes > MAX_ROW_BYTES as u64;
            match result {
                ReadRecordResult::InputEmpty => {}
                // Past the cap, the scratch buffers are reused from the start:
                // the record is parsed to its end but not kept.
                ReadRecordResult::OutputFull if over => len = 0,
                ReadRecordResult::OutputFull => self.buf.resize(self.buf.len() * 2, 0),
                ReadRecordResult::OutputEndsFull if over => nends = 0,
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    let lines = self.core.line() - line + 1;
                    let kept = (!over).then_some(nends);
                    return Ok(Some(Record { line, lines, bytes, kept, at_end }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Steps over the line terminators before a record, counting lines;
    /// false at the end of the input.
    fn skip_terminators(&mut self) -> io::Result<bool> {
        loop {
            let input = match self.input.fill_buf() {
                Ok(input) => input,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if input.is_empty() {
                return Ok(false);
            }
            let skip = input.iter().position(|&b| b != b'\n' && b != b'\r').unwrap_or(input.len());
            let newlines = input[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
            let more = skip < input.len();
            self.input.consume(skip);
            self.core.set_line(self.core.line() + newlines);
            if more {
                return Ok(true);
            }
        }
    }
}

/// The fix to suggest when a header lacks the phone column: the header is
/// one column that holds another candidate delimiter, or NUL bytes (UTF-16
/// without a byte order mark).
fn delimiter_hint(header: &[String], delimiter: u8) -> Option<String> {
    if header.iter().any(|h| h.contains('\0')) {
        return Some(
            "; the header holds NUL bytes, so the file is probably UTF-16 without a byte order mark: \
             pass --encoding utf-16le (or utf-16be)"
                .into(),
        );
    }
    let [only] = header else {
        return None;
    };
    let fix = [(',', "--delimiter ','"), (';', "--delimiter ';'"), ('|', "--delimiter '|'"), ('\t', "--format tsv")]
        .into_iter()
        .find(|(c, _)| *c as u8 != delimiter && only.contains(*c));
    let (c, fix) = fix?;
    let shown = if c == '\t' { "a TAB".to_owned() } else { format!("\"{c}\"") };
    Some(format!("; the header is one column holding {shown}: if the values are separated by it, pass {fix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str) -> DelimitedReader {
        let input: Box<dyn BufRead + Send> =
            Box::new(io::BufReader::with_capacity(4, io::Cursor::new(text.to_owned())));
        let facts = Arc::new(InputFacts::default());
        DelimitedReader::open(input, b',', &MapSpec::default(), false, "t.csv".into(), &facts).expect("open")
    }

    /// The first line of every record after the header.
    fn lines(text: &str) -> Vec<u64> {
        let mut r = reader(text);
        std::iter::from_fn(|| r.next_row().expect("row")).map(|row| row.line).collect()
    }

    #[test]
    fn records_start_on_the_right_line_with_any_line_ending() {
        assert_eq!(lines("phone\na\nb\n"), [2, 3]);
        assert_eq!(lines("phone\r\na\r\nb\r\n"), [2, 3]);
        assert_eq!(lines("phone\n\n\na\n\nb"), [4, 6]);
        assert_eq!(lines("phone\r\n\r\n\r\na\r\n\r\nb"), [4, 6]);
        assert_eq!(lines("\n\nphone\n\"x\ny\r\nz\"\n\"\"\nlast"), [4, 7, 8]);
        assert_eq!(lines("phone\r\n\"a\r\n\r\nb\"\r\nc"), [2, 5]);
    }

    #[test]
    fn a_row_too_large_is_skipped_without_being_kept_and_the_read_goes_on() {
        let big = "x".repeat(MAX_ROW_BYTES + 10);
        let text = format!("phone,note\n1,a\n2,\"{big}\"\n3,c\n");
        let mut r = reader(&text);
        let rows: Vec<Row> = std::iter::from_fn(|| r.next_row().expect("row")).collect();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(rows[1].fields.as_ref().is_err_and(|e| e.starts_with("row too large")), "{:?}", rows[1].fields);
        assert!(rows[2].fields.is_ok());
        assert!(r.parser.buf.len() <= 2 * MAX_ROW_BYTES, "scratch buffer {}", r.parser.buf.len());
    }

    #[test]
    fn hints_for_a_header_of_one_column() {
        let h = |s: &str| delimiter_hint(&[s.to_owned()], b',');
        assert!(h("name;phone").is_some_and(|m| m.contains("--delimiter ';'")));
        assert!(h("name\tphone").is_some_and(|m| m.contains("--format tsv")));
        assert!(h("n\0a\0m\0e").is_some_and(|m| m.contains("utf-16le")));
        assert_eq!(h("name"), None);
    }
}
