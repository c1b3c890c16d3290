//! Named crash points, for tests: the hidden `--crash-at POINT:N` kills the
//! process with `SIGKILL` (what `kill -9` does: no destructor runs, nothing
//! buffered in the process is flushed) the Nth time a run passes POINT.
//! The points lie between the writes the promise depends on, in their
//! order for a batch (see ARCHITECTURE.md, "Order of writes"):
//!
//! | point | the process dies |
//! |---|---|
//! | `sent` | after the journal's `Sent` for a batch is durable, before its request leaves |
//! | `files` | after an answered batch's rows reached the output files, before the ledger records them |
//! | `ledger` | after the ledger recorded them, before the journal's `Done` |
//! | `done` | after the journal's `Done` |
//!
//! Nothing is armed unless the flag is given; the flag is not kept in the
//! run's record, so a `--resume` runs unarmed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A place between two writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Sent,
    Files,
    Ledger,
    Done,
}

impl Point {
    fn parse(name: &str) -> Option<Point> {
        match name {
            "sent" => Some(Point::Sent),
            "files" => Some(Point::Files),
            "ledger" => Some(Point::Ledger),
            "done" => Some(Point::Done),
            _ => None,
        }
    }
}

struct Armed {
    point: Point,
    nth: u64,
    passed: AtomicU64,
}

static ARMED: OnceLock<Armed> = OnceLock::new();

/// Arms the crash point `POINT:N` (or `POINT`, the first time).
pub fn arm(spec: &str) -> Result<(), String> {
    let (name, nth) = spec.split_once(':').unwrap_or((spec, "1"));
    let point = Point::parse(name).ok_or_else(|| format!("--crash-at: unknown point {name:?}"))?;
    let nth = nth.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--crash-at: {nth:?} is not a count"))?;
    let _ = ARMED.set(Armed { point, nth, passed: AtomicU64::new(0) });
    Ok(())
}

/// Passes `point`: dies there when it is the armed one's Nth pass.
pub fn at(point: Point) {
    let Some(armed) = ARMED.get() else { return };
    if armed.point == point && armed.passed.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
}
