//! The specification of the consumer-groups kata: Redis Streams semantics
//! (ids on an injected clock, consumer groups, pending lists, acks, claims,
//! dead letters). Each test is named as a requirement of the README.
//!
//! `cargo test -p consumer-groups` judges your code;
//! `cargo test -p consumer-groups --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) compiles no spec: the kata has no loom models.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use consumer_groups as subject;
#[cfg(feature = "solution")]
use consumer_groups_solution as subject;

use std::collections::BTreeMap;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    AutoClaim, DeadLetter, Delivery, Entry, PendingEntry, ReadFrom, StreamError, StreamId, Streams,
};

const MAX: u64 = u64::MAX;

fn sid(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

fn ids(entries: &[Entry]) -> Vec<StreamId> {
    entries.iter().map(|e| e.id).collect()
}

fn pending_ids(s: &Streams, stream: &str, group: &str) -> Vec<StreamId> {
    s.xpending(stream, group)
        .expect("xpending of a known group")
        .iter()
        .map(|p| p.id)
        .collect()
}

fn pending_of(s: &Streams, stream: &str, group: &str, id: StreamId) -> Option<PendingEntry> {
    s.xpending(stream, group)
        .expect("xpending of a known group")
        .into_iter()
        .find(|p| p.id == id)
}

/// A stream "s" of `n` entries added at times 1..=n (ids `t-0`), each with
/// the field `n` set to its time, and a group "g" from the start with
/// `max_deliveries`.
fn stream_of(n: u64, max_deliveries: u32) -> (Streams, Vec<StreamId>) {
    let mut s = Streams::new();
    let mut added = Vec::new();
    for t in 1..=n {
        let value = t.to_string();
        added.push(
            s.xadd("s", &[("n", value.as_str())], t)
                .expect("xadd on a fresh stream"),
        );
    }
    s.xgroup_create("s", "g", StreamId::MIN, max_deliveries)
        .expect("a new group on a known stream");
    (s, added)
}

fn read_new(s: &mut Streams, consumer: &str, count: usize, now: u64) -> Vec<StreamId> {
    ids(&s
        .xreadgroup("s", "g", consumer, ReadFrom::New, count, now)
        .expect("a read of new entries"))
}

fn claim(
    s: &mut Streams,
    consumer: &str,
    min_idle: u64,
    start: StreamId,
    count: usize,
    now: u64,
) -> AutoClaim {
    s.xautoclaim("s", "g", consumer, min_idle, start, count, now)
        .expect("xautoclaim on a known group")
}

// ---------------------------------------------------------------------------
// 1. Ids
// ---------------------------------------------------------------------------

#[rstest]
#[case::at_time_zero(0, sid(0, 1))]
#[case::at_one_ms(1, sid(1, 0))]
#[case::at_a_unix_time(1_700_000_000_000, sid(1_700_000_000_000, 0))]
#[case::at_u64_max(MAX, sid(MAX, 0))]
fn xadd_gives_now_ms_dash_0_to_the_first_entry_of_a_new_stream(
    #[case] now: u64,
    #[case] expected: StreamId,
) {
    let mut s = Streams::new();
    assert_eq!(
        s.xadd("s", &[("k", "v")], now),
        Ok(expected),
        "the first xadd of a new stream at now_ms = {now} (a new stream's last id is 0-0, and 0-0 \
         itself is never an id)"
    );
    assert_eq!(s.xlen("s"), Ok(1), "one entry after one xadd");
    assert_eq!(s.last_id("s"), Ok(expected), "last_id after the first xadd");
}

#[test]
fn ids_in_one_millisecond_count_up_the_sequence() {
    let mut s = Streams::new();
    let got: Vec<_> = (0..4).map(|_| s.xadd("s", &[], 5).expect("xadd")).collect();
    assert_eq!(
        got,
        [sid(5, 0), sid(5, 1), sid(5, 2), sid(5, 3)],
        "four xadds at the same now_ms = 5"
    );
    assert_eq!(
        s.xadd("s", &[], 6),
        Ok(sid(6, 0)),
        "the next millisecond starts the sequence again at 0"
    );
}

#[rstest]
#[case::back_by_one_ms(&[10, 9], &[sid(10, 0), sid(10, 1)])]
#[case::back_to_zero(&[10, 0], &[sid(10, 0), sid(10, 1)])]
#[case::back_then_forward_past(&[10, 3, 3, 11], &[sid(10, 0), sid(10, 1), sid(10, 2), sid(11, 0)])]
#[case::back_then_forward_but_not_past(&[10, 3, 10, 10], &[sid(10, 0), sid(10, 1), sid(10, 2), sid(10, 3)])]
#[case::from_u64_max_back_to_zero(&[MAX, 0, 1], &[sid(MAX, 0), sid(MAX, 1), sid(MAX, 2)])]
fn ids_stay_increasing_when_the_clock_goes_backwards(
    #[case] times: &[u64],
    #[case] expected: &[StreamId],
) {
    let mut s = Streams::new();
    let got: Vec<_> = times
        .iter()
        .map(|&t| s.xadd("s", &[], t).expect("xadd"))
        .collect();
    assert_eq!(
        got, expected,
        "xadd at the times {times:?}: an id is the greater of <now>-0 and the successor of the \
         last id"
    );
}

#[test]
fn the_sequence_overflows_into_the_next_millisecond() {
    let mut s = Streams::new();
    s.xadd_with_id("s", sid(7, MAX - 1), &[])
        .expect("an explicit id on a new stream");
    assert_eq!(
        s.xadd("s", &[], 3),
        Ok(sid(7, MAX)),
        "after 7-(u64::MAX - 1), with the clock behind, the next id is 7-u64::MAX"
    );
    assert_eq!(
        s.xadd("s", &[], 3),
        Ok(sid(8, 0)),
        "after 7-u64::MAX the sequence is used up: the next id is 8-0"
    );
    assert_eq!(
        s.xadd("s", &[], 9),
        Ok(sid(9, 0)),
        "and the clock takes over again once it is ahead"
    );
}

#[test]
fn xadd_at_u64_max_ms_counts_up_then_runs_out_of_ids() {
    let mut s = Streams::new();
    s.xadd_with_id("s", sid(MAX, MAX - 2), &[("a", "1")])
        .expect("an explicit id near the end");
    assert_eq!(s.xadd("s", &[], MAX), Ok(sid(MAX, MAX - 1)));
    assert_eq!(s.xadd("s", &[], 0), Ok(sid(MAX, MAX)));
    for now in [MAX, 0] {
        assert_eq!(
            s.xadd("s", &[("b", "2")], now),
            Err(StreamError::IdExhausted { stream: "s".into() }),
            "xadd at now_ms = {now} after u64::MAX-u64::MAX: there is no greater id (no wrap to \
             0-0, no panic)"
        );
    }
    assert_eq!(s.xlen("s"), Ok(3), "a refused xadd adds nothing");
    assert_eq!(s.last_id("s"), Ok(StreamId::MAX));
    assert_eq!(
        s.xadd_with_id("s", StreamId::MAX, &[]),
        Err(StreamError::IdNotGreater {
            id: StreamId::MAX,
            last: StreamId::MAX
        })
    );
}

#[rstest]
#[case::zero_on_a_new_stream(None, sid(0, 0), false)]
#[case::zero_after_entries(Some(sid(5, 5)), sid(0, 0), false)]
#[case::equal_to_the_last(Some(sid(5, 5)), sid(5, 5), false)]
#[case::smaller_seq(Some(sid(5, 5)), sid(5, 4), false)]
#[case::smaller_ms_larger_seq(Some(sid(5, 5)), sid(4, 9), false)]
#[case::next_seq(Some(sid(5, 5)), sid(5, 6), true)]
#[case::next_ms(Some(sid(5, 5)), sid(6, 0), true)]
#[case::zero_one_on_a_new_stream(None, sid(0, 1), true)]
#[case::max_on_a_new_stream(None, StreamId::MAX, true)]
fn an_explicit_id_must_be_greater_than_the_last(
    #[case] last: Option<StreamId>,
    #[case] id: StreamId,
    #[case] accepted: bool,
) {
    let mut s = Streams::new();
    if let Some(last) = last {
        s.xadd_with_id("s", last, &[])
            .expect("the first explicit id");
    }
    let got = s.xadd_with_id("s", id, &[("k", "v")]);
    let before = last.unwrap_or(StreamId::MIN);
    if accepted {
        assert_eq!(got, Ok(id), "xadd_with_id({id}) after last id {before}");
        assert_eq!(s.last_id("s"), Ok(id));
    } else {
        assert_eq!(
            got,
            Err(StreamError::IdNotGreater { id, last: before }),
            "xadd_with_id({id}) after last id {before}"
        );
        match last {
            Some(last) => {
                assert_eq!(s.xlen("s"), Ok(1), "a refused xadd adds nothing");
                assert_eq!(s.last_id("s"), Ok(last), "a refused xadd moves no last id");
            }
            None => assert_eq!(
                s.xlen("s"),
                Err(StreamError::UnknownStream { stream: "s".into() }),
                "a refused xadd_with_id on a new stream creates no stream"
            ),
        }
    }
}

#[test]
fn xadd_after_an_explicit_id_continues_from_it() {
    let mut s = Streams::new();
    s.xadd("s", &[], 100).expect("xadd");
    s.xadd_with_id("s", sid(500, 7), &[])
        .expect("an explicit id in the future");
    assert_eq!(
        s.xadd("s", &[], 200),
        Ok(sid(500, 8)),
        "the clock (200) is behind the explicit id 500-7"
    );
    assert_eq!(s.xadd("s", &[], 501), Ok(sid(501, 0)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ids_are_strictly_increasing_whatever_the_clock_does(
        ops in prop::collection::vec(
            prop_oneof![
                4 => prop_oneof![0u64..20, Just(MAX), Just(MAX - 1), MAX - 5..=MAX].prop_map(Ok),
                1 => (prop_oneof![0u64..20, Just(MAX)], prop_oneof![0u64..4, Just(MAX), Just(MAX - 1)])
                    .prop_map(|(ms, seq)| Err(StreamId::new(ms, seq))),
            ],
            1..40,
        )
    ) {
        let mut s = Streams::new();
        let mut last = StreamId::MIN;
        let mut len = 0usize;
        for op in &ops {
            match *op {
                Ok(now) => {
                    let got = s.xadd("s", &[], now);
                    if last == StreamId::MAX {
                        prop_assert_eq!(
                            got, Err(StreamError::IdExhausted { stream: "s".into() }),
                            "xadd at {} after MAX-MAX, in {:?}", now, ops
                        );
                    } else {
                        let next = if last.seq == MAX {
                            StreamId::new(last.ms + 1, 0)
                        } else {
                            StreamId::new(last.ms, last.seq + 1)
                        };
                        let expected = next.max(StreamId::new(now, 0));
                        prop_assert_eq!(got, Ok(expected), "xadd at {} after {}, in {:?}", now, last, ops);
                        last = expected;
                        len += 1;
                    }
                }
                Err(id) => {
                    let got = s.xadd_with_id("s", id, &[]);
                    if id > last {
                        prop_assert_eq!(got, Ok(id), "xadd_with_id({}) after {}, in {:?}", id, last, ops);
                        last = id;
                        len += 1;
                    } else {
                        prop_assert_eq!(
                            got, Err(StreamError::IdNotGreater { id, last }),
                            "xadd_with_id({}) after {}, in {:?}", id, last, ops
                        );
                    }
                }
            }
        }
        if len > 0 {
            let all = s.xrange("s", StreamId::MIN, StreamId::MAX, usize::MAX).expect("xrange");
            prop_assert_eq!(all.len(), len, "every accepted xadd is in the stream, in {:?}", ops);
            prop_assert!(
                all.windows(2).all(|w| w[0].id < w[1].id),
                "ids strictly increasing: {:?}", ids(&all)
            );
            prop_assert_eq!(s.last_id("s"), Ok(last));
        }
    }
}

// ---------------------------------------------------------------------------
// 2. The log
// ---------------------------------------------------------------------------

#[test]
fn xrange_returns_the_entries_in_the_range_in_id_order() {
    let mut s = Streams::new();
    s.xadd("s", &[("a", "1"), ("b", "2")], 10).expect("xadd");
    s.xadd("s", &[], 10).expect("xadd");
    s.xadd("s", &[("b", "2"), ("a", "1")], 20).expect("xadd");
    s.xadd("s", &[("dup", "x"), ("dup", "y")], 30)
        .expect("xadd");
    let all = s
        .xrange("s", StreamId::MIN, StreamId::MAX, 100)
        .expect("xrange");
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|&(f, v)| (f.to_owned(), v.to_owned()))
            .collect()
    };
    assert_eq!(
        all,
        vec![
            Entry {
                id: sid(10, 0),
                fields: pairs(&[("a", "1"), ("b", "2")])
            },
            Entry {
                id: sid(10, 1),
                fields: vec![]
            },
            Entry {
                id: sid(20, 0),
                fields: pairs(&[("b", "2"), ("a", "1")])
            },
            Entry {
                id: sid(30, 0),
                fields: pairs(&[("dup", "x"), ("dup", "y")])
            },
        ],
        "every entry, in id order, with its fields in the order given (a field may repeat)"
    );
    let range = |start, end, count| ids(&s.xrange("s", start, end, count).expect("xrange"));
    assert_eq!(
        range(sid(10, 1), sid(20, 0), 100),
        [sid(10, 1), sid(20, 0)],
        "both ends inclusive"
    );
    assert_eq!(range(sid(10, 2), sid(19, MAX), 100), [], "nothing between");
    assert_eq!(
        range(StreamId::MIN, StreamId::MAX, 2),
        [sid(10, 0), sid(10, 1)],
        "at most count"
    );
    assert_eq!(range(sid(30, 0), sid(10, 0), 100), [], "start > end: none");
    assert_eq!(s.xlen("s"), Ok(4));
}

// ---------------------------------------------------------------------------
// 3. Groups
// ---------------------------------------------------------------------------

#[test]
fn a_group_delivers_the_entries_after_its_start_id() {
    let (mut s, added) = stream_of(5, 3);
    s.xgroup_create("s", "from-3", added[2], 3)
        .expect("a group after the third entry");
    s.xgroup_create("s", "new-only", s.last_id("s").expect("last id"), 3)
        .expect("a group at the last id ($)");
    s.xgroup_create("s", "between", sid(2, 5), 3)
        .expect("a start id that is no entry's");
    let read = |s: &mut Streams, g: &str| {
        ids(&s
            .xreadgroup("s", g, "c", ReadFrom::New, 100, 50)
            .expect("a read"))
    };
    assert_eq!(
        read(&mut s, "g"),
        added,
        "a group from 0-0 reads the whole stream"
    );
    assert_eq!(
        read(&mut s, "from-3"),
        added[3..],
        "a group from the third id reads what comes after it"
    );
    assert_eq!(
        read(&mut s, "new-only"),
        [],
        "a group from the last id has nothing to read yet"
    );
    assert_eq!(
        read(&mut s, "between"),
        added[2..],
        "a group from 2-5 starts at 3-0"
    );
    let next = s.xadd("s", &[], 60).expect("xadd");
    assert_eq!(
        read(&mut s, "new-only"),
        [next],
        "then it reads what is added"
    );
}

#[test]
fn creating_a_group_twice_is_an_error_and_keeps_the_first() {
    let (mut s, added) = stream_of(3, 5);
    read_new(&mut s, "c1", 2, 10);
    assert_eq!(
        s.xgroup_create("s", "g", StreamId::MIN, 1),
        Err(StreamError::GroupExists {
            stream: "s".into(),
            group: "g".into()
        }),
        "creating g a second time"
    );
    assert_eq!(
        pending_ids(&s, "s", "g"),
        added[..2],
        "the first group keeps its pending entries"
    );
    assert_eq!(
        read_new(&mut s, "c2", 10, 11),
        added[2..],
        "and its position (no re-delivery from 0-0)"
    );
    // Its max_deliveries is still 5, not 1: four more claims are deliveries.
    for k in 0..4 {
        let got = claim(&mut s, "c3", 0, StreamId::MIN, 1, 20 + k);
        assert_eq!(
            ids(&got.claimed),
            [added[0]],
            "claim {} of {}: the group still allows 5 deliveries",
            k + 2,
            added[0]
        );
    }
}

#[test]
fn groups_read_the_same_stream_independently() {
    let (mut s, added) = stream_of(4, 3);
    s.xgroup_create("s", "h", StreamId::MIN, 3)
        .expect("a second group");
    assert_eq!(read_new(&mut s, "c1", 3, 10), added[..3]);
    assert_eq!(
        ids(&s
            .xreadgroup("s", "h", "c1", ReadFrom::New, 2, 10)
            .expect("read h")),
        added[..2],
        "group h reads from its own position"
    );
    assert_eq!(
        s.xack("s", "h", &added[..3]).expect("ack in h"),
        2,
        "h had delivered two"
    );
    assert_eq!(
        pending_ids(&s, "s", "g"),
        added[..3],
        "an ack in h acks nothing in g"
    );
    let got = claim(&mut s, "c2", 0, StreamId::MIN, 10, 20);
    assert_eq!(ids(&got.claimed), added[..3], "claims in g");
    assert!(
        s.xpending("s", "h").expect("xpending h").is_empty(),
        "a claim in g leaves h alone"
    );
    assert_eq!(
        ids(&s
            .xreadgroup("s", "h", "c1", ReadFrom::New, 10, 30)
            .expect("read h")),
        added[2..]
    );
}

// ---------------------------------------------------------------------------
// 4. New entries
// ---------------------------------------------------------------------------

#[test]
fn new_entries_go_to_one_consumer_each_in_id_order() {
    let (mut s, added) = stream_of(7, 3);
    let a = read_new(&mut s, "c1", 3, 10);
    let b = read_new(&mut s, "c2", 3, 10);
    let c = read_new(&mut s, "c1", 3, 10);
    assert_eq!(a, added[0..3], "c1's first batch of 3");
    assert_eq!(b, added[3..6], "c2's batch: the next 3, none of c1's");
    assert_eq!(c, added[6..7], "c1's second batch: the one left");
    assert_eq!(read_new(&mut s, "c3", 3, 10), [], "nothing new is left");
}

#[test]
fn a_new_read_makes_entries_pending_for_the_reader() {
    let (mut s, added) = stream_of(3, 3);
    let got = s
        .xreadgroup("s", "g", "c1", ReadFrom::New, 2, 1_000)
        .expect("read");
    assert_eq!(
        got[1],
        Entry {
            id: added[1],
            fields: vec![("n".into(), "2".into())]
        },
        "a read returns the entries with their fields"
    );
    assert_eq!(
        s.xpending("s", "g").expect("xpending"),
        vec![
            PendingEntry {
                id: added[0],
                consumer: "c1".into(),
                deliveries: 1,
                last_delivered_ms: 1_000
            },
            PendingEntry {
                id: added[1],
                consumer: "c1".into(),
                deliveries: 1,
                last_delivered_ms: 1_000
            },
        ],
        "each entry read is pending, held by the reader, delivered once at now_ms"
    );
}

#[test]
fn a_new_read_at_the_end_of_the_stream_returns_nothing_and_changes_nothing() {
    let (mut s, added) = stream_of(2, 3);
    read_new(&mut s, "c1", 10, 5);
    let before = s.xpending("s", "g").expect("xpending");
    assert_eq!(read_new(&mut s, "c2", 10, 9), [], "nothing new");
    assert_eq!(
        s.xpending("s", "g").expect("xpending"),
        before,
        "an empty read changes no pending entry"
    );
    let next = s.xadd("s", &[], 100).expect("xadd");
    assert_eq!(read_new(&mut s, "c2", 10, 100), [next]);
    assert_eq!(pending_ids(&s, "s", "g"), [added[0], added[1], next]);
}

#[test]
fn entries_added_after_a_read_are_the_next_new_ones() {
    let (mut s, _) = stream_of(2, 3);
    read_new(&mut s, "c1", 10, 5);
    // The clock went back: the new ids still sort after the delivered ones.
    let a = s.xadd("s", &[], 0).expect("xadd");
    let b = s.xadd("s", &[], 0).expect("xadd");
    assert_eq!(a, sid(2, 1), "xadd at 0 after 2-0");
    assert_eq!(read_new(&mut s, "c2", 1, 6), [a]);
    assert_eq!(read_new(&mut s, "c1", 1, 6), [b]);
}

// ---------------------------------------------------------------------------
// 5. Re-reading one's own pending entries
// ---------------------------------------------------------------------------

#[test]
fn rereading_returns_only_the_consumers_own_pending_entries_after_the_id() {
    let (mut s, added) = stream_of(6, 10);
    read_new(&mut s, "c1", 2, 10); // 1, 2
    read_new(&mut s, "c2", 2, 10); // 3, 4
    read_new(&mut s, "c1", 2, 10); // 5, 6
    s.xack("s", "g", &[added[1]]).expect("ack");
    let reread = |s: &mut Streams, c: &str, after: StreamId, count: usize| {
        ids(&s
            .xreadgroup("s", "g", c, ReadFrom::Pending(after), count, 20)
            .expect("a re-read"))
    };
    assert_eq!(
        reread(&mut s, "c1", StreamId::MIN, 10),
        [added[0], added[4], added[5]],
        "c1's pending entries: not c2's, not the acked one"
    );
    assert_eq!(
        reread(&mut s, "c1", added[0], 10),
        [added[4], added[5]],
        "after an id: strictly after"
    );
    assert_eq!(
        reread(&mut s, "c1", StreamId::MIN, 2),
        [added[0], added[4]],
        "at most count"
    );
    assert_eq!(
        reread(&mut s, "c1", added[5], 10),
        [],
        "none after the last"
    );
    assert_eq!(
        reread(&mut s, "nobody", StreamId::MIN, 10),
        [],
        "a consumer never seen holds nothing"
    );
    assert_eq!(
        s.xreadgroup("s", "g", "c2", ReadFrom::Pending(StreamId::MIN), 10, 20)
            .expect("a re-read")
            .iter()
            .map(|e| e.fields.clone())
            .collect::<Vec<_>>(),
        [
            vec![("n".to_owned(), "3".to_owned())],
            vec![("n".to_owned(), "4".to_owned())]
        ],
        "a re-read returns the fields too"
    );
    assert_eq!(
        read_new(&mut s, "c3", 10, 30),
        [],
        "re-reads deliver nothing new"
    );
}

#[test]
fn a_reread_counts_as_a_delivery_and_resets_the_idle_time() {
    let (mut s, added) = stream_of(1, 10);
    read_new(&mut s, "c1", 1, 100);
    s.xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 10, 150)
        .expect("a re-read");
    assert_eq!(
        pending_of(&s, "s", "g", added[0]),
        Some(PendingEntry {
            id: added[0],
            consumer: "c1".into(),
            deliveries: 2,
            last_delivered_ms: 150
        }),
        "after a read at 100 and a re-read at 150"
    );
    assert_eq!(
        claim(&mut s, "c2", 60, StreamId::MIN, 10, 200).claimed,
        [],
        "at 200 the entry has been idle 50 ms since its re-read, not 100"
    );
    assert_eq!(
        ids(&claim(&mut s, "c2", 60, StreamId::MIN, 10, 210).claimed),
        [added[0]],
        "at 210 it has been idle 60 ms"
    );
}

#[test]
fn an_entry_claimed_away_is_no_longer_reread_by_its_old_holder() {
    let (mut s, added) = stream_of(3, 10);
    read_new(&mut s, "c1", 3, 0);
    let got = claim(&mut s, "c2", 10, added[1], 1, 100);
    assert_eq!(ids(&got.claimed), [added[1]], "c2 takes the second entry");
    let reread = |s: &mut Streams, c: &str| {
        ids(&s
            .xreadgroup("s", "g", c, ReadFrom::Pending(StreamId::MIN), 10, 200)
            .expect("re-read"))
    };
    assert_eq!(
        reread(&mut s, "c1"),
        [added[0], added[2]],
        "c1 no longer holds the entry c2 claimed"
    );
    assert_eq!(
        reread(&mut s, "c2"),
        [added[1]],
        "c2 re-reads what it claimed"
    );
    let got = claim(&mut s, "c1", 10, StreamId::MIN, 10, 300);
    assert_eq!(ids(&got.claimed), added, "c1 claims all three back");
    assert_eq!(reread(&mut s, "c2"), [], "and c2 holds nothing");
    assert_eq!(reread(&mut s, "c1"), added, "c1 holds each once");
}

// ---------------------------------------------------------------------------
// 6. Acks
// ---------------------------------------------------------------------------

#[test]
fn xack_counts_only_the_ids_that_were_pending() {
    let (mut s, added) = stream_of(5, 3);
    read_new(&mut s, "c1", 2, 10);
    read_new(&mut s, "c2", 1, 10);
    assert_eq!(
        s.xack("s", "g", &[added[0], added[2], added[3], sid(99, 0)]),
        Ok(2),
        "acking two pending ids (held by different consumers), one never delivered, one unknown"
    );
    assert_eq!(
        pending_ids(&s, "s", "g"),
        [added[1]],
        "the acked ones left the list"
    );
    assert_eq!(s.xack("s", "g", &[]), Ok(0), "an empty ack");
}

#[rstest]
#[case::acked_twice(&[0], &[0], 0)]
#[case::the_same_id_twice_in_one_call(&[], &[0, 0], 1)]
#[case::never_delivered(&[], &[3], 0)]
#[case::unknown_id(&[], &[99], 0)]
#[case::zero_zero(&[], &[100], 0)]
#[case::max_id(&[], &[101], 0)]
fn acking_twice_or_an_unknown_id_acks_nothing(
    #[case] first: &[usize],
    #[case] then: &[usize],
    #[case] expected: usize,
) {
    let (mut s, added) = stream_of(4, 3);
    read_new(&mut s, "c1", 3, 10);
    let pick = |i: usize| match i {
        99 => sid(77, 1),
        100 => StreamId::MIN,
        101 => StreamId::MAX,
        i => added[i],
    };
    let first: Vec<_> = first.iter().map(|&i| pick(i)).collect();
    let then: Vec<_> = then.iter().map(|&i| pick(i)).collect();
    s.xack("s", "g", &first).expect("the first ack");
    let before = s.xpending("s", "g").expect("xpending");
    let got = s.xack("s", "g", &then);
    assert_eq!(got, Ok(expected), "xack({then:?}) after xack({first:?})");
    let mut after = before.clone();
    after.retain(|p| !then.contains(&p.id));
    assert_eq!(
        s.xpending("s", "g").expect("xpending"),
        after,
        "only ids that were pending leave the list; nothing else changes"
    );
}

#[test]
fn an_acked_entry_is_never_delivered_again() {
    let (mut s, added) = stream_of(3, 5);
    read_new(&mut s, "c1", 3, 10);
    s.xack("s", "g", &[added[1]]).expect("ack");
    assert_eq!(
        ids(&s
            .xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 10, 20)
            .expect("re-read")),
        [added[0], added[2]],
        "a re-read skips the acked entry"
    );
    let got = claim(&mut s, "c2", 0, StreamId::MIN, 10, 100);
    assert_eq!(ids(&got.claimed), [added[0], added[2]], "a claim skips it");
    assert_eq!(read_new(&mut s, "c3", 10, 100), [], "it is not new again");
}

// ---------------------------------------------------------------------------
// 7. Claims
// ---------------------------------------------------------------------------

#[rstest]
#[case::one_ms_short(99, false)]
#[case::exactly_min_idle(100, true)]
#[case::well_past(5_000, true)]
#[case::not_at_all(0, false)]
fn xautoclaim_claims_only_entries_idle_for_at_least_min_idle(
    #[case] idle: u64,
    #[case] claimed: bool,
) {
    let (mut s, added) = stream_of(2, 5);
    read_new(&mut s, "c1", 1, 1_000);
    read_new(&mut s, "c1", 1, 1_050);
    let got = claim(&mut s, "c2", 100, StreamId::MIN, 10, 1_000 + idle);
    let expected: Vec<_> = if claimed {
        // The second entry is 50 ms younger.
        added
            .iter()
            .copied()
            .filter(|&id| if id == added[0] { true } else { idle >= 150 })
            .collect()
    } else {
        vec![]
    };
    assert_eq!(
        ids(&got.claimed),
        expected,
        "min_idle 100, entries delivered at 1000 and 1050, claim at {}",
        1_000 + idle
    );
    for p in s.xpending("s", "g").expect("xpending") {
        if expected.contains(&p.id) {
            assert_eq!(
                (p.consumer.as_str(), p.deliveries, p.last_delivered_ms),
                ("c2", 2, 1_000 + idle),
                "a claimed entry is c2's, delivered once more, now"
            );
        } else {
            assert_eq!(
                (p.consumer.as_str(), p.deliveries),
                ("c1", 1),
                "an entry not idle enough stays as it was"
            );
        }
    }
}

#[test]
fn xautoclaim_handles_at_most_count_and_returns_the_next_cursor() {
    let (mut s, added) = stream_of(8, 5);
    read_new(&mut s, "c1", 8, 0);
    s.xack("s", "g", &[added[3]]).expect("ack");
    // Entries 2 and 5 are fresh (re-read by c1 at 1_000): not idle.
    s.xreadgroup("s", "g", "c1", ReadFrom::Pending(added[1]), 1, 1_000)
        .expect("re-read 2");
    s.xreadgroup("s", "g", "c1", ReadFrom::Pending(added[4]), 1, 1_000)
        .expect("re-read 5");
    // Pending: 0 1 2* 4 5* 6 7 (* not idle at 1_050 with min_idle 100).
    let got = claim(&mut s, "c2", 100, StreamId::MIN, 3, 1_050);
    assert_eq!(
        ids(&got.claimed),
        [added[0], added[1], added[4]],
        "the first 3 idle entries from 0-0, skipping the fresh 2 and the acked 3"
    );
    assert_eq!(got.dead_lettered, [], "nothing has had 5 deliveries");
    assert_eq!(
        got.next, added[5],
        "next: the first id still pending after the last one examined"
    );
    let got = claim(&mut s, "c2", 100, got.next, 3, 1_050);
    assert_eq!(
        ids(&got.claimed),
        [added[6], added[7]],
        "from the cursor: the fresh 5 skipped, then the rest"
    );
    assert_eq!(got.next, StreamId::MIN, "the walk reached the end: 0-0");

    let got = claim(&mut s, "c3", 100, added[7], 2, 1_050);
    assert_eq!(
        (got.claimed, got.next),
        (vec![], StreamId::MIN),
        "nothing idle from the last id: the end"
    );
    let got = claim(&mut s, "c3", 100, sid(100, 0), 2, 5_000);
    assert_eq!(
        (got.claimed, got.next),
        (vec![], StreamId::MIN),
        "a start beyond every pending id: nothing, and the end"
    );
    let got = claim(&mut s, "c3", 0, added[6], 1, 5_000);
    assert_eq!(
        (ids(&got.claimed), got.next),
        (vec![added[6]], added[7]),
        "start is inclusive; count 1 stops after the first idle entry"
    );
    let got = claim(&mut s, "c3", 0, added[7], 1, 5_000);
    assert_eq!(
        (ids(&got.claimed), got.next),
        (vec![added[7]], StreamId::MIN),
        "count reached on the last pending entry: the end"
    );
}

#[test]
fn xautoclaim_from_the_cursor_walks_the_rest_of_the_list() {
    let (mut s, added) = stream_of(20, 50);
    read_new(&mut s, "dead", 20, 0);
    let mut cursor = StreamId::MIN;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let got = claim(&mut s, "c2", 10, cursor, 3, 100);
        seen.extend(ids(&got.claimed));
        calls += 1;
        assert!(calls <= 7, "20 entries, 3 per call: at most 7 calls");
        if got.next == StreamId::MIN {
            break;
        }
        assert!(
            got.next > cursor,
            "the cursor moves forward: {} after {cursor}",
            got.next
        );
        cursor = got.next;
    }
    assert_eq!(
        seen, added,
        "following the cursor claims every entry once, in id order"
    );
}

#[test]
fn an_entry_claimed_by_its_own_holder_stays_pending_once() {
    let (mut s, added) = stream_of(2, 5);
    read_new(&mut s, "c1", 2, 0);
    let got = claim(&mut s, "c1", 10, StreamId::MIN, 1, 50);
    assert_eq!(
        ids(&got.claimed),
        [added[0]],
        "c1 claims its own idle entry"
    );
    assert_eq!(
        s.xpending("s", "g").expect("xpending"),
        vec![
            PendingEntry {
                id: added[0],
                consumer: "c1".into(),
                deliveries: 2,
                last_delivered_ms: 50
            },
            PendingEntry {
                id: added[1],
                consumer: "c1".into(),
                deliveries: 1,
                last_delivered_ms: 0
            },
        ],
        "the claimed entry is pending once, still c1's, with one more delivery"
    );
    assert_eq!(
        ids(&s
            .xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 10, 60)
            .expect("re-read")),
        added,
        "c1 re-reads each of its entries once"
    );
    assert_eq!(s.xack("s", "g", &[added[0]]), Ok(1), "and acks it once");
    assert_eq!(s.xack("s", "g", &[added[0]]), Ok(0));
}

#[test]
fn an_entry_acked_before_the_claim_is_not_claimed() {
    let (mut s, added) = stream_of(3, 5);
    read_new(&mut s, "c1", 3, 0);
    // The slow consumer acks just before the rescuer claims.
    assert_eq!(s.xack("s", "g", &[added[0], added[2]]), Ok(2));
    let got = claim(&mut s, "c2", 10, StreamId::MIN, 10, 1_000);
    assert_eq!(
        ids(&got.claimed),
        [added[1]],
        "only the unacked entry is claimed"
    );
    assert_eq!(
        s.xack("s", "g", &added),
        Ok(1),
        "acking everything now acks the claimed one only"
    );
    assert!(s.xpending("s", "g").expect("xpending").is_empty());
}

#[test]
fn an_older_time_after_a_newer_one_makes_nothing_idle() {
    let (mut s, added) = stream_of(1, 5);
    read_new(&mut s, "c1", 1, 10_000);
    let got = claim(&mut s, "c2", 1, StreamId::MIN, 10, 2_000);
    assert_eq!(
        got.claimed,
        [],
        "read at 10_000, claim at 2_000 (clock went back): idle 0, not 8_000 nor a wrapped u64"
    );
    let got = claim(&mut s, "c2", 0, StreamId::MIN, 10, 2_000);
    assert_eq!(
        ids(&got.claimed),
        [added[0]],
        "with min_idle 0 every entry is idle, even at an older time"
    );
    assert_eq!(
        pending_of(&s, "s", "g", added[0]).map(|p| p.last_delivered_ms),
        Some(2_000),
        "its last delivery is the claim's now_ms"
    );
}

#[test]
fn idle_times_near_u64_max_do_not_overflow() {
    let (mut s, added) = stream_of(2, 5);
    read_new(&mut s, "c1", 1, 0);
    read_new(&mut s, "c1", 1, MAX - 10);
    let got = claim(&mut s, "c2", MAX, StreamId::MIN, 10, MAX);
    assert_eq!(
        ids(&got.claimed),
        [added[0]],
        "delivered at 0, claimed at u64::MAX with min_idle u64::MAX: idle exactly u64::MAX"
    );
    let got = claim(&mut s, "c3", MAX, StreamId::MIN, 10, MAX);
    assert_eq!(
        got.claimed,
        [],
        "nothing is idle u64::MAX since u64::MAX - 10 or u64::MAX"
    );
    let got = claim(&mut s, "c3", 10, StreamId::MIN, 10, MAX);
    assert_eq!(
        ids(&got.claimed),
        [added[1]],
        "the entry delivered at u64::MAX - 10 is idle 10 at u64::MAX"
    );
}

// ---------------------------------------------------------------------------
// 8. Dead letters
// ---------------------------------------------------------------------------

fn delivery(consumer: &str, at_ms: u64) -> Delivery {
    Delivery {
        consumer: consumer.into(),
        at_ms,
    }
}

#[test]
fn a_claim_past_max_deliveries_dead_letters_the_entry_with_its_history() {
    let (mut s, added) = stream_of(3, 3);
    read_new(&mut s, "c1", 2, 100); // entries 0 and 1, delivery 1
    let got = claim(&mut s, "c2", 50, StreamId::MIN, 10, 200); // delivery 2
    assert_eq!(ids(&got.claimed), added[..2]);
    s.xack("s", "g", &[added[1]]).expect("c2 acks one of them");
    let got = claim(&mut s, "c3", 50, StreamId::MIN, 10, 300); // delivery 3
    assert_eq!(ids(&got.claimed), [added[0]], "the 3rd delivery is allowed");
    assert_eq!(got.dead_lettered, []);
    read_new(&mut s, "c1", 1, 310); // entry 2, delivery 1
    let got = claim(&mut s, "c4", 50, StreamId::MIN, 10, 400);
    assert_eq!(
        (ids(&got.claimed), got.dead_lettered.clone()),
        (vec![added[2]], vec![added[0]]),
        "a 4th delivery of entry 0 would exceed max_deliveries 3: it is dead-lettered, while \
         entry 2 (1 delivery) is claimed"
    );
    assert_eq!(
        s.dead_letters("s", "g").expect("dead letters"),
        vec![DeadLetter {
            entry: Entry {
                id: added[0],
                fields: vec![("n".into(), "1".into())]
            },
            deliveries: vec![
                delivery("c1", 100),
                delivery("c2", 200),
                delivery("c3", 300)
            ],
            dead_at_ms: 400,
        }],
        "the dead letter holds the entry and every delivery, oldest first"
    );
    assert_eq!(
        pending_ids(&s, "s", "g"),
        [added[2]],
        "the dead letter left the pending list"
    );
    assert_eq!(s.xlen("s"), Ok(3), "it stays in the stream");
}

#[test]
fn a_reread_past_max_deliveries_dead_letters_the_entry() {
    let (mut s, added) = stream_of(3, 2);
    read_new(&mut s, "c1", 3, 10);
    let reread = |s: &mut Streams, count: usize, now: u64| {
        ids(&s
            .xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), count, now)
            .expect("re-read"))
    };
    assert_eq!(reread(&mut s, 1, 20), [added[0]], "delivery 2 of entry 0");
    assert_eq!(
        reread(&mut s, 2, 30),
        [added[1]],
        "entry 0 would be delivered a 3rd time: it is dead-lettered, not returned, and counts \
         towards count 2 with entry 1"
    );
    assert_eq!(
        s.dead_letters("s", "g").expect("dead letters"),
        vec![DeadLetter {
            entry: Entry {
                id: added[0],
                fields: vec![("n".into(), "1".into())]
            },
            deliveries: vec![delivery("c1", 10), delivery("c1", 20)],
            dead_at_ms: 30,
        }]
    );
    assert_eq!(
        reread(&mut s, 10, 40),
        [added[2]],
        "entry 1 is at 2 deliveries now; entry 2 is delivered"
    );
    assert_eq!(
        s.dead_letters("s", "g")
            .expect("dead letters")
            .iter()
            .map(|d| d.entry.id)
            .collect::<Vec<_>>(),
        [added[0], added[1]],
        "dead letters, oldest first"
    );
    assert_eq!(pending_ids(&s, "s", "g"), [added[2]]);
}

#[test]
fn xautoclaim_counts_dead_lettered_entries_towards_count() {
    let (mut s, added) = stream_of(5, 1);
    read_new(&mut s, "c1", 3, 0); // 0, 1, 2 at 1 delivery: any re-delivery kills them
    s.xreadgroup("s", "g", "c1", ReadFrom::New, 2, 0)
        .expect("read 3, 4");
    let got = claim(&mut s, "c2", 10, StreamId::MIN, 2, 100);
    assert_eq!(
        (got.claimed.clone(), got.dead_lettered.clone(), got.next),
        (vec![], vec![added[0], added[1]], added[2]),
        "count 2: two entries handled (both dead-lettered, max_deliveries 1), and the cursor \
         at the next pending id"
    );
    let got = claim(&mut s, "c2", 10, got.next, 3, 100);
    assert_eq!(
        (got.dead_lettered.clone(), got.next),
        (added[2..].to_vec(), StreamId::MIN),
        "from the cursor: the other three, then the end (the last one examined was \
         dead-lettered: nothing is pending after it)"
    );
    assert!(s.xpending("s", "g").expect("xpending").is_empty());
    assert_eq!(
        s.dead_letters("s", "g")
            .expect("dead letters")
            .iter()
            .map(|d| (d.entry.id, d.deliveries.len(), d.dead_at_ms))
            .collect::<Vec<_>>(),
        added.iter().map(|&id| (id, 1, 100)).collect::<Vec<_>>(),
        "five dead letters in id order, each with its one delivery"
    );
}

#[test]
fn a_dead_letter_is_never_delivered_or_acked_again() {
    let (mut s, added) = stream_of(2, 1);
    read_new(&mut s, "c1", 2, 0);
    let got = claim(&mut s, "c2", 0, StreamId::MIN, 10, 5);
    assert_eq!(
        (got.claimed, got.dead_lettered.clone()),
        (vec![], added.clone()),
        "max_deliveries 1: any re-delivery dead-letters"
    );
    assert_eq!(
        s.xack("s", "g", &added),
        Ok(0),
        "a dead letter is not pending: acks nothing"
    );
    assert_eq!(
        claim(&mut s, "c2", 0, StreamId::MIN, 10, 6),
        AutoClaim {
            next: StreamId::MIN,
            claimed: vec![],
            dead_lettered: vec![]
        },
        "a dead letter is not claimed or dead-lettered again"
    );
    assert_eq!(
        s.xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 10, 7),
        Ok(vec![]),
        "nor re-read by its last holder"
    );
    assert_eq!(read_new(&mut s, "c3", 10, 8), [], "nor new again");
    assert_eq!(s.dead_letters("s", "g").expect("dead letters").len(), 2);
}

// ---------------------------------------------------------------------------
// 9. Bad input
// ---------------------------------------------------------------------------

/// Everything observable about the streams "s" and "t" and the groups "g"
/// and "h", read without changing anything, then the answers of the same
/// probing calls (so that a group's position and each entry's delivery count
/// are compared too).
fn observe(s: &mut Streams) -> Vec<String> {
    let mut seen = Vec::new();
    for stream in ["s", "t"] {
        seen.push(format!("{stream} xlen {:?}", s.xlen(stream)));
        seen.push(format!("{stream} last_id {:?}", s.last_id(stream)));
        seen.push(format!(
            "{stream} xrange {:?}",
            s.xrange(stream, StreamId::MIN, StreamId::MAX, usize::MAX)
        ));
        for group in ["g", "h"] {
            seen.push(format!(
                "{stream}/{group} pending {:?}",
                s.xpending(stream, group)
            ));
            seen.push(format!(
                "{stream}/{group} dead {:?}",
                s.dead_letters(stream, group)
            ));
        }
    }
    for stream in ["s", "t"] {
        for group in ["g", "h"] {
            seen.push(format!(
                "{stream}/{group} claim all {:?}",
                s.xautoclaim(
                    stream,
                    group,
                    "probe",
                    0,
                    StreamId::MIN,
                    usize::MAX,
                    1 << 40
                )
            ));
            seen.push(format!(
                "{stream}/{group} new {:?}",
                s.xreadgroup(stream, group, "probe", ReadFrom::New, usize::MAX, 1 << 40)
            ));
            seen.push(format!(
                "{stream}/{group} dead after {:?}",
                s.dead_letters(stream, group)
            ));
        }
    }
    seen
}

/// Streams "s" (5 entries, group "g" with max 2: entries 0 and 1 at 2
/// deliveries, 2 at 1, 3 dead, 4 new) and "t" (no group).
fn busy() -> Streams {
    let mut s = Streams::new();
    for t in 1..=5 {
        s.xadd("s", &[("n", "v")], t).expect("xadd");
    }
    s.xadd("t", &[], 1).expect("xadd");
    s.xgroup_create("s", "g", StreamId::MIN, 2).expect("group");
    s.xreadgroup("s", "g", "c1", ReadFrom::New, 4, 10)
        .expect("read");
    s.xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 2, 20)
        .expect("re-read");
    s.xautoclaim("s", "g", "c2", 0, sid(4, 0), 1, 30)
        .expect("claim");
    s.xautoclaim("s", "g", "c2", 0, sid(4, 0), 1, 40)
        .expect("claim: dead-letters 4-0");
    s
}

type Call = fn(&mut Streams) -> Result<String, StreamError>;

fn unknown_stream(name: &str) -> StreamError {
    StreamError::UnknownStream {
        stream: name.into(),
    }
}

fn unknown_group(stream: &str, group: &str) -> StreamError {
    StreamError::UnknownGroup {
        stream: stream.into(),
        group: group.into(),
    }
}

#[rstest]
#[case::xlen_of_an_unknown_stream(
    (|s| s.xlen("x").map(|v| format!("{v:?}"))) as Call, unknown_stream("x"))]
#[case::last_id_of_an_unknown_stream(
    (|s| s.last_id("x").map(|v| format!("{v:?}"))) as Call, unknown_stream("x"))]
#[case::xrange_of_an_unknown_stream(
    (|s| s.xrange("x", StreamId::MIN, StreamId::MAX, 5).map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::xrange_count_zero(
    (|s| s.xrange("s", StreamId::MIN, StreamId::MAX, 0).map(|v| format!("{v:?}"))) as Call,
    StreamError::ZeroCount)]
#[case::xadd_with_id_equal_to_the_last(
    (|s| s.xadd_with_id("s", sid(5, 0), &[("a", "b")]).map(|v| format!("{v:?}"))) as Call,
    StreamError::IdNotGreater { id: sid(5, 0), last: sid(5, 0) })]
#[case::xadd_with_id_zero_on_a_new_stream(
    (|s| s.xadd_with_id("x", StreamId::MIN, &[]).map(|v| format!("{v:?}"))) as Call,
    StreamError::IdNotGreater { id: StreamId::MIN, last: StreamId::MIN })]
#[case::group_on_an_unknown_stream(
    (|s| s.xgroup_create("x", "g", StreamId::MIN, 3).map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::group_created_twice(
    (|s| s.xgroup_create("s", "g", StreamId::MIN, 9).map(|v| format!("{v:?}"))) as Call,
    StreamError::GroupExists { stream: "s".into(), group: "g".into() })]
#[case::group_start_beyond_the_last_id(
    (|s| s.xgroup_create("s", "h", sid(5, 1), 3).map(|v| format!("{v:?}"))) as Call,
    StreamError::IdOutOfRange { id: sid(5, 1), last: sid(5, 0) })]
#[case::group_start_at_max(
    (|s| s.xgroup_create("t", "g", StreamId::MAX, 3).map(|v| format!("{v:?}"))) as Call,
    StreamError::IdOutOfRange { id: StreamId::MAX, last: sid(1, 0) })]
#[case::group_with_max_deliveries_zero(
    (|s| s.xgroup_create("s", "h", StreamId::MIN, 0).map(|v| format!("{v:?}"))) as Call,
    StreamError::ZeroMaxDeliveries)]
#[case::read_of_an_unknown_stream(
    (|s| s.xreadgroup("x", "g", "c1", ReadFrom::New, 5, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::read_of_an_unknown_group(
    (|s| s.xreadgroup("s", "h", "c1", ReadFrom::New, 5, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_group("s", "h"))]
#[case::read_of_a_group_of_another_stream(
    (|s| s.xreadgroup("t", "g", "c1", ReadFrom::New, 5, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_group("t", "g"))]
#[case::read_new_count_zero(
    (|s| s.xreadgroup("s", "g", "c1", ReadFrom::New, 0, 50).map(|v| format!("{v:?}"))) as Call,
    StreamError::ZeroCount)]
#[case::reread_count_zero(
    (|s| s.xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 0, 50)
        .map(|v| format!("{v:?}"))) as Call,
    StreamError::ZeroCount)]
#[case::read_of_an_unknown_group_with_count_zero(
    (|s| s.xreadgroup("s", "h", "c1", ReadFrom::New, 0, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_group("s", "h"))]
#[case::ack_on_an_unknown_stream(
    (|s| s.xack("x", "g", &[sid(1, 0)]).map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::ack_on_an_unknown_group(
    (|s| s.xack("s", "h", &[sid(1, 0), sid(2, 0)]).map(|v| format!("{v:?}"))) as Call,
    unknown_group("s", "h"))]
#[case::claim_on_an_unknown_stream(
    (|s| s.xautoclaim("x", "g", "c3", 0, StreamId::MIN, 5, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::claim_on_an_unknown_group(
    (|s| s.xautoclaim("s", "h", "c3", 0, StreamId::MIN, 5, 50).map(|v| format!("{v:?}"))) as Call,
    unknown_group("s", "h"))]
#[case::claim_count_zero(
    (|s| s.xautoclaim("s", "g", "c3", 0, StreamId::MIN, 0, 50).map(|v| format!("{v:?}"))) as Call,
    StreamError::ZeroCount)]
#[case::xpending_of_an_unknown_group(
    (|s| s.xpending("s", "h").map(|v| format!("{v:?}"))) as Call,
    unknown_group("s", "h"))]
#[case::xpending_of_an_unknown_stream(
    (|s| s.xpending("x", "g").map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
#[case::dead_letters_of_an_unknown_group(
    (|s| s.dead_letters("t", "g").map(|v| format!("{v:?}"))) as Call,
    unknown_group("t", "g"))]
#[case::dead_letters_of_an_unknown_stream(
    (|s| s.dead_letters("x", "g").map(|v| format!("{v:?}"))) as Call,
    unknown_stream("x"))]
fn bad_input_is_a_typed_error_and_changes_nothing(#[case] call: Call, #[case] error: StreamError) {
    let mut subject = busy();
    let mut untouched = busy();
    assert_eq!(
        call(&mut subject),
        Err(error),
        "a bad argument is this typed error"
    );
    assert_eq!(
        observe(&mut subject),
        observe(&mut untouched),
        "after the refused call, every stream, group position, pending entry, delivery count and \
         dead letter is as it was"
    );
}

#[test]
fn count_zero_is_an_error() {
    let (mut s, _) = stream_of(3, 3);
    assert_eq!(
        s.xrange("s", StreamId::MIN, StreamId::MAX, 0),
        Err(StreamError::ZeroCount)
    );
    assert_eq!(
        s.xreadgroup("s", "g", "c1", ReadFrom::New, 0, 0),
        Err(StreamError::ZeroCount),
        "a read of 0 new entries"
    );
    assert_eq!(
        read_new(&mut s, "c1", 3, 0).len(),
        3,
        "the refused read delivered nothing: all 3 are still new"
    );
    assert_eq!(
        s.xreadgroup("s", "g", "c1", ReadFrom::Pending(StreamId::MIN), 0, 0),
        Err(StreamError::ZeroCount)
    );
    assert_eq!(
        s.xautoclaim("s", "g", "c2", 0, StreamId::MIN, 0, 10),
        Err(StreamError::ZeroCount)
    );
    assert!(
        s.xpending("s", "g")
            .expect("xpending")
            .iter()
            .all(|p| p.consumer == "c1" && p.deliveries == 1),
        "the refused re-read and claim delivered nothing"
    );
}

// ---------------------------------------------------------------------------
// 10. Crashes mid-batch
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    /// Consumer `who` reads up to `batch` new entries and acks the first
    /// `acks` of them; it crashes (never calls again) if `crash`.
    Work {
        who: usize,
        batch: usize,
        acks: usize,
        crash: bool,
    },
    /// A live consumer claims entries idle for `IDLE`, from the start, and
    /// acks the first `acks` of them.
    Rescue {
        who: usize,
        count: usize,
        acks: usize,
    },
    /// The clock moves.
    Wait(u64),
    /// Someone acks an id again (a retry of an ack whose answer was lost).
    AckAgain(usize),
}

const IDLE: u64 = 1_000;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..4, 1usize..6, 0usize..6, prop::bool::weighted(0.3)).prop_map(
            |(who, batch, acks, crash)| Step::Work { who, batch, acks, crash }
        ),
        2 => (0usize..4, 1usize..6, 0usize..6).prop_map(|(who, count, acks)| Step::Rescue { who, count, acks }),
        2 => prop_oneof![0u64..IDLE, Just(IDLE - 1), Just(IDLE), IDLE..3 * IDLE].prop_map(Step::Wait),
        1 => (0usize..40).prop_map(Step::AckAgain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn followup_no_entry_is_lost_or_acked_twice_when_consumers_crash_mid_batch(
        n in 5u64..40,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let names = ["w0", "w1", "w2", "w3"];
        let mut s = Streams::new();
        let mut all = Vec::new();
        for t in 0..n {
            all.push(s.xadd("s", &[("job", "x")], t).expect("xadd"));
        }
        s.xgroup_create("s", "g", StreamId::MIN, u32::MAX).expect("group");
        let mut now = n;
        let mut crashed = [false; 4];
        // Acks that returned 1, per id; the last delivery time we saw, per id.
        let mut acked: BTreeMap<StreamId, u32> = BTreeMap::new();
        let mut delivered_at: BTreeMap<StreamId, u64> = BTreeMap::new();
        let ack = |s: &mut Streams, id: StreamId, acked: &mut BTreeMap<StreamId, u32>| {
            let got = s.xack("s", "g", &[id]).expect("xack");
            let before = acked.get(&id).copied().unwrap_or(0);
            prop_assert!(got <= 1, "xack of one id returned {}", got);
            if got == 1 {
                prop_assert_eq!(before, 0, "{} acked a second time (returned 1 again), steps {:?}", id, steps);
                acked.insert(id, 1);
            }
            Ok(())
        };
        for st in &steps {
            match *st {
                Step::Work { who, batch, acks, crash } => {
                    if crashed[who] { continue; }
                    let got = read_new(&mut s, names[who], batch, now);
                    for &id in &got {
                        prop_assert!(!delivered_at.contains_key(&id), "{} delivered as new twice", id);
                        delivered_at.insert(id, now);
                    }
                    for &id in got.iter().take(acks) {
                        ack(&mut s, id, &mut acked)?;
                    }
                    crashed[who] |= crash && who != 0;
                }
                Step::Rescue { who, count, acks } => {
                    if crashed[who] { continue; }
                    let got = claim(&mut s, names[who], IDLE, StreamId::MIN, count, now);
                    prop_assert_eq!(got.dead_lettered.clone(), vec![], "no dead letters with u32::MAX deliveries");
                    for e in &got.claimed {
                        let at = delivered_at.get(&e.id).copied();
                        prop_assert!(
                            at.is_some_and(|at| now - at >= IDLE),
                            "{} claimed at {} though last delivered at {:?} (min idle {})", e.id, now, at, IDLE
                        );
                        prop_assert!(!acked.contains_key(&e.id), "{} claimed after it was acked", e.id);
                        delivered_at.insert(e.id, now);
                    }
                    for e in got.claimed.iter().take(acks) {
                        ack(&mut s, e.id, &mut acked)?;
                    }
                }
                Step::Wait(d) => now += d,
                Step::AckAgain(i) => {
                    if let Some(&id) = all.get(i).filter(|id| acked.contains_key(id)) {
                        prop_assert_eq!(s.xack("s", "g", &[id]), Ok(0), "{} acked again", id);
                    }
                }
            }
        }
        // The survivor w0 finishes everything: new entries, then whatever is
        // left pending once it is idle.
        for _ in 0..(2 * n + 4) {
            let got = read_new(&mut s, "w0", 3, now);
            for &id in &got {
                delivered_at.insert(id, now);
                ack(&mut s, id, &mut acked)?;
            }
            now += IDLE;
            let got = claim(&mut s, "w0", IDLE, StreamId::MIN, 3, now);
            for e in &got.claimed {
                ack(&mut s, e.id, &mut acked)?;
            }
        }
        prop_assert_eq!(
            acked.keys().copied().collect::<Vec<_>>(), all.clone(),
            "every entry acked exactly once, steps {:?}", steps
        );
        prop_assert!(s.xpending("s", "g").expect("xpending").is_empty(), "nothing left pending");
        prop_assert!(s.dead_letters("s", "g").expect("dead").is_empty(), "nothing dead");
    }
}

// ---------------------------------------------------------------------------
// 11. The model
// ---------------------------------------------------------------------------

/// An obviously correct model: a `Vec` of entries per stream and a plain
/// map of pending entries per group, scanned by brute force.
#[derive(Debug, Default)]
struct Model {
    streams: BTreeMap<String, MStream>,
}

#[derive(Debug, Default)]
struct MStream {
    entries: Vec<Entry>,
    last: StreamId,
    groups: BTreeMap<String, MGroup>,
}

#[derive(Debug)]
struct MGroup {
    last_delivered: StreamId,
    max: u32,
    /// id -> every delivery so far (the last is the holder's).
    pending: BTreeMap<StreamId, Vec<Delivery>>,
    dead: Vec<DeadLetter>,
}

impl Model {
    fn stream(&self, name: &str) -> Result<&MStream, StreamError> {
        self.streams.get(name).ok_or_else(|| unknown_stream(name))
    }

    fn group(
        &mut self,
        stream: &str,
        group: &str,
    ) -> Result<(&Vec<Entry>, &mut MGroup), StreamError> {
        let st = self
            .streams
            .get_mut(stream)
            .ok_or_else(|| unknown_stream(stream))?;
        let g = st
            .groups
            .get_mut(group)
            .ok_or_else(|| unknown_group(stream, group))?;
        Ok((&st.entries, g))
    }

    fn add(
        &mut self,
        stream: &str,
        id: Option<StreamId>,
        now: u64,
    ) -> Result<StreamId, StreamError> {
        let last = self.streams.get(stream).map_or(StreamId::MIN, |s| s.last);
        let id = match id {
            Some(id) if id <= last => return Err(StreamError::IdNotGreater { id, last }),
            Some(id) => id,
            None if last == StreamId::MAX => {
                return Err(StreamError::IdExhausted {
                    stream: stream.into(),
                });
            }
            None => {
                let next = if last.seq == u64::MAX {
                    StreamId::new(last.ms + 1, 0)
                } else {
                    StreamId::new(last.ms, last.seq + 1)
                };
                next.max(StreamId::new(now, 0))
            }
        };
        let st = self.streams.entry(stream.into()).or_default();
        st.entries.push(Entry {
            id,
            fields: vec![("t".into(), now.to_string())],
        });
        st.last = id;
        Ok(id)
    }

    fn create(
        &mut self,
        stream: &str,
        group: &str,
        start: StreamId,
        max: u32,
    ) -> Result<(), StreamError> {
        let st = self
            .streams
            .get_mut(stream)
            .ok_or_else(|| unknown_stream(stream))?;
        if st.groups.contains_key(group) {
            return Err(StreamError::GroupExists {
                stream: stream.into(),
                group: group.into(),
            });
        }
        if start > st.last {
            return Err(StreamError::IdOutOfRange {
                id: start,
                last: st.last,
            });
        }
        if max == 0 {
            return Err(StreamError::ZeroMaxDeliveries);
        }
        st.groups.insert(
            group.into(),
            MGroup {
                last_delivered: start,
                max,
                pending: BTreeMap::new(),
                dead: vec![],
            },
        );
        Ok(())
    }

    /// One more delivery of a pending entry, or its death. True if delivered.
    fn redeliver(
        entries: &[Entry],
        g: &mut MGroup,
        id: StreamId,
        consumer: &str,
        now: u64,
    ) -> bool {
        let history = g.pending.get_mut(&id).expect("a pending id");
        if history.len() as u64 >= u64::from(g.max) {
            let deliveries = g.pending.remove(&id).expect("a pending id");
            let entry = entries
                .iter()
                .find(|e| e.id == id)
                .expect("an entry")
                .clone();
            g.dead.push(DeadLetter {
                entry,
                deliveries,
                dead_at_ms: now,
            });
            false
        } else {
            history.push(Delivery {
                consumer: consumer.into(),
                at_ms: now,
            });
            true
        }
    }

    fn read(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        from: ReadFrom,
        count: usize,
        now: u64,
    ) -> Result<Vec<Entry>, StreamError> {
        let (entries, g) = self.group(stream, group)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        match from {
            ReadFrom::New => {
                let got: Vec<Entry> = entries
                    .iter()
                    .filter(|e| e.id > g.last_delivered)
                    .take(count)
                    .cloned()
                    .collect();
                for e in &got {
                    g.pending.insert(
                        e.id,
                        vec![Delivery {
                            consumer: consumer.into(),
                            at_ms: now,
                        }],
                    );
                    g.last_delivered = e.id;
                }
                Ok(got)
            }
            ReadFrom::Pending(after) => {
                let mine: Vec<StreamId> = g
                    .pending
                    .iter()
                    .filter(|(id, h)| {
                        **id > after && h.last().is_some_and(|d| d.consumer == consumer)
                    })
                    .map(|(id, _)| *id)
                    .take(count)
                    .collect();
                let mut got = vec![];
                for id in mine {
                    if Self::redeliver(entries, g, id, consumer, now) {
                        got.push(
                            entries
                                .iter()
                                .find(|e| e.id == id)
                                .expect("an entry")
                                .clone(),
                        );
                    }
                }
                Ok(got)
            }
        }
    }

    fn ack(&mut self, stream: &str, group: &str, ids: &[StreamId]) -> Result<usize, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(ids
            .iter()
            .filter(|id| g.pending.remove(id).is_some())
            .count())
    }

    #[allow(clippy::too_many_arguments)]
    fn claim(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: u64,
        start: StreamId,
        count: usize,
        now: u64,
    ) -> Result<AutoClaim, StreamError> {
        let (entries, g) = self.group(stream, group)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        let mut handled = vec![];
        let mut last_examined = None;
        for (id, h) in g.pending.iter().filter(|(id, _)| **id >= start) {
            if handled.len() == count {
                break;
            }
            last_examined = Some(*id);
            if now.saturating_sub(h.last().expect("a delivery").at_ms) >= min_idle {
                handled.push(*id);
            }
        }
        let mut out = AutoClaim {
            next: StreamId::MIN,
            claimed: vec![],
            dead_lettered: vec![],
        };
        for id in handled {
            if Self::redeliver(entries, g, id, consumer, now) {
                out.claimed.push(
                    entries
                        .iter()
                        .find(|e| e.id == id)
                        .expect("an entry")
                        .clone(),
                );
            } else {
                out.dead_lettered.push(id);
            }
        }
        if let Some(last) = last_examined {
            out.next = g
                .pending
                .keys()
                .copied()
                .find(|id| *id > last)
                .unwrap_or(StreamId::MIN);
        }
        Ok(out)
    }

    fn pending(&mut self, stream: &str, group: &str) -> Result<Vec<PendingEntry>, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(g.pending
            .iter()
            .map(|(id, h)| PendingEntry {
                id: *id,
                consumer: h.last().expect("a delivery").consumer.clone(),
                deliveries: h.len() as u32,
                last_delivered_ms: h.last().expect("a delivery").at_ms,
            })
            .collect())
    }
}

#[derive(Debug, Clone)]
enum IdPick {
    /// The i-th entry of the stream (modulo its length), or 0-0 if empty.
    Existing(usize),
    Raw(u64, u64),
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        stream: usize,
        now: u64,
    },
    AddId {
        stream: usize,
        id: IdPick,
        bump: bool,
    },
    Create {
        stream: usize,
        group: usize,
        start: Option<IdPick>,
        max: u32,
    },
    Read {
        stream: usize,
        group: usize,
        consumer: usize,
        from: Option<IdPick>,
        count: usize,
        now: u64,
    },
    Ack {
        stream: usize,
        group: usize,
        ids: Vec<IdPick>,
    },
    Claim {
        stream: usize,
        group: usize,
        consumer: usize,
        min_idle: u64,
        start: IdPick,
        count: usize,
        now: u64,
    },
}

const STREAMS: [&str; 2] = ["s", "t"];
const GROUPS: [&str; 2] = ["g", "h"];
const CONSUMERS: [&str; 3] = ["c1", "c2", "c3"];

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 0u64..60, 1 => Just(MAX), 1 => MAX - 30..=MAX]
}

fn id_pick() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        4 => (0usize..64).prop_map(IdPick::Existing),
        1 => Just(IdPick::Raw(0, 0)),
        1 => Just(IdPick::Raw(MAX, MAX)),
        1 => (0u64..60, 0u64..3).prop_map(|(ms, seq)| IdPick::Raw(ms, seq)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..2, time()).prop_map(|(stream, now)| Op::Add { stream, now }),
        1 => (0usize..2, id_pick(), any::<bool>()).prop_map(|(stream, id, bump)| Op::AddId { stream, id, bump }),
        2 => (0usize..2, 0usize..2, prop::option::of(id_pick()), prop_oneof![1 => Just(0u32), 6 => 1u32..4])
            .prop_map(|(stream, group, start, max)| Op::Create { stream, group, start, max }),
        5 => (0usize..2, 0usize..2, 0usize..3, prop::option::of(id_pick()), 0usize..4, time())
            .prop_map(|(stream, group, consumer, from, count, now)| Op::Read { stream, group, consumer, from, count, now }),
        3 => (0usize..2, 0usize..2, prop::collection::vec(id_pick(), 0..4))
            .prop_map(|(stream, group, ids)| Op::Ack { stream, group, ids }),
        4 => (0usize..2, 0usize..2, 0usize..3, prop_oneof![0u64..20, Just(MAX)], id_pick(), 0usize..4, time())
            .prop_map(|(stream, group, consumer, min_idle, start, count, now)| Op::Claim {
                stream, group, consumer, min_idle, start, count, now
            }),
    ]
}

impl Model {
    fn resolve(&self, stream: &str, pick: &IdPick) -> StreamId {
        match *pick {
            IdPick::Raw(ms, seq) => StreamId::new(ms, seq),
            IdPick::Existing(i) => self
                .streams
                .get(stream)
                .filter(|s| !s.entries.is_empty())
                .map_or(StreamId::MIN, |s| s.entries[i % s.entries.len()].id),
        }
    }
}

fn compare_everything(s: &Streams, m: &mut Model, ops: &[Op]) -> Result<(), TestCaseError> {
    for stream in STREAMS {
        prop_assert_eq!(
            s.xlen(stream),
            m.stream(stream).map(|st| st.entries.len()),
            "xlen({}) after {:?}",
            stream,
            ops
        );
        prop_assert_eq!(
            s.last_id(stream),
            m.stream(stream).map(|st| st.last),
            "last_id({}) after {:?}",
            stream,
            ops
        );
        prop_assert_eq!(
            s.xrange(stream, StreamId::MIN, StreamId::MAX, usize::MAX),
            m.stream(stream).map(|st| st.entries.clone()),
            "the entries of {} after {:?}",
            stream,
            ops
        );
        for group in GROUPS {
            prop_assert_eq!(
                s.xpending(stream, group),
                m.pending(stream, group),
                "xpending({}, {}) after {:?}",
                stream,
                group,
                ops
            );
            prop_assert_eq!(
                s.dead_letters(stream, group),
                m.group(stream, group).map(|(_, g)| g.dead.clone()),
                "dead_letters({}, {}) after {:?}",
                stream,
                group,
                ops
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn followup_agrees_with_a_model_under_random_operations(ops in prop::collection::vec(op(), 1..50)) {
        let mut s = Streams::new();
        let mut m = Model::default();
        for (i, op) in ops.iter().enumerate() {
            let done = &ops[..=i];
            match op {
                Op::Add { stream, now } => {
                    let stream = STREAMS[*stream];
                    let now_s = now.to_string();
                    let got = s.xadd(stream, &[("t", now_s.as_str())], *now);
                    prop_assert_eq!(got, m.add(stream, None, *now), "xadd({}, {}) in {:?}", stream, now, done);
                }
                Op::AddId { stream, id, bump } => {
                    let stream = STREAMS[*stream];
                    let mut id = m.resolve(stream, id);
                    if *bump {
                        // Usually just past the last id, so that it is accepted.
                        let last = m.stream(stream).map_or(StreamId::MIN, |st| st.last);
                        id = if last.seq < MAX { StreamId::new(last.ms, last.seq + 1) } else { id };
                    }
                    let got = s.xadd_with_id(stream, id, &[("t", "0")]);
                    prop_assert_eq!(got, m.add(stream, Some(id), 0), "xadd_with_id({}, {}) in {:?}", stream, id, done);
                }
                Op::Create { stream, group, start, max } => {
                    let stream = STREAMS[*stream];
                    let group = GROUPS[*group];
                    // One bad argument at a time: max 0 only with a start in range.
                    let start = match (start, *max) {
                        (_, 0) | (None, _) => StreamId::MIN,
                        (Some(pick), _) => m.resolve(stream, pick),
                    };
                    prop_assert_eq!(
                        s.xgroup_create(stream, group, start, *max),
                        m.create(stream, group, start, *max),
                        "xgroup_create({}, {}, {}, {}) in {:?}", stream, group, start, max, done
                    );
                }
                Op::Read { stream, group, consumer, from, count, now } => {
                    let stream = STREAMS[*stream];
                    let from = match from {
                        None => ReadFrom::New,
                        Some(pick) => ReadFrom::Pending(m.resolve(stream, pick)),
                    };
                    let (group, consumer) = (GROUPS[*group], CONSUMERS[*consumer]);
                    prop_assert_eq!(
                        s.xreadgroup(stream, group, consumer, from, *count, *now),
                        m.read(stream, group, consumer, from, *count, *now),
                        "xreadgroup({}, {}, {}, {:?}, {}, {}) in {:?}", stream, group, consumer, from, count, now, done
                    );
                }
                Op::Ack { stream, group, ids } => {
                    let stream = STREAMS[*stream];
                    let group = GROUPS[*group];
                    let ids: Vec<StreamId> = ids.iter().map(|p| m.resolve(stream, p)).collect();
                    prop_assert_eq!(
                        s.xack(stream, group, &ids),
                        m.ack(stream, group, &ids),
                        "xack({}, {}, {:?}) in {:?}", stream, group, ids, done
                    );
                }
                Op::Claim { stream, group, consumer, min_idle, start, count, now } => {
                    let stream = STREAMS[*stream];
                    let start = m.resolve(stream, start);
                    let (group, consumer) = (GROUPS[*group], CONSUMERS[*consumer]);
                    prop_assert_eq!(
                        s.xautoclaim(stream, group, consumer, *min_idle, start, *count, *now),
                        m.claim(stream, group, consumer, *min_idle, start, *count, *now),
                        "xautoclaim({}, {}, {}, min_idle {}, start {}, count {}, now {}) in {:?}",
                        stream, group, consumer, min_idle, start, count, now, done
                    );
                }
            }
            compare_everything(&s, &mut m, done)?;
        }
    }
}
