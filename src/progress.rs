//! What the operator sees while a run goes: a bar on a terminal, a plain
//! line every `--progress-interval` seconds elsewhere, nothing with
//! `--quiet`. The counters are shared atomics the pipeline bumps.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Tally;

/// The bar on screen, if any: log lines and messages are printed above it
/// (the bar is suspended around them) so the terminal never shows a torn line.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn active_bar() -> Option<ProgressBar> {
    ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Prints a line on stderr, above the bar when one is shown.
pub fn eprint_line(line: &str) {
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    };
    match active_bar() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// Where `tracing` writes: stderr, one whole line at a time, above the bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log record being written; printed when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::stderr().lock().write_all(&bytes);
        };
        match active_bar() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}

/// Live counts of a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub read: AtomicU64,
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

    fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.retryable.load(Ordering::Relaxed),
        )
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
    pub fn choose(quiet: bool, interval: Duration) -> Mode {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines(interval)
        }
    }
}

/// A running display; `finish` clears it.
pub struct Display {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Display {
    /// Starts showing `counters`; `total_bytes` sizes the bar when known.
    pub fn start(mode: Mode, counters: Arc<Counters>, total_bytes: Option<u64>, verb: &'static str) -> Display {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            match mode {
                Mode::Off => {
                    let _ = stopped.changed().await;
                }
                Mode::Lines(every) => loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        () = tokio::time::sleep(every) => {}
                    }
                    eprintln!("{}", line(&counters, started.elapsed(), verb));
                },
                Mode::Bar => {
                    let bar = match total_bytes {
                        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr_with_hz(8)),
                        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8)),
                    };
                    let style = ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar:.cyan/blue} {percent:>3}% ETA {eta}  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    *ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
                    loop {
                        tokio::select! {
                            _ = stopped.changed() => break,
                            () = tokio::time::sleep(Duration::from_millis(125)) => {}
                        }
                        bar.set_position(counters.bytes.load(Ordering::Relaxed));
                        bar.set_message(short(&counters, started.elapsed()));
                    }
                    ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()).take();
                    bar.finish_and_clear();
                }
            }
        });
        Display { stop, task }
    }

    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn rate(n: u64, elapsed: Duration) -> u64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { (n as f64 / s) as u64 } else { 0 }
}

fn short(c: &Counters, elapsed: Duration) -> String {
    let (read, a, r, t) = c.snapshot();
    let mut s = format!("{read} rows ({}/s)  accepted {a}  rejected {r}  retryable {t}", rate(read, elapsed));
    let paused = c.paused_ms.load(Ordering::Relaxed);
    if paused > 0 {
        s.push_str(&format!("  rate limited by the server, resuming in {} s", paused.div_ceil(1000)));
    }
    s
}

fn line(c: &Counters, elapsed: Duration, verb: &str) -> String {
    format!("leadctl {verb}: {}s elapsed, {}", elapsed.as_secs(), short(c, elapsed))
}
