//! Right: the obvious answer recomputes `min(cap, base × 2^k)` from `k` with a checked shift and
//! draws with SplitMix64 and a modulo. This one is a stateful delay *schedule*: a `Schedule`
//! struct carries the current capped backoff and doubles it (saturating, then capped) after every
//! retry, so no exponent is ever computed; the generator is xoshiro256** seeded through SplitMix64
//! (so seed 0 is as good as any), and a uniform draw in `[low, high]` uses rejection sampling on
//! the smallest power-of-two mask (unbiased, no modulo). A Retry-After retry still advances the
//! schedule. The loop checks the deadline with an `Option<Instant>` computed once, and sleeps with
//! `sleep_until`, never past it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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

/// xoshiro256**, seeded through SplitMix64 so that any seed (0 included) gives a good state.
#[derive(Debug)]
struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    fn seeded(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Xoshiro256 { s: [next(), next(), next(), next()] }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform in `[low, high]` by rejection: draw under the smallest all-ones mask covering
    /// `high - low`, retry the (fewer than half) draws that land above it.
    fn uniform(&mut self, low: u128, high: u128) -> u128 {
        let span = high - low;
        if span == 0 {
            return low;
        }
        let mask = u128::MAX >> span.leading_zeros();
        loop {
            let x = self.next_u128() & mask;
            if x <= span {
                return low + x;
            }
        }
    }
}

/// The delays of one `retry` call, in nanoseconds.
#[derive(Debug)]
struct Schedule {
    jitter: Jitter,
    base: u128,
    cap: u128,
    /// `min(cap, base × 2^k)` for the next retry `k`.
    backoff: u128,
    /// Decorrelated jitter: the previous delay (`base` before the first).
    previous: u128,
    rng: Xoshiro256,
}

impl Schedule {
    fn new(policy: &RetryPolicy) -> Self {
        let (base, cap) = (policy.base.as_nanos(), policy.cap.as_nanos());
        Schedule {
            jitter: policy.jitter,
            base,
            cap,
            backoff: base.min(cap),
            previous: base,
            rng: Xoshiro256::seeded(policy.seed),
        }
    }

    /// The delay of the next retry, and the schedule moved on by one retry.
    fn next_backoff(&mut self) -> u128 {
        let delay = match self.jitter {
            Jitter::None => self.backoff,
            Jitter::Full => self.rng.uniform(0, self.backoff),
            Jitter::Decorrelated => {
                let high = self.cap.min(self.previous.saturating_mul(3));
                let delay = self.rng.uniform(self.base.min(high), high);
                self.previous = delay;
                delay
            }
        };
        self.skip();
        delay
    }

    /// A retry that did not use the backoff (Retry-After) still counts.
    fn skip(&mut self) {
        self.backoff = self.backoff.saturating_mul(2).min(self.cap);
    }
}

fn to_duration(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    if secs > u128::from(u64::MAX) {
        Duration::MAX
    } else {
        Duration::new(secs as u64, (nanos % 1_000_000_000) as u32)
    }
}

/// Calls `op` until it succeeds, and returns its value; or returns the last
/// error when `is_retryable` says [`Retry::No`], when `max_attempts` calls
/// have been made, or when the next wait would end after the deadline. It
/// never sleeps without calling again afterwards.
///
/// The delays never overflow, whatever the attempt number or the cap
/// (`Duration::MAX` included): use checked or saturating arithmetic.
pub async fn retry<T, E, P, F, Fut>(policy: &RetryPolicy, is_retryable: P, mut op: F) -> Result<T, E>
where
    P: Fn(&E) -> Retry,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = policy.deadline.and_then(|budget| Instant::now().checked_add(budget));
    let mut schedule = Schedule::new(policy);
    let mut calls_left = policy.max_attempts.max(1);
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        calls_left -= 1;
        let delay = match is_retryable(&error) {
            _ if calls_left == 0 => return Err(error),
            Retry::No => return Err(error),
            Retry::Yes => to_duration(schedule.next_backoff()),
            Retry::After(hint) => {
                schedule.skip();
                hint
            }
        };
        let wake = Instant::now().checked_add(delay);
        match (wake, deadline) {
            (Some(wake), Some(deadline)) if wake <= deadline => tokio::time::sleep_until(wake).await,
            (_, Some(_)) => return Err(error),
            (Some(wake), None) => tokio::time::sleep_until(wake).await,
            (None, None) => tokio::time::sleep(delay).await,
        }
    }
}
