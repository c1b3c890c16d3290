//! `leadctl doctor`: is everything ready for tonight's run? It takes an
//! upload command line's flags and checks, without sending a lead, what
//! that run needs, one line per check with the fix: the settings and where
//! each came from (`setup`), the way to the API and one request that
//! carries no lead (`network`), the ledger and the directories the run
//! writes (`files`). `report` prints it, or one JSON object (`--json`).
//!
//! Every rule is the run's own: settings come from `config::inspect`, the
//! request goes through the run's HTTP client, the ledger is opened as a
//! run opens it. Doctor only says what they found. It never prints the key
//! or a password (the settings' shown forms hide them).

mod files;
mod network;
mod report;
mod setup;

use std::time::Duration;

pub use network::PROBE_BODY;
pub use report::{Check, Report, Status};

use crate::cli::DoctorArgs;
use crate::config::{self, Env, Inspection, UploadConfig};
use crate::exit::Exit;

/// Runs every check; exit 0 when none failed, 1 otherwise.
pub async fn run(args: &DoctorArgs, env: &Env) -> anyhow::Result<Exit> {
    let upload = args.as_upload();
    let inspection = {
        let env = env.clone();
        // Reading a key file (or stdin) blocks.
        tokio::task::spawn_blocking(move || config::inspect(&upload, &env)).await?
    };
    let checks = checks(args, &inspection).await;
    let settings = inspection.settings.as_ref().map(|s| s.in_effect.clone()).unwrap_or_default();
    let report = Report::new(crate::version::info(), settings, checks);
    let text = if args.json { format!("{}\n", serde_json::to_string(&report)?) } else { report.text(args.quiet) };
    crate::to_stdout(text.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write the report: {e}"))?;
    Ok(if report.ok { Exit::Success } else { Exit::Error })
}

/// The checks in the order a run meets them.
async fn checks(args: &DoctorArgs, inspection: &Inspection) -> Vec<Check> {
    let mut out = vec![setup::config_file(inspection), setup::settings(inspection)];
    let Ok(settings) = &inspection.settings else { return out };
    let run = settings.run.as_ref().ok();
    if let Some(run) = run {
        let source = settings.in_effect.iter().find(|s| s.name == "project-id").map(|s| s.source.as_str());
        out.push(setup::project(run, source));
    }
    match &settings.remote {
        None => out.push(Check::ok("api", "none reached: --sandbox or --dry-run sends nothing to an API")),
        Some(remote) => {
            out.extend(setup::remote(remote));
            if let (Ok(api_url), Ok(key), Some(Ok(route))) = (&remote.api_url, &remote.key, &remote.route) {
                let target = network::Target {
                    api_url,
                    key: &key.key,
                    key_from: &key.from,
                    route,
                    timeout: run.map_or(Duration::from_secs(60), |r| r.timeout),
                    max_rate_limit_wait: run.map_or(Duration::from_secs(300), |r| r.max_rate_limit_wait),
                };
                out.extend(network::checks(&target).await);
            } else if let Some(Err(e)) = &remote.route {
                out.push(Check::fail("route", format!("{e:#}")));
            }
        }
    }
    match &settings.ledger {
        Ok(choice) => out.push(files::ledger(choice.clone()).await),
        Err(e) => out.push(Check::fail("ledger", format!("{e:#}"))),
    }
    if let Some(run) = run {
        out.extend(local(args, run));
    }
    out
}

/// The input, its output directory and the metrics directory.
fn local(args: &DoctorArgs, run: &UploadConfig) -> Vec<Check> {
    let mut out = Vec::new();
    let input = args.file.as_deref();
    if let Some(path) = input {
        out.push(files::input(path));
    }
    out.extend(files::output(run.common.out_dir.as_deref(), input));
    if let Some(target) = &run.common.metrics {
        out.push(files::metrics(target));
    }
    out
}
