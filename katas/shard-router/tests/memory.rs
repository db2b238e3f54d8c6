//! The specification of the shard-router kata: what a node and a client
//! keep, counted by a counting allocator (live bytes after many commands),
//! never timed.
//!
//! `cargo test -p shard-router` judges your code;
//! `cargo test -p shard-router --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use shard_router as subject;
#[cfg(feature = "solution")]
use shard_router_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Client, ClientConfig, Command, Node, Outcome, Reply, Request, SlotRange, Step};

#[global_allocator]
static ALLOC: Counting = Counting;

const SMALL: i64 = 4 * 1024;

fn map() -> Vec<SlotRange> {
    vec![
        SlotRange {
            first: 0,
            last: 8191,
            node: 1,
        },
        SlotRange {
            first: 8192,
            last: 16383,
            node: 2,
        },
    ]
}

/// Client 5 sends `count` commands, alternately `SET` and `GET` of the same
/// key (slot 12182, node 2's), each to node 1 then to node 2 after its
/// `MOVED`, and duplicates every request.
fn commands(one: &mut Node, two: &mut Node, next_id: &mut u64, count: u64) {
    for n in 0..count {
        let command = if n % 2 == 0 {
            Command::Set {
                key: b"foo".to_vec(),
                value: b"bar".to_vec(),
            }
        } else {
            Command::Get {
                key: b"foo".to_vec(),
            }
        };
        for node in [&mut *one, &mut *two] {
            *next_id += 1;
            let request = Request {
                id: *next_id,
                asking: false,
                command: command.clone(),
            };
            let _ = node.receive(5, request.clone());
            let _ = node.receive(5, request);
        }
    }
}

#[test]
fn a_node_keeps_one_request_id_per_client_however_many_requests_it_takes() {
    assert!(installed(), "the counting allocator should be installed");
    let mut one = Node::new(1, &[1, 2], &map()).expect("a valid map");
    let mut two = Node::new(2, &[1, 2], &map()).expect("a valid map");
    let mut next_id = 0;
    commands(&mut one, &mut two, &mut next_id, 50);
    let (usage, ()) = measure(|| commands(&mut one, &mut two, &mut next_id, 5_000));
    let probe = two.receive(
        5,
        Request {
            id: next_id + 1,
            asking: false,
            command: Command::Get {
                key: b"foo".to_vec(),
            },
        },
    );
    assert_eq!(
        probe.map(|r| r.outcome),
        Ok(Outcome::Served(subject::Answer::Value(Some(
            b"bar".to_vec()
        )))),
        "node 2 serves the key client 5 kept writing"
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 5,000 more commands of one client on one key (each sent to both nodes, twice), the nodes hold {} more bytes: a node keeps its keys, its view of the slots and one request id per client, nothing per request (README, Constraints)",
        usage.live_bytes
    );
}

#[test]
fn a_client_keeps_bounded_state_however_many_commands_and_redirects() {
    assert!(installed(), "the counting allocator should be installed");
    let mut client = Client::new(5, &[1, 2], &map(), ClientConfig::default()).expect("a valid map");
    let mut now = Duration::ZERO;
    let mut run = |client: &mut Client, count: u64| {
        for n in 0..count {
            now += Duration::from_millis(1);
            let out = client
                .start(
                    Command::Get {
                        key: b"foo".to_vec(),
                    },
                    now,
                )
                .expect("no command outstanding");
            // MOVED back and forth for the same slot, then an answer.
            let other = if out.to == 1 { 2 } else { 1 };
            let reply = Reply {
                id: out.request.id,
                outcome: Outcome::Moved {
                    slot: 12182,
                    node: other,
                },
            };
            let Ok(Step::Send(next)) = client.receive(out.to, reply, now) else {
                panic!("command {n}: the client should follow a MOVED");
            };
            let reply = Reply {
                id: next.request.id,
                outcome: Outcome::Served(subject::Answer::Value(None)),
            };
            assert!(matches!(
                client.receive(next.to, reply, now),
                Ok(Step::Done(Ok(_)))
            ));
        }
    };
    run(&mut client, 50);
    let (usage, ()) = measure(|| run(&mut client, 5_000));
    assert!(
        usage.live_bytes <= SMALL,
        "after 5,000 more commands, each redirected once, the client holds {} more bytes: its map, its config and the command outstanding, nothing per command (README, Constraints)",
        usage.live_bytes
    );
}
