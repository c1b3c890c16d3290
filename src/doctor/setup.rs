//! The checks of what the settings say before anything is reached: the
//! config file, the settings' values, the API URL and the API key. Each
//! reports what `config` found; the rules themselves are `config`'s.

use std::path::Path;

use super::report::Check;
use crate::config::{Inspection, KeyFound, Remote, UploadConfig};

/// The config file: read, none, or refused.
pub(super) fn config_file(inspection: &Inspection) -> Check {
    match &inspection.config_file {
        Ok(Some(path)) => Check::ok("config", format!("{}{}", path.display(), mode_of(path))),
        Ok(None) => Check::ok(
            "config",
            "none (none named by --config or LEADCTL_CONFIG, no ./leadctl.toml, no \
             $XDG_CONFIG_HOME/leadctl/config.toml): flags, environment and defaults only",
        ),
        Err(e) => Check::fail("config", format!("{e:#}"))
            .fix("correct or remove the config file; the checks below were made without it"),
    }
}

/// Whether `upload` takes every value given (batch size, region, ...).
pub(super) fn settings(inspection: &Inspection) -> Check {
    match &inspection.settings {
        Err(e) => Check::fail("settings", format!("{e:#}")),
        Ok(s) => match &s.run {
            Ok(_) => Check::ok("settings", format!("{} in effect, every one valid", s.in_effect.len())),
            Err(e) => Check::fail("settings", format!("{e:#}")),
        },
    }
}

/// The API URL and the key.
pub(super) fn remote(remote: &Remote) -> Vec<Check> {
    let url = match &remote.api_url {
        Ok(url) if url.starts_with("https://") => Check::ok("api-url", format!("{url} (https)")),
        Ok(url) => Check::ok("api-url", format!("{url} (http to this machine: the sandbox or a local test server)")),
        Err(e) => Check::fail("api-url", format!("{e:#}")),
    };
    let key = match &remote.key {
        Ok(KeyFound { from, file: Some(path), .. }) => {
            Check::ok("api-key", format!("present, from {from}{}", mode_of(path)))
        }
        Ok(KeyFound { from, file: None, .. }) => Check::ok("api-key", format!("present, from {from}")),
        Err(e) => Check::fail("api-key", format!("{e:#}")),
    };
    vec![url, key]
}

/// `, mode 600` for a file whose mode can be read.
pub(super) fn mode_of(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => format!(", mode {:03o}", m.permissions().mode() & 0o777),
            Err(_) => String::new(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        String::new()
    }
}

/// The project every lead must belong to. A request with no lead names
/// none, so the probe cannot say that the key serves this one: the first
/// batch does (HTTP 403 `Project mismatch` otherwise).
pub(super) fn project(run: &UploadConfig, source: Option<&str>) -> Check {
    match (&run.common.project_id, source) {
        (Some(id), source) => Check::ok(
            "project",
            format!(
                "{id} (from {}); that the key serves it shows at the first batch",
                source.unwrap_or("the settings")
            ),
        ),
        (None, _) if run.common.input.existing => Check::ok("project", "none needed: --existing sends lead ids"),
        (None, _) => {
            Check::warn("project", "none set: each row's projectId is used, and a file without one stops the run")
                .fix("set --project-id, LEADCTL_PROJECT_ID or `project-id` in the config file")
        }
    }
}
