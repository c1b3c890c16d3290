//! The process edge: a closed stdout (`| head -c1`), settings that cannot
//! go together or make no sense (`--api-key-file -` with input `-`, a key
//! that cannot go in a header, `--rate 1e-20`), and the sandbox's state
//! report, which only the key's holder may read.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::{Run, World, leads_csv};
use leadctl::sandbox::{Sandbox, SandboxConfig, StateSnapshot};

/// Runs `cmd` with a stdout whose reader is already gone: every write to
/// it fails with a broken pipe, whatever the timing.
fn with_closed_stdout(mut cmd: std::process::Command) -> Run {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = cmd.stdout(writer).stderr(Stdio::piped()).output().expect("leadctl runs");
    Run::from(out)
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_run_s_own_exit_code() {
    let world = World::with_sandbox(|_| {});
    let mut csv = leads_csv(20, "proc_sales");
    csv.push_str("bad,Bad,123,proc_sales\n");
    let file = world.file("l.csv", csv);
    let out = world.path("out");
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .args(["upload", file.to_str().expect("utf-8"), "--json", "--quiet", "--out-dir"])
        .arg(&out);
    let run = Run { out, ..with_closed_stdout(cmd) };
    run.assert_code(3);
    assert_eq!(run.stderr, "", "nothing to say: the reader went away");
    run.assert_every_row_once(21);
    assert_eq!(run.summary()["exit_code"], 3);

    let mut cmd = world.cmd();
    cmd.args(["validate", file.to_str().expect("utf-8"), "--json", "--quiet"]);
    let run = with_closed_stdout(cmd);
    run.assert_code(3);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    let mut cmd = world.cmd();
    cmd.args(["completions", "bash"]);
    let run = with_closed_stdout(cmd);
    run.assert_code(0);
    assert_eq!(run.stderr, "");
}

/// The same through a real shell pipeline, as a user types it (whether
/// leadctl's write fails depends on when `head` exits; the test above
/// makes it fail every time).
#[test]
fn completions_piped_into_head_end_quietly() {
    let leadctl = env!("CARGO_BIN_EXE_leadctl");
    let script = format!("'{leadctl}' completions bash | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"");
    let run = Run::from(std::process::Command::new("bash").arg("-c").arg(&script).output().expect("bash runs"));
    assert_eq!(run.stdout.trim(), "0", "leadctl's own status\n{}", run.stderr);
    assert_eq!(run.stderr, "");
}

#[test]
fn the_key_file_and_the_input_cannot_both_be_stdin() {
    let world = World::with_sandbox(|_| {});
    let run = world.leadctl(&["upload", "-", "--format", "csv", "--api-key-file", "-", "--out-dir", "out"]);
    run.assert_code(2);
    assert!(run.stderr.contains("stdin") && run.stderr.contains("--api-key-file"), "{}", run.stderr);
    assert!(world.state().requests.is_empty());
}

#[test]
fn a_key_that_cannot_go_in_a_header_is_refused_at_start_without_showing_it() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    let url = world.sandbox().url();

    let run = Run::from(
        world
            .cmd()
            .args(["upload", f, "--out-dir", "a"])
            .env("LEADCTL_API_URL", &url)
            .env("LEADCTL_API_KEY", "sk_live_s3cret\u{e9}")
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("LEADCTL_API_KEY") && run.stderr.contains("HTTP header"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);

    let key_file = world.file("key", "sk_live_s3cret\nsk_live_other\n");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = Run::from(
        world
            .cmd()
            .args(["upload", f, "--out-dir", "b", "--api-key-file", key_file.to_str().expect("utf-8")])
            .env("LEADCTL_API_URL", &url)
            .output()
            .expect("run"),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("position 15"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    assert!(world.state().requests.is_empty(), "nothing was sent");
}

#[test]
fn a_rate_that_makes_no_sense_is_a_bad_setting_naming_the_flag() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    // Numbers out of range are bad settings (1); what is not a number at
    // all is wrong usage (2), as `--rate abc` always was.
    for (rate, code) in [("1e-20", 1), ("0", 1), ("-1", 1), ("1e9", 1), ("NaN", 2), ("inf", 2), ("abc", 2)] {
        let run = world.leadctl(&["upload", f, "--quiet", &format!("--rate={rate}")]);
        assert_eq!(run.code, code, "--rate={rate}: {}", run.stderr);
        assert!(run.stderr.contains("--rate") && !run.stderr.contains("panicked"), "{rate}: {}", run.stderr);
    }
    for (text, says) in [("rate = 1e-20\n", "--rate"), ("rate = nan\n", "`rate` must be a finite number")] {
        let config = world.file("leadctl-test.toml", text);
        let run = world.leadctl(&["upload", f, "--quiet", "--config", config.to_str().expect("utf-8")]);
        run.assert_code(1);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    assert!(world.state().requests.is_empty());
}

#[test]
fn the_sandbox_state_report_needs_the_key() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
        let http = reqwest::Client::new();
        let url = format!("{}{}", sandbox.url(), leadctl::sandbox::STATE_PATH);
        let status = |r: reqwest::RequestBuilder| async move { r.send().await.expect("an answer").status().as_u16() };
        assert_eq!(status(http.get(&url)).await, 401);
        assert_eq!(status(http.get(&url).bearer_auth("sk_wrong")).await, 401);
        assert_eq!(status(http.post(&url).bearer_auth(sandbox.api_key())).await, 405);
        let got = http.get(&url).bearer_auth(sandbox.api_key()).send().await.expect("GET");
        assert_eq!(got.status().as_u16(), 200);
        let over_http: StateSnapshot = got.json().await.expect("JSON");
        assert_eq!(over_http, sandbox.state(), "the in-process report is the same, and needs no key");
    });
}
