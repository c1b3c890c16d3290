//! The PostgreSQL store's statements about scopes, runs, claimants and
//! claims: ids, leases, and the claim primitives (entries: `pg_rows.rs`). Every statement goes through `query_typed` with its
//! parameter types spelled out (the unnamed statement: nothing is left
//! prepared in the session for a pooler to lose).

use std::collections::HashMap;
use std::sync::Arc;

use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Row};

use super::claims::{self, ClaimRow, ClaimTx, ProcessStamp};
use super::pg_conn::{TxError, pg_error};
use super::pg_rows::known_keys;
use super::types::{Holder, KeyMap, Known, PhoneKey, Renewal, RunRef, Scope};
use super::{Claimant, LedgerError};

/// The server's clock in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::int8";

/// The server's clock moved by the store's offset (zero but in tests: see
/// `ledger::Clock`), as an SQL expression.
pub(super) fn now_ms_sql(offset_ms: i64) -> String {
    if offset_ms == 0 { NOW_MS.to_owned() } else { format!("({NOW_MS} + ({offset_ms})::int8)") }
}

/// Every scope with its id, as stored.
pub(super) fn scopes(client: &mut Client) -> Result<Vec<(i64, Scope)>, TxError> {
    let rows = client.query_typed("SELECT id, api_url, project, process FROM leadctl_scopes", &[])?;
    rows.iter()
        .map(|r| {
            let scope = Scope { api_url: r.try_get(1)?, project: r.try_get(2)?, process: r.try_get(3)? };
            Ok((r.try_get(0)?, scope))
        })
        .collect()
}

/// Every claim row of a scope, with its keys.
pub(super) fn scope_claims(
    client: &mut Client,
    scope_id: i64,
    shown: &str,
) -> Result<Vec<(i64, Vec<PhoneKey>)>, TxError> {
    let sql = "SELECT id, keys FROM leadctl_claims WHERE scope_id = $1";
    let mut all = Vec::new();
    for row in client.query_typed(sql, &[(&scope_id, Type::INT8)])? {
        let blob: &[u8] = row.try_get(1)?;
        all.push((row.try_get(0)?, claims::decode_keys(blob).ok_or_else(|| damaged_claim(shown))?));
    }
    Ok(all)
}

type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Ids of scopes and runs this store has seen, and the runs by id (never
/// deleted: see `schema`).
#[derive(Debug, Default)]
pub(super) struct Ids {
    scopes: HashMap<Scope, i64>,
    runs: HashMap<RunRef, i64>,
    pub(super) run_refs: HashMap<i64, Arc<RunRef>>,
}

/// Drop the claims of claimants whose lease ended before `$1`, then such
/// claimants (their run rows stay: entries name them).
pub(super) const PRUNE_CLAIMS: [&str; 2] = [
    "DELETE FROM leadctl_claims WHERE claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < $1)",
    "DELETE FROM leadctl_claimants WHERE lease_until < $1 AND id NOT IN (SELECT claimant_id FROM leadctl_claims)",
];

pub(super) fn keys_param(keys: &[PhoneKey]) -> Vec<i64> {
    keys.iter().map(|k| k.to_db()).collect()
}

/// The scope's id; created when `create` (the upsert returns the id even
/// when a concurrent run inserted it first), else `None` for a new scope.
pub(super) fn scope_id(
    client: &mut Client,
    ids: &mut Ids,
    scope: &Scope,
    create: bool,
) -> Result<Option<i64>, TxError> {
    if let Some(id) = ids.scopes.get(scope) {
        return Ok(Some(*id));
    }
    let args: [Param<'_>; 3] =
        [(&scope.api_url, Type::TEXT), (&scope.project, Type::TEXT), (&scope.process, Type::TEXT)];
    let row = if create {
        let sql = "INSERT INTO leadctl_scopes (api_url, project, process) VALUES ($1, $2, $3) \
                   ON CONFLICT (api_url, project, process) DO UPDATE SET api_url = excluded.api_url RETURNING id";
        Some(client.query_typed_one(sql, &args)?)
    } else {
        let sql = "SELECT id FROM leadctl_scopes WHERE api_url = $1 AND project = $2 AND process = $3";
        client.query_typed_opt(sql, &args)?
    };
    let id = row.map(|r| r.try_get::<_, i64>(0)).transpose()?;
    if let Some(id) = id {
        ids.scopes.insert(scope.clone(), id);
    }
    Ok(id)
}

/// Holds the scope against other claimers and recorders until commit: the
/// claim rows of a scope are read, judged and rewritten as a whole.
pub(super) fn lock_scope(client: &mut Client, scope_id: i64) -> Result<(), TxError> {
    client.query_typed("SELECT id FROM leadctl_scopes WHERE id = $1 FOR UPDATE", &[(&scope_id, Type::INT8)])?;
    Ok(())
}

/// The run's id, created on first use.
pub(super) fn run_id(client: &mut Client, ids: &mut Ids, run: &RunRef) -> Result<i64, TxError> {
    if let Some(id) = ids.runs.get(run) {
        return Ok(*id);
    }
    let sql = "INSERT INTO leadctl_runs (run, host) VALUES ($1, $2) \
               ON CONFLICT (run, host) DO UPDATE SET run = excluded.run RETURNING id";
    let id: i64 = client.query_typed_one(sql, &[(&run.run, Type::TEXT), (&run.host, Type::TEXT)])?.try_get(0)?;
    ids.runs.insert(run.clone(), id);
    Ok(id)
}

/// The claimant's id if it ever claimed here.
pub(super) fn claimant_id(client: &mut Client, claimant: &Claimant) -> Result<Option<i64>, TxError> {
    let sql = "SELECT c.id FROM leadctl_claimants c JOIN leadctl_runs r ON r.id = c.run_id \
               WHERE r.run = $1 AND r.host = $2 AND c.pid = $3 AND c.stamp = $4";
    let (pid, stamp) = (i64::from(claimant.pid), ProcessStamp::encode(claimant.stamp.as_ref()));
    let args: [Param<'_>; 4] =
        [(&claimant.run.run, Type::TEXT), (&claimant.run.host, Type::TEXT), (&pid, Type::INT8), (&stamp, Type::TEXT)];
    Ok(client.query_typed_opt(sql, &args)?.map(|r| r.try_get(0)).transpose()?)
}

/// Registers the claimant (or finds it) and extends its lease; returns its
/// id and the server's time.
pub(super) fn upsert_claimant(
    client: &mut Client,
    run_id: i64,
    claimant: &Claimant,
    lease_ms: i64,
    offset_ms: i64,
    shown: &str,
) -> Result<(i64, i64), TxError> {
    let now = now_ms_sql(offset_ms);
    let (pid, stamp) = (i64::from(claimant.pid), ProcessStamp::encode(claimant.stamp.as_ref()));
    // A claimant whose lease ran out while it held claims is not revived:
    // another run may have taken them.
    let sql = format!(
        "SELECT c.lease_until <= {now}, EXISTS (SELECT 1 FROM leadctl_claims WHERE claimant_id = c.id) \
         FROM leadctl_claimants c WHERE c.run_id = $1 AND c.pid = $2 AND c.stamp = $3 FOR UPDATE"
    );
    let args: [Param<'_>; 3] = [(&run_id, Type::INT8), (&pid, Type::INT8), (&stamp, Type::TEXT)];
    if let Some(row) = client.query_typed_opt(&sql, &args)?
        && row.try_get::<_, bool>(0)?
        && row.try_get::<_, bool>(1)?
    {
        return Err(TxError::Ledger(LedgerError::Lapsed { location: shown.to_owned() }));
    }
    let sql = format!(
        "WITH n AS (SELECT {now} AS now) \
         INSERT INTO leadctl_claimants (run_id, pid, stamp, lease_until) SELECT $1, $2, $3, n.now + $4 FROM n \
         ON CONFLICT (run_id, pid, stamp) \
         DO UPDATE SET lease_until = GREATEST(leadctl_claimants.lease_until, excluded.lease_until) \
         RETURNING id, (SELECT now FROM n)"
    );
    let args: [Param<'_>; 4] =
        [(&run_id, Type::INT8), (&pid, Type::INT8), (&stamp, Type::TEXT), (&lease_ms, Type::INT8)];
    let row = client.query_typed_one(&sql, &args)?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// How many keys the claimant's claim rows hold.
pub(super) fn claimed_count(client: &mut Client, claimant: &Claimant) -> Result<u64, TxError> {
    let Some(me) = claimant_id(client, claimant)? else { return Ok(0) };
    let sql = "SELECT (COALESCE(sum(octet_length(keys)), 0) / 8)::int8 FROM leadctl_claims WHERE claimant_id = $1";
    let n: i64 = client.query_typed_one(sql, &[(&me, Type::INT8)])?.try_get(0)?;
    Ok(n as u64)
}

/// Extends the claimant's lease; false when it is unknown here.
/// Extends the claimant's lease, unless it already ran out (see `Store::renew`).
pub(super) fn renew(
    client: &mut Client,
    claimant: &Claimant,
    lease_ms: i64,
    offset_ms: i64,
) -> Result<Renewal, TxError> {
    let now = now_ms_sql(offset_ms);
    let sql = format!(
        "WITH n AS (SELECT {now} AS now) \
         UPDATE leadctl_claimants SET lease_until = GREATEST(lease_until, (SELECT now FROM n) + $1) \
         WHERE pid = $2 AND stamp = $3 AND run_id = (SELECT id FROM leadctl_runs WHERE run = $4 AND host = $5) \
         AND lease_until > (SELECT now FROM n)"
    );
    let (pid, stamp) = (i64::from(claimant.pid), ProcessStamp::encode(claimant.stamp.as_ref()));
    let args: [Param<'_>; 5] = [
        (&lease_ms, Type::INT8),
        (&pid, Type::INT8),
        (&stamp, Type::TEXT),
        (&claimant.run.run, Type::TEXT),
        (&claimant.run.host, Type::TEXT),
    ];
    Ok(if client.execute_typed(&sql, &args)? > 0 { Renewal::Renewed } else { Renewal::Lapsed })
}

/// Makes sure the runs behind these ids are cached (one query for the missing ones).
pub(super) fn cache_runs(
    client: &mut Client,
    ids: &mut Ids,
    run_ids: impl IntoIterator<Item = i64>,
) -> Result<(), TxError> {
    let mut missing: Vec<i64> = run_ids.into_iter().filter(|id| !ids.run_refs.contains_key(id)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    missing.dedup();
    let sql = "SELECT id, run, host FROM leadctl_runs WHERE id = ANY($1)";
    for row in client.query_typed(sql, &[(&missing, Type::INT8_ARRAY)])? {
        let run = RunRef { run: row.try_get(1)?, host: row.try_get(2)? };
        ids.run_refs.insert(row.try_get(0)?, Arc::new(run));
    }
    for id in missing {
        ids.run_refs.entry(id).or_insert_with(|| Arc::new(RunRef { run: String::new(), host: String::new() }));
    }
    Ok(())
}

/// The claimant's own claim rows in a scope, with their keys.
pub(super) fn own_claims(
    client: &mut Client,
    scope_id: i64,
    me: i64,
    shown: &str,
) -> Result<Vec<(i64, Vec<PhoneKey>)>, TxError> {
    let sql = "SELECT id, keys FROM leadctl_claims WHERE scope_id = $1 AND claimant_id = $2";
    let mut own = Vec::new();
    for row in client.query_typed(sql, &[(&scope_id, Type::INT8), (&me, Type::INT8)])? {
        let blob: &[u8] = row.try_get(1)?;
        own.push((row.try_get(0)?, claims::decode_keys(blob).ok_or_else(|| damaged_claim(shown))?));
    }
    Ok(own)
}

fn damaged_claim(shown: &str) -> LedgerError {
    LedgerError::Corrupt { location: shown.to_owned(), detail: "a claim holds keys that are no phone numbers".into() }
}

/// Replaces a claim row's keys, deleting the row when none are left.
pub(super) fn rewrite_claim(client: &mut Client, id: i64, keys: &[PhoneKey]) -> Result<(), TxError> {
    if keys.is_empty() {
        client.execute_typed("DELETE FROM leadctl_claims WHERE id = $1", &[(&id, Type::INT8)])?;
    } else {
        let blob = claims::encode_keys(keys);
        client.execute_typed(
            "UPDATE leadctl_claims SET keys = $2 WHERE id = $1",
            &[(&id, Type::INT8), (&blob, Type::BYTEA)],
        )?;
    }
    Ok(())
}

/// PostgreSQL's side of the shared claim algorithm, under the scope's row lock.
pub(super) struct PgClaim<'a> {
    pub client: &'a mut Client,
    pub ids: &'a mut Ids,
    pub scope_id: i64,
    pub me: i64,
    pub shown: &'a str,
}

impl PgClaim<'_> {
    fn fail(&self, e: TxError) -> LedgerError {
        match e {
            TxError::Pg(e) => pg_error(self.shown, &e),
            TxError::Ledger(e) => e,
        }
    }
}

impl ClaimTx for PgClaim<'_> {
    fn claim_rows(&mut self) -> Result<Vec<ClaimRow>, LedgerError> {
        let sql = "SELECT c.id, c.claimant_id, c.keys, cl.pid, cl.stamp, cl.lease_until, r.run, r.host \
                   FROM leadctl_claims c LEFT JOIN leadctl_claimants cl ON cl.id = c.claimant_id \
                   LEFT JOIN leadctl_runs r ON r.id = cl.run_id WHERE c.scope_id = $1 AND c.claimant_id != $2";
        let args: [Param<'_>; 2] = [(&self.scope_id, Type::INT8), (&self.me, Type::INT8)];
        let rows = self.client.query_typed(sql, &args).map_err(|e| self.fail(e.into()))?;
        rows.iter().map(|row| claim_row(row, self.shown).map_err(|e| self.fail(e))).collect()
    }

    fn known(&mut self, keys: &[PhoneKey]) -> Result<KeyMap<Known>, LedgerError> {
        known_keys(self.client, self.ids, self.scope_id, keys, self.shown).map_err(|e| self.fail(e))
    }

    fn insert_claim(&mut self, keys: &[PhoneKey]) -> Result<(), LedgerError> {
        let sql = "INSERT INTO leadctl_claims (scope_id, claimant_id, keys) VALUES ($1, $2, $3)";
        let blob = claims::encode_keys(keys);
        let args: [Param<'_>; 3] = [(&self.scope_id, Type::INT8), (&self.me, Type::INT8), (&blob, Type::BYTEA)];
        self.client.execute_typed(sql, &args).map_err(|e| self.fail(e.into()))?;
        Ok(())
    }

    fn rewrite_claim(&mut self, id: i64, keys: &[PhoneKey]) -> Result<(), LedgerError> {
        rewrite_claim(self.client, id, keys).map_err(|e| self.fail(e))
    }
}

fn claim_row(row: &Row, shown: &str) -> Result<ClaimRow, TxError> {
    let blob: &[u8] = row.try_get(2)?;
    Ok(ClaimRow {
        id: row.try_get(0)?,
        claimant_id: row.try_get(1)?,
        keys: claims::decode_keys(blob).ok_or_else(|| damaged_claim(shown))?,
        holder: Holder {
            run: RunRef {
                run: row.try_get::<_, Option<String>>(6)?.unwrap_or_default(),
                host: row.try_get::<_, Option<String>>(7)?.unwrap_or_default(),
            },
            pid: row.try_get::<_, Option<i64>>(3)?.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
        },
        stamp: row.try_get::<_, Option<String>>(4)?.as_deref().and_then(ProcessStamp::decode),
        // A claim whose claimant row is gone has no lease: dead.
        lease_until_ms: row.try_get::<_, Option<i64>>(5)?.unwrap_or(i64::MIN),
    })
}
