//! Delivery: valid leads in input order, in batches of at most the batch
//! size, at most `--concurrency` batches in flight, each sent until the
//! server gives an answer we can act on.
//!
//! This module decides what happens after every kind of answer (the
//! classification itself is `api::Answer`): retries with backoff for faults
//! (`retry`), pauses and AIMD for 429s (`pacing`), the run-wide retry budget
//! (`budget`), splitting on 400 "Maximum of N", dropping a process on 404,
//! and stopping the run on 401/403 or a bug. Every lead it is given ends in
//! exactly one sorted row sent to the writer.

pub mod budget;
pub mod client;
pub mod pacing;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Answer, BulkRequest, ItemKey, ItemResult};
use crate::checks::UnknownProcesses;
use crate::input::Row;
use crate::journal::{self, Entry};
use crate::output::{Origin, Verdict};
use crate::vocab::Note;
use crate::writer::Outbox;

pub use budget::RetryBudget;
pub use client::Client;
pub use pacing::Pacer;

/// What is sent for one row.
#[derive(Debug, Clone)]
pub enum Payload {
    Lead(api::Lead),
    Existing(String),
}

/// One valid row on its way to the server.
#[derive(Debug)]
pub struct Item {
    pub row: Row,
    pub payload: Payload,
    /// An earlier attempt (this run, or a run being resumed) may have created it.
    pub may_exist: bool,
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
    pub stats: Stats,
}

impl Engine {
    pub fn new(
        client: Client,
        settings: Settings,
        unknown: UnknownProcesses,
        out: Outbox,
        cancel: CancellationToken,
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
        s.or_else(|| self.cancel.is_cancelled().then_some(Stop::Interrupted))
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
        let mut pending: Vec<Item> = Vec::new();
        let mut tasks = JoinSet::new();
        let mut open = true;
        loop {
            let size = self.batch_size.load(Ordering::Acquire);
            while open && pending.len() < size {
                match items.recv().await {
                    Some(chunk) => pending.extend(chunk),
                    None => open = false,
                }
            }
            if pending.is_empty() {
                break;
            }
            let batch: Vec<Item> = pending.drain(..pending.len().min(size)).collect();
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
                    self.set_stop(Stop::Output(format!("a batch task failed: {e}")));
                }
            }
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                self.set_stop(Stop::Output(format!("a batch task failed: {e}")));
            }
        }
        self.stopped()
    }

    /// Every item to retryable with `reason`; an item an attempt may have
    /// created says so, so that sending the file again confirms it.
    async fn sort_all(&self, items: Vec<Item>, reason: &str) {
        let rows = items
            .into_iter()
            .map(|it| (it.row, Verdict::Retryable { reason: reason.to_owned(), may_exist: it.may_exist }))
            .collect();
        self.sort(rows).await;
    }

    async fn sort(&self, rows: Vec<(Row, Verdict)>) {
        if self.out.sort(rows, true).await.is_err() {
            self.set_stop(Stop::Output("the output writer stopped".into()));
        }
    }

    /// Sends one batch (and the sub-batches a 400 or 404 splits it into).
    async fn deliver(&self, items: Vec<Item>) {
        let mut queue = vec![items];
        while let Some(items) = queue.pop() {
            self.deliver_one(items, &mut queue).await;
        }
    }

    async fn deliver_one(&self, items: Vec<Item>, queue: &mut Vec<Vec<Item>>) {
        let mut items = self.drop_unknown_processes(items).await;
        if items.is_empty() {
            return;
        }
        let key = uuid::Uuid::new_v4().to_string();
        let body = match self.body(&items) {
            Ok(b) => b,
            Err(e) => {
                self.set_stop(Stop::Fatal { status: 0, message: format!("cannot encode a request: {e}") });
                return self.sort_all(items, &format!("not sent: cannot encode the request: {e}")).await;
            }
        };
        if let Err(e) = self.out.sent(journal::ranges(items.iter().map(|i| i.row.line))).await {
            self.set_stop(Stop::Output(e.to_string()));
            return self.sort_all(items, &Stop::Output(e.to_string()).reason()).await;
        }
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff_min)
            .with_max_delay(self.settings.backoff_max)
            .with_factor(2.0)
            .without_max_times()
            .build();
        let mut attempts = 0u32;
        loop {
            if let Some(stop) = self.stopped() {
                return self.sort_all(items, &stop.reason()).await;
            }
            tokio::select! {
                () = self.pacer.ready() => {}
                () = self.cancel.cancelled() => continue,
            }
            attempts += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(leads = items.len(), attempt = attempts, key = %key, "sending batch");
            let started = std::time::Instant::now();
            let answer = self.client.send(body.clone(), &key).await;
            tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, answer = answer_name(&answer), "answer");
            match answer {
                Answer::Ok(response) => {
                    self.pacer.on_success();
                    self.budget.refund();
                    return self.sort_answer(items, response).await;
                }
                Answer::Fault(fault) => {
                    if fault.may_have_acted() {
                        items.iter_mut().for_each(|i| i.may_exist = true);
                    }
                    let reason = fault.to_string();
                    if attempts >= self.settings.max_attempts {
                        let reason = format!("{reason} (gave up after {attempts} attempts)");
                        return self.sort_all(items, &reason).await;
                    }
                    let cost = if fault.is_transport() { budget::TIMEOUT_COST } else { budget::RETRY_COST };
                    if !self.budget.withdraw(cost) {
                        let reason = format!(
                            "{reason} (not retried: the run's retry budget is spent, the server keeps failing)"
                        );
                        return self.sort_all(items, &reason).await;
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let delay = full_jitter(backoff.next().unwrap_or(self.settings.backoff_max));
                    tracing::info!(attempt = attempts, delay_ms = delay.as_millis() as u64, %reason, "retrying batch");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.cancel.cancelled() => {}
                    }
                }
                Answer::RateLimited { retry_after, message } => {
                    attempts -= 1; // the rate limiter speaking is not a failed attempt
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let wait =
                        retry_after.unwrap_or_else(|| full_jitter(backoff.next().unwrap_or(self.settings.backoff_max)));
                    tracing::info!(wait_s = wait.as_secs_f64(), %message, "rate limited by the server");
                    if let Err(e) = self.pacer.on_rate_limited(wait) {
                        self.set_stop(Stop::RateLimitWait { until: e.until, message });
                    }
                }
                Answer::TooLarge { max } => {
                    let max = max.max(1);
                    if items.len() <= max {
                        let message =
                            format!("the server refused a batch of {} as over its maximum of {max}", items.len());
                        self.set_stop(Stop::Fatal { status: 400, message });
                        continue;
                    }
                    if self.batch_size.fetch_min(max, Ordering::AcqRel) > max {
                        tracing::warn!(max, "the server's maximum batch is smaller: using it for the rest of the run");
                        let _ = self.out.journal(Entry::BatchSize { size: max }).await;
                    }
                    let mut rest = items;
                    while rest.len() > max {
                        let tail = rest.split_off(max);
                        queue.push(std::mem::replace(&mut rest, tail));
                    }
                    queue.push(rest);
                    return;
                }
                Answer::ProcessNotFound { process_id } => {
                    self.unknown.write().unwrap_or_else(|e| e.into_inner()).insert(process_id.clone());
                    let _ = self.out.journal(Entry::ProcessNotFound { process_id: process_id.clone() }).await;
                    let message = api::msg::process_not_found(&process_id);
                    let (gone, rest): (Vec<Item>, Vec<Item>) = items
                        .into_iter()
                        .partition(|i| matches!(&i.payload, Payload::Lead(l) if l.process_id == process_id));
                    if gone.is_empty() {
                        let message =
                            format!("the server answered 404 for process {process_id}, which this batch does not hold");
                        self.set_stop(Stop::Fatal { status: 404, message });
                        return self
                            .sort_all(rest, &Stop::Fatal { status: 404, message: String::new() }.reason())
                            .await;
                    }
                    let rows = gone
                        .into_iter()
                        .map(|i| {
                            let v = Verdict::Rejected {
                                code: Cow::Borrowed("process_not_found"),
                                reason: message.clone(),
                                origin: Origin::Server,
                                http_status: Some(404),
                            };
                            (i.row, v)
                        })
                        .collect();
                    self.sort(rows).await;
                    queue.push(rest);
                    return;
                }
                Answer::Denied { status, message } => {
                    self.set_stop(Stop::Denied { status, message });
                }
                Answer::Fatal { status, message } => {
                    self.set_stop(Stop::Fatal { status, message });
                }
            }
        }
    }

    /// Leads of a process the server already answered 404 for never leave.
    async fn drop_unknown_processes(&self, items: Vec<Item>) -> Vec<Item> {
        let (gone, keep): (Vec<Item>, Vec<Item>) = {
            let unknown = self.unknown.read().unwrap_or_else(|e| e.into_inner());
            if unknown.is_empty() {
                return items;
            }
            items.into_iter().partition(|i| matches!(&i.payload, Payload::Lead(l) if unknown.contains(&l.process_id)))
        };
        if !gone.is_empty() {
            let rows = gone
                .into_iter()
                .map(|i| {
                    let process = match &i.payload {
                        Payload::Lead(l) => l.process_id.clone(),
                        Payload::Existing(_) => String::new(),
                    };
                    let v = Verdict::Rejected {
                        code: Cow::Borrowed("unknown_process"),
                        reason: format!("process {process} was answered 404 (Process not found) earlier in this run"),
                        origin: Origin::Local,
                        http_status: None,
                    };
                    (i.row, v)
                })
                .collect();
            self.sort(rows).await;
        }
        keep
    }

    /// The request body, serialized once per batch (attempts reuse it) from
    /// references to the items' leads: no lead is copied.
    fn body(&self, items: &[Item]) -> serde_json::Result<bytes::Bytes> {
        let mut leads = Vec::new();
        let mut ids = Vec::new();
        for i in items {
            match &i.payload {
                Payload::Lead(l) => leads.push(l),
                Payload::Existing(id) => ids.push(id.as_str()),
            }
        }
        let request = BulkRequest {
            leads: (!leads.is_empty()).then_some(leads),
            lead_ids: (!ids.is_empty()).then_some(ids),
            initialize: self.settings.initialize,
        };
        serde_json::to_vec(&request).map(bytes::Bytes::from)
    }

    /// Sorts a 200 answer: created leads accepted, refused ones rejected,
    /// except an "already exists" for a lead an earlier attempt may have
    /// created, which that attempt did create: accepted, with a note.
    async fn sort_answer(&self, items: Vec<Item>, response: api::BulkResponse) {
        let keys: Vec<ItemKey<'_>> = items
            .iter()
            .map(|i| match &i.payload {
                Payload::Lead(l) => ItemKey {
                    external_id: l.external_id.as_deref(),
                    phone_number: Some(&l.phone_number),
                    process_id: Some(&l.process_id),
                    lead_id: None,
                },
                Payload::Existing(id) => ItemKey { lead_id: Some(id), ..ItemKey::default() },
            })
            .collect();
        let results = api::match_results(&keys, response);
        drop(keys);
        let rows = items
            .into_iter()
            .zip(results)
            .map(|(item, result)| {
                let e164 = match &item.payload {
                    Payload::Lead(l) => Some(l.phone_number.clone()),
                    Payload::Existing(_) => None,
                };
                let verdict = match result {
                    Some(ItemResult::Created { lead_id }) => {
                        let lead_id = lead_id.or_else(|| match &item.payload {
                            Payload::Existing(id) => Some(id.clone()),
                            Payload::Lead(_) => None,
                        });
                        Verdict::Accepted { lead_id, e164, note: Note::Created }
                    }
                    Some(ItemResult::Refused { message })
                        if item.may_exist && message.ends_with(api::msg::ALREADY_EXISTS_TAIL) =>
                    {
                        Verdict::Accepted { lead_id: None, e164, note: Note::LostResponseConfirmed }
                    }
                    Some(ItemResult::Refused { message }) => Verdict::Rejected {
                        code: Cow::Borrowed(api::server_code(&message)),
                        reason: message,
                        origin: Origin::Server,
                        http_status: Some(200),
                    },
                    None => Verdict::Retryable {
                        reason: "the server's answer did not mention this lead".into(),
                        may_exist: true,
                    },
                };
                (item.row, verdict)
            })
            .collect();
        self.sort(rows).await;
    }
}

fn answer_name(a: &Answer) -> &'static str {
    match a {
        Answer::Ok(_) => "ok",
        Answer::Fault(_) => "fault",
        Answer::RateLimited { .. } => "rate_limited",
        Answer::TooLarge { .. } => "too_large",
        Answer::ProcessNotFound { .. } => "process_not_found",
        Answer::Denied { .. } => "denied",
        Answer::Fatal { .. } => "fatal",
    }
}

/// "Full jitter": a uniformly random delay between zero and the backoff.
fn full_jitter(cap: Duration) -> Duration {
    cap.mul_f64(rand::random::<f64>())
}
