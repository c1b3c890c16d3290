//! The end of a run: `summary.json`, the `--json` object, and the short
//! table an operator reads on stderr (with the command that resends the
//! retryable rows).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::{Dialect, FileKind, OutFormat, Tally, file_path};

/// Identity of the input, as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct InputInfo {
    pub path: PathBuf,
    pub format: crate::input::Format,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// Text inputs: the encoding read with (a WHATWG name), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_source: Option<crate::input::EncodingSource>,
    /// CSV inputs: the delimiter, and whether it was found in the file's first rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter_sniffed: Option<bool>,
    /// Spreadsheets: the sheet read, and how many phone cells held numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_phone_cells: Option<u64>,
}

/// Row counts of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub retryable: u64,
    /// `validate` and `--dry-run`: rows that passed every local check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<u64>,
    pub accepted_after_lost_response: u64,
    /// Accepted rows the ledger knew were uploaded by an earlier run (not sent).
    pub already_uploaded: u64,
}

/// The requests a run made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Requests {
    pub sent: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub rate_limit_wait_s: f64,
    /// Requests by HTTP status (`network` when no answer came).
    pub by_status: BTreeMap<String, u64>,
}

/// `--max-rejected`, as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ToleranceInfo {
    pub max_rejected: String,
    /// The most rejected rows it allows in this run (a share, of the rows read).
    pub max_rejected_rows: u64,
    /// Whether the rejected rows were within it.
    pub within: bool,
}

/// What the output files were written as: the format, and for CSV the
/// dialect (see `output::Dialect`). JSON outputs are always UTF-8.
#[derive(Debug, Clone, Serialize)]
pub struct OutputsInfo {
    pub format: OutFormat,
    pub encoding: &'static str,
    pub bom: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
}

impl OutputsInfo {
    pub fn of(format: OutFormat, dialect: Dialect) -> OutputsInfo {
        let csv = format == OutFormat::Csv;
        OutputsInfo {
            format,
            encoding: "UTF-8",
            bom: csv && dialect.bom,
            delimiter: csv.then(|| char::from(dialect.delimiter).to_string()),
        }
    }
}

/// Everything `summary.json` holds. Never the key.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub exit_code: u8,
    /// Why the run stopped sending early, if it did.
    pub stopped: Option<String>,
    pub resumed: bool,
    pub input: InputInfo,
    pub run_dir: PathBuf,
    pub files: BTreeMap<&'static str, PathBuf>,
    /// How the files were written (CSV: delimiter, byte order mark).
    pub outputs: OutputsInfo,
    /// `--dry-run`: nothing was sent; the retryable rows are what would be.
    pub dry_run: bool,
    pub counts: Counts,
    pub rejected_by_code: BTreeMap<String, u64>,
    /// The delivery ledger used (`null`: none), without any password.
    pub ledger: Option<String>,
    /// Local rules not applied in this run (`validate` with no project: `project`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks_skipped: Vec<&'static str>,
    /// `--max-rejected`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<ToleranceInfo>,
    pub requests: Requests,
    /// The command that sends the retryable rows again (`null`: none to send).
    pub resend_command: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub elapsed_s: f64,
    pub rows_per_s: f64,
    /// The settings the run used (config-file keys; never the API key).
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    pub fn files_for(dir: &Path, format: OutFormat, kinds: &[FileKind]) -> BTreeMap<&'static str, PathBuf> {
        kinds.iter().map(|&k| (k.name(), file_path(dir, k, format))).collect()
    }

    pub fn counts(read: u64, tally: &Tally, passed: Option<u64>) -> Counts {
        Counts {
            read,
            accepted: tally.accepted,
            rejected: tally.rejected,
            retryable: tally.retryable,
            passed,
            accepted_after_lost_response: tally.accepted_after_lost_response,
            already_uploaded: tally.already_uploaded,
        }
    }

    /// Writes `summary.json` into the run directory (mode 0600, replacing an
    /// earlier one from an interrupted run).
    pub fn write(&self, dir: &crate::rundir::Dir) -> std::io::Result<()> {
        const TMP: &str = ".summary.json.tmp";
        dir.remove(TMP)?;
        let mut f = std::io::BufWriter::new(dir.create_file(TMP)?);
        serde_json::to_writer_pretty(&mut f, self)?;
        std::io::Write::write_all(&mut f, b"\n")?;
        f.into_inner().map_err(|e| e.into_error())?.sync_data()?;
        dir.rename(TMP, "summary.json")?;
        dir.sync()
    }

    /// The table shown on stderr at the end; `color` paints the counts.
    pub fn table(&self, color: bool) -> String {
        let paint = |name: &str, text: String| -> String {
            let styled = console::style(text);
            let styled = match name {
                "accepted" => styled.green(),
                "rejected" => styled.red(),
                "retryable" => styled.yellow(),
                _ => styled.bold(),
            };
            styled.force_styling(color).to_string()
        };
        let mut s = String::new();
        let c = &self.counts;
        let w = [c.read, c.accepted, c.rejected, c.retryable].iter().map(|n| n.to_string().len()).max().unwrap_or(1);
        let _ = writeln!(s, "{:<10} {:>w$}", "read", c.read);
        if let Some(p) = c.passed {
            let _ = writeln!(s, "{:<10} {:>w$}", "passed", p);
        }
        for (name, n) in [("accepted", c.accepted), ("rejected", c.rejected), ("retryable", c.retryable)] {
            let label = paint(name, format!("{name:<10} {n:>w$}"));
            match self.files.get(name) {
                Some(p) => {
                    let _ = writeln!(s, "{label}  {}", p.display());
                }
                None if n > 0 => {
                    let _ = writeln!(s, "{label}");
                }
                None => {}
            }
        }
        if c.already_uploaded > 0 {
            let _ = writeln!(
                s,
                "  ({} accepted leads were already uploaded by an earlier run: not sent again)",
                c.already_uploaded
            );
        }
        if c.accepted_after_lost_response > 0 {
            let _ = writeln!(
                s,
                "  ({} accepted leads were confirmed by an \"already exists\" answer after a lost response)",
                c.accepted_after_lost_response
            );
        }
        if !self.rejected_by_code.is_empty() {
            let mut codes: Vec<_> = self.rejected_by_code.iter().collect();
            codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let _ = writeln!(s, "top reject reasons:");
            let top = &codes[..codes.len().min(5)];
            let width = top.iter().map(|(c, _)| c.len()).max().unwrap_or(0).max(24);
            for (code, n) in top {
                let _ = writeln!(s, "  {code:<width$} {n}");
            }
        }
        if let Some(stop) = &self.stopped {
            let _ = writeln!(s, "stopped early: {stop}");
        }
        if let Some(verdict) = self.tolerance_verdict() {
            let _ = writeln!(s, "{verdict}");
        }
        if self.dry_run {
            let _ = writeln!(
                s,
                "dry run: would send {} leads (in the retryable file); nothing was sent. Run again without \
                 --dry-run to send them",
                c.retryable
            );
        }
        if let Some(cmd) = &self.resend_command {
            let _ = writeln!(s, "send the retryable rows again with:\n  {cmd}");
        }
        s
    }

    /// What `--max-rejected` decided, when it was set and the run finished:
    /// `8 rejected > 60% of 13 (7 rows): exit 3`.
    pub fn tolerance_verdict(&self) -> Option<String> {
        let t = self.tolerance.as_ref()?;
        let c = &self.counts;
        let limit = match t.max_rejected.strip_suffix('%') {
            Some(_) => format!("{} of {} ({} rows)", t.max_rejected, c.read, t.max_rejected_rows),
            None => t.max_rejected.clone(),
        };
        let compared = format!("{} rejected {} {limit}", c.rejected, if t.within { "<=" } else { ">" });
        let exit = self.exit_code;
        match exit {
            4 => Some(format!("{compared}, but {} retryable rows are never tolerated: exit 4", c.retryable)),
            0 | 3 => Some(format!("{compared}: exit {exit}")),
            // An error or an interruption decided the exit code, not the tolerance.
            _ => None,
        }
    }
}

/// The end of a run on stderr: the table in text, a `summary` line in JSON
/// (the line a cron log keeps, `--quiet` or not).
pub fn print(summary: &Summary, color: bool) {
    use crate::log::{Level, LogFormat, json_line, object};
    match crate::log::format() {
        LogFormat::Text => {
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), summary.table(color).as_bytes());
        }
        LogFormat::Json => {
            let fields = serde_json::json!({
                "exit_code": summary.exit_code,
                "counts": summary.counts,
                "rejected_by_code": summary.rejected_by_code,
                "files": summary.files,
                "run_dir": summary.run_dir,
                "stopped": summary.stopped,
                "tolerance": summary.tolerance_verdict(),
                "dry_run": summary.dry_run,
                "resend_command": summary.resend_command,
            });
            json_line(Level::Info, "summary", object(fields));
        }
    }
}
