//! Wrong: the deadline is checked *before sleeping* only as "has it passed
//! yet?", not as "would this sleep end after it?". The helper sleeps through
//! the deadline and makes one more call after it.
//!
//! Why candidates write it: `if start.elapsed() > deadline { break }` at the
//! top of the loop is the obvious check. But the caller's own timeout (an
//! HTTP request with a 2-second budget) has then already fired: the last
//! sleep and the last call are wasted load on a struggling dependency, and
//! the error arrives late.
//!
//! Caught by: `never_sleeps_past_the_deadline`,
//! `the_deadline_counts_the_time_the_calls_take`,
//! `a_retry_after_past_the_deadline_gives_up_at_once` and
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
        if retry == Retry::No || attempts >= policy.max_attempts.max(1) {
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
        // BUG: only asks whether the deadline has passed already.
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(error);
        }
        sleep(delay).await;
    }
}
