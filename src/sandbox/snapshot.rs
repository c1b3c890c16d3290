//! The sandbox's state as tests and humans read it: the JSON of
//! `GET /_sandbox/state` and of [`Sandbox::state`](super::Sandbox::state).
//!
//! Field names are snake_case: this is the sandbox's own report, not part
//! of the vendor's API.

use serde::{Deserialize, Serialize};

pub use super::faults::Fault;

/// Everything the sandbox remembers, at one moment.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StateSnapshot {
    /// The one project the API key belongs to.
    pub project_id: String,
    /// False when started with `--inactive`.
    pub active: bool,
    /// The project's process ids.
    pub process_ids: Vec<String>,
    /// Every lead, in creation order (pre-existing ones first).
    pub leads: Vec<LeadSnapshot>,
    /// Phones (E.164) with a call attempt in the project, sorted.
    pub call_attempts: Vec<String>,
    /// Every bulk request received, in the order the sandbox handled them.
    pub requests: Vec<RequestRecord>,
    /// Leads that arrived again after a per-lead error for them had been
    /// delivered to the client, in order of first re-send. Empty when the
    /// client never re-sends a rejected lead.
    pub resent_after_error: Vec<ResentLead>,
    /// Milliseconds left on the duplicate-protection block, if blocked.
    pub blocked_for_ms: Option<u64>,
}

/// One lead in the sandbox.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LeadSnapshot {
    pub lead_id: String,
    pub project_id: String,
    pub process_id: String,
    /// E.164.
    pub phone_number: String,
    /// How many times the API created this (project, process, phone): 1 for
    /// a lead created through the API, 0 for a pre-existing one. Anything
    /// above 1 would be a lead created twice.
    pub times_created: u32,
    /// Initialized for calling (a call attempt was made).
    pub initialized: bool,
    /// Loaded at start (`--preexisting`), not created through the API.
    pub preexisting: bool,
}

/// One bulk request, as handled.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// 0-based position in the order of handling.
    pub seq: u64,
    /// The status sent; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// Items in the body's `leads` or `leadIds` array (0 if unreadable).
    pub lead_count: usize,
    /// Leads created (or, for `leadIds`, validated) by this request.
    pub created: usize,
    /// Per-lead errors of this request.
    pub errors: usize,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// True when the answer was a stored one (`--idempotency`).
    pub replayed: bool,
    /// When it was handled: milliseconds since the sandbox started.
    #[serde(default)]
    pub at_ms: u64,
    /// The `Retry-After` announced with a 429, in seconds.
    #[serde(default)]
    pub retry_after_s: Option<u64>,
}

/// A lead sent again after its per-lead error had been delivered.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResentLead {
    /// `leads` mode: the lead's process, as sent.
    pub process_id: Option<String>,
    /// `leads` mode: the phone, E.164 when it parses, else as sent.
    pub phone_number: Option<String>,
    /// `leadIds` mode: the id, as sent.
    pub lead_id: Option<String>,
    /// How many times it arrived again after the error.
    pub count: u64,
}

impl StateSnapshot {
    /// The lead for (process, E.164 phone), if any.
    pub fn lead(&self, process_id: &str, phone_number: &str) -> Option<&LeadSnapshot> {
        self.leads.iter().find(|l| l.process_id == process_id && l.phone_number == phone_number)
    }

    /// True when no lead was created more than once.
    pub fn no_lead_created_twice(&self) -> bool {
        self.leads.iter().all(|l| l.times_created <= 1)
    }
}
