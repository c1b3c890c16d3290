//! An output CSV as written and as read back: its dialect (the input's
//! delimiter, and a UTF-8 byte order mark unless the input was plain
//! UTF-8), found again from its header line, and leadctl's own columns
//! found in a record by their place from the end (a malformed row is
//! written as read, so its width is not the header's).

use std::io;

use serde::Serialize;

use crate::vocab;

/// How CSV outputs are written: the input's delimiter, and a UTF-8 byte
/// order mark when the input was not plain UTF-8 (decoded from another
/// encoding, or marked itself, or a spreadsheet). UTF-8 rather than the
/// input's own encoding: every value survives (the server's messages, a
/// name no legacy code page has), Excel reads a marked UTF-8 file right in
/// every locale, and leadctl reads the mark back first, so a retryable file
/// fed back sends the same leads. A plain UTF-8 input keeps plain UTF-8
/// outputs, as scripts read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Dialect {
    pub delimiter: u8,
    pub bom: bool,
}

impl Default for Dialect {
    fn default() -> Dialect {
        Dialect { delimiter: b',', bom: false }
    }
}

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The delimiters leadctl reads (and so writes).
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

impl Dialect {
    /// The dialect of an output CSV, from its first line: the byte before
    /// leadctl's first column (its columns end every header, and input
    /// columns named `leadctl_*` are never written), and the mark.
    pub fn of_header(first_line: &[u8]) -> Dialect {
        let bom = first_line.starts_with(BOM);
        let delimiter = memchr::memmem::find_iter(first_line, vocab::PREFIX.as_bytes())
            .filter_map(|i| i.checked_sub(1).map(|j| first_line[j]))
            .find(|b| DELIMITERS.contains(b))
            .unwrap_or(b',');
        Dialect { delimiter, bom }
    }
}

/// A CSV reader over an output file leadctl wrote, in the file's own
/// dialect (see [`Dialect::of_header`]); flexible, as a malformed row is
/// written as read. The byte order mark is the CSV parser's to skip.
pub fn output_csv_reader<R: io::Read>(mut file: R) -> io::Result<csv::Reader<io::Chain<io::Cursor<Vec<u8>>, R>>> {
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the end of the header line: no more is consumed.
    while first.len() < (1 << 20) && file.read(&mut byte)? == 1 {
        first.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    let dialect = Dialect::of_header(&first);
    Ok(csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .flexible(true)
        .from_reader(io::Read::chain(io::Cursor::new(first), file)))
}

/// The value of leadctl's column `name` in a record of an output CSV whose
/// header is `header`. leadctl's columns end the header, and a malformed
/// row is written as read (its width is not the header's), so they are
/// found by their place from the end of the record.
pub fn leadctl_field<'r>(header: &csv::ByteRecord, record: &'r csv::ByteRecord, name: &str) -> Option<&'r [u8]> {
    let from_end = header.len() - header.iter().rposition(|f| f == name.as_bytes())?;
    record.get(record.len().checked_sub(from_end)?)
}

/// Each value of a record of an output CSV, by the header's columns: the
/// input's columns by their place from the start (a short malformed row
/// has fewer: the ones it lacks are `None`; a long one's values past the
/// header are no column's), leadctl's by their place from the end.
pub fn record_fields<'r>(header: &csv::ByteRecord, record: &'r csv::ByteRecord) -> Vec<Option<&'r [u8]>> {
    let own = |h: &[u8]| std::str::from_utf8(h).is_ok_and(vocab::is_leadctl_column);
    let extras = header.iter().rev().take_while(|h| own(h)).count();
    let inputs = header.len() - extras;
    let row_own = record.len().saturating_sub(extras);
    (0..header.len())
        .map(|i| match i < inputs {
            true => record.get(i).filter(|_| i < row_own),
            false => record.get((record.len() + i).checked_sub(header.len())?),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_s_dialect_is_read_from_its_header() {
        let of = |line: &[u8]| Dialect::of_header(line);
        assert_eq!(of(b"phone,leadctl_line,leadctl_reason\n"), Dialect { delimiter: b',', bom: false });
        assert_eq!(of(b"\xEF\xBB\xBFName;Stra\xC3\x9Fe;leadctl_line\r\n"), Dialect { delimiter: b';', bom: true });
        assert_eq!(of(b"a\tb\tleadctl_line"), Dialect { delimiter: b'\t', bom: false });
        assert_eq!(of(b"my_leadctl_x|leadctl_line"), Dialect { delimiter: b'|', bom: false });
        assert_eq!(of(b"phone;name"), Dialect::default(), "not leadctl's: the default");
    }
}
