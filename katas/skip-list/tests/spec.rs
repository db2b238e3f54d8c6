//! The specification of the skip-list kata.
//!
//! Every test name is a requirement; read the failing names first. The
//! model-based property drives your list and a `BTreeMap` (the obviously
//! correct ordered map) with the same random operations, and after every
//! step compares everything a caller can see: the length, every entry in
//! order, `get` and `rank` of every key, and `get_by_rank` of every position.
//! Proptest shrinks a difference to a short list of operations.
//!
//! `cargo test -p skip-list` judges your code;
//! `cargo test -p skip-list --features solution` judges the reference.

// The kata has no loom models; this keeps any `--cfg kata_loom` build from
// compiling the spec.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use skip_list as subject;
#[cfg(feature = "solution")]
use skip_list_solution as subject;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Bound, RangeBounds};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use spec_probes::keys::{Counted, count};
use subject::SkipList;

// ───────────────────────────── helpers ─────────────────────────────

/// The entries of `range`, collected, and never more than `limit` of them
/// (a list whose links loop must not hang the spec).
fn collect<K: Ord + Clone, V: Clone>(
    list: &SkipList<K, V>,
    range: impl RangeBounds<K>,
    limit: usize,
) -> Vec<(K, V)> {
    list.range(range)
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A list of `keys` inserted in the order given, each with the value
/// `key * 10`.
fn list_of(keys: &[i32]) -> SkipList<i32, i32> {
    let mut list = SkipList::new(7);
    for &key in keys {
        list.insert(key, key * 10);
    }
    list
}

fn entries(keys: &[i32]) -> Vec<(i32, i32)> {
    keys.iter().map(|&k| (k, k * 10)).collect()
}

// ─────────────────────── insert, get, remove, len ───────────────────────

#[test]
fn an_empty_list_answers_nothing() {
    let mut list: SkipList<i32, &str> = SkipList::new(1);
    assert_eq!(list.len(), 0, "a new list holds 0 keys");
    assert!(list.is_empty(), "a new list is empty");
    assert_eq!(list.get(&3), None, "get(3) on an empty list should be None");
    assert_eq!(
        list.rank(&3),
        None,
        "rank(3) on an empty list should be None"
    );
    assert_eq!(
        list.get_by_rank(0),
        None,
        "get_by_rank(0) on an empty list should be None"
    );
    assert_eq!(
        list.range(..).count(),
        0,
        "range(..) on an empty list should yield nothing"
    );
    assert_eq!(
        list.remove(&3),
        None,
        "remove(3) on an empty list should be None"
    );
}

#[test]
fn get_returns_the_value_inserted_under_a_key() {
    let mut list = SkipList::new(1);
    assert_eq!(
        list.insert("carol", 30),
        None,
        "insert of a new key should return None"
    );
    list.insert("alice", 10);
    list.insert("bob", 20);
    for (key, value) in [("alice", 10), ("bob", 20), ("carol", 30)] {
        assert_eq!(
            list.get(&key),
            Some(&value),
            "get({key}) should return the value inserted under {key}"
        );
    }
    assert_eq!(
        list.get(&"dave"),
        None,
        "get(dave) should be None: dave was never inserted"
    );
    assert_eq!(list.len(), 3, "three keys were inserted");
    assert!(!list.is_empty(), "a list holding keys is not empty");
}

#[test]
fn insert_of_an_existing_key_replaces_its_value_and_keeps_one_entry() {
    let mut list = list_of(&[1, 5, 9]);
    assert_eq!(
        list.insert(5, 55),
        Some(50),
        "insert(5, 55) over insert(5, 50) should return the replaced value 50"
    );
    assert_eq!(list.get(&5), Some(&55), "5 should now hold 55");
    assert_eq!(
        list.len(),
        3,
        "replacing a value adds no key: the list should still hold 1, 5 and 9"
    );
    assert_eq!(
        collect(&list, .., 10),
        vec![(1, 10), (5, 55), (9, 90)],
        "range(..) should yield key 5 once, with its new value"
    );
    assert_eq!(list.rank(&9), Some(2), "9 is still the third key: rank 2");
    assert_eq!(
        list.get_by_rank(3),
        None,
        "three keys have ranks 0 to 2: get_by_rank(3) should be None"
    );
    assert_eq!(
        list.remove(&5),
        Some(55),
        "remove(5) should return its value 55"
    );
    assert_eq!(
        list.get(&5),
        None,
        "after one remove(5), key 5 should be gone: a duplicate insert must not leave a \
         second node behind"
    );
}

#[test]
fn remove_returns_the_value_and_the_key_is_gone_from_every_query() {
    let mut list = list_of(&[4, 2, 8, 6]);
    assert_eq!(list.remove(&4), Some(40), "remove(4) should return 40");
    assert_eq!(list.get(&4), None, "get(4) after remove(4) should be None");
    assert_eq!(
        list.rank(&4),
        None,
        "rank(4) after remove(4) should be None"
    );
    assert_eq!(list.len(), 3, "2, 6 and 8 are left");
    assert_eq!(
        collect(&list, .., 10),
        entries(&[2, 6, 8]),
        "range(..) after remove(4) should yield 2, 6, 8"
    );
    assert_eq!(
        list.rank(&6),
        Some(1),
        "after remove(4), 6 moves up to rank 1 (keys 2, 6, 8)"
    );
    assert_eq!(
        list.get_by_rank(1),
        Some((&6, &60)),
        "after remove(4), the entry at rank 1 is 6"
    );
    assert_eq!(list.remove(&4), None, "a second remove(4) should be None");
}

#[rstest]
#[case::between_two_keys(5)]
#[case::below_the_smallest(0)]
#[case::above_the_largest(100)]
fn remove_of_an_absent_key_returns_none_and_changes_nothing(#[case] absent: i32) {
    let mut list = list_of(&[2, 4, 6, 8]);
    assert_eq!(
        list.remove(&absent),
        None,
        "remove({absent}) should be None: the list holds 2, 4, 6, 8"
    );
    assert_eq!(list.len(), 4, "remove of an absent key should leave 4 keys");
    assert_eq!(
        collect(&list, .., 10),
        entries(&[2, 4, 6, 8]),
        "remove({absent}) should change nothing"
    );
    for (rank, key) in [2, 4, 6, 8].into_iter().enumerate() {
        assert_eq!(
            list.rank(&key),
            Some(rank),
            "after remove({absent}) of an absent key, rank({key}) should still be {rank}"
        );
    }
}

#[rstest]
#[case::ascending(&[1, 2, 3, 4, 5, 6, 7, 8])]
#[case::descending(&[8, 7, 6, 5, 4, 3, 2, 1])]
#[case::interleaved(&[5, 1, 8, 3, 7, 2, 6, 4])]
#[case::negative_and_positive(&[0, -3, 12, -40, 7])]
fn keys_come_out_in_order_whatever_the_insertion_order(#[case] keys: &[i32]) {
    let list = list_of(keys);
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    assert_eq!(
        collect(&list, .., keys.len() + 1),
        entries(&sorted),
        "keys inserted as {keys:?} should come out of range(..) in key order"
    );
}

// ─────────────────────────────── range ───────────────────────────────

#[rstest]
#[case::half_open(Bound::Included(3), Bound::Excluded(7), &[3, 4, 5, 6])]
#[case::inclusive(Bound::Included(3), Bound::Included(7), &[3, 4, 5, 6, 7])]
#[case::excluded_start(Bound::Excluded(3), Bound::Included(7), &[4, 5, 6, 7])]
#[case::both_excluded(Bound::Excluded(3), Bound::Excluded(7), &[4, 5, 6])]
#[case::unbounded_start(Bound::Unbounded, Bound::Excluded(3), &[0, 1, 2])]
#[case::unbounded_end(Bound::Included(7), Bound::Unbounded, &[7, 8, 9])]
#[case::everything(Bound::Unbounded, Bound::Unbounded, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]
#[case::bounds_beyond_the_keys(Bound::Included(-5), Bound::Included(50), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]
#[case::a_single_key(Bound::Included(5), Bound::Included(5), &[5])]
#[case::empty_half_open(Bound::Included(5), Bound::Excluded(5), &[])]
#[case::excluded_start_at_the_last_key(Bound::Excluded(9), Bound::Unbounded, &[])]
#[case::excluded_end_at_the_first_key(Bound::Unbounded, Bound::Excluded(0), &[])]
fn range_yields_exactly_the_keys_within_its_bounds(
    #[case] start: Bound<i32>,
    #[case] end: Bound<i32>,
    #[case] expected: &[i32],
) {
    let list = list_of(&[5, 0, 9, 3, 7, 1, 8, 2, 6, 4]);
    assert_eq!(
        collect(&list, (start, end), 20),
        entries(expected),
        "with keys 0 to 9, range(({start:?}, {end:?})) should yield exactly {expected:?}, in \
         order (an excluded bound is not part of the range)"
    );
}

#[test]
fn range_between_absent_keys_starts_and_stops_at_the_nearest_keys() {
    let list = list_of(&[10, 20, 30, 40, 50]);
    assert_eq!(
        collect(&list, 15..45, 10),
        entries(&[20, 30, 40]),
        "with keys 10, 20, 30, 40, 50, range(15..45) should yield 20, 30, 40"
    );
    assert_eq!(collect(&list, 21..29, 10), vec![], "no key lies in 21..29");
}

#[rstest]
#[case::half_open(7, 3)]
#[case::just_past(6, 5)]
fn range_with_its_start_past_its_end_is_empty(#[case] start: i32, #[case] end: i32) {
    let list = list_of(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        collect(&list, start..end, 10),
        vec![],
        "range({start}..{end}) starts past its end: it should be empty (not everything from \
         {start} on)"
    );
    assert_eq!(
        collect(&list, start..=end, 10),
        vec![],
        "range({start}..={end}) starts past its end: it should be empty"
    );
}

// ─────────────────────────── rank and by rank ───────────────────────────

#[test]
fn rank_is_the_zero_based_position_in_key_order() {
    let list = list_of(&[30, 10, 50, 20, 40]);
    for (rank, key) in [10, 20, 30, 40, 50].into_iter().enumerate() {
        assert_eq!(
            list.rank(&key),
            Some(rank),
            "with keys 10, 20, 30, 40, 50, rank({key}) should be {rank}: ranks count from 0, as \
             Redis's ZRANK does"
        );
    }
    assert_eq!(
        list.rank(&25),
        None,
        "rank(25) should be None: 25 is not in the list"
    );
    assert_eq!(
        list.rank(&60),
        None,
        "rank(60) should be None: 60 is not in the list"
    );
}

#[test]
fn get_by_rank_returns_the_entry_at_a_zero_based_position_and_none_past_the_end() {
    let list = list_of(&[30, 10, 50, 20, 40]);
    for (rank, key) in [10, 20, 30, 40, 50].into_iter().enumerate() {
        assert_eq!(
            list.get_by_rank(rank),
            Some((&key, &(key * 10))),
            "with keys 10, 20, 30, 40, 50, get_by_rank({rank}) should be key {key}"
        );
    }
    for past in [5, 6, usize::MAX] {
        assert_eq!(
            list.get_by_rank(past),
            None,
            "a list of 5 keys has ranks 0 to 4: get_by_rank({past}) should be None"
        );
    }
}

#[test]
fn a_leaderboard_ranks_players_by_score_then_name() {
    // A Redis sorted set orders members by (score, member): ZADD, ZRANK,
    // ZRANGE. Changing a score is a remove and an insert.
    let mut board: SkipList<(u32, &str), ()> = SkipList::new(2024);
    for (score, player) in [
        (300, "ann"),
        (120, "bob"),
        (300, "abe"),
        (90, "cat"),
        (450, "dan"),
    ] {
        board.insert((score, player), ());
    }
    assert_eq!(
        board.rank(&(300, "ann")),
        Some(3),
        "scores 90 cat, 120 bob, 300 abe, 300 ann, 450 dan: ann ranks 3 (ties by name)"
    );
    board.remove(&(120, "bob"));
    board.insert((500, "bob"), ());
    assert_eq!(
        board.rank(&(500, "bob")),
        Some(4),
        "bob's score went from 120 to 500: he now ranks last of five, at 4"
    );
    assert_eq!(
        board.rank(&(300, "ann")),
        Some(2),
        "bob left the place below ann: ann moves down to rank 2"
    );
    let top: Vec<&str> = (0..board.len())
        .rev()
        .take(3)
        .filter_map(|rank| board.get_by_rank(rank).map(|(&(_, player), _)| player))
        .collect();
    assert_eq!(
        top,
        vec!["bob", "dan", "ann"],
        "the top three, highest score first (ZREVRANGE 0 2), should be bob, dan, ann"
    );
    let band: Vec<&str> = board
        .range((300, "")..(450, ""))
        .map(|(&(_, player), _)| player)
        .collect();
    assert_eq!(
        band,
        vec!["abe", "ann"],
        "the players scoring at least 300 and less than 450 (ZRANGEBYSCORE 300 (450) are abe \
         and ann"
    );
}

#[rstest]
#[case::seed_zero(0)]
#[case::seed_one(1)]
#[case::the_largest_seed(u64::MAX)]
fn any_seed_zero_included_builds_a_working_list(#[case] seed: u64) {
    let mut list = SkipList::new(seed);
    for key in (0..200).rev() {
        list.insert(key, key);
    }
    for key in (0..200).step_by(3) {
        list.remove(&key);
    }
    let expected: Vec<i32> = (0..200).filter(|key| key % 3 != 0).collect();
    let got: Vec<i32> = list.range(..).take(201).map(|(&k, _)| k).collect();
    assert_eq!(
        got, expected,
        "a list seeded with {seed}: 0..200 inserted, every multiple of 3 removed"
    );
    for (rank, key) in expected.iter().enumerate() {
        assert_eq!(
            list.rank(key),
            Some(rank),
            "a list seeded with {seed}: rank({key}) should be {rank}"
        );
    }
}

// ─────────────── a model: BTreeMap, random operations ───────────────

/// Keys are drawn from `0..KEYS`, few enough that the random operations hit
/// existing keys, replace, remove and re-insert all the time.
const KEYS: u8 = 24;

#[derive(Clone, Copy)]
enum Op {
    /// `insert(key, value)`, where the value is the step's number.
    Insert(u8),
    Remove(u8),
    Get(u8),
    Range(Bound<u8>, Bound<u8>),
    Rank(u8),
    ByRank(u8),
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Insert(key) => write!(f, "insert({key})"),
            Op::Remove(key) => write!(f, "remove({key})"),
            Op::Get(key) => write!(f, "get({key})"),
            Op::Range(start, end) => write!(f, "range(({start:?}, {end:?}))"),
            Op::Rank(key) => write!(f, "rank({key})"),
            Op::ByRank(rank) => write!(f, "get_by_rank({rank})"),
        }
    }
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        2 => (0..=KEYS).prop_map(Bound::Included),
        2 => (0..=KEYS).prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
    ]
}

fn ops() -> impl Strategy<Value = (u64, Vec<Op>)> {
    let key = 0..KEYS;
    let op = prop_oneof![
        6 => key.clone().prop_map(Op::Insert),
        3 => key.clone().prop_map(Op::Remove),
        1 => key.clone().prop_map(Op::Get),
        2 => (bound(), bound()).prop_map(|(start, end)| Op::Range(start, end)),
        1 => key.prop_map(Op::Rank),
        1 => (0..KEYS).prop_map(Op::ByRank),
    ];
    let seed = prop_oneof![1 => Just(0u64), 4 => any::<u64>()];
    (seed, vec(op, 1..80))
}

/// What one operation answered, in a form both sides can compare.
#[derive(Debug, PartialEq)]
enum Answer {
    Value(Option<u32>),
    Entries(Vec<(u8, u32)>),
    Rank(Option<usize>),
    Entry(Option<(u8, u32)>),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn agrees_with_a_btreemap_under_random_operations((seed, ops) in ops()) {
        let mut list: SkipList<u8, u32> = SkipList::new(seed);
        let mut model: BTreeMap<u8, u32> = BTreeMap::new();
        for (step, &op) in ops.iter().enumerate() {
            let before = model.clone();
            let value = step as u32;
            let (got, expected) = match op {
                Op::Insert(key) => (
                    Answer::Value(list.insert(key, value)),
                    Answer::Value(model.insert(key, value)),
                ),
                Op::Remove(key) => (
                    Answer::Value(list.remove(&key)),
                    Answer::Value(model.remove(&key)),
                ),
                Op::Get(key) => (
                    Answer::Value(list.get(&key).copied()),
                    Answer::Value(model.get(&key).copied()),
                ),
                Op::Range(start, end) => (
                    Answer::Entries(collect(&list, (start, end), model.len() + 1)),
                    // Filtered rather than `BTreeMap::range`, which panics when
                    // the start is past the end.
                    Answer::Entries(
                        model
                            .iter()
                            .filter(|(k, _)| (start, end).contains(*k))
                            .map(|(&k, &v)| (k, v))
                            .collect(),
                    ),
                ),
                Op::Rank(key) => (
                    Answer::Rank(list.rank(&key)),
                    Answer::Rank(model.keys().position(|&k| k == key)),
                ),
                Op::ByRank(rank) => (
                    Answer::Entry(list.get_by_rank(usize::from(rank)).map(|(&k, &v)| (k, v))),
                    Answer::Entry(model.iter().nth(usize::from(rank)).map(|(&k, &v)| (k, v))),
                ),
            };
            prop_assert_eq!(
                &got, &expected,
                "step {}: {} on a list seeded with {} answered {:?}, expected {:?}; the entries \
                 before it, as (key, value): {:?}",
                step, describe(op, value), seed, got, expected, before
            );

            // Everything a caller can see must now match the model.
            prop_assert_eq!(
                list.len(), model.len(),
                "step {}: after {}, len should be {}; the entries should be {:?}",
                step, describe(op, value), model.len(), model
            );
            prop_assert_eq!(
                list.is_empty(), model.is_empty(),
                "step {}: after {}, is_empty should be {}", step, describe(op, value), model.is_empty()
            );
            let all = collect(&list, .., model.len() + 1);
            let expected_all: Vec<(u8, u32)> = model.iter().map(|(&k, &v)| (k, v)).collect();
            prop_assert_eq!(
                &all, &expected_all,
                "step {}: after {}, range(..) should yield every entry in key order, once",
                step, describe(op, value)
            );
            for key in 0..KEYS {
                prop_assert_eq!(
                    list.get(&key), model.get(&key),
                    "step {}: after {}, get({}) should be {:?}; the entries should be {:?}",
                    step, describe(op, value), key, model.get(&key), model
                );
                let rank = model.keys().position(|&k| k == key);
                prop_assert_eq!(
                    list.rank(&key), rank,
                    "step {}: after {}, rank({}) should be {:?}; the entries should be {:?}",
                    step, describe(op, value), key, rank, model
                );
            }
            for (rank, entry) in model.iter().enumerate() {
                prop_assert_eq!(
                    list.get_by_rank(rank), Some(entry),
                    "step {}: after {}, get_by_rank({}) should be {:?}; the entries should be {:?}",
                    step, describe(op, value), rank, entry, model
                );
            }
            prop_assert_eq!(
                list.get_by_rank(model.len()), None,
                "step {}: after {}, get_by_rank({}) should be None: the list holds {} keys",
                step, describe(op, value), model.len(), model.len()
            );
        }
    }
}

/// How a step reads in a failure message: `insert(key, value)` or `rank(key)`.
fn describe(op: Op, value: u32) -> String {
    match op {
        Op::Insert(key) => format!("insert({key}, {value})"),
        other => format!("{other:?}"),
    }
}

// ─────────────────────────── at scale ───────────────────────────

#[test]
fn followup_ranks_stay_exact_through_thousands_of_inserts_and_removes() {
    let mut list = SkipList::new(99);
    let mut model = BTreeMap::new();
    // A fixed shuffle of 0..5000: multiples of a number coprime to 5000.
    for i in 0..5000u32 {
        let key = (i * 2_957) % 5000;
        list.insert(key, i);
        model.insert(key, i);
    }
    for i in 0..5000u32 {
        let key = (i * 1_013) % 5000;
        if key % 3 == 0 {
            list.remove(&key);
            model.remove(&key);
        }
    }
    assert_eq!(list.len(), model.len(), "len after the removals");
    for (rank, (key, value)) in model.iter().enumerate() {
        assert_eq!(
            list.rank(key),
            Some(rank),
            "5000 keys inserted in shuffled order, then the multiples of 3 removed in another \
             order: rank({key}) should be {rank} (every removal shortens the spans over it)"
        );
        assert_eq!(
            list.get_by_rank(rank),
            Some((key, value)),
            "after the same operations, get_by_rank({rank}) should be key {key}"
        );
    }
}

// ─────────────────── cost, counted in key comparisons ───────────────────
//
// A skip list's O(log n) is a promise about how many keys a search looks
// at. The keys below are `Counted`: every `cmp`, `partial_cmp` and `eq` call
// on them is counted, so the cost of an operation is a number, the same on
// every machine and every run, not a time.

/// The most key comparisons one operation may make on average in a list of
/// `n` keys: 8 log2 n + 16, a few times what a skip list needs (about
/// 2 log2 n with p = 1/4) and far below the n/2 of a walk along one level.
fn comparison_budget(n: usize) -> u64 {
    8 * u64::from(usize::BITS - n.leading_zeros()) + 16
}

#[test]
fn followup_a_hundred_thousand_keys_in_ascending_order_stay_logarithmic() {
    // Ascending inserts are the worst case for a search tree that does not
    // balance itself; a skip list does not care. Seed 0 on purpose: a
    // generator stuck at zero gives every node the same height, and the list
    // degenerates into a linked list whose every search walks it all.
    // Inserts are counted block by block (1 024 keys, then doubling), so
    // such a list fails as soon as a block costs more than its budget.
    const N: u32 = 100_000;
    let mut list = SkipList::new(0);
    let mut len = 0u32;
    while len < N {
        let end = (len * 2).clamp(1024, N);
        let (calls, ()) = count(|| {
            for key in len..end {
                list.insert(Counted(key), ());
            }
        });
        let per_insert = calls.total() / u64::from(end - len);
        let budget = comparison_budget(end as usize);
        assert!(
            per_insert <= budget,
            "a list seeded with 0, keys inserted in ascending order: inserting keys {len}..{end} \
             compared {per_insert} keys per insert on average; O(log n) allows at most {budget} \
             at {end} keys (a walk along one level compares about n/2)"
        );
        len = end;
    }
    assert_eq!(list.len(), N as usize, "{N} distinct keys were inserted");

    let sample: Vec<u32> = (0..N).step_by(97).collect();
    let budget = comparison_budget(N as usize);
    let (calls, ranks) = count(|| {
        sample
            .iter()
            .map(|&key| list.rank(&Counted(key)))
            .collect::<Vec<_>>()
    });
    for (&key, rank) in sample.iter().zip(ranks) {
        assert_eq!(
            rank,
            Some(key as usize),
            "with keys 0..{N}, rank({key}) should be {key}"
        );
    }
    let per_rank = calls.total() / sample.len() as u64;
    assert!(
        per_rank <= budget,
        "with keys 0..{N}, rank compared {per_rank} keys per call on average; O(log n) allows at \
         most {budget} (rank adds up the spans a search crosses: it does not count keys one by \
         one)"
    );
    let (calls, found) = count(|| {
        sample
            .iter()
            .filter(|&&key| list.get(&Counted(key)).is_some())
            .count()
    });
    assert_eq!(found, sample.len(), "every key of 0..{N} should be found");
    let per_get = calls.total() / sample.len() as u64;
    assert!(
        per_get <= budget,
        "with keys 0..{N}, get compared {per_get} keys per call on average; O(log n) allows at \
         most {budget}"
    );
    for &key in &sample {
        assert_eq!(
            list.get_by_rank(key as usize).map(|(k, _)| k.0),
            Some(key),
            "with keys 0..{N}, get_by_rank({key}) should be {key}"
        );
    }
    let last_ten: Vec<u32> = list.range(Counted(N - 10)..).map(|(k, _)| k.0).collect();
    assert_eq!(
        last_ten,
        (N - 10..N).collect::<Vec<_>>(),
        "range({}..) should yield the last ten keys",
        N - 10
    );
    let (calls, removed) = count(|| {
        sample
            .iter()
            .filter(|&&key| list.remove(&Counted(key)).is_some())
            .count()
    });
    assert_eq!(removed, sample.len(), "every sampled key should be removed");
    let per_remove = calls.total() / sample.len() as u64;
    assert!(
        per_remove <= budget,
        "with keys 0..{N}, remove compared {per_remove} keys per call on average; O(log n) \
         allows at most {budget}"
    );
}

#[rstest]
#[case::zero(0)]
#[case::one(1)]
#[case::the_largest(u64::MAX)]
#[case::the_golden_ratio(0x9e37_79b9_7f4a_7c15)]
#[case::minus_the_golden_ratio(0x61c8_8646_80b5_83eb)]
#[case::the_xorshift_star_multiplier(0x2545_f491_4f6c_dd1d)]
#[case::minus_the_xorshift_star_multiplier(0xdaba_0b6e_b093_22e3)]
#[case::the_pcg_multiplier(0x5851_f42d_4c95_7f2d)]
#[case::a_splitmix_multiplier(0xbf58_476d_1ce4_e5b9)]
fn any_seed_keeps_every_search_logarithmic(#[case] seed: u64) {
    // A generator that mixes the seed with a constant (to dodge xorshift's
    // stuck state at 0) is stuck again at the seed that cancels the
    // constant: every node gets the same height, and searches walk the list.
    // These are the constants such generators use.
    const N: u32 = 2048;
    let mut list = SkipList::new(seed);
    let (calls, ()) = count(|| {
        for i in 0..N {
            let key = (i * 1_109) % N;
            list.insert(Counted(key), i);
        }
    });
    let budget = comparison_budget(N as usize);
    let per_insert = calls.total() / u64::from(N);
    assert!(
        per_insert <= budget,
        "a list seeded with {seed:#x}: {N} inserts compared {per_insert} keys each on average; \
         O(log n) allows at most {budget} (does the level generator degenerate for this seed?)"
    );
    let (calls, found) = count(|| {
        (0..N)
            .filter(|&key| list.get(&Counted(key)).is_some())
            .count()
    });
    assert_eq!(
        found, N as usize,
        "a list seeded with {seed:#x}: every inserted key should be found"
    );
    let per_get = calls.total() / u64::from(N);
    assert!(
        per_get <= budget,
        "a list seeded with {seed:#x}: get compared {per_get} keys per call on average; O(log n) \
         allows at most {budget} (does the level generator degenerate for this seed?)"
    );
}

#[test]
fn range_finds_its_first_entry_in_o_log_n_comparisons_then_walks() {
    const N: u32 = 1 << 14;
    let mut list = SkipList::new(5);
    for i in 0..N {
        // A fixed shuffle of 0..N: an odd multiplier is coprime to 2^14.
        list.insert(Counted((i * 7_919) % N), i);
    }
    let budget = comparison_budget(N as usize);
    for start in (N / 8..N - 16).step_by(2_039) {
        let end = start + 8;
        let cases = [
            (
                Bound::Included(Counted(start)),
                Bound::Excluded(Counted(end)),
                (start..end).collect::<Vec<u32>>(),
            ),
            (
                Bound::Excluded(Counted(start)),
                Bound::Included(Counted(end)),
                (start + 1..=end).collect::<Vec<u32>>(),
            ),
            (
                Bound::Included(Counted(start)),
                Bound::Unbounded,
                (start..end).collect::<Vec<u32>>(),
            ),
            (
                Bound::Unbounded,
                Bound::Excluded(Counted(start)),
                (0..8).collect::<Vec<u32>>(),
            ),
        ];
        for (from, to, expected) in cases {
            let (calls, got) = count(|| {
                list.range((from, to))
                    .take(8)
                    .map(|(k, _)| k.0)
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                got, expected,
                "with keys 0..{N}, the first 8 entries of range(({from:?}, {to:?}))"
            );
            let allowed = budget + 2 * (got.len() as u64 + 1);
            assert!(
                calls.total() <= allowed,
                "with keys 0..{N}, taking the first {} entries of range(({from:?}, {to:?})) \
                 compared {} keys; finding the first entry is a search, O(log n), and then each \
                 entry costs a comparison or two: at most {allowed} (a range that walks level 0 \
                 from the head to its bounds compares about {start})",
                got.len(),
                calls.total()
            );
        }
    }
}
