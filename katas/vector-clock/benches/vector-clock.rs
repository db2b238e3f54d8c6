//! Operations per second: your code (`vector_clock`), the reference
//! (`vector_clock_solution`) and, for the clocks, the `vclock` crate (0.4)
//! side by side in each group.
//!
//! ```text
//! cargo bench -p vector-clock --features solution
//! ```
//!
//! Clocks have 8 nodes (a replica set with room to grow); the store runs a
//! read-modify-write cycle on one key that always has two siblings, and an
//! anti-entropy sync of 100 keys between two replicas that already agree.
//! A part of your code that still panics (`todo!()`) is skipped with a note,
//! and only the others are measured.
//!
//! `vclock` runs behind the kata's API (module [`vclock_peer`]): its
//! `VClock<String, u64>` is a vector clock over a `HashMap` (SipHash),
//! compared with `PartialOrd` (`None` is concurrent). It counts a node's
//! first event as 0, so the adapter's `get` adds one; the timed operations
//! (`compare`, `merge`) do not depend on it. The store has no peer: no
//! well-kept crate keeps siblings with dotted version vectors, so its groups
//! show your code beside the reference only.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// `vclock` 0.4 behind the kata's `VectorClock` API.
mod vclock_peer {
    use std::cmp::Ordering;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Causality {
        Before,
        After,
        Equal,
        Concurrent,
    }

    #[derive(Clone, Default)]
    pub struct VectorClock(vclock::VClock<String, u64>);

    impl VectorClock {
        pub fn new() -> Self {
            Self::default()
        }

        /// `vclock` stores a node's first event as 0.
        pub fn get(&self, node: &str) -> u64 {
            self.0.get(&node.to_owned()).map_or(0, |count| count + 1)
        }

        pub fn increment(&mut self, node: &str) -> u64 {
            self.0.incr(&node.to_owned());
            self.get(node)
        }

        pub fn merge(&mut self, other: &VectorClock) {
            self.0.merge(&other.0);
        }

        pub fn compare(&self, other: &VectorClock) -> Causality {
            match self.0.partial_cmp(&other.0) {
                Some(Ordering::Less) => Causality::Before,
                Some(Ordering::Greater) => Causality::After,
                Some(Ordering::Equal) => Causality::Equal,
                None => Causality::Concurrent,
            }
        }
    }
}

const NODES: [&str; 8] = [
    "node-0", "node-1", "node-2", "node-3", "node-4", "node-5", "node-6", "node-7",
];

/// Two concurrent clocks of `$krate` over `NODES`.
macro_rules! two_clocks {
    ($krate:ident) => {{
        let mut x = $krate::VectorClock::new();
        let mut y = $krate::VectorClock::new();
        for (i, node) in NODES.iter().enumerate() {
            for _ in 0..(i % 3 + 1) {
                x.increment(node);
            }
            for _ in 0..((i + 1) % 3 + 1) {
                y.increment(node);
            }
        }
        (x, y)
    }};
}

macro_rules! compare {
    ($krate:ident) => {{
        let (x, y) = two_clocks!($krate);
        move || x.compare(&y) == $krate::Causality::Concurrent
    }};
}

macro_rules! merge {
    ($krate:ident) => {{
        // Merging two clocks into a third: the steady state of a replica
        // taking in clocks that mostly tell it nothing new.
        let (x, y) = two_clocks!($krate);
        let mut m = $krate::VectorClock::new();
        move || {
            m.merge(&x);
            m.merge(&y);
            black_box(&m);
        }
    }};
}

macro_rules! read_modify_write {
    ($krate:ident) => {{
        let mut a = $krate::Replica::new("a");
        let mut b = $krate::Replica::new("b");
        a.put("cart", 0u64, &$krate::Context::default());
        b.put("cart", 0u64, &$krate::Context::default());
        a.sync_from(&b);
        // Each round: a client reads the two siblings at a and resolves
        // them, while another updates b's own version, concurrently; a then
        // syncs from b, and holds two siblings again.
        let mut n = 0u64;
        move || {
            n += 1;
            let (values, context) = a.get("cart");
            a.put("cart", values.iter().sum::<u64>() + n, &context);
            let (_, context) = b.get("cart");
            b.put("cart", n, &context);
            a.sync_from(&b);
            values.len() == 2
        }
    }};
}

macro_rules! sync_100_keys {
    ($krate:ident) => {{
        let mut a = $krate::Replica::new("a");
        let mut b = $krate::Replica::new("b");
        for key in 0..100 {
            let key = format!("user:{key}");
            a.put(&key, key.len(), &$krate::Context::default());
            b.put(&key, key.len() + 1, &$krate::Context::default());
        }
        a.sync_from(&b);
        b.sync_from(&a);
        move || {
            a.sync_from(&b);
            a.get("user:42").0.len() == 2
        }
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
        eprintln!("note: your {what} panics (still todo!()?): measuring the others only");
    }
    ok
}

/// Times one contender.
macro_rules! contender {
    ($group:expr, $name:expr, $parameter:expr, $op:ident, $krate:ident) => {
        $group.bench_function(BenchmarkId::new($name, $parameter), |b| {
            #[allow(unused_mut)]
            let mut op = $op!($krate);
            b.iter(|| black_box(op()));
        });
    };
}

/// Benchmarks one operation of your code, the reference and any peers in
/// one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $op:ident $(, $peer_name:literal => $peer:ident)*) => {{
        let parameter = $parameter;
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            #[allow(unused_mut)]
            let mut op = $op!(vector_clock);
            op();
        }) {
            contender!(group, "yours", &parameter, $op, vector_clock);
        }
        contender!(group, "reference", &parameter, $op, vector_clock_solution);
        $(contender!(group, $peer_name, &parameter, $op, $peer);)*
        group.finish();
    }};
}

fn operations(c: &mut Criterion) {
    side_by_side!(c, "VectorClock::compare", "8 nodes", compare, "vclock 0.4" => vclock_peer);
    side_by_side!(c, "VectorClock::merge (x2)", "8 nodes", merge, "vclock 0.4" => vclock_peer);
    side_by_side!(
        c,
        "Replica::get+put+sync_from",
        "2 siblings",
        read_modify_write
    );
    side_by_side!(c, "Replica::sync_from", "100 keys", sync_100_keys);
}

criterion_group!(benches, operations);
criterion_main!(benches);
