//! The run's dealings with the operator while it goes: Ctrl-C and SIGTERM,
//! and the confirmation `--initialize` asks for on a terminal.

use std::sync::{Arc, RwLock};

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::prepare::check_settings;
use super::read::CHUNK;
use crate::checks::{Checked, Checker};
use crate::config::{Destination, UploadConfig};
use crate::exit::Exit;

/// Ctrl-C / SIGTERM: the first cancels (no new batches), the second exits at once.
pub(super) fn watch_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut seen = 0;
        loop {
            #[cfg(unix)]
            let term_fut = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term_fut = std::future::pending::<()>();
            tokio::select! {
                r = tokio::signal::ctrl_c() => { if r.is_err() { return; } }
                () = term_fut => {}
            }
            seen += 1;
            if seen == 1 {
                crate::log::say(
                    crate::log::Level::Warn,
                    "interrupted: sending no new batches; waiting for the ones in flight \
                     (press Ctrl-C again to exit at once; `--resume` recovers either way)",
                );
                cancel.cancel();
            } else {
                crate::log::say(crate::log::Level::Warn, "interrupted again: exiting now");
                std::process::exit(Exit::Interrupted.code().into());
            }
        }
    });
}

/// `--initialize` starts real calls: on a terminal, show how many leads
/// would be called and ask; off a terminal, the flag is the intent.
/// A pipe cannot be read twice: its leads are not counted beforehand.
pub(super) fn confirm_initialize(cfg: &UploadConfig, project_id: Option<&str>, regular: bool) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let common = &cfg.common;
    if !common.initialize || cfg.yes || matches!(cfg.destination, Destination::DryRun { .. }) {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        if !common.quiet {
            crate::log::say(
                crate::log::Level::Info,
                "--initialize without a terminal: starting calls without asking (the flag is the intent)",
            );
        }
        return Ok(true);
    }
    let calls = if regular { count_calls(common, project_id)?.to_string() } else { "all the".to_owned() };
    let target = match &cfg.destination {
        Destination::Sandbox => "the bundled sandbox".to_owned(),
        Destination::Remote { api_url, .. } => api_url.clone(),
        Destination::DryRun { .. } => String::new(),
    };
    eprint!(
        "--initialize will start phone calls to {calls} leads (project {}) through {target}.\nType yes to start calling: ",
        project_id.unwrap_or("from the rows")
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "yes" | "y"))
}

/// A checking pass over the file, sending nothing, to say how many calls
/// `--initialize` would start.
fn count_calls(common: &crate::config::Common, project_id: Option<&str>) -> Result<u64> {
    let mut source = crate::input::Source::open(&common.input).map_err(|e| anyhow::anyhow!(e))?;
    let mut checker = Checker::new(
        check_settings(common, project_id.map(str::to_owned), true, true),
        Arc::new(RwLock::new(Default::default())),
    );
    let mut calls = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut read = 0u64;
    loop {
        chunk.clear();
        while chunk.len() < CHUNK && common.limit.is_none_or(|l| read < l) {
            match source.next() {
                Some(row) => {
                    read += 1;
                    chunk.push(row);
                }
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        calls += checker.check_chunk(&chunk).iter().filter(|c| !matches!(c, Checked::Rejected(_))).count() as u64;
    }
    Ok(calls)
}
