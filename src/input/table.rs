//! A header and its records as rows: what CSV/TSV and spreadsheets share.
//!
//! The header is planned once (which column feeds which field) and must give
//! a phone column (or a lead id column, `--existing`), or the file is not a
//! lead file. Each record then becomes a [`Row`]: its values as read (minus
//! `leadctl_*` columns), and the fields for the checks. A wrong field count
//! is a malformed row, not a stop; values stay bytes until a column that
//! feeds the lead is decoded, so a stray invalid byte rejects one row, names
//! its column, and the bytes still reach the output files unchanged.

use std::sync::Arc;

use csv::ByteRecord;
use serde_json::Value;

use super::decode::REPLACEMENT;
use super::error::{self, NotLeadFile};
use super::facts::InputFacts;
use super::headers::{self, ColumnRole, Field, MapSpec};
use super::{Fields, InputError, MAX_COLUMNS, Provenance, Raw, Row};

/// At most this many extra values are quoted in a malformed row's reason
/// (the row itself keeps them all).
const MAX_EXTRA_SHOWN: usize = 10;

pub(super) struct Table {
    /// The header as read, every column (including `leadctl_*`).
    header: Vec<String>,
    /// What each header column feeds.
    plan: Vec<ColumnRole>,
    /// Indices of the columns kept in `Raw::Csv` (not `leadctl_*`), or
    /// `None` when every column is kept (the common case: no copy).
    keep: Option<Vec<usize>>,
    /// The `leadctl_reason` column of a file leadctl wrote, if any.
    reason: Option<usize>,
    /// Its `leadctl_origin_file` and `leadctl_origin_line` columns, if it has both.
    origin: Option<(usize, usize)>,
    /// Whether values are decoded from another encoding, so that U+FFFD
    /// stands for a sequence that was not valid in it.
    facts: Arc<InputFacts>,
}

impl Table {
    /// Plans the header. `existing` requires a column feeding `leadId`,
    /// otherwise one feeding `phoneNumber`; `hint` adds a fix to that error.
    pub(super) fn new(
        header: Vec<String>,
        map: &MapSpec,
        existing: bool,
        name: &str,
        facts: &Arc<InputFacts>,
        hint: impl FnOnce(&[String]) -> Option<String>,
    ) -> Result<Table, InputError> {
        let mut header = header;
        // Empty names at the end are no columns (a trailing delimiter, or
        // a spreadsheet's ragged range); the empty cells under them go too.
        let named = header.iter().rposition(|h| !h.trim().is_empty()).map_or(0, |i| i + 1);
        header.truncate(named);
        if header.len() > MAX_COLUMNS {
            let what = format!("its header has {} columns", indicatif::HumanCount(header.len() as u64));
            return Err(error::too_many_columns(name, existing, &what));
        }
        let plan = headers::plan_columns(&header, map, name)?;
        let needed = if existing { Field::LeadId } else { Field::Phone };
        if !plan.contains(&ColumnRole::Field(needed)) {
            let names: Vec<String> = header.iter().filter(|h| !h.is_empty()).cloned().collect();
            let hint = hint(&header);
            return Err(NotLeadFile { path: name, existing, names: &names, objects: None, hint }.error());
        }
        let kept: Vec<usize> = (0..header.len()).filter(|&i| !crate::vocab::is_leadctl_column(&header[i])).collect();
        let keep = (kept.len() != header.len()).then_some(kept);
        let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let reason = find(crate::vocab::column::REASON);
        let origin = find(crate::vocab::column::ORIGIN_FILE).zip(find(crate::vocab::column::ORIGIN_LINE));
        Ok(Table { header, plan, keep, reason, origin, facts: Arc::clone(facts) })
    }

    /// The header names kept in the rows as read (`leadctl_*` removed).
    pub(super) fn columns(&self) -> Vec<String> {
        match &self.keep {
            None => self.header.clone(),
            Some(keep) => keep.iter().map(|&i| self.header[i].clone()).collect(),
        }
    }

    /// The column that feeds the phone, if any.
    pub(super) fn phone_column(&self) -> Option<usize> {
        self.plan.iter().position(|r| *r == ColumnRole::Field(Field::Phone))
    }

    /// A row from one record. Empty fields past the header's width are
    /// dropped (they belong to no column); any other record whose width is
    /// not the header's is malformed, and kept as read, never padded.
    pub(super) fn row(&self, line: u64, bytes: u32, mut record: ByteRecord) -> Row {
        let width = self.header.len();
        if record.len() > width && record.iter().skip(width).all(<[u8]>::is_empty) {
            record.truncate(width);
        }
        let fields = self.fields(&record);
        let provenance = self.origin.and_then(|(file, line)| {
            let text = |i| self.leadctl_value(&record, i).and_then(|v| std::str::from_utf8(v).ok());
            Provenance::read(text(file)?, text(line)?)
        });
        let raw = match &self.keep {
            None => record,
            Some(keep) => {
                let mut kept = ByteRecord::with_capacity(record.as_slice().len(), keep.len());
                for &i in keep {
                    if let Some(value) = record.get(i) {
                        kept.push_field(value);
                    }
                }
                // Values past the header are no column's, so they are kept.
                for value in record.iter().skip(self.header.len()) {
                    kept.push_field(value);
                }
                kept
            }
        };
        Row { ordinal: 0, line, bytes, raw: Raw::Csv(raw), fields, provenance }
    }

    /// The value of the header's column `i`, one of leadctl's own columns:
    /// by its place in a record of the header's width, else (a malformed
    /// row, written as read) by its place from the end, where leadctl puts
    /// its columns.
    fn leadctl_value<'r>(&self, record: &'r ByteRecord, i: usize) -> Option<&'r [u8]> {
        let width = self.header.len();
        if record.len() == width {
            return record.get(i);
        }
        record.get(record.len().checked_sub(width - i)?)
    }

    fn fields(&self, record: &ByteRecord) -> Result<Fields, String> {
        let (got, want) = (record.len(), self.header.len());
        if got != want {
            let mut reason = format!("row has {got} fields but the header has {want}");
            if got > want {
                let extra: Vec<String> = record
                    .iter()
                    .skip(want)
                    .take(MAX_EXTRA_SHOWN)
                    .map(|v| format!("{:?}", String::from_utf8_lossy(v)))
                    .collect();
                reason.push_str("; the extra values are ");
                reason.push_str(&extra.join(", "));
                if got - want > MAX_EXTRA_SHOWN {
                    reason.push_str(&format!(" and {} more", got - want - MAX_EXTRA_SHOWN));
                }
            }
            return Err(reason);
        }
        let may_exist = self
            .reason
            .and_then(|i| record.get(i))
            .is_some_and(|v| std::str::from_utf8(v).is_ok_and(crate::vocab::has_may_exist_mark));
        let mut fields = Fields { may_exist, ..Fields::default() };
        let decoded = self.facts.decodes();
        let mut bad: Vec<&str> = Vec::new();
        for ((value, target), column) in record.iter().zip(&self.plan).zip(&self.header) {
            if *target == ColumnRole::Ignore || value.is_empty() {
                continue;
            }
            let text = match std::str::from_utf8(value) {
                Ok(text) if !(decoded && memchr::memmem::find(value, REPLACEMENT).is_some()) => text,
                _ => {
                    bad.push(column);
                    continue;
                }
            };
            match *target {
                ColumnRole::Field(field) => set_field(&mut fields, field, text.trim()),
                ColumnRole::Custom => {
                    fields.custom.insert(column.clone(), Value::String(text.to_owned()));
                }
                ColumnRole::Ignore => {}
            }
        }
        if !bad.is_empty() {
            let names: Vec<String> = bad.iter().map(|c| format!("\"{c}\"")).collect();
            let (noun, verb) = if names.len() == 1 { ("column", "has") } else { ("columns", "have") };
            return Err(format!("{noun} {} {verb} {}", names.join(", "), bad_bytes(decoded)));
        }
        Ok(fields)
    }
}

/// A row of `bytes` bytes that is larger than [`super::MAX_ROW_BYTES`]:
/// malformed, and none of its values kept.
pub(super) fn too_large(line: u64, bytes: u64, detail: &str) -> Row {
    let reason = too_large_reason(bytes, detail);
    let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    Row { ordinal: 0, line, bytes, raw: Raw::Csv(ByteRecord::new()), fields: Err(reason), provenance: None }
}

/// The reason of a row that is too large.
pub(super) fn too_large_reason(bytes: u64, detail: &str) -> String {
    format!(
        "row too large: {:.1} MiB, more than the {} MiB a row may have{detail}",
        bytes as f64 / (1024.0 * 1024.0),
        super::MAX_ROW_BYTES >> 20
    )
}

/// What is wrong with a value whose bytes are not text, and what to do.
pub(super) fn bad_bytes(decoded: bool) -> &'static str {
    if decoded {
        "bytes that are not valid in the file's encoding; pass --encoding with the right one"
    } else {
        "bytes that are not valid UTF-8; save the file as UTF-8 or pass --encoding"
    }
}

/// Stores a known field's (trimmed) text; empty text leaves it absent.
pub(super) fn set_field(fields: &mut Fields, field: Field, text: &str) {
    if text.is_empty() {
        return;
    }
    let slot = match field {
        Field::Phone => &mut fields.phone,
        Field::FirstName => &mut fields.first_name,
        Field::LastName => &mut fields.last_name,
        Field::Email => &mut fields.email,
        Field::ProcessId => &mut fields.process_id,
        Field::ProjectId => &mut fields.project_id,
        Field::ExternalId => &mut fields.external_id,
        Field::LeadId => &mut fields.lead_id,
    };
    *slot = Some(text.to_owned());
}
