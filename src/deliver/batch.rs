//! One batch through its attempts: the engine sends it, asks `decide` what
//! follows each answer, and performs that step. A 400 or 404 splits a batch
//! into pieces, each sent the same way.
//!
//! The pieces are held by [`InHand`] until they are sorted: if the task
//! fails (a panic is a bug, but a lead must never vanish with it), whatever
//! it still holds goes to retryable, marked as possibly existing.

use std::sync::atomic::Ordering;

use backon::{BackoffBuilder, ExponentialBuilder};

use super::decide::{Context, Step, decide};
use super::{Engine, Item, Payload, Stop};
use crate::api::{Answer, BulkRequest};
use crate::journal::{Entry, RangeSet};
use crate::output::Verdict;
use crate::writer::Outbox;

/// The pieces of a batch not sorted yet. The last is the one being sent.
pub(super) struct InHand {
    pub(super) pieces: Vec<Vec<Item>>,
    out: Outbox,
}

impl Drop for InHand {
    fn drop(&mut self) {
        let reason = "not sent: the batch's task failed (a bug in leadctl)";
        let rows: Vec<_> = self
            .pieces
            .drain(..)
            .flatten()
            .map(|i| (i.row, Verdict::Retryable { reason: reason.to_owned(), may_exist: true }))
            .collect();
        if rows.is_empty() {
            return;
        }
        // Dropped while unwinding inside the runtime: a task of its own
        // hands the rows to the writer, which waits for every sender.
        let out = self.out.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = out.sort(rows, true).await;
            });
        }
    }
}

/// What became of a piece after a step.
enum Next {
    /// Send the same piece again.
    Again,
    /// The piece is done (sorted, or replaced by smaller pieces).
    Done,
}

impl Engine {
    /// Delivers one batch, and the pieces a 400 or 404 splits it into.
    pub(super) async fn deliver(&self, batch: Vec<Item>) {
        let mut hand = InHand { pieces: vec![batch], out: self.out.clone() };
        while !hand.pieces.is_empty() {
            self.deliver_piece(&mut hand).await;
        }
    }

    /// Sends the last piece in hand until it is done.
    async fn deliver_piece(&self, hand: &mut InHand) {
        self.drop_unknown_processes(hand).await;
        if self.split_to_learned_size(hand).await {
            return;
        }
        if !self.claim_piece(hand).await {
            // The claims took leads out of the piece (or stopped the run):
            // go round again with what is left.
            return self.give_up_if_stopped(hand).await;
        }
        let Some(piece) = hand.pieces.last() else { return };
        let body = match self.body(piece) {
            Ok(b) => b,
            Err(e) => {
                self.set_stop(Stop::Fatal { status: 0, message: format!("cannot encode a request: {e}") });
                return self.give_up(hand, &format!("not sent: cannot encode the request: {e}")).await;
            }
        };
        if let Err(e) = self.out.sent(RangeSet::of(piece.iter().map(|i| i.row.ordinal))).await {
            self.set_stop(Stop::Output(e.to_string()));
            return self.give_up(hand, &Stop::Output(e.to_string()).reason()).await;
        }
        crate::crash::at(crate::crash::Point::Sent);
        let key = uuid::Uuid::new_v4().to_string();
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff_min)
            .with_max_delay(self.settings.backoff_max)
            .with_factor(2.0)
            .without_max_times()
            .build();
        let mut attempt = 0u32;
        loop {
            if let Some(stop) = self.stopped() {
                return self.give_up(hand, &stop.reason()).await;
            }
            tokio::select! {
                () = self.pacer.ready() => {}
                () = self.cancel.cancelled() => continue,
            }
            if !self.lease_holds(hand).await {
                continue; // the loop's first check sorts the piece as the stop says
            }
            attempt += 1;
            let answer = self.attempt(body.clone(), &key, hand, attempt).await;
            let rate_limited = matches!(answer, Answer::RateLimited { .. });
            let step = self.decide(answer, hand, attempt);
            if rate_limited {
                attempt -= 1; // the rate limiter speaking is not a failed attempt
            }
            match self.perform(step, hand, &mut backoff, attempt).await {
                Next::Again => {}
                Next::Done => return,
            }
        }
    }

    /// Right before a request: the claims on the piece's leads must outlast
    /// it (a request is started only with more lease left than its timeout,
    /// renewing first if need be). A lease that lapsed stops the run: another
    /// run may be sending these leads.
    async fn lease_holds(&self, hand: &InHand) -> bool {
        let Some((session, _)) = &self.ledger else { return true };
        if !hand.pieces.last().is_some_and(|p| p.iter().any(|i| i.claimed)) {
            return true;
        }
        match session.ready_to_send().await {
            Ok(()) => true,
            Err(e) => {
                self.set_stop(Stop::Ledger(e.to_string()));
                false
            }
        }
    }

    /// One request of the last piece in hand.
    async fn attempt(&self, body: bytes::Bytes, key: &str, hand: &InHand, attempt: u32) -> Answer {
        let leads = hand.pieces.last().map_or(0, Vec::len);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        tracing::info!(leads, attempt, key, "sending batch");
        hand.pieces.last().into_iter().flatten().for_each(super::trace_lead);
        let started = std::time::Instant::now();
        let answer = self.client.send(body, leads, key).await;
        self.stats.count_answer(&answer);
        tracing::info!(leads, elapsed_ms = started.elapsed().as_millis() as u64, answer = answer.name(), "answer");
        answer
    }

    fn decide(&self, answer: Answer, hand: &InHand, attempt: u32) -> Step {
        let piece: &[Item] = hand.pieces.last().map_or(&[], Vec::as_slice);
        let ctx = Context {
            attempt,
            max_attempts: self.settings.max_attempts,
            budget: self.budget.tokens(),
            batch_len: piece.len(),
            waited: self.pacer.waited(),
            max_wait: self.settings.max_rate_limit_wait,
            paused_for: self.pacer.paused_for().unwrap_or_default(),
        };
        let holds = |process: &str| piece.iter().any(|i| i.process_id() == Some(process));
        decide(answer, &ctx, holds)
    }

    /// Performs a step on the last piece in hand.
    async fn perform(
        &self,
        step: Step,
        hand: &mut InHand,
        backoff: &mut impl Iterator<Item = std::time::Duration>,
        attempt: u32,
    ) -> Next {
        match step {
            Step::Sort(response) => {
                self.pacer.on_success();
                self.budget.refund();
                if let Some(piece) = hand.pieces.pop() {
                    self.sort_answer(piece, response).await;
                }
                Next::Done
            }
            Step::Retry { cost, may_exist } => {
                self.mark_may_exist(hand, may_exist);
                if !self.budget.withdraw(cost) {
                    // Another batch took the last tokens since `decide` looked.
                    self.give_up(hand, "not retried: the run's retry budget is spent, the server keeps failing").await;
                    return Next::Done;
                }
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                let delay = full_jitter(backoff.next().unwrap_or(self.settings.backoff_max));
                tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, "retrying batch");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.cancel.cancelled() => {}
                }
                Next::Again
            }
            Step::GiveUp { reason, may_exist } => {
                self.mark_may_exist(hand, may_exist);
                self.give_up(hand, &reason).await;
                Next::Done
            }
            Step::WaitOut { wait, message } => {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let wait = wait.unwrap_or_else(|| full_jitter(backoff.next().unwrap_or(self.settings.backoff_max)));
                tracing::debug!(wait_s = wait.as_secs_f64(), %message, "rate limited by the server: pausing");
                if let Err(e) = self.pacer.on_rate_limited(wait) {
                    self.set_stop(Stop::RateLimitWait { until: e.until, message });
                }
                Next::Again
            }
            Step::Split { max } => {
                self.learn_batch_size(max).await;
                Next::Done
            }
            Step::DropProcess { process_id } => {
                self.drop_process(hand, process_id).await;
                Next::Done
            }
            Step::Stop(stop) => {
                self.set_stop(stop);
                Next::Again // the loop's first check sorts the piece as the stop says
            }
        }
    }

    fn mark_may_exist(&self, hand: &mut InHand, may_exist: bool) {
        if let (true, Some(piece)) = (may_exist, hand.pieces.last_mut()) {
            piece.iter_mut().for_each(|i| i.may_exist = true);
        }
    }

    /// When the run stopped, the last piece in hand goes to retryable.
    async fn give_up_if_stopped(&self, hand: &mut InHand) {
        if let Some(stop) = self.stopped() {
            self.give_up(hand, &stop.reason()).await;
        }
    }

    /// The last piece in hand to retryable.
    async fn give_up(&self, hand: &mut InHand, reason: &str) {
        if let Some(piece) = hand.pieces.pop() {
            self.sort_all(piece, reason).await;
        }
    }

    /// The server's maximum is smaller than the batch size: every later
    /// batch is cut to it (the engine reads the size when forming them).
    async fn learn_batch_size(&self, max: usize) {
        if self.batch_size.fetch_min(max, Ordering::AcqRel) > max {
            tracing::warn!(max, "the server's maximum batch is smaller: using it for the rest of the run");
            let _ = self.out.journal(Entry::BatchSize { size: max }).await;
        }
    }

    /// Cuts the last piece to the batch size learned from the server, if it
    /// is larger (it was formed before the server said so). Returns whether
    /// it cut.
    async fn split_to_learned_size(&self, hand: &mut InHand) -> bool {
        let max = self.batch_size.load(Ordering::Acquire).max(1);
        match hand.pieces.last() {
            Some(piece) if piece.len() > max => {}
            _ => return false,
        }
        let Some(mut rest) = hand.pieces.pop() else { return false };
        // Pieces are sent from the back: keep the input order.
        let mut cut = Vec::new();
        while rest.len() > max {
            let tail = rest.split_off(max);
            cut.push(std::mem::replace(&mut rest, tail));
        }
        cut.push(rest);
        hand.pieces.extend(cut.into_iter().rev());
        true
    }

    /// The request body, serialized once per piece (attempts reuse it) from
    /// references to the items' leads: no lead is copied.
    fn body(&self, items: &[Item]) -> serde_json::Result<bytes::Bytes> {
        let mut leads = Vec::new();
        let mut ids = Vec::new();
        for i in items {
            match &i.payload {
                Payload::Lead(l) => leads.push(l),
                Payload::Existing(id) | Payload::Initialize { lead_id: id, .. } => ids.push(id.as_str()),
            }
        }
        let request = BulkRequest {
            leads: (!leads.is_empty()).then_some(leads),
            lead_ids: (!ids.is_empty()).then_some(ids),
            initialize: self.settings.initialize,
        };
        serde_json::to_vec(&request).map(bytes::Bytes::from)
    }
}

/// "Full jitter": a uniformly random delay between zero and the backoff.
fn full_jitter(cap: std::time::Duration) -> std::time::Duration {
    cap.mul_f64(rand::random::<f64>())
}
