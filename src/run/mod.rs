//! The two jobs end to end: `upload` (read, check, send, sort) and
//! `validate` (read, check, sort the rejected), in named stages: `prepare`
//! (the input, the destination, the run directory new or resumed), the
//! running stages (a reader/checker thread, the delivery engine on tokio
//! and the writer thread, joined by bounded channels so memory does not
//! grow with the file), and `finish` (the invariant rows read = accepted +
//! rejected + retryable, the exit code, the summary).

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checks::{Checker, UnknownProcesses};
use crate::config::UploadConfig;
use crate::deliver::{self, Client, Engine, Item, Stop};
use crate::exit::Exit;
use crate::input::Source;
use crate::ledger::Session;
use crate::log;
use crate::output::{FileKind, Tally, Verdict};
use crate::progress::{Counters, Display, Job, Mode};
use crate::summary::{Requests, Summary};
use crate::writer::{self, LedgerFailure, Outbox};
use known::Lookups;

mod finish;
mod interactive;
mod known;
mod prepare;
mod read;
mod validate;

pub use prepare::default_run_dir;
pub use validate::validate;

use finish::{Ending, Facts, StopKind, exit_code, invariant_broken, stop_advice, write_summary};
use interactive::{confirm_initialize, watch_signals};
pub use prepare::Resumed;
use prepare::{Input, RunDir, Start, Target, check_settings, no_process_anywhere, open_ledger};
use read::{ReadJob, ReadReport, read_and_check};

/// How a run ended: its exit code and its summary.
pub struct Outcome {
    pub exit: Exit,
    pub summary: Summary,
}

/// `leadctl upload`; `resumed`: the run directory of `--resume`, already
/// judged and taken (see [`Resumed::open`]).
pub async fn upload(cfg: UploadConfig, resumed: Option<Resumed>) -> Result<Outcome> {
    let (started, started_at) = (Instant::now(), SystemTime::now());
    let start = Start::of(&cfg.common, resumed)?;
    let journaled = matches!(cfg.destination, crate::config::Destination::Remote { .. });
    let resumed = start.resumed();
    let (source, input) = Input::open(&cfg.common, journaled || resumed)?;
    let mut record = cfg.common.record.clone();
    let target = Target::connect(&cfg, &mut record).await?;
    if target.project_id.is_none() && !cfg.common.input.existing && source.has_project_column() == Some(false) {
        bail!(
            "no project: pass --project-id ID, set LEADCTL_PROJECT_ID, or put `project-id` in the config file \
             ({} has no projectId column, and an API key serves one project); nothing was sent",
            cfg.common.input.path.display()
        );
    }
    if no_process_anywhere(&cfg.common, &source) {
        bail!(
            "no process: pass --process-id ID, or put `process-id` in the config file, or name the column that \
             holds it with --map processId=COLUMN ({} has no processId column, so every row would be rejected); \
             nothing was sent",
            cfg.common.input.path.display()
        );
    }
    if !confirm_initialize(&cfg, target.project_id.as_deref(), input.regular)? {
        bail!("not confirmed: nothing was sent and no call was started");
    }
    let ledger = open_ledger(&cfg, &target, start.path()).await?;
    let ledger_shown = ledger.as_ref().map(|l| l.location().to_owned());
    let (taken, run) = start.open(&cfg, &input, &record)?;
    let layout = run.layout.clone();
    let run_dir = taken.dir.path().to_path_buf();
    // Claims name the run by the directory it got (a same-second run's has a suffix).
    let ledger = ledger
        .map(|s| s.for_run(&std::path::absolute(&run_dir).unwrap_or_else(|_| run_dir.clone()).display().to_string()));
    let dry_run = target.client.is_none();

    let ran = run_stages(&cfg, source, target, run, ledger).await?;

    let invariant = invariant_broken(ran.report.read, ran.report.skipped, ran.already, &ran.tally, 0);
    if let Some(err) = ran.report.error.as_ref().or(invariant.as_ref()) {
        log::error(err);
    }
    let facts = Facts {
        failed: ran.report.error.is_some() || invariant.is_some(),
        stop: ran.stop.as_ref().map(StopKind::from),
        sends: !dry_run,
        rejected: ran.tally.rejected,
        retryable: ran.tally.retryable,
        read: ran.report.read,
        tolerance: cfg.common.tolerance,
    };
    let exit = exit_code(&facts);
    if let Some(mut j) = ran.journal {
        let _ = j.append(&crate::journal::Entry::Finished { exit_code: exit.code() });
    }
    if let Some(s) = &ran.stop {
        log::say(log::Level::Warn, &stop_advice(s));
    }
    let resend_command = (ran.tally.retryable > 0 && !dry_run).then(|| {
        let file = crate::output::file_path(&run_dir, FileKind::Retryable, layout.format);
        crate::settings::resend_command(&file, &record, None, &cfg.resend_unrecorded)
    });
    let summary = write_summary(Ending {
        exit,
        stop: ran.stop.as_ref().map(Stop::reason),
        resumed,
        record: &record,
        input: input.info(record.input.clone()),
        run_dir: &taken.dir,
        layout: &layout,
        kinds: &FileKind::ALL,
        read: ran.report.read,
        passed: dry_run.then_some(ran.report.passed),
        tally: &ran.tally,
        requests: ran.requests,
        started,
        started_at,
        facts,
        checks_skipped: Vec::new(),
        ledger: ledger_shown,
        dry_run,
        resend_command,
    })?;
    Ok(Outcome { exit, summary })
}

/// What the running stages of an upload leave.
struct Ran {
    report: ReadReport,
    stop: Option<Stop>,
    requests: Requests,
    tally: Tally,
    /// Rows the resumed run had sorted before this one started.
    already: u64,
    journal: Option<crate::journal::Journal>,
}

/// Starts the writer, the reader/checker and the delivery engine, and waits
/// until every row read is sorted.
async fn run_stages(
    cfg: &UploadConfig,
    source: Source,
    target: Target,
    run: RunDir,
    ledger: Option<Session>,
) -> Result<Ran> {
    let common = &cfg.common;
    let unknown: UnknownProcesses = Arc::new(RwLock::new(run.unknown_processes.iter().cloned().collect()));
    let already = run.sinks.tally().total();
    let counters = Arc::new(Counters { bytes: source.progress(), ..Counters::default() });
    let ledger_failed = LedgerFailure::default();
    let dry_run = target.client.is_none();
    // A dry run only looks leads up: it records nothing and claims nothing.
    let writes = ledger.clone().filter(|_| !dry_run).map(|s| (s, ledger_failed.clone()));
    let (outbox, writer) = writer::spawn(run.sinks, run.journal, Arc::clone(&counters), writes)?;
    let checker = Checker::new(check_settings(common, target.project_id.clone(), true, true), Arc::clone(&unknown));
    let cancel = CancellationToken::new();
    watch_signals(cancel.clone());
    let mode = Mode::choose(common.quiet, common.progress_interval, common.log_format);
    let display = Display::start(mode, Arc::clone(&counters), source.total_bytes(), Job::Upload);

    let (items_tx, items_rx) = mpsc::channel::<Vec<Item>>(4);
    let job = ReadJob {
        source,
        checker,
        limit: common.limit,
        skip: run.skip,
        in_flight: run.in_flight,
        out: outbox.clone(),
        counters: Arc::clone(&counters),
        ledger: ledger.clone().map(|session| Lookups {
            session,
            // A run that sends claims its leads as it looks them up; a dry
            // run only looks (no claims, nothing marked seen).
            claim: !dry_run,
            resend_known: cfg.ledger.as_ref().is_some_and(|c| c.resend_known),
            initialize: common.initialize,
            seen: !dry_run,
        }),
    };
    let reader = spawn_reader(job, dry_run, outbox.clone(), items_tx);
    let (stop, requests) = match target.client {
        Some(client) => {
            let claims = ledger.map(|s| (s, ledger_failed.clone()));
            let engine = engine(cfg, client, run.batch_size, unknown, outbox.clone(), cancel, claims);
            deliver_all(engine, items_rx, &counters).await
        }
        None => {
            drop(items_rx);
            (None, Requests::default())
        }
    };
    let report = reader.await.map_err(|e| anyhow!("the reader failed: {e}"))?;
    drop(outbox);
    let (tally, journal) = writer.finish().context("writing the output files failed")?;
    // The last answers are recorded after the sending ended: a ledger that
    // failed then must end the run as one that failed before (never exit 0
    // with answers the ledger does not have).
    let stop = match (stop, ledger_failed.get()) {
        (Some(Stop::Ledger(why)), _) => Some(Stop::Ledger(why)),
        (_, Some(why)) => Some(Stop::Ledger(why.to_owned())),
        (stop, None) => stop,
    };
    display.finish().await;
    if let Some(sb) = target.sandbox {
        sb.shutdown().await;
    }
    Ok(Ran { report, stop, requests, tally, already, journal })
}

/// The reader/checker on a blocking thread. Valid rows go to delivery, or,
/// in a dry run, straight to retryable (keeping a may-exist mark, so the
/// file still says it when fed back), each lead logged at `-vvv` as a
/// batch would send it.
fn spawn_reader(
    job: ReadJob,
    dry_run: bool,
    out: Outbox,
    items: mpsc::Sender<Vec<Item>>,
) -> tokio::task::JoinHandle<ReadReport> {
    tokio::task::spawn_blocking(move || {
        read_and_check(job, |batch| {
            if dry_run {
                let reason = || "not sent (--dry-run)".to_owned();
                batch.iter().for_each(deliver::trace_lead);
                let rows =
                    batch.into_iter().map(|i| (i.row, Verdict::Retryable { reason: reason(), may_exist: i.may_exist }));
                out.sort_blocking(rows.collect()).is_ok()
            } else {
                items.blocking_send(batch).is_ok()
            }
        })
    })
}

fn engine(
    cfg: &UploadConfig,
    client: Client,
    batch_size: usize,
    unknown: UnknownProcesses,
    out: Outbox,
    cancel: CancellationToken,
    ledger: Option<(Session, LedgerFailure)>,
) -> Arc<Engine> {
    let settings = deliver::Settings {
        batch_size,
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        max_attempts: cfg.max_attempts,
        max_rate_limit_wait: cfg.max_rate_limit_wait,
        initialize: cfg.common.initialize,
        resend_known: cfg.ledger.as_ref().is_some_and(|l| l.resend_known),
        backoff_min: cfg.retry_base,
        backoff_max: Duration::from_secs(30),
    };
    Arc::new(Engine::new(client, settings, unknown, out, cancel, ledger))
}

/// Runs the engine until every item is delivered, showing 429 pauses.
async fn deliver_all(
    engine: Arc<Engine>,
    items: mpsc::Receiver<Vec<Item>>,
    counters: &Arc<Counters>,
) -> (Option<Stop>, Requests) {
    let pause_watch = {
        let (engine, counters) = (Arc::clone(&engine), Arc::clone(counters));
        tokio::spawn(async move {
            loop {
                let ms = engine.pacer().paused_for().map_or(0, |d| d.as_millis() as u64);
                counters.paused_ms.store(ms, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let stop = Arc::clone(&engine).run(items).await;
    pause_watch.abort();
    let requests = Requests {
        sent: engine.stats.requests.load(Ordering::Relaxed),
        retries: engine.stats.retries.load(Ordering::Relaxed),
        rate_limited: engine.stats.rate_limited.load(Ordering::Relaxed),
        rate_limit_wait_s: engine.pacer().waited().as_secs_f64(),
        by_status: engine.stats.by_status(),
    };
    (stop, requests)
}
