//! The command line as clap sees it: every command and flag with its help,
//! and nothing else. The settings' flags are declared with the settings
//! themselves (`settings::groups`) and flattened in here; values stay raw,
//! and `config` layers them with the journal, the environment, the config
//! file and the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::{CommonSettings, UploadSettings};

// Every example line fits an 80-column terminal (clap wraps longer ones
// inside the command); `tests/cli.rs` holds them to it.
const UPLOAD_EXAMPLES: &str = "\
Examples:
  Rehearse against the bundled sandbox (no key, no risk):
    leadctl upload fixtures/leads.csv --sandbox

  Upload for real (the key comes from the environment or a key file):
    export LEADCTL_API_URL=https://api.vendor.example/v1
    export LEADCTL_API_KEY=...
    leadctl upload leads.csv --project-id prj_1 --process-id proc_1

  Preview tonight's run: what the ledger knows, what would be sent:
    leadctl upload export.csv --dry-run \\
      --ledger ~/.local/share/leadctl/ledger.db

  Nightly from cron (no environment there: settings in the config file,
  ~/.config/leadctl/config.toml; see the README):
    0 3 * * * leadctl upload /data/export.csv --quiet >>leadctl.log 2>&1

  A CI smoke check: the summary on stdout, the exit code for the job:
    leadctl upload sample.csv --limit 200 --max-rejected 5 --quiet --json

  Send again the rows a run left retryable (fix rejected.csv and send it
  the same way):
    leadctl upload leads.leadctl/20261129T030000Z/retryable.csv

  Continue a run that was interrupted (even by kill -9):
    leadctl upload --resume leads.leadctl/20261129T030000Z";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  leadctl validate leads.csv
  leadctl validate export.ndjson.gz --process-id proc_1 --json";

const LEDGER_EXAMPLES: &str = "\
Examples:
  leadctl ledger stats
  What an earlier run sent:
    leadctl ledger import leads.leadctl/20261129T030000Z
  Leads the vendor already has, from a CRM export:
    leadctl ledger import --leads crm-export.csv \\
      --api-url https://api.vendor.example/v1 --project-id prj_1
  An erasure request:
    leadctl ledger forget --phone +14155550123
  leadctl ledger prune --older-than 90d
  leadctl ledger export --format csv > ledger.csv";

const DOCTOR_ABOUT: &str = "\
Check, without sending a lead, that an upload with these settings would work tonight.

Takes upload's flags, so that `upload` in a cron line can be replaced by `doctor`. Prints
the settings in effect and where each came from, then one line per check: `ok`, `warn` or
`fail`, its name, what was found, and the fix. Checks: the config file; the settings; the
API URL (https, or http to loopback); the API key and where it came from (a key file's
mode); the route (a proxy, if any); DNS and TCP to the API host (or the proxy); TLS (the
certificate trusted); the key and the project, by one request that carries no lead
(`{\"leadIds\": []}`); the ledger (opens, writable, schema version, entries, mode); the
input file and its output directory; the --metrics-file directory. Never prints the key
or a password. Exit 0 when no check failed, 1 otherwise.";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  After setting up a cron job, with its settings:
    leadctl doctor /data/export.csv --metrics-file /var/lib/node_exporter/textfile/leadctl.prom

  In CI, before anything else (one JSON object on stdout; exit 1 when a check failed):
    leadctl doctor --json";

/// Bulk lead uploader for the Bulk Initiate Leads API.
///
/// Reads a CSV or JSON lead file, checks every row locally, sends the good
/// rows in batches, retries only what is safe to retry, and sorts every
/// input row into exactly one of three files: accepted, rejected, retryable.
#[derive(Debug, Parser)]
// A single-value flag given twice takes the last value (a printed command
// can be amended by appending a flag); repeatable flags accumulate.
#[command(name = "leadctl", version, args_override_self = true, disable_version_flag = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print the version (one line).
    #[arg(long, action = clap::ArgAction::Version)]
    version: (),

    /// Print the long version: the commit, ledger schema, API version, ledger stores and TLS
    /// compiled in.
    #[arg(short = 'V', action = clap::ArgAction::Version)]
    long_version: (),
}

impl Cli {
    /// The command line with this build's versions. clap prints a
    /// command's `version` for a short flag (`-V`) and its `long_version`
    /// for a long one (`--version`): `--version` stays one line, for
    /// scripts, and `-V` gives the long form.
    pub fn with_versions() -> clap::Command {
        <Cli as clap::CommandFactory>::command().version(crate::version::long()).long_version(crate::version::VERSION)
    }
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
    /// Check, without sending a lead, that an upload with these settings would work tonight.
    #[command(after_help = DOCTOR_EXAMPLES, long_about = DOCTOR_ABOUT)]
    Doctor(DoctorArgs),
    /// Look after the delivery ledger: what earlier runs sent, consulted before sending.
    #[command(after_help = LEDGER_EXAMPLES)]
    Ledger(LedgerArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// What every run shows and where it looks for settings: not settings
/// themselves (a run records none of these).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then
    /// $XDG_CONFIG_HOME/leadctl/config.toml]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the summary as one JSON object on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,

    /// No progress and no final table on stderr. Errors and warnings still show, and with
    /// `--log-format json` so does the summary event: the run's record in a cron log.
    #[arg(short, long)]
    pub quiet: bool,

    /// More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The lead file (CSV, TSV, JSON, NDJSON, optionally .gz; `-` = stdin;
    /// or a spreadsheet: .xlsx, .xlsm, .xls, .ods).
    #[arg(value_name = "FILE", required_unless_present = "resume")]
    pub file: Option<PathBuf>,

    /// Continue an interrupted run from its run directory.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "sandbox")]
    pub resume: Option<PathBuf>,

    /// Do not ask for confirmation before `--initialize`.
    #[arg(short = 'y', long)]
    pub yes: bool,

    #[command(flatten)]
    pub upload: UploadSettings,

    #[command(flatten)]
    pub common: CommonSettings,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The lead file (CSV, TSV, JSON, NDJSON, optionally .gz; `-` = stdin;
    /// or a spreadsheet: .xlsx, .xlsm, .xls, .ods).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub common: CommonSettings,

    #[command(flatten)]
    pub run: RunArgs,
}

/// `leadctl doctor`: upload's flags, the input file optional.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The lead file tonight's run reads: checks that it can be read and that its
    /// output directory can be written.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Accepted, so that an upload command line works as it is; doctor asks nothing.
    #[arg(short = 'y', long, hide = true)]
    pub yes: bool,

    #[command(flatten)]
    pub upload: UploadSettings,

    #[command(flatten)]
    pub common: CommonSettings,

    /// Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then
    /// $XDG_CONFIG_HOME/leadctl/config.toml]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the settings and every check as one JSON object on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,

    /// Print only the checks that warn or fail.
    #[arg(short, long)]
    pub quiet: bool,

    /// Accepted, so that an upload command line works as it is.
    #[arg(short, long, action = clap::ArgAction::Count, hide = true)]
    pub verbose: u8,
}

impl DoctorArgs {
    /// The upload command line these flags would make.
    pub fn as_upload(&self) -> UploadArgs {
        UploadArgs {
            file: self.file.clone(),
            resume: None,
            yes: self.yes,
            upload: self.upload.clone(),
            common: self.common.clone(),
            run: RunArgs { config: self.config.clone(), json: self.json, quiet: self.quiet, verbose: self.verbose },
        }
    }
}

/// `leadctl ledger`: the command and the settings every action takes.
#[derive(Debug, Clone, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub action: LedgerAction,

    /// The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...`
    /// [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]
    #[arg(long, value_name = "URL", global = true)]
    pub ledger: Option<String>,

    /// Print the result as one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Config file (TOML) [env: LEADCTL_CONFIG]
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// What `leadctl ledger` does.
#[derive(Debug, Clone, Subcommand)]
pub enum LedgerAction {
    /// Entries by project, process and outcome; oldest and newest; where the ledger is and its size.
    Stats,
    /// Record what earlier run directories sent, or (`--leads`) leads the vendor already has.
    Import {
        /// Run directories of earlier uploads (their accepted and server-rejected rows).
        #[arg(value_name = "RUN_DIR")]
        run_dirs: Vec<PathBuf>,
        /// A CSV or JSON file of existing leads: phoneNumber, processId, optionally leadId and projectId.
        #[arg(long, value_name = "FILE", conflicts_with = "run_dirs")]
        leads: Option<PathBuf>,
        /// API base URL the `--leads` belong to [env: LEADCTL_API_URL]
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Project for `--leads` rows without one [env: LEADCTL_PROJECT_ID]
        #[arg(long, value_name = "ID")]
        project_id: Option<String>,
        /// Process for `--leads` rows without one.
        #[arg(long, value_name = "ID")]
        process_id: Option<String>,
        /// Region for numbers written without a leading `+` [default: US]
        #[arg(long, value_name = "REGION")]
        default_region: Option<String>,
    },
    /// Remove every entry of a phone number (an erasure request); says how many went.
    Forget {
        /// The number (E.164, or national with --default-region).
        #[arg(long, value_name = "NUMBER")]
        phone: String,
        /// Only in this process.
        #[arg(long, value_name = "ID")]
        process: Option<String>,
        /// Only in this project.
        #[arg(long = "project-id", value_name = "ID")]
        project: Option<String>,
        /// Only under this API base URL (any spelling of it).
        #[arg(long = "api-url", value_name = "URL")]
        api_url: Option<String>,
        /// Region for a number written without a leading `+` [default: US]
        #[arg(long, value_name = "REGION")]
        default_region: Option<String>,
    },
    /// Remove entries not seen for a while (a retention period).
    Prune {
        /// How long, e.g. `90d`, `12w`.
        #[arg(long, value_name = "DURATION")]
        older_than: String,
    },
    /// Print every entry on stdout.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
}

/// `leadctl ledger export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}
