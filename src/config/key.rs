//! The API key: where it comes from (a key file, `LEADCTL_API_KEY`, or the
//! config file), and the rule that a file holding it must be private. The
//! key is a secret, not a setting: it is never recorded, logged or printed.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::file::ConfigFile;
use super::{ENV_API_KEY, Env, nonempty};
use crate::trust::{self, Owner, Rule};

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

/// The key from the first place that has one, checked: it must fit in an
/// HTTP header.
pub(super) fn api_key(flag_file: Option<&Path>, file: &ConfigFile, env: &Env) -> Result<ApiKey> {
    api_key_from(flag_file, file, env).map(|(key, _)| key)
}

/// [`api_key`], and where the key came from, in words (`leadctl doctor` says it).
pub(super) fn api_key_from(flag_file: Option<&Path>, file: &ConfigFile, env: &Env) -> Result<(ApiKey, String)> {
    let (key, from) = if let Some(p) = flag_file {
        (read_key_file(p)?, format!("the API key file {}", p.display()))
    } else if let Some(k) = nonempty(env, ENV_API_KEY) {
        (ApiKey::new(k.trim()), ENV_API_KEY.to_owned())
    } else if let Some(k) = &file.api_key {
        (k.clone(), "the config file's `api-key`".to_owned())
    } else {
        return Err(no_key());
    };
    check_header_safe(&key, &from)?;
    Ok((key, from))
}

/// A key that cannot be sent as `Authorization: Bearer <key>` is refused
/// before anything is read or sent: the HTTP client would fail every
/// request with it, and that failure would pass for a network error and be
/// retried. A header value is printable ASCII, spaces and tabs; the message
/// says where the bad byte is, never what the key is.
fn check_header_safe(key: &ApiKey, from: &str) -> Result<()> {
    let fits = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b);
    match key.expose().bytes().position(|b| !fits(&b)) {
        None => Ok(()),
        Some(at) => bail!(
            "the API key from {from} has a byte that cannot go in an HTTP header at position {} (a control \
             character such as a line break, or a non-ASCII character); check for a stray character or a \
             wrong file",
            at + 1
        ),
    }
}

fn no_key() -> anyhow::Error {
    anyhow::anyhow!(
        "no API key: set {ENV_API_KEY}, pass --api-key-file PATH (`-` reads stdin), or put `api-key-file` \
         in the config file (there is deliberately no --api-key flag: command lines leak into shell history and `ps`)"
    )
}

/// A key file: the running account's or root's, closed to group and
/// others, opened once (a link is followed and its target judged: secrets
/// are often mounted as links) and read from the judged file.
const KEY_FILE: Rule = Rule { what: "API key file", owner: Owner::MeOrRoot, closed: 0o077, follow: true };

fn read_key_file(path: &Path) -> Result<ApiKey> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("cannot read the API key from stdin")?;
        s
    } else {
        let (bytes, _) = trust::read(path, &KEY_FILE, 64 << 10)?;
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the API key file {} is not text", path.display()))?
    };
    let key = text.trim();
    if key.is_empty() {
        bail!("the API key file {} is empty", path.display());
    }
    Ok(ApiKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_cannot_go_in_a_header_is_refused_without_showing_it() {
        for good in ["sk_live_abc123", "a b\tc", "~!@#$%^&*()"] {
            assert!(check_header_safe(&ApiKey::new(good), "X").is_ok(), "{good:?}");
        }
        for bad in ["sk_live_s3cret\nsecond", "sk_live_s3cret\u{e9}", "sk_live_s3cret\0", "sk_live_s3cret\u{7f}"] {
            let e = check_header_safe(&ApiKey::new(bad), "LEADCTL_API_KEY").expect_err(bad);
            let text = e.to_string();
            assert!(text.contains("LEADCTL_API_KEY") && text.contains("position 15"), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
    }
}
