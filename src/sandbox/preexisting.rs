//! Leads that exist before the sandbox starts (`--preexisting FILE`), so a
//! rehearsal can meet "already exists", "call attempt already made" and
//! known `leadIds`.
//!
//! The file is CSV with a header row. Columns, by name (any case, any
//! order, other columns ignored):
//!
//! - `phoneNumber` (required): read as E.164, or as a US number without `+`;
//! - `processId` (required): one of the sandbox's process ids;
//! - `initialized` (optional): `true`/`false` (also `1`/`0`, `yes`/`no`,
//!   empty = false); an initialized lead means a call attempt to its phone;
//! - `leadId` (optional): the lead's id, for `leadIds` requests; when absent
//!   or empty the sandbox makes one (`ld_` + ULID), shown in the state report.

use std::path::Path;

use anyhow::{Context, anyhow, bail};

use super::state::Store;
use super::validate::REGION;
use crate::phone;

/// A lead that exists when the sandbox starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreexistingLead {
    /// E.164 (or a number `phone::parse` reads with region US).
    pub phone_number: String,
    /// One of the sandbox's process ids.
    pub process_id: String,
    /// Initialized for calling: the project made a call attempt to the phone.
    pub initialized: bool,
    /// The lead's id; `None` lets the sandbox make one.
    pub lead_id: Option<String>,
}

/// Reads a `--preexisting` CSV file (format in the module docs).
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<PreexistingLead>> {
    let name = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open the pre-existing leads file {name}"))?;
    let headers = reader.headers().with_context(|| format!("{name}: cannot read the header row"))?;
    let column = |want: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(want));
    let (Some(phone_col), Some(process_col)) = (column("phoneNumber"), column("processId")) else {
        bail!("{name}: the header row needs the columns phoneNumber and processId");
    };
    let (init_col, id_col) = (column("initialized"), column("leadId"));
    let mut leads = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{name}: unreadable CSV"))?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |col: Option<usize>| col.and_then(|c| record.get(c)).unwrap_or("");
        let raw_phone = field(Some(phone_col));
        let phone = phone::parse(raw_phone, REGION)
            .map_err(|e| anyhow!("{name}, line {line}: phoneNumber {raw_phone:?}: {e}"))?;
        let initialized = match field(init_col).to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            other => bail!("{name}, line {line}: initialized {other:?} is not true or false"),
        };
        let lead_id = Some(field(id_col)).filter(|s| !s.is_empty()).map(str::to_owned);
        let process_id = field(Some(process_col)).to_owned();
        leads.push(PreexistingLead { phone_number: phone.e164, process_id, initialized, lead_id });
    }
    Ok(leads)
}

/// The lead memory at start: every pre-existing lead, checked.
pub(crate) fn store(leads: &[PreexistingLead], processes: &[String]) -> anyhow::Result<Store> {
    let mut store = Store::default();
    for (n, lead) in leads.iter().enumerate() {
        let which = || format!("pre-existing lead {} ({})", n + 1, lead.phone_number);
        let phone = phone::parse(&lead.phone_number, REGION).map_err(|e| anyhow!("{}: {e}", which()))?;
        let Some(process) = processes.iter().position(|p| *p == lead.process_id) else {
            bail!("{}: processId {:?} is not one of the sandbox's processes", which(), lead.process_id);
        };
        if !store.preload(lead.lead_id.as_deref(), process, &phone, lead.initialized) {
            bail!("{}: the same phone and process, or the same leadId, appears twice", which());
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn reads_columns_by_name() {
        let f = file(
            "note,ProcessId,phoneNumber,initialized,leadId\nx,proc_a,(415) 555-2671,yes,ld_known\ny,proc_a,+442079460958,,\n",
        );
        let leads = read_csv(f.path()).expect("readable");
        assert_eq!(leads.len(), 2);
        assert_eq!(leads[0].phone_number, "+14155552671");
        assert!(leads[0].initialized && !leads[1].initialized);
        assert_eq!(leads[0].lead_id.as_deref(), Some("ld_known"));
        assert_eq!(leads[1].lead_id, None);
        assert!(store(&leads, &["proc_a".into()]).is_ok());
        assert!(store(&leads, &["proc_b".into()]).is_err());
    }

    #[test]
    fn refuses_bad_rows_with_their_line() {
        let err = read_csv(file("phoneNumber,processId\n+14155552671,p\nhello,p\n").path()).unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
        assert!(read_csv(file("phone,processId\n").path()).is_err());
        let twice = file("phoneNumber,processId\n+14155552671,p\n4155552671,p\n");
        assert!(store(&read_csv(twice.path()).expect("readable"), &["p".into()]).is_err());
    }
}
