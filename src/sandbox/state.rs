//! The lead memory: created leads keyed by (process, phone), their ids,
//! and the phones with a call attempt. One project per sandbox, so the
//! project is implicit in every key.
//!
//! Compact on purpose (a phone is its E.164 digits as an integer, a
//! generated id is its ULID), so a rehearsal with a million rows stays
//! small.

use std::collections::{HashMap, HashSet};

use ulid::Ulid;

use super::snapshot::LeadSnapshot;
use crate::phone;

/// Prefix of every lead id the sandbox makes.
pub(crate) const LEAD_ID_PREFIX: &str = "ld_";

/// A lead id: generated (`ld_` + ULID) or given by `--preexisting`.
#[derive(Debug, Clone)]
enum LeadId {
    Generated(Ulid),
    Given(Box<str>),
}

impl std::fmt::Display for LeadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeadId::Generated(u) => write!(f, "{LEAD_ID_PREFIX}{u}"),
            LeadId::Given(s) => f.write_str(s),
        }
    }
}

#[derive(Debug)]
struct LeadRecord {
    id: LeadId,
    process: u32,
    phone: u64,
    times_created: u32,
    initialized: bool,
    preexisting: bool,
}

/// The leads of the project and its call attempts.
#[derive(Debug, Default)]
pub(crate) struct Store {
    leads: Vec<LeadRecord>,
    by_phone: HashMap<(u32, u64), usize>,
    by_ulid: HashMap<Ulid, usize>,
    by_given: HashMap<Box<str>, usize>,
    call_attempts: HashSet<u64>,
}

/// What a `leadIds` item refers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeadRef(usize);

impl Store {
    /// The lead for (process index, phone), if any.
    pub fn find(&self, process: usize, phone: &phone::Phone) -> Option<LeadRef> {
        self.by_phone.get(&(index(process), phone.key())).copied().map(LeadRef)
    }

    /// Whether the project made a call attempt to this phone.
    pub fn call_attempted(&self, phone: &phone::Phone) -> bool {
        self.call_attempts.contains(&phone.key())
    }

    /// Creates a lead through the API; returns its new id. The caller has
    /// checked that it does not exist.
    pub fn create(&mut self, process: usize, phone: &phone::Phone, initialize: bool) -> String {
        let id = Ulid::new();
        let at = self.insert(LeadId::Generated(id), process, phone.key(), initialize, false);
        self.by_ulid.insert(id, at);
        self.leads[at].id.to_string()
    }

    /// Loads a lead that exists before the sandbox starts. Returns false
    /// when (process, phone) or the id is already taken.
    pub fn preload(&mut self, id: Option<&str>, process: usize, phone: &phone::Phone, initialized: bool) -> bool {
        if self.find(process, phone).is_some() || id.is_some_and(|id| self.by_id(id).is_some()) {
            return false;
        }
        match id {
            Some(id) => {
                let at = self.insert(LeadId::Given(id.into()), process, phone.key(), initialized, true);
                self.by_given.insert(id.into(), at);
            }
            None => {
                let u = Ulid::new();
                let at = self.insert(LeadId::Generated(u), process, phone.key(), initialized, true);
                self.by_ulid.insert(u, at);
            }
        }
        true
    }

    fn insert(&mut self, id: LeadId, process: usize, phone: u64, initialized: bool, pre: bool) -> usize {
        let at = self.leads.len();
        let process = index(process);
        self.leads.push(LeadRecord {
            id,
            process,
            phone,
            times_created: u32::from(!pre),
            initialized,
            preexisting: pre,
        });
        self.by_phone.insert((process, phone), at);
        if initialized {
            self.call_attempts.insert(phone);
        }
        at
    }

    /// The lead with this id, exactly as written.
    pub fn by_id(&self, id: &str) -> Option<LeadRef> {
        let generated = id
            .strip_prefix(LEAD_ID_PREFIX)
            .and_then(|rest| Ulid::from_string(rest).ok().filter(|u| u.to_string() == rest))
            .and_then(|u| self.by_ulid.get(&u));
        generated.or_else(|| self.by_given.get(id)).copied().map(LeadRef)
    }

    /// Whether the project made a call attempt to this lead's phone.
    pub fn lead_call_attempted(&self, lead: LeadRef) -> bool {
        self.call_attempts.contains(&self.leads[lead.0].phone)
    }

    /// Whether the lead is initialized.
    pub fn initialized(&self, lead: LeadRef) -> bool {
        self.leads[lead.0].initialized
    }

    /// Initializes a lead and records the call attempt to its phone.
    pub fn initialize(&mut self, lead: LeadRef) {
        let record = &mut self.leads[lead.0];
        record.initialized = true;
        self.call_attempts.insert(record.phone);
    }

    /// Every lead, in creation order.
    pub fn snapshot(&self, project_id: &str, processes: &[String]) -> Vec<LeadSnapshot> {
        self.leads
            .iter()
            .map(|l| LeadSnapshot {
                lead_id: l.id.to_string(),
                project_id: project_id.to_owned(),
                process_id: processes.get(l.process as usize).cloned().unwrap_or_default(),
                phone_number: e164(l.phone),
                times_created: l.times_created,
                initialized: l.initialized,
                preexisting: l.preexisting,
            })
            .collect()
    }

    /// The phones with a call attempt, E.164, sorted.
    pub fn call_attempts(&self) -> Vec<String> {
        let mut keys: Vec<u64> = self.call_attempts.iter().copied().collect();
        keys.sort_unstable();
        keys.into_iter().map(e164).collect()
    }
}

/// E.164 from its digits: exact, since no country code starts with 0.
fn e164(key: u64) -> String {
    format!("+{key}")
}

fn index(process: usize) -> u32 {
    u32::try_from(process).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(raw: &str) -> phone::Phone {
        phone::parse(raw, phone::Region::US).expect("valid test number")
    }

    #[test]
    fn create_find_and_ids() {
        let mut s = Store::default();
        let p = phone("+14155552671");
        let id = s.create(0, &p, false);
        assert!(id.starts_with("ld_") && id.len() == 29);
        assert!(s.find(0, &p).is_some() && s.find(1, &p).is_none());
        assert!(s.by_id(&id).is_some());
        assert!(s.by_id(&id.to_lowercase()).is_none(), "ids are exact");
        assert!(!s.call_attempted(&p));
        let lead = s.by_id(&id).expect("just made");
        s.initialize(lead);
        assert!(s.call_attempted(&p) && s.initialized(lead));
        let snap = s.snapshot("prj", &["proc".into()]);
        assert_eq!(snap[0].phone_number, "+14155552671");
        assert_eq!((snap[0].times_created, snap[0].preexisting), (1, false));
    }

    #[test]
    fn preload_refuses_duplicates() {
        let mut s = Store::default();
        let p = phone("+442079460958");
        assert!(s.preload(Some("ld_given"), 1, &p, true));
        assert!(!s.preload(None, 1, &p, false));
        assert!(!s.preload(Some("ld_given"), 0, &phone("+14155552671"), false));
        assert!(s.by_id("ld_given").is_some());
        assert_eq!(s.call_attempts(), vec!["+442079460958".to_owned()]);
        assert_eq!(s.snapshot("prj", &["a".into(), "b".into()])[0].times_created, 0);
    }
}
