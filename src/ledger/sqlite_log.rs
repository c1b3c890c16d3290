//! The SQLite store's log of answers: a run records a batch's answers (and
//! the leads it found in its input, "seen") as one row appended to
//! `leadctl_log`, a blob of records written in sequence, instead of one
//! upsert per key into the entries index (each on a random page of a large
//! B-tree: about one 4 KB page written to the WAL per key). The log is merged
//! into the entries in key order (a sorted bulk write, once per key) when a
//! run finds it long at its start, and before `leadctl ledger` reads or
//! changes the entries.
//!
//! What the ledger knows of a key is therefore its entry merged with the
//! records of the log after it, by the one rule (`merge.rs`, the same as
//! `schema::MERGE_SET`). Each store keeps where every record of every key
//! lies in the log ([`Log`]: about 20 bytes a record, its own and other
//! processes'), reading the rows appended since at the start of every
//! transaction that asks (so a claim sees what another run recorded a
//! moment before), and starting over when another process merged (the
//! `log_generation` in `leadctl_meta` moved). A key it is asked about is
//! read back from its records' rows.
//!
//! A record: the phone (8 bytes, little-endian), the outcome (as the
//! entries number it, 7 for "seen"), initialized (1 byte), the text's length
//! (2 bytes) and the text (the lead id of an acceptance, the reason of a
//! rejection).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::LedgerError;
use super::merge::{State, merge};
use super::sqlite::At;
use super::sqlite_sql::{self as sql, Ids};
use super::types::{KeyMap, Known, KnownColumns, Outcome, PhoneKey, RunRef, outcome_columns};

/// The record kind of a sighting (no outcome).
const SEEN: u8 = 7;

/// The meta key of the merge counter.
pub(super) const GENERATION_KEY: &str = "log_generation";

/// More records than this waiting in the log when a run starts: it merges
/// them first (about a microsecond a key), so that the folded log kept in
/// memory stays small (about 20 bytes a record).
pub(super) const MERGE_AT: i64 = 250_000;

/// A key and its scope as one number: the scope's slot above the phone's
/// 50 bits (E.164 has at most 15 digits: below 2^50).
type Packed = u64;

/// A record's place: its row's slot (in [`Log::rows`]) above its offset.
type Place = u64;

fn place(slot: usize, at: u32) -> Place {
    ((slot as u64) << 32) | u64::from(at)
}

type Keyed<V> = HashMap<Packed, V, std::hash::BuildHasherDefault<super::types::KeyHasher>>;

/// One record to append.
pub(super) struct Record<'a> {
    pub phone: PhoneKey,
    /// The outcome as the entries number it; `None` for a sighting.
    pub outcome: Option<i16>,
    pub initialized: bool,
    pub text: &'a str,
}

impl<'a> Record<'a> {
    pub(super) fn of(phone: PhoneKey, outcome: &'a Outcome) -> Record<'a> {
        let (number, lead_id, initialized, reason) = outcome_columns(outcome);
        Record {
            phone,
            outcome: Some(number),
            initialized: initialized.unwrap_or(false),
            text: lead_id.or(reason).unwrap_or(""),
        }
    }

    pub(super) fn seen(phone: PhoneKey) -> Record<'static> {
        Record { phone, outcome: None, initialized: false, text: "" }
    }
}

/// The body of a row, and where each record starts in it.
fn encode(records: &[Record<'_>]) -> (Vec<u8>, Vec<u32>) {
    let mut body = Vec::with_capacity(records.len() * 40);
    let mut offsets = Vec::with_capacity(records.len());
    for r in records {
        offsets.push(body.len() as u32);
        let text = &r.text.as_bytes()[..r.text.len().min(u16::MAX as usize)];
        body.extend_from_slice(&r.phone.to_db().to_le_bytes());
        body.push(r.outcome.map_or(SEEN, |o| o.clamp(0, 6) as u8));
        body.push(u8::from(r.initialized));
        body.extend_from_slice(&(text.len() as u16).to_le_bytes());
        body.extend_from_slice(text);
    }
    (body, offsets)
}

/// A decoded record: its phone, state (text as its offset), and the offset.
struct Decoded {
    phone: PhoneKey,
    outcome: Option<i16>,
    initialized: bool,
    /// Offset of the record in the body (its text is read from there).
    at: u32,
    has_text: bool,
}

/// The records of a body, or `None` when it is damaged.
fn decode(body: &[u8]) -> Option<Vec<Decoded>> {
    let mut out = Vec::with_capacity(body.len() / 36);
    let mut i = 0usize;
    while i < body.len() {
        let head = body.get(i..i + 12)?;
        let phone = PhoneKey::from_db(i64::from_le_bytes(head[..8].try_into().ok()?))?;
        let outcome = match head[8] {
            SEEN => None,
            n @ 0..=6 => Some(i16::from(n)),
            _ => return None,
        };
        let len = usize::from(u16::from_le_bytes([head[10], head[11]]));
        body.get(i + 12..i + 12 + len)?;
        out.push(Decoded { phone, outcome, initialized: head[9] == 1, at: u32::try_from(i).ok()?, has_text: len > 0 });
        i += 12 + len;
    }
    Some(out)
}

/// The text of the record at `at` in `body`.
fn text_at(body: &[u8], at: u32) -> Option<String> {
    let i = at as usize;
    let len = usize::from(u16::from_le_bytes([*body.get(i + 10)?, *body.get(i + 11)?]));
    Some(String::from_utf8_lossy(body.get(i + 12..i + 12 + len)?).into_owned())
}

/// What the record at `at` in `body` says.
struct Read {
    outcome: Option<i16>,
    initialized: bool,
    text: Option<String>,
}

fn record_at(body: &[u8], at: u32) -> Option<Read> {
    let i = at as usize;
    let head = body.get(i..i + 12)?;
    let outcome = match head[8] {
        SEEN => None,
        n @ 0..=6 => Some(i16::from(n)),
        _ => return None,
    };
    let text = text_at(body, at).filter(|t| !t.is_empty());
    Some(Read { outcome, initialized: head[9] == 1, text })
}

fn damaged(shown: &str) -> LedgerError {
    LedgerError::Corrupt { location: shown.to_owned(), detail: "a row of its log is damaged".into() }
}

/// The records of the rows this process appended (a whole run's answers:
/// up to millions), kept small: sorted runs of (key, place), 16 bytes a
/// record, merged as a binary counter merges (so there are few runs), behind
/// a Bloom filter (10 bits a record): a key never recorded, which is what a
/// run asks about, costs a few bit tests.
#[derive(Debug, Default)]
struct Own {
    bits: Vec<u64>,
    keys: usize,
    runs: Vec<Vec<(Packed, Place)>>,
}

impl Own {
    const PROBES: u64 = 7;

    fn probes(key: Packed, len_bits: u64) -> impl Iterator<Item = u64> {
        let h1 = (key ^ (key >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h2 = (key ^ (key >> 27)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) | 1;
        (0..Own::PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % len_bits)
    }

    fn set_bits(bits: &mut [u64], key: Packed) {
        let len = bits.len() as u64 * 64;
        for b in Own::probes(key, len) {
            bits[(b / 64) as usize] |= 1 << (b % 64);
        }
    }

    fn add(&mut self, mut batch: Vec<(Packed, Place)>) {
        self.keys += batch.len();
        if self.bits.len() * 64 < self.keys * 10 {
            // Twice the room, and every key set again.
            let words = (self.keys * 20).div_ceil(64).max(1024);
            self.bits = vec![0; words];
            for run in &self.runs {
                for (key, _) in run {
                    Own::set_bits(&mut self.bits, *key);
                }
            }
        }
        for (key, _) in &batch {
            Own::set_bits(&mut self.bits, *key);
        }
        batch.sort_unstable();
        self.runs.push(batch);
        while self.runs.len() >= 2 && self.runs[self.runs.len() - 1].len() >= self.runs[self.runs.len() - 2].len() {
            let (b, a) = (self.runs.pop().unwrap_or_default(), self.runs.pop().unwrap_or_default());
            let mut merged = Vec::with_capacity(a.len() + b.len());
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                if a[i] <= b[j] {
                    merged.push(a[i]);
                    i += 1;
                } else {
                    merged.push(b[j]);
                    j += 1;
                }
            }
            merged.extend_from_slice(&a[i..]);
            merged.extend_from_slice(&b[j..]);
            self.runs.push(merged);
        }
    }

    /// Where `key`'s records lie, in no order (appended to `out`).
    fn places(&self, key: Packed, out: &mut Vec<Place>) {
        if self.bits.is_empty() {
            return;
        }
        let len = self.bits.len() as u64 * 64;
        if !Own::probes(key, len).all(|b| self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0) {
            return;
        }
        for run in &self.runs {
            let from = run.partition_point(|(k, _)| *k < key);
            out.extend(run[from..].iter().take_while(|(k, _)| *k == key).map(|(_, at)| *at));
        }
    }
}

/// The log's records by key, as far as this process has read (or written)
/// it; see the module doc. Where each record is, not what it says (that is
/// read back from its row when a key is asked).
#[derive(Debug, Default)]
pub(super) struct Log {
    generation: i64,
    /// The highest log row id read (or appended by this process).
    high: i64,
    /// The rows read, by slot: id, recording run, time.
    rows: Vec<(i64, i64, i64)>,
    /// Rows other processes appended: each key's last record (few keys:
    /// the log is merged when a run finds it long).
    last: Keyed<Place>,
    /// Keys with more than one record there: all of them, in log order.
    more: Keyed<Vec<Place>>,
    /// This process's own rows.
    own: Own,
    /// Scope ids to the slots packed into keys.
    scopes: HashMap<i64, u64>,
    /// Whether a scope has merged entries (asked once per generation): a
    /// scope without any is not probed.
    has_entries: HashMap<i64, bool>,
}

impl Log {
    /// The slot a scope's keys are packed with (asked once per row or call).
    fn slot(&mut self, scope_id: i64) -> u64 {
        let next = self.scopes.len() as u64;
        *self.scopes.entry(scope_id).or_insert(next)
    }

    fn packed(slot: u64, phone: PhoneKey) -> Packed {
        (slot << 50) | phone.get()
    }

    fn note(&mut self, key: Packed, at: Place) {
        if let Some(before) = self.last.insert(key, at) {
            self.more.entry(key).or_insert_with(|| vec![before]).push(at);
        }
    }

    /// Reads what was appended since the last call; after a merge elsewhere,
    /// starts over from what is left.
    pub(super) fn refresh(&mut self, conn: &Connection, shown: &str) -> Result<(), LedgerError> {
        let generation = generation(conn, shown)?;
        if generation != self.generation {
            *self = Log { generation, ..Log::default() };
        }
        let sql = "SELECT id, scope_id, run_id, at, body FROM leadctl_log WHERE id > ?1 ORDER BY id";
        let mut stmt = conn.prepare_cached(sql).at(shown)?;
        let mut rows = stmt.query([self.high]).at(shown)?;
        while let Some(row) = rows.next().at(shown)? {
            let (id, scope_id, run_id, at): (i64, i64, i64, i64) =
                (row.get(0).at(shown)?, row.get(1).at(shown)?, row.get(2).at(shown)?, row.get(3).at(shown)?);
            let body = row.get_ref(4).at(shown)?.as_blob().map_err(|_| damaged(shown))?;
            let slot = self.rows.len();
            self.rows.push((id, run_id, at));
            let scope = self.slot(scope_id);
            for d in decode(body).ok_or_else(|| damaged(shown))? {
                let key = Log::packed(scope, d.phone);
                self.note(key, place(slot, d.at));
            }
            self.high = id;
        }
        Ok(())
    }

    /// Appends one row of records (in the caller's write transaction, after
    /// a [`Log::refresh`] in it: the row is then the next).
    pub(super) fn append(
        &mut self,
        conn: &Connection,
        scope_id: i64,
        run_id: i64,
        at: i64,
        records: &[Record<'_>],
        shown: &str,
    ) -> Result<(), LedgerError> {
        if records.is_empty() {
            return Ok(());
        }
        let (body, offsets) = encode(records);
        let sql = "INSERT INTO leadctl_log (scope_id, run_id, at, n, body) VALUES (?1, ?2, ?3, ?4, ?5)";
        let args = params![scope_id, run_id, at, records.len() as i64, body];
        conn.prepare_cached(sql).at(shown)?.execute(args).at(shown)?;
        let id = conn.last_insert_rowid();
        if id != self.high + 1 {
            // Rows this process has not read lie between: read them all.
            return self.refresh(conn, shown);
        }
        let slot = self.rows.len();
        self.rows.push((id, run_id, at));
        let scope = self.slot(scope_id);
        self.own
            .add(records.iter().zip(offsets).map(|(r, off)| (Log::packed(scope, r.phone), place(slot, off))).collect());
        self.high = id;
        Ok(())
    }

    /// Whether the scope has merged entries (a scope without any, as in a
    /// ledger that only has a log yet, is not probed).
    pub(super) fn scope_has_entries(
        &mut self,
        conn: &Connection,
        scope_id: i64,
        shown: &str,
    ) -> Result<bool, LedgerError> {
        if let Some(has) = self.has_entries.get(&scope_id) {
            return Ok(*has);
        }
        let sql = "SELECT EXISTS (SELECT 1 FROM leadctl_entries WHERE scope_id = ?1)";
        let has: bool = conn.prepare_cached(sql).at(shown)?.query_row([scope_id], |r| r.get(0)).at(shown)?;
        self.has_entries.insert(scope_id, has);
        Ok(has)
    }

    /// What the ledger knows of `keys` of a scope: the entries, merged with
    /// the log's records after them.
    pub(super) fn known(
        &mut self,
        conn: &Connection,
        ids: &mut Ids,
        scope_id: i64,
        keys: &[PhoneKey],
        shown: &str,
    ) -> Result<KeyMap<Known>, LedgerError> {
        let mut found = if self.scope_has_entries(conn, scope_id, shown)? {
            sql::known_keys(conn, ids, scope_id, keys, shown)?
        } else {
            KeyMap::default()
        };
        if self.last.is_empty() && self.own.keys == 0 {
            return Ok(found);
        }
        let mut bodies: HashMap<usize, Vec<u8>> = HashMap::new();
        let scope = self.slot(scope_id);
        for key in keys {
            let packed = Log::packed(scope, *key);
            let mut places: Vec<Place> = match (self.more.get(&packed), self.last.get(&packed)) {
                (Some(all), _) => all.clone(),
                (None, Some(one)) => vec![*one],
                (None, None) => Vec::new(),
            };
            self.own.places(packed, &mut places);
            if places.is_empty() {
                continue;
            }
            // In log order: rows by slot, records by offset.
            places.sort_unstable();
            let mut state = found.get(key).map(state_of);
            for at in places {
                let slot = (at >> 32) as usize;
                let (row, run_id, when) = *self.rows.get(slot).ok_or_else(|| damaged(shown))?;
                let body = match bodies.entry(slot) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(body_of(conn, row, shown)?),
                };
                let record = record_at(body, at as u32).ok_or_else(|| damaged(shown))?;
                let logged = State {
                    outcome: record.outcome,
                    initialized: record.initialized,
                    text: record.text,
                    run: sql::run_ref(conn, ids, run_id, shown)?,
                    first_seen: when,
                    last_seen: when,
                };
                state = merge(state.as_ref(), &logged).or(state);
            }
            match state {
                Some(s) if s.outcome.is_some() => {
                    found.insert(*key, known_of(s, shown)?);
                }
                _ => {
                    found.remove(key);
                }
            }
        }
        Ok(found)
    }
}

/// The body of a log row.
fn body_of(conn: &Connection, row: i64, shown: &str) -> Result<Vec<u8>, LedgerError> {
    let sql = "SELECT body FROM leadctl_log WHERE id = ?1";
    let body: Option<Vec<u8>> =
        conn.prepare_cached(sql).at(shown)?.query_row([row], |r| r.get(0)).optional().at(shown)?;
    body.ok_or_else(|| damaged(shown))
}

/// The merge counter: moved by every merge.
fn generation(conn: &Connection, shown: &str) -> Result<i64, LedgerError> {
    let sql = "SELECT value FROM leadctl_meta WHERE key = ?1";
    let text: Option<String> =
        conn.prepare_cached(sql).at(shown)?.query_row([GENERATION_KEY], |r| r.get(0)).optional().at(shown)?;
    Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
}

fn state_of(k: &Known) -> State<String, Arc<RunRef>> {
    let (outcome, lead_id, initialized, reason) = outcome_columns(&k.outcome);
    State {
        outcome: Some(outcome),
        initialized: initialized.unwrap_or(false),
        text: lead_id.or(reason).map(str::to_owned),
        run: Arc::clone(&k.recorded_by),
        first_seen: super::types::to_millis(k.first_seen),
        last_seen: super::types::to_millis(k.last_seen),
    }
}

fn known_of(s: State<String, Arc<RunRef>>, shown: &str) -> Result<Known, LedgerError> {
    let accepted = s.outcome == Some(0);
    let columns = KnownColumns {
        outcome: i64::from(s.outcome.unwrap_or(-1)),
        lead_id: if accepted { s.text.clone() } else { None },
        initialized: Some(s.initialized),
        reason: if accepted { None } else { s.text },
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        run_id: 0,
    };
    columns.into_known(s.run, shown)
}

/// How many records wait in the log.
pub(super) fn pending(conn: &Connection, shown: &str) -> Result<i64, LedgerError> {
    conn.query_row("SELECT COALESCE(sum(n), 0) FROM leadctl_log", [], |r| r.get(0)).at(shown)
}

/// Records merged in one transaction at most: the fold of a segment is held
/// in memory (about 100 bytes a record), so a log of millions is merged in
/// bounded memory, segment after segment.
pub(super) const MERGE_SEGMENT: i64 = 100_000;

/// Merges the oldest segment of the log (at least one row, about
/// [`MERGE_SEGMENT`] records) into the entries, in key order, in the caller's
/// write transaction; returns how many records it took (0: the log is
/// empty). Each key's records are folded by the rule first, then upserted
/// with `MERGE_SET` (the same rule), so the entries end as if every record
/// had been upserted in turn; a later segment continues from there.
pub(super) fn merge_segment(conn: &Connection, upsert: &str, shown: &str) -> Result<u64, LedgerError> {
    let mut folded: HashMap<(i64, PhoneKey), State<(i64, u32), i64>> = HashMap::new();
    let mut bodies: HashMap<i64, Vec<u8>> = HashMap::new();
    let mut last = 0i64;
    let mut taken = 0i64;
    {
        let sql = "SELECT id, scope_id, run_id, at, n, body FROM leadctl_log ORDER BY id";
        let mut stmt = conn.prepare(sql).at(shown)?;
        let mut rows = stmt.query([]).at(shown)?;
        while taken < MERGE_SEGMENT {
            let Some(row) = rows.next().at(shown)? else { break };
            let (id, scope_id, run_id, at): (i64, i64, i64, i64) =
                (row.get(0).at(shown)?, row.get(1).at(shown)?, row.get(2).at(shown)?, row.get(3).at(shown)?);
            taken += row.get::<_, i64>(4).at(shown)?.max(1);
            let body: Vec<u8> = row.get(5).at(shown)?;
            for d in decode(&body).ok_or_else(|| damaged(shown))? {
                let state = State {
                    outcome: d.outcome,
                    initialized: d.initialized,
                    text: d.has_text.then_some((id, d.at)),
                    run: run_id,
                    first_seen: at,
                    last_seen: at,
                };
                let key = (scope_id, d.phone);
                let merged = merge(folded.get(&key), &state).unwrap_or(State { outcome: None, ..state });
                folded.insert(key, merged);
            }
            bodies.insert(id, body);
            last = id;
        }
    }
    if last == 0 {
        return Ok(0);
    }
    let mut keys: Vec<_> = folded.into_iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let mut upsert = conn.prepare_cached(upsert).at(shown)?;
    let seen_sql = "UPDATE leadctl_entries SET last_seen = max(last_seen, ?3) WHERE scope_id = ?1 AND phone = ?2";
    let mut seen = conn.prepare_cached(seen_sql).at(shown)?;
    for ((scope_id, phone), s) in keys {
        let Some(outcome) = s.outcome else {
            seen.execute(params![scope_id, phone.to_db(), s.last_seen]).at(shown)?;
            continue;
        };
        let text = s.text.and_then(|(row, at)| bodies.get(&row).and_then(|b| text_at(b, at)));
        let (lead_id, reason) = if outcome == 0 { (text, None) } else { (None, text) };
        let initialized = (outcome == 0).then_some(s.initialized);
        let row =
            params![scope_id, phone.to_db(), outcome, lead_id, initialized, reason, s.run, s.first_seen, s.last_seen];
        upsert.execute(row).at(shown)?;
    }
    conn.execute("DELETE FROM leadctl_log WHERE id <= ?1", [last]).at(shown)?;
    let sql = "INSERT INTO leadctl_meta (key, value) VALUES (?1, '1') \
               ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)";
    conn.execute(sql, [GENERATION_KEY]).at(shown)?;
    Ok(taken as u64)
}
