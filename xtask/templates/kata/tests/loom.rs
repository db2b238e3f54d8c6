//! Loom models of the {{slug}} kata: every interleaving of a few threads,
//! within a small preemption bound.
//! TODO(author): loom models of this kata's shared state, 2-3 threads each.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use {{crate}} as subject;
#[cfg(feature = "solution")]
use {{crate}}_solution as subject;

use loom::sync::Arc;
use loom::thread;
use subject::Counter;

/// Bounded by preemptions, never by time or permutations: those limits make
/// a model stop early and pass silently.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

#[test]
fn concurrent_additions_are_never_lost() {
    model(|| {
        let counter = Arc::new(Counter::new());
        let other = Arc::clone(&counter);
        let adder = thread::spawn(move || other.add(1));
        counter.add(2);
        adder.join().expect("the adding thread does not panic");
        assert_eq!(counter.get(), 3, "1 and 2 added from two threads should make 3 under every interleaving");
    });
}
