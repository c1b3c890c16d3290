//! The checks on this machine: the ledger (opens as a run opens it, so
//! its own rules apply: mode, schema version, a write lock; a ledger of an
//! older schema is migrated, as the run's first open would), the input
//! file, the directory the run directory goes in, and the metrics file's
//! directory. Nothing is created but a probe file, removed at once: a
//! ledger that does not exist yet is left for the first run to create (as
//! the user the run runs as).

use std::io;
use std::path::{Path, PathBuf};

use super::report::Check;
use super::setup::mode_of;
use crate::config::{LedgerChoice, MetricsTarget};
use crate::ledger::{self, LedgerError, Location, OpenOptions, SCHEMA_VERSION};
use crate::rundir::{self, Place};

/// The ledger the run would use.
pub(super) async fn ledger(choice: Option<LedgerChoice>) -> Check {
    let Some(choice) = choice else {
        return Check::ok(
            "ledger",
            "none for this run (--no-ledger, ledger = \"off\", --existing, or a sandbox or dry run): leads an \
             earlier run sent are sent again",
        );
    };
    let location = choice.location;
    let shown = location.to_string();
    match tokio::task::spawn_blocking(move || open_ledger(location)).await {
        Ok(check) => check,
        Err(e) => Check::fail("ledger", format!("{shown}: the check stopped: {e}")),
    }
}

fn open_ledger(location: Location) -> Check {
    if let Location::Sqlite(path) = &location
        && !path.exists()
    {
        return match probe_dir(path.parent().unwrap_or(Path::new(""))) {
            Ok(dir) => Check::ok(
                "ledger",
                format!("{location} does not exist yet; the first run creates it (in {}, writable)", dir.display()),
            ),
            Err(e) => Check::fail("ledger", format!("{location} does not exist, and cannot be created: {e}"))
                .fix("pass --ledger PATH in a directory the run's user can write, or create the directory"),
        };
    }
    let mut store = match ledger::open(&location, &OpenOptions::default()) {
        Ok(store) => store,
        Err(e) => return refused(&location, e),
    };
    let stats = match store.stats() {
        Ok(s) => s,
        Err(e) => return refused(&location, e),
    };
    let claims = match stats.claims {
        0 => String::new(),
        n => format!(" ({n} claimed by runs in flight or stopped)"),
    };
    let mode = match &location {
        Location::Sqlite(path) => mode_of(path),
        Location::Postgres(_) => String::new(),
    };
    Check::ok(
        "ledger",
        format!(
            "{location}: opens and is writable, schema version {SCHEMA_VERSION}, {} entries{claims}, {} bytes{mode}",
            stats.entries, stats.size_bytes
        ),
    )
}

/// A ledger the run could not use, with what to do.
fn refused(location: &Location, e: LedgerError) -> Check {
    let fix = match (&e, location) {
        (LedgerError::Busy { .. }, _) => {
            return Check::warn("ledger", e.to_string()).fix("another run is writing it; a run waits its turn");
        }
        (LedgerError::Permissions { .. } | LedgerError::NewerSchema { .. }, _) => None,
        (LedgerError::Corrupt { .. }, _) => {
            Some("point --ledger at a new file, or restore this one from a backup".to_owned())
        }
        (_, Location::Sqlite(path)) => Some(format!(
            "the run's user must be able to read and write {} and create files in its directory",
            path.display()
        )),
        (_, Location::Postgres(_)) => {
            Some("check the URL, that the server is up, and the password (PGPASSWORD)".to_owned())
        }
    };
    let check = Check::fail("ledger", e.to_string());
    match fix {
        Some(fix) => check.fix(fix),
        None => check,
    }
}

/// The input file: it may not exist yet (tonight's export).
pub(super) fn input(path: &Path) -> Check {
    if path.as_os_str() == "-" {
        return Check::ok("input", "stdin");
    }
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(m) if m.is_dir() => Check::fail("input", format!("{} is a directory", path.display())),
        Ok(m) => Check::ok("input", format!("{} is readable ({} bytes)", path.display(), m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Check::warn("input", format!("{} does not exist (yet); a run stops at once without it", path.display()))
                .fix("make sure the export is written there before the run starts")
        }
        Err(e) => Check::fail("input", format!("cannot read {}: {e}", path.display())),
    }
}

/// Where the run directory goes: `--out-dir` (absent, or the running
/// account's and empty), or the input's `<stem>.leadctl/` (absent, or the
/// running account's and closed to others), judged by the rules a run
/// applies (`rundir`), then written to.
pub(super) fn output(out_dir: Option<&Path>, input: Option<&Path>) -> Option<Check> {
    let (run_dir, place) = match (out_dir, input) {
        (Some(dir), _) => (dir.to_path_buf(), Place::Named),
        (None, Some(input)) => (crate::run::default_run_dir(input), Place::BesideInput),
        (None, None) => return None,
    };
    let shown = match place {
        Place::Named => run_dir.clone(),
        Place::BesideInput => run_dir.parent()?.to_path_buf(),
    };
    let fix = "leave --out-dir out (each run gets its own directory), or give a new one each run";
    let existing = match rundir::judge(&run_dir, place) {
        Ok(existing) => existing,
        Err(e) if place == Place::Named => return Some(Check::fail("output", format!("{e:#}")).fix(fix)),
        Err(e) => return Some(Check::fail("output", format!("{e:#}"))),
    };
    Some(match probe_dir(existing.as_deref().unwrap_or(&shown)) {
        Ok(_) if existing.is_some() => Check::ok("output", format!("{} is yours and writable", shown.display())),
        Ok(probed) => Check::ok(
            "output",
            format!("{} does not exist yet; the run creates it (in {}, writable)", shown.display(), probed.display()),
        ),
        Err(e) => Check::fail("output", format!("cannot write run directories in {}: {e}", shown.display()))
            .fix("give --out-dir a directory the run's user can write"),
    })
}

/// The metrics file's directory: the run writes a temporary file there
/// and renames it.
pub(super) fn metrics(target: &MetricsTarget) -> Check {
    let dir = target.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fix = "create the directory, or give --metrics-file a path the run's user can write";
    if !dir.is_dir() {
        return Check::fail("metrics", format!("the directory {} does not exist", dir.display())).fix(fix);
    }
    match probe_dir(dir) {
        Ok(_) => Check::ok(
            "metrics",
            format!("{} is writable ({}, job {:?})", dir.display(), target.path.display(), target.job),
        ),
        Err(e) => Check::fail("metrics", format!("cannot write in {}: {e}", dir.display())).fix(fix),
    }
}

/// Creates and removes a file in `dir`, or (when `dir` does not exist)
/// in the nearest directory above it, where a run would create it; returns
/// the directory written to.
fn probe_dir(dir: &Path) -> io::Result<PathBuf> {
    let mut at = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    while !at.exists() {
        at = match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !at.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", at.display())));
    }
    let probe = at.join(format!(".leadctl-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)?;
    Ok(at.to_path_buf())
}
