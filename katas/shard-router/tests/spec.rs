//! The specification of the shard-router kata, by hand: the slot
//! functions, one node and one client called directly, call by call.
//!
//! `tests/sim.rs` runs whole clusters with concurrent clients on a
//! simulated network. `cargo test -p shard-router` judges your code;
//! `cargo test -p shard-router --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use shard_router as subject;
#[cfg(feature = "solution")]
use shard_router_solution as subject;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    AdminError, Answer, Client, ClientConfig, Command, ConfigError, Node, NodeId, OpError, Outcome,
    Outgoing, ReceiveError, Reply, Request, RequestError, SLOTS, Slot, SlotRange, SlotState, Step,
    crc16, hash_tag, slot,
};

// ─────────────────────────── the spec's own oracle ───────────────────────────

/// CRC16-XMODEM, written again here so that the spec judges `slot` against
/// Redis' definition, not against the reference.
fn oracle_crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

/// Redis' `keyHashSlot`, transcribed.
fn oracle_slot(key: &[u8]) -> Slot {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&b| b == b'}') {
            Some(e) if e > 0 => &key[s + 1..s + 1 + e],
            _ => key,
        },
        None => key,
    };
    oracle_crc16(hashed) & 0x3FFF
}

/// A key of slot `s` (`"k<n>"`, the first that hashes there).
fn key_in(s: Slot) -> Vec<u8> {
    static FIRST: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let table = FIRST.get_or_init(|| {
        let mut table = vec![Vec::new(); usize::from(SLOTS)];
        let mut left = table.len();
        for n in 0u64.. {
            let key = format!("k{n}").into_bytes();
            let entry = &mut table[usize::from(oracle_slot(&key))];
            if entry.is_empty() {
                *entry = key;
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        table
    });
    table[usize::from(s)].clone()
}

/// Another key of slot `s`, sharing a hash tag with `key_in(s)`'s tag.
fn other_key_in(s: Slot, n: u32) -> Vec<u8> {
    let mut key = b"{".to_vec();
    key.extend(key_in(s));
    key.extend(format!("}}.other{n}").into_bytes());
    key
}

// ─────────────────────────── helpers ───────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn range(first: Slot, last: Slot, node: NodeId) -> SlotRange {
    SlotRange { first, last, node }
}

/// Node 1 owns every slot.
fn all_on(node: NodeId) -> Vec<SlotRange> {
    vec![range(0, SLOTS - 1, node)]
}

/// Node 1 owns 0..=8191, node 2 owns 8192..=16383; node 3 owns nothing.
fn halves() -> Vec<SlotRange> {
    vec![range(0, 8191, 1), range(8192, 16383, 2)]
}

fn get(id: u64, key: &[u8]) -> Request {
    Request {
        id,
        asking: false,
        command: Command::Get { key: key.to_vec() },
    }
}

fn set(id: u64, key: &[u8], value: &str) -> Request {
    Request {
        id,
        asking: false,
        command: Command::Set {
            key: key.to_vec(),
            value: value.as_bytes().to_vec(),
        },
    }
}

fn asking(mut request: Request) -> Request {
    request.asking = true;
    request
}

fn value(v: &str) -> Outcome {
    Outcome::Served(Answer::Value(Some(v.as_bytes().to_vec())))
}

const NONE: Outcome = Outcome::Served(Answer::Value(None));
const STORED: Outcome = Outcome::Served(Answer::Stored);

/// A node that must accept the request; its outcome.
fn ask_node(node: &mut Node, client: u64, request: Request) -> Outcome {
    let shown = format!("{request:?}");
    match node.receive(client, request) {
        Ok(reply) => reply.outcome,
        Err(e) => panic!(
            "node {} refused {shown} from client {client} with {e:?}; it should have answered it",
            node.id()
        ),
    }
}

/// A client's outstanding request answered with `outcome`: the step.
fn answer(client: &mut Client, out: &Outgoing, outcome: Outcome, now: Duration) -> Step {
    let reply = Reply {
        id: out.request.id,
        outcome: outcome.clone(),
    };
    match client.receive(out.to, reply, now) {
        Ok(step) => step,
        Err(e) => panic!(
            "the client refused {outcome:?} from node {} to its request {} with {e:?}",
            out.to, out.request.id
        ),
    }
}

fn sent(step: Step, what: &str) -> Outgoing {
    match step {
        Step::Send(out) => out,
        Step::Done(r) => {
            panic!("{what}: the client should send the command again, but it ended it with {r:?}")
        }
    }
}

fn node(id: NodeId, nodes: &[NodeId], map: &[SlotRange]) -> Node {
    Node::new(id, nodes, map)
        .unwrap_or_else(|e| panic!("Node::new({id}, {nodes:?}, <map>) refused a valid map: {e:?}"))
}

fn client(map: &[SlotRange], config: ClientConfig) -> Client {
    Client::new(9, &[1, 2, 3], map, config)
        .unwrap_or_else(|e| panic!("Client::new refused a valid map: {e:?}"))
}

fn start(client: &mut Client, command: Command, now: Duration) -> Outgoing {
    let shown = format!("{command:?}");
    client
        .start(command, now)
        .unwrap_or_else(|e| panic!("the client refused to start {shown}: {e:?}"))
}

fn get_cmd(key: &[u8]) -> Command {
    Command::Get { key: key.to_vec() }
}

fn set_cmd(key: &[u8], v: &str) -> Command {
    Command::Set {
        key: key.to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

// ─────────────────────────── 1. slots, exactly as Redis ───────────────────────────

#[rstest]
#[case::nothing(b"", 0x0000)]
#[case::the_check_string(b"123456789", 0x31C3)]
#[case::one_letter(b"A", 0x58E5)]
#[case::high_bytes(b"\xff\xff", 0x1D0F)]
#[case::foo(b"foo", 0xAF96)]
fn crc16_is_crc16_xmodem(#[case] input: &[u8], #[case] expected: u16) {
    assert_eq!(
        crc16(input),
        expected,
        "crc16({:?}) should be {expected:#06x} (CRC16-XMODEM: polynomial 0x1021, initial 0, no reflection, no final xor)",
        String::from_utf8_lossy(input)
    );
}

#[rstest]
#[case::foo(b"foo", 12182)]
#[case::bar(b"bar", 5061)]
#[case::hello(b"hello", 866)]
#[case::somekey(b"somekey", 11058)]
#[case::tagged_following(b"{user1000}.following", 3443)]
#[case::tagged_followers(b"{user1000}.followers", 3443)]
#[case::the_empty_key(b"", 0)]
fn slot_is_the_one_redis_cluster_keyslot_gives(#[case] key: &[u8], #[case] expected: Slot) {
    assert_eq!(
        slot(key),
        expected,
        "CLUSTER KEYSLOT {:?} is {expected} in Redis",
        String::from_utf8_lossy(key)
    );
}

#[rstest]
#[case::no_braces(b"user1000", b"user1000")]
#[case::a_tag(b"{user1000}.following", b"user1000")]
#[case::a_tag_at_the_end(b"cart{user1000}", b"user1000")]
#[case::an_empty_tag_hashes_the_whole_key(b"{}", b"{}")]
#[case::an_empty_first_tag_hashes_the_whole_key(b"foo{}{bar}", b"foo{}{bar}")]
#[case::nested_braces(b"foo{{bar}}", b"{bar")]
#[case::the_first_tag_only(b"foo{bar}{zap}", b"bar")]
#[case::a_b_c(b"a{b}{c}", b"b")]
#[case::an_open_brace_never_closed(b"{user1000", b"{user1000")]
#[case::a_close_brace_before_the_open_one(b"}a{b}", b"b")]
#[case::only_a_close_brace(b"a}b", b"a}b")]
#[case::a_one_byte_tag(b"x{y}", b"y")]
#[case::a_tag_that_is_a_close_brace_is_empty(b"{}}", b"{}}")]
#[case::bytes_that_are_not_text(b"\xff{\x00\xfe}\x80", b"\x00\xfe")]
fn hash_tag_follows_redis_rules(#[case] key: &[u8], #[case] hashed: &[u8]) {
    assert_eq!(
        hash_tag(key),
        hashed,
        "hash_tag({:?}) should be {:?}: the bytes between the first '{{' and the first '}}' after it, if at least one; else the whole key",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(hashed)
    );
    assert_eq!(
        slot(key),
        oracle_crc16(hashed) % 16384,
        "slot({:?}) should be crc16({:?}) % 16384",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(hashed)
    );
}

fn bracey_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b'{'),
            Just(b'}'),
            Just(b'a'),
            Just(b'b'),
            Just(0u8),
            Just(0xffu8),
            any::<u8>()
        ],
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slot_agrees_with_redis_for_any_key_and_is_below_16384(key in bracey_key()) {
        let got = slot(&key);
        prop_assert!(got < SLOTS, "slot({:?}) = {got}, not below 16384", key);
        prop_assert_eq!(got, oracle_slot(&key), "slot({:?}) differs from Redis' keyHashSlot", key);
    }

    #[test]
    fn keys_sharing_a_hash_tag_share_a_slot(
        tag in prop::collection::vec(any::<u8>().prop_filter("no '}'", |b| *b != b'}'), 1..8),
        before in prop::collection::vec(any::<u8>().prop_filter("no '{'", |b| *b != b'{'), 0..6),
        after_a in prop::collection::vec(any::<u8>(), 0..6),
        after_b in prop::collection::vec(any::<u8>(), 0..6),
    ) {
        let key = |after: &[u8]| {
            let mut k = before.clone();
            k.push(b'{');
            k.extend(&tag);
            k.push(b'}');
            k.extend(after);
            k
        };
        let (a, b) = (key(&after_a), key(&after_b));
        prop_assert_eq!(slot(&a), slot(&b), "{:?} and {:?} share the hash tag {:?}", a, b, tag);
        prop_assert_eq!(slot(&a), oracle_crc16(&tag) % 16384, "{:?} should hash its tag {:?} only", a, tag);
    }
}

// ─────────────────────────── 2. a slot map covers every slot once ───────────────────────────

#[rstest]
#[case::no_range_at_all(vec![], ConfigError::Gap(0))]
#[case::slot_0_missing(vec![range(1, 16383, 1)], ConfigError::Gap(0))]
#[case::slot_16383_missing(vec![range(0, 16382, 1)], ConfigError::Gap(16383))]
#[case::a_hole_in_the_middle(vec![range(0, 99, 1), range(101, 16383, 2)], ConfigError::Gap(100))]
#[case::one_slot_twice(vec![range(0, 100, 1), range(100, 16383, 2)], ConfigError::Overlap(100))]
#[case::the_lowest_overlap(vec![range(0, 16383, 1), range(7, 9, 2)], ConfigError::Overlap(7))]
#[case::a_range_past_16383(vec![range(0, 16384, 1)], ConfigError::BadRange(range(0, 16384, 1)))]
#[case::a_range_of_slot_16384_only(vec![range(0, 16383, 1), range(16384, 16384, 2)], ConfigError::BadRange(range(16384, 16384, 2)))]
#[case::an_upside_down_range(vec![range(0, 99, 1), range(16383, 100, 2)], ConfigError::BadRange(range(16383, 100, 2)))]
#[case::a_node_not_in_the_cluster(vec![range(0, 99, 1), range(100, 16383, 4)], ConfigError::UnknownNode(4))]
fn new_refuses_a_map_that_does_not_cover_every_slot_exactly_once(
    #[case] map: Vec<SlotRange>,
    #[case] expected: ConfigError,
) {
    let node = Node::new(1, &[1, 2, 3], &map).map(|n| n.id());
    assert_eq!(node, Err(expected), "Node::new with the map {map:?}");
    let client = Client::new(9, &[1, 2, 3], &map, ClientConfig::default()).map(|c| c.id());
    assert_eq!(client, Err(expected), "Client::new with the map {map:?}");
}

#[test]
fn new_refuses_a_node_listed_twice_or_outside_its_cluster() {
    let map = all_on(1);
    assert_eq!(
        Node::new(1, &[1, 2, 2], &map).map(|n| n.id()),
        Err(ConfigError::DuplicateNode(2)),
        "nodes [1, 2, 2]: node 2 is listed twice"
    );
    assert_eq!(
        Client::new(9, &[1, 1], &map, ClientConfig::default()).map(|c| c.id()),
        Err(ConfigError::DuplicateNode(1)),
        "a client of nodes [1, 1]: node 1 is listed twice"
    );
    assert_eq!(
        Node::new(3, &[1, 2], &map).map(|n| n.id()),
        Err(ConfigError::NotInCluster(3)),
        "node 3 built for the cluster [1, 2]"
    );
}

#[test]
fn new_accepts_a_map_in_any_order_down_to_single_slots_at_both_ends() {
    let map = vec![
        range(16383, 16383, 3),
        range(1, 8191, 1),
        range(8192, 16382, 2),
        range(0, 0, 3),
    ];
    let n = node(2, &[1, 2, 3], &map);
    let c = client(&map, ClientConfig::default());
    for (s, owner) in [(0, 3), (1, 1), (8191, 1), (8192, 2), (16382, 2), (16383, 3)] {
        assert_eq!(
            n.owner(s),
            Some(owner),
            "node 2's owner of slot {s}, map {map:?}"
        );
        assert_eq!(
            c.node_for(s),
            Some(owner),
            "the client's node for slot {s}, map {map:?}"
        );
    }
    assert_eq!(n.owner(16384), None, "there is no slot 16384");
    assert_eq!(c.node_for(16384), None, "there is no slot 16384");
    assert_eq!(n.owner(u16::MAX), None, "there is no slot 65535");
    assert_eq!(c.node_for(u16::MAX), None, "there is no slot 65535");
    // A node may own nothing at all: a new node, before it imports a slot.
    assert_eq!(node(3, &[1, 2, 3], &halves()).id(), 3);
}

// ─────────────────────────── 3. a node serves its slots ───────────────────────────

#[test]
fn a_node_serves_the_slots_it_owns_and_answers_moved_for_the_others() {
    let mut one = node(1, &[1, 2, 3], &halves());
    let mine = key_in(8191);
    let theirs = key_in(8192);
    assert_eq!(
        ask_node(&mut one, 5, get(1, &mine)),
        NONE,
        "GET of a key never written, slot 8191 is node 1's"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(2, &mine, "a")),
        STORED,
        "SET on node 1, slot 8191"
    );
    assert_eq!(
        ask_node(&mut one, 5, get(3, &mine)),
        value("a"),
        "GET after SET"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(4, &mine, "b")),
        STORED,
        "SET again"
    );
    assert_eq!(
        ask_node(&mut one, 6, get(1, &mine)),
        value("b"),
        "another client sees the last SET"
    );
    assert_eq!(
        ask_node(&mut one, 5, get(5, &theirs)),
        Outcome::Moved {
            slot: 8192,
            node: 2
        },
        "slot 8192 is node 2's"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(6, &theirs, "x")),
        Outcome::Moved {
            slot: 8192,
            node: 2
        },
        "a SET of slot 8192 on node 1"
    );
    let last = key_in(16383);
    assert_eq!(
        ask_node(&mut one, 5, get(7, &last)),
        Outcome::Moved {
            slot: 16383,
            node: 2
        },
        "slot 16383 is node 2's"
    );
    let mut two = node(2, &[1, 2, 3], &halves());
    assert_eq!(
        ask_node(&mut two, 5, get(8, &theirs)),
        NONE,
        "node 2 never stored slot 8192's key"
    );
    assert_eq!(
        ask_node(&mut two, 5, set(9, &last, "z")),
        STORED,
        "slot 16383 on its owner"
    );
    assert_eq!(
        ask_node(&mut two, 5, get(10, &last)),
        value("z"),
        "slot 16383 on its owner"
    );
    assert_eq!(
        ask_node(&mut two, 5, get(11, &key_in(0))),
        Outcome::Moved { slot: 0, node: 1 },
        "slot 0 is node 1's"
    );
}

#[test]
fn keys_of_one_slot_and_of_other_slots_are_kept_apart() {
    let mut one = node(1, &[1, 2], &all_on(1));
    let (a, b, c) = (key_in(42), other_key_in(42, 1), key_in(43));
    ask_node(&mut one, 5, set(1, &a, "a"));
    ask_node(&mut one, 5, set(2, &b, "b"));
    ask_node(&mut one, 5, set(3, &c, "c"));
    assert_eq!(ask_node(&mut one, 5, get(4, &a)), value("a"));
    assert_eq!(ask_node(&mut one, 5, get(5, &b)), value("b"));
    assert_eq!(ask_node(&mut one, 5, get(6, &c)), value("c"));
}

// ─────────────────────────── 4 and 5. migrating and importing ───────────────────────────

/// Slot 100 of node 1 migrating to node 2; node 1 holds "present".
fn migrating() -> (Node, Node, Vec<u8>) {
    migrating_with(0)
}

/// Slot 100 of node 1 migrating to node 2; node 1 holds "present" and
/// `other_key_in(100, n)` for `n` in `1..=extra`, with values `v<n>`.
fn migrating_with(extra: u32) -> (Node, Node, Vec<u8>) {
    let map = halves();
    let mut one = node(1, &[1, 2, 3], &map);
    let mut two = node(2, &[1, 2, 3], &map);
    let present = key_in(100);
    ask_node(&mut one, 5, set(1, &present, "here"));
    for n in 1..=extra {
        ask_node(
            &mut one,
            5,
            set(1 + u64::from(n), &other_key_in(100, n), &format!("v{n}")),
        );
    }
    two.set_slot(100, SlotState::Importing { from: 1 })
        .unwrap_or_else(|e| panic!("node 2 refused IMPORTING slot 100 from node 1: {e:?}"));
    one.set_slot(100, SlotState::Migrating { to: 2 })
        .unwrap_or_else(|e| panic!("node 1 refused MIGRATING its slot 100 to node 2: {e:?}"));
    (one, two, present)
}

#[test]
fn a_migrating_node_serves_the_keys_it_still_holds() {
    let (mut one, _, present) = migrating();
    assert_eq!(
        ask_node(&mut one, 5, get(2, &present)),
        value("here"),
        "a key still on the source, slot 100 migrating"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(3, &present, "again")),
        STORED,
        "a SET of a key still on the source"
    );
    assert_eq!(
        ask_node(&mut one, 6, get(1, &present)),
        value("again"),
        "the source keeps serving it"
    );
    assert_eq!(
        one.owner(100),
        Some(1),
        "a migrating node still owns the slot"
    );
}

#[test]
fn a_migrating_node_answers_ask_for_a_key_it_does_not_hold() {
    let (mut one, _, _) = migrating();
    let absent = other_key_in(100, 1);
    let ask = Outcome::Ask { slot: 100, node: 2 };
    assert_eq!(
        ask_node(&mut one, 5, get(2, &absent)),
        ask,
        "GET of a key of migrating slot 100 that node 1 does not hold"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(3, &absent, "new")),
        ask,
        "SET of a new key of migrating slot 100: it goes to the target"
    );
    assert_eq!(
        ask_node(&mut one, 5, get(4, &absent)),
        ask,
        "the SET answered ASK must not have been stored on the source"
    );
    // Other slots of the node are not migrating.
    let other = key_in(101);
    assert_eq!(
        ask_node(&mut one, 5, get(5, &other)),
        NONE,
        "slot 101 is not migrating"
    );
    // ASKING changes nothing on the owner.
    assert_eq!(
        ask_node(&mut one, 5, asking(get(6, &absent))),
        ask,
        "ASKING sent to the source"
    );
}

#[test]
fn an_importing_node_serves_asking_requests_and_moves_the_others() {
    let (_, mut two, _) = migrating();
    let key = other_key_in(100, 2);
    assert_eq!(
        ask_node(&mut two, 5, get(1, &key)),
        Outcome::Moved { slot: 100, node: 1 },
        "a GET without ASKING on the importing node: the slot is still node 1's"
    );
    assert_eq!(
        ask_node(&mut two, 5, asking(set(2, &key, "new"))),
        STORED,
        "ASKING SET on the importing node"
    );
    assert_eq!(
        ask_node(&mut two, 5, asking(get(3, &key))),
        value("new"),
        "ASKING GET on the importing node"
    );
    assert_eq!(
        ask_node(&mut two, 5, get(4, &key)),
        Outcome::Moved { slot: 100, node: 1 },
        "ASKING holds for one request only: the next one without it is moved"
    );
    assert_eq!(
        ask_node(&mut two, 6, set(1, &key, "clobber")),
        Outcome::Moved { slot: 100, node: 1 },
        "another client without ASKING"
    );
    assert_eq!(
        ask_node(&mut two, 6, asking(get(2, &key))),
        value("new"),
        "the SET answered MOVED was not stored"
    );
    assert_eq!(
        two.owner(100),
        Some(1),
        "an importing node does not own the slot yet"
    );
    // ASKING for a slot the node neither owns nor imports.
    assert_eq!(
        ask_node(&mut two, 5, asking(get(5, &key_in(101)))),
        Outcome::Moved { slot: 101, node: 1 },
        "ASKING for slot 101, which node 2 is not importing"
    );
}

#[test]
fn migrate_hands_over_at_most_count_keys_and_import_stores_them() {
    let (mut one, mut two, first) = migrating_with(4);
    let keys: Vec<Vec<u8>> = std::iter::once(first.clone())
        .chain((1..5).map(|n| other_key_in(100, n)))
        .collect();
    let mut handed = Vec::new();
    for round in 0..3 {
        let batch = one
            .migrate(100, 2)
            .unwrap_or_else(|e| panic!("migrate(100, 2) on the migrating source: {e:?}"));
        assert!(
            batch.len() <= 2,
            "migrate(100, 2) handed over {} keys",
            batch.len()
        );
        if round < 2 {
            assert_eq!(
                batch.len(),
                2,
                "migrate(100, 2), round {round}, with {} keys left",
                5 - 2 * round
            );
        }
        for (i, (k, _)) in batch.iter().enumerate() {
            assert_eq!(
                ask_node(&mut one, 8, get(10 * round + 1 + i as u64, k)),
                Outcome::Ask { slot: 100, node: 2 },
                "a key handed over by migrate must not be served by the source any more"
            );
        }
        two.import(100, batch.clone())
            .unwrap_or_else(|e| panic!("import(100, ..) on the importing target: {e:?}"));
        handed.extend(batch);
    }
    assert_eq!(
        one.migrate(100, 2),
        Ok(vec![]),
        "every key of slot 100 was handed over"
    );
    let mut got: BTreeMap<Vec<u8>, Vec<u8>> = handed.into_iter().collect();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let v = if i == 0 {
                "here".to_owned()
            } else {
                format!("v{i}")
            };
            (k.clone(), v.into_bytes())
        })
        .collect();
    assert_eq!(got, want, "the keys and values migrate handed over");
    for (i, k) in keys.iter().enumerate() {
        let want = got.remove(k).unwrap_or_default();
        assert_eq!(
            ask_node(&mut two, 9, asking(get(i as u64 + 1, k))),
            Outcome::Served(Answer::Value(Some(want))),
            "the target serves an imported key to ASKING"
        );
    }
}

#[test]
fn after_the_handover_the_old_owner_moves_and_the_new_one_serves_everyone() {
    let (mut one, mut two, key) = migrating();
    let batch = one.migrate(100, 10).unwrap_or_default();
    two.import(100, batch)
        .unwrap_or_else(|e| panic!("import: {e:?}"));
    two.set_slot(100, SlotState::Owned { by: 2 })
        .unwrap_or_else(|e| panic!("node 2 refused NODE 2 for slot 100: {e:?}"));
    one.set_slot(100, SlotState::Owned { by: 2 })
        .unwrap_or_else(|e| {
            panic!("node 1, holding no key of slot 100, refused NODE 2 for it: {e:?}")
        });
    assert_eq!(two.owner(100), Some(2));
    assert_eq!(one.owner(100), Some(2));
    assert_eq!(
        ask_node(&mut two, 5, get(1, &key)),
        value("here"),
        "the new owner serves without ASKING"
    );
    let new = other_key_in(100, 9);
    assert_eq!(
        ask_node(&mut two, 5, set(2, &new, "n")),
        STORED,
        "the new owner stores a new key"
    );
    let moved = Outcome::Moved { slot: 100, node: 2 };
    assert_eq!(
        ask_node(&mut one, 5, get(3, &key)),
        moved,
        "the old owner, after NODE 2"
    );
    assert_eq!(
        ask_node(&mut one, 5, asking(set(4, &new, "x"))),
        moved,
        "the old owner, ASKING or not"
    );
    assert_eq!(
        one.migrate(100, 1),
        Err(AdminError::WrongState(100)),
        "slot 100 is no longer migrating on node 1"
    );
    // A third node told of the new owner sends clients there.
    let mut three = node(3, &[1, 2, 3], &halves());
    three
        .set_slot(100, SlotState::Owned { by: 2 })
        .unwrap_or_else(|e| panic!("node 3 refused NODE 2 for slot 100: {e:?}"));
    assert_eq!(
        ask_node(&mut three, 5, get(5, &key)),
        moved,
        "node 3, told that slot 100 is node 2's"
    );
}

#[test]
fn a_node_hands_a_slot_over_only_once_it_holds_no_key_of_it() {
    let (mut one, _, key) = migrating();
    assert_eq!(
        one.set_slot(100, SlotState::Owned { by: 2 }),
        Err(AdminError::WrongState(100)),
        "node 1 still holds a key of slot 100: handing the slot over would lose it"
    );
    assert_eq!(one.owner(100), Some(1), "a refused NODE changes nothing");
    assert_eq!(
        ask_node(&mut one, 5, get(2, &key)),
        value("here"),
        "still migrating, still serving its key"
    );
    let absent = other_key_in(100, 1);
    assert_eq!(
        ask_node(&mut one, 5, get(3, &absent)),
        Outcome::Ask { slot: 100, node: 2 },
        "a refused NODE changes nothing: slot 100 is still migrating, a key not here is still ASKed for"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(4, &absent, "new")),
        Outcome::Ask { slot: 100, node: 2 },
        "a refused NODE changes nothing: a new key of slot 100 still goes to the target"
    );
    let mut plain = node(1, &[1, 2], &all_on(1));
    ask_node(&mut plain, 5, set(1, &key, "v"));
    assert_eq!(
        plain.set_slot(100, SlotState::Owned { by: 2 }),
        Err(AdminError::WrongState(100)),
        "a node holding a key of slot 100, not even migrating it, told NODE 2"
    );
    assert_eq!(
        plain.set_slot(101, SlotState::Owned { by: 2 }),
        Ok(()),
        "slot 101 holds no key: it may go"
    );
    assert_eq!(
        plain.set_slot(100, SlotState::Owned { by: 1 }),
        Ok(()),
        "NODE <itself> loses nothing"
    );
}

// ─────────────────────────── 6. the operator's commands are checked ───────────────────────────

#[rstest]
#[case::slot_16384(16384, SlotState::Migrating { to: 2 }, AdminError::SlotOutOfRange(16384))]
#[case::slot_u16_max(u16::MAX, SlotState::Owned { by: 2 }, AdminError::SlotOutOfRange(u16::MAX))]
#[case::an_unknown_target(5, SlotState::Migrating { to: 4 }, AdminError::UnknownNode(4))]
#[case::an_unknown_source(9000, SlotState::Importing { from: 4 }, AdminError::UnknownNode(4))]
#[case::an_unknown_owner(5, SlotState::Owned { by: 4 }, AdminError::UnknownNode(4))]
#[case::migrating_a_slot_it_does_not_own(9000, SlotState::Migrating { to: 3 }, AdminError::WrongState(9000))]
#[case::migrating_to_itself(5, SlotState::Migrating { to: 1 }, AdminError::WrongState(5))]
#[case::importing_a_slot_it_owns(5, SlotState::Importing { from: 2 }, AdminError::WrongState(5))]
#[case::importing_from_itself(9000, SlotState::Importing { from: 1 }, AdminError::WrongState(9000))]
fn set_slot_refuses_what_does_not_fit_and_changes_nothing(
    #[case] s: Slot,
    #[case] state: SlotState,
    #[case] expected: AdminError,
) {
    let mut one = node(1, &[1, 2, 3], &halves());
    assert_eq!(
        one.set_slot(s, state),
        Err(expected),
        "node 1 (owner of 0..=8191) told {state:?} for slot {s}"
    );
    if s < SLOTS {
        let key = key_in(s);
        let before = if s < 8192 {
            NONE
        } else {
            Outcome::Moved { slot: s, node: 2 }
        };
        assert_eq!(
            ask_node(&mut one, 5, get(1, &key)),
            before,
            "slot {s} after a refused SETSLOT"
        );
        assert_eq!(
            ask_node(&mut one, 5, asking(get(2, &key))),
            before,
            "slot {s}, ASKING, after a refused SETSLOT"
        );
        assert_eq!(one.owner(s), Some(if s < 8192 { 1 } else { 2 }));
        assert_eq!(
            one.migrate(s, 1),
            Err(AdminError::WrongState(s)),
            "slot {s} is not migrating"
        );
        assert_eq!(
            one.import(s, vec![(key.clone(), b"v".to_vec())]),
            Err(AdminError::WrongState(s)),
            "slot {s} is not importing"
        );
    }
}

#[test]
fn migrate_and_import_refuse_slots_not_in_that_state_or_keys_of_another_slot() {
    let (mut one, mut two, key) = migrating();
    assert_eq!(
        one.migrate(16384, 1),
        Err(AdminError::SlotOutOfRange(16384))
    );
    assert_eq!(
        two.import(16384, vec![]),
        Err(AdminError::SlotOutOfRange(16384))
    );
    assert_eq!(
        two.migrate(100, 1),
        Err(AdminError::WrongState(100)),
        "node 2 imports slot 100, it does not migrate it"
    );
    assert_eq!(
        one.import(100, vec![(key.clone(), b"x".to_vec())]),
        Err(AdminError::WrongState(100)),
        "node 1 migrates slot 100, it does not import it"
    );
    let stray = key_in(101);
    let good = other_key_in(100, 1);
    assert_eq!(
        two.import(
            100,
            vec![
                (good.clone(), b"g".to_vec()),
                (stray.clone(), b"s".to_vec())
            ]
        ),
        Err(AdminError::KeyNotInSlot(100)),
        "an import into slot 100 with a key of slot 101"
    );
    assert_eq!(
        ask_node(&mut two, 5, asking(get(1, &good))),
        NONE,
        "a refused import stores nothing, not even its keys that were in the slot"
    );
    assert_eq!(
        one.migrate(100, 0),
        Ok(vec![]),
        "migrate(.., 0) hands over nothing"
    );
    assert_eq!(
        ask_node(&mut one, 5, get(2, &key)),
        value("here"),
        "after migrate(.., 0) the key is still here"
    );
}

// ─────────────────────────── 7, 8 and 9. the client ───────────────────────────

#[test]
fn a_client_sends_each_command_to_the_node_its_map_names_with_a_fresh_id() {
    let mut c = client(&halves(), ClientConfig::default());
    let mut last = 0;
    for (s, to) in [(0, 1), (8191, 1), (8192, 2), (16383, 2)] {
        let out = start(&mut c, get_cmd(&key_in(s)), ms(0));
        assert_eq!(out.to, to, "a command for slot {s}, map {:?}", halves());
        assert!(!out.request.asking, "a first request is never ASKING");
        assert_eq!(
            out.request.command,
            get_cmd(&key_in(s)),
            "the request carries the command"
        );
        assert!(
            out.request.id > last,
            "request ids go up: {} after {last}",
            out.request.id
        );
        last = out.request.id;
        answer(&mut c, &out, NONE, ms(1));
    }
    let out = start(&mut c, set_cmd(&key_in(5), "v"), ms(2));
    let moved = sent(
        answer(&mut c, &out, Outcome::Moved { slot: 5, node: 3 }, ms(3)),
        "MOVED",
    );
    assert!(
        moved.request.id > out.request.id,
        "a redirect is a request of its own, with a fresh id"
    );
    assert_eq!(
        moved.request.command,
        set_cmd(&key_in(5), "v"),
        "a redirect resends the same command"
    );
}

#[test]
fn moved_updates_the_map_for_this_command_and_the_next_ones() {
    let mut c = client(&halves(), ClientConfig::default());
    let key = key_in(300);
    let out = start(&mut c, get_cmd(&key), ms(0));
    assert_eq!(out.to, 1);
    let next = sent(
        answer(&mut c, &out, Outcome::Moved { slot: 300, node: 3 }, ms(1)),
        "MOVED to node 3",
    );
    assert_eq!(
        (next.to, next.request.asking),
        (3, false),
        "MOVED: to node 3, without ASKING"
    );
    assert_eq!(c.node_for(300), Some(3), "MOVED updates the cached map");
    assert_eq!(
        c.node_for(299),
        Some(1),
        "MOVED for slot 300 changes no other slot"
    );
    assert_eq!(
        c.node_for(301),
        Some(1),
        "MOVED for slot 300 changes no other slot"
    );
    assert_eq!(
        answer(&mut c, &next, NONE, ms(2)),
        Step::Done(Ok(Answer::Value(None)))
    );
    let again = start(&mut c, set_cmd(&other_key_in(300, 1), "v"), ms(3));
    assert_eq!(
        again.to, 3,
        "the next command for slot 300 goes straight to node 3"
    );
}

#[test]
fn ask_is_followed_once_with_asking_and_leaves_the_map_unchanged() {
    let mut c = client(&halves(), ClientConfig::default());
    let key = key_in(300);
    let out = start(&mut c, set_cmd(&key, "v"), ms(0));
    let next = sent(
        answer(&mut c, &out, Outcome::Ask { slot: 300, node: 2 }, ms(1)),
        "ASK node 2",
    );
    assert_eq!(
        (next.to, next.request.asking),
        (2, true),
        "ASK: to node 2, with ASKING"
    );
    assert_eq!(
        c.node_for(300),
        Some(1),
        "ASK must not change the cached map"
    );
    assert_eq!(
        answer(&mut c, &next, STORED, ms(2)),
        Step::Done(Ok(Answer::Stored))
    );
    let again = start(&mut c, get_cmd(&key), ms(3));
    assert_eq!(
        (again.to, again.request.asking),
        (1, false),
        "the next command goes to the owner again, without ASKING"
    );
}

#[test]
fn an_ask_then_moved_chain_ends_on_the_owner_without_asking() {
    // Node 1 migrating: ASK node 2; node 2 not importing yet: MOVED node 1.
    let mut c = client(&halves(), ClientConfig::default());
    let out = start(&mut c, get_cmd(&key_in(7)), ms(0));
    let second = sent(
        answer(&mut c, &out, Outcome::Ask { slot: 7, node: 2 }, ms(1)),
        "ASK",
    );
    let third = sent(
        answer(&mut c, &second, Outcome::Moved { slot: 7, node: 1 }, ms(2)),
        "MOVED after ASK",
    );
    assert_eq!(
        (third.to, third.request.asking),
        (1, false),
        "MOVED after an ASK: not ASKING any more"
    );
    assert_eq!(c.node_for(7), Some(1));
}

#[rstest]
#[case::none(0)]
#[case::one(1)]
#[case::two(2)]
#[case::five(5)]
fn a_command_follows_at_most_max_redirects_redirects(#[case] max: u32) {
    let config = ClientConfig {
        max_redirects: max,
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    // Nodes 1 and 2 send each other the client for ever.
    let mut out = start(&mut c, get_cmd(&key_in(10)), ms(0));
    let mut followed = 0;
    let result = loop {
        let other = if out.to == 1 { 2 } else { 1 };
        let outcome = if followed % 2 == 0 {
            Outcome::Moved {
                slot: 10,
                node: other,
            }
        } else {
            Outcome::Ask {
                slot: 10,
                node: other,
            }
        };
        match answer(&mut c, &out, outcome, ms(1 + u64::from(followed))) {
            Step::Send(next) => {
                followed += 1;
                assert!(
                    followed <= max,
                    "max_redirects = {max}: the client followed redirect number {followed}"
                );
                out = next;
            }
            Step::Done(result) => break result,
        }
    };
    assert_eq!(
        followed, max,
        "max_redirects = {max}: exactly that many redirects should be followed"
    );
    assert_eq!(
        result,
        Err(OpError::TooManyRedirects),
        "max_redirects = {max}: the redirect after them ends the command"
    );
    // The command is over: the client takes the next one.
    let next = c.start(get_cmd(&key_in(11)), ms(50));
    assert!(
        next.is_ok(),
        "after TooManyRedirects, a new command: {next:?}"
    );
}

#[test]
fn a_moved_that_ends_a_command_still_updates_the_map() {
    let config = ClientConfig {
        max_redirects: 0,
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    let out = start(&mut c, get_cmd(&key_in(10)), ms(0));
    assert_eq!(
        answer(&mut c, &out, Outcome::Moved { slot: 10, node: 3 }, ms(1)),
        Step::Done(Err(OpError::TooManyRedirects))
    );
    assert_eq!(
        c.node_for(10),
        Some(3),
        "the MOVED that ended the command is still news about slot 10"
    );
}

// ─────────────────────────── 10. bad input ───────────────────────────

#[test]
fn a_node_refuses_a_request_with_an_empty_key_and_changes_nothing() {
    let mut one = node(1, &[1, 2], &all_on(1));
    assert_eq!(
        one.receive(5, get(10, b"")),
        Err(ReceiveError::Malformed),
        "GET of the empty key"
    );
    assert_eq!(
        one.receive(5, set(11, b"", "v")),
        Err(ReceiveError::Malformed),
        "SET of the empty key"
    );
    assert_eq!(
        ask_node(&mut one, 5, set(3, &key_in(0), "v")),
        STORED,
        "a refused request changes nothing, not even the highest id taken from the client"
    );
    assert_eq!(
        ask_node(&mut one, 5, get(4, &key_in(0))),
        value("v"),
        "slot 0 holds no empty key"
    );
}

#[test]
fn a_node_applies_a_request_once_however_often_it_is_delivered() {
    let mut one = node(1, &[1, 2], &all_on(1));
    let key = key_in(77);
    assert_eq!(ask_node(&mut one, 5, set(1, &key, "old")), STORED);
    assert_eq!(
        ask_node(&mut one, 6, set(1, &key, "new")),
        STORED,
        "client 6's request 1 is not client 5's"
    );
    assert_eq!(
        one.receive(5, set(1, &key, "old")),
        Err(ReceiveError::Stale),
        "client 5's request 1, delivered again"
    );
    assert_eq!(
        ask_node(&mut one, 6, get(2, &key)),
        value("new"),
        "the duplicate must not overwrite the newer SET"
    );
}

#[test]
fn a_node_refuses_a_request_older_than_one_it_took_from_the_same_client() {
    let mut one = node(1, &[1, 2], &all_on(1));
    let key = key_in(77);
    assert_eq!(ask_node(&mut one, 5, set(10, &key, "ten")), STORED);
    assert_eq!(
        one.receive(5, set(9, &key, "nine")),
        Err(ReceiveError::Stale),
        "request 9 delivered after request 10"
    );
    assert_eq!(
        one.receive(5, get(10, &key)),
        Err(ReceiveError::Stale),
        "request 10 again"
    );
    assert_eq!(ask_node(&mut one, 5, get(11, &key)), value("ten"));
    assert_eq!(
        ask_node(&mut one, 5, get(u64::MAX, &key)),
        value("ten"),
        "request id u64::MAX"
    );
    assert_eq!(
        one.receive(5, get(u64::MAX, &key)),
        Err(ReceiveError::Stale),
        "request u64::MAX again"
    );
    assert_eq!(
        ask_node(&mut one, 7, get(0, &key)),
        value("ten"),
        "a new client's first id may be 0"
    );
    // A redirected request is a request too.
    let mut two = node(2, &[1, 2], &all_on(1));
    assert_eq!(
        ask_node(&mut two, 5, get(20, &key)),
        Outcome::Moved { slot: 77, node: 1 }
    );
    assert_eq!(
        two.receive(5, get(20, &key)),
        Err(ReceiveError::Stale),
        "a request answered MOVED, delivered again"
    );
}

#[test]
fn a_client_refuses_an_empty_key_and_a_second_command() {
    let mut c = client(&halves(), ClientConfig::default());
    assert_eq!(c.start(get_cmd(b""), ms(0)), Err(RequestError::EmptyKey));
    assert_eq!(
        c.start(set_cmd(b"", "v"), ms(0)),
        Err(RequestError::EmptyKey)
    );
    let out = start(&mut c, get_cmd(&key_in(1)), ms(0));
    assert_eq!(
        c.start(get_cmd(&key_in(2)), ms(1)),
        Err(RequestError::Busy),
        "a second command while one is outstanding"
    );
    assert_eq!(
        answer(&mut c, &out, NONE, ms(2)),
        Step::Done(Ok(Answer::Value(None))),
        "the first command is still the one outstanding"
    );
}

#[test]
fn a_client_refuses_replies_that_answer_nothing_it_asked() {
    let mut c = client(&halves(), ClientConfig::default());
    let none = Reply {
        id: 1,
        outcome: NONE,
    };
    assert_eq!(
        c.receive(1, none.clone(), ms(0)),
        Err(ReceiveError::Stale),
        "a reply with no command outstanding"
    );
    let out = start(&mut c, get_cmd(&key_in(1)), ms(0));
    let id = out.request.id;
    let reply = |id, outcome: Outcome| Reply { id, outcome };
    assert_eq!(
        c.receive(4, reply(id, NONE), ms(1)),
        Err(ReceiveError::UnknownNode(4)),
        "a reply from node 4, not in the cluster"
    );
    assert_eq!(
        c.receive(2, reply(id, NONE), ms(1)),
        Err(ReceiveError::Stale),
        "a reply from node 2; the request went to node 1"
    );
    assert_eq!(
        c.receive(1, reply(id + 1, NONE), ms(1)),
        Err(ReceiveError::Stale),
        "a reply to a request never sent"
    );
    assert_eq!(
        c.receive(1, reply(id.wrapping_sub(1), value("old")), ms(1)),
        Err(ReceiveError::Stale),
        "a reply to an earlier id"
    );
    let next = sent(
        answer(&mut c, &out, Outcome::Moved { slot: 1, node: 2 }, ms(2)),
        "MOVED",
    );
    assert_eq!(
        c.receive(1, reply(id, Outcome::Moved { slot: 1, node: 3 }), ms(3)),
        Err(ReceiveError::Stale),
        "the MOVED delivered again, after the client followed it"
    );
    assert_eq!(c.node_for(1), Some(2), "a refused reply changes nothing");
    assert_eq!(
        answer(&mut c, &next, value("v"), ms(4)),
        Step::Done(Ok(Answer::Value(Some(b"v".to_vec()))))
    );
    assert_eq!(
        c.receive(2, reply(next.request.id, value("v")), ms(5)),
        Err(ReceiveError::Stale),
        "the answer delivered again, after the command ended"
    );
}

#[test]
fn a_client_refuses_malformed_replies_and_keeps_waiting() {
    let mut c = client(&halves(), ClientConfig::default());
    let out = start(&mut c, get_cmd(&key_in(1)), ms(0));
    let id = out.request.id;
    let refused = |c: &mut Client, outcome: Outcome, expected: ReceiveError, what: &str| {
        let got = c.receive(1, Reply { id, outcome }, ms(1));
        assert_eq!(got, Err(expected), "a GET of slot 1 answered with {what}");
    };
    refused(
        &mut c,
        Outcome::Served(Answer::Stored),
        ReceiveError::Malformed,
        "Stored",
    );
    refused(
        &mut c,
        Outcome::Moved { slot: 2, node: 2 },
        ReceiveError::Malformed,
        "MOVED for slot 2",
    );
    refused(
        &mut c,
        Outcome::Ask {
            slot: 16385,
            node: 2,
        },
        ReceiveError::Malformed,
        "ASK for slot 16385 (16384 + 1)",
    );
    refused(
        &mut c,
        Outcome::Moved {
            slot: 1 + 16384,
            node: 2,
        },
        ReceiveError::Malformed,
        "MOVED for slot 16385",
    );
    refused(
        &mut c,
        Outcome::Moved { slot: 1, node: 4 },
        ReceiveError::UnknownNode(4),
        "MOVED to node 4, not in the cluster",
    );
    refused(
        &mut c,
        Outcome::Ask { slot: 1, node: 4 },
        ReceiveError::UnknownNode(4),
        "ASK to node 4, not in the cluster",
    );
    assert_eq!(c.node_for(1), Some(1), "refused redirects change nothing");
    assert_eq!(c.node_for(2), Some(1), "refused redirects change nothing");
    assert_eq!(
        answer(&mut c, &out, NONE, ms(2)),
        Step::Done(Ok(Answer::Value(None))),
        "the command was still waiting"
    );
    let out = start(&mut c, set_cmd(&key_in(16383), "v"), ms(3));
    let got = c.receive(
        2,
        Reply {
            id: out.request.id,
            outcome: NONE,
        },
        ms(4),
    );
    assert_eq!(
        got,
        Err(ReceiveError::Malformed),
        "a SET answered with a value"
    );
    let got = c.receive(
        2,
        Reply {
            id: out.request.id,
            outcome: Outcome::Moved {
                slot: 16384,
                node: 1,
            },
        },
        ms(4),
    );
    assert_eq!(
        got,
        Err(ReceiveError::Malformed),
        "a SET of slot 16383 answered MOVED slot 16384"
    );
    assert_eq!(
        answer(&mut c, &out, STORED, ms(5)),
        Step::Done(Ok(Answer::Stored))
    );
}

// ─────────────────────────── 11. timeouts ───────────────────────────

#[test]
fn a_request_unanswered_for_the_timeout_ends_its_command() {
    let config = ClientConfig {
        timeout: ms(100),
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    let out = start(&mut c, get_cmd(&key_in(1)), ms(1_000));
    assert_eq!(c.tick(ms(1_000)), None, "at once");
    assert_eq!(
        c.tick(ms(1_100) - Duration::from_nanos(1)),
        None,
        "1 ns before the timeout"
    );
    assert_eq!(
        c.tick(ms(1_100)),
        Some(Err(OpError::TimedOut)),
        "exactly `timeout` after the request was sent"
    );
    assert_eq!(c.tick(ms(1_200)), None, "the command ended once");
    assert_eq!(
        c.receive(
            1,
            Reply {
                id: out.request.id,
                outcome: NONE
            },
            ms(1_201)
        ),
        Err(ReceiveError::Stale),
        "a reply to a command that timed out"
    );
    let next = c.start(get_cmd(&key_in(1)), ms(1_202));
    assert!(next.is_ok(), "after a timeout, a new command: {next:?}");
    assert_eq!(
        c.tick(ms(100_000)),
        Some(Err(OpError::TimedOut)),
        "a tick long after the deadline"
    );
}

#[test]
fn each_redirect_request_has_its_own_timeout() {
    let config = ClientConfig {
        timeout: ms(100),
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    let out = start(&mut c, get_cmd(&key_in(1)), ms(0));
    assert_eq!(c.tick(ms(90)), None);
    let next = sent(
        answer(&mut c, &out, Outcome::Moved { slot: 1, node: 2 }, ms(90)),
        "MOVED at 90 ms",
    );
    assert_eq!(
        c.tick(ms(150)),
        None,
        "the redirect was sent at 90 ms: its timeout ends at 190 ms"
    );
    assert_eq!(c.tick(ms(189)), None);
    assert_eq!(c.tick(ms(190)), Some(Err(OpError::TimedOut)));
    let _ = next;
}

#[test]
fn a_clock_that_goes_back_is_no_time_passing() {
    let config = ClientConfig {
        timeout: ms(100),
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    assert_eq!(c.tick(ms(500)), None, "nothing outstanding");
    let out = start(&mut c, get_cmd(&key_in(1)), ms(0));
    assert_eq!(
        c.tick(ms(550)),
        None,
        "started at 0 ms after a tick at 500 ms: sent at 500 ms; 550 is too early"
    );
    assert_eq!(c.tick(ms(599)), None);
    let next = sent(
        answer(&mut c, &out, Outcome::Moved { slot: 1, node: 2 }, ms(10)),
        "MOVED at 10 ms",
    );
    assert_eq!(
        c.tick(ms(650)),
        None,
        "the redirect was sent at 599 ms, the latest instant seen: 650 is too early"
    );
    assert_eq!(c.tick(ms(699)), Some(Err(OpError::TimedOut)));
    let _ = next;
}

#[test]
fn nothing_overflows_near_duration_max() {
    let config = ClientConfig {
        timeout: Duration::MAX,
        ..ClientConfig::default()
    };
    let mut c = client(&halves(), config);
    let _ = start(&mut c, get_cmd(&key_in(1)), ms(5));
    assert_eq!(
        c.tick(Duration::MAX),
        None,
        "a request sent at 5 ms with a timeout of Duration::MAX has not waited that long at Duration::MAX"
    );
    let mut c = client(&halves(), ClientConfig::default());
    let out = start(&mut c, get_cmd(&key_in(1)), Duration::MAX - ms(1));
    assert_eq!(
        c.tick(Duration::MAX),
        None,
        "a request sent at Duration::MAX - 1 ms with a timeout of 100 ms has waited 1 ms at Duration::MAX: `sent + timeout` saturated to Duration::MAX is not its deadline"
    );
    let next = sent(
        answer(
            &mut c,
            &out,
            Outcome::Ask { slot: 1, node: 2 },
            Duration::MAX,
        ),
        "ASK at Duration::MAX",
    );
    assert_eq!(
        c.tick(Duration::MAX),
        None,
        "a redirect sent at Duration::MAX has waited nothing"
    );
    assert_eq!(
        answer(&mut c, &next, NONE, Duration::MAX),
        Step::Done(Ok(Answer::Value(None))),
        "the answer to the redirect, at Duration::MAX"
    );
}

#[test]
fn the_same_calls_give_the_same_replies() {
    // Two pairs of nodes, the same calls: `migrate` must hand over the same
    // keys in the same batches (a seed of the simulation replays only then).
    let run = || {
        let (mut one, _, _) = migrating_with(24);
        let mut batches = Vec::new();
        loop {
            let batch = one
                .migrate(100, 5)
                .unwrap_or_else(|e| panic!("migrate(100, 5) on the migrating source: {e:?}"));
            if batch.is_empty() {
                break batches;
            }
            batches.push(
                batch
                    .into_iter()
                    .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
                    .collect::<Vec<_>>(),
            );
        }
    };
    let first = run();
    for _ in 0..3 {
        assert_eq!(
            run(),
            first,
            "the same writes, then migrate(100, 5) until empty, on two nodes built alike: the batches differ (no randomness, not even a HashMap's iteration order)"
        );
    }
}

// ─────────────────────────── a node against a model ───────────────────────────

#[derive(Clone, Debug)]
enum Op {
    Get(u8),
    Set(u8, u8),
    Ask(u8),
    Migrate(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12).prop_map(Op::Get),
        4 => (0u8..12, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => (0u8..12).prop_map(Op::Ask),
        1 => (1u8..4).prop_map(Op::Migrate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Node 1 migrates slot 100 to node 2 while random commands arrive: a
    /// model (two maps, the keys moved so far) says what each should answer.
    #[test]
    fn a_migrating_pair_of_nodes_agrees_with_a_model(ops in prop::collection::vec(op(), 1..60)) {
        let (mut one, mut two, first) = migrating();
        let keys: Vec<Vec<u8>> = (0..12u32)
            .map(|n| if n == 0 { first.clone() } else if n % 3 == 0 { key_in(101 + n as u16) } else { other_key_in(100, n) })
            .collect();
        let mut on_one: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        on_one.insert(first.clone(), b"here".to_vec());
        let mut on_two: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut id = 10;
        for op in ops {
            id += 1;
            match op {
                Op::Get(k) | Op::Set(k, _) => {
                    let key = &keys[usize::from(k)];
                    let request = match op {
                        Op::Set(_, v) => set(id, key, &v.to_string()),
                        _ => get(id, key),
                    };
                    let in_100 = oracle_slot(key) == 100;
                    let got = ask_node(&mut one, 5, request.clone());
                    let want = if in_100 && !on_one.contains_key(key) {
                        Outcome::Ask { slot: 100, node: 2 }
                    } else if let Op::Set(_, v) = op {
                        on_one.insert(key.clone(), v.to_string().into_bytes());
                        STORED
                    } else {
                        Outcome::Served(Answer::Value(on_one.get(key).cloned()))
                    };
                    prop_assert_eq!(&got, &want, "node 1 (migrating slot 100) answered {:?}", request);
                    if got == (Outcome::Ask { slot: 100, node: 2 }) {
                        let got = ask_node(&mut two, 5, asking(request.clone()));
                        let want = if let Op::Set(_, v) = op {
                            on_two.insert(key.clone(), v.to_string().into_bytes());
                            STORED
                        } else {
                            Outcome::Served(Answer::Value(on_two.get(key).cloned()))
                        };
                        prop_assert_eq!(&got, &want, "node 2 (importing slot 100) answered ASKING {:?}", request);
                    }
                }
                Op::Ask(k) => {
                    let key = &keys[usize::from(k)];
                    let s = oracle_slot(key);
                    let got = ask_node(&mut two, 5, get(id, key));
                    prop_assert_eq!(got, Outcome::Moved { slot: s, node: 1 }, "node 2 without ASKING");
                }
                Op::Migrate(n) => {
                    let batch = one.migrate(100, usize::from(n)).map_err(|e| TestCaseError::fail(format!("migrate: {e:?}")))?;
                    let in_slot = on_one.keys().filter(|k| oracle_slot(k) == 100).count();
                    prop_assert_eq!(batch.len(), in_slot.min(usize::from(n)), "migrate(100, {}) with {} keys of slot 100 on node 1", n, in_slot);
                    for (k, v) in &batch {
                        let removed = on_one.remove(k);
                        prop_assert_eq!(removed.as_ref(), Some(v), "migrate handed over a key node 1 did not hold, or a wrong value");
                        on_two.insert(k.clone(), v.clone());
                    }
                    two.import(100, batch).map_err(|e| TestCaseError::fail(format!("import: {e:?}")))?;
                }
            }
        }
    }
}
