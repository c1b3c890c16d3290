//! The run's figures for monitoring (`--metrics-file`): the Prometheus text
//! exposition format that node_exporter's textfile collector reads, written
//! at the end of every run, failed or interrupted ones included (also one
//! that failed before its settings were whole: see `lib.rs`), to a
//! temporary file in the same directory and renamed, so a scraper never
//! reads half a file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::summary::Summary;

/// What one run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub retryable: u64,
    /// Accepted from the ledger without being sent.
    pub already_uploaded: u64,
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Requests by HTTP status (`network` when no answer came).
    pub requests_by_status: BTreeMap<String, u64>,
    pub rate_limit_wait: Duration,
    pub exit_code: u8,
    pub duration: Duration,
    /// When the run ended.
    pub at: SystemTime,
}

impl Figures {
    /// The figures of a run that ended with a summary.
    pub fn of(summary: &Summary, duration: Duration) -> Figures {
        let c = &summary.counts;
        Figures {
            read: c.read,
            accepted: c.accepted,
            rejected: c.rejected,
            retryable: c.retryable,
            already_uploaded: c.already_uploaded,
            rejected_by_code: summary.rejected_by_code.clone(),
            requests_by_status: summary.requests.by_status.clone(),
            rate_limit_wait: Duration::try_from_secs_f64(summary.requests.rate_limit_wait_s).unwrap_or_default(),
            exit_code: summary.exit_code,
            duration,
            at: SystemTime::now(),
        }
    }

    /// The figures of a run that failed before it had any.
    pub fn failed(exit_code: u8, duration: Duration) -> Figures {
        Figures {
            read: 0,
            accepted: 0,
            rejected: 0,
            retryable: 0,
            already_uploaded: 0,
            rejected_by_code: BTreeMap::new(),
            requests_by_status: BTreeMap::new(),
            rate_limit_wait: Duration::ZERO,
            exit_code,
            duration,
            at: SystemTime::now(),
        }
    }

    /// The text exposition format, every series labelled with `job`.
    pub fn render(&self, job: &str) -> String {
        let job = escape(job);
        let mut out = String::new();
        let mut family = |name: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{{job=\"{job}\"{labels}}} {value}");
            }
        };
        let rows: Vec<(String, String)> = [
            ("read", self.read),
            ("accepted", self.accepted),
            ("rejected", self.rejected),
            ("retryable", self.retryable),
            ("already_uploaded", self.already_uploaded),
        ]
        .iter()
        .map(|(o, n)| (format!(",outcome=\"{o}\""), n.to_string()))
        .collect();
        family("leadctl_rows", "Rows of the last run by outcome.", &rows);
        let labelled = |label: &str, m: &BTreeMap<String, u64>| -> Vec<(String, String)> {
            m.iter().map(|(k, n)| (format!(",{label}=\"{}\"", escape(k)), n.to_string())).collect()
        };
        family(
            "leadctl_rejected_rows",
            "Rejected rows of the last run by reason code.",
            &labelled("code", &self.rejected_by_code),
        );
        family(
            "leadctl_requests",
            "Requests of the last run by HTTP status (network: no answer).",
            &labelled("status", &self.requests_by_status),
        );
        let one = |v: String| vec![(String::new(), v)];
        family(
            "leadctl_rate_limit_wait_seconds",
            "Seconds the last run waited out 429 answers.",
            &one(seconds(self.rate_limit_wait)),
        );
        family("leadctl_last_run_exit_code", "Exit code of the last run.", &one(self.exit_code.to_string()));
        family("leadctl_last_run_duration_seconds", "Duration of the last run.", &one(seconds(self.duration)));
        let at = self.at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        family(
            "leadctl_last_run_timestamp_seconds",
            "When the last run ended (Unix time).",
            &one(at.as_secs().to_string()),
        );
        out
    }

    /// Writes the figures to `path` atomically: a new temporary file in the
    /// same directory (often one others write: created `O_EXCL` under a
    /// random name, so no planted file or link is ever written through; not
    /// ending in `.prom`, so the collector skips it), mode 0644 for the
    /// collector, then a rename over `path` (which replaces a link there,
    /// never follows it). A failed write leaves no temporary file.
    pub fn write(&self, path: &Path, job: &str) -> std::io::Result<()> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new().prefix(".leadctl-metrics-").suffix(".tmp").tempfile_in(dir)?;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        tmp.write_all(self.render(job).as_bytes())?;
        tmp.as_file().sync_data()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Seconds with millisecond precision, as Prometheus reads them.
fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// A label value escaped as the exposition format wants.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_series_has_the_job() {
        let f = Figures {
            rejected_by_code: BTreeMap::from([("invalid_phone".to_owned(), 2)]),
            ..Figures::failed(1, Duration::from_millis(1500))
        };
        let text = f.render("night\"ly\\\n");
        assert!(text.contains("leadctl_last_run_exit_code{job=\"night\\\"ly\\\\\\n\"} 1"), "{text}");
        assert!(text.contains("leadctl_rejected_rows{job=\"night\\\"ly\\\\\\n\",code=\"invalid_phone\"} 2"));
        assert!(text.contains("leadctl_last_run_duration_seconds{job=\"night\\\"ly\\\\\\n\"} 1.500"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("leadctl_") && line.contains("{job=\""), "{line}");
        }
    }
}
