//! Flags people can amend: a single-value flag given twice takes the last
//! value (so a printed command runs with one flag appended), a repeatable
//! one accumulates; and each `ledger` action's help offers only the flags
//! that action uses.

mod common;

use common::{Run, World, leads_csv};

/// The resend command a run prints, run in a shell with one flag appended
/// that it already holds (`--max-attempts`) and one it does not: the last
/// value wins, and the rows go out.
#[test]
fn the_printed_resend_command_runs_with_a_flag_appended() {
    // The first 3 requests fail; with one attempt each, every row of the
    // first run is retryable.
    let world = World::with_sandbox(|c| c.fail_first = 3);
    let file = world.file("l.csv", leads_csv(25, "proc_sales"));
    let run = world.upload(&file, &["--batch-size", "10", "--max-attempts", "1", "--no-ledger"]);
    run.assert_code(4);
    let command = run.resend_command();
    assert!(command.contains("--max-attempts 1") && command.contains("--batch-size 10"), "{command}");
    let shell_line = command.replacen("leadctl", env!("CARGO_BIN_EXE_leadctl"), 1)
        + " --max-attempts 5 --batch-size 7 --quiet --out-dir again";
    let sandbox = world.sandbox();
    let again = Run::from(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&shell_line)
            .env_clear()
            .env("LEADCTL_API_URL", sandbox.url())
            .env("LEADCTL_API_KEY", sandbox.api_key())
            .env("LEADCTL_PROJECT_ID", sandbox.project_id())
            .current_dir(world.dir.path())
            .output()
            .expect("sh runs"),
    );
    again.assert_code(0);
    let again = Run { out: world.path("again"), ..again };
    assert_eq!(again.csv("accepted").len(), 25);
    let settings = &again.summary()["settings"];
    assert_eq!((settings["max-attempts"].as_u64(), settings["batch-size"].as_u64()), (Some(5), Some(7)));
    let sizes: Vec<usize> = world.state().requests.iter().skip(3).map(|r| r.lead_count).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 25);
    assert!(sizes.iter().all(|n| *n <= 7), "the appended batch size was used: {sizes:?}");
}

/// The last of a single-value flag wins in every command; `--map`
/// accumulates; switches may be repeated.
#[test]
fn a_single_value_flag_given_twice_takes_the_last_and_a_repeatable_one_accumulates() {
    let world = World::new();
    let file = world.file("l.csv", "Cell,proc\n+14155552671,proc_sales\n");
    let f = file.to_str().expect("utf-8");
    let run = world.leadctl(&[
        "validate",
        f,
        "--project-id",
        "prj_first",
        "--project-id",
        "prj_last",
        "--map",
        "phoneNumber=Cell",
        "--map",
        "processId=proc",
        "--json",
        "--json",
        "--out-dir",
        "one",
        "--out-dir",
        "two",
    ]);
    run.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert_eq!(summary["settings"]["project-id"], "prj_last");
    assert_eq!(summary["settings"]["map"], serde_json::json!(["phoneNumber=Cell", "processId=proc"]));
    assert!(world.path("two").is_dir() && !world.path("one").exists());

    let db = world.path("l.db");
    let db = db.to_str().expect("utf-8");
    let run =
        world.leadctl(&["ledger", "export", "--format", "csv", "--format", "ndjson", "--ledger", "x", "--ledger", db]);
    run.assert_code(0);
    assert!(run.stdout.is_empty(), "ndjson of an empty ledger is nothing, csv would be a header: {}", run.stdout);
    assert!(world.path("l.db").exists() && !world.path("x").exists());
}

/// `leadctl ledger ACTION --help` lists the flags that action uses and no others.
#[test]
fn each_ledger_action_offers_only_its_own_flags() {
    let world = World::new();
    let common = ["--ledger", "--json", "--config"];
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("stats", &[], &["--api-url", "--project-id", "--process-id", "--phone", "--format", "--older-than"]),
        ("export", &["--format"], &["--api-url", "--project-id", "--older-than"]),
        ("prune", &["--older-than"], &["--api-url", "--project-id", "--format"]),
        // An erasure is narrowed by API and project as well as process.
        ("forget", &["--phone", "--process", "--project-id", "--api-url", "--default-region"], &["--older-than"]),
        ("import", &["--leads", "--api-url", "--project-id", "--process-id", "--default-region"], &["--older-than"]),
    ];
    for (action, has, lacks) in cases {
        let run = world.leadctl(&["ledger", action, "--help"]);
        run.assert_code(0);
        for flag in common.iter().chain(has) {
            assert!(run.stdout.contains(flag), "ledger {action} --help lacks {flag}:\n{}", run.stdout);
        }
        for flag in lacks {
            assert!(!run.stdout.contains(flag), "ledger {action} --help offers {flag}:\n{}", run.stdout);
        }
    }
    let run = world.leadctl(&["ledger", "stats", "--api-url", "https://api.example"]);
    run.assert_code(2);
}
