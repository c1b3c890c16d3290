//! Where a run's figures go (`--metrics-file`, `--metrics-job`), also for
//! a run whose other settings cannot be resolved.

use std::path::{Path, PathBuf};

use super::file::load_file;
use super::{Env, absolute, input_stem, lower_layers, merge};
use crate::settings::CommonSettings;

/// `--metrics-file` and its `job` label.
#[derive(Debug, Clone)]
pub struct MetricsTarget {
    pub path: PathBuf,
    pub job: String,
}

/// Where a run's figures go (`--metrics-file`), found before the rest of
/// the settings, so that a run that fails on them (no API URL, a key file
/// it cannot read, a ledger it cannot open) still writes the file: the
/// flags, then the config file, as `upload` and `validate` merge them. The
/// job label's default is the input's stem (a resumed run's, from the name
/// of its folder of runs). `None` when no metrics file is set (or the
/// settings cannot say).
pub fn metrics_target(
    flags: &CommonSettings,
    config: Option<&Path>,
    input: Option<&Path>,
    resume: Option<&Path>,
    env: &Env,
) -> Option<MetricsTarget> {
    let merged = load_file(config, env)
        .ok()
        .and_then(|file| merge(flags, lower_layers::<CommonSettings>(None, env, &file), &file).ok())
        .map(|m| m.value);
    let (path, job) = match merged {
        Some(c) => (c.metrics_file?, c.metrics_job),
        None => (flags.metrics_file.clone()?, flags.metrics_job.clone()),
    };
    let stem = || match (input, resume) {
        (Some(input), _) => input_stem(input),
        // `<stem>.leadctl/<stamp>`: the stem of the folder of runs.
        (None, Some(dir)) => input_stem(&absolute(dir).parent().map(Path::to_path_buf).unwrap_or_default()),
        (None, None) => "leadctl".into(),
    };
    Some(MetricsTarget { path, job: job.unwrap_or_else(stem) })
}
