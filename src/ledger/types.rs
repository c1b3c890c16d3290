//! The ledger's vocabulary: keys, scopes, outcomes, what a lookup or a claim
//! answers, and the entries that export and import move. Both stores and the
//! handle speak it; nothing here touches a database.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::LedgerError;
use crate::phone::Phone;

/// A phone number in E.164 as its digits, read as one integer: exact, since
/// E.164 has at most 15 digits and never starts with 0, and half the size of
/// the string in an index. `"+"` followed by the digits gives the number back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneKey(u64);

impl PhoneKey {
    /// The largest key: fifteen nines.
    pub const MAX: u64 = 999_999_999_999_999;

    /// The key for these digits, if they can be an E.164 number (1 to 15 digits).
    pub fn new(digits: u64) -> Option<PhoneKey> {
        (1..=Self::MAX).contains(&digits).then_some(PhoneKey(digits))
    }

    /// Parses `+` followed by 1 to 15 digits, the first not 0.
    pub fn from_e164(text: &str) -> Option<PhoneKey> {
        let digits = text.strip_prefix('+')?;
        if digits.is_empty()
            || digits.len() > 15
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        digits.parse().ok().and_then(PhoneKey::new)
    }

    /// The digits as an integer.
    pub fn get(self) -> u64 {
        self.0
    }

    /// How both stores keep it (an SQL integer is signed; every key fits).
    pub(crate) fn to_db(self) -> i64 {
        self.0 as i64
    }

    pub(crate) fn from_db(value: i64) -> Option<PhoneKey> {
        u64::try_from(value).ok().and_then(PhoneKey::new)
    }
}

impl From<&Phone> for PhoneKey {
    fn from(phone: &Phone) -> PhoneKey {
        PhoneKey(phone.key())
    }
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Hashes phone keys (and the log's packed keys) with one multiplication:
/// they are spread already, and SipHash costs more than the lookup.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by phone, hashed cheaply.
pub(crate) type KeyMap<V> = HashMap<PhoneKey, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// A set of phone keys, hashed cheaply.
pub(crate) type KeySet = std::collections::HashSet<PhoneKey, std::hash::BuildHasherDefault<KeyHasher>>;

/// Where a lead lives on the server: the same phone is a different lead for
/// another API, project or process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The API base URL in its one normal form ([`api_url_key`]).
    pub api_url: String,
    pub project: String,
    pub process: String,
}

impl Scope {
    /// A scope; the API URL is brought to its normal form, so that every
    /// path that writes or reads a scope (runs, imports, lookups, `forget`)
    /// names one API one way.
    pub fn new(api_url: impl AsRef<str>, project: impl Into<String>, process: impl Into<String>) -> Scope {
        Scope { api_url: api_url_key(api_url.as_ref()), project: project.into(), process: process.into() }
    }
}

/// The one normal form of an API base URL as the ledger keys leads by it:
/// scheme and host in lower case, the scheme's default port dropped, no
/// trailing slash (`HTTPS://Api.Example:443/v1/` is `https://api.example/v1`).
/// Text that is no URL is kept, without trailing slashes.
pub fn api_url_key(raw: &str) -> String {
    let raw = raw.trim();
    match url::Url::parse(raw) {
        Ok(url) => url.as_str().trim_end_matches('/').to_owned(),
        Err(_) => raw.trim_end_matches('/').to_owned(),
    }
}

/// Why the server refused a lead for good. Retryable answers and local
/// rejections are never recorded: only what sending again cannot change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    ServerDuplicate,
    ServerCallAttempted,
    ServerRepeatingDigits,
    ServerInvalidPhone,
    ProcessNotFound,
}

impl RejectCode {
    pub const ALL: [RejectCode; 5] = [
        RejectCode::ServerDuplicate,
        RejectCode::ServerCallAttempted,
        RejectCode::ServerRepeatingDigits,
        RejectCode::ServerInvalidPhone,
        RejectCode::ProcessNotFound,
    ];

    /// The reason code, as the rejected file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::ServerDuplicate => "server_duplicate",
            RejectCode::ServerCallAttempted => "server_call_attempted",
            RejectCode::ServerRepeatingDigits => "server_repeating_digits",
            RejectCode::ServerInvalidPhone => "server_invalid_phone",
            RejectCode::ProcessNotFound => "process_not_found",
        }
    }

    pub fn parse(code: &str) -> Option<RejectCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

/// What the server answered for a lead, as far as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The lead exists on the server. `lead_id` is absent only for imports
    /// that did not carry one; `initialized` says a call attempt was asked for.
    Accepted { lead_id: Option<String>, initialized: bool },
    /// Refused for good, with the server's own message.
    Rejected { code: RejectCode, reason: String },
    /// Sent, and the answer was lost (a timeout, a 5xx after the request
    /// reached the server, a crash while in flight): the lead may have been
    /// created. The next run sends it with the may-exist mark, so that an
    /// `already exists` answer means accepted. Never replaces an outcome
    /// the server gave.
    MayExist,
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Accepted { .. } => OutcomeKind::Accepted,
            Outcome::Rejected { code, .. } => OutcomeKind::Rejected(*code),
            Outcome::MayExist => OutcomeKind::MayExist,
        }
    }

    /// Whether the server decided this lead (accepted or refused for good):
    /// such a lead is not sent again; one that may exist is.
    pub fn is_decided(&self) -> bool {
        !matches!(self, Outcome::MayExist)
    }
}

/// An outcome without its details, as stats count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeKind {
    Accepted,
    Rejected(RejectCode),
    MayExist,
}

impl OutcomeKind {
    /// `accepted`, the reject code, or `may_exist`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Rejected(code) => code.as_str(),
            OutcomeKind::MayExist => "may_exist",
        }
    }

    /// The small integer both stores keep in `outcome`: 0 accepted, 1..=5 the
    /// codes in `RejectCode::ALL` order, 6 may exist ([`MAY_EXIST_DB`], since
    /// schema version 2). A new code needs a new schema version, so that an
    /// older binary never meets a number it cannot read.
    pub(crate) fn to_db(self) -> i16 {
        match self {
            OutcomeKind::Accepted => 0,
            OutcomeKind::Rejected(code) => RejectCode::ALL.iter().position(|c| *c == code).map_or(0, |i| i as i16 + 1),
            OutcomeKind::MayExist => MAY_EXIST_DB,
        }
    }

    pub(crate) fn from_db(value: i64) -> Option<OutcomeKind> {
        match value {
            0 => Some(OutcomeKind::Accepted),
            1..=5 => Some(OutcomeKind::Rejected(RejectCode::ALL[value as usize - 1])),
            v if v == i64::from(MAY_EXIST_DB) => Some(OutcomeKind::MayExist),
            _ => None,
        }
    }
}

/// The `outcome` number of a lead that may exist (see `schema::MERGE_SET`).
pub(crate) const MAY_EXIST_DB: i16 = 6;

/// A run as entries and claims name it: the run's name (its directory) and
/// the host it ran on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RunRef {
    pub run: String,
    pub host: String,
}

/// What the ledger knows about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub outcome: Outcome,
    /// The run that recorded the outcome kept now (shared: a million keys
    /// known from one run name it once).
    pub recorded_by: Arc<RunRef>,
    /// When the key was first and last recorded (the store's clock).
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}

/// One recorded key, with its scope: what export yields and import takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub scope: Scope,
    pub phone: PhoneKey,
    pub known: Known,
}

/// An answered lead to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub phone: PhoneKey,
    pub outcome: Outcome,
}

/// Who holds a claim: enough for a message naming the other run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub run: RunRef,
    pub pid: u32,
}

/// Why a claim of another claimant was judged dead and taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    /// Its lease ran out: the claimant stopped renewing.
    LeaseExpired,
    /// Made on this machine by a process that no longer exists.
    ProcessGone,
    /// Made by the same run (a resume takes back its own claims).
    SameRun,
}

/// Which keys a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimMode {
    /// Keys the server decided (accepted or refused) are answered
    /// [`ClaimResult::Known`] and not claimed: the run will not send them.
    New,
    /// Decided keys are claimed too, but for leads already initialized:
    /// an earlier upload this run initializes by its id (another run may
    /// have initialized it since the lookup; it is not called twice).
    Initialize,
    /// Decided keys last recorded before this time (milliseconds since the
    /// epoch, the store's clock) are claimed too; those recorded since are
    /// answered `Known`: `--resend-known` resends what the ledger knew when
    /// the run started, never what another run delivered while it ran.
    AnyBefore(i64),
}

impl ClaimMode {
    /// Whether a key the server decided, as `known`, is claimed rather than
    /// answered `Known`.
    pub(crate) fn claims_decided(self, known: &Known) -> bool {
        match self {
            ClaimMode::New => false,
            ClaimMode::Initialize => !matches!(known.outcome, Outcome::Accepted { initialized: true, .. }),
            ClaimMode::AnyBefore(since) => to_millis(known.last_seen) < since,
        }
    }
}

/// What renewing a claimant's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The lease had already run out (or the ledger does not know the
    /// claimant): another run may have taken its keys. A lapse is final.
    Lapsed,
}

/// The answer of `claim` for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// Ours now (or already ours): send it.
    Claimed,
    /// Ours now, and an earlier run's answer for it was lost (the ledger
    /// keeps it as "may exist"): send it with the mark, so that `already
    /// exists` means accepted.
    MayExist,
    /// Already decided by the server: do not send.
    Known(Known),
    /// A live claim of another run: the lead is being sent right now; leave
    /// the row retryable.
    HeldBy(Holder),
    /// A dead claim, now ours: the earlier sender may have created the lead,
    /// so treat it like a lost response (`already exists` means accepted).
    TakenOver { from: Holder, why: Takeover },
}

/// Counts for one scope and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsGroup {
    pub scope: Scope,
    pub outcome: OutcomeKind,
    pub count: u64,
    pub oldest: SystemTime,
    pub newest: SystemTime,
}

/// What `ledger stats` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The location, without any password.
    pub location: String,
    /// Bytes on disk (SQLite: file plus WAL; PostgreSQL: the tables and indexes).
    pub size_bytes: u64,
    /// Sorted by scope, then outcome.
    pub groups: Vec<StatsGroup>,
    pub entries: u64,
    /// Oldest first-seen and newest last-seen over all entries.
    pub oldest: Option<SystemTime>,
    pub newest: Option<SystemTime>,
    /// Keys claimed and not yet recorded or released (live or dead claims).
    pub claims: u64,
}

impl Stats {
    /// Totals over the groups, which it sorts; the size is the store's to add.
    pub(crate) fn from_groups(location: &str, mut groups: Vec<StatsGroup>, claims: u64) -> Stats {
        groups.sort_by(|a, b| (&a.scope, a.outcome).cmp(&(&b.scope, b.outcome)));
        Stats {
            location: location.to_owned(),
            size_bytes: 0,
            entries: groups.iter().map(|g| g.count).sum(),
            oldest: groups.iter().map(|g| g.oldest).min(),
            newest: groups.iter().map(|g| g.newest).max(),
            groups,
            claims,
        }
    }
}

/// An entry's columns as both stores select them: outcome, lead id,
/// initialized, reason, first seen, last seen, run id.
pub(crate) struct KnownColumns {
    pub outcome: i64,
    pub lead_id: Option<String>,
    pub initialized: Option<bool>,
    pub reason: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub run_id: i64,
}

impl KnownColumns {
    pub(crate) fn into_known(self, recorded_by: Arc<RunRef>, shown: &str) -> Result<Known, LedgerError> {
        let outcome = match OutcomeKind::from_db(self.outcome) {
            Some(OutcomeKind::Accepted) => {
                Outcome::Accepted { lead_id: self.lead_id, initialized: self.initialized.unwrap_or(false) }
            }
            Some(OutcomeKind::Rejected(code)) => Outcome::Rejected { code, reason: self.reason.unwrap_or_default() },
            Some(OutcomeKind::MayExist) => Outcome::MayExist,
            None => {
                return Err(LedgerError::Corrupt {
                    location: shown.to_owned(),
                    detail: format!("an entry has outcome {}, which no leadctl writes", self.outcome),
                });
            }
        };
        Ok(Known {
            outcome,
            recorded_by,
            first_seen: from_millis(self.first_seen),
            last_seen: from_millis(self.last_seen),
        })
    }
}

/// The outcome columns of an entry to write: outcome, lead id, initialized, reason.
pub(crate) fn outcome_columns(outcome: &Outcome) -> (i16, Option<&str>, Option<bool>, Option<&str>) {
    match outcome {
        Outcome::Accepted { lead_id, initialized } => (0, lead_id.as_deref(), Some(*initialized), None),
        Outcome::Rejected { reason, .. } => (outcome.kind().to_db(), None, None, Some(reason.as_str())),
        Outcome::MayExist => (MAY_EXIST_DB, None, None, None),
    }
}

/// Answers in the order of `keys` from what a query found (a key given
/// twice gets the same answer twice).
pub(crate) fn in_key_order<T: Clone>(keys: &[PhoneKey], mut found: KeyMap<T>) -> Vec<Option<T>> {
    let mut out: Vec<Option<T>> = Vec::with_capacity(keys.len());
    let mut first_at: KeyMap<usize> = KeyMap::default();
    for (i, key) in keys.iter().enumerate() {
        match found.remove(key) {
            Some(v) => {
                first_at.insert(*key, i);
                out.push(Some(v));
            }
            None => {
                let again = first_at.get(key).and_then(|&at| out[at].clone());
                out.push(again);
            }
        }
    }
    out
}

/// The outcomes to write, the last one winning when a key comes twice (a
/// single PostgreSQL upsert cannot touch one row twice; both stores do the same).
pub(crate) fn last_per_key(outcomes: &[Recorded]) -> Vec<&Recorded> {
    let mut seen: KeyMap<usize> = KeyMap::with_capacity_and_hasher(outcomes.len(), Default::default());
    let mut out: Vec<&Recorded> = Vec::with_capacity(outcomes.len());
    for r in outcomes {
        match seen.get(&r.phone) {
            Some(&at) => out[at] = r,
            None => {
                seen.insert(r.phone, out.len());
                out.push(r);
            }
        }
    }
    out
}

/// A day in milliseconds: "seen" is kept at day granularity (UTC days).
pub(crate) const DAY_MS: i64 = 86_400_000;

/// A time as both stores keep it: milliseconds since the Unix epoch.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// A lease as milliseconds, capped so that `now + lease` cannot overflow.
pub(crate) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keys_round_trip_e164() {
        let k = PhoneKey::from_e164("+14155550123").expect("valid");
        assert_eq!(k.get(), 14_155_550_123);
        assert_eq!(k.to_string(), "+14155550123");
        assert_eq!(PhoneKey::from_db(k.to_db()), Some(k));
        assert_eq!(PhoneKey::from_e164("+999999999999999").map(PhoneKey::get), Some(PhoneKey::MAX));
        for bad in ["14155550123", "+", "+0123", "+1234567890123456", "+1 415", "+-1"] {
            assert_eq!(PhoneKey::from_e164(bad), None, "{bad}");
        }
        assert_eq!(PhoneKey::new(0), None);
        assert_eq!(PhoneKey::from_db(-1), None);
    }

    #[test]
    fn outcome_codes_survive_the_database_encoding() {
        let mut seen = std::collections::HashSet::new();
        let kinds = [OutcomeKind::Accepted, OutcomeKind::MayExist]
            .into_iter()
            .chain(RejectCode::ALL.map(OutcomeKind::Rejected));
        for kind in kinds {
            assert!(seen.insert(kind.to_db()), "{kind:?} shares a number");
            assert_eq!(OutcomeKind::from_db(i64::from(kind.to_db())), Some(kind));
        }
        assert_eq!(OutcomeKind::from_db(7), None);
        for code in RejectCode::ALL {
            assert_eq!(RejectCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn times_round_trip_in_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        assert_eq!(from_millis(to_millis(t)), t);
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(from_millis(to_millis(before)), before);
    }
}
