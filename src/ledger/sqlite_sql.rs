//! The SQLite store's statements: ids of scopes, runs and claimants, the
//! claim primitives, and the reads behind lookup, stats and export.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::claims::{self, ClaimRow, ClaimTx, ProcessStamp};
use super::sqlite::At;
use super::types::{
    Entry, Holder, KeyMap, Known, KnownColumns, OutcomeKind, PhoneKey, RunRef, Scope, Stats, StatsGroup, from_millis,
};
use super::{Claimant, LedgerError};

/// Ids of scopes and runs this store has seen, and the runs by id. Neither
/// is ever deleted, so an id stays valid once its transaction committed.
#[derive(Debug, Default)]
pub(super) struct Ids {
    scopes: HashMap<Scope, i64>,
    runs: HashMap<RunRef, i64>,
    run_refs: HashMap<i64, Arc<RunRef>>,
}

/// Entries per export page.
const PAGE: i64 = 10_000;

/// Statements that drop the claims of claimants whose lease ended before
/// `?1`, then such claimants (their run rows stay: entries name them).
pub(super) const PRUNE_CLAIMS: [&str; 2] = [
    "DELETE FROM leadctl_claims WHERE claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < ?1)",
    "DELETE FROM leadctl_claimants WHERE lease_until < ?1 AND id NOT IN (SELECT claimant_id FROM leadctl_claims)",
];

/// A batch of keys as one `rarray()` parameter.
pub(super) fn key_array(keys: &[PhoneKey]) -> Rc<Vec<Value>> {
    Rc::new(keys.iter().map(|k| Value::Integer(k.to_db())).collect())
}

/// Every scope with its id (few: one per API, project and process).
pub(super) fn scopes(conn: &Connection, shown: &str) -> Result<Vec<(i64, Scope)>, LedgerError> {
    let mut stmt = conn.prepare_cached("SELECT id, api_url, project, process FROM leadctl_scopes").at(shown)?;
    let rows = stmt.query_map([], |r| {
        // As stored: a migration compares the stored spelling with the normal form.
        Ok((r.get(0)?, Scope { api_url: r.get(1)?, project: r.get(2)?, process: r.get(3)? }))
    });
    rows.at(shown)?.collect::<rusqlite::Result<_>>().at(shown)
}

/// Every claim row of a scope, with its keys.
pub(super) fn scope_claims(
    conn: &Connection,
    scope_id: i64,
    shown: &str,
) -> Result<Vec<(i64, Vec<PhoneKey>)>, LedgerError> {
    let mut stmt = conn.prepare_cached("SELECT id, keys FROM leadctl_claims WHERE scope_id = ?1").at(shown)?;
    let mut rows = stmt.query([scope_id]).at(shown)?;
    let mut all = Vec::new();
    while let Some(row) = rows.next().at(shown)? {
        let blob: Vec<u8> = row.get(1).at(shown)?;
        all.push((row.get(0).at(shown)?, claims::decode_keys(&blob).ok_or_else(|| damaged_claim(shown))?));
    }
    Ok(all)
}

/// The scope's id; created when `create`, else `None` for a scope never seen.
pub(super) fn scope_id(
    conn: &Connection,
    ids: &mut Ids,
    scope: &Scope,
    create: bool,
    shown: &str,
) -> Result<Option<i64>, LedgerError> {
    if let Some(id) = ids.scopes.get(scope) {
        return Ok(Some(*id));
    }
    let args = params![scope.api_url, scope.project, scope.process];
    let id: Option<i64> = if create {
        let sql = "INSERT INTO leadctl_scopes (api_url, project, process) VALUES (?1, ?2, ?3) \
                   ON CONFLICT (api_url, project, process) DO UPDATE SET api_url = excluded.api_url RETURNING id";
        Some(conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).at(shown)?)
    } else {
        let sql = "SELECT id FROM leadctl_scopes WHERE api_url = ?1 AND project = ?2 AND process = ?3";
        conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).optional().at(shown)?
    };
    if let Some(id) = id {
        ids.scopes.insert(scope.clone(), id);
    }
    Ok(id)
}

/// The run's id, created on first use.
pub(super) fn run_id(conn: &Connection, ids: &mut Ids, run: &RunRef, shown: &str) -> Result<i64, LedgerError> {
    if let Some(id) = ids.runs.get(run) {
        return Ok(*id);
    }
    let sql = "INSERT INTO leadctl_runs (run, host) VALUES (?1, ?2) \
               ON CONFLICT (run, host) DO UPDATE SET run = excluded.run RETURNING id";
    let id: i64 = conn.prepare_cached(sql).at(shown)?.query_row(params![run.run, run.host], |r| r.get(0)).at(shown)?;
    ids.runs.insert(run.clone(), id);
    Ok(id)
}

/// The run behind an id, read once per store.
pub(super) fn run_ref(conn: &Connection, ids: &mut Ids, id: i64, shown: &str) -> Result<Arc<RunRef>, LedgerError> {
    if let Some(run) = ids.run_refs.get(&id) {
        return Ok(run.clone());
    }
    let sql = "SELECT run, host FROM leadctl_runs WHERE id = ?1";
    let found = conn
        .prepare_cached(sql)
        .at(shown)?
        .query_row([id], |r| Ok(RunRef { run: r.get(0)?, host: r.get(1)? }))
        .optional()
        .at(shown)?;
    let run = Arc::new(found.unwrap_or(RunRef { run: String::new(), host: String::new() }));
    ids.run_refs.insert(id, run.clone());
    Ok(run)
}

/// The claimant's id if it ever claimed here.
pub(super) fn claimant_id(conn: &Connection, claimant: &Claimant, shown: &str) -> Result<Option<i64>, LedgerError> {
    let sql = "SELECT c.id FROM leadctl_claimants c JOIN leadctl_runs r ON r.id = c.run_id \
               WHERE r.run = ?1 AND r.host = ?2 AND c.pid = ?3 AND c.stamp = ?4";
    let stamp = ProcessStamp::encode(claimant.stamp.as_ref());
    let args = params![claimant.run.run, claimant.run.host, claimant.pid, stamp];
    conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).optional().at(shown)
}

/// Registers the claimant (or finds it) and extends its lease; returns its
/// id. A claimant whose lease ran out while it held claims is not revived
/// (another run may have taken them): `Lapsed`.
pub(super) fn upsert_claimant(
    conn: &Connection,
    run_id: i64,
    claimant: &Claimant,
    lease_until: i64,
    now: i64,
    shown: &str,
) -> Result<i64, LedgerError> {
    let sql = "SELECT c.lease_until, EXISTS (SELECT 1 FROM leadctl_claims WHERE claimant_id = c.id) \
               FROM leadctl_claimants c WHERE c.run_id = ?1 AND c.pid = ?2 AND c.stamp = ?3";
    let stamp = ProcessStamp::encode(claimant.stamp.as_ref());
    let before: Option<(i64, bool)> = conn
        .prepare_cached(sql)
        .at(shown)?
        .query_row(params![run_id, claimant.pid, stamp], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .at(shown)?;
    if before.is_some_and(|(until, holds)| holds && until <= now) {
        return Err(LedgerError::Lapsed { location: shown.to_owned() });
    }
    let sql = "INSERT INTO leadctl_claimants (run_id, pid, stamp, lease_until) VALUES (?1, ?2, ?3, ?4) \
               ON CONFLICT (run_id, pid, stamp) DO UPDATE SET lease_until = max(lease_until, excluded.lease_until) \
               RETURNING id";
    let args = params![run_id, claimant.pid, stamp, lease_until];
    conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).at(shown)
}

/// How many keys the claimant's claim rows hold.
pub(super) fn claimed_count(conn: &Connection, claimant: &Claimant, shown: &str) -> Result<u64, LedgerError> {
    let Some(me) = claimant_id(conn, claimant, shown)? else { return Ok(0) };
    let sql = "SELECT COALESCE(sum(length(keys)), 0) / 8 FROM leadctl_claims WHERE claimant_id = ?1";
    let n: i64 = conn.prepare_cached(sql).at(shown)?.query_row([me], |r| r.get(0)).at(shown)?;
    Ok(n as u64)
}

/// Reads the entry columns from column `at` on.
fn known_columns(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<KnownColumns> {
    Ok(KnownColumns {
        outcome: row.get(at)?,
        lead_id: row.get(at + 1)?,
        initialized: row.get(at + 2)?,
        reason: row.get(at + 3)?,
        first_seen: row.get(at + 4)?,
        last_seen: row.get(at + 5)?,
        run_id: row.get(at + 6)?,
    })
}

/// The recorded keys of one scope among `keys`.
pub(super) fn known_keys(
    conn: &Connection,
    ids: &mut Ids,
    scope_id: i64,
    keys: &[PhoneKey],
    shown: &str,
) -> Result<KeyMap<Known>, LedgerError> {
    let sql = "SELECT phone, outcome, lead_id, initialized, reason, first_seen, last_seen, run_id \
               FROM leadctl_entries WHERE scope_id = ?1 AND phone IN rarray(?2)";
    let mut stmt = conn.prepare_cached(sql).at(shown)?;
    let mut rows = stmt.query(params![scope_id, key_array(keys)]).at(shown)?;
    let mut found = KeyMap::with_capacity_and_hasher(keys.len(), Default::default());
    while let Some(row) = rows.next().at(shown)? {
        if let Some(phone) = PhoneKey::from_db(row.get(0).at(shown)?) {
            let columns = known_columns(row, 1).at(shown)?;
            let run = run_ref(conn, ids, columns.run_id, shown)?;
            found.insert(phone, columns.into_known(run, shown)?);
        }
    }
    Ok(found)
}

fn damaged_claim(shown: &str) -> LedgerError {
    LedgerError::Corrupt { location: shown.to_owned(), detail: "a claim holds keys that are no phone numbers".into() }
}

/// Replaces a claim row's keys, deleting the row when none are left.
pub(super) fn rewrite_claim(conn: &Connection, id: i64, keys: &[PhoneKey], shown: &str) -> Result<(), LedgerError> {
    if keys.is_empty() {
        conn.prepare_cached("DELETE FROM leadctl_claims WHERE id = ?1").at(shown)?.execute([id]).at(shown)?;
    } else {
        let sql = "UPDATE leadctl_claims SET keys = ?2 WHERE id = ?1";
        conn.prepare_cached(sql).at(shown)?.execute(params![id, claims::encode_keys(keys)]).at(shown)?;
    }
    Ok(())
}

/// Removes `keys` from the claimant's claims in the scope; returns how many
/// went. The claimant's rows are read oldest first, and only until every
/// key is found: a run claims and answers leads in the order it read them,
/// so a batch's keys lie in its oldest row or two, however many rows it
/// holds (thousands of keys in flight).
pub(super) fn release_own(
    conn: &Connection,
    scope_id: i64,
    keys: &[PhoneKey],
    claimant: &Claimant,
    shown: &str,
) -> Result<u64, LedgerError> {
    let Some(me) = claimant_id(conn, claimant, shown)? else { return Ok(0) };
    let mut left: Vec<PhoneKey> = keys.to_vec();
    left.sort_unstable();
    left.dedup();
    let mut removed = 0;
    let mut changed = Vec::new();
    {
        let sql = "SELECT id, keys FROM leadctl_claims WHERE scope_id = ?1 AND claimant_id = ?2 ORDER BY id";
        let mut stmt = conn.prepare_cached(sql).at(shown)?;
        let mut rows = stmt.query([scope_id, me]).at(shown)?;
        while !left.is_empty() {
            let Some(row) = rows.next().at(shown)? else { break };
            let id: i64 = row.get(0).at(shown)?;
            let held = claims::decode_keys(row.get_ref(1).at(shown)?.as_blob().map_err(|_| damaged_claim(shown))?)
                .ok_or_else(|| damaged_claim(shown))?;
            let mut found = Vec::new();
            let rest: Vec<PhoneKey> = held
                .into_iter()
                .filter(|k| {
                    let ours = left.binary_search(k).is_ok();
                    if ours {
                        found.push(*k);
                    }
                    !ours
                })
                .collect();
            if !found.is_empty() {
                removed += found.len() as u64;
                found.sort_unstable();
                // Found here: not looked for further.
                left.retain(|k| found.binary_search(k).is_err());
                changed.push((id, rest));
            }
        }
    }
    for (id, rest) in changed {
        rewrite_claim(conn, id, &rest, shown)?;
    }
    Ok(removed)
}

/// SQLite's side of the shared claim algorithm, inside a `BEGIN IMMEDIATE`.
pub(super) struct SqliteClaim<'a> {
    pub conn: &'a Connection,
    pub ids: &'a mut Ids,
    /// The log, read up to date in this transaction.
    pub log: &'a mut super::sqlite_log::Log,
    pub scope_id: i64,
    pub me: i64,
    pub shown: &'a str,
}

impl ClaimTx for SqliteClaim<'_> {
    fn claim_rows(&mut self) -> Result<Vec<ClaimRow>, LedgerError> {
        let sql = "SELECT c.id, c.claimant_id, c.keys, cl.pid, cl.stamp, cl.lease_until, r.run, r.host \
                   FROM leadctl_claims c LEFT JOIN leadctl_claimants cl ON cl.id = c.claimant_id \
                   LEFT JOIN leadctl_runs r ON r.id = cl.run_id WHERE c.scope_id = ?1 AND c.claimant_id != ?2";
        let shown = self.shown;
        let mut stmt = self.conn.prepare_cached(sql).at(shown)?;
        let mut rows = stmt.query([self.scope_id, self.me]).at(shown)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().at(shown)? {
            let blob: Vec<u8> = row.get(2).at(shown)?;
            found.push(ClaimRow {
                id: row.get(0).at(shown)?,
                claimant_id: row.get(1).at(shown)?,
                keys: claims::decode_keys(&blob).ok_or_else(|| damaged_claim(shown))?,
                holder: Holder {
                    run: RunRef {
                        run: row.get::<_, Option<String>>(6).at(shown)?.unwrap_or_default(),
                        host: row.get::<_, Option<String>>(7).at(shown)?.unwrap_or_default(),
                    },
                    pid: row.get::<_, Option<u32>>(3).at(shown)?.unwrap_or(0),
                },
                stamp: row.get::<_, Option<String>>(4).at(shown)?.as_deref().and_then(ProcessStamp::decode),
                lease_until_ms: row.get::<_, Option<i64>>(5).at(shown)?.unwrap_or(i64::MIN),
            });
        }
        Ok(found)
    }

    fn known(&mut self, keys: &[PhoneKey]) -> Result<KeyMap<Known>, LedgerError> {
        self.log.known(self.conn, self.ids, self.scope_id, keys, self.shown)
    }

    fn insert_claim(&mut self, keys: &[PhoneKey]) -> Result<(), LedgerError> {
        let sql = "INSERT INTO leadctl_claims (scope_id, claimant_id, keys) VALUES (?1, ?2, ?3)";
        let args = params![self.scope_id, self.me, claims::encode_keys(keys)];
        self.conn.prepare_cached(sql).at(self.shown)?.execute(args).at(self.shown)?;
        Ok(())
    }

    fn rewrite_claim(&mut self, id: i64, keys: &[PhoneKey]) -> Result<(), LedgerError> {
        rewrite_claim(self.conn, id, keys, self.shown)
    }
}

/// Counts by scope and outcome; the caller adds the size on disk.
pub(super) fn stats(conn: &Connection, shown: &str) -> Result<Stats, LedgerError> {
    let sql = "SELECT s.api_url, s.project, s.process, e.outcome, count(*), min(e.first_seen), max(e.last_seen) \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id GROUP BY e.scope_id, e.outcome";
    let mut stmt = conn.prepare(sql).at(shown)?;
    let mut rows = stmt.query([]).at(shown)?;
    let mut groups = Vec::new();
    while let Some(row) = rows.next().at(shown)? {
        let code: i64 = row.get(3).at(shown)?;
        let outcome = OutcomeKind::from_db(code).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("entries have outcome {code}, which no leadctl writes"),
        })?;
        let text = |i| row.get::<_, String>(i).at(shown);
        groups.push(StatsGroup {
            scope: Scope::new(text(0)?, text(1)?, text(2)?),
            outcome,
            count: row.get::<_, i64>(4).at(shown)? as u64,
            oldest: from_millis(row.get(5).at(shown)?),
            newest: from_millis(row.get(6).at(shown)?),
        });
    }
    let sql = "SELECT COALESCE(sum(length(keys)), 0) / 8 FROM leadctl_claims";
    let claims: i64 = conn.query_row(sql, [], |r| r.get(0)).at(shown)?;
    Ok(Stats::from_groups(shown, groups, claims as u64))
}

/// One page of entries after `(scope_id, phone)`, in key order.
pub(super) fn export_page(
    conn: &Connection,
    ids: &mut Ids,
    after: (i64, i64),
    shown: &str,
) -> Result<Vec<(i64, Entry)>, LedgerError> {
    let sql = "SELECT e.scope_id, e.phone, s.api_url, s.project, s.process, \
               e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, e.run_id \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id \
               WHERE (e.scope_id, e.phone) > (?1, ?2) ORDER BY e.scope_id, e.phone LIMIT ?3";
    let mut stmt = conn.prepare_cached(sql).at(shown)?;
    let mut rows = stmt.query(params![after.0, after.1, PAGE]).at(shown)?;
    let mut page = Vec::new();
    while let Some(row) = rows.next().at(shown)? {
        let scope_id: i64 = row.get(0).at(shown)?;
        let raw_phone: i64 = row.get(1).at(shown)?;
        let phone = PhoneKey::from_db(raw_phone).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("an entry has phone {raw_phone}, which is not an E.164 number"),
        })?;
        let text = |i| row.get::<_, String>(i).at(shown);
        let scope = Scope::new(text(2)?, text(3)?, text(4)?);
        let columns = known_columns(row, 5).at(shown)?;
        let run = run_ref(conn, ids, columns.run_id, shown)?;
        page.push((scope_id, Entry { scope, phone, known: columns.into_known(run, shown)? }));
    }
    Ok(page)
}
