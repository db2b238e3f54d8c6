//! The memory bound of the singleflight kata, by counting: once its loads
//! are done, a `SingleFlight` keeps nothing of them, however many keys it
//! has seen. A counting global allocator needs a test binary of its own,
//! hence this file.
//!
//! `cargo test -p singleflight` judges your code;
//! `cargo test -p singleflight --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use singleflight as subject;
#[cfg(feature = "solution")]
use singleflight_solution as subject;

use spec_probes::alloc::{Counting, installed, measure};
use subject::SingleFlight;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn memory_is_the_flights_in_progress_however_many_keys_were_loaded() {
    assert!(installed(), "the counting allocator should be installed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let flights = SingleFlight::<String, String, String>::new();
    let load_keys = |keys: std::ops::Range<u32>| {
        runtime.block_on(async {
            for i in keys {
                let key = format!("user:{i}");
                let value = flights
                    .get(key.clone(), || async move { Ok(format!("{key} v1")) })
                    .await;
                assert_eq!(
                    value,
                    Ok(format!("user:{i} v1")),
                    "a lone call gets its value"
                );
            }
        });
    };
    // The first loads may size what the structure keeps for the flights in
    // progress (one at a time here).
    load_keys(0..100);
    let (usage, ()) = measure(|| load_keys(100..2_100));
    assert_eq!(flights.in_flight(), 0, "every load is done");
    assert!(
        usage.live_bytes <= 1024,
        "memory is the flights in progress: after 2,000 more loads of 2,000 new keys, one at a \
         time, all done, the singleflight kept {} more bytes alive ({usage:?}): a finished \
         flight should leave nothing behind (no entry, no key, no value)",
        usage.live_bytes
    );
}
