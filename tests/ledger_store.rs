//! The delivery ledger's stores: one behaviour suite, written once in
//! `common/ledger_behaviour.rs` and `common/ledger_admin.rs`, run against
//! SQLite (a temporary directory) and PostgreSQL (a fresh database on the
//! server `LEADCTL_TEST_POSTGRES_URL` names, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`; the user needs CREATEDB). Without that variable the
//! PostgreSQL half prints a notice and passes; with it set and the server
//! out of reach, it fails. Below the suite: what only one store has (file
//! modes, TLS) and what no store may do (show a password).

mod common;
#[path = "common/ledger_admin.rs"]
mod ledger_admin;
#[path = "common/ledger_backends.rs"]
mod ledger_backends;
#[path = "common/ledger_behaviour.rs"]
mod ledger_behaviour;
#[path = "common/ledger_faults.rs"]
mod ledger_faults;
#[path = "common/ledger_runs.rs"]
mod ledger_runs;

use leadctl::ledger::{LedgerError, Location, OpenOptions};
use ledger_backends::{Backend, PgBackend, SqliteBackend};

/// Each name is a function over a `&dyn Backend`; each becomes one test per store.
macro_rules! suite {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$module::$name(&super::SqliteBackend::new()); } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(b) = super::PgBackend::new() { super::$module::$name(&b); } } )*
        }
    };
}

suite! {
    ledger_behaviour::schema_is_created_once_and_versioned,
    ledger_behaviour::newer_schema_is_refused,
    ledger_behaviour::lookup_knows_accepted_and_rejected_keys,
    ledger_behaviour::a_live_claim_is_held_by_another_run,
    ledger_behaviour::an_expired_lease_is_taken_over,
    ledger_behaviour::a_takeover_moves_only_the_keys_asked_for,
    ledger_behaviour::renew_extends_the_lease,
    ledger_behaviour::a_dead_process_on_this_machine_is_taken_over_at_once,
    ledger_behaviour::the_same_run_takes_its_claims_back,
    ledger_behaviour::record_and_release_free_the_claims,
    ledger_behaviour::concurrent_claims_never_share_a_key,
    ledger_admin::stats_count_by_scope_and_outcome,
    ledger_admin::forget_removes_a_number,
    ledger_admin::prune_removes_entries_not_seen_since,
    ledger_admin::export_and_import_round_trip,
    ledger_admin::export_pages_through_many_entries,
    ledger_admin::recording_again_merges,
    ledger_admin::the_handle_answers_blocking_and_async_calls,
    ledger_admin::the_handle_renews_its_lease,
    ledger_faults::a_lease_that_ran_out_is_not_renewed,
    ledger_faults::a_live_holder_keeps_its_claims_when_the_clock_jumps,
    ledger_faults::a_lapse_is_final_for_the_handle,
    ledger_faults::a_busy_spell_shorter_than_the_lease_only_pauses,
    ledger_faults::a_claim_does_not_revive_a_lease_that_ran_out,
    ledger_faults::a_request_needs_more_lease_than_its_timeout,
    ledger_faults::a_reconnect_verifies_the_claims_before_more_is_sent,
    ledger_faults::a_lead_that_may_exist_is_kept_and_claimed_with_the_mark,
    ledger_faults::known_keys_are_claimed_when_asked,
    ledger_faults::a_lookup_marks_the_leads_it_finds_seen,
    ledger_faults::forget_removes_the_number_from_claims_too,
    ledger_faults::an_old_ledger_is_migrated_and_its_scopes_merged,
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn sqlite_file_is_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let b = SqliteBackend::new();
    let mut store = b.open();
    ledger_backends::deliver(
        &mut *store,
        &ledger_backends::scope("p"),
        &ledger_backends::keys(0, 3),
        &ledger_backends::local("run-1"),
        &ledger_backends::accepted("ld"),
    );
    let wal = b.path.with_file_name("ledger.db-wal");
    assert!(wal.exists(), "WAL mode keeps a -wal file while open");
    assert_eq!(mode(b.path.parent().expect("dir")), 0o700);
    assert_eq!(mode(&b.path), 0o600);
    assert_eq!(mode(&wal), 0o600, "SQLite gives the WAL the database's mode");
    drop(store);

    std::fs::set_permissions(&b.path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = leadctl::ledger::open(&b.location(), &OpenOptions::default()).err().expect("refused");
    assert!(matches!(err, LedgerError::Permissions { mode: 0o640, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("chmod 600 {}", b.path.display())), "{message}");
}

#[test]
fn sqlite_refuses_another_programs_database() {
    let b = SqliteBackend::new();
    std::fs::create_dir_all(b.path.parent().expect("dir")).expect("mkdir");
    rusqlite::Connection::open(&b.path)
        .and_then(|c| c.execute_batch("CREATE TABLE invoices (id INTEGER)"))
        .expect("db");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&b.path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let err = leadctl::ledger::open(&b.location(), &OpenOptions::default()).err().expect("refused");
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("another program's"), "{err}");
}

#[test]
fn a_password_is_never_shown() {
    let text = "postgres://ann:s3cret@127.0.0.1:1/ledger?password=hunter2&sslmode=disable&connect_timeout=2";
    let location = Location::parse(text).expect("parses");
    for shown in [location.to_string(), format!("{location:?}")] {
        assert!(!shown.contains("s3cret") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ann@127.0.0.1:1/ledger"), "{shown}");
    }
    // Nor in the error of a connection that fails (port 1: nothing listens).
    let err = leadctl::ledger::open(&location, &OpenOptions::default()).err().expect("unreachable");
    assert!(matches!(err, LedgerError::Unavailable { .. }), "{err:?}");
    let message = format!("{err} {err:?}");
    assert!(!message.contains("s3cret") && !message.contains("hunter2"), "{message}");
}

/// `require` encrypts with any certificate; `verify-full` refuses one no
/// root vouches for. Runs when the test server speaks TLS.
#[test]
fn postgres_tls_modes() {
    let Some(b) = PgBackend::new() else { return };
    if b.query_text("SHOW ssl").as_deref() != Some("on") {
        eprintln!("note: the test PostgreSQL server has ssl off; skipping the TLS modes");
        return;
    }
    let name = format!("leadctl_tls_{}", std::process::id());
    let with_mode = |mode: &str| {
        let url = ledger_backends::with_param(b.url(), "application_name", &name);
        Location::parse(&ledger_backends::with_param(&url, "sslmode", mode)).expect("parses")
    };
    let mut store = match leadctl::ledger::open(&with_mode("require"), &OpenOptions::default()) {
        Ok(store) => store,
        // The server has TLS on, but something between (a pooler) has not.
        Err(e) if e.to_string().contains("does not support TLS") => {
            eprintln!("note: TLS is not offered on the way to the test server ({e}); skipping");
            return;
        }
        Err(e) => panic!("TLS without checks: {e}"),
    };
    assert!(store.stats().is_ok());
    let encrypted = b.query_text(&format!(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.application_name = '{name}'"
    ));
    assert_eq!(encrypted.as_deref(), Some("1"), "the ledger's connection is encrypted");
    let err = leadctl::ledger::open(&with_mode("verify-full"), &OpenOptions::default()).err().expect("refused");
    assert!(matches!(err, LedgerError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    eprintln!("verify-full refused the test server: {err}");
}

/// SQLite reads the clock for a renewal once it holds the write lock.
#[test]
fn sqlite_renewal_that_waited_for_the_lock_past_its_lease_is_lapsed() {
    ledger_faults::a_renewal_that_waited_for_the_lock_past_its_lease_is_lapsed(&SqliteBackend::new());
}

/// A connection the server (or a pooler) drops is replaced on the next call.
#[test]
fn postgres_reconnects_after_the_server_drops_it() {
    let Some(b) = PgBackend::new() else { return };
    let name = format!("leadctl_drop_{}", std::process::id());
    let location = Location::parse(&ledger_backends::with_param(b.url(), "application_name", &name)).expect("parses");
    let mut store = leadctl::ledger::open(&location, &ledger_backends::options()).expect("open");
    let (s, me) = (ledger_backends::scope("p"), ledger_backends::local("run-1"));
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}' AND pid <> pg_backend_pid()"
    );
    b.execute(&terminate);
    store
        .claim(
            &s,
            &ledger_backends::keys(0, 2),
            &me,
            std::time::Duration::from_secs(60),
            leadctl::ledger::ClaimMode::New,
        )
        .expect("claim after a drop");
    b.execute(&terminate);
    let found = store.lookup(&s, &ledger_backends::keys(0, 2), false).expect("lookup after a drop");
    assert_eq!(found, vec![None, None]);
}

/// A run whose connection the server dropped verifies its claims on the new
/// connection before it sends under them: claims the server lost (a crash
/// before they reached the disk) are never sent under.
#[test]
fn postgres_claims_lost_with_the_connection_are_not_sent_under() {
    let Some(b) = PgBackend::new() else { return };
    let name = format!("leadctl_lost_{}", std::process::id());
    let location = Location::parse(&ledger_backends::with_param(b.url(), "application_name", &name)).expect("parses");
    let options = leadctl::ledger::LedgerOptions { open: ledger_backends::options(), ..Default::default() };
    let ledger = leadctl::ledger::Ledger::open(location, options).wait().expect("open");
    let s = ledger_backends::scope("p");
    let me = ledger_backends::foreign("run-1");
    ledger.claim(&s, ledger_backends::keys(0, 2), &me, leadctl::ledger::ClaimMode::New).wait().expect("claim");
    assert!(ledger.claims_safe());
    // The server goes away with our connection, and comes back without our claims.
    b.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}' AND pid <> pg_backend_pid()"
    ));
    b.execute("DELETE FROM leadctl_claims; DELETE FROM leadctl_claimants");
    ledger.lookup(&s, ledger_backends::keys(0, 1), false).wait().expect("a lookup on a new connection");
    assert!(!ledger.claims_safe(), "the claims were checked after the reconnect, and are gone");
}

/// Runs that start together (overlapping cron jobs) open a new ledger at
/// once: none may fail with "database is locked" while the file is switched
/// to WAL.
#[test]
fn sqlite_new_ledger_opened_by_many_at_once() {
    for _ in 0..30 {
        let b = SqliteBackend::new();
        let location = b.location();
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            let openings: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        leadctl::ledger::open(&location, &OpenOptions::default()).map(drop)
                    })
                })
                .collect();
            for opening in openings {
                let result = opening.join().expect("no panic");
                assert!(result.is_ok(), "{:?}", result.err());
            }
        });
    }
}
