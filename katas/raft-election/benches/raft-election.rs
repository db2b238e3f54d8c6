//! Your code beside the reference and a fixed-timeout baseline:
//! `cargo bench -p raft-election --features solution`.
//!
//! No crate does this kata's job behind a sans-IO API as small as this one
//! (the `raft` crate brings its log, storage and protobuf along), so the
//! baseline is the naive design the kata improves on: the same reference
//! node with a fixed election timeout (`election_timeout_min ==
//! election_timeout_max`), as if the timeouts were not randomised.
//!
//! One iteration is one whole election in a five-node cluster on a small
//! in-memory network (every message takes 1 to 20 ms, drawn from a seeded
//! generator; every node ticks each millisecond), from start until every
//! node follows one leader. Criterion measures the CPU it takes; the bench
//! also prints how much simulated time the election took, on average over
//! the seeds, which is where randomised timeouts earn their keep.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::panic;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

const NODES: u64 = 5;
/// An election that has not settled by then has failed.
const GIVE_UP: Duration = Duration::from_secs(60);

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `elect(seed, fixed)`: one election in the crate's node, on the bench's
/// network; returns the simulated time until every node follows one leader.
macro_rules! election {
    ($name:ident, $krate:ident) => {
        fn $name(seed: u64, fixed: bool) -> Duration {
            use $krate::{Config, Message, Node, NodeId, Persistent, Role};
            let config = if fixed {
                Config {
                    election_timeout_min: Duration::from_millis(300),
                    ..Config::default()
                }
            } else {
                Config::default()
            };
            let ids: Vec<NodeId> = (1..=NODES).collect();
            let mut nodes: Vec<Node> = ids
                .iter()
                .map(|&id| {
                    let peers: Vec<NodeId> = ids.iter().copied().filter(|&p| p != id).collect();
                    let node_seed = seed.wrapping_mul(31).wrapping_add(id);
                    Node::new(
                        id,
                        &peers,
                        config,
                        node_seed,
                        Persistent::default(),
                        Duration::ZERO,
                    )
                    .expect("a valid configuration")
                })
                .collect();
            let mut dice = seed ^ 0x00C0_FFEE;
            // (deliver at, sequence) -> (to, from, message)
            let mut wire: BTreeMap<(Duration, u64), (NodeId, NodeId, Message)> = BTreeMap::new();
            let mut sequence = 0;
            let mut now = Duration::ZERO;
            while now < GIVE_UP {
                now += Duration::from_millis(1);
                let mut sent = Vec::new();
                while wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
                    let Some((_, (to, from, message))) = wire.pop_first() else {
                        break;
                    };
                    let out = nodes[(to - 1) as usize]
                        .receive(from, message, now)
                        .unwrap_or_default();
                    sent.extend(out.into_iter().map(|o| (to, o)));
                }
                for node in nodes.iter_mut() {
                    let from = node.id();
                    sent.extend(node.tick(now).into_iter().map(|o| (from, o)));
                }
                for (from, o) in sent {
                    let latency = Duration::from_millis(1 + splitmix(&mut dice) % 20);
                    sequence += 1;
                    wire.insert((now + latency, sequence), (o.to, from, o.message));
                }
                let leader = nodes[0].leader();
                if leader.is_some()
                    && nodes.iter().all(|n| n.leader() == leader)
                    && nodes.iter().any(|n| n.role() == Role::Leader)
                {
                    return now;
                }
            }
            GIVE_UP
        }
    };
}

election!(elect_yours, raft_election);
election!(elect_reference, raft_election_solution);

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| elect_yours(1, false)).is_ok();
    panic::set_hook(hook);
    ready
}

const SEEDS: u64 = 64;

fn average(elect: fn(u64, bool) -> Duration, fixed: bool) -> (Duration, u64) {
    let times: Vec<Duration> = (0..SEEDS).map(|s| elect(s, fixed)).collect();
    let failed = times.iter().filter(|&&t| t >= GIVE_UP).count() as u64;
    (times.iter().sum::<Duration>() / SEEDS as u32, failed)
}

fn election(c: &mut Criterion) {
    let ready = learner_ready();
    for (who, elect, fixed) in [
        (
            "reference",
            elect_reference as fn(u64, bool) -> Duration,
            false,
        ),
        ("fixed timeout (baseline)", elect_reference, true),
        ("yours", elect_yours, false),
    ] {
        if who == "yours" && !ready {
            continue;
        }
        let (mean, failed) = average(elect, fixed);
        println!(
            "{who}: a five-node election settles after {mean:?} of simulated time on average over {SEEDS} seeds ({failed} gave up after {GIVE_UP:?})"
        );
    }
    let mut group = c.benchmark_group("five-node election, start to settled");
    if ready {
        let mut seed = 0;
        group.bench_function("yours", |b| {
            b.iter(|| {
                seed += 1;
                elect_yours(black_box(seed % SEEDS), false)
            })
        });
    } else {
        println!("your Node is still todo!(): benchmarking the reference only");
    }
    let mut seed = 0;
    group.bench_function("reference", |b| {
        b.iter(|| {
            seed += 1;
            elect_reference(black_box(seed % SEEDS), false)
        })
    });
    let mut seed = 0;
    group.bench_function("fixed timeout (baseline)", |b| {
        b.iter(|| {
            seed += 1;
            elect_reference(black_box(seed % SEEDS), true)
        })
    });
    group.finish();
}

criterion_group!(benches, election);
criterion_main!(benches);
