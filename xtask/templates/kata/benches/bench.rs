//! Your code beside the reference: `cargo bench -p {{slug}} --features solution`.
//! TODO(author): benchmark the kata's hot path.

use std::hint::black_box;
use std::panic;

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
    group.finish();
}

criterion_group!(benches, add);
criterion_main!(benches);
