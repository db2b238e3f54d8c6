//! Where the lock's primitives come from. Under `--cfg kata_loom` (how the
//! spec's loom models are built) these are loom's model-checked versions;
//! otherwise the standard library's. Import the atomics, `UnsafeCell` and
//! `spin_loop` from here, never from `std` directly: loom can only check the
//! interleavings of primitives it provides.
//!
//! `UnsafeCell` has loom's closure API in both builds: `cell.with(|ptr| ..)`
//! hands the closure a `*const T`, `cell.with_mut(|ptr| ..)` a `*mut T`.
//! Under loom every such access is checked against the happens-before order
//! your atomics built, so reaching the value without the previous holder's
//! writes being ordered before yours (a data race) fails the model. Outside
//! loom it is a zero-cost wrapper of `std::cell::UnsafeCell`.
//!
//! `spin_loop()` is the hint to call on every turn of a busy-wait loop: the
//! CPU's pause instruction normally, and under loom the signal that this
//! thread waits for another (without it, loom cannot tell a spinning thread
//! from one that makes progress, and gives up on the model).
//!
//! Under loom the atomics are loom's behind a thin wrapper with std's
//! methods, which changes one thing: a `swap` (or `fetch_or`, `fetch_and`)
//! that would write the value already there is checked as a
//! `compare_exchange` that fails, so it writes nothing. Loom treats every
//! write of a waiter spinning on `swap` as possibly newer than the holder's
//! release, and then explores a run in which the waiter never sees the lock
//! free and the model never ends; the real `swap` cannot do that. Nothing
//! else differs, and orderings are checked as written.

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::{cell::UnsafeCell, hint::spin_loop, sync::atomic::Ordering};

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom_atomics::{AtomicBool, AtomicU32, AtomicUsize};

#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
};

#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std_cell::UnsafeCell;

#[cfg(not(kata_loom))]
#[allow(dead_code)]
mod std_cell {
    /// `std::cell::UnsafeCell` behind loom's closure API.
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// A cell holding `value`.
        pub const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a raw pointer to read the value through.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a raw pointer to write the value through.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// Consumes the cell and returns the value.
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}

#[cfg(kata_loom)]
#[allow(dead_code)]
mod loom_atomics {
    use loom::sync::atomic::Ordering;

    /// The ordering a failed `compare_exchange` may have for a read-modify-write
    /// of `order`: its load part.
    fn load_part(order: Ordering) -> Ordering {
        match order {
            Ordering::Acquire | Ordering::AcqRel => Ordering::Acquire,
            Ordering::SeqCst => Ordering::SeqCst,
            _ => Ordering::Relaxed,
        }
    }

    /// Methods every wrapped atomic has, as std's.
    macro_rules! common {
        ($atomic:ident, $t:ty) => {
            /// Loom's atomic, with std's methods.
            #[derive(Debug)]
            pub struct $atomic(loom::sync::atomic::$atomic);

            impl $atomic {
                /// A new atomic holding `value`.
                pub fn new(value: $t) -> Self {
                    $atomic(loom::sync::atomic::$atomic::new(value))
                }

                /// As std's `load`.
                #[track_caller]
                pub fn load(&self, order: Ordering) -> $t {
                    self.0.load(order)
                }

                /// As std's `store`.
                #[track_caller]
                pub fn store(&self, value: $t, order: Ordering) {
                    self.0.store(value, order)
                }

                /// As std's `compare_exchange`.
                #[track_caller]
                pub fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    self.0.compare_exchange(current, new, success, failure)
                }

                /// As std's `compare_exchange_weak`.
                #[track_caller]
                pub fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    self.0.compare_exchange_weak(current, new, success, failure)
                }

                /// As std's `swap`, except that it writes nothing when the value
                /// is already `new` (see the module's documentation).
                #[track_caller]
                pub fn swap(&self, new: $t, order: Ordering) -> $t {
                    // Expect a value other than `new`: a failure reads the
                    // latest value and writes nothing.
                    let mut current = other_than(new);
                    loop {
                        match self
                            .0
                            .compare_exchange(current, new, order, load_part(order))
                        {
                            Ok(previous) => return previous,
                            Err(actual) if actual == new => return actual,
                            Err(actual) => current = actual,
                        }
                    }
                }
            }
        };
    }

    fn other_than<T: Other>(value: T) -> T {
        value.other()
    }

    trait Other {
        fn other(self) -> Self;
    }

    impl Other for bool {
        fn other(self) -> Self {
            !self
        }
    }

    impl Other for u32 {
        fn other(self) -> Self {
            self.wrapping_add(1)
        }
    }

    impl Other for usize {
        fn other(self) -> Self {
            self.wrapping_add(1)
        }
    }

    common!(AtomicBool, bool);
    common!(AtomicU32, u32);
    common!(AtomicUsize, usize);

    impl AtomicBool {
        /// As std's `fetch_or`; `fetch_or(true, ..)` is a `swap(true, ..)`.
        #[track_caller]
        pub fn fetch_or(&self, value: bool, order: Ordering) -> bool {
            if value {
                self.swap(true, order)
            } else {
                self.0.fetch_or(false, order)
            }
        }

        /// As std's `fetch_and`; `fetch_and(false, ..)` is a `swap(false, ..)`.
        #[track_caller]
        pub fn fetch_and(&self, value: bool, order: Ordering) -> bool {
            if value {
                self.0.fetch_and(true, order)
            } else {
                self.swap(false, order)
            }
        }
    }

    macro_rules! integer {
        ($atomic:ident, $t:ty) => {
            impl $atomic {
                /// As std's `fetch_add`.
                #[track_caller]
                pub fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                    self.0.fetch_add(value, order)
                }

                /// As std's `fetch_sub`.
                #[track_caller]
                pub fn fetch_sub(&self, value: $t, order: Ordering) -> $t {
                    self.0.fetch_sub(value, order)
                }
            }
        };
    }

    integer!(AtomicU32, u32);
    integer!(AtomicUsize, usize);
}
