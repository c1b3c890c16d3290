//! One layered settings value, from which everything else is derived.
//!
//! A setting is declared once, in [`groups`]: its type, its flag and help
//! (clap reads the same struct), its config-file key (the flag's long name
//! in kebab-case, which serde reads), its environment variable, and its
//! [`Scope`]: whether a run records it (journal and `summary.json`) and
//! whether the resend command repeats it. Every source of settings is a
//! layer of the same shape, and [`layer`] merges them in one order:
//!
//! flag > the journal of the run being resumed > environment > config file > default
//!
//! remembering where each value came from ([`Source`]). The journal record
//! and the summary's settings ([`RunRecord`]), the config-file keys, the
//! effective-settings dump (`-vv`) and the resend command ([`resend`]) are
//! all views of that one value. The API key is not a setting here: it is a
//! secret with its own rules (`config::api_key`), never recorded anywhere.

mod groups;
mod record;
mod resend;

use std::collections::BTreeMap;
use std::fmt;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A view of the process environment (a map in tests).
pub type Env = std::collections::HashMap<String, String>;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use groups::{CommonSettings, UploadSettings};
pub use record::RunRecord;
pub use resend::{resend_command, shell_quote};

/// What a setting takes part in, besides flags (every setting is a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The environment variable that sets it, if any.
    pub env: Option<&'static str>,
    /// Whether the config file may set it.
    pub file: bool,
    /// Whether a run records it (journal, `summary.json`) and a resumed
    /// run takes it back from the journal.
    pub run: bool,
    /// Whether the resend command repeats it (when it came from a flag).
    pub resend: bool,
}

impl Scope {
    /// A flag only.
    pub const fn flag() -> Scope {
        Scope { env: None, file: false, run: false, resend: false }
    }
    pub const fn env(self, name: &'static str) -> Scope {
        Scope { env: Some(name), ..self }
    }
    pub const fn file(self) -> Scope {
        Scope { file: true, ..self }
    }
    pub const fn run(self) -> Scope {
        Scope { run: true, ..self }
    }
    pub const fn resend(self) -> Scope {
        Scope { resend: true, ..self }
    }
}

/// One declared setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The field name (`snake_case`); the key and flag are its kebab-case.
    pub field: &'static str,
    pub scope: Scope,
}

impl Key {
    /// The config-file key, which is also the long flag's name.
    pub fn name(&self) -> String {
        self.field.replace('_', "-")
    }
}

/// A group of settings declared with [`settings_group!`]: a clap `Args`
/// struct that is also a serde map of kebab-case keys, unset values left out.
pub trait Group: Serialize + DeserializeOwned + Default + Clone {
    /// Every setting of the group, in declaration order.
    const KEYS: &'static [Key];
    /// The defaults layer: the values used when no other source sets them.
    fn defaults() -> Self;
}

/// Whether a value counts as set; unset values are left out of a layer.
pub trait Unset {
    fn is_unset(&self) -> bool;
}

impl<T> Unset for Option<T> {
    fn is_unset(&self) -> bool {
        self.is_none()
    }
}

impl Unset for bool {
    /// A switch is set when on: no flag turns a switch off.
    fn is_unset(&self) -> bool {
        !*self
    }
}

impl<T> Unset for Vec<T> {
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

/// Where a value of the merged settings came from, and whether a resumed
/// run took it from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    pub from_journal: bool,
}

/// One source's values: kebab-case keys to JSON values, each with where it
/// came from (a journal layer keeps each value's original source).
#[derive(Debug, Clone, Default)]
pub struct Layer(pub BTreeMap<String, (Value, Origin)>);

impl Layer {
    /// The set values of a group (a parsed command line, or the defaults).
    pub fn of<G: Group>(source: Source, group: &G) -> Layer {
        let origin = Origin { source, from_journal: false };
        Layer(to_map(group).into_iter().map(|(k, v)| (k, (v, origin.clone()))).collect())
    }

    /// Values that all came from one source.
    pub fn from_values(source: Source, values: impl IntoIterator<Item = (String, Value)>) -> Layer {
        let origin = Origin { source, from_journal: false };
        Layer(values.into_iter().map(|(k, v)| (k, (v, origin.clone()))).collect())
    }
}

/// A group's set values as a map of kebab-case keys.
fn to_map<G: Serialize>(group: &G) -> Map<String, Value> {
    match serde_json::to_value(group) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Merged settings of a group, with the origin of every set value.
#[derive(Debug, Clone)]
pub struct Layered<G> {
    pub value: G,
    pub origins: BTreeMap<String, Origin>,
}

/// A value of some layer does not fit its setting's type.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct BadValue {
    pub key: String,
    pub message: String,
}

/// Merges layers, highest precedence first: each key takes the value of
/// the first layer that sets it. Keys the group does not declare are left
/// to other groups (the config file feeds several).
pub fn layer<G: Group>(layers: &[Layer]) -> Result<Layered<G>, BadValue> {
    let mut merged = Map::new();
    let mut origins = BTreeMap::new();
    for key in G::KEYS {
        let name = key.name();
        if let Some((v, origin)) = layers.iter().find_map(|l| l.0.get(&name)) {
            // Typed one by one, so an error names the key.
            let one = Map::from_iter([(name.clone(), v.clone())]);
            if let Err(e) = serde_json::from_value::<G>(Value::Object(one)) {
                return Err(BadValue { key: name, message: e.to_string() });
            }
            merged.insert(name.clone(), v.clone());
            origins.insert(name, origin.clone());
        }
    }
    let value = serde_json::from_value(Value::Object(merged))
        .map_err(|e| BadValue { key: "settings".into(), message: e.to_string() })?;
    Ok(Layered { value, origins })
}

impl<G: Group> Layered<G> {
    /// The set values as a map (what the journal, the summary and the dump show).
    pub fn values(&self) -> Map<String, Value> {
        to_map(&self.value)
    }
}

/// The environment variables the settings of `G` read, as a layer.
pub fn env_layer<G: Group>(env: &Env) -> Layer {
    Layer::from_values(
        Source::Env,
        G::KEYS.iter().filter_map(|k| {
            let var = k.scope.env?;
            let value = env.get(var).filter(|v| !v.trim().is_empty())?;
            Some((k.name(), Value::String(value.trim().to_owned())))
        }),
    )
}

/// The config file's values for the settings of `G` that a file may set.
pub fn file_layer<G: Group>(file: &Map<String, Value>) -> Layer {
    Layer::from_values(
        Source::File,
        G::KEYS.iter().filter(|k| k.scope.file).filter_map(|k| file.get(&k.name()).map(|v| (k.name(), v.clone()))),
    )
}

/// The config-file keys of the given groups (for the unknown-key message).
pub fn file_keys(groups: &[&[Key]]) -> Vec<String> {
    groups.iter().flat_map(|g| g.iter()).filter(|k| k.scope.file).map(Key::name).collect()
}

/// `key = value (source)` lines for `-vv`: the effective settings.
pub fn dump(values: &Map<String, Value>, origins: &BTreeMap<String, Origin>) -> String {
    let mut out = String::new();
    for (k, v) in values {
        let origin = origins.get(k).map(|o| o.to_string()).unwrap_or_default();
        out.push_str(&format!("{k} = {v} ({origin})\n"));
    }
    out
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.source {
            Source::Default => "default",
            Source::File => "config file",
            Source::Env => "environment",
            Source::Flag => "flag",
        };
        if self.from_journal { write!(f, "{s}, from the journal") } else { f.write_str(s) }
    }
}

/// Declares a group of settings once: a clap `Args` struct (doc comments
/// are the help, `#[arg]` the flag) that serde also reads and writes as a
/// map of kebab-case keys, with every setting's [`Scope`] and default.
macro_rules! settings_group {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $scope:expr $(, default $default:expr)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "kebab-case", default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(skip_serializing_if = "crate::settings::Unset::is_unset")]
                pub $field: $ty,
            )*
        }

        impl crate::settings::Group for $name {
            const KEYS: &'static [crate::settings::Key] =
                &[$(crate::settings::Key { field: stringify!($field), scope: $scope }),*];

            fn defaults() -> Self {
                $name { $($field: crate::settings::default_or!($($default)?),)* }
            }
        }
    };
}

/// A declared default, or the type's own (unset).
macro_rules! default_or {
    () => {
        Default::default()
    };
    ($e:expr) => {
        $e
    };
}

pub(crate) use {default_or, settings_group};

#[cfg(test)]
mod tests;
