//! The one writer of a run: a thread that owns the three sinks and the
//! journal, so every sorted row and every journal entry goes through one
//! queue in one order. Readers, checkers and senders only send it events.

use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::input::Row;
use crate::journal::{Entry, Journal, RangeSet};
use crate::ledger::{Session, Writes};
use crate::output::{Sinks, Tally, Verdict};

/// What the writer is asked to do.
pub enum Event {
    /// Rows and where they go. `answered` marks the rows of a server answer:
    /// they are handed to the OS at once, so `kill -9` cannot lose them.
    /// `ledger`: what the ledger must record (or release) of them, after
    /// they are in the files and before the journal says they are done.
    Sorted { rows: Vec<(Row, Verdict)>, answered: bool, ledger: Writes },
    /// A batch is about to be sent: make every earlier row durable, record
    /// the batch's rows in the journal, `fsync`, then acknowledge.
    Sent { rows: RangeSet, ack: oneshot::Sender<io::Result<()>> },
    /// Any other journal entry (made durable at once).
    Journal(Entry),
}

/// The sending side, cloned by everyone who sorts rows.
#[derive(Clone)]
pub struct Outbox(mpsc::Sender<Event>);

/// The writer went away (it failed on a disk error, which `finish` reports).
#[derive(Debug, thiserror::Error)]
#[error("the output writer has stopped")]
pub struct WriterGone;

impl Outbox {
    /// Sorts rows (from async code).
    pub async fn sort(&self, rows: Vec<(Row, Verdict)>, answered: bool) -> Result<(), WriterGone> {
        self.sort_and_record(rows, answered, Writes::default()).await
    }

    /// Sorts rows and records what the ledger must know of them.
    pub async fn sort_and_record(
        &self,
        rows: Vec<(Row, Verdict)>,
        answered: bool,
        ledger: Writes,
    ) -> Result<(), WriterGone> {
        self.0.send(Event::Sorted { rows, answered, ledger }).await.map_err(|_| WriterGone)
    }

    /// Sorts rows (from a plain thread).
    pub fn sort_blocking(&self, rows: Vec<(Row, Verdict)>) -> Result<(), WriterGone> {
        self.0.blocking_send(Event::Sorted { rows, answered: false, ledger: Writes::default() }).map_err(|_| WriterGone)
    }

    /// Records a batch's rows durably before it is sent.
    pub async fn sent(&self, rows: RangeSet) -> io::Result<()> {
        let (ack, done) = oneshot::channel();
        self.0.send(Event::Sent { rows, ack }).await.map_err(|_| io::Error::other(WriterGone))?;
        done.await.map_err(|_| io::Error::other(WriterGone))?
    }

    pub async fn journal(&self, entry: Entry) -> Result<(), WriterGone> {
        self.0.send(Event::Journal(entry)).await.map_err(|_| WriterGone)
    }
}

/// The first failure of the ledger, shared by the writer (which records)
/// and the engine (which then stops sending).
#[derive(Debug, Clone, Default)]
pub struct LedgerFailure(Arc<OnceLock<String>>);

impl LedgerFailure {
    /// Notes a failure (the first one is kept).
    pub fn fail(&self, why: String) {
        let _ = self.0.set(why);
    }

    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The most answers recorded in the ledger in one group (eight full
/// batches): large enough that a busy run's store transactions touch each
/// page once for many leads, small enough that a crash leaves few answers
/// to the lost-response path.
const RECORD_GROUP: usize = 8_000;

/// The running writer thread.
pub struct WriterHandle(JoinHandle<io::Result<(Sinks, Option<Journal>)>>);

/// Starts the writer. `journal` is `None` for `validate` and `--dry-run`;
/// `ledger` when the run records answers in a ledger.
pub fn spawn(
    sinks: Sinks,
    journal: Option<Journal>,
    counters: Arc<crate::progress::Counters>,
    ledger: Option<(Session, LedgerFailure)>,
) -> io::Result<(Outbox, WriterHandle)> {
    // Small on purpose: an event can hold a whole batch of rows, and a slow
    // disk must slow the senders down rather than let rows pile up in memory.
    let (tx, mut rx) = mpsc::channel::<Event>(8);
    let handle = std::thread::Builder::new().name("leadctl-writer".into()).spawn(move || {
        let mut desk = Desk::new(sinks, journal, counters, ledger);
        while let Some(event) = rx.blocking_recv() {
            desk.handle(event, rx.is_empty())?;
        }
        desk.finish()
    })?;
    Ok((Outbox(tx), WriterHandle(handle)))
}

/// What the writer thread holds, and what it does with each event.
struct Desk {
    sinks: Sinks,
    journal: Option<Journal>,
    counters: Arc<crate::progress::Counters>,
    ledger: Option<(Session, LedgerFailure)>,
    /// Answers not yet in the ledger. They are recorded as a group when the
    /// queue runs dry or the group is large: a store transaction costs
    /// about as much for eight batches as for one. The journal's `Done`
    /// for their rows waits for the group, so the order stays files,
    /// ledger, journal.
    unrecorded: Writes,
}

impl Desk {
    fn new(
        mut sinks: Sinks,
        journal: Option<Journal>,
        counters: Arc<crate::progress::Counters>,
        ledger: Option<(Session, LedgerFailure)>,
    ) -> Desk {
        if journal.is_some() {
            sinks.track_done();
        }
        Desk { sinks, journal, counters, ledger, unrecorded: Writes::default() }
    }

    /// Handles one event; `queue_empty` says no other event is waiting.
    fn handle(&mut self, event: Event, queue_empty: bool) -> io::Result<()> {
        match event {
            Event::Sorted { rows, answered, ledger: writes } => {
                for (row, verdict) in &rows {
                    self.sinks.sort(row, verdict)?;
                }
                self.counters.publish(self.sinks.tally());
                if answered {
                    self.sinks.flush(false)?;
                    self.unrecorded.append(writes);
                    if queue_empty || self.unrecorded.len() >= RECORD_GROUP {
                        self.record()?;
                    }
                }
            }
            Event::Sent { rows, ack } => {
                let result = self.sinks.flush(true).and_then(|()| match self.journal.as_mut() {
                    Some(j) => {
                        // Rows whose answers the ledger has yet to record are
                        // not done: their `Done` waits for the group.
                        if self.unrecorded.is_empty() {
                            record_done(&mut self.sinks, Some(&mut *j))?;
                        }
                        j.append(&Entry::Sent { rows })
                    }
                    None => Ok(()),
                });
                let failed = result.as_ref().err().map(|e| io::Error::new(e.kind(), e.to_string()));
                let _ = ack.send(result);
                if let Some(e) = failed {
                    return Err(e);
                }
            }
            Event::Journal(entry) => {
                if let Some(j) = self.journal.as_mut() {
                    j.append(&entry)?;
                }
            }
        }
        Ok(())
    }

    /// Records the waiting answers, then says their rows are done.
    fn record(&mut self) -> io::Result<()> {
        record_in_ledger(self.ledger.as_ref(), std::mem::take(&mut self.unrecorded));
        record_done(&mut self.sinks, self.journal.as_mut())
    }

    /// The queue is closed: everything to disk, the last group recorded.
    fn finish(mut self) -> io::Result<(Sinks, Option<Journal>)> {
        self.sinks.flush(true)?;
        self.record()?;
        Ok((self.sinks, self.journal))
    }
}

/// Records answers in the ledger (the rows are in the files already). A
/// ledger that fails is not asked again: the failure stops the sending,
/// and the files keep every row whatever the ledger does.
fn record_in_ledger(ledger: Option<&(Session, LedgerFailure)>, writes: Writes) {
    let Some((session, failure)) = ledger else { return };
    if writes.is_empty() || failure.get().is_some() {
        return;
    }
    if let Err(e) = session.write(writes) {
        failure.fail(e.to_string());
    }
}

/// After the sinks were flushed: the rows they now hold in accepted and
/// rejected, and the files' lengths, go to the journal (handed to the OS;
/// the next `Sent` entry makes them durable).
fn record_done(sinks: &mut Sinks, journal: Option<&mut Journal>) -> io::Result<()> {
    if let (Some(j), Some((rows, lens))) = (journal, sinks.take_done()?) {
        j.write(&Entry::Done { rows, lens })?;
    }
    Ok(())
}

impl WriterHandle {
    /// Waits for the writer to drain (every `Outbox` must be dropped first)
    /// and returns the final tally and the journal.
    pub fn finish(self) -> io::Result<(Tally, Option<Journal>)> {
        match self.0.join() {
            Ok(r) => r.map(|(sinks, journal)| (sinks.tally().clone(), journal)),
            Err(_) => Err(io::Error::other("the output writer panicked")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{LeadKey, Location, Outcome, PhoneKey, Recorded};
    use crate::output::{FileKind, OutFormat};
    use crate::vocab::Note;

    fn answered(i: u64, phone: &str) -> Event {
        let row = Row {
            ordinal: i,
            line: i + 2,
            bytes: 20,
            raw: crate::input::Raw::Csv(csv::ByteRecord::from(vec![phone])),
            fields: Ok(Default::default()),
        };
        let verdict =
            Verdict::Accepted { lead_id: Some(format!("ld_{i}")), e164: Some(phone.into()), note: Note::Created };
        let key = PhoneKey::from_e164(phone).expect("a phone");
        let outcome = Outcome::Accepted { lead_id: Some(format!("ld_{i}")), initialized: false };
        let writes = Writes {
            record: vec![(("prj".into(), "proc".into()), Recorded { phone: key, outcome })],
            ..Default::default()
        };
        Event::Sorted { rows: vec![(row, verdict)], answered: true, ledger: writes }
    }

    /// The journal's `Done` for answered rows waits until the ledger has
    /// recorded them: a `Sent` in between does not write it early.
    #[test]
    fn done_waits_for_the_group_to_be_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kinds = [FileKind::Accepted, FileKind::Rejected, FileKind::Retryable];
        let run_dir = crate::rundir::Dir::open(dir.path()).expect("run dir");
        let sinks = Sinks::create(&run_dir, OutFormat::Csv, &["phone".to_owned()], &kinds).expect("sinks");
        let start = Entry::Start {
            version: crate::journal::VERSION,
            input: crate::journal::InputId { size: 1, sha256: "0".repeat(64) },
            out_format: OutFormat::Csv,
            record: crate::settings::RunRecord {
                command: "upload".into(),
                input: "l.csv".into(),
                settings: Default::default(),
                sources: Default::default(),
            },
        };
        let journal = Journal::create(&run_dir, &start).expect("journal");
        let location = Location::parse(&dir.path().join("ledger.db").display().to_string()).expect("location");
        let session = Session::open(location, "https://api.test", "run-1", "host").expect("ledger");
        let mut desk = Desk::new(sinks, Some(journal), Default::default(), Some((session, LedgerFailure::default())));
        let dones = || {
            let text = std::fs::read_to_string(dir.path().join(crate::journal::FILE_NAME)).expect("journal");
            text.lines().filter(|l| l.contains(r#""event":"done""#)).count()
        };

        desk.handle(answered(0, "+14155550101"), false).expect("handled");
        let (ack, _done) = oneshot::channel();
        desk.handle(Event::Sent { rows: RangeSet::default(), ack }, false).expect("sent");
        assert_eq!(dones(), 0, "the answer is not in the ledger yet: its row is not done");
        desk.handle(answered(1, "+14155550102"), true).expect("handled");
        assert_eq!(dones(), 1, "recorded, then done");
    }

    /// Answers that arrive while others wait are recorded together, and the
    /// last group when the queue closes: none is left out of the ledger.
    #[test]
    fn answers_are_recorded_by_group_and_the_last_group_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kinds = [FileKind::Accepted, FileKind::Rejected, FileKind::Retryable];
        let run_dir = crate::rundir::Dir::open(dir.path()).expect("run dir");
        let sinks = Sinks::create(&run_dir, OutFormat::Csv, &["phone".to_owned()], &kinds).expect("sinks");
        let location = Location::parse(&dir.path().join("ledger.db").display().to_string()).expect("location");
        let session = Session::open(location, "https://api.test", "run-1", "host").expect("ledger");
        let phones = ["+14155550101", "+14155550102", "+14155550103"];
        let keys: Vec<LeadKey<'_>> = phones
            .iter()
            .map(|p| LeadKey { project: "prj", process: "proc", phone: PhoneKey::from_e164(p).expect("phone") })
            .collect();
        let known = |session: &Session| -> usize {
            session.lookup(&keys).expect("lookup").iter().filter(|k| k.is_some()).count()
        };

        let mut desk = Desk::new(sinks, None, Default::default(), Some((session.clone(), LedgerFailure::default())));
        for (i, phone) in phones.iter().enumerate() {
            desk.handle(answered(i as u64, phone), false).expect("handled");
        }
        assert_eq!(known(&session), 0, "the queue is busy: the answers wait as a group");
        desk.handle(answered(3, "+14155550104"), true).expect("handled");
        assert_eq!(known(&session), 3, "the queue ran dry: the group is recorded");

        let second = dir.path().join("second");
        std::fs::create_dir(&second).expect("mkdir");
        let second = crate::rundir::Dir::open(&second).expect("run dir");
        let sinks = Sinks::create(&second, OutFormat::Csv, &["phone".to_owned()], &kinds).expect("sinks");
        let mut desk = Desk::new(sinks, None, Default::default(), Some((session.clone(), LedgerFailure::default())));
        let later = ["+14155550105", "+14155550106"];
        for (i, phone) in later.iter().enumerate() {
            desk.handle(answered(i as u64, phone), false).expect("handled");
        }
        desk.finish().expect("finished");
        let later_keys: Vec<LeadKey<'_>> = later
            .iter()
            .map(|p| LeadKey { project: "prj", process: "proc", phone: PhoneKey::from_e164(p).expect("phone") })
            .collect();
        let recorded = session.lookup(&later_keys).expect("lookup");
        assert!(recorded.iter().all(Option::is_some), "the last group is recorded when the queue closes");
    }
}
