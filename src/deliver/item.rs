//! One valid row on its way to the server, and what is sent for it.

use crate::api::{self, ItemKey};
use crate::input::Row;
use crate::ledger::{LeadKey, Outcome, PhoneKey, RejectCode, Writes};
use crate::output::Verdict;

/// What is sent for one row.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A new lead (`leads`).
    Lead(api::Lead),
    /// `--existing`: a lead id from the file (`leadIds`).
    Existing(String),
    /// A lead an earlier run uploaded without a call, which this run's
    /// `--initialize` initializes by its id (`leadIds`); its ledger key kept.
    Initialize { lead_id: String, project_id: String, process_id: String, phone: String },
}

/// Logs one lead as it is (or, in a dry run, would be) sent, at `-vvv`
/// only (lead values are personal data): every field, as the API gets it,
/// so an operator sees what a `--map` made of the columns.
pub fn trace_lead(item: &Item) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    match &item.payload {
        Payload::Lead(l) => {
            let lead = serde_json::to_string(l).unwrap_or_default();
            tracing::trace!(line = item.row.line, lead = %lead, "lead")
        }
        Payload::Existing(id) | Payload::Initialize { lead_id: id, .. } => {
            tracing::trace!(line = item.row.line, lead_id = %id, "lead")
        }
    }
}

/// One valid row on its way to the server.
#[derive(Debug)]
pub struct Item {
    pub row: Row,
    pub payload: Payload,
    /// An earlier attempt (this run, or a run being resumed) may have created it.
    pub may_exist: bool,
    /// The run holds the ledger's claim on it (so it must record or release it).
    pub claimed: bool,
    /// The phone as the ledger keys it (read once: the ledger asks often).
    phone_key: Option<PhoneKey>,
}

impl Item {
    pub fn new(row: Row, payload: Payload, may_exist: bool) -> Item {
        let mut item = Item { row, payload, may_exist, claimed: false, phone_key: None };
        item.phone_key = item.e164().and_then(PhoneKey::from_e164);
        item
    }

    /// About how many input bytes the row took.
    pub fn bytes(&self) -> usize {
        self.row.bytes as usize
    }

    /// Whether the request carries it in `leadIds` (else in `leads`).
    pub fn sends_id(&self) -> bool {
        !matches!(self.payload, Payload::Lead(_))
    }

    /// The process of the lead, when known.
    pub fn process_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Lead(l) => Some(&l.process_id),
            Payload::Initialize { process_id, .. } => Some(process_id),
            Payload::Existing(_) => None,
        }
    }

    /// The phone as sent (E.164), when known.
    pub fn e164(&self) -> Option<&str> {
        match &self.payload {
            Payload::Lead(l) => Some(&l.phone_number),
            Payload::Initialize { phone, .. } => Some(phone),
            Payload::Existing(_) => None,
        }
    }

    /// The lead id sent, for a `leadIds` item.
    pub fn lead_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Existing(id) | Payload::Initialize { lead_id: id, .. } => Some(id),
            Payload::Lead(_) => None,
        }
    }

    /// The ledger's key: (project, process, phone), when the lead has them.
    pub fn ledger_key(&self) -> Option<LeadKey<'_>> {
        let project = match &self.payload {
            Payload::Lead(l) => &l.project_id,
            Payload::Initialize { project_id, .. } => project_id,
            Payload::Existing(_) => return None,
        };
        // A lead re-routed by its id keeps its phone.
        let phone = self.phone_key.or_else(|| PhoneKey::from_e164(self.e164()?))?;
        Some(LeadKey { project, process: self.process_id()?, phone })
    }

    /// What identifies the item in an answer without `index`.
    pub(super) fn answer_key(&self) -> ItemKey<'_> {
        match &self.payload {
            Payload::Lead(l) => ItemKey {
                external_id: l.external_id.as_deref(),
                phone_number: Some(&l.phone_number),
                process_id: Some(&l.process_id),
                lead_id: None,
            },
            Payload::Existing(id) | Payload::Initialize { lead_id: id, .. } => {
                ItemKey { lead_id: Some(id), ..ItemKey::default() }
            }
        }
    }
}

impl Item {
    /// Adds to `writes` what the ledger must keep of this item's verdict:
    /// an answer the server gave for good (accepted, or refused with a code
    /// the ledger keeps), or that the lead may exist (an answer was lost),
    /// else the claim given back. Only a claimed item (one this run sent)
    /// has an answer to write; one that may exist is kept so whoever holds
    /// its claim (a lost answer must survive the run, or the next night's
    /// run sends it unmarked and takes `already exists` for a refusal).
    pub(super) fn ledger_write(&self, verdict: &Verdict, initialize: bool, writes: &mut Writes) {
        let may_exist = matches!(verdict, Verdict::Retryable { may_exist: true, .. });
        let Some(key) = self.ledger_key().filter(|_| self.claimed || may_exist) else { return };
        let outcome = match verdict {
            Verdict::Accepted { lead_id, .. } => {
                let initialized = initialize || matches!(self.payload, Payload::Initialize { .. });
                Some(Outcome::Accepted { lead_id: lead_id.clone(), initialized })
            }
            Verdict::Rejected { code, reason, .. } => {
                RejectCode::parse(code).map(|code| Outcome::Rejected { code, reason: reason.clone() })
            }
            Verdict::Retryable { may_exist: true, .. } => Some(Outcome::MayExist),
            Verdict::Retryable { may_exist: false, .. } => None,
        };
        match outcome {
            Some(outcome) => writes.record(key, outcome),
            None if self.claimed => writes.release(key),
            None => {}
        }
    }
}
