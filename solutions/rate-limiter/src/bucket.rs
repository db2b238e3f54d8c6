use std::time::{Duration, Instant};

use crate::Rate;

/// A token bucket: holds up to `capacity` tokens, starts full, refills
/// continuously at `rate`, and admits a request of `n` tokens only if `n`
/// tokens are there to take (all or nothing).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u32,
    rate: Rate,
    /// Current level in token-nanoseconds: one token is `per_nanos` of them.
    level: u128,
    /// The latest instant the level accounts for. Never moves backwards.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        let mut bucket = TokenBucket {
            capacity,
            rate,
            level: 0,
            updated: now,
        };
        bucket.level = bucket.capacity_level();
        bucket
    }

    /// Takes `tokens` if that many are available at `now`; otherwise takes
    /// nothing and returns `false`.
    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        self.refill(now);
        let needed = self.level_of(tokens);
        match self.level.checked_sub(needed) {
            Some(left) => {
                self.level = left;
                true
            }
            None => false,
        }
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        let level = self.level_at(now);
        // The level never exceeds `capacity` tokens, so this fits in a u32.
        u32::try_from(level / self.per_nanos()).unwrap_or(u32::MAX)
    }

    /// How long after `now` a request for `tokens` would be admitted: zero if
    /// it would be now, `None` if never.
    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        let needed = self.level_of(tokens);
        let deficit = needed.saturating_sub(self.level_at(now));
        if deficit == 0 {
            return Some(Duration::ZERO);
        }
        if tokens > self.capacity || self.rate.tokens == 0 {
            return None;
        }
        // Refill resumes only from the latest instant the level accounts
        // for, which an out-of-order `now` may be behind.
        let behind = self.updated.saturating_duration_since(now);
        Some(behind.saturating_add(nanos_to_duration(
            deficit.div_ceil(u128::from(self.rate.tokens)),
        )))
    }

    /// Whether the bucket is full at `now`, and so indistinguishable from a
    /// new one.
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        self.level_at(now) == self.capacity_level()
    }

    /// How long an empty bucket takes to fill up, or `None` if it never does.
    pub(crate) fn time_to_fill(capacity: u32, rate: Rate) -> Option<Duration> {
        if rate.tokens == 0 {
            return None;
        }
        let level = u128::from(capacity) * rate.per.as_nanos();
        Some(nanos_to_duration(level.div_ceil(u128::from(rate.tokens))))
    }

    fn refill(&mut self, now: Instant) {
        self.level = self.level_at(now);
        self.updated = self.updated.max(now);
    }

    fn level_at(&self, now: Instant) -> u128 {
        // Time that runs backwards (an `Instant` taken before a later call
        // won the race) refills nothing rather than draining the bucket.
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        let refilled = elapsed.saturating_mul(u128::from(self.rate.tokens));
        self.level
            .saturating_add(refilled)
            .min(self.capacity_level())
    }

    fn per_nanos(&self) -> u128 {
        self.rate.per.as_nanos()
    }

    fn level_of(&self, tokens: u32) -> u128 {
        u128::from(tokens) * self.per_nanos()
    }

    fn capacity_level(&self) -> u128 {
        self.level_of(self.capacity)
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below one billion, so it fits in a u32.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}
