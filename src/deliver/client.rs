//! One HTTP request of a batch, and its answer classified by `api`.
//!
//! The client is built explicitly so that nothing reaches it from the
//! environment: the proxy is the [`Route`] `config` decided (reqwest would
//! otherwise read the proxy variables itself, for loopback too), redirects
//! are never followed (a 307 would carry the leads and the key to another
//! origin), the `Authorization` value is marked sensitive, and a body is
//! read in chunks up to [`api::MAX_RESPONSE_BYTES`], never whole. A TLS
//! failure is told apart from other transport errors: it is not retried.

use std::time::Duration;

use anyhow::{Context, anyhow};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};

use crate::api::{self, Answer, Fault, Headers};
use crate::config::{ApiKey, Route};

/// Sends batches to one API endpoint with one key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    auth: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl Client {
    /// `api_url` is the base URL (no trailing `/`); `route` says whether a
    /// proxy is used (`config` decides; loopback is always direct).
    pub fn new(api_url: &str, key: &ApiKey, timeout: Duration, route: &Route) -> anyhow::Result<Client> {
        // `config` refuses such keys first; this only keeps the key out of
        // any error (reqwest's would not show it, but says nothing useful).
        let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose()))
            .map_err(|_| anyhow!("the API key has a byte that cannot go in an HTTP header"))?;
        auth.set_sensitive(true);
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("leadctl/", env!("CARGO_PKG_VERSION")));
        let builder = match route {
            Route::Direct => builder.no_proxy(),
            Route::Proxy { url, from } => {
                // reqwest's error would quote the URL, password and all.
                let proxy = reqwest::Proxy::all(url.expose())
                    .map_err(|_| anyhow!("the proxy {url} (from {from}) is not usable as a proxy URL"))?;
                builder.proxy(proxy)
            }
        };
        let http = builder.build().context("cannot set up the HTTP client (TLS roots, proxy)")?;
        Ok(Client { http, endpoint: format!("{api_url}{}?version={}", api::PATH, api::VERSION), auth })
    }

    /// Posts a serialized request body of `leads` leads and classifies
    /// what comes back (an answer is read for that many leads, no more).
    pub async fn send(&self, body: bytes::Bytes, leads: usize, idempotency_key: &str) -> Answer {
        let result = self
            .http
            .post(&self.endpoint)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(api::IDEMPOTENCY_HEADER, idempotency_key)
            .body(body)
            .send()
            .await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => return transport_error(&e),
        };
        let status = response.status().as_u16();
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (retry_after, location) = (header(RETRY_AFTER), header(LOCATION));
        let headers = Headers { retry_after: retry_after.as_deref(), location: location.as_deref() };
        if response.status().is_redirection() {
            // Classified by its status and Location alone; the body is not read.
            return Answer::classify(status, headers, b"", leads);
        }
        match read_body(&mut response, status).await {
            Ok(chunks) => Answer::classify_chunks(status, headers, &chunks, leads),
            Err(fault) => Answer::Fault(fault),
        }
    }
}

/// The body, chunk by chunk, up to [`api::MAX_RESPONSE_BYTES`]: a larger
/// one (announced or not) is a server fault, and dropping the response
/// closes the connection without reading the rest. The chunks are kept as
/// they came and a 200 is parsed from them as they are: a growing buffer,
/// or a joined copy, would hold the body twice.
async fn read_body(response: &mut reqwest::Response, status: u16) -> Result<Vec<bytes::Bytes>, Fault> {
    let limit = api::MAX_RESPONSE_BYTES;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Fault::Oversized { status });
    }
    let (mut chunks, mut len) = (Vec::new(), 0usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                len += chunk.len();
                if len > limit {
                    return Err(Fault::Oversized { status });
                }
                chunks.push(chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err(Fault::Timeout(format!("reading the answer: {}", detail(&e)))),
            Err(e) => return Err(Fault::Unreadable { status, detail: format!("cut short: {}", detail(&e)) }),
        }
    }
    Ok(chunks)
}

/// A transport error as a typed answer. A failed TLS handshake stops the
/// run; a failed connection (refused, or timed out while connecting) never
/// reached the server: nothing was created.
fn transport_error(e: &reqwest::Error) -> Answer {
    if let Some(tls) = tls_error(e) {
        return Answer::Tls { reason: tls_reason(tls) };
    }
    let d = detail(e);
    Answer::Fault(if e.is_connect() {
        Fault::Connect(d)
    } else if e.is_timeout() {
        Fault::Timeout(d)
    } else {
        Fault::Network(d)
    })
}

/// The TLS library's error among the causes, if the handshake failed. It
/// arrives wrapped in `io::Error`s, whose `source()` skips the error they
/// wrap, so each `io::Error` is opened too.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    fn find<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let wrapped = cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        if let Some(tls) = wrapped.and_then(|w| find(w)) {
            return Some(tls);
        }
        cause.source().and_then(find)
    }
    find(e)
}

/// What a TLS failure means, in words an operator can act on.
fn tls_reason(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return format!("the TLS handshake with the server failed ({e})");
    };
    let what = match cert {
        C::UnknownIssuer => "is not signed by a certificate authority this machine trusts (unknown issuer)",
        C::Expired | C::ExpiredContext { .. } => "has expired (or this machine's clock is wrong)",
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet (or this machine's clock is wrong)",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "is not valid for the API URL's host name (name mismatch)"
        }
        C::Revoked => "has been revoked",
        _ => "is not acceptable",
    };
    format!("the server's certificate {what} ({e})")
}

/// The innermost cause of a transport error: the useful part, without the
/// URL reqwest puts in its own message.
fn detail(e: &reqwest::Error) -> String {
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { "no detail".to_owned() } else { detail }
}
