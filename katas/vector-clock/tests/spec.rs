//! The specification of the vector-clock kata.
//!
//! Every test name is a requirement; read the failing names first. Clocks
//! are judged three ways: scripted comparisons, the laws of a partial order
//! and of a least upper bound (proptest, on random clocks), and a simulated
//! message exchange whose true happens-before relation the clocks must
//! reproduce exactly. The store is judged by scripted sibling cases and by a
//! model that tracks, for every write, which writes its client had seen.
//!
//! `cargo test -p vector-clock` judges your code;
//! `cargo test -p vector-clock --features solution` judges the reference.

// No loom models in this kata; this keeps the file out of a loom build.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use vector_clock as subject;
#[cfg(feature = "solution")]
use vector_clock_solution as subject;

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use rstest::rstest;
use subject::{Causality, Context, Replica, VectorClock};

// ───────────────────────────── helpers ─────────────────────────────

/// The nodes the random clocks use.
const NODES: [&str; 4] = ["a", "b", "c", "d"];

/// A clock that has counted `n` events of each `(node, n)`.
fn clock(entries: &[(&str, u64)]) -> VectorClock {
    let mut clock = VectorClock::new();
    for &(node, count) in entries {
        for _ in 0..count {
            clock.increment(node);
        }
    }
    clock
}

/// A clock with `counts[i]` events of `NODES[i]`.
fn clock_of(counts: [u64; 4]) -> VectorClock {
    let entries: Vec<(&str, u64)> = NODES.iter().copied().zip(counts).collect();
    clock(&entries)
}

/// A clock's entries for `NODES`, read through `get`.
fn counts(clock: &VectorClock) -> [u64; 4] {
    NODES.map(|node| clock.get(node))
}

/// `{a:1, b:0, c:0, d:0}` for messages.
fn show(clock: &VectorClock) -> String {
    show_nodes(clock, &NODES)
}

/// `{a:1, b:0, ...}` for the given nodes.
fn show_nodes(clock: &VectorClock, nodes: &[&str]) -> String {
    let entries: Vec<String> = nodes
        .iter()
        .map(|node| format!("{node}:{}", clock.get(node)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

fn mirror(causality: Causality) -> Causality {
    match causality {
        Causality::Before => Causality::After,
        Causality::After => Causality::Before,
        other => other,
    }
}

/// The definition, on plain arrays: the obviously-correct comparison.
fn pointwise(a: [u64; 4], b: [u64; 4]) -> Causality {
    let a_larger = a.iter().zip(&b).any(|(x, y)| x > y);
    let b_larger = a.iter().zip(&b).any(|(x, y)| x < y);
    match (a_larger, b_larger) {
        (false, false) => Causality::Equal,
        (false, true) => Causality::Before,
        (true, false) => Causality::After,
        (true, true) => Causality::Concurrent,
    }
}

fn merged(a: &VectorClock, b: &VectorClock) -> VectorClock {
    let mut out = a.clone();
    out.merge(b);
    out
}

// ─────────────────────── Clocks: scripted ───────────────────────

#[test]
fn a_new_clock_knows_no_event() {
    let clock = VectorClock::new();
    for node in ["a", "b", "replica-7", ""] {
        assert_eq!(
            clock.get(node),
            0,
            "a new clock should count 0 events of {node:?}"
        );
    }
    assert_eq!(
        clock.compare(&VectorClock::new()),
        Causality::Equal,
        "two new clocks know the same (no) events: compare should say Equal"
    );
    assert_eq!(
        VectorClock::default().compare(&clock),
        Causality::Equal,
        "VectorClock::default() should be the same as VectorClock::new()"
    );
}

#[test]
fn increment_counts_the_events_of_one_node() {
    let mut clock = VectorClock::new();
    assert_eq!(clock.increment("a"), 1, "the first event of a is a's 1st");
    assert_eq!(clock.increment("a"), 2, "the second event of a is a's 2nd");
    assert_eq!(
        clock.increment("b"),
        1,
        "b's count is its own: its first event is b's 1st"
    );
    assert_eq!(clock.increment("a"), 3, "a's third event is a's 3rd");
    assert_eq!(
        (clock.get("a"), clock.get("b"), clock.get("c")),
        (3, 1, 0),
        "after 3 events of a and 1 of b, the clock should read a:3, b:1, c:0"
    );
}

#[rstest]
#[case::nothing_before_something(&[], &[("a", 1)], Causality::Before)]
#[case::one_more_event_of_the_same_node(&[("a", 1)], &[("a", 2)], Causality::Before)]
#[case::a_missing_node_counts_zero(&[("a", 1)], &[("a", 1), ("b", 1)], Causality::Before)]
#[case::a_missing_node_counts_zero_on_the_left(&[("b", 1)], &[("a", 1), ("b", 1)], Causality::Before)]
#[case::more_of_every_node(&[("a", 2), ("b", 3)], &[("a", 1), ("b", 1)], Causality::After)]
#[case::the_same_events(&[("a", 1), ("b", 2), ("c", 3)], &[("c", 3), ("b", 2), ("a", 1)], Causality::Equal)]
#[case::each_ahead_somewhere(&[("a", 2), ("b", 1)], &[("a", 1), ("b", 2)], Causality::Concurrent)]
#[case::different_nodes_only(&[("a", 1)], &[("b", 1)], Causality::Concurrent)]
#[case::a_larger_sum_is_not_later(&[("a", 3)], &[("a", 1), ("b", 1)], Causality::Concurrent)]
#[case::equal_sums_are_not_equal(&[("a", 1), ("b", 2)], &[("a", 2), ("b", 1)], Causality::Concurrent)]
#[case::ahead_on_all_but_one(&[("a", 5), ("b", 5), ("c", 5)], &[("a", 1), ("b", 1), ("c", 1), ("d", 1)], Causality::Concurrent)]
fn compare_orders_clocks_entry_by_entry(
    #[case] left: &[(&str, u64)],
    #[case] right: &[(&str, u64)],
    #[case] expected: Causality,
) {
    let (x, y) = (clock(left), clock(right));
    assert_eq!(
        x.compare(&y),
        expected,
        "compare({left:?}, {right:?}) should be {expected:?}: Before if every entry is at most \
         the other's and one is smaller, Concurrent if each is larger somewhere, a missing node \
         counting 0 (never compare sums)"
    );
    assert_eq!(
        y.compare(&x),
        mirror(expected),
        "compare({right:?}, {left:?}) should be {:?}, the mirror of compare({left:?}, {right:?})",
        mirror(expected)
    );
}

#[test]
fn merge_takes_the_larger_count_of_every_node() {
    let mut x = clock(&[("a", 2), ("b", 1)]);
    x.merge(&clock(&[("a", 1), ("b", 3), ("c", 1)]));
    assert_eq!(
        (x.get("a"), x.get("b"), x.get("c"), x.get("d")),
        (2, 3, 1, 0),
        "{{a:2, b:1}} merged with {{a:1, b:3, c:1}} should be {{a:2, b:3, c:1}}: the larger \
         count of each node, not the sum"
    );
    let before = counts(&x);
    let copy = x.clone();
    x.merge(&copy);
    assert_eq!(
        counts(&x),
        before,
        "merging a clock with itself should change nothing"
    );
}

#[test]
fn receive_merges_the_message_then_counts_one_event_of_the_receiver() {
    let mut b = clock(&[("b", 1)]);
    b.receive("b", &clock(&[("a", 2)]));
    assert_eq!(
        (b.get("a"), b.get("b")),
        (2, 2),
        "b at {{b:1}} receiving a message stamped {{a:2}} should be at {{a:2, b:2}}: it learns \
         a's 2 events and counts the receipt as its own event"
    );

    let mut fresh = VectorClock::new();
    let message = clock(&[("a", 1)]);
    fresh.receive("b", &message);
    assert_eq!(
        message.compare(&fresh),
        Causality::Before,
        "a send stamped {{a:1}} happened before its receipt by b: the receiving clock (here \
         {}) must be strictly later, so the receipt must count an event of b",
        show(&fresh)
    );

    let mut a = clock(&[("a", 2)]);
    a.receive("a", &clock(&[("a", 1)]));
    assert_eq!(
        a.get("a"),
        3,
        "a at {{a:2}} receiving an old message stamped {{a:1}} should be at {{a:3}}: merge keeps \
         the larger count, then the receipt counts one"
    );
}

#[test]
fn a_receipt_is_later_than_its_message_even_when_the_message_knows_more_of_the_receiver() {
    // b restarted with an empty clock, and a message that already carries
    // b's first event (b's own earlier message, relayed back by a) arrives.
    let message = clock(&[("a", 1), ("b", 1)]);
    let mut b = VectorClock::new();
    b.receive("b", &message);
    assert_eq!(
        (b.get("a"), b.get("b")),
        (1, 2),
        "b at {{}} receiving a message stamped {{a:1, b:1}} should be at {{a:1, b:2}}: merge \
         first (b learns its own event 1), then count the receipt as b's event 2; counting \
         first lets the merge swallow the tick"
    );
    assert_eq!(
        message.compare(&b),
        Causality::Before,
        "a message happened before its receipt, even when the message already knows more of \
         the receiver's events than the receiver does: the receipt ({}) must be strictly later",
        show(&b)
    );

    let mut c = clock(&[("c", 1)]);
    c.receive("c", &clock(&[("c", 3)]));
    assert_eq!(
        c.get("c"),
        4,
        "c at {{c:1}} receiving a message stamped {{c:3}} should be at {{c:4}}: the larger count, \
         then one for the receipt"
    );
}

// ─────────────────────── Clocks: laws on random clocks ───────────────────────

fn counts_strategy() -> impl Strategy<Value = [u64; 4]> {
    [0u64..4, 0u64..4, 0u64..4, 0u64..4]
}

/// How a second clock is made from a first, so that nearly-equal pairs
/// (the interesting ones) are common.
#[derive(Debug, Clone, Copy)]
enum Tweak {
    Same,
    Bump(usize),
    Drop(usize),
    Swap(usize, usize),
    Fresh([u64; 4]),
}

fn tweak(counts: [u64; 4], tweak: Tweak) -> [u64; 4] {
    let mut out = counts;
    match tweak {
        Tweak::Same => {}
        Tweak::Bump(i) => out[i] += 1,
        Tweak::Drop(i) => out[i] = out[i].saturating_sub(1),
        Tweak::Swap(i, j) => out.swap(i, j),
        Tweak::Fresh(other) => out = other,
    }
    out
}

fn pairs() -> impl Strategy<Value = ([u64; 4], [u64; 4])> {
    let tweaks = prop_oneof![
        Just(Tweak::Same),
        (0usize..4).prop_map(Tweak::Bump),
        (0usize..4).prop_map(Tweak::Drop),
        (0usize..4, 0usize..4).prop_map(|(i, j)| Tweak::Swap(i, j)),
        counts_strategy().prop_map(Tweak::Fresh),
    ];
    (counts_strategy(), tweaks).prop_map(|(a, t)| (a, tweak(a, t)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn compare_agrees_with_the_entry_by_entry_order((a, b) in pairs()) {
        let expected = pointwise(a, b);
        let (x, y) = (clock_of(a), clock_of(b));
        prop_assert_eq!(
            x.compare(&y), expected,
            "compare({}, {}) should be {:?}", show(&x), show(&y), expected
        );
    }

    #[test]
    fn compare_is_reflexive(a in counts_strategy()) {
        let x = clock_of(a);
        prop_assert_eq!(
            x.compare(&x.clone()), Causality::Equal,
            "a clock compared with a copy of itself ({}) should be Equal", show(&x)
        );
    }

    #[test]
    fn compare_is_antisymmetric((a, b) in pairs()) {
        let (x, y) = (clock_of(a), clock_of(b));
        let forward = x.compare(&y);
        let backward = y.compare(&x);
        let x_le_y = matches!(forward, Causality::Before | Causality::Equal);
        let y_le_x = matches!(backward, Causality::Before | Causality::Equal);
        if x_le_y && y_le_x {
            prop_assert_eq!(
                counts(&x), counts(&y),
                "compare says {} ≤ {} ({:?}) and {} ≤ {} ({:?}): then the two clocks must know \
                 exactly the same events, entry by entry",
                show(&x), show(&y), forward, show(&y), show(&x), backward
            );
        }
    }

    #[test]
    fn compare_mirrors_when_the_clocks_swap((a, b) in pairs()) {
        let (x, y) = (clock_of(a), clock_of(b));
        prop_assert_eq!(
            y.compare(&x), mirror(x.compare(&y)),
            "compare({}, {}) is {:?}, so compare({}, {}) should be its mirror",
            show(&x), show(&y), x.compare(&y), show(&y), show(&x)
        );
    }

    #[test]
    fn compare_is_transitive(
        a in counts_strategy(),
        up1 in counts_strategy(),
        up2 in counts_strategy(),
        other in counts_strategy(),
    ) {
        // b ≥ a and c ≥ b by construction, plus an unrelated clock.
        let b: [u64; 4] = std::array::from_fn(|i| a[i] + up1[i] % 2);
        let c: [u64; 4] = std::array::from_fn(|i| b[i] + up2[i] % 2);
        let clocks = [clock_of(a), clock_of(b), clock_of(c), clock_of(other)];
        for x in &clocks {
            for y in &clocks {
                for z in &clocks {
                    let (xy, yz, xz) = (x.compare(y), y.compare(z), x.compare(z));
                    let le = |c: Causality| matches!(c, Causality::Before | Causality::Equal);
                    if le(xy) && le(yz) {
                        let expected = if xy == Causality::Equal && yz == Causality::Equal {
                            Causality::Equal
                        } else {
                            Causality::Before
                        };
                        prop_assert_eq!(
                            xz, expected,
                            "compare({}, {}) is {:?} and compare({}, {}) is {:?}, so \
                             compare({}, {}) should be {:?}",
                            show(x), show(y), xy, show(y), show(z), yz, show(x), show(z), expected
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn merge_is_the_entry_by_entry_maximum((a, b) in pairs()) {
        let m = merged(&clock_of(a), &clock_of(b));
        let expected: [u64; 4] = std::array::from_fn(|i| a[i].max(b[i]));
        prop_assert_eq!(
            counts(&m), expected,
            "{} merged with {} should take the larger count of each node",
            show(&clock_of(a)), show(&clock_of(b))
        );
    }

    #[test]
    fn merge_is_commutative((a, b) in pairs()) {
        let (x, y) = (clock_of(a), clock_of(b));
        prop_assert_eq!(
            counts(&merged(&x, &y)), counts(&merged(&y, &x)),
            "merging {} into {} should give the same clock as merging {} into {}",
            show(&y), show(&x), show(&x), show(&y)
        );
    }

    #[test]
    fn merge_is_associative(a in counts_strategy(), b in counts_strategy(), c in counts_strategy()) {
        let (x, y, z) = (clock_of(a), clock_of(b), clock_of(c));
        prop_assert_eq!(
            counts(&merged(&merged(&x, &y), &z)), counts(&merged(&x, &merged(&y, &z))),
            "(x merge y) merge z should equal x merge (y merge z) for x = {}, y = {}, z = {}",
            show(&x), show(&y), show(&z)
        );
    }

    #[test]
    fn merge_is_idempotent((a, b) in pairs()) {
        let (x, y) = (clock_of(a), clock_of(b));
        let once = merged(&x, &y);
        prop_assert_eq!(
            counts(&merged(&once, &y)), counts(&once),
            "merging {} a second time into {} should change nothing (a message delivered twice \
             is not two messages)", show(&y), show(&once)
        );
        prop_assert_eq!(
            counts(&merged(&x, &x)), counts(&x),
            "merging {} with itself should change nothing", show(&x)
        );
    }

    #[test]
    fn merge_is_the_least_upper_bound((a, b) in pairs(), extra in counts_strategy()) {
        let (x, y) = (clock_of(a), clock_of(b));
        let m = merged(&x, &y);
        for (part, name) in [(&x, "the first"), (&y, "the second")] {
            prop_assert!(
                matches!(part.compare(&m), Causality::Before | Causality::Equal),
                "{} clock {} should be Before or Equal to the merge {} (it knows everything \
                 both knew), but compare said {:?}",
                name, show(part), show(&m), part.compare(&m)
            );
        }
        // Any clock that knows everything both know also knows the merge.
        let bound: [u64; 4] = std::array::from_fn(|i| a[i].max(b[i]) + extra[i] % 2);
        let upper = clock_of(bound);
        prop_assert!(
            matches!(m.compare(&upper), Causality::Before | Causality::Equal),
            "{} is at least {} and {}, so it should be at least their merge {}, but compare said {:?}",
            show(&upper), show(&x), show(&y), show(&m), m.compare(&upper)
        );
    }
}

// ─────────────── Clocks: a simulated message exchange ───────────────

/// Three nodes of a simulated system.
const PEERS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Step {
    /// A local event at a node.
    Local(usize),
    /// A node sends a message to another (`to` is an offset: 1 or 2 on).
    Send { from: usize, to: usize },
    /// One of the messages in flight (any, not necessarily the oldest) is
    /// delivered. Nothing happens if none is in flight.
    Deliver(Index),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    vec(
        prop_oneof![
            1 => (0usize..3).prop_map(Step::Local),
            2 => (0usize..3, 1usize..3).prop_map(|(from, to)| Step::Send { from, to }),
            2 => any::<Index>().prop_map(Step::Deliver),
        ],
        1..28,
    )
}

/// One event of the simulation: its node, its clock, what it was, and the
/// events it directly follows (the node's previous event, and for a receipt
/// the matching send).
struct Event {
    clock: VectorClock,
    what: String,
    after: Vec<usize>,
}

fn simulate(steps: &[Step]) -> Vec<Event> {
    let mut clocks: Vec<VectorClock> = PEERS.iter().map(|_| VectorClock::new()).collect();
    let mut last: [Option<usize>; 3] = [None; 3];
    let mut in_flight: Vec<(VectorClock, usize, usize)> = Vec::new(); // (stamp, to, send event)
    let mut events: Vec<Event> = Vec::new();
    for step in steps {
        let (node, what, mut after) = match *step {
            Step::Local(node) => {
                clocks[node].increment(PEERS[node]);
                (node, format!("{} does local work", PEERS[node]), vec![])
            }
            Step::Send { from, to } => {
                let to = (from + to) % 3;
                clocks[from].increment(PEERS[from]);
                in_flight.push((clocks[from].clone(), to, events.len()));
                (
                    from,
                    format!("{} sends to {}", PEERS[from], PEERS[to]),
                    vec![],
                )
            }
            Step::Deliver(pick) => {
                if in_flight.is_empty() {
                    continue;
                }
                let (stamp, to, sent) = in_flight.remove(pick.index(in_flight.len()));
                clocks[to].receive(PEERS[to], &stamp);
                (
                    to,
                    format!("{} receives the message of event {sent}", PEERS[to]),
                    vec![sent],
                )
            }
        };
        after.extend(last[node]);
        last[node] = Some(events.len());
        events.push(Event {
            clock: clocks[node].clone(),
            what,
            after,
        });
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn clocks_reproduce_happens_before_in_a_simulated_message_exchange(steps in steps()) {
        let events = simulate(&steps);
        // The true happens-before relation: the transitive closure of "the
        // node's previous event" and "the send of the message received".
        let mut ancestors: Vec<BTreeSet<usize>> = Vec::with_capacity(events.len());
        for event in &events {
            let mut set = BTreeSet::new();
            for &p in &event.after {
                set.insert(p);
                set.extend(ancestors[p].iter().copied());
            }
            ancestors.push(set);
        }
        let story: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i}: {} {}", e.what, show_nodes(&e.clock, &PEERS)))
            .collect();
        for j in 0..events.len() {
            for i in 0..j {
                let expected = if ancestors[j].contains(&i) {
                    Causality::Before
                } else {
                    Causality::Concurrent
                };
                prop_assert_eq!(
                    events[i].clock.compare(&events[j].clock), expected,
                    "event {} ({}) {} event {} ({}), so comparing their clocks should say {:?}; \
                     the events and their clocks: {:#?}",
                    i, events[i].what,
                    if expected == Causality::Before { "happened before" } else { "is concurrent with" },
                    j, events[j].what, expected, story
                );
                prop_assert_eq!(
                    events[j].clock.compare(&events[i].clock), mirror(expected),
                    "comparing event {}'s clock with event {}'s should be the mirror of the \
                     reverse comparison; the events and their clocks: {:#?}", j, i, story
                );
            }
        }
    }
}

// ─────────────────────── The store: scripted siblings ───────────────────────

fn read(replica: &Replica<&'static str>, key: &str) -> (Vec<&'static str>, Context) {
    let (mut values, context) = replica.get(key);
    values.sort_unstable();
    (values, context)
}

fn values(replica: &Replica<&'static str>, key: &str) -> Vec<&'static str> {
    read(replica, key).0
}

#[test]
fn an_unknown_key_reads_as_no_values() {
    let replica: Replica<&'static str> = Replica::new("a");
    assert!(
        values(&replica, "cart").is_empty(),
        "a key never written should read as no values"
    );
    let mut replica = replica;
    let (_, context) = replica.get("cart");
    replica.put("cart", "book", &context);
    assert_eq!(
        values(&replica, "cart"),
        vec!["book"],
        "a first write, with the context of a read that found nothing, should be the only value"
    );
    assert!(
        values(&replica, "profile").is_empty(),
        "writing \"cart\" should leave \"profile\" unwritten"
    );
}

#[test]
fn a_write_with_the_context_it_read_replaces_the_value() {
    let mut replica = Replica::new("a");
    replica.put("cart", "book", &Context::default());
    for next in ["book+pen", "book+pen+ink", "ink"] {
        let (_, context) = read(&replica, "cart");
        replica.put("cart", next, &context);
        assert_eq!(
            values(&replica, "cart"),
            vec![next],
            "a write carrying the context of the latest read has seen the value it replaces: \
             only {next:?} should be left"
        );
    }
}

#[test]
fn a_blind_write_becomes_a_sibling_instead_of_overwriting() {
    let mut replica = Replica::new("a");
    replica.put("cart", "book", &Context::default());
    replica.put("cart", "pen", &Context::default());
    assert_eq!(
        values(&replica, "cart"),
        vec!["book", "pen"],
        "two writes that have each seen nothing (empty contexts) are concurrent: both should be \
         kept as siblings, not the last one only"
    );
    let (_, context) = read(&replica, "cart");
    replica.put("cart", "book+pen", &context);
    assert_eq!(
        values(&replica, "cart"),
        vec!["book+pen"],
        "a write whose context saw both siblings resolves them: only \"book+pen\" should be left"
    );
}

#[test]
fn concurrent_writes_at_two_replicas_become_siblings_after_sync() {
    let mut a = Replica::new("a");
    let mut b = Replica::new("b");
    a.put("cart", "book", &Context::default());
    b.put("cart", "pen", &Context::default());
    b.sync_from(&a);
    assert_eq!(
        values(&b, "cart"),
        vec!["book", "pen"],
        "\"book\" written at a and \"pen\" written at b, neither having seen the other, are \
         concurrent: after b syncs from a it should hold both as siblings"
    );
    a.sync_from(&b);
    assert_eq!(
        values(&a, "cart"),
        vec!["book", "pen"],
        "after a syncs from b it should hold both siblings too"
    );
    a.sync_from(&b);
    assert_eq!(
        values(&a, "cart"),
        vec!["book", "pen"],
        "syncing again should change nothing: a version known to both replicas is kept once"
    );
}

#[test]
fn a_write_that_saw_both_siblings_resolves_them_on_every_replica() {
    let mut a = Replica::new("a");
    let mut b = Replica::new("b");
    a.put("cart", "book", &Context::default());
    b.put("cart", "pen", &Context::default());
    b.sync_from(&a);
    // The client reads both siblings at b, merges them, and writes at a.
    let (siblings, context) = read(&b, "cart");
    assert_eq!(siblings, vec!["book", "pen"], "b should hold both siblings");
    a.put("cart", "book+pen", &context);
    assert_eq!(
        values(&a, "cart"),
        vec!["book+pen"],
        "a write at a whose context (read at b) saw \"book\" and \"pen\" replaces both, even \
         though a never held \"pen\""
    );
    b.sync_from(&a);
    assert_eq!(
        values(&b, "cart"),
        vec!["book+pen"],
        "after b syncs from a, the resolved value should replace both siblings at b too"
    );
}

#[test]
fn sync_never_brings_back_an_overwritten_value() {
    let mut a = Replica::new("a");
    let mut b = Replica::new("b");
    a.put("cart", "book", &Context::default());
    b.sync_from(&a);
    let (_, context) = read(&a, "cart");
    a.put("cart", "pen", &context);
    a.sync_from(&b);
    assert_eq!(
        values(&a, "cart"),
        vec!["pen"],
        "\"pen\" was written over \"book\" (its context saw \"book\"): syncing from b, which \
         still holds the old \"book\", must not bring it back"
    );
    b.sync_from(&a);
    assert_eq!(
        values(&b, "cart"),
        vec!["pen"],
        "b syncing from a should replace its old \"book\" with \"pen\""
    );
}

#[test]
fn sync_never_brings_back_a_value_overwritten_two_writes_ago() {
    let mut a = Replica::new("a");
    let mut b = Replica::new("b");
    b.put("cart", "book", &Context::default());
    a.sync_from(&b);
    let (_, context) = read(&a, "cart");
    a.put("cart", "book+pen", &context);
    let (_, context) = read(&a, "cart");
    a.put("cart", "book+pen+ink", &context);
    assert_eq!(
        values(&a, "cart"),
        vec!["book+pen+ink"],
        "two writes at a, each with the context of the latest read, leave one value"
    );
    a.sync_from(&b);
    assert_eq!(
        values(&a, "cart"),
        vec!["book+pen+ink"],
        "\"book\" (written at b) was overwritten by \"book+pen\", which was overwritten by \
         \"book+pen+ink\": the last write has seen \"book\" too, so syncing from b, which still \
         holds \"book\", must not bring it back. A context is everything the values read had \
         seen, not only the versions returned"
    );
    b.sync_from(&a);
    assert_eq!(
        values(&b, "cart"),
        vec!["book+pen+ink"],
        "b syncing from a should replace its old \"book\" with \"book+pen+ink\""
    );
}

#[test]
fn a_blind_write_after_a_resolution_from_another_replica_survives_sync() {
    let mut east = Replica::new("east");
    let mut west = Replica::new("west");
    east.put("cart", "book", &Context::default());
    west.sync_from(&east);
    let (_, context) = read(&west, "cart");
    west.put("cart", "pen", &context);
    east.sync_from(&west);
    assert_eq!(
        values(&east, "cart"),
        vec!["pen"],
        "\"pen\" (written at west over \"book\") should replace \"book\" at east"
    );
    // A client that never read the cart writes at east, which now holds no
    // version of its own.
    east.put("cart", "ink", &Context::default());
    assert_eq!(
        values(&east, "cart"),
        vec!["ink", "pen"],
        "a blind write of \"ink\" at east is concurrent with \"pen\": both should be siblings"
    );
    west.sync_from(&east);
    assert_eq!(
        values(&west, "cart"),
        vec!["ink", "pen"],
        "\"ink\" was written blind at east after \"pen\" replaced east's \"book\": no write has \
         seen it, so west should receive it as a sibling of \"pen\". A write must get an event \
         of east never used before, not one \"pen\"'s context already saw"
    );
    east.sync_from(&west);
    assert_eq!(
        values(&east, "cart"),
        vec!["ink", "pen"],
        "after syncing back, east should still hold \"ink\" and \"pen\""
    );
}

#[test]
fn two_writes_from_the_same_read_become_siblings() {
    let mut a = Replica::new("a");
    a.put("cart", "book", &Context::default());
    let (_, first_client) = read(&a, "cart");
    let (_, second_client) = read(&a, "cart");
    a.put("cart", "book+pen", &first_client);
    a.put("cart", "book+ink", &second_client);
    assert_eq!(
        values(&a, "cart"),
        vec!["book+ink", "book+pen"],
        "two clients read \"book\" and each wrote over it: both writes saw \"book\" and neither \
         saw the other, so both should be kept as siblings (and \"book\" dropped)"
    );
}

#[test]
fn followup_a_stale_write_keeps_the_sibling_it_never_saw_even_after_sync() {
    let mut a = Replica::new("a");
    let mut b = Replica::new("b");
    a.put("cart", "book", &Context::default());
    // A second client, which never read "book", writes blindly to a.
    a.put("cart", "pen", &Context::default());
    b.sync_from(&a);
    assert_eq!(
        values(&b, "cart"),
        vec!["book", "pen"],
        "\"book\" and \"pen\" were both written at a, \"pen\" by a client that never saw \"book\": \
         they are concurrent, and b should receive both. A version clock made of the context \
         plus one tick of a makes \"pen\" ({{a:2}}) look later than \"book\" ({{a:1}}) and loses \
         \"book\" here: the store must remember which write made each version"
    );
    let mut c = Replica::new("c");
    c.sync_from(&b);
    a.sync_from(&c);
    assert_eq!(
        values(&a, "cart"),
        vec!["book", "pen"],
        "after the siblings travel a → b → c → a, a should still hold both"
    );
}

// ─────────────────────── The store: properties and model ───────────────────────

const KEYS: [&str; 2] = ["cart", "profile"];

#[derive(Debug, Clone)]
enum StoreOp {
    /// A client reads `key` at `replica` and keeps the context.
    Read { replica: usize, key: usize },
    /// A client writes `key` at `replica`: blind (`None`), or with one of
    /// the contexts read earlier for the same key.
    Write {
        replica: usize,
        key: usize,
        context: Option<Index>,
    },
    /// `to` syncs from `from`.
    Sync { from: usize, to: usize },
}

fn store_ops(len: usize) -> impl Strategy<Value = Vec<StoreOp>> {
    vec(
        prop_oneof![
            2 => (0usize..3, 0usize..2).prop_map(|(replica, key)| StoreOp::Read { replica, key }),
            3 => (0usize..3, 0usize..2, proptest::option::weighted(0.7, any::<Index>()))
                .prop_map(|(replica, key, context)| StoreOp::Write { replica, key, context }),
            2 => (0usize..3, 1usize..3).prop_map(|(from, to)| StoreOp::Sync { from, to: (from + to) % 3 }),
        ],
        1..len,
    )
}

/// The obviously-correct store: every write knows the set of writes its
/// client had seen, and a replica knows a set of writes. Its siblings are the
/// writes it knows that no write it knows has seen.
#[derive(Debug, Default)]
struct Model {
    /// `seen[w]`: the writes write `w` (value `w + 1`) had seen, transitively.
    seen: Vec<BTreeSet<usize>>,
    /// `known[replica][key]`: the writes each replica knows, per key.
    known: [[BTreeSet<usize>; 2]; 3],
}

impl Model {
    fn siblings(&self, replica: usize, key: usize) -> BTreeSet<usize> {
        let known = &self.known[replica][key];
        known
            .iter()
            .copied()
            .filter(|w| !known.iter().any(|u| self.seen[*u].contains(w)))
            .collect()
    }

    fn values(&self, replica: usize, key: usize) -> Vec<u32> {
        self.siblings(replica, key)
            .into_iter()
            .map(|w| u32::try_from(w + 1).expect("few writes"))
            .collect()
    }

    /// Everything a read of `siblings` has seen.
    fn closure(&self, siblings: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut seen = siblings.clone();
        for &w in siblings {
            seen.extend(self.seen[w].iter().copied());
        }
        seen
    }

    /// Records a write at `replica` whose client had seen `seen`; returns
    /// its value.
    fn write(&mut self, replica: usize, key: usize, seen: BTreeSet<usize>) -> u32 {
        let id = self.seen.len();
        self.seen.push(seen);
        self.known[replica][key].insert(id);
        u32::try_from(id + 1).expect("few writes")
    }

    fn sync(&mut self, from: usize, to: usize) {
        for key in 0..2 {
            let theirs = self.known[from][key].clone();
            self.known[to][key].extend(theirs);
        }
    }
}

fn sorted_values(replica: &Replica<u32>, key: usize) -> Vec<u32> {
    let (mut values, _) = replica.get(KEYS[key]);
    values.sort_unstable();
    values
}

const REPLICAS: [&str; 3] = ["a", "b", "c"];

/// Runs `ops` on three replicas and the model, checking every replica's
/// siblings of every key after each step.
fn run_against_model(ops: &[StoreOp]) -> Result<Vec<Replica<u32>>, TestCaseError> {
    let mut replicas: Vec<Replica<u32>> = REPLICAS.into_iter().map(Replica::new).collect();
    let mut model = Model::default();
    // Contexts read so far: (key, the store's context, the writes it saw).
    let mut reads: Vec<(usize, Context, BTreeSet<usize>)> = Vec::new();
    // What happened, in words, for the failure message.
    let mut story: Vec<String> = Vec::new();
    for op in ops {
        match *op {
            StoreOp::Read { replica, key } => {
                let (mut values, context) = replicas[replica].get(KEYS[key]);
                values.sort_unstable();
                let seen = model.closure(&model.siblings(replica, key));
                story.push(format!(
                    "read #{} of {:?} at {} returns {values:?}",
                    reads.len(),
                    KEYS[key],
                    REPLICAS[replica]
                ));
                reads.push((key, context, seen));
            }
            StoreOp::Write {
                replica,
                key,
                context,
            } => {
                let same_key: Vec<usize> =
                    (0..reads.len()).filter(|&i| reads[i].0 == key).collect();
                let (context, seen, how) = match context {
                    Some(pick) if !same_key.is_empty() => {
                        let i = same_key[pick.index(same_key.len())];
                        let (_, context, seen) = &reads[i];
                        (
                            context.clone(),
                            seen.clone(),
                            format!("with the context of read #{i}"),
                        )
                    }
                    _ => (Context::default(), BTreeSet::new(), "blind".to_owned()),
                };
                let value = model.write(replica, key, seen);
                story.push(format!(
                    "write {value} to {:?} at {}, {how}",
                    KEYS[key], REPLICAS[replica]
                ));
                replicas[replica].put(KEYS[key], value, &context);
            }
            StoreOp::Sync { from, to } => {
                let source = replicas[from].clone();
                replicas[to].sync_from(&source);
                model.sync(from, to);
                story.push(format!("{} syncs from {}", REPLICAS[to], REPLICAS[from]));
            }
        }
        for (r, replica) in replicas.iter().enumerate() {
            for (key, name) in KEYS.iter().enumerate() {
                prop_assert_eq!(
                    sorted_values(replica, key),
                    model.values(r, key),
                    "replica {} should hold as siblings of {:?} exactly the writes it knows that \
                     no write it knows had seen (a write has seen what the read whose context it \
                     carries returned, and everything those values had seen); after {:#?}",
                    REPLICAS[r],
                    name,
                    story
                );
            }
        }
    }
    Ok(replicas)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn followup_agrees_with_a_model_of_write_histories(ops in store_ops(30)) {
        run_against_model(&ops)?;
    }

    #[test]
    fn followup_replicas_converge_on_the_same_siblings_whatever_the_sync_order(
        ops in store_ops(20),
        order in Just((0..3).flat_map(|to| (0..3).map(move |from| (from, to)))
            .filter(|(from, to)| from != to)
            .collect::<Vec<_>>())
            .prop_shuffle(),
    ) {
        // Only writes and reads here: syncs are left for the end.
        let writes: Vec<StoreOp> =
            ops.into_iter().filter(|op| !matches!(op, StoreOp::Sync { .. })).collect();
        let mut replicas = run_against_model(&writes)?;
        let mut in_order = replicas.clone();
        // Full anti-entropy, twice round: every version reaches every replica.
        for _ in 0..2 {
            for &(from, to) in &order {
                let source = replicas[from].clone();
                replicas[to].sync_from(&source);
            }
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        let source = in_order[from].clone();
                        in_order[to].sync_from(&source);
                    }
                }
            }
        }
        for (key, name) in KEYS.iter().enumerate() {
            let reference = sorted_values(&in_order[0], key);
            for r in 0..3 {
                prop_assert_eq!(
                    sorted_values(&replicas[r], key), reference.clone(),
                    "after the writes {:?} and a full exchange in the order (from, to) {:?}, \
                     replica {} should hold the same siblings of {:?} as every replica after \
                     an exchange in another order", writes, order, REPLICAS[r], name
                );
                prop_assert_eq!(
                    sorted_values(&in_order[r], key), reference.clone(),
                    "after the writes {:?} and a full exchange, every replica should hold the \
                     same siblings of {:?}", writes, name
                );
            }
        }
    }
}
