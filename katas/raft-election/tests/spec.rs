//! The specification of the raft-election kata, one node at a time.
//!
//! Every test name is a requirement; read the failing names first. These
//! tests drive a single node by hand: they play its peers, choose every
//! message and every `now`, and tick it one millisecond at a time to see
//! exactly when its timers fire. Timeouts are random, so timer tests run
//! several seeds, and "changes nothing" is checked against a twin: a node
//! with the same seed that never saw the message must behave the same
//! afterwards. Whole clusters on a simulated network are in `tests/sim.rs`.
//!
//! `cargo test -p raft-election` judges your code;
//! `cargo test -p raft-election --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use raft_election as subject;
#[cfg(feature = "solution")]
use raft_election_solution as subject;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Config, ConfigError, Message, Node, NodeId, Outgoing, Persistent, ReceiveError, Role, Term,
};

// ─────────────────────────── helpers ───────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const MIN: Duration = Duration::from_millis(150);
const MAX: Duration = Duration::from_millis(300);
const BEAT: Duration = Duration::from_millis(50);
const STEP: Duration = Duration::from_millis(1);

/// The seeds every timer test runs: the edges first.
const SEEDS: [u64; 8] = [0, u64::MAX, 1, 2, 42, 1 << 32, 0xDEAD_BEEF, u64::MAX - 1];

fn config() -> Config {
    Config::default()
}

/// Node `id` of the cluster `{id} ∪ peers`, never run, started at `now`.
fn fresh(id: NodeId, peers: &[NodeId], seed: u64, now: Duration) -> Node {
    built(id, peers, seed, Persistent::default(), now)
}

fn built(id: NodeId, peers: &[NodeId], seed: u64, state: Persistent, now: Duration) -> Node {
    Node::new(id, peers, config(), seed, state, now).unwrap_or_else(|e| {
        panic!("Node::new({id}, {peers:?}, default config, {state:?}) refused: {e:?}")
    })
}

/// Ticks every millisecond after `from` up to `until` (included) and returns
/// the first tick at which the node sent something, with what it sent.
fn first_send(
    node: &mut Node,
    from: Duration,
    until: Duration,
) -> Option<(Duration, Vec<Outgoing>)> {
    let mut now = from;
    while now < until {
        now += STEP;
        let out = node.tick(now);
        if !out.is_empty() {
            return Some((now, out));
        }
    }
    None
}

/// Ticks every millisecond after `from` up to `until` and returns when the
/// node started an election (its term went up), if it did.
fn stands_at(node: &mut Node, from: Duration, until: Duration) -> Option<Duration> {
    let term = node.term();
    let mut now = from;
    while now < until {
        now += STEP;
        node.tick(now);
        if node.term() != term {
            return Some(now);
        }
    }
    None
}

/// Like [`stands_at`], ticking every `step`.
fn stands_at_every(
    node: &mut Node,
    step: Duration,
    from: Duration,
    until: Duration,
) -> Option<Duration> {
    let term = node.term();
    let mut now = from;
    while now < until {
        now += step;
        node.tick(now);
        if node.term() != term {
            return Some(now);
        }
    }
    None
}

/// The times at which node 1 of {1, 2, 3}, seeded `seed` and never
/// answered, stands for its first `n` elections.
fn standing_times(seed: u64, n: usize) -> Vec<Duration> {
    let mut node = fresh(1, &[2, 3], seed, ms(0));
    let mut last = ms(0);
    (0..n)
        .map(|_| {
            last = stands_at(&mut node, last, last + MAX + STEP).unwrap_or_else(|| {
                panic!("seed {seed}: a candidate nobody answers stands again within {MAX:?}")
            });
            last
        })
        .collect()
}

/// The peers a batch of messages goes to, each with its message.
fn by_peer(out: &[Outgoing]) -> BTreeMap<NodeId, Vec<Message>> {
    let mut map: BTreeMap<NodeId, Vec<Message>> = BTreeMap::new();
    for o in out {
        map.entry(o.to).or_default().push(o.message);
    }
    map
}

fn receive(node: &mut Node, from: NodeId, message: Message, now: Duration) -> Vec<Outgoing> {
    node.receive(from, message, now).unwrap_or_else(|e| {
        panic!(
            "node {} refused {message:?} from peer {from} at {now:?}: {e:?}",
            node.id()
        )
    })
}

/// The vote `node` answers to a `RequestVote` from `from`.
fn vote_of(node: &mut Node, from: NodeId, request: Message, now: Duration) -> Option<(Term, bool)> {
    let out = receive(node, from, request, now);
    match out.as_slice() {
        [
            Outgoing {
                to,
                message: Message::Vote { term, granted },
            },
        ] if *to == from => Some((*term, *granted)),
        _ => None,
    }
}

fn request(term: Term, last_log_index: u64, last_log_term: Term) -> Message {
    Message::RequestVote {
        term,
        last_log_index,
        last_log_term,
    }
}

fn granted(term: Term) -> Message {
    Message::Vote {
        term,
        granted: true,
    }
}

/// Node 1 of `{1} ∪ peers`, made candidate of term 1 by its first timeout.
fn candidate(peers: &[NodeId], seed: u64) -> (Node, Duration) {
    let mut node = fresh(1, peers, seed, ms(0));
    let at = stands_at(&mut node, ms(0), MAX + STEP).unwrap_or_else(|| {
        panic!("node 1 (seed {seed}) did not stand within the longest election timeout, {MAX:?}")
    });
    assert_eq!(
        node.role(),
        Role::Candidate,
        "a node that stood for election is a candidate"
    );
    (node, at)
}

/// Node 1 of `{1} ∪ peers`, leader of term 1 with the votes of just enough
/// peers.
fn leader(peers: &[NodeId], seed: u64) -> (Node, Duration) {
    let (mut node, at) = candidate(peers, seed);
    let needed = peers.len().div_ceil(2);
    for &p in &peers[..needed] {
        receive(&mut node, p, granted(1), at);
    }
    assert_eq!(
        node.role(),
        Role::Leader,
        "a candidate of {{1}} ∪ {peers:?} with its own vote and {needed} more leads"
    );
    (node, at)
}

fn assert_same_state(node: &Node, before: (Role, Term, Option<NodeId>, Persistent), what: &str) {
    let now = (node.role(), node.term(), node.leader(), node.persistent());
    assert_eq!(
        now, before,
        "{what} changed the node's (role, term, leader, persistent state)"
    );
}

fn snapshot(node: &Node) -> (Role, Term, Option<NodeId>, Persistent) {
    (node.role(), node.term(), node.leader(), node.persistent())
}

/// `a` and `b` (built alike) behave alike from `from` on: the same messages
/// at the same ticks for `span`.
fn assert_twins(a: &mut Node, b: &mut Node, from: Duration, span: Duration, what: &str) {
    let mut now = from;
    while now < from + span {
        now += STEP;
        let (x, y) = (a.tick(now), b.tick(now));
        assert_eq!(
            x, y,
            "{what}: at {now:?} the node sent {x:?}, a twin that never saw it sent {y:?}; a refused message must change nothing, timers included"
        );
    }
}

// ─────────────────── 1. building a node ───────────────────

#[test]
fn new_refuses_its_own_id_among_the_peers() {
    let e = Node::new(2, &[1, 2, 3], config(), 7, Persistent::default(), ms(0)).err();
    assert_eq!(
        e,
        Some(ConfigError::PeerIsSelf),
        "node 2 with peers [1, 2, 3]"
    );
}

#[test]
fn new_refuses_a_peer_listed_twice() {
    let e = Node::new(1, &[2, 3, 2], config(), 7, Persistent::default(), ms(0)).err();
    assert_eq!(
        e,
        Some(ConfigError::DuplicatePeer(2)),
        "node 1 with peers [2, 3, 2]"
    );
}

#[rstest]
#[case::zero_min_timeout(0, 0, 0)]
#[case::min_above_max(300, 150, 50)]
#[case::zero_heartbeat(150, 300, 0)]
#[case::heartbeat_equal_to_min(150, 300, 150)]
#[case::heartbeat_above_min(150, 300, 200)]
fn new_refuses_timings_that_cannot_work(#[case] min: u64, #[case] max: u64, #[case] beat: u64) {
    let config = Config {
        election_timeout_min: ms(min),
        election_timeout_max: ms(max),
        heartbeat_interval: ms(beat),
    };
    let e = Node::new(1, &[2, 3], config, 7, Persistent::default(), ms(0)).err();
    assert_eq!(e, Some(ConfigError::InvalidTimeouts), "{config:?}");
}

#[test]
fn new_accepts_the_tightest_timings_that_work() {
    let config = Config {
        election_timeout_min: ms(150),
        election_timeout_max: ms(150),
        heartbeat_interval: ms(150) - Duration::from_nanos(1),
    };
    let node = Node::new(1, &[2, 3], config, 7, Persistent::default(), ms(0));
    assert!(
        node.is_ok(),
        "min == max, and a heartbeat a nanosecond shorter than the election timeout, can work: {:?}",
        node.err()
    );
}

#[test]
fn a_new_node_is_a_follower_of_no_leader_at_its_persisted_term() {
    let node = fresh(u64::MAX, &[0, 5], 3, ms(0));
    assert_eq!(
        (
            node.id(),
            node.role(),
            node.term(),
            node.leader(),
            node.persistent()
        ),
        (u64::MAX, Role::Follower, 0, None, Persistent::default()),
        "a node that never ran (any ids work, 0 and u64::MAX included)"
    );
    let state = Persistent {
        term: 9,
        voted_for: Some(3),
        last_log_index: 12,
        last_log_term: 7,
    };
    let node = built(2, &[1, 3], 3, state, ms(5_000));
    assert_eq!(
        (node.role(), node.term(), node.leader(), node.persistent()),
        (Role::Follower, 9, None, state),
        "a node restarted from {state:?}"
    );
}

// ─────────────────── 2. election timeouts ───────────────────

#[rstest]
fn a_follower_stands_for_election_once_its_timeout_elapses_and_not_before(
    #[values(0, u64::MAX, 1, 42, 0xDEAD_BEEF)] seed: u64,
) {
    let start = ms(1_000);
    let mut node = fresh(1, &[2, 3], seed, start);
    let (at, _) = first_send(&mut node, start, start + MAX + STEP).unwrap_or_else(|| {
        panic!("seed {seed}: a follower that hears nothing must stand within the longest election timeout ({MAX:?}); it sent nothing")
    });
    let waited = at - start;
    assert!(
        waited >= MIN && waited <= MAX,
        "seed {seed}: stood {waited:?} after starting; the timeout must be between {MIN:?} and {MAX:?}"
    );
    assert_eq!(
        (node.role(), node.term()),
        (Role::Candidate, 1),
        "seed {seed}: a follower that stands is a candidate of the next term"
    );
}

#[test]
fn a_candidate_asks_every_peer_for_its_vote_in_the_next_term_with_its_log_position() {
    let state = Persistent {
        term: 4,
        voted_for: Some(9),
        last_log_index: 17,
        last_log_term: 3,
    };
    let mut node = built(5, &[9, 2, 7, 1], 11, state, ms(0));
    let (_, out) =
        first_send(&mut node, ms(0), MAX + STEP).expect("a follower that hears nothing stands");
    let asks = by_peer(&out);
    let want = vec![request(5, 17, 3)];
    assert_eq!(
        asks.keys().copied().collect::<Vec<_>>(),
        [1, 2, 7, 9],
        "a candidate asks every peer, once each: sent {out:?}"
    );
    assert!(
        asks.values().all(|m| *m == want),
        "each peer gets {want:?}: sent {out:?}"
    );
    assert_eq!(
        (node.role(), node.leader(), node.persistent()),
        (
            Role::Candidate,
            None,
            Persistent {
                term: 5,
                voted_for: Some(5),
                ..state
            }
        ),
        "a candidate of term 5 has voted for itself, knows no leader, and says so in its persistent state"
    );
}

#[rstest]
fn election_timeouts_are_drawn_afresh_between_min_and_max_for_every_seed(
    #[values(0, u64::MAX, 1, 42)] seed: u64,
) {
    // Nobody answers: the candidate stands again and again.
    let mut node = fresh(1, &[2, 3], seed, ms(0));
    let mut last = ms(0);
    let mut waits = Vec::new();
    for round in 1..=20u64 {
        let at = stands_at(&mut node, last, last + MAX + STEP).unwrap_or_else(|| {
            panic!("seed {seed}: a candidate that neither wins nor hears of a leader must stand again within {MAX:?} (round {round}, waits so far {waits:?})")
        });
        assert_eq!(
            node.term(),
            round,
            "seed {seed}: each election is one term more"
        );
        waits.push(at - last);
        last = at;
    }
    assert!(
        waits.iter().all(|w| *w >= MIN && *w <= MAX),
        "seed {seed}: every timeout must be between {MIN:?} and {MAX:?}: {waits:?}"
    );
    let distinct: BTreeSet<_> = waits.iter().collect();
    assert!(
        distinct.len() >= 5,
        "seed {seed}: each election draws a fresh random timeout; 20 elections waited only {} distinct times: {waits:?}",
        distinct.len()
    );
}

#[rstest]
#[case::zero_and_one(0, 1)]
#[case::two_and_three(2, 3)]
#[case::the_last_two(u64::MAX - 1, u64::MAX)]
#[case::zero_and_max(0, u64::MAX)]
fn neighbouring_seeds_draw_different_timeouts(#[case] a: u64, #[case] b: u64) {
    let (x, y) = (standing_times(a, 10), standing_times(b, 10));
    assert_ne!(
        x, y,
        "nodes seeded {a} and {b} stood at exactly the same times in 10 elections: two seeds must give different timeouts, or nodes numbered alike stand together and split the votes"
    );
}

#[rstest]
#[case::one_and_a_half_ms(1_500, 1_600, 1_000)]
#[case::under_a_millisecond(200, 300, 100)]
fn timeouts_respect_bounds_finer_than_a_millisecond(
    #[case] min_us: u64,
    #[case] max_us: u64,
    #[case] beat_us: u64,
) {
    let us = Duration::from_micros;
    let config = Config {
        election_timeout_min: us(min_us),
        election_timeout_max: us(max_us),
        heartbeat_interval: us(beat_us),
    };
    for seed in SEEDS {
        let mut node = Node::new(1, &[2, 3], config, seed, Persistent::default(), ms(0))
            .unwrap_or_else(|e| panic!("{config:?} is valid: {e:?}"));
        let mut last = ms(0);
        for _ in 0..10 {
            let at = stands_at_every(&mut node, us(10), last, last + us(max_us) + us(10));
            let waited = at.map(|at| at - last);
            assert!(
                waited.is_some_and(|w| w >= us(min_us) && w <= us(max_us)),
                "seed {seed}, {config:?} (ticked every 10 µs): a timeout must be between {:?} and {:?}, to the nanosecond; it waited {waited:?}",
                us(min_us),
                us(max_us)
            );
            last = at.unwrap_or(last);
        }
    }
}

#[test]
fn a_timeout_can_be_the_longest_one_too() {
    // A span of one nanosecond: every timeout is min or max, both included.
    let nanos = Duration::from_nanos;
    let config = Config {
        election_timeout_min: MIN,
        election_timeout_max: MIN + nanos(1),
        heartbeat_interval: BEAT,
    };
    for seed in SEEDS {
        let mut node = Node::new(1, &[2, 3], config, seed, Persistent::default(), ms(0))
            .unwrap_or_else(|e| panic!("{config:?} is valid: {e:?}"));
        let (mut last, mut shortest, mut longest) = (ms(0), 0, 0);
        for _ in 0..40 {
            let term = node.term();
            node.tick(last + MIN - nanos(1));
            assert_eq!(
                node.term(),
                term,
                "seed {seed}: stood before the shortest timeout, {MIN:?}"
            );
            node.tick(last + MIN);
            if node.term() != term {
                shortest += 1;
                last += MIN;
                continue;
            }
            node.tick(last + MIN + nanos(1));
            assert_ne!(
                node.term(),
                term,
                "seed {seed}: did not stand at the longest timeout, {:?}",
                MIN + nanos(1)
            );
            longest += 1;
            last += MIN + nanos(1);
        }
        assert!(
            shortest > 0 && longest > 0,
            "seed {seed}, timeouts between {MIN:?} and {:?}, both included: 40 elections waited the shortest {shortest} times and the longest {longest} times",
            MIN + nanos(1)
        );
    }
}

#[test]
fn nodes_with_different_seeds_draw_different_timeouts() {
    let firsts: Vec<Duration> = SEEDS
        .iter()
        .map(|&seed| {
            let mut node = fresh(1, &[2, 3], seed, ms(0));
            stands_at(&mut node, ms(0), MAX + STEP).expect("a follower that hears nothing stands")
        })
        .collect();
    let distinct: BTreeSet<_> = firsts.iter().collect();
    assert!(
        distinct.len() >= 5,
        "nodes seeded {SEEDS:?} stood at {firsts:?}: identical timeouts make every node stand at once and split the votes for ever"
    );
}

#[test]
fn the_same_seed_gives_the_same_timeouts() {
    for seed in SEEDS {
        let mut a = fresh(1, &[2, 3], seed, ms(0));
        let mut b = fresh(1, &[2, 3], seed, ms(0));
        assert_twins(
            &mut a,
            &mut b,
            ms(0),
            ms(3_000),
            &format!("seed {seed}: two nodes built alike"),
        );
    }
}

#[test]
fn an_earlier_now_is_taken_as_no_time_passing() {
    for seed in SEEDS {
        let mut node = fresh(1, &[2, 3], seed, ms(0));
        // A vote at 1 s restarts the timer there; then a clock that went back.
        assert_eq!(
            vote_of(&mut node, 2, request(1, 0, 0), ms(1_000)),
            Some((1, true))
        );
        node.tick(ms(10));
        receive(&mut node, 2, request(1, 0, 0), ms(500));
        let at = stands_at(&mut node, ms(1_000), ms(1_000) + MAX + STEP);
        assert!(
            at.is_some_and(|at| at >= ms(1_000) + MIN),
            "seed {seed}: after a vote granted at 1000 ms, calls at 10 ms and 500 ms are no time passing; the node must stand between 1150 ms and 1300 ms, it stood at {at:?}"
        );
    }
}

// ─────────────────── 3. terms ───────────────────

#[derive(Clone, Copy, Debug)]
enum Start {
    Follower,
    Candidate,
    Leader,
}

fn started(start: Start, seed: u64) -> (Node, Duration) {
    match start {
        Start::Follower => {
            let mut node = fresh(1, &[2, 3, 4, 5], seed, ms(0));
            receive(&mut node, 2, Message::Heartbeat { term: 1 }, ms(10));
            (node, ms(10))
        }
        Start::Candidate => candidate(&[2, 3, 4, 5], seed),
        Start::Leader => leader(&[2, 3, 4, 5], seed),
    }
}

#[rstest]
fn any_message_with_a_higher_term_makes_the_node_a_follower_of_that_term(
    #[values(Start::Follower, Start::Candidate, Start::Leader)] start: Start,
    #[values(
        Message::RequestVote { term: 7, last_log_index: 0, last_log_term: 0 },
        Message::Vote { term: 7, granted: false },
        Message::Heartbeat { term: 7 },
        Message::HeartbeatResponse { term: 7 }
    )]
    message: Message,
) {
    let (mut node, at) = started(start, 5);
    receive(&mut node, 4, message, at + STEP);
    assert_eq!(
        (node.role(), node.term()),
        (Role::Follower, 7),
        "a {start:?} of term 1 that receives {message:?} follows term 7"
    );
    assert_eq!(
        node.persistent().term,
        7,
        "{start:?}: the new term is in the persistent state as soon as the call returns"
    );
    let voted = node.persistent().voted_for;
    match message {
        Message::RequestVote { .. } => assert_eq!(
            voted,
            Some(4),
            "{start:?}: in term 7 it has not voted yet, so it votes for 4"
        ),
        _ => assert_eq!(voted, None, "{start:?}: a new term starts with no vote"),
    }
    match message {
        Message::Heartbeat { .. } => assert_eq!(
            node.leader(),
            Some(4),
            "{start:?}: the sender of a heartbeat of term 7 leads it"
        ),
        _ => assert_eq!(
            node.leader(),
            None,
            "{start:?}: no leader of term 7 is known yet"
        ),
    }
}

#[rstest]
fn a_request_from_an_older_term_is_refused_with_the_newer_term(
    #[values(Start::Follower, Start::Candidate, Start::Leader)] start: Start,
) {
    let (mut node, at) = started(start, 5);
    receive(&mut node, 3, Message::Heartbeat { term: 6 }, at + STEP);
    let before = snapshot(&node);
    let vote = vote_of(&mut node, 4, request(5, 100, 5), at + STEP);
    assert_eq!(
        vote,
        Some((6, false)),
        "{start:?} now at term 6: a RequestVote of term 5 (however good its log) is answered Vote {{ term: 6, granted: false }}"
    );
    assert_same_state(&node, before, "a RequestVote of an older term");
}

#[rstest]
fn a_heartbeat_from_an_older_term_is_answered_with_the_newer_term_and_changes_nothing(
    #[values(Start::Follower, Start::Candidate, Start::Leader)] start: Start,
) {
    let (mut node, at) = started(start, 9);
    let newer = node.term() + 1;
    receive(&mut node, 5, request(newer, 0, 0), at + STEP);
    let before = snapshot(&node);
    let out = receive(
        &mut node,
        3,
        Message::Heartbeat { term: newer - 1 },
        at + STEP * 2,
    );
    assert_eq!(
        out,
        vec![Outgoing {
            to: 3,
            message: Message::HeartbeatResponse { term: newer }
        }],
        "{start:?} at term {newer}: a deposed leader's heartbeat of term {} is answered with term {newer}, so it learns",
        newer - 1
    );
    assert_same_state(&node, before, "a heartbeat of an older term");
}

#[rstest]
fn votes_and_responses_of_an_older_term_change_nothing(
    #[values(Start::Follower, Start::Candidate, Start::Leader)] start: Start,
) {
    let (mut node, at) = started(start, 13);
    receive(&mut node, 5, Message::Heartbeat { term: 3 }, at + STEP);
    let before = snapshot(&node);
    for (from, message) in [
        (2, granted(2)),
        (3, granted(1)),
        (
            4,
            Message::Vote {
                term: 2,
                granted: false,
            },
        ),
        (2, Message::HeartbeatResponse { term: 2 }),
    ] {
        let out = receive(&mut node, from, message, at + STEP * 2);
        assert!(
            out.is_empty(),
            "{start:?} at term 3: {message:?} from {from} is stale and needs no answer, got {out:?}"
        );
    }
    assert_same_state(&node, before, "stale votes and heartbeat responses");
}

// ─────────────────── 4. one vote per term ───────────────────

#[test]
fn a_follower_votes_for_the_first_candidate_of_a_term_and_refuses_a_second() {
    let mut node = fresh(1, &[2, 3, 4], 3, ms(0));
    assert_eq!(
        vote_of(&mut node, 2, request(1, 0, 0), ms(10)),
        Some((1, true)),
        "the first candidate of term 1 gets the vote"
    );
    assert_eq!(
        node.persistent().voted_for,
        Some(2),
        "the vote is in the persistent state"
    );
    assert_eq!(
        vote_of(&mut node, 3, request(1, 0, 0), ms(11)),
        Some((1, false)),
        "a second candidate of term 1 is refused"
    );
    assert_eq!(
        vote_of(&mut node, 3, request(2, 0, 0), ms(12)),
        Some((2, true)),
        "a candidate of term 2 may have the vote of term 2"
    );
    assert_eq!(
        vote_of(&mut node, 2, request(2, 0, 0), ms(13)),
        Some((2, false)),
        "and then no other in term 2"
    );
}

#[test]
fn a_duplicate_request_from_the_candidate_it_voted_for_is_granted_again() {
    let mut node = fresh(1, &[2, 3], 3, ms(0));
    for t in [10, 11, 12] {
        assert_eq!(
            vote_of(&mut node, 2, request(1, 0, 0), ms(t)),
            Some((1, true)),
            "the network delivered candidate 2's request again: the same answer"
        );
    }
    assert_eq!(
        vote_of(&mut node, 3, request(1, 0, 0), ms(13)),
        Some((1, false))
    );
}

#[rstest]
//     mine (index, term)  theirs (index, term)  granted
#[case::both_empty((0, 0), (0, 0), true)]
#[case::same_log((10, 3), (10, 3), true)]
#[case::longer_same_term((10, 3), (11, 3), true)]
#[case::shorter_same_term((10, 3), (9, 3), false)]
#[case::newer_term_shorter((10, 3), (2, 4), true)]
#[case::older_term_longer((10, 3), (50, 2), false)]
#[case::empty_against_any((1, 1), (0, 0), false)]
#[case::huge_values((u64::MAX, u64::MAX - 1), (0, u64::MAX), true)]
fn a_vote_goes_only_to_a_candidate_whose_log_is_at_least_as_up_to_date(
    #[case] mine: (u64, Term),
    #[case] theirs: (u64, Term),
    #[case] expected: bool,
) {
    let state = Persistent {
        term: u64::MAX,
        voted_for: None,
        last_log_index: mine.0,
        last_log_term: mine.1,
    };
    let mut node = built(1, &[2, 3], 3, state, ms(0));
    let term = u64::MAX;
    let vote = vote_of(&mut node, 2, request(term, theirs.0, theirs.1), ms(1));
    assert_eq!(
        vote,
        Some((term, expected)),
        "my log ends at (index, term) {mine:?}, the candidate's at {theirs:?}: up to date means a greater last term, or the same last term and an index at least as great"
    );
    assert_eq!(node.persistent().voted_for, expected.then_some(2));
}

#[rstest]
fn a_candidate_or_leader_refuses_other_candidates_of_its_own_term(
    #[values(Start::Candidate, Start::Leader)] start: Start,
) {
    let (mut node, at) = started(start, 17);
    let vote = vote_of(&mut node, 5, request(1, 99, 99), at + STEP);
    assert_eq!(
        vote,
        Some((1, false)),
        "a {start:?} of term 1 voted for itself in term 1"
    );
    assert_eq!(
        node.role(),
        if matches!(start, Start::Leader) {
            Role::Leader
        } else {
            Role::Candidate
        }
    );
}

#[test]
fn granting_a_vote_restarts_the_election_timer() {
    for seed in SEEDS {
        let mut node = fresh(1, &[2, 3], seed, ms(0));
        assert_eq!(
            vote_of(&mut node, 2, request(1, 0, 0), ms(149)),
            Some((1, true))
        );
        let at = stands_at(&mut node, ms(149), ms(149) + MAX + STEP);
        assert!(
            at.is_some_and(|at| at >= ms(149) + MIN),
            "seed {seed}: a vote granted at 149 ms restarts the timer, so the node stands between 299 ms and 449 ms; it stood at {at:?}"
        );
    }
}

#[test]
fn refusing_a_vote_does_not_restart_the_election_timer() {
    for seed in SEEDS {
        let state = Persistent {
            term: 0,
            voted_for: None,
            last_log_index: 5,
            last_log_term: 0,
        };
        let mut node = built(1, &[2, 3], seed, state, ms(0));
        // A candidate with a shorter log: refused.
        assert_eq!(
            vote_of(&mut node, 2, request(1, 4, 0), ms(149)),
            Some((1, false))
        );
        let at = stands_at(&mut node, ms(149), MAX + STEP);
        assert!(
            at.is_some(),
            "seed {seed}: a refused vote does not restart the timer that started at 0 ms, so the node stands by {MAX:?}; it had not"
        );
    }
}

// ─────────────────── 5. winning ───────────────────

#[rstest]
#[case::two(2, 2)]
#[case::three(3, 2)]
#[case::four(4, 3)]
#[case::five(5, 3)]
#[case::six(6, 4)]
#[case::seven(7, 4)]
fn a_candidate_leads_once_a_majority_of_the_whole_cluster_voted_for_it(
    #[case] size: u64,
    #[case] majority: usize,
) {
    let peers: Vec<NodeId> = (2..=size).collect();
    let (mut node, at) = candidate(&peers, 21);
    for (n, &p) in peers.iter().enumerate() {
        let votes = n + 2; // its own, the ones before, this one
        let out = receive(&mut node, p, granted(1), at + STEP);
        if votes < majority {
            assert_eq!(
                node.role(),
                Role::Candidate,
                "cluster of {size}: {votes} votes of {majority} needed"
            );
        } else if votes == majority {
            assert_eq!(
                node.role(),
                Role::Leader,
                "cluster of {size}: {votes} votes are a majority"
            );
            let beats = by_peer(&out);
            assert!(
                beats.len() == peers.len()
                    && beats
                        .values()
                        .all(|m| *m == vec![Message::Heartbeat { term: 1 }]),
                "cluster of {size}: the new leader sends Heartbeat {{ term: 1 }} to every peer from the call that made it leader, sent {out:?}"
            );
            break;
        }
    }
}

#[test]
fn a_vote_delivered_twice_by_one_voter_counts_once() {
    // A cluster of four: a majority is three.
    let (mut node, at) = candidate(&[2, 3, 4], 23);
    receive(&mut node, 2, granted(1), at + STEP);
    receive(&mut node, 2, granted(1), at + STEP * 2);
    assert_eq!(
        node.role(),
        Role::Candidate,
        "votes are counted per voter: its own and node 2's are 2 of the 3 needed in a cluster of 4"
    );
    receive(&mut node, 3, granted(1), at + STEP * 3);
    assert_eq!(node.role(), Role::Leader, "node 3's vote makes 3 of 4");
}

#[test]
fn refused_votes_and_votes_of_an_earlier_election_count_for_nothing() {
    // A cluster of five: a majority is three.
    let (mut node, at) = candidate(&[2, 3, 4, 5], 29);
    receive(
        &mut node,
        2,
        Message::Vote {
            term: 1,
            granted: false,
        },
        at + STEP,
    );
    receive(
        &mut node,
        3,
        Message::Vote {
            term: 1,
            granted: false,
        },
        at + STEP,
    );
    assert_eq!(node.role(), Role::Candidate, "refused votes are not votes");
    receive(&mut node, 4, granted(1), at + STEP);
    let again = stands_at(&mut node, at, at + MAX + STEP)
        .expect("a candidate that does not win stands again");
    assert_eq!(node.term(), 2);
    receive(&mut node, 5, granted(2), again + STEP);
    assert_eq!(
        node.role(),
        Role::Candidate,
        "in term 2 it has its own vote and node 5's; node 4's vote was for term 1 and does not carry over"
    );
    receive(&mut node, 4, granted(1), again + STEP);
    assert_eq!(
        node.role(),
        Role::Candidate,
        "a late vote of term 1 counts for nothing in term 2"
    );
    receive(&mut node, 3, granted(2), again + STEP);
    assert_eq!(
        node.role(),
        Role::Leader,
        "nodes 3 and 5 in term 2, with its own: a majority"
    );
}

#[test]
fn a_node_that_is_no_longer_a_candidate_ignores_votes() {
    let (mut node, at) = leader(&[2, 3, 4, 5], 31);
    let before = snapshot(&node);
    receive(&mut node, 4, granted(1), at + STEP);
    receive(
        &mut node,
        5,
        Message::Vote {
            term: 1,
            granted: false,
        },
        at + STEP,
    );
    assert_same_state(&node, before, "late votes to a leader");
    let mut node = fresh(1, &[2, 3], 31, ms(0));
    receive(&mut node, 2, Message::Heartbeat { term: 1 }, ms(1));
    receive(&mut node, 3, granted(1), ms(2));
    assert_eq!(
        (node.role(), node.leader()),
        (Role::Follower, Some(2)),
        "a follower given a vote it never asked for stays a follower"
    );
}

#[rstest]
fn a_one_node_cluster_elects_itself_at_its_first_timeout(#[values(0, u64::MAX, 7)] seed: u64) {
    let mut node = fresh(7, &[], seed, ms(0));
    let at = stands_at(&mut node, ms(0), MAX + STEP);
    assert!(
        at.is_some_and(|at| at >= MIN),
        "seed {seed}: a lone node stands after its timeout, at {at:?}"
    );
    assert_eq!(
        (
            node.role(),
            node.term(),
            node.leader(),
            node.persistent().voted_for
        ),
        (Role::Leader, 1, Some(7), Some(7)),
        "seed {seed}: its own vote is a majority of one: it leads term 1 at once"
    );
    assert!(
        stands_at(&mut node, at.unwrap_or_default(), ms(10_000)).is_none(),
        "a lone leader never stands again"
    );
}

// ─────────────────── 6. leading ───────────────────

#[test]
fn a_leader_sends_a_heartbeat_to_every_peer_every_interval() {
    let peers = [2, 3, 4, 5];
    let (mut node, at) = leader(&peers, 37);
    let mut rounds = Vec::new();
    let mut now = at;
    while now < at + ms(1_000) {
        now += STEP;
        let out = node.tick(now);
        if out.is_empty() {
            continue;
        }
        let beats = by_peer(&out);
        assert!(
            beats.len() == peers.len()
                && beats
                    .values()
                    .all(|m| *m == vec![Message::Heartbeat { term: 1 }]),
            "at {now:?} a leader of term 1 sends Heartbeat {{ term: 1 }} to each peer once, sent {out:?}"
        );
        rounds.push(now);
    }
    let mut last = at;
    for r in &rounds {
        let gap = *r - last;
        assert!(
            gap >= BEAT && gap <= BEAT + STEP,
            "heartbeats go out every {BEAT:?} (ticked every ms): rounds at {rounds:?} after leading at {at:?}"
        );
        last = *r;
    }
    assert!(
        at + ms(1_000) - last < BEAT + STEP,
        "heartbeats keep going: rounds {rounds:?}"
    );
    assert_eq!(node.role(), Role::Leader);
}

#[rstest]
fn a_follower_or_candidate_follows_the_sender_of_a_heartbeat_of_its_term(
    #[values(Start::Follower, Start::Candidate)] start: Start,
) {
    let (mut node, at) = started(start, 41);
    let voted = node.persistent().voted_for;
    let out = receive(&mut node, 3, Message::Heartbeat { term: 1 }, at + STEP);
    assert_eq!(
        out,
        vec![Outgoing {
            to: 3,
            message: Message::HeartbeatResponse { term: 1 }
        }],
        "a {start:?} of term 1 answers a heartbeat of term 1"
    );
    assert_eq!(
        (
            node.role(),
            node.term(),
            node.leader(),
            node.persistent().voted_for
        ),
        (Role::Follower, 1, Some(3), voted),
        "a {start:?} of term 1 follows node 3, the leader of term 1, and keeps its vote"
    );
}

#[rstest]
fn a_heartbeat_of_its_term_restarts_the_election_timer(
    #[values(Start::Follower, Start::Candidate)] start: Start,
) {
    for seed in SEEDS {
        let (mut node, at) = started(start, seed);
        // Just before the shortest timeout could elapse.
        let beat = at + MIN - STEP;
        assert!(
            stands_at(&mut node, at, beat - STEP).is_none(),
            "seed {seed}: a {start:?} stood before its shortest timeout"
        );
        receive(&mut node, 2, Message::Heartbeat { term: 1 }, beat);
        let again = stands_at(&mut node, beat, beat + MAX + STEP);
        assert!(
            again.is_some_and(|t| t >= beat + MIN),
            "seed {seed}: a {start:?} that heard the leader of its term at {beat:?} must not stand before {:?}; it stood at {again:?}",
            beat + MIN
        );
    }
}

#[test]
fn a_follower_that_hears_heartbeats_never_stands_for_election() {
    for seed in SEEDS {
        let mut node = fresh(1, &[2, 3], seed, ms(0));
        // The slowest heartbeats that still beat the shortest timeout.
        let mut now = ms(0);
        for beat in 1..=60 {
            let next = now + MIN - STEP;
            assert!(
                stands_at(&mut node, now, next).is_none(),
                "seed {seed}: a follower that heard a heartbeat of its leader {:?} ago stood for election (heartbeat {beat})",
                next - now
            );
            now = next;
            receive(&mut node, 2, Message::Heartbeat { term: 1 }, now);
        }
        assert_eq!(
            (node.role(), node.term(), node.leader()),
            (Role::Follower, 1, Some(2))
        );
    }
}

#[test]
fn a_leader_ticked_after_a_long_pause_sends_one_round_then_keeps_its_interval() {
    let (mut node, at) = leader(&[2, 3, 4], 71);
    // The driver stalled for 10 s (a GC pause, a slow disk), then ticks
    // every millisecond again.
    let resumed = at + ms(10_000);
    let out = node.tick(resumed);
    assert_eq!(
        out.len(),
        3,
        "a heartbeat is overdue: one to each peer, sent {out:?}"
    );
    let mut rounds = vec![resumed];
    let mut now = resumed;
    while now < resumed + ms(300) {
        now += STEP;
        if !node.tick(now).is_empty() {
            rounds.push(now);
        }
    }
    assert!(
        rounds.windows(2).all(|w| w[1] - w[0] >= BEAT),
        "after the pause, heartbeats go out every {BEAT:?}, not in a burst that catches up: rounds at {rounds:?}"
    );
    assert!(
        rounds.len() >= 6,
        "and they keep going: rounds at {rounds:?}"
    );
}

#[test]
fn a_leader_that_steps_down_stands_again_only_after_a_fresh_timeout() {
    for seed in SEEDS {
        let (mut node, at) = leader(&[2, 3], seed);
        // It leads for a while, then learns of term 2 from an answer.
        let down = at + ms(1_000);
        node.tick(down);
        receive(&mut node, 2, Message::HeartbeatResponse { term: 2 }, down);
        assert_eq!(
            (node.role(), node.term()),
            (Role::Follower, 2),
            "seed {seed}: a leader that hears of term 2 follows it"
        );
        let again = stands_at(&mut node, down, down + MAX + STEP);
        assert!(
            again.is_some_and(|t| t >= down + MIN),
            "seed {seed}: stepped down at {down:?} and heard from no leader: it stands again after a fresh timeout, between {:?} and {:?}; it stood at {again:?}",
            down + MIN,
            down + MAX
        );
    }
}

// ─────────────────── 7. persistence ───────────────────

#[test]
fn a_restarted_node_keeps_its_term_and_vote_and_never_votes_twice_in_a_term() {
    let mut node = fresh(1, &[2, 3], 43, ms(0));
    assert_eq!(
        vote_of(&mut node, 2, request(5, 0, 0), ms(10)),
        Some((5, true))
    );
    let saved = node.persistent();
    assert_eq!(
        saved,
        Persistent {
            term: 5,
            voted_for: Some(2),
            last_log_index: 0,
            last_log_term: 0
        },
        "the vote is in the persistent state as soon as the call returns"
    );
    // A crash, then a restart from what was saved.
    let mut node = built(1, &[2, 3], 44, saved, ms(20));
    assert_eq!(node.term(), 5);
    assert_eq!(
        vote_of(&mut node, 3, request(5, 0, 0), ms(21)),
        Some((5, false)),
        "restarted from {saved:?}: it voted for 2 in term 5 and must not vote for 3"
    );
    assert_eq!(
        vote_of(&mut node, 2, request(5, 0, 0), ms(22)),
        Some((5, true)),
        "node 2's request again: the same answer"
    );
}

#[test]
fn a_restarted_candidate_keeps_its_own_vote_and_its_log_position() {
    let state = Persistent {
        term: 3,
        voted_for: None,
        last_log_index: 8,
        last_log_term: 3,
    };
    let mut node = built(1, &[2, 3], 47, state, ms(0));
    let (_, out) = first_send(&mut node, ms(0), MAX + STEP).expect("it stands");
    assert!(
        out.iter().all(|o| o.message == request(4, 8, 3)),
        "asks with its log position: {out:?}"
    );
    let saved = node.persistent();
    assert_eq!(
        saved,
        Persistent {
            term: 4,
            voted_for: Some(1),
            ..state
        }
    );
    let mut node = built(1, &[2, 3], 48, saved, ms(400));
    assert_eq!(
        vote_of(&mut node, 2, request(4, 100, 3), ms(401)),
        Some((4, false)),
        "restarted from {saved:?}: it voted for itself in term 4"
    );
}

// ─────────────────── 8. bad input ───────────────────

#[rstest]
fn a_message_from_an_unknown_node_is_refused_and_changes_nothing(
    #[values(Start::Follower, Start::Candidate, Start::Leader)] start: Start,
    #[values(1, 6, u64::MAX)] stranger: NodeId,
) {
    let (mut node, at) = started(start, 53);
    let (mut twin, _) = started(start, 53);
    let before = snapshot(&node);
    for message in [
        request(u64::MAX, u64::MAX, u64::MAX),
        request(1, 5, 1),
        granted(1),
        Message::Heartbeat { term: u64::MAX },
        Message::Heartbeat { term: 1 },
        Message::HeartbeatResponse { term: 9 },
    ] {
        // Stamped far in the future: a refused message moves no clock either.
        let result = node.receive(stranger, message, at + ms(10_000));
        assert_eq!(
            result,
            Err(ReceiveError::UnknownNode(stranger)),
            "{message:?} from {stranger}, not a peer of node 1 (peers 2 to 5)"
        );
    }
    assert_same_state(&node, before, "messages from a node that is not a peer");
    assert_twins(
        &mut node,
        &mut twin,
        at + STEP,
        ms(2_000),
        "messages from a stranger",
    );
}

#[rstest]
fn a_message_carrying_term_zero_is_refused_as_malformed(
    #[values(
        Message::RequestVote { term: 0, last_log_index: 0, last_log_term: 0 },
        Message::Vote { term: 0, granted: true },
        Message::Heartbeat { term: 0 },
        Message::HeartbeatResponse { term: 0 }
    )]
    message: Message,
) {
    let mut node = fresh(1, &[2, 3], 59, ms(0));
    let mut twin = fresh(1, &[2, 3], 59, ms(0));
    let before = snapshot(&node);
    // Stamped far in the future: a refused message moves no clock either.
    assert_eq!(
        node.receive(2, message, ms(10_000)),
        Err(ReceiveError::Malformed),
        "{message:?} to a node that never ran"
    );
    assert_same_state(&node, before, "a message carrying term 0");
    assert_twins(
        &mut node,
        &mut twin,
        ms(1),
        ms(1_000),
        "a message carrying term 0",
    );
}

#[test]
fn a_node_at_term_u64_max_stays_a_follower_and_nothing_overflows() {
    // Told of the last term by a peer.
    let mut node = fresh(1, &[2, 3], 61, ms(0));
    assert_eq!(
        vote_of(&mut node, 2, request(u64::MAX, 0, 0), ms(1)),
        Some((u64::MAX, true))
    );
    let mut now = ms(1);
    while now < ms(5_000) {
        now += STEP;
        for o in node.tick(now) {
            assert_eq!(o.message.term(), u64::MAX, "at term u64::MAX it sent {o:?}");
        }
    }
    assert_eq!(
        (node.role(), node.term()),
        (Role::Follower, u64::MAX),
        "at term u64::MAX there is no next term to stand in"
    );
    // A candidate of the last term, whose election fails.
    let state = Persistent {
        term: u64::MAX - 1,
        ..Persistent::default()
    };
    let mut node = built(1, &[2, 3], 61, state, ms(0));
    let mut now = ms(0);
    while now < ms(5_000) {
        now += STEP;
        for o in node.tick(now) {
            assert_eq!(
                o.message.term(),
                u64::MAX,
                "from term u64::MAX - 1 it sent {o:?}"
            );
        }
    }
    assert_eq!(node.term(), u64::MAX);
    assert_ne!(node.role(), Role::Leader, "nobody voted for it");
}

#[test]
fn a_clock_near_duration_max_never_panics() {
    let end = Duration::MAX;
    let mut node = fresh(1, &[2, 3], 67, end - ms(1));
    node.tick(end);
    receive(&mut node, 2, request(3, 0, 0), end);
    node.tick(end);
    let mut lone = fresh(1, &[], 67, end - ms(400));
    let mut now = end - ms(400);
    while now < end {
        now += STEP;
        lone.tick(now);
    }
    lone.tick(end);
    receive(&mut node, 3, Message::Heartbeat { term: 9 }, end);
    assert_eq!((node.term(), node.leader()), (9, Some(3)));
}

// ─────────────── 9. random histories, against a model ───────────────

#[derive(Clone, Debug)]
enum Op {
    Tick(u64),
    Deliver {
        from: NodeId,
        message: Message,
        late_ms: u64,
    },
}

fn term_strategy() -> impl Strategy<Value = Term> {
    prop_oneof![4 => 1..6u64, 1 => Just(u64::MAX), 1 => Just(0u64)]
}

fn message_strategy() -> impl Strategy<Value = Message> {
    prop_oneof![
        (term_strategy(), 0..3u64, 0..3u64).prop_map(|(term, i, t)| request(term, i, t)),
        (term_strategy(), any::<bool>())
            .prop_map(|(term, granted)| Message::Vote { term, granted }),
        term_strategy().prop_map(|term| Message::Heartbeat { term }),
        term_strategy().prop_map(|term| Message::HeartbeatResponse { term }),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1..400u64).prop_map(Op::Tick),
        3 => (prop_oneof![6 => 2..6u64, 1 => Just(1u64), 1 => Just(9u64)], message_strategy(), 0..3u64)
            .prop_map(|(from, message, late_ms)| Op::Deliver { from, message, late_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Node 1 of {1..5} gets random ticks and random messages from peers
    /// and strangers (stale, duplicated, term 0, term u64::MAX, sometimes
    /// with a `now` a little in the past). A model that sees the same calls
    /// checks after each one: terms never go down and follow any higher
    /// term; one vote per term; leadership only with a majority of distinct
    /// granted votes of that term, received as a candidate of that term.
    #[test]
    fn random_message_histories_keep_terms_votes_and_majorities(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op_strategy(), 1..120),
    ) {
        let peers = [2, 3, 4, 5];
        let mut node = fresh(1, &peers, seed, ms(0));
        let mut now = ms(0);
        let mut term = 0;
        let mut votes: BTreeMap<Term, NodeId> = BTreeMap::new();
        let mut asked: BTreeSet<Term> = BTreeSet::new();
        let mut granted_by: BTreeMap<Term, BTreeSet<NodeId>> = BTreeMap::new();
        for op in ops {
            let (out, higher) = match op {
                Op::Tick(d) => {
                    now += ms(d);
                    (node.tick(now), None)
                }
                Op::Deliver { from, message, late_ms } => {
                    let at = now.saturating_sub(ms(late_ms));
                    let was_candidate = node.role() == Role::Candidate;
                    let result = node.receive(from, message, at);
                    if !peers.contains(&from) {
                        prop_assert_eq!(result.clone(), Err(ReceiveError::UnknownNode(from)));
                    } else if message.term() == 0 {
                        prop_assert_eq!(result.clone(), Err(ReceiveError::Malformed));
                    } else if let Message::Vote { term: t, granted: true } = message
                        && was_candidate
                        && t == term
                    {
                        granted_by.entry(t).or_default().insert(from);
                    }
                    let higher = (result.is_ok() && message.term() > term).then_some(message.term());
                    (result.unwrap_or_default(), higher)
                }
            };
            prop_assert!(node.term() >= term, "the term went down from {} to {}", term, node.term());
            if let Some(h) = higher {
                prop_assert_eq!(node.term(), h, "a message of a higher term is followed");
            }
            if node.term() > term {
                term = node.term();
            }
            for o in &out {
                prop_assert!(peers.contains(&o.to), "sent {:?} to a node that is not a peer", o);
                prop_assert!(o.message.term() != 0, "sent term 0: {:?}", o);
                match o.message {
                    Message::Vote { term: t, granted: true } => {
                        let first = *votes.entry(t).or_insert(o.to);
                        prop_assert_eq!(first, o.to, "voted for two candidates in term {}", t);
                    }
                    Message::RequestVote { term: t, .. } => {
                        asked.insert(t);
                        votes.entry(t).or_insert(1);
                    }
                    _ => {}
                }
            }
            if let Some(v) = node.persistent().voted_for {
                let first = *votes.entry(node.term()).or_insert(v);
                prop_assert_eq!(first, v, "the persistent vote of term {} changed", node.term());
            }
            if node.role() == Role::Leader {
                let t = node.term();
                let n = granted_by.get(&t).map_or(0, BTreeSet::len);
                prop_assert!(
                    asked.contains(&t) && n + 1 >= 3,
                    "leads term {} with {} distinct granted votes of that term besides its own (3 of 5 needed), asked: {}",
                    t, n, asked.contains(&t)
                );
            }
        }
    }
}
