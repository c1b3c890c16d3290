//! What a run records of its settings: in the journal (so `--resume` goes
//! on with the same input, server, project and rules) and in
//! `summary.json`. Never the API key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CommonSettings, Group, Layer, Layered, Origin, Source, UploadSettings};

/// The settings a run used, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `upload` or `validate`.
    pub command: String,
    /// The input as given (absolute when it is a file).
    pub input: PathBuf,
    /// Every setting a run records, as used (kebab-case keys, defaults
    /// included), plus values the run itself decided (the sandbox's URL).
    pub settings: Map<String, Value>,
    /// Where each value came from.
    pub sources: BTreeMap<String, Source>,
}

impl RunRecord {
    /// The record of a run's merged settings (`upload` is `None` for `validate`).
    pub fn new(
        command: &str,
        input: PathBuf,
        common: &Layered<CommonSettings>,
        upload: Option<&Layered<UploadSettings>>,
    ) -> RunRecord {
        let mut record = RunRecord { command: command.into(), input, settings: Map::new(), sources: BTreeMap::new() };
        record.take(common);
        if let Some(u) = upload {
            record.take(u);
        }
        record
    }

    fn take<G: Group>(&mut self, layered: &Layered<G>) {
        let values = layered.values();
        for key in G::KEYS.iter().filter(|k| k.scope.run) {
            let name = key.name();
            if let (Some(v), Some(o)) = (values.get(&name), layered.origins.get(&name)) {
                self.settings.insert(name.clone(), v.clone());
                self.sources.insert(name, o.source.clone());
            }
        }
    }

    /// Sets a value the run decided itself (not a setting anyone gave).
    pub fn decide(&mut self, key: &str, value: Value) {
        self.set(key, value, Source::Default);
    }

    /// Sets a value the run resolved from a setting it does not record as
    /// given (the ledger's location, without its password).
    pub fn set(&mut self, key: &str, value: Value, source: Source) {
        self.settings.insert(key.to_owned(), value);
        self.sources.insert(key.to_owned(), source);
    }

    /// The recorded values as the layer a resumed run puts right below its
    /// own flags; each keeps the source it had when the run started.
    pub fn layer(&self) -> Layer {
        Layer(
            self.settings
                .iter()
                .map(|(k, v)| {
                    let source = self.sources.get(k).cloned().unwrap_or(Source::Default);
                    (k.clone(), (v.clone(), Origin { source, from_journal: true }))
                })
                .collect(),
        )
    }

    /// A recorded string value.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(Value::as_str)
    }
}
