//! The reading stage's question to the ledger: before valid leads are
//! batched, the ones an earlier run delivered or the server refused for
//! good are sorted at once and never sent (one lookup per chunk, each
//! scope one query).

use crate::deliver::known::{Route, route};
use crate::deliver::{Item, Payload};
use crate::input::Row;
use crate::ledger::{Known, LeadKey, LedgerError, Session};
use crate::output::Verdict;

/// The ledger, as the reading stage asks it.
pub(super) struct Lookups {
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
