//! leadctl: a bulk lead uploader for the Bulk Initiate Leads API.
//!
//! The flow of one row, by module: `input` reads it, `checks` judges it
//! locally, `deliver` batches and sends it (retries, 429s), `api` classifies
//! the answer, `output` writes it to exactly one of accepted, rejected or
//! retryable (through the one `writer` thread), and `journal` remembers
//! enough for `--resume`. `run` wires those stages together; `config` turns
//! flags, environment and config file into one validated value; `summary`
//! and `progress` are what the operator sees. `sandbox` is the bundled
//! emulator of the API that tests and rehearsals run against.

// Rows, leads and their verdicts move through the pipeline by value; boxing
// the larger variants would add an allocation per row for no gain.
#![allow(clippy::large_enum_variant)]

pub mod api;
pub mod checks;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod crash;
pub mod deliver;
pub mod doctor;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
pub mod journal;
pub mod ledger;
pub mod ledger_admin;
pub mod log;
pub mod metrics;
pub mod output;
pub mod phone;
pub mod progress;
pub mod ranges;
pub mod run;
pub mod rundir;
pub mod sandbox;
pub mod screen;
pub mod settings;
pub mod summary;
pub mod trust;
pub mod version;
pub mod vocab;
pub mod writer;

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs leadctl with the process's arguments and environment; returns the exit code.
pub fn main_entry() -> Exit {
    not_dumpable();
    let cli = match Cli::with_versions().try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Exit::Success,
                _ => Exit::Usage,
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log::error(&format!("cannot start the async runtime: {e}"));
            return Exit::Error;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit,
        Err(e) => {
            log::error(&format!("{e:#}"));
            if e.downcast_ref::<config::UsageError>().is_some() { Exit::Usage } else { Exit::Error }
        }
    }
}

/// Makes the process non-dumpable before it reads any secret: no core
/// dump holds the API key or a password, and other processes of the same
/// account cannot attach to it or read its memory (its `/proc/PID` files
/// become root's; `/proc/PID/stat`, which claims use to tell a live run,
/// stays readable).
fn not_dumpable() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::say(
            log::Level::Warn,
            &format!("cannot make the process non-dumpable ({e}); a core dump could hold the API key"),
        );
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let env = config::process_env();
    let started = std::time::Instant::now();
    match cli.command {
        Command::Upload(args) => {
            log::set_format(args.common.log_format.unwrap_or_default());
            let early = || {
                let (file, resume) = (args.file.as_deref(), args.resume.as_deref());
                config::metrics_target(&args.common, args.run.config.as_deref(), file, resume, &env)
            };
            // The run being resumed: its directory judged and taken by this
            // process first; its journal's settings record is a layer of the settings.
            let prepared = args.resume.as_deref().map(run::Resumed::open).transpose().and_then(|resumed| {
                let cfg = config::upload(&args, &env, resumed.as_ref().map(|r| &r.record))?;
                Ok((cfg, resumed))
            });
            let (cfg, resumed) = prepared.map_err(|e| failed_early(e, early(), started))?;
            let common = cfg.common.clone();
            start_logging(&common);
            finish(&common, run::upload(cfg, resumed).await, started)
        }
        Command::Validate(args) => {
            log::set_format(args.common.log_format.unwrap_or_default());
            let cfg = config::validate(&args, &env).map_err(|e| {
                let early =
                    config::metrics_target(&args.common, args.run.config.as_deref(), Some(&args.file), None, &env);
                failed_early(e, early, started)
            })?;
            let common = cfg.common.clone();
            start_logging(&common);
            finish(&common, run::validate(cfg).await, started)
        }
        Command::Sandbox(args) => {
            log::init(log::LogFormat::Text, 1, stderr_color(settings::ColorChoice::Auto));
            sandbox::run(args).await?;
            Ok(Exit::Success)
        }
        Command::Doctor(args) => {
            log::init(log::LogFormat::Text, 0, stderr_color(settings::ColorChoice::Auto));
            doctor::run(&args, &env).await
        }
        Command::Ledger(args) => {
            let cmd = config::ledger_command(&args, &env)?;
            log::init(log::LogFormat::Text, 0, stderr_color(settings::ColorChoice::Auto));
            // The stores block (PostgreSQL's client runs a runtime of its own).
            tokio::task::spawn_blocking(move || ledger_admin::run(cmd)).await?
        }
        Command::Completions { shell } => {
            // Generated whole first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "leadctl", &mut script);
            to_stdout(&script).map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))?;
            Ok(Exit::Success)
        }
    }
}

fn start_logging(common: &config::Common) {
    log::init(common.log_format, common.verbose, stderr_color(common.color));
    tracing::debug!("settings used:\n{}", common.dump.trim_end());
}

/// The end of every run, also a failed one: the summary on stdout
/// (`--json`) and stderr, and the metrics file.
fn finish(
    common: &config::Common,
    result: anyhow::Result<run::Outcome>,
    started: std::time::Instant,
) -> anyhow::Result<Exit> {
    let (exit, figures) = match &result {
        Ok(outcome) => {
            report(outcome, common);
            (outcome.exit, metrics::Figures::of(&outcome.summary, started.elapsed()))
        }
        Err(_) => (Exit::Error, metrics::Figures::failed(Exit::Error.code(), started.elapsed())),
    };
    if let Some(m) = &common.metrics {
        write_metrics(m, &figures);
    }
    result.map(|_| exit)
}

/// A run that failed before its settings were whole (no API URL, a key
/// file it cannot read, a run directory it cannot resume): the metrics file
/// still says so, with the exit code the error gets. Returns the error.
fn failed_early(
    e: anyhow::Error,
    metrics: Option<config::MetricsTarget>,
    started: std::time::Instant,
) -> anyhow::Error {
    let code = if e.downcast_ref::<config::UsageError>().is_some() { Exit::Usage } else { Exit::Error };
    if let Some(m) = metrics {
        write_metrics(&m, &metrics::Figures::failed(code.code(), started.elapsed()));
    }
    e
}

fn write_metrics(m: &config::MetricsTarget, figures: &metrics::Figures) {
    if let Err(e) = figures.write(&m.path, &m.job) {
        log::error(&format!("cannot write the metrics file {}: {e}", m.path.display()));
    }
}

/// Whether stderr gets colour: `--color`, with `auto` meaning a terminal
/// (`NO_COLOR` already turned `auto` into `never` in `config`).
fn stderr_color(choice: settings::ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        settings::ColorChoice::Always => true,
        settings::ColorChoice::Never => false,
        settings::ColorChoice::Auto => std::io::stderr().is_terminal(),
    }
}

/// Writes to stdout. A reader that went away (`| head`) is not an error:
/// the run's own outcome stands, as with ripgrep. (Rust ignores SIGPIPE, so
/// the write fails with `BrokenPipe`, which `println!` would turn into a
/// panic.)
pub(crate) fn to_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// The summary: JSON on stdout with `--json`, the table (or the summary
/// event) on stderr. `--quiet` drops the table, not the JSON summary event:
/// under cron that one line is the run's record in the log. The run is
/// over, so a failed write changes nothing but a word on stderr.
fn report(outcome: &run::Outcome, common: &config::Common) {
    if common.json {
        let written = serde_json::to_string(&outcome.summary)
            .map_err(|e| format!("cannot encode the summary: {e}"))
            .and_then(|s| to_stdout(format!("{s}\n").as_bytes()).map_err(|e| format!("cannot write the summary: {e}")));
        if let Err(e) = written {
            log::error(&e);
        }
    }
    if !common.quiet || common.log_format == log::LogFormat::Json {
        summary::print(&outcome.summary, stderr_color(common.color));
    }
}
