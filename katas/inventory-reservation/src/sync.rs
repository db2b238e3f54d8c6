//! Where the shared-state primitives come from. Under `--cfg kata_loom` (how
//! the spec's loom models are built) these are loom's model-checked versions;
//! otherwise the standard library's. Import `Mutex` and the atomics from here,
//! never from `std::sync` directly: loom can only check the interleavings of
//! primitives it provides.

#[cfg(kata_loom)]
#[allow(unused_imports)]
pub use loom::sync::{
    Mutex,
    atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
};
#[cfg(not(kata_loom))]
#[allow(unused_imports)]
pub use std::sync::{
    Mutex,
    atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
};
