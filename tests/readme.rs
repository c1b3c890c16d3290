//! The README's first command, exactly as a newcomer runs it (with a
//! throwaway output directory): the bundled fixture against the in-process
//! sandbox, with every kind of local rejection and the 404 path.

mod common;

use common::{World, codes};

#[test]
fn the_readme_command_uploads_the_fixtures_to_the_sandbox() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let expected: Vec<(&str, usize)> = vec![
        ("duplicate_in_file", 2),
        ("field_too_long", 1),
        ("invalid_email", 2),
        ("invalid_phone", 2),
        ("missing_phone", 2),
        ("missing_process", 2),
        ("process_not_found", 2),
        ("repeating_digits", 2),
    ];
    for (name, ndjson) in [("leads.csv", false), ("leads.json", true), ("leads.ndjson", true)] {
        let world = World::new();
        let out = world.path("out");
        let run = world.leadctl(&[
            "upload",
            fixtures.join(name).to_str().expect("utf-8"),
            "--sandbox",
            "--out-dir",
            out.to_str().expect("utf-8"),
        ]);
        let run = common::Run { out, ..run };
        run.assert_code(3);
        assert!(run.stderr.contains("sandbox"), "says it uses the sandbox: {}", run.stderr);
        let summary = run.summary();
        assert_eq!(summary["counts"]["read"], 54, "{name}");
        assert_eq!(summary["counts"]["accepted"], 39, "{name}");
        assert_eq!(summary["counts"]["retryable"], 0, "{name}");
        let by_code: std::collections::BTreeMap<String, usize> = summary["rejected_by_code"]
            .as_object()
            .expect("codes")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0) as usize))
            .collect();
        assert_eq!(by_code, expected.iter().map(|(k, v)| (k.to_string(), *v)).collect(), "{name}");
        if !ndjson {
            assert_eq!(codes(&run.csv("rejected")).values().sum::<usize>(), 15);
        } else {
            assert_eq!(run.ndjson("rejected").len(), 15);
        }
    }
}
