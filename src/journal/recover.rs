//! Reading a run directory back for `--resume`: the journal, checked line
//! by line (a damaged or hostile journal is a clear error, never a huge
//! allocation or a long loop), and the accepted and rejected files, cut
//! back to the last lengths the journal vouches for.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Entry, FILE_NAME, InputId, RangeSet, VERSION};
use crate::output::{FileKind, OutFormat, Tally, file_name, leadctl_field, output_csv_reader};
use crate::rundir::Dir;
use crate::settings::RunRecord;
use crate::trust::Access;
use crate::vocab::{Note, column};

/// The longest journal line read back. A `Done` entry of a batch is a few
/// kilobytes; a longer line is damage, not an entry.
const MAX_LINE: u64 = 16 << 20;

/// What an interrupted run left, read back for `--resume`.
#[derive(Debug)]
pub struct Recovered {
    pub input: InputId,
    pub out_format: OutFormat,
    pub record: RunRecord,
    /// Rows already in accepted or rejected: skipped.
    pub done: RangeSet,
    /// Rows of every batch sent: those not done may exist on the server.
    pub sent: RangeSet,
    pub unknown_processes: Vec<String>,
    pub batch_size: Option<usize>,
    /// Counts of the rows already sorted (accepted and rejected).
    pub tally: Tally,
    pub finished: bool,
}

/// The settings record an earlier run started with, from a run directory
/// named by its path (`ledger import`, which only reads).
pub fn read_record(dir: &Path) -> Result<RunRecord> {
    let file = File::open(dir.join(FILE_NAME)).with_context(|| not_resumable(dir))?;
    record_from(file, &dir.join(FILE_NAME))
}

/// The settings record of the run being resumed, from its directory
/// (judged and locked): the journal is opened without following a link.
pub fn read_record_in(dir: &Dir) -> Result<RunRecord> {
    let file = dir.open_file(FILE_NAME, Access::Read).map_err(|e| {
        if e.is_not_found() { anyhow::anyhow!(not_resumable(dir.path())) } else { anyhow::Error::new(e) }
    })?;
    record_from(file, &dir.join(FILE_NAME))
}

fn not_resumable(dir: &Path) -> String {
    format!("{} is not a resumable leadctl run directory (no {FILE_NAME} in it)", dir.display())
}

fn record_from(file: File, path: &Path) -> Result<RunRecord> {
    let mut first = Vec::new();
    BufReader::new(file).take(MAX_LINE).read_until(b'\n', &mut first)?;
    match serde_json::from_slice::<Entry>(&first) {
        Ok(Entry::Start { version: VERSION, record, .. }) => Ok(record),
        Ok(Entry::Start { version, .. }) => bail!(
            "{} was written by a leadctl with journal version {version}; this leadctl reads version {VERSION}. \
             Resume the run with the leadctl that started it",
            path.display()
        ),
        _ => bail!("{} has no start entry; the run directory is damaged", path.display()),
    }
}

/// The journal's entries, parsed.
struct Journaled {
    start: (InputId, OutFormat, RunRecord),
    sent: RangeSet,
    /// Every `Done` entry, in order.
    done: Vec<(RangeSet, [u64; 2])>,
    unknown_processes: Vec<String>,
    batch_size: Option<usize>,
    finished: bool,
}

fn read_journal(dir: &Dir) -> Result<Journaled> {
    let path = &dir.join(FILE_NAME);
    let file = dir.open_file(FILE_NAME, Access::ReadWrite)?;
    let mut reader = BufReader::new(&file);
    let (mut start, mut sent, mut done) = (None, RangeSet::default(), Vec::new());
    let (mut unknown_processes, mut batch_size, mut finished) = (Vec::new(), None, false);
    let damaged = |n: usize, why: &str| anyhow::anyhow!("{} is damaged at line {n}: {why}", path.display());
    let mut line = Vec::new();
    let mut good_end = 0u64;
    for n in 1.. {
        line.clear();
        let read = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            if read as u64 == MAX_LINE {
                return Err(damaged(n, "a line longer than any entry"));
            }
            break; // a torn last line, from a crash mid-append: never acted on
        }
        good_end += read as u64;
        let entry: Entry = serde_json::from_slice(&line).map_err(|e| damaged(n, &e.to_string()))?;
        match entry {
            Entry::Start { version, input, out_format, record } if n == 1 => {
                if version != VERSION {
                    bail!("{} is journal version {version}; this leadctl reads version {VERSION}", path.display());
                }
                start = Some((input, out_format, record));
            }
            Entry::Start { .. } => return Err(damaged(n, "a second start entry")),
            _ if start.is_none() => return Err(damaged(n, "no start entry first")),
            Entry::Sent { rows } if rows.is_valid() => sent.extend(&rows),
            Entry::Done { rows, lens } if rows.is_valid() => done.push((rows, lens)),
            Entry::Sent { .. } | Entry::Done { .. } => return Err(damaged(n, "a reversed range of rows")),
            Entry::ProcessNotFound { process_id } => unknown_processes.push(process_id),
            Entry::BatchSize { size } => batch_size = Some(size.clamp(1, crate::api::MAX_LEADS_PER_REQUEST)),
            Entry::Finished { .. } => finished = true,
        }
    }
    let Some(start) = start else { bail!("{} has no start entry; the run directory is damaged", path.display()) };
    // The resumed run appends after the last whole entry, not after a torn one.
    file.set_len(good_end)?;
    Ok(Journaled { start, sent, done, unknown_processes, batch_size, finished })
}

/// Reads a run directory back: the journal, and the accepted and rejected
/// files, cut to the last lengths a `Done` entry vouches for (rows written
/// after it were never recorded as done, so they are sorted again).
pub fn recover(dir: &Dir) -> Result<Recovered> {
    let path = dir.join(FILE_NAME);
    let j = read_journal(dir)?;
    let (input, out_format, record) = j.start;
    let names = [FileKind::Accepted, FileKind::Rejected].map(|k| file_name(k, out_format));
    let mut files = Vec::with_capacity(2);
    let mut actual = [0u64; 2];
    for (len, name) in actual.iter_mut().zip(&names) {
        let file = dir.open_file(name, Access::ReadWrite)?;
        *len = file.metadata().with_context(|| format!("cannot read back {}", dir.join(name).display()))?.len();
        files.push(file);
    }
    // The last entry whose files are all there (after a power cut, a
    // `Done` written after the last sync may name bytes that never
    // reached the disk). Lengths only grow.
    let mut done = RangeSet::default();
    let mut lens: Option<[u64; 2]> = None;
    for (rows, l) in &j.done {
        if lens.is_some_and(|p| l[0] < p[0] || l[1] < p[1]) {
            bail!("{} is damaged: the output files' lengths go backwards", path.display());
        }
        if l[0] > actual[0] || l[1] > actual[1] {
            break;
        }
        done.extend(rows);
        lens = Some(*l);
    }
    let Some(lens) = lens else {
        bail!("{} records no output file lengths; the run directory is damaged", path.display());
    };
    let mut tally = Tally::default();
    for ((file, len), (kind, name)) in
        files.iter().zip(lens).zip([FileKind::Accepted, FileKind::Rejected].iter().zip(&names))
    {
        let f = dir.join(name);
        file.set_len(len).with_context(|| format!("cannot cut {} back", f.display()))?;
        count_rows(file, out_format, *kind, &mut tally).with_context(|| format!("cannot read back {}", f.display()))?;
    }
    if tally.total() != done.count() {
        bail!(
            "{} and the output files disagree ({} rows recorded as sorted, {} in the files); the run directory \
             is damaged",
            path.display(),
            done.count(),
            tally.total()
        );
    }
    Ok(Recovered {
        input,
        out_format,
        record,
        done,
        sent: j.sent,
        unknown_processes: j.unknown_processes,
        batch_size: j.batch_size,
        tally,
        finished: j.finished,
    })
}

/// Counts one output file's rows into `tally` (by code and note).
fn count_rows(mut file: &File, format: OutFormat, kind: FileKind, tally: &mut Tally) -> Result<()> {
    file.rewind()?;
    let mut count = |code: Option<&str>, note: Option<&str>| match kind {
        FileKind::Accepted => tally.count_accepted(&Note::parse(note.unwrap_or(""))),
        _ => tally.count_rejected(code.unwrap_or("")),
    };
    match format {
        OutFormat::Csv => {
            let mut rdr = output_csv_reader(BufReader::new(file))?;
            let header = rdr.byte_headers()?.clone();
            let mut rec = csv::ByteRecord::new();
            while rdr.read_byte_record(&mut rec)? {
                let get = |name| leadctl_field(&header, &rec, name).and_then(|f| std::str::from_utf8(f).ok());
                count(get(column::CODE), get(column::NOTE));
            }
        }
        OutFormat::Ndjson => {
            for line in BufReader::new(file).lines() {
                let line = line?;
                let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)?;
                let s = |k: &str| obj.get(k).and_then(|v| v.as_str());
                count(s(column::CODE), s(column::NOTE));
            }
        }
    }
    Ok(())
}
