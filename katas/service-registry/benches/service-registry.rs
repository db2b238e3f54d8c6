//! Your code beside the reference and a naive baseline:
//! `cargo bench -p service-registry --features solution`.
//!
//! The registry's hot path is the steady state: thousands of live leases,
//! each renewed by a heartbeat every third of its TTL, and the expiry check
//! every call makes first. No crate does this job behind a sans-IO API as
//! small as this one (Consul and Eureka are servers; TTL caches such as
//! `moka` expire entries but know nothing of leases, holders or versions),
//! so the baseline is the naive design the kata improves on, written below:
//! the leases in a `Vec`, scanned on every call for the ones that ran out
//! and for the sender's lease.
//!
//! One iteration is one heartbeat, delivered to a registry holding 1,000 or
//! 10,000 live leases (30 s TTLs, so none ends during the run), the clock a
//! microsecond later each time, hosts in turn.

use std::hint::black_box;
use std::panic;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// The naive registry: what a first version usually looks like.
mod naive {
    use std::time::Duration;

    pub struct Registry {
        /// (host, lease, ttl, deadline)
        leases: Vec<(u64, u64, Duration, Duration)>,
        next: u64,
        pub version: u64,
    }

    impl Registry {
        pub fn new() -> Registry {
            Registry {
                leases: Vec::new(),
                next: 1,
                version: 1,
            }
        }

        fn expire(&mut self, now: Duration) {
            let before = self.leases.len();
            self.leases.retain(|l| l.3 > now);
            if self.leases.len() != before {
                self.version += 1;
            }
        }

        pub fn register(&mut self, host: u64, ttl: Duration, now: Duration) -> u64 {
            self.expire(now);
            if let Some(l) = self.leases.iter_mut().find(|l| l.0 == host) {
                l.3 = now + ttl;
                return l.1;
            }
            let lease = self.next;
            self.next += 1;
            self.leases.push((host, lease, ttl, now + ttl));
            self.version += 1;
            lease
        }

        /// Whether the heartbeat renewed the lease.
        pub fn heartbeat(&mut self, host: u64, lease: u64, now: Duration) -> bool {
            self.expire(now);
            match self.leases.iter_mut().find(|l| l.0 == host && l.1 == lease) {
                Some(l) => {
                    l.3 = now + l.2;
                    true
                }
                None => false,
            }
        }
    }
}

const TTL: Duration = Duration::from_secs(30);

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| {
        let mut r =
            service_registry::Registry::new(service_registry::RegistryConfig::default()).ok()?;
        r.receive(
            7,
            service_registry::Message::Register {
                request: 1,
                ttl: TTL,
            },
            Duration::ZERO,
        )
        .ok()
    })
    .is_ok_and(|out| out.is_some());
    panic::set_hook(hook);
    ready
}

/// A registry of `$krate` with `n` live leases, and a closure that delivers
/// the next heartbeat.
macro_rules! heartbeats {
    ($krate:ident, $n:expr) => {{
        use $krate::{Message, Registry, RegistryConfig};
        let n: u64 = $n;
        let config = RegistryConfig {
            max_ttl: TTL,
            watch_hold: Duration::from_secs(1),
        };
        let mut registry = Registry::new(config).expect("a valid configuration");
        let mut leases = Vec::with_capacity(n as usize);
        for host in 0..n {
            let out = registry
                .receive(
                    host,
                    Message::Register {
                        request: 1,
                        ttl: TTL,
                    },
                    Duration::ZERO,
                )
                .expect("a registration");
            let lease = out
                .iter()
                .find_map(|o| match o.message {
                    Message::Registered { lease, .. } => Some(lease),
                    _ => None,
                })
                .expect("Registered");
            leases.push(lease);
        }
        let (mut now, mut i) = (Duration::ZERO, 0u64);
        move || {
            now += Duration::from_micros(1);
            i = (i + 1) % n;
            let out = registry
                .receive(
                    i,
                    Message::Heartbeat {
                        request: 2,
                        lease: leases[i as usize],
                    },
                    now,
                )
                .expect("a heartbeat");
            black_box(out.len())
        }
    }};
}

fn heartbeat(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeat");
    let ready = learner_ready();
    if !ready {
        println!(
            "your Registry is still todo!(): benchmarking the reference and the baseline only"
        );
    }
    for n in [1_000u64, 10_000] {
        if ready {
            let mut beat = heartbeats!(service_registry, n);
            group.bench_function(BenchmarkId::new("yours", n), |b| b.iter(&mut beat));
        }
        let mut beat = heartbeats!(service_registry_solution, n);
        group.bench_function(BenchmarkId::new("reference", n), |b| b.iter(&mut beat));

        let mut naive = naive::Registry::new();
        let leases: Vec<u64> = (0..n)
            .map(|h| naive.register(h, TTL, Duration::ZERO))
            .collect();
        let (mut now, mut i) = (Duration::ZERO, 0u64);
        group.bench_function(BenchmarkId::new("naive Vec scan (baseline)", n), |b| {
            b.iter(|| {
                now += Duration::from_micros(1);
                i = (i + 1) % n;
                black_box(naive.heartbeat(i, leases[i as usize], now))
            })
        });
        black_box(naive.version);
    }
    group.finish();
}

criterion_group!(benches, heartbeat);
criterion_main!(benches);
