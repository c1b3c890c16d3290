//! [`Ledger`]: a cloneable, `Send + Sync` handle on a store that lives on its
//! own plain thread. rusqlite's connection is not `Sync`, and the synchronous
//! PostgreSQL client runs its own small runtime that must not be driven from
//! inside a tokio worker; an actor thread serves both, one request at a time,
//! in the order they arrive. Each call returns a [`Reply`]: `.await` it in a
//! tokio task, or `.wait()` for it on a plain thread.
//!
//! The thread also keeps the leases of the claims made through it alive: it
//! remembers which keys each claimant holds (claimed or taken over, until
//! recorded or released) and renews that claimant's lease every
//! `renew_every` while it holds any. What it knows of the lease is shared
//! with the senders ([`Ledger::lease_left`], [`Ledger::ensure_lease`]):
//!
//! - the lease is measured on the boot clock (it counts a suspend, and no
//!   clock step moves it), from the moment before the store was asked, so
//!   the handle never believes in more lease than the store granted;
//! - a lease the store says ran out (when a renewal or a claim comes to it)
//!   is lapsed for good: another run may have taken the keys, so nothing
//!   more is sent under them, and later claims are refused;
//! - a lease the handle could not renew in time (a busy or unreachable
//!   ledger) only pauses sending: no request starts without enough lease,
//!   and the store judges, when it answers again, whether it had run out;
//! - after the store lost its connection and made a new one, the claims are
//!   unverified (sending pauses) until a renewal finds the claimant's lease
//!   running and every key it holds still claimed.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use super::types::{ClaimMode, ClaimResult, Entry, KeySet, Known, PhoneKey, Recorded, Renewal, Scope, Stats};
use super::{Claimant, LedgerError, Location, OpenOptions, ScopeFilter, Store};

/// How a [`Ledger`] opens its store and keeps its claims.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    pub open: OpenOptions,
    /// The lease each claim gets, and each renewal extends to.
    pub lease: Duration,
    /// How often the lease is renewed while claims are held (a third of the
    /// lease leaves two renewals to fail before another run may take over).
    pub renew_every: Duration,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            open: OpenOptions::default(),
            lease: Duration::from_secs(60),
            renew_every: Duration::from_secs(20),
        }
    }
}

/// A moment on the boot clock: monotonic, and counting time suspended
/// (`CLOCK_BOOTTIME`; elsewhere than Linux, `Instant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Moment(Duration);

impl Moment {
    pub(crate) fn now() -> Moment {
        #[cfg(target_os = "linux")]
        if let Ok(t) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) {
            return Moment(Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().clamp(0, 999_999_999) as u32));
        }
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Moment(START.get_or_init(Instant::now).elapsed())
    }

    fn after(self, d: Duration) -> Moment {
        Moment(self.0.saturating_add(d))
    }

    fn until(self, later: Moment) -> Duration {
        later.0.saturating_sub(self.0)
    }
}

/// What the handle knows of its claims' lease, shared with the senders.
#[derive(Debug, Clone, Copy, Default)]
struct LeaseState {
    /// Until when the claims held are known to be ours: the end of the
    /// lease last granted, `None` while nothing is held.
    safe_until: Option<Moment>,
    /// A lease ran out while keys were held: final.
    lapsed: bool,
    /// The store reconnected while keys were held, and no renewal has
    /// found them since.
    unverified: bool,
}

/// A handle on the ledger thread; clones share the thread.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Message>,
    location: Arc<str>,
    lease: Arc<Mutex<LeaseState>>,
}

/// The answer to one call: `.await` it, or `.wait()` for it.
#[must_use = "the call's outcome is in the reply"]
pub struct Reply<T> {
    rx: oneshot::Receiver<Result<T, LedgerError>>,
}

impl<T> Reply<T> {
    fn ready(value: Result<T, LedgerError>) -> Reply<T> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(value);
        Reply { rx }
    }

    /// Blocks until the answer comes. For plain threads (and
    /// `spawn_blocking`); inside an async task, `.await` the reply instead.
    pub fn wait(self) -> Result<T, LedgerError> {
        self.rx.blocking_recv().unwrap_or(Err(LedgerError::Closed))
    }
}

impl<T> Future for Reply<T> {
    type Output = Result<T, LedgerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(LedgerError::Closed)))
    }
}

type Job = Box<dyn FnOnce(&mut Actor) + Send>;

enum Message {
    Job(Job),
    Close(oneshot::Sender<Result<(), LedgerError>>),
}

impl Ledger {
    /// Starts the ledger thread and opens the store on it.
    pub fn open(location: Location, options: LedgerOptions) -> Reply<Ledger> {
        let (reply, rx) = oneshot::channel();
        let shown = location.to_string();
        let location_shown = shown.clone();
        let start = move |tx: mpsc::Sender<Message>, requests| {
            match super::open(&location, &options.open) {
                Ok(store) => {
                    let ledger = Ledger::with_sender(tx, &shown);
                    let actor = Actor::new(store, &options, ledger.lease.clone(), &shown);
                    // The ledger moves to the caller: this thread keeps no sender,
                    // so it ends when the last handle is dropped.
                    if reply.send(Ok(ledger)).is_ok() {
                        actor.serve(requests, options.renew_every);
                    }
                }
                Err(e) => drop(reply.send(Err(e))),
            }
        };
        match spawn(&location_shown, start) {
            Ok(()) => Reply { rx },
            Err(e) => Reply::ready(Err(e)),
        }
    }

    /// A ledger over a store already open (tests, or a store of the caller's).
    pub fn from_store(store: Box<dyn Store>, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        let shown = store.location().to_string();
        let (ledger_tx, ledger_rx) = std::sync::mpsc::sync_channel(1);
        spawn(&shown.clone(), move |tx, requests| {
            let ledger = Ledger::with_sender(tx, &shown);
            let actor = Actor::new(store, &options, ledger.lease.clone(), &shown);
            if ledger_tx.send(ledger).is_ok() {
                actor.serve(requests, options.renew_every);
            }
        })?;
        ledger_rx.recv().map_err(|_| LedgerError::Closed)
    }

    fn with_sender(tx: mpsc::Sender<Message>, shown: &str) -> Ledger {
        Ledger { tx, location: Arc::from(shown), lease: Arc::new(Mutex::new(LeaseState::default())) }
    }

    /// The location, without any password.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn lease_state(&self) -> LeaseState {
        self.lease.lock().map(|g| *g).unwrap_or(LeaseState { lapsed: true, ..LeaseState::default() })
    }

    /// False once the claims held may no longer be ours for good: the
    /// store said their lease had run out (another run may have taken them),
    /// or a verification found some missing. The run must stop sending.
    /// (A lease the handle could not renew in time, or claims a reconnect
    /// left unverified, only pause sending: see [`Ledger::ensure_lease`].)
    pub fn claims_safe(&self) -> bool {
        !self.lease_state().lapsed
    }

    /// How much lease the claims held have left (`None` while nothing is
    /// held; zero while unverified), or `Lapsed`.
    pub fn lease_left(&self) -> Result<Option<Duration>, LedgerError> {
        let state = self.lease_state();
        if state.lapsed {
            return Err(self.lapsed());
        }
        if state.unverified {
            return Ok(Some(Duration::ZERO));
        }
        Ok(state.safe_until.map(|until| Moment::now().until(until)))
    }

    fn lapsed(&self) -> LedgerError {
        LedgerError::Lapsed { location: self.location.to_string() }
    }

    /// Makes sure the claims held have at least `needed` of lease left
    /// (a request is started only if it ends before the lease can), renewing
    /// (and verifying) now when they have less. `Lapsed` when the store says
    /// they may be another run's; `Busy` when they could not be renewed yet
    /// (a busy or unreachable ledger: the caller waits and asks again, as
    /// for any busy ledger).
    pub fn ensure_lease(&self, needed: Duration) -> Reply<()> {
        match self.lease_left() {
            Ok(None) => return Reply::ready(Ok(())),
            Ok(Some(left)) if left >= needed => return Reply::ready(Ok(())),
            Err(e) => return Reply::ready(Err(e)),
            Ok(Some(_)) => {}
        }
        let shown = self.location.to_string();
        self.call(move |a| {
            let failure = a.renew_all();
            let state = a.state();
            match state.safe_until {
                _ if state.lapsed => Err(LedgerError::Lapsed { location: shown }),
                Some(until) if !state.unverified && Moment::now().until(until) >= needed => Ok(()),
                None => Ok(()),
                Some(_) => Err(LedgerError::Busy {
                    location: shown,
                    detail: format!(
                        "the claims' lease could not be renewed to last the {}s a request may take ({})",
                        needed.as_secs(),
                        failure.unwrap_or_else(|| "not long enough".into())
                    ),
                }),
            }
        })
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Actor) -> Result<T, LedgerError> + Send + 'static,
    ) -> Reply<T> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |actor| {
            let result = f(actor);
            // Before the caller hears back: what it decides next must see
            // claims that a reconnect left unverified.
            actor.verify_after_reconnect();
            drop(reply.send(result));
        });
        // A failed send drops the job and its reply sender: the reply says Closed.
        let _ = self.tx.send(Message::Job(job));
        Reply { rx }
    }

    /// What the ledger knows of the keys; with `seen`, found keys are marked
    /// seen today (see `Store::lookup`).
    pub fn lookup(&self, scope: &Scope, keys: Vec<PhoneKey>, seen: bool) -> Reply<Vec<Option<Known>>> {
        let scope = scope.clone();
        self.call(move |a| a.store.lookup(&scope, &keys, seen))
    }

    /// Claims with the handle's lease; the thread renews it while any of
    /// these keys stay claimed. Refused once the handle's claims lapsed.
    pub fn claim(
        &self,
        scope: &Scope,
        keys: Vec<PhoneKey>,
        claimant: &Claimant,
        mode: ClaimMode,
    ) -> Reply<Vec<ClaimResult>> {
        let (scope, claimant) = (scope.clone(), claimant.clone());
        self.call(move |a| a.claim(scope, keys, claimant, mode))
    }

    pub fn record(&self, scope: &Scope, outcomes: impl Into<Arc<[Recorded]>>, claimant: &Claimant) -> Reply<()> {
        let (scope, claimant, outcomes) = (scope.clone(), claimant.clone(), outcomes.into());
        self.call(move |a| {
            a.store.record(&scope, &outcomes, &claimant)?;
            a.forget_held(&claimant, &scope, outcomes.iter().map(|r| r.phone));
            Ok(())
        })
    }

    pub fn release(&self, scope: &Scope, keys: Vec<PhoneKey>, claimant: &Claimant) -> Reply<u64> {
        let (scope, claimant) = (scope.clone(), claimant.clone());
        self.call(move |a| {
            let released = a.store.release(&scope, &keys, &claimant)?;
            a.forget_held(&claimant, &scope, keys.iter().copied());
            Ok(released)
        })
    }

    /// The store's clock now (milliseconds since the epoch).
    pub fn now_ms(&self) -> Reply<i64> {
        self.call(|a| a.store.now_ms())
    }

    pub fn stats(&self) -> Reply<Stats> {
        self.call(|a| a.store.stats())
    }

    pub fn forget(&self, phone: PhoneKey, which: ScopeFilter) -> Reply<u64> {
        self.call(move |a| a.store.forget(phone, &which))
    }

    pub fn prune(&self, older_than: SystemTime) -> Reply<u64> {
        self.call(move |a| a.store.prune(older_than))
    }

    /// Streams every entry to `each`, which runs on the ledger thread.
    pub fn export(&self, mut each: impl FnMut(Entry) -> anyhow::Result<()> + Send + 'static) -> Reply<u64> {
        self.call(move |a| a.store.export(&mut each))
    }

    pub fn import(&self, entries: Vec<Entry>) -> Reply<u64> {
        self.call(move |a| a.store.import(&entries))
    }

    /// Stops the thread once the calls before this one are answered, and
    /// closes the store; other handles' later calls answer `Closed`.
    pub fn close(&self) -> Reply<()> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Message::Close(reply));
        Reply { rx }
    }
}

fn spawn(
    shown: &str,
    start: impl FnOnce(mpsc::Sender<Message>, mpsc::Receiver<Message>) + Send + 'static,
) -> Result<(), LedgerError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("leadctl-ledger".into()).spawn(move || start(tx, rx)).map(drop).map_err(|e| {
        LedgerError::Unavailable { location: shown.to_owned(), detail: format!("cannot start its thread: {e}") }
    })
}

/// The thread's state: the store and what each claimant holds.
struct Actor {
    store: Box<dyn Store>,
    lease: Duration,
    held: HashMap<Claimant, HashMap<Scope, KeySet>>,
    shared: Arc<Mutex<LeaseState>>,
    shown: String,
}

impl Actor {
    fn new(store: Box<dyn Store>, options: &LedgerOptions, shared: Arc<Mutex<LeaseState>>, shown: &str) -> Actor {
        Actor { store, lease: options.lease, held: HashMap::new(), shared, shown: shown.to_owned() }
    }

    fn serve(mut self, requests: mpsc::Receiver<Message>, renew_every: Duration) {
        let mut next_renewal = Instant::now() + renew_every;
        loop {
            match requests.recv_timeout(next_renewal.saturating_duration_since(Instant::now())) {
                Ok(Message::Job(job)) => job(&mut self),
                Ok(Message::Close(reply)) => {
                    drop(self);
                    let _ = reply.send(Ok(()));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_renewal {
                self.renew_all();
                next_renewal = Instant::now() + renew_every;
            }
        }
    }

    fn state(&self) -> LeaseState {
        self.shared.lock().map(|g| *g).unwrap_or(LeaseState { lapsed: true, ..LeaseState::default() })
    }

    fn update(&self, f: impl FnOnce(&mut LeaseState)) {
        if let Ok(mut guard) = self.shared.lock() {
            f(&mut guard);
        }
    }

    fn claim(
        &mut self,
        scope: Scope,
        keys: Vec<PhoneKey>,
        claimant: Claimant,
        mode: ClaimMode,
    ) -> Result<Vec<ClaimResult>, LedgerError> {
        let state = self.state();
        if state.lapsed {
            return Err(LedgerError::Lapsed { location: self.shown.clone() });
        }
        let expired = state.safe_until.is_some_and(|until| Moment::now() >= until);
        if expired || state.unverified {
            // Keys held are not known to be ours now: renew (and verify)
            // before claiming more; the store says whether they lapsed.
            let failure = self.renew_all();
            let state = self.state();
            if state.lapsed {
                return Err(LedgerError::Lapsed { location: self.shown.clone() });
            }
            if state.unverified || state.safe_until.is_some_and(|until| Moment::now() >= until) {
                let detail = failure.unwrap_or_else(|| "the claims' lease could not be renewed".into());
                return Err(LedgerError::Busy { location: self.shown.clone(), detail });
            }
        }
        let started = Moment::now();
        let results = self.store.claim(&scope, &keys, &claimant, self.lease, mode)?;
        let ours = keys
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, ClaimResult::Claimed | ClaimResult::MayExist | ClaimResult::TakenOver { .. }));
        let mut ours = ours.map(|(k, _)| *k).peekable();
        if ours.peek().is_some() {
            self.held.entry(claimant).or_default().entry(scope).or_default().extend(ours);
            // A claim extends the claimant's lease in the store, as a renewal does.
            let until = started.after(self.lease);
            self.update(|s| s.safe_until = Some(s.safe_until.map_or(until, |old| old.max(until))));
        }
        Ok(results)
    }

    fn forget_held(&mut self, claimant: &Claimant, scope: &Scope, keys: impl Iterator<Item = PhoneKey>) {
        if let Some(scopes) = self.held.get_mut(claimant) {
            if let Some(set) = scopes.get_mut(scope) {
                for key in keys {
                    set.remove(&key);
                }
                if set.is_empty() {
                    scopes.remove(scope);
                }
            }
            if scopes.is_empty() {
                self.held.remove(claimant);
            }
        }
        if self.held.is_empty() {
            // Nothing held: nothing to lapse. A lapse already seen stays.
            self.update(|s| {
                s.safe_until = None;
                s.unverified = false;
            });
        }
    }

    /// After the store reconnected while keys were held, they are not known
    /// to be ours until a renewal finds them: renew (and verify) at once.
    fn verify_after_reconnect(&mut self) {
        if self.store.reconnected() && !self.held.is_empty() {
            tracing::warn!("the ledger {} reconnected: verifying this run's claims before sending more", self.shown);
            self.update(|s| s.unverified = true);
            self.renew_all();
        }
    }

    /// Renews every claimant's lease; returns why it could not, if it could
    /// not. A lease the store says ran out is lapsed, for good; one that
    /// cannot be renewed now keeps its old end (sending pauses once that
    /// passes, until a renewal succeeds). Unverified claims are verified:
    /// the store must still hold every key held here.
    fn renew_all(&mut self) -> Option<String> {
        if self.held.is_empty() || self.state().lapsed {
            return None;
        }
        let started = Moment::now();
        let mut failure = None;
        let verify = self.state().unverified;
        let claimants: Vec<(Claimant, u64)> =
            self.held.iter().map(|(c, scopes)| (c.clone(), scopes.values().map(|k| k.len() as u64).sum())).collect();
        for (claimant, held) in claimants {
            match self.store.renew(&claimant, self.lease) {
                Ok(Renewal::Renewed) => {}
                Ok(Renewal::Lapsed) => return self.lapse(&claimant, "its lease had run out"),
                Err(e) => {
                    tracing::warn!("cannot renew the ledger lease of run {}: {e}", claimant.run.run);
                    failure = Some(e.to_string());
                    continue;
                }
            }
            if verify {
                match self.store.claimed_count(&claimant) {
                    Ok(found) if found < held => {
                        return self.lapse(&claimant, &format!("it holds {found} of the {held} claims it made"));
                    }
                    Ok(_) => {}
                    Err(e) => failure = Some(e.to_string()),
                }
            }
        }
        if failure.is_none() {
            self.update(|s| {
                s.safe_until = Some(started.after(self.lease));
                s.unverified = false;
            });
        }
        failure
    }

    /// The claims of `claimant` may be another run's: final.
    fn lapse(&mut self, claimant: &Claimant, why: &str) -> Option<String> {
        tracing::warn!(
            "the ledger {} says run {}'s claims may be another run's now ({why}): no more is sent under them",
            self.shown,
            claimant.run.run
        );
        self.update(|s| s.lapsed = true);
        Some(why.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_can_be_shared_between_threads_and_tasks() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        fn sent<T: Send + 'static>() {}
        shared::<Ledger>();
        sent::<Reply<Vec<ClaimResult>>>();
    }
}
