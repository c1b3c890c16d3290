//! Snapshots of what a user reads: the end table, the progress bar at
//! fixed widths and counts, a plain progress line,
//! the `--json` object and the messages for bad settings. Times, paths,
//! ports and ids are filtered out; everything else must stay as it is.
//! After an intended change: `INSTA_UPDATE=always cargo test --test snapshots`,
//! review the diff, commit.

mod common;

use std::time::Duration;

use common::{World, leads_csv};
use leadctl::progress::{Job, Snapshot, Status};

/// Replaces what changes from run to run.
fn filtered(world: &World, text: &str) -> String {
    let mut out = text.replace(&world.dir.path().display().to_string(), "[DIR]");
    if let Some(sb) = &world.sandbox {
        out = out.replace(&sb.url(), "[SANDBOX]");
    }
    out = regex_lite_replace(&out, "ld_", 26, "[LEAD_ID]");
    out
}

/// Replaces `prefix` followed by `len` id characters with `with`.
fn regex_lite_replace(text: &str, prefix: &str, len: usize, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i]);
        let tail = &rest[i + prefix.len()..];
        let id_len = tail.chars().take_while(|c| c.is_ascii_alphanumeric()).count();
        if id_len == len {
            out.push_str(with);
            rest = &tail[id_len..];
        } else {
            out.push_str(prefix);
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn the_end_table() {
    let world = World::with_sandbox(|c| c.fail_rate = 0.0);
    let mut csv = leads_csv(8, "proc_sales");
    csv.push_str("bad1,Bad,123,proc_sales\nbad2,Bad,+1 555 555 5555,proc_sales\nbad3,Bad,,proc_sales\n");
    let file = world.file("leads.csv", csv);
    let run = world.upload(&file, &[]);
    run.assert_code(3);
    insta::assert_snapshot!(filtered(&world, &run.stderr));
}

#[test]
fn the_end_table_with_retryable_rows_and_the_resend_command() {
    let world = World::with_sandbox(|c| c.fail_rate = 1.0);
    let file = world.file("leads.csv", leads_csv(4, "proc_sales"));
    let run = world.upload(&file, &["--max-attempts", "1", "--process-id", "proc_sales"]);
    run.assert_code(4);
    insta::assert_snapshot!(filtered(&world, &run.stderr));
}

/// `--max-rejected` says its verdict: the comparison and the exit code.
#[test]
fn the_end_table_says_the_tolerance_verdict() {
    let world = World::with_sandbox(|c| c.fail_rate = 0.0);
    let mut csv = leads_csv(5, "proc_sales");
    for i in 0..8 {
        csv.push_str(&format!("bad{i},Bad,12{i},proc_sales\n"));
    }
    let file = world.file("leads.csv", csv);
    let over = world.upload(&file, &["--max-rejected", "60%"]);
    over.assert_code(3);
    let within = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--out-dir", "o2", "--max-rejected", "8"]);
    within.assert_code(0);
    assert!(over.stderr.contains("8 rejected > 60% of 13 (7 rows): exit 3"), "{}", over.stderr);
    let both = format!("## --max-rejected 60%\n{}## --max-rejected 8\n{}", over.stderr, within.stderr);
    insta::assert_snapshot!(filtered(&world, &both));
}

#[test]
fn a_plain_progress_line() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(400));
    let file = world.file("leads.csv", leads_csv(30, "proc_sales"));
    let run = world.upload(&file, &["--batch-size", "10", "--concurrency", "1", "--progress-interval", "1"]);
    run.assert_code(0);
    let line = run.stderr.lines().find(|l| l.starts_with("leadctl upload: ")).expect("a progress line");
    // Numbers move with timing; the shape must not. The rate and the ETA
    // may still be unknown (`?`) at the first line.
    let shape: String = line.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    let shape = shape.split_whitespace().collect::<Vec<_>>().join(" ");
    let shape = shape.replace("##", "#").replace("##", "#").replace("##", "#");
    let words: Vec<&str> = shape.split(' ').collect();
    let shape = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i > 0 && words[i - 1] == "ETA" {
                "[eta]"
            } else if words.get(i + 1) == Some(&"rows/s") {
                "[rate]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    insta::assert_snapshot!(shape);
}

/// A status at fixed counter values, as the display would sample it.
fn status(job: Job, done: [u64; 3], parsed: u64, parsed_all: bool, paused_ms: u64) -> Status {
    let snapshot = Snapshot {
        job,
        read: parsed,
        parsed,
        parsed_all,
        bytes: 5_000_000,
        total_bytes: Some(if parsed_all { 5_000_000 } else { 12_000_000 }),
        accepted: done[0],
        rejected: done[1],
        retryable: done[2],
        paused_ms,
    };
    Status { snapshot, elapsed: Duration::from_secs(754), rate: Some(212.4) }
}

/// The bar line at each width, framed so trailing spaces would show.
fn bars(statuses: &[(&str, Status)], widths: &[usize]) -> String {
    let mut out = String::new();
    for (name, s) in statuses {
        out.push_str(&format!("## {name}\n"));
        for &w in widths {
            // The display leaves the terminal's last column free.
            out.push_str(&format!("{w:>3} |{}|\n", s.bar(w - 1)));
        }
    }
    out
}

#[test]
fn the_bar_at_40_80_and_120_columns() {
    // Validate's rows are done when checked; the parser runs ahead.
    let mut validate = status(Job::Validate, [0, 1_234, 0], 1_000_000, true, 0);
    validate.snapshot.read = 600_000;
    let statuses = [
        ("still reading: the total is an estimate", status(Job::Upload, [8_000, 300, 100], 10_000, false, 0)),
        ("read to the end", status(Job::Upload, [400_000, 15_000, 5_000], 1_000_000, true, 0)),
        ("nothing sorted yet, rate unknown", Status { rate: None, ..status(Job::Upload, [0; 3], 20_000, true, 0) }),
        ("validate", validate),
    ];
    insta::assert_snapshot!(bars(&statuses, &[120, 80, 40]));
}

#[test]
fn the_bar_during_a_429_pause() {
    let paused = status(Job::Upload, [400_000, 15_000, 5_000], 1_000_000, true, 24_200);
    // Rows stopped being sorted: the recent rate has fallen, the ETA grown.
    let statuses = [("paused, rate falling", Status { rate: Some(31.0), ..paused })];
    insta::assert_snapshot!(bars(&statuses, &[120, 80, 40]));
}

#[test]
fn the_json_summary() {
    let world = World::with_sandbox(|_| {});
    let mut csv = leads_csv(5, "proc_sales");
    csv.push_str("bad,Bad,123,proc_sales\n");
    let file = world.file("leads.csv", csv);
    let run = world.upload(&file, &["--json", "--quiet"]);
    run.assert_code(3);
    assert_eq!(run.stdout.lines().count(), 1, "one object, one line");
    let mut v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    for key in ["started_at", "finished_at", "elapsed_s", "rows_per_s"] {
        v[key] = serde_json::json!(format!("[{key}]"));
    }
    v["settings"]["api-url"] = serde_json::json!("[SANDBOX]");
    let text = filtered(&world, &serde_json::to_string_pretty(&v).expect("json"));
    insta::assert_snapshot!(text);
}

#[test]
fn messages_for_bad_settings() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("leads.csv", leads_csv(2, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    let url = world.sandbox().url();
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        ("no url", vec!["upload", f], vec![("LEADCTL_API_KEY", "k")]),
        ("no key", vec!["upload", f], vec![("LEADCTL_API_URL", url.as_str())]),
        ("plain http", vec!["upload", f, "--api-url", "http://api.example.com/v1"], vec![("LEADCTL_API_KEY", "k")]),
        ("stdin without format", vec!["upload", "-", "--sandbox"], vec![]),
        ("bad region", vec!["upload", f, "--sandbox", "--default-region", "XX"], vec![]),
        ("batch too big", vec!["upload", f, "--sandbox", "--batch-size", "5000"], vec![]),
        ("missing file", vec!["upload", "nope.csv", "--sandbox"], vec![]),
        ("bad map", vec!["upload", f, "--sandbox", "--map", "phoneNumber"], vec![]),
    ];
    let mut all = String::new();
    for (name, args, env) in cases {
        let mut cmd = world.cmd();
        cmd.args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        all.push_str(&format!(
            "## {name}: exit {}\n{}\n",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    insta::assert_snapshot!(filtered(&world, &all));
    assert!(world.state().requests.is_empty(), "nothing was sent");
}
