//! Rehearsals: a dry run that previews tonight's run against the ledger,
//! `--sandbox` rehearsals that remember what they sent, and the standalone
//! sandbox's banner that says what to type. Each through the real binary.

mod common;

use common::{Run, World, leads_csv};

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
