//! Stderr, line by line, and the terminal's bottom line while a progress
//! bar is shown (the one place that writes to stderr, below `log` and
//! `progress`, which both use it). The terminal's bottom line while a bar is shown. The bar is drawn there
//! in place (back to column 0, the line, erase what is left of a longer
//! one), and every other line written to stderr meanwhile (log records,
//! notices) goes above it: the bar is erased, the line written, the bar
//! drawn again, all under one lock, so the terminal never shows a torn line.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// The bar line on screen, if any.
static SHOWN: Mutex<Option<String>> = Mutex::new(None);

fn shown() -> MutexGuard<'static, Option<String>> {
    SHOWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Back to column 0 and erase the whole line.
const ERASE: &[u8] = b"\r\x1b[2K";

/// Writes `bytes` (whole lines) on stderr, above the bar when one is shown.
fn write_above(bytes: &[u8]) {
    let shown = shown();
    let mut err = std::io::stderr().lock();
    if shown.is_some() {
        let _ = err.write_all(ERASE);
    }
    let _ = err.write_all(bytes);
    if let Some(line) = shown.as_deref() {
        let _ = err.write_all(line.as_bytes());
    }
    let _ = err.flush();
}

/// Prints a line on stderr, above the bar when one is shown.
pub fn eprint_line(line: &str) {
    write_above(format!("{line}\n").as_bytes());
}

/// Shows `line` as the bar, in place of the one shown. The caller fits it
/// to the width, one column short of it so that the cursor never waits at
/// the right margin (where some terminals wrap at once).
pub fn draw(line: &str) {
    let mut shown = shown();
    if shown.as_deref() == Some(line) {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line}\x1b[K");
    let _ = err.flush();
    *shown = Some(line.to_owned());
}

/// Erases the bar, leaving the cursor at the start of its (now empty) line,
/// so what is printed next (the final table) stands alone.
pub fn clear() {
    let mut shown = shown();
    if shown.take().is_some() {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(ERASE);
        let _ = err.flush();
    }
}

/// Columns of the terminal on stderr, asked before each redraw so that a
/// resize takes effect at the next frame.
pub fn width() -> usize {
    console::Term::stderr().size_checked().map_or(80, |(_, cols)| usize::from(cols))
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
        write_above(&std::mem::take(&mut self.0));
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}
