//! # Retry with backoff
//!
//! The retry helper a service wraps around calls to a flaky dependency.
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata retry-backoff
//! ```
//!
//! Time is tokio's clock: sleep with `tokio::time::sleep` (or `sleep_until`)
//! and read `tokio::time::Instant::now()`, never `std::time::Instant::now()`
//! or `std::thread::sleep`. The spec runs on a paused clock, so a 30-second
//! backoff takes no time and is checked to the millisecond.
//!
//! Randomness is yours to write: a small seeded generator (SplitMix64 or
//! xorshift, a dozen lines), seeded from [`RetryPolicy::seed`]. No `rand`.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::future::Future;
use std::time::Duration;

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
///
/// The delays never overflow, whatever the attempt number or the cap
/// (`Duration::MAX` included): use checked or saturating arithmetic.
pub async fn retry<T, E, P, F, Fut>(policy: &RetryPolicy, is_retryable: P, op: F) -> Result<T, E>
where
    P: Fn(&E) -> Retry,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    todo!(
        "retry: call, ask `is_retryable`, compute the next delay, check attempts and the \
         deadline before sleeping, sleep on tokio's clock, call again"
    )
}
