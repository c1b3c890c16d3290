//! The Bulk Initiate Leads API contract: request and response types, the
//! exact messages, and how an HTTP answer is classified.
//!
//! This is the only module that knows the API's field names and messages.
//! The client (`deliver`) and the sandbox both build on it, so they cannot
//! drift apart. See `api-contract.md` in the shared docs. How an answer is
//! classified (and what no answer at all means) is in `answer`; a 200 is
//! read with memory bounded by the leads sent (`bounded`).

mod answer;
mod bounded;

pub use answer::{Answer, Fault, Headers, MAX_RETRY_AFTER, parse_retry_after};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Path of the endpoint, relative to the configured API base URL.
pub const PATH: &str = "/leads/bulk-initiate";
/// The response-format version leadctl always asks for.
pub const VERSION: &str = "1.2";
/// Header carrying one UUID per batch, identical on every attempt of it.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The server's documented maximum number of leads per request.
pub const MAX_LEADS_PER_REQUEST: usize = 1000;
/// The largest response body read. An answer for 1,000 leads is well under
/// 1 MiB; a larger body is a server fault, and is never held whole.
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Field limits from the contract's lead table.
pub mod limits {
    /// `firstName` and `lastName`, in characters.
    pub const NAME_CHARS: usize = 100;
    /// `email`, in characters.
    pub const EMAIL_CHARS: usize = 254;
    /// A `customFields` key, in characters.
    pub const CUSTOM_KEY_CHARS: usize = 64;
    /// A `customFields` string value, in characters.
    pub const CUSTOM_VALUE_CHARS: usize = 1000;
    /// Number of `customFields` keys.
    pub const CUSTOM_FIELDS: usize = 50;
}

/// The exact messages of the contract, shared by the sandbox (which says
/// them) and the client (which recognises them).
pub mod msg {
    pub const CALL_ATTEMPTED: &str = "A call attempt has already been made to this phone number for this project";
    pub const REPEATING_DIGITS: &str = "Phone number contains repeating digits pattern";
    /// The tail of the duplicate message; the whole is
    /// `Lead with phone number <E.164> already exists for this project and process`.
    pub const ALREADY_EXISTS_TAIL: &str = "already exists for this project and process";
    pub const INVALID_PHONE: &str = "Invalid phone number format";
    pub const MISSING_FIELD_PREFIX: &str = "Missing required field: ";
    pub const LEAD_NOT_FOUND_PREFIX: &str = "Lead not found: ";
    pub const INVALID_FIELD_PREFIX: &str = "Invalid field: ";

    pub const EITHER_REQUIRED: &str = "Either leadIds or leads array is required";
    pub const NOT_AN_ARRAY: &str = "Input must be an array";
    pub const INVALID_JSON: &str = "Invalid JSON body";
    pub const MAX_PREFIX: &str = "Maximum of ";
    pub const MAX_SUFFIX: &str = " leads allowed per request";
    pub const INVALID_API_KEY: &str = "Invalid API key";
    pub const PROJECT_MISMATCH_PREFIX: &str = "Project mismatch: lead projectId ";
    pub const PROJECT_MISMATCH_SUFFIX: &str = " does not match the authenticated project";
    pub const MISSING_PROJECT: &str = "Missing projectId for one or more leads";
    pub const PROJECT_INACTIVE: &str = "Project is inactive";
    pub const PROJECT_NOT_FOUND: &str = "Project not found";
    pub const PROCESS_NOT_FOUND_PREFIX: &str = "Process not found for lead with processId: ";
    pub const RATE_LIMITED: &str = "Rate limit exceeded";
    pub const KEY_BLOCKED: &str = "API key temporarily blocked due to repeated invalid or duplicate leads";
    pub const INTERNAL: &str = "Internal server error";

    /// `Lead with phone number <e164> already exists for this project and process`.
    pub fn already_exists(e164: &str) -> String {
        format!("Lead with phone number {e164} {ALREADY_EXISTS_TAIL}")
    }
    /// `Maximum of <n> leads allowed per request`.
    pub fn maximum(n: usize) -> String {
        format!("{MAX_PREFIX}{n}{MAX_SUFFIX}")
    }
    /// `Process not found for lead with processId: <id>`.
    pub fn process_not_found(id: &str) -> String {
        format!("{PROCESS_NOT_FOUND_PREFIX}{id}")
    }
    /// `Project mismatch: lead projectId <id> does not match the authenticated project`.
    pub fn project_mismatch(id: &str) -> String {
        format!("{PROJECT_MISMATCH_PREFIX}{id}{PROJECT_MISMATCH_SUFFIX}")
    }
}

/// One new lead, as sent in the `leads` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    pub project_id: String,
    pub process_id: String,
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub custom_fields: Map<String, Value>,
}

/// The request body: exactly one of `leads` or `leadIds`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leads: Option<Vec<&'a Lead>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_ids: Option<Vec<&'a str>>,
    pub initialize: bool,
}

/// A 200 answer (version 1.2). Unknown fields are tolerated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub leads: Vec<LeadOk>,
    #[serde(default)]
    pub errors: Vec<LeadError>,
}

/// A lead the server created (or, for `leadIds`, validated).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadOk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialized: Option<bool>,
}

/// A lead the server refused, with its message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub error: String,
}

/// The body of every whole-request error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The stable reason code for a per-lead server message (`server_*`).
pub fn server_code(message: &str) -> &'static str {
    if message == msg::CALL_ATTEMPTED {
        "server_call_attempted"
    } else if message.ends_with(msg::ALREADY_EXISTS_TAIL) {
        "server_duplicate"
    } else if message == msg::REPEATING_DIGITS {
        "server_repeating_digits"
    } else if message == msg::INVALID_PHONE {
        "server_invalid_phone"
    } else if message.starts_with(msg::MISSING_FIELD_PREFIX) {
        "server_missing_field"
    } else if message.starts_with(msg::LEAD_NOT_FOUND_PREFIX) {
        "server_lead_not_found"
    } else {
        "server_other"
    }
}

/// What one request item became in a 200 answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    Created { lead_id: Option<String> },
    Refused { message: String },
}

/// What identifies one request item when the answer carries no `index`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemKey<'a> {
    pub external_id: Option<&'a str>,
    pub phone_number: Option<&'a str>,
    pub process_id: Option<&'a str>,
    pub lead_id: Option<&'a str>,
}

/// Pairs each request item with its result: by `index`, else by
/// `externalId`, then (`phoneNumber`, `processId`), then `leadId`.
/// Items the answer does not mention stay `None` (the caller decides).
///
/// An entry that names an index is taken at its word: when that index is
/// out of range or already answered (a repeated index), the entry is
/// ignored rather than matched to another item by its fields, so a hostile
/// or broken answer cannot speak for a lead it did not name.
pub fn match_results(items: &[ItemKey<'_>], answer: BulkResponse) -> Vec<Option<ItemResult>> {
    let mut out: Vec<Option<ItemResult>> = vec![None; items.len()];
    let entries = answer
        .leads
        .into_iter()
        .map(|l| {
            let key = (l.index, l.external_id, l.phone_number, l.process_id, l.lead_id.clone());
            (key, ItemResult::Created { lead_id: l.lead_id })
        })
        .chain(answer.errors.into_iter().map(|e| {
            let key = (e.index, e.external_id, e.phone_number, e.process_id, e.lead_id);
            (key, ItemResult::Refused { message: e.error })
        }));
    for ((index, external_id, phone, process, lead_id), result) in entries {
        let slot = match index {
            Some(i) => Some(i).filter(|&i| i < items.len() && out[i].is_none()),
            None => {
                let named = ItemKey {
                    external_id: external_id.as_deref(),
                    phone_number: phone.as_deref(),
                    process_id: process.as_deref(),
                    lead_id: lead_id.as_deref(),
                };
                by_fields(items, &out, &named)
            }
        };
        if let Some(i) = slot {
            out[i] = Some(result);
        }
    }
    out
}

/// The first unanswered item an entry without `index` names, by its fields.
fn by_fields(items: &[ItemKey<'_>], out: &[Option<ItemResult>], named: &ItemKey<'_>) -> Option<usize> {
    let free = |i: &usize| out[*i].is_none();
    let find = |pred: &dyn Fn(&ItemKey<'_>) -> bool| (0..items.len()).filter(free).find(|&i| pred(&items[i]));
    named
        .external_id
        .and_then(|x| find(&|k| k.external_id == Some(x)))
        .or_else(|| match (named.phone_number, named.process_id) {
            (Some(p), Some(q)) => find(&|k| k.phone_number == Some(p) && k.process_id == Some(q)),
            _ => None,
        })
        .or_else(|| named.lead_id.and_then(|x| find(&|k| k.lead_id == Some(x))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_for_every_per_lead_message() {
        assert_eq!(server_code(msg::CALL_ATTEMPTED), "server_call_attempted");
        assert_eq!(server_code(&msg::already_exists("+14155550123")), "server_duplicate");
        assert_eq!(server_code(msg::REPEATING_DIGITS), "server_repeating_digits");
        assert_eq!(server_code(msg::INVALID_PHONE), "server_invalid_phone");
        assert_eq!(server_code("Missing required field: phoneNumber"), "server_missing_field");
        assert_eq!(server_code("Lead not found: ld_1"), "server_lead_not_found");
        assert_eq!(server_code("Invalid field: email"), "server_other");
    }

    #[test]
    fn matches_by_index_then_fallbacks() {
        let items = [
            ItemKey { external_id: Some("a"), phone_number: Some("+1"), process_id: Some("p"), lead_id: None },
            ItemKey { external_id: None, phone_number: Some("+2"), process_id: Some("p"), lead_id: None },
        ];
        let answer = BulkResponse {
            leads: vec![LeadOk { external_id: Some("a".into()), lead_id: Some("ld".into()), ..Default::default() }],
            errors: vec![LeadError {
                phone_number: Some("+2".into()),
                process_id: Some("p".into()),
                error: msg::INVALID_PHONE.into(),
                ..Default::default()
            }],
        };
        let got = match_results(&items, answer);
        assert_eq!(got[0], Some(ItemResult::Created { lead_id: Some("ld".into()) }));
        assert_eq!(got[1], Some(ItemResult::Refused { message: msg::INVALID_PHONE.into() }));
    }

    /// A repeated or out-of-range index answers nothing more: the first
    /// entry for an index stands, and an entry with an index is never
    /// matched to another lead by its fields.
    #[test]
    fn a_repeated_or_foreign_index_speaks_for_no_other_lead() {
        let items = [
            ItemKey { external_id: Some("a"), phone_number: Some("+1"), process_id: Some("p"), lead_id: None },
            ItemKey { external_id: Some("b"), phone_number: Some("+2"), process_id: Some("p"), lead_id: None },
        ];
        let created = |index, external_id: &str| LeadOk {
            index: Some(index),
            external_id: Some(external_id.into()),
            lead_id: Some(format!("ld_{index}")),
            ..Default::default()
        };
        let answer = BulkResponse {
            leads: vec![created(0, "a"), created(0, "b"), created(7, "b")],
            errors: vec![LeadError { index: Some(0), error: msg::INVALID_PHONE.into(), ..Default::default() }],
        };
        let got = match_results(&items, answer);
        assert_eq!(got[0], Some(ItemResult::Created { lead_id: Some("ld_0".into()) }));
        assert_eq!(got[1], None, "lead 1 was never named by its index");
    }
}
