//! Plain lead-id lists for `upload --existing`: one id a line.
//!
//! Blank lines are skipped and ids are trimmed; a first line that only
//! says `leadId` (or `lead_id`, ...) is a header and skipped. The single
//! column of the rows as read is `leadId`, so the output files look like a
//! one-column CSV that can be fed back as it is.

use std::io::{self, BufRead};

use csv::ByteRecord;

use super::headers::normalize;
use super::{Fields, InputError, Raw, Row};

/// The one column of a lines file.
pub(super) const COLUMN: &str = "leadId";

/// The non-blank lines of a file, with their numbers: what both line
/// formats (NDJSON and lead-id lists) read.
pub(super) struct NonBlankLines {
    input: Box<dyn BufRead + Send>,
    /// The number of lines read so far.
    line: u64,
    buf: Vec<u8>,
    pub(super) name: String,
}

impl NonBlankLines {
    pub(super) fn new(input: Box<dyn BufRead + Send>, name: String) -> NonBlankLines {
        NonBlankLines { input, line: 0, buf: Vec::new(), name }
    }

    /// Reads the next non-blank line (see [`NonBlankLines::text`]); returns its number.
    pub(super) fn next(&mut self) -> Result<Option<u64>, InputError> {
        loop {
            self.buf.clear();
            let n = read_line(&mut *self.input, &mut self.buf)
                .map_err(|source| line_error(&self.name, self.line + 1, source))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buf.trim_ascii().is_empty() {
                return Ok(Some(self.line));
            }
        }
    }

    /// The line last read, as read (with its line ending).
    pub(super) fn text(&self) -> &[u8] {
        &self.buf
    }
}

pub(super) struct LinesReader {
    lines: NonBlankLines,
    seen_content: bool,
}

impl LinesReader {
    pub(super) fn new(input: Box<dyn BufRead + Send>, name: String) -> LinesReader {
        LinesReader { lines: NonBlankLines::new(input, name), seen_content: false }
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        loop {
            let Some(line) = self.lines.next()? else {
                return Ok(None);
            };
            let text = self.lines.text().trim_ascii();
            let first = !self.seen_content;
            self.seen_content = true;
            let mut raw = ByteRecord::with_capacity(text.len(), 1);
            raw.push_field(text);
            let fields = match std::str::from_utf8(text) {
                Ok(id) if first && normalize(id) == "leadid" => continue,
                Ok(id) => Ok(Fields { lead_id: Some(id.to_owned()), ..Fields::default() }),
                Err(_) => Err(format!("column \"{COLUMN}\" is not valid UTF-8; save the file as UTF-8")),
            };
            return Ok(Some(Row { ordinal: 0, line, raw: Raw::Csv(raw), fields }));
        }
    }
}

/// The longest line read (an NDJSON object or a lead id). Past it, the
/// read stops rather than hold an unbounded line in memory.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// `read_until(b'\n')` with a cap: an `InvalidData` error past
/// [`MAX_LINE_BYTES`].
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(total);
        }
        let (found, used) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (true, i + 1),
            None => (false, available.len()),
        };
        buf.extend_from_slice(&available[..used]);
        input.consume(used);
        total += used;
        if found {
            return Ok(total);
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line is longer than {} MiB", MAX_LINE_BYTES >> 20),
            ));
        }
    }
}

/// The error for a line that could not be read: too long, or I/O.
fn line_error(name: &str, line: u64, source: io::Error) -> InputError {
    if source.kind() == io::ErrorKind::InvalidData {
        InputError::Broken { path: name.to_owned(), line, detail: source.to_string() }
    } else {
        InputError::Read { path: name.to_owned(), line, source }
    }
}
