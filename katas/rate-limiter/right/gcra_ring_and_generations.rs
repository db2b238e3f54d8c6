//! Right: built on GCRA instead of a level and a refill. The token bucket
//! stores one "theoretical arrival time" (the scaled instant at which the
//! bucket is full again) in exact integer units of 1/`rate.tokens` ns, so
//! refilling is never a step of its own: the level is derived from how far
//! that instant lies ahead of now. The sliding window is a fixed ring of the
//! last `limit` admitted instants (grown lazily to at most `limit`), where one
//! comparison with the slot about to be overwritten decides, instead of a
//! deque popped from the front. The keyed limiter forgets idle clients by
//! rotating two generations of maps once per fill time (a whole map dropped
//! at once) instead of sweeping one map with `retain`. The shared bucket is
//! the GCRA bucket under `crate::sync::Mutex`.

mod sync;

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

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

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A duration of `nanos` nanoseconds, saturating at `Duration::MAX`.
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = nanos / NANOS_PER_SEC;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// A token bucket: holds up to `capacity` tokens, starts full, refills
/// continuously at `rate`, and admits a request of `n` tokens only if `n`
/// tokens are there to take (all or nothing).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u32,
    /// `rate.tokens`; time is counted in units of 1/`tokens` ns ("ticks"), so
    /// that one token is earned every `per_nanos` ticks exactly.
    tokens: u32,
    per_nanos: u128,
    origin: Instant,
    /// The latest tick seen: an older instant is read as this one.
    seen: u128,
    /// The tick at which the bucket is full again (GCRA's theoretical arrival
    /// time). At or before `seen`, the bucket is full.
    tat: u128,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        TokenBucket {
            capacity,
            tokens: rate.tokens,
            per_nanos: rate.per.as_nanos(),
            origin: now,
            seen: 0,
            tat: 0,
        }
    }

    /// `now` in ticks since `origin`, never before the latest tick seen.
    fn clock(&self, now: Instant) -> u128 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        nanos.saturating_mul(u128::from(self.tokens)).max(self.seen)
    }

    /// The ticks a full bucket is ahead of an empty one.
    fn burst(&self) -> u128 {
        u128::from(self.capacity) * self.per_nanos
    }

    fn cost(&self, tokens: u32) -> u128 {
        u128::from(tokens) * self.per_nanos
    }

    /// How far in the future (in ticks) the bucket would be full again after
    /// also taking `tokens` at tick `t`.
    fn debt_after(&self, tokens: u32, t: u128) -> u128 {
        self.tat.max(t).saturating_add(self.cost(tokens)) - t
    }

    /// Takes `tokens` if that many are available at `now`; otherwise takes
    /// nothing and returns `false`.
    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        let t = self.clock(now);
        self.seen = t;
        let debt = self.debt_after(tokens, t);
        if debt <= self.burst() {
            self.tat = t + debt;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (refill included, nothing taken).
    pub fn available(&self, now: Instant) -> u32 {
        let t = self.clock(now);
        let debt = self.tat.saturating_sub(t);
        ((self.burst() - debt.min(self.burst())) / self.per_nanos) as u32
    }

    /// How long after `now` a request for `tokens` would be admitted: zero if
    /// it would be now, `None` if it never would be (more than `capacity`, or
    /// a rate of zero tokens).
    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        if tokens > self.capacity {
            return None;
        }
        let t = self.clock(now);
        let excess = self.debt_after(tokens, t).saturating_sub(self.burst());
        if excess == 0 {
            return Some(Duration::ZERO);
        }
        if self.tokens == 0 {
            return None;
        }
        let ticks_per_nano = u128::from(self.tokens);
        // `t` is a whole number of nanoseconds (every tick stored is one).
        let wait = excess.div_ceil(ticks_per_nano);
        let clock_nanos = t / ticks_per_nano;
        let now_nanos = now.saturating_duration_since(self.origin).as_nanos();
        let before_origin = self.origin.saturating_duration_since(now).as_nanos();
        let behind = clock_nanos - now_nanos + before_origin;
        Some(duration_from_nanos(wait.saturating_add(behind)))
    }
}

/// An exact sliding-window limiter: admits a request at `t` only if fewer
/// than `limit` requests were admitted in the window `(t - window, t]`.
/// Refused requests do not count.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: u32,
    window: Duration,
    /// The last `limit` admitted instants, as a ring: while it is not full
    /// yet, in order; once full, `ring[next]` is the oldest of them.
    ring: Vec<Instant>,
    next: usize,
    latest: Option<Instant>,
}

impl SlidingWindow {
    /// At most `limit` requests in any window of length `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit,
            window,
            ring: Vec::new(),
            next: 0,
            latest: None,
        }
    }

    /// Admits (and records) a request at `now`, or refuses it.
    ///
    /// Calls come in time order; an earlier `now` than one already seen may
    /// be treated as the latest time seen.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        let limit = self.limit as usize;
        if self.ring.len() < limit {
            // Fewer than `limit` admitted ever: fewer in any window.
            self.ring.push(now);
            return true;
        }
        // The `limit`-th most recent admission: admit only if it has left.
        if now.duration_since(self.ring[self.next]) >= self.window {
            self.ring[self.next] = now;
            self.next = (self.next + 1) % limit;
            true
        } else {
            false
        }
    }
}

/// One token bucket per client key, as a gateway keeps per API key or IP.
///
/// Clients that go idle must not cost memory for ever: once a client's bucket
/// would have refilled to full, the limiter may forget it (a full bucket is
/// the same as a new one).
#[derive(Debug, Clone)]
pub struct KeyedLimiter<K> {
    capacity: u32,
    rate: Rate,
    /// Clients seen since the last rotation.
    current: HashMap<K, TokenBucket>,
    /// Clients seen in the generation before, and not since.
    previous: HashMap<K, TokenBucket>,
    /// A generation lasts at least this long: the time an empty bucket takes
    /// to fill. `None` when the rate never refills.
    fill_time: Option<Duration>,
    rotated: Option<Instant>,
    latest: Option<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Every client gets a bucket of `capacity` tokens refilling at `rate`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        let fill_time = (rate.tokens > 0).then(|| {
            let nanos =
                (u128::from(capacity) * rate.per.as_nanos()).div_ceil(u128::from(rate.tokens));
            duration_from_nanos(nanos.max(1))
        });
        KeyedLimiter {
            capacity,
            rate,
            current: HashMap::new(),
            previous: HashMap::new(),
            fill_time,
            rotated: None,
            latest: None,
        }
    }

    /// Starts a new generation once the current one is a fill time old. The
    /// generation dropped then was last touched before the previous rotation,
    /// at least a fill time ago, so every bucket in it is full.
    fn rotate(&mut self, now: Instant) {
        let Some(fill_time) = self.fill_time else {
            return;
        };
        let Some(rotated) = self.rotated else {
            self.rotated = Some(now);
            return;
        };
        let age = now.saturating_duration_since(rotated);
        if age >= fill_time.saturating_mul(2) {
            self.previous = HashMap::new();
            self.current = HashMap::new();
            self.rotated = Some(now);
        } else if age >= fill_time {
            self.previous = std::mem::take(&mut self.current);
            self.rotated = Some(now);
        }
    }

    /// Decides one request of one token by `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Decision {
        if self.capacity == 0 {
            return Decision::Denied { retry_after: None };
        }
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        self.rotate(now);
        if !self.current.contains_key(key) {
            let bucket = self
                .previous
                .remove(key)
                .unwrap_or_else(|| TokenBucket::new(self.capacity, self.rate, now));
            self.current.insert(key.clone(), bucket);
        }
        let bucket = self.current.get_mut(key).expect("inserted above");
        if bucket.try_acquire(1, now) {
            Decision::Allowed {
                remaining: bucket.available(now),
            }
        } else {
            Decision::Denied {
                retry_after: bucket.retry_after(1, now),
            }
        }
    }

    /// How many clients the limiter currently keeps state for.
    pub fn tracked_clients(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// A token bucket shared by many threads through `&self`.
///
/// Take its synchronisation from `crate::sync` (see `src/sync.rs`), so that
/// the loom models in `tests/loom.rs` can check every interleaving.
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

    /// Takes `tokens` if that many are available at `now`. Under no
    /// interleaving of concurrent callers may it hand out more tokens than
    /// the bucket holds.
    pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.try_acquire(tokens, now)
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        let bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.available(now)
    }
}
