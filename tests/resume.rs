//! `kill -9` at several moments of a slow upload, then `--resume`: every
//! row ends in exactly one file, no lead is created twice, and the files
//! agree with what the server holds.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Run, World, leads_csv};

fn spawn_upload(world: &World, file: &std::path::Path, out: &std::path::Path) -> std::process::Child {
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
