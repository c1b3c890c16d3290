//! Runs of the binary with a ledger, for the scenarios that run on both
//! stores (`tests/ledger_runs.rs`, `tests/ledger_promise.rs`): the upload
//! command, a run started without waiting, a lock held on the ledger as
//! another process would hold it, and the macro that makes one test per
//! store of each scenario (a ledger location: an SQLite path, or a
//! PostgreSQL URL of a fresh database).
#![allow(dead_code)]

use std::path::Path;

use super::common::{Run, World};

/// Instantiates each scenario (a `fn(&str)` over a ledger location) for both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { let b = super::SqliteBackend::new(); super::$name(&b.path.display().to_string()); } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(b) = super::PgBackend::new() { super::$name(b.url()); } } )*
        }
    };
}

/// `leadctl upload FILE --out-dir OUT --ledger LEDGER --quiet ARGS` against the world's sandbox.
pub fn upload(world: &World, file: &Path, out: &str, ledger: &str, args: &[&str]) -> Run {
    let mut all = vec!["upload", file.to_str().expect("utf-8"), "--out-dir", out, "--ledger", ledger, "--quiet"];
    all.extend_from_slice(args);
    Run { out: world.path(out), ..world.leadctl(&all) }
}

/// Starts `leadctl upload` without waiting for it (stderr piped).
pub fn spawn(world: &World, file: &Path, out: &str, ledger: &str, args: &[&str]) -> std::process::Child {
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .args(["upload", file.to_str().expect("utf-8"), "--out-dir", out, "--ledger", ledger, "--quiet"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn leadctl")
}

/// `leadctl ledger ARGS --ledger LEDGER`.
pub fn ledger_cmd(world: &World, ledger: &str, args: &[&str]) -> Run {
    let mut all = vec!["ledger"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--ledger", ledger]);
    world.leadctl(&all)
}

/// `leadctl ledger export --format ndjson`, parsed.
pub fn entries(world: &World, ledger: &str) -> Vec<serde_json::Value> {
    let run = ledger_cmd(world, ledger, &["export", "--format", "ndjson"]);
    run.assert_code(0);
    run.stdout.lines().map(|l| serde_json::from_str(l).expect("an export line")).collect()
}

/// Another process's write lock on the ledger, held until dropped: SQLite's
/// `BEGIN IMMEDIATE`, or every scope row locked on PostgreSQL (as a
/// recorder or claimer of those scopes holds it).
pub enum Lock {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Lock {
    pub fn take(ledger: &str) -> Lock {
        if ledger.starts_with("postgres") {
            let url = super::ledger_backends::without_param(ledger, "sslmode");
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            client.batch_execute("BEGIN; SELECT id FROM leadctl_scopes FOR UPDATE").expect("lock the scopes");
            Lock::Postgres(client)
        } else {
            let conn = rusqlite::Connection::open(ledger).expect("open the ledger");
            conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
            Lock::Sqlite(conn)
        }
    }
}

/// How many keys are claimed in the ledger right now.
pub fn claimed(ledger: &str) -> u64 {
    let sql = "SELECT COALESCE(sum(length(keys)), 0) / 8 FROM leadctl_claims";
    if ledger.starts_with("postgres") {
        let url = super::ledger_backends::without_param(ledger, "sslmode");
        let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) else { return 0 };
        let sql = "SELECT (COALESCE(sum(octet_length(keys)), 0) / 8)::int8 FROM leadctl_claims";
        client.query_one(sql, &[]).map_or(0, |r| r.get::<_, i64>(0) as u64)
    } else {
        let Ok(conn) = rusqlite::Connection::open(ledger) else { return 0 };
        conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as u64)
    }
}
