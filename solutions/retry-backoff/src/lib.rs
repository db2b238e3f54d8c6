//! Reference solution of the retry-backoff kata: the retry helper a service
//! wraps around calls to a flaky dependency, with exponential backoff, a
//! cap, jitter from a seeded generator, a limit on attempts, an overall
//! deadline, and a server's `Retry-After` honoured.
//!
//! The delays are computed in `u128` nanoseconds with checked shifts and
//! saturating multiplication, so attempt 100 (or a cap of `Duration::MAX`)
//! never overflows; the deadline is checked *before* sleeping, with
//! `Instant::checked_add`, so the helper never sleeps past it. Time is
//! tokio's clock, so a paused runtime checks every delay exactly.

mod backoff;
mod rng;

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};

use backoff::Backoff;

/// How the delays are randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// No randomness: retry `k` (counting from 0) waits exactly
    /// `min(cap, base × 2^k)`.
    None,
    /// "Full jitter": retry `k` waits a uniformly random delay in
    /// `[0, min(cap, base × 2^k)]`.
    Full,
    /// "Decorrelated jitter": each delay is uniformly random in
    /// `[base, min(cap, 3 × the previous delay)]`, the first one's
    /// "previous delay" being `base`.
    Decorrelated,
}

/// When and how often [`retry`] tries again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    /// The first backoff delay; each retry doubles it.
    pub base: Duration,
    /// No backoff delay is ever longer than this (a `Retry-After` hint is
    /// not a backoff delay: it is honoured as given).
    pub cap: Duration,
    /// The most calls made, the first one included (`0` is taken as `1`).
    pub max_attempts: u32,
    /// The overall budget, from the moment [`retry`] is called: no call
    /// starts after `start + deadline`, and the helper never sleeps past it.
    /// `None`: no deadline.
    pub deadline: Option<Duration>,
    /// How the delays are randomised.
    pub jitter: Jitter,
    /// The seed of the generator the jitter draws from: the same seed and
    /// the same failures give the same delays.
    pub seed: u64,
}

/// What to do about one error, as the caller's predicate decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// Do not retry (a `400`, a `404`, a non-idempotent call that may have
    /// happened): return this error now.
    No,
    /// Retry after the policy's backoff delay.
    Yes,
    /// Retry after exactly this long (a `Retry-After` header on a `429` or a
    /// `503`), instead of the backoff delay, if that is still within the
    /// deadline. The retry still counts: the next backoff delay is the one
    /// after it.
    After(Duration),
}

/// Calls `op` until it succeeds, and returns its value; or returns the last
/// error when `is_retryable` says [`Retry::No`], when `max_attempts` calls
/// have been made, or when the next wait would end after the deadline. It
/// never sleeps without calling again afterwards.
pub async fn retry<T, E, P, F, Fut>(
    policy: &RetryPolicy,
    is_retryable: P,
    mut op: F,
) -> Result<T, E>
where
    P: Fn(&E) -> Retry,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    // A deadline too far away to represent is no deadline.
    let deadline = policy.deadline.and_then(|d| start.checked_add(d));
    let max_attempts = policy.max_attempts.max(1);
    let mut backoff = Backoff::new(policy);
    let mut attempts = 0u32;
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        attempts += 1;
        let delay = match is_retryable(&error) {
            Retry::No => return Err(error),
            _ if attempts >= max_attempts => return Err(error),
            Retry::Yes => backoff.next_delay(),
            Retry::After(hint) => {
                backoff.skip();
                hint
            }
        };
        match (Instant::now().checked_add(delay), deadline) {
            (Some(wake), Some(deadline)) if wake <= deadline => sleep_until(wake).await,
            (Some(wake), None) => sleep_until(wake).await,
            // The wait would end after the deadline, or beyond any instant.
            (_, Some(_)) => return Err(error),
            (None, None) => sleep(delay).await,
        }
    }
}
