//! Rows done per second over a recent window, so the rate and the ETA follow
//! what happens now (a 429 pause slows them) rather than averaging since
//! the start, which hides a slowdown for as long as the run has lasted.

use std::collections::VecDeque;
use std::time::Duration;

/// How far back the rate looks: long enough to smooth out batches answered
/// in bursts, short enough that a pause shows within seconds.
pub const WINDOW: Duration = Duration::from_secs(15);

/// Below this span of samples the rate is noise (one batch answered in the
/// first 100 ms would read as thousands of rows per second): unknown.
const MIN_SPAN: Duration = Duration::from_secs(1);

/// Samples of (time since start, rows done), the oldest at most `WINDOW`
/// before the newest (plus one older sample, so the window is covered whole).
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    samples: VecDeque<(Duration, u64)>,
}

impl RateWindow {
    pub fn new() -> RateWindow {
        RateWindow::default()
    }

    /// Records that `done` rows were done at `at` (since the start).
    pub fn record(&mut self, at: Duration, done: u64) {
        self.samples.push_back((at, done));
        let horizon = at.saturating_sub(WINDOW);
        // Keep the newest sample at or before the horizon: it anchors the window.
        while self.samples.get(1).is_some_and(|(t, _)| *t <= horizon) {
            self.samples.pop_front();
        }
    }

    /// Rows per second over the window; `None` until it spans `MIN_SPAN`.
    pub fn per_sec(&self) -> Option<f64> {
        let (t0, d0) = *self.samples.front()?;
        let (t1, d1) = *self.samples.back()?;
        let span = t1.saturating_sub(t0);
        if span < MIN_SPAN {
            return None;
        }
        Some(d1.saturating_sub(d0) as f64 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn unknown_until_a_second_of_samples() {
        let mut w = RateWindow::new();
        assert_eq!(w.per_sec(), None);
        w.record(s(0.0), 0);
        w.record(s(0.5), 500);
        assert_eq!(w.per_sec(), None);
        w.record(s(1.0), 800);
        assert_eq!(w.per_sec(), Some(800.0));
    }

    #[test]
    fn looks_at_the_recent_window_only() {
        let mut w = RateWindow::new();
        // 100 rows/s for a minute, then a pause: the rate falls to zero
        // within the window instead of staying near the run's average.
        for i in 0..=60u32 {
            w.record(s(f64::from(i)), u64::from(i) * 100);
        }
        assert_eq!(w.per_sec(), Some(100.0));
        for i in 61..=75u32 {
            w.record(s(f64::from(i)), 6000);
        }
        assert_eq!(w.per_sec(), Some(0.0));
    }

    #[test]
    fn a_pause_inside_the_window_slows_the_rate() {
        let mut w = RateWindow::new();
        for i in 0..=20u32 {
            w.record(s(f64::from(i)), u64::from(i) * 100);
        }
        for i in 21..=25u32 {
            w.record(s(f64::from(i)), 2000);
        }
        let rate = w.per_sec().unwrap_or_default();
        assert!((66.0..67.0).contains(&rate), "10 s of 100/s and 5 s of nothing over 15 s: {rate}");
    }

    #[test]
    fn keeps_few_samples() {
        let mut w = RateWindow::new();
        for i in 0..10_000u64 {
            w.record(Duration::from_millis(i * 125), i);
        }
        assert!(w.samples.len() <= 122, "{}", w.samples.len());
    }
}
