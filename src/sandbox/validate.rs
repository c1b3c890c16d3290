//! The stateless half of judging a request: reading the body (the 400s),
//! the whole-request project and process checks (403, 404), and the
//! per-lead checks that need no memory, in the contract's order: missing
//! field, unparseable phone, repeating digits, invalid phone, other invalid
//! fields. Duplicates and call attempts need the state (`bulk.rs`).

use rlibphonenumber::{PhoneNumber, PhoneNumberFormat};
use serde_json::{Map, Value};

use crate::api::{limits, msg};
use crate::phone::{self, PhoneError, Region};

/// Numbers written without `+` are read as US numbers.
pub(crate) const REGION: Region = Region::US;

/// A body that passed the 400 checks.
#[derive(Debug)]
pub(crate) struct Body {
    pub items: Items,
    pub initialize: bool,
}

/// The two request modes, each with its raw items.
#[derive(Debug)]
pub(crate) enum Items {
    Leads(Vec<Value>),
    LeadIds(Vec<Value>),
}

impl Items {
    /// The number of items of either mode.
    pub fn len(&self) -> usize {
        match self {
            Items::Leads(v) | Items::LeadIds(v) => v.len(),
        }
    }
}

/// What identifies a lead for "was it rejected before?": the process and
/// the phone (E.164 when it parses, else as sent), or the lead id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LeadKey {
    Phone { process_id: String, phone: String },
    Id(String),
}

/// Reads a body: `Invalid JSON body`, `Either leadIds or leads array is
/// required`, `Input must be an array`, or `Invalid field: initialize`.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Body, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| msg::INVALID_JSON.to_owned())?;
    let Value::Object(mut obj) = value else {
        return Err(msg::EITHER_REQUIRED.to_owned());
    };
    let mut take = |k: &str| obj.remove(k).filter(|v| !v.is_null());
    let items = match (take("leads"), take("leadIds")) {
        (Some(Value::Array(a)), None) => Items::Leads(a),
        (None, Some(Value::Array(a))) => Items::LeadIds(a),
        (Some(_), Some(_)) | (None, None) => return Err(msg::EITHER_REQUIRED.to_owned()),
        _ => return Err(msg::NOT_AN_ARRAY.to_owned()),
    };
    let initialize = match obj.get("initialize") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("initialize")),
    };
    Ok(Body { items, initialize })
}

/// The keys of a body's items, in order (for rejection tracking).
pub(crate) fn keys(items: &Items) -> Vec<LeadKey> {
    match items {
        Items::Leads(v) => v
            .iter()
            .map(|item| LeadKey::Phone {
                process_id: text(item, "processId").unwrap_or_default(),
                phone: echo_phone(item).unwrap_or_default(),
            })
            .collect(),
        Items::LeadIds(v) => v.iter().map(|id| LeadKey::Id(raw_text(id))).collect(),
    }
}

/// The whole-request checks of `leads` mode, which create nothing when
/// they fail: 403 for a missing or foreign `projectId`, 404 for a
/// `processId` the project does not have.
pub(crate) fn check_request(items: &[Value], project_id: &str, processes: &[String]) -> Result<(), (u16, String)> {
    fn project(item: &Value) -> Option<&Value> {
        item.get("projectId").filter(|v| !is_blank(v))
    }
    if items.iter().any(|item| project(item).is_none()) {
        return Err((403, msg::MISSING_PROJECT.to_owned()));
    }
    if let Some(other) = items.iter().filter_map(project).find(|v| v.as_str() != Some(project_id)) {
        return Err((403, msg::project_mismatch(&raw_text(other))));
    }
    let unknown = items
        .iter()
        .filter_map(|item| item.get("processId").and_then(Value::as_str))
        .find(|id| !id.trim().is_empty() && !processes.iter().any(|p| p == id));
    match unknown {
        Some(id) => Err((404, msg::process_not_found(id))),
        None => Ok(()),
    }
}

/// A lead that passed the stateless checks.
#[derive(Debug)]
pub(crate) struct GoodLead {
    /// Index of its process in the configured list.
    pub process: usize,
    pub phone: phone::Phone,
}

/// Per-lead checks 1 to 5 of the contract's order; the error is the
/// message for `errors[].error`.
pub(crate) fn check_lead(item: &Value, processes: &[String]) -> Result<GoodLead, String> {
    let process_id = item.get("processId").filter(|v| !is_blank(v));
    let Some(process_id) = process_id else {
        return Err(missing("processId"));
    };
    let raw_phone = item.get("phoneNumber").filter(|v| !v.is_null());
    let Some(raw_phone) = raw_phone else {
        return Err(missing("phoneNumber"));
    };
    // A phone of the wrong JSON type is an invalid field; nothing else can
    // be said about it, so it is reported here, which is the same message.
    let Some(raw_phone) = raw_phone.as_str() else {
        return Err(invalid("phoneNumber"));
    };
    let phone = phone::parse(raw_phone, REGION).map_err(|e| match e {
        PhoneError::Missing => missing("phoneNumber"),
        PhoneError::RepeatingDigits => msg::REPEATING_DIGITS.to_owned(),
        PhoneError::Unparseable | PhoneError::Invalid => msg::INVALID_PHONE.to_owned(),
    })?;
    let Some(process) = process_id.as_str().and_then(|id| processes.iter().position(|p| p == id)) else {
        return Err(invalid("processId"));
    };
    check_other_fields(item)?;
    Ok(GoodLead { process, phone })
}

/// The `leadIds` item check: the id as a string, or the message.
pub(crate) fn check_lead_id(item: &Value) -> Result<&str, String> {
    match item {
        Value::Null => Err(missing("leadId")),
        Value::String(s) if s.trim().is_empty() => Err(missing("leadId")),
        Value::String(s) => Ok(s),
        _ => Err(invalid("leadId")),
    }
}

/// Check 5: the optional fields' types and limits.
fn check_other_fields(item: &Value) -> Result<(), String> {
    let optional_text = |field: &str, max: Option<usize>| match item.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if max.is_none_or(|m| s.chars().count() <= m) => Ok(()),
        Some(_) => Err(invalid(field)),
    };
    optional_text("firstName", Some(limits::NAME_CHARS))?;
    optional_text("lastName", Some(limits::NAME_CHARS))?;
    optional_text("email", Some(limits::EMAIL_CHARS))?;
    optional_text("externalId", None)?;
    match item.get("customFields") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(fields)) if custom_fields_ok(fields) => Ok(()),
        Some(_) => Err(invalid("customFields")),
    }
}

fn custom_fields_ok(fields: &Map<String, Value>) -> bool {
    fields.len() <= limits::CUSTOM_FIELDS
        && fields.iter().all(|(key, value)| {
            key.chars().count() <= limits::CUSTOM_KEY_CHARS
                && match value {
                    Value::String(s) => s.chars().count() <= limits::CUSTOM_VALUE_CHARS,
                    Value::Number(_) | Value::Bool(_) => true,
                    _ => false,
                }
        })
}

/// The phone as the error entry echoes it: E.164 whenever it parses as a
/// number (even a refused one, like the contract's `+15555555555`), else as
/// sent (trimmed); `None` when absent, empty or not a string. Formatting
/// only: the checks themselves are `phone::parse`'s.
pub(crate) fn echo_phone(item: &Value) -> Option<String> {
    let raw = item.get("phoneNumber")?.as_str()?.trim();
    if raw.is_empty() {
        return None;
    }
    let formatted = PhoneNumber::parse(raw, Some(REGION)).map(|n| n.format_as(PhoneNumberFormat::E164).into_owned());
    Some(formatted.unwrap_or_else(|_| raw.to_owned()))
}

/// A string field, if it is a string.
pub(crate) fn text(item: &Value, field: &str) -> Option<String> {
    item.get(field)?.as_str().map(str::to_owned)
}

/// A value as text: a string as is, anything else as JSON.
fn raw_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

fn missing(field: &str) -> String {
    format!("{}{field}", msg::MISSING_FIELD_PREFIX)
}

fn invalid(field: &str) -> String {
    format!("{}{field}", msg::INVALID_FIELD_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn procs() -> Vec<String> {
        vec!["proc_a".into()]
    }

    fn lead(extra: Value) -> Value {
        let mut base = json!({"projectId": "prj", "processId": "proc_a", "phoneNumber": "+14155552671"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    }

    fn check(extra: Value) -> Result<String, String> {
        check_lead(&lead(extra), &procs()).map(|g| g.phone.e164)
    }

    #[test]
    fn body_errors() {
        assert_eq!(parse_body(b"{").unwrap_err(), msg::INVALID_JSON);
        assert_eq!(parse_body(b"{}").unwrap_err(), msg::EITHER_REQUIRED);
        assert_eq!(parse_body(b"[]").unwrap_err(), msg::EITHER_REQUIRED);
        assert_eq!(parse_body(br#"{"leads":[],"leadIds":[]}"#).unwrap_err(), msg::EITHER_REQUIRED);
        assert_eq!(parse_body(br#"{"leads":{}}"#).unwrap_err(), msg::NOT_AN_ARRAY);
        assert_eq!(parse_body(br#"{"leadIds":"ld_1"}"#).unwrap_err(), msg::NOT_AN_ARRAY);
        assert_eq!(parse_body(br#"{"leads":[],"initialize":1}"#).unwrap_err(), "Invalid field: initialize");
        let b = parse_body(br#"{"leads":null,"leadIds":["x"],"initialize":true}"#).unwrap();
        assert!(b.initialize && matches!(b.items, Items::LeadIds(ref v) if v.len() == 1));
    }

    #[test]
    fn per_lead_order() {
        assert_eq!(check(json!({})).unwrap(), "+14155552671");
        let both_missing = json!({"processId": "", "phoneNumber": null});
        assert_eq!(check(both_missing).unwrap_err(), "Missing required field: processId");
        assert_eq!(check(json!({"phoneNumber": "  "})).unwrap_err(), "Missing required field: phoneNumber");
        assert_eq!(check(json!({"phoneNumber": "hello"})).unwrap_err(), msg::INVALID_PHONE);
        let repeating = json!({"phoneNumber": "+1 555 555 5555", "email": "x".repeat(300)});
        assert_eq!(check(repeating).unwrap_err(), msg::REPEATING_DIGITS);
        assert_eq!(check(json!({"phoneNumber": "+1 123 456 7890"})).unwrap_err(), msg::INVALID_PHONE);
        assert_eq!(check(json!({"phoneNumber": 14155552671_u64})).unwrap_err(), "Invalid field: phoneNumber");
        assert_eq!(check(json!({"processId": 7})).unwrap_err(), "Invalid field: processId");
    }

    #[test]
    fn field_limits() {
        let ok = |v: Value| check(v).is_ok();
        assert!(ok(json!({"firstName": "a".repeat(100), "email": "e".repeat(254), "externalId": null})));
        assert_eq!(check(json!({"firstName": "a".repeat(101)})).unwrap_err(), "Invalid field: firstName");
        assert_eq!(check(json!({"lastName": 3})).unwrap_err(), "Invalid field: lastName");
        assert_eq!(check(json!({"email": "e".repeat(255)})).unwrap_err(), "Invalid field: email");
        assert_eq!(check(json!({"externalId": 12})).unwrap_err(), "Invalid field: externalId");
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        for bad in
            [json!(many), json!({"k".repeat(65): 1}), json!({"k": "v".repeat(1001)}), json!({"k": null}), json!([1])]
        {
            assert_eq!(check(json!({"customFields": bad})).unwrap_err(), "Invalid field: customFields");
        }
        assert!(ok(json!({"customFields": {"k".repeat(64): "v".repeat(1000), "n": 1.5, "b": true}})));
    }

    #[test]
    fn whole_request_checks() {
        let p = procs();
        let good = lead(json!({}));
        assert_eq!(check_request(std::slice::from_ref(&good), "prj", &p), Ok(()));
        let no_project = json!({"processId": "proc_a"});
        assert_eq!(check_request(&[good.clone(), no_project], "prj", &p).unwrap_err().0, 403);
        let other = lead(json!({"projectId": "prj_x"}));
        let (status, m) = check_request(&[other], "prj", &p).unwrap_err();
        assert_eq!((status, m), (403, msg::project_mismatch("prj_x")));
        let unknown = lead(json!({"processId": "proc_z"}));
        assert_eq!(check_request(&[unknown], "prj", &p).unwrap_err(), (404, msg::process_not_found("proc_z")));
        // A missing process is the lead's own error, not the request's.
        assert_eq!(check_request(&[lead(json!({"processId": ""}))], "prj", &p), Ok(()));
    }
}
