//! The allocation bounds of the consumer-groups kata, measured with a
//! counting allocator (it has to be this file's global allocator, so it has
//! a file of its own). Counts, not times: the same on every run.
//!
//! `cargo test -p consumer-groups` judges your code;
//! `cargo test -p consumer-groups --features solution` judges the reference.

#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use consumer_groups as subject;
#[cfg(feature = "solution")]
use consumer_groups_solution as subject;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{ReadFrom, StreamId, Streams};

#[global_allocator]
static ALLOC: Counting = Counting;

const SMALL: u64 = 1_000;
const LARGE: u64 = 16_000;
/// What a call may allocate beyond its twin on the small stream: room for a
/// map that happens to split a node, nothing that grows with the stream.
const SLACK: u64 = 1024;

/// A stream "s" of `n` entries (times 1..=n) and a group "g" from the start.
fn stream_of(n: u64) -> Streams {
    let mut s = Streams::new();
    for t in 1..=n {
        s.xadd("s", &[("order", "7"), ("event", "paid")], t)
            .expect("xadd");
    }
    s.xgroup_create("s", "g", StreamId::MIN, 1_000)
        .expect("a new group");
    s
}

/// The same stream, with every entry pending for the consumer "crashed".
fn all_pending(n: u64) -> Streams {
    let mut s = stream_of(n);
    let read = s
        .xreadgroup(
            "s",
            "g",
            "crashed",
            ReadFrom::New,
            usize::try_from(n).expect("small"),
            0,
        )
        .expect("a read of everything");
    assert_eq!(read.len() as u64, n);
    s
}

/// Bytes allocated by `call` on a stream built by `build(SMALL)` and by
/// `build(LARGE)`.
fn bytes_at_two_sizes(
    build: fn(u64) -> Streams,
    call: impl Fn(&mut Streams) -> usize,
) -> (u64, u64, usize, usize) {
    let mut small = build(SMALL);
    let mut large = build(LARGE);
    let (a, got_small) = measure(|| call(&mut small));
    let (b, got_large) = measure(|| call(&mut large));
    (a.bytes_allocated, b.bytes_allocated, got_small, got_large)
}

#[test]
fn a_new_read_allocates_for_what_it_returns_not_for_the_stream() {
    assert!(installed(), "the counting allocator should be installed");
    let (small, large, n_small, n_large) = bytes_at_two_sizes(stream_of, |s| {
        s.xreadgroup("s", "g", "c1", ReadFrom::New, 10, 5)
            .expect("a read")
            .len()
    });
    assert_eq!((n_small, n_large), (10, 10), "a read of 10 new entries");
    assert!(
        large <= small + SLACK,
        "xreadgroup(New, count 10) allocated {small} bytes on a stream of {SMALL} new entries and \
         {large} on one of {LARGE}: a read of 10 should take 10 entries from where the group \
         stands, not collect every new entry and keep the first 10"
    );
}

#[test]
fn a_reread_allocates_for_what_it_returns_not_for_the_pending_list() {
    assert!(installed(), "the counting allocator should be installed");
    let (small, large, n_small, n_large) = bytes_at_two_sizes(all_pending, |s| {
        s.xreadgroup("s", "g", "crashed", ReadFrom::Pending(StreamId::MIN), 10, 5)
            .expect("a re-read")
            .len()
    });
    assert_eq!(
        (n_small, n_large),
        (10, 10),
        "a re-read of 10 pending entries"
    );
    assert!(
        large <= small + SLACK,
        "xreadgroup(Pending(0-0), count 10) allocated {small} bytes with {SMALL} pending entries \
         and {large} with {LARGE}: a re-read of 10 should not collect the consumer's whole \
         pending list first"
    );
}

#[test]
fn xautoclaim_allocates_for_what_it_claims_not_for_the_pending_list() {
    assert!(installed(), "the counting allocator should be installed");
    let (small, large, n_small, n_large) = bytes_at_two_sizes(all_pending, |s| {
        s.xautoclaim("s", "g", "rescuer", 100, StreamId::MIN, 10, 1_000)
            .expect("a claim")
            .claimed
            .len()
    });
    assert_eq!((n_small, n_large), (10, 10), "a claim of 10 idle entries");
    assert!(
        large <= small + SLACK,
        "xautoclaim(count 10) allocated {small} bytes with {SMALL} idle pending entries and \
         {large} with {LARGE}: a claim of 10 should stop after the 10th, not collect every idle \
         entry first"
    );
}

#[test]
fn acking_keeps_no_memory() {
    assert!(installed(), "the counting allocator should be installed");
    let mut s = all_pending(SMALL);
    let ids: Vec<StreamId> = (1..=SMALL).map(|t| StreamId::new(t, 0)).collect();
    let (usage, acked) = measure(|| {
        let mut acked = 0;
        for chunk in ids.chunks(10) {
            acked += s.xack("s", "g", chunk).expect("an ack");
        }
        acked
    });
    assert_eq!(acked as u64, SMALL, "every pending entry acked once");
    assert!(
        usage.live_bytes <= 0,
        "acking {SMALL} pending entries left {} more bytes allocated than before: an ack removes \
         the entry from the pending list and keeps nothing",
        usage.live_bytes
    );

    // Steady state: a consumer reads 10 and acks them, LARGE / 10 times.
    // Whatever it allocated for the pending entries is freed by the acks;
    // what is left is room for a map that keeps its capacity, not a record
    // per ack.
    let mut s = stream_of(LARGE);
    s.xreadgroup("s", "g", "c1", ReadFrom::New, 10, 0)
        .and_then(|read| s.xack("s", "g", &read.iter().map(|e| e.id).collect::<Vec<_>>()))
        .expect("a first read and ack, to warm up");
    let (usage, acked) = measure(|| {
        let mut acked = 0;
        loop {
            let read = s
                .xreadgroup("s", "g", "c1", ReadFrom::New, 10, 1)
                .expect("a read");
            if read.is_empty() {
                break acked;
            }
            let ids: Vec<StreamId> = read.iter().map(|e| e.id).collect();
            acked += s.xack("s", "g", &ids).expect("an ack");
        }
    });
    assert_eq!(acked as u64, LARGE - 10, "every entry read and acked once");
    assert!(
        usage.live_bytes <= 4 * SLACK as i64,
        "reading and acking {} entries, 10 at a time, left {} more bytes allocated than before \
         (at most {} allowed): an ack keeps nothing per acked entry (no growing set of acked ids, \
         no pending record marked \"acked\" and kept)",
        LARGE - 10,
        usage.live_bytes,
        4 * SLACK
    );
}
