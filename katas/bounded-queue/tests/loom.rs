//! Loom models of the bounded queue: every interleaving of two or three
//! threads pushing, popping and closing, up to a preemption bound. A wake-up
//! that goes to the wrong thread, or to nobody, leaves a thread waiting for
//! ever; loom reports that as a deadlock and the model fails.
//!
//! Only the blocking `push`, `pop` and `close` run here: loom has no clock
//! (its `Condvar::wait_timeout` never times out), so the timeout variants are
//! the threaded spec's to check.
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p bounded-queue --test loom \
//!   --profile loom --target-dir target/loom
//! ```

#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use bounded_queue as subject;
#[cfg(feature = "solution")]
use bounded_queue_solution as subject;

use loom::sync::Arc;
use loom::thread::{self, JoinHandle};
use subject::{BoundedQueue, PopError, PushError};

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

fn producer(queue: &Arc<BoundedQueue<u32>>, items: &[u32]) -> JoinHandle<()> {
    let queue = Arc::clone(queue);
    let items = items.to_vec();
    thread::spawn(move || {
        for item in items {
            assert_eq!(
                queue.push(item),
                Ok(()),
                "push({item}) into an open queue should succeed"
            );
        }
    })
}

fn consumer(queue: &Arc<BoundedQueue<u32>>) -> JoinHandle<Option<u32>> {
    let queue = Arc::clone(queue);
    thread::spawn(move || queue.pop())
}

fn joined<R>(thread: JoinHandle<R>) -> R {
    thread.join().expect("a producer or consumer panicked")
}

#[test]
fn two_producers_and_one_consumer_lose_and_duplicate_no_item() {
    check(|| {
        // Capacity 1: a producer may find the queue full and wait.
        let queue = Arc::new(BoundedQueue::new(1));
        let producers = [producer(&queue, &[1]), producer(&queue, &[2])];
        let mut popped = [queue.pop(), queue.pop()];
        for p in producers {
            joined(p);
        }
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(1), Some(2)],
            "2 producers each pushing one item through a queue of capacity 1 to one consumer: \
             the consumer should get both items, once each, under every interleaving"
        );
        assert_eq!(
            queue.try_pop(),
            Err(PopError::Empty),
            "nothing should be left behind"
        );
    });
}

#[test]
fn two_consumers_take_different_items_and_neither_waits_for_one_already_taken() {
    check(|| {
        // Capacity 1: the producer waits for the first item to be taken.
        // A consumer woken for an item another consumer took first must wait
        // again (a loop, not an `if`), and the second item must wake a
        // consumer, not be lost on a producer.
        let queue = Arc::new(BoundedQueue::new(1));
        let consumers = [consumer(&queue), consumer(&queue)];
        let p = producer(&queue, &[1, 2]);
        let mut popped = consumers.map(joined);
        joined(p);
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(1), Some(2)],
            "2 consumers popping from one producer of items 1 then 2 (capacity 1) should get one \
             item each, under every interleaving"
        );
    });
}

#[test]
fn a_pop_wakes_a_producer_waiting_on_a_full_queue() {
    check(|| {
        // Capacity 1, full: both producers wait, and every pop must wake one
        // of them, never another consumer's worth of nothing.
        let queue = Arc::new(BoundedQueue::new(1));
        assert_eq!(queue.try_push(0), Ok(()), "a push into an empty queue of 1");
        let producers = [producer(&queue, &[1]), producer(&queue, &[2])];
        let mut popped = [queue.pop(), queue.pop(), queue.pop()];
        for p in producers {
            joined(p);
        }
        assert_eq!(popped[0], Some(0), "the item queued first comes out first");
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(0), Some(1), Some(2)],
            "a consumer popping 3 times from a full queue of 1 while 2 producers wait to push \
             should get all 3 items, under every interleaving"
        );
    });
}

#[test]
fn every_push_and_every_pop_wakes_a_waiter_not_only_the_first() {
    check(|| {
        // Capacity 2: two consumers wait on the empty queue and two items
        // arrive. The second push finds the queue not empty, and must still
        // wake the second consumer.
        let queue = Arc::new(BoundedQueue::new(2));
        let consumers = [consumer(&queue), consumer(&queue)];
        let p = producer(&queue, &[1, 2]);
        let mut popped = consumers.map(joined);
        joined(p);
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(1), Some(2)],
            "2 consumers waiting on an empty queue of 2 while 2 items are pushed should get one \
             each, under every interleaving"
        );
    });
    check(|| {
        // And the mirror image: two producers wait on a full queue of 2 and
        // two slots free up.
        let queue = Arc::new(BoundedQueue::new(2));
        assert_eq!(queue.try_push(0), Ok(()), "a push into an empty queue of 2");
        assert_eq!(
            queue.try_push(1),
            Ok(()),
            "a push into a queue of 2 holding 1"
        );
        let producers = [producer(&queue, &[2]), producer(&queue, &[3])];
        let mut popped = [queue.pop(), queue.pop(), queue.pop(), queue.pop()];
        for p in producers {
            joined(p);
        }
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(0), Some(1), Some(2), Some(3)],
            "2 producers waiting on a full queue of 2 while a consumer pops 4 times should both \
             get in, under every interleaving"
        );
    });
}

#[test]
fn close_wakes_every_waiting_consumer() {
    check(|| {
        let queue = Arc::new(BoundedQueue::<u32>::new(1));
        let consumers = [consumer(&queue), consumer(&queue)];
        queue.close();
        assert_eq!(
            consumers.map(joined),
            [None, None],
            "close should wake both consumers waiting on the empty queue, and each pop should \
             return None, under every interleaving"
        );
    });
}

#[test]
fn close_wakes_every_waiting_producer_and_keeps_the_queued_item() {
    check(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        assert_eq!(queue.try_push(0), Ok(()), "a push into an empty queue of 1");
        let producers = [1, 2].map(|item| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.push(item))
        });
        queue.close();
        assert_eq!(
            producers.map(joined),
            [Err(PushError::Closed(1)), Err(PushError::Closed(2))],
            "close should wake both producers waiting on the full queue, and each should get \
             its item back as Closed, under every interleaving"
        );
        assert_eq!(
            queue.pop(),
            Some(0),
            "the item queued before close should still be delivered"
        );
        assert_eq!(queue.pop(), None, "then the closed queue is drained");
    });
}

#[test]
fn consumers_drain_what_was_pushed_before_close() {
    check(|| {
        let queue = Arc::new(BoundedQueue::new(2));
        let consumers = [consumer(&queue), consumer(&queue)];
        assert_eq!(queue.push(1), Ok(()), "a push into an open queue of 2");
        queue.close();
        let mut popped = consumers.map(joined);
        popped.sort_unstable();
        assert_eq!(
            popped,
            [None, Some(1)],
            "one item pushed, then close, with 2 consumers waiting: one should get the item and \
             the other None, under every interleaving (close must not drop queued items)"
        );
    });
}

/// A timeout far longer than any model takes. Loom's `wait_timeout` never
/// times out, and `Duration::MAX` would take the blocking path: this keeps
/// the timed path, with a deadline that a correct queue never reaches here.
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

#[test]
fn a_timed_waiter_woken_for_an_item_another_consumer_took_keeps_waiting() {
    check(|| {
        // Capacity 1. One consumer waits in `pop_timeout`; the producer's
        // first push may wake it, and a second consumer arriving just then
        // (it never waited) may take the item first. The woken consumer must
        // go back to waiting, not give up with `Empty` after one wake-up:
        // the second item is its own.
        let queue = Arc::new(BoundedQueue::new(1));
        let timed = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.pop_timeout(HOUR))
        };
        let p = producer(&queue, &[1, 2]);
        let newcomer = queue.pop();
        let timed = joined(timed);
        joined(p);
        let mut popped = [newcomer, timed.ok()];
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(1), Some(2)],
            "a consumer in pop_timeout(1 hour) and another in pop, with items 1 then 2 pushed \
             through a queue of 1: each should get one item under every interleaving (pop_timeout \
             gave {timed:?}); a consumer woken for an item someone else took must keep waiting \
             until its timeout runs out"
        );
    });
}

#[test]
fn a_timed_producer_woken_for_a_slot_another_producer_took_keeps_waiting() {
    check(|| {
        // Capacity 1, full. One producer waits in `push_timeout`; a pop may
        // wake it, and a second producer arriving just then may take the
        // slot first. The woken producer must go back to waiting, not give
        // up with `Full` after one wake-up: the next pop frees its slot.
        let queue = Arc::new(BoundedQueue::new(1));
        assert_eq!(queue.try_push(0), Ok(()), "a push into an empty queue of 1");
        let timed = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.push_timeout(1, HOUR))
        };
        let newcomer = producer(&queue, &[2]);
        let mut popped = [queue.pop(), queue.pop(), queue.pop()];
        let timed = joined(timed);
        joined(newcomer);
        assert_eq!(
            timed,
            Ok(()),
            "a producer in push_timeout(1 hour) on a full queue of 1, beside another producer, \
             while a consumer pops 3 times: it should get its item in under every interleaving; \
             a producer woken for a slot someone else took must keep waiting until its timeout \
             runs out"
        );
        popped.sort_unstable();
        assert_eq!(
            popped,
            [Some(0), Some(1), Some(2)],
            "all 3 items should come out once each"
        );
    });
}

#[test]
fn two_try_pushes_into_the_last_free_slot_never_overfill_the_queue() {
    check(|| {
        // Capacity 1, empty: two producers race `try_push` for the one
        // slot. Exactly one gets in; the other is turned away with `Full`.
        // A check for room made apart from the append (a length read outside
        // the lock, then the append under it) lets both in.
        let queue = Arc::new(BoundedQueue::new(1));
        let other = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.try_push(2))
        };
        let mine = queue.try_push(1);
        let other = joined(other);
        let accepted = [&mine, &other].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            (accepted, queue.len()),
            (1, 1),
            "two try_push calls racing into an empty queue of capacity 1 gave {mine:?} and \
             {other:?}: exactly one should succeed and the queue should hold 1 item, under every \
             interleaving (a queue never holds more than its capacity)"
        );
    });
}

#[test]
fn try_pop_and_try_push_wake_a_waiter_like_pop_and_push() {
    check(|| {
        // Full queue of 1: a producer waits in `push`. The slot a `try_pop`
        // frees must wake it, or it sleeps beside the free slot for ever.
        let queue = Arc::new(BoundedQueue::new(1));
        assert_eq!(queue.try_push(0), Ok(()), "a push into an empty queue of 1");
        let p = producer(&queue, &[1]);
        assert_eq!(
            queue.try_pop(),
            Ok(0),
            "try_pop from a full queue of 1 holding 0"
        );
        assert_eq!(
            queue.pop(),
            Some(1),
            "a producer waiting in push on a full queue should be woken by the slot a try_pop \
             frees, and its item delivered, under every interleaving"
        );
        joined(p);
    });
    check(|| {
        // Empty queue: a consumer waits in `pop`. The item a `try_push`
        // queues must wake it.
        let queue = Arc::new(BoundedQueue::new(1));
        let c = consumer(&queue);
        assert_eq!(
            queue.try_push(1),
            Ok(()),
            "try_push into an empty queue of 1"
        );
        assert_eq!(
            joined(c),
            Some(1),
            "a consumer waiting in pop on an empty queue should be woken by the item a try_push \
             queues, under every interleaving"
        );
    });
}

#[test]
fn len_never_exceeds_capacity_while_others_push_and_pop() {
    // `len` is one look at the queue: two counters read apart (items pushed,
    // items popped) can be read across another thread's push and pop.
    check(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        let other = Arc::clone(&queue);
        let worker = thread::spawn(move || {
            other.try_push(1).expect("room for 1 of 1");
            other.try_pop().expect("the item just pushed");
        });
        let len = queue.len();
        assert!(
            len <= 1,
            "len() = {len} on a queue of capacity 1 while another thread pushed then popped"
        );
        joined(worker);
    });
}
