//! The reading stage's question to the ledger: before valid leads are
//! batched, the ones an earlier run delivered or the server refused for
//! good are sorted at once and never sent. A run that sends claims each
//! chunk's leads in the transaction that looks them up (one per chunk and
//! scope), so they are this run's from then until their answers are
//! recorded; a dry run only looks.

use crate::deliver::claims::{Away, apply, claim_groups};
use crate::deliver::known::{Route, route};
use crate::deliver::{Item, Payload};
use crate::input::Row;
use crate::ledger::{Known, LeadKey, LedgerError, Session, Writes};
use crate::output::Verdict;

/// A chunk's valid items as the ledger decided them: those to send, and the
/// rows sorted now.
pub(super) type Decided = (Vec<Item>, Vec<(Row, Verdict)>);

/// The ledger, as the reading stage asks it.
pub(super) struct Lookups {
    /// Claim the leads (a run that sends), or only look them up.
    pub(super) claim: bool,
    /// `--resend-known`: leads the ledger knew when the run started are
    /// claimed and sent all the same.
    pub(super) resend_known: bool,
    pub(super) session: Session,
    /// `--initialize`: leads uploaded earlier without a call are sent by id.
    pub(super) initialize: bool,
    /// Found leads are marked seen today (a run that sends does; a dry run
    /// only looks).
    pub(super) seen: bool,
}

impl Lookups {
    /// What the ledger knows of each item (items without a key: nothing).
    pub(super) fn lookup(&self, items: &[Item]) -> Result<Vec<Option<Known>>, LedgerError> {
        let keyed: Vec<(usize, LeadKey<'_>)> =
            items.iter().enumerate().filter_map(|(i, it)| it.ledger_key().map(|k| (i, k))).collect();
        let keys: Vec<LeadKey<'_>> = keyed.iter().map(|(_, k)| *k).collect();
        let known = self.session.lookup(&keys, self.seen)?;
        let mut out = vec![None; items.len()];
        for ((i, _), k) in keyed.into_iter().zip(known) {
            out[i] = k;
        }
        Ok(out)
    }

    /// Claims a chunk's valid items: those this run now holds are to send,
    /// the rest are decided now (known, or being sent by another run).
    /// Earlier uploads this run initializes are claimed by their id.
    pub(super) fn claim(&self, mut items: Vec<Item>) -> Result<Decided, (LedgerError, Vec<Item>)> {
        let resend_known = self.resend_known.then(|| self.session.known_before_now());
        let mut away: Vec<Option<Away>> = (0..items.len()).map(|_| None).collect();
        // Two rounds: leads, then the earlier uploads re-routed by id.
        for _ in 0..2 {
            let groups = claim_groups(&items, resend_known);
            if groups.is_empty() {
                break;
            }
            for (mode, at) in groups {
                let answers = {
                    let keys: Vec<LeadKey<'_>> = at.iter().filter_map(|&n| items[n].ledger_key()).collect();
                    self.session.claim_wait(&keys, mode)
                };
                let answers = match answers {
                    Ok(answers) => answers,
                    Err(e) => {
                        self.give_back(&items);
                        return Err((e, items));
                    }
                };
                for (n, answer) in at.into_iter().zip(answers) {
                    match apply(&mut items[n], answer, self.initialize) {
                        Some(Away::ById(payload)) => items[n].payload = payload,
                        other => away[n] = other,
                    }
                }
            }
        }
        // Most chunks: every lead is this run's to send, as it came.
        let by_id = items.iter().any(|i| matches!(i.payload, Payload::Initialize { .. }));
        if !by_id && away.iter().all(Option::is_none) {
            return Ok((items, Vec::new()));
        }
        let mut send = Vec::with_capacity(items.len());
        let mut sorted = Vec::new();
        for (item, away) in items.into_iter().zip(away) {
            match away {
                Some(Away::Sort(verdict)) => sorted.push((item.row, verdict)),
                _ => send.push(item),
            }
        }
        // Lead ids and leads go in separate requests: the ids (a few) first.
        send.sort_by_key(|i| !matches!(i.payload, Payload::Initialize { .. }));
        Ok((send, sorted))
    }

    /// Gives back the claims a chunk's items hold after a later claim of the
    /// chunk failed (they go to retryable unsent); a ledger that fails again
    /// leaves them to lapse when this process ends.
    fn give_back(&self, items: &[Item]) {
        let mut writes = Writes::default();
        for item in items.iter().filter(|i| i.claimed) {
            if let Some(key) = item.ledger_key() {
                writes.release(key);
            }
        }
        if !writes.is_empty() {
            let _ = self.session.write(writes);
        }
    }

    /// Looks a chunk's valid items up, read only (a dry run): those still to
    /// send, and those decided now.
    pub(super) fn look(&self, items: Vec<Item>) -> Result<Decided, (LedgerError, Vec<Item>)> {
        match self.lookup(&items) {
            Ok(known) => Ok(self.split(items, known)),
            Err(e) => Err((e, items)),
        }
    }

    /// Splits a chunk's valid items, by what the ledger knows of each, into
    /// those still to send and the rows decided now.
    pub(super) fn split(&self, items: Vec<Item>, known: Vec<Option<Known>>) -> (Vec<Item>, Vec<(Row, Verdict)>) {
        let mut send = Vec::with_capacity(items.len());
        let mut sorted = Vec::new();
        for (mut item, known) in items.into_iter().zip(known) {
            match known.map(|k| route(&item, &k, self.initialize)) {
                None => send.push(item),
                Some(Route::Sort(verdict)) => sorted.push((item.row, verdict)),
                Some(Route::Initialize(payload)) => {
                    item.payload = payload;
                    send.push(item);
                }
                Some(Route::MayExist) => {
                    item.may_exist = true;
                    send.push(item);
                }
            }
        }
        // Lead ids and leads go in separate requests: the ids (a few) first.
        send.sort_by_key(|i| !matches!(i.payload, Payload::Initialize { .. }));
        (send, sorted)
    }
}
