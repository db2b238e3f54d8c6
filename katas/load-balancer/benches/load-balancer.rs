//! Picks per second: your code (`load_balancer`) and the reference
//! (`load_balancer_solution`) side by side, one group per strategy.
//!
//! ```text
//! cargo bench -p load-balancer --features solution
//! ```
//!
//! Each iteration is one request: `pick`, then the lease is dropped, over 16
//! backends of weights 1 to 4 with two of them down and 32 leases held in a
//! ring (so least-connections and power of two see uneven loads that keep
//! changing). A part of your code that still panics (`todo!()`) is skipped
//! with a note, and only the reference is measured.

use std::collections::VecDeque;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Backends in every benchmark.
const BACKENDS: usize = 16;
/// Leases held at any time: each request keeps its lease until 32 later
/// requests have been picked.
const HELD: usize = 32;

/// A balancer of `$krate` over 16 backends, `b3` and `b11` down.
macro_rules! balancer {
    ($krate:ident, $strategy:expr) => {{
        let backends = (0..BACKENDS)
            .map(|i| $krate::Backend::new(format!("b{i}"), 1 + (i % 4) as u32))
            .collect();
        let lb = $krate::LoadBalancer::new(backends, $strategy).with_thresholds(
            $krate::HealthThresholds {
                down_after: 1,
                up_after: 1,
            },
        );
        for name in ["b3", "b11"] {
            let _ = lb.report_health(name, false);
        }
        lb
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

/// Benchmarks one strategy of each crate in one group: every iteration picks
/// one backend, holds the lease in a ring of `HELD` and drops the oldest.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $strategy:ident $( { $($field:tt)* } )?) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let lb = balancer!(load_balancer, load_balancer::Strategy::$strategy $({ $($field)* })?);
            drop(lb.pick());
        }) {
            let lb = balancer!(load_balancer, load_balancer::Strategy::$strategy $({ $($field)* })?);
            group.bench_function(BenchmarkId::new("yours", BACKENDS), |b| {
                let mut ring = VecDeque::with_capacity(HELD + 1);
                b.iter(|| {
                    ring.push_back(black_box(lb.pick()));
                    if ring.len() > HELD {
                        ring.pop_front();
                    }
                });
            });
        }
        let lb = balancer!(
            load_balancer_solution,
            load_balancer_solution::Strategy::$strategy $({ $($field)* })?
        );
        group.bench_function(BenchmarkId::new("reference", BACKENDS), |b| {
            let mut ring = VecDeque::with_capacity(HELD + 1);
            b.iter(|| {
                ring.push_back(black_box(lb.pick()));
                if ring.len() > HELD {
                    ring.pop_front();
                }
            });
        });
        group.finish();
    }};
}

fn picks_per_second(c: &mut Criterion) {
    side_by_side!(c, "RoundRobin", RoundRobin);
    side_by_side!(c, "SmoothWeighted", SmoothWeighted);
    side_by_side!(c, "LeastConnections", LeastConnections);
    side_by_side!(c, "PowerOfTwoChoices", PowerOfTwoChoices { seed: 1 });
}

criterion_group!(benches, picks_per_second);
criterion_main!(benches);
