//! # Rate limiter
//!
//! The throttling an API gateway applies to its clients. Read `README.md`
//! beside this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata rate-limiter
//! ```
//!
//! Time is always passed in (`now: Instant`): never call `Instant::now()`
//! inside the limiter, so that the spec can place requests to the nanosecond.
//! The spec writes its instants as `t0 + Duration::from_millis(..)`.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

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

/// A token bucket: holds up to `capacity` tokens, starts full, refills
/// continuously at `rate`, and admits a request of `n` tokens only if `n`
/// tokens are there to take (all or nothing).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    // Your fields here: what must the bucket remember between calls?
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        todo!("TokenBucket::new: a bucket that starts full")
    }

    /// Takes `tokens` if that many are available at `now`; otherwise takes
    /// nothing and returns `false`.
    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        todo!("TokenBucket::try_acquire: refill for the time elapsed, then take all or nothing")
    }

    /// Whole tokens available at `now` (refill included, nothing taken).
    pub fn available(&self, now: Instant) -> u32 {
        todo!("TokenBucket::available: the level at `now`, rounded down")
    }

    /// How long after `now` a request for `tokens` would be admitted: zero if
    /// it would be now, `None` if it never would be (more than `capacity`, or
    /// a rate of zero tokens).
    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        todo!("TokenBucket::retry_after: the deficit divided by the refill rate, rounded up")
    }
}

/// An exact sliding-window limiter: admits a request at `t` only if fewer
/// than `limit` requests were admitted in the window `(t - window, t]`.
/// Refused requests do not count.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    // Your fields here.
}

impl SlidingWindow {
    /// At most `limit` requests in any window of length `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        todo!("SlidingWindow::new")
    }

    /// Admits (and records) a request at `now`, or refuses it.
    ///
    /// Calls come in time order; an earlier `now` than one already seen may
    /// be treated as the latest time seen.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        todo!("SlidingWindow::try_acquire: forget what left the window, then count")
    }
}

/// One token bucket per client key, as a gateway keeps per API key or IP.
///
/// Clients that go idle must not cost memory for ever: once a client's bucket
/// would have refilled to full, the limiter may forget it (a full bucket is
/// the same as a new one).
#[derive(Debug, Clone)]
pub struct KeyedLimiter<K> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _keys: PhantomData<K>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Every client gets a bucket of `capacity` tokens refilling at `rate`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate) -> Self {
        todo!("KeyedLimiter::new")
    }

    /// Decides one request of one token by `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Decision {
        todo!("KeyedLimiter::check: the client's bucket, created full on first sight")
    }

    /// How many clients the limiter currently keeps state for.
    pub fn tracked_clients(&self) -> usize {
        todo!("KeyedLimiter::tracked_clients")
    }
}

/// A token bucket shared by many threads through `&self`.
///
/// Take its synchronisation from `crate::sync` (see `src/sync.rs`), so that
/// the loom models in `tests/loom.rs` can check every interleaving.
#[derive(Debug)]
pub struct SharedTokenBucket {
    // Your fields here.
}

impl SharedTokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        todo!("SharedTokenBucket::new")
    }

    /// Takes `tokens` if that many are available at `now`. Under no
    /// interleaving of concurrent callers may it hand out more tokens than
    /// the bucket holds.
    pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
        todo!("SharedTokenBucket::try_acquire: refill and take in one atomic step")
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        todo!("SharedTokenBucket::available")
    }
}
