//! The embedded store: one SQLite file in WAL mode, shared by any number of
//! runs on one host (WAL needs shared memory, so not over a network file
//! system: PostgreSQL is the store for several hosts).
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`: a deferred one that
//! later needs to write fails with `SQLITE_BUSY_SNAPSHOT` at once instead of
//! waiting, so two runs claiming together would see errors rather than take
//! turns. With the write lock held from the start, the busy timeout makes the
//! second run wait its turn, and the claim algorithm sees a still world.
//! A batch of keys goes in as one `rarray()` parameter, so a batch costs a
//! handful of statements, except `record`'s upsert: one prepared statement
//! executed per outcome (each row carries its own lead id and reason).
//!
//! `synchronous = NORMAL`: in WAL mode a commit then survives a crash of the
//! process but not always a power cut (the WAL is synced at checkpoints).
//! Claims are transient anyway, and a lost record only means the next run
//! sends that lead again and records the server's duplicate answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use super::claims;
use super::schema::{self, MERGE_SET, SQLITE_APPLICATION_ID, SQLITE_TABLES, VERSION_KEY};
use super::sqlite_file;
use super::sqlite_log::{self, Log, Record};
use super::sqlite_sql::{self as sql, Ids, SqliteClaim};
use super::types::{
    ClaimMode, ClaimResult, Entry, Known, PhoneKey, Recorded, Renewal, Scope, Stats, in_key_order, lease_millis,
    outcome_columns, to_millis,
};
use super::{Claimant, Clock, LedgerError, Location, OpenOptions, ScopeFilter, Store};

pub(crate) struct SqliteStore {
    conn: Connection,
    location: Location,
    /// `location` as shown in messages.
    shown: String,
    path: PathBuf,
    ids: Ids,
    upsert_sql: String,
    clock: Clock,
    /// What other processes appended to the log, folded per key.
    log: Log,
}

/// What a write transaction works with besides the transaction itself.
struct Ctx<'a> {
    ids: &'a mut Ids,
    log: &'a mut Log,
    shown: &'a str,
    upsert: &'a str,
    /// The store's clock, read once the write lock is held: a lease is
    /// judged as of the moment the transaction runs, not as of a wait for
    /// the lock before it.
    now: i64,
}

/// Maps rusqlite's errors to the ledger's, naming the location.
pub(super) trait At<T> {
    fn at(self, location: &str) -> Result<T, LedgerError>;
}

impl<T> At<T> for Result<T, rusqlite::Error> {
    fn at(self, location: &str) -> Result<T, LedgerError> {
        self.map_err(|e| {
            let (location, detail) = (location.to_owned(), e.to_string());
            match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => LedgerError::Busy { location, detail },
                Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => LedgerError::Corrupt { location, detail },
                Some(
                    ErrorCode::CannotOpen
                    | ErrorCode::PermissionDenied
                    | ErrorCode::ReadOnly
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::FileLockingProtocolFailed,
                ) => LedgerError::Unavailable { location, detail },
                _ => LedgerError::Database { location, detail },
            }
        })
    }
}

/// Switches the file to WAL (a no-op once it is). The switch takes a lock
/// for which SQLite does not call the busy handler: two runs opening a new
/// ledger at once would see one fail with "database is locked" at once
/// (13 of 400 openings in a stress test), so it is retried until `timeout`.
fn wal_mode(conn: &Connection, timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

impl SqliteStore {
    pub(crate) fn open(location: Location, path: &Path, options: &OpenOptions) -> Result<SqliteStore, LedgerError> {
        let shown = location.to_string();
        sqlite_file::prepare(path, &shown)?;
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).at(&shown)?;
        conn.busy_timeout(options.busy_timeout).at(&shown)?;
        let mode = wal_mode(&conn, options.busy_timeout).at(&shown)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Unavailable {
                location: shown,
                detail: format!("SQLite kept journal mode {mode} instead of WAL (a network file system?)"),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL").at(&shown)?;
        // No memory map: its pages count in the run's RSS (a cron
        // container's memory limit), and it bought no speed. Measured with
        // benches/bench_ledger.py, 1,000,000 rows, a map of up to 1 GiB
        // against none: the rerun with every lead known 5.09 s / 185 MiB
        // peak RSS against 4.85 s / 116 MiB; an empty ledger, 200,000 rows
        // (pinned, as bench_cost.py), 94-98 MiB against 90-93 MiB.
        conn.pragma_update(None, "mmap_size", 0_i64).at(&shown)?;
        // A run appends to the log and reads its tail: SQLite's default
        // page cache (2 MB) and checkpoints (every 4 MB of WAL) serve it. A
        // merge checkpoints and truncates the WAL when it is done; the WAL is
        // cut back to 64 MB after any other checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", 1_000).at(&shown)?;
        conn.pragma_update(None, "journal_size_limit", 64_i64 << 20).at(&shown)?;
        conn.set_prepared_statement_cache_capacity(32);
        rusqlite::vtab::array::load_module(&conn).at(&shown)?;
        let upsert_sql = format!(
            "INSERT INTO leadctl_entries AS t (scope_id, phone, outcome, lead_id, initialized, reason, run_id, \
             first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (scope_id, phone) DO UPDATE SET {MERGE_SET}"
        );
        let path = path.to_path_buf();
        let clock = options.clock.clone();
        let mut store =
            SqliteStore { conn, location, shown, path, ids: Ids::default(), upsert_sql, clock, log: Log::default() };
        store.init_schema()?;
        // A long log (runs that recorded many new leads) is merged before
        // this run starts, so that what this process folds stays small.
        if sqlite_log::pending(&store.conn, &store.shown)? > sqlite_log::MERGE_AT {
            store.merge()?;
        }
        Ok(store)
    }

    /// Creates the tables in a fresh file, or checks the version of an existing ledger.
    fn init_schema(&mut self) -> Result<(), LedgerError> {
        let shown = &self.shown;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).at(shown)?;
        let app_id: i32 = tx.pragma_query_value(None, "application_id", |r| r.get(0)).at(shown)?;
        let objects: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).at(shown)?;
        if app_id == SQLITE_APPLICATION_ID {
            let version: Option<String> = tx
                .query_row("SELECT value FROM leadctl_meta WHERE key = ?1", [VERSION_KEY], |r| r.get(0))
                .optional()
                .at(shown)?;
            let version = version.ok_or_else(|| LedgerError::Corrupt {
                location: shown.clone(),
                detail: "it has no schema version".into(),
            })?;
            if schema::check_version(shown, &version)? < 2 {
                migrate_to_2(&tx, &self.upsert_sql, shown)?;
            }
        } else if app_id != 0 || objects > 0 {
            return Err(LedgerError::Corrupt {
                location: shown.clone(),
                detail: format!(
                    "the file is another program's SQLite database (application id {app_id:#x}, {objects} schema \
                     objects); point --ledger at a new file"
                ),
            });
        } else {
            tx.execute_batch(SQLITE_TABLES).at(shown)?;
            tx.execute_batch(schema::SQLITE_LOG_TABLE).at(shown)?;
            let created = to_millis(SystemTime::now()).to_string();
            let sql = "INSERT INTO leadctl_meta (key, value) VALUES (?1, ?2), ('created_at', ?3)";
            tx.execute(sql, params![VERSION_KEY, schema::SCHEMA_VERSION.to_string(), created]).at(shown)?;
            tx.pragma_update(None, "application_id", SQLITE_APPLICATION_ID).at(shown)?;
        }
        tx.commit().at(shown)
    }

    /// Runs a write in one `BEGIN IMMEDIATE` transaction, the log read up
    /// to date in it first. Ids cached during a transaction that fails are
    /// forgotten (a rolled-back scope's id could be handed to another scope
    /// later), and so is the folded log (a rolled-back row's id will be
    /// another's).
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, Ctx<'_>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let result = (|| {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.shown)?;
            self.log.refresh(&tx, &self.shown)?;
            let now = self.clock.now_ms();
            let ctx = Ctx { ids: &mut self.ids, log: &mut self.log, shown: &self.shown, upsert: &self.upsert_sql, now };
            let value = f(&tx, ctx)?;
            tx.commit().at(&self.shown)?;
            Ok(value)
        })();
        if result.is_err() {
            self.ids = Ids::default();
            self.log = Log::default();
        }
        result
    }

    /// Merges the log into the entries (see `sqlite_log.rs`); `leadctl
    /// ledger` does it before it reads or changes entries.
    ///
    /// One transaction per segment (bounded memory; a run waiting for the
    /// write lock gets it between segments, and reads what is left of the
    /// log as it reads the rest), then the WAL is folded into the file and
    /// cut back, so that the next reads do not search a long WAL.
    fn merge(&mut self) -> Result<u64, LedgerError> {
        let mut merged = 0;
        loop {
            let n = self.write(|tx, c| sqlite_log::merge_segment(tx, c.upsert, c.shown))?;
            if n == 0 {
                break;
            }
            merged += n;
        }
        if merged > 0 {
            // Best effort: a reader elsewhere may keep part of the WAL alive.
            let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        Ok(merged)
    }
}

impl Store for SqliteStore {
    fn location(&self) -> &Location {
        &self.location
    }

    fn lookup(&mut self, scope: &Scope, keys: &[PhoneKey], seen: bool) -> Result<Vec<Option<Known>>, LedgerError> {
        if seen {
            // Marks what it finds seen: a write.
            return self.write(|tx, c| {
                let now = c.now;
                let Some(scope_id) = sql::scope_id(tx, c.ids, scope, false, c.shown)? else {
                    return Ok(vec![None; keys.len()]);
                };
                let found = c.log.known(tx, c.ids, scope_id, keys, c.shown)?;
                let stale = claims::seen_before(found.iter().map(|(k, v)| (*k, v)), now);
                let sightings: Vec<Record<'_>> = stale.into_iter().map(Record::seen).collect();
                c.log.append(
                    tx,
                    scope_id,
                    sql::run_id(tx, c.ids, &super::RunRef::default(), c.shown)?,
                    now,
                    &sightings,
                    c.shown,
                )?;
                Ok(in_key_order(keys, found))
            });
        }
        // One read transaction: the log and the entries as of one moment.
        let tx = self.conn.transaction().at(&self.shown)?;
        let Some(scope_id) = sql::scope_id(&tx, &mut self.ids, scope, false, &self.shown)? else {
            return Ok(vec![None; keys.len()]);
        };
        let found = self
            .log
            .refresh(&tx, &self.shown)
            .and_then(|()| self.log.known(&tx, &mut self.ids, scope_id, keys, &self.shown));
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                self.log = Log::default();
                return Err(e);
            }
        };
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
        self.write(|tx, c| {
            let now = c.now;
            let scope_id = sql::scope_id(tx, c.ids, scope, true, c.shown)?.unwrap_or(0);
            let run_id = sql::run_id(tx, c.ids, &claimant.run, c.shown)?;
            let until = now.saturating_add(lease_millis(lease));
            let me = sql::upsert_claimant(tx, run_id, claimant, until, now, c.shown)?;
            let mut ops = SqliteClaim { conn: tx, ids: &mut *c.ids, log: &mut *c.log, scope_id, me, shown: c.shown };
            let results = claims::claim_keys(&mut ops, c.shown, me, claimant, keys, now, mode)?;
            // Leads this run found in its input are seen today.
            let sightings: Vec<Record<'_>> =
                claims::to_mark_seen(keys, &results, now).into_iter().map(Record::seen).collect();
            c.log.append(tx, scope_id, run_id, now, &sightings, c.shown)?;
            Ok(results)
        })
    }

    fn record(&mut self, scope: &Scope, outcomes: &[Recorded], claimant: &Claimant) -> Result<(), LedgerError> {
        self.write(|tx, c| {
            let now = c.now;
            let scope_id = sql::scope_id(tx, c.ids, scope, true, c.shown)?.unwrap_or(0);
            let run_id = sql::run_id(tx, c.ids, &claimant.run, c.shown)?;
            let records: Vec<Record<'_>> = outcomes.iter().map(|r| Record::of(r.phone, &r.outcome)).collect();
            c.log.append(tx, scope_id, run_id, now, &records, c.shown)?;
            let keys: Vec<PhoneKey> = outcomes.iter().map(|r| r.phone).collect();
            sql::release_own(tx, scope_id, &keys, claimant, c.shown)?;
            Ok(())
        })
    }

    fn release(&mut self, scope: &Scope, keys: &[PhoneKey], claimant: &Claimant) -> Result<u64, LedgerError> {
        self.write(|tx, c| match sql::scope_id(tx, c.ids, scope, false, c.shown)? {
            Some(scope_id) => sql::release_own(tx, scope_id, keys, claimant, c.shown),
            None => Ok(0),
        })
    }

    fn renew(&mut self, claimant: &Claimant, lease: Duration) -> Result<Renewal, LedgerError> {
        self.write(|tx, c| {
            let (shown, now) = (c.shown, c.now);
            let until = now.saturating_add(lease_millis(lease));
            // A lease that already ran out is not renewed: its keys may be
            // another run's now.
            let sql = "UPDATE leadctl_claimants SET lease_until = max(lease_until, ?1) WHERE pid = ?2 AND stamp = ?3 \
                       AND run_id = (SELECT id FROM leadctl_runs WHERE run = ?4 AND host = ?5) AND lease_until > ?6";
            let stamp = claims::ProcessStamp::encode(claimant.stamp.as_ref());
            let args = params![until, claimant.pid, stamp, claimant.run.run, claimant.run.host, now];
            let renewed = tx.prepare_cached(sql).at(shown)?.execute(args).at(shown)? > 0;
            Ok(if renewed { Renewal::Renewed } else { Renewal::Lapsed })
        })
    }

    fn now_ms(&mut self) -> Result<i64, LedgerError> {
        Ok(self.clock.now_ms())
    }

    fn claimed_count(&mut self, claimant: &Claimant) -> Result<u64, LedgerError> {
        sql::claimed_count(&self.conn, claimant, &self.shown)
    }

    fn stats(&mut self) -> Result<Stats, LedgerError> {
        self.merge()?;
        let mut stats = sql::stats(&self.conn, &self.shown)?;
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        stats.size_bytes = [&self.path, &wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        Ok(stats)
    }

    fn forget(&mut self, phone: PhoneKey, which: &ScopeFilter) -> Result<u64, LedgerError> {
        self.merge()?;
        self.write(|tx, c| {
            let shown = c.shown;
            let mut removed = 0;
            for (scope_id, scope) in sql::scopes(tx, shown)? {
                if !which.matches(&scope) {
                    continue;
                }
                let sql = "DELETE FROM leadctl_entries WHERE scope_id = ?1 AND phone = ?2";
                removed += tx.execute(sql, params![scope_id, phone.to_db()]).at(shown)? as u64;
                let (changed, _) = claims::without_keys(sql::scope_claims(tx, scope_id, shown)?, &[phone]);
                for (id, left) in changed {
                    sql::rewrite_claim(tx, id, &left, shown)?;
                }
            }
            Ok(removed)
        })
    }

    fn prune(&mut self, older_than: SystemTime) -> Result<u64, LedgerError> {
        let cutoff = to_millis(older_than);
        self.merge()?;
        self.write(|tx, c| {
            let shown = c.shown;
            let removed = tx.execute("DELETE FROM leadctl_entries WHERE last_seen < ?1", [cutoff]).at(shown)?;
            for statement in sql::PRUNE_CLAIMS {
                tx.execute(statement, [cutoff]).at(shown)?;
            }
            Ok(removed as u64)
        })
    }

    fn export(&mut self, each: &mut dyn FnMut(Entry) -> anyhow::Result<()>) -> Result<u64, LedgerError> {
        self.merge()?;
        let mut after = (i64::MIN, i64::MIN);
        let mut count = 0;
        loop {
            // One read transaction per page: nothing stays open while `each` runs.
            let page = sql::export_page(&self.conn, &mut self.ids, after, &self.shown)?;
            let Some(last) = page.last() else { return Ok(count) };
            after = (last.0, last.1.phone.to_db());
            for (_, entry) in page {
                each(entry).map_err(LedgerError::Callback)?;
                count += 1;
            }
        }
    }

    fn import(&mut self, entries: &[Entry]) -> Result<u64, LedgerError> {
        self.merge()?;
        self.write(|tx, c| {
            let (ids, shown) = (&mut *c.ids, c.shown);
            let mut stmt = tx.prepare_cached(c.upsert).at(shown)?;
            for e in entries {
                let scope_id = sql::scope_id(tx, ids, &e.scope, true, shown)?.unwrap_or(0);
                let run_id = sql::run_id(tx, ids, &e.known.recorded_by, shown)?;
                let (outcome, lead_id, initialized, reason) = outcome_columns(&e.known.outcome);
                let (first, last) = (to_millis(e.known.first_seen), to_millis(e.known.last_seen));
                let row =
                    params![scope_id, e.phone.to_db(), outcome, lead_id, initialized, reason, run_id, first, last];
                stmt.execute(row).at(shown)?;
            }
            Ok(entries.len() as u64)
        })
    }
}

/// Schema 1 to 2: scope URLs to their normal form (merging scopes that an
/// older binary kept under two spellings of one API), then the version.
/// Outcome 6 (may exist) needs no change to the tables.
fn migrate_to_2(tx: &Transaction<'_>, upsert: &str, shown: &str) -> Result<(), LedgerError> {
    tx.execute_batch(schema::SQLITE_LOG_TABLE).at(shown)?;
    // Columns in the order the upsert statement binds them.
    let copy = "SELECT ?1, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen \
                FROM leadctl_entries WHERE scope_id = ?2";
    for (id, url, into) in schema::scope_merges(&sql::scopes(tx, shown)?) {
        match into {
            None => {
                tx.execute("UPDATE leadctl_scopes SET api_url = ?1 WHERE id = ?2", params![url, id]).at(shown)?;
            }
            Some(target) => {
                let rows: Vec<Vec<rusqlite::types::Value>> = {
                    let mut stmt = tx.prepare(copy).at(shown)?;
                    let mapped = stmt.query_map(params![target, id], |r| (0..9).map(|i| r.get(i)).collect());
                    mapped.at(shown)?.collect::<rusqlite::Result<_>>().at(shown)?
                };
                let mut stmt = tx.prepare(upsert).at(shown)?;
                for row in rows {
                    stmt.execute(rusqlite::params_from_iter(row)).at(shown)?;
                }
                tx.execute("DELETE FROM leadctl_entries WHERE scope_id = ?1", [id]).at(shown)?;
                tx.execute("UPDATE leadctl_claims SET scope_id = ?1 WHERE scope_id = ?2", [target, id]).at(shown)?;
            }
        }
    }
    tx.execute("UPDATE leadctl_meta SET value = ?1 WHERE key = ?2", params!["2", VERSION_KEY]).at(shown)?;
    Ok(())
}
