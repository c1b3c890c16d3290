//! Delivery: valid leads in input order, in batches of at most the batch
//! size, at most `--concurrency` batches in flight, each sent until the
//! server gives an answer we can act on.
//!
//! By concern: `client` sends one request and classifies the answer (with
//! `api::Answer`); `decide` is the pure function that says what follows an
//! answer (retry, give up, wait out a 429, split on 400 "Maximum of N",
//! drop a process on 404, stop the run); `batch` performs those steps for
//! one batch; `sorting` turns answers into sorted rows; `pacing` holds the
//! 429 pause, AIMD and `--rate`; `budget` the run-wide retry budget. This
//! file runs the batches. Every lead it is given ends in exactly one
//! sorted row sent to the writer, even when a batch's task fails.

mod batch;
pub mod budget;
pub(crate) mod claims;
pub mod client;
pub mod decide;
mod item;
pub mod known;
pub mod pacing;
mod sorting;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::checks::UnknownProcesses;
use crate::ledger::{Session, Writes};
use crate::output::Verdict;
use crate::writer::{LedgerFailure, Outbox};

pub use budget::RetryBudget;
pub use client::Client;
pub use item::{Item, Payload, trace_lead};
pub use pacing::Pacer;

/// A batch also ends once its rows took this many input bytes, so the
/// batches in flight hold a bounded amount of memory whatever the rows.
pub const BATCH_BYTES: usize = 4 << 20;

/// The next batch: up to `size` items of one kind (leads, or lead ids),
/// fewer when they pass [`BATCH_BYTES`] (always at least one).
fn take_batch(pending: &mut VecDeque<Item>, size: usize) -> Vec<Item> {
    let mut bytes = 0;
    let mut n = 0;
    let ids = pending.front().is_some_and(Item::sends_id);
    for item in pending.iter().take(size) {
        // A request carries leads or lead ids, never both.
        if n > 0 && (bytes + item.bytes() > BATCH_BYTES || item.sends_id() != ids) {
            break;
        }
        bytes += item.bytes();
        n += 1;
    }
    pending.drain(..n).collect()
}

/// Why a run stopped sending before the input ran out.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// 401 or 403: the key, the project id, or the project itself.
    Denied { status: u16, message: String },
    /// An answer leadctl cannot act on (another 400, 501, ...): a bug.
    Fatal { status: u16, message: String },
    /// Waiting out 429s would pass `--max-rate-limit-wait`.
    RateLimitWait { until: SystemTime, message: String },
    /// The output writer failed (disk full, ...).
    Output(String),
    /// A batch's task failed: a bug in leadctl. Its rows are retryable.
    Internal(String),
    /// A 3xx: redirects are not followed, so the leads cannot go elsewhere.
    Redirected { status: u16, location: Option<String> },
    /// The server's certificate (or the TLS handshake) cannot be trusted.
    Tls { reason: String },
    /// The ledger failed (claims, records, or a lease not renewed in time):
    /// sending on could send a lead twice.
    Ledger(String),
}

impl Stop {
    /// The reason written on every row this stop leaves unsent.
    pub fn reason(&self) -> String {
        match self {
            Stop::Interrupted => "not sent: the run was interrupted".into(),
            Stop::Denied { status, message } => format!("not sent: the run stopped on HTTP {status}: {message}"),
            Stop::Fatal { status, message } => format!("not sent: the run stopped on HTTP {status}: {message}"),
            Stop::RateLimitWait { until, message } => format!(
                "not sent: rate limited ({message}); the server asked to come back at {}",
                humantime::format_rfc3339_seconds(*until)
            ),
            Stop::Output(e) => format!("not sent: the output writer failed: {e}"),
            Stop::Ledger(e) => format!("not sent: the ledger failed: {e}"),
            Stop::Internal(e) => format!("not sent: the run stopped on an internal error: {e}"),
            Stop::Redirected { status, location } => format!(
                "not sent: the run stopped on HTTP {status}, a redirect to {} (not followed)",
                location.as_deref().unwrap_or("an unreadable Location")
            ),
            Stop::Tls { reason } => format!("not sent: the run stopped: TLS failed: {reason}"),
        }
    }
}

/// The delivery settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch_size: usize,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub max_attempts: u32,
    pub max_rate_limit_wait: Duration,
    pub initialize: bool,
    /// `--resend-known`: leads the ledger knows are sent all the same.
    pub resend_known: bool,
    /// First backoff delay (full jitter below it), doubling up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Counters of the requests a run made.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Answers by HTTP status (`network` when none came).
    pub by_status: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Stats {
    fn count_answer(&self, answer: &api::Answer) {
        let mut m = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(answer.status_label()).or_default() += 1;
    }

    /// Answers by HTTP status so far.
    pub fn by_status(&self) -> std::collections::BTreeMap<String, u64> {
        self.by_status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A run's delivery: shared by every batch task.
pub struct Engine {
    client: Client,
    settings: Settings,
    pacer: Arc<Pacer>,
    budget: RetryBudget,
    unknown: UnknownProcesses,
    out: Outbox,
    cancel: CancellationToken,
    batch_size: AtomicUsize,
    stop: Mutex<Option<Stop>>,
    /// The ledger's claims and records, when the run uses one.
    ledger: Option<(Session, LedgerFailure)>,
    pub stats: Stats,
}

impl Engine {
    pub fn new(
        client: Client,
        settings: Settings,
        unknown: UnknownProcesses,
        out: Outbox,
        cancel: CancellationToken,
        ledger: Option<(Session, LedgerFailure)>,
    ) -> Engine {
        Engine {
            pacer: Arc::new(Pacer::new(settings.concurrency, settings.max_rate_limit_wait, settings.rate)),
            batch_size: AtomicUsize::new(settings.batch_size),
            client,
            settings,
            budget: RetryBudget::default(),
            unknown,
            out,
            cancel,
            stop: Mutex::new(None),
            ledger,
            stats: Stats::default(),
        }
    }

    /// The pacer, for the progress display (429 waits).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The first reason the run stopped sending, if it did.
    pub fn stopped(&self) -> Option<Stop> {
        let s = self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.or_else(|| self.ledger_stop()).or_else(|| self.cancel.is_cancelled().then_some(Stop::Interrupted))
    }

    /// The ledger stops the run when it failed to record, or when the
    /// run's claims could not be renewed in time (another run may take them).
    fn ledger_stop(&self) -> Option<Stop> {
        let (session, failure) = self.ledger.as_ref()?;
        if let Some(why) = failure.get() {
            return Some(Stop::Ledger(why.to_owned()));
        }
        (!session.claims_safe())
            .then(|| Stop::Ledger("the claims on the leads being sent could not be renewed in time".into()))
    }

    fn set_stop(&self, stop: Stop) {
        let mut s = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_none() {
            tracing::warn!(reason = %stop.reason(), "stopping: no new batches will be sent");
            *s = Some(stop);
        }
    }

    /// Delivers every item the channel yields; returns why it stopped early, if it did.
    pub async fn run(self: Arc<Self>, mut items: mpsc::Receiver<Vec<Item>>) -> Option<Stop> {
        let mut pending: VecDeque<Item> = VecDeque::new();
        let mut pending_bytes = 0usize;
        let mut tasks = JoinSet::new();
        let mut open = true;
        loop {
            let size = self.batch_size.load(Ordering::Acquire);
            while open && pending.len() < size && pending_bytes < BATCH_BYTES {
                match items.recv().await {
                    Some(chunk) => {
                        pending_bytes += chunk.iter().map(Item::bytes).sum::<usize>();
                        pending.extend(chunk);
                    }
                    None => open = false,
                }
            }
            if pending.is_empty() {
                break;
            }
            let batch = take_batch(&mut pending, size);
            pending_bytes = pending_bytes.saturating_sub(batch.iter().map(Item::bytes).sum());
            if let Some(stop) = self.stopped() {
                self.sort_all(batch, &stop.reason()).await;
                continue;
            }
            let slot = tokio::select! {
                s = self.pacer.slot() => s,
                () = self.cancel.cancelled() => {
                    self.sort_all(batch, &Stop::Interrupted.reason()).await;
                    continue;
                }
            };
            let engine = Arc::clone(&self);
            tasks.spawn(async move {
                engine.deliver(batch).await;
                drop(slot);
            });
            while let Some(r) = tasks.try_join_next() {
                if let Err(e) = r {
                    self.set_stop(Stop::Internal(format!("a batch task failed: {e}")));
                }
            }
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                self.set_stop(Stop::Internal(format!("a batch task failed: {e}")));
            }
        }
        self.stopped()
    }

    /// Every item to retryable with `reason`; an item an attempt may have
    /// created says so, so that sending the file again confirms it.
    async fn sort_all(&self, items: Vec<Item>, reason: &str) {
        let sorted = items.into_iter().map(|it| {
            let v = Verdict::Retryable { reason: reason.to_owned(), may_exist: it.may_exist };
            (it, v)
        });
        self.sort(sorted.collect()).await;
    }

    /// Sends items with their verdicts to the writer, with what the ledger
    /// must record of them.
    async fn sort(&self, sorted: Vec<(Item, Verdict)>) {
        let mut writes = Writes::default();
        if self.ledger.is_some() {
            for (item, verdict) in &sorted {
                item.ledger_write(verdict, self.settings.initialize, &mut writes);
            }
        }
        let rows = sorted.into_iter().map(|(item, verdict)| (item.row, verdict)).collect();
        if self.out.sort_and_record(rows, true, writes).await.is_err() {
            self.set_stop(Stop::Output("the output writer stopped".into()));
        }
    }
}
