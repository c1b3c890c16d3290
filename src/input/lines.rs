//! Plain lead-id lists for `upload --existing`: one id a line.
//!
//! Blank lines are skipped and ids are trimmed; a first line that only
//! says `leadId` (or `lead_id`, ...) is a header and skipped. The single
//! column of the rows as read is `leadId`, so the output files look like a
//! one-column CSV that can be fed back as it is.

use std::io::{self, BufRead};
use std::sync::Arc;

use csv::ByteRecord;

use super::facts::InputFacts;
use super::headers::normalize;
use super::table::{bad_bytes, too_large};
use super::{Fields, InputError, MAX_ROW_BYTES, Raw, Row};

/// The one column of a lines file.
pub(super) const COLUMN: &str = "leadId";

/// The non-blank lines of a file, with their numbers: what both line
/// formats (NDJSON and lead-id lists) read.
pub(super) struct NonBlankLines {
    input: Box<dyn BufRead + Send>,
    /// The number of lines read so far.
    line: u64,
    buf: Vec<u8>,
    /// The size of the line last read, when it was larger than
    /// [`MAX_ROW_BYTES`] (only its start is kept).
    too_large: Option<u64>,
    pub(super) name: String,
}

/// How much of a line that is too large is kept, to show what it was.
const KEPT_OF_TOO_LARGE: usize = 800;

impl NonBlankLines {
    pub(super) fn new(input: Box<dyn BufRead + Send>, name: String) -> NonBlankLines {
        NonBlankLines { input, line: 0, buf: Vec::new(), too_large: None, name }
    }

    /// Reads the next non-blank line (see [`NonBlankLines::text`]); returns its number.
    pub(super) fn next(&mut self) -> Result<Option<u64>, InputError> {
        loop {
            self.buf.clear();
            let (n, too_large) = read_line(&mut *self.input, &mut self.buf).map_err(|source| InputError::Read {
                path: self.name.clone(),
                line: self.line + 1,
                source,
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.too_large = too_large.then_some(n);
            if too_large || !self.buf.trim_ascii().is_empty() {
                return Ok(Some(self.line));
            }
        }
    }

    /// The line last read, as read (with its line ending); only its first
    /// bytes when it was too large.
    pub(super) fn text(&self) -> &[u8] {
        &self.buf
    }

    /// The size of the line last read, when it is larger than [`MAX_ROW_BYTES`].
    pub(super) fn too_large(&self) -> Option<u64> {
        self.too_large
    }
}

pub(super) struct LinesReader {
    lines: NonBlankLines,
    seen_content: bool,
    /// Whether the text is decoded from another encoding (U+FFFD marks bad bytes).
    facts: Arc<InputFacts>,
}

impl LinesReader {
    pub(super) fn new(input: Box<dyn BufRead + Send>, name: String, facts: &Arc<InputFacts>) -> LinesReader {
        LinesReader { lines: NonBlankLines::new(input, name), seen_content: false, facts: Arc::clone(facts) }
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        loop {
            let Some(line) = self.lines.next()? else {
                return Ok(None);
            };
            let first = !self.seen_content;
            self.seen_content = true;
            if let Some(bytes) = self.lines.too_large() {
                return Ok(Some(too_large(line, bytes, "")));
            }
            let text = self.lines.text().trim_ascii();
            let mut raw = ByteRecord::with_capacity(text.len(), 1);
            raw.push_field(text);
            let decoded = self.facts.decodes();
            let bad = decoded && memchr::memmem::find(text, super::decode::REPLACEMENT).is_some();
            let fields = match std::str::from_utf8(text) {
                Ok(id) if first && normalize(id) == "leadid" => continue,
                Ok(id) if !bad => Ok(Fields { lead_id: Some(id.to_owned()), ..Fields::default() }),
                _ => Err(format!("column \"{COLUMN}\" has {}", bad_bytes(decoded))),
            };
            let bytes = u32::try_from(text.len()).unwrap_or(u32::MAX);
            return Ok(Some(Row { ordinal: 0, line, bytes, raw: Raw::Csv(raw), fields, provenance: None }));
        }
    }
}

/// `read_until(b'\n')` with a cap: past [`MAX_ROW_BYTES`], the rest of the
/// line is read but not kept (the first bytes stay in `buf`). Returns the
/// line's size and whether it was too large.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<(u64, bool)> {
    let mut total = 0u64;
    let mut too_large = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total, too_large));
        }
        let (found, used) = match memchr::memchr(b'\n', available) {
            Some(i) => (true, i + 1),
            None => (false, available.len()),
        };
        if !too_large {
            buf.extend_from_slice(&available[..used]);
        }
        input.consume(used);
        total += used as u64;
        if !too_large && buf.len() > MAX_ROW_BYTES {
            too_large = true;
            buf.truncate(KEPT_OF_TOO_LARGE);
            buf.shrink_to(64 * 1024);
        }
        if found {
            return Ok((total, too_large));
        }
    }
}
