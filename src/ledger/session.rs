//! A run's use of the ledger: the handle, who the run is (its claimant),
//! and which API its keys belong to. Calls take a run's keys in any order
//! and mix of projects and processes, and go to the store one scope at a
//! time; answers come back in the order of the keys.

use std::collections::BTreeMap;

use super::{ClaimResult, Claimant, Known, Ledger, LedgerError, LedgerOptions, Location, PhoneKey, Recorded, Scope};

/// A lead as the ledger keys it, within one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadKey<'a> {
    pub project: &'a str,
    pub process: &'a str,
    pub phone: PhoneKey,
}

/// What a sorted batch leaves to write: answers to record, and claims to
/// give back (leads that ended retryable).
#[derive(Debug, Default)]
pub struct Writes {
    /// (project, process) and the answer.
    pub record: Vec<((String, String), Recorded)>,
    pub release: Vec<((String, String), PhoneKey)>,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.record.is_empty() && self.release.is_empty()
    }

    /// How many leads these writes touch.
    pub fn len(&self) -> usize {
        self.record.len() + self.release.len()
    }

    /// Adds later writes (kept in order: the last answer for a key wins).
    pub fn append(&mut self, mut later: Writes) {
        self.record.append(&mut later.record);
        self.release.append(&mut later.release);
    }
}

/// The ledger as one run uses it.
#[derive(Clone)]
pub struct Session {
    ledger: Ledger,
    claimant: Claimant,
    api_url: String,
}

impl Session {
    /// Opens the ledger for a run named `run` (its directory) sending to
    /// `api_url`. Blocks: call it from a plain thread or `spawn_blocking`.
    pub fn open(location: Location, api_url: &str, run: &str, host: &str) -> Result<Session, LedgerError> {
        let ledger = Ledger::open(location, LedgerOptions::default()).wait()?;
        Ok(Session { ledger, claimant: Claimant::this_process(run, host), api_url: api_url.to_owned() })
    }

    /// Where the ledger is, without any password.
    pub fn location(&self) -> &str {
        self.ledger.location()
    }

    /// False once claims are held whose lease could not be renewed in time:
    /// another run may take them, so the run must stop sending.
    pub fn claims_safe(&self) -> bool {
        self.ledger.claims_safe()
    }

    fn scope(&self, project: &str, process: &str) -> Scope {
        Scope::new(self.api_url.clone(), project, process)
    }

    /// What the ledger knows of each key, in the keys' order. Blocks.
    pub fn lookup(&self, keys: &[LeadKey<'_>]) -> Result<Vec<Option<Known>>, LedgerError> {
        let mut out = vec![None; keys.len()];
        for ((project, process), at) in by_scope(keys) {
            let phones = at.iter().map(|&i| keys[i].phone).collect();
            let known = self.ledger.lookup(&self.scope(project, process), phones).wait()?;
            for (i, k) in at.into_iter().zip(known) {
                out[i] = k;
            }
        }
        Ok(out)
    }

    /// Claims the keys for this run, in the keys' order (each scope is one
    /// transaction of the store).
    pub async fn claim(&self, keys: &[LeadKey<'_>]) -> Result<Vec<ClaimResult>, LedgerError> {
        let mut out: Vec<Option<ClaimResult>> = vec![None; keys.len()];
        for ((project, process), at) in by_scope(keys) {
            let phones = at.iter().map(|&i| keys[i].phone).collect();
            let answers = self.ledger.claim(&self.scope(project, process), phones, &self.claimant).await?;
            for (i, a) in at.into_iter().zip(answers) {
                out[i] = Some(a);
            }
        }
        // The store answers every key it is given.
        Ok(out.into_iter().map(|a| a.unwrap_or(ClaimResult::Claimed)).collect())
    }

    /// Records answers and gives back claims, one store transaction per
    /// scope. Blocks.
    pub fn write(&self, writes: Writes) -> Result<(), LedgerError> {
        let mut record: BTreeMap<(String, String), Vec<Recorded>> = BTreeMap::new();
        for (scope, r) in writes.record {
            record.entry(scope).or_default().push(r);
        }
        for ((project, process), outcomes) in record {
            self.ledger.record(&self.scope(&project, &process), outcomes, &self.claimant).wait()?;
        }
        let mut release: BTreeMap<(String, String), Vec<PhoneKey>> = BTreeMap::new();
        for (scope, k) in writes.release {
            release.entry(scope).or_default().push(k);
        }
        for ((project, process), keys) in release {
            self.ledger.release(&self.scope(&project, &process), keys, &self.claimant).wait()?;
        }
        Ok(())
    }
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
