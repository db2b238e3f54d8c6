//! Decisions per second: your code (`rate_limiter`), the reference
//! (`rate_limiter_solution`) and `governor` 0.10, the rate limiter Rust
//! services ship (GCRA), side by side in each group.
//!
//! ```text
//! cargo bench -p rate-limiter --features solution
//! ```
//!
//! Each iteration is one decision at an instant a little later than the last,
//! so the limiters run in their steady state: refilling, admitting some
//! requests and refusing others. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the reference (and governor)
//! is measured.
//!
//! How governor is compared fairly: GCRA with a burst of `capacity` and one
//! token every `per / tokens` is the same limiter as the token bucket, so
//! [`governor_peer`] wraps it behind the kata's API and the same macros drive
//! it with the same instants. governor reads the time from a clock it owns,
//! so the adapter hands it each call's `now` through a clock of its own (one
//! relaxed atomic store and load) instead of the wall clock. Before a group
//! is measured, 100,000 decisions of governor are checked equal to the
//! reference's (the keyed group compares the whole `Decision`: remaining
//! tokens and `Retry-After` too). governor has no sliding log, so
//! `SlidingWindow` is the reference (and you) alone. Its direct limiter is
//! one atomic word updated by compare-and-swap, so the same adapter serves
//! as `TokenBucket` and as `SharedTokenBucket`; its keyed limiter is a
//! `DashMap` (sharded locks, std's SipHash) swept with `retain_recent` once
//! per fill time, as the reference sweeps.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Clients in the keyed-limiter benchmark.
const CLIENTS: u64 = 1000;

/// A decision function over one limiter of `$krate`: each call decides one
/// request, a few hundred nanoseconds after the previous one.
macro_rules! token_bucket {
    ($krate:ident) => {{
        let t0 = Instant::now();
        // One token per microsecond and a request every 250ns: a quarter of
        // the requests are admitted once the initial burst is spent.
        let rate = $krate::Rate {
            tokens: 1,
            per: Duration::from_micros(1),
        };
        let mut bucket = $krate::TokenBucket::new(100, rate, t0);
        let mut tick = 0u64;
        move || {
            tick += 1;
            bucket.try_acquire(1, t0 + Duration::from_nanos(tick * 250))
        }
    }};
}

macro_rules! sliding_window {
    ($krate:ident) => {{
        let t0 = Instant::now();
        // 100 per millisecond and a request every microsecond: one in ten is
        // admitted, and the log holds up to 100 instants.
        let mut window = $krate::SlidingWindow::new(100, Duration::from_millis(1));
        let mut tick = 0u64;
        move || {
            tick += 1;
            window.try_acquire(t0 + Duration::from_micros(tick))
        }
    }};
}

macro_rules! keyed_limiter {
    ($krate:ident) => {{
        let t0 = Instant::now();
        // 1000 clients in turn, 10 tokens each at 1 per millisecond, a request
        // every 100ns: each client is asked every 100µs, and sweeps of idle
        // clients run as they would in a gateway.
        let rate = $krate::Rate {
            tokens: 1,
            per: Duration::from_millis(1),
        };
        let mut limiter = $krate::KeyedLimiter::new(10, rate);
        let mut tick = 0u64;
        move || {
            tick += 1;
            limiter.check(&(tick % CLIENTS), t0 + Duration::from_nanos(tick * 100))
        }
    }};
}

macro_rules! shared_bucket {
    ($krate:ident) => {{
        let t0 = Instant::now();
        let rate = $krate::Rate {
            tokens: 1,
            per: Duration::from_micros(1),
        };
        let bucket = $krate::SharedTokenBucket::new(100, rate, t0);
        let mut tick = 0u64;
        move || {
            tick += 1;
            bucket.try_acquire(1, t0 + Duration::from_nanos(tick * 250))
        }
    }};
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your {what} panics (still todo!()?): measuring only the reference");
    }
    ok
}

/// Decisions checked equal before governor is measured beside the reference.
const CHECKED: usize = 100_000;

/// Benchmarks one decision function of each crate in one group, and of the
/// `$peer` adapter when governor does the same job.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $limiter:ident $(, $peer:ident)?) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let mut decide = $limiter!(rate_limiter);
            decide();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                let mut decide = $limiter!(rate_limiter);
                b.iter(|| black_box(decide()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            let mut decide = $limiter!(rate_limiter_solution);
            b.iter(|| black_box(decide()));
        });
        $(
            let (mut reference, mut peer) = ($limiter!(rate_limiter_solution), $limiter!($peer));
            for call in 0..CHECKED {
                assert_eq!(
                    peer(),
                    reference(),
                    "{}: governor decides otherwise than the reference at call {call}",
                    $group
                );
            }
            group.bench_function(BenchmarkId::new(governor_peer::NAME, $parameter), |b| {
                let mut decide = $limiter!($peer);
                b.iter(|| black_box(decide()));
            });
        )?
        group.finish();
    }};
}

fn decisions_per_second(c: &mut Criterion) {
    side_by_side!(
        c,
        "TokenBucket::try_acquire",
        "capacity 100",
        token_bucket,
        governor_peer
    );
    side_by_side!(c, "SlidingWindow::try_acquire", "limit 100", sliding_window);
    side_by_side!(
        c,
        "KeyedLimiter::check",
        format!("{CLIENTS} clients"),
        keyed_limiter,
        governor_peer
    );
    side_by_side!(
        c,
        "SharedTokenBucket::try_acquire",
        "one thread",
        shared_bucket,
        governor_peer
    );
}

/// governor 0.10 behind the kata's API, so that the bench's macros drive it
/// exactly as they drive the reference.
mod governor_peer {
    use std::hash::Hash;
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use governor::clock::{Clock, ReasonablyRealtime};
    use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
    use governor::nanos::Nanos;
    use governor::state::keyed::DefaultKeyedStateStore;
    use governor::state::{InMemoryState, NotKeyed};
    use governor::{Quota, RateLimiter};

    pub use rate_limiter_solution::{Decision, Rate};

    /// The contender's name in the report.
    pub const NAME: &str = "governor 0.10";

    /// The instant of the call being decided, as governor's clock: the
    /// nanoseconds since the limiter's start, which the adapter sets before
    /// each call.
    #[derive(Debug, Default)]
    pub struct InjectedClock(AtomicU64);

    impl InjectedClock {
        fn set(&self, start: Instant, now: Instant) {
            let nanos = now.saturating_duration_since(start).as_nanos();
            self.0
                .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    impl Clock for InjectedClock {
        type Instant = Nanos;

        fn now(&self) -> Nanos {
            Nanos::new(self.0.load(Ordering::Relaxed))
        }
    }

    impl ReasonablyRealtime for InjectedClock {}

    /// A burst of `capacity`, one token every `per / tokens` (exact for the
    /// bench's rates of one token per period).
    fn quota(capacity: u32, rate: Rate) -> Quota {
        let period = rate.per / rate.tokens.max(1);
        Quota::with_period(period)
            .expect("a refill period of at least 1ns")
            .allow_burst(NonZeroU32::new(capacity).expect("a capacity of at least 1"))
    }

    /// governor's direct limiter: one atomic word, compare-and-swap.
    pub struct SharedTokenBucket {
        limiter: RateLimiter<NotKeyed, InMemoryState, InjectedClock, NoOpMiddleware<Nanos>>,
        start: Instant,
    }

    impl SharedTokenBucket {
        pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
            SharedTokenBucket {
                limiter: RateLimiter::direct_with_clock(
                    quota(capacity, rate),
                    InjectedClock::default(),
                ),
                start: now,
            }
        }

        pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
            self.limiter.clock().set(self.start, now);
            match NonZeroU32::new(tokens) {
                None => true,
                Some(one) if one.get() == 1 => self.limiter.check().is_ok(),
                Some(n) => matches!(self.limiter.check_n(n), Ok(Ok(()))),
            }
        }
    }

    /// The same limiter through `&mut self`, as the kata's `TokenBucket`.
    pub struct TokenBucket(SharedTokenBucket);

    impl TokenBucket {
        pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
            TokenBucket(SharedTokenBucket::new(capacity, rate, now))
        }

        pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
            self.0.try_acquire(tokens, now)
        }
    }

    /// governor's keyed limiter (its default store, a `DashMap`), with the
    /// state snapshot that gives `remaining`, swept of full buckets
    /// (`retain_recent`) at most once per fill time, as the reference sweeps.
    pub struct KeyedLimiter<K: Hash + Eq + Clone> {
        limiter:
            RateLimiter<K, DefaultKeyedStateStore<K>, InjectedClock, StateInformationMiddleware>,
        fill_time: Duration,
        /// The kata's keyed limiter takes no instant until its first call:
        /// governor's clock starts there. Also the first sweep's instant.
        start: Option<Instant>,
        last_sweep: Instant,
    }

    impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
        pub fn new(capacity: u32, rate: Rate) -> Self {
            KeyedLimiter {
                limiter: RateLimiter::<_, _, _, NoOpMiddleware<Nanos>>::new(
                    quota(capacity, rate),
                    DefaultKeyedStateStore::default(),
                    InjectedClock::default(),
                )
                .with_middleware::<StateInformationMiddleware>(),
                fill_time: rate.per * capacity / rate.tokens.max(1),
                start: None,
                last_sweep: Instant::now(),
            }
        }

        pub fn check(&mut self, key: &K, now: Instant) -> Decision {
            let start = *self.start.get_or_insert_with(|| {
                self.last_sweep = now;
                now
            });
            self.limiter.clock().set(start, now);
            let last = self.last_sweep;
            if now.saturating_duration_since(last) >= self.fill_time {
                self.limiter.retain_recent();
                self.last_sweep = now;
            }
            match self.limiter.check_key(key) {
                Ok(state) => Decision::Allowed {
                    remaining: state.remaining_burst_capacity(),
                },
                Err(not_until) => Decision::Denied {
                    retry_after: Some(not_until.wait_time_from(self.limiter.clock().now())),
                },
            }
        }
    }
}

criterion_group!(benches, decisions_per_second);
criterion_main!(benches);
