//! Wrong: "full jitter" adds a random amount on top of the capped backoff
//! (`backoff + random(0..base)`), as the classic snippet does with
//! `base_delay * 2 ** attempt + random.uniform(0, 0.1)`.
//!
//! Why candidates write it: a little noise on top seems enough to
//! desynchronise clients. It is not bounded by the cap (at the cap, delays
//! exceed it), and it hardly spreads anything: a thousand clients that failed
//! together still retry within `base` of each other, every time. Full jitter
//! draws the whole delay from `[0, min(cap, base × 2^k)]`.
//!
//! Caught by: `full_jitter_delays_lie_between_zero_and_the_capped_backoff`
//! and `jittered_retries_keep_every_bound`.

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
                    // BUG: noise on top of the backoff, past the cap.
                    Jitter::Full => ceiling + rng.between(Duration::ZERO, policy.base),
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
