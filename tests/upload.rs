//! `leadctl upload` end to end: the real binary against the sandbox on a
//! loopback port, checking what a user would: where every row went, with
//! which code, the exit code, the files, and what reached the server.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{World, codes, leads_csv, valid_phone};
use leadctl::sandbox::PreexistingLead;

/// A file mixing valid rows, every local check, server rejections and an
/// unknown process, with the exact count expected per file and per code.
#[test]
fn a_mixed_file_sorts_every_row_into_one_file_with_exact_codes() {
    let world = World::with_sandbox(|c| {
        c.preexisting = vec![PreexistingLead {
            phone_number: valid_phone(100),
            process_id: "proc_sales".into(),
            initialized: false,
            lead_id: None,
        }];
    });
    let mut csv = String::from("external_id,first_name,phone,email,process_id,plan\n");
    for i in 0..10 {
        csv.push_str(&format!("ok-{i},Ann,{},ann{i}@example.com,proc_sales,gold\n", valid_phone(i)));
    }
    csv.push_str(&format!("dup,Ann,{},,proc_sales,\n", valid_phone(3))); // duplicate_in_file
    csv.push_str("nophone,Ann,,,proc_sales,\n"); // missing_phone
    csv.push_str("badphone,Ann,12345,,proc_sales,\n"); // invalid_phone
    csv.push_str("rep,Ann,+1 555 555 5555,,proc_sales,\n"); // repeating_digits
    csv.push_str(&format!("noproc,Ann,{},,,\n", valid_phone(11))); // missing_process
    csv.push_str(&format!("mail,Ann,{},not-an-email,proc_sales,\n", valid_phone(12))); // invalid_email
    csv.push_str(&format!("long,{},{},,proc_sales,\n", "N".repeat(101), valid_phone(13))); // field_too_long
    csv.push_str(&format!("exists,Ann,{},,proc_sales,\n", valid_phone(100))); // server_duplicate
    csv.push_str(&format!("legacy1,Ann,{},,proc_legacy,\n", valid_phone(14))); // process_not_found (404)
    csv.push_str(&format!("legacy2,Ann,{},,proc_legacy,\n", valid_phone(15))); // process_not_found
    csv.push_str("short,row\n"); // malformed_row
    let file = world.file("mixed.csv", csv);

    let run = world.upload(&file, &["--quiet"]);
    run.assert_code(3);
    let (accepted, rejected, retryable) = run.csv_counts();
    assert_eq!((accepted, rejected, retryable), (10, 11, 0));
    let rejected = run.csv("rejected");
    let got = codes(&rejected);
    let want: Vec<(&str, usize)> = vec![
        ("duplicate_in_file", 1),
        ("field_too_long", 1),
        ("invalid_email", 1),
        ("invalid_phone", 1),
        ("malformed_row", 1),
        ("missing_phone", 1),
        ("missing_process", 1),
        ("process_not_found", 2),
        ("repeating_digits", 1),
        ("server_duplicate", 1),
    ];
    assert_eq!(got, want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());

    // Values as read, with the line each row starts on and where it was decided.
    let dup = rejected.iter().find(|r| r["external_id"] == "dup").expect("dup row");
    assert_eq!(dup["leadctl_line"], "12");
    assert!(dup["leadctl_reason"].contains("line 5"), "names the earlier row: {}", dup["leadctl_reason"]);
    assert_eq!(dup["leadctl_source"], "local");
    let exists = rejected.iter().find(|r| r["external_id"] == "exists").expect("exists row");
    assert_eq!((exists["leadctl_source"].as_str(), exists["leadctl_http_status"].as_str()), ("server", "200"));
    let accepted = run.csv("accepted");
    assert!(accepted.iter().all(|r| r["leadctl_lead_id"].starts_with("ld_") && r["plan"] == "gold"));
    assert_eq!(accepted[0]["leadctl_phone_e164"], valid_phone(0));

    // Nothing bad reached the network except what only the server can know.
    let state = world.state();
    assert!(state.no_lead_created_twice());
    assert_eq!(state.leads.iter().filter(|l| !l.preexisting).count(), 10);
    let answers: Vec<(Option<u16>, usize)> = state.requests.iter().map(|r| (r.status, r.lead_count)).collect();
    assert_eq!(answers, vec![(Some(404), 13), (Some(200), 11)], "404 for proc_legacy, then the rest without it");
    assert!(state.resent_after_error.is_empty());

    let summary = run.summary();
    assert_eq!(summary["counts"]["read"], 21);
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["rejected_by_code"]["process_not_found"], 2);
}

#[test]
fn every_format_gives_the_same_result_including_gzip_and_stdin() {
    use std::io::Write;
    let leads: Vec<(String, String)> = (0..25).map(|i| (format!("crm-{i}"), valid_phone(i))).collect();
    let csv: String = std::iter::once("externalId,phoneNumber,processId\n".to_owned())
        .chain(leads.iter().map(|(id, p)| format!("{id},{p},proc_sales\n")))
        .collect();
    let objects: Vec<serde_json::Value> = leads
        .iter()
        .map(|(id, p)| serde_json::json!({"externalId": id, "phoneNumber": p, "processId": "proc_sales", "score": 7}))
        .collect();
    let json = serde_json::to_string_pretty(&objects).expect("json");
    let ndjson: String = objects.iter().map(|o| format!("{o}\n")).collect();
    let gz = |data: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    for (name, data, ndjson_out) in [
        ("a.csv", csv.as_bytes().to_vec(), false),
        ("a.tsv", csv.replace(',', "\t").into_bytes(), false),
        ("a.json", json.as_bytes().to_vec(), true),
        ("a.ndjson", ndjson.as_bytes().to_vec(), true),
        ("a.csv.gz", gz(&csv), false),
        ("a.json.gz", gz(&json), true),
    ] {
        let world = World::with_sandbox(|_| {});
        let file = world.file(name, data);
        let run = world.upload(&file, &["--quiet"]);
        run.assert_code(0);
        if ndjson_out {
            let rows = run.ndjson("accepted");
            assert_eq!(rows.len(), 25, "{name}");
            assert_eq!(rows[0]["score"], 7, "{name}: values as read");
            assert!(rows[0]["leadctl_lead_id"].as_str().is_some_and(|s| s.starts_with("ld_")), "{name}");
            assert_eq!(run.ndjson("rejected").len(), 0);
        } else {
            assert_eq!(run.csv_counts(), (25, 0, 0), "{name}");
        }
        assert_eq!(world.state().leads.len(), 25, "{name}");
    }

    // stdin needs --format, then works.
    let world = World::with_sandbox(|_| {});
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", "prj_sandbox");
    cmd.args(["upload", "-", "--format", "csv", "--quiet", "--out-dir"]).arg(&out);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(csv.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(common::read_csv(&out.join("accepted.csv")).len(), 25);
    let no_format = world.leadctl(&["upload", "-"]);
    no_format.assert_code(1);
    assert!(no_format.stderr.contains("--format"), "{}", no_format.stderr);
}

#[test]
fn dry_run_checks_and_sends_nothing() {
    let world = World::with_sandbox(|_| {});
    let mut csv = leads_csv(30, "proc_sales");
    csv.push_str("bad,Bad,123,proc_sales\n");
    let file = world.file("l.csv", csv);
    let run = world.upload(&file, &["--dry-run", "--quiet"]);
    run.assert_code(3);
    assert_eq!(run.csv_counts(), (0, 1, 30));
    assert!(world.state().requests.is_empty(), "a dry run must not send anything");
}

#[test]
fn twenty_thousand_rows_each_in_exactly_one_file() {
    let world = World::with_sandbox(|c| {
        c.rate_per_sec = 1000.0;
        c.burst = 1000;
    });
    let mut csv = leads_csv(20_000, "proc_sales");
    for i in 0..500 {
        csv.push_str(&format!("dup-{i},Dup,{},proc_sales\n", valid_phone(i * 7)));
    }
    let file = world.file("big.csv", csv);
    let run = world.upload(&file, &["--quiet", "--json"]);
    run.assert_code(3);
    let summary: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("--json prints one object");
    assert_eq!(summary["counts"]["read"], 20_500);
    let (a, r, t) = run.csv_counts();
    assert_eq!((a, r, t), (20_000, 500, 0));
    let mut lines: Vec<u64> = ["accepted", "rejected", "retryable"]
        .iter()
        .flat_map(|f| run.csv(f).into_iter().filter_map(|r| r.get("leadctl_line").and_then(|l| l.parse().ok())))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 20_500, "every line once");
    let state = world.state();
    assert_eq!(state.leads.len(), 20_000);
    assert!(state.no_lead_created_twice());
}

#[test]
fn outputs_are_private_and_never_overwritten() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let run = world.upload(&file, &["--quiet"]);
    run.assert_code(0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&run.out), 0o700);
    for f in ["accepted.csv", "rejected.csv", "retryable.csv", "summary.json"] {
        assert_eq!(mode(&run.out.join(f)), 0o600, "{f}");
    }
    let again = world.upload(&file, &["--quiet"]);
    again.assert_code(1);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    assert_eq!(world.state().requests.len(), 1, "the second run sent nothing");

    // Without --out-dir: <input dir>/<stem>.leadctl/<UTC time>/.
    let run = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--quiet"]);
    run.assert_code(0); // the same leads again: the ledger knows them, nothing is sent
    assert_eq!(world.state().requests.len(), 1);
    let parent = world.path("l.leadctl");
    let dirs: Vec<_> = std::fs::read_dir(&parent).expect("default run dir").collect();
    assert_eq!(dirs.len(), 1);
    let name = dirs[0].as_ref().expect("entry").file_name().into_string().expect("utf-8");
    assert!(name.len() == 16 && name.ends_with('Z') && name.as_bytes()[8] == b'T', "{name}");
}

#[test]
fn bad_settings_stop_before_anything_is_sent_and_say_what_to_set() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let f = file.to_str().expect("utf-8");

    let run = Run::from(world.cmd().args(["upload", f]).env("LEADCTL_API_KEY", "k").output().expect("run"));
    run.assert_code(1);
    assert!(run.stderr.contains("LEADCTL_API_URL") && run.stderr.contains("--api-url"), "{}", run.stderr);

    let run =
        Run::from(world.cmd().args(["upload", f]).env("LEADCTL_API_URL", world.sandbox().url()).output().expect("run"));
    run.assert_code(1);
    assert!(run.stderr.contains("LEADCTL_API_KEY") && run.stderr.contains("--api-key-file"), "{}", run.stderr);

    let run = Run::from(
        world
            .cmd()
            .args(["upload", f, "--api-url", "http://api.example.com"])
            .env("LEADCTL_API_KEY", "k")
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("https://"), "{}", run.stderr);

    let run = world.leadctl(&["upload", "missing.csv"]);
    run.assert_code(1);
    assert!(run.stderr.contains("missing.csv"), "{}", run.stderr);

    let run = world.leadctl(&["upload", f, "--api-key", "x"]);
    run.assert_code(2);
    assert!(world.state().requests.is_empty());
}

#[test]
fn a_wrong_key_stops_the_run_with_every_row_retryable() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let out = world.path("out");
    let run = Run::from(
        world
            .cmd()
            .args(["upload", file.to_str().expect("utf-8"), "--quiet", "--out-dir", out.to_str().expect("utf-8")])
            .env("LEADCTL_API_URL", world.sandbox().url())
            .env("LEADCTL_API_KEY", "sk_wrong_secret_value")
            .env("LEADCTL_PROJECT_ID", "prj_sandbox")
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("401") && run.stderr.contains("LEADCTL_API_KEY"), "{}", run.stderr);
    assert_eq!(common::read_csv(&out.join("retryable.csv")).len(), 5);
    assert!(!run.stderr.contains("sk_wrong_secret_value"));
}

#[test]
fn the_api_key_never_reaches_output_logs_or_files() {
    let world = World::with_sandbox(|_| {});
    let mut csv = leads_csv(20, "proc_sales");
    csv.push_str("bad,Bad,123,proc_sales\n");
    let file = world.file("l.csv", csv);
    let run = world.upload(&file, &["-vvv", "--json"]);
    run.assert_code(3);
    let key = world.sandbox().api_key().to_owned();
    assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key), "the key leaked to stdout/stderr");
    assert!(run.stderr.contains("sending batch"), "-vvv logs batches: {}", run.stderr);
    for entry in std::fs::read_dir(&run.out).expect("run dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&key), "the key leaked into {}", path.display());
    }
}

use common::Run;

#[test]
fn limit_takes_only_the_first_rows() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(50, "proc_sales"));
    let run = world.upload(&file, &["--limit", "7", "--quiet"]);
    run.assert_code(0);
    let accepted = run.csv("accepted");
    assert_eq!(accepted.len(), 7);
    assert_eq!(accepted.last().map(|r| r["external_id"].as_str()), Some("crm-6"));
    assert_eq!(run.summary()["counts"]["read"], 7);
    assert_eq!(world.state().leads.len(), 7);
}

#[test]
fn the_client_side_rate_cap_spaces_requests() {
    let world = World::with_sandbox(|c| {
        c.rate_per_sec = 1000.0;
        c.burst = 1000;
    });
    let file = world.file("l.csv", leads_csv(60, "proc_sales"));
    let run = world.upload(&file, &["--rate", "5", "--batch-size", "10", "--quiet"]);
    run.assert_code(0);
    let times: Vec<u64> = world.state().requests.iter().map(|r| r.at_ms).collect();
    assert_eq!(times.len(), 6);
    // 5 per second: 6 requests span at least 5 x 200 ms. Measured on arrival,
    // so one late arrival may shorten the gap after it: the span is what counts.
    let span = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
    assert!(span >= 900, "6 requests within {span} ms: {times:?}");
}

/// A phone rejection names the region a number without `+` was read in,
/// and how to change it; with `--default-region GB` the same number goes.
#[test]
fn a_phone_rejection_names_its_region_and_how_to_change_it() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("uk.csv", "phone,process_id\n020 7946 0018,proc_sales\n+44 20 7946 001,proc_sales\n");
    let run = world.upload(&file, &["--quiet"]);
    run.assert_code(3);
    let rejected = run.csv("rejected");
    assert_eq!(codes(&rejected).get("invalid_phone"), Some(&2), "reason codes stay");
    let national = &rejected[0]["leadctl_reason"];
    for needle in ["\"020 7946 0018\"", "US", "--default-region"] {
        assert!(national.contains(needle), "{needle} is missing from: {national}");
    }
    let international = &rejected[1]["leadctl_reason"];
    assert!(international.contains("+44") && !international.contains("US"), "{international}");
    let out = world.path("gb");
    let gb = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--default-region", "GB", "--out-dir", "gb"]);
    gb.assert_code(3);
    let accepted = common::read_csv(&out.join("accepted.csv"));
    assert_eq!(accepted.len(), 1, "{}", gb.stderr);
    assert_eq!(accepted[0]["leadctl_phone_e164"], "+442079460018");
}
