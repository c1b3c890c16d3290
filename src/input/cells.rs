//! Spreadsheet cells as text, the way a person reads them in the sheet:
//! whole numbers without decimals or exponent (`4915112345678`, never
//! `4.915112345678e12`), other numbers to Excel's 15 significant digits
//! (`0.3`, not `0.30000000000000004`), dates in ISO 8601, booleans as
//! `true`/`false`, formulas by their cached value, errors as empty.

use std::borrow::Cow;

use calamine::{Data, DataRef, ExcelDateTime};

/// A cell's value, borrowed from either of calamine's two cell types (the
/// streaming xlsx reader's `DataRef`, the whole-sheet readers' `Data`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Cell<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(&'a ExcelDateTime),
    /// A date, time or duration the file already writes in ISO 8601.
    Iso(&'a str),
}

impl<'a> From<&'a DataRef<'a>> for Cell<'a> {
    fn from(d: &'a DataRef<'a>) -> Cell<'a> {
        match d {
            DataRef::Empty | DataRef::Error(_) => Cell::Empty,
            DataRef::String(s) => Cell::Text(s),
            DataRef::SharedString(s) => Cell::Text(s),
            DataRef::Int(i) => Cell::Int(*i),
            DataRef::Float(f) => Cell::Float(*f),
            DataRef::Bool(b) => Cell::Bool(*b),
            DataRef::DateTime(dt) => Cell::Date(dt),
            DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Iso(s),
        }
    }
}

impl<'a> From<&'a Data> for Cell<'a> {
    fn from(d: &'a Data) -> Cell<'a> {
        match d {
            Data::Empty | Data::Error(_) => Cell::Empty,
            Data::String(s) => Cell::Text(s),
            Data::Int(i) => Cell::Int(*i),
            Data::Float(f) => Cell::Float(*f),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) => Cell::Date(dt),
            Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Iso(s),
        }
    }
}

impl<'a> Cell<'a> {
    /// Whether the cell holds a number (not text, not a date).
    pub(super) fn is_number(self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_))
    }

    /// The cell as a person reads it.
    pub(super) fn text(self) -> Cow<'a, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) | Cell::Iso(s) => Cow::Borrowed(s),
            Cell::Int(i) => Cow::Owned(i.to_string()),
            Cell::Float(f) => Cow::Owned(number(f)),
            Cell::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Cell::Date(dt) => Cow::Owned(date(dt)),
        }
    }
}

/// A number as a spreadsheet shows it in a General cell, without the
/// exponent: whole numbers with every digit, others to 15 significant
/// digits (what Excel keeps).
pub(super) fn number(f: f64) -> String {
    if !f.is_finite() {
        return String::new();
    }
    if f == 0.0 {
        return "0".to_owned(); // and not "-0"
    }
    if f.fract() == 0.0 {
        return format!("{f:.0}");
    }
    // Rounded to 15 significant digits, then written in the shortest form
    // that reads back the same (Rust's `Display` for f64 never uses an
    // exponent).
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    rounded.to_string()
}

/// A date cell in ISO 8601: `2024-03-01`, `2024-03-01T09:30:00`, a time
/// alone as `09:30:00`, a duration as `36:00:00`.
fn date(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        let total = (dt.as_f64() * 86_400.0).round();
        let sign = if total < 0.0 { "-" } else { "" };
        let total = total.abs() as u64;
        return format!("{sign}{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
    }
    let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
    let time = match milli {
        0 => format!("{hour:02}:{minute:02}:{second:02}"),
        _ => format!("{hour:02}:{minute:02}:{second:02}.{milli:03}"),
    };
    if dt.as_f64() < 1.0 && dt.as_f64() >= 0.0 {
        time
    } else if (hour, minute, second, milli) == (0, 0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_read_as_a_person_reads_them() {
        assert_eq!(number(4915112345678.0), "4915112345678");
        assert_eq!(number(491701000000.0), "491701000000");
        assert_eq!(number(4915112345678900.0), "4915112345678900");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(3.5), "3.5");
        assert_eq!(number(-12.0), "-12");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(number(f64::NAN), "");
    }

    #[test]
    fn dates_in_iso_8601() {
        let d = |v: f64| date(&ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false));
        assert_eq!(d(45352.0), "2024-03-01");
        assert_eq!(d(45352.5), "2024-03-01T12:00:00");
        assert_eq!(d(0.25), "06:00:00");
        let dur = date(&ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(dur, "36:00:00");
    }

    #[test]
    fn cells_as_text() {
        assert_eq!(Cell::Bool(true).text(), "true");
        assert_eq!(Cell::from(&Data::Error(calamine::CellErrorType::NA)).text(), "");
        assert_eq!(Cell::from(&DataRef::SharedString("Zoë")).text(), "Zoë");
        assert!(Cell::from(&Data::Float(4.9e11)).is_number());
        assert!(!Cell::from(&Data::String("4.9E+11".into())).is_number());
    }
}
