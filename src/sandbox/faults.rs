//! Fault injection: latency, 500s, dropped connections and lost responses,
//! all drawn from one seeded RNG so that a seed and a request sequence give
//! the same outcomes every time.
//!
//! Every bulk request draws exactly two numbers, in arrival order, whatever
//! the settings: one for the latency jitter and one for the fault. So the
//! outcome of the n-th request depends only on the seed and on n.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The fault applied to one request, as the state log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answered 500 before doing anything: nothing was created.
    Fail,
    /// The connection was closed without any answer, before doing anything:
    /// nothing was created.
    Drop,
    /// The request was carried out (leads created), then answered 500: the
    /// client cannot know what happened (a lost response).
    Lost,
}

/// What one request gets from the dice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Draw {
    /// How long to wait before answering.
    pub latency: Duration,
    /// The fault to apply, if any.
    pub fault: Option<Fault>,
}

/// The fault settings and the RNG they draw from.
#[derive(Debug)]
pub(crate) struct Dice {
    rng: StdRng,
    latency: Duration,
    jitter: Duration,
    fail_rate: f64,
    drop_rate: f64,
    lost_rate: f64,
    /// Draws left that fail whatever the dice say.
    fail_first: u64,
}

impl Dice {
    /// Dice for the given settings; the rates are shares in `[0, 1]` whose
    /// sum is at most 1 (checked by the config).
    pub fn new(seed: u64, latency: Duration, jitter: Duration, rates: [f64; 3]) -> Dice {
        let [fail_rate, drop_rate, lost_rate] = rates;
        Dice { rng: StdRng::seed_from_u64(seed), latency, jitter, fail_rate, drop_rate, lost_rate, fail_first: 0 }
    }

    /// The first `n` draws fail (500 before anything is done).
    pub fn failing_first(self, n: u64) -> Dice {
        Dice { fail_first: n, ..self }
    }

    /// Draws the latency and the fault of the next request.
    pub fn draw(&mut self) -> Draw {
        // Always two draws, so the sequence does not depend on the settings.
        let jitter_share: f64 = self.rng.random();
        let u: f64 = self.rng.random();
        let latency = self.latency + self.jitter.mul_f64(jitter_share);
        let fault = if self.fail_first > 0 {
            self.fail_first -= 1;
            Some(Fault::Fail)
        } else if u < self.fail_rate {
            Some(Fault::Fail)
        } else if u < self.fail_rate + self.drop_rate {
            Some(Fault::Drop)
        } else if u < self.fail_rate + self.drop_rate + self.lost_rate {
            Some(Fault::Lost)
        } else {
            None
        };
        Draw { latency, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dice(seed: u64) -> Dice {
        Dice::new(seed, Duration::from_millis(5), Duration::from_millis(10), [0.2, 0.2, 0.2])
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (dice(7), dice(7));
        let xs: Vec<Draw> = (0..200).map(|_| a.draw()).collect();
        let ys: Vec<Draw> = (0..200).map(|_| b.draw()).collect();
        assert_eq!(xs, ys);
        let mut c = dice(8);
        assert_ne!(xs, (0..200).map(|_| c.draw()).collect::<Vec<_>>());
    }

    #[test]
    fn shares_and_latency_bounds() {
        let mut d = dice(1);
        let draws: Vec<Draw> = (0..10_000).map(|_| d.draw()).collect();
        for f in [Fault::Fail, Fault::Drop, Fault::Lost] {
            let n = draws.iter().filter(|x| x.fault == Some(f)).count();
            assert!((1_700..2_300).contains(&n), "{f:?}: {n}");
        }
        assert!(draws.iter().all(|x| (5..=15).contains(&x.latency.as_millis())));
    }

    #[test]
    fn the_first_draws_can_be_made_to_fail() {
        let mut d = Dice::new(3, Duration::ZERO, Duration::ZERO, [0.0; 3]).failing_first(2);
        let faults: Vec<Option<Fault>> = (0..4).map(|_| d.draw().fault).collect();
        assert_eq!(faults, [Some(Fault::Fail), Some(Fault::Fail), None, None]);
    }

    #[test]
    fn no_rates_no_faults() {
        let mut d = Dice::new(3, Duration::ZERO, Duration::ZERO, [0.0; 3]);
        assert!((0..1000).all(|_| d.draw() == Draw { latency: Duration::ZERO, fault: None }));
    }
}
