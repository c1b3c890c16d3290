//! The promise under faults, through the real binary on both stores:
//! a lost answer is remembered (the next night accepts it, never rejects
//! it), a busy ledger is waited for and one that stays busy fails the run
//! loudly, a lead in every export is never pruned, an import names the API
//! as runs do, `--initialize` keeps the lead's scope, and two
//! `--resend-known` runs at once send each lead once; and a run killed at
//! each named point between its writes (journal, files, ledger) resumes to
//! every row once, no lead created twice and a ledger that knows them all.

mod common;
#[path = "common/ledger_backends.rs"]
mod ledger_backends;
#[path = "common/ledger_runs.rs"]
#[macro_use]
mod ledger_runs;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Run, World, leads_csv};
use ledger_backends::{PgBackend, SqliteBackend};
use ledger_runs::{Lock, claimed, entries, ledger_cmd, spawn, upload};

on_both_stores!(
    a_lost_answer_is_remembered_and_the_next_night_accepts_it,
    a_busy_ledger_is_waited_for,
    a_ledger_that_stays_busy_fails_the_run_with_the_import_advice,
    a_lead_in_every_export_is_never_pruned,
    an_import_names_the_api_as_runs_do,
    initialize_keeps_the_leads_scope,
    two_resend_known_runs_at_once_send_each_lead_once,
    kill_9_between_any_two_writes_then_resume_keeps_the_promise,
    an_import_keeps_the_lost_answers_of_a_run_made_without_the_ledger,
    runs_started_in_the_same_second_claim_under_their_own_names,
);

/// Issue: lost answers became `server_duplicate` rejections the next night.
fn a_lost_answer_is_remembered_and_the_next_night_accepts_it(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.lost_rate = 0.5;
        c.seed = 11;
        c.block_threshold = 1_000_000;
    });
    let file = world.file("export.csv", leads_csv(200, "proc_sales"));
    let tonight = upload(&world, &file, "night1", ledger, &["--batch-size", "10", "--max-attempts", "1"]);
    tonight.assert_code(4);
    let lost = tonight.csv("retryable");
    assert!(lost.len() >= 40, "about half the answers were lost: {}", lost.len());
    assert!(lost.iter().all(|r| r["leadctl_reason"].contains("may already exist")));
    let kept: usize = entries(&world, ledger).iter().filter(|e| e["outcome"] == "may_exist").count();
    assert_eq!(kept, lost.len(), "the ledger keeps every lost answer as may_exist");

    // The next night's cron sends the same export again (not the retryable file).
    let next = upload(
        &world,
        &file,
        "night2",
        ledger,
        &["--batch-size", "10", "--max-attempts", "20", "--retry-base-ms", "1"],
    );
    next.assert_code(0);
    assert!(next.csv("rejected").is_empty(), "no server_duplicate, no rejected_before: {:?}", next.csv("rejected"));
    let confirmed = next.csv("accepted").iter().filter(|r| r["leadctl_note"].contains("lost")).count();
    assert!(confirmed >= lost.len(), "the lost answers are confirmed as accepted ({confirmed} of {})", lost.len());
    let state = world.state();
    assert!(state.no_lead_created_twice());
    assert_eq!(state.leads.len(), 200);
    let all = entries(&world, ledger);
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|e| e["outcome"] == "accepted"), "every lead accepted in the ledger");
}

/// Starts a run whose one request takes `latency`, and returns once its
/// claims are in the ledger (the request is on its way).
fn start_slow_run(world: &World, ledger: &str, out: &str, wait_ms: &str) -> std::process::Child {
    let file = world.file("l.csv", leads_csv(20, "proc_sales"));
    let child = spawn(world, &file, out, ledger, &["--ledger-wait-ms", wait_ms]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while claimed(ledger) == 0 {
        assert!(Instant::now() < deadline, "the run never claimed its leads");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Issue: a ledger busy at the end of a run was skipped silently (exit 0,
/// nothing recorded, the next run sent everything again).
fn a_busy_ledger_is_waited_for(ledger: &str) {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(700));
    // Each attempt waits a second for the lock, then the run says so and tries again.
    let child = start_slow_run(&world, ledger, "o1", "8000");
    let lock = Lock::take(ledger);
    // Another process holds the lock while the answers come, and for a while after.
    std::thread::sleep(Duration::from_millis(3000));
    drop(lock);
    let out = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("busy") && stderr.contains("trying again"), "the wait is said in the log: {stderr}");
    assert_eq!(entries(&world, ledger).len(), 20, "every answer recorded once the lock was gone");
    let file = world.path("l.csv");
    let sent = world.state().requests.len();
    upload(&world, &file, "o2", ledger, &[]).assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "the next run sends nothing");
}

/// A ledger that cannot be written ends the run non-zero, with the advice
/// that repairs it; the files keep every answer, and the import records them.
fn a_ledger_that_stays_busy_fails_the_run_with_the_import_advice(ledger: &str) {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(300));
    let child = start_slow_run(&world, ledger, "o1", "1500");
    let lock = Lock::take(ledger);
    let out = child.wait_with_output().expect("the run ends");
    drop(lock);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "never exit 0 with answers the ledger does not have: {stderr}");
    assert!(stderr.contains("leadctl ledger import"), "{stderr}");
    let run = Run { out: world.path("o1"), code: 1, stdout: String::new(), stderr: stderr.to_string() };
    assert_eq!(run.csv("accepted").len(), 20, "the answers are in the files");
    assert!(entries(&world, ledger).is_empty());

    ledger_cmd(&world, ledger, &["import", world.path("o1").to_str().expect("utf-8")]).assert_code(0);
    let sent = world.state().requests.len();
    upload(&world, &world.path("l.csv"), "o2", ledger, &[]).assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "after the import, the next run sends nothing");
}

/// Issue: `prune` removed leads that every export holds (lookups did not
/// count as seeing them).
fn a_lead_in_every_export_is_never_pruned(ledger: &str) {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    upload(&world, &file, "o1", ledger, &[]).assert_code(0);
    // A hundred days ago, as far as the ledger can tell.
    let hundred_days = 100 * 86_400_000_i64;
    raw_execute(
        ledger,
        &format!(
            "UPDATE leadctl_entries SET first_seen = first_seen - {hundred_days}, last_seen = last_seen - {hundred_days}"
        ),
    );
    // Tonight's export holds them all again: nothing is sent, each is seen.
    let tonight = upload(&world, &file, "o2", ledger, &[]);
    tonight.assert_code(0);
    assert_eq!(tonight.summary()["counts"]["already_uploaded"], 30);
    let pruned = ledger_cmd(&world, ledger, &["prune", "--older-than", "90d", "--json"]);
    pruned.assert_code(0);
    assert!(pruned.stdout.contains(r#""pruned":0"#), "{}", pruned.stdout);
    let sent = world.state().requests.len();
    upload(&world, &file, "o3", ledger, &[]).assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "the leads are still known");
}

/// SQL straight on the ledger (to make it look older than it is).
fn raw_execute(ledger: &str, sql: &str) {
    if ledger.starts_with("postgres") {
        let url = ledger_backends::without_param(ledger, "sslmode");
        ::postgres::Client::connect(&url, ::postgres::NoTls).and_then(|mut c| c.batch_execute(sql)).expect("sql");
    } else {
        rusqlite::Connection::open(ledger).and_then(|c| c.execute_batch(sql)).expect("sql");
    }
}

/// Issue: `ledger import RUN_DIR` used the API URL as typed (`.../v1/`), so
/// runs (which look leads up under `.../v1`) sent every imported lead again.
fn an_import_names_the_api_as_runs_do(ledger: &str) {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(25, "proc_sales"));
    let typed = format!("{}/", world.sandbox().url().replace("http://", "HTTP://"));
    let before = world.leadctl(&[
        "upload",
        file.to_str().expect("utf-8"),
        "--out-dir",
        "old",
        "--no-ledger",
        "--api-url",
        &typed,
        "--quiet",
    ]);
    before.assert_code(0);
    ledger_cmd(&world, ledger, &["import", world.path("old").to_str().expect("utf-8")]).assert_code(0);
    let sent = world.state().requests.len();
    let run = upload(&world, &file, "new", ledger, &[]);
    run.assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "the imported leads are known: nothing sent");
    assert_eq!(run.summary()["counts"]["already_uploaded"], 25);
    let urls: BTreeSet<String> =
        entries(&world, ledger).iter().map(|e| e["api_url"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(urls, BTreeSet::from([world.sandbox().url()]), "one spelling of the API");
}

/// Issue: `--initialize` of known leads recorded them under an empty project
/// and process, and the real entries stayed `initialized = false`.
fn initialize_keeps_the_leads_scope(ledger: &str) {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(6, "proc_sales"));
    upload(&world, &file, "o1", ledger, &[]).assert_code(0);
    upload(&world, &file, "o2", ledger, &["--initialize", "--yes"]).assert_code(0);
    let all = entries(&world, ledger);
    assert_eq!(all.len(), 6, "no entries under another scope: {all:?}");
    for e in &all {
        assert_eq!((e["project"].as_str(), e["process"].as_str()), (Some("prj_sandbox"), Some("proc_sales")), "{e}");
        assert_eq!(e["initialized"], "true", "{e}");
    }
    let phone = all[0]["phone"].as_str().expect("phone").to_owned();
    let forgot = ledger_cmd(&world, ledger, &["forget", "--phone", &phone, "--process", "proc_sales", "--json"]);
    forgot.assert_code(0);
    assert!(forgot.stdout.contains(r#""forgotten":1"#), "{}", forgot.stdout);
}

/// Issue: `--resend-known` sent without claiming, so two such runs at once
/// sent every lead twice.
fn two_resend_known_runs_at_once_send_each_lead_once(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.latency = Duration::from_millis(60);
        c.block_threshold = 1_000_000;
    });
    let file = world.file("l.csv", leads_csv(100, "proc_sales"));
    upload(&world, &file, "o1", ledger, &[]).assert_code(0);
    let before: usize = world.state().requests.iter().map(|r| r.lead_count).sum();
    let args = ["--resend-known", "--batch-size", "10", "--concurrency", "2"];
    let a = spawn(&world, &file, "a", ledger, &args);
    let b = spawn(&world, &file, "b", ledger, &args);
    for (name, out) in [("a", a.wait_with_output().expect("a")), ("b", b.wait_with_output().expect("b"))] {
        let code = out.status.code();
        assert!(matches!(code, Some(3 | 4)), "{name}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    let resent: usize = world.state().requests.iter().map(|r| r.lead_count).sum::<usize>() - before;
    assert!(resent <= 100, "each known lead went out at most once across both runs: {resent}");
    for dir in ["a", "b"] {
        let run = Run { out: world.path(dir), code: 0, stdout: String::new(), stderr: String::new() };
        run.assert_every_row_once(100);
    }
}

/// `kill -9` at each point between the writes of a batch (`--crash-at`,
/// see `src/crash.rs`), then `--resume`: every row in exactly one file,
/// nothing created twice, and a ledger that knows every lead (the next run
/// sends nothing).
fn kill_9_between_any_two_writes_then_resume_keeps_the_promise(ledger: &str) {
    for point in ["sent:3", "files:3", "ledger:3", "done:3"] {
        let world = World::with_sandbox(|c| {
            c.latency = Duration::from_millis(10);
            c.block_threshold = 1_000_000;
        });
        let file = world.file("l.csv", leads_csv(100, "proc_sales"));
        let args = ["--batch-size", "10", "--concurrency", "2", "--crash-at", point];
        let first = upload(&world, &file, "first", ledger, &args);
        assert_eq!(first.code, -1, "{point}: killed by SIGKILL\n{}", first.stderr);
        let out = world.path("first");
        let resumed =
            world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--ledger", ledger, "--quiet"]);
        let resumed = Run { out, ..resumed };
        assert_eq!(resumed.code, 0, "{point}: {}", resumed.stderr);
        resumed.assert_every_row_once(100);
        assert_eq!(resumed.csv("accepted").len(), 100, "{point}");
        let state = world.state();
        assert!(state.no_lead_created_twice(), "{point}");
        assert_eq!(state.leads.len(), 100, "{point}");
        // What the crash can replay is what was in flight: two batches, and
        // the one whose answer the crash interrupted.
        let leads_sent: usize = state.requests.iter().map(|r| r.lead_count).sum();
        assert!(leads_sent <= 100 + 3 * 10, "{point}: {leads_sent} leads sent for 100");
        let sent = state.requests.len();
        let next = upload(&world, &file, "next", ledger, &[]);
        next.assert_code(0);
        assert_eq!(world.state().requests.len(), sent, "{point}: the ledger knows every lead");
        assert_eq!(next.summary()["counts"]["already_uploaded"], 100, "{point}");
    }
}

/// A run made without the ledger (or on another host) whose answers were
/// lost: `ledger import RUN_DIR` keeps those leads as may-exist, so the next
/// run takes `already exists` for accepted, not `server_duplicate`.
fn an_import_keeps_the_lost_answers_of_a_run_made_without_the_ledger(ledger: &str) {
    let world = World::with_sandbox(|c| {
        c.lost_rate = 0.5;
        c.seed = 13;
        c.block_threshold = 1_000_000;
    });
    let file = world.file("export.csv", leads_csv(100, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    let first = world.leadctl(&[
        "upload",
        f,
        "--out-dir",
        "old",
        "--no-ledger",
        "--batch-size",
        "10",
        "--max-attempts",
        "1",
        "--quiet",
    ]);
    first.assert_code(4);
    ledger_cmd(&world, ledger, &["import", world.path("old").to_str().expect("utf-8")]).assert_code(0);
    let may_exist = entries(&world, ledger).iter().filter(|e| e["outcome"] == "may_exist").count();
    assert!(may_exist >= 20, "the lost answers are kept: {may_exist}");
    let next =
        upload(&world, &file, "next", ledger, &["--batch-size", "10", "--max-attempts", "20", "--retry-base-ms", "1"]);
    next.assert_code(0);
    assert!(next.csv("rejected").is_empty(), "{:?}", next.csv("rejected"));
}

/// Two runs of one file started in the same second get two run directories
/// (`...Z` and `...Z-2`); each claims and records under its own.
fn runs_started_in_the_same_second_claim_under_their_own_names(ledger: &str) {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(200));
    let both = world.file("both/l.csv", leads_csv(20, "proc_sales"));
    let spawn_here = |args: &[&str]| {
        let mut cmd = world.cmd();
        cmd.env("LEADCTL_API_URL", world.sandbox().url())
            .env("LEADCTL_API_KEY", world.sandbox().api_key())
            .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
            .args(["upload", both.to_str().expect("utf-8"), "--ledger", ledger, "--quiet"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("spawn")
    };
    let (one, two) = (spawn_here(&["--limit", "10"]), spawn_here(&[]));
    for run in [one, two] {
        let out = run.wait_with_output().expect("a run");
        assert!(matches!(out.status.code(), Some(0 | 4)), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let dirs: Vec<std::path::PathBuf> = std::fs::read_dir(world.path("both/l.leadctl"))
        .expect("the runs' directories")
        .map(|d| d.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let recorded_by: std::collections::BTreeMap<String, String> = entries(&world, ledger)
        .iter()
        .map(|e| (e["phone"].as_str().unwrap_or("").to_owned(), e["run"].as_str().unwrap_or("").to_owned()))
        .collect();
    for dir in dirs {
        let name = std::path::absolute(&dir).expect("path").display().to_string();
        let sent = Run { out: dir, code: 0, stdout: String::new(), stderr: String::new() }.csv("accepted");
        for row in sent.iter().filter(|r| !r["leadctl_note"].starts_with("already uploaded")) {
            assert_eq!(recorded_by.get(&row["leadctl_phone_e164"]), Some(&name), "recorded under the run that sent it");
        }
    }
}
