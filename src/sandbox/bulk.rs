//! Carrying out one readable bulk request against the lead memory: the
//! request-level 400/403/404 checks, then each item in order, with the
//! checks that need state (duplicate, then call attempt), creating and
//! initializing leads. Duplicates within one request count too.

use serde_json::Value;

use super::endpoint::Reply;
use super::state::Store;
use super::validate::{self, Body, Items, LeadKey};
use crate::api::{BulkResponse, LeadError, LeadOk, msg};

/// The project's settings that judge a request.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub project_id: String,
    pub processes: Vec<String>,
    pub active: bool,
    pub max_leads: usize,
}

/// The result of carrying out a request.
#[derive(Debug)]
pub(crate) struct Executed {
    pub reply: Reply,
    pub created: usize,
    /// The keys of the leads that got a per-lead error.
    pub rejected: Vec<LeadKey>,
}

impl Executed {
    /// A whole-request error: nothing created, nothing refused.
    pub fn whole(status: u16, message: &str) -> Executed {
        Executed { reply: Reply::error(status, message), created: 0, rejected: Vec::new() }
    }
}

/// Carries out `body`; `keys` are its items' keys, in order.
pub(crate) fn execute(store: &mut Store, rules: &Rules, body: Body, keys: &[LeadKey]) -> Executed {
    if body.items.len() > rules.max_leads {
        return Executed::whole(400, &msg::maximum(rules.max_leads));
    }
    if !rules.active {
        return Executed::whole(403, msg::PROJECT_INACTIVE);
    }
    let mut out = Outcome { answer: BulkResponse::default(), rejected: Vec::new() };
    match body.items {
        Items::Leads(items) => {
            if let Err((status, message)) = validate::check_request(&items, &rules.project_id, &rules.processes) {
                return Executed::whole(status, &message);
            }
            for (index, item) in items.iter().enumerate() {
                match create(store, rules, item, body.initialize) {
                    Ok(ok) => out.answer.leads.push(LeadOk { index: Some(index), ..ok }),
                    Err(error) => out.refuse(keys, index, lead_error(item, error)),
                }
            }
        }
        Items::LeadIds(ids) => {
            for (index, item) in ids.iter().enumerate() {
                match by_id(store, item, body.initialize) {
                    Ok(ok) => out.answer.leads.push(LeadOk { index: Some(index), ..ok }),
                    Err(error) => {
                        let lead_id = item.as_str().map(str::to_owned);
                        out.refuse(keys, index, LeadError { lead_id, error, ..Default::default() });
                    }
                }
            }
        }
    }
    let created = out.answer.leads.len();
    Executed { reply: Reply::json(200, &out.answer), created, rejected: out.rejected }
}

struct Outcome {
    answer: BulkResponse,
    rejected: Vec<LeadKey>,
}

impl Outcome {
    fn refuse(&mut self, keys: &[LeadKey], index: usize, error: LeadError) {
        self.answer.errors.push(LeadError { index: Some(index), ..error });
        if let Some(key) = keys.get(index) {
            self.rejected.push(key.clone());
        }
    }
}

/// One `leads` item: every check in the contract's order, then creation.
fn create(store: &mut Store, rules: &Rules, item: &Value, initialize: bool) -> Result<LeadOk, String> {
    let good = validate::check_lead(item, &rules.processes)?;
    if store.find(good.process, &good.phone).is_some() {
        return Err(msg::already_exists(&good.phone.e164));
    }
    if store.call_attempted(&good.phone) {
        return Err(msg::CALL_ATTEMPTED.to_owned());
    }
    let lead_id = store.create(good.process, &good.phone, initialize);
    Ok(LeadOk {
        index: None,
        lead_id: Some(lead_id),
        phone_number: Some(good.phone.e164),
        process_id: rules.processes.get(good.process).cloned(),
        external_id: validate::text(item, "externalId"),
        initialized: Some(initialize),
    })
}

/// One `leadIds` item: known, and with `initialize`, not yet called.
fn by_id(store: &mut Store, item: &Value, initialize: bool) -> Result<LeadOk, String> {
    let id = validate::check_lead_id(item)?;
    let Some(lead) = store.by_id(id) else {
        return Err(format!("{}{id}", msg::LEAD_NOT_FOUND_PREFIX));
    };
    if initialize {
        if store.lead_call_attempted(lead) {
            return Err(msg::CALL_ATTEMPTED.to_owned());
        }
        store.initialize(lead);
    }
    Ok(LeadOk { lead_id: Some(id.to_owned()), initialized: Some(store.initialized(lead)), ..Default::default() })
}

/// The error entry of a `leads` item: what it sent, the phone as E.164
/// when it parses.
fn lead_error(item: &Value, error: String) -> LeadError {
    LeadError {
        index: None,
        lead_id: None,
        phone_number: validate::echo_phone(item),
        process_id: validate::text(item, "processId"),
        external_id: validate::text(item, "externalId"),
        error,
    }
}
