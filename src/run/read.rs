//! The reading stage of a run: a thread parses the file into chunks of
//! rows, and the checker judges each chunk (phones on every core), sending
//! rejected rows to the writer and valid ones on to delivery.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checks::{Checked, Checker, Prechecked};
use crate::deliver::{Item, Payload};
use crate::input::{Row, Source};
use crate::journal::LineSet;
use crate::output::{Origin, Verdict};
use crate::progress::Counters;
use crate::writer::Outbox;

/// Rows checked together (the phone parsing of a chunk runs on every core).
pub(super) const CHUNK: usize = 1024;

/// ... or fewer, when they add up to this many bytes of input: a few chunks
/// are in flight between the stages, and a row of many small JSON fields
/// takes about ten times its size in memory. Rows of ordinary leads (a few
/// hundred bytes) never reach it.
const CHUNK_BYTES: usize = 1024 * 1024;

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
    pub(super) skip: LineSet,
    /// Rows in flight, answer unknown, when the resumed run stopped.
    pub(super) in_flight: LineSet,
    pub(super) out: Outbox,
    pub(super) counters: Arc<Counters>,
}

/// The reader/checker loop, on its own thread: reads every row (up to
/// `limit`), checks it, sends rejected rows to the writer and valid ones to
/// `valid`. Rows in `skip` were sorted by the run being resumed: they are
/// checked again (so duplicate memory is as it was) but not sorted again.
pub(super) fn read_and_check(job: ReadJob, mut valid: impl FnMut(Vec<Item>) -> bool) -> ReadReport {
    let ReadJob { source, mut checker, limit, skip, in_flight, out, counters } = job;
    // A lead may already exist when the file fed back marks it so, or when it
    // was in flight as the resumed run stopped.
    let item = |row: Row, payload: Payload| {
        let may_exist = row.fields.as_ref().is_ok_and(|f| f.may_exist) || in_flight.contains(row.line);
        Item { row, payload, may_exist }
    };
    let mut report = ReadReport { read: 0, skipped: 0, passed: 0, error: None };
    // Parsing the file runs on its own thread, a few chunks ahead of the
    // checks, so reading and phone parsing overlap on the two cores.
    let (chunks, chunks_rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(4);
    let reader = std::thread::Builder::new().name("leadctl-reader".into()).spawn(move || {
        let mut source = source;
        let mut read = 0u64;
        'file: loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            let (mut bytes, mut last) = (0usize, false);
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
            if chunk.is_empty() || chunks.send(chunk).is_err() || last {
                break 'file;
            }
        }
        source.take_error().map(|e| e.to_string())
    });
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(format!("cannot start the reader thread: {e}"));
            return report;
        }
    };
    // The stateless checks (phone parsing, on every core) run a chunk ahead
    // of the stateful ones, so the three stages overlap.
    let settings = checker.settings();
    let (checked, checked_rx) = std::sync::mpsc::sync_channel::<(Vec<Row>, Prechecked)>(2);
    let prechecker = std::thread::Builder::new().name("leadctl-check".into()).spawn(move || {
        for mut chunk in chunks_rx {
            let pre = Checker::precheck(&settings, &mut chunk);
            if checked.send((chunk, pre)).is_err() {
                break;
            }
        }
    });
    let prechecker = match prechecker {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(format!("cannot start the checker thread: {e}"));
            return report;
        }
    };
    for (chunk, pre) in checked_rx {
        report.read += chunk.len() as u64;
        counters.read.store(report.read, Ordering::Relaxed);
        let results = checker.judge(pre);
        let mut rejected = Vec::new();
        let mut items = Vec::new();
        for (row, checked) in chunk.into_iter().zip(results) {
            if skip.contains(row.line) {
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
    match reader.join() {
        Ok(Some(e)) if report.error.is_none() => report.error = Some(e),
        Ok(_) => {}
        Err(_) => report.error = Some("the reader thread panicked".into()),
    }
    report
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
