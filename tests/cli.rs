//! What the operator sets and sees: `validate`, `--existing`, config file
//! precedence and its safety checks, `--initialize` confirmation, `--json`,
//! help text, and the plain progress lines off a terminal.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Run, World, leads_csv, valid_phone};
use leadctl::sandbox::PreexistingLead;

#[test]
fn validate_needs_no_key_or_network_and_exits_0_or_3() {
    let world = World::new();
    let good = world.file("good.csv", leads_csv(10, "proc_sales"));
    let run =
        world.leadctl(&["validate", good.to_str().expect("utf-8"), "--project-id", "p", "--out-dir", "v1", "--quiet"]);
    run.assert_code(0);
    let mut csv = leads_csv(10, "proc_sales");
    csv.push_str("bad,Bad,+1 555 555 5555,proc_sales\n");
    let bad = world.file("bad.csv", csv);
    let run =
        world.leadctl(&["validate", bad.to_str().expect("utf-8"), "--project-id", "p", "--out-dir", "v2", "--json"]);
    run.assert_code(3);
    let summary: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("--json: one object on stdout");
    assert_eq!(summary["counts"]["passed"], 10);
    assert_eq!(summary["rejected_by_code"]["repeating_digits"], 1);
    let rejected = common::read_csv(&world.path("v2/rejected.csv"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["leadctl_line"], "12");
    assert!(!world.path("v2/accepted.csv").exists());
}

#[test]
fn existing_leads_are_initialized_by_id() {
    let pre: Vec<PreexistingLead> = (0..5)
        .map(|i| PreexistingLead {
            phone_number: valid_phone(i),
            process_id: "proc_sales".into(),
            initialized: false,
            lead_id: Some(format!("ld_pre_{i}")),
        })
        .collect();
    let world = World::with_sandbox(|c| c.preexisting = pre);
    let ids = world.file("ids.txt", "ld_pre_0\nld_pre_1\n\nld_pre_2\nld_pre_3\nld_pre_4\nld_missing\n");
    let run = world.upload(&ids, &["--existing", "--initialize", "--quiet"]);
    run.assert_code(3);
    let accepted = run.csv("accepted");
    assert_eq!(accepted.len(), 5);
    assert_eq!(accepted[0]["leadctl_lead_id"], "ld_pre_0");
    let rejected = run.csv("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["leadctl_code"], "server_lead_not_found");
    assert_eq!(world.state().call_attempts.len(), 5, "the five known leads were initialized");
    assert!(!run.stderr.contains("Type yes"), "no prompt off a terminal: {}", run.stderr);
}

#[test]
fn settings_come_from_flag_then_env_then_config_file() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let url = world.sandbox().url();
    let key_file = world.file("key", world.sandbox().api_key());
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    world.file(
        "leadctl.toml",
        format!(
            "api-url = \"{url}\"\napi-key-file = \"{}\"\nproject-id = \"prj_sandbox\"\nbatch-size = 2\n",
            key_file.display()
        ),
    );
    // Everything from ./leadctl.toml.
    let run = Run::from(world.cmd().args(["upload", "l.csv", "--quiet", "--out-dir", "o1"]).output().expect("run"));
    run.assert_code(0);
    let state = world.state();
    let mut sizes: Vec<usize> = state.requests.iter().map(|r| r.lead_count).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 2], "batch-size from the file: two batches");

    // A flag beats the file.
    let file2 = world.file("m.csv", leads_csv(6, "proc_support"));
    let run = Run::from(
        world
            .cmd()
            .args(["upload", file2.to_str().expect("utf-8"), "--quiet", "--out-dir", "o2", "--batch-size", "6"])
            .output()
            .expect("run"),
    );
    run.assert_code(0);
    assert_eq!(world.state().requests.last().map(|r| r.lead_count), Some(6));

    // The environment beats the file: a wrong project from the env is refused locally.
    let run = Run::from(
        world
            .cmd()
            .args(["upload", "l.csv", "--quiet", "--out-dir", "o3"])
            .env("LEADCTL_PROJECT_ID", "prj_other")
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("403") && run.stderr.contains("prj_other"), "{}", run.stderr);
    let _ = file;
}

#[test]
fn a_key_others_can_read_is_refused_with_the_fix() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(2, "proc_sales"));
    let key_file = world.file("key", world.sandbox().api_key());
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = Run::from(
        world
            .cmd()
            .args(["upload", file.to_str().expect("utf-8"), "--api-key-file", key_file.to_str().expect("utf-8")])
            .env("LEADCTL_API_URL", world.sandbox().url())
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    let config = world.file("c.toml", "api-key = \"sk_sandbox\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--config", config.to_str().expect("utf-8")]);
    run.assert_code(1);
    assert!(run.stderr.contains("chmod 600") && !run.stderr.contains("sk_sandbox"), "{}", run.stderr);
    assert!(world.state().requests.is_empty());
}

#[test]
fn unknown_config_keys_are_named() {
    let world = World::new();
    let config = world.file("c.toml", "batch-size = 10\nbatchsize = 5\n");
    let file = world.file("l.csv", leads_csv(2, "proc_sales"));
    let run = world.leadctl(&["validate", file.to_str().expect("utf-8"), "--config", config.to_str().expect("utf-8")]);
    run.assert_code(1);
    assert!(run.stderr.contains("batchsize"), "{}", run.stderr);
}

#[test]
fn off_a_terminal_progress_is_plain_lines_and_the_end_table_names_the_files() {
    let world = World::with_sandbox(|c| c.latency = std::time::Duration::from_millis(300));
    let file = world.file("l.csv", leads_csv(40, "proc_sales"));
    let run = world.upload(&file, &["--batch-size", "10", "--concurrency", "1", "--progress-interval", "1"]);
    run.assert_code(0);
    assert!(run.stderr.contains("leadctl upload: "), "plain progress lines: {}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "no escape codes off a terminal");
    assert!(run.stderr.contains("accepted") && run.stderr.contains("accepted.csv"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout is for --json only");
}

#[test]
fn retryable_rows_come_with_the_command_that_resends_them_and_it_works() {
    let world = World::with_sandbox(|c| c.fail_rate = 1.0);
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let run = world.upload(&file, &["--max-attempts", "1"]);
    run.assert_code(4);
    let retry_file = run.out.join("retryable.csv");
    assert!(run.stderr.contains(&format!("leadctl upload {}", retry_file.display())), "{}", run.stderr);
    // Feeding the retryable file back works as is (its leadctl_ column is ignored).
    let world2 = World::with_sandbox(|_| {});
    let again = world2.leadctl(&["upload", retry_file.to_str().expect("utf-8"), "--quiet", "--out-dir", "again"]);
    again.assert_code(0);
    let accepted = common::read_csv(&world2.path("again/accepted.csv"));
    assert_eq!(accepted.len(), 5);
    assert_eq!(accepted[0].keys().filter(|k| k.as_str() == "leadctl_reason").count(), 0);
}

#[test]
fn help_shows_real_examples() {
    let world = World::new();
    let run = world.leadctl(&["upload", "--help"]);
    run.assert_code(0);
    for needle in ["--sandbox", "--quiet --json", "retryable.csv", "--resume"] {
        assert!(run.stdout.contains(needle), "upload --help lacks {needle}");
    }
}

/// The resend command printed at the end works as printed: run in a shell
/// whose environment holds only the key, it sends the retryable rows to the
/// same server with the same batch size and column mapping.
#[test]
fn the_printed_resend_command_runs_in_a_shell_with_only_the_key() {
    // The first 3 requests fail: with one attempt each, the first run leaves
    // every row retryable; the server then recovers.
    let world = World::with_sandbox(|c| c.fail_first = 3);
    let mut csv = String::from("Cell,Who,proc\n");
    for i in 0..25 {
        csv.push_str(&format!("{},Lead {i},proc_sales\n", common::valid_phone(i)));
    }
    let file = world.file("odd columns.csv", csv);
    let url = world.sandbox().url();
    let run = Run::from(
        world
            .cmd()
            .env("LEADCTL_API_KEY", world.sandbox().api_key())
            .args(["upload", file.to_str().expect("utf-8"), "--out-dir", "first run", "--api-url", &url])
            .args(["--project-id", "prj_sandbox", "--batch-size", "10", "--map", "phoneNumber=Cell"])
            .args(["--map", "processId=proc", "--max-attempts", "1", "--ledger", "team ledger.db"])
            .output()
            .expect("run"),
    );
    run.assert_code(4);
    assert_eq!(world.state().requests.len(), 3);
    let command = run.resend_command();
    let parts =
        ["--api-url", "--batch-size 10", "--map phoneNumber=Cell", "--map processId=proc", "--project-id", "--ledger"];
    for part in parts {
        assert!(command.contains(part), "{part} is missing from: {command}");
    }
    let shell_line = command.replacen("leadctl", env!("CARGO_BIN_EXE_leadctl"), 1) + " --quiet --out-dir again";
    let again = Run::from(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&shell_line)
            .env_clear()
            .env("LEADCTL_API_KEY", world.sandbox().api_key())
            .current_dir(world.dir.path())
            .output()
            .expect("sh runs"),
    );
    again.assert_code(0);
    assert_eq!(common::read_csv(&world.path("again/accepted.csv")).len(), 25);
    let ledger = |dir: &str| {
        let summary = std::fs::read_to_string(world.path(dir).join("summary.json")).expect("summary");
        serde_json::from_str::<serde_json::Value>(&summary).expect("json")["ledger"].clone()
    };
    assert_eq!(ledger("again"), ledger("first run"), "the resend command repeats the ledger");
    assert!(ledger("again").as_str().is_some_and(|l| l.ends_with("team ledger.db")), "{}", ledger("again"));
    let mut sizes: Vec<usize> = world.state().requests.iter().skip(3).map(|r| r.lead_count).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![5, 10, 10], "the same batch size, to the same server");
}

/// The README's own example: `leadctl validate leads.csv` with no project
/// configured checks everything but the project, and says so.
#[test]
fn validate_without_a_project_skips_the_project_rule_and_says_so() {
    let world = World::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("leads.csv");
    let f = fixture.to_str().expect("utf-8");
    let run = Run { out: world.path("v1"), ..world.leadctl(&["validate", f, "--out-dir", "v1"]) };
    run.assert_code(3);
    let rejected = run.csv("rejected");
    assert_eq!(rejected.len(), 13, "every local rejection of the fixture but the project");
    assert!(rejected.iter().all(|r| r["leadctl_code"] != "missing_project"));
    assert_eq!(run.summary()["checks_skipped"], serde_json::json!(["project"]));
    assert!(run.stderr.contains("no project configured"), "{}", run.stderr);
    let run =
        Run { out: world.path("v2"), ..world.leadctl(&["validate", f, "--out-dir", "v2", "--project-id", "prj_1"]) };
    run.assert_code(3);
    assert!(run.summary().get("checks_skipped").is_none());
}

/// `upload` with no project anywhere stops before sending, naming the settings.
#[test]
fn upload_without_a_project_anywhere_stops_before_sending() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let run = Run::from(
        world
            .cmd()
            .env("LEADCTL_API_URL", world.sandbox().url())
            .env("LEADCTL_API_KEY", world.sandbox().api_key())
            .args(["upload", file.to_str().expect("utf-8"), "--out-dir", "out"])
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("--project-id") && run.stderr.contains("LEADCTL_PROJECT_ID"), "{}", run.stderr);
    assert!(world.state().requests.is_empty() && !world.path("out").exists());
}

/// No process anywhere (no `--process-id`, no process column) stops before
/// anything is read on or sent, saying how to give one; `validate` skips
/// the rule and says so, as it does for the project.
#[test]
fn no_process_anywhere_stops_before_sending_and_says_how_to_give_one() {
    let world = World::with_sandbox(|_| {});
    let mut csv = String::from("external_id,phone\n");
    for i in 0..5 {
        csv.push_str(&format!("crm-{i},{}\n", common::valid_phone(i)));
    }
    let file = world.file("export.csv", csv);
    let f = file.to_str().expect("utf-8");
    let run = world.upload(&file, &[]);
    run.assert_code(1);
    for needle in ["no process", "--process-id", "process-id", "--map processId=COLUMN", "export.csv"] {
        assert!(run.stderr.contains(needle), "{needle} is missing from: {}", run.stderr);
    }
    assert!(world.state().requests.is_empty() && !run.out.exists(), "nothing sent, no run directory");
    assert_eq!(run.stderr.lines().count(), 1, "one message, not a rejection per row: {}", run.stderr);
    // With a process, the same file goes.
    world.upload(&file, &["--process-id", "proc_sales", "--quiet"]).assert_code(0);
    let run = Run { out: world.path("v"), ..world.leadctl(&["validate", f, "--out-dir", "v"]) };
    run.assert_code(0);
    assert_eq!(run.summary()["checks_skipped"], serde_json::json!(["process"]));
    assert!(run.stderr.contains("no process configured"), "{}", run.stderr);
}

/// The help's examples survive an 80-column terminal: no example is broken
/// inside a command, and `upload --help` shows the README's crontab line.
#[test]
fn help_examples_fit_80_columns_and_the_cron_line_is_the_readme_s() {
    let world = World::new();
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let cron = readme.split("```crontab\n").nth(1).and_then(|b| b.lines().next()).expect("the README's crontab line");
    for command in ["ledger", "validate", "sandbox", "upload"] {
        let help = |columns: &str| {
            let run = Run::from(world.cmd().env("COLUMNS", columns).args([command, "--help"]).output().expect("help"));
            run.assert_code(0);
            run
        };
        let (run, wide) = (help("80"), help("200"));
        let examples = run.stdout.split("Examples:").nth(1).unwrap_or_default();
        // Nothing wrapped at 80 columns: the lines are the ones a wide terminal shows.
        assert_eq!(examples, wide.stdout.split("Examples:").nth(1).unwrap_or_default(), "{command} --help");
        for line in examples.lines() {
            assert!(line.chars().count() <= 80, "{command} --help: {line:?}");
        }
        if command == "upload" {
            assert!(run.stdout.contains(cron), "upload --help lacks the README's crontab line {cron:?}");
            // `--dry-run` says what it leaves and how it exits.
            let dry: String = run
                .stdout
                .lines()
                .skip_while(|l| !l.trim_start().starts_with("--dry-run"))
                .take_while(|l| !l.trim_start().starts_with("--batch-size"))
                .collect();
            for needle in ["retryable", "exit", "ledger"] {
                assert!(dry.contains(needle), "--dry-run's help lacks {needle}: {dry}");
            }
        }
    }
}
