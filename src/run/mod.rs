//! The two jobs end to end: `upload` (read, check, send, sort) and
//! `validate` (read, check, sort the rejected). Wires the stages together:
//! a reader/checker thread, the delivery engine on tokio, and the writer
//! thread, joined by bounded channels so memory does not grow with the file.
//! Also checks the invariant: rows read = accepted + rejected + retryable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checks::{CheckSettings, Checker, UnknownProcesses};
use crate::config::{Common, Destination, UploadConfig};
use crate::deliver::{self, Client, Engine, Item, Stop};
use crate::exit::Exit;
use crate::input::{Format, Source};
use crate::journal::{self, Entry, InputId, Journal, LineSet, RunSettings};
use crate::output::{self, FileKind, OutFormat, Sinks, Verdict};
use crate::progress::{Counters, Display, Mode};
use crate::summary::{InputInfo, Requests, Summary, shell_quote};
use crate::writer;

mod interactive;
mod read;
mod validate;

pub use validate::validate;

use interactive::{confirm_initialize, watch_signals};
use read::{ReadJob, read_and_check};

/// How a run ended: its exit code and its summary.
pub struct Outcome {
    pub exit: Exit,
    pub summary: Summary,
    pub resend: Option<String>,
}

fn out_format(format: Format) -> OutFormat {
    match format {
        Format::Json | Format::Ndjson => OutFormat::Ndjson,
        Format::Csv | Format::Tsv | Format::Lines | Format::Xlsx | Format::Xls | Format::Ods => OutFormat::Csv,
    }
}

/// `<input dir>/<input stem>.leadctl/<UTC yyyymmddThhmmssZ>/`.
fn default_run_dir(input: &Path) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    if input.as_os_str() == "-" {
        return PathBuf::from("stdin.leadctl").join(stamp);
    }
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
    let stem = name.split('.').next().filter(|s| !s.is_empty()).unwrap_or("input");
    input.parent().unwrap_or(Path::new("")).join(format!("{stem}.leadctl")).join(stamp)
}

/// Size and SHA-256 of the input file (none for stdin).
fn identify(path: &Path) -> Result<Option<InputId>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(InputId { size, sha256 }))
}

fn check_settings(common: &Common) -> CheckSettings {
    CheckSettings {
        project_id: common.project_id.clone(),
        process_id: common.process_id.clone(),
        default_region: common.default_region,
        initialize: common.initialize,
        existing: common.input.existing,
    }
}

/// The settings every command records: the input and the local rules.
/// Delivery settings are zero here; `upload` fills them in.
fn base_settings(command: &str, common: &Common, format: Format) -> RunSettings {
    RunSettings {
        command: command.into(),
        input: std::path::absolute(&common.input.path).unwrap_or_else(|_| common.input.path.clone()),
        format,
        delimiter: common.input.delimiter,
        map: common.input.map.clone(),
        existing: common.input.existing,
        api_url: None,
        sandbox: false,
        dry_run: false,
        project_id: common.project_id.clone(),
        process_id: common.process_id.clone(),
        default_region: common.default_region_code.clone(),
        initialize: common.initialize,
        batch_size: 0,
        concurrency: 0,
        rate: None,
        max_attempts: 0,
        timeout_s: 0.0,
        max_rate_limit_wait_s: 0.0,
        limit: common.limit,
    }
}

/// How a run ended, for its summary.
struct Ending<'a> {
    command: &'static str,
    exit: Exit,
    stop: Option<String>,
    resumed: bool,
    settings: RunSettings,
    input_id: Option<InputId>,
    run_dir: &'a Path,
    out_fmt: OutFormat,
    kinds: &'a [FileKind],
    read: u64,
    passed: Option<u64>,
    tally: &'a crate::output::Tally,
    requests: Requests,
    started: Instant,
    started_at: SystemTime,
}

/// Builds the summary of a run and writes `summary.json`.
fn write_summary(e: Ending<'_>) -> Result<Summary> {
    let elapsed = e.started.elapsed().as_secs_f64();
    let summary = Summary {
        command: e.command,
        exit_code: e.exit.code(),
        stopped: e.stop,
        resumed: e.resumed,
        input: InputInfo {
            path: e.settings.input.clone(),
            format: e.settings.format,
            size: e.input_id.as_ref().map(|i| i.size),
            sha256: e.input_id.map(|i| i.sha256),
        },
        run_dir: e.run_dir.to_path_buf(),
        files: Summary::files_for(e.run_dir, e.out_fmt, e.kinds),
        counts: Summary::counts(e.read, e.tally, e.passed),
        rejected_by_code: e.tally.rejected_by_code.clone(),
        requests: e.requests,
        started_at: humantime::format_rfc3339_seconds(e.started_at).to_string(),
        finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        elapsed_s: elapsed,
        rows_per_s: if elapsed > 0.0 { e.read as f64 / elapsed } else { 0.0 },
        settings: e.settings,
    };
    summary.write(e.run_dir).with_context(|| format!("cannot write {}", e.run_dir.join("summary.json").display()))?;
    Ok(summary)
}

fn open_source(common: &Common) -> Result<Source> {
    let source = Source::open(&common.input).map_err(|e| anyhow!(e))?;
    if let Some(notice) = source.notice().filter(|_| !common.quiet) {
        eprintln!("leadctl: {notice}");
    }
    Ok(source)
}

/// `leadctl upload`.
pub async fn upload(cfg: UploadConfig) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let common = &cfg.common;
    let resumed = cfg.resume.as_deref().map(journal::recover).transpose()?;

    let source = open_source(common)?;
    let format = source.format();
    let out_fmt = out_format(format);
    let columns: Vec<String> = source.columns().map(<[String]>::to_vec).unwrap_or_default();
    // A pipe read a second time would be drained; only a regular file is.
    let input_id = if source.is_regular_file() { identify(&common.input.path)? } else { None };

    // Where the leads go.
    let mut sandbox = None;
    let (client, api_url) = match &cfg.destination {
        Destination::DryRun => (None, None),
        Destination::Sandbox => {
            let sb = crate::sandbox::Sandbox::start(crate::sandbox::SandboxConfig::default()).await?;
            let key = crate::config::ApiKey::new(sb.api_key());
            let url = sb.url();
            if !common.quiet {
                eprintln!(
                    "leadctl: uploading to the bundled sandbox at {url} (an emulator in this process: nothing leaves this machine)"
                );
            }
            let client = Client::new(&url, &key, cfg.timeout)?;
            sandbox = Some(sb);
            (Some(client), Some(url))
        }
        Destination::Remote { api_url, api_key } => {
            (Some(Client::new(api_url, api_key, cfg.timeout)?), Some(api_url.clone()))
        }
    };
    let mut project_id = common.project_id.clone();
    if project_id.is_none()
        && let Some(sb) = &sandbox
    {
        project_id = Some(sb.project_id().to_owned());
    }

    if !confirm_initialize(&cfg, project_id.as_deref())? {
        bail!("not confirmed: nothing was sent and no call was started");
    }

    let settings = RunSettings {
        api_url: api_url.clone(),
        sandbox: sandbox.is_some(),
        dry_run: matches!(cfg.destination, Destination::DryRun),
        project_id: project_id.clone(),
        batch_size: cfg.batch_size,
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        max_attempts: cfg.max_attempts,
        timeout_s: cfg.timeout.as_secs_f64(),
        max_rate_limit_wait_s: cfg.max_rate_limit_wait.as_secs_f64(),
        ..base_settings("upload", common, format)
    };

    // The run directory: new, or the one being resumed.
    let unknown: UnknownProcesses = Arc::new(RwLock::new(Default::default()));
    let (run_dir, sinks, journal, skip, in_flight, batch_size) = match resumed {
        Some(rec) => {
            let dir = cfg.resume.clone().unwrap_or_default();
            match &input_id {
                Some(id) if *id == rec.input => {}
                _ => bail!(
                    "{} is not the file this run read (its size or SHA-256 differs from the journal's); \
                     resume needs the same input",
                    common.input.path.display()
                ),
            }
            unknown.write().unwrap_or_else(|e| e.into_inner()).extend(rec.unknown_processes.iter().cloned());
            let sinks = Sinks::reopen(&dir, rec.out_format, &columns, rec.tally)
                .with_context(|| format!("cannot reopen the output files in {}", dir.display()))?;
            let journal = Journal::reopen(&dir)?;
            (
                dir,
                sinks,
                Some(journal),
                rec.done,
                rec.may_exist,
                rec.batch_size.unwrap_or(cfg.batch_size).min(cfg.batch_size),
            )
        }
        None => {
            let dir = common.out_dir.clone().unwrap_or_else(|| default_run_dir(&common.input.path));
            output::create_run_dir(&dir)
                .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
            let sinks = Sinks::create(&dir, out_fmt, &columns, &FileKind::ALL)
                .with_context(|| format!("cannot create the output files in {}", dir.display()))?;
            let journal = match (&input_id, &cfg.destination) {
                (Some(id), Destination::Remote { .. }) => Some(Journal::create(
                    &dir,
                    &Entry::Start { version: 1, input: id.clone(), out_format: out_fmt, settings: settings.clone() },
                )?),
                _ => None,
            };
            (dir, sinks, journal, LineSet::default(), LineSet::default(), cfg.batch_size)
        }
    };
    let already = sinks.tally().total();

    let counters = Arc::new(Counters { bytes: source.progress(), ..Counters::default() });
    let (outbox, writer) = writer::spawn(sinks, journal, Arc::clone(&counters))?;
    let checker =
        Checker::new(CheckSettings { project_id: project_id.clone(), ..check_settings(common) }, Arc::clone(&unknown));

    let cancel = CancellationToken::new();
    watch_signals(cancel.clone());
    let display = Display::start(
        Mode::choose(common.quiet, common.progress_interval),
        Arc::clone(&counters),
        source.total_bytes(),
        "upload",
    );

    let (items_tx, items_rx) = mpsc::channel::<Vec<Item>>(4);
    let reader_out = outbox.clone();
    let reader_counters = Arc::clone(&counters);
    let limit = common.limit;
    let dry_run = client.is_none();
    let dry_out = outbox.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let job = ReadJob { source, checker, limit, skip, in_flight, out: reader_out, counters: reader_counters };
        read_and_check(job, |items| {
            if dry_run {
                let rows = items
                    .into_iter()
                    .map(|i| (i.row, Verdict::Retryable { reason: "not sent (--dry-run)".into(), may_exist: false }))
                    .collect();
                dry_out.sort_blocking(rows).is_ok()
            } else {
                items_tx.blocking_send(items).is_ok()
            }
        })
    });

    let mut stop = None;
    let mut requests = Requests::default();
    if let Some(client) = client {
        let engine = Arc::new(Engine::new(
            client,
            deliver::Settings {
                batch_size,
                concurrency: cfg.concurrency,
                rate: cfg.rate,
                max_attempts: cfg.max_attempts,
                max_rate_limit_wait: cfg.max_rate_limit_wait,
                initialize: common.initialize,
                backoff_min: cfg.retry_base,
                backoff_max: Duration::from_secs(30),
            },
            Arc::clone(&unknown),
            outbox.clone(),
            cancel.clone(),
        ));
        let pause_watch = {
            let engine = Arc::clone(&engine);
            let counters = Arc::clone(&counters);
            tokio::spawn(async move {
                loop {
                    let ms = engine.pacer().paused_for().map_or(0, |d| d.as_millis() as u64);
                    counters.paused_ms.store(ms, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        stop = Arc::clone(&engine).run(items_rx).await;
        pause_watch.abort();
        requests = Requests {
            sent: engine.stats.requests.load(Ordering::Relaxed),
            retries: engine.stats.retries.load(Ordering::Relaxed),
            rate_limited: engine.stats.rate_limited.load(Ordering::Relaxed),
            rate_limit_wait_s: engine.pacer().waited().as_secs_f64(),
        };
    } else {
        drop(items_rx);
    }
    let report = reader.await.map_err(|e| anyhow!("the reader failed: {e}"))?;
    drop(outbox);
    let (tally, journal) = writer.finish().context("writing the output files failed")?;
    display.finish().await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }

    // The invariant: every row read is in exactly one file.
    let sorted_new = tally.total() - already;
    let invariant_ok = report.read == report.skipped + sorted_new && report.skipped == already;
    let exit = if let Some(err) = &report.error {
        eprintln!("leadctl: error: {err}");
        Exit::Error
    } else if !invariant_ok {
        eprintln!(
            "leadctl: internal error: {} rows read but {} sorted; please report this bug",
            report.read,
            tally.total()
        );
        Exit::Error
    } else {
        match &stop {
            Some(Stop::Interrupted) => Exit::Interrupted,
            Some(Stop::Denied { .. } | Stop::Fatal { .. } | Stop::Output(_)) => Exit::Error,
            _ if dry_run => {
                if tally.rejected > 0 {
                    Exit::Rejected
                } else {
                    Exit::Success
                }
            }
            _ if tally.retryable > 0 => Exit::Retryable,
            _ if tally.rejected > 0 => Exit::Rejected,
            _ => Exit::Success,
        }
    };
    if let Some(mut j) = journal {
        let _ = j.append(&Entry::Finished { exit_code: exit.code() });
    }
    if let Some(s) = &stop {
        eprintln!("leadctl: {}", stop_advice(s));
    }

    let resend = (tally.retryable > 0 && !dry_run).then(|| resend_command(&run_dir, out_fmt, &settings));
    let summary = write_summary(Ending {
        command: "upload",
        exit,
        stop: stop.as_ref().map(Stop::reason),
        resumed: cfg.resume.is_some(),
        settings,
        input_id,
        run_dir: &run_dir,
        out_fmt,
        kinds: &FileKind::ALL,
        read: report.read,
        passed: dry_run.then_some(report.passed),
        tally: &tally,
        requests,
        started,
        started_at,
    })?;
    Ok(Outcome { exit, summary, resend })
}

/// What to do after the run stopped early.
fn stop_advice(stop: &Stop) -> String {
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
    }
}

/// The exact command that sends the retryable rows again.
fn resend_command(dir: &Path, format: OutFormat, s: &RunSettings) -> String {
    let mut cmd = vec!["leadctl".to_owned(), "upload".to_owned()];
    if s.existing {
        cmd.push("--existing".into());
    }
    cmd.push(shell_quote(&output::file_path(dir, FileKind::Retryable, format).to_string_lossy()));
    if let Some(p) = &s.process_id {
        cmd.push(format!("--process-id {}", shell_quote(p)));
    }
    if let Some(p) = &s.project_id
        && !s.sandbox
    {
        cmd.push(format!("--project-id {}", shell_quote(p)));
    }
    if s.default_region != "US" {
        cmd.push(format!("--default-region {}", s.default_region));
    }
    for (f, c) in &s.map {
        cmd.push(format!("--map {}", shell_quote(&format!("{f}={c}"))));
    }
    if s.initialize {
        cmd.push("--initialize".into());
    }
    if s.sandbox {
        cmd.push("--sandbox".into());
    }
    cmd.join(" ")
}
