//! # {{title}}
//!
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata {{slug}}
//! ```
//!
//! TODO(author): this kata's API in place of the example `Counter`.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

/// A counter shared by many threads through `&self`.
#[derive(Debug, Default)]
pub struct Counter {
    // Your fields here. Take shared-state primitives from `crate::sync`.
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        todo!("Counter::new")
    }

    /// Adds `n`. Concurrent calls must not lose an update.
    pub fn add(&self, n: u64) {
        todo!("Counter::add: one atomic read-modify-write")
    }

    /// The sum of everything added so far.
    pub fn get(&self) -> u64 {
        todo!("Counter::get")
    }
}
