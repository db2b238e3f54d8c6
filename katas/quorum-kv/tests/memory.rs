//! The quorum-kv kata's bound on a node's state, by counting: "a finished
//! operation is forgotten" (README, Constraints). A counting global
//! allocator needs a test binary of its own, hence this file.
//!
//! `cargo test -p quorum-kv` judges your code;
//! `cargo test -p quorum-kv --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use quorum_kv as subject;
#[cfg(feature = "solution")]
use quorum_kv_solution as subject;

use std::collections::BTreeMap;
use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Config, Message, Node};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a node may keep beyond its store: far less than an entry per
/// operation it ever ran.
const SMALL: i64 = 4 * 1024;

/// `rounds` rounds on node 1 of {1..5} (R = W = 3), all of key "k" with a
/// value of the same size: a write answered and acknowledged (its Puts
/// acknowledged late and twice too), a read answered (and answered again
/// after it completed), and a read and a write nobody answers, which time
/// out.
fn rounds(node: &mut Node, now: &mut Duration, rounds: u64) {
    for _ in 0..rounds {
        *now += Duration::from_millis(1);
        let (put, _) = node.put("k".to_string(), b"12345678".to_vec(), *now);
        for from in [2, 3, 4] {
            let _ = node.receive(
                from,
                Message::GetReply {
                    request: put,
                    stored: None,
                },
                *now,
            );
        }
        for from in [2, 3, 4, 5, 5] {
            let _ = node.receive(from, Message::PutAck { request: put }, *now);
        }
        let (get, _) = node.get("k".to_string(), *now);
        for from in [2, 3, 4, 5] {
            let _ = node.receive(
                from,
                Message::GetReply {
                    request: get,
                    stored: None,
                },
                *now,
            );
        }
        for from in [2, 3] {
            let _ = node.receive(from, Message::PutAck { request: get }, *now);
        }
        let _ = node.get("k".to_string(), *now);
        let (lost, _) = node.put("k".to_string(), b"87654321".to_vec(), *now);
        *now += Duration::from_millis(100);
        let _ = node.tick(*now);
        let _ = node.receive(
            2,
            Message::GetReply {
                request: lost,
                stored: None,
            },
            *now,
        );
    }
}

#[test]
fn a_node_forgets_every_finished_operation() {
    assert!(installed(), "the counting allocator should be installed");
    let config = Config {
        read_quorum: 3,
        write_quorum: 3,
        timeout: Duration::from_millis(100),
    };
    let mut node = Node::new(1, &[2, 3, 4, 5], config, 0, BTreeMap::new(), Duration::ZERO)
        .expect("a valid configuration");
    let mut now = Duration::ZERO;
    rounds(&mut node, &mut now, 50);
    let (usage, ()) = measure(|| rounds(&mut node, &mut now, 1_250));
    assert_eq!(
        node.in_flight(),
        0,
        "every operation was answered, acknowledged or timed out: none is in flight"
    );
    assert!(
        node.stored("k").is_some_and(|v| v.version.counter >= 1_300),
        "1,300 writes of \"k\" were acknowledged by a quorum: {:?}",
        node.stored("k")
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 5,000 more reads and writes of one key, all finished, the node holds {} more bytes: a finished operation is forgotten, and the store holds one value per key (README, Constraints)",
        usage.live_bytes
    );
}
