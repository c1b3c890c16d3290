//! The two settings a resumed run does not take from its journal alone.
//!
//! A journal's settings sit right below the flags, so a resumed run goes
//! on as it started; but a run directory may be older than the operator's
//! intent, and (were it ever forged) must not decide where the key goes.
//! So the API URL comes from the settings (flag, environment, config file)
//! and must match the journal's; and the ledger is the journal's (recorded
//! without its password), unless the environment or config file now names
//! another, which stops the run until a flag says which. An explicit
//! `--api-url`, `--ledger` or `--no-ledger` flag confirms a change.

use anyhow::{Result, bail};

use super::file::ConfigFile;
use super::ledger::ENV_LEDGER;
use super::{ENV_API_URL, Env, check_url, nonempty};
use crate::ledger::Location;
use crate::settings::{RunRecord, UploadSettings};

/// A string value of the environment or else of the config file, with where it came from.
fn configured(env: &Env, var: &str, file: &ConfigFile, key: &str) -> Option<(String, String)> {
    nonempty(env, var).map(|v| (v, var.to_owned())).or_else(|| {
        let v = file.values.get(key)?.as_str()?.trim().to_owned();
        Some((v, format!("the config file's `{key}`"))).filter(|(v, _)| !v.is_empty())
    })
}

/// The API URL of a resumed run: the settings' must be the journal's. The
/// key is never sent to a URL that only a run directory names.
pub(super) fn check_api_url(r: &RunRecord, flags: &UploadSettings, env: &Env, file: &ConfigFile) -> Result<()> {
    let Some(started) = r.str("api-url") else { return Ok(()) };
    if flags.api_url.is_some() {
        return Ok(());
    }
    let started_norm = check_url(started).unwrap_or_else(|_| started.to_owned());
    match configured(env, ENV_API_URL, file, "api-url") {
        None => bail!(
            "the run being resumed sent to {started}, and no API URL is configured here; leadctl sends the key only \
             to a URL you configured, never to one a run directory names: pass --api-url {started} (or set \
             {ENV_API_URL}, or `api-url` in the config file)"
        ),
        Some((now, from)) if check_url(&now).ok().as_deref() != Some(started_norm.as_str()) => bail!(
            "the run being resumed sent to {started}, but {from} now says {now}; pass --api-url {now} to resume \
             against it, or --api-url {started} to go on as the run started"
        ),
        Some(_) => Ok(()),
    }
}

/// The ledger of a resumed run: the journal's, unless a flag says
/// otherwise. When the environment or config file names the same ledger,
/// its text is returned (it may carry the password the journal left out);
/// when it names another, the run stops until `--ledger` says which.
pub(super) fn ledger(r: &RunRecord, flags: &UploadSettings, env: &Env, file: &ConfigFile) -> Result<Option<String>> {
    let Some(started) = r.str("ledger") else { return Ok(None) };
    if flags.ledger.is_some() || flags.no_ledger {
        return Ok(None);
    }
    let Some((text, from)) = configured(env, ENV_LEDGER, file, "ledger") else { return Ok(None) };
    let named = if text.eq_ignore_ascii_case("off") {
        "off".to_owned()
    } else {
        Location::parse(&text).map_or_else(|_| text.clone(), |l| l.to_string())
    };
    if named != started {
        bail!(
            "the run being resumed recorded its answers in the ledger {started}, but {from} now names {named}; \
             pass --ledger {started} to go on with it, or --ledger {named} (or --no-ledger) to change"
        );
    }
    Ok(Some(text))
}
