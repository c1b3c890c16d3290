//! What the sandbox saw, for the state report: the log of bulk requests,
//! the leads that got a per-lead error (as the server knows it, and as the
//! client was told it), and the leads sent again after being told.

use std::collections::{HashMap, HashSet};

use super::snapshot::{RequestRecord, ResentLead};
use super::validate::LeadKey;

#[derive(Debug, Default)]
pub(crate) struct History {
    requests: Vec<RequestRecord>,
    /// Every lead the server refused, even when the answer was lost: what
    /// duplicate protection knows.
    refused: HashSet<LeadKey>,
    /// The refused leads whose error reached the client (the answer was
    /// sent, not lost): re-sending one of these is the client's fault.
    told: HashSet<LeadKey>,
    /// Re-sent leads in order of first re-send, with counts.
    resent: Vec<(LeadKey, u64)>,
    resent_at: HashMap<LeadKey, usize>,
}

impl History {
    /// The `seq` of the next request.
    pub fn next_seq(&self) -> u64 {
        self.requests.len() as u64
    }

    /// Appends a handled request to the log.
    pub fn push(&mut self, record: RequestRecord) {
        self.requests.push(record);
    }

    /// Counts the items of an arriving request that the client had already
    /// been told were refused.
    pub fn note_arrivals(&mut self, keys: &[LeadKey]) {
        for key in keys.iter().filter(|k| self.told.contains(*k)) {
            match self.resent_at.get(key) {
                Some(&at) => self.resent[at].1 += 1,
                None => {
                    self.resent_at.insert(key.clone(), self.resent.len());
                    self.resent.push((key.clone(), 1));
                }
            }
        }
    }

    /// Whether any of these leads was refused before.
    pub fn any_refused(&self, keys: &[LeadKey]) -> bool {
        keys.iter().any(|k| self.refused.contains(k))
    }

    /// Remembers leads the server refused.
    pub fn refused(&mut self, keys: &[LeadKey]) {
        self.refused.extend(keys.iter().cloned());
    }

    /// Remembers refused leads whose error was delivered to the client.
    pub fn told(&mut self, keys: &[LeadKey]) {
        self.told.extend(keys.iter().cloned());
    }

    /// The request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests.clone()
    }

    /// The re-sent leads, for the report.
    pub fn resent(&self) -> Vec<ResentLead> {
        self.resent
            .iter()
            .map(|(key, count)| match key {
                LeadKey::Phone { process_id, phone } => ResentLead {
                    process_id: Some(process_id.clone()).filter(|p| !p.is_empty()),
                    phone_number: Some(phone.clone()).filter(|p| !p.is_empty()),
                    lead_id: None,
                    count: *count,
                },
                LeadKey::Id(id) => {
                    ResentLead { process_id: None, phone_number: None, lead_id: Some(id.clone()), count: *count }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(phone: &str) -> LeadKey {
        LeadKey::Phone { process_id: "p".into(), phone: phone.into() }
    }

    #[test]
    fn only_leads_the_client_was_told_about_count_as_resent() {
        let mut l = History::default();
        l.refused(&[key("+1"), key("+2")]);
        l.told(&[key("+1")]);
        l.note_arrivals(&[key("+1"), key("+2"), key("+3"), key("+1")]);
        l.note_arrivals(&[LeadKey::Id("ld_x".into())]);
        let resent = l.resent();
        assert_eq!(resent.len(), 1);
        assert_eq!((resent[0].phone_number.as_deref(), resent[0].count), (Some("+1"), 2));
        assert!(l.any_refused(&[key("+2")]) && !l.any_refused(&[key("+3")]));
    }
}
