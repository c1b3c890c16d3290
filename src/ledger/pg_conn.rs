//! The PostgreSQL store's connection: connecting with the location's TLS
//! mode, reconnecting after the server or a pooler dropped us, error
//! mapping, and transactions that keep no state in the session.
//!
//! Nothing outlives a transaction, so that a transaction-pooling PgBouncer
//! may hand each transaction to another server connection: statements go
//! through `query_typed` (the unnamed statement, parsed and run in one round
//! trip, never a named prepared statement), settings are `SET LOCAL`, and the
//! only lock beyond row locks is `pg_advisory_xact_lock`, released at commit.
//! Deadlocks, serialization failures and dropped connections are retried a
//! few times (claims, records and releases are idempotent); a lock wait
//! longer than the busy timeout is `Busy`.

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use super::location::{PgLocation, SslMode};
use super::tls::MakeRustls;
use super::{LedgerError, OpenOptions};

pub(crate) struct PgConn {
    client: Option<Client>,
    config: Config,
    tls: Option<MakeRustls>,
    pub(crate) shown: String,
    /// `SET LOCAL` lines that start every transaction.
    begin: String,
    /// A lost connection was replaced since [`PgConn::take_reconnected`] last looked.
    reconnected: bool,
}

/// What fails inside a transaction: the driver, or the ledger's own checks.
pub(crate) enum TxError {
    Pg(postgres::Error),
    Ledger(LedgerError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Pg(e)
    }
}

impl From<LedgerError> for TxError {
    fn from(e: LedgerError) -> Self {
        TxError::Ledger(e)
    }
}

/// Attempts of a transaction that failed on a deadlock or serialization error.
const ATTEMPTS: usize = 4;

impl PgConn {
    pub(crate) fn connect(pg: &PgLocation, shown: &str, options: &OpenOptions) -> Result<PgConn, LedgerError> {
        let unavailable = |detail: String| LedgerError::Unavailable { location: shown.to_owned(), detail };
        let mut config: Config = pg.conninfo.parse().map_err(|e: postgres::Error| unavailable(e.to_string()))?;
        if let Some(password) = &pg.password {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("leadctl");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        // A connection that dies silently (a host gone, a NAT that forgot
        // it) is noticed in about half a minute, not TCP's quarter of an
        // hour: the one ledger thread would hang there, and with it the
        // run's records and renewals.
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(10));
        config.keepalives_interval(std::time::Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(std::time::Duration::from_secs(30));
        let tls = match pg.sslmode {
            SslMode::Disable => {
                config.ssl_mode(postgres::config::SslMode::Disable);
                None
            }
            mode => {
                let tls_mode = if mode == SslMode::Prefer {
                    postgres::config::SslMode::Prefer
                } else {
                    postgres::config::SslMode::Require
                };
                config.ssl_mode(tls_mode);
                Some(MakeRustls::new(mode == SslMode::VerifyFull, pg.sslrootcert.as_deref()).map_err(unavailable)?)
            }
        };
        let begin = format!("BEGIN; SET LOCAL lock_timeout = '{}ms'", options.busy_timeout.as_millis().max(1));
        let mut conn = PgConn { client: None, config, tls, shown: shown.to_owned(), begin, reconnected: false };
        conn.client()?;
        conn.reconnected = false;
        Ok(conn)
    }

    /// The client, connecting again if the connection was lost.
    pub(crate) fn client(&mut self) -> Result<&mut Client, LedgerError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let connected = match &self.tls {
                None => self.config.connect(NoTls),
                Some(tls) => self.config.connect(tls.clone()),
            };
            self.client = Some(connected.map_err(|e| self.error(e))?);
            self.reconnected = true;
        }
        self.client.as_mut().ok_or(LedgerError::Closed)
    }

    /// Whether the connection was made anew since the last call (the first
    /// connection does not count): what the session held (nothing but
    /// committed rows) must be checked again.
    pub(crate) fn take_reconnected(&mut self) -> bool {
        std::mem::take(&mut self.reconnected)
    }

    /// Runs `f` in one transaction, durable (the commit waits for the WAL
    /// flush, whatever the server's `synchronous_commit`): claims too, since
    /// a claim the server loses in a crash would let another run send a
    /// lead this run is sending.
    pub(crate) fn transaction<T>(
        &mut self,
        mut f: impl FnMut(&mut Client) -> Result<T, TxError>,
    ) -> Result<T, LedgerError> {
        let begin = format!("{}; SET LOCAL synchronous_commit = on", self.begin);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.client()?;
            let outcome = match client.batch_execute(&begin) {
                Ok(()) => f(client).and_then(|v| client.batch_execute("COMMIT").map(|()| v).map_err(TxError::Pg)),
                Err(e) => Err(TxError::Pg(e)),
            };
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            // Leave no aborted transaction behind on a connection we keep.
            if let Some(client) = self.client.as_mut().filter(|c| !c.is_closed()) {
                let _ = client.batch_execute("ROLLBACK");
            }
            let closed = matches!(&error, TxError::Pg(e) if self.lost(e));
            match error {
                // A deadlock victim, or a connection the server or a pooler
                // dropped (reconnected on the next attempt): every ledger
                // transaction can safely run again, even if the lost one committed.
                TxError::Pg(e) if attempt < ATTEMPTS && (is_retryable(&e) || closed) => continue,
                TxError::Pg(e) => return Err(self.error(e)),
                TxError::Ledger(e) => return Err(e),
            }
        }
    }

    /// Runs reads outside a transaction (each statement is atomic on its
    /// own), again on a new connection if the old one was dropped.
    pub(crate) fn read<T>(
        &mut self,
        mut f: impl FnMut(&mut Client, &str) -> Result<T, TxError>,
    ) -> Result<T, LedgerError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let shown = self.shown.clone();
            match f(self.client()?, &shown) {
                Ok(value) => return Ok(value),
                Err(TxError::Ledger(e)) => return Err(e),
                Err(TxError::Pg(e)) => {
                    if attempt < ATTEMPTS && self.lost(&e) {
                        continue;
                    }
                    return Err(self.error(e));
                }
            }
        }
    }

    /// Whether the error means the connection is gone (I/O failure, server
    /// shutdown or termination): the next attempt connects again.
    fn lost(&mut self, e: &postgres::Error) -> bool {
        let lost = self.client.as_ref().is_none_or(Client::is_closed)
            || e.is_closed()
            || e.as_db_error().is_none()
            || e.code().is_some_and(|c| c.code().starts_with("57P") || c.code().starts_with("08"));
        if lost {
            self.client = None;
        }
        lost
    }

    /// Maps a driver error to the ledger's terms.
    pub(crate) fn error(&self, e: postgres::Error) -> LedgerError {
        pg_error(&self.shown, &e)
    }
}

fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// What a driver error means for the caller.
pub(crate) fn pg_error(shown: &str, e: &postgres::Error) -> LedgerError {
    let location = shown.to_owned();
    let Some(db) = e.as_db_error() else {
        // I/O, TLS, a closed connection, a timeout: the server is out of reach.
        let detail = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
        return LedgerError::Unavailable { location, detail };
    };
    let mut detail = db.message().to_owned();
    if let Some(more) = db.detail() {
        detail = format!("{detail} ({more})");
    }
    if let Some(hint) = db.hint() {
        detail = format!("{detail}; hint: {hint}");
    }
    let code = db.code();
    let class = code.code().get(..2).unwrap_or("");
    if [
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::QUERY_CANCELED,
    ]
    .contains(code)
    {
        LedgerError::Busy { location, detail }
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        LedgerError::Corrupt { location, detail }
    } else if matches!(class, "08" | "28" | "53" | "57" | "3D" | "25") || *code == SqlState::INSUFFICIENT_PRIVILEGE {
        // Connection, authentication, resources, shutdown, unknown database,
        // a read-only standby, missing privileges: the operator's to fix.
        LedgerError::Unavailable { location, detail }
    } else {
        LedgerError::Database { location, detail }
    }
}
