//! The SQLite store's statements: ids of scopes, runs and claimants, the
//! claim primitives, and the reads behind lookup, stats and export.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::SystemTime;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::claims::{ClaimTx, Existing, HeldClaim, ProcessStamp};
use super::sqlite::{At, Found};
use super::types::{
    Entry, Holder, KnownColumns, OutcomeKind, PhoneKey, RunRef, Scope, Stats, StatsGroup, from_millis, to_millis,
};
use super::{Claimant, LedgerError};

/// Ids of scopes and runs this store has seen. Neither is ever deleted, so
/// an id stays valid once its transaction committed.
#[derive(Debug, Default)]
pub(super) struct Ids {
    scopes: HashMap<Scope, i64>,
    runs: HashMap<RunRef, i64>,
}

/// Entries per export page.
const PAGE: i64 = 10_000;

/// Statements that drop claims whose claimant's lease ended before `?1`, and
/// such claimants once they hold nothing (their run rows stay: entries name them).
pub(super) const PRUNE_CLAIMS: [&str; 3] = [
    "DELETE FROM leadctl_entries WHERE outcome IS NULL \
     AND claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < ?1)",
    "UPDATE leadctl_entries SET claimant_id = NULL \
     WHERE claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < ?1)",
    "DELETE FROM leadctl_claimants WHERE lease_until < ?1 \
     AND id NOT IN (SELECT claimant_id FROM leadctl_entries WHERE claimant_id IS NOT NULL)",
];

/// A batch of keys as one `rarray()` parameter.
pub(super) fn key_array(keys: impl IntoIterator<Item = PhoneKey>) -> Rc<Vec<Value>> {
    Rc::new(keys.into_iter().map(|k| Value::Integer(k.to_db())).collect())
}

pub(super) fn now_ms() -> i64 {
    to_millis(SystemTime::now())
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

/// The claimant's id if it ever claimed here.
pub(super) fn claimant_id(conn: &Connection, claimant: &Claimant, shown: &str) -> Result<Option<i64>, LedgerError> {
    let sql = "SELECT c.id FROM leadctl_claimants c JOIN leadctl_runs r ON r.id = c.run_id \
               WHERE r.run = ?1 AND r.host = ?2 AND c.pid = ?3 AND c.stamp = ?4";
    let stamp = ProcessStamp::encode(claimant.stamp.as_ref());
    let args = params![claimant.run.run, claimant.run.host, claimant.pid, stamp];
    conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).optional().at(shown)
}

/// Registers the claimant (or finds it) and extends its lease; returns its id.
pub(super) fn upsert_claimant(
    conn: &Connection,
    run_id: i64,
    claimant: &Claimant,
    lease_until: i64,
    shown: &str,
) -> Result<i64, LedgerError> {
    let sql = "INSERT INTO leadctl_claimants (run_id, pid, stamp, lease_until) VALUES (?1, ?2, ?3, ?4) \
               ON CONFLICT (run_id, pid, stamp) DO UPDATE SET lease_until = max(lease_until, excluded.lease_until) \
               RETURNING id";
    let stamp = ProcessStamp::encode(claimant.stamp.as_ref());
    let args = params![run_id, claimant.pid, stamp, lease_until];
    conn.prepare_cached(sql).at(shown)?.query_row(args, |r| r.get(0)).at(shown)
}

/// Reads the `KnownColumns` starting at column `at`: outcome, lead id,
/// initialized, reason, first seen, last seen, run, host.
fn known_columns(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<KnownColumns> {
    Ok(KnownColumns {
        outcome: row.get(at)?,
        lead_id: row.get(at + 1)?,
        initialized: row.get(at + 2)?,
        reason: row.get(at + 3)?,
        first_seen: row.get(at + 4)?,
        last_seen: row.get(at + 5)?,
        run: row.get(at + 6)?,
        host: row.get(at + 7)?,
    })
}

/// The recorded keys of one scope among `keys`.
pub(super) fn known_keys(
    conn: &Connection,
    scope_id: i64,
    keys: &[PhoneKey],
    shown: &str,
) -> Result<Found, LedgerError> {
    let sql = "SELECT e.phone, e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, r.run, r.host \
               FROM leadctl_entries e LEFT JOIN leadctl_runs r ON r.id = e.run_id \
               WHERE e.scope_id = ?1 AND e.phone IN rarray(?2) AND e.outcome IS NOT NULL";
    let mut stmt = conn.prepare_cached(sql).at(shown)?;
    let mut rows = stmt.query(params![scope_id, key_array(keys.iter().copied())]).at(shown)?;
    let mut found = HashMap::with_capacity(keys.len());
    while let Some(row) = rows.next().at(shown)? {
        if let Some(phone) = PhoneKey::from_db(row.get(0).at(shown)?) {
            found.insert(phone, known_columns(row, 1).at(shown)?.into_known(shown)?);
        }
    }
    Ok(found)
}

/// SQLite's side of the shared claim algorithm, inside a `BEGIN IMMEDIATE`.
pub(super) struct SqliteClaim<'a> {
    pub tx: &'a Transaction<'a>,
    pub scope_id: i64,
    pub me: i64,
    pub shown: &'a str,
}

impl ClaimTx for SqliteClaim<'_> {
    fn insert_new(&mut self, keys: &[PhoneKey]) -> Result<Vec<PhoneKey>, LedgerError> {
        // `WHERE true` settles SQLite's parse of INSERT ... SELECT ... ON CONFLICT.
        let sql = "INSERT INTO leadctl_entries (scope_id, phone, claimant_id) SELECT ?1, value, ?2 FROM rarray(?3) \
                   WHERE true ON CONFLICT DO NOTHING RETURNING phone";
        let mut stmt = self.tx.prepare_cached(sql).at(self.shown)?;
        let rows = stmt.query_map(params![self.scope_id, self.me, key_array(keys.iter().copied())], |r| r.get(0));
        let mut inserted = Vec::with_capacity(keys.len());
        for phone in rows.at(self.shown)? {
            inserted.extend(PhoneKey::from_db(phone.at(self.shown)?));
        }
        Ok(inserted)
    }

    fn existing(&mut self, keys: &[PhoneKey]) -> Result<Vec<(PhoneKey, Existing)>, LedgerError> {
        let sql = "SELECT e.phone, e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, \
                   r.run, r.host, e.claimant_id, c.pid, c.stamp, c.lease_until, cr.run, cr.host \
                   FROM leadctl_entries e LEFT JOIN leadctl_runs r ON r.id = e.run_id \
                   LEFT JOIN leadctl_claimants c ON c.id = e.claimant_id LEFT JOIN leadctl_runs cr ON cr.id = c.run_id \
                   WHERE e.scope_id = ?1 AND e.phone IN rarray(?2)";
        let shown = self.shown;
        let mut stmt = self.tx.prepare_cached(sql).at(shown)?;
        let mut rows = stmt.query(params![self.scope_id, key_array(keys.iter().copied())]).at(shown)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().at(shown)? {
            let Some(phone) = PhoneKey::from_db(row.get(0).at(shown)?) else { continue };
            if row.get::<_, Option<i64>>(1).at(shown)?.is_some() {
                found.push((phone, Existing::Known(known_columns(row, 1).at(shown)?.into_known(shown)?)));
                continue;
            }
            let held = HeldClaim {
                claimant_id: row.get(9).at(shown)?,
                holder: Holder {
                    run: RunRef {
                        run: row.get::<_, Option<String>>(13).at(shown)?.unwrap_or_default(),
                        host: row.get::<_, Option<String>>(14).at(shown)?.unwrap_or_default(),
                    },
                    pid: row.get::<_, Option<u32>>(10).at(shown)?.unwrap_or(0),
                },
                stamp: row.get::<_, Option<String>>(11).at(shown)?.as_deref().and_then(ProcessStamp::decode),
                // A claim whose claimant row is gone has no lease: dead.
                lease_until_ms: row.get::<_, Option<i64>>(12).at(shown)?.unwrap_or(i64::MIN),
            };
            found.push((phone, Existing::Claim(held)));
        }
        Ok(found)
    }

    fn take_over(&mut self, from: &[(PhoneKey, Option<i64>)]) -> Result<Vec<PhoneKey>, LedgerError> {
        // Takeovers are rare (a dead run's keys), so one statement per key is fine.
        let sql = "UPDATE leadctl_entries SET claimant_id = ?1 \
                   WHERE scope_id = ?2 AND phone = ?3 AND claimant_id IS ?4 AND outcome IS NULL";
        let mut stmt = self.tx.prepare_cached(sql).at(self.shown)?;
        let mut moved = Vec::with_capacity(from.len());
        for (key, old) in from {
            if stmt.execute(params![self.me, self.scope_id, key.to_db(), old]).at(self.shown)? == 1 {
                moved.push(*key);
            }
        }
        Ok(moved)
    }
}

/// Counts by scope and outcome; the caller adds the size on disk.
pub(super) fn stats(conn: &Connection, shown: &str) -> Result<Stats, LedgerError> {
    let sql = "SELECT s.api_url, s.project, s.process, e.outcome, count(*), min(e.first_seen), max(e.last_seen) \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id WHERE e.outcome IS NOT NULL \
               GROUP BY e.scope_id, e.outcome";
    let mut stmt = conn.prepare(sql).at(shown)?;
    let mut rows = stmt.query([]).at(shown)?;
    let mut groups = Vec::new();
    while let Some(row) = rows.next().at(shown)? {
        let code: i64 = row.get(3).at(shown)?;
        let outcome = OutcomeKind::from_db(code).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("entries have outcome {code}, which no leadctl writes"),
        })?;
        groups.push(StatsGroup {
            scope: Scope::new(
                row.get::<_, String>(0).at(shown)?,
                row.get::<_, String>(1).at(shown)?,
                row.get::<_, String>(2).at(shown)?,
            ),
            outcome,
            count: row.get::<_, i64>(4).at(shown)? as u64,
            oldest: from_millis(row.get::<_, Option<i64>>(5).at(shown)?.unwrap_or(0)),
            newest: from_millis(row.get::<_, Option<i64>>(6).at(shown)?.unwrap_or(0)),
        });
    }
    let claims: i64 =
        conn.query_row("SELECT count(*) FROM leadctl_entries WHERE outcome IS NULL", [], |r| r.get(0)).at(shown)?;
    Ok(Stats::from_groups(shown, groups, claims as u64))
}

/// One page of entries after `(scope_id, phone)`, in key order.
pub(super) fn export_page(conn: &Connection, after: (i64, i64), shown: &str) -> Result<Vec<(i64, Entry)>, LedgerError> {
    let sql = "SELECT e.scope_id, e.phone, s.api_url, s.project, s.process, \
               e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, r.run, r.host \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id \
               LEFT JOIN leadctl_runs r ON r.id = e.run_id \
               WHERE (e.scope_id, e.phone) > (?1, ?2) AND e.outcome IS NOT NULL \
               ORDER BY e.scope_id, e.phone LIMIT ?3";
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
        let scope = Scope::new(
            row.get::<_, String>(2).at(shown)?,
            row.get::<_, String>(3).at(shown)?,
            row.get::<_, String>(4).at(shown)?,
        );
        let known = known_columns(row, 5).at(shown)?.into_known(shown)?;
        page.push((scope_id, Entry { scope, phone, known }));
    }
    Ok(page)
}
