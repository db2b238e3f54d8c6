//! Items per second through the queue: your code (`bounded_queue`) and the
//! reference (`bounded_queue_solution`) side by side in each group, with the
//! standard library's bounded channel (`std::sync::mpsc::sync_channel`) as
//! the well-known yardstick where it fits (it has one consumer only).
//!
//! ```text
//! cargo bench -p bounded-queue --features solution
//! ```
//!
//! A queue of yours that still panics (`todo!()`) is skipped with a note,
//! and only the reference is measured.

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
        eprintln!("note: your BoundedQueue panics (still todo!()?): measuring only the reference");
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
