//! The sequence of backoff delays, in exact integer nanoseconds.

use std::time::Duration;

use crate::rng::SplitMix64;
use crate::{Jitter, RetryPolicy};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The delays of one run of [`retry`](crate::retry).
#[derive(Debug)]
pub(crate) struct Backoff {
    base: u128,
    cap: u128,
    jitter: Jitter,
    rng: SplitMix64,
    /// Retries so far: the exponent of the next delay.
    retries: u32,
    /// The previous delay of decorrelated jitter.
    previous: u128,
}

impl Backoff {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        let cap = policy.cap.as_nanos();
        let base = policy.base.as_nanos().min(cap);
        Backoff {
            base,
            cap,
            jitter: policy.jitter,
            rng: SplitMix64::new(policy.seed),
            retries: 0,
            previous: base,
        }
    }

    /// The next delay.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.exponential();
        self.retries = self.retries.saturating_add(1);
        let delay = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => self.rng.between(0, ceiling),
            Jitter::Decorrelated => {
                let high = self.previous.saturating_mul(3).min(self.cap);
                let delay = self.rng.between(self.base, high.max(self.base));
                self.previous = delay;
                delay
            }
        };
        from_nanos(delay)
    }

    /// A retry that waited for a `Retry-After` hint instead: it counts for
    /// the exponent all the same.
    pub(crate) fn skip(&mut self) {
        self.retries = self.retries.saturating_add(1);
    }

    /// `min(cap, base × 2^retries)`, without overflow at any retry.
    fn exponential(&self) -> u128 {
        1u128
            .checked_shl(self.retries)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |delay| delay.min(self.cap))
    }
}

/// Nanoseconds (at most `Duration::MAX`'s, as every delay is at most the cap)
/// as a `Duration`.
fn from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}
