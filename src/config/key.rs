//! The API key: where it comes from (a key file, `LEADCTL_API_KEY`, or the
//! config file), and the rule that a file holding it must be private. The
//! key is a secret, not a setting: it is never recorded, logged or printed.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::file::ConfigFile;
use super::{ENV_API_KEY, Env, nonempty};

/// The API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

pub(super) fn api_key(flag_file: Option<&Path>, file: &ConfigFile, env: &Env) -> Result<ApiKey> {
    if let Some(p) = flag_file {
        return read_key_file(p);
    }
    if let Some(k) = nonempty(env, ENV_API_KEY) {
        return Ok(ApiKey::new(k.trim()));
    }
    if let Some(k) = &file.api_key {
        return Ok(k.clone());
    }
    bail!(
        "no API key: set {ENV_API_KEY}, pass --api-key-file PATH (`-` reads stdin), or put `api-key-file` \
         in the config file (there is deliberately no --api-key flag: command lines leak into shell history and `ps`)"
    )
}

fn read_key_file(path: &Path) -> Result<ApiKey> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("cannot read the API key from stdin")?;
        s
    } else {
        refuse_if_readable_by_others(path, "API key file")?;
        std::fs::read_to_string(path).with_context(|| format!("cannot read API key file {}", path.display()))?
    };
    let key = text.trim();
    if key.is_empty() {
        bail!("the API key file {} is empty", path.display());
    }
    Ok(ApiKey::new(key))
}

#[cfg(unix)]
pub(super) fn refuse_if_readable_by_others(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "refusing the {what} {}: its mode {mode:03o} lets group or others read the API key; \
             fix it with `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn refuse_if_readable_by_others(_: &Path, _: &str) -> Result<()> {
    Ok(())
}
