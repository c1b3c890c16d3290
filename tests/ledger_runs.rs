//! The delivery ledger through the real binary, against the sandbox: a
//! rerun sends nothing, a grown file sends only its new rows, refused leads
//! are not sent again, `--initialize` starts calls on earlier uploads by
//! their id, two runs at once create every lead once, and a killed run's
//! claims do not hold the next one up. Every scenario runs on SQLite and on
//! PostgreSQL (`LEADCTL_TEST_POSTGRES_URL`; skipped with a notice without it).

mod common;
#[path = "common/ledger_backends.rs"]
mod ledger_backends;
#[path = "common/ledger_runs.rs"]
#[macro_use]
mod ledger_runs;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Run, World, leads_csv, valid_phone};
use leadctl::sandbox::PreexistingLead;
use ledger_backends::{PgBackend, SqliteBackend};
use ledger_runs::{spawn, upload};

on_both_stores!(
    a_rerun_sends_nothing_and_a_grown_file_sends_only_its_new_rows,
    leads_the_server_refused_are_not_sent_again,
    initialize_calls_leads_uploaded_earlier_by_their_id,
    two_runs_at_once_create_every_lead_once,
    a_new_run_right_after_kill_9_creates_nothing_twice_and_does_not_wait,
    kill_9_then_resume_records_every_answer_once,
);

fn a_rerun_sends_nothing_and_a_grown_file_sends_only_its_new_rows(ledger: &str) {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(50, "proc_sales"));
    let first = upload(&world, &file, "o1", ledger, &["--batch-size", "20"]);
    first.assert_code(0);
    let sent = world.state().requests.len();
    assert_eq!(sent, 3);

    let again = upload(&world, &file, "o2", ledger, &[]);
    again.assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "a rerun sends no request");
    assert_eq!(again.summary()["counts"]["already_uploaded"], 50);
    let ids = |run: &Run| -> BTreeSet<(String, String)> {
        run.csv("accepted").into_iter().map(|r| (r["external_id"].clone(), r["leadctl_lead_id"].clone())).collect()
    };
    assert_eq!(ids(&again), ids(&first), "the lead ids the ledger kept");
    let note = &again.csv("accepted")[0]["leadctl_note"];
    assert!(note.starts_with("already uploaded (run ") && note.contains("o1"), "{note}");

    // Tomorrow's export: yesterday's rows and 20 new ones.
    let grown = world.file("l.csv", leads_csv(70, "proc_sales"));
    let third = upload(&world, &grown, "o3", ledger, &[]);
    third.assert_code(0);
    let state = world.state();
    assert_eq!(state.leads.len(), 70);
    assert!(state.no_lead_created_twice());
    let sizes: Vec<usize> = state.requests.iter().skip(sent).map(|r| r.lead_count).collect();
    assert_eq!(sizes, vec![20], "only the new rows were sent");
    assert_eq!(third.summary()["counts"]["already_uploaded"], 50);
    assert!(third.stderr.is_empty() || !third.stderr.contains("error"), "{}", third.stderr);
}

fn leads_the_server_refused_are_not_sent_again(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.preexisting = vec![PreexistingLead {
            phone_number: valid_phone(3),
            process_id: "proc_sales".into(),
            initialized: false,
            lead_id: None,
        }];
    });
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let first = upload(&world, &file, "o1", ledger, &[]);
    first.assert_code(3);
    assert_eq!(first.csv("rejected")[0]["leadctl_code"], "server_duplicate");
    let sent = world.state().requests.len();

    let again = upload(&world, &file, "o2", ledger, &[]);
    again.assert_code(3);
    assert_eq!(world.state().requests.len(), sent, "the refused lead was not sent again");
    let rejected = again.csv("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["leadctl_code"], "rejected_before");
    assert!(rejected[0]["leadctl_reason"].contains("already exists"), "{}", rejected[0]["leadctl_reason"]);
    assert_eq!(again.summary()["counts"]["already_uploaded"], 4);
}

fn initialize_calls_leads_uploaded_earlier_by_their_id(ledger: &str) {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(6, "proc_sales"));
    upload(&world, &file, "o1", ledger, &[]).assert_code(0);
    let sent = world.state().requests.len();
    let run = upload(&world, &file, "o2", ledger, &["--initialize", "--yes"]);
    run.assert_code(0);
    let state = world.state();
    assert_eq!(state.requests.len(), sent + 1, "one request: the six lead ids");
    assert_eq!(state.requests[sent].lead_count, 6);
    assert!(state.leads.iter().all(|l| l.initialized && l.times_created == 1), "{:?}", state.leads);
    let accepted = run.csv("accepted");
    assert!(accepted.iter().all(|r| r["leadctl_note"] == "initialized an earlier upload"), "{accepted:?}");
    // Recorded as initialized: a third run with --initialize sends nothing.
    upload(&world, &file, "o3", ledger, &["--initialize", "--yes"]).assert_code(0);
    assert_eq!(world.state().requests.len(), sent + 1);
}

fn two_runs_at_once_create_every_lead_once(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.latency = Duration::from_millis(40);
        c.rate_per_sec = 0.0;
    });
    let file = world.file("l.csv", leads_csv(400, "proc_sales"));
    let args = ["--batch-size", "20", "--concurrency", "2"];
    let a = spawn(&world, &file, "a", ledger, &args);
    let b = spawn(&world, &file, "b", ledger, &args);
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    for (name, out) in [("a", &a), ("b", &b)] {
        let code = out.status.code();
        assert!(code == Some(0) || code == Some(4), "{name}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    let state = world.state();
    assert!(state.no_lead_created_twice(), "two runs at once never send one lead twice");
    let rows = |dir: &str, file: &str| common::read_csv(&world.path(dir).join(file));
    for dir in ["a", "b"] {
        assert!(rows(dir, "rejected.csv").is_empty(), "{dir}: no server_duplicate, no rejected_before");
        for r in rows(dir, "retryable.csv") {
            assert!(r["leadctl_reason"].contains("is sending this lead right now"), "{}", r["leadctl_reason"]);
        }
    }
    // Every lead is accepted by one run or the other, and created once.
    let accepted: BTreeSet<String> = ["a", "b"]
        .iter()
        .flat_map(|d| rows(d, "accepted.csv"))
        .filter(|r| !r["leadctl_note"].starts_with("already uploaded"))
        .map(|r| r["external_id"].clone())
        .collect();
    let held: usize = ["a", "b"].iter().map(|d| rows(d, "retryable.csv").len()).sum();
    eprintln!("two runs at once: {} accepted by their sender, {held} left retryable as held", accepted.len());
    assert_eq!(state.leads.len(), 400, "each lead was sent by the run that claimed it");
    assert_eq!(accepted.len(), 400);
    let sent: usize = state.requests.iter().map(|r| r.lead_count).sum();
    assert_eq!(sent, 400, "no lead was sent by both runs (with the mark or without)");
}

fn a_new_run_right_after_kill_9_creates_nothing_twice_and_does_not_wait(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.latency = Duration::from_millis(150);
        c.lost_rate = 0.3;
        c.seed = 3;
        c.block_threshold = 1_000_000;
    });
    let file = world.file("l.csv", leads_csv(300, "proc_sales"));
    let args = ["--batch-size", "20", "--concurrency", "2", "--retry-base-ms", "10", "--max-attempts", "12"];
    let mut first = spawn(&world, &file, "first", ledger, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.len() < 4 {
        assert!(Instant::now() < deadline, "the first run never reached 4 requests");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().expect("kill -9");
    let _ = first.wait();

    // The next cron tick, at once: not --resume, a new run directory.
    let started = Instant::now();
    let next = upload(&world, &file, "next", ledger, &args);
    next.assert_code(0);
    assert!(started.elapsed() < Duration::from_secs(40), "it did not wait for the dead run's 60 s lease");
    let state = world.state();
    assert!(state.no_lead_created_twice());
    assert!(next.csv("rejected").is_empty(), "a lead the dead run sent is accepted, not a duplicate");
    assert_eq!(next.csv("accepted").len(), 300);
    assert_eq!(state.leads.len(), 300);
}

/// `kill -9` while answers wait to be recorded, then `--resume`: every row
/// once in the files, nothing created twice, and the ledger ends knowing
/// every lead, so the next run sends nothing.
fn kill_9_then_resume_records_every_answer_once(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.latency = Duration::from_millis(30);
        c.lost_rate = 0.2;
        c.seed = 5;
        c.block_threshold = 1_000_000;
    });
    let file = world.file("l.csv", leads_csv(400, "proc_sales"));
    let args = ["--batch-size", "10", "--concurrency", "4", "--retry-base-ms", "10", "--max-attempts", "12"];
    let mut first = spawn(&world, &file, "first", ledger, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.len() < 12 {
        assert!(Instant::now() < deadline, "the first run never reached 12 requests");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().expect("kill -9");
    let _ = first.wait();

    let out = world.path("first");
    let resumed = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--ledger", ledger, "--quiet"]);
    let resumed = Run { out, ..resumed };
    resumed.assert_code(0);
    let accepted: Vec<String> = resumed.csv("accepted").iter().map(|r| r["leadctl_phone_e164"].clone()).collect();
    let distinct: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!((accepted.len(), distinct.len()), (400, 400), "every row once, all accepted");
    let state = world.state();
    assert!(state.no_lead_created_twice());
    assert_eq!(state.leads.len(), 400);

    let sent = state.requests.len();
    let again = upload(&world, &file, "again", ledger, &args);
    again.assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "the ledger knows every lead: nothing is sent");
    assert_eq!(again.summary()["counts"]["already_uploaded"], 400);
}

#[test]
fn the_sandbox_and_a_dry_run_use_no_ledger_unless_asked() {
    let world = World::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("leads.csv");
    let f = fixture.to_str().expect("utf-8");
    let run = Run { out: world.path("s1"), ..world.leadctl(&["upload", f, "--sandbox", "--out-dir", "s1", "--quiet"]) };
    run.assert_code(3);
    assert_eq!(run.summary()["ledger"], serde_json::Value::Null);
    assert!(!world.path(".local/share/leadctl").exists(), "no default ledger was made");
    let db = world.path("rehearsal.db");
    let args = ["upload", f, "--sandbox", "--out-dir", "s2", "--quiet", "--ledger", db.to_str().expect("utf-8")];
    let run = Run { out: world.path("s2"), ..world.leadctl(&args) };
    run.assert_code(3);
    assert_eq!(run.summary()["ledger"], format!("sqlite://{}", db.display()));
}

#[test]
fn a_ledger_file_others_can_read_is_refused_with_the_fix() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(2, "proc_sales"));
    let db = world.path("ledger.db");
    let ledger = db.to_str().expect("utf-8");
    upload(&world, &file, "o1", ledger, &[]).assert_code(0);
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let run = upload(&world, &file, "o2", ledger, &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    assert!(!world.path("o2").exists(), "refused before the run directory was made");
}

#[test]
fn a_postgres_password_appears_nowhere() {
    let Some(backend) = PgBackend::new() else { return };
    // The server trusts loopback, so any password works; it must not show.
    let url = backend.url().replacen("://", "://postgres:pa55w0rd-secret@", 1);
    let url = url.replacen("postgres@", "", 1);
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    // Not on the command line (refused there), but in the environment.
    let sb = world.sandbox();
    let run = world.upload_to(&sb.url(), sb.api_key(), &file, &["-vv"], &[("LEADCTL_LEDGER", &url)]);
    run.assert_code(0);
    assert!(!run.stderr.contains("pa55w0rd-secret"), "{}", run.stderr);
    for f in ["summary.json", "journal.ndjson", "accepted.csv"] {
        let text = std::fs::read_to_string(run.out.join(f)).expect("output file");
        assert!(!text.contains("pa55w0rd-secret"), "{f}");
    }
    assert!(run.summary()["ledger"].as_str().is_some_and(|l| l.starts_with("postgres")));
}
