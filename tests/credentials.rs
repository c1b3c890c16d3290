//! Secrets never on the command line (`ps` shows it to every account): a
//! password in `--ledger` or `--proxy` is refused as usage (exit 2), saying
//! where it goes instead, and those places work: `LEADCTL_LEDGER`, a
//! private config file, `PGPASSWORD` and the pgpass file (PostgreSQL tests
//! need `LEADCTL_TEST_POSTGRES_URL`; skipped with a notice without it).

mod common;
#[path = "common/ledger_backends.rs"]
mod ledger_backends;

use std::os::unix::fs::PermissionsExt;

use common::{World, leads_csv};
use ledger_backends::PgBackend;

const SECRET: &str = "s3cret-on-the-command-line";

#[test]
fn a_password_in_ledger_or_proxy_flags_is_refused_saying_where_it_goes() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let f = file.to_str().expect("utf-8");
    let ledger = format!("postgres://leadctl:{SECRET}@db.example/leads");
    for args in [
        vec!["upload", f, "--ledger", &ledger],
        vec!["upload", f, "--ledger", "postgres://leadctl@db.example/leads?password=s3cret-on-the-command-line"],
        vec!["ledger", "stats", "--ledger", &ledger],
    ] {
        let run = world.leadctl(&args);
        run.assert_code(2);
        assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
        for place in ["PGPASSWORD", "~/.pgpass", "LEADCTL_LEDGER", "config file"] {
            assert!(run.stderr.contains(place), "{args:?} names {place}:\n{}", run.stderr);
        }
    }
    let run = world.leadctl(&["upload", f, "--proxy", &format!("http://alice:{SECRET}@proxy.example:3128")]);
    run.assert_code(2);
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
    assert!(run.stderr.contains("HTTPS_PROXY") && run.stderr.contains("config file"), "{}", run.stderr);
    assert!(world.state().requests.is_empty(), "nothing sent");
}

#[test]
fn a_config_file_holding_a_password_must_be_private() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    let config = world.file("c.toml", format!("proxy = \"http://alice:{SECRET}@proxy.example:3128\"\n"));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let args = ["upload", file.to_str().expect("utf-8"), "--config", config.to_str().expect("utf-8")];
    let run = world.leadctl(&args);
    run.assert_code(1);
    assert!(run.stderr.contains("chmod 600") && !run.stderr.contains(SECRET), "{}", run.stderr);
    std::fs::write(&config, format!("ledger = \"postgres://leadctl:{SECRET}@db.example/leads\"\n")).expect("write");
    let run = world.leadctl(&args);
    run.assert_code(1);
    assert!(run.stderr.contains("chmod 600") && !run.stderr.contains(SECRET), "{}", run.stderr);
    assert!(world.state().requests.is_empty(), "nothing sent");
}

#[test]
fn the_pgpass_file_gives_the_ledger_its_password() {
    let Some(backend) = PgBackend::new() else { return };
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(3, "proc_sales"));
    // The test server trusts loopback and never asks for the password: the
    // settings dump (-vv) says where it came from, never what it is.
    let pgpass =
        world.file("pgpass", format!("# leadctl\nelsewhere:*:*:*:wrong\n127.0.0.1:5432:*:postgres:{SECRET}\n"));
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let env = [("PGPASSFILE", pgpass.to_str().expect("utf-8"))];
    let sb = world.sandbox();
    let run = world.upload_to(&sb.url(), sb.api_key(), &file, &["-vv", "--ledger", backend.url()], &env);
    run.assert_code(0);
    let said = format!("ledger password = \"<from {}, line 3>\"", pgpass.display());
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
    for f in ["summary.json", "journal.ndjson"] {
        let text = std::fs::read_to_string(run.out.join(f)).expect("output file");
        assert!(!text.contains(SECRET), "{f}");
    }
    assert_eq!(run.summary()["ledger"], backend.url());

    // Readable by others: ignored with a warning, as libpq does.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::remove_dir_all(&run.out).expect("rm");
    let run = world.upload_to(&sb.url(), sb.api_key(), &file, &["-vv", "--ledger", backend.url()], &env);
    run.assert_code(0);
    assert!(run.stderr.contains("chmod 600") && run.stderr.contains("not used"), "{}", run.stderr);
    assert!(!run.stderr.contains("ledger password ="), "{}", run.stderr);
}
