//! The ledger's behaviour, written once over a [`Backend`]; `tests/ledger_store.rs`
//! runs every function here against SQLite and PostgreSQL.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use leadctl::ledger::{ClaimResult, Known, LedgerError, Outcome, RejectCode, SCHEMA_VERSION, Takeover};

use super::ledger_backends::*;

const MINUTE: Duration = Duration::from_secs(60);

pub fn schema_is_created_once_and_versioned(b: &dyn Backend) {
    drop(b.open());
    let version = b.query_text("SELECT value FROM leadctl_meta WHERE key = 'schema_version'");
    assert_eq!(version, Some(SCHEMA_VERSION.to_string()));
    let created = b.query_text("SELECT value FROM leadctl_meta WHERE key = 'created_at'").expect("created_at");
    let mut store = b.open();
    store.claim(&scope("p"), &keys(0, 3), &local("r1"), MINUTE, ClaimMode::New).expect("claim");
    drop(store);
    drop(b.open());
    assert_eq!(b.query_text("SELECT value FROM leadctl_meta WHERE key = 'created_at'"), Some(created));
    assert_eq!(b.query_text("SELECT count(*) FROM leadctl_meta"), Some("2".into()));
    // Reopening kept the claims: nothing was created again.
    assert_eq!(b.open().stats().expect("stats").claims, 3);
}

pub fn newer_schema_is_refused(b: &dyn Backend) {
    drop(b.open());
    b.execute("UPDATE leadctl_meta SET value = '99' WHERE key = 'schema_version'");
    let err = ledger_open_err(b);
    assert!(matches!(err, LedgerError::NewerSchema { found: 99, supported: SCHEMA_VERSION, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("upgrade leadctl") && message.contains("99"), "{message}");
}

fn ledger_open_err(b: &dyn Backend) -> LedgerError {
    match leadctl::ledger::open(&b.location(), &options()) {
        Ok(_) => panic!("opening {} should fail", b.location()),
        Err(e) => e,
    }
}

pub fn lookup_knows_accepted_and_rejected_keys(b: &dyn Backend) {
    let mut store = b.open();
    let (s, r1) = (scope("proc_a"), local("run-1"));
    let before = SystemTime::now() - Duration::from_secs(1);
    deliver(&mut *store, &s, &keys(0, 2), &r1, &accepted("ld_1"));
    let initialized = Outcome::Accepted { lead_id: Some("ld_2".into()), initialized: true };
    deliver(&mut *store, &s, &[key(2)], &r1, &initialized);
    deliver(&mut *store, &s, &[key(3)], &r1, &rejected(RejectCode::ServerRepeatingDigits));

    let asked = [key(9), key(0), key(2), key(3), key(0)];
    let found = b.open().lookup(&s, &asked, false).expect("lookup");
    assert_eq!(found.len(), 5);
    assert_eq!(found[0], None, "never sent");
    let k0 = found[1].clone().expect("accepted key is known");
    assert_eq!(k0.outcome, accepted("ld_1"));
    assert_eq!((k0.recorded_by.run.as_str(), k0.recorded_by.host.as_str()), ("run-1", "this-host"));
    assert!(k0.first_seen >= before && k0.first_seen <= k0.last_seen && k0.last_seen <= SystemTime::now());
    assert_eq!(found[2].as_ref().map(|k| &k.outcome), Some(&initialized));
    assert_eq!(found[3].as_ref().map(|k| &k.outcome), Some(&rejected(RejectCode::ServerRepeatingDigits)));
    assert_eq!(found[4], found[1], "a key asked twice is answered twice");
    // Another process, project or API is another lead.
    let elsewhere = store.lookup(&scope("proc_b"), &[key(0)], false).expect("lookup");
    assert_eq!(elsewhere, vec![None]);
}

pub fn a_live_claim_is_held_by_another_run(b: &dyn Backend) {
    let (mut one, mut two) = (b.open(), b.open());
    let s = scope("p");
    let first = one.claim(&s, &keys(0, 3), &local("run-1"), MINUTE, ClaimMode::New).expect("claim");
    assert_eq!(first, vec![ClaimResult::Claimed; 3]);
    let second = two.claim(&s, &keys(1, 3), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    match &second[..] {
        [ClaimResult::HeldBy(h1), ClaimResult::HeldBy(h2), ClaimResult::Claimed] => {
            assert_eq!((h1.run.run.as_str(), h1.pid), ("run-1", std::process::id()));
            assert_eq!(h1, h2);
        }
        other => panic!("{other:?}"),
    }
    // Claiming again what one already holds is idempotent.
    assert_eq!(
        one.claim(&s, &keys(0, 1), &local("run-1"), MINUTE, ClaimMode::New).expect("claim"),
        vec![ClaimResult::Claimed]
    );
    // Keys being sent are not known yet.
    assert_eq!(two.lookup(&s, &keys(0, 1), false).expect("lookup"), vec![None]);
}

pub fn an_expired_lease_is_taken_over(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    store.claim(&s, &keys(0, 2), &foreign("run-1"), Duration::ZERO, ClaimMode::New).expect("claim");
    let taken = store.claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    for result in &taken {
        match result {
            ClaimResult::TakenOver { from, why: Takeover::LeaseExpired } => {
                assert_eq!((from.run.run.as_str(), from.run.host.as_str(), from.pid), ("run-1", "elsewhere", 4242));
            }
            other => panic!("{other:?}"),
        }
    }
    // The taker's live claim now keeps the first run out.
    let back = store.claim(&s, &keys(0, 1), &foreign("run-1"), MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&back[..], [ClaimResult::HeldBy(h)] if h.run.run == "run-2"), "{back:?}");
}

/// Taking over part of a dead run's claim leaves its other keys where they
/// were: still dead, still takeable, never lost.
pub fn a_takeover_moves_only_the_keys_asked_for(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    store.claim(&s, &keys(0, 3), &foreign("dead"), Duration::ZERO, ClaimMode::New).expect("claim");
    let one = store.claim(&s, &[key(1)], &local("taker"), MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&one[..], [ClaimResult::TakenOver { .. }]), "{one:?}");
    let all = store.claim(&s, &keys(0, 3), &local("third"), MINUTE, ClaimMode::New).expect("claim");
    match &all[..] {
        [ClaimResult::TakenOver { from: a, .. }, ClaimResult::HeldBy(h), ClaimResult::TakenOver { from: c, .. }] => {
            assert_eq!((a.run.run.as_str(), h.run.run.as_str(), c.run.run.as_str()), ("dead", "taker", "dead"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.stats().expect("stats").claims, 3, "each key is claimed once");
}

pub fn renew_extends_the_lease(b: &dyn Backend) {
    let mut store = b.open();
    let (s, holder) = (scope("p"), foreign("run-1"));
    store.claim(&s, &keys(0, 2), &holder, Duration::from_secs(10), ClaimMode::New).expect("claim");
    assert_eq!(store.renew(&holder, MINUTE).expect("renew"), Renewal::Renewed);
    // Half a minute later the ten seconds would have run out; the renewal's minute has not.
    let later = Clock::default();
    later.jump(30_000);
    let other = b.open_at(&later).claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(other.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "{other:?}");
    assert_eq!(
        store.renew(&foreign("never-claimed"), MINUTE).expect("renew"),
        Renewal::Lapsed,
        "an unknown claimant renews nothing"
    );
}

/// A dead process on this machine loses its claims at once; a live one keeps them.
pub fn a_dead_process_on_this_machine_is_taken_over_at_once(b: &dyn Backend) {
    let Some(mut child) = sleeper() else { return };
    let s = scope("p");
    let holder = claimant_of(&child, "run-1");
    let mut store = b.open();
    store.claim(&s, &keys(0, 2), &holder, MINUTE, ClaimMode::New).expect("claim");
    let while_alive = store.claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(while_alive.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "{while_alive:?}");
    child.kill().expect("kill");
    child.wait().expect("reap");
    let after = store.claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(after.iter().all(|r| matches!(r, ClaimResult::TakenOver { why: Takeover::ProcessGone, .. })), "{after:?}");

    // A pid now running something else (its start time differs) is dead too.
    let mut reused = local("run-3");
    if let Some(stamp) = reused.stamp.as_mut() {
        stamp.start_ticks += 1;
    }
    store.claim(&s, &keys(5, 1), &reused, MINUTE, ClaimMode::New).expect("claim");
    let after = store.claim(&s, &keys(5, 1), &local("run-4"), MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&after[..], [ClaimResult::TakenOver { why: Takeover::ProcessGone, .. }]), "{after:?}");
}

/// A resume (same run, new process) takes its run's claims back, unless
/// the process holding them is provably still alive; a run of the same name
/// on another machine keeps them.
pub fn the_same_run_takes_its_claims_back(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    // The killed process of this run, on this machine: its pid is gone.
    let me = local("run-1");
    let here = me.stamp.clone().expect("a stamp on Linux");
    let killed = leadctl::ledger::Claimant {
        run: me.run.clone(),
        pid: u32::MAX - 7,
        stamp: Some(leadctl::ledger::ProcessStamp { start_ticks: 1, ..here }),
    };
    store.claim(&s, &keys(0, 2), &killed, MINUTE, ClaimMode::New).expect("claim");
    let resumed = store.claim(&s, &keys(0, 2), &me, MINUTE, ClaimMode::New).expect("claim");
    assert!(
        resumed.iter().all(|r| matches!(r, ClaimResult::TakenOver { why: Takeover::ProcessGone, .. })),
        "{resumed:?}"
    );
    // Another run with a different name has no such right.
    let other = store.claim(&s, &keys(0, 2), &local("run-9"), MINUTE, ClaimMode::New).expect("claim");
    assert!(other.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "{other:?}");
    // A run of the same name on another machine may well be alive.
    let mut elsewhere = foreign("run-1");
    elsewhere.run.host = me.run.host.clone();
    store.claim(&s, &keys(3, 1), &elsewhere, MINUTE, ClaimMode::New).expect("claim");
    let same_name = store.claim(&s, &keys(3, 1), &me, MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&same_name[..], [ClaimResult::HeldBy(_)]), "{same_name:?}");

    let Some(mut child) = sleeper() else { return };
    store.claim(&s, &keys(7, 1), &claimant_of(&child, "run-5"), MINUTE, ClaimMode::New).expect("claim");
    let twice = store.claim(&s, &keys(7, 1), &local("run-5"), MINUTE, ClaimMode::New).expect("claim");
    assert!(matches!(&twice[..], [ClaimResult::HeldBy(_)]), "a live resume of the same run keeps its keys: {twice:?}");
    let _ = child.kill();
    let _ = child.wait();
}

pub fn record_and_release_free_the_claims(b: &dyn Backend) {
    let (mut one, mut two) = (b.open(), b.open());
    let (s, r1) = (scope("p"), local("run-1"));
    one.claim(&s, &keys(0, 4), &r1, MINUTE, ClaimMode::New).expect("claim");
    one.record(
        &s,
        &[recorded(key(0), accepted("ld_0")), recorded(key(1), rejected(RejectCode::ServerInvalidPhone))],
        &r1,
    )
    .expect("record");
    assert_eq!(one.release(&s, &[key(2)], &r1).expect("release"), 1);
    assert_eq!(one.release(&s, &[key(2)], &local("run-2")).expect("release"), 0, "not its claim");
    let seen = two.claim(&s, &keys(0, 4), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    match &seen[..] {
        [ClaimResult::Known(a), ClaimResult::Known(r), ClaimResult::Claimed, ClaimResult::HeldBy(_)] => {
            assert_eq!(a.outcome, accepted("ld_0"));
            assert!(matches!(r.outcome, Outcome::Rejected { code: RejectCode::ServerInvalidPhone, .. }));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(two.stats().expect("stats").claims, 2, "key 2 by run-2, key 3 still by run-1");
}

/// Two runs claim the same 1000 keys at once, in batches in opposite
/// orders: every key is claimed by exactly one of them.
pub fn concurrent_claims_never_share_a_key(b: &dyn Backend) {
    let all = keys(0, 1000);
    let barrier = Arc::new(Barrier::new(2));
    let mut threads = Vec::new();
    for (run, reverse) in [("run-a", false), ("run-b", true)] {
        let (mut store, barrier, all) = (b.open(), barrier.clone(), all.clone());
        threads.push(std::thread::spawn(move || {
            let mut batches: Vec<Vec<_>> = all.chunks(100).map(<[_]>::to_vec).collect();
            if reverse {
                batches.reverse();
                batches.iter_mut().for_each(|b| b.reverse());
            }
            let me = local(run);
            barrier.wait();
            let mut mine = HashSet::new();
            for batch in batches {
                let results =
                    store.claim(&scope("p"), &batch, &me, MINUTE, ClaimMode::New).expect("claim under contention");
                for (k, r) in batch.iter().zip(results) {
                    match r {
                        ClaimResult::Claimed => assert!(mine.insert(*k)),
                        ClaimResult::HeldBy(h) => assert_ne!(h.run.run, run),
                        other => panic!("{other:?}"),
                    }
                }
            }
            mine
        }));
    }
    let sets: Vec<HashSet<_>> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    assert!(sets[0].is_disjoint(&sets[1]), "a key claimed twice");
    assert_eq!(sets[0].len() + sets[1].len(), 1000, "a key claimed by nobody");
}

/// A process that sleeps, and a claimant for it (Linux only: `None` elsewhere).
fn sleeper() -> Option<std::process::Child> {
    if !cfg!(target_os = "linux") {
        eprintln!("note: process liveness is only checked on Linux; skipping");
        return None;
    }
    Some(std::process::Command::new("sleep").arg("600").spawn().expect("spawn sleep"))
}

fn claimant_of(child: &std::process::Child, run: &str) -> leadctl::ledger::Claimant {
    let stamp = leadctl::ledger::ProcessStamp::of(child.id()).expect("the child's stamp");
    leadctl::ledger::Claimant {
        run: leadctl::ledger::RunRef { run: run.into(), host: "this-host".into() },
        pid: child.id(),
        stamp: Some(stamp),
    }
}

pub fn known_of(found: &[Option<Known>]) -> Vec<Option<&Outcome>> {
    found.iter().map(|k| k.as_ref().map(|k| &k.outcome)).collect()
}
