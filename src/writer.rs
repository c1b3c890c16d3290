//! The one writer of a run: a thread that owns the three sinks and the
//! journal, so every sorted row and every journal entry goes through one
//! queue in one order. Readers, checkers and senders only send it events.

use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::crash;
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
            desk.handle(event)?;
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
        Desk { sinks, journal, counters, ledger }
    }

    /// Handles one event. An answered batch's rows go to the files, then
    /// its answers to the ledger, then its `Done` to the journal, before
    /// the next event: a crash can replay at most what was in flight.
    fn handle(&mut self, event: Event) -> io::Result<()> {
        match event {
            Event::Sorted { rows, answered, ledger: writes } => {
                for (row, verdict) in &rows {
                    self.sinks.sort(row, verdict)?;
                }
                self.counters.publish(self.sinks.tally());
                if answered {
                    self.sinks.flush(false)?;
                    crash::at(crash::Point::Files);
                    record_in_ledger(self.ledger.as_ref(), writes);
                    crash::at(crash::Point::Ledger);
                    record_done(&mut self.sinks, self.journal.as_mut())?;
                    crash::at(crash::Point::Done);
                }
            }
            Event::Sent { rows, ack } => {
                let result = self.sinks.flush(true).and_then(|()| match self.journal.as_mut() {
                    Some(j) => {
                        record_done(&mut self.sinks, Some(&mut *j))?;
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

    /// The queue is closed: everything to disk.
    fn finish(mut self) -> io::Result<(Sinks, Option<Journal>)> {
        self.sinks.flush(true)?;
        record_done(&mut self.sinks, self.journal.as_mut())?;
        Ok((self.sinks, self.journal))
    }
}

/// Records answers in the ledger (the rows are in the files already; a busy
/// ledger is waited for). A ledger that cannot be written is not asked
/// again: the failure stops the sending and ends the run with exit 1 and
/// the `leadctl ledger import RUN_DIR` advice (the files keep every row and
/// answer, which the import records).
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
    use crate::ledger::{LeadKey, Location, Outcome, PhoneKey};
    use crate::output::{FileKind, Layout, OutFormat};
    use crate::vocab::Note;

    fn answered(i: u64, phone: &str) -> Event {
        let row = Row {
            ordinal: i,
            line: i + 2,
            bytes: 20,
            raw: crate::input::Raw::Csv(csv::ByteRecord::from(vec![phone])),
            fields: Ok(Default::default()),
            provenance: None,
        };
        let verdict =
            Verdict::Accepted { lead_id: Some(format!("ld_{i}")), e164: Some(phone.into()), note: Note::Created };
        let key = PhoneKey::from_e164(phone).expect("a phone");
        let outcome = Outcome::Accepted { lead_id: Some(format!("ld_{i}")), initialized: false };
        let mut writes = Writes::default();
        writes.record(LeadKey { project: "prj", process: "proc", phone: key }, outcome);
        Event::Sorted { rows: vec![(row, verdict)], answered: true, ledger: writes }
    }

    fn sinks(dir: &std::path::Path) -> Sinks {
        let kinds = [FileKind::Accepted, FileKind::Rejected, FileKind::Retryable];
        let run_dir = crate::rundir::Dir::open(dir).expect("run dir");
        let layout = Layout {
            format: OutFormat::Csv,
            dialect: Default::default(),
            columns: vec!["phone".to_owned()],
            origin: "leads.csv".into(),
        };
        Sinks::create(&run_dir, &layout, &kinds).expect("sinks")
    }

    fn journal(dir: &std::path::Path) -> Journal {
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
        let run_dir = crate::rundir::Dir::open(dir).expect("run dir");
        Journal::create(&run_dir, &start).expect("journal")
    }

    fn dones(dir: &std::path::Path) -> usize {
        let text = std::fs::read_to_string(dir.join(crate::journal::FILE_NAME)).expect("journal");
        text.lines().filter(|l| l.contains(r#""event":"done""#)).count()
    }

    fn key(phone: &str) -> LeadKey<'_> {
        LeadKey { project: "prj", process: "proc", phone: PhoneKey::from_e164(phone).expect("phone") }
    }

    /// Every answered batch is in the files, then in the ledger, then done
    /// in the journal before the writer takes the next event, however many
    /// wait behind it: a crash replays at most what was in flight (answers
    /// held back as a group were replayed after `kill -9`, up to 8,000).
    #[test]
    fn each_answer_is_recorded_then_done_before_the_next_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::parse(&dir.path().join("ledger.db").display().to_string()).expect("location");
        let session = Session::open(location, "https://api.test", "run-1", "host", Default::default()).expect("ledger");
        let failure = LedgerFailure::default();
        let mut desk = Desk::new(
            sinks(dir.path()),
            Some(journal(dir.path())),
            Default::default(),
            Some((session.clone(), failure.clone())),
        );
        let phones = ["+14155550101", "+14155550102", "+14155550103"];
        for (i, phone) in phones.iter().enumerate() {
            desk.handle(answered(i as u64, phone)).expect("handled");
            let known = session.lookup(&phones.map(key), false).expect("lookup");
            assert_eq!(known.iter().filter(|k| k.is_some()).count(), i + 1, "answer {i} is in the ledger at once");
            // One `Done` when the run started (the files' headers) is not
            // written by the desk: these are the answers' own.
            assert_eq!(dones(dir.path()), i + 1, "answer {i} is done in the journal at once");
        }
        assert_eq!(failure.get(), None);
    }

    /// A ledger that cannot be written is noted for the run (which then
    /// stops and ends with exit 1 and the import advice); the rows stay in
    /// the files and the journal, which `leadctl ledger import` reads.
    #[test]
    fn a_ledger_that_cannot_be_written_is_noted_and_the_rows_kept() {
        use crate::ledger::fault::{Fault, Faults, FaultyStore, Op};
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::parse(&dir.path().join("ledger.db").display().to_string()).expect("location");
        let faults = Faults::default();
        let store =
            FaultyStore::new(crate::ledger::open(&location, &Default::default()).expect("store"), faults.clone());
        let ledger = crate::ledger::Ledger::from_store(Box::new(store), Default::default()).expect("ledger");
        let claimant = crate::ledger::Claimant::this_process("run-1", "host");
        let options =
            crate::ledger::SessionOptions { busy_wait: std::time::Duration::from_millis(300), ..Default::default() };
        let session = Session::over(ledger, claimant, "https://api.test", options);
        let failure = LedgerFailure::default();
        let mut desk = Desk::new(
            sinks(dir.path()),
            Some(journal(dir.path())),
            Default::default(),
            Some((session, failure.clone())),
        );

        faults.always(Op::Record, Fault::busy());
        desk.handle(answered(0, "+14155550101")).expect("the rows are written whatever the ledger does");
        let why = failure.get().expect("the failure is noted");
        assert!(why.contains("busy") && why.contains("trying"), "{why}");
        assert!(faults.calls(Op::Record) > 1, "a busy ledger is asked again before giving up");
        assert_eq!(dones(dir.path()), 1);
        let accepted = std::fs::read_to_string(dir.path().join("accepted.csv")).expect("accepted");
        assert!(accepted.contains("+14155550101"), "{accepted}");
    }
}
