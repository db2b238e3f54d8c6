//! The specification of the gossip-membership kata: one node, driven call
//! by call with chosen instants and messages. The cluster on a simulated
//! network is in `tests/sim.rs`, the memory bound in `tests/memory.rs`.
//!
//! `cargo test -p gossip-membership` judges your code;
//! `cargo test -p gossip-membership --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use gossip_membership as subject;
#[cfg(feature = "solution")]
use gossip_membership_solution as subject;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Config, ConfigError, Incarnation, Member, Message, Node, NodeId, Outgoing, ReceiveError, State,
};

const NS: Duration = Duration::from_nanos(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    Config::default()
}

/// `T`, the protocol period.
fn t() -> Duration {
    cfg().protocol_period
}

fn ack_timeout() -> Duration {
    cfg().ack_timeout
}

fn suspicion() -> Duration {
    cfg().suspicion_timeout
}

fn alive(id: NodeId, incarnation: Incarnation) -> Member {
    Member {
        id,
        state: State::Alive,
        incarnation,
    }
}

fn suspect(id: NodeId, incarnation: Incarnation) -> Member {
    Member {
        id,
        state: State::Suspect,
        incarnation,
    }
}

fn dead(id: NodeId, incarnation: Incarnation) -> Member {
    Member {
        id,
        state: State::Dead,
        incarnation,
    }
}

/// Node `id` at incarnation 0, started at t = 0.
fn node(id: NodeId, seeds: &[NodeId], seed: u64) -> Node {
    Node::new(id, seeds, cfg(), seed, 0, Duration::ZERO).expect("a valid configuration")
}

/// What `node` says about `member`.
fn seen(node: &Node, member: NodeId) -> Option<(State, Incarnation)> {
    node.members()
        .into_iter()
        .find(|m| m.id == member)
        .map(|m| (m.state, m.incarnation))
}

/// A seq no probe of these tests ever reaches.
const UNKNOWN_SEQ: u64 = 0xdead_beef_0000;

/// Hands `updates` to `node` from `from`, on a `Ping` (which it answers).
fn tell(node: &mut Node, from: NodeId, updates: &[Member], now: Duration) {
    let ping = Message::Ping {
        seq: UNKNOWN_SEQ,
        updates: updates.to_vec(),
    };
    node.receive(from, ping, now)
        .unwrap_or_else(|e| panic!("a Ping from {from} carrying {updates:?} was refused: {e:?}"));
}

/// The `Ping`s among `out`: (to, seq).
fn pings(out: &[Outgoing]) -> Vec<(NodeId, u64)> {
    out.iter()
        .filter_map(|o| match o.message {
            Message::Ping { seq, .. } => Some((o.to, seq)),
            _ => None,
        })
        .collect()
}

/// The `PingReq`s among `out`: (to, seq, target).
fn ping_reqs(out: &[Outgoing]) -> Vec<(NodeId, u64, NodeId)> {
    out.iter()
        .filter_map(|o| match o.message {
            Message::PingReq { seq, target, .. } => Some((o.to, seq, target)),
            _ => None,
        })
        .collect()
}

/// The `Ack`s among `out`: (to, seq).
fn acks(out: &[Outgoing]) -> Vec<(NodeId, u64)> {
    out.iter()
        .filter_map(|o| match o.message {
            Message::Ack { seq, .. } => Some((o.to, seq)),
            _ => None,
        })
        .collect()
}

/// The one `Ping` a probe sends.
fn the_probe(out: &[Outgoing], when: &str) -> (NodeId, u64) {
    let p = pings(out);
    assert_eq!(
        p.len(),
        1,
        "{when}: a probe is due, so exactly one Ping should go out; got {out:?}"
    );
    p[0]
}

/// Ticks at 0, T, 2T... `probes` times, acknowledging every probe at once;
/// returns the targets in order.
fn probe_targets(node: &mut Node, probes: usize) -> Vec<NodeId> {
    let mut targets = Vec::new();
    for i in 0..probes {
        let now = t() * i as u32;
        let out = node.tick(now);
        let (to, seq) = the_probe(&out, &format!("the tick at {now:?}"));
        let ack = Message::Ack {
            seq,
            updates: vec![],
        };
        node.receive(to, ack, now + ms(1))
            .unwrap_or_else(|e| panic!("the Ack of a probe was refused: {e:?}"));
        targets.push(to);
    }
    targets
}

// ─────────────────────────── 1. the view and precedence ───────────────────────────

#[rstest]
#[case::suspect_overrides_alive_of_the_same_incarnation(alive(3, 0), suspect(3, 0), suspect(3, 0))]
#[case::alive_does_not_override_suspect_of_the_same_incarnation(
    suspect(3, 0),
    alive(3, 0),
    suspect(3, 0)
)]
#[case::a_higher_alive_overrides_suspect(suspect(3, 0), alive(3, 1), alive(3, 1))]
#[case::a_lower_suspect_does_not_override_alive(alive(3, 1), suspect(3, 0), alive(3, 1))]
#[case::a_higher_suspect_overrides_suspect(suspect(3, 3), suspect(3, 4), suspect(3, 4))]
#[case::dead_overrides_alive_of_the_same_incarnation(alive(3, 5), dead(3, 5), dead(3, 5))]
#[case::dead_overrides_a_lower_suspect(suspect(3, 1), dead(3, 2), dead(3, 2))]
#[case::alive_of_the_same_incarnation_does_not_override_dead(dead(3, 1), alive(3, 1), dead(3, 1))]
#[case::suspect_of_the_same_incarnation_does_not_override_dead(
    dead(3, 1),
    suspect(3, 1),
    dead(3, 1)
)]
#[case::a_higher_alive_overrides_dead(dead(3, 1), alive(3, 2), alive(3, 2))]
#[case::a_lower_dead_does_not_override_suspect(suspect(3, 2), dead(3, 1), suspect(3, 2))]
#[case::a_lower_alive_does_not_override_alive(alive(3, 3), alive(3, 2), alive(3, 3))]
#[case::a_lower_dead_does_not_override_dead(dead(3, 2), dead(3, 1), dead(3, 2))]
#[case::suspect_at_u64_max_overrides_alive_at_u64_max(
    alive(3, u64::MAX),
    suspect(3, u64::MAX),
    suspect(3, u64::MAX)
)]
#[case::dead_at_u64_max_is_final(dead(3, u64::MAX), alive(3, u64::MAX), dead(3, u64::MAX))]
fn precedence_follows_incarnation_then_alive_suspect_dead(
    #[case] first: Member,
    #[case] then: Member,
    #[case] expected: Member,
) {
    let mut n = node(1, &[2], 7);
    tell(&mut n, 2, &[first], ms(1));
    assert_eq!(
        seen(&n, 3),
        Some((first.state, first.incarnation)),
        "node 1 knew nothing of member 3 and was told {first:?}: a claim about an unknown member adds it"
    );
    tell(&mut n, 2, &[then], ms(2));
    assert_eq!(
        seen(&n, 3),
        Some((expected.state, expected.incarnation)),
        "node 1 held {first:?} about member 3 and was told {then:?}: the higher incarnation wins, then Dead > Suspect > Alive"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The view is the newest claim heard about each member, whatever the
    /// order, the duplicates and the carrier.
    #[test]
    fn an_older_incarnation_never_overrides_a_newer_state(
        claims in prop::collection::vec((3u64..7, 0u8..3, 0u64..4, 0u8..3), 1..40),
    ) {
        let mut n = node(1, &[2], 11);
        let mut model: BTreeMap<NodeId, (Incarnation, State)> = BTreeMap::new();
        model.insert(2, (0, State::Alive));
        for (i, &(id, state, incarnation, carrier)) in claims.iter().enumerate() {
            let state = [State::Alive, State::Suspect, State::Dead][usize::from(state)];
            let claim = Member { id, state, incarnation };
            let updates = vec![claim];
            let message = match carrier {
                0 => Message::Ping { seq: UNKNOWN_SEQ, updates },
                1 => Message::Ack { seq: UNKNOWN_SEQ, updates },
                _ => Message::PingReq { seq: UNKNOWN_SEQ, target: 99, updates },
            };
            // No tick: no time passes for a suspicion to time out.
            let _ = n.receive(2, message, ms(1));
            let entry = model.entry(id).or_insert((incarnation, state));
            *entry = (*entry).max((incarnation, state));
            for (&m, &(inc, st)) in &model {
                prop_assert_eq!(
                    seen(&n, m),
                    Some((st, inc)),
                    "after the claims {:?} (member, state 0/1/2 = alive/suspect/dead, incarnation, carrier), member {} should be the newest claim heard",
                    &claims[..=i], m
                );
            }
        }
    }
}

#[rstest]
#[case::on_a_ping(Message::Ping { seq: UNKNOWN_SEQ, updates: vec![suspect(3, 0), alive(9, 2)] })]
#[case::on_an_ack_of_no_probe(Message::Ack { seq: UNKNOWN_SEQ, updates: vec![suspect(3, 0), alive(9, 2)] })]
#[case::on_a_ping_req(Message::PingReq { seq: 5, target: 4, updates: vec![suspect(3, 0), alive(9, 2)] })]
fn updates_are_applied_from_every_kind_of_message(#[case] message: Message) {
    let mut n = node(1, &[2, 3, 4], 3);
    let carried = format!("{message:?}");
    n.receive(2, message, ms(1))
        .unwrap_or_else(|e| panic!("{carried} from node 2 was refused: {e:?}"));
    assert_eq!(
        (seen(&n, 3), seen(&n, 9)),
        (Some((State::Suspect, 0)), Some((State::Alive, 2))),
        "node 1 received {carried} from node 2: its updates apply whatever the kind of message"
    );
}

// ─────────────────────────── 2. joining ───────────────────────────

#[test]
fn new_knows_itself_and_its_seeds_alive() {
    let n = Node::new(5, &[9, 2, 9], cfg(), 1, 3, ms(100)).expect("a valid configuration");
    assert_eq!(
        n.members(),
        vec![alive(2, 0), alive(5, 3), alive(9, 0)],
        "node 5 at incarnation 3 with seeds [9, 2, 9]: itself and each seed once, alive, sorted by id"
    );
    assert_eq!((n.id(), n.incarnation()), (5, 3));
}

#[test]
fn a_message_from_an_unknown_node_adds_it_as_alive() {
    let mut n = node(1, &[2], 5);
    let out = n
        .receive(
            9,
            Message::Ping {
                seq: 4,
                updates: vec![],
            },
            ms(1),
        )
        .expect("a Ping from a node never heard of is a join, not an error");
    assert_eq!(
        seen(&n, 9),
        Some((State::Alive, 0)),
        "node 9, unknown to node 1, pinged it: node 1 now lists 9 alive at incarnation 0"
    );
    assert_eq!(acks(&out), vec![(9, 4)], "the joiner's Ping is answered");
    let mut n = node(1, &[2], 5);
    tell(&mut n, 8, &[alive(8, 4)], ms(1));
    assert_eq!(
        seen(&n, 8),
        Some((State::Alive, 4)),
        "unknown node 8 pinged node 1 saying it is alive at incarnation 4"
    );
}

#[test]
fn a_dead_member_that_sends_a_message_stays_dead() {
    let mut n = node(1, &[2, 3], 5);
    tell(&mut n, 2, &[dead(3, 2)], ms(1));
    let out = n
        .receive(
            3,
            Message::Ping {
                seq: 8,
                updates: vec![],
            },
            ms(2),
        )
        .expect("a Ping from a dead member is not an error");
    assert_eq!(
        seen(&n, 3),
        Some((State::Dead, 2)),
        "member 3 is dead at incarnation 2 in node 1's view and pinged it: sending a message does not bring a member back"
    );
    assert_eq!(acks(&out), vec![(3, 8)], "a Ping is always answered");
}

// ─────────────────────────── 3. probing ───────────────────────────

#[rstest]
fn each_member_is_probed_once_per_pass_in_a_shuffled_order(
    #[values(0, u64::MAX, 1, 2, 3, 42)] seed: u64,
) {
    let others: Vec<NodeId> = (2..=7).collect();
    let mut n = node(1, &others, seed);
    let targets = probe_targets(&mut n, 18);
    for (i, pass) in targets.chunks(6).enumerate() {
        let mut sorted = pass.to_vec();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            others,
            "seed {seed}: node 1 with members 2..=7, every probe acknowledged: pass {i} (probes {} to {}) should probe each member exactly once; the targets: {targets:?}",
            6 * i,
            6 * i + 5
        );
    }
}

#[test]
fn the_order_is_shuffled_again_for_every_pass_and_every_seed() {
    let others: Vec<NodeId> = (2..=7).collect();
    let mut firsts = BTreeSet::new();
    for seed in [0, u64::MAX, 1, 2, 3, 4, 5, 6] {
        let mut n = node(1, &others, seed);
        let targets = probe_targets(&mut n, 36);
        let passes: BTreeSet<&[NodeId]> = targets.chunks(6).collect();
        assert!(
            passes.len() >= 3,
            "seed {seed}: six passes over members 2..=7 should not repeat one order (the order is reshuffled at the end of each pass, for every seed, 0 and u64::MAX included); the targets: {targets:?}"
        );
        firsts.insert(targets[..6].to_vec());
    }
    assert!(
        firsts.len() >= 4,
        "the first pass of eight seeds (0, u64::MAX, 1..6) should not follow a few fixed orders: {firsts:?}"
    );
}

#[test]
fn a_probe_starts_at_each_due_tick_and_not_before() {
    let mut n = node(1, &[2], 9);
    let (to, seq) = the_probe(&n.tick(Duration::ZERO), "the first tick, at the now of new");
    assert_eq!(to, 2);
    n.receive(
        2,
        Message::Ack {
            seq,
            updates: vec![],
        },
        ms(1),
    )
    .expect("an Ack");
    assert!(
        pings(&n.tick(t() - NS)).is_empty(),
        "the next probe is due one protocol period after the tick that started the first one, not a nanosecond before"
    );
    the_probe(&n.tick(t()), "the tick exactly one protocol period later");
}

#[test]
fn a_tick_after_a_long_pause_starts_one_probe_not_a_burst() {
    let mut n = node(1, &[2, 3, 4], 9);
    let (to, seq) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    n.receive(
        to,
        Message::Ack {
            seq,
            updates: vec![],
        },
        ms(1),
    )
    .expect("an Ack");
    let late = t() * 10 + ms(3);
    let (to, seq) = the_probe(&n.tick(late), "a tick after ten silent periods");
    n.receive(
        to,
        Message::Ack {
            seq,
            updates: vec![],
        },
        late + ms(1),
    )
    .expect("an Ack");
    assert!(
        pings(&n.tick(late + t() - NS)).is_empty(),
        "after a pause, the next probe is due one period after the tick that started the last one ({late:?}), not on the old schedule"
    );
    the_probe(&n.tick(late + t()), "one period after the late tick");
}

#[test]
fn dead_members_are_not_probed() {
    let mut n = node(1, &[2, 3, 4], 13);
    tell(&mut n, 2, &[dead(3, 0)], Duration::ZERO);
    let targets = probe_targets(&mut n, 8);
    assert!(
        !targets.contains(&3),
        "member 3 is dead in node 1's view: it is no longer probed; the targets: {targets:?}"
    );
    assert!(
        targets.contains(&2) && targets.contains(&4),
        "the live members 2 and 4 are probed: {targets:?}"
    );
}

#[rstest]
fn a_member_added_during_a_pass_is_probed_in_the_rest_of_it(
    #[values(0, u64::MAX, 1, 2, 3, 4, 5, 6)] seed: u64,
) {
    let others: Vec<NodeId> = (2..=7).collect();
    let mut n = node(1, &others, seed);
    let first = probe_targets(&mut n, 1);
    tell(&mut n, 2, &[alive(9, 0)], ms(2));
    let mut rest = Vec::new();
    for i in 1..=6u32 {
        let now = t() * i;
        let (to, seq) = the_probe(&n.tick(now), &format!("the tick at {now:?}"));
        let ack = Message::Ack {
            seq,
            updates: vec![],
        };
        n.receive(to, ack, now + ms(1)).expect("an Ack");
        rest.push(to);
    }
    let mut got = rest.clone();
    got.sort_unstable();
    let mut expected: Vec<NodeId> = others
        .iter()
        .copied()
        .filter(|o| !first.contains(o))
        .collect();
    expected.push(9);
    assert_eq!(
        got, expected,
        "seed {seed}: the pass began with {first:?}, then member 9 joined: it goes somewhere in the rest of this pass, so the next six probes are the five members left and 9; they were {rest:?}"
    );
}

#[test]
fn a_one_node_cluster_sends_nothing_and_never_panics() {
    let mut n = node(1, &[], u64::MAX);
    for i in 0..20 {
        let out = n.tick(t() * i);
        assert!(
            out.is_empty(),
            "a node with no one to probe sends nothing; at {:?} it sent {out:?}",
            t() * i
        );
    }
    assert_eq!(n.members(), vec![alive(1, 0)]);
}

// ─────────────────────────── 4. acks and sequence numbers ───────────────────────────

#[rstest]
#[case::from_a_member(2, 0)]
#[case::from_a_stranger(9, 77)]
#[case::with_seq_u64_max(3, u64::MAX)]
fn an_ack_answers_a_ping_with_its_seq(#[case] from: NodeId, #[case] seq: u64) {
    let mut n = node(1, &[2, 3], 5);
    let out = n
        .receive(
            from,
            Message::Ping {
                seq,
                updates: vec![],
            },
            ms(1),
        )
        .expect("a Ping is never refused");
    assert_eq!(
        acks(&out),
        vec![(from, seq)],
        "node {from} pinged node 1 with seq {seq}: one Ack with the same seq goes back to it; got {out:?}"
    );
    assert_eq!(out.len(), 1, "only the Ack: {out:?}");
}

#[test]
fn an_ack_of_an_earlier_probe_does_not_save_the_current_target() {
    let mut n = node(1, &[2], 21);
    let (_, first) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    let ack = Message::Ack {
        seq: first,
        updates: vec![],
    };
    n.receive(2, ack.clone(), ms(2)).expect("an Ack");
    let (_, second) = the_probe(&n.tick(t()), "the second period");
    assert_ne!(first, second, "each probe has a fresh seq");
    // The first Ack again (a duplicate, delivered late), and one with a
    // seq the node never used.
    n.receive(2, ack, t() + ms(2))
        .expect("a late duplicate Ack");
    let made_up = Message::Ack {
        seq: second.wrapping_add(1),
        updates: vec![],
    };
    n.receive(2, made_up, t() + ms(3))
        .expect("an Ack of no probe");
    n.tick(t() * 2);
    assert_eq!(
        seen(&n, 2),
        Some((State::Suspect, 0)),
        "node 2 never acknowledged the second probe (seq {second}); only a duplicate of the first probe's Ack (seq {first}) and an Ack with seq {} arrived: it is suspect when the period ends",
        second.wrapping_add(1)
    );
}

// ─────────────────────────── 5. indirect probes ───────────────────────────

#[rstest]
fn a_silent_target_is_asked_about_through_k_other_alive_members(
    #[values(0, u64::MAX, 1, 2, 3)] seed: u64,
) {
    // Members 2..=7; 7 is dead and 6 suspect: neither is asked (6 may be
    // probed).
    let mut n = node(1, &[2, 3, 4, 5, 6, 7], seed);
    tell(&mut n, 2, &[dead(7, 0), suspect(6, 0)], Duration::ZERO);
    let mut start = Duration::ZERO;
    let mut asked_counts = Vec::new();
    for _ in 0..5 {
        let (target, seq) = the_probe(&n.tick(start), &format!("the tick at {start:?}"));
        assert!(
            n.tick(start + ack_timeout() - NS).is_empty(),
            "seed {seed}: one nanosecond before the ack timeout, no PingReq yet"
        );
        let out = n.tick(start + ack_timeout());
        let asked = ping_reqs(&out);
        let candidates: BTreeSet<NodeId> =
            [2, 3, 4, 5].into_iter().filter(|&c| c != target).collect();
        let to: BTreeSet<NodeId> = asked.iter().map(|a| a.0).collect();
        assert_eq!(
            (asked.len(), to.len()),
            (3, 3),
            "seed {seed}: the probe of {target} got no Ack within the ack timeout: PingReq to k = 3 distinct members; got {out:?}"
        );
        assert!(
            to.is_subset(&candidates),
            "seed {seed}: PingReqs about {target} go to alive members other than node 1 and the target ({candidates:?}), never to a suspect or dead one; they went to {to:?}"
        );
        assert!(
            asked.iter().all(|&(_, s, tg)| s == seq && tg == target),
            "seed {seed}: each PingReq carries the probe's seq {seq} and target {target}: {asked:?}"
        );
        assert!(
            ping_reqs(&n.tick(start + ack_timeout() + ms(10))).is_empty(),
            "seed {seed}: the PingReqs go out once per probe"
        );
        asked_counts.push(to);
        // Save the target: one of the relays answers.
        let ack = Message::Ack {
            seq,
            updates: vec![],
        };
        n.receive(asked[0].0, ack, start + ack_timeout() + ms(20))
            .expect("a relayed Ack");
        start += t();
    }
    let distinct: BTreeSet<_> = asked_counts.iter().collect();
    assert!(
        distinct.len() >= 2,
        "seed {seed}: the relays are chosen at random, not always the same: {asked_counts:?}"
    );
}

#[rstest]
fn the_members_asked_about_one_target_are_drawn_afresh_each_time(
    #[values(0, u64::MAX, 7)] seed: u64,
) {
    let mut n = node(1, &(2..=9).collect::<Vec<_>>(), seed);
    let mut asked: BTreeMap<NodeId, BTreeSet<Vec<NodeId>>> = BTreeMap::new();
    for i in 0..32u32 {
        let start = t() * i;
        let (target, seq) = the_probe(&n.tick(start), &format!("the tick at {start:?}"));
        let mut to: Vec<NodeId> = ping_reqs(&n.tick(start + ack_timeout()))
            .iter()
            .map(|a| a.0)
            .collect();
        to.sort_unstable();
        let Some(&relay) = to.first() else {
            panic!("seed {seed}: the probe of {target} got no Ack: PingReqs expected");
        };
        let ack = Message::Ack {
            seq,
            updates: vec![],
        };
        n.receive(relay, ack, start + ack_timeout() + ms(5))
            .expect("a relayed Ack");
        asked.entry(target).or_default().insert(to);
    }
    assert!(
        asked.values().any(|sets| sets.len() >= 2),
        "seed {seed}: over four passes, each target was asked about through the very same members every time; the k members are chosen at random for each probe: {asked:?}"
    );
}

#[test]
fn fewer_than_k_candidates_are_all_asked() {
    let mut n = node(1, &[2, 3], 4);
    let (target, seq) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    let asked = ping_reqs(&n.tick(ack_timeout()));
    let other = if target == 2 { 3 } else { 2 };
    assert_eq!(
        asked,
        vec![(other, seq, target)],
        "members 2 and 3 only: the one member left to ask about {target} is {other}"
    );
}

#[test]
fn a_relay_pings_the_target_and_passes_its_ack_back_with_the_requesters_seq() {
    let mut n = node(1, &[2, 3, 4], 8);
    // Node 1's own probe is in progress while it relays.
    let (own_target, own_seq) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    let (requester, target) = if own_target == 2 {
        (3, 4)
    } else {
        (2, if own_target == 3 { 4 } else { 3 })
    };
    let out = n
        .receive(
            requester,
            Message::PingReq {
                seq: 500,
                target,
                updates: vec![],
            },
            ms(5),
        )
        .expect("a PingReq about a third member");
    let relay = pings(&out);
    assert_eq!(
        relay.len(),
        1,
        "node {requester} asked node 1 to probe {target}: one Ping to {target}; got {out:?}"
    );
    assert_eq!(relay[0].0, target);
    let relay_seq = relay[0].1;
    assert_ne!(
        relay_seq, own_seq,
        "the relay's Ping has a seq of its own, not the one of node 1's probe in progress"
    );
    let out = n
        .receive(
            target,
            Message::Ack {
                seq: relay_seq,
                updates: vec![],
            },
            ms(8),
        )
        .expect("the target's Ack");
    assert_eq!(
        acks(&out),
        vec![(requester, 500)],
        "the target answered the relay: node 1 passes an Ack with the requester's seq 500 back to {requester}; got {out:?}"
    );
    // Node 1's own probe still counts its own Ack.
    n.receive(
        own_target,
        Message::Ack {
            seq: own_seq,
            updates: vec![],
        },
        ms(9),
    )
    .expect("an Ack");
    assert!(
        ping_reqs(&n.tick(ack_timeout())).is_empty(),
        "node 1's own probe of {own_target} was acknowledged although node 1 relayed meanwhile: no PingReq"
    );
    n.tick(t());
    assert_eq!(seen(&n, own_target), Some((State::Alive, 0)));
}

#[test]
fn a_relay_passes_nothing_back_once_a_period_has_passed() {
    let mut n = node(1, &[2, 3], 8);
    let out = n
        .receive(
            2,
            Message::PingReq {
                seq: 600,
                target: 3,
                updates: vec![],
            },
            ms(5),
        )
        .expect("a PingReq");
    let (_, relay_seq) = pings(&out)[0];
    n.tick(ms(5) + t() * 2);
    let out = n
        .receive(
            3,
            Message::Ack {
                seq: relay_seq,
                updates: vec![],
            },
            ms(5) + t() * 2,
        )
        .expect("a late Ack");
    assert!(
        acks(&out).is_empty(),
        "the target answered the relay two periods late: the requester's probe is long over, nothing goes back; got {out:?}"
    );
}

#[test]
fn a_relay_judges_lateness_on_receipt_even_without_a_tick() {
    let mut n = node(1, &[2, 3], 8);
    let out = n
        .receive(
            2,
            Message::PingReq {
                seq: 700,
                target: 3,
                updates: vec![],
            },
            ms(5),
        )
        .expect("a PingReq");
    let (_, relay_seq) = pings(&out)[0];
    // No tick in between: the node was busy receiving.
    let late = ms(5) + t() + ms(1);
    let out = n
        .receive(
            3,
            Message::Ack {
                seq: relay_seq,
                updates: vec![],
            },
            late,
        )
        .expect("a late Ack");
    assert!(
        acks(&out).is_empty(),
        "the target answered the relay at {late:?}, more than a period after the PingReq (5ms): nothing goes back, tick or no tick; got {out:?}"
    );
}

#[test]
fn two_members_asking_about_one_target_both_get_the_answer() {
    let mut n = node(1, &[2, 3, 4], 8);
    let mut relay_seqs = Vec::new();
    for (requester, seq) in [(2, 800), (4, 900)] {
        let out = n
            .receive(
                requester,
                Message::PingReq {
                    seq,
                    target: 3,
                    updates: vec![],
                },
                ms(5),
            )
            .expect("a PingReq");
        relay_seqs.extend(pings(&out).into_iter().map(|p| p.1));
    }
    let mut back = Vec::new();
    for seq in relay_seqs {
        let ack = Message::Ack {
            seq,
            updates: vec![],
        };
        back.extend(acks(&n.receive(3, ack, ms(9)).expect("an Ack")));
    }
    back.sort_unstable();
    assert_eq!(
        back,
        vec![(2, 800), (4, 900)],
        "nodes 2 and 4 both asked node 1 to probe 3, and 3 answered both relay Pings: each requester gets its Ack with its own seq"
    );
}

#[test]
fn an_indirect_ack_saves_the_target() {
    let mut n = node(1, &[2, 3, 4], 17);
    let (target, seq) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    let asked = ping_reqs(&n.tick(ack_timeout()));
    assert!(!asked.is_empty(), "PingReqs at the ack timeout");
    n.receive(
        asked[0].0,
        Message::Ack {
            seq,
            updates: vec![],
        },
        ack_timeout() + ms(20),
    )
    .expect("a relayed Ack");
    n.tick(t());
    assert_eq!(
        seen(&n, target),
        Some((State::Alive, 0)),
        "member {target} answered through relay {}: it is not suspected",
        asked[0].0
    );
}

#[test]
fn a_two_node_cluster_has_no_one_to_ask() {
    let mut n = node(1, &[2], 2);
    the_probe(&n.tick(Duration::ZERO), "the first tick");
    let out = n.tick(ack_timeout());
    assert!(
        out.is_empty(),
        "node 1 knows only node 2: there is no one to send a PingReq to; got {out:?}"
    );
    let out = n.tick(t());
    assert_eq!(
        seen(&n, 2),
        Some((State::Suspect, 0)),
        "node 2 never answered: suspect when the period ends"
    );
    assert_eq!(
        pings(&out).first().map(|p| p.0),
        Some(2),
        "a suspect member is still probed (it may refute): {out:?}"
    );
}

// ─────────────────────────── 6. suspicion ───────────────────────────

#[test]
fn a_target_that_never_answers_becomes_suspect_when_its_period_ends() {
    let mut n = node(1, &[2, 3, 4], 19);
    let (target, _) = the_probe(&n.tick(Duration::ZERO), "the first tick");
    n.tick(ack_timeout());
    n.tick(t() - NS);
    assert_eq!(
        seen(&n, target),
        Some((State::Alive, 0)),
        "member {target} has until the end of the period to answer"
    );
    n.tick(t());
    assert_eq!(
        seen(&n, target),
        Some((State::Suspect, 0)),
        "member {target} answered neither the Ping nor through a relay: suspect at its incarnation when the next probe is due"
    );
}

#[test]
fn a_suspect_becomes_dead_exactly_when_its_suspicion_times_out() {
    let mut n = node(1, &[2], 23);
    tell(&mut n, 2, &[alive(2, 4)], Duration::ZERO);
    n.tick(Duration::ZERO);
    n.tick(t());
    assert_eq!(seen(&n, 2), Some((State::Suspect, 4)), "suspected at T");
    // The probes of node 2 go on failing meanwhile.
    n.tick(t() * 2);
    n.tick(t() + suspicion() - NS);
    assert_eq!(
        seen(&n, 2),
        Some((State::Suspect, 4)),
        "member 2 was suspected at {:?}; one nanosecond before the suspicion timeout ({:?}) it is still only suspect",
        t(),
        suspicion()
    );
    n.tick(t() + suspicion());
    assert_eq!(
        seen(&n, 2),
        Some((State::Dead, 4)),
        "member 2 was suspected at {:?}, and nothing refuted it: dead at the same incarnation exactly when the suspicion timeout ({:?}) has passed",
        t(),
        suspicion()
    );
}

#[test]
fn a_suspicion_heard_by_gossip_also_times_out() {
    let mut n = node(1, &[2, 3], 29);
    let heard = ms(50);
    tell(&mut n, 2, &[suspect(3, 0)], heard);
    n.tick(heard + suspicion() - NS);
    assert_eq!(seen(&n, 3), Some((State::Suspect, 0)));
    n.tick(heard + suspicion());
    assert_eq!(
        seen(&n, 3),
        Some((State::Dead, 0)),
        "node 1 heard at {heard:?} that member 3 is suspect, and nothing refuted it: dead when its own suspicion timer runs out"
    );
}

#[test]
fn a_suspicion_at_a_higher_incarnation_starts_the_timer_again() {
    let mut n = node(1, &[2, 3], 29);
    tell(&mut n, 2, &[suspect(3, 0)], ms(10));
    let again = ms(700);
    tell(&mut n, 2, &[suspect(3, 1)], again);
    n.tick(ms(10) + suspicion());
    n.tick(again + suspicion() - NS);
    assert_eq!(
        seen(&n, 3),
        Some((State::Suspect, 1)),
        "member 3 was suspected at incarnation 0 (at 10ms), refuted elsewhere, and suspected again at incarnation 1 (heard at {again:?}): the new suspicion has its own full timeout, until {:?}",
        again + suspicion()
    );
    n.tick(again + suspicion());
    assert_eq!(seen(&n, 3), Some((State::Dead, 1)));
}

#[test]
fn a_member_first_heard_of_as_suspect_gets_a_full_timeout() {
    let mut n = node(1, &[2], 61);
    let heard = ms(5_000);
    n.tick(heard);
    tell(&mut n, 2, &[suspect(9, 2)], heard);
    n.tick(heard + suspicion() - NS);
    assert_eq!(
        seen(&n, 9),
        Some((State::Suspect, 2)),
        "node 1 first heard of member 9 at {heard:?}, as suspect: its timer starts then"
    );
    n.tick(heard + suspicion());
    assert_eq!(seen(&n, 9), Some((State::Dead, 2)));
}

#[test]
fn a_refutation_before_the_timeout_cancels_the_death() {
    let mut n = node(1, &[2, 3], 31);
    tell(&mut n, 2, &[suspect(3, 0)], ms(10));
    tell(&mut n, 2, &[alive(3, 1)], ms(500));
    // The first tick: it starts a probe, and judges none yet.
    n.tick(ms(10) + suspicion());
    assert_eq!(
        seen(&n, 3),
        Some((State::Alive, 1)),
        "member 3 was suspect at incarnation 0 (from 10ms) and refuted (alive at 1, at 500ms) before the timeout: it is alive when the old suspicion would have timed out"
    );
}

// ─────────────────────────── 7. refutation ───────────────────────────

#[rstest]
#[case::suspected_at_its_incarnation(0, suspect(1, 0), 1)]
#[case::suspected_at_a_higher_one(3, suspect(1, 7), 8)]
#[case::declared_dead_at_its_incarnation(3, dead(1, 3), 4)]
#[case::suspected_at_a_lower_one(3, suspect(1, 2), 3)]
#[case::declared_dead_at_a_lower_one(3, dead(1, 1), 3)]
#[case::alive_at_a_higher_one(3, alive(1, 9), 3)]
fn a_suspected_node_refutes_with_a_higher_incarnation(
    #[case] own: Incarnation,
    #[case] claim: Member,
    #[case] expected: Incarnation,
) {
    let mut n = Node::new(1, &[2, 3], cfg(), 5, own, Duration::ZERO).expect("valid");
    // Let the start-up gossip go, so that what follows is news.
    for i in 0..40 {
        let _ = n.receive(
            2,
            Message::Ping {
                seq: i,
                updates: vec![],
            },
            Duration::ZERO,
        );
    }
    tell(&mut n, 2, &[claim], ms(1));
    assert_eq!(
        n.incarnation(),
        expected,
        "node 1 at incarnation {own} heard {claim:?} about itself"
    );
    assert_eq!(
        seen(&n, 1),
        Some((State::Alive, expected)),
        "a node lists itself alive at its own incarnation, whatever it hears"
    );
    let out = n
        .receive(
            3,
            Message::Ping {
                seq: 1,
                updates: vec![],
            },
            ms(2),
        )
        .expect("a Ping");
    let refutes = out
        .iter()
        .any(|o| o.message.updates().contains(&alive(1, expected)));
    assert_eq!(
        refutes,
        expected != own,
        "node 1 at incarnation {own} heard {claim:?} about itself: its next message should {}carry its refutation, alive at incarnation {expected}; it sent {out:?}",
        if expected != own { "" } else { "not " }
    );
}

#[test]
fn a_node_at_incarnation_u64_max_cannot_refute_and_does_not_panic() {
    let mut n = Node::new(1, &[2], cfg(), 5, u64::MAX, Duration::ZERO).expect("valid");
    tell(&mut n, 2, &[suspect(1, u64::MAX)], ms(1));
    tell(&mut n, 2, &[dead(1, u64::MAX)], ms(2));
    for i in 0..30 {
        n.tick(t() * i);
    }
    assert_eq!(
        (n.incarnation(), seen(&n, 1)),
        (u64::MAX, Some((State::Alive, u64::MAX))),
        "a node at incarnation u64::MAX that hears itself suspected or dead at u64::MAX has nothing higher to refute with: it keeps u64::MAX and lists itself alive"
    );
}

// ─────────────────────────── 8. rejoin ───────────────────────────

#[test]
fn stale_alive_gossip_never_resurrects_a_dead_member() {
    let mut n = node(1, &[2, 3], 37);
    tell(&mut n, 2, &[dead(3, 2)], Duration::ZERO);
    for stale in [alive(3, 2), alive(3, 0), suspect(3, 2), suspect(3, 1)] {
        tell(&mut n, 2, &[stale], Duration::ZERO);
        assert_eq!(
            seen(&n, 3),
            Some((State::Dead, 2)),
            "member 3 is dead at incarnation 2; {stale:?} is older news and must not bring it back"
        );
    }
    tell(&mut n, 3, &[alive(3, 3)], Duration::ZERO);
    assert_eq!(
        seen(&n, 3),
        Some((State::Alive, 3)),
        "member 3 rejoined at incarnation 3, higher than the one it died at"
    );
    let targets = probe_targets(&mut n, 4);
    assert!(
        targets.contains(&3),
        "a member back from the dead is probed again: {targets:?}"
    );
}

// ─────────────────────────── 9. gossip ───────────────────────────

#[test]
fn every_message_piggybacks_at_most_max_piggyback_updates() {
    for max in [1usize, 3, 8] {
        let config = Config {
            max_piggyback: max,
            ..cfg()
        };
        let seeds: Vec<NodeId> = (2..=21).collect();
        let mut n = Node::new(1, &seeds, config, 3, 0, Duration::ZERO).expect("valid");
        let news: Vec<Member> = (30..30 + max as u64).map(|m| suspect(m, 1)).collect();
        let _ = n.receive(
            2,
            Message::Ping {
                seq: 1,
                updates: news,
            },
            ms(1),
        );
        let mut carried = 0;
        for i in 0..60u32 {
            let mut out = n.tick(t() * i);
            out.extend(n.tick(t() * i + ack_timeout()));
            let ping = Message::Ping {
                seq: u64::from(i),
                updates: vec![],
            };
            out.extend(n.receive(3, ping, t() * i + ms(50)).unwrap_or_default());
            for o in &out {
                let count = o.message.updates().len();
                assert!(
                    count <= max,
                    "max_piggyback = {max}: a message carried {count} updates: {o:?}"
                );
                carried += count;
            }
        }
        assert!(
            carried >= 20,
            "max_piggyback = {max}, 20 seeds and {max} members of news to tell: the node's messages carried only {carried} updates in 60 periods"
        );
    }
}

#[test]
fn an_update_is_sent_at_most_lambda_log_n_times_then_dropped() {
    // Node 1 and members 2, 3, 4: n = 4, ⌈log2(n + 1)⌉ = 3, λ = 3: 9 sends.
    let mut n = node(1, &[2, 3, 4], 41);
    let mut sent: BTreeMap<(NodeId, State, Incarnation), usize> = BTreeMap::new();
    let mut count = |out: &[Outgoing]| {
        for o in out {
            for u in o.message.updates() {
                *sent.entry((u.id, u.state, u.incarnation)).or_default() += 1;
            }
        }
    };
    tell(&mut n, 2, &[suspect(3, 0)], ms(1));
    for i in 0..80u64 {
        let out = n
            .receive(
                2 + i % 3,
                Message::Ping {
                    seq: i,
                    updates: vec![],
                },
                ms(2),
            )
            .unwrap_or_default();
        count(&out);
    }
    let limit = cfg().retransmit_mult as usize * 3;
    for (&(id, state, inc), &times) in &sent {
        assert!(
            times <= limit,
            "the update ({id}, {state:?}, {inc}) was carried by {times} messages; with 4 members λ·⌈log2(n + 1)⌉ = {limit} is the most"
        );
    }
    assert!(
        sent.get(&(3, State::Suspect, 0)).copied().unwrap_or(0) >= 1,
        "the news that 3 is suspect was never passed on: {sent:?}"
    );
    assert!(
        sent.get(&(1, State::Alive, 0)).copied().unwrap_or(0) >= 1,
        "node 1 never told that it is alive: {sent:?}"
    );
}

/// Node 1 of a view of `members` (itself included) answers Pings from
/// member 2: the first of each batch of five carries that batch's `news`,
/// then 200 more carry nothing. How many of its answers carried each update
/// (member, state 0/1/2 = alive/suspect/dead, incarnation).
fn sends_per_update(
    members: u64,
    news: &[&[Member]],
) -> BTreeMap<(NodeId, u8, Incarnation), usize> {
    let seeds: Vec<NodeId> = (2..=members).collect();
    let mut n = node(1, &seeds, 41);
    let mut sent = BTreeMap::new();
    let mut pings: Vec<Vec<Member>> = Vec::new();
    for batch in news {
        pings.push(batch.to_vec());
        pings.extend(std::iter::repeat_n(Vec::new(), 4));
    }
    pings.extend(std::iter::repeat_n(Vec::new(), 200));
    for (seq, updates) in pings.into_iter().enumerate() {
        let ping = Message::Ping {
            seq: seq as u64,
            updates,
        };
        for o in n.receive(2, ping, ms(1)).unwrap_or_default() {
            for u in o.message.updates() {
                let state = match u.state {
                    State::Alive => 0,
                    State::Suspect => 1,
                    State::Dead => 2,
                };
                *sent.entry((u.id, state, u.incarnation)).or_default() += 1;
            }
        }
    }
    sent
}

#[rstest]
#[case::two_members(2, 6)]
#[case::three_members(3, 9)]
#[case::six_members(6, 9)]
#[case::seven_members(7, 12)]
fn an_update_is_sent_exactly_lambda_log_n_times_when_nothing_replaces_it(
    #[case] members: u64,
    #[case] times: usize,
) {
    let sent = sends_per_update(members, &[&[suspect(members + 10, 0)]]);
    let news = (members + 10, 1, 0);
    assert_eq!(
        sent.get(&news).copied().unwrap_or(0),
        times,
        "{members} members in the view (then one more, the news about member {}): λ = 3 and ⌈log2(n + 1)⌉ with n = {} make {times} messages for that news, no more and no fewer; counts (member, state, incarnation) -> messages: {sent:?}",
        members + 10,
        members + 1
    );
}

#[test]
fn a_newer_update_about_a_member_starts_its_count_afresh() {
    // Four members: 9 sends each. The suspicion of 3 is sent 5 times, then
    // 3 refutes: its Alive(1) is news of its own, sent 9 times.
    let sent = sends_per_update(4, &[&[suspect(3, 0)], &[alive(3, 1)]]);
    assert_eq!(
        (sent.get(&(3, 1, 0)).copied(), sent.get(&(3, 0, 1)).copied()),
        (Some(5), Some(9)),
        "the suspicion of 3 was carried by 5 answers before 3's refutation (alive at 1) replaced it; the refutation is new news and is carried 9 times (λ·⌈log2 5⌉); counts (member, state, incarnation) -> messages: {sent:?}"
    );
}

#[test]
fn news_is_piggybacked_on_acks_and_ping_reqs_too() {
    let mut n = node(1, &[2, 3, 4], 43);
    let out = n
        .receive(
            2,
            Message::Ping {
                seq: 1,
                updates: vec![suspect(3, 0)],
            },
            ms(1),
        )
        .expect("a Ping");
    assert!(
        out.iter()
            .any(|o| o.message.updates().contains(&suspect(3, 0))),
        "node 1 just heard that 3 is suspect: the Ack it answers with passes the news on; it sent {out:?}"
    );
    n.tick(ms(2));
    tell(&mut n, 2, &[alive(9, 5)], ms(3));
    let out = n.tick(ms(2) + ack_timeout());
    assert!(
        !ping_reqs(&out).is_empty(),
        "the probe was not answered: PingReqs expected, got {out:?}"
    );
    assert!(
        out.iter()
            .filter(|o| matches!(o.message, Message::PingReq { .. }))
            .any(|o| o.message.updates().contains(&alive(9, 5))),
        "node 1 just heard that 9 is alive at incarnation 5: its PingReqs pass the news on; it sent {out:?}"
    );
}

#[test]
fn gossip_dies_out_once_nothing_changes() {
    let mut n = node(1, &[2, 3, 4, 5], 47);
    let mut last = Vec::new();
    for i in 0..100u32 {
        let now = t() * i;
        let mut out = n.tick(now);
        if let Some(&(to, seq)) = pings(&out).first() {
            out.extend(
                n.receive(
                    to,
                    Message::Ack {
                        seq,
                        updates: vec![],
                    },
                    now + ms(1),
                )
                .unwrap_or_default(),
            );
        }
        let ping = Message::Ping {
            seq: u64::from(i),
            updates: vec![],
        };
        out.extend(
            n.receive(2 + u64::from(i) % 4, ping, now + ms(2))
                .unwrap_or_default(),
        );
        if i >= 90 {
            last.extend(out);
        }
    }
    let carrying: Vec<&Outgoing> = last
        .iter()
        .filter(|o| !o.message.updates().is_empty())
        .collect();
    assert!(
        carrying.is_empty(),
        "a stable cluster of five, every probe answered, nothing new for 90 periods: the gossip has died out, yet messages still carry updates: {carrying:?}"
    );
}

// ─────────────────────────── 10. bad input ───────────────────────────

#[rstest]
#[case::from_itself(1, Message::Ping { seq: 1, updates: vec![dead(2, 9)] }, ReceiveError::FromSelf)]
#[case::too_many_updates(2, Message::Ack { seq: 1, updates: vec![dead(3, 9); 9] }, ReceiveError::Malformed)]
#[case::too_many_updates_on_a_ping(9, Message::Ping { seq: 1, updates: vec![suspect(1, 0); 9] }, ReceiveError::Malformed)]
#[case::ping_req_about_its_sender(2, Message::PingReq { seq: 1, target: 2, updates: vec![dead(3, 9)] }, ReceiveError::Malformed)]
#[case::ping_req_about_its_receiver(3, Message::PingReq { seq: 1, target: 1, updates: vec![dead(2, 9)] }, ReceiveError::Malformed)]
fn refused_messages_change_nothing(
    #[case] from: NodeId,
    #[case] message: Message,
    #[case] error: ReceiveError,
) {
    // Two twins; one receives the bad message (in its future), then both
    // live the same life.
    let mut a = node(1, &[2, 3, 4], 53);
    let mut b = node(1, &[2, 3, 4], 53);
    let before = a.members();
    let shown = format!("{message:?}");
    assert_eq!(
        a.receive(from, message, ms(5_000)),
        Err(error),
        "{shown} from {from} should be refused"
    );
    assert_eq!(
        (a.members(), a.incarnation()),
        (before, 0),
        "{shown} from {from} was refused: the view and the incarnation are unchanged"
    );
    for i in 0..30u32 {
        let now = t() * i / 2;
        let (x, y) = (a.tick(now), b.tick(now));
        assert_eq!(
            x, y,
            "{shown} from {from} (at 5 s) was refused, so it changed nothing, not even the clock: the node should behave at {now:?} like its twin that never received it"
        );
        if let Some(&(to, seq)) = pings(&x).first()
            && i % 3 != 0
        {
            let ack = Message::Ack {
                seq,
                updates: vec![],
            };
            assert_eq!(
                a.receive(to, ack.clone(), now + ms(1)),
                b.receive(to, ack, now + ms(1))
            );
        }
    }
}

#[test]
fn an_earlier_now_is_taken_as_no_time_passing() {
    // Twin a sees some instants out of order; twin b sees the latest so far
    // instead. They must behave alike.
    let mut a = node(1, &[2, 3, 4, 5], 59);
    let mut b = node(1, &[2, 3, 4, 5], 59);
    let mut latest = Duration::ZERO;
    let script: Vec<u64> = vec![
        0, 40, 20, 100, 90, 0, 140, 130, 200, 250, 180, 300, 1_400, 1_300, 1_450, 1_500, 900, 1_600,
    ];
    for (i, &at) in script.iter().enumerate() {
        let at = ms(at);
        latest = latest.max(at);
        let (x, y) = (a.tick(at), b.tick(latest));
        assert_eq!(
            x, y,
            "tick({at:?}) after an instant as late as {latest:?} should behave as tick({latest:?}): an earlier now is no time passing"
        );
        let ping = Message::Ping {
            seq: i as u64,
            updates: vec![],
        };
        let early = at.saturating_sub(ms(30));
        assert_eq!(
            a.receive(2, ping.clone(), early),
            b.receive(2, ping, latest),
            "receive at {early:?} after {latest:?} should behave as at {latest:?}"
        );
        assert_eq!(a.members(), b.members(), "after the call at {at:?}");
    }
    // News of a suspicion delivered with an instant in the past: the timer
    // starts at the latest instant seen, not in the past.
    let latest = ms(1_600);
    tell(&mut a, 2, &[suspect(9, 0)], ms(100));
    a.tick(latest + suspicion() - NS);
    assert_eq!(
        seen(&a, 9),
        Some((State::Suspect, 0)),
        "node 1 had seen {latest:?} when it heard (stamped 100ms) that 9 is suspect: the suspicion starts at {latest:?} and has not timed out one nanosecond before {:?}",
        latest + suspicion()
    );
}

#[rstest]
#[case::its_own_id_as_a_seed(&[2, 1], cfg(), ConfigError::SeedIsSelf)]
#[case::a_zero_period(&[2], Config { protocol_period: Duration::ZERO, ..cfg() }, ConfigError::InvalidConfig)]
#[case::a_zero_ack_timeout(&[2], Config { ack_timeout: Duration::ZERO, ..cfg() }, ConfigError::InvalidConfig)]
#[case::an_ack_timeout_of_a_whole_period(&[2], Config { ack_timeout: cfg().protocol_period, ..cfg() }, ConfigError::InvalidConfig)]
#[case::a_zero_suspicion_timeout(&[2], Config { suspicion_timeout: Duration::ZERO, ..cfg() }, ConfigError::InvalidConfig)]
#[case::no_retransmission(&[2], Config { retransmit_mult: 0, ..cfg() }, ConfigError::InvalidConfig)]
#[case::no_room_for_gossip(&[2], Config { max_piggyback: 0, ..cfg() }, ConfigError::InvalidConfig)]
fn new_refuses_itself_as_a_seed_and_parameters_that_cannot_work(
    #[case] seeds: &[NodeId],
    #[case] config: Config,
    #[case] error: ConfigError,
) {
    assert_eq!(
        Node::new(1, seeds, config, 0, 0, Duration::ZERO).err(),
        Some(error),
        "node 1 with seeds {seeds:?} and {config:?}"
    );
}

#[test]
fn new_accepts_the_tightest_parameters_that_work() {
    let tight = Config {
        protocol_period: NS * 2,
        ack_timeout: NS,
        indirect_probes: 0,
        suspicion_timeout: NS,
        retransmit_mult: 1,
        max_piggyback: 1,
    };
    let mut n = Node::new(1, &[2, 3], tight, 0, 0, Duration::ZERO)
        .expect("an ack timeout one nanosecond below the period, k = 0, λ = 1, one update per message: all valid");
    for i in 0..10 {
        let out = n.tick(NS * i);
        assert!(
            ping_reqs(&out).is_empty(),
            "k = 0: no PingReq ever: {out:?}"
        );
    }
    let far = Duration::MAX - NS;
    let mut n = Node::new(1, &[2, 3], cfg(), u64::MAX, 0, far).expect("valid");
    for i in 0..3 {
        n.tick(far + NS * i.min(1));
    }
    tell(&mut n, 2, &[suspect(3, 0)], Duration::MAX);
    n.tick(Duration::MAX);
    let _ = n.members();
    // A suspicion timeout of Duration::MAX: suspects are never declared
    // dead, and nothing overflows.
    let never = Config {
        suspicion_timeout: Duration::MAX,
        ..cfg()
    };
    let mut n = Node::new(1, &[2, 3], never, 0, 0, Duration::ZERO).expect("valid");
    tell(&mut n, 2, &[suspect(3, 0)], ms(1));
    for i in 0..5 {
        n.tick(t() * i);
    }
    assert_eq!(
        seen(&n, 3),
        Some((State::Suspect, 0)),
        "with a suspicion timeout of Duration::MAX a suspect stays suspect"
    );
}
