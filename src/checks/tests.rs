//! Unit tests of the local checks: every code, several codes on one row,
//! the stateful rules across chunks, and the duplicate memory's size.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value, json};

use super::*;
use crate::input::Raw;

fn us() -> Region {
    phone::parse_region("US").expect("US")
}

fn settings() -> CheckSettings {
    CheckSettings {
        project_id: Some("prj_1".into()),
        process_id: None,
        default_region: us(),
        initialize: false,
        existing: false,
        require_project: true,
        require_process: true,
    }
}

fn checker(settings: CheckSettings) -> (Checker, UnknownProcesses) {
    let unknown: UnknownProcesses = Arc::new(RwLock::new(HashSet::new()));
    (Checker::new(settings, Arc::clone(&unknown)), unknown)
}

/// A row at `line` from JSON-ish fields.
fn row(line: u64, fields: Value) -> Row {
    let mut f: Fields = Fields::default();
    let Value::Object(map) = fields else { panic!("object") };
    for (k, v) in map {
        let s = |v: &Value| v.as_str().map(str::to_owned);
        match k.as_str() {
            "phone" => f.phone = s(&v),
            "process" => f.process_id = s(&v),
            "project" => f.project_id = s(&v),
            "first" => f.first_name = s(&v),
            "last" => f.last_name = s(&v),
            "email" => f.email = s(&v),
            "ext" => f.external_id = s(&v),
            "lead" => f.lead_id = s(&v),
            "custom" => f.custom = serde_json::from_value(v).expect("custom map"),
            other => panic!("unknown test key {other}"),
        }
    }
    Row { ordinal: 0, line, bytes: 0, raw: Raw::Json(Map::new()), fields: Ok(f), provenance: None }
}

fn good(line: u64, phone: &str) -> Row {
    row(line, json!({"phone": phone, "process": "proc_1"}))
}

fn codes(checked: &Checked) -> Vec<&'static str> {
    match checked {
        Checked::Rejected(r) => r.iter().map(|r| r.code).collect(),
        _ => vec![],
    }
}

fn message<'a>(checked: &'a Checked, code: &str) -> &'a str {
    match checked {
        Checked::Rejected(r) => r.iter().find(|r| r.code == code).map_or("", |r| r.message.as_str()),
        _ => "",
    }
}

#[test]
fn a_good_row_becomes_a_lead_in_e164_with_project_and_process() {
    let (mut c, _) = checker(settings());
    let mut r = row(
        2,
        json!({"phone": "(415) 273-9164", "process": "proc_1", "first": "Ada", "email": "ada@example.com",
               "ext": "crm-1", "custom": {"plan": "gold", "n": 3}}),
    );
    if let Ok(f) = &mut r.fields {
        f.last_name = Some("Lovelace".into());
    }
    let out = c.check_chunk(&[r]);
    let Checked::Lead(lead) = &out[0] else { panic!("{out:?}") };
    assert_eq!(lead.phone_number, "+14152739164");
    assert_eq!(lead.project_id, "prj_1");
    assert_eq!(lead.process_id, "proc_1");
    assert_eq!(lead.first_name.as_deref(), Some("Ada"));
    assert_eq!(lead.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(lead.external_id.as_deref(), Some("crm-1"));
    assert_eq!(lead.custom_fields.get("n"), Some(&json!(3)));
}

#[test]
fn every_stateless_code() {
    let (mut c, _) = checker(settings());
    let long = "x".repeat(101);
    let rows = [
        Row {
            ordinal: 0,
            line: 2,
            bytes: 1,
            raw: Raw::Other(json!(1)),
            fields: Err("a JSON number, not an object".into()),
            provenance: None,
        },
        row(3, json!({"process": "proc_1"})),
        row(4, json!({"phone": "hello", "process": "proc_1"})),
        row(5, json!({"phone": "+1 123 456 7890", "process": "proc_1"})),
        row(6, json!({"phone": "+1 555 555 5555", "process": "proc_1"})),
        row(7, json!({"phone": "4152739164"})),
        row(8, json!({"phone": "4152739164", "process": "proc_1", "project": "prj_2"})),
        row(9, json!({"phone": "4152739164", "process": "proc_1", "email": "ada@example"})),
        row(10, json!({"phone": "4152739164", "process": "proc_1", "first": long})),
        row(11, json!({"phone": "4152739164", "process": "proc_1", "custom": {"k".repeat(65): 1}})),
        row(12, json!({"phone": "4152739164", "process": "proc_1", "custom": {"v": "é".repeat(1001)}})),
        row(
            13,
            json!({"phone": "4152739164", "process": "proc_1",
                   "custom": (0..51).map(|i| (format!("k{i}"), json!(i))).collect::<Map<_, _>>()}),
        ),
    ];
    let out = c.check_chunk(&rows);
    let want: [&[&str]; 12] = [
        &["malformed_row"],
        &["missing_phone"],
        &["invalid_phone"],
        &["invalid_phone"],
        &["repeating_digits"],
        &["missing_process"],
        &["project_mismatch"],
        &["invalid_email"],
        &["field_too_long"],
        &["field_too_long"],
        &["field_too_long"],
        &["too_many_custom_fields"],
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(codes(&out[i]), *w, "row {}: {:?}", i + 2, out[i]);
    }
    assert_eq!(message(&out[0], "malformed_row"), "a JSON number, not an object");
    assert!(message(&out[8], "field_too_long").contains("firstName has 101 characters, at most 100"));
    assert!(message(&out[10], "field_too_long").contains("has 1001 characters, at most 1000"));
}

#[test]
fn phones_a_spreadsheet_damaged_are_rejected_before_parsing() {
    let (mut c, _) = checker(settings());
    let numeric = |line: u64, phone: &str| {
        let mut r = good(line, phone);
        if let Ok(f) = &mut r.fields {
            f.phone_cell = crate::input::PhoneCell::Number;
        }
        r
    };
    let rows = [
        good(2, "4.15273E+09"),
        numeric(3, "4152739164000000"),
        numeric(4, "4152739164"),
        row(5, json!({"phone": "4.15273E+09"})),
    ];
    let out = c.check_chunk(&rows);
    assert_eq!(codes(&out[0]), ["spreadsheet_mangled_phone"]);
    assert!(message(&out[0], "spreadsheet_mangled_phone").contains("scientific notation"));
    assert_eq!(codes(&out[1]), ["spreadsheet_mangled_phone"]);
    assert!(message(&out[1], "spreadsheet_mangled_phone").contains("format the phone column as Text"));
    assert!(matches!(&out[2], Checked::Lead(l) if l.phone_number == "+14152739164"), "{:?}", out[2]);
    assert_eq!(codes(&out[3]), ["missing_process", "spreadsheet_mangled_phone"]);
}

#[test]
fn missing_project_without_project_id() {
    let (mut c, _) = checker(CheckSettings { project_id: None, ..settings() });
    let out = c.check_chunk(&[good(2, "4152739164")]);
    assert_eq!(codes(&out[0]), ["missing_project"]);
}

#[test]
fn validate_without_a_project_skips_the_project_rule() {
    let (mut c, _) = checker(CheckSettings { project_id: None, require_project: false, ..settings() });
    let out = c.check_chunk(&[good(2, "4152739164")]);
    assert!(matches!(out[0], Checked::Lead(_)), "{:?}", out[0]);
}

#[test]
fn one_row_lists_every_rule_it_breaks() {
    let (mut c, _) = checker(settings());
    let out = c.check_chunk(&[row(
        2,
        json!({"phone": "+1 555 555 5555", "project": "prj_9", "email": "no at sign",
               "last": "y".repeat(300)}),
    )]);
    assert_eq!(
        codes(&out[0]),
        ["missing_process", "repeating_digits", "project_mismatch", "invalid_email", "field_too_long"]
    );
}

#[test]
fn without_project_id_the_first_row_with_one_sets_the_project() {
    let (mut c, _) = checker(CheckSettings { project_id: None, process_id: Some("proc_default".into()), ..settings() });
    let rows = [
        row(2, json!({"phone": "4152739164"})),
        row(3, json!({"phone": "2127364100", "project": "prj_a"})),
        row(4, json!({"phone": "6463892201", "project": "prj_b"})),
    ];
    let out = c.check_chunk(&rows[..2]);
    assert_eq!(codes(&out[0]), ["missing_project"]);
    let Checked::Lead(lead) = &out[1] else { panic!("{out:?}") };
    assert_eq!((lead.project_id.as_str(), lead.process_id.as_str()), ("prj_a", "proc_default"));
    // The next chunk still knows the first project.
    let out = c.check_chunk(&rows[2..]);
    assert_eq!(codes(&out[0]), ["project_mismatch"]);
    assert!(message(&out[0], "project_mismatch").contains("line 3"), "{out:?}");
}

#[test]
fn duplicates_name_the_earlier_line_across_chunks_and_formats() {
    let (mut c, _) = checker(settings());
    let out = c.check_chunk(&[good(2, "(415) 273-9164"), good(3, "2127364100")]);
    assert!(matches!(out[0], Checked::Lead(_)));
    let other_process = row(5, json!({"phone": "4152739164", "process": "proc_2"}));
    let out = c.check_chunk(&[good(4, "+1 415-273-9164"), other_process, good(6, "212 736 4100")]);
    assert_eq!(codes(&out[0]), ["duplicate_in_file"]);
    assert_eq!(message(&out[0], "duplicate_in_file"), "same project, process and phone as the row at line 2");
    assert!(matches!(out[1], Checked::Lead(_)), "another process is another lead");
    assert!(message(&out[2], "duplicate_in_file").ends_with("line 3"));
}

#[test]
fn a_rejected_row_is_not_remembered_as_a_duplicate_source() {
    let (mut c, _) = checker(settings());
    let out = c.check_chunk(&[
        row(2, json!({"phone": "4152739164", "process": "proc_1", "email": "bad"})),
        good(3, "4152739164"),
        row(4, json!({"phone": "4152739164", "process": "proc_1", "email": "bad"})),
    ]);
    assert_eq!(codes(&out[0]), ["invalid_email"]);
    assert!(matches!(out[1], Checked::Lead(_)));
    // A row breaking a rule and repeating an earlier one lists both.
    assert_eq!(codes(&out[2]), ["invalid_email", "duplicate_in_file"]);
}

#[test]
fn call_already_queued_only_with_initialize() {
    let rows =
        [good(2, "4152739164"), row(3, json!({"phone": "+14152739164", "process": "proc_2"})), good(4, "4152739164")];
    let (mut c, _) = checker(settings());
    let out = c.check_chunk(&rows);
    assert!(matches!(out[1], Checked::Lead(_)));
    assert_eq!(codes(&out[2]), ["duplicate_in_file"]);

    let (mut c, _) = checker(CheckSettings { initialize: true, ..settings() });
    let out = c.check_chunk(&rows);
    assert!(matches!(out[0], Checked::Lead(_)));
    assert_eq!(codes(&out[1]), ["call_already_queued"]);
    assert!(message(&out[1], "call_already_queued").contains("line 2"));
    assert_eq!(codes(&out[2]), ["duplicate_in_file"], "same process: one code says it");
}

#[test]
fn unknown_processes_are_rejected_once_the_server_named_them() {
    let (mut c, unknown) = checker(settings());
    let out = c.check_chunk(&[row(2, json!({"phone": "4152739164", "process": "proc_x"}))]);
    assert!(matches!(out[0], Checked::Lead(_)));
    unknown.write().expect("lock").insert("proc_x".into());
    let out = c.check_chunk(&[
        row(3, json!({"phone": "2127364100", "process": "proc_x"})),
        row(4, json!({"phone": "2127364100", "process": "proc_1"})),
    ]);
    assert_eq!(codes(&out[0]), ["unknown_process"]);
    assert!(message(&out[0], "unknown_process").contains("\"proc_x\""));
    assert!(matches!(out[1], Checked::Lead(_)));
}

#[test]
fn existing_mode_needs_a_lead_id_and_refuses_repeats() {
    let (mut c, _) = checker(CheckSettings { existing: true, project_id: None, ..settings() });
    let out = c.check_chunk(&[
        row(1, json!({"lead": "ld_1"})),
        row(2, json!({"phone": "4152739164"})),
        row(3, json!({"lead": "ld_2"})),
        row(4, json!({"lead": "ld_1"})),
    ]);
    assert_eq!(out[0], Checked::Existing("ld_1".into()));
    assert_eq!(codes(&out[1]), ["missing_lead_id"]);
    assert_eq!(out[2], Checked::Existing("ld_2".into()));
    assert_eq!(codes(&out[3]), ["duplicate_in_file"]);
    assert_eq!(message(&out[3], "duplicate_in_file"), "same lead id as the row at line 1");
}

#[test]
fn checking_sorted_rows_again_restores_the_memory_of_a_resumed_run() {
    // Resume checks the rows an earlier run sorted again and drops the results.
    let (mut c, _) = checker(CheckSettings { project_id: None, ..settings() });
    drop(c.check_chunk(&[row(2, json!({"phone": "4152739164", "process": "proc_1", "project": "prj_a"}))]));
    let out = c.check_chunk(&[
        row(3, json!({"phone": "4152739164", "process": "proc_1", "project": "prj_a"})),
        row(4, json!({"phone": "2127364100", "process": "proc_1", "project": "prj_b"})),
    ]);
    assert_eq!(codes(&out[0]), ["duplicate_in_file"]);
    assert_eq!(codes(&out[1]), ["project_mismatch"]);
}

#[test]
fn emails() {
    for ok in ["a@example.com", "first.last+tag@sub.example.co.uk", "o'neil@example.ie", "x@bücher.de"] {
        assert!(is_email(ok), "{ok}");
    }
    for bad in [
        "",
        "a",
        "a@",
        "@example.com",
        "a@example",
        "a@@example.com",
        "a b@example.com",
        "a@exa mple.com",
        ".a@example.com",
        "a..b@example.com",
        "a@example..com",
        "a@-example.com",
        "a@example.com.",
        "<a@example.com>",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
}

#[test]
fn interner_keys_are_exact_and_distinct_per_process() {
    let mut i = Interner::default();
    let a = i.key("proc_a", 14152739164);
    let b = i.key("proc_b", 14152739164);
    assert_ne!(a, b);
    assert_eq!(i.key("proc_a", 14152739164), a);
    assert_eq!(a & ((1 << 50) - 1), 14152739164);
    assert_eq!(i.key("proc_b", 999_999_999_999_999) >> 50, 1);
    // Past the exact range, keys fall back to a hash, still distinct.
    for n in 0..Interner::EXACT {
        i.key(&format!("p{n}"), 1);
    }
    let h1 = i.key("overflow_1", 14152739164);
    let h2 = i.key("overflow_2", 14152739164);
    assert_ne!(h1, h2);
    assert_eq!(i.key("overflow_1", 14152739164), h1);
}

#[test]
fn dup_table_finds_first_lines_and_saturates() {
    let mut t = DupTable::default();
    assert_eq!(t.first_or_insert(7, 2, true), None);
    assert_eq!(t.first_or_insert(7, 9, true), Some(2));
    assert_eq!(t.first_or_insert(8, 3, false), None);
    assert_eq!(t.get(8), None);
    assert_eq!(t.first_or_insert(u64::MAX, u32::MAX, true), None);
    assert_eq!(t.get(u64::MAX), Some(u32::MAX));
    assert_eq!(t.len(), 2);
    let huge = Row { line: u64::MAX, ..good(0, "4152739164") };
    let (mut c, _) = checker(settings());
    let out = c.check_chunk(&[huge, good(5, "4152739164")]);
    assert!(message(&out[1], "duplicate_in_file").ends_with(&format!("line {}", u32::MAX)));
}

/// Fills a table with `n` distinct (process, phone) keys; returns it with
/// the key of the last one.
fn filled(n: u64) -> (DupTable, u64) {
    let mut t = DupTable::default();
    let mut interner = Interner::default();
    let mut last = 0;
    for i in 0..n {
        let process = if i % 3 == 0 { "proc_support" } else { "proc_sales" };
        last = interner.key(process, 12_000_000_000 + i * 7);
        assert_eq!(t.first_or_insert(last, i as u32, true), None);
    }
    assert_eq!(t.len(), n as usize);
    assert_eq!(t.get(last), Some(n as u32 - 1));
    (t, last)
}

/// At most 16 bytes a key at a million keys (10-byte entries in vectors at
/// least 80% full, plus 1.5 MB of shard headers).
#[test]
fn dup_table_memory_per_key() {
    let n = 1_000_000;
    let (t, _) = filled(n);
    let per_key = t.allocation_size() as f64 / n as f64;
    assert!(per_key <= 16.0, "{per_key} bytes a key");
}

/// 5 million distinct keys stay under 70 MB (about 13 bytes a key). Slow
/// without optimisations: `cargo test --release -- dup_table` runs it.
#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn dup_table_memory_for_five_million_keys() {
    let n = 5_000_000;
    let (t, _) = filled(n);
    let bytes = t.allocation_size();
    assert!(bytes < 70_000_000, "{bytes} bytes for {n} keys");
}
