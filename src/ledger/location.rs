//! Where a ledger lives: parsing `--ledger` values, the default path, and a
//! `Display` that never shows a password (it goes into `summary.json` and
//! messages). Pure: the environment values it needs are arguments.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// A ledger location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file: `sqlite://PATH` or a bare path.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgLocation),
}

/// TLS for a PostgreSQL ledger, with libpq's meanings: `prefer` and
/// `require` encrypt without checking the certificate (as libpq does without
/// a root certificate), `verify-full` checks the chain and the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// libpq's default: TLS when the server offers it.
    Prefer,
    Require,
    VerifyFull,
}

/// A parsed `postgres://` location. The password is kept apart from the URL
/// so that the URL can be shown as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    /// What `Display` shows: the URL without any password.
    shown: String,
    /// What the driver parses: the URL without password, `sslmode` and
    /// `sslrootcert` (the driver knows neither `verify-full` nor root files).
    pub(crate) conninfo: String,
    pub(crate) password: Option<String>,
    pub(crate) sslmode: SslMode,
    /// A PEM file of trusted roots for `verify-full` instead of the system's.
    pub(crate) sslrootcert: Option<PathBuf>,
}

/// Why a `--ledger` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("the ledger location is empty; give `sqlite://PATH`, a path, or a `postgres://` URL")]
    Empty,
    #[error("unknown ledger scheme `{0}://`: use `sqlite://PATH`, a path, or `postgres://user@host/db`")]
    Scheme(String),
    #[error("the PostgreSQL ledger URL is not valid ({0}); expected e.g. postgres://user@host:5432/db?sslmode=require")]
    Url(String),
    #[error("sslmode `{0}` is not supported for the ledger: use disable, prefer, require or verify-full")]
    SslMode(String),
}

impl Location {
    /// Parses a `--ledger` value (see the module doc). Never reads the
    /// environment: see [`Location::with_password_fallback`] for `PGPASSWORD`.
    pub fn parse(text: &str) -> Result<Location, LocationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(LocationError::Empty);
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return PgLocation::parse(text).map(Location::Postgres);
        }
        match text.split_once("://") {
            Some((scheme, _))
                if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
            {
                Err(LocationError::Scheme(scheme.to_owned()))
            }
            _ => Ok(Location::Sqlite(PathBuf::from(text))),
        }
    }

    /// Uses `password` (the value of `PGPASSWORD`, read by the caller's
    /// config) when a PostgreSQL URL carries none of its own.
    pub fn with_password_fallback(mut self, password: Option<String>) -> Location {
        if let Location::Postgres(pg) = &mut self
            && pg.password.is_none()
        {
            pg.password = password.filter(|p| !p.is_empty());
        }
        self
    }

    /// The default ledger: `$XDG_DATA_HOME/leadctl/ledger.db`, else
    /// `$HOME/.local/share/leadctl/ledger.db`. A relative `XDG_DATA_HOME` is
    /// ignored, as the XDG spec asks. `None` when neither is usable.
    pub fn default_sqlite(xdg_data_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<Location> {
        fn usable(v: Option<&OsStr>) -> Option<&Path> {
            v.filter(|v| !v.is_empty()).map(Path::new).filter(|p| p.is_absolute())
        }
        let base = match usable(xdg_data_home) {
            Some(xdg) => xdg.to_path_buf(),
            None => usable(home)?.join(".local").join("share"),
        };
        Some(Location::Sqlite(base.join("leadctl").join("ledger.db")))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Location::Postgres(pg) => f.write_str(&pg.shown),
        }
    }
}

/// Debug shows what Display shows, so that `{:?}` cannot leak a password.
impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgLocation({})", self.shown)
    }
}

impl PgLocation {
    fn parse(text: &str) -> Result<PgLocation, LocationError> {
        let mut url = url::Url::parse(text).map_err(|e| LocationError::Url(e.to_string()))?;
        let mut password = url.password().map(percent_decode).filter(|p| !p.is_empty());
        url.set_password(None).map_err(|()| LocationError::Url("it has no host".into()))?;

        let mut sslmode = SslMode::Prefer;
        let mut sslrootcert = None;
        let mut kept = Vec::new();
        for pair in url.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_decode(key).as_str() {
                "sslmode" => sslmode = parse_sslmode(&percent_decode(value))?,
                "sslrootcert" => sslrootcert = Some(PathBuf::from(percent_decode(value))),
                "password" => password = Some(percent_decode(value)).filter(|p| !p.is_empty()),
                _ => kept.push(pair),
            }
        }
        let mut conninfo = url.clone();
        let kept = kept.join("&");
        conninfo.set_query(if kept.is_empty() { None } else { Some(&kept) });
        // What is shown keeps every setting but the password.
        let mut shown = url;
        let shown_query: Vec<&str> = shown
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && percent_decode(p.split('=').next().unwrap_or("")) != "password")
            .collect();
        let shown_query = shown_query.join("&");
        shown.set_query(if shown_query.is_empty() { None } else { Some(&shown_query) });

        let conninfo = conninfo.to_string();
        conninfo.parse::<postgres::Config>().map_err(|e| LocationError::Url(e.to_string()))?;
        Ok(PgLocation { shown: shown.to_string(), conninfo, password, sslmode, sslrootcert })
    }
}

fn parse_sslmode(value: &str) -> Result<SslMode, LocationError> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        "verify-full" => Ok(SslMode::VerifyFull),
        other => Err(LocationError::SslMode(other.to_owned())),
    }
}

/// `%XX` to bytes (URL userinfo and query values); invalid escapes stay as
/// they are, and bytes that are not UTF-8 are replaced.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(text: &str) -> PgLocation {
        match Location::parse(text) {
            Ok(Location::Postgres(pg)) => pg,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(Location::parse("sqlite:///var/lib/l.db"), Ok(Location::Sqlite("/var/lib/l.db".into())));
        assert_eq!(Location::parse("sqlite://rel/l.db"), Ok(Location::Sqlite("rel/l.db".into())));
        assert_eq!(Location::parse(" ./l.db "), Ok(Location::Sqlite("./l.db".into())));
        assert_eq!(Location::parse("/abs/l.db").map(|l| l.to_string()), Ok("sqlite:///abs/l.db".to_owned()));
        assert_eq!(Location::parse(""), Err(LocationError::Empty));
        assert_eq!(Location::parse("sqlite://"), Err(LocationError::Empty));
        assert_eq!(Location::parse("mysql://h/db"), Err(LocationError::Scheme("mysql".into())));
    }

    #[test]
    fn postgres_passwords_are_kept_but_never_shown() {
        let p = pg("postgres://ann:s%40cret@db.example:5433/leads?sslmode=verify-full&application_name=x");
        assert_eq!(p.password.as_deref(), Some("s@cret"));
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        assert_eq!(p.shown, "postgres://ann@db.example:5433/leads?sslmode=verify-full&application_name=x");
        assert!(!p.conninfo.contains("cret") && !p.conninfo.contains("sslmode"), "{}", p.conninfo);
        assert!(!format!("{:?}", Location::Postgres(p.clone())).contains("cret"));

        let q = pg("postgresql://ann@h/db?password=hunter2&sslmode=disable");
        assert_eq!(q.password.as_deref(), Some("hunter2"));
        assert_eq!(q.sslmode, SslMode::Disable);
        assert!(!q.shown.contains("hunter2") && !q.conninfo.contains("hunter2"), "{} {}", q.shown, q.conninfo);
    }

    #[test]
    fn postgres_defaults_and_refusals() {
        assert_eq!(pg("postgres://h/db").sslmode, SslMode::Prefer);
        assert_eq!(pg("postgres://h/db?sslmode=require").sslmode, SslMode::Require);
        assert!(matches!(Location::parse("postgres://h/db?sslmode=verify-ca"), Err(LocationError::SslMode(_))));
        assert!(matches!(Location::parse("postgres://h/db?port=x"), Err(LocationError::Url(_))));
    }

    #[test]
    fn pgpassword_fills_only_a_missing_password() {
        let from_env = Location::parse("postgres://ann@h/db").map(|l| l.with_password_fallback(Some("env".into())));
        assert!(matches!(from_env, Ok(Location::Postgres(ref p)) if p.password.as_deref() == Some("env")));
        let own = Location::parse("postgres://ann:url@h/db").map(|l| l.with_password_fallback(Some("env".into())));
        assert!(matches!(own, Ok(Location::Postgres(ref p)) if p.password.as_deref() == Some("url")));
    }

    #[test]
    fn default_location_follows_xdg_then_home() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let loc = |x, h| Location::default_sqlite(x, h).map(|l| l.to_string());
        assert_eq!(loc(os("/x"), os("/home/a")), Some("sqlite:///x/leadctl/ledger.db".into()));
        assert_eq!(loc(os("rel"), os("/home/a")), Some("sqlite:///home/a/.local/share/leadctl/ledger.db".into()));
        assert_eq!(loc(os(""), os("/home/a")), Some("sqlite:///home/a/.local/share/leadctl/ledger.db".into()));
        assert_eq!(loc(None, None), None);
        assert_eq!(loc(None, os("")), None);
    }
}
