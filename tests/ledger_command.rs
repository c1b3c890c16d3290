//! `leadctl ledger` through the real binary: stats, import of earlier run
//! directories and of a CRM export, forget, prune and export, and what each
//! changes for the next upload.

mod common;

use common::{Run, World, leads_csv, valid_phone};

fn ledger(world: &World, db: &str, args: &[&str]) -> Run {
    let mut all = vec!["ledger"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--ledger", db]);
    world.leadctl(&all)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn an_earlier_run_directory_imported_is_not_sent_again() {
    let world = World::with_sandbox(|_| {});
    let db = world.path("ledger.db");
    let db = db.to_str().expect("utf-8");
    let file = world.file("l.csv", leads_csv(30, "proc_sales"));
    // A run from before the ledger.
    world.upload(&file, &["--no-ledger", "--quiet"]).assert_code(0);
    let sent = world.state().requests.len();

    let run = ledger(&world, db, &["import", world.path("out").to_str().expect("utf-8"), "--json"]);
    run.assert_code(0);
    assert_eq!(json(&run)["imported"], 30);
    let stats = json(&ledger(&world, db, &["stats", "--json"]));
    assert_eq!(stats["entries"], 30);
    assert_eq!(stats["groups"][0]["process"], "proc_sales");
    assert_eq!(stats["groups"][0]["api_url"], world.sandbox().url());

    let args = ["upload", file.to_str().expect("utf-8"), "--out-dir", "again", "--ledger", db, "--quiet"];
    let again = Run { out: world.path("again"), ..world.leadctl(&args) };
    again.assert_code(0);
    assert_eq!(world.state().requests.len(), sent, "nothing sent again");
    assert_eq!(again.summary()["counts"]["already_uploaded"], 30);
}

#[test]
fn a_crm_export_imported_gives_its_lead_ids_and_forget_and_prune_remove_entries() {
    let world = World::with_sandbox(|_| {});
    let db = world.path("ledger.db");
    let db = db.to_str().expect("utf-8");
    let mut crm = String::from("phone,process_id,lead_id\n");
    for i in 0..4 {
        crm.push_str(&format!("{},proc_sales,ld_crm_{i}\n", valid_phone(i)));
    }
    let crm = world.file("crm.csv", crm);
    let run = ledger(&world, db, &["import", "--leads", crm.to_str().expect("utf-8"), "--json"]);
    run.assert_code(0);
    assert_eq!(json(&run)["imported"], 4);

    let file = world.file("l.csv", leads_csv(6, "proc_sales"));
    let args = ["upload", file.to_str().expect("utf-8"), "--out-dir", "o1", "--ledger", db, "--quiet"];
    let up = Run { out: world.path("o1"), ..world.leadctl(&args) };
    up.assert_code(0);
    assert_eq!(world.state().leads.len(), 2, "only the two leads the CRM did not have were sent");
    let accepted = up.csv("accepted");
    let known = accepted.iter().find(|r| r["phone"] == valid_phone(2)).expect("row of a known lead");
    assert_eq!(known["leadctl_lead_id"], "ld_crm_2");

    // An erasure request: the number is forgotten, and would be sent again.
    let run = ledger(&world, db, &["forget", "--phone", &valid_phone(2), "--json"]);
    run.assert_code(0);
    assert_eq!(json(&run)["forgotten"], 1);
    let export = ledger(&world, db, &["export", "--format", "ndjson"]);
    export.assert_code(0);
    let phones: Vec<String> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["phone"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(phones.len(), 5);
    assert!(!phones.contains(&valid_phone(2)));
    let csv = ledger(&world, db, &["export"]);
    assert_eq!(csv.stdout.lines().count(), 6, "a header and five entries");

    // A retention period: everything not seen in the last second goes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = ledger(&world, db, &["prune", "--older-than", "1s", "--json"]);
    run.assert_code(0);
    assert_eq!(json(&run)["pruned"], 5);
    assert_eq!(json(&ledger(&world, db, &["stats", "--json"]))["entries"], 0);
}

#[test]
fn bad_ledger_commands_say_what_to_fix() {
    let world = World::new();
    let db = world.path("ledger.db");
    let db = db.to_str().expect("utf-8");
    let run = ledger(&world, db, &["import"]);
    run.assert_code(1);
    assert!(run.stderr.contains("nothing to import"), "{}", run.stderr);
    let run = ledger(&world, db, &["prune", "--older-than", "soon"]);
    run.assert_code(1);
    assert!(run.stderr.contains("90d"), "{}", run.stderr);
    let crm = world.file("crm.csv", format!("phone,process_id\n{},p\n", valid_phone(1)));
    let run = ledger(&world, db, &["import", "--leads", crm.to_str().expect("utf-8")]);
    run.assert_code(1);
    assert!(run.stderr.contains("--api-url"), "{}", run.stderr);
}

/// An erasure removes the number everywhere (every API, project and
/// process, and the claims of a run that stopped while sending it), unless
/// narrowed by `--api-url`, `--project-id` or `--process`.
#[test]
fn forget_removes_a_number_everywhere_unless_narrowed() {
    let world = World::with_sandbox(|_| {});
    let db = world.path("ledger.db");
    let db = db.to_str().expect("utf-8");
    let phone = valid_phone(0);
    let mut crm = String::from("phone,process_id\n");
    for process in ["proc_sales", "proc_support"] {
        crm.push_str(&format!("{phone},{process}\n"));
    }
    let crm = world.file("crm.csv", crm);
    let crm = crm.to_str().expect("utf-8");
    for api in ["https://api.one.example/v1", "https://api.two.example/v1"] {
        let run = ledger(&world, db, &["import", "--leads", crm, "--api-url", api, "--project-id", "prj_1"]);
        run.assert_code(0);
    }
    let forgot = |args: &[&str]| {
        let mut all = vec!["forget", "--phone", phone.as_str(), "--json"];
        all.extend_from_slice(args);
        let run = ledger(&world, db, &all);
        run.assert_code(0);
        json(&run)["forgotten"].as_u64().expect("a count")
    };
    assert_eq!(forgot(&["--project-id", "prj_other"]), 0, "another project has none");
    assert_eq!(forgot(&["--api-url", "HTTPS://API.ONE.example/v1/", "--process", "proc_sales"]), 1);
    assert_eq!(forgot(&["--api-url", "https://api.one.example/v1"]), 1, "the other process of that API");
    assert_eq!(json(&ledger(&world, db, &["stats", "--json"]))["entries"], 2, "the other API keeps both");
    assert_eq!(forgot(&[]), 2, "everywhere");
    assert_eq!(json(&ledger(&world, db, &["stats", "--json"]))["entries"], 0);
}
