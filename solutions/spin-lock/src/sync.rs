//! The one place that decides where the lock's primitives come from: loom's
//! model-checked versions under `--cfg kata_loom`, the standard library's
//! otherwise. Loom sees (and checks) only the operations of primitives it
//! provides, so the lock imports from here, never from `std` directly.
//!
//! `UnsafeCell` is loom's under loom, where every access through `with` or
//! `with_mut` is checked against the happens-before order the atomics built:
//! an access that is not ordered after the previous holder's is a data race,
//! and loom reports it. Outside loom it is a thin wrapper of
//! `std::cell::UnsafeCell` with the same closure API (as tokio does), so the
//! same code compiles both ways and costs nothing in a normal build.

#[cfg(kata_loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    hint::spin_loop,
    sync::atomic::{AtomicBool, Ordering},
};

#[cfg(not(kata_loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, Ordering},
};

#[cfg(not(kata_loom))]
pub(crate) use std_cell::UnsafeCell;

#[cfg(not(kata_loom))]
mod std_cell {
    /// `std::cell::UnsafeCell` behind loom's closure API: `with` hands the
    /// closure a `*const T`, `with_mut` a `*mut T`.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}
