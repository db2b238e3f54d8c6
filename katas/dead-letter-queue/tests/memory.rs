//! The memory bound of the dead-letter-queue kata, by counting: an
//! acknowledged item leaves nothing behind. A counting global allocator needs
//! a test binary of its own, hence this file.
//!
//! `cargo test -p dead-letter-queue` judges your code;
//! `cargo test -p dead-letter-queue --features solution` judges the reference.

#[cfg(not(feature = "solution"))]
use dead_letter_queue as subject;
#[cfg(feature = "solution")]
use dead_letter_queue_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Acks, Config, Consumer, Delivery, Failure};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Submits `count` items in waves of 100 and waits for each wave's acks.
async fn process(consumer: &Consumer<u64>, acks: &mut Acks, count: u64) {
    for wave in 0..count / 100 {
        for i in 0..100 {
            let payload = wave * 100 + i;
            if consumer.submit(payload).is_err() {
                panic!("a running consumer should accept item {payload}");
            }
        }
        for _ in 0..100 {
            let ack = tokio::time::timeout(Duration::from_secs(3_600), acks.recv()).await;
            assert!(
                matches!(ack, Ok(Some(_))),
                "every submitted item (wave {wave}) is acknowledged within the hour"
            );
        }
    }
}

#[test]
fn acknowledged_items_leave_nothing_behind() {
    assert!(installed(), "the counting allocator should be installed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let config = Config {
        max_items: 10,
        linger: Duration::from_millis(5),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    };
    // One item in 7 fails its first attempt: retries are part of the traffic.
    let (consumer, mut acks) = runtime.block_on(async {
        Consumer::spawn(config, |batch: Vec<Delivery<u64>>| async move {
            batch
                .iter()
                .filter(|d| d.payload % 7 == 0 && d.attempt == 1)
                .map(|d| Failure::new(d.id, "transient"))
                .collect()
        })
        .expect("a valid config")
    });
    runtime.block_on(process(&consumer, &mut acks, 1_000));
    let (usage, ()) = measure(|| runtime.block_on(process(&consumer, &mut acks, 10_000)));
    assert!(
        usage.live_bytes <= 16 * 1024,
        "after 10,000 more items were processed and acknowledged, the consumer \
         holds {} more bytes than after the first 1,000 (at most 16 KiB): an \
         acknowledged item must leave nothing behind",
        usage.live_bytes
    );
    runtime.block_on(consumer.shutdown());
}
