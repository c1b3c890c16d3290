//! Claiming leads in the ledger before they are sent, so that two runs
//! never send one lead at once. The read stage claims each chunk's leads
//! (in the transaction that looks them up); the engine claims what is left
//! before a piece is sent. A lead another live run is sending is left
//! retryable; one a dead run was sending may exist (its answer is as good
//! as lost); one the ledger knows is sorted as the ledger says.

use crate::ledger::{ClaimMode, ClaimResult, Holder, LeadKey, Takeover};
use crate::output::Verdict;

use super::batch::InHand;
use super::known::{Route, route};
use super::{Engine, Item, Payload, Stop};

/// How a lead is claimed: leads sent whatever the ledger knows claim
/// decided keys too, so that two such runs at once do not both send them
/// (a lead initialized by its id; with `--resend-known`, `resend_known`:
/// what the ledger knew when the run started, not what another run
/// delivered since).
pub(crate) fn mode_of(item: &Item, resend_known: Option<ClaimMode>) -> ClaimMode {
    match (&item.payload, resend_known) {
        (Payload::Initialize { .. }, _) => ClaimMode::Initialize,
        (_, Some(mode)) => mode,
        (_, None) => ClaimMode::New,
    }
}

/// The unclaimed keyed items (their indices) to claim, one group per mode.
pub(crate) fn claim_groups(items: &[Item], resend_known: Option<ClaimMode>) -> Vec<(ClaimMode, Vec<usize>)> {
    let mut groups: Vec<(ClaimMode, Vec<usize>)> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        if item.claimed || item.ledger_key().is_none() {
            continue;
        }
        let mode = mode_of(item, resend_known);
        match groups.iter_mut().find(|(m, _)| *m == mode) {
            Some((_, at)) => at.push(n),
            None => groups.push((mode, vec![n])),
        }
    }
    groups
}

/// Where a claimed-for lead goes instead of its batch.
pub(crate) enum Away {
    /// Sorted now, not sent.
    Sort(Verdict),
    /// Sent by its lead id (an earlier upload this run initializes), after
    /// a claim of its own.
    ById(Payload),
}

/// What a claim's answer means for its item: `None` when the item is now
/// this run's to send (marked claimed, and possibly existing), else where
/// it goes instead.
pub(crate) fn apply(item: &mut Item, answer: ClaimResult, initialize: bool) -> Option<Away> {
    match answer {
        ClaimResult::Claimed => item.claimed = true,
        ClaimResult::MayExist => {
            item.claimed = true;
            item.may_exist = true;
        }
        ClaimResult::TakenOver { from, why } => {
            tracing::info!(run = %from.run.run, host = %from.run.host, why = takeover(why), "took over a claim");
            item.claimed = true;
            item.may_exist = true;
        }
        ClaimResult::Known(known) => match route(item, &known, initialize) {
            // Not answered Known in `New` mode: claimed as MayExist.
            Route::MayExist => {
                item.claimed = true;
                item.may_exist = true;
            }
            Route::Sort(v) => return Some(Away::Sort(v)),
            Route::Initialize(p) => return Some(Away::ById(p)),
        },
        ClaimResult::HeldBy(holder) => return Some(Away::Sort(held(&holder, item.may_exist))),
    }
    None
}

impl Engine {
    /// Claims the unclaimed leads of the last piece in hand (the read stage
    /// claims them first; what it left, and leads re-routed since, are
    /// claimed here). Leads that must not be sent leave the piece (sorted,
    /// or sent by id in a piece of their own); a ledger that fails stops
    /// the run. True when the piece is ready to send as it is.
    pub(super) async fn claim_piece(&self, hand: &mut InHand) -> bool {
        let Some((session, _)) = &self.ledger else { return true };
        let Some(piece) = hand.pieces.last_mut() else { return true };
        let resend_known = self.settings.resend_known.then(|| session.known_before_now());
        let mut decisions: Vec<(usize, Away)> = Vec::new();
        for (mode, at) in claim_groups(piece, resend_known) {
            let answers = {
                let keys: Vec<LeadKey<'_>> = at.iter().filter_map(|&n| piece[n].ledger_key()).collect();
                match session.claim(&keys, mode).await {
                    Ok(answers) => answers,
                    Err(e) => {
                        self.set_stop(Stop::Ledger(e.to_string()));
                        return false;
                    }
                }
            };
            for (n, answer) in at.into_iter().zip(answers) {
                if let Some(route) = apply(&mut piece[n], answer, self.settings.initialize) {
                    decisions.push((n, route));
                }
            }
        }
        if decisions.is_empty() {
            return true;
        }
        decisions.sort_by_key(|(n, _)| *n);
        let mut sorted = Vec::new();
        let mut by_id = Vec::new();
        for (n, decision) in decisions.into_iter().rev() {
            let mut item = piece.remove(n);
            match decision {
                Away::Sort(v) => sorted.push((item, v)),
                Away::ById(p) => {
                    item.payload = p;
                    by_id.push(item);
                }
            }
        }
        if piece.is_empty() {
            hand.pieces.pop();
        }
        if !by_id.is_empty() {
            // A piece of its own (a request carries leads or ids, not both),
            // sent after the one in hand.
            let at = hand.pieces.len().saturating_sub(1);
            hand.pieces.insert(at, by_id);
        }
        if !sorted.is_empty() {
            self.sort(sorted).await;
        }
        false
    }
}

/// The row of a lead another live run is sending right now.
/// (A lead that may exist keeps its mark, so that the retryable file, fed
/// back, still takes `already exists` for accepted.)
fn held(h: &Holder, may_exist: bool) -> Verdict {
    Verdict::Retryable {
        reason: format!(
            "not sent: run {} on host {} (pid {}) is sending this lead right now; send it again once that run ended",
            h.run.run, h.run.host, h.pid
        ),
        may_exist,
    }
}

fn takeover(why: Takeover) -> &'static str {
    match why {
        Takeover::LeaseExpired => "its lease ran out",
        Takeover::ProcessGone => "its process is gone",
        Takeover::SameRun => "it is this run's own (resumed)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::RunRef;

    /// A lead another run is sending goes to retryable; one that may exist
    /// keeps its mark there, so the file fed back still confirms it.
    #[test]
    fn a_held_lead_keeps_its_may_exist_mark() {
        let row = crate::input::Row {
            ordinal: 0,
            line: 2,
            bytes: 10,
            raw: crate::input::Raw::Csv(csv::ByteRecord::from(vec!["x"])),
            fields: Err("unused".into()),
            provenance: Default::default(),
        };
        let holder = Holder { run: RunRef { run: "other".into(), host: "h".into() }, pid: 1 };
        for may_exist in [false, true] {
            let mut item = Item::new(row.clone(), Payload::Existing("ld_1".into()), may_exist);
            match apply(&mut item, ClaimResult::HeldBy(holder.clone()), false) {
                Some(Away::Sort(Verdict::Retryable { may_exist: kept, .. })) => assert_eq!(kept, may_exist),
                _ => panic!("a held lead is sorted retryable"),
            }
        }
    }
}
