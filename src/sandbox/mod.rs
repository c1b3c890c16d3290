//! The bundled emulator of the Bulk Initiate Leads API (`leadctl sandbox`,
//! and `leadctl upload --sandbox` in-process), as `api-contract.md`'s
//! "Sandbox server semantics" describe it.
//!
//! By concern: `args` (the flags), `preexisting` (the start-up lead file),
//! `server` (HTTP, connections, stop), `endpoint` (one request through its
//! checks, under one lock), `validate` (stateless checks), `bulk` (the work
//! against the lead memory), `state` (the lead memory), `throttle` (rate
//! limit and duplicate protection), `faults` (seeded fault injection),
//! `history` and `snapshot` (what the sandbox saw, for `GET /_sandbox/state`).

mod args;
mod bulk;
mod endpoint;
mod faults;
mod history;
mod preexisting;
mod server;
mod snapshot;
mod state;
mod throttle;
mod validate;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use args::SandboxArgs;
pub use preexisting::{PreexistingLead, read_csv as read_preexisting};
pub use server::STATE_PATH;
pub use snapshot::{Fault, LeadSnapshot, RequestRecord, ResentLead, StateSnapshot};

use crate::api;
use bulk::Rules;
use endpoint::{Core, CoreSettings};
use faults::Dice;
use server::Shared;
use throttle::{DuplicateGuard, TokenBucket};

/// The demo project id.
pub const DEFAULT_PROJECT_ID: &str = "prj_sandbox";
/// The demo API key (a sandbox key, not a secret).
pub const DEFAULT_API_KEY: &str = "sk_sandbox";
/// The demo process ids.
pub const DEFAULT_PROCESS_IDS: [&str; 2] = ["proc_sales", "proc_support"];

/// Every sandbox setting, checked by [`Sandbox::start`]. Time windows are
/// `Duration`s, so tests can use milliseconds.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The one project; the API key belongs to it.
    pub project_id: String,
    /// The key clients send as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// The project's process ids (at least one).
    pub process_ids: Vec<String>,
    /// False: every request gets 403 `Project is inactive`.
    pub active: bool,
    /// Most items per request; more gets 400 `Maximum of N leads ...`.
    pub max_leads: usize,
    /// Requests per second for the project; 0 = no rate limit.
    pub rate_per_sec: f64,
    /// Requests allowed in a burst (the bucket's size, at least 1).
    pub burst: u32,
    /// The key is blocked when more than this many bad leads arrive
    /// within `block_window`.
    pub block_threshold: usize,
    /// The window of `block_threshold`.
    pub block_window: Duration,
    /// How long a block lasts; a rejected lead re-sent while blocked
    /// starts it over.
    pub block_for: Duration,
    /// Honour `Idempotency-Key` (replay the stored answer).
    pub idempotency: bool,
    /// Leads that exist at start.
    pub preexisting: Vec<PreexistingLead>,
    /// Seed of the fault dice.
    pub seed: u64,
    /// Fixed wait before each answer.
    pub latency: Duration,
    /// Random extra wait, uniform in `[0, latency_jitter]`.
    pub latency_jitter: Duration,
    /// Share of requests answered 500 before anything is done.
    pub fail_rate: f64,
    /// Share of requests whose connection is closed without an answer,
    /// before anything is done.
    pub drop_rate: f64,
    /// Share of requests carried out, then answered 500 (lost responses).
    pub lost_rate: f64,
    /// The first this many requests are answered 500 before anything is
    /// done, whatever the dice say (a server that recovers, for tests).
    pub fail_first: u64,
    /// One line per bulk request on stderr.
    pub log_requests: bool,
}

impl Default for SandboxConfig {
    /// The demo settings: any free port, `prj_sandbox` / `sk_sandbox` with
    /// `proc_sales` and `proc_support`, 1,000 leads a request, 10 requests a
    /// second (bursts of 20), more than 50 bad leads in 60 s blocks for 30 s,
    /// no idempotency, no faults, quiet.
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            process_ids: DEFAULT_PROCESS_IDS.iter().map(|&p| p.to_owned()).collect(),
            active: true,
            max_leads: api::MAX_LEADS_PER_REQUEST,
            rate_per_sec: 10.0,
            burst: 20,
            block_threshold: 50,
            block_window: Duration::from_secs(60),
            block_for: Duration::from_secs(30),
            idempotency: false,
            preexisting: Vec::new(),
            seed: 0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            fail_rate: 0.0,
            drop_rate: 0.0,
            lost_rate: 0.0,
            fail_first: 0,
            log_requests: false,
        }
    }
}

impl SandboxConfig {
    /// Refuses settings the sandbox cannot honour, saying which.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.project_id.trim().is_empty() {
            bail!("the sandbox's project id is empty");
        }
        if self.api_key.is_empty() || self.api_key.chars().any(char::is_whitespace) {
            bail!("the sandbox's API key must be one word, without spaces");
        }
        if self.process_ids.is_empty() || self.process_ids.iter().any(|p| p.trim().is_empty()) {
            bail!("the sandbox needs at least one process id, none of them empty");
        }
        if self.max_leads == 0 {
            bail!("the maximum of leads per request must be at least 1");
        }
        if !self.rate_per_sec.is_finite() || self.rate_per_sec < 0.0 {
            bail!("the rate must be a number of requests per second, 0 (no limit) or more");
        }
        let rates = [("fail", self.fail_rate), ("drop", self.drop_rate), ("lost", self.lost_rate)];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                bail!("the {name} rate must be a share between 0 and 1 (got {rate})");
            }
        }
        if self.fail_rate + self.drop_rate + self.lost_rate > 1.0 {
            bail!("the fail, drop and lost rates add up to more than 1");
        }
        Ok(())
    }
}

/// A running sandbox. Dropping it stops the server too (without waiting);
/// [`Sandbox::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    api_key: String,
    project_id: String,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Checks `config`, loads the pre-existing leads and listens on
    /// 127.0.0.1:`config.port` (0 = any free port).
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        config.check()?;
        let store = preexisting::store(&config.preexisting, &config.process_ids)?;
        let now = Instant::now();
        let rates = [config.fail_rate, config.drop_rate, config.lost_rate];
        let settings = CoreSettings {
            api_key: config.api_key.clone(),
            idempotency: config.idempotency,
            dice: Dice::new(config.seed, config.latency, config.latency_jitter, rates).failing_first(config.fail_first),
            bucket: TokenBucket::new(config.rate_per_sec, config.burst, now),
            guard: DuplicateGuard::new(config.block_threshold, config.block_window, config.block_for),
        };
        let rules = Rules {
            project_id: config.project_id.clone(),
            processes: config.process_ids.clone(),
            active: config.active,
            max_leads: config.max_leads,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .with_context(|| format!("the sandbox cannot listen on 127.0.0.1:{}", config.port))?;
        let addr = listener.local_addr().context("the sandbox's listening address")?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(settings, rules, store)),
            log: config.log_requests,
            stop: CancellationToken::new(),
        });
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(Sandbox { addr, api_key: config.api_key, project_id: config.project_id, shared, task: Some(task) })
    }

    /// The API base URL, `http://127.0.0.1:<port>`; the endpoint is
    /// `{url}/leads/bulk-initiate?version=1.2`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The key clients must send.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The project the key belongs to.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// What `GET /_sandbox/state` reports.
    pub fn state(&self) -> StateSnapshot {
        self.shared.lock().snapshot(Instant::now())
    }

    /// Stops accepting, lets requests in flight finish (at most a few
    /// seconds), and returns when the port is closed.
    pub async fn shutdown(mut self) {
        self.shared.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

/// The `leadctl sandbox` command: starts, prints `listening on <url>` as
/// the first line on stdout, runs until SIGINT or SIGTERM, stops cleanly.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let seed = config.seed;
    let default_key = config.api_key == DEFAULT_API_KEY;
    let sandbox = Sandbox::start(config).await?;
    let url = sandbox.url();
    announce(&url)?;
    if !args.quiet {
        // A key given with --api-key may be meant to keep other accounts
        // out of the state report: it is not printed.
        let key = if default_key { DEFAULT_API_KEY } else { "<the --api-key value>" };
        let export_key = if default_key { DEFAULT_API_KEY.to_owned() } else { "'<the --api-key value>'".to_owned() };
        let quote = crate::settings::shell_quote;
        eprintln!(
            "sandbox: project {project}, processes {}\n\
             sandbox: POST {url}{}?version={} with Authorization: Bearer {key}\n\
             sandbox: state at {url}{STATE_PATH}; fault seed {seed}; Ctrl-C stops\n\
             sandbox: to upload to it from another shell, paste:\n\
             \x20 export LEADCTL_API_URL={url}\n\
             \x20 export LEADCTL_API_KEY={export_key}\n\
             \x20 export LEADCTL_PROJECT_ID={}",
            args.process_ids.join(", "),
            api::PATH,
            api::VERSION,
            quote(sandbox.project_id()),
            project = sandbox.project_id(),
        );
    }
    wait_for_signal().await?;
    sandbox.shutdown().await;
    if !args.quiet {
        eprintln!("sandbox: stopped");
    }
    Ok(())
}

/// The first stdout line, flushed so a parent process sees it at once. A
/// closed stdout is not an error: the sandbox still serves.
fn announce(url: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "listening on {url}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the listening address on stdout")
        }
        _ => Ok(()),
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C")?;
    Ok(())
}
