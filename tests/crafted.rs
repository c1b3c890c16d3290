//! Crafted files and crafted answers: what a file or a server claims is not
//! believed past what it holds. A spreadsheet cell past the last column, a
//! CSV header of 200,000 empty columns, an ods whose rows repeat a million
//! times, each refused or read at the input's size; and no output cell
//! leadctl writes itself starts a spreadsheet formula, while the input's
//! own cells come back exact. Each through the real binary.

mod common;

use std::path::Path;

use common::hostile::{Hostile, KEY, Reply};
use common::{Run, World, valid_phone};
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
