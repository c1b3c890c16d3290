//! Lead files as operators have them, end to end against the sandbox: the
//! Excel fixtures (`fixtures/make_fixtures.py` writes them; its doc lists
//! their counts), UTF-16, files that are not lead files, a named pipe, and
//! rows larger than the 1 MiB a row may have.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Record, Run, World, codes, leads_csv, valid_phone};
use leadctl::input::{InputSpec, Row, Source};
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn by_id<'a>(rows: &'a [Record], column: &str, id: &str) -> &'a Record {
    rows.iter().find(|r| r[column] == id).unwrap_or_else(|| panic!("no row {id} in {rows:?}"))
}

fn want(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// A run that stopped before anything was sent: exit 1, no output files,
/// no request; returns the error line.
fn assert_stopped_before_sending(world: &World, run: &Run) -> String {
    run.assert_code(1);
    assert!(!run.out.exists(), "no output directory for a run that never started: {}", run.out.display());
    assert!(world.state().requests.is_empty(), "nothing was sent");
    run.stderr.lines().find(|l| l.starts_with("leadctl: error:")).unwrap_or_default().to_owned()
}

#[test]
fn an_excel_windows_1252_csv_uploads_with_its_names_intact() {
    let world = World::with_sandbox(|_| {});
    let run = world.upload(&fixture("leads-excel-windows1252.csv"), &[]);
    run.assert_code(3);
    assert!(run.stderr.contains("as windows-1252 (detected"), "{}", run.stderr);
    assert_eq!(run.csv_counts(), (6, 2, 0));
    assert_eq!(codes(&run.csv("rejected")), want(&[("missing_phone", 1), ("spreadsheet_mangled_phone", 1)]));
    // Outputs are UTF-8 (reading them as `String`s would fail otherwise).
    let accepted = run.csv("accepted");
    let jose = by_id(&accepted, "external_id", "xl-1");
    assert_eq!((jose["first_name"].as_str(), jose["last_name"].as_str()), ("José", "Núñez"));
    assert_eq!(jose["plan"], "gold €");
    let zoe = by_id(&accepted, "external_id", "xl-3");
    assert_eq!((zoe["first_name"].as_str(), zoe["last_name"].as_str()), ("Zoë", "Ørsted"));
    let rejected = run.csv("rejected");
    let renee = by_id(&rejected, "external_id", "xl-6");
    assert_eq!(renee["first_name"], "Renée");
    assert!(renee["leadctl_reason"].contains("format the phone column as Text"), "{}", renee["leadctl_reason"]);
    assert_eq!(world.state().leads.len(), 6);
    let summary = run.summary();
    assert_eq!(summary["input"]["encoding"], "windows-1252");
    assert_eq!(summary["input"]["encoding_source"], "detected");
}

#[test]
fn a_semicolon_csv_is_split_and_its_phone_column_mapped() {
    let world = World::with_sandbox(|_| {});
    let file = fixture("leads-semicolon.csv");
    // "Telefon" is no name leadctl knows: the run stops and says what to pass.
    let run = world.upload(&file, &[]);
    let error = assert_stopped_before_sending(&world, &run);
    assert!(error.contains("leads-semicolon.csv") && error.contains("\"Telefon\""), "{error}");
    assert!(error.contains("--map phoneNumber=COLUMN"), "{error}");

    let run = world.upload(&file, &["--map", "phoneNumber=Telefon"]);
    run.assert_code(3);
    assert!(run.stderr.contains("separated by \";\""), "{}", run.stderr);
    assert_eq!(run.csv_counts(), (5, 1, 0));
    assert_eq!(codes(&run.csv("rejected")), want(&[("invalid_phone", 1)]));
    let accepted = run.csv("accepted");
    let juergen = by_id(&accepted, "Kundennummer", "de-1");
    assert_eq!((juergen["Vorname"].as_str(), juergen["Nachname"].as_str()), ("Jürgen", "Groß"));
    assert_eq!(juergen["Umsatz"], "1.250,50", "a decimal comma stays in its column");
    assert_eq!(juergen["leadctl_phone_e164"], "+14157602028");
    assert_eq!(run.summary()["input"]["delimiter"], ";");
    assert_eq!(run.summary()["input"]["delimiter_sniffed"], true);
}

#[test]
fn a_workbook_uploads_its_first_sheet_row_by_row_in_every_format() {
    for name in ["leads.xlsx", "leads.xls", "leads.ods"] {
        let world = World::with_sandbox(|_| {});
        let run = world.upload(&fixture(name), &[]);
        run.assert_code(3);
        assert_eq!(run.csv_counts(), (5, 3, 0), "{name}");
        let rejected = run.csv("rejected");
        assert_eq!(codes(&rejected), want(&[("missing_phone", 1), ("spreadsheet_mangled_phone", 2)]), "{name}");
        // Lines are the sheet's row numbers: the header is on row 2, row 6 is blank.
        let accepted = run.csv("accepted");
        let lines: Vec<&str> = accepted.iter().map(|r| r["leadctl_line"].as_str()).collect();
        assert_eq!(lines, ["3", "4", "5", "9", "11"], "{name}");
        // Cells as a person reads them.
        let ada = by_id(&accepted, "external_id", "ws-1");
        let cells = (ada["signup_date"].as_str(), ada["score"].as_str(), ada["vip"].as_str());
        assert_eq!(cells, ("2024-03-01", "0.3", "true"), "{name}");
        let alan = by_id(&accepted, "external_id", "ws-3");
        assert_eq!((alan["phone"].as_str(), alan["leadctl_phone_e164"].as_str()), ("6462749779", "+16462749779"));
        let long = by_id(&rejected, "external_id", "ws-4");
        assert_eq!(long["phone"], "4915112345678900", "{name}: a long number reads without an exponent");
        assert_eq!(by_id(&rejected, "external_id", "ws-5")["leadctl_line"], "8");
        // One warning for the numeric phone cells, however many there are.
        assert_eq!(run.stderr.matches("holds numbers, not text").count(), 1, "{name}: {}", run.stderr);
        assert!(run.stderr.contains("sheet \"Leads\""), "{name}: {}", run.stderr);
        assert_eq!(world.state().leads.len(), 5, "{name}");
        let input = &run.summary()["input"];
        assert_eq!(input["sheet"], "Leads", "{name}");
        assert!(input["numeric_phone_cells"].as_u64().is_some_and(|n| n >= 1), "{name}: {input}");
    }
}

#[test]
fn another_sheet_is_chosen_by_name_or_position_and_must_hold_leads() {
    let world = World::with_sandbox(|_| {});
    let file = fixture("leads.xlsx");
    let run = world.upload(&file, &["--sheet", "1", "--dry-run"]);
    run.assert_code(3);
    std::fs::remove_dir_all(&run.out).expect("remove the dry run's outputs");
    let run = world.upload(&file, &["--sheet", "notes"]);
    let error = assert_stopped_before_sending(&world, &run);
    assert!(error.contains("\"note\", \"author\"") && error.contains("--sheet NAME"), "{error}");
    assert!(error.contains("\"Leads\""), "names the other sheet: {error}");
    let run = world.upload(&file, &["--sheet", "3"]);
    let error = assert_stopped_before_sending(&world, &run);
    assert!(error.contains("no sheet \"3\"") && error.contains("\"Leads\", \"Notes\""), "{error}");
}

#[test]
fn a_utf16_file_with_a_byte_order_mark_is_decoded() {
    let world = World::with_sandbox(|_| {});
    let mut text = leads_csv(8, "proc_sales");
    text.push_str(&format!("crm-8,Zoë,{},proc_sales\n", valid_phone(8)));
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.replace('\n', "\r\n").encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let file = world.file("unicode-text.csv", bytes);
    let run = world.upload(&file, &[]);
    run.assert_code(0);
    assert!(run.stderr.contains("as UTF-16LE (from its byte order mark)"), "{}", run.stderr);
    let accepted = run.csv("accepted");
    assert_eq!(accepted.len(), 9);
    assert_eq!(by_id(&accepted, "external_id", "crm-8")["first_name"], "Zoë");
}

#[test]
fn a_file_without_a_phone_column_stops_before_anything_is_sent() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("contacts.csv", "name,city,Handy\nAda,London,+44 20 7946 0958\n");
    let run = world.upload(&file, &[]);
    let error = assert_stopped_before_sending(&world, &run);
    assert!(error.contains("contacts.csv") && error.contains("no phone column"), "{error}");
    assert!(error.contains("\"name\", \"city\", \"Handy\""), "{error}");
    assert!(error.contains("--map phoneNumber=COLUMN"), "{error}");

    let file = world.file("contacts.ndjson", "{\"name\":\"Ada\"}\n{\"name\":\"Bob\",\"city\":\"Rome\"}\n");
    let error = assert_stopped_before_sending(&world, &world.upload(&file, &[]));
    assert!(error.contains("none of its first 2 objects has a phone key") && error.contains("\"city\""), "{error}");

    let file = world.file("ids.csv", "id\nld_1\n");
    let error = assert_stopped_before_sending(&world, &world.upload(&file, &["--existing"]));
    assert!(error.contains("--map leadId=COLUMN"), "{error}");
}

#[test]
fn random_bytes_named_csv_stop_with_exit_1() {
    let world = World::with_sandbox(|_| {});
    // A fixed pseudo-random sequence (xorshift), so the test is the same every run.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    let file = world.file("export.csv", bytes);
    let error = assert_stopped_before_sending(&world, &world.upload(&file, &[]));
    assert!(error.contains("export.csv") && error.contains("not a text file"), "{error}");
}

#[test]
fn a_named_pipe_is_read_exactly_once() {
    let world = World::with_sandbox(|_| {});
    let fifo = world.path("leads.csv");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let text = leads_csv(5000, "proc_sales");
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text))
    };
    let run = world.upload(&fifo, &[]);
    if !writer.is_finished() {
        // The run did not read the pipe to its end: unblock the writer.
        let _ = std::fs::read(&fifo);
    }
    writer.join().expect("writer thread").expect("write to the pipe");
    run.assert_code(0);
    assert_eq!(run.csv_counts(), (5000, 0, 0));
    assert_eq!(run.summary()["counts"]["read"], 5000);
    assert_eq!(world.state().leads.len(), 5000);
    // Read once: no journal, and it says so; the summary's digest is that read's.
    assert!(run.stderr.contains("keeps no journal"), "{}", run.stderr);
    assert!(!run.out.join("journal.ndjson").exists());
    assert_eq!(run.summary()["input"]["sha256"], format!("{:x}", Sha256::digest(text.as_bytes())));

    // The size and SHA-256 come from that one read.
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text))
    };
    let mut source = Source::open(&InputSpec { path: fifo.clone(), ..InputSpec::default() }).expect("open");
    assert!(!source.is_regular_file());
    assert_eq!(source.by_ref().count(), 5000);
    writer.join().expect("writer thread").expect("write to the pipe");
    let digest = source.digest().expect("a digest once read to the end");
    assert_eq!(digest.size, text.len() as u64);
    assert_eq!(digest.sha256, format!("{:x}", Sha256::digest(text.as_bytes())));
}

/// Rows 1-3 and 5-7 are leads; row 4 (line 5) is larger than 1 MiB.
fn around_a_huge_row(huge: impl Fn(&str) -> String, row: impl Fn(usize) -> String) -> String {
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&row(i));
    }
    text.push_str(&huge(&"x".repeat(1536 * 1024)));
    for i in 3..6 {
        text.push_str(&row(i));
    }
    text
}

#[test]
fn a_row_larger_than_1_mib_is_rejected_and_the_rows_around_it_sorted() {
    let world = World::with_sandbox(|_| {});
    let mut csv = String::from("external_id,phone,process_id,notes\n");
    csv.push_str(&around_a_huge_row(
        |big| format!("huge,{},proc_sales,\"{big}\"\n", valid_phone(99)),
        |i| format!("r{i},{},proc_sales,\"a note, quoted\"\n", valid_phone(i)),
    ));
    let ndjson = around_a_huge_row(
        |big| format!("{{\"external_id\":\"huge\",\"phone\":\"{}\",\"notes\":\"{big}\"}}\n", valid_phone(99)),
        // Other numbers than the CSV's: the same sandbox already has those.
        |i| {
            format!(
                "{{\"external_id\":\"r{i}\",\"phone\":\"{}\",\"process_id\":\"proc_sales\"}}\n",
                valid_phone(i + 10)
            )
        },
    );
    for (name, text) in [("big.csv", csv), ("big.ndjson", ndjson)] {
        let file = world.file(name, text);
        let out = world.path(&format!("out-{name}"));
        let mut run =
            world.leadctl(&["upload", file.to_str().expect("utf-8"), "--out-dir", out.to_str().expect("utf-8")]);
        run.out = out;
        run.assert_code(3);
        let (line, reason) = if name.ends_with(".csv") {
            let (accepted, rejected, retryable) = run.csv_counts();
            assert_eq!((accepted, rejected, retryable), (6, 1, 0), "{name}");
            let rejected = run.csv("rejected");
            (rejected[0]["leadctl_line"].clone(), rejected[0]["leadctl_reason"].clone())
        } else {
            assert_eq!(run.ndjson("accepted").len(), 6, "{name}: {}", run.stderr);
            let rejected = run.ndjson("rejected");
            assert_eq!(rejected.len(), 1);
            (rejected[0]["leadctl_line"].to_string(), rejected[0]["leadctl_reason"].as_str().unwrap_or("").to_owned())
        };
        let want_line = if name.ends_with(".csv") { "5" } else { "4" };
        assert_eq!(line, want_line, "{name}");
        assert!(reason.starts_with("row too large: 1.5 MiB"), "{name}: {reason}");
    }
}

#[test]
fn a_huge_row_is_not_kept_by_the_reader() {
    // The raw row of a too-large record holds nothing of it.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.csv");
    let mut f = std::fs::File::create(&path).expect("create");
    write!(f, "phone,notes\n4155313471,\"{}\"\n", "y".repeat(3 << 20)).expect("write");
    drop(f);
    let rows: Vec<Row> = Source::open(&InputSpec { path, ..InputSpec::default() }).expect("open").collect();
    assert_eq!(rows.len(), 1);
    match &rows[0].raw {
        leadctl::input::Raw::Csv(r) => assert!(r.as_slice().is_empty()),
        other => panic!("{other:?}"),
    }
}
