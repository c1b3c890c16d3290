//! The two 429s: the per-project token-bucket rate limit and duplicate
//! protection (a key that sends too many bad leads is blocked for a while).
//!
//! Both take the current time as an argument, so their rules are tested
//! here with made-up instants instead of sleeps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// `Retry-After` in whole seconds: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 means no limit.
    pub fn new(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Duplicate protection: more than `threshold` bad leads within `window`
/// blocks the key for `block_for`; a re-sent rejected lead while blocked
/// starts the block over.
#[derive(Debug)]
pub(crate) struct DuplicateGuard {
    threshold: usize,
    window: Duration,
    block_for: Duration,
    /// Bad leads per request, oldest first, within the window.
    recent: VecDeque<(Instant, usize)>,
    in_window: usize,
    blocked_until: Option<Instant>,
}

impl DuplicateGuard {
    pub fn new(threshold: usize, window: Duration, block_for: Duration) -> DuplicateGuard {
        DuplicateGuard { threshold, window, block_for, recent: VecDeque::new(), in_window: 0, blocked_until: None }
    }

    /// The time left on the block, if the key is blocked at `now`.
    pub fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until.filter(|&until| until > now).map(|until| until - now)
    }

    /// Starts the block over (a rejected lead was sent again while blocked).
    pub fn restart(&mut self, now: Instant) {
        self.blocked_until = Some(now + self.block_for);
    }

    /// Counts `bad` bad leads at `now`; blocks the key when the window holds
    /// more than the threshold. The window is emptied when a block starts,
    /// so the key is not blocked again at once when the block ends.
    pub fn record_bad(&mut self, now: Instant, bad: usize) {
        while let Some(&(at, n)) = self.recent.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.recent.pop_front();
            self.in_window -= n;
        }
        if bad == 0 {
            return;
        }
        self.recent.push_back((now, bad));
        self.in_window += bad;
        if self.in_window > self.threshold {
            self.recent.clear();
            self.in_window = 0;
            self.restart(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(ms(1)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20, t0);
        assert!((0..20).all(|_| b.take(t0).is_ok()));
        let wait = b.take(t0).unwrap_err();
        assert_eq!(wait, ms(100));
        assert!(b.take(t0 + ms(99)).is_err());
        assert!(b.take(t0 + ms(100)).is_ok());
        assert!(b.take(t0 + ms(100)).is_err());
        // Ten seconds idle refill to the burst, not beyond.
        let later = t0 + Duration::from_secs(10);
        assert!((0..20).all(|_| b.take(later).is_ok()));
        assert!(b.take(later).is_err());
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 1, t0);
        assert!((0..1000).all(|_| b.take(t0).is_ok()));
    }

    #[test]
    fn blocks_above_threshold_within_window() {
        let t0 = Instant::now();
        let mut g = DuplicateGuard::new(50, Duration::from_secs(60), Duration::from_secs(30));
        g.record_bad(t0, 50);
        assert_eq!(g.blocked(t0), None, "50 is not more than 50");
        g.record_bad(t0 + ms(10), 1);
        assert_eq!(g.blocked(t0 + ms(10)), Some(Duration::from_secs(30)));
        assert_eq!(g.blocked(t0 + ms(10) + Duration::from_secs(30)), None);
    }

    #[test]
    fn old_bad_leads_leave_the_window() {
        let t0 = Instant::now();
        let mut g = DuplicateGuard::new(50, Duration::from_secs(60), Duration::from_secs(30));
        g.record_bad(t0, 50);
        g.record_bad(t0 + Duration::from_secs(60), 1);
        assert_eq!(g.blocked(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn restart_extends_the_block_and_window_resets() {
        let t0 = Instant::now();
        let mut g = DuplicateGuard::new(1, Duration::from_secs(60), Duration::from_secs(30));
        g.record_bad(t0, 2);
        let t1 = t0 + Duration::from_secs(20);
        g.restart(t1);
        assert_eq!(g.blocked(t1), Some(Duration::from_secs(30)));
        let end = t1 + Duration::from_secs(30);
        assert_eq!(g.blocked(end), None);
        // The bad leads that caused the block do not block again.
        g.record_bad(end, 1);
        assert_eq!(g.blocked(end), None);
    }
}
