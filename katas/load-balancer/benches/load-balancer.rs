//! Picks per second: your code (`load_balancer`), the reference
//! (`load_balancer_solution`) and a lock-free baseline side by side, one
//! group per strategy.
//!
//! ```text
//! cargo bench -p load-balancer --features solution
//! ```
//!
//! Each iteration is one request: `pick`, then the lease is dropped, over 16
//! backends of weights 1 to 4 with two of them down and 32 leases held in a
//! ring (so least-connections and power of two see uneven loads that keep
//! changing). A part of your code that still panics (`todo!()`) is skipped
//! with a note, and only the reference (and the baseline) is measured.
//!
//! The baseline: no widely used crate picks among backends in-process the
//! way a proxy's upstream module does (tower's `balance` is a whole service
//! stack around endpoints that report their own load, not a picker), so the
//! yardstick is [`atomic_baseline`], the same picks without the reference's
//! one mutex: a health flag and a lease count per backend in atomics, the
//! round-robin cursor moved by compare-and-swap, SplitMix64's counter in an
//! atomic. Smooth weighted round-robin cannot be had from independent
//! atomics (every pick updates every backend's running weight), so its
//! baseline is the naive strategy the kata improves on: each backend
//! repeated `weight` times in a list walked by an atomic cursor, which sends
//! a backend its share in bursts. The baseline is the floor: what the
//! reference's mutex (two lock round trips per request, one to pick and one
//! to drop the lease) costs on one thread.

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
        let lb = balancer!(
            atomic_baseline,
            atomic_baseline::Strategy::$strategy $({ $($field)* })?
        );
        group.bench_function(BenchmarkId::new(atomic_baseline::NAME, BACKENDS), |b| {
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

/// The reference's picks without its mutex, behind the kata's API: the
/// bench's floor (see the top of this file).
mod atomic_baseline {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

    pub use load_balancer_solution::{
        Backend, Health, HealthThresholds, NoBackend, Strategy, UnknownBackend,
    };

    /// The contender's name in the report.
    pub const NAME: &str = "baseline: atomics";

    /// SplitMix64's increment.
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub struct LoadBalancer {
        backends: Vec<Backend>,
        strategy: Strategy,
        up: Vec<AtomicBool>,
        active: Vec<AtomicUsize>,
        /// Each backend's index `weight` times: naive weighted round-robin.
        weighted: Vec<usize>,
        cursor: AtomicUsize,
        rng: AtomicU64,
    }

    impl LoadBalancer {
        pub fn new(backends: Vec<Backend>, strategy: Strategy) -> Self {
            let weighted = backends
                .iter()
                .enumerate()
                .flat_map(|(i, b)| std::iter::repeat_n(i, b.weight as usize))
                .collect();
            let seed = match strategy {
                Strategy::PowerOfTwoChoices { seed } => seed,
                _ => 0,
            };
            LoadBalancer {
                up: backends.iter().map(|_| AtomicBool::new(true)).collect(),
                active: backends.iter().map(|_| AtomicUsize::new(0)).collect(),
                backends,
                strategy,
                weighted,
                cursor: AtomicUsize::new(0),
                rng: AtomicU64::new(seed),
            }
        }

        /// A report takes effect at once: the bench's thresholds are 1.
        pub fn with_thresholds(self, _thresholds: HealthThresholds) -> Self {
            self
        }

        pub fn report_health(&self, name: &str, ok: bool) -> Result<Health, UnknownBackend> {
            let index = self
                .backends
                .iter()
                .position(|b| b.name == name)
                .ok_or_else(|| UnknownBackend(name.to_owned()))?;
            self.up[index].store(ok, Relaxed);
            Ok(if ok { Health::Up } else { Health::Down })
        }

        pub fn pick(&self) -> Result<Lease<'_>, NoBackend> {
            let index = match self.strategy {
                Strategy::RoundRobin => {
                    self.scan_from_cursor(|cursor| self.order(cursor).find(|&i| self.is_up(i)))
                }
                Strategy::SmoothWeighted => self.naive_weighted(),
                Strategy::LeastConnections => self.scan_from_cursor(|cursor| {
                    self.order(cursor)
                        .filter(|&i| self.is_up(i))
                        .min_by_key(|&i| self.active[i].load(Relaxed))
                }),
                Strategy::PowerOfTwoChoices { .. } => self.power_of_two(),
            }
            .ok_or(NoBackend)?;
            self.active[index].fetch_add(1, Relaxed);
            Ok(Lease {
                balancer: self,
                index,
            })
        }

        fn is_up(&self, index: usize) -> bool {
            self.up[index].load(Relaxed)
        }

        /// Every backend once, starting at `cursor`.
        fn order(&self, cursor: usize) -> impl Iterator<Item = usize> {
            let n = self.backends.len();
            (0..n).map(move |offset| (cursor + offset) % n)
        }

        /// The backend `choose` picks given the cursor; the cursor moves past
        /// it, by compare-and-swap.
        fn scan_from_cursor(&self, choose: impl Fn(usize) -> Option<usize>) -> Option<usize> {
            let n = self.backends.len();
            let mut cursor = self.cursor.load(Relaxed);
            loop {
                let index = choose(cursor)?;
                match self
                    .cursor
                    .compare_exchange_weak(cursor, (index + 1) % n, Relaxed, Relaxed)
                {
                    Ok(_) => return Some(index),
                    Err(moved) => cursor = moved,
                }
            }
        }

        /// The next up entry of the expanded list.
        fn naive_weighted(&self) -> Option<usize> {
            let len = self.weighted.len();
            let turn = self.cursor.fetch_add(1, Relaxed);
            (0..len)
                .map(|offset| self.weighted[(turn + offset) % len])
                .find(|&i| self.is_up(i))
        }

        fn power_of_two(&self) -> Option<usize> {
            let up = (0..self.backends.len()).filter(|&i| self.is_up(i)).count();
            match up {
                0 => None,
                1 => self.nth_up(0),
                _ => {
                    let first = self.below(up);
                    let mut second = self.below(up - 1);
                    if second >= first {
                        second += 1;
                    }
                    let (a, b) = (self.nth_up(first)?, self.nth_up(second)?);
                    let load = |i: usize| self.active[i].load(Relaxed);
                    Some(if load(b) < load(a) { b } else { a })
                }
            }
        }

        fn nth_up(&self, rank: usize) -> Option<usize> {
            (0..self.backends.len())
                .filter(|&i| self.is_up(i))
                .nth(rank)
        }

        /// SplitMix64 with its counter in an atomic; uniform in `0..n`.
        fn below(&self, n: usize) -> usize {
            let mut z = self.rng.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((u128::from(z) * n as u128) >> 64) as usize
        }
    }

    pub struct Lease<'a> {
        balancer: &'a LoadBalancer,
        index: usize,
    }

    impl Drop for Lease<'_> {
        fn drop(&mut self) {
            self.balancer.active[self.index].fetch_sub(1, Relaxed);
        }
    }
}

criterion_group!(benches, picks_per_second);
criterion_main!(benches);
