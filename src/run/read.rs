//! The reading stage of a run: a thread parses the file into chunks of
//! rows, and the checker judges each chunk (phones on every core), sending
//! rejected rows to the writer and valid ones on to delivery.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use super::known::Lookups;
use crate::checks::{CheckSettings, Checked, Checker, Prechecked};
use crate::deliver::{Item, Payload};
use crate::input::{Row, Source};
use crate::journal::RangeSet;
use crate::output::{Origin, Verdict};
use crate::progress::Counters;
use crate::writer::Outbox;

/// Rows checked together (the phone parsing of a chunk runs on every core).
pub(super) const CHUNK: usize = 1024;

/// A chunk also ends once its rows took this many input bytes, so memory
/// between the stages is bounded by bytes, not only rows (a row may be up
/// to 1 MiB, and a parsed JSON row takes several times its size).
pub(super) const CHUNK_BYTES: usize = 1 << 20;

/// What the reader/checker thread tells the run when it is done.
pub(super) struct ReadReport {
    pub(super) read: u64,
    /// Rows skipped because the run being resumed had sorted them.
    pub(super) skipped: u64,
    pub(super) passed: u64,
    pub(super) error: Option<String>,
}

/// What the reader/checker thread works with.
pub(super) struct ReadJob {
    pub(super) source: Source,
    pub(super) checker: Checker,
    pub(super) limit: Option<u64>,
    pub(super) skip: RangeSet,
    /// Rows in flight, answer unknown, when the resumed run stopped.
    pub(super) in_flight: RangeSet,
    pub(super) out: Outbox,
    pub(super) counters: Arc<Counters>,
    /// The ledger's lookups, unless the run uses none (or `--resend-known`).
    pub(super) ledger: Option<Lookups>,
}

/// The reader/checker loop, on its own thread: reads every row (up to
/// `limit`), checks it, sends rejected rows to the writer and valid ones to
/// `valid`. Rows in `skip` were sorted by the run being resumed: they are
/// checked again (so duplicate memory is as it was) but not sorted again.
pub(super) fn read_and_check(job: ReadJob, mut valid: impl FnMut(Vec<Item>) -> bool) -> ReadReport {
    let ReadJob { source, mut checker, limit, skip, in_flight, out, counters, ledger } = job;
    let mut ledger_failed = false;
    let mut report = ReadReport { read: 0, skipped: 0, passed: 0, error: None };
    let started = spawn_parser(source, limit, Arc::clone(&counters)).and_then(|(parser, chunks)| {
        let (prechecker, checked) = spawn_prechecker(checker.settings(), chunks)?;
        Ok((parser, prechecker, checked))
    });
    let (parser, prechecker, checked) = match started {
        Ok(stages) => stages,
        Err(e) => {
            report.error = Some(format!("cannot start a reading thread: {e}"));
            return report;
        }
    };
    // A lead may already exist when the file fed back marks it so, or when it
    // was in flight as the resumed run stopped.
    let item = |row: Row, payload: Payload| {
        let may_exist = row.fields.as_ref().is_ok_and(|f| f.may_exist) || in_flight.contains(row.ordinal);
        Item::new(row, payload, may_exist)
    };
    for (chunk, pre) in checked {
        report.read += chunk.len() as u64;
        counters.read.store(report.read, Ordering::Relaxed);
        let results = checker.judge(pre);
        let mut rejected = Vec::new();
        // Most rows pass, and an item is large: growing the vector by
        // doubling copied every item of a chunk about once more.
        let mut items = Vec::with_capacity(chunk.len());
        for (row, checked) in chunk.into_iter().zip(results) {
            if skip.contains(row.ordinal) {
                report.skipped += 1;
                continue;
            }
            match checked {
                Checked::Rejected(reasons) => rejected.push((row, local_rejection(reasons))),
                Checked::Lead(lead) => items.push(item(row, Payload::Lead(lead))),
                Checked::Existing(id) => items.push(item(row, Payload::Existing(id))),
            }
        }
        report.passed += items.len() as u64;
        let items = match (&ledger, items.is_empty()) {
            (Some(lookups), false) => {
                let (send, known) = ask_ledger(lookups, items, &mut ledger_failed, &mut report);
                rejected.extend(known);
                send
            }
            (_, _) => items,
        };
        if !rejected.is_empty() && out.sort_blocking(rejected).is_err() {
            report.error = Some("the output writer stopped".into());
            break;
        }
        if !items.is_empty() && !valid(items) {
            report.error = Some("the sender stopped".into());
            break;
        }
    }
    // Dropping the receivers (on an early stop) ends each stage at its next send.
    if prechecker.join().is_err() {
        report.error.get_or_insert_with(|| "the checker thread panicked".into());
    }
    match parser.join() {
        Ok(Some(e)) if report.error.is_none() => report.error = Some(e),
        Ok(_) => {}
        Err(_) => report.error = Some("the reader thread panicked".into()),
    }
    report
}

/// A running stage: its thread, and the receiving end of what it produces.
type Stage<T, Out> = (JoinHandle<T>, Receiver<Out>);

/// The ledger's answer for a chunk's valid items: those to send, and the
/// rows decided now. When the ledger fails, nothing more is sent: every
/// valid row from then on is retryable, and the run ends in error.
fn ask_ledger(
    lookups: &Lookups,
    mut items: Vec<Item>,
    failed: &mut bool,
    report: &mut ReadReport,
) -> (Vec<Item>, Vec<(Row, Verdict)>) {
    if !*failed {
        let asked = if lookups.claim { lookups.claim(items) } else { lookups.look(items) };
        match asked {
            Ok(decided) => return decided,
            Err((e, back)) => {
                *failed = true;
                report.error.get_or_insert_with(|| format!("the ledger failed: {e}"));
                items = back;
            }
        }
    }
    let reason = "not sent: the ledger could not be read".to_owned();
    let rows =
        items.into_iter().map(|i| (i.row, Verdict::Retryable { reason: reason.clone(), may_exist: i.may_exist }));
    (Vec::new(), rows.collect())
}

/// Parsing the file runs on its own thread, a few chunks ahead of the
/// checks, so reading and phone parsing overlap on the two cores. The
/// thread returns the error that ended the file early, if one did.
fn spawn_parser(
    mut source: Source,
    limit: Option<u64>,
    progress: Arc<Counters>,
) -> std::io::Result<Stage<Option<String>, Vec<Row>>> {
    let (chunks, chunks_rx) = sync_channel::<Vec<Row>>(4);
    let parser = std::thread::Builder::new().name("leadctl-reader".into()).spawn(move || {
        let mut read = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut bytes = 0;
            let mut last = false;
            while chunk.len() < CHUNK && bytes < CHUNK_BYTES {
                if limit.is_some_and(|l| read >= l) {
                    last = true;
                    break;
                }
                match source.next() {
                    Some(row) => {
                        read += 1;
                        bytes += row.bytes as usize;
                        chunk.push(row);
                    }
                    None => {
                        last = true;
                        break;
                    }
                }
            }
            progress.parsed_so_far(read, last);
            if chunk.is_empty() || chunks.send(chunk).is_err() || last {
                break;
            }
        }
        source.take_error().map(|e| e.to_string())
    })?;
    Ok((parser, chunks_rx))
}

/// The stateless checks (phone parsing, on every core) run a chunk ahead
/// of the stateful ones, so the three stages overlap.
fn spawn_prechecker(
    settings: Arc<CheckSettings>,
    chunks: Receiver<Vec<Row>>,
) -> std::io::Result<Stage<(), (Vec<Row>, Prechecked)>> {
    let (checked, checked_rx) = sync_channel::<(Vec<Row>, Prechecked)>(2);
    let prechecker = std::thread::Builder::new().name("leadctl-check".into()).spawn(move || {
        for mut chunk in chunks {
            let pre = Checker::precheck(&settings, &mut chunk);
            if checked.send((chunk, pre)).is_err() {
                break;
            }
        }
    })?;
    Ok((prechecker, checked_rx))
}

/// All of a row's local reasons in one rejection: the first code is the
/// row's code; the message lists every reason.
fn local_rejection(reasons: Vec<crate::checks::Reject>) -> Verdict {
    let code = reasons.first().map(|r| r.code).unwrap_or("malformed_row");
    let reason = if reasons.len() == 1 {
        reasons.into_iter().next().map(|r| r.message).unwrap_or_default()
    } else {
        reasons.iter().map(|r| format!("{}: {}", r.code, r.message)).collect::<Vec<_>>().join("; ")
    };
    Verdict::Rejected { code: Cow::Borrowed(code), reason, origin: Origin::Local, http_status: None }
}
