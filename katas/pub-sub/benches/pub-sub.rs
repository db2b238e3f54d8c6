//! Messages per second through a broker: your code (`pub_sub`), the
//! reference (`pub_sub_solution`) and `tokio::sync::broadcast` (one channel
//! per exact topic, in a `HashMap` behind a mutex: a receiver that lags
//! loses the oldest messages and gets `Lagged(n)`, the nearest thing tokio
//! ships) side by side in each group.
//!
//! ```text
//! cargo bench -p pub-sub --features solution
//! ```
//!
//! `broadcast` knows no patterns, so every subscription here is to an exact
//! topic, `DropOldest`, capacity 1,024; each iteration publishes one `u64`
//! and every subscriber it reaches takes it with `try_recv`:
//!
//! - `1 subscriber`: the cost of one delivery.
//! - `64 subscribers, one topic`: fan-out, one clone per subscriber.
//! - `1,000 topics, one subscriber each`: routing, each message to one of
//!   1,000 topics in turn.
//!
//! `publish` is polled once with a no-op waker (it never waits), so no
//! runtime is measured. A part of your code that still panics (`todo!()`)
//! is skipped with a note, and only the reference and the peer are
//! measured.

use std::future::Future;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CAPACITY: usize = 1_024;

/// The output of a future that completes at its first poll.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("publish waited"),
    }
}

/// `subscribers` subscriptions to each of `topics` topics of a broker of
/// `$krate`; each run publishes to the next topic and drains its
/// subscribers.
macro_rules! workload {
    ($krate:ident, $topics:expr, $subscribers:expr) => {{
        let broker = $krate::Broker::<u64>::new();
        let names: Vec<String> = (0..$topics).map(|t| format!("orders.{t}.paid")).collect();
        let mut subs: Vec<Vec<_>> = names
            .iter()
            .map(|name| {
                (0..$subscribers)
                    .map(|_| {
                        broker
                            .subscribe(name, CAPACITY, $krate::Overflow::DropOldest)
                            .expect("a valid pattern")
                    })
                    .collect()
            })
            .collect();
        let mut next = 0usize;
        move || {
            let topic = next % names.len();
            next += 1;
            let delivered = now(broker.publish(&names[topic], next as u64)).expect("a valid topic");
            let mut sum = 0;
            for sub in &mut subs[topic] {
                if let Ok(Some(message)) = sub.try_recv() {
                    sum += message.payload;
                }
            }
            (delivered, sum)
        }
    }};
}

/// `tokio::sync::broadcast` behind the kata's API: one channel per exact
/// topic (created by its first subscriber, with that subscriber's
/// capacity), so that it runs the same operations as the other two.
mod peer {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tokio::sync::broadcast;

    #[derive(Debug, Clone, Copy)]
    pub enum Overflow {
        DropOldest,
    }

    #[derive(Debug, Clone)]
    pub struct Message<T> {
        #[allow(dead_code)]
        pub topic: Arc<str>,
        pub payload: T,
    }

    pub struct Broker<T> {
        topics: Mutex<HashMap<String, broadcast::Sender<Message<T>>>>,
    }

    pub struct Subscription<T>(broadcast::Receiver<Message<T>>);

    impl<T: Clone + Send + 'static> Broker<T> {
        pub fn new() -> Self {
            Broker {
                topics: Mutex::new(HashMap::new()),
            }
        }

        /// `topic` must be exact: `broadcast` has no patterns.
        pub fn subscribe(
            &self,
            topic: &str,
            capacity: usize,
            _overflow: Overflow,
        ) -> Result<Subscription<T>, ()> {
            let mut topics = self.topics.lock().map_err(drop)?;
            let sender = topics
                .entry(topic.to_owned())
                .or_insert_with(|| broadcast::channel(capacity).0);
            Ok(Subscription(sender.subscribe()))
        }

        pub async fn publish(&self, topic: &str, payload: T) -> Result<usize, ()> {
            let topics = self.topics.lock().map_err(drop)?;
            Ok(topics.get(topic).map_or(0, |sender| {
                sender
                    .send(Message {
                        topic: Arc::from(topic),
                        payload,
                    })
                    .unwrap_or(0)
            }))
        }
    }

    impl<T: Clone> Subscription<T> {
        pub fn try_recv(&mut self) -> Result<Option<Message<T>>, ()> {
            match self.0.try_recv() {
                Ok(message) => Ok(Some(message)),
                Err(broadcast::error::TryRecvError::Empty) => Ok(None),
                Err(_) => Err(()),
            }
        }
    }
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!(
            "note: your {what} panics (still todo!()?): measuring the reference and the peer"
        );
    }
    ok
}

/// Benchmarks one workload of each broker in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $topics:expr, $subscribers:expr) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let mut run = workload!(pub_sub, $topics, $subscribers);
            run();
        }) {
            group.bench_function("yours", |b| {
                let mut run = workload!(pub_sub, $topics, $subscribers);
                b.iter(|| black_box(run()));
            });
        }
        group.bench_function("reference", |b| {
            let mut run = workload!(pub_sub_solution, $topics, $subscribers);
            b.iter(|| black_box(run()));
        });
        group.bench_function("tokio::sync::broadcast", |b| {
            let mut run = workload!(peer, $topics, $subscribers);
            b.iter(|| black_box(run()));
        });
        group.finish();
    }};
}

fn messages_per_second(c: &mut Criterion) {
    side_by_side!(c, "publish + try_recv, 1 subscriber", 1, 1);
    side_by_side!(c, "publish + try_recv, 64 subscribers, one topic", 1, 64);
    side_by_side!(
        c,
        "publish + try_recv, 1,000 topics, one subscriber each",
        1_000,
        1
    );
}

criterion_group!(benches, messages_per_second);
criterion_main!(benches);
