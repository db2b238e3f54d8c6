//! Reference solution of the rate-limiter kata: the throttling an API gateway
//! applies to its clients.
//!
//! Time is always passed in (`now: Instant`) so that every decision is a pure
//! function of the calls made, which is what lets the specification check
//! window edges to the nanosecond without sleeping.
//!
//! Refill arithmetic is exact: a bucket's level is kept as an integer count of
//! "token-nanoseconds" (one token is `rate.per` nanoseconds' worth of refill at
//! one token per `rate.per`), so a request that arrives exactly when a token is
//! due is admitted, however long the bucket has run. Floating-point levels
//! drift and miss such edges.

mod bucket;
mod keyed;
mod shared;
mod sync;
mod window;

use std::time::Duration;

pub use bucket::TokenBucket;
pub use keyed::KeyedLimiter;
pub use shared::SharedTokenBucket;
pub use window::SlidingWindow;

/// How fast a bucket refills: `tokens` every `per`, continuously (half of
/// `per` refills half a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Tokens added per `per`. Zero means the bucket never refills.
    pub tokens: u32,
    /// The period over which `tokens` are added. Must not be zero.
    pub per: Duration,
}

impl Rate {
    /// `tokens` per second.
    pub const fn per_second(tokens: u32) -> Self {
        Rate {
            tokens,
            per: Duration::from_secs(1),
        }
    }
}

/// The answer a gateway turns into a response: `200` with
/// `X-RateLimit-Remaining`, or `429` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed; `remaining` whole tokens are left after it.
    Allowed { remaining: u32 },
    /// The request is refused. `retry_after` is the shortest wait after which
    /// the same request would be allowed, or `None` if it never would be
    /// (a limit of zero, or a rate that never refills an empty bucket).
    Denied { retry_after: Option<Duration> },
}
