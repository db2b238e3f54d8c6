//! The gossip-membership kata's bound on a node's state, by counting: "a
//! node's memory grows with the number of members, not with time" (README,
//! Constraints). A counting global allocator needs a test binary of its
//! own, hence this file.
//!
//! `cargo test -p gossip-membership` judges your code;
//! `cargo test -p gossip-membership --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use gossip_membership as subject;
#[cfg(feature = "solution")]
use gossip_membership_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Config, Member, Message, Node, State};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a node may keep beyond its members' entries: far less than an
/// entry per period, per probe, per relay or per message.
const SMALL: i64 = 4 * 1024;

/// `periods` protocol periods of node 1 of {1..6}: every probe answered
/// (directly or, every other period, through a relay), a `PingReq` about
/// member 6 that it relays and never hears back about, a `Ping` from each
/// member, and news about member 5's incarnation, ever higher.
fn periods(node: &mut Node, now: &mut Duration, incarnation: &mut u64, periods: u64) {
    let period = Config::default().protocol_period;
    for i in 0..periods {
        let out = node.tick(*now);
        let probe = out.iter().find_map(|o| match o.message {
            Message::Ping { seq, .. } => Some((o.to, seq)),
            _ => None,
        });
        let _ = node.receive(
            2 + i % 4,
            Message::PingReq {
                seq: i,
                target: 6,
                updates: vec![],
            },
            *now + Duration::from_millis(1),
        );
        *incarnation += 1;
        let news = Member {
            id: 5,
            state: if i % 2 == 0 {
                State::Alive
            } else {
                State::Suspect
            },
            incarnation: *incarnation,
        };
        let _ = node.receive(
            2 + (i + 1) % 4,
            Message::Ping {
                seq: i,
                updates: vec![news],
            },
            *now + Duration::from_millis(2),
        );
        if i % 2 == 0 {
            let _ = node.tick(*now + Duration::from_millis(45));
        }
        if let Some((to, seq)) = probe {
            let _ = node.receive(
                to,
                Message::Ack {
                    seq,
                    updates: vec![],
                },
                *now + Duration::from_millis(50),
            );
        }
        *now += period;
    }
}

#[test]
fn a_node_keeps_bounded_state_however_long_it_runs() {
    assert!(installed(), "the counting allocator should be installed");
    let mut node = Node::new(1, &[2, 3, 4, 5, 6], Config::default(), 7, 0, Duration::ZERO)
        .expect("a valid configuration");
    let mut now = Duration::ZERO;
    let mut incarnation = 0;
    periods(&mut node, &mut now, &mut incarnation, 100);
    let (usage, ()) = measure(|| periods(&mut node, &mut now, &mut incarnation, 1_000));
    assert_eq!(
        node.members().len(),
        6,
        "the cluster is six nodes: {:?}",
        node.members()
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 1,000 more periods of six members (probes, relays that never hear back, news about member 5 every period) the node holds {} more bytes: its memory grows with the number of members, never with time (README, Constraints)",
        usage.live_bytes
    );
}
