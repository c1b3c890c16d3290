//! The process exit codes, one place, as the spec's table has them.

/// How a leadctl run ended. `main` maps this, and nothing else, to the
/// process status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Every row accepted (or, for `validate`, every row passed).
    Success = 0,
    /// Bad settings, unreadable input, 401/403, a leadctl bug. Unsent rows
    /// are in the retryable file.
    Error = 1,
    /// Wrong usage: unknown flag, missing argument (clap's own code).
    Usage = 2,
    /// Finished; some rows rejected, none retryable.
    Rejected = 3,
    /// Finished; some rows retryable.
    Retryable = 4,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// `--max-rejected`: how many rejected rows a run may have and still exit 0
/// (when nothing is retryable).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// At most this many rows.
    Rows(u64),
    /// At most this share of the rows read, in percent.
    Percent(f64),
}

impl Tolerance {
    /// Parses `N` or `P%`.
    pub fn parse(text: &str) -> Option<Tolerance> {
        let text = text.trim();
        match text.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)).map(Tolerance::Percent),
            None => text.parse::<u64>().ok().map(Tolerance::Rows),
        }
    }

    /// The most rejected rows it allows of `read` rows read.
    pub fn max_rows(self, read: u64) -> u64 {
        match self {
            Tolerance::Rows(n) => n,
            Tolerance::Percent(p) => {
                // The largest n that `allows`, found from the float's guess.
                let mut n = (p * read as f64 / 100.0).floor() as u64;
                while n > 0 && !self.allows(n, read) {
                    n -= 1;
                }
                while n < read && self.allows(n + 1, read) {
                    n += 1;
                }
                n
            }
        }
    }

    /// Whether `rejected` of `read` rows is within the tolerance.
    pub fn allows(self, rejected: u64, read: u64) -> bool {
        match self {
            Tolerance::Rows(n) => rejected <= n,
            // Compared as rejected * 100 <= p * read, without rounding the share.
            Tolerance::Percent(p) => (rejected as f64) * 100.0 <= p * read as f64,
        }
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tolerance::Rows(n) => write!(f, "{n}"),
            Tolerance::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_as_counts_or_shares() {
        assert_eq!(Tolerance::parse("25"), Some(Tolerance::Rows(25)));
        assert_eq!(Tolerance::parse("2%"), Some(Tolerance::Percent(2.0)));
        assert_eq!(Tolerance::parse(" 0.5 % "), Some(Tolerance::Percent(0.5)));
        for bad in ["", "x", "-1", "101%", "-2%", "2.5"] {
            assert_eq!(Tolerance::parse(bad), None, "{bad}");
        }
        assert!(Tolerance::Rows(2).allows(2, 10) && !Tolerance::Rows(2).allows(3, 10));
        assert!(Tolerance::Percent(2.0).allows(2, 100) && !Tolerance::Percent(2.0).allows(3, 100));
        assert!(Tolerance::Percent(0.0).allows(0, 0));
        assert_eq!(Tolerance::parse("2%").map(|t| t.to_string()), Some("2%".into()));
        assert_eq!(Tolerance::Percent(60.0).max_rows(13), 7);
        assert_eq!(Tolerance::Percent(2.0).max_rows(300), 6);
        assert_eq!(Tolerance::Percent(100.0).max_rows(5), 5);
        assert_eq!(Tolerance::Rows(25).max_rows(3), 25);
    }
}
