//! The ledger's administration (stats, forget, prune, export, import) and
//! its thread handle, written once over a [`Backend`]; `tests/ledger_store.rs`
//! runs every function here against SQLite and PostgreSQL.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use leadctl::ledger::{
    ClaimResult, Entry, Known, Ledger, LedgerOptions, Outcome, OutcomeKind, RejectCode, RunRef, Scope,
};

use super::ledger_backends::*;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

fn entry(scope: &Scope, i: u64, outcome: Outcome, first_seen: SystemTime, last_seen: SystemTime) -> Entry {
    let recorded_by = std::sync::Arc::new(RunRef { run: "imported".into(), host: "crm".into() });
    Entry { scope: scope.clone(), phone: key(i), known: Known { outcome, recorded_by, first_seen, last_seen } }
}

/// Times with millisecond precision, as the stores keep them.
fn at(days_ago: u64) -> SystemTime {
    let t = SystemTime::now() - DAY * days_ago as u32;
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

pub fn stats_count_by_scope_and_outcome(b: &dyn Backend) {
    let mut store = b.open();
    let r1 = local("run-1");
    deliver(&mut *store, &scope("a"), &keys(0, 3), &r1, &accepted("ld"));
    deliver(&mut *store, &scope("a"), &keys(3, 1), &r1, &rejected(RejectCode::ServerDuplicate));
    deliver(&mut *store, &scope("b"), &keys(0, 2), &r1, &rejected(RejectCode::ProcessNotFound));
    store.claim(&scope("b"), &keys(10, 4), &r1, MINUTE, ClaimMode::New).expect("claim");

    let stats = store.stats().expect("stats");
    let groups: Vec<(&str, &str, u64)> =
        stats.groups.iter().map(|g| (g.scope.process.as_str(), g.outcome.as_str(), g.count)).collect();
    assert_eq!(groups, [("a", "accepted", 3), ("a", "server_duplicate", 1), ("b", "process_not_found", 2)]);
    assert_eq!(stats.groups[0].outcome, OutcomeKind::Accepted);
    assert_eq!((stats.entries, stats.claims), (6, 4));
    let (oldest, newest) = (stats.oldest.expect("oldest"), stats.newest.expect("newest"));
    assert!(oldest <= newest && newest <= SystemTime::now() && oldest > SystemTime::now() - MINUTE);
    assert!(stats.size_bytes > 0);
    assert_eq!(stats.location, b.location().to_string());
}

pub fn forget_removes_a_number(b: &dyn Backend) {
    let mut store = b.open();
    let r1 = local("run-1");
    for process in ["a", "b"] {
        deliver(&mut *store, &scope(process), &keys(0, 2), &r1, &accepted("ld"));
    }
    assert_eq!(store.forget(key(0), &process_filter("a")).expect("forget"), 1);
    assert_eq!(
        store.lookup(&scope("a"), &keys(0, 2), false).expect("lookup").iter().filter(|k| k.is_some()).count(),
        1
    );
    assert!(store.lookup(&scope("b"), &[key(0)], false).expect("lookup")[0].is_some(), "process b keeps it");
    assert_eq!(store.forget(key(0), &ScopeFilter::default()).expect("forget"), 1);
    assert_eq!(store.forget(key(0), &ScopeFilter::default()).expect("forget"), 0);
    assert_eq!(store.stats().expect("stats").entries, 2);
}

pub fn prune_removes_entries_not_seen_since(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    let old = entry(&s, 0, accepted("ld_old"), at(200), at(100));
    let recent = entry(&s, 1, accepted("ld_new"), at(200), at(10));
    store.import(&[old, recent]).expect("import");
    // A dead claimant's leftover claim, and a live one's.
    store.claim(&s, &[key(5)], &foreign("dead-run"), Duration::ZERO, ClaimMode::New).expect("claim");
    store.claim(&s, &[key(6)], &local("live-run"), MINUTE, ClaimMode::New).expect("claim");

    assert_eq!(store.prune(at(90)).expect("prune"), 1);
    let found = store.lookup(&s, &keys(0, 2), false).expect("lookup");
    assert!(found[0].is_none() && found[1].is_some(), "{found:?}");
    assert_eq!(store.stats().expect("stats").claims, 2, "the dead lease ended after the cutoff");
    assert_eq!(store.prune(SystemTime::now() + Duration::from_secs(1)).expect("prune"), 1);
    assert_eq!(store.stats().expect("stats").claims, 1, "only the live claim is left");
    let again = store.claim(&s, &[key(6)], &local("other-run"), MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&again[..], [ClaimResult::HeldBy(_)]), "{again:?}");
}

pub fn export_and_import_round_trip(b: &dyn Backend) {
    let mut store = b.open();
    let r1 = local("run-1");
    deliver(&mut *store, &scope("b"), &keys(5, 2), &r1, &rejected(RejectCode::ServerCallAttempted));
    deliver(&mut *store, &scope("a"), &keys(0, 3), &r1, &accepted("ld"));
    let no_id = Outcome::Accepted { lead_id: None, initialized: true };
    store.import(&[entry(&scope("a"), 9, no_id, at(3), at(2))]).expect("import");
    store.claim(&scope("a"), &keys(20, 2), &r1, MINUTE, ClaimMode::New).expect("claims are not entries");

    let mut exported = Vec::new();
    let count = store
        .export(&mut |e| {
            exported.push(e);
            Ok(())
        })
        .expect("export");
    assert_eq!(count, 6);
    assert_eq!(exported.len(), 6);
    let processes: Vec<&str> = exported.iter().map(|e| e.scope.process.as_str()).collect();
    assert_eq!(processes, ["b", "b", "a", "a", "a", "a"], "by scope (in order of creation), then phone");
    assert!(exported.windows(2).all(|w| w[0].scope != w[1].scope || w[0].phone < w[1].phone));

    let fresh = SqliteBackend::new();
    let mut copy = fresh.open();
    assert_eq!(copy.import(&exported).expect("import"), 6);
    let mut again = Vec::new();
    copy.export(&mut |e| {
        again.push(e);
        Ok(())
    })
    .expect("export");
    let sorted = |mut v: Vec<Entry>| {
        v.sort_by_key(|e| (e.scope.clone(), e.phone));
        v
    };
    assert_eq!(sorted(again), sorted(exported));

    // The callback's error stops the export and comes back as it was.
    let err = store.export(&mut |_| Err(anyhow::anyhow!("broken pipe"))).expect_err("stops");
    assert_eq!(err.to_string(), "broken pipe");
}

/// Export pages through a ledger larger than one page without skipping or repeating.
pub fn export_pages_through_many_entries(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    let entries: Vec<Entry> = (0..25_000).map(|i| entry(&s, i, accepted("ld"), at(1), at(1))).collect();
    assert_eq!(store.import(&entries).expect("import"), 25_000);
    let mut previous = None;
    let mut count = 0u64;
    store
        .export(&mut |e| {
            assert!(previous < Some(e.phone), "out of order at {}", e.phone);
            previous = Some(e.phone);
            count += 1;
            Ok(())
        })
        .expect("export");
    assert_eq!(count, 25_000);
}

/// A rejection never replaces an acceptance; acceptances merge.
pub fn recording_again_merges(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    deliver(&mut *store, &s, &[key(0)], &local("run-1"), &accepted("ld_0"));
    let first = store.lookup(&s, &[key(0)], false).expect("lookup")[0].clone().expect("known");

    deliver(&mut *store, &s, &[key(0)], &local("run-2"), &rejected(RejectCode::ServerDuplicate));
    let kept = store.lookup(&s, &[key(0)], false).expect("lookup")[0].clone().expect("known");
    assert_eq!(kept.outcome, accepted("ld_0"));
    assert_eq!(kept.recorded_by.run, "run-1", "the run that recorded the kept outcome");
    assert!(kept.last_seen >= first.last_seen);

    let init = Outcome::Accepted { lead_id: None, initialized: true };
    let month_ago = at(30);
    store.import(&[entry(&s, 0, init, month_ago, month_ago)]).expect("import");
    let merged = store.lookup(&s, &[key(0)], false).expect("lookup")[0].clone().expect("known");
    assert_eq!(merged.outcome, Outcome::Accepted { lead_id: Some("ld_0".into()), initialized: true });
    assert_eq!((merged.first_seen, merged.last_seen), (month_ago, kept.last_seen), "seen times widen");

    // A rejection is replaced by a later acceptance.
    deliver(&mut *store, &s, &[key(1)], &local("run-1"), &rejected(RejectCode::ServerCallAttempted));
    deliver(&mut *store, &s, &[key(1)], &local("run-3"), &accepted("ld_1"));
    assert_eq!(
        store.lookup(&s, &[key(1)], false).expect("lookup")[0].as_ref().map(|k| &k.outcome),
        Some(&accepted("ld_1"))
    );
}

fn handle(b: &dyn Backend, lease: Duration, renew_every: Duration) -> Ledger {
    let options = LedgerOptions { open: options(), lease, renew_every };
    Ledger::open(b.location(), options).wait().expect("ledger opens")
}

/// The handle serves plain threads and tokio tasks alike.
pub fn the_handle_answers_blocking_and_async_calls(b: &dyn Backend) {
    let ledger = handle(b, MINUTE, Duration::from_secs(20));
    assert_eq!(ledger.location(), b.location().to_string());
    let (s, me) = (scope("p"), local("run-1"));
    let claimed = ledger.claim(&s, keys(0, 2), &me, ClaimMode::New).wait().expect("claim");
    assert_eq!(claimed, vec![ClaimResult::Claimed; 2]);
    assert!(ledger.claims_safe());

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let async_ledger = ledger.clone();
    let (s2, me2) = (s.clone(), me.clone());
    let found = runtime.block_on(async move {
        let task = tokio::spawn(async move {
            let outcomes = vec![recorded(key(0), accepted("ld_0"))];
            async_ledger.record(&s2, outcomes, &me2).await?;
            async_ledger.release(&s2, vec![key(1)], &me2).await?;
            async_ledger.lookup(&s2, keys(0, 2), false).await
        });
        task.await.expect("task")
    });
    let found = found.expect("async calls");
    assert_eq!(found[0].as_ref().map(|k| &k.outcome), Some(&accepted("ld_0")));
    assert_eq!(found[1], None);
    assert_eq!(ledger.stats().wait().expect("stats").claims, 0);

    ledger.close().wait().expect("close");
    assert!(matches!(ledger.lookup(&s, keys(0, 1), false).wait(), Err(leadctl::ledger::LedgerError::Closed)));
}

/// While it holds claims, the handle renews their lease; another run keeps out.
pub fn the_handle_renews_its_lease(b: &dyn Backend) {
    let lease = Duration::from_millis(1500);
    let renewing = handle(b, lease, Duration::from_millis(100));
    let idle = handle(b, lease, Duration::from_secs(3600));
    let s = scope("p");
    // Claimants on another machine: only their lease says whether they live.
    renewing.claim(&s, keys(0, 2), &foreign("run-1"), ClaimMode::New).wait().expect("claim");
    idle.claim(&s, keys(10, 2), &foreign("run-2"), ClaimMode::New).wait().expect("claim");
    // Time must pass for a lease to run out: this is the behaviour under test.
    std::thread::sleep(lease + Duration::from_millis(1000));
    let mut other = b.open();
    let renewed = other.claim(&s, &keys(0, 2), &local("run-3"), MINUTE, ClaimMode::New).expect("claim");
    assert!(renewed.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "renewed claims hold: {renewed:?}");
    let lapsed = other.claim(&s, &keys(10, 2), &local("run-3"), MINUTE, ClaimMode::New).expect("claim");
    assert!(
        lapsed.iter().all(|r| matches!(r, ClaimResult::TakenOver { why: leadctl::ledger::Takeover::LeaseExpired, .. })),
        "a lease nobody renewed runs out: {lapsed:?}"
    );
    assert!(renewing.claims_safe());
    // The idle handle's lease ran out and its keys were taken: the store
    // says so when it is next asked, and the lapse is final.
    let err = idle.ensure_lease(Duration::from_millis(1)).wait().expect_err("lapsed");
    assert!(matches!(err, leadctl::ledger::LedgerError::Lapsed { .. }), "{err:?}");
    assert!(!idle.claims_safe(), "the idle handle's lease ran out");
}
