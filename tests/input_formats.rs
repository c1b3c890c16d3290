//! The readers, end to end through `Source`: every format (plain and
//! gzipped), line numbers, header matching, malformed rows, the errors that
//! stop a read, and the shared fixtures (`fixtures/leads.*`).
//!
//! Expected local-check counts for the fixtures (54 rows each), with
//! `--project-id prj_sandbox`, no `--process-id`, default region US:
//!
//! | code                | count | rows                                        |
//! |---------------------|-------|---------------------------------------------|
//! | missing_phone       | 2     | crm-2001, crm-2002                          |
//! | invalid_phone       | 2     | crm-2003, crm-2004                          |
//! | repeating_digits    | 2     | crm-2005, crm-2006                          |
//! | missing_process     | 2     | crm-2007, crm-2013                          |
//! | invalid_email       | 3     | crm-2008, crm-2009, crm-2013                |
//! | field_too_long      | 1     | crm-2010                                    |
//! | duplicate_in_file   | 2     | crm-2011 (of line 2), crm-1004 copy (of 6)  |
//! | call_already_queued | 0     | 1 with --initialize: crm-2014 (of line 4)   |
//!
//! So 13 rows are rejected locally and 41 are leads (14 and 40 with
//! `--initialize`). Two of the leads use `proc_legacy`, a process the
//! sandbox does not have: the server answers 404 and they end rejected
//! (`process_not_found`), so against the default sandbox an upload accepts
//! 39 and rejects 15. Without `--project-id` every row is `missing_project`
//! (the fixtures have no project column).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use flate2::Compression;
use flate2::write::GzEncoder;
use leadctl::checks::{CheckSettings, Checked, Checker, UnknownProcesses};
use leadctl::input::{Fields, Format, InputError, InputSpec, PhoneCell, Raw, Row, Source};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn spec(path: &Path) -> InputSpec {
    InputSpec { path: path.to_path_buf(), ..InputSpec::default() }
}

/// Writes `content` to `name` in a fresh temp dir (kept alive by the guard).
fn file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write");
    (dir, path)
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(content).expect("gzip");
    enc.finish().expect("gzip")
}

/// Reads every row; panics if the read stopped early.
fn read_all(spec: &InputSpec) -> (Vec<Row>, Option<Vec<String>>) {
    let mut source = Source::open(spec).unwrap_or_else(|e| panic!("open: {e}"));
    let columns = source.columns().map(<[String]>::to_vec);
    let rows: Vec<Row> = source.by_ref().collect();
    if let Some(e) = source.take_error() {
        panic!("read stopped: {e}");
    }
    (rows, columns)
}

fn read(name: &str, content: &str) -> Vec<Row> {
    let (_dir, path) = file(name, content.as_bytes());
    read_all(&spec(&path)).0
}

fn ok(row: &Row) -> &Fields {
    row.fields.as_ref().unwrap_or_else(|e| panic!("line {}: malformed: {e}", row.line))
}

fn err(row: &Row) -> &str {
    match &row.fields {
        Ok(f) => panic!("line {}: expected malformed, got {f:?}", row.line),
        Err(e) => e,
    }
}

fn csv_values(row: &Row) -> Vec<Vec<u8>> {
    match &row.raw {
        Raw::Csv(r) => r.iter().map(<[u8]>::to_vec).collect(),
        other => panic!("expected Raw::Csv, got {other:?}"),
    }
}

fn open_err(spec: &InputSpec) -> InputError {
    match Source::open(spec) {
        Ok(_) => panic!("expected an error opening {}", spec.path.display()),
        Err(e) => e,
    }
}

// ---- the fixtures ----

fn settings(initialize: bool) -> CheckSettings {
    CheckSettings {
        project_id: Some("prj_sandbox".into()),
        process_id: None,
        default_region: leadctl::phone::parse_region("US").expect("US"),
        initialize,
        existing: false,
        require_project: true,
        require_process: true,
    }
}

fn code_counts(rows: &[Row], initialize: bool) -> (BTreeMap<&'static str, usize>, usize) {
    let unknown: UnknownProcesses = Arc::default();
    let mut checker = Checker::new(settings(initialize), unknown);
    let mut counts = BTreeMap::new();
    let mut leads = 0;
    // Two chunks, to cover state carried across chunks.
    for chunk in rows.chunks(20) {
        for checked in checker.check_chunk(chunk) {
            match checked {
                Checked::Lead(_) => leads += 1,
                Checked::Existing(_) => panic!("not in existing mode"),
                Checked::Rejected(rejects) => {
                    for r in rejects {
                        *counts.entry(r.code).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    (counts, leads)
}

#[test]
fn the_three_fixtures_hold_the_same_leads() {
    let (csv_rows, columns) = read_all(&spec(&fixture("leads.csv")));
    let (json_rows, _) = read_all(&spec(&fixture("leads.json")));
    let (ndjson_rows, _) = read_all(&spec(&fixture("leads.ndjson")));
    assert_eq!(csv_rows.len(), 54);
    assert_eq!(json_rows.len(), 54);
    assert_eq!(ndjson_rows.len(), 54);
    assert_eq!(
        columns.expect("csv has columns"),
        ["external_id", "first_name", "last_name", "phone", "email", "process_id", "plan", "source"]
    );
    for ((c, j), n) in csv_rows.iter().zip(&json_rows).zip(&ndjson_rows) {
        assert_eq!(ok(c), ok(j), "csv line {} vs json line {}", c.line, j.line);
        assert_eq!(ok(c), ok(n), "csv line {} vs ndjson line {}", c.line, n.line);
    }
    // The array has one element a line, after the `[` line.
    assert_eq!(json_rows.iter().map(|r| r.line).collect::<Vec<_>>(), (2..=55).collect::<Vec<_>>());
    assert_eq!(csv_rows.iter().map(|r| r.line).collect::<Vec<_>>(), (2..=55).collect::<Vec<_>>());
    assert_eq!(ndjson_rows.iter().map(|r| r.line).collect::<Vec<_>>(), (1..=54).collect::<Vec<_>>());
    let first = ok(&csv_rows[1]);
    assert_eq!(first.custom.get("source"), Some(&json!("trade show, NYC")));
}

#[test]
fn the_fixtures_reject_the_documented_counts() {
    let expected: BTreeMap<&str, usize> = [
        ("missing_phone", 2),
        ("invalid_phone", 2),
        ("repeating_digits", 2),
        ("missing_process", 2),
        ("invalid_email", 3),
        ("field_too_long", 1),
        ("duplicate_in_file", 2),
    ]
    .into_iter()
    .collect();
    for name in ["leads.csv", "leads.json", "leads.ndjson"] {
        let (rows, _) = read_all(&spec(&fixture(name)));
        let (counts, leads) = code_counts(&rows, false);
        assert_eq!(counts, expected, "{name}");
        assert_eq!(leads, 41, "{name}");
        let (counts, leads) = code_counts(&rows, true);
        let mut with_init = expected.clone();
        with_init.insert("call_already_queued", 1);
        assert_eq!(counts, with_init, "{name} with --initialize");
        assert_eq!(leads, 40, "{name} with --initialize");
    }
}

#[test]
fn every_good_fixture_number_is_valid_for_libphonenumber() {
    let us = leadctl::phone::parse_region("US").expect("US");
    let (rows, _) = read_all(&spec(&fixture("leads.csv")));
    for row in &rows {
        let f = ok(row);
        let ext = f.external_id.as_deref().unwrap_or("");
        // crm-1xxx are the good rows; crm-2007..2014 have good numbers too.
        let good = ext.starts_with("crm-1") || ("crm-2007".."crm-2015").contains(&ext);
        if good {
            let phone = f.phone.as_deref().unwrap_or("");
            assert!(leadctl::phone::parse(phone, us).is_ok(), "line {}: {phone}", row.line);
        }
    }
}

// ---- CSV and TSV ----

#[test]
fn csv_with_bom_crlf_and_quoted_newlines_numbers_rows_by_their_first_line() {
    let text = "\u{feff}Phone,First Name,notes\r\n\
                +14152739164,Ada,\"two\r\nlines\"\r\n\
                \r\n\
                (212) 736-4100,\"Grace \"\"Amazing\"\" Hopper\",plain\r\n";
    let (_dir, path) = file("a.csv", text.as_bytes());
    let (rows, columns) = read_all(&spec(&path));
    assert_eq!(columns.expect("columns"), ["Phone", "First Name", "notes"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(ok(&rows[0]).custom.get("notes"), Some(&json!("two\r\nlines")));
    assert_eq!(rows[1].line, 5);
    assert_eq!(ok(&rows[1]).first_name.as_deref(), Some("Grace \"Amazing\" Hopper"));
    assert_eq!(ok(&rows[1]).phone.as_deref(), Some("(212) 736-4100"));
}

#[test]
fn tsv_and_custom_delimiters() {
    let rows = read("a.tsv", "phone\tsurname\tplan\n4152739164\tLovelace\tgold\n");
    let f = ok(&rows[0]);
    assert_eq!(f.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(f.custom.get("plan"), Some(&json!("gold")));

    let (_dir, path) = file("a.csv", b"tel;email\n4152739164;a@example.com\n");
    let (rows, _) = read_all(&InputSpec { delimiter: Some(b';'), ..spec(&path) });
    assert_eq!(ok(&rows[0]).email.as_deref(), Some("a@example.com"));
}

#[test]
fn header_synonyms_map_every_field_and_the_rest_is_custom() {
    let rows = read(
        "a.csv",
        "Phone Number,given_name,SURNAME,E-Mail,process,Project_ID,crm-id,lead id,plan,empty\n\
         4152739164, Ada ,Lovelace,a@example.com,proc_1,prj_1,c1,ld_1,gold,\n",
    );
    let f = ok(&rows[0]);
    let expected = Fields {
        phone: Some("4152739164".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some("a@example.com".into()),
        process_id: Some("proc_1".into()),
        project_id: Some("prj_1".into()),
        external_id: Some("c1".into()),
        lead_id: Some("ld_1".into()),
        custom: serde_json::from_value(json!({"plan": "gold"})).expect("map"),
        may_exist: false,
        phone_cell: PhoneCell::Text,
    };
    assert_eq!(f, &expected);
}

#[test]
fn map_overrides_the_synonyms() {
    let (_dir, path) = file("a.csv", b"phone,Cell Phone,id\n111,4152739164,c1\n");
    let map = vec![("phoneNumber".into(), "cell phone".into()), ("externalId".into(), "id".into())];
    let (rows, _) = read_all(&InputSpec { map, ..spec(&path) });
    let f = ok(&rows[0]);
    assert_eq!(f.phone.as_deref(), Some("4152739164"));
    assert_eq!(f.external_id.as_deref(), Some("c1"));
    // The synonym column is not lost: it becomes a custom field.
    assert_eq!(f.custom.get("phone"), Some(&json!("111")));

    let (_dir, path) = file("a.json", br#"[{"phone": "111", "Cell Phone": "4152739164"}]"#);
    let map = vec![("phone".into(), "Cell Phone".into())];
    let (rows, _) = read_all(&InputSpec { map, ..spec(&path) });
    assert_eq!(ok(&rows[0]).phone.as_deref(), Some("4152739164"));
    assert_eq!(ok(&rows[0]).custom.get("phone"), Some(&json!("111")));
}

#[test]
fn leadctl_columns_are_ignored_and_left_out_of_the_raw_rows() {
    let (_dir, path) =
        file("rejected.csv", b"phone,leadctl_line,plan,LEADCTL_code\n4152739164,7,gold,invalid_email\n1,2,3,4,5\n");
    let (rows, columns) = read_all(&spec(&path));
    assert_eq!(columns.expect("columns"), ["phone", "plan"]);
    assert_eq!(csv_values(&rows[0]), [b"4152739164".to_vec(), b"gold".to_vec()]);
    assert_eq!(ok(&rows[0]).custom.len(), 1);
    // A longer malformed row keeps its extra value after the kept columns.
    assert_eq!(csv_values(&rows[1]), [b"1".to_vec(), b"3".to_vec(), b"5".to_vec()]);

    let rows = read("a.ndjson", "{\"phone\":\"4152739164\",\"leadctl_reason\":\"HTTP 503\",\"plan\":1}\n");
    match &rows[0].raw {
        Raw::Json(map) => assert_eq!(map.keys().collect::<Vec<_>>(), ["phone", "plan"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(ok(&rows[0]).custom.get("plan"), Some(&json!(1)));
}

#[test]
fn wrong_field_counts_are_malformed_and_name_the_extra_values() {
    let rows = read("a.csv", "phone,plan\n4152739164,gold,extra,\"more, text\"\n4152739164\n4152739164,gold\n");
    assert_eq!(err(&rows[0]), "row has 4 fields but the header has 2; the extra values are \"extra\", \"more, text\"");
    assert_eq!(err(&rows[1]), "row has 1 fields but the header has 2");
    assert_eq!(csv_values(&rows[0]).len(), 4);
    assert!(rows[2].fields.is_ok());
}

#[test]
fn trailing_unnamed_columns_and_their_empty_cells_are_dropped_and_many_extras_are_counted() {
    let rows = read("a.csv", "phone,plan,,\n4152739164,gold,,\n4152739164,gold\n4152739164,gold,,x\n4152739164,,,\n");
    assert!(rows[0].fields.is_ok() && rows[1].fields.is_ok() && rows[3].fields.is_ok());
    assert_eq!(csv_values(&rows[0]), csv_values(&rows[1]), "the empty cells under no name are dropped");
    assert_eq!(csv_values(&rows[3]).len(), 2);
    assert_eq!(err(&rows[2]), "row has 4 fields but the header has 2; the extra values are \"\", \"x\"");
    let many = format!("phone\n4152739164,{}\n", (0..25).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    let rows = read("b.csv", &many);
    assert!(err(&rows[0]).ends_with("\"8\", \"9\" and 15 more"), "{}", err(&rows[0]));
    assert_eq!(csv_values(&rows[0]).len(), 26, "the row keeps every value");
}

#[test]
fn a_stray_invalid_byte_in_a_utf8_file_is_malformed_names_the_column_and_keeps_the_bytes() {
    // The first bytes that are not ASCII are UTF-8, so the file is UTF-8.
    let (_dir, path) = file("a.csv", "phone,first_name,plan\n4152739164,Zoë,gold\n4152739164,Jos\u{1}\n".as_bytes());
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.iter().position(|&b| b == 1).expect("marker");
    bytes[at] = 0xE9;
    bytes.splice(at + 1..at + 1, b",gold".iter().copied());
    std::fs::write(&path, &bytes).expect("write");
    let (rows, _) = read_all(&spec(&path));
    assert!(rows[0].fields.is_ok());
    assert!(err(&rows[1]).contains("column \"first_name\" has bytes that are not valid UTF-8"), "{}", err(&rows[1]));
    assert_eq!(csv_values(&rows[1])[1], b"Jos\xe9");
}

#[test]
fn existing_mode_reads_lead_id_columns_and_needs_one() {
    let (_dir, path) = file("ids.csv", b"leadId,leadctl_reason\nld_1,HTTP 503\n");
    let (rows, columns) = read_all(&InputSpec { existing: true, ..spec(&path) });
    assert_eq!(columns.expect("columns"), ["leadId"]);
    assert_eq!(ok(&rows[0]).lead_id.as_deref(), Some("ld_1"));

    let (_dir, path) = file("ids.csv", b"id\nld_1\n");
    let e = open_err(&InputSpec { existing: true, ..spec(&path) });
    assert!(matches!(e, InputError::NotALeadFile { field: "leadId", .. }), "{e}");
    assert!(e.to_string().contains("ids.csv"), "{e}");
}

// ---- lines ----

#[test]
fn lines_skip_blanks_and_a_header_and_number_by_line() {
    let (_dir, path) = file("ids.txt", b"\xEF\xBB\xBFleadId\r\nld_1\r\n\r\n  ld_2  \nld_\xff\n");
    let (rows, columns) = read_all(&InputSpec { existing: true, ..spec(&path) });
    assert_eq!(columns.expect("columns"), ["leadId"]);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4, 5]);
    assert_eq!(ok(&rows[0]).lead_id.as_deref(), Some("ld_1"));
    assert_eq!(ok(&rows[1]).lead_id.as_deref(), Some("ld_2"));
    assert_eq!(csv_values(&rows[1]), [b"ld_2".to_vec()]);
    assert!(err(&rows[2]).contains("not valid UTF-8"));
    let source = Source::open(&InputSpec { existing: true, ..spec(&path) }).expect("open");
    assert_eq!(source.format(), Format::Lines);
}

// ---- JSON and NDJSON ----

#[test]
fn json_arrays_stream_elements_with_their_first_line() {
    let text = "\u{feff} [\n  {\"phone\": \"4152739164\",\n   \"note\": \"a ] , } in a string \\\" \"},\n\n  {\"tel\": 4152739164, \"vip\": true, \"score\": 9.5, \"x\": null},\n  42,\n  {\"phone\": \"1\", \"bad\": tru},\n  [1, 2]\n]\n";
    let rows = read("a.json", text);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 5, 6, 7, 8]);
    assert_eq!(ok(&rows[0]).custom.get("note"), Some(&json!("a ] , } in a string \" ")));
    let f = ok(&rows[1]);
    assert_eq!(f.phone.as_deref(), Some("4152739164"), "a number is accepted as a phone");
    assert_eq!(f.custom.get("vip"), Some(&json!(true)));
    assert_eq!(f.custom.get("score"), Some(&json!(9.5)));
    assert!(!f.custom.contains_key("x"));
    assert_eq!(err(&rows[2]), "a JSON number, not an object");
    assert!(matches!(rows[2].raw, Raw::Other(Value::Number(_))));
    assert!(err(&rows[3]).starts_with("not valid JSON"), "{}", err(&rows[3]));
    assert!(err(&rows[3]).contains("line 7"), "{}", err(&rows[3]));
    assert!(matches!(&rows[3].raw, Raw::Other(Value::String(s)) if s.contains("tru}")));
    assert_eq!(err(&rows[4]), "a JSON array, not an object");
}

#[test]
fn json_fields_of_the_wrong_type_are_malformed() {
    let rows = read(
        "a.ndjson",
        "{\"phone\": true, \"email\": 5, \"tags\": [\"a\"], \"meta\": {}}\n{\"externalId\": 991, \"phone\": \"4152739164\"}\n",
    );
    let e = err(&rows[0]);
    for part in [
        "phoneNumber (key \"phone\") is a boolean",
        "email (key \"email\") is a number",
        "custom field \"tags\" is a array",
        "custom field \"meta\" is a object",
    ] {
        assert!(e.contains(part), "{part} in {e}");
    }
    assert_eq!(ok(&rows[1]).external_id.as_deref(), Some("991"));
}

#[test]
fn ndjson_lines_that_are_not_json_are_malformed_and_blanks_are_skipped() {
    let rows = read("a.jsonl", "{\"phone\":\"1\"}\r\n\n   \n{oops\n[1]\n{\"phone\":\"2\"}");
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 4, 5, 6]);
    assert!(err(&rows[1]).starts_with("not valid JSON"));
    assert!(matches!(&rows[1].raw, Raw::Other(Value::String(s)) if s == "{oops"));
    assert_eq!(err(&rows[2]), "a JSON array, not an object");
    assert_eq!(ok(&rows[3]).phone.as_deref(), Some("2"));
}

#[test]
fn empty_json_array_and_empty_ndjson_have_no_rows() {
    assert!(read("a.json", " [ ] \n").is_empty());
    assert!(read("a.ndjson", "").is_empty());
    assert!(read("a.json", "[,]").is_empty());
}

// ---- gzip ----

#[test]
fn gzip_in_every_format_and_progress_counts_compressed_bytes() {
    let csv = "phone,plan\n4152739164,gold\n2127364100,silver\n";
    let json = r#"[{"phone":"4152739164"},{"phone":"2127364100"}]"#;
    let ndjson = "{\"phone\":\"4152739164\"}\n{\"phone\":\"2127364100\"}\n";
    for (name, text) in [("a.csv.gz", csv), ("a.json.gz", json), ("a.ndjson.gz", ndjson)] {
        let bytes = gzip(text.as_bytes());
        let (_dir, path) = file(name, &bytes);
        let mut source = Source::open(&spec(&path)).expect("open");
        assert_eq!(source.total_bytes(), Some(bytes.len() as u64));
        let progress = source.progress();
        let rows: Vec<Row> = source.by_ref().collect();
        assert!(source.take_error().is_none());
        assert_eq!(rows.len(), 2, "{name}");
        assert_eq!(ok(&rows[1]).phone.as_deref(), Some("2127364100"), "{name}");
        assert_eq!(progress.load(Ordering::Relaxed), bytes.len() as u64, "{name}");
    }
}

#[test]
fn gzip_is_detected_by_content_and_multi_member_files_read_whole() {
    let mut bytes = gzip(b"phone\n4152739164\n");
    bytes.extend(gzip(b"2127364100\n"));
    let (_dir, path) = file("export", &bytes);
    let (rows, _) = read_all(&InputSpec { format: Some(Format::Csv), ..spec(&path) });
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].line, 3);
}

#[test]
fn a_gz_name_without_gzip_content_is_refused() {
    let (_dir, path) = file("a.csv.gz", b"phone\n1\n");
    let e = open_err(&spec(&path));
    assert!(e.to_string().contains("not gzip"), "{e}");
}

// ---- errors ----

#[test]
fn files_that_cannot_be_read_fail_before_any_row() {
    let missing = open_err(&spec(Path::new("/nonexistent/leads.csv")));
    assert!(matches!(missing, InputError::NotFound { .. }));
    assert!(missing.to_string().contains("/nonexistent/leads.csv"));

    let (_d1, empty) = file("empty.csv", b"");
    assert!(matches!(open_err(&spec(&empty)), InputError::NoHeader { .. }));
    let (_d2, blank) = file("blank.csv", b"\n\n");
    assert!(matches!(open_err(&spec(&blank)), InputError::NoHeader { .. }));

    let (_d3, object) = file("a.json", b"  {\"phone\": \"1\"}\n{\"phone\": \"2\"}");
    let e = open_err(&spec(&object));
    assert!(e.to_string().contains("--format ndjson"), "{e}");
    let (_d4, csv_named_json) = file("a.json", b"phone\n1\n");
    assert!(matches!(open_err(&spec(&csv_named_json)), InputError::NotFormat { .. }));
    let (_d5, empty_json) = file("a.json", b"");
    assert!(matches!(open_err(&spec(&empty_json)), InputError::NotFormat { .. }));

    let (_d6, array) = file("a.ndjson", b"\n[{\"phone\": \"1\"}]\n");
    let e = open_err(&spec(&array));
    assert!(e.to_string().contains("--format json"), "{e}");

    let (_d7, unknown) = file("a.txt", b"phone\n1\n");
    assert!(matches!(open_err(&spec(&unknown)), InputError::UnknownFormat { .. }));
    let (_d7, not_a_workbook) = file("a.xlsx", b"PK");
    let e = open_err(&spec(&not_a_workbook));
    assert!(matches!(e, InputError::Sheet { .. }), "{e}");
    assert!(matches!(open_err(&spec(Path::new("-"))), InputError::StdinNeedsFormat));

    let (_d8, csv) = file("a.csv", b"phone\n1\n");
    let map = vec![("email".into(), "mail".into())];
    let e = open_err(&InputSpec { map, ..spec(&csv) });
    assert!(matches!(e, InputError::BadMap { .. }), "{e}");
    let e = open_err(&InputSpec { format: Some(Format::Lines), ..spec(&csv) });
    assert!(matches!(e, InputError::LinesNeedExisting { .. }), "{e}");
}

#[test]
fn a_json_array_cut_short_yields_the_rows_before_then_an_error() {
    let (_dir, path) = file("a.json", b"[\n{\"phone\": \"1\"},\n{\"phone\": \"2\"},\n{\"phone\": \"3\", \"na");
    let mut source = Source::open(&spec(&path)).expect("open");
    let rows: Vec<Row> = source.by_ref().collect();
    assert_eq!(rows.len(), 2);
    let e = source.take_error().expect("an error");
    assert!(matches!(e, InputError::Broken { .. }), "{e}");
    assert!(e.to_string().contains("starts at line 4"), "{e}");
    assert!(source.take_error().is_none());
    assert!(source.next().is_none());

    let (_dir, path) = file("b.json", b"[{\"phone\": \"1\"}");
    let mut source = Source::open(&spec(&path)).expect("open");
    assert_eq!(source.by_ref().count(), 1);
    assert!(source.take_error().expect("error").to_string().contains("closing `]`"));

    let (_dir, path) = file("c.json", b"[{\"phone\": \"1\"}] trailing");
    let mut source = Source::open(&spec(&path)).expect("open");
    assert_eq!(source.by_ref().count(), 1);
    assert!(source.take_error().expect("error").to_string().contains("after the array"));
}

#[test]
fn a_truncated_gzip_file_yields_what_it_can_then_an_error() {
    let mut text = String::from("phone,plan\n");
    for i in 0..20_000 {
        text.push_str(&format!("41527{i:05},plan number {i}\n"));
    }
    let bytes = gzip(text.as_bytes());
    let (_dir, path) = file("a.csv.gz", &bytes[..bytes.len() / 2]);
    let mut source = Source::open(&spec(&path)).expect("open");
    let rows: Vec<Row> = source.by_ref().collect();
    assert!(!rows.is_empty() && rows.len() < 20_000, "{}", rows.len());
    assert!(rows.iter().all(|r| r.fields.is_ok()), "no partial record is yielded");
    let e = source.take_error().expect("an error");
    assert!(matches!(e, InputError::Read { .. }), "{e}");
    assert!(e.to_string().contains("a.csv.gz"), "{e}");
}

#[test]
fn a_source_can_move_to_a_reader_thread() {
    fn is_send<T: Send + 'static>() {}
    is_send::<Source>();
    is_send::<InputError>();
}

#[test]
fn an_unclosed_quote_is_one_row_too_large_and_stops_the_read() {
    let mut text = String::from("phone,notes\n4152739164,ok\n2127364100,\"oops\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("6463892201,a normal looking row\n");
    }
    let (_dir, path) = file("a.csv", text.as_bytes());
    let mut source = Source::open(&spec(&path)).expect("open");
    let rows: Vec<Row> = source.by_ref().collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].line, 3);
    assert!(
        err(&rows[1]).starts_with("row too large") && err(&rows[1]).contains("no closing one"),
        "{}",
        err(&rows[1])
    );
    // The rows after the quote were swallowed: the read fails after it.
    let e = source.take_error().expect("an error");
    assert!(matches!(e, InputError::Broken { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("no closing one"), "{e}");
}

#[test]
fn an_endless_ndjson_line_is_one_row_too_large() {
    let mut text = String::from("{\"phone\": \"4152739164\"}\n{\"notes\": \"");
    text.push_str(&"x".repeat(9 * 1024 * 1024));
    let (_dir, path) = file("a.ndjson", text.as_bytes());
    let mut source = Source::open(&spec(&path)).expect("open");
    let rows: Vec<Row> = source.by_ref().collect();
    assert_eq!(rows.len(), 2);
    assert!(err(&rows[1]).starts_with("row too large: 9.0 MiB"), "{}", err(&rows[1]));
    assert!(source.take_error().is_none());
}

#[test]
fn ndjson_rows_all_too_large_are_malformed_not_a_file_refused() {
    let line = format!("{{\"phone\": \"4152739164\", \"notes\": \"{}\"}}\n", "x".repeat(1100 * 1024));
    let (_dir, path) = file("a.ndjson", line.repeat(3).as_bytes());
    let (rows, _) = read_all(&spec(&path));
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| err(r).starts_with("row too large")));
    assert!(rows.iter().all(|r| r.bytes > 1024 * 1024));
}
