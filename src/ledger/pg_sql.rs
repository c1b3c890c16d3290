//! The PostgreSQL store's statements: ids of scopes, runs and claimants, the
//! claim primitives, the batch upsert, and the reads behind lookup, stats
//! and export. Every statement goes through `query_typed` with its
//! parameter types spelled out (the unnamed statement: nothing is left
//! prepared in the session for a pooler to lose).

use std::collections::HashMap;

use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Row};

use super::claims::{ClaimTx, Existing, HeldClaim, ProcessStamp};
use super::pg_conn::{TxError, pg_error};
use super::schema::MERGE_SET;
use super::types::{Entry, Holder, KnownColumns, OutcomeKind, PhoneKey, RunRef, Scope, Stats, StatsGroup, from_millis};
use super::{Claimant, LedgerError};

/// The server's clock in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::int8";

/// Entries per export page.
const PAGE: i64 = 10_000;

type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Ids of scopes and runs this store has seen (never deleted: see `schema`).
#[derive(Debug, Default)]
pub(super) struct Ids {
    scopes: HashMap<Scope, i64>,
    runs: HashMap<RunRef, i64>,
}

/// Drop claims whose claimant's lease ended before `$1`, and such claimants
/// once they hold nothing.
pub(super) const PRUNE_CLAIMS: [&str; 3] = [
    "DELETE FROM leadctl_entries WHERE outcome IS NULL \
     AND claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < $1)",
    "UPDATE leadctl_entries SET claimant_id = NULL \
     WHERE claimant_id IN (SELECT id FROM leadctl_claimants WHERE lease_until < $1)",
    "DELETE FROM leadctl_claimants WHERE lease_until < $1 \
     AND id NOT IN (SELECT claimant_id FROM leadctl_entries WHERE claimant_id IS NOT NULL)",
];

fn keys_param(keys: &[PhoneKey]) -> Vec<i64> {
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
) -> Result<(i64, i64), TxError> {
    let sql = format!(
        "WITH n AS (SELECT {NOW_MS} AS now) \
         INSERT INTO leadctl_claimants (run_id, pid, stamp, lease_until) SELECT $1, $2, $3, n.now + $4 FROM n \
         ON CONFLICT (run_id, pid, stamp) \
         DO UPDATE SET lease_until = GREATEST(leadctl_claimants.lease_until, excluded.lease_until) \
         RETURNING id, (SELECT now FROM n)"
    );
    let (pid, stamp) = (i64::from(claimant.pid), ProcessStamp::encode(claimant.stamp.as_ref()));
    let args: [Param<'_>; 4] =
        [(&run_id, Type::INT8), (&pid, Type::INT8), (&stamp, Type::TEXT), (&lease_ms, Type::INT8)];
    let row = client.query_typed_one(&sql, &args)?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Extends the claimant's lease; false when it is unknown here.
pub(super) fn renew(client: &mut Client, claimant: &Claimant, lease_ms: i64) -> Result<bool, TxError> {
    let sql = format!(
        "UPDATE leadctl_claimants SET lease_until = GREATEST(lease_until, {NOW_MS} + $1) \
         WHERE pid = $2 AND stamp = $3 AND run_id = (SELECT id FROM leadctl_runs WHERE run = $4 AND host = $5)"
    );
    let (pid, stamp) = (i64::from(claimant.pid), ProcessStamp::encode(claimant.stamp.as_ref()));
    let args: [Param<'_>; 5] = [
        (&lease_ms, Type::INT8),
        (&pid, Type::INT8),
        (&stamp, Type::TEXT),
        (&claimant.run.run, Type::TEXT),
        (&claimant.run.host, Type::TEXT),
    ];
    Ok(client.execute_typed(&sql, &args)? > 0)
}

/// Reads outcome, lead id, initialized, reason, first seen, last seen, run,
/// host from column `at` on.
fn known_columns(row: &Row, at: usize) -> Result<KnownColumns, ::postgres::Error> {
    Ok(KnownColumns {
        outcome: i64::from(row.try_get::<_, i16>(at)?),
        lead_id: row.try_get(at + 1)?,
        initialized: row.try_get(at + 2)?,
        reason: row.try_get(at + 3)?,
        first_seen: row.try_get(at + 4)?,
        last_seen: row.try_get(at + 5)?,
        run: row.try_get(at + 6)?,
        host: row.try_get(at + 7)?,
    })
}

/// The recorded keys of one scope among `keys`.
pub(super) fn known_keys(
    client: &mut Client,
    scope_id: i64,
    keys: &[PhoneKey],
    shown: &str,
) -> Result<HashMap<PhoneKey, super::Known>, TxError> {
    let sql = "SELECT e.phone, e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, r.run, r.host \
               FROM leadctl_entries e LEFT JOIN leadctl_runs r ON r.id = e.run_id \
               WHERE e.scope_id = $1 AND e.phone = ANY($2) AND e.outcome IS NOT NULL";
    let keys = keys_param(keys);
    let rows = client.query_typed(sql, &[(&scope_id, Type::INT8), (&keys, Type::INT8_ARRAY)])?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        if let Some(phone) = PhoneKey::from_db(row.try_get(0)?) {
            found.insert(phone, known_columns(&row, 1)?.into_known(shown)?);
        }
    }
    Ok(found)
}

/// PostgreSQL's side of the shared claim algorithm.
pub(super) struct PgClaim<'a> {
    pub client: &'a mut Client,
    pub scope_id: i64,
    pub me: i64,
    pub shown: &'a str,
}

impl PgClaim<'_> {
    fn fail(&self, e: ::postgres::Error) -> LedgerError {
        pg_error(self.shown, &e)
    }
}

impl ClaimTx for PgClaim<'_> {
    fn insert_new(&mut self, keys: &[PhoneKey]) -> Result<Vec<PhoneKey>, LedgerError> {
        // Sorted insertion: concurrent claimers wait on keys in one order.
        let sql = "INSERT INTO leadctl_entries (scope_id, phone, claimant_id) \
                   SELECT $1, k, $2 FROM unnest($3::int8[]) AS k ORDER BY k ON CONFLICT DO NOTHING RETURNING phone";
        let keys = keys_param(keys);
        let args: [Param<'_>; 3] = [(&self.scope_id, Type::INT8), (&self.me, Type::INT8), (&keys, Type::INT8_ARRAY)];
        let rows = self.client.query_typed(sql, &args).map_err(|e| self.fail(e))?;
        let mut inserted = Vec::with_capacity(rows.len());
        for row in rows {
            inserted.extend(PhoneKey::from_db(row.try_get(0).map_err(|e| self.fail(e))?));
        }
        Ok(inserted)
    }

    fn existing(&mut self, keys: &[PhoneKey]) -> Result<Vec<(PhoneKey, Existing)>, LedgerError> {
        let sql = "SELECT e.phone, e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, \
                   r.run, r.host, e.claimant_id, c.pid, c.stamp, c.lease_until, cr.run, cr.host \
                   FROM leadctl_entries e LEFT JOIN leadctl_runs r ON r.id = e.run_id \
                   LEFT JOIN leadctl_claimants c ON c.id = e.claimant_id LEFT JOIN leadctl_runs cr ON cr.id = c.run_id \
                   WHERE e.scope_id = $1 AND e.phone = ANY($2)";
        let keys = keys_param(keys);
        let rows = self
            .client
            .query_typed(sql, &[(&self.scope_id, Type::INT8), (&keys, Type::INT8_ARRAY)])
            .map_err(|e| self.fail(e))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            match existing_row(&row, self.shown) {
                Ok(Some(pair)) => found.push(pair),
                Ok(None) => {}
                Err(TxError::Pg(e)) => return Err(self.fail(e)),
                Err(TxError::Ledger(e)) => return Err(e),
            }
        }
        Ok(found)
    }

    fn take_over(&mut self, from: &[(PhoneKey, Option<i64>)]) -> Result<Vec<PhoneKey>, LedgerError> {
        let sql = "UPDATE leadctl_entries AS t SET claimant_id = $1 FROM unnest($3::int8[], $4::int8[]) AS u(phone, old) \
                   WHERE t.scope_id = $2 AND t.phone = u.phone AND t.claimant_id IS NOT DISTINCT FROM u.old \
                   AND t.outcome IS NULL RETURNING t.phone";
        let phones: Vec<i64> = from.iter().map(|(k, _)| k.to_db()).collect();
        let olds: Vec<Option<i64>> = from.iter().map(|(_, old)| *old).collect();
        let args: [Param<'_>; 4] = [
            (&self.me, Type::INT8),
            (&self.scope_id, Type::INT8),
            (&phones, Type::INT8_ARRAY),
            (&olds, Type::INT8_ARRAY),
        ];
        let rows = self.client.query_typed(sql, &args).map_err(|e| self.fail(e))?;
        let mut moved = Vec::with_capacity(rows.len());
        for row in rows {
            moved.extend(PhoneKey::from_db(row.try_get(0).map_err(|e| self.fail(e))?));
        }
        Ok(moved)
    }
}

fn existing_row(row: &Row, shown: &str) -> Result<Option<(PhoneKey, Existing)>, TxError> {
    let Some(phone) = PhoneKey::from_db(row.try_get(0)?) else { return Ok(None) };
    if row.try_get::<_, Option<i16>>(1)?.is_some() {
        return Ok(Some((phone, Existing::Known(known_columns(row, 1)?.into_known(shown)?))));
    }
    let held = HeldClaim {
        claimant_id: row.try_get(9)?,
        holder: Holder {
            run: RunRef {
                run: row.try_get::<_, Option<String>>(13)?.unwrap_or_default(),
                host: row.try_get::<_, Option<String>>(14)?.unwrap_or_default(),
            },
            pid: row.try_get::<_, Option<i64>>(10)?.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
        },
        stamp: row.try_get::<_, Option<String>>(11)?.as_deref().and_then(ProcessStamp::decode),
        // A claim whose claimant row is gone has no lease: dead.
        lease_until_ms: row.try_get::<_, Option<i64>>(12)?.unwrap_or(i64::MIN),
    };
    Ok(Some((phone, Existing::Claim(held))))
}

/// Entry rows for one upsert, column by column (one array parameter each).
#[derive(Default)]
pub(super) struct Rows<'a> {
    scope_ids: Vec<i64>,
    phones: Vec<i64>,
    outcomes: Vec<i16>,
    lead_ids: Vec<Option<&'a str>>,
    initialized: Vec<Option<bool>>,
    reasons: Vec<Option<&'a str>>,
    run_ids: Vec<i64>,
    /// `None`: the server's time now.
    first_seen: Vec<Option<i64>>,
    last_seen: Vec<Option<i64>>,
}

/// Outcome, lead id, initialized, reason.
type OutcomeColumns<'a> = (i16, Option<&'a str>, Option<bool>, Option<&'a str>);

impl<'a> Rows<'a> {
    pub(super) fn len(&self) -> usize {
        self.phones.len()
    }

    pub(super) fn push(
        &mut self,
        scope_id: i64,
        phone: PhoneKey,
        (outcome, lead_id, initialized, reason): OutcomeColumns<'a>,
        run_id: i64,
        times: Option<(i64, i64)>,
    ) {
        self.scope_ids.push(scope_id);
        self.phones.push(phone.to_db());
        self.outcomes.push(outcome);
        self.lead_ids.push(lead_id);
        self.initialized.push(initialized);
        self.reasons.push(reason);
        self.run_ids.push(run_id);
        self.first_seen.push(times.map(|t| t.0));
        self.last_seen.push(times.map(|t| t.1));
    }

    /// Replaces row `i` (a later entry for the same key).
    pub(super) fn set(
        &mut self,
        i: usize,
        scope_id: i64,
        phone: PhoneKey,
        (outcome, lead_id, initialized, reason): OutcomeColumns<'a>,
        run_id: i64,
        times: Option<(i64, i64)>,
    ) {
        self.scope_ids[i] = scope_id;
        self.phones[i] = phone.to_db();
        self.outcomes[i] = outcome;
        self.lead_ids[i] = lead_id;
        self.initialized[i] = initialized;
        self.reasons[i] = reason;
        self.run_ids[i] = run_id;
        self.first_seen[i] = times.map(|t| t.0);
        self.last_seen[i] = times.map(|t| t.1);
    }
}

/// Writes the rows in one statement, merging with what is there (see
/// `schema::MERGE_SET`); `me`'s claims on them are released.
pub(super) fn upsert(client: &mut Client, rows: &Rows<'_>, me: Option<i64>) -> Result<(), TxError> {
    let sql = format!(
        "INSERT INTO leadctl_entries AS t \
         (scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen, claimant_id) \
         SELECT u.scope_id, u.phone, u.outcome, u.lead_id, u.initialized, u.reason, u.run_id, \
         COALESCE(u.first_seen, n.now), COALESCE(u.last_seen, n.now), NULL::int8 \
         FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::text[], $5::bool[], $6::text[], $7::int8[], \
         $8::int8[], $9::int8[]) AS u(scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen) \
         CROSS JOIN (SELECT {NOW_MS} AS now) AS n \
         ORDER BY u.scope_id, u.phone \
         ON CONFLICT (scope_id, phone) DO UPDATE SET {}",
        MERGE_SET.replace("?ME", "$10")
    );
    let args: [Param<'_>; 10] = [
        (&rows.scope_ids, Type::INT8_ARRAY),
        (&rows.phones, Type::INT8_ARRAY),
        (&rows.outcomes, Type::INT2_ARRAY),
        (&rows.lead_ids, Type::TEXT_ARRAY),
        (&rows.initialized, Type::BOOL_ARRAY),
        (&rows.reasons, Type::TEXT_ARRAY),
        (&rows.run_ids, Type::INT8_ARRAY),
        (&rows.first_seen, Type::INT8_ARRAY),
        (&rows.last_seen, Type::INT8_ARRAY),
        (&me, Type::INT8),
    ];
    client.execute_typed(&sql, &args)?;
    Ok(())
}

/// Counts by scope and outcome, claims, and the tables' size.
pub(super) fn stats(client: &mut Client, shown: &str) -> Result<Stats, TxError> {
    let sql = "SELECT s.api_url, s.project, s.process, e.outcome, count(*), min(e.first_seen), max(e.last_seen) \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id WHERE e.outcome IS NOT NULL \
               GROUP BY s.api_url, s.project, s.process, e.outcome";
    let mut groups = Vec::new();
    for row in client.query_typed(sql, &[])? {
        let code = i64::from(row.try_get::<_, i16>(3)?);
        let outcome = OutcomeKind::from_db(code).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("entries have outcome {code}, which no leadctl writes"),
        })?;
        groups.push(StatsGroup {
            scope: Scope::new(row.try_get::<_, String>(0)?, row.try_get::<_, String>(1)?, row.try_get::<_, String>(2)?),
            outcome,
            count: row.try_get::<_, i64>(4)? as u64,
            oldest: from_millis(row.try_get::<_, Option<i64>>(5)?.unwrap_or(0)),
            newest: from_millis(row.try_get::<_, Option<i64>>(6)?.unwrap_or(0)),
        });
    }
    let claims: i64 =
        client.query_typed_one("SELECT count(*) FROM leadctl_entries WHERE outcome IS NULL", &[])?.try_get(0)?;
    let size_sql = "SELECT COALESCE(sum(pg_total_relation_size(t)), 0)::int8 FROM unnest(ARRAY[ \
                    to_regclass('leadctl_entries'), to_regclass('leadctl_scopes'), to_regclass('leadctl_runs'), \
                    to_regclass('leadctl_claimants'), to_regclass('leadctl_meta')]) AS t WHERE t IS NOT NULL";
    let size: i64 = client.query_typed_one(size_sql, &[])?.try_get(0)?;
    let mut stats = Stats::from_groups(shown, groups, claims as u64);
    stats.size_bytes = size as u64;
    Ok(stats)
}

/// One page of entries after `(scope_id, phone)`, in key order.
pub(super) fn export_page(client: &mut Client, after: (i64, i64), shown: &str) -> Result<Vec<(i64, Entry)>, TxError> {
    let sql = "SELECT e.scope_id, e.phone, s.api_url, s.project, s.process, \
               e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, r.run, r.host \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id \
               LEFT JOIN leadctl_runs r ON r.id = e.run_id \
               WHERE (e.scope_id, e.phone) > ($1, $2) AND e.outcome IS NOT NULL \
               ORDER BY e.scope_id, e.phone LIMIT $3";
    let args: [Param<'_>; 3] = [(&after.0, Type::INT8), (&after.1, Type::INT8), (&PAGE, Type::INT8)];
    let mut page = Vec::new();
    for row in client.query_typed(sql, &args)? {
        let raw_phone: i64 = row.try_get(1)?;
        let phone = PhoneKey::from_db(raw_phone).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("an entry has phone {raw_phone}, which is not an E.164 number"),
        })?;
        let scope =
            Scope::new(row.try_get::<_, String>(2)?, row.try_get::<_, String>(3)?, row.try_get::<_, String>(4)?);
        let known = known_columns(&row, 5)?.into_known(shown)?;
        page.push((row.try_get(0)?, Entry { scope, phone, known }));
    }
    Ok(page)
}
