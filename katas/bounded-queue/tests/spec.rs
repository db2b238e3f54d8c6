//! The specification of the bounded-queue kata.
//!
//! Every test name is a requirement; read the failing names first.
//!
//! Nothing here can hang: every call that may block runs on a thread of its
//! own and the spec waits for its answer with a timeout (`within` below), so
//! a lost wake-up fails the spec in two seconds instead of freezing it. The
//! only sleeps give a thread a moment to start waiting before the spec checks
//! that it is still waiting; no result is ever waited for by sleeping.
//!
//! `cargo test -p bounded-queue` judges your code;
//! `cargo test -p bounded-queue --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use bounded_queue as subject;
#[cfg(feature = "solution")]
use bounded_queue_solution as subject;

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use spec_probes::markers::{Neither, Probe, Sync_};
use subject::{BoundedQueue, PopError, PushError};

// ───────────────────────────── helpers ─────────────────────────────

/// How long the spec waits for a call that should return (at once, or
/// because another thread just made it possible). Far longer than any
/// correct queue needs, far shorter than the CLI's deadline.
const WAIT: Duration = Duration::from_secs(2);

/// How long a thread is given to start waiting before the spec checks that
/// it is still waiting. Too short only makes a check weaker, never wrong.
const SETTLE: Duration = Duration::from_millis(50);

/// The timeout given to `push_timeout`/`pop_timeout` calls that should run
/// out.
const SHORT: Duration = Duration::from_millis(60);

/// The timeout given to `push_timeout`/`pop_timeout` calls that should be
/// answered long before it runs out.
const LONG: Duration = Duration::from_secs(60);

type Queue<T> = Arc<BoundedQueue<T>>;

fn queue<T>(capacity: usize) -> Queue<T> {
    Arc::new(BoundedQueue::new(capacity))
}

/// A queue of `capacity` holding `0..capacity`.
fn full(capacity: usize) -> Queue<usize> {
    let queue = queue(capacity);
    for item in 0..capacity {
        assert_eq!(
            queue.try_push(item),
            Ok(()),
            "try_push of item {item} into a queue of capacity {capacity} holding {item} items \
             should succeed"
        );
    }
    queue
}

/// Runs `call` on a thread of its own: a call that may block.
fn spawn<R: Send + 'static>(call: impl FnOnce() -> R + Send + 'static) -> Receiver<R> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // The spec may have failed and gone: nobody to tell.
        let _ = tx.send(call());
    });
    rx
}

/// The answer of a call started with `spawn`, which must come within `WAIT`.
/// `what` says what the call was and why it should return now.
fn answer<R>(rx: &Receiver<R>, what: &str) -> R {
    match rx.recv_timeout(WAIT) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: it should have returned, but it was still blocked after {WAIT:?}")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the call panicked"),
    }
}

/// Runs a call that may block, and returns its answer, which must come
/// within `WAIT`.
fn within<R: Send + 'static>(what: &str, call: impl FnOnce() -> R + Send + 'static) -> R {
    answer(&spawn(call), what)
}

/// Gives a spawned call a moment to start waiting, then checks that it is
/// still waiting.
fn assert_still_waiting<R>(rx: &Receiver<R>, what: &str) {
    // A sleep only to let the thread reach its wait, never to wait for a
    // result.
    thread::sleep(SETTLE);
    match rx.try_recv() {
        Err(TryRecvError::Empty) => {}
        Ok(_) => panic!("{what} should still be waiting, but it returned"),
        Err(TryRecvError::Disconnected) => panic!("{what}: the call panicked"),
    }
}

// ─────────────────── The single-threaded contract ───────────────────

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_three(3)]
#[case::capacity_a_thousand(1000)]
fn a_new_queue_is_empty_open_and_has_the_capacity_it_was_given(#[case] capacity: usize) {
    let queue = BoundedQueue::<u32>::new(capacity);
    assert_eq!(
        queue.capacity(),
        capacity,
        "BoundedQueue::new({capacity}) should report a capacity of {capacity}"
    );
    assert_eq!(queue.len(), 0, "a new queue should hold no item");
    assert!(queue.is_empty(), "a new queue should be empty");
    assert!(!queue.is_closed(), "a new queue should be open");
    assert_eq!(
        queue.try_pop(),
        Err(PopError::Empty),
        "try_pop on a new queue should report Empty (it is open, just empty)"
    );
}

#[test]
fn refuses_a_capacity_of_zero() {
    // A queue that can hold nothing would block every push for ever. (Not
    // `#[should_panic]`: `todo!()` panics too, and must not pass.)
    let panic = match std::panic::catch_unwind(|| BoundedQueue::<u32>::new(0)) {
        Ok(_) => panic!("BoundedQueue::new(0) should panic: a queue of capacity 0 is refused"),
        Err(panic) => panic,
    };
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default();
    assert!(
        message.contains("capacity"),
        "BoundedQueue::new(0) should panic with a message about the capacity (\"capacity must \
         be at least 1\"), but it panicked with {message:?}"
    );
}

#[test]
fn pops_items_in_the_order_they_were_pushed() {
    let queue = queue(5);
    let pushes = [
        queue.try_push(1),
        queue.push_timeout(2, LONG),
        queue.try_push(3),
        queue.push_timeout(4, Duration::ZERO),
        queue.try_push(5),
    ];
    assert_eq!(
        pushes,
        [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        "five pushes (try_push, push_timeout) into an empty queue of capacity 5 should all \
         succeed at once"
    );
    assert_eq!(queue.len(), 5, "the queue should hold the 5 items pushed");
    let (q1, q2) = (Arc::clone(&queue), Arc::clone(&queue));
    let popped = [
        within("pop on a queue holding 5 items", move || q1.pop()),
        queue.try_pop().ok(),
        queue.pop_timeout(Duration::ZERO).ok(),
        queue.pop_timeout(LONG).ok(),
        within("pop on a queue holding 1 item", move || q2.pop()),
    ];
    assert_eq!(
        popped,
        [Some(1), Some(2), Some(3), Some(4), Some(5)],
        "items pushed 1, 2, 3, 4, 5 should be popped first in, first out"
    );
    assert!(
        queue.is_empty(),
        "the queue should be empty after 5 pushes and 5 pops"
    );
}

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_two(2)]
#[case::capacity_three(3)]
#[case::capacity_eight(8)]
fn holds_exactly_capacity_items_then_try_push_hands_the_item_back(#[case] capacity: usize) {
    let queue = full(capacity);
    assert_eq!(
        queue.len(),
        capacity,
        "a queue of capacity {capacity} should hold {capacity} items after {capacity} pushes"
    );
    assert_eq!(
        queue.try_push(99),
        Err(PushError::Full(99)),
        "try_push into a full queue of capacity {capacity} should hand the item back as Full"
    );
    assert_eq!(
        queue.push_timeout(98, Duration::ZERO),
        Err(PushError::Full(98)),
        "push_timeout with a zero timeout into a full queue of capacity {capacity} should hand \
         the item back as Full"
    );
    assert_eq!(
        queue.len(),
        capacity,
        "a refused push must not change the queue: it should still hold {capacity} items"
    );
    let drained: Vec<_> = std::iter::from_fn(|| queue.try_pop().ok()).collect();
    assert_eq!(
        drained,
        (0..capacity).collect::<Vec<_>>(),
        "a full queue of capacity {capacity} should give back exactly the items pushed, in \
         order, and none of the refused ones"
    );
}

#[test]
fn try_pop_and_pop_timeout_on_an_empty_open_queue_report_empty() {
    let queue = queue::<u32>(2);
    assert_eq!(
        queue.try_pop(),
        Err(PopError::Empty),
        "try_pop on an empty, open queue should report Empty"
    );
    assert_eq!(
        queue.pop_timeout(Duration::ZERO),
        Err(PopError::Empty),
        "pop_timeout with a zero timeout on an empty, open queue should report Empty"
    );
    queue.try_push(7).expect("a push into an empty queue of 2");
    assert_eq!(
        queue.try_pop(),
        Ok(7),
        "try_pop should return the item pushed"
    );
    assert_eq!(
        queue.try_pop(),
        Err(PopError::Empty),
        "try_pop on a queue emptied again should report Empty"
    );
}

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_three(3)]
#[case::capacity_four(4)]
fn each_pop_frees_exactly_one_slot_and_order_survives_wrapping_around(#[case] capacity: usize) {
    let queue = full(capacity);
    for round in 0..3 * capacity + 2 {
        // Items 0..capacity + round have been pushed and 0..round popped.
        let (expected, next_pushed) = (round, capacity + round);
        assert_eq!(
            queue.try_pop(),
            Ok(expected),
            "round {round}: a full queue of capacity {capacity} should pop its oldest item, \
             {expected} (items go in and out many times, first in, first out)"
        );
        assert_eq!(
            queue.try_push(next_pushed),
            Ok(()),
            "round {round}: one pop from a full queue of capacity {capacity} frees one slot: \
             the next try_push should succeed"
        );
        assert_eq!(
            queue.try_push(1000),
            Err(PushError::Full(1000)),
            "round {round}: one pop frees exactly one slot: after refilling it, a queue of \
             capacity {capacity} is full again"
        );
    }
}

#[test]
fn a_closed_queue_refuses_every_push_and_hands_the_item_back() {
    let queue = queue(3);
    queue
        .try_push(String::from("queued"))
        .expect("a push into an empty queue of 3");
    queue.close();
    assert!(queue.is_closed(), "is_closed should be true after close");
    assert_eq!(
        queue.try_push(String::from("try")),
        Err(PushError::Closed(String::from("try"))),
        "try_push into a closed queue should hand the item back as Closed"
    );
    assert_eq!(
        queue.push_timeout(String::from("timeout"), LONG),
        Err(PushError::Closed(String::from("timeout"))),
        "push_timeout into a closed queue should hand the item back as Closed, at once"
    );
    let q = Arc::clone(&queue);
    assert_eq!(
        within("push into a closed queue with free slots", move || q
            .push(String::from("push"))),
        Err(PushError::Closed(String::from("push"))),
        "push into a closed queue should hand the item back as Closed, without waiting"
    );
    assert_eq!(
        queue.len(),
        1,
        "refused pushes must not change a closed queue: it should still hold its 1 item"
    );
}

#[test]
fn a_closed_full_queue_reports_closed_not_full_and_does_not_block_a_push() {
    let queue = full(2);
    queue.close();
    assert_eq!(
        queue.try_push(10),
        Err(PushError::Closed(10)),
        "try_push into a queue that is both full and closed should report Closed: no push \
         will ever succeed again, so Full would invite a pointless retry"
    );
    assert_eq!(
        queue.push_timeout(11, Duration::from_millis(1)),
        Err(PushError::Closed(11)),
        "push_timeout into a queue that is both full and closed should report Closed"
    );
    let q = Arc::clone(&queue);
    assert_eq!(
        within("push into a full, closed queue", move || q.push(12)),
        Err(PushError::Closed(12)),
        "push into a full, closed queue should hand the item back as Closed at once, not wait \
         for a slot"
    );
}

#[test]
fn pops_drain_the_items_queued_before_close_then_report_closed() {
    let queue = queue(4);
    for item in [1, 2, 3, 4] {
        queue
            .try_push(item)
            .expect("a push into a queue of 4 with room");
    }
    queue.close();
    assert_eq!(
        queue.len(),
        4,
        "closing a queue must not drop its items: it should still hold 4"
    );
    let q = Arc::clone(&queue);
    assert_eq!(
        within("pop on a closed queue holding 4 items", move || q.pop()),
        Some(1),
        "pop on a closed queue still holding items should return the oldest, 1"
    );
    assert_eq!(
        queue.try_pop(),
        Ok(2),
        "try_pop on a closed queue still holding items should return the oldest, 2"
    );
    assert_eq!(
        queue.pop_timeout(LONG),
        Ok(3),
        "pop_timeout on a closed queue still holding items should return the oldest, 3"
    );
    assert_eq!(
        queue.pop_timeout(Duration::ZERO),
        Ok(4),
        "pop_timeout (zero timeout) on a closed queue still holding items should return the \
         oldest, 4"
    );
    let q = Arc::clone(&queue);
    assert_eq!(
        within("pop on a closed, drained queue", move || q.pop()),
        None,
        "pop on a closed queue with nothing left should return None at once"
    );
    assert_eq!(
        queue.try_pop(),
        Err(PopError::Closed),
        "try_pop on a closed queue with nothing left should report Closed, not Empty: no item \
         will ever come"
    );
    assert_eq!(
        queue.pop_timeout(LONG),
        Err(PopError::Closed),
        "pop_timeout on a closed queue with nothing left should report Closed at once"
    );
}

#[test]
fn closing_twice_is_the_same_as_closing_once() {
    let queue = queue(2);
    queue.try_push(1).expect("a push into an empty queue of 2");
    queue.close();
    queue.close();
    assert!(queue.is_closed(), "a queue closed twice should be closed");
    assert_eq!(
        queue.try_pop(),
        Ok(1),
        "a queue closed twice should still give back the item queued before"
    );
    assert_eq!(
        queue.try_pop(),
        Err(PopError::Closed),
        "a queue closed twice and drained should report Closed"
    );
}

#[test]
fn is_shared_by_reference_across_threads() {
    fn shareable<Q: Send + Sync>(_: &Q) {}
    let queue = BoundedQueue::new(40);
    shareable(&queue);
    thread::scope(|scope| {
        for producer in 0..4u32 {
            let queue = &queue;
            scope.spawn(move || {
                for i in 0..10 {
                    queue
                        .try_push(producer * 100 + i)
                        .expect("a push into a queue of 40 that never holds more than 40");
                }
            });
        }
    });
    assert_eq!(
        queue.len(),
        40,
        "4 threads each pushing 10 items through &queue should leave 40 items"
    );
    let mut popped: Vec<u32> = std::iter::from_fn(|| queue.try_pop().ok()).collect();
    popped.sort_unstable();
    let mut pushed: Vec<u32> = (0..4)
        .flat_map(|producer| (0..10).map(move |i| producer * 100 + i))
        .collect();
    pushed.sort_unstable();
    assert_eq!(
        popped, pushed,
        "the 40 items popped should be exactly the 40 pushed by 4 threads"
    );
}

#[test]
// The probe asks through `&&`: clippy sees only the case it resolves to.
#[allow(clippy::needless_borrow)]
fn is_sync_only_when_its_items_may_cross_threads() {
    // An `Rc` is not `Send`: two threads popping clones of one `Rc` from a
    // shared queue would race on its count. A queue built on `UnsafeCell`
    // slots with `unsafe impl<T> Sync` and no `T: Send` bound allows it.
    let items_not_send = BoundedQueue::<std::rc::Rc<u32>>::new(1);
    assert!(
        !(&&Probe(&items_not_send)).is_sync(),
        "a BoundedQueue<Rc<u32>> should not be Sync: sharing it would hand an Rc to \
         another thread (bound `unsafe impl Sync` by `T: Send`)"
    );
    let items_send = BoundedQueue::<u32>::new(1);
    assert!(
        (&&Probe(&items_send)).is_sync(),
        "a BoundedQueue<u32> should be Sync"
    );
}

#[test]
fn dropping_the_queue_drops_every_item_still_in_it() {
    // Each queued item holds a clone of `alive`: once the queue is gone,
    // only the spec's own should remain.
    let alive = Arc::new(());
    let queue = BoundedQueue::new(4);
    for _ in 0..3 {
        queue.try_push(Arc::clone(&alive)).expect("room for 3 of 4");
    }
    drop(queue.try_pop().expect("3 items queued"));
    drop(queue);
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "dropping a queue that still holds 2 items should drop both (a ring of \
         MaybeUninit slots needs a Drop of its own)"
    );
}

// ─────────────────────────── Timeouts ───────────────────────────

#[test]
fn push_timeout_gives_the_item_back_once_the_timeout_runs_out_on_a_full_queue() {
    let queue = full(1);
    let q = Arc::clone(&queue);
    let (result, waited) = within("push_timeout(60ms) into a full queue", move || {
        let start = Instant::now();
        let result = q.push_timeout(100, SHORT);
        (result, start.elapsed())
    });
    assert_eq!(
        result,
        Err(PushError::Full(100)),
        "push_timeout into a queue that stays full should hand the item back as Full"
    );
    assert!(
        waited >= SHORT,
        "push_timeout({SHORT:?}) into a full queue should wait the whole timeout for a slot \
         before giving up, but it gave up after {waited:?}"
    );
    assert_eq!(queue.len(), 1, "a timed-out push must not change the queue");
}

#[test]
fn pop_timeout_reports_empty_once_the_timeout_runs_out_on_an_empty_queue() {
    let queue = queue::<u32>(1);
    let q = Arc::clone(&queue);
    let (result, waited) = within("pop_timeout(60ms) on an empty queue", move || {
        let start = Instant::now();
        let result = q.pop_timeout(SHORT);
        (result, start.elapsed())
    });
    assert_eq!(
        result,
        Err(PopError::Empty),
        "pop_timeout on a queue that stays empty should report Empty"
    );
    assert!(
        waited >= SHORT,
        "pop_timeout({SHORT:?}) on an empty queue should wait the whole timeout for an item \
         before giving up, but it gave up after {waited:?}"
    );
}

#[test]
fn pop_timeout_returns_an_item_pushed_while_it_waits() {
    let queue = queue(1);
    let q = Arc::clone(&queue);
    let popped = spawn(move || q.pop_timeout(LONG));
    assert_still_waiting(&popped, "pop_timeout(60s) on an empty queue");
    queue.try_push(5).expect("a push into an empty queue of 1");
    assert_eq!(
        answer(
            &popped,
            "pop_timeout(60s) on an empty queue, then an item is pushed"
        ),
        Ok(5),
        "a consumer waiting in pop_timeout should be woken by the push and return its item, \
         long before its timeout"
    );
}

#[test]
fn push_timeout_succeeds_when_a_slot_frees_while_it_waits() {
    let queue = full(1);
    let q = Arc::clone(&queue);
    let pushed = spawn(move || q.push_timeout(1, LONG));
    assert_still_waiting(&pushed, "push_timeout(60s) into a full queue");
    assert_eq!(queue.try_pop(), Ok(0), "the full queue's one item");
    assert_eq!(
        answer(
            &pushed,
            "push_timeout(60s) into a full queue, then an item is popped"
        ),
        Ok(()),
        "a producer waiting in push_timeout should be woken by the pop and push its item, long \
         before its timeout"
    );
    assert_eq!(
        queue.try_pop(),
        Ok(1),
        "the item pushed by the woken producer"
    );
}

// ─────────────────────────── Blocking ───────────────────────────

#[test]
fn pop_waits_on_an_empty_queue_until_an_item_is_pushed() {
    let queue = queue(2);
    let q = Arc::clone(&queue);
    let popped = spawn(move || q.pop());
    assert_still_waiting(&popped, "pop on an empty queue");
    queue.try_push(42).expect("a push into an empty queue of 2");
    assert_eq!(
        answer(&popped, "pop on an empty queue, then 42 is pushed"),
        Some(42),
        "a consumer waiting in pop should be woken by the push and return the item"
    );
}

#[test]
fn push_waits_on_a_full_queue_until_an_item_is_popped() {
    let queue = full(2);
    let q = Arc::clone(&queue);
    let pushed = spawn(move || q.push(2));
    assert_still_waiting(&pushed, "push into a full queue");
    assert_eq!(queue.len(), 2, "a waiting push must not add its item yet");
    assert_eq!(queue.try_pop(), Ok(0), "the full queue's oldest item");
    assert_eq!(
        answer(&pushed, "push into a full queue, then an item is popped"),
        Ok(()),
        "a producer waiting in push should be woken by the pop and push its item"
    );
    let rest: Vec<_> = std::iter::from_fn(|| queue.try_pop().ok()).collect();
    assert_eq!(
        rest,
        [1, 2],
        "the woken producer's item should join the back of the queue"
    );
}

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_two(2)]
#[case::capacity_five(5)]
fn push_does_not_wait_while_there_is_room(#[case] capacity: usize) {
    let queue = queue(capacity);
    let q = Arc::clone(&queue);
    let pushed = within(
        &format!("{capacity} pushes into an empty queue of capacity {capacity}"),
        move || (0..capacity).map(|item| q.push(item)).collect::<Vec<_>>(),
    );
    assert!(
        pushed.iter().all(Result::is_ok),
        "every push while there is room should succeed: {pushed:?}"
    );
    assert_eq!(
        queue.len(),
        capacity,
        "{capacity} pushes should fill a queue of capacity {capacity}"
    );
}

#[test]
fn close_wakes_every_consumer_waiting_on_an_empty_queue() {
    let queue = queue::<u32>(2);
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = Arc::clone(&queue);
            spawn(move || q.pop())
        })
        .collect();
    for consumer in &consumers {
        assert_still_waiting(consumer, "pop on an empty queue");
    }
    queue.close();
    for (i, consumer) in consumers.iter().enumerate() {
        assert_eq!(
            answer(
                consumer,
                &format!("consumer {i} of 3 waiting in pop, then the queue is closed")
            ),
            None,
            "close should wake every consumer waiting on an empty queue (not just one), and \
             pop should return None"
        );
    }
}

#[test]
fn close_wakes_every_producer_waiting_on_a_full_queue() {
    let queue = full(2);
    let producers: Vec<_> = (10..13)
        .map(|item| {
            let q = Arc::clone(&queue);
            (item, spawn(move || q.push(item)))
        })
        .collect();
    for (_, producer) in &producers {
        assert_still_waiting(producer, "push into a full queue");
    }
    queue.close();
    for (item, producer) in &producers {
        assert_eq!(
            answer(
                producer,
                &format!("a producer of {item} waiting in push, then the queue is closed")
            ),
            Err(PushError::Closed(*item)),
            "close should wake every producer waiting on a full queue (not just one), and \
             each push should hand its own item back as Closed"
        );
    }
    let rest: Vec<_> = std::iter::from_fn(|| queue.try_pop().ok()).collect();
    assert_eq!(
        rest,
        [0, 1],
        "the items queued before close should still be there, and none of the refused ones"
    );
}

#[test]
fn followup_close_wakes_waiters_of_the_timeout_variants() {
    let empty = queue::<u32>(1);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&empty);
            spawn(move || q.pop_timeout(LONG))
        })
        .collect();
    let full = full(1);
    let producers: Vec<_> = (5..7)
        .map(|item| {
            let q = Arc::clone(&full);
            (item, spawn(move || q.push_timeout(item, LONG)))
        })
        .collect();
    for consumer in &consumers {
        assert_still_waiting(consumer, "pop_timeout(60s) on an empty queue");
    }
    for (_, producer) in &producers {
        assert_still_waiting(producer, "push_timeout(60s) into a full queue");
    }
    empty.close();
    full.close();
    for consumer in &consumers {
        assert_eq!(
            answer(
                consumer,
                "pop_timeout(60s) on an empty queue, then it is closed"
            ),
            Err(PopError::Closed),
            "close should wake every consumer waiting in pop_timeout, which should report \
             Closed at once rather than wait out its timeout"
        );
    }
    for (item, producer) in &producers {
        assert_eq!(
            answer(
                producer,
                "push_timeout(60s) into a full queue, then it is closed"
            ),
            Err(PushError::Closed(*item)),
            "close should wake every producer waiting in push_timeout, which should hand its \
             item back as Closed at once"
        );
    }
}

#[test]
fn followup_a_timeout_too_large_to_represent_waits_like_the_blocking_call() {
    let queue = queue(1);
    let q = Arc::clone(&queue);
    let popped = spawn(move || q.pop_timeout(Duration::MAX));
    assert_still_waiting(&popped, "pop_timeout(Duration::MAX) on an empty queue");
    queue.try_push(3).expect("a push into an empty queue of 1");
    assert_eq!(
        answer(
            &popped,
            "pop_timeout(Duration::MAX), then an item is pushed"
        ),
        Ok(3),
        "pop_timeout(Duration::MAX) should wait like pop (now + Duration::MAX overflows an \
         Instant: no deadline, rather than a panic) and return the item pushed"
    );
    queue.try_push(4).expect("a push into an empty queue of 1");
    let q = Arc::clone(&queue);
    let pushed = spawn(move || q.push_timeout(5, Duration::MAX));
    assert_still_waiting(&pushed, "push_timeout(5, Duration::MAX) into a full queue");
    assert_eq!(queue.try_pop(), Ok(4), "the full queue's one item");
    assert_eq!(
        answer(
            &pushed,
            "push_timeout(5, Duration::MAX), then an item is popped"
        ),
        Ok(()),
        "push_timeout(Duration::MAX) should wait like push and succeed once a slot frees"
    );
}

#[test]
fn followup_every_waiter_is_woken_when_several_items_or_slots_arrive_at_once() {
    // Several rounds: each gives a queue that notifies only on the
    // empty-to-non-empty (or full-to-non-full) transition a chance to leave
    // the second waiter asleep.
    for round in 0..4 {
        let queue = queue::<u32>(2);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&queue);
                spawn(move || q.pop())
            })
            .collect();
        for consumer in &consumers {
            assert_still_waiting(consumer, "pop on an empty queue");
        }
        queue.try_push(1).expect("a push into an empty queue of 2");
        queue
            .try_push(2)
            .expect("a push into a queue of 2 holding at most 1");
        let mut popped: Vec<_> = consumers
            .iter()
            .map(|consumer| {
                answer(
                    consumer,
                    &format!(
                        "round {round}: 2 consumers waiting in pop, then 2 items are pushed \
                         back to back (every push must wake a consumer, not only the one \
                         into an empty queue)"
                    ),
                )
            })
            .collect();
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(1), Some(2)],
            "2 waiting consumers should get the 2 items pushed, one each"
        );

        let full = full(2);
        let producers: Vec<_> = (10..12)
            .map(|item| {
                let q = Arc::clone(&full);
                spawn(move || q.push(item))
            })
            .collect();
        for producer in &producers {
            assert_still_waiting(producer, "push into a full queue");
        }
        assert_eq!(full.try_pop(), Ok(0), "the full queue's oldest item");
        assert_eq!(full.try_pop(), Ok(1), "the full queue's next item");
        for producer in &producers {
            assert_eq!(
                answer(
                    producer,
                    &format!(
                        "round {round}: 2 producers waiting in push into a full queue of 2, \
                         then 2 items are popped back to back (every pop must wake a producer, \
                         not only the one from a full queue)"
                    ),
                ),
                Ok(()),
                "both waiting producers should get a slot"
            );
        }
    }
}

#[test]
fn followup_many_producers_and_consumers_deliver_every_item_exactly_once() {
    const PRODUCERS: u32 = 4;
    const CONSUMERS: usize = 4;
    const ITEMS: u32 = 2000;
    let queue = queue::<(u32, u32)>(3);
    let q = Arc::clone(&queue);
    let outcome = spawn(move || {
        let start = Arc::new(Barrier::new(PRODUCERS as usize + CONSUMERS));
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut got = Vec::new();
                    while let Some(item) = q.pop() {
                        got.push(item);
                    }
                    got
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for i in 0..ITEMS {
                        // Mix the three ways of pushing.
                        let pushed = match i % 3 {
                            0 => q.push((producer, i)),
                            1 => q.push_timeout((producer, i), LONG),
                            _ => {
                                let mut item = (producer, i);
                                loop {
                                    match q.try_push(item) {
                                        Err(PushError::Full(back)) => {
                                            item = back;
                                            thread::yield_now();
                                        }
                                        other => break other,
                                    }
                                }
                            }
                        };
                        pushed.expect("a push into an open queue should succeed");
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().expect("a producer panicked");
        }
        q.close();
        consumers
            .into_iter()
            .map(|consumer| consumer.join().expect("a consumer panicked"))
            .collect::<Vec<_>>()
    });
    let per_consumer = match outcome.recv_timeout(Duration::from_secs(6)) {
        Ok(per_consumer) => per_consumer,
        Err(RecvTimeoutError::Timeout) => panic!(
            "{PRODUCERS} producers pushing {ITEMS} items each through a queue of capacity 3 to \
             {CONSUMERS} consumers, then close: the run was still going after 6s (a lost \
             wake-up leaves a thread waiting for ever)"
        ),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("a producer or consumer panicked (or returned an error) during the run")
        }
    };
    for (c, got) in per_consumer.iter().enumerate() {
        for producer in 0..PRODUCERS {
            let mine: Vec<u32> = got
                .iter()
                .filter(|(p, _)| *p == producer)
                .map(|&(_, i)| i)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "consumer {c} should see each producer's items in the order they were pushed \
                 (first in, first out); producer {producer}'s came as {:?}...",
                &mine[..mine.len().min(20)]
            );
        }
    }
    let mut all: Vec<(u32, u32)> = per_consumer.into_iter().flatten().collect();
    let delivered = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        delivered,
        all.len(),
        "no item should be delivered twice: {} duplicates",
        delivered - all.len()
    );
    assert_eq!(
        all.len(),
        (PRODUCERS * ITEMS) as usize,
        "every item pushed should be delivered exactly once: {} of {} arrived",
        all.len(),
        PRODUCERS * ITEMS
    );
    assert!(
        queue.is_empty(),
        "the consumers should have drained the closed queue"
    );
}

// ──────────── Model-based: random operations against a VecDeque ────────────

#[derive(Debug, Clone)]
enum Op {
    TryPush(u16),
    TryPop,
    /// `push_timeout` with a zero timeout: succeeds exactly when try_push
    /// would.
    PushNow(u16),
    /// `pop_timeout` with a zero timeout.
    PopNow,
    Close,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => any::<u16>().prop_map(Op::TryPush),
        2 => any::<u16>().prop_map(Op::PushNow),
        5 => Just(Op::TryPop),
        2 => Just(Op::PopNow),
        1 => Just(Op::Close),
    ];
    vec(op, 1..80)
}

/// The obviously correct queue: a `VecDeque`, a capacity and a flag.
struct Model {
    capacity: usize,
    items: VecDeque<u16>,
    closed: bool,
}

impl Model {
    fn push(&mut self, item: u16) -> Result<(), PushError<u16>> {
        if self.closed {
            Err(PushError::Closed(item))
        } else if self.items.len() == self.capacity {
            Err(PushError::Full(item))
        } else {
            self.items.push_back(item);
            Ok(())
        }
    }

    fn pop(&mut self) -> Result<u16, PopError> {
        match self.items.pop_front() {
            Some(item) => Ok(item),
            None if self.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn agrees_with_a_vecdeque_model_under_random_operations(
        capacity in 1usize..=5,
        ops in ops(),
    ) {
        let queue = BoundedQueue::new(capacity);
        let mut model = Model { capacity, items: VecDeque::new(), closed: false };
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::TryPush(item) => prop_assert_eq!(
                    queue.try_push(item), model.push(item),
                    "step {}: try_push({}) into a queue of capacity {} holding {:?} (closed: {})",
                    step, item, capacity, model.items, model.closed
                ),
                Op::PushNow(item) => prop_assert_eq!(
                    queue.push_timeout(item, Duration::ZERO), model.push(item),
                    "step {}: push_timeout({}, 0) into a queue of capacity {} holding {:?} \
                     (closed: {})",
                    step, item, capacity, model.items, model.closed
                ),
                Op::TryPop => prop_assert_eq!(
                    queue.try_pop(), model.pop(),
                    "step {}: try_pop on a queue of capacity {} holding {:?} (closed: {})",
                    step, capacity, model.items, model.closed
                ),
                Op::PopNow => prop_assert_eq!(
                    queue.pop_timeout(Duration::ZERO), model.pop(),
                    "step {}: pop_timeout(0) on a queue of capacity {} holding {:?} \
                     (closed: {})",
                    step, capacity, model.items, model.closed
                ),
                Op::Close => {
                    queue.close();
                    model.closed = true;
                }
            }
            prop_assert_eq!(
                queue.len(), model.items.len(),
                "after step {} ({:?}), len should be the number of items queued: {:?}",
                step, op, model.items
            );
            prop_assert_eq!(
                queue.is_empty(), model.items.is_empty(),
                "after step {} ({:?}), is_empty should say whether items are queued: {:?}",
                step, op, model.items
            );
            prop_assert_eq!(
                queue.is_closed(), model.closed,
                "after step {} ({:?}), is_closed should say whether close was called",
                step, op
            );
            prop_assert!(
                queue.len() <= capacity,
                "a queue of capacity {} should never hold more than {} items",
                capacity, capacity
            );
        }
    }
}
