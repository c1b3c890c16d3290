//! The ledger under faults and on a moved clock, written once over a
//! [`Backend`]; `tests/ledger_store.rs` runs each function against SQLite
//! and PostgreSQL. Faults come from the store's seam (`ledger::fault`),
//! time from its injectable clock: nothing here waits on luck.
#![allow(dead_code)]

use std::time::Duration;

use leadctl::ledger::fault::{Fault, Faults, FaultyStore, Op};
use leadctl::ledger::{ClaimResult, Ledger, LedgerError, LedgerOptions, Outcome, RejectCode, Takeover};

use super::ledger_backends::*;

const MINUTE: Duration = Duration::from_secs(60);

/// A handle over `b` behind a fault seam.
fn faulty_handle(b: &dyn Backend, lease: Duration, renew_every: Duration) -> (Ledger, Faults) {
    let faults = Faults::default();
    let store = FaultyStore::new(b.open(), faults.clone());
    let ledger =
        Ledger::from_store(Box::new(store), LedgerOptions { open: options(), lease, renew_every }).expect("ledger");
    (ledger, faults)
}

/// Issue "a lapsed claim can still send": a lease that ran out is not
/// renewed, even when the claimant's row is still there.
pub fn a_lease_that_ran_out_is_not_renewed(b: &dyn Backend) {
    let (s, holder) = (scope("p"), foreign("run-1"));
    b.open().claim(&s, &keys(0, 2), &holder, Duration::from_secs(10), ClaimMode::New).expect("claim");
    let later = Clock::default();
    later.jump(30_000);
    let mut late = b.open_at(&later);
    assert_eq!(late.renew(&holder, MINUTE).expect("renew"), Renewal::Lapsed, "the lease ran out 20 s ago");
    // And so another run takes the keys, however the first one renews later.
    let taken = late.claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(taken.iter().all(|r| matches!(r, ClaimResult::TakenOver { why: Takeover::LeaseExpired, .. })), "{taken:?}");
}

/// Issue "leases judged on the wall clock before liveness": a live process
/// on this machine keeps its claims when the clock jumps (an NTP step, a
/// suspend) past its lease.
pub fn a_live_holder_keeps_its_claims_when_the_clock_jumps(b: &dyn Backend) {
    let s = scope("p");
    b.open().claim(&s, &keys(0, 2), &local("run-1"), MINUTE, ClaimMode::New).expect("claim");
    let an_hour_on = Clock::default();
    an_hour_on.jump(3_600_000);
    let other = b.open_at(&an_hour_on).claim(&s, &keys(0, 2), &local("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(other.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "the holder lives: {other:?}");
}

/// Issue "a lapsed claim can still send": once the lease ran out while
/// renewals failed, the handle never trusts those claims again, even when
/// renewals work again; a request needs more lease than its timeout.
pub fn a_lapse_is_final_for_the_handle(b: &dyn Backend) {
    let lease = Duration::from_millis(800);
    let (ledger, faults) = faulty_handle(b, lease, Duration::from_millis(100));
    let s = scope("p");
    ledger.claim(&s, keys(0, 2), &foreign("run-1"), ClaimMode::New).wait().expect("claim");
    assert!(ledger.claims_safe());
    ledger.ensure_lease(Duration::from_millis(100)).wait().expect("enough lease for a short request");

    faults.always(Op::Renew, Fault::unavailable());
    // Time must pass for a lease to run out: this is the behaviour under test.
    std::thread::sleep(lease + Duration::from_millis(400));
    // The handle could not renew in time: sending pauses (no lease for a
    // request), but only the store can say the lease ran out.
    let paused = ledger.ensure_lease(Duration::from_millis(100)).wait().expect_err("no lease for a request");
    assert!(matches!(paused, LedgerError::Busy { .. }), "{paused:?}");
    faults.clear();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!ledger.claims_safe(), "the store said the lease had run out: final");
    let err = ledger.ensure_lease(Duration::from_millis(1)).wait().expect_err("no request under a lapsed claim");
    assert!(matches!(err, LedgerError::Lapsed { .. }), "{err:?}");
    let err = ledger.claim(&s, keys(5, 1), &foreign("run-1"), ClaimMode::New).wait().expect_err("no new claims");
    assert!(matches!(err, LedgerError::Lapsed { .. }), "{err:?}");
}

/// A ledger busy for a while (its renewals fail) pauses sending; when the
/// store answers again and the lease had not run out there, sending goes on.
pub fn a_busy_spell_shorter_than_the_lease_only_pauses(b: &dyn Backend) {
    let (ledger, faults) = faulty_handle(b, Duration::from_secs(3), Duration::from_millis(50));
    ledger.claim(&scope("p"), keys(0, 2), &foreign("run-1"), ClaimMode::New).wait().expect("claim");
    faults.always(Op::Renew, Fault::busy());
    // Time must pass for the lease to shrink: this is the behaviour under test.
    std::thread::sleep(Duration::from_millis(1200));
    let paused = ledger.ensure_lease(Duration::from_millis(2500)).wait().expect_err("not enough lease");
    assert!(matches!(paused, LedgerError::Busy { .. }), "{paused:?}");
    faults.clear();
    ledger.ensure_lease(Duration::from_millis(2500)).wait().expect("renewed: sending goes on");
    assert!(ledger.claims_safe());
}

/// A renewal that waited for the write lock past the lease's end finds the
/// lease ran out (the clock is read once the lock is held, not before).
pub fn a_renewal_that_waited_for_the_lock_past_its_lease_is_lapsed(b: &dyn Backend) {
    let (s, holder) = (scope("p"), foreign("run-1"));
    let mut store = b.open();
    store.claim(&s, &keys(0, 2), &holder, Duration::from_millis(600), ClaimMode::New).expect("claim");
    let lock = super::ledger_runs::Lock::take(&b.location().to_string().replacen("sqlite://", "", 1));
    let renewal = std::thread::spawn(move || store.renew(&holder, MINUTE));
    // Time must pass for the lease to run out: this is the behaviour under test.
    std::thread::sleep(Duration::from_millis(1200));
    drop(lock);
    let renewed = renewal.join().expect("no panic").expect("renew");
    assert_eq!(renewed, Renewal::Lapsed, "the lease ran out while the renewal waited for the lock");
}

/// A claimant whose lease ran out while it held claims is not revived by a
/// new claim (another run may have taken its keys).
pub fn a_claim_does_not_revive_a_lease_that_ran_out(b: &dyn Backend) {
    let (s, holder) = (scope("p"), foreign("run-1"));
    b.open().claim(&s, &keys(0, 2), &holder, Duration::from_secs(10), ClaimMode::New).expect("claim");
    let later = Clock::default();
    later.jump(30_000);
    let err = b.open_at(&later).claim(&s, &keys(5, 1), &holder, MINUTE, ClaimMode::New).expect_err("lapsed");
    assert!(matches!(err, LedgerError::Lapsed { .. }), "{err:?}");
}

/// A request is started only with more lease left than it may take: the
/// handle renews first, and says no when it cannot.
pub fn a_request_needs_more_lease_than_its_timeout(b: &dyn Backend) {
    // No renewals of its own: only `ensure_lease` renews.
    let (ledger, faults) = faulty_handle(b, Duration::from_secs(3), Duration::from_secs(3600));
    ledger.claim(&scope("p"), keys(0, 2), &foreign("run-1"), ClaimMode::New).wait().expect("claim");
    let renewals = faults.calls(Op::Renew);
    ledger.ensure_lease(Duration::from_secs(1)).wait().expect("plenty left");
    assert_eq!(faults.calls(Op::Renew), renewals, "enough lease: no renewal");
    // Time must pass for the lease to shrink: this is the behaviour under test.
    std::thread::sleep(Duration::from_millis(500));
    ledger.ensure_lease(Duration::from_millis(2800)).wait().expect("renewed first");
    assert_eq!(faults.calls(Op::Renew), renewals + 1, "too little lease: renewed before the request");
    faults.next(Op::Renew, Fault::unavailable());
    let err = ledger.ensure_lease(Duration::from_secs(5)).wait().expect_err("a lease shorter than the request");
    assert!(err.to_string().contains("could not be renewed"), "{err}");
}

/// Issue "PostgreSQL claims ... silent reconnects": after the store made a
/// new connection, the claims are unverified until a renewal finds them;
/// one the server lost (as a crash loses an unflushed commit) is lapsed.
pub fn a_reconnect_verifies_the_claims_before_more_is_sent(b: &dyn Backend) {
    let (ledger, faults) = faulty_handle(b, MINUTE, Duration::from_secs(3600));
    let s = scope("p");
    ledger.claim(&s, keys(0, 2), &foreign("run-1"), ClaimMode::New).wait().expect("claim");

    faults.next(Op::Lookup, Fault::Reconnect);
    ledger.lookup(&s, keys(0, 1), false).wait().expect("lookup");
    let renewals = faults.calls(Op::Renew);
    assert!(renewals >= 1, "the claims were verified at once");
    assert!(ledger.claims_safe(), "verified: still ours");

    // The server lost the newest claims with the connection (a failover to a
    // standby behind), though the claimant's row and lease are still there.
    b.execute("DELETE FROM leadctl_claims");
    faults.next(Op::Lookup, Fault::Reconnect);
    ledger.lookup(&s, keys(0, 1), false).wait().expect("lookup");
    assert!(!ledger.claims_safe(), "claims the server lost are never sent under");
    let err = ledger.ensure_lease(Duration::from_millis(1)).wait().expect_err("lapsed");
    assert!(matches!(err, LedgerError::Lapsed { .. }), "{err:?}");
}

/// Issue "lost answers become rejections the next night": a lead that may
/// exist is kept as such, claimed with the mark by the next run, and never
/// hides what the server said.
pub fn a_lead_that_may_exist_is_kept_and_claimed_with_the_mark(b: &dyn Backend) {
    let mut store = b.open();
    let (s, r1, r2) = (scope("p"), local("run-1"), local("run-2"));
    deliver(&mut *store, &s, &keys(0, 2), &r1, &Outcome::MayExist);
    assert_eq!(store.stats().expect("stats").claims, 0, "recording it gave the claims back");
    let found = store.lookup(&s, &keys(0, 2), false).expect("lookup");
    assert!(found.iter().all(|k| k.as_ref().is_some_and(|k| k.outcome == Outcome::MayExist)), "{found:?}");
    let next = store.claim(&s, &keys(0, 2), &r2, MINUTE, ClaimMode::New).expect("claim");
    assert_eq!(next, vec![ClaimResult::MayExist; 2], "sent again, with the mark");
    // The next run's answer replaces it ...
    let answer = vec![recorded(key(0), accepted("ld_0")), recorded(key(1), rejected(RejectCode::ServerInvalidPhone))];
    store.record(&s, &answer, &r2).expect("record");
    // ... and a later lost answer never hides an answer.
    deliver(&mut *store, &s, &keys(0, 2), &local("run-3"), &Outcome::MayExist);
    let found = store.lookup(&s, &keys(0, 2), false).expect("lookup");
    assert_eq!(found[0].as_ref().map(|k| &k.outcome), Some(&accepted("ld_0")));
    assert_eq!(found[1].as_ref().map(|k| &k.outcome), Some(&rejected(RejectCode::ServerInvalidPhone)));
    assert_eq!(found[0].as_ref().map(|k| k.recorded_by.run.as_str()), Some("run-2"));
}

/// Issue "`--resend-known` sends without claiming": leads sent whatever the
/// ledger knows are claimed like any other, so two such runs take turns;
/// an earlier upload initialized by its id is claimed, unless another run
/// initialized it meanwhile (it is not called twice).
pub fn known_keys_are_claimed_when_asked(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    deliver(&mut *store, &s, &keys(0, 2), &local("run-1"), &accepted("ld"));
    let initialized = Outcome::Accepted { lead_id: Some("ld_2".into()), initialized: true };
    deliver(&mut *store, &s, &[key(2)], &local("run-1"), &initialized);
    let new = store.claim(&s, &keys(0, 3), &foreign("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert!(new.iter().all(|r| matches!(r, ClaimResult::Known(_))), "{new:?}");
    let by_id = store.claim(&s, &keys(0, 3), &foreign("run-2"), MINUTE, ClaimMode::Initialize).expect("claim");
    match &by_id[..] {
        [ClaimResult::Claimed, ClaimResult::Claimed, ClaimResult::Known(k)] => {
            assert_eq!(k.outcome, initialized, "called already: not claimed to be called again");
        }
        other => panic!("{other:?}"),
    }
    let later = store.now_ms().expect("now") + 1;
    let other = store.claim(&s, &keys(0, 2), &local("run-3"), MINUTE, ClaimMode::AnyBefore(later)).expect("claim");
    assert!(other.iter().all(|r| matches!(r, ClaimResult::HeldBy(_))), "{other:?}");
}

/// Issue "`prune` removes leads that are in every export": a lookup that
/// finds a lead marks it seen today; a dry run's lookup does not write.
pub fn a_lookup_marks_the_leads_it_finds_seen(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    deliver(&mut *store, &s, &keys(0, 3), &local("run-1"), &accepted("ld"));
    store.stats().expect("stats (the SQLite store merges its log into the entries first)");
    let ten_days = 10 * 86_400_000_i64;
    b.execute(&format!(
        "UPDATE leadctl_entries SET first_seen = first_seen - {ten_days}, last_seen = last_seen - {ten_days}"
    ));
    let five_days_ago = std::time::SystemTime::now() - Duration::from_secs(5 * 86_400);

    let looked = store.lookup(&s, &keys(0, 2), false).expect("lookup");
    assert!(looked.iter().all(|k| k.as_ref().is_some_and(|k| k.last_seen < five_days_ago)), "read only: {looked:?}");
    store.lookup(&s, &keys(0, 2), true).expect("lookup");
    let after = store.lookup(&s, &keys(0, 3), false).expect("lookup");
    assert!(after[0].as_ref().is_some_and(|k| k.last_seen > five_days_ago && k.first_seen < five_days_ago));
    assert_eq!(store.prune(five_days_ago).expect("prune"), 1, "only the lead no run found went");
    let left = store.lookup(&s, &keys(0, 3), false).expect("lookup");
    assert_eq!(left.iter().map(Option::is_some).collect::<Vec<_>>(), vec![true, true, false]);
}

/// Issue "`forget` leaves the number in claim blobs": an erasure removes the
/// number everywhere, claims included, within the scopes asked for.
pub fn forget_removes_the_number_from_claims_too(b: &dyn Backend) {
    let mut store = b.open();
    let other_api = leadctl::ledger::Scope::new("https://other.example/v1", "prj_1", "a");
    deliver(&mut *store, &scope("a"), &keys(0, 2), &local("run-1"), &accepted("ld"));
    deliver(&mut *store, &other_api, &keys(0, 1), &local("run-1"), &accepted("ld"));
    store.claim(&scope("b"), &keys(0, 3), &foreign("run-2"), MINUTE, ClaimMode::New).expect("claim");
    assert_eq!(store.stats().expect("stats").claims, 3);

    let elsewhere = ScopeFilter { api_url: Some("HTTPS://other.example/v1/".into()), ..ScopeFilter::default() };
    assert_eq!(store.forget(key(0), &elsewhere).expect("forget"), 1, "one API's entry, its URL in any spelling");
    assert!(store.lookup(&scope("a"), &[key(0)], false).expect("lookup")[0].is_some(), "the other API keeps it");
    assert_eq!(store.forget(key(0), &ScopeFilter::default()).expect("forget"), 1);
    assert_eq!(store.stats().expect("stats").claims, 2, "the number left the claims");
    let project = ScopeFilter { project: Some("prj_other".into()), ..ScopeFilter::default() };
    assert_eq!(store.forget(key(1), &project).expect("forget"), 0, "another project has none");
    let blobs = b.query_text("SELECT count(*) FROM leadctl_claims").expect("claims");
    assert_eq!(blobs, "1");
}

/// A ledger of schema 1 whose scopes spell one API two ways (an import of a
/// run made with `--api-url https://host/v1/`) is migrated: one scope, the
/// entries merged, found under the normal form.
pub fn an_old_ledger_is_migrated_and_its_scopes_merged(b: &dyn Backend) {
    let mut store = b.open();
    let s = scope("p");
    deliver(&mut *store, &s, &keys(0, 2), &local("run-1"), &accepted("ld"));
    store.stats().expect("stats (the SQLite store merges its log into the entries first)");
    drop(store);
    let run_id = b.query_text("SELECT run_id FROM leadctl_entries LIMIT 1").expect("run");
    b.execute(&format!(
        "INSERT INTO leadctl_scopes (api_url, project, process) VALUES ('HTTPS://API.vendor.example:443/v1/', 'prj_1', 'p');
         INSERT INTO leadctl_entries (scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen)
           SELECT id, 14155550001, 0, 'ld_imported', true, NULL, {run_id}, 1, 2 FROM leadctl_scopes WHERE api_url = 'HTTPS://API.vendor.example:443/v1/';
         INSERT INTO leadctl_entries (scope_id, phone, outcome, lead_id, initialized, reason, run_id, first_seen, last_seen)
           SELECT id, 14155550007, 0, 'ld_7', false, NULL, {run_id}, 1, 2 FROM leadctl_scopes WHERE api_url = 'HTTPS://API.vendor.example:443/v1/';
         UPDATE leadctl_meta SET value = '1' WHERE key = 'schema_version';"
    ));
    let mut store = b.open();
    let version = b.query_text("SELECT value FROM leadctl_meta WHERE key = 'schema_version'");
    assert_eq!(version.as_deref(), Some(leadctl::ledger::SCHEMA_VERSION.to_string().as_str()));
    let found = store.lookup(&s, &[key(0), key(1), key(7)], false).expect("lookup");
    assert_eq!(found[0].as_ref().map(|k| &k.outcome), Some(&accepted("ld")));
    let merged = Outcome::Accepted { lead_id: Some("ld_imported".into()), initialized: true };
    assert_eq!(found[1].as_ref().map(|k| &k.outcome), Some(&merged), "the two spellings' entries merged");
    assert!(found[2].is_some(), "an entry only the other spelling had");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.groups.len(), 1, "one scope: {:?}", stats.groups);
    assert_eq!(stats.entries, 3);
}
