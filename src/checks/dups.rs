//! The in-file duplicate memory: every lead sent so far as a 64-bit key
//! with the line of its row, and no strings.
//!
//! Keys are exact for (process, phone) pairs (see [`Interner`]) and a
//! 64-bit hash for `--existing` lead ids; [`DupTable`] holds them in about
//! 12.5 bytes each, sharded so the memory grows in small steps.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The key of an `--existing` lead id: SipHash-1-3 with fixed keys, stable
/// within a run (resume replays in the same process). Two different ids
/// share a key with probability about n²/2^65 for n ids (about 7e-7 at 5
/// million); the later would then be reported as `duplicate_in_file`.
pub(super) fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Process ids as small integers, for exact duplicate keys.
///
/// A duplicate key is `index << 50 | phone key`: the phone key is at most
/// 15 decimal digits (< 2^50), so an index below 2^14 makes the key exact.
/// Past 16,384 distinct processes (no real file has that many) the key of
/// the further processes is a 64-bit SipHash of (process, phone) instead:
/// two different leads then share a key with probability about n²/2^65 for
/// n leads (about 7e-7 at 5 million), and the later would be reported as a
/// duplicate.
#[derive(Default)]
pub(super) struct Interner {
    index: HashMap<String, usize>,
    names: Vec<String>,
    /// The last index returned: rows of one process usually come together.
    last: usize,
}

impl Interner {
    pub(super) const EXACT: usize = 1 << 14;

    /// The exact duplicate key of (process, phone), or the hashed one past
    /// [`Interner::EXACT`] processes.
    pub(super) fn key(&mut self, process: &str, phone: u64) -> u64 {
        match self.index(process) {
            Some(index) => (index << 50) | phone,
            None => {
                let mut h = DefaultHasher::new();
                (process, phone).hash(&mut h);
                h.finish()
            }
        }
    }

    fn index(&mut self, process: &str) -> Option<u64> {
        if self.names.get(self.last).is_some_and(|n| n == process) {
            return Some(self.last as u64);
        }
        // A handful of processes (the usual case): comparing beats hashing.
        let found = if self.names.len() <= 8 {
            self.names.iter().position(|n| n == process)
        } else {
            self.index.get(process).copied()
        };
        let i = match found {
            Some(i) => i,
            None if self.names.len() < Self::EXACT => {
                self.names.push(process.to_owned());
                self.index.insert(process.to_owned(), self.names.len() - 1);
                self.names.len() - 1
            }
            None => return None,
        };
        self.last = i;
        Some(i as u64)
    }
}

/// An insert-only set of 64-bit keys with the line of each key's first row.
///
/// A key is first mixed by a bijection (splitmix64's finalizer), so the
/// mixed value stands for the key exactly. Its top 16 bits choose one of
/// 65,536 shards; a shard is a vector sorted by the other 48 bits, each
/// entry packed in 10 bytes (48 bits of key, 32 bits of line). Vectors
/// grow by a quarter, so they are at least 80% full: about 12.5 bytes a key
/// plus the allocator's rounding (measured: under 14 at 1 and 5 million
/// keys, against 22 for a hash table of 12-byte entries). Shards stay
/// small (about 80 entries at 5 million keys), so an insert moves a few
/// hundred bytes and growing never copies more than one shard.
pub(super) struct DupTable {
    shards: Box<[Vec<Entry>]>,
}

/// 48 bits of mixed key and a 32-bit line, in five `u16`s (10 bytes).
#[derive(Debug, Clone, Copy)]
struct Entry([u16; 5]);

impl Entry {
    fn new(rest: u64, line: u32) -> Entry {
        Entry([rest as u16, (rest >> 16) as u16, (rest >> 32) as u16, line as u16, (line >> 16) as u16])
    }
    fn rest(self) -> u64 {
        u64::from(self.0[0]) | (u64::from(self.0[1]) << 16) | (u64::from(self.0[2]) << 32)
    }
    fn line(self) -> u32 {
        u32::from(self.0[3]) | (u32::from(self.0[4]) << 16)
    }
}

impl Default for DupTable {
    fn default() -> DupTable {
        DupTable { shards: (0..Self::SHARDS).map(|_| Vec::new()).collect() }
    }
}

impl DupTable {
    const SHARDS: usize = 1 << 16;

    /// splitmix64's finalizer: a bijection in which every key bit moves
    /// every hash bit.
    fn mix(key: u64) -> u64 {
        let mut z = key;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The shard and the 48 bits kept in it.
    fn split(key: u64) -> (usize, u64) {
        let h = Self::mix(key);
        ((h >> 48) as usize, h & 0xffff_ffff_ffff)
    }

    /// Loads the cache lines a later [`DupTable::first_or_insert`] of `key`
    /// reads first (the shard's vector, then the entry its search starts
    /// at). The shards are spread over the heap, so each key costs two or
    /// three cache misses; touching a chunk's keys in one pass beforehand
    /// lets the processor wait for them together instead of one by one
    /// (measured on `validate` of 1M rows: the table's share of the CPU
    /// samples fell from 12.5% to 7.6%, this pass included; CPU -7%).
    pub(super) fn touch(&self, key: u64) {
        let (shard, _) = Self::split(key);
        let v = &self.shards[shard];
        std::hint::black_box(v.get(v.len() / 2).map(|e| e.0[0]));
    }

    pub(super) fn get(&self, key: u64) -> Option<u32> {
        let (shard, rest) = Self::split(key);
        let v = &self.shards[shard];
        v.binary_search_by_key(&rest, |e| e.rest()).ok().map(|i| v[i].line())
    }

    /// The line of `key`'s first row if it is known; else `None`, after
    /// remembering `key` at `line` when `insert`.
    pub(super) fn first_or_insert(&mut self, key: u64, line: u32, insert: bool) -> Option<u32> {
        let (shard, rest) = Self::split(key);
        let v = &mut self.shards[shard];
        match v.binary_search_by_key(&rest, |e| e.rest()) {
            Ok(i) => Some(v[i].line()),
            Err(i) => {
                if insert {
                    if v.len() == v.capacity() {
                        v.reserve_exact((v.len() / 4).max(4));
                    }
                    v.insert(i, Entry::new(rest, line));
                }
                None
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }

    /// Bytes held by the entries (capacity), not counting the allocator's rounding.
    #[cfg(test)]
    pub(super) fn allocation_size(&self) -> usize {
        self.shards.iter().map(|v| v.capacity() * std::mem::size_of::<Entry>()).sum::<usize>()
            + self.shards.len() * std::mem::size_of::<Vec<Entry>>()
    }
}
