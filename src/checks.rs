//! Local checks: every rule a row must pass before it may be sent, with the
//! stable reason codes of the spec's "Local checks" table.
//!
//! A chunk of rows is checked in two passes. The stateless rules (phone
//! parsing, which dominates the cost, and the field limits) run in parallel
//! with rayon. The stateful rules (the project of the first row, in-file
//! duplicates, calls already queued, processes the server refused) then run
//! in input order, so the outcome never depends on thread timing. A row
//! failing several rules lists every code, one [`Reject`] per code.
//!
//! The in-file duplicate memory holds no strings: see `dups.rs` for its
//! keys and its size (about 22 bytes a distinct lead at 5 million leads).

mod dups;
mod mangled;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use rayon::prelude::*;
use serde_json::Value;

use crate::api::{self, limits};
use crate::input::{Fields, Row};
use crate::phone::{self, PhoneError, Region};

use self::dups::{DupTable, Interner, hash_str};

/// The reason codes of local rejections.
pub mod code {
    pub const MALFORMED_ROW: &str = "malformed_row";
    pub const MISSING_PHONE: &str = "missing_phone";
    pub const INVALID_PHONE: &str = "invalid_phone";
    /// A phone a spreadsheet turned into a number and damaged: more than 15
    /// digits in a number cell, or text in scientific notation.
    pub const SPREADSHEET_MANGLED_PHONE: &str = "spreadsheet_mangled_phone";
    pub const REPEATING_DIGITS: &str = "repeating_digits";
    pub const MISSING_PROCESS: &str = "missing_process";
    pub const MISSING_PROJECT: &str = "missing_project";
    pub const PROJECT_MISMATCH: &str = "project_mismatch";
    pub const INVALID_EMAIL: &str = "invalid_email";
    pub const FIELD_TOO_LONG: &str = "field_too_long";
    pub const TOO_MANY_CUSTOM_FIELDS: &str = "too_many_custom_fields";
    pub const DUPLICATE_IN_FILE: &str = "duplicate_in_file";
    pub const CALL_ALREADY_QUEUED: &str = "call_already_queued";
    pub const UNKNOWN_PROCESS: &str = "unknown_process";
    /// `upload --existing`: a row without a lead id.
    pub const MISSING_LEAD_ID: &str = "missing_lead_id";

    /// The order codes are listed in on a row that breaks several rules:
    /// the API's own order (missing fields, then the phone, then the other
    /// fields, then duplicates and calls), so the first code is the one the
    /// server would have answered.
    pub const ORDER: [&str; 15] = [
        MALFORMED_ROW,
        MISSING_LEAD_ID,
        MISSING_PHONE,
        MISSING_PROCESS,
        MISSING_PROJECT,
        SPREADSHEET_MANGLED_PHONE,
        INVALID_PHONE,
        REPEATING_DIGITS,
        PROJECT_MISMATCH,
        UNKNOWN_PROCESS,
        INVALID_EMAIL,
        FIELD_TOO_LONG,
        TOO_MANY_CUSTOM_FIELDS,
        DUPLICATE_IN_FILE,
        CALL_ALREADY_QUEUED,
    ];

    /// A code's place in [`ORDER`].
    pub(super) fn rank(code: &str) -> usize {
        ORDER.iter().position(|c| *c == code).unwrap_or(ORDER.len())
    }
}

/// One broken rule: a stable code and a message for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: &'static str,
    pub message: String,
}

/// The settings the checks depend on.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// `--project-id`: every row's project, and what a row's own must equal.
    pub project_id: Option<String>,
    /// `--process-id`: the process of rows without one.
    pub process_id: Option<String>,
    /// `--default-region`: for numbers written without `+`.
    pub default_region: Region,
    /// `--initialize`: enables `call_already_queued`.
    pub initialize: bool,
    /// `upload --existing`: rows are lead ids.
    pub existing: bool,
    /// Whether a row needs a project (`missing_project`). `validate` with no
    /// project configured skips the rule: the rows will not be sent as they are.
    pub require_project: bool,
    /// Whether a row needs a process (`missing_process`). `validate` with no
    /// process anywhere (no `--process-id`, no process column) skips it.
    pub require_process: bool,
}

/// What the checks made of one row.
// Most rows are leads: boxing the large variant would cost an allocation
// a row to save space in the rare rejected ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// A lead to send: phone in E.164, project and process resolved.
    Lead(api::Lead),
    /// `--existing`: a lead id to send.
    Existing(String),
    /// Every rule the row broke, one entry a code, in the API's order
    /// (see [`code::ORDER`]): the first is the row's main reason.
    Rejected(Vec<Reject>),
}

/// Processes the server answered 404 for in this run (filled by delivery).
pub type UnknownProcesses = Arc<RwLock<HashSet<String>>>;

/// Judges rows in input order, remembering what the stateful rules need.
pub struct Checker {
    settings: Arc<CheckSettings>,
    unknown: UnknownProcesses,
    memory: Memory,
}

impl Checker {
    pub fn new(settings: CheckSettings, unknown: UnknownProcesses) -> Checker {
        Checker { settings: Arc::new(settings), unknown, memory: Memory::default() }
    }

    /// The settings, for running [`Checker::precheck`] on another thread.
    pub fn settings(&self) -> Arc<CheckSettings> {
        Arc::clone(&self.settings)
    }

    /// Stage one, on any thread: the stateless rules of a chunk (phone
    /// parsing, field limits), in parallel with rayon. Its result goes to
    /// [`Checker::judge`] in input order.
    /// The lead's values are moved out of each row's `fields`; `raw` and
    /// `line`, which the output files use, are left as they were.
    pub fn precheck(settings: &CheckSettings, rows: &mut [Row]) -> Prechecked {
        Prechecked(rows.par_iter_mut().with_min_len(128).map(|row| Pre::new(row, settings)).collect())
    }

    /// Stage two, in input order: the stateful rules (first-row project,
    /// duplicates, unknown processes). One result per row of the chunk.
    pub fn judge(&mut self, pre: Prechecked) -> Vec<Checked> {
        let settings = &*self.settings;
        let unknown = Arc::clone(&self.unknown);
        // A poisoned lock still holds a usable set: the writer only inserts.
        let unknown = unknown.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.memory.touch(&pre.0);
        pre.0.into_iter().map(|p| self.memory.judge(p, settings, &unknown)).collect()
    }

    /// Checks a chunk of rows in input order: the stateless part (phone
    /// parsing, field limits) in parallel with rayon, then the stateful part
    /// (first-row project, duplicates, unknown processes) sequentially in
    /// order. Returns one result per row, in the rows' order.
    /// (For callers that keep their rows whole: this copies the chunk first.)
    pub fn check_chunk(&mut self, rows: &[Row]) -> Vec<Checked> {
        let mut rows = rows.to_vec();
        let pre = Checker::precheck(&self.settings, &mut rows);
        self.judge(pre)
    }
}

/// The stateless verdicts on a chunk of rows, in the rows' order; owned,
/// so the stages can run on different threads.
pub struct Prechecked(Vec<Pre>);

/// The stateless verdict on one row.
struct Pre {
    line: u32,
    rejects: Vec<Reject>,
    kind: PreKind,
}

#[allow(clippy::large_enum_variant)] // as `Checked`: most rows are `New`
enum PreKind {
    /// `fields` was `Err`: `rejects` holds the `malformed_row`.
    Malformed,
    /// `--existing`: the id and its 64-bit hash, if the row has one.
    Existing(Option<(String, u64)>),
    New {
        /// The lead, built only when no stateless rule failed.
        lead: Option<api::Lead>,
        /// The row's own `projectId`, for the first-row rule.
        own_project: Option<String>,
        /// The process of a row without a lead (a lead holds its own).
        process: Option<String>,
        /// [`phone::Phone::key`], when the number is valid.
        phone: Option<u64>,
    },
}

impl Pre {
    /// Judges one row. The lead's values are moved out of `row.fields`
    /// (the output files use `row.raw`, never the fields), so a valid row
    /// costs no copy of its strings.
    fn new(row: &mut Row, settings: &CheckSettings) -> Pre {
        let line = u32::try_from(row.line).unwrap_or(u32::MAX);
        let fields = match &mut row.fields {
            Ok(fields) => fields,
            Err(reason) => {
                let rejects = vec![reject(code::MALFORMED_ROW, reason.clone())];
                return Pre { line, rejects, kind: PreKind::Malformed };
            }
        };
        let mut rejects = Vec::new();
        if settings.existing {
            let id = fields.lead_id.as_deref().map(|id| (id.to_owned(), hash_str(id)));
            if id.is_none() {
                rejects.push(reject(code::MISSING_LEAD_ID, "no leadId".into()));
            }
            return Pre { line, rejects, kind: PreKind::Existing(id) };
        }

        // A damaged number is not parsed: its digits are not the phone's.
        let mangled = fields.phone.as_deref().and_then(|raw| mangled::reason(raw, fields.phone_cell));
        let phone = match (fields.phone.as_deref(), mangled) {
            (_, Some(reason)) => {
                rejects.push(reject(code::SPREADSHEET_MANGLED_PHONE, reason));
                None
            }
            (None, None) => {
                rejects.push(phone_reject(PhoneError::Missing, "", settings.default_region));
                None
            }
            (Some(raw), None) => {
                let region = settings.default_region;
                phone::parse(raw, region).map_err(|e| rejects.push(phone_reject(e, raw, region))).ok()
            }
        };
        let process: Option<String> = fields.process_id.take().or_else(|| settings.process_id.clone());
        if process.is_none() && settings.require_process {
            rejects.push(reject(code::MISSING_PROCESS, "no processId and no --process-id".into()));
        }
        let process = process.or_else(|| (!settings.require_process).then(String::new));
        let own_project: Option<String> = fields.project_id.take();
        match (own_project.as_deref(), settings.project_id.as_deref()) {
            (None, None) if settings.require_project => {
                rejects.push(reject(code::MISSING_PROJECT, "no projectId and no --project-id".into()))
            }
            (Some(own), Some(wanted)) if own != wanted => rejects.push(reject(
                code::PROJECT_MISMATCH,
                format!("projectId \"{own}\" differs from --project-id \"{wanted}\""),
            )),
            _ => {}
        }
        field_rules(fields, &mut rejects);

        let phone_key = phone.as_ref().map(phone::Phone::key);
        let project = own_project.as_deref().or(settings.project_id.as_deref());
        let project = project.or((!settings.require_project).then_some(""));
        // The lead takes the process; `process` keeps it only for a row
        // without a lead (one copy less a row).
        let (lead, process) = match (phone, process, project) {
            (Some(phone), Some(process), Some(project)) if rejects.is_empty() => (
                Some(api::Lead {
                    project_id: project.to_owned(),
                    process_id: process,
                    phone_number: phone.e164,
                    first_name: fields.first_name.take(),
                    last_name: fields.last_name.take(),
                    email: fields.email.take(),
                    external_id: fields.external_id.take(),
                    custom_fields: std::mem::take(&mut fields.custom),
                }),
                None,
            ),
            (_, process, _) => (None, process),
        };
        Pre { line, rejects, kind: PreKind::New { lead, own_project, process, phone: phone_key } }
    }
}

fn reject(code: &'static str, message: String) -> Reject {
    Reject { code, message }
}

/// The rejection of a phone value; `region` is the one a number without a
/// leading `+` is read in (`--default-region`), named when it decided.
fn phone_reject(e: PhoneError, raw: &str, region: phone::Region) -> Reject {
    match e {
        PhoneError::Missing => reject(code::MISSING_PHONE, "no phone number".into()),
        PhoneError::Unparseable => reject(code::INVALID_PHONE, format!("\"{raw}\" is not a phone number")),
        PhoneError::Invalid if raw.trim_start().starts_with('+') => {
            reject(code::INVALID_PHONE, format!("\"{raw}\" is not a valid phone number for its country code"))
        }
        PhoneError::Invalid => reject(
            code::INVALID_PHONE,
            format!(
                "\"{raw}\" is not a valid phone number in region {region} (a number without a leading + is read in \
                 --default-region, here {region}); for numbers of another region pass --default-region CODE (GB, \
                 DE, ...), or write the number with + and its country code"
            ),
        ),
        PhoneError::RepeatingDigits => {
            reject(code::REPEATING_DIGITS, format!("\"{raw}\" is a repeating digits pattern, which the API refuses"))
        }
    }
}

/// Email, lengths and custom fields (`api-contract.md`, lead table).
fn field_rules(fields: &Fields, rejects: &mut Vec<Reject>) {
    let mut too_long: Vec<String> = Vec::new();
    for (name, value) in [("firstName", &fields.first_name), ("lastName", &fields.last_name)] {
        if let Some(n) = value.as_deref().and_then(|v| chars_over(v, limits::NAME_CHARS)) {
            too_long.push(format!("{name} has {n} characters, at most {}", limits::NAME_CHARS));
        }
    }
    if let Some(email) = fields.email.as_deref() {
        if let Some(n) = chars_over(email, limits::EMAIL_CHARS) {
            too_long.push(format!("email has {n} characters, at most {}", limits::EMAIL_CHARS));
        } else if !is_email(email) {
            rejects.push(reject(code::INVALID_EMAIL, format!("\"{email}\" is not an email address")));
        }
    }
    for (key, value) in &fields.custom {
        if let Some(n) = chars_over(key, limits::CUSTOM_KEY_CHARS) {
            too_long
                .push(format!("custom field name \"{key}\" has {n} characters, at most {}", limits::CUSTOM_KEY_CHARS));
        }
        if let Value::String(s) = value
            && let Some(n) = chars_over(s, limits::CUSTOM_VALUE_CHARS)
        {
            too_long.push(format!("custom field \"{key}\" has {n} characters, at most {}", limits::CUSTOM_VALUE_CHARS));
        }
    }
    if !too_long.is_empty() {
        rejects.push(reject(code::FIELD_TOO_LONG, too_long.join("; ")));
    }
    if fields.custom.len() > limits::CUSTOM_FIELDS {
        rejects.push(reject(
            code::TOO_MANY_CUSTOM_FIELDS,
            format!("{} custom fields, at most {}", fields.custom.len(), limits::CUSTOM_FIELDS),
        ));
    }
}

/// The number of characters of `s` when over `limit`.
fn chars_over(s: &str, limit: usize) -> Option<usize> {
    if s.len() <= limit {
        return None; // bytes >= characters
    }
    let n = s.chars().count();
    (n > limit).then_some(n)
}

/// A practical address check: `local@domain`, one `@`, no spaces or
/// characters that need quoting, a dotted domain of non-empty labels.
/// Quoted local parts and IP-literal domains are refused on purpose: real
/// lead lists do not hold them, and typos often look like them.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    // Per character, with no searcher set up per call: this runs on every row.
    let plain = |c: char| {
        !c.is_whitespace()
            && !c.is_control()
            && !matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | '\\' | ',' | ';' | ':' | '"' | '@')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(plain)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.as_bytes().windows(2).any(|w| w == b"..");
    let mut labels = 0;
    let domain_ok = domain.split('.').all(|label| {
        labels += 1;
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c == '-' || c.is_alphanumeric())
    });
    local_ok && domain_ok && labels >= 2
}

/// What the stateful rules remember across chunks.
#[derive(Default)]
struct Memory {
    /// Without `--project-id`: the first row's projectId and its line.
    first_project: Option<(String, u32)>,
    processes: Interner,
    /// `(process, phone)` (or a lead id hash) → line of the first row.
    duplicates: DupTable,
    /// `--initialize`: phone → line of the first row calling it.
    queued: DupTable,
}

impl Memory {
    /// Brings the duplicate memory of a chunk's keys into the cache in one
    /// pass, before [`Memory::judge`] takes the rows one by one.
    fn touch(&mut self, chunk: &[Pre]) {
        for pre in chunk {
            match &pre.kind {
                PreKind::Existing(Some((_, key))) => self.duplicates.touch(*key),
                PreKind::New { lead, process, phone: Some(phone), .. } => {
                    if let Some(process) = process.as_deref().or(lead.as_ref().map(|l| l.process_id.as_str())) {
                        let key = self.processes.key(process, *phone);
                        self.duplicates.touch(key);
                    }
                }
                _ => {}
            }
        }
    }

    fn judge(&mut self, pre: Pre, settings: &CheckSettings, unknown: &HashSet<String>) -> Checked {
        let Pre { line, mut rejects, kind } = pre;
        match kind {
            PreKind::Malformed => Checked::Rejected(rejects),
            PreKind::Existing(None) => Checked::Rejected(rejects),
            PreKind::Existing(Some((id, key))) => match self.duplicates.first_or_insert(key, line, true) {
                Some(first) => {
                    rejects.push(reject(code::DUPLICATE_IN_FILE, format!("same lead id as the row at line {first}")));
                    Checked::Rejected(rejects)
                }
                None => Checked::Existing(id),
            },
            PreKind::New { lead, own_project, process, phone } => {
                let process = process.as_deref().or(lead.as_ref().map(|l| l.process_id.as_str()));
                if settings.project_id.is_none()
                    && let Some(own) = own_project.as_deref()
                {
                    match &self.first_project {
                        None => self.first_project = Some((own.to_owned(), line)),
                        Some((first, first_line)) if first != own => rejects.push(reject(
                            code::PROJECT_MISMATCH,
                            format!(
                                "projectId \"{own}\" differs from \"{first}\", the projectId of \
                                 the first row that has one (line {first_line}); one API key \
                                 serves one project"
                            ),
                        )),
                        Some(_) => {}
                    }
                }
                if let Some(p) = process.filter(|p| !unknown.is_empty() && unknown.contains(*p)) {
                    rejects.push(reject(
                        code::UNKNOWN_PROCESS,
                        format!("the server answered that process \"{p}\" does not exist"),
                    ));
                }
                if let (Some(process), Some(phone)) = (process, phone) {
                    self.judge_repeats(line, process, phone, settings.initialize, &mut rejects);
                }
                match lead {
                    Some(lead) if rejects.is_empty() => Checked::Lead(lead),
                    _ => {
                        rejects.sort_by_key(|r| code::rank(r.code));
                        Checked::Rejected(rejects)
                    }
                }
            }
        }
    }

    /// `duplicate_in_file` and `call_already_queued`. Only rows that pass
    /// every other rule are remembered: a rejected row is never sent, so a
    /// later copy of it is not a duplicate of anything sent.
    fn judge_repeats(&mut self, line: u32, process: &str, phone: u64, initialize: bool, rejects: &mut Vec<Reject>) {
        let queued = if initialize { self.queued.get(phone) } else { None };
        let key = self.processes.key(process, phone);
        let insert = rejects.is_empty() && queued.is_none();
        if let Some(first) = self.duplicates.first_or_insert(key, line, insert) {
            rejects.push(reject(
                code::DUPLICATE_IN_FILE,
                format!("same project, process and phone as the row at line {first}"),
            ));
        } else if let Some(first) = queued {
            // Same process too would be the duplicate above; one code says it.
            rejects.push(reject(
                code::CALL_ALREADY_QUEUED,
                format!(
                    "the row at line {first} already starts a call to this phone for this \
                     project (with --initialize, one call per phone and project)"
                ),
            ));
        } else if initialize && rejects.is_empty() {
            self.queued.first_or_insert(phone, line, true);
        }
    }
}

#[cfg(test)]
mod tests;
