//! The command line as clap sees it: every command and flag with its help,
//! and nothing else. Values stay raw (mostly `Option`) here; `config`
//! resolves them against the environment, the config file and defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::input::Format;

const UPLOAD_EXAMPLES: &str = "\
Examples:
  Rehearse against the bundled sandbox (no key, no risk):
    leadctl upload fixtures/leads.csv --sandbox

  Upload for real (the key comes from the environment or a key file):
    export LEADCTL_API_URL=https://api.vendor.example/v1
    export LEADCTL_API_KEY=...
    leadctl upload leads.csv --project-id prj_1 --process-id proc_1

  From cron: no bar, a summary object on stdout, exit code for alerting:
    leadctl upload /data/export.csv --quiet --json > summary.json

  Send again the rows a run left retryable:
    leadctl upload leads.leadctl/20261129T030000Z/retryable.csv

  Continue a run that was interrupted (even by kill -9):
    leadctl upload --resume leads.leadctl/20261129T030000Z";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  leadctl validate leads.csv
  leadctl validate export.ndjson.gz --process-id proc_1 --json";

/// Bulk lead uploader for the Bulk Initiate Leads API.
///
/// Reads a CSV or JSON lead file, checks every row locally, sends the good
/// rows in batches, retries only what is safe to retry, and sorts every
/// input row into exactly one of three files: accepted, rejected, retryable.
#[derive(Debug, Parser)]
#[command(name = "leadctl", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, check, send, and sort every row into accepted, rejected, retryable.
    #[command(after_help = UPLOAD_EXAMPLES)]
    Upload(UploadArgs),
    /// Check a lead file locally: no network, no key. Writes the rejected rows.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),
    /// Run the bundled API emulator on loopback (rehearsals, demos, tests).
    Sandbox(crate::sandbox::SandboxArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// What `upload` and `validate` share: the input, the checks, the output.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Process id for rows without their own processId.
    #[arg(long, value_name = "ID")]
    pub process_id: Option<String>,

    /// Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,

    /// Region for numbers written without a leading `+` (ISO code) [default: US]
    #[arg(long, value_name = "REGION")]
    pub default_region: Option<String>,

    /// Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable).
    #[arg(long, value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,

    /// Input format; needed when reading stdin (`-`). Default: from the extension.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Field delimiter for CSV input (one character) [default: `,` `;` TAB or
    /// `|`, whichever splits the file's first rows evenly]
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,

    /// Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15,
    /// utf-16le, shift_jis, ... [default: from a byte order mark, else
    /// UTF-8, else detected]
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,

    /// Spreadsheet sheet to read, by name or by position from 1 [default: the
    /// first visible sheet]
    #[arg(long, value_name = "NAME|INDEX")]
    pub sheet: Option<String>,

    /// Only the first N rows (CI smoke checks).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then
    /// $XDG_CONFIG_HOME/leadctl/config.toml]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the summary as one JSON object on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,

    /// Seconds between plain progress lines when stderr is not a terminal [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub progress_interval: Option<u64>,

    /// No progress and no final table on stderr (errors still show).
    #[arg(short, long)]
    pub quiet: bool,

    /// More log detail on stderr: -v batches, -vv retries, -vvv lead values.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// When to use colour (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
}

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The lead file (CSV, TSV, JSON, NDJSON, optionally .gz; `-` = stdin;
    /// or a spreadsheet: .xlsx, .xlsm, .xls, .ods).
    #[arg(value_name = "FILE", required_unless_present = "resume")]
    pub file: Option<PathBuf>,

    /// FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`.
    #[arg(long)]
    pub existing: bool,

    /// Start the bundled sandbox in this process and upload to it (no risk).
    #[arg(long, conflicts_with_all = ["api_url", "api_key_file"])]
    pub sandbox: bool,

    /// API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,

    /// Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// Initialize the leads for calling: this starts real phone calls.
    #[arg(long)]
    pub initialize: bool,

    /// Do not ask for confirmation before `--initialize`.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Leads per request, 1..=1000 [default: 1000]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Requests in flight at most [default: 4]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Client-side cap on requests per second [default: none]
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,

    /// Attempts per batch for 5xx and network errors [default: 5]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Request timeout in seconds [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,

    /// Total seconds a run may wait out 429 answers [default: 300]
    #[arg(long, value_name = "SECONDS")]
    pub max_rate_limit_wait: Option<f64>,

    /// First retry delay in milliseconds (doubling, full jitter); for tests.
    #[arg(long, value_name = "MS", hide = true)]
    pub retry_base_ms: Option<u64>,

    /// Check and batch, send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Continue an interrupted run from its run directory.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "sandbox")]
    pub resume: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The lead file (CSV, TSV, JSON, NDJSON, optionally .gz; `-` = stdin;
    /// or a spreadsheet: .xlsx, .xlsm, .xls, .ods).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Also apply the `--initialize` rules (one call per phone in the file).
    #[arg(long)]
    pub initialize: bool,

    /// The file holds existing lead ids.
    #[arg(long)]
    pub existing: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
