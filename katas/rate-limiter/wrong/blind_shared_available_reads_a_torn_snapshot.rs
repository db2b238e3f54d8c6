//! Bug: `SharedTokenBucket::available` does not take the lock: it reads a snapshot of the level and of the instant it was computed at, published by `try_acquire` in two separate atomics. A reader can pair the new level (refill already included) with the old instant and add the same refill a second time, reporting more tokens than the bucket holds (up to capacity).
//!
//! Why candidates write it: `available` feeds the `X-RateLimit-Remaining` header and a metrics scrape, and "a read-only call should not contend with the hot path"; each field is atomic, so it looks race-free, and `try_acquire` itself is still one atomic step under the mutex.
//!
//! Symptom: under load, `X-RateLimit-Remaining` now and then says 9 while the very next request is refused; the number is higher than anything the bucket held.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own, not a change to the reference: `available` reads a snapshot of the level and its instant that `try_acquire` publishes in two atomics, instead of taking the lock.
//!
//! Caught by: loom `available_never_reports_more_tokens_than_the_bucket_holds_while_another_thread_takes_one` (the reader pairs the old instant with the new level and reports 3 tokens where the bucket holds 2 or 1).

mod sync;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, Mutex, Ordering};

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
    tokens_per_period: u32,
    /// Nanoseconds in `rate.per`: one token is this many units of level.
    per_nanos: u128,
    /// The level, in units of 1/`per_nanos` of a token, as of `last`.
    level: u128,
    /// The latest instant the level was brought up to date.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        let per_nanos = rate.per.as_nanos();
        TokenBucket {
            capacity,
            tokens_per_period: rate.tokens,
            per_nanos,
            level: u128::from(capacity) * per_nanos,
            last: now,
        }
    }

    fn max_level(&self) -> u128 {
        u128::from(self.capacity) * self.per_nanos
    }

    /// The level at `now`; an instant older than `last` refills nothing.
    fn level_at(&self, now: Instant) -> u128 {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let refill = elapsed.saturating_mul(u128::from(self.tokens_per_period));
        self.level.saturating_add(refill).min(self.max_level())
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            self.level = self.level_at(now);
            self.last = now;
        }
    }

    fn is_full(&self, now: Instant) -> bool {
        self.level_at(now) >= self.max_level()
    }

    /// Takes `tokens` if that many are available at `now`; otherwise takes
    /// nothing and returns `false`.
    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        self.refill(now);
        let need = u128::from(tokens) * self.per_nanos;
        if need <= self.level {
            self.level -= need;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (refill included, nothing taken).
    pub fn available(&self, now: Instant) -> u32 {
        (self.level_at(now) / self.per_nanos) as u32
    }

    /// How long after `now` a request for `tokens` would be admitted: zero if
    /// it would be now, `None` if it never would be (more than `capacity`, or
    /// a rate of zero tokens).
    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        if tokens > self.capacity {
            return None;
        }
        let level = self.level_at(now);
        let need = u128::from(tokens) * self.per_nanos;
        if need <= level {
            return Some(Duration::ZERO);
        }
        if self.tokens_per_period == 0 {
            return None;
        }
        let deficit = need - level;
        let rate = u128::from(self.tokens_per_period);
        let wait = deficit.div_ceil(rate);
        // The level is as of max(now, last): an older `now` waits for that too.
        let behind = self.last.saturating_duration_since(now).as_nanos();
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
    /// Instants of the admitted requests still inside the window, oldest first.
    log: VecDeque<Instant>,
    latest: Option<Instant>,
}

impl SlidingWindow {
    /// At most `limit` requests in any window of length `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit,
            window,
            log: VecDeque::new(),
            latest: None,
        }
    }

    /// Admits (and records) a request at `now`, or refuses it.
    ///
    /// Calls come in time order; an earlier `now` than one already seen may
    /// be treated as the latest time seen.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        while let Some(&oldest) = self.log.front() {
            if now.duration_since(oldest) >= self.window {
                self.log.pop_front();
            } else {
                break;
            }
        }
        if self.log.len() < self.limit as usize {
            self.log.push_back(now);
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
    buckets: HashMap<K, TokenBucket>,
    /// Time for an empty bucket to fill: the sweep runs at most this often.
    /// `None` when the rate never refills (no bucket ever becomes full again).
    fill_time: Option<Duration>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Every client gets a bucket of `capacity` tokens refilling at `rate`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        let fill_time = (rate.tokens > 0).then(|| {
            let nanos = (u128::from(capacity) * rate.per.as_nanos()).div_ceil(u128::from(rate.tokens));
            duration_from_nanos(nanos.max(1))
        });
        KeyedLimiter {
            capacity,
            rate,
            buckets: HashMap::new(),
            fill_time,
            last_sweep: None,
        }
    }

    /// Forgets the clients whose bucket is full again, at most once per fill time.
    fn sweep(&mut self, now: Instant) {
        let Some(fill_time) = self.fill_time else {
            return;
        };
        match self.last_sweep {
            None => self.last_sweep = Some(now),
            Some(last) if now.saturating_duration_since(last) >= fill_time => {
                self.buckets.retain(|_, bucket| !bucket.is_full(now));
                self.last_sweep = Some(now);
            }
            Some(_) => {}
        }
    }

    /// Decides one request of one token by `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Decision {
        if self.capacity == 0 {
            return Decision::Denied { retry_after: None };
        }
        self.sweep(now);
        if !self.buckets.contains_key(key) {
            let bucket = TokenBucket::new(self.capacity, self.rate, now);
            self.buckets.insert(key.clone(), bucket);
        }
        let bucket = self.buckets.get_mut(key).expect("inserted above");
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
        self.buckets.len()
    }
}

/// A token bucket shared by many threads through `&self`.
///
/// Take its synchronisation from `crate::sync` (see `src/sync.rs`), so that
/// the loom models in `tests/loom.rs` can check every interleaving.
#[derive(Debug)]
pub struct SharedTokenBucket {
    bucket: Mutex<TokenBucket>,
    origin: Instant,
    capacity: u32,
    tokens_per_period: u32,
    per_nanos: u128,
    /// The level (units of 1/`per_nanos` token) after the latest update,
    /// published for readers so that `available` never takes the lock.
    published_level: AtomicU64,
    /// When that level was computed, in nanoseconds since `origin`.
    published_at: AtomicU64,
}

impl SharedTokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate`, as of `now`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        let bucket = TokenBucket::new(capacity, rate, now);
        let level = u64::try_from(bucket.level).unwrap_or(u64::MAX);
        SharedTokenBucket {
            bucket: Mutex::new(bucket),
            origin: now,
            capacity,
            tokens_per_period: rate.tokens,
            per_nanos: rate.per.as_nanos(),
            published_level: AtomicU64::new(level),
            published_at: AtomicU64::new(0),
        }
    }

    /// Takes `tokens` if that many are available at `now`. Under no
    /// interleaving of concurrent callers may it hand out more tokens than
    /// the bucket holds.
    pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let admitted = bucket.try_acquire(tokens, now);
        let level = u64::try_from(bucket.level).unwrap_or(u64::MAX);
        let at = u64::try_from(bucket.last.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        self.published_level.store(level, Ordering::SeqCst);
        self.published_at.store(at, Ordering::SeqCst);
        admitted
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        // Read the published snapshot instead of locking: metrics and the
        // `X-RateLimit-Remaining` header must not contend with `try_acquire`.
        let at = self.published_at.load(Ordering::SeqCst);
        let level = self.published_level.load(Ordering::SeqCst);
        let now_nanos = now.saturating_duration_since(self.origin).as_nanos();
        let elapsed = now_nanos.saturating_sub(u128::from(at));
        let refill = elapsed.saturating_mul(u128::from(self.tokens_per_period));
        let max_level = u128::from(self.capacity) * self.per_nanos;
        let level = u128::from(level).saturating_add(refill).min(max_level);
        (level / self.per_nanos) as u32
    }
}
