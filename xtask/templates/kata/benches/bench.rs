//! Your code beside the reference and the peer: `cargo bench -p {{slug}} --features solution`.
//! TODO(author): benchmark the kata's hot path.
//!
//! The third contender is the best-known crate that does the kata's job (an
//! optional dependency of the kata enabled by `solution`, like criterion),
//! wrapped behind the kata's API; where no crate does it, the nearest
//! baseline: here, for the example `Counter`, a bare `AtomicU64`.

use std::hint::black_box;
use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| {{crate}}::Counter::new().add(1)).is_ok();
    panic::set_hook(hook);
    ready
}

fn add(c: &mut Criterion) {
    let mut group = c.benchmark_group("Counter::add");
    if learner_ready() {
        let counter = {{crate}}::Counter::new();
        group.bench_function("yours", |b| b.iter(|| counter.add(black_box(1))));
    } else {
        println!("your Counter is still todo!(): benchmarking the reference only");
    }
    let reference = {{crate}}_solution::Counter::new();
    group.bench_function("reference", |b| b.iter(|| reference.add(black_box(1))));
    // TODO(author): the peer crate (or the nearest baseline) for this kata.
    let baseline = AtomicU64::new(0);
    group.bench_function("std AtomicU64", |b| {
        b.iter(|| baseline.fetch_add(black_box(1), Ordering::Relaxed))
    });
    group.finish();
}

criterion_group!(benches, add);
criterion_main!(benches);
