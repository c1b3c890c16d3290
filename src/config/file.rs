//! The TOML config file: where it is looked for, whether it can be
//! trusted, and its values (every key but `api-key` becomes a layer of the
//! settings; unknown keys are an error that names them).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::key::{ApiKey, refuse_if_readable_by_others};
use super::{ENV_CONFIG, Env, nonempty};
use crate::settings::{self, CommonSettings, Group, UploadSettings};

/// The config file, read.
#[derive(Debug, Default)]
pub(super) struct ConfigFile {
    pub(super) path: Option<PathBuf>,
    /// Every key but `api-key`, as JSON values.
    pub(super) values: serde_json::Map<String, serde_json::Value>,
    /// `api-key`, allowed only in a file others cannot read.
    pub(super) api_key: Option<ApiKey>,
}

/// Finds and reads the config file: `--config`, `LEADCTL_CONFIG`,
/// `./leadctl.toml`, `$XDG_CONFIG_HOME/leadctl/config.toml` (the first two
/// must exist; the last two are optional, and are read only when the
/// current user owns them and nobody else can write them: a file planted
/// in a shared directory must not redirect the key's requests).
pub(super) fn load_file(flag: Option<&Path>, env: &Env) -> Result<ConfigFile> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| nonempty(env, ENV_CONFIG).map(PathBuf::from));
    let path = match explicit {
        Some(p) => p,
        None => {
            let xdg = nonempty(env, "XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| nonempty(env, "HOME").map(|h| Path::new(&h).join(".config")))
                .map(|d| d.join("leadctl").join("config.toml"));
            match [Some(PathBuf::from("leadctl.toml")), xdg].into_iter().flatten().find(|p| p.is_file()) {
                Some(p) => {
                    refuse_if_untrusted(&p)?;
                    p
                }
                None => return Ok(ConfigFile::default()),
            }
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read config file {}", path.display()))?;
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
            refuse_if_readable_by_others(&path, "config file holding `api-key`")?;
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
    Ok(ConfigFile { path: Some(path), values, api_key })
}

/// A config file found by looking (not named by `--config`) is read only
/// when the current user owns it and nobody else can write it.
#[cfg(unix)]
fn refuse_if_untrusted(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "refusing the config file {}: it belongs to user id {}, not to you (user id {me}); a config file \
             someone else controls could send your API key's requests elsewhere. Remove it, or name a file \
             of yours with --config",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "refusing the config file {}: its mode {:03o} lets group or others change it; fix it with \
             `chmod go-w {}`",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_untrusted(_: &Path) -> Result<()> {
    Ok(())
}
