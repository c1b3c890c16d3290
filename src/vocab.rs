//! leadctl's own words in the files it writes and reads back: the
//! `leadctl_*` columns, the mark on a retryable row whose lead may already
//! exist, and the notes on accepted rows.
//!
//! `output` writes these words and `input` reads them back (a retryable
//! file is fed to `leadctl upload` as it is), so they live here, below
//! both: this module imports nothing of the crate.

use std::borrow::Cow;

/// The prefix of every column leadctl adds; such columns are ignored on input.
pub const PREFIX: &str = "leadctl_";

/// The names of the columns leadctl adds to its output files.
pub mod column {
    /// The line of the input where the row's record starts (for people).
    pub const LINE: &str = "leadctl_line";
    /// The file the row was first read from: the input, or, for a row of a
    /// leadctl output fed back (a resend), the file its origin names. Not
    /// `leadctl_source_*`: `leadctl_source` says `local` or `server`.
    pub const ORIGIN_FILE: &str = "leadctl_origin_file";
    /// The line of [`ORIGIN_FILE`] the row was first read from.
    pub const ORIGIN_LINE: &str = "leadctl_origin_line";
    /// Accepted: the lead id the API gave (or the ledger remembered).
    pub const LEAD_ID: &str = "leadctl_lead_id";
    /// Accepted: the phone number as sent, in E.164.
    pub const PHONE_E164: &str = "leadctl_phone_e164";
    /// Accepted: how the row came to be accepted, when it was not plain.
    pub const NOTE: &str = "leadctl_note";
    /// Rejected: the stable reason code.
    pub const CODE: &str = "leadctl_code";
    /// Rejected and retryable: why, for a human.
    pub const REASON: &str = "leadctl_reason";
    /// Rejected: `local` or `server`.
    pub const SOURCE: &str = "leadctl_source";
    /// Rejected: the HTTP status of the answer that refused the lead.
    pub const HTTP_STATUS: &str = "leadctl_http_status";
    /// NDJSON outputs: an input element that was not an object, as read.
    pub const RAW: &str = "leadctl_raw";
}

/// Whether a column (or JSON key) is one of leadctl's own annotations
/// (`leadctl_*`, any case).
pub fn is_leadctl_column(name: &str) -> bool {
    name.get(..PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
}

/// Ends the reason of a retryable row whose lead may already exist on the
/// server (an attempt's answer was lost). When the file is sent again, the
/// reader sees the mark, and an "already exists" answer for that lead then
/// means it was created, not that it is a duplicate.
pub const MAY_EXIST_MARK: &str = "[may already exist: an earlier attempt's answer was lost]";

/// Whether a `leadctl_reason` carries [`MAY_EXIST_MARK`].
pub fn has_may_exist_mark(reason: &str) -> bool {
    reason.contains(MAY_EXIST_MARK)
}

/// The first characters that make a spreadsheet read a cell as a formula
/// (OWASP's list for CSV injection: `=`, `+`, `-`, `@`, and TAB and CR,
/// which some spreadsheets skip before looking for one).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One of leadctl's own values (a `leadctl_*` cell, which may carry the
/// server's text) made inert for a spreadsheet: a value that would start a
/// formula gets a `'` in front, which spreadsheets read as "this is text".
/// A plain number (`-3`, `+14155550123`, the E.164 form leadctl writes) is
/// left as it is: it reads as that number and runs nothing. The input's own
/// cells never go through this: they are written exactly as read.
pub fn inert_in_spreadsheet(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some(c) if FORMULA_STARTS.contains(&c) && !is_plain_number(value) => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// One of leadctl's own values as written by [`inert_in_spreadsheet`],
/// read back: the `'` it put in front goes (a value a person typed with a
/// `'` of their own, which would not have needed one, stays as it is).
pub fn from_spreadsheet(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if inert_in_spreadsheet(rest).len() > rest.len() => rest,
        _ => value,
    }
}

/// A sign, then digits, with at most one `.` among them.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// How an accepted row came to be accepted: its `leadctl_note`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Note {
    /// The server created the lead in answer to this run's request.
    #[default]
    Created,
    /// An earlier attempt whose answer was lost created it; the server's
    /// "already exists" answer to a later attempt confirmed it.
    LostResponseConfirmed,
    /// The ledger knows an earlier run uploaded it: not sent again.
    AlreadyUploaded { run: String, date: String },
    /// The ledger knew it was uploaded without a call; this run (with
    /// `--initialize`) initialized it by its lead id.
    InitializedEarlierUpload,
}

/// The text of [`Note::LostResponseConfirmed`].
const LOST_RESPONSE_TEXT: &str =
    "created by an earlier attempt whose response was lost; confirmed by the server's \"already exists\" answer";
/// The text of [`Note::InitializedEarlierUpload`].
const INITIALIZED_TEXT: &str = "initialized an earlier upload";

impl Note {
    /// The note as written in the `leadctl_note` column.
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            Note::Created => Cow::Borrowed(""),
            Note::LostResponseConfirmed => Cow::Borrowed(LOST_RESPONSE_TEXT),
            Note::AlreadyUploaded { run, date } => Cow::Owned(format!("already uploaded (run {run}, date {date})")),
            Note::InitializedEarlierUpload => Cow::Borrowed(INITIALIZED_TEXT),
        }
    }

    /// Reads a note back from an output file (resume).
    pub fn parse(text: &str) -> Note {
        let uploaded = || {
            let inner = text.strip_prefix("already uploaded (run ")?.strip_suffix(')')?;
            let (run, date) = inner.rsplit_once(", date ")?;
            Some(Note::AlreadyUploaded { run: run.to_owned(), date: date.to_owned() })
        };
        match text {
            LOST_RESPONSE_TEXT => Note::LostResponseConfirmed,
            INITIALIZED_TEXT => Note::InitializedEarlierUpload,
            _ => uploaded().unwrap_or(Note::Created),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadctl_columns_in_any_case_and_nothing_else() {
        assert!(is_leadctl_column("leadctl_line"));
        assert!(is_leadctl_column("LEADCTL_code"));
        assert!(!is_leadctl_column("leadctl"));
        assert!(!is_leadctl_column("my_leadctl_x"));
        assert!(!is_leadctl_column("léadctl_x"));
    }

    #[test]
    fn leadctl_values_never_start_a_formula() {
        for hostile in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", "=", "+", "-", "-.5", "+1e5"] {
            let inert = inert_in_spreadsheet(hostile);
            assert_eq!(inert, format!("'{hostile}"), "{hostile:?}");
        }
        for plain in ["+14155550123", "-3", "12", "-0.5", "", "Invalid phone number format", "'=x", " =1"] {
            assert_eq!(inert_in_spreadsheet(plain), plain, "{plain:?}");
        }
        // ("'=x" would not come back: written as is, it reads as "=x" made inert.)
        for value in ["=1+1", "-", "/data/export.csv", "'plain", "+14155550123", ""] {
            assert_eq!(from_spreadsheet(&inert_in_spreadsheet(value)), value, "{value:?}");
        }
    }

    #[test]
    fn notes_read_back_as_written() {
        let uploaded =
            Note::AlreadyUploaded { run: "leads.leadctl/20261130T020000Z".into(), date: "2026-11-30".into() };
        for note in [Note::Created, Note::LostResponseConfirmed, uploaded, Note::InitializedEarlierUpload] {
            assert_eq!(Note::parse(&note.text()), note);
        }
    }
}
