//! Items per second through the queue: your code (`bounded_queue`), the
//! reference (`bounded_queue_solution`) and `crossbeam-channel`'s `bounded(n)`
//! (0.5, the multi-producer multi-consumer bounded queue people ship: a
//! lock-free ring of slots with per-slot stamps, parking only to wait) side by
//! side in each group, with the standard library's bounded channel
//! (`std::sync::mpsc::sync_channel`) as the second yardstick where it fits (it
//! has one consumer only).
//!
//! ```text
//! cargo bench -p bounded-queue --features solution
//! ```
//!
//! A queue of yours that still panics (`todo!()`) is skipped with a note,
//! and only the others are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Items handed from producers to consumers in each threaded iteration.
const ITEMS: u64 = 20_000;
/// The queue's capacity in the threaded benchmarks: small enough that
/// producers regularly wait for consumers and the other way round.
const CAPACITY: usize = 64;

/// One `try_push` and one `try_pop` on one thread: the cost of the lock and
/// the bookkeeping, with nobody waiting.
macro_rules! uncontended {
    ($krate:ident) => {{
        let queue = $krate::BoundedQueue::new(CAPACITY);
        let mut item = 0u64;
        move || {
            item += 1;
            let _ = queue.try_push(item);
            queue.try_pop().ok()
        }
    }};
}

/// `producers` threads push `ITEMS` items in all through a queue of
/// `CAPACITY` to `consumers` threads; returns the sum popped.
macro_rules! hand_off {
    ($krate:ident, $producers:expr, $consumers:expr) => {{
        let (producers, consumers): (u64, u64) = ($producers, $consumers);
        move || {
            let queue = Arc::new($krate::BoundedQueue::new(CAPACITY));
            let popping: Vec<_> = (0..consumers)
                .map(|_| {
                    let queue = Arc::clone(&queue);
                    thread::spawn(move || {
                        let mut sum = 0u64;
                        while let Some(item) = queue.pop() {
                            sum += item;
                        }
                        sum
                    })
                })
                .collect();
            let pushing: Vec<_> = (0..producers)
                .map(|p| {
                    let queue = Arc::clone(&queue);
                    thread::spawn(move || {
                        for item in (p..ITEMS).step_by(producers as usize) {
                            queue.push(item).expect("the queue is open");
                        }
                    })
                })
                .collect();
            for producer in pushing {
                producer.join().expect("a producer panicked");
            }
            queue.close();
            popping
                .into_iter()
                .map(|consumer| consumer.join().expect("a consumer panicked"))
                .sum::<u64>()
        }
    }};
}

/// `crossbeam-channel` doing what the queue does in each group. A channel
/// closes when its last `Sender` is dropped, not through `&self`, so instead
/// of sharing one queue behind an `Arc`, each producer owns a `Sender` and
/// each consumer a `Receiver`, and "close after the producers are done" is
/// dropping the senders. Per item it is the same work: a blocking send, a
/// blocking receive until closed and drained, or one `try_send` and one
/// `try_recv`.
mod crossbeam_peer {
    use std::thread;

    use crossbeam_channel::{Receiver, Sender, bounded};

    use super::{CAPACITY, ITEMS};

    /// One `try_send` and one `try_recv` on one thread, as `uncontended!`.
    pub fn uncontended() -> impl FnMut() -> Option<u64> {
        let (tx, rx): (Sender<u64>, Receiver<u64>) = bounded(CAPACITY);
        let mut item = 0u64;
        move || {
            item += 1;
            let _ = tx.try_send(item);
            rx.try_recv().ok()
        }
    }

    /// The same hand-off as `hand_off!`: returns the sum received.
    pub fn hand_off(producers: u64, consumers: u64) -> u64 {
        let (tx, rx) = bounded::<u64>(CAPACITY);
        let popping: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.iter().sum::<u64>())
            })
            .collect();
        drop(rx);
        let pushing: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for item in (p..ITEMS).step_by(producers as usize) {
                        tx.send(item).expect("a receiver is alive");
                    }
                })
            })
            .collect();
        // The producers hold the only senders left: the channel closes when
        // the last of them is done.
        drop(tx);
        for producer in pushing {
            producer.join().expect("a producer panicked");
        }
        popping
            .into_iter()
            .map(|consumer| consumer.join().expect("a consumer panicked"))
            .sum()
    }
}

/// The same hand-off through `std::sync::mpsc::sync_channel` (one consumer).
fn std_hand_off(producers: u64) -> u64 {
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    let pushing: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for item in (p..ITEMS).step_by(producers as usize) {
                    tx.send(item).expect("the receiver is alive");
                }
            })
        })
        .collect();
    drop(tx);
    let sum = rx.iter().sum();
    for producer in pushing {
        producer.join().expect("a producer panicked");
    }
    sum
}

/// Whether your queue runs without panicking, with the panic message
/// silenced: it may still be `todo!()`.
fn implemented() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(|| {
        let queue = bounded_queue::BoundedQueue::new(2);
        queue.push(1).ok();
        queue.try_push(2).ok();
        queue.pop();
        queue.try_pop().ok();
        queue.close();
        queue.pop();
    }))
    .is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your BoundedQueue panics (still todo!()?): measuring only the others");
    }
    ok
}

fn items_per_second(c: &mut Criterion) {
    let yours = implemented();

    let mut group = c.benchmark_group("try_push + try_pop, one thread");
    group.throughput(Throughput::Elements(1));
    if yours {
        group.bench_function("yours", |b| {
            let mut round_trip = uncontended!(bounded_queue);
            b.iter(|| black_box(round_trip()));
        });
    }
    group.bench_function("reference", |b| {
        let mut round_trip = uncontended!(bounded_queue_solution);
        b.iter(|| black_box(round_trip()));
    });
    group.bench_function("crossbeam-channel 0.5", |b| {
        let mut round_trip = crossbeam_peer::uncontended();
        b.iter(|| black_box(round_trip()));
    });
    group.bench_function("std sync_channel", |b| {
        let (tx, rx) = mpsc::sync_channel(CAPACITY);
        let mut item = 0u64;
        b.iter(|| {
            item += 1;
            let _ = tx.try_send(item);
            black_box(rx.try_recv().ok())
        });
    });
    group.finish();

    for (producers, consumers) in [(1u64, 1u64), (4, 1), (4, 4)] {
        let mut group = c.benchmark_group(format!(
            "{producers} producers to {consumers} consumers, capacity {CAPACITY}"
        ));
        group.throughput(Throughput::Elements(ITEMS));
        group.sample_size(20);
        let parameter = format!("{ITEMS} items");
        if yours {
            group.bench_function(BenchmarkId::new("yours", &parameter), |b| {
                let run = hand_off!(bounded_queue, producers, consumers);
                b.iter(|| black_box(run()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", &parameter), |b| {
            let run = hand_off!(bounded_queue_solution, producers, consumers);
            b.iter(|| black_box(run()));
        });
        group.bench_function(BenchmarkId::new("crossbeam-channel 0.5", &parameter), |b| {
            b.iter(|| black_box(crossbeam_peer::hand_off(producers, consumers)))
        });
        if consumers == 1 {
            group.bench_function(BenchmarkId::new("std sync_channel", &parameter), |b| {
                b.iter(|| black_box(std_hand_off(producers)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, items_per_second);
criterion_main!(benches);
