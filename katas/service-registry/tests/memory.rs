//! The service-registry kata's bound on the registry's state, by counting:
//! "a registry forgets what ended" (README, Constraints). A counting global
//! allocator needs a test binary of its own, hence this file.
//!
//! `cargo test -p service-registry` judges your code;
//! `cargo test -p service-registry --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use service_registry as subject;
#[cfg(feature = "solution")]
use service_registry_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Message, Registry, RegistryConfig};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a registry may keep beyond its live leases and held watches: far
/// less than an entry per lease or per watch it ever had.
const SMALL: i64 = 4 * 1024;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// No call of a wave has this many messages to send: at most the ten
/// watches of the wave are held at once. A registry that keeps answered
/// watches answers them all again at every change, and is stopped here at
/// once instead of after millions of snapshots.
const MAX_MESSAGES_PER_CALL: usize = 100;

fn bounded(out: Vec<subject::Outgoing>, call: &str) -> Vec<subject::Outgoing> {
    assert!(
        out.len() <= MAX_MESSAGES_PER_CALL,
        "one {call} sent {} messages while at most 10 watches were held: an answered watch must be forgotten, not answered again at every change (README, Constraints)",
        out.len()
    );
    out
}

/// `rounds` waves: 10 new hosts register with a 50 ms lease, a few
/// heartbeat, one deregisters, 10 new clients watch (answered at once, or
/// held then answered by the change); 100 ms later every lease has ended.
fn waves(registry: &mut Registry, now: &mut Duration, next_host: &mut u64, rounds: u64) {
    for _ in 0..rounds {
        let mut leases = Vec::new();
        for _ in 0..10 {
            let host = *next_host;
            *next_host += 1;
            let out = bounded(
                registry
                    .receive(
                        host,
                        Message::Register {
                            request: 1,
                            ttl: ms(50),
                        },
                        *now,
                    )
                    .unwrap_or_default(),
                "registration",
            );
            leases.extend(out.iter().find_map(|o| match o.message {
                Message::Registered { lease, .. } if o.to == host => Some((host, lease)),
                _ => None,
            }));
        }
        for &(host, lease) in leases.iter().take(3) {
            let out = registry.receive(
                host,
                Message::Heartbeat { request: 2, lease },
                *now + ms(10),
            );
            bounded(out.unwrap_or_default(), "heartbeat");
        }
        if let Some(&(host, lease)) = leases.last() {
            let out = registry.receive(
                host,
                Message::Deregister { request: 3, lease },
                *now + ms(20),
            );
            bounded(out.unwrap_or_default(), "deregistration");
        }
        for c in 0..10 {
            let client = 1_000_000 + *next_host * 10 + c;
            let known = if c % 2 == 0 { 0 } else { registry.version() };
            let out = registry.receive(client, Message::Watch { known }, *now + ms(30));
            bounded(out.unwrap_or_default(), "watch");
        }
        *now += ms(100);
        bounded(registry.tick(*now), "tick");
    }
}

#[test]
fn a_registry_forgets_ended_leases_and_answered_watches() {
    assert!(installed(), "the counting allocator should be installed");
    let config = RegistryConfig {
        max_ttl: ms(1_000),
        watch_hold: ms(1_000),
    };
    let mut registry = Registry::new(config).expect("a valid configuration");
    let (mut now, mut next_host) = (Duration::ZERO, 1);
    waves(&mut registry, &mut now, &mut next_host, 20);
    now += ms(2_000);
    registry.tick(now);
    let (usage, ()) = measure(|| {
        waves(&mut registry, &mut now, &mut next_host, 1_000);
        now += ms(2_000);
        registry.tick(now);
    });
    assert!(
        registry.instances().is_empty(),
        "every lease of the 10,000 hosts ended long ago, yet the registry lists {} of them",
        registry.instances().len()
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 10,000 more hosts registered and their leases ended, and 10,000 more watches were answered, the registry holds {} more bytes: its state is its live leases, one held watch per client, a version and a counter (README, Constraints)",
        usage.live_bytes
    );
}
