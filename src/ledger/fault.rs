//! A fault seam around a store, for tests: a [`FaultyStore`] passes every
//! call to the store it wraps, except those its [`Faults`] were told to
//! break: fail with an error (a busy lock, a server out of reach), wait
//! first (a lock held elsewhere), or report a reconnect (a connection the
//! server dropped). Faults are injected at the storage seam, as SQLite's
//! own crash tests do with their test VFS, so that what the ledger's users
//! do about them is tested without timing luck.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::types::{ClaimMode, ClaimResult, Entry, Known, PhoneKey, Recorded, Renewal, Scope, Stats};
use super::{Claimant, LedgerError, Location, ScopeFilter, Store};

/// A store call, as faults name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Lookup,
    Claim,
    Record,
    Release,
    Renew,
}

/// What happens to the next call of an [`Op`].
pub enum Fault {
    /// Fails with the error the function makes.
    Fail(fn(&str) -> LedgerError),
    /// Waits, then goes through.
    Wait(Duration),
    /// Goes through, and the store then says it reconnected.
    Reconnect,
}

impl Fault {
    /// A lock held by another process (SQLite busy, PostgreSQL lock timeout).
    pub fn busy() -> Fault {
        Fault::Fail(|location| LedgerError::Busy { location: location.into(), detail: "database is locked".into() })
    }

    /// The server out of reach.
    pub fn unavailable() -> Fault {
        Fault::Fail(|location| LedgerError::Unavailable {
            location: location.into(),
            detail: "connection refused".into(),
        })
    }
}

#[derive(Default)]
struct Plan {
    next: HashMap<Op, VecDeque<Fault>>,
    /// Every call of an op fails like this until cleared.
    always: HashMap<Op, fn(&str) -> LedgerError>,
    calls: HashMap<Op, usize>,
    reconnected: bool,
}

/// The control of a [`FaultyStore`]; clones share it.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Plan>>);

impl Faults {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next call of `op` (after those already planned) meets `fault`.
    pub fn next(&self, op: Op, fault: Fault) {
        self.plan().next.entry(op).or_default().push_back(fault);
    }

    /// Every call of `op` fails with `fault`'s error until [`Faults::clear`].
    pub fn always(&self, op: Op, fault: Fault) {
        if let Fault::Fail(make) = fault {
            self.plan().always.insert(op, make);
        }
    }

    /// Removes every planned fault.
    pub fn clear(&self) {
        let mut plan = self.plan();
        plan.next.clear();
        plan.always.clear();
    }

    /// How many calls of `op` reached the seam.
    pub fn calls(&self, op: Op) -> usize {
        self.plan().calls.get(&op).copied().unwrap_or(0)
    }

    /// Runs the faults planned for one call of `op`.
    fn before(&self, op: Op, location: &str) -> Result<(), LedgerError> {
        let fault = {
            let mut plan = self.plan();
            *plan.calls.entry(op).or_default() += 1;
            if let Some(make) = plan.always.get(&op) {
                return Err(make(location));
            }
            plan.next.get_mut(&op).and_then(VecDeque::pop_front)
        };
        match fault {
            None => Ok(()),
            Some(Fault::Fail(make)) => Err(make(location)),
            Some(Fault::Wait(d)) => {
                std::thread::sleep(d);
                Ok(())
            }
            Some(Fault::Reconnect) => {
                self.plan().reconnected = true;
                Ok(())
            }
        }
    }
}

/// A store behind the fault seam.
pub struct FaultyStore {
    inner: Box<dyn Store>,
    faults: Faults,
    shown: String,
}

impl FaultyStore {
    pub fn new(inner: Box<dyn Store>, faults: Faults) -> FaultyStore {
        let shown = inner.location().to_string();
        FaultyStore { inner, faults, shown }
    }
}

impl Store for FaultyStore {
    fn location(&self) -> &Location {
        self.inner.location()
    }

    fn lookup(&mut self, scope: &Scope, keys: &[PhoneKey], seen: bool) -> Result<Vec<Option<Known>>, LedgerError> {
        self.faults.before(Op::Lookup, &self.shown)?;
        self.inner.lookup(scope, keys, seen)
    }

    fn claim(
        &mut self,
        scope: &Scope,
        keys: &[PhoneKey],
        claimant: &Claimant,
        lease: Duration,
        mode: ClaimMode,
    ) -> Result<Vec<ClaimResult>, LedgerError> {
        self.faults.before(Op::Claim, &self.shown)?;
        self.inner.claim(scope, keys, claimant, lease, mode)
    }

    fn record(&mut self, scope: &Scope, outcomes: &[Recorded], claimant: &Claimant) -> Result<(), LedgerError> {
        self.faults.before(Op::Record, &self.shown)?;
        self.inner.record(scope, outcomes, claimant)
    }

    fn release(&mut self, scope: &Scope, keys: &[PhoneKey], claimant: &Claimant) -> Result<u64, LedgerError> {
        self.faults.before(Op::Release, &self.shown)?;
        self.inner.release(scope, keys, claimant)
    }

    fn renew(&mut self, claimant: &Claimant, lease: Duration) -> Result<Renewal, LedgerError> {
        self.faults.before(Op::Renew, &self.shown)?;
        self.inner.renew(claimant, lease)
    }

    fn stats(&mut self) -> Result<Stats, LedgerError> {
        self.inner.stats()
    }

    fn forget(&mut self, phone: PhoneKey, which: &ScopeFilter) -> Result<u64, LedgerError> {
        self.inner.forget(phone, which)
    }

    fn prune(&mut self, older_than: SystemTime) -> Result<u64, LedgerError> {
        self.inner.prune(older_than)
    }

    fn export(&mut self, each: &mut dyn FnMut(Entry) -> anyhow::Result<()>) -> Result<u64, LedgerError> {
        self.inner.export(each)
    }

    fn import(&mut self, entries: &[Entry]) -> Result<u64, LedgerError> {
        self.inner.import(entries)
    }

    fn now_ms(&mut self) -> Result<i64, LedgerError> {
        self.inner.now_ms()
    }

    fn claimed_count(&mut self, claimant: &Claimant) -> Result<u64, LedgerError> {
        self.inner.claimed_count(claimant)
    }

    fn reconnected(&mut self) -> bool {
        let seam = std::mem::take(&mut self.faults.plan().reconnected);
        self.inner.reconnected() || seam
    }
}
