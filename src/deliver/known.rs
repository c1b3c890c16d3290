//! Leads the ledger already knows: what becomes of a row whose lead an
//! earlier run uploaded or the server refused for good. Used where the
//! ledger is asked: before batching (lookups) and before sending (claims).

use std::borrow::Cow;
use std::time::SystemTime;

use super::{Item, Payload};
use crate::ledger::{Known, Outcome};
use crate::output::{Origin, Verdict};
use crate::vocab::Note;

/// The reason code of a row the server refused in an earlier run.
pub const REJECTED_BEFORE: &str = "rejected_before";

/// What to do with a row whose lead the ledger knows.
#[derive(Debug)]
pub enum Route {
    /// Sorted now, not sent.
    Sort(Verdict),
    /// Uploaded earlier without a call, and this run initializes: send its
    /// lead id with `initialize`.
    Initialize(Payload),
    /// An earlier run's answer for it was lost: send it with the may-exist
    /// mark, so that `already exists` means accepted.
    MayExist,
}

/// The route of `item`, which the ledger knows as `known`.
pub fn route(item: &Item, known: &Known, initialize: bool) -> Route {
    let run = &known.recorded_by.run;
    // The day the outcome was first recorded: when it was uploaded.
    let date = day(known.first_seen);
    match (&known.outcome, item.ledger_key()) {
        (Outcome::MayExist, _) => Route::MayExist,
        // Sent by its id, under the lead's own scope (its project and
        // process stay the ledger's key of the lead).
        (Outcome::Accepted { lead_id: Some(id), initialized: false }, Some(key)) if initialize => {
            Route::Initialize(Payload::Initialize {
                lead_id: id.clone(),
                project_id: key.project.to_owned(),
                process_id: key.process.to_owned(),
                phone: item.e164().unwrap_or_default().to_owned(),
            })
        }
        (Outcome::Accepted { lead_id, .. }, _) => Route::Sort(Verdict::Accepted {
            lead_id: lead_id.clone(),
            e164: item.e164().map(str::to_owned),
            note: Note::AlreadyUploaded { run: run.clone(), date },
        }),
        (Outcome::Rejected { code, reason }, _) => Route::Sort(Verdict::Rejected {
            code: Cow::Borrowed(REJECTED_BEFORE),
            reason: format!("{reason} ({} on {date}, run {run}; not sent again)", code.as_str()),
            origin: Origin::Local,
            http_status: None,
        }),
    }
}

/// The UTC date of a time: `2026-11-30`.
fn day(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text.get(..10).unwrap_or(&text).to_owned()
}
