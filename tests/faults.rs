//! The failure paths, end to end against the sandbox's fault injection:
//! server faults and lost responses, rate limits and key blocks, whole-
//! request errors, the retry budget, and interruption. The properties are
//! the product's promises: every row in exactly one file, no lead created
//! twice, no rejected lead sent again, nothing created that is not accepted.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Run, World, codes, leads_csv, valid_phone};
use leadctl::sandbox::PreexistingLead;

/// Every line of the input appears in exactly one output file.
fn assert_every_row_once(run: &Run, rows: usize) {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for f in ["accepted", "rejected"] {
        for r in run.csv(f) {
            total += 1;
            seen.insert(r["external_id"].clone());
        }
    }
    for r in run.csv("retryable") {
        total += 1;
        seen.insert(r["external_id"].clone());
    }
    assert_eq!(total, rows, "rows in the three files");
    assert_eq!(seen.len(), rows, "each row once");
}

/// The server's truth agrees with the files: created leads are accepted,
/// retryable ones were not created, nothing was created twice.
fn assert_files_match_server(world: &World, run: &Run) {
    let state = world.state();
    assert!(state.no_lead_created_twice(), "a lead was created twice");
    let created: BTreeSet<String> =
        state.leads.iter().filter(|l| !l.preexisting).map(|l| l.phone_number.clone()).collect();
    let accepted: BTreeSet<String> = run.csv("accepted").iter().map(|r| r["leadctl_phone_e164"].clone()).collect();
    assert_eq!(created, accepted, "every created lead is accepted, and only those");
    assert!(state.resent_after_error.is_empty(), "a rejected lead was sent again: {:?}", state.resent_after_error);
}

#[test]
fn server_faults_and_lost_responses_lose_nothing_and_create_nothing_twice() {
    let world = World::with_sandbox(|c| {
        c.seed = 7;
        c.fail_rate = 0.2;
        c.drop_rate = 0.05;
        c.lost_rate = 0.1;
        c.rate_per_sec = 1000.0;
        c.burst = 1000;
        // The "already exists" answers that confirm lost responses count as
        // bad leads; this test is about faults, not the key block.
        c.block_threshold = 1_000_000;
    });
    let file = world.file("l.csv", leads_csv(20_000, "proc_sales"));
    let run = world.upload(&file, &["--quiet", "--max-attempts", "12", "--retry-base-ms", "20", "--timeout", "5"]);
    assert!(run.code == 0 || run.code == 4, "{}", run.stderr);
    assert_every_row_once(&run, 20_000);
    assert_files_match_server(&world, &run);
    let state = world.state();
    assert!(state.requests.iter().any(|r| r.fault.is_some()), "faults were injected");
    let summary = run.summary();
    assert!(
        summary["counts"]["accepted_after_lost_response"].as_u64().unwrap_or(0) > 0,
        "lost responses were confirmed"
    );
    let noted = run.csv("accepted").iter().filter(|r| r["leadctl_note"].contains("lost")).count();
    assert_eq!(noted as u64, summary["counts"]["accepted_after_lost_response"].as_u64().unwrap_or(0));
}

#[test]
fn a_tight_rate_limit_is_waited_out_and_every_row_accepted() {
    let world = World::with_sandbox(|c| {
        c.rate_per_sec = 4.0;
        c.burst = 2;
    });
    let file = world.file("l.csv", leads_csv(300, "proc_sales"));
    let run = world.upload(&file, &["--quiet", "--batch-size", "20", "--concurrency", "4"]);
    run.assert_code(0);
    assert_eq!(run.csv_counts(), (300, 0, 0));
    let state = world.state();
    assert!(state.requests.iter().any(|r| r.status == Some(429)), "the limit was hit");
    assert!(state.no_lead_created_twice());
    assert!(run.summary()["requests"]["rate_limited"].as_u64().unwrap_or(0) > 0);
    // No request arrives while a window the server announced is open. Grace:
    // requests already on the wire when the 429 left (concurrency 4), which a
    // busy machine may hand to the server a little late. Windows last >= 1 s.
    const GRACE_MS: u64 = 300;
    for announced in state.requests.iter().filter(|r| r.status == Some(429)) {
        let secs = announced.retry_after_s.expect("a 429 carries Retry-After");
        let (from, until) = (announced.at_ms + GRACE_MS, announced.at_ms + secs * 1000);
        let inside: Vec<_> =
            state.requests.iter().filter(|r| r.at_ms > from && r.at_ms < until).map(|r| r.seq).collect();
        assert!(inside.is_empty(), "requests {inside:?} arrived inside the window announced by #{}", announced.seq);
    }
}

#[test]
fn the_rate_limit_wait_cap_stops_sending_and_keeps_the_rest_retryable() {
    let world = World::with_sandbox(|c| {
        c.rate_per_sec = 0.2; // a token every 5 s
        c.burst = 1;
    });
    let file = world.file("l.csv", leads_csv(50, "proc_sales"));
    let run =
        world.upload(&file, &["--quiet", "--batch-size", "10", "--concurrency", "1", "--max-rate-limit-wait", "1"]);
    run.assert_code(4);
    let (a, r, t) = run.csv_counts();
    assert_eq!((a, r, t), (10, 0, 40));
    let reason = &run.csv("retryable")[0]["leadctl_reason"];
    assert!(reason.contains("come back at"), "{reason}");
}

#[test]
fn a_key_blocked_for_bad_leads_is_waited_out_without_resending_them() {
    // 6 leads the server will refuse (they already exist), in the first batch.
    let pre: Vec<PreexistingLead> = (0..6)
        .map(|i| PreexistingLead {
            phone_number: valid_phone(i),
            process_id: "proc_sales".into(),
            initialized: false,
            lead_id: None,
        })
        .collect();
    let world = World::with_sandbox(|c| {
        c.preexisting = pre;
        c.block_threshold = 5;
        c.block_window = Duration::from_secs(60);
        c.block_for = Duration::from_millis(1500);
    });
    let file = world.file("l.csv", leads_csv(60, "proc_sales"));
    let run = world.upload(&file, &["--quiet", "--batch-size", "10", "--concurrency", "1"]);
    run.assert_code(3);
    assert_eq!(run.csv_counts(), (54, 6, 0));
    assert_eq!(codes(&run.csv("rejected")).get("server_duplicate"), Some(&6));
    let state = world.state();
    assert!(state.requests.iter().any(|r| r.status == Some(429)), "the key was blocked");
    assert!(state.resent_after_error.is_empty(), "no rejected lead was re-sent");
}

#[test]
fn a_smaller_server_maximum_splits_batches_for_the_rest_of_the_run() {
    let world = World::with_sandbox(|c| c.max_leads = 100);
    let file = world.file("l.csv", leads_csv(450, "proc_sales"));
    let run = world.upload(&file, &["--quiet"]);
    run.assert_code(0);
    assert_eq!(run.csv_counts(), (450, 0, 0));
    let state = world.state();
    let over: Vec<_> = state.requests.iter().filter(|r| r.status == Some(400)).collect();
    assert_eq!(over.len(), 1, "one 400, then the batch size follows the server");
    assert!(state.requests.iter().filter(|r| r.status == Some(200)).all(|r| r.lead_count <= 100));
}

#[test]
fn an_inactive_project_stops_at_once_with_every_row_retryable() {
    let world = World::with_sandbox(|c| c.active = false);
    let mut csv = leads_csv(30, "proc_sales");
    csv.push_str("bad,Bad,123,proc_sales\n");
    let file = world.file("l.csv", csv);
    let run = world.upload(&file, &["--quiet", "--batch-size", "10", "--concurrency", "1"]);
    run.assert_code(1);
    assert_eq!(run.csv_counts(), (0, 1, 30));
    assert!(run.stderr.contains("403") && run.stderr.contains("project"), "{}", run.stderr);
    assert_eq!(world.state().requests.len(), 1, "stops at once");
}

#[test]
fn the_retry_budget_bounds_requests_to_a_dead_server() {
    let world = World::with_sandbox(|c| {
        c.fail_rate = 1.0;
        c.rate_per_sec = 1000.0;
        c.burst = 1000;
    });
    // 200 batches, 5 attempts each would be 1000 requests; the budget allows
    // one request per batch plus 500 / 5 = 100 retries in all.
    let file = world.file("l.csv", leads_csv(2000, "proc_sales"));
    let run = world.upload(&file, &["--quiet", "--batch-size", "10", "--retry-base-ms", "1"]);
    run.assert_code(4);
    assert_eq!(run.csv_counts(), (0, 0, 2000));
    let requests = world.state().requests.len();
    assert!(requests <= 200 + 100, "{requests} requests");
    assert!(requests > 200, "some retries happened: {requests}");
    assert!(run.csv("retryable").iter().all(|r| r["leadctl_reason"].contains("500")));
}

#[cfg(unix)]
#[test]
fn sigint_finishes_in_flight_batches_and_exits_130_with_every_row_sorted() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(200));
    let file = world.file("l.csv", leads_csv(400, "proc_sales"));
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", "prj_sandbox")
        .args(["upload", file.to_str().expect("utf-8"), "--quiet", "--batch-size", "10", "--concurrency", "1"])
        .arg("--out-dir")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    // Wait until the server has answered something, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while world.state().requests.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no request reached the sandbox");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    let run = Run { out, ..Run::from(child.wait_with_output().expect("wait")) };
    run.assert_code(130);
    let (a, r, t) = run.csv_counts();
    assert_eq!(a + r + t, 400);
    assert!(t > 0 && a > 0, "{a} accepted, {t} retryable");
    assert!(run.csv("retryable").iter().all(|r| r["leadctl_reason"].contains("interrupted")));
    assert_files_match_server(&world, &run);
}

#[test]
fn retryable_rows_whose_answer_was_lost_are_confirmed_when_sent_again() {
    // Half the answers are lost after the leads were created.
    let world = World::with_sandbox(|c| {
        c.seed = 3;
        c.lost_rate = 0.5;
        c.block_threshold = 1_000_000;
    });
    let file = world.file("l.csv", leads_csv(200, "proc_sales"));
    let first = world.upload(&file, &["--quiet", "--batch-size", "10", "--concurrency", "1", "--max-attempts", "1"]);
    first.assert_code(4);
    let retryable = first.csv("retryable");
    assert!(!retryable.is_empty());
    assert!(retryable.iter().all(|r| leadctl::vocab::has_may_exist_mark(&r["leadctl_reason"])));

    // Sending the retryable file again: the server says those leads exist.
    let again_out = world.path("again");
    let again = world.leadctl(&[
        "upload",
        first.out.join("retryable.csv").to_str().expect("utf-8"),
        "--quiet",
        "--batch-size",
        "10",
        "--concurrency",
        "1",
        "--max-attempts",
        "20",
        "--retry-base-ms",
        "1",
        "--out-dir",
        again_out.to_str().expect("utf-8"),
    ]);
    let again = Run { out: again_out, ..again };
    again.assert_code(0);
    assert_eq!(again.csv("accepted").len(), retryable.len(), "{}", again.stderr);
    assert!(again.csv("accepted").iter().all(|r| r["leadctl_note"].contains("lost")));
    let state = world.state();
    assert!(state.no_lead_created_twice());
    assert_eq!(state.leads.len(), 200, "every lead exists once");
}
