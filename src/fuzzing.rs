//! The bodies of the fuzz targets (`fuzz/`), here so that the targets and
//! the replay of their corpora in `cargo test` (`tests/fuzz_corpus.rs`) run
//! the same code, the way a real run drives it.
//!
//! The property of every target: no input makes leadctl panic. Each also
//! asserts what must hold of any result, cheaply: rows carry increasing
//! ordinals and lines, a reader never yields more rows than the input has
//! bytes, a valid JSON or CSV text reads as a standard parser reads it, an
//! E.164 number parses again to itself, a recovered journal recovers again
//! to the same state. An assertion that fails is a bug, like a panic.
//!
//! Inputs start with a control byte that picks the variant (delimiter,
//! `--map`, encoding, region, ...): see each function. Not a public API.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{Map, Value};

use crate::checks::{CheckSettings, Checked, Checker, code};
use crate::input::{Fields, Format, InputSpec, PhoneCell, Raw, Row, Source};
use crate::journal::{self, Entry, InputId};
use crate::output::OutFormat;
use crate::phone::{self, Region};
use crate::settings::RunRecord;

/// CSV and TSV with header matching. Control byte:
/// - bits 0-1: the delimiter: chosen from the first rows (a `.csv` without
///   `--delimiter`), `,` given, TAB (`.tsv`), `;` given;
/// - bit 2: `upload --existing` (a lead id column instead of a phone);
/// - bit 3: the first line of the rest is a `--map FIELD=COLUMN` pair;
/// - bits 4-5: `--encoding`: none (detected) twice, `windows-1252`, `utf-16le`.
///
/// The rest is the file.
pub fn csv_with_mapping(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let (format, delimiter) = match control & 3 {
        0 => (Format::Csv, None),
        1 => (Format::Csv, Some(b',')),
        2 => (Format::Tsv, None),
        _ => (Format::Csv, Some(b';')),
    };
    let (map, file) = if control & 8 != 0 { map_line(rest) } else { (Vec::new(), rest) };
    let options = Options { existing: control & 4 != 0, map, encoding: encoding(control >> 4) };
    let Some(read) = read_input(format, delimiter, &options, file) else { return };
    assert!(read.columns.is_some(), "a CSV/TSV source has columns");
    for (i, row) in read.rows.iter().enumerate() {
        assert!(matches!(row.raw, Raw::Csv(_)), "row {i} of a CSV is a CSV record");
    }
    // A text a standard CSV parser reads, with the delimiter used, has as
    // many records as the header and the rows.
    if let (Some(text), Some(delimiter)) = (plain_text(file, &options), read.delimiter)
        && read.error.is_none()
    {
        let mut widths = Vec::new();
        let mut reader =
            csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text);
        let mut record = csv::ByteRecord::new();
        while let Ok(true) = reader.read_byte_record(&mut record) {
            widths.push(record.len());
        }
        assert_eq!(widths.len(), read.rows.len() + 1, "the header and the rows are the text's records");
        // Nothing is padded: a row holds at most the values its record has.
        for (i, (row, width)) in read.rows.iter().zip(&widths[1..]).enumerate() {
            let Raw::Csv(raw) = &row.raw else { continue };
            assert!(raw.len() <= *width, "row {i} has {} values from a record of {width}", raw.len());
        }
    }
    let columns = read.columns.as_ref().map_or(0, Vec::len);
    assert!(columns <= crate::input::MAX_COLUMNS, "{columns} columns");
}

/// A JSON array of objects, one element at a time. Control byte: bit 2
/// `--existing`, bit 3 a `--map` line first, bits 4-5 `--encoding` (as for
/// [`csv_with_mapping`]). The rest is the file.
pub fn json_array(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let (map, file) = if control & 8 != 0 { map_line(rest) } else { (Vec::new(), rest) };
    let options = Options { existing: control & 4 != 0, map, encoding: encoding(control >> 4) };
    let Some(read) = read_input(Format::Json, None, &options, file) else { return };
    // A valid JSON array reads as its elements, each as serde_json reads it.
    let Some(text) = plain_text(file, &options) else { return };
    let Ok(Value::Array(elements)) = serde_json::from_slice::<Value>(text) else { return };
    assert!(read.error.is_none(), "a valid JSON array reads to its end: {:?}", read.error);
    assert_eq!(read.rows.len(), elements.len(), "one row an element");
    for (row, element) in read.rows.iter().zip(elements) {
        assert_same_value(row, element);
    }
}

/// NDJSON. Control byte as for [`json_array`]. The rest is the file.
pub fn ndjson(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let (map, file) = if control & 8 != 0 { map_line(rest) } else { (Vec::new(), rest) };
    let options = Options { existing: control & 4 != 0, map, encoding: encoding(control >> 4) };
    let Some(read) = read_input(Format::Ndjson, None, &options, file) else { return };
    for pair in read.rows.windows(2) {
        assert!(pair[0].line < pair[1].line, "NDJSON rows are on lines of their own");
    }
    // A UTF-8 text reads as its non-blank lines, each as serde_json reads it.
    let Some(text) = plain_text(file, &options) else { return };
    let lines: Vec<(u64, &[u8])> = text
        .split_inclusive(|&b| b == b'\n')
        .zip(1u64..)
        .filter(|(line, _)| !line.trim_ascii().is_empty())
        .map(|(line, n)| (n, line))
        .collect();
    assert!(read.error.is_none(), "a UTF-8 NDJSON text reads to its end: {:?}", read.error);
    assert_eq!(read.rows.len(), lines.len(), "one row a non-blank line");
    for (row, (n, line)) in read.rows.iter().zip(lines) {
        assert_eq!(row.line, n, "a row's line is its line in the file");
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => assert_same_value(row, value),
            Err(_) => assert!(row.fields.is_err() && matches!(row.raw, Raw::Other(Value::String(_)))),
        }
    }
}

/// The local checks of the phone and the other fields, on a chunk of rows.
/// Control byte:
/// - bits 0-3: the default region (one of 16);
/// - bit 4: phones come from spreadsheet number cells;
/// - bit 5: `--initialize` (one call per phone);
/// - bit 6: `--project-id`; bit 7: `--process-id`.
///
/// The rest is one row a line, values separated by TAB: phone, processId,
/// projectId, email, firstName (an empty or missing value is absent).
pub fn phone_checks(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let regions = regions();
    let region = regions[usize::from(control & 15) % regions.len()];
    let settings = CheckSettings {
        project_id: (control & 64 != 0).then(|| "proj".to_owned()),
        process_id: (control & 128 != 0).then(|| "proc".to_owned()),
        default_region: region,
        initialize: control & 32 != 0,
        existing: false,
        require_project: true,
        require_process: true,
    };
    let cell = if control & 16 != 0 { PhoneCell::Number } else { PhoneCell::Text };
    let text = String::from_utf8_lossy(rest);
    let rows: Vec<Row> = text
        .lines()
        .zip(2u64..)
        .map(|(line, n)| {
            let mut values = line.split('\t').map(|v| Some(v.to_owned()).filter(|v| !v.is_empty()));
            let mut next = || values.next().flatten();
            let fields = Fields {
                phone: next(),
                process_id: next(),
                project_id: next(),
                email: next(),
                first_name: next(),
                phone_cell: cell,
                ..Fields::default()
            };
            Row {
                ordinal: n - 2,
                line: n,
                bytes: 0,
                raw: Raw::Csv(csv::ByteRecord::new()),
                fields: Ok(fields),
                provenance: None,
            }
        })
        .collect();

    for row in &rows {
        if let Ok(Fields { phone: Some(raw), .. }) = &row.fields {
            check_phone(raw, region, regions);
        }
    }
    let mut checker = Checker::new(settings.clone(), Arc::new(RwLock::new(HashSet::new())));
    let checked = checker.check_chunk(&rows);
    assert_eq!(checked.len(), rows.len(), "one verdict a row");
    let mut sent = HashSet::new();
    let mut called = HashSet::new();
    for (row, verdict) in rows.iter().zip(&checked) {
        let raw = row.fields.as_ref().ok().and_then(|f| f.phone.as_deref());
        match verdict {
            Checked::Lead(lead) => {
                let parsed = raw.map(|raw| phone::parse(raw, region));
                assert_eq!(parsed, Some(Ok(phone::Phone { e164: lead.phone_number.clone() })), "a lead's phone");
                let first = sent.insert((lead.project_id.clone(), lead.process_id.clone(), lead.phone_number.clone()));
                assert!(first, "a duplicate in the file was let through: {lead:?}");
                if settings.initialize {
                    assert!(called.insert(lead.phone_number.clone()), "a second call to one phone: {lead:?}");
                }
            }
            Checked::Rejected(rejects) => {
                assert!(!rejects.is_empty(), "a rejected row says why");
                let ranks: Vec<usize> = rejects.iter().map(|r| rank(r.code)).collect();
                assert!(ranks.is_sorted(), "reasons in the API's order: {rejects:?}");
                assert!(ranks.iter().all(|&r| r < code::ORDER.len()), "known codes: {rejects:?}");
            }
            Checked::Existing(_) => panic!("a lead id without --existing"),
        }
    }
}

/// Resuming from a run directory whose journal is the input (and, after
/// 0xFF bytes, its accepted and rejected files). Control byte:
/// - bit 0: a valid start entry comes first, the rest being the entries
///   after it (otherwise the whole journal is the input);
/// - bit 1: the output files are NDJSON (else CSV), with bit 0.
///
/// The journal must read back to its settings record or a clean error, and
/// a recovered directory recovers again to the same state.
pub fn journal_recovery(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0xFF);
    let entries = parts.next().unwrap_or_default();
    let (accepted, rejected) = (parts.next(), parts.next());
    let out_format = if control & 2 != 0 { OutFormat::Ndjson } else { OutFormat::Csv };
    let mut journal_bytes = Vec::new();
    if control & 1 != 0 {
        journal_bytes = start_line(out_format);
    }
    journal_bytes.extend_from_slice(entries);

    let Some(dir) = Scratch::dir() else { return };
    let Ok(()) = std::fs::write(dir.path.join(journal::FILE_NAME), &journal_bytes) else { return };
    // The output files of either format, so the start entry's format finds them.
    for (kind, content) in [("accepted", accepted), ("rejected", rejected)] {
        for ext in ["csv", "ndjson"] {
            if let Some(content) = content
                && std::fs::write(dir.path.join(format!("{kind}.{ext}")), content).is_err()
            {
                return;
            }
        }
    }

    let record = journal::read_record(&dir.path);
    let run_dir = crate::rundir::Dir::open(&dir.path).unwrap_or_else(|e| panic!("a scratch directory opens: {e}"));
    let recovered = match journal::recover(&run_dir) {
        Ok(recovered) => recovered,
        Err(e) => {
            let _ = format!("{e:#}");
            return;
        }
    };
    let after = std::fs::read(dir.path.join(journal::FILE_NAME)).unwrap_or_default();
    assert!(journal_bytes.starts_with(&after), "the journal is only ever cut back");
    assert_eq!(record.ok().as_ref(), Some(&recovered.record), "the settings record reads back alone");
    assert_eq!(recovered.tally.total(), recovered.done.count(), "the files hold the rows done");
    assert!(recovered.batch_size.is_none_or(|s| (1..=crate::api::MAX_LEADS_PER_REQUEST).contains(&s)));
    let again = journal::recover(&run_dir);
    let again = again.unwrap_or_else(|e| panic!("a recovered run directory recovers again: {e:#}"));
    assert_eq!(again.done, recovered.done, "recovering again skips the same rows");
    assert_eq!(again.sent, recovered.sent);
    assert_eq!(again.tally, recovered.tally);
    assert_eq!(again.finished, recovered.finished);
}

/// What reading an input gave.
struct Read {
    rows: Vec<Row>,
    columns: Option<Vec<String>>,
    delimiter: Option<u8>,
    error: Option<crate::input::InputError>,
}

/// The settings of a read besides format and delimiter.
struct Options {
    existing: bool,
    map: Vec<(String, String)>,
    encoding: Option<&'static str>,
}

/// Reads `file` as a run does (a file on disk, through [`Source`]),
/// checking what holds of any input; `None` when the file is refused at
/// open (a clean error).
fn read_input(format: Format, delimiter: Option<u8>, options: &Options, file: &[u8]) -> Option<Read> {
    let ext = match format {
        Format::Tsv => "tsv",
        Format::Json => "json",
        Format::Ndjson => "ndjson",
        _ => "csv",
    };
    let dir = Scratch::dir()?;
    let path = dir.path.join(format!("input.{ext}"));
    std::fs::write(&path, file).ok()?;
    let spec = InputSpec {
        path,
        format: Some(format),
        delimiter,
        map: options.map.clone(),
        existing: options.existing,
        encoding: options.encoding.map(str::to_owned),
        sheet: None,
    };
    let mut source = match Source::open(&spec) {
        Ok(source) => source,
        Err(e) => {
            let _ = e.to_string();
            return None;
        }
    };
    let _ = source.notice();
    let rows: Vec<Row> = source.by_ref().collect();
    let error = source.take_error();
    if let Some(e) = &error {
        let _ = e.to_string();
    }
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.ordinal, i as u64, "ordinals count the rows from 0");
        assert!(row.line >= 1, "lines count from 1");
        if let Err(reason) = &row.fields {
            assert!(!reason.is_empty(), "a malformed row says why");
        }
    }
    for pair in rows.windows(2) {
        assert!(pair[0].line <= pair[1].line, "rows come in the order of their lines");
    }
    let gzip = file.starts_with(&[0x1f, 0x8b]);
    if !gzip {
        // Every row takes at least one byte of the file.
        assert!(rows.len() <= file.len(), "{} rows from {} bytes", rows.len(), file.len());
    }
    if error.is_none() {
        let digest = source.digest();
        assert_eq!(digest.map(|d| d.size), Some(file.len() as u64), "a file read to its end has its digest");
    }
    let columns = source.columns().map(<[String]>::to_vec);
    let delimiter = source.delimiter().map(|d| d.delimiter);
    Some(Read { rows, columns, delimiter, error })
}

/// Splits off a first line `FIELD=COLUMN` as a `--map` pair, as the command
/// line parses it.
fn map_line(rest: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (line, file) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    let map = line
        .split_once('=')
        .filter(|(f, c)| !f.trim().is_empty() && !c.trim().is_empty())
        .map(|(f, c)| vec![(f.trim().to_owned(), c.trim().to_owned())])
        .unwrap_or_default();
    (map, file)
}

fn encoding(bits: u8) -> Option<&'static str> {
    match bits & 3 {
        2 => Some("windows-1252"),
        3 => Some("utf-16le"),
        _ => None,
    }
}

/// The text a reader sees, when it is the file's bytes unchanged: UTF-8
/// (its byte order mark dropped), no `--encoding`, not gzip.
fn plain_text<'a>(file: &'a [u8], options: &Options) -> Option<&'a [u8]> {
    let text = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
    let utf16_bom = file.starts_with(b"\xFF\xFE") || file.starts_with(b"\xFE\xFF");
    (options.encoding.is_none() && !utf16_bom && std::str::from_utf8(text).is_ok()).then_some(text)
}

/// A JSON row holds the value as read: an object without its `leadctl_*`
/// keys, or any other value as it is.
fn assert_same_value(row: &Row, value: Value) {
    match (&row.raw, value) {
        (Raw::Json(raw), Value::Object(mut object)) => {
            object.retain(|k, _| !crate::vocab::is_leadctl_column(k));
            assert_eq!(raw, &object, "an object reads as it is");
        }
        (Raw::Other(raw), other) => {
            assert!(!other.is_object(), "an object is read as an object");
            assert_eq!(raw, &other, "a value reads as it is");
            assert!(row.fields.is_err(), "a value that is not an object is malformed");
        }
        (raw, value) => panic!("row {raw:?} for the value {value}"),
    }
}

/// The fast path of parsing agrees with libphonenumber's full parser; a
/// number that parses is in E.164, and parses again, from any default
/// region, to itself and its key.
fn check_phone(raw: &str, region: Region, regions: &[Region]) {
    let full = phone::parse_full(raw, region);
    if let Some(quick) = phone::parse_fast(raw, region) {
        assert_eq!(full.as_ref(), Ok(&quick), "{raw:?}: the fast path and the full parser differ");
    }
    assert_eq!(phone::parse(raw, region), full, "{raw:?}");
    let Ok(parsed) = full else { return };
    let e164 = &parsed.e164;
    assert!((3..=1 + phone::E164_MAX_DIGITS).contains(&e164.len()), "E.164 has at most 15 digits: {e164}");
    assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()), "E.164: {e164}");
    assert_eq!(parsed.key(), e164[1..].parse::<u64>().unwrap_or(0), "the key is the digits");
    assert_ne!(parsed.key(), 0);
    for other in [region, regions[(raw.len() + 1) % regions.len()]] {
        assert_eq!(phone::parse(e164, other).as_ref(), Ok(&parsed), "{raw:?} -> {e164} parses again to itself");
    }
}

/// A code's place in [`code::ORDER`].
fn rank(c: &str) -> usize {
    code::ORDER.iter().position(|o| *o == c).unwrap_or(code::ORDER.len())
}

/// The default regions the phone target picks from.
fn regions() -> &'static [Region] {
    static REGIONS: OnceLock<Vec<Region>> = OnceLock::new();
    REGIONS.get_or_init(|| {
        ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "CA", "MX", "IT", "ES", "NL", "CN", "RU", "ZA"]
            .iter()
            .filter_map(|c| phone::parse_region(c))
            .collect()
    })
}

/// A valid start entry of a journal, as a line.
fn start_line(out_format: OutFormat) -> Vec<u8> {
    let start = Entry::Start {
        version: journal::VERSION,
        input: InputId { size: 4710, sha256: "0".repeat(64) },
        out_format,
        record: RunRecord {
            command: "upload".into(),
            input: PathBuf::from("leads.csv"),
            settings: Map::from_iter([("batch-size".to_owned(), Value::from(100))]),
            sources: BTreeMap::new(),
        },
    };
    let mut line = serde_json::to_vec(&start).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A fresh directory of its own under the system's temporary directory,
/// removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn dir() -> Option<Scratch> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("leadctl-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).ok()?;
        Some(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
