//! Every setting, declared once: type, flag and help, environment variable,
//! config-file key, scope and default. A new setting is added here (and
//! used where `config` turns the merged value into typed settings).
//!
//! Defaults that depend on the run (the output directory, which follows
//! the input's path) are not declared here but computed where they apply.

use std::path::PathBuf;

use super::ColorChoice;
use super::Scope;
use crate::input::Format;
use crate::log::LogFormat;

const fn flag() -> Scope {
    Scope::flag()
}

/// A number that is a number: `NaN` and `inf` parse as `f64` but would
/// reach the settings as nothing at all (JSON has neither), so the flag
/// is refused like any other value that is not a number.
fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("not a finite number".into()),
        Err(e) => Err(e.to_string()),
    }
}

crate::settings::settings_group! {
    /// What `upload` and `validate` share: the input, the checks, the output.
    pub struct CommonSettings {
        /// Process id for rows without their own processId.
        #[arg(long, value_name = "ID")]
        process_id: Option<String> = flag().file().run().resend();

        /// Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]
        #[arg(long, value_name = "ID")]
        project_id: Option<String> = flag().env("LEADCTL_PROJECT_ID").file().run().resend();

        /// Region for numbers written without a leading `+` (ISO code) [default: US]
        #[arg(long, value_name = "REGION")]
        default_region: Option<String> = flag().file().run().resend(), default Some("US".into());

        /// Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable).
        #[arg(long, value_name = "FIELD=COLUMN")]
        map: Vec<String> = flag().file().run().resend();

        /// Input format; needed when reading stdin (`-`). Default: from the extension.
        #[arg(long, value_enum)]
        format: Option<Format> = flag().file().run().resend();

        /// Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever
        /// splits the file's first rows evenly]
        #[arg(long, value_name = "CHAR")]
        delimiter: Option<char> = flag().file().run().resend();

        /// Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le,
        /// shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]
        #[arg(long, value_name = "LABEL")]
        encoding: Option<String> = flag().file().run().resend();

        /// Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]
        #[arg(long, value_name = "NAME|INDEX")]
        sheet: Option<String> = flag().run().resend();

        /// Only the first N rows (CI smoke checks).
        #[arg(long, value_name = "N")]
        limit: Option<u64> = flag().run();

        /// FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`.
        #[arg(long)]
        existing: bool = flag().run().resend();

        /// Initialize the leads for calling: this starts real phone calls
        /// (`validate`: apply the one-call-per-phone rule).
        #[arg(long)]
        initialize: bool = flag().run().resend();

        /// Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf> = flag().file();

        /// Seconds between plain progress lines when stderr is not a terminal [default: 10]
        #[arg(long, value_name = "SECONDS")]
        progress_interval: Option<u64> = flag().file(), default Some(10);

        /// When to use colour (NO_COLOR is honoured by `auto`).
        #[arg(long, value_enum, value_name = "WHEN")]
        color: Option<ColorChoice> = flag().file(), default Some(ColorChoice::Auto);

        /// How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]
        #[arg(long, value_enum, value_name = "FORMAT")]
        log_format: Option<LogFormat> = flag().file(), default Some(LogFormat::Text);

        /// Write the run's figures to this file at the end of every run, in the Prometheus text
        /// format (for node_exporter's textfile collector).
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf> = flag().file();

        /// The `job` label of the metrics [default: the input file's stem]
        #[arg(long, value_name = "NAME")]
        metrics_job: Option<String> = flag().file();

        /// Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it,
        /// and with nothing retryable, the run exits 0 instead of 3.
        #[arg(long, value_name = "N|P%")]
        max_rejected: Option<String> = flag().file().run();
    }
}

crate::settings::settings_group! {
    /// Where and how `upload` sends.
    pub struct UploadSettings {
        /// Start the bundled sandbox in this process and upload to it (no risk).
        #[arg(long, conflicts_with_all = ["api_url", "api_key_file"])]
        sandbox: bool = flag().run().resend();

        /// API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]
        #[arg(long, value_name = "URL")]
        api_url: Option<String> = flag().env("LEADCTL_API_URL").file().run().resend();

        /// Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]
        #[arg(long, value_name = "PATH")]
        api_key_file: Option<PathBuf> = flag().file().resend();

        /// HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the
        /// config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]
        // Not recorded in the run's files (the config file's may hold a
        // password); the resend command repeats the flag, which holds none.
        #[arg(long, value_name = "URL")]
        proxy: Option<String> = flag().file();

        /// Check and batch, send nothing: the rows that would be sent go to retryable ("not sent
        /// (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are
        /// looked up (read only) and those it knows counted already_uploaded.
        #[arg(long)]
        dry_run: bool = flag().run();

        /// Leads per request, 1..=1000 [default: 1000]
        #[arg(long, value_name = "N")]
        batch_size: Option<usize> = flag().file().run().resend(), default Some(crate::api::MAX_LEADS_PER_REQUEST);

        /// Requests in flight at most [default: 4]
        #[arg(long, value_name = "N")]
        concurrency: Option<usize> = flag().file().run().resend(), default Some(4);

        /// Client-side cap on requests per second [default: none]
        #[arg(long, value_name = "PER_SECOND", value_parser = finite)]
        rate: Option<f64> = flag().file().run().resend();

        /// Attempts per batch for 5xx and network errors [default: 5]
        #[arg(long, value_name = "N")]
        max_attempts: Option<u32> = flag().file().run().resend(), default Some(5);

        /// Request timeout in seconds [default: 60]
        #[arg(long, value_name = "SECONDS", value_parser = finite)]
        timeout: Option<f64> = flag().file().run().resend(), default Some(60.0);

        /// Total seconds a run may wait out 429 answers [default: 300]
        #[arg(long, value_name = "SECONDS", value_parser = finite)]
        max_rate_limit_wait: Option<f64> = flag().file().run().resend(), default Some(300.0);

        /// The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...`
        /// (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here);
        /// `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]
        #[arg(long, value_name = "URL")]
        ledger: Option<String> = flag().env("LEADCTL_LEDGER").file();

        /// Use no ledger for this run: leads an earlier run sent are sent again.
        #[arg(long, conflicts_with = "ledger")]
        no_ledger: bool = flag().run().resend();

        /// Send leads the ledger knows (and record their answers as usual).
        #[arg(long)]
        resend_known: bool = flag().run().resend();

        /// First retry delay in milliseconds (doubling, full jitter); for tests.
        #[arg(long, value_name = "MS", hide = true)]
        retry_base_ms: Option<u64> = flag().run(), default Some(250);

        /// Kill the process at a named point between two writes (`sent`, `files`, `ledger`,
        /// `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`.
        #[arg(long, value_name = "POINT:N", hide = true)]
        crash_at: Option<String> = flag();

        /// How long a busy ledger is waited for, in all, in milliseconds; for tests.
        #[arg(long, value_name = "MS", hide = true)]
        ledger_wait_ms: Option<u64> = flag().run(), default Some(600_000);
    }
}
