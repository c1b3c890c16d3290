//! The PostgreSQL store's reads and writes of entries: lookups, the batch
//! upsert, stats and export pages.

use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Row};

use super::LedgerError;
use super::pg_conn::TxError;
use super::pg_sql::{Ids, cache_runs, keys_param, now_ms_sql};
use super::schema::MERGE_SET;
use super::types::{Entry, KeyMap, Known, KnownColumns, OutcomeKind, PhoneKey, Scope, Stats, StatsGroup, from_millis};

type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Entries per export page.
const PAGE: i64 = 10_000;

/// Reads the entry columns from column `at` on.
fn known_columns(row: &Row, at: usize) -> Result<KnownColumns, ::postgres::Error> {
    Ok(KnownColumns {
        outcome: i64::from(row.try_get::<_, i16>(at)?),
        lead_id: row.try_get(at + 1)?,
        initialized: row.try_get(at + 2)?,
        reason: row.try_get(at + 3)?,
        first_seen: row.try_get(at + 4)?,
        last_seen: row.try_get(at + 5)?,
        run_id: row.try_get(at + 6)?,
    })
}

/// Turns rows' entry columns into `Known`s, reading the runs they name once.
fn into_known(
    client: &mut Client,
    ids: &mut Ids,
    found: Vec<(PhoneKey, KnownColumns)>,
    shown: &str,
) -> Result<Vec<(PhoneKey, Known)>, TxError> {
    cache_runs(client, ids, found.iter().map(|(_, c)| c.run_id))?;
    let mut known = Vec::with_capacity(found.len());
    for (phone, columns) in found {
        let run = ids.run_refs.get(&columns.run_id).cloned().unwrap_or_default();
        known.push((phone, columns.into_known(run, shown)?));
    }
    Ok(known)
}

/// The recorded keys of one scope among `keys`: one primary-key probe per
/// key, whatever the statistics say. `phone = ANY($2)`, or a plain join with
/// `unnest`, let the planner of a ledger whose statistics were not gathered
/// yet (one just filled) read the whole scope for each batch: measured 50 to
/// 100 times slower. A lateral subquery with `LIMIT 1` is never flattened
/// into a hash join, and a unique index probe is its cheapest plan.
pub(super) fn known_keys(
    client: &mut Client,
    ids: &mut Ids,
    scope_id: i64,
    keys: &[PhoneKey],
    shown: &str,
) -> Result<KeyMap<Known>, TxError> {
    let sql = "SELECT e.* FROM unnest($2::int8[]) AS k(phone) CROSS JOIN LATERAL ( \
               SELECT e.phone, e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, e.run_id \
               FROM leadctl_entries e WHERE e.scope_id = $1 AND e.phone = k.phone LIMIT 1) AS e";
    let keys = keys_param(keys);
    let mut found = Vec::new();
    for row in client.query_typed(sql, &[(&scope_id, Type::INT8), (&keys, Type::INT8_ARRAY)])? {
        if let Some(phone) = PhoneKey::from_db(row.try_get(0)?) {
            found.push((phone, known_columns(&row, 1)?));
        }
    }
    Ok(into_known(client, ids, found, shown)?.into_iter().collect())
}

/// Marks the keys seen today (the server's clock): `last_seen` moves to now
/// where it is of an earlier day.
pub(super) fn mark_seen(client: &mut Client, scope_id: i64, keys: &[i64], offset_ms: i64) -> Result<(), TxError> {
    let now = now_ms_sql(offset_ms);
    let sql = format!(
        "WITH n AS (SELECT {now} AS now) UPDATE leadctl_entries SET last_seen = (SELECT now FROM n) \
         WHERE scope_id = $1 AND phone = ANY($2) \
         AND last_seen < (SELECT now - now % 86400000 FROM n)"
    );
    client.execute_typed(&sql, &[(&scope_id, Type::INT8), (&keys, Type::INT8_ARRAY)])?;
    Ok(())
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
/// `schema::MERGE_SET`).
pub(super) fn upsert(client: &mut Client, rows: &Rows<'_>, offset_ms: i64) -> Result<(), TxError> {
    let now = now_ms_sql(offset_ms);
    let sql = format!(
        "INSERT INTO leadctl_entries AS t \
         (scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen) \
         SELECT u.scope_id, u.phone, u.outcome, u.lead_id, u.initialized, u.reason, u.run_id, \
         COALESCE(u.first_seen, n.now), COALESCE(u.last_seen, n.now) \
         FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::text[], $5::bool[], $6::text[], $7::int8[], \
         $8::int8[], $9::int8[]) AS u(scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen) \
         CROSS JOIN (SELECT {now} AS now) AS n \
         ORDER BY u.scope_id, u.phone \
         ON CONFLICT (scope_id, phone) DO UPDATE SET {MERGE_SET}"
    );
    let args: [Param<'_>; 9] = [
        (&rows.scope_ids, Type::INT8_ARRAY),
        (&rows.phones, Type::INT8_ARRAY),
        (&rows.outcomes, Type::INT2_ARRAY),
        (&rows.lead_ids, Type::TEXT_ARRAY),
        (&rows.initialized, Type::BOOL_ARRAY),
        (&rows.reasons, Type::TEXT_ARRAY),
        (&rows.run_ids, Type::INT8_ARRAY),
        (&rows.first_seen, Type::INT8_ARRAY),
        (&rows.last_seen, Type::INT8_ARRAY),
    ];
    client.execute_typed(&sql, &args)?;
    Ok(())
}

/// Counts by scope and outcome, claims, and the tables' size.
pub(super) fn stats(client: &mut Client, shown: &str) -> Result<Stats, TxError> {
    let sql = "SELECT s.api_url, s.project, s.process, e.outcome, count(*), min(e.first_seen), max(e.last_seen) \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id \
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
            oldest: from_millis(row.try_get(5)?),
            newest: from_millis(row.try_get(6)?),
        });
    }
    let sql = "SELECT (COALESCE(sum(octet_length(keys)), 0) / 8)::int8 FROM leadctl_claims";
    let claims: i64 = client.query_typed_one(sql, &[])?.try_get(0)?;
    let size_sql = "SELECT COALESCE(sum(pg_total_relation_size(t)), 0)::int8 FROM unnest(ARRAY[ \
                    to_regclass('leadctl_entries'), to_regclass('leadctl_scopes'), to_regclass('leadctl_runs'), \
                    to_regclass('leadctl_claimants'), to_regclass('leadctl_claims'), to_regclass('leadctl_meta')]) AS t \
                    WHERE t IS NOT NULL";
    let size: i64 = client.query_typed_one(size_sql, &[])?.try_get(0)?;
    let mut stats = Stats::from_groups(shown, groups, claims as u64);
    stats.size_bytes = size as u64;
    Ok(stats)
}

/// One page of entries after `(scope_id, phone)`, in key order.
pub(super) fn export_page(
    client: &mut Client,
    ids: &mut Ids,
    after: (i64, i64),
    shown: &str,
) -> Result<Vec<(i64, Entry)>, TxError> {
    let sql = "SELECT e.scope_id, e.phone, s.api_url, s.project, s.process, \
               e.outcome, e.lead_id, e.initialized, e.reason, e.first_seen, e.last_seen, e.run_id \
               FROM leadctl_entries e JOIN leadctl_scopes s ON s.id = e.scope_id \
               WHERE (e.scope_id, e.phone) > ($1, $2) ORDER BY e.scope_id, e.phone LIMIT $3";
    let args: [Param<'_>; 3] = [(&after.0, Type::INT8), (&after.1, Type::INT8), (&PAGE, Type::INT8)];
    let rows = client.query_typed(sql, &args)?;
    let mut found = Vec::with_capacity(rows.len());
    let mut scopes = Vec::with_capacity(rows.len());
    for row in rows {
        let raw_phone: i64 = row.try_get(1)?;
        let phone = PhoneKey::from_db(raw_phone).ok_or_else(|| LedgerError::Corrupt {
            location: shown.to_owned(),
            detail: format!("an entry has phone {raw_phone}, which is not an E.164 number"),
        })?;
        let text = |i| row.try_get::<_, String>(i);
        scopes.push((row.try_get::<_, i64>(0)?, Scope::new(text(2)?, text(3)?, text(4)?)));
        found.push((phone, known_columns(&row, 5)?));
    }
    let known = into_known(client, ids, found, shown)?;
    Ok(scopes.into_iter().zip(known).map(|((id, scope), (phone, known))| (id, Entry { scope, phone, known })).collect())
}
