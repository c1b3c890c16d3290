//! leadctl in a pseudo-terminal, as an operator sees it: the progress bar
//! is drawn, the final table arrives intact, and `--initialize` asks before
//! it starts calls (and sends nothing when the answer is no).
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{World, leads_csv};

/// Runs `leadctl ARGS` with stdin, stdout and stderr on a new pseudo-terminal.
fn spawn_in_pty(world: &World, args: &[&str]) -> (Child, std::fs::File) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .env("TERM", "xterm-256color")
        .args(args)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    let child = cmd.spawn().expect("spawn leadctl");
    (child, std::fs::File::from(pty.master))
}

/// Reads the terminal until `pattern` shows (or the child closes it).
fn read_until(master: &mut std::fs::File, seen: &mut String, pattern: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while !seen.contains(pattern) {
        if Instant::now() > deadline {
            return false;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => return seen.contains(pattern), // EIO: the child closed the terminal
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    true
}

#[test]
fn on_a_terminal_the_bar_is_drawn_and_the_final_table_is_intact() {
    let world = World::with_sandbox(|c| c.latency = Duration::from_millis(150));
    let file = world.file("l.csv", leads_csv(60, "proc_sales"));
    let out = world.path("out");
    let (mut child, mut master) = spawn_in_pty(
        &world,
        &[
            "upload",
            file.to_str().expect("utf-8"),
            "--batch-size",
            "10",
            "--concurrency",
            "1",
            "--out-dir",
            out.to_str().expect("utf-8"),
        ],
    );
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(30));
    read_until(&mut master, &mut seen, "\n", Duration::from_secs(2));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(seen.contains("rows ("), "the bar shows rows and rate: {seen:?}");
    assert!(seen.contains('\u{1b}'), "the bar is drawn with terminal codes");
    for line in ["accepted   60", "rejected    0", "retryable   0"] {
        assert!(seen.contains(line), "final table line {line:?} intact in {seen:?}");
    }
}

#[test]
fn initialize_asks_first_and_no_means_nothing_is_sent() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(7, "proc_sales"));
    let f = file.to_str().expect("utf-8");

    let (mut child, mut master) = spawn_in_pty(&world, &["upload", f, "--initialize", "--out-dir", "o1"]);
    let mut seen = String::new();
    assert!(read_until(&mut master, &mut seen, "Type yes", Duration::from_secs(20)), "no prompt: {seen}");
    assert!(seen.contains("phone calls to 7 leads"), "{seen}");
    master.write_all(b"no\r").expect("answer");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    assert!(world.state().requests.is_empty(), "no means nothing is sent");

    let (mut child, mut master) = spawn_in_pty(&world, &["upload", f, "--initialize", "--out-dir", "o2"]);
    let mut seen = String::new();
    assert!(read_until(&mut master, &mut seen, "Type yes", Duration::from_secs(20)), "no prompt: {seen}");
    master.write_all(b"yes\r").expect("answer");
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(20));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{seen}");
    assert_eq!(world.state().call_attempts.len(), 7, "yes starts the calls");

    // --yes skips the question.
    let file2 = world.file("m.csv", leads_csv(12, "proc_support"));
    let (mut child, mut master) =
        spawn_in_pty(&world, &["upload", file2.to_str().expect("utf-8"), "--initialize", "--yes", "--out-dir", "o3"]);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(20));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{seen}"); // the first 7 phones already have a call attempt
    assert!(!seen.contains("Type yes"), "--yes must not ask: {seen}");
    assert_eq!(world.state().call_attempts.len(), 12);
}
