//! The client against a hostile server: absurd or date-form `Retry-After`,
//! 200s that omit or repeat a lead, redirects, a 100 MB body, a 200 of
//! millions of empty entries, a body that never ends, `Maximum of 0` and `Maximum of 99999`, and a property test
//! over random sequences of all of these. Each run goes through the real
//! binary, and each checks the promise: every row read in exactly one of
//! the three files, and the exit code.

mod common;

use std::time::Duration;

use common::hostile::{Fate, Hostile, KEY, Reply};
use common::{Run, World, leads_csv, run_measured};
use proptest::prelude::*;

/// `upload` of `rows` leads to the hostile server, one batch of
/// `batch` at a time, quick retries.
fn upload(world: &World, server: &Hostile, rows: usize, batch: usize, extra: &[&str]) -> Run {
    let file = world.file("l.csv", leads_csv(rows, "proc_sales"));
    let batch = batch.to_string();
    let mut args = vec!["--quiet", "--batch-size", &batch, "--concurrency", "1", "--retry-base-ms", "1"];
    args.extend_from_slice(extra);
    world.upload_to(&server.url(), KEY, &file, &args, &[])
}

#[test]
fn a_retry_after_too_long_to_wait_stops_with_every_row_retryable() {
    let world = World::new();
    let server = Hostile::start(
        &world.rt,
        vec![Reply::error(429, "Rate limit exceeded", &[("retry-after", "18446744073709551615")])],
    );
    let run = upload(&world, &server, 30, 10, &[]);
    run.assert_code(4);
    run.assert_every_row_once(30);
    assert_eq!(run.csv_counts(), (0, 0, 30));
    assert!(run.csv("retryable").iter().all(|r| r["leadctl_reason"].contains("come back at")));
    assert_eq!(server.seen().len(), 1, "nothing is sent after the server asked for a day");
}

#[test]
fn a_retry_after_given_as_a_date_is_waited_out() {
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![Reply::LimitedUntil { secs: 2 }]);
    let run = upload(&world, &server, 10, 10, &[]);
    run.assert_code(0);
    run.assert_every_row_once(10);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    // The date has whole seconds: two seconds ahead is more than one away.
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(900), "sent again after {waited:?}");
}

#[test]
fn a_200_that_omits_a_lead_leaves_it_retryable_and_marked_as_maybe_created() {
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![Reply::Fates(vec![Fate::Created, Fate::Omitted])]);
    let run = upload(&world, &server, 10, 10, &[]);
    run.assert_code(4);
    run.assert_every_row_once(10);
    assert_eq!(run.csv_counts(), (5, 0, 5));
    for r in run.csv("retryable") {
        assert!(leadctl::vocab::has_may_exist_mark(&r["leadctl_reason"]), "{r:?}");
    }
    assert_eq!(server.seen().len(), 1, "an omitted lead is not sent again in the same run");
}

#[test]
fn a_200_that_repeats_or_contradicts_an_index_puts_no_lead_in_two_files() {
    let world = World::new();
    // Lead i: 0 created and named again with lead 1's externalId, 1 refused,
    // 2 both created and refused, 3 omitted, 4 created without an index.
    let fates = vec![Fate::Repeated, Fate::Refused, Fate::Contradicted, Fate::Omitted, Fate::Unindexed];
    let server = Hostile::start(&world.rt, vec![Reply::Fates(fates)]);
    let run = upload(&world, &server, 10, 10, &[]);
    run.assert_code(4);
    run.assert_every_row_once(10);
    let ids = |file: &str| run.csv(file).iter().map(|r| r["external_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids("accepted"), ["crm-0", "crm-2", "crm-4", "crm-5", "crm-7", "crm-9"]);
    assert_eq!(ids("rejected"), ["crm-1", "crm-6"], "a repeated index does not speak for the next lead");
    assert_eq!(ids("retryable"), ["crm-3", "crm-8"]);
}

#[test]
fn a_redirect_is_not_followed_and_stops_the_run_naming_where_it_pointed() {
    let world = World::new();
    let elsewhere = Hostile::start(&world.rt, vec![]);
    let location = format!("{}/leads/bulk-initiate?version=1.2", elsewhere.url());
    let server = Hostile::start(&world.rt, vec![Reply::error(307, "moved", &[("location", &location)])]);
    let run = upload(&world, &server, 30, 10, &[]);
    run.assert_code(1);
    run.assert_every_row_once(30);
    assert_eq!(run.csv_counts(), (0, 0, 30));
    assert!(run.stderr.contains(&location) && run.stderr.contains("--api-url"), "{}", run.stderr);
    assert_eq!(server.seen().len(), 1, "the run stops at the first redirect");
    assert!(elsewhere.seen().is_empty(), "the leads went to the other server");
}

#[test]
fn a_100_mb_body_is_not_read_whole_and_the_batch_stays_retryable() {
    const BODY: u64 = 100_000_000;
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![Reply::Huge { bytes: BODY }, Reply::Huge { bytes: BODY }]);
    let file = world.file("l.csv", leads_csv(20, "proc_sales"));
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", server.url()).env("LEADCTL_API_KEY", KEY).env("LEADCTL_PROJECT_ID", "prj_sandbox");
    cmd.args(["upload", file.to_str().expect("utf-8"), "--quiet", "--max-attempts", "2", "--retry-base-ms", "1"]);
    cmd.arg("--out-dir").arg(&out);
    let (run, peak_kib) = run_measured(cmd);
    let run = Run { out, ..run };
    run.assert_code(4);
    run.assert_every_row_once(20);
    assert_eq!(run.csv_counts(), (0, 0, 20));
    for r in run.csv("retryable") {
        let reason = &r["leadctl_reason"];
        assert!(reason.contains("over 32 MiB") && leadctl::vocab::has_may_exist_mark(reason), "{reason}");
    }
    assert_eq!(server.seen().len(), 2);
    // Each attempt stops reading at 32 MiB; socket buffers take a few more.
    let sent = server.huge_bytes_sent();
    assert!(sent < 2 * 60_000_000, "{sent} bytes of the two 100 MB bodies were sent: they were read whole");
    assert!(peak_kib < 96 * 1024, "peak memory {} MiB", peak_kib / 1024);
}

/// A 200 whose body is `{"leads":[{},{},...]}` of about `bytes` bytes:
/// millions of entries for a batch of a few leads.
fn answer_of_empty_entries(bytes: usize) -> Reply {
    let mut body = String::with_capacity(bytes + 16);
    body.push_str("{\"leads\":[{}");
    while body.len() < bytes {
        body.push_str(",{}");
    }
    body.push_str("]}");
    Reply::status(200, &body)
}

#[test]
fn a_200_with_millions_of_entries_is_not_built_in_memory_and_its_rows_may_exist() {
    const BODY: usize = 30 << 20;
    let world = World::new();
    let server = Hostile::start(&world.rt, (0..4).map(|_| answer_of_empty_entries(BODY)).collect());
    let file = world.file("l.csv", leads_csv(40, "proc_sales"));
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", server.url()).env("LEADCTL_API_KEY", KEY).env("LEADCTL_PROJECT_ID", "prj_sandbox");
    cmd.args(["upload", file.to_str().expect("utf-8"), "--quiet", "--max-attempts", "1"]);
    cmd.args(["--batch-size", "10", "--concurrency", "4", "--out-dir"]).arg(&out);
    let (run, peak_kib) = run_measured(cmd);
    let run = Run { out, ..run };
    eprintln!("peak memory with four 30 MiB answers of empty entries: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 200 * 1024, "peak memory {} MiB", peak_kib / 1024);
    run.assert_code(4);
    run.assert_every_row_once(40);
    assert_eq!(run.csv_counts(), (0, 0, 40));
    for r in run.csv("retryable") {
        let reason = &r["leadctl_reason"];
        assert!(reason.contains("more entries than") && leadctl::vocab::has_may_exist_mark(reason), "{reason}");
    }
    assert_eq!(server.seen().len(), 4);
}

#[test]
fn a_body_that_never_ends_times_out_and_the_batch_stays_retryable() {
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![Reply::Stall, Reply::Stall]);
    let run = upload(&world, &server, 10, 10, &["--timeout", "1", "--max-attempts", "2"]);
    run.assert_code(4);
    run.assert_every_row_once(10);
    let reason = &run.csv("retryable")[0]["leadctl_reason"];
    assert!(reason.contains("timed out") && leadctl::vocab::has_may_exist_mark(reason), "{reason}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn maximum_of_zero_stops_after_one_split_and_maximum_of_99999_is_not_believed() {
    let maximum = |n: u64| Reply::error(400, &format!("Maximum of {n} leads allowed per request"), &[]);
    // 0: the batch is cut to single leads once; a single lead refused again stops the run.
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![maximum(0), maximum(0), maximum(0)]);
    let run = upload(&world, &server, 30, 10, &[]);
    run.assert_code(1);
    run.assert_every_row_once(30);
    assert_eq!(run.csv_counts(), (0, 0, 30));
    let sizes: Vec<usize> = server.seen().iter().map(|s| s.external_ids.len()).collect();
    assert_eq!(sizes, [10, 1]);

    // 99999: more than the batch already was; the server contradicts itself.
    let world = World::new();
    let server = Hostile::start(&world.rt, vec![maximum(99999)]);
    let run = upload(&world, &server, 30, 10, &[]);
    run.assert_code(1);
    run.assert_every_row_once(30);
    assert!(run.stderr.contains("maximum of 99999"), "{}", run.stderr);
    assert_eq!(server.seen().len(), 1);
}

// ---------------------------------------------------------------------------
// Any sequence of answers.

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        4 => Just(Fate::Created),
        2 => Just(Fate::Refused),
        1 => Just(Fate::Omitted),
        1 => Just(Fate::Repeated),
        1 => Just(Fate::Contradicted),
        1 => Just(Fate::Unindexed),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let maximum = prop_oneof![Just(0u64), 1..30u64, Just(99999u64)]
        .prop_map(|n| Reply::error(400, &format!("Maximum of {n} leads allowed per request"), &[]));
    prop_oneof![
        6 => prop::collection::vec(fate(), 1..6).prop_map(Reply::Fates),
        1 => Just(Reply::error(503, "Service Unavailable", &[])),
        1 => Just(Reply::error(500, "Internal server error", &[])),
        2 => Just(Reply::error(429, "Rate limit exceeded", &[("retry-after", "0")])),
        1 => Just(Reply::error(408, "Request Timeout", &[])),
        1 => Just(Reply::Drop),
        1 => maximum,
        1 => Just(Reply::error(404, "Process not found for lead with processId: proc_b", &[])),
    ]
}

/// `n` leads alternating between two processes.
fn two_process_csv(n: usize) -> String {
    let mut s = String::from("external_id,phone,process_id\n");
    for i in 0..n {
        let process = if i % 2 == 0 { "proc_a" } else { "proc_b" };
        s.push_str(&format!("crm-{i},{},{process}\n", common::valid_phone(i)));
    }
    s
}

/// Exit 3 or 4 or 0 follows from the files when the run did not stop.
fn exit_from_files(rejected: usize, retryable: usize) -> i32 {
    if retryable > 0 {
        4
    } else if rejected > 0 {
        3
    } else {
        0
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_sequence_of_answers_sorts_every_row_once_and_accepts_no_lead_twice(
        rows in 1usize..=60,
        batch in 1usize..=25,
        concurrency in 1usize..=3,
        script in prop::collection::vec(reply(), 0..12),
    ) {
        let world = World::new();
        let server = Hostile::start(&world.rt, script);
        let file = world.file("l.csv", two_process_csv(rows));
        let (batch, concurrency) = (batch.to_string(), concurrency.to_string());
        let args = [
            "--quiet", "--batch-size", &batch, "--concurrency", &concurrency, "--max-attempts", "3",
            "--retry-base-ms", "1", "--timeout", "10",
        ];
        let run = world.upload_to(&server.url(), KEY, &file, &args, &[]);
        run.assert_every_row_once(rows);
        let (accepted, rejected, retryable) = run.csv_counts();
        prop_assert!([0, 1, 3, 4].contains(&run.code), "exit {}: {}", run.code, run.stderr);
        if run.code != 1 {
            prop_assert_eq!(run.code, exit_from_files(rejected, retryable), "{}", run.stderr);
        }
        let created = server.created();
        prop_assert!(created.values().all(|n| *n == 1), "a lead was answered created twice: {:?}", created);
        for r in run.csv("accepted") {
            prop_assert!(created.contains_key(&r["external_id"]), "{} accepted but never created", r["external_id"]);
        }
        prop_assert!(accepted <= created.len());
        prop_assert!(!run.stderr.contains(KEY));
    }
}
