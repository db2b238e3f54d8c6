//! Decisions per second: your code (`rate_limiter`) and the reference
//! (`rate_limiter_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p rate-limiter --features solution
//! ```
//!
//! Each iteration is one decision at an instant a little later than the last,
//! so the limiters run in their steady state: refilling, admitting some
//! requests and refusing others. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the reference is measured.

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
            let decision = limiter.check(&(tick % CLIENTS), t0 + Duration::from_nanos(tick * 100));
            matches!(decision, $krate::Decision::Allowed { .. })
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

/// Benchmarks one decision function of each crate in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $limiter:ident) => {{
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
        group.finish();
    }};
}

fn decisions_per_second(c: &mut Criterion) {
    side_by_side!(c, "TokenBucket::try_acquire", "capacity 100", token_bucket);
    side_by_side!(c, "SlidingWindow::try_acquire", "limit 100", sliding_window);
    side_by_side!(
        c,
        "KeyedLimiter::check",
        format!("{CLIENTS} clients"),
        keyed_limiter
    );
    side_by_side!(
        c,
        "SharedTokenBucket::try_acquire",
        "one thread",
        shared_bucket
    );
}

criterion_group!(benches, decisions_per_second);
criterion_main!(benches);
