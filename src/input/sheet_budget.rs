//! What an ods workbook will cost in memory, counted before calamine reads
//! it (`xls_budget` does the same for xls). calamine has no streaming reader for ods: `Ods::new` builds every
//! sheet whole, cell by cell, and a cell's or a row's repeat count
//! (`table:number-columns-repeated`, `table:number-rows-repeated`) is a
//! claim of the file that it multiplies by: a 1.5 KB file whose one row of
//! 100 cells repeats 990,000 times took 3.7 GB. So `content.xml` is read
//! once as a stream first, doing calamine's sums without its allocations,
//! and a workbook whose sheets would take more than [`MAX_SHEET_BYTES`] is
//! refused with the reason (not a lead file: save it as xlsx or CSV, which
//! are streamed).
//!
//! Empty rows and cells cost nothing where calamine does not build them:
//! past a row's last value, and after a sheet's last row with values (where
//! LibreOffice writes `number-rows-repeated="1048000"` in every sheet).

use std::io::{BufReader, Read, Seek};

use calamine::Data;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::error::quoted;
use super::{InputError, MAX_COLUMNS};

/// The most memory a workbook read whole may take, as counted here. A lead
/// list of 100,000 rows of 10 columns takes about 120 MiB.
pub(super) const MAX_SHEET_BYTES: u64 = 256 << 20;

/// The most rows calamine keeps of one sheet (it caps repeats there).
const MAX_ROWS: u64 = 1_048_576;

/// A cell as calamine holds it, and its formula beside it.
const CELL: u64 = (std::mem::size_of::<Data>() + std::mem::size_of::<String>()) as u64;
/// A cell of the final range (values only).
const RANGE_CELL: u64 = std::mem::size_of::<Data>() as u64;

/// Checks that the ods workbook `file` fits [`MAX_SHEET_BYTES`]; leaves the
/// file at its start. A file that is not a readable ods passes: calamine
/// then says what is wrong with it.
pub(super) fn check_ods<R: Read + Seek>(file: &mut R, name: &str, existing: bool) -> Result<(), InputError> {
    let verdict = {
        let Ok(mut zip) = zip::ZipArchive::new(&mut *file) else { return rewind(file, name) };
        let Ok(content) = zip.by_name("content.xml") else { return rewind(file, name) };
        scan(BufReader::new(content))
    };
    rewind(file, name)?;
    match verdict {
        Ok(()) => Ok(()),
        Err(over) => Err(over.error(name, existing)),
    }
}

/// Checks that the xls workbook `file` fits [`MAX_SHEET_BYTES`]
/// (`xls_budget`); leaves the file at its start.
pub(super) fn check_xls<R: Read + Seek>(file: &mut R, name: &str, existing: bool) -> Result<(), InputError> {
    match super::xls_budget::check(file) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(over)) => Err(over.error(name, existing)),
        Err(source) => Err(InputError::Open { path: name.to_owned(), source }),
    }
}

fn rewind<R: Seek>(file: &mut R, name: &str) -> Result<(), InputError> {
    file.rewind().map(drop).map_err(|source| InputError::Open { path: name.to_owned(), source })
}

/// A workbook over the budget: where it was found to be.
#[derive(Debug)]
pub(super) struct Over {
    pub sheet: String,
    pub cells: u64,
    /// `an .ods`, `an .xls`.
    pub format: &'static str,
}

impl Over {
    pub(super) fn error(&self, name: &str, existing: bool) -> InputError {
        let why = format!(
            "its sheet {} would take more than {} MiB in memory ({} cells counted: its rows, cells or \
             dimensions repeat or reach far), and {} sheet is read whole; save it as .xlsx or .csv, which \
             are read as a stream, or split it",
            quoted(&self.sheet),
            MAX_SHEET_BYTES >> 20,
            indicatif::HumanCount(self.cells),
            self.format
        );
        super::error::not_lead_file(name, existing, &why)
    }
}

/// The sums of one sheet, as calamine's `read_table` and `get_range` go.
#[derive(Default)]
struct Sheet {
    name: String,
    /// Rows so far (repeats included, capped as calamine caps them).
    rows: u64,
    /// Cells built while reading, before the range (with their text).
    raw_cells: u64,
    raw_text: u64,
    /// Rows of the range: from the first row with values to the last,
    /// repeats included; rows since the last row with values.
    span: u64,
    empty_since: u64,
    seen_values: bool,
    /// Text of the range's cells, copies included.
    span_text: u64,
    /// The range's first and last columns.
    first_col: u64,
    last_col: u64,
}

impl Sheet {
    fn bytes(&self) -> u64 {
        let width = if self.seen_values { self.last_col + 1 - self.first_col } else { 0 };
        let range = self.span.saturating_mul(width).saturating_mul(RANGE_CELL);
        self.raw_cells
            .saturating_mul(CELL)
            .saturating_add(self.raw_text)
            .saturating_add(range)
            .saturating_add(self.span_text)
    }

    fn cells(&self) -> u64 {
        let width = if self.seen_values { self.last_col + 1 - self.first_col } else { 0 };
        self.raw_cells.saturating_add(self.span.saturating_mul(width))
    }

    /// A row ended: `repeats` copies of it, its cells and values as read.
    fn row(&mut self, repeats: u64, row: &Row) {
        let repeats = repeats.min(MAX_ROWS - self.rows);
        self.rows += repeats;
        self.raw_cells = self.raw_cells.saturating_add(row.pushed);
        self.raw_text = self.raw_text.saturating_add(row.text);
        let Some(first) = row.first else {
            if self.seen_values {
                self.empty_since = self.empty_since.saturating_add(repeats);
            }
            return;
        };
        if self.seen_values {
            self.first_col = self.first_col.min(first);
            self.last_col = self.last_col.max(row.last);
        } else {
            (self.first_col, self.last_col, self.seen_values) = (first, row.last, true);
        }
        self.span = self.span.saturating_add(std::mem::take(&mut self.empty_since)).saturating_add(repeats);
        self.span_text = self.span_text.saturating_add(row.text.saturating_mul(repeats));
    }
}

/// One row being read: cells built (empty ones only before a value), the
/// columns of its first and last values, the text of its values.
#[derive(Default)]
struct Row {
    pushed: u64,
    pending_empty: u64,
    first: Option<u64>,
    last: u64,
    text: u64,
}

impl Row {
    /// A cell repeated `repeats` times across, with a value or not.
    fn cell(&mut self, repeats: u64, value: Option<u64>) {
        let cap = MAX_COLUMNS as u64;
        let empty = std::mem::take(&mut self.pending_empty).min(cap - self.pushed);
        let repeats = repeats.min(cap - self.pushed - empty);
        match value {
            None => self.pending_empty = repeats,
            Some(text) => {
                self.pushed += empty;
                self.first.get_or_insert(self.pushed);
                self.pushed += repeats;
                self.last = self.pushed.saturating_sub(1).max(self.first.unwrap_or(0));
                self.text = self.text.saturating_add(text.saturating_mul(repeats));
            }
        }
    }
}

/// A cell being read: its repeats, whether it has a value, its text.
struct CellRead {
    repeats: u64,
    value: bool,
    /// The text is the element's content (a string cell without
    /// `office:string-value`).
    from_content: bool,
    text: u64,
}

/// Reads `content.xml`, stopping at the first sheet that takes the workbook
/// past the budget. A document that does not parse ends the count where it
/// breaks (calamine will refuse it).
fn scan(content: impl std::io::BufRead) -> Result<(), Over> {
    let mut reader = Reader::from_reader(content);
    let mut buf = Vec::new();
    let (mut before, mut sheet, mut row, mut cell) = (0u64, None::<Sheet>, None::<(u64, Row)>, None::<CellRead>);
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => return Ok(()),
            Ok(e) => e,
        };
        let (start, name) = match &event {
            Event::Start(e) => (Some(e), e.name().as_ref().to_owned()),
            Event::Empty(e) => (Some(e), e.name().as_ref().to_owned()),
            Event::End(e) => (None, e.name().as_ref().to_owned()),
            Event::Text(t) => {
                if let Some(c) = cell.as_mut().filter(|c| c.from_content) {
                    c.text = c.text.saturating_add(t.len() as u64);
                }
                continue;
            }
            Event::GeneralRef(_) => {
                if let Some(c) = cell.as_mut().filter(|c| c.from_content) {
                    c.text = c.text.saturating_add(4);
                }
                continue;
            }
            _ => continue,
        };
        let closed = matches!(event, Event::Empty(_));
        match (start, name.as_str()) {
            (Some(e), "table:table") => {
                let name = attr(e, "table:name").unwrap_or_default();
                sheet = Some(Sheet { name, ..Sheet::default() });
            }
            (None, "table:table") => {
                if let Some(s) = sheet.take() {
                    before = before.saturating_add(s.bytes());
                }
            }
            (Some(e), "table:table-row") => row = Some((count(e, "table:number-rows-repeated"), Row::default())),
            (Some(e), "table:table-cell" | "table:covered-table-cell") => {
                let c = start_cell(e);
                if closed {
                    end_cell(&mut row, c);
                } else {
                    cell = Some(c);
                }
            }
            (Some(e), "text:s") => {
                if let Some(c) = cell.as_mut().filter(|c| c.from_content) {
                    c.text = c.text.saturating_add(count(e, "text:c"));
                }
            }
            (Some(_), "text:p" | "text:tab" | "text:line-break") => {
                if let Some(c) = cell.as_mut().filter(|c| c.from_content) {
                    c.text = c.text.saturating_add(1);
                }
            }
            (None, "table:table-cell" | "table:covered-table-cell") => {
                if let Some(c) = cell.take() {
                    end_cell(&mut row, c);
                }
            }
            (None, "table:table-row") => {
                if let (Some((repeats, r)), Some(s)) = (row.take(), sheet.as_mut()) {
                    s.row(repeats, &r);
                    let bytes = before.saturating_add(s.bytes());
                    if bytes > MAX_SHEET_BYTES {
                        return Err(Over { sheet: s.name.clone(), cells: s.cells(), format: "an .ods" });
                    }
                }
            }
            _ => {}
        }
        if closed && name == "table:table-row" {
            // `<table:table-row/>`: a row without cells ends where it starts.
            if let (Some((repeats, r)), Some(s)) = (row.take(), sheet.as_mut()) {
                s.row(repeats, &r);
            }
        }
    }
}

fn end_cell(row: &mut Option<(u64, Row)>, c: CellRead) {
    if let Some((_, r)) = row.as_mut() {
        r.cell(c.repeats, c.value.then_some(c.text));
    }
}

/// A cell's start: what calamine takes for a value (a typed value, a
/// string, a formula) and the text it copies for it.
fn start_cell(e: &BytesStart<'_>) -> CellRead {
    let mut c = CellRead { repeats: 1, value: false, from_content: false, text: 0 };
    let (mut string, mut set) = (false, false);
    for a in e.attributes().flatten() {
        match a.key.as_ref() {
            "table:number-columns-repeated" => c.repeats = number(&a.value),
            "office:string-value" | "office:date-value" | "office:time-value" => {
                (set, c.value) = (true, true);
                c.text = a.value.len() as u64;
            }
            "office:value" | "office:boolean-value" => (set, c.value) = (true, true),
            "office:value-type" => string = a.value == "string",
            "table:formula" if !a.value.is_empty() => c.value = true,
            _ => {}
        }
    }
    if string && !set {
        (c.value, c.from_content) = (true, true);
    }
    c
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.as_ref() == key).map(|a| a.value.into_owned())
}

/// A repeat count (1 when absent or not a number).
fn count(e: &BytesStart<'_>, key: &str) -> u64 {
    attr(e, key).map_or(1, |v| number(&v))
}

fn number(v: &str) -> u64 {
    v.trim().parse().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(rows: &str) -> String {
        format!(
            "<office:document-content><office:body><office:spreadsheet><table:table table:name=\"S\">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"
        )
    }

    fn row(cells: &str, times: u64) -> String {
        format!("<table:table-row table:number-rows-repeated=\"{times}\">{cells}</table:table-row>")
    }

    fn cell(text: &str, times: u64) -> String {
        format!(
            "<table:table-cell table:number-columns-repeated=\"{times}\" office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
        )
    }

    const EMPTY: &str = "<table:table-cell table:number-columns-repeated=\"1024\"/>";

    #[test]
    fn a_normal_sheet_with_libreoffices_trailing_rows_fits() {
        let mut rows = row(&format!("{}{}", cell("phone", 1), EMPTY), 1);
        for _ in 0..1000 {
            rows.push_str(&row(&format!("{}{}", cell("+14155550123", 1), EMPTY), 1));
        }
        rows.push_str(&row(EMPTY, 1_048_000));
        assert!(scan(content(&rows).as_bytes()).is_ok());
    }

    #[test]
    fn repeated_rows_and_cells_are_counted_as_calamine_builds_them() {
        let rows = format!("{}{}", row(&cell("phone", 1), 1), row(&cell("x", 100), 990_000));
        let over = scan(content(&rows).as_bytes()).expect_err("99 million cells");
        assert_eq!(over.sheet, "S");
        assert!(over.cells > 1_000_000, "{over:?}");
        // Empty rows between two rows with values are built too.
        let gap = format!("{}{}{}", row(&cell("a", 16_384), 1), row(EMPTY, 1_000_000), row(&cell("b", 1), 1));
        assert!(scan(content(&gap).as_bytes()).is_err());
        // A space repeated four billion times is one cell's text.
        let spaces = "<table:table-row><table:table-cell office:value-type=\"string\"><text:p><text:s text:c=\"4000000000\"/></text:p></table:table-cell></table:table-row>";
        assert!(scan(content(spaces).as_bytes()).is_err());
    }

    #[test]
    fn repeats_are_capped_as_calamine_caps_them() {
        let mut r = Row::default();
        r.cell(u64::MAX, Some(1));
        assert_eq!((r.pushed, r.first, r.last), (MAX_COLUMNS as u64, Some(0), MAX_COLUMNS as u64 - 1));
        let mut s = Sheet::default();
        s.row(u64::MAX, &r);
        assert_eq!(s.rows, MAX_ROWS);
    }
}
