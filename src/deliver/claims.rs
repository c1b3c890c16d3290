//! Claiming a batch's leads in the ledger before they are sent, so that two
//! runs never send one lead at once. A lead another live run is sending is
//! left retryable; one a dead run was sending may exist (its answer is as
//! good as lost); one recorded since the lookup is sorted as the ledger says.

use crate::ledger::{ClaimMode, ClaimResult, Holder, LeadKey, Takeover};
use crate::output::Verdict;

use super::batch::InHand;
use super::known::{Route, route};
use super::{Engine, Item, Payload, Stop};

/// What the claim decided for one item of the piece.
enum Decision {
    Sort(Verdict),
    Initialize(super::Payload),
}

impl Engine {
    /// Claims the unclaimed leads of the last piece in hand. Leads that must
    /// not be sent leave the piece (sorted, or sent by id in a piece of
    /// their own); a ledger that fails stops the run. True when the piece
    /// is ready to send as it is.
    pub(super) async fn claim_piece(&self, hand: &mut InHand) -> bool {
        let Some((session, _)) = &self.ledger else { return true };
        let Some(piece) = hand.pieces.last_mut() else { return true };
        // Leads sent whatever the ledger knows claim decided keys too, so
        // that two such runs at once do not both send them: a lead
        // initialized by its id, and with `--resend-known` what the ledger
        // knew when this run started (not what another run delivered since).
        let mode_of = |i: &Item| match i.payload {
            Payload::Initialize { .. } => ClaimMode::Any,
            _ if self.settings.resend_known => session.known_before_now(),
            _ => ClaimMode::New,
        };
        let mut answers: Vec<(usize, ClaimResult)> = Vec::new();
        let mut modes: Vec<ClaimMode> = Vec::new();
        for item in piece.iter().filter(|i| !i.claimed) {
            if !modes.contains(&mode_of(item)) {
                modes.push(mode_of(item));
            }
        }
        for mode in modes {
            let keyed: Vec<(usize, LeadKey<'_>)> = piece
                .iter()
                .enumerate()
                .filter(|(_, i)| !i.claimed && mode_of(i) == mode)
                .filter_map(|(n, i)| i.ledger_key().map(|k| (n, k)))
                .collect();
            if keyed.is_empty() {
                continue;
            }
            let keys: Vec<LeadKey<'_>> = keyed.iter().map(|(_, k)| *k).collect();
            match session.claim(&keys, mode).await {
                Ok(got) => answers.extend(keyed.into_iter().map(|(n, _)| n).zip(got)),
                Err(e) => {
                    self.set_stop(Stop::Ledger(e.to_string()));
                    return false;
                }
            }
        }
        if answers.is_empty() {
            return true;
        }
        answers.sort_by_key(|(n, _)| *n);
        let mut decisions: Vec<(usize, Decision)> = Vec::new();
        for (n, answer) in answers {
            let item = &mut piece[n];
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
                ClaimResult::Known(known) => match route(item, &known, self.settings.initialize) {
                    Route::Sort(v) => decisions.push((n, Decision::Sort(v))),
                    Route::Initialize(p) => decisions.push((n, Decision::Initialize(p))),
                    // Not answered Known in `New` mode: claimed as MayExist.
                    Route::MayExist => {
                        item.claimed = true;
                        item.may_exist = true;
                    }
                },
                ClaimResult::HeldBy(holder) => decisions.push((n, Decision::Sort(held(&holder)))),
            }
        }
        if decisions.is_empty() {
            return true;
        }
        let mut sorted = Vec::new();
        let mut by_id = Vec::new();
        for (n, decision) in decisions.into_iter().rev() {
            let mut item = piece.remove(n);
            match decision {
                Decision::Sort(v) => sorted.push((item, v)),
                Decision::Initialize(p) => {
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
fn held(h: &Holder) -> Verdict {
    Verdict::Retryable {
        reason: format!(
            "not sent: run {} on host {} (pid {}) is sending this lead right now; send it again once that run ended",
            h.run.run, h.run.host, h.pid
        ),
        may_exist: false,
    }
}

fn takeover(why: Takeover) -> &'static str {
    match why {
        Takeover::LeaseExpired => "its lease ran out",
        Takeover::ProcessGone => "its process is gone",
        Takeover::SameRun => "it is this run's own (resumed)",
    }
}
