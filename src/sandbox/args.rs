//! The `leadctl sandbox` flags, as clap reads them, and their checked
//! conversion into a [`SandboxConfig`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::preexisting;
use super::{DEFAULT_API_KEY, DEFAULT_PROCESS_IDS, DEFAULT_PROJECT_ID, SandboxConfig};
use crate::api;

/// Run the bundled emulator of the Bulk Initiate Leads API on 127.0.0.1.
///
/// The first line on stdout is `listening on http://127.0.0.1:<port>`: that
/// URL is the API base URL. Stderr then shows the `export LEADCTL_API_URL=...`,
/// `LEADCTL_API_KEY` and `LEADCTL_PROJECT_ID` lines to paste into another
/// shell. `GET <url>/_sandbox/state` (with the sandbox's key as
/// `Authorization: Bearer <key>`) reports every lead and request. Stops
/// cleanly on Ctrl-C or SIGTERM.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1; 0 picks a free one (the first line on stdout says which).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,

    /// The project the API key belongs to.
    #[arg(long, value_name = "ID", default_value = DEFAULT_PROJECT_ID)]
    pub project_id: String,

    /// The key clients send as `Authorization: Bearer <KEY>` (a sandbox key, not a secret).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_API_KEY)]
    pub api_key: String,

    /// A process id of the project (repeat for several).
    #[arg(long = "process-id", value_name = "ID", default_values = DEFAULT_PROCESS_IDS)]
    pub process_ids: Vec<String>,

    /// Most leads (or lead ids) allowed in one request; more gets 400.
    #[arg(long, value_name = "N", default_value_t = api::MAX_LEADS_PER_REQUEST)]
    pub max_leads: usize,

    /// Requests per second allowed for the project; 0 = no rate limit.
    #[arg(long, value_name = "PER_SEC", default_value_t = 10.0)]
    pub rate: f64,

    /// Requests allowed in a burst above the rate.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub burst: u32,

    /// Block the key when more than N bad leads arrive within --block-window.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub block_threshold: usize,

    /// The window of --block-threshold, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub block_window: f64,

    /// How long a block lasts, in seconds (a re-sent rejected lead starts it over).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub block_for: f64,

    /// Make the project inactive: every request gets 403 `Project is inactive`.
    #[arg(long)]
    pub inactive: bool,

    /// Honour `Idempotency-Key`: the same key gets the stored answer again, without redoing it.
    #[arg(long)]
    pub idempotency: bool,

    /// Leads that exist at start: CSV with a header row and the columns
    /// `phoneNumber` (E.164, or US without `+`) and `processId`, optionally
    /// `initialized` (true/false; a call attempt was made) and `leadId`.
    #[arg(long, value_name = "FILE", verbatim_doc_comment)]
    pub preexisting: Option<PathBuf>,

    /// Seed of the fault dice, so a run can be replayed [default: random, printed on stderr].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Wait this long before answering each request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Add a random wait of up to this long to each request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_jitter_ms: u64,

    /// Share of requests answered 500 before anything is done (0 to 1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub fail_rate: f64,

    /// Share of requests whose connection is closed without an answer, before anything is done.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub drop_rate: f64,

    /// Share of requests carried out (leads created) and then answered 500: lost responses.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub lost_rate: f64,

    /// Answer the first N requests 500 before doing anything (a server that recovers).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_first: u64,

    /// No line per request on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl SandboxArgs {
    /// The checked settings; reads the `--preexisting` file.
    pub fn to_config(&self) -> anyhow::Result<SandboxConfig> {
        let preexisting = match &self.preexisting {
            Some(path) => preexisting::read_csv(path)?,
            None => Vec::new(),
        };
        let config = SandboxConfig {
            port: self.port,
            project_id: self.project_id.clone(),
            api_key: self.api_key.clone(),
            process_ids: self.process_ids.clone(),
            active: !self.inactive,
            max_leads: self.max_leads,
            rate_per_sec: self.rate,
            burst: self.burst,
            block_threshold: self.block_threshold,
            block_window: seconds("--block-window", self.block_window)?,
            block_for: seconds("--block-for", self.block_for)?,
            idempotency: self.idempotency,
            preexisting,
            seed: self.seed.unwrap_or_else(rand::random),
            latency: Duration::from_millis(self.latency_ms),
            latency_jitter: Duration::from_millis(self.latency_jitter_ms),
            fail_rate: self.fail_rate,
            drop_rate: self.drop_rate,
            lost_rate: self.lost_rate,
            fail_first: self.fail_first,
            log_requests: !self.quiet,
        };
        config.check()?;
        Ok(config)
    }
}

fn seconds(flag: &str, secs: f64) -> anyhow::Result<Duration> {
    if secs.is_nan() || secs < 0.0 {
        bail!("{flag} must be a number of seconds, 0 or more (got {secs})");
    }
    Duration::try_from_secs_f64(secs).with_context(|| format!("{flag} {secs} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn config(argv: &[&str]) -> anyhow::Result<SandboxConfig> {
        let argv = std::iter::once("sandbox").chain(argv.iter().copied());
        Cli::try_parse_from(argv).expect("flags parse").args.to_config()
    }

    #[test]
    fn defaults_match_the_demo_defaults() {
        let c = config(&["--seed", "0"]).expect("valid");
        let d = SandboxConfig { log_requests: true, ..SandboxConfig::default() };
        assert_eq!(format!("{c:?}"), format!("{d:?}"));
    }

    #[test]
    fn flags_become_settings() {
        let c = config(&[
            "--process-id",
            "p1",
            "--process-id",
            "p2",
            "--block-window",
            "0.5",
            "--inactive",
            "--idempotency",
            "--latency-ms",
            "7",
            "--fail-rate",
            "0.25",
            "-q",
        ])
        .expect("valid");
        assert_eq!(c.process_ids, ["p1", "p2"]);
        assert_eq!(c.block_window, Duration::from_millis(500));
        assert!(!c.active && c.idempotency && !c.log_requests);
        assert_eq!((c.latency, c.fail_rate), (Duration::from_millis(7), 0.25));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            &["--fail-rate", "1.5"][..],
            &["--fail-rate", "0.6", "--lost-rate", "0.6"],
            &["--block-for=-1"],
            &["--max-leads", "0"],
            &["--rate=-2"],
            &["--process-id", ""],
            &["--api-key", "two words"],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
    }
}
