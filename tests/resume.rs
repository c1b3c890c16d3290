//! `kill -9` at several moments of a slow upload, then `--resume`: every
//! row ends in exactly one file, no lead is created twice, and the files
//! agree with what the server holds.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Run, World, leads_csv, valid_phone};
use serde_json::json;

fn spawn_upload(world: &World, file: &Path, out: &Path) -> std::process::Child {
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .args(["upload", file.to_str().expect("utf-8"), "--quiet", "--batch-size", "20", "--concurrency", "2"])
        .args(["--retry-base-ms", "10", "--max-attempts", "12", "--out-dir"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn().expect("spawn leadctl")
}

#[test]
fn kill_9_at_any_moment_then_resume_loses_nothing_and_creates_nothing_twice() {
    // Kill after this many requests reached the server (seeded moments).
    for (round, kill_after) in [1usize, 6, 13].into_iter().enumerate() {
        let world = World::with_sandbox(|c| {
            c.seed = 11 + round as u64;
            c.latency = Duration::from_millis(120);
            c.lost_rate = 0.2;
            c.fail_rate = 0.1;
            c.block_threshold = 1_000_000;
        });
        let rows = 600;
        let file = world.file("l.csv", leads_csv(rows, "proc_sales"));
        let out = world.path("out");
        let mut child = spawn_upload(&world, &file, &out);
        let deadline = Instant::now() + Duration::from_secs(30);
        while world.state().requests.len() < kill_after {
            assert!(Instant::now() < deadline, "the upload never reached {kill_after} requests");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("kill -9");
        let _ = child.wait();

        let run = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--quiet"]);
        let run = Run { out: out.clone(), ..run };
        assert!(run.code == 0 || run.code == 4, "round {round}: {}", run.stderr);

        let mut ids = BTreeSet::new();
        let mut total = 0;
        for f in ["accepted", "rejected", "retryable"] {
            for r in run.csv(f) {
                total += 1;
                ids.insert(r["external_id"].clone());
            }
        }
        assert_eq!((total, ids.len()), (rows, rows), "round {round}: every row exactly once");
        let state = world.state();
        assert!(state.no_lead_created_twice(), "round {round}");
        let created: BTreeSet<String> = state.leads.iter().map(|l| l.phone_number.clone()).collect();
        let accepted: BTreeSet<String> = run.csv("accepted").iter().map(|r| r["leadctl_phone_e164"].clone()).collect();
        assert_eq!(created, accepted, "round {round}: created leads are exactly the accepted ones");
        assert!(run.csv("rejected").is_empty(), "round {round}: an in-flight lead must not come back as a duplicate");
        let summary = run.summary();
        assert_eq!(summary["resumed"], true);
        assert_eq!(summary["counts"]["read"], rows);
    }
}

#[test]
fn resume_refuses_a_different_input_file() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(100));
    let file = world.file("l.csv", leads_csv(200, "proc_sales"));
    let out = world.path("out");
    let mut child = spawn_upload(&world, &file, &out);
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    world.file("l.csv", leads_csv(201, "proc_sales"));
    let run = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--quiet"]);
    run.assert_code(1);
    assert!(run.stderr.contains("not the file"), "{}", run.stderr);
}

/// The same leads in every input format leadctl reads, with the name each
/// is saved under. The one-line JSON array puts every row on line 1: rows
/// are named by their ordinal, not their line.
fn every_format(rows: usize) -> Vec<(&'static str, Vec<u8>)> {
    let leads: Vec<serde_json::Value> = (0..rows)
        .map(|i| json!({"external_id": format!("crm-{i}"), "phone": valid_phone(i), "process_id": "proc_sales"}))
        .collect();
    let tsv: String = std::iter::once("external_id\tphone\tprocess_id\n".to_owned())
        .chain((0..rows).map(|i| format!("crm-{i}\t{}\tproc_sales\n", valid_phone(i))))
        .collect();
    let ndjson: String = leads.iter().map(|l| format!("{l}\n")).collect();
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    };
    vec![
        ("l.csv", leads_csv(rows, "proc_sales").into_bytes()),
        ("l.tsv", tsv.into_bytes()),
        ("l.json", serde_json::to_vec_pretty(&leads).expect("json")),
        ("one-line.json", serde_json::to_vec(&leads).expect("json")),
        ("l.ndjson", ndjson.into_bytes()),
        ("l.csv.gz", gzip(leads_csv(rows, "proc_sales").as_bytes())),
    ]
}

/// Every row's external id in the three output files, whatever their format.
fn ids_in_outputs(out: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for f in ["accepted", "rejected", "retryable"] {
        let csv = out.join(format!("{f}.csv"));
        if csv.exists() {
            ids.extend(common::read_csv(&csv).into_iter().map(|r| r["external_id"].clone()));
        } else {
            let text = std::fs::read_to_string(out.join(format!("{f}.ndjson"))).expect("ndjson output");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                ids.push(v["external_id"].as_str().expect("external_id").to_owned());
            }
        }
    }
    ids
}

#[test]
fn every_input_format_resumes_after_kill_9_including_a_one_line_json_array() {
    let rows = 300;
    for (name, content) in every_format(rows) {
        let world = World::with_sandbox(|c| {
            c.latency = Duration::from_millis(60);
            c.lost_rate = 0.2;
            c.seed = 5;
            c.block_threshold = 1_000_000;
        });
        let file = world.file(name, content);
        let out = world.path("out");
        let mut child = spawn_upload(&world, &file, &out);
        let deadline = Instant::now() + Duration::from_secs(30);
        while world.state().requests.len() < 4 {
            assert!(Instant::now() < deadline, "{name}: the upload never reached 4 requests");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("kill -9");
        let _ = child.wait();
        let run = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--quiet"]);
        assert!(run.code == 0 || run.code == 4, "{name}: exit {}: {}", run.code, run.stderr);
        let ids = ids_in_outputs(&out);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!((ids.len(), distinct.len()), (rows, rows), "{name}: every row exactly once");
        assert!(world.state().no_lead_created_twice(), "{name}");
        let summary = Run { out: out.clone(), ..run }.summary();
        assert_eq!(summary["counts"]["read"], rows, "{name}");
    }
}

#[test]
fn a_damaged_journal_is_a_clear_error_and_a_torn_last_line_is_not() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(50));
    let file = world.file("l.csv", leads_csv(200, "proc_sales"));
    let out = world.path("out");
    let mut child = spawn_upload(&world, &file, &out);
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.len() < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let journal = out.join("journal.ndjson");
    let good = std::fs::read(&journal).expect("journal");

    // A range naming row 2^63 and garbage in the middle: refused, nothing sent.
    let sent_before = world.state().requests.len();
    let mut bad = good.clone();
    bad.extend_from_slice(b"{\"event\":\"sent\",\"rows\":[[0,9223372036854775807]]}\nnot json\n{\"event\":\"finished\",\"exit_code\":0}\n");
    std::fs::write(&journal, &bad).expect("write");
    let run = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--quiet"]);
    run.assert_code(1);
    assert!(run.stderr.contains("journal.ndjson is damaged at line"), "{}", run.stderr);
    assert_eq!(world.state().requests.len(), sent_before, "nothing sent from a damaged run directory");

    // A torn last line (a crash mid-append) is ignored, and cut so the
    // resumed run's entries follow a whole line.
    let mut torn = good;
    torn.extend_from_slice(b"{\"event\":\"sent\",\"ro");
    std::fs::write(&journal, &torn).expect("write");
    let run = world.leadctl(&["upload", "--resume", out.to_str().expect("utf-8"), "--quiet"]);
    run.assert_code(0);
    assert_eq!(ids_in_outputs(&out).len(), 200);
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "every line whole");
}

/// `upload` of `rows` leads (and `extra` flags), killed with `kill -9`
/// once `requests` requests reached the server; returns the run directory.
fn killed_run(world: &World, rows: usize, requests: usize, extra: &[&str]) -> std::path::PathBuf {
    let file = world.file("l.csv", leads_csv(rows, "proc_sales"));
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .args(["upload", file.to_str().expect("utf-8"), "--quiet", "--batch-size", "10", "--concurrency", "1"])
        .arg("--out-dir")
        .arg(&out)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn leadctl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.len() < requests {
        assert!(Instant::now() < deadline, "the upload never reached {requests} requests");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    out
}

#[test]
fn two_resumes_of_one_run_directory_at_once_the_second_stops_at_once_naming_the_first() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(150));
    let rows = 200;
    let out = killed_run(&world, rows, 3, &["--no-ledger"]);
    let o = out.to_str().expect("utf-8");
    let sent = world.state().requests.len();
    let mut first = world.cmd();
    first.env("LEADCTL_API_URL", world.sandbox().url()).env("LEADCTL_API_KEY", world.sandbox().api_key());
    first.args(["upload", "--resume", o, "--quiet", "--no-ledger"]).stderr(std::process::Stdio::piped());
    let first = first.spawn().expect("spawn the first resume");
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.state().requests.len() <= sent {
        assert!(Instant::now() < deadline, "the first resume never sent");
        std::thread::sleep(Duration::from_millis(5));
    }

    let began = Instant::now();
    let second = world.leadctl(&["upload", "--resume", o, "--quiet", "--no-ledger"]);
    let took = began.elapsed();
    let first_pid = first.id();
    let first = first.wait_with_output().expect("the first resume ends");
    second.assert_code(1);
    assert!(took < Duration::from_secs(5), "the second stopped at once, not after {took:?}");
    assert!(second.stderr.contains(&format!("pid {first_pid}")), "{}", second.stderr);
    assert!(second.stderr.contains("in use"), "{}", second.stderr);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let ids = ids_in_outputs(&out);
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (rows, rows), "every row in exactly one file, once");
    assert!(world.state().no_lead_created_twice());
}

/// Entries in an SQLite ledger file.
/// How many leads the ledger at `ledger` knows (through the store, which
/// counts what its log holds too).
fn entries(ledger: &Path) -> i64 {
    let location = leadctl::ledger::Location::Sqlite(ledger.to_path_buf());
    let mut store = leadctl::ledger::open(&location, &Default::default()).expect("open the ledger");
    store.stats().expect("stats").entries as i64
}

#[test]
fn a_resume_records_into_the_ledger_the_run_started_with() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(100));
    let rows = 120;
    let a = world.path("shared/a.db");
    let ledger_a = format!("sqlite://{}", a.display());
    let out = killed_run(&world, rows, 3, &["--ledger", &ledger_a]);
    let o = out.to_str().expect("utf-8");
    let sent = world.state().requests.len();

    // The environment now names another ledger: stop, and say how to choose.
    let b = world.path("b.db");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url()).env("LEADCTL_API_KEY", world.sandbox().api_key());
    cmd.env("LEADCTL_LEDGER", &b).args(["upload", "--resume", o, "--quiet"]);
    let refused = common::Run::from(cmd.output().expect("leadctl runs"));
    refused.assert_code(1);
    assert!(refused.stderr.contains(&format!("--ledger {ledger_a}")), "{}", refused.stderr);
    assert_eq!(world.state().requests.len(), sent, "nothing sent");
    assert!(!b.exists(), "the other ledger was not touched");

    // Without a flag: the run's own ledger, not the default one.
    let run = world.leadctl(&["upload", "--resume", o, "--quiet"]);
    let run = Run { out: out.clone(), ..run };
    assert!(run.code == 0 || run.code == 3, "{}", run.stderr);
    assert_eq!(run.summary()["ledger"], ledger_a.as_str());
    let accepted = run.csv("accepted").len() as i64;
    assert_eq!(entries(&a), accepted + run.csv("rejected").len() as i64, "every answer in the run's ledger");
    assert!(!world.path(".local/share/leadctl/ledger.db").exists(), "nothing in the default ledger");
}
