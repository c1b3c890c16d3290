//! A scripted hostile API on 127.0.0.1:0: it answers each request with the
//! next [`Reply`] of its script (then accepts everything), and records what
//! it was sent and which leads it said it created. Plain HTTP/1.1 written
//! by hand over TCP, so that it can say what no well-behaved server says:
//! a dropped connection, a 100 MB body, a body that never ends, a repeated
//! index, an absurd `Retry-After`. One request per connection.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The key the hostile server's clients send (it checks nothing).
pub const KEY: &str = "sk_hostile_5ecret_key";

/// What becomes of lead `i` in a scripted 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// In `leads`, by its index.
    Created,
    /// In `errors`, by its index (`Invalid phone number format`).
    Refused,
    /// In neither array.
    Omitted,
    /// In `leads` twice: once by its index, once more with the same index
    /// but the next lead's `externalId`.
    Repeated,
    /// In `leads` and in `errors`, with the same index.
    Contradicted,
    /// In `leads` without an index, by `externalId` only.
    Unindexed,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200: lead `i` gets `fates[i % fates.len()]`.
    Fates(Vec<Fate>),
    /// Any status, headers and body, as given.
    Raw { status: u16, headers: Vec<(String, String)>, body: String },
    /// The connection is closed without an answer.
    Drop,
    /// 200 with a chunked body of `bytes` spaces, made as it is sent.
    Huge { bytes: u64 },
    /// 200 that announces a body and sends a few bytes of it, then nothing.
    Stall,
    /// 429 whose `Retry-After` is an HTTP date `secs` after it is sent.
    LimitedUntil { secs: u64 },
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Raw { status, headers: Vec::new(), body: body.to_owned() }
    }

    /// `status` with `{"error": message}` and the given headers.
    pub fn error(status: u16, message: &str, headers: &[(&str, &str)]) -> Reply {
        Reply::Raw {
            status,
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: json!({ "error": message }).to_string(),
        }
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// `POST /leads/bulk-initiate?version=1.2`, as sent.
    pub request_line: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub external_ids: Vec<String>,
    /// The request body as JSON (`Null` when it did not parse).
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
    /// How many 200s said each external id was created.
    created: BTreeMap<String, usize>,
}

pub struct Hostile {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Bytes of `Huge` bodies handed to the socket.
    sent: Arc<AtomicU64>,
}

impl Hostile {
    pub fn start(rt: &Runtime, script: Vec<Reply>) -> Hostile {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State { script: script.into(), ..State::default() }));
        let sent = Arc::new(AtomicU64::new(0));
        let (st, se) = (Arc::clone(&state), Arc::clone(&sent));
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&st), Arc::clone(&se)));
            }
        });
        Hostile { addr, state, sent }
    }

    /// The API base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// How many 200s said each external id was created.
    pub fn created(&self) -> BTreeMap<String, usize> {
        self.lock().created.clone()
    }

    /// Bytes of `Huge` bodies handed to the socket so far.
    pub fn huge_bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, sent: Arc<AtomicU64>) {
    let Some((request_line, headers, body)) = read_request(&mut stream).await else { return };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let leads = request["leads"].as_array().cloned().unwrap_or_default();
    let external_ids: Vec<String> =
        leads.iter().map(|l| l["externalId"].as_str().unwrap_or_default().to_owned()).collect();
    let reply = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let body = request.clone();
        s.seen.push(Seen { at: Instant::now(), request_line, headers, external_ids: external_ids.clone(), body });
        let reply = s.script.pop_front().unwrap_or(Reply::Fates(vec![Fate::Created]));
        if let Reply::Fates(fates) = &reply {
            for (i, id) in external_ids.iter().enumerate() {
                if fates[i % fates.len()] != Fate::Refused && fates[i % fates.len()] != Fate::Omitted {
                    *s.created.entry(id.clone()).or_default() += 1;
                }
            }
        }
        reply
    };
    let _ = match reply {
        Reply::Fates(fates) => respond(&mut stream, 200, &[], &answer(&fates, &external_ids).to_string()).await,
        Reply::Raw { status, headers, body } => respond(&mut stream, status, &headers, &body).await,
        Reply::Drop => Ok(()),
        Reply::Huge { bytes } => huge(&mut stream, bytes, &sent).await,
        Reply::Stall => stall(&mut stream).await,
        Reply::LimitedUntil { secs } => {
            let date = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(secs));
            let body = json!({ "error": "Rate limit exceeded" }).to_string();
            respond(&mut stream, 429, &[("retry-after".to_owned(), date)], &body).await
        }
    };
}

/// The head (request line and headers) and the body (by Content-Length).
async fn read_request(stream: &mut TcpStream) -> Option<(String, BTreeMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some((request_line, headers, body))
}

/// A version 1.2 answer giving lead `i` the fate `fates[i % len]`.
fn answer(fates: &[Fate], external_ids: &[String]) -> Value {
    let (mut leads, mut errors) = (Vec::new(), Vec::new());
    for (i, id) in external_ids.iter().enumerate() {
        let created = json!({ "index": i, "leadId": format!("ld_h{i}"), "externalId": id });
        let refused = json!({ "index": i, "externalId": id, "error": "Invalid phone number format" });
        match fates[i % fates.len()] {
            Fate::Created => leads.push(created),
            Fate::Refused => errors.push(refused),
            Fate::Omitted => {}
            Fate::Repeated => {
                let next = external_ids.get(i + 1).cloned().unwrap_or_default();
                leads.push(created);
                leads.push(json!({ "index": i, "leadId": format!("ld_h{i}b"), "externalId": next }));
            }
            Fate::Contradicted => {
                leads.push(created);
                errors.push(refused);
            }
            Fate::Unindexed => leads.push(json!({ "leadId": format!("ld_h{i}"), "externalId": id })),
        }
    }
    json!({ "leads": leads, "errors": errors })
}

async fn respond(stream: &mut TcpStream, status: u16, headers: &[(String, String)], body: &str) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// `bytes` spaces in 64 KiB chunks, counted as they go; the client
/// closing the connection ends it.
async fn huge(stream: &mut TcpStream, bytes: u64, sent: &AtomicU64) -> std::io::Result<()> {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    let block = vec![b' '; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
        stream.write_all(&block[..n]).await?;
        stream.write_all(b"\r\n").await?;
        sent.fetch_add(n as u64, Ordering::SeqCst);
        left -= n as u64;
    }
    stream.write_all(b"0\r\n\r\n").await
}

/// Announces 1,000 bytes, sends 10, then waits for the client to hang up.
async fn stall(stream: &mut TcpStream) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"leads\":[";
    stream.write_all(head.as_bytes()).await?;
    let mut buf = [0u8; 1024];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}
