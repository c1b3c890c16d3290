//! Measures the ledger's stores at the scale the run must meet: claim and
//! record N keys into an empty ledger in batches (what an upload adds), then
//! look every key up in the full ledger (what sending the same file again
//! costs). Prints figures; asserts nothing about time.
//!
//! ```text
//! cargo bench --bench ledger_store                      # SQLite, 1,000,000 keys
//! LEADCTL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --bench ledger_store                  # and PostgreSQL
//! cargo bench --bench ledger_store -- --keys 200000 --batch 500 --only sqlite
//! cargo bench --bench ledger_store -- --fill-by-import   # lookups only (a quick fill)
//! ```
//!
//! Keys are spread over the number space in an order unrelated to their
//! value, as a CRM export's phone numbers are; each batch is claimed, then
//! recorded as accepted with a 29-character lead id, as a run does.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use leadctl::ledger::{
    self, ClaimMode, Claimant, Entry, Known, Ledger, LedgerOptions, Location, OpenOptions, Outcome, PhoneKey, Recorded,
    RunRef, Scope, Store,
};

struct Args {
    keys: u64,
    batch: usize,
    only: Option<String>,
    /// Fill the ledger with `import` (sorted, 10,000 a transaction) instead
    /// of claiming and recording: to measure lookups alone.
    fill_by_import: bool,
}

fn args() -> Args {
    let mut args = Args { keys: 1_000_000, batch: 1000, only: None, fill_by_import: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--keys" => args.keys = it.next().and_then(|v| v.parse().ok()).unwrap_or(args.keys),
            "--batch" => args.batch = it.next().and_then(|v| v.parse().ok()).unwrap_or(args.batch),
            "--only" => args.only = it.next(),
            "--fill-by-import" => args.fill_by_import = true,
            _ => {} // `cargo bench` passes `--bench`.
        }
    }
    args
}

/// The i-th key: 11-digit numbers starting with 1 (North American), visited
/// in a scrambled order (multiplying by a prime modulo the range).
fn key(i: u64) -> PhoneKey {
    const RANGE: u64 = 9_000_000_000;
    PhoneKey::new(10_000_000_000 + (i.wrapping_mul(2_654_435_761) % RANGE)).unwrap_or_else(|| unreachable!())
}

fn main() {
    let args = args();
    let all: Vec<PhoneKey> = (0..args.keys).map(key).collect();
    println!("ledger store benchmark: {} keys in batches of {}", args.keys, args.batch);
    if args.only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let location = Location::Sqlite(dir.path().join("ledger.db"));
        measure("sqlite", &location, &all, &args);
        let size = std::fs::metadata(dir.path().join("ledger.db")).map_or(0, |m| m.len());
        println!("sqlite      file size: {:.1} MB", size as f64 / 1e6);
    }
    if args.only.as_deref().is_none_or(|o| o == "postgres") {
        match std::env::var("LEADCTL_TEST_POSTGRES_URL") {
            Ok(base) => {
                let schema = format!("leadctl_bench_{}", std::process::id());
                let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|e| panic!("{e}"));
                admin.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap_or_else(|e| panic!("{e}"));
                let sep = if base.contains('?') { '&' } else { '?' };
                let location = Location::parse(&format!("{base}{sep}options=-csearch_path%3D{schema}"))
                    .unwrap_or_else(|e| panic!("{e}"));
                measure("postgres", &location, &all, &args);
                let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
            Err(_) => println!("postgres    skipped: set LEADCTL_TEST_POSTGRES_URL"),
        }
    }
}

fn measure(name: &str, location: &Location, all: &[PhoneKey], args: &Args) {
    let scope = Scope::new("https://api.vendor.example/v1", "prj_bench", "proc_bench");
    let mut store = ledger::open(location, &OpenOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    if args.fill_by_import {
        let t = Instant::now();
        fill_by_import(&mut *store, &scope, all);
        println!("{name:<11} import (sorted, 10,000 a transaction):  {:>6.2} s", t.elapsed().as_secs_f64());
    } else {
        claim_and_record(name, &mut *store, &scope, all, args.batch);
    }
    drop(store);

    // A new connection, as the next run would open: lookups of a full ledger.
    let mut store = ledger::open(location, &OpenOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let mut known = 0;
    for keys in all.chunks(args.batch) {
        known +=
            store.lookup(&scope, keys, false).unwrap_or_else(|e| panic!("{e}")).iter().filter(|k| k.is_some()).count();
    }
    let lookup = t.elapsed();
    assert_eq!(known, all.len(), "every key is known");
    println!(
        "{name:<11} lookup of every key, full ledger:   {:>6.2} s  ({:.0} keys/s)",
        lookup.as_secs_f64(),
        all.len() as f64 / lookup.as_secs_f64()
    );
    drop(store);

    // The same through the handle's thread, as the run will call it.
    let ledger = Ledger::open(location.clone(), LedgerOptions::default()).wait().unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let mut known = 0;
    for keys in all.chunks(args.batch) {
        let found = ledger.lookup(&scope, keys.to_vec(), false).wait().unwrap_or_else(|e| panic!("{e}"));
        known += found.iter().filter(|k| k.is_some()).count();
    }
    assert_eq!(known, all.len());
    println!("{name:<11} lookup through the Ledger handle:   {:>6.2} s", t.elapsed().as_secs_f64());
}

fn accepted(n: usize, phone: PhoneKey) -> Recorded {
    Recorded { phone, outcome: Outcome::Accepted { lead_id: Some(format!("ld_{n:026}")), initialized: false } }
}

/// What an upload does per batch: claim the keys, then record the answers.
fn claim_and_record(name: &str, store: &mut dyn Store, scope: &Scope, all: &[PhoneKey], batch: usize) {
    let me = Claimant::this_process("bench-run", "bench-host");
    let (mut claim_time, mut record_time) = (Duration::ZERO, Duration::ZERO);
    for (n, keys) in all.chunks(batch).enumerate() {
        let t = Instant::now();
        let claimed =
            store.claim(scope, keys, &me, Duration::from_secs(60), ClaimMode::New).unwrap_or_else(|e| panic!("{e}"));
        claim_time += t.elapsed();
        assert!(claimed.iter().all(|c| *c == ledger::ClaimResult::Claimed), "batch {n} not all claimed");
        let outcomes: Vec<Recorded> = keys.iter().enumerate().map(|(i, k)| accepted(n * batch + i, *k)).collect();
        let t = Instant::now();
        store.record(scope, &outcomes, &me).unwrap_or_else(|e| panic!("{e}"));
        record_time += t.elapsed();
    }
    let total = claim_time + record_time;
    println!(
        "{name:<11} claim+record into an empty ledger: {:>6.2} s  (claim {:.2} s, record {:.2} s; {:.0} keys/s)",
        total.as_secs_f64(),
        claim_time.as_secs_f64(),
        record_time.as_secs_f64(),
        all.len() as f64 / total.as_secs_f64()
    );
}

fn fill_by_import(store: &mut dyn Store, scope: &Scope, all: &[PhoneKey]) {
    let run = Arc::new(RunRef { run: "bench-import".into(), host: "bench-host".into() });
    let mut sorted = all.to_vec();
    sorted.sort_unstable();
    for (n, keys) in sorted.chunks(10_000).enumerate() {
        let entries: Vec<Entry> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let known = Known {
                    outcome: accepted(n * 10_000 + i, *k).outcome,
                    recorded_by: run.clone(),
                    first_seen: SystemTime::now(),
                    last_seen: SystemTime::now(),
                };
                Entry { scope: scope.clone(), phone: *k, known }
            })
            .collect();
        store.import(&entries).unwrap_or_else(|e| panic!("{e}"));
    }
}
