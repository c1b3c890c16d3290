//! The last stage of a run: the invariant, the exit code, the summary and
//! the command that resends the retryable rows.

use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::deliver::Stop;
use crate::exit::{Exit, Tolerance};
use crate::output::{FileKind, Layout, Tally};
use crate::rundir::Dir;
use crate::settings::RunRecord;
use crate::summary::{InputInfo, OutputsInfo, Requests, Summary, ToleranceInfo};

/// What decides a run's exit code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Facts {
    /// The input could not be read to its end, a stage failed, or the
    /// invariant does not hold: the run is an error whatever else happened.
    pub(super) failed: bool,
    /// Why sending stopped early, if it did.
    pub(super) stop: Option<StopKind>,
    /// Whether the run sends (`validate` and `--dry-run` do not: their
    /// retryable rows are the valid ones, which is success).
    pub(super) sends: bool,
    pub(super) rejected: u64,
    pub(super) retryable: u64,
    /// Rows read (what a tolerance in percent is a share of).
    pub(super) read: u64,
    /// `--max-rejected`.
    pub(super) tolerance: Option<Tolerance>,
}

impl Facts {
    /// Whether the rejected rows are within `--max-rejected`.
    pub(super) fn tolerated(&self) -> bool {
        self.tolerance.is_some_and(|t| t.allows(self.rejected, self.read))
    }
}

/// The kinds of [`Stop`] the exit code depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopKind {
    Interrupted,
    /// 401/403, an answer leadctl cannot act on, the writer failing.
    Error,
    /// The 429 wait cap: the run finished with rows retryable.
    RateLimited,
}

impl From<&Stop> for StopKind {
    fn from(stop: &Stop) -> StopKind {
        match stop {
            Stop::Interrupted => StopKind::Interrupted,
            Stop::RateLimitWait { .. } => StopKind::RateLimited,
            Stop::Denied { .. }
            | Stop::Fatal { .. }
            | Stop::Output(_)
            | Stop::Internal(_)
            | Stop::Redirected { .. }
            | Stop::Tls { .. }
            | Stop::Ledger(_) => StopKind::Error,
        }
    }
}

/// The spec's exit-code table: 1 for an error, 130 when interrupted, 4 when
/// rows are retryable, 3 when rows are rejected (beyond `--max-rejected`),
/// 0 when every row was accepted (`validate`, `--dry-run`: passed).
pub(super) fn exit_code(f: &Facts) -> Exit {
    match f.stop {
        _ if f.failed => Exit::Error,
        Some(StopKind::Error) => Exit::Error,
        Some(StopKind::Interrupted) => Exit::Interrupted,
        _ if f.sends && f.retryable > 0 => Exit::Retryable,
        _ if f.rejected > 0 && !f.tolerated() => Exit::Rejected,
        _ => Exit::Success,
    }
}

/// Says why the invariant fails, if it does: every row read must be in
/// exactly one file (`skipped` rows were sorted by the run being resumed;
/// `passed` counts `validate`'s rows that went to no file).
pub(super) fn invariant_broken(read: u64, skipped: u64, already: u64, tally: &Tally, passed: u64) -> Option<String> {
    let sorted_now = tally.total() - already;
    (read != skipped + sorted_now + passed || skipped != already).then(|| {
        format!(
            "internal error: {read} rows read but {} sorted ({skipped} of them by the run being resumed); please \
             report this bug",
            sorted_now + skipped + passed
        )
    })
}

/// What to do after the run stopped early.
pub(super) fn stop_advice(stop: &Stop) -> String {
    match stop {
        Stop::Interrupted => "interrupted; unsent rows are in the retryable file".into(),
        Stop::Denied { status: 401, message } => format!(
            "the server refused the API key (HTTP 401: {message}); check LEADCTL_API_KEY or --api-key-file. \
             Unsent rows are in the retryable file"
        ),
        Stop::Denied { status, message } => format!(
            "the server refused the project (HTTP {status}: {message}); check --project-id / LEADCTL_PROJECT_ID \
             and the rows' projectId, and that the project is active. Unsent rows are in the retryable file"
        ),
        Stop::Fatal { status, message } => format!(
            "the server answered HTTP {status}: {message}. This is likely a bug in leadctl; unsent rows are in \
             the retryable file"
        ),
        Stop::RateLimitWait { .. } => format!("{}; unsent rows are in the retryable file", stop.reason()),
        Stop::Output(e) => format!("writing the outputs failed: {e}"),
        Stop::Internal(e) => format!("{e}: a bug in leadctl, please report it; unsent rows are in the retryable file"),
        Stop::Redirected { status, location } => format!(
            "the server answered HTTP {status}, a redirect to {}. leadctl follows no redirect (it would carry the \
             leads and the key to another server): check --api-url / LEADCTL_API_URL (https://, the path, the \
             host). Unsent rows are in the retryable file",
            location.as_deref().unwrap_or("an unreadable Location")
        ),
        Stop::Tls { reason } => format!(
            "TLS failed: {reason}. This is not retried. If the API uses a private certificate authority, set \
             SSL_CERT_FILE to its PEM file (or SSL_CERT_DIR to a directory of them); otherwise check --api-url \
             and this machine's clock. Unsent rows are in the retryable file"
        ),
        Stop::Ledger(e) => format!(
            "the ledger failed: {e}. Sending stopped, so that no lead goes out twice; unsent rows are in the \
             retryable file. Once the ledger is back, record what this run sent with \
             `leadctl ledger import RUN_DIR` (the run directory above)"
        ),
    }
}

/// How a run ended, for its summary.
pub(super) struct Ending<'a> {
    pub(super) exit: Exit,
    pub(super) stop: Option<String>,
    pub(super) resumed: bool,
    pub(super) record: &'a RunRecord,
    pub(super) input: InputInfo,
    pub(super) run_dir: &'a Dir,
    pub(super) layout: &'a Layout,
    pub(super) kinds: &'a [FileKind],
    pub(super) read: u64,
    pub(super) passed: Option<u64>,
    pub(super) tally: &'a Tally,
    pub(super) requests: Requests,
    pub(super) started: Instant,
    pub(super) started_at: SystemTime,
    pub(super) facts: Facts,
    /// Rules not applied (`validate` with no project: `project`).
    pub(super) checks_skipped: Vec<&'static str>,
    /// The ledger used (without any password).
    pub(super) ledger: Option<String>,
    /// `--dry-run`.
    pub(super) dry_run: bool,
    /// The command that sends the retryable rows again.
    pub(super) resend_command: Option<String>,
}

/// Builds the summary of a run and writes `summary.json`.
pub(super) fn write_summary(e: Ending<'_>) -> Result<Summary> {
    let elapsed = e.started.elapsed().as_secs_f64();
    let summary = Summary {
        command: if e.record.command == "validate" { "validate" } else { "upload" },
        exit_code: e.exit.code(),
        stopped: e.stop,
        resumed: e.resumed,
        input: e.input,
        run_dir: e.run_dir.path().to_path_buf(),
        files: Summary::files_for(e.run_dir.path(), e.layout.format, e.kinds),
        outputs: OutputsInfo::of(e.layout.format, e.layout.dialect),
        dry_run: e.dry_run,
        counts: Summary::counts(e.read, e.tally, e.passed),
        rejected_by_code: e.tally.rejected_by_code.clone(),
        checks_skipped: e.checks_skipped,
        ledger: e.ledger,
        tolerance: e.facts.tolerance.map(|t| ToleranceInfo {
            max_rejected: t.to_string(),
            max_rejected_rows: t.max_rows(e.read),
            within: e.facts.tolerated(),
        }),
        requests: e.requests,
        resend_command: e.resend_command,
        started_at: humantime::format_rfc3339_seconds(e.started_at).to_string(),
        finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        elapsed_s: elapsed,
        rows_per_s: if elapsed > 0.0 { e.read as f64 / elapsed } else { 0.0 },
        settings: e.record.settings.clone(),
    };
    summary.write(e.run_dir).with_context(|| format!("cannot write {}", e.run_dir.join("summary.json").display()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(stop: Option<StopKind>, sends: bool, rejected: u64, retryable: u64) -> Facts {
        Facts { failed: false, stop, sends, rejected, retryable, read: 100, tolerance: None }
    }

    /// The spec's table, row by row.
    #[test]
    fn exit_codes_follow_the_spec_table() {
        use StopKind::*;
        let within = |t: &str, f: Facts| Facts { tolerance: Tolerance::parse(t), ..f };
        let cases: [(Facts, Exit); 17] = [
            (facts(None, true, 0, 0), Exit::Success),
            (facts(None, true, 2, 0), Exit::Rejected),
            (facts(None, true, 2, 1), Exit::Retryable),
            (facts(None, true, 0, 1), Exit::Retryable),
            (facts(Some(RateLimited), true, 0, 5), Exit::Retryable),
            (facts(Some(Interrupted), true, 1, 5), Exit::Interrupted),
            (facts(Some(Error), true, 0, 5), Exit::Error),
            (Facts { failed: true, ..facts(None, true, 0, 0) }, Exit::Error),
            (Facts { failed: true, ..facts(Some(Interrupted), true, 0, 0) }, Exit::Error),
            // validate and --dry-run: the valid rows are not a failure.
            (facts(None, false, 0, 9), Exit::Success),
            (facts(None, false, 3, 9), Exit::Rejected),
            (facts(Some(Interrupted), false, 0, 0), Exit::Interrupted),
            // --max-rejected: within it and nothing retryable is success.
            (within("2", facts(None, true, 2, 0)), Exit::Success),
            (within("2%", facts(None, true, 2, 0)), Exit::Success),
            (within("1%", facts(None, true, 2, 0)), Exit::Rejected),
            (within("50%", facts(None, true, 2, 1)), Exit::Retryable),
            (within("5", facts(None, false, 3, 9)), Exit::Success),
        ];
        for (f, want) in cases {
            assert_eq!(exit_code(&f), want, "{f:?}");
        }
    }

    /// Every kind of stop, as the exit code sees it: only the 429 wait cap
    /// finishes the run (retryable rows), Ctrl-C is 130, the rest are errors.
    #[test]
    fn every_stop_has_its_kind_and_exit_code() {
        let at = SystemTime::UNIX_EPOCH;
        let cases: [(Stop, Exit); 9] = [
            (Stop::Interrupted, Exit::Interrupted),
            (Stop::Denied { status: 401, message: "Invalid API key".into() }, Exit::Error),
            (Stop::Fatal { status: 400, message: "Invalid JSON body".into() }, Exit::Error),
            (Stop::RateLimitWait { until: at, message: "Rate limit exceeded".into() }, Exit::Retryable),
            (Stop::Output("disk full".into()), Exit::Error),
            (Stop::Internal("a batch task failed".into()), Exit::Error),
            (Stop::Redirected { status: 307, location: Some("https://elsewhere.example".into()) }, Exit::Error),
            (Stop::Tls { reason: "unknown issuer".into() }, Exit::Error),
            (Stop::Ledger("database is locked".into()), Exit::Error),
        ];
        for (stop, want) in cases {
            let f = facts(Some(StopKind::from(&stop)), true, 0, 5);
            assert_eq!(exit_code(&f), want, "{stop:?}");
            assert!(stop_advice(&stop).contains("retryable") || matches!(stop, Stop::Output(_)), "{stop:?}");
        }
        let tls = stop_advice(&Stop::Tls { reason: "unknown issuer".into() });
        assert!(tls.contains("SSL_CERT_FILE") && tls.contains("SSL_CERT_DIR"), "{tls}");
        let moved = stop_advice(&Stop::Redirected { status: 307, location: Some("https://elsewhere.example".into()) });
        assert!(moved.contains("https://elsewhere.example") && moved.contains("--api-url"), "{moved}");
    }

    #[test]
    fn the_invariant_counts_resumed_and_passed_rows() {
        let tally = Tally { accepted: 5, rejected: 2, retryable: 1, ..Tally::default() };
        assert_eq!(invariant_broken(8, 0, 0, &tally, 0), None);
        assert_eq!(invariant_broken(8, 3, 3, &tally, 0), None, "3 sorted before, 5 now");
        assert!(invariant_broken(9, 0, 0, &tally, 0).is_some());
        assert!(invariant_broken(8, 2, 3, &tally, 0).is_some());
        let validated = Tally { rejected: 2, ..Tally::default() };
        assert_eq!(invariant_broken(10, 0, 0, &validated, 8), None);
    }
}
