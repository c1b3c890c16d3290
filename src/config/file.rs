//! The TOML config file: where it is looked for, whether it can be
//! trusted, and its values (every key but `api-key` becomes a layer of the
//! settings; unknown keys are an error that names them).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use super::key::ApiKey;
use super::{ENV_CONFIG, Env, nonempty};
use crate::settings::{self, CommonSettings, Group, UploadSettings};
use crate::trust::{self, Owner, Rule, Untrusted};

/// The config file, read.
#[derive(Debug, Default)]
pub(super) struct ConfigFile {
    pub(super) path: Option<PathBuf>,
    /// Every key but `api-key`, as JSON values.
    pub(super) values: serde_json::Map<String, serde_json::Value>,
    /// `api-key`, allowed only in a file others cannot read.
    pub(super) api_key: Option<ApiKey>,
    /// The file's mode as judged: a password in it (a ledger or proxy URL)
    /// needs a file others cannot read, as `api-key` does.
    pub(super) mode: u32,
}

impl ConfigFile {
    /// Refuses a config file others can read when it holds a password
    /// (`what` names it: "config file holding a `ledger` password").
    pub(super) fn check_secret(&self, what: &'static str) -> Result<()> {
        match self.path.as_deref().and_then(|p| trust::readable_by_others(what, p, self.mode)) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The largest config file read (a settings file is a few hundred bytes).
const MAX_CONFIG: u64 = 1 << 20;
/// `--config` or `LEADCTL_CONFIG`: named by the operator.
const NAMED: Rule = Rule { what: "config file", owner: Owner::MeOrRoot, closed: 0o022, follow: true };
/// `./leadctl.toml`: in whatever folder the command runs in.
const IN_CWD: Rule = Rule { what: "config file", owner: Owner::Me, closed: 0o022, follow: false };
/// `$XDG_CONFIG_HOME/leadctl/config.toml`.
const IN_XDG: Rule = Rule { what: "config file", owner: Owner::Me, closed: 0o022, follow: true };

/// Finds and reads the config file: `--config`, `LEADCTL_CONFIG`,
/// `./leadctl.toml`, `$XDG_CONFIG_HOME/leadctl/config.toml` (the first two
/// must exist; the last two are optional). Each is opened once and judged
/// on the open file, then read from it: a file planted by another account
/// must not redirect the key's requests. A named file may be a link and may
/// be root's (an administrator's `/etc` file); `./leadctl.toml`, often in a
/// shared folder, must be the running account's own file, not a link; the
/// XDG one the running account's (a link is followed, its target judged).
/// None may be writable by group or others.
pub(super) fn load_file(flag: Option<&Path>, env: &Env) -> Result<ConfigFile> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| nonempty(env, ENV_CONFIG).map(PathBuf::from));
    let (path, rule) = match explicit {
        Some(p) => (p, NAMED),
        None => {
            let xdg = nonempty(env, "XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| nonempty(env, "HOME").map(|h| Path::new(&h).join(".config")))
                .map(|d| d.join("leadctl").join("config.toml"));
            let found = [Some((PathBuf::from("leadctl.toml"), IN_CWD)), xdg.map(|p| (p, IN_XDG))]
                .into_iter()
                .flatten()
                .find(|(p, _)| std::fs::symlink_metadata(p).is_ok());
            match found {
                Some(found) => found,
                None => return Ok(ConfigFile::default()),
            }
        }
    };
    let (bytes, mode) = trust::read(&path, &rule, MAX_CONFIG).map_err(|e| match e {
        Untrusted::Io { .. } => anyhow!("cannot read config file {}: {e}", path.display()),
        _ => anyhow!("{e}; a config file someone else controls could send your API key's requests elsewhere"),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("config file {} is not UTF-8 text", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow!("config file {}: {}", path.display(), e.message()))?;
    // JSON, which the settings are layered in, has no nan or inf: such a
    // value would be read as unset.
    if let Some((key, _)) = table.iter().find(|(_, v)| v.as_float().is_some_and(|f| !f.is_finite())) {
        bail!("config file {}: `{key}` must be a finite number", path.display());
    }
    let mut values = match serde_json::to_value(table) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => bail!("config file {}: not a table of settings", path.display()),
    };
    let api_key = match values.remove("api-key") {
        None => None,
        Some(serde_json::Value::String(k)) if !k.trim().is_empty() => {
            if let Some(e) = trust::readable_by_others("config file holding `api-key`", &path, mode) {
                return Err(e.into());
            }
            Some(ApiKey::new(k.trim()))
        }
        Some(_) => bail!("config file {}: `api-key` must be a non-empty string", path.display()),
    };
    let known = settings::file_keys(&[CommonSettings::KEYS, UploadSettings::KEYS]);
    let unknown: Vec<&String> = values.keys().filter(|k| !known.contains(k)).collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|k| format!("`{k}`")).collect();
        bail!(
            "config file {}: unknown key{} {}; the keys are the long flag names (e.g. api-url, batch-size, project-id)",
            path.display(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    Ok(ConfigFile { path: Some(path), values, api_key, mode })
}
