//! Where runs land and what their files say, for the operator who opens
//! them and sends them again: run directories unique for runs started in
//! the same second, outputs in the input's own dialect (an Excel `;`
//! Windows-1252 export comes back as Excel reads it), and the fix-and-resend
//! loop (each row keeps the file and line it first came from; a resend of a
//! run's own file lands beside that run). Each through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{Record, World, leads_csv, valid_phone};

/// The run directories of `<stem>.leadctl` beside the input, by name.
fn runs(world: &World, stem: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(world.path(&format!("{stem}.leadctl")))
        .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A run directory's name for a run started at `t` (`yyyymmddThhmmssZ`).
fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string().replace(['-', ':'], "")
}

/// An output CSV read in a dialect: its byte order mark (if any) and its
/// rows by column.
fn read_dialect(path: &Path, delimiter: u8) -> (bool, Vec<Record>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bom = bytes.starts_with(b"\xEF\xBB\xBF");
    let text = String::from_utf8(bytes).expect("outputs are UTF-8");
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let header = r.byte_headers().expect("header").clone();
    let rows = r
        .byte_records()
        .map(|rec| {
            let rec = rec.expect("record");
            let values = leadctl::output::record_fields(&header, &rec);
            let text = |v: &[u8]| String::from_utf8(v.to_vec()).expect("utf-8");
            header.iter().zip(values).filter_map(|(h, v)| Some((text(h), text(v?)))).collect()
        })
        .collect();
    (bom, rows)
}

/// Two runs of one file started in the same second both run, each in a
/// directory of its own; when every name of that second is taken, the run
/// stops before anything is sent and says to use `--out-dir`.
#[test]
fn runs_started_in_the_same_second_get_directories_of_their_own() {
    let world = World::new();
    let file = world.file("leads.csv", leads_csv(3, "proc_sales"));
    // Every second of the next few already has a run (non-empty).
    let now = SystemTime::now();
    let taken: Vec<String> = (0..5).map(|s| stamp(now + Duration::from_secs(s))).collect();
    for name in &taken {
        world.file(&format!("leads.leadctl/{name}/summary.json"), "{}");
    }
    let spawn = || {
        let mut cmd = world.cmd();
        cmd.args(["upload", file.to_str().expect("utf-8"), "--dry-run", "--project-id", "prj_1", "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("leadctl runs")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let made: Vec<String> = runs(&world, "leads").into_iter().filter(|n| !taken.contains(n)).collect();
    assert_eq!(made.len(), 2, "two new run directories: {made:?}");
    assert!(made.iter().all(|n| n.ends_with("-2") || n.ends_with("-3")), "{made:?}");
    // Every name of the next seconds taken: the run says what to do. (Few
    // seconds: each directory costs this file system milliseconds to remove.)
    let now = SystemTime::now();
    for name in (0..3).map(|s| stamp(now + Duration::from_secs(s))) {
        std::fs::create_dir(world.path(&format!("leads.leadctl/{name}"))).ok();
        for n in 2..=100 {
            std::fs::create_dir(world.path(&format!("leads.leadctl/{name}-{n}"))).ok();
        }
    }
    let run = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--dry-run", "--project-id", "prj_1"]);
    run.assert_code(1);
    assert!(run.stderr.contains("--out-dir"), "{}", run.stderr);
}

/// Windows-1252 bytes of `text` (the test's umlauts are all in it).
fn cp1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'ä' => 0xE4,
            'ö' => 0xF6,
            'ü' => 0xFC,
            'Ä' => 0xC4,
            'Ö' => 0xD6,
            'Ü' => 0xDC,
            'ß' => 0xDF,
            c if c.is_ascii() => c as u8,
            c => panic!("{c} is not in the test's cp1252 table"),
        })
        .collect()
}

/// A `;`-separated Windows-1252 export (Excel in most of Europe) comes
/// back as Excel reads it: `;` between values, UTF-8 with a byte order
/// mark, umlauts intact; `summary.json` says what was written. The
/// retryable file, fed back as it is, sends the same leads.
#[test]
fn an_excel_semicolon_cp1252_export_comes_back_in_its_own_dialect_and_resends_the_same_leads() {
    let world = World::with_sandbox(|c| c.fail_first = 1);
    let text = format!(
        "Name;Straße;phone;process_id;Ort\n\
         Jürgen Müller;Hauptstraße 1;{};proc_sales;München\n\
         Bärbel Öztürk;Königsallee 2;{};proc_sales;Düsseldorf\n\
         Ülrich Groß;Ölweg 3;12;proc_sales;Köln\n",
        valid_phone(0),
        valid_phone(1)
    );
    let file = world.file("export.csv", cp1252(&text));
    let run = world.upload(&file, &["--max-attempts", "1", "--quiet"]);
    run.assert_code(4);
    let summary = run.summary();
    assert_eq!(summary["input"]["encoding"], "windows-1252");
    assert_eq!(
        summary["outputs"],
        serde_json::json!({"format": "csv", "encoding": "UTF-8", "bom": true, "delimiter": ";"})
    );
    for name in ["accepted", "rejected", "retryable"] {
        let head = std::fs::read(run.out.join(format!("{name}.csv"))).expect("output");
        assert!(head.starts_with("\u{FEFF}Name;Straße;phone;process_id;Ort;leadctl_line".as_bytes()), "{name}");
    }
    let (_, rejected) = read_dialect(&run.out.join("rejected.csv"), b';');
    assert_eq!(rejected.len(), 1);
    assert_eq!((rejected[0]["Name"].as_str(), rejected[0]["Ort"].as_str()), ("Ülrich Groß", "Köln"));
    let (_, retryable) = read_dialect(&run.out.join("retryable.csv"), b';');
    let names: Vec<&str> = retryable.iter().map(|r| r["Name"].as_str()).collect();
    assert_eq!(names, ["Jürgen Müller", "Bärbel Öztürk"]);
    assert_eq!(retryable[1]["Straße"], "Königsallee 2");

    // Fed back as it is: the same leads, with the same values.
    let retry_file = run.out.join("retryable.csv");
    let args = ["upload", retry_file.to_str().expect("utf-8"), "--out-dir", "again", "-vvv"];
    let again = world.leadctl(&args);
    again.assert_code(0);
    let sent: Vec<String> = world.state().leads.into_iter().map(|l| l.phone_number).collect();
    assert_eq!(sent, [valid_phone(0), valid_phone(1)]);
    // What was sent (-vvv logs each lead as sent): every value as in the export.
    for value in ["\"Name\":\"Jürgen Müller\"", "\"Straße\":\"Königsallee 2\"", "\"Ort\":\"Düsseldorf\""] {
        assert!(again.stderr.contains(value), "{value} was not sent:\n{}", again.stderr);
    }
    let (bom, accepted) = read_dialect(&world.path("again/accepted.csv"), b';');
    assert!(bom, "the resend's outputs are in the same dialect");
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[0]["Ort"], "München");
    // What reads run directories back reads them in their dialect too.
    let import = world.leadctl(&["ledger", "import", "again", "--ledger", "imported.db", "--json"]);
    import.assert_code(0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&import.stdout).expect("json")["imported"], 2);
}

/// The fix-and-resend loop: rows keep the file and line they first came
/// from (`leadctl_origin_file`, `leadctl_origin_line`) through `rejected`
/// and `retryable` into the next run's files, while `leadctl_line` is the
/// line in the file read; and a resend of a run's own file lands beside
/// that run, not inside it.
#[test]
fn resent_rows_keep_their_first_file_and_line_and_resends_land_beside_the_run() {
    let world = World::with_sandbox(|c| c.fail_first = 1);
    let mut csv = leads_csv(2, "proc_sales");
    csv.insert_str(csv.find('\n').expect("header") + 1, "crm-bad,Bad,555-01,proc_sales\n");
    let file = world.file("leads.csv", csv);
    let original = std::path::absolute(&file).expect("absolute").display().to_string();
    let first = world.leadctl(&["upload", file.to_str().expect("utf-8"), "--max-attempts", "1", "--quiet"]);
    first.assert_code(4);
    let [run1] = runs(&world, "leads").try_into().expect("one run");
    let dir1: PathBuf = world.path(&format!("leads.leadctl/{run1}"));
    let origin =
        |r: &Record| (r["leadctl_origin_file"].clone(), r["leadctl_origin_line"].clone(), r["leadctl_line"].clone());
    let rejected = common::read_csv(&dir1.join("rejected.csv"));
    assert_eq!(origin(&rejected[0]), (original.clone(), "2".into(), "2".into()));
    let retryable = common::read_csv(&dir1.join("retryable.csv"));
    let lines: Vec<_> = retryable.iter().map(origin).collect();
    assert_eq!(lines, [(original.clone(), "3".into(), "3".into()), (original.clone(), "4".into(), "4".into())]);

    // The retryable file sent again: beside the run, each row keeps its origin.
    let resend = world.leadctl(&["upload", dir1.join("retryable.csv").to_str().expect("utf-8"), "--quiet"]);
    resend.assert_code(0);
    // A fixed rejected file sent again (edited in place, as people do).
    let fixed =
        std::fs::read_to_string(dir1.join("rejected.csv")).expect("rejected").replace("555-01", &valid_phone(9));
    std::fs::write(dir1.join("rejected.csv"), fixed).expect("fix");
    let fix = world.leadctl(&["upload", dir1.join("rejected.csv").to_str().expect("utf-8"), "--quiet"]);
    fix.assert_code(0);

    let all = runs(&world, "leads");
    assert_eq!(all.len(), 3, "both resends beside the first run: {all:?}");
    assert!(all[1..].iter().all(|n| n.starts_with(&format!("{run1}-resend-"))), "{all:?}");
    assert!(!dir1.join("retryable.leadctl").exists() && !dir1.join("rejected.leadctl").exists(), "nothing nested");
    let accepted = |name: &str| common::read_csv(&world.path(&format!("leads.leadctl/{name}/accepted.csv")));
    let resent: Vec<_> = accepted(&all[1]).iter().chain(accepted(&all[2]).iter()).map(origin).collect();
    assert_eq!(
        resent,
        [
            (original.clone(), "3".into(), "2".into()),
            (original.clone(), "4".into(), "3".into()),
            (original.clone(), "2".into(), "2".into()),
        ],
        "the first file and line kept; leadctl_line is the line in the file read"
    );
}

/// The same for JSON input: NDJSON outputs carry the origin keys through.
#[test]
fn ndjson_rows_keep_their_origin_through_a_resend() {
    let world = World::with_sandbox(|_| {});
    let rows = [
        serde_json::json!({"phone": valid_phone(0), "processId": "proc_sales"}),
        serde_json::json!({"phone": "12", "processId": "proc_sales"}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let file = world.file("leads.ndjson", text);
    let run = world.upload(&file, &["--quiet"]);
    run.assert_code(3);
    let rejected = run.ndjson("rejected");
    assert_eq!(rejected[0]["leadctl_origin_line"], 2);
    let fixed = std::fs::read_to_string(run.out.join("rejected.ndjson"))
        .expect("rejected")
        .replace("\"12\"", &format!("\"{}\"", valid_phone(1)));
    let fixed_file = world.file("fixed.ndjson", fixed);
    let again = world.leadctl(&["upload", fixed_file.to_str().expect("utf-8"), "--quiet", "--out-dir", "again"]);
    again.assert_code(0);
    let accepted = std::fs::read_to_string(world.path("again/accepted.ndjson")).expect("accepted");
    let row: serde_json::Value = serde_json::from_str(accepted.lines().next().expect("a row")).expect("json");
    assert_eq!(row["leadctl_origin_line"], 2);
    assert_eq!(row["leadctl_line"], 1);
    assert!(row["leadctl_origin_file"].as_str().is_some_and(|f| f.ends_with("leads.ndjson")), "{row}");
}
