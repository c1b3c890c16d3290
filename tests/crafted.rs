//! Crafted files and crafted answers: what a file or a server claims is not
//! believed past what it holds. A spreadsheet cell past the last column, a
//! CSV header of 200,000 empty columns, an ods whose rows repeat a million
//! times, each refused or read at the input's size; and no output cell
//! leadctl writes itself starts a spreadsheet formula, while the input's
//! own cells come back exact. Each through the real binary.

mod common;

use std::path::Path;

use common::hostile::{Hostile, KEY, Reply};
use common::sheets::{self, xlsx_cell};
use common::{Run, World, run_measured, valid_phone};
use serde_json::json;

/// `leadctl upload FILE --out-dir DIR ARGS` against the hostile server.
fn upload_to(world: &World, server: &Hostile, file: &Path, out: &str, args: &[&str]) -> Run {
    let out = world.path(out);
    let mut c = world.cmd();
    c.env("LEADCTL_API_URL", server.url()).env("LEADCTL_API_KEY", KEY).env("LEADCTL_PROJECT_ID", "prj_sandbox");
    c.args(["upload", file.to_str().expect("utf-8"), "--quiet", "--out-dir", out.to_str().expect("utf-8")]);
    c.args(args);
    Run { out, ..Run::from(c.output().expect("leadctl runs")) }
}

/// Whether a spreadsheet would read `value` as a formula (OWASP's first
/// characters), a plain number aside.
fn starts_a_formula(value: &str) -> bool {
    let number = value.strip_prefix(['+', '-']).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number
}

#[test]
fn leadctls_own_cells_never_start_a_formula_and_the_inputs_cells_come_back_exact() {
    let world = World::new();
    // Lead 0 created under a hostile id, 1 and 2 refused with hostile
    // reasons, 3 not mentioned (retryable, may exist).
    let answer = json!({
        "leads": [{ "index": 0, "leadId": "=HYPERLINK(\"http://evil.example\",\"open\")" }],
        "errors": [{ "index": 1, "error": "=cmd|' /C calc'!A0" }, { "index": 2, "error": "@SUM(1+1)" }],
    });
    let server = Hostile::start(&world.rt, vec![Reply::status(200, &answer.to_string())]);
    let plans = ["=1+1", "+SUM(A1)", "-2+3", "@x"];
    let mut csv = String::from("external_id,phone,process_id,plan\n");
    for (i, plan) in plans.iter().enumerate() {
        csv.push_str(&format!("crm-{i},{},proc_sales,{plan}\n", valid_phone(i)));
    }
    let file = world.file("l.csv", csv);
    let run = upload_to(&world, &server, &file, "out", &["--batch-size", "4", "--max-attempts", "1"]);
    run.assert_code(4);
    run.assert_every_row_once(4);

    let (accepted, rejected, retryable) = (run.csv("accepted"), run.csv("rejected"), run.csv("retryable"));
    assert_eq!(accepted[0]["leadctl_lead_id"], "'=HYPERLINK(\"http://evil.example\",\"open\")");
    assert_eq!(rejected[0]["leadctl_reason"], "'=cmd|' /C calc'!A0");
    assert_eq!(rejected[1]["leadctl_reason"], "'@SUM(1+1)");
    for row in accepted.iter().chain(&rejected).chain(&retryable) {
        for (column, value) in row.iter().filter(|(c, _)| c.starts_with("leadctl_")) {
            assert!(!starts_a_formula(value), "{column} = {value:?} starts a formula");
        }
    }
    // The input's cells, exactly as read, in whichever file.
    let plan_of = |id: &str| {
        let all = accepted.iter().chain(&rejected).chain(&retryable);
        all.filter(|r| r["external_id"] == id).map(|r| r["plan"].clone()).next().expect("the row is in a file")
    };
    for (i, plan) in plans.iter().enumerate() {
        assert_eq!(plan_of(&format!("crm-{i}")), *plan);
    }
    assert_eq!(rejected.len(), 2);
    assert!(accepted[0]["leadctl_phone_e164"].starts_with("+1"), "E.164 is written as it is");

    // The retryable file, fed back, sends the cell exactly as the input had it.
    let again = Hostile::start(&world.rt, vec![]);
    let retry = upload_to(&world, &again, &run.out.join("retryable.csv"), "out2", &[]);
    retry.assert_code(0);
    let sent = &again.seen()[0].body["leads"][0];
    assert_eq!(sent["externalId"], "crm-3");
    assert_eq!(sent["customFields"]["plan"], "@x");
    assert_eq!(retry.csv("accepted")[0]["plan"], "@x");
}

/// Bytes of the three output files of a run.
fn output_bytes(run: &Run) -> u64 {
    let size = |name: &str| std::fs::metadata(run.out.join(name)).map_or(0, |m| m.len());
    ["accepted.csv", "rejected.csv", "retryable.csv"].iter().map(|n| size(n)).sum()
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
fn a_csv_header_of_200000_empty_columns_gives_outputs_of_the_inputs_size() {
    let world = World::with_sandbox(|_| {});
    let mut csv = format!("external_id,phone,process_id{}\n", ",".repeat(200_000));
    for i in 0..500 {
        // Half the rows end where their values end, half with a few
        // empty cells more (as spreadsheets export a ragged range).
        let tail = if i % 2 == 0 { String::new() } else { ",".repeat(i % 40) };
        csv.push_str(&format!("crm-{i},{},proc_sales{tail}\n", valid_phone(i)));
    }
    let file = world.file("wide.csv", &csv);
    let run = world.upload(&file, &[]);
    run.assert_code(0);
    run.assert_every_row_once(500);
    let written = output_bytes(&run);
    assert!(written < 2 * csv.len() as u64, "{written} bytes written for an input of {}", csv.len());
    let header = std::fs::read_to_string(run.out.join("accepted.csv")).expect("accepted.csv");
    let header = header.lines().next().expect("a header");
    assert!(header.starts_with("external_id,phone,process_id,leadctl_line,"), "{header}");
}

#[test]
fn a_csv_header_wider_than_a_spreadsheet_can_be_is_not_a_lead_file() {
    let world = World::with_sandbox(|_| {});
    let names: Vec<String> = (0..16_384).map(|i| format!("c{i}")).collect();
    let file = world.file("wide.csv", format!("phone,{}\n{},x\n", names.join(","), valid_phone(0)));
    let error = assert_stopped_before_sending(&world, &world.upload(&file, &[]));
    assert!(error.contains("wide.csv") && error.contains("16,385 columns") && error.contains("16,384"), "{error}");
}

#[test]
fn a_malformed_row_is_written_as_read_not_padded_to_the_header() {
    let world = World::with_sandbox(|_| {});
    let names: Vec<String> = (3..16_000).map(|i| format!("c{i}")).collect();
    let mut csv = format!("external_id,phone,process_id,{}\n", names.join(","));
    for i in 0..500 {
        csv.push_str(&format!("crm-{i},{},proc_sales\n", valid_phone(i)));
    }
    let file = world.file("short.csv", &csv);
    let run = world.upload(&file, &[]);
    run.assert_code(3);
    let written = output_bytes(&run);
    // The header of 100 KB in each of the three files, and the rows as they
    // came with their reasons (padded, they were 8 MB).
    assert!(written < 4 * csv.len() as u64, "{written} bytes written for an input of {}", csv.len());
    // leadctl's columns are the last fields of a malformed row's line.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(run.out.join("rejected.csv")).expect("csv");
    let mut rows = 0;
    for record in reader.records() {
        let record = record.expect("a record");
        let fields: Vec<&str> = record.iter().collect();
        let [id, _phone, process, line, origin_file, origin_line, code, reason, source, status] = fields[..] else {
            panic!("a row written as read, then leadctl's seven columns: {fields:?}");
        };
        assert!(id.starts_with("crm-") && process == "proc_sales", "{fields:?}");
        assert!(origin_file.ends_with("short.csv") && origin_line == line, "{fields:?}");
        assert_eq!((code, source, status), ("malformed_row", "local", ""));
        assert!(line.parse::<u64>().is_ok() && reason.contains("the header has 16000"), "{fields:?}");
        rows += 1;
    }
    assert_eq!(rows, 500);
    assert_eq!(run.summary()["rejected_by_code"]["malformed_row"], 500, "{}", run.summary());
}

/// `leadctl upload FILE` against the sandbox, measured: what it did and
/// its peak resident memory in KiB.
fn upload_measured(world: &World, file: &Path) -> (Run, u64) {
    let out = world.path("out");
    let sb = world.sandbox();
    let mut c = world.cmd();
    c.env("LEADCTL_API_URL", sb.url()).env("LEADCTL_API_KEY", sb.api_key()).env("LEADCTL_PROJECT_ID", sb.project_id());
    c.args(["upload", file.to_str().expect("utf-8"), "--quiet", "--out-dir", out.to_str().expect("utf-8")]);
    let (run, peak) = run_measured(c);
    (Run { out, ..run }, peak)
}

/// A sheet whose header has a cell at `far`, and 100 leads.
fn sheet_with_a_far_header_cell(far: &str) -> Vec<u8> {
    let mut rows = format!(
        "<row r=\"1\">{}{}{}</row>",
        xlsx_cell("A1", "phone"),
        xlsx_cell("B1", "process_id"),
        xlsx_cell(&format!("{far}1"), "far")
    );
    for r in 2..=101 {
        let phone = valid_phone(r);
        rows.push_str(&format!(
            "<row r=\"{r}\">{}{}</row>",
            xlsx_cell(&format!("A{r}"), &phone),
            xlsx_cell(&format!("B{r}"), "proc_sales")
        ));
    }
    sheets::xlsx(&rows)
}

#[test]
fn a_header_cell_past_a_spreadsheets_last_column_is_not_a_lead_file() {
    for (far, column) in [("AAAAA", "475,255"), ("ZZZZZZ", "321,272,406")] {
        let world = World::with_sandbox(|_| {});
        let file = world.file("far.xlsx", sheet_with_a_far_header_cell(far));
        let (run, peak_kib) = upload_measured(&world, &file);
        eprintln!("{far}1: exit {}, peak memory {} MiB", run.code, peak_kib / 1024);
        let error = assert_stopped_before_sending(&world, &run);
        assert!(error.contains("far.xlsx is not a lead file"), "{error}");
        assert!(error.contains(&format!("column {far} ({column})")) && error.contains("XFD"), "{error}");
        assert!(peak_kib < 100 * 1024, "peak memory {} MiB", peak_kib / 1024);
    }
    // XFD itself is the last column a sheet has: such a header is read.
    let world = World::with_sandbox(|_| {});
    let file = world.file("xfd.xlsx", sheet_with_a_far_header_cell("XFD"));
    let (run, peak_kib) = upload_measured(&world, &file);
    run.assert_code(0);
    assert_eq!(run.csv("accepted").len(), 100);
    assert!(peak_kib < 150 * 1024, "peak memory {} MiB", peak_kib / 1024);
}

#[test]
fn a_cell_past_the_last_column_makes_its_row_malformed_and_is_not_kept() {
    let world = World::with_sandbox(|_| {});
    let mut rows = format!("<row r=\"1\">{}{}</row>", xlsx_cell("A1", "phone"), xlsx_cell("B1", "process_id"));
    for r in 2..=11 {
        let far = if r == 5 { xlsx_cell(&format!("AAAAA{r}"), "far away") } else { String::new() };
        rows.push_str(&format!(
            "<row r=\"{r}\">{}{}{far}</row>",
            xlsx_cell(&format!("A{r}"), &valid_phone(r)),
            xlsx_cell(&format!("B{r}"), "proc_sales")
        ));
    }
    let file = world.file("far.xlsx", sheets::xlsx(&rows));
    let run = world.upload(&file, &[]);
    run.assert_code(3);
    assert_eq!(run.csv("accepted").len(), 9);
    let rejected = run.csv("rejected");
    assert_eq!((rejected.len(), rejected[0]["leadctl_line"].as_str()), (1, "5"));
    let reason = &rejected[0]["leadctl_reason"];
    assert!(reason.contains("column AAAAA") && reason.contains("XFD"), "{reason}");
    assert!(!std::fs::read_to_string(run.out.join("rejected.csv")).expect("rejected").contains("far away"));
}

/// An ods header row and `leads` rows of leads, each a phone and a process.
fn ods_leads(leads: usize) -> String {
    let cell = |text: &str| sheets::ods_cell(text, 1);
    let mut rows = sheets::ods_row(&format!("{}{}", cell("phone"), cell("process_id")), 1);
    for i in 0..leads {
        rows.push_str(&sheets::ods_row(&format!("{}{}", cell(&valid_phone(i)), cell("proc_sales")), 1));
    }
    rows
}

#[test]
fn an_ods_whose_row_repeats_a_million_times_is_refused_by_what_it_would_take() {
    let world = World::with_sandbox(|_| {});
    let rows = format!("{}{}", ods_leads(1), sheets::ods_row(&sheets::ods_cell("x", 100), 990_000));
    let bytes = sheets::ods(&rows);
    assert!(bytes.len() < 2048, "a small file: {} bytes", bytes.len());
    let file = world.file("repeats.ods", bytes);
    let (run, peak_kib) = upload_measured(&world, &file);
    eprintln!("ods of 990,000 x 100 repeated cells: exit {}, peak memory {} MiB", run.code, peak_kib / 1024);
    let error = assert_stopped_before_sending(&world, &run);
    assert!(error.contains("repeats.ods is not a lead file") && error.contains("\"Leads\""), "{error}");
    assert!(error.contains("256 MiB") && error.contains("read whole") && error.contains(".xlsx"), "{error}");
    assert!(peak_kib < 100 * 1024, "peak memory {} MiB", peak_kib / 1024);
}

#[test]
fn an_ods_with_libreoffices_trailing_empty_rows_and_cells_is_read() {
    let world = World::with_sandbox(|_| {});
    // LibreOffice ends every row with its empty cells to column AMJ, and
    // every sheet with its empty rows to row 1,048,576.
    let empty_cells = "<table:table-cell table:number-columns-repeated=\"1022\"/>";
    let rows = ods_leads(5).replace("</table:table-row>", &format!("{empty_cells}</table:table-row>"));
    let trailing = sheets::ods_row("<table:table-cell table:number-columns-repeated=\"1024\"/>", 1_048_570);
    let file = world.file("leads.ods", sheets::ods(&format!("{rows}{trailing}")));
    let (run, peak_kib) = upload_measured(&world, &file);
    run.assert_code(0);
    assert_eq!(run.csv("accepted").len(), 5);
    assert!(peak_kib < 100 * 1024, "peak memory {} MiB", peak_kib / 1024);
}

/// The xls fixture with the bytes of its first record of `kind` (type and
/// length, as they stand in the file) changed by `patch` (given the
/// record's data).
fn patched_xls(kind: [u8; 4], patch: impl Fn(&mut [u8])) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/leads.xls");
    let mut bytes = std::fs::read(path).expect("the xls fixture");
    let at = bytes.windows(4).position(|w| w == kind).expect("the record is in the file") + 4;
    patch(&mut bytes[at..]);
    bytes
}

#[test]
fn an_xls_whose_dimensions_or_cells_reach_far_is_refused_by_what_it_would_take() {
    // DIMENSIONS (0x0200, 14 bytes) claiming 4 billion rows; a LABELSST cell
    // (0x00FD, 10 bytes) at row 65,536, column 65,536.
    let far_dimensions =
        patched_xls([0x00, 0x02, 0x0E, 0x00], |d| d[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes()));
    let far_cell = patched_xls([0xFD, 0x00, 0x0A, 0x00], |d| d[..4].copy_from_slice(&[0xFF; 4]));
    for (name, bytes) in [("dimensions.xls", far_dimensions), ("cell.xls", far_cell)] {
        let world = World::with_sandbox(|_| {});
        let file = world.file(name, bytes);
        let (run, peak_kib) = upload_measured(&world, &file);
        eprintln!("{name}: exit {}, peak memory {} MiB", run.code, peak_kib / 1024);
        let error = assert_stopped_before_sending(&world, &run);
        assert!(error.contains(&format!("{name} is not a lead file")), "{error}");
        assert!(error.contains("\"Leads\"") && error.contains("an .xls sheet is read whole"), "{error}");
        assert!(peak_kib < 100 * 1024, "peak memory {} MiB", peak_kib / 1024);
    }
}
