//! Answers into sorted rows: a 200's leads to accepted or rejected (an
//! "already exists" for a lead that may exist is the lost response it
//! confirms), a 404's process rejected, and leads of a process the server
//! already refused never sent.

use std::borrow::Cow;

use super::batch::InHand;
use super::{Engine, Item, Payload};
use crate::api::{self, ItemKey, ItemResult};
use crate::output::{Origin, Verdict};
use crate::vocab::Note;

impl Engine {
    /// Sorts a 200 answer: created leads accepted, refused ones rejected,
    /// except an "already exists" for a lead an earlier attempt may have
    /// created, which that attempt did create: accepted, with a note. A lead
    /// the answer does not mention may exist: retryable, marked so.
    pub(super) async fn sort_answer(&self, items: Vec<Item>, response: api::BulkResponse) {
        let keys: Vec<ItemKey<'_>> = items.iter().map(Item::answer_key).collect();
        let results = api::match_results(&keys, response);
        drop(keys);
        let rows = items.into_iter().zip(results).map(|(item, result)| {
            let verdict = verdict(&item, result);
            (item, verdict)
        });
        self.sort(rows.collect()).await;
    }

    /// A 404 for a process of the last piece in hand: its leads are
    /// rejected, later rows of it are rejected locally, the rest stays in
    /// hand to be sent again.
    pub(super) async fn drop_process(&self, hand: &mut InHand, process_id: String) {
        self.unknown.write().unwrap_or_else(|e| e.into_inner()).insert(process_id.clone());
        let _ = self.out.journal(crate::journal::Entry::ProcessNotFound { process_id: process_id.clone() }).await;
        let Some(piece) = hand.pieces.pop() else { return };
        let (gone, rest): (Vec<Item>, Vec<Item>) =
            piece.into_iter().partition(|i| i.process_id() == Some(process_id.as_str()));
        if !rest.is_empty() {
            hand.pieces.push(rest);
        }
        let message = api::msg::process_not_found(&process_id);
        let rows = gone.into_iter().map(|i| {
            let v = Verdict::Rejected {
                code: Cow::Borrowed("process_not_found"),
                reason: message.clone(),
                origin: Origin::Server,
                http_status: Some(404),
            };
            (i, v)
        });
        self.sort(rows.collect()).await;
    }

    /// Leads of a process the server already answered 404 for never leave.
    pub(super) async fn drop_unknown_processes(&self, hand: &mut InHand) {
        let (gone, keep): (Vec<Item>, Vec<Item>) = {
            let unknown = self.unknown.read().unwrap_or_else(|e| e.into_inner());
            if unknown.is_empty() {
                return;
            }
            let Some(piece) = hand.pieces.pop() else { return };
            piece.into_iter().partition(|i| i.process_id().is_some_and(|p| unknown.contains(p)))
        };
        if !keep.is_empty() {
            hand.pieces.push(keep);
        }
        if gone.is_empty() {
            return;
        }
        let rows = gone.into_iter().map(|i| {
            let process = i.process_id().unwrap_or_default();
            let v = Verdict::Rejected {
                code: Cow::Borrowed("unknown_process"),
                reason: format!("process {process} was answered 404 (Process not found) earlier in this run"),
                origin: Origin::Local,
                http_status: None,
            };
            (i, v)
        });
        self.sort(rows.collect()).await;
    }
}

/// Where one lead of a 200 answer goes.
fn verdict(item: &Item, result: Option<ItemResult>) -> Verdict {
    let e164 = item.e164().map(str::to_owned);
    match result {
        Some(ItemResult::Created { lead_id }) => {
            let lead_id = lead_id.or_else(|| item.lead_id().map(str::to_owned));
            let note = match item.payload {
                Payload::Initialize { .. } => Note::InitializedEarlierUpload,
                _ => Note::Created,
            };
            Verdict::Accepted { lead_id, e164, note }
        }
        Some(ItemResult::Refused { message }) if item.may_exist && message.ends_with(api::msg::ALREADY_EXISTS_TAIL) => {
            Verdict::Accepted { lead_id: None, e164, note: Note::LostResponseConfirmed }
        }
        Some(ItemResult::Refused { message }) => Verdict::Rejected {
            code: Cow::Borrowed(api::server_code(&message)),
            reason: message,
            origin: Origin::Server,
            http_status: Some(200),
        },
        None => Verdict::Retryable { reason: "the server's answer did not mention this lead".into(), may_exist: true },
    }
}
