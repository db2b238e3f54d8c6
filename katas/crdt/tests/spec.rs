//! The specification of the crdt kata.
//!
//! Every test name is a requirement; read the failing names first. The
//! scripted tests replay the classic conflicts one step at a time. The
//! properties run random schedules among three replicas: local updates,
//! states sent and delivered late, out of order, twice or never, then a full
//! exchange. After every step, each replica's value is compared with an
//! obviously correct model: the value is a function of the *set of updates*
//! a replica has seen (its own, and those inside every state it merged), so
//! the model keeps that set and computes the value afresh.
//!
//! `cargo test -p crdt` judges your code;
//! `cargo test -p crdt --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use crdt as subject;
#[cfg(feature = "solution")]
use crdt_solution as subject;

use std::collections::BTreeSet;
use std::fmt::Debug;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rstest::rstest;
use subject::{GCounter, LwwRegister, OrSet, PnCounter, ReplicaId};

// ─────────────────────────── helpers ───────────────────────────

/// `a` with `b` merged into it, `a` and `b` untouched.
fn merged<C: Crdt>(a: &C::State, b: &C::State) -> C::State {
    let mut out = a.clone();
    C::merge(&mut out, b);
    out
}

// ───────────────────── G-Counter: scripted ─────────────────────

#[test]
fn g_counter_counts_every_increment_of_every_replica() {
    let mut counter = GCounter::new();
    assert_eq!(counter.value(), 0, "a new G-Counter should be at 0");
    counter.increment(1, 3);
    counter.increment(2, 4);
    counter.increment(1, 1);
    assert_eq!(
        counter.value(),
        8,
        "increments of 3 and 1 by replica 1 and 4 by replica 2 should add up to 8"
    );
    counter.increment(3, 0);
    assert_eq!(
        counter.value(),
        8,
        "an increment of 0 should leave the counter at 8"
    );
}

#[test]
fn g_counter_merge_counts_what_the_other_replica_saw_exactly_once() {
    let mut a = GCounter::new();
    let mut b = GCounter::new();
    a.increment(1, 3);
    b.increment(2, 2);
    let old_a = a.clone();
    a.merge(&b);
    assert_eq!(
        a.value(),
        5,
        "replica 1 counted 3 and replica 2 counted 2: after merging, the value should be 5"
    );
    a.merge(&b);
    assert_eq!(
        a.value(),
        5,
        "receiving replica 2's state a second time should change nothing: still 5"
    );
    a.merge(&old_a);
    assert_eq!(
        a.value(),
        5,
        "merging an older state of the same replica should change nothing: still 5"
    );
    b.merge(&a);
    assert_eq!(
        b.value(),
        5,
        "replica 2, after merging replica 1's merged state, should also show 5"
    );
    a.increment(1, 10);
    b.merge(&a);
    assert_eq!(
        b.value(),
        15,
        "replica 1 counted 10 more; replica 2 receives it and should show 15, \
         counting the earlier 3 and 2 once each"
    );
}

// ───────────────────── PN-Counter: scripted ─────────────────────

#[test]
fn pn_counter_counts_increments_minus_decrements() {
    let mut counter = PnCounter::new();
    assert_eq!(counter.value(), 0, "a new PN-Counter should be at 0");
    counter.increment(1, 2);
    counter.decrement(1, 5);
    assert_eq!(
        counter.value(),
        -3,
        "+2 then -5 by replica 1 should make -3 (a PN-Counter goes below zero)"
    );
    counter.decrement(2, 1);
    counter.increment(2, 7);
    assert_eq!(
        counter.value(),
        3,
        "+2 -5 by replica 1 and -1 +7 by replica 2 should make 3"
    );
}

#[test]
fn pn_counter_keeps_decrements_made_after_a_state_was_shared() {
    let mut a = PnCounter::new();
    let mut b = PnCounter::new();
    a.increment(1, 5);
    b.merge(&a);
    assert_eq!(b.value(), 5, "replica 2 received +5 from replica 1: 5");
    a.decrement(1, 3);
    b.merge(&a);
    assert_eq!(
        b.value(),
        2,
        "replica 1 then decremented by 3; replica 2 receives the new state and should \
         show 5 - 3 = 2 (a decrement must not be lost because an older, larger value \
         was seen first)"
    );
    b.decrement(2, 4);
    a.merge(&b);
    b.merge(&a);
    assert_eq!(
        (a.value(), b.value()),
        (-2, -2),
        "+5 -3 by replica 1 and -4 by replica 2, exchanged both ways, should make -2 on both"
    );
}

// ──────────────────── LWW-Register: scripted ────────────────────

#[test]
fn lww_register_is_empty_until_the_first_write() {
    let mut register = LwwRegister::new();
    assert_eq!(register.get(), None, "a new register should hold no value");
    register.set("alice", 1, 1);
    assert_eq!(
        register.get(),
        Some(&"alice"),
        "after a write of \"alice\", the register should hold it"
    );
    let empty = LwwRegister::new();
    register.merge(&empty);
    assert_eq!(
        register.get(),
        Some(&"alice"),
        "merging an empty register should keep \"alice\""
    );
}

#[rstest]
#[case::timestamp_zero_by_replica_zero(0, 0)]
#[case::timestamp_zero_by_the_largest_replica(0, ReplicaId::MAX)]
#[case::the_largest_timestamp_by_replica_zero(u64::MAX, 0)]
#[case::the_largest_timestamp_by_the_largest_replica(u64::MAX, ReplicaId::MAX)]
fn lww_register_holds_its_first_write_whatever_its_timestamp_and_replica(
    #[case] timestamp: u64,
    #[case] replica: ReplicaId,
) {
    let mut register = LwwRegister::new();
    register.set("first", timestamp, replica);
    assert_eq!(
        register.get(),
        Some(&"first"),
        "an empty register written at timestamp {timestamp} by replica {replica} should hold \
         that write: nothing was written before it"
    );
    let mut empty = LwwRegister::new();
    empty.merge(&register);
    assert_eq!(
        empty.get(),
        Some(&"first"),
        "an empty register that merges a state holding a write at timestamp {timestamp} by \
         replica {replica} should hold that write"
    );
}

#[rstest]
#[case::across_two_to_the_32(u32::MAX as u64, 1u64 << 32)]
#[case::milliseconds_since_1970_across_a_multiple_of_two_to_the_32(
    400 * (1u64 << 32) - 1,
    400 * (1u64 << 32)
)]
#[case::near_the_top_of_u64_across_a_multiple_of_two_to_the_32(
    u64::MAX - (1u64 << 32),
    u64::MAX - 0xFFFF_FFFF
)]
#[case::at_the_top_of_u64(u64::MAX - 1, u64::MAX)]
fn lww_register_compares_whole_timestamps_up_to_u64_max(#[case] earlier: u64, #[case] later: u64) {
    // The earlier write comes from the larger replica id: only the whole
    // timestamp can put it first.
    for (first, second) in [
        (("earlier", earlier, 9), ("later", later, 1)),
        (("later", later, 1), ("earlier", earlier, 9)),
    ] {
        let mut local = LwwRegister::new();
        local.set(first.0, first.1, first.2);
        local.set(second.0, second.1, second.2);
        assert_eq!(
            local.get(),
            Some(&"later"),
            "writes at {earlier} (replica 9) and {later} (replica 1), set in the order \
             {first:?} then {second:?}: the later timestamp should win"
        );
        let (mut a, mut b) = (LwwRegister::new(), LwwRegister::new());
        a.set(first.0, first.1, first.2);
        b.set(second.0, second.1, second.2);
        a.merge(&b);
        assert_eq!(
            a.get(),
            Some(&"later"),
            "a register holding {first:?} that merges one holding {second:?}: the write at \
             {later} should win over the one at {earlier}"
        );
    }
}

#[test]
fn lww_register_keeps_the_write_with_the_latest_timestamp_whatever_the_arrival_order() {
    let mut a = LwwRegister::new();
    let mut b = LwwRegister::new();
    a.set("draft", 5, 1);
    b.set("published", 7, 2);
    let (old_a, old_b) = (a.clone(), b.clone());
    a.merge(&old_b);
    b.merge(&old_a);
    assert_eq!(
        (a.get(), b.get()),
        (Some(&"published"), Some(&"published")),
        "\"published\" at t=7 beats \"draft\" at t=5, whichever replica merges the other"
    );
    a.set("stale", 6, 1);
    assert_eq!(
        a.get(),
        Some(&"published"),
        "a local write at t=6 is older than the \"published\" at t=7 the register holds: \
         it should lose, as it would on merge"
    );
    a.set("final", 8, 1);
    b.merge(&a);
    assert_eq!(
        b.get(),
        Some(&"final"),
        "a write at t=8 should beat \"published\" at t=7"
    );
}

/// Two writes at the same timestamp: "one" by replica 1 and "two" by replica
/// 2. However they meet, replica 2's wins.
#[rstest]
#[case::replica_one_merges_replica_two(Meeting::OneMergesTwo)]
#[case::replica_two_merges_replica_one(Meeting::TwoMergesOne)]
#[case::replica_one_writes_locally_after_receiving_two(Meeting::OneWritesAfterReceivingTwo)]
#[case::replica_two_writes_locally_after_receiving_one(Meeting::TwoWritesAfterReceivingOne)]
#[case::a_third_replica_receives_one_then_two(Meeting::ThirdReceivesOneThenTwo)]
#[case::a_third_replica_receives_two_then_one(Meeting::ThirdReceivesTwoThenOne)]
fn lww_register_breaks_a_timestamp_tie_in_favour_of_the_larger_replica_id(
    #[case] meeting: Meeting,
) {
    let one = || {
        let mut r = LwwRegister::new();
        r.set("one", 10, 1);
        r
    };
    let two = || {
        let mut r = LwwRegister::new();
        r.set("two", 10, 2);
        r
    };
    let result = match meeting {
        Meeting::OneMergesTwo => {
            let mut r = one();
            r.merge(&two());
            r
        }
        Meeting::TwoMergesOne => {
            let mut r = two();
            r.merge(&one());
            r
        }
        Meeting::OneWritesAfterReceivingTwo => {
            let mut r = two();
            r.set("one", 10, 1);
            r
        }
        Meeting::TwoWritesAfterReceivingOne => {
            let mut r = one();
            r.set("two", 10, 2);
            r
        }
        Meeting::ThirdReceivesOneThenTwo => {
            let mut r = LwwRegister::new();
            r.merge(&one());
            r.merge(&two());
            r
        }
        Meeting::ThirdReceivesTwoThenOne => {
            let mut r = LwwRegister::new();
            r.merge(&two());
            r.merge(&one());
            r
        }
    };
    assert_eq!(
        result.get(),
        Some(&"two"),
        "\"one\" by replica 1 and \"two\" by replica 2 were both written at t=10 ({meeting:?}): \
         on a tie the larger replica id wins, so every replica should end with \"two\", \
         whatever the order of arrival"
    );
}

#[derive(Debug, Clone, Copy)]
enum Meeting {
    OneMergesTwo,
    TwoMergesOne,
    OneWritesAfterReceivingTwo,
    TwoWritesAfterReceivingOne,
    ThirdReceivesOneThenTwo,
    ThirdReceivesTwoThenOne,
}

// ──────────────────────── OR-Set: scripted ────────────────────────

fn set_of(elements: &[&'static str]) -> BTreeSet<&'static str> {
    elements.iter().copied().collect()
}

#[test]
fn or_set_adds_and_removes_elements() {
    let mut cart = OrSet::new();
    assert!(cart.elements().is_empty(), "a new OR-Set should be empty");
    cart.add("apple", 1);
    cart.add("banana", 1);
    cart.add("apple", 1);
    assert_eq!(
        cart.elements(),
        set_of(&["apple", "banana"]),
        "after adding apple, banana and apple again, the set should hold apple and banana"
    );
    cart.remove(&"apple");
    assert!(
        !cart.contains(&"apple"),
        "apple was removed (after being added twice): it should be gone"
    );
    assert!(cart.contains(&"banana"), "banana should still be there");
    cart.remove(&"cherry");
    assert_eq!(
        cart.elements(),
        set_of(&["banana"]),
        "removing cherry, which was never added, should change nothing"
    );
}

#[test]
fn or_set_a_replica_that_restarts_and_catches_up_still_tags_its_adds_anew() {
    // Replica 1 adds x and y; replica 2 receives them and removes x.
    let mut before_restart = OrSet::new();
    before_restart.add("x", 1);
    before_restart.add("y", 1);
    let mut peer = OrSet::new();
    peer.merge(&before_restart);
    peer.remove(&"x");
    // Replica 1 restarts with an empty state and catches up from replica 2,
    // then adds x again and z.
    let mut restarted = OrSet::new();
    restarted.merge(&peer);
    restarted.add("x", 1);
    restarted.add("z", 1);
    assert_eq!(
        restarted.elements(),
        BTreeSet::from(["x", "y", "z"]),
        "replica 1, restarted and caught up from replica 2 (y; x removed), then adding x and z"
    );
    peer.merge(&restarted);
    assert_eq!(
        peer.elements(),
        BTreeSet::from(["x", "y", "z"]),
        "replica 1 restarted, caught up from replica 2, then added x again and z: replica 2 \
         should see both adds after merging its state; every add gets a tag never used \
         before, and the tags replica 1 used before its restart are in the state it caught \
         up from"
    );
    restarted.merge(&peer);
    assert_eq!(
        restarted.elements(),
        BTreeSet::from(["x", "y", "z"]),
        "replica 1 should keep its own new adds after merging replica 2's state back"
    );
}

#[test]
fn or_set_can_add_an_element_again_after_removing_it() {
    let mut a = OrSet::new();
    a.add("x", 1);
    a.remove(&"x");
    a.add("x", 1);
    assert!(
        a.contains(&"x"),
        "replica 1 added x, removed it, and added it again: x should be there \
         (an OR-Set is not a two-phase set; the new add has a new tag)"
    );

    let mut b = OrSet::new();
    b.merge(&a);
    b.remove(&"x");
    a.merge(&b);
    assert!(
        !a.contains(&"x"),
        "replica 2 saw x, removed it, and replica 1 received that: x should be gone"
    );
    a.add("x", 1);
    b.merge(&a);
    assert!(
        a.contains(&"x") && b.contains(&"x"),
        "replica 1 added x again after receiving the remove: x should be back on both replicas"
    );
    b.remove(&"x");
    b.add("x", 2);
    a.merge(&b);
    assert!(
        a.contains(&"x") && b.contains(&"x"),
        "replica 2 removed x then added it again: x should be there on both replicas"
    );
}

#[test]
fn or_set_keeps_an_add_concurrent_with_a_remove() {
    let mut a = OrSet::new();
    let mut b = OrSet::new();
    a.add("x", 1);
    b.merge(&a);
    // Concurrently: replica 2 removes the x it has seen, replica 1 adds x again.
    b.remove(&"x");
    a.add("x", 1);
    let (old_a, old_b) = (a.clone(), b.clone());
    a.merge(&old_b);
    b.merge(&old_a);
    assert!(
        a.contains(&"x") && b.contains(&"x"),
        "replica 2 removed x having seen only replica 1's first add, while replica 1 added x \
         again: the new add was not observed by the remove, so x should be there after the \
         merge, on both replicas (add wins). Replica 1 has {:?}, replica 2 has {:?}",
        a.elements(),
        b.elements()
    );
}

#[test]
fn or_set_a_remove_only_takes_away_the_adds_it_has_observed() {
    let mut a = OrSet::new();
    let mut b = OrSet::new();
    b.add("y", 2);
    b.remove(&"x");
    a.add("x", 1);
    b.merge(&a);
    assert!(
        b.contains(&"x"),
        "replica 2 removed x before it had seen any add of it, and replica 1 added x: the \
         remove observed no add, so x should be there after replica 2 merges"
    );
    a.add("y", 1);
    b.remove(&"y");
    a.merge(&b);
    assert!(
        a.contains(&"y"),
        "replica 2 removed its own y, but replica 1's add of y was concurrent and unseen: \
         y should still be there"
    );
}

#[test]
fn or_set_a_remove_that_observed_every_add_removes_the_element_everywhere() {
    let mut a = OrSet::new();
    let mut b = OrSet::new();
    a.add("x", 1);
    b.add("x", 2);
    a.merge(&b);
    b.merge(&a);
    a.remove(&"x");
    b.merge(&a);
    a.merge(&b);
    assert!(
        !a.contains(&"x") && !b.contains(&"x"),
        "both replicas added x, they exchanged, and replica 1 removed x having seen both \
         adds: x should be gone from both replicas (a merge must not bring a removed \
         element back). Replica 1 has {:?}, replica 2 has {:?}",
        a.elements(),
        b.elements()
    );
}

// ─────────────────── the model and the simulation ───────────────────

/// Three replicas, with ids 0, 1 and 2.
const REPLICAS: usize = 3;

/// One CRDT of the subject, and the model of its value: a replica's value is
/// a function of the set of updates it has seen.
trait Crdt {
    type State: Clone;
    /// A local update, as the schedule makes it.
    type Op: Clone + Debug;
    /// An update as the model records it.
    type Update: Clone + Debug;
    /// What a replica shows.
    type Value: PartialEq + Debug;
    const NAME: &'static str;

    fn new() -> Self::State;
    fn merge(state: &mut Self::State, other: &Self::State);
    fn value(state: &Self::State) -> Self::Value;
    /// Applies `op` as `replica` to the subject.
    fn apply(state: &mut Self::State, replica: ReplicaId, op: &Self::Op);
    /// The update `op` makes as `replica`, having seen `seen`; `None` if the
    /// API forbids it (an LWW write reusing a timestamp of the replica).
    fn update(
        replica: ReplicaId,
        op: &Self::Op,
        history: &[Self::Update],
        seen: &BTreeSet<usize>,
    ) -> Option<Self::Update>;
    /// The value of a state that has seen exactly the updates `seen`.
    fn expected(history: &[Self::Update], seen: &BTreeSet<usize>) -> Self::Value;
}

#[derive(Debug, Clone)]
enum CounterOp {
    Increment(u64),
    Decrement(u64),
}

#[derive(Debug, Clone)]
struct Write {
    value: u8,
    timestamp: u64,
}

#[derive(Debug, Clone)]
enum SetOp {
    Add(char),
    Remove(char),
}

/// An LWW write as the model records it.
#[derive(Debug, Clone, Copy)]
struct Written {
    value: u8,
    timestamp: u64,
    replica: ReplicaId,
}

#[derive(Clone)]
enum SetUpdate {
    Add(char),
    /// A remove, with the adds it observed (their numbers in the history).
    Remove(char, BTreeSet<usize>),
}

impl Debug for SetUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetUpdate::Add(elem) => write!(f, "Add({elem:?})"),
            SetUpdate::Remove(elem, observed) => {
                let observed: Vec<String> = observed.iter().map(|i| format!("#{i}")).collect();
                write!(f, "Remove({elem:?}, observing [{}])", observed.join(", "))
            }
        }
    }
}

struct GCounterKind;
struct PnCounterKind;
struct RegisterKind;
struct SetKind;

impl Crdt for GCounterKind {
    type State = GCounter;
    type Op = CounterOp;
    type Update = CounterOp;
    type Value = u64;
    const NAME: &'static str = "G-Counter";

    fn new() -> GCounter {
        GCounter::new()
    }
    fn merge(state: &mut GCounter, other: &GCounter) {
        state.merge(other);
    }
    fn value(state: &GCounter) -> u64 {
        state.value()
    }
    fn apply(state: &mut GCounter, replica: ReplicaId, op: &CounterOp) {
        if let CounterOp::Increment(n) = *op {
            state.increment(replica, n);
        }
    }
    fn update(
        _: ReplicaId,
        op: &CounterOp,
        _: &[CounterOp],
        _: &BTreeSet<usize>,
    ) -> Option<CounterOp> {
        Some(op.clone())
    }
    fn expected(history: &[CounterOp], seen: &BTreeSet<usize>) -> u64 {
        seen.iter()
            .map(|&i| match history[i] {
                CounterOp::Increment(n) => n,
                CounterOp::Decrement(_) => unreachable!("a G-Counter is never decremented"),
            })
            .sum()
    }
}

impl Crdt for PnCounterKind {
    type State = PnCounter;
    type Op = CounterOp;
    type Update = CounterOp;
    type Value = i64;
    const NAME: &'static str = "PN-Counter";

    fn new() -> PnCounter {
        PnCounter::new()
    }
    fn merge(state: &mut PnCounter, other: &PnCounter) {
        state.merge(other);
    }
    fn value(state: &PnCounter) -> i64 {
        state.value()
    }
    fn apply(state: &mut PnCounter, replica: ReplicaId, op: &CounterOp) {
        match *op {
            CounterOp::Increment(n) => state.increment(replica, n),
            CounterOp::Decrement(n) => state.decrement(replica, n),
        }
    }
    fn update(
        _: ReplicaId,
        op: &CounterOp,
        _: &[CounterOp],
        _: &BTreeSet<usize>,
    ) -> Option<CounterOp> {
        Some(op.clone())
    }
    fn expected(history: &[CounterOp], seen: &BTreeSet<usize>) -> i64 {
        seen.iter()
            .map(|&i| match history[i] {
                CounterOp::Increment(n) => n as i64,
                CounterOp::Decrement(n) => -(n as i64),
            })
            .sum()
    }
}

impl Crdt for RegisterKind {
    type State = LwwRegister<u8>;
    type Op = Write;
    type Update = Written;
    type Value = Option<u8>;
    const NAME: &'static str = "LWW-Register";

    fn new() -> LwwRegister<u8> {
        LwwRegister::new()
    }
    fn merge(state: &mut LwwRegister<u8>, other: &LwwRegister<u8>) {
        state.merge(other);
    }
    fn value(state: &LwwRegister<u8>) -> Option<u8> {
        state.get().copied()
    }
    fn apply(state: &mut LwwRegister<u8>, replica: ReplicaId, op: &Write) {
        state.set(op.value, op.timestamp, replica);
    }
    fn update(
        replica: ReplicaId,
        op: &Write,
        history: &[Self::Update],
        _: &BTreeSet<usize>,
    ) -> Option<Self::Update> {
        // A replica never writes twice at one timestamp.
        let reused = history
            .iter()
            .any(|w| (w.timestamp, w.replica) == (op.timestamp, replica));
        (!reused).then_some(Written {
            value: op.value,
            timestamp: op.timestamp,
            replica,
        })
    }
    fn expected(history: &[Written], seen: &BTreeSet<usize>) -> Option<u8> {
        seen.iter()
            .map(|&i| history[i])
            .max_by_key(|w| (w.timestamp, w.replica))
            .map(|w| w.value)
    }
}

impl Crdt for SetKind {
    type State = OrSet<char>;
    type Op = SetOp;
    type Update = SetUpdate;
    type Value = BTreeSet<char>;
    const NAME: &'static str = "OR-Set";

    fn new() -> OrSet<char> {
        OrSet::new()
    }
    fn merge(state: &mut OrSet<char>, other: &OrSet<char>) {
        state.merge(other);
    }
    fn value(state: &OrSet<char>) -> BTreeSet<char> {
        state.elements()
    }
    fn apply(state: &mut OrSet<char>, replica: ReplicaId, op: &SetOp) {
        match *op {
            SetOp::Add(elem) => state.add(elem, replica),
            SetOp::Remove(elem) => state.remove(&elem),
        }
    }
    fn update(
        _: ReplicaId,
        op: &SetOp,
        history: &[SetUpdate],
        seen: &BTreeSet<usize>,
    ) -> Option<SetUpdate> {
        Some(match *op {
            SetOp::Add(elem) => SetUpdate::Add(elem),
            SetOp::Remove(elem) => {
                let observed = seen
                    .iter()
                    .copied()
                    .filter(|&i| matches!(history[i], SetUpdate::Add(e) if e == elem))
                    .collect();
                SetUpdate::Remove(elem, observed)
            }
        })
    }
    fn expected(history: &[SetUpdate], seen: &BTreeSet<usize>) -> BTreeSet<char> {
        let removed: BTreeSet<usize> = seen
            .iter()
            .filter_map(|&i| match &history[i] {
                SetUpdate::Remove(_, observed) => Some(observed.iter().copied()),
                SetUpdate::Add(_) => None,
            })
            .flatten()
            .collect();
        seen.iter()
            .filter_map(|&i| match history[i] {
                SetUpdate::Add(elem) if !removed.contains(&i) => Some(elem),
                _ => None,
            })
            .collect()
    }
}

/// One step of a schedule among the three replicas.
#[derive(Debug, Clone)]
enum Step<Op> {
    /// Replica `at` makes a local update.
    Update { at: usize, op: Op },
    /// Replica `from` sends its current state to replica `to`. It arrives
    /// only when a `Deliver` step picks it: late, out of order, or never.
    Send { from: usize, to: usize },
    /// The message in flight number `message` (modulo how many were sent)
    /// arrives and is merged. Messages stay in flight, so a later step may
    /// deliver the same one again (a duplicate).
    Deliver { message: usize },
}

/// Whether a simulation compares the replicas with the model after every
/// step. The convergence properties do; the others check one thing only, so
/// that a failure says which requirement broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    EveryStep,
    Skip,
}

/// A state in flight.
struct Message<C: Crdt> {
    to: usize,
    state: C::State,
    seen: BTreeSet<usize>,
}

/// The replicas of one schedule, and what the model says each has seen.
struct Simulation<C: Crdt> {
    replicas: Vec<C::State>,
    seen: Vec<BTreeSet<usize>>,
    history: Vec<C::Update>,
    /// Which replica made each update of the history.
    authors: Vec<usize>,
    network: Vec<Message<C>>,
    /// Every replica's state after every step (and the empty state), with
    /// the updates it had seen.
    snapshots: Vec<(C::State, BTreeSet<usize>)>,
}

impl<C: Crdt> Simulation<C> {
    /// Runs `steps`; with `check`, compares every replica with the model
    /// after each one.
    fn run(steps: &[Step<C::Op>], check: Check) -> Result<Self, TestCaseError> {
        let mut sim = Simulation::<C> {
            replicas: (0..REPLICAS).map(|_| C::new()).collect(),
            seen: vec![BTreeSet::new(); REPLICAS],
            history: Vec::new(),
            authors: Vec::new(),
            network: Vec::new(),
            snapshots: vec![(C::new(), BTreeSet::new())],
        };
        for (number, step) in steps.iter().enumerate() {
            match *step {
                Step::Update { at, ref op } => {
                    let replica = at as ReplicaId;
                    if let Some(update) = C::update(replica, op, &sim.history, &sim.seen[at]) {
                        C::apply(&mut sim.replicas[at], replica, op);
                        sim.seen[at].insert(sim.history.len());
                        sim.history.push(update);
                        sim.authors.push(at);
                    }
                }
                Step::Send { from, to } => sim.network.push(Message {
                    to,
                    state: sim.replicas[from].clone(),
                    seen: sim.seen[from].clone(),
                }),
                Step::Deliver { message } => {
                    if !sim.network.is_empty() {
                        let message = &sim.network[message % sim.network.len()];
                        C::merge(&mut sim.replicas[message.to], &message.state);
                        sim.seen[message.to].extend(message.seen.iter().copied());
                    }
                }
            }
            for at in 0..REPLICAS {
                sim.snapshots
                    .push((sim.replicas[at].clone(), sim.seen[at].clone()));
                if check == Check::Skip {
                    continue;
                }
                let expected = C::expected(&sim.history, &sim.seen[at]);
                let shown = C::value(&sim.replicas[at]);
                prop_assert_eq!(
                    &shown,
                    &expected,
                    "{}: after step {} ({:?}), replica {} shows {:?}, but the updates it has \
                     seen ({}) make {:?}",
                    C::NAME,
                    number + 1,
                    step,
                    at,
                    shown,
                    sim.describe(&sim.seen[at]),
                    expected
                );
            }
        }
        Ok(sim)
    }

    /// The updates `seen`, for a failure message.
    fn describe(&self, seen: &BTreeSet<usize>) -> String {
        if seen.is_empty() {
            return "none".to_owned();
        }
        seen.iter()
            .map(|&i| format!("#{i} {:?} by replica {}", self.history[i], self.authors[i]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every replica merges every other's final state.
    fn exchange_everything(&mut self) {
        for from in 1..REPLICAS {
            let state = self.replicas[from].clone();
            C::merge(&mut self.replicas[0], &state);
        }
        let all = self.replicas[0].clone();
        for to in 1..REPLICAS {
            C::merge(&mut self.replicas[to], &all);
        }
    }
}

/// Random schedules of `op`s among the three replicas.
fn schedule<O: Strategy>(op: O) -> impl Strategy<Value = Vec<Step<O::Value>>>
where
    O::Value: Clone + Debug,
{
    let step = prop_oneof![
        4 => (0..REPLICAS, op).prop_map(|(at, op)| Step::Update { at, op }),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Step::Send { from, to }),
        3 => (0usize..16).prop_map(|message| Step::Deliver { message }),
    ];
    vec(step, 0..40)
}

fn g_counter_ops() -> impl Strategy<Value = CounterOp> {
    (0u64..=5).prop_map(CounterOp::Increment)
}

fn pn_counter_ops() -> impl Strategy<Value = CounterOp> {
    prop_oneof![
        (0u64..=5).prop_map(CounterOp::Increment),
        (0u64..=5).prop_map(CounterOp::Decrement),
    ]
}

/// Few timestamps, so that replicas often write at the same one.
fn register_ops() -> impl Strategy<Value = Write> {
    (any::<u8>(), 0u64..6).prop_map(|(value, timestamp)| Write { value, timestamp })
}

/// Few elements, so that adds and removes meet.
fn set_ops() -> impl Strategy<Value = SetOp> {
    let elem = prop_oneof![Just('a'), Just('b'), Just('c')];
    prop_oneof![
        3 => elem.clone().prop_map(SetOp::Add),
        2 => elem.prop_map(SetOp::Remove),
    ]
}

/// Every replica agrees with the model after every step, and after a full
/// exchange all of them show the value of every update made.
fn converges<C: Crdt>(steps: &[Step<C::Op>]) -> Result<(), TestCaseError> {
    let mut sim = Simulation::<C>::run(steps, Check::EveryStep)?;
    sim.exchange_everything();
    let everything: BTreeSet<usize> = (0..sim.history.len()).collect();
    let expected = C::expected(&sim.history, &everything);
    for at in 0..REPLICAS {
        let shown = C::value(&sim.replicas[at]);
        prop_assert_eq!(
            &shown,
            &expected,
            "{}: after the schedule and a full exchange of states, replica {} shows {:?}, but \
             every replica has now seen every update ({}), which make {:?}",
            C::NAME,
            at,
            shown,
            sim.describe(&everything),
            expected
        );
    }
    Ok(())
}

/// Merge is commutative, associative and idempotent, on three states of a
/// schedule. States are compared by their value, and by their value after
/// merging each of the three into them (two states that show the same value
/// but merge differently are not the same state).
fn obeys_the_merge_laws<C: Crdt>(
    steps: &[Step<C::Op>],
    picks: [usize; 3],
) -> Result<(), TestCaseError> {
    let sim = Simulation::<C>::run(steps, Check::Skip)?;
    let pick = |i: usize| &sim.snapshots[picks[i] % sim.snapshots.len()].0;
    let (a, b, c) = (pick(0), pick(1), pick(2));
    let probes = [a, b, c];
    let same = |x: &C::State, y: &C::State| {
        C::value(x) == C::value(y)
            && probes
                .iter()
                .all(|p| C::value(&merged::<C>(x, p)) == C::value(&merged::<C>(y, p)))
    };
    let (va, vb, vc) = (C::value(a), C::value(b), C::value(c));

    let aa = merged::<C>(a, a);
    prop_assert!(
        same(&aa, a),
        "{}: merging a state with itself should change nothing (idempotence): a state \
         showing {:?} shows {:?} after merging itself",
        C::NAME,
        va,
        C::value(&aa)
    );
    let ab = merged::<C>(a, b);
    let ba = merged::<C>(b, a);
    prop_assert!(
        same(&ab, &ba),
        "{}: merge should be commutative: a state showing {:?} merged with one showing {:?} \
         shows {:?}, but the other way round {:?}",
        C::NAME,
        va,
        vb,
        C::value(&ab),
        C::value(&ba)
    );
    let ab_c = merged::<C>(&ab, c);
    let a_bc = merged::<C>(a, &merged::<C>(b, c));
    prop_assert!(
        same(&ab_c, &a_bc),
        "{}: merge should be associative: with states showing a = {:?}, b = {:?}, c = {:?}, \
         (a ⊔ b) ⊔ c shows {:?} but a ⊔ (b ⊔ c) shows {:?}",
        C::NAME,
        va,
        vb,
        vc,
        C::value(&ab_c),
        C::value(&a_bc)
    );
    Ok(())
}

/// The merge of two states shows exactly what the updates either had seen
/// make: nothing lost, nothing counted twice, nothing resurrected.
fn merge_is_the_union<C: Crdt>(
    steps: &[Step<C::Op>],
    picks: [usize; 2],
) -> Result<(), TestCaseError> {
    let sim = Simulation::<C>::run(steps, Check::Skip)?;
    let (a, seen_a) = &sim.snapshots[picks[0] % sim.snapshots.len()];
    let (b, seen_b) = &sim.snapshots[picks[1] % sim.snapshots.len()];
    let both: BTreeSet<usize> = seen_a.union(seen_b).copied().collect();
    let expected = C::expected(&sim.history, &both);
    let shown = C::value(&merged::<C>(a, b));
    prop_assert_eq!(
        &shown,
        &expected,
        "{}: a state that had seen [{}] merged with one that had seen [{}] shows {:?}, but \
         together they have seen [{}], which make {:?}",
        C::NAME,
        sim.describe(seen_a),
        sim.describe(seen_b),
        shown,
        sim.describe(&both),
        expected
    );
    Ok(())
}

// ───────────────────────── the properties ─────────────────────────

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn g_counter_replicas_converge_to_the_sum_of_all_increments(
        steps in schedule(g_counter_ops())
    ) {
        converges::<GCounterKind>(&steps)?;
    }

    #[test]
    fn g_counter_merge_is_commutative_associative_and_idempotent(
        steps in schedule(g_counter_ops()),
        picks in any::<[usize; 3]>(),
    ) {
        obeys_the_merge_laws::<GCounterKind>(&steps, picks)?;
    }

    #[test]
    fn pn_counter_replicas_converge_to_increments_minus_decrements(
        steps in schedule(pn_counter_ops())
    ) {
        converges::<PnCounterKind>(&steps)?;
    }

    #[test]
    fn pn_counter_merge_is_commutative_associative_and_idempotent(
        steps in schedule(pn_counter_ops()),
        picks in any::<[usize; 3]>(),
    ) {
        obeys_the_merge_laws::<PnCounterKind>(&steps, picks)?;
    }

    #[test]
    fn lww_register_replicas_converge_to_the_latest_write(
        steps in schedule(register_ops())
    ) {
        converges::<RegisterKind>(&steps)?;
    }

    #[test]
    fn lww_register_merge_is_commutative_associative_and_idempotent(
        steps in schedule(register_ops()),
        picks in any::<[usize; 3]>(),
    ) {
        obeys_the_merge_laws::<RegisterKind>(&steps, picks)?;
    }

    #[test]
    fn or_set_replicas_converge_to_the_adds_no_remove_observed(
        steps in schedule(set_ops())
    ) {
        converges::<SetKind>(&steps)?;
    }

    #[test]
    fn or_set_merge_is_commutative_associative_and_idempotent(
        steps in schedule(set_ops()),
        picks in any::<[usize; 3]>(),
    ) {
        obeys_the_merge_laws::<SetKind>(&steps, picks)?;
    }

    #[test]
    fn followup_or_set_an_add_concurrent_with_a_remove_wins_in_any_history(
        steps in schedule(set_ops()),
        elem in prop_oneof![Just('a'), Just('b'), Just('c')],
        adder in 0..REPLICAS,
        offset in 1..REPLICAS,
    ) {
        let sim = Simulation::<SetKind>::run(&steps, Check::Skip)?;
        let remover = (adder + offset) % REPLICAS;
        let mut a = sim.replicas[adder].clone();
        let mut b = sim.replicas[remover].clone();
        // Concurrently: neither sees the other's update before the merge.
        a.add(elem, adder as ReplicaId);
        b.remove(&elem);
        let ab = merged::<SetKind>(&a, &b);
        let ba = merged::<SetKind>(&b, &a);
        prop_assert!(
            ab.contains(&elem) && ba.contains(&elem),
            "after the schedule, replica {} added {:?} while replica {} concurrently removed \
             it: the remove did not observe that add, so {:?} should be in the merged set \
             (add wins), whichever side merges. Replica {} merging shows {:?}; replica {} \
             merging shows {:?}",
            adder, elem, remover, elem, adder, ab.elements(), remover, ba.elements()
        );
    }

    #[test]
    fn followup_a_merge_shows_exactly_the_updates_either_side_had_seen(
        g_counter in schedule(g_counter_ops()),
        pn_counter in schedule(pn_counter_ops()),
        register in schedule(register_ops()),
        set in schedule(set_ops()),
        picks in any::<[usize; 2]>(),
    ) {
        merge_is_the_union::<GCounterKind>(&g_counter, picks)?;
        merge_is_the_union::<PnCounterKind>(&pn_counter, picks)?;
        merge_is_the_union::<RegisterKind>(&register, picks)?;
        merge_is_the_union::<SetKind>(&set, picks)?;
    }
}
