//! Plain lead-id lists for `upload --existing`: one id a line.
//!
//! Blank lines are skipped and ids are trimmed; a first line that only
//! says `leadId` (or `lead_id`, ...) is a header and skipped. The single
//! column of the rows as read is `leadId`, so the output files look like a
//! one-column CSV that can be fed back as it is.

use std::io::BufRead;

use csv::ByteRecord;

use super::headers::normalize;
use super::{Fields, InputError, Raw, Row};

/// The one column of a lines file.
pub(super) const COLUMN: &str = "leadId";

pub(super) struct LinesReader {
    input: Box<dyn BufRead + Send>,
    /// The number of lines read so far.
    line: u64,
    seen_content: bool,
    buf: Vec<u8>,
    name: String,
}

impl LinesReader {
    pub(super) fn new(input: Box<dyn BufRead + Send>, name: String) -> LinesReader {
        LinesReader { input, line: 0, seen_content: false, buf: Vec::new(), name }
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        loop {
            self.buf.clear();
            let n = self.input.read_until(b'\n', &mut self.buf).map_err(|source| InputError::Read {
                path: self.name.clone(),
                line: self.line + 1,
                source,
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let first = !self.seen_content;
            self.seen_content = true;
            let mut raw = ByteRecord::with_capacity(text.len(), 1);
            raw.push_field(text);
            let fields = match std::str::from_utf8(text) {
                Ok(id) if first && normalize(id) == "leadid" => continue,
                Ok(id) => Ok(Fields { lead_id: Some(id.to_owned()), ..Fields::default() }),
                Err(_) => Err(format!("column \"{COLUMN}\" is not valid UTF-8; save the file as UTF-8")),
            };
            return Ok(Some(Row { line: self.line, raw: Raw::Csv(raw), fields }));
        }
    }
}
