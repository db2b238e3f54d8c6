//! Wrong: `Retry::No` is not honoured: the predicate is asked only for a
//! Retry-After hint, and every error is retried.
//!
//! Why candidates write it: "retry on error" is the feature, and the
//! predicate is an afterthought. But a `400 Bad Request` will fail the same
//! way every time, and a non-idempotent call (a payment) that may already
//! have happened must not be sent again.
//!
//! Caught by: `a_non_retryable_error_is_returned_after_exactly_one_call`,
//! `stops_at_the_first_non_retryable_error_and_returns_it`,
//! `jittered_retries_keep_every_bound` and
//! `retry_agrees_with_a_model_without_jitter`.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

pub use retry_backoff_solution::{Jitter, Retry, RetryPolicy};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (low.as_nanos(), high.as_nanos().max(low.as_nanos()));
        let wide = (u128::from(self.next()) << 64) | u128::from(self.next());
        nanos(low + wide % (high - low + 1))
    }
}

fn nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

/// `min(cap, base × 2^retry)`.
fn backoff(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exponential = 1u128
        .checked_shl(retry)
        .and_then(|factor| base.as_nanos().checked_mul(factor))
        .unwrap_or(u128::MAX);
    nanos(exponential.min(cap.as_nanos()))
}

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
    let deadline = policy.deadline.and_then(|d| start.checked_add(d));
    let mut rng = Rng(policy.seed);
    let mut previous = policy.base;
    let mut attempts = 0u32;
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        attempts += 1;
        let retry = is_retryable(&error);
        // BUG: `Retry::No` is retried like `Retry::Yes`.
        if attempts >= policy.max_attempts.max(1) {
            return Err(error);
        }
        let delay = match retry {
            Retry::After(hint) => hint,
            _ => {
                let ceiling = backoff(policy.base, policy.cap, attempts - 1);
                match policy.jitter {
                    Jitter::None => ceiling,
                    Jitter::Full => rng.between(Duration::ZERO, ceiling),
                    Jitter::Decorrelated => {
                        let high = previous.saturating_mul(3).min(policy.cap);
                        previous = rng.between(policy.base, high);
                        previous
                    }
                }
            }
        };
        if let Some(deadline) = deadline {
            match Instant::now().checked_add(delay) {
                Some(wake) if wake <= deadline => {}
                _ => return Err(error),
            }
        }
        sleep(delay).await;
    }
}
