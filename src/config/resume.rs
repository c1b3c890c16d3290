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
use super::ledger::{ENV_LEDGER, located};
use super::{ENV_API_URL, Env, check_url, nonempty};
use crate::settings::{RunRecord, Source, UploadSettings};

/// A string value of the environment or else of the config file, with
/// where it came from (in words, and as a source).
fn configured(env: &Env, var: &str, file: &ConfigFile, key: &str) -> Option<(String, String, Source)> {
    nonempty(env, var).map(|v| (v, var.to_owned(), Source::Env)).or_else(|| {
        let v = file.values.get(key)?.as_str()?.trim().to_owned();
        Some((v, format!("the config file's `{key}`"), Source::File)).filter(|(v, ..)| !v.is_empty())
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
        Some((now, from, _)) if check_url(&now).ok().as_deref() != Some(started_norm.as_str()) => bail!(
            "the run being resumed sent to {started}, but {from} now says {now}; pass --api-url {now} to resume \
             against it, or --api-url {started} to go on as the run started"
        ),
        Some(_) => Ok(()),
    }
}

/// The ledger of a resumed run: the journal's, unless a flag says
/// otherwise. When the environment or config file names the same ledger,
/// its text and source are returned (it may carry the password the journal
/// left out); when it names another, the run stops until `--ledger` says which.
pub(super) fn ledger(
    r: &RunRecord,
    flags: &UploadSettings,
    env: &Env,
    file: &ConfigFile,
) -> Result<Option<(String, Source)>> {
    let Some(started) = r.str("ledger") else { return Ok(None) };
    if flags.ledger.is_some() || flags.no_ledger {
        return Ok(None);
    }
    let Some((text, from, source)) = configured(env, ENV_LEDGER, file, "ledger") else { return Ok(None) };
    let named = if text.eq_ignore_ascii_case("off") {
        "off".to_owned()
    } else {
        located(&text).map_or_else(|_| text.clone(), |l| l.to_string())
    };
    if named != started {
        bail!(
            "the run being resumed recorded its answers in the ledger {started}, but {from} now names {named}; \
             pass --ledger {started} to go on with it, or --ledger {named} (or --no-ledger) to change"
        );
    }
    Ok(Some((text, source)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::ledger::Location;

    const JOURNAL_LEDGER: &str = "postgres://ann@db.example/leads";

    /// The record of a run started with `--ledger` (no password) against a sandbox URL.
    fn record() -> RunRecord {
        let mut r = RunRecord {
            command: "upload".into(),
            input: "/data/l.csv".into(),
            settings: Default::default(),
            sources: Default::default(),
        };
        r.set("api-url", "http://127.0.0.1:9".into(), Source::Flag);
        r.set("ledger", JOURNAL_LEDGER.into(), Source::Flag);
        r
    }

    /// `config::upload` of `leadctl upload --resume RUN ARGS` with `env`.
    fn resume(args: &[&str], env: &[(&str, &str)]) -> Result<crate::config::UploadConfig> {
        let cli = Cli::try_parse_from(["leadctl", "upload", "--resume", "run"].iter().chain(args))?;
        let Command::Upload(args) = cli.command else { unreachable!("an upload command line") };
        let mut env: Env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        env.insert("LEADCTL_API_URL".into(), "http://127.0.0.1:9".into());
        env.insert("LEADCTL_API_KEY".into(), "sk_test".into());
        env.insert("HOME".into(), "/nonexistent".into());
        crate::config::upload(&args, &env, Some(&record()))
    }

    fn password(cfg: &crate::config::UploadConfig) -> Option<String> {
        match cfg.ledger.as_ref().map(|l| &l.location) {
            Some(Location::Postgres(pg)) => pg.password.clone(),
            _ => None,
        }
    }

    #[test]
    fn the_journal_s_ledger_is_used_with_the_password_the_environment_gives_it() {
        let cfg = resume(&[], &[]).expect("the journal's ledger");
        assert_eq!(cfg.ledger.as_ref().map(|l| l.location.to_string()).as_deref(), Some(JOURNAL_LEDGER));
        assert_eq!(password(&cfg), None);
        // The same ledger, with its password, from the environment (the
        // journal's came from a flag): used, not refused as a flag password.
        let same = resume(&[], &[("LEADCTL_LEDGER", "postgres://ann:pw@db.example/leads")]).expect("same ledger");
        assert_eq!(password(&same).as_deref(), Some("pw"));
        let e = resume(&[], &[("LEADCTL_LEDGER", "postgres://ann:pw@other.example/leads")]).expect_err("another");
        let text = e.to_string();
        assert!(text.contains(&format!("--ledger {JOURNAL_LEDGER}")) && !text.contains(":pw@"), "{text}");
        // A flag says which.
        let flag = resume(&["--ledger", "postgres://ann@other.example/leads"], &[("LEADCTL_LEDGER", "x.db")]);
        assert!(flag.expect("the flag wins").ledger.is_some_and(|l| l.location.to_string().contains("other")));
        let off = resume(&["--no-ledger"], &[("LEADCTL_LEDGER", "x.db")]).expect("the flag wins");
        assert!(off.ledger.is_none());
    }
}
