//! What leadctl trusts on disk, and the one way it opens what it trusts.
//!
//! leadctl often runs beside other accounts (drop folders they write,
//! `/tmp`, node_exporter's textfile directory). A file or directory that
//! steers what it does (a run directory and everything in it, the config
//! file, a key file, the ledger, a pgpass file) is opened once, without
//! following a link where none is expected (`O_NOFOLLOW`), and judged on
//! the open descriptor (`fstat`), never by its path and then opened again:
//! its kind, its owner (the running account, or root where a [`Rule`]
//! allows it) and the mode bits group and others must not have. What is
//! then read or written is that same descriptor, as OpenSSH checks the
//! files it trusts. Files are created new (`O_EXCL`), never over something
//! already there.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::sys::stat::Mode;

/// Who may own what leadctl trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The running account only.
    Me,
    /// The running account or root (a key file an administrator installed).
    MeOrRoot,
}

/// What a trusted file or directory must be.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// What it is, for messages ("run directory", "API key file").
    pub what: &'static str,
    pub owner: Owner,
    /// Mode bits group and others must not have: `0o022` (nobody else may
    /// change it) or `0o077` (nobody else may read it either).
    pub closed: u32,
    /// Whether a symbolic link in the last component is followed (its
    /// target is then what is judged); otherwise a link is refused.
    pub follow: bool,
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Writes go to the end.
    Append,
    ReadWrite,
    /// A new file with this mode; fails if anything is there (`O_EXCL`).
    CreateNew(u32),
}

/// Why leadctl refused a file or directory. The message names it, says why
/// and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    #[error("cannot open the {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error(
        "refusing the {what} {}: it is a symbolic link, which leadctl does not follow here (another account \
         could point it at a file of yours)",
        path.display()
    )]
    Link { what: &'static str, path: PathBuf },
    #[error("refusing the {what} {}: it is not a {expected}", path.display())]
    Kind { what: &'static str, path: PathBuf, expected: &'static str },
    #[error(
        "refusing the {what} {}: it belongs to user id {owner}, not to you (user id {me}); another account \
         could have put it there, or could change it",
        path.display()
    )]
    Owner { what: &'static str, path: PathBuf, owner: u32, me: u32 },
    #[error(
        "refusing the {what} {}: its mode {mode:03o} lets group or others {verb} it; fix it with `chmod {fix} {}`",
        path.display(),
        path.display()
    )]
    Mode { what: &'static str, path: PathBuf, mode: u32, verb: &'static str, fix: &'static str },
}

impl Untrusted {
    /// Whether the file is simply not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Untrusted::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// Whether something was already there (creating a new file).
    pub fn already_exists(&self) -> bool {
        matches!(self, Untrusted::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
    }
}

impl From<Untrusted> for io::Error {
    fn from(e: Untrusted) -> io::Error {
        let kind = match &e {
            Untrusted::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, e)
    }
}

/// Where a relative path starts: a directory already judged (its
/// descriptor and its path, for messages), or the current directory.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    fd: BorrowedFd<'a>,
    base: Option<&'a Path>,
}

impl<'a> At<'a> {
    /// The current directory.
    pub fn cwd() -> At<'static> {
        At { fd: AT_FDCWD, base: None }
    }

    /// A directory opened and judged before.
    pub fn dir(fd: BorrowedFd<'a>, path: &'a Path) -> At<'a> {
        At { fd, base: Some(path) }
    }

    fn shown(&self, name: &Path) -> PathBuf {
        self.base.map_or_else(|| name.to_path_buf(), |b| b.join(name))
    }
}

/// Opens the file `name` (from `at`) as `access` says and judges the open
/// file against `rule`.
pub fn open(at: At<'_>, name: &Path, access: Access, rule: &Rule) -> Result<File, Untrusted> {
    // Never blocks on a FIFO planted where a file was expected: it is
    // opened at once, then refused for its kind.
    let mut flags = OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let mut mode = Mode::empty();
    match access {
        Access::Read => flags |= OFlag::O_RDONLY,
        Access::Append => flags |= OFlag::O_WRONLY | OFlag::O_APPEND,
        Access::ReadWrite => flags |= OFlag::O_RDWR,
        Access::CreateNew(m) => {
            // O_EXCL never follows a link either.
            flags |= OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL;
            mode = Mode::from_bits_truncate(m);
        }
    }
    let fd = open_fd(at, name, flags, mode, rule)?;
    let file = File::from(fd);
    judge(&file, &at.shown(name), false, rule)?;
    clear_nonblock(&file);
    Ok(file)
}

/// Opens the directory `name` (from `at`) and judges it against `rule`.
pub fn open_dir(at: At<'_>, name: &Path, rule: &Rule) -> Result<OwnedFd, Untrusted> {
    let flags = OFlag::O_CLOEXEC | OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    let fd = open_fd(at, name, flags, Mode::empty(), rule)?;
    let dir = File::from(fd);
    judge(&dir, &at.shown(name), true, rule)?;
    Ok(OwnedFd::from(dir))
}

/// Reads a small trusted file whole (a config, key or password file):
/// one open, judged, then read from the same descriptor, at most `limit`
/// bytes (more is refused: no such file is large). Also returns the
/// file's mode, as judged, for rules that depend on what it holds.
pub fn read(path: &Path, rule: &Rule, limit: u64) -> Result<(Vec<u8>, u32), Untrusted> {
    let file = open(At::cwd(), path, Access::Read, rule)?;
    let io = |source| Untrusted::Io { what: rule.what, path: path.to_path_buf(), source };
    let mode = file.metadata().map_err(io)?.mode() & 0o7777;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(io(io::Error::other(format!("larger than {limit} bytes; this is not a {}", rule.what))));
    }
    Ok((bytes, mode))
}

/// The refusal of a file whose mode lets group or others read what it
/// holds (a secret found in a file that only needed to be closed to writers).
pub fn readable_by_others(what: &'static str, path: &Path, mode: u32) -> Option<Untrusted> {
    (mode & 0o077 != 0).then(|| Untrusted::Mode {
        what,
        path: path.to_path_buf(),
        mode: mode & 0o777,
        verb: "read",
        fix: "600",
    })
}

fn open_fd(at: At<'_>, name: &Path, mut flags: OFlag, mode: Mode, rule: &Rule) -> Result<OwnedFd, Untrusted> {
    if !rule.follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let shown = at.shown(name);
    nix::fcntl::openat(at.fd, name, flags, mode).map_err(|errno| {
        // ELOOP from O_NOFOLLOW: the last component is a link. (A loop
        // further up the path says ELOOP too: the link check tells them apart.)
        let link = errno == Errno::ELOOP && !rule.follow && is_link(at, name);
        // O_NOFOLLOW | O_DIRECTORY on a link says ENOTDIR on some kernels.
        let link = link || (errno == Errno::ENOTDIR && !rule.follow && is_link(at, name));
        if link {
            Untrusted::Link { what: rule.what, path: shown.clone() }
        } else {
            Untrusted::Io { what: rule.what, path: shown.clone(), source: io::Error::from(errno) }
        }
    })
}

fn is_link(at: At<'_>, name: &Path) -> bool {
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::sys::stat::fstatat(at.fd, name, flags).is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFLNK)
}

/// Judges an open file or directory: its kind, owner and mode.
pub fn judge(file: &File, path: &Path, dir: bool, rule: &Rule) -> Result<(), Untrusted> {
    let what = rule.what;
    let meta = file.metadata().map_err(|source| Untrusted::Io { what, path: path.to_path_buf(), source })?;
    let (expected, right_kind) = if dir { ("directory", meta.is_dir()) } else { ("regular file", meta.is_file()) };
    if !right_kind {
        return Err(Untrusted::Kind { what, path: path.to_path_buf(), expected });
    }
    let me = nix::unistd::geteuid().as_raw();
    let owner = meta.uid();
    if owner != me && !(rule.owner == Owner::MeOrRoot && owner == 0) {
        return Err(Untrusted::Owner { what, path: path.to_path_buf(), owner, me });
    }
    let mode = meta.mode() & 0o7777;
    let open = mode & rule.closed;
    if open != 0 {
        let verb = if open & 0o022 != 0 { "change" } else { "read" };
        let fix = match (rule.closed & 0o044 != 0, dir) {
            (true, true) => "700",
            (true, false) => "600",
            (false, _) => "go-w",
        };
        return Err(Untrusted::Mode { what, path: path.to_path_buf(), mode: mode & 0o777, verb, fix });
    }
    Ok(())
}

/// Files opened without `O_NONBLOCK` behave as usual from then on.
fn clear_nonblock(file: &File) {
    use nix::fcntl::{F_GETFL, F_SETFL, fcntl};
    if let Ok(bits) = fcntl(file.as_fd(), F_GETFL) {
        let flags = OFlag::from_bits_truncate(bits) - OFlag::O_NONBLOCK;
        let _ = fcntl(file.as_fd(), F_SETFL(flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const RULE: Rule = Rule { what: "test file", owner: Owner::Me, closed: 0o022, follow: false };

    #[test]
    fn a_link_is_refused_where_none_is_followed_and_judged_by_its_target_where_one_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "mine").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = read(&link, &RULE, 100).expect_err("a link is refused");
        assert!(matches!(e, Untrusted::Link { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(read(&link, &Rule { follow: true, ..RULE }, 100).expect("followed").0, b"mine");
        // The target is what is judged: made writable by others, refused through the link.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = read(&link, &Rule { follow: true, ..RULE }, 100).expect_err("judged on the target");
        assert!(matches!(e, Untrusted::Mode { mode: 0o666, .. }), "{e}");
    }

    #[test]
    fn modes_kinds_sizes_and_fifos() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(read(&path, &RULE, 100).is_ok(), "0644 is closed to writers");
        let e = read(&path, &Rule { closed: 0o077, ..RULE }, 100).expect_err("readable by others");
        assert!(e.to_string().contains("mode 644") && e.to_string().contains("chmod 600"), "{e}");
        assert!(read(&path, &RULE, 5).is_err(), "too large");
        let e = read(dir.path(), &RULE, 100).expect_err("a directory is not a file");
        assert!(matches!(e, Untrusted::Kind { .. }), "{e}");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let e = read(&fifo, &RULE, 100).expect_err("a FIFO is refused, without blocking");
        assert!(matches!(e, Untrusted::Kind { .. }), "{e}");
        assert!(read(&dir.path().join("none"), &RULE, 100).expect_err("absent").is_not_found());
        let e = open(At::cwd(), &path, Access::CreateNew(0o600), &RULE).expect_err("never over a file");
        assert!(e.already_exists(), "{e}");
    }
}
