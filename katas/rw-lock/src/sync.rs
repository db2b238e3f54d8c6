//! Where the shared-state primitives come from. Under `--cfg kata_loom` (how
//! the spec's loom models are built) these are loom's model-checked versions;
//! otherwise the standard library's. Import `Mutex`, `Condvar` and
//! `UnsafeCell` from here, never from `std::sync` or `std::cell` directly:
//! loom can only check the interleavings of primitives it provides.
//!
//! `UnsafeCell` is loom's under `kata_loom`: it records every access made
//! through `with` and `with_mut`, and fails the model on a read and a write
//! (or two writes) that your lock does not order, even when no assertion
//! would notice. Outside loom it is the thin wrapper below, with the same
//! closure API, so the same code builds both ways:
//!
//! ```ignore
//! let cell = UnsafeCell::new(5);
//! let five = cell.with(|ptr| unsafe { *ptr });          // ptr: *const T
//! cell.with_mut(|ptr| unsafe { *ptr += 1 });            // ptr: *mut T
//! ```

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::cell::UnsafeCell;
#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::sync::{Condvar, Mutex, MutexGuard};

/// `std::cell::UnsafeCell` with loom's closure API: the pointer is only
/// handed to a closure, so that under loom each access can be tracked.
#[cfg(not(kata_loom))]
#[derive(Debug)]
#[allow(dead_code)]
pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(kata_loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer for reading the value.
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing the value.
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
