//! One HTTP request of a batch, and its answer classified by `api`.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use crate::api::{self, Answer, Fault};
use crate::config::ApiKey;

/// Sends batches to one API endpoint with one key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    auth: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl Client {
    /// `api_url` is the base URL (no trailing `/`).
    pub fn new(api_url: &str, key: &ApiKey, timeout: Duration) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("leadctl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            endpoint: format!("{api_url}{}?version={}", api::PATH, api::VERSION),
            auth: format!("Bearer {}", key.expose()),
        })
    }

    /// Posts a serialized request body and classifies what comes back.
    pub async fn send(&self, body: bytes::Bytes, idempotency_key: &str) -> Answer {
        let result = self
            .http
            .post(&self.endpoint)
            .header(AUTHORIZATION, &self.auth)
            .header(CONTENT_TYPE, "application/json")
            .header(api::IDEMPOTENCY_HEADER, idempotency_key)
            .body(body)
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return network_error(&e),
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        match response.bytes().await {
            Ok(body) => Answer::classify(status, retry_after.as_deref(), &body),
            Err(e) => Answer::Fault(Fault::Unreadable { status, detail: format!("cut short: {}", detail(&e)) }),
        }
    }
}

/// A transport error as a typed fault. A failed connection (refused, or
/// timed out while connecting) never reached the server: nothing was created.
fn network_error(e: &reqwest::Error) -> Answer {
    let d = detail(e);
    Answer::Fault(if e.is_connect() {
        Fault::Connect(d)
    } else if e.is_timeout() {
        Fault::Timeout(d)
    } else {
        Fault::Network(d)
    })
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
