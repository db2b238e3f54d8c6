//! Merges per second: your code (`crdt`), the reference (`crdt_solution`)
//! and the `crdts` crate (7), the best-known CRDT library in Rust, side by
//! side in each group.
//!
//! ```text
//! cargo bench -p crdt --features solution
//! ```
//!
//! A merge ships and folds in a whole state, so its cost grows with the
//! state: the counters are measured with 100 replicas, the OR-Set with 1000
//! elements added on three replicas and some removed. What is timed is one
//! replica taking in a state that has just arrived (owned, as if decoded off
//! the wire), then reading the value; the copies of the two states are made
//! outside the timing. A part of your code that still panics (`todo!()`) is
//! skipped with a note, and only the reference and `crdts` are measured.
//!
//! `crdts` runs behind the kata's API (module [`crdts_peer`]): its
//! `GCounter`, `PNCounter`, `LWWReg` and `Orswot` (Riak's OR-Set without
//! tombstones, the same design as the reference's) are the kata's four types.
//! Its counters read their value as a big integer, and its `merge` consumes
//! the incoming state, which is why the timed step hands it over by value.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Replicas that have incremented the counters.
const REPLICAS: u32 = 100;
/// Elements added to the OR-Set.
const ELEMENTS: u32 = 1000;

/// A replica taking in a state it has received.
trait Receive {
    /// Merges `incoming` into `self`.
    fn receive(&mut self, incoming: Self);
}

/// The kata's `merge` borrows the incoming state.
macro_rules! receive_by_reference {
    ($($krate:ident),*) => {$(
        impl Receive for $krate::GCounter {
            fn receive(&mut self, incoming: Self) {
                self.merge(&incoming);
            }
        }
        impl Receive for $krate::PnCounter {
            fn receive(&mut self, incoming: Self) {
                self.merge(&incoming);
            }
        }
        impl<T: Clone> Receive for $krate::LwwRegister<T> {
            fn receive(&mut self, incoming: Self) {
                self.merge(&incoming);
            }
        }
        impl<T: Ord + Clone> Receive for $krate::OrSet<T> {
            fn receive(&mut self, incoming: Self) {
                self.merge(&incoming);
            }
        }
    )*};
}

receive_by_reference!(crdt, crdt_solution);

/// `crdts` 7 behind the kata's API, one type for each of the kata's.
mod crdts_peer {
    use std::fmt::Debug;
    use std::hash::Hash;

    use crdts::{CmRDT, CvRDT};

    use super::Receive;

    type ReplicaId = u32;

    #[derive(Clone, Default)]
    pub struct GCounter(crdts::GCounter<ReplicaId>);

    impl GCounter {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn increment(&mut self, replica: ReplicaId, n: u64) {
            let op = self.0.inc_many(replica, n);
            self.0.apply(op);
        }

        pub fn value(&self) -> u64 {
            u64::try_from(self.0.read()).unwrap_or(u64::MAX)
        }
    }

    impl Receive for GCounter {
        fn receive(&mut self, incoming: Self) {
            self.0.merge(incoming.0);
        }
    }

    #[derive(Clone, Default)]
    pub struct PnCounter(crdts::PNCounter<ReplicaId>);

    impl PnCounter {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn increment(&mut self, replica: ReplicaId, n: u64) {
            let op = self.0.inc_many(replica, n);
            self.0.apply(op);
        }

        pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
            let op = self.0.dec_many(replica, n);
            self.0.apply(op);
        }

        pub fn value(&self) -> i64 {
            i64::try_from(self.0.read()).expect("the bench's counts fit in an i64")
        }
    }

    impl Receive for PnCounter {
        fn receive(&mut self, incoming: Self) {
            self.0.merge(incoming.0);
        }
    }

    /// The marker `(timestamp, replica)` orders writes as the kata's does;
    /// `None` (no write yet) sorts below every write.
    #[derive(Clone)]
    pub struct LwwRegister<T>(crdts::LWWReg<Option<T>, Option<(u64, ReplicaId)>>);

    impl<T: Clone + PartialEq> LwwRegister<T> {
        pub fn new() -> Self {
            Self(crdts::LWWReg {
                val: None,
                marker: None,
            })
        }

        pub fn set(&mut self, value: T, timestamp: u64, replica: ReplicaId) {
            self.0.update(Some(value), Some((timestamp, replica)));
        }

        pub fn get(&self) -> Option<&T> {
            self.0.val.as_ref()
        }
    }

    impl<T: PartialEq> Receive for LwwRegister<T> {
        fn receive(&mut self, incoming: Self) {
            self.0.merge(incoming.0);
        }
    }

    #[derive(Clone)]
    pub struct OrSet<T: Hash + Eq>(crdts::Orswot<T, ReplicaId>);

    impl<T: Hash + Eq + Clone + Debug> OrSet<T> {
        pub fn new() -> Self {
            Self(crdts::Orswot::new())
        }

        pub fn add(&mut self, elem: T, replica: ReplicaId) {
            let ctx = self.0.read_ctx().derive_add_ctx(replica);
            let op = self.0.add(elem, ctx);
            self.0.apply(op);
        }

        pub fn remove(&mut self, elem: &T) {
            let ctx = self.0.contains(elem).derive_rm_ctx();
            let op = self.0.rm(elem.clone(), ctx);
            self.0.apply(op);
        }

        pub fn contains(&self, elem: &T) -> bool {
            self.0.contains(elem).val
        }
    }

    impl<T: Hash + Eq + Clone + Debug> Receive for OrSet<T> {
        fn receive(&mut self, incoming: Self) {
            self.0.merge(incoming.0);
        }
    }
}

/// Two G-Counter states, each having seen the increments of `REPLICAS`
/// replicas, half of them newer in the first; and what is timed: merging
/// the second into the first, then the value.
macro_rules! g_counter_merge {
    ($krate:ident) => {{
        let mut a = $krate::GCounter::new();
        let mut b = $krate::GCounter::new();
        for replica in 0..REPLICAS {
            a.increment(replica, u64::from(replica));
            b.increment(replica, u64::from(replica % 2));
        }
        (a, b, |mut merged: $krate::GCounter, incoming| {
            merged.receive(incoming);
            merged.value()
        })
    }};
}

macro_rules! pn_counter_merge {
    ($krate:ident) => {{
        let mut a = $krate::PnCounter::new();
        let mut b = $krate::PnCounter::new();
        for replica in 0..REPLICAS {
            a.increment(replica, u64::from(replica));
            b.decrement(replica, u64::from(replica % 3));
        }
        (a, b, |mut merged: $krate::PnCounter, incoming| {
            merged.receive(incoming);
            merged.value()
        })
    }};
}

macro_rules! lww_register_merge {
    ($krate:ident) => {{
        let mut a = $krate::LwwRegister::new();
        let mut b = $krate::LwwRegister::new();
        a.set(String::from("draft"), 10, 1);
        b.set(String::from("published"), 10, 2);
        (a, b, |mut merged: $krate::LwwRegister<String>, incoming| {
            // An older local write, which loses.
            merged.set(String::from("edit"), 5, 3);
            merged.receive(incoming);
            merged.get().map(String::len)
        })
    }};
}

/// Three replicas each add a third of `ELEMENTS`, exchange, and remove every
/// tenth element; two of the resulting states are merged.
macro_rules! or_set_merge {
    ($krate:ident) => {{
        let mut replicas: Vec<$krate::OrSet<u32>> = (0..3).map(|_| $krate::OrSet::new()).collect();
        for elem in 0..ELEMENTS {
            let at = (elem % 3) as usize;
            replicas[at].add(elem, at as u32);
        }
        let first = replicas[0].clone();
        replicas[1].receive(first);
        for elem in (0..ELEMENTS).step_by(10) {
            replicas[1].remove(&elem);
        }
        (
            replicas[1].clone(),
            replicas[2].clone(),
            |mut merged: $krate::OrSet<u32>, incoming| {
                merged.receive(incoming);
                merged.contains(&1)
            },
        )
    }};
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
            "note: your {what} panics (still todo!()?): measuring only the reference and crdts"
        );
    }
    ok
}

/// Times one contender: a fresh copy of both states per merge, made outside
/// the timing.
macro_rules! contender {
    ($group:expr, $name:expr, $parameter:expr, $merge:ident, $krate:ident) => {
        $group.bench_function(BenchmarkId::new($name, $parameter), |bench| {
            let (local, incoming, merge) = $merge!($krate);
            bench.iter_batched(
                || (local.clone(), incoming.clone()),
                |(local, incoming)| black_box(merge(local, incoming)),
                BatchSize::SmallInput,
            );
        });
    };
}

/// Benchmarks one merge of each contender in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $merge:ident) => {{
        let parameter = $parameter;
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let (local, incoming, merge) = $merge!(crdt);
            merge(local, incoming);
        }) {
            contender!(group, "yours", &parameter, $merge, crdt);
        }
        contender!(group, "reference", &parameter, $merge, crdt_solution);
        contender!(group, "crdts 7", &parameter, $merge, crdts_peer);
        group.finish();
    }};
}

fn merges_per_second(c: &mut Criterion) {
    side_by_side!(
        c,
        "GCounter::merge",
        format!("{REPLICAS} replicas"),
        g_counter_merge
    );
    side_by_side!(
        c,
        "PnCounter::merge",
        format!("{REPLICAS} replicas"),
        pn_counter_merge
    );
    side_by_side!(c, "LwwRegister::merge", "a tie", lww_register_merge);
    side_by_side!(
        c,
        "OrSet::merge",
        format!("{ELEMENTS} elements"),
        or_set_merge
    );
}

criterion_group!(benches, merges_per_second);
criterion_main!(benches);
