//! The bar line on a terminal, fitted to a width: the essentials (elapsed,
//! percentage, rows done / total, ETA) always, the rest (a drawn bar, the
//! rate, the 429 pause, the counts by file) shortened or left out, least
//! important first, until the line fits. It never wraps, so every redraw
//! overwrites the last one in place.

use console::{measure_text_width, truncate_str};

use super::status::Status;
use super::units::{clock, compact, group, span};

/// How the counts by file are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// `accepted 8,000  rejected 300  retryable 100`
    Long,
    /// `acc 8,000 rej 300 retry 100`
    Short,
    /// `acc 8.0k rej 300 retry 100`
    Compact,
    None,
}

/// One way to write the line; `LAYOUTS` goes from the richest to the barest.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Cells of the drawn bar (0: none).
    cells: usize,
    files: Files,
    /// `rows` after the counts and `rows/s` after the rate (else `/s`).
    units: bool,
    rate: bool,
    pause: bool,
    /// `8.4k/~20k` instead of `8,400/~20,000`.
    compact: bool,
    sep: &'static str,
}

const FULL: Layout =
    Layout { cells: 20, files: Files::Long, units: true, rate: true, pause: true, compact: false, sep: "  " };

/// Each step gives up the least important thing left: labels are shortened
/// first, then the counts by file go, then the rate, then the pause notice.
const LAYOUTS: [Layout; 12] = [
    FULL,
    Layout { files: Files::Short, ..FULL },
    Layout { cells: 10, files: Files::Short, ..FULL },
    Layout { cells: 0, files: Files::Short, ..FULL },
    Layout { cells: 0, files: Files::Short, units: false, ..FULL },
    Layout { cells: 0, files: Files::Compact, units: false, ..FULL },
    Layout { cells: 0, files: Files::Compact, units: false, sep: " ", ..FULL },
    Layout { cells: 0, files: Files::None, units: false, ..FULL },
    Layout { cells: 0, files: Files::None, units: false, sep: " ", ..FULL },
    Layout { cells: 0, files: Files::None, units: false, rate: false, sep: " ", ..FULL },
    Layout { cells: 0, files: Files::None, units: false, rate: false, pause: false, sep: " ", ..FULL },
    Layout { cells: 0, files: Files::None, units: false, rate: false, pause: false, sep: " ", compact: true },
];

impl Status {
    /// The bar line, at most `width` columns wide.
    pub fn bar(&self, width: usize) -> String {
        let mut line = String::new();
        for layout in LAYOUTS {
            line = self.render(layout);
            if measure_text_width(&line) <= width {
                return line;
            }
        }
        // Narrower than the barest layout: cut, rather than wrap.
        truncate_str(&line, width, "").into_owned()
    }

    fn render(&self, l: Layout) -> String {
        let mut fields = vec![clock(self.elapsed)];
        if let (Some(p), true) = (self.percent(), l.cells > 0) {
            fields.push(drawn(p, l.cells));
        }
        if let Some(p) = self.percent() {
            fields.push(format!("{p:>3}%"));
        }
        let rows = self.done_of_total(l.compact);
        fields.push(if l.units { format!("{rows} rows") } else { rows });
        if l.rate {
            let unit = if l.units { " rows/s" } else { "/s" };
            fields.push(format!("{}{unit}", self.rate_text(l.compact)));
        }
        fields.push(format!("ETA {}", self.eta_text()));
        if let (Some(p), true) = (self.paused(), l.pause) {
            fields.push(format!("paused {}", span(p)));
        }
        if l.files != Files::None {
            fields.push(self.files(l.files));
        }
        fields.join(l.sep)
    }

    fn files(&self, how: Files) -> String {
        let counts = self.counts();
        let parts = counts.iter().map(|&(label, n)| match how {
            Files::Long => format!("{label} {}", group(n)),
            Files::Short => format!("{} {}", short_label(label), group(n)),
            Files::Compact | Files::None => format!("{} {}", short_label(label), compact(n)),
        });
        parts.collect::<Vec<_>>().join(if how == Files::Long { "  " } else { " " })
    }
}

fn short_label(label: &str) -> &str {
    match label {
        "accepted" => "acc",
        "rejected" => "rej",
        "retryable" => "retry",
        other => other,
    }
}

/// `[=========>          ]`: `cells` wide inside the brackets.
fn drawn(percent: u64, cells: usize) -> String {
    let filled = (percent as usize * cells / 100).min(cells);
    let mut s = String::with_capacity(cells + 2);
    s.push('[');
    s.push_str(&"=".repeat(filled));
    if filled < cells {
        s.push('>');
        s.push_str(&" ".repeat(cells - filled - 1));
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::progress::status::{Job, Snapshot};

    fn status(accepted: u64, rejected: u64, retryable: u64, parsed: u64, all: bool, paused_ms: u64) -> Status {
        let snapshot = Snapshot {
            job: Job::Upload,
            read: parsed,
            parsed,
            parsed_all: all,
            bytes: 500_000,
            total_bytes: Some(if all { 500_000 } else { 1_000_000 }),
            accepted,
            rejected,
            retryable,
            paused_ms,
        };
        Status { snapshot, elapsed: Duration::from_secs(3723), rate: Some(1234.4) }
    }

    fn samples() -> Vec<Status> {
        vec![
            status(8_000, 300, 100, 10_000, false, 0),
            status(8_000, 300, 100, 10_000, false, 24_200),
            status(400_000, 15_000, 5_000, 1_000_000, true, 0),
            status(400_000, 15_000, 5_000, 1_000_000, true, 25_000),
            status(0, 0, 0, 0, false, 0),
        ]
    }

    #[test]
    fn never_wider_than_asked() {
        for s in samples() {
            for width in 0..=160 {
                let line = s.bar(width);
                assert!(measure_text_width(&line) <= width, "{width}: {line:?}");
            }
        }
    }

    #[test]
    fn the_essentials_stay_down_to_40_columns() {
        for s in samples() {
            let line = s.bar(39);
            assert!(line.starts_with("01:02:03"), "{line}");
            assert!(line.contains(&format!("ETA {}", s.eta_text())), "{line}");
            if let Some(p) = s.percent() {
                assert!(line.contains(&format!("{p}%")), "{line}");
            }
        }
    }

    #[test]
    fn the_pause_outlasts_the_counts_and_the_counts_outlast_the_drawn_bar() {
        let paused = status(8_000, 300, 100, 10_000, false, 24_200);
        let line = paused.bar(79);
        assert!(line.contains("paused 25s") && !line.contains("acc"), "{line}");
        let line = status(8_000, 300, 100, 10_000, false, 0).bar(79);
        assert!(line.contains("acc 8,000 rej 300 retry 100") && !line.contains('['), "{line}");
        let line = status(8_000, 300, 100, 10_000, false, 0).bar(119);
        assert!(line.contains("[========>           ]") && line.contains("rows/s"), "{line}");
    }

    #[test]
    fn the_drawn_bar() {
        assert_eq!(drawn(0, 10), "[>         ]");
        assert_eq!(drawn(42, 10), "[====>     ]");
        assert_eq!(drawn(99, 10), "[=========>]");
        assert_eq!(drawn(100, 10), "[==========]");
    }
}
