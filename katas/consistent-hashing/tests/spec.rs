//! The specification of the consistent-hashing kata.
//!
//! Every test name is a requirement; read the failing names first. The hash
//! is part of the specification, so this file carries its own copy of it
//! (`spec_hash`) and a model ring built the obvious way: a sorted list of
//! `(point, node)` pairs scanned from the front. Properties run on random
//! rings and keys (proptest), and a failure shrinks to a small ring.
//!
//! `cargo test -p consistent-hashing` judges your code;
//! `cargo test -p consistent-hashing --features solution` judges the
//! reference.

// No loom models in this kata; this keeps the file out of a loom build.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use consistent_hashing as subject;
#[cfg(feature = "solution")]
use consistent_hashing_solution as subject;

use std::collections::{BTreeSet, HashMap};

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use rstest::rstest;
use subject::{HashRing, ring_hash};

// ───────────────────────────── helpers ─────────────────────────────

/// The specified hash, written out here so that the model below does not
/// depend on your `ring_hash`: 64-bit FNV-1a, then MurmurHash3's `fmix64`.
fn spec_hash(bytes: &[u8]) -> u64 {
    let mut k = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The obviously-correct ring: every virtual node's `(point, node)`, sorted,
/// and a linear scan for the first point at or after a key's.
#[derive(Debug, Clone)]
struct ModelRing {
    vnodes: usize,
    points: Vec<(u64, String)>,
}

impl ModelRing {
    fn new(vnodes: usize) -> Self {
        ModelRing {
            vnodes,
            points: Vec::new(),
        }
    }

    fn nodes(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.points.iter().map(|(_, node)| node).collect();
        set.into_iter().cloned().collect()
    }

    fn add(&mut self, node: &str) -> bool {
        if self.points.iter().any(|(_, n)| n == node) {
            return false;
        }
        for i in 0..self.vnodes {
            let point = spec_hash(format!("{node}#{i}").as_bytes());
            self.points.push((point, node.to_owned()));
        }
        self.points.sort();
        true
    }

    fn remove(&mut self, node: &str) -> bool {
        let before = self.points.len();
        self.points.retain(|(_, n)| n != node);
        self.points.len() != before
    }

    /// Index of the first point at or after the key's, wrapping to 0.
    fn start(&self, key: &[u8]) -> Option<usize> {
        let hash = spec_hash(key);
        if self.points.is_empty() {
            return None;
        }
        Some(
            self.points
                .iter()
                .position(|(point, _)| *point >= hash)
                .unwrap_or(0),
        )
    }

    fn node_for(&self, key: &[u8]) -> Option<String> {
        self.start(key).map(|i| self.points[i].1.clone())
    }

    fn replicas(&self, key: &[u8], n: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(start) = self.start(key) else {
            return out;
        };
        for step in 0..self.points.len() {
            let node = &self.points[(start + step) % self.points.len()].1;
            if out.len() < n && !out.contains(node) {
                out.push(node.clone());
            }
        }
        out
    }
}

fn ring_of(vnodes: usize, nodes: &[&str]) -> HashRing {
    let mut ring = HashRing::new(vnodes);
    for node in nodes {
        assert!(
            ring.add_node(node),
            "adding {node:?} to a ring that does not hold it yet should return true"
        );
    }
    ring
}

fn owned(node: Option<&str>) -> Option<String> {
    node.map(str::to_owned)
}

fn owned_all(nodes: Vec<&str>) -> Vec<String> {
    nodes.into_iter().map(str::to_owned).collect()
}

const CACHES: [&str; 3] = ["cache-a", "cache-b", "cache-c"];

// ─────────────────────── The hash is specified ───────────────────────

#[rstest]
#[case::empty_input(&b""[..], 0xefd0_1f60_ba99_2926)]
#[case::one_byte(&b"a"[..], 0x82a2_a958_a9be_ce5b)]
#[case::foobar(&b"foobar"[..], 0x2c22_1949_22d1_672b)]
#[case::a_key(&b"user:42"[..], 0x9988_17be_e671_8248)]
#[case::a_virtual_node_label(&b"cache-a#0"[..], 0x9cac_826d_434b_bb11)]
#[case::bytes_above_0x7f(&[0xff, 0x00, 0x80][..], 0x07b5_cbeb_c938_8e00)]
#[case::utf8_text("café".as_bytes(), 0xf50b_1f8e_2c06_82e6)]
fn ring_hash_is_fnv1a_64_followed_by_fmix64(#[case] bytes: &[u8], #[case] expected: u64) {
    assert_eq!(
        spec_hash(bytes),
        expected,
        "(the spec's own copy of the hash disagrees with its table: a bug in the spec)"
    );
    assert_eq!(
        ring_hash(bytes),
        expected,
        "ring_hash({bytes:?}) should be {expected:#018x}: 64-bit FNV-1a over the bytes \
         (offset basis 0xcbf29ce484222325, XOR each byte then multiply by 0x100000001b3, \
         wrapping), then fmix64; the value must be the same in every process and on every \
         platform"
    );
}

// ─────────────────────── Small rings, exact answers ───────────────────────

#[test]
fn an_empty_ring_owns_no_keys() {
    let ring = HashRing::new(10);
    assert_eq!(
        ring.node_for("user:42"),
        None,
        "a ring with no nodes should have no node for \"user:42\""
    );
    assert!(
        ring.replicas("user:42", 3).is_empty(),
        "a ring with no nodes should have no replicas for \"user:42\""
    );
    assert!(ring.nodes().is_empty(), "a new ring should have no members");

    let mut ring = ring_of(10, &["cache-a"]);
    assert!(
        ring.remove_node("cache-a"),
        "removing the ring's only member should return true"
    );
    assert_eq!(
        ring.node_for("user:42"),
        None,
        "once its only node is removed, a ring should have no node for \"user:42\" \
         (none of the node's virtual nodes may stay behind)"
    );
    assert!(
        ring.replicas("user:42", 3).is_empty(),
        "once its only node is removed, a ring should have no replicas for \"user:42\""
    );
}

#[rstest]
#[case::one_virtual_node(1)]
#[case::three_virtual_nodes(3)]
#[case::two_hundred_virtual_nodes(200)]
fn a_ring_of_one_node_sends_every_key_to_it(#[case] vnodes: usize) {
    let ring = ring_of(vnodes, &["solo"]);
    for key in ["", "user:1", "user:42", "cart:7", "\u{10ffff}"] {
        assert_eq!(
            ring.node_for(key),
            Some("solo"),
            "a ring whose only node is \"solo\" ({vnodes} virtual nodes) should send {key:?} to it"
        );
        assert_eq!(
            ring.replicas(key, 3),
            vec!["solo"],
            "a ring of one node should list it once among the 3 replicas asked for {key:?}"
        );
    }
    assert_eq!(
        ring.node_for(&[0xff_u8, 0xfe]),
        Some("solo"),
        "keys are bytes, not only text: [0xff, 0xfe] should go to \"solo\""
    );
}

#[test]
fn adding_a_member_twice_or_removing_a_stranger_changes_nothing() {
    let mut ring = ring_of(50, &CACHES);
    let keys: Vec<String> = (0..500).map(|i| format!("user:{i}")).collect();
    let before: Vec<Option<String>> = keys.iter().map(|k| owned(ring.node_for(k))).collect();
    assert!(
        !ring.add_node("cache-b"),
        "adding \"cache-b\" to a ring that already holds it should return false"
    );
    assert!(
        !ring.remove_node("cache-z"),
        "removing \"cache-z\", which was never added, should return false"
    );
    assert_eq!(
        ring.nodes(),
        CACHES.to_vec(),
        "after adding \"cache-b\" again and removing a stranger, the members should still \
         be each of {CACHES:?} once"
    );
    for (key, expected) in keys.iter().zip(&before) {
        assert_eq!(
            owned(ring.node_for(key)),
            *expected,
            "adding a member twice or removing a stranger should not move {key:?}"
        );
    }
    assert!(
        ring.remove_node("cache-b"),
        "removing \"cache-b\" should return true"
    );
    assert!(
        !ring.remove_node("cache-b"),
        "removing \"cache-b\" a second time should return false"
    );
    assert!(
        keys.iter().all(|k| ring.node_for(k) != Some("cache-b")),
        "\"cache-b\" was added twice but removed once: no key may still go to it"
    );
}

#[test]
fn nodes_lists_each_member_once_in_byte_order() {
    let mut ring = HashRing::new(5);
    for node in ["b", "a", "c", "B", "a", "10.0.0.2:6379"] {
        ring.add_node(node);
    }
    assert_eq!(
        ring.nodes(),
        vec!["10.0.0.2:6379", "B", "a", "b", "c"],
        "after adding b, a, c, B, a (again) and 10.0.0.2:6379, nodes() should list each \
         member once, in byte order of the names"
    );
    ring.remove_node("b");
    assert_eq!(
        ring.nodes(),
        vec!["10.0.0.2:6379", "B", "a", "c"],
        "after removing \"b\", nodes() should no longer list it"
    );
}

#[test]
fn a_node_name_may_contain_the_label_separator() {
    // Virtual node labels are "<node>#<i>", but a node's name is any string:
    // "redis#eu-1" is a member in its own right, not a label of "redis".
    let members = ["redis#eu-1", "redis#eu-2", "shard#2#1"];
    let mut ring = ring_of(40, &members);
    let mut model = ModelRing::new(40);
    for node in members {
        model.add(node);
    }
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    for key in &keys {
        assert_eq!(
            owned(ring.node_for(key)),
            model.node_for(key.as_bytes()),
            "on a ring of {members:?} (40 virtual nodes each), {key:?} belongs to the owner of \
             the first point at or after its own: a member's whole name, '#' and all, never the \
             part of a label before its first '#'"
        );
        assert_eq!(
            owned_all(ring.replicas(key, 2)),
            model.replicas(key.as_bytes(), 2),
            "on a ring of {members:?}, the 2 replicas of {key:?} should be members, by their \
             whole names"
        );
    }
    assert!(
        ring.remove_node("redis#eu-1"),
        "removing the member \"redis#eu-1\" should return true"
    );
    model.remove("redis#eu-1");
    assert_eq!(
        ring.nodes(),
        vec!["redis#eu-2", "shard#2#1"],
        "after removing \"redis#eu-1\", nodes() should list the other two members"
    );
    for key in &keys {
        assert_eq!(
            owned(ring.node_for(key)),
            model.node_for(key.as_bytes()),
            "once \"redis#eu-1\" has left, {key:?} should go to one of the remaining members \
             {:?}, as the first point at or after its own says: every one of the virtual \
             nodes of \"redis#eu-1\" must leave with it",
            model.nodes()
        );
    }
}

#[test]
fn a_ring_needs_at_least_one_virtual_node_per_node() {
    let ring = ring_of(1, &["solo"]);
    assert_eq!(
        ring.node_for("user:42"),
        Some("solo"),
        "a ring of one node with one virtual node should send \"user:42\" to it"
    );
    let zero = std::panic::catch_unwind(|| HashRing::new(0));
    assert!(
        zero.is_err(),
        "HashRing::new(0) should panic: a node with no virtual node owns no point of the ring, \
         so a ring of members would answer no node for every key (a configuration typo that \
         must fail at start-up, not at the first lookup)"
    );
}

/// Two node names whose 64-bit FNV-1a values are equal (found by a collision
/// search), so that every virtual node of one shares its point with the
/// virtual node of the same index of the other: `"AyNKI1Q2rEH#i"` and
/// `"Oc1AR7wi5zE#i"` hash alike for every `i`. In byte order the first is
/// the smaller.
const COLLIDING: [&str; 2] = ["AyNKI1Q2rEH", "Oc1AR7wi5zE"];

#[test]
fn followup_a_point_shared_by_two_nodes_belongs_to_the_smaller_name() {
    let [smaller, larger] = COLLIDING;
    for i in [0, 1, 7, 19] {
        assert_eq!(
            spec_hash(format!("{smaller}#{i}").as_bytes()),
            spec_hash(format!("{larger}#{i}").as_bytes()),
            "(the spec's colliding names should share every point: a bug in the spec)"
        );
    }
    // The larger name joins first: a tie broken by join order, or by a
    // stable sort on the point alone, gives its keys to the wrong node.
    for order in [[larger, smaller], [smaller, larger]] {
        let ring = ring_of(20, &order);
        for i in 0..200 {
            let key = format!("user:{i}");
            assert_eq!(
                ring.node_for(&key),
                Some(smaller),
                "every point of {larger:?} is also a point of {smaller:?}: where two virtual \
                 nodes share a point, the one of the smaller name (in byte order) comes first, \
                 so {key:?} belongs to {smaller:?}, whichever joined first (they joined in the \
                 order {order:?})"
            );
            assert_eq!(
                ring.replicas(&key, 2),
                vec![smaller, larger],
                "on a ring of {order:?} sharing every point, the 2 replicas of {key:?} should \
                 be the smaller name, then the larger (joined in the order {order:?})"
            );
        }
    }
    // Beside a third node, the answers still match a model that orders a
    // shared point by name, whatever the order of joining and leaving.
    let mut model = ModelRing::new(20);
    for node in ["cache-a", smaller, larger] {
        model.add(node);
    }
    let mut ring = ring_of(20, &[larger, "cache-a", smaller]);
    ring.remove_node(smaller);
    ring.add_node(smaller);
    for i in 0..300 {
        let key = format!("user:{i}");
        assert_eq!(
            owned(ring.node_for(&key)),
            model.node_for(key.as_bytes()),
            "on a ring of \"cache-a\", {smaller:?} and {larger:?} (which share every point; \
             {smaller:?} left and joined again last), {key:?} belongs to the first point at or \
             after its own, and a shared point to the smaller name"
        );
        assert_eq!(
            owned_all(ring.replicas(&key, 3)),
            model.replicas(key.as_bytes(), 3),
            "on a ring of \"cache-a\", {smaller:?} and {larger:?} (which share every point), \
             the 3 replicas of {key:?} should follow the points in order, a shared point's \
             smaller name first"
        );
    }
}

/// Answers computed from the specified hash: `(key, node_for, replicas(key, 3))`.
type Known = (&'static str, &'static str, [&'static str; 3]);

const THREE_CACHES_100_VNODES: [Known; 10] = [
    ("user:1", "cache-b", ["cache-b", "cache-c", "cache-a"]),
    ("user:2", "cache-c", ["cache-c", "cache-b", "cache-a"]),
    ("user:3", "cache-b", ["cache-b", "cache-c", "cache-a"]),
    ("user:42", "cache-a", ["cache-a", "cache-b", "cache-c"]),
    ("cart:7", "cache-c", ["cache-c", "cache-a", "cache-b"]),
    ("session:abc", "cache-a", ["cache-a", "cache-c", "cache-b"]),
    ("", "cache-b", ["cache-b", "cache-c", "cache-a"]),
    ("product:1001", "cache-c", ["cache-c", "cache-b", "cache-a"]),
    (
        "order:2024-06-01",
        "cache-b",
        ["cache-b", "cache-a", "cache-c"],
    ),
    ("café", "cache-c", ["cache-c", "cache-b", "cache-a"]),
];

const FIVE_REDIS_160_VNODES: [Known; 10] = [
    (
        "user:1",
        "10.0.0.5:6379",
        ["10.0.0.5:6379", "10.0.0.2:6379", "10.0.0.1:6379"],
    ),
    (
        "user:2",
        "10.0.0.5:6379",
        ["10.0.0.5:6379", "10.0.0.2:6379", "10.0.0.1:6379"],
    ),
    (
        "user:3",
        "10.0.0.4:6379",
        ["10.0.0.4:6379", "10.0.0.1:6379", "10.0.0.5:6379"],
    ),
    (
        "user:42",
        "10.0.0.2:6379",
        ["10.0.0.2:6379", "10.0.0.1:6379", "10.0.0.3:6379"],
    ),
    (
        "cart:7",
        "10.0.0.1:6379",
        ["10.0.0.1:6379", "10.0.0.3:6379", "10.0.0.5:6379"],
    ),
    (
        "session:abc",
        "10.0.0.4:6379",
        ["10.0.0.4:6379", "10.0.0.1:6379", "10.0.0.2:6379"],
    ),
    (
        "",
        "10.0.0.4:6379",
        ["10.0.0.4:6379", "10.0.0.2:6379", "10.0.0.5:6379"],
    ),
    (
        "product:1001",
        "10.0.0.3:6379",
        ["10.0.0.3:6379", "10.0.0.2:6379", "10.0.0.5:6379"],
    ),
    (
        "order:2024-06-01",
        "10.0.0.2:6379",
        ["10.0.0.2:6379", "10.0.0.5:6379", "10.0.0.3:6379"],
    ),
    (
        "café",
        "10.0.0.2:6379",
        ["10.0.0.2:6379", "10.0.0.5:6379", "10.0.0.3:6379"],
    ),
];

const FIVE_REDIS: [&str; 5] = [
    "10.0.0.1:6379",
    "10.0.0.2:6379",
    "10.0.0.3:6379",
    "10.0.0.4:6379",
    "10.0.0.5:6379",
];

#[rstest]
#[case::three_caches_100_vnodes(100, &CACHES[..], &THREE_CACHES_100_VNODES[..])]
#[case::five_redis_160_vnodes(160, &FIVE_REDIS[..], &FIVE_REDIS_160_VNODES[..])]
fn node_for_matches_the_known_answers_of_the_specified_hash(
    #[case] vnodes: usize,
    #[case] nodes: &[&str],
    #[case] known: &[Known],
) {
    let ring = ring_of(vnodes, nodes);
    for &(key, node, _) in known {
        assert_eq!(
            ring.node_for(key),
            Some(node),
            "on a ring of {nodes:?} with {vnodes} virtual nodes each, {key:?} belongs to \
             {node:?}: that is what the specified hash gives (FNV-1a 64 then fmix64; keys at \
             ring_hash(key), virtual node i of a node at ring_hash(\"<node>#<i>\")), in every \
             process. A per-process seed (RandomState, DefaultHasher), another hash, another \
             label for virtual nodes or `hash % nodes` gives other answers"
        );
    }
}

#[rstest]
#[case::three_caches_100_vnodes(100, &CACHES[..], &THREE_CACHES_100_VNODES[..])]
#[case::five_redis_160_vnodes(160, &FIVE_REDIS[..], &FIVE_REDIS_160_VNODES[..])]
fn replicas_match_the_known_answers_of_the_specified_hash(
    #[case] vnodes: usize,
    #[case] nodes: &[&str],
    #[case] known: &[Known],
) {
    let ring = ring_of(vnodes, nodes);
    for &(key, _, replicas) in known {
        assert_eq!(
            ring.replicas(key, 3),
            replicas.to_vec(),
            "on a ring of {nodes:?} with {vnodes} virtual nodes each, the 3 replicas of {key:?} \
             are the first 3 distinct nodes met walking clockwise from its point: {replicas:?}"
        );
    }
}

// ─────────────────────── Edges of the ring ───────────────────────

/// Keys (`"<prefix>-<i>"`) whose point lies after every point of `model`.
fn keys_past_the_last_point(model: &ModelRing, prefix: &str, count: usize) -> Vec<String> {
    let last = model.points.last().map_or(0, |(point, _)| *point);
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|key| spec_hash(key.as_bytes()) > last)
        .take(count)
        .collect()
}

#[test]
fn a_key_past_the_last_point_wraps_around_to_the_first() {
    let ring = ring_of(100, &CACHES);
    let mut model = ModelRing::new(100);
    for node in CACHES {
        model.add(node);
    }
    let (first_point, first_owner) = model.points[0].clone();
    let (last_point, _) = model.points[model.points.len() - 1].clone();
    for key in keys_past_the_last_point(&model, "wrap", 4) {
        assert_eq!(
            owned(ring.node_for(&key)),
            Some(first_owner.clone()),
            "{key:?} hashes to {:#018x}, past the ring's last point {last_point:#018x}: it \
             should wrap around to the owner of the first point ({first_point:#018x}), \
             {first_owner:?}",
            spec_hash(key.as_bytes())
        );
        let replicas = ring.replicas(&key, 3);
        assert_eq!(
            owned_all(replicas.clone()),
            model.replicas(key.as_bytes(), 3),
            "the replicas of {key:?}, which hashes past the last point, should be the first 3 \
             distinct nodes from the start of the ring: the walk wraps around too"
        );
    }
}

#[test]
fn followup_a_key_exactly_on_a_virtual_node_point_belongs_to_that_node() {
    let ring = ring_of(100, &CACHES);
    // A key spelled like a virtual node's label hashes to exactly its point.
    for (key, node) in [
        ("cache-a#0", "cache-a"),
        ("cache-b#17", "cache-b"),
        ("cache-c#99", "cache-c"),
        ("cache-a#42", "cache-a"),
        ("cache-b#63", "cache-b"),
        ("cache-c#8", "cache-c"),
    ] {
        assert_eq!(
            ring.node_for(key),
            Some(node),
            "{key:?} hashes to exactly the point of {node:?}'s virtual node {key:?}: a key \
             belongs to the first virtual node AT or after its point, so it should go to {node:?}"
        );
        assert_eq!(
            ring.replicas(key, 2).first().copied(),
            Some(node),
            "the replicas of {key:?} should start at the virtual node on its point, {node:?}"
        );
    }
}

// ─────────────────────── Balance ───────────────────────

#[rstest]
#[case::node_names_and_key_ids("node-", "key-")]
#[case::node_names_and_user_ids("node-", "user:")]
#[case::addresses_and_user_ids("10.0.0.", "user:")]
#[case::letters_and_key_ids("cache-", "key-")]
fn every_node_owns_its_share_of_keys_with_200_virtual_nodes(
    #[case] node_prefix: &str,
    #[case] key_prefix: &str,
) {
    let nodes: Vec<String> = (1..=10).map(|i| format!("{node_prefix}{i}")).collect();
    let mut ring = HashRing::new(200);
    for node in &nodes {
        ring.add_node(node);
    }
    let mut load: HashMap<String, usize> = HashMap::new();
    for i in 0..10_000 {
        let key = format!("{key_prefix}{i}");
        let node = ring
            .node_for(&key)
            .unwrap_or_else(|| panic!("a ring of 10 nodes should have a node for {key:?}"));
        *load.entry(node.to_owned()).or_default() += 1;
    }
    for node in &nodes {
        let keys = load.get(node).copied().unwrap_or(0);
        assert!(
            (750..=1250).contains(&keys),
            "with 10 nodes of 200 virtual nodes each, every node should own 1000 of the 10000 \
             keys {key_prefix}0..{key_prefix}9999 within 25% (750 to 1250), but {node:?} owns \
             {keys} (all loads: {load:?}). One point per node (no virtual nodes) leaves some \
             nodes several times the mean"
        );
    }
}

// ─────────────────────── Properties on random rings ───────────────────────

fn node_names() -> impl Strategy<Value = BTreeSet<String>> {
    btree_set("[a-z]{1,3}(-[0-9]{1,2})?", 2..8)
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..12), 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn node_for_is_stable_and_always_a_member(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in keys(),
    ) {
        let mut ring = HashRing::new(vnodes);
        for node in &nodes {
            ring.add_node(node);
        }
        for key in &keys {
            let first = owned(ring.node_for(key));
            prop_assert!(
                first.as_ref().is_some_and(|n| nodes.contains(n)),
                "node_for({:?}) should be one of the members {:?}, not {:?}", key, nodes, first
            );
            prop_assert_eq!(
                owned(ring.node_for(key)), first.clone(),
                "asking for the node of {:?} twice should give the same answer", key
            );
            prop_assert_eq!(
                owned(ring.clone().node_for(key)), first,
                "a clone of the ring should send {:?} to the same node", key
            );
        }
    }

    #[test]
    fn removing_a_node_moves_only_that_nodes_keys(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in keys(),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut ring = HashRing::new(vnodes);
        for node in &nodes {
            ring.add_node(node);
        }
        let gone = pick.get(&nodes.iter().collect::<Vec<_>>()).to_string();
        let before: Vec<Option<String>> = keys.iter().map(|k| owned(ring.node_for(k))).collect();
        prop_assert!(ring.remove_node(&gone), "removing the member {:?} should return true", gone);
        for (key, old) in keys.iter().zip(before) {
            let new = owned(ring.node_for(key));
            if old.as_deref() == Some(gone.as_str()) {
                prop_assert!(
                    new.is_some() && new != old,
                    "{:?} belonged to {:?}, which left the ring {:?}: it should move to one of \
                     the remaining nodes, not {:?}", key, gone, nodes, new
                );
            } else {
                prop_assert_eq!(
                    new, old.clone(),
                    "removing {:?} from the ring {:?} ({} virtual nodes each) should move only \
                     the keys it owned: {:?} belonged to {:?} and should stay there",
                    gone, nodes, vnodes, key, old
                );
            }
        }
    }

    #[test]
    fn adding_a_node_moves_keys_only_to_the_new_node(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in keys(),
        pick in any::<prop::sample::Index>(),
    ) {
        let newcomer = pick.get(&nodes.iter().collect::<Vec<_>>()).to_string();
        let mut ring = HashRing::new(vnodes);
        for node in nodes.iter().filter(|n| **n != newcomer) {
            ring.add_node(node);
        }
        let before: Vec<Option<String>> = keys.iter().map(|k| owned(ring.node_for(k))).collect();
        prop_assert!(ring.add_node(&newcomer), "adding {:?} should return true", newcomer);
        for (key, old) in keys.iter().zip(before) {
            let new = owned(ring.node_for(key));
            prop_assert!(
                new == old || new.as_deref() == Some(newcomer.as_str()),
                "adding {:?} to the ring {:?} ({} virtual nodes each) should move keys only to \
                 {:?}: {:?} moved from {:?} to {:?}",
                newcomer, nodes, vnodes, newcomer, key, old, new
            );
        }
    }

    #[test]
    fn replicas_are_distinct_members_starting_with_the_keys_node(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in vec(vec(any::<u8>(), 0..12), 1..40),
        n in 0usize..10,
    ) {
        let mut ring = HashRing::new(vnodes);
        for node in &nodes {
            ring.add_node(node);
        }
        for key in &keys {
            let replicas = ring.replicas(key, n);
            prop_assert_eq!(
                replicas.len(), n.min(nodes.len()),
                "asked for {} replicas of {:?} on a ring of {} nodes, got {:?}: that many \
                 distinct nodes, or every node if there are fewer", n, key, nodes.len(), replicas
            );
            let distinct: BTreeSet<&str> = replicas.iter().copied().collect();
            prop_assert_eq!(
                distinct.len(), replicas.len(),
                "the replicas of {:?} should be distinct physical nodes, got {:?} (the walk \
                 must skip virtual nodes of a node already listed)", key, replicas
            );
            prop_assert!(
                replicas.iter().all(|r| nodes.contains(*r)),
                "the replicas of {:?} should all be members of {:?}, got {:?}", key, nodes, replicas
            );
            if n > 0 {
                prop_assert_eq!(
                    replicas.first().copied(), ring.node_for(key),
                    "the first replica of {:?} should be node_for({:?})", key, key
                );
            }
        }
    }

    #[test]
    fn followup_node_for_depends_only_on_the_members_not_on_the_order_they_joined(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in keys(),
        order in any::<u64>(),
        rejoin in any::<prop::sample::Index>(),
    ) {
        let names: Vec<&String> = nodes.iter().collect();
        let mut shuffled = names.clone();
        // A Fisher-Yates shuffle driven by `order` (so that it shrinks).
        let mut state = order;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from((state >> 33) % (i as u64 + 1)).unwrap_or(0);
            shuffled.swap(i, j);
        }
        let mut sorted_ring = HashRing::new(vnodes);
        for node in &names {
            sorted_ring.add_node(node);
        }
        let mut shuffled_ring = HashRing::new(vnodes);
        for node in &shuffled {
            shuffled_ring.add_node(node);
        }
        // One node leaves and joins again: it must get its keys back.
        let again = rejoin.get(&names).as_str();
        shuffled_ring.remove_node(again);
        shuffled_ring.add_node(again);
        for key in &keys {
            prop_assert_eq!(
                owned(shuffled_ring.node_for(key)), owned(sorted_ring.node_for(key)),
                "two routers that learned the members in different orders ({:?} and {:?}, then \
                 {:?} left and rejoined) should send {:?} to the same node",
                names, shuffled, again, key
            );
            prop_assert_eq!(
                shuffled_ring.replicas(key, 3), sorted_ring.replicas(key, 3),
                "two routers that learned the members in different orders ({:?} and {:?}) \
                 should agree on the replicas of {:?}", names, shuffled, key
            );
        }
    }

    #[test]
    fn followup_removing_a_node_only_drops_it_from_every_preference_list(
        nodes in node_names(),
        vnodes in 1usize..40,
        keys in vec(vec(any::<u8>(), 0..12), 1..60),
        pick in any::<prop::sample::Index>(),
        n in 1usize..5,
    ) {
        let mut ring = HashRing::new(vnodes);
        for node in &nodes {
            ring.add_node(node);
        }
        let gone = pick.get(&nodes.iter().collect::<Vec<_>>()).to_string();
        let before: Vec<Vec<String>> =
            keys.iter().map(|k| owned_all(ring.replicas(k, n + 1))).collect();
        ring.remove_node(&gone);
        for (key, old) in keys.iter().zip(before) {
            let expected: Vec<String> =
                old.iter().filter(|node| **node != gone).take(n).cloned().collect();
            prop_assert_eq!(
                owned_all(ring.replicas(key, n)), expected,
                "when {:?} leaves, the {} replicas of {:?} should be its old {} replicas {:?} \
                 without {:?}: every other replica keeps its data and its place in line",
                gone, n, key, n + 1, old, gone
            );
        }
    }
}

// ─────────────────────── Model-based: random operations ───────────────────────

const POOL: [&str; 6] = ["a", "b", "cache-1", "cache-2", "10.0.0.1:6379", "ü"];

#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    Remove(usize),
    NodeFor(Vec<u8>),
    Replicas(Vec<u8>, usize),
}

/// Keys: random bytes, or a virtual node's label (a key exactly on a point).
fn model_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..6),
        1 => (0..POOL.len(), 0usize..8).prop_map(|(n, i)| format!("{}#{i}", POOL[n]).into_bytes()),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(
        prop_oneof![
            3 => (0..POOL.len()).prop_map(Op::Add),
            1 => (0..POOL.len()).prop_map(Op::Remove),
            3 => model_key().prop_map(Op::NodeFor),
            2 => (model_key(), 0usize..8).prop_map(|(k, n)| Op::Replicas(k, n)),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn agrees_with_a_sorted_list_of_virtual_node_points(vnodes in 1usize..6, ops in ops()) {
        let mut ring = HashRing::new(vnodes);
        let mut model = ModelRing::new(vnodes);
        for (step, op) in ops.iter().enumerate() {
            let done = &ops[..step];
            match op {
                Op::Add(n) => prop_assert_eq!(
                    ring.add_node(POOL[*n]), model.add(POOL[*n]),
                    "add_node({:?}) after {:?}: true only if it was not a member yet", POOL[*n], done
                ),
                Op::Remove(n) => prop_assert_eq!(
                    ring.remove_node(POOL[*n]), model.remove(POOL[*n]),
                    "remove_node({:?}) after {:?}: true only if it was a member", POOL[*n], done
                ),
                Op::NodeFor(key) => prop_assert_eq!(
                    owned(ring.node_for(key)), model.node_for(key),
                    "node_for({:?}) (point {:#018x}) after {:?} on a ring of {} virtual nodes per \
                     node: the owner of the first point at or after the key's, wrapping around \
                     (ring points: {:x?})",
                    key, spec_hash(key), done, vnodes, model.points
                ),
                Op::Replicas(key, n) => prop_assert_eq!(
                    owned_all(ring.replicas(key, *n)), model.replicas(key, *n),
                    "replicas({:?}, {}) (point {:#018x}) after {:?} on a ring of {} virtual nodes \
                     per node: the first {} distinct nodes walking clockwise from the key's point \
                     (ring points: {:x?})",
                    key, n, spec_hash(key), done, vnodes, n, model.points
                ),
            }
            prop_assert_eq!(
                owned_all(ring.nodes()), model.nodes(),
                "nodes() after {:?}: each member once, in byte order", &ops[..=step]
            );
        }
    }
}
