//! `leadctl ledger`: looking after the delivery ledger. `stats` says what it
//! holds; `import` records what earlier run directories sent (runs from
//! before the ledger, from another host, or whose ledger was down), or
//! leads a CRM export says the vendor already has; `forget` honours an
//! erasure request; `prune` applies a retention period; `export` prints
//! every entry. This module reads files and talks to the store; the store
//! itself (`ledger`) knows keys and outcomes only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::{ExportFormat, LedgerAction};
use crate::exit::Exit;
use crate::input::{InputSpec, Source, column_for};
use crate::ledger::{
    self, Entry, Known, OpenOptions, Outcome, PhoneKey, RejectCode, RunRef, Scope, ScopeFilter, Store,
};
use crate::output::{FileKind, OutFormat, file_path, output_csv_reader, record_fields};
use crate::phone::{self, Region};
use crate::vocab::column;

pub use crate::config::LedgerCommand;

/// Runs a `ledger` command (on a plain thread: the stores block).
pub fn run(cmd: LedgerCommand) -> Result<Exit> {
    let mut store = ledger::open(&cmd.location, &OpenOptions::default())
        .with_context(|| format!("cannot use the ledger {}", cmd.location))?;
    let store = store.as_mut();
    match &cmd.action {
        LedgerAction::Stats => stats(store, cmd.json),
        LedgerAction::Import { run_dirs, leads, process_id, default_region, .. } => {
            let region = region(default_region.as_deref())?;
            let entries = match leads {
                Some(file) => leads_file(&cmd, file, process_id.as_deref(), region)?,
                None if run_dirs.is_empty() => bail!("nothing to import: name run directories, or --leads FILE"),
                None => run_dirs.iter().map(|d| run_dir(d)).collect::<Result<Vec<_>>>()?.concat(),
            };
            let n = store.import(&entries)?;
            report(cmd.json, json!({"imported": n}), &format!("imported {n} entries into {}", cmd.location));
            Ok(Exit::Success)
        }
        LedgerAction::Forget { phone, process, project, api_url, default_region } => {
            let key = phone_key(phone, region(default_region.as_deref())?)
                .ok_or_else(|| anyhow!("--phone {phone:?} is not a phone number"))?;
            // Everywhere unless narrowed: an erasure must not miss a scope.
            let which = ScopeFilter { api_url: api_url.clone(), project: project.clone(), process: process.clone() };
            let n = store.forget(key, &which)?;
            report(
                cmd.json,
                json!({"forgotten": n, "phone": key.to_string()}),
                &format!("removed {n} entries of {key}"),
            );
            Ok(Exit::Success)
        }
        LedgerAction::Prune { older_than } => {
            let age = humantime::parse_duration(older_than)
                .map_err(|e| anyhow!("--older-than {older_than:?}: {e} (e.g. 90d, 12w)"))?;
            let before = SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
            let n = store.prune(before)?;
            let since = humantime::format_rfc3339_seconds(before);
            report(cmd.json, json!({"pruned": n}), &format!("removed {n} entries not seen since {since}"));
            Ok(Exit::Success)
        }
        LedgerAction::Export { format } => export(store, *format),
    }
}

fn region(code: Option<&str>) -> Result<Region> {
    let code = code.unwrap_or("US");
    phone::parse_region(code).ok_or_else(|| anyhow!("--default-region {code:?} is not a region code"))
}

/// A phone number as the ledger keys it: E.164, or parsed for `region`.
fn phone_key(text: &str, region: Region) -> Option<PhoneKey> {
    PhoneKey::from_e164(text.trim()).or_else(|| PhoneKey::from_e164(&phone::parse(text, region).ok()?.e164))
}

/// A line for a person, or one JSON object with `--json`.
fn report(json: bool, value: Value, text: &str) {
    let line = if json { value.to_string() } else { text.to_owned() };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn stats(store: &mut dyn Store, json: bool) -> Result<Exit> {
    let s = store.stats()?;
    let time = |t: Option<SystemTime>| t.map(|t| humantime::format_rfc3339_seconds(t).to_string());
    if json {
        let groups: Vec<Value> = s
            .groups
            .iter()
            .map(|g| {
                json!({"api_url": g.scope.api_url, "project": g.scope.project, "process": g.scope.process,
                       "outcome": g.outcome.as_str(), "count": g.count,
                       "oldest": time(Some(g.oldest)), "newest": time(Some(g.newest))})
            })
            .collect();
        let v = json!({"location": s.location, "size_bytes": s.size_bytes, "entries": s.entries,
                       "claims": s.claims, "oldest": time(s.oldest), "newest": time(s.newest), "groups": groups});
        report(true, v, "");
        return Ok(Exit::Success);
    }
    let mut out = format!("ledger   {}\nsize     {} bytes\nentries  {}\n", s.location, s.size_bytes, s.entries);
    if let (Some(a), Some(b)) = (time(s.oldest), time(s.newest)) {
        out.push_str(&format!("seen     {a} .. {b}\n"));
    }
    if s.claims > 0 {
        out.push_str(&format!("claims   {} (leads being sent, or left by a run that stopped)\n", s.claims));
    }
    for g in &s.groups {
        out.push_str(&format!(
            "  {} project {} process {}: {} {}\n",
            g.scope.api_url,
            g.scope.project,
            g.scope.process,
            g.count,
            g.outcome.as_str()
        ));
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(Exit::Success)
}

fn export(store: &mut dyn Store, format: ExportFormat) -> Result<Exit> {
    const HEADER: [&str; 12] = [
        "api_url",
        "project",
        "process",
        "phone",
        "outcome",
        "lead_id",
        "initialized",
        "reason",
        "run",
        "host",
        "first_seen",
        "last_seen",
    ];
    let mut csv = (format == ExportFormat::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(w) = csv.as_mut() {
        w.write_record(HEADER)?;
    }
    store.export(&mut |e: Entry| {
        let (outcome, lead_id, initialized, reason) = match &e.known.outcome {
            Outcome::Accepted { lead_id, initialized } => ("accepted", lead_id.clone(), Some(*initialized), None),
            Outcome::Rejected { code, reason } => (code.as_str(), None, None, Some(reason.clone())),
            Outcome::MayExist => (e.known.outcome.kind().as_str(), None, None, None),
        };
        let t = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
        let values = [
            e.scope.api_url.clone(),
            e.scope.project.clone(),
            e.scope.process.clone(),
            e.phone.to_string(),
            outcome.to_owned(),
            lead_id.unwrap_or_default(),
            initialized.map(|b| b.to_string()).unwrap_or_default(),
            reason.unwrap_or_default(),
            e.known.recorded_by.run.clone(),
            e.known.recorded_by.host.clone(),
            t(e.known.first_seen),
            t(e.known.last_seen),
        ];
        match csv.as_mut() {
            Some(w) => w.write_record(&values)?,
            None => {
                let object: serde_json::Map<String, Value> =
                    HEADER.iter().zip(values).map(|(k, v)| ((*k).to_owned(), Value::String(v))).collect();
                writeln!(std::io::stdout().lock(), "{}", Value::Object(object))?;
            }
        }
        Ok(())
    })?;
    if let Some(mut w) = csv {
        w.flush()?;
    }
    Ok(Exit::Success)
}

/// What an earlier run directory says it sent: its accepted rows, its rows
/// the server refused for good (the codes the ledger keeps), and its rows
/// whose answer was lost (they may exist).
fn run_dir(dir: &Path) -> Result<Vec<Entry>> {
    let settings = RunSettings::read(dir)?;
    let run = Arc::new(RunRef {
        run: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string(),
        host: ledger::host_name().unwrap_or_else(|| "localhost".into()),
    });
    let when = std::fs::metadata(dir.join("summary.json")).and_then(|m| m.modified()).unwrap_or(SystemTime::now());
    let mut entries = Vec::new();
    // Retryable rows whose answer was lost are kept as may-exist: the next
    // run then sends them with the mark (`already exists` means accepted).
    for kind in [FileKind::Accepted, FileKind::Rejected, FileKind::Retryable] {
        let path = file_path(dir, kind, settings.out_format);
        for row in output_rows(&path, settings.out_format)? {
            if let Some(e) = settings.entry(&row, kind, &run, when) {
                entries.push(e);
            }
        }
    }
    Ok(entries)
}

/// The settings of a run directory that say where its leads went.
struct RunSettings {
    api_url: String,
    project: Option<String>,
    process: Option<String>,
    region: Region,
    map: Vec<(String, String)>,
    initialize: bool,
    out_format: OutFormat,
}

impl RunSettings {
    /// From `summary.json` (any run that ended) or the journal (one that did
    /// not). Older runs wrote the settings with `_` in their names.
    fn read(dir: &Path) -> Result<RunSettings> {
        let summary: Option<Value> =
            std::fs::read(dir.join("summary.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let settings = match &summary {
            Some(s) => s["settings"].clone(),
            None => Value::Object(crate::journal::read_record(dir)?.settings),
        };
        let get = |k: &str| settings.get(k).or_else(|| settings.get(k.replace('-', "_"))).filter(|v| !v.is_null());
        let text = |k: &str| get(k).and_then(Value::as_str).map(str::to_owned);
        let api_url = text("api-url").ok_or_else(|| {
            anyhow!("{}: the run names no API URL (a sandbox or dry run sent nothing to import)", dir.display())
        })?;
        if get("sandbox").and_then(Value::as_bool) == Some(true)
            || get("dry-run").and_then(Value::as_bool) == Some(true)
        {
            bail!("{}: a sandbox or dry run; nothing it sent reached a real API", dir.display());
        }
        let map = match get("map") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => s.split_once('=').map(|(f, c)| (f.to_owned(), c.to_owned())),
                    Value::Array(pair) => Some((pair.first()?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let out_format = if file_path(dir, FileKind::Accepted, OutFormat::Ndjson).exists() {
            OutFormat::Ndjson
        } else {
            OutFormat::Csv
        };
        Ok(RunSettings {
            api_url,
            project: text("project-id"),
            process: text("process-id"),
            region: region(text("default-region").as_deref())?,
            map,
            initialize: get("initialize").and_then(Value::as_bool).unwrap_or(false),
            out_format,
        })
    }

    /// The ledger entry of one output row, if it has one to give.
    fn entry(
        &self,
        row: &BTreeMap<String, String>,
        kind: FileKind,
        run: &Arc<RunRef>,
        when: SystemTime,
    ) -> Option<Entry> {
        let header: Vec<String> = row.keys().cloned().collect();
        let field =
            |api: &str| column_for(&header, &self.map, api).and_then(|i| row.get(&header[i])).filter(|v| !v.is_empty());
        let project = field("projectId").cloned().or_else(|| self.project.clone())?;
        let process = field("processId").cloned().or_else(|| self.process.clone())?;
        let (phone, outcome) = match kind {
            FileKind::Accepted => {
                let phone = PhoneKey::from_e164(row.get(column::PHONE_E164)?)?;
                let lead_id = row.get(column::LEAD_ID).filter(|v| !v.is_empty()).cloned();
                (phone, Outcome::Accepted { lead_id, initialized: self.initialize })
            }
            FileKind::Rejected => {
                let code = RejectCode::parse(row.get(column::CODE)?)?;
                let phone = phone_key(field("phoneNumber")?, self.region)?;
                (phone, Outcome::Rejected { code, reason: row.get(column::REASON).cloned().unwrap_or_default() })
            }
            FileKind::Retryable => {
                crate::vocab::has_may_exist_mark(row.get(column::REASON)?).then_some(())?;
                (phone_key(field("phoneNumber")?, self.region)?, Outcome::MayExist)
            }
        };
        let known = Known { outcome, recorded_by: Arc::clone(run), first_seen: when, last_seen: when };
        Some(Entry { scope: Scope::new(self.api_url.clone(), project, process), phone, known })
    }
}

/// An output file's rows as column → value (CSV or NDJSON).
fn output_rows(path: &Path, format: OutFormat) -> Result<Vec<BTreeMap<String, String>>> {
    let cannot = || format!("cannot read {}", path.display());
    match format {
        OutFormat::Csv => {
            // In the file's own dialect; flexible: a malformed row is written as read, not padded.
            let file = std::fs::File::open(path).with_context(cannot)?;
            let mut r = output_csv_reader(std::io::BufReader::new(file)).with_context(cannot)?;
            let header = r.byte_headers().with_context(cannot)?.clone();
            let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
            r.byte_records()
                .map(|rec| {
                    let rec = rec.with_context(cannot)?;
                    let values = record_fields(&header, &rec);
                    Ok(header.iter().zip(values).filter_map(|(h, v)| Some((text(h), text(v?)))).collect())
                })
                .collect()
        }
        OutFormat::Ndjson => {
            let text = std::fs::read_to_string(path).with_context(cannot)?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: serde_json::Map<String, Value> = serde_json::from_str(l).with_context(cannot)?;
                    Ok(v.into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                match v {
                                    Value::String(s) => s,
                                    Value::Null => String::new(),
                                    other => other.to_string(),
                                },
                            )
                        })
                        .collect())
                })
                .collect()
        }
    }
}

/// Leads a CRM export says the vendor already has: `phoneNumber`,
/// `processId` (or `--process-id`), optionally `leadId` and `projectId`.
fn leads_file(cmd: &LedgerCommand, file: &Path, process: Option<&str>, region: Region) -> Result<Vec<Entry>> {
    let api_url = cmd.api_url.clone().ok_or_else(|| {
        anyhow!("import --leads needs the API the leads are on: pass --api-url URL or set LEADCTL_API_URL")
    })?;
    let spec = InputSpec { path: PathBuf::from(file), ..InputSpec::default() };
    let source = Source::open(&spec).map_err(|e| anyhow!(e))?;
    let run = Arc::new(RunRef {
        run: format!("import of {}", file.display()),
        host: ledger::host_name().unwrap_or_default(),
    });
    let now = SystemTime::now();
    let mut entries = Vec::new();
    let mut skipped = 0u64;
    for row in source {
        let Ok(fields) = row.fields else {
            skipped += 1;
            continue;
        };
        let project = fields.project_id.clone().or_else(|| cmd.project_id.clone());
        let process = fields.process_id.clone().or_else(|| process.map(str::to_owned));
        let phone = fields.phone.as_deref().and_then(|p| phone_key(p, region));
        let (Some(project), Some(process), Some(phone)) = (project, process, phone) else {
            skipped += 1;
            continue;
        };
        let outcome = Outcome::Accepted { lead_id: fields.lead_id.clone(), initialized: false };
        let known = Known { outcome, recorded_by: Arc::clone(&run), first_seen: now, last_seen: now };
        entries.push(Entry { scope: Scope::new(api_url.clone(), project, process), phone, known });
    }
    if skipped > 0 {
        crate::log::say(
            crate::log::Level::Warn,
            &format!("{skipped} rows of {} had no valid phone, project or process: not imported", file.display()),
        );
    }
    Ok(entries)
}
