//! Where the shared-state primitives and the threads come from. Under
//! `--cfg kata_loom` (how the spec's loom models are built) these are loom's
//! model-checked versions; otherwise the standard library's. Import `Mutex`,
//! `Condvar`, `Arc` and `thread` from here, never from `std::sync` or
//! `std::thread` directly: loom can only check the interleavings of
//! primitives it provides, and only of threads it spawned.
//!
//! `std::sync::mpsc` has no loom counterpart that the models can rely on:
//! build the queue from a `Mutex<VecDeque<_>>` and a `Condvar`.

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::thread;
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::thread;
