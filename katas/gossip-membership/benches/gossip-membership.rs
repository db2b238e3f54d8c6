//! Your code beside the reference and a naive baseline:
//! `cargo bench -p gossip-membership --features solution`.
//!
//! No crate does this kata's job behind a sans-IO API this small
//! (`memberlist`-style crates bring their transport and runtime along), so
//! the baseline is the naive design SWIM improves on: all-to-all
//! heartbeats, every member telling every other member "I am alive" each
//! period, and declaring dead a member it has not heard from for the same
//! suspicion timeout.
//!
//! One iteration is one failure detected in a cluster of 32 members on a
//! small in-memory network (every message takes 1 to 10 ms, drawn from a
//! seeded generator; every node ticks every 10 ms): the cluster starts
//! converged, member 32 crashes at once, and the run ends when every live
//! member lists it dead. Criterion measures the CPU it takes; the bench also
//! prints the simulated detection time and the messages each member sent
//! per protocol period, which is where SWIM earns its keep.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::panic;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

const NODES: u64 = 32;
const STEP: Duration = Duration::from_millis(10);
const GIVE_UP: Duration = Duration::from_secs(60);

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What one run measured: the simulated detection time, and messages sent
/// per live member per protocol period.
#[derive(Clone, Copy, Debug)]
struct Run {
    detected: Duration,
    per_member_per_period: f64,
}

/// `detect(seed)`: member `NODES` crashes at once in a converged cluster of
/// the crate's nodes; returns when every other member lists it dead.
macro_rules! detection {
    ($name:ident, $krate:ident) => {
        fn $name(seed: u64) -> Run {
            use $krate::{Config, Message, Node, NodeId, State};
            let config = Config::default();
            let ids: Vec<NodeId> = (1..=NODES).collect();
            let mut nodes: Vec<Node> = ids
                .iter()
                .map(|&id| {
                    let others: Vec<NodeId> = ids.iter().copied().filter(|&p| p != id).collect();
                    let node_seed = seed.wrapping_mul(31).wrapping_add(id);
                    Node::new(id, &others, config, node_seed, 0, Duration::ZERO)
                        .expect("a valid configuration")
                })
                .collect();
            let victim = NODES;
            let mut dice = seed ^ 0x00C0_FFEE;
            let mut wire: BTreeMap<(Duration, u64), (NodeId, NodeId, Message)> = BTreeMap::new();
            let mut sequence = 0;
            let mut messages = 0u64;
            let mut now = Duration::ZERO;
            while now < GIVE_UP {
                now += STEP;
                let mut sent = Vec::new();
                while wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
                    let Some((_, (to, from, message))) = wire.pop_first() else {
                        break;
                    };
                    if to == victim {
                        continue;
                    }
                    let out = nodes[(to - 1) as usize]
                        .receive(from, message, now)
                        .unwrap_or_default();
                    sent.extend(out.into_iter().map(|o| (to, o)));
                }
                for node in nodes.iter_mut().filter(|n| n.id() != victim) {
                    let from = node.id();
                    sent.extend(node.tick(now).into_iter().map(|o| (from, o)));
                }
                for (from, o) in sent {
                    messages += 1;
                    let latency = Duration::from_millis(1 + splitmix(&mut dice) % 10);
                    sequence += 1;
                    wire.insert((now + latency, sequence), (o.to, from, o.message));
                }
                let dead = nodes.iter().filter(|n| n.id() != victim).all(|n| {
                    n.members()
                        .iter()
                        .any(|m| m.id == victim && m.state == State::Dead)
                });
                if dead {
                    break;
                }
            }
            let periods = now.as_secs_f64() / config.protocol_period.as_secs_f64();
            Run {
                detected: now,
                per_member_per_period: messages as f64 / (NODES - 1) as f64 / periods,
            }
        }
    };
}

detection!(detect_yours, gossip_membership);
detection!(detect_reference, gossip_membership_solution);

/// The baseline: all-to-all heartbeats every period, a member declared
/// dead once nothing was heard from it for the suspicion timeout.
fn detect_all_to_all(seed: u64) -> Run {
    let config = gossip_membership_solution::Config::default();
    let ids: Vec<u64> = (1..=NODES).collect();
    let victim = NODES;
    // last_heard[i][j]: when node i last heard from node j.
    let mut last_heard: Vec<Vec<Duration>> =
        vec![vec![Duration::ZERO; NODES as usize]; NODES as usize];
    let mut dead: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); NODES as usize];
    let mut next_beat = vec![Duration::ZERO; NODES as usize];
    let mut dice = seed ^ 0x00C0_FFEE;
    let mut wire: BTreeMap<(Duration, u64), (u64, u64)> = BTreeMap::new();
    let mut sequence = 0;
    let mut messages = 0u64;
    let mut now = Duration::ZERO;
    while now < GIVE_UP {
        now += STEP;
        while wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
            let Some((_, (to, from))) = wire.pop_first() else {
                break;
            };
            last_heard[(to - 1) as usize][(from - 1) as usize] = now;
        }
        for &id in ids.iter().filter(|&&id| id != victim) {
            let i = (id - 1) as usize;
            if now >= next_beat[i] {
                next_beat[i] = now + config.protocol_period;
                for &to in ids.iter().filter(|&&to| to != id) {
                    messages += 1;
                    let latency = Duration::from_millis(1 + splitmix(&mut dice) % 10);
                    sequence += 1;
                    wire.insert((now + latency, sequence), (to, id));
                }
            }
            for &other in ids.iter().filter(|&&o| o != id) {
                let heard = last_heard[i][(other - 1) as usize];
                if now >= heard + config.protocol_period + config.suspicion_timeout {
                    dead[i].insert(other);
                }
            }
        }
        if ids
            .iter()
            .filter(|&&id| id != victim)
            .all(|&id| dead[(id - 1) as usize].contains(&victim))
        {
            break;
        }
    }
    let periods = now.as_secs_f64() / config.protocol_period.as_secs_f64();
    Run {
        detected: now,
        per_member_per_period: messages as f64 / (NODES - 1) as f64 / periods,
    }
}

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| detect_yours(1)).is_ok();
    panic::set_hook(hook);
    ready
}

const SEEDS: u64 = 16;

fn detection(c: &mut Criterion) {
    let ready = learner_ready();
    for (who, detect) in [
        ("reference (SWIM)", detect_reference as fn(u64) -> Run),
        ("all-to-all heartbeats (baseline)", detect_all_to_all),
        ("yours", detect_yours),
    ] {
        if who == "yours" && !ready {
            continue;
        }
        let runs: Vec<Run> = (0..SEEDS).map(detect).collect();
        let mean = runs.iter().map(|r| r.detected).sum::<Duration>() / SEEDS as u32;
        let load = runs.iter().map(|r| r.per_member_per_period).sum::<f64>() / SEEDS as f64;
        println!(
            "{who}: {NODES} members, one crash detected everywhere after {mean:?} of simulated time on average over {SEEDS} seeds, {load:.1} messages per member per period"
        );
    }
    let mut group = c.benchmark_group("32 members, one crash detected everywhere");
    group.sample_size(10);
    if ready {
        let mut seed = 0;
        group.bench_function("yours", |b| {
            b.iter(|| {
                seed += 1;
                detect_yours(black_box(seed % SEEDS))
            })
        });
    } else {
        println!("your Node is still todo!(): benchmarking the reference only");
    }
    let mut seed = 0;
    group.bench_function("reference (SWIM)", |b| {
        b.iter(|| {
            seed += 1;
            detect_reference(black_box(seed % SEEDS))
        })
    });
    let mut seed = 0;
    group.bench_function("all-to-all heartbeats (baseline)", |b| {
        b.iter(|| {
            seed += 1;
            detect_all_to_all(black_box(seed % SEEDS))
        })
    });
    group.finish();
}

criterion_group!(benches, detection);
criterion_main!(benches);
