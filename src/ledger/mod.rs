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
//! | `postgres.rs`, `pg_sql.rs`, `pg_rows.rs`, `pg_conn.rs`, `tls.rs` | the shared store (many hosts), its statements, its connection, rustls |
//! | `handle.rs` | [`Ledger`]: the store on its own thread, blocking and async calls, lease renewal |
//! | `session.rs` | [`Session`]: one run's use of it (its claimant, its API), calls over many scopes |
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
//! claims at once, and claiming a batch writes one row. Only recording
//! writes to the big index (see `schema.rs` for what that choice measured).
//! Claimers and recorders of a scope take turns (SQLite's write lock, the
//! scope's row lock on PostgreSQL), so a key is always either claimed,
//! recorded, or free, as one transaction sees it.
//!
//! # Cost (`cargo bench --bench ledger_store`)
//!
//! A lookup is a primary-key probe per key, about 2 us on SQLite (1,000,000
//! keys in 2-3 s on two busy cores) and 2-3 times that on PostgreSQL over
//! loopback. `claim` answers known keys too, so a run needs no lookup before
//! claiming. Recording is the expensive step: each new key lands on a
//! random page of the entries index, so a batch of 1,000 dirties about
//! 1,000 pages, each written whole to SQLite's WAL (15-20 us a key measured,
//! mostly in the kernel); sorted bulk writes (`import`) cost a tenth of that.

mod claims;
mod handle;
mod location;
mod pg_conn;
mod pg_rows;
mod pg_sql;
mod postgres;
mod schema;
mod session;
mod sqlite;
mod sqlite_file;
mod sqlite_sql;
mod tls;
mod types;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use self::claims::{Claimant, ProcessStamp, host_name};
pub use self::handle::{Ledger, LedgerOptions, Reply};
pub use self::location::{Location, LocationError, SslMode};
pub use self::schema::SCHEMA_VERSION;
pub use self::session::{LeadKey, Session, Writes};
pub use self::types::{
    ClaimResult, Entry, Holder, Known, Outcome, OutcomeKind, PhoneKey, Recorded, RejectCode, RunRef, Scope, Stats,
    StatsGroup, Takeover,
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

    /// What the ledger knows about each key, in the order given.
    fn lookup(&mut self, scope: &Scope, keys: &[PhoneKey]) -> Result<Vec<Option<Known>>, LedgerError>;

    /// Claims the keys for `claimant` in one transaction and sets its lease
    /// to `lease` from now; answers each key in the order given.
    fn claim(
        &mut self,
        scope: &Scope,
        keys: &[PhoneKey],
        claimant: &Claimant,
        lease: Duration,
    ) -> Result<Vec<ClaimResult>, LedgerError>;

    /// Records answered leads in one transaction and releases the
    /// claimant's claims on them. A rejection never replaces an acceptance
    /// (the lead exists): see `schema::MERGE_SET` for the merge.
    fn record(&mut self, scope: &Scope, outcomes: &[Recorded], claimant: &Claimant) -> Result<(), LedgerError>;

    /// Releases the claimant's claims on keys that ended retryable; returns how many.
    fn release(&mut self, scope: &Scope, keys: &[PhoneKey], claimant: &Claimant) -> Result<u64, LedgerError>;

    /// Extends all of the claimant's claims to `lease` from now; false when
    /// the claimant holds nothing the ledger knows of.
    fn renew(&mut self, claimant: &Claimant, lease: Duration) -> Result<bool, LedgerError>;

    /// Entries by scope and outcome, oldest and newest, size on disk.
    fn stats(&mut self) -> Result<Stats, LedgerError>;

    /// Removes every entry of a number (in one process, or all); returns how many.
    fn forget(&mut self, phone: PhoneKey, process: Option<&str>) -> Result<u64, LedgerError>;

    /// Removes entries last seen before `older_than`, and claims of
    /// claimants whose lease ended before it; returns how many entries.
    fn prune(&mut self, older_than: SystemTime) -> Result<u64, LedgerError>;

    /// Streams every entry, ordered by scope and phone, in pages (no
    /// transaction stays open while `each` runs); returns how many.
    fn export(&mut self, each: &mut dyn FnMut(Entry) -> anyhow::Result<()>) -> Result<u64, LedgerError>;

    /// Records entries from elsewhere (earlier run directories, a CRM export)
    /// in one transaction, merged as `record` merges; returns how many.
    fn import(&mut self, entries: &[Entry]) -> Result<u64, LedgerError>;
}

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a write waits for another run's transaction (SQLite busy
    /// timeout, PostgreSQL `lock_timeout`) before giving up with `Busy`.
    pub busy_timeout: Duration,
    /// How long connecting to PostgreSQL may take.
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { busy_timeout: Duration::from_secs(10), connect_timeout: Duration::from_secs(10) }
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
