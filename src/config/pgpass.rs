//! `~/.pgpass` (or the file `PGPASSFILE` names) for a PostgreSQL ledger,
//! read as libpq reads it, since the PostgreSQL driver does not: lines of
//! `hostname:port:database:username:password`, `*` matching anything in the
//! first four fields, `\:` and `\\` as escapes, `#` starting a comment
//! line, the first matching line winning. A file group or others can read
//! is ignored with a warning (libpq's rule), as is one that is neither the
//! running account's nor root's. The password is never shown: only where
//! it came from (file and line) is, at `-vv`.

use std::path::{Path, PathBuf};

use super::{Env, nonempty};
use crate::ledger::Location;
use crate::trust::{self, Owner, Rule, Untrusted};

/// A pgpass file (a link is followed, its target judged).
const PGPASS: Rule = Rule { what: "password file", owner: Owner::MeOrRoot, closed: 0o077, follow: true };

/// What a connection is matched on, as libpq fills in what the URL leaves out.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: String,
    database: String,
    user: String,
}

/// The ledger's password from the pgpass file, when the location is
/// PostgreSQL without a password of its own; and where it came from.
pub(super) fn password(location: &Location, env: &Env) -> Option<(String, String)> {
    let Location::Postgres(pg) = location else { return None };
    if pg.password.is_some() {
        return None;
    }
    let path = file(env)?;
    let target = target(&pg.conninfo)?;
    let bytes = match trust::read(&path, &PGPASS, 1 << 20) {
        Ok((bytes, _)) => bytes,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            warn_ignored(&e);
            return None;
        }
    };
    let (password, line) = lookup(&String::from_utf8_lossy(&bytes), &target)?;
    Some((password, format!("{}, line {line}", path.display())))
}

fn warn_ignored(e: &Untrusted) {
    crate::log::say(crate::log::Level::Warn, &format!("{e}; its passwords are not used"));
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn file(env: &Env) -> Option<PathBuf> {
    nonempty(env, "PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| nonempty(env, "HOME").map(|h| Path::new(&h).join(".pgpass")))
}

/// Host, port, database and user of a connection string, with libpq's
/// defaults: a socket directory matches `localhost`, port 5432, the user
/// is the running account's name, the database the user's.
fn target(conninfo: &str) -> Option<Target> {
    let config: postgres::Config = conninfo.parse().ok()?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = match config.get_user() {
        Some(u) => u.to_owned(),
        None => nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten()?.name,
    };
    let database = config.get_dbname().map_or_else(|| user.clone(), str::to_owned);
    Some(Target { host, port, database, user })
}

/// The password of the first line matching `target`, and that line's number.
fn lookup(text: &str, target: &Target) -> Option<(String, usize)> {
    let wanted = [&target.host, &target.port, &target.database, &target.user];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let fields = split(line);
        if fields.len() < 5 {
            continue;
        }
        if fields.iter().zip(wanted).all(|((raw, value), want)| raw == "*" || value == want) {
            return Some((fields[4].1.clone(), n + 1));
        }
    }
    None
}

/// The `:`-separated fields of a line, each as written and unescaped.
fn split(line: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let (mut raw, mut value) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(next) = chars.next() {
                    raw.push(next);
                    value.push(next);
                }
            }
            ':' if fields.len() < 4 => fields.push((std::mem::take(&mut raw), std::mem::take(&mut value))),
            // The password ends at the next unescaped `:`, as in libpq.
            ':' => break,
            c => {
                raw.push(c);
                value.push(c);
            }
        }
    }
    fields.push((raw, value));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn t(host: &str, port: &str, database: &str, user: &str) -> Target {
        Target { host: host.into(), port: port.into(), database: database.into(), user: user.into() }
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:leads:ann:first\n\
                    *:5432:*:ann:second\n\
                    h\\:x:*:*:*:escaped\\:pw\\\\\n\
                    \\*:*:*:*:literal-star\n\
                    short:line\n\
                    *:*:*:*:fallback:ignored\r\n";
        assert_eq!(lookup(text, &t("db.example", "5432", "leads", "ann")), Some(("first".into(), 2)));
        assert_eq!(lookup(text, &t("other", "5432", "x", "ann")), Some(("second".into(), 3)));
        assert_eq!(lookup(text, &t("h:x", "1", "d", "u")), Some(("escaped:pw\\".into(), 4)));
        assert_eq!(lookup(text, &t("*", "1", "d", "u")), Some(("literal-star".into(), 5)));
        assert_eq!(lookup(text, &t("db.example", "5433", "leads", "bob")), Some(("fallback".into(), 7)));
        assert_eq!(lookup("a:1:d:u:pw\n", &t("a", "1", "d", "v")), None);
    }

    #[test]
    fn libpq_defaults_fill_what_the_url_leaves_out() {
        assert_eq!(target("postgres://ann@db.example/leads"), Some(t("db.example", "5432", "leads", "ann")));
        assert_eq!(target("postgres://ann@db.example:6543"), Some(t("db.example", "6543", "ann", "ann")));
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.name);
        let default = target("postgres://db.example/x").map(|t| t.user);
        assert_eq!(default, me);
    }

    #[test]
    fn only_a_file_closed_to_others_is_read_and_a_password_in_the_url_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:ann:from-file\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let env: Env = [("PGPASSFILE".to_owned(), file.display().to_string())].into();
        let loc = |url: &str| Location::parse(url).expect("location");
        let (pw, from) = password(&loc("postgres://ann@h/db"), &env).expect("found");
        assert_eq!(pw, "from-file");
        assert_eq!(from, format!("{}, line 1", file.display()));
        assert_eq!(password(&loc("postgres://ann:own@h/db"), &env), None, "the URL's own password wins");
        assert_eq!(password(&loc("sqlite:///x.db"), &env), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(password(&loc("postgres://ann@h/db"), &env), None, "a file others can read is ignored");
        let home: Env = [("HOME".to_owned(), dir.path().display().to_string())].into();
        std::fs::rename(&file, dir.path().join(".pgpass")).expect("mv");
        std::fs::set_permissions(dir.path().join(".pgpass"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(password(&loc("postgres://ann@h/db"), &home).is_some(), "~/.pgpass without PGPASSFILE");
    }
}
