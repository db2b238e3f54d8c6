use std::time::Instant;

use crate::sync::Mutex;
use crate::{Rate, TokenBucket};

/// A token bucket shared by many threads through `&self`.
///
/// Refill-then-take must be one atomic step: checking the level and taking
/// from it separately lets two threads both see the last token. A mutex
/// around the exact bucket keeps that step atomic; the critical section is a
/// few integer operations, so contention costs little next to the request it
/// guards.
#[derive(Debug)]
pub struct SharedTokenBucket {
    bucket: Mutex<TokenBucket>,
}

impl SharedTokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        SharedTokenBucket {
            bucket: Mutex::new(TokenBucket::new(capacity, rate, now)),
        }
    }

    /// Takes `tokens` if that many are available at `now`.
    pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
        self.lock().try_acquire(tokens, now)
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        self.lock().available(now)
    }

    fn lock(&self) -> impl std::ops::DerefMut<Target = TokenBucket> + '_ {
        // A panic while holding the lock cannot leave the bucket half
        // updated (every update is a single assignment), so a poisoned lock
        // is still safe to use.
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
