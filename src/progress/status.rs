//! One look at a run's progress and what it means: rows done against the
//! total (exact once the input is read, estimated from bytes before that),
//! the percentage, the recent rate and the ETA. The bar and the plain line
//! are both drawn from a `Status`, so on a terminal and off it they tell
//! the same thing.

use std::time::Duration;

use super::units::{compact, group, span};

/// The job a run does, which decides what "done" means for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Done = sorted into accepted, rejected or retryable. Reading a file
    /// takes seconds; sending it can take hours under a rate limit.
    Upload,
    /// Done = checked (only rejected rows are written).
    Validate,
}

impl Job {
    pub fn verb(self) -> &'static str {
        match self {
            Job::Upload => "upload",
            Job::Validate => "validate",
        }
    }

    fn done_word(self) -> &'static str {
        match self {
            Job::Upload => "sorted",
            Job::Validate => "checked",
        }
    }
}

/// The counters of a run at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub job: Job,
    /// Rows read and checked.
    pub read: u64,
    /// Rows the parser has taken from the input (a few chunks ahead of `read`).
    pub parsed: u64,
    /// The parser reached the end of the input (or `--limit`): `parsed` is the total.
    pub parsed_all: bool,
    /// Input bytes consumed, and the input's size when it is a regular file.
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    pub accepted: u64,
    pub rejected: u64,
    pub retryable: u64,
    /// Milliseconds left in a 429 pause (0 when none).
    pub paused_ms: u64,
}

/// How many rows the run has in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// The input has been read to its end.
    Exact(u64),
    /// Still reading: rows parsed scaled by bytes left (shown with `~`).
    Estimate(u64),
    /// Still reading standard input: no size to scale by.
    Unknown,
}

impl Total {
    pub fn rows(self) -> Option<u64> {
        match self {
            Total::Exact(n) | Total::Estimate(n) => Some(n),
            Total::Unknown => None,
        }
    }

    fn mark(self) -> &'static str {
        if matches!(self, Total::Estimate(_)) { "~" } else { "" }
    }
}

impl Snapshot {
    /// Rows done: sorted into a file (upload) or checked (validate).
    pub fn done(&self) -> u64 {
        match self.job {
            Job::Upload => self.accepted + self.rejected + self.retryable,
            Job::Validate => self.read,
        }
    }

    /// The run's rows: exact once the input is read; before, the rows
    /// parsed scaled by the share of bytes consumed. Never below what is
    /// already done or parsed (a resumed run starts with rows done).
    pub fn total(&self) -> Total {
        let floor = self.parsed.max(self.done());
        if self.parsed_all {
            return Total::Exact(floor);
        }
        match self.total_bytes {
            Some(size) if self.bytes > 0 && self.parsed > 0 => {
                let scaled = self.parsed as f64 * size as f64 / self.bytes as f64;
                Total::Estimate((scaled.round() as u64).max(floor))
            }
            _ => Total::Unknown,
        }
    }
}

/// A snapshot with its time and its recent rate: everything a progress
/// line says, and the one place that works it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub snapshot: Snapshot,
    /// Since the run started.
    pub elapsed: Duration,
    /// Rows done per second over the recent window (`None` while unknown).
    pub rate: Option<f64>,
}

impl Status {
    pub fn done(&self) -> u64 {
        self.snapshot.done()
    }

    pub fn total(&self) -> Total {
        self.snapshot.total()
    }

    /// Whole percent done, rounded down: 100 only when every row is done.
    pub fn percent(&self) -> Option<u64> {
        let total = self.total().rows()?;
        if total == 0 {
            return Some(if self.snapshot.parsed_all { 100 } else { 0 });
        }
        Some((self.done().saturating_mul(100) / total).min(100))
    }

    /// Time left at the recent rate; `None` while unknown (no total, or no
    /// row done in the window: a pause shows as `?`, never as 0s).
    pub fn eta(&self) -> Option<Duration> {
        let left = self.total().rows()?.saturating_sub(self.done());
        if left == 0 {
            return Some(Duration::ZERO);
        }
        let rate = self.rate.filter(|r| *r > 0.0)?;
        Duration::try_from_secs_f64(left as f64 / rate).ok()
    }

    /// Time left in a 429 pause, when there is one.
    pub fn paused(&self) -> Option<Duration> {
        (self.snapshot.paused_ms > 0).then(|| Duration::from_millis(self.snapshot.paused_ms))
    }

    /// `8,400/~20,000`, `8.4k/~20k` when `short`; `8,400` without a total.
    pub(super) fn done_of_total(&self, short: bool) -> String {
        let n = |v| if short { compact(v) } else { group(v) };
        match self.total() {
            Total::Unknown => n(self.done()),
            t @ (Total::Exact(total) | Total::Estimate(total)) => {
                format!("{}/{}{}", n(self.done()), t.mark(), n(total))
            }
        }
    }

    /// Rows per second as a number (`?` while unknown); a decimal below 10.
    pub(super) fn rate_text(&self, short: bool) -> String {
        match self.rate {
            None => "?".into(),
            Some(r) if r < 9.95 => format!("{r:.1}"),
            Some(r) if short => compact(r.round() as u64),
            Some(r) => group(r.round() as u64),
        }
    }

    pub(super) fn eta_text(&self) -> String {
        self.eta().map_or_else(|| "?".into(), span)
    }

    /// The counts by file, `(label, count)`: the three files for an upload,
    /// rejected only for validate (the one file it writes).
    pub(super) fn counts(&self) -> Vec<(&'static str, u64)> {
        let s = &self.snapshot;
        match s.job {
            Job::Upload => vec![("accepted", s.accepted), ("rejected", s.rejected), ("retryable", s.retryable)],
            Job::Validate => vec![("rejected", s.rejected)],
        }
    }

    /// The plain progress line printed off a terminal: ASCII, no escape
    /// codes, the same figures as the bar, every field.
    pub fn line(&self) -> String {
        let job = self.snapshot.job;
        let mut out = format!("leadctl {}: {} elapsed  ", job.verb(), super::units::clock(self.elapsed));
        out.push_str(&format!("{} rows {}", self.done_of_total(false), job.done_word()));
        if let Some(p) = self.percent() {
            out.push_str(&format!(" ({p}%)"));
        }
        out.push_str(&format!("  {} rows/s  ETA {}", self.rate_text(false), self.eta_text()));
        for (label, n) in self.counts() {
            out.push_str(&format!("  {label} {}", group(n)));
        }
        if let Some(p) = self.paused() {
            out.push_str(&format!("  paused {}", span(p)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(accepted: u64, parsed: u64, parsed_all: bool, bytes: u64) -> Snapshot {
        Snapshot {
            job: Job::Upload,
            read: parsed,
            parsed,
            parsed_all,
            bytes,
            total_bytes: Some(1_000_000),
            accepted,
            rejected: 0,
            retryable: 0,
            paused_ms: 0,
        }
    }

    fn status(snapshot: Snapshot, rate: Option<f64>) -> Status {
        Status { snapshot, elapsed: Duration::from_secs(30), rate }
    }

    #[test]
    fn done_means_sorted_not_read() {
        // The whole file is read, nothing sorted yet: 0%, not 100%.
        let s = status(upload(0, 20_000, true, 1_000_000), None);
        assert_eq!(s.total(), Total::Exact(20_000));
        assert_eq!(s.percent(), Some(0));
        assert_eq!(s.eta(), None);
        let s = status(upload(5_000, 20_000, true, 1_000_000), Some(1000.0));
        assert_eq!(s.percent(), Some(25));
        assert_eq!(s.eta(), Some(Duration::from_secs(15)));
    }

    #[test]
    fn while_reading_the_total_is_estimated_from_bytes() {
        let s = status(upload(1_000, 4_000, false, 250_000), None);
        assert_eq!(s.total(), Total::Estimate(16_000));
        assert_eq!(s.percent(), Some(6));
        assert_eq!(s.done_of_total(false), "1,000/~16,000");
        assert_eq!(s.done_of_total(true), "1.0k/~16k");
    }

    #[test]
    fn standard_input_has_no_total_until_its_end() {
        let mut snap = upload(10, 100, false, 5_000);
        snap.total_bytes = None;
        let s = status(snap, Some(5.0));
        assert_eq!((s.total(), s.percent(), s.eta()), (Total::Unknown, None, None));
        assert_eq!(s.done_of_total(false), "10");
        snap.parsed_all = true;
        assert_eq!(status(snap, Some(5.0)).eta(), Some(Duration::from_secs(18)));
    }

    #[test]
    fn a_resumed_run_never_shows_more_done_than_total() {
        // The journal's rows count as done at once; the parser has not caught up.
        let s = status(upload(5_000, 1_024, false, 10_000), None);
        assert!(s.total().rows().is_some_and(|t| t >= 5_000));
        assert!(s.percent().is_some_and(|p| p <= 100));
    }

    #[test]
    fn nothing_done_in_the_window_means_eta_unknown() {
        let s = status(upload(5_000, 20_000, true, 1_000_000), Some(0.0));
        assert_eq!(s.eta_text(), "?");
        let s = status(upload(20_000, 20_000, true, 1_000_000), Some(0.0));
        assert_eq!(s.eta_text(), "0s", "all done");
        let s = status(upload(1, 20_000, true, 1_000_000), Some(1e-300));
        assert_eq!(s.eta(), None, "an absurd ETA is unknown, not a panic");
    }

    #[test]
    fn validate_counts_checked_rows() {
        let snap = Snapshot { job: Job::Validate, read: 3_000, rejected: 12, ..upload(0, 4_000, true, 1) };
        let s = status(snap, Some(1000.0));
        assert_eq!((s.done(), s.percent()), (3_000, Some(75)));
        assert_eq!(s.counts(), vec![("rejected", 12)]);
        assert!(s.line().starts_with("leadctl validate: 00:00:30 elapsed  3,000/4,000 rows checked (75%)"));
    }

    #[test]
    fn the_plain_line_has_every_field() {
        let mut snap = upload(8_000, 10_000, false, 500_000);
        snap.rejected = 300;
        snap.retryable = 100;
        snap.paused_ms = 24_200;
        let line = status(snap, Some(180.4)).line();
        assert_eq!(
            line,
            "leadctl upload: 00:00:30 elapsed  8,400/~20,000 rows sorted (42%)  180 rows/s  ETA 1m05s  \
             accepted 8,000  rejected 300  retryable 100  paused 25s"
        );
        assert!(line.is_ascii());
    }
}
