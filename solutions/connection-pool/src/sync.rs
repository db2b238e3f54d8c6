//! The one place that decides where shared-state primitives come from: loom's
//! model-checked versions under `--cfg kata_loom`, the standard library's
//! otherwise. Code shared between threads imports from here, never from
//! `std::sync` directly, or loom cannot see (and check) it.

#[cfg(kata_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(kata_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
