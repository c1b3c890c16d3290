//! One bulk request from arrival to answer, under the sandbox's one lock:
//! the injected fault, then authentication, version, duplicate-protection
//! block, rate limit, idempotent replay, and finally the work (`bulk.rs`).
//!
//! Holding one lock for the whole of a request makes each request atomic:
//! two concurrent requests with the same phone cannot both create it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::Serialize;

use super::bulk::{self, Executed, Rules};
use super::faults::{Dice, Draw, Fault};
use super::history::History;
use super::snapshot::{RequestRecord, StateSnapshot};
use super::state::Store;
use super::throttle::{DuplicateGuard, TokenBucket, retry_after_secs};
use super::validate::{self, LeadKey};
use crate::api::{self, ErrorBody, msg};

/// 400 for a request without `version=1.2` (the sandbox speaks only 1.2).
pub(crate) const UNSUPPORTED_VERSION: &str = "Unsupported API version: use version=1.2";
/// 413 for a body that could not be read whole.
pub(crate) const BODY_UNREADABLE: &str = "Request body too large or cut off";

/// An HTTP answer, before it becomes a response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Bytes,
    /// `Retry-After`, whole seconds.
    pub retry_after: Option<u64>,
}

impl Reply {
    /// `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, &ErrorBody { error: message.to_owned() })
    }

    /// Any serializable body.
    pub fn json(status: u16, body: &impl Serialize) -> Reply {
        match serde_json::to_vec(body) {
            Ok(bytes) => Reply { status, body: bytes.into(), retry_after: None },
            Err(_) => Reply {
                status: 500,
                body: Bytes::from_static(br#"{"error":"Internal server error"}"#),
                retry_after: None,
            },
        }
    }

    fn wait(mut self, wait: Duration) -> Reply {
        self.retry_after = Some(retry_after_secs(wait));
        self
    }
}

/// What a bulk request brought, as the HTTP layer read it.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `version` query parameter.
    pub version: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The body; `None` when it could not be read.
    pub body: Option<Bytes>,
    /// The fault drawn for it.
    pub fault: Option<Fault>,
}

/// What to do with the connection.
#[derive(Debug)]
pub(crate) enum Answer {
    Send(Reply),
    /// Close it without an answer.
    Drop,
}

/// The settings `Core` needs besides the rules.
#[derive(Debug)]
pub(crate) struct CoreSettings {
    pub api_key: String,
    pub idempotency: bool,
    pub dice: Dice,
    pub bucket: TokenBucket,
    pub guard: DuplicateGuard,
}

/// A stored answer for `Idempotency-Key` replays.
#[derive(Debug)]
struct Stored {
    reply: Reply,
    rejected: Vec<LeadKey>,
}

/// All the sandbox's mutable state.
#[derive(Debug)]
pub(crate) struct Core {
    settings: CoreSettings,
    rules: Rules,
    store: Store,
    history: History,
    replies: HashMap<String, Stored>,
    /// When the sandbox started (request times are reported from it).
    started: Instant,
}

impl Core {
    pub fn new(settings: CoreSettings, rules: Rules, store: Store) -> Core {
        Core { settings, rules, store, history: History::default(), replies: HashMap::new(), started: Instant::now() }
    }

    /// The latency and fault of the next bulk request.
    pub fn draw(&mut self) -> Draw {
        self.settings.dice.draw()
    }

    /// Handles one bulk request; returns the answer and its log record.
    pub fn handle(&mut self, req: Incoming, now: Instant) -> (Answer, RequestRecord) {
        let parsed = req.body.as_deref().map(validate::parse_body);
        let (lead_count, keys) = match &parsed {
            Some(Ok(body)) => (body.items.len(), validate::keys(&body.items)),
            _ => (0, Vec::new()),
        };
        self.history.note_arrivals(&keys);
        let mut record = RequestRecord {
            seq: self.history.next_seq(),
            status: None,
            lead_count,
            created: 0,
            errors: 0,
            idempotency_key: req.idempotency_key.clone(),
            fault: req.fault,
            replayed: false,
            at_ms: now.saturating_duration_since(self.started).as_millis() as u64,
            retry_after_s: None,
        };
        let answer = match req.fault {
            Some(Fault::Fail) => Answer::Send(Reply::error(500, msg::INTERNAL)),
            Some(Fault::Drop) => Answer::Drop,
            fault => {
                let (reply, rejected) = self.serve(&req, parsed, &keys, now, &mut record);
                if fault == Some(Fault::Lost) {
                    // Done, but the client never hears of it.
                    Answer::Send(Reply::error(500, msg::INTERNAL))
                } else {
                    self.history.told(&rejected);
                    Answer::Send(reply)
                }
            }
        };
        record.status = match &answer {
            Answer::Send(reply) => Some(reply.status),
            Answer::Drop => None,
        };
        if let Answer::Send(reply) = &answer {
            record.retry_after_s = reply.retry_after;
        }
        self.history.push(record.clone());
        (answer, record)
    }

    /// The checks in order, then the work; returns the reply and the keys
    /// of the leads it refuses.
    fn serve(
        &mut self,
        req: &Incoming,
        parsed: Option<Result<validate::Body, String>>,
        keys: &[LeadKey],
        now: Instant,
        record: &mut RequestRecord,
    ) -> (Reply, Vec<LeadKey>) {
        if !self.authorized(req.authorization.as_deref()) {
            return (Reply::error(401, msg::INVALID_API_KEY), Vec::new());
        }
        if req.version.as_deref() != Some(api::VERSION) {
            return (Reply::error(400, UNSUPPORTED_VERSION), Vec::new());
        }
        if let Some(mut left) = self.settings.guard.blocked(now) {
            if self.history.any_refused(keys) {
                self.settings.guard.restart(now);
                left = self.settings.guard.blocked(now).unwrap_or(left);
            }
            return (Reply::error(429, msg::KEY_BLOCKED).wait(left), Vec::new());
        }
        if let Err(wait) = self.settings.bucket.take(now) {
            return (Reply::error(429, msg::RATE_LIMITED).wait(wait), Vec::new());
        }
        let idempotency_key = req.idempotency_key.as_ref().filter(|_| self.settings.idempotency);
        if let Some(stored) = idempotency_key.and_then(|k| self.replies.get(k)) {
            record.replayed = true;
            return (stored.reply.clone(), stored.rejected.clone());
        }
        let executed = match parsed {
            None => Executed::whole(413, BODY_UNREADABLE),
            Some(Err(message)) => Executed::whole(400, &message),
            Some(Ok(body)) => bulk::execute(&mut self.store, &self.rules, body, keys),
        };
        record.created = executed.created;
        record.errors = executed.rejected.len();
        self.history.refused(&executed.rejected);
        self.settings.guard.record_bad(now, executed.rejected.len());
        if let Some(k) = idempotency_key {
            let stored = Stored { reply: executed.reply.clone(), rejected: executed.rejected.clone() };
            self.replies.insert(k.clone(), stored);
        }
        (executed.reply, executed.rejected)
    }

    /// `Authorization: Bearer <the key>` (the scheme in any case).
    pub(crate) fn authorized(&self, header: Option<&str>) -> bool {
        let Some((scheme, key)) = header.and_then(|h| h.trim().split_once(' ')) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && key.trim() == self.settings.api_key
    }

    /// The state report at `now`.
    pub fn snapshot(&self, now: Instant) -> StateSnapshot {
        StateSnapshot {
            project_id: self.rules.project_id.clone(),
            active: self.rules.active,
            process_ids: self.rules.processes.clone(),
            leads: self.store.snapshot(&self.rules.project_id, &self.rules.processes),
            call_attempts: self.store.call_attempts(),
            requests: self.history.requests(),
            resent_after_error: self.history.resent(),
            blocked_for_ms: self.settings.guard.blocked(now).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}
