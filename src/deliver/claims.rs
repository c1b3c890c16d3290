//! Claiming a batch's leads in the ledger before they are sent, so that two
//! runs never send one lead at once. A lead another live run is sending is
//! left retryable; one a dead run was sending may exist (its answer is as
//! good as lost); one recorded since the lookup is sorted as the ledger says.

use crate::ledger::{ClaimResult, Holder, LeadKey, Takeover};
use crate::output::Verdict;

use super::batch::InHand;
use super::known::{Route, route};
use super::{Engine, Stop};

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
        let (at, answers) = {
            let keyed: Vec<(usize, LeadKey<'_>)> = piece
                .iter()
                .enumerate()
                .filter(|(_, i)| !i.claimed)
                .filter_map(|(n, i)| i.ledger_key().map(|k| (n, k)))
                .collect();
            if keyed.is_empty() {
                return true;
            }
            let keys: Vec<LeadKey<'_>> = keyed.iter().map(|(_, k)| *k).collect();
            match session.claim(&keys).await {
                Ok(answers) => (keyed.into_iter().map(|(n, _)| n).collect::<Vec<_>>(), answers),
                Err(e) => {
                    self.set_stop(Stop::Ledger(e.to_string()));
                    return false;
                }
            }
        };
        let mut decisions: Vec<(usize, Decision)> = Vec::new();
        for (n, answer) in at.into_iter().zip(answers) {
            let item = &mut piece[n];
            match answer {
                ClaimResult::Claimed => item.claimed = true,
                ClaimResult::TakenOver { from, why } => {
                    tracing::info!(run = %from.run.run, host = %from.run.host, why = takeover(why), "took over a claim");
                    item.claimed = true;
                    item.may_exist = true;
                }
                // `--resend-known`: sent all the same, and its answer recorded.
                ClaimResult::Known(_) if self.settings.resend_known => item.claimed = true,
                ClaimResult::Known(known) => match route(item, &known, self.settings.initialize) {
                    Route::Sort(v) => decisions.push((n, Decision::Sort(v))),
                    Route::Initialize(p) => decisions.push((n, Decision::Initialize(p))),
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
