//! The specification of the quorum-kv kata, one node driven by hand: the
//! spec plays the network and the other replicas, call by call, and reads
//! what the node sends and which operations it completes.
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

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Answer, Completion, Config, ConfigError, Key, Message, Node, NodeId, OpError, Output,
    ReceiveError, RequestId, Version, Versioned,
};

// ─────────────────────────── helpers ───────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const TIMEOUT: Duration = Duration::from_millis(100);

fn config(read: usize, write: usize) -> Config {
    Config {
        read_quorum: read,
        write_quorum: write,
        timeout: TIMEOUT,
    }
}

fn v(counter: u64, writer: NodeId) -> Version {
    Version { counter, writer }
}

fn val(counter: u64, writer: NodeId, bytes: &str) -> Versioned {
    Versioned {
        version: v(counter, writer),
        value: bytes.as_bytes().to_vec(),
    }
}

fn key(k: &str) -> Key {
    k.to_string()
}

/// Node `id` of `{id} ∪ peers`, boot 0, storing `stored`, at t = 0.
fn node_with(id: NodeId, peers: &[NodeId], cfg: Config, stored: &[(&str, Versioned)]) -> Node {
    let stored: BTreeMap<Key, Versioned> =
        stored.iter().map(|(k, x)| (key(k), x.clone())).collect();
    Node::new(id, peers, cfg, 0, stored, Duration::ZERO).unwrap_or_else(|e| {
        panic!("Node::new({id}, {peers:?}, {cfg:?}) refused a valid configuration: {e:?}")
    })
}

/// Node 1 of {1, 2, 3} (R = W = 2), or of {1..5} with the given quorums.
fn three() -> Node {
    node_with(1, &[2, 3], config(2, 2), &[])
}

fn five(read: usize, write: usize) -> Node {
    node_with(1, &[2, 3, 4, 5], config(read, write), &[])
}

fn recv(node: &mut Node, from: NodeId, message: Message, now: Duration) -> Output {
    let shown = format!("{message:?}");
    node.receive(from, message, now)
        .unwrap_or_else(|e| panic!("receive({from}, {shown}) refused a valid message: {e:?}"))
}

fn reply(
    node: &mut Node,
    from: NodeId,
    request: RequestId,
    stored: Option<Versioned>,
    now: Duration,
) -> Output {
    recv(node, from, Message::GetReply { request, stored }, now)
}

fn ack(node: &mut Node, from: NodeId, request: RequestId, now: Duration) -> Output {
    recv(node, from, Message::PutAck { request }, now)
}

/// The completion of `request` in `out`, if any; panics if it is there twice.
fn done(out: &Output, request: RequestId) -> Option<Result<Answer, OpError>> {
    let mine: Vec<&Completion> = out
        .completed
        .iter()
        .filter(|c| c.request == request)
        .collect();
    assert!(
        mine.len() <= 1,
        "operation {request:?} was reported {} times in one call: each operation finishes exactly once",
        mine.len()
    );
    mine.first().map(|c| c.result.clone())
}

/// Recipients of the `Get`s of `request` in `out`, sorted.
fn gets_to(out: &Output, request: RequestId, k: &str) -> Vec<NodeId> {
    let mut to: Vec<NodeId> = out
        .messages
        .iter()
        .filter(
            |o| matches!(&o.message, Message::Get { request: r, key } if *r == request && key == k),
        )
        .map(|o| o.to)
        .collect();
    to.sort_unstable();
    to
}

/// The `Put`s of `request` in `out`: (recipient, value), sorted.
fn puts(out: &Output, request: RequestId) -> Vec<(NodeId, Key, Versioned)> {
    let mut all: Vec<(NodeId, Key, Versioned)> = out
        .messages
        .iter()
        .filter_map(|o| match &o.message {
            Message::Put {
                request: r,
                key,
                value,
            } if *r == request => Some((o.to, key.clone(), value.clone())),
            _ => None,
        })
        .collect();
    all.sort_by_key(|a| a.0);
    all
}

/// Runs a write on node 1 of {1, 2, 3} (R = W = 2) to completion, with node 2
/// answering `prior` and acknowledging; returns its version.
fn write_through(
    node: &mut Node,
    k: &str,
    bytes: &str,
    prior: Option<Versioned>,
    now: Duration,
) -> Version {
    let (put, _) = node.put(key(k), bytes.as_bytes().to_vec(), now);
    reply(node, 2, put, prior, now);
    let out = ack(node, 2, put, now);
    match done(&out, put) {
        Some(Ok(Answer::Written(version))) => version,
        other => panic!(
            "a write of {k:?} answered by node 2 and acknowledged by node 2 (R = W = 2 of 3) should complete, got {other:?}"
        ),
    }
}

// ─────────────────────── 1. building a node ───────────────────────

#[test]
fn new_refuses_its_own_id_among_its_peers_and_a_peer_listed_twice() {
    let cfg = config(1, 1);
    assert_eq!(
        Node::new(1, &[2, 1], cfg, 0, BTreeMap::new(), ms(0)).err(),
        Some(ConfigError::PeerIsSelf),
        "node 1 with peers [2, 1] names itself as a peer"
    );
    assert_eq!(
        Node::new(1, &[2, 3, 2], cfg, 0, BTreeMap::new(), ms(0)).err(),
        Some(ConfigError::DuplicatePeer(2)),
        "node 1 with peers [2, 3, 2] lists peer 2 twice"
    );
}

#[rstest]
#[case::read_quorum_zero(3, 0, 2)]
#[case::write_quorum_zero(3, 2, 0)]
#[case::read_quorum_above_n(3, 4, 2)]
#[case::write_quorum_above_n(3, 2, 4)]
#[case::both_above_n(5, 6, 6)]
#[case::one_node_with_r_of_two(1, 2, 1)]
fn new_refuses_an_r_or_a_w_of_zero_or_above_n(
    #[case] n: u64,
    #[case] read: usize,
    #[case] write: usize,
) {
    let peers: Vec<NodeId> = (2..=n).collect();
    assert_eq!(
        Node::new(1, &peers, config(read, write), 0, BTreeMap::new(), ms(0)).err(),
        Some(ConfigError::InvalidQuorum {
            read,
            write,
            replicas: n as usize
        }),
        "R = {read}, W = {write} with N = {n} replicas must be refused: each must be between 1 and N"
    );
}

#[rstest]
#[case::majorities_of_three(3, 2, 2)]
#[case::r_and_w_equal_to_n(3, 3, 3)]
#[case::r_one_w_n(3, 1, 3)]
#[case::r_n_w_one(5, 5, 1)]
#[case::sloppy_r_plus_w_at_most_n(5, 2, 2)]
#[case::one_and_one_of_five(5, 1, 1)]
#[case::one_node_store(1, 1, 1)]
fn new_accepts_every_r_and_w_from_one_to_n_even_when_r_plus_w_is_at_most_n(
    #[case] n: u64,
    #[case] read: usize,
    #[case] write: usize,
) {
    let peers: Vec<NodeId> = (2..=n).collect();
    let made = Node::new(1, &peers, config(read, write), 0, BTreeMap::new(), ms(0));
    assert!(
        made.is_ok(),
        "R = {read}, W = {write} with N = {n} is a valid configuration (R + W ≤ N is a weaker store, not an error), got {:?}",
        made.err()
    );
}

#[test]
fn new_refuses_a_zero_timeout_and_accepts_one_nanosecond() {
    let mut cfg = config(2, 2);
    cfg.timeout = Duration::ZERO;
    assert_eq!(
        Node::new(1, &[2, 3], cfg, 0, BTreeMap::new(), ms(0)).err(),
        Some(ConfigError::ZeroTimeout),
        "a zero timeout fails every operation before it starts"
    );
    cfg.timeout = Duration::from_nanos(1);
    assert!(
        Node::new(1, &[2, 3], cfg, 0, BTreeMap::new(), ms(0)).is_ok(),
        "a 1 ns timeout is valid"
    );
}

#[test]
fn a_new_node_stores_what_it_was_given_and_has_nothing_in_flight() {
    let node = node_with(
        4,
        &[1, 2],
        config(2, 2),
        &[("cart:1", val(3, 2, "socks")), ("", val(1, 1, "empty key"))],
    );
    assert_eq!(node.id(), 4);
    assert_eq!(node.in_flight(), 0, "a new node coordinates nothing yet");
    assert_eq!(
        node.stored("cart:1"),
        Some(val(3, 2, "socks")),
        "stored is the replica's disk"
    );
    assert_eq!(
        node.stored(""),
        Some(val(1, 1, "empty key")),
        "the empty string is a key like any other"
    );
    assert_eq!(node.stored("cart:2"), None);
    assert_eq!(
        node.snapshot().len(),
        2,
        "the snapshot is everything stored"
    );
}

// ─────────────────────── 2. the replica ───────────────────────

#[test]
fn a_replica_answers_a_get_with_what_it_stores_to_its_sender() {
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", val(2, 3, "x"))]);
    let request = RequestId { boot: 9, seq: 4 };
    for (k, expected) in [("k", Some(val(2, 3, "x"))), ("K", None), ("missing", None)] {
        let out = recv(
            &mut node,
            3,
            Message::Get {
                request,
                key: key(k),
            },
            ms(1),
        );
        assert_eq!(
            out.messages,
            vec![subject::Outgoing {
                to: 3,
                message: Message::GetReply {
                    request,
                    stored: expected.clone()
                }
            }],
            "a Get of {k:?} from node 3 is answered to node 3 with what the replica stores ({expected:?}), nothing else"
        );
        assert!(out.completed.is_empty());
    }
}

#[test]
fn a_replica_keeps_the_higher_version_whoever_sends_the_lower_one() {
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", val(5, 2, "new"))]);
    let request = RequestId { boot: 0, seq: 1 };
    for older in [
        val(4, 3, "old"),
        val(5, 1, "same counter, lower writer"),
        val(5, 2, "equal version"),
    ] {
        let out = recv(
            &mut node,
            3,
            Message::Put {
                request,
                key: key("k"),
                value: older.clone(),
            },
            ms(1),
        );
        assert_eq!(
            node.stored("k"),
            Some(val(5, 2, "new")),
            "a replica storing version (5, 2) was sent {older:?}: an older or equal version never overwrites what is stored"
        );
        assert_eq!(
            out.messages,
            vec![subject::Outgoing {
                to: 3,
                message: Message::PutAck { request }
            }],
            "a Put is acknowledged to its sender even when the replica holds a higher version (the ack means: this version or a higher one)"
        );
    }
    let newer = val(5, 3, "same counter, higher writer");
    recv(
        &mut node,
        2,
        Message::Put {
            request,
            key: key("k"),
            value: newer.clone(),
        },
        ms(2),
    );
    assert_eq!(
        node.stored("k"),
        Some(newer),
        "(5, 3) is higher than (5, 2): the writer breaks the tie"
    );
    recv(
        &mut node,
        2,
        Message::Put {
            request,
            key: key("k2"),
            value: val(1, 2, "fresh"),
        },
        ms(2),
    );
    assert_eq!(
        node.stored("k2"),
        Some(val(1, 2, "fresh")),
        "a Put of a key not stored stores it"
    );
}

#[test]
fn a_replica_answers_every_request_duplicates_included() {
    let mut node = three();
    let request = RequestId { boot: 0, seq: 7 };
    for _ in 0..3 {
        let out = recv(
            &mut node,
            2,
            Message::Get {
                request,
                key: key("k"),
            },
            ms(1),
        );
        assert_eq!(out.messages.len(), 1, "a duplicated Get is answered again");
        let out = recv(
            &mut node,
            2,
            Message::Put {
                request,
                key: key("k"),
                value: val(1, 2, "x"),
            },
            ms(1),
        );
        assert_eq!(
            out.messages,
            vec![subject::Outgoing {
                to: 2,
                message: Message::PutAck { request }
            }],
            "a duplicated Put is acknowledged again"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The replica is a map that keeps the highest version per key.
    #[test]
    fn a_replica_agrees_with_a_map_that_keeps_the_highest_version_per_key(
        ops in prop::collection::vec((0..3usize, 1..6u64, 2..4u64, any::<bool>()), 1..60)
    ) {
        let keys = ["a", "A", "a\0"];
        let mut node = three();
        let mut model: BTreeMap<&str, Versioned> = BTreeMap::new();
        let request = RequestId { boot: 0, seq: 0 };
        for (i, &(k, counter, writer, is_put)) in ops.iter().enumerate() {
            let k = keys[k];
            if is_put {
                let value = val(counter, writer, &format!("{k}#{i}"));
                recv(&mut node, writer, Message::Put { request, key: key(k), value: value.clone() }, ms(1));
                if model.get(k).is_none_or(|old| value.version > old.version) {
                    model.insert(k, value);
                }
            } else {
                let out = recv(&mut node, 2, Message::Get { request, key: key(k) }, ms(1));
                let expected = Message::GetReply { request, stored: model.get(k).cloned() };
                prop_assert_eq!(&out.messages[0].message, &expected, "after {:?}", &ops[..=i]);
            }
            for k in keys {
                prop_assert_eq!(node.stored(k), model.get(k).cloned(), "key {:?} after {:?}", k, &ops[..=i]);
            }
        }
    }
}

// ─────────────────────── 3. reads ───────────────────────

#[test]
fn a_read_asks_every_peer_once_and_completes_at_exactly_r_distinct_answers() {
    let mut node = five(3, 3);
    let (get, out) = node.get(key("k"), ms(0));
    assert_eq!(
        gets_to(&out, get, "k"),
        vec![2, 3, 4, 5],
        "a read sends one Get to each peer"
    );
    assert_eq!(out.messages.len(), 4, "and nothing else");
    assert_eq!(
        done(&out, get),
        None,
        "R = 3: its own answer is one of three"
    );
    assert_eq!(node.in_flight(), 1);
    let out = reply(&mut node, 4, get, None, ms(1));
    assert_eq!(
        done(&out, get),
        None,
        "two answers of R = 3 (itself and node 4)"
    );
    let out = reply(&mut node, 4, get, None, ms(2));
    assert_eq!(
        done(&out, get),
        None,
        "node 4's answer delivered twice is still one replica: two of R = 3"
    );
    let out = reply(&mut node, 2, get, Some(val(1, 2, "x")), ms(3));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(1, 2, "x"))))),
        "the third distinct replica completes the read (R = 3), without waiting for the others"
    );
    assert_eq!(node.in_flight(), 0, "a completed read is forgotten");
    let out = reply(&mut node, 3, get, Some(val(9, 3, "late")), ms(4));
    assert!(
        out.completed.is_empty() && out.messages.is_empty(),
        "an answer after the read completed is ignored: {out:?}"
    );
}

#[rstest]
#[case::peer_newer_than_own(
    Some(val(1, 1, "mine")),
    Some(val(2, 2, "theirs")),
    Some(val(2, 2, "theirs"))
)]
#[case::own_newer_than_peer(
    Some(val(3, 1, "mine")),
    Some(val(2, 2, "theirs")),
    Some(val(3, 1, "mine"))
)]
#[case::same_counter_higher_writer_wins(
    Some(val(5, 1, "mine")),
    Some(val(5, 3, "theirs")),
    Some(val(5, 3, "theirs"))
)]
#[case::same_counter_own_writer_higher(
    Some(val(5, 3, "mine")),
    Some(val(5, 2, "theirs")),
    Some(val(5, 3, "mine"))
)]
#[case::only_the_peer_stores_it(None, Some(val(1, 3, "theirs")), Some(val(1, 3, "theirs")))]
#[case::only_own_stores_it(Some(val(1, 1, "mine")), None, Some(val(1, 1, "mine")))]
#[case::nobody_stores_it(None, None, None)]
fn a_read_returns_the_highest_version_among_the_answers_counted(
    #[case] own: Option<Versioned>,
    #[case] peer: Option<Versioned>,
    #[case] expected: Option<Versioned>,
) {
    let stored: Vec<(&str, Versioned)> = own.iter().map(|x| ("k", x.clone())).collect();
    let mut node = node_with(1, &[2, 3], config(2, 2), &stored);
    let (get, _) = node.get(key("k"), ms(0));
    let out = reply(&mut node, 3, get, peer.clone(), ms(1));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(expected))),
        "own replica stores {own:?}, node 3 answers {peer:?}: the read returns the highest version, compared by counter then writer"
    );
}

#[test]
fn a_read_with_r_of_one_completes_in_the_call_to_get() {
    let mut node = node_with(1, &[2, 3], config(1, 3), &[("k", val(2, 1, "x"))]);
    let (get, out) = node.get(key("k"), ms(0));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(2, 1, "x"))))),
        "R = 1: its own replica is a quorum"
    );
    assert_eq!(node.in_flight(), 0);
}

#[test]
fn a_one_node_store_completes_reads_and_writes_in_the_call() {
    let mut node = node_with(7, &[], config(1, 1), &[]);
    let (put, out) = node.put(key("k"), b"x".to_vec(), ms(0));
    assert!(
        out.messages.is_empty(),
        "a one-node store has nobody to talk to"
    );
    assert_eq!(
        done(&out, put),
        Some(Ok(Answer::Written(v(1, 7)))),
        "the first write of a key is version (1, own id)"
    );
    let (get, out) = node.get(key("k"), ms(0));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(1, 7, "x")))))
    );
    let (put, out) = node.put(key("k"), b"y".to_vec(), ms(0));
    assert_eq!(
        done(&out, put),
        Some(Ok(Answer::Written(v(2, 7)))),
        "the second write is one above the first"
    );
}

// ─────────────────────── 4. read repair ───────────────────────

#[test]
fn a_completed_read_repairs_exactly_the_stale_replicas_it_counted() {
    // Node 1 of {1..5}, R = 4: it stores (2, 1); node 2 answers (3, 2),
    // node 3 answers nothing stored, node 4 answers (3, 2) too.
    let mut node = node_with(1, &[2, 3, 4, 5], config(4, 2), &[("k", val(2, 1, "old"))]);
    let (get, _) = node.get(key("k"), ms(0));
    let newest = val(3, 2, "new");
    assert!(
        reply(&mut node, 2, get, Some(newest.clone()), ms(1))
            .messages
            .is_empty(),
        "nothing is repaired before the read completes"
    );
    reply(&mut node, 3, get, None, ms(2));
    let out = reply(&mut node, 4, get, Some(newest.clone()), ms(3));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(newest.clone()))))
    );
    assert_eq!(
        puts(&out, get),
        vec![(3, key("k"), newest.clone())],
        "the read counted 1 (stale), 2 (fresh), 3 (nothing), 4 (fresh): node 3 is sent Put of the value returned, in the call that completed the read; fresh replicas and node 5 (not counted) are not"
    );
    assert_eq!(
        node.stored("k"),
        Some(newest),
        "its own stale replica is repaired directly"
    );
    let out = ack(&mut node, 3, get, ms(4));
    assert!(
        out.completed.is_empty() && out.messages.is_empty(),
        "the PutAck of a repair counts for nothing: {out:?}"
    );
}

#[test]
fn read_repair_compares_whole_versions_not_counters() {
    // R = 3 of 3: own (5, 1), node 2 answers (5, 3), node 3 answers (5, 2).
    let mut node = node_with(1, &[2, 3], config(3, 2), &[("k", val(5, 1, "own"))]);
    let (get, _) = node.get(key("k"), ms(0));
    reply(&mut node, 2, get, Some(val(5, 3, "winner")), ms(1));
    let out = reply(&mut node, 3, get, Some(val(5, 2, "loser")), ms(2));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(5, 3, "winner")))))
    );
    assert_eq!(
        puts(&out, get),
        vec![(3, key("k"), val(5, 3, "winner"))],
        "node 3 answered (5, 2), older than the (5, 3) returned although its counter is equal: it is repaired"
    );
    assert_eq!(
        node.stored("k"),
        Some(val(5, 3, "winner")),
        "its own replica held (5, 1), same counter, lower writer: it is repaired too"
    );
}

#[test]
fn repairing_its_own_replica_never_overwrites_a_newer_value_it_received_meanwhile() {
    // The read counts its own (2, 1) at its start; a newer write (7, 3)
    // reaches its replica while the read waits; node 2 then answers (3, 2).
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", val(2, 1, "old"))]);
    let (get, _) = node.get(key("k"), ms(0));
    let other = RequestId { boot: 0, seq: 99 };
    recv(
        &mut node,
        3,
        Message::Put {
            request: other,
            key: key("k"),
            value: val(7, 3, "newest"),
        },
        ms(1),
    );
    let out = reply(&mut node, 2, get, Some(val(3, 2, "middle")), ms(2));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(3, 2, "middle"))))),
        "the read returns the highest among the answers it counted: its own (2, 1) and node 2's (3, 2)"
    );
    assert_eq!(
        node.stored("k"),
        Some(val(7, 3, "newest")),
        "the read repairs its own replica with (3, 2), but the replica had stored (7, 3) meanwhile (and acknowledged it): an older version never overwrites a newer one, the coordinator's own replica included"
    );
}

#[test]
fn a_read_that_finds_nothing_repairs_nothing() {
    let mut node = three();
    let (get, _) = node.get(key("k"), ms(0));
    let out = reply(&mut node, 2, get, None, ms(1));
    assert_eq!(done(&out, get), Some(Ok(Answer::Read(None))));
    assert!(
        puts(&out, get).is_empty(),
        "no replica stores the key: there is nothing to repair with"
    );
    assert_eq!(node.stored("k"), None);
}

// ─────────────────────── 5. writes ───────────────────────

#[test]
fn a_write_learns_the_highest_counter_then_writes_one_above_it_with_its_own_id() {
    let mut node = node_with(2, &[1, 3, 4, 5], config(3, 3), &[("k", val(4, 5, "own"))]);
    let (put, out) = node.put(key("k"), b"mine".to_vec(), ms(0));
    assert_eq!(
        gets_to(&out, put, "k"),
        vec![1, 3, 4, 5],
        "the version phase asks every peer once"
    );
    assert!(
        puts(&out, put).is_empty(),
        "no Put before R replicas told their versions"
    );
    let out = reply(&mut node, 4, put, Some(val(7, 1, "newest")), ms(1));
    assert!(
        puts(&out, put).is_empty(),
        "two answers of R = 3: still learning"
    );
    let out = reply(&mut node, 1, put, Some(val(6, 4, "older")), ms(2));
    let expected = Versioned {
        version: v(8, 2),
        value: b"mine".to_vec(),
    };
    assert_eq!(
        puts(&out, put),
        vec![
            (1, key("k"), expected.clone()),
            (3, key("k"), expected.clone()),
            (4, key("k"), expected.clone()),
            (5, key("k"), expected.clone())
        ],
        "counters 4 (own), 7 and 6 were heard: the write is version (8, its own id 2), sent to every peer once R = 3 answered"
    );
    assert_eq!(
        node.stored("k"),
        Some(expected),
        "the coordinator stores its write in its own replica"
    );
    assert_eq!(
        done(&out, put),
        None,
        "W = 3: only its own replica holds it yet"
    );
    let out = ack(&mut node, 5, put, ms(3));
    assert_eq!(done(&out, put), None, "two acknowledgements of W = 3");
    let out = ack(&mut node, 3, put, ms(4));
    assert_eq!(
        done(&out, put),
        Some(Ok(Answer::Written(v(8, 2)))),
        "the third distinct replica completes the write"
    );
    assert_eq!(node.in_flight(), 0);
}

#[test]
fn a_write_of_a_key_nobody_stores_is_version_one() {
    let mut node = three();
    let version = write_through(&mut node, "new", "x", None, ms(0));
    assert_eq!(version, v(1, 1), "counter 1, written by node 1");
}

#[test]
fn a_write_completes_at_exactly_w_distinct_acknowledgements() {
    let mut node = five(2, 4);
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    reply(&mut node, 2, put, None, ms(1));
    for (from, expected_done) in [(3, false), (3, false), (5, false), (5, false), (2, true)] {
        let out = ack(&mut node, from, put, ms(2));
        assert_eq!(
            done(&out, put).is_some(),
            expected_done,
            "W = 4 of 5 (its own replica is one): acknowledgements from 3, 3 again, 5, 5 again, 2; the write completes at the third distinct peer only"
        );
    }
}

#[test]
fn a_write_with_w_of_one_completes_when_its_version_phase_does() {
    let mut node = node_with(1, &[2, 3], config(3, 1), &[]);
    let (put, out) = node.put(key("k"), b"x".to_vec(), ms(0));
    assert_eq!(
        done(&out, put),
        None,
        "R = 3: the versions of all three replicas first"
    );
    reply(&mut node, 2, put, None, ms(1));
    let out = reply(&mut node, 3, put, Some(val(3, 3, "y")), ms(2));
    assert_eq!(
        done(&out, put),
        Some(Ok(Answer::Written(v(4, 1)))),
        "W = 1: its own replica holds the write at once"
    );
    assert_eq!(puts(&out, put).len(), 2, "the Put still goes to every peer");
}

#[test]
fn a_write_does_not_take_a_version_answer_for_an_acknowledgement_nor_the_reverse() {
    let mut node = five(3, 3);
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    let out = ack(&mut node, 2, put, ms(1));
    let out2 = ack(&mut node, 3, put, ms(1));
    assert!(
        puts(&out, put).is_empty() && puts(&out2, put).is_empty() && done(&out2, put).is_none(),
        "PutAcks during the version phase count for nothing (no version was sent yet)"
    );
    reply(&mut node, 2, put, None, ms(2));
    let out = reply(&mut node, 3, put, None, ms(3));
    assert_eq!(
        puts(&out, put).len(),
        4,
        "R = 3 versions heard (1, 2, 3): the Puts go out"
    );
    for from in [4, 5] {
        let out = reply(&mut node, from, put, None, ms(4));
        assert_eq!(
            done(&out, put),
            None,
            "a GetReply during the write phase is not an acknowledgement (from node {from})"
        );
    }
    ack(&mut node, 4, put, ms(5));
    let out = ack(&mut node, 5, put, ms(5));
    assert_eq!(
        done(&out, put),
        Some(Ok(Answer::Written(v(1, 1)))),
        "W = 3: itself, 4 and 5 acknowledged the Put"
    );
}

#[test]
fn two_coordinators_writing_the_same_key_at_once_never_pick_the_same_version() {
    // Nodes 1 and 2 of {1, 2, 3} both write "k" after learning counter 4.
    let mut a = node_with(1, &[2, 3], config(2, 2), &[("k", val(4, 3, "base"))]);
    let mut b = node_with(2, &[1, 3], config(2, 2), &[("k", val(4, 3, "base"))]);
    let va = write_through(&mut a, "k", "from a", Some(val(4, 3, "base")), ms(0));
    let (put, _) = b.put(key("k"), b"from b".to_vec(), ms(0));
    reply(&mut b, 3, put, Some(val(4, 3, "base")), ms(1));
    let out = ack(&mut b, 3, put, ms(2));
    let Some(Ok(Answer::Written(vb))) = done(&out, put) else {
        panic!("node 2's write should complete: {out:?}")
    };
    assert_eq!(
        (va.counter, vb.counter),
        (5, 5),
        "both learned counter 4 and write counter 5"
    );
    assert_ne!(
        va, vb,
        "two writers with the same counter still differ in version (the writer id)"
    );
    assert_eq!(
        (va.writer, vb.writer),
        (1, 2),
        "the version's writer is the coordinator's own id"
    );
}

#[test]
fn two_writes_of_one_key_through_one_coordinator_at_once_pick_different_versions() {
    // Both writes start before either has picked: each counted its own
    // replica (counter 4) at its start. The second picks after the first
    // stored its version, and must read its own replica again.
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", val(4, 3, "base"))]);
    let (first, _) = node.put(key("k"), b"first".to_vec(), ms(0));
    let (second, _) = node.put(key("k"), b"second".to_vec(), ms(0));
    let out = reply(&mut node, 2, first, Some(val(4, 3, "base")), ms(1));
    let first_version = puts(&out, first).first().map(|p| p.2.version);
    assert_eq!(first_version, Some(v(5, 1)), "the first write picks (5, 1)");
    let out = reply(&mut node, 2, second, Some(val(4, 3, "base")), ms(2));
    let second_version = puts(&out, second).first().map(|p| p.2.version);
    assert_eq!(
        second_version,
        Some(v(6, 1)),
        "the second write of \"k\" through node 1 picks after the first stored (5, 1) in node 1's replica: it must pick (6, 1), not (5, 1) again (two writes, one version: readers could not tell them apart)"
    );
    assert_eq!(node.stored("k").map(|x| x.value), Some(b"second".to_vec()));
}

#[test]
fn a_write_at_counter_u64_max_fails_with_versions_exhausted_and_writes_nothing() {
    let top = val(u64::MAX, 3, "top");
    let mut node = node_with(1, &[2, 3], config(2, 2), &[]);
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    let out = reply(&mut node, 3, put, Some(top.clone()), ms(1));
    assert_eq!(
        done(&out, put),
        Some(Err(OpError::VersionsExhausted)),
        "counter u64::MAX has no successor: the write fails, typed, no panic, no wrap to 0"
    );
    assert!(
        puts(&out, put).is_empty(),
        "a write that fails sends no Put"
    );
    assert_eq!(node.stored("k"), None, "and stores nothing");
    assert_eq!(node.in_flight(), 0);
    // Its own replica at u64::MAX: the same, whoever holds it.
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", top.clone())]);
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    let out = reply(&mut node, 2, put, None, ms(1));
    assert_eq!(done(&out, put), Some(Err(OpError::VersionsExhausted)));
    assert_eq!(node.stored("k"), Some(top));
    // One below the top still works.
    let mut node = node_with(
        1,
        &[2, 3],
        config(2, 2),
        &[("k", val(u64::MAX - 1, 3, "almost"))],
    );
    assert_eq!(
        write_through(&mut node, "k", "x", None, ms(0)),
        v(u64::MAX, 1)
    );
}

#[test]
fn keys_differing_only_in_case_or_by_a_separator_are_different_keys() {
    let mut node = three();
    let names = ["cart", "Cart", "CART", "cart:", "cart\0", ""];
    for (i, k) in names.iter().enumerate() {
        let prior = (i > 0).then(|| val(i as u64, 3, "elsewhere"));
        let version = write_through(&mut node, k, k, prior, ms(0));
        assert_eq!(
            version.counter,
            i as u64 + 1,
            "key {k:?}: node 2 answered counter {i}"
        );
    }
    for (i, k) in names.iter().enumerate() {
        assert_eq!(
            node.stored(k),
            Some(val(i as u64 + 1, 1, k)),
            "keys are compared byte for byte: {names:?} are six keys"
        );
    }
}

// ─────────────────────── 6. counting, exactly ───────────────────────

#[test]
fn answers_to_requests_never_issued_or_of_another_operation_are_ignored() {
    let mut node = five(3, 3);
    let (get, _) = node.get(key("k"), ms(0));
    let (other, _) = node.get(key("j"), ms(0));
    assert_ne!(get, other, "two operations have two ids");
    let strangers = [
        RequestId {
            boot: get.boot,
            seq: get.seq.wrapping_add(1000),
        },
        RequestId {
            boot: get.boot.wrapping_add(1),
            seq: get.seq,
        },
        RequestId {
            boot: u64::MAX,
            seq: u64::MAX,
        },
    ];
    for (i, &r) in strangers.iter().enumerate() {
        let out = reply(&mut node, 2 + i as u64, r, Some(val(9, 9, "junk")), ms(1));
        assert!(
            out.completed.is_empty() && out.messages.is_empty(),
            "an answer to {r:?}, which node 1 never issued, is ignored: {out:?}"
        );
    }
    let out = reply(&mut node, 2, other, None, ms(2));
    assert_eq!(
        done(&out, get),
        None,
        "an answer to another operation does not count for this one"
    );
    let out = reply(&mut node, 3, get, None, ms(3));
    assert_eq!(
        done(&out, get),
        None,
        "only itself and node 3 answered the read of \"k\": two of R = 3"
    );
    let out = reply(&mut node, 4, get, None, ms(4));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(None))),
        "nodes 1, 3, 4 answered: R = 3, and never \"junk\""
    );
}

#[test]
fn an_operation_of_a_previous_boot_is_never_taken_for_one_of_the_new_boot() {
    // Boot 0 starts a write, crashes with it in flight; boot 1 starts from
    // the snapshot and starts a write of its own.
    let mut before =
        Node::new(1, &[2, 3, 4, 5], config(3, 3), 0, BTreeMap::new(), ms(0)).expect("valid");
    let (old, _) = before.put(key("k"), b"old".to_vec(), ms(0));
    let disk = before.snapshot();
    let mut node = Node::new(1, &[2, 3, 4, 5], config(3, 3), 1, disk, ms(10)).expect("valid");
    assert_eq!(node.in_flight(), 0, "a restarted node coordinates nothing");
    let (new, _) = node.put(key("k"), b"new".to_vec(), ms(10));
    assert_eq!(
        new.boot, 1,
        "every request id carries the boot the node was built with"
    );
    assert_ne!(old, new);
    // Answers delayed from boot 0, with the new operation's seq and the old boot.
    let stale = RequestId {
        boot: 0,
        seq: new.seq,
    };
    reply(&mut node, 2, stale, None, ms(11));
    let out = reply(&mut node, 3, stale, None, ms(11));
    assert!(
        puts(&out, new).is_empty() && out.completed.is_empty(),
        "answers to {stale:?} (boot 0) reached boot 1, whose write is {new:?}: they are not answers to it"
    );
    reply(&mut node, 2, new, None, ms(12));
    let out = reply(&mut node, 3, new, None, ms(12));
    assert_eq!(
        puts(&out, new).len(),
        4,
        "real answers of boot 1 still count"
    );
    ack(&mut node, 2, stale, ms(13));
    let out = ack(&mut node, 3, stale, ms(13));
    assert_eq!(
        done(&out, new),
        None,
        "acknowledgements of boot 0 do not count for boot 1's write"
    );
}

// ─────────────────────── 7. timeouts ───────────────────────

#[test]
fn an_operation_short_of_its_quorum_fails_at_its_deadline_exactly_once() {
    let mut node = three();
    let (get, _) = node.get(key("k"), ms(50));
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(60));
    let out = node.tick(ms(150) - Duration::from_nanos(1));
    assert!(
        out.completed.is_empty(),
        "1 ns before the read's deadline (50 ms + 100 ms) nothing fails: {out:?}"
    );
    let out = node.tick(ms(150));
    assert_eq!(
        done(&out, get),
        Some(Err(OpError::Timeout)),
        "at its deadline the read fails with Timeout"
    );
    assert_eq!(
        done(&out, put),
        None,
        "the write started at 60 ms has 10 ms left"
    );
    assert_eq!(node.in_flight(), 1);
    let out = node.tick(ms(155));
    assert!(
        out.completed.is_empty(),
        "a failed operation is reported once: {out:?}"
    );
    let out = node.tick(ms(500));
    assert_eq!(
        out.completed.len(),
        1,
        "the write, long past its deadline, fails at the next call: {out:?}"
    );
    assert_eq!(done(&out, put), Some(Err(OpError::Timeout)));
    assert_eq!(node.in_flight(), 0);
}

#[test]
fn a_write_short_of_w_fails_at_the_deadline_of_its_start_not_of_its_second_phase() {
    let mut node = three();
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    let out = reply(&mut node, 2, put, None, ms(90));
    assert_eq!(
        puts(&out, put).len(),
        2,
        "the version phase completed at 90 ms"
    );
    let out = node.tick(ms(100));
    assert_eq!(
        done(&out, put),
        Some(Err(OpError::Timeout)),
        "the write started at 0 ms: its deadline is 100 ms, whatever phase it is in"
    );
}

#[rstest]
#[case::one_nanosecond_early(Duration::from_nanos(1), true)]
#[case::at_the_deadline(Duration::ZERO, false)]
fn an_answer_counts_only_if_it_arrives_before_the_deadline(
    #[case] early: Duration,
    #[case] counts: bool,
) {
    let mut node = three();
    let (get, _) = node.get(key("k"), ms(20));
    let at = ms(120) - early;
    let out = reply(&mut node, 2, get, Some(val(1, 2, "x")), at);
    let expected = if counts {
        Ok(Answer::Read(Some(val(1, 2, "x"))))
    } else {
        Err(OpError::Timeout)
    };
    assert_eq!(
        done(&out, get),
        Some(expected),
        "a read started at 20 ms (deadline 120 ms) whose second answer arrives at {at:?}: the call first lets time pass, so an answer at the deadline finds the read failed"
    );
    assert_eq!(node.in_flight(), 0);
}

#[test]
fn an_answer_after_the_operation_timed_out_is_ignored() {
    let mut node = three();
    let (put, _) = node.put(key("k"), b"x".to_vec(), ms(0));
    let out = node.tick(ms(100));
    assert_eq!(done(&out, put), Some(Err(OpError::Timeout)));
    let out = reply(&mut node, 2, put, None, ms(101));
    assert!(
        out.messages.is_empty() && out.completed.is_empty(),
        "a version answer to a failed write starts nothing: {out:?}"
    );
    let out = ack(&mut node, 2, put, ms(102));
    assert!(out.completed.is_empty(), "nor does an acknowledgement");
    assert_eq!(
        node.stored("k"),
        None,
        "the write failed in its version phase: nothing was stored"
    );
}

#[test]
fn get_and_put_also_fail_the_operations_whose_deadline_passed() {
    let mut node = three();
    let (first, _) = node.get(key("k"), ms(0));
    let (_, out) = node.get(key("k"), ms(100));
    assert_eq!(
        done(&out, first),
        Some(Err(OpError::Timeout)),
        "a get at 100 ms first fails the read due at 100 ms"
    );
    let (second, _) = node.get(key("j"), ms(100));
    let (_, out) = node.put(key("k"), b"x".to_vec(), ms(250));
    assert!(
        done(&out, second).is_some(),
        "a put at 250 ms first fails everything due by then: {out:?}"
    );
}

#[test]
fn an_earlier_now_is_taken_as_no_time_passing() {
    let mut node = three();
    node.tick(ms(200));
    let (get, _) = node.get(key("k"), ms(50));
    let out = node.tick(ms(260));
    assert_eq!(
        done(&out, get),
        None,
        "a read started with now = 50 ms after now = 200 ms started at 200 ms: its deadline is 300 ms, not 150 ms"
    );
    let out = reply(&mut node, 2, get, None, ms(10));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(None))),
        "an answer with an earlier now is an answer now"
    );
    let (get, _) = node.get(key("k"), ms(260));
    let out = node.tick(ms(359));
    assert_eq!(done(&out, get), None);
    let out = node.tick(ms(1));
    assert_eq!(
        done(&out, get),
        None,
        "a tick with an earlier now fails nothing"
    );
    let out = node.tick(ms(360));
    assert_eq!(done(&out, get), Some(Err(OpError::Timeout)));
}

#[test]
fn a_clock_near_duration_max_never_panics() {
    let mut node = three();
    let end = Duration::MAX - Duration::from_nanos(1);
    let (get, out) = node.get(key("k"), end);
    assert_eq!(out.messages.len(), 2);
    let (put, _) = node.put(key("k"), b"x".to_vec(), end);
    let out = node.tick(end);
    assert!(
        out.completed.is_empty(),
        "an operation started at Duration::MAX - 1 ns cannot have timed out yet: {out:?}"
    );
    let out = reply(&mut node, 2, put, None, end);
    assert_eq!(puts(&out, put).len(), 2);
    let out = ack(&mut node, 2, put, Duration::MAX);
    // The deadline saturates at Duration::MAX: the ack at MAX finds it due.
    assert_eq!(
        done(&out, put),
        Some(Err(OpError::Timeout)),
        "deadlines saturate at Duration::MAX and fail there: {out:?}"
    );
    assert_eq!(done(&out, get), Some(Err(OpError::Timeout)));
    assert_eq!(node.in_flight(), 0);
}

// ─────────────────────── 8. bad input ───────────────────────

#[test]
fn a_message_from_an_unknown_node_is_refused_and_changes_nothing() {
    let mut node = three();
    let (get, _) = node.get(key("k"), ms(0));
    for stranger in [1, 4, 0, u64::MAX] {
        let messages = [
            Message::GetReply {
                request: get,
                stored: Some(val(u64::MAX, stranger, "junk")),
            },
            Message::Put {
                request: get,
                key: key("k"),
                value: val(u64::MAX, stranger, "junk"),
            },
            Message::Get {
                request: get,
                key: key("k"),
            },
            Message::PutAck { request: get },
        ];
        for message in messages {
            let shown = format!("{message:?}");
            assert_eq!(
                node.receive(stranger, message, ms(500)),
                Err(ReceiveError::UnknownNode(stranger)),
                "node {stranger} is not a peer of node 1 in {{1, 2, 3}} (a node never hears from itself): {shown}"
            );
        }
    }
    assert_eq!(node.stored("k"), None, "a stranger's Put is not stored");
    assert_eq!(
        node.in_flight(),
        1,
        "a stranger's answer does not complete the read, and its refused message lets no time pass"
    );
    let out = node.tick(ms(99));
    assert!(
        out.completed.is_empty(),
        "the refused messages at 500 ms moved no clock: the read is due at 100 ms, {out:?}"
    );
    let out = reply(&mut node, 2, get, None, ms(99));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(None))),
        "and the stranger's answers never counted"
    );
}

#[test]
fn a_message_carrying_version_counter_zero_is_refused_as_malformed() {
    let mut node = node_with(1, &[2, 3], config(2, 2), &[("k", val(1, 1, "x"))]);
    let (get, _) = node.get(key("k"), ms(0));
    let zero = Versioned {
        version: v(0, 2),
        value: b"zero".to_vec(),
    };
    assert_eq!(
        node.receive(
            2,
            Message::Put {
                request: get,
                key: key("j"),
                value: zero.clone()
            },
            ms(1)
        ),
        Err(ReceiveError::Malformed),
        "a Put of version (0, 2): no write has counter 0"
    );
    assert_eq!(node.stored("j"), None, "and it is not stored");
    assert_eq!(
        node.receive(
            2,
            Message::GetReply {
                request: get,
                stored: Some(zero)
            },
            ms(1)
        ),
        Err(ReceiveError::Malformed),
        "a GetReply storing version (0, 2)"
    );
    assert_eq!(node.in_flight(), 1, "the malformed answer did not count");
    let out = reply(&mut node, 3, get, None, ms(2));
    assert_eq!(
        done(&out, get),
        Some(Ok(Answer::Read(Some(val(1, 1, "x")))))
    );
}

#[test]
fn a_malformed_answer_is_refused_even_for_an_operation_not_in_flight_and_lets_no_time_pass() {
    let mut node = three();
    let (done_get, _) = node.get(key("k"), ms(0));
    reply(&mut node, 2, done_get, None, ms(1));
    let (waiting, _) = node.get(key("k"), ms(10));
    let zero = Some(Versioned {
        version: v(0, 2),
        value: b"zero".to_vec(),
    });
    let never = RequestId { boot: 77, seq: 77 };
    for request in [done_get, never] {
        assert_eq!(
            node.receive(
                2,
                Message::GetReply {
                    request,
                    stored: zero.clone()
                },
                ms(500)
            ),
            Err(ReceiveError::Malformed),
            "a GetReply storing version (0, 2) is malformed whatever it answers ({request:?} is not in flight)"
        );
    }
    assert_eq!(
        node.in_flight(),
        1,
        "the refused answers at 500 ms let no time pass: the read due at 110 ms is still in flight"
    );
    let out = node.tick(ms(110));
    assert_eq!(
        done(&out, waiting),
        Some(Err(OpError::Timeout)),
        "and it is reported by the next call that reaches its deadline"
    );
}

#[test]
fn operations_are_reported_the_same_way_for_the_same_calls() {
    // Three nodes given the same calls: forty operations, all timing out in
    // one call, then forty more answered out of order.
    let outputs: Vec<Vec<Output>> = (0..3)
        .map(|_| {
            let mut node = five(3, 3);
            let mut outs = Vec::new();
            let mut ids = Vec::new();
            for i in 0..40u64 {
                let (id, out) = if i % 2 == 0 {
                    node.get(format!("k{i}"), ms(i % 3))
                } else {
                    node.put(format!("k{i}"), vec![i as u8], ms(i % 3))
                };
                ids.push(id);
                outs.push(out);
            }
            outs.push(node.tick(ms(200)));
            for (i, id) in ids.iter().enumerate().rev() {
                outs.push(recv(
                    &mut node,
                    2 + (i as u64 % 4),
                    Message::GetReply {
                        request: *id,
                        stored: None,
                    },
                    ms(201),
                ));
            }
            outs
        })
        .collect();
    assert_eq!(
        outputs[0][40].completed.len(),
        40,
        "every operation of the forty timed out at 200 ms"
    );
    for other in &outputs[1..] {
        assert!(
            *other == outputs[0],
            "the same calls on three nodes built alike gave different outputs (completions or messages in another order): a node is deterministic, so a replayed seed is the same run (README, Constraints); iterate over ordered collections"
        );
    }
}

// ─────────────────────── 9. restarts ───────────────────────

#[test]
fn a_restarted_node_keeps_what_it_stored_and_keeps_counting_versions_up() {
    let mut node = three();
    let first = write_through(&mut node, "k", "one", None, ms(0));
    recv(
        &mut node,
        3,
        Message::Put {
            request: RequestId { boot: 4, seq: 0 },
            key: key("j"),
            value: val(3, 3, "theirs"),
        },
        ms(1),
    );
    let disk = node.snapshot();
    let mut node = Node::new(1, &[2, 3], config(2, 2), 1, disk, ms(5)).expect("valid");
    assert_eq!(
        node.stored("j"),
        Some(val(3, 3, "theirs")),
        "what the replica stored survives the restart"
    );
    let second = write_through(&mut node, "k", "two", None, ms(6));
    assert!(
        second > first,
        "a write after a restart gets a higher version than the write before it: {first:?} then {second:?}"
    );
}
