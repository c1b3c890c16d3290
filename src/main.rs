//! The `leadctl` binary: parse the command line, run, map the outcome to an
//! exit code. Everything else lives in the library.

use std::process::ExitCode;

// Rows are many small allocations (fields, custom values, the lead sent):
// mimalloc cuts the allocator's share of the per-row cost and keeps memory
// from fragmenting across the reader, checker and writer threads. Measured
// with benches/bench.py; figures in the project's notes.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    leadctl::main_entry().into()
}
