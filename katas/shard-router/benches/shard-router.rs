//! Your code beside the reference and a baseline:
//! `cargo bench -p shard-router --features solution`.
//!
//! One iteration is one command (`GET` or `SET`, keys spread over every
//! slot, hash tags included) routed through an in-memory cluster of three
//! nodes (Redis' default layout): the client starts it, each node it is sent
//! to answers, the client follows any redirect, to the end.
//!
//! No crate does this job behind an API this small (the `redis` crate's
//! cluster client brings its connections and its runtime along), so the
//! baseline is the naive design the kata improves on: a client with no slot
//! map, written here in a few lines, which sends every command to node 1 and
//! follows `MOVED` without remembering it, against the reference's nodes.

use std::hint::black_box;
use std::panic;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| {
        let map = [shard_router::SlotRange {
            first: 0,
            last: 16383,
            node: 1,
        }];
        shard_router::Node::new(1, &[1], &map).is_ok()
            && shard_router::Client::new(1, &[1], &map, shard_router::ClientConfig::default())
                .is_ok()
            && shard_router::slot(b"foo") == 12182
    })
    .unwrap_or(false);
    panic::set_hook(hook);
    ready
}

fn keys() -> Vec<Vec<u8>> {
    (0..4096)
        .map(|i| {
            if i % 4 == 0 {
                format!("{{user{}}}.cart", i / 4).into_bytes()
            } else {
                format!("session:{i}").into_bytes()
            }
        })
        .collect()
}

/// The same cluster and driver for both crates.
macro_rules! cluster {
    ($name:ident, $krate:ident) => {
        mod $name {
            use super::*;
            use $krate::{
                Answer, Client, ClientConfig, Command, Node, NodeId, Outcome, Request, SlotRange,
                Step,
            };

            pub fn layout() -> Vec<SlotRange> {
                vec![
                    SlotRange {
                        first: 0,
                        last: 5460,
                        node: 1,
                    },
                    SlotRange {
                        first: 5461,
                        last: 10922,
                        node: 2,
                    },
                    SlotRange {
                        first: 10923,
                        last: 16383,
                        node: 3,
                    },
                ]
            }

            pub struct Cluster {
                nodes: Vec<Node>,
                pub client: Client,
                /// Use no slot map: node 1 first, then wherever MOVED says.
                forgetful: bool,
                next_id: u64,
                pub requests: u64,
            }

            impl Cluster {
                pub fn new(forgetful: bool) -> Cluster {
                    let map = layout();
                    let nodes = (1..=3)
                        .map(|id| Node::new(id, &[1, 2, 3], &map).expect("a valid map"))
                        .collect();
                    let client = Client::new(7, &[1, 2, 3], &map, ClientConfig::default())
                        .expect("a valid map");
                    Cluster {
                        nodes,
                        client,
                        forgetful,
                        next_id: 0,
                        requests: 0,
                    }
                }

                pub fn run(&mut self, key: &[u8], n: u64) -> Answer {
                    let command = if n % 2 == 0 {
                        Command::Set {
                            key: key.to_vec(),
                            value: b"v".to_vec(),
                        }
                    } else {
                        Command::Get { key: key.to_vec() }
                    };
                    if self.forgetful {
                        return self.run_without_map(command);
                    }
                    let now = Duration::from_micros(n);
                    let mut out = self
                        .client
                        .start(command, now)
                        .expect("one command at a time");
                    loop {
                        self.requests += 1;
                        let node: NodeId = out.to;
                        let reply = self.nodes[(node - 1) as usize]
                            .receive(7, out.request)
                            .expect("a fresh request id");
                        match self
                            .client
                            .receive(node, reply, now)
                            .expect("the awaited reply")
                        {
                            Step::Send(next) => out = next,
                            Step::Done(result) => return result.expect("a stable cluster answers"),
                        }
                    }
                }

                fn run_without_map(&mut self, command: Command) -> Answer {
                    let mut node: NodeId = 1;
                    loop {
                        self.requests += 1;
                        self.next_id += 1;
                        let request = Request {
                            id: self.next_id,
                            asking: false,
                            command: command.clone(),
                        };
                        let reply = self.nodes[(node - 1) as usize]
                            .receive(8, request)
                            .expect("a fresh request id");
                        match reply.outcome {
                            Outcome::Served(answer) => return answer,
                            Outcome::Moved { node: owner, .. }
                            | Outcome::Ask { node: owner, .. } => node = owner,
                        }
                    }
                }
            }
        }
    };
}

cluster!(learner, shard_router);
cluster!(reference, shard_router_solution);

fn route(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("one command through a 3-node cluster");
    if learner_ready() {
        let mut cluster = learner::Cluster::new(false);
        let mut n = 0u64;
        group.bench_function("yours", |b| {
            b.iter(|| {
                n += 1;
                black_box(cluster.run(&keys[(n % 4096) as usize], n))
            })
        });
    } else {
        println!("your Node and Client are still todo!(): benchmarking the reference only");
    }
    let mut cluster = reference::Cluster::new(false);
    let mut n = 0u64;
    group.bench_function("reference (cached slot map)", |b| {
        b.iter(|| {
            n += 1;
            black_box(cluster.run(&keys[(n % 4096) as usize], n))
        })
    });
    let mut naive = reference::Cluster::new(true);
    let mut n = 0u64;
    group.bench_function("baseline (no slot map: MOVED every time)", |b| {
        b.iter(|| {
            n += 1;
            black_box(naive.run(&keys[(n % 4096) as usize], n))
        })
    });
    group.finish();
    // Requests per command, counted over the same 4096 commands.
    let mut cached = reference::Cluster::new(false);
    let mut naive = reference::Cluster::new(true);
    for (i, key) in keys.iter().enumerate() {
        cached.run(key, i as u64);
        naive.run(key, i as u64);
    }
    println!(
        "requests per command over {} commands: reference {:.2}, baseline {:.2}",
        keys.len(),
        cached.requests as f64 / keys.len() as f64,
        naive.requests as f64 / keys.len() as f64
    );
}

criterion_group!(benches, route);
criterion_main!(benches);
