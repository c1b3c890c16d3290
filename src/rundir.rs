//! A run directory as leadctl trusts it.
//!
//! A new run's directory is made by this process (mode 0700), or is an
//! existing empty directory of the running account's; beside the input
//! (`<input dir>/<stem>.leadctl/`, often in a folder others can write) the
//! `<stem>.leadctl` folder is made 0700 or used only when it is the running
//! account's and closed to others, never through a link. A resumed run's
//! directory must be the running account's, closed to others, not a link.
//! Every file in it is opened through the directory's descriptor without
//! following links, and judged on the open file (see `trust`). A run
//! directory is used by one process at a time: [`Dir::lock`] takes an
//! exclusive lock held for the whole run, and names the holder to a
//! second process.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::Mode;

use crate::trust::{self, Access, At, Owner, Rule, Untrusted};

/// Runs beside one input started in one second, at most.
const MAX_SAME_SECOND: u32 = 100;

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = "lock";

/// A run directory: its descriptor (everything in it is opened through it) and its path.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Where a new run directory is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `--out-dir`: parents are made as needed, where the operator said.
    Named,
    /// Beside the input: the parent is `<input dir>/<stem>.leadctl`.
    BesideInput,
}

/// A resumed run's directory, and every file in a run directory.
const DIR: Rule = Rule { what: "run directory", owner: Owner::Me, closed: 0o022, follow: false };
const FILE: Rule = Rule { what: "file", owner: Owner::Me, closed: 0o022, follow: false };
/// `<stem>.leadctl` beside the input.
const RUNS: Rule = Rule { what: "folder of runs", owner: Owner::Me, closed: 0o022, follow: false };
/// An existing `--out-dir`: ours (it is made 0700 once judged).
const NAMED: Rule = Rule { what: "output directory", owner: Owner::Me, closed: 0, follow: false };

impl Dir {
    /// Makes a new run's directory at `path` (mode 0700). A `--out-dir`
    /// that exists is used only when it is the running account's and empty:
    /// outputs are never overwritten (and every file is created new).
    /// Beside the input, a name taken already (a run started in the same
    /// second) gets a suffix: `-2`, `-3`, ...
    pub fn create(path: &Path, place: Place) -> Result<Dir> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| anyhow!("{} cannot be an output directory; name a new directory", path.display()))?;
        let parent_fd = match place {
            Place::Named => {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
                plain_dir(parent)?
            }
            Place::BesideInput => runs_folder(parent)?,
        };
        let mut tries = (1..=MAX_SAME_SECOND).map(|n| {
            let mut candidate = name.to_owned();
            if n > 1 {
                candidate.push(format!("-{n}"));
            }
            PathBuf::from(candidate)
        });
        let made = loop {
            let Some(candidate) = tries.next() else {
                bail!(
                    "{} and {} names after it are taken (runs started in the same second); pass --out-dir DIR to \
                     put this run elsewhere",
                    path.display(),
                    MAX_SAME_SECOND - 1
                );
            };
            if make_dir(&parent_fd, &candidate).with_context(|| format!("cannot create {}", path.display()))? {
                break Some(candidate);
            }
            if place == Place::Named {
                break None;
            }
        };
        let name = made.clone().unwrap_or_else(|| PathBuf::from(name));
        let at = At::dir(parent_fd.as_fd(), parent);
        let fd = trust::open_dir(at, &name, if made.is_some() { &DIR } else { &NAMED })?;
        let dir = Dir { fd, path: parent.join(&name) };
        if made.is_some() {
            File::from(parent_fd).sync_all().with_context(|| format!("cannot sync {}", parent.display()))?;
        } else {
            // By path, for the message only: what keeps outputs from being
            // overwritten is that every file is created new (O_EXCL).
            if std::fs::read_dir(&dir.path)?.next().is_some() {
                return Err(not_empty(path));
            }
            nix::sys::stat::fchmod(dir.fd.as_fd(), Mode::from_bits_truncate(0o700))
                .map_err(|e| anyhow!("cannot make {} private: {e}", path.display()))?;
        }
        Ok(dir)
    }

    /// Opens an existing run directory (`--resume`): it must be the running
    /// account's, closed to others, and not a link.
    pub fn open(path: &Path) -> Result<Dir, Untrusted> {
        let fd = trust::open_dir(At::cwd(), path, &DIR)?;
        Ok(Dir { fd, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a file in it, for messages and the summary.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn at(&self) -> At<'_> {
        At::dir(self.fd.as_fd(), &self.path)
    }

    /// Creates a new private file (mode 0600) in it; fails if anything has that name.
    pub fn create_file(&self, name: &str) -> Result<File, Untrusted> {
        trust::open(self.at(), Path::new(name), Access::CreateNew(0o600), &FILE)
    }

    /// Opens a file in it (not a link; the running account's; closed to others).
    pub fn open_file(&self, name: &str, access: Access) -> Result<File, Untrusted> {
        trust::open(self.at(), Path::new(name), access, &FILE)
    }

    /// Renames `from` to `to` within it (replacing `to`).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        nix::fcntl::renameat(self.fd.as_fd(), from, self.fd.as_fd(), to).map_err(io::Error::from)
    }

    /// Removes a file from it, if it is there.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match nix::unistd::unlinkat(self.fd.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes its entries durable (files created or renamed in it).
    pub fn sync(&self) -> io::Result<()> {
        nix::unistd::fsync(self.fd.as_fd()).map_err(io::Error::from)
    }

    /// Takes the directory for this process until the [`Lock`] is dropped
    /// (or the process ends, even by `kill -9`). Another process holding it
    /// is an error at once that names it (pid, host, start time).
    pub fn lock(&self) -> Result<Lock> {
        let file = match self.create_file(LOCK_FILE) {
            Ok(f) => f,
            Err(e) if e.already_exists() => self.open_file(LOCK_FILE, Access::ReadWrite)?,
            Err(e) => return Err(e.into()),
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut locked) => {
                let holder = Holder::me();
                let line = serde_json::to_string(&holder).unwrap_or_default() + "\n";
                locked.set_len(0)?;
                locked.rewind()?;
                locked.write_all(line.as_bytes())?;
                Ok(Lock { _file: locked })
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = (&mut file).take(4096).read_to_string(&mut text);
                let holder = serde_json::from_str::<Holder>(text.trim())
                    .map_or_else(|_| "a process that has not said who it is yet".to_owned(), |h| h.to_string());
                bail!(
                    "the run directory {} is in use by another leadctl: {holder}. One process at a time writes a \
                     run directory; wait for that one to end (or stop it), then resume again",
                    self.path.display()
                )
            }
            Err((_, errno)) => Err(anyhow!("cannot lock {}: {errno}", self.join(LOCK_FILE).display())),
        }
    }
}

/// Opens a directory the operator named, following links (their choice).
fn plain_dir(path: &Path) -> Result<OwnedFd> {
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| anyhow!("cannot open {}: {e}", path.display()))
}

/// `mkdir` (mode 0700) in `parent`; false when something has that name already.
fn make_dir(parent: &OwnedFd, name: &Path) -> io::Result<bool> {
    match nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o700)) {
        Ok(()) => Ok(true),
        Err(Errno::EEXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `<input dir>/<stem>.leadctl`: made here (0700), or used when it is the
/// running account's and closed to others (judged on the open directory,
/// never through a link). The input's folder may be one others write.
fn runs_folder(path: &Path) -> Result<OwnedFd> {
    let input_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(Path::new).ok_or_else(|| anyhow!("no folder for runs in {}", path.display()))?;
    let input_fd = plain_dir(input_dir)?;
    let made = make_dir(&input_fd, name).with_context(|| format!("cannot create {}", path.display()))?;
    let fd = trust::open_dir(At::dir(input_fd.as_fd(), input_dir), name, &RUNS).map_err(not_ours)?;
    if made {
        File::from(input_fd).sync_all().with_context(|| format!("cannot sync {}", input_dir.display()))?;
    }
    Ok(fd)
}

/// A `<stem>.leadctl` folder leadctl may not use.
fn not_ours(e: Untrusted) -> anyhow::Error {
    anyhow!(
        "{e}. leadctl keeps runs beside the input only in a folder of its own; pass --out-dir DIR (a directory of \
         yours) to put this run elsewhere"
    )
}

fn not_empty(path: &Path) -> anyhow::Error {
    anyhow!("output directory {} exists and is not empty; leadctl never overwrites outputs", path.display())
}

/// Judges, making nothing, whether [`Dir::create`] could make a run
/// directory at `path` (for `leadctl doctor`): what exists of it must pass
/// the same rules. Returns the directory the run would write in first:
/// `--out-dir` or `<stem>.leadctl` when it exists, else `None` (the run
/// makes it).
pub fn judge(path: &Path, place: Place) -> Result<Option<PathBuf>> {
    let (dir, rule) = match place {
        Place::Named => (path, &NAMED),
        Place::BesideInput => (path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")), &RUNS),
    };
    match trust::open_dir(At::cwd(), dir, rule) {
        Ok(_) if place == Place::Named && std::fs::read_dir(dir)?.next().is_some() => Err(not_empty(path)),
        Ok(_) => Ok(Some(dir.to_path_buf())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) if place == Place::BesideInput => Err(not_ours(e)),
        Err(e) => Err(e.into()),
    }
}

/// The process holding a run directory, as its lock file says.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    started: String,
}

impl Holder {
    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            host: crate::ledger::host_name().unwrap_or_else(|| "localhost".into()),
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}, started {}", self.pid, self.host, self.started)
    }
}

/// A run directory taken by this process (see [`Dir::lock`]).
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_first_is_released_on_drop() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = Dir::create(&tmp.path().join("run"), Place::Named).expect("created");
        let lock = dir.lock().expect("first");
        // A second open file description, as a second process would have.
        let again = Dir::open(dir.path()).expect("opened");
        let e = again.lock().expect_err("held").to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())) && e.contains("in use"), "{e}");
        drop(lock);
        again.lock().expect("free again");
    }

    #[test]
    fn an_existing_directory_is_used_only_when_empty_and_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("out");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Dir::create(&path, Place::Named).expect("empty: used");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o700);
        std::fs::write(path.join("x"), "").expect("write");
        let e = Dir::create(&path, Place::Named).expect_err("not empty").to_string();
        assert!(e.contains("not empty"), "{e}");
    }
}
