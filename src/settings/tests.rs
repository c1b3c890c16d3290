use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn flags(batch: Option<usize>) -> UploadSettings {
    UploadSettings { batch_size: batch, ..UploadSettings::default() }
}

fn file(values: serde_json::Value) -> Map<String, Value> {
    match values {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn env(pairs: &[(&str, &str)]) -> super::Env {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn flag_beats_journal_beats_env_beats_file_beats_default() {
    let file = file(json!({"batch-size": 7, "api-url": "https://file.example", "concurrency": 2}));
    let env = env(&[("LEADCTL_API_URL", "https://env.example")]);
    let journal = Layer::from_values(Source::Flag, [("concurrency".to_owned(), json!(3))]);
    let journal =
        Layer(journal.0.into_iter().map(|(k, (v, o))| (k, (v, Origin { from_journal: true, ..o }))).collect());
    let layers = |f: &UploadSettings, j: bool| {
        let mut l = vec![Layer::of(Source::Flag, f)];
        if j {
            l.push(journal.clone());
        }
        l.extend([env_layer::<UploadSettings>(&env), file_layer::<UploadSettings>(&file)]);
        l.push(Layer::of(Source::Default, &UploadSettings::defaults()));
        l
    };
    let merged: Layered<UploadSettings> = layer(&layers(&flags(None), false)).expect("merges");
    assert_eq!(merged.value.batch_size, Some(7), "the file beats the default");
    assert_eq!(merged.value.api_url.as_deref(), Some("https://env.example"), "the environment beats the file");
    assert_eq!(merged.value.max_attempts, Some(5), "the default");
    assert_eq!(merged.origins["api-url"].source, Source::Env);
    let merged: Layered<UploadSettings> = layer(&layers(&flags(Some(9)), true)).expect("merges");
    assert_eq!(merged.value.batch_size, Some(9), "a flag beats everything");
    assert_eq!(merged.value.concurrency, Some(3), "the journal beats the file");
    assert!(merged.origins["concurrency"].from_journal);
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let file = file(json!({"batch-size": "ten"}));
    let e = layer::<UploadSettings>(&[file_layer::<UploadSettings>(&file)]).expect_err("a string is no size");
    assert_eq!(e.key, "batch-size");
}

#[test]
fn every_file_key_is_a_flag_and_the_env_vars_are_the_spec_s() {
    let keys = file_keys(&[CommonSettings::KEYS, UploadSettings::KEYS]);
    for k in ["api-url", "api-key-file", "project-id", "batch-size", "concurrency", "map", "delimiter"] {
        assert!(keys.iter().any(|x| x == k), "{k}");
    }
    for k in ["initialize", "dry-run", "sandbox", "limit"] {
        assert!(!keys.iter().any(|x| x == k), "{k} is not for a config file");
    }
    let envs: Vec<&str> = CommonSettings::KEYS.iter().chain(UploadSettings::KEYS).filter_map(|k| k.scope.env).collect();
    assert_eq!(envs, ["LEADCTL_PROJECT_ID", "LEADCTL_API_URL", "LEADCTL_LEDGER"]);
}

fn record(flags: &UploadSettings, common: &CommonSettings, env: &super::Env) -> RunRecord {
    let up: Layered<UploadSettings> = layer(&[
        Layer::of(Source::Flag, flags),
        env_layer::<UploadSettings>(env),
        Layer::of(Source::Default, &UploadSettings::defaults()),
    ])
    .expect("merges");
    let co: Layered<CommonSettings> = layer(&[
        Layer::of(Source::Flag, common),
        env_layer::<CommonSettings>(env),
        Layer::of(Source::Default, &CommonSettings::defaults()),
    ])
    .expect("merges");
    RunRecord::new("upload", PathBuf::from("/in/leads.csv"), &co, Some(&up))
}

#[test]
fn the_resend_command_repeats_flags_but_not_the_environment() {
    let up = UploadSettings { batch_size: Some(10), rate: Some(2.5), ..UploadSettings::default() };
    let common = CommonSettings {
        map: vec!["phoneNumber=Cell phone".into()],
        initialize: true,
        delimiter: Some(';'),
        limit: Some(5),
        ..CommonSettings::default()
    };
    let env = env(&[("LEADCTL_API_URL", "https://api.example"), ("LEADCTL_PROJECT_ID", "prj_1")]);
    let r = record(&up, &common, &env);
    let cmd = resend_command(Path::new("/out dir/retryable.csv"), &r, None, &[]);
    assert_eq!(
        cmd,
        "leadctl upload '/out dir/retryable.csv' --map 'phoneNumber=Cell phone' --initialize --batch-size 10 \
         --rate 2.5"
    );
    assert_eq!(r.str("api-url"), Some("https://api.example"), "recorded, though not repeated");
    let with_delimiter = resend_command(Path::new("r.csv"), &r, Some(';'), &[]);
    assert!(with_delimiter.ends_with("--delimiter ';'"), "{with_delimiter}");
    let unrecorded = [("ledger", "sqlite:///var/lib/leadctl/ledger.db".to_owned())];
    let with_ledger = resend_command(Path::new("r.csv"), &r, None, &unrecorded);
    assert!(with_ledger.ends_with("--ledger sqlite:///var/lib/leadctl/ledger.db"), "{with_ledger}");
}

#[test]
fn a_resumed_record_keeps_each_value_s_first_source() {
    let env = env(&[("LEADCTL_API_URL", "https://api.example")]);
    let r = record(&flags(Some(10)), &CommonSettings::default(), &env);
    let layer = r.layer();
    assert_eq!(layer.0["batch-size"].1, Origin { source: Source::Flag, from_journal: true });
    assert_eq!(layer.0["api-url"].1, Origin { source: Source::Env, from_journal: true });
    let back: RunRecord = serde_json::from_value(serde_json::to_value(&r).expect("json")).expect("reads back");
    assert_eq!(back, r);
}
