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
use super::types::{ClaimResult, Holder, Known, PhoneKey, RunRef, Takeover};

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
    /// Another machine or namespace, or no stamp: only the lease can tell.
    Unknown,
}

/// Looks the holder up in `/proc` when it ran in this pid namespace on this boot.
pub(crate) fn liveness(holder_pid: u32, holder: Option<&ProcessStamp>, me: Option<&ProcessStamp>) -> Liveness {
    match (holder, me) {
        (Some(h), Some(m)) if h.boot_id == m.boot_id && h.pid_ns == m.pid_ns => match start_ticks(holder_pid) {
            Some(ticks) if ticks == h.start_ticks => Liveness::Alive,
            // No such process, or the pid now belongs to a later process.
            _ => Liveness::Gone,
        },
        _ => Liveness::Unknown,
    }
}

/// A claim found on a key, with what judging it needs.
#[derive(Debug, Clone)]
pub(crate) struct HeldClaim {
    /// The entry's claimant column (`None` only in a damaged ledger).
    pub claimant_id: Option<i64>,
    pub holder: Holder,
    pub stamp: Option<ProcessStamp>,
    /// The holder's lease end, on the store's clock.
    pub lease_until_ms: i64,
}

/// What to do with a claim found on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    Mine,
    Held,
    Take(Takeover),
}

/// Decides about a claim found on a key (pure; `alive` is the holder's liveness).
pub(crate) fn judge(me_id: i64, me: &Claimant, held: &HeldClaim, now_ms: i64, alive: Liveness) -> Judgement {
    if held.claimant_id == Some(me_id) {
        Judgement::Mine
    } else if held.lease_until_ms <= now_ms {
        Judgement::Take(Takeover::LeaseExpired)
    } else if alive == Liveness::Gone {
        Judgement::Take(Takeover::ProcessGone)
    } else if held.holder.run == me.run && alive != Liveness::Alive {
        // Two live processes of one run (a resume started twice) must not
        // both send: only a holder that is not provably alive is taken.
        Judgement::Take(Takeover::SameRun)
    } else {
        Judgement::Held
    }
}

/// A key's row when it is not free.
pub(crate) enum Existing {
    Known(Known),
    Claim(HeldClaim),
}

/// What a store offers inside its claim transaction.
pub(crate) trait ClaimTx {
    /// Claims the keys that have no row yet (sorted, distinct) for us; returns those claimed.
    fn insert_new(&mut self, keys: &[PhoneKey]) -> Result<Vec<PhoneKey>, LedgerError>;
    /// The rows of these keys: recorded outcomes, or claims with their holder.
    fn existing(&mut self, keys: &[PhoneKey]) -> Result<Vec<(PhoneKey, Existing)>, LedgerError>;
    /// Moves each key's claim to us if the given claimant still holds it; returns those moved.
    fn take_over(&mut self, from: &[(PhoneKey, Option<i64>)]) -> Result<Vec<PhoneKey>, LedgerError>;
}

/// Rounds before giving up when rows keep changing between statements (on
/// PostgreSQL, a key released or taken by another run between our insert and
/// our read; under SQLite's write lock one round always suffices).
const MAX_ROUNDS: usize = 8;

/// The claim algorithm: insert what is free, judge what is held, take what is dead.
pub(crate) fn claim_keys(
    tx: &mut dyn ClaimTx,
    location: &str,
    me_id: i64,
    me: &Claimant,
    keys: &[PhoneKey],
    now_ms: i64,
) -> Result<Vec<ClaimResult>, LedgerError> {
    // Sorted so that concurrent claimers lock rows in one order (no deadlock).
    let mut pending = keys.to_vec();
    pending.sort_unstable();
    pending.dedup();
    let distinct = pending.len();
    let mut results: HashMap<PhoneKey, ClaimResult> = HashMap::with_capacity(distinct);
    for _ in 0..MAX_ROUNDS {
        let inserted = tx.insert_new(&pending)?;
        if results.is_empty() && inserted.len() == distinct {
            // The common case: every key was free.
            return Ok(vec![ClaimResult::Claimed; keys.len()]);
        }
        results.extend(inserted.into_iter().map(|k| (k, ClaimResult::Claimed)));
        pending.retain(|k| !results.contains_key(k));
        if pending.is_empty() {
            break;
        }
        let mut taking = Vec::new();
        let mut judged = HashMap::new();
        for (key, row) in tx.existing(&pending)? {
            match row {
                Existing::Known(known) => drop(results.insert(key, ClaimResult::Known(known))),
                Existing::Claim(held) => {
                    let alive = liveness(held.holder.pid, held.stamp.as_ref(), me.stamp.as_ref());
                    match judge(me_id, me, &held, now_ms, alive) {
                        Judgement::Mine => drop(results.insert(key, ClaimResult::Claimed)),
                        Judgement::Held => drop(results.insert(key, ClaimResult::HeldBy(held.holder))),
                        Judgement::Take(why) => {
                            taking.push((key, held.claimant_id));
                            judged.insert(key, (held.holder, why));
                        }
                    }
                }
            }
        }
        if !taking.is_empty() {
            for key in tx.take_over(&taking)? {
                if let Some((from, why)) = judged.remove(&key) {
                    results.insert(key, ClaimResult::TakenOver { from, why });
                }
            }
        }
        // Whatever is left vanished or changed hands meanwhile: look again.
        pending.retain(|k| !results.contains_key(k));
        if pending.is_empty() {
            break;
        }
    }
    keys.iter()
        .map(|k| {
            results.get(k).cloned().ok_or_else(|| LedgerError::Busy {
                location: location.to_owned(),
                detail: "claims kept changing under this run; try again".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimant(run: &str) -> Claimant {
        Claimant { run: RunRef { run: run.into(), host: "h".into() }, pid: 7, stamp: None }
    }

    fn held(id: i64, run: &str, lease_until_ms: i64) -> HeldClaim {
        let holder = Holder { run: RunRef { run: run.into(), host: "h".into() }, pid: 9 };
        HeldClaim { claimant_id: Some(id), holder, stamp: None, lease_until_ms }
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
            (2, "r2", 2_000, Alive, Held),
            (2, "r2", 1_000, Alive, Take(Takeover::LeaseExpired)),
            (2, "r2", 999, Unknown, Take(Takeover::LeaseExpired)),
            (2, "r2", 2_000, Gone, Take(Takeover::ProcessGone)),
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
        assert_eq!(judge(1, &me, &other, 1_000, Liveness::Unknown), Judgement::Held);
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
        assert_eq!(liveness(std::process::id(), Some(&elsewhere), Some(&me)), Liveness::Unknown);
        assert_eq!(liveness(std::process::id(), None, Some(&me)), Liveness::Unknown);
    }
}
