//! The delivery ledger: every lead the API accepted or refused for good,
//! keyed by (API base URL, project, process, phone in E.164), consulted
//! before sending so that no run sends a lead an earlier run already
//! delivered, and claimed while being sent so that two runs never send the
//! same lead at once. It knows keys and outcomes, never rows, files or HTTP.
//!
//! | file | owns |
//! |---|---|
//! | `types.rs` | the vocabulary: keys, scopes, outcomes, claim answers, entries |
//! | `location.rs` | `--ledger` values, the default path, a password-free `Display` |
//! | `claims.rs` | claimants, liveness of a claimant, the shared claim algorithm |
//! | `schema.rs` | the tables and the schema version, for both stores |
//! | `sqlite.rs`, `sqlite_sql.rs`, `sqlite_file.rs` | the embedded store (one host), its statements, its file's safety |
//! | `sqlite_log.rs` | the embedded store's log of answers, and its merge into the entries |
//! | `merge.rs` | the merge rule of two outcomes of a key, in Rust (`schema::MERGE_SET` in SQL) |
//! | `postgres.rs`, `pg_sql.rs`, `pg_rows.rs`, `pg_conn.rs`, `tls.rs` | the shared store (many hosts), its statements, its connection, rustls |
//! | `handle.rs` | [`Ledger`]: the store on its own thread, blocking and async calls, lease renewal |
//! | `session.rs` | [`Session`]: one run's use of it (its claimant, its API), calls over many scopes, a busy ledger waited for |
//! | `fault.rs` | a fault seam around a store, for tests |
//!
//! # Shape of the data
//!
//! A scope (API URL, project, process) is a row with a small integer id, and
//! an entry's key is `(scope_id, phone)` with the phone as an integer (its
//! E.164 digits, see [`PhoneKey`]): the primary key is two integers, the
//! table clusters on it (`WITHOUT ROWID` in SQLite), and a batch's lookup
//! is a thousand probes of one index. Runs are rows too, so an entry names
//! its run with an integer.
//!
//! Claims are kept apart from entries, one row per claim call with its keys
//! in one blob: keys in flight are few, so a claimer reads all of a scope's
//! claims at once, and claiming a chunk writes one row. Claimers and
//! recorders of a scope take turns (SQLite's write lock, the scope's row
//! lock on PostgreSQL), so a key is always either claimed, recorded, or
//! free, as one transaction sees it.
//!
//! A run claims each chunk of leads in the transaction that looks them up
//! (the read stage), and records each answered batch in one transaction
//! that also gives its claims back. PostgreSQL upserts the answers into the
//! entries (the server does the B-tree work). SQLite appends them to a log
//! (`sqlite_log.rs`): one row a batch, merged into the entries in key order
//! when the next run finds the log long, or before `leadctl ledger` reads
//! the entries; what the ledger knows of a key is its entry merged with its
//! log records by the one rule (`merge.rs`).
//!
//! # Cost (`cargo bench --bench ledger_store`)
//!
//! A lookup is a primary-key probe per key, about 2 us on SQLite (1,000,000
//! keys in 2-3 s on two busy cores) and 2-3 times that on PostgreSQL over
//! loopback; a scope with no entries yet (a ledger that only has a log) is
//! not probed. Recording into the entries put each new key on a random page
//! of the index (about 4 KB of WAL a key: 15-20 us a key, mostly in the
//! kernel); the log writes a batch as one row of about 40 bytes a key, and
//! the merge writes the entries sorted (about 1 us a key, once).

mod claims;
#[doc(hidden)]
pub mod fault;
mod handle;
mod location;
mod merge;
mod pg_conn;
mod pg_rows;
mod pg_sql;
mod postgres;
mod schema;
mod session;
mod sqlite;
mod sqlite_file;
mod sqlite_log;
mod sqlite_sql;
mod tls;
mod types;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

pub use self::claims::{Claimant, ProcessStamp, host_name};
pub use self::handle::{Ledger, LedgerOptions, Reply};
pub use self::location::{Location, LocationError, SslMode};
pub use self::schema::SCHEMA_VERSION;
pub use self::session::{LeadKey, Session, SessionOptions, Writes};
pub use self::types::{
    ClaimMode, ClaimResult, Entry, Holder, Known, Outcome, OutcomeKind, PhoneKey, Recorded, RejectCode, Renewal,
    RunRef, Scope, Stats, StatsGroup, Takeover, api_url_key,
};

/// Why a ledger operation failed, in the terms a caller decides on: `Busy`
/// and `Unavailable` may pass (retry later, or go on without the ledger as
/// the operator chose); `Corrupt`, `NewerSchema` and `Permissions` need a
/// person.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger {location} is busy: {detail}")]
    Busy { location: String, detail: String },
    #[error("cannot use the ledger {location}: {detail}")]
    Unavailable { location: String, detail: String },
    #[error("the ledger {location} is damaged or is not a leadctl ledger: {detail}")]
    Corrupt { location: String, detail: String },
    #[error(
        "the ledger {location} has schema version {found}, newer than this leadctl knows ({supported}); \
         upgrade leadctl, or point --ledger at another ledger"
    )]
    NewerSchema { location: String, found: i64, supported: i64 },
    #[error(
        "refusing the ledger file {}: its mode {mode:03o} lets group or others read the phone numbers in it; \
         fix it with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the ledger {location} failed: {detail}")]
    Database { location: String, detail: String },
    #[error("the ledger's thread has stopped")]
    Closed,
    /// This run's claims lapsed (its lease could not be renewed in time):
    /// another run may be sending those leads now, so this one never will.
    #[error(
        "this run's claims in the ledger {location} lapsed (the lease could not be renewed in time): another run \
         may send those leads now"
    )]
    Lapsed { location: String },
    /// The export callback's own error, passed through.
    #[error("{0:#}")]
    Callback(anyhow::Error),
}

/// A ledger store: one connection to one database, used by one thread at a
/// time (see [`Ledger`] for sharing it). Every method is one transaction
/// (export: one per page) and takes whole batches, never one query per key.
pub trait Store: Send {
    /// Where it is, without any password.
    fn location(&self) -> &Location;

    /// What the ledger knows about each key, in the order given. With
    /// `seen`, the keys found are marked seen today (their `last_seen`
    /// moves to now when it is of an earlier day): a lead that every
    /// night's export holds is never pruned. A dry run looks without it.
    fn lookup(&mut self, scope: &Scope, keys: &[PhoneKey], seen: bool) -> Result<Vec<Option<Known>>, LedgerError>;

    /// Claims the keys for `claimant` in one transaction and sets its lease
    /// to `lease` from now; answers each key in the order given.
    fn claim(
        &mut self,
        scope: &Scope,
        keys: &[PhoneKey],
        claimant: &Claimant,
        lease: Duration,
        mode: ClaimMode,
    ) -> Result<Vec<ClaimResult>, LedgerError>;

    /// Records answered leads in one transaction and releases the
    /// claimant's claims on them. A rejection never replaces an acceptance
    /// (the lead exists): see `schema::MERGE_SET` for the merge.
    fn record(&mut self, scope: &Scope, outcomes: &[Recorded], claimant: &Claimant) -> Result<(), LedgerError>;

    /// Releases the claimant's claims on keys that ended retryable; returns how many.
    fn release(&mut self, scope: &Scope, keys: &[PhoneKey], claimant: &Claimant) -> Result<u64, LedgerError>;

    /// Extends all of the claimant's claims to `lease` from now, unless the
    /// lease already ran out (or the ledger does not know the claimant):
    /// then another run may have taken them, and the lapse is final.
    fn renew(&mut self, claimant: &Claimant, lease: Duration) -> Result<Renewal, LedgerError>;

    /// Entries by scope and outcome, oldest and newest, size on disk.
    fn stats(&mut self) -> Result<Stats, LedgerError>;

    /// Removes a number everywhere in the scopes `which` selects (every
    /// scope by default): its entries and its claims. Returns how many
    /// entries went.
    fn forget(&mut self, phone: PhoneKey, which: &ScopeFilter) -> Result<u64, LedgerError>;

    /// Removes entries last seen before `older_than`, and claims of
    /// claimants whose lease ended before it; returns how many entries.
    fn prune(&mut self, older_than: SystemTime) -> Result<u64, LedgerError>;

    /// Streams every entry, ordered by scope and phone, in pages (no
    /// transaction stays open while `each` runs); returns how many.
    fn export(&mut self, each: &mut dyn FnMut(Entry) -> anyhow::Result<()>) -> Result<u64, LedgerError>;

    /// Records entries from elsewhere (earlier run directories, a CRM export)
    /// in one transaction, merged as `record` merges; returns how many.
    fn import(&mut self, entries: &[Entry]) -> Result<u64, LedgerError>;

    /// The store's clock now, in milliseconds since the epoch (the clock
    /// leases and dates are judged by).
    fn now_ms(&mut self) -> Result<i64, LedgerError>;

    /// How many keys the claimant's claims hold in the store (to verify,
    /// after a reconnect, that none were lost).
    fn claimed_count(&mut self, claimant: &Claimant) -> Result<u64, LedgerError>;

    /// Whether the store lost its connection and made a new one since the
    /// last time it was asked (PostgreSQL): claims held before must then be
    /// verified before anything is sent under them.
    fn reconnected(&mut self) -> bool {
        false
    }
}

/// Which scopes `forget` looks in: those matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeFilter {
    /// An API base URL (in any spelling: it is normalized).
    pub api_url: Option<String>,
    pub project: Option<String>,
    pub process: Option<String>,
}

impl ScopeFilter {
    pub(crate) fn matches(&self, scope: &Scope) -> bool {
        self.api_url.as_deref().is_none_or(|u| api_url_key(u) == scope.api_url)
            && self.project.as_deref().is_none_or(|p| p == scope.project)
            && self.process.as_deref().is_none_or(|p| p == scope.process)
    }
}

/// The clock a store judges leases and dates by: the system's (SQLite, one
/// host) or the server's (PostgreSQL, so that hosts with skewed clocks
/// agree), moved by an offset that only tests set (a suspend, an NTP step).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Moves this clock (and every store opened with it) by `by_ms`.
    pub fn jump(&self, by_ms: i64) {
        self.offset_ms.fetch_add(by_ms, Ordering::Relaxed);
    }

    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The system's time in milliseconds, moved by the offset.
    pub(crate) fn now_ms(&self) -> i64 {
        types::to_millis(SystemTime::now()).saturating_add(self.offset_ms())
    }
}

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a write waits for another run's transaction (SQLite busy
    /// timeout, PostgreSQL `lock_timeout`) before giving up with `Busy`.
    pub busy_timeout: Duration,
    /// How long connecting to PostgreSQL may take.
    pub connect_timeout: Duration,
    pub clock: Clock,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            clock: Clock::default(),
        }
    }
}

/// Opens (creating on first use) the ledger at `location`. Blocks: call it
/// from a plain thread, or use [`Ledger::open`].
pub fn open(location: &Location, options: &OpenOptions) -> Result<Box<dyn Store>, LedgerError> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::open(location.clone(), path, options)?)),
        Location::Postgres(pg) => Ok(Box::new(self::postgres::PgStore::open(location.clone(), pg, options)?)),
    }
}
