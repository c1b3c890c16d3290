//! The Bulk Initiate Leads API contract: request and response types, the
//! exact messages, and how an HTTP answer is classified.
//!
//! This is the only module that knows the API's field names and messages.
//! The client (`deliver`) and the sandbox both build on it, so they cannot
//! drift apart. See `api-contract.md` in the shared docs.

use std::time::Duration;

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
        let slot = index.filter(|&i| i < items.len() && out[i].is_none()).or_else(|| {
            let free = |i: &usize| out[*i].is_none();
            let find = |pred: &dyn Fn(&ItemKey<'_>) -> bool| (0..items.len()).filter(free).find(|&i| pred(&items[i]));
            external_id
                .as_deref()
                .and_then(|x| find(&|k| k.external_id == Some(x)))
                .or_else(|| match (phone.as_deref(), process.as_deref()) {
                    (Some(p), Some(q)) => find(&|k| k.phone_number == Some(p) && k.process_id == Some(q)),
                    _ => None,
                })
                .or_else(|| lead_id.as_deref().and_then(|x| find(&|k| k.lead_id == Some(x))))
        });
        if let Some(i) = slot {
            out[i] = Some(result);
        }
    }
    out
}

/// An attempt that got no answer leadctl can act on, and that is safe to
/// retry with backoff (5xx but 501, 408, network errors, timeouts, an
/// unreadable 200). Whether the server may have acted on the request
/// decides whether the batch's leads may already exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection could not be made: the request never reached the server.
    Connect(String),
    /// No answer within the timeout; the server may have acted on the request.
    Timeout(String),
    /// The connection broke after the request may have been sent.
    Network(String),
    /// HTTP 408: the server gave up reading the request before acting on it.
    RequestTimeout(String),
    /// A 5xx but 501: the server failed, perhaps after creating some leads.
    Server { status: u16, message: String },
    /// An answer whose body was cut short or does not parse.
    Unreadable { status: u16, detail: String },
}

impl Fault {
    /// Whether the server may have acted on the request (created leads).
    pub fn may_have_acted(&self) -> bool {
        !matches!(self, Fault::Connect(_) | Fault::RequestTimeout(_))
    }

    /// Whether the fault is the network's or a clock's rather than the
    /// server's own answer: such retries cost more of the retry budget.
    pub fn is_transport(&self) -> bool {
        matches!(self, Fault::Timeout(_) | Fault::Network(_))
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Connect(d) => write!(f, "could not connect: {d}"),
            Fault::Timeout(d) => write!(f, "timed out: {d}"),
            Fault::Network(d) => write!(f, "network error: {d}"),
            Fault::RequestTimeout(m) => write!(f, "HTTP 408: {m}"),
            Fault::Server { status, message } => write!(f, "HTTP {status}: {message}"),
            Fault::Unreadable { status, detail } => write!(f, "HTTP {status} with an unreadable body: {detail}"),
        }
    }
}

/// How the client must treat an HTTP answer (or its absence).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with a body that parsed.
    Ok(BulkResponse),
    /// A fault that is safe to retry with backoff.
    Fault(Fault),
    /// 429: rate limited or key blocked; wait and send again.
    RateLimited { retry_after: Option<Duration>, message: String },
    /// 400 `Maximum of N leads allowed per request`.
    TooLarge { max: usize },
    /// 404 `Process not found for lead with processId: X`.
    ProcessNotFound { process_id: String },
    /// 401 or 403: credentials or project; the run must stop.
    Denied { status: u16, message: String },
    /// Any other answer (other 400s, 501, unexpected 4xx): a bug or a
    /// server that cannot do this; the run must stop.
    Fatal { status: u16, message: String },
}

impl Answer {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Answer::Ok(_) => "ok",
            Answer::Fault(_) => "fault",
            Answer::RateLimited { .. } => "rate_limited",
            Answer::TooLarge { .. } => "too_large",
            Answer::ProcessNotFound { .. } => "process_not_found",
            Answer::Denied { .. } => "denied",
            Answer::Fatal { .. } => "fatal",
        }
    }

    /// The HTTP status of the answer, as the metrics label requests:
    /// `network` when no answer came.
    pub fn status_label(&self) -> String {
        let status = match self {
            Answer::Ok(_) => 200,
            Answer::Fault(Fault::Connect(_) | Fault::Timeout(_) | Fault::Network(_)) => return "network".into(),
            Answer::Fault(Fault::RequestTimeout(_)) => 408,
            Answer::Fault(Fault::Server { status, .. } | Fault::Unreadable { status, .. }) => *status,
            Answer::RateLimited { .. } => 429,
            Answer::TooLarge { .. } => 400,
            Answer::ProcessNotFound { .. } => 404,
            Answer::Denied { status, .. } | Answer::Fatal { status, .. } => *status,
        };
        status.to_string()
    }

    /// Classifies a complete HTTP answer. `retry_after` is the raw
    /// `Retry-After` header value, if any.
    pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> Answer {
        let message = || {
            serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() { format!("HTTP {status}") } else { truncate(text, 200) }
            })
        };
        match status {
            200 => match serde_json::from_slice::<BulkResponse>(body) {
                Ok(r) => Answer::Ok(r),
                Err(e) => Answer::Fault(Fault::Unreadable { status, detail: e.to_string() }),
            },
            429 => Answer::RateLimited {
                retry_after: retry_after.and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
                message: message(),
            },
            408 => Answer::Fault(Fault::RequestTimeout(message())),
            400 => {
                let m = message();
                match parse_maximum(&m) {
                    Some(max) => Answer::TooLarge { max },
                    None => Answer::Fatal { status, message: m },
                }
            }
            401 | 403 => Answer::Denied { status, message: message() },
            404 => {
                let m = message();
                match m.strip_prefix(msg::PROCESS_NOT_FOUND_PREFIX) {
                    Some(id) => Answer::ProcessNotFound { process_id: id.to_owned() },
                    None => Answer::Fatal { status, message: m },
                }
            }
            501 => Answer::Fatal { status, message: message() },
            500..=599 => Answer::Fault(Fault::Server { status, message: message() }),
            _ => Answer::Fatal { status, message: message() },
        }
    }
}

/// The longest wait a `Retry-After` is taken at: a server's number is
/// outside input, and a day is already more than any run waits.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// `Retry-After`, in whole seconds or as an HTTP date (relative to `now`),
/// capped at [`MAX_RETRY_AFTER`]. A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Any run of digits: one too large for u64 is still "a long time".
        value.parse::<u64>().map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

fn parse_maximum(message: &str) -> Option<usize> {
    message.strip_prefix(msg::MAX_PREFIX)?.strip_suffix(msg::MAX_SUFFIX)?.parse().ok()
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
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
    fn classifies_whole_request_answers() {
        let body = |m: &str| serde_json::to_vec(&ErrorBody { error: m.into() }).unwrap();
        assert_eq!(Answer::classify(400, None, &body(&msg::maximum(250))), Answer::TooLarge { max: 250 });
        assert!(matches!(Answer::classify(400, None, &body(msg::NOT_AN_ARRAY)), Answer::Fatal { .. }));
        assert_eq!(
            Answer::classify(404, None, &body(&msg::process_not_found("proc_x"))),
            Answer::ProcessNotFound { process_id: "proc_x".into() }
        );
        assert_eq!(
            Answer::classify(429, Some("7"), &body(msg::RATE_LIMITED)),
            Answer::RateLimited { retry_after: Some(Duration::from_secs(7)), message: msg::RATE_LIMITED.into() }
        );
        assert_eq!(
            Answer::classify(503, None, b"oops"),
            Answer::Fault(Fault::Server { status: 503, message: "oops".into() })
        );
        assert!(matches!(Answer::classify(408, None, b""), Answer::Fault(f) if !f.may_have_acted()));
        assert!(matches!(Answer::classify(501, None, b""), Answer::Fatal { status: 501, .. }));
        assert!(matches!(Answer::classify(200, None, b"{trunc"), Answer::Fault(f) if f.may_have_acted()));
        assert!(matches!(
            Answer::classify(403, None, &body(msg::PROJECT_INACTIVE)),
            Answer::Denied { status: 403, .. }
        ));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_and_never_huge() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("18446744073709551615", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(MAX_RETRY_AFTER));
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&in_90s, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
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
}
