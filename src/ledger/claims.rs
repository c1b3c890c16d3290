//! Claims: who is sending a key right now, and when such a claim is dead.
//!
//! A claimant is one process of one run. Its claims share one lease (a row
//! per claimant, so renewing is one update however many keys it holds). A
//! claim is dead when that lease ran out, at once when it was made on this
//! machine by a process that no longer exists (a run killed with `kill -9`
//! and started again by the next cron tick must not wait a lease out), or
//! when it belongs to the same run and is not provably alive (a resume takes
//! back its own claims). "This machine" is judged by the kernel's boot id and
//! the pid namespace, never by a host name: two containers can share a name
//! but not a pid namespace, and a pid from another namespace means nothing
//! here. Pid reuse is caught by the process start time (`/proc/PID/stat`).
//!
//! The decision is a pure function ([`judge`]); the claim algorithm over a
//! store's primitives ([`claim_keys`]) is shared by both stores, so that they
//! cannot disagree.

use std::collections::HashMap;

use super::LedgerError;
use super::types::{ClaimMode, ClaimResult, Holder, KeyMap, KeySet, Known, PhoneKey, RunRef, Takeover, to_millis};

/// Identifies a process on a running kernel, across pid reuse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessStamp {
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot.
    pub boot_id: String,
    /// The inode of the pid namespace the pid belongs to.
    pub pid_ns: u64,
    /// Field 22 of `/proc/PID/stat`: clock ticks from boot to the process start.
    pub start_ticks: u64,
}

impl ProcessStamp {
    /// The stamp of `pid` as this process sees it (`None` off Linux or when
    /// the process does not exist).
    pub fn of(pid: u32) -> Option<ProcessStamp> {
        Some(ProcessStamp { boot_id: boot_id()?, pid_ns: own_pid_ns()?, start_ticks: start_ticks(pid)? })
    }

    /// How the stores keep it; the empty string stands for "no stamp".
    pub(crate) fn encode(stamp: Option<&ProcessStamp>) -> String {
        stamp.map_or_else(String::new, |s| format!("{}/{}/{}", s.boot_id, s.pid_ns, s.start_ticks))
    }

    pub(crate) fn decode(text: &str) -> Option<ProcessStamp> {
        let mut parts = text.split('/');
        let boot_id = parts.next().filter(|b| !b.is_empty())?.to_owned();
        let pid_ns = parts.next()?.parse().ok()?;
        let start_ticks = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(ProcessStamp { boot_id, pid_ns, start_ticks })
    }
}

/// One process of one run, as it claims keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claimant {
    /// The run and host. `run` must tell runs apart on its host and stay the
    /// same across `--resume`: the run directory's path does both.
    pub run: RunRef,
    pub pid: u32,
    /// `None` where liveness cannot be checked (not Linux): the lease decides.
    pub stamp: Option<ProcessStamp>,
}

impl Claimant {
    /// This process, claiming for `run` on `host`.
    pub fn this_process(run: impl Into<String>, host: impl Into<String>) -> Claimant {
        let pid = std::process::id();
        Claimant { run: RunRef { run: run.into(), host: host.into() }, pid, stamp: ProcessStamp::of(pid) }
    }
}

/// This machine's host name as the kernel has it, for naming runs (`None`
/// off Linux; liveness never depends on it).
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned()).filter(|n| !n.is_empty())
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|i| !i.is_empty() && !i.contains('/'))
}

fn own_pid_ns() -> Option<u64> {
    // A link such as `pid:[4026531836]`.
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_str()?;
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

/// What `/proc/PID/stat` of a claimant says about it.
fn read_liveness(pid: u32, stamp_ticks: u64) -> Liveness {
    liveness_of(std::fs::read_to_string(format!("/proc/{pid}/stat")), stamp_ticks)
}

/// Judges a read of `/proc/PID/stat`: no such process, or one that started
/// at another time (the pid was reused), is gone; the same start time is
/// alive. Anything else (a `/proc` mounted with `hidepid`, a security
/// module refusing the read, a line that does not parse) proves nothing:
/// unknown, and the lease decides.
fn liveness_of(read: std::io::Result<String>, stamp_ticks: u64) -> Liveness {
    match read {
        Ok(stat) => match parse_start_ticks(&stat) {
            Some(ticks) if ticks == stamp_ticks => Liveness::Alive,
            Some(_) => Liveness::Gone,
            None => Liveness::Unknown,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Liveness::Gone,
        Err(_) => Liveness::Unknown,
    }
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) sits in
/// parentheses and may hold spaces or parentheses itself, so fields are
/// counted from the last `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: field 22 is the 20th.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process behind a stamp still runs, as far as this machine can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    Gone,
    /// On this machine, but its `/proc` entry cannot be read (`hidepid`, a
    /// security module): only the lease can tell.
    Unknown,
    /// Another machine or namespace, or no stamp: only the lease can tell.
    Elsewhere,
}

/// Looks the holder up in `/proc` when it ran in this pid namespace on this boot.
pub(crate) fn liveness(holder_pid: u32, holder: Option<&ProcessStamp>, me: Option<&ProcessStamp>) -> Liveness {
    match (holder, me) {
        (Some(h), Some(m)) if h.boot_id == m.boot_id && h.pid_ns == m.pid_ns => {
            read_liveness(holder_pid, h.start_ticks)
        }
        _ => Liveness::Elsewhere,
    }
}

/// One claim row: the keys one claimant claimed in one call, with what
/// judging its claimant needs.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRow {
    pub id: i64,
    pub claimant_id: i64,
    pub holder: Holder,
    pub stamp: Option<ProcessStamp>,
    /// The claimant's lease end, on the store's clock (`i64::MIN` when its
    /// claimant row is gone: dead).
    pub lease_until_ms: i64,
    pub keys: Vec<PhoneKey>,
}

/// What to do with a claim found on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    Mine,
    Held,
    Take(Takeover),
}

/// Decides about another claim row (pure; `alive` is its claimant's
/// liveness, `now_ms` the store's clock). What this machine knows of the
/// holder's process comes before the lease: a live process here keeps its
/// claims whatever a clock step or a suspend did to the lease, and a gone
/// one loses them at once. Only a holder whose liveness is unknown (another
/// machine or namespace) is judged by its lease.
pub(crate) fn judge(me_id: i64, me: &Claimant, row: &ClaimRow, now_ms: i64, alive: Liveness) -> Judgement {
    if row.claimant_id == me_id {
        Judgement::Mine
    } else if alive == Liveness::Alive {
        Judgement::Held
    } else if alive == Liveness::Gone {
        Judgement::Take(Takeover::ProcessGone)
    } else if row.lease_until_ms <= now_ms {
        Judgement::Take(Takeover::LeaseExpired)
    } else if row.holder.run == me.run && alive == Liveness::Unknown {
        // The same run (a resume) on this machine, whose earlier process
        // cannot be seen: the run directory's lock says it has ended. (On
        // another machine, a run of the same name may well be alive.)
        Judgement::Take(Takeover::SameRun)
    } else {
        Judgement::Held
    }
}

/// What a store offers inside a claim transaction, which holds the scope
/// against other claimers and recorders until it commits (SQLite: the write
/// lock; PostgreSQL: the scope's row lock).
pub(crate) trait ClaimTx {
    /// Every claim row of the scope but the claimant's own (a run claims a
    /// lead once; reading its own rows back, thousands of keys in flight,
    /// would cost every claim more than the claim itself).
    fn claim_rows(&mut self) -> Result<Vec<ClaimRow>, LedgerError>;
    /// The recorded outcomes among `keys` (sorted, distinct).
    fn known(&mut self, keys: &[PhoneKey]) -> Result<KeyMap<Known>, LedgerError>;
    /// Stores a new claim row of ours.
    fn insert_claim(&mut self, keys: &[PhoneKey]) -> Result<(), LedgerError>;
    /// Replaces a claim row's keys, deleting the row when none are left.
    fn rewrite_claim(&mut self, id: i64, keys: &[PhoneKey]) -> Result<(), LedgerError>;
}

/// The claim algorithm: keys the server decided are answered (or, as the
/// [`ClaimMode`] says, claimed like the rest), free keys claimed (those
/// that may exist say so), keys of live claims left alone, keys of dead
/// claims taken.
pub(crate) fn claim_keys(
    tx: &mut dyn ClaimTx,
    location: &str,
    me_id: i64,
    me: &Claimant,
    keys: &[PhoneKey],
    now_ms: i64,
    mode: ClaimMode,
) -> Result<Vec<ClaimResult>, LedgerError> {
    let mut distinct = keys.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let rows = tx.claim_rows()?;
    let mut holder_of: KeyMap<usize> = KeyMap::default();
    if !rows.is_empty() {
        let wanted: KeySet = distinct.iter().copied().collect();
        for (i, row) in rows.iter().enumerate() {
            holder_of.extend(row.keys.iter().filter(|k| wanted.contains(k)).map(|k| (*k, i)));
        }
    }
    // Liveness once per row, and only for rows holding a wanted key.
    let mut verdicts: HashMap<usize, Judgement> = HashMap::new();
    for &i in holder_of.values() {
        verdicts.entry(i).or_insert_with(|| {
            let row = &rows[i];
            judge(me_id, me, row, now_ms, liveness(row.holder.pid, row.stamp.as_ref(), me.stamp.as_ref()))
        });
    }
    let mut known = tx.known(&distinct)?;
    // The answers of the distinct keys, in their (sorted) order.
    let mut answers: Vec<ClaimResult> = Vec::with_capacity(distinct.len());
    let mut ours = Vec::new();
    let mut taken: HashMap<usize, KeySet> = HashMap::new();
    for &key in &distinct {
        let entry = if known.is_empty() { None } else { known.remove(&key) };
        let may_exist = entry.as_ref().is_some_and(|k| !k.outcome.is_decided());
        let free = if may_exist { ClaimResult::MayExist } else { ClaimResult::Claimed };
        let holder = if holder_of.is_empty() { None } else { holder_of.get(&key).copied() };
        let answer = match entry {
            Some(k) if !may_exist && !mode.claims_decided(&k) => ClaimResult::Known(k),
            _ => match holder.map(|i| (i, verdicts.get(&i).copied())) {
                None => {
                    ours.push(key);
                    free
                }
                Some((_, Some(Judgement::Mine))) => free,
                Some((i, Some(Judgement::Take(why)))) => {
                    ours.push(key);
                    taken.entry(i).or_default().insert(key);
                    ClaimResult::TakenOver { from: rows[i].holder.clone(), why }
                }
                Some((i, _)) => ClaimResult::HeldBy(rows[i].holder.clone()),
            },
        };
        answers.push(answer);
    }
    for (i, gone) in taken {
        let left: Vec<PhoneKey> = rows[i].keys.iter().filter(|k| !gone.contains(k)).copied().collect();
        tx.rewrite_claim(rows[i].id, &left)?;
    }
    if !ours.is_empty() {
        tx.insert_claim(&ours)?;
    }
    // Back in the order asked (a key asked twice is answered twice).
    keys.iter()
        .map(|k| distinct.binary_search(k).ok().map(|at| answers[at].clone()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| LedgerError::Database {
            location: location.to_owned(),
            detail: "a key was left without an answer (a bug in leadctl)".into(),
        })
}

/// The keys a claim found decided and last saw on a day before `now_ms`'s:
/// the claim marks them seen today (a run found them in its input).
pub(crate) fn to_mark_seen(keys: &[PhoneKey], results: &[ClaimResult], now_ms: i64) -> Vec<PhoneKey> {
    let found = keys.iter().zip(results).filter_map(|(key, result)| match result {
        ClaimResult::Known(k) => Some((*key, k)),
        _ => None,
    });
    seen_before(found, now_ms)
}

/// The keys among `found` last seen on a day before `now_ms`'s, sorted.
pub(crate) fn seen_before<'a>(found: impl IntoIterator<Item = (PhoneKey, &'a Known)>, now_ms: i64) -> Vec<PhoneKey> {
    let today = now_ms - now_ms.rem_euclid(super::types::DAY_MS);
    let mut stale: Vec<PhoneKey> =
        found.into_iter().filter(|(_, k)| to_millis(k.last_seen) < today).map(|(key, _)| key).collect();
    stale.sort_unstable();
    stale.dedup();
    stale
}

/// Removes `keys` from the given claim rows (the claimant's own); returns
/// the rows that changed, with their remaining keys, and how many keys went.
pub(crate) fn without_keys(rows: Vec<(i64, Vec<PhoneKey>)>, keys: &[PhoneKey]) -> (Vec<(i64, Vec<PhoneKey>)>, u64) {
    let gone: KeySet = keys.iter().copied().collect();
    let mut removed = 0;
    let mut changed = Vec::new();
    for (id, held) in rows {
        let before = held.len();
        let left: Vec<PhoneKey> = held.into_iter().filter(|k| !gone.contains(k)).collect();
        if left.len() != before {
            removed += (before - left.len()) as u64;
            changed.push((id, left));
        }
    }
    (changed, removed)
}

/// A claim row's keys as stored: 8 bytes each, little-endian.
pub(crate) fn encode_keys(keys: &[PhoneKey]) -> Vec<u8> {
    keys.iter().flat_map(|k| k.to_db().to_le_bytes()).collect()
}

/// The keys of a stored claim row (`None` if the blob is damaged).
pub(crate) fn decode_keys(blob: &[u8]) -> Option<Vec<PhoneKey>> {
    if !blob.len().is_multiple_of(8) {
        return None;
    }
    blob.chunks_exact(8)
        .map(|b| <[u8; 8]>::try_from(b).ok().and_then(|b| PhoneKey::from_db(i64::from_le_bytes(b))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimant(run: &str) -> Claimant {
        Claimant { run: RunRef { run: run.into(), host: "h".into() }, pid: 7, stamp: None }
    }

    fn held(id: i64, run: &str, lease_until_ms: i64) -> ClaimRow {
        let holder = Holder { run: RunRef { run: run.into(), host: "h".into() }, pid: 9 };
        ClaimRow { id: 100, claimant_id: id, holder, stamp: None, lease_until_ms, keys: Vec::new() }
    }

    #[test]
    fn judgement_table() {
        use Judgement::*;
        use Liveness::*;
        let me = claimant("r1");
        let now = 1_000;
        // (holder id, holder run, lease end, liveness) -> judgement
        let cases = [
            (1, "r1", 0, Unknown, Mine),
            (2, "r2", 2_000, Unknown, Held),
            (2, "r2", 2_000, Elsewhere, Held),
            (2, "r2", 999, Elsewhere, Take(Takeover::LeaseExpired)),
            // The same run's name elsewhere is not this run's own.
            (2, "r1", 2_000, Elsewhere, Held),
            (2, "r2", 2_000, Alive, Held),
            // A live process on this machine keeps its claims even when the
            // clock says its lease ran out (a suspend, an NTP step).
            (2, "r2", 1_000, Alive, Held),
            (2, "r2", 0, Alive, Held),
            (2, "r2", 999, Unknown, Take(Takeover::LeaseExpired)),
            (2, "r2", 2_000, Gone, Take(Takeover::ProcessGone)),
            (2, "r2", 0, Gone, Take(Takeover::ProcessGone)),
            (2, "r1", 2_000, Unknown, Take(Takeover::SameRun)),
            (2, "r1", 2_000, Gone, Take(Takeover::ProcessGone)),
            (2, "r1", 2_000, Alive, Held),
        ];
        for (id, run, lease, alive, want) in cases {
            assert_eq!(judge(1, &me, &held(id, run, lease), now, alive), want, "{id} {run} {lease} {alive:?}");
        }
    }

    #[test]
    fn same_run_on_another_host_is_another_run() {
        let me = claimant("r1");
        let mut other = held(2, "r1", 2_000);
        other.holder.run.host = "elsewhere".into();
        assert_eq!(judge(1, &me, &other, 1_000, Liveness::Elsewhere), Judgement::Held);
    }

    #[test]
    fn key_blobs_round_trip_and_damage_is_seen() {
        let keys: Vec<PhoneKey> = [14_155_550_123, 447_911_123_456].into_iter().filter_map(PhoneKey::new).collect();
        assert_eq!(decode_keys(&encode_keys(&keys)), Some(keys.clone()));
        assert_eq!(decode_keys(&[]), Some(Vec::new()));
        assert_eq!(decode_keys(&[1, 2, 3]), None);
        assert_eq!(decode_keys(&0i64.to_le_bytes()), None, "0 is no phone number");
    }

    #[test]
    fn removing_keys_rewrites_only_the_rows_that_held_them() {
        let k = |i: u64| PhoneKey::new(14_155_550_000 + i).expect("key");
        let rows = vec![(1, vec![k(1), k(2)]), (2, vec![k(3)]), (3, vec![k(4), k(5)])];
        let (changed, removed) = without_keys(rows, &[k(2), k(4), k(5), k(9)]);
        assert_eq!(changed, vec![(1, vec![k(1)]), (3, vec![])]);
        assert_eq!(removed, 3);
    }

    #[test]
    fn only_a_missing_process_or_another_start_time_means_gone() {
        use std::io::{Error, ErrorKind};
        let stat =
            |ticks: u64| Ok(format!("4242 (leadctl) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {ticks} 10"));
        assert_eq!(liveness_of(stat(77), 77), Liveness::Alive);
        assert_eq!(liveness_of(stat(78), 77), Liveness::Gone, "the pid belongs to a later process");
        assert_eq!(liveness_of(Err(Error::from(ErrorKind::NotFound)), 77), Liveness::Gone);
        // hidepid, a security module: the process may well be running.
        assert_eq!(liveness_of(Err(Error::from(ErrorKind::PermissionDenied)), 77), Liveness::Unknown);
        assert_eq!(liveness_of(Err(Error::other("EIO")), 77), Liveness::Unknown);
        assert_eq!(liveness_of(Ok("garbage".into()), 77), Liveness::Unknown);
    }

    #[test]
    fn start_ticks_are_read_past_odd_command_names() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_ticks(line), Some(987_654));
        assert_eq!(parse_start_ticks("garbage"), None);
    }

    #[test]
    fn stamps_round_trip_and_reject_garbage() {
        let s = ProcessStamp { boot_id: "b-1".into(), pid_ns: 42, start_ticks: 7 };
        assert_eq!(ProcessStamp::decode(&ProcessStamp::encode(Some(&s))), Some(s));
        assert_eq!(ProcessStamp::encode(None), "");
        for bad in ["", "b/1", "b/x/1", "b/1/2/3", "/1/2"] {
            assert_eq!(ProcessStamp::decode(bad), None, "{bad}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessStamp::of(std::process::id()).expect("a stamp on Linux");
        assert_eq!(liveness(std::process::id(), Some(&me), Some(&me)), Liveness::Alive);
        let reused = ProcessStamp { start_ticks: me.start_ticks + 1, ..me.clone() };
        assert_eq!(liveness(std::process::id(), Some(&reused), Some(&me)), Liveness::Gone);
        let elsewhere = ProcessStamp { boot_id: "other-boot".into(), ..me.clone() };
        assert_eq!(liveness(std::process::id(), Some(&elsewhere), Some(&me)), Liveness::Elsewhere);
        assert_eq!(liveness(std::process::id(), None, Some(&me)), Liveness::Elsewhere);
    }
}
