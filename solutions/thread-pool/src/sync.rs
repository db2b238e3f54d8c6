//! The one place that decides where shared-state primitives and threads come
//! from: loom's model-checked versions under `--cfg kata_loom`, the standard
//! library's otherwise. Code shared between threads imports from here, never
//! from `std::sync` or `std::thread` directly, or loom cannot see (and check)
//! it.

#[cfg(kata_loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(kata_loom)]
pub(crate) use loom::thread;
#[cfg(not(kata_loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(kata_loom))]
pub(crate) use std::thread;
