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
//! `renew_every` while it holds any.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use super::types::{ClaimResult, Entry, Known, PhoneKey, Recorded, Scope, Stats};
use super::{Claimant, LedgerError, Location, OpenOptions, Store};

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

/// A handle on the ledger thread; clones share the thread.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Message>,
    location: Arc<str>,
    /// Until when the claims held through this handle are known to be safe:
    /// the end of the lease last set, `None` while nothing is held.
    safe_until: Arc<Mutex<Option<Instant>>>,
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
                    let actor = Actor::new(store, &options, ledger.safe_until.clone());
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
            let actor = Actor::new(store, &options, ledger.safe_until.clone());
            if ledger_tx.send(ledger).is_ok() {
                actor.serve(requests, options.renew_every);
            }
        })?;
        ledger_rx.recv().map_err(|_| LedgerError::Closed)
    }

    fn with_sender(tx: mpsc::Sender<Message>, shown: &str) -> Ledger {
        Ledger { tx, location: Arc::from(shown), safe_until: Arc::new(Mutex::new(None)) }
    }

    /// The location, without any password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// False once claims are held whose lease this handle could not renew in
    /// time: another run may have taken them, so stop sending them.
    pub fn claims_safe(&self) -> bool {
        let safe_until = self.safe_until.lock().map(|g| *g).unwrap_or(Some(Instant::now()));
        safe_until.is_none_or(|until| Instant::now() < until)
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Actor) -> Result<T, LedgerError> + Send + 'static,
    ) -> Reply<T> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |actor| drop(reply.send(f(actor))));
        // A failed send drops the job and its reply sender: the reply says Closed.
        let _ = self.tx.send(Message::Job(job));
        Reply { rx }
    }

    pub fn lookup(&self, scope: &Scope, keys: Vec<PhoneKey>) -> Reply<Vec<Option<Known>>> {
        let scope = scope.clone();
        self.call(move |a| a.store.lookup(&scope, &keys))
    }

    /// Claims with the handle's lease; the thread renews it while any of
    /// these keys stay claimed.
    pub fn claim(&self, scope: &Scope, keys: Vec<PhoneKey>, claimant: &Claimant) -> Reply<Vec<ClaimResult>> {
        let (scope, claimant) = (scope.clone(), claimant.clone());
        self.call(move |a| a.claim(scope, keys, claimant))
    }

    pub fn record(&self, scope: &Scope, outcomes: Vec<Recorded>, claimant: &Claimant) -> Reply<()> {
        let (scope, claimant) = (scope.clone(), claimant.clone());
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

    pub fn stats(&self) -> Reply<Stats> {
        self.call(|a| a.store.stats())
    }

    pub fn forget(&self, phone: PhoneKey, process: Option<String>) -> Reply<u64> {
        self.call(move |a| a.store.forget(phone, process.as_deref()))
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
    held: HashMap<Claimant, HashMap<Scope, HashSet<PhoneKey>>>,
    safe_until: Arc<Mutex<Option<Instant>>>,
}

impl Actor {
    fn new(store: Box<dyn Store>, options: &LedgerOptions, safe_until: Arc<Mutex<Option<Instant>>>) -> Actor {
        Actor { store, lease: options.lease, held: HashMap::new(), safe_until }
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

    fn claim(
        &mut self,
        scope: Scope,
        keys: Vec<PhoneKey>,
        claimant: Claimant,
    ) -> Result<Vec<ClaimResult>, LedgerError> {
        let started = Instant::now();
        let results = self.store.claim(&scope, &keys, &claimant, self.lease)?;
        let ours = keys
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, ClaimResult::Claimed | ClaimResult::TakenOver { .. }));
        let mut ours = ours.map(|(k, _)| *k).peekable();
        if ours.peek().is_some() {
            self.held.entry(claimant).or_default().entry(scope).or_default().extend(ours);
            self.lease_set(started);
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
            self.set_safe_until(None);
        }
    }

    fn renew_all(&mut self) {
        let started = Instant::now();
        let mut all_renewed = true;
        for claimant in self.held.keys() {
            if let Err(e) = self.store.renew(claimant, self.lease) {
                all_renewed = false;
                tracing::warn!("cannot renew the ledger lease of run {}: {e}", claimant.run.run);
            }
        }
        if all_renewed && !self.held.is_empty() {
            self.lease_set(started);
        }
    }

    /// A lease set at `at` (before the store was asked) lasts until `at + lease`.
    fn lease_set(&self, at: Instant) {
        self.set_safe_until(Some(at + self.lease));
    }

    fn set_safe_until(&self, until: Option<Instant>) {
        if let Ok(mut guard) = self.safe_until.lock() {
            *guard = until;
        }
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
