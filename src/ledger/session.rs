//! A run's use of the ledger: the handle, who the run is (its claimant),
//! and which API its keys belong to. Calls take a run's keys in any order
//! and mix of projects and processes, and go to the store one scope at a
//! time; answers come back in the order of the keys.

use std::time::{Duration, Instant};

use super::{
    ClaimMode, ClaimResult, Claimant, Known, Ledger, LedgerError, LedgerOptions, Location, OpenOptions, PhoneKey,
    Recorded, Reply, Scope,
};

/// A lead as the ledger keys it, within one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadKey<'a> {
    pub project: &'a str,
    pub process: &'a str,
    pub phone: PhoneKey,
}

/// What a sorted batch leaves to write: answers to record, and claims to
/// give back (leads that ended retryable). Leads name their (project,
/// process) by its place in `scopes` (a batch has one or a few).
#[derive(Debug, Default)]
pub struct Writes {
    scopes: Vec<(String, String)>,
    record: Vec<(usize, Recorded)>,
    release: Vec<(usize, PhoneKey)>,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.record.is_empty() && self.release.is_empty()
    }

    /// How many leads these writes touch.
    pub fn len(&self) -> usize {
        self.record.len() + self.release.len()
    }

    fn scope_at(&mut self, project: &str, process: &str) -> usize {
        match self.scopes.iter().position(|(p, q)| p == project && q == process) {
            Some(at) => at,
            None => {
                self.scopes.push((project.to_owned(), process.to_owned()));
                self.scopes.len() - 1
            }
        }
    }

    /// An answer to record for the lead `key`.
    pub fn record(&mut self, key: LeadKey<'_>, outcome: super::Outcome) {
        let at = self.scope_at(key.project, key.process);
        self.record.push((at, Recorded { phone: key.phone, outcome }));
    }

    /// A claim on `key` to give back.
    pub fn release(&mut self, key: LeadKey<'_>) {
        let at = self.scope_at(key.project, key.process);
        self.release.push((at, key.phone));
    }

    /// The writes by scope: answers, then claims, each in order (the last
    /// answer for a key wins).
    fn by_scope(self) -> Vec<ScopeWrites> {
        let mut out: Vec<ScopeWrites> = self.scopes.into_iter().map(|s| (s, Vec::new(), Vec::new())).collect();
        for (at, r) in self.record {
            out[at].1.push(r);
        }
        for (at, k) in self.release {
            out[at].2.push(k);
        }
        out
    }
}

/// One scope's (project, process) writes: answers and claims to give back.
type ScopeWrites = ((String, String), Vec<Recorded>, Vec<PhoneKey>);

/// How a run uses the ledger.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The longest a request may take (`--timeout`): a claim's lease outlasts
    /// it, and a request starts only with that much lease left.
    pub request_timeout: Duration,
    /// How long a ledger that is busy (a lock held by another process) is
    /// waited for, in all, before the run gives up on it.
    pub busy_wait: Duration,
    /// How long one attempt waits for a lock (SQLite's busy timeout,
    /// PostgreSQL's `lock_timeout`).
    pub busy_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            request_timeout: Duration::from_secs(60),
            busy_wait: Duration::from_secs(600),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

impl SessionOptions {
    /// The lease: at least a minute, and long enough that a request started
    /// just after a renewal ends with a renewal's worth to spare. On SQLite
    /// also as long as a busy ledger is waited for: a renewal needs the
    /// write lock that another process may hold that long (and on one host
    /// a run's liveness, not its lease, decides a takeover anyway).
    fn ledger_options(&self, location: &Location) -> LedgerOptions {
        let mut lease = Duration::from_secs(60).max(self.request_timeout * 2 + Duration::from_secs(20));
        if matches!(location, Location::Sqlite(_)) {
            lease = lease.max(self.busy_wait + Duration::from_secs(20));
        }
        let open = OpenOptions { busy_timeout: self.busy_timeout.min(self.busy_wait), ..OpenOptions::default() };
        LedgerOptions { open, lease, renew_every: lease / 3 }
    }

    /// The lease a request needs left when it starts: its timeout, and a margin.
    pub fn lease_needed(&self) -> Duration {
        self.request_timeout + Duration::from_secs(5)
    }
}

/// The ledger as one run uses it.
#[derive(Clone)]
pub struct Session {
    ledger: Ledger,
    claimant: Claimant,
    api_url: String,
    options: SessionOptions,
    /// When the run began using the ledger (milliseconds since the epoch,
    /// the store's clock): what `--resend-known` resends was recorded (or
    /// last seen) before it.
    started_ms: i64,
}

impl Session {
    /// Opens the ledger for a run named `run` (its directory) sending to
    /// `api_url`. Blocks: call it from a plain thread or `spawn_blocking`.
    pub fn open(
        location: Location,
        api_url: &str,
        run: &str,
        host: &str,
        options: SessionOptions,
    ) -> Result<Session, LedgerError> {
        let ledger_options = options.ledger_options(&location);
        let ledger = Ledger::open(location, ledger_options).wait()?;
        let started_ms = ledger.now_ms().wait()?;
        let mut session = Session::over(ledger, Claimant::this_process(run, host), api_url, options);
        session.started_ms = started_ms;
        Ok(session)
    }

    /// A session over a ledger already open (tests: a store behind a fault seam).
    pub fn over(ledger: Ledger, claimant: Claimant, api_url: &str, options: SessionOptions) -> Session {
        let started_ms = super::types::to_millis(std::time::SystemTime::now());
        Session { ledger, claimant, api_url: api_url.to_owned(), options, started_ms }
    }

    /// The claim mode of leads sent whatever the ledger knew when this run
    /// started (`--resend-known`).
    pub fn known_before_now(&self) -> ClaimMode {
        ClaimMode::AnyBefore(self.started_ms)
    }

    /// The same session for the run named `run` (its directory, once made:
    /// the ledger opens before the directory is, so that a refused ledger
    /// leaves none behind, and a same-second run's directory gets a suffix).
    pub fn for_run(self, run: &str) -> Session {
        let host = self.claimant.run.host.clone();
        Session { claimant: Claimant::this_process(run, host), ..self }
    }

    /// Where the ledger is, without any password.
    pub fn location(&self) -> &str {
        self.ledger.location()
    }

    /// False once claims are held that may no longer be ours (see
    /// [`Ledger::claims_safe`]): the run must stop sending.
    pub fn claims_safe(&self) -> bool {
        self.ledger.claims_safe()
    }

    /// Makes sure the claims held outlast a request started now (see
    /// [`Ledger::ensure_lease`]).
    /// A lease that could not be renewed yet (a busy ledger) is waited for
    /// as any busy ledger is.
    pub async fn ready_to_send(&self) -> Result<(), LedgerError> {
        self.await_busy(|| self.ledger.ensure_lease(self.options.lease_needed())).await
    }

    fn scope(&self, project: &str, process: &str) -> Scope {
        Scope::new(&self.api_url, project, process)
    }

    /// What the ledger knows of each key, in the keys' order; with `seen`,
    /// the keys found are marked seen today. Blocks.
    pub fn lookup(&self, keys: &[LeadKey<'_>], seen: bool) -> Result<Vec<Option<Known>>, LedgerError> {
        let mut out = vec![None; keys.len()];
        for ((project, process), at) in by_scope(keys) {
            let scope = self.scope(project, process);
            let phones: Vec<PhoneKey> = at.iter().map(|&i| keys[i].phone).collect();
            let known = self.wait_busy(|| self.ledger.lookup(&scope, phones.clone(), seen))?;
            for (i, k) in at.into_iter().zip(known) {
                out[i] = k;
            }
        }
        Ok(out)
    }

    /// Claims the keys for this run, in the keys' order (each scope is one
    /// transaction of the store).
    pub async fn claim(&self, keys: &[LeadKey<'_>], mode: ClaimMode) -> Result<Vec<ClaimResult>, LedgerError> {
        let mut out: Vec<Option<ClaimResult>> = vec![None; keys.len()];
        for ((project, process), at) in by_scope(keys) {
            let scope = self.scope(project, process);
            let phones: Vec<PhoneKey> = at.iter().map(|&i| keys[i].phone).collect();
            let answers = self.await_busy(|| self.ledger.claim(&scope, phones.clone(), &self.claimant, mode)).await?;
            for (i, a) in at.into_iter().zip(answers) {
                out[i] = Some(a);
            }
        }
        every_answer(out, self.location())
    }

    /// Claims the keys for this run, in the keys' order, from a plain thread
    /// (the read stage). Blocks.
    pub fn claim_wait(&self, keys: &[LeadKey<'_>], mode: ClaimMode) -> Result<Vec<ClaimResult>, LedgerError> {
        let mut out: Vec<Option<ClaimResult>> = vec![None; keys.len()];
        for ((project, process), at) in by_scope(keys) {
            let scope = self.scope(project, process);
            let phones: Vec<PhoneKey> = at.iter().map(|&i| keys[i].phone).collect();
            let answers = self.wait_busy(|| self.ledger.claim(&scope, phones.clone(), &self.claimant, mode))?;
            for (i, a) in at.into_iter().zip(answers) {
                out[i] = Some(a);
            }
        }
        every_answer(out, self.location())
    }

    /// Records answers and gives back claims, one store transaction per
    /// scope. Blocks (a busy ledger is waited for).
    pub fn write(&self, writes: Writes) -> Result<(), LedgerError> {
        for ((project, process), outcomes, keys) in writes.by_scope() {
            let scope = self.scope(&project, &process);
            if !outcomes.is_empty() {
                let outcomes: std::sync::Arc<[Recorded]> = outcomes.into();
                self.wait_busy(|| self.ledger.record(&scope, std::sync::Arc::clone(&outcomes), &self.claimant))?;
            }
            if !keys.is_empty() {
                self.wait_busy(|| self.ledger.release(&scope, keys.clone(), &self.claimant))?;
            }
        }
        Ok(())
    }

    /// Asks until the ledger is not busy, or the wait is over (blocking).
    fn wait_busy<T>(&self, mut ask: impl FnMut() -> Reply<T>) -> Result<T, LedgerError> {
        let mut waits = BusyWaits::new(self.location(), self.options.busy_wait);
        loop {
            match ask().wait() {
                Err(e @ LedgerError::Busy { .. }) => std::thread::sleep(waits.next(e)?),
                other => return other,
            }
        }
    }

    /// Asks until the ledger is not busy, or the wait is over (async).
    async fn await_busy<T>(&self, mut ask: impl FnMut() -> Reply<T>) -> Result<T, LedgerError> {
        let mut waits = BusyWaits::new(self.location(), self.options.busy_wait);
        loop {
            match ask().await {
                Err(e @ LedgerError::Busy { .. }) => tokio::time::sleep(waits.next(e)?).await,
                other => return other,
            }
        }
    }
}

/// The waits between attempts on a busy ledger: doubling from a tenth of a
/// second to five seconds, each said in the log, until `budget` is spent.
struct BusyWaits<'a> {
    location: &'a str,
    started: Instant,
    budget: Duration,
    next: Duration,
}

impl<'a> BusyWaits<'a> {
    fn new(location: &'a str, budget: Duration) -> BusyWaits<'a> {
        BusyWaits { location, started: Instant::now(), budget, next: Duration::from_millis(100) }
    }

    /// The wait before the next attempt, or the error when the budget is spent.
    fn next(&mut self, busy: LedgerError) -> Result<Duration, LedgerError> {
        let waited = self.started.elapsed();
        if waited >= self.budget {
            return Err(LedgerError::Busy {
                location: self.location.to_owned(),
                detail: format!("still locked by another process after {}s of trying", waited.as_secs()),
            });
        }
        let wait = self.next.min(self.budget - waited);
        self.next = (self.next * 2).min(Duration::from_secs(5));
        tracing::warn!(
            "{busy}; waiting {:.1}s and trying again (for up to {}s in all)",
            wait.as_secs_f64(),
            self.budget.as_secs()
        );
        Ok(wait)
    }
}

/// The answers, one per key (the store answers every key it is given: a
/// missing one is a bug, never a claim).
fn every_answer(answers: Vec<Option<ClaimResult>>, location: &str) -> Result<Vec<ClaimResult>, LedgerError> {
    answers.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| LedgerError::Database {
        location: location.to_owned(),
        detail: "a key was left without an answer (a bug in leadctl)".into(),
    })
}

/// The indices of the keys of each (project, process), in first-seen order.
fn by_scope<'a>(keys: &[LeadKey<'a>]) -> Vec<((&'a str, &'a str), Vec<usize>)> {
    let mut groups: Vec<((&'a str, &'a str), Vec<usize>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let scope = (k.project, k.process);
        match groups.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, at)) => at.push(i),
            None => groups.push((scope, vec![i])),
        }
    }
    groups
}
