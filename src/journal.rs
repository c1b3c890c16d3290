//! What `--resume` needs, kept crash-safe.
//!
//! A run directory holds a `journal.ndjson`: the settings the run started
//! with (never the key), then, before any request of a batch leaves, the
//! input lines that batch carries (`fsync`ed first, so after `kill -9` or a
//! power cut we know which leads may exist on the server although no answer
//! was recorded), plus the processes the server answered 404 for and
//! batch-size changes. The sorted rows themselves are the output files:
//! resuming reads the accepted and rejected files back (cutting a torn last
//! record), skips those lines, and sends everything else again; leads that
//! were in flight are marked "maybe created", so an "already exists" answer
//! counts them as accepted rather than rejected.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::output::{FileKind, OutFormat, Tally, file_path};
use crate::settings::RunRecord;
use crate::vocab::{Note, column};

/// The journal's file name inside a run directory.
pub const FILE_NAME: &str = "journal.ndjson";

/// The version of the journal's format this binary writes and reads.
pub const VERSION: u32 = 2;

/// Identity of the input, to check on resume that it is the same file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    pub size: u64,
    pub sha256: String,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    Start {
        version: u32,
        input: InputId,
        out_format: OutFormat,
        record: RunRecord,
    },
    /// Lines (inclusive ranges) of a batch about to be sent.
    Sent {
        lines: Vec<(u64, u64)>,
    },
    ProcessNotFound {
        process_id: String,
    },
    BatchSize {
        size: usize,
    },
    Finished {
        exit_code: u8,
    },
}

/// The append-only journal of a run.
pub struct Journal {
    file: File,
}

impl Journal {
    /// Creates the journal of a new run with its first entry.
    pub fn create(dir: &Path, start: &Entry) -> io::Result<Journal> {
        let file = crate::output::create_private(&dir.join(FILE_NAME))?;
        let mut j = Journal { file };
        j.append(start)?;
        Ok(j)
    }

    /// Reopens an existing journal for appending (resume).
    pub fn reopen(dir: &Path) -> io::Result<Journal> {
        Ok(Journal { file: OpenOptions::new().append(true).open(dir.join(FILE_NAME))? })
    }

    /// Appends one entry and makes it durable before returning.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Compresses sorted line numbers into inclusive ranges.
pub fn ranges(lines: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for l in lines {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => out.push((l, l)),
        }
    }
    out
}

/// A set of line numbers as a bitmap (compact: 1 bit per input line).
#[derive(Debug, Clone, Default)]
pub struct LineSet {
    bits: Vec<u64>,
    len: u64,
}

impl LineSet {
    pub fn insert(&mut self, line: u64) {
        let (w, b) = ((line / 64) as usize, line % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) == 0 {
            self.bits[w] |= 1 << b;
            self.len += 1;
        }
    }
    pub fn contains(&self, line: u64) -> bool {
        self.bits.get((line / 64) as usize).is_some_and(|w| w & (1 << (line % 64)) != 0)
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What an interrupted run left, read back for `--resume`.
#[derive(Debug)]
pub struct Recovered {
    pub input: InputId,
    pub out_format: OutFormat,
    pub record: RunRecord,
    /// Lines already in accepted or rejected: skipped.
    pub done: LineSet,
    /// Lines that were in a batch sent without a recorded answer.
    pub may_exist: LineSet,
    pub unknown_processes: Vec<String>,
    pub batch_size: Option<usize>,
    /// Counts of the rows already sorted (accepted and rejected).
    pub tally: Tally,
    pub finished: bool,
}

/// The settings record an earlier run started with (for `--resume`).
pub fn read_record(dir: &Path) -> anyhow::Result<RunRecord> {
    use anyhow::Context;
    let path = dir.join(FILE_NAME);
    let file = File::open(&path).with_context(|| {
        format!("{} is not a resumable leadctl run directory (no {FILE_NAME} in it)", dir.display())
    })?;
    let mut first = String::new();
    BufReader::new(file)
        .take(MAX_START_BYTES)
        .read_line(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str::<Entry>(&first) {
        Ok(Entry::Start { version: VERSION, record, .. }) => Ok(record),
        Ok(Entry::Start { version, .. }) => anyhow::bail!(
            "{} was written by a leadctl with journal version {version}; this leadctl reads version {VERSION}. \
             Resume the run with the leadctl that started it",
            path.display()
        ),
        _ => anyhow::bail!("{} has no start entry; the run directory is damaged", path.display()),
    }
}

/// The longest start entry read back (settings are small; a larger first
/// line is damage, not a record).
const MAX_START_BYTES: u64 = 1 << 20;

/// Reads a run directory back: the journal, and the accepted and rejected
/// files (a torn last record, from a crash mid-write, is cut off).
pub fn recover(dir: &Path) -> anyhow::Result<Recovered> {
    use anyhow::{Context, bail};
    let path = dir.join(FILE_NAME);
    let file = File::open(&path)
        .with_context(|| format!("{} is not a leadctl run directory (no {FILE_NAME} in it)", dir.display()))?;
    let mut start = None;
    let mut sent = Vec::new();
    let mut unknown_processes = Vec::new();
    let mut batch_size = None;
    let mut finished = false;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        // A torn last line (crash mid-append) was never acted on: ignore it.
        let Ok(entry) = serde_json::from_str::<Entry>(&line) else { continue };
        match entry {
            Entry::Start { input, out_format, record, .. } => start = Some((input, out_format, record)),
            Entry::Sent { lines } => sent.push(lines),
            Entry::ProcessNotFound { process_id } => unknown_processes.push(process_id),
            Entry::BatchSize { size } => batch_size = Some(size),
            Entry::Finished { .. } => finished = true,
        }
    }
    let Some((input, out_format, record)) = start else {
        bail!("{} has no start entry; the run directory is damaged", path.display());
    };
    let mut done = LineSet::default();
    let mut tally = Tally::default();
    for kind in [FileKind::Accepted, FileKind::Rejected] {
        let p = file_path(dir, kind, out_format);
        scan_output(&p, out_format, kind, &mut done, &mut tally)
            .with_context(|| format!("cannot read back {}", p.display()))?;
    }
    let mut may_exist = LineSet::default();
    for (a, b) in sent.into_iter().flatten() {
        for l in a..=b {
            if !done.contains(l) {
                may_exist.insert(l);
            }
        }
    }
    Ok(Recovered { input, out_format, record, done, may_exist, unknown_processes, batch_size, tally, finished })
}

/// Reads one output file's rows back into `done` and `tally`, truncating
/// the file after its last complete record.
fn scan_output(
    path: &Path,
    format: OutFormat,
    kind: FileKind,
    done: &mut LineSet,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut good_end = 0u64;
    let mut record = |line: u64, code: Option<&str>, note: Option<&str>| {
        done.insert(line);
        match kind {
            FileKind::Accepted => tally.count_accepted(&Note::parse(note.unwrap_or(""))),
            _ => tally.count_rejected(code.unwrap_or("")),
        }
    };
    match format {
        OutFormat::Csv => {
            let ends_with_newline = len > 0 && {
                let mut last = [0u8; 1];
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)?;
                last[0] == b'\n'
            };
            let mut rdr =
                csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(BufReader::new(&file));
            let mut rec = csv::ByteRecord::new();
            let mut header: Option<csv::ByteRecord> = None;
            let col = |h: &csv::ByteRecord, name: &str| h.iter().rposition(|f| f == name.as_bytes());
            while rdr.read_byte_record(&mut rec)? {
                let end = rdr.position().byte();
                if end >= len && !ends_with_newline {
                    break; // torn: the writer always ends a record with a newline
                }
                match &header {
                    None => {
                        if col(&rec, column::LINE).is_none() {
                            anyhow::bail!("its header has no leadctl_line column: not a leadctl output file");
                        }
                        header = Some(rec.clone());
                    }
                    Some(h) => {
                        if rec.len() != h.len() {
                            break;
                        }
                        let get = |name: &str| {
                            col(h, name).and_then(|i| rec.get(i)).and_then(|f| std::str::from_utf8(f).ok())
                        };
                        let Some(line) = get(column::LINE).and_then(|s| s.parse().ok()) else { break };
                        record(line, get(column::CODE), get(column::NOTE));
                    }
                }
                good_end = end;
            }
        }
        OutFormat::Ndjson => {
            let mut reader = BufReader::new(&file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf)?;
                if n == 0 || buf.last() != Some(&b'\n') {
                    break;
                }
                let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(&buf) else {
                    break;
                };
                let Some(line) = obj.get(column::LINE).and_then(|v| v.as_u64()) else { break };
                let s = |k: &str| obj.get(k).and_then(|v| v.as_str());
                record(line, s(column::CODE), s(column::NOTE));
                good_end += n as u64;
            }
        }
    }
    if good_end < len {
        file.set_len(good_end)?;
        file.seek(SeekFrom::End(0))?;
    }
    Ok(())
}
