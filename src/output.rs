//! The run directory and the three sinks: accepted, rejected, retryable.
//!
//! This is the one place that decides how a sorted row is written, and the
//! [`Sinks::sort`] method is the one door every row goes through, so the
//! counts it keeps are what the invariant (rows read equals accepted plus
//! rejected plus retryable) is checked against. CSV/TSV input gives CSV outputs with the
//! input's columns as read; JSON/NDJSON input gives NDJSON outputs with the
//! input's objects as read. Files are created new with mode 0600 in the run
//! directory (`rundir`, which judges and locks it), never over a file, and
//! reopened for `--resume` without following links.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::input::{Raw, Row};
use crate::ranges::RangeSet;
use crate::rundir::Dir;
use crate::trust::Access;
use crate::vocab::{self, Note, column};

mod dialect;

pub use dialect::{BOM, Dialect, leadctl_field, output_csv_reader, record_fields};

/// Where a rejection was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Local,
    Server,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Server => "server",
        }
    }
}

/// Which file a row goes to, with what that file records about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepted {
        lead_id: Option<String>,
        e164: Option<String>,
        note: Note,
    },
    Rejected {
        code: Cow<'static, str>,
        reason: String,
        origin: Origin,
        http_status: Option<u16>,
    },
    /// `may_exist`: an attempt may have created the lead although no answer
    /// said so; the file then carries [`vocab::MAY_EXIST_MARK`] after the reason.
    Retryable {
        reason: String,
        may_exist: bool,
    },
}

/// The three files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Accepted,
    Rejected,
    Retryable,
}

impl FileKind {
    pub const ALL: [FileKind; 3] = [FileKind::Accepted, FileKind::Rejected, FileKind::Retryable];

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Accepted => "accepted",
            FileKind::Rejected => "rejected",
            FileKind::Retryable => "retryable",
        }
    }

    /// The columns leadctl adds after the input's own: where the row is
    /// (its line here, the file and line it was first read from), then what
    /// this file says of it. `leadctl_line` comes first in every file.
    pub fn extra_columns(self) -> &'static [&'static str] {
        use column::{CODE, HTTP_STATUS, LEAD_ID, LINE, NOTE, ORIGIN_FILE, ORIGIN_LINE, PHONE_E164, REASON, SOURCE};
        match self {
            FileKind::Accepted => &[LINE, ORIGIN_FILE, ORIGIN_LINE, LEAD_ID, PHONE_E164, NOTE],
            FileKind::Rejected => &[LINE, ORIGIN_FILE, ORIGIN_LINE, CODE, REASON, SOURCE, HTTP_STATUS],
            FileKind::Retryable => &[LINE, ORIGIN_FILE, ORIGIN_LINE, REASON],
        }
    }
}

/// CSV or NDJSON outputs, following the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Csv,
    Ndjson,
}

impl OutFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutFormat::Csv => "csv",
            OutFormat::Ndjson => "ndjson",
        }
    }
}

/// What the output files look like: the format, the CSV dialect, the
/// input's columns (CSV: the outputs' first columns), and the input's name
/// as the origin of the rows first read from it.
#[derive(Debug, Clone)]
pub struct Layout {
    pub format: OutFormat,
    pub dialect: Dialect,
    pub columns: Vec<String>,
    pub origin: std::sync::Arc<str>,
}

/// Name of one output file in a run directory.
pub fn file_name(kind: FileKind, format: OutFormat) -> String {
    format!("{}.{}", kind.name(), format.extension())
}

/// Path of one output file in a run directory.
pub fn file_path(dir: &Path, kind: FileKind, format: OutFormat) -> PathBuf {
    dir.join(file_name(kind, format))
}

enum Writer {
    Csv(csv::Writer<File>),
    Ndjson(BufWriter<File>),
}

/// One output file.
struct Sink {
    kind: FileKind,
    writer: Writer,
}

impl Sink {
    fn new(mut file: File, kind: FileKind, layout: &Layout, write_header: bool) -> io::Result<Sink> {
        let writer = match layout.format {
            OutFormat::Csv => {
                if write_header && layout.dialect.bom {
                    file.write_all(BOM)?;
                }
                let mut w = csv::WriterBuilder::new()
                    .delimiter(layout.dialect.delimiter)
                    .flexible(true)
                    .buffer_capacity(1 << 16)
                    .from_writer(file);
                if write_header {
                    for c in &layout.columns {
                        w.write_field(c)?;
                    }
                    for c in kind.extra_columns() {
                        w.write_field(c)?;
                    }
                    w.write_record(None::<&[u8]>)?;
                }
                Writer::Csv(w)
            }
            OutFormat::Ndjson => Writer::Ndjson(BufWriter::with_capacity(1 << 16, file)),
        };
        Ok(Sink { kind, writer })
    }

    fn write(&mut self, row: &Row, extras: &[Extra<'_>]) -> io::Result<()> {
        match &mut self.writer {
            Writer::Csv(w) => {
                match &row.raw {
                    // As read: a malformed row is not padded to the header's
                    // width (that would make the outputs as large as the
                    // header times the rows), so leadctl's columns are
                    // always the last fields of a record (`leadctl_field`).
                    Raw::Csv(record) => {
                        for field in record {
                            w.write_field(field)?;
                        }
                    }
                    other => {
                        // Not expected (CSV outputs come from CSV input), but never lose the row.
                        let text = serde_json::to_string(&raw_json(other)).unwrap_or_default();
                        w.write_field(text)?;
                    }
                }
                for e in extras {
                    match e {
                        // leadctl's own values (the server's text among
                        // them) never start a formula; the input's stay exact.
                        Extra::Str(_, s) => w.write_field(vocab::inert_in_spreadsheet(s).as_bytes())?,
                        Extra::Num(_, Some(n)) => w.write_field(itoa::Buffer::new().format(*n))?,
                        Extra::Num(_, None) => w.write_field("")?,
                    }
                }
                w.write_record(None::<&[u8]>)?;
            }
            Writer::Ndjson(w) => {
                w.write_all(b"{")?;
                let mut first = true;
                let mut sep = |w: &mut BufWriter<File>| -> io::Result<()> {
                    if !std::mem::take(&mut first) {
                        w.write_all(b",")?;
                    }
                    Ok(())
                };
                match &row.raw {
                    Raw::Json(map) => {
                        for (k, v) in map {
                            sep(w)?;
                            serde_json::to_writer(&mut *w, k)?;
                            w.write_all(b":")?;
                            serde_json::to_writer(&mut *w, v)?;
                        }
                    }
                    other => {
                        sep(w)?;
                        serde_json::to_writer(&mut *w, column::RAW)?;
                        w.write_all(b":")?;
                        serde_json::to_writer(&mut *w, &raw_json(other))?;
                    }
                }
                for e in extras {
                    sep(w)?;
                    match e {
                        Extra::Str(k, s) => {
                            serde_json::to_writer(&mut *w, k)?;
                            w.write_all(b":")?;
                            serde_json::to_writer(&mut *w, s)?;
                        }
                        Extra::Num(k, n) => {
                            serde_json::to_writer(&mut *w, k)?;
                            w.write_all(b":")?;
                            serde_json::to_writer(&mut *w, n)?;
                        }
                    }
                }
                w.write_all(b"}\n")?;
            }
        }
        Ok(())
    }

    fn file(&self) -> &File {
        match &self.writer {
            Writer::Csv(w) => w.get_ref(),
            Writer::Ndjson(w) => w.get_ref(),
        }
    }

    fn flush(&mut self, durable: bool) -> io::Result<()> {
        let file = match &mut self.writer {
            Writer::Csv(w) => {
                w.flush()?;
                w.get_ref()
            }
            Writer::Ndjson(w) => {
                w.flush()?;
                w.get_ref()
            }
        };
        if durable { file.sync_data() } else { Ok(()) }
    }
}

/// A value as JSON, for rows whose raw form does not fit the output format.
fn raw_json(raw: &Raw) -> Value {
    match raw {
        Raw::Json(m) => Value::Object(m.clone()),
        Raw::Other(v) => v.clone(),
        Raw::Csv(r) => Value::Array(r.iter().map(|f| Value::String(String::from_utf8_lossy(f).into_owned())).collect()),
    }
}

enum Extra<'a> {
    Str(&'static str, &'a str),
    Num(&'static str, Option<u64>),
}

/// How many rows went where, by file and by reason code.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    pub accepted: u64,
    pub rejected: u64,
    pub retryable: u64,
    /// Rejections by reason code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Accepted rows confirmed by an "already exists" answer after a lost response.
    pub accepted_after_lost_response: u64,
    /// Accepted rows the ledger knew an earlier run uploaded (not sent).
    pub already_uploaded: u64,
}

impl Tally {
    /// Rows sorted so far.
    pub fn total(&self) -> u64 {
        self.accepted + self.rejected + self.retryable
    }

    /// Counts one accepted row.
    pub fn count_accepted(&mut self, note: &Note) {
        self.accepted += 1;
        match note {
            Note::LostResponseConfirmed => self.accepted_after_lost_response += 1,
            Note::AlreadyUploaded { .. } => self.already_uploaded += 1,
            Note::Created | Note::InitializedEarlierUpload => {}
        }
    }

    /// Counts one rejected row under its code (no allocation once the code was seen).
    pub fn count_rejected(&mut self, code: &str) {
        self.rejected += 1;
        match self.rejected_by_code.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                self.rejected_by_code.insert(code.to_owned(), 1);
            }
        }
    }
}

/// The three open files of a run, and the tally of what went in them.
pub struct Sinks {
    sinks: Vec<Sink>,
    /// The input's name: the origin of rows first read from it.
    origin: std::sync::Arc<str>,
    tally: Tally,
    /// Rows put in accepted or rejected since [`Sinks::take_done`], when
    /// the run keeps a journal that needs them.
    done: Option<RangeSet>,
}

impl Sinks {
    /// Creates the given files (header rows for CSV) in the run directory.
    pub fn create(dir: &Dir, layout: &Layout, kinds: &[FileKind]) -> io::Result<Sinks> {
        let sinks = kinds
            .iter()
            .map(|&k| Sink::new(dir.create_file(&file_name(k, layout.format))?, k, layout, true))
            .collect::<io::Result<Vec<_>>>()?;
        let mut s = Sinks { sinks, origin: std::sync::Arc::clone(&layout.origin), tally: Tally::default(), done: None };
        s.flush(true)?;
        dir.sync()?;
        Ok(s)
    }

    /// Reopens the files of an interrupted run (resume): accepted and
    /// rejected for appending, keeping their rows (`tally` counts them);
    /// the retryable file starts over, since its rows are sent again.
    pub fn reopen(dir: &Dir, layout: &Layout, tally: Tally) -> io::Result<Sinks> {
        let mut sinks = Vec::new();
        for k in FileKind::ALL {
            let name = file_name(k, layout.format);
            let (file, header) = if k == FileKind::Retryable {
                let f = dir.open_file(&name, Access::ReadWrite)?;
                f.set_len(0)?;
                (f, true)
            } else {
                (dir.open_file(&name, Access::Append)?, false)
            };
            sinks.push(Sink::new(file, k, layout, header)?);
        }
        Ok(Sinks { sinks, origin: std::sync::Arc::clone(&layout.origin), tally, done: None })
    }

    /// Keeps the rows put in accepted or rejected, for the journal.
    pub fn track_done(&mut self) {
        self.done.get_or_insert_with(RangeSet::default);
    }

    /// The rows put in accepted or rejected since the last call, and the
    /// two files' lengths, once flushed; `None` when there are none new.
    pub fn take_done(&mut self) -> io::Result<Option<(RangeSet, [u64; 2])>> {
        match &self.done {
            Some(d) if !d.is_empty() => {}
            _ => return Ok(None),
        }
        let lens = self.lens()?;
        Ok(self.done.as_mut().map(|d| (std::mem::take(d), lens)))
    }

    /// Lengths of the accepted and rejected files as flushed so far.
    pub fn lens(&self) -> io::Result<[u64; 2]> {
        let mut lens = [0; 2];
        for (len, kind) in lens.iter_mut().zip([FileKind::Accepted, FileKind::Rejected]) {
            if let Some(s) = self.sinks.iter().find(|s| s.kind == kind) {
                *len = s.file().metadata()?.len();
            }
        }
        Ok(lens)
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Writes one row to the file its verdict names, and counts it.
    pub fn sort(&mut self, row: &Row, verdict: &Verdict) -> io::Result<()> {
        let line = Some(row.line);
        let (origin_file, origin_line) = match &row.provenance {
            Some(p) => (&*p.file, p.line),
            None => (&*self.origin, row.line),
        };
        let origin_file = Extra::Str(column::ORIGIN_FILE, origin_file);
        let origin_line = Extra::Num(column::ORIGIN_LINE, Some(origin_line));
        let write = |sinks: &mut [Sink], kind: FileKind, extras: &[Extra<'_>]| match sinks
            .iter_mut()
            .find(|s| s.kind == kind)
        {
            Some(sink) => sink.write(row, extras),
            None => Err(io::Error::other(format!("this command writes no {} file", kind.name()))),
        };
        match verdict {
            Verdict::Accepted { lead_id, e164, note } => {
                self.tally.count_accepted(note);
                if let Some(d) = &mut self.done {
                    d.push(row.ordinal);
                }
                let note = note.text();
                let extras = [
                    Extra::Num(column::LINE, line),
                    origin_file,
                    origin_line,
                    Extra::Str(column::LEAD_ID, lead_id.as_deref().unwrap_or("")),
                    Extra::Str(column::PHONE_E164, e164.as_deref().unwrap_or("")),
                    Extra::Str(column::NOTE, &note),
                ];
                write(&mut self.sinks, FileKind::Accepted, &extras)
            }
            Verdict::Rejected { code, reason, origin, http_status } => {
                self.tally.count_rejected(code);
                if let Some(d) = &mut self.done {
                    d.push(row.ordinal);
                }
                let extras = [
                    Extra::Num(column::LINE, line),
                    origin_file,
                    origin_line,
                    Extra::Str(column::CODE, code),
                    Extra::Str(column::REASON, reason),
                    Extra::Str(column::SOURCE, origin.as_str()),
                    Extra::Num(column::HTTP_STATUS, http_status.map(u64::from)),
                ];
                write(&mut self.sinks, FileKind::Rejected, &extras)
            }
            Verdict::Retryable { reason, may_exist } => {
                self.tally.retryable += 1;
                let reason: Cow<'_, str> = if *may_exist {
                    Cow::Owned(format!("{reason} {}", vocab::MAY_EXIST_MARK))
                } else {
                    Cow::Borrowed(reason)
                };
                let extras =
                    [Extra::Num(column::LINE, line), origin_file, origin_line, Extra::Str(column::REASON, &reason)];
                write(&mut self.sinks, FileKind::Retryable, &extras)
            }
        }
    }

    /// Hands buffered rows to the operating system (they then survive
    /// `kill -9`), and with `durable` also to the disk (`fsync`: they then
    /// survive a power cut).
    pub fn flush(&mut self, durable: bool) -> io::Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.flush(durable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ordinal: u64, fields: &[&str]) -> Row {
        let raw = Raw::Csv(csv::ByteRecord::from(fields.to_vec()));
        Row { ordinal, line: ordinal + 2, bytes: 10, raw, fields: Err("malformed".into()), provenance: None }
    }

    #[test]
    fn rows_are_written_as_read_and_leadctl_columns_found_from_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let columns: Vec<String> = ["phone", "plan", "note"].map(String::from).into();
        let run_dir = crate::rundir::Dir::open(dir.path()).expect("run dir");
        let layout = Layout { format: OutFormat::Csv, dialect: Dialect::default(), columns, origin: "in.csv".into() };
        let mut sinks = Sinks::create(&run_dir, &layout, &FileKind::ALL).expect("sinks");
        let rejected = |code: &'static str| Verdict::Rejected {
            code: code.into(),
            reason: "why".into(),
            origin: Origin::Local,
            http_status: None,
        };
        sinks.sort(&row(0, &["+1", "gold", "n"]), &rejected("a")).expect("well-formed");
        sinks.sort(&row(1, &["+2"]), &rejected("b")).expect("short");
        sinks.sort(&row(2, &["+3", "gold", "n", "x", "y"]), &rejected("c")).expect("long");
        sinks.flush(false).expect("flush");
        let path = file_path(dir.path(), FileKind::Rejected, OutFormat::Csv);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(&path).expect("open");
        let header = reader.byte_headers().expect("header").clone();
        let records: Vec<csv::ByteRecord> = reader.byte_records().map(|r| r.expect("record")).collect();
        let widths: Vec<usize> = records.iter().map(csv::ByteRecord::len).collect();
        assert_eq!(widths, [10, 8, 12], "each row as read, then leadctl's seven columns");
        let codes: Vec<&[u8]> =
            records.iter().map(|r| leadctl_field(&header, r, column::CODE).expect("a code")).collect();
        assert_eq!(codes, [b"a", b"b", b"c"]);
        let origins: Vec<&[u8]> =
            records.iter().map(|r| leadctl_field(&header, r, column::ORIGIN_LINE).expect("a line")).collect();
        assert_eq!(origins, [b"2", b"3", b"4"], "first read here: the origin is the line");
        let short = record_fields(&header, &records[1]);
        assert_eq!(&short[..4], [Some(&b"+2"[..]), None, None, Some(&b"3"[..])], "phone, plan, note, line");
        let long = record_fields(&header, &records[2]);
        assert_eq!((long[2], long[4], long[6]), (Some(&b"n"[..]), Some(&b"in.csv"[..]), Some(&b"c"[..])));
    }
}
