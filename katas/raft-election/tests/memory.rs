//! The raft-election kata's bound on a node's state, by counting: "nothing
//! grows with time or with the messages received" (README, Constraints). A
//! counting global allocator needs a test binary of its own, hence this
//! file.
//!
//! `cargo test -p raft-election` judges your code;
//! `cargo test -p raft-election --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use raft_election as subject;
#[cfg(feature = "solution")]
use raft_election_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Config, Message, Node, Persistent};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a node may keep for the votes of one election and its bookkeeping:
/// far less than an entry per election it ever ran.
const SMALL: i64 = 4 * 1024;

/// `rounds` elections of node 1 of {1..5}: each time it stands, node 2
/// votes for it (not enough to win), node 3 refuses, and node 4 asks node 1
/// for its vote in the next term, which node 1 grants.
fn elections(node: &mut Node, now: &mut Duration, rounds: u64) {
    for _ in 0..rounds {
        let term = node.term();
        while node.term() == term {
            *now += Duration::from_millis(1);
            node.tick(*now);
        }
        let t = node.term();
        let _ = node.receive(
            2,
            Message::Vote {
                term: t,
                granted: true,
            },
            *now,
        );
        let _ = node.receive(
            3,
            Message::Vote {
                term: t,
                granted: false,
            },
            *now,
        );
        let _ = node.receive(
            4,
            Message::RequestVote {
                term: t + 1,
                last_log_index: 0,
                last_log_term: 0,
            },
            *now,
        );
        let _ = node.receive(5, Message::Heartbeat { term: t + 1 }, *now);
    }
}

#[test]
fn a_node_keeps_bounded_state_however_many_elections_it_runs() {
    assert!(installed(), "the counting allocator should be installed");
    let mut node = Node::new(
        1,
        &[2, 3, 4, 5],
        Config::default(),
        7,
        Persistent::default(),
        Duration::ZERO,
    )
    .expect("a valid configuration");
    let mut now = Duration::ZERO;
    elections(&mut node, &mut now, 50);
    let (usage, ()) = measure(|| elections(&mut node, &mut now, 2_000));
    assert!(
        node.term() > 2_000,
        "2,000 more elections, each followed by a vote granted and a heartbeat of the next term: term {}",
        node.term()
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 2,000 more elections the node holds {} more bytes: its state is its persistent state, its role, the votes of its current election and two deadlines, nothing per past election or per message (README, Constraints)",
        usage.live_bytes
    );
}
