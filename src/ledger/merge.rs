//! The merge rule of two outcomes of one key, in Rust: what `schema::MERGE_SET`
//! says in SQL, for the places that fold outcomes outside the database (the
//! SQLite store's log, see `sqlite_log.rs`). A test holds the two to the same
//! answers over random sequences (`tests/ledger_store.rs`, both stores).
//!
//! The outcome kept is the one there before when it is an acceptance and
//! the new one is not, or when the new one is "may exist"; otherwise the
//! new one. Acceptances merge (the lead id kept when the new one has none;
//! initialized once means initialized). First and last seen widen. A "seen"
//! mark (a run found the lead in its input) only moves last seen.

use super::types::MAY_EXIST_DB;

/// A key's state as the rule sees it: `T` is how the text (lead id or
/// reason) is held, `R` how the recording run is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State<T, R> {
    /// The outcome, as the stores number it (`OutcomeKind::to_db`); `None`
    /// for a "seen" mark without an outcome.
    pub outcome: Option<i16>,
    pub initialized: bool,
    /// The lead id of an acceptance, the reason of a rejection.
    pub text: Option<T>,
    pub run: R,
    pub first_seen: i64,
    pub last_seen: i64,
}

const ACCEPTED: i16 = 0;

/// The state after `new` happened to a key whose state was `old` (`None`:
/// the ledger did not know it). A "seen" mark on an unknown key leaves it
/// unknown.
pub(crate) fn merge<T: Clone, R: Clone>(old: Option<&State<T, R>>, new: &State<T, R>) -> Option<State<T, R>> {
    let Some(old) = old else {
        return new.outcome.is_some().then(|| new.clone());
    };
    let first_seen = old.first_seen.min(new.first_seen);
    let last_seen = old.last_seen.max(new.last_seen);
    let Some(new_outcome) = new.outcome else {
        return Some(State { first_seen, last_seen, ..old.clone() });
    };
    let Some(old_outcome) = old.outcome else {
        // Seen, but no outcome yet: the new outcome, seen since the first sighting.
        return Some(State { first_seen, last_seen, ..new.clone() });
    };
    let keep_old = (old_outcome == ACCEPTED && new_outcome != ACCEPTED) || new_outcome == MAY_EXIST_DB;
    let merged = if keep_old {
        State { first_seen, last_seen, ..old.clone() }
    } else if old_outcome == ACCEPTED && new_outcome == ACCEPTED {
        State {
            outcome: Some(ACCEPTED),
            initialized: old.initialized || new.initialized,
            text: new.text.clone().or_else(|| old.text.clone()),
            run: new.run.clone(),
            first_seen,
            last_seen,
        }
    } else {
        State { first_seen, last_seen, ..new.clone() }
    };
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(outcome: Option<i16>, text: Option<&'static str>, initialized: bool, at: i64) -> State<&'static str, u8> {
        State { outcome, initialized, text, run: at as u8, first_seen: at, last_seen: at }
    }

    #[test]
    fn the_rule_in_a_table() {
        let accepted = |id, init, at| s(Some(0), id, init, at);
        let rejected = |code, at| s(Some(code), Some("no"), false, at);
        let may = |at| s(Some(MAY_EXIST_DB), None, false, at);
        let seen = |at| s(None, None, false, at);
        // Unknown keys: an outcome is taken, a sighting is not.
        assert_eq!(merge(None, &accepted(Some("a"), false, 1)), Some(accepted(Some("a"), false, 1)));
        assert_eq!(merge(None, &seen(1)), None);
        // A rejection never replaces an acceptance; may-exist replaces nothing.
        let kept = merge(Some(&accepted(Some("a"), false, 1)), &rejected(1, 2)).expect("kept");
        assert_eq!((kept.outcome, kept.text, kept.run, kept.first_seen, kept.last_seen), (Some(0), Some("a"), 1, 1, 2));
        let kept = merge(Some(&rejected(3, 1)), &may(2)).expect("kept");
        assert_eq!((kept.outcome, kept.last_seen), (Some(3), 2));
        // A definite answer replaces may-exist, and a later rejection an earlier one.
        assert_eq!(merge(Some(&may(1)), &rejected(2, 2)).and_then(|m| m.outcome), Some(2));
        assert_eq!(merge(Some(&rejected(2, 1)), &rejected(4, 2)).and_then(|m| m.outcome), Some(4));
        // Acceptances merge.
        let both = merge(Some(&accepted(Some("a"), true, 1)), &accepted(None, false, 2)).expect("merged");
        assert_eq!((both.text, both.initialized, both.run), (Some("a"), true, 2));
        // A sighting moves last seen only.
        let looked = merge(Some(&rejected(2, 1)), &seen(9)).expect("kept");
        assert_eq!((looked.outcome, looked.first_seen, looked.last_seen, looked.run), (Some(2), 1, 9, 1));
    }
}
