//! The shared store: PostgreSQL, for runs on several hosts, containers or
//! CronJobs without a disk. A batch is one statement with array parameters
//! (`unnest($2)` joined with the entries, `INSERT ... SELECT FROM unnest(...)
//! ON CONFLICT`), so a thousand keys cost one round trip. Claimers and
//! recorders of a scope take turns on the scope's row lock (`FOR UPDATE`,
//! released at commit): claim rows are read, judged and rewritten whole, so
//! they must not change underneath. Times (first and last seen, leases) come
//! from the server's clock, so hosts with skewed clocks agree on when a
//! lease ran out.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use ::postgres::types::Type;

use super::claims;
use super::pg_conn::{PgConn, TxError};
use super::pg_rows::{self as rows, Rows};
use super::pg_sql::{self as sql, Ids, PgClaim, now_ms_sql};
use super::schema::{self, MERGE_SET, PG_TABLES, VERSION_KEY};
use super::types::{
    ClaimMode, ClaimResult, Entry, KeyMap, Known, PhoneKey, Recorded, Renewal, Scope, Stats, in_key_order,
    last_per_key, lease_millis, outcome_columns, to_millis,
};
use super::{Claimant, Clock, LedgerError, Location, OpenOptions, ScopeFilter, Store};
use crate::ledger::location::PgLocation;

pub(crate) struct PgStore {
    conn: PgConn,
    location: Location,
    ids: Ids,
    clock: Clock,
}

/// Serializes the first-use creation of the tables by concurrent runs
/// (transaction-scoped, so a pooler may reuse the connection at once).
const SCHEMA_LOCK: i64 = 0x6c65_6164_6374_6c31;

impl PgStore {
    pub(crate) fn open(location: Location, pg: &PgLocation, options: &OpenOptions) -> Result<PgStore, LedgerError> {
        let conn = PgConn::connect(pg, &location.to_string(), options)?;
        let mut store = PgStore { conn, location, ids: Ids::default(), clock: options.clock.clone() };
        store.init_schema()?;
        Ok(store)
    }

    fn init_schema(&mut self) -> Result<(), LedgerError> {
        let shown = self.conn.shown.clone();
        let now = now_ms_sql(self.clock.offset_ms());
        self.conn.transaction(|client| {
            client.query_typed("SELECT pg_advisory_xact_lock($1)", &[(&SCHEMA_LOCK, Type::INT8)])?;
            let exists: bool = client.query_typed_one("SELECT to_regclass('leadctl_meta') IS NOT NULL", &[])?.get(0);
            if exists {
                let sql = "SELECT value FROM leadctl_meta WHERE key = $1";
                let version = client.query_typed_opt(sql, &[(&VERSION_KEY, Type::TEXT)])?;
                let version: String = version
                    .ok_or_else(|| LedgerError::Corrupt {
                        location: shown.clone(),
                        detail: "it has no schema version".into(),
                    })?
                    .get(0);
                if schema::check_version(&shown, &version)? < 2 {
                    migrate_to_2(client)?;
                }
            } else {
                client.batch_execute(PG_TABLES)?;
                let sql = format!("INSERT INTO leadctl_meta (key, value) VALUES ($1, $2), ('created_at', {now}::text)");
                let version = schema::SCHEMA_VERSION.to_string();
                client.query_typed(&sql, &[(&VERSION_KEY, Type::TEXT), (&version, Type::TEXT)])?;
            }
            Ok(())
        })
    }

    /// A transaction whose failure also forgets ids cached during it (a
    /// rolled-back scope's id could later belong to another scope).
    fn write<T>(
        &mut self,
        mut f: impl FnMut(&mut ::postgres::Client, &mut Ids, &str) -> Result<T, TxError>,
    ) -> Result<T, LedgerError> {
        let shown = self.conn.shown.clone();
        let ids = &mut self.ids;
        let mut retry = false;
        let result = self.conn.transaction(|client| {
            if retry {
                *ids = Ids::default();
            }
            retry = true;
            f(client, ids, &shown)
        });
        if result.is_err() {
            self.ids = Ids::default();
        }
        result
    }
}

impl Store for PgStore {
    fn location(&self) -> &Location {
        &self.location
    }

    fn lookup(&mut self, scope: &Scope, keys: &[PhoneKey], seen: bool) -> Result<Vec<Option<Known>>, LedgerError> {
        // Two statements, no transaction: each is atomic, and a scope never goes away.
        let ids = &mut self.ids;
        let mut scope_id = None;
        let found = self.conn.read(|client, shown| match sql::scope_id(client, ids, scope, false)? {
            None => Ok(KeyMap::default()),
            Some(id) => {
                scope_id = Some(id);
                rows::known_keys(client, ids, id, keys, shown)
            }
        })?;
        if let (true, Some(scope_id)) = (seen, scope_id) {
            let stale: Vec<i64> = found.keys().map(|p| p.to_db()).collect();
            if !stale.is_empty() {
                // Marked seen today (the server's day); keys seen today already are not written.
                let offset = self.clock.offset_ms();
                self.write(|client, _, _| rows::mark_seen(client, scope_id, &stale, offset))?;
            }
        }
        Ok(in_key_order(keys, found))
    }

    fn claim(
        &mut self,
        scope: &Scope,
        keys: &[PhoneKey],
        claimant: &Claimant,
        lease: Duration,
        mode: ClaimMode,
    ) -> Result<Vec<ClaimResult>, LedgerError> {
        // Durable like every write: a server crash must not drop a claim
        // that a run then sends under.
        let offset = self.clock.offset_ms();
        let mut attempts = 0;
        let results = self.write(|client, ids, shown| {
            attempts += 1;
            let scope_id = sql::scope_id(client, ids, scope, true)?.unwrap_or(0);
            let run_id = sql::run_id(client, ids, &claimant.run)?;
            sql::lock_scope(client, scope_id)?;
            let (me, now) = sql::upsert_claimant(client, run_id, claimant, lease_millis(lease), offset, shown)?;
            let mut ops = PgClaim { client, ids, scope_id, me, shown };
            let results = claims::claim_keys(&mut ops, shown, me, claimant, keys, now, mode)?;
            let seen: Vec<i64> = claims::to_mark_seen(keys, &results, now).iter().map(|k| k.to_db()).collect();
            if !seen.is_empty() {
                rows::mark_seen(client, scope_id, &seen, offset)?;
            }
            Ok(results)
        })?;
        // An attempt before this one may have committed (its answer lost
        // with the connection) and taken keys over from a dead run; this one
        // then found them ours. They may exist, as a takeover's do.
        if attempts > 1 {
            return Ok(results
                .into_iter()
                .map(|r| if r == ClaimResult::Claimed { ClaimResult::MayExist } else { r })
                .collect());
        }
        Ok(results)
    }

    fn record(&mut self, scope: &Scope, outcomes: &[Recorded], claimant: &Claimant) -> Result<(), LedgerError> {
        let offset = self.clock.offset_ms();
        self.write(|client, ids, shown| {
            let scope_id = sql::scope_id(client, ids, scope, true)?.unwrap_or(0);
            let run_id = sql::run_id(client, ids, &claimant.run)?;
            sql::lock_scope(client, scope_id)?;
            let outcomes = last_per_key(outcomes);
            let mut rows = Rows::default();
            for r in &outcomes {
                rows.push(scope_id, r.phone, outcome_columns(&r.outcome), run_id, None);
            }
            rows::upsert(client, &rows, offset)?;
            let keys: Vec<PhoneKey> = outcomes.iter().map(|r| r.phone).collect();
            release_own(client, scope_id, &keys, claimant, shown)?;
            Ok(())
        })
    }

    fn release(&mut self, scope: &Scope, keys: &[PhoneKey], claimant: &Claimant) -> Result<u64, LedgerError> {
        self.write(|client, ids, shown| {
            let Some(scope_id) = sql::scope_id(client, ids, scope, false)? else { return Ok(0) };
            sql::lock_scope(client, scope_id)?;
            release_own(client, scope_id, keys, claimant, shown)
        })
    }

    fn renew(&mut self, claimant: &Claimant, lease: Duration) -> Result<Renewal, LedgerError> {
        let offset = self.clock.offset_ms();
        self.write(|client, _, _| sql::renew(client, claimant, lease_millis(lease), offset))
    }

    fn stats(&mut self) -> Result<Stats, LedgerError> {
        self.conn.read(rows::stats)
    }

    fn forget(&mut self, phone: PhoneKey, which: &ScopeFilter) -> Result<u64, LedgerError> {
        self.write(|client, _, shown| {
            let mut removed = 0;
            let mut scopes: Vec<i64> =
                sql::scopes(client)?.into_iter().filter(|(_, s)| which.matches(s)).map(|(id, _)| id).collect();
            scopes.sort_unstable();
            for scope_id in scopes {
                // Claimers and recorders of the scope wait, as for a record.
                sql::lock_scope(client, scope_id)?;
                let sql = "DELETE FROM leadctl_entries WHERE scope_id = $1 AND phone = $2";
                removed += client.execute_typed(sql, &[(&scope_id, Type::INT8), (&phone.to_db(), Type::INT8)])?;
                let (changed, _) = claims::without_keys(sql::scope_claims(client, scope_id, shown)?, &[phone]);
                for (id, left) in changed {
                    sql::rewrite_claim(client, id, &left)?;
                }
            }
            Ok(removed)
        })
    }

    fn prune(&mut self, older_than: SystemTime) -> Result<u64, LedgerError> {
        let cutoff = to_millis(older_than);
        self.write(|client, _, _| {
            let sql = "DELETE FROM leadctl_entries WHERE last_seen < $1";
            let removed = client.execute_typed(sql, &[(&cutoff, Type::INT8)])?;
            for statement in sql::PRUNE_CLAIMS {
                client.execute_typed(statement, &[(&cutoff, Type::INT8)])?;
            }
            Ok(removed)
        })
    }

    fn export(&mut self, each: &mut dyn FnMut(Entry) -> anyhow::Result<()>) -> Result<u64, LedgerError> {
        let mut after = (i64::MIN, i64::MIN);
        let mut count = 0;
        loop {
            // One statement per page: no transaction stays open while `each` runs.
            let ids = &mut self.ids;
            let page = self.conn.read(|client, shown| rows::export_page(client, ids, after, shown))?;
            let Some(last) = page.last() else { return Ok(count) };
            after = (last.0, last.1.phone.to_db());
            for (_, entry) in page {
                each(entry).map_err(LedgerError::Callback)?;
                count += 1;
            }
        }
    }

    fn import(&mut self, entries: &[Entry]) -> Result<u64, LedgerError> {
        let offset = self.clock.offset_ms();
        self.write(|client, ids, _| {
            let mut rows = Rows::default();
            let mut at: HashMap<(i64, PhoneKey), usize> = HashMap::with_capacity(entries.len());
            for e in entries {
                let scope_id = sql::scope_id(client, ids, &e.scope, true)?.unwrap_or(0);
                let run_id = sql::run_id(client, ids, &e.known.recorded_by)?;
                let times = Some((to_millis(e.known.first_seen), to_millis(e.known.last_seen)));
                let columns = outcome_columns(&e.known.outcome);
                // One upsert cannot touch a row twice: the last entry of a key wins.
                match at.get(&(scope_id, e.phone)) {
                    Some(&i) => rows.set(i, scope_id, e.phone, columns, run_id, times),
                    None => {
                        at.insert((scope_id, e.phone), rows.len());
                        rows.push(scope_id, e.phone, columns, run_id, times);
                    }
                }
            }
            // Like a recorder, wait for claimers of these scopes (in one
            // order, so that two importers cannot deadlock): a claimer then
            // sees these entries, or finishes before they exist.
            let mut scopes: Vec<i64> = at.keys().map(|(scope_id, _)| *scope_id).collect();
            scopes.sort_unstable();
            scopes.dedup();
            for scope_id in scopes {
                sql::lock_scope(client, scope_id)?;
            }
            rows::upsert(client, &rows, offset)?;
            Ok(entries.len() as u64)
        })
    }

    fn reconnected(&mut self) -> bool {
        self.conn.take_reconnected()
    }

    fn now_ms(&mut self) -> Result<i64, LedgerError> {
        let sql = format!("SELECT {}", now_ms_sql(self.clock.offset_ms()));
        self.conn.read(|client, _| Ok(client.query_typed_one(&sql, &[])?.try_get(0)?))
    }

    fn claimed_count(&mut self, claimant: &Claimant) -> Result<u64, LedgerError> {
        self.conn.read(|client, _| sql::claimed_count(client, claimant))
    }
}

/// Schema 1 to 2: scope URLs to their normal form (merging scopes that an
/// older binary kept under two spellings of one API), then the version.
/// Outcome 6 (may exist) needs no change to the tables.
fn migrate_to_2(client: &mut ::postgres::Client) -> Result<(), TxError> {
    for (id, url, into) in schema::scope_merges(&sql::scopes(client)?) {
        match into {
            None => {
                let sql = "UPDATE leadctl_scopes SET api_url = $1 WHERE id = $2";
                client.execute_typed(sql, &[(&url, Type::TEXT), (&id, Type::INT8)])?;
            }
            Some(target) => {
                let sql = format!(
                    "INSERT INTO leadctl_entries AS t \
                     (scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen) \
                     SELECT $1, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen \
                     FROM leadctl_entries WHERE scope_id = $2 \
                     ON CONFLICT (scope_id, phone) DO UPDATE SET {MERGE_SET}"
                );
                let args: [(&(dyn ::postgres::types::ToSql + Sync), Type); 2] =
                    [(&target, Type::INT8), (&id, Type::INT8)];
                client.execute_typed(&sql, &args)?;
                client.execute_typed("DELETE FROM leadctl_entries WHERE scope_id = $1", &[(&id, Type::INT8)])?;
                client.execute_typed("UPDATE leadctl_claims SET scope_id = $1 WHERE scope_id = $2", &args)?;
            }
        }
    }
    let sql = "UPDATE leadctl_meta SET value = '2' WHERE key = $1";
    client.execute_typed(sql, &[(&VERSION_KEY, Type::TEXT)])?;
    Ok(())
}

/// Removes `keys` from the claimant's claims in the (locked) scope; returns how many went.
fn release_own(
    client: &mut ::postgres::Client,
    scope_id: i64,
    keys: &[PhoneKey],
    claimant: &Claimant,
    shown: &str,
) -> Result<u64, TxError> {
    let Some(me) = sql::claimant_id(client, claimant)? else { return Ok(0) };
    let (changed, removed) = claims::without_keys(sql::own_claims(client, scope_id, me, shown)?, keys);
    for (id, left) in changed {
        sql::rewrite_claim(client, id, &left)?;
    }
    Ok(removed)
}
