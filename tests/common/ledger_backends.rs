//! The two ledger stores as test backends: SQLite in a temporary directory,
//! and PostgreSQL in a fresh database on the server that
//! `LEADCTL_TEST_POSTGRES_URL` names (dropped afterwards; the URL's own
//! database is only used to create and drop them). Without that
//! variable the PostgreSQL tests print a notice and pass; with it set and
//! the server out of reach they fail.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use leadctl::ledger::{
    self, Claimant, Location, OpenOptions, Outcome, PhoneKey, ProcessStamp, Recorded, RejectCode, RunRef, Scope, Store,
};
#[allow(unused_imports)]
pub use leadctl::ledger::{ClaimMode, Clock, Renewal, ScopeFilter};

/// The variable naming the PostgreSQL test database.
pub const PG_ENV: &str = "LEADCTL_TEST_POSTGRES_URL";

/// A ledger database for one test.
pub trait Backend {
    fn location(&self) -> Location;
    /// Runs SQL straight on the database (to damage or inspect it).
    fn execute(&self, sql: &str);
    /// The first column of the first row, as text.
    fn query_text(&self, sql: &str) -> Option<String>;

    /// A new connection to the ledger, as another run would have.
    fn open(&self) -> Box<dyn Store> {
        ledger::open(&self.location(), &options()).unwrap_or_else(|e| panic!("open {}: {e}", self.location()))
    }

    /// A new connection whose clock is `clock` (moved by a test: a suspend,
    /// an NTP step, time passing).
    fn open_at(&self, clock: &Clock) -> Box<dyn Store> {
        let options = OpenOptions { clock: clock.clone(), ..options() };
        ledger::open(&self.location(), &options).unwrap_or_else(|e| panic!("open {}: {e}", self.location()))
    }
}

pub fn options() -> OpenOptions {
    OpenOptions { busy_timeout: Duration::from_secs(30), ..OpenOptions::default() }
}

pub struct SqliteBackend {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl SqliteBackend {
    pub fn new() -> SqliteBackend {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger").join("ledger.db");
        SqliteBackend { dir, path }
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("raw sqlite connection")
    }
}

impl Backend for SqliteBackend {
    fn location(&self) -> Location {
        Location::Sqlite(self.path.clone())
    }

    fn execute(&self, sql: &str) {
        self.raw().execute_batch(sql).expect("raw sqlite statement");
    }

    fn query_text(&self, sql: &str) -> Option<String> {
        let conn = self.raw();
        conn.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0)).ok().map(|v| match v {
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
    }
}

pub struct PgBackend {
    /// The test URL with this test's database in its path.
    url: String,
    /// The test URL as given: the administration connection.
    base: String,
    database: String,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl PgBackend {
    /// A fresh database, or `None` (with a notice) when no test server is named.
    /// A database rather than a schema: nothing then depends on the
    /// connection's `search_path`, so the suite also runs through a
    /// transaction-pooling PgBouncer.
    pub fn new() -> Option<PgBackend> {
        let Ok(base) = std::env::var(PG_ENV) else {
            eprintln!("note: skipping a PostgreSQL ledger test: set {PG_ENV}=postgres://user@host:5432/db to run it");
            return None;
        };
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let database = format!("leadctl_test_{}_{n}_{nanos}", std::process::id());
        let mut url = url::Url::parse(&base).unwrap_or_else(|e| panic!("{PG_ENV} is not a URL: {e}"));
        url.set_path(&format!("/{database}"));
        let backend = PgBackend { url: url.to_string(), base, database };
        let mut admin = connect(&backend.base);
        admin.batch_execute(&format!("CREATE DATABASE {}", backend.database)).unwrap_or_else(|e| {
            panic!("{PG_ENV} is set but the test database cannot be created: {e}");
        });
        Some(backend)
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A plain connection for the fixture itself (tests run on loopback).
fn try_connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(&without_param(url, "sslmode"), postgres::NoTls)
}

fn connect(url: &str) -> postgres::Client {
    try_connect(url).unwrap_or_else(|e| panic!("{PG_ENV} is set but the server is out of reach: {e}"))
}

/// `url` without the query parameter `key`.
pub fn without_param(url: &str, key: &str) -> String {
    let Some((head, query)) = url.split_once('?') else { return url.to_owned() };
    let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with(&format!("{key}="))).collect();
    if kept.is_empty() { head.to_owned() } else { format!("{head}?{}", kept.join("&")) }
}

/// `url` with `key=value` set.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let url = without_param(url, key);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        if let Ok(mut admin) = try_connect(&self.base) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database));
        }
    }
}

impl Backend for PgBackend {
    fn location(&self) -> Location {
        Location::parse(&self.url).expect("test URL parses")
    }

    fn execute(&self, sql: &str) {
        connect(&self.url).batch_execute(sql).expect("raw statement");
    }

    fn query_text(&self, sql: &str) -> Option<String> {
        let rows = connect(&self.url).simple_query(sql).ok()?;
        rows.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
    }
}

/// The scopes of one process, for `forget`.
pub fn process_filter(process: &str) -> ScopeFilter {
    ScopeFilter { process: Some(process.into()), ..ScopeFilter::default() }
}

pub fn scope(process: &str) -> Scope {
    Scope::new("https://api.vendor.example/v1", "prj_1", process)
}

/// `n` distinct US-looking keys starting at offset `from`.
pub fn keys(from: u64, n: u64) -> Vec<PhoneKey> {
    (from..from + n).map(|i| PhoneKey::new(14_155_550_000 + i).expect("valid key")).collect()
}

pub fn key(i: u64) -> PhoneKey {
    keys(i, 1)[0]
}

/// A claimant in this very process (alive, and provably so).
pub fn local(run: &str) -> Claimant {
    Claimant::this_process(run, "this-host")
}

/// A claimant on another machine: nobody here can tell whether it lives.
pub fn foreign(run: &str) -> Claimant {
    let stamp = ProcessStamp { boot_id: "another-machine".into(), pid_ns: 1, start_ticks: 1 };
    Claimant { run: RunRef { run: run.into(), host: "elsewhere".into() }, pid: 4242, stamp: Some(stamp) }
}

pub fn accepted(lead_id: &str) -> Outcome {
    Outcome::Accepted { lead_id: Some(lead_id.into()), initialized: false }
}

pub fn rejected(code: RejectCode) -> Outcome {
    Outcome::Rejected { code, reason: format!("server said {}", code.as_str()) }
}

pub fn recorded(phone: PhoneKey, outcome: Outcome) -> Recorded {
    Recorded { phone, outcome }
}

/// Claims `keys` for `who` and records `outcome` for each, as a run does.
pub fn deliver(store: &mut dyn Store, scope: &Scope, keys: &[PhoneKey], who: &Claimant, outcome: &Outcome) {
    store.claim(scope, keys, who, Duration::from_secs(60), ClaimMode::New).expect("claim");
    let outcomes: Vec<Recorded> = keys.iter().map(|k| recorded(*k, outcome.clone())).collect();
    store.record(scope, &outcomes, who).expect("record");
}
