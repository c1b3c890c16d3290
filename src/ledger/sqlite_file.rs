//! The SQLite ledger file's safety. The ledger holds phone numbers and lead
//! ids and decides which leads are sent: one that another account can read
//! would give it every number, and one it can write could hold leads back
//! as "already uploaded". So the ledger's directory must be the running
//! account's and closed to other writers (leadctl creates it 0700), and the
//! file, its `-wal` and its `-shm` the running account's, not links, and
//! closed to group and others (the file is created 0600 before SQLite opens
//! it: SQLite would create it 0644 under a usual umask, and gives its `-wal`
//! and `-shm` files the database file's mode). Each is judged on the open
//! file (see `trust`), never read or written when refused; SQLite then
//! opens the path with `SQLITE_OPEN_NOFOLLOW`, in a directory nobody else
//! can change.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use super::LedgerError;
use crate::trust::{self, Access, At, Owner, Rule, Untrusted};

/// The ledger's directory (reached through links if need be: it is judged on the open directory).
const DIR: Rule = Rule { what: "ledger directory", owner: Owner::Me, closed: 0o022, follow: true };
/// The ledger file and its `-wal` and `-shm`.
const FILE: Rule = Rule { what: "ledger file", owner: Owner::Me, closed: 0o077, follow: false };

/// Makes sure `path` exists as a private regular file of the running
/// account's in a directory of its own, and that its `-wal` and `-shm`, if
/// there, are too.
pub(crate) fn prepare(path: &Path, location: &str) -> Result<(), LedgerError> {
    let refused = |e: Untrusted| match e {
        Untrusted::Mode { what, path, mode, .. } if what == FILE.what => LedgerError::Permissions { path, mode },
        e => LedgerError::Unavailable { location: location.to_owned(), detail: e.to_string() },
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        create_private_dir(dir).map_err(|e| LedgerError::Unavailable {
            location: location.to_owned(),
            detail: format!("cannot create the directory {}: {e}", dir.display()),
        })?;
    }
    let dir_fd = trust::open_dir(At::cwd(), dir, &DIR).map_err(refused)?;
    let at = At::dir(dir_fd.as_fd(), dir);
    let name = path.file_name().map(Path::new).ok_or_else(|| LedgerError::Unavailable {
        location: location.to_owned(),
        detail: format!("{} names no file", path.display()),
    })?;
    match trust::open(at, name, Access::CreateNew(0o600), &FILE) {
        Ok(_) => {}
        // Another run created it first, or it was there already.
        Err(e) if e.already_exists() => drop(trust::open(at, name, Access::Read, &FILE).map_err(refused)?),
        Err(e) => return Err(refused(e)),
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = name.as_os_str().to_owned();
        side.push(suffix);
        match trust::open(at, Path::new(&side), Access::Read, &FILE) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(refused(e)),
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
