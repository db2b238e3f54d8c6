//! Where the shared-state primitives come from. Under `--cfg kata_loom` (how
//! the spec's loom models are built) these are loom's model-checked versions;
//! otherwise the standard library's. Import `Mutex`, `Condvar` and the
//! atomics from here, never from `std::sync` directly: loom can only check
//! the interleavings of primitives it provides.
//!
//! Loom's `Condvar::wait_timeout` never times out (it waits like `wait`):
//! the loom models only use the untimed `Pool::get`.

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::sync::{
    Condvar, Mutex, MutexGuard, WaitTimeoutResult,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::sync::{
    Condvar, Mutex, MutexGuard, WaitTimeoutResult,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
