//! The `leadctl` binary: parse the command line, run, map the outcome to an
//! exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    leadctl::main_entry().into()
}
