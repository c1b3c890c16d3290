//! What `--resume` needs, kept crash-safe.
//!
//! A run directory holds a `journal.ndjson`: the settings the run started
//! with (never the key) and the input's identity; then, before any request
//! of a batch leaves, the rows (ordinals) that batch carries, `fsync`ed
//! first, so that after `kill -9` or a power cut we know which leads may
//! exist on the server although no answer was recorded; after rows reach
//! the accepted and rejected files, which rows they were and how long the
//! files then are; plus the processes the server answered 404 for and
//! batch-size changes.
//!
//! Rows are named by their ordinal, not their line: several rows can share
//! a line. Resuming (`recover`) cuts the accepted and rejected files back to
//! the last lengths the journal vouches for, skips those rows, and sends
//! everything else again; leads that were in flight are marked as possibly
//! existing, so an "already exists" answer counts them as accepted.

mod recover;

pub use crate::ranges::RangeSet;
pub use recover::{Recovered, read_record, read_record_in, recover};

use std::fs::File;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::output::OutFormat;
use crate::rundir::Dir;
use crate::settings::RunRecord;
use crate::trust::Access;

/// The journal's file name inside a run directory.
pub const FILE_NAME: &str = "journal.ndjson";

/// The version of the journal's format this binary writes and reads (3:
/// the output files gained the `leadctl_origin_*` columns, and CSV outputs
/// follow the input's dialect; a run from an older leadctl is resumed with
/// that leadctl).
pub const VERSION: u32 = 3;

/// Identity of the input, to check on resume that it is the same file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    pub size: u64,
    pub sha256: String,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    Start {
        version: u32,
        input: InputId,
        out_format: OutFormat,
        record: RunRecord,
    },
    /// The rows of a batch about to be sent.
    Sent {
        rows: RangeSet,
    },
    /// Rows now in the accepted or rejected file, and the lengths of those
    /// two files (bytes) once they hold them.
    Done {
        rows: RangeSet,
        lens: [u64; 2],
    },
    ProcessNotFound {
        process_id: String,
    },
    BatchSize {
        size: usize,
    },
    Finished {
        exit_code: u8,
    },
}

/// The append-only journal of a run.
pub struct Journal {
    file: File,
}

impl Journal {
    /// Creates the journal of a new run with its first entry.
    pub fn create(dir: &Dir, start: &Entry) -> io::Result<Journal> {
        let file = dir.create_file(FILE_NAME)?;
        let mut j = Journal { file };
        j.append(start)?;
        dir.sync()?;
        Ok(j)
    }

    /// Reopens an existing journal for appending (resume).
    pub fn reopen(dir: &Dir) -> io::Result<Journal> {
        Ok(Journal { file: dir.open_file(FILE_NAME, Access::Append)? })
    }

    /// Appends one entry and makes it durable before returning.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        self.write(entry)?;
        self.file.sync_data()
    }

    /// Appends one entry, handed to the operating system but not synced:
    /// it survives `kill -9`, and the next [`Journal::append`] makes it
    /// durable too. (After a power cut it may be lost; resume then trusts
    /// only what the files hold, see `recover`.)
    pub fn write(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}
