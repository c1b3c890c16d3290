//! `leadctl validate`: the reading stage and the rejected file, no network.

use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, anyhow};

use super::read::{ReadJob, read_and_check};
use super::{
    Ending, Outcome, base_settings, check_settings, default_run_dir, identify, open_source, out_format, write_summary,
};
use crate::checks::Checker;
use crate::config::ValidateConfig;
use crate::exit::Exit;
use crate::journal::LineSet;
use crate::output::{self, FileKind, Sinks};
use crate::progress::{Counters, Display, Mode};
use crate::summary::Requests;
use crate::writer;

/// `leadctl validate`.
pub async fn validate(cfg: ValidateConfig) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let common = &cfg.common;
    let source = open_source(common)?;
    let format = source.format();
    let out_fmt = out_format(format);
    let columns: Vec<String> = source.columns().map(<[String]>::to_vec).unwrap_or_default();
    // A pipe read a second time would be drained; only a regular file is.
    let input_id = if source.is_regular_file() { identify(&common.input.path)? } else { None };
    let run_dir = common.out_dir.clone().unwrap_or_else(|| default_run_dir(&common.input.path));
    output::create_run_dir(&run_dir)
        .with_context(|| format!("cannot create the output directory {}", run_dir.display()))?;
    let sinks = Sinks::create(&run_dir, out_fmt, &columns, &[FileKind::Rejected])
        .with_context(|| format!("cannot create the output files in {}", run_dir.display()))?;
    let counters = Arc::new(Counters { bytes: source.progress(), ..Counters::default() });
    let (outbox, writer) = writer::spawn(sinks, None, Arc::clone(&counters))?;
    let checker = Checker::new(check_settings(common), Arc::new(RwLock::new(Default::default())));
    let display = Display::start(
        Mode::choose(common.quiet, common.progress_interval),
        Arc::clone(&counters),
        source.total_bytes(),
        "validate",
    );
    let limit = common.limit;
    let reader_out = outbox.clone();
    let reader_counters = Arc::clone(&counters);
    let report = tokio::task::spawn_blocking(move || {
        let job = ReadJob {
            source,
            checker,
            limit,
            skip: LineSet::default(),
            in_flight: LineSet::default(),
            out: reader_out,
            counters: reader_counters,
        };
        read_and_check(job, |_| true)
    })
    .await
    .map_err(|e| anyhow!("the reader failed: {e}"))?;
    drop(outbox);
    let (tally, _) = writer.finish().context("writing the output files failed")?;
    display.finish().await;

    let exit = if let Some(err) = &report.error {
        eprintln!("leadctl: error: {err}");
        Exit::Error
    } else if report.read != report.passed + tally.rejected {
        eprintln!(
            "leadctl: internal error: {} rows read, {} passed, {} rejected",
            report.read, report.passed, tally.rejected
        );
        Exit::Error
    } else if tally.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Success
    };
    let summary = write_summary(Ending {
        command: "validate",
        exit,
        stop: None,
        resumed: false,
        settings: base_settings("validate", common, format),
        input_id,
        run_dir: &run_dir,
        out_fmt,
        kinds: &[FileKind::Rejected],
        read: report.read,
        passed: Some(report.passed),
        tally: &tally,
        requests: Requests::default(),
        started,
        started_at,
    })?;
    Ok(Outcome { exit, summary, resend: None })
}
