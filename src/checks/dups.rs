//! The in-file duplicate memory: every lead sent so far as a 64-bit key
//! with the line of its row, and no strings.
//!
//! Keys are exact for (process, phone) pairs (see [`Interner`]) and a
//! 64-bit hash for `--existing` lead ids; [`DupTable`] holds them in 12
//! bytes each, sharded so the memory grows in small steps.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use hashbrown::HashTable;

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
/// Entries are packed `[u32; 3]` (key low, key high, line): 12 bytes, plus
/// hashbrown's 1 control byte per bucket, at a load between 7/16 and 7/8:
/// 15 to 30 bytes per key, about 22 at 5 million keys (≈ 109 MB for the
/// 2^23 buckets that 5 million keys need). The table is split in 256 shards
/// chosen by middle bits of a mixed hash, so growing never reallocates (and
/// briefly doubles) one huge table: a resize copies 1/256 of it.
pub(super) struct DupTable {
    shards: Box<[HashTable<[u32; 3]>]>,
}

impl Default for DupTable {
    fn default() -> DupTable {
        DupTable { shards: (0..Self::SHARDS).map(|_| HashTable::new()).collect() }
    }
}

impl DupTable {
    const SHARDS: usize = 256;

    /// splitmix64's finalizer: every key bit moves every hash bit.
    fn mix(key: u64) -> u64 {
        let mut z = key;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn key_of(entry: &[u32; 3]) -> u64 {
        u64::from(entry[0]) | (u64::from(entry[1]) << 32)
    }

    /// Bits 32..40: independent of the low bits hashbrown indexes buckets
    /// with (a shard holds far fewer than 2^32 buckets) and of its top 7.
    fn shard(hash: u64) -> usize {
        (hash >> 32) as usize & (Self::SHARDS - 1)
    }

    pub(super) fn get(&self, key: u64) -> Option<u32> {
        let hash = Self::mix(key);
        self.shards[Self::shard(hash)].find(hash, |e| Self::key_of(e) == key).map(|e| e[2])
    }

    /// The line of `key`'s first row if it is known; else `None`, after
    /// remembering `key` at `line` when `insert`.
    pub(super) fn first_or_insert(&mut self, key: u64, line: u32, insert: bool) -> Option<u32> {
        let hash = Self::mix(key);
        let shard = &mut self.shards[Self::shard(hash)];
        match shard.entry(hash, |e| Self::key_of(e) == key, |e| Self::mix(Self::key_of(e))) {
            hashbrown::hash_table::Entry::Occupied(e) => Some(e.get()[2]),
            hashbrown::hash_table::Entry::Vacant(e) => {
                if insert {
                    e.insert([key as u32, (key >> 32) as u32, line]);
                }
                None
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashTable::len).sum()
    }

    #[cfg(test)]
    pub(super) fn allocation_size(&self) -> usize {
        self.shards.iter().map(HashTable::allocation_size).sum()
    }
}
