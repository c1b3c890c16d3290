//! The network edge, end to end: TLS with a private CA made at test time
//! (untrusted, expired and misnamed certificates stop the run at once;
//! `SSL_CERT_FILE` makes the CA trusted), and proxies (none for loopback
//! whatever the variables say; `--proxy` and `HTTPS_PROXY` used for a remote
//! API, their password shown nowhere). Every run also checks that neither
//! the API key nor the proxy password reaches stdout, stderr or a file.

mod common;

use std::net::SocketAddr;

use common::net::{Leaf, Pki, ProxyStub, TlsFront};
use common::{Run, World, leads_csv};

const KEY: &str = "sk_test_n3twork_edge_key";
const PROXY_PASSWORD: &str = "pr0xy-s3cret";

fn new_world() -> World {
    World::with_sandbox(|c| {
        c.api_key = KEY.into();
        c.rate_per_sec = 0.0;
    })
}

fn sandbox_addr(world: &World) -> SocketAddr {
    world.sandbox().url().trim_start_matches("http://").parse().expect("the sandbox's address")
}

/// `upload` of 30 leads in batches of 10, one at a time, to `url`.
fn upload(world: &World, url: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    let mut all = vec!["--batch-size", "10", "--concurrency", "1", "--retry-base-ms", "1"];
    all.extend_from_slice(args);
    world.upload_to(url, KEY, &file, &all, env)
}

/// A config file only its owner can read, holding `text`; its path.
fn private_config(world: &World, text: &str) -> String {
    let path = world.file("private.toml", text);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    path.to_str().expect("utf-8").to_owned()
}

/// None of `secrets` in stdout, stderr or any file of the run directory.
#[track_caller]
fn assert_nowhere(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(!run.stdout.contains(s) && !run.stderr.contains(s), "{s} was printed:\n{}", run.stderr);
        for entry in std::fs::read_dir(&run.out).expect("run dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains(s), "{s} was written to {}", path.display());
        }
    }
}

#[test]
fn an_untrusted_expired_or_misnamed_certificate_stops_at_once_with_the_fix() {
    let pki = Pki::new();
    let cases = [
        (Leaf::Good, false, "unknown issuer"),
        (Leaf::Expired, true, "has expired"),
        (Leaf::OtherName, true, "name mismatch"),
    ];
    for (leaf, trusted, says) in cases {
        let world = new_world();
        let ca = pki.write_ca(world.dir.path());
        let front = TlsFront::start(&world.rt, &pki, leaf, sandbox_addr(&world));
        let url = format!("https://localhost:{}", front.port());
        let ca = ca.to_str().expect("utf-8");
        let env: &[(&str, &str)] = if trusted { &[("SSL_CERT_FILE", ca)] } else { &[] };
        let run = upload(&world, &url, &["-vv"], env);
        run.assert_code(1);
        run.assert_every_row_once(30);
        assert_eq!(run.csv_counts(), (0, 0, 30), "{leaf:?}");
        assert!(run.stderr.contains(says) && run.stderr.contains("SSL_CERT_FILE"), "{leaf:?}:\n{}", run.stderr);
        assert!(run.csv("retryable").iter().all(|r| r["leadctl_reason"].contains("TLS failed")), "{leaf:?}");
        assert_eq!(front.connections(), 1, "{leaf:?}: one handshake, no retry");
        assert!(world.state().requests.is_empty(), "{leaf:?}: nothing reached the API");
        assert_nowhere(&run, &[KEY]);
    }
}

#[test]
fn a_private_ca_named_by_ssl_cert_file_is_trusted() {
    let pki = Pki::new();
    let world = new_world();
    let ca = pki.write_ca(world.dir.path());
    let front = TlsFront::start(&world.rt, &pki, Leaf::Good, sandbox_addr(&world));
    let url = format!("https://localhost:{}", front.port());
    let run = upload(&world, &url, &["--quiet"], &[("SSL_CERT_FILE", ca.to_str().expect("utf-8"))]);
    run.assert_code(0);
    run.assert_every_row_once(30);
    assert_eq!(world.state().leads.len(), 30);
    assert_nowhere(&run, &[KEY]);
}

#[test]
fn proxy_variables_and_flag_are_not_used_for_a_loopback_api() {
    let world = new_world();
    let stub = ProxyStub::start(&world.rt, None);
    let proxy = stub.url(Some(&format!("alice:{PROXY_PASSWORD}")));
    let vars = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
    let env: Vec<(&str, &str)> = vars.iter().map(|v| (*v, proxy.as_str())).collect();
    let run = upload(&world, &world.sandbox().url(), &["--quiet", "--proxy", &stub.url(None)], &env);
    run.assert_code(0);
    run.assert_every_row_once(30);
    assert_nowhere(&run, &[KEY, PROXY_PASSWORD]);

    // `--sandbox` behind a proxy: the same.
    let file = world.file("s.csv", leads_csv(12, "proc_sales"));
    let out = world.path("sandboxed");
    let mut cmd = world.cmd();
    cmd.envs(env.iter().copied());
    cmd.args(["upload", file.to_str().expect("utf-8"), "--sandbox", "--quiet", "--out-dir"]).arg(&out);
    let run = Run { out, ..Run::from(cmd.output().expect("leadctl runs")) };
    run.assert_code(0);
    run.assert_every_row_once(12);
    assert!(stub.heads().is_empty(), "the proxy was sent {:?}", stub.heads());
}

#[test]
fn a_proxy_is_used_for_a_remote_api_and_its_password_is_shown_nowhere() {
    let pki = Pki::new();
    // A name that is not loopback: only the proxy can reach it (the stub
    // tunnels every CONNECT to the TLS front of the sandbox).
    let api = |front: &TlsFront| format!("https://leads.test:{}/", front.port());
    let credentials = format!("alice:{PROXY_PASSWORD}");

    // `proxy` with credentials in a private config file (a password on the
    // command line is refused: see tests/credentials.rs), at -vvv.
    let world = new_world();
    let ca = pki.write_ca(world.dir.path());
    let front = TlsFront::start(&world.rt, &pki, Leaf::Good, sandbox_addr(&world));
    let stub = ProxyStub::start(&world.rt, Some(front.addr));
    let env = [("SSL_CERT_FILE", ca.to_str().expect("utf-8"))];
    let config = private_config(&world, &format!("proxy = \"{}\"\n", stub.url(Some(&credentials))));
    let run = upload(&world, &api(&front), &["-vvv", "--config", &config], &env);
    run.assert_code(0);
    run.assert_every_row_once(30);
    assert_eq!(world.state().leads.len(), 30);
    let heads = stub.heads();
    assert!(!heads.is_empty(), "the proxy saw nothing");
    for head in &heads {
        assert!(head.starts_with(&format!("CONNECT leads.test:{} ", front.port())), "{head}");
        let auth = head.to_ascii_lowercase();
        assert!(auth.contains("proxy-authorization: basic ywxpy2u6chiwehktcznjcmv0"), "{head}");
        assert!(!head.contains(KEY), "the key went to the proxy in clear: {head}");
    }
    let shown = format!("route = \"through the proxy http://***@{} (from the config file's `proxy`)\"", stub.addr);
    assert!(run.stderr.contains(&shown), "-vv shows the route, the password hidden:\n{}", run.stderr);
    let setting = format!("proxy = \"http://***@{}\" (config file)", stub.addr);
    assert!(run.stderr.contains(&setting), "-vv shows the setting, the password hidden:\n{}", run.stderr);
    assert_nowhere(&run, &[KEY, PROXY_PASSWORD]);

    // HTTPS_PROXY, no credentials.
    let world = new_world();
    let ca = pki.write_ca(world.dir.path());
    let front = TlsFront::start(&world.rt, &pki, Leaf::Good, sandbox_addr(&world));
    let stub = ProxyStub::start(&world.rt, Some(front.addr));
    let env = [("SSL_CERT_FILE", ca.to_str().expect("utf-8")), ("HTTPS_PROXY", &stub.url(None))];
    let run = upload(&world, &api(&front), &["--quiet"], &env);
    run.assert_code(0);
    run.assert_every_row_once(30);
    assert!(stub.heads().iter().any(|h| h.starts_with("CONNECT leads.test:")), "{:?}", stub.heads());

    // A proxy that is not there: retryable rows, and still no password.
    let world = new_world();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let proxy = format!("http://{credentials}@{closed}");
    let run = upload(&world, "https://leads.test:1", &["-vvv", "--max-attempts", "1"], &[("HTTPS_PROXY", &proxy)]);
    run.assert_code(4);
    run.assert_every_row_once(30);
    assert_nowhere(&run, &[KEY, PROXY_PASSWORD]);
}
