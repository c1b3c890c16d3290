//! What reading finds out about the input as it goes: the encoding (which
//! can be decided after the first megabytes, at the first byte that is not
//! ASCII), the spreadsheet phone cells that were numbers, and the input's
//! size and SHA-256, complete once the last byte is read.
//!
//! Shared (an `Arc`), because the [`Source`](super::Source) moves to a
//! reader thread while the run needs these for its summary at the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use super::decode::EncodingUsed;

/// The input's size and SHA-256, computed from the bytes as read (the
/// compressed bytes of a `.gz`): a pipe is never read twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDigest {
    /// Bytes read.
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// What reading found out; see the module doc.
#[derive(Debug, Default)]
pub struct InputFacts {
    encoding: Mutex<Option<EncodingUsed>>,
    numeric_phone_cells: AtomicU64,
    digest: OnceLock<InputDigest>,
    /// The text is being decoded from another encoding, so U+FFFD in a
    /// value stands for bytes that were not valid in it. Read for every
    /// row, so an atomic rather than the encoding's lock.
    decoding: AtomicBool,
}

impl InputFacts {
    /// The text encoding used so far (`None` for a spreadsheet). A file
    /// that is ASCII for its first 64 KiB reads as UTF-8 until its first
    /// other byte decides; check again after the last row.
    pub fn encoding(&self) -> Option<EncodingUsed> {
        *self.encoding.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spreadsheet phone cells that held a number rather than text, so far.
    pub fn numeric_phone_cells(&self) -> u64 {
        self.numeric_phone_cells.load(Ordering::Relaxed)
    }

    /// Size and SHA-256 of the input, once it has been read to its end
    /// (`None` before, or when the read stopped early: `--limit`, an error).
    pub fn digest(&self) -> Option<InputDigest> {
        self.digest.get().cloned()
    }

    /// Whether the text is decoded from another encoding (see `decoding`).
    pub(super) fn decodes(&self) -> bool {
        self.decoding.load(Ordering::Relaxed)
    }

    pub(super) fn set_decoding(&self) {
        self.decoding.store(true, Ordering::Relaxed);
    }

    pub(super) fn set_encoding(&self, used: EncodingUsed) {
        *self.encoding.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(used);
    }

    /// Counts one numeric phone cell; true for the first one.
    pub(super) fn count_numeric_phone(&self) -> bool {
        self.numeric_phone_cells.fetch_add(1, Ordering::Relaxed) == 0
    }

    pub(super) fn set_digest(&self, digest: InputDigest) {
        let _ = self.digest.set(digest);
    }
}

/// Lower-case hex of a digest.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}
