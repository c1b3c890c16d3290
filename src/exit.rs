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
