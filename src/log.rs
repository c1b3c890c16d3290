//! Everything leadctl says on stderr, in one of two shapes: text for people,
//! or JSON for machines (`--log-format json`: one object a line, with at
//! least `timestamp`, `level` and `message`, and the event's fields).
//!
//! Two kinds of lines go through here. Log records (`tracing` events from
//! any module) show by verbosity: warnings always, batches at `-v`, retries
//! and pauses at `-vv`, lead values at `-vvv`. What the operator is told
//! (notices, errors) goes through [`say`]: plain `leadctl: ...` lines in
//! text, JSON lines of the same shape as the log records otherwise
//! ([`json_line`], which the progress lines and the final summary use too),
//! shown at every verbosity. The key is in none of them.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::screen::LogWriter;

/// How stderr is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

/// The format chosen so far (text until one is set).
pub fn format() -> LogFormat {
    if FORMAT.load(Ordering::Relaxed) == 1 { LogFormat::Json } else { LogFormat::Text }
}

/// Sets the format: from the flags as soon as they are parsed (so an error
/// in the settings is already said in it), then from the settings.
pub fn set_format(format: LogFormat) {
    FORMAT.store(u8::from(format == LogFormat::Json), Ordering::Relaxed);
}

/// Starts the log records on stderr: the format, `-v` count and colour.
pub fn init(format: LogFormat, verbose: u8, ansi: bool) {
    set_format(format);
    // The TLS verifier logs a failed certificate check as an error of its
    // own; leadctl says the same with the fix, so the library's line is
    // shown only at -vvv.
    let level = match verbose {
        0 => "warn,rustls_platform_verifier=off",
        1 => "leadctl=info,warn,rustls_platform_verifier=off",
        2 => "leadctl=debug,warn,rustls_platform_verifier=off",
        _ => "leadctl=trace,warn",
    };
    let filter = tracing_subscriber::EnvFilter::new(level);
    let builder = tracing_subscriber::fmt().with_writer(LogWriter).with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init(),
    };
}

/// How serious a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One JSON log line, in the shape of the log records: `timestamp`,
/// `level`, `message`, then the event's fields.
pub fn json_line(level: Level, message: &str, fields: Map<String, Value>) {
    let mut line = Map::new();
    line.insert("timestamp".into(), humantime::format_rfc3339_micros(SystemTime::now()).to_string().into());
    line.insert("level".into(), level.name().into());
    line.insert("message".into(), message.into());
    line.extend(fields);
    crate::screen::eprint_line(&Value::Object(line).to_string());
}

/// Tells the operator something: `leadctl: <message>` (errors:
/// `leadctl: error: <message>`), or a JSON line.
pub fn say(level: Level, message: &str) {
    match format() {
        LogFormat::Text => {
            let prefix = if level == Level::Error { "leadctl: error: " } else { "leadctl: " };
            crate::screen::eprint_line(&format!("{prefix}{message}"));
        }
        LogFormat::Json => json_line(level, message, Map::new()),
    }
}

/// An error, said as [`say`] says it.
pub fn error(message: &str) {
    say(Level::Error, message);
}

/// The fields of a `json!({...})` object, for [`json_line`].
pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
