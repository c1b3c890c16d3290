//! Spreadsheets (`.xlsx`, `.xlsm`, `.xls`, `.ods`) through calamine: the
//! first visible sheet, or `--sheet NAME|INDEX`. The header is the first
//! non-empty row; each later non-empty row is a record whose line is the
//! sheet's row number (what Excel shows), and whose values are the cells as
//! a person reads them (`cells`). Records are rows like a CSV's (`Table`),
//! so a sheet's outputs are CSV files with the sheet's header.
//!
//! xlsx is streamed cell by cell (`worksheet_cells_reader`): memory does not
//! grow with the sheet, beyond the workbook's shared strings. calamine has
//! no streaming reader for xls and ods: their sheets are loaded whole, so
//! what calamine would build is summed first (`sheet_budget` for an ods
//! workbook's repeat counts, `xls_budget` for an xls one's dimensions and
//! cell positions) and a workbook over the budget is refused before
//! calamine builds it.
//!
//! The streaming reader borrows the workbook, so both live on a thread of
//! their own, which sends the header and then batches of rows through a
//! bounded channel. The file is hashed on that thread first: a spreadsheet
//! is a regular file (zip and OLE need seeking), so reading it twice is
//! safe.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Ods, Reader as _, SheetType, SheetVisible, Xls, Xlsx};
use sha2::{Digest, Sha256};

use super::cells::Cell;
use super::error::quoted;
use super::facts::{InputDigest, InputFacts, hex};
use super::headers::MapSpec;
use super::open::{self, BUF_SIZE};
use super::sheet_rows::Rows;
use super::{Format, InputError, InputSpec, Row};

/// What the sheet thread sends: the header first (or an error), then rows,
/// then `End` (or an error).
pub(super) enum Msg {
    Header { columns: Vec<String>, sheet: String },
    Rows(Vec<Row>),
    Error(InputError),
    End,
}

/// An opened spreadsheet, its header read.
pub(super) struct OpenedSheet {
    pub reader: SheetReader,
    pub columns: Vec<String>,
    pub sheet: String,
    pub progress: Arc<AtomicU64>,
    pub total: Option<u64>,
}

/// The rows of a sheet, as the sheet thread sends them.
pub(super) struct SheetReader {
    rx: Receiver<Msg>,
    batch: std::vec::IntoIter<Row>,
    name: String,
    done: bool,
}

impl SheetReader {
    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        loop {
            if let Some(row) = self.batch.next() {
                return Ok(Some(row));
            }
            if self.done {
                return Ok(None);
            }
            match self.rx.recv() {
                Ok(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Ok(Msg::End) => self.done = true,
                Ok(Msg::Error(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Ok(Msg::Header { .. }) => {}
                Err(_) => {
                    self.done = true;
                    return Err(thread_gone(&self.name));
                }
            }
        }
    }
}

fn thread_gone(name: &str) -> InputError {
    InputError::Sheet { path: name.to_owned(), detail: "its reader stopped before the end of the sheet".into() }
}

/// Opens the spreadsheet and reads up to its header row.
pub(super) fn open(
    spec: &InputSpec,
    format: Format,
    name: &str,
    map: MapSpec,
    facts: &Arc<InputFacts>,
) -> Result<OpenedSheet, InputError> {
    let (file, meta) = open::open_file(&spec.path, name)?;
    if !open::is_regular(&spec.path, &meta) {
        return Err(InputError::SheetNotSeekable { path: name.to_owned() });
    }
    let progress = Arc::new(AtomicU64::new(0));
    let job = Job {
        path: spec.path.clone(),
        file,
        format,
        name: name.to_owned(),
        wanted: spec.sheet.clone(),
        map,
        existing: spec.existing,
        facts: Arc::clone(facts),
        progress: Arc::clone(&progress),
    };
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("leadctl-sheet".into())
        .spawn(move || job.run(tx))
        .map_err(|source| InputError::Open { path: name.to_owned(), source })?;
    let (columns, sheet) = match rx.recv() {
        Ok(Msg::Header { columns, sheet }) => (columns, sheet),
        Ok(Msg::Error(e)) => return Err(e),
        Ok(Msg::End) => return Err(InputError::NoHeader { path: name.to_owned() }),
        Ok(Msg::Rows(_)) | Err(_) => return Err(thread_gone(name)),
    };
    let reader = SheetReader { rx, batch: Vec::new().into_iter(), name: name.to_owned(), done: false };
    Ok(OpenedSheet { reader, columns, sheet, progress, total: Some(meta.len()) })
}

/// The work of the sheet thread.
struct Job {
    path: PathBuf,
    file: File,
    format: Format,
    name: String,
    wanted: Option<String>,
    map: MapSpec,
    existing: bool,
    facts: Arc<InputFacts>,
    progress: Arc<AtomicU64>,
}

impl Job {
    fn run(self, tx: SyncSender<Msg>) {
        let last = match self.read(&tx) {
            Ok(()) => Msg::End,
            Err(e) => Msg::Error(e),
        };
        let _ = tx.send(last);
    }

    fn read(mut self, tx: &SyncSender<Msg>) -> Result<(), InputError> {
        let digest = digest(&mut self.file).map_err(|e| self.read_error(e))?;
        self.facts.set_digest(digest);
        // calamine builds every sheet of these whole as it opens the workbook.
        match self.format {
            Format::Ods => super::sheet_budget::check_ods(&mut self.file, &self.name, self.existing)?,
            Format::Xls => super::sheet_budget::check_xls(&mut self.file, &self.name, self.existing)?,
            _ => {}
        }
        let counted = Counted { file: self.file, pos: 0, progress: Arc::clone(&self.progress) };
        let rs = BufReader::with_capacity(BUF_SIZE, counted);
        let failed = |e: &dyn std::fmt::Display| InputError::Sheet { path: self.name.clone(), detail: e.to_string() };
        let mut rows =
            Rows::new(self.name.clone(), self.map.clone(), self.existing, Arc::clone(&self.facts), tx.clone());
        match self.format {
            Format::Xls => {
                let mut book: Xls<_> = Xls::new(rs).map_err(|e| failed(&e))?;
                let sheet = choose(&self.name, book.sheets_metadata(), self.wanted.as_deref())?;
                rows.sheets(book.sheet_names(), sheet.clone());
                let range = book.worksheet_range(&sheet).map_err(|e| failed(&e))?;
                rows.range(&range)
            }
            Format::Ods => {
                let mut book: Ods<_> = Ods::new(rs).map_err(|e| failed(&e))?;
                let sheet = choose(&self.name, book.sheets_metadata(), self.wanted.as_deref())?;
                rows.sheets(book.sheet_names(), sheet.clone());
                let range = book.worksheet_range(&sheet).map_err(|e| failed(&e))?;
                rows.range(&range)
            }
            _ => {
                let mut book: Xlsx<_> = Xlsx::new(rs).map_err(|e| failed(&e))?;
                let sheet = choose(&self.name, book.sheets_metadata(), self.wanted.as_deref())?;
                rows.sheets(book.sheet_names(), sheet.clone());
                let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| failed(&e))?;
                while let Some(cell) = cells.next_cell().map_err(|e| failed(&e))? {
                    let (row, col) = cell.get_position();
                    if !rows.cell(row, col, Cell::from(cell.get_value()))? {
                        return Ok(());
                    }
                }
                rows.finish()
            }
        }
    }

    fn read_error(&self, source: io::Error) -> InputError {
        InputError::Open { path: self.path.display().to_string(), source }
    }
}

/// The sheet to read: `wanted` by name (exact, then ignoring case) or by
/// position from 1; by default the first visible worksheet.
fn choose(name: &str, sheets: &[calamine::Sheet], wanted: Option<&str>) -> Result<String, InputError> {
    let Some(wanted) = wanted else {
        let first = sheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
            .or(sheets.first());
        return first.map(|s| s.name.clone()).ok_or_else(|| InputError::NoHeader { path: name.to_owned() });
    };
    let by_name = sheets
        .iter()
        .find(|s| s.name == wanted)
        .or_else(|| sheets.iter().find(|s| s.name.to_lowercase() == wanted.trim().to_lowercase()));
    let by_index = || wanted.trim().parse::<usize>().ok().and_then(|i| sheets.get(i.checked_sub(1)?));
    by_name.or_else(by_index).map(|s| s.name.clone()).ok_or_else(|| InputError::NoSuchSheet {
        path: name.to_owned(),
        sheet: wanted.to_owned(),
        sheets: sheets.iter().map(|s| quoted(&s.name)).collect::<Vec<_>>().join(", "),
    })
}

/// Size and SHA-256 of the file; leaves it at its start.
fn digest(file: &mut File) -> io::Result<InputDigest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(InputDigest { size, sha256: hex(&hasher.finalize()) })
}

/// The file under calamine, telling the progress display how far into it
/// reading has come.
struct Counted {
    file: File,
    pos: u64,
    progress: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        self.progress.fetch_max(self.pos, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for Counted {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheets(names: &[(&str, bool)]) -> Vec<calamine::Sheet> {
        names
            .iter()
            .map(|(n, visible)| calamine::Sheet {
                name: (*n).to_owned(),
                typ: SheetType::WorkSheet,
                visible: if *visible { SheetVisible::Visible } else { SheetVisible::Hidden },
            })
            .collect()
    }

    #[test]
    fn the_sheet_by_name_position_or_the_first_visible() {
        let s = sheets(&[("Notes", false), ("Leads", true), ("2", true)]);
        assert_eq!(choose("f", &s, None).unwrap(), "Leads");
        assert_eq!(choose("f", &s, Some("leads")).unwrap(), "Leads");
        assert_eq!(choose("f", &s, Some("1")).unwrap(), "Notes");
        assert_eq!(choose("f", &s, Some("2")).unwrap(), "2", "a name wins over a position");
        let e = choose("f.xlsx", &s, Some("9")).unwrap_err();
        assert!(e.to_string().contains("\"Notes\", \"Leads\", \"2\""), "{e}");
    }
}
