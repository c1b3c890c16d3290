//! How an HTTP answer, or its absence, is classified: the typed [`Answer`]
//! that `deliver::decide` turns into the next step. Every number a server
//! sends is bounded here before anything uses it (`Retry-After` at a day,
//! in seconds or as an HTTP date).

use std::time::Duration;

use super::{BulkResponse, ErrorBody, MAX_RESPONSE_BYTES, msg};

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
    /// An answer whose body passed [`MAX_RESPONSE_BYTES`]: not read further.
    Oversized { status: u16 },
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
            Fault::Oversized { status } => {
                write!(f, "HTTP {status} with a body over {} MiB (not read)", MAX_RESPONSE_BYTES >> 20)
            }
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
    /// A 3xx. Redirects are never followed (they would carry the leads and
    /// the key to another origin); the run must stop. `location` is the
    /// header as sent, if it is readable text.
    Redirect { status: u16, location: Option<String> },
    /// The TLS handshake failed on something a retry cannot change (an
    /// untrusted, expired or misnamed certificate); the run must stop.
    Tls { reason: String },
}

/// The response headers an answer is classified by, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    pub retry_after: Option<&'a str>,
    pub location: Option<&'a str>,
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
            Answer::Redirect { .. } => "redirect",
            Answer::Tls { .. } => "tls",
        }
    }

    /// The HTTP status of the answer, as the metrics label requests:
    /// `network` when no answer came, `tls` when the handshake failed.
    pub fn status_label(&self) -> String {
        let status = match self {
            Answer::Ok(_) => 200,
            Answer::Fault(Fault::Connect(_) | Fault::Timeout(_) | Fault::Network(_)) => return "network".into(),
            Answer::Tls { .. } => return "tls".into(),
            Answer::Fault(Fault::RequestTimeout(_)) => 408,
            Answer::Fault(
                Fault::Server { status, .. } | Fault::Unreadable { status, .. } | Fault::Oversized { status },
            ) => *status,
            Answer::RateLimited { .. } => 429,
            Answer::TooLarge { .. } => 400,
            Answer::ProcessNotFound { .. } => 404,
            Answer::Denied { status, .. } | Answer::Fatal { status, .. } | Answer::Redirect { status, .. } => *status,
        };
        status.to_string()
    }

    /// [`Answer::classify`] of a body held as the chunks it came in: a 200
    /// is read from them as they are, any other answer from them joined.
    pub fn classify_chunks(status: u16, headers: Headers<'_>, chunks: &[bytes::Bytes], sent: usize) -> Answer {
        if status != 200 {
            return Answer::classify(status, headers, &chunks.concat(), sent);
        }
        match super::bounded::parse_chunks(chunks, sent) {
            Ok(r) => Answer::Ok(r),
            Err(e) => Answer::Fault(Fault::Unreadable { status, detail: e.to_string() }),
        }
    }

    /// Classifies a complete HTTP answer (a 3xx needs no body) to a
    /// request of `sent` leads: a 200 is read with memory bounded by them
    /// ([`super::bounded`]).
    pub fn classify(status: u16, headers: Headers<'_>, body: &[u8], sent: usize) -> Answer {
        let message = || {
            serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() { format!("HTTP {status}") } else { truncate(text, 200) }
            })
        };
        match status {
            200 => match super::bounded::parse(body, sent) {
                Ok(r) => Answer::Ok(r),
                Err(e) => Answer::Fault(Fault::Unreadable { status, detail: e.to_string() }),
            },
            300..=399 => Answer::Redirect { status, location: headers.location.map(|l| truncate(l.trim(), 200)) },
            429 => Answer::RateLimited {
                retry_after: headers.retry_after.and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
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

    const NONE: Headers<'static> = Headers { retry_after: None, location: None };

    #[test]
    fn classifies_whole_request_answers() {
        let body = |m: &str| serde_json::to_vec(&ErrorBody { error: m.into() }).unwrap();
        assert_eq!(Answer::classify(400, NONE, &body(&msg::maximum(250)), 1), Answer::TooLarge { max: 250 });
        assert!(matches!(Answer::classify(400, NONE, &body(msg::NOT_AN_ARRAY), 1), Answer::Fatal { .. }));
        assert_eq!(
            Answer::classify(404, NONE, &body(&msg::process_not_found("proc_x")), 1),
            Answer::ProcessNotFound { process_id: "proc_x".into() }
        );
        assert_eq!(
            Answer::classify(429, Headers { retry_after: Some("7"), location: None }, &body(msg::RATE_LIMITED), 1),
            Answer::RateLimited { retry_after: Some(Duration::from_secs(7)), message: msg::RATE_LIMITED.into() }
        );
        assert_eq!(
            Answer::classify(503, NONE, b"oops", 1),
            Answer::Fault(Fault::Server { status: 503, message: "oops".into() })
        );
        assert!(matches!(Answer::classify(408, NONE, b"", 1), Answer::Fault(f) if !f.may_have_acted()));
        assert!(matches!(Answer::classify(501, NONE, b"", 1), Answer::Fatal { status: 501, .. }));
        assert!(matches!(Answer::classify(200, NONE, b"{trunc", 1), Answer::Fault(f) if f.may_have_acted()));
        let many = Answer::classify(200, NONE, br#"{"leads":[{},{},{}]}"#, 1);
        assert!(matches!(&many, Answer::Fault(f @ Fault::Unreadable { .. }) if f.may_have_acted()), "{many:?}");
        assert!(matches!(
            Answer::classify(403, NONE, &body(msg::PROJECT_INACTIVE), 1),
            Answer::Denied { status: 403, .. }
        ));
        let moved = Headers { retry_after: None, location: Some("https://elsewhere.example/v1") };
        assert_eq!(
            Answer::classify(307, moved, b"", 1),
            Answer::Redirect { status: 307, location: Some("https://elsewhere.example/v1".into()) }
        );
        assert_eq!(Answer::classify(301, NONE, b"moved", 1), Answer::Redirect { status: 301, location: None });
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
}
