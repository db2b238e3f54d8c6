//! Your code beside the reference and a baseline:
//! `cargo bench -p consumer-groups --features solution`.
//!
//! No crate does Redis Streams in process (the `redis` crate is a client of
//! a server), so the baseline is the naive design candidates start from: a
//! `Vec` of entries and a `Vec` of pending entries, both scanned linearly
//! (`naive` below). Three hot paths, on a stream of 100,000 entries:
//!
//! - `xadd`: append one entry;
//! - `read 10 + ack 10`: a consumer's loop, reading the next 10 new entries
//!   and acknowledging them (the stream grows by 10 per iteration, so there
//!   is always something new);
//! - `xautoclaim 10`: take over 10 of 10,000 idle pending entries, walking
//!   the pending list by its cursor.

use std::hint::black_box;
use std::panic;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Entries in the stream before each measurement.
const STREAM: u64 = 100_000;
/// Pending entries of a crashed consumer, for the claims.
const PENDING: u64 = 10_000;

/// The same calls on the learner's code, the reference and the baseline.
macro_rules! api {
    ($module:ident, $krate:ident) => {
        mod $module {
            use $krate::{ReadFrom, StreamId, Streams};

            pub fn filled(n: u64) -> Streams {
                let mut s = Streams::new();
                for t in 0..n {
                    s.xadd("orders", &[("order", "7"), ("event", "paid")], t)
                        .expect("xadd");
                }
                s.xgroup_create("orders", "billing", StreamId::MIN, u32::MAX)
                    .expect("a new group");
                s
            }

            pub fn add(s: &mut Streams, t: u64) -> StreamId {
                s.xadd("orders", &[("order", "7"), ("event", "paid")], t)
                    .expect("xadd")
            }

            pub fn read_and_ack(s: &mut Streams, t: u64) -> usize {
                for _ in 0..10 {
                    add(s, t);
                }
                let ids: Vec<StreamId> = s
                    .xreadgroup("orders", "billing", "c1", ReadFrom::New, 10, t)
                    .expect("a read")
                    .into_iter()
                    .map(|e| e.id)
                    .collect();
                s.xack("orders", "billing", &ids).expect("an ack")
            }

            /// A group whose consumer `crashed` holds `pending` entries.
            pub fn with_pending(n: u64, pending: u64) -> Streams {
                let mut s = filled(n);
                let read = s
                    .xreadgroup(
                        "orders",
                        "billing",
                        "crashed",
                        ReadFrom::New,
                        usize::try_from(pending).expect("a small count"),
                        0,
                    )
                    .expect("a read");
                assert_eq!(read.len() as u64, pending);
                s
            }

            /// The cursor as `(ms, seq)`: each crate has its own `StreamId`.
            pub fn claim(s: &mut Streams, cursor: (u64, u64), t: u64) -> ((u64, u64), usize) {
                let got = s
                    .xautoclaim(
                        "orders",
                        "billing",
                        "c2",
                        1,
                        StreamId::new(cursor.0, cursor.1),
                        10,
                        t,
                    )
                    .expect("a claim");
                ((got.next.ms, got.next.seq), got.claimed.len())
            }
        }
    };
}

api!(yours, consumer_groups);
api!(reference, consumer_groups_solution);

/// The baseline: what a first attempt looks like, with the same semantics on
/// the paths measured here (one stream, one group, no dead letters).
mod naive {
    pub use consumer_groups_solution::StreamId;
    use std::hint::black_box;

    struct Pending {
        id: StreamId,
        consumer: String,
        deliveries: u32,
        at_ms: u64,
    }

    #[derive(Default)]
    pub struct Naive {
        entries: Vec<(StreamId, Vec<(String, String)>)>,
        last_delivered: StreamId,
        pending: Vec<Pending>,
    }

    impl Naive {
        fn add(&mut self, t: u64) -> StreamId {
            let last = self.entries.last().map_or(StreamId::MIN, |e| e.0);
            let id = if t > last.ms {
                StreamId::new(t, 0)
            } else {
                StreamId::new(last.ms, last.seq + 1)
            };
            self.entries.push((
                id,
                vec![
                    ("order".into(), "7".into()),
                    ("event".into(), "paid".into()),
                ],
            ));
            id
        }

        fn read_new(&mut self, consumer: &str, count: usize, t: u64) -> Vec<StreamId> {
            let ids: Vec<StreamId> = self
                .entries
                .iter()
                .filter(|e| e.0 > self.last_delivered)
                .take(count)
                .map(|e| e.0)
                .collect();
            for &id in &ids {
                self.pending.push(Pending {
                    id,
                    consumer: consumer.to_owned(),
                    deliveries: 1,
                    at_ms: t,
                });
                self.last_delivered = id;
            }
            ids
        }

        fn ack(&mut self, ids: &[StreamId]) -> usize {
            let before = self.pending.len();
            self.pending.retain(|p| !ids.contains(&p.id));
            before - self.pending.len()
        }
    }

    pub fn filled(n: u64) -> Naive {
        let mut s = Naive::default();
        for t in 0..n {
            s.add(t);
        }
        s
    }

    pub fn add(s: &mut Naive, t: u64) -> StreamId {
        s.add(t)
    }

    pub fn read_and_ack(s: &mut Naive, t: u64) -> usize {
        for _ in 0..10 {
            s.add(t);
        }
        let ids = s.read_new("c1", 10, t);
        s.ack(&ids)
    }

    pub fn with_pending(n: u64, pending: u64) -> Naive {
        let mut s = filled(n);
        let read = s.read_new("crashed", usize::try_from(pending).expect("small"), 0);
        assert_eq!(read.len() as u64, pending);
        s
    }

    pub fn claim(s: &mut Naive, cursor: (u64, u64), t: u64) -> ((u64, u64), usize) {
        // Pending entries are pushed in id order and never reordered.
        let cursor = StreamId::new(cursor.0, cursor.1);
        let mut claimed = 0;
        let mut next = StreamId::MIN;
        for p in s.pending.iter_mut().filter(|p| p.id >= cursor) {
            if claimed == 10 {
                next = p.id;
                break;
            }
            if t.saturating_sub(p.at_ms) >= 1 {
                p.consumer = "c2".to_owned();
                p.deliveries += 1;
                p.at_ms = t;
                // The claimed entry is returned with its fields: found by a
                // scan of the stream, as a first attempt does.
                let entry = s.entries.iter().find(|e| e.0 == p.id).map(|e| e.1.clone());
                black_box(entry);
                claimed += 1;
            }
        }
        ((next.ms, next.seq), claimed)
    }
}

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| {
        let mut s = yours::filled(3);
        yours::read_and_ack(&mut s, 5)
    })
    .is_ok();
    panic::set_hook(hook);
    ready
}

/// One benchmark group per path, each subject under its own name.
macro_rules! bench_paths {
    ($c:expr, $name:literal, $krate:ident) => {{
        let c: &mut Criterion = $c;
        let mut s = $krate::filled(STREAM);
        let mut t = STREAM;
        c.benchmark_group("xadd")
            .bench_function(BenchmarkId::from_parameter($name), |b| {
                b.iter(|| {
                    t += 1;
                    black_box($krate::add(&mut s, t))
                })
            });
        let mut s = $krate::filled(STREAM);
        let mut t = STREAM;
        c.benchmark_group("read 10 + ack 10").bench_function(
            BenchmarkId::from_parameter($name),
            |b| {
                b.iter(|| {
                    t += 1;
                    black_box($krate::read_and_ack(&mut s, t))
                })
            },
        );
        let mut s = $krate::with_pending(STREAM, PENDING);
        let mut t = 1;
        let mut cursor = (0, 0);
        c.benchmark_group("xautoclaim 10 of 10,000").bench_function(
            BenchmarkId::from_parameter($name),
            |b| {
                b.iter(|| {
                    t += 1;
                    let (next, claimed) = $krate::claim(&mut s, cursor, t);
                    cursor = next;
                    black_box(claimed)
                })
            },
        );
    }};
}

fn paths(c: &mut Criterion) {
    if learner_ready() {
        bench_paths!(c, "yours", yours);
    } else {
        println!("your Streams is still todo!(): benchmarking the reference and the baseline only");
    }
    bench_paths!(c, "reference", reference);
    bench_paths!(c, "naive Vec scan", naive);
}

criterion_group!(benches, paths);
criterion_main!(benches);
