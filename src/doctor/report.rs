//! What `leadctl doctor` prints: the settings in effect, then one line per
//! check (`ok|warn|fail name: detail (fix: ...)`), or all of it as one JSON
//! object (`--json`).

use serde::Serialize;

use crate::config::SettingInEffect;
use crate::version::BuildInfo;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Tonight's run may still work, but look.
    Warn,
    /// Tonight's run would not work; doctor exits 1.
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable name scripts can match: `config`, `settings`, `api-url`,
    /// `api-key`, `route`, `dns`, `tcp`, `tls`, `api`, `ledger`, `input`,
    /// `output`, `metrics`.
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when the detail does not say it already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Status::Ok, detail: detail.into(), fix: None }
    }
    pub fn warn(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Status::Warn, detail: detail.into(), fix: None }
    }
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Status::Fail, detail: detail.into(), fix: None }
    }
    /// Adds what to do.
    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    /// `ok   name: detail (fix: ...)`, on one line.
    pub fn line(&self) -> String {
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut line = format!("{:<4} {}: {}", self.status.as_str(), self.name, one_line(&self.detail));
        if let Some(fix) = &self.fix {
            line.push_str(&format!(" (fix: {})", one_line(fix)));
        }
        line
    }
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No check failed.
    pub ok: bool,
    pub failed: usize,
    pub warnings: usize,
    /// This build (what `leadctl -V` says).
    pub leadctl: BuildInfo,
    /// The settings in effect and where each came from.
    pub settings: Vec<SettingInEffect>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(leadctl: BuildInfo, settings: Vec<SettingInEffect>, checks: Vec<Check>) -> Report {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let (failed, warnings) = (count(Status::Fail), count(Status::Warn));
        Report { ok: failed == 0, failed, warnings, leadctl, settings, checks }
    }

    /// The text for people; `quiet` keeps only the checks that warn or fail.
    pub fn text(&self, quiet: bool) -> String {
        let mut out = String::new();
        if !quiet {
            out.push_str(&format!("leadctl {} (commit {})\n", self.leadctl.version, self.leadctl.commit));
            out.push_str("settings in effect:\n");
            for s in &self.settings {
                out.push_str(&format!("  {} = {} ({})\n", s.name, s.value, s.source));
            }
        }
        for check in self.checks.iter().filter(|c| !quiet || c.status != Status::Ok) {
            out.push_str(&check.line());
            out.push('\n');
        }
        if !quiet || !self.ok || self.warnings > 0 {
            let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
            out.push_str(&match (self.failed, self.warnings) {
                (0, 0) => "every check passed\n".to_owned(),
                (0, w) => format!("no check failed; {}\n", plural(w, "warning", "warnings")),
                (f, w) => format!(
                    "{} failed, {}: fix them before tonight's run\n",
                    plural(f, "check", "checks"),
                    plural(w, "warning", "warnings")
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_one_line_with_its_fix() {
        let c = Check::fail("api-key", "refused\n(HTTP 401:  Invalid API key)").fix("check LEADCTL_API_KEY");
        assert_eq!(c.line(), "fail api-key: refused (HTTP 401: Invalid API key) (fix: check LEADCTL_API_KEY)");
        assert_eq!(Check::ok("tcp", "connected").line(), "ok   tcp: connected");
    }
}
