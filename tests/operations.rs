//! Runs with nobody watching: the metrics file a monitoring system reads,
//! JSON logs a log shipper parses, what each `-v` level adds, and the
//! rejection tolerance of CI smoke checks. Each through the real binary.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Run, World, leads_csv};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("leads.csv")
}

/// `series{labels} value` lines of a metrics file, by `series{labels}`.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[test]
fn the_metrics_file_holds_the_run_s_figures_also_for_a_failed_run() {
    let world = World::new();
    let metrics = world.path("textfile/leadctl.prom");
    std::fs::create_dir_all(metrics.parent().expect("dir")).expect("mkdir");
    let m = metrics.to_str().expect("utf-8");
    let f = fixture();
    let run = world.leadctl(&[
        "upload",
        f.to_str().expect("utf-8"),
        "--sandbox",
        "--out-dir",
        "o2",
        "--quiet",
        "--metrics-file",
        m,
    ]);
    run.assert_code(3);
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    let s = samples(&text);
    assert_eq!(s["leadctl_rows{job=\"leads\",outcome=\"read\"}"], "54");
    assert_eq!(s["leadctl_rows{job=\"leads\",outcome=\"accepted\"}"], "39");
    assert_eq!(s["leadctl_rows{job=\"leads\",outcome=\"rejected\"}"], "15");
    assert_eq!(s["leadctl_rows{job=\"leads\",outcome=\"retryable\"}"], "0");
    assert_eq!(s["leadctl_rows{job=\"leads\",outcome=\"already_uploaded\"}"], "0");
    assert_eq!(s["leadctl_rejected_rows{job=\"leads\",code=\"invalid_phone\"}"], "2");
    assert_eq!(s["leadctl_last_run_exit_code{job=\"leads\"}"], "3");
    assert!(s.keys().any(|k| k.starts_with("leadctl_requests{job=\"leads\",status=\"200\"}")), "{text}");
    assert!(s.contains_key("leadctl_rate_limit_wait_seconds{job=\"leads\"}"));
    assert!(s.contains_key("leadctl_last_run_duration_seconds{job=\"leads\"}"));
    let ts: u64 = s["leadctl_last_run_timestamp_seconds{job=\"leads\"}"].parse().expect("a number");
    assert!(ts > 1_700_000_000);
    let shape: String = text
        .lines()
        .map(|l| {
            if l.starts_with("leadctl_last_run_duration") || l.starts_with("leadctl_last_run_timestamp") {
                l.rsplit_once(' ').map(|(k, _)| format!("{k} [value]")).unwrap_or_default()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("metrics_file", shape);

    // A run that fails before reading a row still says so, under its job.
    let run = world.leadctl(&["validate", "nope.csv", "--metrics-file", m, "--metrics-job", "nightly"]);
    run.assert_code(1);
    let s = samples(&std::fs::read_to_string(&metrics).expect("metrics file"));
    assert_eq!(s["leadctl_last_run_exit_code{job=\"nightly\"}"], "1");
    assert_eq!(s["leadctl_rows{job=\"nightly\",outcome=\"read\"}"], "0");
    // Written by rename: no temporary file is left for the collector.
    let names: Vec<String> = std::fs::read_dir(metrics.parent().expect("dir"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["leadctl.prom"]);
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_writes_its_metrics_with_exit_code_130() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(200));
    let file = world.file("l.csv", leads_csv(200, "proc_sales"));
    let metrics = world.path("m.prom");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", "prj_sandbox")
        .args(["upload", file.to_str().expect("utf-8"), "--quiet", "--batch-size", "10", "--concurrency", "1"])
        .args(["--out-dir", "out", "--metrics-file"])
        .arg(&metrics)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while world.state().requests.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no request reached the sandbox");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let s = samples(&std::fs::read_to_string(&metrics).expect("metrics file"));
    assert_eq!(s["leadctl_last_run_exit_code{job=\"l\"}"], "130");
    assert_eq!(s["leadctl_rows{job=\"l\",outcome=\"read\"}"], "200");
}

/// Every stderr line of a run as JSON objects (panics on a line that is not one).
fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    stderr
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => panic!("a stderr line that is not a JSON object: {l:?}\n--- stderr\n{stderr}"),
        })
        .collect()
}

#[test]
fn json_logs_are_one_object_a_line_with_progress_and_summary_events_and_no_key() {
    let world = World::with_sandbox(|c| {
        c.api_key = "sk_live_do_not_print".into();
        c.latency = Duration::from_millis(250);
        c.fail_first = 1;
    });
    let file = world.file("l.csv", leads_csv(40, "proc_sales"));
    let args = ["--log-format", "json", "--progress-interval", "1", "--batch-size", "10", "--concurrency", "1"];
    let run = world.upload(&file, &args);
    run.assert_code(0);
    let lines = json_lines(&run.stderr);
    for l in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(l.contains_key(key), "{key} missing from {l:?}");
        }
    }
    let progress = lines.iter().find(|l| l["message"] == "progress").expect("a progress event");
    for key in ["rows_done", "rows_total", "percent", "eta_s", "accepted", "rejected", "retryable"] {
        assert!(progress.contains_key(key), "{key} missing from the progress event");
    }
    let summary = lines.last().expect("lines");
    assert_eq!(summary["message"], "summary");
    assert_eq!(summary["counts"]["accepted"], 40);
    assert!(summary["files"]["accepted"].as_str().is_some_and(|p| p.ends_with("accepted.csv")));
    assert!(!run.stderr.contains("sk_live_do_not_print"));
    // The shape of each kind of line, values aside.
    let shapes: Vec<String> =
        [progress, summary].iter().map(|l| l.keys().cloned().collect::<Vec<_>>().join(",")).collect();
    insta::assert_snapshot!("json_log_shapes", shapes.join("\n"));

    // An error is a JSON line too, even before the settings are read.
    let run = world.leadctl(&["upload", "nope.csv", "--log-format", "json"]);
    run.assert_code(1);
    let lines = json_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(lines[0]["message"].as_str().is_some_and(|m| m.contains("nope.csv")));
}

#[test]
fn each_verbosity_level_adds_what_the_help_says() {
    let phone = common::valid_phone(7);
    let mut seen = Vec::new();
    for v in ["", "-v", "-vv", "-vvv"] {
        // One failed attempt (a retry) and a rate limit (a pause) in every run.
        let world = World::with_sandbox(|c| {
            c.fail_first = 1;
            c.rate_per_sec = 5.0;
            c.burst = 1;
        });
        let file = world.file("l.csv", leads_csv(30, "proc_sales"));
        let mut args = vec!["--batch-size", "10", "--concurrency", "2", "--retry-base-ms", "10", "--quiet"];
        if !v.is_empty() {
            args.push(v);
        }
        let run = world.upload(&file, &args);
        run.assert_code(0);
        seen.push((
            run.stderr.contains("sending batch"),
            run.stderr.contains("retrying batch") && run.stderr.contains("pausing"),
            run.stderr.contains(&phone),
        ));
    }
    assert_eq!(
        seen,
        [(false, false, false), (true, false, false), (true, true, false), (true, true, true)],
        "(batches, retries and pauses, lead values) at no -v, -v, -vv, -vvv"
    );
}

#[test]
fn max_rejected_tolerates_rejections_but_never_retryable_rows() {
    let world = World::new();
    let f = fixture();
    let f = f.to_str().expect("utf-8");
    // The fixture: 54 rows, 15 rejected (27.8%).
    for (i, (tolerance, code)) in [("15", 0), ("14", 3), ("30%", 0), ("27%", 3)].into_iter().enumerate() {
        let out = format!("out{i}");
        let run = world.leadctl(&["upload", f, "--sandbox", "--quiet", "--out-dir", &out, "--max-rejected", tolerance]);
        run.assert_code(code);
        let summary = Run { out: world.path(&out), ..run }.summary();
        assert_eq!(summary["tolerance"]["max_rejected"], tolerance);
        assert_eq!(summary["tolerance"]["within"], code == 0);
    }
    let run = world.leadctl(&[
        "validate",
        f,
        "--project-id",
        "prj_sandbox",
        "--process-id",
        "proc_sales",
        "--quiet",
        "--out-dir",
        "v",
        "--max-rejected",
        "100%",
    ]);
    run.assert_code(0);
    // Retryable rows are never tolerated.
    let world = World::with_sandbox(|c| c.fail_rate = 1.0);
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let run = world.upload(&file, &["--max-attempts", "1", "--max-rejected", "100%", "--quiet"]);
    run.assert_code(4);
    let run = world.leadctl(&["validate", file.to_str().expect("utf-8"), "--max-rejected", "lots"]);
    run.assert_code(1);
    assert!(run.stderr.contains("--max-rejected"), "{}", run.stderr);
}

/// The first fenced block of `lang` in the README's section `heading`.
fn readme_block(heading: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let section = readme.split("\n## ").find(|s| s.starts_with(heading)).expect("the README section");
    let fence = format!("```{lang}\n");
    let start = section.find(&fence).map(|i| i + fence.len()).expect("the block");
    let len = section[start..].find("```").expect("the block's end");
    section[start..start + len].to_owned()
}

/// The README's cron job, pasted as is: its config file in the place the
/// README names, its crontab line run as cron runs it (`%` handling, `sh
/// -c`, no environment but HOME, LOGNAME, SHELL and PATH, in the home
/// directory). The log holds the night's summary event and nothing that is
/// not JSON; the metrics file is written; one bad row pages nobody.
#[test]
fn the_readme_s_cron_job_runs_under_cron_s_bare_environment() {
    let world = World::with_sandbox(|c| {
        c.project_id = "prj_1".into();
        c.process_ids = vec!["proc_1".into()];
    });
    let home = world.dir.path();
    let config = readme_block("Running unattended", "toml")
        .replace("https://api.vendor.example/v1", &world.sandbox().url())
        .replace("/home/leads", &home.display().to_string())
        .replace("/var/lib/node_exporter/textfile", &home.join("textfile").display().to_string());
    let config_path = world.file(".config/leadctl/config.toml", config);
    let key = world.file(".config/leadctl/api-key", world.sandbox().api_key());
    for f in [&config_path, &key] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    }
    std::fs::create_dir_all(home.join("textfile")).expect("mkdir");
    // A CRM export: no process column (the config file gives it), one bad row in 60.
    let mut export = String::from("external_id,first_name,phone\n");
    for i in 0..59 {
        export.push_str(&format!("crm-{i},Lead{i},{}\n", common::valid_phone(i)));
    }
    export.push_str("crm-bad,Bad,123\n");
    world.file("data/export.csv", export);

    let line = readme_block("Running unattended", "crontab");
    let line = line.trim_end();
    assert_eq!(line.lines().count(), 1, "one crontab line: {line:?}");
    // Cron turns an unescaped `%` into a new line.
    assert!(!line.replace("\\%", "").contains('%'), "an unescaped % on the crontab line: {line}");
    let command: String = line.splitn(6, ' ').nth(5).expect("five time fields, then the command").into();
    let command = command.replace("\\%", "%").replace("/data/", &format!("{}/data/", home.display()));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_leadctl")).parent().expect("bin dir").display().to_string();
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", &command])
        .env_clear()
        .env("HOME", home)
        .env("LOGNAME", "leads")
        .env("SHELL", "/bin/sh")
        .env("PATH", format!("{bin_dir}:/usr/bin:/bin"))
        .current_dir(home)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("sh runs");
    let log = std::fs::read_to_string(home.join("leadctl.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "one bad row in 60 is within 2%\n--- leadctl.log\n{log}");
    let lines = json_lines(&log);
    let summary =
        lines.iter().find(|l| l["message"] == "summary").unwrap_or_else(|| panic!("no summary event: {log:?}"));
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["counts"]["read"], 60);
    assert_eq!(summary["counts"]["accepted"], 59);
    let run_dir = summary["run_dir"].as_str().expect("the run directory");
    assert!(Path::new(run_dir).join("summary.json").is_file(), "{run_dir}");
    assert_eq!(world.state().leads.len(), 59, "sent to the API the config file names");
    let s = samples(&std::fs::read_to_string(home.join("textfile/leadctl.prom")).expect("the metrics file"));
    assert_eq!(s["leadctl_last_run_exit_code{job=\"nightly\"}"], "0");
}

/// Once the flags are parsed, every exit writes the metrics file: an
/// expired or unreadable key must not show only as a stale timestamp.
#[test]
fn every_exit_after_the_flags_writes_the_metrics_file() {
    let world = World::new();
    let file = world.file("nightly.csv", leads_csv(3, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    let damaged = world.file("damaged.db", "not a ledger at all, not even close");
    std::fs::set_permissions(&damaged, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let url = ("LEADCTL_API_URL", "https://api.vendor.example/v1");
    let key = ("LEADCTL_API_KEY", "sk_test");
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no API URL", vec!["upload", f], vec![key], "1"),
        ("an unreadable key file", vec!["upload", f, "--api-key-file", "no-such-key"], vec![url], "1"),
        ("a ledger location that is no ledger", vec!["upload", f, "--ledger", "mysql://db/leads"], vec![url, key], "1"),
        ("a damaged ledger", vec!["upload", f, "--project-id", "p", "--ledger", "damaged.db"], vec![url, key], "1"),
        ("a password on the command line", vec!["upload", f, "--ledger", "postgres://u:pw@db/l"], vec![url, key], "2"),
        ("a run directory that is not one", vec!["upload", "--resume", "nowhere.leadctl/x"], vec![url, key], "1"),
        ("a bad config file", vec!["validate", f, "--config", "missing.toml"], vec![], "1"),
    ];
    for (i, (what, args, env, code)) in cases.into_iter().enumerate() {
        let metrics = world.path(&format!("m{i}.prom"));
        let mut cmd = world.cmd();
        cmd.args(&args).arg("--metrics-file").arg(&metrics).envs(env);
        let run = Run::from(cmd.output().expect("runs"));
        run.assert_code(code.parse().expect("a code"));
        let text =
            std::fs::read_to_string(&metrics).unwrap_or_else(|_| panic!("{what}: no metrics file\n{}", run.stderr));
        let s = samples(&text);
        let job = if what.contains("run directory") { "nowhere" } else { "nightly" };
        assert_eq!(s[&format!("leadctl_last_run_exit_code{{job=\"{job}\"}}")], code, "{what}");
        assert_eq!(s[&format!("leadctl_rows{{job=\"{job}\",outcome=\"read\"}}")], "0", "{what}");
        assert!(s.contains_key(&format!("leadctl_last_run_timestamp_seconds{{job=\"{job}\"}}")), "{what}");
    }
}

/// At `-vvv`, each lead is logged as sent: every field a `--map` produced
/// (here names from columns of other names), not only phone and process.
#[test]
fn lead_values_at_vvv_show_every_field_a_map_produced() {
    let world = World::with_sandbox(|_| {});
    let file =
        world.file("l.csv", format!("Handy,Vorname,Nachname,Kundennr\n{},Ada,Lovelace,K-1\n", common::valid_phone(0)));
    let maps = ["--map", "phoneNumber=Handy", "--map", "firstName=Vorname", "--map", "lastName=Nachname"];
    let run = world.upload(&file, &[&maps[..], &["--process-id", "proc_sales", "--quiet", "-vvv"]].concat());
    run.assert_code(0);
    let lead =
        run.stderr.lines().find(|l| l.contains(&common::valid_phone(0)) && l.contains("lead")).expect("a lead line");
    for needle in ["Ada", "Lovelace", "K-1", "proc_sales"] {
        assert!(lead.contains(needle), "{needle} is missing from the -vvv lead line: {lead}");
    }
    // A dry run shows the leads it would send, the way an operator checks a --map.
    let run = world.leadctl(
        &[
            &["upload", file.to_str().expect("utf-8"), "--dry-run", "--out-dir", "dry"][..],
            &maps,
            &["--process-id", "proc_sales", "-vvv"],
        ]
        .concat(),
    );
    run.assert_code(0);
    assert!(run.stderr.lines().any(|l| l.contains("Lovelace")), "{}", run.stderr);
}

/// `summary.json` carries the command that resends the retryable rows,
/// the same string the end table and the JSON summary event print.
#[test]
fn summary_json_holds_the_resend_command_the_logs_print() {
    let world = World::with_sandbox(|c| c.fail_rate = 1.0);
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let run = world.upload(&file, &["--max-attempts", "1", "--log-format", "json"]);
    run.assert_code(4);
    let event = json_lines(&run.stderr).into_iter().find(|l| l["message"] == "summary").expect("summary event");
    let printed = event["resend_command"].as_str().expect("a resend command");
    assert!(printed.contains("retryable.csv"), "{printed}");
    assert_eq!(run.summary()["resend_command"], printed);
    // The text table prints it too; a second run, in its own directory.
    let out = world.path("o2");
    let run = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--max-attempts", "1", "--out-dir", "o2"]);
    let run = Run { out, ..run };
    run.assert_code(4);
    let in_table = run.stderr.lines().skip_while(|l| !l.starts_with("send the retryable rows again")).nth(1);
    let in_table = in_table.expect("the resend command in the table").trim();
    assert_eq!(run.summary()["resend_command"].as_str(), Some(in_table));
}
