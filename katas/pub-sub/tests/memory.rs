//! The memory bounds of the pub-sub kata, by counting: a subscriber that
//! never reads holds at most its capacity, unsubscribing keeps nothing, and
//! capacity is a limit, not a reservation. A counting global allocator needs
//! a test binary of its own, hence this file.
//!
//! `cargo test -p pub-sub` judges your code;
//! `cargo test -p pub-sub --features solution` judges the reference.
//!
//! Everything runs on the test's own thread (the allocator counts per
//! thread), polling `publish` once: it never waits.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use pub_sub as subject;
#[cfg(feature = "solution")]
use pub_sub_solution as subject;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Broker, Overflow, PubSubError, RecvError};

#[global_allocator]
static ALLOC: Counting = Counting;

const KIB: i64 = 1024;

fn publish<T: Clone + Send + 'static>(broker: &Broker<T>, topic: &str, payload: T) -> usize {
    let mut future = pin!(broker.publish(topic, payload));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => panic!("publish({topic:?}) of a valid topic failed: {e:?}"),
        Poll::Pending => panic!("publish({topic:?}) waited: a publisher never waits"),
    }
}

#[test]
fn a_subscriber_that_never_reads_holds_at_most_capacity_messages() {
    assert!(installed(), "the counting allocator should be installed");
    for overflow in [Overflow::DropOldest, Overflow::Disconnect] {
        let broker = Broker::<Vec<u8>>::new();
        let mut sub = broker
            .subscribe("metrics.#", 16, overflow)
            .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
        let publish_kib = |count: usize| {
            for i in 0..count {
                publish(&broker, "metrics.cpu", vec![(i % 251) as u8; 1024]);
            }
        };
        let (first, ()) = measure(|| publish_kib(100));
        assert!(
            first.live_bytes >= 16 * KIB,
            "{overflow:?}: a buffer of 16 1 KiB messages keeps at least 16 KiB ({first:?})"
        );
        let (more, ()) = measure(|| publish_kib(9_900));
        assert!(
            more.live_bytes <= KIB,
            "{overflow:?}: a subscriber of capacity 16 that never reads should hold 16 messages, \
             however many are published: 9,900 more publishes of 1 KiB kept {} more bytes \
             ({more:?})",
            more.live_bytes
        );
        let mut held = 0;
        loop {
            match sub.try_recv() {
                Ok(Some(_)) => held += 1,
                Err(RecvError::Lagged(_)) => {}
                _ => break,
            }
        }
        assert_eq!(held, 16, "{overflow:?}: it held 16 messages");
    }
}

#[test]
fn unsubscribing_keeps_no_memory() {
    assert!(installed(), "the counting allocator should be installed");
    let broker = Broker::<u64>::new();
    let _other = broker
        .subscribe("audit.#", 4, Overflow::DropOldest)
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    let rounds = |range: std::ops::Range<u64>| {
        for i in range {
            // A new pattern each round; half drop after reading nothing,
            // half overflow into a disconnect first.
            let (pattern, topic) = (format!("orders.{i}.#"), format!("orders.{i}.paid"));
            let overflow = if i % 2 == 0 {
                Overflow::DropOldest
            } else {
                Overflow::Disconnect
            };
            let sub = broker
                .subscribe(&pattern, 2, overflow)
                .unwrap_or_else(|e| panic!("subscribe({pattern:?}): {e:?}"));
            for n in 0..3 {
                publish(&broker, &topic, i * 3 + n);
            }
            assert_eq!(broker.subscriber_count(), 1 + usize::from(i % 2 == 0));
            drop(sub);
            assert_eq!(broker.subscriber_count(), 1, "dropped: unsubscribed");
            // After the drop: nothing delivered to it, nor kept for it.
            assert_eq!(
                publish(&broker, &topic, 0),
                0,
                "a dropped subscription gets nothing"
            );
        }
    };
    rounds(0..100);
    let (usage, ()) = measure(|| rounds(100..10_100));
    assert!(
        usage.live_bytes <= 4 * KIB,
        "10,000 more subscriptions made, filled and dropped (one at a time) kept {} more bytes \
         ({usage:?}): the broker should keep nothing of a dropped or disconnected subscription \
         (no entry, no buffer, no pattern)",
        usage.live_bytes
    );
}

#[test]
fn capacity_is_a_limit_not_a_reservation() {
    assert!(installed(), "the counting allocator should be installed");
    // A payload of 256 bytes, so that any slot reserved up front shows.
    let subscribe_on_a_new_broker = |capacity: usize, overflow: Overflow| {
        let broker = Broker::<[u8; 256]>::new();
        let (usage, sub) = measure(|| broker.subscribe("huge.#", capacity, overflow));
        assert!(
            sub.is_ok(),
            "capacity {capacity} ({overflow:?}) is allowed: {:?}",
            sub.err()
        );
        usage.live_bytes
    };
    for overflow in [Overflow::DropOldest, Overflow::Disconnect] {
        let one = subscribe_on_a_new_broker(1, overflow);
        for capacity in [1_000, 1_000_000, usize::MAX] {
            let kept = subscribe_on_a_new_broker(capacity, overflow);
            assert!(
                kept <= one,
                "subscribing with capacity {capacity} ({overflow:?}) kept {kept} bytes, with \
                 capacity 1 {one}: capacity is a limit, not a reservation (nothing up front)"
            );
        }
    }
    let broker = Broker::<u64>::new();
    let holding_ten = |name: &str, capacity: usize| {
        measure(|| {
            let sub = broker.subscribe(&format!("{name}.#"), capacity, Overflow::DropOldest);
            for i in 0..10 {
                publish(&broker, &format!("{name}.x"), i);
            }
            sub
        })
    };
    let (small, small_sub) = holding_ten("small", 16);
    let (large, large_sub) = holding_ten("large", 1_000_000);
    assert!(small_sub.is_ok() && large_sub.is_ok(), "both subscribe");
    assert!(
        large.live_bytes <= small.live_bytes + KIB,
        "a subscription of capacity 1,000,000 holding 10 messages keeps {} bytes, one of capacity \
         16 holding the same 10 keeps {}: capacity is a limit, not a reservation",
        large.live_bytes,
        small.live_bytes
    );
    drop((small_sub, large_sub));
    assert_eq!(
        broker.subscribe("x", 0, Overflow::Disconnect).err(),
        Some(PubSubError::ZeroCapacity)
    );
}

#[test]
fn publishing_to_ever_new_topics_keeps_no_memory() {
    assert!(installed(), "the counting allocator should be installed");
    let broker = Broker::<u64>::new();
    let mut reader = broker
        .subscribe("orders.*.paid", 4, Overflow::DropOldest)
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    let _all = broker
        .subscribe("orders.#", 4, Overflow::DropOldest)
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    let _exact = broker
        .subscribe("orders.7.paid", 4, Overflow::DropOldest)
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    let mut traffic = |range: std::ops::Range<u64>| {
        for i in range {
            // One order after another: every topic is new, and the
            // subscriptions stay the same.
            publish(&broker, &format!("orders.{i}.paid"), i);
            publish(&broker, &format!("shop.{i}.visited"), i);
            while let Ok(Some(_)) | Err(RecvError::Lagged(_)) = reader.try_recv() {}
        }
    };
    traffic(10_000..10_100);
    let (usage, ()) = measure(|| traffic(10_100..20_000));
    assert!(
        usage.live_bytes <= KIB,
        "publishing to 19,800 more topics never seen before (to the same 3 subscriptions) kept {} \
         more bytes ({usage:?}): memory follows the subscriptions and their buffers, not the \
         topics published (a cache of routes per topic must not grow with the traffic)",
        usage.live_bytes
    );
}
