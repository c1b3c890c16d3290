//! The SQLite ledger file's safety: its directory created 0700, the file
//! created 0600 before SQLite opens it (SQLite would create it 0644 under a
//! usual umask, and gives its `-wal` and `-shm` files the database file's
//! mode), and a file that group or others can read refused with the
//! `chmod` that fixes it, as leadctl does for key files. The ledger holds
//! phone numbers and lead ids.

use std::io;
use std::path::Path;

use super::LedgerError;

/// Makes sure `path` exists as a private regular file in an existing directory.
pub(crate) fn prepare(path: &Path, location: &str) -> Result<(), LedgerError> {
    let unavailable = |what: &str, e: io::Error| LedgerError::Unavailable {
        location: location.to_owned(),
        detail: format!("cannot {what}: {e}"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        create_private_dir(dir).map_err(|e| unavailable(&format!("create the directory {}", dir.display()), e))?;
    }
    match create_private_file(path) {
        Ok(()) => {}
        // Another run created it first, or it was there already.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(unavailable(&format!("create {}", path.display()), e)),
    }
    check_private(path, location)
}

/// Refuses a ledger file that is not a regular file, or that group or
/// others can read or write.
pub(crate) fn check_private(path: &Path, location: &str) -> Result<(), LedgerError> {
    let meta = std::fs::metadata(path).map_err(|e| LedgerError::Unavailable {
        location: location.to_owned(),
        detail: format!("cannot read {}: {e}", path.display()),
    })?;
    if !meta.is_file() {
        return Err(LedgerError::Unavailable {
            location: location.to_owned(),
            detail: format!("{} is not a regular file", path.display()),
        });
    }
    match mode_of(&meta) {
        Some(mode) if mode & 0o077 != 0 => Err(LedgerError::Permissions { path: path.to_path_buf(), mode }),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map(drop)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path).map(drop)
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> Option<u32> {
    None
}
