//! leadctl: a bulk lead uploader for the Bulk Initiate Leads API.
//!
//! The flow of one row, by module: `input` reads it, `checks` judges it
//! locally, `deliver` batches and sends it (retries, 429s), `api` classifies
//! the answer, `output` writes it to exactly one of accepted, rejected or
//! retryable (through the one `writer` thread), and `journal` remembers
//! enough for `--resume`. `run` wires those stages together; `config` turns
//! flags, environment and config file into one validated value; `summary`
//! and `progress` are what the operator sees. `sandbox` is the bundled
//! emulator of the API that tests and rehearsals run against.

// Rows, leads and their verdicts move through the pipeline by value; boxing
// the larger variants would add an allocation per row for no gain.
#![allow(clippy::large_enum_variant)]

pub mod api;
pub mod checks;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod exit;
pub mod input;
pub mod journal;
pub mod ledger;
pub mod output;
pub mod phone;
pub mod progress;
pub mod run;
pub mod sandbox;
pub mod summary;
pub mod writer;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs leadctl with the process's arguments and environment; returns the exit code.
pub fn main_entry() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Exit::Success,
                _ => Exit::Usage,
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("leadctl: error: cannot start the async runtime: {e}");
            return Exit::Error;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("leadctl: error: {e:#}");
            Exit::Error
        }
    }
}

fn init_logging(verbose: u8, color: cli::ColorChoice) {
    let ansi = stderr_color(color);
    let level = match verbose {
        0 => "warn",
        1 => "leadctl=info,warn",
        2 => "leadctl=debug,warn",
        _ => "leadctl=trace,warn",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(progress::LogWriter)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let env = config::process_env();
    match cli.command {
        Command::Upload(args) => {
            let cfg = config::upload(&args, &env)?;
            init_logging(cfg.common.verbose, cfg.common.color);
            let (json, quiet, color) = (cfg.common.json, cfg.common.quiet, cfg.common.color);
            let outcome = run::upload(cfg).await?;
            report(&outcome, json, quiet, color);
            Ok(outcome.exit)
        }
        Command::Validate(args) => {
            let cfg = config::validate(&args, &env)?;
            init_logging(cfg.common.verbose, cfg.common.color);
            let (json, quiet, color) = (cfg.common.json, cfg.common.quiet, cfg.common.color);
            let outcome = run::validate(cfg).await?;
            report(&outcome, json, quiet, color);
            Ok(outcome.exit)
        }
        Command::Sandbox(args) => {
            init_logging(1, cli::ColorChoice::Auto);
            sandbox::run(args).await?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "leadctl", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}

/// Whether stderr gets colour: `--color`, with `auto` meaning a terminal
/// (`NO_COLOR` already turned `auto` into `never` in `config`).
fn stderr_color(choice: cli::ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => std::io::stderr().is_terminal(),
    }
}

fn report(outcome: &run::Outcome, json: bool, quiet: bool, color: cli::ColorChoice) {
    if json {
        match serde_json::to_string(&outcome.summary) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("leadctl: error: cannot encode the summary: {e}"),
        }
    }
    if !quiet {
        eprint!("{}", outcome.summary.table(outcome.resend.as_deref(), stderr_color(color)));
    }
}
