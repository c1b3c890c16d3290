//! Rehearsals: a dry run that previews tonight's run against the ledger,
//! `--sandbox` rehearsals that remember what they sent, and the standalone
//! sandbox's banner that says what to type. Each through the real binary.

mod common;

use common::{Run, World, leads_csv, valid_phone};

/// `leadctl ledger export --format ndjson` of the ledger at `path`.
fn ledger_export(world: &World, path: &str) -> String {
    let run = world.leadctl(&["ledger", "export", "--format", "ndjson", "--ledger", path]);
    run.assert_code(0);
    run.stdout
}

/// A dry run with a ledger looks leads up and says what tonight's run would
/// send: known leads are counted `already_uploaded` (not sent, not in
/// retryable), the rest land in retryable as "not sent (--dry-run)". It
/// only reads: no request, no claim, the ledger unchanged.
#[test]
fn a_dry_run_against_a_filled_ledger_previews_what_would_be_sent() {
    let world = World::with_sandbox(|_| {});
    let yesterday = world.file("yesterday.csv", leads_csv(4, "proc_sales"));
    world.upload(&yesterday, &["--ledger", "l.db", "--quiet"]).assert_code(0);
    let requests = world.state().requests.len();
    let before = ledger_export(&world, "l.db");

    let mut tonight = leads_csv(6, "proc_sales");
    tonight.push_str("crm-bad,Bad,123,proc_sales\n");
    let tonight = world.file("tonight.csv", tonight);
    let out = world.path("dry");
    let run = world.leadctl(&["upload", tonight.to_str().expect("utf-8"), "--dry-run", "--ledger", "l.db"]);
    let run = Run { out: out.clone(), ..run };
    let dry_dir = std::fs::read_dir(world.path("tonight.leadctl")).expect("run dir").next().expect("one").expect("e");
    let run = Run { out: dry_dir.path(), ..run };
    run.assert_code(3);
    let summary = run.summary();
    assert!(summary["ledger"].as_str().is_some_and(|l| l.ends_with("l.db")), "{}", summary["ledger"]);
    assert_eq!(summary["counts"]["already_uploaded"], 4);
    assert_eq!(summary["counts"]["accepted"], 4);
    assert_eq!(summary["counts"]["rejected"], 1);
    assert_eq!(summary["counts"]["retryable"], 2);
    assert!(summary["dry_run"].as_bool() == Some(true), "{summary}");
    let retryable = run.csv("retryable");
    let phones: Vec<&str> = retryable.iter().map(|r| r["phone"].as_str()).collect();
    assert_eq!(phones, [valid_phone(4), valid_phone(5)]);
    assert!(retryable.iter().all(|r| r["leadctl_reason"] == "not sent (--dry-run)"));
    assert!(run.stderr.contains("would send 2 leads"), "{}", run.stderr);
    assert_eq!(world.state().requests.len(), requests, "a dry run sends nothing");
    assert_eq!(ledger_export(&world, "l.db"), before, "a dry run leaves the ledger as it was");
    let stats = world.leadctl(&["ledger", "stats", "--json", "--ledger", "l.db"]);
    stats.assert_code(0);
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).expect("json");
    assert_eq!(stats["claims"], 0, "no claim taken: {stats}");
}

/// A dry run with a ledger needs the API the leads are keyed by: without
/// one it says how to give it, before anything is read.
#[test]
fn a_dry_run_with_a_ledger_and_no_api_url_says_how_to_give_one() {
    let world = World::new();
    let file = world.file("l.csv", leads_csv(2, "proc_sales"));
    let args = ["upload", file.to_str().expect("utf-8"), "--dry-run", "--ledger", "l.db", "--project-id", "prj_1"];
    let run = world.leadctl(&args);
    run.assert_code(1);
    assert!(run.stderr.contains("--api-url") && run.stderr.contains("LEADCTL_API_URL"), "{}", run.stderr);
}

/// `--sandbox --ledger FILE` rehearses the ledger: every in-process sandbox
/// is the same API to the ledger, so the second rehearsal sends nothing.
#[test]
fn a_second_sandbox_rehearsal_with_the_same_ledger_sends_nothing() {
    let world = World::new();
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    for (i, (sent, known)) in [(1, 0), (0, 5)].into_iter().enumerate() {
        let out = format!("r{i}");
        let run = world.leadctl(&["upload", f, "--sandbox", "--ledger", "rehearsal.db", "--quiet", "--out-dir", &out]);
        let run = Run { out: world.path(&out), ..run };
        run.assert_code(0);
        let summary = run.summary();
        assert_eq!(summary["requests"]["sent"], sent, "rehearsal {i}");
        assert_eq!(summary["counts"]["already_uploaded"], known, "rehearsal {i}");
    }
    // One stable identity, documented: `leadctl ledger stats` shows it.
    let stats = world.leadctl(&["ledger", "stats", "--ledger", "rehearsal.db"]);
    assert!(stats.stdout.contains("sandbox://in-process"), "{}", stats.stdout);
}

/// `leadctl sandbox` prints what to type: the export lines, pasted into a
/// shell, point an upload at it.
#[cfg(unix)]
#[test]
fn the_sandbox_banner_gives_export_lines_that_work_when_pasted() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let world = World::new();
    world.file("l.csv", leads_csv(3, "proc_sales"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadctl"))
        .args(["sandbox", "--port", "0"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leadctl sandbox runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a line");
    assert!(first.starts_with("listening on http://127.0.0.1:"), "the first line stays: {first:?}");
    let (lines, banner) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|l| lines.send(l)));
    let mut exports = Vec::new();
    while exports.len() < 3 {
        let Ok(line) = banner.recv_timeout(std::time::Duration::from_secs(10)) else {
            let _ = child.kill();
            panic!("the banner has no export lines: {exports:?}");
        };
        if line.trim_start().starts_with("export ") {
            exports.push(line.trim().to_owned());
        }
    }
    let script = format!("{}\n\"$LEADCTL\" upload l.csv --quiet --out-dir out", exports.join("\n"));
    let run = Run::from(
        Command::new("/bin/sh")
            .args(["-c", &script])
            .env_clear()
            .env("LEADCTL", env!("CARGO_BIN_EXE_leadctl"))
            .env("HOME", world.dir.path())
            .current_dir(world.dir.path())
            .output()
            .expect("sh runs"),
    );
    let _ = child.kill();
    let _ = child.wait();
    run.assert_code(0);
    assert_eq!(common::read_csv(&world.path("out/accepted.csv")).len(), 3, "{exports:?}");
    assert!(exports[0].starts_with("export LEADCTL_API_URL=http://127.0.0.1:"), "{exports:?}");
    assert!(exports.iter().any(|e| e == "export LEADCTL_API_KEY=sk_sandbox"), "{exports:?}");
}
