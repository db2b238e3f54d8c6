//! Where the shared-state primitives come from. Under `--cfg kata_loom` (how
//! the spec's loom models are built) these are loom's model-checked versions;
//! otherwise the standard library's. Import them from here, never from
//! `std::sync` directly: loom can only check primitives it provides.

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::sync::{
    Condvar, Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::sync::{
    Condvar, Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
