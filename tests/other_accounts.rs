//! Another account on the same host: what it can plant (a run directory, a
//! link, a ledger, a config or key file, a metrics file's temporary name)
//! must not steer leadctl's reads and writes, nor send the key anywhere.
//! The other account is uid 65534: files are `chown`ed to it (tests that
//! need root skip with a notice otherwise) or it runs via `setpriv`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{World, leads_csv};
use leadctl::sandbox::{Sandbox, SandboxConfig};

/// A file of the operator's that a planted link points at.
const VICTIM: &str = "the operator's own file\n";

/// The other account.
const OTHER: u32 = 65534;

/// Whether the test runs as root (needed to give files away); says so when not.
fn root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("{test}: skipped: needs root to make files of another account");
    }
    root
}

/// Gives `path` and everything under it to the other account (links themselves, not their targets).
fn give_away(path: &Path) {
    std::os::unix::fs::lchown(path, Some(OTHER), Some(OTHER)).expect("chown");
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            give_away(&entry.expect("entry").path());
        }
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A finished upload's run directory in `out`, then the journal rewritten
/// as an attacker would: its API URL is `url`, and no row is done (so a
/// resume sends them all, and cuts the accepted file back to nothing).
fn forged_run_dir(world: &World, file: &Path, out: &Path, url: &str) {
    world.upload(file, &["--quiet", "--no-ledger"]).assert_code(0);
    let journal = out.join("journal.ndjson");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let mut start: serde_json::Value = serde_json::from_str(text.lines().next().expect("start")).expect("json");
    start["record"]["settings"]["api-url"] = url.into();
    let header =
        |name: &str| std::fs::read_to_string(out.join(name)).expect("output").lines().next().map_or(0, |l| l.len() + 1);
    let lens = [header("accepted.csv"), header("rejected.csv")];
    let forged = format!("{start}\n{}\n", serde_json::json!({"event": "done", "rows": [], "lens": lens}));
    std::fs::write(&journal, forged).expect("write journal");
}

/// `leadctl upload --resume OUT` with the key in the environment and no API URL.
fn resume(world: &World, out: &Path, env: &[(&str, &str)], args: &[&str]) -> common::Run {
    let mut c = world.cmd();
    c.env("LEADCTL_API_KEY", world.sandbox().api_key()).env("LEADCTL_PROJECT_ID", world.sandbox().project_id());
    c.envs(env.iter().copied());
    c.args(["upload", "--resume", out.to_str().expect("utf-8"), "--quiet", "--no-ledger"]).args(args);
    common::Run { out: out.to_path_buf(), ..common::Run::from(c.output().expect("leadctl runs")) }
}

/// A second server, the attacker's, in the world's runtime.
fn attacker(world: &World) -> Sandbox {
    let cfg = SandboxConfig { api_key: "sk_attacker".into(), ..SandboxConfig::default() };
    world.rt.block_on(Sandbox::start(cfg)).expect("second sandbox")
}

#[test]
fn a_forged_run_directory_of_another_account_truncates_nothing_and_sends_no_key() {
    if !root("a_forged_run_directory_of_another_account_truncates_nothing_and_sends_no_key") {
        return;
    }
    let world = World::with_sandbox(|_| {});
    let evil = attacker(&world);
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    let out = world.path("out");
    forged_run_dir(&world, &file, &out, &evil.url());
    let victim = world.file("victim.txt", VICTIM.repeat(20));
    std::fs::remove_file(out.join("accepted.csv")).expect("rm");
    std::os::unix::fs::symlink(&victim, out.join("accepted.csv")).expect("symlink");
    give_away(&out);

    let run = resume(&world, &out, &[], &[]);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), VICTIM.repeat(20), "{}", run.stderr);
    assert!(evil.state().requests.is_empty(), "the key went to the journal's URL\n{}", run.stderr);
    run.assert_code(1);
    assert!(run.stderr.contains("user id 65534"), "{}", run.stderr);
    // The same with the operator's URL configured: still refused, for the owner.
    let run = resume(&world, &out, &[("LEADCTL_API_URL", &world.sandbox().url())], &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("user id 65534"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), VICTIM.repeat(20));
}

#[test]
fn a_link_in_a_run_directory_is_not_followed_on_resume() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    let out = world.path("out");
    forged_run_dir(&world, &file, &out, &world.sandbox().url());
    let victim = world.file("victim.txt", VICTIM.repeat(20));
    std::fs::remove_file(out.join("accepted.csv")).expect("rm");
    std::os::unix::fs::symlink(&victim, out.join("accepted.csv")).expect("symlink");

    let run = resume(&world, &out, &[("LEADCTL_API_URL", &world.sandbox().url())], &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), VICTIM.repeat(20));
}

#[test]
fn a_run_directory_others_can_write_is_not_resumed() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    let out = world.path("out");
    forged_run_dir(&world, &file, &out, &world.sandbox().url());
    chmod(&out, 0o777);
    let sent = world.state().requests.len();
    let run = resume(&world, &out, &[("LEADCTL_API_URL", &world.sandbox().url())], &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("777") && run.stderr.contains("chmod"), "{}", run.stderr);
    assert_eq!(world.state().requests.len(), sent, "nothing sent");
}

#[test]
fn a_resume_takes_the_api_url_from_the_settings_never_from_the_journal_alone() {
    let world = World::with_sandbox(|_| {});
    let evil = attacker(&world);
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    let out = world.path("out");
    forged_run_dir(&world, &file, &out, &evil.url());
    let sent = world.state().requests.len();

    // No URL configured: refused, asking for --api-url.
    let run = resume(&world, &out, &[], &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("--api-url"), "{}", run.stderr);
    assert!(evil.state().requests.is_empty(), "the key went to the journal's URL");

    // A config file naming another URL than the journal: refused too.
    let config = world.file("c.toml", format!("api-url = \"{}\"\n", world.sandbox().url()));
    let run = resume(&world, &out, &[], &["--config", config.to_str().expect("utf-8")]);
    run.assert_code(1);
    assert!(run.stderr.contains("--api-url"), "{}", run.stderr);
    assert!(evil.state().requests.is_empty());
    assert_eq!(world.state().requests.len(), sent);

    // The flag confirms the change: the run goes on against it (the leads
    // exist there already: the forged journal marks none done).
    let run = resume(&world, &out, &[], &["--api-url", &world.sandbox().url()]);
    run.assert_code(3);
    assert!(evil.state().requests.is_empty());
    assert!(world.state().requests.len() > sent, "sent to the configured URL");
    run.assert_every_row_once(30);
}

/// `leadctl upload drop/l.csv` (the default run directory beside the input).
fn upload_beside(world: &World, file: &Path) -> common::Run {
    world.leadctl(&["upload", file.to_str().expect("utf-8"), "--quiet", "--no-ledger"])
}

#[test]
fn a_run_directory_planted_beside_the_input_in_a_shared_folder_is_refused() {
    if !root("a_run_directory_planted_beside_the_input_in_a_shared_folder_is_refused") {
        return;
    }
    let world = World::with_sandbox(|_| {});
    let drop = world.path("drop");
    std::fs::create_dir(&drop).expect("mkdir");
    chmod(&drop, 0o1777);
    let file = world.file("drop/l.csv", leads_csv(10, "proc_sales"));
    let planted = drop.join("l.leadctl");
    std::fs::create_dir(&planted).expect("mkdir");
    chmod(&planted, 0o777);
    give_away(&planted);

    let run = upload_beside(&world, &file);
    run.assert_code(1);
    assert!(run.stderr.contains("--out-dir") && run.stderr.contains("user id 65534"), "{}", run.stderr);
    assert!(std::fs::read_dir(&planted).expect("ls").next().is_none(), "nothing written into it");
    assert!(world.state().requests.is_empty(), "nothing sent");

    // A link there instead: not followed.
    std::fs::remove_dir(&planted).expect("rmdir");
    let elsewhere = world.path("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, &planted).expect("symlink");
    let run = upload_beside(&world, &file);
    run.assert_code(1);
    assert!(run.stderr.contains("--out-dir") && run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(std::fs::read_dir(&elsewhere).expect("ls").next().is_none(), "nothing written through the link");

    // Made by us: used, night after night.
    std::fs::remove_file(&planted).expect("rm");
    upload_beside(&world, &file).assert_code(0);
    let tomorrow: String = leads_csv(20, "proc_sales")
        .lines()
        .enumerate()
        .filter(|(i, _)| *i == 0 || *i > 10)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let again = world.file("drop/l.csv", tomorrow);
    upload_beside(&world, &again).assert_code(0);
    assert_eq!(std::fs::read_dir(&planted).expect("ls").count(), 2, "two runs in it");
    let mode = std::fs::symlink_metadata(&planted).expect("made").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn planted_links_at_the_metrics_file_s_old_temporary_name_are_not_followed() {
    let world = World::new();
    let textfile = world.path("textfile");
    std::fs::create_dir(&textfile).expect("mkdir");
    chmod(&textfile, 0o1777);
    let victim = world.file("victim.txt", VICTIM.repeat(20));
    let fifo = world.path("in.csv");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let metrics = textfile.join("leadctl.prom");
    let mut child = world
        .cmd()
        .args(["validate", fifo.to_str().expect("utf-8"), "--quiet", "--out-dir", "v", "--metrics-file"])
        .arg(&metrics)
        .spawn()
        .expect("spawn");
    // The name the old code would use, known once the process exists.
    std::os::unix::fs::symlink(&victim, textfile.join(format!(".leadctl.prom.{}.tmp", child.id()))).expect("plant");
    std::fs::write(&fifo, leads_csv(5, "proc_sales")).expect("feed the input");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), VICTIM.repeat(20));
    let text = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(text.contains("leadctl_last_run_exit_code"), "{text}");
    let mode = std::fs::metadata(&metrics).expect("metrics").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter reads it");
    let left: Vec<PathBuf> = std::fs::read_dir(&textfile)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.is_symlink() && *p != metrics)
        .collect();
    assert!(left.is_empty(), "no temporary file left: {left:?}");
}

/// `leadctl upload` against the sandbox with the SQLite ledger at `ledger`.
fn upload_with_ledger(world: &World, file: &Path, out: &str, ledger: &Path) -> common::Run {
    let l = ledger.to_str().expect("utf-8");
    world.leadctl(&["upload", file.to_str().expect("utf-8"), "--quiet", "--out-dir", out, "--ledger", l])
}

#[test]
fn a_ledger_another_account_owns_is_never_read_nor_written() {
    if !root("a_ledger_another_account_owns_is_never_read_nor_written") {
        return;
    }
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(20, "proc_sales"));
    let dir = world.path("theirs");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o700);
    let ledger = dir.join("ledger.db");
    // Their ledger, made by a real run, then given to them.
    upload_with_ledger(&world, &world.file("seed.csv", leads_csv(3, "proc_sales")), "o0", &ledger).assert_code(0);
    give_away(&dir);
    let before = std::fs::read(&ledger).expect("ledger");
    let sent = world.state().requests.len();

    let run = upload_with_ledger(&world, &file, "o1", &ledger);
    run.assert_code(1);
    assert!(run.stderr.contains("user id 65534"), "{}", run.stderr);
    assert_eq!(std::fs::read(&ledger).expect("ledger"), before, "the ledger is unchanged");
    assert_eq!(world.state().requests.len(), sent, "nothing sent");

    // Our directory, their file (and their -wal): refused as well.
    std::os::unix::fs::lchown(&dir, Some(0), Some(0)).expect("chown");
    let run = upload_with_ledger(&world, &file, "o2", &ledger);
    run.assert_code(1);
    assert!(run.stderr.contains("user id 65534"), "{}", run.stderr);
    std::fs::remove_file(&ledger).expect("rm");
    std::fs::rename(world.path("o0"), world.path("gone")).expect("mv");
    let wal = dir.join("ledger.db-wal");
    std::fs::write(&wal, b"").expect("wal");
    give_away(&wal);
    let run = upload_with_ledger(&world, &file, "o3", &ledger);
    run.assert_code(1);
    assert!(run.stderr.contains("ledger.db-wal") && run.stderr.contains("user id 65534"), "{}", run.stderr);
}

#[test]
fn a_ledger_reached_through_a_link_or_in_a_shared_directory_is_refused() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let real = world.path("mine/ledger.db");
    upload_with_ledger(&world, &file, "o0", &real).assert_code(0);
    let link = world.path("mine/link.db");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let run = upload_with_ledger(&world, &file, "o1", &link);
    run.assert_code(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);

    let shared = world.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o777);
    let run = upload_with_ledger(&world, &file, "o2", &shared.join("ledger.db"));
    run.assert_code(1);
    assert!(run.stderr.contains("777") && run.stderr.contains("chmod"), "{}", run.stderr);
}

#[test]
fn a_key_file_another_account_owns_is_refused() {
    if !root("a_key_file_another_account_owns_is_refused") {
        return;
    }
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    let key = world.file("key", world.sandbox().api_key());
    chmod(&key, 0o600);
    give_away(&key);
    let mut c = world.cmd();
    c.env("LEADCTL_API_URL", world.sandbox().url()).env("LEADCTL_PROJECT_ID", world.sandbox().project_id());
    c.args(["upload", file.to_str().expect("utf-8"), "--quiet", "--no-ledger", "--out-dir", "o"]);
    c.args(["--api-key-file", key.to_str().expect("utf-8")]);
    let run = common::Run::from(c.output().expect("runs"));
    run.assert_code(1);
    assert!(run.stderr.contains("user id 65534"), "{}", run.stderr);
    assert!(world.state().requests.is_empty(), "nothing sent");
}

#[test]
fn a_config_file_planted_as_a_link_in_the_current_directory_is_refused() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(5, "proc_sales"));
    // A file of ours elsewhere (say, another setup's config), linked in.
    let elsewhere = world.file("other/config.toml", "batch-size = 7\n");
    std::os::unix::fs::symlink(&elsewhere, world.path("leadctl.toml")).expect("symlink");
    let run = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--quiet", "--no-ledger", "--out-dir", "o"]);
    run.assert_code(1);
    assert!(run.stderr.contains("leadctl.toml") && run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(world.state().requests.is_empty(), "nothing sent");
}

#[test]
fn the_sandbox_of_an_upload_rehearsal_has_a_key_of_its_own() {
    let world = World::new();
    let fifo = world.path("in.csv");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let mut child = world
        .cmd()
        .args(["upload", fifo.to_str().expect("utf-8"), "--sandbox", "--out-dir", "o"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // More rows than leadctl samples before it starts the sandbox; the pipe
    // stays open, so the run waits for more.
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open fifo");
    feed.write_all(leads_csv(3000, "proc_sales").as_bytes()).expect("feed");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        assert!(Instant::now() < deadline, "the sandbox never said where it is");
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).expect("stderr") > 0, "stderr ended");
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().expect("url").to_owned();
        }
    };
    let status = |key: &str| {
        let request = reqwest::Client::new().get(format!("{url}/_sandbox/state")).bearer_auth(key).send();
        world.rt.block_on(request).expect("the sandbox answers").status().as_u16()
    };
    let with_default_key = status("sk_sandbox");
    drop(feed);
    let _ = child.wait();
    assert_eq!(with_default_key, 401, "the rehearsal's state is open to anyone who knows sk_sandbox");
}

#[test]
fn leadctl_is_not_dumpable() {
    if !root("leadctl_is_not_dumpable") {
        return;
    }
    // As the other account, so that a dumpable process's /proc/PID files
    // would be that account's: a non-dumpable one's are root's.
    let spawned = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_leadctl")])
        .args(["sandbox", "--port", "0"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = spawned else {
        eprintln!("leadctl_is_not_dumpable: skipped: setpriv is not installed");
        return;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    assert!(line.starts_with("listening on"), "{line}");
    let owner =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(format!("/proc/{}/environ", child.id())).expect("proc"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    let _ = child.kill();
    let _ = child.wait();
    assert!(status.contains("Uid:\t65534"), "the other account runs it: {status}");
    assert_eq!(owner, 0, "a dumpable process's /proc/PID/environ is its own account's");
}
