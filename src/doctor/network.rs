//! The way to the API, one line a step: the route (a proxy, if any), DNS
//! and TCP to the first hop, then one request that creates nothing and
//! carries no lead (`{"leadIds":[]}`, the contract's probe), sent by the
//! client a run uses: its answer says whether TLS, the key and the
//! project are good.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use url::{Host, Url};

use super::report::Check;
use crate::api::{self, Answer, Fault};
use crate::config::{ApiKey, Route};
use crate::deliver::client::Client;

/// The probe's body: an empty array of lead ids, which the server answers
/// after checking the key, the rate limit and the project, and which can
/// create nothing.
pub const PROBE_BODY: &str = r#"{"leadIds":[]}"#;

/// The API as a run would reach it.
pub(super) struct Target<'a> {
    pub api_url: &'a str,
    pub key: &'a ApiKey,
    /// Where the key came from, in words.
    pub key_from: &'a str,
    pub route: &'a Route,
    pub timeout: Duration,
    pub max_rate_limit_wait: Duration,
}

/// Route, DNS, TCP, then TLS and the API by the probe; a step that fails
/// ends the list (the steps after it cannot be made).
pub(super) async fn checks(t: &Target<'_>) -> Vec<Check> {
    let mut out = vec![Check::ok("route", t.route.to_string())];
    let Some(hop) = first_hop(t) else {
        out.push(Check::fail("dns", format!("{} names no host", t.api_url)).fix("correct --api-url"));
        return out;
    };
    let connect_timeout = t.timeout.min(Duration::from_secs(10));
    let addrs = match resolve(&hop, connect_timeout).await {
        Ok(check_and_addrs) => {
            out.push(check_and_addrs.0);
            check_and_addrs.1
        }
        Err(check) => {
            out.push(check);
            return out;
        }
    };
    let tcp = connect(&hop, &addrs, connect_timeout).await;
    let reached = tcp.status != super::report::Status::Fail;
    out.push(tcp);
    if reached {
        out.extend(probe(t).await);
    }
    out
}

/// The host a connection goes to first: the proxy's, or the API's.
struct Hop {
    host: Host<String>,
    port: u16,
    /// `the proxy` or `the API`, for the messages.
    what: &'static str,
}

fn first_hop(t: &Target<'_>) -> Option<Hop> {
    let (url, what) = match t.route {
        Route::Direct => (Url::parse(t.api_url).ok()?, "the API"),
        Route::Proxy { url, .. } => (Url::parse(url.expose()).ok()?, "the proxy"),
    };
    Some(Hop { host: url.host()?.to_owned(), port: url.port_or_known_default()?, what })
}

async fn resolve(hop: &Hop, within: Duration) -> Result<(Check, Vec<SocketAddr>), Check> {
    let name = match &hop.host {
        Host::Ipv4(ip) => {
            return Ok((Check::ok("dns", format!("{ip} ({}) is an address", hop.what)), vec![(*ip, hop.port).into()]));
        }
        Host::Ipv6(ip) => {
            return Ok((Check::ok("dns", format!("{ip} ({}) is an address", hop.what)), vec![(*ip, hop.port).into()]));
        }
        Host::Domain(d) => d.clone(),
    };
    let fix = match hop.what {
        "the proxy" => "check the proxy's name (--proxy, the config file's `proxy`, HTTPS_PROXY)",
        _ => "check the host name in --api-url, and this machine's DNS (/etc/resolv.conf)",
    };
    match tokio::time::timeout(within, tokio::net::lookup_host((name.as_str(), hop.port))).await {
        Ok(Ok(found)) => {
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err(Check::fail("dns", format!("{name} ({}) resolves to no address", hop.what)).fix(fix));
            }
            let mut shown: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
            if addrs.len() > 4 {
                shown.push(format!("and {} more", addrs.len() - 4));
            }
            let via = if hop.what == "the proxy" { "; the proxy resolves the API's name" } else { "" };
            Ok((Check::ok("dns", format!("{name} ({}) resolves to {}{via}", hop.what, shown.join(", "))), addrs))
        }
        Ok(Err(e)) => Err(Check::fail("dns", format!("cannot resolve {name} ({}): {e}", hop.what)).fix(fix)),
        Err(_) => {
            Err(Check::fail("dns", format!("resolving {name} ({}) took over {} s", hop.what, within.as_secs()))
                .fix(fix))
        }
    }
}

/// A TCP connection to the first address that takes one.
async fn connect(hop: &Hop, addrs: &[SocketAddr], within: Duration) -> Check {
    let mut errors = Vec::new();
    for addr in addrs {
        let started = Instant::now();
        match tokio::time::timeout(within, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                let ms = started.elapsed().as_millis();
                return Check::ok("tcp", format!("connected to {} at {addr} in {ms} ms", hop.what));
            }
            Ok(Err(e)) => errors.push(format!("{addr}: {e}")),
            Err(_) => errors.push(format!("{addr}: no answer within {} s", within.as_secs())),
        }
    }
    let fix = match hop.what {
        "the proxy" => "check the proxy's port and that it runs (--proxy, HTTPS_PROXY)",
        _ => "check the port in --api-url, and that a firewall lets this machine out to it",
    };
    Check::fail("tcp", format!("cannot connect to {}: {}", hop.what, errors.join("; "))).fix(fix)
}

/// The probe: TLS (for https), then what the answer says of the key and
/// the project.
async fn probe(t: &Target<'_>) -> Vec<Check> {
    let client = match Client::new(t.api_url, t.key, t.timeout, t.route) {
        Ok(c) => c,
        Err(e) => return vec![Check::fail("api", format!("{e:#}"))],
    };
    let started = Instant::now();
    let answer = client.send(Bytes::from_static(PROBE_BODY.as_bytes()), 0, &uuid::Uuid::new_v4().to_string()).await;
    let ms = started.elapsed().as_millis();
    let https = t.api_url.starts_with("https://");
    let tls = match &answer {
        Answer::Tls { reason } => {
            let fix = "if the API uses a private certificate authority, set SSL_CERT_FILE to its PEM file (or \
                       SSL_CERT_DIR to a directory of them); otherwise check --api-url and this machine's clock";
            return vec![Check::fail("tls", reason.clone()).fix(fix)];
        }
        Answer::Fault(Fault::Connect(_) | Fault::Timeout(_) | Fault::Network(_)) => None,
        _ if https => Some(Check::ok("tls", "the server's certificate is trusted (the probe's handshake)")),
        _ => Some(Check::ok("tls", "not used: http:// to this machine")),
    };
    let api = judge(t, answer, ms);
    tls.into_iter().chain([api]).collect()
}

/// What the probe's answer says, in the contract's terms.
fn judge(t: &Target<'_>, answer: Answer, ms: u128) -> Check {
    match answer {
        // Read as the answer to no lead: an entry in either list makes it unreadable (a fault).
        Answer::Ok(_) => {
            Check::ok("api", format!("the key is accepted and the project can take leads (200 in {ms} ms)"))
        }
        Answer::Denied { status: 401, message } => {
            Check::fail("api", format!("the key is refused (HTTP 401: {message})"))
                .fix(format!("check the key from {}: it must be this API's key for the project", t.key_from))
        }
        Answer::Denied { status, message } => Check::fail(
            "api",
            format!("the key is accepted, but the project cannot take leads (HTTP {status}: {message})"),
        )
        .fix("ask the vendor to activate the project, or use the key of a project that is active"),
        Answer::RateLimited { retry_after, message } => rate_limited(t, retry_after, &message),
        Answer::Fatal { status: 400, message } if message == api::msg::EITHER_REQUIRED => Check::warn(
            "api",
            format!(
                "reachable, and the key is not refused; the project's state is unknown: the server does not take \
                 an empty leadIds array (HTTP 400: {message})"
            ),
        ),
        Answer::Redirect { status, location } => Check::fail(
            "api",
            format!(
                "HTTP {status}, a redirect to {}; leadctl follows no redirect",
                location.as_deref().unwrap_or("an unreadable Location")
            ),
        )
        .fix("check --api-url (https://, the host, the path)"),
        Answer::Fault(Fault::Server { status, message }) => {
            Check::fail("api", format!("the server failed (HTTP {status}: {message})"))
                .fix("try again later; if it lasts, ask the vendor")
        }
        Answer::Fault(fault) => Check::fail("api", format!("no usable answer: {fault}"))
            .fix("check the network path to the API (firewall, proxy) and --timeout"),
        other => Check::fail("api", format!("unexpected answer to a request with no lead: {}", describe(&other)))
            .fix("check that --api-url is the API's base URL"),
    }
}

/// 429: the key was checked first, so it is good; the project was not.
fn rate_limited(t: &Target<'_>, retry_after: Option<Duration>, message: &str) -> Check {
    let left = retry_after.map_or_else(|| "no Retry-After".to_owned(), |d| format!("{} s left", d.as_secs()));
    let detail =
        format!("the key is accepted but refused for now (HTTP 429: {message}; {left}); the project was not checked");
    let waits = retry_after.is_none_or(|d| d <= t.max_rate_limit_wait);
    let check = if waits { Check::warn("api", detail) } else { Check::fail("api", detail) };
    if message == api::msg::KEY_BLOCKED {
        check.fix("the key is blocked for bad or duplicate leads: find the run that sent them, and run doctor again once the block ends")
    } else if waits {
        check.fix(format!(
            "a run waits this out (--max-rate-limit-wait {} s); run doctor again later",
            t.max_rate_limit_wait.as_secs()
        ))
    } else {
        check.fix(format!(
            "longer than a run waits (--max-rate-limit-wait {} s): run doctor again later",
            t.max_rate_limit_wait.as_secs()
        ))
    }
}

fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Fatal { status, message } => format!("HTTP {status}: {message}"),
        Answer::TooLarge { max } => format!("HTTP 400: at most {max} leads"),
        Answer::ProcessNotFound { process_id } => format!("HTTP 404: process {process_id} not found"),
        other => other.name().to_owned(),
    }
}
