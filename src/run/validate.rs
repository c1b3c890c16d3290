//! `leadctl validate`: the reading stage and the rejected file, no network.

use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, anyhow};

use super::Outcome;
use super::finish::{Ending, Facts, exit_code, invariant_broken, write_summary};
use super::prepare::{Input, Taken, check_settings, new_run_dir, no_process_anywhere};
use super::read::{ReadJob, read_and_check};
use crate::checks::Checker;
use crate::config::ValidateConfig;
use crate::journal::RangeSet;
use crate::output::{FileKind, Sinks};
use crate::progress::{Counters, Display, Job, Mode};
use crate::summary::Requests;
use crate::writer;

/// `leadctl validate`.
pub async fn validate(cfg: ValidateConfig) -> Result<Outcome> {
    let (started, started_at) = (Instant::now(), SystemTime::now());
    let common = &cfg.common;
    let (source, input) = Input::open(common, false)?;
    let (path, place) = new_run_dir(common);
    let taken = Taken::create(&path, place)?;
    let layout = input.layout(&common.record.input);
    let sinks = Sinks::create(&taken.dir, &layout, &[FileKind::Rejected])
        .with_context(|| format!("cannot create the output files in {}", path.display()))?;
    let counters = Arc::new(Counters { bytes: source.progress(), ..Counters::default() });
    let (outbox, writer) = writer::spawn(sinks, None, Arc::clone(&counters), None)?;
    let skip_project = common.project_id.is_none();
    if skip_project && !common.quiet {
        crate::log::say(
            crate::log::Level::Info,
            "no project configured (--project-id, LEADCTL_PROJECT_ID or the config file): rows without a projectId \
             are not rejected for it; an upload will need one",
        );
    }
    let skip_process = no_process_anywhere(common, &source);
    if skip_process && !common.quiet {
        crate::log::say(
            crate::log::Level::Info,
            &format!(
                "no process configured (--process-id or the config file) and {} has no processId column: rows are \
                 not rejected for it; an upload will need one",
                common.input.path.display()
            ),
        );
    }
    let settings = check_settings(common, common.project_id.clone(), !skip_project, !skip_process);
    let checker = Checker::new(settings, Arc::new(RwLock::new(Default::default())));
    let mode = Mode::choose(common.quiet, common.progress_interval, common.log_format);
    let display = Display::start(mode, Arc::clone(&counters), source.total_bytes(), Job::Validate);
    let job = ReadJob {
        source,
        checker,
        limit: common.limit,
        skip: RangeSet::default(),
        in_flight: RangeSet::default(),
        out: outbox.clone(),
        counters: Arc::clone(&counters),
        ledger: None,
    };
    let report = tokio::task::spawn_blocking(move || read_and_check(job, |_| true))
        .await
        .map_err(|e| anyhow!("the reader failed: {e}"))?;
    drop(outbox);
    let (tally, _) = writer.finish().context("writing the output files failed")?;
    display.finish().await;

    let invariant = invariant_broken(report.read, 0, 0, &tally, report.passed);
    if let Some(err) = report.error.as_ref().or(invariant.as_ref()) {
        crate::log::error(err);
    }
    let facts = Facts {
        failed: report.error.is_some() || invariant.is_some(),
        stop: None,
        sends: false,
        rejected: tally.rejected,
        retryable: 0,
        read: report.read,
        tolerance: common.tolerance,
    };
    let exit = exit_code(&facts);
    let summary = write_summary(Ending {
        exit,
        stop: None,
        resumed: false,
        record: &common.record,
        input: input.info(common.record.input.clone()),
        run_dir: &taken.dir,
        layout: &layout,
        kinds: &[FileKind::Rejected],
        read: report.read,
        passed: Some(report.passed),
        tally: &tally,
        requests: Requests::default(),
        started,
        started_at,
        facts,
        checks_skipped: [(skip_project, "project"), (skip_process, "process")]
            .into_iter()
            .filter_map(|(skipped, rule)| skipped.then_some(rule))
            .collect(),
        ledger: None,
        dry_run: false,
        resend_command: None,
    })?;
    Ok(Outcome { exit, summary })
}
