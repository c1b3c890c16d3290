//! The first stage of a run: open the input, pick the destination, and
//! create the run directory, or reopen the one being resumed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::checks::CheckSettings;
use crate::config::{Common, Destination, UploadConfig};
use crate::deliver::Client;
use crate::input::{DelimiterUsed, EncodingSource, Format, InputFacts, Source};
use crate::journal::{self, Entry, InputId, Journal, RangeSet, Recovered};
use crate::ledger::{Session, SessionOptions};
use crate::output::{Dialect, FileKind, Layout, OutFormat, Sinks};
use crate::rundir::{Dir, Lock, Place};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::settings::RunRecord;
use crate::summary::InputInfo;

/// The outputs follow the input: CSV for CSV/TSV/lines, NDJSON for JSON.
pub(super) fn out_format(format: Format) -> OutFormat {
    match format {
        Format::Json | Format::Ndjson => OutFormat::Ndjson,
        Format::Csv | Format::Tsv | Format::Lines | Format::Xlsx | Format::Xls | Format::Ods => OutFormat::Csv,
    }
}

/// `<input dir>/<input stem>.leadctl/<UTC yyyymmddThhmmssZ>/`; for a file
/// of a run directory (a retryable file sent again, a rejected file fixed
/// and sent), beside that run: `<run>-resend-<UTC time>` (a resend of a
/// resend beside the first run, with the first run's name), never nested
/// inside the run.
pub fn default_run_dir(input: &Path) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let stem = crate::config::input_stem(input);
    if input.as_os_str() == "-" {
        return PathBuf::from(format!("{stem}.leadctl")).join(stamp);
    }
    let parent = input.parent().unwrap_or(Path::new(""));
    // Absolute, so that a file named from inside its run directory is known too.
    let run_dir = std::path::absolute(input).ok().and_then(|i| i.parent().map(Path::to_path_buf));
    if let Some(run_dir) = run_dir.filter(|d| is_run_dir(d))
        && let (Some(run), Some(beside)) = (run_dir.file_name(), run_dir.parent())
    {
        let run = run.to_string_lossy();
        let first = run.split_once(RESEND).map_or(&*run, |(first, _)| first);
        // As the input was named (relative stays relative), unless it ends in `..` or is the working directory.
        let named = matches!(parent.components().next_back(), Some(std::path::Component::Normal(_)));
        let beside = match parent.parent().filter(|_| named) {
            Some(p) => p.to_path_buf(),
            None => beside.to_path_buf(),
        };
        return beside.join(format!("{first}{RESEND}{stamp}"));
    }
    parent.join(format!("{stem}.leadctl")).join(stamp)
}

/// What a resend's run directory adds to the name of the run it resends.
const RESEND: &str = "-resend-";

/// Whether `dir` is a leadctl run directory: it holds a run's lock file and
/// its rejected file (every run writes both).
fn is_run_dir(dir: &Path) -> bool {
    let has = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    let rejected = |format| has(&crate::output::file_name(FileKind::Rejected, format));
    has(crate::rundir::LOCK_FILE) && (rejected(OutFormat::Csv) || rejected(OutFormat::Ndjson))
}

/// Size and SHA-256 of the input file (none for stdin).
pub(super) fn identify(path: &Path) -> Result<Option<InputId>> {
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

/// The settings the checks depend on. `require_project` and
/// `require_process`: `validate` with no project (no process) configured
/// skips the rule.
pub(super) fn check_settings(
    common: &Common,
    project_id: Option<String>,
    require_project: bool,
    require_process: bool,
) -> CheckSettings {
    CheckSettings {
        project_id,
        process_id: common.process_id.clone(),
        default_region: common.default_region,
        initialize: common.initialize,
        existing: common.input.existing,
        require_project,
        require_process,
    }
}

/// Whether no row can have a process: none configured, and a header
/// (CSV, TSV, a sheet) with no column that feeds `processId` after `--map`.
/// (JSON objects each say it; lead ids need none.)
pub(super) fn no_process_anywhere(common: &Common, source: &Source) -> bool {
    common.process_id.is_none() && !common.input.existing && source.has_process_column() == Some(false)
}

pub(super) fn open_source(common: &Common) -> Result<Source> {
    let source = Source::open(&common.input).map_err(|e| anyhow!(e))?;
    if let Some(notice) = source.notice().filter(|_| !common.quiet) {
        crate::log::say(crate::log::Level::Info, &notice);
    }
    Ok(source)
}

/// What a run knows about its input besides its rows (the `Source`, which
/// moves to the reader thread), and what the outputs look like.
pub(super) struct Input {
    pub(super) format: Format,
    pub(super) out_format: OutFormat,
    /// CSV: the input's columns as read (the outputs' first columns).
    pub(super) columns: Vec<String>,
    /// Size and SHA-256 read before the run: only for a run that keeps a
    /// journal (a resumed run compares them). Others take them as they read.
    pub(super) id: Option<InputId>,
    /// What reading finds out (the digest, a late encoding), shared with
    /// the reader thread the source moves to.
    pub(super) facts: Arc<InputFacts>,
    pub(super) regular: bool,
    path: PathBuf,
    delimiter: Option<DelimiterUsed>,
    sheet: Option<String>,
}

impl Input {
    /// Opens the input. `journaled`: the run keeps a journal, which needs
    /// the input's identity before anything is sent. A pipe is never opened
    /// twice (that would drain it): it keeps no journal.
    pub(super) fn open(common: &Common, journaled: bool) -> Result<(Source, Input)> {
        let source = open_source(common)?;
        let format = source.format();
        let columns = source.columns().map(<[String]>::to_vec).unwrap_or_default();
        let regular = source.is_regular_file();
        let id = if journaled && regular { identify(&common.input.path)? } else { None };
        let input = Input {
            format,
            out_format: out_format(format),
            columns,
            id,
            facts: source.facts(),
            regular,
            path: common.input.path.clone(),
            delimiter: source.delimiter(),
            sheet: source.sheet().map(str::to_owned),
        };
        Ok((source, input))
    }

    /// The input's identity once it was read: as read up front, or as
    /// hashed while reading, or (a regular file whose read stopped early,
    /// `--limit`) by reading it again.
    pub(super) fn identity(&self) -> Option<InputId> {
        if let Some(id) = &self.id {
            return Some(id.clone());
        }
        if let Some(d) = self.facts.digest() {
            return Some(InputId { size: d.size, sha256: d.sha256 });
        }
        self.regular.then(|| identify(&self.path).ok().flatten()).flatten()
    }

    /// What the output files look like (see `output::Dialect`): `origin`
    /// names the input in them, as the run records it.
    pub(super) fn layout(&self, origin: &Path) -> Layout {
        let encoding = self.facts.encoding();
        let marked = encoding.is_some_and(|e| !e.is_utf8() || e.source == EncodingSource::Bom);
        Layout {
            format: self.out_format,
            dialect: Dialect {
                delimiter: self.delimiter.map_or(b',', |d| d.delimiter),
                bom: marked || self.format.is_spreadsheet(),
            },
            columns: self.columns.clone(),
            origin: origin.display().to_string().into(),
        }
    }

    /// What the summary says about the input.
    pub(super) fn info(&self, path: PathBuf) -> InputInfo {
        let id = self.identity();
        let encoding = self.facts.encoding();
        let numeric = self.facts.numeric_phone_cells();
        InputInfo {
            path,
            format: self.format,
            size: id.as_ref().map(|i| i.size),
            sha256: id.map(|i| i.sha256),
            encoding: encoding.map(|e| e.name),
            encoding_source: encoding.map(|e| e.source),
            delimiter: self.delimiter.map(|d| char::from(d.delimiter).to_string()),
            delimiter_sniffed: self.delimiter.map(|d| d.sniffed),
            sheet: self.sheet.clone(),
            numeric_phone_cells: (self.format.is_spreadsheet()).then_some(numeric),
        }
    }
}

/// The API every in-process sandbox (`upload --sandbox`) is to the ledger:
/// each one listens on a port of its own, but a rehearsal with `--ledger
/// FILE` must remember what the last rehearsal sent. No real API has this
/// URL (`--api-url` takes only `https://`, or `http://` to loopback).
pub const SANDBOX_LEDGER_URL: &str = "sandbox://in-process";

/// Where the leads of an upload go: a client, and the sandbox it talks to
/// when the run started one.
pub(super) struct Target {
    pub(super) client: Option<Client>,
    pub(super) sandbox: Option<Sandbox>,
    /// The project the rows must match: the setting, or the sandbox's.
    pub(super) project_id: Option<String>,
    /// The API the ledger keys this run's leads by: the API URL, or
    /// [`SANDBOX_LEDGER_URL`]; for a dry run, the API it would send to.
    pub(super) ledger_api: Option<String>,
}

impl Target {
    /// Connects the destination, recording what the run decided in `record`
    /// (the sandbox's URL and project).
    pub(super) async fn connect(cfg: &UploadConfig, record: &mut RunRecord) -> Result<Target> {
        let mut project_id = cfg.common.project_id.clone();
        let target = match &cfg.destination {
            Destination::DryRun { api_url, sandbox } => {
                if *sandbox {
                    sandbox_project(&mut project_id, record);
                }
                let ledger_api = match (&cfg.ledger, sandbox, api_url) {
                    (None, _, _) => None,
                    (Some(_), true, _) => Some(SANDBOX_LEDGER_URL.to_owned()),
                    (Some(_), false, Some(url)) => Some(crate::config::check_url(url)?),
                    (Some(_), false, None) => bail!(
                        "a dry run with a ledger looks the leads up by the API they would go to, and there is no API \
                         URL: pass --api-url URL, set LEADCTL_API_URL, or put `api-url` in the config file (no key \
                         is needed; --sandbox for the sandbox's), or drop --ledger"
                    ),
                };
                Target { client: None, sandbox: None, project_id, ledger_api }
            }
            Destination::Sandbox => {
                // A key of its own, so that no other account on this machine
                // reads the rehearsal's leads from `/_sandbox/state`.
                let api_key = format!("sk_rehearsal_{}", uuid::Uuid::new_v4().simple());
                let sb = Sandbox::start(SandboxConfig { api_key, ..SandboxConfig::default() }).await?;
                let url = sb.url();
                if !cfg.common.quiet {
                    crate::log::say(
                        crate::log::Level::Info,
                        &format!(
                            "uploading to the bundled sandbox at {url} (an emulator in this process: nothing leaves \
                             this machine)"
                        ),
                    );
                }
                let key = crate::config::ApiKey::new(sb.api_key());
                let client = Client::new(&url, &key, cfg.timeout, &crate::config::Route::Direct)?;
                record.decide("api-url", url.into());
                sandbox_project(&mut project_id, record);
                let ledger_api = Some(SANDBOX_LEDGER_URL.to_owned());
                Target { client: Some(client), sandbox: Some(sb), project_id, ledger_api }
            }
            Destination::Remote { api_url, api_key, route } => {
                let client = Client::new(api_url, api_key, cfg.timeout, route)?;
                Target { client: Some(client), sandbox: None, project_id, ledger_api: Some(api_url.clone()) }
            }
        };
        Ok(target)
    }
}

/// With `--sandbox`, a run with no project takes the sandbox's.
fn sandbox_project(project_id: &mut Option<String>, record: &mut RunRecord) {
    if project_id.is_none() {
        *project_id = Some(crate::sandbox::DEFAULT_PROJECT_ID.to_owned());
        record.decide("project-id", crate::sandbox::DEFAULT_PROJECT_ID.into());
    }
}

/// Where a new run's directory goes: `--out-dir`, or next to the input.
pub(super) fn new_run_dir(common: &Common) -> (PathBuf, Place) {
    match &common.out_dir {
        Some(dir) => (dir.clone(), Place::Named),
        None => (default_run_dir(&common.input.path), Place::BesideInput),
    }
}

/// A run directory taken by this process for the whole run (see `rundir`).
pub(super) struct Taken {
    pub(super) dir: Dir,
    _lock: Lock,
}

impl Taken {
    /// Makes a new run's directory and takes it.
    pub(super) fn create(path: &Path, place: Place) -> Result<Taken> {
        let dir = Dir::create(path, place)
            .with_context(|| format!("cannot create the output directory {}", path.display()))?;
        let lock = dir.lock()?;
        Ok(Taken { dir, _lock: lock })
    }
}

/// The directory of the run being resumed, judged and taken before
/// anything in it is read, and the settings its journal records.
pub struct Resumed {
    pub(super) taken: Taken,
    pub record: RunRecord,
}

impl Resumed {
    /// Opens the run directory of `--resume`: it must be the running
    /// account's and closed to others, and no other process may hold it.
    pub fn open(path: &Path) -> Result<Resumed> {
        let dir = Dir::open(path).map_err(|e| anyhow!("cannot resume: {e}"))?;
        let lock = dir.lock()?;
        let record = journal::read_record_in(&dir)?;
        Ok(Resumed { taken: Taken { dir, _lock: lock }, record })
    }
}

/// Opens the ledger for the run in `dir` sending to the target's API, when
/// the run uses one.
pub(super) async fn open_ledger(cfg: &UploadConfig, target: &Target, dir: &Path) -> Result<Option<Session>> {
    let (Some(choice), Some(api_url)) = (&cfg.ledger, &target.ledger_api) else { return Ok(None) };
    // The run is named by its directory, absolute: a resumed run is the same
    // run, and takes its own claims back.
    let run = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
    let host = crate::ledger::host_name().unwrap_or_else(|| "localhost".into());
    let (location, api_url) = (choice.location.clone(), api_url.clone());
    let shown = location.to_string();
    let options = SessionOptions {
        request_timeout: cfg.timeout,
        busy_wait: cfg.ledger_wait,
        // Each attempt waits at most a quarter of the whole wait for the lock.
        busy_timeout: (cfg.ledger_wait / 4).clamp(Duration::from_millis(50), Duration::from_secs(10)),
    };
    let session = tokio::task::spawn_blocking(move || Session::open(location, &api_url, &run, &host, options))
        .await
        .map_err(|e| anyhow!("opening the ledger failed: {e}"))?
        .with_context(|| format!("cannot use the ledger {shown} (--no-ledger runs without one)"))?;
    Ok(Some(session))
}

/// Where a run goes: a new directory (made once the run is ready to
/// write), or the one being resumed, read back.
pub(super) enum Start {
    New(PathBuf, Place),
    Resume(Resumed, Recovered),
}

impl Start {
    pub(super) fn of(common: &Common, resumed: Option<Resumed>) -> Result<Start> {
        Ok(match resumed {
            Some(r) => {
                let rec = journal::recover(&r.taken.dir)?;
                Start::Resume(r, rec)
            }
            None => {
                let (path, place) = new_run_dir(common);
                Start::New(path, place)
            }
        })
    }

    pub(super) fn resumed(&self) -> bool {
        matches!(self, Start::Resume(..))
    }

    pub(super) fn path(&self) -> &Path {
        match self {
            Start::New(path, _) => path,
            Start::Resume(r, _) => r.taken.dir.path(),
        }
    }

    /// The run directory, taken, and its files: made new, or reopened.
    pub(super) fn open(self, cfg: &UploadConfig, input: &Input, record: &RunRecord) -> Result<(Taken, RunDir)> {
        match self {
            Start::New(path, place) => {
                let taken = Taken::create(&path, place)?;
                let run = RunDir::create(&taken.dir, cfg, input, record)?;
                Ok((taken, run))
            }
            Start::Resume(r, rec) => {
                let run = RunDir::resume(&r.taken.dir, cfg, input, rec)?;
                Ok((r.taken, run))
            }
        }
    }
}

/// The run directory's open files, new or resumed.
pub(super) struct RunDir {
    pub(super) sinks: Sinks,
    /// What the output files look like.
    pub(super) layout: Layout,
    pub(super) journal: Option<Journal>,
    /// Rows the resumed run already sorted into accepted or rejected.
    pub(super) skip: RangeSet,
    /// Rows the resumed run sent: those not in `skip` may exist on the server.
    pub(super) in_flight: RangeSet,
    /// The batch size the resumed run learned from the server, if smaller.
    pub(super) batch_size: usize,
    /// Processes the server answered 404 for in the resumed run.
    pub(super) unknown_processes: Vec<String>,
}

impl RunDir {
    /// A new run directory with the three files (and the journal, for a run
    /// that sends to a real API from a file it can read again).
    pub(super) fn create(dir: &Dir, cfg: &UploadConfig, input: &Input, record: &RunRecord) -> Result<RunDir> {
        let common = &cfg.common;
        let layout = input.layout(&record.input);
        let sinks = Sinks::create(dir, &layout, &FileKind::ALL)
            .with_context(|| format!("cannot create the output files in {}", dir.path().display()))?;
        if matches!(cfg.destination, Destination::Remote { .. }) && !input.regular && !common.quiet {
            crate::log::say(
                crate::log::Level::Warn,
                &format!(
                    "{} is not a regular file (a pipe or standard input): it is read once, and this run keeps no \
                     journal, so it cannot be resumed",
                    common.input.path.display()
                ),
            );
        }
        let journal = match (&input.id, &cfg.destination) {
            (Some(id), Destination::Remote { .. }) => {
                let start = Entry::Start {
                    version: journal::VERSION,
                    input: id.clone(),
                    out_format: input.out_format,
                    record: record.clone(),
                };
                let mut journal = Journal::create(dir, &start)?;
                // The files' lengths with their headers alone: resume cuts back to them at least.
                journal.append(&Entry::Done { rows: RangeSet::default(), lens: sinks.lens()? })?;
                Some(journal)
            }
            _ => None,
        };
        Ok(RunDir {
            sinks,
            layout,
            journal,
            skip: RangeSet::default(),
            in_flight: RangeSet::default(),
            batch_size: cfg.batch_size,
            unknown_processes: Vec::new(),
        })
    }

    /// Reopens an interrupted run's directory: the input must be the same file.
    pub(super) fn resume(dir: &Dir, cfg: &UploadConfig, input: &Input, rec: Recovered) -> Result<RunDir> {
        if input.id.as_ref() != Some(&rec.input) {
            bail!(
                "{} is not the file this run read (its size or SHA-256 differs from the journal's); resume needs \
                 the same input",
                cfg.common.input.path.display()
            );
        }
        let layout = Layout { format: rec.out_format, ..input.layout(&rec.record.input) };
        let sinks = Sinks::reopen(dir, &layout, rec.tally)
            .with_context(|| format!("cannot reopen the output files in {}", dir.path().display()))?;
        Ok(RunDir {
            sinks,
            layout,
            journal: Some(Journal::reopen(dir)?),
            skip: rec.done,
            in_flight: rec.sent,
            batch_size: rec.batch_size.unwrap_or(cfg.batch_size).min(cfg.batch_size),
            unknown_processes: rec.unknown_processes,
        })
    }
}
