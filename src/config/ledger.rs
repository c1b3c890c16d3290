//! Which ledger a run (or `leadctl ledger`) uses, and where its password
//! comes from: never the command line (`ps` shows it to every account);
//! the URL in `LEADCTL_LEDGER` or the config file (a file others cannot
//! read), `PGPASSWORD`, or the pgpass file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use super::file::{ConfigFile, load_file};
use super::{Env, LedgerChoice, UsageError, check_url, lower_layers, merge, nonempty, pgpass};
use crate::ledger::Location;
use crate::settings::{CommonSettings, Origin, Source, UploadSettings};

/// The environment variable naming the ledger.
pub(super) const ENV_LEDGER: &str = "LEADCTL_LEDGER";

/// Which ledger a run uses: none with `--no-ledger` or `ledger = "off"`,
/// for `--existing` (lead ids have no phone to key on), and for `--sandbox`
/// and `--dry-run` unless `--ledger` is given on the command line (a
/// rehearsal must not mark real leads as sent); else `--ledger`,
/// `LEADCTL_LEDGER`, the config file's `ledger` (on `--resume`: the
/// journal's, see `resume::ledger`), or the default SQLite file. `text`
/// (with its source) replaces the merged `ledger` value when given. Also
/// returns where the password came from, for the `-vv` dump.
pub(super) fn choice(
    u: &UploadSettings,
    text: Option<(String, Source)>,
    origins: &BTreeMap<String, Origin>,
    existing: bool,
    env: &Env,
    file: &ConfigFile,
) -> Result<(Option<LedgerChoice>, Option<String>)> {
    let (text, from) = match text {
        Some((text, source)) => (Some(text), Some(source)),
        None => (u.ledger.clone(), origins.get("ledger").map(|o| o.source.clone())),
    };
    let from = from.as_ref();
    let off = text.as_deref().is_some_and(|l| l.trim().eq_ignore_ascii_case("off"));
    // A `--ledger` flag wins over `--no-ledger` kept in a resumed run's journal.
    let no_ledger =
        u.no_ledger && !(from == Some(&Source::Flag) && origins.get("no-ledger").is_some_and(|o| o.from_journal));
    let rehearsal = u.sandbox || u.dry_run;
    if no_ledger || off || existing || (rehearsal && from != Some(&Source::Flag)) {
        return Ok((None, None));
    }
    let location = match text.as_deref() {
        Some(text) => parse(text, from, file)?,
        None => default_ledger(env)?,
    };
    let (location, password_from) = with_password(location, env);
    Ok((Some(LedgerChoice { location, resend_known: u.resend_known }), password_from))
}

/// A ledger location as a run records it: an SQLite path made absolute, so
/// that a resume finds the same file from any directory.
pub(super) fn located(text: &str) -> Result<Location, crate::ledger::LocationError> {
    Ok(match Location::parse(text)? {
        Location::Sqlite(path) => Location::Sqlite(std::path::absolute(&path).unwrap_or(path)),
        other => other,
    })
}

/// Parses a ledger location: one with a password is refused on the command
/// line (exit 2), and in a config file others can read.
fn parse(text: &str, from: Option<&Source>, file: &ConfigFile) -> Result<Location> {
    let location = located(text).map_err(|e| anyhow!("--ledger: {e}"))?;
    if matches!(&location, Location::Postgres(pg) if pg.password.is_some()) {
        match from {
            Some(Source::Flag) => {
                return Err(UsageError(format!(
                    "--ledger {location}: a password on the command line is refused (any account on this machine \
                     can read it with `ps`, and shells keep it in their history); give the password in PGPASSWORD \
                     or ~/.pgpass (or the file PGPASSFILE names), or the whole URL in {ENV_LEDGER} or `ledger` in \
                     the config file (mode 0600)"
                ))
                .into());
            }
            Some(Source::File) => file.check_secret("config file holding a `ledger` password")?,
            _ => {}
        }
    }
    Ok(location)
}

/// Adds the password a PostgreSQL location's URL does not hold, as libpq
/// would: `PGPASSWORD`, else the pgpass file. Says where it came from.
fn with_password(location: Location, env: &Env) -> (Location, Option<String>) {
    let Location::Postgres(pg) = &location else { return (location, None) };
    if pg.password.is_some() {
        return (location, Some("the ledger URL".into()));
    }
    if let Some(pw) = nonempty(env, "PGPASSWORD") {
        return (location.with_password_fallback(Some(pw)), Some("PGPASSWORD".into()));
    }
    match pgpass::password(&location, env) {
        Some((pw, from)) => (location.with_password_fallback(Some(pw)), Some(from)),
        None => (location, None),
    }
}

/// Resolves `leadctl ledger`'s settings: the ledger, the API and the
/// project, from the same layers as `upload` (flags, environment, config file).
/// What the `ledger` command works with, resolved.
#[derive(Debug, Clone)]
pub struct LedgerCommand {
    pub action: crate::cli::LedgerAction,
    pub location: Location,
    /// For `import --leads`: the API and project the keys belong to (none for other actions).
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    pub json: bool,
}

pub fn ledger_command(args: &crate::cli::LedgerArgs, env: &Env) -> Result<LedgerCommand> {
    let file = load_file(args.config.as_deref(), env)?;
    // Only `import` takes the API and the project (what `--leads` belong to).
    let import = match &args.action {
        crate::cli::LedgerAction::Import { api_url, project_id, .. } => Some((api_url.clone(), project_id.clone())),
        _ => None,
    };
    let (api_url, project_id) = import.clone().unwrap_or_default();
    let flags = UploadSettings { ledger: args.ledger.clone(), api_url, ..UploadSettings::default() };
    let upload = merge(&flags, lower_layers::<UploadSettings>(None, env, &file), &file)?;
    let flags = CommonSettings { project_id, ..CommonSettings::default() };
    let common = merge(&flags, lower_layers::<CommonSettings>(None, env, &file), &file)?;
    let from = upload.origins.get("ledger").map(|o| &o.source);
    let u = upload.value;
    let location = match u.ledger.as_deref() {
        Some(text) => parse(text, from, &file)?,
        None => default_ledger(env)?,
    };
    Ok(LedgerCommand {
        action: args.action.clone(),
        location: with_password(location, env).0,
        api_url: u.api_url.as_deref().filter(|_| import.is_some()).map(check_url).transpose()?,
        project_id: common.value.project_id.filter(|_| import.is_some()),
        json: args.json,
    })
}

/// The default ledger: under `XDG_DATA_HOME`, else under the home directory.
fn default_ledger(env: &Env) -> Result<Location> {
    let var = |name: &str| env.get(name).map(std::ffi::OsStr::new);
    // Without HOME (a bare environment), the home the system knows.
    let home = var("HOME").map(PathBuf::from).or_else(home_of_this_user);
    Location::default_sqlite(var("XDG_DATA_HOME"), home.as_deref().map(Path::as_os_str)).ok_or_else(|| {
        anyhow!("no place for the ledger: set HOME or XDG_DATA_HOME, pass --ledger PATH, or run with --no-ledger")
    })
}

/// The current user's home directory from the system's user database.
fn home_of_this_user() -> Option<PathBuf> {
    nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.dir)
}
