//! The memory bound of the skip-list kata, measured with a counting
//! allocator (it has to be this file's global allocator, so it has a file of
//! its own).
//!
//! `cargo test -p skip-list` judges your code;
//! `cargo test -p skip-list --features solution` judges the reference.

#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use skip_list as subject;
#[cfg(feature = "solution")]
use skip_list_solution as subject;

use spec_probes::alloc::{Counting, installed, measure};
use subject::SkipList;

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most bytes a list of 8-byte keys and 8-byte values may hold per
/// entry: the entry (16), its share of the links at p = 1/4 (1.33 links of
/// a pointer and a span, about 21), and room for any node layout, an
/// arena's spare capacity included. A node that reserves all 32 levels'
/// links holds 512 bytes of links alone.
const BYTES_PER_ENTRY: i64 = 256;

#[test]
fn ten_thousand_entries_take_less_than_256_bytes_each() {
    assert!(installed(), "the counting allocator should be installed");
    const N: u64 = 10_000;
    let (usage, list) = measure(|| {
        let mut list = SkipList::new(3);
        for i in 0..N {
            // A fixed shuffle of 0..N: 7 919 is prime, so coprime to N.
            list.insert((i * 7_919) % N, i);
        }
        list
    });
    assert_eq!(list.len(), N as usize, "{N} distinct keys were inserted");
    let per_entry = usage.live_bytes / N as i64;
    assert!(
        per_entry < BYTES_PER_ENTRY,
        "a list of {N} entries with 8-byte keys and values holds {} bytes, {per_entry} per entry; \
         at most {BYTES_PER_ENTRY} are allowed: a node holds the links of its own levels only \
         (1.33 on average at p = 1/4), not room for all 32",
        usage.live_bytes
    );
}

#[test]
fn removing_entries_gives_their_memory_back_to_the_list() {
    // A sorted set that re-scores its members removes and re-inserts them
    // all day: a list that never reuses the room of removed nodes grows
    // with every update, not with its entries.
    assert!(installed(), "the counting allocator should be installed");
    const N: u64 = 10_000;
    const UPDATES: u64 = 10 * N;
    let (usage, list) = measure(|| {
        let mut list = SkipList::new(3);
        for i in 0..N {
            list.insert((i * 7_919) % N, i);
        }
        for update in 0..UPDATES {
            let key = (update * 7_919) % N;
            let value = list.remove(&key).expect("every key 0..N is in the list");
            list.insert(key, value + 1);
        }
        list
    });
    assert_eq!(
        list.len(),
        N as usize,
        "{UPDATES} updates kept the {N} keys"
    );
    let per_entry = usage.live_bytes / N as i64;
    assert!(
        per_entry < BYTES_PER_ENTRY,
        "a list of {N} entries, each removed and inserted again 10 times, holds {} bytes, \
         {per_entry} per entry; at most {BYTES_PER_ENTRY} are allowed: the room of a removed \
         node is freed or reused, not kept beside the live ones",
        usage.live_bytes
    );
}
