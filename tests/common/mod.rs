//! Test helpers: a temporary world per test (its own directory, a clean
//! environment), the sandbox on port 0 in the test process, the real
//! `leadctl` binary, and readers for what it leaves behind. `hostile` is a
//! scripted misbehaving API; `net` a private CA, a TLS front and a proxy;
//! `sheets` small spreadsheets written by hand, crafted ones among them.
#![allow(dead_code)]

pub mod hostile;
pub mod net;
pub mod sheets;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use leadctl::sandbox::{Sandbox, SandboxConfig, StateSnapshot};
use tempfile::TempDir;

/// One test's world.
pub struct World {
    pub dir: TempDir,
    pub rt: tokio::runtime::Runtime,
    pub sandbox: Option<Sandbox>,
}

impl World {
    /// A world with no server.
    pub fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        World { dir: tempfile::tempdir().expect("tempdir"), rt, sandbox: None }
    }

    /// A world with a sandbox configured by `f` (port 0, loopback).
    pub fn with_sandbox(f: impl FnOnce(&mut SandboxConfig)) -> World {
        let mut w = World::new();
        let mut cfg = SandboxConfig::default();
        f(&mut cfg);
        w.sandbox = Some(w.rt.block_on(Sandbox::start(cfg)).expect("sandbox starts"));
        w
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("this world has a sandbox")
    }

    pub fn state(&self) -> StateSnapshot {
        self.sandbox().state()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the world.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }

    /// The binary with a clean environment, run from the world's directory.
    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_leadctl"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null());
        c
    }

    /// `leadctl ARGS` with the sandbox's URL and key in the environment.
    pub fn leadctl(&self, args: &[&str]) -> Run {
        let mut c = self.cmd();
        if let Some(sb) = &self.sandbox {
            c.env("LEADCTL_API_URL", sb.url())
                .env("LEADCTL_API_KEY", sb.api_key())
                .env("LEADCTL_PROJECT_ID", sb.project_id());
        }
        c.args(args);
        Run::from(c.output().expect("leadctl runs"))
    }

    /// `leadctl upload FILE --out-dir out ARGS` against the API at `url`
    /// with `key`, with `env` added to the clean environment.
    pub fn upload_to(&self, url: &str, key: &str, file: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.path("out");
        let mut c = self.cmd();
        c.env("LEADCTL_API_URL", url).env("LEADCTL_API_KEY", key).env("LEADCTL_PROJECT_ID", "prj_sandbox");
        c.envs(env.iter().copied());
        c.args(["upload", file.to_str().expect("utf-8 path"), "--out-dir", out.to_str().expect("utf-8")]).args(args);
        Run { out, ..Run::from(c.output().expect("leadctl runs")) }
    }

    /// `leadctl upload FILE --out-dir out ARGS` against the sandbox.
    pub fn upload(&self, file: &Path, args: &[&str]) -> Run {
        let out = self.path("out");
        let mut all = vec!["upload", file.to_str().expect("utf-8 path"), "--out-dir", out.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        let mut run = self.leadctl(&all);
        run.out = out;
        run
    }
}

/// What one run of the binary did and left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub out: PathBuf,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            out: PathBuf::new(),
        }
    }
}

pub type Record = BTreeMap<String, String>;

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// The rows of an output CSV (`accepted`, `rejected`, `retryable`).
    pub fn csv(&self, name: &str) -> Vec<Record> {
        read_csv(&self.out.join(format!("{name}.csv")))
    }

    /// The rows of an output NDJSON file.
    pub fn ndjson(&self, name: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.out.join(format!("{name}.ndjson"))).expect("ndjson output");
        text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
    }

    /// The resend command the run printed on stderr, under its heading.
    pub fn resend_command(&self) -> String {
        self.stderr
            .lines()
            .skip_while(|l| !l.starts_with("send the retryable rows again with:"))
            .nth(1)
            .expect("the resend command follows its heading")
            .trim()
            .to_owned()
    }

    pub fn summary(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out.join("summary.json")).expect("summary.json");
        serde_json::from_str(&text).expect("summary is JSON")
    }

    /// Every row read is in exactly one of the three CSV files (by its
    /// `external_id`), and there are `rows` of them.
    #[track_caller]
    pub fn assert_every_row_once(&self, rows: usize) {
        let mut seen = std::collections::BTreeSet::new();
        let mut total = 0;
        for f in ["accepted", "rejected", "retryable"] {
            for r in self.csv(f) {
                total += 1;
                seen.insert(r["external_id"].clone());
            }
        }
        assert_eq!(total, rows, "rows in the three files\n--- stderr\n{}", self.stderr);
        assert_eq!(seen.len(), rows, "each row once\n--- stderr\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }

    /// Counts of (accepted, rejected, retryable) from the CSV outputs.
    pub fn csv_counts(&self) -> (usize, usize, usize) {
        (self.csv("accepted").len(), self.csv("rejected").len(), self.csv("retryable").len())
    }
}

/// The rows of an output CSV by column, in the file's own dialect. A
/// malformed row is written as read (not padded to the header): its
/// `leadctl_*` values are its last fields.
pub fn read_csv(path: &Path) -> Vec<Record> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = leadctl::output::output_csv_reader(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.byte_headers().expect("header").clone();
    let text = |v: &[u8]| String::from_utf8(v.to_vec()).expect("outputs are UTF-8");
    r.byte_records()
        .map(|rec| {
            let rec = rec.expect("record");
            let values = leadctl::output::record_fields(&headers, &rec);
            headers.iter().zip(values).filter_map(|(h, v)| Some((text(h), text(v?)))).collect()
        })
        .collect()
}

/// Count of each `leadctl_code` among rejected rows.
pub fn codes(rows: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.get("leadctl_code").cloned().unwrap_or_default()).or_default() += 1;
    }
    m
}

/// `n` distinct valid US leads as CSV (phone, process_id, external_id).
pub fn leads_csv(n: usize, process: &str) -> String {
    let mut s = String::from("external_id,first_name,phone,process_id\n");
    for i in 0..n {
        s.push_str(&format!("crm-{i},Lead{i},{},{process}\n", valid_phone(i)));
    }
    s
}

/// A distinct valid US number for each `i` (area codes that libphonenumber
/// accepts, exchange 2xx-9xx, no repeating patterns).
pub fn valid_phone(i: usize) -> String {
    const AREAS: [&str; 8] = ["415", "212", "646", "312", "617", "206", "303", "404"];
    let area = AREAS[i % AREAS.len()];
    let n = i / AREAS.len();
    let exchange = 230 + (n / 10_000) % 700;
    let line = n % 10_000;
    format!("+1{area}{exchange}{line:04}")
}

/// Runs `cmd` to its end; what it did, and its peak resident memory in
/// KiB (wait4 reports it for this one child).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, not by `Child::wait`
pub fn run_measured(mut cmd: Command) -> (Run, u64) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("leadctl runs");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = i32::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: rusage is plain data; `pid` is our child, not waited for yet.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let run = Run {
        code,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        out: Default::default(),
    };
    (run, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}
