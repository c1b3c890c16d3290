//! How fast the run may send: the 429 pause every worker honours, the
//! AIMD limit on batches in flight, the run's cap on total 429 waiting, and
//! the optional client-side request rate (`--rate`, a GCRA limiter).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

struct State {
    /// No request may leave before this instant (a 429's `Retry-After`).
    pause_until: Option<Instant>,
    /// Total time paused so far (overlapping pauses counted once).
    waited: Duration,
    /// Current limit of batches in flight (AIMD).
    limit: usize,
    in_flight: usize,
    /// Successes since the limit last changed (additive increase).
    successes: usize,
}

/// Shared by every batch task of a run.
pub struct Pacer {
    state: Mutex<State>,
    slot_freed: Notify,
    max: usize,
    max_wait: Duration,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// A batch's right to be in flight; gives the slot back when dropped.
pub struct Slot(Arc<Pacer>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.slot_freed.notify_waiters();
    }
}

/// The run may not wait any longer: the server asked us to come back at `until`.
#[derive(Debug, Clone, Copy)]
pub struct WaitExhausted {
    pub until: SystemTime,
}

impl Pacer {
    pub fn new(concurrency: usize, max_wait: Duration, rate: Option<f64>) -> Pacer {
        let limiter = rate.and_then(|r| {
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / r))?;
            Some(RateLimiter::direct(quota.allow_burst(NonZeroU32::MIN)))
        });
        Pacer {
            state: Mutex::new(State {
                pause_until: None,
                waited: Duration::ZERO,
                limit: concurrency,
                in_flight: 0,
                successes: 0,
            }),
            slot_freed: Notify::new(),
            max: concurrency,
            max_wait,
            limiter,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a free slot under the current AIMD limit.
    pub async fn slot(self: &Arc<Self>) -> Slot {
        loop {
            let freed = self.slot_freed.notified();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Slot(Arc::clone(self));
                }
            }
            freed.await;
        }
    }

    /// Waits until a request may leave: past any 429 pause, and within `--rate`.
    pub async fn ready(&self) {
        loop {
            let until = self.lock().pause_until;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
    }

    /// The time left in the current 429 pause, if any.
    pub fn paused_for(&self) -> Option<Duration> {
        self.lock().pause_until.and_then(|t| t.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// A request succeeded: grow the limit back by one after `limit` successes.
    pub fn on_success(&self) {
        let mut s = self.lock();
        s.successes += 1;
        if s.limit < self.max && s.successes >= s.limit {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            self.slot_freed.notify_waiters();
        }
    }

    /// A 429: halve the limit, and pause everyone for `wait`, unless that
    /// would take the run's total waiting past `--max-rate-limit-wait`.
    pub fn on_rate_limited(&self, wait: Duration) -> Result<(), WaitExhausted> {
        let now = Instant::now();
        let mut s = self.lock();
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        let new_until = now + wait;
        let current = s.pause_until.filter(|t| *t > now).unwrap_or(now);
        if new_until <= current {
            return Ok(());
        }
        let added = new_until - current;
        if s.waited + added > self.max_wait {
            return Err(WaitExhausted { until: SystemTime::now() + wait });
        }
        s.waited += added;
        s.pause_until = Some(new_until);
        Ok(())
    }

    /// Total time spent waiting out 429s.
    pub fn waited(&self) -> Duration {
        self.lock().waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimd_halves_on_429_and_grows_back_slowly() {
        let p = Pacer::new(8, Duration::from_secs(60), None);
        p.on_rate_limited(Duration::from_millis(1)).expect("within budget");
        assert_eq!(p.lock().limit, 4);
        for _ in 0..4 {
            p.on_success();
        }
        assert_eq!(p.lock().limit, 5);
    }

    #[test]
    fn overlapping_pauses_count_once_and_the_cap_holds() {
        let p = Pacer::new(4, Duration::from_secs(10), None);
        p.on_rate_limited(Duration::from_secs(6)).expect("6 s fits");
        p.on_rate_limited(Duration::from_secs(6)).expect("overlaps: adds almost nothing");
        assert!(p.waited() < Duration::from_secs(7));
        assert!(p.on_rate_limited(Duration::from_secs(30)).is_err());
    }
}
