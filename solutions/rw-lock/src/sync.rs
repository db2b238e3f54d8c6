//! The one place that decides where shared-state primitives come from: loom's
//! model-checked versions under `--cfg kata_loom`, the standard library's
//! otherwise. Code shared between threads imports from here, never from
//! `std::sync` or `std::cell` directly, or loom cannot see (and check) it.
//!
//! `UnsafeCell` is loom's under `kata_loom`: it records every access made
//! through `with` and `with_mut` and fails the model on a read and a write
//! (or two writes) that no lock orders, which is how a lock that lets a
//! writer in beside a reader is caught even when no assertion notices. Its
//! std counterpart below is a thin wrapper with the same closure API (the
//! pattern tokio uses), so the same code builds both ways.

#[cfg(kata_loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(kata_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(kata_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// `std::cell::UnsafeCell` with loom's closure API: the pointer is only
/// handed to a closure, so that under loom each access can be tracked.
#[cfg(not(kata_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(kata_loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer for reading the value.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing the value.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Unwraps the value.
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
