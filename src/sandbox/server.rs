//! HTTP: the accept loop with one hyper HTTP/1 connection per task (so a
//! fault can close a connection without any answer), routing (the state
//! report, like the endpoint, only for the key), turning a request into an
//! [`Incoming`] and a [`Reply`] into a response, and the graceful stop.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::endpoint::{Answer, Core, Incoming, Reply};
use super::snapshot::RequestRecord;
use crate::api;

/// Where the state report is served.
pub const STATE_PATH: &str = "/_sandbox/state";
/// The largest body read (1,000 leads with every field at its limit fit).
const BODY_LIMIT: usize = 128 << 20;
/// How long a stop waits for requests in flight before cutting them off.
const GRACE: Duration = Duration::from_secs(5);
/// 503 for a request still waiting out its latency when the sandbox stops.
const SHUTTING_DOWN: &str = "Sandbox is shutting down";

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub core: Mutex<Core>,
    /// Write one line per bulk request on stderr.
    pub log: bool,
    /// Cancelled to stop the server.
    pub stop: CancellationToken,
}

impl Shared {
    /// The core; a panic elsewhere while holding it does not poison it for
    /// good (every request leaves the state consistent before it can panic).
    pub fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (fault injection)")]
struct Dropped;

/// Accepts connections until `shared.stop` is cancelled, then lets the
/// open ones finish (idle keep-alive connections close at once).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause, go on.
                    if shared.log {
                        eprintln!("sandbox: cannot accept a connection: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(GRACE, drain).await.is_err() {
        connections.shutdown().await;
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let for_service = Arc::clone(&shared);
    let service = service_fn(move |req| route(Arc::clone(&for_service), req));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // Errors here are clients going away or our own dropped answers.
        _ = conn.as_mut() => {}
        () = shared.stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn route(shared: Arc<Shared>, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path();
    let reply = if path == api::PATH {
        if req.method() == Method::POST {
            return bulk(shared, req).await;
        }
        Reply::error(405, "Method not allowed")
    } else if path == STATE_PATH {
        // The report holds every lead sent (names, phones): only the key's
        // holder may read it, as only they may send.
        let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let core = shared.lock();
        if !core.authorized(authorization) {
            Reply::error(401, api::msg::INVALID_API_KEY)
        } else if req.method() == Method::GET {
            Reply::json(200, &core.snapshot(Instant::now()))
        } else {
            Reply::error(405, "Method not allowed")
        }
    } else {
        Reply::error(404, "Not found")
    };
    Ok(respond(reply))
}

async fn bulk(shared: Arc<Shared>, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Dropped> {
    let started = Instant::now();
    // Drawn as the request arrives, so the n-th request gets the n-th draw.
    let draw = shared.lock().draw();
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let incoming = Incoming {
        authorization: header(AUTHORIZATION.as_str()),
        version: query_param(parts.uri.query(), "version"),
        idempotency_key: header(api::IDEMPOTENCY_HEADER),
        body: axum::body::to_bytes(Body::new(body), BODY_LIMIT).await.ok(),
        fault: draw.fault,
    };
    if !draw.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(draw.latency) => {}
            () = shared.stop.cancelled() => return Ok(respond(Reply::error(503, SHUTTING_DOWN))),
        }
    }
    let (answer, record) = shared.lock().handle(incoming, Instant::now());
    if shared.log {
        log(&record, started.elapsed());
    }
    match answer {
        Answer::Send(reply) => Ok(respond(reply)),
        Answer::Drop => Err(Dropped),
    }
}

fn respond(reply: Reply) -> Response<Body> {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = reply.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// One query parameter, as written (the API's values need no decoding).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// One line per bulk request on stderr: what happened, never lead data.
fn log(r: &RequestRecord, took: Duration) {
    let status = r.status.map_or_else(|| "dropped".to_owned(), |s| s.to_string());
    let fault = r.fault.map(|f| format!(" fault={f:?}")).unwrap_or_default().to_lowercase();
    let replayed = if r.replayed { " replayed" } else { "" };
    eprintln!(
        "sandbox: #{} POST {} {status} leads={} created={} errors={}{fault}{replayed} {}ms",
        r.seq,
        api::PATH,
        r.lead_count,
        r.created,
        r.errors,
        took.as_millis()
    );
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn reads_query_params() {
        assert_eq!(query_param(Some("version=1.2"), "version").as_deref(), Some("1.2"));
        assert_eq!(query_param(Some("a=1&version=2"), "version").as_deref(), Some("2"));
        assert_eq!(query_param(Some("versionx=1"), "version"), None);
        assert_eq!(query_param(None, "version"), None);
    }
}
