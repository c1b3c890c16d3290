//! The settings as `leadctl doctor` sees them: each part resolved on its
//! own (the config file, the values in effect with their sources, the API
//! URL, the key, the route, the ledger), by the same functions a run uses,
//! so that every rule stays in one place and one refusal does not hide the
//! others.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::file::{ConfigFile, load_file};
use super::key::api_key_from;
use super::{
    ApiKey, Env, LedgerChoice, Route, UploadConfig, check_url, ledger, lower_layers, merge, no_api_url, proxy,
    proxy_from, redacted,
};
use crate::cli::UploadArgs;
use crate::settings::{CommonSettings, Group, Layered, Source, UploadSettings};

/// What `doctor` learns of the settings of an `upload` command line.
#[derive(Debug)]
pub struct Inspection {
    /// The config file read (`None`: there is none), or why it was refused.
    /// When refused, the rest is resolved without it.
    pub config_file: Result<Option<PathBuf>>,
    /// The rest, once every value fits its setting's type.
    pub settings: Result<Settings>,
}

/// The merged settings and what a run would make of them.
#[derive(Debug)]
pub struct Settings {
    /// Every setting that has a value, in declaration order.
    pub in_effect: Vec<SettingInEffect>,
    /// The settings as `upload` takes them, where the leads go left out
    /// (that is [`Remote`]): typed, or the first refusal.
    pub run: Result<UploadConfig>,
    /// Where the leads go; `None` for `--sandbox` and `--dry-run`, which
    /// reach nothing.
    pub remote: Option<Remote>,
    /// The ledger the run would use (`None`: none).
    pub ledger: Result<Option<LedgerChoice>>,
}

/// One setting in effect and where its value came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SettingInEffect {
    pub name: String,
    /// As a run uses it, a password in a proxy or ledger URL hidden.
    pub value: Value,
    /// `flag`, `environment LEADCTL_API_URL`, `config file PATH` or `default`.
    pub source: String,
}

/// The API, part by part.
#[derive(Debug)]
pub struct Remote {
    /// The base URL as a run uses it (https, or http to loopback).
    pub api_url: Result<String>,
    pub key: Result<KeyFound>,
    /// How the API is reached; `None` while the URL is not usable.
    pub route: Option<Result<Route>>,
}

/// The API key a run would send, and where it came from.
#[derive(Debug)]
pub struct KeyFound {
    pub key: ApiKey,
    /// In words: `LEADCTL_API_KEY`, `the API key file PATH`, ...
    pub from: String,
    /// The key file, when the key came from one (not stdin).
    pub file: Option<PathBuf>,
}

/// Resolves an `upload` command line's settings part by part. Reads the
/// key (a key file, or stdin for `--api-key-file -`), never sends anything.
pub fn inspect(args: &UploadArgs, env: &Env) -> Inspection {
    let (config_file, file) = match load_file(args.run.config.as_deref(), env) {
        Ok(file) => (Ok(file.path.clone()), file),
        Err(e) => (Err(e), ConfigFile::default()),
    };
    let upload = merge(&args.upload, lower_layers::<UploadSettings>(None, env, &file), &file);
    let common = merge(&args.common, lower_layers::<CommonSettings>(None, env, &file), &file);
    let settings = match (upload, common) {
        (Ok(upload), Ok(common)) => Ok(resolve(args, env, &file, &upload, &common)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Inspection { config_file, settings }
}

fn resolve(
    args: &UploadArgs,
    env: &Env,
    file: &ConfigFile,
    upload: &Layered<UploadSettings>,
    common: &Layered<CommonSettings>,
) -> Settings {
    let mut in_effect = in_effect_of(&redacted(upload.values()), upload, file);
    in_effect.extend(in_effect_of(&common.values(), common, file));
    let u = &upload.value;
    let remote = (!u.sandbox && !u.dry_run).then(|| {
        let api_url = u.api_url.as_deref().ok_or_else(no_api_url).and_then(check_url);
        let key = api_key_from(u.api_key_file.as_deref(), file, env).map(|(key, from)| KeyFound {
            key,
            from,
            file: u.api_key_file.clone().filter(|p| p.as_os_str() != "-"),
        });
        let route = api_url.as_ref().ok().map(|url| {
            let url = reqwest::Url::parse(url).map_err(|e| anyhow!("API URL {url}: {e}"))?;
            proxy::route(&url, u.proxy.as_deref().map(|p| (p, proxy_from(&upload.origins))), env)
        });
        Remote { api_url, key, route }
    });
    let ledger = ledger::choice(u, None, &upload.origins, common.value.existing, env, file).map(|(choice, _)| choice);
    Settings { in_effect, run: rehearsal(args, env, file), remote, ledger }
}

/// `upload`'s own resolution of every setting but the destination: the
/// same command line as a dry run (no URL, key or proxy read), with a
/// stand-in input when none is given, and the config file as read above
/// (none when it was refused).
fn rehearsal(args: &UploadArgs, env: &Env, file: &ConfigFile) -> Result<UploadConfig> {
    let mut dry = args.clone();
    dry.upload.dry_run = true;
    dry.upload.sandbox = false;
    dry.resume = None;
    if dry.file.is_none() {
        dry.file = Some(PathBuf::from("leads.csv"));
    }
    super::upload_with(&dry, env, None, file)
}

/// The set values of a group in declaration order, each with its source
/// (the environment variable, the config file) named.
fn in_effect_of<G: Group>(
    values: &serde_json::Map<String, Value>,
    layered: &Layered<G>,
    file: &ConfigFile,
) -> Vec<SettingInEffect> {
    G::KEYS
        .iter()
        .filter_map(|key| {
            let name = key.name();
            let value = values.get(&name)?.clone();
            let source = match layered.origins.get(&name).map(|o| &o.source) {
                Some(Source::Flag) => "flag".to_owned(),
                Some(Source::Env) => format!("environment {}", key.scope.env.unwrap_or_default()),
                Some(Source::File) => match &file.path {
                    Some(p) => format!("config file {}", p.display()),
                    None => "config file".to_owned(),
                },
                Some(Source::Default) | None => "default".to_owned(),
            };
            Some(SettingInEffect { name, value, source })
        })
        .collect()
}
