//! What `leadctl --version` (one line, for scripts) and `leadctl -V` (the
//! long form, for bug reports and `doctor --json`) say: the version, the
//! commit it was built from (`build.rs`; `unknown` outside git), the ledger
//! schema it reads and writes, the API version it speaks, and the ledger
//! stores and TLS library compiled in.

use std::sync::OnceLock;

use serde::Serialize;

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit built from (`-dirty` with local changes), or `unknown`.
pub const COMMIT: &str = env!("LEADCTL_GIT_COMMIT");

/// The TLS library the API client and a PostgreSQL ledger use, and where
/// trusted roots come from.
pub const TLS: &str = "rustls with the aws-lc-rs provider; roots from the platform's verifier (SSL_CERT_FILE, \
                       SSL_CERT_DIR honoured)";

/// Everything the long version says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: &'static str,
    pub ledger_schema: i64,
    pub api_version: &'static str,
    pub ledger_stores: Vec<String>,
    pub tls: &'static str,
}

/// This binary's build.
pub fn info() -> BuildInfo {
    BuildInfo {
        version: VERSION,
        commit: COMMIT,
        ledger_schema: crate::ledger::SCHEMA_VERSION,
        api_version: crate::api::VERSION,
        ledger_stores: vec![format!("sqlite (SQLite {}, bundled)", rusqlite::version()), "postgres".to_owned()],
        tls: TLS,
    }
}

/// The long form, after the program's name: the version on the first
/// line, then one line for each fact.
pub fn long() -> &'static str {
    static LONG: OnceLock<String> = OnceLock::new();
    LONG.get_or_init(|| {
        let i = info();
        format!(
            "{}\ncommit:        {}\nledger schema: {}\nAPI version:   {}\nledger stores: {}\nTLS:           {}",
            i.version,
            i.commit,
            i.ledger_schema,
            i.api_version,
            i.ledger_stores.join(", "),
            i.tls
        )
    })
}
