//! Wrong: `add` reads, then writes, in two steps, so two threads adding at
//! once can both read the old value and one update is lost. Caught by the
//! loom model `concurrent_additions_are_never_lost`.
//!
//! TODO(author): at least three wrong answers for this kata's API, not this example.
//! Each is the whole API (re-export the correct parts from
//! `{{crate}}_solution`) with one realistic bug, named here with the spec that
//! catches it.

mod sync;

use sync::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counter {
    total: AtomicU64,
}

impl Counter {
    pub fn new() -> Self {
        Counter::default()
    }

    pub fn add(&self, n: u64) {
        let seen = self.total.load(Ordering::SeqCst);
        self.total.store(seen + n, Ordering::SeqCst);
    }

    pub fn get(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }
}
