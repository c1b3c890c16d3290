//! leadctl: a bulk lead uploader for the Bulk Initiate Leads API.
//!
//! The flow of one row, by module: `input` reads it, `checks` judges it
//! locally, `deliver` batches and sends it (retries, 429s), `api` classifies
//! the answer, `output` writes it to exactly one of accepted, rejected or
//! retryable, and `journal` remembers enough for `--resume`. `sandbox` is
//! the bundled emulator of the API that tests and rehearsals run against.

pub mod api;
pub mod exit;
pub mod input;
pub mod phone;
