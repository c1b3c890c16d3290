//! `leadctl doctor` through the real binary: a ready setup passes every
//! check; a wrong key, an inactive project, a rate limit, an unreadable
//! ledger, an untrusted certificate, a key file others can read, settings
//! that cannot work each get their line and the exit code. None of them
//! sends a lead (the sandbox creates nothing and every request it is sent
//! has no lead; the scripted server shows the body is `{"leadIds":[]}`),
//! and neither the key nor a password is printed.

mod common;
#[path = "common/ledger_backends.rs"]
mod ledger_backends;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::hostile::{Hostile, Reply};
use common::net::{Leaf, Pki, ProxyStub, TlsFront};
use common::{Run, World, leads_csv, valid_phone};
use serde_json::Value;

const KEY: &str = "sk_live_d0ct0r_s3cret";
const WRONG_KEY: &str = "sk_live_wr0ng_s3cret";
const PROXY_PASSWORD: &str = "pr0xy-s3cret";

fn world() -> World {
    World::with_sandbox(|c| {
        c.api_key = KEY.into();
        c.rate_per_sec = 0.0;
    })
}

/// `leadctl doctor ARGS` for the API at `url`, the key in the environment
/// when given, the sandbox's project, and `env` added.
fn doctor(world: &World, url: &str, key: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = world.cmd();
    c.env("LEADCTL_API_URL", url).env("LEADCTL_PROJECT_ID", "prj_sandbox");
    if let Some(key) = key {
        c.env("LEADCTL_API_KEY", key);
    }
    c.envs(env.iter().copied()).arg("doctor").args(args);
    Run::from(c.output().expect("leadctl runs"))
}

/// The line of check `name` (`ok   api: ...`).
#[track_caller]
fn line<'a>(run: &'a Run, name: &str) -> &'a str {
    let head = format!("{name}: ");
    run.stdout
        .lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(&head)))
        .unwrap_or_else(|| panic!("no `{name}` line:\n{}\n--- stderr\n{}", run.stdout, run.stderr))
}

/// The sandbox holds no lead, and no request it was sent carried one.
#[track_caller]
fn assert_no_lead_sent(world: &World) {
    let state = world.state();
    assert!(state.leads.is_empty(), "{:?}", state.leads);
    assert!(state.requests.iter().all(|r| r.lead_count == 0 && r.created == 0), "{:?}", state.requests);
}

#[track_caller]
fn assert_nowhere(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(!run.stdout.contains(s) && !run.stderr.contains(s), "{s} was printed:\n{}{}", run.stdout, run.stderr);
    }
}

fn utf8(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_ready_setup_passes_every_check_and_sends_no_lead() {
    let world = world();
    let url = world.sandbox().url();
    let file = world.file("export.csv", leads_csv(3, "proc_sales"));
    std::fs::create_dir(world.path("textfile")).expect("mkdir");
    let metrics = world.path("textfile/leadctl.prom");
    let ledger = world.path("state/ledger.db");
    let args = [utf8(&file), "--metrics-file", utf8(&metrics), "--ledger", utf8(&ledger), "--batch-size", "500"];
    let run = doctor(&world, &url, Some(KEY), &args, &[]);
    run.assert_code(0);
    let names = [
        "config", "settings", "project", "api-url", "api-key", "route", "dns", "tcp", "tls", "api", "ledger", "input",
        "output", "metrics",
    ];
    for name in names {
        assert!(line(&run, name).starts_with("ok "), "{}", run.stdout);
    }
    assert!(line(&run, "api").contains("the key is accepted and the project can take leads (200"), "{}", run.stdout);
    assert!(line(&run, "api-key").contains("from LEADCTL_API_KEY"), "{}", run.stdout);
    for setting in [
        format!("api-url = \"{url}\" (environment LEADCTL_API_URL)"),
        "batch-size = 500 (flag)".to_owned(),
        "concurrency = 4 (default)".to_owned(),
        "project-id = \"prj_sandbox\" (environment LEADCTL_PROJECT_ID)".to_owned(),
    ] {
        assert!(run.stdout.contains(&setting), "{setting} is not shown:\n{}", run.stdout);
    }
    assert_eq!(run.stdout.lines().last(), Some("every check passed"));
    assert_eq!(world.state().requests.len(), 1, "one probe");
    assert_no_lead_sent(&world);
    assert!(!world.path("state").exists(), "a new ledger is left for the first run to create");
    assert_eq!(std::fs::read_dir(world.path("textfile")).expect("dir").count(), 0, "the probe file is removed");
    assert_nowhere(&run, &[KEY]);

    // --json: one object with every check, the settings and this build.
    let run = doctor(&world, &url, Some(KEY), &["--json", "--no-ledger"], &[]);
    run.assert_code(0);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("--json: one object on stdout");
    assert_eq!((report["ok"].as_bool(), report["failed"].as_u64()), (Some(true), Some(0)));
    let checks = report["checks"].as_array().expect("checks");
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{checks:?}");
    assert!(checks.iter().any(|c| c["name"] == "api"), "{checks:?}");
    assert_eq!(report["leadctl"]["api_version"], "1.2");
    assert_eq!(report["leadctl"]["ledger_schema"], leadctl::ledger::SCHEMA_VERSION);
    let settings = report["settings"].as_array().expect("settings");
    let api_url = settings.iter().find(|s| s["name"] == "api-url").expect("api-url is listed");
    assert_eq!(
        (&api_url["value"], &api_url["source"]),
        (&Value::from(url.clone()), &Value::from("environment LEADCTL_API_URL"))
    );
    assert_no_lead_sent(&world);
    assert_nowhere(&run, &[KEY]);

    // --quiet: nothing to say when everything is ready.
    let run = doctor(&world, &url, Some(KEY), &["--quiet", "--no-ledger"], &[]);
    run.assert_code(0);
    assert_eq!(run.stdout, "");
}

#[test]
fn a_wrong_key_or_an_inactive_project_fails_the_api_check() {
    let world = world();
    let run = doctor(&world, &world.sandbox().url(), Some(WRONG_KEY), &["--no-ledger"], &[]);
    run.assert_code(1);
    let api = line(&run, "api");
    assert!(api.starts_with("fail api: the key is refused (HTTP 401: Invalid API key)"), "{api}");
    assert!(api.contains("(fix: check the key from LEADCTL_API_KEY"), "{api}");
    assert!(run.stdout.ends_with("1 check failed, 0 warnings: fix them before tonight's run\n"), "{}", run.stdout);
    assert_no_lead_sent(&world);
    assert_nowhere(&run, &[KEY, WRONG_KEY]);

    let inactive = World::with_sandbox(|c| {
        c.api_key = KEY.into();
        c.active = false;
    });
    let run = doctor(&inactive, &inactive.sandbox().url(), Some(KEY), &["--no-ledger", "--json"], &[]);
    run.assert_code(1);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("one object");
    let api = report["checks"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "api")).expect("api check");
    assert_eq!(api["status"], "fail");
    assert_eq!(api["detail"], "the key is accepted, but the project cannot take leads (HTTP 403: Project is inactive)");
    assert!(api["fix"].as_str().is_some_and(|f| f.contains("activate the project")), "{api}");
    assert_eq!(inactive.state().requests.len(), 1);
    assert_no_lead_sent(&inactive);
    assert_nowhere(&run, &[KEY]);
}

/// What a server may answer besides 200, 401 and 403: the probe's body is
/// exactly `{"leadIds":[]}` every time.
#[test]
fn a_rate_limit_warns_with_the_time_left_and_a_server_without_the_probe_is_named() {
    let world = World::new();
    let retry = |secs: &str| Reply::error(429, "Rate limit exceeded", &[("Retry-After", secs)]);
    let either = Reply::error(400, "Either leadIds or leads array is required", &[]);
    let api = Hostile::start(&world.rt, vec![retry("7"), retry("900"), either]);
    let url = api.url();

    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &[]);
    run.assert_code(0);
    let api_line = line(&run, "api");
    assert!(api_line.starts_with("warn api: the key is accepted but refused for now (HTTP 429"), "{api_line}");
    assert!(api_line.contains("7 s left") && api_line.contains("--max-rate-limit-wait 300 s"), "{api_line}");

    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &[]);
    run.assert_code(1);
    assert!(line(&run, "api").starts_with("fail api:") && line(&run, "api").contains("900 s left"), "{}", run.stdout);

    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &[]);
    run.assert_code(0);
    let api_line = line(&run, "api");
    assert!(
        api_line.starts_with("warn api: reachable, and the key is not refused; the project's state is unknown"),
        "{api_line}"
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.body, serde_json::json!({"leadIds": []}));
        assert_eq!(s.body.to_string(), leadctl::doctor::PROBE_BODY);
        assert!(s.request_line.starts_with("POST /leads/bulk-initiate?version=1.2 "), "{}", s.request_line);
    }
    assert!(api.created().is_empty());
}

#[test]
fn a_ledger_that_cannot_be_used_fails_with_the_reason() {
    let world = world();
    let url = world.sandbox().url();
    let db = world.path("ledger.db");
    let mut crm = String::from("phone,process_id,lead_id\n");
    for i in 0..4 {
        crm.push_str(&format!("{},proc_sales,ld_{i}\n", valid_phone(i)));
    }
    let crm = world.file("crm.csv", crm);
    world
        .leadctl(&["ledger", "import", "--leads", utf8(&crm), "--api-url", &url, "--ledger", utf8(&db)])
        .assert_code(0);

    let run = doctor(&world, &url, Some(KEY), &["--ledger", utf8(&db)], &[]);
    run.assert_code(0);
    let ledger = line(&run, "ledger");
    let schema = leadctl::ledger::SCHEMA_VERSION;
    assert!(ledger.contains(&format!("opens and is writable, schema version {schema}, 4 entries")), "{ledger}");
    assert!(ledger.ends_with("mode 600"), "{ledger}");

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = doctor(&world, &url, Some(KEY), &["--ledger", utf8(&db)], &[]);
    run.assert_code(1);
    let ledger = line(&run, "ledger");
    assert!(ledger.starts_with("fail ledger: refusing the ledger file") && ledger.contains("chmod 600"), "{ledger}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let other = world.file("notes.db", "not a database, just some text that is long enough to be read");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = doctor(&world, &url, Some(KEY), &["--ledger", utf8(&other)], &[]);
    run.assert_code(1);
    assert!(line(&run, "ledger").contains("is damaged or is not a leadctl ledger"), "{}", run.stdout);
    assert_no_lead_sent(&world);

    // Another user than the ledger's owner cannot read it.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the unreadable-ledger case needs root (to run doctor as another user)");
        return;
    }
    std::fs::set_permissions(world.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_leadctl")])
        .args(["doctor", "--ledger", utf8(&db), "--config", "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", world.dir.path())
        .env("LEADCTL_API_URL", &url)
        .env("LEADCTL_API_KEY", KEY)
        .env("LEADCTL_PROJECT_ID", "prj_sandbox")
        .current_dir(world.dir.path());
    let run = Run::from(c.output().expect("setpriv runs"));
    run.assert_code(1);
    let ledger = line(&run, "ledger");
    assert!(ledger.starts_with("fail ledger: cannot use the ledger"), "{ledger}");
    assert!(ledger.contains("(fix: the run's user must be able to read and write"), "{ledger}");
    assert!(line(&run, "api").starts_with("ok "), "the other checks still run:\n{}", run.stdout);
    assert_no_lead_sent(&world);
}

/// A PostgreSQL ledger opens as a run opens it (a new database gets its
/// tables); the password in its URL (from `LEADCTL_LEDGER`: the command
/// line takes none) is shown nowhere.
#[test]
fn a_postgres_ledger_is_checked_without_showing_its_password() {
    let Some(pg) = ledger_backends::PgBackend::new() else { return };
    let mut url = url::Url::parse(pg.url()).expect("a URL");
    url.set_password(Some("pgs3cret")).expect("a password");
    let world = world();
    let run = doctor(&world, &world.sandbox().url(), Some(KEY), &[], &[("LEADCTL_LEDGER", url.as_str())]);
    run.assert_code(0);
    let ledger = line(&run, "ledger");
    let schema = leadctl::ledger::SCHEMA_VERSION;
    assert!(
        ledger.starts_with("ok   ledger: postgres://")
            && ledger.contains(&format!("schema version {schema}, 0 entries")),
        "{ledger}"
    );
    assert_nowhere(&run, &["pgs3cret", KEY]);
    let mut bad = url.clone();
    bad.set_port(Some(1)).expect("a port");
    let run = doctor(&world, &world.sandbox().url(), Some(KEY), &[], &[("LEADCTL_LEDGER", bad.as_str())]);
    run.assert_code(1);
    assert!(line(&run, "ledger").starts_with("fail ledger: cannot use the ledger postgres://"), "{}", run.stdout);
    assert!(line(&run, "ledger").contains("(fix: check the URL, that the server is up"), "{}", run.stdout);
    assert_nowhere(&run, &["pgs3cret", KEY]);
}

fn sandbox_addr(world: &World) -> SocketAddr {
    world.sandbox().url().trim_start_matches("http://").parse().expect("the sandbox's address")
}

#[test]
fn an_untrusted_certificate_fails_the_tls_check_with_the_fix() {
    let pki = Pki::new();
    let world = world();
    let ca = pki.write_ca(world.dir.path());
    let front = TlsFront::start(&world.rt, &pki, Leaf::Good, sandbox_addr(&world));
    let url = format!("https://localhost:{}", front.port());

    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &[]);
    run.assert_code(1);
    let tls = line(&run, "tls");
    assert!(tls.starts_with("fail tls: the server's certificate is not signed by a certificate authority"), "{tls}");
    assert!(tls.contains("(fix: if the API uses a private certificate authority, set SSL_CERT_FILE"), "{tls}");
    assert!(line(&run, "tcp").starts_with("ok "), "{}", run.stdout);
    assert!(!run.stdout.contains(" api: "), "no answer to judge:\n{}", run.stdout);
    assert!(world.state().requests.is_empty(), "nothing reached the API");

    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &[("SSL_CERT_FILE", utf8(&ca))]);
    run.assert_code(0);
    assert!(line(&run, "tls").starts_with("ok   tls: the server's certificate is trusted"), "{}", run.stdout);
    assert!(line(&run, "api").starts_with("ok "), "{}", run.stdout);
    assert_no_lead_sent(&world);
    assert_nowhere(&run, &[KEY]);
}

#[test]
fn a_proxy_is_named_and_its_password_shown_nowhere() {
    let pki = Pki::new();
    let world = world();
    let ca = pki.write_ca(world.dir.path());
    let front = TlsFront::start(&world.rt, &pki, Leaf::Good, sandbox_addr(&world));
    let stub = ProxyStub::start(&world.rt, Some(front.addr));
    // A name only the proxy can reach.
    let url = format!("https://leads.test:{}", front.port());
    // With a password: from the environment (the command line takes none).
    let proxy = stub.url(Some(&format!("alice:{PROXY_PASSWORD}")));
    let env = [("SSL_CERT_FILE", utf8(&ca)), ("HTTPS_PROXY", proxy.as_str())];
    let run = doctor(&world, &url, Some(KEY), &["--no-ledger"], &env);
    run.assert_code(0);
    let route = line(&run, "route");
    assert_eq!(route, format!("ok   route: through the proxy http://***@{} (from HTTPS_PROXY)", stub.addr));
    assert!(line(&run, "dns").contains("(the proxy)"), "{}", run.stdout);
    assert!(line(&run, "tcp").contains(&format!("connected to the proxy at {}", stub.addr)), "{}", run.stdout);
    assert!(line(&run, "api").starts_with("ok "), "{}", run.stdout);
    assert!(stub.heads().iter().all(|h| h.starts_with(&format!("CONNECT leads.test:{} ", front.port()))));
    assert_no_lead_sent(&world);
    assert_nowhere(&run, &[KEY, PROXY_PASSWORD]);
}

#[test]
fn a_key_file_others_can_read_fails_and_a_private_one_passes() {
    let world = world();
    let url = world.sandbox().url();
    let key_file = world.file("key", format!("{KEY}\n"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = doctor(&world, &url, None, &["--no-ledger", "--api-key-file", utf8(&key_file)], &[]);
    run.assert_code(1);
    let key = line(&run, "api-key");
    assert!(key.starts_with("fail api-key: refusing the API key file") && key.contains("chmod 600"), "{key}");
    assert!(!run.stdout.contains(" api: "), "no probe without a key:\n{}", run.stdout);

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = doctor(&world, &url, None, &["--no-ledger", "--api-key-file", utf8(&key_file)], &[]);
    run.assert_code(0);
    let key = line(&run, "api-key");
    assert_eq!(key, format!("ok   api-key: present, from the API key file {}, mode 600", key_file.display()));
    assert!(line(&run, "api").starts_with("ok "), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("api-key-file = \"{}\" (flag)", key_file.display())), "{}", run.stdout);
    assert_no_lead_sent(&world);
    assert_nowhere(&run, &[KEY]);
}

/// Settings a run would refuse, a config file that is refused, an output
/// directory that would be overwritten: each its own failed line, and the
/// other checks still made.
#[test]
fn settings_that_cannot_work_fail_each_on_its_line() {
    let world = world();
    let url = world.sandbox().url();
    let file = world.file("export.csv", leads_csv(1, "proc_sales"));
    world.file("full/earlier.csv", "x\n");
    let config = world.file("bad.toml", "batch-sise = 10\n");
    let args = [utf8(&file), "--batch-size", "5000", "--out-dir", "full", "--config", utf8(&config), "--no-ledger"];
    let run = doctor(&world, &url, Some(KEY), &args, &[]);
    run.assert_code(1);
    assert!(line(&run, "config").starts_with("fail config:") && run.stdout.contains("`batch-sise`"), "{}", run.stdout);
    assert!(line(&run, "settings").contains("--batch-size must be between 1 and 1000"), "{}", run.stdout);
    assert!(line(&run, "api").starts_with("ok "), "{}", run.stdout);

    let run = doctor(&world, &url, Some(KEY), &[utf8(&file), "--out-dir", "full", "--no-ledger"], &[]);
    run.assert_code(1);
    let output = line(&run, "output");
    assert!(output.starts_with("fail output: output directory full exists and is not empty"), "{output}");
    assert!(output.contains("(fix: leave --out-dir out"), "{output}");
    let run = doctor(&world, "http://api.example.com", Some(KEY), &["--no-ledger"], &[]);
    run.assert_code(1);
    assert!(line(&run, "api-url").starts_with("fail api-url: refusing plain http://"), "{}", run.stdout);
    assert_no_lead_sent(&world);
}

/// The folder of runs beside the input is judged as a run judges it: one
/// another account made first (say, in a shared drop folder) is refused.
#[test]
fn a_folder_of_runs_another_account_owns_fails_the_output_check() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (to give a folder to another account)");
        return;
    }
    let world = world();
    let file = world.file("drop/export.csv", leads_csv(1, "proc_sales"));
    let folder = world.path("drop/export.leadctl");
    std::fs::create_dir(&folder).expect("mkdir");
    let run = doctor(&world, &world.sandbox().url(), Some(KEY), &[utf8(&file), "--no-ledger"], &[]);
    run.assert_code(0);
    assert_eq!(line(&run, "output"), format!("ok   output: {} is yours and writable", folder.display()));
    std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).expect("chown");
    let run = doctor(&world, &world.sandbox().url(), Some(KEY), &[utf8(&file), "--no-ledger"], &[]);
    run.assert_code(1);
    let output = line(&run, "output");
    assert!(output.starts_with("fail output:") && output.contains("pass --out-dir DIR"), "{output}");
    assert_no_lead_sent(&world);
}
