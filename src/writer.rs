//! The one writer of a run: a thread that owns the three sinks and the
//! journal, so every sorted row and every journal entry goes through one
//! queue in one order. Readers, checkers and senders only send it events.

use std::io;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::input::Row;
use crate::journal::{Entry, Journal, RangeSet};
use crate::output::{Sinks, Tally, Verdict};

/// What the writer is asked to do.
pub enum Event {
    /// Rows and where they go. `answered` marks the rows of a server answer:
    /// they are handed to the OS at once, so `kill -9` cannot lose them.
    Sorted { rows: Vec<(Row, Verdict)>, answered: bool },
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
        self.0.send(Event::Sorted { rows, answered }).await.map_err(|_| WriterGone)
    }

    /// Sorts rows (from a plain thread).
    pub fn sort_blocking(&self, rows: Vec<(Row, Verdict)>) -> Result<(), WriterGone> {
        self.0.blocking_send(Event::Sorted { rows, answered: false }).map_err(|_| WriterGone)
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

/// The running writer thread.
pub struct WriterHandle(JoinHandle<io::Result<(Sinks, Option<Journal>)>>);

/// Starts the writer. `journal` is `None` for `validate` and `--dry-run`.
pub fn spawn(
    sinks: Sinks,
    journal: Option<Journal>,
    counters: std::sync::Arc<crate::progress::Counters>,
) -> io::Result<(Outbox, WriterHandle)> {
    // Small on purpose: an event can hold a whole batch of rows, and a slow
    // disk must slow the senders down rather than let rows pile up in memory.
    let (tx, mut rx) = mpsc::channel::<Event>(8);
    let handle = std::thread::Builder::new().name("leadctl-writer".into()).spawn(move || {
        let mut sinks = sinks;
        let mut journal = journal;
        if journal.is_some() {
            sinks.track_done();
        }
        while let Some(event) = rx.blocking_recv() {
            match event {
                Event::Sorted { rows, answered } => {
                    for (row, verdict) in &rows {
                        sinks.sort(row, verdict)?;
                    }
                    counters.publish(sinks.tally());
                    if answered {
                        sinks.flush(false)?;
                        record_done(&mut sinks, journal.as_mut())?;
                    }
                }
                Event::Sent { rows, ack } => {
                    let result = sinks.flush(true).and_then(|()| match journal.as_mut() {
                        Some(j) => {
                            record_done(&mut sinks, Some(&mut *j))?;
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
                    if let Some(j) = journal.as_mut() {
                        j.append(&entry)?;
                    }
                }
            }
        }
        sinks.flush(true)?;
        record_done(&mut sinks, journal.as_mut())?;
        Ok((sinks, journal))
    })?;
    Ok((Outbox(tx), WriterHandle(handle)))
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
