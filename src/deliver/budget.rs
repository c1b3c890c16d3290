//! The run-wide retry budget, a token bucket as the AWS SDKs keep it: a
//! retry costs tokens, a success gives one back. When the bucket is dry, a
//! failing batch goes straight to retryable instead of hammering a server
//! that is already failing.

use std::sync::atomic::{AtomicU32, Ordering};

/// Tokens in a full bucket.
pub const CAPACITY: u32 = 500;
/// Cost of retrying after a 5xx or an unreadable answer.
pub const RETRY_COST: u32 = 5;
/// Cost of retrying after a timeout or a network error.
pub const TIMEOUT_COST: u32 = 10;

/// With every attempt failing, a run sends at most one request per batch
/// plus `CAPACITY / RETRY_COST` retries in all.
pub struct RetryBudget {
    tokens: AtomicU32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget { tokens: AtomicU32::new(CAPACITY) }
    }
}

impl RetryBudget {
    /// Takes `cost` tokens if there are that many.
    pub fn withdraw(&self, cost: u32) -> bool {
        self.tokens.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost)).is_ok()
    }

    /// A request succeeded: one token back, up to the capacity.
    pub fn refund(&self) {
        let _ = self.tokens.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t < CAPACITY).then_some(t + 1));
    }

    pub fn tokens(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_dry_and_refills_slowly() {
        let b = RetryBudget::default();
        let retries = std::iter::from_fn(|| b.withdraw(RETRY_COST).then_some(())).count();
        assert_eq!(retries as u32, CAPACITY / RETRY_COST);
        b.refund();
        assert_eq!(b.tokens(), 1);
        assert!(!b.withdraw(RETRY_COST));
    }
}
