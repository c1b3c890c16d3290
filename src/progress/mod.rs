//! What the operator sees while a run goes: a bar on a terminal, a plain
//! line every `--progress-interval` seconds elsewhere, nothing with
//! `--quiet`. The pipeline bumps shared atomic counters (`Counters`); the
//! display samples them, works out what they mean (`Status`: rows done of
//! the total, the recent rate, the ETA) and draws that. Drawing is the only
//! part that needs a terminal: the line itself is a pure function of a
//! `Status` and a width, tested without one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

use crate::output::Tally;

mod bar;
mod rate;
mod status;
mod units;

use rate::RateWindow;

use crate::screen;
pub use status::{Job, Snapshot, Status, Total};

/// Live counts of a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Rows read and checked.
    pub read: AtomicU64,
    /// Rows the parser has taken from the input; with `bytes`, what the
    /// input's row count is estimated from while it is being read.
    pub parsed: AtomicU64,
    /// The parser reached the end of the input (or `--limit`).
    pub parsed_all: AtomicBool,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub retryable: AtomicU64,
    /// Input bytes consumed (shared with the reader).
    pub bytes: Arc<AtomicU64>,
    /// Milliseconds left in a 429 pause (0 when none).
    pub paused_ms: AtomicU64,
}

impl Counters {
    /// Copies the writer's tally into the live counters.
    pub fn publish(&self, t: &Tally) {
        self.accepted.store(t.accepted, Ordering::Relaxed);
        self.rejected.store(t.rejected, Ordering::Relaxed);
        self.retryable.store(t.retryable, Ordering::Relaxed);
    }

    /// The parser has taken `rows` rows from the input; `finished`: all of them.
    pub fn parsed_so_far(&self, rows: u64, finished: bool) {
        self.parsed.store(rows, Ordering::Relaxed);
        if finished {
            self.parsed_all.store(true, Ordering::Relaxed);
        }
    }

    /// The counters now, for a run of `job` over an input of `total_bytes`.
    pub fn snapshot(&self, job: Job, total_bytes: Option<u64>) -> Snapshot {
        Snapshot {
            job,
            read: self.read.load(Ordering::Relaxed),
            parsed: self.parsed.load(Ordering::Relaxed),
            parsed_all: self.parsed_all.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            total_bytes,
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            retryable: self.retryable.load(Ordering::Relaxed),
            paused_ms: self.paused_ms.load(Ordering::Relaxed),
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines(Duration),
    Off,
}

impl Mode {
    /// Off with `--quiet`; a bar on a terminal; lines elsewhere, and in
    /// JSON logs (a bar is not an event).
    pub fn choose(quiet: bool, interval: Duration, format: crate::log::LogFormat) -> Mode {
        use std::io::IsTerminal;
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() && format == crate::log::LogFormat::Text {
            Mode::Bar
        } else {
            Mode::Lines(interval)
        }
    }
}

/// How often the counters are sampled: the bar's frame rate, and the
/// resolution of the rate window for the plain lines.
const BAR_TICK: Duration = Duration::from_millis(125);
const LINES_TICK: Duration = Duration::from_millis(500);

/// Samples the counters into `Status`es, keeping the recent rate.
struct Sampler {
    counters: Arc<Counters>,
    job: Job,
    total_bytes: Option<u64>,
    started: Instant,
    window: RateWindow,
}

impl Sampler {
    fn sample(&mut self) -> Status {
        let snapshot = self.counters.snapshot(self.job, self.total_bytes);
        let elapsed = self.started.elapsed();
        self.window.record(elapsed, snapshot.done());
        Status { snapshot, elapsed, rate: self.window.per_sec() }
    }
}

/// A running display; `finish` clears it.
pub struct Display {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Display {
    /// Starts showing `counters` for a run of `job`; `total_bytes` (the
    /// input's size, when known) estimates the total while reading.
    pub fn start(mode: Mode, counters: Arc<Counters>, total_bytes: Option<u64>, job: Job) -> Display {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut sampler = Sampler { counters, job, total_bytes, started: Instant::now(), window: RateWindow::new() };
        // The window starts at zero, so the first rate covers the first second.
        sampler.sample();
        let task = tokio::spawn(async move {
            match mode {
                Mode::Off => {
                    let mut stopped = stopped;
                    let _ = stopped.changed().await;
                }
                Mode::Lines(every) => lines(sampler, every, stopped).await,
                Mode::Bar => bar(sampler, stopped).await,
            }
        });
        Display { stop, task }
    }

    /// Stops the display; the bar is erased, so what is printed next stands alone.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for Display {
    /// A run that returns early with an error (before `finish`) must not
    /// leave the bar on the line its message is printed on.
    fn drop(&mut self) {
        self.task.abort();
        screen::clear();
    }
}

fn ticks(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

/// The bar: a frame per tick, fitted to the width of the moment.
async fn bar(mut sampler: Sampler, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut tick = ticks(BAR_TICK);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = tick.tick() => {}
        }
        let status = sampler.sample();
        screen::draw(&status.bar(screen::width().saturating_sub(1)));
    }
    screen::clear();
}

/// A plain line every `every`, from samples taken more often (the rate
/// window needs them).
async fn lines(mut sampler: Sampler, every: Duration, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut tick = ticks(LINES_TICK.min(every));
    let mut next = every;
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = tick.tick() => {}
        }
        let status = sampler.sample();
        if status.elapsed >= next {
            report(&status);
            while next <= status.elapsed {
                next += every;
            }
        }
    }
}

/// A progress line off a terminal: text, or a `progress` JSON event.
fn report(status: &Status) {
    use crate::log::{Level, LogFormat, json_line, object};
    match crate::log::format() {
        LogFormat::Text => screen::eprint_line(&status.line()),
        LogFormat::Json => {
            let s = &status.snapshot;
            let (total, estimated) = match status.total() {
                Total::Exact(n) => (Some(n), false),
                Total::Estimate(n) => (Some(n), true),
                Total::Unknown => (None, false),
            };
            let fields = serde_json::json!({
                "elapsed_s": status.elapsed.as_secs_f64(),
                "rows_done": status.done(),
                "rows_total": total,
                "total_estimated": estimated,
                "percent": status.percent(),
                "rows_per_s": status.rate,
                "eta_s": status.eta().map(|d| d.as_secs_f64()),
                "accepted": s.accepted,
                "rejected": s.rejected,
                "retryable": s.retryable,
                "paused_s": status.paused().map(|d| d.as_secs_f64()),
            });
            json_line(Level::Info, "progress", object(fields));
        }
    }
}
