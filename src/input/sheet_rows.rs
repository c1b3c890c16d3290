//! A sheet's cells, in row order, gathered into rows: the first non-empty
//! row is the header (a `Table`, which must name a phone or lead id
//! column), each later non-empty row a record. Runs on the sheet thread and
//! sends what it makes (see `sheet`).
//!
//! A row's cells are kept as text in one buffer, so a row costs no
//! allocation per cell. A row larger than [`MAX_ROW_BYTES`] stops being
//! kept and becomes one malformed row. A cell's column is the file's word:
//! past [`MAX_COLUMNS`] (XFD) it is never allocated by; in the header it
//! makes the file no lead file, in a record the row malformed. Records are
//! batched by rows and by bytes (a field each counts, as a sheet's empty
//! cells are fields of its records). The phone cell is marked when it
//! holds a number: the checks reject it when it has lost digits
//! (`spreadsheet_mangled_phone`), and the count of such cells goes to the
//! facts, with one warning.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use calamine::{Data, Range};
use csv::ByteRecord;

use super::cells::Cell;
use super::error::quoted;
use super::facts::InputFacts;
use super::headers::MapSpec;
use super::sheet::Msg;
use super::table::{self, Table};
use super::{InputError, MAX_COLUMNS, MAX_ROW_BYTES, PhoneCell, Row};

/// Rows sent together, at most; and at most this many bytes of them.
const BATCH: usize = 256;
const BATCH_BYTES: usize = 1 << 20;

/// The header's place in the sheet.
struct Header {
    table: Table,
    /// The columns of the header's first and last non-empty cells.
    first: u32,
    last: u32,
    /// The sheet column feeding the phone.
    phone: Option<u32>,
    phone_name: String,
}

pub(super) struct Rows {
    name: String,
    map: MapSpec,
    existing: bool,
    facts: Arc<InputFacts>,
    tx: SyncSender<Msg>,
    /// The workbook's sheets and the one read (for messages).
    sheets: Vec<String>,
    sheet: String,
    header: Option<Header>,
    /// The sheet row being gathered (0-based).
    row: Option<u32>,
    /// Its non-empty cells: column, and where its text ends in `text`.
    cells: Vec<(u32, usize)>,
    text: Vec<u8>,
    /// Bytes of the row so far, and whether that is past the cap.
    bytes: usize,
    over: bool,
    /// The first column of the row past the last a sheet can have, if any.
    past_last: Option<u32>,
    numeric_phone: bool,
    batch: Vec<Row>,
    batch_bytes: usize,
}

impl Rows {
    pub(super) fn new(name: String, map: MapSpec, existing: bool, facts: Arc<InputFacts>, tx: SyncSender<Msg>) -> Rows {
        Rows {
            name,
            map,
            existing,
            facts,
            tx,
            sheets: Vec::new(),
            sheet: String::new(),
            header: None,
            row: None,
            cells: Vec::new(),
            text: Vec::new(),
            bytes: 0,
            over: false,
            past_last: None,
            numeric_phone: false,
            batch: Vec::with_capacity(BATCH),
            batch_bytes: 0,
        }
    }

    /// The workbook's sheets, and the one being read.
    pub(super) fn sheets(&mut self, all: Vec<String>, chosen: String) {
        self.sheets = all;
        self.sheet = chosen;
    }

    /// A whole sheet loaded at once (xls, ods).
    pub(super) fn range(mut self, range: &Range<Data>) -> Result<(), InputError> {
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        for (i, cells) in range.rows().enumerate() {
            let row = first_row.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            for (j, data) in cells.iter().enumerate() {
                let col = first_col.saturating_add(u32::try_from(j).unwrap_or(u32::MAX));
                if !self.cell(row, col, Cell::from(data))? {
                    return Ok(());
                }
            }
        }
        self.finish()
    }

    /// One cell, in row order. False when the rows are no longer wanted.
    pub(super) fn cell(&mut self, row: u32, col: u32, cell: Cell<'_>) -> Result<bool, InputError> {
        if self.row != Some(row) {
            if !self.end_row()? {
                return Ok(false);
            }
            self.row = Some(row);
        }
        if matches!(cell, Cell::Empty) || self.over {
            return Ok(true);
        }
        let text = cell.text();
        if text.is_empty() {
            return Ok(true);
        }
        if col as usize >= MAX_COLUMNS {
            // The file's word for a place no sheet has: never a size to
            // allocate by. In the header, the file is no lead file; in a
            // record, the row is malformed and the value not kept.
            if self.header.is_none() {
                let what = format!("its header row has a cell in {}", column_name(col));
                return Err(super::error::too_many_columns(&self.name, self.existing, &what));
            }
            self.past_last.get_or_insert(col);
            return Ok(true);
        }
        self.bytes += text.len();
        if self.bytes > MAX_ROW_BYTES {
            self.over = true;
            self.cells.clear();
            self.text = Vec::new();
            return Ok(true);
        }
        if self.header.as_ref().is_some_and(|h| h.phone == Some(col)) && cell.is_number() {
            self.numeric_phone = true;
        }
        self.text.extend_from_slice(text.as_bytes());
        self.cells.push((col, self.text.len()));
        Ok(true)
    }

    /// The end of the sheet.
    pub(super) fn finish(mut self) -> Result<(), InputError> {
        if !self.end_row()? {
            return Ok(());
        }
        if self.header.is_none() {
            return Err(InputError::NoHeader { path: self.name.clone() });
        }
        if !self.batch.is_empty() {
            let _ = self.tx.send(Msg::Rows(std::mem::take(&mut self.batch)));
        }
        Ok(())
    }

    /// Ends the row being gathered: the header, a record, or nothing for a
    /// row without values. False when the rows are no longer wanted.
    fn end_row(&mut self) -> Result<bool, InputError> {
        let Some(row) = self.row.take() else {
            return Ok(true);
        };
        let line = u64::from(row) + 1;
        let made = if self.cells.is_empty() && !self.over {
            None
        } else if self.header.is_none() {
            self.read_header()?;
            None
        } else if self.over {
            Some(table::too_large(line, self.bytes as u64, ""))
        } else if let Some(col) = self.past_last {
            Some(past_last(line, self.bytes, col))
        } else {
            Some(self.record(line))
        };
        self.cells.clear();
        self.text.clear();
        self.bytes = 0;
        self.over = false;
        self.past_last = None;
        self.numeric_phone = false;
        match made {
            Some(row) if self.header.is_some() => {
                self.batch_bytes += row.bytes as usize;
                self.batch.push(row);
                if self.batch.len() >= BATCH || self.batch_bytes >= BATCH_BYTES {
                    self.batch_bytes = 0;
                    if self.tx.send(Msg::Rows(std::mem::take(&mut self.batch))).is_err() {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(true),
        }
    }

    /// The first non-empty row: the column names, planned.
    fn read_header(&mut self) -> Result<(), InputError> {
        if self.over {
            return Err(InputError::NotFormat {
                path: self.name.clone(),
                expected: "a sheet of leads",
                detail: format!("its first row is larger than {} MiB", MAX_ROW_BYTES >> 20),
            });
        }
        let first = self.cells.iter().map(|c| c.0).min().unwrap_or(0);
        let last = self.cells.iter().map(|c| c.0).max().unwrap_or(0);
        let mut names = vec![String::new(); (last - first) as usize + 1];
        for (col, value) in self.values() {
            names[(col - first) as usize] = String::from_utf8_lossy(value).into_owned();
        }
        let others: Vec<&String> = self.sheets.iter().filter(|s| **s != self.sheet).collect();
        let hint = |_: &[String]| {
            (!others.is_empty()).then(|| {
                let list: Vec<String> = others.iter().map(|s| quoted(s)).collect();
                format!(
                    "; if the leads are on another sheet, pass --sheet NAME (its other sheets: {})",
                    list.join(", ")
                )
            })
        };
        let table = Table::new(names.clone(), &self.map, self.existing, &self.name, &self.facts, hint)?;
        let phone = table.phone_column();
        let phone_name = phone.map(|i| names[i].clone()).unwrap_or_default();
        let phone = phone.map(|i| first + i as u32);
        let columns = table.columns();
        self.header = Some(Header { table, first, last, phone, phone_name });
        // The receiver is waiting for this; if it is gone, the rows that
        // follow will notice.
        let _ = self.tx.send(Msg::Header { columns, sheet: self.sheet.clone() });
        Ok(())
    }

    /// The cells gathered, with their text.
    fn values(&self) -> impl Iterator<Item = (u32, &[u8])> {
        let mut start = 0;
        self.cells.iter().map(move |&(col, end)| {
            let value = &self.text[start..end];
            start = end;
            (col, value)
        })
    }

    /// A record of the header's width, from the cells gathered; values
    /// outside the header's columns come after, so the row is malformed.
    fn record(&self, line: u64) -> Row {
        let Some(h) = &self.header else {
            return table::too_large(line, 0, "");
        };
        let width = (h.last - h.first) as usize + 1;
        let mut record = ByteRecord::with_capacity(self.text.len(), width);
        let mut inside: Vec<(u32, &[u8])> = self.values().filter(|(c, _)| (h.first..=h.last).contains(c)).collect();
        inside.sort_by_key(|c| c.0);
        let mut next = inside.iter().peekable();
        for col in h.first..=h.last {
            match next.next_if(|(c, _)| *c == col) {
                Some((_, value)) => record.push_field(value),
                None => record.push_field(b""),
            }
        }
        for (_, value) in self.values().filter(|(c, _)| !(h.first..=h.last).contains(c)) {
            record.push_field(value);
        }
        // A record holds every column of the header, empty or not: its size
        // is its values and a field each (as in a CSV line).
        let bytes = u32::try_from(self.bytes + width).unwrap_or(u32::MAX);
        let mut row = h.table.row(line, bytes, record);
        if self.numeric_phone {
            if let Ok(fields) = &mut row.fields {
                fields.phone_cell = PhoneCell::Number;
            }
            if self.facts.count_numeric_phone() {
                tracing::warn!(
                    "{}: the phone column {} holds numbers, not text (first at row {line}); a number loses \
                     a leading 0 or +, and any digit past the 15th. Format the column as Text in the \
                     spreadsheet and save it again",
                    self.name,
                    quoted(&h.phone_name)
                );
            }
        }
        row
    }
}

/// A row with a cell past the last column a sheet can have: malformed, and
/// none of its values kept.
fn past_last(line: u64, bytes: usize, col: u32) -> Row {
    let reason = format!(
        "the row has a cell in {}, past the last column a spreadsheet can have (XFD, the {}th)",
        column_name(col),
        indicatif::HumanCount(MAX_COLUMNS as u64)
    );
    let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    Row { ordinal: 0, line, bytes, raw: super::Raw::Csv(ByteRecord::new()), fields: Err(reason), provenance: None }
}

/// A 0-based column as a spreadsheet names it, and its number from 1:
/// `column AAAAA (475,255)`.
fn column_name(col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(col) + 1;
    while n > 0 {
        let d = ((n - 1) % 26) as u8;
        letters.push(b'A' + d);
        n = (n - 1) / 26;
    }
    letters.reverse();
    let name = String::from_utf8_lossy(&letters);
    format!("column {name} ({})", indicatif::HumanCount(u64::from(col) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_their_spreadsheet_names() {
        assert_eq!(column_name(0), "column A (1)");
        assert_eq!(column_name(25), "column Z (26)");
        assert_eq!(column_name(26), "column AA (27)");
        assert_eq!(column_name(16_383), "column XFD (16,384)");
        assert_eq!(column_name(475_254), "column AAAAA (475,255)");
        assert_eq!(column_name(321_272_405), "column ZZZZZZ (321,272,406)");
    }
}
