//! The specification of the service-registry kata, one component at a time.
//!
//! Every test name is a requirement; read the failing names first. These
//! tests drive a registry, an instance agent or a client by hand: they play
//! the other side, choose every message and every `now`, and tick one
//! millisecond at a time where a timer's instant matters. Backoffs are
//! random, so timer tests run several seeds (0 and `u64::MAX` first). Whole
//! systems on a simulated network are in `tests/sim.rs`.
//!
//! `cargo test -p service-registry` judges your code;
//! `cargo test -p service-registry --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use service_registry as subject;
#[cfg(feature = "solution")]
use service_registry_solution as subject;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Client, ClientConfig, ConfigError, Entry, Instance, InstanceConfig, LeaseId, Message, NodeId,
    Outgoing, ReceiveError, Registry, RegistryConfig, RequestId, Version,
};

// ─────────────────────────── helpers ───────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const NS: Duration = Duration::from_nanos(1);
const STEP: Duration = Duration::from_millis(1);
/// The registry's host in every test.
const REG: NodeId = 1;
/// A client's host.
const CLIENT: NodeId = 50;
/// The seeds every timer test runs: the edges first.
const SEEDS: [u64; 8] = [0, u64::MAX, 1, 2, 42, 1 << 32, 0xDEAD_BEEF, u64::MAX - 1];

fn registry() -> Registry {
    Registry::new(RegistryConfig::default()).expect("the default registry configuration is valid")
}

fn registry_with(max_ttl: Duration, watch_hold: Duration) -> Registry {
    Registry::new(RegistryConfig {
        max_ttl,
        watch_hold,
    })
    .unwrap_or_else(|e| panic!("max_ttl {max_ttl:?}, watch_hold {watch_hold:?} refused: {e:?}"))
}

/// `registry.receive`, which must accept the message.
fn deliver(
    registry: &mut Registry,
    from: NodeId,
    message: Message,
    now: Duration,
) -> Vec<Outgoing> {
    let shown = format!("{message:?}");
    registry
        .receive(from, message, now)
        .unwrap_or_else(|e| panic!("the registry refused {shown} from host {from}: {e:?}"))
}

/// The messages of `out` addressed to `to`.
fn to(out: &[Outgoing], to: NodeId) -> Vec<Message> {
    out.iter()
        .filter(|o| o.to == to)
        .map(|o| o.message.clone())
        .collect()
}

/// Host `host` registers with `ttl` at `now`; returns its lease.
fn register(registry: &mut Registry, host: NodeId, ttl: Duration, now: Duration) -> LeaseId {
    let out = deliver(registry, host, Message::Register { request: 1, ttl }, now);
    match to(&out, host).as_slice() {
        [
            Message::Registered {
                request: 1, lease, ..
            },
        ] => *lease,
        other => panic!(
            "Register {{ request: 1, ttl: {ttl:?} }} from host {host} at {now:?} should be answered with one Registered {{ request: 1, .. }} to it, got {other:?}"
        ),
    }
}

fn hosts(registry: &Registry) -> Vec<NodeId> {
    registry.instances().iter().map(|e| e.instance).collect()
}

fn instance_config() -> InstanceConfig {
    InstanceConfig::default()
}

fn agent(id: NodeId, seed: u64, now: Duration) -> Instance {
    agent_with(id, instance_config(), seed, now)
}

fn agent_with(id: NodeId, config: InstanceConfig, seed: u64, now: Duration) -> Instance {
    Instance::new(id, REG, config, seed, now)
        .unwrap_or_else(|e| panic!("Instance::new({id}, {REG}, {config:?}) refused: {e:?}"))
}

/// `agent.receive`, which must accept the message.
fn answer(agent: &mut Instance, message: Message, now: Duration) -> Vec<Outgoing> {
    let shown = format!("{message:?}");
    agent
        .receive(REG, message, now)
        .unwrap_or_else(|e| panic!("the agent refused {shown} from its registry: {e:?}"))
}

/// The one request in `out`, which must be a single message to the registry.
fn single(out: &[Outgoing], what: &str) -> Message {
    match out {
        [o] if o.to == REG => o.message.clone(),
        _ => panic!("{what}: expected one message to the registry (host {REG}), got {out:?}"),
    }
}

fn request_of(message: &Message) -> RequestId {
    match *message {
        Message::Register { request, .. }
        | Message::Heartbeat { request, .. }
        | Message::Deregister { request, .. } => request,
        ref other => panic!("expected a request from the agent, got {other:?}"),
    }
}

/// Ticks every millisecond after `from` up to `until` (included); returns
/// the first tick at which the agent sent something, with what it sent.
fn first_send(
    agent: &mut Instance,
    from: Duration,
    until: Duration,
) -> Option<(Duration, Vec<Outgoing>)> {
    let mut now = from;
    while now < until {
        now += STEP;
        let out = agent.tick(now);
        if !out.is_empty() {
            return Some((now, out));
        }
    }
    None
}

/// A new agent, registered: its first tick's Register answered at `at`
/// with `lease` and `granted`.
fn registered(
    id: NodeId,
    config: InstanceConfig,
    seed: u64,
    lease: LeaseId,
    granted: Duration,
    at: Duration,
) -> Instance {
    let mut agent = agent_with(id, config, seed, ms(0));
    let register = single(&agent.tick(ms(0)), "the first tick");
    let request = request_of(&register);
    assert!(
        matches!(register, Message::Register { .. }),
        "the first tick should send a Register, got {register:?}"
    );
    let out = answer(
        &mut agent,
        Message::Registered {
            request,
            lease,
            ttl: granted,
        },
        at,
    );
    assert!(
        out.is_empty(),
        "a Registered answer needs no reply, got {out:?}"
    );
    agent
}

fn client(now: Duration) -> Client {
    Client::new(CLIENT, REG, ClientConfig::default(), now)
        .expect("the default client configuration is valid")
}

fn snapshot(version: Version, instances: &[NodeId]) -> Message {
    Message::Snapshot {
        version,
        instances: instances
            .iter()
            .map(|&instance| Entry {
                instance,
                lease: instance * 10,
            })
            .collect(),
    }
}

fn client_hosts(client: &Client) -> Vec<NodeId> {
    client.instances().iter().map(|e| e.instance).collect()
}

// ─────────────────────── 1. building ───────────────────────

#[rstest]
#[case::registry_max_ttl_zero("registry", ConfigError::ZeroTtl)]
#[case::registry_watch_hold_zero("hold", ConfigError::ZeroTimeout)]
#[case::instance_ttl_zero("ttl", ConfigError::ZeroTtl)]
#[case::instance_request_timeout_zero("timeout", ConfigError::ZeroTimeout)]
#[case::instance_retry_base_zero("base", ConfigError::InvalidBackoff)]
#[case::instance_retry_base_above_cap("base>cap", ConfigError::InvalidBackoff)]
#[case::client_watch_timeout_zero("client", ConfigError::ZeroTimeout)]
fn constructors_refuse_configurations_that_cannot_work(
    #[case] what: &str,
    #[case] expected: ConfigError,
) {
    let one = Duration::from_secs(1);
    let instance = |c: InstanceConfig| Instance::new(7, REG, c, 1, ms(0)).err();
    let got = match what {
        "registry" => Registry::new(RegistryConfig {
            max_ttl: Duration::ZERO,
            watch_hold: one,
        })
        .err(),
        "hold" => Registry::new(RegistryConfig {
            max_ttl: one,
            watch_hold: Duration::ZERO,
        })
        .err(),
        "ttl" => instance(InstanceConfig {
            ttl: Duration::ZERO,
            ..instance_config()
        }),
        "timeout" => instance(InstanceConfig {
            request_timeout: Duration::ZERO,
            ..instance_config()
        }),
        "base" => instance(InstanceConfig {
            retry_base: Duration::ZERO,
            ..instance_config()
        }),
        "base>cap" => instance(InstanceConfig {
            retry_base: ms(300),
            retry_cap: ms(299),
            ..instance_config()
        }),
        _ => Client::new(
            CLIENT,
            REG,
            ClientConfig {
                watch_timeout: Duration::ZERO,
            },
            ms(0),
        )
        .err(),
    };
    assert_eq!(
        got,
        Some(expected),
        "{what}: the configuration cannot work and should be refused with {expected:?}"
    );
}

#[test]
fn constructors_accept_the_tightest_configurations_that_work() {
    let registry = Registry::new(RegistryConfig {
        max_ttl: NS,
        watch_hold: NS,
    });
    assert!(
        registry.is_ok(),
        "max_ttl and watch_hold of 1 ns can work: {:?}",
        registry.err()
    );
    let registry = Registry::new(RegistryConfig {
        max_ttl: Duration::MAX,
        watch_hold: Duration::MAX,
    });
    assert!(
        registry.is_ok(),
        "max_ttl and watch_hold of Duration::MAX can work: {:?}",
        registry.err()
    );
    for config in [
        InstanceConfig {
            ttl: NS,
            request_timeout: NS,
            retry_base: NS,
            retry_cap: NS,
        },
        InstanceConfig {
            ttl: Duration::MAX,
            ..instance_config()
        },
        InstanceConfig {
            retry_base: ms(300),
            retry_cap: ms(300),
            ..instance_config()
        },
        InstanceConfig {
            retry_base: NS,
            retry_cap: Duration::MAX,
            ..instance_config()
        },
    ] {
        let built = Instance::new(7, REG, config, 0, ms(0));
        assert!(
            built.is_ok(),
            "{config:?} can work (retry_base == retry_cap included): {:?}",
            built.err()
        );
    }
    let built = Client::new(CLIENT, REG, ClientConfig { watch_timeout: NS }, ms(0));
    assert!(
        built.is_ok(),
        "a watch_timeout of 1 ns can work: {:?}",
        built.err()
    );
}

#[test]
fn a_new_registry_is_empty_at_version_1_and_a_new_client_knows_nothing() {
    let registry = registry();
    assert_eq!(
        registry.version(),
        1,
        "a new registry is at version 1 (the empty set)"
    );
    assert!(
        registry.instances().is_empty(),
        "a new registry lists no instance"
    );
    let client = client(ms(0));
    assert_eq!(client.version(), 0, "a new client knows no version: 0");
    assert!(
        client.instances().is_empty(),
        "a new client knows no instance"
    );
    assert_eq!(client.id(), CLIENT);
    let agent = agent(7, 1, ms(0));
    assert_eq!(
        (agent.id(), agent.lease()),
        (7, None),
        "a new agent holds no lease"
    );
}

// ─────────────────────── 2. leases ───────────────────────

#[test]
fn a_registration_grants_a_new_lease_listed_under_a_new_version() {
    let mut registry = registry();
    let mut versions = vec![registry.version()];
    let mut leases = BTreeSet::new();
    for (host, now) in [(9, 0), (3, 5), (12, 7)] {
        let out = deliver(
            &mut registry,
            host,
            Message::Register {
                request: 40 + host,
                ttl: ms(1_000),
            },
            ms(now),
        );
        let [
            Message::Registered {
                request,
                lease,
                ttl,
            },
        ] = to(&out, host)[..]
        else {
            panic!(
                "Register from host {host} should be answered with one Registered to it, got {out:?}"
            );
        };
        assert_eq!(request, 40 + host, "Registered echoes the request number");
        assert_eq!(
            ttl,
            ms(1_000),
            "the TTL asked for is granted when it is below max_ttl"
        );
        assert!(
            lease >= 1,
            "lease ids start at 1; 0 is never a lease: got {lease}"
        );
        assert!(leases.insert(lease), "lease {lease} was granted twice");
        versions.push(registry.version());
    }
    assert!(
        versions.windows(2).all(|w| w[1] > w[0]),
        "every new lease is a change of the set, so the version goes up each time: {versions:?}"
    );
    assert_eq!(
        hosts(&registry),
        vec![3, 9, 12],
        "instances are listed in increasing order of instance"
    );
}

#[test]
fn a_registration_asking_for_a_zero_ttl_is_refused_and_changes_nothing() {
    let mut registry = registry();
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 3,
            ttl: Duration::ZERO,
        },
        ms(0),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::InvalidTtl { request: 3 }],
        "a TTL of zero is answered InvalidTtl"
    );
    assert_eq!(
        (registry.version(), hosts(&registry)),
        (1, vec![]),
        "and registers nothing"
    );

    // A host with a live lease asking for zero: its lease is untouched.
    register(&mut registry, 8, ms(1_000), ms(0));
    let version = registry.version();
    let out = deliver(
        &mut registry,
        8,
        Message::Register {
            request: 4,
            ttl: Duration::ZERO,
        },
        ms(900),
    );
    assert_eq!(to(&out, 8), vec![Message::InvalidTtl { request: 4 }]);
    assert_eq!(
        registry.version(),
        version,
        "a refused registration is no change"
    );
    registry.tick(ms(1_000));
    assert!(
        hosts(&registry).is_empty(),
        "a refused registration renews nothing: host 8's lease of 1 s from t = 0 is over at 1 s"
    );
}

#[rstest]
#[case::just_above_the_maximum(Duration::from_secs(30) + NS)]
#[case::an_hour(Duration::from_secs(3_600))]
#[case::duration_max(Duration::MAX)]
fn a_ttl_above_the_maximum_is_granted_the_maximum(#[case] asked: Duration) {
    let mut registry = registry(); // max_ttl 30 s
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 1,
            ttl: asked,
        },
        ms(100),
    );
    let [Message::Registered { ttl, .. }] = to(&out, 7)[..] else {
        panic!("Register {{ ttl: {asked:?} }} should be answered Registered, got {out:?}");
    };
    assert_eq!(
        ttl,
        Duration::from_secs(30),
        "asked {asked:?}: the registry grants at most its max_ttl, 30 s"
    );
    registry.tick(ms(100) + Duration::from_secs(30) - NS);
    assert_eq!(
        hosts(&registry),
        vec![7],
        "the lease is live until 30 s after it was granted"
    );
    registry.tick(ms(100) + Duration::from_secs(30));
    assert!(
        hosts(&registry).is_empty(),
        "asked {asked:?}, granted 30 s at t = 100 ms: over at 30.1 s"
    );
}

#[test]
fn a_host_that_registers_again_keeps_its_one_lease() {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    // A retry (or a duplicate) of the registration, 600 ms later.
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 2,
            ttl: ms(1_000),
        },
        ms(600),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::Registered {
            request: 2,
            lease,
            ttl: ms(1_000)
        }],
        "a host whose lease is live keeps that lease: the answer names it again"
    );
    assert_eq!(
        registry.instances(),
        vec![Entry { instance: 7, lease }],
        "a host is listed once"
    );
    assert_eq!(
        registry.version(),
        version,
        "renewing a lease is no change of the set"
    );
    registry.tick(ms(1_599));
    assert_eq!(
        hosts(&registry),
        vec![7],
        "registering again renewed the lease for 1 s from 600 ms"
    );
    registry.tick(ms(1_600));
    assert!(
        hosts(&registry).is_empty(),
        "renewed at 600 ms for 1 s: over at 1.6 s"
    );
}

// ─────────────────────── 3. expiry ───────────────────────

#[rstest]
#[case::one_nanosecond(NS)]
#[case::one_millisecond(ms(1))]
#[case::one_second(ms(1_000))]
#[case::uneven(Duration::from_nanos(7_777_777_777))]
fn a_lease_ends_exactly_ttl_after_it_was_granted(#[case] ttl: Duration) {
    let mut registry = registry();
    let granted_at = ms(5);
    register(&mut registry, 7, ttl, granted_at);
    let version = registry.version();
    registry.tick(granted_at + ttl - NS);
    assert_eq!(
        hosts(&registry),
        vec![7],
        "TTL {ttl:?} granted at 5 ms: still live 1 ns before it runs out"
    );
    assert_eq!(registry.version(), version);
    registry.tick(granted_at + ttl);
    assert!(
        hosts(&registry).is_empty(),
        "TTL {ttl:?} granted at 5 ms: over at exactly 5 ms + TTL"
    );
    assert!(
        registry.version() > version,
        "an expiry is a change of the set: the version goes up"
    );
}

#[test]
fn a_heartbeat_renews_the_lease_for_its_ttl_from_the_heartbeat() {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    let out = deliver(
        &mut registry,
        7,
        Message::Heartbeat { request: 2, lease },
        ms(900),
    );
    assert_eq!(to(&out, 7), vec![Message::Renewed { request: 2, lease }]);
    assert_eq!(
        registry.version(),
        version,
        "a renewal is no change of the set"
    );
    registry.tick(ms(1_899));
    assert_eq!(
        hosts(&registry),
        vec![7],
        "renewed at 900 ms for 1 s: live at 1.899 s"
    );
    registry.tick(ms(1_900));
    assert!(
        hosts(&registry).is_empty(),
        "renewed at 900 ms for 1 s: over at 1.9 s"
    );
}

#[rstest]
#[case::exactly_at_the_deadline(ms(1_000))]
#[case::a_nanosecond_late(ms(1_000) + NS)]
#[case::long_after(ms(5_000))]
fn a_late_heartbeat_does_not_revive_an_expired_lease(#[case] at: Duration) {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    // No tick in between: the heartbeat is the first call past the deadline.
    let out = deliver(
        &mut registry,
        7,
        Message::Heartbeat { request: 2, lease },
        at,
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::UnknownLease { request: 2, lease }],
        "a heartbeat at {at:?} for a lease of 1 s granted at 0 is too late: the answer is UnknownLease (register again)"
    );
    assert!(
        hosts(&registry).is_empty(),
        "the late heartbeat must not bring the lease back"
    );
    assert!(
        registry.version() > version,
        "the lease ended: the version went up"
    );
    let out = deliver(&mut registry, CLIENT, Message::Watch { known: 0 }, at);
    assert_eq!(
        to(&out, CLIENT),
        vec![Message::Snapshot {
            version: registry.version(),
            instances: vec![]
        }],
        "discovery after the late heartbeat lists nothing"
    );
    let again = register(&mut registry, 7, ms(1_000), at + ms(1));
    assert_ne!(
        again, lease,
        "registering again after the lease ended grants a new lease, never the old id"
    );
}

#[test]
fn a_heartbeat_for_an_unknown_or_foreign_lease_is_answered_unknown_lease_and_changes_nothing() {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    for (from, named) in [
        (8, lease),
        (7, 0),
        (7, lease + 1),
        (7, u64::MAX),
        (8, u64::MAX),
    ] {
        let out = deliver(
            &mut registry,
            from,
            Message::Heartbeat {
                request: 9,
                lease: named,
            },
            ms(500),
        );
        assert_eq!(
            to(&out, from),
            vec![Message::UnknownLease {
                request: 9,
                lease: named
            }],
            "host {from} heartbeats lease {named}, which it does not hold (host 7 holds lease {lease}): UnknownLease"
        );
    }
    assert_eq!(registry.version(), version, "nothing changed");
    assert_eq!(registry.instances(), vec![Entry { instance: 7, lease }]);
    registry.tick(ms(1_000));
    assert!(
        hosts(&registry).is_empty(),
        "none of those heartbeats renewed host 7's lease: over at 1 s"
    );
}

#[test]
fn a_reordered_old_heartbeat_does_not_touch_the_new_lease() {
    let mut registry = registry();
    let old = register(&mut registry, 7, ms(1_000), ms(0));
    registry.tick(ms(1_000));
    assert!(hosts(&registry).is_empty());
    let new = register(&mut registry, 7, ms(1_000), ms(1_100));
    assert_ne!(
        new, old,
        "a new registration after an expiry is a new lease"
    );
    let version = registry.version();
    // A heartbeat for the old lease, held up in the network, arrives now.
    let out = deliver(
        &mut registry,
        7,
        Message::Heartbeat {
            request: 5,
            lease: old,
        },
        ms(1_200),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::UnknownLease {
            request: 5,
            lease: old
        }]
    );
    assert_eq!(
        registry.instances(),
        vec![Entry {
            instance: 7,
            lease: new
        }],
        "the old lease stays ended, listed nowhere"
    );
    assert_eq!(registry.version(), version);
    registry.tick(ms(2_099));
    assert_eq!(hosts(&registry), vec![7]);
    registry.tick(ms(2_100));
    assert!(
        hosts(&registry).is_empty(),
        "the old heartbeat renewed nothing: the new lease (1.1 s + 1 s) is over at 2.1 s"
    );
}

// ─────────────────────── 5. deregistering ───────────────────────

#[test]
fn a_deregistered_lease_ends_at_once_and_never_comes_back() {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let other = register(&mut registry, 8, ms(1_000), ms(0));

    // Host 8 tries to end host 7's lease: answered, but nothing ends.
    let version = registry.version();
    let out = deliver(
        &mut registry,
        8,
        Message::Deregister { request: 3, lease },
        ms(100),
    );
    assert_eq!(
        to(&out, 8),
        vec![Message::Deregistered { request: 3, lease }]
    );
    assert_eq!(
        (hosts(&registry), registry.version()),
        (vec![7, 8], version),
        "only the holder can end a lease"
    );

    let out = deliver(
        &mut registry,
        7,
        Message::Deregister { request: 4, lease },
        ms(200),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::Deregistered { request: 4, lease }]
    );
    assert_eq!(
        registry.instances(),
        vec![Entry {
            instance: 8,
            lease: other
        }],
        "deregistering ends the lease at once"
    );
    assert!(
        registry.version() > version,
        "a deregistration is a change of the set"
    );

    let version = registry.version();
    let out = deliver(
        &mut registry,
        7,
        Message::Deregister { request: 4, lease },
        ms(210),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::Deregistered { request: 4, lease }],
        "a duplicate is answered the same"
    );
    assert_eq!(
        registry.version(),
        version,
        "a duplicate deregistration changes nothing"
    );
    let out = deliver(
        &mut registry,
        7,
        Message::Heartbeat { request: 5, lease },
        ms(220),
    );
    assert_eq!(
        to(&out, 7),
        vec![Message::UnknownLease { request: 5, lease }],
        "a deregistered lease is over"
    );
    assert_eq!(hosts(&registry), vec![8]);
}

// ─────────────────────── 6. versions and watches ───────────────────────

#[test]
fn a_watch_behind_the_current_version_is_answered_at_once_with_the_live_set() {
    let mut registry = registry();
    let seven = register(&mut registry, 7, ms(1_000), ms(0));
    let three = register(&mut registry, 3, ms(1_000), ms(1));
    let live = vec![
        Entry {
            instance: 3,
            lease: three,
        },
        Entry {
            instance: 7,
            lease: seven,
        },
    ];
    let version = registry.version();
    for known in [0, 1, version - 1] {
        let out = deliver(&mut registry, CLIENT, Message::Watch { known }, ms(10));
        assert_eq!(
            out,
            vec![Outgoing {
                to: CLIENT,
                message: Message::Snapshot {
                    version,
                    instances: live.clone()
                }
            }],
            "a client that knows version {known} missed the changes up to {version}: it is answered at once, with the live set in order of instance"
        );
    }
}

#[test]
fn a_watch_at_the_current_version_is_held_until_the_set_changes() {
    let mut registry = registry();
    let version = registry.version();
    for client in [50, 51] {
        let out = deliver(
            &mut registry,
            client,
            Message::Watch { known: version },
            ms(10),
        );
        assert!(
            out.is_empty(),
            "client {client} already has version {version}: its watch is held, got {out:?}"
        );
    }
    let out = registry.tick(ms(20));
    assert!(
        out.is_empty(),
        "nothing changed: the watches stay held, got {out:?}"
    );
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 1,
            ttl: ms(1_000),
        },
        ms(30),
    );
    let Some(lease) = to(&out, 7).iter().find_map(|m| match m {
        Message::Registered { lease, .. } => Some(*lease),
        _ => None,
    }) else {
        panic!("Register should be answered Registered, got {out:?}");
    };
    for client in [50, 51] {
        assert_eq!(
            to(&out, client),
            vec![Message::Snapshot {
                version: registry.version(),
                instances: vec![Entry { instance: 7, lease }]
            }],
            "the call that changed the set answers every held watch (client {client})"
        );
    }
    let out = deliver(
        &mut registry,
        8,
        Message::Register {
            request: 1,
            ttl: ms(1_000),
        },
        ms(40),
    );
    assert!(
        to(&out, 50).is_empty() && to(&out, 51).is_empty(),
        "a watch is answered once: got {out:?}"
    );
}

#[test]
fn an_expiry_answers_the_held_watches() {
    let mut registry = registry();
    register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    assert!(
        deliver(
            &mut registry,
            CLIENT,
            Message::Watch { known: version },
            ms(500)
        )
        .is_empty()
    );
    let out = registry.tick(ms(1_000));
    assert_eq!(
        out,
        vec![Outgoing {
            to: CLIENT,
            message: Message::Snapshot {
                version: registry.version(),
                instances: vec![]
            }
        }],
        "the tick that ended the lease answers the held watch without it"
    );
    assert!(registry.version() > version);
}

#[rstest]
#[case::a_stranger_heartbeat("heartbeat")]
#[case::another_clients_watch("watch")]
fn an_expiry_noticed_by_any_call_answers_the_held_watches(#[case] what: &str) {
    let mut registry = registry();
    register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    assert!(
        deliver(
            &mut registry,
            CLIENT,
            Message::Watch { known: version },
            ms(500)
        )
        .is_empty()
    );
    // No tick: the first call at or past the deadline is a message that
    // changes nothing by itself.
    let message = match what {
        "heartbeat" => Message::Heartbeat {
            request: 1,
            lease: 999,
        },
        _ => Message::Watch { known: version },
    };
    let out = deliver(&mut registry, 9, message, ms(1_000));
    assert_eq!(
        to(&out, CLIENT),
        vec![Message::Snapshot {
            version: registry.version(),
            instances: vec![]
        }],
        "the {what} at 1 s ended host 7's lease: the call that changed the set answers the held watch, got {out:?}"
    );
}

#[test]
fn a_held_watch_is_answered_with_the_unchanged_set_after_the_watch_hold() {
    let mut registry = registry_with(ms(30_000), ms(1_000));
    let lease = register(&mut registry, 7, ms(10_000), ms(0));
    let version = registry.version();
    assert!(
        deliver(
            &mut registry,
            CLIENT,
            Message::Watch { known: version },
            ms(100)
        )
        .is_empty()
    );
    assert!(
        registry.tick(ms(1_100) - NS).is_empty(),
        "held for less than watch_hold (1 s): not answered yet"
    );
    assert_eq!(
        registry.tick(ms(1_100)),
        vec![Outgoing {
            to: CLIENT,
            message: Message::Snapshot {
                version,
                instances: vec![Entry { instance: 7, lease }]
            }
        }],
        "held since 100 ms for watch_hold (1 s): answered at 1.1 s with the unchanged set"
    );
    assert!(
        registry.tick(ms(5_000)).is_empty(),
        "an answered watch is no longer held"
    );
}

#[test]
fn a_new_watch_from_a_client_replaces_its_held_one() {
    let mut registry = registry();
    let version = registry.version();
    assert!(
        deliver(
            &mut registry,
            CLIENT,
            Message::Watch { known: version },
            ms(0)
        )
        .is_empty()
    );
    assert!(
        deliver(
            &mut registry,
            CLIENT,
            Message::Watch { known: version },
            ms(600)
        )
        .is_empty()
    );
    let out = registry.tick(ms(1_000));
    assert!(
        out.is_empty(),
        "the watch held since 0 was replaced by the one of 600 ms: nothing due at 1 s, got {out:?}"
    );
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 1,
            ttl: ms(1_000),
        },
        ms(1_100),
    );
    assert_eq!(
        to(&out, CLIENT).len(),
        1,
        "one held watch per client, answered once: got {out:?}"
    );
}

// ─────────────────────── 7. the instance agent ───────────────────────

#[test]
fn an_instance_registers_at_its_first_tick_and_holds_the_lease_it_is_granted() {
    let config = InstanceConfig {
        ttl: ms(3_000),
        ..instance_config()
    };
    let mut agent = agent_with(7, config, 1, ms(0));
    assert_eq!(agent.lease(), None);
    let register = single(&agent.tick(ms(0)), "the first tick");
    let Message::Register { request, ttl } = register else {
        panic!("the first tick sends Register, got {register:?}");
    };
    assert_eq!(ttl, ms(3_000), "the agent asks for its configured TTL");
    assert!(
        agent.tick(ms(10)).is_empty(),
        "one request in flight at a time"
    );
    let out = answer(
        &mut agent,
        Message::Registered {
            request,
            lease: 5,
            ttl: ms(900),
        },
        ms(20),
    );
    assert!(out.is_empty());
    assert_eq!(
        agent.lease(),
        Some(5),
        "the agent holds the lease it was granted"
    );
}

#[rstest]
#[case::seed_0(0)]
#[case::seed_max(u64::MAX)]
#[case::seed_42(42)]
fn an_instance_heartbeats_every_third_of_the_granted_ttl(#[case] seed: u64) {
    // It asks for 3 s; the registry grants 900 ms: a heartbeat every 300 ms.
    let config = InstanceConfig {
        ttl: ms(3_000),
        ..instance_config()
    };
    let mut agent = registered(7, config, seed, 5, ms(900), ms(20));
    let (mut sent, mut answered) = (ms(0), ms(20));
    for round in 0..5 {
        let Some((at, out)) = first_send(&mut agent, answered, answered + ms(1_000)) else {
            panic!(
                "round {round}: no heartbeat within 1 s of the last renewal (granted TTL 900 ms)"
            );
        };
        let message = single(&out, "a heartbeat");
        let Message::Heartbeat { request, lease: 5 } = message else {
            panic!("round {round}: expected Heartbeat {{ lease: 5 }}, got {message:?}");
        };
        assert!(
            at >= sent + ms(300) && at <= answered + ms(300),
            "round {round}: the heartbeat is due a third of the granted TTL (900 ms / 3) after the renewal was sent ({sent:?}) or answered ({answered:?}), not at {at:?}"
        );
        sent = at;
        answered = at + ms(15);
        assert!(answer(&mut agent, Message::Renewed { request, lease: 5 }, answered).is_empty());
        assert_eq!(agent.lease(), Some(5));
    }
}

#[test]
fn an_instance_whose_lease_is_unknown_registers_again_at_once() {
    let mut agent = registered(7, instance_config(), 3, 5, ms(1_000), ms(20));
    let (_, out) = first_send(&mut agent, ms(20), ms(1_000)).expect("a heartbeat within the TTL");
    let heartbeat = single(&out, "a heartbeat");
    let request = request_of(&heartbeat);
    let out = answer(
        &mut agent,
        Message::UnknownLease { request, lease: 5 },
        ms(400),
    );
    let register = single(&out, "the answer to UnknownLease");
    assert!(
        matches!(register, Message::Register { ttl, .. } if ttl == ms(1_000)),
        "UnknownLease means the lease is lost: the agent registers again at once, got {register:?}"
    );
    assert_ne!(
        request_of(&register),
        request,
        "every request gets a fresh number"
    );
    assert_eq!(
        agent.lease(),
        None,
        "after UnknownLease the agent holds no lease"
    );
    let out = answer(
        &mut agent,
        Message::Registered {
            request: request_of(&register),
            lease: 9,
            ttl: ms(1_000),
        },
        ms(420),
    );
    assert!(out.is_empty());
    assert_eq!(agent.lease(), Some(9));
}

#[test]
fn an_instance_ignores_answers_to_requests_other_than_its_latest() {
    let mut agent = agent(7, 4, ms(0));
    let first = request_of(&single(&agent.tick(ms(0)), "the first tick"));
    assert!(
        answer(
            &mut agent,
            Message::Registered {
                request: first,
                lease: 5,
                ttl: ms(1_000)
            },
            ms(10)
        )
        .is_empty()
    );
    let (_, out) = first_send(&mut agent, ms(10), ms(1_000)).expect("a heartbeat within the TTL");
    let beat = request_of(&single(&out, "a heartbeat"));

    // A duplicate of the first answer, and a stale refusal, arrive late.
    for stale in [
        Message::Registered {
            request: first,
            lease: 77,
            ttl: ms(1_000),
        },
        Message::UnknownLease {
            request: first,
            lease: 5,
        },
        Message::Renewed {
            request: first,
            lease: 5,
        },
        Message::UnknownLease {
            request: beat + 100,
            lease: 5,
        },
    ] {
        let shown = format!("{stale:?}");
        let out = answer(&mut agent, stale, ms(360));
        assert!(
            out.is_empty(),
            "{shown} answers no request in flight: ignored, got {out:?}"
        );
        assert_eq!(
            agent.lease(),
            Some(5),
            "{shown} answers no request in flight: the lease stays 5"
        );
    }
    // The real answer to the heartbeat still counts.
    assert!(
        answer(
            &mut agent,
            Message::UnknownLease {
                request: beat,
                lease: 5
            },
            ms(370)
        )
        .len()
            == 1
    );
    assert_eq!(agent.lease(), None);
}

#[test]
fn an_instance_refuses_messages_from_other_hosts_and_messages_it_is_never_sent() {
    let mut agent = agent(7, 5, ms(0));
    let request = request_of(&single(&agent.tick(ms(0)), "the first tick"));
    let granted = Message::Registered {
        request,
        lease: 5,
        ttl: ms(1_000),
    };
    assert_eq!(
        agent.receive(99, granted.clone(), ms(5)),
        Err(ReceiveError::UnknownNode(99)),
        "host 99 is not the registry"
    );
    assert_eq!(
        agent.receive(7, granted.clone(), ms(5)),
        Err(ReceiveError::UnknownNode(7)),
        "nor is the agent's own host"
    );
    assert_eq!(agent.lease(), None, "a refused message changes nothing");
    for wrong in [
        Message::Register {
            request: 1,
            ttl: ms(1_000),
        },
        Message::Heartbeat {
            request: 1,
            lease: 5,
        },
        Message::Watch { known: 0 },
        snapshot(3, &[7]),
    ] {
        let shown = format!("{wrong:?}");
        assert_eq!(
            agent.receive(REG, wrong, ms(6)),
            Err(ReceiveError::Unexpected),
            "an agent is never sent {shown}"
        );
    }
    assert!(answer(&mut agent, granted, ms(10)).is_empty());
    assert_eq!(
        agent.lease(),
        Some(5),
        "the request was still in flight after the refused messages"
    );
}

#[test]
fn a_deregistering_instance_sends_deregister_then_nothing_more() {
    let mut agent = registered(7, instance_config(), 6, 5, ms(1_000), ms(20));
    let out = agent.deregister(ms(100));
    let message = single(&out, "deregister()");
    assert!(
        matches!(message, Message::Deregister { lease: 5, .. }),
        "deregister() sends Deregister for lease 5, got {message:?}"
    );
    assert_eq!(agent.lease(), None);
    let request = request_of(&message);
    for answer in [
        Message::Deregistered { request, lease: 5 },
        Message::UnknownLease { request, lease: 5 },
        Message::Registered {
            request,
            lease: 6,
            ttl: ms(1_000),
        },
    ] {
        let out = agent.receive(REG, answer, ms(110));
        assert_eq!(out, Ok(vec![]), "a stopped agent ignores every answer");
    }
    assert_eq!(
        first_send(&mut agent, ms(110), ms(10_000)),
        None,
        "a stopped agent sends nothing more"
    );
    assert!(
        agent.deregister(ms(10_001)).is_empty(),
        "deregistering twice sends nothing"
    );

    let mut fresh = agent_with(8, instance_config(), 6, ms(0));
    assert!(
        fresh.deregister(ms(0)).is_empty(),
        "an agent that holds no lease has nothing to deregister"
    );
    assert!(
        fresh.tick(ms(1)).is_empty(),
        "and, stopped, never registers"
    );
}

#[test]
fn a_deregistered_agent_ignores_the_answer_to_the_request_it_had_in_flight() {
    for late in ["Renewed", "UnknownLease", "Registered"] {
        let mut agent = registered(7, instance_config(), 6, 5, ms(1_000), ms(20));
        let (at, out) =
            first_send(&mut agent, ms(20), ms(1_000)).expect("a heartbeat within the TTL");
        let request = request_of(&single(&out, "a heartbeat"));
        let bye = agent.deregister(at + ms(5));
        assert!(matches!(
            single(&bye, "deregister()"),
            Message::Deregister { lease: 5, .. }
        ));
        let message = match late {
            "Renewed" => Message::Renewed { request, lease: 5 },
            "UnknownLease" => Message::UnknownLease { request, lease: 5 },
            _ => Message::Registered {
                request,
                lease: 6,
                ttl: ms(1_000),
            },
        };
        let out = agent.receive(REG, message, at + ms(10));
        assert_eq!(
            out,
            Ok(vec![]),
            "a {late} for the heartbeat in flight at deregister() arrives late: a stopped agent ignores it"
        );
        assert_eq!(
            agent.lease(),
            None,
            "a {late} arriving after deregister() gives the agent no lease"
        );
        assert_eq!(
            first_send(&mut agent, at + ms(10), at + ms(5_000)),
            None,
            "after a late {late}, a stopped agent still sends nothing"
        );
    }
}

// ─────────────────────── 8. backoff with jitter ───────────────────────

/// The delays an agent that never hears back waits between a request's
/// timeout and its retry, over `rows` failures in a row, ticked each ms.
fn backoffs(seed: u64, rows: usize) -> Vec<Duration> {
    let config = instance_config(); // timeout 200 ms, base 100 ms, cap 2 s
    let mut agent = agent_with(7, config, seed, ms(0));
    let mut sent = ms(0);
    single(&agent.tick(sent), "the first tick");
    let mut delays = Vec::new();
    for k in 1..=rows {
        let ceiling = config
            .retry_base
            .saturating_mul(1 << (k - 1).min(20))
            .min(config.retry_cap);
        let timed_out = sent + config.request_timeout;
        let Some((at, out)) = first_send(&mut agent, sent, timed_out + ceiling + STEP) else {
            panic!(
                "seed {seed}: failure {k} in a row (sent at {sent:?}, unanswered): the retry is due within min(cap, base × 2^{}) = {ceiling:?} after the timeout at {timed_out:?}, none came",
                k - 1
            );
        };
        single(&out, "a retry");
        assert!(
            at >= timed_out,
            "seed {seed}: a retry at {at:?}, before the request sent at {sent:?} had been unanswered for request_timeout (200 ms)"
        );
        delays.push(at - timed_out);
        sent = at;
    }
    delays
}

#[test]
fn an_unanswered_request_is_retried_after_a_full_jitter_backoff_that_doubles_up_to_the_cap() {
    // `backoffs` checks each retry against its ceiling; here, the spread.
    let mut at_cap = Vec::new();
    let mut first = BTreeSet::new();
    for seed in SEEDS {
        let delays = backoffs(seed, 14);
        first.insert(delays[0]);
        at_cap.extend_from_slice(&delays[6..]);
    }
    let (low, high) = (at_cap.iter().min().copied(), at_cap.iter().max().copied());
    assert!(
        low < Some(ms(500)) && high > Some(ms(1_500)),
        "backoffs at the cap (2 s) are drawn from the whole of [0, 2 s] (full jitter): 64 draws ranged only {low:?}..{high:?}"
    );
    assert!(
        first.len() >= 4,
        "the first backoff is drawn from [0, 100 ms] by each seed's rng: 8 seeds gave only {first:?}"
    );
}

#[test]
fn backoffs_differ_between_seeds_and_seeds_0_and_max_are_not_stuck() {
    let mut rows = BTreeMap::new();
    for seed in SEEDS {
        let delays = backoffs(seed, 12);
        let distinct: BTreeSet<_> = delays[5..].iter().collect();
        assert!(
            distinct.len() >= 4,
            "seed {seed}: seven backoffs at the cap should be drawn afresh, got {:?} (a generator stuck at one value makes every instance retry in step)",
            &delays[5..]
        );
        if let Some(other) = rows.insert(delays.clone(), seed) {
            panic!(
                "seeds {other} and {seed} drew the same backoffs {delays:?}: every seed must give its own"
            );
        }
    }
}

#[test]
fn the_same_seed_and_calls_give_the_same_requests() {
    let mut twins = [agent(7, 0xC0FFEE, ms(0)), agent(7, 0xC0FFEE, ms(0))];
    let mut now = ms(0);
    while now < ms(20_000) {
        let [a, b] = &mut twins;
        assert_eq!(
            a.tick(now),
            b.tick(now),
            "two agents with one seed, ticked alike, at {now:?}"
        );
        now += STEP;
    }
}

#[test]
fn any_answer_ends_a_row_of_failures() {
    for seed in SEEDS {
        let config = instance_config();
        let mut agent = agent_with(7, config, seed, ms(0));
        let mut sent = ms(0);
        let mut request = request_of(&single(&agent.tick(sent), "the first tick"));
        // Eight failures in a row: the backoff is at its cap (2 s).
        for _ in 0..8 {
            let (at, out) =
                first_send(&mut agent, sent, sent + ms(3_000)).expect("a retry within 2.2 s");
            request = request_of(&single(&out, "a retry"));
            sent = at;
        }
        // The registry answers; a heartbeat is due; it goes unanswered.
        answer(
            &mut agent,
            Message::Registered {
                request,
                lease: 5,
                ttl: ms(900),
            },
            sent + ms(10),
        );
        let (beat, _) =
            first_send(&mut agent, sent, sent + ms(1_000)).expect("a heartbeat within 300 ms");
        let (retry, _) = first_send(&mut agent, beat, beat + ms(3_000)).expect("a retry");
        assert!(
            retry <= beat + config.request_timeout + config.retry_base + STEP,
            "seed {seed}: after an answer, the next failure is the first of a new row: its backoff is at most retry_base (100 ms), but the retry came {:?} after the timeout",
            retry - beat - config.request_timeout
        );
    }
}

#[test]
fn a_renewal_or_an_unknown_lease_ends_a_row_of_failures_too() {
    let config = instance_config(); // timeout 200 ms, base 100 ms, cap 2 s
    let bound = config.request_timeout + config.retry_base + STEP;
    for seed in SEEDS {
        for answer_with in ["Renewed", "UnknownLease"] {
            // A lease of 60 s: the agent keeps heartbeating through the row.
            let mut agent = registered(7, config, seed, 5, Duration::from_secs(60), ms(10));
            let (mut sent, out) =
                first_send(&mut agent, ms(10), ms(25_000)).expect("a heartbeat within 20 s");
            let mut request = request_of(&single(&out, "a heartbeat"));
            for _ in 0..8 {
                let (at, out) =
                    first_send(&mut agent, sent, sent + ms(3_000)).expect("a retry within 2.2 s");
                request = request_of(&single(&out, "a retry"));
                sent = at;
            }
            let reply = match answer_with {
                "Renewed" => Message::Renewed { request, lease: 5 },
                _ => Message::UnknownLease { request, lease: 5 },
            };
            let out = answer(&mut agent, reply, sent + ms(10));
            // The next request (a heartbeat 20 s on, or the Register sent at
            // once) goes unanswered: the first failure of a new row.
            let next = match out.as_slice() {
                [_] => sent + ms(10),
                _ => {
                    first_send(&mut agent, sent, sent + ms(25_000))
                        .expect("the next heartbeat")
                        .0
                }
            };
            let (retry, _) = first_send(&mut agent, next, next + ms(3_000)).expect("a retry");
            assert!(
                retry <= next + bound,
                "seed {seed}: after eight failures, a {answer_with} answered the agent; its next failure is the first of a new row, so its retry comes within request_timeout + retry_base (300 ms) of the request, not {:?}",
                retry - next
            );
        }
    }
}

#[test]
fn backoffs_below_a_millisecond_are_jittered_too() {
    let us = Duration::from_micros;
    let config = InstanceConfig {
        ttl: ms(1_000),
        request_timeout: us(100),
        retry_base: us(50),
        retry_cap: us(50),
    };
    let mut all = BTreeSet::new();
    for seed in SEEDS {
        let mut agent = agent_with(7, config, seed, ms(0));
        let mut sent = ms(0);
        single(&agent.tick(sent), "the first tick");
        let mut mine = Vec::new();
        for _ in 0..6 {
            let timed_out = sent + config.request_timeout;
            let mut now = sent;
            let at = loop {
                now += us(1);
                if !agent.tick(now).is_empty() {
                    break now;
                }
                assert!(
                    now <= timed_out + us(51),
                    "seed {seed}: no retry within retry_cap (50 µs) after the timeout at {timed_out:?}"
                );
            };
            mine.push(at - timed_out);
            sent = at;
        }
        assert!(
            mine.iter().collect::<BTreeSet<_>>().len() >= 3,
            "seed {seed}: backoffs drawn from [0, 50 µs] should differ, got {mine:?} (a delay drawn in whole milliseconds is always 0 here)"
        );
        all.extend(mine);
    }
    assert!(
        all.len() >= 12,
        "48 backoffs drawn from [0, 50 µs] over 8 seeds took only {} values: {all:?}",
        all.len()
    );
}

// ─────────────────────── 9. the discovery client ───────────────────────

#[test]
fn a_client_watches_from_version_0_and_adopts_newer_snapshots() {
    let mut client = client(ms(0));
    assert_eq!(
        client.tick(ms(0)),
        vec![Outgoing {
            to: REG,
            message: Message::Watch { known: 0 }
        }]
    );
    assert!(
        client.tick(ms(10)).is_empty(),
        "one watch in flight at a time"
    );
    let out = client
        .receive(REG, snapshot(3, &[7, 9]), ms(20))
        .expect("a snapshot from the registry");
    assert_eq!(
        (client.version(), client_hosts(&client)),
        (3, vec![7, 9]),
        "a newer snapshot replaces the set"
    );
    assert_eq!(
        out,
        vec![Outgoing {
            to: REG,
            message: Message::Watch { known: 3 }
        }],
        "then the next watch goes out at once"
    );
    let out = client
        .receive(REG, snapshot(5, &[9]), ms(30))
        .expect("a snapshot from the registry");
    assert_eq!((client.version(), client_hosts(&client)), (5, vec![9]));
    assert_eq!(
        out,
        vec![Outgoing {
            to: REG,
            message: Message::Watch { known: 5 }
        }]
    );
}

#[test]
fn a_client_ignores_an_older_snapshot_delivered_late() {
    let mut client = client(ms(0));
    client.tick(ms(0));
    client
        .receive(REG, snapshot(5, &[9]), ms(20))
        .expect("a snapshot");
    let out = client
        .receive(REG, snapshot(3, &[7, 9]), ms(30))
        .expect("a late snapshot is no error");
    assert!(
        out.is_empty(),
        "an older snapshot answers no watch in flight: nothing to send, got {out:?}"
    );
    assert_eq!(
        (client.version(), client_hosts(&client)),
        (5, vec![9]),
        "a late snapshot never takes the set back"
    );
    let out = client
        .receive(REG, snapshot(5, &[9]), ms(40))
        .expect("a duplicate");
    assert_eq!(
        out,
        vec![Outgoing {
            to: REG,
            message: Message::Watch { known: 5 }
        }],
        "an answer at the client's version is followed by the next watch"
    );
    assert_eq!((client.version(), client_hosts(&client)), (5, vec![9]));
}

#[test]
fn a_client_keeps_its_set_through_timeouts_and_watches_again() {
    let mut client = client(ms(0)); // watch_timeout 1.5 s
    client.tick(ms(0));
    client
        .receive(REG, snapshot(4, &[7, 9]), ms(20))
        .expect("a snapshot");
    // The registry goes silent for 10 s.
    let mut resent = Vec::new();
    let mut now = ms(20);
    while now < ms(10_020) {
        now += STEP;
        for o in client.tick(now) {
            assert_eq!(
                o,
                Outgoing {
                    to: REG,
                    message: Message::Watch { known: 4 }
                },
                "at {now:?}"
            );
            resent.push(now);
        }
        assert_eq!(
            (client.version(), client_hosts(&client)),
            (4, vec![7, 9]),
            "at {now:?}, the registry silent since 20 ms: a client never drops its set on a timeout"
        );
    }
    assert_eq!(
        resent.first(),
        Some(&ms(1_520)),
        "the watch sent at 20 ms is sent again once unanswered for watch_timeout (1.5 s)"
    );
    assert!(
        resent.windows(2).all(|w| w[1] - w[0] == ms(1_500)),
        "then every watch_timeout while the registry stays silent: {resent:?}"
    );
}

#[test]
fn a_client_refuses_strangers_unexpected_messages_and_version_0() {
    let mut client = client(ms(0));
    client.tick(ms(0));
    assert_eq!(
        client.receive(99, snapshot(3, &[7]), ms(5)),
        Err(ReceiveError::UnknownNode(99)),
        "host 99 is not the registry"
    );
    assert_eq!(
        client.receive(REG, snapshot(0, &[7]), ms(5)),
        Err(ReceiveError::Malformed),
        "no registry is ever at version 0"
    );
    for wrong in [
        Message::Watch { known: 3 },
        Message::Register {
            request: 1,
            ttl: ms(1),
        },
        Message::Registered {
            request: 1,
            lease: 1,
            ttl: ms(1),
        },
    ] {
        let shown = format!("{wrong:?}");
        assert_eq!(
            client.receive(REG, wrong, ms(5)),
            Err(ReceiveError::Unexpected),
            "a client is never sent {shown}"
        );
    }
    assert_eq!(
        (client.version(), client.instances()),
        (0, &[][..]),
        "refused messages change nothing"
    );
    assert!(
        client.tick(ms(1_499)).is_empty(),
        "and send nothing: the first watch is still in flight"
    );
}

// ─────────────────────── 10. bad input, clocks, overflow ───────────────────────

#[test]
fn the_registry_refuses_messages_it_is_never_sent_and_changes_nothing() {
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    let version = registry.version();
    for wrong in [
        Message::Registered {
            request: 1,
            lease,
            ttl: ms(1_000),
        },
        Message::InvalidTtl { request: 1 },
        Message::Renewed { request: 1, lease },
        Message::UnknownLease { request: 1, lease },
        Message::Deregistered { request: 1, lease },
        snapshot(9, &[7]),
    ] {
        let shown = format!("{wrong:?}");
        // Long past the lease's end: a refused message must not even move the clock.
        assert_eq!(
            registry.receive(7, wrong, ms(5_000)),
            Err(ReceiveError::Unexpected),
            "a registry is never sent {shown}"
        );
    }
    assert_eq!(
        (registry.version(), registry.instances()),
        (version, vec![Entry { instance: 7, lease }]),
        "refused messages change nothing, not even the registry's clock"
    );
}

#[test]
fn an_earlier_now_is_taken_as_no_time_passing() {
    // The registry: a heartbeat stamped earlier than a tick renews from the tick.
    let mut registry = registry();
    let lease = register(&mut registry, 7, ms(1_000), ms(0));
    registry.tick(ms(900));
    deliver(
        &mut registry,
        7,
        Message::Heartbeat { request: 2, lease },
        ms(500),
    );
    registry.tick(ms(1_899));
    assert_eq!(
        hosts(&registry),
        vec![7],
        "renewed at 900 ms (the latest time seen), the lease is live until 1.9 s"
    );
    registry.tick(ms(1_000)); // back in time again
    assert_eq!(hosts(&registry), vec![7]);
    registry.tick(ms(1_900));
    assert!(
        hosts(&registry).is_empty(),
        "renewed at 900 ms: over at 1.9 s"
    );

    // The agent: a request in flight since 5 s is not timed out by an
    // earlier now, nor by a later one less than request_timeout after it.
    let mut agent = registered(7, instance_config(), 9, 5, ms(1_000), ms(20));
    // (A heartbeat, or a registration: the lease may be given up by now.)
    single(&agent.tick(ms(5_000)), "the request overdue at 5 s");
    assert!(
        agent.tick(ms(100)).is_empty(),
        "an earlier now is no time passing: nothing is due"
    );
    assert!(
        agent.tick(ms(5_199)).is_empty(),
        "the request sent at 5 s is not unanswered for request_timeout (200 ms) before 5.2 s"
    );

    // The client: an earlier now does not make its watch overdue.
    let mut client = client(ms(0));
    client.tick(ms(5_000));
    assert!(
        client.tick(ms(100)).is_empty(),
        "the watch sent at 5 s is not overdue at an earlier now"
    );
    assert!(client.tick(ms(6_499)).is_empty());
    assert_eq!(
        client.tick(ms(6_500)).len(),
        1,
        "the watch of 5 s is sent again at 6.5 s"
    );
}

#[test]
fn nothing_overflows_near_duration_max() {
    let late = Duration::MAX - ms(1);
    let mut registry = registry_with(Duration::MAX, Duration::MAX);
    let out = deliver(
        &mut registry,
        7,
        Message::Register {
            request: 1,
            ttl: Duration::MAX,
        },
        late,
    );
    assert!(
        matches!(
            to(&out, 7)[..],
            [Message::Registered {
                ttl: Duration::MAX,
                ..
            }]
        ),
        "a registry whose max_ttl is Duration::MAX grants it: {out:?}"
    );
    assert_eq!(hosts(&registry), vec![7]);
    let known = registry.version();
    deliver(&mut registry, CLIENT, Message::Watch { known }, late);
    registry.tick(Duration::MAX);
    deliver(
        &mut registry,
        8,
        Message::Register {
            request: 1,
            ttl: Duration::MAX,
        },
        Duration::MAX,
    );

    let config = InstanceConfig {
        ttl: Duration::MAX,
        retry_cap: Duration::MAX,
        ..instance_config()
    };
    let mut agent = agent_with(7, config, 0, late);
    let request = request_of(&single(&agent.tick(late), "the first tick"));
    answer(
        &mut agent,
        Message::Registered {
            request,
            lease: 5,
            ttl: Duration::MAX,
        },
        late,
    );
    agent.tick(Duration::MAX);
    let mut agent = agent_with(8, config, u64::MAX, late);
    agent.tick(late);
    agent.tick(Duration::MAX); // a timeout, then a backoff, near the end of time
    agent.tick(Duration::MAX);

    let mut client = Client::new(
        CLIENT,
        REG,
        ClientConfig {
            watch_timeout: Duration::MAX,
        },
        late,
    )
    .expect("a watch_timeout of Duration::MAX can work");
    client.tick(late);
    client.tick(Duration::MAX);
}

#[test]
fn a_backoff_after_a_thousand_failures_never_overflows_nor_passes_the_cap() {
    let config = InstanceConfig {
        ttl: ms(1_000),
        request_timeout: ms(1),
        retry_base: Duration::from_nanos(3),
        retry_cap: Duration::from_secs(3_600),
    };
    let mut agent = agent_with(7, config, 11, ms(0));
    let (mut now, mut last_sent, mut sent) = (ms(0), ms(0), 0u32);
    for round in 0..1_000u32 {
        for step in [config.request_timeout, config.retry_cap] {
            if !agent.tick(now).is_empty() {
                sent += 1;
                last_sent = now;
            }
            assert!(
                now - last_sent <= config.request_timeout + config.retry_cap,
                "round {round}: nothing sent since {last_sent:?}, yet at {now:?} the request has timed out (1 ms) and the longest backoff (retry_cap, 1 h) has passed"
            );
            now += step;
        }
    }
    assert!(
        sent >= 1_000,
        "1,000 rounds of a timeout then retry_cap: a retry each round, got {sent}"
    );
}

// ─────────────────────── the README's example ───────────────────────

#[test]
fn the_readme_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    let ms = Duration::from_millis;
    let mut registry = Registry::new(RegistryConfig::default())?;
    let mut agent = Instance::new(7, 1, InstanceConfig::default(), 42, ms(0))?;
    let mut client = Client::new(50, 1, ClientConfig::default(), ms(0))?;

    let watch = client.tick(ms(0)).remove(0).message;
    let snapshot = registry.receive(50, watch, ms(1))?.remove(0).message;
    let next_watch = client.receive(1, snapshot, ms(2))?.remove(0).message;
    assert!(registry.receive(50, next_watch, ms(3))?.is_empty());

    let register = agent.tick(ms(10)).remove(0).message;
    let out = registry.receive(7, register, ms(11))?;
    for o in out {
        match o.to {
            7 => {
                agent.receive(1, o.message, ms(12))?;
            }
            _ => {
                client.receive(1, o.message, ms(12))?;
            }
        }
    }
    assert_eq!(agent.lease(), Some(1));
    assert_eq!(
        client.instances(),
        &[Entry {
            instance: 7,
            lease: 1
        }]
    );
    assert_eq!(client.version(), 2);
    Ok(())
}

// ─────────────────────── a model of the registry ───────────────────────

#[derive(Clone, Debug)]
enum Op {
    Tick(u64),
    Register { host: NodeId, ttl_ms: u64 },
    Heartbeat { host: NodeId, pick: usize },
    Deregister { host: NodeId, pick: usize },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let host = 1..5u64;
    prop_oneof![
        (0..400u64).prop_map(Op::Tick),
        (host.clone(), prop_oneof![Just(0u64), 1..1_500u64])
            .prop_map(|(host, ttl_ms)| Op::Register { host, ttl_ms }),
        (host.clone(), any::<usize>()).prop_map(|(host, pick)| Op::Heartbeat { host, pick }),
        (host, any::<usize>()).prop_map(|(host, pick)| Op::Deregister { host, pick }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Four hosts register (TTL 0 included), heartbeat and deregister
    /// leases picked among every lease ever granted (their own, others',
    /// ended ones), while time passes. A model (host → lease, deadline)
    /// that sees the same calls checks after each one: the live set, the
    /// answers, fresh lease ids, and a version that goes up exactly when
    /// the set changes.
    #[test]
    fn the_registry_agrees_with_a_model_of_leases(ops in proptest::collection::vec(op_strategy(), 1..80)) {
        let mut registry = registry_with(ms(1_000), ms(10_000));
        let mut model: BTreeMap<NodeId, (LeaseId, Duration, Duration)> = BTreeMap::new(); // host → (lease, ttl, deadline)
        let mut granted: Vec<LeaseId> = Vec::new();
        let mut now = ms(0);
        let mut version = registry.version();
        for (step, op) in ops.into_iter().enumerate() {
            let before: Vec<Entry> = model.iter().filter(|(_, m)| m.2 > now).map(|(&h, m)| Entry { instance: h, lease: m.0 }).collect();
            let asked = match op { Op::Register { ttl_ms, .. } => Some(ms(ttl_ms)), _ => None };
            let (out, host) = match op {
                Op::Tick(d) => { now += ms(d); (registry.tick(now), None) }
                Op::Register { host, ttl_ms } => {
                    (deliver(&mut registry, host, Message::Register { request: step as u64, ttl: ms(ttl_ms) }, now), Some(host))
                }
                Op::Heartbeat { host, pick } => {
                    let lease = if granted.is_empty() { 1 } else { granted[pick % granted.len()] };
                    (deliver(&mut registry, host, Message::Heartbeat { request: step as u64, lease }, now), Some(host))
                }
                Op::Deregister { host, pick } => {
                    let lease = if granted.is_empty() { 1 } else { granted[pick % granted.len()] };
                    (deliver(&mut registry, host, Message::Deregister { request: step as u64, lease }, now), Some(host))
                }
            };
            model.retain(|_, m| m.2 > now);
            // What the model expects the answer to be.
            if let Some(host) = host {
                let answers = to(&out, host);
                prop_assert_eq!(answers.len(), 1, "step {}: one answer to host {}, got {:?}", step, host, out);
                let request = step as u64;
                match answers[0].clone() {
                    Message::Registered { request: r, lease, ttl } => {
                        prop_assert_eq!(r, request);
                        prop_assert_eq!(Some(ttl), asked.map(|a| a.min(ms(1_000))), "step {}: granted min(asked, max_ttl)", step);
                        prop_assert!(!ttl.is_zero(), "step {}: a TTL of zero is refused, never granted", step);
                        match model.get(&host).copied() {
                            Some((live, _, _)) => prop_assert_eq!(lease, live, "step {}: host {} has live lease {}", step, host, live),
                            None => {
                                prop_assert!(!granted.contains(&lease), "step {}: lease {} granted again", step, lease);
                                granted.push(lease);
                            }
                        }
                        model.insert(host, (lease, ttl, now + ttl));
                    }
                    Message::InvalidTtl { request: r } => {
                        prop_assert_eq!(r, request);
                        prop_assert_eq!(asked, Some(Duration::ZERO), "step {}: only a TTL of zero is refused", step);
                    }
                    Message::Renewed { request: r, lease } => {
                        prop_assert_eq!(r, request);
                        let live = model.get(&host).copied();
                        prop_assert!(live.is_some_and(|m| m.0 == lease), "step {}: host {} renewed lease {} but holds {:?}", step, host, lease, live);
                        if let Some(m) = model.get_mut(&host) { m.2 = now + m.1; }
                    }
                    Message::UnknownLease { request: r, lease } => {
                        prop_assert_eq!(r, request);
                        let live = model.get(&host).copied();
                        prop_assert!(live.is_none_or(|m| m.0 != lease), "step {}: host {} holds live lease {} yet got UnknownLease", step, host, lease);
                    }
                    Message::Deregistered { request: r, lease } => {
                        prop_assert_eq!(r, request);
                        if model.get(&host).is_some_and(|m| m.0 == lease) { model.remove(&host); }
                    }
                    other => prop_assert!(false, "step {}: unexpected answer {:?}", step, other),
                }
            }
            let expected: Vec<Entry> = model.iter().map(|(&h, m)| Entry { instance: h, lease: m.0 }).collect();
            prop_assert_eq!(registry.instances(), expected.clone(), "step {} at {:?}: the live set", step, now);
            if expected == before {
                prop_assert_eq!(registry.version(), version, "step {}: the set did not change, nor may the version", step);
            } else {
                prop_assert!(registry.version() > version, "step {}: the set changed, the version must go up", step);
            }
            version = registry.version();
        }
    }
}
